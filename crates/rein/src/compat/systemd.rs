//! systemd's resource-control properties (`-p Name=Value`, as `systemd-run -p` takes
//! them), with systemd's parsing and semantics (systemd.resource-control(5);
//! src/shared/bus-unit-util.c for the client-side parsing, src/core/cgroup.c for how
//! values become cgroup files).
//!
//! | property | value syntax | becomes |
//! |---|---|---|
//! | `CPUQuota=` | `20%`, up to two decimals (`12.5%`), or `‰`/`‱`; empty for none | cpu.max, period adjusted as systemd does ([`crate::convert::systemd_cpu_quota`]) |
//! | `CPUQuotaPeriodSec=` | a time span (`100ms`, `1s`; a bare number is seconds) | the cpu.max period |
//! | `CPUWeight=` | 1..10000; empty for the default 100 | cpu.weight |
//! | `AllowedCPUs=`, `AllowedMemoryNodes=` | CPU list, comma or space separated (`0-3 6`) | cpuset.cpus, cpuset.mems |
//! | `MemoryMax=`, `MemoryHigh=`, `MemorySwapMax=` | size with base-1024 suffixes, `N%` of physical memory, `infinity`; empty for infinity | memory.max, memory.high, memory.swap.max |
//! | `MemoryLow=`, `MemoryMin=` | size or `N%`; empty for 0 | memory.low, memory.min |
//! | `IOWeight=` | 1..10000; empty for the default 100 | io.weight |
//! | `IOReadBandwidthMax=`, `IOWriteBandwidthMax=` | `DEVICE BYTES`, suffixes K, M, G, T in base **1000**, or `infinity` | io.max rbps, wbps |
//! | `IOReadIOPSMax=`, `IOWriteIOPSMax=` | `DEVICE IOPS`, suffixes in base 1000, or `infinity` | io.max riops, wiops |
//! | `TasksMax=` | a count, `N%` of the system's task limit, `infinity` | pids.max |
//! | `DeviceAllow=` | `SPEC [rwm]` (all access when none is given); SPEC a device node (`/dev/null`), `/dev/char/M:m`, `/dev/block/M:m`, or `char-NAME` / `block-NAME` with a driver name from /proc/devices (`char-pts`, globs: `char-tty*`); repeatable, empty resets | device rules ([`crate::devices`]) |
//! | `DevicePolicy=` | `auto`, `closed` or `strict` | the device policy |
//!
//! Percentages of memory and tasks are taken of this host's figures ([`HostFacts`]),
//! rounded as systemd rounds them (a 32-bit scale, then whole pages for memory).

use crate::convert;
use crate::devices::{Access, DeviceAccess, DevicePolicy, DeviceRule, DeviceType};
use crate::error::{Error, Result};
use crate::resources::{CpuMax, IoMax, Resources};
use crate::units::{Bytes, CpuList, DeviceNumber, Limit, Weight};

/// Host figures that systemd's percentages are relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFacts {
    /// Physical memory, bytes.
    pub physical_memory: u64,
    /// The page size, bytes.
    pub page_size: u64,
    /// The most tasks the system allows: min(kernel.threads-max, kernel.pid_max - 1).
    pub tasks_max: u64,
    /// CPUs online (/sys/devices/system/cpu/online): the most Docker's `--cpus` takes.
    pub online_cpus: u32,
}

impl HostFacts {
    /// Reads this host's figures (sysinfo, the page size, /proc/sys/kernel).
    pub fn detect() -> HostFacts {
        let info = rustix::system::sysinfo();
        let physical_memory = (info.totalram as u64).saturating_mul(u64::from(info.mem_unit).max(1));
        let read = |f: &str| std::fs::read_to_string(f).ok().and_then(|t| t.trim().parse::<u64>().ok());
        let threads = read("/proc/sys/kernel/threads-max").unwrap_or(u64::MAX);
        let pids = read("/proc/sys/kernel/pid_max").map(|p| p.saturating_sub(1)).unwrap_or(u64::MAX);
        let online_cpus = std::fs::read_to_string("/sys/devices/system/cpu/online")
            .ok()
            .and_then(|t| crate::units::CpuList::parse(t.trim()).ok())
            .map(|l| l.len() as u32)
            .filter(|n| *n > 0)
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get() as u32))
            .unwrap_or(1);
        HostFacts {
            physical_memory,
            page_size: rustix::param::page_size() as u64,
            tasks_max: threads.min(pids),
            online_cpus,
        }
    }
}

