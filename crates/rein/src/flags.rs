//! rein's limit flags and Docker's, by their long names: what `rein run --memory 1G`
//! and a `memory = "1G"` line of a rein.toml file both say, turned into [`Resources`].
//!
//! One table and one parser for both, so a setting means the same on the command line
//! and in a file. [`Key`] is the table (each flag's name, aliases, [`Shape`], whose it is,
//! an example value): rein.toml's limit keys are its names ([`crate::config::model`]),
//! the `rein` command builds its limit flags from it (adding only the help texts), and
//! [`Flags`] holds the values given, by key. Values arrive as strings (as typed); errors
//! name the flag (`--memory`) and the value.
//! The systemd properties (`-p`) and raw interface-file names (`-r`) have their own
//! parsers in [`crate::compat`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::compat::docker;
use crate::compat::systemd::HostFacts;
use crate::devices::{DeviceAccess, DevicePolicy, DeviceRule};
use crate::error::{Error, Result};
use crate::resources::{CpuMax, DEFAULT_CPU_PERIOD_US, IoMax, Resources};
use crate::units::{self, Bytes, CpuList, DeviceNumber, Limit, Rate, Weight};

/// What a key's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One value: a string (in a file also a number, printed as the flag would take it).
    Text,
    /// A switch (`--oom-group`; `true` or `false` in a file).
    Bool,
    /// Repeatable: each value adds one (`--io-max` twice; a string or a list of strings in
    /// a file).
    List,
}

/// Whose flag a key is, and so whose semantics its value has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// rein's own flags.
    Rein,
    /// Docker's (`docker run`), with Docker's semantics ([`crate::compat::docker`]).
    Docker,
}

macro_rules! keys {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal $(| $alias:literal)*, $shape:ident, $origin:ident, $example:literal;)+) => {
        /// A limit flag, rein's or Docker's, by its long name: `--memory` on the command
        /// line (`rein run`, `create`, `set`, `exec`), `memory = ...` in a group table of a
        /// rein.toml file. Each means the same in both (see `rein run --help` and
        /// docs/interface-files.md).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum Key {
            $(
                $(#[doc = $doc])*
                #[serde(rename = $name $(, alias = $alias)*)]
                $variant,
            )+
        }

        impl Key {
            /// Every key, in the order of `rein run --help`.
            pub const ALL: &'static [Key] = &[$(Key::$variant),+];

            /// The key as written (the flag's long name).
            pub fn name(self) -> &'static str {
                match self { $(Key::$variant => $name,)+ }
            }

            /// Other names of the key (`cpuset-cpus` for `cpuset`), in files and on the
            /// command line alike.
            pub fn aliases(self) -> &'static [&'static str] {
                match self { $(Key::$variant => &[$($alias),*],)+ }
            }

            /// The key a name means, aliases included (`cpuset-cpus` is `cpuset`).
            pub fn from_name(name: &str) -> Option<Key> {
                match name { $($name $(| $alias)* => Some(Key::$variant),)+ _ => None }
            }

            /// What its value must be.
            pub fn shape(self) -> Shape {
                match self { $(Key::$variant => Shape::$shape,)+ }
            }

            /// Whose flag it is.
            pub fn origin(self) -> Origin {
                match self { $(Key::$variant => Origin::$origin,)+ }
            }

            /// An example value, for messages.
            pub fn example(self) -> &'static str {
                match self { $(Key::$variant => $example,)+ }
            }
        }
    };
}

