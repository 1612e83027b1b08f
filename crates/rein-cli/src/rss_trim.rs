//! A lean supervisor: `rein run` trims its own resident set (RSS) once the command has
//! run a while.
//!
//! Setting a run up touches much of the binary (argument parsing, the hierarchy, the
//! planner) and of libc: ~5 MiB resident, nearly all of it file-backed text that the
//! kernel maps in 64 KiB windows around each fault. None of it is needed while rein
//! only waits for the command. When the command is still running [`TRIM_AFTER`] after its
//! start, the supervisor drops its page-table entries for executable file mappings
//! (`madvise(MADV_DONTNEED)`: the pages stay in the page cache; what rein runs again
//! faults back in) and returns free heap to the kernel (`malloc_trim`). What is left
//! resident is what waiting and signal forwarding use, ~1 MiB.
//!
//! Only read-only executable mappings are dropped: they were never written, so dropping
//! them loses nothing. Writable or relocated (RELRO) mappings hold private copies and
//! are left alone. Short commands never pay for this: they end before the trim is due.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use crate::supervisor::Observer;
use rein::Group;

/// How long the command runs before the supervisor trims itself.
pub const TRIM_AFTER: Duration = Duration::from_millis(200);

/// An [`Observer`] that trims the supervisor's resident set [`TRIM_AFTER`] after the
/// command started, and passes everything to the `inner` observer (a recorder) if any.
pub struct Lean<'a> {
    inner: Option<&'a mut dyn Observer>,
    trim_at: Option<Instant>,
}

impl<'a> Lean<'a> {
    pub fn new(inner: Option<&'a mut dyn Observer>) -> Lean<'a> {
        Lean { inner, trim_at: None }
    }
}

impl Observer for Lean<'_> {
    fn started(&mut self, group: &Group) {
        self.trim_at = Some(Instant::now() + TRIM_AFTER);
        if let Some(o) = self.inner.as_deref_mut() {
            o.started(group);
        }
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.as_deref().and_then(|o| o.fd())
    }

    fn deadline(&self) -> Option<Instant> {
        let inner = self.inner.as_deref().and_then(|o| o.deadline());
        match (inner, self.trim_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn wake(&mut self, group: &Group) {
        if self.trim_at.is_some_and(|t| Instant::now() >= t) {
            self.trim_at = None;
            trim();
        }
        // The recorder samples only when its own time has come or its watcher has news.
        if let Some(o) = self.inner.as_deref_mut() {
            o.wake(group);
        }
    }

    fn finished(&mut self, group: &Group) {
        if let Some(o) = self.inner.as_deref_mut() {
            o.finished(group);
        }
    }
}

/// Drops this process's page-table entries for read-only executable file mappings and
/// returns free heap to the kernel. Best effort: a failure changes nothing but the
/// resident set.
pub fn trim() {
    // SAFETY: malloc_trim only releases free memory of glibc's allocator.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return };
    for (start, len) in maps.lines().filter_map(droppable) {
        // SAFETY: the range is a private, read-only, executable file mapping of this
        // process (never written, so no private copy is lost); its pages fault back in
        // from the page cache when executed.
        unsafe {
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED);
        }
    }
}

/// `(start, length)` of a /proc/PID/maps line that [`trim`] may drop: `r-xp` and backed
/// by a file (a path, not `[vdso]` or an anonymous mapping).
fn droppable(line: &str) -> Option<(usize, usize)> {
    let mut f = line.split_ascii_whitespace();
    let range = f.next()?;
    let perms = f.next()?;
    let (_offset, _dev, inode) = (f.next()?, f.next()?, f.next()?);
    let path = f.next()?;
    if perms != "r-xp" || inode == "0" || !path.starts_with('/') {
        return None;
    }
    let (a, b) = range.split_once('-')?;
    let (a, b) = (usize::from_str_radix(a, 16).ok()?, usize::from_str_radix(b, 16).ok()?);
    (b > a).then_some((a, b - a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_only_executable_file_mappings_are_dropped() {
        let maps = "\
55b9d8d42000-55b9d8de9000 r--p 00000000 fe:01 326279 /usr/bin/rein
55b9d8de9000-55b9d91a0000 r-xp 000a7000 fe:01 326279 /usr/bin/rein
55b9d91db000-55b9d91ec000 r--p 00499000 fe:01 326279 /usr/bin/rein
55b9d91ec000-55b9d91ed000 rw-p 004aa000 fe:01 326279 /usr/bin/rein
55ba11b3b000-55ba11b97000 rw-p 00000000 00:00 0 [heap]
7efe9b2ea000-7efe9b43f000 r-xp 00026000 fe:01 1234 /usr/lib/x86_64-linux-gnu/libc.so.6
7efe9b5e0000-7efe9b5e2000 r-xp 00000000 00:00 0 [vdso]
7efe9b5f0000-7efe9b5f1000 r-xp 00000000 00:00 0
7fff00000000-7fff00021000 rw-p 00000000 00:00 0 [stack]";
        let got: Vec<_> = maps.lines().filter_map(droppable).collect();
        assert_eq!(got, [(0x55b9d8de9000, 0x3b7000), (0x7efe9b2ea000, 0x155000)]);
        assert_eq!(droppable("garbage"), None);
        assert_eq!(droppable("zz-10 r-xp 0 fe:01 5 /x"), None);
    }

    /// Trimming this very process keeps it working: the dropped text faults back in.
    #[test]
    fn a_trimmed_process_keeps_running() {
        let before = resident_kib();
        trim();
        let after = resident_kib();
        assert!(after < before, "resident {before} KiB before, {after} KiB after");
        // Code dropped by the trim (droppable is in this binary's text) runs again.
        assert_eq!(droppable("a-b r-xp 0 0 1 /x"), Some((10, 1)));
    }

    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("RssFile:")).unwrap();
        line.split_ascii_whitespace().nth(1).unwrap().parse().unwrap()
    }
}
