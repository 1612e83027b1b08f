//! The events a [`super::Watcher`] reports, and what to watch for.

use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use crate::cgroupfs::GroupPath;

use super::trigger::PressureTrigger;

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
    /// A policy enforcer acted on the group (`rein run`'s policies, `rein supervise`, a
    /// handle's): counted on the group ([`crate::ledger`]), seen from any process.
    Policy {
        /// The action: `term`, `kill`, `freeze`, `thaw`, `throttle`, `restore`, `notify`.
        action: &'static str,
        /// New ones since the last event.
        count: u64,
        /// All so far.
        total: u64,
    },
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
            EventKind::Policy { .. } => "policy",
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
            | EventKind::PidsMax { count, total }
            | EventKind::Policy { count, total, .. } => Some((count, total)),
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
        if let EventKind::Policy { action, .. } = &self.kind {
            m.serialize_entry("action", action)?;
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

/// How a [`super::Watcher`] works.
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
