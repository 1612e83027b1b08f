//! What the scope driver ([`crate::Systemd`]) and the slice driver ([`crate::SliceDriver`])
//! share: waiting for systemd to unload what it stopped, writing what systemd cannot
//! express into a unit's own cgroup files, checking the device paths of IO limits, and
//! adding to an error's hint.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rein::plan::{Action, Place};
use rein::{Controller, Error, Group, Resources, Result, Spec};

use crate::bus::{self, Bus};
use crate::properties;

/// How long removal waits for systemd to unload the units it stopped. systemd unloads a
/// stopped unit in its next loop, so this is reached only by a manager too slow to answer,
/// and is as long as a call may take ([`bus::CALL_TIMEOUT`]).
pub const UNLOAD_TIMEOUT: Duration = bus::CALL_TIMEOUT;

/// `e` with `more` added to its hint, where it has one.
pub(crate) fn add_hint(e: Error, more: String) -> Error {
    match e {
        Error::Manager { manager, op, message, hint } => {
            let hint = Some(match hint {
                Some(h) => format!("{h}; {more}"),
                None => more,
            });
            Error::Manager { manager, op, message, hint }
        }
        Error::State { message, hint } => {
            let hint = Some(match hint {
                Some(h) => format!("{h}; {more}"),
                None => more,
            });
            Error::State { message, hint }
        }
        other => other,
    }
}

/// Checks that systemd can resolve the device path of every IO limit: it logs and skips a
/// limit whose path it cannot stat, so a missing `/dev/block/MAJ:MIN` (no udev) would
/// silently drop the limit.
pub fn check_device_paths(r: &Resources) -> Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    for m in &r.io.max {
        let path = properties::device_path(m.device);
        let ok = std::fs::metadata(&path).is_ok_and(|meta| {
            meta.file_type().is_block_device()
                && (libc::major(meta.rdev()), libc::minor(meta.rdev())) == (m.device.major, m.device.minor)
        });
        if !ok {
            return Err(Error::invalid(
                "io limit",
                m.device.to_string(),
                format!(
                    "systemd takes IO limits by device path and {path} does not name that block device \
                     (udev makes /dev/block/*); without it systemd would skip the limit"
                ),
            ));
        }
    }
    Ok(())
}

/// Writes `residual` into the unit's own cgroup files, refusing any plan that would touch
/// more than the unit's directory (the ancestors are systemd's).
pub(crate) fn write_residual(group: &mut Group, residual: &Resources) -> Result<()> {
    let spec = Spec { resources: residual.clone(), accounting: BTreeSet::new() };
    let plan = group.plan_update(&spec)?;
    let path = group.path().clone();
    if let Some(a) =
        plan.actions().iter().find(|a| !matches!(a, Action::Write { place: Place::V2, group, .. } if *group == path))
    {
        return Err(Error::state(
            format!("writing what systemd cannot express would also change the tree around {path}: {a:?}"),
            Some(
                "systemd should have enabled the controllers for the scope; check 'systemctl status' of its slice"
                    .into(),
            ),
        ));
    }
    group.update(&spec)
}

/// Waits until systemd has unloaded each of `units`, for at most [`UNLOAD_TIMEOUT`] in all.
/// systemd unloads a stopped unit in its loop after the stop job, asynchronously to the
/// JobRemoved signal, so the units may still be listed for a moment after the stop.
pub(crate) fn wait_unloaded<B: Bus + ?Sized>(bus: &B, units: &[&str]) -> Result<()> {
    let deadline = Instant::now() + UNLOAD_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    for unit in units {
        while bus.is_loaded(unit)? {
            if Instant::now() > deadline {
                return Err(Error::state(
                    format!("systemd still has {unit} loaded {UNLOAD_TIMEOUT:?} after stopping it"),
                    Some(format!("see 'systemctl status {unit}'")),
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// The hint for a controller systemd does not hand to the units under `root`.
pub(crate) fn not_delegated_hint(c: Controller, root: &str) -> String {
    if root.trim_matches('/').is_empty() {
        format!(
            "the kernel does not offer '{c}' in cgroup v2 here (compiled out, or disabled on the kernel command line)"
        )
    } else {
        format!(
            "the system manager does not delegate '{c}' to this user manager (it delegates cpu, memory and pids \
             by default). An administrator can add it: mkdir -p /etc/systemd/system/user@.service.d && printf \
             '[Service]\\nDelegate=cpu cpuset io memory pids\\n' > /etc/systemd/system/user@.service.d/delegate.conf \
             && systemctl daemon-reload, then restart the user manager (log out and in, or systemctl restart \
             user@UID.service); or run without --user as root"
        )
    }
}

/// Whether `in_scope()` holds now or within a second: systemd moves a scope's
/// processes before it answers the start job, but one run in the systemd VM's suite
/// saw a process still in its old cgroup right after the job ended, so the check
/// allows systemd a moment before it calls the start failed.
pub(crate) fn landed(mut in_scope: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        if in_scope() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
