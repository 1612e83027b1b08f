//! `cgget -r NAME`: a name of the other version computed from the files that exist, in
//! the format of the version the name comes from.

use super::names::*;
use crate::cgroupfs::format;
use crate::convert;
use crate::error::{Error, Result};
use crate::units::{DeviceNumber, Limit, Weight};
use crate::{v1, v2};

fn io_weight_default(text: &str) -> Result<Weight> {
    let line = text.lines().find(|l| l.starts_with("default")).unwrap_or(text);
    let n = line.trim().strip_prefix("default").unwrap_or(line).trim();
    n.parse::<Weight>().map_err(|e| Error::parse(v2::IO_WEIGHT, e))
}

/// Reads files of the running mode: `(home, file)` to its content, None if absent.
pub type Reader<'a> = &'a dyn Fn(Home, &str) -> Option<String>;

/// The value of `name` as `cgget -r name` shows it: the file itself when the name
/// belongs to the running mode, else computed from the files that exist, in the format
/// of the version the name comes from.
pub fn read(name: &str, host: &Host, read: Reader<'_>) -> Result<String> {
    let home = home_of(name)?;
    let here = host_dialect(name, home, host)?;
    let info = known(name);
    let native = info.is_none_or(|k| k.dialect.is_none() || k.dialect == Some(here));
    let missing = |file: &str| {
        Error::state(
            format!("{file} is not readable in this group"),
            Some("its controller may not be enabled for the group, or the kernel lacks the file".into()),
        )
    };
    let get = |home: Home, file: &str| read(home, file).ok_or_else(|| missing(file));
    if native {
        return get(home, name);
    }
    if let Some((a, b)) = RENAMED.iter().find(|(a, b)| *a == name || *b == name) {
        let other = if *a == name { b } else { a };
        return get(home, other);
    }
    let unlimited = convert::v1_unlimited_bytes(host.page_size);
    let v1_mem = |l: Limit<u64>| match l {
        Limit::Max => unlimited.to_string(),
        Limit::Value(v) => v.to_string(),
    };
    let parse_limit = |file: &str, text: String| format::limit_u64(file, &text);
    let v1_limit = |file: &str, text: String| format::v1_memory_limit(file, &text);
    let out = match name {
        // v1 names computed from v2 files
        // The program in force, as v1 lists it (the reader answers it on v2).
        v1::DEVICES_LIST => get(DEVICES, v1::DEVICES_LIST)?,
        // rein's network programs, as net_cls and net_prio show them (the reader answers).
        v1::NET_CLS_CLASSID => get(NET_CLS, v1::NET_CLS_CLASSID)?,
        v1::NET_PRIO_IFPRIOMAP => get(NET_PRIO, v1::NET_PRIO_IFPRIOMAP)?,
        v1::MEMORY_LIMIT => v1_mem(parse_limit(v2::MEMORY_MAX, get(MEM, v2::MEMORY_MAX)?)?),
        v1::MEMORY_SOFT_LIMIT => v1_mem(parse_limit(v2::MEMORY_LOW, get(MEM, v2::MEMORY_LOW)?)?),
        v1::MEMORY_MEMSW_LIMIT => {
            let max = parse_limit(v2::MEMORY_MAX, get(MEM, v2::MEMORY_MAX)?)?;
            let swap = parse_limit(v2::MEMORY_SWAP_MAX, get(MEM, v2::MEMORY_SWAP_MAX)?)?;
            v1_mem(convert::memsw_from_swap(max, swap))
        }
        v1::MEMORY_MEMSW_USAGE => {
            let cur = format::single_u64(v2::MEMORY_CURRENT, &get(MEM, v2::MEMORY_CURRENT)?)?;
            let swap = format::single_u64(v2::MEMORY_SWAP_CURRENT, &get(MEM, v2::MEMORY_SWAP_CURRENT)?)?;
            (cur + swap).to_string()
        }
        v1::MEMORY_FAILCNT => {
            let ev = format::flat_keyed(v2::MEMORY_EVENTS, &get(MEM, v2::MEMORY_EVENTS)?)?;
            ev.get("max").copied().unwrap_or(0).to_string()
        }
        v1::MEMORY_OOM_CONTROL => {
            let ev = format::flat_keyed(v2::MEMORY_EVENTS, &get(MEM, v2::MEMORY_EVENTS)?)?;
            format!("oom_kill_disable 0\nunder_oom 0\noom_kill {}", ev.get("oom_kill").copied().unwrap_or(0))
        }
        v1::CPU_CFS_QUOTA => {
            let (q, _) = format::cpu_max(v2::CPU_MAX, &get(CPU, v2::CPU_MAX)?)?;
            convert::v1_quota_value(q)
        }
        v1::CPU_CFS_PERIOD => format::cpu_max(v2::CPU_MAX, &get(CPU, v2::CPU_MAX)?)?.1.to_string(),
        v1::CPU_SHARES => {
            let w: Weight =
                get(CPU, v2::CPU_WEIGHT)?.trim().parse().map_err(|e: String| Error::parse(v2::CPU_WEIGHT, e))?;
            convert::weight_to_shares(w).to_string()
        }
        v1::CPUACCT_USAGE | v1::CPUACCT_USAGE_USER | v1::CPUACCT_USAGE_SYS | v1::CPUACCT_STAT => {
            let st = format::flat_keyed(v2::CPU_STAT, &get(Home::Core, v2::CPU_STAT)?)?;
            let f = |k: &str| st.get(k).copied().unwrap_or(0);
            match name {
                v1::CPUACCT_USAGE => f("usage_usec").saturating_mul(1000).to_string(),
                v1::CPUACCT_USAGE_USER => f("user_usec").saturating_mul(1000).to_string(),
                v1::CPUACCT_USAGE_SYS => f("system_usec").saturating_mul(1000).to_string(),
                _ => {
                    let ticks = |us: u64| us / (1_000_000 / convert::USER_HZ);
                    format!("user {}\nsystem {}", ticks(f("user_usec")), ticks(f("system_usec")))
                }
            }
        }
        v1::BLKIO_WEIGHT | v1::BLKIO_BFQ_WEIGHT => {
            let w = io_weight_default(&get(IO, v2::IO_WEIGHT)?)?;
            if name == v1::BLKIO_WEIGHT {
                convert::io_weight_to_blkio_weight(w).to_string()
            } else {
                convert::io_weight_to_bfq_weight(w).to_string()
            }
        }
        v1::BLKIO_READ_BPS | v1::BLKIO_WRITE_BPS | v1::BLKIO_READ_IOPS | v1::BLKIO_WRITE_IOPS => {
            let key = match name {
                v1::BLKIO_READ_BPS => "rbps",
                v1::BLKIO_WRITE_BPS => "wbps",
                v1::BLKIO_READ_IOPS => "riops",
                _ => "wiops",
            };
            let io = format::nested_keyed(v2::IO_MAX, &get(IO, v2::IO_MAX)?)?;
            let lines: Vec<String> = io
                .iter()
                .filter_map(|(dev, keys)| keys.get(key).filter(|v| *v != "max").map(|v| format!("{dev} {v}")))
                .collect();
            lines.join("\n")
        }
        v1::FREEZER_STATE => {
            let want = get(Home::Core, v2::CGROUP_FREEZE)?.trim() == "1";
            let ev = format::flat_keyed(v2::CGROUP_EVENTS, &get(Home::Core, v2::CGROUP_EVENTS)?)?;
            let frozen = ev.get("frozen").is_some_and(|v| *v != 0);
            match (want, frozen) {
                (true, true) => "FROZEN",
                (true, false) => "FREEZING",
                _ => "THAWED",
            }
            .to_string()
        }
        // v2 names computed from v1 files
        v2::MEMORY_MAX => v1_limit(v1::MEMORY_LIMIT, get(MEM, v1::MEMORY_LIMIT)?)?.to_string(),
        v2::MEMORY_LOW => match v1_limit(v1::MEMORY_SOFT_LIMIT, get(MEM, v1::MEMORY_SOFT_LIMIT)?)? {
            Limit::Max => "max".into(),
            Limit::Value(v) => v.to_string(),
        },
        v2::MEMORY_SWAP_MAX => {
            let max = v1_limit(v1::MEMORY_LIMIT, get(MEM, v1::MEMORY_LIMIT)?)?;
            let memsw = v1_limit(v1::MEMORY_MEMSW_LIMIT, get(MEM, v1::MEMORY_MEMSW_LIMIT)?)?;
            convert::swap_from_memsw(max, memsw).to_string()
        }
        v2::MEMORY_SWAP_CURRENT => {
            let cur = format::single_u64(v1::MEMORY_USAGE, &get(MEM, v1::MEMORY_USAGE)?)?;
            let total = format::single_u64(v1::MEMORY_MEMSW_USAGE, &get(MEM, v1::MEMORY_MEMSW_USAGE)?)?;
            total.saturating_sub(cur).to_string()
        }
        v2::MEMORY_EVENTS => {
            let failcnt = format::single_u64(v1::MEMORY_FAILCNT, &get(MEM, v1::MEMORY_FAILCNT)?)?;
            let oom = format::flat_keyed(v1::MEMORY_OOM_CONTROL, &get(MEM, v1::MEMORY_OOM_CONTROL)?)?;
            format!("max {failcnt}\noom_kill {}", oom.get("oom_kill").copied().unwrap_or(0))
        }
        v2::CPU_MAX => {
            let q = format::v1_signed_limit(v1::CPU_CFS_QUOTA, &get(CPU, v1::CPU_CFS_QUOTA)?)?;
            let p = format::single_u64(v1::CPU_CFS_PERIOD, &get(CPU, v1::CPU_CFS_PERIOD)?)?;
            format!("{q} {p}")
        }
        v2::CPU_WEIGHT => {
            let s = format::single_u64(v1::CPU_SHARES, &get(CPU, v1::CPU_SHARES)?)?;
            convert::shares_to_weight(s).to_string()
        }
        v2::IO_WEIGHT => {
            let w = format::single_u64(v1::BLKIO_BFQ_WEIGHT, &get(IO, v1::BLKIO_BFQ_WEIGHT)?)?;
            format!("default {}", convert::bfq_weight_to_io_weight(w))
        }
        v2::IO_MAX => {
            let mut devs: std::collections::BTreeMap<DeviceNumber, [Limit<u64>; 4]> = Default::default();
            for (i, file) in [v1::BLKIO_READ_BPS, v1::BLKIO_WRITE_BPS, v1::BLKIO_READ_IOPS, v1::BLKIO_WRITE_IOPS]
                .into_iter()
                .enumerate()
            {
                for (dev, v) in format::device_values(file, &get(IO, file)?)? {
                    devs.entry(dev).or_insert([Limit::Max; 4])[i] = Limit::Value(v);
                }
            }
            let lines: Vec<String> =
                devs.iter().map(|(d, [r, w, ri, wi])| format!("{d} rbps={r} wbps={w} riops={ri} wiops={wi}")).collect();
            lines.join("\n")
        }
        v1::CPUSET_CPU_EXCLUSIVE => {
            let partition = get(CPUSET, v2::CPUSET_CPUS_PARTITION)?;
            if partition.trim().starts_with("member") { "0" } else { "1" }.to_string()
        }
        v2::CPUSET_CPUS_PARTITION => {
            let exclusive = get(CPUSET, v1::CPUSET_CPU_EXCLUSIVE)?;
            if exclusive.trim() == "1" { "root" } else { "member" }.to_string()
        }
        v2::CGROUP_FREEZE => {
            let st = get(FREEZER, v1::FREEZER_STATE)?;
            if st.trim() == "THAWED" { "0" } else { "1" }.to_string()
        }
        v2::MEMORY_HIGH | v2::MEMORY_MIN | v2::MEMORY_OOM_GROUP => {
            let closest = match name {
                v2::MEMORY_HIGH => {
                    "cgroup v1 has no throttling limit; memory.limit_in_bytes is the closest, a hard limit"
                }
                v2::MEMORY_MIN => "cgroup v1 has no hard protection; memory.soft_limit_in_bytes is the closest",
                _ => "the v1 OOM killer picks single tasks; memory.oom_control is the closest file",
            };
            return Err(unsupported(name, here, closest));
        }
        other => {
            let why = info.and_then(|k| k.no_equivalent).unwrap_or("rein knows no equivalent to read");
            return Err(unsupported(other, here, why));
        }
    };
    Ok(out)
}
