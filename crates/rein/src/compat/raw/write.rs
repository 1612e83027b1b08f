//! Writes of names of the other version (and native ones rein models), turned into the
//! version-neutral model, which the v1 or v2 writer turns into files.

use std::collections::BTreeSet;

use super::check::*;
use super::names::*;
use crate::cgroupfs::format;
use crate::convert;
use crate::devices::{DeviceAccess, DeviceRule};
use crate::error::{Error, Result};
use crate::hierarchy::Controller;
use crate::resources::Resources;
use crate::resources::{CpuMax, DEFAULT_CPU_PERIOD_US, IoMax};
use crate::units::{self, CpuList, Limit, Weight};
use crate::{v1, v2};

/// A raw write that passes through to a file of the running mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawWrite {
    /// Where the file lives.
    pub home: Home,
    /// The interface file.
    pub file: String,
    /// The value, as given.
    pub value: String,
}

/// `-r` settings sorted into what the model carries and what passes through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Translation {
    /// Settings translated into the model (names of the other version).
    pub resources: Resources,
    /// Settings written as given (names of the running mode), in the order given.
    pub raw: Vec<RawWrite>,
}

/// The controllers a set of raw writes needs, for creating the group's directories.
pub(crate) fn controllers_of(raw: &[RawWrite]) -> BTreeSet<Controller> {
    raw.iter()
        .filter_map(|w| match w.home {
            Home::Controller(c) => Some(c),
            Home::Core => None,
        })
        .collect()
}

/// The model field a raw write sets, named like [`Resources::fields`], if rein models it.
pub(crate) fn field_of(raw: &RawWrite) -> Option<&'static str> {
    known(&raw.file).and_then(|k| k.field)
}

/// Sorts `-r` settings into raw writes and model fields for the running host, refusing
/// what rein's own commands refuse ([`Values::Safe`]).
pub fn translate(
    settings: &[(String, String)],
    host: &Host,
    current: &dyn Fn(&str) -> Option<String>,
) -> Result<Translation> {
    translate_values(settings, host, current, Values::Safe)
}

