//! Raw interface-file names, translated between cgroup v1 and v2: the one place where
//! a v1 name meets a v2 file and the other way round.
//!
//! libcgroup's `-r name=value` (and `cgget -r name`) speak in raw file names. A name
//! that exists in the running mode passes through untouched: the kernel judges the
//! value, as it does for libcgroup. A name of the other version is translated: writes
//! become [`Resources`](crate::resources::Resources) fields (which the v1 or v2 writer turns into the right files,
//! in the right order), reads are computed from the files that exist and printed in the
//! format of the name asked for. A name with no meaning in the running mode is an
//! error that names the closest equivalent.
//!
//! On a hybrid host each controller speaks the version of the hierarchy it is bound
//! to: `memory.limit_in_bytes` passes through where memory is bound to v1, and
//! `memory.max` is translated to it.

//!
//! The pieces: `names` is the table of every name rein knows (where it lives, which
//! version it belongs to, which model field it sets); `write` turns names of the other
//! version into the model, `check` checks values of native names before the kernel sees
//! them, `read` computes a name of the other version from the files that exist.

mod check;
mod names;
mod read;
mod write;

pub use check::Values;
pub use names::{Dialect, Home, Host, home_of, parse_setting};
pub(crate) use names::{MEMORY_LIMIT_NAMES, is_known, is_memory_max};
pub use read::{Reader, read};
pub use write::{RawWrite, Translation, translate, translate_values};
pub(crate) use write::{controllers_of, field_of, to_model};

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::names::*;
    use super::*;
    use crate::error::Result;
    use crate::hierarchy::Controller;
    use crate::resources::CpuMax;
    use crate::units::Weight;
    use crate::units::{self, Limit};

    fn v2_host() -> Host {
        Host {
            v2: [Controller::Cpu, Controller::Cpuset, Controller::Memory, Controller::Io, Controller::Pids].into(),
            unified: true,
            page_size: 4096,
            ..Host::default()
        }
    }

    /// This development host: every limit controller on v1, cgroup2 mounted beside.
    fn hybrid_host() -> Host {
        Host {
            v1: [
                Controller::Cpu,
                Controller::Cpuacct,
                Controller::Cpuset,
                Controller::Memory,
                Controller::Io,
                Controller::Pids,
                Controller::Freezer,
                Controller::Devices,
            ]
            .into(),
            v2: [Controller::Hugetlb].into(),
            unified: true,
            page_size: 4096,
        }
    }

    #[test]
    fn names_and_values_written_as_given_are_checked_before_any_write() {
        for bad in ["../x=1", "memory.max/../../cgroup.procs=1", ".hidden=1", "Memory.Max=1", "a b=1"] {
            let e = parse_setting(bad).unwrap_err().to_string();
            assert!(e.contains("interface file name"), "{bad}: {e}");
        }
        for bad in ["memory.max=1\n2", "memory.max=1\t", "memory.max=\n", "memory.max=\u{1b}[31m"] {
            let e = parse_setting(bad).unwrap_err().to_string();
            assert!(e.contains("control characters") || e.contains("both parts"), "{bad:?}: {e}");
            assert!(!e.contains('\n'), "{e:?}");
        }
        assert_eq!(parse_setting("memory.max=1M\n").unwrap(), ("memory.max".into(), "1M".into()));
        assert_eq!(parse_setting("io.max=8:0 wbps=1").unwrap().1, "8:0 wbps=1");
        // Names of the running mode pass through, but their values are checked first.
        let hy = hybrid_host();
        for (name, value, needle) in [
            ("memory.limit_in_bytes", "-5", "or -1 for no limit"),
            ("memory.limit_in_bytes", "lots", "'lots'"),
            ("cpuset.cpus", "3-1", "reversed"),
            ("cpuset.mems", "99999", "out of range"),
            ("cpu.cfs_quota_us", "999", "at least 1000"),
            ("cpu.cfs_period_us", "0", "between 1000 and 1000000"),
            ("cpu.shares", "1", "between 2 and 262144"),
            ("pids.max", "-1", "pids.max"),
            ("blkio.weight", "5", "between 10 and 1000"),
            ("blkio.throttle.write_bps_device", "8:0", "MAJ:MIN VALUE"),
            ("freezer.state", "FROZE", "FROZEN or THAWED"),
        ] {
            let e = tr(&hy, &[(name, value)]).unwrap_err().to_string();
            assert!(e.contains(needle), "{name}={value}: {e}");
        }
        let v2 = v2_host();
        for (name, value, needle) in [
            ("memory.max", "-1", "memory.max"),
            ("memory.high", "1e9", "'1e9'"),
            ("cpu.max", "500 100000", "1000"),
            ("cpu.max", "max 100000 7", "$MAX [$PERIOD]"),
            ("cpu.weight", "0", "between 1 and 10000"),
            ("io.max", "8:0 bogus=1", "unknown key 'bogus'"),
            ("io.weight", "default 0", "between 1 and 10000"),
            ("cgroup.freeze", "2", "0 or 1"),
            ("memory.oom.group", "yes", "0 or 1"),
        ] {
            let e = tr(&v2, &[(name, value)]).unwrap_err().to_string();
            assert!(e.contains(needle), "{name}={value}: {e}");
        }
        // Good values still pass through unchanged.
        let t = tr(&v2, &[("memory.max", "30M"), ("cpu.max", "max 50000"), ("io.weight", "8:0 200")]).unwrap();
        assert_eq!(t.raw.len(), 3);
        let t = tr(&hy, &[("memory.limit_in_bytes", "-1"), ("cpuset.cpus", "0-1"), ("freezer.state", "FROZEN")]);
        assert_eq!(t.unwrap().raw.len(), 3);
    }

    fn s(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    fn nothing(_: &str) -> Option<String> {
        None
    }

    fn tr(host: &Host, pairs: &[(&str, &str)]) -> Result<Translation> {
        translate(&s(pairs), host, &nothing)
    }

    #[test]
    fn a_pids_max_above_the_kernel_s_limit_is_refused() {
        tr(&v2_host(), &[("pids.max", "4194304")]).unwrap();
        for host in [v2_host(), hybrid_host()] {
            let e = tr(&host, &[("pids.max", "99999999")]).unwrap_err().to_string();
            assert!(e.contains("'99999999'") && e.contains("largest pids.max, 4194304"), "{e}");
        }
    }

    #[test]
    fn libcgroup_values_write_a_sub_page_memory_limit_as_the_kernel_takes_it() {
        let lcg = |host: &Host, pairs: &[(&str, &str)]| translate_values(&s(pairs), host, &nothing, Values::AsKernel);
        let raw = |t: Translation| t.raw.iter().map(|w| format!("{}={}", w.file, w.value)).collect::<Vec<_>>();
        // Native on each host: written as given.
        assert_eq!(raw(lcg(&v2_host(), &[("memory.max", "0")]).unwrap()), ["memory.max=0"]);
        assert_eq!(raw(lcg(&hybrid_host(), &[("memory.limit_in_bytes", "0")]).unwrap()), ["memory.limit_in_bytes=0"]);
        // The other version's name: the running version's file, the model untouched.
        let t = lcg(&v2_host(), &[("memory.limit_in_bytes", "100")]).unwrap();
        assert_eq!((raw(t.clone()), t.resources.memory.max), (vec!["memory.max=100".to_string()], None));
        assert_eq!(raw(lcg(&hybrid_host(), &[("memory.max", "0")]).unwrap()), ["memory.limit_in_bytes=0"]);
        // A page or more, and negative values, as rein's own translation has them.
        assert!(lcg(&v2_host(), &[("memory.limit_in_bytes", "4096")]).unwrap().resources.memory.max.is_some());
        assert!(lcg(&v2_host(), &[("memory.limit_in_bytes", "-10")]).is_err());
        assert!(lcg(&hybrid_host(), &[("memory.max", "-10")]).is_err());
        // rein's own commands keep refusing them.
        for (host, name) in
            [(v2_host(), "memory.max"), (v2_host(), "memory.limit_in_bytes"), (hybrid_host(), "memory.max")]
        {
            assert!(tr(&host, &[(name, "0")]).unwrap_err().to_string().contains("OOM-kill"), "{name}");
        }
    }

    #[test]
    fn settings_parse() {
        assert_eq!(parse_setting("memory.limit_in_bytes=20971520").unwrap().1, "20971520");
        assert_eq!(parse_setting("io.max=8:0 rbps=1").unwrap(), ("io.max".into(), "8:0 rbps=1".into()));
        for bad in ["memory.limit_in_bytes", "=1", "memory.max=", ""] {
            assert!(parse_setting(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn native_names_pass_through() {
        let t = tr(&hybrid_host(), &[("memory.limit_in_bytes", "20971520"), ("memory.swappiness", "10")]).unwrap();
        assert!(t.resources.is_empty());
        assert_eq!(
            t.raw,
            [
                RawWrite { home: MEM, file: "memory.limit_in_bytes".into(), value: "20971520".into() },
                RawWrite { home: MEM, file: "memory.swappiness".into(), value: "10".into() },
            ]
        );
        let t = tr(&v2_host(), &[("memory.max", "20M"), ("pids.max", "5"), ("cpuset.cpus", "0")]).unwrap();
        assert_eq!(t.raw.len(), 3);
        // Unknown names pass where their controller lives; the kernel judges them.
        let t = tr(&v2_host(), &[("memory.zswap.writeback", "0")]).unwrap();
        assert_eq!(t.raw[0].file, "memory.zswap.writeback");
        // cgroup.freeze lives in the cgroup2 core, even on a hybrid host.
        let t = tr(&hybrid_host(), &[("cgroup.freeze", "1")]).unwrap();
        assert_eq!(t.raw[0].home, Home::Core);
    }

    #[test]
    fn v1_names_on_v2() {
        let table: &[(&[(&str, &str)], &str)] = &[
            (&[("memory.limit_in_bytes", "20971520")], r#"{"memory":{"max":20971520}}"#),
            (&[("memory.limit_in_bytes", "-1")], r#"{"memory":{"max":"max"}}"#),
            (&[("memory.limit_in_bytes", "20M")], r#"{"memory":{"max":20971520}}"#),
            (
                &[("memory.limit_in_bytes", "20971520"), ("memory.memsw.limit_in_bytes", "20971520")],
                r#"{"memory":{"max":20971520,"swap_max":0}}"#,
            ),
            (
                &[("memory.limit_in_bytes", "10M"), ("memory.memsw.limit_in_bytes", "30M")],
                r#"{"memory":{"max":10485760,"swap_max":20971520}}"#,
            ),
            (&[("memory.memsw.limit_in_bytes", "-1")], r#"{"memory":{"swap_max":"max"}}"#),
            (&[("memory.soft_limit_in_bytes", "1G")], r#"{"memory":{"low":1073741824}}"#),
            (&[("cpu.cfs_quota_us", "35000")], r#"{"cpu":{"max":{"quota":35000,"period":100000}}}"#),
            (&[("cpu.cfs_quota_us", "-1")], r#"{"cpu":{"max":{"quota":"max","period":100000}}}"#),
            (
                &[("cpu.cfs_period_us", "50000"), ("cpu.cfs_quota_us", "25000")],
                r#"{"cpu":{"max":{"quota":25000,"period":50000}}}"#,
            ),
            // Shares stay shares in the model; the v2 writer converts them (512 -> 50).
            (&[("cpu.shares", "512")], r#"{"cpu":{"shares":512}}"#),
            (&[("cpu.shares", "2")], r#"{"cpu":{"shares":2}}"#),
            (&[("blkio.weight", "500")], r#"{"io":{"weight":100}}"#),
            (&[("blkio.bfq.weight", "300")], r#"{"io":{"weight":300}}"#),
            (
                &[("blkio.throttle.write_bps_device", "7:0 1048576"), ("blkio.throttle.read_iops_device", "7:0 0")],
                r#"{"io":{"max":[{"device":"7:0","wbps":1048576,"riops":"max"}]}}"#,
            ),
            (&[("freezer.state", "FROZEN")], r#"{"freeze":true}"#),
        ];
        for (input, want) in table {
            let t = tr(&v2_host(), input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert!(t.raw.is_empty(), "{input:?}");
            let got = strip(serde_json::to_value(&t.resources).unwrap());
            let want: serde_json::Value = serde_json::from_str(want).unwrap();
            assert_eq!(got, want, "{input:?}");
        }
    }

    /// Drops empty sub-objects, so a table can list only what is set.
    fn strip(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => serde_json::Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k, strip(v)))
                    .filter(|(_, v)| !matches!(v, serde_json::Value::Object(o) if o.is_empty()))
                    .collect(),
            ),
            other => other,
        }
    }

    #[test]
    fn net_cls_and_net_prio_on_v2_are_rein_network_settings() {
        let t = translate(&s(&[("net_cls.classid", "0x100010")]), &v2_host(), &nothing).unwrap();
        assert_eq!(t.resources.network.classid.unwrap().to_string(), "10:10");
        assert!(t.raw.is_empty());
        let t = translate(&s(&[("net_prio.ifpriomap", "lo 5")]), &v2_host(), &nothing).unwrap();
        let p = t.resources.network.priority.unwrap();
        assert_eq!((p.priority, p.interface.as_deref()), (5, Some("lo")));
    }

    #[test]
    fn device_rules_on_v2_change_the_rules_in_force() {
        use crate::devices::{Access, DeviceType};
        // The tutorial's two cgset calls: deny all, then allow /dev/null, one at a time.
        let cur: BTreeMap<&str, &str> = [("devices.list", "\n")].into();
        let current = |f: &str| cur.get(f).map(|s| s.to_string());
        let t = translate(&s(&[("devices.allow", "c 1:3 rw")]), &v2_host(), &current).unwrap();
        let e = t.resources.devices.unwrap().effective(&[]);
        assert!(e.allows(DeviceType::Char, 1, 3, Access::parse("rw").unwrap()));
        assert!(!e.allows(DeviceType::Char, 1, 5, Access::parse("r").unwrap()), "{e:?}");
        // A new group (nothing in force): the rules alone.
        let t = translate(&s(&[("devices.deny", "a")]), &v2_host(), &nothing).unwrap();
        assert_eq!(t.resources.devices.unwrap().rules.len(), 1);
    }

    #[test]
    fn pairs_complete_from_the_group() {
        let cur: BTreeMap<&str, &str> = [("cpu.max", "20000 50000\n"), ("memory.max", "20971520\n")].into();
        let current = |f: &str| cur.get(f).map(|s| s.to_string());
        let t = translate(&s(&[("cpu.cfs_quota_us", "35000")]), &v2_host(), &current).unwrap();
        assert_eq!(t.resources.cpu.max, Some(CpuMax { quota: Limit::Value(35000), period: 50000 }));
        let t = translate(&s(&[("cpu.cfs_period_us", "100000")]), &v2_host(), &current).unwrap();
        assert_eq!(t.resources.cpu.max, Some(CpuMax { quota: Limit::Value(20000), period: 100000 }));
        let t = translate(&s(&[("memory.memsw.limit_in_bytes", "31457280")]), &v2_host(), &current).unwrap();
        assert_eq!(t.resources.memory.swap_max, Some(Limit::Value(units::Bytes(10 << 20))));
        // On v1 the v2 name cpu.max without a period keeps the period in force.
        let v1cur: BTreeMap<&str, &str> = [("cpu.cfs_quota_us", "-1\n"), ("cpu.cfs_period_us", "20000\n")].into();
        let current = |f: &str| v1cur.get(f).map(|s| s.to_string());
        let t = translate(&s(&[("cpu.max", "10000")]), &hybrid_host(), &current).unwrap();
        assert_eq!(t.resources.cpu.max, Some(CpuMax { quota: Limit::Value(10000), period: 20000 }));
    }

    #[test]
    fn v2_names_on_v1() {
        let t = tr(&hybrid_host(), &[("memory.max", "20M"), ("memory.swap.max", "0"), ("cpu.max", "35000 100000")])
            .unwrap();
        assert!(t.raw.is_empty());
        assert_eq!(t.resources.memory.max, Some(Limit::Value(units::Bytes::mib(20))));
        assert_eq!(t.resources.memory.swap_max, Some(Limit::Value(units::Bytes(0))));
        assert_eq!(t.resources.cpu.max, Some(CpuMax { quota: Limit::Value(35000), period: 100000 }));
        let t =
            tr(&hybrid_host(), &[("cpu.weight", "200"), ("io.weight", "default 50"), ("io.max", "7:0 wbps=1048576")])
                .unwrap();
        assert_eq!(t.resources.cpu.weight.map(Weight::get), Some(200));
        assert_eq!(t.resources.io.weight.map(Weight::get), Some(50));
        assert_eq!(t.resources.io.max[0].wbps, Some(Limit::Value(1 << 20)));
        // memory.high is translated into the model; the v1 writer refuses it with the
        // closest equivalent when the plan is made.
        let t = tr(&hybrid_host(), &[("memory.high", "1G")]).unwrap();
        assert!(t.resources.memory.high.is_some());
    }

    /// cpuset.cpu_exclusive (v1) and cpuset.cpus.partition (v2) map into each other as
    /// libcgroup maps them: 1 is root, 0 is member.
    #[test]
    fn exclusive_cpus_map_to_partitions_and_back() {
        for (value, want) in [("1", "root"), ("0", "member")] {
            let t = tr(&v2_host(), &[("cpuset.cpu_exclusive", value)]).unwrap();
            assert_eq!(t.raw.len(), 1);
            assert_eq!((t.raw[0].file.as_str(), t.raw[0].value.as_str()), ("cpuset.cpus.partition", want));
        }
        for (value, want) in [("root", "1"), ("isolated", "1"), ("member", "0")] {
            let t = tr(&hybrid_host(), &[("cpuset.cpus.partition", value)]).unwrap();
            assert_eq!((t.raw[0].file.as_str(), t.raw[0].value.as_str()), ("cpuset.cpu_exclusive", want));
        }
        assert!(tr(&v2_host(), &[("cpuset.cpu_exclusive", "2")]).is_err());
        assert!(tr(&hybrid_host(), &[("cpuset.cpus.partition", "all")]).is_err());
        for (file, text, name, want) in [
            ("cpuset.cpus.partition", "root\n", "cpuset.cpu_exclusive", "1"),
            ("cpuset.cpus.partition", "member\n", "cpuset.cpu_exclusive", "0"),
        ] {
            let r = |_: Home, f: &str| (f == file).then(|| text.to_string());
            assert_eq!(read(name, &v2_host(), &r).unwrap(), want);
        }
        for (text, want) in [("1\n", "root"), ("0\n", "member")] {
            let r = |_: Home, f: &str| (f == "cpuset.cpu_exclusive").then(|| text.to_string());
            assert_eq!(read("cpuset.cpus.partition", &hybrid_host(), &r).unwrap(), want);
        }
    }

    #[test]
    fn names_without_meaning_here_are_errors_with_the_closest_equivalent() {
        let cases: &[(Host, &str, &str, &str)] = &[
            (v2_host(), "memory.swappiness", "60", "memory.swap.max"),
            (v2_host(), "memory.use_hierarchy", "1", "always hierarchical"),
            (v2_host(), "cpu.rt_runtime_us", "0", "real-time"),
            (v2_host(), "blkio.weight_device", "8:0 100", "io.weight"),
            (v2_host(), "net_cls.classid", "1", "major number"),
            (v2_host(), "net_cls.classid", "1:10", "0xAAAABBBB"),
            (v2_host(), "net_prio.ifpriomap", "eth0", "not a priority"),
            (hybrid_host(), "memory.zswap.max", "0", "zswap"),
            (hybrid_host(), "cpu.idle", "1", "cpu.shares"),
            (v2_host(), "cgroup.procs", "1", "rein move"),
            (hybrid_host(), "tasks", "1", "rein move"),
            (v2_host(), "cgroup.subtree_control", "+cpu", "-g CONTROLLERS:PATH"),
            (v2_host(), "memory.usage_in_bytes", "0", "read-only"),
            (v2_host(), "bogus.file", "1", "not a cgroup controller"),
        ];
        for (host, name, value, needle) in cases {
            let e = tr(host, &[(name, value)]).expect_err(name).to_string();
            assert!(e.contains(needle), "{name}: {e}");
        }
        let e = tr(&v2_host(), &[("memory.memsw.limit_in_bytes", "10M")]).unwrap_err().to_string();
        assert!(e.contains("needs a memory limit"), "{e}");
        let e = tr(&v2_host(), &[("memory.limit_in_bytes", "20M"), ("memory.memsw.limit_in_bytes", "10M")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least the memory limit"), "{e}");
        let e = tr(&v2_host(), &[("cpu.cfs_quota_us", "500")]).unwrap_err().to_string();
        assert!(e.contains("at least 1000us"), "{e}");
        let e = tr(&v2_host(), &[("memory.max", "1M"), ("memory.max", "2M")]).unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
        let e = tr(&v2_host(), &[("memory.limit_in_bytes", "lots")]).unwrap_err().to_string();
        assert!(e.contains("invalid memory.limit_in_bytes 'lots'"), "{e}");
    }

    #[test]
    fn reads_translate_to_the_format_asked_for() {
        let v2files: BTreeMap<&str, &str> = [
            ("memory.max", "max\n"),
            ("memory.low", "1048576\n"),
            ("memory.swap.max", "0\n"),
            ("memory.current", "4096\n"),
            ("memory.swap.current", "0\n"),
            ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
            ("cpu.max", "35000 100000\n"),
            ("cpu.weight", "50\n"),
            ("cpu.stat", "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\n"),
            ("io.weight", "default 100\n"),
            ("io.max", "7:0 rbps=max wbps=1048576 riops=max wiops=max\n"),
            ("cgroup.freeze", "1\n"),
            ("cgroup.events", "populated 1\nfrozen 1\n"),
        ]
        .into();
        let read_v2 = |_: Home, f: &str| v2files.get(f).map(|s| s.to_string());
        let host = v2_host();
        for (name, want) in [
            ("memory.limit_in_bytes", "9223372036854771712"),
            ("memory.soft_limit_in_bytes", "1048576"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712"),
            ("memory.usage_in_bytes", "4096\n"),
            ("memory.failcnt", "3"),
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1"),
            ("cpu.cfs_quota_us", "35000"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.shares", "512"),
            ("cpuacct.usage", "2000000000"),
            ("cpuacct.stat", "user 150\nsystem 50"),
            ("blkio.weight", "500"),
            ("blkio.throttle.write_bps_device", "7:0 1048576"),
            ("blkio.throttle.read_bps_device", ""),
            ("freezer.state", "FROZEN"),
            ("memory.max", "max\n"),
        ] {
            assert_eq!(read(name, &host, &read_v2).unwrap_or_else(|e| panic!("{name}: {e}")), want, "{name}");
        }
        let v1files: BTreeMap<&str, &str> = [
            ("memory.limit_in_bytes", "20971520\n"),
            ("memory.memsw.limit_in_bytes", "31457280\n"),
            ("memory.soft_limit_in_bytes", "9223372036854771712\n"),
            ("cpu.cfs_quota_us", "-1\n"),
            ("cpu.cfs_period_us", "100000\n"),
            ("cpu.shares", "2048\n"),
            ("blkio.bfq.weight", "100\n"),
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_bps_device", "7:0 1048576\n"),
            ("blkio.throttle.read_iops_device", ""),
            ("blkio.throttle.write_iops_device", "7:0 10\n"),
            ("freezer.state", "THAWED\n"),
        ]
        .into();
        let read_v1 = |_: Home, f: &str| v1files.get(f).map(|s| s.to_string());
        let host = hybrid_host();
        for (name, want) in [
            ("memory.max", "20971520"),
            ("memory.swap.max", "10485760"),
            ("memory.low", "max"),
            ("cpu.max", "max 100000"),
            ("cpu.weight", "200"),
            ("io.weight", "default 100"),
            ("io.max", "7:0 rbps=max wbps=1048576 riops=max wiops=10"),
            ("memory.limit_in_bytes", "20971520\n"),
        ] {
            assert_eq!(read(name, &host, &read_v1).unwrap_or_else(|e| panic!("{name}: {e}")), want, "{name}");
        }
        let e = read("memory.high", &host, &read_v1).unwrap_err().to_string();
        // v1's tasks lists threads, as v2's cgroup.threads does.
        let threads = |_: Home, f: &str| (f == "cgroup.threads").then(|| "7\n8\n".to_string());
        assert_eq!(read("tasks", &v2_host(), &threads).unwrap(), "7\n8\n");
        assert!(e.contains("memory.limit_in_bytes"), "{e}");
        // A file the group lacks is an error naming it.
        let e = read("memory.memsw.usage_in_bytes", &hybrid_host(), &read_v1).unwrap_err().to_string();
        assert!(e.contains("memory.memsw.usage_in_bytes is not readable"), "{e}");
    }
}
