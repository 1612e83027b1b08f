//! cgcreate and cgdelete: groups made with the controllers named (or, with `cgcreate -c`,
//! as libcgroup 3's systemd scopes, each held by a process) and removed.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use rein::cgroupfs::Owner;
use rein::compat::cgconfig::Perm;
use rein::compat::libcgroup::{self, Controllers, GroupSpec};
use rein::config::cgconfig::{Ids, plan_permissions};
use rein::lifecycle::{self, Change};
use rein::mark::Mark;
use rein::plan::{Place, Plan, Transaction};
use rein::{Group, Hierarchy, Spec};

use super::options::{Item, Tool, flag, getopt, help, operand_text, perm_option, takes};
use super::specs::{bad_controller, default_scope, group_exists, hierarchy, merge_specs, tool_spec};
use super::status::{ECGFAIL, ECGINVAL, ECGOTHER, EXIT_BADARGS, EXIT_NO_GROUP, Verbatim, usage};
use crate::cmd::host::{host, places_for, spec_controllers};

/// cgcreate's owners and modes: the admin and task owners resolved, and what was given.
type Owned = ((Owner, Owner), Perm);

pub(super) const CGCREATE: Tool = Tool {
    name: "cgcreate",
    usage: &[
        "cgcreate [-h] [-f mode] [-d mode] [-s mode] [-t <tuid>:<tgid>] [-a <auid>:<agid>] [-b] [-c [-S] [-p <pid>]] -g <controllers>:<path> [-g ...]",
    ],
    about: "Create control group(s) (rein's libcgroup compatibility)",
    opts: &[
        takes(
            'a',
            &["admin"],
            "<auid>:<agid>",
            "Owner of the group and all its files (user and/or group names or ids)",
        ),
        takes('d', &["dperm"], "<mode>", "Group directory permissions (octal, masked by the owner's bits)"),
        takes('f', &["fperm"], "<mode>", "Group file permissions"),
        takes('s', &["tperm"], "<mode>", "Tasks file permissions (cgroup.procs on cgroup v2)"),
        takes('t', &["task"], "<tuid>:<tgid>", "Owner of the tasks file (cgroup.procs on cgroup v2)"),
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

/// cgcreate: each group created, or (as libcgroup, for one that exists) given the
/// controllers it lacks; with `-a`, `-t`, `-d`, `-f` or `-s`, its directories and files
/// given those owners and modes ([`rein::config::cgconfig::plan_permissions`], which
/// cgconfigparser's `perm` uses too). All groups are one change: when one fails, the
/// groups made before it go again and the owners, modes and controllers changed are put
/// back.
pub(super) fn cgcreate(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut raw_specs = Vec::new();
    let (mut scope, mut set_default, mut scope_pid) = (false, false, None);
    let (ids, mut perm) = (Ids::system(), Perm::default());
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
            Item::Opt(c, Some(v)) if perm_option("cgcreate", c, &v, &ids, &mut perm)? => {}
            Item::Opt(..) => return Err(usage("")),
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
    // The owners, resolved now (the names were looked up as the options were read).
    let me = Owner { uid: rustix::process::getuid().as_raw(), gid: rustix::process::getgid().as_raw() };
    let perm = if perm.is_empty() { None } else { Some((ids.owners(&perm, me)?, perm)) };
    if scope {
        return cgcreate_scopes(&raw_specs, set_default, scope_pid, perm.as_ref());
    }
    let specs = raw_specs.iter().map(|v| tool_spec(v, default.as_ref())).collect::<rein::Result<Vec<GroupSpec>>>()?;
    let h = hierarchy()?;
    // libcgroup's words and status for a controller it cannot add, before any group is made.
    for s in &specs {
        if let Some((name, e)) = bad_controller(&s.controllers, &h) {
            bail!(Verbatim(format!("controller {name} can't be added ({e})"), ECGINVAL));
        }
    }
    let specs = merge_specs(specs);
    // The groups that exist, locked at once (in the lock order) until all is done.
    let existing: Vec<Group> = specs.iter().filter_map(|s| Group::open(h.clone(), &s.path).ok()).collect();
    let _locks = rein::group::lock_groups(&existing, rein::lock::LOCK_TIMEOUT)?;
    let mut tx = Transaction::new();
    for s in &specs {
        let fail = |e: rein::Error| Verbatim(format!("can't create cgroup {}: {e:#}", s.path.as_str()), ECGOTHER);
        let plan = match plan_one(&h, s, perm.as_ref()) {
            Ok(p) => p,
            Err(e) => return Err(fail(tx.abort(&h, e)).into()),
        };
        tx.execute(&h, &plan).map_err(fail)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `cgcreate -c`: each group a systemd scope, as libcgroup 3 makes them
/// (src/systemd.c): `-g CONTROLLERS:SLICE/SCOPE`, StartTransientUnit of SCOPE in SLICE
/// with `Delegate=yes`, holding the process `-p` names or else a placeholder process
/// ([`libcgroup::IDLE_PROCESS`]; systemd removes a scope without processes), then the
/// controllers enabled down to it as for any group. `-S` records the scope as the
/// default under which the tools place relative paths ([`libcgroup::SYSTEMD_DEFAULT_FILE`]).
/// Needs systemd as PID 1. The owners and modes of `-a`, `-t`, `-d`, `-f`, `-s` go to the
/// scope's directories as to any group's.
fn cgcreate_scopes(
    raw_specs: &[String],
    set_default: bool,
    pid: Option<u32>,
    perm: Option<&Owned>,
) -> anyhow::Result<ExitCode> {
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
        // With the owners and modes given (libcgroup's cgroup_create_scope2 calls
        // cgroup_create_cgroup for them).
        plan_one(&h, spec, perm)
            .and_then(|plan| plan.execute(&h))
            .map_err(|e| Verbatim(format!("can't create cgroup {slice}/{unit}: {e:#}"), ECGOTHER))?;
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

/// The plan that creates a group, or (as libcgroup does for an existing one) gives it
/// the missing controllers; then its owners and modes, when cgcreate was given any.
fn plan_one(h: &Arc<Hierarchy>, s: &GroupSpec, perm: Option<&Owned>) -> rein::Result<Plan> {
    let accounting = spec_controllers(h, std::slice::from_ref(s))?;
    let change = Change { spec: Spec { accounting: accounting.clone(), ..Spec::default() }, raw: Vec::new() };
    let mut plan = match Group::open(h.clone(), &s.path) {
        Ok(g) => lifecycle::plan_set(&g, &change)?,
        Err(_) => lifecycle::plan_create(h, &s.path, &change, Mark::Named)?,
    };
    if let Some((owners, perm)) = perm {
        plan_permissions(h, &mut plan, &s.path, &accounting, perm, *owners)?;
    }
    Ok(plan)
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
