//! v2 cpuset: which CPUs and memory nodes a group may use.

use crate::error::{Error, Result};
use crate::plan::Write;
use crate::resources::Resources;
use crate::units::CpuList;

/// cpuset controller.
pub const CPUSET_CPUS: &str = "cpuset.cpus";
/// cpuset memory nodes.
pub const CPUSET_MEMS: &str = "cpuset.mems";
/// CPUs actually granted by the parent.
pub const CPUSET_CPUS_EFFECTIVE: &str = "cpuset.cpus.effective";
/// Memory nodes actually granted.
pub const CPUSET_MEMS_EFFECTIVE: &str = "cpuset.mems.effective";
/// Whether the group is a partition root (`root`, `isolated`) or a `member`; cgroup v1's
/// counterpart is `cpuset.cpu_exclusive`.
pub const CPUSET_CPUS_PARTITION: &str = "cpuset.cpus.partition";
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
