//! The [`Enforcer`]: a [`Policy`] acting on one group, driven by the caller's event loop
//! (`rein run`, `rein supervise`) or by a thread of its own ([`Policing`], the handle's).

use std::collections::{BTreeMap, VecDeque};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::cgroupfs::GroupPath;
use crate::controller::Controller;
use crate::error::{Error, Result};
use crate::events::{self, EventKind, PressureTrigger, Watcher};
use crate::group::{Group, Spec};
use crate::hierarchy::{Binding, Hierarchy};
use crate::launch::{self, Prepared, SigMask};
use crate::plan::Place;
use crate::resources::{CpuMax, Resources};
use crate::units::{Bytes, Limit, human_usec};

use super::rules::{OomAction, Policy, PressureAction, Throttled};

/// How often the CPU-time budget is read at most: the budget's granularity is this times
/// the CPUs the group can use (see [`Enforcer`]).
pub const CPU_CHECK_MIN: Duration = Duration::from_millis(10);
/// A pressure rule is calm when its trigger has not fired for this many windows (the
/// kernel fires at most once per window, and without CAP_SYS_RESOURCE only when its 2 s
/// averaging work runs, which can leave two windows between events).
const CALM_WINDOWS: u32 = 2;
/// The lowest memory.high a throttle writes.
const MEMORY_FLOOR: u64 = 4 << 20;
/// A throttle step lowers the limit to this fraction (3/4).
const STEP_NUM: u64 = 3;
const STEP_DEN: u64 = 4;

/// Why the enforcer ended the group's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
#[non_exhaustive]
pub enum Verdict {
    /// `timeout` passed.
    TimedOut,
    /// The group used its CPU-time budget.
    CpuTimeUsed {
        /// The group's CPU time when rein saw the budget spent, µs (the processes use a
        /// little more while they end).
        used_usec: u64,
    },
    /// A pressure rule with `kill` fired.
    KilledOnPressure {
        /// The trigger that fired.
        trigger: PressureTrigger,
    },
    /// An OOM kill with `kill-group`.
    KilledOnOom,
}

impl Verdict {
    /// The exit status `rein run` gives for it: 124 for a timeout (as timeout(1)), 152 for
    /// a spent CPU budget (128 + SIGXCPU, what a shell shows for a process over its `ulimit
    /// -t`); None where the command's own status tells (killed: 137).
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Verdict::TimedOut => Some(124),
            Verdict::CpuTimeUsed { .. } => Some(128 + libc::SIGXCPU),
            _ => None,
        }
    }
}

/// Why an action was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "cause")]
pub enum Cause {
    /// The wall-clock deadline.
    Timeout {
        /// The deadline, µs.
        usec: u64,
    },
    /// The CPU-time budget.
    CpuTime {
        /// The budget, µs.
        usec: u64,
    },
    /// A PSI trigger fired (or, for a thaw or a restore, stayed quiet).
    Pressure {
        /// The trigger.
        trigger: PressureTrigger,
    },
    /// The OOM killer killed processes of the group.
    Oom {
        /// Kills counted so far.
        total: u64,
    },
}

/// What the enforcer did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum ActionKind {
    /// SIGTERM to every process of the group.
    Term {
        /// How many.
        processes: usize,
    },
    /// `cgroup.kill` (or the freeze-and-kill of v1).
    Kill,
    /// The group was frozen.
    Freeze,
    /// The group was thawed.
    Thaw {
        /// How long it stayed frozen, µs.
        frozen_usec: u64,
    },
    /// A limit was lowered.
    Throttle {
        /// `cpu.max` or `memory.high`.
        file: &'static str,
        /// The new value, as the v2 file reads.
        value: String,
    },
    /// A throttled limit went back to what it was.
    Restore {
        /// `cpu.max` or `memory.high`.
        file: &'static str,
        /// The value.
        value: String,
    },
    /// An event was reported (and the command, if any, started).
    Notify {
        /// The command.
        #[serde(skip_serializing_if = "Option::is_none")]
        command: Option<String>,
    },
}

impl ActionKind {
    /// The action's name in counts and JSON: `term`, `kill`, `freeze`, `thaw`,
    /// `throttle`, `restore`, `notify`.
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::Term { .. } => "term",
            ActionKind::Kill => "kill",
            ActionKind::Freeze => "freeze",
            ActionKind::Thaw { .. } => "thaw",
            ActionKind::Throttle { .. } => "throttle",
            ActionKind::Restore { .. } => "restore",
            ActionKind::Notify { .. } => "notify",
        }
    }
}

/// One action on one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// When.
    #[serde(rename = "time_usec", serialize_with = "unix_usec")]
    pub time: SystemTime,
    /// The group.
    #[serde(serialize_with = "display")]
    pub group: GroupPath,
    /// What.
    #[serde(flatten)]
    pub kind: ActionKind,
    /// Why.
    #[serde(flatten)]
    pub cause: Cause,
}

fn unix_usec<S: serde::Serializer>(t: &SystemTime, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0))
}

fn display<S: serde::Serializer>(g: &GroupPath, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&g.to_string())
}

