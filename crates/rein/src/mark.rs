//! The `user.rein` mark: which cgroup directories are rein's, and the creation records
//! that make a `mkdir` and its mark one step for `rein gc`.
//!
//! # The mark
//!
//! rein writes an extended attribute on every cgroup directory it creates, as part of
//! the same [`crate::plan::Plan`] as the `mkdir` (so `--dry-run` shows it and rollback
//! covers it). cgroupfs keeps `user.*` attributes on cgroup directories since Linux 5.7
//! (v1 and v2 alike). The attribute lives and dies with the directory: there is no
//! registry file to drift out of date, and a group someone else made can never carry it
//! by accident.
//!
//! | value | written by | meaning |
//! |---|---|---|
//! | `named` | `rein create` (and the `cgcreate` compat name) | a group the user named and owns; rein never removes it on its own |
//! | `parent` | any rein command that had to create a missing ancestor | a directory rein made to hold other groups; never collected |
//! | `transient pid=P start=T` | `rein run` | a group that lives as long as the rein process P, started at T (clock ticks after boot, field 22 of /proc/P/stat) |
//!
//! # Creation records: mkdir and mark as one step
//!
//! A directory exists from its `mkdir` on, and gets its mark one system call later: a
//! rein killed in between (`kill -9`, the OOM killer) would leave an unmarked directory
//! that looks like anybody's, and `rein gc` could never tell it was rein's. cgroup2 has
//! no rename (so no "make it under a temporary name, mark it, rename it"), and a
//! directory cannot be made with an attribute. So rein records its intent on the parent
//! first: before the `mkdir` it sets `user.rein.creating.<pid>.<tid>` =
//! `pid=P start=T name=NAME` on the parent directory, and removes it once the new
//! directory carries its mark. A directory without a mark whose parent holds a record
//! naming it, by a process that is gone, is a group rein was making when it died: gc
//! treats it like a stale transient group. A record whose process is gone and whose
//! directory is marked or absent is removed by gc.
//!
//! The kernel keeps at most 128 `user.*` attributes per cgroup directory, 128 KiB in
//! all (kernfs, `KERNFS_MAX_USER_XATTRS`): a record lives only for the two system calls
//! around one `mkdir`, and a creator that finds them all taken (ENOSPC: over a hundred
//! creations in one parent at the same instant) waits for a free one, for up to
//! [`RECORD_WAIT`], before it goes on without a record.

use std::fmt;

use serde::Serialize;

use crate::cgroupfs::{GroupPath, Mount, ParentDir};
use crate::error::{Error, Result};
use crate::procfs::ProcTable;

/// The parent of transient groups unless told otherwise.
pub const DEFAULT_PARENT: &str = "rein";

/// The extended attribute that marks rein's directories.
pub const XATTR: &str = "user.rein";

/// The prefix of the creation records rein sets on a parent directory while it makes a
/// child there (see "Creation records" above).
pub(crate) const CREATING: &str = "user.rein.creating.";

