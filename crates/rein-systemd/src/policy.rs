//! The policy: which driver a command gets (`--driver auto|systemd|cgroupfs`, the host).

use std::path::Path;

use rein::{Error, Mode, Result};

/// True when systemd is the running init system (sd_booted(3): `/run/systemd/system` is a
/// directory, which systemd creates early at boot).
pub fn systemd_booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The driver asked for (`--driver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// systemd where it manages the hierarchy, cgroupfs otherwise.
    Auto,
    /// systemd, or an error saying why not.
    Systemd,
    /// rein writes cgroupfs itself.
    Cgroupfs,
}

/// What [`decide`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    /// systemd is PID 1 ([`systemd_booted`]).
    pub booted: bool,
    /// The hierarchy mode.
    pub mode: Mode,
    /// The tree is a fake one (`REIN_CGROUP_ROOT`), not the host's.
    pub fake_tree: bool,
    /// `--user` was given.
    pub user: bool,
}

/// The driver [`decide`] chose, and why (for `rein check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// rein writes cgroupfs itself.
    Cgroupfs(String),
    /// systemd, if its bus answers (the caller connects).
    Systemd(String),
}

/// The driver policy. Each condition, in order:
/// - a fake tree is never systemd's;
/// - `--user` means systemd's user manager, so it needs the systemd driver;
/// - systemd must be PID 1 for either instance to own the tree;
/// - the driver needs a pure cgroup v2 hierarchy: on hybrid and v1 hosts systemd splits
///   limits across v1 hierarchies that rein's cgroupfs driver already handles.
///
/// `auto` turns every "no" into cgroupfs with the reason; an explicit `systemd` turns it
/// into an error. Bus reachability is the caller's last check (connecting costs a round
/// trip): under `auto`, a bus that does not answer means cgroupfs too.
pub fn decide(requested: Requested, facts: Facts) -> Result<Decision> {
    if requested == Requested::Cgroupfs {
        if facts.user {
            return Err(Error::invalid(
                "--user",
                "--driver cgroupfs",
                "--user runs under systemd's user manager; drop --driver cgroupfs",
            ));
        }
        return Ok(Decision::Cgroupfs("--driver cgroupfs".into()));
    }
    let why_not = if facts.fake_tree {
        Some("the cgroup tree is a directory given by REIN_CGROUP_ROOT, not systemd's".to_string())
    } else if !facts.booted {
        Some("systemd is not PID 1 (no /run/systemd/system)".to_string())
    } else if facts.mode != Mode::Unified {
        Some(format!("the hierarchy is {} and the systemd driver needs pure cgroup v2", facts.mode))
    } else {
        None
    };
    match (why_not, requested, facts.user) {
        (None, _, user) => Ok(Decision::Systemd(format!(
            "systemd is PID 1 and manages the cgroup v2 hierarchy; units go to its {} manager",
            if user { "user" } else { "system" }
        ))),
        (Some(reason), Requested::Auto, false) => Ok(Decision::Cgroupfs(format!("auto: {reason}"))),
        (Some(reason), _, user) => Err(Error::state(
            format!("{} needs systemd, and {reason}", if user { "--user" } else { "--driver systemd" }),
            Some(if user {
                "without systemd, run rein as root or inside a delegated cgroup subtree, without --user".into()
            } else {
                "use --driver cgroupfs (or auto)".into()
            }),
        )),
    }
}
