//! The named-group commands: create, set, show, ls, exec, move, freeze, thaw, kill, rm,
//! gc. Each turns its arguments into library calls (rein::lifecycle, rein::inspect,
//! rein::ownership) and prints the outcome; `--dry-run` prints the plan instead.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use rein::compat::libcgroup::{self, GroupSpec};
use rein::compat::raw;
use rein::gc;
use rein::gc::GcKind;
use rein::inspect::{self, Inspection};
use rein::lifecycle::{self, Change, RemoveOptions};
use rein::mark::Mark;
use rein::procfs;
use rein::procfs::{Owner, ProcTable};
use rein::units::human_bytes;
use rein::{Controller, Error, Group, GroupPath, Hierarchy, Spec};

use super::host::{current_reader, exec_command, host, places_for, spec_controllers};
use crate::cli::groups::{
    CreateArgs, ExecArgs, GcArgs, GroupArg, GroupCommand, KillArgs, LsArgs, MoveArgs, NameArgs, RawArgs, RmArgs,
    ShowArgs,
};
use crate::cli::limits::LimitArgs;

type Detect<'a> = &'a dyn Fn() -> anyhow::Result<Arc<Hierarchy>>;

/// Runs a named-group command.
pub fn dispatch(cmd: &GroupCommand, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    match cmd {
        GroupCommand::Create(a) => create(a, hierarchy),
        GroupCommand::Set(a) => set(a, hierarchy),
        GroupCommand::Show(a) => show(a, hierarchy),
        GroupCommand::Ls(a) => ls(a, hierarchy),
        GroupCommand::Exec(a) => exec(a, hierarchy),
        GroupCommand::Move(a) => move_(a, hierarchy),
        GroupCommand::Freeze(a) => freeze(a, true, hierarchy),
        GroupCommand::Thaw(a) => freeze(a, false, hierarchy),
        GroupCommand::Kill(a) => kill(a, hierarchy),
        GroupCommand::Rm(a) => rm(a, hierarchy),
        GroupCommand::Gc(a) => gc(a, hierarchy),
        GroupCommand::Compat(c) => super::compat::run(c),
    }
}

/// The controllers `rein create NAME` gives a group when no -g names them: every limit
/// controller the host offers (v1 adds cpuacct for CPU time and the freezer).
pub fn default_controllers(h: &Hierarchy) -> BTreeSet<Controller> {
    lifecycle::default_controllers(h)
}

/// The group a NAME or -g specs name, and the controllers the specs list (None when
/// given as NAME). All specs must name the same group.
pub fn target(g: &GroupArg) -> anyhow::Result<(GroupPath, Option<Vec<GroupSpec>>)> {
    let specs: Vec<GroupSpec> = g.group.iter().map(|s| libcgroup::parse_group_spec(s)).collect::<Result<_, _>>()?;
    let path = match (&g.name, specs.first()) {
        (Some(_), Some(_)) => bail!("give the group once: as NAME or as -g CONTROLLERS:NAME"),
        (Some(n), None) => GroupPath::parse(n)?,
        (None, Some(s)) => s.path.clone(),
        (None, None) => bail!("no group given: name it (rein create web) or use -g CONTROLLERS:NAME"),
    };
    if let Some(other) = specs.iter().find(|s| s.path != path) {
        bail!("one group at a time: -g names both {} and {} (cgcreate takes several)", path, other.path);
    }
    Ok((path, (!specs.is_empty()).then_some(specs)))
}

/// Builds the change a create/set/exec asks for: flags, -p, -r (translated against the
/// group's present values when it exists).
pub fn change(
    h: &Hierarchy,
    path: &GroupPath,
    limits: &LimitArgs,
    raw: &RawArgs,
    accounting: BTreeSet<Controller>,
) -> anyhow::Result<Change> {
    let resources = limits.to_resources(&rein::device::resolve)?;
    let settings = raw.raw.iter().map(|s| raw::parse_setting(s)).collect::<Result<Vec<_>, _>>()?;
    let translated = raw::translate(&settings, &host(h), &current_reader(h, path))?;
    let twice = resources.overlap(&translated.resources);
    if !twice.is_empty() {
        bail!(Error::invalid("settings", twice.join(", "), "set by a flag and by -r too; give each setting once"));
    }
    let mut resources = resources;
    resources.merge(&translated.resources);
    resources.validate()?;
    Ok(Change { spec: Spec { resources, accounting }, raw: translated.raw })
}

