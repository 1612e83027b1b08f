//! The v1 planner: for one v1 hierarchy, the directories, cpuset copy-down and limit
//! writes that bring a group to its limits. It reads the tree and writes nothing.

use std::collections::BTreeSet;

use crate::cgroupfs::{GroupPath, format};
use crate::error::{Error, Result};
use crate::hierarchy::{Controller, Hierarchy, Place};
use crate::plan::{Action, Plan, Write};
use crate::resources::Resources;
use crate::units::CpuList;

/// Plans the group at `path` carrying `r` in the v1 hierarchy at `index`: missing
/// ancestors (with cpuset.cpus and mems copied down), the group's directory (new when
/// `must_be_new`) and the writes of the controllers `on`.
pub(crate) fn plan(
    h: &Hierarchy,
    index: usize,
    path: &GroupPath,
    r: &Resources,
    on: &BTreeSet<Controller>,
    must_be_new: bool,
    plan: &mut Plan,
) -> Result<()> {
    let v1m = &h.v1_mounts()[index];
    let m = &v1m.mount;
    let place = Place::V1(index);
    let has_cpuset = v1m.controllers.contains(&Controller::Cpuset);
    let lineage = path.lineage();
    let (ancestors, _) = lineage.split_at(lineage.len() - 1);
    let mut exists = true;
    // The nearest ancestor that exists, whose device access a new group starts from and
    // never exceeds (a v1 group can only narrow its parent's).
    let mut nearest: Option<&GroupPath> = None;
    // A new cpuset group starts with empty cpus and mems, and no task can join it until
    // both are set: copy them down from the nearest ancestor that has them.
    let mut cpus = String::new();
    let mut mems = String::new();
    for a in ancestors {
        if !a.is_root() {
            exists = exists && m.exists(a);
            if exists {
                nearest = Some(a);
            }
            if !exists {
                plan.push(Action::Mkdir { place, group: a.clone(), must_be_new: false });
            }
        }
        if has_cpuset {
            let (c, me) = if exists {
                (m.read(a, super::CPUSET_CPUS)?.trim().to_string(), m.read(a, super::CPUSET_MEMS)?.trim().to_string())
            } else {
                (String::new(), String::new())
            };
            for (file, have, inherited) in [(super::CPUSET_CPUS, &c, &mut cpus), (super::CPUSET_MEMS, &me, &mut mems)] {
                if have.is_empty() && !a.is_root() {
                    plan.push(Action::Write {
                        place,
                        group: a.clone(),
                        write: Write::new(file, inherited.clone()),
                        previous: None,
                        if_empty: true,
                    });
                } else if !have.is_empty() {
                    *inherited = have.clone();
                }
            }
        }
    }
    if has_cpuset {
        let parent = ancestors.last().map(|a| m.dir_path(a)).unwrap_or_default();
        let c = CpuList::parse(&cpus).unwrap_or_default();
        let me = CpuList::parse(&mems).unwrap_or_default();
        r.check_cpuset_granted(&c, &me, &parent.display().to_string())?;
    }
    let group_exists = exists && m.exists(path);
    if group_exists && must_be_new {
        return Err(Error::state(
            format!("group {path} already exists ({})", m.dir_path(path).display()),
            Some("pick another name, or use 'rein set' to change an existing group".into()),
        ));
    }
    let mut r = r.clone();
    if !group_exists {
        plan.push(Action::Mkdir { place, group: path.clone(), must_be_new: true });
        if has_cpuset {
            r.cpuset.cpus = r.cpuset.cpus.or_else(|| CpuList::parse(&cpus).ok());
            r.cpuset.mems = r.cpuset.mems.or_else(|| CpuList::parse(&mems).ok());
        }
    }
    let mut on = on.clone();
    if has_cpuset {
        on.insert(Controller::Cpuset);
    }
    let parent_devices = if on.contains(&Controller::Devices) {
        nearest.and_then(|a| m.read(a, super::DEVICES_LIST).ok())
    } else {
        None
    };
    let current = |file: &str| {
        if file == super::PARENT_DEVICES_LIST {
            parent_devices.clone()
        } else if group_exists {
            m.read(path, file).ok()
        } else {
            None
        }
    };
    for write in super::limit_writes(&r, &on, &current)? {
        let previous = if group_exists { m.read(path, format::undo_source(&write.file)).ok() } else { None };
        if previous.as_deref().is_some_and(|old| format::same_setting(&write.file, &write.value, old)) {
            continue;
        }
        plan.push(Action::Write { place, group: path.clone(), write, previous, if_empty: false });
    }
    Ok(())
}
