//! Moving processes into groups: [`move_pids`] (every pid checked first; the processes
//! already moved go back if a move fails), its `--dry-run` lines ([`describe_move`]), the
//! way back of `cgclassify -r` ([`move_back`]), the placeholder process of a systemd
//! scope ([`scope_placeholder`], [`pids_named`]), and where a process is, read from
//! /proc/PID/cgroup ([`parse_proc_cgroup`]), which names the file a refused move needs
//! ([`move_denied_hint`]). Apart because a move changes no group, only which group
//! holds a process, and is the part that reads /proc/PID/cgroup.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::backend;
use crate::cgroupfs::GroupPath;
use crate::compat::libcgroup;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::hierarchy::{Controller, Hierarchy};
use crate::plan::Place;
use crate::procfs::ProcTable;

/// One line of /proc/PID/cgroup: the hierarchy's controllers (empty for cgroup2) and
/// the path.
pub fn parse_proc_cgroup(text: &str) -> Vec<(BTreeSet<String>, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_id, ctrls, path) = (it.next()?, it.next()?, it.next()?);
            let set: BTreeSet<String> = ctrls.split(',').filter(|c| !c.is_empty()).map(String::from).collect();
            Some((set, path.to_string()))
        })
        .collect()
}

/// The deepest group that is an ancestor of (or equal to) both `a` and `b`.
fn common_ancestor(a: &GroupPath, b: &GroupPath) -> GroupPath {
    let (la, lb) = (a.lineage(), b.lineage());
    la.iter().zip(lb.iter()).take_while(|(x, y)| x == y).last().map(|(x, _)| x.clone()).unwrap_or_default()
}

/// The hint for EACCES/EPERM when moving `pid` into `to` at `place`: the kernel wants
/// write access to cgroup.procs of the common ancestor of the old and the new group
/// (cgroup-v2.rst, "Delegation Containment"); this names that file.
pub fn move_denied_hint(h: &Hierarchy, place: Place, pid: u32, to: &GroupPath, procs: &ProcTable) -> String {
    let m = place.mount(h);
    let Some((_, from)) = current_groups(h, pid, procs).into_iter().find(|(p, _)| *p == place) else {
        return "moving a process needs write access to cgroup.procs of the common ancestor of its old and new \
                group; run as root, or from inside the subtree delegated to you"
            .into();
    };
    let common = common_ancestor(&from, to);
    format!(
        "moving a process needs write access to cgroup.procs of the common ancestor of its old and new group: \
         it is in {from} and the group is {to}, so that is {}; run as root, or start rein from inside the \
         subtree delegated to you (e.g. from a leaf group of it)",
        m.file_path(&common, backend::PROCS).display()
    )
}

/// Where `pid` is now, per place, read from /proc/PID/cgroup ([`groups_in`]).
fn current_groups(h: &Hierarchy, pid: u32, procs: &ProcTable) -> Vec<(Place, GroupPath)> {
    procs.cgroups(pid).map(|text| groups_in(h, &text)).unwrap_or_default()
}

/// The group of each place of this host that a /proc/PID/cgroup text names: the
/// cgroup2 line (`0::PATH`) where the host has cgroup2, and the line of each of its v1
/// hierarchies (named hierarchies such as `name=systemd` are none of rein's). A path
/// that is no group path ([`GroupPath::parse`]) is left out; `/` is the root.
fn groups_in(h: &Hierarchy, text: &str) -> Vec<(Place, GroupPath)> {
    let mut out = Vec::new();
    for (ctrls, path) in parse_proc_cgroup(text) {
        let group = match path.trim_matches('/') {
            "" => GroupPath::root(),
            _ => match GroupPath::parse(&path) {
                Ok(g) => g,
                Err(_) => continue,
            },
        };
        if ctrls.is_empty() {
            if h.unified().is_some() {
                out.push((Place::V2, group));
            }
            continue;
        }
        let set: BTreeSet<Controller> = ctrls.iter().filter_map(|c| Controller::from_name(c)).collect();
        if let Some(i) = h.v1_mounts().iter().position(|m| !set.is_empty() && m.controllers == set) {
            out.push((Place::V1(i), group));
        }
    }
    out
}

