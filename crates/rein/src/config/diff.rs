//! What an apply would do, per group: the [`Diff`] that `rein diff` prints (and `rein
//! apply` after it applied), computed from the one plan and the removals
//! ([`super::apply::plan`]): per group whether it is created, changed or unchanged, and
//! per interface file the value now and the value written.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::resolve::Resolved;
use super::scope::full;
use crate::cgroupfs::GroupPath;
use crate::hierarchy::Hierarchy;
use crate::lifecycle::Removal;
use crate::mark::Mark;
use crate::plan::{Action, Plan};
use crate::procfs::{ProcTable, describe_pids};

/// What happens to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Created (with its limits).
    Create,
    /// Limits changed live.
    Change,
    /// Already as the file says.
    Unchanged,
}

/// One interface file that changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    /// The interface file.
    pub file: String,
    /// Its path.
    pub path: PathBuf,
    /// The value now (absent for a new group, or a file rein does not read back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The value written.
    pub new: String,
}

/// One group in a [`Diff`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupDiff {
    /// The group (`/dev/db`).
    pub group: String,
    /// Declared in the file (else an ancestor the plan touches).
    pub declared: bool,
    /// What happens.
    pub action: Verdict,
    /// The files written, in order.
    pub files: Vec<FileDiff>,
}

/// A group to be removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoveDiff {
    /// The group.
    pub group: String,
    /// Its directories.
    pub directories: Vec<PathBuf>,
    /// Processes killed first (only with `kill`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kill: Vec<u32>,
}

impl From<&Removal> for RemoveDiff {
    fn from(r: &Removal) -> RemoveDiff {
        RemoveDiff { group: r.group().to_string(), directories: r.directories.clone(), kill: r.kill.clone() }
    }
}

/// What an apply would do, per group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// The mark of the file's groups (`config id=...`).
    pub owner: String,
    /// Declared groups (every one) and ancestors the plan touches.
    pub groups: Vec<GroupDiff>,
    /// Groups removed (`--prune`, `down`).
    pub remove: Vec<RemoveDiff>,
    /// Groups this file made that it no longer declares, kept without `--prune`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<String>,
}

impl Diff {
    /// True when applying changes nothing.
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.action == Verdict::Unchanged) && self.remove.is_empty()
    }

    /// How many declared groups get each verdict: (create, change, unchanged).
    pub fn counts(&self) -> (usize, usize, usize) {
        let d = self.groups.iter().filter(|g| g.declared);
        let mut c = (0, 0, 0);
        for g in d {
            match g.action {
                Verdict::Create => c.0 += 1,
                Verdict::Change => c.1 += 1,
                Verdict::Unchanged => c.2 += 1,
            }
        }
        c
    }
}

fn flat(v: &str) -> String {
    v.trim_end().lines().map(str::trim).collect::<Vec<_>>().join("; ")
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for g in self.groups.iter().filter(|g| g.action != Verdict::Unchanged) {
            let (sign, note) = match (g.action, g.declared) {
                (Verdict::Create, true) => ('+', ""),
                (Verdict::Create, false) => ('+', "  (parent)"),
                (_, true) => ('~', ""),
                (_, false) => ('~', "  (parent)"),
            };
            writeln!(f, "{sign} {}{note}", g.group)?;
            let width = g.files.iter().map(|x| x.file.len()).max().unwrap_or(0);
            for x in &g.files {
                match &x.old {
                    Some(old) => writeln!(f, "    {:<width$}  {} -> {}", x.file, flat(old), x.new)?,
                    None => writeln!(f, "    {:<width$}  {}", x.file, x.new)?,
                }
            }
        }
        for r in &self.remove {
            let kill = if r.kill.is_empty() {
                String::new()
            } else {
                format!("  (killing {})", describe_pids(&r.kill, &ProcTable::default()))
            };
            writeln!(f, "- {}{kill}", r.group)?;
        }
        for s in &self.stale {
            writeln!(f, "  {s}  (no longer in the file; kept: apply --prune removes it)")?;
        }
        let (c, ch, u) = self.counts();
        if self.is_empty() {
            writeln!(f, "no change: {u} group{} as the file says", if u == 1 { "" } else { "s" })
        } else {
            writeln!(f, "{c} to create, {ch} to change, {u} unchanged, {} to remove", self.remove.len())
        }
    }
}

/// The diff of a plan and its removals; `stale` are the file's groups it no longer declares
/// (kept without `--prune`).
pub(super) fn describe(
    h: &Hierarchy,
    plan: &Plan,
    resolved: &Resolved,
    base: &GroupPath,
    removals: &[Removal],
    stale: &[GroupPath],
    id: u64,
) -> Diff {
    let mut groups: Vec<GroupDiff> = Vec::new();
    let declared: Vec<GroupPath> = resolved.groups.iter().filter_map(|d| full(base, d).ok()).collect();
    for d in &declared {
        groups.push(GroupDiff { group: d.to_string(), declared: true, action: Verdict::Unchanged, files: Vec::new() });
    }
    fn entry(groups: &mut Vec<GroupDiff>, g: &GroupPath) -> usize {
        let name = if g.is_root() { "/".to_string() } else { g.to_string() };
        match groups.iter().position(|x| x.group == name) {
            Some(i) => i,
            None => {
                groups.push(GroupDiff { group: name, declared: false, action: Verdict::Unchanged, files: Vec::new() });
                groups.len() - 1
            }
        }
    }
    for a in plan.actions() {
        match a {
            Action::Mkdir { group, .. } => {
                let i = entry(&mut groups, group);
                groups[i].action = Verdict::Create;
            }
            Action::Write { place, group, write, previous, .. } => {
                let i = entry(&mut groups, group);
                if groups[i].action == Verdict::Unchanged {
                    groups[i].action = Verdict::Change;
                }
                // For a per-device file, the old line of the device written (what a rollback
                // would write back), not the whole file.
                let old = previous.as_ref().map(|p| crate::cgroupfs::format::old_lines(&write.file, &write.value, p));
                groups[i].files.push(FileDiff {
                    file: write.file.to_string(),
                    path: place.mount(h).file_path(group, &write.file),
                    old: old.map(|o| o.join("\n")),
                    new: write.value.clone(),
                });
            }
            Action::Program { place, group, program } => {
                let i = entry(&mut groups, group);
                if groups[i].action == Verdict::Unchanged {
                    groups[i].action = Verdict::Change;
                }
                groups[i].files.push(FileDiff {
                    file: format!("BPF program {}", program.name),
                    path: place.mount(h).dir_path(group),
                    old: program.previous.as_ref().map(|_| "(rein's earlier program)".to_string()),
                    new: program.describe.clone(),
                });
            }
            Action::Net { place, group, config, previous } => {
                let i = entry(&mut groups, group);
                if groups[i].action == Verdict::Unchanged {
                    groups[i].action = Verdict::Change;
                }
                groups[i].files.push(FileDiff {
                    file: "network (BPF programs)".to_string(),
                    path: place.mount(h).dir_path(group),
                    old: previous.as_ref().map(ToString::to_string),
                    new: config.to_string(),
                });
            }
            // rein.toml sets no owners or modes (cgconfigparser's perm does).
            Action::Mark { .. } | Action::Permissions { .. } => {}
        }
    }
    // Parents before children.
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    Diff {
        owner: Mark::Config { id }.value(),
        groups,
        remove: removals.iter().map(RemoveDiff::from).collect(),
        stale: stale.iter().map(|g| g.to_string()).collect(),
    }
}
