//! `rein gc`: removing the transient groups a crashed `rein run` (or a crashed library
//! user) left behind, and saying why every other group stays.
//!
//! # Garbage collection
//!
//! A transient group is stale when its rein process is gone: no process P exists, or
//! the process P that exists now started at another time (the pid was reused). `rein gc`
//! removes a stale transient directory only when it is also empty: no process in it nor
//! in any group beneath it. Groups beneath it (a command that organised itself into
//! child groups) go with it, deepest first, when each has the group's owner and no mark
//! but the transient one of a rein that is gone. The same holds for an unmarked
//! directory whose creation record's process is gone. Everything else is left alone, and gc says so with the
//! reason: groups with another mark, and the unmarked (foreign) groups beneath the
//! directory it was given or beneath a directory rein marked. The pid is only meaningful
//! in the pid namespace rein ran in: run `rein gc` from the same one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::cgroupfs::{GroupPath, Mount};
use crate::error::Result;
use crate::hierarchy::{Hierarchy, Place};
use crate::mark::{Creating, Mark, Records, XATTR, creation_records};
use crate::procfs::{Owner, ProcTable, describe_pids};

/// What a directory is to `rein gc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GcKind {
    /// Marked `transient`: a `rein run` group (or a handle's), removed once its rein
    /// process is gone and it is empty.
    Transient,
    /// Not marked, but its parent holds a creation record naming it: a group rein was
    /// making (mkdir done, mark not yet); treated like a transient group.
    Unfinished,
    /// Marked `named`, `parent` or `config`: never removed by gc.
    Kept,
    /// Not marked and no record names it: not rein's (or made by hand); never removed.
    Foreign,
    /// A creation record whose process is gone, on the directory `directory`: removed.
    Record,
}

/// What `rein gc` decided about one directory.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct GcEntry {
    /// The group (for a [`GcKind::Record`], the directory holding the record).
    pub group: String,
    /// The directory.
    pub directory: PathBuf,
    /// What it is.
    pub kind: GcKind,
    /// Its mark, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
    /// The rein process that made it (a transient mark, or a creation record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Where that process is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// For a [`GcKind::Record`]: the attribute (`user.rein.creating.<pid>.<tid>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// Whether gc removes (or, in a dry run, would remove) it.
    pub remove: bool,
    /// Why it is kept, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_because: Option<String>,
    /// Set when the removal itself failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    place: Place,
    #[serde(skip)]
    path: GroupPath,
    /// Creation records on the parent naming this directory, removed after it.
    #[serde(skip)]
    records: Vec<String>,
    /// Groups beneath it that go first (its command made them), deepest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub below: Vec<PathBuf>,
    #[serde(skip)]
    below_paths: Vec<GroupPath>,
}

impl GcEntry {
    fn new(place: Place, m: &Mount, g: &GroupPath, kind: GcKind) -> GcEntry {
        GcEntry {
            group: g.to_string(),
            directory: m.dir_path(g),
            kind,
            mark: None,
            pid: None,
            owner: None,
            record: None,
            remove: false,
            kept_because: None,
            error: None,
            place,
            path: g.clone(),
            records: Vec::new(),
            below: Vec::new(),
            below_paths: Vec::new(),
        }
    }
}

/// Why a group with this mark is never removed by gc.
fn never_collected(mark: &Mark) -> String {
    match mark {
        Mark::Named => "a named group (rein create): gc never removes it; 'rein rm' does".into(),
        Mark::Parent => "a parent rein made for other groups: gc never removes it; 'rein rm' does".into(),
        Mark::Config { id } => {
            format!("a group of a rein.toml (config {id:016x}): gc never removes it; 'rein down' of its file does")
        }
        Mark::Transient { .. } => String::new(),
    }
}

