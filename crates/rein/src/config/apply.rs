//! Making the system match a file: `rein apply`, `diff` and `down` as library calls.
//!
//! [`plan`] reads the tree and computes one [`Plan`] for the whole file (each group's
//! part is [`Group::plan`]'s, for an existing group only the writes that differ from
//! the value in force), the groups to remove (`--prune`), and a [`Diff`] that says per
//! group what will be created and changed (old -> new, per interface file). [`apply`]
//! executes that one plan, so its rollback covers the whole file: when a write fails
//! midway, the groups this apply created are removed and the values it changed are
//! restored. Removals come after the plan has succeeded (an rmdir cannot be undone);
//! every refusal (a populated group, foreign children) is found before anything runs.
//!
//! Which groups are the file's: the directories an apply creates carry the mark
//! `config id=<hash of the file's owner name>` ([`Mark::Config`]). `--prune` and
//! [`down`] remove only directories with this file's mark. A group the file declares
//! that exists already without it (made by hand, by `rein create`) gets its limits but
//! no mark, and is never removed by the file; a group marked by another file, or a live
//! `rein run` group, is refused.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::resolve::{Declared, Problem, Resolved};
use crate::cgroupfs::GroupPath;
use crate::compat::raw::{self, Host};
use crate::error::{Error, Result};
use crate::group::{Group, Spec};
use crate::hierarchy::{Binding, Controller, Hierarchy};
use crate::lifecycle::{self, Change};
use crate::lock::GroupLock;
use crate::mark::{Mark, XATTR, config_id};
use crate::plan::{Action, Place, Plan, Write};
use crate::procfs::{ProcTable, describe_pids};
use crate::units::CpuList;

/// How to apply.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Put the file's groups (and its `parent`) beneath this group (tests, staging).
    pub prefix: Option<GroupPath>,
    /// Remove the groups this file made that it no longer declares.
    pub prune: bool,
    /// Kill the processes of groups being removed (else a populated group is refused).
    pub kill: bool,
}

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

/// What happens to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Created (with its limits).
    Create,
    /// Limits changed live.
    Change,
    /// Already as the file says.
    Unchanged,
}

/// One interface file that changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    /// The interface file.
    pub file: String,
    /// Its path.
    pub path: PathBuf,
    /// The value now (absent for a new group, or a file rein does not read back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The value written.
    pub new: String,
}

/// One group in a [`Diff`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupDiff {
    /// The group (`/dev/db`).
    pub group: String,
    /// Declared in the file (else an ancestor the plan touches).
    pub declared: bool,
    /// What happens.
    pub action: Verdict,
    /// The files written, in order.
    pub files: Vec<FileDiff>,
}

/// A group to be removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoveDiff {
    /// The group.
    pub group: String,
    /// Its directories.
    pub directories: Vec<PathBuf>,
    /// Processes killed first (only with `kill`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kill: Vec<u32>,
}

/// What an apply would do, per group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// The mark of the file's groups (`config id=...`).
    pub owner: String,
    /// Declared groups (every one) and ancestors the plan touches.
    pub groups: Vec<GroupDiff>,
    /// Groups removed (`--prune`, `down`).
    pub remove: Vec<RemoveDiff>,
    /// Groups this file made that it no longer declares, kept without `--prune`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<String>,
}

impl Diff {
    /// True when applying changes nothing.
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.action == Verdict::Unchanged) && self.remove.is_empty()
    }

    /// How many declared groups get each verdict: (create, change, unchanged).
    pub fn counts(&self) -> (usize, usize, usize) {
        let d = self.groups.iter().filter(|g| g.declared);
        let mut c = (0, 0, 0);
        for g in d {
            match g.action {
                Verdict::Create => c.0 += 1,
                Verdict::Change => c.1 += 1,
                Verdict::Unchanged => c.2 += 1,
            }
        }
        c
    }
}

