//! [`Resources`]: one version-neutral model of the limits a group can carry.
//!
//! Every field is optional: `None` leaves the kernel's current value alone. A limit
//! that can be lifted is a [`Limit`]: `Limit::Max` removes it. Values are checked
//! when they are built ([`Resources::validate`] re-checks a whole model, e.g. one
//! deserialized from a file), so backends only translate, never judge.
//!
//! The same model drives the v2 and v1 backends; [`crate::convert`] holds every
//! translation between the vocabularies.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::convert;
use crate::devices::DeviceAccess;
use crate::error::{Error, Result};
use crate::hierarchy::Controller;
use crate::network::Network;
use crate::units::{Bytes, CpuList, DeviceNumber, Limit, Shares, Weight};

/// The default CFS period, 100 ms, used when a quota is given as a percentage.
pub const DEFAULT_CPU_PERIOD_US: u64 = 100_000;
/// Shortest CFS period the kernel accepts (1 ms).
pub const MIN_CPU_PERIOD_US: u64 = 1_000;
/// Longest CFS period the kernel accepts (1 s).
pub const MAX_CPU_PERIOD_US: u64 = 1_000_000;
/// Smallest CFS quota the kernel accepts (1 ms).
pub const MIN_CPU_QUOTA_US: u64 = 1_000;
/// Largest CFS quota the kernel accepts: 2^44 - 1 µs (kernel/sched/core.c, max_cfs_runtime).
pub const MAX_CPU_QUOTA_US: u64 = (1 << 44) - 1;

/// Limits for a group. Build with the setter methods or fill the public fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Resources {
    /// Memory limits.
    pub memory: Memory,
    /// CPU bandwidth and weight.
    pub cpu: Cpu,
    /// CPU and memory-node placement.
    pub cpuset: Cpuset,
    /// Block IO weight and throttling.
    pub io: Io,
    /// Process count.
    pub pids: Pids,
    /// Which device nodes the group may open and create: a policy and ordered rules with
    /// v1's semantics (`devices.allow`/`devices.deny` on v1, a BPF program on v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<DeviceAccess>,
    /// Network rates, priority and class (cgroup BPF programs on the cgroup2 directory).
    #[serde(skip_serializing_if = "Network::is_empty")]
    pub network: Network,
    /// Freeze (`true`) or thaw (`false`) the group after the limits are written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freeze: Option<bool>,
}

/// Memory limits (bytes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Memory {
    /// Hard limit: beyond it the kernel reclaims, then OOM-kills (`memory.max`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<Limit<Bytes>>,
    /// Throttling limit: beyond it the group is slowed and reclaimed hard (`memory.high`, v2 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high: Option<Limit<Bytes>>,
    /// Best-effort protection from reclaim (`memory.low`; v1 `memory.soft_limit_in_bytes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low: Option<Bytes>,
    /// Hard protection from reclaim (`memory.min`, v2 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<Bytes>,
    /// Swap limit (`memory.swap.max`; v1 writes `memory.memsw.limit_in_bytes` = max + swap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap_max: Option<Limit<Bytes>>,
    /// Kill the whole group when the OOM killer picks one of its tasks (`memory.oom.group`, v2 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_group: Option<bool>,
    /// Do not OOM-kill in this group: tasks that hit the limit wait instead (v1
    /// `memory.oom_control` `oom_kill_disable`; cgroup v2 has no such switch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_kill_disable: Option<bool>,
}

/// CPU bandwidth (CFS quota) and weight.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Cpu {
    /// Bandwidth limit (`cpu.max`; v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<CpuMax>,
    /// Relative weight 1..=10000 (`cpu.weight`; v1 `cpu.shares`, see [`crate::convert`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<Weight>,
    /// The same relative weight given in v1's unit, `cpu.shares` 2..=262144 (`--cpu-shares`,
    /// rein.toml `cpu-shares`, a `cpu.shares` file): written as given on v1, converted
    /// to `cpu.weight` on cgroup v2 and systemd ([`crate::convert::shares_to_weight`]).
    /// At most one of `weight` and `shares` is set ([`Resources::validate`]); read with
    /// [`Cpu::weight_v2`] and [`Cpu::shares_v1`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares: Option<Shares>,
}

