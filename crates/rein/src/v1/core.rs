//! The v1 files of every hierarchy (the group's processes and threads), and what every
//! v1 controller's writer shares.

use crate::error::Error;

/// Processes of the group (every hierarchy).
pub const CGROUP_PROCS: &str = "cgroup.procs";
/// Threads of the group (every hierarchy).
pub const TASKS: &str = "tasks";

/// A setting v1 cannot express, with the closest thing it has.
pub(super) fn unsupported(what: &str, reason: &str) -> Error {
    Error::Unsupported { what: what.into(), mode: "v1".into(), reason: reason.into() }
}

/// Current values of a group's files, for choosing a safe write order on an existing
/// group. A new group passes `|_| None` (every limit is at its unlimited default).
/// Asked for [`PARENT_DEVICES_LIST`](super::PARENT_DEVICES_LIST), it answers the
/// `devices.list` of the nearest existing ancestor (None: the root, which allows all).
pub type Current<'a> = &'a dyn Fn(&str) -> Option<String>;
