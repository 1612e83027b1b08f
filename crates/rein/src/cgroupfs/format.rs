//! Parsers for the kernel's interface-file formats, named after the formats in
//! Documentation/admin-guide/cgroup-v2.rst ("Interface Files": flat keyed, nested keyed,
//! single value) plus the v1 formats rein reads. Pure functions over `&str`, tested on
//! kernel output captured into `testdata/`.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::units::{DeviceNumber, Limit};

/// A single value: a number, or `max` (v2), or `-1` / the v1 "unlimited" page-counter value.
pub fn single_u64(file: &str, text: &str) -> Result<u64> {
    let t = text.trim();
    t.parse().map_err(|_| Error::parse(file, format!("expected a number, found '{}'", crate::error::escape(t))))
}

/// A limit: `max` or a number (v2 style).
pub fn limit_u64(file: &str, text: &str) -> Result<Limit<u64>> {
    match text.trim() {
        "max" => Ok(Limit::Max),
        _ => single_u64(file, text).map(Limit::Value),
    }
}

/// v1's `memory.limit_in_bytes` and friends: unlimited is PAGE_COUNTER_MAX in bytes
/// (9223372036854771712 on 4 KiB pages), and `-1` reads back as that value.
pub fn v1_memory_limit(file: &str, text: &str) -> Result<Limit<u64>> {
    let t = text.trim();
    if t == "-1" {
        return Ok(Limit::Max);
    }
    let n = single_u64(file, t)?;
    // Anything within a page of i64::MAX is the kernel's "no limit".
    if n >= (i64::MAX as u64) - (1 << 20) { Ok(Limit::Max) } else { Ok(Limit::Value(n)) }
}

/// v1 signed values where `-1` means unlimited (`cpu.cfs_quota_us`).
pub fn v1_signed_limit(file: &str, text: &str) -> Result<Limit<u64>> {
    match text.trim() {
        "-1" => Ok(Limit::Max),
        t => single_u64(file, t).map(Limit::Value),
    }
}

/// Flat keyed: `key value` per line (`memory.events`, `cpu.stat`, `pids.events`,
/// v1 `memory.oom_control`, `cpuacct.stat`, `memory.stat`).
pub fn flat_keyed(file: &str, text: &str) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let (Some(key), Some(value), None) = (it.next(), it.next(), it.next()) else {
            return Err(Error::parse(file, format!("expected 'key value', found '{}'", crate::error::escape(line))));
        };
        let value = value
            .parse()
            .map_err(|_| Error::parse(file, format!("'{}' is not a number", crate::error::escape(value))))?;
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

/// Nested keyed: `MAJ:MIN key=value key=value ...` per line (`io.stat`, `io.max`).
/// Values are kept as text (`max` occurs in io.max).
pub fn nested_keyed(file: &str, text: &str) -> Result<BTreeMap<DeviceNumber, BTreeMap<String, String>>> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let dev = it.next().unwrap_or("");
        let dev = DeviceNumber::parse(dev).map_err(|e| Error::parse(file, e))?;
        let mut fields = BTreeMap::new();
        for kv in it {
            let (k, v) = kv.split_once('=').ok_or_else(|| {
                Error::parse(file, format!("expected key=value, found '{}'", crate::error::escape(kv)))
            })?;
            fields.insert(k.to_string(), v.to_string());
        }
        out.insert(dev, fields);
    }
    Ok(out)
}

/// v1 per-device lists: `MAJ:MIN value` per line (`blkio.throttle.read_bps_device`).
pub fn device_values(file: &str, text: &str) -> Result<BTreeMap<DeviceNumber, u64>> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (dev, value) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| Error::parse(file, format!("expected 'MAJ:MIN value', found '{line}'")))?;
        let dev = DeviceNumber::parse(dev).map_err(|e| Error::parse(file, e))?;
        out.insert(dev, single_u64(file, value)?);
    }
    Ok(out)
}

/// v1 blkio statistics: `MAJ:MIN Op value` lines and a final `Total value`
/// (`blkio.throttle.io_service_bytes`). Returns per device, per op (Read, Write, ...).
pub fn v1_blkio_stat(file: &str, text: &str) -> Result<BTreeMap<DeviceNumber, BTreeMap<String, u64>>> {
    let mut out: BTreeMap<DeviceNumber, BTreeMap<String, u64>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["Total", _] => {}
            [dev, op, value] => {
                let dev = DeviceNumber::parse(dev).map_err(|e| Error::parse(file, e))?;
                out.entry(dev).or_default().insert(op.to_string(), single_u64(file, value)?);
            }
            _ => return Err(Error::parse(file, format!("unexpected line '{}'", crate::error::escape(line)))),
        }
    }
    Ok(out)
}

