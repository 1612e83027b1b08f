//! lscgroup and lssubsys: the groups and the hierarchies listed as libcgroup lists them.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::process::ExitCode;

use rein::compat::libcgroup::{self, Controllers};
use rein::hierarchy::Binding;
use rein::procfs::{self, ProcCgroup};
use rein::{Controller, GroupPath};

use super::options::{Item, Tool, flag, getopt, help, operand_text, takes};
use super::specs::hierarchy;
use super::status::{EXIT_NO_GROUP, Verbatim, usage};

pub(super) const LSCGROUP: Tool = Tool {
    name: "lscgroup",
    usage: &["lscgroup [[-g] <controllers>:<path>] ..."],
    about: "List all cgroups (rein's libcgroup compatibility)",
    opts: &[
        takes('g', &[], "<controllers>:<path>", "Control group to be displayed (-g is optional)"),
        flag('h', &["help"], "Display this help"),
    ],
    operands: &[("controllers:path...", "Control groups to be displayed")],
    stop_at_operand: false,
    base: None,
};

pub(super) fn lscgroup(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut specs = Vec::new();
    for item in getopt(args, LSCGROUP.opts, false)? {
        match item {
            Item::Opt('h', _) => return help(&LSCGROUP),
            Item::Opt('g', Some(v)) => specs.push(libcgroup::parse_tool_spec(&v)?),
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => specs.push(libcgroup::parse_tool_spec(&operand_text(&a)?)?),
        }
    }
    let h = hierarchy()?;
    // No group: every hierarchy from its root, listed by its controllers.
    let mut lists: Vec<(String, GroupPath)> = Vec::new();
    if specs.is_empty() {
        for m in h.v1_mounts() {
            let names: Vec<&str> = m.controllers.iter().map(|c| c.v1_name()).collect();
            lists.push((names.join(","), GroupPath::root()));
        }
        if let Some(u) = h.unified().filter(|u| !u.controllers.is_empty()) {
            let names: Vec<&str> = u
                .controllers
                .iter()
                .filter(|c| matches!(h.binding(**c), Some(Binding::V2(_))))
                .map(|c| c.v2_name())
                .collect();
            if !names.is_empty() {
                lists.push((names.join(","), GroupPath::root()));
            }
        }
    }
    for s in &specs {
        let names: Vec<String> = match &s.controllers {
            Controllers::Named(n) => n.clone(),
            Controllers::All => {
                Controller::ALL.iter().filter(|c| h.binding(**c).is_some()).map(|c| c.v1_name().to_string()).collect()
            }
        };
        for n in names {
            lists.push((n, s.path.clone()));
        }
    }
    let mut out = String::new();
    for (names, path) in &lists {
        let first = names.split(',').next().unwrap_or_default();
        // The mount a controller named as libcgroup names it (v1 or v2 name) is bound to.
        let m = Controller::from_name(first)
            .and_then(|c| h.binding(c))
            .map(Binding::mount)
            .ok_or_else(|| anyhow::Error::new(Verbatim(format!("cannot find controller '{first}'"), EXIT_NO_GROUP)))?;
        if !m.exists(path) {
            let p = path.as_str().trim_start_matches('/');
            return Err(anyhow::Error::new(Verbatim(format!("cannot find group '{p}'"), EXIT_NO_GROUP)));
        }
        let base = path.as_str().trim_matches('/');
        out.push_str(&format!("{names}:/{base}/\n"));
        // Depth first, parents before children, names sorted.
        for p in m.subtree(path)? {
            out.push_str(&format!("{names}:/{}\n", p.as_str().trim_start_matches('/')));
        }
    }
    out!("{out}");
    Ok(ExitCode::SUCCESS)
}

pub(super) const LSSUBSYS: Tool = Tool {
    name: "lssubsys",
    usage: &["lssubsys [-i] [-m] [-M] [-a] [<controller>...]"],
    about: "List hierarchies containing given subsystem (rein's libcgroup compatibility)",
    opts: &[
        flag('a', &["all"], "List all subsystems"),
        flag('i', &["hierarchies"], "Display information about hierarchies"),
        flag('m', &["mount-points"], "Display mount points"),
        flag('M', &["all-mount-points"], "Display all mount points"),
        flag('h', &["help"], "Display this help"),
    ],
    operands: &[("controller...", "The controllers to list")],
    stop_at_operand: false,
    base: None,
};

pub(super) fn lssubsys(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let (mut all, mut ids, mut mounts) = (false, false, false);
    let mut wanted: Vec<String> = Vec::new();
    for item in getopt(args, LSSUBSYS.opts, false)? {
        match item {
            Item::Opt('h', _) => return help(&LSSUBSYS),
            Item::Opt('a', _) => all = true,
            Item::Opt('i', _) => ids = true,
            Item::Opt('m' | 'M', _) => mounts = true,
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => wanted.push(operand_text(&a)?),
        }
    }
    let h = hierarchy()?;
    // The kernel's enabled controllers, in its order.
    let kernel: Vec<ProcCgroup> = procfs::read_cgroups()?.into_iter().filter(|r| r.enabled).collect();
    let id_of = |name: &str| kernel.iter().find(|r| r.name == name).map_or(0, |r| r.hierarchy);
    let mut out = String::new();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    // One line per v1 hierarchy: its controllers, as the kernel orders them.
    for m in h.v1_mounts() {
        let names: Vec<&str> = kernel
            .iter()
            .map(|r| r.name.as_str())
            .filter(|n| m.controllers.iter().any(|c| c.v1_name() == *n))
            .collect();
        if names.is_empty() || (!wanted.is_empty() && !names.iter().any(|n| wanted.iter().any(|w| w == n))) {
            continue;
        }
        listed.extend(names.iter().map(|n| n.to_string()));
        let mut line = names.join(",");
        if ids {
            line.push_str(&format!(" {}", id_of(names[0])));
        }
        if mounts {
            line.push_str(&format!(" {}", m.mount.path().display()));
        }
        out.push_str(&line);
        out.push('\n');
    }
    // -a (or a controller named): the others too, one a line; those cgroup2 offers with
    // its mount point for -m.
    for ProcCgroup { name, hierarchy: id, .. } in &kernel {
        if listed.contains(name) || !(all || wanted.iter().any(|w| w == name)) {
            continue;
        }
        let mut line = name.clone();
        if ids {
            line.push_str(&format!(" {id}"));
        }
        if mounts && let Some(Binding::V2(u)) = Controller::from_name(name).and_then(|c| h.binding(c)) {
            line.push_str(&format!(" {}", u.mount.path().display()));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out!("{out}");
    Ok(ExitCode::SUCCESS)
}
