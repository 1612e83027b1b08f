//! Where the cgroup hierarchies are and which controller lives where.
//!
//! [`Hierarchy::detect`] is the only code in rein that reads the mount table; everything
//! else takes a [`Hierarchy`], which can also be built over a fake tree in a directory
//! ([`Hierarchy::from_root`]), so the whole library runs without root in tests.
//!
//! Three modes exist in the wild:
//! - **v2** (unified): one cgroup2 mount holds every controller.
//! - **v1** (legacy): one cgroup mount per controller or group of controllers
//!   (`cpu,cpuacct` are often co-mounted; on some hosts they are separate).
//! - **hybrid**: v1 controller mounts plus a cgroup2 mount (usually `/sys/fs/cgroup/unified`)
//!   that holds the controllers v1 does not claim, and always the v2 core files
//!   (`cgroup.kill`, `cgroup.freeze`, `cpu.stat`, `*.pressure`).
//!
//! Each controller is driven in the hierarchy it is bound to.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cgroupfs::{Mount, Verify};
pub use crate::controller::Controller;
use crate::error::{Error, Result};

/// The hierarchy mode of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Pure cgroup v2.
    #[serde(rename = "v2")]
    Unified,
    /// Pure cgroup v1.
    #[serde(rename = "v1")]
    Legacy,
    /// v1 controllers beside a cgroup2 mount.
    Hybrid,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Unified => "v2",
            Mode::Legacy => "v1",
            Mode::Hybrid => "hybrid",
        })
    }
}

/// A mounted v1 hierarchy and the controllers bound to it.
#[derive(Debug)]
pub struct V1Mount {
    /// The mount, opened.
    pub mount: Mount,
    /// Controllers bound here (`cpu` and `cpuacct` may share one mount).
    pub controllers: BTreeSet<Controller>,
}

/// The cgroup2 mount and the controllers its root offers.
#[derive(Debug)]
pub struct V2Mount {
    /// The mount, opened.
    pub mount: Mount,
    /// Controllers listed in the root's `cgroup.controllers`.
    pub controllers: BTreeSet<Controller>,
}

/// Where a controller is bound.
#[derive(Debug, Clone, Copy)]
pub enum Binding<'a> {
    /// In the cgroup2 hierarchy.
    V2(&'a V2Mount),
    /// In a v1 hierarchy.
    V1(&'a V1Mount),
}

impl<'a> Binding<'a> {
    /// The mount of the hierarchy the controller is bound to.
    pub fn mount(self) -> &'a Mount {
        match self {
            Binding::V2(u) => &u.mount,
            Binding::V1(m) => &m.mount,
        }
    }
}

/// Which hierarchy a group directory, a plan's action or a read is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    /// The cgroup2 hierarchy.
    V2,
    /// The v1 hierarchy at this index of [`Hierarchy::v1_mounts`].
    V1(usize),
}

impl Place {
    /// The mount this place refers to.
    pub fn mount<'h>(&self, h: &'h Hierarchy) -> &'h Mount {
        match self {
            Place::V2 => &h.unified().expect("a V2 place exists only with a cgroup2 mount").mount,
            Place::V1(i) => &h.v1_mounts()[*i].mount,
        }
    }
}

/// One directory of a group: the hierarchy it is in, and the controllers it carries
/// for the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Which hierarchy.
    pub place: Place,
    /// The controllers this directory carries for the group.
    pub controllers: BTreeSet<Controller>,
}

/// The host's cgroup hierarchies.
#[derive(Debug)]
pub struct Hierarchy {
    mode: Mode,
    unified: Option<V2Mount>,
    v1: Vec<V1Mount>,
}

/// One line of /proc/self/mountinfo that matters to rein: a cgroup or cgroup2 mount.
#[derive(Debug, PartialEq, Eq)]
pub struct MountLine {
    /// Where it is mounted (escapes undone).
    pub mount_point: PathBuf,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// The super options, e.g. `rw,cpu,cpuacct` (v1 controllers are listed here).
    pub super_options: String,
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses /proc/self/mountinfo, keeping cgroup and cgroup2 mounts of a hierarchy's root.
///
/// Every rein command reads the mount table first, so this allocates only for the mounts
/// it keeps (a host has dozens of lines, a handful of them cgroup mounts).
pub fn parse_mountinfo(text: &str) -> Vec<MountLine> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        // After the separator: fstype, source, super options.
        let mut right = right.split(' ');
        let fstype = right.next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let (Some(_source), Some(super_options)) = (right.next(), right.next()) else { continue };
        // Before it: mount id, parent id, major:minor, root, mount point, ...
        let mut left = left.split(' ');
        let (Some(root), Some(mount_point)) = (left.nth(3), left.next()) else { continue };
        // Only mounts of a hierarchy's root: a bind mount of a sub-tree (as inside a
        // container) would shift every path rein computes.
        if root != "/" {
            continue;
        }
        out.push(MountLine {
            mount_point: PathBuf::from(unescape_mountinfo(mount_point)),
            fstype: fstype.to_string(),
            super_options: super_options.to_string(),
        });
    }
    out
}

