//! Waiting for a group's TCP sockets to drain, so that its network counters are read
//! after the traffic they count ([`Group::wait_sockets_drained`]).
//!
//! A command that writes into a TCP socket and exits leaves the rest of its send queue
//! to the kernel: the socket lives on as an orphan and drains afterwards, through the
//! group's network programs and under its limit (a socket stays in the cgroup its
//! creator was in, even once the cgroup is removed). Counters read at the command's exit
//! miss all of it: 3 MB sent at 8 Mbit/s by a command that exits right after its write
//! are counted as 125 KB. So a caller that reports a group's traffic at its end (`rein
//! run --report`) first waits here, bounded, until the group's sockets have nothing left
//! to send, and reports what was still queued if it stopped waiting.
//!
//! The bound is on progress, not on time alone: the wait goes on while the queued bytes
//! keep going down (a slow limit drains fully) and stops once they have not gone down for
//! [`DrainLimits::quiet`] (a peer that stopped reading does not hang the caller), or
//! after [`DrainLimits::cap`] in all, or at once when the caller's interrupt fd is readable.
//!
//! What it sees is [`crate::sockdiag`]'s: TCP sockets of the caller's network namespace.
//! Sockets the group made in a namespace of its own are invisible and not waited for.

use std::os::fd::BorrowedFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::group::Group;
use crate::sockdiag::{self, Queue};

/// How long [`Group::wait_sockets_drained`] waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainLimits {
    /// Give up once the queued bytes have not gone down for this long.
    pub quiet: Duration,
    /// Give up after this long in all, progress or not.
    pub cap: Duration,
}

impl Default for DrainLimits {
    /// 2 s without progress; 60 s in all. A TCP send buffer grows to 4 MiB by default
    /// (`net.ipv4.tcp_wmem`'s maximum): 60 s drain one full buffer at about 560 kbit/s,
    /// more at faster limits; slower than that, a caller should not hold its own exit
    /// for minutes, and the report says what was left.
    fn default() -> DrainLimits {
        DrainLimits { quiet: Duration::from_secs(2), cap: Duration::from_secs(60) }
    }
}

impl DrainLimits {
    /// Limits of `quiet` without progress and `cap` in all.
    pub fn new(quiet: Duration, cap: Duration) -> DrainLimits {
        DrainLimits { quiet, cap }
    }
}

/// Why the wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DrainEnd {
    /// Nothing of the group's sockets is left to send (or there were none).
    Drained,
    /// The queued bytes did not go down for [`DrainLimits::quiet`].
    Stalled,
    /// [`DrainLimits::cap`] passed.
    Capped,
    /// The interrupt fd became readable.
    Interrupted,
    /// The sockets could not be listed (no cgroup2 directory, no inet_diag in the
    /// kernel): nothing was waited for; [`Drain::error`] says why.
    Unseen,
}

/// What [`Group::wait_sockets_drained`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Drain {
    /// Why the wait ended.
    pub end: DrainEnd,
    /// What the group's sockets still had to send when it ended (none when drained).
    pub left: Queue,
    /// How long it waited, µs.
    pub waited_usec: u64,
    /// Why the sockets could not be listed ([`DrainEnd::Unseen`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The first pause between two looks; doubled up to [`MAX_PAUSE`]. A look is one
/// socket dump per address family, which costs more on a host with many sockets.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
const MAX_PAUSE: Duration = Duration::from_millis(50);

impl Group {
    /// The cgroup v2 ids of the group's cgroup2 directory and of every directory beneath
    /// it (each directory's inode number, which is the kernel's `cgroup_id()` on 64-bit
    /// kernels): what a socket's `INET_DIAG_CGROUP_ID` is compared with. Empty when the
    /// group has no cgroup2 directory.
    pub fn cgroup_ids(&self) -> Result<Vec<u64>> {
        let Some(u) = self.hierarchy().unified().filter(|_| self.has_v2_dir()) else { return Ok(Vec::new()) };
        let dir = u.mount.dir_path(self.path());
        let mut ids = Vec::new();
        collect_ids(&dir, &mut ids).map_err(|cause| Error::Io {
            op: "read the cgroup ids (directory inodes) of".into(),
            path: dir.clone(),
            cause,
            hint: None,
        })?;
        Ok(ids)
    }

