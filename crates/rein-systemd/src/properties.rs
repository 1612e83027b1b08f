//! rein's [`Resources`] as systemd unit properties: one pure function, [`map`], and the
//! conversions it uses, each with its ranges. A boundary table tests each.
//!
//! The names and D-Bus types are those of `org.freedesktop.systemd1.Scope` (and `.Slice`),
//! as `busctl introspect` shows them on systemd 252 (see docs/interface-files.md):
//!
//! | property | type | cgroup file systemd writes |
//! |---|---|---|
//! | MemoryMax, MemoryHigh, MemorySwapMax | `t` (bytes, `u64::MAX` = infinity) | memory.max, memory.high, memory.swap.max |
//! | MemoryLow, MemoryMin | `t` | memory.low, memory.min |
//! | CPUQuotaPerSecUSec | `t` (µs of CPU per second, `u64::MAX` = none) | cpu.max (quota) |
//! | CPUQuotaPeriodUSec | `t` (µs) | cpu.max (period) |
//! | CPUWeight, IOWeight | `t` (1..10000) | cpu.weight, io.weight (`default N`) |
//! | AllowedCPUs, AllowedMemoryNodes | `ay` (bit mask) | cpuset.cpus, cpuset.mems |
//! | IO{Read,Write}{Bandwidth,IOPS}Max | `a(st)` (device path, value) | io.max |
//! | TasksMax | `t` (`u64::MAX` = infinity) | pids.max |
//! | OOMPolicy (scopes: systemd 253+) | `s` | memory.oom.group (`kill` = 1) |
//!
//! What a manager cannot express goes into [`Mapping::residual`]: rein writes it into the
//! unit's own cgroup files once the unit exists (never silently dropped).

use std::fmt;

use rein::Resources;
use rein::resources::CpuMax;
use rein::units::{Bytes, CpuList, DeviceNumber, Limit};

/// systemd's "infinity" for every `t` limit above (`CGROUP_LIMIT_MAX`, `USEC_INFINITY`).
pub const INFINITY: u64 = u64::MAX;

/// Microseconds per second: CPUQuotaPerSecUSec counts CPU time per second of wall time.
pub const USEC_PER_SEC: u64 = 1_000_000;

/// A property's value, typed as D-Bus carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `b`
    Bool(bool),
    /// `t`
    U64(u64),
    /// `s`
    Str(String),
    /// `ay`: a CPU or memory-node bit mask.
    Bytes(Vec<u8>),
    /// `au`: process ids.
    Pids(Vec<u32>),
    /// `a(st)`: (device path, value) pairs.
    DeviceValues(Vec<(String, u64)>),
    /// `a(ss)`: (device specifier, access) pairs: `DeviceAllow=`.
    DeviceAllow(Vec<(String, String)>),
}

impl Value {
    /// The D-Bus signature of the value.
    pub fn signature(&self) -> &'static str {
        match self {
            Value::Bool(_) => "b",
            Value::U64(_) => "t",
            Value::Str(_) => "s",
            Value::Bytes(_) => "ay",
            Value::Pids(_) => "au",
            Value::DeviceValues(_) => "a(st)",
            Value::DeviceAllow(_) => "a(ss)",
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = |n: u64| if n == INFINITY { "infinity".to_string() } else { n.to_string() };
        match self {
            Value::Bool(b) => write!(f, "{}", if *b { "yes" } else { "no" }),
            Value::U64(n) => f.write_str(&num(*n)),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => {
                f.write_str("[")?;
                for (i, byte) in b.iter().enumerate() {
                    write!(f, "{}0x{byte:02x}", if i > 0 { " " } else { "" })?;
                }
                f.write_str("]")
            }
            Value::Pids(p) => write!(f, "{p:?}"),
            Value::DeviceValues(v) => {
                let parts: Vec<String> = v.iter().map(|(dev, n)| format!("{dev} {}", num(*n))).collect();
                f.write_str(&parts.join(", "))
            }
            Value::DeviceAllow(v) => {
                let parts: Vec<String> = v.iter().map(|(dev, a)| format!("{dev} {a}")).collect();
                f.write_str(&parts.join(", "))
            }
        }
    }
}

/// One unit property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The property name, e.g. `MemoryMax`.
    pub name: &'static str,
    /// Its value.
    pub value: Value,
}

