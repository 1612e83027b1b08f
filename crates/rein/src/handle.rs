//! [`Cgroup`]: an owned group for programs that start and steer workers.
//!
//! A [`Cgroup`] is a handle on one group: made with limits by a [`Builder`], it starts
//! [`std::process::Command`]s directly inside the group, adopts running processes, changes
//! its limits live, reads its accounting, streams its events, freezes, thaws and kills it.
//! When the handle is dropped, whatever still runs in the group is killed and the group is
//! removed, descendants included, like a [`tempfile::TempDir`](https://docs.rs/tempfile)
//! for processes. [`Cgroup::keep`] and [`Cgroup::into_persistent`] opt out; [`Cgroup::close`]
//! does what drop does and returns the error drop has to swallow.
//!
//! ```no_run
//! use std::process::Command;
//! use rein::{Bytes, Cgroup};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut worker = Cgroup::builder("workers/w1")
//!     .memory_max(Bytes::mib(256))
//!     .cpu_percent(20.0)
//!     .create()?;
//! let mut child = worker.spawn(Command::new("./job").arg("--fast"))?;
//! // Pressure is up: lower the worker's CPU share live.
//! worker.set(&rein::Resources::new().cpu_percent(5.0)?)?;
//! println!("{:?}", worker.stats()?.memory.and_then(|m| m.peak));
//! child.wait()?;
//! worker.close()?; // kill what is left, remove the group, and say if that failed
//! # Ok(()) }
//! ```
//!
//! # Drivers
//!
//! Who makes the group is a [`Driver`]. Without [`Builder::driver`] the handle uses
//! [`Cgroupfs`] (rein writes the files itself, on v2, v1 and hybrid hosts), except where
//! systemd is PID 1 on a pure cgroup v2 host: there a group made behind systemd's back can
//! have its controllers taken away, so the builder refuses and names the two ways out:
//! `rein_systemd::detect_driver`, which picks systemd or cgroupfs with the same policy as
//! the `rein` command (and makes each group a transient slice), or an explicit
//! [`Cgroupfs`] driver (right inside a subtree systemd delegated to you). This crate has no
//! D-Bus code, so the choice including systemd lives in `rein-systemd`.
//!
//! # What a spawned child runs in
//!
//! std's `Command` cannot use clone3 `CLONE_INTO_CGROUP`, but it runs `pre_exec` code in
//! the forked child before execve. Under cgroupfs that code writes `0` into the group's
//! `cgroup.procs` files (every hierarchy on v1 and hybrid hosts), through descriptors the
//! parent opened; under systemd it waits until systemd has moved it into a scope of the
//! group's slice. Either way the program's first instruction already runs inside the
//! group; only the forked copy of the caller runs outside, for a few system calls. A
//! failure to join fails the spawn, with the file and a hint, before the program runs.
//!
//! # Removal and ownership
//!
//! Groups the cgroupfs driver creates carry the ownership mark `transient pid=P start=T` of
//! the process that made them ([`crate::mark`]): if it dies before its handles remove
//! them (`kill -9`), `rein gc` removes them once they are empty. Removal refuses a group
//! whose mark changed since (someone removed it and made it again), and a group holding
//! the calling process itself: killing it would kill the caller.
//!
//! Missing ancestors are created on the way (`workers` for `workers/w1`) and stay when the
//! group goes, as `rein run`'s parent does: sibling handles may still use them.

use std::collections::BTreeSet;
use std::io;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use rustix::fs::OFlags;

use crate::cgroupfs::GroupPath;
use crate::driver::{Cgroupfs, Driver, DriverGroup, Entry};
use crate::error::{Error, Result};
use crate::events::{Options, Watcher};
use crate::group::{Group, Spec};
use crate::hierarchy::{Controller, Hierarchy, Mode};
use crate::launch;
use crate::policy::{Policing, Policy, PressureRule};
use crate::resources::Resources;
use crate::stats::Stats;
use crate::units::{Bytes, CpuList, Limit, Shares, Weight};

/// A handle on one group; see the [module guide](self).
///
/// Dropping it kills what runs in the group and removes the group (best effort; use
/// [`Cgroup::close`] to see errors), unless it is persistent: opened with
/// [`Cgroup::open`] or [`Builder::open`], or made so by [`Cgroup::into_persistent`].
#[derive(Debug)]
pub struct Cgroup {
    name: GroupPath,
    driver: Arc<dyn Driver>,
    inner: Box<dyn DriverGroup>,
    persistent: bool,
    /// Closed, kept or removed already: drop does nothing.
    done: bool,
}

