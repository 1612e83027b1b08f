//! Creating a named group and changing its limits: what is asked ([`Change`]: the
//! model's limits and controllers, plus raw writes passed through) becomes one
//! [`Plan`], shown by `--dry-run` and executed all or nothing (`rein create`, `rein set`,
//! cgcreate, cgset, rein.toml, the drivers). A live change on v1 also plans the
//! directories the group lacks (only while it is empty), and a group that starts to
//! restrict devices takes its descendants into the v1 devices hierarchy. Apart from the
//! other parts because this is the one that builds plans out of the model.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use super::files::place_of;
use super::remove::descendants;
use crate::cgroupfs::GroupPath;
use crate::compat::raw::RawWrite;
use crate::error::{Error, Result};
use crate::group::{Group, Spec};
use crate::hierarchy::{Binding, Controller, Hierarchy};
use crate::mark::Mark;
use crate::plan::{Action, Place, Plan, Write};
use crate::procfs::{ProcTable, describe_pids};

/// What a create or set asks for.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Limits in the model, and the controllers the group must have.
    pub spec: Spec,
    /// Writes passed through as given (raw names of the running mode), after the
    /// model's writes, in order.
    pub raw: Vec<RawWrite>,
}

impl Change {
    /// The model's settings that a raw write sets too, named (a setting given twice).
    pub(crate) fn conflicts(&self) -> Vec<String> {
        let fields = self.spec.resources.fields();
        self.raw
            .iter()
            .filter_map(|w| crate::compat::raw::field_of(w).filter(|f| fields.contains(f)).map(|f| (f, &w.file)))
            .map(|(f, file)| format!("{f} (and -r {file})"))
            .collect()
    }
}

/// The controllers a named group gets when none are named: every limit controller the
/// host offers, so limits can be added later (v1 adds cpuacct for CPU time and the
/// freezer).
pub fn default_controllers(h: &Hierarchy) -> BTreeSet<Controller> {
    let mut set: BTreeSet<Controller> =
        [Controller::Cpu, Controller::Cpuset, Controller::Memory, Controller::Io, Controller::Pids].into();
    if h.mode() != crate::hierarchy::Mode::Unified {
        set.extend([Controller::Cpuacct, Controller::Freezer]);
    }
    set
}

fn spec_with_raw(change: &Change) -> Spec {
    let mut spec = change.spec.clone();
    spec.accounting.extend(crate::compat::raw::controllers_of(&change.raw));
    spec
}

fn refuse_conflicts(change: &Change) -> Result<()> {
    let c = change.conflicts();
    if c.is_empty() {
        return Ok(());
    }
    Err(Error::invalid("settings", c.join(", "), "set twice; give each setting once"))
}

fn push_raw(h: &Hierarchy, path: &GroupPath, raw: &[RawWrite], plan: &mut Plan) -> Result<()> {
    for w in raw {
        let place = place_of(h, w.home)?;
        let m = place.mount(h);
        let previous =
            if m.exists(path) { m.read(path, crate::cgroupfs::format::undo_source(&w.file)).ok() } else { None };
        plan.push(Action::Write {
            place,
            group: path.clone(),
            write: Write::new(w.file.clone(), w.value.clone()),
            previous,
            if_empty: false,
        });
    }
    Ok(())
}

/// Plans creating the group at `path`: missing ancestors, controllers enabled down the
/// path, the group in every hierarchy it needs, its limits, then the raw writes, with
/// the new directories marked (`mark` on the group, `parent` on ancestors).
pub fn plan_create(h: &Hierarchy, path: &GroupPath, change: &Change, mark: Mark) -> Result<Plan> {
    refuse_conflicts(change)?;
    let (mut plan, _) = Group::plan(h, path, &spec_with_raw(change), true)?;
    push_raw(h, path, &change.raw, &mut plan)?;
    plan.mark_new_groups(mark);
    Ok(plan)
}

