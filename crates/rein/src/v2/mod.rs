//! cgroup v2: what each controller's interface files are, how the model is written to
//! them, and how accounting and limits are read back, a file per controller.
//!
//! File names and formats follow Documentation/admin-guide/cgroup-v2.rst. The rest of
//! the library reaches this module through [`crate::backend`]; [`crate::compat::raw`]
//! names files of both versions (the name table) and so may too.

use std::collections::BTreeSet;

use crate::cgroupfs::FileSource;
use crate::error::Result;
use crate::hierarchy::Controller;
use crate::plan::Write;
use crate::resources::Resources;
use crate::stats::{Fields, Stats};

mod core;
mod cpu;
mod cpuset;
pub(crate) mod devices;
mod io;
mod memory;
pub mod network;
mod pids;
pub(crate) mod plan;

pub use self::core::*;
pub use cpu::*;
pub use cpuset::*;
pub use io::*;
pub use memory::*;
pub use pids::*;

/// The writes that apply `r` to a v2 group, in order, for the controllers in `on`.
///
/// Order, as opencontainers/cgroups does it, and why:
/// - cpuset first: a placement the parent cannot grant fails before anything else changes;
/// - memory protections (min, low), then high before max: a lowered max never lands
///   while an old, larger high is meant to throttle first;
/// - cpu, io, pids: independent of each other.
///
/// Freezing is not a controller write; the planner appends it last.
pub fn limit_writes(r: &Resources, on: &BTreeSet<Controller>) -> Vec<Write> {
    let mut w = Vec::new();
    if on.contains(&Controller::Cpuset) {
        cpuset::writes(r, &mut w);
    }
    if on.contains(&Controller::Memory) {
        memory::writes(r, &mut w);
    }
    if on.contains(&Controller::Cpu) {
        cpu::writes(r, &mut w);
    }
    if on.contains(&Controller::Io) {
        io::writes(r, &mut w);
    }
    if on.contains(&Controller::Pids) {
        pids::writes(r, &mut w);
    }
    w
}

/// Refuses settings cgroup v2 cannot express, before anything is written.
pub fn check_supported(r: &Resources, on: &BTreeSet<Controller>) -> Result<()> {
    if on.contains(&Controller::Memory) {
        memory::check(r)?;
    }
    Ok(())
}

/// Reads the core accounting (cpu.stat, pressure, cgroup.events) and, for the
/// controllers in `on`, their files, from the group's directory into `s`. Each file is
/// read once; files the kernel does not provide leave their fields `None`.
///
/// `dir` is any [`FileSource`]: a [`GroupDir`](crate::cgroupfs::GroupDir) ([`crate::Group::stats`],
/// `rein stat`, the recorder) or the open files a [`crate::tree::Tree`] keeps (`rein top`,
/// `rein exporter`).
pub fn read_stats<D: FileSource + ?Sized>(dir: &D, on: &BTreeSet<Controller>, s: &mut Stats) -> Result<()> {
    self::core::read(dir, s)?;
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
        io::read(dir, s)?;
    }
    Ok(())
}

/// The files [`read_stats`] reads for `fields` (those of every controller: a file of a
/// controller the group lacks is absent, and read as such).
pub(crate) fn stat_files(fields: Fields) -> Vec<&'static str> {
    let mut out = Vec::new();
    for table in [self::core::STAT_FILES, cpu::STAT_FILES, memory::STAT_FILES, pids::STAT_FILES, io::STAT_FILES] {
        fields.files_from(table, &mut out);
    }
    out
}

