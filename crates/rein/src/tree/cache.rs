//! The tree's cache of open interface files: a group's files are opened once and read
//! again with `pread` at offset 0, where the kernel's seq_file produces the text afresh.
//!
//! # Cost
//!
//! Opening a cgroup interface file costs far more than reading it (measured on kernel 6.18
//! in a VM: open + read + close 12-25 µs, a `pread` of an open file 1.2 µs), so a tree keeps
//! the files it reads open. Each open file costs a descriptor and about a page of kernel
//! memory (the seq_file buffer; 4.3-5.4 KiB per file measured in all);
//! [`TreeOptions::max_open_files`](super::TreeOptions::max_open_files) bounds them
//! ([`DEFAULT_MAX_OPEN_FILES`] by default), and files beyond it are opened for each read,
//! by name beside the group's directory. [`TreeOptions::fields`](super::TreeOptions::fields)
//! limits the files read to those that feed the figures a caller shows ([`FileSet`]).
//!
//! The group directories are kept open too, one descriptor each while RLIMIT_NOFILE leaves
//! room beside the files ([`DirFiles::set_dir`]): a directory holds no seq_file buffer
//! (1.1 KiB of kernel memory each measured, 4.3 for a file), and a file not kept is opened by name
//! beside it (`openat`, one path component) instead of after a walk from the hierarchy's
//! root (`openat2` with `RESOLVE_BENEATH`, several components), which cost as much as the
//! open of the file itself. The network counters and the policy-action record are read
//! from the same descriptor.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::OFlags;

use crate::backend::{Version, stat_files};
use crate::cgroupfs::{FileSource, GroupDir, GroupPath, Mount, open_beside, read_record};
use crate::error::{Error, Result};
use crate::stats::Fields;

/// How long a file found absent is taken as absent before it is looked for again (a
/// controller enabled later makes its files appear).
const REPROBE_ABSENT: Duration = Duration::from_secs(10);

/// Descriptors left for everything else when the budget comes from RLIMIT_NOFILE.
const RESERVED_FDS: u64 = 256;

/// How many interface files a tree keeps open by default: each costs a descriptor and
/// 4.3-5.4 KiB of kernel memory (the seq_file buffer and the open file, charged to the
/// reader's memory cgroup), so 4096 files hold 18-22 MiB. That keeps every file
/// `rein top` reads on a screen of groups, and the files of the first ~200 groups the
/// exporter exports (a `rein run --memory --cpu` group has ~17 on a hybrid host); the
/// files beyond are opened, read and closed at each sample. docs/TOP-AND-METRICS.md has
/// the figures with and without.
pub const DEFAULT_MAX_OPEN_FILES: usize = 4096;

/// The soft RLIMIT_NOFILE less a reserve: how many files a tree can keep open at most.
pub fn open_file_budget() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX);
    usize::try_from(soft.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX)
}

/// The interface files that feed some [`Fields`], per version. Files not in it read as
/// absent, so the fields they feed stay `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct FileSet {
    /// Files read in the cgroup2 hierarchy.
    v2: Vec<&'static str>,
    /// Files read in v1 hierarchies.
    v1: Vec<&'static str>,
}

impl FileSet {
    /// The files that feed `fields`.
    pub(super) fn of(fields: Fields) -> FileSet {
        FileSet { v2: stat_files(Version::V2, fields), v1: stat_files(Version::V1, fields) }
    }

    fn wants(&self, v2: bool, file: &str) -> bool {
        if v2 { self.v2.contains(&file) } else { self.v1.contains(&file) }
    }
}

/// A file of a group's directory, as the cache holds it.
enum Slot {
    /// Kept open, read again with `pread`.
    Open(OwnedFd),
    /// Not there when last looked for (the controller is off, or the kernel lacks it).
    Absent(Instant),
}

/// What a tree keeps of one directory of a group: the directory itself (opened for
/// reading) when the descriptors allow, its files, and whether a read found the directory
/// gone.
#[derive(Default)]
pub(super) struct DirFiles {
    kept: Mutex<Kept>,
    gone: AtomicBool,
}

#[derive(Default)]
struct Kept {
    dir: Option<OwnedFd>,
    slots: HashMap<String, Slot>,
}