/// Sorts `-r` settings into raw writes and model fields for the running host.
///
/// `current` reads the group's present files in the running mode (by their native
/// name): it completes a half of a pair (`cpu.cfs_quota_us` alone keeps the period in
/// force; `memory.memsw.limit_in_bytes` alone is relative to the memory limit in
/// force; a devices rule applies to the rules in force, which it asks for as
/// `devices.list`). It gives None for a group that does not exist yet.
///
/// `values` says whether a value the kernel takes but rein's model refuses (a memory
/// limit below one page) is refused or written as given.
pub fn translate_values(
    settings: &[(String, String)],
    host: &Host,
    current: &dyn Fn(&str) -> Option<String>,
    values: Values,
) -> Result<Translation> {
    let mut t = Translation::default();
    let mut seen = BTreeSet::new();
    let mut cfs: (Option<Limit<u64>>, Option<u64>) = (None, None);
    let mut v1_memory: Option<Limit<u64>> = None;
    let mut memsw: Option<(String, Limit<u64>)> = None;
    for (name, value) in settings {
        // Rule lists take any number of rules, in order.
        let rules = name == v1::DEVICES_ALLOW || name == v1::DEVICES_DENY;
        if !seen.insert(name.clone()) && !rules {
            return Err(Error::invalid("-r", format!("{name}={value}"), format!("{name} is given twice")));
        }
        let info = known(name);
        if let Some(instead) = info.and_then(|k| k.refused) {
            return Err(Error::invalid("-r", format!("{name}={value}"), format!("{name} is not a limit; {instead}")));
        }
        let home = home_of(name)?;
        let here = host_dialect(name, home, host)?;
        if let Some(k) = info {
            if k.read_only {
                return Err(Error::invalid(
                    "-r",
                    format!("{name}={value}"),
                    format!("{name} is a read-only statistics file (cgroup {})", dialect_word(k.dialect)),
                ));
            }
            if let (Some(why), true) = (k.no_equivalent, k.dialect != Some(here)) {
                return Err(unsupported(name, here, why));
            }
        }
        let native = match info {
            Some(k) => k.dialect.is_none() || k.dialect == Some(here),
            None => true,
        };
        if native {
            check_native(name, value, values)
                .map_err(|reason| Error::invalid(name.as_str(), value.as_str(), reason))?;
            t.raw.push(RawWrite { home, file: name.clone(), value: value.clone() });
            continue;
        }
        let bad = |reason: String| Error::invalid(name.as_str(), value.as_str(), reason);
        let r = &mut t.resources;
        match name.as_str() {
            // v1 names on a v2 home
            // A rule changes the rules in force, as writing it to the v1 file does: the
            // state read back (as devices.list) first, then each rule given.
            v1::DEVICES_ALLOW | v1::DEVICES_DENY => {
                let rule = DeviceRule::parse(value, name == v1::DEVICES_ALLOW).map_err(bad)?;
                if r.devices.is_none() {
                    let now = current(v1::DEVICES_LIST).map(|t| DeviceAccess::from_v1_list(&t)).transpose();
                    r.devices = Some(now.map_err(bad)?.unwrap_or_default());
                }
                r.devices.get_or_insert_with(DeviceAccess::default).rules.push(rule);
            }
            // net_cls and net_prio on cgroup2: rein's network programs mark the packets.
            v1::NET_CLS_CLASSID => r.network.classid = Some(crate::network::ClassId::from_net_cls(value).map_err(bad)?),
            v1::NET_PRIO_IFPRIOMAP => r.network.priority = Some(crate::network::parse_priority(value).map_err(bad)?),
            v1::MEMORY_LIMIT => {
                let l = v1_bytes(value).map_err(bad)?;
                v1_memory = Some(l);
                match l {
                    // Below a page the model refuses it: written as given in v2's terms.
                    Limit::Value(b) if b < 4096 && values == Values::AsKernel => {
                        t.raw.push(RawWrite { home, file: v2::MEMORY_MAX.into(), value: b.to_string() })
                    }
                    _ => r.memory.max = Some(l.map(units::Bytes)),
                }
            }
            v1::MEMORY_MEMSW_LIMIT => memsw = Some((value.clone(), v1_bytes(value).map_err(bad)?)),
            v1::MEMORY_SOFT_LIMIT => {
                r.memory.low = match v1_bytes(value).map_err(bad)? {
                    Limit::Value(b) => Some(units::Bytes(b)),
                    Limit::Max => {
                        return Err(bad("rein sets memory.low to sizes only; 0 removes the protection".into()));
                    }
                }
            }
            v1::MEMORY_OOM_CONTROL => r.memory.oom_kill_disable = Some(v1_flag(value).map_err(bad)?),
            v1::CPU_CFS_QUOTA => cfs.0 = Some(v1_quota(value).map_err(bad)?),
            v1::CPU_CFS_PERIOD => cfs.1 = Some(units::parse_count(value).map_err(bad)?),
            // Kept in its unit: written as given where the host is v1 (a file of
            // rein.toml is read as on a v2 host), converted by the v2 writer.
            v1::CPU_SHARES => r.cpu.shares = Some(value.parse::<units::Shares>().map_err(bad)?),
            v1::CPU_CFS_BURST => t.raw.push(RawWrite { home, file: v2::CPU_MAX_BURST.into(), value: value.clone() }),
            v1::CPUSET_CPU_EXCLUSIVE => {
                let partition = match value.trim() {
                    "1" => "root",
                    "0" => "member",
                    _ => return Err(bad("expected 0 or 1".into())),
                };
                t.raw.push(RawWrite { home, file: v2::CPUSET_CPUS_PARTITION.into(), value: partition.into() })
            }
            v1::BLKIO_WEIGHT => {
                let n = units::parse_count(value).map_err(bad)?;
                r.io.weight = Some(convert::blkio_weight_to_io_weight(n));
            }
            v1::BLKIO_BFQ_WEIGHT => {
                let n = units::parse_count(value).map_err(bad)?;
                r.io.weight = Some(convert::bfq_weight_to_io_weight(n));
            }
            v1::BLKIO_READ_BPS | v1::BLKIO_WRITE_BPS | v1::BLKIO_READ_IOPS | v1::BLKIO_WRITE_IOPS => {
                let (dev, n) = v1_device_value(value).map_err(bad)?;
                let limit = if n == 0 { Limit::Max } else { Limit::Value(n) };
                let m = match r.io.max.iter_mut().find(|m| m.device == dev) {
                    Some(m) => m,
                    None => {
                        r.io.max.push(IoMax::new(dev));
                        r.io.max.last_mut().expect("just pushed")
                    }
                };
                let slot = match name.as_str() {
                    v1::BLKIO_READ_BPS => &mut m.rbps,
                    v1::BLKIO_WRITE_BPS => &mut m.wbps,
                    v1::BLKIO_READ_IOPS => &mut m.riops,
                    _ => &mut m.wiops,
                };
                *slot = Some(limit);
            }
            v1::FREEZER_STATE => {
                r.freeze = Some(match value.trim() {
                    "FROZEN" => true,
                    "THAWED" => false,
                    _ => return Err(bad("expected FROZEN or THAWED".into())),
                })
            }
            // v2 names on a v1 home
            v2::MEMORY_MAX => match v2_bytes(value).map_err(bad)? {
                Limit::Value(b) if b < 4096 && values == Values::AsKernel => {
                    t.raw.push(RawWrite { home, file: v1::MEMORY_LIMIT.into(), value: b.to_string() })
                }
                l => r.memory.max = Some(l.map(units::Bytes)),
            },
            v2::MEMORY_SWAP_MAX => r.memory.swap_max = Some(v2_bytes(value).map_err(bad)?.map(units::Bytes)),
            v2::MEMORY_LOW => match v2_bytes(value).map_err(bad)? {
                Limit::Value(b) => r.memory.low = Some(units::Bytes(b)),
                Limit::Max => return Err(bad("memory.soft_limit_in_bytes takes sizes only here".into())),
            },
            v2::MEMORY_HIGH => r.memory.high = Some(v2_bytes(value).map_err(bad)?.map(units::Bytes)),
            v2::MEMORY_MIN => match v2_bytes(value).map_err(bad)? {
                Limit::Value(b) => r.memory.min = Some(units::Bytes(b)),
                Limit::Max => return Err(bad("expected a size".into())),
            },
            v2::MEMORY_OOM_GROUP => r.memory.oom_group = Some(v1_flag(value).map_err(bad)?),
            v2::CPU_MAX => {
                let mut it = value.split_whitespace();
                let quota = units::parse_limit(it.next().unwrap_or(""), units::parse_count).map_err(bad)?;
                let period = match it.next() {
                    Some(p) => Some(units::parse_count(p).map_err(bad)?),
                    None => None,
                };
                if it.next().is_some() {
                    return Err(bad("expected '$MAX [$PERIOD]'".into()));
                }
                cfs = (Some(quota), period);
            }
            v2::CPU_WEIGHT => r.cpu.weight = Some(value.parse::<Weight>().map_err(bad)?),
            v2::CPU_MAX_BURST => t.raw.push(RawWrite { home, file: v1::CPU_CFS_BURST.into(), value: value.clone() }),
            v2::CPUSET_CPUS_PARTITION => {
                let exclusive = match value.trim() {
                    "root" | "isolated" => "1",
                    "member" => "0",
                    _ => return Err(bad("expected root, isolated or member".into())),
                };
                t.raw.push(RawWrite { home, file: v1::CPUSET_CPU_EXCLUSIVE.into(), value: exclusive.into() })
            }
            v2::IO_WEIGHT => {
                let w = value.trim().strip_prefix("default").map(str::trim).unwrap_or(value.trim());
                if w.contains(':') {
                    return Err(bad("rein models one io.weight per group; give 'default N' or N".into()));
                }
                r.io.weight = Some(w.parse::<Weight>().map_err(bad)?);
            }
            v2::IO_MAX => {
                let parsed = format::nested_keyed(v2::IO_MAX, value).map_err(|e| bad(e.to_string()))?;
                for (dev, keys) in parsed {
                    let mut m = IoMax::new(dev);
                    for (key, v) in keys {
                        let v = units::parse_limit(&v, units::parse_count).map_err(bad)?;
                        let slot = match key.as_str() {
                            "rbps" => &mut m.rbps,
                            "wbps" => &mut m.wbps,
                            "riops" => &mut m.riops,
                            "wiops" => &mut m.wiops,
                            other => {
                                return Err(bad(format!("unknown key '{other}'; io.max takes rbps wbps riops wiops")));
                            }
                        };
                        *slot = Some(v);
                    }
                    r.io.max.push(m);
                }
            }
            v2::CGROUP_FREEZE => r.freeze = Some(v1_flag(value).map_err(bad)?),
            other => {
                // A name of the other version with no translation.
                let why = info.and_then(|k| k.no_equivalent).unwrap_or("rein knows no equivalent");
                return Err(unsupported(other, here, why));
            }
        }
    }
    // Pairs, completed from each other or from the group's present values.
    if cfs != (None, None) {
        let (quota, period) = cfs;
        let present = current_cpu_max(host, current);
        let period = period.or(present.map(|p| p.1)).unwrap_or(DEFAULT_CPU_PERIOD_US);
        let quota = quota.or(present.map(|p| p.0)).unwrap_or(Limit::Max);
        t.resources.cpu.max = Some(CpuMax::new(quota, period)?);
    }
    if let Some((given, total)) = memsw {
        let memory =
            v1_memory.or_else(|| current(v2::MEMORY_MAX).and_then(|t| format::limit_u64(v2::MEMORY_MAX, &t).ok()));
        t.resources.memory.swap_max = Some(match (total, memory) {
            (Limit::Max, _) => Limit::Max,
            (Limit::Value(_), None | Some(Limit::Max)) => {
                return Err(Error::invalid(
                    v1::MEMORY_MEMSW_LIMIT,
                    given,
                    "memory+swap needs a memory limit: set memory.limit_in_bytes first (memory.swap.max is memsw minus memory.max)",
                ));
            }
            (Limit::Value(total), Some(Limit::Value(mem))) if total < mem => {
                return Err(Error::invalid(
                    v1::MEMORY_MEMSW_LIMIT,
                    given,
                    format!("memory+swap must be at least the memory limit ({mem})"),
                ));
            }
            (Limit::Value(total), Some(Limit::Value(mem))) => Limit::Value(units::Bytes(total - mem)),
        });
    }
    t.resources.validate()?;
    Ok(t)
}

