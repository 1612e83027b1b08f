//! Values of native names checked before any write, with the parsers the translations
//! use, so a typo is refused before the group is touched (the kernel checks again).

use super::names::*;
use crate::cgroupfs::format;
use crate::convert;
use crate::error::Result;
use crate::resources::{CpuMax, DEFAULT_CPU_PERIOD_US};
use crate::units::{self, CpuList, DeviceNumber, Limit, Weight};
use crate::{v1, v2};

/// Which values [`translate_values`](super::translate_values) takes beyond the parsers' and the kernel's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Values {
    /// rein's own commands: a hard memory limit below one page (`memory.max`,
    /// `memory.limit_in_bytes`), which the kernel rounds down to 0 pages and enforces
    /// with an OOM kill of every process in the group at once, is refused.
    #[default]
    Safe,
    /// libcgroup's tools (cgset, cgxset): what the kernel takes is written, a memory
    /// limit of 0 too (libcgroup's own tests write it), in the running version's file.
    AsKernel,
}

/// Checks a value written as given (a name of the running mode) before any write, with
/// the parsers the translations use, so a typo is refused before the group is touched
/// (the kernel checks it again). Names rein does not know go to the kernel unchecked.
/// With [`Values::AsKernel`] a memory limit below one page passes (libcgroup's tools
/// write it).
pub(super) fn check_native(name: &str, value: &str, values: Values) -> Result<(), String> {
    let in_range = |n: u64, lo: u64, hi: u64, what: &str| {
        if (lo..=hi).contains(&n) { Ok(()) } else { Err(format!("{what} must be between {lo} and {hi}")) }
    };
    match name {
        // A hard limit below one page is 0 pages to the kernel: an OOM kill at once.
        v1::MEMORY_LIMIT | v2::MEMORY_MAX => {
            match if name == v2::MEMORY_MAX { v2_bytes(value)? } else { v1_bytes(value)? } {
                Limit::Value(b) if b < 4096 && values == Values::Safe => {
                    Err("below one page (4096 bytes) the kernel rounds it to 0 and would OOM-kill at once".into())
                }
                _ => Ok(()),
            }
        }
        v1::MEMORY_MEMSW_LIMIT | v1::MEMORY_SOFT_LIMIT => v1_bytes(value).map(drop),
        v2::MEMORY_SWAP_MAX | v2::MEMORY_HIGH => v2_bytes(value).map(drop),
        v2::MEMORY_LOW | v2::MEMORY_MIN => units::parse_size(value).map(drop),
        v1::MEMORY_OOM_CONTROL | v2::MEMORY_OOM_GROUP | v2::CGROUP_FREEZE => v1_flag(value).map(drop),
        v1::CPU_CFS_QUOTA => match v1_quota(value)? {
            Limit::Value(q) if q < 1000 => Err("the quota must be at least 1000 (µs), or -1 for no limit".into()),
            _ => Ok(()),
        },
        v1::CPU_CFS_PERIOD => in_range(units::parse_count(value)?, 1_000, 1_000_000, "the period (µs)"),
        v1::DEVICES_ALLOW | v1::DEVICES_DENY => crate::devices::DeviceRule::parse(value, true).map(drop),
        v1::CPU_SHARES => in_range(units::parse_count(value)?, convert::MIN_SHARES, convert::MAX_SHARES, "shares"),
        v2::CPU_WEIGHT => value.parse::<Weight>().map(drop),
        v2::CPU_MAX => {
            let mut it = value.split_whitespace();
            let quota = units::parse_limit(it.next().unwrap_or(""), units::parse_count)?;
            let period = it.next().map(units::parse_count).transpose()?.unwrap_or(DEFAULT_CPU_PERIOD_US);
            if it.next().is_some() {
                return Err("expected '$MAX [$PERIOD]'".into());
            }
            CpuMax::new(quota, period).map(drop).map_err(|e| e.to_string())
        }
        v1::CPUSET_CPUS | v1::CPUSET_MEMS => CpuList::parse(value).map(drop),
        v1::PIDS_MAX => match units::parse_limit(value, units::parse_count)? {
            Limit::Value(n) => crate::resources::Pids::check_kernel_max(n),
            Limit::Max => Ok(()),
        },
        v1::BLKIO_WEIGHT => in_range(units::parse_count(value)?, 10, 1000, "blkio.weight"),
        v1::BLKIO_BFQ_WEIGHT => in_range(units::parse_count(value)?, 1, 1000, "blkio.bfq.weight"),
        v1::BLKIO_READ_BPS | v1::BLKIO_WRITE_BPS | v1::BLKIO_READ_IOPS | v1::BLKIO_WRITE_IOPS => {
            v1_device_value(value).map(drop)
        }
        v1::FREEZER_STATE => match value.trim() {
            "FROZEN" | "THAWED" => Ok(()),
            _ => Err("expected FROZEN or THAWED".into()),
        },
        v2::IO_MAX => {
            for (_, keys) in format::nested_keyed(v2::IO_MAX, value).map_err(|e| e.to_string())? {
                for (key, v) in keys {
                    if !matches!(key.as_str(), "rbps" | "wbps" | "riops" | "wiops") {
                        return Err(format!("unknown key '{key}'; io.max takes rbps wbps riops wiops"));
                    }
                    units::parse_limit(&v, units::parse_count)?;
                }
            }
            Ok(())
        }
        v2::IO_WEIGHT => {
            let t = value.trim();
            let w = match t.strip_prefix("default") {
                Some(w) => w.trim(),
                None => match t.split_once(char::is_whitespace) {
                    Some((dev, w)) => {
                        DeviceNumber::parse(dev)?;
                        w.trim()
                    }
                    None => t,
                },
            };
            w.parse::<Weight>().map(drop)
        }
        _ => Ok(()),
    }
}