/// Builds a [`Cgroup`]: limits with the setter methods, then [`Builder::create`] or
/// [`Builder::open`]. A bad value is reported by `create`/`open`, so the setters chain.
#[derive(Debug)]
#[must_use = "a builder does nothing until create() or open()"]
pub struct Builder {
    name: String,
    resources: Resources,
    error: Option<Error>,
    accounting: Option<BTreeSet<Controller>>,
    driver: Option<Arc<dyn Driver>>,
}

impl Builder {
    fn new(name: String, driver: Option<Arc<dyn Driver>>) -> Builder {
        Builder { name, resources: Resources::new(), error: None, accounting: None, driver }
    }

    fn fail(mut self, e: Error) -> Builder {
        self.error.get_or_insert(e);
        self
    }

    /// Hard memory limit (`memory.max`; v1 `memory.limit_in_bytes`); `Limit::Max` lifts it.
    pub fn memory_max(mut self, limit: impl Into<Limit<Bytes>>) -> Builder {
        self.resources = self.resources.memory_max(limit);
        self
    }

    /// Memory throttling limit (`memory.high`, cgroup v2 only).
    pub fn memory_high(mut self, limit: impl Into<Limit<Bytes>>) -> Builder {
        self.resources = self.resources.memory_high(limit);
        self
    }

    /// Swap limit (`memory.swap.max`; v1 `memory.memsw.limit_in_bytes` = memory + swap).
    pub fn swap_max(mut self, limit: impl Into<Limit<Bytes>>) -> Builder {
        self.resources = self.resources.swap_max(limit);
        self
    }

    /// CPU bandwidth as a percentage of one CPU (`150.0` = one and a half CPUs), over
    /// the default 100 ms period (`cpu.max`; v1 `cpu.cfs_quota_us`).
    pub fn cpu_percent(self, percent: f64) -> Builder {
        match self.resources.clone().cpu_percent(percent) {
            Ok(r) => Builder { resources: r, ..self },
            Err(e) => self.fail(e),
        }
    }

    /// CPU weight 1..=10000, default 100 (`cpu.weight`; v1 `cpu.shares`).
    pub fn cpu_weight(self, weight: u64) -> Builder {
        match Weight::new(weight) {
            Ok(w) => Builder { resources: self.resources.clone().cpu_weight(w), ..self },
            Err(reason) => self.fail(Error::invalid("CPU weight", weight.to_string(), reason)),
        }
    }

    /// CPU weight in v1's unit, shares 2..=262144, default 1024: `cpu.shares` as given
    /// on v1, `cpu.weight` = shares x 100 / 1024 on cgroup v2 ([`crate::convert::shares_to_weight`]).
    pub fn cpu_shares(self, shares: u64) -> Builder {
        match Shares::new(shares) {
            Ok(s) => Builder { resources: self.resources.clone().cpu_shares(s), ..self },
            Err(reason) => self.fail(Error::invalid("CPU shares", shares.to_string(), reason)),
        }
    }

    /// The CPUs the group may run on, as a list (`"0-1"`, `"0,2"`) (`cpuset.cpus`).
    pub fn cpus(self, list: &str) -> Builder {
        match CpuList::parse_nonempty(list) {
            Ok(c) => Builder { resources: self.resources.clone().cpus(c), ..self },
            Err(reason) => self.fail(Error::invalid("cpuset.cpus", list, reason)),
        }
    }

    /// Most tasks (processes and threads) the group may hold (`pids.max`).
    pub fn pids_max(mut self, max: impl Into<Limit<u64>>) -> Builder {
        self.resources = self.resources.pids_max(max);
        self
    }

    /// Any limits of the model; fields set here win over those set before.
    pub fn resources(mut self, resources: &Resources) -> Builder {
        self.resources.merge(resources);
        self
    }

    /// The controllers the group gets even without a limit on them, so that a limit can be
    /// set on them later and their accounting is there. By default every limit controller
    /// the host offers (cpu, cpuset, memory, io, pids; on v1 also cpuacct and freezer), as
    /// `rein create` does; ones the host lacks are skipped.
    pub fn accounting(mut self, controllers: impl IntoIterator<Item = Controller>) -> Builder {
        self.accounting = Some(controllers.into_iter().collect());
        self
    }

