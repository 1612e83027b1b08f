//! Every translation between the v2, v1 (and later systemd) vocabularies, as pure
//! functions. Each states both ranges and defaults; the tests are boundary tables.
//!
//! See docs/interface-files.md for the full field-by-field table.

use crate::units::{Limit, Weight};

/// v1 `cpu.shares`: 2..=262144, default 1024 (kernel/sched: MIN_SHARES, MAX_SHARES).
pub const MIN_SHARES: u64 = 2;
/// Largest `cpu.shares` the kernel accepts.
pub const MAX_SHARES: u64 = 262_144;
/// Default `cpu.shares`.
pub const DEFAULT_SHARES: u64 = 1024;

/// `cpu.shares` (2..=262144, default 1024) to `cpu.weight` (1..=10000, default 100).
///
/// rein uses systemd's proportional formula, `weight = shares * 100 / 1024` (rounded to
/// the nearest integer), clamped to 1..=10000 (systemd `cg_cpu_shares_to_weight`). Why this one of the three in use:
/// - it maps the default to the default (1024 -> 100), so a converted group competes
///   fairly with unconverted neighbours; runc's old linear formula
///   (`1 + (shares - 2) * 9999 / 262142`) maps 1024 to 39 and starves such groups;
/// - it keeps ratios between groups (512:256 stays 2:1), which is what shares mean;
///   the newer log-quadratic formula of opencontainers/cgroups keeps the default but
///   bends ratios;
/// - it is its own inverse up to rounding ([`weight_to_shares`]).
///
/// Rounded to the nearest weight, not down as systemd's `cgroup_cpu_shares_to_weight`
/// does (1030 shares: weight 101 here, 100 there): systemd converts only its deprecated
/// `CPUShares=`, which rein's systemd vocabulary refuses, so no systemd property meets this
/// function; the users it serves (`--cpu-shares`, Docker's flag, libcgroup's
/// `cpu.shares`, rein.toml) write shares as fractions of 1024, and the tutorial's
/// 512 : 307 : 205 means 50% : 30% : 20%, which rounding keeps (truncation gives 50 : 29 :
/// 20) and which then reads back on v1 as the same 512, 307, 205.
///
/// Ratios hold to within rounding for shares 2..=102400; below 16 shares
/// everything clamps to weight 1.
pub fn shares_to_weight(shares: u64) -> Weight {
    let shares = shares.clamp(MIN_SHARES, MAX_SHARES);
    let w = ((shares * 100 + DEFAULT_SHARES / 2) / DEFAULT_SHARES).clamp(1, 10_000);
    Weight::new(w).unwrap_or(Weight::DEFAULT)
}

/// `cpu.weight` (1..=10000, default 100) to `cpu.shares` (2..=262144, default 1024):
/// `shares = weight * 1024 / 100` (rounded), the inverse of [`shares_to_weight`]: a weight
/// survives the round trip exactly.
pub fn weight_to_shares(weight: Weight) -> u64 {
    ((weight.get() * DEFAULT_SHARES + 50) / 100).clamp(MIN_SHARES, MAX_SHARES)
}

/// `io.weight` (1..=10000, default 100) to v1 `blkio.bfq.weight` (1..=1000, default 100):
/// the same scale up to 1000, so the default and ratios below 1000 are kept; weights
/// above 1000 clamp to 1000.
pub fn io_weight_to_bfq_weight(weight: Weight) -> u64 {
    weight.get().clamp(1, 1000)
}

/// v1 `blkio.bfq.weight` (1..=1000) back to `io.weight`: identity.
pub fn bfq_weight_to_io_weight(weight: u64) -> Weight {
    Weight::new(weight.clamp(1, 1000)).unwrap_or(Weight::DEFAULT)
}

/// v1 `blkio.weight` (CFQ, kernels before 5.0: 10..=1000, default 500), also Docker's
/// `--blkio-weight`: 10..=1000, to `io.weight` (1..=10000, default 100).
///
/// rein uses systemd's proportional formula (`cgroup_weight_blkio_to_io`),
/// `io = blkio * 100 / 500`, clamped to 1..=10000, for the reasons it uses systemd's
/// shares formula: the default maps to the default (500 -> 100) and ratios between
/// groups hold (800:400 -> 160:80). runc's linear map `1 + (w - 10) * 9999 / 990` sends
/// the default 500 to 4950, fifty times a neighbour left at io.weight's default.
pub fn blkio_weight_to_io_weight(weight: u64) -> Weight {
    let w = weight.clamp(MIN_BLKIO_WEIGHT, MAX_BLKIO_WEIGHT);
    Weight::new((w * 100 / DEFAULT_BLKIO_WEIGHT).clamp(1, 10_000)).unwrap_or(Weight::DEFAULT)
}