impl Cpu {
    /// The weight as cgroup v2's `cpu.weight` (and systemd's `CPUWeight=`) takes it:
    /// `weight`, or `shares` converted.
    pub fn weight_v2(&self) -> Option<Weight> {
        self.weight.or(self.shares.map(|s| convert::shares_to_weight(s.get())))
    }

    /// The weight as v1's `cpu.shares` takes it: `shares` exactly, or `weight` converted.
    pub fn shares_v1(&self) -> Option<u64> {
        self.shares.map(Shares::get).or(self.weight.map(convert::weight_to_shares))
    }
}

/// A CFS bandwidth limit: at most `quota` µs of CPU time per `period` µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuMax {
    /// CPU time per period, microseconds, or unlimited.
    pub quota: Limit<u64>,
    /// The period, microseconds (1000..=1000000).
    pub period: u64,
}

impl CpuMax {
    /// A limit of `quota_us` per `period_us`, checked against the kernel's ranges.
    pub fn new(quota: Limit<u64>, period_us: u64) -> Result<CpuMax> {
        let max = CpuMax { quota, period: period_us };
        max.validate()?;
        Ok(max)
    }

    /// A limit of `percent` of one CPU (150 = one and a half CPUs) over `period_us`.
    pub fn percent(percent: f64, period_us: u64) -> Result<CpuMax> {
        if !percent.is_finite() || percent <= 0.0 {
            return Err(Error::invalid("CPU limit", format!("{percent}%"), "must be a positive percentage"));
        }
        let micro = (percent * 1_000_000.0).round();
        if micro > u64::MAX as f64 {
            return Err(Error::invalid("CPU limit", format!("{percent}%"), "too large"));
        }
        CpuMax::from_percent_micro(micro as u64, period_us)
    }

    /// Like [`CpuMax::percent`], with the percentage in millionths (as [`crate::units::parse_percent_micro`] gives).
    pub fn from_percent_micro(percent_micro: u64, period_us: u64) -> Result<CpuMax> {
        let quota = u128::from(percent_micro) * u128::from(period_us) / 100_000_000;
        let shown = format!("{}%", percent_micro as f64 / 1_000_000.0);
        if percent_micro == 0 {
            return Err(Error::invalid("CPU limit", shown, "must be more than 0%"));
        }
        let quota = u64::try_from(quota).map_err(|_| Error::invalid("CPU limit", &shown, "too large"))?;
        CpuMax::new(Limit::Value(quota), period_us).map_err(|e| match e {
            Error::InvalidValue { reason, .. } => {
                Error::InvalidValue { what: "CPU limit".into(), value: shown, reason }
            }
            other => other,
        })
    }

    /// The limit in percent of one CPU, if limited.
    pub fn as_percent(&self) -> Option<f64> {
        self.quota.value().map(|q| *q as f64 * 100.0 / self.period as f64)
    }

    /// Checks the kernel's ranges.
    pub fn validate(&self) -> Result<()> {
        if !(MIN_CPU_PERIOD_US..=MAX_CPU_PERIOD_US).contains(&self.period) {
            return Err(Error::invalid(
                "CPU period",
                format!("{}us", self.period),
                format!("must be between {MIN_CPU_PERIOD_US}us (1ms) and {MAX_CPU_PERIOD_US}us (1s)"),
            ));
        }
        if let Limit::Value(q) = self.quota {
            if q < MIN_CPU_QUOTA_US {
                let pct = q as f64 * 100.0 / self.period as f64;
                return Err(Error::invalid(
                    "CPU quota",
                    format!("{q}us per {}us ({pct:.2}%)", self.period),
                    format!("the kernel needs at least {MIN_CPU_QUOTA_US}us per period; raise the limit or the period"),
                ));
            }
            if q > MAX_CPU_QUOTA_US {
                return Err(Error::invalid("CPU quota", format!("{q}us"), format!("at most {MAX_CPU_QUOTA_US}us")));
            }
        }
        Ok(())
    }
}

