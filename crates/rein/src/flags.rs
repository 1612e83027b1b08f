//! rein's limit flags and Docker's, by their long names: what `rein run --memory 1G`
//! and a `memory = "1G"` line of a rein.toml file both say, turned into [`Resources`].
//!
//! One parser for both, so a setting means the same on the command line and in a file.
//! Values arrive as strings (as typed); errors name the flag (`--memory`) and the value.
//! The systemd properties (`-p`) and raw interface-file names (`-r`) have their own
//! parsers in [`crate::compat`].

use crate::compat::docker;
use crate::compat::systemd::HostFacts;
use crate::error::{Error, Result};
use crate::resources::{CpuMax, DEFAULT_CPU_PERIOD_US, IoMax, Resources};
use crate::units::{self, Bytes, CpuList, DeviceNumber, Limit, Weight};

/// The limit flags of `rein run`, `create` and `set`, as strings, by field name (the
/// flag with `--` removed and `-` as `_`). `None` (or empty, or `false`) leaves the
/// setting alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Flags {
    /// `--memory`: hard limit (memory.max), a size or `max`.
    pub memory: Option<String>,
    /// `--memory-high`: throttling limit (memory.high, v2 only).
    pub memory_high: Option<String>,
    /// `--memory-low`: best-effort protection (memory.low).
    pub memory_low: Option<String>,
    /// `--memory-min`: hard protection (memory.min, v2 only).
    pub memory_min: Option<String>,
    /// `--swap`: swap limit (memory.swap.max).
    pub swap: Option<String>,
    /// `--oom-group`: kill the whole group on OOM (memory.oom.group).
    pub oom_group: bool,
    /// `--cpu`: `20%`, `QUOTA/PERIOD` in µs, or `max`.
    pub cpu: Option<String>,
    /// `--cpu-period`: the CFS period for `--cpu`, `--cpus` and `--cpu-quota`.
    pub cpu_period: Option<String>,
    /// `--cpu-weight`: 1..10000.
    pub cpu_weight: Option<String>,
    /// `--cpu-shares`: 2..262144 (Docker's 0 leaves the weight alone).
    pub cpu_shares: Option<String>,
    /// `--cpus`: a number of CPUs (Docker), or a CPU list when it has `-` or `,`.
    pub cpus: Option<String>,
    /// `--cpuset` (`--cpuset-cpus`): CPUs to run on.
    pub cpuset: Option<String>,
    /// `--mems` (`--cpuset-mems`): memory nodes.
    pub mems: Option<String>,
    /// `--io-weight`: 1..10000.
    pub io_weight: Option<String>,
    /// `--io-max`: `DEVICE:KEY=VALUE[,KEY=VALUE]`, one per device.
    pub io_max: Vec<String>,
    /// `--pids`: most tasks, or `max`.
    pub pids: Option<String>,
    /// Docker `--memory-swap`: memory plus swap (needs `--memory`).
    pub memory_swap: Option<String>,
    /// Docker `--memory-reservation`: memory.low.
    pub memory_reservation: Option<String>,
    /// Docker `--cpu-quota`: µs per period, `-1` none, `0` unset.
    pub cpu_quota: Option<String>,
    /// Docker `--pids-limit`: 0 or negative is unlimited.
    pub pids_limit: Option<String>,
    /// Docker `--blkio-weight`: 10..1000, 0 unset.
    pub blkio_weight: Option<String>,
    /// Docker `--device-read-bps`: `/dev/PATH:RATE`.
    pub device_read_bps: Vec<String>,
    /// Docker `--device-write-bps`.
    pub device_write_bps: Vec<String>,
    /// Docker `--device-read-iops`.
    pub device_read_iops: Vec<String>,
    /// Docker `--device-write-iops`.
    pub device_write_iops: Vec<String>,
    /// Docker `--oom-kill-disable` (cgroup v1 only).
    pub oom_kill_disable: bool,
}

/// An [`Error::InvalidValue`] naming `--flag`.
pub fn invalid(flag: &str, value: &str, reason: impl Into<String>) -> Error {
    Error::invalid(format!("--{flag}"), value, reason)
}