/// Every property rein accepts, for error messages.
pub const PROPERTIES: [&str; 18] = [
    "CPUQuota",
    "CPUQuotaPeriodSec",
    "CPUWeight",
    "AllowedCPUs",
    "AllowedMemoryNodes",
    "MemoryMax",
    "MemoryHigh",
    "MemoryLow",
    "MemoryMin",
    "MemorySwapMax",
    "IOWeight",
    "IOReadBandwidthMax",
    "IOWriteBandwidthMax",
    "IOReadIOPSMax",
    "IOWriteIOPSMax",
    "TasksMax",
    "DeviceAllow",
    "DevicePolicy",
];

/// Older or related properties, and what to write instead.
const REPLACED: [(&str, &str); 12] = [
    ("CPUShares", "CPUWeight= (CPUShares=N is CPUWeight=N*100/1024)"),
    ("StartupCPUShares", "CPUWeight="),
    ("StartupCPUWeight", "CPUWeight= (rein has no boot-time phase)"),
    ("MemoryLimit", "MemoryMax="),
    ("BlockIOWeight", "IOWeight= (BlockIOWeight=N is IOWeight=N/5)"),
    ("StartupIOWeight", "IOWeight= (rein has no boot-time phase)"),
    ("BlockIOReadBandwidth", "IOReadBandwidthMax="),
    ("BlockIOWriteBandwidth", "IOWriteBandwidthMax="),
    ("CPUAffinity", "AllowedCPUs= (a cgroup cpuset, not a scheduler affinity)"),
    ("NUMAMask", "AllowedMemoryNodes="),
    ("MemorySwapMaxScale", "MemorySwapMax=N%"),
    ("DeviceDeny", "DevicePolicy=strict or closed and DeviceAllow= (systemd has no DeviceDeny=)"),
];

/// Splits `Name=Value` (the value may be empty, which resets in systemd).
pub fn parse_property(s: &str) -> Result<(String, String)> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| Error::invalid("property", s, "expected Name=Value, e.g. MemoryMax=256M or CPUQuota=20%"))?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}

