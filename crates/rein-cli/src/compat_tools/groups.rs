//! cgcreate and cgdelete: groups made with the controllers named (or, with `cgcreate -c`,
//! as libcgroup 3's systemd scopes, each held by a process) and removed.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use rein::compat::libcgroup::{self, Controllers, GroupSpec};
use rein::lifecycle::{self, Change};
use rein::mark::Mark;
use rein::plan::Place;
use rein::{Error, Group, GroupPath, Hierarchy, Spec};

use super::options::{Item, Tool, flag, getopt, help, operand_text, takes};
use super::specs::{bad_controller, default_scope, group_exists, hierarchy, merge_specs, tool_spec};
use super::status::{ECGFAIL, ECGINVAL, ECGOTHER, EXIT_BADARGS, EXIT_NO_GROUP, Verbatim, usage};
use crate::cmd::host::{host, places_for, spec_controllers};

pub(super) const CGCREATE: Tool = Tool {
    name: "cgcreate",
    usage: &[
        "cgcreate [-h] [-f mode] [-d mode] [-s mode] [-t <tuid>:<tgid>] [-a <agid>:<auid>] [-b] [-c [-S] [-p <pid>]] -g <controllers>:<path> [-g ...]",
    ],
    about: "Create control group(s) (rein's libcgroup compatibility)",
    opts: &[
        takes('a', &[], "<agid>:<auid>", "not supported: rein does not change owners or modes"),
        takes('t', &[], "<tuid>:<tgid>", "not supported: rein does not change owners or modes"),
        takes('d', &["dperm"], "<mode>", "not supported: rein does not change owners or modes"),
        takes('f', &["fperm"], "<mode>", "not supported: rein does not change owners or modes"),
        takes('s', &["tperm"], "<mode>", "not supported: rein does not change owners or modes"),
        takes('g', &[], "<controllers>:<path>", "Control group which should be added"),
        flag('h', &["help"], "Display this help"),
        flag('b', &[], "Ignore the default systemd delegated hierarchy (a scope 'cgcreate -c -S' made the default)"),
        flag('c', &["scope"], "Create a delegated systemd scope (-g <controllers>:<slice>/<scope>; systemd as PID 1)"),
        takes('p', &["pid"], "<pid>", "Task pid to use to create the systemd scope"),
        flag('S', &["setdefault"], "Set this scope as the default scope delegate hierarchy"),
    ],
    operands: &[],
    stop_at_operand: false,
    base: None,
};

