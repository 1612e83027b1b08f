//! cgroup v2 interface files: limit writers and accounting readers.
//!
//! File names and formats follow Documentation/admin-guide/cgroup-v2.rst.

use std::collections::BTreeSet;

use crate::cgroupfs::{FileSource, GroupPath, Mount, format};
use crate::error::Result;
use crate::hierarchy::Controller;
use crate::plan::Write;
use crate::resources::Resources;
use crate::stats::{CpuBandwidth, CpuStats, IoDeviceStats, MemoryStats, PidsStats, PressureStats, Stats};
use crate::units::Limit;

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

/// cpuset controller.
pub const CPUSET_CPUS: &str = "cpuset.cpus";
/// cpuset memory nodes.
pub const CPUSET_MEMS: &str = "cpuset.mems";
/// CPUs actually granted by the parent.
pub const CPUSET_CPUS_EFFECTIVE: &str = "cpuset.cpus.effective";
/// Memory nodes actually granted.
pub const CPUSET_MEMS_EFFECTIVE: &str = "cpuset.mems.effective";

/// memory controller.
pub const MEMORY_MIN: &str = "memory.min";
/// Best-effort protection.
pub const MEMORY_LOW: &str = "memory.low";
/// Throttle limit.
pub const MEMORY_HIGH: &str = "memory.high";
/// Hard limit.
pub const MEMORY_MAX: &str = "memory.max";
/// Swap limit.
pub const MEMORY_SWAP_MAX: &str = "memory.swap.max";
/// Group OOM kill (since 4.19).
pub const MEMORY_OOM_GROUP: &str = "memory.oom.group";
/// Usage now.
pub const MEMORY_CURRENT: &str = "memory.current";
/// Peak usage (since 5.19).
pub const MEMORY_PEAK: &str = "memory.peak";
/// Swap usage now.
pub const MEMORY_SWAP_CURRENT: &str = "memory.swap.current";
/// Event counters of this group and its descendants (`oom_kill`, `max`, `high`, ...).
pub const MEMORY_EVENTS: &str = "memory.events";

/// cpu controller.
pub const CPU_WEIGHT: &str = "cpu.weight";
/// Bandwidth limit `$MAX $PERIOD`.
pub const CPU_MAX: &str = "cpu.max";

/// io controller: proportional weight (blk-iocost).
pub const IO_WEIGHT: &str = "io.weight";
/// Per-device throttling.
pub const IO_MAX: &str = "io.max";
/// Per-device usage.
pub const IO_STAT: &str = "io.stat";

/// pids controller.
pub const PIDS_MAX: &str = "pids.max";
/// Tasks now.
pub const PIDS_CURRENT: &str = "pids.current";
/// Peak tasks (newer kernels; present in the Debian 6.1 and the 6.18 kernels rein is tested on).
pub const PIDS_PEAK: &str = "pids.peak";
/// `max` counts forks refused by pids.max.
pub const PIDS_EVENTS: &str = "pids.events";

/// Threads of the group.
pub const CGROUP_THREADS: &str = "cgroup.threads";
/// cpu: burst capacity (5.14+).
pub const CPU_MAX_BURST: &str = "cpu.max.burst";
/// cpu: weight as a nice value.
pub const CPU_WEIGHT_NICE: &str = "cpu.weight.nice";
/// cpu: SCHED_IDLE for the whole group (5.15+).
pub const CPU_IDLE: &str = "cpu.idle";
/// memory: zswap limit (5.19+).
pub const MEMORY_ZSWAP_MAX: &str = "memory.zswap.max";
/// memory: proactive reclaim (5.19+, write-only).
pub const MEMORY_RECLAIM: &str = "memory.reclaim";
/// io: latency target.
pub const IO_LATENCY: &str = "io.latency";
/// io: BFQ weight.
pub const IO_BFQ_WEIGHT: &str = "io.bfq.weight";

