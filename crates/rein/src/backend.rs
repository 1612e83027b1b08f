//! The seam between the version-neutral operations ([`crate::group`],
//! [`crate::lifecycle`], [`crate::gc`], [`crate::events`], [`crate::tree`], the handle)
//! and the code of each cgroup version (`v1`, `v2`): every question
//! whose answer depends on the version (which file, which format, which planner) is a
//! function here that asks the version a [`Place`] belongs to.
//!
//! Nothing above this module names a version's interface file; the layering test
//! (scripts/layering.py, the table in docs/ARCHITECTURE.md) holds it so.

use std::collections::BTreeSet;

use crate::cgroupfs::{FileSource, GroupDir, GroupPath, Mount, format};
use crate::error::Result;
use crate::hierarchy::{Controller, Hierarchy, Node, Place, parse_controller_list};
use crate::plan::{Plan, Write};
use crate::resources::Resources;
use crate::stats::{EventCounters, Fields, Stats};
use crate::{v1, v2};

/// The processes of a group: `cgroup.procs`, the same name and format (one pid a line)
/// in every hierarchy of both versions. Writing a pid moves that process.
pub const PROCS: &str = v2::CGROUP_PROCS;

/// cgroup2's `cgroup.subtree_control`: the controllers a group enables for its child
/// groups (`+cpu -memory` changes them).
pub const SUBTREE_CONTROL: &str = v2::CGROUP_SUBTREE_CONTROL;

/// cgroup2's `cgroup.threads`: the threads of a group; writing a thread id moves that
/// thread alone.
pub const THREADS: &str = v2::CGROUP_THREADS;

/// cgroup2's `cgroup.kill` (5.14): writing `1` kills every process of the group and below.
pub(crate) const KILL: &str = v2::CGROUP_KILL;

/// v1 settings rein's model does not carry but a snapshot keeps, as libcgroup's
/// cgsnapshot does (by controller and file): a v1 child copies each from its parent at
/// mkdir (`memory.swappiness`: mem_cgroup_css_alloc), so a value unlike the parent's was
/// written. cgroup v2 has none of them (no per-group swappiness).
pub(crate) const V1_UNMODELLED_SETTINGS: &[(Controller, &str)] = &[(Controller::Memory, v1::MEMORY_SWAPPINESS)];

/// What the host offers, where the answer is a cgroup2 file (so it is asked here, behind
/// the seam, rather than in [`crate::hierarchy`]).
impl Hierarchy {
    /// Whether the kernel gives pressure stall information (PSI, 4.20+ with CONFIG_PSI and
    /// not turned off with `psi=0`): the cgroup2 root has `cpu.pressure`. False without a
    /// cgroup2 mount.
    pub fn has_psi(&self) -> bool {
        self.unified().is_some_and(|u| u.mount.has_file(&GroupPath::root(), v2::CPU_PRESSURE))
    }

    /// Whether the cgroup2 group this process is in was delegated to its user: it may
    /// write the group's `cgroup.procs` and `cgroup.subtree_control` (so it can make
    /// child groups, enable controllers for them and move processes into them). None
    /// without a cgroup2 mount or when /proc/self/cgroup does not say.
    pub fn self_delegated(&self) -> Option<bool> {
        self.delegated_at(&crate::hierarchy::self_cgroup_v2()?)
    }

    /// [`Hierarchy::self_delegated`] for the cgroup2 group at `path` (as
    /// /proc/PID/cgroup gives it).
    fn delegated_at(&self, path: &str) -> Option<bool> {
        let dir = self.unified()?.mount.path().join(path.trim_start_matches('/'));
        let writable = |file: &str| rustix::fs::access(dir.join(file), rustix::fs::Access::WRITE_OK).is_ok();
        Some(writable(v2::CGROUP_PROCS) && writable(v2::CGROUP_SUBTREE_CONTROL))
    }
}

/// Which version a place is: its planner, writers and readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// cgroup v2 (the cgroup2 hierarchy).
    V2,
    /// cgroup v1 (a v1 hierarchy).
    V1,
}