keys! {
    /// Hard memory limit (memory.max; v1 memory.limit_in_bytes): `"2G"`, `"max"`.
    Memory = "memory", Text, Rein, "\"2G\"";
    /// Memory throttling limit (memory.high, v2 only).
    MemoryHigh = "memory-high", Text, Rein, "\"1536M\"";
    /// Best-effort memory protection (memory.low; v1 memory.soft_limit_in_bytes).
    MemoryLow = "memory-low", Text, Rein, "\"512M\"";
    /// Hard memory protection (memory.min, v2 only).
    MemoryMin = "memory-min", Text, Rein, "\"256M\"";
    /// Swap limit (memory.swap.max; v1 memsw = memory + swap).
    Swap = "swap", Text, Rein, "\"0\"";
    /// Kill the whole group on OOM (memory.oom.group, v2 only).
    OomGroup = "oom-group", Bool, Rein, "true";
    /// CPU bandwidth: a percentage of one CPU, `QUOTA/PERIOD` in µs, or `"max"`.
    Cpu = "cpu", Text, Rein, "\"40%\"";
    /// The CFS period for `cpu`, `cpus` and `cpu-quota` (µs or `"100ms"`).
    CpuPeriod = "cpu-period", Text, Rein, "\"100ms\"";
    /// CPU weight 1..10000 (cpu.weight; v1 cpu.shares).
    CpuWeight = "cpu-weight", Text, Rein, "200";
    /// CPU shares 2..262144: v1 `cpu.shares` as given; on v2 `cpu.weight` = shares x 100 / 1024.
    CpuShares = "cpu-shares", Text, Rein, "512";
    /// A number of CPUs of bandwidth (Docker: `1.5`), or a CPU list to pin to (`"0-1"`).
    Cpus = "cpus", Text, Rein, "1.5";
    /// CPUs to run on (cpuset.cpus).
    Cpuset = "cpuset" | "cpuset-cpus", Text, Rein, "\"0-1\"";
    /// Memory nodes to allocate from (cpuset.mems).
    Mems = "mems" | "cpuset-mems", Text, Rein, "\"0\"";
    /// IO weight 1..10000 (io.weight; v1 blkio.bfq.weight).
    IoWeight = "io-weight", Text, Rein, "100";
    /// IO limits per whole disk, `DEVICE:KEY=VALUE[,KEY=VALUE]`, keys rbps wbps riops wiops.
    IoMax = "io-max", List, Rein, "[\"/dev/sda:wbps=10M\"]";
    /// Most tasks (pids.max), or `"max"`.
    Pids = "pids" | "pids-max", Text, Rein, "64";
    /// Device access rule allowed, v1's syntax `TYPE MAJOR:MINOR ACCESS` (`c 1:3 rw`), in order.
    DeviceAllow = "device-allow", List, Rein, "[\"c 1:3 rw\"]";
    /// Device node allowed by path, `PATH[:rwm]` (all access when none is given).
    Device = "device", List, Rein, "[\"/dev/loop0:r\"]";
    /// What is allowed besides the rules, systemd's `DevicePolicy=`: auto, closed or strict.
    DevicePolicy = "device-policy", Text, Rein, "\"closed\"";
    /// Most the group sends: a rate (`10mbit`, `1.25MB/s`; IP headers count), or `"max"`.
    NetEgress = "net-egress", Text, Rein, "\"10mbit\"";
    /// Most the group receives: a rate, or `"max"`.
    NetIngress = "net-ingress", Text, Rein, "\"100mbit\"";
    /// Priority of what the group sends (net_prio's; 0 leaves the sockets' own).
    NetPriority = "net-priority", Text, Rein, "6";
    /// tc class of what the group sends, `MAJ:MIN` in hex as tc writes it (net_cls's classid).
    NetClassid = "net-classid", Text, Rein, "\"1:10\"";
    /// Docker's memory plus swap total (needs `memory` in the same table; -1 unlimited swap).
    MemorySwap = "memory-swap", Text, Docker, "\"2g\"";
    /// Docker's soft memory limit (memory.low).
    MemoryReservation = "memory-reservation", Text, Docker, "\"512m\"";
    /// Docker's CFS quota in µs per period (-1 none, 0 unset).
    CpuQuota = "cpu-quota", Text, Docker, "40000";
    /// Docker's task limit (0 or negative is unlimited).
    PidsLimit = "pids-limit", Text, Docker, "100";
    /// Docker's block IO weight 10..1000 (io.weight = w x 100 / 500).
    BlkioWeight = "blkio-weight", Text, Docker, "500";
    /// Docker's read bytes per second from a device, `/dev/PATH:RATE`.
    DeviceReadBps = "device-read-bps", List, Docker, "[\"/dev/sda:1mb\"]";
    /// Docker's write bytes per second to a device.
    DeviceWriteBps = "device-write-bps", List, Docker, "[\"/dev/sda:1mb\"]";
    /// Docker's read operations per second from a device, `/dev/PATH:N`.
    DeviceReadIops = "device-read-iops", List, Docker, "[\"/dev/sda:100\"]";
    /// Docker's write operations per second to a device.
    DeviceWriteIops = "device-write-iops", List, Docker, "[\"/dev/sda:100\"]";
    /// Docker's "no OOM kill in the group" (cgroup v1 only).
    OomKillDisable = "oom-kill-disable", Bool, Docker, "true";
    /// Docker's device rule (`c 42:* rmw`), allowed in addition to Docker's default devices.
    DeviceCgroupRule = "device-cgroup-rule", List, Docker, "[\"c 42:* rmw\"]";
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Limit flags as given, by [`Key`]: what `rein run --memory 1G --io-max A --io-max B`
/// or a rein.toml group table says, before any value is checked. Values are strings, as
/// typed; [`Flags::to_resources`] checks them. A key not given leaves its setting alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    values: BTreeMap<Key, Vec<String>>,
}