impl std::fmt::Display for Action {
    /// `memory:some:200ms/1s: froze the group`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cause {
            Cause::Timeout { usec } => write!(f, "timeout {}: ", human_usec(*usec))?,
            Cause::CpuTime { usec } => write!(f, "CPU time {} used: ", human_usec(*usec))?,
            Cause::Pressure { trigger } => write!(f, "{trigger}: ")?,
            Cause::Oom { total } => write!(f, "OOM kill ({total} in all): ")?,
        }
        match &self.kind {
            ActionKind::Term { processes } => write!(f, "sent SIGTERM to {processes} processes"),
            ActionKind::Kill => write!(f, "killed the group"),
            ActionKind::Freeze => write!(f, "froze the group"),
            ActionKind::Thaw { frozen_usec } => write!(f, "thawed the group after {}", human_usec(*frozen_usec)),
            ActionKind::Throttle { file, value } => write!(f, "lowered {file} to {value}"),
            ActionKind::Restore { file, value } => write!(f, "restored {file} to {value}"),
            ActionKind::Notify { command: None } => write!(f, "notified"),
            ActionKind::Notify { command: Some(c) } => write!(f, "notified, ran {c:?}"),
        }
    }
}

/// How an [`Enforcer`] starts commands (`notify:COMMAND`).
#[derive(Clone, Copy)]
pub struct Options {
    /// The signal mask a notify command gets (a supervisor that blocks signals passes
    /// the mask it had before); None: the caller's mask.
    pub child_mask: Option<SigMask>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options").finish_non_exhaustive()
    }
}

#[allow(clippy::derivable_impls)]
impl Default for Options {
    fn default() -> Options {
        Options { child_mask: None }
    }
}

struct Ending {
    cause: Cause,
    kill_at: Instant,
    killed: bool,
}

struct Frozen {
    rule: usize,
    since: Instant,
    until: Instant,
}

struct Throttle {
    rule: usize,
    /// What the limit was (`None`: no limit).
    original: Option<u64>,
    /// cpu.max's period.
    period: u64,
    /// The value in force now.
    current: u64,
    /// The lowest step.
    floor: u64,
    changed: Instant,
}

/// A [`Policy`] at work on one group.
///
/// Call [`Enforcer::wait`] in a loop (with the caller's own fds beside): it waits for the
/// kernel's reports and the policy's deadlines, acts, and queues the [`Action`]s it took
/// ([`Enforcer::take_actions`]). The kernel wakes it for pressure and
/// OOM kills; a deadline is a timer; the CPU-time budget is read from the group's CPU
/// accounting at intervals that shrink as it runs out (the remaining budget spread over
/// the CPUs the host has, at least [`CPU_CHECK_MIN`]): the kernel has no notification for
/// CPU time, and the overshoot stays under [`CPU_CHECK_MIN`] times the CPUs.
pub struct Enforcer {
    path: GroupPath,
    policy: Policy,
    watcher: Option<Watcher>,
    started: Instant,
    timeout_at: Option<Instant>,
    cpu_check: Option<Instant>,
    ending: Option<Ending>,
    fired: Vec<Option<Instant>>,
    frozen: Option<Frozen>,
    throttles: BTreeMap<Throttled, Throttle>,
    helpers: Vec<i32>,
    actions: VecDeque<Action>,
    counts: BTreeMap<&'static str, u64>,
    verdict: Option<Verdict>,
    opts: Options,
    cpus: u64,
    /// The group's CPU time at the last cpu pressure event (for a throttle's first step).
    usage_mark: Option<(Instant, u64)>,
    /// Per rule, without CAP_SYS_RESOURCE: the pressure file's stall total sampled each
    /// quarter window, the backstop for a kernel event that a reader swallowed.
    sampled: Vec<Option<StallSamples>>,
}

/// A pressure file's stall total, sampled: the stall over the last window, which is what
/// a trigger compares with its threshold. Without CAP_SYS_RESOURCE the kernel checks a
/// trigger in its 2 s averaging work, and a read of the pressure file by anyone just
/// before that work folds the stall into the averages first: the trigger then sees no
/// new stall and says nothing (measured on 6.18: 8 events in 25 s unread, 3 with a reader
/// every 20 ms). The enforcer samples the total itself and acts when the kernel did not.
#[derive(Debug, Clone)]
struct StallSamples {
    window: Duration,
    samples: VecDeque<(Instant, u64)>,
    next: Instant,
}

impl StallSamples {
    fn new(window: Duration, now: Instant) -> StallSamples {
        StallSamples { window, samples: VecDeque::new(), next: now }
    }

    /// How often the total is read: four times a window.
    fn interval(&self) -> Duration {
        self.window / 4
    }

    /// Adds the total read at `at`; the stall over the last window (µs, scaled to exactly
    /// one window) once the samples span one, else None.
    fn add(&mut self, at: Instant, total_usec: u64) -> Option<u64> {
        self.next = at + self.interval();
        self.samples.push_back((at, total_usec));
        // The oldest kept is the newest at least a window before `at`.
        while self.samples.len() >= 2 && at.saturating_duration_since(self.samples[1].0) >= self.window {
            self.samples.pop_front();
        }
        let (t0, v0) = *self.samples.front()?;
        let span = at.saturating_duration_since(t0);
        if span < self.window {
            return None;
        }
        let grown = total_usec.saturating_sub(v0) as u128;
        Some((grown * self.window.as_micros() / span.as_micros().max(1)) as u64)
    }
}