/// Moves processes (with all their threads) into the group's directories at `places`
/// (every directory of the group when None). Checks every pid first; if a move fails,
/// the processes already moved go back where they were.
pub fn move_pids(group: &Group, places: Option<&[Place]>, pids: &[u32], procs: &ProcTable) -> Result<()> {
    let h = group.hierarchy();
    let path = group.path();
    for p in pids {
        // The calling process (joining the group itself) exists: no need to look in /proc.
        if *p == 0 || (*p != std::process::id() && procs.start_time(*p).is_none()) {
            return Err(Error::invalid("pid", p.to_string(), "no such process"));
        }
    }
    let targets: Vec<Place> =
        group.nodes().iter().map(|n| n.place).filter(|p| places.is_none_or(|ps| ps.contains(p))).collect();
    let before: Vec<Vec<(Place, GroupPath)>> = pids.iter().map(|p| current_groups(h, *p, procs)).collect();
    let mut done: Vec<(usize, Place)> = Vec::new();
    for (i, pid) in pids.iter().enumerate() {
        for place in &targets {
            if let Err(e) = place.mount(h).write(path, backend::PROCS, &pid.to_string()) {
                for (j, pl) in done.iter().rev() {
                    if let Some((_, old)) = before[*j].iter().find(|(p, _)| p == pl) {
                        let _ = pl.mount(h).write(old, backend::PROCS, &pids[*j].to_string());
                    }
                }
                return Err(match e {
                    Error::Io { op, path: file, cause, .. }
                        if matches!(cause.raw_os_error(), Some(libc::EACCES | libc::EPERM)) =>
                    {
                        let hint = Some(move_denied_hint(h, *place, *pid, path, procs));
                        Error::Io { op, path: file, cause, hint }
                    }
                    e => e,
                });
            }
            done.push((i, *place));
        }
    }
    Ok(())
}

/// Moves process `pid` back into the groups `former` names (its /proc/PID/cgroup text,
/// read before it moved), in each hierarchy where it is in another group now: how
/// libcgroup's `cgclassify -r` undoes a move into a systemd scope that holds no
/// placeholder. Named hierarchies (`name=systemd`), where rein moves no process, are
/// left alone. Every hierarchy is tried; returns the writes the kernel refused, in the
/// order of `former`'s lines: the `cgroup.procs` file and the error.
pub fn move_back(h: &Hierarchy, pid: u32, former: &str, procs: &ProcTable) -> Vec<(PathBuf, Error)> {
    let now = current_groups(h, pid, procs);
    let mut refused = Vec::new();
    for (place, group) in groups_in(h, former).into_iter().filter(|g| !now.contains(g)) {
        let m = place.mount(h);
        if let Err(e) = m.write(&group, backend::PROCS, &pid.to_string()) {
            refused.push((m.file_path(&group, backend::PROCS), e));
        }
    }
    refused
}

/// The processes in a group's directory at `place` (not in its child groups) whose
/// `argv[0]` is `argv0` ([`ProcTable::argv0`]), in the kernel's order. A process that
/// exits meanwhile is not listed.
pub fn pids_named(h: &Hierarchy, place: Place, group: &GroupPath, argv0: &str, procs: &ProcTable) -> Result<Vec<u32>> {
    let pids = backend::read_procs(place.mount(h), group)?;
    Ok(pids.into_iter().filter(|p| procs.argv0(*p).is_some_and(|a| a == argv0.as_bytes())).collect())
}

/// The placeholder process of the systemd scope `pid` is in: the one `cgcreate -c`
/// started there ([`libcgroup::IDLE_PROCESS`], by its `argv[0]`, the first in the
/// scope's `cgroup.procs` as libcgroup takes it) so that systemd keeps the scope, and
/// that `cgexec -r` and `cgclassify -r` end once their process has joined. The scope is
/// the cgroup2 group of `pid` (`0::` in /proc/PID/cgroup) when its path names a slice
/// and a scope (`.slice`, `.scope`). None: no such scope, or no placeholder in it.
pub fn scope_placeholder(h: &Hierarchy, pid: u32, procs: &ProcTable) -> Option<u32> {
    let (_, scope) = current_groups(h, pid, procs).into_iter().find(|(p, _)| *p == Place::V2)?;
    if !(scope.as_str().contains(".scope") && scope.as_str().contains(".slice")) {
        return None;
    }
    pids_named(h, Place::V2, &scope, libcgroup::IDLE_PROCESS, procs).ok()?.first().copied()
}