fn create(a: &CreateArgs, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let (path, specs) = target(&a.group)?;
    let h = hierarchy()?;
    let accounting = match &specs {
        Some(s) => spec_controllers(&h, s)?,
        None => default_controllers(&h),
    };
    let change = change(&h, &path, &a.limits, &a.raw, accounting)?;
    if a.dry_run {
        let plan = lifecycle::plan_create(&h, &path, &change, Mark::Named)?;
        out!("{}", plan.display(&h));
        return Ok(ExitCode::SUCCESS);
    }
    lifecycle::create(h, &path, &change, Mark::Named)?;
    Ok(ExitCode::SUCCESS)
}

fn open(h: &Arc<Hierarchy>, path: &GroupPath) -> rein::Result<Group> {
    Group::open(h.clone(), path)
}

fn set(a: &CreateArgs, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let (path, specs) = target(&a.group)?;
    let h = hierarchy()?;
    let group = open(&h, &path)?;
    let accounting = match &specs {
        Some(s) => spec_controllers(&h, s)?,
        None => BTreeSet::new(),
    };
    // Changes of one group take turns (rein::lock): from reading the present values,
    // which translations and rollback use, to the last write.
    let _lock = if a.dry_run { None } else { Some(group.lock()?) };
    let change = change(&h, &path, &a.limits, &a.raw, accounting)?;
    if change.spec.resources.is_empty() && change.raw.is_empty() && change.spec.accounting.is_empty() {
        bail!("nothing to set: give limits (--memory 256M, -p MemoryMax=256M, -r memory.max=268435456, ...)");
    }
    let plan = lifecycle::plan_set(&group, &change)?;
    if a.dry_run {
        out!("{}", plan.display(&h));
        return Ok(ExitCode::SUCCESS);
    }
    plan.execute(&h)?;
    Ok(ExitCode::SUCCESS)
}

fn show(a: &ShowArgs, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let (path, _) = target(&a.group)?;
    let h = hierarchy()?;
    let group = open(&h, &path)?;
    let i = inspect::inspect(&group, &ProcTable::default())?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&i)?);
    } else {
        out!("{}", show_text(&i));
    }
    Ok(ExitCode::SUCCESS)
}

fn owner_text(mark: Option<Mark>, state: Option<Owner>) -> String {
    match (mark, state) {
        (None, _) => "-".into(),
        (Some(Mark::Transient { pid, .. }), Some(Owner::Running)) => format!("rein (transient, pid {pid} running)"),
        (Some(Mark::Transient { pid, .. }), Some(_)) => {
            format!("rein (transient, pid {pid} gone: 'rein gc' removes it)")
        }
        (Some(m), _) => format!("rein ({m})"),
    }
}

