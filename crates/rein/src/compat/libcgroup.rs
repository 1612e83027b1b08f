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

/// Parses `CONTROLLERS:PATH` (`memory,cpu:web`, `*:tenants/a`) for rein's own commands
/// (`rein run -g`): the path as [`GroupPath::parse`] takes it, no `.` or `..`.
pub fn parse_group_spec(s: &str) -> Result<GroupSpec> {
    parse_spec(s, GroupPath::parse)
}

/// Parses `CONTROLLERS:PATH` as libcgroup's tools take it: `.` and `..` in the path are
/// resolved on the text ([`GroupPath::parse_resolving`]: never above the hierarchy's
/// root); the root itself is refused, as no tool rein answers to creates, joins or
/// removes it.
pub fn parse_tool_spec(s: &str) -> Result<GroupSpec> {
    parse_spec(s, resolve_group)
}

/// A group path as libcgroup's tools take it ([`GroupPath::parse_resolving`]), the
/// root refused: with the rule's words when it is written as the root (`/`), else
/// saying that its `..` leads there.
pub fn resolve_group(s: &str) -> Result<GroupPath> {
    let p = GroupPath::parse_resolving(s)?;
    if !p.is_root() {
        return Ok(p);
    }
    if s.split('/').any(|c| c == "..") {
        return Err(Error::InvalidName {
            name: crate::error::escape(s),
            reason: "its '..' leads to the cgroup root itself, which cannot be used here".into(),
        });
    }
    GroupPath::parse(s)
}

fn parse_spec(s: &str, path_of: fn(&str) -> Result<GroupPath>) -> Result<GroupSpec> {
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
    Ok(GroupSpec { controllers, path: path_of(path)? })
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

/// Where libcgroup's `cgcreate -c -S` records its default scope (`SLICE/SCOPE`): its
/// tools then place a path that does not start with `/` under that scope, unless `-b`
/// (src/config.c, `cgroup_set_default_systemd_cgroup`; src/api.c, `cg_build_path`).
pub const SYSTEMD_DEFAULT_FILE: &str = "/var/run/libcgroup/systemd";

/// The name (argv\[0\]) of the placeholder process that `cgcreate -c` puts in a scope it
/// makes without `-p` (systemd removes a scope without processes), and that `cgexec -r`
/// replaces.
pub const IDLE_PROCESS: &str = "libcgroup_systemd_idle_thread";

/// Scope names libcgroup refuses, as systemd would make `_cpu.scope` of `cpu.scope`
/// (the controllers systemd knows, and its BPF pseudo-controllers; src/systemd.c).
const SYSTEMD_CONTROLLER_NAMES: [&str; 13] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "io",
    "blkio",
    "memory",
    "devices",
    "pids",
    "bpf-firewall",
    "bpf-devices",
    "bpf-foreign",
    "bpf-socket-bind",
    "bpf-restrict-network-interfaces",
];

/// `cgcreate -c`'s group path as libcgroup reads it (`cgroup_create_scope2`): exactly
/// `SLICE/SCOPE`, the scope not named after a controller. Returns the slice and scope
/// unit names, or libcgroup's words for the refusal. systemd judges the unit names
/// themselves (a slice must end in `.slice`, a scope in `.scope`).
pub fn scope_units(path: &str) -> std::result::Result<(String, String), String> {
    let name = path.trim_matches('/');
    let Some((slice, scope)) = name.split_once('/') else {
        return Err(format!("cgroup name does not contain a slash: {name}"));
    };
    if scope.contains('/') {
        return Err(format!("cgroup name contains more than one slash: {name}"));
    }
    let stem = scope.strip_suffix(".scope").unwrap_or(scope);
    if let Some(c) = SYSTEMD_CONTROLLER_NAMES.iter().find(|c| **c == stem) {
        return Err(format!("Invalid scope name, using controller name {c}"));
    }
    Ok((slice.to_string(), scope.to_string()))
}

/// A group path as libcgroup's tools place it once a default scope is recorded
/// ([`SYSTEMD_DEFAULT_FILE`]): a path that does not start with `/`, and `/` itself, name
/// the scope's descendants and the scope; any other `/PATH` starts at the root. The
/// result goes through [`GroupPath::parse_resolving`], so `..` may climb out of the
/// scope but never above the root.
pub fn under_default(given: &str, default: Option<&GroupPath>) -> String {
    match default {
        Some(d) if !(given.starts_with('/') && given != "/") => {
            format!("{}/{}", d.as_str(), given.trim_start_matches('/'))
        }
        _ => given.to_string(),
    }
}

/// libcgroup's v1 "no limit" as its conversions write it (`V1_MAX_STR` in
/// src/abstraction-memory.c: the largest page-aligned signed 64-bit number).
const V1_NO_LIMIT: &str = "9223372036854771712";