    /// Waits until the group's TCP sockets have nothing left to send, within `limits`,
    /// and returns what was left when the wait ended (see the [module guide](self)).
    /// `interrupt`, when readable, ends the wait at once (the caller reads it).
    ///
    /// Call it once the group's processes are gone (their sockets orphaned, or closed by
    /// the kill): live processes may write more at any time, and a socket that always
    /// has data queued holds the wait until `limits.cap`.
    pub fn wait_sockets_drained(&self, limits: &DrainLimits, interrupt: Option<BorrowedFd<'_>>) -> Result<Drain> {
        let start = Instant::now();
        let ids = self.cgroup_ids()?;
        let unseen = |why: String| Drain {
            end: DrainEnd::Unseen,
            left: Queue::default(),
            waited_usec: start.elapsed().as_micros() as u64,
            error: Some(why),
        };
        if ids.is_empty() {
            return Ok(unseen(format!("{} has no cgroup2 directory, where sockets are counted", self.path())));
        }
        let mut least = u64::MAX;
        let mut progress = start;
        let mut pause = FIRST_PAUSE;
        loop {
            let q = match sockdiag::queued(&ids) {
                Ok(q) => q,
                Err(e) => {
                    // ENOENT: no handler for TCP in sock_diag (inet_diag and tcp_diag are
                    // modules on many kernels, loaded on demand where modprobe can).
                    let hint = if e.raw_os_error() == Some(libc::ENOENT) { " (modprobe tcp_diag)" } else { "" };
                    return Ok(unseen(format!("cannot list the TCP sockets (NETLINK_SOCK_DIAG): {e}{hint}")));
                }
            };
            let now = Instant::now();
            let done =
                |end| Drain { end, left: q, waited_usec: now.duration_since(start).as_micros() as u64, error: None };
            if q.bytes == 0 {
                return Ok(done(DrainEnd::Drained));
            }
            if q.bytes < least {
                least = q.bytes;
                progress = now;
            }
            if now.duration_since(progress) >= limits.quiet {
                return Ok(done(DrainEnd::Stalled));
            }
            if now.duration_since(start) >= limits.cap {
                return Ok(done(DrainEnd::Capped));
            }
            if wait_readable(interrupt, pause) {
                return Ok(done(DrainEnd::Interrupted));
            }
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

/// `dir`'s inode and those of the directories beneath it (child cgroups).
fn collect_ids(dir: &Path, ids: &mut Vec<u64>) -> std::io::Result<()> {
    ids.push(std::fs::metadata(dir)?.ino());
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            match collect_ids(&entry.path(), ids) {
                // Removed meanwhile: its sockets, if any, are in the dump under its id all
                // the same, and are not waited for.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
    }
    Ok(())
}

/// Sleeps `pause`, or less if `fd` becomes readable; true if it did.
fn wait_readable(fd: Option<BorrowedFd<'_>>, pause: Duration) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let Some(fd) = fd else {
        std::thread::sleep(pause);
        return false;
    };
    let timeout = Timespec { tv_sec: pause.as_secs() as _, tv_nsec: pause.subsec_nanos() as _ };
    let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
    matches!(poll(&mut fds, Some(&timeout)), Ok(n) if n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupt_cuts_the_pause_short() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        let t = Instant::now();
        assert!(!wait_readable(Some(std::os::fd::AsFd::as_fd(&r)), Duration::from_millis(5)));
        assert!(t.elapsed() >= Duration::from_millis(5));
        rustix::io::write(&w, b"x").unwrap();
        assert!(wait_readable(Some(std::os::fd::AsFd::as_fd(&r)), Duration::from_secs(600)));
        assert!(!wait_readable(None, Duration::from_millis(1)));
    }

    #[test]
    fn ids_are_the_directory_inodes_of_the_subtree() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("cgroup.procs"), "").unwrap();
        let mut ids = Vec::new();
        collect_ids(d.path(), &mut ids).unwrap();
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(ids, vec![ino(d.path()), ino(&d.path().join("a")), ino(&d.path().join("a/b"))]);
    }
}
