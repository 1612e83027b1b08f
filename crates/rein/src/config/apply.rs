//! Making the system match a file: `rein apply` (and `rein diff`, which plans and
//! shows) as library calls.
//!
//! [`plan`] reads the tree and computes one [`Plan`] for the whole file (each group's
//! part is [`Group::plan`]'s, for an existing group only the writes that differ from
//! the value in force), the groups to remove (`--prune`, checked by [`super::down`]), and
//! a [`Diff`] ([`super::diff`]) that says per group what will be created and changed
//! (old -> new, per interface file). [`apply`] executes that one plan, so its rollback
//! covers the whole file: when a write fails midway, the groups this apply created are
//! removed and the values it changed are restored. Removals come after the plan has
//! succeeded (an rmdir cannot be undone); every refusal (a populated group, foreign
//! children) is found before anything runs. [`plan_locked`] plans under the change locks
//! of the existing groups the plan changes.
//!
//! Which groups are the file's: the directories an apply creates carry the mark
//! `config id=<hash of the file's owner name>` ([`Mark::Config`]). `--prune` and `rein
//! down` ([`super::down`]) remove only directories with this file's mark. A group the
//! file declares that exists already without it (made by hand, by `rein create`) gets its
//! limits but no mark, and is never removed by the file; a group marked by another file,
//! or a live `rein run` group, is refused.
//!
//! Starting the file's commands after an apply (`--start`) is [`super::start`]'s.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::sync::Arc;

use super::diff::describe;
use super::down::{removals, remove_all};
use super::resolve::{Declared, Problem, Resolved};
use super::scope::{base_of, full, marked};
use crate::cgroupfs::{GroupPath, Mount};
use crate::compat::raw::{self, Host};
use crate::error::Error;
use crate::group::{Group, Spec};
use crate::hierarchy::{Binding, Controller, Hierarchy};
use crate::lifecycle::{self, Change, Removal};
use crate::lock::GroupLock;
use crate::mark::{Mark, config_id};
use crate::plan::{Action, Place, Plan, Write};
use crate::units::CpuList;

pub use super::scope::Options;

// The paths of these from before config/apply.rs was split (diff, down, start); the
// workspace names the new ones.
#[doc(no_inline)]
pub use super::diff::{Diff, FileDiff, GroupDiff, RemoveDiff, Verdict};
#[doc(no_inline)]
pub use super::down::{Teardown, down, plan_down};
#[doc(no_inline)]
pub use super::start::{Started, commands, start};

/// A refusal found while planning, with the key of the file it is about.
#[derive(Debug)]
pub struct Refused {
    /// The key path (a group's table, or the setting that caused it).
    pub at: Vec<String>,
    /// Why.
    pub error: Error,
}

