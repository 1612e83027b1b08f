//! `rein apply`, `diff`, `down` and `validate`: rein.toml files (rein::config).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use rein::config::apply::{self, Options};
use rein::config::down;
use rein::config::load::{self, Loaded};
use rein::config::resolve::Context;
use rein::config::start::{self, Started};
use rein::{Error, GroupPath, Hierarchy};

use crate::cli::{ApplyArgs, DiffArgs, DownArgs, FileArgs, SnapshotArgs, ValidateArgs};

type Detect<'a> = &'a dyn Fn() -> anyhow::Result<Arc<Hierarchy>>;

/// Loads and checks the file; a file with mistakes prints every one (located) and fails.
pub(super) fn read(file: &std::path::Path, json: bool) -> anyhow::Result<Loaded> {
    match load::load(file, &Context::host()) {
        Ok(l) => Ok(l),
        Err(Error::Config(d)) => {
            if json {
                outln!("{}", serde_json::json!({ "file": d.file, "valid": false, "errors": d.errors }));
            } else {
                eout!("{d}");
            }
            Err(Error::Config(d).into())
        }
        Err(e) => Err(e.into()),
    }
}

fn options(f: &FileArgs, prune: bool, kill: bool) -> anyhow::Result<Options> {
    let prefix = f.parent.as_deref().map(GroupPath::parse).transpose()?;
    Ok(Options { prefix, prune, kill })
}

/// A refusal found while planning, shown at its place in the file.
fn refused(loaded: &Loaded, r: apply::Refused) -> anyhow::Error {
    if !r.at.is_empty() {
        eout!("{}", loaded.locate(&r.problem()));
    }
    r.error.into()
}

/// `rein validate FILE`.
pub fn validate(a: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let loaded = read(&a.file, a.json)?;
    let parent = loaded.resolved.parent.clone().unwrap_or_default();
    let groups: Vec<String> = loaded
        .resolved
        .groups
        .iter()
        .map(|g| if parent.is_root() { g.path.to_string() } else { format!("{parent}/{}", g.path.as_str()) })
        .collect();
    if a.json {
        outln!("{}", serde_json::json!({ "file": a.file, "valid": true, "groups": groups, "errors": [] }));
    } else {
        let n = groups.len();
        outln!("{}: ok, {n} group{}: {}", a.file.display(), if n == 1 { "" } else { "s" }, groups.join(" "));
    }
    Ok(ExitCode::SUCCESS)
}

/// `rein snapshot [GROUP...]`: everything is read first, then the file is written at
/// once, so a mistake leaves no file behind.
pub fn snapshot(a: &SnapshotArgs, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let parent = a.parent.as_deref().map(GroupPath::parse).transpose()?.unwrap_or_default();
    let groups = a.groups.iter().map(|g| GroupPath::parse(g)).collect::<Result<Vec<_>, _>>()?;
    let h = hierarchy()?;
    let config = rein::config::snapshot::snapshot(&h, &parent, &groups)?;
    let n = count(&config.groups);
    let body = rein::config::snapshot::to_toml(&config)?;
    let text = format!(
        "# rein snapshot of {}: {n} group{}. 'rein apply' of this file makes {} with these limits.\n\n{body}",
        if parent.is_root() { "every group rein made".to_string() } else { format!("the groups beneath {parent}") },
        if n == 1 { "" } else { "s" },
        if n == 1 { "it" } else { "them" },
    );
    match &a.output {
        None => out!("{text}"),
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}; give -o a file in a writable directory", path.display()))?,
    }
    Ok(ExitCode::SUCCESS)
}

fn count(groups: &std::collections::BTreeMap<String, rein::config::model::GroupConfig>) -> usize {
    groups.values().map(|g| 1 + count(&g.groups)).sum()
}