    /// Who makes the group (see the module guide); shared by many handles.
    pub fn driver(mut self, driver: Arc<dyn Driver>) -> Builder {
        self.driver = Some(driver);
        self
    }

    fn parts(self) -> Result<(GroupPath, Spec, Arc<dyn Driver>)> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let name = GroupPath::parse(&self.name)?;
        self.resources.validate()?;
        let driver = match self.driver {
            Some(d) => d,
            None => default_driver()?,
        };
        let accounting = self.accounting.unwrap_or_else(|| default_accounting(driver.hierarchy()));
        Ok((name, Spec { resources: self.resources, accounting }, driver))
    }

    /// Creates the group with the limits given. Fails if it exists; nothing is left behind
    /// on failure. The handle removes the group when dropped.
    pub fn create(self) -> Result<Cgroup> {
        let (name, spec, driver) = self.parts()?;
        let inner = driver.create(&name, &spec)?;
        Ok(Cgroup { name, driver, inner, persistent: false, done: false })
    }

    /// Opens the existing group and applies the limits given, live (none: it is left as
    /// it is). The handle is persistent: dropping it leaves the group.
    pub fn open(self) -> Result<Cgroup> {
        let (name, spec, driver) = self.parts()?;
        let mut inner = driver.open(&name)?;
        if !spec.resources.is_empty() {
            inner.update(&spec.resources)?;
        }
        Ok(Cgroup { name, driver, inner, persistent: true, done: false })
    }
}

/// The controllers a handle's group gets by default (see [`Builder::accounting`]).
fn default_accounting(h: &Hierarchy) -> BTreeSet<Controller> {
    let mut set: BTreeSet<Controller> =
        [Controller::Cpu, Controller::Cpuset, Controller::Memory, Controller::Io, Controller::Pids].into();
    if h.mode() != Mode::Unified {
        set.extend([Controller::Cpuacct, Controller::Freezer]);
    }
    set
}

/// The driver of a builder without [`Builder::driver`]: [`Cgroupfs`], unless systemd
/// manages the hierarchy (PID 1 on a pure cgroup v2 host, the condition the systemd driver
/// policy starts from), where writing behind its back is a trap.
fn default_driver() -> Result<Arc<dyn Driver>> {
    let h = Arc::new(Hierarchy::detect()?);
    if h.mode() == Mode::Unified && std::path::Path::new("/run/systemd/system").is_dir() {
        return Err(Error::state(
            "systemd is PID 1 and manages this cgroup v2 hierarchy: a group rein writes behind its back can lose \
             its controllers",
            Some(
                "choose a driver: rein_systemd::detect_driver() (systemd here, as the rein command does), or \
                 Builder::driver(Arc::new(rein::driver::Cgroupfs::detect()?)) inside a subtree systemd delegated \
                 to you"
                    .into(),
            ),
        ));
    }
    Ok(Arc::new(Cgroupfs::new(h)))
}

/// The hint for a child that could not join its group through `cgroup.procs`.
pub(crate) fn join_hint(errno: Option<i32>) -> Option<String> {
    match errno {
        Some(libc::ENOSPC) => Some(
            "the group's cpuset.cpus or cpuset.mems is empty, and no process can join a cpuset without CPUs and \
             memory nodes: set both first (the parent's cpuset.cpus and cpuset.mems say what it may have)"
                .into(),
        ),
        Some(libc::EAGAIN) => Some("the group's pids.max leaves no room for another task".into()),
        Some(libc::EACCES) | Some(libc::EPERM) => Some(
            "moving a process needs write access to cgroup.procs of the common ancestor of its old and new group"
                .into(),
        ),
        Some(libc::ENODEV) | Some(libc::ENOENT) => Some("the group was removed meanwhile".into()),
        _ => None,
    }
}

/// A rein error as an `io::Error` of the matching kind; `get_ref()` gives the rein error.
fn to_io(e: Error) -> io::Error {
    let kind = e.errno().map(|n| io::Error::from_raw_os_error(n).kind()).unwrap_or(io::ErrorKind::Other);
    io::Error::new(kind, e)
}