/// Finds rein's transient directories beneath `under` (the whole tree when None) in
/// every hierarchy, with the unfinished ones its creation records name, and decides
/// which are stale and empty. Also lists what it keeps: groups with another mark, and
/// unmarked (foreign) groups directly beneath `under` or beneath a directory rein
/// marked, each with the reason. Reads only.
pub fn plan(h: &Hierarchy, under: Option<&GroupPath>, procs: &ProcTable) -> Result<Vec<GcEntry>> {
    let mut out = Vec::new();
    let top = under.cloned().unwrap_or_default();
    for place in h.places() {
        let m = place.mount(h);
        if !m.exists(&top) {
            continue;
        }
        // Each directory with what its parent says about it: whether the parent is
        // rein's (marked, or the directory gc was given) and its creation records.
        let mut stack: Vec<(GroupPath, bool, Records)> = vec![(top.clone(), false, Vec::new())];
        while let Some((g, parent_ours, records)) = stack.pop() {
            let children = match m.children(&g) {
                Ok(c) => c,
                // A group removed while we walk is not an error.
                Err(e) if e.errno() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            let mark = if g.is_root() {
                None
            } else {
                match m.get_xattr(&g, XATTR) {
                    Ok(v) => v.map(|v| Mark::parse(&v).ok()),
                    // Removed while we walk (a run ending): nothing to collect.
                    Err(e) if e.errno() == Some(libc::ENOENT) => continue,
                    Err(e) => return Err(e),
                }
            };
            let here = match creation_records(m, &g) {
                Ok(r) => r,
                Err(e) if e.errno() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            let ours = g == top || matches!(mark, Some(Some(_)));
            // A group removed with its subtree takes these back off the stack.
            let pushed_from = stack.len();
            for c in children.iter().rev() {
                if let Ok(child) = g.join(c) {
                    let named: Vec<(String, Creating)> = here.iter().filter(|(_, r)| r.name == *c).cloned().collect();
                    stack.push((child, ours, named));
                }
            }
            // Records of processes that are gone, for a directory that is not there or
            // carries its mark by now: the creation ended (or never began).
            for (key, r) in &here {
                let owner = procs.owner(r.pid, r.start);
                if owner == Owner::Running {
                    continue;
                }
                let child = g.join(&r.name).ok();
                let marked = child.as_ref().is_some_and(|c| m.get_xattr(c, XATTR).ok().flatten().is_some());
                if children.contains(&r.name) && !marked {
                    continue; // decided with the directory itself
                }
                let mut e = GcEntry::new(place, m, &g, GcKind::Record);
                e.pid = Some(r.pid);
                e.owner = Some(owner);
                e.record = Some(key.clone());
                e.remove = true;
                out.push(e);
            }
            if g.is_root() {
                continue;
            }
            let (kind, pid, start) = match mark {
                Some(Some(Mark::Transient { pid, start })) => (GcKind::Transient, pid, start),
                Some(Some(other)) => {
                    let mut e = GcEntry::new(place, m, &g, GcKind::Kept);
                    e.mark = Some(other);
                    e.kept_because = Some(never_collected(&other));
                    out.push(e);
                    continue;
                }
                // A value rein does not write: nobody's mark it knows.
                Some(None) => {
                    let mut e = GcEntry::new(place, m, &g, GcKind::Foreign);
                    e.kept_because = Some(format!("its {XATTR} attribute is not a mark rein writes"));
                    out.push(e);
                    continue;
                }
                None => {
                    // The creation record of a live process wins: it is making it now.
                    let live = records.iter().find(|(_, r)| procs.owner(r.pid, r.start) == Owner::Running);
                    match (live, records.first()) {
                        (None, Some((_, r))) => (GcKind::Unfinished, r.pid, r.start),
                        (Some((_, r)), _) => {
                            let mut e = GcEntry::new(place, m, &g, GcKind::Unfinished);
                            e.pid = Some(r.pid);
                            e.owner = Some(Owner::Running);
                            e.kept_because = Some(format!("rein process {} is creating it", r.pid));
                            out.push(e);
                            continue;
                        }
                        (None, None) => {
                            if parent_ours {
                                let mut e = GcEntry::new(place, m, &g, GcKind::Foreign);
                                e.kept_because = Some("not made by rein: it has no user.rein mark".into());
                                out.push(e);
                            }
                            continue;
                        }
                    }
                }
            };
            let owner = procs.owner(pid, start);
            // rein makes a group inside a directory its user may write, so the two share
            // an owner. A mark on a directory whose owner does not own the parent (the
            // top of a subtree delegated to a user, who may set any user.* attribute on
            // it) proves nothing, and removing it would do what its owner cannot.
            let (dir_uid, parent_uid) = (m.owner(&g).ok(), g.parent().and_then(|p| m.owner(&p).ok()));
            let mut below = Vec::new();
            let kept_because = match owner {
                Owner::Running => Some(format!("its rein process {pid} is still running")),
                _ if dir_uid != parent_uid => Some(format!(
                    "its owner (uid {}) does not own its parent (uid {}): rein did not make it there",
                    dir_uid.map(|u| u.to_string()).unwrap_or_else(|| "?".into()),
                    parent_uid.map(|u| u.to_string()).unwrap_or_else(|| "?".into())
                )),
                // Groups its command made beneath it go with it, when nothing holds them.
                _ => match subtree_to_remove(m, &g, dir_uid, procs)? {
                    Err(why) => Some(format!("it has child groups ({}): {why}", children.join(", "))),
                    Ok(groups) => match crate::backend::procs(m, &g)? {
                        p if p.is_empty() => {
                            below = groups;
                            None
                        }
                        p => Some(format!("it holds processes: {}", describe_pids(&p, procs))),
                    },
                },
            };
            if !below.is_empty() {
                stack.truncate(pushed_from);
            }
            let mut e = GcEntry::new(place, m, &g, kind);
            e.mark = if kind == GcKind::Transient { Some(Mark::Transient { pid, start }) } else { None };
            e.pid = Some(pid);
            e.owner = Some(owner);
            e.remove = kept_because.is_none();
            e.kept_because = kept_because;
            e.records = records.iter().map(|(k, _)| k.clone()).collect();
            e.below = below.iter().map(|b| m.dir_path(b)).collect();
            e.below_paths = below;
            out.push(e);
        }
    }
    // A group is one unit across hierarchies: the command of a rein killed at launch is
    // in the cgroup2 directory from clone3 on and joins the v1 ones an instant later, so
    // an empty directory of a group kept elsewhere is kept too (and never half-removed).
    let mut kept: BTreeMap<String, String> = BTreeMap::new();
    for e in out.iter().filter(|e| e.kind != GcKind::Record) {
        if let Some(why) = &e.kept_because {
            kept.entry(e.group.clone()).or_insert_with(|| format!("{why} (in {})", e.directory.display()));
        }
    }
    for e in out.iter_mut().filter(|e| e.remove && e.kind != GcKind::Record) {
        if let Some(why) = kept.get(&e.group) {
            e.remove = false;
            e.kept_because = Some(why.clone());
        }
    }
    Ok(out)
}

/// Removes the entries [`plan`] chose, re-checking each is still empty (rmdir fails
/// with EBUSY otherwise, so nothing populated is ever removed) and, for an unfinished
/// one, still unmarked; then the creation records naming it. Failures are recorded in
/// the entries; returns them all.
pub fn execute(h: &Hierarchy, mut entries: Vec<GcEntry>) -> Vec<GcEntry> {
    for e in entries.iter_mut().filter(|e| e.remove) {
        let m = e.place.mount(h);
        if e.kind == GcKind::Record {
            if let Err(err) = m.remove_xattr(&e.path, e.record.as_deref().unwrap_or_default()) {
                e.remove = false;
                e.error = Some(err.to_string());
            }
            continue;
        }
        // A process that was making it and marked it since (its record is gone then)
        // owns it now.
        if e.kind == GcKind::Unfinished && m.get_xattr(&e.path, XATTR).ok().flatten().is_some() {
            e.remove = false;
            e.kept_because = Some("it was marked meanwhile".into());
            continue;
        }
        if let Err(err) = e.below_paths.iter().chain(std::iter::once(&e.path)).try_for_each(|g| m.rmdir(g)) {
            e.remove = false;
            e.error = Some(err.to_string());
            continue;
        }
        if let Some(parent) = e.path.parent() {
            for key in &e.records {
                let _ = m.remove_xattr(&parent, key);
            }
        }
    }
    entries
}

/// The groups beneath `g` (deepest first) when all of them may go with it, else why not:
/// none may hold a process, each must have `g`'s owner (`uid`: rein's user made them, or
/// the command it ran), and none may carry a mark but the transient one of a rein that
/// is gone (a nested `rein run` of the command).
fn subtree_to_remove(
    m: &Mount,
    g: &GroupPath,
    uid: Option<u32>,
    procs: &ProcTable,
) -> Result<std::result::Result<Vec<GroupPath>, String>> {
    let mut below = Vec::new();
    let mut stack = vec![g.clone()];
    while let Some(d) = stack.pop() {
        let children = match m.children(&d) {
            Ok(c) => c,
            Err(e) if e.errno() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        for c in children {
            let child = d.join(&c)?;
            if m.owner(&child).ok() != uid {
                return Ok(Err(format!("{child} belongs to another user")));
            }
            match m.get_xattr(&child, XATTR)?.map(|v| Mark::parse(&v)) {
                None => {}
                Some(Ok(Mark::Transient { pid, start })) if procs.owner(pid, start) != Owner::Running => {}
                Some(_) => return Ok(Err(format!("{child} carries a mark of its own"))),
            }
            let p = crate::backend::procs(m, &child)?;
            if !p.is_empty() {
                return Ok(Err(format!("{child} holds processes: {}", describe_pids(&p, procs))));
            }
            below.push(child.clone());
            stack.push(child);
        }
    }
    below.sort_by_key(|p| std::cmp::Reverse(p.as_str().matches('/').count()));
    Ok(Ok(below))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mark::CREATING;
    use crate::procfs::tests::fake_proc;

    /// The command of a rein killed while launching it sits in the group's cgroup2
    /// directory before it joins the v1 ones: gc keeps the whole group, not only the
    /// directory that holds it, and says where the process is.
    #[test]
    fn gc_keeps_every_directory_of_a_group_one_of_which_is_populated() {
        use crate::testing::{FakeTree, Layout};
        let tree = FakeTree::new(Layout::Hybrid);
        let h = tree.hierarchy();
        let (_d, procs) = fake_proc(&[(20, 7, "rein")]);
        let dirs = tree.group("t/g");
        let g = GroupPath::parse("t/g").unwrap();
        let mark = Mark::Transient { pid: 99, start: 1 }.value();
        let places = h.places();
        assert_eq!(places[0], Place::V2);
        for place in &places {
            place.mount(&h).set_xattr(&g, XATTR, &mark).unwrap();
        }
        let unified = dirs.iter().find(|d| *d == &tree.path().join("unified/t/g")).unwrap();
        std::fs::write(unified.join("cgroup.procs"), "20\n").unwrap();
        let plan = plan(&h, Some(&GroupPath::parse("t").unwrap()), &procs).unwrap();
        assert_eq!(plan.len(), places.len());
        let held = format!("it holds processes: 20 (rein) (in {})", unified.display());
        for e in &plan {
            assert!(!e.remove, "{}", e.directory.display());
            let why = e.kept_because.as_deref().unwrap();
            assert!(why == "it holds processes: 20 (rein)" || why == held, "{}: {why}", e.directory.display());
        }
    }

    /// A rein killed between the mkdir and the mark leaves an unmarked directory, named
    /// by the creation record on its parent: gc removes it (and the record) once the
    /// process is gone, keeps it while it runs, and removes records left alone.
    #[test]
    fn gc_removes_what_a_dead_creator_left_between_mkdir_and_mark() {
        use crate::testing::{FakeTree, Layout};
        let tree = FakeTree::new(Layout::V2);
        let h = tree.hierarchy();
        let m = &h.unified().unwrap().mount;
        let (_d, procs) = fake_proc(&[(10, 500, "rein")]);
        let t = GroupPath::parse("t").unwrap();
        tree.group("t");
        // Empty directories, as the kernel's rmdir needs them (a fake group holds files).
        for d in ["dead", "alive", "done"] {
            std::fs::create_dir(tree.path().join("t").join(d)).unwrap();
        }
        m.set_xattr(&GroupPath::parse("t/done").unwrap(), XATTR, &Mark::Named.value()).unwrap();
        let record = |key: &str, c: Creating| m.set_xattr(&t, &format!("{CREATING}{key}"), &c.value()).unwrap();
        record("99.99", Creating { pid: 99, start: 1, name: "dead".into() });
        record("10.10", Creating { pid: 10, start: 500, name: "alive".into() });
        record("98.98", Creating { pid: 98, start: 1, name: "done".into() });
        record("97.97", Creating { pid: 97, start: 1, name: "never-made".into() });
        let plan = plan(&h, Some(&t), &procs).unwrap();
        let verdicts: Vec<(GcKind, String, bool, Option<String>)> = plan
            .iter()
            .map(|e| (e.kind, e.record.clone().unwrap_or_else(|| e.group.clone()), e.remove, e.kept_because.clone()))
            .collect();
        let names = |v: &[(GcKind, String, bool, Option<String>)]| -> Vec<String> {
            v.iter().map(|x| format!("{:?} {} {}", x.0, x.1, x.2)).collect()
        };
        let mut got = names(&verdicts);
        got.sort();
        assert_eq!(
            got,
            [
                "Kept /t/done false",
                "Record user.rein.creating.97.97 true",
                "Record user.rein.creating.98.98 true",
                "Unfinished /t/alive false",
                "Unfinished /t/dead true",
            ],
            "{verdicts:#?}"
        );
        let alive = plan.iter().find(|e| e.group == "/t/alive").unwrap();
        assert_eq!(alive.kept_because.as_deref(), Some("rein process 10 is creating it"));
        let done = execute(&h, plan);
        assert!(done.iter().all(|e| e.error.is_none()), "{done:#?}");
        assert!(!tree.path().join("t/dead").exists());
        assert!(tree.path().join("t/alive").exists() && tree.path().join("t/done").exists());
        let left: Vec<String> = creation_records(m, &t).unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(left, [format!("{CREATING}10.10")]);
    }

    #[test]
    fn gc_keeps_everything_but_stale_empty_transient_groups() {
        use crate::testing::{FakeTree, Layout};
        let tree = FakeTree::new(Layout::V2);
        let h = tree.hierarchy();
        let m = &h.unified().unwrap().mount;
        let (_d, procs) = fake_proc(&[(10, 500, "rein"), (20, 7, "sleep")]);
        let mark = |p: &str, mark: Option<Mark>| {
            tree.group(p);
            if let Some(mark) = mark {
                m.set_xattr(&GroupPath::parse(p).unwrap(), XATTR, &mark.value()).unwrap();
            }
        };
        mark("t", Some(Mark::Parent));
        mark("t/stale", Some(Mark::Transient { pid: 99, start: 1 }));
        mark("t/reused", Some(Mark::Transient { pid: 10, start: 1 }));
        mark("t/alive", Some(Mark::Transient { pid: 10, start: 500 }));
        mark("t/busy", Some(Mark::Transient { pid: 99, start: 1 }));
        std::fs::write(tree.path().join("t/busy/cgroup.procs"), "20\n").unwrap();
        // Child groups its command made go with a stale group, unless one holds a process.
        mark("t/nested", Some(Mark::Transient { pid: 99, start: 1 }));
        mark("t/nested/inner", None);
        mark("t/held", Some(Mark::Transient { pid: 99, start: 1 }));
        mark("t/held/inner", None);
        std::fs::write(tree.path().join("t/held/inner/cgroup.procs"), "20\n").unwrap();
        mark("t/named", Some(Mark::Named));
        mark("t/foreign", None);
        let plan = plan(&h, Some(&GroupPath::parse("t").unwrap()), &procs).unwrap();
        let verdicts: Vec<(String, bool, Option<String>)> =
            plan.iter().map(|e| (e.group.clone(), e.remove, e.kept_because.clone())).collect();
        let kept = |s: &str| Some(s.to_string());
        assert_eq!(
            verdicts,
            [
                (
                    "/t".to_string(),
                    false,
                    kept("a parent rein made for other groups: gc never removes it; 'rein rm' does")
                ),
                ("/t/alive".into(), false, kept("its rein process 10 is still running")),
                ("/t/busy".into(), false, kept("it holds processes: 20 (sleep)")),
                ("/t/foreign".into(), false, kept("not made by rein: it has no user.rein mark")),
                (
                    "/t/held".into(),
                    false,
                    kept("it has child groups (inner): /t/held/inner holds processes: 20 (sleep)")
                ),
                ("/t/held/inner".into(), false, kept("not made by rein: it has no user.rein mark")),
                ("/t/named".into(), false, kept("a named group (rein create): gc never removes it; 'rein rm' does")),
                ("/t/nested".into(), true, None),
                ("/t/reused".into(), true, None),
                ("/t/stale".into(), true, None),
            ]
        );
        let nested = plan.iter().find(|e| e.group == "/t/nested").unwrap();
        assert_eq!(nested.below, [tree.path().join("t/nested/inner")]);
        // A fake directory holds files, so rmdir fails: the failure is reported, not hidden.
        let done = execute(&h, plan);
        assert!(done.iter().filter(|e| e.group == "/t/stale").all(|e| !e.remove && e.error.is_some()));
    }
}
