//! Policies: act on what a group does. A deadline (`timeout`), a CPU-time budget
//! (`cpu_time`), pressure rules (`memory:some:20%/1s=freeze`) and what to do on an OOM
//! kill, enforced by an [`Enforcer`] without a daemon: `rein run` drives one in its
//! supervisor loop, `rein supervise` one per group of a rein.toml, and the library's
//! handle one in a thread ([`Policing`]).
//!
//! | policy | kernel mechanism | action |
//! |---|---|---|
//! | `timeout` | a timer (wall clock) | SIGTERM to every process, `cgroup.kill` after `kill_after` |
//! | `cpu_time` | the group's CPU accounting (`cpu.stat` `usage_usec`, v1 `cpuacct.usage`), read at shrinking intervals | the same |
//! | pressure | a PSI trigger on the group's `<resource>.pressure` (cgroup2), `POLLPRI` | freeze, kill, notify, throttle |
//! | OOM | `memory.events` `oom_kill` (inotify), v1 the `memory.oom_control` eventfd | notify, or kill the group (`memory.oom.group` on v2) |
//!
//! Every action is counted on the group itself ([`crate::ledger`], [`crate::Group::policy_actions`]), so `rein events` and the
//! exporter see what an enforcer in another process did. See docs/POLICIES.md.
//!
//! ```no_run
//! use rein::policy::{Enforcer, Options, Policy, PressureRule};
//! use rein::{Group, GroupPath, Hierarchy};
//! use std::sync::Arc;
//!
//! # fn main() -> rein::Result<()> {
//! let h = Arc::new(Hierarchy::detect()?);
//! let group = Group::open(h, &GroupPath::parse("rein/job")?)?;
//! let mut policy = Policy::default();
//! policy.on_pressure.push(PressureRule::parse("cpu:some:50%/1s=throttle")?);
//! let mut enforcer = Enforcer::start(&group, &policy, Options::default())?;
//! loop {
//!     // Waits for the kernel and the deadlines (and your own fds beside), then acts.
//!     enforcer.wait(&group, &[], None)?;
//!     for action in enforcer.take_actions() {
//!         println!("{action}");
//!     }
//! #   break;
//! }
//! # Ok(()) }
//! ```

mod enforcer;
mod rules;

pub use enforcer::{
    Action, ActionKind, CPU_CHECK_MIN, Cause, Enforcer, Options, Policing, Verdict, check, controllers,
};
pub use rules::{
    DEFAULT_FREEZE_MAX, DEFAULT_KILL_AFTER, OomAction, Policy, PressureAction, PressureRule, Throttled, parse_deadline,
};
