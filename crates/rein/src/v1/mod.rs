//! cgroup v1 interface files: limit writers and accounting readers.
//!
//! In v1 each controller lives in its own hierarchy (or a few share one), so a group is
//! one directory per hierarchy. File names follow Documentation/admin-guide/cgroup-v1/.

use std::collections::BTreeSet;

use crate::cgroupfs::{FileSource, GroupPath, Mount, format};
use crate::convert;
use crate::error::{Error, Result};
use crate::hierarchy::Controller;
use crate::plan::Write;
use crate::resources::Resources;
use crate::stats::{CpuBandwidth, CpuStats, IoDeviceStats, MemoryStats, PidsStats, Stats};
use crate::units::Limit;

/// Processes of the group (every hierarchy).
pub const CGROUP_PROCS: &str = "cgroup.procs";

/// cpuset: CPUs. Empty in a new group unless `cgroup.clone_children` is set, and a task
/// cannot join while it is empty (ENOSPC), so rein always writes it.
pub const CPUSET_CPUS: &str = "cpuset.cpus";
/// cpuset: memory nodes; same rule as cpus.
pub const CPUSET_MEMS: &str = "cpuset.mems";
/// cpuset: CPUs actually usable.
pub const CPUSET_EFFECTIVE_CPUS: &str = "cpuset.effective_cpus";

/// memory: hard limit.
pub const MEMORY_LIMIT: &str = "memory.limit_in_bytes";
/// memory: memory + swap limit (needs swap accounting, `swapaccount=1`).
pub const MEMORY_MEMSW_LIMIT: &str = "memory.memsw.limit_in_bytes";
/// memory: soft limit, reclaimed toward under global pressure.
pub const MEMORY_SOFT_LIMIT: &str = "memory.soft_limit_in_bytes";
/// memory: usage now.
pub const MEMORY_USAGE: &str = "memory.usage_in_bytes";
/// memory: peak usage.
pub const MEMORY_MAX_USAGE: &str = "memory.max_usage_in_bytes";
/// memory: memory + swap usage.
pub const MEMORY_MEMSW_USAGE: &str = "memory.memsw.usage_in_bytes";
/// memory: times the limit was hit.
pub const MEMORY_FAILCNT: &str = "memory.failcnt";
/// memory: times the memory + swap limit was hit.
pub const MEMORY_MEMSW_FAILCNT: &str = "memory.memsw.failcnt";
/// memory: register event notifications, `<eventfd> <fd of the watched file> [args]`
/// (Documentation/admin-guide/cgroup-v1/memory.rst, "Memory thresholds" and "OOM Control").
pub const CGROUP_EVENT_CONTROL: &str = "cgroup.event_control";
/// memory: `oom_kill_disable`, `under_oom`, `oom_kill` (since 4.13).
pub const MEMORY_OOM_CONTROL: &str = "memory.oom_control";

/// cpu: CFS period (µs).
pub const CPU_CFS_PERIOD: &str = "cpu.cfs_period_us";
/// cpu: CFS quota (µs, -1 for none).
pub const CPU_CFS_QUOTA: &str = "cpu.cfs_quota_us";
/// cpu: relative shares.
pub const CPU_SHARES: &str = "cpu.shares";
/// cpu: throttling statistics (`nr_periods`, `nr_throttled`, `throttled_time` in ns).
pub const CPU_STAT: &str = "cpu.stat";

/// cpuacct: total usage (ns).
pub const CPUACCT_USAGE: &str = "cpuacct.usage";
/// cpuacct: user time (ns).
pub const CPUACCT_USAGE_USER: &str = "cpuacct.usage_user";
/// cpuacct: system time (ns).
pub const CPUACCT_USAGE_SYS: &str = "cpuacct.usage_sys";
/// cpuacct: user and system time (ns) per CPU, one file for both (since 4.11).
pub const CPUACCT_USAGE_ALL: &str = "cpuacct.usage_all";

/// blkio with BFQ (kernels since 5.0 have no CFQ): weight 1..=1000.
pub const BLKIO_BFQ_WEIGHT: &str = "blkio.bfq.weight";
/// blkio throttling, read bytes/s per device.
pub const BLKIO_READ_BPS: &str = "blkio.throttle.read_bps_device";
/// Write bytes/s per device.
pub const BLKIO_WRITE_BPS: &str = "blkio.throttle.write_bps_device";
/// Read IO/s per device.
pub const BLKIO_READ_IOPS: &str = "blkio.throttle.read_iops_device";
/// Write IO/s per device.
pub const BLKIO_WRITE_IOPS: &str = "blkio.throttle.write_iops_device";
/// Bytes per device and operation (counted only for throttled devices on recent kernels).
pub const BLKIO_SERVICE_BYTES: &str = "blkio.throttle.io_service_bytes_recursive";
/// Operations per device and operation.
pub const BLKIO_SERVICED: &str = "blkio.throttle.io_serviced_recursive";