impl Flags {
    /// Gives `key` a value, as typed after the flag: a [`Shape::Text`] key keeps the last
    /// value given, a [`Shape::List`] key (`io-max`, `device-read-bps`, ...) every value in
    /// order, and a [`Shape::Bool`] switch (`oom-group`, `oom-kill-disable`) is on for
    /// `true` and off for anything else.
    pub fn set(&mut self, key: Key, value: impl Into<String>) {
        let value = value.into();
        match key.shape() {
            Shape::Text => {
                self.values.insert(key, vec![value]);
            }
            Shape::List => self.values.entry(key).or_default().push(value),
            Shape::Bool if value == "true" => {
                self.values.insert(key, vec![value]);
            }
            Shape::Bool => {
                self.values.remove(&key);
            }
        }
    }

    /// The value of `key` (of a list, the last one); `None` when not given.
    pub fn get(&self, key: Key) -> Option<&str> {
        self.values.get(&key).and_then(|v| v.last()).map(String::as_str)
    }

    /// Every value of `key`, in order (empty when not given).
    pub fn values(&self, key: Key) -> &[String] {
        self.values.get(&key).map(Vec::as_slice).unwrap_or_default()
    }

    /// Whether the switch `key` is on.
    pub fn is_on(&self, key: Key) -> bool {
        self.get(key) == Some("true")
    }

    /// True when no key is given.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The keys given, in the order of [`Key::ALL`], with their values.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &[String])> + '_ {
        self.values.iter().map(|(k, v)| (*k, v.as_slice()))
    }
}

/// An [`Error::InvalidValue`] naming `--flag`.
pub fn invalid(flag: &str, value: &str, reason: impl Into<String>) -> Error {
    Error::invalid(format!("--{flag}"), value, reason)
}

fn size(flag: &str, v: &str) -> Result<Bytes> {
    units::parse_size(v).map(Bytes).map_err(|r| invalid(flag, v, r))
}

/// A parse error of a value that also takes `max`: "expected ..., or max", or for an
/// error that says no "expected" (a number too large) what to give instead.
fn or_max(reason: &str, give: &str) -> String {
    if reason.contains("expected") { format!("{reason}, or max") } else { format!("{reason}: give {give}, or max") }
}

fn size_limit(flag: &str, v: &str) -> Result<Limit<Bytes>> {
    units::parse_limit(v, |s| units::parse_size(s).map(Bytes))
        .map_err(|r| invalid(flag, v, or_max(&r, "a size like 512M")))
}

/// A duration in µs: `100000`, `100ms`, `1s`, `500us`.
pub fn parse_micros(v: &str) -> Result<u64, String> {
    let t = v.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("us") {
        (n, 1)
    } else if let Some(n) = t.strip_suffix("ms") {
        (n, 1_000)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1_000_000)
    } else {
        (t, 1)
    };
    let n = units::parse_count(num).map_err(|e| {
        if e.starts_with("too large") { e } else { "expected whole microseconds, or a duration like 100ms".into() }
    })?;
    n.checked_mul(scale).ok_or_else(|| "too large".to_string())
}

/// Parses `--cpu`: `20%`, `max`, or `QUOTA/PERIOD` in µs.
pub fn parse_cpu(v: &str, period: Option<u64>) -> Result<CpuMax> {
    let t = v.trim();
    let p = period.unwrap_or(DEFAULT_CPU_PERIOD_US);
    if t == "max" || t == "infinity" {
        return CpuMax::new(Limit::Max, p).map_err(|e| relabel(e, "cpu", v));
    }
    if let Some((q, per)) = t.split_once('/') {
        let q = parse_micros(q).map_err(|r| invalid("cpu", v, r))?;
        let per = parse_micros(per).map_err(|r| invalid("cpu", v, r))?;
        if period.is_some_and(|p| p != per) {
            return Err(invalid("cpu", v, "the period here differs from --cpu-period; give one"));
        }
        return CpuMax::new(Limit::Value(q), per).map_err(|e| relabel(e, "cpu", v));
    }
    if !t.ends_with('%') {
        return Err(invalid(
            "cpu",
            v,
            "expected a percentage of one CPU like 20% or 150%, QUOTA/PERIOD in µs like 20000/100000, or max \
             (for a number of CPUs use --cpus)",
        ));
    }
    let micro = units::parse_percent_micro(t).map_err(|r| invalid("cpu", v, r))?;
    CpuMax::from_percent_micro(micro, p).map_err(|e| relabel(e, "cpu", v))
}