/// Parses a `cgroup.controllers` or `cgroup.subtree_control` line into known controllers.
pub(crate) fn parse_controller_list(text: &str) -> BTreeSet<Controller> {
    text.split_whitespace().filter_map(Controller::from_name).collect()
}

// Questions whose answer is a version's interface file (`has_psi`, `self_delegated`)
// are answered behind the seam, in backend.rs.
impl Hierarchy {
    /// Detects the host's hierarchies from /proc/self/mountinfo, checking that each mount
    /// really is a cgroup filesystem.
    pub fn detect() -> Result<Hierarchy> {
        let text = crate::procfs::read_text("/proc/self/mountinfo").map_err(|e| Error::Io {
            op: "read".into(),
            path: "/proc/self/mountinfo".into(),
            cause: e,
            hint: Some("rein needs /proc mounted".into()),
        })?;
        Hierarchy::from_mountinfo(&text, Verify::CgroupFs)
    }

    /// Builds the hierarchy from mountinfo text. With [`Verify::Nothing`] the mount points
    /// may be ordinary directories (tests).
    pub fn from_mountinfo(text: &str, verify: Verify) -> Result<Hierarchy> {
        let mut unified = None;
        let mut v1 = Vec::new();
        let mut seen_v1: BTreeSet<Controller> = BTreeSet::new();
        for line in parse_mountinfo(text) {
            if line.fstype == "cgroup2" {
                if unified.is_none() {
                    unified = Some(open_v2(&line.mount_point, verify)?);
                }
                continue;
            }
            let controllers: BTreeSet<Controller> =
                line.super_options.split(',').filter_map(Controller::from_name).collect();
            // Named hierarchies without controllers (name=systemd) hold no limits.
            if controllers.is_empty() || controllers.iter().any(|c| seen_v1.contains(c)) {
                continue;
            }
            seen_v1.extend(controllers.iter().copied());
            v1.push(V1Mount { mount: Mount::open(&line.mount_point, verify)?, controllers });
        }
        Hierarchy::assemble(unified, v1)
    }

    /// Builds the hierarchy from a directory laid out like /sys/fs/cgroup: either a v2 root
    /// (it has `cgroup.controllers`), or one sub-directory per v1 hierarchy named after its
    /// controllers (`cpu,cpuacct`, `memory`, ...), optionally with a v2 sub-directory
    /// (any sub-directory holding `cgroup.controllers`, e.g. `unified`) for hybrid.
    ///
    /// This is how tests run against a fake tree, and what `REIN_CGROUP_ROOT` selects.
    pub fn from_root(root: &Path, verify: Verify) -> Result<Hierarchy> {
        if root.join("cgroup.controllers").exists() {
            return Hierarchy::assemble(Some(open_v2(root, verify)?), Vec::new());
        }
        let entries = std::fs::read_dir(root).map_err(|e| Error::Io {
            op: "list".into(),
            path: root.to_path_buf(),
            cause: e,
            hint: None,
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        let mut unified = None;
        let mut v1 = Vec::new();
        for name in names {
            let dir = root.join(&name);
            if dir.join("cgroup.controllers").exists() {
                unified = Some(open_v2(&dir, verify)?);
                continue;
            }
            let controllers: BTreeSet<Controller> = name.split(',').filter_map(Controller::from_name).collect();
            if !controllers.is_empty() {
                v1.push(V1Mount { mount: Mount::open(&dir, verify)?, controllers });
            }
        }
        Hierarchy::assemble(unified, v1)
    }

    fn assemble(unified: Option<V2Mount>, v1: Vec<V1Mount>) -> Result<Hierarchy> {
        let mode = match (&unified, v1.is_empty()) {
            (Some(_), true) => Mode::Unified,
            (Some(_), false) => Mode::Hybrid,
            (None, false) => Mode::Legacy,
            (None, true) => {
                return Err(Error::Hierarchy(
                    "no cgroup filesystem is mounted; mount one with 'mount -t cgroup2 none /sys/fs/cgroup'".into(),
                ));
            }
        };
        Ok(Hierarchy { mode, unified, v1 })
    }

    /// The mode: v2, v1 or hybrid.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The cgroup2 mount, if any (in hybrid mode it may hold few or no controllers).
    pub fn unified(&self) -> Option<&V2Mount> {
        self.unified.as_ref()
    }

    /// The v1 mounts that bind at least one controller.
    pub fn v1_mounts(&self) -> &[V1Mount] {
        &self.v1
    }

    /// Every hierarchy as a [`Place`]: the cgroup2 mount first (when there is one), then
    /// each v1 mount in the order of [`Hierarchy::v1_mounts`].
    pub fn places(&self) -> Vec<Place> {
        self.unified.iter().map(|_| Place::V2).chain((0..self.v1.len()).map(Place::V1)).collect()
    }

    /// Where `controller` is bound: a v1 mount claims it first (the kernel binds a
    /// controller to v1 as soon as a v1 hierarchy mounts it), else the cgroup2 root if it
    /// lists the controller.
    pub fn binding(&self, controller: Controller) -> Option<Binding<'_>> {
        if let Some(m) = self.v1.iter().find(|m| m.controllers.contains(&controller)) {
            return Some(Binding::V1(m));
        }
        self.unified.as_ref().filter(|u| u.controllers.contains(&controller)).map(Binding::V2)
    }
}

fn open_v2(path: &Path, verify: Verify) -> Result<V2Mount> {
    let mount = Mount::open(path, verify)?;
    let controllers = parse_controller_list(&mount.root_read("cgroup.controllers")?);
    Ok(V2Mount { mount, controllers })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_MOUNTINFO: &str = include_str!("../testdata/hybrid/mountinfo");

    #[test]
    fn mountinfo_of_this_hybrid_host() {
        let lines = parse_mountinfo(HOST_MOUNTINFO);
        let v1: Vec<_> = lines.iter().filter(|l| l.fstype == "cgroup").map(|l| l.super_options.as_str()).collect();
        assert_eq!(
            v1,
            [
                "rw,cpu",
                "rw,cpuacct",
                "rw,cpuset",
                "rw,memory",
                "rw,devices",
                "rw,freezer",
                "rw,blkio",
                "rw,pids",
                "rw,name=systemd"
            ]
        );
        let v2: Vec<_> = lines.iter().filter(|l| l.fstype == "cgroup2").map(|l| l.mount_point.clone()).collect();
        assert_eq!(v2, [PathBuf::from("/sys/fs/cgroup/unified")]);
    }

    #[test]
    fn mountinfo_escapes_and_bind_mounts() {
        let text = "50 1 0:40 / /mnt/my\\040cg rw - cgroup2 cgroup2 rw\n\
                    51 1 0:41 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                    52 1 0:42 / /x rw shared:5 master:1 - cgroup cgroup rw,cpu,cpuacct\n";
        let lines = parse_mountinfo(text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].mount_point, PathBuf::from("/mnt/my cg"));
        assert_eq!(lines[1].super_options, "rw,cpu,cpuacct");
    }

