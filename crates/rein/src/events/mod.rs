//! Events: OOM kills, limit hits, pressure triggers and groups becoming empty, as they
//! happen, for one or more groups, without a daemon.
//!
//! A [`Watcher`] turns the kernel's notification mechanisms into one stream of [`Event`]s:
//!
//! | event | cgroup v2 (and the cgroup2 side of a hybrid host) | cgroup v1 |
//! |---|---|---|
//! | `oom_kill` | `memory.events` `oom_kill`, inotify `IN_MODIFY` | eventfd on `memory.oom_control` through `cgroup.event_control`, then `oom_kill` read back |
//! | `oom` | `memory.events` `oom` | none (v1 counts no OOM entries) |
//! | `memory_max` | `memory.events` `max` | `memory.failcnt` + `memory.memsw.failcnt`, polled |
//! | `memory_high` | `memory.events` `high` | none (no memory.high) |
//! | `pids_max` | `pids.events` `max`, inotify | `pids.events` `max`, polled (v1 files send no inotify events) |
//! | `pressure` | a PSI trigger written to `<resource>.pressure`, `POLLPRI` | none (no per-group PSI); hybrid uses the cgroup2 group |
//! | `empty` | `cgroup.events` `populated` 1 -> 0, inotify | `cgroup.procs` of the group and its descendants, polled |
//! | `removed` | inotify `IN_DELETE` on the parent directory (cgroupfs sends no `IN_DELETE_SELF`) | the same |
//!
//! Polled counters are read every [`Options::poll_interval`] (100 ms by default). v1's
//! `release_agent` could report emptiness without polling, but it is one program per
//! hierarchy, set at the hierarchy root, shared with every other user of the host: rein
//! does not take it over.
//!
//! # Whose OOM kill
//!
//! An `oom_kill` event counts the kills of this group's processes, never an ancestor's
//! OOM. On v2 it is `oom_kill` in the group's own `memory.events` (the group and its
//! descendants): not `oom`, which the kernel counts in the group whose limit was hit.
//! When a parent and its child carry the same limit the parent hits it, and a watcher of
//! the child's `oom` sees nothing (containerd PR 6323 fixed exactly that). On v1 the
//! eventfd fires for an OOM of the group *or any ancestor*, so rein reads the group's
//! own `oom_kill` counter and reports only what it counts.
//!
//! # Latency
//!
//! The kernel rate-limits `cgroup.events`/`memory.events` notifications to one per 20 ms
//! per file (`CGROUP_FILE_NOTIFY_MIN_INTV`), and on v1 the eventfd fires *before* the
//! victim is chosen. So after a sign that an OOM kill is near (a `max` or `oom` increase
//! on v2, the eventfd on v1) the watcher re-reads the memory counters every
//! [`RECHECK_INTERVAL`] for a short window: the kill is reported within a few
//! milliseconds instead of at the next notification.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use rein::events::{Options, Watcher};
//! use rein::{Group, GroupPath, Hierarchy};
//!
//! # fn main() -> rein::Result<()> {
//! let h = Arc::new(Hierarchy::detect()?);
//! let mut w = Watcher::new(h.clone(), Options::default())?;
//! w.add(&Group::open(h, &GroupPath::parse("rein/job")?)?)?;
//! for event in w {
//!     println!("{}", serde_json::to_string(&event?).unwrap());
//! }
//! # Ok(()) }
//! ```

use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use crate::cgroupfs::GroupPath;