/// pids: limit.
pub const PIDS_MAX: &str = "pids.max";
/// pids: tasks now.
pub const PIDS_CURRENT: &str = "pids.current";
/// pids: peak tasks.
pub const PIDS_PEAK: &str = "pids.peak";
/// pids: `max` counts refused forks.
pub const PIDS_EVENTS: &str = "pids.events";

/// freezer: `THAWED`, `FREEZING` or `FROZEN`.
pub const FREEZER_STATE: &str = "freezer.state";

/// Threads of the group (every hierarchy).
pub const TASKS: &str = "tasks";
/// cpu: burst capacity (5.14+), the same value as v2 `cpu.max.burst`.
pub const CPU_CFS_BURST: &str = "cpu.cfs_burst_us";
/// cpu: real-time runtime per period.
pub const CPU_RT_RUNTIME: &str = "cpu.rt_runtime_us";
/// cpu: real-time period.
pub const CPU_RT_PERIOD: &str = "cpu.rt_period_us";
/// cpuacct: user and system time in USER_HZ ticks.
pub const CPUACCT_STAT: &str = "cpuacct.stat";
/// cpuset: memory nodes actually usable.
pub const CPUSET_EFFECTIVE_MEMS: &str = "cpuset.effective_mems";
/// memory: the group's swappiness.
pub const MEMORY_SWAPPINESS: &str = "memory.swappiness";
/// memory: hierarchical accounting switch (always on in v2).
pub const MEMORY_USE_HIERARCHY: &str = "memory.use_hierarchy";
/// memory: kernel memory limit.
pub const MEMORY_KMEM_LIMIT: &str = "memory.kmem.limit_in_bytes";
/// memory: socket buffer limit.
pub const MEMORY_KMEM_TCP_LIMIT: &str = "memory.kmem.tcp.limit_in_bytes";
/// memory: move charges with migrating tasks.
pub const MEMORY_MOVE_CHARGE: &str = "memory.move_charge_at_immigrate";
/// memory: reclaim everything (write-only).
pub const MEMORY_FORCE_EMPTY: &str = "memory.force_empty";
/// blkio with CFQ (gone since 5.0): weight 10..=1000, default 500.
pub const BLKIO_WEIGHT: &str = "blkio.weight";
/// blkio with CFQ: per-device weights.
pub const BLKIO_WEIGHT_DEVICE: &str = "blkio.weight_device";

fn unsupported(what: &str, reason: &str) -> Error {
    Error::Unsupported { what: what.into(), mode: "v1".into(), reason: reason.into() }
}

/// Current values of a group's files, for choosing a safe write order on an existing
/// group. A new group passes `|_| None` (every limit is at its unlimited default).
pub type Current<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The writes that apply `r` to a v1 group in a hierarchy holding the controllers `on`.
///
/// Fails before anything is written when `r` holds a setting v1 cannot express.
pub fn limit_writes(r: &Resources, on: &BTreeSet<Controller>, current: Current<'_>) -> Result<Vec<Write>> {
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
        memory_writes(r, current, &mut w)?;
    }
    if on.contains(&Controller::Cpu) {
        if let Some(weight) = r.cpu.weight {
            w.push(Write::new(CPU_SHARES, convert::weight_to_shares(weight).to_string()));
        }
        if let Some(max) = r.cpu.max {
            let quota = Write::new(CPU_CFS_QUOTA, convert::v1_quota_value(max.quota));
            let period = Write::new(CPU_CFS_PERIOD, max.period.to_string());
            // The kernel checks quota/period against the parent's bandwidth after each
            // write; shrinking the period first could briefly exceed it, so a shorter
            // period goes after the quota and a longer one before.
            let old_period = current(CPU_CFS_PERIOD).and_then(|t| t.trim().parse::<u64>().ok());
            if old_period.is_some_and(|p| max.period < p) {
                w.extend([quota, period]);
            } else {
                w.extend([period, quota]);
            }
        }
    }
    if on.contains(&Controller::Io) {
        if let Some(weight) = r.io.weight {
            w.push(Write::new(BLKIO_BFQ_WEIGHT, convert::io_weight_to_bfq_weight(weight).to_string()));
        }
        for dev in &r.io.max {
            for (key, value) in dev.entries() {
                let file = match key {
                    "rbps" => BLKIO_READ_BPS,
                    "wbps" => BLKIO_WRITE_BPS,
                    "riops" => BLKIO_READ_IOPS,
                    _ => BLKIO_WRITE_IOPS,
                };
                w.push(Write::new(file, format!("{} {}", dev.device, convert::v1_throttle_value(value))));
            }
        }
    }
    if on.contains(&Controller::Pids) {
        if let Some(max) = r.pids.max {
            w.push(Write::new(PIDS_MAX, max.to_string()));
        }
    }
    Ok(w)
}