/// CPU and memory-node placement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Cpuset {
    /// CPUs the group may run on (`cpuset.cpus`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<CpuList>,
    /// Memory nodes the group may allocate from (`cpuset.mems`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mems: Option<CpuList>,
}

/// Block IO weight and per-device throttling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Io {
    /// Default weight 1..=10000 (`io.weight`; v1 `blkio.bfq.weight` or `blkio.weight`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<Weight>,
    /// Per-device limits (`io.max`; v1 `blkio.throttle.*_device`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub max: Vec<IoMax>,
}

impl Io {
    /// The limits of `device`, added (empty) when it has none yet: the one place the
    /// per-device list is searched.
    pub fn device_mut(&mut self, device: DeviceNumber) -> &mut IoMax {
        match self.max.iter().position(|m| m.device == device) {
            Some(i) => &mut self.max[i],
            None => {
                self.max.push(IoMax::new(device));
                self.max.last_mut().expect("just pushed")
            }
        }
    }

    /// The limits of `device`, if it has any.
    pub fn device(&self, device: DeviceNumber) -> Option<&IoMax> {
        self.max.iter().find(|m| m.device == device)
    }
}

/// Throttling of one block device. Each `None` leaves that limit alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IoMax {
    /// The whole-disk device.
    pub device: DeviceNumber,
    /// Read bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rbps: Option<Limit<u64>>,
    /// Write bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wbps: Option<Limit<u64>>,
    /// Read operations per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub riops: Option<Limit<u64>>,
    /// Write operations per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wiops: Option<Limit<u64>>,
}

impl IoMax {
    /// No limits yet on `device`.
    pub fn new(device: DeviceNumber) -> IoMax {
        IoMax { device, rbps: None, wbps: None, riops: None, wiops: None }
    }

    /// The limit named by an `io.max` key (`rbps`, `wbps`, `riops`, `wiops`), `None` for
    /// any other key.
    pub fn slot_mut(&mut self, key: &str) -> Option<&mut Option<Limit<u64>>> {
        match key {
            "rbps" => Some(&mut self.rbps),
            "wbps" => Some(&mut self.wbps),
            "riops" => Some(&mut self.riops),
            "wiops" => Some(&mut self.wiops),
            _ => None,
        }
    }

    /// The limits set, as `(io.max key, value)` pairs in the kernel's order.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, Limit<u64>)> + '_ {
        [("rbps", self.rbps), ("wbps", self.wbps), ("riops", self.riops), ("wiops", self.wiops)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
    }
}

/// Process-count limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Pids {
    /// Most tasks (processes and threads) the group may hold (`pids.max`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<Limit<u64>>,
}

impl Pids {
    /// The largest `pids.max` a kernel takes: `PID_MAX_LIMIT` (include/linux/threads.h),
    /// 4 * 1024 * 1024 on 64-bit kernels. kernel/cgroup/pids.c keeps "max" as
    /// `PID_MAX_LIMIT + 1` and refuses any number from there on with EINVAL (32-bit and
    /// `CONFIG_BASE_SMALL` kernels have a smaller limit, 32768, and refuse more themselves).
    pub const KERNEL_MAX: u64 = 4 * 1024 * 1024;

    /// Refuses a `pids.max` number the kernel would refuse for being too large, saying why.
    pub fn check_kernel_max(n: u64) -> std::result::Result<(), String> {
        if n > Pids::KERNEL_MAX {
            return Err(format!(
                "above the kernel's largest pids.max, {} (PID_MAX_LIMIT); use 'max' for no limit",
                Pids::KERNEL_MAX
            ));
        }
        Ok(())
    }
}

impl Resources {
    /// No limits.
    pub fn new() -> Resources {
        Resources::default()
    }

