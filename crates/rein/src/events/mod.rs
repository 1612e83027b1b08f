//! Events: OOM kills, limit hits, pressure triggers and groups becoming empty, as they
//! happen, for one or more groups, without a daemon.
//!
//! A [`Watcher`] turns the kernel's notification mechanisms into one stream of [`Event`]s:
//!
//! | event | cgroup v2 (and the cgroup2 side of a hybrid host) | cgroup v1 |
//! |---|---|---|
//! | `oom_kill` | `memory.events` `oom_kill`, inotify `IN_MODIFY` | eventfd on `memory.oom_control` through `cgroup.event_control`, then `oom_kill` read back |
//! | `oom` | `memory.events` `oom` | none (v1 counts no OOM entries) |
//! | `memory_max` | `memory.events` `max` | `memory.failcnt` + `memory.memsw.failcnt`, polled |
//! | `memory_high` | `memory.events` `high` | none (no memory.high) |
//! | `pids_max` | `pids.events` `max`, inotify | `pids.events` `max`, polled (v1 files send no inotify events) |
//! | `pressure` | a PSI trigger written to `<resource>.pressure`, `POLLPRI` | none (no per-group PSI); hybrid uses the cgroup2 group |
//! | `empty` | `cgroup.events` `populated` 1 -> 0, inotify | `cgroup.procs` of the group and its descendants, polled |
//! | `removed` | inotify `IN_DELETE` on the parent directory (cgroupfs sends no `IN_DELETE_SELF`) | the same |
//!
//! Polled counters are read every [`Options::poll_interval`] (100 ms by default). v1's
//! `release_agent` could report emptiness without polling, but it is one program per
//! hierarchy, set at the hierarchy root, shared with every other user of the host: rein
//! does not take it over.
//!
//! # Whose OOM kill
//!
//! An `oom_kill` event counts the kills of this group's processes, never an ancestor's
//! OOM. On v2 it is `oom_kill` in the group's own `memory.events` (the group and its
//! descendants): not `oom`, which the kernel counts in the group whose limit was hit.
//! When a parent and its child carry the same limit the parent hits it, and a watcher of
//! the child's `oom` sees nothing (containerd PR 6323 fixed exactly that). On v1 the
//! eventfd fires for an OOM of the group *or any ancestor*, so rein reads the group's
//! own `oom_kill` counter and reports only what it counts.
//!
//! # Latency
//!
//! The kernel rate-limits `cgroup.events`/`memory.events` notifications to one per 20 ms
//! per file (`CGROUP_FILE_NOTIFY_MIN_INTV`), and on v1 the eventfd fires *before* the
//! victim is chosen. So after a sign that an OOM kill is near (a `max` or `oom` increase
//! on v2, the eventfd on v1) the watcher re-reads the memory counters every
//! [`RECHECK_INTERVAL`] for a short window: the kill is reported within a few
//! milliseconds instead of at the next notification.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use rein::events::{Options, Watcher};
//! use rein::{Group, GroupPath, Hierarchy};
//!
//! # fn main() -> rein::Result<()> {
//! let h = Arc::new(Hierarchy::detect()?);
//! let mut w = Watcher::new(h.clone(), Options::default())?;
//! w.add(&Group::open(h, &GroupPath::parse("rein/job")?)?)?;
//! for event in w {
//!     println!("{}", serde_json::to_string(&event?).unwrap());
//! }
//! # Ok(()) }
//! ```

mod event;
pub(crate) mod trigger;
mod watcher;

pub use event::{Event, EventKind, Options};
pub use trigger::{PressureResource, PressureTrigger, Stall, privileged};
pub use watcher::{RECHECK_INTERVAL, Watcher};