/// The cpu.max in force, read in whichever version the cpu controller speaks.
pub(super) fn current_cpu_max(host: &Host, current: &dyn Fn(&str) -> Option<String>) -> Option<(Limit<u64>, u64)> {
    match host.dialect(CPU) {
        Some(Dialect::V2) => current(v2::CPU_MAX).and_then(|t| format::cpu_max(v2::CPU_MAX, &t).ok()),
        Some(Dialect::V1) => {
            let q = current(v1::CPU_CFS_QUOTA).and_then(|t| format::v1_signed_limit(v1::CPU_CFS_QUOTA, &t).ok())?;
            let p = current(v1::CPU_CFS_PERIOD).and_then(|t| format::single_u64(v1::CPU_CFS_PERIOD, &t).ok())?;
            Some((q, p))
        }
        None => None,
    }
}

/// A v1 memory value: bytes with the kernel's memparse suffixes (K, M, G, ...), or -1.
pub(super) fn v1_bytes(v: &str) -> Result<Limit<u64>, String> {
    match v.trim() {
        "-1" => Ok(Limit::Max),
        t => units::parse_size(t).map(Limit::Value).map_err(|e| format!("{e}, or -1 for no limit")),
    }
}

/// A v2 memory value: bytes (with suffixes) or max.
pub(super) fn v2_bytes(v: &str) -> Result<Limit<u64>, String> {
    units::parse_limit(v, units::parse_size).map_err(|e| format!("{e}, or max"))
}

pub(super) fn v1_flag(v: &str) -> Result<bool, String> {
    match v.trim() {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err("expected 0 or 1".into()),
    }
}

pub(super) fn v1_quota(v: &str) -> Result<Limit<u64>, String> {
    match v.trim() {
        "-1" => Ok(Limit::Max),
        t => units::parse_count(t).map(Limit::Value).map_err(|e| format!("{e}, or -1 for no limit")),
    }
}

pub(super) fn v1_device_value(v: &str) -> Result<(DeviceNumber, u64), String> {
    let mut it = v.split_whitespace();
    let (Some(dev), Some(n), None) = (it.next(), it.next(), it.next()) else {
        return Err("expected 'MAJ:MIN VALUE', e.g. '8:0 1048576'".into());
    };
    Ok((DeviceNumber::parse(dev)?, units::parse_count(n)?))
}