    /// Sets the hard memory limit.
    pub fn memory_max(mut self, limit: impl Into<Limit<Bytes>>) -> Self {
        self.memory.max = Some(limit.into());
        self
    }

    /// Sets the memory throttling limit (v2).
    pub fn memory_high(mut self, limit: impl Into<Limit<Bytes>>) -> Self {
        self.memory.high = Some(limit.into());
        self
    }

    /// Sets the swap limit.
    pub fn swap_max(mut self, limit: impl Into<Limit<Bytes>>) -> Self {
        self.memory.swap_max = Some(limit.into());
        self
    }

    /// Limits CPU to `percent` of one CPU with the default 100 ms period.
    pub fn cpu_percent(mut self, percent: f64) -> Result<Self> {
        self.cpu.max = Some(CpuMax::percent(percent, DEFAULT_CPU_PERIOD_US)?);
        Ok(self)
    }

    /// Sets the CPU weight.
    pub fn cpu_weight(mut self, weight: Weight) -> Self {
        self.cpu.weight = Some(weight);
        self.cpu.shares = None;
        self
    }

    /// Sets the CPU weight in v1's unit, `cpu.shares` (written exactly on v1).
    pub fn cpu_shares(mut self, shares: Shares) -> Self {
        self.cpu.shares = Some(shares);
        self.cpu.weight = None;
        self
    }

    /// Pins the group to CPUs.
    pub fn cpus(mut self, cpus: CpuList) -> Self {
        self.cpuset.cpus = Some(cpus);
        self
    }

    /// Sets device access: a policy and rules ([`crate::devices`]), as v1's devices files
    /// on v1 and a BPF device program on v2.
    pub fn device_access(mut self, access: crate::devices::DeviceAccess) -> Self {
        self.devices = Some(access);
        self
    }