impl Property {
    /// A property.
    pub fn new(name: &'static str, value: Value) -> Property {
        Property { name, value }
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

/// The systemd version that added each property rein sets, from the "Added in version"
/// notes of systemd.resource-control(5) and systemd.scope(5). An older manager refuses an
/// unknown property ("Unknown assignment"), so [`map`] sends the field to the residual.
pub fn since(property: &str) -> u32 {
    match property {
        "CPUQuotaPerSecUSec" => 213,
        "TasksMax" => 227,
        "IOWeight" | "IOReadBandwidthMax" | "IOWriteBandwidthMax" | "IOReadIOPSMax" | "IOWriteIOPSMax" => 230,
        "MemoryHigh" | "MemoryMax" => 231,
        "MemorySwapMax" | "CPUWeight" => 232,
        "MemoryLow" | "MemoryMin" => 240,
        "CPUQuotaPeriodUSec" => 242,
        "AllowedCPUs" | "AllowedMemoryNodes" => 244,
        // OOMPolicy= exists for services since 243, for scopes since 253.
        "OOMPolicy" => 253,
        _ => 0,
    }
}

/// The properties of a device access: `DevicePolicy=` and `DeviceAllow=` entries, or why
/// systemd cannot express it. systemd has no deny list: it allows by policy and entries,
/// so rules that deny (other than `a` first, which is `strict`) and v1's allowing
/// default cannot be given to it, and rein refuses them rather than attach a program
/// behind systemd's back (it would drop it on its next reload of the unit).
pub fn device_properties(access: &rein::devices::DeviceAccess) -> std::result::Result<Vec<Property>, String> {
    use rein::devices::{DevicePolicy, DeviceType};
    let mut rules = access.rules.as_slice();
    let policy = match access.policy {
        Some(p) => p,
        // v1's own semantics: expressible when it starts by denying everything.
        None => match rules.first() {
            Some(r) if r.kind == DeviceType::All && !r.allow => {
                rules = &rules[1..];
                DevicePolicy::Strict
            }
            _ => {
                return Err("systemd cannot express v1's allowing default with denied devices (it has no \
                            DeviceDeny=): begin the rules with 'deny a', or use --driver cgroupfs"
                    .into());
            }
        },
    };
    let mut allow = Vec::new();
    for r in rules {
        if !r.allow {
            return Err(format!(
                "systemd has no DeviceDeny=: '{}' cannot be given to it; allow what is needed with a policy, \
                 or use --driver cgroupfs",
                r.to_text()
            ));
        }
        let kind = match r.kind {
            DeviceType::All => {
                return Err("'allow a' (every device) is DevicePolicy=auto without DeviceAllow= under systemd".into());
            }
            DeviceType::Char => "char",
            DeviceType::Block => "block",
        };
        let spec = match (r.major, r.minor) {
            (Some(maj), Some(min)) => format!("/dev/{kind}/{maj}:{min}"),
            (Some(maj), None) => match rein::devices::major_name(kind == "block", maj) {
                Some(name) => format!("{kind}-{name}"),
                None => return Err(format!("no driver in /proc/devices has {kind} major {maj}, which systemd names")),
            },
            (None, None) => format!("{kind}-*"),
            (None, Some(_)) => {
                return Err(format!("systemd cannot allow a minor of every major ('{}')", r.to_text()));
            }
        };
        allow.push((spec, r.access.to_string()));
    }
    let mut out = vec![Property::new("DevicePolicy", Value::Str(policy.as_str().into()))];
    if !allow.is_empty() {
        out.push(Property::new("DeviceAllow", Value::DeviceAllow(allow)));
    }
    Ok(out)
}

/// Refuses device access systemd cannot express, naming why (see [`device_properties`]).
pub fn check_devices(r: &Resources) -> rein::Result<()> {
    match &r.devices {
        Some(access) => device_properties(access).map(drop).map_err(|reason| rein::Error::Unsupported {
            what: "these device rules".into(),
            mode: "systemd".into(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Refuses network settings under systemd. rein's network control is cgroup BPF programs
/// on the group's directory; systemd drops programs attached behind its back when it
/// re-applies a unit, and handing them over (`BPFProgram=`, systemd 249, with the
/// programs pinned in bpffs) is not done yet.
pub fn check_network(r: &Resources) -> rein::Result<()> {
    if r.network.is_empty() {
        return Ok(());
    }
    Err(rein::Error::Unsupported {
        what: "network rates, priority and class".into(),
        mode: "systemd".into(),
        reason: "rein's network programs would be attached behind systemd's back (it drops them when it \
                 re-applies the unit), and systemd has no bandwidth property (systemd#36088); use \
                 --driver cgroupfs"
            .into(),
    })
}

/// A byte limit as a `t` property: the value, or [`INFINITY`] for `max`.
pub fn bytes_limit(limit: Limit<Bytes>) -> u64 {
    match limit {
        Limit::Value(b) => b.0,
        Limit::Max => INFINITY,
    }
}

/// A count limit (TasksMax, IO limits) as a `t` property: the value, or [`INFINITY`].
pub fn count_limit(limit: Limit<u64>) -> u64 {
    match limit {
        Limit::Value(n) => n,
        Limit::Max => INFINITY,
    }
}

/// A CFS quota (µs per `period` µs) as CPUQuotaPerSecUSec (µs of CPU per second).
///
/// systemd writes `cpu.max` as `max(per_sec * period / 1_000_000, 1000) period`
/// (cgroup.c, cgroup_apply_unified_cpu_quota), so rein rounds *up* here:
/// `per_sec = ceil(quota * 1_000_000 / period)`. For every quota rein accepts (at least
/// 1000 µs, period 1000..=1_000_000 µs) systemd then writes back exactly `quota`: the
/// rounding adds less than 1/period per second, which the integer division drops again.
/// `max` is [`INFINITY`].
pub fn cpu_quota_per_sec(max: &CpuMax) -> u64 {
    match max.quota {
        Limit::Max => INFINITY,
        Limit::Value(q) => {
            let per_sec = (u128::from(q) * u128::from(USEC_PER_SEC)).div_ceil(u128::from(max.period));
            u64::try_from(per_sec).unwrap_or(INFINITY - 1)
        }
    }
}

/// What systemd writes into `cpu.max` for a quota per second and a period (for tests and
/// dry runs): the inverse of [`cpu_quota_per_sec`].
pub fn systemd_cpu_max(per_sec: u64, period: u64) -> String {
    if per_sec == INFINITY {
        format!("max {period}")
    } else {
        let quota = u128::from(per_sec) * u128::from(period) / u128::from(USEC_PER_SEC);
        format!("{} {period}", quota.max(1000))
    }
}

/// A CPU or memory-node list as systemd's `ay` bit mask: bit `i % 8` of byte `i / 8` is
/// CPU `i` (cpu_set_to_dbus). `0-1` is `[0x03]`; `8` is `[0x00, 0x01]`.
pub fn cpu_mask(list: &CpuList) -> Vec<u8> {
    let Some(last) = list.iter().max() else { return Vec::new() };
    let mut mask = vec![0u8; last as usize / 8 + 1];
    for cpu in list.iter() {
        mask[cpu as usize / 8] |= 1 << (cpu % 8);
    }
    mask
}

/// The device path systemd wants in IO properties for a `MAJ:MIN` block device. systemd
/// resolves a path to its device number with stat(); udev keeps `/dev/block/MAJ:MIN`
/// pointing at every block device, so this names the device whatever its /dev name.
pub fn device_path(dev: DeviceNumber) -> String {
    format!("/dev/block/{}:{}", dev.major, dev.minor)
}

/// The result of [`map`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapping {
    /// Properties for StartTransientUnit or SetUnitProperties, in a fixed order.
    pub properties: Vec<Property>,
    /// Settings systemd cannot express here: written into the unit's own cgroup files
    /// after it exists. Empty when systemd takes everything.
    pub residual: Resources,
    /// Freezing is a method call (FreezeUnit / ThawUnit, systemd 246), not a property.
    pub freeze: Option<bool>,
}

/// Maps `r` to unit properties for a scope or slice of systemd `version`.
///
/// Every field set in `r` ends up in exactly one of: [`Mapping::properties`],
/// [`Mapping::residual`] (a field this systemd cannot express), or [`Mapping::freeze`].
/// The residual today, on systemd 252: `memory.oom.group` (OOMPolicy= is a scope property
/// only from 253 on). Fields the running manager is too old for join the residual too.
pub fn map(r: &Resources, version: u32) -> Mapping {
    let mut out = Mapping { freeze: r.freeze, ..Mapping::default() };
    let ok = |names: &[&str]| names.iter().all(|n| since(n) <= version);
    let mut push = |name: &'static str, value: Value| out.properties.push(Property::new(name, value));

    // Memory: byte limits, infinity for max.
    let m = &r.memory;
    let mut memory_residual = rein::resources::Memory::default();
    for (name, value, slot) in [
        ("MemoryMin", m.min.map(|b| b.0), &mut memory_residual.min),
        ("MemoryLow", m.low.map(|b| b.0), &mut memory_residual.low),
    ] {
        if let Some(v) = value {
            if ok(&[name]) {
                push(name, Value::U64(v));
            } else {
                *slot = Some(Bytes(v));
            }
        }
    }
    for (name, value, slot) in [
        ("MemoryHigh", m.high, &mut memory_residual.high),
        ("MemoryMax", m.max, &mut memory_residual.max),
        ("MemorySwapMax", m.swap_max, &mut memory_residual.swap_max),
    ] {
        if let Some(v) = value {
            if ok(&[name]) {
                push(name, Value::U64(bytes_limit(v)));
            } else {
                *slot = Some(v);
            }
        }
    }
    if let Some(group) = m.oom_group {
        if ok(&["OOMPolicy"]) {
            // kill sets memory.oom.group=1; continue keeps 0 and the scope running, which is
            // what rein's cgroupfs driver does after an OOM kill.
            push("OOMPolicy", Value::Str(if group { "kill" } else { "continue" }.into()));
        } else {
            memory_residual.oom_group = Some(group);
        }
    }

    // CPU: bandwidth as quota per second plus the period, weight as is.
    let mut cpu_residual = rein::resources::Cpu::default();
    if let Some(max) = &r.cpu.max {
        if ok(&["CPUQuotaPerSecUSec", "CPUQuotaPeriodUSec"]) {
            push("CPUQuotaPerSecUSec", Value::U64(cpu_quota_per_sec(max)));
            push("CPUQuotaPeriodUSec", Value::U64(max.period));
        } else {
            cpu_residual.max = Some(*max);
        }
    }
    if let Some(w) = r.cpu.weight_v2() {
        if ok(&["CPUWeight"]) {
            push("CPUWeight", Value::U64(w.get()));
        } else {
            cpu_residual.weight = r.cpu.weight;
            cpu_residual.shares = r.cpu.shares;
        }
    }

    // cpuset: bit masks.
    let mut cpuset_residual = rein::resources::Cpuset::default();
    for (name, list, slot) in [
        ("AllowedCPUs", &r.cpuset.cpus, &mut cpuset_residual.cpus),
        ("AllowedMemoryNodes", &r.cpuset.mems, &mut cpuset_residual.mems),
    ] {
        if let Some(list) = list {
            if ok(&[name]) {
                push(name, Value::Bytes(cpu_mask(list)));
            } else {
                *slot = Some(list.clone());
            }
        }
    }

    // IO: weight, and one (device path, value) array per io.max key.
    let mut io_residual = rein::resources::Io::default();
    if let Some(w) = r.io.weight {
        if ok(&["IOWeight"]) {
            push("IOWeight", Value::U64(w.get()));
        } else {
            io_residual.weight = Some(w);
        }
    }
    const IO_KEYS: [(&str, &str); 4] = [
        ("rbps", "IOReadBandwidthMax"),
        ("wbps", "IOWriteBandwidthMax"),
        ("riops", "IOReadIOPSMax"),
        ("wiops", "IOWriteIOPSMax"),
    ];
    if !r.io.max.is_empty() {
        if ok(&IO_KEYS.map(|(_, p)| p)) {
            for (key, name) in IO_KEYS {
                let values: Vec<(String, u64)> =
                    r.io.max
                        .iter()
                        .filter_map(|m| {
                            m.entries().find(|(k, _)| *k == key).map(|(_, v)| (device_path(m.device), count_limit(v)))
                        })
                        .collect();
                if !values.is_empty() {
                    push(name, Value::DeviceValues(values));
                }
            }
        } else {
            io_residual.max = r.io.max.clone();
        }
    }

    // Device access: DevicePolicy= and DeviceAllow= (checked expressible by
    // device_properties before a plan is made: see check_devices).
    if let Some(Ok(props)) = r.devices.as_ref().map(device_properties) {
        for p in props {
            push(p.name, p.value);
        }
    }

    // pids.
    if let Some(max) = r.pids.max {
        if ok(&["TasksMax"]) {
            push("TasksMax", Value::U64(count_limit(max)));
        } else {
            out.residual.pids.max = Some(max);
        }
    }

    out.residual.memory = memory_residual;
    out.residual.cpu = cpu_residual;
    out.residual.cpuset = cpuset_residual;
    out.residual.io = io_residual;
    out
}

/// Parses systemd's version string (`"252.39-1~deb12u2"`, `"256"`) to its major number.
pub fn parse_version(text: &str) -> Option<u32> {
    let digits: String = text.trim().chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use rein::resources::IoMax;
    use rein::units::Weight;

    use super::*;

    fn names(m: &Mapping) -> Vec<String> {
        m.properties.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn quota_per_second_round_trips_through_systemd() {
        // (quota, period) -> CPUQuotaPerSecUSec, and what systemd writes back into cpu.max.
        let table = [
            (20_000, 100_000, 200_000, "20000 100000"),
            (1_000, 100_000, 10_000, "1000 100000"),
            (1_000, 1_000, 1_000_000, "1000 1000"),
            (1_000, 1_000_000, 1_000, "1000 1000000"),
            (33_333, 100_000, 333_330, "33333 100000"),
            // 1234 / 3000 is not a whole number per second: rounding up keeps it exact.
            (1_234, 3_000, 411_334, "1234 3000"),
            (999_999, 1_000_000, 999_999, "999999 1000000"),
            (300_000, 100_000, 3_000_000, "300000 100000"),
            ((1 << 44) - 1, 1_000, 17_592_186_044_415_000, "17592186044415 1000"),
        ];
        for (quota, period, per_sec, written) in table {
            let max = CpuMax::new(Limit::Value(quota), period).unwrap();
            assert_eq!(cpu_quota_per_sec(&max), per_sec, "{quota}/{period}");
            assert_eq!(systemd_cpu_max(per_sec, period), written, "{quota}/{period}");
        }
        let none = CpuMax::new(Limit::Max, 50_000).unwrap();
        assert_eq!(cpu_quota_per_sec(&none), INFINITY);
        assert_eq!(systemd_cpu_max(INFINITY, 50_000), "max 50000");
    }

    #[test]
    fn quota_round_trip_is_exact_for_every_period_shape() {
        for period in [1_000u64, 1_001, 3_000, 7_919, 99_999, 100_000, 333_333, 999_983, 1_000_000] {
            for quota in [1_000u64, 1_001, 1_234, 4_999, 65_537, 123_457, 2_000_003] {
                let max = CpuMax::new(Limit::Value(quota), period).unwrap();
                let written = systemd_cpu_max(cpu_quota_per_sec(&max), period);
                assert_eq!(written, format!("{quota} {period}"), "{quota}/{period}");
            }
        }
    }

    #[test]
    fn cpu_masks() {
        let table: [(&str, &[u8]); 6] = [
            ("0", &[0x01]),
            ("0-1", &[0x03]),
            ("1", &[0x02]),
            ("7", &[0x80]),
            ("8", &[0x00, 0x01]),
            ("0,2-3,9-10", &[0x0d, 0x06]),
        ];
        for (list, mask) in table {
            assert_eq!(cpu_mask(&CpuList::parse(list).unwrap()), mask, "{list}");
        }
        assert_eq!(cpu_mask(&CpuList::default()), Vec::<u8>::new());
    }

    #[test]
    fn limits_and_devices() {
        assert_eq!(bytes_limit(Limit::Value(Bytes::mib(64))), 67_108_864);
        assert_eq!(bytes_limit(Limit::Max), INFINITY);
        assert_eq!(count_limit(Limit::Value(5)), 5);
        assert_eq!(count_limit(Limit::Max), INFINITY);
        assert_eq!(device_path(DeviceNumber { major: 254, minor: 16 }), "/dev/block/254:16");
        assert_eq!(parse_version("252.39-1~deb12u2"), Some(252));
        assert_eq!(parse_version("256"), Some(256));
        assert_eq!(parse_version("v1"), None);
    }

    fn everything() -> Resources {
        let mut r = Resources::new()
            .memory_max(Bytes::mib(64))
            .memory_high(Limit::Max)
            .swap_max(Bytes(0))
            .cpu_percent(20.0)
            .unwrap()
            .cpu_weight(Weight::new(200).unwrap())
            .cpus(CpuList::parse("1").unwrap())
            .pids_max(Limit::Max);
        r.memory.low = Some(Bytes::mib(8));
        r.memory.min = Some(Bytes::mib(4));
        r.memory.oom_group = Some(true);
        r.cpuset.mems = Some(CpuList::parse("0").unwrap());
        r.io.weight = Some(Weight::new(300).unwrap());
        let mut a = IoMax::new(DeviceNumber { major: 254, minor: 16 });
        a.wbps = Some(Limit::Value(1 << 20));
        a.riops = Some(Limit::Max);
        let mut b = IoMax::new(DeviceNumber { major: 7, minor: 0 });
        b.wbps = Some(Limit::Value(2 << 20));
        r.io.max = vec![a, b];
        r.freeze = Some(false);
        r
    }

    #[test]
    fn every_field_lands_somewhere_on_systemd_252() {
        let m = map(&everything(), 252);
        assert_eq!(
            names(&m),
            [
                "MemoryMin=4194304",
                "MemoryLow=8388608",
                "MemoryHigh=infinity",
                "MemoryMax=67108864",
                "MemorySwapMax=0",
                "CPUQuotaPerSecUSec=200000",
                "CPUQuotaPeriodUSec=100000",
                "CPUWeight=200",
                "AllowedCPUs=[0x02]",
                "AllowedMemoryNodes=[0x01]",
                "IOWeight=300",
                "IOWriteBandwidthMax=/dev/block/254:16 1048576, /dev/block/7:0 2097152",
                "IOReadIOPSMax=/dev/block/254:16 infinity",
                "TasksMax=infinity",
            ]
        );
        // systemd 252 has no OOMPolicy= for scopes: memory.oom.group is written to the file.
        let mut residual = Resources::new();
        residual.memory.oom_group = Some(true);
        assert_eq!(m.residual, residual);
        assert_eq!(m.freeze, Some(false));
    }

    #[test]
    fn newer_systemd_takes_oom_group_as_oom_policy() {
        let m = map(&everything(), 253);
        assert!(names(&m).contains(&"OOMPolicy=\"kill\"".to_string()), "{:?}", names(&m));
        assert!(m.residual.is_empty());
        let mut r = Resources::new();
        r.memory.oom_group = Some(false);
        assert_eq!(names(&map(&r, 256)), ["OOMPolicy=\"continue\""]);
    }

    #[test]
    fn older_systemd_sends_unknown_properties_to_the_residual() {
        let r = everything();
        let m = map(&r, 240);
        let props = names(&m);
        assert!(!props.iter().any(|p| p.starts_with("AllowedCPUs") || p.starts_with("CPUQuota")), "{props:?}");
        assert_eq!(m.residual.cpuset, r.cpuset);
        assert_eq!(m.residual.cpu.max, r.cpu.max);
        assert_eq!(m.residual.cpu.weight, None, "CPUWeight exists since 232");
        // Before 231 nothing of memory but... nothing at all is expressible except pids/io.
        let old = map(&r, 229);
        assert_eq!(old.residual.memory, r.memory);
        assert_eq!(old.residual.io.max, r.io.max);
        assert!(names(&old).iter().all(|p| p.starts_with("TasksMax")), "{:?}", names(&old));
    }

    #[test]
    fn empty_resources_map_to_nothing() {
        let m = map(&Resources::new(), 252);
        assert!(m.properties.is_empty());
        assert!(m.residual.is_empty());
        assert_eq!(m.freeze, None);
    }

    #[test]
    fn signatures() {
        assert_eq!(Value::Bytes(vec![1]).signature(), "ay");
        assert_eq!(Value::DeviceValues(vec![]).signature(), "a(st)");
        assert_eq!(Value::Pids(vec![1]).signature(), "au");
    }
}
