//! cgsnapshot: the live hierarchies written as libcgroup's cgconfig.conf.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::process::ExitCode;

use rein::compat::cgconfig::{CgConfig, ControllerBlock, GroupBlock, MountEntry, Perm, Setting};
use rein::config::cgconfig::Ids;
use rein::{Controller, GroupPath};

use super::options::{Item, Tool, flag, getopt, help, operand_text, takes};
use super::specs::hierarchy;
use super::status::{EXIT_BADARGS, EXIT_NO_GROUP, Verbatim, io_words, usage};

pub(super) const CGSNAPSHOT: Tool = Tool {
    name: "cgsnapshot",
    usage: &["cgsnapshot [-h] [-s] [-t] [-b FILE] [-w FILE] [-f FILE] [controller] [...]"],
    about: "Generate the configuration file for given controllers (rein's libcgroup compatibility)",
    opts: &[
        takes(
            'b',
            &["denylist"],
            "<FILE>",
            "Set the denylist configuration file (default /etc/cgsnapshot_denylist.conf)",
        ),
        takes('f', &["file"], "<FILE>", "Redirect the output to output_file"),
        flag('h', &["help"], "Display this help"),
        flag('s', &["silent"], "Ignore all warnings"),
        flag('t', &["strict"], "Don't show variables which are not on the allowlist"),
        takes('w', &["allowlist"], "<FILE>", "Set the allowlist configuration file (not used by default)"),
    ],
    operands: &[("controller...", "Write only the hierarchies of these controllers")],
    stop_at_operand: false,
    base: None,
};

/// libcgroup's default denylist of cgsnapshot.
const DENYLIST_CONF: &str = "/etc/cgsnapshot_denylist.conf";

/// A cgsnapshot deny- or allowlist: one variable name a line, `#` comments. A file that
/// cannot be read is libcgroup's "ERROR: Failed to open file" (and its status 129).
fn variable_list(file: &str) -> Result<BTreeSet<String>, ExitCode> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        eprintln!("ERROR: Failed to open file {file}: {}", io_words(&e));
        ExitCode::from(EXIT_BADARGS)
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect())
}

