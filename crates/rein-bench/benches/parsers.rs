//! Microbenchmarks of the parsers and conversions on rein's hot paths, for regressions:
//! `cargo bench -p rein-bench` (divan; `-- --sample-count 1000` for tighter figures).
//!
//! - flags and units: every `rein run --memory 256M --cpu 20%` parses them;
//! - kernel formats: `rein stat`, `rein top` and the exporter parse memory.stat,
//!   cpu.stat, io.stat and the pressure files of every group at every refresh;
//! - mountinfo: every rein process detects the hierarchy from it;
//! - vocabularies: libcgroup `-r`, systemd `-p` and rein.toml into the one model;
//! - the model into files: the v2 writes of a typical limit set, and its validation.
//!
//! Inputs are real files (benches/data: memory.stat and mountinfo from this project's
//! hybrid host; v2 files shaped like kernel 6.18's).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use divan::{Bencher, black_box};
use rein::cgroupfs::{FileSource, format};
use rein::compat::raw::{self, Host};
use rein::compat::systemd::{self, HostFacts};
use rein::config::resolve::Context;
use rein::{Bytes, Controller, DeviceNumber, Error, Resources, Stats, Weight, units};

fn main() {
    divan::main();
}

const V1_MEMORY_STAT: &str = include_str!("data/v1-memory.stat");
const V2_MEMORY_STAT: &str = include_str!("data/v2-memory.stat");
const V2_CPU_STAT: &str = include_str!("data/v2-cpu.stat");
const V2_IO_STAT: &str = include_str!("data/v2-io.stat");
const V2_MEMORY_PRESSURE: &str = include_str!("data/v2-memory.pressure");
const MOUNTINFO: &str = include_str!("data/hybrid-mountinfo");

mod units_and_flags {
    use super::*;

    #[divan::bench(args = ["256M", "1.5G", "max", "9223372036854771712"])]
    fn size(s: &str) -> Result<u64, String> {
        units::parse_size(black_box(s))
    }

    #[divan::bench(args = ["20%", "150%", "0.5%"])]
    fn percent(s: &str) -> Result<u64, String> {
        units::parse_percent_micro(black_box(s))
    }

    #[divan::bench(args = ["0-1", "0,2,4-7,16-31"])]
    fn cpu_list(s: &str) -> Result<rein::CpuList, String> {
        rein::CpuList::parse(black_box(s))
    }
}

mod kernel_formats {
    use super::*;

    #[divan::bench]
    fn v2_memory_stat() -> rein::Result<BTreeMap<String, u64>> {
        format::flat_keyed("memory.stat", black_box(V2_MEMORY_STAT))
    }

    #[divan::bench]
    fn v1_memory_stat() -> rein::Result<BTreeMap<String, u64>> {
        format::flat_keyed("memory.stat", black_box(V1_MEMORY_STAT))
    }

    #[divan::bench]
    fn v2_cpu_stat() -> rein::Result<BTreeMap<String, u64>> {
        format::flat_keyed("cpu.stat", black_box(V2_CPU_STAT))
    }

    #[divan::bench]
    fn v2_io_stat() -> rein::Result<BTreeMap<DeviceNumber, BTreeMap<String, String>>> {
        format::nested_keyed("io.stat", black_box(V2_IO_STAT))
    }

    #[divan::bench]
    fn pressure() -> bool {
        format::pressure("memory.pressure", black_box(V2_MEMORY_PRESSURE)).is_ok()
    }

    #[divan::bench]
    fn cpu_max() -> bool {
        format::cpu_max("cpu.max", black_box("35000 100000\n")).is_ok()
    }

    #[divan::bench]
    fn mountinfo() -> usize {
        rein::hierarchy::parse_mountinfo(black_box(MOUNTINFO)).len()
    }

