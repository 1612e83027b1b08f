//! Reading groups back: `rein show` (the limit files as written, the same limits in
//! the model, usage) and `rein ls` (the tree, and which groups are rein's).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use crate::backend;
use crate::cgroupfs::GroupPath;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::hierarchy::{Hierarchy, Mode};
use crate::mark::{Mark, XATTR};
use crate::plan::Place;
use crate::procfs::{Owner, ProcTable};
use crate::resources::Resources;
use crate::stats::Stats;

/// One directory of a group.
#[derive(Debug, Clone, Serialize)]
pub struct Directory {
    /// The directory.
    pub path: PathBuf,
    /// `v2` or `v1`.
    pub hierarchy: &'static str,
    /// Controllers it carries for the group.
    pub controllers: Vec<String>,
}

/// One limit file, as the kernel shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileValue {
    /// The interface file name.
    pub file: String,
    /// Its full path.
    pub path: PathBuf,
    /// Its content, trailing newline removed.
    pub value: String,
}

/// Everything `rein show` prints.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Inspection {
    /// The group (`/web`).
    pub group: String,
    /// The host's mode.
    pub mode: Mode,
    /// rein's mark, if rein made it.
    pub owner: Option<Mark>,
    /// For transient groups: whether their rein process still runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_state: Option<Owner>,
    /// Its directories.
    pub directories: Vec<Directory>,
    /// The limit files, as written.
    pub files: Vec<FileValue>,
    /// The same limits in rein's version-neutral model.
    pub limits: Resources,
    /// Usage now.
    pub stats: Stats,
    /// Processes in the group itself.
    pub procs: Vec<u32>,
    /// Processes in the group and its child groups.
    pub procs_total: usize,
    /// Child groups.
    pub children: Vec<String>,
}

/// Reads a group's limit files, limits, usage and members.
pub fn inspect(group: &Group, procs: &ProcTable) -> Result<Inspection> {
    let h = group.hierarchy();
    let path = group.path();
    let mut directories = Vec::new();
    let mut files = Vec::new();
    for n in group.nodes() {
        let m = n.place.mount(h);
        let hierarchy = if n.place == Place::V2 { "v2" } else { "v1" };
        let names = backend::limit_files(n.place, &n.controllers);
        directories.push(Directory {
            path: m.dir_path(path),
            hierarchy,
            controllers: n.controllers.iter().map(|c| c.v1_name().to_string()).collect(),
        });
        for f in names {
            if let Ok(text) = m.read(path, f) {
                files.push(FileValue {
                    file: f.to_string(),
                    path: m.file_path(path, f),
                    value: text.strip_suffix('\n').unwrap_or(&text).to_string(),
                });
            }
        }
    }
    let by_name: BTreeMap<&str, &str> = files.iter().map(|f| (f.file.as_str(), f.value.as_str())).collect();
    // A file the kernel wrote in a form rein does not know is named with its path, so
    // the message says which group it is.
    let mut limits = read_limits(&by_name).map_err(|e| match e {
        Error::Parse { file, reason } => {
            let file = files.iter().find(|f| f.file == file).map_or(file, |f| f.path.display().to_string());
            Error::Parse { file, reason }
        }
        e => e,
    })?;
    // cgroup v2 keeps device access in a program, not a file: read it back from the
    // kernel. Listing a cgroup's programs needs privileges (CAP_NET_ADMIN or
    // CAP_SYS_ADMIN); without them the rules are not shown rather than guessed.
    if h.binding(crate::Controller::Devices).is_none() && group.nodes().iter().any(|n| n.place == Place::V2) {
        if let Some(u) = h.unified() {
            if let Ok(Some(d)) = backend::v2_devices(&u.mount, path) {
                limits.devices = Some(d);
            }
        }
    }
    // Network settings live in the map of rein's programs, read back the same way.
    if group.nodes().iter().any(|n| n.place == Place::V2) {
        if let Some(u) = h.unified() {
            if let Ok(Some((n, _))) = backend::v2_network(&u.mount, path) {
                limits.network = n;
            }
        }
    }
    let owner = group.mark()?;
    let owner_state = match owner {
        Some(Mark::Transient { pid, start }) => Some(procs.owner(pid, start)),
        _ => None,
    };
    Ok(Inspection {
        group: path.to_string(),
        mode: h.mode(),
        owner,
        owner_state,
        directories,
        files,
        limits,
        stats: group.stats()?,
        procs: group.procs().unwrap_or_default(),
        procs_total: group.all_procs()?.len(),
        children: group.children()?,
    })
}

/// The limits in rein's model, from limit files of either version (by file name).
/// Defaults read as what they are (`memory.max` "max" is `Limit::Max`); an empty
/// cpuset list, or v1's "no soft limit", is absent.
pub(crate) fn read_limits(files: &BTreeMap<&str, &str>) -> Result<Resources> {
    backend::read_limits(&|f| files.get(f).map(|t| t.to_string()))
}

/// One group in `rein ls`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Entry {
    /// The group (`/tenants/a`).
    pub group: String,
    /// Depth below the listing's start (0 for its top groups).
    pub depth: usize,
    /// The hierarchies it has a directory in: `v2`, or v1 mount names like `memory`.
    pub hierarchies: Vec<String>,
    /// rein's mark, if rein made it.
    pub owner: Option<Mark>,
    /// For transient groups: whether their rein process still runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_state: Option<Owner>,
    /// Processes in the group itself (all hierarchies).
    pub procs: usize,
}