/// How long a creator waits for the kernel to have room for its creation record.
pub const RECORD_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A creation record: the process `pid`, started at `start`, is making the child `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creating {
    /// The creating process.
    pub pid: u32,
    /// Its start time (clock ticks after boot, `/proc/PID/stat` field 22).
    pub start: u64,
    /// The child directory being made.
    pub name: String,
}

impl Creating {
    /// The record's value: `pid=P start=T name=NAME`.
    pub fn value(&self) -> String {
        format!("pid={} start={} name={}", self.pid, self.start, self.name)
    }

    /// Parses a record's value; None for anything rein did not write.
    pub fn parse(value: &str) -> Option<Creating> {
        let rest = value.strip_prefix("pid=")?;
        let (pid, rest) = rest.split_once(' ')?;
        let (start, name) = rest.strip_prefix("start=")?.split_once(" name=")?;
        let name = name.to_string();
        crate::cgroupfs::GroupPath::parse(&name).ok().filter(|p| p.parent().is_some_and(|p| p.is_root()))?;
        Some(Creating { pid: pid.parse().ok()?, start: start.parse().ok()?, name })
    }
}

/// A creation record set on a parent directory, removed on drop (see [`record_creation`]).
pub(crate) struct CreationRecord<'p, 'm> {
    parent: &'p ParentDir<'m>,
    key: Option<String>,
}

impl Drop for CreationRecord<'_, '_> {
    fn drop(&mut self) {
        if let Some(key) = &self.key {
            let _ = self.parent.remove_xattr(key);
        }
    }
}

/// Records on `parent` that this process (started at `start`) is making `group` there,
/// before the mkdir: see "Creation records" above. Best effort: where the parent takes
/// no record (no permission, a filesystem without user xattrs, or no room after
/// [`RECORD_WAIT`]), the creation goes on without one.
pub(crate) fn record_creation<'p, 'm>(
    parent: &'p ParentDir<'m>,
    group: &GroupPath,
    start: u64,
) -> CreationRecord<'p, 'm> {
    let pid = std::process::id();
    let key = format!("{CREATING}{pid}.{}", rustix::thread::gettid().as_raw_nonzero());
    let value = Creating { pid, start, name: group.name().to_string() }.value();
    let deadline = std::time::Instant::now() + RECORD_WAIT;
    let mut pause = std::time::Duration::from_micros(100);
    loop {
        match parent.set_xattr(&key, &value) {
            Ok(()) => return CreationRecord { parent, key: Some(key) },
            // Every one of the parent's 128 user attributes is taken, by other creators
            // of the same instant: theirs go within microseconds.
            Err(e) if e.errno() == Some(libc::ENOSPC) && std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(20));
            }
            Err(_) => return CreationRecord { parent, key: None },
        }
    }
}

/// Creation records, each with its attribute name.
pub type Records = Vec<(String, Creating)>;

/// The creation records on a directory: (attribute name, record).
pub fn creation_records(mount: &Mount, dir: &GroupPath) -> Result<Records> {
    let mut out = Vec::new();
    for name in mount.xattr_names(dir)? {
        if !name.starts_with(CREATING) {
            continue;
        }
        if let Some(c) = mount.get_xattr(dir, &name)?.as_deref().and_then(Creating::parse) {
            out.push((name, c));
        }
    }
    Ok(out)
}

/// What a rein mark says about a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Mark {
    /// Created by `rein create`: the user's group.
    Named,
    /// An ancestor rein created on the way to another group.
    Parent,
    /// Created by `rein apply` for the rein.toml file whose owner name hashes to `id`
    /// ([`config_id`]): `apply --prune` and `rein down` remove only these.
    Config {
        /// The hash of the file's owner name.
        id: u64,
    },
    /// Created by `rein run` for the life of one rein process.
    Transient {
        /// The rein process.
        pid: u32,
        /// When it started, in clock ticks after boot (`/proc/PID/stat` field 22).
        start: u64,
    },
}

impl Mark {
    /// The mark as stored in the extended attribute.
    pub fn value(&self) -> String {
        match self {
            Mark::Named => "named".into(),
            Mark::Parent => "parent".into(),
            Mark::Config { id } => format!("config id={id:016x}"),
            Mark::Transient { pid, start } => format!("transient pid={pid} start={start}"),
        }
    }

    /// Parses a stored mark.
    pub fn parse(text: &str) -> Result<Mark> {
        let bad = |why: &str| Error::parse(XATTR, format!("'{}': {why}", crate::error::escape(text)));
        let mut words = text.split_whitespace();
        match words.next() {
            Some("named") if words.next().is_none() => Ok(Mark::Named),
            Some("parent") if words.next().is_none() => Ok(Mark::Parent),
            Some("config") => match (words.next().and_then(|w| w.strip_prefix("id=")), words.next()) {
                (Some(id), None) if id.len() == 16 => {
                    u64::from_str_radix(id, 16).map(|id| Mark::Config { id }).map_err(|_| bad("id is not hexadecimal"))
                }
                _ => Err(bad("config marks are 'config id=' and 16 hex digits")),
            },
            Some("transient") => {
                let (mut pid, mut start) = (None, None);
                for w in words {
                    match w.split_once('=') {
                        Some(("pid", v)) => pid = Some(v.parse().map_err(|_| bad("pid is not a number"))?),
                        Some(("start", v)) => start = Some(v.parse().map_err(|_| bad("start is not a number"))?),
                        _ => return Err(bad("unknown field")),
                    }
                }
                match (pid, start) {
                    (Some(pid), Some(start)) => Ok(Mark::Transient { pid, start }),
                    _ => Err(bad("transient marks need pid= and start=")),
                }
            }
            _ => Err(bad("expected named, parent or transient")),
        }
    }

    /// The mark for a transient group of the calling process.
    pub fn transient_for_self(procs: &ProcTable) -> Result<Mark> {
        let pid = std::process::id();
        let start = procs.start_time(pid).ok_or_else(|| {
            Error::state(
                format!("cannot read the start time of rein itself from {}", procs.root().join("self/stat").display()),
                Some("rein needs /proc mounted to mark its transient groups".into()),
            )
        })?;
        Ok(Mark::Transient { pid, start })
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mark::Named => f.write_str("named"),
            Mark::Parent => f.write_str("parent"),
            Mark::Config { id } => write!(f, "config {id:016x}"),
            Mark::Transient { pid, .. } => write!(f, "transient (rein pid {pid})"),
        }
    }
}

/// The id of a rein.toml file's groups: FNV-1a (64 bit) of its owner name (its `name`
/// key, else its absolute path). Stable across rein versions and hosts.
pub fn config_id(owner: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in owner.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_refuse_junk() {
        for m in [Mark::Named, Mark::Parent, Mark::Config { id: 0xabc }, Mark::Transient { pid: 42, start: 123_456 }] {
            assert_eq!(Mark::parse(&m.value()).unwrap(), m);
        }
        assert_eq!(Mark::Transient { pid: 7, start: 9 }.value(), "transient pid=7 start=9");
        for bad in [
            "",
            "named x",
            "transient",
            "transient pid=1",
            "transient pid=x start=1",
            "owned",
            "transient pid=1 start=2 x=3",
            "config",
            "config id=12",
            "config id=zzzzzzzzzzzzzzzz",
        ] {
            assert!(Mark::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn creation_records_round_trip_and_refuse_junk() {
        let c = Creating { pid: 42, start: 7, name: "run-42".into() };
        assert_eq!(c.value(), "pid=42 start=7 name=run-42");
        assert_eq!(Creating::parse(&c.value()), Some(c));
        for bad in ["", "pid=1", "pid=x start=1 name=a", "pid=1 start=1 name=a/b", "pid=1 start=1 name=..", "start=1"] {
            assert_eq!(Creating::parse(bad), None, "{bad:?}");
        }
    }
}
