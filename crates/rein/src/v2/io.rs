//! v2 io: weight (proportional share) and max (per-device throttling); per-device
//! traffic from `io.stat`.

use crate::cgroupfs::{FileSource, format};
use crate::error::Result;
use crate::plan::Write;
use crate::resources::Resources;
use crate::stats::{Field, IoDeviceStats, Stats};
use crate::units::Weight;

/// io controller: proportional weight (blk-iocost).
pub const IO_WEIGHT: &str = "io.weight";
/// Per-device throttling.
pub const IO_MAX: &str = "io.max";
/// Per-device usage.
pub const IO_STAT: &str = "io.stat";
/// io: latency target.
pub const IO_LATENCY: &str = "io.latency";
/// io: BFQ weight.
pub const IO_BFQ_WEIGHT: &str = "io.bfq.weight";
/// The limit files `rein show` lists.
pub(super) const LIMIT_FILES: &[&str] = &[IO_WEIGHT, IO_MAX];
/// Which file feeds which field of [`Stats`].
pub(super) const STAT_FILES: &[(Field, &[&str])] = &[(Field::Io, &[IO_STAT])];

pub(super) fn writes(r: &Resources, w: &mut Vec<Write>) {
    if let Some(weight) = r.io.weight {
        w.push(Write::new(IO_WEIGHT, format!("default {weight}")));
    }
    for dev in &r.io.max {
        let keys: Vec<String> = dev.entries().map(|(k, v)| format!("{k}={v}")).collect();
        w.push(Write::new(IO_MAX, format!("{} {}", dev.device, keys.join(" "))));
    }
}

pub(super) fn read(dir: &(impl FileSource + ?Sized), s: &mut Stats) -> Result<()> {
    if let Some(t) = dir.read_opt(IO_STAT)? {
        let get = |f: &std::collections::BTreeMap<String, String>, k: &str| f.get(k).and_then(|v| v.parse().ok());
        s.io = Some(
            format::nested_keyed(IO_STAT, &t)?
                .iter()
                .map(|(dev, f)| IoDeviceStats {
                    device: *dev,
                    rbytes: get(f, "rbytes"),
                    wbytes: get(f, "wbytes"),
                    rios: get(f, "rios"),
                    wios: get(f, "wios"),
                })
                .collect(),
        );
    }
    Ok(())
}

pub(super) fn read_back(get: &dyn Fn(&str) -> Option<String>, r: &mut Resources) -> Result<()> {
    if let Some(t) = get(IO_WEIGHT) {
        let line = t.lines().find(|l| l.starts_with("default")).unwrap_or("");
        r.io.weight = line.trim_start_matches("default").trim().parse::<Weight>().ok();
    }
    if let Some(t) = get(IO_MAX) {
        for (dev, keys) in format::nested_keyed(IO_MAX, &t)? {
            let m = r.io.device_mut(dev);
            for (k, v) in keys {
                if let Some(slot) = m.slot_mut(&k) {
                    *slot = Some(format::limit_u64(IO_MAX, &v)?);
                }
            }
        }
    }
    Ok(())
}
