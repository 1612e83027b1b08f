//! `rein run`: one command in a transient group, supervised to the end.
//!
//! The life of a run:
//! 1. [`Supervisor::install`] blocks SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGCHLD and
//!    reads them from a signalfd, before the group exists: a ^C during setup can no longer
//!    kill rein between mkdir and rmdir and strand a group.
//! 2. The group is created with its limits (nothing is left if a write fails), and
//!    marked as this process's ([`rein::mark`]), so `rein gc` can collect it if
//!    rein is killed before it removes the group.
//! 3. The command starts inside it ([`rein::launch`]).
//! 4. Signals sent to rein are forwarded to the command, except those the kernel sent
//!    to the whole foreground process group (a terminal's ^C), which the command got
//!    already.
//! 5. When the command exits, whatever it left running in the group is killed: a
//!    transient group ends with its command. A group with rein's network programs then
//!    waits, bounded, for its TCP sockets to finish sending what the command left in them
//!    ([`rein::drain`]), when the accounting is reported. Then the final accounting is read
//!    and the group removed.
//!
//! [`run_in_unit`] is the same life with a service manager's unit as the group (the systemd
//! driver, see [`rein::driver`]): the command starts held, the manager creates the unit
//! around its pid, then the command is released; at the end the manager removes the unit.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use rein::Hierarchy;
use rein::cgroupfs::GroupPath;
use rein::drain::{Drain, DrainEnd, DrainLimits};
use rein::driver::{Driver, Interrupt};
use rein::group::{AttachFds, Group, Spec};
use rein::launch::{self, ExitStatus, Prepared, Rusage, SigMask, SpawnError};
use rein::plan::Place;
use rein::policy::{Enforcer, Policy, Verdict};
use rein::stats::Stats;
use rein::{Error, Result};

pub use rein::mark::DEFAULT_PARENT;

/// Blocks the signals a supervisor handles and reads them from a signalfd.
pub struct Supervisor {
    sigfd: OwnedFd,
    child_mask: SigMask,
}

impl Supervisor {
    /// Blocks the forwarded signals and SIGCHLD in this thread. Call it before creating
    /// the group, in a single-threaded program or before other threads start (they
    /// inherit the mask).
    ///
    /// It also sets SIGCHLD to its default action: a parent that ignores SIGCHLD hands that
    /// to rein through execve, and the kernel would then reap the command itself, leaving
    /// rein no status to report.
    pub fn install() -> Result<Supervisor> {
        launch::sigchld_default();
        let mut signals = launch::FORWARDED.to_vec();
        signals.push(libc::SIGCHLD);
        let child_mask = launch::block(&signals);
        let sigfd = launch::signalfd(&signals).map_err(|e| Error::Spawn { program: "signalfd".into(), cause: e })?;
        Ok(Supervisor { sigfd, child_mask })
    }

    /// An [`Interrupt`] for waits on others during the run (the systemd driver's bus calls):
    /// readable while one of the forwarded signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT) is
    /// pending. Its own signalfd, without SIGCHLD: a child's end is no reason to give up.
    pub fn interrupt(&self) -> Result<Arc<dyn Interrupt>> {
        let fd =
            launch::signalfd(&launch::FORWARDED).map_err(|e| Error::Spawn { program: "signalfd".into(), cause: e })?;
        Ok(Arc::new(SignalInterrupt(fd)))
    }
}

/// [`Supervisor::interrupt`]: a signalfd of the forwarded signals.
#[derive(Debug)]
struct SignalInterrupt(OwnedFd);

impl Interrupt for SignalInterrupt {
    fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    fn take(&self) -> Option<i32> {
        launch::read_signal(self.0.as_fd()).map(|(sig, _)| sig)
    }
}

/// Where the command runs.
#[derive(Debug, Clone)]
pub enum Target {
    /// A new transient group `parent/name`, removed at the end.
    New {
        /// The parent group (created if missing).
        parent: GroupPath,
        /// The group's name; None picks `run-<pid>`.
        name: Option<String>,
    },
    /// An existing group, kept at the end (`rein run -g`).
    Existing(GroupPath),
}