pub(super) fn cgcreate(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut raw_specs = Vec::new();
    let (mut scope, mut set_default, mut scope_pid) = (false, false, None);
    let items = getopt(args, CGCREATE.opts, false)?;
    let default = default_scope(&items);
    let ignore_default = items.iter().any(|i| matches!(i, Item::Opt('b', _)));
    for item in items {
        match item {
            Item::Opt('h', _) => return help(&CGCREATE),
            Item::Opt('g', Some(v)) => raw_specs.push(v),
            Item::Opt('b', _) => {}
            Item::Opt('c', _) => scope = true,
            Item::Opt('S', _) => set_default = true,
            Item::Opt('p', Some(v)) => match v.parse::<u32>() {
                Ok(p) if p > 0 => scope_pid = Some(p),
                _ => bail!(Verbatim(format!("Invalid pid {v}"), EXIT_BADARGS)),
            },
            Item::Opt(c, _) => bail!(Error::Unsupported {
                what: format!("cgcreate -{c}"),
                mode: "rein".into(),
                reason: "rein's compatibility mode does not change owners or modes of group files; \
                         chown or chmod the group directory after creating it (or delegate a subtree)"
                    .into(),
            }),
            Item::Arg(a) => {
                return Err(usage(format!("unexpected operand '{}'; groups are given with -g", a.to_string_lossy())));
            }
        }
    }
    // libcgroup's checks of the systemd options, its words, its status (EXIT_BADARGS).
    let exclusive = [
        (ignore_default && scope, "\"-b\" and \"-c\" are mutually exclusive"),
        (set_default && !scope, "\"-S\" requires \"-c\" to be provided"),
        (scope_pid.is_some() && !scope, "\"-p\" requires \"-c\" to be provided"),
    ];
    if let Some((_, words)) = exclusive.iter().find(|(bad, _)| *bad) {
        bail!(Verbatim(words.to_string(), EXIT_BADARGS));
    }
    if raw_specs.is_empty() {
        return Err(usage("no group given: cgcreate -g <controllers>:<path>"));
    }
    if scope {
        return cgcreate_scopes(&raw_specs, set_default, scope_pid);
    }
    let specs = raw_specs.iter().map(|v| tool_spec(v, default.as_ref())).collect::<rein::Result<Vec<GroupSpec>>>()?;
    let h = hierarchy()?;
    // libcgroup's words and status for a controller it cannot add, before any group is made.
    for s in &specs {
        if let Some((name, e)) = bad_controller(&s.controllers, &h) {
            bail!(Verbatim(format!("controller {name} can't be added ({e})"), ECGINVAL));
        }
    }
    let mut created: Vec<GroupPath> = Vec::new();
    for s in merge_specs(specs) {
        let r = create_one(&h, &s).map_err(|e| {
            anyhow::Error::new(Verbatim(format!("can't create cgroup {}: {e:#}", s.path.as_str()), ECGOTHER))
        });
        match r {
            Ok(true) => created.push(s.path.clone()),
            Ok(false) => {}
            Err(e) => {
                // The groups this run created go again: nothing half-made stays.
                for p in created.iter().rev() {
                    if let Ok(g) = Group::open(h.clone(), p) {
                        let _ = g.remove();
                    }
                }
                return Err(e);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cgcreate -c`: each group a systemd scope, as libcgroup 3 makes them
/// (src/systemd.c): `-g CONTROLLERS:SLICE/SCOPE`, StartTransientUnit of SCOPE in SLICE
/// with `Delegate=yes`, holding the process `-p` names or else a placeholder process
/// ([`libcgroup::IDLE_PROCESS`]; systemd removes a scope without processes), then the
/// controllers enabled down to it as for any group. `-S` records the scope as the
/// default under which the tools place relative paths ([`libcgroup::SYSTEMD_DEFAULT_FILE`]).
/// Needs systemd as PID 1.
fn cgcreate_scopes(raw_specs: &[String], set_default: bool, pid: Option<u32>) -> anyhow::Result<ExitCode> {
    use rein_systemd::properties::{Property, Value};
    use rein_systemd::{Bus, DbusBus, Instance};
    // libcgroup's checks of the name come first, in its words (ECGINVAL).
    let mut scopes = Vec::new();
    for v in raw_specs {
        let (list, path) = v.split_once(':').unwrap_or(("", v.as_str()));
        let (slice, unit) = libcgroup::scope_units(path).map_err(|words| Verbatim(words, ECGINVAL))?;
        let spec = libcgroup::parse_tool_spec(&format!("{list}:{path}"))?;
        scopes.push((slice, unit, spec));
    }
    if !rein_systemd::systemd_booted() {
        bail!(Verbatim(
            "can't create a systemd scope: systemd is not PID 1 here (this system was not booted with systemd); \
             create the group without -c"
                .into(),
            ECGFAIL
        ));
    }
    let h = hierarchy()?;
    if h.unified().is_none() {
        bail!(Verbatim("can't create a systemd scope: this host has no cgroup2 hierarchy".into(), ECGFAIL));
    }
    let bus = DbusBus::connect(Instance::System)
        .map_err(|e| Verbatim(format!("can't create a systemd scope: {e}"), ECGFAIL))?;
    for (slice, unit, spec) in &scopes {
        // The placeholder: rein itself under libcgroup's name, asleep until killed, its
        // output closed so that whoever reads cgcreate's does not wait for it.
        let idle = match pid {
            Some(_) => None,
            None => {
                use std::os::unix::process::CommandExt;
                let me = std::env::current_exe().context("cannot find rein's own executable")?;
                let child = std::process::Command::new(me)
                    .arg0(libcgroup::IDLE_PROCESS)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .context("cannot start the scope's placeholder process")?;
                Some(child)
            }
        };
        let held = pid.or(idle.as_ref().map(|c| c.id())).expect("a pid or the placeholder's");
        let properties = [
            Property::new("Description", Value::Str("scope created by libcgroup".into())),
            Property::new("PIDs", Value::Pids(vec![held])),
            Property::new("Slice", Value::Str(slice.clone())),
            Property::new("Delegate", Value::Bool(true)),
        ];
        if let Err(e) = bus.start_transient(unit, &properties, &[]) {
            if let Some(mut c) = idle {
                let _ = c.kill();
                let _ = c.wait();
            }
            bail!(Verbatim(format!("can't create cgroup {slice}/{unit}: {}", e.error), ECGFAIL));
        }
        // The controllers named, enabled down to the scope (libcgroup's cgroup_create_cgroup).
        create_one(&h, spec).map_err(|e| Verbatim(format!("can't create cgroup {slice}/{unit}: {e:#}"), ECGOTHER))?;
        if set_default {
            let dir = std::path::Path::new(libcgroup::SYSTEMD_DEFAULT_FILE).parent().expect("a directory");
            std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::write(libcgroup::SYSTEMD_DEFAULT_FILE, format!("{slice}/{unit}")))
                .map_err(|e| {
                    Verbatim(
                        format!("failed to write default {slice}/{unit} to {}: {e}", libcgroup::SYSTEMD_DEFAULT_FILE),
                        ECGINVAL,
                    )
                })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates a group, or (as libcgroup does for an existing one) gives it the missing
/// controllers. Returns whether it was created.
fn create_one(h: &Arc<Hierarchy>, s: &GroupSpec) -> anyhow::Result<bool> {
    let accounting = spec_controllers(h, std::slice::from_ref(s))?;
    let change = Change { spec: Spec { accounting, ..Spec::default() }, raw: Vec::new() };
    match Group::open(h.clone(), &s.path) {
        Ok(g) => {
            let _lock = g.lock()?;
            lifecycle::plan_set(&g, &change)?.execute(h)?;
            Ok(false)
        }
        Err(_) => {
            lifecycle::create(h.clone(), &s.path, &change, Mark::Named)?;
            Ok(true)
        }
    }
}

pub(super) const CGDELETE: Tool = Tool {
    name: "cgdelete",
    usage: &["cgdelete [-h] [-r] [[-g] <controllers>:<path>] ..."],
    about: "Remove control group(s) (rein's libcgroup compatibility); their processes move to the parent group",
    opts: &[
        flag('r', &["recursive"], "Recursively remove all subgroups"),
        takes('g', &[], "<controllers>:<path>", "Control group to be removed (-g is optional)"),
        flag('h', &["help"], "Display this help"),
        flag('b', &[], "Ignore the default systemd delegated hierarchy (a scope 'cgcreate -c -S' made the default)"),
    ],
    operands: &[("controllers:path...", "Control groups to be removed")],
    stop_at_operand: false,
    base: None,
};

pub(super) fn cgdelete(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut recursive = false;
    let mut specs = Vec::new();
    let items = getopt(args, CGDELETE.opts, false)?;
    let default = default_scope(&items);
    for item in items {
        match item {
            Item::Opt('h', _) => return help(&CGDELETE),
            Item::Opt('b', _) => {}
            Item::Opt('r', _) => recursive = true,
            Item::Opt('g', Some(v)) => specs.push(tool_spec(&v, default.as_ref())?),
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => specs.push(tool_spec(&operand_text(&a)?, default.as_ref())?),
        }
    }
    if specs.is_empty() {
        return Err(usage("no group given: cgdelete <controllers>:<path>"));
    }
    let h = hierarchy()?;
    for s in &specs {
        if let Some((name, e)) = bad_controller(&s.controllers, &h) {
            bail!(Verbatim(format!("controller {name} can't be added ({e})"), ECGFAIL));
        }
    }
    for s in merge_specs(specs) {
        if !group_exists(&h, &s.path) {
            let name = s.path.as_str().trim_start_matches('/');
            return Err(anyhow::Error::new(Verbatim(
                format!("cannot remove group '{name}': No such file or directory"),
                EXIT_NO_GROUP,
            )));
        }
        let group =
            Group::open(h.clone(), &s.path).with_context(|| format!("cannot remove group '{}'", s.path.as_str()))?;
        let controllers = match &s.controllers {
            Controllers::All => None,
            c => Some(libcgroup::resolve(c, &host(&h))?),
        };
        let mut places = places_for(&group, controllers.as_ref())?;
        // The cgroup2 directory is rein's companion of the v1 ones: it goes with the
        // last of them.
        if let Some(ps) = &mut places {
            let left = group.nodes().iter().any(|n| n.place != Place::V2 && !ps.contains(&n.place));
            if left {
                ps.retain(|p| *p != Place::V2);
            }
        }
        lifecycle::delete(&group, places.as_deref(), recursive)
            .with_context(|| format!("cannot remove group '{}'", s.path.as_str()))?;
    }
    Ok(ExitCode::SUCCESS)
}
