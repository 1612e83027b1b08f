//! The name table: every interface-file name rein knows, the version it belongs to,
//! where it lives (a controller's hierarchy or the core), the model field it sets, and
//! what to use instead where it has no meaning.

use crate::error::{Error, Result};
use std::collections::BTreeSet;

use crate::hierarchy::{Binding, Controller, Hierarchy};
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

/// The names of the hard memory limit in both versions (v1 first).
pub(crate) const MEMORY_LIMIT_NAMES: [&str; 2] = [v1::MEMORY_LIMIT, v2::MEMORY_MAX];

/// Whether `file` is v2's hard memory limit, the name a translation asks for when it
/// needs the memory limit in force (`memory.memsw.limit_in_bytes` is relative to it).
pub(crate) fn is_memory_max(file: &str) -> bool {
    file == v2::MEMORY_MAX
}

/// What rein knows about an interface-file name.
#[derive(Debug, Clone, Copy)]
pub(super) struct Known {
    pub(super) name: &'static str,
    /// None: the same name and format in both versions.
    pub(super) dialect: Option<Dialect>,
    pub(super) home: Home,
    /// The model field it sets (its v2 name), for "set twice" checks; None for read-only
    /// files or files without a field.
    pub(super) field: Option<&'static str>,
    /// Read-only (statistics): `-r` refuses it.
    pub(super) read_only: bool,
    /// When the name cannot be written in the other version: why, and the closest thing.
    pub(super) no_equivalent: Option<&'static str>,
    /// Never written through `-r` in any version: what to use instead.
    pub(super) refused: Option<&'static str>,
}

pub(super) const fn k(name: &'static str, dialect: Option<Dialect>, home: Home, field: Option<&'static str>) -> Known {
    Known { name, dialect, home, field, read_only: false, no_equivalent: None, refused: None }
}

pub(super) const fn stat(name: &'static str, dialect: Option<Dialect>, home: Home) -> Known {
    Known { name, dialect, home, field: None, read_only: true, no_equivalent: None, refused: None }
}

pub(super) const fn none(name: &'static str, dialect: Dialect, home: Home, why: &'static str) -> Known {
    Known { name, dialect: Some(dialect), home, field: None, read_only: false, no_equivalent: Some(why), refused: None }
}

pub(super) const fn refused(name: &'static str, dialect: Option<Dialect>, home: Home, instead: &'static str) -> Known {
    Known { name, dialect, home, field: None, read_only: false, no_equivalent: None, refused: Some(instead) }
}

pub(super) const MEM: Home = Home::Controller(Controller::Memory);
pub(super) const CPU: Home = Home::Controller(Controller::Cpu);
pub(super) const CPUACCT: Home = Home::Controller(Controller::Cpuacct);
pub(super) const CPUSET: Home = Home::Controller(Controller::Cpuset);
pub(super) const IO: Home = Home::Controller(Controller::Io);
pub(super) const PIDS: Home = Home::Controller(Controller::Pids);
pub(super) const FREEZER: Home = Home::Controller(Controller::Freezer);
pub(super) const DEVICES: Home = Home::Controller(Controller::Devices);
pub(super) const NET_CLS: Home = Home::Controller(Controller::NetCls);
pub(super) const NET_PRIO: Home = Home::Controller(Controller::NetPrio);
pub(super) const V1: Option<Dialect> = Some(Dialect::V1);
pub(super) const V2: Option<Dialect> = Some(Dialect::V2);

/// Every name rein translates or explains. Names not listed pass through where their
/// controller is bound (the kernel decides whether the file exists).
pub(super) const KNOWN: &[Known] = &[
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
    // exclusive CPUs: a flag on v1, a partition on v2 (1 = root, 0 = member), as libcgroup maps them
    k(v1::CPUSET_CPU_EXCLUSIVE, V1, CPUSET, None),
    k(v2::CPUSET_CPUS_PARTITION, V2, CPUSET, None),
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
    // device access: rule lists, applied in order (on v2 through a BPF program)
    k(v1::DEVICES_ALLOW, V1, DEVICES, Some("devices")),
    k(v1::DEVICES_DENY, V1, DEVICES, Some("devices")),
    stat(v1::DEVICES_LIST, V1, DEVICES),
    // network: on cgroup2, rein's network programs (class id and priority of what is sent)
    k(v1::NET_CLS_CLASSID, V1, NET_CLS, Some("net.classid")),
    k(v1::NET_PRIO_IFPRIOMAP, V1, NET_PRIO, Some("net.priority")),
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
pub(super) const RENAMED: &[(&str, &str)] = &[
    (v1::CPU_CFS_BURST, v2::CPU_MAX_BURST),
    (v1::CPUSET_EFFECTIVE_CPUS, v2::CPUSET_CPUS_EFFECTIVE),
    (v1::CPUSET_EFFECTIVE_MEMS, v2::CPUSET_MEMS_EFFECTIVE),
    (v1::MEMORY_USAGE, v2::MEMORY_CURRENT),
    (v1::MEMORY_MAX_USAGE, v2::MEMORY_PEAK),
    (v1::TASKS, v2::CGROUP_THREADS),
];

pub(super) fn known(name: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.name == name)
}

/// Whether `name` is an interface file of rein's table (of either version).
pub(crate) fn is_known(name: &str) -> bool {
    known(name).is_some()
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

pub(super) fn dialect_word(d: Option<Dialect>) -> &'static str {
    match d {
        Some(d) => d.name(),
        None => "v1 and v2",
    }
}

pub(super) fn unsupported(name: &str, mode: Dialect, reason: impl Into<String>) -> Error {
    Error::Unsupported { what: name.to_string(), mode: mode.name().into(), reason: reason.into() }
}

/// The version the host speaks for `name`, or why the name has no home here.
pub(super) fn host_dialect(name: &str, home: Home, host: &Host) -> Result<Dialect> {
    if let Some(d) = host.dialect(home) {
        return Ok(d);
    }
    // The freezer's v1 file has a v2 home in the core, and v2's core file a v1 home.
    match home {
        Home::Controller(Controller::Freezer) if host.unified => return Ok(Dialect::V2),
        // v1's cpuacct counts what the cgroup2 core's cpu.stat counts.
        Home::Controller(Controller::Cpuacct) if host.unified => return Ok(Dialect::V2),
        // cgroup2 controls device access with a BPF program on the group's directory.
        Home::Controller(Controller::Devices) if host.unified => return Ok(Dialect::V2),
        // ... and network classes and priorities with its network programs.
        Home::Controller(Controller::NetCls | Controller::NetPrio) if host.unified => return Ok(Dialect::V2),
        Home::Core if host.v1.contains(&Controller::Freezer) && name == v2::CGROUP_FREEZE => return Ok(Dialect::V1),
        _ => {}
    }
    let what = match home {
        Home::Core => "the cgroup v2 core".to_string(),
        Home::Controller(c) => format!("the '{}' controller", c.v1_name()),
    };
    let hint = match home {
        Home::Controller(Controller::Devices) => {
            "; this host has neither a v1 devices hierarchy nor cgroup2 (where rein attaches a BPF program)"
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
