//! Drivers: who makes the groups rein uses, through one seam, [`Driver`].
//!
//! By default rein writes the cgroup files itself: the [`Cgroupfs`] driver. Where a
//! service manager owns the hierarchy (systemd as PID 1 on a cgroup v2 host), groups made
//! behind its back can have their limits reset or be moved, so rein asks the manager for
//! units instead. The systemd drivers live in the `rein-systemd` crate, which keeps D-Bus
//! out of this library: `rein_systemd::SliceDriver` makes each group a transient slice
//! and each process added to it a scope inside it; `rein_systemd::Systemd` makes the
//! scope of one `rein run` around its command, with a per-run slice for the accounting.
//!
//! A driver makes a group in one of two ways:
//! - [`Driver::create`]: a group that exists before any process is in it, lives until
//!   its handle removes it, and takes processes with [`DriverGroup::add_pid`] (the
//!   [`crate::Cgroup`] handles);
//! - [`Driver::create_around`]: a group made around a process that was started held before
//!   execve ([`crate::launch::spawn_held`]) and is released once the group holds it, the
//!   form a manager that makes units from pids needs (systemd's scopes, `rein run` under
//!   systemd, the supervisor in the `rein` binary). rein still supervises the command, kills what
//!   it leaves behind and reads the accounting; the driver removes the group.

use std::fmt;
use std::os::fd::BorrowedFd;
use std::sync::Arc;

use crate::cgroupfs::GroupPath;
use crate::error::{Error, Result};
use crate::group::{Group, Spec};
use crate::hierarchy::Hierarchy;
use crate::mark::Mark;
use crate::procfs::ProcTable;
use crate::resources::Resources;
use crate::stats::Stats;

/// What cuts a wait on a service manager short. `rein run` blocks its termination signals
/// from the start (so that a ^C cannot kill it between creating a unit and removing it);
/// while the manager has not answered, those signals must still end the wait:
/// `rein run`'s supervisor (in the `rein` binary) gives one that does.
pub trait Interrupt: fmt::Debug + Send + Sync {
    /// A descriptor that becomes readable once the wait should end.
    fn fd(&self) -> BorrowedFd<'_>;

    /// Takes what made [`Interrupt::fd`] readable, so that a later wait (the cleanup's) is
    /// not cut short by the same request, and returns the signal behind it, if a signal.
    fn take(&self) -> Option<i32>;
}

/// Makes and opens groups (see the module guide): [`Cgroupfs`] here, the systemd drivers
/// in the `rein-systemd` crate (chosen by `rein_systemd::detect_driver`).
pub trait Driver: fmt::Debug + Send + Sync {
    /// Its name in messages: "cgroupfs", "systemd".
    fn name(&self) -> &str;

    /// The hierarchy its groups live in.
    fn hierarchy(&self) -> &Arc<Hierarchy>;

    /// Creates the group `name` with `spec`. Fails if it exists; nothing is left behind
    /// on failure.
    fn create(&self, name: &GroupPath, spec: &Spec) -> Result<Box<dyn DriverGroup>>;

    /// Opens the existing group `name`.
    fn open(&self, name: &GroupPath) -> Result<Box<dyn DriverGroup>>;

    /// Makes a group with `spec` around the process `pid`, a child held before execve
    /// that the caller releases once this returns; the driver names the group. Nothing is
    /// left behind on failure. The default creates `run-PID` with [`Driver::create`] and
    /// moves the process in with [`DriverGroup::add_pid`]; a manager that makes units from
    /// pids does it in one step.
    fn create_around(&self, spec: &Spec, pid: u32) -> Result<Box<dyn DriverGroup>> {
        let name = GroupPath::parse(&format!("run-{pid}"))?;
        let mut group = self.create(&name, spec)?;
        if let Err(e) = group.add_pid(pid) {
            let _ = group.remove();
            return Err(e);
        }
        Ok(group)
    }
}

/// How a child that [`crate::Cgroup::spawn`] starts gets into a [`DriverGroup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry {
    /// The child writes itself into the `cgroup.procs` file of each of the group's
    /// directories before execve ([`crate::launch::join_on_exec`]).
    ProcsFiles,
    /// The child waits before execve until [`DriverGroup::add_pid`] has moved it
    /// ([`crate::launch::hold_on_exec`]): for managers that move processes themselves.
    AddPid,
}

/// One group made or opened by a [`Driver`].
pub trait DriverGroup: fmt::Debug + Send + Sync {
    /// The cgroup: stats, events, processes and kill go through it.
    fn group(&self) -> &Group;

    /// The service manager's unit for the group, if any (e.g. `rein-web.slice`,
    /// `rein-run-42.scope`).
    fn unit(&self) -> Option<&str> {
        None
    }

    /// Kills every process in the group and below and waits until it is empty. A group
    /// that vanished meanwhile (a manager removes an emptied unit's cgroup at once) counts
    /// as empty.
    fn kill(&self) -> Result<()> {
        match crate::lifecycle::kill_all(self.group()) {
            Err(_) if !self.group().exists() => Ok(()),
            other => other,
        }
    }

