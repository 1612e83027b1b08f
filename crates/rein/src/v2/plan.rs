//! The v2 planner: the directories, controller enables and limit writes that bring a
//! group to its limits in the cgroup2 hierarchy. It reads the tree (what exists, what
//! each ancestor enables and may enable, the CPUs it grants) and writes nothing.

use std::collections::BTreeSet;

use crate::cgroupfs::{GroupPath, Mount, format};
use crate::error::{Error, Result};
use crate::hierarchy::{Controller, Place, parse_controller_list};
use crate::plan::{Action, Plan, Write};
use crate::resources::Resources;
use crate::units::CpuList;

fn list(set: &BTreeSet<Controller>, sign: &str) -> String {
    set.iter().map(|c| format!("{sign}{c}")).collect::<Vec<_>>().join(" ")
}

/// Plans the cgroup2 side of a group at `path` carrying `r`: missing ancestors, the
/// controllers enabled down the path (`wanted`; those in `required` must be had, the
/// rest are for accounting and left out where an ancestor cannot give them), the
/// group's directory (new when `must_be_new`), its limit writes and, with
/// `program_devices`, the BPF program of its device access. Returns the controllers the
/// group gets.
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan(
    m: &Mount,
    root_controllers: &BTreeSet<Controller>,
    path: &GroupPath,
    r: &Resources,
    required: &BTreeSet<Controller>,
    wanted: &BTreeSet<Controller>,
    must_be_new: bool,
    program_devices: bool,
    plan: &mut Plan,
) -> Result<BTreeSet<Controller>> {
    let lineage = path.lineage();
    let (ancestors, _) = lineage.split_at(lineage.len() - 1);
    let mut wanted = wanted.clone();
    let mut exists = true;
    let mut available = root_controllers.clone();
    let mut cpus_allowed = CpuList::default();
    let mut mems_allowed = CpuList::default();
    // The granted CPUs and memory nodes are read only for a group that asks for some, and
    // the controller files only while some controller is wanted (on a hybrid host the
    // cgroup2 side often carries none): each read is an open, a read and a close.
    let cpuset_asked = r.cpuset.cpus.is_some() || r.cpuset.mems.is_some();
    for a in ancestors {
        if !a.is_root() {
            exists = exists && m.exists(a);
            if exists {
                if !wanted.is_empty() {
                    // What it has now, and what this plan enables in its parent before it
                    // gets here (its cgroup.controllers is its parent's subtree_control).
                    let now = parse_controller_list(&m.read(a, super::CGROUP_CONTROLLERS)?);
                    available = now.union(&available).copied().collect();
                }
            } else {
                plan.push(Action::Mkdir { place: Place::V2, group: a.clone(), must_be_new: false });
            }
        }
        if exists && cpuset_asked {
            if let Ok(t) = m.read(a, super::CPUSET_CPUS_EFFECTIVE) {
                cpus_allowed = CpuList::parse(&t).unwrap_or_default();
            }
            if let Ok(t) = m.read(a, super::CPUSET_MEMS_EFFECTIVE) {
                mems_allowed = CpuList::parse(&t).unwrap_or_default();
            }
        }
        if let Some(c) = wanted.iter().find(|c| !available.contains(c) && required.contains(c)) {
            return Err(unavailable_at(m, a, *c));
        }
        wanted.retain(|c| available.contains(c));
        let enabled = if exists && !wanted.is_empty() {
            parse_controller_list(&m.read(a, super::CGROUP_SUBTREE_CONTROL)?)
        } else {
            BTreeSet::new()
        };
        let mut missing: BTreeSet<Controller> = wanted.difference(&enabled).copied().collect();
        // An ancestor above a delegated subtree belongs to someone else: what it does not
        // enable already cannot be had. A limit that needs it is refused, naming the
        // file; an accounting-only controller is left out (its figures are absent).
        if !missing.is_empty() && exists && !m.may_write(a, super::CGROUP_SUBTREE_CONTROL) {
            if let Some(c) = missing.iter().find(|c| required.contains(c)) {
                return Err(not_delegated(m, a, *c));
            }
            wanted.retain(|c| !missing.contains(c));
            missing.clear();
        }
        if !missing.is_empty() {
            plan.push(Action::Write {
                place: Place::V2,
                group: a.clone(),
                write: Write::enable(super::CGROUP_SUBTREE_CONTROL, list(&missing, "+")),
                previous: None,
                if_empty: false,
            });
        }
        available = enabled.union(&wanted).copied().collect();
    }
    let parent = ancestors.last().map(|a| m.dir_path(a)).unwrap_or_default();
    r.check_cpuset_granted(&cpus_allowed, &mems_allowed, &parent.display().to_string())?;
    super::check_supported(r, &wanted)?;
    let group_exists = exists && m.exists(path);
    if group_exists && must_be_new {
        return Err(Error::state(
            format!("group {path} already exists ({})", m.dir_path(path).display()),
            Some("pick another name, or use 'rein set' to change an existing group".into()),
        ));
    }
    if !group_exists {
        plan.push(Action::Mkdir { place: Place::V2, group: path.clone(), must_be_new: true });
    }
    for write in super::limit_writes(r, &wanted) {
        let previous = if group_exists { m.read(path, &write.file).ok() } else { None };
        // A live change writes only what differs, so applying the same limits twice is a no-op.
        if previous.as_deref().is_some_and(|old| format::same_setting(&write.file, &write.value, old)) {
            continue;
        }
        plan.push(Action::Write { place: Place::V2, group: path.clone(), write, previous, if_empty: false });
    }
    // Device access: a program, not a file (no devices controller on cgroup v2).
    if let (true, Some(access)) = (program_devices, &r.devices) {
        if let Some(a) = super::devices::program_action(m, path, access, group_exists)? {
            plan.push(a);
        }
    }
    // Network control: programs and a map, not files (no net_cls/net_prio on cgroup v2).
    if !r.network.is_empty() {
        if let Some(a) = super::network::action(m, path, &r.network, group_exists)? {
            plan.push(a);
        }
    }
    Ok(wanted)
}

/// A controller an ancestor the user may not change does not pass down (see [`plan`]).
fn not_delegated(m: &Mount, a: &GroupPath, c: Controller) -> Error {
    let file = m.file_path(a, super::CGROUP_SUBTREE_CONTROL);
    Error::ControllerUnavailable {
        controller: c.to_string(),
        path: m.dir_path(a),
        hint: format!(
            "'{c}' is not delegated: {} does not enable it and you may not change that file; ask its owner \
             (as root: echo +{c} > {}), or leave out the limits that need '{c}'",
            file.display(),
            file.display()
        ),
    }
}

fn unavailable_at(m: &Mount, a: &GroupPath, c: Controller) -> Error {
    if a.is_root() {
        Error::ControllerUnavailable {
            controller: c.to_string(),
            path: m.file_path(a, super::CGROUP_CONTROLLERS),
            hint: format!("the kernel does not offer '{c}' in cgroup v2 (compiled out, or bound to a v1 hierarchy)"),
        }
    } else {
        Error::ControllerUnavailable {
            controller: c.to_string(),
            path: m.file_path(a, super::CGROUP_CONTROLLERS),
            hint: format!(
                "'{c}' is not delegated to {a}: enable it in its parent's cgroup.subtree_control \
                 (as root: echo +{c} > {}), or pick another --parent",
                m.file_path(&a.parent().unwrap_or_default(), super::CGROUP_SUBTREE_CONTROL).display()
            ),
        }
    }
}
