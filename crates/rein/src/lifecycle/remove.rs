//! Removing groups: `rein rm`'s [`plan_remove`] and [`remove`] (kill when asked, then
//! the descendants deepest first, bounded in time), libcgroup's cgdelete ([`delete`]:
//! the processes moved to the parent, then rmdir), and the kill and signal of every
//! process of a group ([`kill_all`], [`signal_all`]) that the handles and `rein kill`
//! use too. Apart because removal is no [`Plan`](crate::plan::Plan): a removed directory
//! cannot be brought back, so it says what it will do ([`Removal`]) and then does it,
//! with nothing to roll back.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::backend;
use crate::cgroupfs::GroupPath;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::hierarchy::Hierarchy;
use crate::plan::Place;
use crate::procfs::{ProcTable, describe_pids};

/// How `rein rm` treats what is inside.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoveOptions {
    /// Kill the processes inside first (else a populated group is refused).
    pub kill: bool,
    /// Remove child groups too (else a group with children is refused).
    pub recursive: bool,
}

/// What removing a group will do, for `--dry-run` and for doing it: [`plan_remove`]'s
/// answer, and each group `rein apply --prune` and `rein down` remove
/// ([`crate::config::down`]). Displayed as the shell-like lines of a dry run.
#[derive(Debug, Clone)]
pub struct Removal {
    /// Processes that will be killed (only with `kill`).
    pub kill: Vec<u32>,
    /// Groups removed, deepest first, the group itself last (never empty).
    pub groups: Vec<GroupPath>,
    /// Their directories, in removal order.
    pub directories: Vec<PathBuf>,
}

impl Removal {
    /// The group removed: the last of [`Removal::groups`].
    ///
    /// # Panics
    ///
    /// When `groups` is empty (no removal rein plans is).
    pub fn group(&self) -> &GroupPath {
        self.groups.last().expect("a removal names its group")
    }
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

/// Every descendant of `path` in any hierarchy, deepest first.
pub(super) fn descendants(h: &Hierarchy, path: &GroupPath) -> Result<Vec<GroupPath>> {
    let mut all = BTreeSet::new();
    for place in h.places() {
        let m = place.mount(h);
        if m.exists(path) {
            all.extend(m.subtree(path)?);
        }
    }
    let mut v: Vec<GroupPath> = all.into_iter().collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.as_str().matches('/').count()));
    Ok(v)
}

/// Plans removing `group`, refusing a populated group (unless `kill`) or one with
/// child groups (unless `recursive`) with a message saying what is inside.
pub fn plan_remove(group: &Group, opts: RemoveOptions) -> Result<Removal> {
    let h = group.hierarchy();
    let path = group.path();
    let children = group.children()?;
    if !children.is_empty() && !opts.recursive {
        return Err(Error::state(
            format!("group {path} has child groups: {}", children.join(", ")),
            Some("remove them first, or add --recursive".into()),
        ));
    }
    let pids = group.all_procs()?;
    if !pids.is_empty() && !opts.kill {
        let n = pids.len();
        return Err(Error::state(
            format!(
                "group {path} holds {n} process{}: {}",
                if n == 1 { "" } else { "es" },
                describe_pids(&pids, &ProcTable::default())
            ),
            Some("stop them, move them out ('rein move'), or add --kill to kill them".into()),
        ));
    }
    let mut groups = descendants(h, path)?;
    groups.push(path.clone());
    let mut directories = Vec::new();
    for g in &groups {
        if let Ok(grp) = Group::open(h.clone(), g) {
            directories.extend(grp.nodes().iter().map(|n| n.place.mount(h).dir_path(g)));
        }
    }
    Ok(Removal { kill: pids, groups, directories })
}

/// Removes a group as planned: kills what is inside (when asked), then removes
/// descendants deepest first, then the group. Bounded: the kill waits up to
/// [`crate::group::SETTLE_TIMEOUT`], and the removal of all the directories of all the
/// groups as long again in all (EBUSY while the kernel tears exited tasks down is retried
/// until then), however many there are.
pub fn remove(group: &Group, removal: &Removal) -> Result<()> {
    if !removal.kill.is_empty() {
        kill_all(group)?;
    }
    remove_groups(group.hierarchy(), &removal.groups)
}