/// The `perm` libcgroup writes when the group's directory or its task file is not root's
/// (none otherwise), owners by name where the host names them.
fn perm_of(dir: &std::path::Path, tasks: &std::path::Path, ids: &Ids) -> Perm {
    use std::os::unix::fs::MetadataExt;
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

/// A hierarchy cgsnapshot walks: its mount, its controllers with the names it writes, and
/// whether it is cgroup2.
type Snapshotted<'h> = (&'h rein::cgroupfs::Mount, Vec<(Controller, &'static str)>, bool);

/// cgsnapshot: the live hierarchies as libcgroup's cgconfig.conf (`mount { }`, then a
/// `group NAME { CONTROLLER { FILE="VALUE"; } }` per group and hierarchy), with libcgroup's
/// rules: the variables a group's controller files hold, less those the hierarchy's root
/// shows read-only, less the denylist; `devices.list` written as `devices.deny` of
/// everything and `devices.allow` of the list.
pub(super) fn cgsnapshot(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let (mut silent, mut strict) = (false, false);
    let (mut deny_file, mut allow_file, mut out_file) = (None, None, None);
    let mut wanted: Vec<String> = Vec::new();
    for item in getopt(args, CGSNAPSHOT.opts, false)? {
        match item {
            Item::Opt('h', _) => return help(&CGSNAPSHOT),
            Item::Opt('s', _) => silent = true,
            Item::Opt('t', _) => strict = true,
            Item::Opt('b', v) => deny_file = v,
            Item::Opt('w', v) => allow_file = v,
            Item::Opt('f', v) => out_file = v,
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => wanted.push(operand_text(&a)?),
        }
    }
    // The default denylist is libcgroup's package's file: without it, nothing is denied.
    let deny = match &deny_file {
        Some(f) => variable_list(f),
        None if std::path::Path::new(DENYLIST_CONF).exists() => variable_list(DENYLIST_CONF),
        None => Ok(BTreeSet::new()),
    };
    let allow = allow_file.as_deref().map(variable_list).transpose();
    let (deny, allow) = match (deny, allow) {
        (Ok(d), Ok(a)) => (d, a.unwrap_or_default()),
        (Err(code), _) | (_, Err(code)) => return Ok(code),
    };
    let h = hierarchy()?;
    let ids = Ids::system();
    let mut conf = CgConfig::default();
    // The mount section: every controller of a v1 hierarchy (cgroup2's are hierarchy 0
    // in /proc/cgroups, which libcgroup leaves out), in the kernel's order.
    for name in rein::procfs::read_cgroups()?.into_iter().filter(|r| r.enabled).map(|r| r.name) {
        let Some(c) = Controller::ALL.into_iter().find(|c| c.v1_name() == name) else { continue };
        if !wanted.is_empty() && !wanted.contains(&name) {
            continue;
        }
        if let Some(rein::hierarchy::Binding::V1(m)) = h.binding(c) {
            let path = m.mount.path().display().to_string();
            conf.mounts.push(MountEntry { controller: name, path, line: 0 });
        }
    }
    // The hierarchies: each v1 mount with its controllers, and cgroup2 with the controllers
    // bound there; only the controllers asked for.
    let mut hierarchies: Vec<Snapshotted<'_>> = Vec::new();
    for m in h.v1_mounts() {
        hierarchies.push((&m.mount, m.controllers.iter().map(|c| (*c, c.v1_name())).collect(), false));
    }
    if let Some(u) = h.unified() {
        let on_v2: Vec<(Controller, &'static str)> = u
            .controllers
            .iter()
            .filter(|c| matches!(h.binding(**c), Some(rein::hierarchy::Binding::V2(_))))
            .map(|c| (*c, c.v2_name()))
            .collect();
        hierarchies.push((&u.mount, on_v2, true));
    }
    let root = GroupPath::root();
    for (m, mut controllers, v2) in hierarchies {
        if !wanted.is_empty() {
            controllers.retain(|(_, n)| wanted.iter().any(|w| w == n));
        }
        if controllers.is_empty() {
            continue;
        }
        let mut first = true;
        // Depth first, in the directories' order, as libcgroup's fts walk meets them.
        let mut stack: Vec<GroupPath> =
            m.children_in_dir_order(&root)?.iter().rev().map(|c| root.join(c)).collect::<rein::Result<_>>()?;
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
            let shown: Vec<&(Controller, &str)> =
                controllers.iter().filter(|(_, n)| !v2 || enabled.iter().any(|e| e == n)).collect();
            if shown.is_empty() {
                continue;
            }
            let files = m.files(&g).unwrap_or_default();
            let tasks = m.file_path(&g, if v2 { "cgroup.procs" } else { "tasks" });
            let name = g.as_str().trim_start_matches('/').to_string();
            let perm = perm_of(&m.dir_path(&g), &tasks, &ids);
            let mut group = GroupBlock { name, perm, ..GroupBlock::default() };
            for (_, cname) in shown {
                let mut block = ControllerBlock { name: cname.to_string(), ..ControllerBlock::default() };
                let mut set =
                    |name: &str, value: String| block.settings.push(Setting { name: name.into(), value, line: 0 });
                let prefix = format!("{cname}.");
                for f in files.iter().filter(|f| f.starts_with(&prefix)) {
                    // Read-only in the root: a statistic, not a setting (libcgroup's rule,
                    // which keeps the files the root lacks).
                    let in_root = std::fs::metadata(m.file_path(&root, f));
                    if let Ok(md) = in_root {
                        use std::os::unix::fs::PermissionsExt;
                        if md.permissions().mode() & 0o200 == 0 && f != "devices.list" {
                            continue;
                        }
                    }
                    if deny.contains(f) || f == "devices.deny" || f == "devices.allow" {
                        continue;
                    }
                    let allowed = allow.contains(f);
                    if !allowed && strict {
                        continue;
                    }
                    if !allowed && !silent && first {
                        eprintln!("WARNING: variable {f} is neither deny nor allow list");
                    }
                    let value = match m.read(&g, f) {
                        Ok(v) => v.strip_suffix('\n').map(str::to_string).unwrap_or(v),
                        Err(e) if e.errno() == Some(libc::EINVAL) => String::new(),
                        Err(_) => continue,
                    };
                    if f == "devices.list" {
                        set("devices.deny", "a *:* rwm".into());
                        set("devices.allow", value);
                    } else {
                        set(f, value);
                    }
                }
                group.controllers.push(block);
            }
            conf.groups.push(group);
            first = false;
        }
    }
    let out = format!("# Configuration file generated by cgsnapshot\n{}", conf.to_conf());
    match out_file {
        None => print!("{out}"),
        Some(f) => std::fs::write(&f, out)
            .map_err(|_| anyhow::Error::new(Verbatim(format!("Failed to open file {f}"), EXIT_NO_GROUP)))?,
    }
    Ok(ExitCode::SUCCESS)
}