fn size(flag: &str, v: &str) -> Result<Bytes> {
    units::parse_size(v).map(Bytes).map_err(|r| invalid(flag, v, r))
}

fn size_limit(flag: &str, v: &str) -> Result<Limit<Bytes>> {
    units::parse_limit(v, |s| units::parse_size(s).map(Bytes)).map_err(|r| invalid(flag, v, format!("{r}, or max")))
}

/// A duration in µs: `100000`, `100ms`, `1s`, `500us`.
pub fn parse_micros(v: &str) -> Result<u64, String> {
    let t = v.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("us") {
        (n, 1)
    } else if let Some(n) = t.strip_suffix("ms") {
        (n, 1_000)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1_000_000)
    } else {
        (t, 1)
    };
    let n = units::parse_count(num).map_err(|e| format!("{e}; expected microseconds or a duration like 100ms"))?;
    n.checked_mul(scale).ok_or_else(|| "too large".to_string())
}

/// Parses `--cpu`: `20%`, `max`, or `QUOTA/PERIOD` in µs.
pub fn parse_cpu(v: &str, period: Option<u64>) -> Result<CpuMax> {
    let t = v.trim();
    let p = period.unwrap_or(DEFAULT_CPU_PERIOD_US);
    if t == "max" || t == "infinity" {
        return CpuMax::new(Limit::Max, p).map_err(|e| relabel(e, "cpu", v));
    }
    if let Some((q, per)) = t.split_once('/') {
        let q = parse_micros(q).map_err(|r| invalid("cpu", v, r))?;
        let per = parse_micros(per).map_err(|r| invalid("cpu", v, r))?;
        if period.is_some_and(|p| p != per) {
            return Err(invalid("cpu", v, "the period here differs from --cpu-period; give one"));
        }
        return CpuMax::new(Limit::Value(q), per).map_err(|e| relabel(e, "cpu", v));
    }
    if !t.ends_with('%') {
        return Err(invalid(
            "cpu",
            v,
            "expected a percentage of one CPU like 20% or 150%, QUOTA/PERIOD in µs like 20000/100000, or max \
             (for a number of CPUs use --cpus)",
        ));
    }
    let micro = units::parse_percent_micro(t).map_err(|r| invalid("cpu", v, r))?;
    CpuMax::from_percent_micro(micro, p).map_err(|e| relabel(e, "cpu", v))
}

/// Re-labels a model error as an error of `--flag` with the value as given.
pub(crate) fn relabel(e: Error, flag: &str, v: &str) -> Error {
    match e {
        Error::InvalidValue { reason, .. } => invalid(flag, v, reason),
        other => other,
    }
}

/// Parses one `--io-max` spec into a device spec and limits.
pub fn parse_io_max(v: &str, resolve: &dyn Fn(&str) -> Result<DeviceNumber>) -> Result<IoMax> {
    let eq = v.find('=').ok_or_else(|| invalid("io-max", v, "expected DEVICE:KEY=VALUE, e.g. /dev/loop0:wbps=1M"))?;
    let (dev, first_key) =
        v[..eq].rsplit_once(':').ok_or_else(|| invalid("io-max", v, "expected DEVICE:KEY=VALUE, e.g. 8:0:rbps=10M"))?;
    // The limits are checked before the device is looked up, so a bad key is named
    // whatever the device.
    let mut m = IoMax::new(DeviceNumber { major: 0, minor: 0 });
    let rest = &v[dev.len() + 1..];
    debug_assert!(rest.starts_with(first_key));
    for kv in rest.split(',') {
        let (k, val) = kv.split_once('=').ok_or_else(|| invalid("io-max", v, format!("'{kv}' is not KEY=VALUE")))?;
        let parsed = match k.trim() {
            "rbps" | "wbps" => units::parse_limit(val, units::parse_size),
            "riops" | "wiops" => units::parse_limit(val, units::parse_count),
            other => {
                return Err(invalid("io-max", v, format!("unknown key '{other}'; use rbps, wbps, riops or wiops")));
            }
        }
        .map_err(|r| invalid("io-max", v, format!("{}: {r}", k.trim())))?;
        let slot = match k.trim() {
            "rbps" => &mut m.rbps,
            "wbps" => &mut m.wbps,
            "riops" => &mut m.riops,
            _ => &mut m.wiops,
        };
        if slot.is_some() {
            return Err(invalid("io-max", v, format!("'{}' given twice", k.trim())));
        }
        *slot = Some(parsed);
    }
    m.device = resolve(dev)?;
    Ok(m)
}