impl Cgroup {
    /// A builder for the group `name`: a path relative to the hierarchy root, such as
    /// `workers/w1` (see [`GroupPath::parse`] for what a name may hold).
    pub fn builder(name: impl Into<String>) -> Builder {
        Builder::new(name.into(), None)
    }

    /// Opens the existing group `name` with the default driver, leaving its limits as
    /// they are. The handle is persistent: dropping it leaves the group.
    pub fn open(name: impl Into<String>) -> Result<Cgroup> {
        Cgroup::builder(name).open()
    }

    /// A builder for the child group `name` of this one (`workers/w1` + `a` =
    /// `workers/w1/a`), with this handle's driver. Its limits nest inside this group's.
    pub fn child(&self, name: &str) -> Builder {
        Builder::new(format!("{}/{name}", self.name.as_str()), Some(self.driver.clone()))
    }

    /// The name the group was made or opened with.
    pub fn name(&self) -> &GroupPath {
        &self.name
    }

    /// The group's cgroup path relative to the hierarchy root: the name under cgroupfs,
    /// the slice's cgroup under systemd (`rein.slice/rein-workers.slice/...`).
    pub fn path(&self) -> &GroupPath {
        self.inner.group().path()
    }

    /// The service manager's unit for the group (systemd: its slice), if any.
    pub fn unit(&self) -> Option<&str> {
        self.inner.unit()
    }

    /// The driver's name: "cgroupfs" or "systemd".
    pub fn driver_name(&self) -> &str {
        self.driver.name()
    }

    /// The lower-level [`Group`], for what this handle does not offer.
    pub fn group(&self) -> &Group {
        self.inner.group()
    }

    /// The hierarchy the group lives in.
    pub fn hierarchy(&self) -> &Arc<Hierarchy> {
        self.driver.hierarchy()
    }

    /// Whether dropping the handle leaves the group (see [`Cgroup::into_persistent`]).
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// Starts `cmd` inside the group: its program's first instruction runs there (see the
    /// module guide for how). Returns std's [`Child`]; wait for it as usual.
    ///
    /// A failure to join the group is an `io::Error` whose [`io::Error::get_ref`] is the
    /// [`Error`] with the file and a hint; the program did not run. Errors of the program
    /// itself (not found, not executable) are std's, unchanged.
    ///
    /// The Command keeps a disarmed `pre_exec` step afterwards: it can be spawned again,
    /// here or into another group, or plainly. std runs `pre_exec` steps after the
    /// Command's `uid`/`gid` changes: under cgroupfs the new identity must be allowed to
    /// write the group's `cgroup.procs` (a delegated subtree), or the spawn fails with
    /// EACCES and a hint.
    ///
    /// The child starts with SIGCHLD at its default action, even where this process
    /// ignores SIGCHLD (then the kernel reaps the child and [`Child::wait`] fails with
    /// ECHILD: that is this process's choice, which rein does not change). Free stdio slots
    /// of this process (fd 0, 1 or 2 closed) are held while the child is spawned, so that
    /// std's fork path cannot hand the program a closed stdio fd ([`launch::StdioSlots`]).
    pub fn spawn(&self, cmd: &mut Command) -> io::Result<Child> {
        // See launch::StdioSlots: a host with fd 0, 1 or 2 closed would otherwise hand the
        // program a closed stdio fd through std's fork path.
        let _slots = launch::StdioSlots::take();
        match self.inner.entry() {
            Entry::AddPid => self.spawn_adopted(cmd),
            _ => self.spawn_joining(cmd),
        }
    }

    fn spawn_joining(&self, cmd: &mut Command) -> io::Result<Child> {
        let group = self.inner.group();
        let h = group.hierarchy();
        let mut fds = Vec::new();
        let mut files = Vec::new();
        for n in group.nodes() {
            let m = n.place.mount(h);
            fds.push(m.open_file(group.path(), crate::backend::PROCS, OFlags::WRONLY).map_err(to_io)?);
            files.push(m.file_path(group.path(), crate::backend::PROCS));
        }
        let join = launch::join_on_exec(cmd, fds)?;
        let spawned = cmd.spawn();
        match (spawned, join.finish()) {
            (Err(_), Some((i, cause))) => {
                let program = cmd.get_program().to_string_lossy().into_owned();
                let hint = join_hint(cause.raw_os_error());
                Err(to_io(Error::Io {
                    op: format!("move '{program}' into"),
                    path: files.get(i).cloned().unwrap_or_default(),
                    cause,
                    hint,
                }))
            }
            (spawned, _) => spawned,
        }
    }

