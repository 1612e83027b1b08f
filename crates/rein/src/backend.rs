//! The seam between the version-neutral operations ([`crate::group`],
//! [`crate::lifecycle`], [`crate::gc`], [`crate::events`], [`crate::tree`], the handle)
//! and the code of each cgroup version ([`crate::v1`], [`crate::v2`]): every question
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
use crate::stats::{EventCounters, Stats};
use crate::{v1, v2};

/// The processes of a group: `cgroup.procs`, the same name and format (one pid a line)
/// in every hierarchy of both versions. Writing a pid moves that process.
pub const PROCS: &str = v2::CGROUP_PROCS;

/// cgroup2's `cgroup.kill` (5.14): writing `1` kills every process of the group and below.
pub(crate) const KILL: &str = v2::CGROUP_KILL;

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
    plan: &mut Plan,
) -> Result<BTreeSet<Controller>> {
    v2::plan::plan(m, root_controllers, path, r, required, wanted, must_be_new, plan)
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
    match m.read(g, PROCS) {
        Ok(t) => format::pids(PROCS, &t),
        Err(e) if e.errno() == Some(libc::ENOENT) => Ok(Vec::new()),
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
pub(crate) fn read_stats<S: FileSource>(
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
