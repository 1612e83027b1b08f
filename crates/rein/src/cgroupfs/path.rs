//! Validated group paths.
//!
//! A [`GroupPath`] is relative to a hierarchy's root, made of components that can only
//! name a directory beneath it: no `..`, no `/` inside a component, no control
//! characters, no names that the kernel uses for interface files.

use std::fmt;

use crate::error::{Error, Result};

/// Longest component the kernel allows (NAME_MAX).
const MAX_COMPONENT: usize = 255;
/// Longest group path rein accepts, well under PATH_MAX once the mount point is prefixed.
pub const MAX_PATH: usize = 1024;

/// The prefixes of interface file names, as the kernel builds them (kernel/cgroup/cgroup.c,
/// `cgroup_file_name`): a controller's files are `<name>.<file>` with the controller's
/// name on cgroup2 and its legacy name on v1 (`blkio` for `io`); the core's files are
/// `cgroup.*`, plus `cpu.stat` and the PSI files `cpu`, `memory`, `io` and (Linux 6.2,
/// with IRQ time accounting) `irq.pressure`. The controllers are those of
/// include/linux/cgroup_subsys.h up to Linux 6.18, `dmem` (6.14) and `debug` included.
///
/// The kernel itself refuses only a name with a newline (`cgroup_mkdir`) and one that
/// is taken in the directory (EEXIST from kernfs). A group named like a file that does
/// not exist yet is accepted, but then breaks the directory: enabling the controller
/// in the parent's parent later must create that file in the parent, and fails with
/// EEXIST (`cgroup_add_file`), for every group under that parent. So rein refuses the
/// whole namespace a controller's files may take, not only the names that exist today.
/// A bare prefix (`irq`, `dmem`, `memory`) names no file and is accepted.
const INTERFACE_PREFIXES: [&str; 19] = [
    "cgroup",
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "io",
    "irq",
    "blkio",
    "pids",
    "freezer",
    "devices",
    "hugetlb",
    "rdma",
    "misc",
    "dmem",
    "debug",
    "net_cls",
    "net_prio",
    "perf_event",
];

/// A group's path relative to a hierarchy's root (`rein/run-42`, or empty for the root).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GroupPath(String);

fn invalid(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidName { name: crate::error::escape(name), reason: reason.into() }
}

/// Checks one path component.
pub(crate) fn check_component(component: &str, whole: &str) -> Result<()> {
    if component.is_empty() {
        return Err(invalid(whole, "empty path component"));
    }
    if component == "." || component == ".." {
        return Err(invalid(whole, "'.' and '..' are not allowed: a group path cannot leave its parent"));
    }
    if component.len() > MAX_COMPONENT {
        return Err(invalid(whole, format!("a path component is longer than {MAX_COMPONENT} bytes")));
    }
    if component.starts_with('.') {
        return Err(invalid(whole, "a component must not start with '.'"));
    }
    if let Some(bad) = component.chars().find(|c| !(c.is_ascii_alphanumeric() || "-_.@:+=,".contains(*c))) {
        let what = if bad.is_control() { "control characters".to_string() } else { format!("'{bad}'") };
        return Err(invalid(whole, format!("{what} not allowed; use ASCII letters, digits and - _ . @ : + = ,")));
    }
    // The v1 interface files without a dot in their name (in every v1 group directory,
    // or the root's): a group named like them could never be created there.
    if matches!(component, "tasks" | "release_agent" | "notify_on_release") {
        return Err(invalid(whole, format!("'{component}' is the name of a v1 interface file")));
    }
    if let Some((prefix, _)) = component.split_once('.') {
        if INTERFACE_PREFIXES.contains(&prefix) {
            return Err(invalid(
                whole,
                format!("'{component}' looks like an interface file name ({prefix}.*); pick another name"),
            ));
        }
    }
    Ok(())
}

impl GroupPath {
    /// The hierarchy's root.
    pub fn root() -> GroupPath {
        GroupPath(String::new())
    }