/// The writes that apply `r` to a v2 group, in order, for the controllers in `on`.
///
/// Order, as opencontainers/cgroups does it, and why:
/// - cpuset first: a placement the parent cannot grant fails before anything else changes;
/// - memory protections (min, low), then high before max: a lowered max never lands
///   while an old, larger high is meant to throttle first;
/// - cpu, io, pids: independent of each other.
///
/// Freezing is not a controller write; the planner appends it last.
pub fn limit_writes(r: &Resources, on: &BTreeSet<Controller>) -> Vec<Write> {
    let mut w = Vec::new();
    if on.contains(&Controller::Cpuset) {
        if let Some(cpus) = &r.cpuset.cpus {
            w.push(Write::new(CPUSET_CPUS, cpus.to_string()));
        }
        if let Some(mems) = &r.cpuset.mems {
            w.push(Write::new(CPUSET_MEMS, mems.to_string()));
        }
    }
    if on.contains(&Controller::Memory) {
        let m = &r.memory;
        if let Some(min) = m.min {
            w.push(Write::new(MEMORY_MIN, min.0.to_string()));
        }
        if let Some(low) = m.low {
            w.push(Write::new(MEMORY_LOW, low.0.to_string()));
        }
        if let Some(high) = m.high {
            w.push(Write::new(MEMORY_HIGH, high.map(|b| b.0).to_string()));
        }
        if let Some(max) = m.max {
            w.push(Write::new(MEMORY_MAX, max.map(|b| b.0).to_string()));
        }
        if let Some(swap) = m.swap_max {
            w.push(Write::new(MEMORY_SWAP_MAX, swap.map(|b| b.0).to_string()));
        }
        if let Some(group) = m.oom_group {
            w.push(Write::new(MEMORY_OOM_GROUP, if group { "1" } else { "0" }));
        }
    }
    if on.contains(&Controller::Cpu) {
        if let Some(weight) = r.cpu.weight {
            w.push(Write::new(CPU_WEIGHT, weight.to_string()));
        }
        if let Some(max) = r.cpu.max {
            w.push(Write::new(CPU_MAX, format!("{} {}", max.quota, max.period)));
        }
    }
    if on.contains(&Controller::Io) {
        if let Some(weight) = r.io.weight {
            w.push(Write::new(IO_WEIGHT, format!("default {weight}")));
        }
        for dev in &r.io.max {
            let keys: Vec<String> = dev.entries().map(|(k, v)| format!("{k}={v}")).collect();
            w.push(Write::new(IO_MAX, format!("{} {}", dev.device, keys.join(" "))));
        }
    }
    if on.contains(&Controller::Pids) {
        if let Some(max) = r.pids.max {
            w.push(Write::new(PIDS_MAX, max.to_string()));
        }
    }
    w
}

/// Refuses settings cgroup v2 cannot express, before anything is written.
pub fn check_supported(r: &Resources, on: &BTreeSet<Controller>) -> Result<()> {
    if on.contains(&Controller::Memory) && r.memory.oom_kill_disable == Some(true) {
        return Err(crate::error::Error::Unsupported {
            what: "disabling the OOM killer (oom_kill_disable)".into(),
            mode: "v2".into(),
            reason: "cgroup v2 has no switch to turn the OOM killer off (memory.oom_control is v1 only); \
                     memory.high throttles and reclaims instead of killing (--memory-high), and memory.max \
                     (--memory) only kills when reclaim fails"
                .into(),
        });
    }
    Ok(())
}

