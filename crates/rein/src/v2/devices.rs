//! v2 device access: cgroup v2 has no devices controller and no devices files; a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program on the group's directory decides each open and
//! mknod ([`crate::bpf::device_program`]). rein's program is named `rein_devices`;
//! programs of other owners on the same directory are left alone, and the kernel runs
//! them all (every one must allow), as it runs an ancestor's: a parent's rules bind its
//! children.

use std::os::fd::AsFd;

use crate::bpf::{self, device_program, sys::AttachType};
use crate::cgroupfs::{GroupPath, Mount};
use crate::devices::{DeviceAccess, Effective};
use crate::error::Result;
use crate::hierarchy::Place;
use crate::plan::{Action, Program};

/// The action that makes `access` the group's device access: rein's program for it,
/// replacing rein's earlier one (kept to restore on rollback) on an existing group.
/// None when rein's program attached already enforces that state (read back from its
/// instructions), so that applying the same access twice changes nothing, as for files.
pub(crate) fn program_action(
    m: &Mount,
    path: &GroupPath,
    access: &DeviceAccess,
    exists: bool,
) -> Result<Option<Action>> {
    let state = access.effective(&crate::devices::pts_majors());
    let found = if exists { attached(m, path)? } else { None };
    if found.as_ref().is_some_and(|(_, enforced)| enforced.as_ref() == Some(&state)) {
        return Ok(None);
    }
    let previous = found.map(|(insns, _)| insns);
    let insns = device_program::program(&state);
    Ok(Some(Action::Program {
        place: Place::V2,
        group: path.clone(),
        program: Program {
            attach: AttachType::Device,
            name: device_program::NAME,
            insns,
            describe: describe(&state),
            previous,
        },
    }))
}

/// rein's device program on the group, with the state it enforces when it reads back.
fn attached(m: &Mount, path: &GroupPath) -> Result<Option<(Vec<bpf::insn::Insn>, Option<Effective>)>> {
    let dir = m.open_dir(path)?;
    let found = bpf::find(dir.as_fd(), AttachType::Device, device_program::NAME)?;
    Ok(found.into_iter().next().map(|(_, info)| {
        let state = device_program::decode(&info.insns);
        (info.insns, state)
    }))
}

/// The device access in force on the group, read back from rein's program attached to
/// it (cgroup v2 keeps no file of it): `None` when it has none.
pub(crate) fn read_back(m: &Mount, path: &GroupPath) -> Result<Option<DeviceAccess>> {
    Ok(attached(m, path)?.map(|(_, state)| match state {
        Some(e) => DeviceAccess { policy: None, rules: e.rules() },
        // A program of rein's name rein cannot read: say nothing rather than guess.
        None => DeviceAccess::default(),
    }))
}

/// `deny all; allow c 1:3 rw, c 1:5 rwm` for dry runs and diffs.
fn describe(state: &Effective) -> String {
    let rules = state.rules();
    let mut out = rules[0].to_text().replace(" a *:* rwm", " all");
    if rules.len() > 1 {
        let verb = if state.default_allow { "deny" } else { "allow" };
        let list: Vec<String> = rules[1..].iter().map(ToString::to_string).collect();
        out.push_str(&format!("; {verb} {}", list.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{DevicePolicy, DeviceRule};

    #[test]
    fn dry_runs_say_what_the_program_allows() {
        let a = DeviceAccess {
            policy: Some(DevicePolicy::Strict),
            rules: vec![DeviceRule::parse("c 1:3 rw", true).unwrap(), DeviceRule::parse("b 7:* r", true).unwrap()],
        };
        assert_eq!(describe(&a.effective(&[])), "deny all; allow c 1:3 rw, b 7:* r");
        assert_eq!(describe(&DeviceAccess::default().effective(&[])), "allow all");
    }
}
