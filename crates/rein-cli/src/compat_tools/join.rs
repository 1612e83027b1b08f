//! cgexec and cgclassify: processes moved into groups, a refusal classified as libcgroup
//! classifies it; `-r` ends the placeholder `cgcreate -c` left in the process's systemd
//! scope (cgclassify moves the process back when there is none).

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use rein::compat::libcgroup::{self, Controllers, GroupSpec};
use rein::lifecycle;
use rein::plan::Place;
use rein::procfs::ProcTable;
use rein::{Group, Hierarchy};

use super::options::{CANCEL_STICKY, Item, Tool, flag, getopt, help, operand_text, takes};
use super::specs::{bad_controller, default_scope, group_exists, hierarchy, merge_specs, tool_spec};
use super::status::{
    ECGOTHER, ECGROUPNOTALLOWED, ECGROUPNOTEXIST, ECGROUPNOTMOUNTED, ECGROUPNOTOWNER, EXIT_EXEC_FAILED, Verbatim,
    errno_words, io_words, usage,
};
use crate::cmd::host::{host, places_for};

pub(super) const CGEXEC: Tool = Tool {
    name: "cgexec",
    usage: &["cgexec [-h] [-b] [-g <controllers>:<path>] [--sticky] command [arguments] ..."],
    about: "Run the task in given control group(s) (rein's libcgroup compatibility)",
    opts: &[
        takes('g', &[], "<controllers>:<path>", "Control group which should be added"),
        flag('s', &["sticky"], "accepted and ignored: rein runs no cgrulesengd daemon"),
        flag('h', &["help"], "Display this help"),
        flag('b', &[], "Ignore the default systemd delegated hierarchy (a scope 'cgcreate -c -S' made the default)"),
        flag('r', &[], "Replace the default idle_thread spawned for the systemd scope"),
    ],
    operands: &[("command...", "The command and its arguments")],
    stop_at_operand: true,
    base: None,
};

pub(super) fn cgexec(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut specs = Vec::new();
    let mut command: Vec<OsString> = Vec::new();
    let mut replace_idle = false;
    let items = getopt(args, CGEXEC.opts, CGEXEC.stop_at_operand)?;
    let default = default_scope(&items);
    for item in items {
        match item {
            Item::Opt('h', _) => return help(&CGEXEC),
            Item::Opt('g', Some(v)) => specs.push(tool_spec(&v, default.as_ref())?),
            // -b: no default scope (default_scope).
            Item::Opt('s' | 'b', _) => {}
            Item::Opt('r', _) => replace_idle = true,
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => command.push(a),
        }
    }
    let Some((program, rest)) = command.split_first() else {
        return Err(usage("no command given"));
    };
    if specs.is_empty() {
        return Err(usage("rein needs -g <controllers>:<path>: it has no cgrules.conf daemon to pick a group"));
    }
    let h = hierarchy()?;
    // libcgroup's words and status (its ECG* number, modulo 256).
    if let Err(e) = join(&h, &specs, std::process::id()) {
        bail!(Verbatim(format!("cgroup change of group failed: {}", e.detail), e.status));
    }
    if replace_idle {
        replace_idle_process(&h, std::process::id()).map_err(|w| Verbatim(w, EXIT_EXEC_FAILED))?;
    }
    // As libcgroup's cgexec: "exec failed:REASON", status 255 (its -1).
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(program).args(rest).exec();
    let reason = err.raw_os_error().map(errno_words).unwrap_or_else(|| io_words(&err));
    bail!(Verbatim(format!("exec failed:{reason} ('{}')", program.to_string_lossy()), EXIT_EXEC_FAILED))
}

