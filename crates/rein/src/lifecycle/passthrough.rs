//! Writes made as given, for libcgroup's tools: cgset's cgroup2 core files
//! ([`control_children`] for `cgroup.subtree_control`, [`move_thread`] for
//! `cgroup.threads`) and `cgset --copy-from`'s files outside the model
//! ([`copy_unmodelled`]). The kernel judges each value; the writes go in order and stop
//! at the first refusal, and what was written stays. Apart because they are the
//! exception to the module's rule that a change is a [`Plan`](crate::plan::Plan) that
//! rolls back.

use crate::backend;
use crate::cgroupfs::GroupPath;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::hierarchy::Hierarchy;

/// Enables and disables controllers for the child groups of each of `groups` (cgroup2's
/// `cgroup.subtree_control`; the cgroup root may be one of them). `change` is in the
/// kernel's syntax (`+cpu -memory`) and written as given: the kernel judges it. The
/// groups are written in the order given when enabling, which must put parents first
/// (a group enables only what its parent enables for it), and in the reverse order when
/// `change` starts with a disable (`-`): a parent cannot disable a controller that a
/// child still enables for its own children (EBUSY). Stops at the first refusal and
/// returns that group with the error; the groups written before it keep the change.
/// Nothing is undone here either: a controller enabled is at once every child's to use
/// (see docs/ARCHITECTURE.md, "Ancestors").
pub fn control_children(
    h: &Hierarchy,
    groups: &[GroupPath],
    change: &str,
) -> std::result::Result<(), (GroupPath, Error)> {
    let mut order: Vec<&GroupPath> = groups.iter().collect();
    if change.starts_with('-') {
        order.reverse();
    }
    for g in order {
        write_v2(h, g, backend::SUBTREE_CONTROL, change).map_err(|e| (g.clone(), e))?;
    }
    Ok(())
}

/// Moves one thread into a group's cgroup2 directory (`cgroup.threads`), leaving the
/// other threads of its process where they are. `tid` is written as given (a thread id
/// in this process's pid namespace); the kernel judges it, and moves a thread only
/// within a threaded subtree (`cgroup.type` `threaded`: EOPNOTSUPP elsewhere).
pub fn move_thread(h: &Hierarchy, group: &GroupPath, tid: &str) -> Result<()> {
    write_v2(h, group, backend::THREADS, tid)
}

/// Writes a core file of a group's cgroup2 directory; an error on a host without cgroup2.
fn write_v2(h: &Hierarchy, group: &GroupPath, file: &str, value: &str) -> Result<()> {
    let u = h.unified().ok_or_else(|| {
        Error::state(format!("cannot write {file} of group {group}: this host has no cgroup2 hierarchy"), None)
    })?;
    u.mount.write(group, file, value)
}

/// Where [`copy_unmodelled`] stopped.
#[derive(Debug)]
pub struct CopyFailure {
    /// Why.
    pub error: Error,
    /// The setting (interface file and value) the destination refused; None when the
    /// source's files could not be listed.
    pub refused: Option<(String, String)>,
}