fn flat(v: &str) -> String {
    v.trim_end().lines().map(str::trim).collect::<Vec<_>>().join("; ")
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for g in self.groups.iter().filter(|g| g.action != Verdict::Unchanged) {
            let (sign, note) = match (g.action, g.declared) {
                (Verdict::Create, true) => ('+', ""),
                (Verdict::Create, false) => ('+', "  (parent)"),
                (_, true) => ('~', ""),
                (_, false) => ('~', "  (parent)"),
            };
            writeln!(f, "{sign} {}{note}", g.group)?;
            let width = g.files.iter().map(|x| x.file.len()).max().unwrap_or(0);
            for x in &g.files {
                match &x.old {
                    Some(old) => writeln!(f, "    {:<width$}  {} -> {}", x.file, flat(old), x.new)?,
                    None => writeln!(f, "    {:<width$}  {}", x.file, x.new)?,
                }
            }
        }
        for r in &self.remove {
            let kill = if r.kill.is_empty() {
                String::new()
            } else {
                format!("  (killing {})", describe_pids(&r.kill, &ProcTable::default()))
            };
            writeln!(f, "- {}{kill}", r.group)?;
        }
        for s in &self.stale {
            writeln!(f, "  {s}  (no longer in the file; kept: apply --prune removes it)")?;
        }
        let (c, ch, u) = self.counts();
        if self.is_empty() {
            writeln!(f, "no change: {u} group{} as the file says", if u == 1 { "" } else { "s" })
        } else {
            writeln!(f, "{c} to create, {ch} to change, {u} unchanged, {} to remove", self.remove.len())
        }
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

/// A group to remove.
#[derive(Debug, Clone)]
struct Removal {
    path: GroupPath,
    directories: Vec<PathBuf>,
    kill: Vec<u32>,
}

impl fmt::Display for Removal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.kill.is_empty() {
            writeln!(f, "# kill {}", describe_pids(&self.kill, &ProcTable::default()))?;
        }
        for d in &self.directories {
            writeln!(f, "rmdir {}", d.display())?;
        }
        Ok(())
    }
}

/// Where the file's groups live: `prefix/parent`.
fn base_of(resolved: &Resolved, opts: &Options) -> Result<GroupPath> {
    match (&opts.prefix, &resolved.parent) {
        (Some(p), Some(q)) => p.join(q.as_str()),
        (Some(p), None) => Ok(p.clone()),
        (None, Some(q)) => Ok(q.clone()),
        (None, None) => Ok(GroupPath::root()),
    }
}

fn full(base: &GroupPath, d: &Declared) -> Result<GroupPath> {
    if base.is_root() { Ok(d.path.clone()) } else { base.join(d.path.as_str()) }
}

fn places(h: &Hierarchy) -> Vec<Place> {
    let mut v = Vec::new();
    if h.unified().is_some() {
        v.push(Place::V2);
    }
    v.extend((0..h.v1_mounts().len()).map(Place::V1));
    v
}