impl std::fmt::Debug for Enforcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enforcer").field("group", &self.path).field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// The controllers a policy needs in the group: cpu for a cpu throttle, memory for a
/// memory throttle and for OOM actions, and on a pure v1 host cpuacct for a CPU budget
/// (the cgroup2 core counts CPU time everywhere else). `rein run` adds them to the
/// group it makes.
pub fn controllers(policy: &Policy, h: &Hierarchy) -> std::collections::BTreeSet<Controller> {
    let mut set = std::collections::BTreeSet::new();
    for r in &policy.on_pressure {
        if r.action == PressureAction::Throttle {
            set.insert(match r.throttles() {
                Throttled::CpuMax => Controller::Cpu,
                Throttled::MemoryHigh => Controller::Memory,
            });
        }
    }
    if policy.on_oom.is_some() {
        set.insert(Controller::Memory);
    }
    if policy.cpu_time.is_some() && h.unified().is_none() {
        set.insert(Controller::Cpuacct);
    }
    set
}

fn unsupported(h: &Hierarchy, what: &str, reason: String) -> Error {
    Error::Unsupported { what: what.into(), mode: h.mode().to_string(), reason }
}

/// Checks that `policy` can work on this host before anything is made: pressure needs
/// cgroup2 (per-group PSI files), `memory.high` needs the memory controller on cgroup2.
pub fn check(policy: &Policy, h: &Hierarchy) -> Result<()> {
    policy.validate()?;
    if !policy.on_pressure.is_empty() && h.unified().is_none() {
        return Err(unsupported(
            h,
            "a pressure policy",
            "per-group pressure files exist only in cgroup2 (a pure v1 host has /proc/pressure for the whole \
             system); use --timeout or --cpu-time, or boot with cgroup2"
                .into(),
        ));
    }
    if let Some(r) = policy.on_pressure.iter().find(|r| r.action == PressureAction::Throttle) {
        if r.throttles() == Throttled::MemoryHigh && !matches!(h.binding(Controller::Memory), Some(Binding::V2(_))) {
            return Err(unsupported(
                h,
                "throttling on memory pressure",
                "it lowers memory.high, which only cgroup v2's memory controller has (here memory is a v1 \
                 hierarchy): use freeze, notify or kill, or a cpu pressure rule with throttle"
                    .into(),
            ));
        }
    }
    Ok(())
}

