//! libcgroup's group specs: `-g CONTROLLERS:PATH` (cgcreate, cgexec, cgclassify,
//! cgdelete, cgget), as parsed by its `parse_cgroup_spec` (src/tools/tools-common.c):
//! a comma-separated controller list (`*` for every mounted controller), a colon, and a
//! path relative to the hierarchy root.
//!
//! On a cgroup v2 host the v1-only controller names of old tutorials still work:
//! `cpuacct` (CPU time is in the v2 core's cpu.stat), `freezer` (cgroup.freeze is in
//! the core) and `blkio` (the io controller) map to what v2 offers; `devices` is the
//! group's cgroup2 directory, where rein attaches a device program (`devices.allow` and
//! `devices.deny` are translated), and so are `net_cls` and `net_prio` (their
//! `net_cls.classid` and `net_prio.ifpriomap` become rein's network settings).

use std::collections::BTreeSet;

use crate::cgroupfs::GroupPath;
use crate::compat::raw::Host;
use crate::error::{Error, Result};
use crate::hierarchy::Controller;

/// The controllers of a group spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Controllers {
    /// `*`: every controller the host offers.
    All,
    /// The names given, as written.
    Named(Vec<String>),
}

/// A parsed `CONTROLLERS:PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// The controllers.
    pub controllers: Controllers,
    /// The group.
    pub path: GroupPath,
}

/// Parses `CONTROLLERS:PATH` (`memory,cpu:web`, `*:tenants/a`).
pub fn parse_group_spec(s: &str) -> Result<GroupSpec> {
    let bad =
        |why: &str| Error::invalid("group spec", s, format!("{why}; expected CONTROLLERS:PATH, e.g. memory,cpu:web"));
    let (list, path) = s.split_once(':').ok_or_else(|| bad("no ':'"))?;
    if path.is_empty() {
        return Err(bad("no path after ':'"));
    }
    let controllers = if list == "*" {
        Controllers::All
    } else if list.is_empty() {
        // No controller: a cgroup2 group with none enabled (libcgroup makes one).
        Controllers::Named(Vec::new())
    } else {
        let names: Vec<String> = list.split(',').map(str::trim).map(String::from).collect();
        if names.iter().any(|n| n.is_empty()) {
            return Err(bad("empty controller name"));
        }
        Controllers::Named(names)
    };
    // libcgroup accepts "/" for the root; a rein group is never the root.
    Ok(GroupSpec { controllers, path: GroupPath::parse(path)? })
}

/// The controllers a spec names, resolved against the host. v1-only names map to what
/// a v2 host offers instead (see the module documentation); a controller the host
/// does not offer is an error naming it.
pub fn resolve(controllers: &Controllers, host: &Host) -> Result<BTreeSet<Controller>> {
    let offered: BTreeSet<Controller> = host.v1.union(&host.v2).copied().collect();
    let names = match controllers {
        Controllers::All => return Ok(offered),
        Controllers::Named(n) => n,
    };
    if names.is_empty() && !host.unified {
        return Err(Error::invalid(
            "group spec",
            ":PATH",
            "no controller named, and this host has no cgroup2 hierarchy for a group without controllers; \
             name some (memory,cpu:PATH)",
        ));
    }
    let mut out = BTreeSet::new();
    for name in names {
        let c = Controller::from_name(name).ok_or_else(|| {
            Error::invalid(
                "controller",
                name,
                "not a cgroup controller; known: cpu, cpuacct, cpuset, memory, blkio (io), pids, freezer, hugetlb, \
                 devices, rdma, misc, net_cls, net_prio, perf_event",
            )
        })?;
        if offered.contains(&c) {
            out.insert(c);
            continue;
        }
        // Not bound here. On a v2 host some v1 controllers live on in the core.
        match c {
            // Device access on cgroup2 is a program on the group's directory.
            Controller::Cpuacct | Controller::Freezer | Controller::Devices if host.unified => {}
            // So are network classes and priorities: rein's network programs there.
            Controller::NetCls | Controller::NetPrio if host.unified => {}
            _ => {
                return Err(Error::ControllerUnavailable {
                    controller: c.v1_name().to_string(),
                    path: "/proc/self/mountinfo".into(),
                    hint: "no hierarchy of this host binds it; see 'rein check' for the controllers here".into(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2_host() -> Host {
        Host {
            v2: [Controller::Cpu, Controller::Cpuset, Controller::Memory, Controller::Io, Controller::Pids].into(),
            unified: true,
            page_size: 4096,
            ..Host::default()
        }
    }

    fn hybrid_host() -> Host {
        Host {
            v1: [Controller::Cpu, Controller::Cpuacct, Controller::Memory, Controller::Io, Controller::Freezer].into(),
            v2: [Controller::Hugetlb].into(),
            unified: true,
            page_size: 4096,
        }
    }

    #[test]
    fn specs() {
        let g = parse_group_spec("memory,cpu:data_processor").unwrap();
        assert_eq!(g.controllers, Controllers::Named(vec!["memory".into(), "cpu".into()]));
        assert_eq!(g.path.as_str(), "data_processor");
        assert_eq!(parse_group_spec("*:/tenants/a/").unwrap().path.as_str(), "tenants/a");
        assert_eq!(parse_group_spec("*:x").unwrap().controllers, Controllers::All);
        assert_eq!(parse_group_spec(":x").unwrap().controllers, Controllers::Named(Vec::new()));
        for bad in ["memory", "memory:", "memory,,cpu:x", "memory:../x", "memory:/", ":"] {
            assert!(parse_group_spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_controller_is_a_cgroup2_group() {
        let none = Controllers::Named(Vec::new());
        assert!(resolve(&none, &v2_host()).unwrap().is_empty());
        let v1 = Host { unified: false, ..hybrid_host() };
        assert!(resolve(&none, &v1).unwrap_err().to_string().contains("no cgroup2"));
    }

    #[test]
    fn controllers_resolve_per_host() {
        let named = |n: &[&str]| Controllers::Named(n.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            resolve(&named(&["memory", "blkio"]), &v2_host()).unwrap(),
            [Controller::Memory, Controller::Io].into()
        );
        // Old tutorials' cpu,cpuacct works on v2: CPU time is in the core.
        assert_eq!(resolve(&named(&["cpu", "cpuacct"]), &v2_host()).unwrap(), [Controller::Cpu].into());
        assert_eq!(
            resolve(&named(&["cpu", "cpuacct"]), &hybrid_host()).unwrap(),
            [Controller::Cpu, Controller::Cpuacct].into()
        );
        assert_eq!(resolve(&named(&["devices", "memory"]), &v2_host()).unwrap(), [Controller::Memory].into());
        assert_eq!(resolve(&named(&["net_cls", "cpu"]), &v2_host()).unwrap(), [Controller::Cpu].into());
        assert!(resolve(&named(&["memroy"]), &v2_host()).unwrap_err().to_string().contains("not a cgroup controller"));
        assert!(matches!(resolve(&named(&["rdma"]), &hybrid_host()), Err(Error::ControllerUnavailable { .. })));
        assert_eq!(resolve(&Controllers::All, &v2_host()).unwrap().len(), 5);
    }
}