/// Lists the groups beneath `under` (the whole tree when None), in every hierarchy,
/// depth first and sorted. Reads only.
pub fn list(h: &Hierarchy, under: Option<&GroupPath>, procs: &ProcTable) -> Result<Vec<Entry>> {
    let mut places: Vec<(Place, String)> = Vec::new();
    if h.unified().is_some() {
        places.push((Place::V2, "v2".into()));
    }
    for (i, m) in h.v1_mounts().iter().enumerate() {
        let name = m.controllers.iter().map(|c| c.v1_name()).collect::<Vec<_>>().join(",");
        places.push((Place::V1(i), name));
    }
    let start = under.cloned().unwrap_or_default();
    let mut all: BTreeMap<GroupPath, Vec<usize>> = BTreeMap::new();
    for (pi, (place, _)) in places.iter().enumerate() {
        let m = place.mount(h);
        if !m.exists(&start) {
            continue;
        }
        let mut stack = vec![start.clone()];
        while let Some(g) = stack.pop() {
            let children = match m.children(&g) {
                Ok(c) => c,
                Err(e) if e.errno() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            for c in children {
                if let Ok(child) = g.join(&c) {
                    all.entry(child.clone()).or_default().push(pi);
                    stack.push(child);
                }
            }
        }
    }
    let base_depth = start.lineage().len();
    let mut out = Vec::new();
    for (g, in_places) in all {
        let mut owner = None;
        let mut pids = BTreeSet::new();
        for pi in &in_places {
            let m = places[*pi].0.mount(h);
            if owner.is_none() {
                owner = m.get_xattr(&g, XATTR).ok().flatten().and_then(|v| Mark::parse(&v).ok());
            }
            if let Ok(p) = backend::read_procs(m, &g) {
                pids.extend(p);
            }
        }
        let owner_state = match owner {
            Some(Mark::Transient { pid, start }) => Some(procs.owner(pid, start)),
            _ => None,
        };
        out.push(Entry {
            depth: g.lineage().len() - base_depth - 1,
            group: g.to_string(),
            hierarchies: in_places.iter().map(|pi| places[*pi].1.clone()).collect(),
            owner,
            owner_state,
            procs: pids.len(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::CpuMax;
    use crate::testing::{FakeTree, Layout};
    use crate::units::{Bytes, DeviceNumber, Limit};

    #[test]
    fn limits_read_back_from_either_version() {
        let v2files: BTreeMap<&str, &str> = [
            ("memory.max", "20971520"),
            ("memory.high", "max"),
            ("memory.low", "0"),
            ("memory.swap.max", "0"),
            ("cpu.max", "35000 100000"),
            ("cpu.weight", "100"),
            ("cpuset.cpus", ""),
            ("io.max", "7:0 rbps=max wbps=1048576 riops=max wiops=max"),
            ("pids.max", "max"),
            ("cgroup.freeze", "0"),
        ]
        .into();
        let v1files: BTreeMap<&str, &str> = [
            ("memory.limit_in_bytes", "20971520"),
            ("memory.memsw.limit_in_bytes", "20971520"),
            ("memory.soft_limit_in_bytes", "9223372036854771712"),
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0"),
            ("cpu.shares", "1024"),
            ("cpu.cfs_quota_us", "35000"),
            ("cpu.cfs_period_us", "100000"),
            ("cpuset.cpus", ""),
            ("blkio.throttle.write_bps_device", "7:0 1048576"),
            ("blkio.throttle.read_bps_device", ""),
            ("pids.max", "max"),
            ("freezer.state", "THAWED"),
        ]
        .into();
        let a = read_limits(&v2files).unwrap();
        let mut b = read_limits(&v1files).unwrap();
        assert_eq!(a.memory.max, Some(Limit::Value(Bytes::mib(20))));
        assert_eq!(a.cpu.max, Some(CpuMax { quota: Limit::Value(35_000), period: 100_000 }));
        assert_eq!(a.io.max[0].device, DeviceNumber { major: 7, minor: 0 });
        // The v2 and v1 files of the same limits read back alike, except what only one has.
        assert_eq!(b.memory.oom_kill_disable, Some(false));
        b.memory.oom_kill_disable = None;
        // v1 keeps shares in its own unit (exactly what the file says); as a weight, the same.
        assert_eq!(b.cpu.shares.map(u64::from), Some(1024));
        assert_eq!(b.cpu.weight_v2(), a.cpu.weight);
        (b.cpu.weight, b.cpu.shares) = (b.cpu.weight_v2(), None);
        let mut a2 = a.clone();
        a2.memory.high = None;
        a2.memory.low = None;
        a2.io.max[0].rbps = None;
        a2.io.max[0].riops = None;
        a2.io.max[0].wiops = None;
        assert_eq!(a2, b);
    }

    #[test]
    fn ls_walks_every_hierarchy_and_shows_marks() {
        let tree = FakeTree::new(Layout::Hybrid);
        tree.group("t/a");
        let h = tree.hierarchy();
        h.unified().unwrap().mount.set_xattr(&GroupPath::parse("t/a").unwrap(), XATTR, "named").unwrap();
        std::fs::write(tree.path().join("memory/t/a/cgroup.procs"), "1\n2\n").unwrap();
        std::fs::write(tree.path().join("unified/t/a/cgroup.procs"), "2\n").unwrap();
        let l = list(&h, None, &ProcTable::default()).unwrap();
        assert_eq!(l.iter().map(|e| e.group.as_str()).collect::<Vec<_>>(), ["/t", "/t/a"]);
        let a = &l[1];
        assert_eq!(a.depth, 1);
        assert_eq!(a.owner, Some(Mark::Named));
        assert_eq!(a.procs, 2);
        assert!(a.hierarchies.contains(&"v2".to_string()) && a.hierarchies.contains(&"memory".to_string()));
        let under = list(&h, Some(&GroupPath::parse("t").unwrap()), &ProcTable::default()).unwrap();
        assert_eq!(under.len(), 1);
        assert_eq!(under[0].depth, 0);
    }
}