/// How often memory counters are re-read after a sign of an imminent OOM kill.
pub const RECHECK_INTERVAL: Duration = Duration::from_millis(1);
/// How long after a v2 `max`/`oom` increase the memory counters are re-read (a little
/// more than the kernel's 20 ms notification interval).
pub(crate) const RECHECK_WINDOW_V2: Duration = Duration::from_millis(25);
/// How long after a v1 OOM eventfd notification the `oom_kill` counter is re-read: the
/// kernel notifies before it picks and kills a victim, and sends nothing afterwards.
pub(crate) const RECHECK_WINDOW_V1: Duration = Duration::from_secs(1);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// The OOM killer killed processes of the group (`count` new kills, `total` so far).
    OomKill {
        /// New kills since the last event.
        count: u64,
        /// The kernel's counter.
        total: u64,
    },
    /// The group (or a descendant) hit its own memory limit and entered OOM (v2).
    Oom {
        /// New entries since the last event.
        count: u64,
        /// The kernel's counter.
        total: u64,
    },
    /// Usage hit the hard memory limit (reclaim followed; an OOM may follow).
    MemoryMax {
        /// New hits since the last event.
        count: u64,
        /// The kernel's counter.
        total: u64,
    },
    /// Usage went above memory.high and the group was throttled (v2).
    MemoryHigh {
        /// New hits since the last event.
        count: u64,
        /// The kernel's counter.
        total: u64,
    },
    /// Forks were refused by pids.max.
    PidsMax {
        /// Refused forks since the last event.
        count: u64,
        /// The kernel's counter.
        total: u64,
    },
    /// A PSI trigger fired.
    Pressure(PressureTrigger),
    /// The last process left the group and its descendants.
    Empty,
    /// The group was removed; no more events come from it.
    Removed,
}

impl EventKind {
    /// The event's name in JSON and in rein's output.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::OomKill { .. } => "oom_kill",
            EventKind::Oom { .. } => "oom",
            EventKind::MemoryMax { .. } => "memory_max",
            EventKind::MemoryHigh { .. } => "memory_high",
            EventKind::PidsMax { .. } => "pids_max",
            EventKind::Pressure(_) => "pressure",
            EventKind::Empty => "empty",
            EventKind::Removed => "removed",
        }
    }

    /// `(count, total)` of counter events.
    pub fn counts(&self) -> Option<(u64, u64)> {
        match *self {
            EventKind::OomKill { count, total }
            | EventKind::Oom { count, total }
            | EventKind::MemoryMax { count, total }
            | EventKind::MemoryHigh { count, total }
            | EventKind::PidsMax { count, total } => Some((count, total)),
            _ => None,
        }
    }
}

/// One event of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When rein saw it.
    pub time: SystemTime,
    /// The group.
    pub group: GroupPath,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// The time as microseconds since the Unix epoch.
    pub fn unix_usec(&self) -> u64 {
        self.time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
    }
}

/// JSON: `{"time_usec":..,"group":"..","event":"oom_kill","count":1,"total":1}`; pressure
/// events carry `resource`, `stall`, `threshold_usec`, `window_usec` instead of counts.
impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("time_usec", &self.unix_usec())?;
        m.serialize_entry("group", &self.group.to_string())?;
        m.serialize_entry("event", self.kind.name())?;
        if let Some((count, total)) = self.kind.counts() {
            m.serialize_entry("count", &count)?;
            m.serialize_entry("total", &total)?;
        }
        if let EventKind::Pressure(t) = &self.kind {
            m.serialize_entry("resource", &t.resource)?;
            m.serialize_entry("stall", &t.stall)?;
            m.serialize_entry("threshold_usec", &t.threshold_usec)?;
            m.serialize_entry("window_usec", &t.window_usec)?;
        }
        m.end()
    }
}

/// How a [`Watcher`] works.
#[derive(Debug, Clone)]
pub struct Options {
    /// PSI triggers set on every watched group that has a cgroup2 directory.
    pub triggers: Vec<PressureTrigger>,
    /// How often counters without kernel notification are read (v1 memory.failcnt and
    /// pids.events, v1 emptiness).
    pub poll_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { triggers: Vec::new(), poll_interval: Duration::from_millis(100) }
    }
}

mod trigger;
mod watcher;

pub use trigger::{PressureResource, PressureTrigger, Stall};
pub use watcher::Watcher;