fn show_text(i: &Inspection) -> String {
    let mut out = String::new();
    out.push_str(&format!("group       {}\n", i.group));
    out.push_str(&format!("owner       {}\n", owner_text(i.owner, i.owner_state)));
    for (n, d) in i.directories.iter().enumerate() {
        let label = if n == 0 { "directory" } else { "" };
        let what = if d.controllers.is_empty() {
            d.hierarchy.to_string()
        } else {
            format!("{}: {}", d.hierarchy, d.controllers.join(" "))
        };
        out.push_str(&format!("{label:<11} {} ({what})\n", d.path.display()));
    }
    out.push_str("limits      (as written in the files)\n");
    let width = i.files.iter().map(|f| f.file.len()).max().unwrap_or(0);
    for f in &i.files {
        let mut lines = f.value.lines();
        let first = lines.next().unwrap_or("");
        let human = first
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1024 && (f.file.starts_with("memory.") && !f.file.contains("oom")));
        let note = match human {
            Some(n) if n >= (1 << 62) => "  (no limit)".to_string(),
            Some(n) => format!("  ({})", human_bytes(n)),
            None => String::new(),
        };
        out.push_str(format!("  {:<width$}  {first}{note}", f.file).trim_end());
        out.push('\n');
        for l in lines {
            out.push_str(&format!("  {:<width$}  {l}\n", ""));
        }
    }
    // cgroup v2 keeps device access in rein's BPF program, not in a file: its rules.
    if let (Some(d), false) = (&i.limits.devices, i.files.iter().any(|f| f.file == "devices.list")) {
        let rules: Vec<String> = d.rules.iter().map(|r| r.to_text()).collect();
        out.push_str(&format!("  {:<width$}  {}\n", "devices", rules.join("; ")));
        out.push_str(&format!("  {:<width$}  (rein's BPF device program on the cgroup2 directory)\n", ""));
    }
    // Network settings: in the map of rein's programs.
    let n = &i.limits.network;
    if !n.is_empty() {
        let rate =
            |r: Option<rein::units::Limit<rein::units::Rate>>| r.map(|l| l.to_string()).unwrap_or_else(|| "max".into());
        let mut line = format!("egress {}, ingress {}", rate(n.egress), rate(n.ingress));
        if let Some(p) = &n.priority {
            line.push_str(&format!(", priority {}", p.priority));
            if let Some(iface) = &p.interface {
                line.push_str(&format!(" on {iface}"));
            }
        }
        if let Some(c) = n.classid {
            line.push_str(&format!(", class {c}"));
        }
        out.push_str(&format!("  {:<width$}  {line}\n", "network"));
        out.push_str(&format!("  {:<width$}  (rein's BPF network programs on the cgroup2 directory)\n", ""));
    }
    let s = &i.stats;
    out.push_str("usage\n");
    if let Some(m) = s.memory {
        let mut parts = Vec::new();
        if let Some(c) = m.current {
            parts.push(format!("current {}", human_bytes(c)));
        }
        if let Some(p) = m.peak {
            parts.push(format!("peak {}", human_bytes(p)));
        }
        if let Some(k) = m.oom_kill {
            parts.push(format!("{k} OOM kill{}", if k == 1 { "" } else { "s" }));
        }
        out.push_str(&format!("  memory    {}\n", parts.join(", ")));
    }
    if let Some(u) = s.cpu.usage_usec {
        let secs = |us: u64| format!("{:.3}s", us as f64 / 1e6);
        let mut line = format!("  cpu       {}", secs(u));
        if let (Some(us), Some(sy)) = (s.cpu.user_usec, s.cpu.system_usec) {
            line.push_str(&format!(" (user {}, system {})", secs(us), secs(sy)));
        }
        if let Some(pct) = s.cpu.max.and_then(|m| m.percent()) {
            line.push_str(&format!(", limit {pct:.0}% of one CPU"));
        }
        if let (Some(t), Some(n)) = (s.cpu.throttled_usec, s.cpu.nr_throttled) {
            line.push_str(&format!(", throttled {} in {n} periods", secs(t)));
        }
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(p) = s.pids {
        let mut parts = Vec::new();
        if let Some(c) = p.current {
            parts.push(format!("current {c}"));
        }
        if let Some(pk) = p.peak {
            parts.push(format!("peak {pk}"));
        }
        out.push_str(&format!("  pids      {}\n", parts.join(", ")));
    }
    if let Some(f) = s.frozen {
        out.push_str(&format!("  frozen    {}\n", if f { "yes" } else { "no" }));
    }
    let procs: Vec<String> = i.procs.iter().map(|p| p.to_string()).collect();
    let below = i.procs_total.saturating_sub(i.procs.len());
    let extra = if below > 0 { format!(" (and {below} in child groups)") } else { String::new() };
    out.push_str(&format!(
        "processes   {}{extra}\n",
        if procs.is_empty() { "none".to_string() } else { procs.join(" ") }
    ));
    if !i.children.is_empty() {
        out.push_str(&format!("children    {}\n", i.children.join(", ")));
    }
    out
}