/// `io.weight` back to v1 `blkio.weight` (systemd `cgroup_weight_io_to_blkio`):
/// `blkio = io * 500 / 100`, clamped to 10..=1000.
pub fn io_weight_to_blkio_weight(weight: Weight) -> u64 {
    (weight.get() * DEFAULT_BLKIO_WEIGHT / 100).clamp(MIN_BLKIO_WEIGHT, MAX_BLKIO_WEIGHT)
}

/// Smallest v1 `blkio.weight` (CFQ) and Docker `--blkio-weight`.
pub const MIN_BLKIO_WEIGHT: u64 = 10;
/// Largest v1 `blkio.weight`.
pub const MAX_BLKIO_WEIGHT: u64 = 1000;
/// Default v1 `blkio.weight`.
pub const DEFAULT_BLKIO_WEIGHT: u64 = 500;

/// The value v1 memory files read back as when there is no limit: PAGE_COUNTER_MAX
/// pages in bytes, `(i64::MAX / page) * page` (9223372036854771712 on 4 KiB pages).
pub fn v1_unlimited_bytes(page_size: u64) -> u64 {
    let page = page_size.max(1);
    (i64::MAX as u64 / page) * page
}

/// systemd's default `CPUQuotaPeriodSec=`: 100 ms (`CGROUP_CPU_QUOTA_DEFAULT_PERIOD_USEC`).
pub const SYSTEMD_DEFAULT_PERIOD_US: u64 = 100_000;

/// systemd's `CPUQuota=` (kept as µs of CPU time per second of wall time) and
/// `CPUQuotaPeriodSec=` to `cpu.max`'s (quota, period), as systemd's
/// `cgroup_apply_unified_cpu_quota` writes them:
/// - the period (default 100 ms) is raised until the quota per period reaches the
///   kernel's 1 ms minimum, and clamped to 1 ms..1 s (`cgroup_cpu_adjust_period`):
///   `period = min(max(period, 1ms, 1ms * 1s / per_sec), 1s)`;
/// - the quota is `per_sec * period / 1s`, at least 1 ms.
///
/// So `CPUQuota=0.5%` becomes `1000 200000` rather than an error.
pub fn systemd_cpu_quota(per_sec_usec: u64, period_usec: Option<u64>) -> (u64, u64) {
    const MS: u64 = 1_000;
    const SEC: u64 = 1_000_000;
    let period = period_usec.unwrap_or(SYSTEMD_DEFAULT_PERIOD_US);
    let per_sec = per_sec_usec.max(1);
    let period = period.max(MS).max(MS * SEC / per_sec).min(SEC);
    let quota = (u128::from(per_sec) * u128::from(period) / u128::from(SEC)).max(u128::from(MS));
    (u64::try_from(quota).unwrap_or(u64::MAX), period)
}

/// A memory limit as v1 writes it: `-1` for none.
pub fn v1_memory_value(limit: Limit<u64>) -> String {
    match limit {
        Limit::Max => "-1".into(),
        Limit::Value(v) => v.to_string(),
    }
}

/// v1's `memory.memsw.limit_in_bytes` is memory + swap: `memsw = max + swap`.
/// Unlimited if either is. (Docker's `--memory-swap` is this same total.)
pub fn memsw_from_swap(max: Limit<u64>, swap: Limit<u64>) -> Limit<u64> {
    match (max, swap) {
        (Limit::Value(m), Limit::Value(s)) => Limit::Value(m.saturating_add(s)),
        _ => Limit::Max,
    }
}

/// Inverse of [`memsw_from_swap`]: `swap = memsw - max` (0 if memsw <= max).
pub fn swap_from_memsw(max: Limit<u64>, memsw: Limit<u64>) -> Limit<u64> {
    match (max, memsw) {
        (_, Limit::Max) => Limit::Max,
        (Limit::Value(m), Limit::Value(t)) => Limit::Value(t.saturating_sub(m)),
        (Limit::Max, Limit::Value(_)) => Limit::Max,
    }
}

/// A CFS quota as v1 `cpu.cfs_quota_us` takes it: `-1` for none.
pub fn v1_quota_value(quota: Limit<u64>) -> String {
    match quota {
        Limit::Max => "-1".into(),
        Limit::Value(v) => v.to_string(),
    }
}

/// A v1 throttle value (`blkio.throttle.*_device`): `0` removes the limit.
pub fn v1_throttle_value(limit: Limit<u64>) -> String {
    match limit {
        Limit::Max => "0".into(),
        Limit::Value(v) => v.to_string(),
    }
}

/// v1 `cpuacct.stat` counts in USER_HZ ticks, which is 100 on every Linux ABI.
pub const USER_HZ: u64 = 100;

