//! cgset and cgxset: values written (v1 names translated on cgroup2 and the other way
//! round, rein::compat::raw), one plan for every group named so that a refusal changes
//! nothing; `-R` and `--copy-from`.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Context;
use rein::backend::{SUBTREE_CONTROL, THREADS};
use rein::compat::libcgroup;
use rein::compat::raw;
use rein::lifecycle::{self, Change};
use rein::plan::Plan;
use rein::procfs::ProcTable;
use rein::{Group, GroupPath, Spec};

use super::options::{COPY_FROM, Item, Tool, VERSION_FLAGS, flag, getopt, help, operand_text, takes};
use super::specs::{default_scope, hierarchy};
use super::status::usage;
use crate::cmd::host::{current_reader, host};

pub(super) const CGSET: Tool = Tool {
    name: "cgset",
    usage: &[
        "cgset [-R] [-r <name=value>] <cgroup_path> ...",
        "cgset --copy-from <source_cgroup_path> <cgroup_path> ...",
    ],
    about: "Set the parameters of given cgroup(s) (rein's libcgroup compatibility: v1 names work on v2 and v2 names on v1)",
    opts: &[
        takes('r', &["variable", "rule"], "<name=value>", "Define parameter to set"),
        flag('R', &["recursive"], "Set it in the group and every group below it"),
        flag('b', &[], "Ignore the default systemd delegated hierarchy (a scope 'cgcreate -c -S' made the default)"),
        takes(COPY_FROM, &["copy-from"], "<source_cgroup_path>", "Control group whose parameters will be copied"),
        flag('h', &["help"], "Display this help"),
    ],
    operands: &[("cgroup_path...", "The groups to set")],
    stop_at_operand: false,
    base: None,
};

/// cgxset: cgset's options, with the version the names are in.
pub(super) const CGXSET: Tool = Tool {
    name: "cgxset",
    usage: &[
        "cgxset [-12iR] [-r <name=value>] <cgroup_path> ...",
        "cgxset --copy-from <source_cgroup_path> <cgroup_path> ...",
    ],
    about: "Set the parameters of given cgroup(s), the names in a given cgroup version (rein's libcgroup compatibility)",
    opts: VERSION_FLAGS,
    operands: &[],
    stop_at_operand: false,
    base: Some(&CGSET),
};

/// Files of the cgroup2 core that cgset writes as they are, like libcgroup (not limits:
/// a thread to move, controllers to enable for the children); the kernel's refusal is
/// reported with its reason.
const PASS_THROUGH: [&str; 2] = [THREADS, ROOT_FILE];

/// The one file cgset writes in the cgroup root: which controllers its children get.
const ROOT_FILE: &str = SUBTREE_CONTROL;

pub(super) fn cgset(args: &[OsString]) -> anyhow::Result<ExitCode> {
    cgset_as(args, false)
}