pub(super) const CGCLASSIFY: Tool = Tool {
    name: "cgclassify",
    usage: &["cgclassify [[-g] <controllers>:<path>] [-b] [--sticky | --cancel-sticky] <list of pids>"],
    about: "Move running task(s) to given cgroups (rein's libcgroup compatibility)",
    opts: &[
        takes('g', &[], "<controllers>:<path>", "Control group to be used as target"),
        flag('s', &["sticky"], "accepted and ignored: rein runs no cgrulesengd daemon"),
        flag(CANCEL_STICKY, &["cancel-sticky"], "accepted and ignored: rein runs no cgrulesengd daemon"),
        flag('h', &["help"], "Display this help"),
        flag('b', &[], "Ignore the default systemd delegated hierarchy (a scope 'cgcreate -c -S' made the default)"),
        flag('r', &[], "Replace the default idle_thread spawned for the systemd scope"),
    ],
    operands: &[("pid...", "The processes to move")],
    stop_at_operand: false,
    base: None,
};

pub(super) fn cgclassify(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut specs = Vec::new();
    let mut pids = Vec::new();
    let mut replace_idle = false;
    let items = getopt(args, CGCLASSIFY.opts, false)?;
    let default = default_scope(&items);
    for item in items {
        match item {
            Item::Opt('h', _) => return help(&CGCLASSIFY),
            Item::Opt('g', Some(v)) => specs.push(tool_spec(&v, default.as_ref())?),
            // See cgexec: rein's paths start at the root, as -b asks.
            Item::Opt('s' | 'b' | CANCEL_STICKY, _) => {}
            Item::Opt('r', _) => replace_idle = true,
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => {
                let t = operand_text(&a)?;
                if t.contains(':') && pids.is_empty() {
                    specs.push(tool_spec(&t, default.as_ref())?);
                    continue;
                }
                pids.push(t);
            }
        }
    }
    if specs.is_empty() {
        return Err(usage("rein needs -g <controllers>:<path>: it has no cgrules.conf daemon to pick a group"));
    }
    if pids.is_empty() {
        return Err(usage("no process given"));
    }
    let h = hierarchy()?;
    // As libcgroup: each pid on its own, the others moved when one fails; status 2
    // after an operand that is no pid, 1 after a pid that could not move (the later wins).
    let mut status = 0;
    for t in &pids {
        let Some(pid) = t.parse::<u32>().ok().filter(|p| *p > 0) else {
            eoutln!("Error: {t} is not valid pid.");
            status = 2;
            continue;
        };
        // -r, until a placeholder is replaced: the groups the pid leaves, to move it back
        // if its new scope holds none (libcgroup then ends with that move's status).
        let former = if replace_idle {
            match ProcTable::default().cgroups(pid) {
                Some(f) => Some(f),
                None => {
                    eoutln!("Failed to open: /proc/{pid}/cgroup");
                    eoutln!("Failed to read /proc/{pid}/cgroups");
                    return Ok(ExitCode::from(1));
                }
            }
        } else {
            None
        };
        if let Err(e) = join(&h, &specs, pid) {
            eoutln!("Error changing group of pid {pid}: {}", e.detail);
            status = 1;
        }
        let Some(former) = former else { continue };
        if let Err(words) = replace_idle_process(&h, pid) {
            eoutln!("{words}");
            return Ok(ExitCode::from(move_back(&h, pid, &former)));
        }
        replace_idle = false;
    }
    Ok(ExitCode::from(status))
}

/// Why a process could not join a group, in libcgroup's terms: its status, and
/// `cgroup_strerror`'s words followed by rein's own where they say more.
struct JoinError {
    status: u8,
    detail: String,
}