/// Re-labels a model error as an error of `--flag` with the value as given.
pub(crate) fn relabel(e: Error, flag: &str, v: &str) -> Error {
    match e {
        Error::InvalidValue { reason, .. } => invalid(flag, v, reason),
        other => other,
    }
}

/// Parses one `--io-max` spec into a device spec and limits.
pub fn parse_io_max(v: &str, resolve: &dyn Fn(&str) -> Result<DeviceNumber>) -> Result<IoMax> {
    let eq = v.find('=').ok_or_else(|| invalid("io-max", v, "expected DEVICE:KEY=VALUE, e.g. /dev/loop0:wbps=1M"))?;
    let (dev, first_key) =
        v[..eq].rsplit_once(':').ok_or_else(|| invalid("io-max", v, "expected DEVICE:KEY=VALUE, e.g. 8:0:rbps=10M"))?;
    // The limits are checked before the device is looked up, so a bad key is named
    // whatever the device.
    let mut m = IoMax::new(DeviceNumber { major: 0, minor: 0 });
    let rest = &v[dev.len() + 1..];
    debug_assert!(rest.starts_with(first_key));
    for kv in rest.split(',') {
        let (k, val) = kv.split_once('=').ok_or_else(|| invalid("io-max", v, format!("'{kv}' is not KEY=VALUE")))?;
        let parsed = match k.trim() {
            "rbps" | "wbps" => units::parse_limit(val, units::parse_size),
            "riops" | "wiops" => units::parse_limit(val, units::parse_count),
            other => {
                return Err(invalid("io-max", v, format!("unknown key '{other}'; use rbps, wbps, riops or wiops")));
            }
        }
        .map_err(|r| invalid("io-max", v, format!("{}: {r}", k.trim())))?;
        let slot = m.slot_mut(k.trim()).expect("a key checked above");
        if slot.is_some() {
            return Err(invalid("io-max", v, format!("'{}' given twice", k.trim())));
        }
        *slot = Some(parsed);
    }
    m.device = resolve(dev)?;
    Ok(m)
}