/// What happened.
#[derive(Debug, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The group the command ran in.
    pub group: String,
    /// The service manager's unit the group belonged to (systemd driver), e.g. `rein-run-42.scope`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// How the command ended.
    pub status: ExitStatus,
    /// The shell-style exit code (code, or 128 + signal).
    pub exit_code: i32,
    /// Wall-clock time from start to exit, µs.
    pub wall_usec: u64,
    /// The group's accounting at the end (all processes, not only the command).
    pub stats: Stats,
    /// OOM kills in the group.
    pub oom_kills: u64,
    /// getrusage of the command and its reaped children (a fallback where cgroup
    /// accounting is missing).
    #[serde(skip)]
    pub rusage: Rusage,
    /// Processes still running when the command ended, killed by rein.
    pub killed_leftovers: bool,
    /// A failure while cleaning up (the command's status is still valid).
    #[serde(skip)]
    pub cleanup_error: Option<Error>,
    /// What the run's policies did ([`rein::policy`]), when it had any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyReport>,
    /// The wait for the group's TCP sockets to drain before the network counters were
    /// read ([`rein::drain`]): a transient group with network programs, full accounting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_drain: Option<Drain>,
}

/// What a run's policies did.
#[derive(Debug, Serialize, Default)]
pub struct PolicyReport {
    /// Why the policy ended the run, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The actions taken, by name.
    pub actions: std::collections::BTreeMap<&'static str, u64>,
}

/// A run's policy at work: the enforcer, and where its actions are told.
pub struct Policing<'a> {
    policy: &'a Policy,
    enforcer: Option<Enforcer>,
    /// What the policy did before an error stopped it.
    stopped: Option<PolicyReport>,
}

impl<'a> Policing<'a> {
    /// `policy` for a run (nothing to do when it is empty).
    pub fn new(policy: &'a Policy) -> Policing<'a> {
        Policing { policy, enforcer: None, stopped: None }
    }

    fn start(&mut self, group: &Group, sup: &Supervisor) -> Result<()> {
        if !self.policy.is_empty() {
            let opts = rein::policy::Options { child_mask: Some(sup.child_mask) };
            self.enforcer = Some(Enforcer::start(group, self.policy, opts)?);
        }
        Ok(())
    }

    fn print(&mut self) {
        if let Some(e) = self.enforcer.as_mut() {
            for a in e.take_actions() {
                eoutln!("rein: {a}");
            }
        }
    }

    fn report(&mut self) -> Option<PolicyReport> {
        let Some(e) = self.enforcer.as_mut() else { return self.stopped.take() };
        for a in e.take_actions() {
            eoutln!("rein: {a}");
        }
        Some(PolicyReport { verdict: e.verdict(), actions: e.counts().clone() })
    }
}

/// Why a run failed before the command ran.
#[derive(Debug)]
pub enum RunError {
    /// rein could not set up the group.
    Setup(Error),
    /// The command could not start (not found, not executable, could not join).
    Spawn(SpawnError, Error),
}

impl RunError {
    /// The exit status for this failure: 127 not found, 126 not executable, 128 + N when
    /// signal N cut the setup short ([`Error::Interrupted`]), else 125.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Setup(e) => e.interrupted_by().map_or(125, |sig| (128 + sig).clamp(0, 255) as u8),
            RunError::Spawn(s, _) => s.exit_code(),
        }
    }

    /// The error, by value.
    pub fn into_error(self) -> Error {
        match self {
            RunError::Setup(e) | RunError::Spawn(_, e) => e,
        }
    }
}

/// A name for a transient group: `run-<pid>`, unique among live rein processes.
pub fn default_name() -> String {
    format!("run-{}", std::process::id())
}

/// Resolves a target to the group path it names.
pub fn target_path(target: &Target) -> Result<GroupPath> {
    match target {
        Target::New { parent, name } => parent.join(name.as_deref().unwrap_or(&default_name())),
        Target::Existing(p) => Ok(p.clone()),
    }
}