/// Sorts the `name = value` settings of a declarative file (rein.toml's `files` table),
/// independently of the running mode: every name rein models becomes a model field (v1
/// names translated as on a v2 host, v2 names as on a v1 host, names the same in both
/// parsed), so a file means the same on every host; any other name stays a raw write,
/// which [`translate`] judges against the host when the file is applied.
///
/// `current` answers for the other half of a pair: `memory.max` for a lone
/// `memory.memsw.limit_in_bytes` (the memory limit set elsewhere in the same table).
/// A lone `cpu.cfs_quota_us` or `cpu.cfs_period_us` takes the default for the other half
/// (100000 µs, no limit), never the group's present value: a file says everything.
pub(crate) fn to_model(settings: &[(String, String)], current: &dyn Fn(&str) -> Option<String>) -> Result<Translation> {
    let every: BTreeSet<Controller> = Controller::ALL.into_iter().collect();
    let v1_host = Host { v1: every.clone(), v2: BTreeSet::new(), unified: false, page_size: 4096 };
    let v2_host = Host { v1: BTreeSet::new(), v2: every, unified: true, page_size: 4096 };
    let (mut v1_names, mut v2_names, mut out) = (Vec::new(), Vec::new(), Translation::default());
    for (name, value) in settings {
        let bad = |reason: String| Error::invalid(name.as_str(), value.as_str(), reason);
        match known(name) {
            Some(k) if k.refused.is_some() || k.read_only => {
                // translate words the refusal; a host where the name is native reaches it.
                let host = if k.dialect == Some(Dialect::V1) { &v1_host } else { &v2_host };
                translate(&[(name.clone(), value.clone())], host, &|_| None)?;
            }
            Some(k) if k.field.is_some() => match k.dialect {
                Some(Dialect::V1) => v1_names.push((name.clone(), value.clone())),
                Some(Dialect::V2) => v2_names.push((name.clone(), value.clone())),
                None => {
                    let r = &mut out.resources;
                    match name.as_str() {
                        v1::CPUSET_CPUS => r.cpuset.cpus = Some(CpuList::parse_nonempty(value).map_err(bad)?),
                        v1::CPUSET_MEMS => r.cpuset.mems = Some(CpuList::parse_nonempty(value).map_err(bad)?),
                        _ => {
                            r.pids.max = Some(
                                units::parse_limit(value, units::parse_count)
                                    .map_err(|e| bad(format!("{e}, or max")))?,
                            )
                        }
                    }
                }
            },
            _ => {
                home_of(name)?;
                out.raw.push(RawWrite { home: home_of(name)?, file: name.clone(), value: value.clone() });
            }
        }
    }
    let from_v1 = translate(&v1_names, &v2_host, &|f| if f == v2::MEMORY_MAX { current(f) } else { None })?;
    let from_v2 = translate(&v2_names, &v1_host, &|_| None)?;
    for part in [from_v1, from_v2] {
        let twice = out.resources.overlap(&part.resources);
        if !twice.is_empty() {
            return Err(Error::invalid(
                "files",
                twice.join(", "),
                "set twice, by a v1 and a v2 name; give each setting once",
            ));
        }
        out.resources.merge(&part.resources);
        out.raw.extend(part.raw);
    }
    out.resources.validate()?;
    Ok(out)
}