impl Flags {
    /// Checks every value and builds the model, with the flags' semantics (Docker's for
    /// Docker's flags). Devices are resolved with `resolve`; `facts` is asked for the
    /// host's CPU count when `--cpus` gives a number of CPUs. Errors name the flag
    /// (`--memory`) and the value.
    pub fn to_resources(
        &self,
        resolve: &dyn Fn(&str) -> Result<DeviceNumber, Error>,
        facts: &dyn Fn() -> HostFacts,
    ) -> Result<Resources> {
        let mut r = Resources::new();
        if let Some(v) = self.get(Key::Memory) {
            r.memory.max = Some(size_limit("memory", v)?);
        }
        if let Some(v) = self.get(Key::MemoryHigh) {
            r.memory.high = Some(size_limit("memory-high", v)?);
        }
        if let Some(v) = self.get(Key::MemoryLow) {
            r.memory.low = Some(size("memory-low", v)?);
        }
        if let Some(v) = self.get(Key::MemoryMin) {
            r.memory.min = Some(size("memory-min", v)?);
        }
        if let Some(v) = self.get(Key::Swap) {
            r.memory.swap_max = Some(size_limit("swap", v)?);
        }
        if self.is_on(Key::OomGroup) {
            r.memory.oom_group = Some(true);
        }
        let period = match self.get(Key::CpuPeriod) {
            Some(v) => {
                let p = parse_micros(v).map_err(|e| invalid("cpu-period", v, e))?;
                // The kernel's bounds for cfs_period_us and cpu.max's period.
                if !(1_000..=1_000_000).contains(&p) {
                    return Err(invalid("cpu-period", v, "must be between 1000us (1ms) and 1000000us (1s)"));
                }
                Some(p)
            }
            None => None,
        };
        if let Some(v) = self.get(Key::Cpu) {
            r.cpu.max = Some(parse_cpu(v, period)?);
        }
        if let Some(v) = self.get(Key::Cpus) {
            let t = v.trim();
            if t.contains('-') || t.contains(',') {
                if self.get(Key::Cpuset).is_some() {
                    return Err(invalid("cpus", v, "a CPU list here and --cpuset too; give one"));
                }
                r.cpuset.cpus = Some(CpuList::parse_nonempty(t).map_err(|e| invalid("cpus", v, e))?);
            } else {
                if r.cpu.max.is_some() {
                    return Err(invalid("cpus", v, "--cpu and --cpus both set a CPU limit; give one"));
                }
                // Docker's meaning: a number of CPUs. 0 means no limit there too.
                let micro = units::parse_percent_micro(&format!("{t}%")).map_err(|e| {
                    invalid("cpus", v, format!("{e}; expected a number of CPUs like 1.5, or a CPU list like 0-1"))
                })?;
                // Docker refuses more CPUs than the host has ("Range of CPUs is from
                // 0.01 to 2.00, as there are only 2 CPUs available"): such a quota never
                // binds, so it is a mistake, not a limit.
                let online = facts().online_cpus;
                if micro > u64::from(online) * 1_000_000 {
                    return Err(invalid(
                        "cpus",
                        v,
                        format!(
                            "this host has {online} CPU{}, so a number of CPUs is at most {online}; \
                             for a quota of more CPUs than this host has, use --cpu {}%",
                            if online == 1 { "" } else { "s" },
                            micro / 10_000
                        ),
                    ));
                }
                let p = period.unwrap_or(DEFAULT_CPU_PERIOD_US);
                r.cpu.max = Some(if micro == 0 {
                    CpuMax::new(Limit::Max, p)?
                } else {
                    CpuMax::from_percent_micro(micro.saturating_mul(100), p).map_err(|e| relabel(e, "cpus", v))?
                });
            }
        }
        if period.is_some() && r.cpu.max.is_none() && self.get(Key::CpuQuota).is_none() {
            return Err(invalid("cpu-period", self.get(Key::CpuPeriod).unwrap_or(""), "needs --cpu or --cpus"));
        }
        if let Some(v) = self.get(Key::CpuWeight) {
            r.cpu.weight = Some(v.parse::<Weight>().map_err(|e| invalid("cpu-weight", v, e))?);
        }
        if let Some(v) = self.get(Key::CpuShares) {
            if r.cpu.weight.is_some() {
                return Err(invalid("cpu-shares", v, "--cpu-weight is given too; give one"));
            }
            let n = units::parse_count(v).map_err(|e| invalid("cpu-shares", v, e))?;
            // Docker's 0: leave the weight as it is. Other shares stay shares: v1 writes
            // them as given, v2 converts them (Cpu::weight_v2).
            if n != 0 {
                r.cpu.shares = Some(units::Shares::new(n).map_err(|e| invalid("cpu-shares", v, e))?);
            }
        }
        if let Some(v) = self.get(Key::Cpuset) {
            r.cpuset.cpus = Some(CpuList::parse_nonempty(v).map_err(|e| invalid("cpuset", v, e))?);
        }
        if let Some(v) = self.get(Key::Mems) {
            r.cpuset.mems = Some(CpuList::parse_nonempty(v).map_err(|e| invalid("mems", v, e))?);
        }
        if let Some(v) = self.get(Key::IoWeight) {
            r.io.weight = Some(v.parse::<Weight>().map_err(|e| invalid("io-weight", v, e))?);
        }
        r.devices = self.devices()?;
        let rate = |key: Key| -> Result<Option<Limit<Rate>>> {
            self.get(key).map(|v| units::parse_limit(v, Rate::parse).map_err(|e| invalid(key.name(), v, e))).transpose()
        };
        r.network.egress = rate(Key::NetEgress)?;
        r.network.ingress = rate(Key::NetIngress)?;
        if let Some(v) = self.get(Key::NetPriority) {
            r.network.priority = Some(crate::network::parse_priority(v).map_err(|e| invalid("net-priority", v, e))?);
        }
        if let Some(v) = self.get(Key::NetClassid) {
            r.network.classid = Some(crate::network::ClassId::parse(v).map_err(|e| invalid("net-classid", v, e))?);
        }
        for spec in self.values(Key::IoMax) {
            let m = parse_io_max(spec, resolve)?;
            if r.io.device(m.device).is_some() {
                return Err(invalid(
                    "io-max",
                    spec,
                    format!("device {} given twice; merge the limits with commas", m.device),
                ));
            }
            r.io.max.push(m);
        }
        if let Some(v) = self.get(Key::Pids) {
            r.pids.max = Some(
                units::parse_limit(v, units::parse_count)
                    .map_err(|e| invalid("pids", v, or_max(&e, "a number of tasks")))?,
            );
        }
        self.docker(&mut r, resolve)?;
        r.validate()?;
        Ok(r)
    }

