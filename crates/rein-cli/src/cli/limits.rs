//! The limit flags shared by `run`, `create` and `set`, and their translation into
//! [`rein::Resources`] (by [`rein::flags`], which rein.toml files share). Values arrive as strings and are checked here, so a bad value is
//! rein's error (exit 125, naming the flag and the value), not a usage error.

use clap::Args;
use rein::compat::systemd;
use rein::flags::Flags;
use rein::{Error, Resources};

/// Limits, in rein's own words (sizes in binary units: 256M = 256 MiB).
#[derive(Args, Debug, Default, Clone, PartialEq)]
pub struct LimitArgs {
    /// Hard memory limit (memory.max): a size like 256M or 1.5G, or max
    #[arg(long, allow_hyphen_values = true, value_name = "SIZE", help_heading = "Limits")]
    pub memory: Option<String>,
    /// Memory throttling limit (memory.high, v2 only)
    #[arg(long, allow_hyphen_values = true, value_name = "SIZE", help_heading = "Limits")]
    pub memory_high: Option<String>,
    /// Memory protection, best effort (memory.low; v1 memory.soft_limit_in_bytes)
    #[arg(long, allow_hyphen_values = true, value_name = "SIZE", help_heading = "Limits")]
    pub memory_low: Option<String>,
    /// Memory protection, hard (memory.min, v2 only)
    #[arg(long, allow_hyphen_values = true, value_name = "SIZE", help_heading = "Limits")]
    pub memory_min: Option<String>,
    /// Swap limit (memory.swap.max; v1 needs --memory too), e.g. 0 for no swap
    #[arg(long, allow_hyphen_values = true, value_name = "SIZE", help_heading = "Limits")]
    pub swap: Option<String>,
    /// Kill the whole group when the OOM killer strikes one task (memory.oom.group, v2)
    #[arg(long, help_heading = "Limits")]
    pub oom_group: bool,
    /// CPU limit: a percentage of one CPU (20%, 150%), QUOTA/PERIOD in µs, or max
    #[arg(long, allow_hyphen_values = true, value_name = "LIMIT", help_heading = "Limits")]
    pub cpu: Option<String>,
    /// CFS period for --cpu, in µs or with a unit (100ms); default 100ms
    #[arg(long, allow_hyphen_values = true, value_name = "PERIOD", help_heading = "Limits")]
    pub cpu_period: Option<String>,
    /// CPU weight 1-10000, default 100 (cpu.weight; v1 cpu.shares)
    #[arg(long, allow_hyphen_values = true, value_name = "N", help_heading = "Limits")]
    pub cpu_weight: Option<String>,
    /// CPU shares 2-262144 (v1 style), converted to a weight as shares*100/1024
    #[arg(long, allow_hyphen_values = true, value_name = "N", help_heading = "Limits")]
    pub cpu_shares: Option<String>,
    /// A number of CPUs of bandwidth (Docker: 1.5), or, when a list or range, CPUs to pin to (0-1)
    #[arg(long, allow_hyphen_values = true, value_name = "N|LIST", help_heading = "Limits")]
    pub cpus: Option<String>,
    /// CPUs to run on (cpuset.cpus), e.g. 0-3,6
    #[arg(
        long,
        visible_alias = "cpuset-cpus",
        allow_hyphen_values = true,
        value_name = "LIST",
        help_heading = "Limits"
    )]
    pub cpuset: Option<String>,
    /// Memory nodes to allocate from (cpuset.mems)
    #[arg(
        long,
        visible_alias = "cpuset-mems",
        allow_hyphen_values = true,
        value_name = "LIST",
        help_heading = "Limits"
    )]
    pub mems: Option<String>,
    /// IO weight 1-10000, default 100 (io.weight; v1 blkio.bfq.weight)
    #[arg(long, allow_hyphen_values = true, value_name = "N", help_heading = "Limits")]
    pub io_weight: Option<String>,
    /// IO limit on a whole disk: DEVICE:KEY=VALUE[,KEY=VALUE] with keys rbps wbps riops wiops,
    /// DEVICE a path or MAJ:MIN (e.g. /dev/loop0:wbps=1M); repeatable
    #[arg(long, allow_hyphen_values = true, value_name = "SPEC", help_heading = "Limits")]
    pub io_max: Vec<String>,
    /// Most tasks (processes + threads) in the group (pids.max), or max
    #[arg(long, visible_alias = "pids-max", allow_hyphen_values = true, value_name = "N", help_heading = "Limits")]
    pub pids: Option<String>,

    /// A systemd resource-control property, Name=Value (MemoryMax=1G, CPUQuota=20%,
    /// TasksMax=64, IOWriteBandwidthMax=/dev/sda 5M, ...), with systemd's semantics; repeatable
    #[arg(short = 'p', long = "property", value_name = "NAME=VALUE", help_heading = "systemd properties")]
    pub property: Vec<String>,

    /// Docker: memory plus swap, in total (-1 for unlimited swap); needs --memory
    #[arg(long, allow_hyphen_values = true, value_name = "SIZE", help_heading = "Docker flags")]
    pub memory_swap: Option<String>,
    /// Docker: soft memory limit (memory.low; v1 memory.soft_limit_in_bytes)
    #[arg(long, allow_hyphen_values = true, value_name = "SIZE", help_heading = "Docker flags")]
    pub memory_reservation: Option<String>,
    /// Docker: CFS quota in µs per --cpu-period (default 100000); -1 for none
    #[arg(long, allow_hyphen_values = true, value_name = "USEC", help_heading = "Docker flags")]
    pub cpu_quota: Option<String>,
    /// Docker: most tasks; 0 or -1 for unlimited
    #[arg(long, allow_hyphen_values = true, value_name = "N", help_heading = "Docker flags")]
    pub pids_limit: Option<String>,
    /// Docker: block IO weight 10-1000 (io.weight = weight x 100 / 500)
    #[arg(long, allow_hyphen_values = true, value_name = "N", help_heading = "Docker flags")]
    pub blkio_weight: Option<String>,
    /// Docker: read bytes/s from a device, /dev/PATH:RATE (1mb); repeatable
    #[arg(long, allow_hyphen_values = true, value_name = "PATH:RATE", help_heading = "Docker flags")]
    pub device_read_bps: Vec<String>,
    /// Docker: write bytes/s to a device, /dev/PATH:RATE; repeatable
    #[arg(long, allow_hyphen_values = true, value_name = "PATH:RATE", help_heading = "Docker flags")]
    pub device_write_bps: Vec<String>,
    /// Docker: read IO/s from a device, /dev/PATH:N; repeatable
    #[arg(long, allow_hyphen_values = true, value_name = "PATH:N", help_heading = "Docker flags")]
    pub device_read_iops: Vec<String>,
    /// Docker: write IO/s to a device, /dev/PATH:N; repeatable
    #[arg(long, allow_hyphen_values = true, value_name = "PATH:N", help_heading = "Docker flags")]
    pub device_write_iops: Vec<String>,
    /// Docker: do not OOM-kill in the group (cgroup v1 only; refused on v2)
    #[arg(long, help_heading = "Docker flags")]
    pub oom_kill_disable: bool,
}