/// `cpu.max`: `$MAX $PERIOD`, where `$MAX` may be `max`.
pub fn cpu_max(file: &str, text: &str) -> Result<(Limit<u64>, u64)> {
    let mut it = text.split_whitespace();
    let (Some(quota), Some(period), None) = (it.next(), it.next(), it.next()) else {
        return Err(Error::parse(file, "expected '$MAX $PERIOD'"));
    };
    Ok((limit_u64(file, quota)?, single_u64(file, period)?))
}

/// One line of a pressure file: averages in percent and the total stall time in µs.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct PressureLine {
    /// Share of time stalled over the last 10 s, in percent.
    pub avg10: f64,
    /// Over the last 60 s.
    pub avg60: f64,
    /// Over the last 300 s.
    pub avg300: f64,
    /// Total stall time, microseconds.
    pub total_usec: u64,
}

/// A pressure file (`cpu.pressure`, `memory.pressure`, `io.pressure`): `some` and,
/// except for CPU on older kernels, `full` lines.
pub fn pressure(file: &str, text: &str) -> Result<(PressureLine, Option<PressureLine>)> {
    let mut some = None;
    let mut full = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let kind = it.next().unwrap_or("");
        let mut p = PressureLine::default();
        for kv in it {
            let (k, v) = kv.split_once('=').ok_or_else(|| Error::parse(file, format!("unexpected '{kv}'")))?;
            let bad = || Error::parse(file, format!("'{v}' is not a number"));
            match k {
                "avg10" => p.avg10 = v.parse().map_err(|_| bad())?,
                "avg60" => p.avg60 = v.parse().map_err(|_| bad())?,
                "avg300" => p.avg300 = v.parse().map_err(|_| bad())?,
                "total" => p.total_usec = v.parse().map_err(|_| bad())?,
                _ => {}
            }
        }
        match kind {
            "some" => some = Some(p),
            "full" => full = Some(p),
            _ => return Err(Error::parse(file, format!("unexpected line '{}'", crate::error::escape(line)))),
        }
    }
    let some = some.ok_or_else(|| Error::parse(file, "no 'some' line"))?;
    Ok((some, full))
}

/// v1 `cpuacct.usage_all`: a `cpu user system` header, then per CPU its user and system
/// time in ns. Returns the sums (user, system), ns. Like `cpuacct.usage_user` and
/// `usage_sys` these come from tick-based accounting; `cpuacct.usage` is the precise total.
pub fn v1_cpuacct_usage_all(file: &str, text: &str) -> Result<(u64, u64)> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    if lines.next().map(|h| h.split_whitespace().collect::<Vec<_>>()) != Some(vec!["cpu", "user", "system"]) {
        return Err(Error::parse(file, "expected a 'cpu user system' header"));
    }
    let (mut user, mut system) = (0u64, 0u64);
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [_, u, s] = f.as_slice() else {
            return Err(Error::parse(
                file,
                format!("expected 'CPU USER SYSTEM', found '{}'", crate::error::escape(line)),
            ));
        };
        user = user.saturating_add(single_u64(file, u)?);
        system = system.saturating_add(single_u64(file, s)?);
    }
    Ok((user, system))
}

/// `cgroup.procs` / `tasks`: one pid per line.
pub fn pids(file: &str, text: &str) -> Result<Vec<u32>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().parse().map_err(|_| Error::parse(file, format!("'{l}' is not a pid"))))
        .collect()
}

