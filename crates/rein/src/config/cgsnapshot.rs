//! libcgroup's cgsnapshot: the live hierarchies read into a cgconfig.conf model
//! ([`CgConfig`]), which [`CgConfig::to_conf`] writes and `cgconfigparser` (rein's
//! [`crate::config::cgconfig`], or libcgroup's) loads back.
//!
//! The rules are libcgroup's (src/tools/cgsnapshot.c): every group below each
//! hierarchy's root, depth first in the directories' order (as its fts walk meets them);
//! per group, the files of each controller asked for, less those the hierarchy's root
//! shows read-only (statistics; files the root lacks stay), less the denylist (and, with
//! `strict`, less what the allowlist does not name); `devices.list` as `devices.deny` of
//! everything then `devices.allow` of the list; a `perm` block when the directory or its
//! task file is not root's; on cgroup2 only the controllers the group has.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::cgroupfs::{GroupPath, Mount};
use crate::compat::cgconfig::{CgConfig, ControllerBlock, GroupBlock, MountEntry, Perm, Setting};
use crate::config::cgconfig::Ids;
use crate::error::Result;
use crate::hierarchy::{Binding, Controller, Hierarchy};
use crate::procfs;

/// Which variables (interface files) a snapshot writes.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    /// Never written (cgsnapshot's `-b` file, by default /etc/cgsnapshot_denylist.conf).
    pub deny: BTreeSet<String>,
    /// Named as expected (`-w`): not reported in [`Snapshot::unlisted`].
    pub allow: BTreeSet<String>,
    /// Write only the variables `allow` names (`-t`).
    pub strict: bool,
}

/// What [`snapshot`] read.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The `mount` block and a group block per group and hierarchy.
    pub conf: CgConfig,
    /// The variables written for the first group of each hierarchy that neither list
    /// names, in order: what cgsnapshot warns about ("variable X is neither deny nor
    /// allow list") unless `-s`.
    pub unlisted: Vec<String>,
}

/// The `perm` cgsnapshot writes when the group's directory or its task file is not
/// root's (none otherwise), owners by name where `ids` names them.
fn perm_of(dir: &Path, tasks: &Path, ids: &Ids) -> Perm {
    let (Ok(a), Ok(t)) = (std::fs::metadata(dir), std::fs::metadata(tasks)) else { return Perm::default() };
    if a.uid() == 0 && a.gid() == 0 && t.uid() == 0 && t.gid() == 0 {
        return Perm::default();
    }
    Perm {
        admin_uid: Some(ids.user_name(a.uid())),
        admin_gid: Some(ids.group_name(a.gid())),
        task_uid: Some(ids.user_name(t.uid())),
        task_gid: Some(ids.group_name(t.gid())),
        ..Perm::default()
    }
}