impl DirFiles {
    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // One thread reads a group's files; the lock is never contended.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True once a read found the directory removed.
    pub(super) fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }

    /// How many files are kept open.
    pub(super) fn open_count(&self) -> usize {
        self.lock().slots.values().filter(|s| matches!(s, Slot::Open(_))).count()
    }

    /// Keeps `dir` (the group's directory, opened for reading beneath the mount) open, or
    /// none.
    pub(super) fn set_dir(&self, dir: Option<OwnedFd>) {
        self.lock().dir = dir;
    }

    /// True while the group's directory is kept open.
    pub(super) fn has_dir(&self) -> bool {
        self.lock().dir.is_some()
    }

    /// Calls `f` with the kept directory, if any.
    pub(super) fn with_dir<R>(&self, f: impl FnOnce(Option<BorrowedFd<'_>>) -> R) -> R {
        let kept = self.lock();
        f(kept.dir.as_ref().map(|d| d.as_fd()))
    }
}

/// What every read of one sample shares: the count of files kept open (all the tree's),
/// the most it may keep, and the sample's time.
#[derive(Clone, Copy)]
pub(super) struct Budget<'a> {
    pub(super) open: &'a AtomicUsize,
    pub(super) max: usize,
    pub(super) now: Instant,
}

/// A group's directory in one hierarchy as a [`FileSource`] for the v1 and v2 readers,
/// reading through the tree's cache of open files: a kept file is read again with
/// `pread` at offset 0; others are opened by name beside the group's directory (a
/// [`GroupDir`], opened once per sample when a file is not kept, as [`crate::Group::stats`]
/// does), read, and kept while the budget allows.
///
/// A tree is a monitor: a file that cannot be opened or read reads as absent (the
/// fields it feeds are `None`) and is looked for again after [`REPROBE_ABSENT`]; a
/// directory that no longer exists marks the group gone. Only text that does not parse
/// is an error ([`Snapshot::errors`](super::Snapshot::errors)).
pub(super) struct Cached<'a> {
    budget: Budget<'a>,
    wanted: Option<&'a FileSet>,
    files: &'a DirFiles,
    mount: &'a Mount,
    group: &'a GroupPath,
    v2: bool,
    /// The group's directory, opened the first time a file is not kept open.
    group_dir: OnceCell<Option<GroupDir>>,
}

impl<'a> Cached<'a> {
    /// The directory of `group` beneath `mount`, whose files `files` keeps, reading the
    /// files of `wanted` (all when None) in the cgroup2 hierarchy (`v2`) or a v1 one.
    pub(super) fn new(
        budget: Budget<'a>,
        wanted: Option<&'a FileSet>,
        files: &'a DirFiles,
        mount: &'a Mount,
        group: &'a GroupPath,
        v2: bool,
    ) -> Cached<'a> {
        Cached { budget, wanted, files, mount, group, v2, group_dir: OnceCell::new() }
    }

    /// Opens `file` by name beside the kept directory, or beside the group's directory
    /// opened once for this sample.
    fn open(&self, kept: &mut Kept, file: &str) -> Option<OwnedFd> {
        if let Some(dir) = &kept.dir {
            if let Ok(fd) = open_beside(dir.as_fd(), file) {
                return Some(fd);
            }
            // The kept directory may be a removed group's, whose name a new group took
            // (between two walks, without inotify): look the group up again, once.
            kept.dir = self.mount.open_dir(self.group).ok();
            let dir = kept.dir.as_ref()?;
            return open_beside(dir.as_fd(), file).ok();
        }
        let dir = self.group_dir.get_or_init(|| self.mount.group_dir(self.group).ok()).as_ref()?;
        dir.open(file, OFlags::RDONLY).ok()
    }

    /// A file that could not be opened or read: the group is gone, or the file is
    /// absent for now.
    fn missing(&self, slots: &mut HashMap<String, Slot>, file: &str) -> Result<Option<String>> {
        if self.mount.exists(self.group) {
            slots.insert(file.to_string(), Slot::Absent(self.budget.now));
        } else {
            self.files.gone.store(true, Ordering::Relaxed);
        }
        Ok(None)
    }
}

fn text(file: &str, bytes: Vec<u8>) -> Result<Option<String>> {
    String::from_utf8(bytes).map(Some).map_err(|_| Error::parse(file, "not UTF-8"))
}