/// The page size memory limits are rounded down to (the kernel keeps them in pages).
fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// True when writing `written` to `file` would not change a file that reads `current`:
/// how rein skips writes on a live update. Knows the files whose read-back form differs
/// from the written one (v1 `-1` reads as a huge number, memory limits round down to
/// pages, `io.max` and the v1 throttle files list every device and key, `io.weight` adds
/// per-device lines, CPU lists may be written in another order).
pub(crate) fn same_setting(file: &str, written: &str, current: &str) -> bool {
    let (w, c) = (written.trim(), current.trim());
    // A rule is not its file's read-back: devices.list says nothing about whether one
    // more rule changes it.
    if undo_source(file) != file {
        return false;
    }
    if w == c || writable(file, c) == w {
        return true;
    }
    let page = page_size();
    let round = |l: Limit<u64>| l.map(|v| v / page * page);
    match file {
        "memory.limit_in_bytes" | "memory.memsw.limit_in_bytes" | "memory.soft_limit_in_bytes" => {
            matches!((v1_memory_limit(file, w), v1_memory_limit(file, c)), (Ok(a), Ok(b)) if round(a) == round(b))
        }
        "memory.max" | "memory.high" | "memory.low" | "memory.min" | "memory.swap.max" => {
            matches!((limit_u64(file, w), limit_u64(file, c)), (Ok(a), Ok(b)) if round(a) == round(b))
        }
        "cpu.cfs_quota_us" => matches!((v1_signed_limit(file, w), v1_signed_limit(file, c)), (Ok(a), Ok(b)) if a == b),
        "cpuset.cpus" | "cpuset.mems" => {
            matches!((crate::units::CpuList::parse(w), crate::units::CpuList::parse(c)), (Ok(a), Ok(b)) if a == b)
        }
        "io.weight" => c.lines().next().map(str::trim) == Some(w),
        "io.max" => match (nested_keyed(file, w), nested_keyed(file, c)) {
            (Ok(want), Ok(have)) => want.iter().all(|(dev, keys)| {
                keys.iter().all(|(k, v)| have.get(dev).and_then(|h| h.get(k)).map(String::as_str).unwrap_or("max") == v)
            }),
            _ => false,
        },
        f if f.starts_with("blkio.throttle.") && f.ends_with("_device") => {
            match (device_values(file, w), device_values(file, c)) {
                (Ok(want), Ok(have)) => want.iter().all(|(dev, v)| have.get(dev).copied().unwrap_or(0) == *v),
                _ => false,
            }
        }
        _ => false,
    }
}

/// What a write of a device that has no line yet is undone with, in the files that hold
/// one line per device: the value that removes the device's line. `None` for files that
/// hold one value (writing the old text back restores those).
fn per_device_reset(file: &str) -> Option<&'static str> {
    match file {
        // blk-throttle drops a device's line once all four limits are max.
        "io.max" => Some("rbps=max wbps=max riops=max wiops=max"),
        "io.latency" => Some("target=max"),
        // blk-iocost and bfq: "default" removes a device's own weight.
        "io.weight" | "io.bfq.weight" | "blkio.bfq.weight_device" => Some("default"),
        // v1 blk-throttle (and CFQ's weight_device): 0 removes the line.
        f if f.starts_with("blkio.throttle.") && f.ends_with("_device") => Some("0"),
        "blkio.weight_device" => Some("0"),
        // One line per interface (priority 0 is the default), RDMA device or misc
        // resource; each write names one.
        "net_prio.ifpriomap" => Some("0"),
        "rdma.max" => Some("hca_handle=max hca_object=max"),
        "misc.max" => Some("max"),
        _ => None,
    }
}

/// The file whose text a write of `file` is undone from: `file` itself, but for v1's
/// `devices.allow` and `devices.deny`, which cannot be read, `devices.list`, which shows
/// the rules they made (Documentation/admin-guide/cgroup-v1/devices.rst).
pub(crate) fn undo_source(file: &str) -> &str {
    match file {
        "devices.allow" | "devices.deny" => "devices.list",
        f => f,
    }
}

