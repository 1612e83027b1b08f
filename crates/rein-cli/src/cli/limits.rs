//! The limit flags shared by `run`, `create`, `set` and `exec`, and their translation
//! into [`rein::Resources`] (by [`rein::flags`], which rein.toml files share). The flags
//! are the library's table ([`rein::flags::Key`]); this file adds their help. Values
//! arrive as strings and are checked here, so a bad value is rein's error (exit 125,
//! naming the flag and the value), not a usage error.

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use rein::compat::systemd;
use rein::flags::{Flags, Key, Origin, Shape};
use rein::{Error, Resources};

/// The limit flags: one per [`Key`] of the library's flag table (its name, aliases and
/// shape), with the help of `HELP`; then `-p` systemd properties. Built from the table
/// rather than derived field by field, so a key added to the table is a flag at once (a
/// test asks for its help row, and that every flag is a key); the help reads as it did
/// when each flag was a field (tests/golden/).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LimitArgs {
    /// The limit flags given, by key.
    pub flags: Flags,
    /// `-p NAME=VALUE`: systemd resource-control properties.
    pub property: Vec<String>,
}

/// Per key: the value's name in the help, and the help line. rein's flags are listed
/// under "Limits", Docker's under "Docker flags" ([`Key::origin`]).
const HELP: &[(Key, &str, &str)] = &[
    (Key::Memory, "SIZE", "Hard memory limit (memory.max): a size like 256M or 1.5G, or max"),
    (Key::MemoryHigh, "SIZE", "Memory throttling limit (memory.high, v2 only)"),
    (Key::MemoryLow, "SIZE", "Memory protection, best effort (memory.low; v1 memory.soft_limit_in_bytes)"),
    (Key::MemoryMin, "SIZE", "Memory protection, hard (memory.min, v2 only)"),
    (Key::Swap, "SIZE", "Swap limit (memory.swap.max; v1 needs --memory too), e.g. 0 for no swap"),
    (Key::OomGroup, "", "Kill the whole group when the OOM killer strikes one task (memory.oom.group, v2)"),
    (Key::Cpu, "LIMIT", "CPU limit: a percentage of one CPU (20%, 150%), QUOTA/PERIOD in µs, or max"),
    (Key::CpuPeriod, "PERIOD", "CFS period for --cpu, in µs or with a unit (100ms); default 100ms"),
    (Key::CpuWeight, "N", "CPU weight 1-10000, default 100 (cpu.weight; v1 cpu.shares)"),
    (Key::CpuShares, "N", "CPU shares 2-262144: cpu.shares as given on v1; cpu.weight = shares*100/1024 on v2"),
    (
        Key::Cpus,
        "N|LIST",
        "A number of CPUs of bandwidth (Docker: 1.5), or, when a list or range, CPUs to pin to (0-1)",
    ),
    (Key::Cpuset, "LIST", "CPUs to run on (cpuset.cpus), e.g. 0-3,6"),
    (Key::Mems, "LIST", "Memory nodes to allocate from (cpuset.mems)"),
    (Key::IoWeight, "N", "IO weight 1-10000, default 100 (io.weight; v1 blkio.bfq.weight)"),
    (
        Key::IoMax,
        "SPEC",
        "IO limit on a whole disk: DEVICE:KEY=VALUE[,KEY=VALUE] with keys rbps wbps riops wiops, DEVICE a path \
         or MAJ:MIN (e.g. /dev/loop0:wbps=1M); repeatable",
    ),
    (Key::Pids, "N", "Most tasks (processes + threads) in the group (pids.max, up to 4194304), or max"),
    (
        Key::DeviceAllow,
        "RULE",
        "Allow device access, v1's rule syntax TYPE MAJOR:MINOR ACCESS (c 1:3 rw, b 7:* r, a); in order; \
         repeatable",
    ),
    (
        Key::Device,
        "PATH[:rwm]",
        "Allow a device node by path, e.g. /dev/loop0:r (rwm when no access given); repeatable",
    ),
    (
        Key::DevicePolicy,
        "POLICY",
        "Devices allowed besides the rules, as systemd's DevicePolicy=: auto (all until a rule allows \
         something), closed (the rules and /dev/null, zero, full, random, urandom, tty, ptmx, pts) or strict",
    ),
    (
        Key::NetEgress,
        "RATE",
        "Most the group sends, IP headers included: 10mbit, 1gbit (bits/s, as tc), 1.25MB/s (bytes/s), or max \
         (cgroup2: rein's BPF programs)",
    ),
    (Key::NetIngress, "RATE", "Most the group receives (policed: what is over is dropped), or max"),
    (Key::NetPriority, "N", "Priority of the packets the group sends (what net_prio set); 0 leaves the sockets' own"),
    (
        Key::NetClassid,
        "MAJ:MIN",
        "tc class of the packets the group sends, hexadecimal as tc writes it (1:10; what net_cls set); 0:0 for none",
    ),
    (Key::MemorySwap, "SIZE", "Docker: memory plus swap, in total (-1 for unlimited swap); needs --memory"),
    (Key::MemoryReservation, "SIZE", "Docker: soft memory limit (memory.low; v1 memory.soft_limit_in_bytes)"),
    (Key::CpuQuota, "USEC", "Docker: CFS quota in µs per --cpu-period (default 100000); -1 for none"),
    (Key::PidsLimit, "N", "Docker: most tasks; 0 or -1 for unlimited"),
    (Key::BlkioWeight, "N", "Docker: block IO weight 10-1000 (io.weight = weight x 100 / 500)"),
    (Key::DeviceReadBps, "PATH:RATE", "Docker: read bytes/s from a device, /dev/PATH:RATE (1mb); repeatable"),
    (Key::DeviceWriteBps, "PATH:RATE", "Docker: write bytes/s to a device, /dev/PATH:RATE; repeatable"),
    (Key::DeviceReadIops, "PATH:N", "Docker: read IO/s from a device, /dev/PATH:N; repeatable"),
    (Key::DeviceWriteIops, "PATH:N", "Docker: write IO/s to a device, /dev/PATH:N; repeatable"),
    (Key::OomKillDisable, "", "Docker: do not OOM-kill in the group (cgroup v1 only; refused on v2)"),
    (Key::DeviceCgroupRule, "RULE", "Docker: allow device access by rule (c 42:* rmw); repeatable"),
];