    /// Docker's flags, with Docker's semantics (see [`crate::compat::docker`]).
    fn docker(&self, r: &mut Resources, resolve: &dyn Fn(&str) -> Result<DeviceNumber, Error>) -> Result<()> {
        if let Some(v) = self.get(Key::MemorySwap) {
            r.memory.swap_max = match docker::memory_swap(v, r.memory.max)? {
                Some(swap) if self.get(Key::Swap).is_some() => {
                    return Err(invalid("memory-swap", v, format!("--swap is given too ({swap} of swap); give one")));
                }
                other => other.or(r.memory.swap_max),
            };
        }
        if let Some(v) = self.get(Key::MemoryReservation) {
            if self.get(Key::MemoryLow).is_some() {
                return Err(invalid("memory-reservation", v, "--memory-low is given too; give one"));
            }
            let b = docker::ram_in_bytes("memory-reservation", v)?;
            // (No let chains: the library builds with Rust 1.85.)
            if let Some(m) = r.memory.max.and_then(|m| m.value().copied()).filter(|m| b > m.0) {
                return Err(invalid(
                    "memory-reservation",
                    v,
                    format!("Minimum memory limit can not be less than memory reservation limit ({m})"),
                ));
            }
            r.memory.low = Some(Bytes(b));
        }
        let quota = match self.get(Key::CpuQuota) {
            Some(v) => docker::cpu_quota(v)?.map(|q| (v, q)),
            None => None,
        };
        if let Some((v, quota)) = quota {
            if r.cpu.max.is_some() {
                return Err(invalid(
                    "cpu-quota",
                    v,
                    "Conflicting options: --cpu or --cpus sets the CPU limit too; give one",
                ));
            }
            let period = match self.get(Key::CpuPeriod) {
                Some(p) => parse_micros(p).map_err(|e| invalid("cpu-period", p, e))?,
                None => DEFAULT_CPU_PERIOD_US,
            };
            r.cpu.max = Some(CpuMax::new(quota, period).map_err(|e| relabel(e, "cpu-quota", v))?);
        }
        if let Some(v) = self.get(Key::PidsLimit) {
            if self.get(Key::Pids).is_some() {
                return Err(invalid("pids-limit", v, "--pids is given too; give one"));
            }
            r.pids.max = Some(docker::pids_limit(v)?);
        }
        let weight = match self.get(Key::BlkioWeight) {
            Some(v) => docker::blkio_weight(v)?.map(|w| (v, w)),
            None => None,
        };
        if let Some((v, w)) = weight {
            if r.io.weight.is_some() {
                return Err(invalid("blkio-weight", v, "--io-weight is given too; give one"));
            }
            r.io.weight = Some(w);
        }
        // Each rate flag and the io.max key it sets.
        for (kind, key, io) in [
            (docker::DeviceRate::ReadBps, Key::DeviceReadBps, "rbps"),
            (docker::DeviceRate::WriteBps, Key::DeviceWriteBps, "wbps"),
            (docker::DeviceRate::ReadIops, Key::DeviceReadIops, "riops"),
            (docker::DeviceRate::WriteIops, Key::DeviceWriteIops, "wiops"),
        ] {
            for v in self.values(key) {
                let (path, limit) = docker::device_rate(kind, v)?;
                let dev = resolve(&path)?;
                let slot = r.io.device_mut(dev).slot_mut(io).expect("an io.max key");
                if slot.is_some() {
                    return Err(invalid(kind.flag(), v, format!("device {dev} has this limit already; give it once")));
                }
                *slot = Some(limit);
            }
        }
        if self.is_on(Key::OomKillDisable) {
            r.memory.oom_kill_disable = Some(true);
        }
        Ok(())
    }

