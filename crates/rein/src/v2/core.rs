//! The v2 core: the `cgroup.*` files every group has, whatever controllers it carries
//! (processes, children's controllers, populated/frozen, freeze, kill), CPU usage and the
//! pressure stall files.

use crate::cgroupfs::{FileSource, format};
use crate::error::Result;
use crate::stats::{CpuStats, Field, PressureStats, Stats};

/// Core files (no controller needed).
pub const CGROUP_PROCS: &str = "cgroup.procs";
/// Controllers available in a group (from its parent's subtree_control).
pub const CGROUP_CONTROLLERS: &str = "cgroup.controllers";
/// Controllers enabled for a group's children.
pub const CGROUP_SUBTREE_CONTROL: &str = "cgroup.subtree_control";
/// `populated` and `frozen` (since 5.2).
pub const CGROUP_EVENTS: &str = "cgroup.events";
/// Freeze the group (since 5.2).
pub const CGROUP_FREEZE: &str = "cgroup.freeze";
/// Kill every process in the group at once (since 5.14).
pub const CGROUP_KILL: &str = "cgroup.kill";
/// CPU usage, in the core since 5.8 with user/system split; throttling fields need `cpu`.
pub const CPU_STAT: &str = "cpu.stat";
/// Pressure stall information (since 4.20, CONFIG_PSI).
pub const CPU_PRESSURE: &str = "cpu.pressure";
/// Memory pressure.
pub const MEMORY_PRESSURE: &str = "memory.pressure";
/// IO pressure.
pub const IO_PRESSURE: &str = "io.pressure";
/// Threads of the group.
pub const CGROUP_THREADS: &str = "cgroup.threads";

/// Which core file feeds which field of [`Stats`].
pub(super) const STAT_FILES: &[(Field, &[&str])] = &[
    (Field::CpuUsage, &[CPU_STAT]),
    (Field::CpuUser, &[CPU_STAT]),
    (Field::CpuSystem, &[CPU_STAT]),
    // Throttling is in the core's cpu.stat, present only with the cpu controller.
    (Field::CpuPeriods, &[CPU_STAT]),
    (Field::CpuThrottledPeriods, &[CPU_STAT]),
    (Field::CpuThrottledTime, &[CPU_STAT]),
    (Field::PressureCpu, &[CPU_PRESSURE]),
    (Field::PressureMemory, &[MEMORY_PRESSURE]),
    (Field::PressureIo, &[IO_PRESSURE]),
    (Field::Populated, &[CGROUP_EVENTS]),
    (Field::Frozen, &[CGROUP_EVENTS]),
];

/// The group's CPU time so far, µs (`cpu.stat` `usage_usec`, in the core since 5.8).
pub(crate) fn cpu_usage_usec(m: &crate::cgroupfs::Mount, g: &crate::cgroupfs::GroupPath) -> Result<Option<u64>> {
    let t = m.read(g, CPU_STAT)?;
    Ok(format::flat_keyed(CPU_STAT, &t)?.get("usage_usec").copied())
}

/// CPU usage (`cpu.stat`: usage, user and system in the core since 5.8; throttling only
/// with the cpu controller), populated and frozen (`cgroup.events`) and the three
/// pressure files.
pub(super) fn read(dir: &(impl FileSource + ?Sized), s: &mut Stats) -> Result<()> {
    if let Some(t) = dir.read_opt(CPU_STAT)? {
        let kv = format::flat_keyed(CPU_STAT, &t)?;
        s.cpu = CpuStats {
            usage_usec: kv.get("usage_usec").copied(),
            user_usec: kv.get("user_usec").copied(),
            system_usec: kv.get("system_usec").copied(),
            // Present only with the cpu controller enabled for the group.
            nr_periods: kv.get("nr_periods").copied(),
            nr_throttled: kv.get("nr_throttled").copied(),
            throttled_usec: kv.get("throttled_usec").copied(),
            max: s.cpu.max,
        };
    }
    if let Some(t) = dir.read_opt(CGROUP_EVENTS)? {
        let kv = format::flat_keyed(CGROUP_EVENTS, &t)?;
        s.populated = kv.get("populated").map(|v| *v != 0);
        s.frozen = kv.get("frozen").map(|v| *v != 0);
    }
    let mut pressure = PressureStats::default();
    for (file, slot) in
        [(CPU_PRESSURE, &mut pressure.cpu), (MEMORY_PRESSURE, &mut pressure.memory), (IO_PRESSURE, &mut pressure.io)]
    {
        if let Some(t) = dir.read_opt(file)? {
            *slot = Some(format::pressure(file, &t)?.into());
        }
    }
    if pressure != PressureStats::default() {
        s.pressure = Some(pressure);
    }
    Ok(())
}

/// `cgroup.freeze` as the model's freeze setting.
pub(super) fn read_back(get: &dyn Fn(&str) -> Option<String>, r: &mut crate::resources::Resources) {
    if let Some(t) = get(CGROUP_FREEZE) {
        r.freeze = Some(t.trim() == "1");
    }
}