    /// Under a manager that moves processes itself: the child waits before execve while a
    /// second thread has the driver add its pid, then releases it. The spawning thread is
    /// inside `Command::spawn` meanwhile, which returns only after execve.
    fn spawn_adopted(&self, cmd: &mut Command) -> io::Result<Child> {
        let (hold, mut held) = launch::hold_on_exec(cmd)?;
        std::thread::scope(|s| {
            let helper = s.spawn(move || -> Option<Result<()>> {
                let pid = held.pid()?;
                match self.inner.add_pid(pid) {
                    Ok(()) => {
                        Some(held.release().map_err(|e| Error::Spawn { program: format!("pid {pid}"), cause: e }))
                    }
                    // Dropping `held` closes the gate: the child fails before execve.
                    Err(e) => Some(Err(e)),
                }
            });
            let spawned = cmd.spawn();
            // No child will report after this: a helper still waiting for a pid stops.
            hold.finish();
            let adopted =
                helper.join().unwrap_or_else(|_| Some(Err(Error::state("the spawn helper thread panicked", None))));
            match (spawned, adopted) {
                (Ok(child), Some(Ok(()))) => Ok(child),
                (Ok(mut child), Some(Err(e))) => {
                    // Cannot happen (a child that was not released cannot execve); never
                    // leave it running outside the group if it does.
                    let _ = child.kill();
                    let _ = child.wait();
                    Err(to_io(e))
                }
                (Ok(mut child), None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    Err(io::Error::other(format!(
                        "{} started without passing through its pre_exec hold; not in group {}",
                        child.id(),
                        self.name
                    )))
                }
                (Err(_), Some(Err(e))) => Err(to_io(e)),
                (Err(e), _) => Err(e),
            }
        })
    }

    /// Moves a running process (all its threads) into the group, in every hierarchy it
    /// lives in. A pid that does not exist is refused; nothing is half-moved on failure.
    pub fn add_pid(&self, pid: u32) -> Result<()> {
        if pid == 0 {
            return Err(Error::invalid(
                "pid",
                "0",
                "0 would name the writing process; pass a real pid (std::process::id() for this one)",
            ));
        }
        self.inner.add_pid(pid)
    }

    /// The processes in the group and below it.
    pub fn pids(&self) -> Result<Vec<u32>> {
        self.inner.group().all_procs()
    }

    /// Whether any process is in the group or below it.
    pub fn is_populated(&self) -> Result<bool> {
        self.inner.group().is_populated()
    }

    /// Changes the limits live: fields set in `resources` are written, the rest are left
    /// as they are (`Limit::Max` lifts a limit). On failure the values already changed
    /// are restored.
    pub fn set(&mut self, resources: &Resources) -> Result<()> {
        resources.validate()?;
        self.inner.update(resources)
    }

    /// The group's accounting now (CPU time and throttling, memory, pids, IO, pressure),
    /// the same schema in every mode; see [`Stats`].
    pub fn stats(&self) -> Result<Stats> {
        self.inner.group().stats()
    }

    /// Waits, within `limits`, until the group's TCP sockets have sent what its processes
    /// left in them (see [`crate::drain`]): call it after the processes are gone and
    /// before reading the network counters with [`Cgroup::stats`]. `interrupt`, when
    /// readable, ends the wait. Returns what was still queued when it ended.
    pub fn wait_sockets_drained(
        &self,
        limits: &crate::drain::DrainLimits,
        interrupt: Option<std::os::fd::BorrowedFd<'_>>,
    ) -> Result<crate::drain::Drain> {
        self.inner.group().wait_sockets_drained(limits, interrupt)
    }

    /// A [`Watcher`] of the group's events: OOM kills, limit hits, the pressure triggers
    /// of `options`, the group becoming empty. It is independent of the handle: it ends
    /// (as an iterator) once the group is removed.
    pub fn events(&self, options: Options) -> Result<Watcher> {
        let mut w = Watcher::new(self.hierarchy().clone(), options)?;
        w.add(self.inner.group())?;
        Ok(w)
    }