impl From<Place> for Version {
    fn from(p: Place) -> Version {
        match p {
            Place::V2 => Version::V2,
            Place::V1(_) => Version::V1,
        }
    }
}

/// The writes that apply `r` to a directory of `version` carrying the controllers `on`,
/// in the order that version needs. `current` reads the directory's present files (v1
/// orders some pairs by them); a new group passes `|_| None`. Fails before anything is
/// written on a setting the version cannot express.
pub fn limit_writes(
    version: Version,
    r: &Resources,
    on: &BTreeSet<Controller>,
    current: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Write>> {
    match version {
        Version::V2 => {
            v2::check_supported(r, on)?;
            Ok(v2::limit_writes(r, on))
        }
        Version::V1 => v1::limit_writes(r, on, current),
    }
}

/// Plans the cgroup2 side of a group (see [`v2::plan::plan`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan_v2(
    m: &Mount,
    root_controllers: &BTreeSet<Controller>,
    path: &GroupPath,
    r: &Resources,
    required: &BTreeSet<Controller>,
    wanted: &BTreeSet<Controller>,
    must_be_new: bool,
    program_devices: bool,
    plan: &mut Plan,
) -> Result<BTreeSet<Controller>> {
    v2::plan::plan(m, root_controllers, path, r, required, wanted, must_be_new, program_devices, plan)
}

/// The device access of a group enforced by rein's BPF program on its cgroup2 directory,
/// read back from the kernel (`None`: no program of rein's).
pub(crate) fn v2_devices(m: &Mount, path: &GroupPath) -> Result<Option<crate::devices::DeviceAccess>> {
    v2::devices::read_back(m, path)
}

/// v1's `devices.list`, for the layers above the seam.
pub(crate) const DEVICES_LIST_V1: &str = v1::DEVICES_LIST;

/// v1's `devices.list` of a group where device access is rein's cgroup2 program (no
/// devices hierarchy): the program's rules as v1 lists them; every device when the
/// group has no program. None for another file, or a group with no cgroup2 directory.
pub(crate) fn v2_devices_list(h: &Hierarchy, path: &GroupPath, file: &str) -> Option<String> {
    let u = h.unified()?;
    if file != v1::DEVICES_LIST || !u.mount.exists(path) {
        return None;
    }
    Some(match v2_devices(&u.mount, path).ok()? {
        Some(access) => access.effective(&[]).v1_list(),
        None => "a *:* rwm\n".into(),
    })
}

/// v1's `net_cls.classid` or `net_prio.ifpriomap` of a group where network marks are
/// rein's cgroup2 programs (no net_cls/net_prio hierarchy), as v1 shows them: the class
/// id as one decimal number (0: none), a priority per interface. None for another file.
pub(crate) fn v2_net_file(h: &Hierarchy, path: &GroupPath, file: &str) -> Option<String> {
    let u = h.unified()?;
    if (file != v1::NET_CLS_CLASSID && file != v1::NET_PRIO_IFPRIOMAP) || !u.mount.exists(path) {
        return None;
    }
    let n = v2_network(&u.mount, path).ok()?.map(|(n, _)| n).unwrap_or_default();
    if file == v1::NET_CLS_CLASSID {
        let id = n.classid.map(|c| (u32::from(c.major) << 16) | u32::from(c.minor)).unwrap_or(0);
        return Some(format!("{id}\n"));
    }
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    let p = n.priority.unwrap_or(crate::network::NetPriority { priority: 0, interface: None });
    Some(
        names
            .iter()
            .map(|i| {
                let here = p.interface.as_deref().is_none_or(|x| x == i);
                format!("{i} {}\n", if here { p.priority } else { 0 })
            })
            .collect(),
    )
}

/// The network settings in force on a group and what rein's programs counted, read
/// back from the kernel (`None`: no programs of rein's on its cgroup2 directory).
pub(crate) fn v2_network(
    m: &Mount,
    path: &GroupPath,
) -> Result<Option<(crate::network::Network, crate::stats::NetStats)>> {
    Ok(v2::network::read(m, path)?.map(|(c, n)| (v2::network::from_config(&c), v2::network::stats(&n))))
}