/// Applies `Name=Value` properties, in order (a later one wins, as in a unit file), to a
/// new model. `facts` is asked for only when a percentage needs it; `resolve` turns a
/// device path (or `MAJ:MIN`) into its number.
pub fn to_resources(
    props: &[(String, String)],
    facts: &dyn Fn() -> HostFacts,
    resolve: &dyn Fn(&str) -> Result<DeviceNumber>,
) -> Result<Resources> {
    let mut r = Resources::new();
    let mut quota: Option<Option<u64>> = None;
    let mut period: Option<Option<u64>> = None;
    let mut device_policy = None;
    let mut device_allow: Option<Vec<DeviceRule>> = None;
    for (name, value) in props {
        let bad = |reason: String| Error::invalid(format!("{name}="), value, reason);
        match name.as_str() {
            "CPUQuota" => {
                quota = Some(if value.is_empty() {
                    None
                } else {
                    let permyriad = parse_permyriad(value).map_err(bad)?;
                    if permyriad == 0 {
                        return Err(bad("CPU quota too small (systemd refuses 0%)".into()));
                    }
                    // µs of quota per second: permyriad x 100, checked (fuzz/systemd found the overflow).
                    Some(permyriad.checked_mul(100).ok_or_else(|| bad("CPU quota too large".into()))?)
                })
            }
            "CPUQuotaPeriodSec" => {
                period = Some(if value.is_empty() || value == "infinity" {
                    None
                } else {
                    Some(parse_timespan_usec(value).map_err(bad)?)
                })
            }
            "CPUWeight" => r.cpu.weight = Some(weight(value).map_err(bad)?),
            "IOWeight" => r.io.weight = Some(weight(value).map_err(bad)?),
            "AllowedCPUs" => r.cpuset.cpus = Some(cpu_set(value).map_err(bad)?),
            "AllowedMemoryNodes" => r.cpuset.mems = Some(cpu_set(value).map_err(bad)?),
            "MemoryMax" | "MemoryHigh" | "MemorySwapMax" => {
                let v = if value.is_empty() { Limit::Max } else { memory(value, facts).map_err(bad)? };
                let slot = match name.as_str() {
                    "MemoryMax" => &mut r.memory.max,
                    "MemoryHigh" => &mut r.memory.high,
                    _ => &mut r.memory.swap_max,
                };
                *slot = Some(v);
            }
            "MemoryLow" | "MemoryMin" => {
                let v = if value.is_empty() { Limit::Value(Bytes(0)) } else { memory(value, facts).map_err(bad)? };
                let Limit::Value(v) = v else {
                    return Err(bad("rein sets memory protection to sizes only; give a size or a percentage".into()));
                };
                if name == "MemoryLow" {
                    r.memory.low = Some(v);
                } else {
                    r.memory.min = Some(v);
                }
            }
            "TasksMax" => {
                if value.is_empty() {
                    return Err(bad(
                        "an empty TasksMax= resets to systemd's DefaultTasksMax=, which rein does not know; \
                         give a count, N% or infinity"
                            .into(),
                    ));
                }
                r.pids.max = Some(tasks(value, facts).map_err(bad)?);
            }
            "IOReadBandwidthMax" | "IOWriteBandwidthMax" | "IOReadIOPSMax" | "IOWriteIOPSMax" => {
                let (dev, limit) = io_limit(value, resolve).map_err(|e| match e {
                    Error::InvalidValue { reason, .. } => bad(reason),
                    other => other,
                })?;
                let m = match r.io.max.iter_mut().find(|m| m.device == dev) {
                    Some(m) => m,
                    None => {
                        r.io.max.push(IoMax::new(dev));
                        r.io.max.last_mut().expect("just pushed")
                    }
                };
                let slot = match name.as_str() {
                    "IOReadBandwidthMax" => &mut m.rbps,
                    "IOWriteBandwidthMax" => &mut m.wbps,
                    "IOReadIOPSMax" => &mut m.riops,
                    _ => &mut m.wiops,
                };
                *slot = Some(limit);
            }
            "DevicePolicy" => device_policy = Some(DevicePolicy::parse(value).map_err(bad)?),
            "DeviceAllow" => {
                let list = device_allow.get_or_insert_with(Vec::new);
                if value.is_empty() {
                    list.clear();
                } else {
                    list.extend(device_allow_rules(value)?);
                }
            }
            other => {
                if let Some((_, instead)) = REPLACED.iter().find(|(n, _)| *n == other) {
                    return Err(Error::invalid(
                        "property",
                        format!("{name}={value}"),
                        format!("rein takes the current resource-control properties: use {instead}"),
                    ));
                }
                return Err(Error::invalid(
                    "property",
                    format!("{name}={value}"),
                    format!("unknown or unsupported property; rein takes {}", PROPERTIES.join("=, ") + "="),
                ));
            }
        }
    }
    match (quota, period) {
        (None, None) => {}
        (Some(Some(per_sec)), p) => {
            let (q, p) = convert::systemd_cpu_quota(per_sec, p.flatten());
            r.cpu.max = Some(CpuMax::new(Limit::Value(q), p)?);
        }
        // No quota (or CPUQuota= emptied): systemd writes "max PERIOD".
        (Some(None), p) | (None, p) => {
            let p = p.flatten().unwrap_or(convert::SYSTEMD_DEFAULT_PERIOD_US).clamp(1_000, 1_000_000);
            r.cpu.max = Some(CpuMax::new(Limit::Max, p)?);
        }
    }
    if device_policy.is_some() || device_allow.is_some() {
        r.devices = Some(DeviceAccess {
            policy: Some(device_policy.unwrap_or(DevicePolicy::Auto)),
            rules: device_allow.unwrap_or_default(),
        });
    }
    r.validate()?;
    Ok(r)
}