    /// What `rein stat`, `rein top` and the exporter do per v2 group and refresh: every
    /// statistic from the files' texts (the reading itself is the kernel's part).
    #[divan::bench]
    fn v2_group_stats(b: Bencher) {
        let files: BTreeMap<&str, &str> = [
            ("memory.stat", V2_MEMORY_STAT),
            ("memory.current", "104857600\n"),
            ("memory.peak", "209715200\n"),
            ("memory.max", "268435456\n"),
            ("memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n"),
            ("memory.pressure", V2_MEMORY_PRESSURE),
            ("cpu.stat", V2_CPU_STAT),
            ("cpu.max", "50000 100000\n"),
            ("cpu.pressure", V2_MEMORY_PRESSURE),
            ("io.stat", V2_IO_STAT),
            ("io.pressure", V2_MEMORY_PRESSURE),
            ("pids.current", "12\n"),
            ("pids.peak", "40\n"),
            ("pids.max", "64\n"),
            ("cgroup.events", "populated 1\nfrozen 0\n"),
        ]
        .into();
        let src = Texts(files);
        let on: BTreeSet<Controller> = [Controller::Memory, Controller::Cpu, Controller::Io, Controller::Pids].into();
        b.bench(|| {
            let mut s = Stats::default();
            rein::backend::read_stats(rein::backend::Version::V2, black_box(&src), &on, &mut s).map(|()| s)
        });
    }

    struct Texts(BTreeMap<&'static str, &'static str>);

    impl FileSource for Texts {
        fn read_opt(&self, file: &str) -> rein::Result<Option<String>> {
            Ok(self.0.get(file).map(|t| t.to_string()))
        }
    }
}

mod vocabularies {
    use super::*;

    fn facts() -> HostFacts {
        HostFacts { physical_memory: 8 << 30, page_size: 4096, tasks_max: 4_194_303, online_cpus: 2 }
    }

    fn device(d: &str) -> rein::Result<DeviceNumber> {
        DeviceNumber::parse(d).map_err(|e| Error::invalid("device", d, e))
    }

    #[divan::bench]
    fn libcgroup_settings_on_v2(b: Bencher) {
        let limits: BTreeSet<Controller> =
            [Controller::Cpu, Controller::Cpuset, Controller::Memory, Controller::Io, Controller::Pids].into();
        let host = Host { v2: limits, unified: true, page_size: 4096, ..Host::default() };
        let lines = ["memory.limit_in_bytes=20971520", "cpu.cfs_quota_us=35000", "cpu.shares=512", "pids.max=64"];
        b.bench(|| {
            let settings: Vec<(String, String)> =
                lines.iter().map(|l| raw::parse_setting(black_box(l))).collect::<rein::Result<_>>().unwrap();
            raw::translate(&settings, &host, &|_| None).map(|t| t.resources)
        });
    }

    #[divan::bench]
    fn systemd_properties(b: Bencher) {
        let lines = ["MemoryMax=256M", "CPUQuota=20%", "CPUWeight=200", "TasksMax=64", "IOWriteBandwidthMax=8:0 1M"];
        b.bench(|| {
            let props: Vec<(String, String)> =
                lines.iter().map(|l| systemd::parse_property(black_box(l))).collect::<rein::Result<_>>().unwrap();
            systemd::to_resources(&props, &facts, &device)
        });
    }

    #[divan::bench]
    fn rein_toml() -> bool {
        let text = include_str!("../../../examples/multi-tenant.toml");
        let ctx = Context { facts: &facts, device: &device };
        rein::config::load::parse(black_box(text), Path::new("multi-tenant.toml"), "bench", &ctx).is_ok()
    }
}

mod model_to_files {
    use super::*;

    fn typical() -> Resources {
        Resources::new()
            .memory_max(Bytes::mib(256))
            .memory_high(Bytes::mib(200))
            .cpu_percent(50.0)
            .unwrap()
            .cpu_weight(Weight::new(200).unwrap())
            .pids_max(64)
    }

    #[divan::bench]
    fn v2_writes(b: Bencher) {
        let r = typical();
        let on = r.controllers();
        b.bench(|| rein::backend::limit_writes(rein::backend::Version::V2, black_box(&r), &on, &|_| None));
    }

    #[divan::bench]
    fn validate(b: Bencher) {
        let r = typical();
        b.bench(|| black_box(&r).validate().is_ok());
    }
}