impl LimitArgs {
    /// The flags, as the library's parser takes them.
    pub fn flags(&self) -> Flags {
        let mut f = Flags::default();
        f.memory = self.memory.clone();
        f.memory_high = self.memory_high.clone();
        f.memory_low = self.memory_low.clone();
        f.memory_min = self.memory_min.clone();
        f.swap = self.swap.clone();
        f.oom_group = self.oom_group;
        f.cpu = self.cpu.clone();
        f.cpu_period = self.cpu_period.clone();
        f.cpu_weight = self.cpu_weight.clone();
        f.cpu_shares = self.cpu_shares.clone();
        f.cpus = self.cpus.clone();
        f.cpuset = self.cpuset.clone();
        f.mems = self.mems.clone();
        f.io_weight = self.io_weight.clone();
        f.io_max = self.io_max.clone();
        f.pids = self.pids.clone();
        f.memory_swap = self.memory_swap.clone();
        f.memory_reservation = self.memory_reservation.clone();
        f.cpu_quota = self.cpu_quota.clone();
        f.pids_limit = self.pids_limit.clone();
        f.blkio_weight = self.blkio_weight.clone();
        f.device_read_bps = self.device_read_bps.clone();
        f.device_write_bps = self.device_write_bps.clone();
        f.device_read_iops = self.device_read_iops.clone();
        f.device_write_iops = self.device_write_iops.clone();
        f.oom_kill_disable = self.oom_kill_disable;
        f
    }