/// One `DeviceAllow=` value as rules, as systemd reads it (load-fragment.c,
/// config_parse_device_allow; cgroup.c for what the specifier means): `SPEC [ACCESS]`,
/// all access when none is given. A `char-NAME` glob matching several drivers allows each
/// of their majors; one matching none is refused (systemd would allow nothing, quietly).
pub fn device_allow_rules(value: &str) -> Result<Vec<DeviceRule>> {
    let bad = |reason: String| Error::invalid("DeviceAllow=", value, reason);
    let (spec, access) = match value.split_once(char::is_whitespace) {
        Some((s, a)) => (s, a.trim()),
        None => (value, ""),
    };
    let access = if access.is_empty() { Access::ALL } else { Access::parse(access).map_err(bad)? };
    let numbered = |kind: DeviceType, nums: &str| -> Result<Vec<DeviceRule>> {
        let letter = kind.letter();
        let mut rule = DeviceRule::parse(&format!("{letter} {nums} rwm"), true).map_err(bad)?;
        if rule.major.is_none() || rule.minor.is_none() {
            return Err(bad(format!(
                "/dev/{}/ takes MAJOR:MINOR numbers",
                if letter == 'b' { "block" } else { "char" }
            )));
        }
        rule.access = access;
        rule.check_type_here().map_err(bad)?;
        Ok(vec![rule])
    };
    if let Some(nums) = spec.strip_prefix("/dev/char/") {
        return numbered(DeviceType::Char, nums);
    }
    if let Some(nums) = spec.strip_prefix("/dev/block/") {
        return numbered(DeviceType::Block, nums);
    }
    let named = match (spec.strip_prefix("char-"), spec.strip_prefix("block-")) {
        (Some(n), _) => Some((DeviceType::Char, n)),
        (_, Some(n)) => Some((DeviceType::Block, n)),
        _ => None,
    };
    if let Some((kind, name)) = named {
        if name.is_empty() {
            return Err(bad("expected a driver name from /proc/devices after char- or block- (char-pts)".into()));
        }
        let text = std::fs::read_to_string("/proc/devices")
            .map_err(|e| bad(format!("cannot read /proc/devices to look the name up: {e}")))?;
        let majors = crate::devices::majors_named(&text, kind == DeviceType::Block, name);
        if majors.is_empty() {
            return Err(bad(format!(
                "no {} driver in /proc/devices is named '{name}'",
                if kind == DeviceType::Block { "block" } else { "character" }
            )));
        }
        return Ok(majors
            .into_iter()
            .map(|major| DeviceRule { allow: true, kind, major: Some(major), minor: None, access })
            .collect());
    }
    if !spec.starts_with("/dev/") {
        return Err(bad(
            "expected a /dev path, /dev/char/MAJOR:MINOR, /dev/block/MAJOR:MINOR, char-NAME or block-NAME".into(),
        ));
    }
    let mut rule = crate::device::node_rule(spec).map_err(|e| match e {
        Error::InvalidValue { reason, .. } => bad(reason),
        other => other,
    })?;
    rule.access = access;
    Ok(vec![rule])
}

/// systemd's `parse_permyriad`: `N%` with up to two decimals, `N‰` with one, `N‱`.
pub fn parse_permyriad(s: &str) -> Result<u64, String> {
    let (num, scale_digits, unit) = if let Some(n) = s.strip_suffix('‱') {
        (n, 0, 1)
    } else if let Some(n) = s.strip_suffix('‰') {
        (n, 1, 10)
    } else if let Some(n) = s.strip_suffix('%') {
        (n, 2, 100)
    } else {
        return Err("expected a percentage like 20% (or ‰, ‱)".into());
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits_ok = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok(int) || (!frac.is_empty() && (!digits_ok(frac) || frac.len() > scale_digits)) || num.ends_with('.') {
        return Err(format!(
            "expected a whole number{} before the sign",
            match scale_digits {
                2 => " or up to two decimals",
                1 => " or one decimal",
                _ => "",
            }
        ));
    }
    let int: u64 = int.parse().map_err(|_| "too large".to_string())?;
    let mut f: u64 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| "bad decimals".to_string())? };
    for _ in frac.len()..scale_digits {
        f *= 10;
    }
    int.checked_mul(unit).and_then(|v| v.checked_add(f)).ok_or_else(|| "too large".into())
}

/// systemd's `UINT32_SCALE_FROM_PERMYRIAD`: the percentage as a fraction of 2^32-1.
fn scale_from_permyriad(p: u64) -> u64 {
    (p.min(10_000) * u64::from(u32::MAX) + 5_000) / 10_000
}

/// A memory value: `infinity`, `N%` of physical memory (systemd's
/// `physical_memory_scale`: whole pages, rounded down), or a size in base 1024.
fn memory(value: &str, facts: &dyn Fn() -> HostFacts) -> Result<Limit<Bytes>, String> {
    if value == "infinity" {
        return Ok(Limit::Max);
    }
    if value.ends_with('%') || value.ends_with('‰') || value.ends_with('‱') {
        let p = parse_permyriad(value)?;
        if p > 10_000 {
            return Err("a percentage of physical memory must be at most 100%".into());
        }
        let f = facts();
        let page = f.page_size.max(1);
        let pages = f.physical_memory / page;
        let scaled = u128::from(pages) * u128::from(scale_from_permyriad(p)) / u128::from(u32::MAX);
        return Ok(Limit::Value(Bytes(u64::try_from(scaled * u128::from(page)).unwrap_or(u64::MAX))));
    }
    systemd_size(value, 1024).map(|b| Limit::Value(Bytes(b)))
}

