//! Fake cgroup trees in a temporary directory (feature `testing`).
//!
//! A fake tree has the directories and interface files of a real one, with realistic
//! contents, so planners, readers and the CLI's `--dry-run` can be tested without root.
//! What it cannot do is what the kernel does on mkdir: a directory created in a fake tree
//! is empty, so writes into it fail with ENOENT (as a misspelled file would). Tests that
//! execute plans pre-create the group with [`FakeTree::group`].
//!
//! [`snapshot`] and [`snapshot_with_marks`] list a tree (a fake one, or any directory)
//! so a test can prove a command changed nothing: take one before, one after, compare.
//!
//! This is test support, not API: it may change with rein's own tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cgroupfs::Verify;
use crate::hierarchy::Hierarchy;

/// A fake cgroup tree, removed on drop.
pub struct FakeTree {
    dir: tempfile::TempDir,
    layout: Layout,
}

/// Which kind of host to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Pure cgroup v2 at the root.
    V2,
    /// v1 hierarchies: cpu and cpuacct separate (as on rein's development host).
    V1,
    /// v1 hierarchies plus a cgroup2 mount at `unified` holding only hugetlb.
    Hybrid,
}

const V2_CONTROLLERS: &str = "cpuset cpu io memory hugetlb pids rdma misc\n";
const V1_MOUNTS: [&str; 7] = ["cpu", "cpuacct", "cpuset", "memory", "blkio", "pids", "freezer"];

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("fake tree dir");
    }
    std::fs::write(path, text).expect("fake tree file");
}

/// The files of a v2 group (non-root) with the given controllers enabled.
fn v2_group_files(dir: &Path, controllers: &str) {
    let mut files = vec![
        ("cgroup.controllers", controllers.to_string()),
        ("cgroup.subtree_control", String::new()),
        ("cgroup.procs", String::new()),
        ("cgroup.events", "populated 0\nfrozen 0\n".into()),
        ("cgroup.freeze", "0\n".into()),
        ("cgroup.kill", String::new()),
        ("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n".into()),
        (
            "cpu.pressure",
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n".into(),
        ),
        (
            "memory.pressure",
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n".into(),
        ),
        (
            "io.pressure",
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n".into(),
        ),
    ];
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    if has("memory") {
        for (f, v) in [
            ("memory.max", "max\n"),
            ("memory.high", "max\n"),
            ("memory.low", "0\n"),
            ("memory.min", "0\n"),
            ("memory.swap.max", "max\n"),
            ("memory.oom.group", "0\n"),
            ("memory.current", "0\n"),
            ("memory.peak", "0\n"),
            ("memory.swap.current", "0\n"),
            ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n"),
        ] {
            files.push((f, v.into()));
        }
    }
    if has("cpu") {
        // With the cpu controller on, cpu.stat has the throttling fields too.
        files.retain(|(f, _)| *f != "cpu.stat");
        files.push((
            "cpu.stat",
            "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n".into(),
        ));
        files.push(("cpu.max", "max 100000\n".into()));
        files.push(("cpu.weight", "100\n".into()));
    }
    if has("cpuset") {
        for (f, v) in [
            ("cpuset.cpus", "\n"),
            ("cpuset.mems", "\n"),
            ("cpuset.cpus.effective", "0-1\n"),
            ("cpuset.mems.effective", "0\n"),
        ] {
            files.push((f, v.into()));
        }
    }
    if has("io") {
        for (f, v) in [("io.max", ""), ("io.weight", "default 100\n"), ("io.stat", "")] {
            files.push((f, v.into()));
        }
    }
    if has("pids") {
        for (f, v) in [("pids.max", "max\n"), ("pids.current", "0\n"), ("pids.peak", "0\n"), ("pids.events", "max 0\n")]
        {
            files.push((f, v.into()));
        }
    }
    for (f, v) in files {
        write(&dir.join(f), &v);
    }
}

