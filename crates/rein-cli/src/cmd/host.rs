//! What the commands share about the host they act on: the hierarchy (mounted, or a fake
//! tree), the raw-name translator's view of it, `-g` specs resolved on it, a group's
//! present values and directories; and running the command of `rein exec` and `cgexec`.
//! The named-group commands (cmd/groups.rs) and the libcgroup tools (compat_tools/)
//! both use them.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::bail;
use rein::compat::libcgroup::{self, GroupSpec};
use rein::compat::raw::{self, Host};
use rein::lifecycle;
use rein::plan::Place;
use rein::{Controller, Error, Group, GroupPath, Hierarchy, Verify};

/// The hierarchy: the mounted one, or a fake tree at `root` (REIN_CGROUP_ROOT).
pub fn detect_at(root: Option<&std::path::Path>) -> rein::Result<Hierarchy> {
    match root {
        Some(root) => Hierarchy::from_root(root, Verify::Nothing),
        None => Hierarchy::detect(),
    }
}

/// The host as the raw-name translator sees it.
pub fn host(h: &Hierarchy) -> Host {
    Host::of(h, rustix::param::page_size() as u64)
}

/// The controllers the -g specs resolve to on this host.
pub fn spec_controllers(h: &Hierarchy, specs: &[GroupSpec]) -> rein::Result<BTreeSet<Controller>> {
    let host = host(h);
    let mut out = BTreeSet::new();
    for s in specs {
        out.extend(libcgroup::resolve(&s.controllers, &host)?);
    }
    Ok(out)
}

/// Reads a group's present files by their native name, in whichever hierarchy has them.
pub fn current_reader<'a>(h: &'a Hierarchy, path: &'a GroupPath) -> impl Fn(&str) -> Option<String> + 'a {
    move |file: &str| lifecycle::read_file(h, path, raw::home_of(file).ok()?, file)
}

/// The places a libcgroup spec selects in a group: the directories of the named
/// controllers' hierarchies, and the cgroup2 directory (rein's core: kill, freeze,
/// pressure) where the group has one. Every directory for `*` or a v2 host.
pub fn places_for(group: &Group, controllers: Option<&BTreeSet<Controller>>) -> anyhow::Result<Option<Vec<Place>>> {
    let Some(wanted) = controllers else { return Ok(None) };
    let h = group.hierarchy();
    let mut places = Vec::new();
    for c in wanted {
        match lifecycle::place_of(h, raw::Home::Controller(*c)) {
            Ok(Place::V2) => {}
            Ok(p) => {
                if !group.nodes().iter().any(|n| n.place == p) {
                    bail!(Error::state(
                        format!("group {} has no directory in the {} hierarchy", group.path(), c.v1_name()),
                        Some(format!("create it there first: cgcreate -g {}:{}", c.v1_name(), group.path().as_str())),
                    ));
                }
                places.push(p);
            }
            // On v2 a v1-only name (cpuacct, freezer) means the core.
            Err(_) => {}
        }
    }
    if group.nodes().iter().any(|n| n.place == Place::V2) {
        places.push(Place::V2);
    }
    Ok(Some(places))
}

/// Replaces this process with the command (PATH search as execvp); returns only when
/// that fails, after printing why: 127 when not found, 126 when execve refused it
/// otherwise (`rein::launch::exec_exit_code`), 125 when it never got that far.
pub fn exec_command(program: &std::ffi::OsStr, args: &[std::ffi::OsString], me: &str) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(program).args(args).exec();
    let code = err.raw_os_error().map(rein::launch::exec_exit_code).unwrap_or(125);
    eoutln!("{me}: error: cannot run '{}': {err}", program.to_string_lossy());
    ExitCode::from(code)
}