const PROPERTY: &str = "property";

/// The flag of one key, as clap takes it.
fn arg(key: Key) -> Arg {
    let (value_name, help) = match HELP.iter().find(|(k, _, _)| *k == key) {
        Some((_, v, h)) => (*v, *h),
        None => ("VALUE", ""),
    };
    let heading = match key.origin() {
        Origin::Docker => "Docker flags",
        _ => "Limits",
    };
    let arg = Arg::new(key.name()).long(key.name()).visible_aliases(key.aliases()).help(help).help_heading(heading);
    match key.shape() {
        Shape::Bool => arg.action(ArgAction::SetTrue),
        shape => arg
            .action(if shape == Shape::List { ArgAction::Append } else { ArgAction::Set })
            .value_parser(clap::value_parser!(String))
            .allow_hyphen_values(true)
            .value_name(value_name),
    }
}

impl Args for LimitArgs {
    fn augment_args(cmd: Command) -> Command {
        let rein = Key::ALL.iter().filter(|k| k.origin() != Origin::Docker);
        let docker = Key::ALL.iter().filter(|k| k.origin() == Origin::Docker);
        let property = Arg::new(PROPERTY)
            .short('p')
            .long(PROPERTY)
            .value_name("NAME=VALUE")
            .help(
                "A systemd resource-control property, Name=Value (MemoryMax=1G, CPUQuota=20%, TasksMax=64, \
                 IOWriteBandwidthMax=/dev/sda 5M, ...), with systemd's semantics; repeatable",
            )
            .help_heading("systemd properties")
            .action(ArgAction::Append)
            .value_parser(clap::value_parser!(String));
        let cmd = rein.fold(cmd, |cmd, k| cmd.arg(arg(*k))).arg(property);
        docker.fold(cmd, |cmd, k| cmd.arg(arg(*k)))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for LimitArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut a = LimitArgs::default();
        a.update_from_arg_matches(m)?;
        Ok(a)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for &key in Key::ALL {
            match key.shape() {
                Shape::Bool => {
                    if m.get_flag(key.name()) {
                        self.flags.set(key, "true");
                    }
                }
                _ => {
                    for v in m.get_many::<String>(key.name()).into_iter().flatten() {
                        self.flags.set(key, v.clone());
                    }
                }
            }
        }
        self.property.extend(m.get_many::<String>(PROPERTY).into_iter().flatten().cloned());
        Ok(())
    }
}