    /// The group's accounting, also once its processes are gone: a manager that removes
    /// an empty unit's cgroup reads it wherever the figures outlive it.
    fn final_stats(&self) -> Result<Stats> {
        self.group().stats()
    }

    /// How [`crate::Cgroup::spawn`] puts a child in.
    fn entry(&self) -> Entry;

    /// Moves process `pid` (all its threads) into the group. Nothing is half-moved on failure.
    fn add_pid(&self, pid: u32) -> Result<()>;

    /// Changes the limits live (fields not set in `resources` are left alone); on failure
    /// the values already changed are restored.
    fn update(&mut self, resources: &Resources) -> Result<()>;

    /// Freezes (`true`) or thaws the group and waits until it is done.
    fn freeze(&self, frozen: bool) -> Result<()>;

    /// Records that the group outlives its handle (the cgroupfs driver turns its
    /// `transient` ownership mark into `named`, so `rein gc` leaves it alone).
    fn persist(&mut self) -> Result<()>;

    /// Kills every process in the group and below, then removes the group and its
    /// descendants. A group that is gone already counts as removed.
    fn remove(&mut self) -> Result<()>;
}

/// The cgroupfs driver for [`crate::Cgroup`] handles: rein writes the cgroup files itself
/// (cgroup v2, v1 and hybrid hosts, as [`Group`] does).
///
/// Groups it creates carry the ownership mark `transient pid=P start=T` of the calling
/// process ([`crate::mark`]): if the process dies before its handles remove them,
/// `rein gc` collects them once they are empty. [`DriverGroup::persist`] makes the mark
/// `named`.
#[derive(Debug, Clone)]
pub struct Cgroupfs {
    h: Arc<Hierarchy>,
}

impl Cgroupfs {
    /// The driver over `h`.
    pub fn new(h: Arc<Hierarchy>) -> Cgroupfs {
        Cgroupfs { h }
    }

    /// The driver over this host's hierarchy ([`Hierarchy::detect`]).
    pub fn detect() -> Result<Cgroupfs> {
        Ok(Cgroupfs::new(Arc::new(Hierarchy::detect()?)))
    }
}

impl Driver for Cgroupfs {
    fn name(&self) -> &str {
        "cgroupfs"
    }

    fn hierarchy(&self) -> &Arc<Hierarchy> {
        &self.h
    }

    fn create(&self, name: &GroupPath, spec: &Spec) -> Result<Box<dyn DriverGroup>> {
        let mark = Mark::transient_for_self(&ProcTable::default())?;
        let group = Group::create_marked(self.h.clone(), name, spec, mark)?;
        Ok(Box::new(CgroupfsGroup { group, mark: Some(mark) }))
    }

    fn open(&self, name: &GroupPath) -> Result<Box<dyn DriverGroup>> {
        Ok(Box::new(CgroupfsGroup { group: Group::open(self.h.clone(), name)?, mark: None }))
    }
}

/// A group of the [`Cgroupfs`] driver.
#[derive(Debug)]
struct CgroupfsGroup {
    group: Group,
    /// The mark this handle gave the group when it created it; removal checks that the
    /// directory still carries it. None for opened groups.
    mark: Option<Mark>,
}

impl DriverGroup for CgroupfsGroup {
    fn group(&self) -> &Group {
        &self.group
    }

    fn entry(&self) -> Entry {
        Entry::ProcsFiles
    }

    fn add_pid(&self, pid: u32) -> Result<()> {
        crate::lifecycle::move_pids(&self.group, None, &[pid], &ProcTable::default())
    }

    fn update(&mut self, resources: &Resources) -> Result<()> {
        let change = crate::lifecycle::Change {
            spec: Spec { resources: resources.clone(), accounting: Default::default() },
            raw: Vec::new(),
        };
        crate::lifecycle::set(&mut self.group, &change)
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        self.group.freeze(frozen)
    }

    fn persist(&mut self) -> Result<()> {
        if self.mark.is_none() {
            return Ok(());
        }
        let h = self.group.hierarchy();
        for n in self.group.nodes() {
            n.place.mount(h).set_xattr(self.group.path(), crate::mark::XATTR, &Mark::Named.value())?;
        }
        self.mark = Some(Mark::Named);
        Ok(())
    }

    fn remove(&mut self) -> Result<()> {
        let h = self.group.hierarchy().clone();
        let path = self.group.path().clone();
        let group = match Group::open(h, &path) {
            Ok(g) => g,
            Err(Error::State { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        if let Some(mine) = self.mark {
            let now = group.mark()?;
            if now != Some(mine) {
                return Err(Error::state(
                    format!(
                        "group {path} is no longer the one this handle created: its mark is {}, not '{}'; left alone",
                        now.map(|m| format!("'{}'", m.value())).unwrap_or_else(|| "gone".into()),
                        mine.value()
                    ),
                    Some(
                        "someone removed the group and made it again (or changed its user.rein mark); remove it \
                         with 'rein rm' if it is yours"
                            .into(),
                    ),
                ));
            }
        }
        let removal =
            crate::lifecycle::plan_remove(&group, crate::lifecycle::RemoveOptions { kill: true, recursive: true })?;
        crate::lifecycle::remove(&group, &removal)
    }
}