/// Reads the core accounting (cpu.stat, pressure, cgroup.events) and, for the
/// controllers in `on`, their files, from the group's directory into `s`. Each file is
/// read once; files the kernel does not provide leave their fields `None`.
///
/// `dir` is any [`FileSource`]: a [`GroupDir`](crate::cgroupfs::GroupDir) ([`crate::Group::stats`],
/// `rein stat`, the recorder) or the open files a [`crate::tree::Tree`] keeps (`rein top`,
/// `rein exporter`).
pub fn read_stats<D: FileSource + ?Sized>(dir: &D, on: &BTreeSet<Controller>, s: &mut Stats) -> Result<()> {
    let num =
        |file: &str| -> Result<Option<u64>> { dir.read_opt(file)?.map(|t| format::single_u64(file, &t)).transpose() };
    let limit = |file: &str| -> Result<Option<Limit<u64>>> {
        dir.read_opt(file)?.map(|t| format::limit_u64(file, &t)).transpose()
    };
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
    if on.contains(&Controller::Cpu) {
        if let Some(t) = dir.read_opt(CPU_MAX)? {
            let (quota_usec, period_usec) = format::cpu_max(CPU_MAX, &t)?;
            s.cpu.max = Some(CpuBandwidth { quota_usec, period_usec });
        }
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
    if on.contains(&Controller::Memory) {
        let mut mem = MemoryStats {
            current: num(MEMORY_CURRENT)?,
            peak: num(MEMORY_PEAK)?,
            max: limit(MEMORY_MAX)?,
            high: limit(MEMORY_HIGH)?,
            swap_current: num(MEMORY_SWAP_CURRENT)?,
            swap_max: limit(MEMORY_SWAP_MAX)?,
            ..MemoryStats::default()
        };
        if let Some(t) = dir.read_opt(MEMORY_EVENTS)? {
            let kv = format::flat_keyed(MEMORY_EVENTS, &t)?;
            mem.oom = kv.get("oom").copied();
            mem.oom_kill = kv.get("oom_kill").copied();
            mem.max_events = kv.get("max").copied();
            mem.high_events = kv.get("high").copied();
        }
        s.memory = Some(mem);
    }
    if on.contains(&Controller::Pids) {
        let mut p = PidsStats {
            current: num(PIDS_CURRENT)?,
            peak: num(PIDS_PEAK)?,
            max: limit(PIDS_MAX)?,
            ..PidsStats::default()
        };
        if let Some(t) = dir.read_opt(PIDS_EVENTS)? {
            p.max_events = format::flat_keyed(PIDS_EVENTS, &t)?.get("max").copied();
        }
        s.pids = Some(p);
    }
    if on.contains(&Controller::Io) {
        if let Some(t) = dir.read_opt(IO_STAT)? {
            let get = |f: &std::collections::BTreeMap<String, String>, k: &str| f.get(k).and_then(|v| v.parse().ok());
            s.io = Some(
                format::nested_keyed(IO_STAT, &t)?
                    .iter()
                    .map(|(dev, f)| IoDeviceStats {
                        device: *dev,
                        rbytes: get(f, "rbytes"),
                        wbytes: get(f, "wbytes"),
                        rios: get(f, "rios"),
                        wios: get(f, "wios"),
                    })
                    .collect(),
            );
        }
    }
    Ok(())
}

/// The OOM kills counted in this group's own `memory.events` (descendants included, but
/// never the ancestors': containerd PR 6323 counted the parent's `oom` and misreported).
pub fn oom_kills(m: &Mount, g: &GroupPath) -> Option<u64> {
    let t = m.read(g, MEMORY_EVENTS).ok()?;
    format::flat_keyed(MEMORY_EVENTS, &t).ok()?.get("oom_kill").copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{CpuMax, IoMax};
    use crate::units::{Bytes, CpuList, DeviceNumber, Limit, Weight};

    fn all() -> BTreeSet<Controller> {
        [Controller::Cpu, Controller::Cpuset, Controller::Memory, Controller::Io, Controller::Pids].into()
    }

    fn show(w: &[Write]) -> Vec<String> {
        w.iter().map(|w| format!("{} < {}", w.file, w.value)).collect()
    }

    #[test]
    fn writes_in_order() {
        let mut r = Resources::new()
            .memory_max(Bytes::gib(2))
            .memory_high(Bytes::mib(1536))
            .swap_max(Bytes(0))
            .cpu_weight(Weight::new(200).unwrap())
            .cpus(CpuList::parse("0-1").unwrap())
            .pids_max(64);
        r.cpu.max = Some(CpuMax::percent(300.0, 100_000).unwrap());
        r.io.weight = Some(Weight::new(50).unwrap());
        let mut io = IoMax::new(DeviceNumber { major: 7, minor: 0 });
        io.wbps = Some(Limit::Value(1 << 20));
        io.riops = Some(Limit::Max);
        r.io.max.push(io);
        assert_eq!(
            show(&limit_writes(&r, &all())),
            [
                "cpuset.cpus < 0-1",
                "memory.high < 1610612736",
                "memory.max < 2147483648",
                "memory.swap.max < 0",
                "cpu.weight < 200",
                "cpu.max < 300000 100000",
                "io.weight < default 50",
                "io.max < 7:0 wbps=1048576 riops=max",
                "pids.max < 64",
            ]
        );
    }

    #[test]
    fn oom_kill_disable_is_refused_with_the_alternative() {
        let mut r = Resources::new();
        r.memory.oom_kill_disable = Some(true);
        let e = check_supported(&r, &all()).unwrap_err().to_string();
        assert!(e.contains("not supported on cgroup v2") && e.contains("memory.high"), "{e}");
        check_supported(&r, &[Controller::Cpu].into()).unwrap();
        r.memory.oom_kill_disable = Some(false);
        check_supported(&r, &all()).unwrap();
    }

    #[test]
    fn only_controllers_given() {
        let r = Resources::new().memory_max(Limit::Max).pids_max(Limit::Max);
        assert_eq!(show(&limit_writes(&r, &[Controller::Pids].into())), ["pids.max < max"]);
        assert_eq!(show(&limit_writes(&r, &all())), ["memory.max < max", "pids.max < max"]);
    }
}