fn spawn_error(cmd: &Prepared, e: &SpawnError, group: &Group, fds: &AttachFds) -> Error {
    let program = cmd.program().to_string_lossy().into_owned();
    match e {
        SpawnError::Attach(i, err) => {
            let h = group.hierarchy();
            // clone3 into the cgroup2 directory (None), or the child's write of 0 to the
            // cgroup.procs of one hierarchy; the kernel checks the same things for both.
            let place = i.and_then(|i| fds.procs_place(i)).unwrap_or(Place::V2);
            let path = i.and_then(|i| fds.procs_path(i)).map(|p| p.to_path_buf()).unwrap_or_else(|| {
                if h.unified().is_some() {
                    let v2 = group.nodes().iter().position(|n| n.place == Place::V2);
                    v2.and_then(|i| group.procs_files().into_iter().nth(i))
                        .unwrap_or_else(|| group.path().to_string().into())
                } else {
                    group.path().to_string().into()
                }
            });
            let errno = err.raw_os_error().unwrap_or(libc::EIO);
            let hint = match errno {
                libc::ENOSPC => Some(
                    "the group's cpuset.cpus or cpuset.mems is empty, and no process can join a cpuset without CPUs \
                     and memory nodes: give --cpuset and --mems (the parent's cpuset.cpus and cpuset.mems say \
                     what it may have)"
                        .into(),
                ),
                libc::EAGAIN => Some("the group's pids.max leaves no room for another task".into()),
                libc::EACCES | libc::EPERM => Some(rein::lifecycle::move_denied_hint(
                    h,
                    place,
                    std::process::id(),
                    group.path(),
                    &rein::procfs::ProcTable::default(),
                )),
                libc::EBUSY => Some(
                    "cgroup v2's no-internal-process rule: the group enables controllers for child groups, so \
                     processes can only join its leaf groups"
                        .into(),
                ),
                _ => None,
            };
            Error::Io {
                op: format!("move '{program}' into"),
                path,
                cause: std::io::Error::from_raw_os_error(errno),
                hint,
            }
        }
        SpawnError::NotFound(err) | SpawnError::NotExecutable(err) | SpawnError::Other(err) => {
            Error::Spawn { program, cause: std::io::Error::from_raw_os_error(err.raw_os_error().unwrap_or(libc::EIO)) }
        }
    }
}

/// Watches a run while its command runs, e.g. [`crate::record::Recorder`] sampling
/// the group's usage. Called from the supervisor's loop, between signals.
pub trait Observer {
    /// The command runs in `group` now.
    fn started(&mut self, group: &Group);
    /// A file descriptor to wait on beside the signals; [`Observer::wake`] is called
    /// when it is readable.
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
    /// When [`Observer::wake`] is due at the latest.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// The fd is readable or the deadline passed.
    fn wake(&mut self, group: &Group);
    /// The command exited; the group still holds whatever it left behind.
    fn finished(&mut self, group: &Group);
}

/// How much accounting a run reads when its command has exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// Every statistic of the group ([`Group::stats`]): what a report shows.
    #[default]
    Full,
    /// Only the OOM-kill count (one file), and the full statistics only when there was
    /// an OOM kill: `rein run` without `--report`, where the exit is a hot path.
    OomOnly,
}