/// Moves `pid` into each spec's group, in the hierarchies of its controllers; a
/// refusal is classified as libcgroup's `cgroup_change_cgroup_path` would return it.
fn join(h: &Arc<Hierarchy>, specs: &[GroupSpec], pid: u32) -> Result<(), JoinError> {
    let fail = |status: u8, words: &str, e: &dyn std::fmt::Display| JoinError {
        status,
        detail: format!("{words} ({})", e.to_string().replace('\n', " ")),
    };
    for s in merge_specs(specs.to_vec()) {
        if let Some((_, e)) = bad_controller(&s.controllers, h) {
            return Err(fail(ECGROUPNOTALLOWED, "Cgroup, operation not allowed", &e));
        }
        let controllers = match &s.controllers {
            Controllers::All => None,
            c => Some(
                libcgroup::resolve(c, &host(h))
                    .map_err(|e| fail(ECGROUPNOTALLOWED, "Cgroup, operation not allowed", &e))?,
            ),
        };
        let missing = |e: &dyn std::fmt::Display| fail(ECGROUPNOTEXIST, "Cgroup does not exist", e);
        if !group_exists(h, &s.path) {
            return Err(missing(&format!("no group {}", s.path)));
        }
        let group = Group::open(h.clone(), &s.path).map_err(|e| fail(ECGOTHER, "cannot open the group", &e))?;
        let places = places_for(&group, controllers.as_ref()).map_err(|e| missing(&format!("{e:#}")))?;
        // A cgroup2 controller the group does not have (not enabled in its parent's
        // cgroup.subtree_control): libcgroup refuses it as not mounted there.
        let v2 = group.nodes().iter().find(|n| n.place == Place::V2).map(|n| &n.controllers);
        let absent = controllers.iter().flatten().find(|c| {
            matches!(h.binding(**c), Some(rein::hierarchy::Binding::V2(_))) && v2.is_none_or(|have| !have.contains(c))
        });
        if let Some(c) = absent {
            let why = format!(
                "controller {} is not enabled in group {}; cgcreate -g {}:{} enables it",
                c.v2_name(),
                s.path,
                c.v2_name(),
                s.path.as_str()
            );
            return Err(fail(ECGROUPNOTMOUNTED, "Cgroup is not mounted", &why));
        }
        if pid != std::process::id() && ProcTable::default().start_time(pid).is_none() {
            return Err(fail(ECGOTHER, "No such process", &format!("no process {pid}")));
        }
        lifecycle::move_pids(&group, places.as_deref(), &[pid], &ProcTable::default()).map_err(|e| {
            let words = e.errno().map_or_else(|| "Cgroup, operation failed".into(), errno_words);
            fail(ECGOTHER, &words, &e)
        })?;
    }
    Ok(())
}

/// `-r` of cgexec and cgclassify: once process `pid` is in the scope, the placeholder
/// `cgcreate -c` left there ([`lifecycle::scope_placeholder`]) is sent SIGTERM. Err:
/// libcgroup's words (no placeholder there, or it could not be signalled).
fn replace_idle_process(h: &Hierarchy, pid: u32) -> Result<(), String> {
    let idle = lifecycle::scope_placeholder(h, pid, &ProcTable::default())
        .ok_or_else(|| "Failed to find idle_thread task".to_string())?;
    rein::launch::kill(idle as i32, libc::SIGTERM)
        .map_err(|e| format!("Failed to kill pid {idle}:{}", errno_words(e.raw_os_error().unwrap_or(libc::EINVAL))))
}

/// `cgclassify -r`'s way back when no placeholder was found ([`lifecycle::move_back`]),
/// each refusal in libcgroup's words. The status is libcgroup's: 0, or on a write
/// refused its `-1` (255) where v1 hierarchies are mounted and its ECG* number (modulo
/// 256) on a pure cgroup2 host (the last refusal's).
fn move_back(h: &Hierarchy, pid: u32, former: &str) -> u8 {
    let mut status = 0;
    for (procs, e) in lifecycle::move_back(h, pid, former, &ProcTable::default()) {
        let errno = e.errno().unwrap_or(libc::EINVAL);
        eoutln!("cannot write tid {pid} to {}:{}", procs.display(), errno_words(errno));
        status = match (h.mode(), errno) {
            (rein::Mode::Unified, libc::EPERM | libc::EACCES) => ECGROUPNOTOWNER,
            (rein::Mode::Unified, libc::ENOENT) => ECGROUPNOTEXIST,
            (rein::Mode::Unified, _) => ECGROUPNOTALLOWED,
            _ => EXIT_EXEC_FAILED,
        };
    }
    status
}
