//! v1 cpuset: CPUs and memory nodes. A new cpuset group starts with both empty (unless
//! `cgroup.clone_children` is set), and a task cannot join it then (ENOSPC): the planner
//! copies them down into new groups (see [`super::plan`]).

use crate::error::{Error, Result};
use crate::plan::Write;
use crate::resources::Resources;
use crate::units::CpuList;

/// cpuset: CPUs. Empty in a new group unless `cgroup.clone_children` is set, and a task
/// cannot join while it is empty (ENOSPC), so rein always writes it.
pub const CPUSET_CPUS: &str = "cpuset.cpus";
/// cpuset: memory nodes; same rule as cpus.
pub const CPUSET_MEMS: &str = "cpuset.mems";
/// cpuset: CPUs actually usable.
pub const CPUSET_EFFECTIVE_CPUS: &str = "cpuset.effective_cpus";
/// cpuset: memory nodes actually usable.
pub const CPUSET_EFFECTIVE_MEMS: &str = "cpuset.effective_mems";
/// cpuset: whether the group's CPUs are its own (siblings may not share them); cgroup
/// v2's counterpart is `cpuset.cpus.partition` (1 is `root`, 0 `member`).
pub const CPUSET_CPU_EXCLUSIVE: &str = "cpuset.cpu_exclusive";
/// The limit files `rein show` lists.
pub(super) const LIMIT_FILES: &[&str] = &[CPUSET_CPUS, CPUSET_MEMS];

pub(super) fn writes(r: &Resources, w: &mut Vec<Write>) {
    if let Some(cpus) = &r.cpuset.cpus {
        w.push(Write::new(CPUSET_CPUS, cpus.to_string()));
    }
    if let Some(mems) = &r.cpuset.mems {
        w.push(Write::new(CPUSET_MEMS, mems.to_string()));
    }
}

pub(super) fn read_back(get: &dyn Fn(&str) -> Option<String>, r: &mut Resources) -> Result<()> {
    for (file, slot) in [(CPUSET_CPUS, &mut r.cpuset.cpus), (CPUSET_MEMS, &mut r.cpuset.mems)] {
        if let Some(t) = get(file) {
            let l = CpuList::parse(&t).map_err(|e| Error::parse(file, e))?;
            *slot = (!l.is_empty()).then_some(l);
        }
    }
    Ok(())
}