    /// Parses a group path. A leading `/` is accepted (libcgroup style) and means the
    /// same as none: paths are always relative to the hierarchy root.
    pub fn parse(s: &str) -> Result<GroupPath> {
        if s.contains('\0') {
            return Err(invalid(s, "NUL bytes are not allowed"));
        }
        if s.len() > MAX_PATH {
            return Err(invalid(s, format!("longer than {MAX_PATH} bytes")));
        }
        if s.starts_with("/sys/") || s.starts_with("/proc/") {
            return Err(invalid(
                s,
                "give the group path relative to the cgroup root (e.g. 'rein/web'), not a filesystem path",
            ));
        }
        let trimmed = s.trim_start_matches('/');
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Err(invalid(s, "empty name (the cgroup root itself cannot be used here)"));
        }
        for component in trimmed.split('/') {
            check_component(component, s)?;
        }
        Ok(GroupPath(trimmed.to_string()))
    }

    /// Parses a group path as libcgroup's tools take it (rein answers to their names):
    /// like [`GroupPath::parse`], except that `.` and `..` components are resolved
    /// lexically, on the text alone, and the result may be the root (`/`, `a/..`).
    /// Nothing on disk is looked at, so no symlink is followed, and a `..` that would
    /// climb above the hierarchy's root is refused: the result is always the root or a
    /// path beneath it whose every component passes [`GroupPath::parse`]'s rules.
    pub fn parse_resolving(s: &str) -> Result<GroupPath> {
        if s.contains('\0') || s.len() > MAX_PATH || s.starts_with("/sys/") || s.starts_with("/proc/") {
            return GroupPath::parse(s);
        }
        let trimmed = s.trim_start_matches('/');
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let mut kept: Vec<&str> = Vec::new();
        for component in trimmed.split('/').filter(|_| !trimmed.is_empty()) {
            match component {
                "." => {}
                ".." => {
                    if kept.pop().is_none() {
                        return Err(invalid(
                            s,
                            "'..' leads above the cgroup root: a group path cannot leave the hierarchy",
                        ));
                    }
                }
                c => {
                    check_component(c, s)?;
                    kept.push(c);
                }
            }
        }
        Ok(GroupPath(kept.join("/")))
    }

    /// `self/name`, validating `name` as one or more components.
    pub fn join(&self, name: &str) -> Result<GroupPath> {
        let child = GroupPath::parse(name)?;
        if self.0.is_empty() {
            return Ok(child);
        }
        let joined = format!("{}/{}", self.0, child.0);
        if joined.len() > MAX_PATH {
            return Err(invalid(&joined, format!("longer than {MAX_PATH} bytes")));
        }
        Ok(GroupPath(joined))
    }

    /// True for the hierarchy root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The parent, or None for the root.
    pub fn parent(&self) -> Option<GroupPath> {
        if self.0.is_empty() {
            return None;
        }
        Some(match self.0.rsplit_once('/') {
            Some((parent, _)) => GroupPath(parent.to_string()),
            None => GroupPath::root(),
        })
    }

    /// The last component (empty for the root).
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// The path as `a/b/c` (empty for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The root, then every ancestor down to and including `self`.
    pub fn lineage(&self) -> Vec<GroupPath> {
        let mut out = vec![GroupPath::root()];
        let mut acc = String::new();
        for c in self.0.split('/').filter(|c| !c.is_empty()) {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(c);
            out.push(GroupPath(acc.clone()));
        }
        out
    }

    /// True if `self` is `other` or lies beneath it.
    pub fn starts_with(&self, other: &GroupPath) -> bool {
        other.0.is_empty() || self.0 == other.0 || self.0.starts_with(&format!("{}/", other.0))
    }
}

/// Shows the path with a leading `/`, as /proc/PID/cgroup does.
impl fmt::Display for GroupPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_and_nested_names() {
        assert_eq!(GroupPath::parse("web").unwrap().as_str(), "web");
        assert_eq!(GroupPath::parse("/tenants/a/").unwrap().as_str(), "tenants/a");
        assert_eq!(GroupPath::parse("user.slice").unwrap().as_str(), "user.slice");
        assert_eq!(GroupPath::parse("run-1@x:y").unwrap().to_string(), "/run-1@x:y");
        // A bare controller name is no file name; nor is a longer word before the dot.
        for ok in ["irq", "dmem", "memory", "io", "debug", "irqbalance.service", "iosched.slice", "cpus"] {
            assert_eq!(GroupPath::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn libcgroup_paths_resolve_dots_on_the_text_and_never_above_the_root() {
        let ok = |s: &str| GroupPath::parse_resolving(s).unwrap().as_str().to_string();
        assert_eq!(ok("090cgxset/../"), "");
        assert_eq!(ok("/"), "");
        assert_eq!(ok("a/./b/../c/"), "a/c");
        assert_eq!(ok("./g"), "g");
        assert_eq!(ok("/a/b/.."), "a");
        for (bad, why) in [
            ("..", "above the cgroup root"),
            ("../etc", "above the cgroup root"),
            ("a/../../b", "above the cgroup root"),
            ("a/../..", "above the cgroup root"),
            ("a//b", "empty path component"),
            ("a/../cgroup.procs", "interface file"),
            ("a/../.hidden", "must not start with '.'"),
            ("/sys/fs/cgroup/a", "not a filesystem path"),
            ("a\0b", "NUL"),
        ] {
            let e = GroupPath::parse_resolving(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn refuses_hostile_names() {
        let long = "a".repeat(4096);
        let long_component = "b".repeat(256);
        let cases = [
            "",
            "/",
            "..",
            "a/../b",
            "./a",
            "a//b",
            "a/./b",
            "a\0b",
            "a\nb",
            "tab\there",
            "cgroup.procs",
            "memory.max",
            "x/cpu.weight",
            "irq.pressure",
            "dmem.max",
            "dmem.capacity",
            "debug.cgroup_css_links",
            "blkio.throttle.io_serviced",
            "misc.max",
            "tasks",
            "notify_on_release",
            "release_agent",
            "/sys/fs/cgroup/x",
            "ünïcode",
            "a b",
            "a\\b",
            ".hidden",
            "$(id)",
            "a;b",
            &long,
            &long_component,
        ];
        for name in cases {
            let err = GroupPath::parse(name).expect_err(name);
            assert!(matches!(err, Error::InvalidName { .. }), "{name}: {err}");
            assert!(!err.to_string().contains('\n'), "message must stay on one line: {err:?}");
        }
    }

    #[test]
    fn lineage_and_parents() {
        let p = GroupPath::parse("a/b/c").unwrap();
        let l: Vec<_> = p.lineage().iter().map(|p| p.as_str().to_string()).collect();
        assert_eq!(l, ["", "a", "a/b", "a/b/c"]);
        assert_eq!(p.parent().unwrap().as_str(), "a/b");
        assert_eq!(p.name(), "c");
        assert!(GroupPath::parse("a").unwrap().parent().unwrap().is_root());
        assert!(p.starts_with(&GroupPath::parse("a/b").unwrap()));
        assert!(!GroupPath::parse("ab").unwrap().starts_with(&GroupPath::parse("a").unwrap()));
        assert_eq!(GroupPath::parse("a").unwrap().join("b/c").unwrap().as_str(), "a/b/c");
        assert!(GroupPath::parse("a").unwrap().join("..").is_err());
    }
}