/// The host's hierarchies as cgsnapshot reads them: the `mount` block lists each enabled
/// controller of a v1 hierarchy in /proc/cgroups's order (cgroup2's are hierarchy 0
/// there, which libcgroup leaves out); then each v1 mount, then cgroup2 with the
/// controllers bound there, every group below the root. `wanted` (controller names as
/// libcgroup lists them, v1 names on v1) limits both; empty: all. Owners are named
/// through `ids` ([`Ids::system`] on the host).
pub fn snapshot(h: &Hierarchy, wanted: &[String], vars: &Variables, ids: &Ids) -> Result<Snapshot> {
    let mut out = Snapshot::default();
    for name in procfs::read_cgroups()?.into_iter().filter(|r| r.enabled).map(|r| r.name) {
        let Some(c) = Controller::ALL.into_iter().find(|c| c.v1_name() == name) else { continue };
        if !wanted.is_empty() && !wanted.contains(&name) {
            continue;
        }
        if let Some(Binding::V1(m)) = h.binding(c) {
            let path = m.mount.path().display().to_string();
            out.conf.mounts.push(MountEntry { controller: name, path, line: 0 });
        }
    }
    // Each hierarchy: its mount, its controllers with the names written, whether cgroup2.
    let mut hierarchies: Vec<(&Mount, Vec<&'static str>, bool)> = Vec::new();
    for m in h.v1_mounts() {
        hierarchies.push((&m.mount, m.controllers.iter().map(|c| c.v1_name()).collect(), false));
    }
    if let Some(u) = h.unified() {
        let on_v2 = u
            .controllers
            .iter()
            .filter(|c| matches!(h.binding(**c), Some(Binding::V2(_))))
            .map(|c| c.v2_name())
            .collect();
        hierarchies.push((&u.mount, on_v2, true));
    }
    let root = GroupPath::root();
    for (m, mut controllers, v2) in hierarchies {
        if !wanted.is_empty() {
            controllers.retain(|n| wanted.iter().any(|w| w == n));
        }
        if controllers.is_empty() {
            continue;
        }
        let mut first = true;
        // Depth first, in the directories' order, as libcgroup's fts walk meets them.
        let mut stack: Vec<GroupPath> =
            m.children_in_dir_order(&root)?.iter().rev().map(|c| root.join(c)).collect::<Result<_>>()?;
        while let Some(g) = stack.pop() {
            let kids = m.children_in_dir_order(&g).unwrap_or_default();
            for c in kids.iter().rev() {
                stack.push(g.join(c)?);
            }
            // On cgroup2 a controller is the group's when its parent enables it.
            let enabled: Vec<String> = if v2 {
                m.read(&g, "cgroup.controllers").unwrap_or_default().split_whitespace().map(str::to_string).collect()
            } else {
                Vec::new()
            };
            let shown: Vec<&str> =
                controllers.iter().copied().filter(|n| !v2 || enabled.iter().any(|e| e == n)).collect();
            if shown.is_empty() {
                continue;
            }
            let files = m.files(&g).unwrap_or_default();
            let tasks = m.file_path(&g, if v2 { "cgroup.procs" } else { "tasks" });
            let name = g.as_str().trim_start_matches('/').to_string();
            let perm = perm_of(&m.dir_path(&g), &tasks, ids);
            let mut group = GroupBlock { name, perm, ..GroupBlock::default() };
            for cname in shown {
                let mut block = ControllerBlock { name: cname.to_string(), ..ControllerBlock::default() };
                let prefix = format!("{cname}.");
                for f in files.iter().filter(|f| f.starts_with(&prefix)) {
                    // Read-only in the root: a statistic, not a setting (libcgroup's rule,
                    // which keeps the files the root lacks).
                    if let Ok(md) = std::fs::metadata(m.file_path(&root, f)) {
                        if md.permissions().mode() & 0o200 == 0 && f != "devices.list" {
                            continue;
                        }
                    }
                    if vars.deny.contains(f) || f == "devices.deny" || f == "devices.allow" {
                        continue;
                    }
                    let allowed = vars.allow.contains(f);
                    if !allowed && vars.strict {
                        continue;
                    }
                    if !allowed && first {
                        out.unlisted.push(f.clone());
                    }
                    // Files the kernel gives no value to read (EINVAL) are written empty.
                    let value = match m.read(&g, f) {
                        Ok(v) => v.strip_suffix('\n').map(str::to_string).unwrap_or(v),
                        Err(e) if e.errno() == Some(libc::EINVAL) => String::new(),
                        Err(_) => continue,
                    };
                    let mut set =
                        |name: &str, value: String| block.settings.push(Setting { name: name.into(), value, line: 0 });
                    if f == "devices.list" {
                        set("devices.deny", "a *:* rwm".into());
                        set("devices.allow", value);
                    } else {
                        set(f, value);
                    }
                }
                group.controllers.push(block);
            }
            out.conf.groups.push(group);
            first = false;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::cgconfig::parse;
    use crate::testing::{FakeTree, Layout};

    fn settings(c: &CgConfig, group: &str, controller: &str) -> Vec<(String, String)> {
        // A group block per group and hierarchy: the one with this controller.
        let b = c
            .groups
            .iter()
            .filter(|g| g.name == group)
            .find_map(|g| g.controllers.iter().find(|b| b.name == controller))
            .unwrap();
        b.settings.iter().map(|s| (s.name.clone(), s.value.clone())).collect()
    }

    #[test]
    fn groups_depth_first_with_the_rules_and_read_back_by_the_parser() {
        let tree = FakeTree::new(Layout::V1);
        tree.group("a/b");
        tree.group("c");
        let h = tree.hierarchy();
        // freezer.state is read-only in the root: a statistic, left out; pids.current
        // denied; pids.max allowed, pids.peak and pids.events reported.
        std::fs::write(tree.path().join("freezer/freezer.state"), "THAWED\n").unwrap();
        let ro = tree.path().join("freezer/freezer.state");
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
        let vars = Variables {
            deny: ["pids.current".to_string()].into(),
            allow: ["pids.max".to_string()].into(),
            strict: false,
        };
        let wanted = ["pids".to_string(), "freezer".to_string()];
        let s = snapshot(&h, &wanted, &vars, &Ids::parse("", "")).unwrap();
        let names: Vec<(&str, &str)> = s
            .conf
            .groups
            .iter()
            .flat_map(|g| g.controllers.iter().map(move |b| (g.name.as_str(), b.name.as_str())))
            .collect();
        // v1 mounts in the tree's order (pids before freezer), groups depth first.
        let order: Vec<&str> = names.iter().filter(|(_, c)| *c == "pids").map(|(g, _)| *g).collect();
        assert_eq!(order.len(), 3);
        assert!(order.iter().position(|g| *g == "a").unwrap() + 1 == order.iter().position(|g| *g == "a/b").unwrap());
        let a = settings(&s.conf, "a", "pids");
        assert!(a.contains(&("pids.max".into(), "max".into())), "{a:?}");
        assert!(!a.iter().any(|(n, _)| n == "pids.current"), "denied: {a:?}");
        assert!(settings(&s.conf, "a", "freezer").is_empty(), "read-only in the root");
        let mut unlisted = s.unlisted.clone();
        unlisted.sort();
        assert_eq!(unlisted, ["pids.events", "pids.peak"], "the first group's, once");
        // -t: only the allowlist.
        let strict = snapshot(&h, &wanted, &Variables { strict: true, ..vars.clone() }, &Ids::parse("", "")).unwrap();
        assert_eq!(settings(&strict.conf, "c", "pids"), [("pids.max".to_string(), "max".to_string())]);
        assert!(strict.unlisted.is_empty());
        // What the writer writes, the parser reads back to the same groups and settings.
        let back = parse(&s.conf.to_conf()).unwrap();
        for g in ["a", "a/b", "c"] {
            assert_eq!(settings(&back, g, "pids"), settings(&s.conf, g, "pids"), "{g}");
        }
    }
}