/// The files of a v1 group of one hierarchy.
fn v1_group_files(dir: &Path, mount: &str, root: bool) {
    let mut files: Vec<(&str, &str)> = vec![("cgroup.procs", ""), ("tasks", ""), ("notify_on_release", "0\n")];
    match mount {
        "cpu" => files.extend([
            ("cpu.cfs_period_us", "100000\n"),
            ("cpu.cfs_quota_us", "-1\n"),
            ("cpu.shares", "1024\n"),
            ("cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"),
        ]),
        "cpuacct" => files.extend([
            ("cpuacct.usage", "0\n"),
            ("cpuacct.usage_user", "0\n"),
            ("cpuacct.usage_sys", "0\n"),
            ("cpuacct.stat", "user 0\nsystem 0\n"),
        ]),
        "cpuset" => files.extend([
            ("cpuset.cpus", if root { "0-1\n" } else { "\n" }),
            ("cpuset.mems", if root { "0\n" } else { "\n" }),
            ("cpuset.effective_cpus", "0-1\n"),
            ("cpuset.effective_mems", "0\n"),
        ]),
        "memory" => files.extend([
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
            ("memory.soft_limit_in_bytes", "9223372036854771712\n"),
            ("memory.usage_in_bytes", "0\n"),
            ("memory.max_usage_in_bytes", "0\n"),
            ("memory.memsw.usage_in_bytes", "0\n"),
            ("memory.failcnt", "0\n"),
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"),
            ("memory.memsw.failcnt", "0\n"),
            ("cgroup.event_control", ""),
        ]),
        "blkio" => files.extend([
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_bps_device", ""),
            ("blkio.throttle.read_iops_device", ""),
            ("blkio.throttle.write_iops_device", ""),
            ("blkio.throttle.io_service_bytes_recursive", "Total 0\n"),
            ("blkio.throttle.io_serviced_recursive", "Total 0\n"),
            ("blkio.bfq.weight", "100\n"),
        ]),
        "pids" if !root => files.extend([
            ("pids.max", "max\n"),
            ("pids.current", "0\n"),
            ("pids.peak", "0\n"),
            ("pids.events", "max 0\n"),
        ]),
        "freezer" if !root => files.push(("freezer.state", "THAWED\n")),
        _ => {}
    }
    for (f, v) in files {
        write(&dir.join(f), v);
    }
}

impl FakeTree {
    /// A fake tree of the given layout.
    pub fn new(layout: Layout) -> FakeTree {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        match layout {
            Layout::V2 => {
                v2_group_files(root, V2_CONTROLLERS);
                // The root has no cgroup.kill, cgroup.freeze, cpu.max, memory.max (the kernel's rule).
                for f in [
                    "cgroup.kill",
                    "cgroup.freeze",
                    "cgroup.events",
                    "cpu.max",
                    "cpu.weight",
                    "memory.max",
                    "memory.high",
                    "pids.max",
                ] {
                    let _ = std::fs::remove_file(root.join(f));
                }
            }
            Layout::V1 | Layout::Hybrid => {
                for m in V1_MOUNTS {
                    v1_group_files(&root.join(m), m, true);
                }
                if layout == Layout::Hybrid {
                    let u = root.join("unified");
                    write(&u.join("cgroup.controllers"), "hugetlb\n");
                    write(&u.join("cgroup.subtree_control"), "");
                    write(&u.join("cgroup.procs"), "");
                    write(&u.join("cpu.stat"), "usage_usec 0\nuser_usec 0\nsystem_usec 0\n");
                }
            }
        }
        FakeTree { dir, layout }
    }

    /// The tree's root directory (what `REIN_CGROUP_ROOT` takes).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The hierarchy over this tree.
    pub fn hierarchy(&self) -> Arc<Hierarchy> {
        Arc::new(Hierarchy::from_root(self.dir.path(), Verify::Nothing).expect("fake hierarchy"))
    }

    /// Pre-creates a group (and its ancestors) with realistic files in every hierarchy,
    /// as the kernel would on mkdir. Returns its directories.
    pub fn group(&self, path: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for depth in 1..=parts.len() {
            let rel: PathBuf = parts[..depth].iter().collect();
            match self.layout {
                Layout::V2 => {
                    let d = self.path().join(&rel);
                    v2_group_files(&d, "cpuset cpu io memory pids");
                    out.push(d);
                }
                Layout::V1 | Layout::Hybrid => {
                    for m in V1_MOUNTS {
                        let d = self.path().join(m).join(&rel);
                        v1_group_files(&d, m, false);
                        out.push(d);
                    }
                    if self.layout == Layout::Hybrid {
                        let d = self.path().join("unified").join(&rel);
                        v2_group_files(&d, "");
                        out.push(d);
                    }
                }
            }
        }
        out
    }

    /// Adds a v1 devices hierarchy allowing every device (`devices.list` `a *:* rwm`),
    /// with a directory for each of `groups` (not their ancestors): the groups a test
    /// wants inside it, the others outside.
    pub fn add_v1_devices(&self, groups: &[&str]) {
        for dir in std::iter::once(self.path().join("devices"))
            .chain(groups.iter().map(|g| self.path().join("devices").join(g)))
        {
            for (f, v) in [("cgroup.procs", ""), ("tasks", ""), ("devices.list", "a *:* rwm\n")] {
                write(&dir.join(f), v);
            }
        }
    }