impl Enforcer {
    /// Starts enforcing `policy` on `group`, from now: the deadlines count from this call,
    /// the CPU budget from the group's whole CPU time (a new group's starts at 0), the
    /// pressure triggers are written to the group's pressure files.
    pub fn start(group: &Group, policy: &Policy, opts: Options) -> Result<Enforcer> {
        let h = group.hierarchy().clone();
        check(policy, &h)?;
        let needs_watch = !policy.on_pressure.is_empty() || policy.on_oom.is_some();
        if !policy.on_pressure.is_empty() && !group.has_v2_dir() {
            return Err(Error::state(
                format!("group {} has no cgroup2 directory, so no pressure files", group.path()),
                Some("pressure policies work on groups rein made (or any group in the cgroup2 hierarchy)".into()),
            ));
        }
        if policy.cpu_time.is_some() && group.cpu_usage_usec()?.is_none() {
            return Err(Error::state(
                format!("group {} has no CPU accounting (cgroup2 cpu.stat or v1 cpuacct.usage)", group.path()),
                Some("add the cpuacct controller to the group (rein run does this for --cpu-time)".into()),
            ));
        }
        if policy.on_oom.is_some() && group.place_of(Controller::Memory).is_none() {
            return Err(Error::state(
                format!("group {} is not in the memory controller's hierarchy: no OOM kill can be seen", group.path()),
                Some("create it with the memory controller (rein run always enables it)".into()),
            ));
        }
        if policy.on_oom == Some(OomAction::KillGroup) && group.place_of(Controller::Memory) == Some(Place::V2) {
            // The kernel kills the whole group itself: no process outlives the OOM kill by
            // the time rein hears of it.
            let mut r = Resources::new();
            r.memory.oom_group = Some(true);
            let mut g = Group::open(h.clone(), group.path())?;
            g.update(&Spec { resources: r, accounting: Default::default() })?;
        }
        let watcher = if needs_watch {
            let mut triggers: Vec<PressureTrigger> = Vec::new();
            for r in &policy.on_pressure {
                if !triggers.contains(&r.trigger) {
                    triggers.push(r.trigger);
                }
            }
            let mut w = Watcher::new(h.clone(), events::Options { triggers, ..events::Options::default() })?;
            w.add(group)?;
            Some(w)
        } else {
            None
        };
        let now = Instant::now();
        let cpus = std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1);
        Ok(Enforcer {
            path: group.path().clone(),
            timeout_at: policy.timeout.map(|t| now + t),
            cpu_check: policy.cpu_time.map(|_| now),
            policy: policy.clone(),
            watcher,
            started: now,
            ending: None,
            fired: vec![None; policy.on_pressure.len()],
            frozen: None,
            throttles: BTreeMap::new(),
            helpers: Vec::new(),
            actions: VecDeque::new(),
            counts: BTreeMap::new(),
            verdict: None,
            opts,
            cpus,
            usage_mark: if policy.on_pressure.iter().any(|r| r.action == PressureAction::Throttle) {
                group.cpu_usage_usec()?.map(|u| (now, u))
            } else {
                None
            },
            sampled: {
                let unprivileged = !events::privileged();
                policy
                    .on_pressure
                    .iter()
                    .map(|r| unprivileged.then(|| StallSamples::new(Duration::from_micros(r.trigger.window_usec), now)))
                    .collect()
            },
        })
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Why the enforcer ended the group, once it has.
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
    }

    /// The actions taken so far, by name.
    pub fn counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.counts
    }

    /// The actions taken since the last call.
    pub fn take_actions(&mut self) -> Vec<Action> {
        self.actions.drain(..).collect()
    }

    /// When [`Enforcer::wake`] is due even if the kernel reports nothing.
    pub fn deadline(&self) -> Option<Instant> {
        let mut due: Vec<Instant> = Vec::new();
        match &self.ending {
            Some(e) if !e.killed => due.push(e.kill_at),
            Some(_) => {}
            None => due.extend(self.timeout_at.iter().chain(self.cpu_check.iter()).copied()),
        }
        if let Some(f) = &self.frozen {
            due.push(f.until);
            due.extend(self.calm_at(f.rule));
        }
        for t in self.throttles.values() {
            due.extend(self.calm_at(t.rule).map(|c| c.max(t.changed + self.window(t.rule))));
        }
        if !self.helpers.is_empty() {
            due.push(Instant::now() + Duration::from_millis(200));
        }
        if !self.ending.as_ref().is_some_and(|e| e.killed) {
            due.extend(self.sampled.iter().flatten().map(|s| s.next));
        }
        due.extend(self.watcher.as_ref().and_then(|w| w.deadline()));
        due.into_iter().min()
    }

    fn window(&self, rule: usize) -> Duration {
        Duration::from_micros(self.policy.on_pressure[rule].trigger.window_usec)
    }

    /// When rule `rule` counts as calm if its trigger stays quiet.
    fn calm_at(&self, rule: usize) -> Option<Instant> {
        let w = self.window(rule);
        self.fired[rule].map(|t| t + w * CALM_WINDOWS)
    }

    fn record(&mut self, group: &Group, kind: ActionKind, cause: Cause) {
        let name = kind.name();
        *self.counts.entry(name).or_default() += 1;
        // The count on the group is for other readers; the action happened either way.
        let _ = group.count_action(name);
        self.actions.push_back(Action { time: SystemTime::now(), group: self.path.clone(), kind, cause });
    }

    /// Waits until the kernel reports pressure or an OOM kill, a deadline of the policy
    /// comes, one of `foreign` (the caller's fds: a signalfd, ...) becomes readable, or
    /// `until`; then acts ([`Enforcer::wake`]). Returns which of `foreign` are readable.
    /// This is how a caller's event loop waits on an enforcer (see
    /// [`Watcher::wait_beside`] for why the enforcer's kernel fds cannot be polled from
    /// the caller's own poll).
    pub fn wait(&mut self, group: &Group, foreign: &[BorrowedFd<'_>], until: Option<Instant>) -> Result<Vec<bool>> {
        let due = match (self.deadline(), until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let ready = match self.watcher.as_mut() {
            Some(w) => w.wait_beside(foreign, due)?,
            None => {
                use rustix::event::{PollFd, PollFlags, Timespec, poll};
                let timeout = due.map(|d| {
                    let left = d.saturating_duration_since(Instant::now());
                    Timespec { tv_sec: left.as_secs() as _, tv_nsec: left.subsec_nanos() as _ }
                });
                let mut fds: Vec<PollFd<'_>> =
                    foreign.iter().map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN)).collect();
                match poll(&mut fds, timeout.as_ref()) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => {
                        return Err(Error::Io {
                            op: "wait".into(),
                            path: "(policy)".into(),
                            cause: e.into(),
                            hint: None,
                        });
                    }
                }
                fds.iter().map(|f| !f.revents().is_empty()).collect()
            }
        };
        self.wake(group)?;
        Ok(ready)
    }

    /// Whether rule `i` fired less than a window ago, when its stall is sampled too (the
    /// kernel itself fires a trigger at most once a window).
    fn fired_within_window(&self, i: usize) -> bool {
        self.sampled.get(i).is_some_and(Option::is_some)
            && self.fired[i].is_some_and(|at| at.elapsed() < self.window(i))
    }

    /// Reads the stall totals that are due ([`StallSamples`]) and acts on a rule whose
    /// stall over the last window reached its threshold when it has not fired for a window.
    fn sample_pressure(&mut self, group: &Group) -> Result<()> {
        if self.ending.as_ref().is_some_and(|e| e.killed) {
            return Ok(());
        }
        let Some(u) = group.hierarchy().unified() else { return Ok(()) };
        let now = Instant::now();
        for i in 0..self.sampled.len() {
            let Some(s) = &self.sampled[i] else { continue };
            if now < s.next {
                continue;
            }
            let trigger = self.policy.on_pressure[i].trigger;
            let file = trigger.resource.file();
            // A group gone or a file unreadable: the kernel's events are what is left.
            let total = u.mount.read(group.path(), file).ok().and_then(|t| {
                let (some, full) = crate::cgroupfs::format::pressure(file, &t).ok()?;
                match trigger.stall {
                    events::Stall::Some => Some(some.total_usec),
                    events::Stall::Full => full.map(|f| f.total_usec),
                }
            });
            let Some(s) = self.sampled[i].as_mut() else { continue };
            let Some(total) = total else {
                s.next = now + s.interval();
                continue;
            };
            if s.add(now, total).is_some_and(|stall| stall >= trigger.threshold_usec) && !self.fired_within_window(i) {
                self.pressure(group, i)?;
            }
        }
        Ok(())
    }

    /// What [`Enforcer::wake`] does for OOM kills, the group's event counters read first
    /// whether or not the kernel has notified them yet. For the moment the group's command has ended: an OOM
    /// kill counted just before (with `--on-oom kill-group` on cgroup2 the kernel kills the
    /// whole group itself) is acted on and in the verdict, however the kernel's
    /// notification and the command's death were ordered.
    ///
    /// Only OOM kills are acted on: a deadline or budget that falls due now is not the
    /// command's end (it ended first), and pressure on an ended command needs no relief.
    pub fn settle(&mut self, group: &Group) -> Result<()> {
        let Some(w) = self.watcher.as_mut() else { return Ok(()) };
        w.recount();
        let mut kills = Vec::new();
        while let Some(ev) = w.wait(Some(Duration::ZERO))? {
            if let EventKind::OomKill { total, .. } = ev.kind {
                kills.push(total);
            }
        }
        for total in kills {
            self.oom(group, total)?;
        }
        Ok(())
    }

    /// Reads what the kernel reported, acts on it and on the deadlines that passed.
    pub fn wake(&mut self, group: &Group) -> Result<()> {
        let mut fired = Vec::new();
        if let Some(w) = self.watcher.as_mut() {
            while let Some(ev) = w.wait(Some(Duration::ZERO))? {
                fired.push(ev.kind);
            }
        }
        for kind in fired {
            match kind {
                EventKind::Pressure(t) => {
                    for i in 0..self.policy.on_pressure.len() {
                        // Once a window, whichever told it first: the kernel, or the samples.
                        if self.policy.on_pressure[i].trigger == t && !self.fired_within_window(i) {
                            self.pressure(group, i)?;
                        }
                    }
                }
                EventKind::OomKill { total, .. } => self.oom(group, total)?,
                _ => {}
            }
        }
        self.sample_pressure(group)?;
        let now = Instant::now();
        if self.ending.is_none()
            && let (Some(at), Some(t)) = (self.timeout_at, self.policy.timeout)
            && now >= at
        {
            self.end(group, Verdict::TimedOut, Cause::Timeout { usec: t.as_micros() as u64 })?;
        }
        if self.ending.is_none()
            && let (Some(at), Some(budget)) = (self.cpu_check, self.policy.cpu_time)
            && now >= at
        {
            let used = group.cpu_usage_usec()?.unwrap_or(0);
            let budget_usec = budget.as_micros() as u64;
            if used >= budget_usec {
                self.end(group, Verdict::CpuTimeUsed { used_usec: used }, Cause::CpuTime { usec: budget_usec })?;
            } else {
                let left = Duration::from_micros((budget_usec - used) / self.cpus.max(1));
                self.cpu_check = Some(now + left.max(CPU_CHECK_MIN));
            }
        }
        if let Some(e) = self.ending.as_mut()
            && !e.killed
            && Instant::now() >= e.kill_at
        {
            e.killed = true;
            let cause = e.cause.clone();
            group.kill()?;
            self.record(group, ActionKind::Kill, cause);
        }
        if let Some(f) = &self.frozen {
            let now = Instant::now();
            if now >= f.until || self.calm_at(f.rule).is_some_and(|c| now >= c) {
                self.thaw(group)?;
            }
        }
        let due: Vec<Throttled> = self
            .throttles
            .iter()
            .filter(|(_, t)| {
                let now = Instant::now();
                self.calm_at(t.rule).is_some_and(|c| now >= c) && now >= t.changed + self.window(t.rule)
            })
            .map(|(k, _)| *k)
            .collect();
        for which in due {
            self.restore(group, which)?;
        }
        self.helpers.retain(|pid| matches!(launch::try_wait(*pid), Ok(None)));
        Ok(())
    }

    /// Deadline or budget reached: SIGTERM to every process, the kill after the grace.
    fn end(&mut self, group: &Group, verdict: Verdict, cause: Cause) -> Result<()> {
        if self.frozen.is_some() {
            // A frozen process cannot act on SIGTERM.
            self.thaw(group)?;
        }
        self.verdict = Some(verdict);
        let grace = self.policy.grace();
        self.ending = Some(Ending { cause: cause.clone(), kill_at: Instant::now() + grace, killed: false });
        if grace.is_zero() {
            return Ok(());
        }
        let mut n = 0;
        for pid in group.all_procs()? {
            if launch::kill(pid as i32, libc::SIGTERM).is_ok() {
                n += 1;
            }
        }
        self.record(group, ActionKind::Term { processes: n }, cause);
        Ok(())
    }

    fn oom(&mut self, group: &Group, total: u64) -> Result<()> {
        let cause = Cause::Oom { total };
        match self.policy.on_oom.clone() {
            Some(OomAction::KillGroup) if self.ending.is_none() => {
                self.verdict = Some(Verdict::KilledOnOom);
                self.ending = Some(Ending { cause: cause.clone(), kill_at: Instant::now(), killed: true });
                if self.frozen.is_some() {
                    self.thaw(group)?;
                }
                group.kill()?;
                self.record(group, ActionKind::Kill, cause);
            }
            Some(OomAction::Notify { command }) => self.notify(group, command, cause, "oom")?,
            _ => {}
        }
        Ok(())
    }

    fn pressure(&mut self, group: &Group, i: usize) -> Result<()> {
        let now = Instant::now();
        self.fired[i] = Some(now);
        let rule = self.policy.on_pressure[i].clone();
        let cause = Cause::Pressure { trigger: rule.trigger };
        if self.ending.as_ref().is_some_and(|e| e.killed) {
            return Ok(());
        }
        match rule.action {
            PressureAction::Freeze { max } => {
                if self.frozen.is_none() && self.ending.is_none() {
                    group.freeze(true)?;
                    self.frozen = Some(Frozen { rule: i, since: now, until: now + max });
                    self.record(group, ActionKind::Freeze, cause);
                }
            }
            PressureAction::Kill => {
                self.verdict = Some(Verdict::KilledOnPressure { trigger: rule.trigger });
                self.ending = Some(Ending { cause: cause.clone(), kill_at: now, killed: true });
                if self.frozen.is_some() {
                    self.thaw(group)?;
                }
                group.kill()?;
                self.record(group, ActionKind::Kill, cause);
            }
            PressureAction::Notify { command } => self.notify(group, command, cause, "pressure")?,
            PressureAction::Throttle => self.lower(group, i)?,
        }
        Ok(())
    }

    /// Thaws the group now if a `freeze` rule froze it (a signal for the command came:
    /// a frozen process could not act on it). The rule may freeze it again when its
    /// trigger fires again.
    pub fn thaw_now(&mut self, group: &Group) -> Result<()> {
        self.thaw(group)
    }

    fn thaw(&mut self, group: &Group) -> Result<()> {
        if let Some(f) = self.frozen.take() {
            group.freeze(false)?;
            let trigger = self.policy.on_pressure[f.rule].trigger;
            let frozen_usec = f.since.elapsed().as_micros() as u64;
            self.record(group, ActionKind::Thaw { frozen_usec }, Cause::Pressure { trigger });
        }
        Ok(())
    }

    fn notify(&mut self, group: &Group, command: Option<String>, cause: Cause, event: &str) -> Result<()> {
        if let Some(cmd) = &command {
            let mut args: Vec<std::ffi::OsString> = vec![
                format!("REIN_EVENT={event}").into(),
                format!("REIN_GROUP={}", self.path).into(),
                "REIN_ACTION=notify".into(),
            ];
            match &cause {
                Cause::Pressure { trigger } => args.push(format!("REIN_TRIGGER={trigger}").into()),
                Cause::Oom { total } => args.push(format!("REIN_OOM_KILLS={total}").into()),
                _ => {}
            }
            args.extend(["sh".into(), "-c".into(), cmd.into()]);
            let prepared = Prepared::new("env".as_ref(), &args)
                .map_err(|e| Error::Spawn { program: "env".into(), cause: clone_io(e.io_error()) })?;
            let mask = self.opts.child_mask.unwrap_or_else(SigMask::current);
            // Outside the group (in the caller's): a command that reports must not be frozen
            // or killed with what it reports on.
            match launch::spawn(&prepared, &launch::Attach::default(), &mask) {
                Ok(child) => self.helpers.push(child.pid),
                Err(e) => return Err(Error::Spawn { program: cmd.clone(), cause: clone_io(e.io_error()) }),
            }
        }
        self.record(group, ActionKind::Notify { command }, cause);
        Ok(())
    }

    /// The throttle of rule `i` fired: one step down. The first step starts from what the
    /// group got in the last window: its limit, or where it has none, the CPU it used
    /// (cpu.max) or the memory it holds (memory.high).
    fn lower(&mut self, group: &Group, i: usize) -> Result<()> {
        let which = self.policy.on_pressure[i].throttles();
        let trigger = self.policy.on_pressure[i].trigger;
        if !self.throttles.contains_key(&which) {
            let s = group.stats()?;
            let t = match which {
                Throttled::CpuMax => {
                    let (quota, period) = match s.cpu.max {
                        Some(b) => (b.quota_usec, b.period_usec),
                        None => (Limit::Max, 100_000),
                    };
                    let original = match quota {
                        Limit::Value(q) => Some(q),
                        Limit::Max => None,
                    };
                    // The CPU the group used over the last window, as a quota per period.
                    let used = match (self.usage_mark, s.cpu.usage_usec) {
                        (Some((at, before)), Some(now)) => {
                            let wall = (at.elapsed().as_micros() as u64).max(1);
                            Some(now.saturating_sub(before).saturating_mul(period) / wall)
                        }
                        _ => None,
                    };
                    let start = original.unwrap_or(self.cpus * period).min(used.unwrap_or(u64::MAX)).max(1000);
                    Throttle {
                        rule: i,
                        original,
                        period,
                        current: start,
                        // A tenth of where it started, and never under the kernel's 1 ms.
                        floor: (start / 10).max(1000),
                        changed: Instant::now(),
                    }
                }
                Throttled::MemoryHigh => {
                    let mem = s.memory.unwrap_or_default();
                    let usage = mem.current.unwrap_or(0);
                    let original = match mem.high {
                        Some(Limit::Value(v)) => Some(v),
                        _ => None,
                    };
                    let start = original.map_or(usage, |o| o.min(usage)).max(MEMORY_FLOOR);
                    Throttle {
                        rule: i,
                        original,
                        period: 0,
                        current: start,
                        // A quarter of what the group held when the first step came.
                        floor: (start / 4).max(MEMORY_FLOOR),
                        changed: Instant::now(),
                    }
                }
            };
            self.throttles.insert(which, t);
        }
        let (value, changed) = {
            let t = self.throttles.get_mut(&which).expect("inserted above");
            let next = (t.current / STEP_DEN * STEP_NUM).max(t.floor);
            let changed = next != t.current;
            t.current = next;
            t.rule = i;
            t.changed = Instant::now();
            (next, changed)
        };
        if changed {
            let text = self.write_limit(group, which, Some(value))?;
            self.record(group, ActionKind::Throttle { file: which.name(), value: text }, Cause::Pressure { trigger });
        }
        Ok(())
    }

    /// The pressure behind a throttle is gone: the limit goes back to what it was.
    fn restore(&mut self, group: &Group, which: Throttled) -> Result<()> {
        let Some(t) = self.throttles.remove(&which) else { return Ok(()) };
        let trigger = self.policy.on_pressure[t.rule].trigger;
        let value = self.write_limit_with(group, which, t.original, t.period)?;
        self.usage_mark = group.cpu_usage_usec()?.map(|u| (Instant::now(), u));
        self.record(group, ActionKind::Restore { file: which.name(), value }, Cause::Pressure { trigger });
        Ok(())
    }

    /// Writes `value` (None: no limit) as the throttled limit; returns it as the v2 file reads.
    fn write_limit(&self, group: &Group, which: Throttled, value: Option<u64>) -> Result<String> {
        let period = self.throttles.get(&which).map_or(100_000, |t| t.period);
        self.write_limit_with(group, which, value, period)
    }

    fn write_limit_with(&self, group: &Group, which: Throttled, value: Option<u64>, period: u64) -> Result<String> {
        let mut r = Resources::new();
        let text = match which {
            Throttled::CpuMax => {
                let quota = value.map_or(Limit::Max, Limit::Value);
                r.cpu.max = Some(CpuMax { quota, period });
                match value {
                    Some(q) => format!("{q} {period}"),
                    None => format!("max {period}"),
                }
            }
            Throttled::MemoryHigh => {
                r.memory.high = Some(value.map_or(Limit::Max, |v| Limit::Value(Bytes(v))));
                value.map_or("max".into(), |v| v.to_string())
            }
        };
        let mut g = Group::open(group.hierarchy().clone(), group.path())?;
        g.update(&Spec { resources: r, accounting: Default::default() })?;
        Ok(text)
    }

    /// Leaves the group as the policy found it: thawed, its throttled limits back. For a
    /// group that lives on (`rein supervise` stopping, a handle's policing dropped).
    pub fn finish(&mut self, group: &Group) -> Result<()> {
        let thawed = self.thaw(group);
        let mut restored = Ok(());
        for (which, t) in std::mem::take(&mut self.throttles) {
            if let Err(e) = self.write_limit(group, which, t.original) {
                restored = Err(e);
            }
        }
        for pid in self.helpers.drain(..) {
            // Reaped if done; a notify command still running is left to finish on its own.
            let _ = launch::try_wait(pid);
        }
        thawed.and(restored)
    }

    /// The time since [`Enforcer::start`].
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