/// Ticks of `cpuacct.stat` to microseconds.
pub fn ticks_to_usec(ticks: u64) -> u64 {
    ticks.saturating_mul(1_000_000 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(n: u64) -> Weight {
        Weight::new(n).unwrap()
    }

    #[test]
    fn shares_weight_boundaries() {
        let table = [
            (0, 1),
            (2, 1),
            (10, 1),
            (11, 1),
            (15, 1),
            (16, 2),
            (256, 25),
            (205, 20),
            (307, 30),
            (512, 50),
            (1023, 100),
            (1029, 100),
            (1030, 101),
            (512, 50),
            (1024, 100),
            (2048, 200),
            (102_400, 10_000),
            (262_144, 10_000),
            (u64::MAX, 10_000),
        ];
        for (shares, weight) in table {
            assert_eq!(shares_to_weight(shares).get(), weight, "shares {shares}");
        }
        let back = [
            (1, 10),
            (2, 20),
            (7, 72),
            (20, 205),
            (30, 307),
            (25, 256),
            (50, 512),
            (100, 1024),
            (200, 2048),
            (10_000, 102_400),
        ];
        for (weight, shares) in back {
            assert_eq!(weight_to_shares(w(weight)), shares, "weight {weight}");
        }
    }

    #[test]
    fn shares_keep_ratios() {
        assert_eq!(shares_to_weight(512).get(), shares_to_weight(256).get() * 2);
        for weight in 1..=10_000 {
            assert_eq!(shares_to_weight(weight_to_shares(w(weight))).get(), weight, "weight {weight}");
        }
    }

    #[test]
    fn io_weights() {
        assert_eq!(io_weight_to_bfq_weight(w(100)), 100);
        assert_eq!(io_weight_to_bfq_weight(w(1)), 1);
        assert_eq!(io_weight_to_bfq_weight(w(10_000)), 1000);
        assert_eq!(bfq_weight_to_io_weight(1000).get(), 1000);
        let table = [(0, 2), (10, 2), (100, 20), (500, 100), (800, 160), (1000, 200), (5000, 200)];
        for (blkio, io) in table {
            assert_eq!(blkio_weight_to_io_weight(blkio).get(), io, "blkio {blkio}");
        }
        for (io, blkio) in [(1, 10), (2, 10), (20, 100), (100, 500), (200, 1000), (10_000, 1000)] {
            assert_eq!(io_weight_to_blkio_weight(w(io)), blkio, "io {io}");
        }
        assert_eq!(v1_unlimited_bytes(4096), 9_223_372_036_854_771_712);
    }

    #[test]
    fn systemd_cpu_quota_adjusts_the_period() {
        // (CPUQuota as µs per second, CPUQuotaPeriodSec) -> cpu.max
        let table = [
            ((200_000, None), (20_000, 100_000)),
            ((350_000, None), (35_000, 100_000)),
            ((2_000_000, None), (200_000, 100_000)),
            ((5_000, None), (1_000, 200_000)),
            ((100, None), (1_000, 1_000_000)),
            ((400_000, Some(1_000)), (1_000, 2_500)),
            ((100_000, Some(10_000)), (1_000, 10_000)),
            ((200_000, Some(5_000_000)), (200_000, 1_000_000)),
        ];
        for ((per_sec, period), want) in table {
            assert_eq!(systemd_cpu_quota(per_sec, period), want, "{per_sec} {period:?}");
        }
    }

    #[test]
    fn memsw() {
        let m = Limit::Value(20 << 20);
        assert_eq!(memsw_from_swap(m, Limit::Value(0)), m);
        assert_eq!(memsw_from_swap(m, Limit::Value(10 << 20)), Limit::Value(30 << 20));
        assert_eq!(memsw_from_swap(m, Limit::Max), Limit::Max);
        assert_eq!(memsw_from_swap(Limit::Max, Limit::Value(1)), Limit::Max);
        assert_eq!(memsw_from_swap(Limit::Value(u64::MAX), Limit::Value(1)), Limit::Value(u64::MAX));
        assert_eq!(swap_from_memsw(m, Limit::Value(30 << 20)), Limit::Value(10 << 20));
        assert_eq!(swap_from_memsw(m, Limit::Value(1)), Limit::Value(0));
        assert_eq!(swap_from_memsw(m, Limit::Max), Limit::Max);
    }

    #[test]
    fn v1_values() {
        assert_eq!(v1_memory_value(Limit::Max), "-1");
        assert_eq!(v1_quota_value(Limit::Value(35_000)), "35000");
        assert_eq!(v1_throttle_value(Limit::Max), "0");
        assert_eq!(ticks_to_usec(30), 300_000);
    }
}