/// Where cgxset and cgxget part from rein's own translation: libcgroup's conversion
/// table (src/abstraction-map.c) pairs `memory.soft_limit_in_bytes` with `memory.high`,
/// while rein's cgset and cgget make the v1 soft limit `memory.low` (the kernel's v1
/// soft limit is a reclaim target under pressure, which `memory.low` is on v2;
/// `memory.high` throttles). Under the explicit-conversion names libcgroup's pairing
/// holds, as its tests expect: the name of the other version becomes the running
/// version's file, with libcgroup's value conversion (`-1` and its v1 maximum are v2's
/// `max`; `max` is its v1 maximum). None for every other name, and where the name is
/// the running version's own.
pub fn cgx_setting(name: &str, value: &str, host: &Host) -> Option<(&'static str, String)> {
    let memory_v2 = host.v2.contains(&Controller::Memory);
    match name {
        "memory.soft_limit_in_bytes" if memory_v2 => {
            let v = if value == "-1" || value == V1_NO_LIMIT { "max" } else { value };
            Some(("memory.high", v.to_string()))
        }
        "memory.high" if !memory_v2 && host.v1.contains(&Controller::Memory) => {
            Some(("memory.soft_limit_in_bytes", if value == "max" { V1_NO_LIMIT } else { value }.to_string()))
        }
        _ => None,
    }
}

/// Turns a value read from one version's file into the other version's terms.
pub type Conversion = fn(&str) -> String;

/// cgxget's side of [`cgx_setting`]: the running version's file to read for `name`,
/// and the value read turned into `name`'s terms. None where rein's own reading holds.
pub fn cgx_read(name: &str, host: &Host) -> Option<(&'static str, Conversion)> {
    let memory_v2 = host.v2.contains(&Controller::Memory);
    match name {
        "memory.soft_limit_in_bytes" if memory_v2 => {
            Some(("memory.high", |v| if v == "max" { V1_NO_LIMIT.to_string() } else { v.to_string() }))
        }
        "memory.high" if !memory_v2 && host.v1.contains(&Controller::Memory) => {
            Some(("memory.soft_limit_in_bytes", |v| {
                if v == "-1" || v == V1_NO_LIMIT { "max".to_string() } else { v.to_string() }
            }))
        }
        _ => None,
    }
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
    fn tool_specs_resolve_dots_inside_the_hierarchy() {
        assert_eq!(parse_tool_spec("memory:a/../b/./c").unwrap().path.as_str(), "b/c");
        for (bad, why) in
            [("memory:a/..", "'..' leads to the cgroup root"), ("memory:/", "empty name"), ("memory:../x", "above")]
        {
            let e = parse_tool_spec(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(parse_group_spec("memory:a/../b").is_err());
    }

    #[test]
    fn cgx_pairs_the_soft_limit_with_memory_high_as_libcgroup() {
        let on = |n: &str, v: &str, h: &Host| cgx_setting(n, v, h).map(|(n, v)| format!("{n}={v}"));
        assert_eq!(on("memory.soft_limit_in_bytes", "-1", &v2_host()).unwrap(), "memory.high=max");
        assert_eq!(on("memory.soft_limit_in_bytes", V1_NO_LIMIT, &v2_host()).unwrap(), "memory.high=max");
        assert_eq!(on("memory.soft_limit_in_bytes", "0", &v2_host()).unwrap(), "memory.high=0");
        assert_eq!(
            on("memory.high", "max", &hybrid_host()).unwrap(),
            format!("memory.soft_limit_in_bytes={V1_NO_LIMIT}")
        );
        assert_eq!(on("memory.high", "8192", &hybrid_host()).unwrap(), "memory.soft_limit_in_bytes=8192");
        assert!(on("memory.high", "1", &v2_host()).is_none());
        assert!(on("memory.soft_limit_in_bytes", "1", &hybrid_host()).is_none());
        assert!(on("memory.limit_in_bytes", "1", &v2_host()).is_none());
        let (file, conv) = cgx_read("memory.high", &hybrid_host()).unwrap();
        assert_eq!((file, conv(V1_NO_LIMIT).as_str(), conv("0").as_str()), ("memory.soft_limit_in_bytes", "max", "0"));
        let (file, conv) = cgx_read("memory.soft_limit_in_bytes", &v2_host()).unwrap();
        assert_eq!((file, conv("max").as_str(), conv("4096").as_str()), ("memory.high", V1_NO_LIMIT, "4096"));
        assert!(cgx_read("memory.max", &v2_host()).is_none());
    }

    #[test]
    fn cgcreate_scopes_are_slice_slash_scope_not_named_after_a_controller() {
        assert_eq!(
            scope_units("libcgroup.slice/078cgcreate.scope").unwrap(),
            ("libcgroup.slice".to_string(), "078cgcreate.scope".to_string())
        );
        assert_eq!(scope_units("/a.slice/b.scope/").unwrap().1, "b.scope");
        assert!(scope_units("x.scope").unwrap_err().contains("does not contain a slash"));
        assert!(scope_units("a.slice/b.scope/c").unwrap_err().contains("more than one slash"));
        assert_eq!(scope_units("a.slice/cpu.scope").unwrap_err(), "Invalid scope name, using controller name cpu");
        assert!(scope_units("a.slice/bpf-firewall.scope").is_err());
        assert!(scope_units("a.slice/cpux.scope").is_ok());
    }

    #[test]
    fn a_default_scope_places_relative_paths_under_it() {
        let d = GroupPath::parse("x.slice/y.scope").unwrap();
        assert_eq!(under_default("child", Some(&d)), "x.slice/y.scope/child");
        assert_eq!(under_default("/", Some(&d)), "x.slice/y.scope/");
        assert_eq!(under_default("/other", Some(&d)), "/other");
        assert_eq!(under_default("child", None), "child");
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
