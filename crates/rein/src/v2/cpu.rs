//! v2 cpu: weight (shares of contended CPU) and max (bandwidth: quota per period);
//! throttling statistics come with `cpu.stat` (core).

use crate::cgroupfs::{FileSource, format};
use crate::error::Result;
use crate::plan::Write;
use crate::resources::{CpuMax, Resources};
use crate::stats::{CpuBandwidth, Field, Stats};
use crate::units::Weight;

/// cpu controller.
pub const CPU_WEIGHT: &str = "cpu.weight";
/// Bandwidth limit `$MAX $PERIOD`.
pub const CPU_MAX: &str = "cpu.max";
/// cpu: burst capacity (5.14+).
pub const CPU_MAX_BURST: &str = "cpu.max.burst";
/// cpu: weight as a nice value.
pub const CPU_WEIGHT_NICE: &str = "cpu.weight.nice";
/// cpu: SCHED_IDLE for the whole group (5.15+).
pub const CPU_IDLE: &str = "cpu.idle";
/// The limit files `rein show` lists.
pub(super) const LIMIT_FILES: &[&str] = &[CPU_WEIGHT, CPU_MAX];
/// Which file feeds which field of [`Stats`] (usage and throttling: the core's `cpu.stat`).
pub(super) const STAT_FILES: &[(Field, &[&str])] = &[(Field::CpuMax, &[CPU_MAX])];

pub(super) fn writes(r: &Resources, w: &mut Vec<Write>) {
    if let Some(weight) = r.cpu.weight_v2() {
        w.push(Write::new(CPU_WEIGHT, weight.to_string()));
    }
    if let Some(max) = r.cpu.max {
        w.push(Write::new(CPU_MAX, format!("{} {}", max.quota, max.period)));
    }
}

pub(super) fn read(dir: &(impl FileSource + ?Sized), s: &mut Stats) -> Result<()> {
    if let Some(t) = dir.read_opt(CPU_MAX)? {
        let (quota_usec, period_usec) = format::cpu_max(CPU_MAX, &t)?;
        s.cpu.max = Some(CpuBandwidth { quota_usec, period_usec });
    }
    Ok(())
}

pub(super) fn read_back(get: &dyn Fn(&str) -> Option<String>, r: &mut Resources) -> Result<()> {
    if let Some(t) = get(CPU_MAX) {
        let (q, p) = format::cpu_max(CPU_MAX, &t)?;
        r.cpu.max = Some(CpuMax { quota: q, period: p });
    }
    if let Some(t) = get(CPU_WEIGHT) {
        r.cpu.weight = t.trim().parse::<Weight>().ok();
    }
    Ok(())
}
