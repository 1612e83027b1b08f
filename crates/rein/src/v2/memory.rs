//! v2 memory: protections (min, low), throttling (high), the hard limit (max), swap, the
//! OOM group switch; usage, peak and the OOM and limit events.

use crate::cgroupfs::{FileSource, GroupPath, Mount, format};
use crate::error::{Error, Result};
use crate::plan::Write;
use crate::resources::Resources;
use crate::stats::{Field, MemoryStats, Stats};
use crate::units::{Bytes, Limit};

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
/// memory: zswap limit (5.19+).
pub const MEMORY_ZSWAP_MAX: &str = "memory.zswap.max";
/// memory: proactive reclaim (5.19+, write-only).
pub const MEMORY_RECLAIM: &str = "memory.reclaim";
/// The limit files `rein show` lists.
pub(super) const LIMIT_FILES: &[&str] =
    &[MEMORY_MIN, MEMORY_LOW, MEMORY_HIGH, MEMORY_MAX, MEMORY_SWAP_MAX, MEMORY_OOM_GROUP];
/// Which file feeds which field of [`Stats`].
pub(super) const STAT_FILES: &[(Field, &[&str])] = &[
    (Field::MemoryCurrent, &[MEMORY_CURRENT]),
    (Field::MemoryPeak, &[MEMORY_PEAK]),
    (Field::MemoryMax, &[MEMORY_MAX]),
    (Field::MemoryHigh, &[MEMORY_HIGH]),
    (Field::MemorySwapCurrent, &[MEMORY_SWAP_CURRENT]),
    (Field::MemorySwapMax, &[MEMORY_SWAP_MAX]),
    (Field::MemoryOom, &[MEMORY_EVENTS]),
    (Field::MemoryOomKill, &[MEMORY_EVENTS]),
    (Field::MemoryMaxEvents, &[MEMORY_EVENTS]),
    (Field::MemoryHighEvents, &[MEMORY_EVENTS]),
];

/// Protections (min, low) first, then high before max: a lowered max never lands while
/// an old, larger high is meant to throttle first.
pub(super) fn writes(r: &Resources, w: &mut Vec<Write>) {
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

/// Refuses what v2 memory cannot express: turning the OOM killer off.
pub(super) fn check(r: &Resources) -> Result<()> {
    if r.memory.oom_kill_disable == Some(true) {
        return Err(Error::Unsupported {
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

pub(super) fn read(dir: &(impl FileSource + ?Sized), s: &mut Stats) -> Result<()> {
    let num =
        |file: &str| -> Result<Option<u64>> { dir.read_opt(file)?.map(|t| format::single_u64(file, &t)).transpose() };
    let limit = |file: &str| -> Result<Option<Limit<u64>>> {
        dir.read_opt(file)?.map(|t| format::limit_u64(file, &t)).transpose()
    };
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
    Ok(())
}

pub(super) fn read_back(get: &dyn Fn(&str) -> Option<String>, r: &mut Resources) -> Result<()> {
    let bytes = |l: Limit<u64>| l.map(Bytes);
    if let Some(t) = get(MEMORY_MAX) {
        r.memory.max = Some(bytes(format::limit_u64(MEMORY_MAX, &t)?));
    }
    if let Some(t) = get(MEMORY_HIGH) {
        r.memory.high = Some(bytes(format::limit_u64(MEMORY_HIGH, &t)?));
    }
    if let Some(Limit::Value(v)) = get(MEMORY_LOW).map(|t| format::limit_u64(MEMORY_LOW, &t)).transpose()? {
        r.memory.low = Some(Bytes(v));
    }
    if let Some(Limit::Value(v)) = get(MEMORY_MIN).map(|t| format::limit_u64(MEMORY_MIN, &t)).transpose()? {
        r.memory.min = Some(Bytes(v));
    }
    if let Some(t) = get(MEMORY_SWAP_MAX) {
        r.memory.swap_max = Some(bytes(format::limit_u64(MEMORY_SWAP_MAX, &t)?));
    }
    if let Some(t) = get(MEMORY_OOM_GROUP) {
        r.memory.oom_group = Some(format::single_u64(MEMORY_OOM_GROUP, &t)? != 0);
    }
    Ok(())
}

/// The OOM kills counted in this group's own `memory.events` (descendants included, but
/// never the ancestors': containerd PR 6323 counted the parent's `oom` and misreported).
pub fn oom_kills(m: &Mount, g: &GroupPath) -> Option<u64> {
    let t = m.read(g, MEMORY_EVENTS).ok()?;
    format::flat_keyed(MEMORY_EVENTS, &t).ok()?.get("oom_kill").copied()
}

/// The counters the event watcher compares between reads: `memory.events`' oom,
/// oom_kill, max and high.
pub(crate) fn memory_counters(dir: &(impl FileSource + ?Sized), c: &mut crate::stats::EventCounters) {
    if let Some(kv) =
        dir.read_opt(MEMORY_EVENTS).ok().flatten().and_then(|t| format::flat_keyed(MEMORY_EVENTS, &t).ok())
    {
        c.oom = kv.get("oom").copied();
        c.oom_kill = kv.get("oom_kill").copied();
        c.max = kv.get("max").copied();
        c.high = kv.get("high").copied();
    }
}