fn memory_writes(r: &Resources, current: Current<'_>, w: &mut Vec<Write>) -> Result<()> {
    let m = &r.memory;
    if m.high.is_some() {
        return Err(unsupported(
            "memory.high",
            "v1 has no throttling limit; memory.limit_in_bytes (--memory) is the closest, a hard limit",
        ));
    }
    if m.min.is_some() {
        return Err(unsupported(
            "memory.min",
            "v1 has no hard protection; memory.soft_limit_in_bytes (--memory-low) is the closest",
        ));
    }
    if m.oom_group == Some(true) {
        return Err(unsupported(
            "memory.oom.group",
            "the v1 OOM killer picks single tasks; 'rein run' kills the rest of the group when its command ends",
        ));
    }
    if let Some(low) = m.low {
        w.push(Write::new(MEMORY_SOFT_LIMIT, low.0.to_string()));
    }
    if let Some(disable) = m.oom_kill_disable {
        // The file takes the new oom_kill_disable value alone.
        w.push(Write::new(MEMORY_OOM_CONTROL, if disable { "1" } else { "0" }));
    }
    let limit = m.max.map(|l| l.map(|b| b.0));
    let memsw = match m.swap_max {
        None => None,
        Some(swap) => {
            let base = match limit {
                Some(l) => l,
                None => current(MEMORY_LIMIT)
                    .and_then(|t| format::v1_memory_limit(MEMORY_LIMIT, &t).ok())
                    .unwrap_or(Limit::Max),
            };
            if base == Limit::Max && swap != Limit::Max {
                return Err(unsupported(
                    "memory.swap.max without memory.max",
                    "v1 limits memory+swap together (memory.memsw.limit_in_bytes); give a memory limit too",
                ));
            }
            Some(convert::memsw_from_swap(base, swap.map(|b| b.0)))
        }
    };
    let limit_write = limit.map(|l| Write::new(MEMORY_LIMIT, convert::v1_memory_value(l)));
    let memsw_write = memsw.map(|l| Write::new(MEMORY_MEMSW_LIMIT, convert::v1_memory_value(l)));
    // memsw must stay >= limit after every write: if the new memsw is at least the
    // current limit it can go first, otherwise the limit must shrink first.
    let current_limit =
        current(MEMORY_LIMIT).and_then(|t| format::v1_memory_limit(MEMORY_LIMIT, &t).ok()).unwrap_or(Limit::Max);
    let memsw_first = match (memsw, current_limit) {
        (Some(Limit::Max), _) => true,
        (Some(Limit::Value(t)), Limit::Value(cur)) => t >= cur,
        (Some(Limit::Value(_)), Limit::Max) => false,
        (None, _) => false,
    };
    if memsw_first {
        w.extend(memsw_write);
        w.extend(limit_write);
    } else {
        w.extend(limit_write);
        w.extend(memsw_write);
    }
    Ok(())
}

