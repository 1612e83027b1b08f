//! `rein apply --start`: each group's `command`, started inside it, detached, unless the
//! group holds processes already.

use std::ffi::OsString;
use std::path::Path;
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

/// What would stop [`start`] from starting `d`'s command, found before anything is
/// applied, so that `rein apply --start` refuses then rather than leave groups made and
/// the command not running: the program, looked up as execvp does (ENOENT when it is
/// nowhere, EACCES when what is there cannot be run), and the `log`, which must be a file
/// that opens for appending or a name in a directory rein may write to. Nothing is created.
/// Err: the field of the group's table at fault (`command` or `log`) and the error.
pub fn check(d: &Declared) -> std::result::Result<(), (&'static str, Error)> {
    use std::os::unix::fs::PermissionsExt;
    let Some(program) = d.command.as_deref().and_then(|a| a.first()) else { return Ok(()) };
    // 0: runnable; else the errno execve would give for this candidate.
    let candidate = |p: &Path| match p.metadata() {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => 0,
        Ok(_) => libc::EACCES,
        Err(e) => e.raw_os_error().unwrap_or(libc::ENOENT),
    };
    let errno = if program.contains('/') {
        candidate(Path::new(program))
    } else {
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        let mut errno = libc::ENOENT;
        for dir in path.to_string_lossy().split(':') {
            match candidate(&Path::new(if dir.is_empty() { "." } else { dir }).join(program)) {
                0 => {
                    errno = 0;
                    break;
                }
                // As execvp: a candidate that exists but cannot be run is remembered, and
                // said when no later one runs.
                libc::EACCES => errno = libc::EACCES,
                _ => {}
            }
        }
        errno
    };
    if errno != 0 {
        let cause = std::io::Error::from_raw_os_error(errno);
        return Err(("command", Error::Spawn { program: program.clone(), cause }));
    }
    if let Some(log) = &d.log {
        let io = |cause: std::io::Error, path: &Path| Error::Io {
            op: "open the log".into(),
            path: path.to_path_buf(),
            cause,
            hint: Some("log names a file the command's output is appended to; its directory must exist".into()),
        };
        if log.exists() {
            std::fs::OpenOptions::new().append(true).open(log).map_err(|e| ("log", io(e, log)))?;
        } else {
            let dir = match log.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            rustix::fs::access(dir, rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK)
                .map_err(|e| ("log", io(e.into(), dir)))?;
            if !dir.is_dir() {
                return Err(("log", io(std::io::Error::from_raw_os_error(libc::ENOTDIR), dir)));
            }
        }
    }
    Ok(())
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