    #[test]
    fn places_are_cgroup2_first_then_each_v1_mount() {
        use crate::testing::{FakeTree, Layout};
        assert_eq!(FakeTree::new(Layout::V2).hierarchy().places(), [Place::V2]);
        let v1 = FakeTree::new(Layout::V1).hierarchy();
        assert_eq!(v1.places(), (0..v1.v1_mounts().len()).map(Place::V1).collect::<Vec<_>>());
        assert!(v1.places().len() > 1);
        let hybrid = FakeTree::new(Layout::Hybrid).hierarchy();
        assert_eq!(hybrid.places()[0], Place::V2);
        assert_eq!(hybrid.places().len(), 1 + hybrid.v1_mounts().len());
    }

    #[test]
    fn a_binding_names_its_mount() {
        use crate::testing::{FakeTree, Layout};
        let tree = FakeTree::new(Layout::Hybrid);
        let h = tree.hierarchy();
        let path = |c: Controller| h.binding(c).unwrap().mount().path().to_path_buf();
        assert_eq!(path(Controller::Io), tree.path().join("blkio"), "v1");
        assert_eq!(path(Controller::Hugetlb), tree.path().join("unified"), "cgroup2");
    }

    #[test]
    fn controller_names() {
        assert_eq!(Controller::from_name("blkio"), Some(Controller::Io));
        assert_eq!(Controller::from_name("io"), Some(Controller::Io));
        assert_eq!(Controller::Io.v1_name(), "blkio");
        assert_eq!(Controller::from_name("name=systemd"), None);
        assert_eq!(parse_controller_list("cpuset cpu io memory hugetlb pids rdma misc\n").len(), 8);
    }
}

/// The calling process's cgroup2 path, from /proc/self/cgroup (`0::/path`).
pub fn self_cgroup_v2() -> Option<String> {
    let text = crate::procfs::read_text("/proc/self/cgroup").ok()?;
    parse_self_cgroup(&text)
}

/// The cgroup2 path of process `pid`, from /proc/PID/cgroup (`0::/path`), e.g. to find the
/// unit a service manager moved it into.
pub fn cgroup_v2_of(pid: u32) -> Option<String> {
    let text = crate::procfs::read_text(format!("/proc/{pid}/cgroup")).ok()?;
    parse_self_cgroup(&text)
}

fn parse_self_cgroup(text: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix("0::")).map(|p| p.trim().to_string())
}

/// The running kernel's (major, minor) version, from uname.
pub fn kernel_version() -> (u32, u32) {
    let uts = rustix::system::uname();
    parse_kernel_version(&uts.release().to_string_lossy())
}

fn parse_kernel_version(release: &str) -> (u32, u32) {
    let mut it = release.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

#[cfg(test)]
mod detect_tests {
    use super::*;

    #[test]
    fn self_cgroup_and_version() {
        assert_eq!(parse_self_cgroup("4:memory:/x\n0::/user.slice\n").as_deref(), Some("/user.slice"));
        assert_eq!(parse_self_cgroup("4:memory:/x\n"), None);
        assert_eq!(parse_kernel_version("6.18.0-rc1"), (6, 18));
        assert_eq!(parse_kernel_version("5.10.0-28-cloud-amd64"), (5, 10));
    }
}