/// Reads the accounting of the v1 controllers in `on` from this hierarchy's directory of
/// the group into `s`. Files the kernel does not provide leave their fields `None`.
///
/// `dir` is any [`FileSource`]: a [`GroupDir`](crate::cgroupfs::GroupDir) ([`crate::Group::stats`],
/// `rein stat`, the recorder) or the open files a [`crate::tree::Tree`] keeps (`rein top`,
/// `rein exporter`).
pub fn read_stats<D: FileSource + ?Sized>(dir: &D, on: &BTreeSet<Controller>, s: &mut Stats) -> Result<()> {
    let num =
        |file: &str| -> Result<Option<u64>> { dir.read_opt(file)?.map(|t| format::single_u64(file, &t)).transpose() };
    if on.contains(&Controller::Cpuacct) {
        s.cpu.usage_usec = num(CPUACCT_USAGE)?.map(|ns| ns / 1000);
        // One file for user and system where the kernel has it (4.11+), else two.
        if let Some(t) = dir.read_opt(CPUACCT_USAGE_ALL)? {
            let (user, system) = format::v1_cpuacct_usage_all(CPUACCT_USAGE_ALL, &t)?;
            s.cpu.user_usec = Some(user / 1000);
            s.cpu.system_usec = Some(system / 1000);
        } else {
            s.cpu.user_usec = num(CPUACCT_USAGE_USER)?.map(|ns| ns / 1000);
            s.cpu.system_usec = num(CPUACCT_USAGE_SYS)?.map(|ns| ns / 1000);
        }
    }
    if on.contains(&Controller::Cpu) {
        if let Some(t) = dir.read_opt(CPU_STAT)? {
            let kv = format::flat_keyed(CPU_STAT, &t)?;
            s.cpu = CpuStats {
                nr_periods: kv.get("nr_periods").copied(),
                nr_throttled: kv.get("nr_throttled").copied(),
                throttled_usec: kv.get("throttled_time").map(|ns| ns / 1000),
                ..s.cpu
            };
        }
        if let (Some(q), Some(p)) = (dir.read_opt(CPU_CFS_QUOTA)?, num(CPU_CFS_PERIOD)?) {
            s.cpu.max = Some(CpuBandwidth { quota_usec: format::v1_signed_limit(CPU_CFS_QUOTA, &q)?, period_usec: p });
        }
    }
    if on.contains(&Controller::Memory) {
        let limit = |file: &str| -> Result<Option<Limit<u64>>> {
            dir.read_opt(file)?.map(|t| format::v1_memory_limit(file, &t)).transpose()
        };
        let mut mem =
            MemoryStats { current: num(MEMORY_USAGE)?, peak: num(MEMORY_MAX_USAGE)?, ..MemoryStats::default() };
        mem.max = limit(MEMORY_LIMIT)?;
        // memsw files exist only with swap accounting (CONFIG_MEMCG_SWAP, swapaccount=1).
        if let (Some(memsw), Some(max)) = (limit(MEMORY_MEMSW_LIMIT)?, mem.max) {
            mem.swap_max = Some(convert::swap_from_memsw(max, memsw));
        }
        if let (Some(total), Some(cur)) = (num(MEMORY_MEMSW_USAGE)?, mem.current) {
            mem.swap_current = Some(total.saturating_sub(cur));
        }
        // A charge fails at the memsw counter or at the memory counter, never both: the
        // limit was hit as often as the two failure counts together.
        mem.max_events = match (num(MEMORY_FAILCNT)?, num(MEMORY_MEMSW_FAILCNT)?) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        if let Some(t) = dir.read_opt(MEMORY_OOM_CONTROL)? {
            mem.oom_kill = format::flat_keyed(MEMORY_OOM_CONTROL, &t)?.get("oom_kill").copied();
        }
        s.memory = Some(mem);
    }
    if on.contains(&Controller::Pids) {
        let mut p = PidsStats { current: num(PIDS_CURRENT)?, peak: num(PIDS_PEAK)?, ..PidsStats::default() };
        if let Some(t) = dir.read_opt(PIDS_MAX)? {
            p.max = Some(format::limit_u64(PIDS_MAX, &t)?);
        }
        if let Some(t) = dir.read_opt(PIDS_EVENTS)? {
            p.max_events = format::flat_keyed(PIDS_EVENTS, &t)?.get("max").copied();
        }
        s.pids = Some(p);
    }
    if on.contains(&Controller::Io) {
        if let (Some(bytes), Some(ops)) = (dir.read_opt(BLKIO_SERVICE_BYTES)?, dir.read_opt(BLKIO_SERVICED)?) {
            let bytes = format::v1_blkio_stat(BLKIO_SERVICE_BYTES, &bytes)?;
            let ops = format::v1_blkio_stat(BLKIO_SERVICED, &ops)?;
            s.io = Some(
                bytes
                    .iter()
                    .map(|(dev, b)| {
                        let o = ops.get(dev);
                        IoDeviceStats {
                            device: *dev,
                            rbytes: b.get("Read").copied(),
                            wbytes: b.get("Write").copied(),
                            rios: o.and_then(|o| o.get("Read").copied()),
                            wios: o.and_then(|o| o.get("Write").copied()),
                        }
                    })
                    .collect(),
            );
        }
    }
    if on.contains(&Controller::Freezer) {
        if let Some(t) = dir.read_opt(FREEZER_STATE)? {
            s.frozen = Some(t.trim() == "FROZEN");
        }
    }
    Ok(())
}

