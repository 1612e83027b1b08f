//! Usage snapshots: one schema for v1, v2 and hybrid hosts.
//!
//! A field the kernel does not provide in the running mode is `None`, and absent from
//! JSON; every other field has the same name and unit in every mode. Sizes are bytes,
//! times microseconds, pressure averages percent. Which file feeds each field, per mode,
//! is listed in docs/interface-files.md; docs/OBSERVABILITY.md has the JSON schema.
//!
//! What is absent where (with the controller enabled for the group):
//!
//! | field | v2 | v1 | hybrid |
//! |---|---|---|---|
//! | `memory.high`, `memory.high_events`, `memory.oom` | yes | absent: v1 has no memory.high and counts no OOM entries | absent (memory is v1) |
//! | `io` | all devices | throttled devices only | as v1 |
//! | `pressure` | yes | absent: no per-group PSI in v1 | from the cgroup2 group |
//! | `populated` | yes | absent | from the cgroup2 group |
//! | `cpu.nr_periods` .. `throttled_usec`, `cpu.max` | with the cpu controller | with the cpu hierarchy | from the v1 cpu hierarchy |

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cgroupfs::format::PressureLine;
use crate::units::{DeviceNumber, Limit};

/// A snapshot of a group's accounting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// CPU usage, throttling and the bandwidth limit.
    #[serde(default)]
    pub cpu: CpuStats,
    /// Memory usage, limits and events (when the memory controller is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// Task counts (when the pids controller is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<PidsStats>,
    /// Block IO per device (when the io controller is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io: Option<Vec<IoDeviceStats>>,
    /// Pressure stall information (v2 and hybrid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure: Option<PressureStats>,
    /// Whether any process is in the group or below (v2 `cgroup.events`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub populated: Option<bool>,
    /// Whether the group is frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<bool>,
}

impl Stats {
    /// Bytes read and written, summed over devices.
    pub fn io_totals(&self) -> Option<(u64, u64)> {
        let io = self.io.as_ref()?;
        Some(io.iter().fold((0, 0), |(r, w), d| (r + d.rbytes.unwrap_or(0), w + d.wbytes.unwrap_or(0))))
    }
}

/// CPU use between two snapshots taken `elapsed` apart, in percent of one CPU
/// (200 = two CPUs busy). None when either lacks `cpu.usage_usec`, when no time passed,
/// or when the counter went backwards (the group was removed and made again).
pub fn cpu_percent(before: &Stats, after: &Stats, elapsed: Duration) -> Option<f64> {
    let (a, b) = (before.cpu.usage_usec?, after.cpu.usage_usec?);
    let wall = elapsed.as_micros() as f64;
    (b >= a && wall > 0.0).then(|| (b - a) as f64 * 100.0 / wall)
}

/// CPU time and throttling, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CpuStats {
    /// Total CPU time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_usec: Option<u64>,
    /// User CPU time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_usec: Option<u64>,
    /// System CPU time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_usec: Option<u64>,
    /// Enforcement periods that elapsed with the group runnable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nr_periods: Option<u64>,
    /// Periods in which the group was throttled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nr_throttled: Option<u64>,
    /// Time spent throttled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_usec: Option<u64>,
    /// The bandwidth limit in force (v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cfs_period_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<CpuBandwidth>,
}

/// A CPU bandwidth limit as read back: `quota_usec` of CPU time per `period_usec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuBandwidth {
    /// CPU time per period, or `max`.
    pub quota_usec: Limit<u64>,
    /// The period.
    pub period_usec: u64,
}

impl CpuBandwidth {
    /// The limit in percent of one CPU (150 = one and a half CPUs); None when unlimited.
    pub fn percent(&self) -> Option<f64> {
        match self.quota_usec {
            Limit::Value(q) if self.period_usec > 0 => Some(q as f64 * 100.0 / self.period_usec as f64),
            _ => None,
        }
    }
}