fn eventfd() -> Result<std::os::fd::OwnedFd> {
    rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).map_err(|e| Error::Io {
        op: "create an eventfd".into(),
        path: "(policy)".into(),
        cause: e.into(),
        hint: None,
    })
}

fn clone_io(e: &std::io::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(libc::EIO))
}

/// A policy enforced by a thread of its own, on a group that lives on: what
/// [`crate::Cgroup::police`] returns. Dropping it (or [`Policing::stop`]) stops the thread
/// and leaves the group thawed with its throttled limits restored.
#[derive(Debug)]
pub struct Policing {
    stop: Option<std::os::fd::OwnedFd>,
    thread: Option<std::thread::JoinHandle<Result<Option<Verdict>>>>,
    actions: Option<mpsc::Receiver<Action>>,
}

impl Policing {
    /// Starts enforcing `policy` on the group at `path` in a thread.
    pub fn start(h: Arc<Hierarchy>, path: &GroupPath, policy: &Policy) -> Result<Policing> {
        let (tx, actions) = mpsc::channel();
        let mut p = Policing::start_with(h, path, policy, tx)?;
        p.actions = Some(actions);
        Ok(p)
    }

    /// [`Policing::start`], its actions sent to `tx` (several groups' to one receiver:
    /// `rein supervise`). The thread ends by itself when the group is removed
    /// ([`Policing::is_finished`]).
    pub fn start_with(
        h: Arc<Hierarchy>,
        path: &GroupPath,
        policy: &Policy,
        tx: mpsc::Sender<Action>,
    ) -> Result<Policing> {
        let group = Group::open(h, path)?;
        let mut enforcer = Enforcer::start(&group, policy, Options::default())?;
        let stop = eventfd()?;
        let stop_rd = stop.try_clone().map_err(|e| Error::Io {
            op: "duplicate an eventfd".into(),
            path: "(policy)".into(),
            cause: e,
            hint: None,
        })?;
        let thread = std::thread::Builder::new()
            .name("rein-policy".into())
            .spawn(move || -> Result<Option<Verdict>> {
                loop {
                    // A group removed while no policy wakes the enforcer is noticed within
                    // a second.
                    let until = Instant::now() + Duration::from_secs(1);
                    let ready = enforcer.wait(&group, &[stop_rd.as_fd()], Some(until));
                    for a in enforcer.take_actions() {
                        let _ = tx.send(a);
                    }
                    if !group.exists() {
                        return Ok(enforcer.verdict());
                    }
                    if ready?[0] {
                        break;
                    }
                }
                enforcer.settle(&group)?;
                let verdict = enforcer.verdict();
                enforcer.finish(&group)?;
                for a in enforcer.take_actions() {
                    let _ = tx.send(a);
                }
                Ok(verdict)
            })
            .map_err(|e| Error::Io {
                op: "start the policy thread".into(),
                path: "(policy)".into(),
                cause: e,
                hint: None,
            })?;
        Ok(Policing { stop: Some(stop), thread: Some(thread), actions: None })
    }