/// Every directory beneath `scope` (in any hierarchy) that carries `mark`.
fn marked(h: &Hierarchy, scope: &GroupPath, mark: Mark) -> Result<BTreeSet<GroupPath>> {
    let mut out = BTreeSet::new();
    let want = mark.value();
    for place in places(h) {
        let m = place.mount(h);
        if !m.exists(scope) {
            continue;
        }
        let mut stack = vec![scope.clone()];
        while let Some(g) = stack.pop() {
            match m.children(&g) {
                Ok(c) => stack.extend(c.iter().filter_map(|c| g.join(c).ok())),
                Err(e) if e.errno() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(e),
            }
            if !g.is_root() && m.get_xattr(&g, XATTR).ok().flatten().as_deref() == Some(want.as_str()) {
                out.insert(g);
            }
        }
    }
    Ok(out)
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
    move |file: &str| {
        let home = raw::home_of(file).ok()?;
        let place = lifecycle::place_of(h, home).ok()?;
        let m = place.mount(h);
        if m.exists(path) { m.read(path, file).ok() } else { None }
    }
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
        let mut part = match &existing {
            None => Group::plan(h, &path, &spec, true).map(|(p, _)| p),
            Some(g) => lifecycle::plan_set(g, &Change { spec, raw: Vec::new() }),
        }
        .map_err(|e| Refused { at: origin(d, &e), error: e })?;
        for w in translated.raw {
            let place = lifecycle::place_of(h, w.home).map_err(refuse)?;
            let m = place.mount(h);
            let previous = if m.exists(&path) { m.read(&path, &w.file).ok() } else { None };
            if previous.as_deref().is_some_and(|old| {
                old.trim() == w.value.trim() || crate::cgroupfs::format::same_setting(&w.file, &w.value, old)
            }) {
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
                Action::Write { .. } => {
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

/// Checks and describes removing `paths` (deepest first): refuses a populated group
/// unless `kill`, and a group with a child that is not being removed too.
fn removals(h: &Arc<Hierarchy>, paths: &[GroupPath], keep: &BTreeSet<GroupPath>, kill: bool) -> Result<Vec<Removal>> {
    let going: BTreeSet<&GroupPath> = paths.iter().collect();
    let mut out = Vec::new();
    let mut refusals = Vec::new();
    let arc = h.clone();
    for p in paths {
        let Ok(g) = Group::open(arc.clone(), p) else { continue };
        let foreign: Vec<String> = g
            .children()?
            .into_iter()
            .filter(|c| p.join(c).map(|c| !going.contains(&c) || keep.contains(&c)).unwrap_or(true))
            .collect();
        if !foreign.is_empty() {
            refusals.push(format!("{p} has child groups the file does not remove: {}", foreign.join(", ")));
            continue;
        }
        let pids = g.all_procs()?;
        if !pids.is_empty() && !kill {
            refusals.push(format!("{p} holds processes: {}", describe_pids(&pids, &ProcTable::default())));
            continue;
        }
        let directories = g.nodes().iter().map(|n| n.place.mount(h).dir_path(p)).collect();
        out.push(Removal { path: p.clone(), directories, kill: pids });
    }
    if !refusals.is_empty() {
        return Err(Error::state(
            format!("cannot remove {}", refusals.join("; ")),
            Some("stop the processes or move them out ('rein move'), or add --kill; nothing was changed".into()),
        ));
    }
    Ok(out)
}

fn describe(
    h: &Hierarchy,
    plan: &Plan,
    resolved: &Resolved,
    base: &GroupPath,
    removals: &[Removal],
    stale: &[GroupPath],
    id: u64,
) -> Diff {
    let mut groups: Vec<GroupDiff> = Vec::new();
    let declared: Vec<GroupPath> = resolved.groups.iter().filter_map(|d| full(base, d).ok()).collect();
    for d in &declared {
        groups.push(GroupDiff { group: d.to_string(), declared: true, action: Verdict::Unchanged, files: Vec::new() });
    }
    fn entry(groups: &mut Vec<GroupDiff>, g: &GroupPath) -> usize {
        let name = if g.is_root() { "/".to_string() } else { g.to_string() };
        match groups.iter().position(|x| x.group == name) {
            Some(i) => i,
            None => {
                groups.push(GroupDiff { group: name, declared: false, action: Verdict::Unchanged, files: Vec::new() });
                groups.len() - 1
            }
        }
    }
    for a in plan.actions() {
        match a {
            Action::Mkdir { group, .. } => {
                let i = entry(&mut groups, group);
                groups[i].action = Verdict::Create;
            }
            Action::Write { place, group, write, previous, .. } => {
                let i = entry(&mut groups, group);
                if groups[i].action == Verdict::Unchanged {
                    groups[i].action = Verdict::Change;
                }
                // For a per-device file, the old line of the device written (what a rollback
                // would write back), not the whole file.
                let old = previous.as_ref().map(|p| crate::cgroupfs::format::undo_writes(&write.file, &write.value, p));
                groups[i].files.push(FileDiff {
                    file: write.file.to_string(),
                    path: place.mount(h).file_path(group, &write.file),
                    old: old.map(|o| o.join("\n")),
                    new: write.value.clone(),
                });
            }
            Action::Mark { .. } => {}
        }
    }
    // Parents before children.
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    Diff {
        owner: Mark::Config { id }.value(),
        groups,
        remove: removals
            .iter()
            .map(|r| RemoveDiff { group: r.path.to_string(), directories: r.directories.clone(), kill: r.kill.clone() })
            .collect(),
        stale: stale.iter().map(|g| g.to_string()).collect(),
    }
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

fn remove_all(h: &Arc<Hierarchy>, removals: &[Removal]) -> Result<()> {
    for r in removals {
        let Ok(g) = Group::open(h.clone(), &r.path) else { continue };
        if !r.kill.is_empty() || !g.all_procs()?.is_empty() {
            if r.kill.is_empty() {
                return Err(Error::state(
                    format!("group {} gained processes since it was checked", r.path),
                    Some("run again; nothing else was removed".into()),
                ));
            }
            lifecycle::kill_all(&g)?;
        }
        g.remove()?;
    }
    Ok(())
}

/// What `rein down` will remove, and what it keeps.
#[derive(Debug, Clone)]
pub struct Teardown {
    removals: Vec<Removal>,
    /// Groups kept, with the reason (declared but not made by this file; the file's
    /// parent still holding other groups).
    pub kept: Vec<(String, String)>,
}

impl Teardown {
    /// The groups removed, deepest first.
    pub fn groups(&self) -> Vec<String> {
        self.removals.iter().map(|r| r.path.to_string()).collect()
    }

    /// As a serializable list.
    pub fn describe(&self) -> Vec<RemoveDiff> {
        self.removals
            .iter()
            .map(|r| RemoveDiff { group: r.path.to_string(), directories: r.directories.clone(), kill: r.kill.clone() })
            .collect()
    }
}

impl fmt::Display for Teardown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.removals {
            r.fmt(f)?;
        }
        for (g, why) in &self.kept {
            writeln!(f, "# keep {g}: {why}")?;
        }
        Ok(())
    }
}

/// Plans removing every group the file made (its mark), deepest first. The file's
/// parent directories go too when nothing else is left in them; groups the file
/// declares but did not make stay.
pub fn plan_down(h: &Arc<Hierarchy>, resolved: &Resolved, owner: &str, opts: &Options) -> Result<Teardown> {
    let id = config_id(owner);
    let base = base_of(resolved, opts)?;
    let scope = opts.prefix.clone().unwrap_or_default();
    let mut all: Vec<GroupPath> = marked(h, &scope, Mark::Config { id })?.into_iter().collect();
    all.sort_by_key(|g| std::cmp::Reverse(g.as_str().matches('/').count()));
    let arc = h.clone();
    let mut kept = Vec::new();
    for d in &resolved.groups {
        let p = full(&base, d)?;
        if !all.contains(&p) && Group::open(arc.clone(), &p).is_ok() {
            kept.push((p.to_string(), "not made by this file (it existed before); remove it with 'rein rm'".into()));
        }
    }
    // The file's parent directories: only when nothing but the file's groups is in them.
    let parents: BTreeSet<GroupPath> = base.lineage().into_iter().filter(|g| all.contains(g)).collect();
    let going: BTreeSet<GroupPath> = all.iter().cloned().collect();
    let mut list = Vec::new();
    for g in &all {
        if parents.contains(g) {
            let others = Group::open(arc.clone(), g)
                .and_then(|grp| grp.children())
                .map(|c| {
                    c.into_iter().filter(|c| g.join(c).map(|c| !going.contains(&c)).unwrap_or(true)).collect::<Vec<_>>()
                })
                .unwrap_or_default();
            if !others.is_empty() {
                kept.push((g.to_string(), format!("it holds other groups too: {}", others.join(", "))));
                continue;
            }
        }
        list.push(g.clone());
    }
    let removals = removals(h, &list, &BTreeSet::new(), opts.kill)?;
    Ok(Teardown { removals, kept })
}

/// Removes what [`plan_down`] planned.
pub fn down(h: &Arc<Hierarchy>, t: &Teardown) -> Result<()> {
    remove_all(h, &t.removals)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::systemd::HostFacts;
    use crate::config::load;
    use crate::config::resolve::Context;
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
        let waiter = std::thread::spawn(move || {
            let t0 = std::time::Instant::now();
            let c = plan_locked(&h2, &resolved(DEV), "dev", &prefix("t")).unwrap();
            (t0.elapsed(), c.plan.actions().to_vec(), c.lock.is_some())
        });
        std::thread::sleep(std::time::Duration::from_millis(150));
        std::fs::write(tree.path().join("t/dev/db/memory.max"), "12345\n").unwrap();
        drop(held);
        let (waited, actions, locked) = waiter.join().unwrap();
        assert!(waited >= std::time::Duration::from_millis(140), "{waited:?}");
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
