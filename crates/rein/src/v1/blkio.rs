//! v1 blkio (the v1 name of io): the BFQ weight and per-device throttling; per-device
//! traffic of throttled devices.

use crate::cgroupfs::{FileSource, format};
use crate::convert;
use crate::error::Result;
use crate::plan::Write;
use crate::resources::Resources;
use crate::stats::{Field, IoDeviceStats, Stats};
use crate::units::Limit;

/// blkio with BFQ (kernels since 5.0 have no CFQ): weight 1..=1000.
pub const BLKIO_BFQ_WEIGHT: &str = "blkio.bfq.weight";
/// blkio throttling, read bytes/s per device.
pub const BLKIO_READ_BPS: &str = "blkio.throttle.read_bps_device";
/// Write bytes/s per device.
pub const BLKIO_WRITE_BPS: &str = "blkio.throttle.write_bps_device";
/// Read IO/s per device.
pub const BLKIO_READ_IOPS: &str = "blkio.throttle.read_iops_device";
/// Write IO/s per device.
pub const BLKIO_WRITE_IOPS: &str = "blkio.throttle.write_iops_device";
/// Bytes per device and operation (counted only for throttled devices on recent kernels).
pub const BLKIO_SERVICE_BYTES: &str = "blkio.throttle.io_service_bytes_recursive";
/// Operations per device and operation.
pub const BLKIO_SERVICED: &str = "blkio.throttle.io_serviced_recursive";
/// blkio with CFQ (gone since 5.0): weight 10..=1000, default 500.
pub const BLKIO_WEIGHT: &str = "blkio.weight";
/// blkio with CFQ: per-device weights.
pub const BLKIO_WEIGHT_DEVICE: &str = "blkio.weight_device";
/// The throttle file of each `io.max` key.
const THROTTLE: [(&str, &str); 4] =
    [("rbps", BLKIO_READ_BPS), ("wbps", BLKIO_WRITE_BPS), ("riops", BLKIO_READ_IOPS), ("wiops", BLKIO_WRITE_IOPS)];

/// The limit files `rein show` lists.
pub(super) const LIMIT_FILES: &[&str] =
    &[BLKIO_BFQ_WEIGHT, BLKIO_READ_BPS, BLKIO_WRITE_BPS, BLKIO_READ_IOPS, BLKIO_WRITE_IOPS];
/// Which files feed which field of [`Stats`]: a device is reported from both.
pub(super) const STAT_FILES: &[(Field, &[&str])] = &[(Field::Io, &[BLKIO_SERVICE_BYTES, BLKIO_SERVICED])];

pub(super) fn writes(r: &Resources, w: &mut Vec<Write>) {
    if let Some(weight) = r.io.weight {
        w.push(Write::new(BLKIO_BFQ_WEIGHT, convert::io_weight_to_bfq_weight(weight).to_string()));
    }
    for dev in &r.io.max {
        for (key, value) in dev.entries() {
            let file = THROTTLE.iter().find(|(k, _)| *k == key).map(|(_, f)| *f).expect("io.max keys");
            w.push(Write::new(file, format!("{} {}", dev.device, convert::v1_throttle_value(value))));
        }
    }
}

pub(super) fn read(dir: &(impl FileSource + ?Sized), s: &mut Stats) -> Result<()> {
    if let (Some(bytes), Some(ops)) = (dir.read_opt(BLKIO_SERVICE_BYTES)?, dir.read_opt(BLKIO_SERVICED)?) {
        let bytes = format::v1_blkio_stat(BLKIO_SERVICE_BYTES, &bytes)?;
        let ops = format::v1_blkio_stat(BLKIO_SERVICED, &ops)?;
        s.io = Some(
            bytes
                .iter()
                .map(|(dev, b)| {
                    let o = ops.get(dev);
                    IoDeviceStats {
                        device: *dev,
                        rbytes: b.get("Read").copied(),
                        wbytes: b.get("Write").copied(),
                        rios: o.and_then(|o| o.get("Read").copied()),
                        wios: o.and_then(|o| o.get("Write").copied()),
                    }
                })
                .collect(),
        );
    }
    Ok(())
}

pub(super) fn read_back(get: &dyn Fn(&str) -> Option<String>, r: &mut Resources) -> Result<()> {
    if let Some(t) = get(BLKIO_BFQ_WEIGHT) {
        r.io.weight = Some(convert::bfq_weight_to_io_weight(format::single_u64(BLKIO_BFQ_WEIGHT, &t)?));
    }
    for (key, file) in THROTTLE {
        let Some(t) = get(file) else { continue };
        for (dev, v) in format::device_values(file, &t)? {
            *r.io.device_mut(dev).slot_mut(key).expect("io.max keys") = Some(Limit::Value(v));
        }
    }
    Ok(())
}