    /// Limits the number of tasks.
    pub fn pids_max(mut self, max: impl Into<Limit<u64>>) -> Self {
        self.pids.max = Some(max.into());
        self
    }

    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }

    /// The controllers the set fields need.
    pub fn controllers(&self) -> BTreeSet<Controller> {
        let mut out = BTreeSet::new();
        if self.memory != Memory::default() {
            out.insert(Controller::Memory);
        }
        if self.cpu != Cpu::default() {
            out.insert(Controller::Cpu);
        }
        if self.cpuset != Cpuset::default() {
            out.insert(Controller::Cpuset);
        }
        if self.io != Io::default() {
            out.insert(Controller::Io);
        }
        if self.pids != Pids::default() {
            out.insert(Controller::Pids);
        }
        if self.devices.is_some() {
            out.insert(Controller::Devices);
        }
        out
    }

    /// Checks every value against the kernel's ranges, and the model's own rules.
    pub fn validate(&self) -> Result<()> {
        if let Some(Limit::Value(b)) = self.memory.max {
            if b.0 == 0 {
                return Err(Error::invalid("memory limit", "0", "0 would OOM-kill at once; use 'max' for no limit"));
            }
            // The kernel counts memory limits in whole pages, rounding down: anything below
            // the smallest page size (4 KiB) is 0 pages, an OOM kill at once.
            if b.0 < 4096 {
                return Err(Error::invalid(
                    "memory limit",
                    format!("{} bytes", b.0),
                    "below one page (4096 bytes) the kernel rounds it to 0 and would OOM-kill at once; \
                     sizes are bytes unless suffixed (256M, 1.5G)",
                ));
            }
        }
        if let Some(max) = &self.cpu.max {
            max.validate()?;
        }
        if let (Some(w), Some(s)) = (self.cpu.weight, self.cpu.shares) {
            return Err(Error::invalid(
                "cpu weight",
                format!("weight {w} and shares {s}"),
                "one setting given twice; give cpu.weight or cpu.shares",
            ));
        }
        if let Some(Limit::Value(0)) = self.pids.max {
            return Err(Error::invalid("pids limit", "0", "a group needs at least 1 task; use 'max' for no limit"));
        }
        if let Some(Limit::Value(n)) = self.pids.max {
            Pids::check_kernel_max(n).map_err(|why| Error::invalid("pids limit", n.to_string(), why))?;
        }
        self.network.validate().map_err(|e| Error::invalid("network", "priority and class id", e))?;
        if matches!(&self.cpuset.cpus, Some(c) if c.is_empty()) {
            return Err(Error::invalid("cpuset.cpus", "", "empty CPU list"));
        }
        if matches!(&self.cpuset.mems, Some(c) if c.is_empty()) {
            return Err(Error::invalid("cpuset.mems", "", "empty memory-node list"));
        }
        let mut devices = BTreeSet::new();
        for m in &self.io.max {
            if !devices.insert(m.device) {
                return Err(Error::invalid("io limit", m.device.to_string(), "device listed twice; merge the limits"));
            }
            if m.entries().next().is_none() {
                return Err(Error::invalid(
                    "io limit",
                    m.device.to_string(),
                    "no limit given (rbps, wbps, riops, wiops)",
                ));
            }
            if let Some((key, _)) = m.entries().find(|(_, v)| *v == Limit::Value(0)) {
                return Err(Error::invalid(
                    "io limit",
                    format!("{}:{key}=0", m.device),
                    "0 would stop all IO; use 'max' to remove a limit",
                ));
            }
        }
        Ok(())
    }

    /// The settings this model holds, named by their cgroup v2 interface file (the v1
    /// file where v2 has none), for messages such as "set twice".
    pub fn fields(&self) -> Vec<&'static str> {
        let m = &self.memory;
        let mut out = Vec::new();
        for (set, name) in [
            (m.min.is_some(), "memory.min"),
            (m.low.is_some(), "memory.low"),
            (m.high.is_some(), "memory.high"),
            (m.max.is_some(), "memory.max"),
            (m.swap_max.is_some(), "memory.swap.max"),
            (m.oom_group.is_some(), "memory.oom.group"),
            (m.oom_kill_disable.is_some(), "memory.oom_control"),
            (self.cpu.weight.is_some() || self.cpu.shares.is_some(), "cpu.weight"),
            (self.cpu.max.is_some(), "cpu.max"),
            (self.cpuset.cpus.is_some(), "cpuset.cpus"),
            (self.cpuset.mems.is_some(), "cpuset.mems"),
            (self.io.weight.is_some(), "io.weight"),
            (!self.io.max.is_empty(), "io.max"),
            (self.pids.max.is_some(), "pids.max"),
            (self.devices.is_some(), "devices"),
            (self.network.egress.is_some(), "net.egress"),
            (self.network.ingress.is_some(), "net.ingress"),
            (self.network.priority.is_some(), "net.priority"),
            (self.network.classid.is_some(), "net.classid"),
            (self.freeze.is_some(), "cgroup.freeze"),
        ] {
            if set {
                out.push(name);
            }
        }
        out
    }

    /// Settings both models hold (io.max counts per device), for refusing a setting
    /// given twice in two vocabularies.
    pub fn overlap(&self, other: &Resources) -> Vec<String> {
        let theirs = other.fields();
        let mut out: Vec<String> =
            self.fields().into_iter().filter(|f| *f != "io.max" && theirs.contains(f)).map(String::from).collect();
        for m in &self.io.max {
            if let Some(o) = other.io.max.iter().find(|o| o.device == m.device) {
                for ((key, _), (okey, _)) in m.entries().flat_map(|a| o.entries().map(move |b| (a, b))) {
                    if key == okey {
                        out.push(format!("io.max {} {key}", m.device));
                    }
                }
            }
        }
        out
    }

    /// Overlays `other` on `self`: every field set in `other` wins.
    pub fn merge(&mut self, other: &Resources) {
        macro_rules! take {
            ($($f:ident).+) => {
                if other.$($f).+.is_some() {
                    self.$($f).+ = other.$($f).+.clone();
                }
            };
        }
        take!(memory.max);
        take!(memory.high);
        take!(memory.low);
        take!(memory.min);
        take!(memory.swap_max);
        take!(memory.oom_group);
        take!(memory.oom_kill_disable);
        take!(cpu.max);
        // One setting in two units: the one `other` gives replaces either.
        if other.cpu.weight.is_some() || other.cpu.shares.is_some() {
            self.cpu.weight = other.cpu.weight;
            self.cpu.shares = other.cpu.shares;
        }
        take!(cpuset.cpus);
        take!(cpuset.mems);
        take!(io.weight);
        take!(pids.max);
        take!(devices);
        take!(network.egress);
        take!(network.ingress);
        take!(network.priority);
        take!(network.classid);
        take!(freeze);
        for m in &other.io.max {
            let x = self.io.device_mut(m.device);
            x.rbps = m.rbps.or(x.rbps);
            x.wbps = m.wbps.or(x.wbps);
            x.riops = m.riops.or(x.riops);
            x.wiops = m.wiops.or(x.wiops);
        }
    }
}