/// The text that writes back the setting `file` showed as `previous`, for the files with
/// one setting whose read-back is not what is written:
/// - v1 `memory.oom_control` shows `oom_kill_disable N`, `under_oom` and `oom_kill` lines
///   and takes only the `oom_kill_disable` value (mem_cgroup_oom_control_write);
/// - v1 memory limits (`memory.*limit_in_bytes`, hugetlb's) show "no limit" as
///   PAGE_COUNTER_MAX in bytes: written back as `-1`, what the kernel documents;
/// - `freezer.state` shows `FREEZING` while a freeze is under way, which cannot be
///   written: `FROZEN` finishes it;
/// - `cpuset.cpus.partition` shows `root invalid (reason)`: the first word is the mode.
///
/// Everything else is written back as shown (numbers, `max`, CPU lists, `-1`).
pub(crate) fn writable(file: &str, previous: &str) -> String {
    let t = previous.trim();
    match file {
        "memory.oom_control" => match flat_keyed(file, t).ok().and_then(|k| k.get("oom_kill_disable").copied()) {
            Some(v) => v.to_string(),
            None => t.to_string(),
        },
        f if f.starts_with("memory.") && f.ends_with("limit_in_bytes")
            || f.starts_with("hugetlb.") && f.ends_with(".limit_in_bytes") =>
        {
            match v1_memory_limit(f, t) {
                Ok(Limit::Max) => "-1".to_string(),
                _ => t.to_string(),
            }
        }
        "freezer.state" if t == "FREEZING" => "FROZEN".to_string(),
        "cpuset.cpus.partition" => t.split_whitespace().next().unwrap_or("").to_string(),
        _ => t.to_string(),
    }
}

/// The writes that undo a write of `written` to `file`, which held `previous` before.
///
/// A file with one value is restored by writing the old setting back ([`writable`]). The
/// per-device files (`io.max`, `io.latency`, `io.weight`, `io.bfq.weight`, v1's
/// `blkio.throttle.*_device` and the weight_device files, `net_prio.ifpriomap`,
/// `rdma.max`, `misc.max`) hold one line per device, but a write names one device and
/// changes only its line: the kernel takes one device per write, so their whole old text
/// cannot be written back (two lines are refused with EINVAL, an empty text sets
/// nothing). Their undo is one write per device `written` named ([`old_lines`]).
/// v1's `devices.allow` and `devices.deny` are undone from `devices.list` ([`undo`]).
pub(crate) fn undo_writes(file: &str, written: &str, previous: &str) -> Vec<String> {
    match per_device_reset(file) {
        Some(_) => old_lines(file, written, previous),
        None => vec![writable(file, previous)],
    }
}

/// What `file` held before a write of `written`, as `rein diff` shows it: the text read
/// back, but for a per-device file only the lines of the devices `written` names: each
/// device's old line, or, for a device that had none, the value that removes its line
/// (io.max `MAJ:MIN rbps=max wbps=max riops=max wiops=max`, blkio.throttle `MAJ:MIN 0`,
/// ...), which is what a rollback writes back. io.weight's `default N` line is put back
/// as `default <old N>`.
pub(crate) fn old_lines(file: &str, written: &str, previous: &str) -> Vec<String> {
    let Some(reset) = per_device_reset(file) else {
        return vec![previous.trim_end().to_string()];
    };
    let old_line = |key: &str| {
        previous.lines().map(str::trim).find(|l| l.split_whitespace().next() == Some(key)).map(String::from)
    };
    let mut out: Vec<String> = Vec::new();
    for line in written.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some(key) = line.split_whitespace().next() else { continue };
        let undo = match old_line(key) {
            Some(old) => old,
            // A default weight always has a line; nothing to remove.
            None if key == "default" => continue,
            None => format!("{key} {reset}"),
        };
        if !out.contains(&undo) {
            out.push(undo);
        }
    }
    out
}

/// How a rollback undoes one write: the writes to make, in order, and what it cannot
/// bring back (said in the error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Undo {
    /// `(file, value)` writes, in order.
    pub writes: Vec<(String, String)>,
    /// Why part of what the file held before cannot be brought back, if so.
    pub lost: Option<String>,
    /// The writes allow devices again that the change denied a v1 devices group: the
    /// kernel denied them to every group beneath it too, and those stay denied.
    pub regrants: bool,
}