/// OOM kills of this group's own tasks (v1 `memory.oom_control` `oom_kill`, since 4.13).
pub fn oom_kills(m: &Mount, g: &GroupPath) -> Option<u64> {
    let t = m.read(g, MEMORY_OOM_CONTROL).ok()?;
    format::flat_keyed(MEMORY_OOM_CONTROL, &t).ok()?.get("oom_kill").copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::CpuMax;
    use crate::units::{Bytes, DeviceNumber, Weight};

    fn show(w: &[Write]) -> Vec<String> {
        w.iter().map(|w| format!("{} < {}", w.file, w.value)).collect()
    }

    fn on(c: &[Controller]) -> BTreeSet<Controller> {
        c.iter().copied().collect()
    }

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn new_group_memory_and_swap() {
        let r = Resources::new().memory_max(Bytes::mib(20)).swap_max(Bytes(0));
        let w = limit_writes(&r, &on(&[Controller::Memory]), &none).unwrap();
        assert_eq!(show(&w), ["memory.limit_in_bytes < 20971520", "memory.memsw.limit_in_bytes < 20971520"]);
    }

    #[test]
    fn raising_a_limit_writes_memsw_first() {
        let r = Resources::new().memory_max(Bytes::mib(40)).swap_max(Bytes::mib(10));
        let cur = |f: &str| (f == MEMORY_LIMIT || f == MEMORY_MEMSW_LIMIT).then(|| "20971520\n".to_string());
        let w = limit_writes(&r, &on(&[Controller::Memory]), &cur).unwrap();
        assert_eq!(show(&w), ["memory.memsw.limit_in_bytes < 52428800", "memory.limit_in_bytes < 41943040"]);
    }

    #[test]
    fn swap_alone_uses_the_current_limit() {
        let r = Resources::new().swap_max(Bytes::mib(10));
        let cur = |f: &str| (f == MEMORY_LIMIT).then(|| "20971520\n".to_string());
        let w = limit_writes(&r, &on(&[Controller::Memory]), &cur).unwrap();
        assert_eq!(show(&w), ["memory.memsw.limit_in_bytes < 31457280"]);
        assert!(limit_writes(&r, &on(&[Controller::Memory]), &none).is_err());
    }

    #[test]
    fn cpu_quota_and_shares() {
        let mut r = Resources::new().cpu_weight(Weight::new(50).unwrap());
        r.cpu.max = Some(CpuMax::percent(35.0, 100_000).unwrap());
        let w = limit_writes(&r, &on(&[Controller::Cpu]), &none).unwrap();
        assert_eq!(show(&w), ["cpu.shares < 512", "cpu.cfs_period_us < 100000", "cpu.cfs_quota_us < 35000"]);
        r.cpu.max = Some(CpuMax::percent(50.0, 20_000).unwrap());
        let cur = |f: &str| (f == CPU_CFS_PERIOD).then(|| "100000\n".to_string());
        let w = limit_writes(&r, &on(&[Controller::Cpu]), &cur).unwrap();
        assert_eq!(show(&w)[1..], ["cpu.cfs_quota_us < 10000", "cpu.cfs_period_us < 20000"]);
    }

    #[test]
    fn io_throttle() {
        let mut r = Resources::new();
        let mut io = crate::resources::IoMax::new(DeviceNumber { major: 7, minor: 0 });
        io.wbps = Some(Limit::Value(1 << 20));
        io.riops = Some(Limit::Max);
        r.io.max.push(io);
        r.io.weight = Some(Weight::new(50).unwrap());
        let w = limit_writes(&r, &on(&[Controller::Io]), &none).unwrap();
        assert_eq!(
            show(&w),
            [
                "blkio.bfq.weight < 50",
                "blkio.throttle.write_bps_device < 7:0 1048576",
                "blkio.throttle.read_iops_device < 7:0 0"
            ]
        );
    }

    #[test]
    fn oom_kill_disable_writes_oom_control() {
        let mut r = Resources::new();
        r.memory.oom_kill_disable = Some(true);
        let w = limit_writes(&r, &on(&[Controller::Memory]), &none).unwrap();
        assert_eq!(show(&w), ["memory.oom_control < 1"]);
    }

    #[test]
    fn v2_only_settings_are_refused_with_the_closest_equivalent() {
        let e =
            limit_writes(&Resources::new().memory_high(Bytes::mib(1)), &on(&[Controller::Memory]), &none).unwrap_err();
        assert!(e.to_string().contains("memory.high is not supported on cgroup v1"), "{e}");
        assert!(e.to_string().contains("memory.limit_in_bytes"), "{e}");
        let mut r = Resources::new();
        r.memory.oom_group = Some(true);
        assert!(limit_writes(&r, &on(&[Controller::Memory]), &none).is_err());
        // Not this hierarchy's controller: nothing to say.
        assert!(
            limit_writes(&Resources::new().memory_high(Bytes(1)), &on(&[Controller::Cpu]), &none).unwrap().is_empty()
        );
    }
}
