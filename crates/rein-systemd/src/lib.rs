//! rein's systemd driver: groups as transient systemd units, created over D-Bus.
//!
//! Where systemd is PID 1 it owns the cgroup v2 tree: it enables controllers, writes the
//! limits of its units, and may rewrite or remove what others made behind its back. There
//! rein asks systemd for a unit, as `systemd-run --scope` does, instead of writing
//! cgroupfs itself. [`Systemd`] is the [`rein::driver::Driver`] of `rein run`: its scope, made around the held command.
//!
//! # One run
//!
//! 1. rein starts the command *held* before execve ([`rein::launch::spawn_held`]).
//! 2. [`transient_plan`] (pure) maps the [`rein::Resources`] to unit properties
//!    ([`properties::map`]) and names the units: the scope (`--unit`, default
//!    `rein-run-<pid>.scope`) inside a slice of its own (`rein-rein_run_<pid>.slice`) inside
//!    `--slice` (default `rein.slice`).
//! 3. One StartTransientUnit call creates both (the slice as an auxiliary unit), with the
//!    held pid in `PIDs=`; rein waits for the job's JobRemoved signal ([`bus`]).
//! 4. Limits systemd cannot express (the mapping's residual: `memory.oom.group` before
//!    systemd 253) are written into the scope's own cgroup files, and the limits in force
//!    are read from the scope's limit files for the report. The command is released.
//! 5. When it exits, rein kills what it left in the scope. systemd removes a scope's cgroup
//!    as soon as it is empty (a zombie does not keep it populated: the kernel unlinks a
//!    task from its cgroup at exit, not when it is reaped), so the final accounting is
//!    read from the per-run slice, which outlives it: cgroup v2 keeps a removed child's
//!    CPU time, OOM kills and IO in its parent, and the slice's peaks are the scope's (it
//!    holds nothing else).
//! 6. rein stops the slice and waits until both units are gone.
//!
//! # Choosing the driver
//!
//! [`decide`] is the policy: `auto` picks systemd when systemd is PID 1 (`/run/systemd/system`
//! exists), the hierarchy is pure cgroup v2, and (checked by the caller, by connecting) its
//! bus answers; cgroupfs otherwise.
//!
//! # Groups for `rein::Cgroup` handles
//!
//! [`SliceDriver`] implements [`rein::driver::Driver`]: a handle's group is a transient
//! slice, each process added to it a scope in that slice (see [`slices`]).
//! [`detect_driver`] picks it or the cgroupfs driver with the policy above:
//!
//! ```no_run
//! use rein::{Bytes, Cgroup};
//! use rein_systemd::{Instance, Requested, detect_driver};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let choice = detect_driver(Requested::Auto, Instance::System)?;
//! println!("driver {}: {}", choice.driver.name(), choice.reason);
//! let worker = Cgroup::builder("workers/w1").driver(choice.driver).memory_max(Bytes::mib(256)).create()?;
//! let child = worker.spawn(&mut std::process::Command::new("./job"))?;
//! # Ok(()) }
//! ```
//!
//! # The user manager
//!
//! With [`Instance::User`] the units go to the caller's own systemd (`user@UID.service`),
//! which can only use the controllers the system manager delegated to it (cpu, memory and
//! pids by default). systemd itself silently ignores a property whose controller is not
//! delegated (systemd issue 9641); rein refuses it, naming the controller.
#![deny(missing_docs)]
pub mod bus;
// A fake D-Bus peer for tests: it decodes the messages it reads with zbus's unsafe
// Message::from_bytes (the bytes are a whole message zbus itself wrote).
#[cfg(test)]
#[allow(unsafe_code)]
mod fake_bus;
pub mod names;
mod policy;
pub mod properties;
mod scope;
pub mod slices;
mod unit;

pub use bus::{Bounds, Bus, DbusBus, Instance, Left, StartError};
pub use policy::{Decision, Facts, Requested, decide, systemd_booted};
pub use scope::{ScopeOptions, Systemd, SystemdUnit, TransientPlan, transient_plan};
pub use slices::{DriverChoice, SliceDriver, detect_driver};
pub use unit::{UNLOAD_TIMEOUT, check_device_paths};

#[cfg(test)]
mod tests;