/// Runs `cmd` in `target` with `spec`, forwarding signals, and returns what happened; with an [`Observer`] watching the group while the command runs, reading
/// `detail` of the accounting at the end.
// What a run is (host, supervisor, command, target, spec) and what watches it (observer,
// accounting, policy): one call, as each caller has them all at hand.
#[allow(clippy::too_many_arguments)]
pub fn run_observed<'o>(
    h: Arc<Hierarchy>,
    sup: &Supervisor,
    cmd: &Prepared,
    target: &Target,
    spec: &Spec,
    mut observer: Option<&mut (dyn Observer + 'o)>,
    detail: Detail,
    policing: &mut Policing<'_>,
) -> Result<Report, RunError> {
    let transient = matches!(target, Target::New { .. });
    let group = match target {
        Target::New { .. } => create_transient(&h, target, spec).map_err(RunError::Setup)?,
        Target::Existing(path) => {
            let mut g = Group::open(h.clone(), path).map_err(RunError::Setup)?;
            if !spec.resources.is_empty() {
                let _lock = g.lock().map_err(RunError::Setup)?;
                g.update(spec).map_err(RunError::Setup)?;
            }
            g
        }
    };
    let cleanup_on_failure = |group: &Group| {
        if transient {
            let _ = group.kill();
            let _ = group.remove();
        }
    };
    rein::plan::pause_for_tests("created");
    // The triggers and timers are set before the command starts: its first moment is
    // under the policy too.
    if let Err(e) = policing.start(&group, sup) {
        cleanup_on_failure(&group);
        return Err(RunError::Setup(e));
    }
    let fds = match group.attach_fds() {
        Ok(f) => f,
        Err(e) => {
            cleanup_on_failure(&group);
            return Err(RunError::Setup(e));
        }
    };
    let started = Instant::now();
    let child = match launch::spawn(cmd, &fds.as_attach(), &sup.child_mask) {
        Ok(c) => c,
        Err(e) => {
            let err = spawn_error(cmd, &e, &group, &fds);
            cleanup_on_failure(&group);
            return Err(RunError::Spawn(e, err));
        }
    };
    drop(fds);
    if let Some(o) = observer.as_deref_mut() {
        o.started(&group);
    }
    let (status, rusage) = supervise(sup, child.pid, &group, observer.as_deref_mut(), policing);
    if let Some(o) = observer {
        o.finished(&group);
    }
    let wall_usec = started.elapsed().as_micros() as u64;

    let mut report = Report {
        group: group.path().to_string(),
        unit: None,
        status,
        exit_code: status.code(),
        wall_usec,
        stats: Stats::default(),
        oom_kills: 0,
        rusage,
        killed_leftovers: false,
        cleanup_error: None,
        policy: policing.report(),
        net_drain: None,
    };
    // Each step runs whatever the one before did: a failed kill or accounting read must
    // not leave the group behind.
    let killed = match transient.then(|| group.is_populated()).transpose() {
        Ok(Some(true)) => {
            report.killed_leftovers = true;
            group.kill()
        }
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    // What the command wrote into TCP sockets and left there is still going out, through
    // the group's programs, under its limit: counted once it has, or told as not counted.
    // Only where there are programs to count it (the spec's network settings: no cost for
    // other runs) and the accounting is read at all.
    if transient && detail == Detail::Full && !spec.resources.network.is_empty() && killed.is_ok() {
        rein::plan::pause_for_tests("drain");
        report.net_drain = drain_sockets(&group, sup);
    }
    let mut account = || -> Result<()> {
        match detail {
            Detail::Full => {
                report.stats = group.stats()?;
                report.oom_kills = report.stats.memory.and_then(|m| m.oom_kill).unwrap_or(0);
            }
            Detail::OomOnly => {
                report.oom_kills = group.oom_kills().unwrap_or(0);
                if report.oom_kills > 0 {
                    report.stats = group.stats()?;
                }
            }
        }
        Ok(())
    };
    let accounted = account();
    let removed = if transient {
        rein::plan::pause_for_tests("cleanup");
        // With the groups its command made beneath it, in every hierarchy.
        group.remove_tree()
    } else {
        Ok(())
    };
    // The removal's error says what is left behind: it comes first.
    report.cleanup_error = removed.and(killed).and(accounted).err();
    Ok(report)
}

/// Runs `cmd` in a group `driver` makes around it ([`Driver::create_around`]: the systemd
/// driver's scope), forwarding signals, and returns what happened. The life of [`run_observed`],
/// except that the command starts held until the driver has moved it into its group, and
/// that the driver removes the group.
pub fn run_in_unit(
    sup: &Supervisor,
    cmd: &Prepared,
    driver: &dyn Driver,
    spec: &Spec,
    policing: &mut Policing<'_>,
) -> Result<Report, RunError> {
    let program = || cmd.program().to_string_lossy().into_owned();
    let plain_spawn_error = |e: &SpawnError| Error::Spawn {
        program: program(),
        cause: std::io::Error::from_raw_os_error(e.io_error().raw_os_error().unwrap_or(libc::EIO)),
    };
    let held = launch::spawn_held(cmd, &launch::Attach::default(), &sup.child_mask).map_err(|e| {
        let err = plain_spawn_error(&e);
        RunError::Spawn(e, err)
    })?;
    let pid = u32::try_from(held.pid()).unwrap_or(0);
    let mut unit = match driver.create_around(spec, pid) {
        Ok(u) => u,
        Err(e) => {
            held.abort();
            return Err(RunError::Setup(e));
        }
    };
    if let Err(e) = policing.start(unit.group(), sup) {
        held.abort();
        let _ = unit.kill();
        let _ = unit.remove();
        return Err(RunError::Setup(e));
    }
    let started = Instant::now();
    let child = match held.release(0) {
        Ok(c) => c,
        Err(e) => {
            let err = plain_spawn_error(&e);
            let _ = unit.kill();
            let _ = unit.remove();
            return Err(RunError::Spawn(e, err));
        }
    };
    let (status, rusage) = supervise(sup, child.pid, unit.group(), None, policing);
    let wall_usec = started.elapsed().as_micros() as u64;

    let mut report = Report {
        group: unit.group().path().to_string(),
        unit: unit.unit().map(str::to_string),
        status,
        exit_code: status.code(),
        wall_usec,
        stats: Stats::default(),
        oom_kills: 0,
        rusage,
        killed_leftovers: false,
        cleanup_error: None,
        policy: policing.report(),
        net_drain: None,
    };
    let mut finish = || -> Result<()> {
        // The manager removes an empty unit's cgroup on its own, so the group may be gone
        // already: that only means nothing was left.
        if unit.group().is_populated().unwrap_or(false) {
            report.killed_leftovers = true;
            unit.kill()?;
        }
        report.stats = unit.final_stats()?;
        report.oom_kills = report.stats.memory.and_then(|m| m.oom_kill).unwrap_or(0);
        Ok(())
    };
    let finished = finish();
    let removed = unit.remove();
    if let Err(e) = finished.and(removed) {
        report.cleanup_error = Some(e);
    }
    Ok(report)
}

/// Waits for the group's TCP sockets to drain ([`Group::wait_sockets_drained`]), cut short
/// by SIGINT, SIGTERM, SIGHUP or SIGQUIT (taken: the run is ending anyway, and the
/// cleanup's own waits must not see it). None if the group's ids could not be read.
fn drain_sockets(group: &Group, sup: &Supervisor) -> Option<Drain> {
    let interrupt = sup.interrupt().ok();
    let drained = group.wait_sockets_drained(&DrainLimits::default(), interrupt.as_ref().map(|i| i.fd()));
    match drained {
        Ok(d) => {
            if d.end == DrainEnd::Interrupted
                && let Some(i) = &interrupt
            {
                i.take();
            }
            Some(d)
        }
        Err(e) => {
            crate::print_error(&anyhow::anyhow!("network accounting: {e}; counted without waiting for the sockets"));
            None
        }
    }
}

fn create_transient(h: &Arc<Hierarchy>, target: &Target, spec: &Spec) -> Result<Group> {
    let path = target_path(target)?;
    // Where only the v1 freezer lets the leftovers be killed without racing pid reuse
    // (rein::group::kill_needs_v1_freezer), the group gets a freezer directory.
    let mut with_freezer;
    let spec = if rein::group::kill_needs_v1_freezer(h) && !spec.accounting.contains(&rein::Controller::Freezer) {
        with_freezer = spec.clone();
        with_freezer.accounting.insert(rein::Controller::Freezer);
        &with_freezer
    } else {
        spec
    };
    // Marked as this process's, so 'rein gc' can tell a group a crash left behind.
    let mark = rein::mark::Mark::transient_for_self(&rein::procfs::ProcTable::default())?;
    match Group::create_marked(h.clone(), &path, spec, mark) {
        // A stale group of an earlier rein with our pid (a crash, then pid reuse).
        Err(Error::State { message, .. })
            if message.contains("already exists") && matches!(target, Target::New { name: None, .. }) =>
        {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let Target::New { parent, .. } = target else { unreachable!() };
            Group::create_marked(h.clone(), &parent.join(&format!("{}-{nanos:x}", default_name()))?, spec, mark)
        }
        other => other,
    }
}

/// Waits for the child, forwarding signals and waking the observer. Returns the child's
/// status and rusage.
fn supervise<'o>(
    sup: &Supervisor,
    pid: i32,
    group: &Group,
    mut observer: Option<&mut (dyn Observer + 'o)>,
    policing: &mut Policing<'_>,
) -> (ExitStatus, Rusage) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let leader = launch::is_session_leader();
    loop {
        match launch::try_wait(pid) {
            Ok(Some(done)) => {
                // Signals that came with the end are spent (a terminal's ^C reaches rein as
                // the command dies of it): left pending, they would cut short the cleanup's
                // waits on a service manager (Supervisor::interrupt).
                while launch::read_signal(sup.sigfd.as_fd()).is_some() {}
                // What ended the command may be an OOM kill whose notice the kernel still
                // holds back: the verdict and the report must know of it.
                if let Some(e) = policing.enforcer.as_mut()
                    && let Err(err) = e.settle(group)
                {
                    crate::print_error(&anyhow::anyhow!("policy: {err}"));
                }
                policing.print();
                return done;
            }
            Ok(None) => {}
            // ECHILD: someone else reaped it (cannot happen in rein); report a failure.
            Err(_) => return (ExitStatus::Exited(125), Rusage::default()),
        }
        let (observer_ready, due) = {
            let ofd = observer.as_deref().and_then(|o| o.fd());
            let deadline = observer.as_deref().and_then(|o| o.deadline());
            let mut fds = vec![sup.sigfd.as_fd()];
            fds.extend(ofd);
            let ready = match policing.enforcer.as_mut() {
                // The enforcer waits (its kernel fds cannot be polled from here), with
                // the signals and the observer's fd beside, and acts.
                Some(e) => match e.wait(group, &fds, deadline) {
                    Ok(r) => r,
                    Err(err) => {
                        crate::print_error(&anyhow::anyhow!("policy: {err}; the policy stops here"));
                        policing.stopped = policing.report();
                        policing.enforcer = None;
                        vec![true; fds.len()]
                    }
                },
                None => {
                    let timeout = deadline.map(|d| {
                        let left = d.saturating_duration_since(Instant::now());
                        Timespec { tv_sec: left.as_secs() as _, tv_nsec: left.subsec_nanos() as _ }
                    });
                    let mut pfds: Vec<PollFd<'_>> =
                        fds.iter().map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN)).collect();
                    let _ = poll(&mut pfds, timeout.as_ref());
                    pfds.iter().map(|f| !f.revents().is_empty()).collect()
                }
            };
            policing.print();
            (ready.get(1).copied().unwrap_or(false), deadline.is_some_and(|d| Instant::now() >= d))
        };
        if (observer_ready || due)
            && let Some(o) = observer.as_deref_mut()
        {
            o.wake(group);
        }
        while let Some((sig, from_kernel)) = launch::read_signal(sup.sigfd.as_fd()) {
            if sig != libc::SIGCHLD
                && let Some(e) = policing.enforcer.as_mut()
            {
                // A frozen command could not act on the signal (a ^C included).
                let _ = e.thaw_now(group);
            }
            if forwarded(sig, from_kernel, leader) {
                let _ = launch::kill(pid, sig);
            }
        }
        policing.print();
    }
}