/// Memory usage, limits and events, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MemoryStats {
    /// Usage now (v2 `memory.current`, v1 `memory.usage_in_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    /// Peak usage (v2 `memory.peak` since 5.19; v1 `memory.max_usage_in_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<u64>,
    /// Hard limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Limit<u64>>,
    /// Throttle limit (v2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<Limit<u64>>,
    /// Swap usage now (v1: memsw usage minus memory usage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap_current: Option<u64>,
    /// Swap limit (v1: memsw limit minus memory limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap_max: Option<Limit<u64>>,
    /// Times this group or a descendant hit its own limit and entered OOM (v2 `oom`;
    /// an ancestor's OOM does not count here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom: Option<u64>,
    /// Processes killed by the OOM killer: v2 counts this group and its descendants,
    /// v1 (`memory.oom_control`, 4.13+) this group's own tasks. Never an ancestor's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_kill: Option<u64>,
    /// Times usage hit the hard limit (v2 `max` event; v1 `memory.failcnt` plus
    /// `memory.memsw.failcnt`, since a charge fails at one counter or the other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u64>,
    /// Times usage crossed memory.high (v2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_events: Option<u64>,
}

/// Task counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PidsStats {
    /// Tasks now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    /// Peak tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<u64>,
    /// The limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Limit<u64>>,
    /// Forks refused by the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u64>,
}

/// IO of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IoDeviceStats {
    /// The device, `MAJ:MIN`.
    pub device: DeviceNumber,
    /// Bytes read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rbytes: Option<u64>,
    /// Bytes written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wbytes: Option<u64>,
    /// Read operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rios: Option<u64>,
    /// Write operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wios: Option<u64>,
}

/// Pressure of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Pressure {
    /// Some tasks stalled.
    pub some: PressureLine,
    /// All non-idle tasks stalled at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<PressureLine>,
}

impl From<(PressureLine, Option<PressureLine>)> for Pressure {
    fn from((some, full): (PressureLine, Option<PressureLine>)) -> Self {
        Pressure { some, full }
    }
}

/// Pressure of CPU, memory and IO.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PressureStats {
    /// `cpu.pressure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Pressure>,
    /// `memory.pressure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Pressure>,
    /// `io.pressure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io: Option<Pressure>,
}

/// The counters the event watcher ([`crate::events::Watcher`]) compares between reads
/// to tell what happened: filled by the version's reader through [`crate::backend`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EventCounters {
    /// Times the group hit its memory limit and the OOM killer was considered.
    pub oom: Option<u64>,
    /// OOM kills in the group.
    pub oom_kill: Option<u64>,
    /// Memory limit hits (v2 `max` events; v1 failcnt).
    pub max: Option<u64>,
    /// memory.high hits.
    pub high: Option<u64>,
    /// Forks refused at pids.max.
    pub pids_max: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_from_deltas() {
        let at = |usec| Stats { cpu: CpuStats { usage_usec: Some(usec), ..CpuStats::default() }, ..Stats::default() };
        assert_eq!(cpu_percent(&at(1_000_000), &at(1_500_000), Duration::from_secs(1)), Some(50.0));
        assert_eq!(cpu_percent(&at(0), &at(2_000_000), Duration::from_secs(1)), Some(200.0));
        assert_eq!(cpu_percent(&at(5), &at(4), Duration::from_secs(1)), None);
        assert_eq!(cpu_percent(&at(1), &at(2), Duration::ZERO), None);
        assert_eq!(cpu_percent(&Stats::default(), &at(2), Duration::from_secs(1)), None);
    }

    #[test]
    fn json_round_trip_and_absent_fields() {
        let s = Stats {
            cpu: CpuStats {
                usage_usec: Some(10),
                max: Some(CpuBandwidth { quota_usec: Limit::Value(20000), period_usec: 100000 }),
                ..CpuStats::default()
            },
            memory: Some(MemoryStats { current: Some(1), max: Some(Limit::Max), ..MemoryStats::default() }),
            ..Stats::default()
        };
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["cpu"]["max"]["quota_usec"], 20000);
        assert_eq!(j["memory"]["max"], "max");
        assert!(j["memory"].get("high").is_none() && j.get("pids").is_none(), "{j}");
        assert_eq!(serde_json::from_value::<Stats>(j).unwrap(), s);
        assert_eq!(s.cpu.max.unwrap().percent(), Some(20.0));
    }
}