    /// Whether the thread ended by itself (the group was removed, or an error stopped
    /// it: [`Policing::stop`] returns it).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// The actions taken so far that were not yet returned (without waiting).
    pub fn actions(&self) -> Vec<Action> {
        self.actions.as_ref().map(|r| r.try_iter().collect()).unwrap_or_default()
    }

    /// The next action, waiting at most `timeout`.
    pub fn next_action(&self, timeout: Duration) -> Option<Action> {
        self.actions.as_ref()?.recv_timeout(timeout).ok()
    }

    /// Stops enforcing: the group is thawed and its throttled limits restored. Returns
    /// why the policy ended the group, if it did.
    pub fn stop(mut self) -> Result<Option<Verdict>> {
        self.halt()
    }

    fn halt(&mut self) -> Result<Option<Verdict>> {
        if let Some(stop) = self.stop.take() {
            let _ = rustix::io::write(&stop, &1u64.to_ne_bytes());
        }
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| Err(Error::state("the policy thread panicked", None))),
            None => Ok(None),
        }
    }
}

impl Drop for Policing {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampled_stall_is_measured_over_one_window() {
        let w = Duration::from_secs(2);
        let t0 = Instant::now();
        let mut s = StallSamples::new(w, t0);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Not a window of samples yet: nothing to say.
        assert_eq!(s.add(at(0), 1_000), None);
        assert_eq!(s.next, at(500));
        assert_eq!(s.add(at(500), 1_100), None);
        assert_eq!(s.add(at(1500), 1_400), None);
        // A window on: 700 ms of stall over exactly 2 s.
        assert_eq!(s.add(at(2000), 701_000), Some(700_000));
        // A sample late (a busy machine): from the one at 0.5 s, 2.5 s before, the growth
        // scaled to one window (1_199_900 x 2 / 2.5).
        assert_eq!(s.add(at(3000), 1_201_000), Some(959_920));
        // The baseline moves on to the sample exactly a window before.
        assert_eq!(s.add(at(4000), 1_251_400), Some(550_400));
        assert_eq!(s.samples.front().map(|(t, _)| *t), Some(at(2000)));
        // A total that goes backwards (a new group under the same name) is no stall.
        assert_eq!(s.add(at(6000), 5), Some(0));
    }

