//! Devices named by path or `MAJ:MIN`, checked against the host: whole block disks for IO
//! limits ([`resolve`]), device nodes for access rules ([`node_rule`]).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::error::{Error, Result};
use crate::units::DeviceNumber;

/// Resolves a block device given as a path (`/dev/loop0`) or `MAJ:MIN`, and checks that it
/// is a whole disk: the kernel applies io.max and blkio throttling to disks, not partitions.
pub fn resolve(spec: &str) -> Result<DeviceNumber> {
    resolve_in(spec, Path::new("/sys/dev/block"))
}

/// [`resolve`] with the sysfs block-device directory injected (tests).
pub fn resolve_in(spec: &str, sys_dev_block: &Path) -> Result<DeviceNumber> {
    let dev = if spec.starts_with('/') {
        let meta = std::fs::metadata(spec).map_err(|e| {
            Error::invalid("device", spec, format!("{e}; give a block device path like /dev/sda or MAJ:MIN like 8:0"))
        })?;
        if !meta.file_type().is_block_device() {
            let kind = if meta.file_type().is_char_device() { "a character device" } else { "not a device" };
            return Err(Error::invalid("device", spec, format!("{kind}; IO limits need a block device")));
        }
        let rdev = meta.rdev();
        DeviceNumber { major: libc::major(rdev), minor: libc::minor(rdev) }
    } else {
        DeviceNumber::parse(spec)
            .map_err(|e| Error::invalid("device", spec, format!("{e}; give a path like /dev/sda or MAJ:MIN")))?
    };
    let sys = sys_dev_block.join(dev.to_string());
    if !sys.exists() {
        return Err(Error::invalid("device", spec, format!("no block device {dev} on this host (see lsblk)")));
    }
    if sys.join("partition").exists() {
        let disk = std::fs::read_link(&sys)
            .ok()
            .and_then(|p| p.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()))
            .map(|d| format!(" (/dev/{d})"))
            .unwrap_or_default();
        return Err(Error::invalid(
            "device",
            spec,
            format!("{dev} is a partition; IO limits apply to whole disks: use its disk{disk}"),
        ));
    }
    Ok(dev)
}

/// A device node given by path, with the access to allow: `PATH[:rwm]` (every access when
/// none is given), as `--device` and Docker's `--device` take it. Docker's
/// `HOST:CONTAINER[:PERMS]` form names a path inside a container, which a process rein
/// runs does not have: it is refused with that reason.
pub fn node_rule(spec: &str) -> Result<crate::devices::DeviceRule> {
    use crate::devices::{Access, DeviceRule, DeviceType};
    let mut parts = spec.splitn(3, ':');
    let path = parts.next().unwrap_or("");
    let second = parts.next();
    let third = parts.next();
    let access_text = match (second, third) {
        (None, _) => None,
        (Some(a), None) if !a.starts_with('/') => Some(a),
        _ => {
            return Err(Error::invalid(
                "device",
                spec,
                "a second path names a path inside a container (Docker); rein's processes see this host's \
                 /dev: give PATH[:rwm]",
            ));
        }
    };
    let access = match access_text {
        Some(a) => Access::parse(a).map_err(|e| Error::invalid("device", spec, e))?,
        None => Access::ALL,
    };
    if !path.starts_with('/') {
        return Err(Error::invalid("device", spec, "expected a device path like /dev/loop0, then :r, :rw or :rwm"));
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::invalid("device", spec, format!("{e}; give a device node like /dev/loop0")))?;
    let kind = if meta.file_type().is_char_device() {
        DeviceType::Char
    } else if meta.file_type().is_block_device() {
        DeviceType::Block
    } else {
        return Err(Error::invalid("device", spec, format!("{path} is not a device node")));
    };
    let rdev = meta.rdev();
    Ok(DeviceRule { allow: true, kind, major: Some(libc::major(rdev)), minor: Some(libc::minor(rdev)), access })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_block_devices() {
        assert!(resolve("/dev/null").unwrap_err().to_string().contains("character device"));
        assert!(resolve("/etc/hostname").unwrap_err().to_string().contains("not a device"));
        assert!(resolve("/dev/does-not-exist").is_err());
        assert!(resolve("banana").is_err());
        assert!(resolve("4095:4095").unwrap_err().to_string().contains("no block device"));
    }

    #[test]
    fn refuses_partitions() {
        let sys = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(sys.path().join("8:1")).unwrap();
        std::fs::write(sys.path().join("8:1/partition"), "1\n").unwrap();
        std::fs::create_dir_all(sys.path().join("8:0")).unwrap();
        assert!(resolve_in("8:1", sys.path()).unwrap_err().to_string().contains("partition"));
        assert_eq!(resolve_in("8:0", sys.path()).unwrap(), DeviceNumber { major: 8, minor: 0 });
    }
}
