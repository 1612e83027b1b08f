//! Raw interface-file names, translated between cgroup v1 and v2: the one place where
//! a v1 name meets a v2 file and the other way round.
//!
//! libcgroup's `-r name=value` (and `cgget -r name`) speak in raw file names. A name
//! that exists in the running mode passes through untouched: the kernel judges the
//! value, as it does for libcgroup. A name of the other version is translated: writes
//! become [`Resources`] fields (which the v1 or v2 writer turns into the right files,
//! in the right order), reads are computed from the files that exist and printed in the
//! format of the name asked for. A name with no meaning in the running mode is an
//! error that names the closest equivalent.
//!
//! On a hybrid host each controller speaks the version of the hierarchy it is bound
//! to: `memory.limit_in_bytes` passes through where memory is bound to v1, and
//! `memory.max` is translated to it.

use std::collections::BTreeSet;

use crate::cgroupfs::format;
use crate::convert;
use crate::error::{Error, Result};
use crate::hierarchy::{Binding, Controller, Hierarchy};
use crate::resources::{CpuMax, DEFAULT_CPU_PERIOD_US, IoMax, Resources};
use crate::units::{self, CpuList, DeviceNumber, Limit, Weight};
use crate::{v1, v2};

/// The two vocabularies of interface files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// cgroup v1 names (`memory.limit_in_bytes`).
    V1,
    /// cgroup v2 names (`memory.max`).
    V2,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::V1 => "v1",
            Dialect::V2 => "v2",
        }
    }
}

/// Where an interface file lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Home {
    /// In the hierarchy of this controller.
    Controller(Controller),
    /// In the cgroup2 core (`cgroup.*` files).
    Core,
}

/// What the running host offers: which controllers are bound to which version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    /// Controllers bound to a v1 hierarchy.
    pub v1: BTreeSet<Controller>,
    /// Controllers offered by the cgroup2 root.
    pub v2: BTreeSet<Controller>,
    /// Whether a cgroup2 hierarchy is mounted (its core files exist).
    pub unified: bool,
    /// The page size, for v1's "unlimited" memory value.
    pub page_size: u64,
}

impl Host {
    /// The host behind a hierarchy.
    pub fn of(h: &Hierarchy, page_size: u64) -> Host {
        let mut host = Host { unified: h.unified().is_some(), page_size, ..Host::default() };
        for c in Controller::ALL {
            match h.binding(c) {
                Some(Binding::V1(_)) => {
                    host.v1.insert(c);
                }
                Some(Binding::V2(_)) => {
                    host.v2.insert(c);
                }
                None => {}
            }
        }
        host
    }

    /// The version a home speaks here, if it exists.
    pub fn dialect(&self, home: Home) -> Option<Dialect> {
        match home {
            Home::Core => self.unified.then_some(Dialect::V2),
            Home::Controller(c) if self.v1.contains(&c) => Some(Dialect::V1),
            Home::Controller(c) if self.v2.contains(&c) => Some(Dialect::V2),
            Home::Controller(_) => None,
        }
    }
}

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