    /// The device access of `--device-policy`, `--device-allow`, `--device` and Docker's
    /// `--device-cgroup-rule`, in that order; `None` when none is given. The policy is
    /// systemd's `auto` unless given: everything until a rule allows something, then only
    /// what is allowed and the pseudo devices, which is also what Docker's rules add to.
    fn devices(&self) -> Result<Option<DeviceAccess>> {
        let policy = match self.get(Key::DevicePolicy) {
            Some(v) => Some(DevicePolicy::parse(v).map_err(|e| invalid("device-policy", v, e))?),
            None => None,
        };
        let mut rules = Vec::new();
        for v in self.values(Key::DeviceAllow) {
            let rule = DeviceRule::parse(v, true).and_then(|r| r.check_type_here().map(|()| r));
            rules.push(rule.map_err(|e| invalid("device-allow", v, e))?);
        }
        for v in self.values(Key::Device) {
            rules.push(crate::device::node_rule(v).map_err(|e| relabel(e, "device", v))?);
        }
        for v in self.values(Key::DeviceCgroupRule) {
            let rule = DeviceRule::parse(v, true).and_then(|r| r.check_type_here().map(|()| r));
            rules.push(rule.map_err(|e| invalid("device-cgroup-rule", v, e))?);
        }
        if policy.is_none() && rules.is_empty() {
            return Ok(None);
        }
        Ok(Some(DeviceAccess { policy: Some(policy.unwrap_or(DevicePolicy::Auto)), rules }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_dev(s: &str) -> Result<DeviceNumber> {
        DeviceNumber::parse(s).map_err(|e| Error::invalid("device", s, e))
    }

    fn two_cpus() -> HostFacts {
        HostFacts { physical_memory: 8 << 30, page_size: 4096, tasks_max: 4_194_303, online_cpus: 2 }
    }

    fn parse(f: impl FnOnce(&mut Flags)) -> Result<Resources> {
        let mut a = Flags::default();
        f(&mut a);
        a.to_resources(&no_dev, &two_cpus)
    }

    #[test]
    fn cpus_are_at_most_the_hosts() {
        let r = parse(|a| a.set(Key::Cpus, "2")).unwrap();
        assert_eq!(r.cpu.max.unwrap().quota, Limit::Value(200_000));
        assert_eq!(parse(|a| a.set(Key::Cpus, "1.5")).unwrap().cpu.max.unwrap().quota, Limit::Value(150_000));
        let e = parse(|a| a.set(Key::Cpus, "64")).unwrap_err().to_string();
        assert!(e.contains("--cpus") && e.contains("'64'") && e.contains("has 2 CPUs"), "{e}");
        assert!(e.contains("--cpu 6400%"), "{e}");
        assert!(parse(|a| a.set(Key::Cpus, "2.01")).is_err());
        // A CPU list is not a count, and --cpu takes any quota.
        assert!(parse(|a| a.set(Key::Cpus, "0-1")).is_ok());
        assert!(parse(|a| a.set(Key::Cpu, "6400%")).is_ok());
    }

    /// `--cpu-shares` stays in its unit: v1 writes it as given (2..=262144), v2 converts it.
    #[test]
    fn cpu_shares_are_kept_as_shares() {
        for n in [2, 100, 1000, 1024, 262_144] {
            let r = parse(|a| a.set(Key::CpuShares, n.to_string())).unwrap();
            assert_eq!((r.cpu.shares.map(u64::from), r.cpu.weight), (Some(n), None), "{n}");
            assert_eq!(r.cpu.shares_v1(), Some(n));
            assert_eq!(r.cpu.weight_v2(), Some(crate::convert::shares_to_weight(n)));
        }
        assert_eq!(parse(|a| a.set(Key::CpuShares, "0")).unwrap().cpu, Default::default());
        for bad in ["1", "262145"] {
            let e = parse(|a| a.set(Key::CpuShares, bad)).unwrap_err().to_string();
            assert!(e.contains("--cpu-shares") && e.contains("between 2 and 262144"), "{e}");
        }
        let e = parse(|a| {
            a.set(Key::CpuWeight, "50");
            a.set(Key::CpuShares, "512");
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("give one"), "{e}");
    }

    #[test]
    fn pids_above_the_kernel_s_limit_are_refused_before_any_write() {
        assert_eq!(parse(|a| a.set(Key::Pids, "4194304")).unwrap().pids.max, Some(Limit::Value(4_194_304)));
        for v in ["4194305", "2147483648", "18446744073709551615"] {
            let e = parse(|a| a.set(Key::Pids, v)).unwrap_err().to_string();
            assert!(e.contains(&format!("'{v}'")) && e.contains("largest pids.max, 4194304"), "{e}");
        }
        for v in ["4194305", "2147483648"] {
            let e = parse(|a| a.set(Key::PidsLimit, v)).unwrap_err().to_string();
            assert!(e.contains("largest pids.max, 4194304"), "{e}");
        }
    }

    #[test]
    fn docker_semantics() {
        let r = parse(|a| {
            a.set(Key::Memory, "1g");
            a.set(Key::MemorySwap, "3g");
            a.set(Key::CpuQuota, "50000");
            a.set(Key::PidsLimit, "-1");
        })
        .unwrap();
        assert_eq!(r.memory.swap_max, Some(Limit::Value(Bytes::gib(2))));
        assert_eq!(r.cpu.max.unwrap().quota, Limit::Value(50_000));
        assert_eq!(r.pids.max, Some(Limit::Max));
        let e = parse(|a| a.set(Key::MemorySwap, "2g")).unwrap_err().to_string();
        assert!(e.contains("--memory-swap") && e.contains("give --memory too"), "{e}");
        let e = parse(|a| {
            a.set(Key::Cpu, "20%");
            a.set(Key::CpuQuota, "50000");
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("Conflicting options"), "{e}");
    }

    #[test]
    fn keys_round_trip_their_names_and_aliases() {
        for k in Key::ALL {
            assert_eq!(Key::from_name(k.name()), Some(*k));
            for a in k.aliases() {
                assert_eq!(Key::from_name(a), Some(*k), "{a}");
            }
        }
        assert_eq!(Key::from_name("cpuset-cpus"), Some(Key::Cpuset));
        assert_eq!(Key::from_name("pids-max"), Some(Key::Pids));
        assert_eq!(Key::from_name("memroy"), None);
        // rein's flags first, then Docker's (the order of the help).
        let first_docker = Key::ALL.iter().position(|k| k.origin() == Origin::Docker).unwrap();
        assert!(Key::ALL[first_docker..].iter().all(|k| k.origin() == Origin::Docker));
        assert_eq!(Key::ALL[first_docker], Key::MemorySwap);
    }

    #[test]
    fn flags_keep_the_last_text_every_list_value_and_switches() {
        let mut f = Flags::default();
        assert!(f.is_empty());
        f.set(Key::Memory, "1G");
        f.set(Key::Memory, "2G");
        f.set(Key::IoMax, "7:0:wbps=1M");
        f.set(Key::IoMax, "7:1:rbps=1M");
        f.set(Key::OomGroup, "true");
        assert_eq!(f.get(Key::Memory), Some("2G"));
        assert_eq!(f.values(Key::IoMax), ["7:0:wbps=1M", "7:1:rbps=1M"]);
        assert_eq!(f.values(Key::Cpu), [] as [String; 0]);
        assert!(f.is_on(Key::OomGroup) && !f.is_on(Key::OomKillDisable));
        assert_eq!(f.iter().map(|(k, _)| k).collect::<Vec<_>>(), [Key::Memory, Key::OomGroup, Key::IoMax]);
        f.set(Key::OomGroup, "false");
        assert!(!f.is_on(Key::OomGroup));
        let r = f.to_resources(&no_dev, &two_cpus).unwrap();
        assert_eq!(r.memory.max, Some(Limit::Value(Bytes::gib(2))));
        assert_eq!(r.io.max.len(), 2);
        assert_eq!(r.memory.oom_group, None);
    }

    /// Device limits merge per device: `--io-max` once per device, each key once; the
    /// Docker rate flags fill the same device's slots, each once.
    #[test]
    fn device_limits_merge_per_device_and_refuse_repeats() {
        let dev = |s: &str| match s {
            "/dev/x" => Ok(DeviceNumber { major: 8, minor: 0 }),
            "/dev/y" => Ok(DeviceNumber { major: 8, minor: 16 }),
            other => no_dev(other),
        };
        let mut f = Flags::default();
        f.set(Key::IoMax, "8:0:wbps=1M");
        f.set(Key::DeviceReadBps, "/dev/x:2mb");
        f.set(Key::DeviceWriteIops, "/dev/y:100");
        f.set(Key::DeviceReadIops, "/dev/y:50");
        let r = f.to_resources(&dev, &two_cpus).unwrap();
        assert_eq!(r.io.max.len(), 2);
        let sda = r.io.device(DeviceNumber { major: 8, minor: 0 }).unwrap();
        assert_eq!((sda.wbps, sda.rbps), (Some(Limit::Value(1 << 20)), Some(Limit::Value(2 << 20))));
        let sdb = r.io.device(DeviceNumber { major: 8, minor: 16 }).unwrap();
        assert_eq!((sdb.riops, sdb.wiops), (Some(Limit::Value(50)), Some(Limit::Value(100))));
        f.set(Key::DeviceReadBps, "/dev/x:3mb");
        let e = f.to_resources(&dev, &two_cpus).unwrap_err().to_string();
        assert!(e.contains("--device-read-bps") && e.contains("has this limit already"), "{e}");
        let mut g = Flags::default();
        g.set(Key::IoMax, "8:0:wbps=1M");
        g.set(Key::IoMax, "8:0:rbps=1M");
        let e = g.to_resources(&dev, &two_cpus).unwrap_err().to_string();
        assert!(e.contains("device 8:0 given twice"), "{e}");
        let e = parse_io_max("8:0:wbps=1M,wbps=2M", &dev).unwrap_err().to_string();
        assert!(e.contains("'wbps' given twice"), "{e}");
    }
}