/// The limit files `rein show` lists for a group carrying the controllers `on` (and
/// `cgroup.freeze`, which every group has).
pub fn limit_files(on: &BTreeSet<Controller>) -> Vec<&'static str> {
    let mut out = Vec::new();
    for (c, files) in [
        (Controller::Memory, memory::LIMIT_FILES),
        (Controller::Cpu, cpu::LIMIT_FILES),
        (Controller::Cpuset, cpuset::LIMIT_FILES),
        (Controller::Io, io::LIMIT_FILES),
        (Controller::Pids, pids::LIMIT_FILES),
    ] {
        if on.contains(&c) {
            out.extend_from_slice(files);
        }
    }
    out.push(CGROUP_FREEZE);
    out
}

/// The model's limits from the v2 limit files `get` finds (by name; absent files leave
/// their fields alone): `rein show`, and what a change is compared with.
pub fn read_back(get: &dyn Fn(&str) -> Option<String>, r: &mut Resources) -> Result<()> {
    memory::read_back(get, r)?;
    cpu::read_back(get, r)?;
    cpuset::read_back(get, r)?;
    io::read_back(get, r)?;
    pids::read_back(get, r)?;
    self::core::read_back(get, r);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{CpuMax, IoMax};
    use crate::units::{Bytes, CpuList, DeviceNumber, Limit, Weight};

    fn all() -> BTreeSet<Controller> {
        [Controller::Cpu, Controller::Cpuset, Controller::Memory, Controller::Io, Controller::Pids].into()
    }

    fn show(w: &[Write]) -> Vec<String> {
        w.iter().map(|w| format!("{} < {}", w.file, w.value)).collect()
    }

    /// Shares reach cgroup v2 through the one conversion (shares x 100 / 1024, rounded, clamped).
    #[test]
    fn shares_become_a_weight() {
        for (shares, weight) in [(2, 1), (512, 50), (1000, 98), (1024, 100), (262_144, 10_000)] {
            let r = Resources::new().cpu_shares(crate::units::Shares::new(shares).unwrap());
            assert_eq!(show(&limit_writes(&r, &all())), [format!("cpu.weight < {weight}")], "{shares}");
        }
    }

    #[test]
    fn writes_in_order() {
        let mut r = Resources::new()
            .memory_max(Bytes::gib(2))
            .memory_high(Bytes::mib(1536))
            .swap_max(Bytes(0))
            .cpu_weight(Weight::new(200).unwrap())
            .cpus(CpuList::parse("0-1").unwrap())
            .pids_max(64);
        r.cpu.max = Some(CpuMax::percent(300.0, 100_000).unwrap());
        r.io.weight = Some(Weight::new(50).unwrap());
        let mut io = IoMax::new(DeviceNumber { major: 7, minor: 0 });
        io.wbps = Some(Limit::Value(1 << 20));
        io.riops = Some(Limit::Max);
        r.io.max.push(io);
        assert_eq!(
            show(&limit_writes(&r, &all())),
            [
                "cpuset.cpus < 0-1",
                "memory.high < 1610612736",
                "memory.max < 2147483648",
                "memory.swap.max < 0",
                "cpu.weight < 200",
                "cpu.max < 300000 100000",
                "io.weight < default 50",
                "io.max < 7:0 wbps=1048576 riops=max",
                "pids.max < 64",
            ]
        );
    }

    #[test]
    fn oom_kill_disable_is_refused_with_the_alternative() {
        let mut r = Resources::new();
        r.memory.oom_kill_disable = Some(true);
        let e = check_supported(&r, &all()).unwrap_err().to_string();
        assert!(e.contains("not supported on cgroup v2") && e.contains("memory.high"), "{e}");
        check_supported(&r, &[Controller::Cpu].into()).unwrap();
        r.memory.oom_kill_disable = Some(false);
        check_supported(&r, &all()).unwrap();
    }

    #[test]
    fn only_controllers_given() {
        let r = Resources::new().memory_max(Limit::Max).pids_max(Limit::Max);
        assert_eq!(show(&limit_writes(&r, &[Controller::Pids].into())), ["pids.max < max"]);
        assert_eq!(show(&limit_writes(&r, &all())), ["memory.max < max", "pids.max < max"]);
    }
}