/// Creates the group (see [`plan_create`]); nothing is left behind when a step fails.
pub fn create(h: Arc<Hierarchy>, path: &GroupPath, change: &Change, mark: Mark) -> Result<Group> {
    let plan = plan_create(&h, path, change, mark)?;
    plan.execute(&h)?;
    Group::open(h, path)
}

/// Plans a live change of an existing group. Controllers it lacks are enabled; on v1
/// a hierarchy where it has no directory yet gets one, but only while the group is
/// empty: a new v1 directory starts without the group's processes, so a limit there
/// would silently not apply to them.
pub fn plan_set(group: &Group, change: &Change) -> Result<Plan> {
    refuse_conflicts(change)?;
    let h = group.hierarchy();
    let path = group.path();
    let (mut plan, _) = Group::plan(h, path, &spec_with_raw(change), false)?;
    let new_dirs: Vec<PathBuf> = plan
        .actions()
        .iter()
        .filter_map(|a| match a {
            Action::Mkdir { place, group: g, .. } if g == path => Some(place.mount(h).dir_path(g)),
            _ => None,
        })
        .collect();
    if !new_dirs.is_empty() {
        let pids = group.all_procs()?;
        if !pids.is_empty() {
            return Err(Error::state(
                format!(
                    "group {path} has no directory yet in {} and holds processes ({}); a new v1 directory \
                     would not contain them, so the limit would not apply",
                    new_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
                    describe_pids(&pids, &ProcTable::default())
                ),
                Some(
                    "create groups with every controller they will need (rein create NAME, or -g CONTROLLERS:NAME), \
                     or stop the processes first"
                        .into(),
                ),
            ));
        }
    }
    push_raw(h, path, &change.raw, &mut plan)?;
    // Directories added to a group of rein's carry its mark; a group rein did not make
    // stays unmarked, so it never looks like rein's.
    if let Some(mark) = group.mark()? {
        plan.mark_new_groups(mark);
    }
    join_descendants_to_v1_devices(group, change, &mut plan)?;
    Ok(plan)
}

/// On v1 a group's device rules bind only the processes in its devices directory and
/// beneath it: a child group with no directory in the devices hierarchy (made before its
/// parent restricted, or by a tool that named only some controllers) is not bound. When
/// a change makes `group` deny by default, its existing descendants join the devices
/// hierarchy after the group's own rules are written, parents first: each new directory
/// copies its parent's rules (as on v2, where every program up the tree runs) and carries
/// the descendant's own mark. An empty descendant only, as for the group itself in
/// [`plan_set`]: a populated one is refused, since a new directory would not hold its
/// processes.
fn join_descendants_to_v1_devices(group: &Group, change: &Change, plan: &mut Plan) -> Result<()> {
    let h = group.hierarchy();
    let Some(Binding::V1(m)) = h.binding(Controller::Devices) else { return Ok(()) };
    if change.spec.resources.devices.as_ref().is_none_or(|a| a.effective(&[]).default_allow) {
        return Ok(());
    }
    let place = Place::V1(h.v1_mounts().iter().position(|x| std::ptr::eq(x, m)).unwrap_or_default());
    // Parents first (descendants lists the deepest first); a subtree found empty needs
    // no second look at the groups in it.
    let mut outside: Vec<GroupPath> =
        descendants(h, group.path())?.into_iter().filter(|d| !m.mount.exists(d)).collect();
    outside.reverse();
    let mut empty: Vec<GroupPath> = Vec::new();
    for d in outside {
        let child = Group::open(h.clone(), &d)?;
        if !empty.iter().any(|e| d.starts_with(e)) {
            let pids = child.all_procs()?;
            if !pids.is_empty() {
                return Err(populated_outside_devices(group, &m.mount, &d, &pids));
            }
            empty.push(d.clone());
        }
        plan.push(Action::Mkdir { place, group: d.clone(), must_be_new: false });
        if let Some(mark) = child.mark()? {
            plan.push(Action::Mark { place, group: d, mark });
        }
    }
    Ok(())
}