/// The network counters of rein's programs on the cgroup2 group whose directory `dir`
/// (opened for reading) the caller holds: [`v2_network`]'s figures without the lookup.
pub(crate) fn v2_network_stats_at(dir: std::os::fd::BorrowedFd<'_>) -> Result<Option<crate::stats::NetStats>> {
    Ok(crate::bpf::net_program::read(dir)?.map(|(_, n)| v2::network::stats(&n)))
}

/// How this host controls device access, for `rein check` and errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceControl {
    /// v1's devices controller, mounted at this path (devices.allow, devices.deny).
    V1(std::path::PathBuf),
    /// cgroup2: a `BPF_PROG_TYPE_CGROUP_DEVICE` program on each group (a test load of one
    /// succeeded).
    Bpf,
    /// Neither; why.
    Unavailable(String),
}

impl std::fmt::Display for DeviceControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceControl::V1(m) => write!(f, "v1 devices controller at {}", m.display()),
            DeviceControl::Bpf => write!(f, "cgroup BPF device programs (cgroup2)"),
            DeviceControl::Unavailable(why) => write!(f, "not available: {why}"),
        }
    }
}

/// How device access is controlled here: v1's controller when one is bound, else a BPF
/// program on cgroup2, probed by loading (not attaching) rein's allow-all program.
pub fn device_control(h: &Hierarchy) -> DeviceControl {
    match h.binding(Controller::Devices) {
        Some(crate::hierarchy::Binding::V1(m)) => DeviceControl::V1(m.mount.path().to_path_buf()),
        _ if h.unified().is_none() => DeviceControl::Unavailable("no devices controller and no cgroup2 mount".into()),
        _ => {
            use crate::bpf::{device_program, sys};
            let allow_all = crate::devices::DeviceAccess::default().effective(&[]);
            match sys::prog_load(
                sys::ProgType::CgroupDevice,
                Some(sys::AttachType::Device),
                &device_program::program(&allow_all),
                "rein_probe",
            ) {
                Ok(_) => DeviceControl::Bpf,
                Err(e) => DeviceControl::Unavailable(e.to_string()),
            }
        }
    }
}