/// `TasksMax=`: `infinity`, `N%` of the system's task limit, or a count.
fn tasks(value: &str, facts: &dyn Fn() -> HostFacts) -> Result<Limit<u64>, String> {
    if value == "infinity" {
        return Ok(Limit::Max);
    }
    if value.ends_with('%') || value.ends_with('‰') || value.ends_with('‱') {
        let p = parse_permyriad(value)?;
        if p > 10_000 {
            return Err("a percentage of the system's tasks must be at most 100%".into());
        }
        let t = facts().tasks_max;
        let n = u128::from(t) * u128::from(scale_from_permyriad(p)) / u128::from(u32::MAX);
        return Ok(Limit::Value(u64::try_from(n).unwrap_or(u64::MAX)));
    }
    crate::units::parse_count(value).map(Limit::Value)
}

fn weight(value: &str) -> Result<Weight, String> {
    match value {
        "" => Ok(Weight::DEFAULT),
        "idle" => {
            Err("CPUWeight=idle (cpu.idle) is not supported by rein; use CPUWeight=1 for the lowest weight".into())
        }
        v => v.parse(),
    }
}

/// A CPU list as systemd writes it: ranges, separated by commas and/or spaces.
fn cpu_set(value: &str) -> Result<CpuList, String> {
    if value.is_empty() {
        return Err("an empty list resets to the parent's set in systemd; give the CPUs or nodes".into());
    }
    CpuList::parse_nonempty(&value.split_whitespace().collect::<Vec<_>>().join(","))
}

/// `DEVICE LIMIT` of the IO properties: the limit in base 1000 (systemd's
/// `parse_size(.., 1000, ..)`), or `infinity`.
fn io_limit(value: &str, resolve: &dyn Fn(&str) -> Result<DeviceNumber>) -> Result<(DeviceNumber, Limit<u64>)> {
    let bad = |why: &str| Error::invalid("IO limit", value, why);
    let (dev, limit) = value
        .rsplit_once(char::is_whitespace)
        .ok_or_else(|| bad("expected 'DEVICE LIMIT', e.g. '/dev/sda 5M' (K, M, G, T are powers of 1000 here)"))?;
    let dev = resolve(dev.trim())?;
    let limit = match limit {
        "infinity" => Limit::Max,
        l => Limit::Value(systemd_size(l, 1000).map_err(|e| bad(&e))?),
    };
    if limit == Limit::Value(0) {
        return Err(bad("0 would stop all IO; use infinity to remove the limit"));
    }
    Ok((dev, limit))
}

/// systemd's `parse_size(t, base)`: a decimal number with an optional suffix of
/// B, K, M, G, T, P, E (powers of `base`); fractions allowed (`1.5G`).
pub fn systemd_size(t: &str, base: u64) -> Result<u64, String> {
    let t = t.trim();
    let end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, suffix) = (&t[..end], t[end..].trim());
    let power = match suffix {
        "" | "B" => 0,
        "K" => 1,
        "M" => 2,
        "G" => 3,
        "T" => 4,
        "P" => 5,
        "E" => 6,
        _ => return Err(format!("unknown suffix '{suffix}'; systemd takes B, K, M, G, T, P, E")),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a size like 512M".into());
    }
    let unit = u128::from(base).pow(power);
    let mut total = int.parse::<u128>().map_err(|_| "too large".to_string())?.checked_mul(unit).ok_or("too large")?;
    if !frac.is_empty() {
        let denom = 10u128.pow(frac.len().min(18) as u32);
        let f: u128 = frac[..frac.len().min(18)].parse().map_err(|_| "bad fraction".to_string())?;
        // Checked: an integer part just below u128::MAX / unit leaves no room for the
        // fraction (`340282366920938463463.9E` wrapped to 525392568231788544 in release).
        total = total.checked_add(f * unit / denom).ok_or("too large")?;
    }
    u64::try_from(total).map_err(|_| "too large".into())
}

