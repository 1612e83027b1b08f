//! Locks that serialize changes to one group across rein processes.
//!
//! A live change (`rein set`, `cgset`, the limits of `rein exec` and `rein run -g`) reads
//! the group's present values (to translate `-r` names and to know what to restore),
//! writes the new ones, and after a refusal writes the old ones back. Two changes of the
//! same group that interleave could undo each other: the second reads a value, the first
//! writes its own, the second fails and "restores" the value it read, so the first one's
//! change is lost although it reported success. A [`GroupLock`] makes such changes take
//! turns.
//!
//! The lock is an exclusive `flock(2)` on each of the group's directories.
//!
//! # The order
//!
//! Every rein process takes these locks in one order, so two of them can never wait for
//! each other (each would hold a lock the other wants):
//!
//! 1. groups in the order of their paths ([`crate::cgroupfs::GroupPath`]'s `Ord`: the
//!    byte order of `a/b`);
//! 2. within a group, the cgroup2 directory first, then the v1 directories in
//!    mount-table order ([`crate::plan::Place`]'s `Ord`).
//!
//! A process that needs several groups locks them all at once with [`crate::group::lock_groups`]
//! (`cgset` of several groups, `rein apply`); one that finds it needs another group
//! while it holds some (`rein apply` learns which groups it touches from a plan) lets
//! go of all of them and takes the whole set again in order. Nobody waits for a lock
//! while holding one that comes later in the order.
//!
//! Who takes them: `rein set`, `cgset`, `cgcreate` of an existing group, `rein exec`
//! with limits and `rein run -g` with limits (the one group), `rein apply` (every
//! existing group its plan writes to). Creating a group takes none (mkdir is atomic),
//! nor does a transient run's own group.
//!
//! # Why the directories
//!
//! Why the directories themselves and not a lock file:
//!
//! - nothing to create: no lock file in cgroupfs (rein never creates files there) and no
//!   state directory outside it that an unprivileged user might not be able to write;
//! - it works for a delegated user, who can open their own group directories;
//! - it ends with the process: a `kill -9` of rein while it holds the lock releases it
//!   (the kernel drops flock locks when the last fd of the open file goes);
//! - it lives and dies with the group, like the ownership mark.
//!
//! The fds are close-on-exec, so a command that `rein exec` becomes does not hold it.
//! flock locks are advisory: they order rein processes among themselves, not a root
//! shell writing the files directly. Anyone who can open a directory can flock it, so a
//! waiting rein gives up after [`LOCK_TIMEOUT`] and names the holder from /proc/locks.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::fs::FlockOperation;
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::procfs::ProcTable;

/// How long a change waits for another process's lock on the same group.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Exclusive locks on a group's directories; released on drop (or when the process ends).
#[derive(Debug)]
pub struct GroupLock {
    _fds: Vec<OwnedFd>,
}

/// Locks each directory (an fd opened for reading) in the order given, waiting up to
/// `timeout` for each. `paths` name them in messages.
pub(crate) fn lock_all(dirs: Vec<(OwnedFd, PathBuf)>, timeout: Duration, procs: &ProcTable) -> Result<GroupLock> {
    let deadline = Instant::now() + timeout;
    let mut held = Vec::with_capacity(dirs.len());
    for (fd, path) in dirs {
        let mut pause = Duration::from_micros(100);
        loop {
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(Errno::WOULDBLOCK) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(Errno::INTR) => {}
                Err(Errno::WOULDBLOCK) => return Err(timed_out(&fd, &path, timeout, procs)),
                Err(e) => {
                    return Err(Error::Io {
                        op: "lock".into(),
                        path,
                        cause: e.into(),
                        hint: Some("rein serializes changes of a group with flock(2) on its directory".into()),
                    });
                }
            }
        }
        held.push(fd);
    }
    Ok(GroupLock { _fds: held })
}