/// Whether network control (rates, priority, class, counters) works here: rein's three
/// programs, probed by loading them (not attaching) with a map, on a host with cgroup2;
/// else why not.
pub fn network_control(h: &Hierarchy) -> std::result::Result<(), String> {
    use crate::bpf::{net_program, sys};
    if h.unified().is_none() {
        return Err("no cgroup2 mount (network programs attach to cgroup2 directories; use net_cls and tc)".into());
    }
    let map = sys::array_map_create(64, 2, "rein_probe").map_err(|e| e.to_string())?;
    use std::os::fd::AsRawFd;
    let fd = map.as_raw_fd();
    for (kind, at, insns) in [
        (sys::ProgType::CgroupSkb, sys::AttachType::InetEgress, net_program::program(fd, true)),
        (sys::ProgType::CgroupSkb, sys::AttachType::InetIngress, net_program::program(fd, false)),
        (sys::ProgType::SockOps, sys::AttachType::SockOps, net_program::tcp_program(fd)),
    ] {
        sys::prog_load(kind, Some(at), &insns, "rein_probe").map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Plans one v1 hierarchy of a group (see [`v1::plan::plan`]).
pub(crate) fn plan_v1(
    h: &Hierarchy,
    index: usize,
    path: &GroupPath,
    r: &Resources,
    on: &BTreeSet<Controller>,
    must_be_new: bool,
    plan: &mut Plan,
) -> Result<()> {
    v1::plan::plan(h, index, path, r, on, must_be_new, plan)
}

/// The file and value that freeze (or thaw) a group at `place`: `cgroup.freeze` on v2,
/// the v1 freezer's `freezer.state`.
pub(crate) fn freeze_write(place: Place, frozen: bool) -> Write {
    match place {
        Place::V2 => Write::new(v2::CGROUP_FREEZE, if frozen { "1" } else { "0" }),
        Place::V1(_) => v1::freeze_write(frozen),
    }
}

/// Whether the kernel has finished freezing (or thawing) the group at `place`: the
/// `frozen` key of `cgroup.events`, or `freezer.state` reading FROZEN (THAWED).
pub(crate) fn freeze_done(place: Place, m: &Mount, g: &GroupPath, frozen: bool) -> Result<bool> {
    Ok(match place {
        Place::V2 => {
            let ev = format::flat_keyed(v2::CGROUP_EVENTS, &m.read(g, v2::CGROUP_EVENTS)?)?;
            ev.get("frozen").is_some_and(|v| (*v != 0) == frozen)
        }
        Place::V1(_) => m.read(g, v1::FREEZER_STATE)?.trim() == if frozen { "FROZEN" } else { "THAWED" },
    })
}

/// Whether a cgroup2 group can be frozen (`cgroup.freeze`, 5.2) and killed at once
/// (`cgroup.kill`, 5.14) here: `(freeze, kill)`.
pub(crate) fn v2_can_freeze_and_kill(m: &Mount, g: &GroupPath) -> (bool, bool) {
    (m.has_file(g, v2::CGROUP_FREEZE), m.has_file(g, v2::CGROUP_KILL))
}

/// The controllers a cgroup2 directory has (its `cgroup.controllers`); empty when
/// unreadable.
pub(crate) fn v2_controllers(dir: &(impl FileSource + ?Sized)) -> Result<BTreeSet<Controller>> {
    Ok(dir.read_opt(v2::CGROUP_CONTROLLERS)?.map(|t| parse_controller_list(&t)).unwrap_or_default())
}

/// The `populated` flag of a cgroup2 group (`cgroup.events`), None when unreadable.
pub(crate) fn v2_populated(dir: &(impl FileSource + ?Sized)) -> Result<Option<bool>> {
    let Some(t) = dir.read_opt(v2::CGROUP_EVENTS)? else { return Ok(None) };
    Ok(format::flat_keyed(v2::CGROUP_EVENTS, &t)?.get("populated").map(|v| *v != 0))
}

/// The pids of a group's directory (not its children), none when it is gone.
pub(crate) fn procs(m: &Mount, g: &GroupPath) -> Result<Vec<u32>> {
    match read_procs(m, g) {
        Err(e) if e.errno() == Some(libc::ENOENT) => Ok(Vec::new()),
        other => other,
    }
}

/// The pids of a group's directory (not its children); errors as reading the file does.
///
/// A cgroup the kernel is removing (ENODEV) holds none. A threaded cgroup2 group refuses
/// to list processes (`cgroup.procs` reads fail with
/// EOPNOTSUPP: its processes' other threads may live elsewhere); its members are then the
/// processes its threads (`cgroup.threads`) belong to.
pub(crate) fn read_procs(m: &Mount, g: &GroupPath) -> Result<Vec<u32>> {
    match m.read(g, PROCS) {
        Ok(t) => format::pids(PROCS, &t),
        // A cgroup being removed (its directory still there, the kernel's node already
        // deactivated: systemd stopping a scope while rein looks) answers ENODEV. Only an
        // empty cgroup can be removed: it holds no process.
        Err(e) if e.errno() == Some(libc::ENODEV) => Ok(Vec::new()),
        Err(e) if e.errno() == Some(libc::EOPNOTSUPP) => {
            let tids = format::pids(v2::CGROUP_THREADS, &m.read(g, v2::CGROUP_THREADS)?)?;
            let mut pids: Vec<u32> = tids.into_iter().filter_map(crate::procfs::thread_group).collect();
            pids.sort_unstable();
            pids.dedup();
            Ok(pids)
        }
        Err(e) => Err(e),
    }
}

/// Reads a group's accounting from its directories (`nodes`, one per hierarchy), each
/// through the [`FileSource`] `dir(i, node)` gives, with the v1 and v2 readers: one
/// schema whatever the mode, and the one path every reader of stats takes
/// ([`crate::Group::stats`] with [`GroupDir`]s, [`crate::tree::Tree`] with its open files).
///
/// Each directory is read once and each file once. On a hybrid host the cgroup2 core
/// provides CPU time (`cpu.stat`) and the frozen state, so the v1 cpuacct and freezer
/// files are not read, and a v1 hierarchy without an accounting controller is not opened;
/// throttling and the bandwidth limit come from the v1 cpu hierarchy.
pub(crate) fn read_group_stats<S: FileSource>(
    nodes: &[Node],
    mut dir: impl FnMut(usize, &Node) -> Result<S>,
) -> Result<Stats> {
    let mut s = Stats::default();
    let core = nodes.iter().any(|n| n.place == Place::V2);
    for (i, n) in nodes.iter().enumerate().filter(|(_, n)| n.place != Place::V2) {
        let mut on = n.controllers.clone();
        if core {
            on.remove(&Controller::Cpuacct);
            on.remove(&Controller::Freezer);
        }
        if on.iter().any(|c| {
            matches!(
                c,
                Controller::Cpu
                    | Controller::Cpuacct
                    | Controller::Memory
                    | Controller::Pids
                    | Controller::Io
                    | Controller::Freezer
            )
        }) {
            v1::read_stats(&dir(i, n)?, &on, &mut s)?;
        }
    }
    if let Some((i, n)) = nodes.iter().enumerate().find(|(_, n)| n.place == Place::V2) {
        let cpu_v1 = s.cpu;
        v2::read_stats(&dir(i, n)?, &n.controllers, &mut s)?;
        // On hybrid, throttling and the bandwidth limit live in the v1 cpu hierarchy.
        if !n.controllers.contains(&Controller::Cpu) {
            s.cpu.nr_periods = cpu_v1.nr_periods.or(s.cpu.nr_periods);
            s.cpu.nr_throttled = cpu_v1.nr_throttled.or(s.cpu.nr_throttled);
            s.cpu.throttled_usec = cpu_v1.throttled_usec.or(s.cpu.throttled_usec);
            s.cpu.max = cpu_v1.max.or(s.cpu.max);
        }
    }
    Ok(s)
}

/// The interface files of `version` that feed `fields`: all a reader of those fields
/// reads, and so all a [`crate::tree::Tree`] keeps open for them. A file may feed more
/// fields than asked (`cgroup.events` gives both populated and frozen).
pub fn stat_files(version: Version, fields: Fields) -> Vec<&'static str> {
    match version {
        Version::V2 => v2::stat_files(fields),
        Version::V1 => v1::stat_files(fields),
    }
}

/// Reads the accounting of one directory of `version` carrying the controllers `on`
/// into `s` (the core files too, on v2): the per-version reader behind
/// [`crate::Group::stats`], for callers that hold the directory's files themselves.
pub fn read_stats<D: FileSource + ?Sized>(
    version: Version,
    dir: &D,
    on: &BTreeSet<Controller>,
    s: &mut Stats,
) -> Result<()> {
    match version {
        Version::V2 => v2::read_stats(dir, on, s),
        Version::V1 => v1::read_stats(dir, on, s),
    }
}

/// A group's CPU time so far, µs, from its directory at `place`: the cgroup2 core's
/// `cpu.stat`, or v1 `cpuacct.usage` (the caller picks the cpuacct directory).
pub(crate) fn cpu_usage_usec(place: Place, m: &Mount, g: &GroupPath) -> Result<Option<u64>> {
    match place {
        Place::V2 => v2::cpu_usage_usec(m, g),
        Place::V1(_) => v1::cpu_usage_usec(m, g),
    }
}

/// The OOM kills counted in a group's memory directory at `place`.
pub(crate) fn oom_kills(place: Place, m: &Mount, g: &GroupPath) -> Option<u64> {
    match place {
        Place::V2 => v2::oom_kills(m, g),
        Place::V1(_) => v1::oom_kills(m, g),
    }
}

/// The limit files `rein show` lists for a directory at `place` carrying `controllers`.
pub fn limit_files(place: Place, controllers: &BTreeSet<Controller>) -> Vec<&'static str> {
    match place {
        Place::V2 => v2::limit_files(controllers),
        Place::V1(_) => v1::limit_files(controllers),
    }
}

