//! `rein apply --start`: each group's `command`, started inside it, detached, unless the
//! group holds processes already.

use std::ffi::OsString;
use std::sync::Arc;

use serde::Serialize;

use super::resolve::{Declared, Resolved};
use super::scope::{Options, base_of, full};
use crate::cgroupfs::GroupPath;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::hierarchy::Hierarchy;

/// What `apply --start` did for one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Started {
    /// The command was started: its pid.
    Started {
        /// The group.
        group: String,
        /// The command's pid.
        pid: u32,
    },
    /// The group holds processes already; nothing started.
    Running {
        /// The group.
        group: String,
        /// How many processes it holds.
        processes: usize,
    },
}

/// The groups with a command, and their full paths.
pub fn commands(resolved: &Resolved, opts: &Options) -> Result<Vec<(GroupPath, Declared)>> {
    let base = base_of(resolved, opts)?;
    resolved.groups.iter().filter(|d| d.command.is_some()).map(|d| Ok((full(&base, d)?, d.clone()))).collect()
}

/// Starts a group's command inside it, detached (its own session, stdin from
/// /dev/null, output to its `log` or /dev/null), unless the group holds processes
/// already. The command joins the group before it runs a single instruction.
pub fn start(h: &Arc<Hierarchy>, path: &GroupPath, d: &Declared) -> Result<Started> {
    let Some(argv) = &d.command else {
        return Err(Error::state(format!("group {path} has no command"), None));
    };
    let group = Group::open(h.clone(), path)?;
    let procs = group.all_procs()?;
    if !procs.is_empty() {
        return Ok(Started::Running { group: path.to_string(), processes: procs.len() });
    }
    let open = |p: &std::path::Path, append: bool| -> Result<std::os::fd::OwnedFd> {
        let mut o = std::fs::OpenOptions::new();
        if append {
            o.create(true).append(true);
        } else {
            o.read(true);
        }
        o.open(p).map(Into::into).map_err(|e| Error::Io {
            op: if append { "open the log".into() } else { "open".into() },
            path: p.to_path_buf(),
            cause: e,
            hint: None,
        })
    };
    let stdin = open(std::path::Path::new("/dev/null"), false)?;
    let output = match &d.log {
        Some(l) => open(l, true)?,
        None => open(std::path::Path::new("/dev/null"), true)?,
    };
    let args: Vec<OsString> = argv[1..].iter().map(OsString::from).collect();
    let spawn_err =
        |e: crate::launch::SpawnError| Error::Spawn { program: argv[0].clone(), cause: e.io_error().kind().into() };
    let cmd =
        crate::launch::Prepared::new(std::ffi::OsStr::new(&argv[0]), &args).map_err(spawn_err)?.detached(stdin, output);
    let fds = group.attach_fds()?;
    let child = crate::launch::spawn(&cmd, &fds.as_attach(), &crate::launch::SigMask::current()).map_err(|e| {
        let cause = std::io::Error::new(e.io_error().kind(), e.io_error().to_string());
        Error::Spawn { program: argv[0].clone(), cause }
    })?;
    Ok(Started::Started { group: path.to_string(), pid: child.pid as u32 })
}