impl Flags {
    /// Checks every value and builds the model, with the flags' semantics (Docker's for
    /// Docker's flags). Devices are resolved with `resolve`; `facts` is asked for the
    /// host's CPU count when `--cpus` gives a number of CPUs. Errors name the flag
    /// (`--memory`) and the value.
    pub fn to_resources(
        &self,
        resolve: &dyn Fn(&str) -> Result<DeviceNumber, Error>,
        facts: &dyn Fn() -> HostFacts,
    ) -> Result<Resources> {
        let mut r = Resources::new();
        if let Some(v) = &self.memory {
            r.memory.max = Some(size_limit("memory", v)?);
        }
        if let Some(v) = &self.memory_high {
            r.memory.high = Some(size_limit("memory-high", v)?);
        }
        if let Some(v) = &self.memory_low {
            r.memory.low = Some(size("memory-low", v)?);
        }
        if let Some(v) = &self.memory_min {
            r.memory.min = Some(size("memory-min", v)?);
        }
        if let Some(v) = &self.swap {
            r.memory.swap_max = Some(size_limit("swap", v)?);
        }
        if self.oom_group {
            r.memory.oom_group = Some(true);
        }
        let period = match &self.cpu_period {
            Some(v) => {
                let p = parse_micros(v).map_err(|e| invalid("cpu-period", v, e))?;
                // The kernel's bounds for cfs_period_us and cpu.max's period.
                if !(1_000..=1_000_000).contains(&p) {
                    return Err(invalid("cpu-period", v, "must be between 1000us (1ms) and 1000000us (1s)"));
                }
                Some(p)
            }
            None => None,
        };
        if let Some(v) = &self.cpu {
            r.cpu.max = Some(parse_cpu(v, period)?);
        }
        if let Some(v) = &self.cpus {
            let t = v.trim();
            if t.contains('-') || t.contains(',') {
                if self.cpuset.is_some() {
                    return Err(invalid("cpus", v, "a CPU list here and --cpuset too; give one"));
                }
                r.cpuset.cpus = Some(CpuList::parse_nonempty(t).map_err(|e| invalid("cpus", v, e))?);
            } else {
                if r.cpu.max.is_some() {
                    return Err(invalid("cpus", v, "--cpu and --cpus both set a CPU limit; give one"));
                }
                // Docker's meaning: a number of CPUs. 0 means no limit there too.
                let micro = units::parse_percent_micro(&format!("{t}%")).map_err(|e| {
                    invalid("cpus", v, format!("{e}; expected a number of CPUs like 1.5, or a CPU list like 0-1"))
                })?;
                // Docker refuses more CPUs than the host has ("Range of CPUs is from
                // 0.01 to 2.00, as there are only 2 CPUs available"): such a quota never
                // binds, so it is a mistake, not a limit.
                let online = facts().online_cpus;
                if micro > u64::from(online) * 1_000_000 {
                    return Err(invalid(
                        "cpus",
                        v,
                        format!(
                            "this host has {online} CPU{}, so a number of CPUs is at most {online}; \
                             for a quota of more CPUs than this host has, use --cpu {}%",
                            if online == 1 { "" } else { "s" },
                            micro / 10_000
                        ),
                    ));
                }
                let p = period.unwrap_or(DEFAULT_CPU_PERIOD_US);
                r.cpu.max = Some(if micro == 0 {
                    CpuMax::new(Limit::Max, p)?
                } else {
                    CpuMax::from_percent_micro(micro.saturating_mul(100), p).map_err(|e| relabel(e, "cpus", v))?
                });
            }
        }
        if period.is_some() && r.cpu.max.is_none() && self.cpu_quota.is_none() {
            return Err(invalid("cpu-period", self.cpu_period.as_deref().unwrap_or(""), "needs --cpu or --cpus"));
        }
        if let Some(v) = &self.cpu_weight {
            r.cpu.weight = Some(v.parse::<Weight>().map_err(|e| invalid("cpu-weight", v, e))?);
        }
        if let Some(v) = &self.cpu_shares {
            if r.cpu.weight.is_some() {
                return Err(invalid("cpu-shares", v, "--cpu-weight is given too; give one"));
            }
            let n = units::parse_count(v).map_err(|e| invalid("cpu-shares", v, e))?;
            // Docker's 0: leave the weight as it is.
            if n != 0 && !(crate::convert::MIN_SHARES..=crate::convert::MAX_SHARES).contains(&n) {
                return Err(invalid("cpu-shares", v, "shares must be between 2 and 262144 (default 1024)"));
            }
            if n != 0 {
                r.cpu.weight = Some(crate::convert::shares_to_weight(n));
            }
        }
        if let Some(v) = &self.cpuset {
            r.cpuset.cpus = Some(CpuList::parse_nonempty(v).map_err(|e| invalid("cpuset", v, e))?);
        }
        if let Some(v) = &self.mems {
            r.cpuset.mems = Some(CpuList::parse_nonempty(v).map_err(|e| invalid("mems", v, e))?);
        }
        if let Some(v) = &self.io_weight {
            r.io.weight = Some(v.parse::<Weight>().map_err(|e| invalid("io-weight", v, e))?);
        }
        for spec in &self.io_max {
            let m = parse_io_max(spec, resolve)?;
            match r.io.max.iter_mut().find(|x| x.device == m.device) {
                Some(_) => {
                    return Err(invalid(
                        "io-max",
                        spec,
                        format!("device {} given twice; merge the limits with commas", m.device),
                    ));
                }
                None => r.io.max.push(m),
            }
        }
        if let Some(v) = &self.pids {
            r.pids.max = Some(
                units::parse_limit(v, units::parse_count).map_err(|e| invalid("pids", v, format!("{e}, or max")))?,
            );
        }
        self.docker(&mut r, resolve)?;
        r.validate()?;
        Ok(r)
    }