/// `rein diff FILE`.
pub fn diff(a: &DiffArgs, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let loaded = read(&a.file.file, a.json)?;
    let opts = options(&a.file, a.prune, true)?;
    let h = hierarchy()?;
    let changes = apply::plan(&h, &loaded.resolved, &loaded.owner, &opts).map_err(|r| refused(&loaded, r))?;
    let changed = !changes.diff.is_empty();
    if a.json {
        let mut v = serde_json::to_value(&changes.diff)?;
        v["changed"] = changed.into();
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        out!("{}", changes.diff);
    }
    // `git diff --exit-code`: 1 says "changes pending" (an error stays 125).
    Ok(if a.exit_code && changed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// `rein apply FILE`.
pub fn apply(a: &ApplyArgs, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let loaded = read(&a.file.file, a.json)?;
    let opts = options(&a.file, a.prune, a.kill)?;
    let h = hierarchy()?;
    // A real apply plans under the change locks of the groups it writes to (held until
    // `changes` goes); a dry run only reads.
    let changes = if a.dry_run {
        apply::plan(&h, &loaded.resolved, &loaded.owner, &opts)
    } else {
        apply::plan_locked(&h, &loaded.resolved, &loaded.owner, &opts)
    }
    .map_err(|r| refused(&loaded, r))?;
    let commands = if a.start { start::commands(&loaded.resolved, &opts)? } else { Vec::new() };
    // A command that cannot start (no such program, one that cannot be run, a log that
    // cannot be opened) fails the apply before anything is written.
    for (path, d) in &commands {
        if let Err((field, e)) = start::check(d) {
            let mut at = d.at.clone();
            at.push(field.to_string());
            if field == "command" {
                at.push("0".to_string());
            }
            let p = rein::config::resolve::Problem::value(&at, format!("{e} (to start in {path})"));
            eout!("{}", loaded.locate(&p));
            return Err(e.into());
        }
    }
    if a.dry_run && a.json {
        let actions: Vec<String> = changes.display(&h).lines().map(String::from).collect();
        outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "diff": changes.diff, "actions": actions }))?);
        return Ok(ExitCode::SUCCESS);
    }
    if a.dry_run {
        out!("{}", changes.display(&h));
        for (path, d) in &commands {
            outln!(
                "# start in {path} unless it holds processes: {}",
                d.command.as_deref().unwrap_or_default().join(" ")
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Err(f) = apply::apply(&h, &changes) {
        let file = a.file.file.display();
        let context = match &f.left {
            apply::Left::Undone { kept } if kept.is_empty() => {
                format!("{file}: nothing applied (every change of this apply was undone)")
            }
            apply::Left::Undone { kept } => format!(
                "{file}: nothing applied (every change of this apply was undone, except controllers enabled in \
                 existing groups, which stay enabled: {})",
                kept.join(", ")
            ),
            apply::Left::NotUndone(left) => {
                format!("{file}: apply failed, and these of its changes could not be undone: {}", left.join("; "))
            }
            apply::Left::Applied => format!("{file}: applied, but removing a group the file dropped failed"),
        };
        return Err(anyhow::Error::from(f.error).context(context));
    }
    let mut started = Vec::new();
    for (path, d) in &commands {
        match start::start(&h, path, d) {
            Ok(s) => started.push(s),
            Err(e) => {
                // The checks above passed, so this is rare (fork refused, a file changed
                // meanwhile): say exactly what is left.
                let before: Vec<String> = started
                    .iter()
                    .filter_map(|s| match s {
                        Started::Started { group, pid } => Some(format!("{group} (pid {pid})")),
                        Started::Running { .. } => None,
                    })
                    .collect();
                let left = if before.is_empty() { String::new() } else { format!("; started: {}", before.join(", ")) };
                return Err(anyhow::Error::from(e).context(format!(
                    "cannot start the command of {path}; the groups of {} are applied{left}",
                    a.file.file.display()
                )));
            }
        }
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "diff": changes.diff, "started": started }))?);
        return Ok(ExitCode::SUCCESS);
    }
    out!("{}", changes.diff);
    for s in &started {
        match s {
            Started::Started { group, pid } => outln!("started in {group}: pid {pid}"),
            Started::Running { group, processes } => {
                outln!(
                    "not started in {group}: it holds {processes} process{} already",
                    if *processes == 1 { "" } else { "es" }
                )
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `rein down FILE`.
pub fn down(a: &DownArgs, hierarchy: Detect<'_>) -> anyhow::Result<ExitCode> {
    let loaded = read(&a.file.file, a.json)?;
    let opts = options(&a.file, false, a.kill)?;
    let h = hierarchy()?;
    let t = down::plan_down(&h, &loaded.resolved, &loaded.owner, &opts)?;
    if !a.dry_run {
        down::down(&h, &t)?;
    }
    if a.dry_run && !a.json {
        out!("{t}");
        return Ok(ExitCode::SUCCESS);
    }
    if a.json {
        let kept: Vec<_> = t.kept.iter().map(|(g, why)| serde_json::json!({ "group": g, "reason": why })).collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "dry_run": a.dry_run, "removed": t.describe(), "kept": kept })
            )?
        );
        return Ok(ExitCode::SUCCESS);
    }
    for g in t.groups() {
        outln!("removed {g}");
    }
    for (g, why) in &t.kept {
        outln!("kept {g}: {why}");
    }
    if t.groups().is_empty() && t.kept.is_empty() {
        outln!("nothing to remove: no group of this file exists");
    }
    Ok(ExitCode::SUCCESS)
}