    #[test]
    fn verdicts_give_the_documented_exit_codes() {
        assert_eq!(Verdict::TimedOut.exit_code(), Some(124));
        assert_eq!(Verdict::CpuTimeUsed { used_usec: 1 }.exit_code(), Some(152));
        assert_eq!(Verdict::KilledOnOom.exit_code(), None);
    }

    #[test]
    fn actions_read_as_sentences_and_json() {
        let trigger = PressureTrigger::parse("memory:some:20%/1s").unwrap();
        let a = Action {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1),
            group: GroupPath::parse("rein/job").unwrap(),
            kind: ActionKind::Throttle { file: "cpu.max", value: "75000 100000".into() },
            cause: Cause::Pressure { trigger },
        };
        assert_eq!(a.to_string(), "memory:some:200ms/1s: lowered cpu.max to 75000 100000");
        let j = serde_json::to_value(&a).unwrap();
        assert_eq!(j["time_usec"], 1_000_000);
        assert_eq!(j["group"], "/rein/job");
        assert_eq!(j["action"], "throttle");
        assert_eq!(j["cause"], "pressure");
        assert_eq!(j["file"], "cpu.max");
        let t = Action { kind: ActionKind::Term { processes: 2 }, cause: Cause::Timeout { usec: 1_000_000 }, ..a };
        assert_eq!(t.to_string(), "timeout 1.000s: sent SIGTERM to 2 processes");
    }
}