    /// Docker's flags, with Docker's semantics (see [`crate::compat::docker`]).
    fn docker(&self, r: &mut Resources, resolve: &dyn Fn(&str) -> Result<DeviceNumber, Error>) -> Result<()> {
        if let Some(v) = &self.memory_swap {
            r.memory.swap_max = match docker::memory_swap(v, r.memory.max)? {
                Some(swap) if self.swap.is_some() => {
                    return Err(invalid("memory-swap", v, format!("--swap is given too ({swap} of swap); give one")));
                }
                other => other.or(r.memory.swap_max),
            };
        }
        if let Some(v) = &self.memory_reservation {
            if self.memory_low.is_some() {
                return Err(invalid("memory-reservation", v, "--memory-low is given too; give one"));
            }
            let b = docker::ram_in_bytes("memory-reservation", v)?;
            // (No let chains: the library builds with Rust 1.85.)
            if let Some(m) = r.memory.max.and_then(|m| m.value().copied()).filter(|m| b > m.0) {
                return Err(invalid(
                    "memory-reservation",
                    v,
                    format!("Minimum memory limit can not be less than memory reservation limit ({m})"),
                ));
            }
            r.memory.low = Some(Bytes(b));
        }
        let quota = match &self.cpu_quota {
            Some(v) => docker::cpu_quota(v)?.map(|q| (v, q)),
            None => None,
        };
        if let Some((v, quota)) = quota {
            if r.cpu.max.is_some() {
                return Err(invalid(
                    "cpu-quota",
                    v,
                    "Conflicting options: --cpu or --cpus sets the CPU limit too; give one",
                ));
            }
            let period = match &self.cpu_period {
                Some(p) => parse_micros(p).map_err(|e| invalid("cpu-period", p, e))?,
                None => DEFAULT_CPU_PERIOD_US,
            };
            r.cpu.max = Some(CpuMax::new(quota, period).map_err(|e| relabel(e, "cpu-quota", v))?);
        }
        if let Some(v) = &self.pids_limit {
            if self.pids.is_some() {
                return Err(invalid("pids-limit", v, "--pids is given too; give one"));
            }
            r.pids.max = Some(docker::pids_limit(v)?);
        }
        let weight = match &self.blkio_weight {
            Some(v) => docker::blkio_weight(v)?.map(|w| (v, w)),
            None => None,
        };
        if let Some((v, w)) = weight {
            if r.io.weight.is_some() {
                return Err(invalid("blkio-weight", v, "--io-weight is given too; give one"));
            }
            r.io.weight = Some(w);
        }
        for (kind, list) in [
            (docker::DeviceRate::ReadBps, &self.device_read_bps),
            (docker::DeviceRate::WriteBps, &self.device_write_bps),
            (docker::DeviceRate::ReadIops, &self.device_read_iops),
            (docker::DeviceRate::WriteIops, &self.device_write_iops),
        ] {
            for v in list {
                let (path, limit) = docker::device_rate(kind, v)?;
                let dev = resolve(&path)?;
                let m = match r.io.max.iter_mut().find(|m| m.device == dev) {
                    Some(m) => m,
                    None => {
                        r.io.max.push(IoMax::new(dev));
                        r.io.max.last_mut().expect("just pushed")
                    }
                };
                let slot = match kind {
                    docker::DeviceRate::ReadBps => &mut m.rbps,
                    docker::DeviceRate::WriteBps => &mut m.wbps,
                    docker::DeviceRate::ReadIops => &mut m.riops,
                    docker::DeviceRate::WriteIops => &mut m.wiops,
                };
                if slot.is_some() {
                    return Err(invalid(kind.flag(), v, format!("device {dev} has this limit already; give it once")));
                }
                *slot = Some(limit);
            }
        }
        if self.oom_kill_disable {
            r.memory.oom_kill_disable = Some(true);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_dev(s: &str) -> Result<DeviceNumber> {
        DeviceNumber::parse(s).map_err(|e| Error::invalid("device", s, e))
    }

    fn two_cpus() -> HostFacts {
        HostFacts { physical_memory: 8 << 30, page_size: 4096, tasks_max: 4_194_303, online_cpus: 2 }
    }

    fn parse(f: impl FnOnce(&mut Flags)) -> Result<Resources> {
        let mut a = Flags::default();
        f(&mut a);
        a.to_resources(&no_dev, &two_cpus)
    }

    #[test]
    fn cpus_are_at_most_the_hosts() {
        let r = parse(|a| a.cpus = Some("2".into())).unwrap();
        assert_eq!(r.cpu.max.unwrap().quota, Limit::Value(200_000));
        assert_eq!(parse(|a| a.cpus = Some("1.5".into())).unwrap().cpu.max.unwrap().quota, Limit::Value(150_000));
        let e = parse(|a| a.cpus = Some("64".into())).unwrap_err().to_string();
        assert!(e.contains("--cpus") && e.contains("'64'") && e.contains("has 2 CPUs"), "{e}");
        assert!(e.contains("--cpu 6400%"), "{e}");
        assert!(parse(|a| a.cpus = Some("2.01".into())).is_err());
        // A CPU list is not a count, and --cpu takes any quota.
        assert!(parse(|a| a.cpus = Some("0-1".into())).is_ok());
        assert!(parse(|a| a.cpu = Some("6400%".into())).is_ok());
    }

    #[test]
    fn docker_semantics() {
        let r = parse(|a| {
            a.memory = Some("1g".into());
            a.memory_swap = Some("3g".into());
            a.cpu_quota = Some("50000".into());
            a.pids_limit = Some("-1".into());
        })
        .unwrap();
        assert_eq!(r.memory.swap_max, Some(Limit::Value(Bytes::gib(2))));
        assert_eq!(r.cpu.max.unwrap().quota, Limit::Value(50_000));
        assert_eq!(r.pids.max, Some(Limit::Max));
        let e = parse(|a| a.memory_swap = Some("2g".into())).unwrap_err().to_string();
        assert!(e.contains("--memory-swap") && e.contains("give --memory too"), "{e}");
        let e = parse(|a| {
            a.cpu = Some("20%".into());
            a.cpu_quota = Some("50000".into());
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("Conflicting options"), "{e}");
    }
}
