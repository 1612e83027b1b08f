//! The groups the tools name: `-g CONTROLLERS:PATH` (and the operands of the tools that
//! take them so) read under libcgroup's default scope, merged per group, their
//! controllers checked against the host; and the hierarchy every tool works on.

use std::sync::Arc;

use rein::compat::libcgroup::{self, Controllers, GroupSpec};
use rein::{GroupPath, Hierarchy};

use super::options::Item;
use crate::cmd::host::{detect_at, host};

/// The hierarchy the tools work on: the mounted one, or the fake tree `REIN_CGROUP_ROOT`
/// names (the environment variable, as the tools take no `--cgroup-root`).
pub(super) fn hierarchy() -> anyhow::Result<Arc<Hierarchy>> {
    let root = std::env::var_os("REIN_CGROUP_ROOT").map(std::path::PathBuf::from);
    Ok(Arc::new(detect_at(root.as_deref())?))
}

/// libcgroup's default scope (`cgcreate -c -S`, [`libcgroup::SYSTEMD_DEFAULT_FILE`]),
/// under which the tools place paths that do not start with `/`: None with `-b`, without
/// the file, or once the scope is gone (as libcgroup, which checks that it exists).
pub(super) fn default_scope(items: &[Item]) -> Option<GroupPath> {
    if items.iter().any(|i| matches!(i, Item::Opt('b', _))) {
        return None;
    }
    let text = std::fs::read_to_string(libcgroup::SYSTEMD_DEFAULT_FILE).ok()?;
    // libcgroup's own floor: "<n>.slice/<n>.scope" is 15 bytes at least.
    let text = text.trim();
    if text.len() < 15 {
        return None;
    }
    let path = GroupPath::parse(text).ok()?;
    hierarchy().ok()?.unified()?.mount.exists(&path).then_some(path)
}

/// A `-g CONTROLLERS:PATH` of a tool, its path under the default scope if there is one.
pub(super) fn tool_spec(s: &str, default: Option<&GroupPath>) -> rein::Result<GroupSpec> {
    match (default, s.split_once(':')) {
        (Some(_), Some((c, p))) => libcgroup::parse_tool_spec(&format!("{c}:{}", libcgroup::under_default(p, default))),
        _ => libcgroup::parse_tool_spec(s),
    }
}

/// Groups named more than once (`-g cpu:a -g memory:a`) merge their controllers.
pub(super) fn merge_specs(specs: Vec<GroupSpec>) -> Vec<GroupSpec> {
    let mut out: Vec<GroupSpec> = Vec::new();
    for s in specs {
        match out.iter_mut().find(|o| o.path == s.path) {
            Some(o) => {
                o.controllers = match (&o.controllers, s.controllers) {
                    (Controllers::All, _) | (_, Controllers::All) => Controllers::All,
                    (Controllers::Named(a), Controllers::Named(b)) => {
                        let mut v = a.clone();
                        v.extend(b.into_iter().filter(|n| !a.contains(n)));
                        Controllers::Named(v)
                    }
                };
            }
            None => out.push(s),
        }
    }
    out
}

/// The first controller name of a spec the host cannot give a group (not a controller,
/// or no hierarchy binds it), with rein's reason.
pub(super) fn bad_controller(c: &Controllers, h: &Hierarchy) -> Option<(String, rein::Error)> {
    let Controllers::Named(names) = c else { return None };
    names
        .iter()
        .find_map(|n| libcgroup::resolve(&Controllers::Named(vec![n.clone()]), &host(h)).err().map(|e| (n.clone(), e)))
}

/// Whether the group has a directory in any hierarchy.
pub(super) fn group_exists(h: &Hierarchy, path: &GroupPath) -> bool {
    h.unified().iter().map(|u| &u.mount).chain(h.v1_mounts().iter().map(|m| &m.mount)).any(|m| m.exists(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_merge_per_group() {
        let specs =
            ["cpu:a", "memory:a", "memory:b", "*:b"].iter().map(|s| libcgroup::parse_tool_spec(s).unwrap()).collect();
        let m = merge_specs(specs);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].controllers, Controllers::Named(vec!["cpu".into(), "memory".into()]));
        assert_eq!(m[1].controllers, Controllers::All);
    }
}