/// Removes `groups` in order, all of their directories within one
/// [`crate::group::SETTLE_TIMEOUT`].
fn remove_groups(h: &Arc<Hierarchy>, groups: &[GroupPath]) -> Result<()> {
    let deadline = std::time::Instant::now() + crate::group::SETTLE_TIMEOUT;
    for g in groups {
        match Group::open(h.clone(), g) {
            Ok(grp) => grp.remove_until(deadline, false)?,
            Err(Error::State { .. }) => {} // gone already
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Kills every process of the group and below, in every hierarchy ([`Group::kill`]:
/// `cgroup.kill` where the cgroup2 side has it, then, frozen first, SIGKILL for anything
/// only a v1 hierarchy holds), until empty. A group that stays populated is named with
/// its processes.
pub fn kill_all(group: &Group) -> Result<()> {
    group.kill().map_err(|e| match group.all_procs() {
        Ok(pids) if !pids.is_empty() => Error::state(
            format!(
                "group {} still holds processes after kill: {}",
                group.path(),
                describe_pids(&pids, &ProcTable::default())
            ),
            Some("a process may be stuck in uninterruptible sleep (D state), or frozen".into()),
        ),
        _ => e,
    })
}

/// Sends `signal` to every process of the group and below; returns how many got it.
pub fn signal_all(group: &Group, signal: i32) -> Result<usize> {
    let mut n = 0;
    for p in group.all_procs()? {
        if crate::launch::kill(p as i32, signal).is_ok() {
            n += 1;
        }
    }
    Ok(n)
}

/// What libcgroup's cgdelete does, in the group's directories at `places` (all when
/// None): refuse child groups unless `recursive`; move every process of the group (and
/// of its child groups) to the group's parent; remove the child groups deepest first,
/// then the group. Unlike libcgroup 2.0.2, every hierarchy named is removed, not only
/// the first.
pub fn delete(group: &Group, places: Option<&[Place]>, recursive: bool) -> Result<()> {
    let h = group.hierarchy();
    let path = group.path();
    let parent = path.parent().unwrap_or_default();
    let nodes: Vec<Place> =
        group.nodes().iter().map(|n| n.place).filter(|p| places.is_none_or(|ps| ps.contains(p))).collect();
    let mut plans = Vec::new();
    for place in &nodes {
        let m = place.mount(h);
        let mut below = Vec::new();
        let mut stack = vec![path.clone()];
        while let Some(g) = stack.pop() {
            for c in m.children(&g)? {
                let child = g.join(&c)?;
                below.push(child.clone());
                stack.push(child);
            }
        }
        if !below.is_empty() && !recursive {
            let names: Vec<String> = below.iter().map(|b| b.to_string()).collect();
            return Err(Error::state(
                format!("cannot remove group {path}: it has child groups: {}", names.join(", ")),
                Some("remove them first, or add -r".into()),
            ));
        }
        below.sort_by_key(|p| std::cmp::Reverse(p.as_str().matches('/').count()));
        plans.push((*place, below));
    }
    for (place, below) in &plans {
        let m = place.mount(h);
        for g in below.iter().chain(std::iter::once(path)) {
            evacuate(m, g, &parent)?;
        }
    }
    for (place, below) in &plans {
        for g in below.iter().chain(std::iter::once(path)) {
            rmdir_settled(place.mount(h), g, &parent)?;
        }
    }
    Ok(())
}

/// Moves every process of `g` (not its children) to `parent`.
fn evacuate(m: &crate::cgroupfs::Mount, g: &GroupPath, parent: &GroupPath) -> Result<()> {
    let pids = match backend::read_procs(m, g) {
        Ok(p) => p,
        Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    for pid in pids {
        match m.write(parent, backend::PROCS, &pid.to_string()) {
            Ok(()) => {}
            // Exited meanwhile.
            Err(e) if e.errno() == Some(libc::ESRCH) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// rmdir, retrying EBUSY while the kernel finishes tearing down exited tasks, and moving
/// out again before each retry whatever process joined the group meanwhile (a process
/// that arrives between the first move and the rmdir would otherwise keep it busy).
fn rmdir_settled(m: &crate::cgroupfs::Mount, g: &GroupPath, parent: &GroupPath) -> Result<()> {
    let deadline = std::time::Instant::now() + crate::group::SETTLE_TIMEOUT;
    let mut pause = std::time::Duration::from_micros(50);
    loop {
        match m.rmdir(g) {
            Ok(()) => return Ok(()),
            Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(()),
            Err(e) if e.errno() == Some(libc::EBUSY) && std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
                evacuate(m, g, parent)?;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeTree, Layout};

    #[test]
    fn remove_refuses_populated_groups_and_children_and_says_what_is_inside() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("web/child");
        let me = std::process::id();
        std::fs::write(tree.path().join("web/cgroup.procs"), format!("{me}\n")).unwrap();
        let g = Group::open(tree.hierarchy(), &GroupPath::parse("web").unwrap()).unwrap();
        let e = plan_remove(&g, RemoveOptions::default()).unwrap_err().to_string();
        assert!(e.contains("child groups: child"), "{e}");
        let e = plan_remove(&g, RemoveOptions { recursive: true, kill: false }).unwrap_err().to_string();
        assert!(e.contains("holds 1 process: ") && e.contains(&me.to_string()), "{e}");
        let r = plan_remove(&g, RemoveOptions { recursive: true, kill: true }).unwrap();
        assert_eq!(r.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(), ["web/child", "web"]);
        assert_eq!(r.kill, [me]);
        let root = tree.path().display().to_string();
        let text = r.to_string().replace(&root, "");
        assert!(text.ends_with("rmdir /web/child\nrmdir /web\n"), "{text}");
    }
}