/// Whether a signal the supervisor read goes on to the command: `from_kernel` when the
/// kernel sent it (not kill(2) from a process), `session_leader` when rein leads its session.
fn forwarded(sig: i32, from_kernel: bool, session_leader: bool) -> bool {
    match sig {
        libc::SIGCHLD => false,
        // A terminal hang-up sends SIGHUP (and SIGCONT) to the session leader alone
        // (tty_signal_session_leader): when rein leads the session (`setsid rein run`, a
        // terminal emulator or sshd running rein directly), the command has not got it.
        libc::SIGHUP if from_kernel && session_leader => true,
        // Other signals from the kernel went to the whole foreground process group (^C,
        // ^\, the SIGHUP a session leader's exit sends): the command, in rein's process
        // group, got it already.
        _ => !from_kernel,
    }
}

#[cfg(test)]
#[allow(unsafe_code)] // a test ignores SIGCHLD in its own process, as a host program may
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::fd::OwnedFd;

    /// Arguments as OsStrings (helper for callers holding `String`s).
    fn os_args<I: IntoIterator<Item = S>, S: Into<OsString>>(args: I) -> Vec<OsString> {
        args.into_iter().map(Into::into).collect()
    }

    #[test]
    fn which_signals_go_on_to_the_command() {
        for (sig, from_kernel, leader, want) in [
            (libc::SIGTERM, false, false, true),
            (libc::SIGINT, false, true, true),
            // ^C from the terminal reached the whole foreground process group.
            (libc::SIGINT, true, false, false),
            (libc::SIGQUIT, true, true, false),
            // A hang-up reaches only the session leader.
            (libc::SIGHUP, true, true, true),
            // The SIGHUP the exit of another session leader sends to the foreground group.
            (libc::SIGHUP, true, false, false),
            (libc::SIGHUP, false, false, true),
            (libc::SIGCHLD, false, false, false),
            (libc::SIGCHLD, true, true, false),
        ] {
            assert_eq!(
                forwarded(sig, from_kernel, leader),
                want,
                "signal {sig} from kernel {from_kernel}, leader {leader}"
            );
        }
    }

    fn wait(pid: i32) -> std::io::Result<ExitStatus> {
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some((status, _)) = launch::try_wait(pid)? {
                return Ok(status);
            }
            assert!(Instant::now() < deadline, "pid {pid} did not end");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn the_supervisor_reaps_its_command_when_the_host_ignores_sigchld() {
        if !rein::test_support::in_own_process(
            "supervisor::tests::the_supervisor_reaps_its_command_when_the_host_ignores_sigchld",
        ) {
            return;
        }
        // SIG_IGN for SIGCHLD survives execve: a parent that ignores it hands that to rein,
        // and the kernel then reaps rein's children itself (wait4 fails with ECHILD).
        // SAFETY: this process is the test's own.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
        let sup = Supervisor::install().unwrap();
        let cmd = Prepared::new("sh".as_ref(), &os_args(["-c", "exit 7"])).unwrap();
        let child = launch::spawn(&cmd, &launch::Attach::default(), &sup.child_mask).unwrap();
        assert_eq!(wait(child.pid).unwrap(), ExitStatus::Exited(7));
        // The command starts with SIGCHLD at its default too.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("status");
        let stdin: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let cmd = Prepared::new("cat".as_ref(), &os_args(["/proc/self/status"]))
            .unwrap()
            .detached(stdin, std::fs::File::create(&out).unwrap().into());
        let child = launch::spawn(&cmd, &launch::Attach::default(), &sup.child_mask).unwrap();
        assert_eq!(wait(child.pid).unwrap(), ExitStatus::Exited(0));
        let status = std::fs::read_to_string(&out).unwrap();
        let ign = status.lines().find_map(|l| l.strip_prefix("SigIgn:")).unwrap();
        let mask = u64::from_str_radix(ign.trim(), 16).unwrap();
        assert_eq!(mask & (1 << (libc::SIGCHLD - 1)), 0, "{status}");
    }
}