    /// Enforces `policy` on the group from a thread of its own until the returned
    /// [`Policing`] is stopped or dropped (which thaws the group and restores throttled
    /// limits). Its actions come from [`Policing::actions`]; see [`crate::policy`].
    ///
    /// ```no_run
    /// # fn main() -> rein::Result<()> {
    /// use rein::policy::Policy;
    /// let job = rein::Cgroup::builder("rein/job").cpu_percent(200.0).create()?;
    /// // Lower cpu.max step by step while the group's tasks wait for CPU over half the time.
    /// let policing = job.on_pressure("cpu:some:50%/1s=throttle".parse()?)?;
    /// // ... spawn the work, then:
    /// for action in policing.actions() {
    ///     println!("{action}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn police(&self, policy: &Policy) -> Result<Policing> {
        if policy.timeout.is_some() || policy.cpu_time.is_some() || !policy.on_pressure.is_empty() {
            self.refuse_self("police")?;
        }
        Policing::start(self.hierarchy().clone(), self.path(), policy)
    }

    /// [`Cgroup::police`] with one pressure rule.
    pub fn on_pressure(&self, rule: PressureRule) -> Result<Policing> {
        let mut policy = Policy::default();
        policy.on_pressure.push(rule);
        self.police(&policy)
    }

    /// [`Cgroup::police`] with a wall-clock deadline: `after` from now every process of
    /// the group gets SIGTERM, and `kill_after` later the group is killed.
    pub fn deadline(&self, after: Duration, kill_after: Duration) -> Result<Policing> {
        let policy = Policy { timeout: Some(after), kill_after: Some(kill_after), ..Policy::default() };
        self.police(&policy)
    }

    /// Freezes every process in the group and below, and waits until they are.
    pub fn freeze(&self) -> Result<()> {
        self.refuse_self("freeze")?;
        self.inner.freeze(true)
    }

    /// Thaws the group.
    pub fn thaw(&self) -> Result<()> {
        self.inner.freeze(false)
    }

    /// Sends `signal` to every process in the group and below; returns how many got it.
    pub fn signal(&self, signal: i32) -> Result<usize> {
        self.refuse_self("signal")?;
        crate::lifecycle::signal_all(self.inner.group(), signal)
    }

    /// Kills every process in the group and below (`cgroup.kill`, or SIGKILL under a
    /// frozen v1 freezer) and waits until the group is empty. The group stays.
    pub fn kill(&self) -> Result<()> {
        self.refuse_self("kill")?;
        crate::lifecycle::kill_all(self.inner.group())
    }

    /// Ends the handle and leaves the group, and whatever runs in it, as it is. Returns
    /// the group's cgroup path. A group this handle created is marked `named` from now on
    /// (cgroupfs), so `rein gc` leaves it alone; the error says if that failed (the group
    /// stays all the same).
    pub fn keep(mut self) -> Result<GroupPath> {
        self.done = true;
        self.inner.persist()?;
        Ok(self.path().clone())
    }

    /// The same handle, persistent from now on: dropping or closing it leaves the group.
    /// The group is marked `named` as by [`Cgroup::keep`]; on error the handle is gone but
    /// the group stays.
    pub fn into_persistent(mut self) -> Result<Cgroup> {
        self.persistent = true;
        self.inner.persist()?;
        Ok(self)
    }

    /// Does what dropping the handle does and returns its error: kills what is left in
    /// the group and removes it with its descendants (a persistent handle leaves the
    /// group and returns `Ok`). A group that is gone already is fine.
    pub fn close(mut self) -> Result<()> {
        self.done = true;
        if self.persistent { Ok(()) } else { self.shut_down() }
    }

    /// Kills what is left in the group and removes it with its descendants, persistent or
    /// not (for groups opened to be deleted).
    pub fn remove(mut self) -> Result<()> {
        self.done = true;
        self.shut_down()
    }

    fn refuse_self(&self, what: &str) -> Result<()> {
        let me = std::process::id();
        if self.inner.group().all_procs()?.contains(&me) {
            return Err(Error::state(
                format!("cannot {what} group {}: this process ({me}) is in it", self.path()),
                Some("move this process out first (e.g. Cgroup::open of another group, then add_pid)".into()),
            ));
        }
        Ok(())
    }

    fn shut_down(&mut self) -> Result<()> {
        self.refuse_self("remove")?;
        self.inner.remove()
    }
}

