//! v1 cpuacct: CPU usage, total and split into user and system (nanoseconds).

use crate::cgroupfs::{FileSource, format};
use crate::error::Result;
use crate::stats::{Field, Stats};

/// cpuacct: total usage (ns).
pub const CPUACCT_USAGE: &str = "cpuacct.usage";
/// cpuacct: user time (ns).
pub const CPUACCT_USAGE_USER: &str = "cpuacct.usage_user";
/// cpuacct: system time (ns).
pub const CPUACCT_USAGE_SYS: &str = "cpuacct.usage_sys";
/// cpuacct: user and system time (ns) per CPU, one file for both (since 4.11).
pub const CPUACCT_USAGE_ALL: &str = "cpuacct.usage_all";
/// cpuacct: user and system time in USER_HZ ticks.
pub const CPUACCT_STAT: &str = "cpuacct.stat";
/// Which file feeds which field of [`Stats`]: usage alone is one file; user and system
/// time come from `usage_all` where the kernel has it (4.11+), else one file each.
pub(super) const STAT_FILES: &[(Field, &[&str])] = &[
    (Field::CpuUsage, &[CPUACCT_USAGE]),
    (Field::CpuUser, &[CPUACCT_USAGE_ALL, CPUACCT_USAGE_USER]),
    (Field::CpuSystem, &[CPUACCT_USAGE_ALL, CPUACCT_USAGE_SYS]),
];

/// The group's CPU time so far, µs (`cpuacct.usage`, ns).
pub(crate) fn cpu_usage_usec(m: &crate::cgroupfs::Mount, g: &crate::cgroupfs::GroupPath) -> Result<Option<u64>> {
    let t = m.read(g, CPUACCT_USAGE)?;
    Ok(Some(format::single_u64(CPUACCT_USAGE, &t)? / 1000))
}

pub(super) fn read(dir: &(impl FileSource + ?Sized), s: &mut Stats) -> Result<()> {
    let num =
        |file: &str| -> Result<Option<u64>> { dir.read_opt(file)?.map(|t| format::single_u64(file, &t)).transpose() };
    s.cpu.usage_usec = num(CPUACCT_USAGE)?.map(|ns| ns / 1000);
    // One file for user and system where the kernel has it (4.11+), else two.
    if let Some(t) = dir.read_opt(CPUACCT_USAGE_ALL)? {
        let (user, system) = format::v1_cpuacct_usage_all(CPUACCT_USAGE_ALL, &t)?;
        s.cpu.user_usec = Some(user / 1000);
        s.cpu.system_usec = Some(system / 1000);
    } else {
        s.cpu.user_usec = num(CPUACCT_USAGE_USER)?.map(|ns| ns / 1000);
        s.cpu.system_usec = num(CPUACCT_USAGE_SYS)?.map(|ns| ns / 1000);
    }
    Ok(())
}