/// The actions [`move_pids`] takes, for `--dry-run`.
pub fn describe_move(group: &Group, places: Option<&[Place]>, pids: &[u32]) -> Vec<String> {
    let h = group.hierarchy();
    let mut out = Vec::new();
    for pid in pids {
        for n in group.nodes().iter().filter(|n| places.is_none_or(|ps| ps.contains(&n.place))) {
            out.push(format!("{pid} > {}", n.place.mount(h).file_path(group.path(), backend::PROCS).display()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::tests::read;
    use crate::testing::{FakeTree, Layout};

    #[test]
    fn common_ancestors() {
        let p = |s: &str| if s.is_empty() { GroupPath::root() } else { GroupPath::parse(s).unwrap() };
        assert_eq!(common_ancestor(&p("a/b/c"), &p("a/b/d")), p("a/b"));
        assert_eq!(common_ancestor(&p("a/b"), &p("a/b/c")), p("a/b"));
        assert_eq!(common_ancestor(&p("a"), &p("b")), GroupPath::root());
        assert_eq!(common_ancestor(&GroupPath::root(), &p("x/y")), GroupPath::root());
        assert_eq!(common_ancestor(&p("ab/c"), &p("a/c")), GroupPath::root());
    }

    /// A fake /proc holding process `pid` with `cgroup` as its /proc/PID/cgroup.
    fn proc_with(pid: u32, argv0: &str, cgroup: &str) -> (tempfile::TempDir, ProcTable) {
        let (dir, procs) = crate::procfs::tests::fake_proc(&[(pid, 100, argv0)]);
        std::fs::write(dir.path().join(format!("{pid}/cmdline")), format!("{argv0}\0-x\0")).unwrap();
        std::fs::write(dir.path().join(format!("{pid}/cgroup")), cgroup).unwrap();
        (dir, procs)
    }

    #[test]
    fn move_back_writes_where_the_process_left_and_returns_the_refusals() {
        let tree = FakeTree::new(Layout::Hybrid);
        tree.group("a");
        tree.group("b");
        let h = tree.hierarchy();
        let now = "9:name=systemd:/b\n8:pids:/b\n4:memory:/a\n1:cpu:/b\n0::/b\n";
        let (_d, procs) = proc_with(4242, "sleep", now);
        // Left: pids a, cpu the root, cgroup2 a; memory unchanged; blkio's group gone; a
        // path that is no group path; name=systemd is none of rein's.
        let former = "9:name=systemd:/a\n8:pids:/a\n7:blkio:/gone\n4:memory:/a\n1:cpu:/\n2:cpuacct:/a\nb\n0::/a\n";
        std::fs::write(tree.path().join("cpuacct/a/cgroup.procs"), "").unwrap();
        let refused = move_back(&h, 4242, former, &procs);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].0, tree.path().join("blkio/gone/cgroup.procs"));
        assert_eq!(refused[0].1.errno(), Some(libc::ENOENT));
        for (file, want) in [
            ("pids/a/cgroup.procs", "4242"),
            ("cpu/cgroup.procs", "4242"),
            ("cpuacct/a/cgroup.procs", "4242"),
            ("unified/a/cgroup.procs", "4242"),
            ("memory/a/cgroup.procs", ""),
            ("pids/b/cgroup.procs", ""),
        ] {
            assert_eq!(read(&tree, file), want, "{file}");
        }
    }

    #[test]
    fn scope_placeholder_is_the_first_idle_process_of_a_systemd_scope() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("a.slice/b.scope");
        tree.group("c/d");
        std::fs::write(tree.path().join("a.slice/b.scope/cgroup.procs"), "10\n11\n12\n4242\n").unwrap();
        let h = tree.hierarchy();
        let (d, procs) = proc_with(4242, "sleep", "0::/a.slice/b.scope\n");
        for (pid, argv0) in [(10, "sleep"), (11, libcgroup::IDLE_PROCESS), (12, libcgroup::IDLE_PROCESS)] {
            std::fs::create_dir_all(d.path().join(pid.to_string())).unwrap();
            std::fs::write(d.path().join(format!("{pid}/cmdline")), format!("{argv0}\0")).unwrap();
        }
        let scope = GroupPath::parse("a.slice/b.scope").unwrap();
        assert_eq!(pids_named(&h, Place::V2, &scope, libcgroup::IDLE_PROCESS, &procs).unwrap(), [11, 12]);
        assert_eq!(pids_named(&h, Place::V2, &scope, "sleep", &procs).unwrap(), [10, 4242]);
        assert_eq!(scope_placeholder(&h, 4242, &procs), Some(11));
        // Not in a scope, in a group that names none, or no such process: no placeholder.
        for cgroup in ["0::/a.slice\n", "0::/c/d\n", "1:cpu:/a.slice/b.scope\n"] {
            std::fs::write(d.path().join("4242/cgroup"), cgroup).unwrap();
            assert_eq!(scope_placeholder(&h, 4242, &procs), None, "{cgroup}");
        }
        assert_eq!(scope_placeholder(&h, 4243, &procs), None);
        // A v1 host has no cgroup2 group to look in.
        let v1 = FakeTree::new(Layout::V1);
        std::fs::write(d.path().join("4242/cgroup"), "0::/a.slice/b.scope\n").unwrap();
        assert_eq!(scope_placeholder(&v1.hierarchy(), 4242, &procs), None);
    }

    #[test]
    fn proc_cgroup_lines() {
        let text = "4:memory:/process_api/x\n2:cpu,cpuacct:/\n1:name=systemd:/\n0::/rein/run-1\n";
        let v = parse_proc_cgroup(text);
        assert_eq!(v[0], (["memory".to_string()].into(), "/process_api/x".to_string()));
        assert_eq!(v[1].0.len(), 2);
        assert_eq!(v[3], (BTreeSet::new(), "/rein/run-1".to_string()));
    }
}