impl Drop for Cgroup {
    /// Kills what is left and removes the group, unless the handle is persistent or was
    /// closed, kept or removed already. Errors are ignored; [`Cgroup::close`] returns them.
    fn drop(&mut self) {
        if !self.done && !self.persistent {
            let _ = self.shut_down();
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code)] // tests close fd 0 and ignore SIGCHLD in a process of their own, as host programs may
mod tests {
    use super::*;
    use crate::testing::{FakeTree, Layout};

    fn fake(tree: &FakeTree) -> Arc<dyn Driver> {
        Arc::new(Cgroupfs::new(tree.hierarchy()))
    }

    #[test]
    fn builder_errors_come_from_create_and_name_the_value() {
        let tree = FakeTree::new(Layout::V2);
        let e = Cgroup::builder("w").driver(fake(&tree)).cpu_percent(0.0).memory_max(Bytes::mib(1)).create();
        assert!(e.unwrap_err().to_string().contains("CPU limit"));
        let e = Cgroup::builder("w").driver(fake(&tree)).cpu_weight(0).create().unwrap_err();
        assert!(e.to_string().starts_with("invalid CPU weight '0'"), "{e}");
        let e = Cgroup::builder("w").driver(fake(&tree)).cpus("9-").create().unwrap_err();
        assert!(e.to_string().contains("cpuset.cpus"), "{e}");
        let e = Cgroup::builder("../w").driver(fake(&tree)).create().unwrap_err();
        assert!(matches!(e, Error::InvalidName { .. }), "{e}");
        let e = Cgroup::builder("w").driver(fake(&tree)).pids_max(0).create().unwrap_err();
        assert!(e.to_string().contains("pids limit"), "{e}");
        // The first error wins, and nothing was made.
        let e = Cgroup::builder("w").driver(fake(&tree)).cpu_weight(0).cpu_percent(-1.0).create().unwrap_err();
        assert!(e.to_string().contains("CPU weight"), "{e}");
        assert!(!tree.path().join("w").exists());
    }

    #[test]
    fn an_opened_group_is_left_on_drop_and_takes_limits_live() {
        let tree = FakeTree::new(Layout::V2);
        std::fs::write(tree.path().join("cgroup.subtree_control"), "cpuset cpu io memory pids\n").unwrap();
        tree.group("web");
        let cg = Cgroup::builder("web").driver(fake(&tree)).memory_max(Bytes::mib(2)).open().unwrap();
        assert!(cg.is_persistent());
        assert_eq!((cg.name().as_str(), cg.path().as_str(), cg.driver_name()), ("web", "web", "cgroupfs"));
        assert_eq!(std::fs::read_to_string(tree.path().join("web/memory.max")).unwrap(), "2097152");
        drop(cg);
        assert!(tree.path().join("web/memory.max").exists());
        let e = Cgroup::builder("nope").driver(fake(&tree)).open().unwrap_err();
        assert!(e.to_string().contains("no group /nope"), "{e}");
    }

    #[test]
    fn spawn_writes_the_child_into_every_hierarchy_before_exec() {
        for layout in [Layout::V2, Layout::V1, Layout::Hybrid] {
            let tree = FakeTree::new(layout);
            let dirs = tree.group("w");
            let cg = Cgroup::builder("w").driver(fake(&tree)).open().unwrap();
            // The child reads the files it wrote itself into before execve.
            let files: Vec<String> = dirs.iter().map(|d| d.join("cgroup.procs").display().to_string()).collect();
            let out = cg
                .spawn(Command::new("cat").args(&files).stdout(std::process::Stdio::piped()))
                .unwrap()
                .wait_with_output()
                .unwrap();
            assert!(out.status.success());
            assert_eq!(String::from_utf8(out.stdout).unwrap(), "0".repeat(files.len()), "{layout:?}");
        }
    }

