//! Removing the file's groups: `rein down` ([`plan_down`], [`down`]), and the groups
//! `rein apply --prune` removes because the file no longer declares them
//! ([`super::apply::plan`] checks them here, [`super::apply::apply`] removes them here,
//! after its plan).
//!
//! Only directories with the file's mark go (`config id=...`); every refusal (a
//! populated group without `--kill`, a child group the file does not remove) is found
//! while planning, before anything is removed. Each group is one
//! [`lifecycle::Removal`], shown in a dry run as `rein rm` shows its own.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use super::diff::RemoveDiff;
use super::resolve::Resolved;
use super::scope::{Options, base_of, full, marked};
use crate::cgroupfs::GroupPath;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::hierarchy::Hierarchy;
use crate::lifecycle::{self, Removal};
use crate::mark::{Mark, config_id};
use crate::procfs::{ProcTable, describe_pids};

/// Checks and describes removing `paths` (deepest first): refuses a populated group
/// unless `kill`, and a group with a child that is not being removed too.
pub(super) fn removals(
    h: &Arc<Hierarchy>,
    paths: &[GroupPath],
    keep: &BTreeSet<GroupPath>,
    kill: bool,
) -> Result<Vec<Removal>> {
    let going: BTreeSet<&GroupPath> = paths.iter().collect();
    let mut out = Vec::new();
    let mut refusals = Vec::new();
    let arc = h.clone();
    for p in paths {
        let Ok(g) = Group::open(arc.clone(), p) else { continue };
        let foreign: Vec<String> = g
            .children()?
            .into_iter()
            .filter(|c| p.join(c).map(|c| !going.contains(&c) || keep.contains(&c)).unwrap_or(true))
            .collect();
        if !foreign.is_empty() {
            refusals.push(format!("{p} has child groups the file does not remove: {}", foreign.join(", ")));
            continue;
        }
        let pids = g.all_procs()?;
        if !pids.is_empty() && !kill {
            refusals.push(format!("{p} holds processes: {}", describe_pids(&pids, &ProcTable::default())));
            continue;
        }
        let directories = g.nodes().iter().map(|n| n.place.mount(h).dir_path(p)).collect();
        out.push(Removal { kill: pids, groups: vec![p.clone()], directories });
    }
    if !refusals.is_empty() {
        return Err(Error::state(
            format!("cannot remove {}", refusals.join("; ")),
            Some("stop the processes or move them out ('rein move'), or add --kill; nothing was changed".into()),
        ));
    }
    Ok(out)
}

/// Removes what [`removals`] checked, in order: each group's processes are killed first
/// when it was planned with `kill`; a group that gained processes since it was checked
/// without is refused (and nothing after it is removed).
pub(super) fn remove_all(h: &Arc<Hierarchy>, removals: &[Removal]) -> Result<()> {
    for r in removals {
        let Ok(g) = Group::open(h.clone(), r.group()) else { continue };
        if r.kill.is_empty() && !g.all_procs()?.is_empty() {
            return Err(Error::state(
                format!("group {} gained processes since it was checked", r.group()),
                Some("run again; nothing else was removed".into()),
            ));
        }
        lifecycle::remove(&g, r)?;
    }
    Ok(())
}

/// What `rein down` will remove, and what it keeps.
#[derive(Debug, Clone)]
pub struct Teardown {
    removals: Vec<Removal>,
    /// Groups kept, with the reason (declared but not made by this file; the file's
    /// parent still holding other groups).
    pub kept: Vec<(String, String)>,
}

impl Teardown {
    /// The groups removed, deepest first.
    pub fn groups(&self) -> Vec<String> {
        self.removals.iter().map(|r| r.group().to_string()).collect()
    }

    /// As a serializable list.
    pub fn describe(&self) -> Vec<RemoveDiff> {
        self.removals.iter().map(RemoveDiff::from).collect()
    }
}

impl fmt::Display for Teardown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.removals {
            r.fmt(f)?;
        }
        for (g, why) in &self.kept {
            writeln!(f, "# keep {g}: {why}")?;
        }
        Ok(())
    }
}

/// Plans removing every group the file made (its mark), deepest first. The file's
/// parent directories go too when nothing else is left in them; groups the file
/// declares but did not make stay.
pub fn plan_down(h: &Arc<Hierarchy>, resolved: &Resolved, owner: &str, opts: &Options) -> Result<Teardown> {
    let id = config_id(owner);
    let base = base_of(resolved, opts)?;
    let scope = opts.prefix.clone().unwrap_or_default();
    let mut all: Vec<GroupPath> = marked(h, &scope, Mark::Config { id })?.into_iter().collect();
    all.sort_by_key(|g| std::cmp::Reverse(g.as_str().matches('/').count()));
    let arc = h.clone();
    let mut kept = Vec::new();
    for d in &resolved.groups {
        let p = full(&base, d)?;
        if !all.contains(&p) && Group::open(arc.clone(), &p).is_ok() {
            kept.push((p.to_string(), "not made by this file (it existed before); remove it with 'rein rm'".into()));
        }
    }
    // The file's parent directories: only when nothing but the file's groups is in them.
    let parents: BTreeSet<GroupPath> = base.lineage().into_iter().filter(|g| all.contains(g)).collect();
    let going: BTreeSet<GroupPath> = all.iter().cloned().collect();
    let mut list = Vec::new();
    for g in &all {
        if parents.contains(g) {
            let others = Group::open(arc.clone(), g)
                .and_then(|grp| grp.children())
                .map(|c| {
                    c.into_iter().filter(|c| g.join(c).map(|c| !going.contains(&c)).unwrap_or(true)).collect::<Vec<_>>()
                })
                .unwrap_or_default();
            if !others.is_empty() {
                kept.push((g.to_string(), format!("it holds other groups too: {}", others.join(", "))));
                continue;
            }
        }
        list.push(g.clone());
    }
    let removals = removals(h, &list, &BTreeSet::new(), opts.kill)?;
    Ok(Teardown { removals, kept })
}

/// Removes what [`plan_down`] planned.
pub fn down(h: &Arc<Hierarchy>, t: &Teardown) -> Result<()> {
    remove_all(h, &t.removals)
}