/// cgset, or cgxset (`cgx`: libcgroup's pairing of names where it differs from rein's,
/// rein::compat::libcgroup::cgx_setting).
pub(super) fn cgset_as(args: &[OsString], cgx: bool) -> anyhow::Result<ExitCode> {
    if args.is_empty() {
        return Err(usage("Usage is cgset -r <name=value> <relative path to cgroup>"));
    }
    let mut settings = Vec::new();
    let mut copy_from = None;
    let mut groups = Vec::new();
    let mut recursive = false;
    let items = getopt(args, CGSET.opts, false)?;
    let default = default_scope(&items);
    for item in items {
        match item {
            Item::Opt('h', _) => return help(&CGSET),
            Item::Opt('R', _) => recursive = true,
            // libcgroup 3: paths start at the root, not at the default scope (default_scope).
            Item::Opt('b', _) => {}
            Item::Opt('r', Some(v)) if v.split_once('=').is_none_or(|(n, val)| n.is_empty() || val.is_empty()) => {
                return Err(usage(format!("wrong parameter of option -r: {v}")));
            }
            Item::Opt('r', Some(v)) => settings.push(raw::parse_setting(&v)?),
            Item::Opt(COPY_FROM, Some(v)) => {
                copy_from = Some(libcgroup::resolve_group(&libcgroup::under_default(&v, default.as_ref()))?)
            }
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => groups.push(operand_text(&a)?),
        }
    }
    if settings.is_empty() && copy_from.is_none() {
        return Err(usage("no name-value pair was set"));
    }
    if !settings.is_empty() && copy_from.is_some() {
        return Err(usage("-r and --copy-from exclude each other"));
    }
    if groups.is_empty() {
        return Err(usage("no cgroup specified"));
    }
    let h = hierarchy()?;
    // libcgroup's paths: '.' and '..' resolved on the text, inside the hierarchy. The
    // root ('/', '090cgxset/../' in libcgroup's tests) takes one file only, the cgroup2
    // controllers its children may use, never -R: rein changes no limit of the root.
    let root_ok =
        h.unified().is_some() && !recursive && !settings.is_empty() && settings.iter().all(|(n, _)| n == ROOT_FILE);
    let mut root = false;
    let groups = {
        let mut paths = Vec::new();
        for g in &groups {
            match GroupPath::parse_resolving(&libcgroup::under_default(g, default.as_ref()))? {
                p if p.is_root() && root_ok => root = true,
                p if p.is_root() => {
                    return Err(anyhow::Error::new(libcgroup::resolve_group(g).expect_err("the root is refused"))
                        .context(format!("cgset writes only {ROOT_FILE} in the cgroup root (cgroup2, without -R)")));
                }
                p => paths.push(p),
            }
        }
        paths
    };
    let settings: Vec<(String, String)> = match cgx {
        true => settings
            .into_iter()
            .map(|(n, v)| libcgroup::cgx_setting(&n, &v, &host(&h)).map(|(n, v)| (n.to_string(), v)).unwrap_or((n, v)))
            .collect(),
        false => settings,
    };
    let (pass, settings): (Vec<_>, Vec<_>) = match h.unified() {
        Some(_) => settings.into_iter().partition(|(n, _)| PASS_THROUGH.contains(&n.as_str())),
        None => (Vec::new(), settings),
    };
    let copied = match &copy_from {
        Some(src) => {
            let g = Group::open(h.clone(), src)?;
            let mut r = rein::inspect::inspect(&g, &ProcTable::default())?.limits;
            // The limits, not the state: a frozen source does not freeze the copies.
            r.freeze = None;
            Some(r)
        }
        None => None,
    };
    // -R: each group and every group below it, parents first.
    let mut targets: Vec<(GroupPath, bool)> = Vec::new();
    for path in &groups {
        let group = Group::open(h.clone(), path)?;
        let mut stack = vec![(path.clone(), group)];
        while let Some((p, g)) = stack.pop() {
            let children = if recursive { g.children()? } else { Vec::new() };
            targets.push((p.clone(), !children.is_empty()));
            for c in children.iter().rev() {
                let cp = p.join(c)?;
                stack.push((cp.clone(), Group::open(h.clone(), &cp)?));
            }
        }
    }
    // Every group's change lock (rein::lock), all at once in the lock order (by path), so
    // that two cgsets naming the same groups in another order cannot wait for each other;
    // then one plan for every group: a refusal anywhere changes nothing anywhere.
    let opened = targets.iter().map(|(p, _)| Group::open(h.clone(), p)).collect::<rein::Result<Vec<Group>>>()?;
    let locks = rein::group::lock_groups(&opened, rein::lock::LOCK_TIMEOUT)?;
    if !settings.is_empty() || copied.is_some() {
        let mut plan = Plan::new();
        for (path, group) in targets.iter().map(|(p, _)| p).zip(&opened) {
            let change = match &copied {
                Some(r) => Change { spec: Spec { resources: r.clone(), ..Spec::default() }, raw: Vec::new() },
                None => {
                    let t =
                        raw::translate_values(&settings, &host(&h), &current_reader(&h, path), raw::Values::AsKernel)?;
                    Change { spec: Spec { resources: t.resources, ..Spec::default() }, raw: t.raw }
                }
            };
            plan.extend(lifecycle::plan_set(group, &change)?);
        }
        plan.execute(&h)?;
    }
    if let Some(src) = &copy_from {
        let src = Group::open(h.clone(), src)?;
        for (path, _) in &targets {
            lifecycle::copy_unmodelled(&src, path).map_err(|f| match f.refused {
                Some((file, value)) => anyhow::Error::new(f.error)
                    .context(format!("cannot copy {file}={value} to group '{}'", path.as_str())),
                None => f.error.into(),
            })?;
        }
    }
    if h.unified().is_some() {
        // The root first (only its cgroup.subtree_control is given then, see root_ok).
        for (name, value) in if root { &pass[..] } else { &[] } {
            lifecycle::control_children(&h, &[GroupPath::root()], value)
                .map_err(|(_, e)| e)
                .with_context(|| format!("cannot set {name}={value} in the cgroup root"))?;
        }
        let refused = |name: &str, value: &str, path: &GroupPath| {
            format!("cannot set {name}={value} in group '{}'", path.as_str())
        };
        for (name, value) in &pass {
            if name == ROOT_FILE {
                // As libcgroup: -R leaves the controllers of groups without children alone.
                let parents: Vec<GroupPath> = targets
                    .iter()
                    .filter(|(path, has_children)| !recursive || *has_children || groups.contains(path))
                    .map(|(path, _)| path.clone())
                    .collect();
                lifecycle::control_children(&h, &parents, value)
                    .map_err(|(path, e)| anyhow::Error::new(e).context(refused(name, value, &path)))?;
            } else {
                for (path, _) in &targets {
                    lifecycle::move_thread(&h, path, value).with_context(|| refused(name, value, path))?;
                }
            }
        }
    }
    drop(locks);
    Ok(ExitCode::SUCCESS)
}