/// The limits in rein's model, from limit files of either version, by file name.
/// Defaults read as what they are (`memory.max` "max" is `Limit::Max`); an empty
/// cpuset reads as not set.
pub fn read_limits(get: &dyn Fn(&str) -> Option<String>) -> Result<Resources> {
    let mut r = Resources::new();
    v2::read_back(get, &mut r)?;
    v1::read_back(get, &mut r)?;
    Ok(r)
}

/// The pressure stall file of a resource (`cpu`, `memory` or `io`): `cpu.pressure`, ...
/// (cgroup2 only).
pub(crate) fn pressure_file(resource: &str) -> &'static str {
    match resource {
        "cpu" => v2::CPU_PRESSURE,
        "memory" => v2::MEMORY_PRESSURE,
        _ => v2::IO_PRESSURE,
    }
}

/// What a change of a cgroup2 interface file, seen by inotify, is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Changed {
    /// `memory.events`: OOM, OOM kill, limit hits.
    Memory,
    /// `pids.events`: refused forks.
    Pids,
    /// `cgroup.events`: populated, frozen.
    Populated,
}

/// The meaning of a change of the cgroup2 file `name`, if events care.
pub(crate) fn v2_changed(name: &str) -> Option<Changed> {
    match name {
        v2::MEMORY_EVENTS => Some(Changed::Memory),
        v2::PIDS_EVENTS => Some(Changed::Pids),
        v2::CGROUP_EVENTS => Some(Changed::Populated),
        _ => None,
    }
}