impl LimitArgs {
    /// Checks every value and builds the model: the flags, then `-p` properties (a
    /// setting given both ways is refused). Devices are resolved with `resolve`.
    pub fn to_resources(
        &self,
        resolve: &dyn Fn(&str) -> Result<rein::DeviceNumber, Error>,
    ) -> Result<Resources, Error> {
        let mut r = self.flags.to_resources(resolve, &systemd::HostFacts::detect)?;
        if !self.property.is_empty() {
            let props = self.property.iter().map(|p| systemd::parse_property(p)).collect::<Result<Vec<_>, _>>()?;
            let from_props = systemd::to_resources(&props, &systemd::HostFacts::detect, resolve)?;
            let twice = r.overlap(&from_props);
            if !twice.is_empty() {
                return Err(Error::invalid(
                    "settings",
                    twice.join(", "),
                    "set by a flag and by -p too; give each setting once",
                ));
            }
            r.merge(&from_props);
        }
        r.validate()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rein::Bytes;
    use rein::flags::{parse_cpu, parse_io_max, parse_micros};
    use rein::units::Limit;

    fn no_dev(s: &str) -> Result<rein::DeviceNumber, Error> {
        rein::DeviceNumber::parse(s).map_err(|e| Error::invalid("device", s, e))
    }

    fn parse(f: impl FnOnce(&mut LimitArgs)) -> Result<Resources, Error> {
        let mut a = LimitArgs::default();
        f(&mut a);
        a.to_resources(&no_dev)
    }

    #[test]
    fn cpu_forms() {
        assert_eq!(parse_cpu("35%", None).unwrap().quota, Limit::Value(35_000));
        assert_eq!(parse_cpu("20%", Some(50_000)).unwrap().quota, Limit::Value(10_000));
        assert_eq!(parse_cpu("50000/200000", None).unwrap().period, 200_000);
        assert_eq!(parse_cpu("50ms/200ms", None).unwrap().quota, Limit::Value(50_000));
        assert_eq!(parse_cpu("max", None).unwrap().quota, Limit::Max);
        for bad in ["20", "0%", "-5%", "lots", "0.5%", "1/2", "20%%", ""] {
            let e = parse_cpu(bad, None).unwrap_err();
            assert!(e.to_string().contains("--cpu"), "{bad}: {e}");
        }
    }

    #[test]
    fn docker_cpus_and_cpu_lists() {
        let r = parse(|a| a.flags.set(Key::Cpus, "1.5")).unwrap();
        assert_eq!(r.cpu.max.unwrap().quota, Limit::Value(150_000));
        let r = parse(|a| a.flags.set(Key::Cpus, "0-1")).unwrap();
        assert_eq!(r.cpuset.cpus.unwrap().to_string(), "0-1");
        assert!(parse(|a| a.flags.set(Key::Cpus, "0")).unwrap().cpu.max.unwrap().quota == Limit::Max);
        assert!(
            parse(|a| {
                a.flags.set(Key::Cpus, "2");
                a.flags.set(Key::Cpu, "20%");
            })
            .is_err()
        );
    }

    #[test]
    fn bad_values_name_flag_and_value() {
        let e = parse(|a| a.flags.set(Key::Memory, "lots")).unwrap_err().to_string();
        assert!(e.contains("--memory") && e.contains("'lots'"), "{e}");
        for (set, flag) in [
            (Box::new(|a: &mut LimitArgs| a.flags.set(Key::Memory, "0")) as Box<dyn Fn(&mut LimitArgs)>, "memory"),
            (Box::new(|a: &mut LimitArgs| a.flags.set(Key::Pids, "-1")), "pids"),
            (Box::new(|a: &mut LimitArgs| a.flags.set(Key::Pids, "0")), "pids"),
            (Box::new(|a: &mut LimitArgs| a.flags.set(Key::CpuWeight, "0")), "cpu-weight"),
            (Box::new(|a: &mut LimitArgs| a.flags.set(Key::CpuShares, "1")), "cpu-shares"),
            (Box::new(|a: &mut LimitArgs| a.flags.set(Key::Cpuset, "3-1")), "cpuset"),
            (Box::new(|a: &mut LimitArgs| a.flags.set(Key::CpuPeriod, "100ms")), "cpu-period"),
            (Box::new(|a: &mut LimitArgs| a.flags.set(Key::IoMax, "7:0:wbps=0")), "io"),
            (Box::new(|a: &mut LimitArgs| a.flags.set(Key::IoMax, "7:0:xbps=1")), "io-max"),
            (Box::new(|a: &mut LimitArgs| a.flags.set(Key::IoMax, "7:0")), "io-max"),
            (Box::new(|a: &mut LimitArgs| a.flags.set(Key::Swap, "1e99")), "swap"),
        ] {
            let mut a = LimitArgs::default();
            set(&mut a);
            let e = a.to_resources(&no_dev).unwrap_err().to_string();
            assert!(e.contains(flag), "{flag}: {e}");
        }
    }

    #[test]
    fn io_max_forms() {
        let m = parse_io_max("7:0:wbps=1M,riops=100", &no_dev).unwrap();
        assert_eq!(m.device.to_string(), "7:0");
        assert_eq!(m.wbps, Some(Limit::Value(1 << 20)));
        assert_eq!(m.riops, Some(Limit::Value(100)));
        assert!(parse_io_max("7:0:wbps=1M,wbps=2M", &no_dev).is_err());
        assert_eq!(parse_micros("100ms"), Ok(100_000));
        assert_eq!(parse_micros("1s"), Ok(1_000_000));
    }

    #[test]
    fn the_full_example() {
        let r = parse(|a| {
            a.flags.set(Key::Memory, "2G");
            a.flags.set(Key::MemoryHigh, "1536M");
            a.flags.set(Key::Swap, "0");
            a.flags.set(Key::Cpu, "300%");
            a.flags.set(Key::CpuWeight, "200");
            a.flags.set(Key::Cpus, "0-1");
            a.flags.set(Key::Pids, "64");
            a.flags.set(Key::IoWeight, "50");
            a.flags.set(Key::IoMax, "7:0:wbps=1M");
        })
        .unwrap();
        assert_eq!(r.memory.max, Some(Limit::Value(Bytes::gib(2))));
        assert_eq!(r.cpu.max.unwrap().quota, Limit::Value(300_000));
        assert_eq!(r.cpuset.cpus.unwrap().to_string(), "0-1");
    }

    /// The flag table is the library's: every key has its flag and a help row here, and
    /// every limit flag here is a key.
    #[test]
    fn every_key_has_a_flag_with_help_and_every_flag_is_a_key() {
        for k in Key::ALL {
            let rows = HELP.iter().filter(|(r, _, _)| r == k).count();
            assert_eq!(rows, 1, "{k}: {rows} help rows");
        }
        assert_eq!(HELP.len(), Key::ALL.len(), "a help row for a key that is not in Key::ALL");
        for (k, value_name, help) in HELP {
            assert!(!help.is_empty(), "{k}");
            assert_eq!(value_name.is_empty(), k.shape() == Shape::Bool, "{k}: a switch has no value name");
        }
        let cmd = LimitArgs::augment_args(Command::new("t"));
        let mut flags = Vec::new();
        for a in cmd.get_arguments() {
            let long = a.get_long().expect("a long flag");
            if long == PROPERTY {
                continue;
            }
            let key = Key::from_name(long).unwrap_or_else(|| panic!("--{long} is no flags::Key"));
            assert_eq!(key.name(), long);
            let aliases: Vec<&str> = a.get_visible_aliases().unwrap_or_default();
            assert_eq!(aliases, key.aliases(), "{key}");
            flags.push(key);
        }
        let mut all = Key::ALL.to_vec();
        all.sort();
        flags.sort();
        assert_eq!(flags, all);
    }

    /// What clap parses lands in the flags by key: values, repeated values, aliases, switches.
    #[test]
    fn parsed_flags_land_by_key() {
        let cmd = LimitArgs::augment_args(Command::new("t").no_binary_name(true));
        let m = cmd
            .clone()
            .try_get_matches_from([
                "--memory",
                "1G",
                "--io-max",
                "7:0:wbps=1M",
                "--io-max",
                "7:1:rbps=2M",
                "--cpuset-cpus",
                "0-1",
                "--oom-group",
                "--pids-limit",
                "-1",
                "-p",
                "TasksMax=5",
            ])
            .unwrap();
        let a = LimitArgs::from_arg_matches(&m).unwrap();
        assert_eq!(a.flags.get(Key::Memory), Some("1G"));
        assert_eq!(a.flags.values(Key::IoMax), ["7:0:wbps=1M", "7:1:rbps=2M"]);
        assert_eq!(a.flags.get(Key::Cpuset), Some("0-1"));
        assert!(a.flags.is_on(Key::OomGroup) && !a.flags.is_on(Key::OomKillDisable));
        assert_eq!(a.flags.get(Key::PidsLimit), Some("-1"));
        assert_eq!(a.property, ["TasksMax=5"]);
        assert_eq!(a.flags.iter().count(), 5);
        let none = cmd.try_get_matches_from([] as [&str; 0]).unwrap();
        assert_eq!(LimitArgs::from_arg_matches(&none).unwrap(), LimitArgs::default());
    }
}
