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
    /// Network traffic, counted by rein's network programs (when the group has them:
    /// any network setting, `--net-egress max` to count without limiting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetStats>,
    /// The policy actions an enforcer took on the group, by name ([`crate::ledger`]);
    /// None when there were none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_actions: Option<std::collections::BTreeMap<String, u64>>,
}

/// A group's network traffic as rein's programs counted it: IP packets of its sockets,
/// headers included, one count per GSO packet (before the kernel cuts it into segments).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetStats {
    /// Bytes received (and let in).
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes sent (and let out).
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets dropped for being over the ingress rate.
    pub rx_dropped: u64,
    /// Packets dropped for being over the egress rate.
    pub tx_dropped: u64,
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

/// One figure of [`Stats`], for a reader told what to read ([`Fields`]): each variant
/// names the field it fills. Each version knows which of its interface files feed which
/// field ([`crate::backend::stat_files`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Field {
    /// [`CpuStats::usage_usec`].
    CpuUsage,
    /// [`CpuStats::user_usec`].
    CpuUser,
    /// [`CpuStats::system_usec`].
    CpuSystem,
    /// [`CpuStats::nr_periods`].
    CpuPeriods,
    /// [`CpuStats::nr_throttled`].
    CpuThrottledPeriods,
    /// [`CpuStats::throttled_usec`].
    CpuThrottledTime,
    /// [`CpuStats::max`].
    CpuMax,
    /// [`MemoryStats::current`].
    MemoryCurrent,
    /// [`MemoryStats::peak`].
    MemoryPeak,
    /// [`MemoryStats::max`].
    MemoryMax,
    /// [`MemoryStats::high`].
    MemoryHigh,
    /// [`MemoryStats::swap_current`].
    MemorySwapCurrent,
    /// [`MemoryStats::swap_max`].
    MemorySwapMax,
    /// [`MemoryStats::oom`].
    MemoryOom,
    /// [`MemoryStats::oom_kill`].
    MemoryOomKill,
    /// [`MemoryStats::max_events`].
    MemoryMaxEvents,
    /// [`MemoryStats::high_events`].
    MemoryHighEvents,
    /// [`PidsStats::current`].
    PidsCurrent,
    /// [`PidsStats::peak`].
    PidsPeak,
    /// [`PidsStats::max`].
    PidsMax,
    /// [`PidsStats::max_events`].
    PidsMaxEvents,
    /// [`Stats::io`]: every figure of every device.
    Io,
    /// [`PressureStats::cpu`].
    PressureCpu,
    /// [`PressureStats::memory`].
    PressureMemory,
    /// [`PressureStats::io`].
    PressureIo,
    /// [`Stats::populated`].
    Populated,
    /// [`Stats::frozen`].
    Frozen,
    /// [`Stats::network`]: the counters of rein's network programs (a map, not a file).
    Network,
    /// [`Stats::policy_actions`]: an extended attribute of the group's directory.
    PolicyActions,
}

impl Field {
    /// Every field, in the order of [`Stats`].
    pub const ALL: [Field; 29] = [
        Field::CpuUsage,
        Field::CpuUser,
        Field::CpuSystem,
        Field::CpuPeriods,
        Field::CpuThrottledPeriods,
        Field::CpuThrottledTime,
        Field::CpuMax,
        Field::MemoryCurrent,
        Field::MemoryPeak,
        Field::MemoryMax,
        Field::MemoryHigh,
        Field::MemorySwapCurrent,
        Field::MemorySwapMax,
        Field::MemoryOom,
        Field::MemoryOomKill,
        Field::MemoryMaxEvents,
        Field::MemoryHighEvents,
        Field::PidsCurrent,
        Field::PidsPeak,
        Field::PidsMax,
        Field::PidsMaxEvents,
        Field::Io,
        Field::PressureCpu,
        Field::PressureMemory,
        Field::PressureIo,
        Field::Populated,
        Field::Frozen,
        Field::Network,
        Field::PolicyActions,
    ];

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

// A field is a bit of [`Fields`].
const _: () = assert!(Field::ALL.len() <= u32::BITS as usize);

/// Which figures of [`Stats`] a reader wants: a [`crate::tree::Tree`] reads only the
/// interface files that feed them, so a sample of many groups costs what it shows.
///
/// Fields are fine-grained on purpose: CPU usage alone is `cpuacct.usage` on v1, while
/// user and system time take `cpuacct.usage_all` (or two more files). A file read for
/// one field fills every field it feeds, so a [`Stats`] may hold more than was asked.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Fields(u32);

impl Fields {
    /// No field.
    pub const NONE: Fields = Fields(0);

    /// The fields given.
    pub const fn of(fields: &[Field]) -> Fields {
        let mut bits = 0;
        let mut i = 0;
        while i < fields.len() {
            bits |= fields[i].bit();
            i += 1;
        }
        Fields(bits)
    }

    /// Every field of [`Stats`].
    pub const fn all() -> Fields {
        Fields::of(&Field::ALL)
    }

    /// Whether `field` is one of these.
    pub const fn contains(self, field: Field) -> bool {
        self.0 & field.bit() != 0
    }

    /// True for no field.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// These fields and those of `other`.
    pub const fn union(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }

    /// The fields, in the order of [`Field::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Field> {
        Field::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// The files of `table` (which files of one controller feed which field) that feed
    /// these fields, added to `out` once each: how a version answers
    /// [`crate::backend::stat_files`].
    pub(crate) fn files_from(self, table: &[(Field, &[&'static str])], out: &mut Vec<&'static str>) {
        for (field, files) in table {
            if self.contains(*field) {
                for f in *files {
                    if !out.contains(f) {
                        out.push(f);
                    }
                }
            }
        }
    }
}

impl From<Field> for Fields {
    fn from(f: Field) -> Fields {
        Fields(f.bit())
    }
}

impl FromIterator<Field> for Fields {
    fn from_iter<I: IntoIterator<Item = Field>>(iter: I) -> Fields {
        iter.into_iter().fold(Fields::NONE, |acc, f| acc.union(f.into()))
    }
}

impl std::ops::BitOr for Fields {
    type Output = Fields;
    fn bitor(self, other: Fields) -> Fields {
        self.union(other)
    }
}

impl std::ops::BitOrAssign for Fields {
    fn bitor_assign(&mut self, other: Fields) {
        *self = self.union(other);
    }
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
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
    fn fields_are_a_set() {
        let f = Fields::of(&[Field::CpuUsage, Field::Frozen]);
        assert!(f.contains(Field::CpuUsage) && f.contains(Field::Frozen) && !f.contains(Field::Io));
        assert_eq!(f.iter().collect::<Vec<_>>(), [Field::CpuUsage, Field::Frozen]);
        assert_eq!(f | Field::Io.into(), [Field::Io, Field::Frozen, Field::CpuUsage].into_iter().collect());
        assert!(Fields::NONE.is_empty() && Fields::default().is_empty());
        assert_eq!(Fields::all().iter().count(), Field::ALL.len());
        for (i, field) in Field::ALL.iter().enumerate() {
            assert_eq!(*field as usize, i, "Field::ALL is in declaration order");
        }
        assert_eq!(format!("{f:?}"), "{CpuUsage, Frozen}");
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
