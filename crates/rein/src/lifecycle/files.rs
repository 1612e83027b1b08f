//! A group's interface files by the names of the running mode: where a file lives on
//! this host ([`place_of`]) and what it holds ([`read_file`], [`controller_files`]), the
//! values in force that libcgroup's cgget prints and that raw settings (`-r`, cgset,
//! rein.toml, cgconfig.conf) are translated against. Apart because it only reads; the
//! raw writes of a change (`change.rs`) find their hierarchy through [`place_of`].

use crate::backend;
use crate::cgroupfs::GroupPath;
use crate::compat::raw::Home;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::hierarchy::{Binding, Controller, Hierarchy};
use crate::plan::Place;

/// The content of a group's interface file `file` (a name of the running mode, living in
/// `home`), None when the group or the file is absent: what libcgroup's tools and
/// rein.toml's raw settings read as "the value in force". Where device access is a
/// cgroup2 program (no devices hierarchy), `devices.list` is answered from the program
/// attached, as v1 shows it; so are `net_cls.classid` and `net_prio.ifpriomap` from
/// rein's network programs.
pub fn read_file(h: &Hierarchy, path: &GroupPath, home: Home, file: &str) -> Option<String> {
    if home == Home::Controller(Controller::Devices) && h.binding(Controller::Devices).is_none() {
        return backend::v2_devices_list(h, path, file);
    }
    if let Home::Controller(c @ (Controller::NetCls | Controller::NetPrio)) = home {
        if h.binding(c).is_none() {
            return backend::v2_net_file(h, path, file);
        }
    }
    let m = place_of(h, home).ok()?.mount(h);
    if m.exists(path) { m.read(path, file).ok() } else { None }
}

/// Every readable interface file of each controller in `controllers` in an open group,
/// with its content: the controllers in the order given, each one's files (those named
/// `<controller>.*`, by the name of the hierarchy it is in) in the kernel's directory
/// order; what libcgroup's `cgget -g <controllers>:<group>` prints. A controller the host
/// does not bind, or the group has no directory for, is skipped. Files the kernel gives no
/// value to read (refused with EINVAL: `memory.force_empty`, write-only;
/// `memory.pressure_level`, an event file) are listed with an empty value, as libcgroup
/// lists them; other unreadable files are left out.
pub fn controller_files(group: &Group, controllers: &[Controller]) -> Result<Vec<(String, String)>> {
    let h = group.hierarchy();
    let mut out = Vec::new();
    for c in controllers {
        let Ok(place) = place_of(h, Home::Controller(*c)) else { continue };
        if !group.nodes().iter().any(|n| n.place == place) {
            continue;
        }
        let m = place.mount(h);
        let prefix = format!("{}.", if place == Place::V2 { c.v2_name() } else { c.v1_name() });
        for f in m.files(group.path())? {
            if !f.starts_with(&prefix) {
                continue;
            }
            match m.read(group.path(), &f) {
                Ok(v) => out.push((f, v)),
                Err(e) if e.errno() == Some(libc::EINVAL) => out.push((f, String::new())),
                Err(_) => {}
            }
        }
    }
    Ok(out)
}

/// Where a raw write's file lives on this host.
pub fn place_of(h: &Hierarchy, home: Home) -> Result<Place> {
    match home {
        Home::Core if h.unified().is_some() => Ok(Place::V2),
        Home::Core => Err(Error::Unsupported {
            what: "cgroup.* core files".into(),
            mode: h.mode().to_string(),
            reason: "no cgroup2 hierarchy is mounted".into(),
        }),
        Home::Controller(c) => match h.binding(c) {
            Some(Binding::V2(_)) => Ok(Place::V2),
            Some(Binding::V1(m)) => {
                Ok(Place::V1(h.v1_mounts().iter().position(|x| std::ptr::eq(x, m)).unwrap_or_default()))
            }
            None => Err(Error::ControllerUnavailable {
                controller: c.v1_name().into(),
                path: "/proc/self/mountinfo".into(),
                hint: "no hierarchy of this host binds it (see 'rein check')".into(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeTree, Layout};

    #[test]
    fn controller_files_in_the_order_asked_by_each_hierarchy_name() {
        let tree = FakeTree::new(Layout::Hybrid);
        tree.group("g");
        let g = Group::open(tree.hierarchy(), &GroupPath::parse("g").unwrap()).unwrap();
        // pids first as asked, then blkio (Io by its v1 name); hugetlb (bound to the
        // fake tree's cgroup2 mount) has no files in the group: nothing listed for it.
        let files = controller_files(&g, &[Controller::Pids, Controller::Io, Controller::Hugetlb]).unwrap();
        let mut names: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
        let pids: Vec<&str> = names.drain(..4).collect();
        let mut sorted = pids.clone();
        sorted.sort();
        assert_eq!(sorted, ["pids.current", "pids.events", "pids.max", "pids.peak"]);
        assert!(!names.is_empty() && names.iter().all(|f| f.starts_with("blkio.")), "{names:?}");
        assert!(files.contains(&("pids.max".into(), "max\n".into())), "{files:?}");
    }
}