impl Refused {
    /// As a [`Problem`], for locating in the file.
    pub fn problem(&self) -> Problem {
        let mut p = Problem::value(&self.at, self.error.to_string());
        p.on_key = self.at.len() <= 2 || self.at.iter().rev().nth(1).is_some_and(|k| k == "groups");
        p
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl From<Refused> for Error {
    fn from(r: Refused) -> Error {
        r.error
    }
}

/// Everything an apply will do: one plan, the removals, and the diff describing them.
/// From [`plan_locked`], it also holds the change locks of the groups it writes to, until
/// it is dropped.
#[derive(Debug)]
pub struct Changes {
    /// Every mkdir, mark and write, in order; executed at once.
    pub plan: Plan,
    /// Per group, what happens.
    pub diff: Diff,
    removals: Vec<Removal>,
    lock: Option<GroupLock>,
}

impl Changes {
    /// The actions as shell-like lines for `--dry-run`: the plan, then the removals.
    pub fn display(&self, h: &Hierarchy) -> String {
        let mut out = self.plan.display(h).to_string();
        for r in &self.removals {
            out.push_str(&r.to_string());
        }
        out
    }
}

/// The key a planning error is about: the setting behind the field it names, else the group.
fn origin(d: &Declared, e: &Error) -> Vec<String> {
    let field = match e {
        Error::InvalidValue { what, .. } | Error::Unsupported { what, .. } => Some(what.as_str()),
        _ => None,
    };
    if let Some(at) = field.and_then(|f| d.origins.get(f)) {
        return at.clone();
    }
    if let Error::ControllerUnavailable { controller, .. } = e {
        if let Some((_, at)) = d.origins.iter().find(|(f, _)| f.split('.').next() == Some(controller.as_str())) {
            return at.clone();
        }
    }
    d.at.clone()
}

/// Reads a group's present files by their native name, in whichever hierarchy has them.
fn current<'a>(h: &'a Hierarchy, path: &'a GroupPath) -> impl Fn(&str) -> Option<String> + 'a {
    move |file: &str| lifecycle::read_file(h, path, raw::home_of(file).ok()?, file)
}

/// Plans making the system match `resolved` (a file whose groups are marked as
/// `owner`'s). Reads the tree; writes nothing.
pub fn plan(
    h: &Arc<Hierarchy>,
    resolved: &Resolved,
    owner: &str,
    opts: &Options,
) -> std::result::Result<Changes, Refused> {
    let whole = |e: Error| Refused { at: Vec::new(), error: e };
    let id = config_id(owner);
    let ours = Mark::Config { id };
    let base = base_of(resolved, opts).map_err(whole)?;
    let scope = opts.prefix.clone().unwrap_or_default();
    let host = Host::of(h, rustix::param::page_size() as u64);
    let v1_cpuset = matches!(h.binding(Controller::Cpuset), Some(Binding::V1(_)));

    let mut parts = Vec::new();
    let mut declared: BTreeMap<GroupPath, bool> = BTreeMap::new(); // full path -> new
    // On v1 a new cpuset group copies its parent's cpus and mems; when that parent is
    // new or changes in this same plan, the copy must be the parent's new value.
    let mut targets: BTreeMap<GroupPath, (Option<CpuList>, Option<CpuList>)> = BTreeMap::new();
    // On v1 a group is bound by its parent's device rules only in the devices hierarchy
    // (there it copies them on mkdir). Group::plan joins it when the live parent
    // restricts; a parent that starts restricting in this same plan is not live yet, so
    // its new groups join here: the groups of this file whose device access denies by
    // default, and every group beneath one.
    let v1_devices = matches!(h.binding(Controller::Devices), Some(Binding::V1(_)));
    let mut restricting: BTreeSet<GroupPath> = BTreeSet::new();
    for d in &resolved.groups {
        let path = full(&base, d).map_err(|e| Refused { at: d.at.clone(), error: e })?;
        let refuse = |e: Error| Refused { at: d.at.clone(), error: e };
        let existing = Group::open(h.clone(), &path).ok();
        if let Some(g) = &existing {
            match g.mark().map_err(refuse)? {
                Some(Mark::Config { id: other }) if other != id => {
                    return Err(refuse(Error::state(
                        format!("group {path} belongs to another rein.toml (its mark is config {other:016x})"),
                        Some(
                            "two files cannot manage one group: rename the group, or remove it from the other file"
                                .into(),
                        ),
                    )));
                }
                Some(Mark::Transient { pid, .. }) => {
                    return Err(refuse(Error::state(
                        format!("group {path} is a transient group of 'rein run' (pid {pid})"),
                        Some("pick another name; 'rein gc' removes the group once its run is gone".into()),
                    )));
                }
                _ => {}
            }
        }
        let new = existing.is_none();
        let mut resources = d.resources.clone();
        let parent_target = path.parent().and_then(|p| targets.get(&p).cloned()).unwrap_or_default();
        if v1_cpuset && new {
            resources.cpuset.cpus = resources.cpuset.cpus.or(parent_target.0.clone());
            resources.cpuset.mems = resources.cpuset.mems.or(parent_target.1.clone());
        }
        let target = (
            d.resources.cpuset.cpus.clone().or(if new { parent_target.0 } else { None }),
            d.resources.cpuset.mems.clone().or(if new { parent_target.1 } else { None }),
        );
        targets.insert(path.clone(), target);

        let raw_settings: Vec<(String, String)> = d.raw.clone();
        let translated = raw::translate(&raw_settings, &host, &current(h, &path)).map_err(|e| {
            // The file named in the error, under the group's files table (the group's
            // table when it came from defaults or a template).
            let name = match &e {
                Error::Unsupported { what, .. } | Error::InvalidValue { what, .. } => what.clone(),
                _ => String::new(),
            };
            let mut at = d.at.clone();
            at.extend(["files".to_string(), name]);
            Refused { at, error: e }
        })?;
        let mut spec = Spec { resources, accounting: raw::controllers_of(&translated.raw) };
        if new {
            spec.accounting.extend(lifecycle::default_controllers(h));
        }
        let parent_restricts = path.parent().is_some_and(|p| restricting.contains(&p));
        if parent_restricts || d.resources.devices.as_ref().is_some_and(|a| !a.effective(&[]).default_allow) {
            restricting.insert(path.clone());
        }
        if v1_devices && new && parent_restricts {
            spec.accounting.insert(Controller::Devices);
        }
        let mut part = match &existing {
            None => Group::plan(h, &path, &spec, true).map(|(p, _)| p),
            Some(g) => lifecycle::plan_set(g, &Change { spec, raw: Vec::new() }),
        }
        .map_err(|e| Refused { at: origin(d, &e), error: e })?;
        for w in translated.raw {
            let place = lifecycle::place_of(h, w.home).map_err(refuse)?;
            let m = place.mount(h);
            refuse_missing_v1_file(m, place, &path, &w.file).map_err(|e| {
                let mut at = d.at.clone();
                at.extend(["files".to_string(), w.file.clone()]);
                Refused { at, error: e }
            })?;
            let previous =
                if m.exists(&path) { m.read(&path, crate::cgroupfs::format::undo_source(&w.file)).ok() } else { None };
            if previous.as_deref().is_some_and(|old| crate::cgroupfs::format::same_setting(&w.file, &w.value, old)) {
                continue;
            }
            part.push(Action::Write {
                place,
                group: path.clone(),
                write: Write::new(w.file, w.value),
                previous,
                if_empty: false,
            });
        }
        let mark_existing = match &existing {
            Some(g) => g.mark().map_err(refuse)?,
            None => None,
        };
        declared.insert(path.clone(), new);
        parts.push((part, mark_existing));
    }

    // One plan: drop what an earlier group's part does already (a shared ancestor's
    // mkdir, the same controllers enabled), and mark every new directory.
    // The file's own parent directories (below --prefix): the file's, like its groups.
    let base_chain: BTreeSet<GroupPath> =
        base.lineage().into_iter().filter(|g| !g.is_root() && g.starts_with(&scope) && *g != scope).collect();
    let mut plan = Plan::new();
    let mut mkdirs: HashSet<(Place, GroupPath)> = HashSet::new();
    let mut seen: Vec<Action> = Vec::new();
    for (part, existing_mark) in parts {
        for a in part.actions() {
            match a {
                Action::Mark { .. } => {}
                Action::Mkdir { place, group, .. } => {
                    if !mkdirs.insert((*place, group.clone())) {
                        continue;
                    }
                    plan.push(a.clone());
                    let mark = match declared.get(group) {
                        Some(true) => Some(ours),
                        // A directory added to an existing group keeps what the group is.
                        Some(false) => existing_mark.filter(|m| *m == ours),
                        None if base_chain.contains(group) => Some(ours),
                        None => Some(Mark::Parent),
                    };
                    if let Some(mark) = mark {
                        plan.push(Action::Mark { place: *place, group: group.clone(), mark });
                    }
                }
                Action::Write { place, group, write, previous: None, if_empty } => {
                    if seen.contains(a) {
                        continue;
                    }
                    seen.push(a.clone());
                    plan.push(Action::Write {
                        place: *place,
                        group: group.clone(),
                        write: write.clone(),
                        previous: undo(h, *place, group, write, *if_empty, &mkdirs),
                        if_empty: *if_empty,
                    });
                }
                Action::Write { .. } | Action::Program { .. } | Action::Net { .. } | Action::Permissions { .. } => {
                    if seen.contains(a) {
                        continue;
                    }
                    seen.push(a.clone());
                    plan.push(a.clone());
                }
            }
        }
    }

    // Groups this file made that it no longer declares.
    let mut stale: Vec<GroupPath> = marked(h, &scope, ours)
        .map_err(whole)?
        .into_iter()
        .filter(|g| !declared.contains_key(g) && !base_chain.contains(g) && *g != base)
        .collect();
    stale.sort_by_key(|g| std::cmp::Reverse(g.as_str().matches('/').count()));
    let removals = if opts.prune {
        let keep: BTreeSet<GroupPath> = declared.keys().cloned().collect();
        removals(h, &stale, &keep, opts.kill).map_err(whole)?
    } else {
        Vec::new()
    };

    let diff = describe(h, &plan, resolved, &base, &removals, if opts.prune { &[] } else { &stale }, id);
    Ok(Changes { plan, diff, removals, lock: None })
}

/// How often [`plan_locked`] plans again when the groups to lock keep changing.
const LOCK_ROUNDS: usize = 5;

/// [`plan`], made under the change locks ([`crate::lock`]) of every existing group the
/// plan writes to or adds a directory to, which the returned [`Changes`] hold until it is
/// dropped: plan, [`apply`], drop. A `rein set`, `cgset`, `rein exec` or `rein run -g` of
/// one of those groups waits meanwhile, so neither can restore a value the other read
/// before the other wrote (a lost update), and a rollback restores only values this
/// apply read under the lock.
///
/// Which groups those are is known only from a plan: it plans, locks them (all at once,
/// in the order of [`crate::group::lock_groups`]), and plans again under the lock, until
/// the groups the plan touches are all locked. Groups the plan creates need no lock: a
/// second creator's mkdir fails.
pub fn plan_locked(
    h: &Arc<Hierarchy>,
    resolved: &Resolved,
    owner: &str,
    opts: &Options,
) -> std::result::Result<Changes, Refused> {
    let whole = |e: Error| Refused { at: Vec::new(), error: e };
    let mut held: BTreeSet<GroupPath> = BTreeSet::new();
    let mut lock: Option<GroupLock> = None;
    for _ in 0..LOCK_ROUNDS {
        let mut changes = plan(h, resolved, owner, opts)?;
        let touched = touched(h, &changes.plan);
        if touched.is_subset(&held) {
            changes.lock = lock;
            return Ok(changes);
        }
        // Every lock again, in order, so this process never waits holding a lock that
        // comes later in the order than the one it waits for.
        drop(lock.take());
        held.extend(touched);
        let groups: Vec<Group> = held.iter().filter_map(|p| Group::open(h.clone(), p).ok()).collect();
        lock = Some(crate::group::lock_groups(&groups, crate::lock::LOCK_TIMEOUT).map_err(whole)?);
    }
    Err(whole(Error::state(
        format!(
            "the groups under {} kept changing while rein planned the apply",
            base_of(resolved, opts).map_err(whole)?
        ),
        Some("another process is creating or removing groups there; try again".into()),
    )))
}

/// The existing groups (not the root) a plan writes to or adds a directory to.
fn touched(h: &Arc<Hierarchy>, plan: &Plan) -> BTreeSet<GroupPath> {
    let mut made: HashSet<(Place, &GroupPath)> = HashSet::new();
    let mut out = BTreeSet::new();
    for a in plan.actions() {
        let group = match a {
            Action::Mkdir { place, group, .. } => {
                made.insert((*place, group));
                group
            }
            Action::Write { place, group, .. } if !made.contains(&(*place, group)) => group,
            _ => continue,
        };
        if !group.is_root() && !out.contains(group) && Group::open(h.clone(), group).is_ok() {
            out.insert(group.clone());
        }
    }
    out
}

/// What rollback writes back for a write `Group::plan` does not undo, in a directory that
/// exists already: a v1 ancestor's empty cpuset filled in (the kernel refuses to empty it
/// again while a child uses its CPUs, so the undo cannot pull them from under anyone).
/// Controllers enabled in an ancestor's `cgroup.subtree_control` are not undone, as by
/// every rein command: see [`crate::plan::Failure::kept`].
fn undo(
    h: &Hierarchy,
    place: Place,
    group: &GroupPath,
    write: &Write,
    if_empty: bool,
    created: &HashSet<(Place, GroupPath)>,
) -> Option<String> {
    // The root is everybody's: what an apply did there stays.
    if !if_empty || group.is_root() || created.contains(&(place, group.clone())) || !place.mount(h).exists(group) {
        return None;
    }
    place.mount(h).read(group, &write.file).ok()
}

/// Why an apply failed, and what it left.
#[derive(Debug)]
pub struct Failed {
    /// The step that failed.
    pub error: Error,
    /// What is left of the apply.
    pub left: Left,
}

/// What a failed apply left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Left {
    /// The plan failed and every change it made was undone, except the controllers it
    /// enabled in existing groups (each as `+cpu > PATH`; see
    /// [`crate::plan::Failure::kept`]), which stay enabled.
    Undone {
        /// The controllers left enabled.
        kept: Vec<String>,
    },
    /// The plan failed and these changes could not be undone (each with the reason).
    NotUndone(Vec<String>),
    /// The plan was applied; removing a group after it failed (removals are not undone).
    Applied,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Failed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl From<Failed> for Error {
    fn from(f: Failed) -> Error {
        f.error
    }
}

/// Executes the changes: the plan (rolled back as a whole when a step fails), then the
/// removals. On failure, says what is left: after a failed plan, nothing of it (unless a
/// rollback step failed too); after a failed removal, the plan's changes.
pub fn apply(h: &Arc<Hierarchy>, changes: &Changes) -> std::result::Result<(), Box<Failed>> {
    if let Err(f) = changes.plan.try_execute(h) {
        let f = *f;
        let left = if f.undone() { Left::Undone { kept: f.kept } } else { Left::NotUndone(f.not_undone) };
        return Err(Box::new(Failed { error: f.error, left }));
    }
    remove_all(h, &changes.removals).map_err(|error| Box::new(Failed { error, left: Left::Applied }))
}

/// Refuses a file a v1 hierarchy has no such file for: every directory of a v1
/// hierarchy has the files of all its controllers, so the group's directory (or, for a
/// new group, its nearest existing ancestor) shows whether the kernel knows the name,
/// and a misspelt name is found by `diff` and by the plan rather than by a failed
/// write. The root lacks a few files its groups have (pids.max, freezer.state): there a
/// name of rein's table passes. On cgroup2 a directory has only the files of the
/// controllers its parent enables, which a plan may be about to enable: no check there.
fn refuse_missing_v1_file(m: &Mount, place: Place, path: &GroupPath, file: &str) -> crate::error::Result<()> {
    if place == Place::V2 {
        return Ok(());
    }
    let Some(probe) = path.lineage().into_iter().rev().find(|p| m.exists(p)) else { return Ok(()) };
    if probe.is_root() && raw::is_known(file) {
        return Ok(());
    }
    // An O_PATH open: whether the file is there, without reading it (the plan reads the
    // group's value once, below).
    match m.open_file(&probe, file, rustix::fs::OFlags::PATH) {
        Err(e) if e.errno() == Some(libc::ENOENT) => Err(Error::invalid(
            "interface file",
            file,
            format!(
                "{} has no such file: check the name (the files of a v1 hierarchy are the same in each of its \
                 groups; ls {})",
                m.path().display(),
                m.dir_path(&probe).display()
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::systemd::HostFacts;
    use crate::config::diff::{GroupDiff, Verdict};
    use crate::config::down::plan_down;
    use crate::config::load;
    use crate::config::resolve::Context;
    use crate::error::Result;
    use crate::mark::XATTR;
    use crate::testing::{FakeTree, Layout};
    use crate::units::DeviceNumber;

    fn ctx() -> Context<'static> {
        fn facts() -> HostFacts {
            HostFacts { physical_memory: 8 << 30, page_size: 4096, tasks_max: 4_194_303, online_cpus: 2 }
        }
        fn device(s: &str) -> Result<DeviceNumber> {
            DeviceNumber::parse(s).map_err(|e| Error::invalid("device", s, e))
        }
        Context { facts: &facts, device: &device }
    }

    fn resolved(text: &str) -> Resolved {
        load::parse(text, std::path::Path::new("t.toml"), "/t.toml", &ctx()).unwrap().resolved
    }

    const DEV: &str = "name = \"dev\"\nparent = \"dev\"\n[groups.db]\nmemory = \"2G\"\ncpu = \"40%\"\n[groups.api]\nmemory = \"1G\"\npids = 64\n";

    fn lines(tree: &FakeTree, c: &Changes) -> Vec<String> {
        let root = tree.path().display().to_string();
        c.display(&tree.hierarchy()).lines().map(|l| l.replace(&root, "")).collect()
    }

    fn prefix(p: &str) -> Options {
        Options { prefix: Some(GroupPath::parse(p).unwrap()), ..Options::default() }
    }

    #[test]
    fn a_fresh_tree_gets_every_group_marked_as_the_files() {
        let tree = FakeTree::new(Layout::V2);
        let h = tree.hierarchy();
        let c = plan(&h, &resolved(DEV), "dev", &prefix("t")).unwrap();
        let l = lines(&tree, &c);
        let id = format!("'config id={:016x}'", config_id("dev"));
        assert!(l.contains(&"setfattr -n user.rein -v parent /t".to_string()), "{l:#?}");
        for g in ["/t/dev", "/t/dev/api", "/t/dev/db"] {
            assert!(l.contains(&format!("setfattr -n user.rein -v {id} {g}")), "{g}: {l:#?}");
        }
        // One mkdir per directory, though both groups need /t and /t/dev.
        assert_eq!(l.iter().filter(|x| *x == "mkdir /t/dev").count(), 1, "{l:#?}");
        assert!(l.contains(&"2147483648 > /t/dev/db/memory.max".to_string()), "{l:#?}");
        assert!(l.contains(&"'40000 100000' > /t/dev/db/cpu.max".to_string()), "{l:#?}");
        let (create, change, same) = c.diff.counts();
        assert_eq!((create, change, same), (2, 0, 0));
    }

    #[test]
    fn a_second_apply_writes_nothing_and_an_edit_is_exactly_one_change() {
        for layout in [Layout::V2, Layout::V1, Layout::Hybrid] {
            let tree = FakeTree::new(layout);
            if layout == Layout::V2 {
                std::fs::write(tree.path().join("cgroup.subtree_control"), "cpuset cpu io memory pids\n").unwrap();
            }
            // A fake tree's mkdir makes empty directories: the groups exist beforehand.
            tree.group("t/dev/db");
            tree.group("t/dev/api");
            if layout == Layout::V2 {
                for d in ["t", "t/dev"] {
                    std::fs::write(tree.path().join(d).join("cgroup.subtree_control"), "cpuset cpu io memory pids\n")
                        .unwrap();
                }
            }
            let h = tree.hierarchy();
            let c = plan(&h, &resolved(DEV), "dev", &prefix("t")).unwrap();
            assert_eq!(c.diff.counts(), (0, 2, 0), "{layout:?}: {}", c.diff);
            apply(&h, &c).unwrap();
            let again = plan(&h, &resolved(DEV), "dev", &prefix("t")).unwrap();
            assert!(again.plan.is_empty(), "{layout:?}: {}", again.display(&h));
            assert!(
                again.diff.is_empty() && again.diff.to_string().starts_with("no change: 2 groups"),
                "{}",
                again.diff
            );
            let edited = resolved(&DEV.replace("memory = \"1G\"", "memory = \"1536M\""));
            let d = plan(&h, &edited, "dev", &prefix("t")).unwrap().diff;
            let changed: Vec<&GroupDiff> = d.groups.iter().filter(|g| g.action != Verdict::Unchanged).collect();
            assert_eq!(changed.len(), 1, "{layout:?}: {d}");
            assert_eq!(changed[0].group, "/t/dev/api");
            let file = if layout == Layout::V2 { "memory.max" } else { "memory.limit_in_bytes" };
            assert_eq!(changed[0].files.len(), 1, "{d}");
            assert_eq!(changed[0].files[0].file, file);
            assert_eq!(changed[0].files[0].old.as_deref(), Some("1073741824"));
            assert_eq!(changed[0].files[0].new, "1610612736");
        }
    }

    #[test]
    fn a_failed_write_restores_every_value_the_apply_changed() {
        let tree = FakeTree::new(Layout::V2);
        std::fs::write(tree.path().join("cgroup.subtree_control"), "cpuset cpu io memory pids\n").unwrap();
        tree.group("t/dev/db");
        tree.group("t/dev/api");
        for d in ["t", "t/dev"] {
            std::fs::write(tree.path().join(d).join("cgroup.subtree_control"), "cpuset cpu io memory pids\n").unwrap();
        }
        // The last write of the plan (api's pids.max) cannot happen.
        std::fs::remove_file(tree.path().join("t/dev/api/pids.max")).unwrap();
        let h = tree.hierarchy();
        let c = plan(&h, &resolved(DEV), "dev", &prefix("t")).unwrap();
        let e = apply(&h, &c).unwrap_err();
        assert!(e.to_string().contains("pids.max"), "{e}");
        for (f, v) in
            [("t/dev/db/memory.max", "max"), ("t/dev/db/cpu.max", "max 100000"), ("t/dev/api/memory.max", "max")]
        {
            assert_eq!(std::fs::read_to_string(tree.path().join(f)).unwrap().trim(), v, "{f}");
        }
    }

    #[test]
    fn groups_of_another_file_or_of_a_run_are_refused() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("dev/db");
        let h = tree.hierarchy();
        let m = &h.unified().unwrap().mount;
        let db = GroupPath::parse("dev/db").unwrap();
        m.set_xattr(&db, XATTR, &Mark::Config { id: 7 }.value()).unwrap();
        let r = plan(&h, &resolved(DEV), "dev", &Options::default()).unwrap_err();
        assert!(r.error.to_string().contains("belongs to another rein.toml"), "{}", r.error);
        assert_eq!(r.at, ["groups", "db"]);
        m.set_xattr(&db, XATTR, &Mark::Transient { pid: 1, start: 1 }.value()).unwrap();
        let r = plan(&h, &resolved(DEV), "dev", &Options::default()).unwrap_err();
        assert!(r.error.to_string().contains("transient group"), "{}", r.error);
        // A group someone made by hand is taken over: limits, but no mark.
        m.remove_xattr(&db, XATTR).unwrap();
        let c = plan(&h, &resolved(DEV), "dev", &Options::default()).unwrap();
        assert!(!c.plan.actions().iter().any(|a| matches!(a, Action::Mark { group, .. } if *group == db)));
    }

    #[test]
    fn prune_and_down_touch_only_the_files_groups() {
        let tree = FakeTree::new(Layout::V2);
        let h = tree.hierarchy();
        let m = &h.unified().unwrap().mount;
        let ours = Mark::Config { id: config_id("dev") }.value();
        for (g, mark) in [
            ("t", Some(Mark::Parent.value())),
            ("t/dev", Some(ours.clone())),
            ("t/dev/db", Some(ours.clone())),
            ("t/dev/api", Some(ours.clone())),
            ("t/dev/old", Some(ours.clone())),
            ("t/dev/other", Some(Mark::Config { id: 9 }.value())),
            ("t/dev/mine", None),
        ] {
            tree.group(g);
            if let Some(v) = mark {
                m.set_xattr(&GroupPath::parse(g).unwrap(), XATTR, &v).unwrap();
            }
        }
        let r = resolved(DEV);
        let c = plan(&h, &r, "dev", &prefix("t")).unwrap();
        assert_eq!(c.diff.stale, ["/t/dev/old"]);
        assert!(c.diff.remove.is_empty());
        let c = plan(&h, &r, "dev", &Options { prune: true, ..prefix("t") }).unwrap();
        assert_eq!(c.diff.remove.iter().map(|x| x.group.as_str()).collect::<Vec<_>>(), ["/t/dev/old"]);
        // A populated group is refused, naming its processes.
        std::fs::write(tree.path().join("t/dev/old/cgroup.procs"), format!("{}\n", std::process::id())).unwrap();
        let e = plan(&h, &r, "dev", &Options { prune: true, ..prefix("t") }).unwrap_err();
        assert!(e.error.to_string().contains("/t/dev/old holds processes"), "{}", e.error);
        std::fs::write(tree.path().join("t/dev/old/cgroup.procs"), "").unwrap();
        // down: every group of the file, deepest first; /t/dev stays, it holds others' groups.
        let t = plan_down(&h, &r, "dev", &prefix("t")).unwrap();
        assert_eq!(t.groups(), ["/t/dev/api", "/t/dev/db", "/t/dev/old"]);
        assert!(
            t.kept.iter().any(|(g, why)| g == "/t/dev" && why.contains("mine") && why.contains("other")),
            "{:?}",
            t.kept
        );
    }

    #[test]
    fn on_v1_a_new_child_copies_its_new_parents_cpuset() {
        let tree = FakeTree::new(Layout::V1);
        let text = "[groups.a]\ncpuset = \"1\"\n[groups.a.groups.b]\nmemory = \"1G\"\n";
        let h = tree.hierarchy();
        let c = plan(&h, &resolved(text), "x", &Options::default()).unwrap();
        let l = lines(&tree, &c);
        assert!(l.contains(&"1 > /cpuset/a/cpuset.cpus".to_string()), "{l:#?}");
        assert!(l.contains(&"1 > /cpuset/a/b/cpuset.cpus".to_string()), "{l:#?}");
        assert!(!l.contains(&"0-1 > /cpuset/a/b/cpuset.cpus".to_string()), "{l:#?}");
    }

    #[test]
    fn on_v1_the_new_groups_beneath_a_new_restricting_group_join_the_devices_hierarchy() {
        let tree = FakeTree::new(Layout::V1);
        tree.add_v1_devices(&[]);
        let text = "[groups.a]\ndevice-policy = \"strict\"\ndevice-allow = [\"c 1:3 rw\"]\n\
                    [groups.a.groups.b]\nmemory = \"1G\"\n[groups.a.groups.b.groups.c]\npids = 5\n\
                    [groups.z]\nmemory = \"1G\"\n";
        let h = tree.hierarchy();
        let c = plan(&h, &resolved(text), "x", &Options::default()).unwrap();
        let l = lines(&tree, &c);
        let at = |x: &str| l.iter().position(|y| y == x).unwrap_or_else(|| panic!("no {x:?} in {l:#?}"));
        // The parent's rules first, then the child's mkdir, which copies them.
        assert!(at("a > /devices/a/devices.deny") < at("'c 1:3 rw' > /devices/a/devices.allow"), "{l:#?}");
        assert!(at("'c 1:3 rw' > /devices/a/devices.allow") < at("mkdir /devices/a/b"), "{l:#?}");
        assert!(at("mkdir /devices/a/b") < at("mkdir /devices/a/b/c"), "{l:#?}");
        // A group beneath no restricting one stays out (it has nothing to copy).
        assert!(!l.iter().any(|x| x.starts_with("mkdir /devices/z")), "{l:#?}");
    }

    /// On v1 a file name the hierarchy has no file for is refused at planning, located
    /// at its key, for an existing group and for a new one (its nearest existing
    /// ancestor tells); a name the kernel has passes.
    #[test]
    fn on_v1_a_file_the_hierarchy_lacks_is_refused_where_it_is_written() {
        let tree = FakeTree::new(Layout::V1);
        tree.group("t");
        let h = tree.hierarchy();
        for group in ["[groups.t]", "[groups.t.groups.new]", "[groups.fresh]"] {
            let text = format!("{group}\nfiles = {{ \"memory.nonexistent\" = 5 }}\n");
            let r = plan(&h, &resolved(&text), "x", &Options::default()).unwrap_err();
            assert_eq!(r.at.last().map(String::as_str), Some("memory.nonexistent"), "{group}: {:?}", r.at);
            assert!(r.error.to_string().contains("has no such file"), "{group}: {}", r.error);
        }
        let ok = "[groups.t]\nfiles = { \"memory.soft_limit_in_bytes\" = 1048576 }\n";
        plan(&h, &resolved(ok), "x", &Options::default()).unwrap();
    }

    #[test]
    fn on_v1_an_existing_group_that_starts_restricting_takes_its_children_along() {
        let tree = FakeTree::new(Layout::V1);
        tree.add_v1_devices(&[]);
        // a exists with a child the file does not name.
        tree.group("a/other");
        let text = "[groups.a]\ndevice-policy = \"strict\"\ndevice-allow = [\"c 1:3 rw\"]\n";
        let c = plan(&tree.hierarchy(), &resolved(text), "x", &Options::default()).unwrap();
        let l = lines(&tree, &c);
        let at = |x: &str| l.iter().position(|y| y == x).unwrap_or_else(|| panic!("no {x:?} in {l:#?}"));
        assert!(at("'c 1:3 rw' > /devices/a/devices.allow") < at("mkdir /devices/a/other"), "{l:#?}");
    }

    /// A controller enabled in an existing parent stays enabled after a failed apply: a
    /// concurrent `rein run` may have made its group there and written its limit the
    /// moment it was enabled, and disabling it would silently take that limit away.
    #[test]
    fn controllers_an_apply_enables_in_an_existing_parent_stay_enabled_on_failure() {
        let tree = FakeTree::new(Layout::V2);
        std::fs::write(tree.path().join("cgroup.subtree_control"), "cpuset cpu io memory pids\n").unwrap();
        tree.group("t");
        let h = tree.hierarchy();
        let c = plan(&h, &resolved(DEV), "dev", &prefix("t")).unwrap();
        let t = GroupPath::parse("t").unwrap();
        let undo = c.plan.actions().iter().find_map(|a| match a {
            Action::Write { group, write, previous, .. } if *group == t && write.file == "cgroup.subtree_control" => {
                Some(previous.clone())
            }
            _ => None,
        });
        assert_eq!(undo, Some(None), "{}", c.display(&h));
        // The diff shows what is enabled.
        let g = c.diff.groups.iter().find(|g| g.group == "/t").unwrap();
        assert_eq!(g.files[0].old, None);
        // A fake mkdir makes an empty directory: the first write into /t/dev fails.
        let f = apply(&h, &c).unwrap_err();
        let root = tree.path().display().to_string();
        match f.left {
            Left::Undone { kept } => assert_eq!(
                kept.iter().map(|k| k.replace(&root, "")).collect::<Vec<_>>(),
                ["'+cpu +cpuset +memory +io +pids' > /t/cgroup.subtree_control"]
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            std::fs::read_to_string(tree.path().join("t/cgroup.subtree_control")).unwrap(),
            "+cpu +cpuset +memory +io +pids"
        );
        assert!(!tree.path().join("t/dev").exists());
    }

    /// An apply plans under the change locks of the existing groups it writes to: it
    /// waits while another process holds one (a `rein set` between reading a value and
    /// writing it), then reads the values that process left.
    #[test]
    fn an_apply_plans_under_the_locks_of_the_groups_it_changes() {
        let tree = FakeTree::new(Layout::V2);
        std::fs::write(tree.path().join("cgroup.subtree_control"), "cpuset cpu io memory pids\n").unwrap();
        tree.group("t/dev/db");
        tree.group("t/dev/api");
        for d in ["t", "t/dev"] {
            std::fs::write(tree.path().join(d).join("cgroup.subtree_control"), "cpuset cpu io memory pids\n").unwrap();
        }
        let h = tree.hierarchy();
        let db = GroupPath::parse("t/dev/db").unwrap();
        let plain = plan(&h, &resolved(DEV), "dev", &prefix("t")).unwrap();
        assert_eq!(
            touched(&h, &plain.plan).into_iter().map(|g| g.to_string()).collect::<Vec<_>>(),
            ["/t/dev/api", "/t/dev/db"]
        );
        // Another holder of db's lock writes a value, then lets go.
        let held = Group::open(h.clone(), &db).unwrap().lock().unwrap();
        let h2 = h.clone();
        let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let seen = released.clone();
        let waiter = std::thread::spawn(move || {
            started_tx.send(()).unwrap();
            let c = plan_locked(&h2, &resolved(DEV), "dev", &prefix("t")).unwrap();
            // The plan came back only once the other holder let go (no time is asserted:
            // a busy machine may delay either thread).
            (seen.load(std::sync::atomic::Ordering::SeqCst), c.plan.actions().to_vec(), c.lock.is_some())
        });
        started_rx.recv().unwrap();
        // Time for the waiter to reach the lock (were the lock ignored, it would plan now).
        std::thread::sleep(std::time::Duration::from_millis(150));
        std::fs::write(tree.path().join("t/dev/db/memory.max"), "12345\n").unwrap();
        released.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(held);
        let (after_release, actions, locked) = waiter.join().unwrap();
        assert!(after_release, "the plan did not wait for the lock");
        assert!(locked);
        // The value to restore is the one the other process left.
        let restore = actions.iter().find_map(|a| match a {
            Action::Write { group, write, previous, .. } if *group == db && write.file == "memory.max" => {
                previous.clone()
            }
            _ => None,
        });
        assert_eq!(restore.as_deref(), Some("12345\n"));
    }
}