/// Splits `name=value` (the value may hold `=`, as io.max values do).
pub fn parse_setting(s: &str) -> Result<(String, String)> {
    let Some((name, value)) = s.split_once('=') else {
        return Err(Error::invalid("-r", s, "expected NAME=VALUE, e.g. memory.limit_in_bytes=20971520"));
    };
    let name = name.trim();
    if name.is_empty() || value.is_empty() {
        return Err(Error::invalid("-r", s, "expected NAME=VALUE with both parts, e.g. cpu.cfs_quota_us=35000"));
    }
    // An interface file's name: one path component of lower-case letters, digits, '_'
    // and '.', as the kernel names them. Nothing that could name another directory.
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
        || name.starts_with('.')
    {
        return Err(Error::invalid(
            "-r",
            s,
            "NAME must be an interface file name like memory.limit_in_bytes (letters, digits, '_' and '.')",
        ));
    }
    // The kernel reads one value per write; a trailing newline (as echo adds) is fine.
    let value = value.strip_suffix('\n').unwrap_or(value);
    if value.chars().any(char::is_control) || value.is_empty() {
        return Err(Error::invalid("-r", s, "control characters (newlines, tabs, ...) are not allowed in VALUE"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// What rein knows about an interface-file name.
#[derive(Debug, Clone, Copy)]
struct Known {
    name: &'static str,
    /// None: the same name and format in both versions.
    dialect: Option<Dialect>,
    home: Home,
    /// The model field it sets (its v2 name), for "set twice" checks; None for read-only
    /// files or files without a field.
    field: Option<&'static str>,
    /// Read-only (statistics): `-r` refuses it.
    read_only: bool,
    /// When the name cannot be written in the other version: why, and the closest thing.
    no_equivalent: Option<&'static str>,
    /// Never written through `-r` in any version: what to use instead.
    refused: Option<&'static str>,
}

const fn k(name: &'static str, dialect: Option<Dialect>, home: Home, field: Option<&'static str>) -> Known {
    Known { name, dialect, home, field, read_only: false, no_equivalent: None, refused: None }
}

const fn stat(name: &'static str, dialect: Option<Dialect>, home: Home) -> Known {
    Known { name, dialect, home, field: None, read_only: true, no_equivalent: None, refused: None }
}

const fn none(name: &'static str, dialect: Dialect, home: Home, why: &'static str) -> Known {
    Known { name, dialect: Some(dialect), home, field: None, read_only: false, no_equivalent: Some(why), refused: None }
}

const fn refused(name: &'static str, dialect: Option<Dialect>, home: Home, instead: &'static str) -> Known {
    Known { name, dialect, home, field: None, read_only: false, no_equivalent: None, refused: Some(instead) }
}

const MEM: Home = Home::Controller(Controller::Memory);
const CPU: Home = Home::Controller(Controller::Cpu);
const CPUACCT: Home = Home::Controller(Controller::Cpuacct);
const CPUSET: Home = Home::Controller(Controller::Cpuset);
const IO: Home = Home::Controller(Controller::Io);
const PIDS: Home = Home::Controller(Controller::Pids);
const FREEZER: Home = Home::Controller(Controller::Freezer);
const V1: Option<Dialect> = Some(Dialect::V1);
const V2: Option<Dialect> = Some(Dialect::V2);

/// Every name rein translates or explains. Names not listed pass through where their
/// controller is bound (the kernel decides whether the file exists).
const KNOWN: &[Known] = &[
    // memory, v1
    k(v1::MEMORY_LIMIT, V1, MEM, Some(v2::MEMORY_MAX)),
    k(v1::MEMORY_MEMSW_LIMIT, V1, MEM, Some(v2::MEMORY_SWAP_MAX)),
    k(v1::MEMORY_SOFT_LIMIT, V1, MEM, Some(v2::MEMORY_LOW)),
    k(v1::MEMORY_OOM_CONTROL, V1, MEM, Some(v1::MEMORY_OOM_CONTROL)),
    stat(v1::MEMORY_USAGE, V1, MEM),
    stat(v1::MEMORY_MAX_USAGE, V1, MEM),
    stat(v1::MEMORY_MEMSW_USAGE, V1, MEM),
    stat(v1::MEMORY_FAILCNT, V1, MEM),
    none(
        v1::MEMORY_SWAPPINESS,
        Dialect::V1,
        MEM,
        "cgroup v2 has no per-group swappiness (only the global vm.swappiness); memory.swap.max limits swap per group",
    ),
    none(
        v1::MEMORY_USE_HIERARCHY,
        Dialect::V1,
        MEM,
        "cgroup v2 is always hierarchical: a group's limits cover its descendants",
    ),
    none(
        v1::MEMORY_KMEM_LIMIT,
        Dialect::V1,
        MEM,
        "cgroup v2 charges kernel memory to memory.max together with user memory",
    ),
    none(
        v1::MEMORY_KMEM_TCP_LIMIT,
        Dialect::V1,
        MEM,
        "cgroup v2 charges socket memory to memory.max together with user memory",
    ),
    none(v1::MEMORY_MOVE_CHARGE, Dialect::V1, MEM, "cgroup v2 never moves charges with a migrating task"),
    none(
        v1::MEMORY_FORCE_EMPTY,
        Dialect::V1,
        MEM,
        "cgroup v2 has no force_empty; memory.reclaim (5.19+) is the closest",
    ),
    // memory, v2
    k(v2::MEMORY_MAX, V2, MEM, Some(v2::MEMORY_MAX)),
    k(v2::MEMORY_SWAP_MAX, V2, MEM, Some(v2::MEMORY_SWAP_MAX)),
    k(v2::MEMORY_LOW, V2, MEM, Some(v2::MEMORY_LOW)),
    k(v2::MEMORY_HIGH, V2, MEM, Some(v2::MEMORY_HIGH)),
    k(v2::MEMORY_MIN, V2, MEM, Some(v2::MEMORY_MIN)),
    k(v2::MEMORY_OOM_GROUP, V2, MEM, Some(v2::MEMORY_OOM_GROUP)),
    stat(v2::MEMORY_CURRENT, V2, MEM),
    stat(v2::MEMORY_PEAK, V2, MEM),
    stat(v2::MEMORY_SWAP_CURRENT, V2, MEM),
    stat(v2::MEMORY_EVENTS, V2, MEM),
    none(v2::MEMORY_ZSWAP_MAX, Dialect::V2, MEM, "cgroup v1 has no zswap limit"),
    none(
        v2::MEMORY_RECLAIM,
        Dialect::V2,
        MEM,
        "cgroup v1 has no proactive reclaim; memory.force_empty empties a group",
    ),
    // cpu, v1
    k(v1::CPU_CFS_QUOTA, V1, CPU, Some(v2::CPU_MAX)),
    k(v1::CPU_CFS_PERIOD, V1, CPU, Some(v2::CPU_MAX)),
    k(v1::CPU_SHARES, V1, CPU, Some(v2::CPU_WEIGHT)),
    k(v1::CPU_CFS_BURST, V1, CPU, None),
    stat(v1::CPU_STAT, None, CPU),
    none(
        v1::CPU_RT_RUNTIME,
        Dialect::V1,
        CPU,
        "cgroup v2 has no per-group real-time bandwidth (the cpu controller needs all RT tasks in the root)",
    ),
    none(v1::CPU_RT_PERIOD, Dialect::V1, CPU, "cgroup v2 has no per-group real-time bandwidth"),
    stat(v1::CPUACCT_USAGE, V1, CPUACCT),
    stat(v1::CPUACCT_USAGE_USER, V1, CPUACCT),
    stat(v1::CPUACCT_USAGE_SYS, V1, CPUACCT),
    stat(v1::CPUACCT_STAT, V1, CPUACCT),
    // cpu, v2
    k(v2::CPU_MAX, V2, CPU, Some(v2::CPU_MAX)),
    k(v2::CPU_WEIGHT, V2, CPU, Some(v2::CPU_WEIGHT)),
    k(v2::CPU_MAX_BURST, V2, CPU, None),
    none(v2::CPU_WEIGHT_NICE, Dialect::V2, CPU, "cgroup v1 weighs groups with cpu.shares (see cpu.weight)"),
    none(v2::CPU_IDLE, Dialect::V2, CPU, "cgroup v1 has no idle groups; a low cpu.shares (2) is the closest"),
    // cpuset: the same in both (v2 adds the .effective and .partition files)
    k(v1::CPUSET_CPUS, None, CPUSET, Some(v2::CPUSET_CPUS)),
    k(v1::CPUSET_MEMS, None, CPUSET, Some(v2::CPUSET_MEMS)),
    stat(v1::CPUSET_EFFECTIVE_CPUS, V1, CPUSET),
    stat(v1::CPUSET_EFFECTIVE_MEMS, V1, CPUSET),
    stat(v2::CPUSET_CPUS_EFFECTIVE, V2, CPUSET),
    stat(v2::CPUSET_MEMS_EFFECTIVE, V2, CPUSET),
    // io
    k(v1::BLKIO_WEIGHT, V1, IO, Some(v2::IO_WEIGHT)),
    k(v1::BLKIO_BFQ_WEIGHT, V1, IO, Some(v2::IO_WEIGHT)),
    k(v1::BLKIO_READ_BPS, V1, IO, Some(v2::IO_MAX)),
    k(v1::BLKIO_WRITE_BPS, V1, IO, Some(v2::IO_MAX)),
    k(v1::BLKIO_READ_IOPS, V1, IO, Some(v2::IO_MAX)),
    k(v1::BLKIO_WRITE_IOPS, V1, IO, Some(v2::IO_MAX)),
    none(
        v1::BLKIO_WEIGHT_DEVICE,
        Dialect::V1,
        IO,
        "rein models one io.weight per group, not per device; use io.weight (blkio.weight)",
    ),
    k(v2::IO_WEIGHT, V2, IO, Some(v2::IO_WEIGHT)),
    k(v2::IO_MAX, V2, IO, Some(v2::IO_MAX)),
    stat(v2::IO_STAT, V2, IO),
    none(v2::IO_LATENCY, Dialect::V2, IO, "cgroup v1 has no IO latency target; blkio.throttle.* caps bandwidth"),
    none(v2::IO_BFQ_WEIGHT, Dialect::V2, IO, "use io.weight, which rein writes to blkio.bfq.weight on v1"),
    // pids: the same in both
    k(v1::PIDS_MAX, None, PIDS, Some(v2::PIDS_MAX)),
    stat(v1::PIDS_CURRENT, None, PIDS),
    // freezing
    k(v1::FREEZER_STATE, V1, FREEZER, Some(v2::CGROUP_FREEZE)),
    k(v2::CGROUP_FREEZE, V2, Home::Core, Some(v2::CGROUP_FREEZE)),
    // membership and structure: dedicated commands
    refused(v1::CGROUP_PROCS, None, Home::Core, "move processes with 'rein move' (or cgclassify)"),
    refused(v1::TASKS, V1, Home::Core, "move processes with 'rein move' (or cgclassify)"),
    refused(v2::CGROUP_THREADS, V2, Home::Core, "move processes with 'rein move' (or cgclassify)"),
    refused(v2::CGROUP_KILL, V2, Home::Core, "kill a group's processes with 'rein kill'"),
    refused(
        v2::CGROUP_SUBTREE_CONTROL,
        V2,
        Home::Core,
        "rein enables controllers down the path itself: name them with -g CONTROLLERS:PATH",
    ),
];

/// Files with the same format under another name in the other version.
const RENAMED: &[(&str, &str)] = &[
    (v1::CPU_CFS_BURST, v2::CPU_MAX_BURST),
    (v1::CPUSET_EFFECTIVE_CPUS, v2::CPUSET_CPUS_EFFECTIVE),
    (v1::CPUSET_EFFECTIVE_MEMS, v2::CPUSET_MEMS_EFFECTIVE),
    (v1::MEMORY_USAGE, v2::MEMORY_CURRENT),
    (v1::MEMORY_MAX_USAGE, v2::MEMORY_PEAK),
    (v1::TASKS, v2::CGROUP_THREADS),
];

fn known(name: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.name == name)
}

/// Where a name's file lives, from its prefix (`memory.`, `blkio.`, `cgroup.`). Only
/// a plain interface-file name has a home: lower-case letters, digits, `_` and `.`,
/// never a path (`-r`, cgget and rein.toml's `files` all come through here).
pub fn home_of(name: &str) -> Result<Home> {
    if name.is_empty()
        || name.starts_with('.')
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
    {
        return Err(Error::invalid(
            "interface file",
            name,
            "not an interface file name like memory.limit_in_bytes (letters, digits, '_' and '.')",
        ));
    }
    if let Some(k) = known(name) {
        return Ok(k.home);
    }
    let prefix = name.split_once('.').map(|(p, _)| p).unwrap_or(name);
    if prefix == "cgroup" || name == "notify_on_release" {
        return Ok(Home::Core);
    }
    Controller::from_name(prefix).map(Home::Controller).ok_or_else(|| {
        Error::invalid(
            "interface file",
            name,
            format!("'{prefix}' is not a cgroup controller; names look like memory.limit_in_bytes or cpu.max"),
        )
    })
}

fn dialect_word(d: Option<Dialect>) -> &'static str {
    match d {
        Some(d) => d.name(),
        None => "v1 and v2",
    }
}

fn unsupported(name: &str, mode: Dialect, reason: impl Into<String>) -> Error {
    Error::Unsupported { what: name.to_string(), mode: mode.name().into(), reason: reason.into() }
}

/// The version the host speaks for `name`, or why the name has no home here.
fn host_dialect(name: &str, home: Home, host: &Host) -> Result<Dialect> {
    if let Some(d) = host.dialect(home) {
        return Ok(d);
    }
    // The freezer's v1 file has a v2 home in the core, and v2's core file a v1 home.
    match home {
        Home::Controller(Controller::Freezer) if host.unified => return Ok(Dialect::V2),
        // v1's cpuacct counts what the cgroup2 core's cpu.stat counts.
        Home::Controller(Controller::Cpuacct) if host.unified => return Ok(Dialect::V2),
        Home::Core if host.v1.contains(&Controller::Freezer) && name == v2::CGROUP_FREEZE => return Ok(Dialect::V1),
        _ => {}
    }
    let what = match home {
        Home::Core => "the cgroup v2 core".to_string(),
        Home::Controller(c) => format!("the '{}' controller", c.v1_name()),
    };
    let hint = match home {
        Home::Controller(Controller::Devices) => {
            "; cgroup v2 controls device access with eBPF programs, which rein does not manage"
        }
        Home::Controller(Controller::NetCls | Controller::NetPrio) => {
            "; cgroup v2 has no network controllers: match the cgroup path in nftables (socket cgroupv2) instead"
        }
        Home::Controller(Controller::Cpuacct) => "; on cgroup v2 CPU time is in cpu.stat",
        _ => "",
    };
    Err(Error::Unsupported {
        what: name.to_string(),
        mode: if host.unified && host.v1.is_empty() { "v2".into() } else { "this host".into() },
        reason: format!("{what} is not available here{hint} (see 'rein check')"),
    })
}

/// Sorts `-r` settings into raw writes and model fields for the running host.
///
/// `current` reads the group's present files in the running mode (by their native
/// name): it completes a half of a pair (`cpu.cfs_quota_us` alone keeps the period in
/// force; `memory.memsw.limit_in_bytes` alone is relative to the memory limit in
/// force). It gives None for a group that does not exist yet.
pub fn translate(
    settings: &[(String, String)],
    host: &Host,
    current: &dyn Fn(&str) -> Option<String>,
) -> Result<Translation> {
    let mut t = Translation::default();
    let mut seen = BTreeSet::new();
    let mut cfs: (Option<Limit<u64>>, Option<u64>) = (None, None);
    let mut v1_memory: Option<Limit<u64>> = None;
    let mut memsw: Option<(String, Limit<u64>)> = None;
    for (name, value) in settings {
        if !seen.insert(name.clone()) {
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
            check_native(name, value).map_err(|reason| Error::invalid(name.as_str(), value.as_str(), reason))?;
            t.raw.push(RawWrite { home, file: name.clone(), value: value.clone() });
            continue;
        }
        let bad = |reason: String| Error::invalid(name.as_str(), value.as_str(), reason);
        let r = &mut t.resources;
        match name.as_str() {
            // v1 names on a v2 home
            v1::MEMORY_LIMIT => {
                let l = v1_bytes(value).map_err(bad)?;
                v1_memory = Some(l);
                r.memory.max = Some(l.map(units::Bytes));
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
            v1::CPU_SHARES => {
                let n = units::parse_count(value).map_err(bad)?;
                r.cpu.weight = Some(convert::shares_to_weight(n));
            }
            v1::CPU_CFS_BURST => t.raw.push(RawWrite { home, file: v2::CPU_MAX_BURST.into(), value: value.clone() }),
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
            v2::MEMORY_MAX => r.memory.max = Some(v2_bytes(value).map_err(bad)?.map(units::Bytes)),
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
pub fn to_model(settings: &[(String, String)], current: &dyn Fn(&str) -> Option<String>) -> Result<Translation> {
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

/// Checks a value written as given (a name of the running mode) before any write, with
/// the parsers the translations use, so a typo is refused before the group is touched
/// (the kernel checks it again). Names rein does not know go to the kernel unchecked.
fn check_native(name: &str, value: &str) -> Result<(), String> {
    let in_range = |n: u64, lo: u64, hi: u64, what: &str| {
        if (lo..=hi).contains(&n) { Ok(()) } else { Err(format!("{what} must be between {lo} and {hi}")) }
    };
    match name {
        // A hard limit below one page is 0 pages to the kernel: an OOM kill at once.
        v1::MEMORY_LIMIT | v2::MEMORY_MAX => {
            match if name == v2::MEMORY_MAX { v2_bytes(value)? } else { v1_bytes(value)? } {
                Limit::Value(b) if b < 4096 => {
                    Err("below one page (4096 bytes) the kernel rounds it to 0 and would OOM-kill at once".into())
                }
                _ => Ok(()),
            }
        }
        v1::MEMORY_MEMSW_LIMIT | v1::MEMORY_SOFT_LIMIT => v1_bytes(value).map(drop),
        v2::MEMORY_SWAP_MAX | v2::MEMORY_HIGH => v2_bytes(value).map(drop),
        v2::MEMORY_LOW | v2::MEMORY_MIN => units::parse_size(value).map(drop),
        v1::MEMORY_OOM_CONTROL | v2::MEMORY_OOM_GROUP | v2::CGROUP_FREEZE => v1_flag(value).map(drop),
        v1::CPU_CFS_QUOTA => match v1_quota(value)? {
            Limit::Value(q) if q < 1000 => Err("the quota must be at least 1000 (µs), or -1 for no limit".into()),
            _ => Ok(()),
        },
        v1::CPU_CFS_PERIOD => in_range(units::parse_count(value)?, 1_000, 1_000_000, "the period (µs)"),
        v1::CPU_SHARES => in_range(units::parse_count(value)?, convert::MIN_SHARES, convert::MAX_SHARES, "shares"),
        v2::CPU_WEIGHT => value.parse::<Weight>().map(drop),
        v2::CPU_MAX => {
            let mut it = value.split_whitespace();
            let quota = units::parse_limit(it.next().unwrap_or(""), units::parse_count)?;
            let period = it.next().map(units::parse_count).transpose()?.unwrap_or(DEFAULT_CPU_PERIOD_US);
            if it.next().is_some() {
                return Err("expected '$MAX [$PERIOD]'".into());
            }
            CpuMax::new(quota, period).map(drop).map_err(|e| e.to_string())
        }
        v1::CPUSET_CPUS | v1::CPUSET_MEMS => CpuList::parse(value).map(drop),
        v1::PIDS_MAX => units::parse_limit(value, units::parse_count).map(drop),
        v1::BLKIO_WEIGHT => in_range(units::parse_count(value)?, 10, 1000, "blkio.weight"),
        v1::BLKIO_BFQ_WEIGHT => in_range(units::parse_count(value)?, 1, 1000, "blkio.bfq.weight"),
        v1::BLKIO_READ_BPS | v1::BLKIO_WRITE_BPS | v1::BLKIO_READ_IOPS | v1::BLKIO_WRITE_IOPS => {
            v1_device_value(value).map(drop)
        }
        v1::FREEZER_STATE => match value.trim() {
            "FROZEN" | "THAWED" => Ok(()),
            _ => Err("expected FROZEN or THAWED".into()),
        },
        v2::IO_MAX => {
            for (_, keys) in format::nested_keyed(v2::IO_MAX, value).map_err(|e| e.to_string())? {
                for (key, v) in keys {
                    if !matches!(key.as_str(), "rbps" | "wbps" | "riops" | "wiops") {
                        return Err(format!("unknown key '{key}'; io.max takes rbps wbps riops wiops"));
                    }
                    units::parse_limit(&v, units::parse_count)?;
                }
            }
            Ok(())
        }
        v2::IO_WEIGHT => {
            let t = value.trim();
            let w = match t.strip_prefix("default") {
                Some(w) => w.trim(),
                None => match t.split_once(char::is_whitespace) {
                    Some((dev, w)) => {
                        DeviceNumber::parse(dev)?;
                        w.trim()
                    }
                    None => t,
                },
            };
            w.parse::<Weight>().map(drop)
        }
        _ => Ok(()),
    }
}

/// The cpu.max in force, read in whichever version the cpu controller speaks.
fn current_cpu_max(host: &Host, current: &dyn Fn(&str) -> Option<String>) -> Option<(Limit<u64>, u64)> {
    match host.dialect(CPU) {
        Some(Dialect::V2) => current(v2::CPU_MAX).and_then(|t| format::cpu_max(v2::CPU_MAX, &t).ok()),
        Some(Dialect::V1) => {
            let q = current(v1::CPU_CFS_QUOTA).and_then(|t| format::v1_signed_limit(v1::CPU_CFS_QUOTA, &t).ok())?;
            let p = current(v1::CPU_CFS_PERIOD).and_then(|t| format::single_u64(v1::CPU_CFS_PERIOD, &t).ok())?;
            Some((q, p))
        }
        None => None,
    }
}

/// A v1 memory value: bytes with the kernel's memparse suffixes (K, M, G, ...), or -1.
fn v1_bytes(v: &str) -> Result<Limit<u64>, String> {
    match v.trim() {
        "-1" => Ok(Limit::Max),
        t => units::parse_size(t).map(Limit::Value).map_err(|e| format!("{e}, or -1 for no limit")),
    }
}

/// A v2 memory value: bytes (with suffixes) or max.
fn v2_bytes(v: &str) -> Result<Limit<u64>, String> {
    units::parse_limit(v, units::parse_size).map_err(|e| format!("{e}, or max"))
}

fn v1_flag(v: &str) -> Result<bool, String> {
    match v.trim() {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err("expected 0 or 1".into()),
    }
}

fn v1_quota(v: &str) -> Result<Limit<u64>, String> {
    match v.trim() {
        "-1" => Ok(Limit::Max),
        t => units::parse_count(t).map(Limit::Value).map_err(|e| format!("{e}, or -1 for no limit")),
    }
}

fn v1_device_value(v: &str) -> Result<(DeviceNumber, u64), String> {
    let mut it = v.split_whitespace();
    let (Some(dev), Some(n), None) = (it.next(), it.next(), it.next()) else {
        return Err("expected 'MAJ:MIN VALUE', e.g. '8:0 1048576'".into());
    };
    Ok((DeviceNumber::parse(dev)?, units::parse_count(n)?))
}

/// Reads files of the running mode: `(home, file)` to its content, None if absent.
pub type Reader<'a> = &'a dyn Fn(Home, &str) -> Option<String>;

/// The value of `name` as `cgget -r name` shows it: the file itself when the name
/// belongs to the running mode, else computed from the files that exist, in the format
/// of the version the name comes from.
pub fn read(name: &str, host: &Host, read: Reader<'_>) -> Result<String> {
    let home = home_of(name)?;
    let here = host_dialect(name, home, host)?;
    let info = known(name);
    let native = info.is_none_or(|k| k.dialect.is_none() || k.dialect == Some(here));
    let missing = |file: &str| {
        Error::state(
            format!("{file} is not readable in this group"),
            Some("its controller may not be enabled for the group, or the kernel lacks the file".into()),
        )
    };
    let get = |home: Home, file: &str| read(home, file).ok_or_else(|| missing(file));
    if native {
        return get(home, name);
    }
    if let Some((a, b)) = RENAMED.iter().find(|(a, b)| *a == name || *b == name) {
        let other = if *a == name { b } else { a };
        return get(home, other);
    }
    let unlimited = convert::v1_unlimited_bytes(host.page_size);
    let v1_mem = |l: Limit<u64>| match l {
        Limit::Max => unlimited.to_string(),
        Limit::Value(v) => v.to_string(),
    };
    let parse_limit = |file: &str, text: String| format::limit_u64(file, &text);
    let v1_limit = |file: &str, text: String| format::v1_memory_limit(file, &text);
    let out = match name {
        // v1 names computed from v2 files
        v1::MEMORY_LIMIT => v1_mem(parse_limit(v2::MEMORY_MAX, get(MEM, v2::MEMORY_MAX)?)?),
        v1::MEMORY_SOFT_LIMIT => v1_mem(parse_limit(v2::MEMORY_LOW, get(MEM, v2::MEMORY_LOW)?)?),
        v1::MEMORY_MEMSW_LIMIT => {
            let max = parse_limit(v2::MEMORY_MAX, get(MEM, v2::MEMORY_MAX)?)?;
            let swap = parse_limit(v2::MEMORY_SWAP_MAX, get(MEM, v2::MEMORY_SWAP_MAX)?)?;
            v1_mem(convert::memsw_from_swap(max, swap))
        }
        v1::MEMORY_MEMSW_USAGE => {
            let cur = format::single_u64(v2::MEMORY_CURRENT, &get(MEM, v2::MEMORY_CURRENT)?)?;
            let swap = format::single_u64(v2::MEMORY_SWAP_CURRENT, &get(MEM, v2::MEMORY_SWAP_CURRENT)?)?;
            (cur + swap).to_string()
        }
        v1::MEMORY_FAILCNT => {
            let ev = format::flat_keyed(v2::MEMORY_EVENTS, &get(MEM, v2::MEMORY_EVENTS)?)?;
            ev.get("max").copied().unwrap_or(0).to_string()
        }
        v1::MEMORY_OOM_CONTROL => {
            let ev = format::flat_keyed(v2::MEMORY_EVENTS, &get(MEM, v2::MEMORY_EVENTS)?)?;
            format!("oom_kill_disable 0\nunder_oom 0\noom_kill {}", ev.get("oom_kill").copied().unwrap_or(0))
        }
        v1::CPU_CFS_QUOTA => {
            let (q, _) = format::cpu_max(v2::CPU_MAX, &get(CPU, v2::CPU_MAX)?)?;
            convert::v1_quota_value(q)
        }
        v1::CPU_CFS_PERIOD => format::cpu_max(v2::CPU_MAX, &get(CPU, v2::CPU_MAX)?)?.1.to_string(),
        v1::CPU_SHARES => {
            let w: Weight =
                get(CPU, v2::CPU_WEIGHT)?.trim().parse().map_err(|e: String| Error::parse(v2::CPU_WEIGHT, e))?;
            convert::weight_to_shares(w).to_string()
        }
        v1::CPUACCT_USAGE | v1::CPUACCT_USAGE_USER | v1::CPUACCT_USAGE_SYS | v1::CPUACCT_STAT => {
            let st = format::flat_keyed(v2::CPU_STAT, &get(Home::Core, v2::CPU_STAT)?)?;
            let f = |k: &str| st.get(k).copied().unwrap_or(0);
            match name {
                v1::CPUACCT_USAGE => f("usage_usec").saturating_mul(1000).to_string(),
                v1::CPUACCT_USAGE_USER => f("user_usec").saturating_mul(1000).to_string(),
                v1::CPUACCT_USAGE_SYS => f("system_usec").saturating_mul(1000).to_string(),
                _ => {
                    let ticks = |us: u64| us / (1_000_000 / convert::USER_HZ);
                    format!("user {}\nsystem {}", ticks(f("user_usec")), ticks(f("system_usec")))
                }
            }
        }
        v1::BLKIO_WEIGHT | v1::BLKIO_BFQ_WEIGHT => {
            let w = io_weight_default(&get(IO, v2::IO_WEIGHT)?)?;
            if name == v1::BLKIO_WEIGHT {
                convert::io_weight_to_blkio_weight(w).to_string()
            } else {
                convert::io_weight_to_bfq_weight(w).to_string()
            }
        }
        v1::BLKIO_READ_BPS | v1::BLKIO_WRITE_BPS | v1::BLKIO_READ_IOPS | v1::BLKIO_WRITE_IOPS => {
            let key = match name {
                v1::BLKIO_READ_BPS => "rbps",
                v1::BLKIO_WRITE_BPS => "wbps",
                v1::BLKIO_READ_IOPS => "riops",
                _ => "wiops",
            };
            let io = format::nested_keyed(v2::IO_MAX, &get(IO, v2::IO_MAX)?)?;
            let lines: Vec<String> = io
                .iter()
                .filter_map(|(dev, keys)| keys.get(key).filter(|v| *v != "max").map(|v| format!("{dev} {v}")))
                .collect();
            lines.join("\n")
        }
        v1::FREEZER_STATE => {
            let want = get(Home::Core, v2::CGROUP_FREEZE)?.trim() == "1";
            let ev = format::flat_keyed(v2::CGROUP_EVENTS, &get(Home::Core, v2::CGROUP_EVENTS)?)?;
            let frozen = ev.get("frozen").is_some_and(|v| *v != 0);
            match (want, frozen) {
                (true, true) => "FROZEN",
                (true, false) => "FREEZING",
                _ => "THAWED",
            }
            .to_string()
        }
        // v2 names computed from v1 files
        v2::MEMORY_MAX => v1_limit(v1::MEMORY_LIMIT, get(MEM, v1::MEMORY_LIMIT)?)?.to_string(),
        v2::MEMORY_LOW => match v1_limit(v1::MEMORY_SOFT_LIMIT, get(MEM, v1::MEMORY_SOFT_LIMIT)?)? {
            Limit::Max => "max".into(),
            Limit::Value(v) => v.to_string(),
        },
        v2::MEMORY_SWAP_MAX => {
            let max = v1_limit(v1::MEMORY_LIMIT, get(MEM, v1::MEMORY_LIMIT)?)?;
            let memsw = v1_limit(v1::MEMORY_MEMSW_LIMIT, get(MEM, v1::MEMORY_MEMSW_LIMIT)?)?;
            convert::swap_from_memsw(max, memsw).to_string()
        }
        v2::MEMORY_SWAP_CURRENT => {
            let cur = format::single_u64(v1::MEMORY_USAGE, &get(MEM, v1::MEMORY_USAGE)?)?;
            let total = format::single_u64(v1::MEMORY_MEMSW_USAGE, &get(MEM, v1::MEMORY_MEMSW_USAGE)?)?;
            total.saturating_sub(cur).to_string()
        }
        v2::MEMORY_EVENTS => {
            let failcnt = format::single_u64(v1::MEMORY_FAILCNT, &get(MEM, v1::MEMORY_FAILCNT)?)?;
            let oom = format::flat_keyed(v1::MEMORY_OOM_CONTROL, &get(MEM, v1::MEMORY_OOM_CONTROL)?)?;
            format!("max {failcnt}\noom_kill {}", oom.get("oom_kill").copied().unwrap_or(0))
        }
        v2::CPU_MAX => {
            let q = format::v1_signed_limit(v1::CPU_CFS_QUOTA, &get(CPU, v1::CPU_CFS_QUOTA)?)?;
            let p = format::single_u64(v1::CPU_CFS_PERIOD, &get(CPU, v1::CPU_CFS_PERIOD)?)?;
            format!("{q} {p}")
        }
        v2::CPU_WEIGHT => {
            let s = format::single_u64(v1::CPU_SHARES, &get(CPU, v1::CPU_SHARES)?)?;
            convert::shares_to_weight(s).to_string()
        }
        v2::IO_WEIGHT => {
            let w = format::single_u64(v1::BLKIO_BFQ_WEIGHT, &get(IO, v1::BLKIO_BFQ_WEIGHT)?)?;
            format!("default {}", convert::bfq_weight_to_io_weight(w))
        }
        v2::IO_MAX => {
            let mut devs: std::collections::BTreeMap<DeviceNumber, [Limit<u64>; 4]> = Default::default();
            for (i, file) in [v1::BLKIO_READ_BPS, v1::BLKIO_WRITE_BPS, v1::BLKIO_READ_IOPS, v1::BLKIO_WRITE_IOPS]
                .into_iter()
                .enumerate()
            {
                for (dev, v) in format::device_values(file, &get(IO, file)?)? {
                    devs.entry(dev).or_insert([Limit::Max; 4])[i] = Limit::Value(v);
                }
            }
            let lines: Vec<String> =
                devs.iter().map(|(d, [r, w, ri, wi])| format!("{d} rbps={r} wbps={w} riops={ri} wiops={wi}")).collect();
            lines.join("\n")
        }
        v2::CGROUP_FREEZE => {
            let st = get(FREEZER, v1::FREEZER_STATE)?;
            if st.trim() == "THAWED" { "0" } else { "1" }.to_string()
        }
        v2::MEMORY_HIGH | v2::MEMORY_MIN | v2::MEMORY_OOM_GROUP => {
            let closest = match name {
                v2::MEMORY_HIGH => {
                    "cgroup v1 has no throttling limit; memory.limit_in_bytes is the closest, a hard limit"
                }
                v2::MEMORY_MIN => "cgroup v1 has no hard protection; memory.soft_limit_in_bytes is the closest",
                _ => "the v1 OOM killer picks single tasks; memory.oom_control is the closest file",
            };
            return Err(unsupported(name, here, closest));
        }
        other => {
            let why = info.and_then(|k| k.no_equivalent).unwrap_or("rein knows no equivalent to read");
            return Err(unsupported(other, here, why));
        }
    };
    Ok(out)
}

fn io_weight_default(text: &str) -> Result<Weight> {
    let line = text.lines().find(|l| l.starts_with("default")).unwrap_or(text);
    let n = line.trim().strip_prefix("default").unwrap_or(line).trim();
    n.parse::<Weight>().map_err(|e| Error::parse(v2::IO_WEIGHT, e))
}

/// The controllers a set of raw writes needs, for creating the group's directories.
pub fn controllers_of(raw: &[RawWrite]) -> BTreeSet<Controller> {
    raw.iter()
        .filter_map(|w| match w.home {
            Home::Controller(c) => Some(c),
            Home::Core => None,
        })
        .collect()
}

/// The model field a raw write sets, named like [`Resources::fields`], if rein models it.
pub fn field_of(raw: &RawWrite) -> Option<&'static str> {
    known(&raw.file).and_then(|k| k.field)
}

/// Whether `cpus` parses as a CPU list (used to refuse junk before the kernel does).
pub fn is_cpu_list(text: &str) -> bool {
    CpuList::parse(text).is_ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn v2_host() -> Host {
        Host {
            v2: [Controller::Cpu, Controller::Cpuset, Controller::Memory, Controller::Io, Controller::Pids].into(),
            unified: true,
            page_size: 4096,
            ..Host::default()
        }
    }

    /// This development host: every limit controller on v1, cgroup2 mounted beside.
    fn hybrid_host() -> Host {
        Host {
            v1: [
                Controller::Cpu,
                Controller::Cpuacct,
                Controller::Cpuset,
                Controller::Memory,
                Controller::Io,
                Controller::Pids,
                Controller::Freezer,
                Controller::Devices,
            ]
            .into(),
            v2: [Controller::Hugetlb].into(),
            unified: true,
            page_size: 4096,
        }
    }

    #[test]
    fn names_and_values_written_as_given_are_checked_before_any_write() {
        for bad in ["../x=1", "memory.max/../../cgroup.procs=1", ".hidden=1", "Memory.Max=1", "a b=1"] {
            let e = parse_setting(bad).unwrap_err().to_string();
            assert!(e.contains("interface file name"), "{bad}: {e}");
        }
        for bad in ["memory.max=1\n2", "memory.max=1\t", "memory.max=\n", "memory.max=\u{1b}[31m"] {
            let e = parse_setting(bad).unwrap_err().to_string();
            assert!(e.contains("control characters") || e.contains("both parts"), "{bad:?}: {e}");
            assert!(!e.contains('\n'), "{e:?}");
        }
        assert_eq!(parse_setting("memory.max=1M\n").unwrap(), ("memory.max".into(), "1M".into()));
        assert_eq!(parse_setting("io.max=8:0 wbps=1").unwrap().1, "8:0 wbps=1");
        // Names of the running mode pass through, but their values are checked first.
        let hy = hybrid_host();
        for (name, value, needle) in [
            ("memory.limit_in_bytes", "-5", "or -1 for no limit"),
            ("memory.limit_in_bytes", "lots", "'lots'"),
            ("cpuset.cpus", "3-1", "reversed"),
            ("cpuset.mems", "99999", "out of range"),
            ("cpu.cfs_quota_us", "999", "at least 1000"),
            ("cpu.cfs_period_us", "0", "between 1000 and 1000000"),
            ("cpu.shares", "1", "between 2 and 262144"),
            ("pids.max", "-1", "pids.max"),
            ("blkio.weight", "5", "between 10 and 1000"),
            ("blkio.throttle.write_bps_device", "8:0", "MAJ:MIN VALUE"),
            ("freezer.state", "FROZE", "FROZEN or THAWED"),
        ] {
            let e = tr(&hy, &[(name, value)]).unwrap_err().to_string();
            assert!(e.contains(needle), "{name}={value}: {e}");
        }
        let v2 = v2_host();
        for (name, value, needle) in [
            ("memory.max", "-1", "memory.max"),
            ("memory.high", "1e9", "'1e9'"),
            ("cpu.max", "500 100000", "1000"),
            ("cpu.max", "max 100000 7", "$MAX [$PERIOD]"),
            ("cpu.weight", "0", "between 1 and 10000"),
            ("io.max", "8:0 bogus=1", "unknown key 'bogus'"),
            ("io.weight", "default 0", "between 1 and 10000"),
            ("cgroup.freeze", "2", "0 or 1"),
            ("memory.oom.group", "yes", "0 or 1"),
        ] {
            let e = tr(&v2, &[(name, value)]).unwrap_err().to_string();
            assert!(e.contains(needle), "{name}={value}: {e}");
        }
        // Good values still pass through unchanged.
        let t = tr(&v2, &[("memory.max", "30M"), ("cpu.max", "max 50000"), ("io.weight", "8:0 200")]).unwrap();
        assert_eq!(t.raw.len(), 3);
        let t = tr(&hy, &[("memory.limit_in_bytes", "-1"), ("cpuset.cpus", "0-1"), ("freezer.state", "FROZEN")]);
        assert_eq!(t.unwrap().raw.len(), 3);
    }

    fn s(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    fn nothing(_: &str) -> Option<String> {
        None
    }

    fn tr(host: &Host, pairs: &[(&str, &str)]) -> Result<Translation> {
        translate(&s(pairs), host, &nothing)
    }

    #[test]
    fn settings_parse() {
        assert_eq!(parse_setting("memory.limit_in_bytes=20971520").unwrap().1, "20971520");
        assert_eq!(parse_setting("io.max=8:0 rbps=1").unwrap(), ("io.max".into(), "8:0 rbps=1".into()));
        for bad in ["memory.limit_in_bytes", "=1", "memory.max=", ""] {
            assert!(parse_setting(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn native_names_pass_through() {
        let t = tr(&hybrid_host(), &[("memory.limit_in_bytes", "20971520"), ("memory.swappiness", "10")]).unwrap();
        assert!(t.resources.is_empty());
        assert_eq!(
            t.raw,
            [
                RawWrite { home: MEM, file: "memory.limit_in_bytes".into(), value: "20971520".into() },
                RawWrite { home: MEM, file: "memory.swappiness".into(), value: "10".into() },
            ]
        );
        let t = tr(&v2_host(), &[("memory.max", "20M"), ("pids.max", "5"), ("cpuset.cpus", "0")]).unwrap();
        assert_eq!(t.raw.len(), 3);
        // Unknown names pass where their controller lives; the kernel judges them.
        let t = tr(&v2_host(), &[("memory.zswap.writeback", "0")]).unwrap();
        assert_eq!(t.raw[0].file, "memory.zswap.writeback");
        // cgroup.freeze lives in the cgroup2 core, even on a hybrid host.
        let t = tr(&hybrid_host(), &[("cgroup.freeze", "1")]).unwrap();
        assert_eq!(t.raw[0].home, Home::Core);
    }

    #[test]
    fn v1_names_on_v2() {
        let table: &[(&[(&str, &str)], &str)] = &[
            (&[("memory.limit_in_bytes", "20971520")], r#"{"memory":{"max":20971520}}"#),
            (&[("memory.limit_in_bytes", "-1")], r#"{"memory":{"max":"max"}}"#),
            (&[("memory.limit_in_bytes", "20M")], r#"{"memory":{"max":20971520}}"#),
            (
                &[("memory.limit_in_bytes", "20971520"), ("memory.memsw.limit_in_bytes", "20971520")],
                r#"{"memory":{"max":20971520,"swap_max":0}}"#,
            ),
            (
                &[("memory.limit_in_bytes", "10M"), ("memory.memsw.limit_in_bytes", "30M")],
                r#"{"memory":{"max":10485760,"swap_max":20971520}}"#,
            ),
            (&[("memory.memsw.limit_in_bytes", "-1")], r#"{"memory":{"swap_max":"max"}}"#),
            (&[("memory.soft_limit_in_bytes", "1G")], r#"{"memory":{"low":1073741824}}"#),
            (&[("cpu.cfs_quota_us", "35000")], r#"{"cpu":{"max":{"quota":35000,"period":100000}}}"#),
            (&[("cpu.cfs_quota_us", "-1")], r#"{"cpu":{"max":{"quota":"max","period":100000}}}"#),
            (
                &[("cpu.cfs_period_us", "50000"), ("cpu.cfs_quota_us", "25000")],
                r#"{"cpu":{"max":{"quota":25000,"period":50000}}}"#,
            ),
            (&[("cpu.shares", "512")], r#"{"cpu":{"weight":50}}"#),
            (&[("cpu.shares", "1024")], r#"{"cpu":{"weight":100}}"#),
            (&[("blkio.weight", "500")], r#"{"io":{"weight":100}}"#),
            (&[("blkio.bfq.weight", "300")], r#"{"io":{"weight":300}}"#),
            (
                &[("blkio.throttle.write_bps_device", "7:0 1048576"), ("blkio.throttle.read_iops_device", "7:0 0")],
                r#"{"io":{"max":[{"device":"7:0","wbps":1048576,"riops":"max"}]}}"#,
            ),
            (&[("freezer.state", "FROZEN")], r#"{"freeze":true}"#),
        ];
        for (input, want) in table {
            let t = tr(&v2_host(), input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert!(t.raw.is_empty(), "{input:?}");
            let got = strip(serde_json::to_value(&t.resources).unwrap());
            let want: serde_json::Value = serde_json::from_str(want).unwrap();
            assert_eq!(got, want, "{input:?}");
        }
    }

    /// Drops empty sub-objects, so a table can list only what is set.
    fn strip(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => serde_json::Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k, strip(v)))
                    .filter(|(_, v)| !matches!(v, serde_json::Value::Object(o) if o.is_empty()))
                    .collect(),
            ),
            other => other,
        }
    }

    #[test]
    fn pairs_complete_from_the_group() {
        let cur: BTreeMap<&str, &str> = [("cpu.max", "20000 50000\n"), ("memory.max", "20971520\n")].into();
        let current = |f: &str| cur.get(f).map(|s| s.to_string());
        let t = translate(&s(&[("cpu.cfs_quota_us", "35000")]), &v2_host(), &current).unwrap();
        assert_eq!(t.resources.cpu.max, Some(CpuMax { quota: Limit::Value(35000), period: 50000 }));
        let t = translate(&s(&[("cpu.cfs_period_us", "100000")]), &v2_host(), &current).unwrap();
        assert_eq!(t.resources.cpu.max, Some(CpuMax { quota: Limit::Value(20000), period: 100000 }));
        let t = translate(&s(&[("memory.memsw.limit_in_bytes", "31457280")]), &v2_host(), &current).unwrap();
        assert_eq!(t.resources.memory.swap_max, Some(Limit::Value(units::Bytes(10 << 20))));
        // On v1 the v2 name cpu.max without a period keeps the period in force.
        let v1cur: BTreeMap<&str, &str> = [("cpu.cfs_quota_us", "-1\n"), ("cpu.cfs_period_us", "20000\n")].into();
        let current = |f: &str| v1cur.get(f).map(|s| s.to_string());
        let t = translate(&s(&[("cpu.max", "10000")]), &hybrid_host(), &current).unwrap();
        assert_eq!(t.resources.cpu.max, Some(CpuMax { quota: Limit::Value(10000), period: 20000 }));
    }

    #[test]
    fn v2_names_on_v1() {
        let t = tr(&hybrid_host(), &[("memory.max", "20M"), ("memory.swap.max", "0"), ("cpu.max", "35000 100000")])
            .unwrap();
        assert!(t.raw.is_empty());
        assert_eq!(t.resources.memory.max, Some(Limit::Value(units::Bytes::mib(20))));
        assert_eq!(t.resources.memory.swap_max, Some(Limit::Value(units::Bytes(0))));
        assert_eq!(t.resources.cpu.max, Some(CpuMax { quota: Limit::Value(35000), period: 100000 }));
        let t =
            tr(&hybrid_host(), &[("cpu.weight", "200"), ("io.weight", "default 50"), ("io.max", "7:0 wbps=1048576")])
                .unwrap();
        assert_eq!(t.resources.cpu.weight.map(Weight::get), Some(200));
        assert_eq!(t.resources.io.weight.map(Weight::get), Some(50));
        assert_eq!(t.resources.io.max[0].wbps, Some(Limit::Value(1 << 20)));
        // memory.high is translated into the model; the v1 writer refuses it with the
        // closest equivalent when the plan is made.
        let t = tr(&hybrid_host(), &[("memory.high", "1G")]).unwrap();
        assert!(t.resources.memory.high.is_some());
    }

    #[test]
    fn names_without_meaning_here_are_errors_with_the_closest_equivalent() {
        let cases: &[(Host, &str, &str, &str)] = &[
            (v2_host(), "memory.swappiness", "60", "memory.swap.max"),
            (v2_host(), "memory.use_hierarchy", "1", "always hierarchical"),
            (v2_host(), "cpu.rt_runtime_us", "0", "real-time"),
            (v2_host(), "blkio.weight_device", "8:0 100", "io.weight"),
            (v2_host(), "devices.deny", "a", "eBPF"),
            (v2_host(), "net_cls.classid", "1", "nftables"),
            (hybrid_host(), "memory.zswap.max", "0", "zswap"),
            (hybrid_host(), "cpu.idle", "1", "cpu.shares"),
            (v2_host(), "cgroup.procs", "1", "rein move"),
            (hybrid_host(), "tasks", "1", "rein move"),
            (v2_host(), "cgroup.subtree_control", "+cpu", "-g CONTROLLERS:PATH"),
            (v2_host(), "memory.usage_in_bytes", "0", "read-only"),
            (v2_host(), "bogus.file", "1", "not a cgroup controller"),
        ];
        for (host, name, value, needle) in cases {
            let e = tr(host, &[(name, value)]).expect_err(name).to_string();
            assert!(e.contains(needle), "{name}: {e}");
        }
        let e = tr(&v2_host(), &[("memory.memsw.limit_in_bytes", "10M")]).unwrap_err().to_string();
        assert!(e.contains("needs a memory limit"), "{e}");
        let e = tr(&v2_host(), &[("memory.limit_in_bytes", "20M"), ("memory.memsw.limit_in_bytes", "10M")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least the memory limit"), "{e}");
        let e = tr(&v2_host(), &[("cpu.cfs_quota_us", "500")]).unwrap_err().to_string();
        assert!(e.contains("at least 1000us"), "{e}");
        let e = tr(&v2_host(), &[("memory.max", "1M"), ("memory.max", "2M")]).unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
        let e = tr(&v2_host(), &[("memory.limit_in_bytes", "lots")]).unwrap_err().to_string();
        assert!(e.contains("invalid memory.limit_in_bytes 'lots'"), "{e}");
    }

    #[test]
    fn reads_translate_to_the_format_asked_for() {
        let v2files: BTreeMap<&str, &str> = [
            ("memory.max", "max\n"),
            ("memory.low", "1048576\n"),
            ("memory.swap.max", "0\n"),
            ("memory.current", "4096\n"),
            ("memory.swap.current", "0\n"),
            ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
            ("cpu.max", "35000 100000\n"),
            ("cpu.weight", "50\n"),
            ("cpu.stat", "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\n"),
            ("io.weight", "default 100\n"),
            ("io.max", "7:0 rbps=max wbps=1048576 riops=max wiops=max\n"),
            ("cgroup.freeze", "1\n"),
            ("cgroup.events", "populated 1\nfrozen 1\n"),
        ]
        .into();
        let read_v2 = |_: Home, f: &str| v2files.get(f).map(|s| s.to_string());
        let host = v2_host();
        for (name, want) in [
            ("memory.limit_in_bytes", "9223372036854771712"),
            ("memory.soft_limit_in_bytes", "1048576"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712"),
            ("memory.usage_in_bytes", "4096\n"),
            ("memory.failcnt", "3"),
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1"),
            ("cpu.cfs_quota_us", "35000"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.shares", "512"),
            ("cpuacct.usage", "2000000000"),
            ("cpuacct.stat", "user 150\nsystem 50"),
            ("blkio.weight", "500"),
            ("blkio.throttle.write_bps_device", "7:0 1048576"),
            ("blkio.throttle.read_bps_device", ""),
            ("freezer.state", "FROZEN"),
            ("memory.max", "max\n"),
        ] {
            assert_eq!(read(name, &host, &read_v2).unwrap_or_else(|e| panic!("{name}: {e}")), want, "{name}");
        }
        let v1files: BTreeMap<&str, &str> = [
            ("memory.limit_in_bytes", "20971520\n"),
            ("memory.memsw.limit_in_bytes", "31457280\n"),
            ("memory.soft_limit_in_bytes", "9223372036854771712\n"),
            ("cpu.cfs_quota_us", "-1\n"),
            ("cpu.cfs_period_us", "100000\n"),
            ("cpu.shares", "2048\n"),
            ("blkio.bfq.weight", "100\n"),
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_bps_device", "7:0 1048576\n"),
            ("blkio.throttle.read_iops_device", ""),
            ("blkio.throttle.write_iops_device", "7:0 10\n"),
            ("freezer.state", "THAWED\n"),
        ]
        .into();
        let read_v1 = |_: Home, f: &str| v1files.get(f).map(|s| s.to_string());
        let host = hybrid_host();
        for (name, want) in [
            ("memory.max", "20971520"),
            ("memory.swap.max", "10485760"),
            ("memory.low", "max"),
            ("cpu.max", "max 100000"),
            ("cpu.weight", "200"),
            ("io.weight", "default 100"),
            ("io.max", "7:0 rbps=max wbps=1048576 riops=max wiops=10"),
            ("memory.limit_in_bytes", "20971520\n"),
        ] {
            assert_eq!(read(name, &host, &read_v1).unwrap_or_else(|e| panic!("{name}: {e}")), want, "{name}");
        }
        let e = read("memory.high", &host, &read_v1).unwrap_err().to_string();
        // v1's tasks lists threads, as v2's cgroup.threads does.
        let threads = |_: Home, f: &str| (f == "cgroup.threads").then(|| "7\n8\n".to_string());
        assert_eq!(read("tasks", &v2_host(), &threads).unwrap(), "7\n8\n");
        assert!(e.contains("memory.limit_in_bytes"), "{e}");
        // A file the group lacks is an error naming it.
        let e = read("memory.memsw.usage_in_bytes", &hybrid_host(), &read_v1).unwrap_err().to_string();
        assert!(e.contains("memory.memsw.usage_in_bytes is not readable"), "{e}");
    }
}