/// The memory event counters of a group's memory directory at `place`.
pub(crate) fn memory_counters(place: Place, dir: &(impl FileSource + ?Sized), c: &mut EventCounters) {
    match place {
        Place::V2 => v2::memory_counters(dir, c),
        Place::V1(_) => v1::memory_counters(dir, c),
    }
}

/// The pids event counter (`pids.events` `max`, the same file in both versions).
pub(crate) fn pids_counters(dir: &(impl FileSource + ?Sized), c: &mut EventCounters) {
    v2::pids_counters(dir, c)
}

/// Registers `eventfd` for OOM notifications of a v1 memory directory
/// (`cgroup.event_control`); v2 reports them through inotify on `memory.events`.
pub(crate) fn v1_register_oom_eventfd(dir: &GroupDir, eventfd: std::os::fd::BorrowedFd<'_>) -> Result<()> {
    v1::register_oom_eventfd(dir, eventfd)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::*;
    use crate::stats::Field;

    /// A group's files as text, every file the readers know with a figure of its own;
    /// `only` limits what reads find (as a tree's file filter does) and `read` records
    /// what was asked for.
    struct Files {
        text: HashMap<&'static str, &'static str>,
        only: Option<Vec<&'static str>>,
        read: RefCell<BTreeSet<String>>,
    }

    impl Files {
        fn new(text: &[(&'static str, &'static str)]) -> Files {
            Files { text: text.iter().copied().collect(), only: None, read: RefCell::default() }
        }

        fn only(&self, files: Vec<&'static str>) -> Files {
            Files { text: self.text.clone(), only: Some(files), read: RefCell::default() }
        }
    }

    impl FileSource for Files {
        fn read_opt(&self, file: &str) -> Result<Option<String>> {
            if self.only.as_ref().is_some_and(|o| !o.contains(&file)) {
                return Ok(None);
            }
            self.read.borrow_mut().insert(file.to_string());
            Ok(self.text.get(file).map(|t| t.to_string()))
        }
    }

    const PRESSURE: &str =
        "some avg10=1.50 avg60=0.00 avg300=0.00 total=10\nfull avg10=0.50 avg60=0.00 avg300=0.00 total=5\n";

    fn v2_files() -> Files {
        Files::new(&[
            (
                "cpu.stat",
                "usage_usec 11\nuser_usec 12\nsystem_usec 13\nnr_periods 14\nnr_throttled 15\nthrottled_usec 16\n",
            ),
            ("cgroup.events", "populated 1\nfrozen 1\n"),
            ("cpu.pressure", PRESSURE),
            ("memory.pressure", PRESSURE),
            ("io.pressure", PRESSURE),
            ("cpu.max", "50000 100000\n"),
            ("memory.current", "21\n"),
            ("memory.peak", "22\n"),
            ("memory.max", "23\n"),
            ("memory.high", "24\n"),
            ("memory.swap.current", "25\n"),
            ("memory.swap.max", "26\n"),
            ("memory.events", "low 0\nhigh 27\nmax 28\noom 29\noom_kill 30\noom_group_kill 0\n"),
            ("pids.current", "31\n"),
            ("pids.peak", "32\n"),
            ("pids.max", "33\n"),
            ("pids.events", "max 34\n"),
            ("io.stat", "8:0 rbytes=41 wbytes=42 rios=43 wios=44 dbytes=0 dios=0\n"),
        ])
    }

    fn v1_files(usage_all: bool) -> Files {
        let mut f = Files::new(&[
            ("cpuacct.usage", "11000\n"),
            ("cpuacct.usage_user", "12000\n"),
            ("cpuacct.usage_sys", "13000\n"),
            ("cpu.stat", "nr_periods 14\nnr_throttled 15\nthrottled_time 16000\n"),
            ("cpu.cfs_quota_us", "50000\n"),
            ("cpu.cfs_period_us", "100000\n"),
            ("memory.usage_in_bytes", "21\n"),
            ("memory.max_usage_in_bytes", "22\n"),
            ("memory.limit_in_bytes", "1000\n"),
            ("memory.memsw.limit_in_bytes", "1500\n"),
            ("memory.memsw.usage_in_bytes", "46\n"),
            ("memory.failcnt", "27\n"),
            ("memory.memsw.failcnt", "1\n"),
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 30\n"),
            ("pids.current", "31\n"),
            ("pids.peak", "32\n"),
            ("pids.max", "33\n"),
            ("pids.events", "max 34\n"),
            ("blkio.throttle.io_service_bytes_recursive", "8:0 Read 41\n8:0 Write 42\n8:0 Total 83\nTotal 83\n"),
            ("blkio.throttle.io_serviced_recursive", "8:0 Read 43\n8:0 Write 44\n8:0 Total 87\nTotal 87\n"),
            ("freezer.state", "FROZEN\n"),
        ]);
        if usage_all {
            f.text.insert("cpuacct.usage_all", "cpu user system\n0 12000 13000\n");
        }
        f
    }

    /// The value of one field, as text (None: absent).
    fn value(s: &Stats, f: Field) -> Option<String> {
        let (c, m, p, pr) = (&s.cpu, s.memory.unwrap_or_default(), s.pids.unwrap_or_default(), s.pressure);
        let text = match f {
            Field::CpuUsage => format!("{:?}", c.usage_usec),
            Field::CpuUser => format!("{:?}", c.user_usec),
            Field::CpuSystem => format!("{:?}", c.system_usec),
            Field::CpuPeriods => format!("{:?}", c.nr_periods),
            Field::CpuThrottledPeriods => format!("{:?}", c.nr_throttled),
            Field::CpuThrottledTime => format!("{:?}", c.throttled_usec),
            Field::CpuMax => format!("{:?}", c.max),
            Field::MemoryCurrent => format!("{:?}", m.current),
            Field::MemoryPeak => format!("{:?}", m.peak),
            Field::MemoryMax => format!("{:?}", m.max),
            Field::MemoryHigh => format!("{:?}", m.high),
            Field::MemorySwapCurrent => format!("{:?}", m.swap_current),
            Field::MemorySwapMax => format!("{:?}", m.swap_max),
            Field::MemoryOom => format!("{:?}", m.oom),
            Field::MemoryOomKill => format!("{:?}", m.oom_kill),
            Field::MemoryMaxEvents => format!("{:?}", m.max_events),
            Field::MemoryHighEvents => format!("{:?}", m.high_events),
            Field::PidsCurrent => format!("{:?}", p.current),
            Field::PidsPeak => format!("{:?}", p.peak),
            Field::PidsMax => format!("{:?}", p.max),
            Field::PidsMaxEvents => format!("{:?}", p.max_events),
            Field::Io => format!("{:?}", s.io),
            Field::PressureCpu => format!("{:?}", pr.and_then(|p| p.cpu)),
            Field::PressureMemory => format!("{:?}", pr.and_then(|p| p.memory)),
            Field::PressureIo => format!("{:?}", pr.and_then(|p| p.io)),
            Field::Populated => format!("{:?}", s.populated),
            Field::Frozen => format!("{:?}", s.frozen),
            // From the map of rein's network programs, never from a file.
            Field::Network => format!("{:?}", s.network),
            // From an extended attribute of the directory, never from a file.
            Field::PolicyActions => format!("{:?}", s.policy_actions),
        };
        (text != "None").then_some(text)
    }

    fn read(version: Version, dir: &Files) -> Stats {
        let on: BTreeSet<Controller> = Controller::ALL.into_iter().collect();
        let mut s = Stats::default();
        match version {
            Version::V2 => v2::read_stats(dir, &on, &mut s).unwrap(),
            Version::V1 => v1::read_stats(dir, &on, &mut s).unwrap(),
        }
        s
    }

    #[test]
    fn the_files_of_a_field_are_enough_to_read_it() {
        // Per field: a reader given only the field's files reads the value a reader of
        // every file reads, and a field the version lacks has no files and no value.
        for (version, dir) in [(Version::V2, v2_files()), (Version::V1, v1_files(true)), (Version::V1, v1_files(false))]
        {
            let whole = read(version, &dir);
            for field in Field::ALL {
                let files = stat_files(version, field.into());
                let alone = read(version, &dir.only(files.clone()));
                assert_eq!(value(&alone, field), value(&whole, field), "{version:?} {field:?} from {files:?}");
                assert_eq!(files.is_empty(), value(&whole, field).is_none(), "{version:?} {field:?}");
            }
        }
    }

    #[test]
    fn psi_and_delegation_are_read_from_cgroup2_files() {
        use crate::testing::{FakeTree, Layout};
        let fake = FakeTree::new(Layout::V2);
        fake.group("me");
        let h = fake.hierarchy();
        assert!(h.has_psi());
        assert_eq!(h.delegated_at("/me"), Some(true));
        std::fs::remove_file(fake.path().join("cpu.pressure")).unwrap();
        std::fs::remove_file(fake.path().join("me/cgroup.subtree_control")).unwrap();
        assert!(!h.has_psi());
        assert_eq!(h.delegated_at("/me"), Some(false));
        let v1 = FakeTree::new(Layout::V1).hierarchy();
        assert!(!v1.has_psi());
        assert_eq!(v1.delegated_at("/"), None);
    }

    #[test]
    fn every_field_is_every_file_the_readers_know() {
        // v1 reads cpuacct.usage_user and usage_sys only where usage_all is absent.
        for (version, dirs) in [(Version::V2, vec![v2_files()]), (Version::V1, vec![v1_files(true), v1_files(false)])] {
            let mut all = stat_files(version, Fields::all());
            all.sort();
            let mut read_any = BTreeSet::new();
            for dir in &dirs {
                read(version, dir);
                read_any.extend(dir.read.borrow().iter().cloned());
            }
            assert_eq!(all, read_any.iter().map(|f| f.as_str()).collect::<Vec<_>>(), "{version:?}");
            let mut known: Vec<&str> = dirs[0].text.keys().copied().collect();
            known.sort();
            assert_eq!(all, known, "{version:?}: the test gives every file");
        }
        assert!(stat_files(Version::V2, Fields::NONE).is_empty());
        // CPU usage alone is one file on v1, not usage_all.
        assert_eq!(stat_files(Version::V1, Field::CpuUsage.into()), ["cpuacct.usage"]);
    }
}