    /// Checks every value and builds the model: the flags, then `-p` properties (a
    /// setting given both ways is refused). Devices are resolved with `resolve`.
    pub fn to_resources(
        &self,
        resolve: &dyn Fn(&str) -> Result<rein::DeviceNumber, Error>,
    ) -> Result<Resources, Error> {
        let mut r = self.flags().to_resources(resolve, &systemd::HostFacts::detect)?;
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
        let r = parse(|a| a.cpus = Some("1.5".into())).unwrap();
        assert_eq!(r.cpu.max.unwrap().quota, Limit::Value(150_000));
        let r = parse(|a| a.cpus = Some("0-1".into())).unwrap();
        assert_eq!(r.cpuset.cpus.unwrap().to_string(), "0-1");
        assert!(parse(|a| a.cpus = Some("0".into())).unwrap().cpu.max.unwrap().quota == Limit::Max);
        assert!(
            parse(|a| {
                a.cpus = Some("2".into());
                a.cpu = Some("20%".into());
            })
            .is_err()
        );
    }

    #[test]
    fn bad_values_name_flag_and_value() {
        let e = parse(|a| a.memory = Some("lots".into())).unwrap_err().to_string();
        assert!(e.contains("--memory") && e.contains("'lots'"), "{e}");
        for (set, flag) in [
            (Box::new(|a: &mut LimitArgs| a.memory = Some("0".into())) as Box<dyn Fn(&mut LimitArgs)>, "memory"),
            (Box::new(|a: &mut LimitArgs| a.pids = Some("-1".into())), "pids"),
            (Box::new(|a: &mut LimitArgs| a.pids = Some("0".into())), "pids"),
            (Box::new(|a: &mut LimitArgs| a.cpu_weight = Some("0".into())), "cpu-weight"),
            (Box::new(|a: &mut LimitArgs| a.cpu_shares = Some("1".into())), "cpu-shares"),
            (Box::new(|a: &mut LimitArgs| a.cpuset = Some("3-1".into())), "cpuset"),
            (Box::new(|a: &mut LimitArgs| a.cpu_period = Some("100ms".into())), "cpu-period"),
            (Box::new(|a: &mut LimitArgs| a.io_max = vec!["7:0:wbps=0".into()]), "io"),
            (Box::new(|a: &mut LimitArgs| a.io_max = vec!["7:0:xbps=1".into()]), "io-max"),
            (Box::new(|a: &mut LimitArgs| a.io_max = vec!["7:0".into()]), "io-max"),
            (Box::new(|a: &mut LimitArgs| a.swap = Some("1e99".into())), "swap"),
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
            a.memory = Some("2G".into());
            a.memory_high = Some("1536M".into());
            a.swap = Some("0".into());
            a.cpu = Some("300%".into());
            a.cpu_weight = Some("200".into());
            a.cpus = Some("0-1".into());
            a.pids = Some("64".into());
            a.io_weight = Some("50".into());
            a.io_max = vec!["7:0:wbps=1M".into()];
        })
        .unwrap();
        assert_eq!(r.memory.max, Some(Limit::Value(Bytes::gib(2))));
        assert_eq!(r.cpu.max.unwrap().quota, Limit::Value(300_000));
        assert_eq!(r.cpuset.cpus.unwrap().to_string(), "0-1");
    }
}