fn timed_out(fd: &OwnedFd, path: &std::path::Path, timeout: Duration, procs: &ProcTable) -> Error {
    let holders = rustix::fs::fstat(fd.as_fd())
        .ok()
        .and_then(|st| {
            let text = procs.locks()?;
            let dev = st.st_dev;
            Some(flock_holders(&text, rustix::fs::major(dev), rustix::fs::minor(dev), st.st_ino))
        })
        .unwrap_or_default();
    let who =
        if holders.is_empty() { "another process".to_string() } else { crate::procfs::describe_pids(&holders, procs) };
    Error::state(
        format!("{} is locked by {who}; gave up after {:.0}s", path.display(), timeout.as_secs_f64()),
        Some(
            "another rein is changing this group (rein holds the lock only while it writes); if that process \
             hangs, end it, and the lock goes with it"
                .into(),
        ),
    )
}

/// The pids holding a flock(2) lock on the inode `major:minor:ino`, from the text of
/// /proc/locks (`1: FLOCK  ADVISORY  WRITE 4242 00:20:802562 0 EOF`; waiters, marked
/// `->`, are not holders).
pub fn flock_holders(text: &str, major: u32, minor: u32, ino: u64) -> Vec<u32> {
    let want = format!("{major:02x}:{minor:02x}:{ino}");
    let mut out: Vec<u32> = text
        .lines()
        .filter(|l| !l.contains("->"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"FLOCK") && f.get(5) == Some(&want.as_str())).then(|| f.get(4)?.parse().ok())?
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_from_proc_locks() {
        let text = "1: FLOCK  ADVISORY  WRITE 19655 00:20:802562 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 19700 00:20:802562 0 EOF\n\
                    2: POSIX  ADVISORY  WRITE 77 00:20:802562 0 EOF\n\
                    3: FLOCK  ADVISORY  WRITE 5 fd:01:802562 0 EOF\n";
        assert_eq!(flock_holders(text, 0, 0x20, 802562), [19655]);
        assert_eq!(flock_holders(text, 0xfd, 1, 802562), [5]);
        assert!(flock_holders(text, 0, 0x20, 1).is_empty());
        assert!(flock_holders("", 0, 0, 0).is_empty());
    }

    fn dir_fd(p: &std::path::Path) -> OwnedFd {
        rustix::fs::open(p, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY, rustix::fs::Mode::empty())
            .unwrap()
    }

    #[test]
    fn a_second_lock_waits_then_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let procs = ProcTable::default();
        let first = lock_all(vec![(dir_fd(dir.path()), dir.path().into())], LOCK_TIMEOUT, &procs).unwrap();
        // flock locks belong to the open file: a second open of the same directory in
        // this process conflicts like another process would.
        let t0 = Instant::now();
        let e = lock_all(vec![(dir_fd(dir.path()), dir.path().into())], Duration::from_millis(150), &procs)
            .unwrap_err()
            .to_string();
        assert!(t0.elapsed() >= Duration::from_millis(150));
        assert!(e.contains("is locked by") && e.contains(&std::process::id().to_string()), "{e}");
        drop(first);
        let again = lock_all(vec![(dir_fd(dir.path()), dir.path().into())], Duration::from_millis(150), &procs);
        assert!(again.is_ok());
    }

    #[test]
    fn a_released_lock_is_taken_by_the_waiter() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let procs = ProcTable::default();
        let first = lock_all(vec![(dir_fd(dir.path()), dir.path().into())], LOCK_TIMEOUT, &procs).unwrap();
        let path = dir.path().to_path_buf();
        let got = Arc::new(AtomicBool::new(false));
        let flag = got.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            tx.send(()).unwrap();
            let l = lock_all(vec![(dir_fd(&path), path.clone())], LOCK_TIMEOUT, &ProcTable::default());
            flag.store(true, Ordering::SeqCst);
            l.is_ok()
        });
        // While the first holder keeps it, the waiter cannot have it (a waiter that is
        // slow to start only makes this weaker, never wrong: no clock is judged).
        rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(!got.load(Ordering::SeqCst), "the waiter took a lock still held");
        drop(first);
        assert!(waiter.join().unwrap(), "the waiter did not get the released lock");
    }
}