/// How the rollback undoes a write of `written` to `file`, which showed `previous`
/// before ([`undo_source`]'s text), given what that source shows now (`now`, read at
/// rollback time; only the devices files need it).
///
/// v1 devices: a write changes the group's rules, which `devices.list` shows, so the
/// undo is what brings the list from `now` back to `previous`
/// ([`crate::devices::v1_restore`]): the same for every devices write of one plan, and
/// nothing once the newest has been undone. Every other file: [`undo_writes`].
pub(crate) fn undo(file: &str, written: &str, previous: &str, now: Option<&str>) -> Undo {
    if undo_source(file) != file {
        let Some(now) = now else {
            let lost = Some(format!("{} could not be read", undo_source(file)));
            return Undo { writes: Vec::new(), lost, regrants: false };
        };
        let r = crate::devices::v1_restore(previous, now);
        let regrants = r.rules.iter().any(|rule| rule.allow && rule.kind != crate::devices::DeviceType::All);
        let writes = r
            .rules
            .iter()
            .map(|rule| {
                let to = if rule.allow { "devices.allow" } else { "devices.deny" };
                let text =
                    if rule.kind == crate::devices::DeviceType::All { "a".to_string() } else { rule.to_string() };
                (to.to_string(), text)
            })
            .collect();
        let lost = (!r.complete).then(|| {
            "it allowed every device by default, and the kernel does not list what such a group denies \
             (devices.list shows 'a *:* rwm'), so what it denied before is not restored"
                .to_string()
        });
        return Undo { writes, lost, regrants };
    }
    Undo {
        writes: undo_writes(file, written, previous).into_iter().map(|v| (file.to_string(), v)).collect(),
        lost: None,
        regrants: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> String {
        let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn v2_files() {
        let ev = flat_keyed("memory.events", &data("v2/memory.events")).unwrap();
        assert_eq!(ev["oom_kill"], 1);
        assert!(ev.contains_key("high"));
        let stat = flat_keyed("cpu.stat", &data("v2/cpu.stat")).unwrap();
        assert!(stat.contains_key("usage_usec") && stat.contains_key("throttled_usec"));
        let (some, full) = pressure("memory.pressure", &data("v2/memory.pressure")).unwrap();
        assert!(some.avg10 >= 0.0 && full.is_some());
        assert_eq!(cpu_max("cpu.max", "max 100000\n").unwrap(), (Limit::Max, 100000));
        assert_eq!(cpu_max("cpu.max", "20000 100000\n").unwrap(), (Limit::Value(20000), 100000));
        assert!(cpu_max("cpu.max", "20000").is_err());
        let io = nested_keyed("io.stat", &data("v2/io.stat")).unwrap();
        assert!(io.values().all(|f| f.contains_key("rbytes") && f.contains_key("wbytes")));
        let max = nested_keyed("io.max", "7:0 rbps=max wbps=1048576 riops=max wiops=max\n").unwrap();
        assert_eq!(max[&DeviceNumber { major: 7, minor: 0 }]["wbps"], "1048576");
    }

    #[test]
    fn v1_files() {
        let oom = flat_keyed("memory.oom_control", &data("v1/memory.oom_control")).unwrap();
        assert_eq!(oom["oom_kill"], 1);
        let acct = flat_keyed("cpuacct.stat", &data("v1/cpuacct.stat")).unwrap();
        assert!(acct.contains_key("user") && acct.contains_key("system"));
        assert_eq!(
            v1_memory_limit("memory.limit_in_bytes", &data("v1/memory.limit_in_bytes.unlimited")).unwrap(),
            Limit::Max
        );
        assert_eq!(v1_memory_limit("memory.limit_in_bytes", "20971520\n").unwrap(), Limit::Value(20971520));
        assert_eq!(v1_signed_limit("cpu.cfs_quota_us", "-1\n").unwrap(), Limit::Max);
        let bytes =
            v1_blkio_stat("blkio.throttle.io_service_bytes", &data("v1/blkio.throttle.io_service_bytes")).unwrap();
        assert!(bytes.values().all(|ops| ops.contains_key("Write")));
        assert_eq!(device_values("x", "7:0 1048576\n").unwrap()[&DeviceNumber { major: 7, minor: 0 }], 1048576);
        let (user, system) = v1_cpuacct_usage_all("cpuacct.usage_all", &data("v1/cpuacct.usage_all")).unwrap();
        assert!(user > 0 && system == 0, "a shell loop: user time only ({user}, {system})");
        let events = flat_keyed("pids.events", &data("v1/pids.events")).unwrap();
        assert_eq!(events["max"], 1);
    }

    #[test]
    fn same_settings() {
        assert!(same_setting("memory.max", "268435456", "268435456\n"));
        assert!(same_setting("memory.max", "1000000", &format!("{}\n", 1000000 / page_size() * page_size())));
        assert!(!same_setting("memory.max", "268435456", "max\n"));
        assert!(same_setting("memory.limit_in_bytes", "-1", "9223372036854771712\n"));
        assert!(same_setting("cpu.cfs_quota_us", "-1", "-1\n"));
        assert!(same_setting("cpuset.cpus", "1,0", "0-1\n"));
        assert!(same_setting("io.weight", "default 50", "default 50\n8:0 200\n"));
        assert!(same_setting("io.max", "7:0 wbps=1048576", "7:0 rbps=max wbps=1048576 riops=max wiops=max\n"));
        assert!(!same_setting("io.max", "7:0 wbps=1048576", "7:0 rbps=max wbps=2097152 riops=max wiops=max\n"));
        assert!(!same_setting("io.max", "7:0 wbps=1048576", ""));
        assert!(same_setting("blkio.throttle.write_bps_device", "7:0 1048576", "7:0 1048576\n8:0 5\n"));
        assert!(same_setting("blkio.throttle.write_bps_device", "7:0 0", "8:0 5\n"));
        assert!(!same_setting("cpu.max", "20000 100000", "max 100000\n"));
        assert!(!same_setting("pids.max", "5", "max"));
        // The setting a multi-line read-back shows.
        assert!(same_setting("memory.oom_control", "1", "oom_kill_disable 1\nunder_oom 0\noom_kill 0\n"));
        assert!(!same_setting("memory.oom_control", "1", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"));
    }

    #[test]
    fn undo_writes_restore_per_device_lines_one_device_at_a_time() {
        // One value: the old text back.
        assert_eq!(undo_writes("memory.max", "1048576", "max\n"), ["max"]);
        assert_eq!(undo_writes("cpuset.cpus", "0-1", ""), [""]);
        let two = "7:0 rbps=max wbps=1048576 riops=max wiops=max\n8:16 rbps=2097152 wbps=max riops=max wiops=max\n";
        for (before, written, undo) in [
            // No device before: the line is removed again.
            ("", "7:0 wbps=2097152", "7:0 rbps=max wbps=max riops=max wiops=max"),
            // One device before, the same one written: its old line.
            (
                "7:0 rbps=max wbps=1048576 riops=max wiops=max\n",
                "7:0 wbps=2097152",
                "7:0 rbps=max wbps=1048576 riops=max wiops=max",
            ),
            // One device before, another written: the new one's line is removed.
            (
                "7:0 rbps=max wbps=1048576 riops=max wiops=max\n",
                "8:16 wbps=1",
                "8:16 rbps=max wbps=max riops=max wiops=max",
            ),
            // Two devices before: only the written device's line, never both.
            (two, "8:16 rbps=5", "8:16 rbps=2097152 wbps=max riops=max wiops=max"),
        ] {
            assert_eq!(undo_writes("io.max", written, before), [undo], "{before:?} {written:?}");
        }
        assert_eq!(undo_writes("blkio.throttle.write_bps_device", "7:0 2097152", ""), ["7:0 0"]);
        assert_eq!(undo_writes("blkio.throttle.read_iops_device", "8:16 9", "7:0 5\n8:16 100\n"), ["8:16 100"]);
        assert_eq!(undo_writes("io.weight", "default 50", "default 100\n8:0 200\n"), ["default 100"]);
        assert_eq!(undo_writes("io.weight", "8:0 50", "default 100\n"), ["8:0 default"]);
        assert_eq!(undo_writes("io.latency", "8:0 target=10", ""), ["8:0 target=max"]);
        assert_eq!(undo_writes("net_prio.ifpriomap", "eth0 5", "lo 0\neth0 3\n"), ["eth0 3"]);
        assert_eq!(undo_writes("net_prio.ifpriomap", "eth1 5", "lo 0\n"), ["eth1 0"]);
        assert_eq!(
            undo_writes("rdma.max", "mlx4_0 hca_handle=2", "mlx4_0 hca_handle=max hca_object=max\n"),
            ["mlx4_0 hca_handle=max hca_object=max"]
        );
        assert_eq!(undo_writes("misc.max", "sev 5", "sev max\nsev_es 2\n"), ["sev max"]);
    }

    #[test]
    fn a_setting_is_written_back_in_the_form_its_file_takes() {
        // What each file shows, and what restores it.
        for (file, shown, written_back) in [
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "0"),
            ("memory.oom_control", "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n", "1"),
            ("memory.limit_in_bytes", "9223372036854771712\n", "-1"),
            ("memory.limit_in_bytes", "20971520\n", "20971520"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712\n", "-1"),
            ("memory.soft_limit_in_bytes", "9223372036854771712\n", "-1"),
            ("memory.kmem.limit_in_bytes", "9223372036854771712\n", "-1"),
            ("hugetlb.2MB.limit_in_bytes", "9223372036854771712\n", "-1"),
            ("freezer.state", "FREEZING\n", "FROZEN"),
            ("freezer.state", "THAWED\n", "THAWED"),
            ("cpuset.cpus.partition", "root invalid (Cpu list in cpuset.cpus not exclusive)\n", "root"),
            ("cpuset.cpus", "0-1\n", "0-1"),
            ("cpuset.cpus", "\n", ""),
            ("cpu.cfs_quota_us", "-1\n", "-1"),
            ("cpu.max", "max 100000\n", "max 100000"),
            ("pids.max", "max\n", "max"),
        ] {
            assert_eq!(writable(file, shown), written_back, "{file} {shown:?}");
            assert_eq!(undo_writes(file, "1", shown), [written_back], "{file} {shown:?}");
            // rein diff shows what the file showed.
            assert_eq!(old_lines(file, "1", shown), [shown.trim_end()], "{file} {shown:?}");
        }
    }

    #[test]
    fn a_devices_write_is_undone_from_devices_list() {
        assert_eq!(undo_source("devices.allow"), "devices.list");
        assert_eq!(undo_source("devices.deny"), "devices.list");
        assert_eq!(undo_source("pids.max"), "pids.max");
        // A rule never counts as already in place: the list does not say.
        assert!(!same_setting("devices.allow", "c 1:3 rw", "c 1:3 rw\n"));
        assert!(!same_setting("devices.deny", "c 1:3 rw", "c 1:3 rw\n"));
        let u = undo("devices.allow", "c 1:5 rw", "c 1:3 rw\n", Some("c 1:5 rw\n"));
        let w = |f: &str, v: &str| (f.to_string(), v.to_string());
        assert_eq!(u.writes, [w("devices.deny", "c 1:5 rw"), w("devices.allow", "c 1:3 rw")]);
        assert_eq!((u.lost, u.regrants), (None, true));
        // An older write of the same plan, once the list is back: nothing more.
        let u = undo("devices.deny", "c 1:3 rw", "c 1:3 rw\n", Some("c 1:3 rw\n"));
        assert!(u.writes.is_empty() && u.lost.is_none() && !u.regrants, "{u:?}");
        // From an allowing default (after 'deny a'): the default, then the exceptions.
        let u = undo("devices.deny", "a", "c 1:3 rw\n", Some("a *:* rwm\n"));
        assert_eq!(u.writes, [w("devices.deny", "a"), w("devices.allow", "c 1:3 rw")]);
        // To an allowing default: the default comes back, what it denied is said lost.
        let u = undo("devices.allow", "c 1:3 rw", "a *:* rwm\n", Some("c 1:3 rw\n"));
        assert_eq!(u.writes, [w("devices.allow", "a")]);
        assert!(u.lost.unwrap().contains("does not list what such a group denies"));
        let u = undo("devices.deny", "c 1:5 rwm", "a *:* rwm\n", Some("a *:* rwm\n"));
        assert!(u.writes.is_empty() && u.lost.is_some());
        // devices.list unreadable at rollback time: nothing written, said.
        assert_eq!(
            undo("devices.allow", "c 1:5 rw", "c 1:3 rw\n", None).lost.unwrap(),
            "devices.list could not be read"
        );
        // Other files: the old setting back, in the file written.
        let u = undo("memory.oom_control", "1", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", None);
        assert_eq!(u.writes, [w("memory.oom_control", "0")]);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for text in ["a", "a b c", "key notanumber", "\u{0}"] {
            assert!(flat_keyed("f", text).is_err(), "{text:?}");
        }
        assert!(nested_keyed("f", "x rbps=1").is_err());
        assert!(nested_keyed("f", "8:0 rbps").is_err());
        assert!(pressure("f", "").is_err());
        assert!(pressure("f", "some avg10=x").is_err());
        assert!(pids("f", "12\nx\n").is_err());
        assert_eq!(pids("f", "12\n13\n").unwrap(), [12, 13]);
        assert!(single_u64("f", "").is_err());
        assert!(v1_blkio_stat("f", "8:0 Read").is_err());
        assert!(v1_cpuacct_usage_all("f", "0 1 2\n").is_err());
        assert!(v1_cpuacct_usage_all("f", "cpu user system\n0 1\n").is_err());
    }
}