/// systemd's time span (`parse_sec`): numbers with units, summed (`1min 30s`); a bare
/// number is seconds. Units: us, ms, s, min, h, d, w (and their long forms).
pub fn parse_timespan_usec(t: &str) -> Result<u64, String> {
    const UNITS: [(&str, u64); 20] = [
        ("usec", 1),
        ("us", 1),
        ("µs", 1),
        ("msec", 1_000),
        ("ms", 1_000),
        ("seconds", 1_000_000),
        ("second", 1_000_000),
        ("sec", 1_000_000),
        ("s", 1_000_000),
        ("minutes", 60_000_000),
        ("minute", 60_000_000),
        ("min", 60_000_000),
        ("m", 60_000_000),
        ("hours", 3_600_000_000),
        ("hour", 3_600_000_000),
        ("hr", 3_600_000_000),
        ("h", 3_600_000_000),
        ("days", 86_400_000_000),
        ("d", 86_400_000_000),
        ("w", 604_800_000_000),
    ];
    let mut rest = t.trim();
    if rest.is_empty() {
        return Err("empty time span".into());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let num = &rest[..end];
        if num.is_empty() {
            return Err(format!("expected a number at '{rest}'"));
        }
        rest = rest[end..].trim_start();
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c.is_whitespace()).unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = rest[unit_end..].trim_start();
        let scale = if unit.is_empty() {
            1_000_000
        } else {
            UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(_, s)| *s)
                .ok_or_else(|| format!("unknown time unit '{unit}'"))?
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        let int: u128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| "too large".to_string())? };
        // Checked: 39 digits of seconds overflow even u128 (found by fuzz/systemd).
        let whole = int.checked_mul(u128::from(scale)).ok_or("too large")?;
        total = total.checked_add(whole).ok_or("too large")?;
        if !frac.is_empty() {
            let digits = frac.len().min(18);
            let f: u128 = frac[..digits].parse().map_err(|_| "bad fraction".to_string())?;
            total = total.checked_add(f * u128::from(scale) / 10u128.pow(digits as u32)).ok_or("too large")?;
        }
    }
    u64::try_from(total).map_err(|_| "too large".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FACTS: HostFacts =
        HostFacts { physical_memory: 24 << 30, page_size: 4096, tasks_max: 4_194_303, online_cpus: 2 };

    fn facts() -> HostFacts {
        FACTS
    }

    fn dev(s: &str) -> Result<DeviceNumber> {
        match s {
            "/dev/vdb" => Ok(DeviceNumber { major: 253, minor: 16 }),
            other => DeviceNumber::parse(other).map_err(|e| Error::invalid("device", other, e)),
        }
    }

    fn props(list: &[&str]) -> Result<Resources> {
        let p: Vec<(String, String)> = list.iter().map(|s| parse_property(s).unwrap()).collect();
        to_resources(&p, &facts, &dev)
    }

    #[test]
    fn time_spans_too_large_are_refused_not_wrapped() {
        // 39 digits of seconds, the input fuzz/systemd found overflowing u128.
        let huge = format!(" {}s", "4".repeat(34));
        assert_eq!(parse_timespan_usec(&huge), Err("too large".to_string()));
        assert_eq!(parse_timespan_usec(&"9".repeat(40)), Err("too large".to_string()));
        assert!(parse_timespan_usec("18446744073710s").is_err());
        assert!(parse_timespan_usec("18446744073709s").is_ok());
        assert_eq!(systemd_size(&"9".repeat(38), 1024), Err("too large".to_string()));
        assert_eq!(systemd_size(&format!("{}E", "9".repeat(30)), 1024), Err("too large".to_string()));
        assert_eq!(parse_timespan_usec("1min 30s"), Ok(90_000_000));
        let q = |v: &str| to_resources(&[("CPUQuota".into(), v.into())], &facts, &|_| unreachable!());
        assert!(q("188888888888888880.5%").unwrap_err().to_string().contains("too large"));
    }

    #[test]
    fn cpu_properties() {
        let max = |l: &[&str]| props(l).unwrap().cpu.max.map(|m| (m.quota, m.period));
        assert_eq!(max(&["CPUQuota=20%"]), Some((Limit::Value(20_000), 100_000)));
        assert_eq!(max(&["CPUQuota=35%"]), Some((Limit::Value(35_000), 100_000)));
        assert_eq!(max(&["CPUQuota=12.5%"]), Some((Limit::Value(12_500), 100_000)));
        assert_eq!(max(&["CPUQuota=200%"]), Some((Limit::Value(200_000), 100_000)));
        assert_eq!(max(&["CPUQuota=0.5%"]), Some((Limit::Value(1_000), 200_000)));
        assert_eq!(max(&["CPUQuota=20%", "CPUQuotaPeriodSec=10ms"]), Some((Limit::Value(2_000), 10_000)));
        assert_eq!(max(&["CPUQuotaPeriodSec=50ms", "CPUQuota=50%"]), Some((Limit::Value(25_000), 50_000)));
        assert_eq!(max(&["CPUQuota="]), Some((Limit::Max, 100_000)));
        assert_eq!(max(&["CPUQuota=20%", "CPUQuota="]), Some((Limit::Max, 100_000)));
        assert_eq!(props(&["CPUWeight=200"]).unwrap().cpu.weight.map(Weight::get), Some(200));
        assert_eq!(props(&["CPUWeight="]).unwrap().cpu.weight, Some(Weight::DEFAULT));
        for bad in ["CPUQuota=0%", "CPUQuota=20", "CPUQuota=1.234%", "CPUQuota=-5%", "CPUWeight=0", "CPUWeight=idle"] {
            assert!(props(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn memory_properties() {
        let r =
            props(&["MemoryMax=256M", "MemoryHigh=200M", "MemorySwapMax=0", "MemoryLow=64M", "MemoryMin=1G"]).unwrap();
        assert_eq!(r.memory.max, Some(Limit::Value(Bytes::mib(256))));
        assert_eq!(r.memory.high, Some(Limit::Value(Bytes::mib(200))));
        assert_eq!(r.memory.swap_max, Some(Limit::Value(Bytes(0))));
        assert_eq!(r.memory.low, Some(Bytes::mib(64)));
        assert_eq!(r.memory.min, Some(Bytes::gib(1)));
        assert_eq!(props(&["MemoryMax=infinity"]).unwrap().memory.max, Some(Limit::Max));
        assert_eq!(props(&["MemoryMax="]).unwrap().memory.max, Some(Limit::Max));
        assert_eq!(props(&["MemoryMax=1.5G"]).unwrap().memory.max, Some(Limit::Value(Bytes(3 << 29))));
        // 50% of 24 GiB, in whole pages.
        assert_eq!(props(&["MemoryMax=50%"]).unwrap().memory.max, Some(Limit::Value(Bytes(12 << 30))));
        assert_eq!(props(&["MemoryMax=100%"]).unwrap().memory.max, Some(Limit::Value(Bytes(24 << 30))));
        let one_percent = props(&["MemoryMax=1%"]).unwrap().memory.max.unwrap().value().unwrap().0;
        assert_eq!(one_percent % 4096, 0);
        assert!(one_percent.abs_diff((24u64 << 30) / 100) < 8192, "{one_percent}");
        for bad in ["MemoryMax=lots", "MemoryMax=150%", "MemoryLow=infinity", "MemoryMax=1KB", "MemoryMax=-1"] {
            assert!(props(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn io_and_tasks_properties() {
        let r = props(&["IOReadBandwidthMax=/dev/vdb 5M", "IOWriteIOPSMax=/dev/vdb 1K", "IOWeight=50"]).unwrap();
        assert_eq!(r.io.max[0].device, DeviceNumber { major: 253, minor: 16 });
        // Base 1000, as systemd.resource-control(5) says for IO limits.
        assert_eq!(r.io.max[0].rbps, Some(Limit::Value(5_000_000)));
        assert_eq!(r.io.max[0].wiops, Some(Limit::Value(1_000)));
        assert_eq!(r.io.weight.map(Weight::get), Some(50));
        let r = props(&["IOWriteBandwidthMax=253:16 infinity"]).unwrap();
        assert_eq!(r.io.max[0].wbps, Some(Limit::Max));
        assert_eq!(props(&["TasksMax=64"]).unwrap().pids.max, Some(Limit::Value(64)));
        assert_eq!(props(&["TasksMax=infinity"]).unwrap().pids.max, Some(Limit::Max));
        assert_eq!(props(&["TasksMax=15%"]).unwrap().pids.max, Some(Limit::Value(629_145)));
        assert_eq!(props(&["TasksMax=4194304"]).unwrap().pids.max, Some(Limit::Value(4_194_304)));
        let e = props(&["TasksMax=4194305"]).unwrap_err().to_string();
        assert!(e.contains("'4194305'") && e.contains("largest pids.max, 4194304"), "{e}");
        assert_eq!(props(&["AllowedCPUs=0-1 3"]).unwrap().cpuset.cpus.unwrap().to_string(), "0-1,3");
        assert_eq!(props(&["AllowedMemoryNodes=0"]).unwrap().cpuset.mems.unwrap().to_string(), "0");
        for bad in
            ["IOReadBandwidthMax=/dev/vdb", "IOReadBandwidthMax=/dev/vdb 0", "TasksMax=", "TasksMax=x", "AllowedCPUs="]
        {
            assert!(props(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_and_old_properties_name_the_replacement() {
        let e = props(&["CPUShares=512"]).unwrap_err().to_string();
        assert!(e.contains("CPUWeight="), "{e}");
        let e = props(&["MemoryLimit=1G"]).unwrap_err().to_string();
        assert!(e.contains("MemoryMax="), "{e}");
        let e = props(&["Frobnicate=1"]).unwrap_err().to_string();
        assert!(e.contains("unknown") && e.contains("TasksMax="), "{e}");
        assert!(parse_property("MemoryMax").is_err());
    }

    #[test]
    fn device_properties() {
        let r = props(&["DevicePolicy=strict", "DeviceAllow=/dev/null rw", "DeviceAllow=/dev/char/1:5"]).unwrap();
        let d = r.devices.unwrap();
        assert_eq!(d.policy, Some(DevicePolicy::Strict));
        let texts: Vec<String> = d.rules.iter().map(|r| r.to_text()).collect();
        assert_eq!(texts, ["allow c 1:3 rw", "allow c 1:5 rwm"]);
        // Allowing alone is auto with rules (closed); an empty value resets the list.
        let d = props(&["DeviceAllow=/dev/block/7:0 r", "DeviceAllow="]).unwrap().devices.unwrap();
        assert_eq!((d.policy, d.rules.len()), (Some(DevicePolicy::Auto), 0));
        // char-NAME from /proc/devices: "mem" is major 1 on every Linux.
        let d = props(&["DeviceAllow=char-mem r"]).unwrap().devices.unwrap();
        assert_eq!(d.rules[0].to_text(), "allow c 1:* r");
        for bad in [
            "DeviceAllow=/dev/null x",
            "DeviceAllow=/etc/passwd",
            "DeviceAllow=/dev/no-such-node",
            "DeviceAllow=char-no-such-driver",
            "DeviceAllow=char-",
            "DeviceAllow=/dev/char/1:*",
            "DeviceAllow=/dev/char/x",
            "DeviceAllow=null",
            "DevicePolicy=open",
        ] {
            let e = props(&[bad]).unwrap_err().to_string();
            assert!(e.contains(bad.split_once('=').unwrap().0), "{bad}: {e}");
        }
        assert!(props(&["DeviceDeny=/dev/null"]).unwrap_err().to_string().contains("DevicePolicy="));
    }

    #[test]
    fn permyriad_timespan_and_size_parsers() {
        assert_eq!(parse_permyriad("20%"), Ok(2000));
        assert_eq!(parse_permyriad("12.5%"), Ok(1250));
        assert_eq!(parse_permyriad("12.34%"), Ok(1234));
        assert_eq!(parse_permyriad("5‰"), Ok(50));
        assert_eq!(parse_permyriad("5.5‰"), Ok(55));
        assert_eq!(parse_permyriad("7‱"), Ok(7));
        for bad in ["1.234%", "%", "1.%", ".5%", "x%", "20", "1.5‱"] {
            assert!(parse_permyriad(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_timespan_usec("100ms"), Ok(100_000));
        assert_eq!(parse_timespan_usec("1s"), Ok(1_000_000));
        assert_eq!(parse_timespan_usec("2"), Ok(2_000_000));
        assert_eq!(parse_timespan_usec("1min 30s"), Ok(90_000_000));
        let q = |v: &str| to_resources(&[("CPUQuota".into(), v.into())], &facts, &|_| unreachable!());
        assert!(q("188888888888888880.5%").unwrap_err().to_string().contains("too large"));
        assert_eq!(parse_timespan_usec("0.5s"), Ok(500_000));
        assert_eq!(parse_timespan_usec("500us"), Ok(500));
        for bad in ["", "ms", "5 parsecs"] {
            assert!(parse_timespan_usec(bad).is_err(), "{bad}");
        }
        assert_eq!(systemd_size("5M", 1000), Ok(5_000_000));
        assert_eq!(systemd_size("5M", 1024), Ok(5 << 20));
        assert_eq!(systemd_size("1.5K", 1024), Ok(1536));
        assert_eq!(systemd_size("100", 1000), Ok(100));
        assert!(systemd_size("5MB", 1000).is_err());
        assert!(systemd_size("99999999E", 1024).is_err());
        // The integer part fits u128 times the unit, the fraction does not.
        assert_eq!(systemd_size("340282366920938463463.9E", 1000), Err("too large".to_string()));
        assert_eq!(systemd_size("340282366920938463463.9", 1000), Err("too large".to_string()));
        assert_eq!(systemd_size("18446744073709551615", 1000), Ok(u64::MAX));
        assert_eq!(systemd_size("18446744073709551616", 1000), Err("too large".to_string()));
    }
}
