//! cgget and cgxget: values read back in libcgroup's output format, by name (`-r`) or
//! every file of the controllers named (`-g`, `-a`).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::{Context, bail};
use rein::compat::libcgroup::{self, Controllers, GroupSpec};
use rein::compat::raw::{self, Home};
use rein::lifecycle;
use rein::{Controller, Error, Group, GroupPath, Hierarchy};

use super::options::{Item, Tool, VERSION_FLAGS, flag, getopt, help, operand_text, takes, without_version_flags};
use super::specs::{default_scope, hierarchy, tool_spec};
use super::status::{EXIT_NO_GROUP, Verbatim, usage};
use crate::cmd::host::host;

pub(super) const CGGET: Tool = Tool {
    name: "cgget",
    usage: &[
        "cgget [-nv] [-r <name>] [-g <controllers>] [-a] <path> ...",
        "cgget [-nv] [-r <name>] -g <controllers>:<path> ...",
    ],
    about: "Print parameter(s) of given group(s) (rein's libcgroup compatibility: v1 names are read from v2 files and the other way round)",
    opts: &[
        takes('r', &["variable"], "<name>", "Define parameter to display"),
        flag('h', &["help"], "Display this help"),
        flag('a', &["all"], "Print info about all relevant controllers"),
        flag('v', &["values-only"], "Print only values, not parameter names"),
        flag('n', &[], "Do not print headers"),
        takes(
            'g',
            &[],
            "<controllers[:path]>",
            "Controllers whose info should be displayed (with :path, of that group)",
        ),
        flag('b', &[], "Ignore the default systemd delegated hierarchy (a scope 'cgcreate -c -S' made the default)"),
    ],
    operands: &[("path...", "The groups to print")],
    stop_at_operand: false,
    base: None,
};

/// cgxget: cgget's options, with the version the names are in.
pub(super) const CGXGET: Tool = Tool {
    name: "cgxget",
    usage: &[
        "cgxget [-12inv] [-r <name>] [-g <controllers>] [-a] <path> ...",
        "cgxget [-12inv] [-r <name>] -g <controllers>:<path> ...",
    ],
    about: "Print parameter(s) of given group(s), the names in a given cgroup version (rein's libcgroup compatibility)",
    opts: VERSION_FLAGS,
    operands: &[],
    stop_at_operand: false,
    base: Some(&CGGET),
};

/// What cgget prints for a group.
enum Want {
    Names(Vec<String>),
    Controllers(Controllers),
}

pub(super) fn cgget(args: &[OsString]) -> anyhow::Result<ExitCode> {
    cgget_as(args, None)
}

/// The names libcgroup's conversion table marks unmappable: each version has the file,
/// with contents the other cannot be computed from (src/abstraction-map.c).
const UNMAPPABLE: [&str; 10] = [
    "cpu.stat",
    "cpuset.mem_exclusive",
    "cpuset.mem_hardwall",
    "cpuset.memory_migrate",
    "cpuset.memory_pressure",
    "cpuset.mem_pressure_enabled",
    "cpuset.memory_spread_page",
    "cpuset.memory_spread_slab",
    "cpuset.sched_load_balance",
    "cpuset.sched_relax_domain_level",
];

/// cgxget: cgget with `-1`/`-2` (the version the names are in) and `-i` (leave out names
/// without an equivalent in the running version).
pub(super) fn cgxget(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let has = |f: char, long: &str| {
        args.iter().any(|a| {
            a.to_str().is_some_and(|s| {
                s == long
                    || (s.starts_with('-')
                        && !s.starts_with("--")
                        && s[1..].chars().all(|c| matches!(c, '1' | '2' | 'i'))
                        && s.contains(f))
            })
        })
    };
    let version = match (has('1', "--v1"), has('2', "--v2")) {
        (true, false) => Some(1),
        (false, true) => Some(2),
        _ => None,
    };
    cgget_as(&without_version_flags(args), version.map(|v| (v, has('i', "--ignore-unmappable"))))
}