fn ls(a: &LsArgs, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let under = a.under.as_deref().map(GroupPath::parse).transpose()?;
    let h = hierarchy()?;
    if let Some(u) = &under {
        open(&h, u)?;
    }
    let mut entries = inspect::list(&h, under.as_ref(), &ProcTable::default())?;
    if a.mine {
        entries.retain(|e| e.owner.is_some());
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    if a.tree {
        for e in &entries {
            let name = e.group.rsplit('/').next().unwrap_or("");
            let owner = match e.owner {
                Some(_) => format!("  [{}]", owner_text(e.owner, e.owner_state)),
                None => String::new(),
            };
            let procs = if e.procs > 0 {
                format!("  {} proc{}", e.procs, if e.procs == 1 { "" } else { "s" })
            } else {
                String::new()
            };
            outln!("{}{name}{procs}{owner}", "  ".repeat(e.depth));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let width = entries.iter().map(|e| e.group.len()).max().unwrap_or(5).max(5);
    outln!("{:<width$}  {:>5}  {:<40}  HIERARCHIES", "GROUP", "PROCS", "OWNER");
    for e in &entries {
        outln!(
            "{:<width$}  {:>5}  {:<40}  {}",
            e.group,
            e.procs,
            owner_text(e.owner, e.owner_state),
            e.hierarchies.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn exec(a: &ExecArgs, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let (path, specs) = target(&a.group)?;
    let h = hierarchy()?;
    let group = open(&h, &path)?;
    let controllers = specs.as_deref().map(|s| spec_controllers(&h, s)).transpose()?;
    // The change lock (rein::lock) covers reading the present values to the last write;
    // its fds are close-on-exec, so the command does not keep it. Joining alone (no limit
    // given) changes no file of the group and takes none.
    let joins_only = a.limits == LimitArgs::default() && a.raw.raw.is_empty();
    let _lock = if a.dry_run || joins_only { None } else { Some(group.lock()?) };
    let change = change(&h, &path, &a.limits, &a.raw, BTreeSet::new())?;
    let has_change = !change.spec.resources.is_empty() || !change.raw.is_empty();
    let places = places_for(&group, controllers.as_ref())?;
    let (program, rest) = a.command.split_first().context("no command given")?;
    if a.dry_run {
        if has_change {
            out!("{}", lifecycle::plan_set(&group, &change)?.display(&h));
        }
        for l in lifecycle::describe_move(&group, places.as_deref(), &[std::process::id()]) {
            outln!("{}", l.replacen(&std::process::id().to_string(), "$$", 1));
        }
        let cmdline: Vec<String> = a.command.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        outln!("exec {}", cmdline.join(" "));
        return Ok(ExitCode::SUCCESS);
    }
    let reopened;
    let group = if has_change {
        lifecycle::plan_set(&group, &change)?.execute(&h)?;
        // The change may have made the group in more hierarchies: join it there too.
        reopened = open(&h, &path)?;
        &reopened
    } else {
        &group
    };
    lifecycle::move_pids(group, places.as_deref(), &[std::process::id()], &ProcTable::default())?;
    Ok(exec_command(program, rest, "rein"))
}

fn parse_pids(list: &[String]) -> anyhow::Result<Vec<u32>> {
    list.iter()
        .map(|p| {
            p.trim().parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                anyhow::Error::new(Error::invalid("pid", p, "expected a process id (a positive whole number)"))
            })
        })
        .collect()
}

fn move_(a: &MoveArgs, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let path = GroupPath::parse(&a.name)?;
    let pids = parse_pids(&a.pids)?;
    let h = hierarchy()?;
    let group = open(&h, &path)?;
    if a.dry_run {
        for l in lifecycle::describe_move(&group, None, &pids) {
            outln!("{l}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    lifecycle::move_pids(&group, None, &pids, &ProcTable::default())?;
    Ok(ExitCode::SUCCESS)
}

fn freeze(a: &NameArgs, frozen: bool, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let path = GroupPath::parse(&a.name)?;
    let h = hierarchy()?;
    let group = open(&h, &path)?;
    if a.dry_run {
        let mut r = rein::Resources::new();
        r.freeze = Some(frozen);
        let (plan, _) = Group::plan(&h, &path, &Spec { resources: r, ..Spec::default() }, false)?;
        out!("{}", plan.display(&h));
        outln!("# then wait until the kernel reports the group {}", if frozen { "frozen" } else { "thawed" });
        return Ok(ExitCode::SUCCESS);
    }
    group.freeze(frozen)?;
    Ok(ExitCode::SUCCESS)
}

/// Parses a signal: a number, or a name with or without SIG (TERM, SIGKILL, hup).
pub fn parse_signal(s: &str) -> rein::Result<i32> {
    const NAMES: [(&str, i32); 14] = [
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("KILL", libc::SIGKILL),
        ("USR1", libc::SIGUSR1),
        ("USR2", libc::SIGUSR2),
        ("TERM", libc::SIGTERM),
        ("CONT", libc::SIGCONT),
        ("STOP", libc::SIGSTOP),
        ("TSTP", libc::SIGTSTP),
        ("ALRM", libc::SIGALRM),
        ("PIPE", libc::SIGPIPE),
        ("WINCH", libc::SIGWINCH),
        ("ABRT", libc::SIGABRT),
    ];
    if let Ok(n) = s.parse::<i32>()
        && (1..=64).contains(&n)
    {
        return Ok(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    NAMES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).ok_or_else(|| {
        Error::invalid("--signal", s, "expected a signal name (TERM, HUP, INT, KILL, USR1, ...) or number 1-64")
    })
}

fn kill(a: &KillArgs, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let path = GroupPath::parse(&a.name)?;
    let signal = a.signal.as_deref().map(parse_signal).transpose()?;
    let h = hierarchy()?;
    let group = open(&h, &path)?;
    let pids = group.all_procs()?;
    if a.dry_run {
        let what = match signal {
            None => "SIGKILL (through cgroup.kill where the group has it)".to_string(),
            Some(s) => format!("signal {s}"),
        };
        outln!(
            "# send {what} to {}",
            if pids.is_empty() { "no process".into() } else { procfs::describe_pids(&pids, &ProcTable::default()) }
        );
        return Ok(ExitCode::SUCCESS);
    }
    match signal {
        None | Some(libc::SIGKILL) => lifecycle::kill_all(&group)?,
        Some(s) => {
            lifecycle::signal_all(&group, s)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn rm(a: &RmArgs, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let path = GroupPath::parse(&a.name)?;
    let h = hierarchy()?;
    let group = open(&h, &path)?;
    let removal = lifecycle::plan_remove(&group, RemoveOptions { kill: a.kill, recursive: a.recursive })?;
    if a.dry_run {
        out!("{removal}");
        return Ok(ExitCode::SUCCESS);
    }
    lifecycle::remove(&group, &removal)?;
    Ok(ExitCode::SUCCESS)
}

fn gc(a: &GcArgs, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let under = a.under.as_deref().map(GroupPath::parse).transpose()?;
    let h = hierarchy()?;
    if let Some(u) = &under {
        open(&h, u)?;
    }
    let procs = ProcTable::default();
    let mut entries = gc::plan(&h, under.as_ref(), &procs)?;
    if !a.dry_run {
        entries = gc::execute(&h, entries);
    }
    let failed = entries.iter().any(|e| e.error.is_some());
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        for e in &entries {
            let owner = match (e.owner, e.pid) {
                (Some(Owner::Gone), Some(pid)) => format!("rein pid {pid} is gone"),
                (Some(Owner::Reused), Some(pid)) => format!("pid {pid} now belongs to another process"),
                (Some(Owner::Running), Some(pid)) => format!("rein pid {pid} is running"),
                _ => String::new(),
            };
            let what = match e.kind {
                GcKind::Record => {
                    format!("creation record {} on {}", e.record.as_deref().unwrap_or_default(), e.directory.display())
                }
                GcKind::Unfinished => format!("{} (unmarked: rein was creating it)", e.directory.display()),
                _ => e.directory.display().to_string(),
            };
            let with = match e.below.len() {
                0 => String::new(),
                1 => " and the group beneath it".into(),
                n => format!(" and the {n} groups beneath it"),
            };
            match (&e.error, e.remove, a.dry_run) {
                (Some(err), _, _) => outln!("failed  {what}: {err}"),
                (None, true, true) => outln!("would remove  {what}{with} ({owner})"),
                (None, true, false) => outln!("removed  {what}{with} ({owner})"),
                (None, false, _) => outln!("kept  {what}: {}", e.kept_because.as_deref().unwrap_or("")),
            }
        }
    }
    Ok(if failed { ExitCode::from(crate::exit::EXIT_FAILURE) } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("TERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("sigterm").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), 9);
        for bad in ["0", "65", "TERMINATE", "", "-1"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets() {
        let g = |name: Option<&str>, specs: &[&str]| GroupArg {
            name: name.map(String::from),
            group: specs.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(target(&g(Some("web"), &[])).unwrap().0.as_str(), "web");
        let (p, s) = target(&g(None, &["memory:a", "cpu:a"])).unwrap();
        assert_eq!((p.as_str(), s.unwrap().len()), ("a", 2));
        assert!(target(&g(None, &["memory:a", "cpu:b"])).is_err());
        assert!(target(&g(Some("a"), &["memory:a"])).is_err());
        assert!(target(&g(None, &[])).is_err());
    }
}