impl From<Bytes> for Limit<Bytes> {
    fn from(b: Bytes) -> Self {
        Limit::Value(b)
    }
}

impl From<u64> for Limit<u64> {
    fn from(n: u64) -> Self {
        Limit::Value(n)
    }
}

impl Resources {
    /// Checks the CPUs and memory nodes asked for against what the parent grants (`cpus`,
    /// `mems`; an empty list grants everything: unknown), naming `parent` in the error.
    pub(crate) fn check_cpuset_granted(&self, cpus: &CpuList, mems: &CpuList, parent: &str) -> Result<()> {
        for (what, want, have) in [("CPU", &self.cpuset.cpus, cpus), ("memory node", &self.cpuset.mems, mems)] {
            if let Some(want) = want {
                if !have.is_empty() && !want.is_subset(have) {
                    return Err(Error::invalid(
                        if what == "CPU" { "cpuset.cpus" } else { "cpuset.mems" },
                        want.to_string(),
                        format!("{what} {} not available: {parent} allows {have}", want.difference(have)),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_to_quota() {
        assert_eq!(CpuMax::percent(20.0, 100_000).unwrap().quota, Limit::Value(20_000));
        assert_eq!(CpuMax::percent(35.0, 100_000).unwrap().quota, Limit::Value(35_000));
        assert_eq!(CpuMax::percent(300.0, 100_000).unwrap().quota, Limit::Value(300_000));
        assert_eq!(CpuMax::from_percent_micro(33_300_000, 100_000).unwrap().quota, Limit::Value(33_300));
        assert_eq!(CpuMax::percent(20.0, 100_000).unwrap().as_percent(), Some(20.0));
    }

    #[test]
    fn cpu_ranges() {
        assert!(CpuMax::percent(0.5, 100_000).unwrap_err().to_string().contains("at least 1000us"));
        assert!(CpuMax::percent(0.0, 100_000).is_err());
        assert!(CpuMax::percent(f64::NAN, 100_000).is_err());
        assert!(CpuMax::percent(1e99, 100_000).is_err());
        assert!(CpuMax::new(Limit::Value(50_000), 999).is_err());
        assert!(CpuMax::new(Limit::Value(50_000), 1_000_001).is_err());
        assert!(CpuMax::new(Limit::Max, 100_000).is_ok());
        assert!(CpuMax::new(Limit::Value(MAX_CPU_QUOTA_US + 1), 100_000).is_err());
    }

    #[test]
    fn controllers_follow_fields() {
        let r = Resources::new().memory_max(Bytes::mib(256)).cpu_percent(20.0).unwrap();
        assert_eq!(r.controllers().into_iter().collect::<Vec<_>>(), [Controller::Cpu, Controller::Memory]);
        assert!(Resources::new().controllers().is_empty());
        assert!(Resources::new().is_empty());
    }

    #[test]
    fn validation() {
        assert!(Resources::new().memory_max(Bytes(0)).validate().is_err());
        assert!(Resources::new().pids_max(0).validate().is_err());
        // kernel/cgroup/pids.c takes up to PID_MAX_LIMIT (4194304 on 64-bit kernels).
        Resources::new().pids_max(1).validate().unwrap();
        Resources::new().pids_max(4_194_304).validate().unwrap();
        Resources::new().pids_max(Limit::Max).validate().unwrap();
        for n in [4_194_305, 99_999_999, 2_147_483_648, u64::MAX] {
            let e = Resources::new().pids_max(n).validate().unwrap_err().to_string();
            assert!(e.contains(&n.to_string()) && e.contains("4194304") && e.contains("'max'"), "{e}");
        }
        let mut r = Resources::new();
        r.io.max.push(IoMax::new(DeviceNumber { major: 7, minor: 0 }));
        assert!(r.validate().is_err());
        r.io.max[0].wbps = Some(Limit::Value(1 << 20));
        r.validate().unwrap();
        r.io.max.push(r.io.max[0]);
        assert!(r.validate().unwrap_err().to_string().contains("twice"));
    }

    /// Weight and shares are one setting in two units: never both, and the one given last wins.
    #[test]
    fn cpu_weight_and_shares_are_one_setting() {
        let shares = Resources::new().cpu_shares(Shares::new(2).unwrap());
        let weight = Resources::new().cpu_weight(Weight::new(300).unwrap());
        assert_eq!(shares.fields(), ["cpu.weight"]);
        assert_eq!(shares.overlap(&weight), ["cpu.weight"]);
        let mut a = shares.clone();
        a.merge(&weight);
        assert_eq!(a.cpu, weight.cpu);
        a.merge(&shares);
        assert_eq!(a.cpu, shares.cpu);
        let mut both = shares.clone();
        both.cpu.weight = Some(Weight::DEFAULT);
        assert!(both.validate().unwrap_err().to_string().contains("give cpu.weight or cpu.shares"));
        assert_eq!((shares.cpu.shares_v1(), shares.cpu.weight_v2()), (Some(2), Some(Weight::MIN)));
        assert_eq!((weight.cpu.shares_v1(), weight.cpu.weight_v2()), (Some(3072), Weight::new(300).ok()));
        assert_eq!(serde_json::to_string(&shares.cpu).unwrap(), r#"{"shares":2}"#);
    }

    #[test]
    fn merge_overlays() {
        let mut a = Resources::new().memory_max(Bytes::mib(1)).pids_max(5);
        let b = Resources::new().memory_max(Limit::Max);
        a.merge(&b);
        assert_eq!(a.memory.max, Some(Limit::Max));
        assert_eq!(a.pids.max, Some(Limit::Value(5)));
    }

    #[test]
    fn fields_and_overlap() {
        let a = Resources::new().memory_max(Bytes::mib(1)).pids_max(5);
        let b = Resources::new().memory_max(Limit::Max).cpu_percent(20.0).unwrap();
        assert_eq!(a.fields(), ["memory.max", "pids.max"]);
        assert_eq!(a.overlap(&b), ["memory.max"]);
        let dev = DeviceNumber { major: 7, minor: 0 };
        let (mut c, mut d) = (Resources::new(), Resources::new());
        let mut m = IoMax::new(dev);
        m.wbps = Some(Limit::Value(1));
        c.io.max.push(m);
        let mut m = IoMax::new(dev);
        m.rbps = Some(Limit::Value(1));
        d.io.max.push(m);
        assert!(c.overlap(&d).is_empty());
        d.io.max[0].wbps = Some(Limit::Max);
        assert_eq!(c.overlap(&d), ["io.max 7:0 wbps"]);
    }

    #[test]
    fn serde_round_trip() {
        let r = Resources::new().memory_max(Bytes::mib(256)).cpu_percent(20.0).unwrap().pids_max(Limit::Max);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"memory":{"max":268435456},"cpu":{"max":{"quota":20000,"period":100000}},"cpuset":{},"io":{},"pids":{"max":"max"}}"#
        );
        let back: Resources = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }
}