/// The refusal of [`join_descendants_to_v1_devices`]: `d`, beneath `group`, holds `pids`
/// outside the devices hierarchy `devices`.
fn populated_outside_devices(group: &Group, devices: &crate::cgroupfs::Mount, d: &GroupPath, pids: &[u32]) -> Error {
    Error::state(
        format!(
            "group {d} beneath {} has no directory in the devices hierarchy ({}) and holds processes ({}); the \
             new device rules would not bind them",
            group.path(),
            devices.path().display(),
            describe_pids(pids, &ProcTable::default())
        ),
        Some(format!(
            "stop those processes, or remove group {d}, and set the rules again; groups made beneath {} once it \
             restricts join the devices hierarchy by themselves",
            group.path()
        )),
    )
}

/// Changes an existing group live (see [`plan_set`]); on failure the values already
/// changed are restored. Holds the group's change lock ([`Group::lock`]) from planning
/// to the last write, so concurrent changes of one group take turns.
pub fn set(group: &mut Group, change: &Change) -> Result<()> {
    let _lock = group.lock()?;
    let plan = plan_set(group, change)?;
    plan.execute(group.hierarchy())?;
    *group = Group::open(group.hierarchy().clone(), group.path())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::raw::Home;
    use crate::resources::Resources;
    use crate::testing::{FakeTree, Layout};
    use crate::units::{Bytes, Limit};

    fn lines(tree: &FakeTree, plan: &Plan) -> Vec<String> {
        let root = tree.path().display().to_string();
        plan.display(&tree.hierarchy()).to_string().lines().map(|l| l.replace(&root, "")).collect()
    }

    #[test]
    fn create_marks_the_group_and_the_parents_it_makes() {
        let tree = FakeTree::new(Layout::V2);
        let h = tree.hierarchy();
        let change = Change {
            spec: Spec { resources: Resources::new().memory_max(Bytes::mib(20)), ..Spec::default() },
            raw: vec![RawWrite {
                home: Home::Controller(Controller::Memory),
                file: "memory.swap.max".into(),
                value: "0".into(),
            }],
        };
        let plan = plan_create(&h, &GroupPath::parse("tenants/a").unwrap(), &change, Mark::Named).unwrap();
        assert_eq!(
            lines(&tree, &plan),
            [
                "+memory > /cgroup.subtree_control",
                "mkdir /tenants",
                "setfattr -n user.rein -v parent /tenants",
                "+memory > /tenants/cgroup.subtree_control",
                "mkdir /tenants/a",
                "setfattr -n user.rein -v named /tenants/a",
                "20971520 > /tenants/a/memory.max",
                "0 > /tenants/a/memory.swap.max",
            ]
        );
    }

    #[test]
    fn a_setting_given_twice_is_refused() {
        let tree = FakeTree::new(Layout::V2);
        let change = Change {
            spec: Spec { resources: Resources::new().memory_max(Limit::Max), ..Spec::default() },
            raw: vec![RawWrite {
                home: Home::Controller(Controller::Memory),
                file: "memory.max".into(),
                value: "1".into(),
            }],
        };
        let e = plan_create(&tree.hierarchy(), &GroupPath::parse("a").unwrap(), &change, Mark::Named).unwrap_err();
        assert!(e.to_string().contains("memory.max (and -r memory.max)"), "{e}");
    }

    #[test]
    fn set_on_v1_refuses_a_new_directory_under_running_processes() {
        let tree = FakeTree::new(Layout::V1);
        tree.group("web");
        // The group lives only in the memory hierarchy, and holds a process.
        for m in ["cpu", "cpuacct", "cpuset", "blkio", "pids", "freezer"] {
            std::fs::remove_dir_all(tree.path().join(m).join("web")).unwrap();
        }
        std::fs::write(tree.path().join("memory/web/cgroup.procs"), format!("{}\n", std::process::id())).unwrap();
        let g = Group::open(tree.hierarchy(), &GroupPath::parse("web").unwrap()).unwrap();
        let change = Change {
            spec: Spec { resources: Resources::new().cpu_percent(35.0).unwrap(), ..Spec::default() },
            ..Change::default()
        };
        let e = plan_set(&g, &change).unwrap_err().to_string();
        assert!(e.contains("has no directory yet in") && e.contains("cpu/web"), "{e}");
        // A memory change is fine: the directory exists.
        let change = Change {
            spec: Spec { resources: Resources::new().memory_max(Bytes::mib(1)), ..Spec::default() },
            ..Change::default()
        };
        plan_set(&g, &change).unwrap();
    }

    /// A fake v1 tree with a devices hierarchy allowing everything, groups `paths` in
    /// every other hierarchy.
    fn v1_with_devices(paths: &[&str]) -> FakeTree {
        let tree = FakeTree::new(Layout::V1);
        tree.add_v1_devices(&[]);
        for p in paths {
            tree.group(p);
        }
        tree
    }

    fn strict(allow: &str) -> Change {
        Change {
            spec: Spec {
                resources: Resources {
                    devices: Some(crate::testing::device_access(Some(crate::devices::DevicePolicy::Strict), &[allow])),
                    ..Resources::new()
                },
                ..Spec::default()
            },
            ..Change::default()
        }
    }

    #[test]
    fn on_v1_a_group_that_starts_restricting_takes_its_existing_children_into_the_devices_hierarchy() {
        let tree = v1_with_devices(&["web/a/deep", "web/b"]);
        // web/b is rein's; web/a and web/a/deep were made by another tool.
        std::fs::write(tree.path().join("memory/web/b/cgroup.procs"), "").unwrap();
        let h = tree.hierarchy();
        let b = GroupPath::parse("web/b").unwrap();
        h.v1_mounts()
            .iter()
            .find(|m| m.controllers.contains(&Controller::Memory))
            .unwrap()
            .mount
            .set_xattr(&b, crate::mark::XATTR, &Mark::Named.value())
            .unwrap();
        let g = Group::open(h.clone(), &GroupPath::parse("web").unwrap()).unwrap();
        let plan = plan_set(&g, &strict("allow c 1:3 rw")).unwrap();
        let l = lines(&tree, &plan);
        let at = |x: &str| l.iter().position(|y| y == x).unwrap_or_else(|| panic!("no {x:?} in {l:#?}"));
        // The group's rules first, then its children's directories, parents first, each
        // with its own mark (none for the ones rein did not make).
        assert!(at("'c 1:3 rw' > /devices/web/devices.allow") < at("mkdir /devices/web/a"), "{l:#?}");
        assert!(at("mkdir /devices/web/a") < at("mkdir /devices/web/a/deep"), "{l:#?}");
        assert!(at("mkdir /devices/web/b") < at("setfattr -n user.rein -v named /devices/web/b"), "{l:#?}");
        assert_eq!(l.iter().filter(|x| x.starts_with("setfattr")).count(), 1, "{l:#?}");
        // A change that does not restrict leaves them out.
        let open = plan_set(
            &g,
            &Change { spec: Spec { resources: Resources::new().pids_max(5), ..Spec::default() }, ..Change::default() },
        )
        .unwrap();
        assert!(!lines(&tree, &open).iter().any(|x| x.contains("/devices/")), "{:#?}", lines(&tree, &open));
    }

    #[test]
    fn on_v1_a_populated_child_outside_the_devices_hierarchy_refuses_new_rules_above_it() {
        let tree = v1_with_devices(&["web/a"]);
        // web is in the devices hierarchy already (allowing all); web/a is not.
        tree.add_v1_devices(&["web"]);
        let me = std::process::id();
        std::fs::write(tree.path().join("pids/web/a/cgroup.procs"), format!("{me}\n")).unwrap();
        let g = Group::open(tree.hierarchy(), &GroupPath::parse("web").unwrap()).unwrap();
        let e = plan_set(&g, &strict("allow c 1:3 rw")).unwrap_err();
        let text = format!("{e}");
        assert!(text.contains("group /web/a beneath /web has no directory in the devices hierarchy"), "{text}");
        assert!(text.contains(&me.to_string()), "{text}");
    }
}