    #[test]
    fn a_child_that_cannot_join_does_not_run() {
        let tree = FakeTree::new(Layout::V2);
        let dirs = tree.group("w");
        let cg = Cgroup::builder("w").driver(fake(&tree)).open().unwrap();
        // The kernel's refusals happen in the child (the real-kernel tests and launch's
        // tests cover them); here the file is gone, so opening it fails before any fork.
        std::fs::remove_file(dirs[0].join("cgroup.procs")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("ran");
        let e = cg.spawn(Command::new("touch").arg(&mark)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let inner = e.get_ref().and_then(|i| i.downcast_ref::<Error>()).expect("a rein error inside");
        assert!(inner.to_string().contains("cgroup.procs"), "{inner}");
        assert!(!mark.exists());
    }

    #[test]
    fn add_pid_refuses_0_and_missing_processes() {
        let tree = FakeTree::new(Layout::V1);
        tree.group("w");
        let cg = Cgroup::builder("w").driver(fake(&tree)).open().unwrap();
        assert!(cg.add_pid(0).unwrap_err().to_string().contains("writing process"));
        assert!(cg.add_pid(u32::MAX - 1).unwrap_err().to_string().contains("no such process"));
        let me = std::process::id();
        cg.add_pid(me).unwrap();
        assert_eq!(std::fs::read_to_string(tree.path().join("memory/w/cgroup.procs")).unwrap(), me.to_string());
        // The fake's cgroup.procs now lists this process: the handle refuses to kill it.
        let e = cg.kill().unwrap_err();
        assert!(e.to_string().contains(&format!("this process ({me}) is in it")), "{e}");
    }

    #[test]
    fn spawn_joins_and_keeps_the_childs_stdio_when_the_host_closed_fd_0() {
        if !crate::test_support::in_own_process(
            "handle::tests::spawn_joins_and_keeps_the_childs_stdio_when_the_host_closed_fd_0",
        ) {
            return;
        }
        use std::io::{Read, Write};
        let tree = FakeTree::new(Layout::Hybrid);
        let dirs = tree.group("w");
        let cg = Cgroup::builder("w").driver(fake(&tree)).open().unwrap();
        // A host program that closed its stdin: the cgroup.procs files the spawn opens get
        // fd 0 and up, the numbers std then dup2()s the child's stdio onto.
        // SAFETY: this process is the test's own; nothing else uses fd 0.
        unsafe { libc::close(0) };
        let mut child = cg
            .spawn(Command::new("cat").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()))
            .unwrap();
        child.stdin.take().unwrap().write_all(b"input").unwrap();
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(out, "input");
        for d in &dirs {
            assert_eq!(std::fs::read_to_string(d.join("cgroup.procs")).unwrap(), "0", "{}", d.display());
        }
    }

    /// Whether /proc/PID/status text says `signal` is ignored.
    fn ignores(status: &str, signal: i32) -> bool {
        let line = status.lines().find_map(|l| l.strip_prefix("SigIgn:")).expect("a SigIgn line");
        let mask = u64::from_str_radix(line.trim(), 16).expect("hex mask");
        mask & (1 << (signal - 1)) != 0
    }

    #[test]
    fn a_spawned_child_starts_with_sigchld_at_its_default() {
        if !crate::test_support::in_own_process("handle::tests::a_spawned_child_starts_with_sigchld_at_its_default") {
            return;
        }
        use std::io::Read;
        // A host that ignores SIGCHLD (the kernel reaps its children: it cannot wait for
        // them, its choice); the command must not inherit that, or its own waits fail.
        // SAFETY: this process is the test's own.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
        let tree = FakeTree::new(Layout::V2);
        tree.group("w");
        let cg = Cgroup::builder("w").driver(fake(&tree)).open().unwrap();
        let mut child =
            cg.spawn(Command::new("cat").arg("/proc/self/status").stdout(std::process::Stdio::piped())).unwrap();
        let mut status = String::new();
        child.stdout.take().unwrap().read_to_string(&mut status).unwrap();
        let _ = child.wait(); // ECHILD: the kernel reaped it
        assert!(!ignores(&status, libc::SIGCHLD), "{status}");
        assert!(ignores(&std::fs::read_to_string("/proc/self/status").unwrap(), libc::SIGCHLD));
    }

    #[test]
    fn handles_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Cgroup>();
        shared::<Arc<dyn Driver>>();
    }

    #[test]
    fn the_default_accounting_is_every_limit_controller() {
        let tree = FakeTree::new(Layout::V2);
        assert_eq!(default_accounting(&tree.hierarchy()).len(), 5);
        let tree = FakeTree::new(Layout::Hybrid);
        assert!(default_accounting(&tree.hierarchy()).contains(&Controller::Freezer));
    }
}
