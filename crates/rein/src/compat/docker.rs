//! `docker run`'s resource flags, with Docker's semantics: docker/cli's parsing
//! (`opts.MemBytes`, `opts.MemSwapBytes`, `ValidateThrottleBpsDevice`) and the daemon's
//! checks (`verifyPlatformContainerResources` in moby's daemon/daemon_unix.go), as runc
//! then writes them.
//!
//! | flag | Docker's meaning | rein model |
//! |---|---|---|
//! | `--memory` | hard limit; sizes `b k m g` in base 1024 | memory.max |
//! | `--memory-swap` | memory **plus** swap; `-1` unlimited swap; `0` unset; needs `--memory`, at least it | memory.swap.max = total - memory |
//! | `--memory-reservation` | soft limit | memory.low (v1 soft_limit_in_bytes) |
//! | `--cpus` | a number of CPUs (`1.5`); `0` no limit | cpu.max = cpus x period |
//! | `--cpu-quota`, `--cpu-period` | µs; quota `-1` unlimited, `0` unset; quota at least 1000, period 1000..1000000 | cpu.max |
//! | `--cpu-shares` | relative weight, 2..262144 | v1 cpu.shares as given; cpu.weight = shares x 100 / 1024 |
//! | `--cpuset-cpus`, `--cpuset-mems` | lists | cpuset.cpus, cpuset.mems |
//! | `--pids-limit` | count; `0` or negative is unlimited | pids.max |
//! | `--blkio-weight` | 10..1000, `0` unset | io.weight = w x 100 / 500 |
//! | `--device-read-bps` ... | `/dev/PATH:RATE`, bps rates with `kb mb gb` (base 1024), iops whole numbers | io.max |
//! | `--oom-kill-disable` | no OOM kill in the group | v1 memory.oom_control; refused on v2 |
//!
//! Where rein differs, on purpose: Docker's daemon gives a container with `--memory`
//! and no `--memory-swap` as much swap as memory (total = 2 x memory); rein leaves swap
//! alone unless told, like its own `--memory`. Docker refuses memory limits under 6 MB;
//! rein leaves the floor to the kernel.

use crate::error::{Error, Result};
use crate::units::{self, Bytes, Limit};

fn invalid(flag: &str, value: &str, reason: impl Into<String>) -> Error {
    Error::invalid(format!("--{flag}"), value, reason)
}

/// A size as docker's `RAMInBytes` reads it: a number with an optional `b k m g t p`
/// suffix (also `kb`, `KiB`), powers of 1024.
pub fn ram_in_bytes(flag: &str, v: &str) -> Result<u64> {
    units::parse_size(v).map_err(|e| invalid(flag, v, format!("{e}; Docker sizes look like 512m or 1g")))
}

/// `--memory-swap`: the memory **plus** swap total. `-1` is unlimited swap, `0` leaves
/// swap unset (Docker's default). Needs `--memory` in the same command and must be at
/// least it. Returns the swap part (`total - memory`), as runc writes memory.swap.max.
pub fn memory_swap(v: &str, memory: Option<Limit<Bytes>>) -> Result<Option<Limit<Bytes>>> {
    let total = match v.trim() {
        "-1" => return Ok(Some(Limit::Max)),
        t => ram_in_bytes("memory-swap", t)?,
    };
    if total == 0 {
        return Ok(None);
    }
    match memory {
        None => Err(invalid(
            "memory-swap",
            v,
            "Docker's --memory-swap is memory plus swap: give --memory too (or use --swap for the swap alone)",
        )),
        Some(Limit::Max) => {
            Err(invalid("memory-swap", v, "--memory is unlimited, so a memory+swap total means nothing"))
        }
        Some(Limit::Value(m)) if total < m.0 => Err(invalid(
            "memory-swap",
            v,
            format!("the memory+swap total must be at least --memory ({m}); -1 for unlimited swap"),
        )),
        Some(Limit::Value(m)) => Ok(Some(Limit::Value(Bytes(total - m.0)))),
    }
}

/// `--pids-limit`: a count; `0` and negative values mean unlimited (moby normalizes
/// them so).
pub fn pids_limit(v: &str) -> Result<Limit<u64>> {
    let n: i64 =
        v.trim().parse().map_err(|_| invalid("pids-limit", v, "expected a whole number (-1 for unlimited)"))?;
    Ok(if n <= 0 { Limit::Max } else { Limit::Value(n as u64) })
}

/// `--cpu-quota` in µs: `-1` unlimited, `0` unset, else at least 1000 (1 ms).
pub fn cpu_quota(v: &str) -> Result<Option<Limit<u64>>> {
    let n: i64 = v.trim().parse().map_err(|_| invalid("cpu-quota", v, "expected microseconds, e.g. 50000"))?;
    match n {
        0 => Ok(None),
        -1 => Ok(Some(Limit::Max)),
        n if n < 0 => Err(invalid("cpu-quota", v, "expected microseconds, or -1 for no limit")),
        n if n < 1000 => Err(invalid("cpu-quota", v, "CPU cfs quota can not be less than 1ms (i.e. 1000)")),
        n => Ok(Some(Limit::Value(n as u64))),
    }
}

