//! rein puts Linux processes on a resource rein with cgroups: CPU, memory, IO,
//! process-count and CPU-set limits, and accounting, on cgroup v2, v1 and hybrid hosts.
//!
//! # Starting here: [`Cgroup`]
//!
//! Programs that start and steer workers want [`Cgroup`]: an owned handle on one group.
//! Build it with limits, [`Cgroup::spawn`] a [`std::process::Command`] directly inside it,
//! [`Cgroup::add_pid`], change limits live with [`Cgroup::set`], read [`Cgroup::stats`],
//! subscribe to [`Cgroup::events`], freeze, thaw, kill. Dropping it kills what is left and
//! removes the group; [`Cgroup::keep`] and [`Cgroup::into_persistent`] opt out, and
//! [`Cgroup::close`] returns the errors drop has to swallow.
//!
//! ```no_run
//! use std::process::Command;
//! use rein::{Bytes, Cgroup, Resources};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut worker = Cgroup::builder("workers/w1").memory_max(Bytes::mib(256)).cpu_percent(20.0).create()?;
//! let mut child = worker.spawn(Command::new("./job").arg("--fast"))?;
//! worker.set(&Resources::new().cpu_percent(5.0)?)?;
//! child.wait()?;
//! worker.close()?;
//! # Ok(()) }
//! ```
//!
//! The same handle works over every [`driver::Driver`]: [`driver::Cgroupfs`] (rein writes
//! the files, on v2, v1 and hybrid hosts) and the systemd driver of the `rein-systemd`
//! crate, where each group is a transient slice; `rein_systemd::detect_driver` picks one
//! as the `rein` command does. The [`handle`] module has the details; docs/LIBRARY.md in
//! the repository walks through the examples (a worker pool, backpressure from pressure
//! stall information, a port of a Python cgroup controller).
//!
//! # The pieces
//!
//! Data flows one way: user syntax ([`units`]) -> [`Resources`] -> a [`plan::Plan`] of
//! mkdirs and interface-file writes made by the v2 or v1 writer -> the kernel, through the
//! hardened accessor in [`cgroupfs`]. Accounting flows back the same way into [`Stats`].
//!
//! - [`Hierarchy`] finds the cgroup mounts and which controller is bound where.
//! - [`Resources`] is the one version-neutral model of limits; [`convert`] holds every
//!   translation between v1 and v2 vocabularies.
//! - [`Group`] is a group across the hierarchies it lives in: create, update, kill,
//!   freeze, read stats, remove. [`Cgroup`] ([`handle`]) is the owned handle over it.
//! - [`launch`] starts a command directly inside a group (clone3 `CLONE_INTO_CGROUP`).
//! - [`lifecycle`] drives named groups (create, set, move, remove; live changes of one
//!   group take turns through a [`lock::GroupLock`]), [`inspect`] reads
//!   them back (show, ls), and [`mark`] marks the groups rein makes, [`gc`] collects
//!   the transient ones a crash left.
//! - [`compat`] parses the vocabularies people know: libcgroup's `-g`/`-r`, systemd's
//!   properties, Docker's flags.
//! - [`driver`] is the one seam for who makes groups: rein itself ([`driver::Cgroupfs`]),
//!   or a service manager (systemd, in the `rein-systemd` crate) as units.
//! - [`Stats`] is one accounting schema for every mode ([`Group::stats`]);
//!   [`events::Watcher`] streams OOM kills, limit hits, PSI triggers and emptied groups.
//! - [`tree`] follows a subtree of groups and samples their accounting (`rein top`,
//!   `rein exporter`).
//!
//! # The lower level
//!
//! ```no_run
//! use std::sync::Arc;
//! use rein::{Bytes, GroupPath, Hierarchy, Resources, Spec, Group};
//!
//! # fn main() -> rein::Result<()> {
//! let h = Arc::new(Hierarchy::detect()?);
//! let spec = Spec { resources: Resources::new().memory_max(Bytes::mib(256)).cpu_percent(20.0)?, ..Spec::default() };
//! let group = Group::create(h, &GroupPath::parse("demo/worker-1")?, &spec)?;
//! group.add_pid(std::process::id())?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod backend;
pub mod bpf;
pub mod cgroupfs;
pub mod compat;
pub mod config;
pub mod controller;
pub mod convert;
pub mod device;
pub mod devices;
pub mod drain;
pub mod driver;
pub mod errno;
mod error;
pub mod events;
pub mod flags;
pub mod gc;
pub mod group;
pub mod handle;
pub mod hierarchy;
pub mod inspect;
// The one module of ordinary library code with unsafe: clone3(CLONE_INTO_CGROUP), fork and
// execve with an error pipe, sigprocmask/signalfd, wait4, kill: libc calls rustix does not
// wrap. Each block has a SAFETY comment (see the module's "Safety" notes).
#[allow(unsafe_code)]
pub mod launch;
pub mod ledger;
pub mod lifecycle;
pub mod lock;
pub mod mark;
pub mod network;
pub mod plan;
pub mod policy;
pub mod procfs;
pub mod resources;
pub mod sockdiag;
pub mod stats;
// Test support: seccomp filters and re-running a test in a process of its own.
#[cfg(any(test, feature = "testing"))]
#[allow(unsafe_code)]
pub mod test_support;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tree;
pub mod units;
pub(crate) mod v1;
pub(crate) mod v2;

pub use cgroupfs::{GroupPath, Verify};
pub use controller::Controller;
pub use error::{Error, Result};
pub use group::{Group, Spec};
pub use handle::Cgroup;
pub use hierarchy::{Hierarchy, Mode};
pub use resources::Resources;
pub use stats::Stats;
pub use units::{Bytes, CpuList, DeviceNumber, Limit, Shares, Weight};
