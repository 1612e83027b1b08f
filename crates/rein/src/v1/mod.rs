//! cgroup v1: what each controller's interface files are, how the model is written to
//! them, and how accounting and limits are read back, a file per controller.
//!
//! In v1 each controller lives in its own hierarchy (or a few share one), so a group is
//! one directory per hierarchy. File names follow Documentation/admin-guide/cgroup-v1/.
//! The rest of the library reaches this module through [`crate::backend`];
//! [`crate::compat::raw`] names files of both versions (the name table) and so may too.

use std::collections::BTreeSet;

use crate::cgroupfs::FileSource;
use crate::error::Result;
use crate::hierarchy::Controller;
use crate::plan::Write;
use crate::resources::Resources;
use crate::stats::{Fields, Stats};

mod blkio;
mod core;
mod cpu;
mod cpuacct;
mod cpuset;
mod devices;
mod freezer;
mod memory;
mod net;
mod pids;
pub(crate) mod plan;

pub use self::core::*;
pub use blkio::*;
pub use cpu::*;
pub use cpuacct::*;
pub use cpuset::*;
pub use devices::*;
pub use freezer::*;
pub use memory::*;
pub use net::*;
pub use pids::*;

/// The writes that apply `r` to a v1 group in a hierarchy holding the controllers `on`:
/// cpuset first (a placement the parent cannot grant fails before anything changes),
/// then memory, cpu, blkio, pids, devices.
///
/// Fails before anything is written when `r` holds a setting v1 cannot express.
pub fn limit_writes(r: &Resources, on: &BTreeSet<Controller>, current: Current<'_>) -> Result<Vec<Write>> {
    let mut w = Vec::new();
    if on.contains(&Controller::Cpuset) {
        cpuset::writes(r, &mut w);
    }
    if on.contains(&Controller::Memory) {
        memory::writes(r, current, &mut w)?;
    }
    if on.contains(&Controller::Cpu) {
        cpu::writes(r, current, &mut w);
    }
    if on.contains(&Controller::Io) {
        blkio::writes(r, &mut w);
    }
    if on.contains(&Controller::Pids) {
        pids::writes(r, &mut w);
    }
    if on.contains(&Controller::Devices) {
        devices::writes(r, current, &mut w);
    }
    Ok(w)
}

/// Reads the accounting of the v1 controllers in `on` from this hierarchy's directory of
/// the group into `s`. Files the kernel does not provide leave their fields `None`.
///
/// `dir` is any [`FileSource`]: a [`GroupDir`](crate::cgroupfs::GroupDir) ([`crate::Group::stats`],
/// `rein stat`, the recorder) or the open files a [`crate::tree::Tree`] keeps (`rein top`,
/// `rein exporter`).
pub fn read_stats<D: FileSource + ?Sized>(dir: &D, on: &BTreeSet<Controller>, s: &mut Stats) -> Result<()> {
    if on.contains(&Controller::Cpuacct) {
        cpuacct::read(dir, s)?;
    }
    if on.contains(&Controller::Cpu) {
        cpu::read(dir, s)?;
    }
    if on.contains(&Controller::Memory) {
        memory::read(dir, s)?;
    }
    if on.contains(&Controller::Pids) {
        pids::read(dir, s)?;
    }
    if on.contains(&Controller::Io) {
        blkio::read(dir, s)?;
    }
    if on.contains(&Controller::Freezer) {
        freezer::read(dir, s)?;
    }
    Ok(())
}

/// The files [`read_stats`] reads for `fields` (those of every controller: a file of a
/// controller this hierarchy lacks is absent, and read as such).
pub(crate) fn stat_files(fields: Fields) -> Vec<&'static str> {
    let mut out = Vec::new();
    for table in [
        cpuacct::STAT_FILES,
        cpu::STAT_FILES,
        memory::STAT_FILES,
        pids::STAT_FILES,
        blkio::STAT_FILES,
        freezer::STAT_FILES,
    ] {
        fields.files_from(table, &mut out);
    }
    out
}