/// `--blkio-weight`: 10..1000, `0` unset; as an io.weight (see
/// [`crate::convert::blkio_weight_to_io_weight`]).
pub fn blkio_weight(v: &str) -> Result<Option<crate::units::Weight>> {
    let n = units::parse_count(v).map_err(|e| invalid("blkio-weight", v, e))?;
    match n {
        0 => Ok(None),
        10..=1000 => Ok(Some(crate::convert::blkio_weight_to_io_weight(n))),
        _ => Err(invalid("blkio-weight", v, "Range of blkio weight is from 10 to 1000 (0 leaves it unset)")),
    }
}

/// Which `--device-*` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRate {
    /// `--device-read-bps`.
    ReadBps,
    /// `--device-write-bps`.
    WriteBps,
    /// `--device-read-iops`.
    ReadIops,
    /// `--device-write-iops`.
    WriteIops,
}

impl DeviceRate {
    /// The flag's name.
    pub fn flag(self) -> &'static str {
        match self {
            DeviceRate::ReadBps => "device-read-bps",
            DeviceRate::WriteBps => "device-write-bps",
            DeviceRate::ReadIops => "device-read-iops",
            DeviceRate::WriteIops => "device-write-iops",
        }
    }
}

/// `/dev/PATH:RATE` of the `--device-*` flags. Bytes rates take Docker's size suffixes
/// (base 1024), IOPS rates are whole numbers. A rate of 0 removes the limit (as
/// writing 0 to a v1 throttle file does). Returns the path and the limit.
pub fn device_rate(kind: DeviceRate, v: &str) -> Result<(String, Limit<u64>)> {
    let flag = kind.flag();
    let (path, rate) = v
        .split_once(':')
        .filter(|(p, _)| !p.is_empty())
        .ok_or_else(|| invalid(flag, v, "bad format; expected <device-path>:<rate>, e.g. /dev/sda:1mb"))?;
    if !path.starts_with("/dev/") {
        return Err(invalid(flag, v, "bad format for device path; it must start with /dev/"));
    }
    let n = match kind {
        DeviceRate::ReadBps | DeviceRate::WriteBps => units::parse_size(rate)
            .map_err(|e| invalid(flag, v, format!("{e}; the rate is <number>[<unit>], unit kb, mb or gb")))?,
        DeviceRate::ReadIops | DeviceRate::WriteIops => units::parse_count(rate)
            .map_err(|e| invalid(flag, v, format!("{e}; the rate is a whole number of IO/s")))?,
    };
    Ok((path.to_string(), if n == 0 { Limit::Max } else { Limit::Value(n) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_swap_is_a_total() {
        let m = Some(Limit::Value(Bytes::mib(20)));
        assert_eq!(memory_swap("20m", m).unwrap(), Some(Limit::Value(Bytes(0))));
        assert_eq!(memory_swap("30m", m).unwrap(), Some(Limit::Value(Bytes::mib(10))));
        assert_eq!(
            memory_swap("1g", Some(Limit::Value(Bytes::mib(512)))).unwrap(),
            Some(Limit::Value(Bytes::mib(512)))
        );
        assert_eq!(memory_swap("-1", m).unwrap(), Some(Limit::Max));
        assert_eq!(memory_swap("-1", None).unwrap(), Some(Limit::Max));
        assert_eq!(memory_swap("0", m).unwrap(), None);
        assert!(memory_swap("10m", m).unwrap_err().to_string().contains("at least --memory"));
        assert!(memory_swap("10m", None).unwrap_err().to_string().contains("give --memory too"));
        assert!(memory_swap("lots", m).is_err());
    }

    #[test]
    fn pids_quota_weight() {
        assert_eq!(pids_limit("64").unwrap(), Limit::Value(64));
        assert_eq!(pids_limit("0").unwrap(), Limit::Max);
        assert_eq!(pids_limit("-1").unwrap(), Limit::Max);
        assert!(pids_limit("many").is_err());
        assert_eq!(cpu_quota("50000").unwrap(), Some(Limit::Value(50_000)));
        assert_eq!(cpu_quota("-1").unwrap(), Some(Limit::Max));
        assert_eq!(cpu_quota("0").unwrap(), None);
        assert!(cpu_quota("999").unwrap_err().to_string().contains("less than 1ms"));
        assert!(cpu_quota("-2").is_err());
        assert_eq!(blkio_weight("500").unwrap().map(|w| w.get()), Some(100));
        assert_eq!(blkio_weight("10").unwrap().map(|w| w.get()), Some(2));
        assert_eq!(blkio_weight("0").unwrap(), None);
        assert!(blkio_weight("5").unwrap_err().to_string().contains("10 to 1000"));
        assert!(blkio_weight("1001").is_err());
    }

    #[test]
    fn device_rates() {
        assert_eq!(
            device_rate(DeviceRate::WriteBps, "/dev/sda:1mb").unwrap(),
            ("/dev/sda".into(), Limit::Value(1 << 20))
        );
        assert_eq!(device_rate(DeviceRate::ReadBps, "/dev/loop0:512k").unwrap().1, Limit::Value(512 << 10));
        assert_eq!(device_rate(DeviceRate::ReadIops, "/dev/sda:1000").unwrap().1, Limit::Value(1000));
        assert_eq!(device_rate(DeviceRate::ReadIops, "/dev/sda:0").unwrap().1, Limit::Max);
        for bad in ["/dev/sda", "sda:1mb", ":1mb", "/dev/sda:fast", "/dev/sda:-1"] {
            assert!(device_rate(DeviceRate::WriteBps, bad).is_err(), "{bad}");
        }
        assert!(device_rate(DeviceRate::ReadIops, "/dev/sda:1k").is_err());
    }
}
