//! v1 cpu: shares, CFS bandwidth (quota and period, written in the order the kernel's
//! checks against the parent need), throttling statistics.

use crate::cgroupfs::{FileSource, format};
use crate::convert;
use crate::error::Result;
use crate::plan::Write;
use crate::resources::{CpuMax, Resources};
use crate::stats::{CpuBandwidth, CpuStats, Field, Stats};
use crate::units::Shares;

use super::core::Current;

/// cpu: CFS period (µs).
pub const CPU_CFS_PERIOD: &str = "cpu.cfs_period_us";
/// cpu: CFS quota (µs, -1 for none).
pub const CPU_CFS_QUOTA: &str = "cpu.cfs_quota_us";
/// cpu: relative shares.
pub const CPU_SHARES: &str = "cpu.shares";
/// cpu: throttling statistics (`nr_periods`, `nr_throttled`, `throttled_time` in ns).
pub const CPU_STAT: &str = "cpu.stat";
/// cpu: burst capacity (5.14+), the same value as v2 `cpu.max.burst`.
pub const CPU_CFS_BURST: &str = "cpu.cfs_burst_us";
/// cpu: real-time runtime per period.
pub const CPU_RT_RUNTIME: &str = "cpu.rt_runtime_us";
/// cpu: real-time period.
pub const CPU_RT_PERIOD: &str = "cpu.rt_period_us";
/// The limit files `rein show` lists.
pub(super) const LIMIT_FILES: &[&str] = &[CPU_SHARES, CPU_CFS_PERIOD, CPU_CFS_QUOTA];
/// Which file feeds which field of [`Stats`] (usage: cpuacct).
pub(super) const STAT_FILES: &[(Field, &[&str])] = &[
    (Field::CpuPeriods, &[CPU_STAT]),
    (Field::CpuThrottledPeriods, &[CPU_STAT]),
    (Field::CpuThrottledTime, &[CPU_STAT]),
    (Field::CpuMax, &[CPU_CFS_QUOTA, CPU_CFS_PERIOD]),
];

pub(super) fn writes(r: &Resources, current: Current<'_>, w: &mut Vec<Write>) {
    // Shares given as shares are written as given; a weight goes through convert.
    if let Some(shares) = r.cpu.shares_v1() {
        w.push(Write::new(CPU_SHARES, shares.to_string()));
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

pub(super) fn read(dir: &(impl FileSource + ?Sized), s: &mut Stats) -> Result<()> {
    if let Some(t) = dir.read_opt(CPU_STAT)? {
        let kv = format::flat_keyed(CPU_STAT, &t)?;
        s.cpu = CpuStats {
            nr_periods: kv.get("nr_periods").copied(),
            nr_throttled: kv.get("nr_throttled").copied(),
            throttled_usec: kv.get("throttled_time").map(|ns| ns / 1000),
            ..s.cpu
        };
    }
    let quota = dir.read_opt(CPU_CFS_QUOTA)?;
    let period = dir.read_opt(CPU_CFS_PERIOD)?.map(|t| format::single_u64(CPU_CFS_PERIOD, &t)).transpose()?;
    if let (Some(q), Some(p)) = (quota, period) {
        s.cpu.max = Some(CpuBandwidth { quota_usec: format::v1_signed_limit(CPU_CFS_QUOTA, &q)?, period_usec: p });
    }
    Ok(())
}

pub(super) fn read_back(get: &dyn Fn(&str) -> Option<String>, r: &mut Resources) -> Result<()> {
    if let (Some(q), Some(p)) = (get(CPU_CFS_QUOTA), get(CPU_CFS_PERIOD)) {
        r.cpu.max = Some(CpuMax {
            quota: format::v1_signed_limit(CPU_CFS_QUOTA, &q)?,
            period: format::single_u64(CPU_CFS_PERIOD, &p)?,
        });
    }
    // Read back in v1's unit, exactly: a snapshot of shares 2 applies as 2 again (as a
    // weight it would be 1, and 1 writes back as 10).
    if let Some(t) = get(CPU_SHARES) {
        // The kernel clamps what it is given to 2..=262144, so the file is in range.
        let n = format::single_u64(CPU_SHARES, &t)?.clamp(Shares::MIN.get(), Shares::MAX.get());
        r.cpu.weight = None;
        r.cpu.shares = Shares::new(n).ok();
    }
    Ok(())
}