    /// [`snapshot`] of this tree.
    pub fn snapshot(&self) -> Vec<String> {
        snapshot(self.path())
    }
}

/// Every directory (`DIR/`) and file (`FILE=CONTENTS`) beneath `root`, and every symbolic
/// link (`LINK -> TARGET`, not followed), sorted: equal before and after a command that
/// changed nothing there.
pub fn snapshot(root: &Path) -> Vec<String> {
    walk_sorted(root, false)
}

/// [`snapshot`], with each directory's `user.rein` mark (`DIR/ mark=VALUE`, empty when
/// it has none): for commands that must not mark or unmark a group either.
pub fn snapshot_with_marks(root: &Path) -> Vec<String> {
    walk_sorted(root, true)
}

fn walk_sorted(root: &Path, marks: bool) -> Vec<String> {
    fn walk(d: &Path, marks: bool, out: &mut Vec<String>) {
        if marks {
            let mut buf = [0u8; 256];
            let mark = rustix::fs::getxattr(d, crate::mark::XATTR, &mut buf[..])
                .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
                .unwrap_or_default();
            out.push(format!("{}/ mark={mark}", d.display()));
        } else {
            out.push(format!("{}/", d.display()));
        }
        let entries = std::fs::read_dir(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for e in entries.filter_map(|e| e.ok()) {
            let p = e.path();
            let t = e.file_type().unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            if t.is_dir() {
                walk(&p, marks, out);
            } else if t.is_symlink() {
                out.push(format!("{} -> {:?}", p.display(), std::fs::read_link(&p).ok()));
            } else {
                out.push(format!("{}={}", p.display(), std::fs::read_to_string(&p).unwrap_or_default()));
            }
        }
    }
    let mut v = Vec::new();
    walk(root, marks, &mut v);
    v.sort();
    v
}

// Device access cases.

use crate::devices::{DeviceAccess, DevicePolicy, DeviceRule, DeviceType};

/// A rule written as in [`DEVICE_TABLE`]: `allow c 1:3 rw`, `deny a`.
pub fn device_rule(s: &str) -> DeviceRule {
    let (allow, body) = match s.split_once(' ') {
        Some(("allow", b)) => (true, b),
        Some(("deny", b)) => (false, b),
        _ => panic!("test rule '{s}' wants allow/deny first"),
    };
    DeviceRule::parse(body, allow).unwrap()
}

/// A policy and rules written as in [`DEVICE_TABLE`].
pub fn device_access(policy: Option<DevicePolicy>, rules: &[&str]) -> DeviceAccess {
    DeviceAccess { policy, rules: rules.iter().map(|r| device_rule(r)).collect() }
}

/// (policy, rules, device, access, allowed?): v1's device semantics as cases. The model
/// ([`crate::devices::Effective::allows`]), the generated BPF program (run in the userspace
/// interpreter) and the real kernel (v1 devices files on the host, the program attached in
/// the v2 VM: rein's kernel tests) are all held to it. Rules are written `allow RULE` or
/// `deny RULE`. The numbers are chosen so that an allowed open is harmless: the pseudo
/// devices, loop0, and numbers no driver has (char 42, block 60: ENXIO once past the
/// controller).
#[allow(clippy::type_complexity)]
pub const DEVICE_TABLE: &[(Option<DevicePolicy>, &[&str], (DeviceType, u32, u32), &str, bool)] = {
    use DevicePolicy::*;
    use DeviceType::{Block as B, Char as C};
    &[
        // Nothing said: everything allowed.
        (None, &[], (C, 1, 3), "rwm", true),
        (Some(Auto), &[], (B, 8, 0), "rw", true),
        // strict: only what is allowed.
        (Some(Strict), &[], (C, 1, 3), "r", false),
        (Some(Strict), &["allow c 1:3 rw"], (C, 1, 3), "rw", true),
        (Some(Strict), &["allow c 1:3 rw"], (C, 1, 3), "m", false),
        (Some(Strict), &["allow c 1:3 rw"], (C, 1, 5), "r", false),
        (Some(Strict), &["allow c 1:3 rw"], (B, 1, 3), "r", false),
        (Some(Strict), &["allow c 1:* r"], (C, 1, 200), "r", true),
        (Some(Strict), &["allow c 1:* r"], (C, 1, 200), "w", false),
        (Some(Strict), &["allow c *:* m"], (C, 42, 7), "m", true),
        (Some(Strict), &["allow b *:3 r"], (B, 60, 3), "r", true),
        (Some(Strict), &["allow b *:3 r"], (B, 60, 4), "r", false),
        // One exception must cover the whole access (v1's match_exception).
        (Some(Strict), &["allow c 1:* r", "allow c 1:3 w"], (C, 1, 3), "rw", false),
        (Some(Strict), &["allow c 1:3 r", "allow c 1:3 w"], (C, 1, 3), "rw", true),
        // A deny in the default's direction takes access off that exact device only.
        (Some(Strict), &["allow c 1:3 rwm", "deny c 1:3 w"], (C, 1, 3), "w", false),
        (Some(Strict), &["allow c 1:3 rwm", "deny c 1:3 w"], (C, 1, 3), "r", true),
        (Some(Strict), &["allow c 1:* rwm", "deny c 1:3 w"], (C, 1, 3), "w", true),
        // closed: the pseudo devices and the pts.
        (Some(Closed), &[], (C, 1, 3), "rw", true),
        (Some(Closed), &[], (C, 1, 9), "r", true),
        (Some(Closed), &[], (C, 5, 2), "rw", true),
        (Some(Closed), &[], (C, 136, 4), "rw", true),
        (Some(Closed), &[], (C, 136, 4), "m", false),
        (Some(Closed), &[], (C, 1, 1), "r", false),
        (Some(Closed), &[], (B, 7, 0), "r", false),
        (Some(Closed), &["allow b 7:0 r"], (B, 7, 0), "r", true),
        (Some(Closed), &["allow b 7:0 r"], (B, 7, 0), "w", false),
        // auto: closed as soon as something is allowed.
        (Some(Auto), &["allow b 7:0 r"], (B, 8, 0), "r", false),
        (Some(Auto), &["allow b 7:0 r"], (C, 1, 3), "w", true),
        (Some(Auto), &["deny c 1:3 rwm"], (C, 1, 3), "r", false),
        (Some(Auto), &["deny c 1:3 rwm"], (C, 1, 5), "r", true),
        // v1's own: deny lists; any overlap denies (match_exception_partial).
        (None, &["deny c 1:3 w"], (C, 1, 3), "rw", false),
        (None, &["deny c 1:3 w"], (C, 1, 3), "r", true),
        (None, &["deny c 1:* m"], (C, 1, 77), "m", false),
        (None, &["deny c 1:* m"], (C, 1, 77), "rw", true),
        (None, &["deny c 1:3 rw", "allow c 1:3 r"], (C, 1, 3), "r", true),
        (None, &["deny c 1:3 rw", "allow c 1:3 r"], (C, 1, 3), "w", false),
        // The tutorial's whitelist: deny everything, then allow one device.
        (None, &["deny a", "allow c 1:3 rw"], (C, 1, 3), "rw", true),
        (None, &["deny a", "allow c 1:3 rw"], (C, 1, 5), "r", false),
        (None, &["deny a", "allow c 1:3 rw", "allow a"], (C, 1, 5), "r", true),
        // a clears what came before.
        (Some(Closed), &["deny a"], (C, 1, 3), "r", false),
    ]
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_see_contents_directories_links_and_marks() {
        let tree = FakeTree::new(Layout::V2);
        let a = tree.snapshot();
        assert_eq!(a, tree.snapshot());
        std::fs::write(tree.path().join("cgroup.procs"), "1\n").unwrap();
        let b = tree.snapshot();
        assert_ne!(a, b);
        std::fs::create_dir(tree.path().join("x")).unwrap();
        let c = tree.snapshot();
        assert_ne!(b, c);
        // A link is listed, not followed.
        std::os::unix::fs::symlink("/etc", tree.path().join("x/l")).unwrap();
        let d = snapshot(tree.path());
        assert!(d.iter().any(|l| l.ends_with("/x/l -> Some(\"/etc\")")), "{d:#?}");
        assert!(!d.iter().any(|l| l.contains("/x/l/")), "{d:#?}");
        let marked = snapshot_with_marks(tree.path());
        assert!(marked.iter().any(|l| l.ends_with("/x/ mark=")), "{marked:#?}");
        // user.* attributes need a file system that takes them (tmpfs since Linux 6.6).
        let x = tree.path().join("x");
        if rustix::fs::setxattr(&x, crate::mark::XATTR, b"parent", rustix::fs::XattrFlags::empty()).is_ok() {
            assert_ne!(marked, snapshot_with_marks(tree.path()));
            assert_eq!(d, snapshot(tree.path()), "the plain snapshot has no marks");
        } else {
            eprintln!("skipped the mark half: no user.* attributes on {}", tree.path().display());
        }
    }
}