/// cgget, or cgxget with (the version the names are in, whether to leave out the ones
/// that have no equivalent in the running version).
fn cgget_as(args: &[OsString], cgx: Option<(u8, bool)>) -> anyhow::Result<ExitCode> {
    if args.is_empty() {
        return Err(usage(""));
    }
    let (mut headers, mut names) = (true, true);
    let mut vars = Vec::new();
    let mut ctrl_lists: Vec<String> = Vec::new();
    let mut with_path: Vec<(String, GroupSpec)> = Vec::new();
    let mut all = false;
    let mut operands = Vec::new();
    let items = getopt(args, CGGET.opts, false)?;
    let default = default_scope(&items);
    for item in items {
        match item {
            Item::Opt('h', _) => return help(&CGGET),
            Item::Opt('n', _) => headers = false,
            // -b: no default scope (default_scope).
            Item::Opt('b', _) => {}
            Item::Opt('v', _) => names = false,
            Item::Opt('r', Some(v)) => {
                raw::home_of(&v).map_err(|_| Error::invalid("parameter name", &v, "expected CONTROLLER.FILE"))?;
                vars.push(v)
            }
            Item::Opt('a', _) => all = true,
            Item::Opt('g', Some(v)) if v.contains(':') => {
                let shown = v.split_once(':').map(|(_, p)| p.to_string()).unwrap_or_default();
                with_path.push((shown, tool_spec(&v, default.as_ref())?));
            }
            Item::Opt('g', Some(v)) => ctrl_lists.push(v),
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => operands.push(operand_text(&a)?),
        }
    }
    if !vars.is_empty() && (all || !ctrl_lists.is_empty() || !with_path.is_empty()) {
        return Err(usage("-r excludes -g and -a"));
    }
    if !with_path.is_empty() && !operands.is_empty() {
        return Err(usage("give groups either with -g <controllers>:<path> or as operands"));
    }
    // An unknown controller name: libcgroup's words and status.
    let named = with_path.iter().flat_map(|(_, s)| match &s.controllers {
        Controllers::Named(n) => n.clone(),
        Controllers::All => Vec::new(),
    });
    for n in named.chain(ctrl_lists.iter().flat_map(|l| l.split(',')).map(String::from)) {
        if !n.is_empty() && Controller::from_name(&n).is_none() {
            return Err(anyhow::Error::new(Verbatim(format!("cannot find controller '{n}'"), EXIT_NO_GROUP)));
        }
    }
    let mut jobs: Vec<(String, GroupPath, Want)> = Vec::new();
    for (shown, spec) in with_path {
        jobs.push((shown, spec.path, Want::Controllers(spec.controllers)));
    }
    if jobs.is_empty() {
        if operands.is_empty() {
            return Err(usage("no group given"));
        }
        for o in operands {
            let path = libcgroup::resolve_group(&libcgroup::under_default(&o, default.as_ref()))?;
            let want = if !vars.is_empty() {
                Want::Names(vars.clone())
            } else if !ctrl_lists.is_empty() && !all {
                Want::Controllers(Controllers::Named(
                    ctrl_lists.iter().flat_map(|l| l.split(',')).map(String::from).collect(),
                ))
            } else {
                Want::Controllers(Controllers::All)
            };
            jobs.push((o, path, want));
        }
    }
    let h = hierarchy()?;
    let host = host(&h);
    // cgxget: a name in the other version's terms that no conversion reaches.
    if let Some((version, ignore)) = cgx {
        let running = |name: &str| match raw::home_of(name) {
            Ok(Home::Controller(c)) => match h.binding(c) {
                Some(rein::hierarchy::Binding::V2(_)) => Some(2),
                Some(rein::hierarchy::Binding::V1(_)) => Some(1),
                None => None,
            },
            _ => None,
        };
        let unmappable = |n: &String| UNMAPPABLE.contains(&n.as_str()) && running(n).is_some_and(|r| r != version);
        for (_, _, want) in jobs.iter_mut() {
            if let Want::Names(list) = want {
                if let Some(n) = list.iter().find(|n| unmappable(n)).filter(|_| !ignore) {
                    bail!(Error::invalid(
                        "-r",
                        n.as_str(),
                        format!("{n} of cgroup v{version} has no equivalent in this host's version; -i leaves it out")
                    ));
                }
                list.retain(|n| !unmappable(n));
            }
        }
        jobs.retain(|(_, _, w)| !matches!(w, Want::Names(l) if l.is_empty()));
    }
    let mut out = String::new();
    for (shown, path, want) in jobs {
        let group = Group::open(h.clone(), &path)?;
        let lines: Vec<(String, String)> = match want {
            Want::Names(list) => {
                let read = reader(&h, &path);
                let mut v = Vec::new();
                for n in list {
                    // cgxget: libcgroup's pairing where it differs from rein's.
                    let (file, convert) = match cgx.and_then(|_| libcgroup::cgx_read(&n, &host)) {
                        Some((file, convert)) => (file.to_string(), Some(convert)),
                        None => (n.clone(), None),
                    };
                    let value =
                        raw::read(&file, &host, &read).with_context(|| format!("cannot read {n} of {shown}"))?;
                    let value = match convert {
                        Some(c) => format!("{}\n", c(value.trim_end())),
                        None => value,
                    };
                    v.push((n, value));
                }
                v
            }
            Want::Controllers(c) => {
                let resolved = libcgroup::resolve(&c, &host)?;
                // In the order the -g flags named them (libcgroup prints them so).
                let mut order: Vec<Controller> = match &c {
                    Controllers::Named(names) => {
                        names.iter().filter_map(|n| Controller::from_name(n)).filter(|c| resolved.contains(c)).collect()
                    }
                    Controllers::All => resolved.iter().copied().collect(),
                };
                let mut seen = BTreeSet::new();
                order.retain(|c| seen.insert(*c));
                order.extend(resolved.iter().filter(|c| !seen.contains(c)));
                lifecycle::controller_files(&group, &order)?
            }
        };
        if headers {
            out.push_str(&format!("{shown}:\n"));
        }
        for (name, value) in lines {
            let value = value.strip_suffix('\n').unwrap_or(&value).replace('\n', "\n\t");
            if names {
                out.push_str(&format!("{name}: {value}\n"));
            } else {
                out.push_str(&format!("{value}\n"));
            }
        }
        if headers {
            out.push('\n');
        }
    }
    out!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Reads files of the running mode in a group, wherever they live.
fn reader<'a>(h: &'a Hierarchy, path: &'a GroupPath) -> impl Fn(Home, &str) -> Option<String> + 'a {
    move |home: Home, file: &str| lifecycle::read_file(h, path, home, file)
}