impl FileSource for Cached<'_> {
    fn read_opt(&self, file: &str) -> Result<Option<String>> {
        if self.wanted.is_some_and(|f| !f.wants(self.v2, file)) || self.files.is_gone() {
            return Ok(None);
        }
        let mut kept = self.files.lock();
        let open = self.budget.open;
        match kept.slots.get(file) {
            Some(Slot::Open(fd)) => match read_record(fd, true) {
                Ok(bytes) => return text(file, bytes),
                // ENODEV: the group was removed (a new one may have its name: open again).
                Err(_) => {
                    kept.slots.remove(file);
                    open.fetch_sub(1, Ordering::Relaxed);
                }
            },
            Some(Slot::Absent(since)) if self.budget.now.duration_since(*since) < REPROBE_ABSENT => return Ok(None),
            _ => {}
        }
        let Some(fd) = self.open(&mut kept, file) else { return self.missing(&mut kept.slots, file) };
        // EOPNOTSUPP: pressure files of a group whose cgroup.pressure is 0.
        let Ok(bytes) = read_record(&fd, false) else { return self.missing(&mut kept.slots, file) };
        let max = self.budget.max;
        if open.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < max).then_some(n + 1)).is_ok() {
            kept.slots.insert(file.to_string(), Slot::Open(fd));
        }
        text(file, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Read, Scope, Snapshot, Tree, TreeOptions};
    use super::*;
    use crate::stats::Field;
    use crate::testing::{FakeTree, Layout};

    fn paths(s: &Snapshot) -> Vec<String> {
        s.groups.iter().map(|g| g.path.to_string()).collect()
    }

    fn all() -> TreeOptions {
        TreeOptions { scope: Scope::All, ..TreeOptions::default() }
    }

    #[test]
    fn a_tree_reads_what_group_stats_reads() {
        // One reader path: the tree's open files and Group::stats' GroupDirs give the same
        // Stats, in every layout, whether the tree's files are kept open or not.
        for layout in [Layout::V2, Layout::V1, Layout::Hybrid] {
            let fake = FakeTree::new(layout);
            for d in fake.group("a/b") {
                for (file, text) in [
                    ("memory.current", "4096\n"),
                    ("memory.usage_in_bytes", "8192\n"),
                    ("pids.current", "3\n"),
                    ("cpuacct.usage", "5000000\n"),
                ] {
                    if d.join(file).exists() {
                        std::fs::write(d.join(file), text).unwrap();
                    }
                }
            }
            let path = GroupPath::parse("a/b").unwrap();
            let direct = crate::Group::open(fake.hierarchy(), &path).unwrap().stats().unwrap();
            for max_open_files in [0, 1000] {
                let mut tree =
                    Tree::new(fake.hierarchy(), &GroupPath::root(), TreeOptions { max_open_files, ..all() }).unwrap();
                for _ in 0..2 {
                    let s = tree.sample();
                    let g = s.groups.iter().find(|g| g.path == path).unwrap();
                    assert_eq!(g.stats, direct, "{layout:?}, max_open_files {max_open_files}");
                }
            }
            assert!(direct.memory.unwrap().current.unwrap() > 0 && direct.pids.unwrap().current == Some(3));
        }
    }

    #[test]
    fn kept_directories_or_none_read_the_same() {
        // With the group directories kept open (the default, RLIMIT_NOFILE allowing), without
        // them (each file opened beside the directory looked up for the sample), and with a
        // kept directory that went stale (a removed directory: the group is looked up again).
        for layout in [Layout::V2, Layout::Hybrid] {
            let fake = FakeTree::new(layout);
            for d in fake.group("a") {
                for (file, text) in [("memory.current", "4096\n"), ("pids.current", "3\n")] {
                    if d.join(file).exists() {
                        std::fs::write(d.join(file), text).unwrap();
                    }
                }
            }
            let path = GroupPath::parse("a").unwrap();
            let direct = crate::Group::open(fake.hierarchy(), &path).unwrap().stats().unwrap();
            let read = |tree: &mut Tree| tree.sample().groups.into_iter().find(|g| g.path == path).unwrap().stats;
            let opts = TreeOptions { max_open_files: 0, ..all() };
            let mut tree = Tree::new(fake.hierarchy(), &GroupPath::root(), opts.clone()).unwrap();
            assert!(tree.open_dirs > 0, "{layout:?}: directories kept");
            assert_eq!(read(&mut tree), direct, "{layout:?}, kept directories");
            let stale = tempfile::tempdir().unwrap();
            let gone = stale.path().join("gone");
            std::fs::create_dir(&gone).unwrap();
            let fd = rustix::fs::open(&gone, OFlags::RDONLY | OFlags::DIRECTORY, rustix::fs::Mode::empty()).unwrap();
            std::fs::remove_dir(&gone).unwrap();
            let dirs = &tree.groups[&path].dirs;
            let first = dirs.keys().next().copied().unwrap();
            dirs[&first].files.set_dir(Some(fd));
            assert_eq!(read(&mut tree), direct, "{layout:?}, a stale kept directory");
            assert!(tree.groups[&path].dirs[&first].files.has_dir(), "{layout:?}: looked up again");
            let mut tree = Tree::new(fake.hierarchy(), &GroupPath::root(), opts).unwrap();
            for e in tree.groups.values() {
                for d in e.dirs.values() {
                    d.files.set_dir(None);
                }
            }
            tree.max_open_dirs = 0;
            for _ in 0..2 {
                assert_eq!(read(&mut tree), direct, "{layout:?}, no kept directory");
            }
        }
    }

    #[test]
    fn policy_actions_are_read_from_the_kept_directory() {
        let fake = FakeTree::new(Layout::V2);
        fake.group("g");
        let set = rustix::fs::setxattr(
            fake.path().join("g"),
            crate::ledger::XATTR,
            b"freeze=2 thaw=1",
            rustix::fs::XattrFlags::empty(),
        );
        if set.is_err() {
            eprintln!("skipped: the temporary directory's filesystem has no user xattrs ({set:?})");
            return;
        }
        let path = GroupPath::parse("g").unwrap();
        let direct = crate::Group::open(fake.hierarchy(), &path).unwrap().stats().unwrap();
        let mut tree = Tree::new(fake.hierarchy(), &GroupPath::root(), all()).unwrap();
        assert!(tree.open_dirs > 0);
        let s = tree.sample();
        let actions = s.groups[0].stats.policy_actions.clone().unwrap();
        assert_eq!(actions.get("freeze"), Some(&2));
        assert_eq!(s.groups[0].stats, direct);
    }

    #[test]
    fn the_default_budget_is_bounded() {
        let o = TreeOptions::default();
        assert!(o.max_open_files <= DEFAULT_MAX_OPEN_FILES && o.max_open_files <= open_file_budget());
    }

    #[test]
    fn a_sample_rereads_open_files() {
        let fake = FakeTree::new(Layout::V2);
        fake.group("g");
        let mut tree = Tree::new(fake.hierarchy(), &GroupPath::root(), all()).unwrap();
        let before = tree.sample();
        assert_eq!(before.groups[0].stats.memory.unwrap().current, Some(0));
        std::fs::write(fake.path().join("g/memory.current"), "123456789\n").unwrap();
        let after = tree.sample();
        assert_eq!(after.groups[0].stats.memory.unwrap().current, Some(123456789));
        assert_eq!(before.open_files, after.open_files);
    }

    #[test]
    fn fields_limit_what_is_read() {
        let fake = FakeTree::new(Layout::V1);
        fake.group("g");
        // memory.usage_in_bytes alone on v1.
        let fields = Some(Field::MemoryCurrent.into());
        let mut tree = Tree::new(fake.hierarchy(), &GroupPath::root(), TreeOptions { fields, ..all() }).unwrap();
        let s = tree.sample();
        let m = s.groups[0].stats.memory.unwrap();
        assert_eq!(m.current, Some(0));
        assert_eq!(m.max, None, "memory.limit_in_bytes is not in the set");
        assert_eq!(s.groups[0].stats.cpu.usage_usec, None);
        assert_eq!(s.open_files, 1);
        // Per group: everything for one, nothing for the other (left out).
        fake.group("h");
        let s = tree.sample_with(&|p| if p.as_str() == "g" { Read::All } else { Read::Skip });
        assert_eq!(s.groups.len(), 1);
        assert!(s.groups[0].stats.memory.unwrap().max.is_some());
        assert!(s.groups[0].stats.cpu.usage_usec.is_some());
        // Per group, other fields: each group reads the files of its own.
        let s = tree.sample_with(&|p| {
            Read::Fields(if p.as_str() == "g" { Field::MemoryCurrent.into() } else { Field::CpuUsage.into() })
        });
        let [g, h] = &s.groups[..] else { panic!("{:?}", paths(&s)) };
        assert_eq!((g.stats.memory.unwrap().current, g.stats.cpu.usage_usec), (Some(0), None));
        assert_eq!((h.stats.memory.unwrap().current, h.stats.cpu.usage_usec), (None, Some(0)));
    }

    #[test]
    fn the_open_file_budget_is_kept() {
        let fake = FakeTree::new(Layout::V2);
        fake.group("a");
        fake.group("b");
        let mut tree =
            Tree::new(fake.hierarchy(), &GroupPath::root(), TreeOptions { max_open_files: 3, ..all() }).unwrap();
        for _ in 0..2 {
            let s = tree.sample();
            assert_eq!(s.open_files, 3);
            // Files beyond the budget are still read.
            assert!(s.groups.iter().all(|g| g.stats.memory.unwrap().current == Some(0)));
        }
    }
}