/// What libcgroup's `cgset --copy-from` copies beyond rein's model (which
/// [`plan_set`] copies with the limits of [`crate::inspect`]): every writable one-line
/// controller file of `src` (`memory.swappiness`, ...; not `cgroup.*`, `tasks`,
/// `notify_on_release` or `release_agent`) whose value differs in group `dst` is written
/// there, in each hierarchy where both have a directory; the files of a hierarchy in
/// name order. Writable is the owner's write bit, as the kernel sets it per file (root
/// would pass an access check on the read-only ones too). Stops at the first refusal;
/// what was written before it stays.
///
/// [`plan_set`]: super::plan_set
pub fn copy_unmodelled(src: &Group, dst: &GroupPath) -> std::result::Result<(), Box<CopyFailure>> {
    let listed = |error| Box::new(CopyFailure { error, refused: None });
    for node in src.nodes() {
        let m = node.place.mount(src.hierarchy());
        if !m.exists(dst) {
            continue;
        }
        for entry in m.entry_modes(src.path()).map_err(listed)? {
            let Some(f) = entry.name else { continue };
            // Controller files only: not cgroup.*, tasks, notify_on_release, release_agent.
            match f.split_once('.') {
                Some((prefix, _)) if prefix != "cgroup" => {}
                _ => continue,
            }
            if entry.mode & 0o200 == 0 {
                continue;
            }
            let Ok(value) = m.read(src.path(), &f) else { continue };
            let value = value.trim_end();
            if value.is_empty() || value.contains('\n') {
                continue;
            }
            if m.read(dst, &f).is_ok_and(|now| now.trim_end() == value) {
                continue;
            }
            m.write(dst, &f, value)
                .map_err(|error| Box::new(CopyFailure { error, refused: Some((f.clone(), value.into())) }))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::tests::read;
    use crate::testing::{FakeTree, Layout};

    /// The writes of this thread since `write_log::start`, as `VALUE > FILE` in the tree.
    fn written(tree: &FakeTree) -> Vec<String> {
        let root = tree.path().display().to_string();
        crate::cgroupfs::write_log::take()
            .into_iter()
            .map(|(p, v)| format!("{v} > {}", p.display().to_string().replace(&root, "")))
            .collect()
    }

    #[test]
    fn control_children_enables_parents_first_and_disables_children_first() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("p/c/leaf");
        let h = tree.hierarchy();
        let groups: Vec<GroupPath> = ["p", "p/c"].iter().map(|g| GroupPath::parse(g).unwrap()).collect();
        crate::cgroupfs::write_log::start();
        control_children(&h, &groups, "+cpu +memory").unwrap();
        control_children(&h, &groups, "-memory").unwrap();
        control_children(&h, &[GroupPath::root()], "+pids").unwrap();
        assert_eq!(
            written(&tree),
            [
                "+cpu +memory > /p/cgroup.subtree_control",
                "+cpu +memory > /p/c/cgroup.subtree_control",
                "-memory > /p/c/cgroup.subtree_control",
                "-memory > /p/cgroup.subtree_control",
                "+pids > /cgroup.subtree_control",
            ]
        );
        // The first refusal stops it, naming the group; what came before stays.
        std::fs::remove_file(tree.path().join("p/c/cgroup.subtree_control")).unwrap();
        let (g, e) = control_children(&h, &groups, "+io").unwrap_err();
        assert_eq!((g.as_str(), e.errno()), ("p/c", Some(libc::ENOENT)));
        assert_eq!(read(&tree, "p/cgroup.subtree_control"), "+io");
        let (g, _) = control_children(&h, &groups, "-io").unwrap_err();
        assert_eq!(g.as_str(), "p/c");
        assert_eq!(read(&tree, "p/cgroup.subtree_control"), "+io");
    }

    #[test]
    fn move_thread_writes_cgroup_threads_on_cgroup2_only() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("t");
        std::fs::write(tree.path().join("t/cgroup.threads"), "").unwrap();
        let t = GroupPath::parse("t").unwrap();
        move_thread(&tree.hierarchy(), &t, "4243").unwrap();
        assert_eq!(read(&tree, "t/cgroup.threads"), "4243");
        let v1 = FakeTree::new(Layout::V1);
        v1.group("t");
        let e = move_thread(&v1.hierarchy(), &t, "4243").unwrap_err().to_string();
        assert!(e.contains("cgroup.threads of group /t: this host has no cgroup2 hierarchy"), "{e}");
    }

    #[test]
    fn copy_unmodelled_writes_the_writable_one_line_files_that_differ() {
        use std::os::unix::fs::PermissionsExt;
        let tree = FakeTree::new(Layout::V1);
        tree.group("src");
        tree.group("dst");
        let set = |file: &str, value: &str, mode: u32| {
            let p = tree.path().join(file);
            std::fs::write(&p, value).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        set("memory/src/memory.swappiness", "30\n", 0o644);
        set("memory/dst/memory.swappiness", "60\n", 0o644);
        // Read-only (a statistic), several lines, a core file, no controller prefix: kept.
        set("memory/src/memory.usage_in_bytes", "4096\n", 0o444);
        set("memory/src/memory.oom_control", "oom_kill_disable 1\nunder_oom 0\n", 0o644);
        set("memory/src/cgroup.clone_children", "1\n", 0o644);
        set("memory/src/notify_on_release", "1\n", 0o644);
        set("cpu/src/cpu.shares", "512\n", 0o644);
        // dst has no pids directory: that hierarchy is skipped.
        std::fs::write(tree.path().join("pids/src/pids.max"), "7\n").unwrap();
        std::fs::remove_dir_all(tree.path().join("pids/dst")).unwrap();
        let h = tree.hierarchy();
        let src = Group::open(h.clone(), &GroupPath::parse("src").unwrap()).unwrap();
        let dst = GroupPath::parse("dst").unwrap();
        crate::cgroupfs::write_log::start();
        copy_unmodelled(&src, &dst).unwrap();
        let mut log = written(&tree);
        log.sort();
        assert_eq!(log, ["30 > /memory/dst/memory.swappiness", "512 > /cpu/dst/cpu.shares"]);
        // A value the destination refuses stops the copy, named with its file.
        std::fs::remove_file(tree.path().join("cpu/dst/cpu.shares")).unwrap();
        let f = copy_unmodelled(&src, &dst).unwrap_err();
        assert_eq!(f.refused, Some(("cpu.shares".to_string(), "512".to_string())));
        assert_eq!(f.error.errno(), Some(libc::ENOENT));
    }
}