/// The limit files `rein show` lists for a v1 directory carrying the controllers `on`.
pub fn limit_files(on: &BTreeSet<Controller>) -> Vec<&'static str> {
    let mut out = Vec::new();
    for (c, files) in [
        (Controller::Memory, memory::LIMIT_FILES),
        (Controller::Cpu, cpu::LIMIT_FILES),
        (Controller::Cpuset, cpuset::LIMIT_FILES),
        (Controller::Io, blkio::LIMIT_FILES),
        (Controller::Pids, pids::LIMIT_FILES),
        (Controller::Freezer, freezer::LIMIT_FILES),
        (Controller::Devices, devices::LIMIT_FILES),
    ] {
        if on.contains(&c) {
            out.extend_from_slice(files);
        }
    }
    out
}

/// The model's limits from the v1 limit files `get` finds (by name; absent files leave
/// their fields alone).
pub fn read_back(get: &dyn Fn(&str) -> Option<String>, r: &mut Resources) -> Result<()> {
    memory::read_back(get, r)?;
    cpu::read_back(get, r)?;
    cpuset::read_back(get, r)?;
    blkio::read_back(get, r)?;
    pids::read_back(get, r)?;
    freezer::read_back(get, r);
    devices::read_back(get, r)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::CpuMax;
    use crate::units::{Bytes, DeviceNumber, Limit, Weight};

    fn show(w: &[Write]) -> Vec<String> {
        w.iter().map(|w| format!("{} < {}", w.file, w.value)).collect()
    }

    fn on(c: &[Controller]) -> BTreeSet<Controller> {
        c.iter().copied().collect()
    }

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn new_group_memory_and_swap() {
        let r = Resources::new().memory_max(Bytes::mib(20)).swap_max(Bytes(0));
        let w = limit_writes(&r, &on(&[Controller::Memory]), &none).unwrap();
        assert_eq!(show(&w), ["memory.limit_in_bytes < 20971520", "memory.memsw.limit_in_bytes < 20971520"]);
    }

    #[test]
    fn raising_a_limit_writes_memsw_first() {
        let r = Resources::new().memory_max(Bytes::mib(40)).swap_max(Bytes::mib(10));
        let cur = |f: &str| (f == MEMORY_LIMIT || f == MEMORY_MEMSW_LIMIT).then(|| "20971520\n".to_string());
        let w = limit_writes(&r, &on(&[Controller::Memory]), &cur).unwrap();
        assert_eq!(show(&w), ["memory.memsw.limit_in_bytes < 52428800", "memory.limit_in_bytes < 41943040"]);
    }

    #[test]
    fn swap_alone_uses_the_current_limit() {
        let r = Resources::new().swap_max(Bytes::mib(10));
        let cur = |f: &str| (f == MEMORY_LIMIT).then(|| "20971520\n".to_string());
        let w = limit_writes(&r, &on(&[Controller::Memory]), &cur).unwrap();
        assert_eq!(show(&w), ["memory.memsw.limit_in_bytes < 31457280"]);
        assert!(limit_writes(&r, &on(&[Controller::Memory]), &none).is_err());
    }

    /// A memory limit alone keeps the group's swap: memsw moves with it, in the order
    /// that keeps memsw >= limit; a limit of max takes memsw to max; without a memsw
    /// limit (or swap accounting) only the limit is written.
    #[test]
    fn a_new_memory_limit_keeps_the_swap() {
        // 100M of memory and 50M of swap.
        let cur = |f: &str| match f {
            MEMORY_LIMIT => Some("104857600\n".to_string()),
            MEMORY_MEMSW_LIMIT => Some("157286400\n".to_string()),
            _ => None,
        };
        let lower = Resources::new().memory_max(Bytes::mib(20));
        let w = limit_writes(&lower, &on(&[Controller::Memory]), &cur).unwrap();
        assert_eq!(show(&w), ["memory.limit_in_bytes < 20971520", "memory.memsw.limit_in_bytes < 73400320"]);
        let raise = Resources::new().memory_max(Bytes::mib(200));
        let w = limit_writes(&raise, &on(&[Controller::Memory]), &cur).unwrap();
        assert_eq!(show(&w), ["memory.memsw.limit_in_bytes < 262144000", "memory.limit_in_bytes < 209715200"]);
        let max = Resources::new().memory_max(Limit::Max);
        let w = limit_writes(&max, &on(&[Controller::Memory]), &cur).unwrap();
        assert_eq!(show(&w), ["memory.memsw.limit_in_bytes < -1", "memory.limit_in_bytes < -1"]);
        let unlimited_swap = |f: &str| match f {
            MEMORY_LIMIT => Some("104857600\n".to_string()),
            MEMORY_MEMSW_LIMIT => Some("9223372036854771712\n".to_string()),
            _ => None,
        };
        let w = limit_writes(&lower, &on(&[Controller::Memory]), &unlimited_swap).unwrap();
        assert_eq!(show(&w), ["memory.limit_in_bytes < 20971520"]);
        let w = limit_writes(&lower, &on(&[Controller::Memory]), &none).unwrap();
        assert_eq!(show(&w), ["memory.limit_in_bytes < 20971520"]);
    }

    /// Shares given as shares reach cpu.shares as given, at both ends of the kernel's
    /// range (as a weight, 2 would be 1 and write back as 10), and read back the same.
    #[test]
    fn shares_are_written_as_given_and_read_back_exactly() {
        for n in [2, 3, 100, 1000, 1024, 1030, 102_400, 262_144] {
            let r = Resources::new().cpu_shares(crate::units::Shares::new(n).unwrap());
            let w = limit_writes(&r, &on(&[Controller::Cpu]), &none).unwrap();
            assert_eq!(show(&w), [format!("cpu.shares < {n}")]);
            let mut back = Resources::new();
            read_back(&|f: &str| (f == CPU_SHARES).then(|| format!("{n}\n")), &mut back).unwrap();
            assert_eq!(back.cpu, r.cpu, "{n}");
        }
    }

    #[test]
    fn cpu_quota_and_shares() {
        let mut r = Resources::new().cpu_weight(Weight::new(50).unwrap());
        r.cpu.max = Some(CpuMax::percent(35.0, 100_000).unwrap());
        let w = limit_writes(&r, &on(&[Controller::Cpu]), &none).unwrap();
        assert_eq!(show(&w), ["cpu.shares < 512", "cpu.cfs_period_us < 100000", "cpu.cfs_quota_us < 35000"]);
        r.cpu.max = Some(CpuMax::percent(50.0, 20_000).unwrap());
        let cur = |f: &str| (f == CPU_CFS_PERIOD).then(|| "100000\n".to_string());
        let w = limit_writes(&r, &on(&[Controller::Cpu]), &cur).unwrap();
        assert_eq!(show(&w)[1..], ["cpu.cfs_quota_us < 10000", "cpu.cfs_period_us < 20000"]);
    }

    #[test]
    fn io_throttle() {
        let mut r = Resources::new();
        let mut io = crate::resources::IoMax::new(DeviceNumber { major: 7, minor: 0 });
        io.wbps = Some(Limit::Value(1 << 20));
        io.riops = Some(Limit::Max);
        r.io.max.push(io);
        r.io.weight = Some(Weight::new(50).unwrap());
        let w = limit_writes(&r, &on(&[Controller::Io]), &none).unwrap();
        assert_eq!(
            show(&w),
            [
                "blkio.bfq.weight < 50",
                "blkio.throttle.write_bps_device < 7:0 1048576",
                "blkio.throttle.read_iops_device < 7:0 0"
            ]
        );
    }

    #[test]
    fn oom_kill_disable_writes_oom_control() {
        let mut r = Resources::new();
        r.memory.oom_kill_disable = Some(true);
        let w = limit_writes(&r, &on(&[Controller::Memory]), &none).unwrap();
        assert_eq!(show(&w), ["memory.oom_control < 1"]);
    }

    #[test]
    fn v2_only_settings_are_refused_with_the_closest_equivalent() {
        let e =
            limit_writes(&Resources::new().memory_high(Bytes::mib(1)), &on(&[Controller::Memory]), &none).unwrap_err();
        assert!(e.to_string().contains("memory.high is not supported on cgroup v1"), "{e}");
        assert!(e.to_string().contains("memory.limit_in_bytes"), "{e}");
        let mut r = Resources::new();
        r.memory.oom_group = Some(true);
        assert!(limit_writes(&r, &on(&[Controller::Memory]), &none).is_err());
        // Not this hierarchy's controller: nothing to say.
        assert!(
            limit_writes(&Resources::new().memory_high(Bytes(1)), &on(&[Controller::Cpu]), &none).unwrap().is_empty()
        );
    }
}
