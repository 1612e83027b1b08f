//! v1 memory: the hard limit, memory+swap (memsw), the soft limit, the OOM killer switch;
//! usage, peak, failure counts and OOM kills (`memory.oom_control`, 4.13+), and the
//! eventfd registration file for OOM notifications.

use crate::cgroupfs::{FileSource, GroupPath, Mount, format};
use crate::convert;
use crate::error::Result;
use crate::plan::Write;
use crate::resources::Resources;
use crate::stats::{Field, MemoryStats, Stats};
use crate::units::{Bytes, Limit};

use super::core::{Current, unsupported};

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

/// The limit files `rein show` lists.
pub(super) const LIMIT_FILES: &[&str] = &[MEMORY_LIMIT, MEMORY_MEMSW_LIMIT, MEMORY_SOFT_LIMIT, MEMORY_OOM_CONTROL];
/// Which files feed which field of [`Stats`]. v1 counts memory and swap together
/// (memsw), so swap is memsw less memory; it has no memory.high and counts no OOM
/// entries (those fields stay `None`).
pub(super) const STAT_FILES: &[(Field, &[&str])] = &[
    (Field::MemoryCurrent, &[MEMORY_USAGE]),
    (Field::MemoryPeak, &[MEMORY_MAX_USAGE]),
    (Field::MemoryMax, &[MEMORY_LIMIT]),
    (Field::MemorySwapCurrent, &[MEMORY_MEMSW_USAGE, MEMORY_USAGE]),
    (Field::MemorySwapMax, &[MEMORY_MEMSW_LIMIT, MEMORY_LIMIT]),
    (Field::MemoryOomKill, &[MEMORY_OOM_CONTROL]),
    (Field::MemoryMaxEvents, &[MEMORY_FAILCNT, MEMORY_MEMSW_FAILCNT]),
];

/// Refuses what v1 memory cannot express (with the closest equivalent), then writes
/// soft limit, oom_control and the limit and memsw pair in the order that keeps
/// memsw >= limit after every write.
pub(super) fn writes(r: &Resources, current: Current<'_>, w: &mut Vec<Write>) -> Result<()> {
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
    let current_limit =
        current(MEMORY_LIMIT).and_then(|t| format::v1_memory_limit(MEMORY_LIMIT, &t).ok()).unwrap_or(Limit::Max);
    let memsw = match m.swap_max {
        // A new memory limit alone keeps the swap the group has: memsw is memory plus
        // swap, so it moves with the limit (else 'set --memory 20M' on 100M + 50M of swap
        // would leave 130M of swap, and raising the limit past memsw would be refused).
        // A limit of max takes memsw to max too (the kernel keeps memsw >= limit).
        None => match (
            limit,
            current(MEMORY_MEMSW_LIMIT).and_then(|t| format::v1_memory_limit(MEMORY_MEMSW_LIMIT, &t).ok()),
        ) {
            (Some(new), Some(now @ Limit::Value(_))) => {
                let swap = convert::swap_from_memsw(current_limit, now);
                Some(convert::memsw_from_swap(new, swap)).filter(|_| swap != Limit::Max)
            }
            _ => None,
        },
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

pub(super) fn read(dir: &(impl FileSource + ?Sized), s: &mut Stats) -> Result<()> {
    let num =
        |file: &str| -> Result<Option<u64>> { dir.read_opt(file)?.map(|t| format::single_u64(file, &t)).transpose() };
    let limit = |file: &str| -> Result<Option<Limit<u64>>> {
        dir.read_opt(file)?.map(|t| format::v1_memory_limit(file, &t)).transpose()
    };
    let mut mem = MemoryStats { current: num(MEMORY_USAGE)?, peak: num(MEMORY_MAX_USAGE)?, ..MemoryStats::default() };
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
    Ok(())
}

pub(super) fn read_back(get: &dyn Fn(&str) -> Option<String>, r: &mut Resources) -> Result<()> {
    let bytes = |l: Limit<u64>| l.map(Bytes);
    if let Some(t) = get(MEMORY_LIMIT) {
        r.memory.max = Some(bytes(format::v1_memory_limit(MEMORY_LIMIT, &t)?));
    }
    if let Some(Limit::Value(v)) =
        get(MEMORY_SOFT_LIMIT).map(|t| format::v1_memory_limit(MEMORY_SOFT_LIMIT, &t)).transpose()?
    {
        r.memory.low = Some(Bytes(v));
    }
    if let (Some(t), Some(max)) = (get(MEMORY_MEMSW_LIMIT), r.memory.max) {
        let memsw = format::v1_memory_limit(MEMORY_MEMSW_LIMIT, &t)?;
        r.memory.swap_max = Some(bytes(convert::swap_from_memsw(max.map(|b| b.0), memsw)));
    }
    if let Some(t) = get(MEMORY_OOM_CONTROL) {
        r.memory.oom_kill_disable =
            format::flat_keyed(MEMORY_OOM_CONTROL, &t)?.get("oom_kill_disable").map(|v| *v != 0);
    }
    Ok(())
}

/// OOM kills of this group's own tasks (v1 `memory.oom_control` `oom_kill`, since 4.13).
pub fn oom_kills(m: &Mount, g: &GroupPath) -> Option<u64> {
    let t = m.read(g, MEMORY_OOM_CONTROL).ok()?;
    format::flat_keyed(MEMORY_OOM_CONTROL, &t).ok()?.get("oom_kill").copied()
}

/// The counters the event watcher compares between reads: `memory.oom_control`'s
/// oom_kill, and the limit hits (failcnt of memory and memsw together).
pub(crate) fn memory_counters(dir: &(impl FileSource + ?Sized), c: &mut crate::stats::EventCounters) {
    let num = |f: &str| dir.read_opt(f).ok().flatten().and_then(|t| format::single_u64(f, &t).ok());
    if let Some(kv) =
        dir.read_opt(MEMORY_OOM_CONTROL).ok().flatten().and_then(|t| format::flat_keyed(MEMORY_OOM_CONTROL, &t).ok())
    {
        c.oom_kill = kv.get("oom_kill").copied();
    }
    c.max = match (num(MEMORY_FAILCNT), num(MEMORY_MEMSW_FAILCNT)) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
}

/// Registers `eventfd` to be signalled on OOM in this memory directory: writes
/// `<eventfd> <fd of memory.oom_control>` to `cgroup.event_control`
/// (Documentation/admin-guide/cgroup-v1/memory.rst, "OOM Control"). The kernel keeps the
/// eventfd, not the oom_control fd, which is closed after.
pub(crate) fn register_oom_eventfd(
    dir: &crate::cgroupfs::GroupDir,
    eventfd: std::os::fd::BorrowedFd<'_>,
) -> crate::error::Result<()> {
    use std::os::fd::AsRawFd;
    let ofd = dir.open(MEMORY_OOM_CONTROL, rustix::fs::OFlags::RDONLY)?;
    dir.write(CGROUP_EVENT_CONTROL, &format!("{} {}", eventfd.as_raw_fd(), ofd.as_raw_fd()))
}
