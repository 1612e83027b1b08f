//! Walking a subtree of groups and sampling their accounting: what `rein top` and
//! `rein exporter` are built on.
//!
//! A [`Tree`] finds every group at and below a subtree in every hierarchy (the cgroup2
//! mount and each v1 mount: on a hybrid host one group has a directory in several),
//! follows mkdir and rmdir with inotify, and on each [`Tree::sample`] reads each group's
//! accounting once, through the same path as [`Group::stats`](crate::Group::stats): the
//! crate's one `read_stats` over the v1 and v2 readers, which take any
//! [`FileSource`](crate::cgroupfs::FileSource). `Group::stats` gives them
//! [`GroupDir`](crate::cgroupfs::GroupDir)s; a tree gives them its cache of
//! open files. So v1, v2 and hybrid hosts give the same [`Stats`], and a tree's figures are
//! those of `rein stat`. A caller that shows a few figures names them ([`Fields`]), and
//! only the interface files that feed them are read.
//!
//! Opening an interface file costs far more than reading it, so a tree keeps the files
//! it reads open, up to [`TreeOptions::max_open_files`] ([`DEFAULT_MAX_OPEN_FILES`] by
//! default): `cache.rs` holds them and has the figures.
//!
//! The directory structure is followed with inotify (`IN_CREATE` and `IN_DELETE` reach the
//! watch on a cgroup directory when a child group is made or removed, on v1 and v2 alike),
//! so an idle tree reads no directories. Without inotify (no watches left, no `/proc`),
//! every sample walks the subtree again.

mod cache;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::inotify;
use rustix::io::Errno;

use crate::backend::read_group_stats;
use crate::cgroupfs::GroupPath;
use crate::error::{Error, Result};
use crate::group::Node;
use crate::hierarchy::{Controller, Hierarchy};
use crate::mark::XATTR;
use crate::plan::Place;
use crate::stats::{Fields, Stats};

use self::cache::{Budget, Cached, DirFiles, FileSet};
pub use self::cache::{DEFAULT_MAX_OPEN_FILES, open_file_budget};

/// Which groups a sample holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// rein's own groups: the transient parent ([`crate::mark::DEFAULT_PARENT`]) and
    /// everything below it, and every group whose directory carries rein's mark
    /// ([`crate::mark::XATTR`]: `named`, `parent`, `config` or `transient`), with
    /// everything below it.
    #[default]
    Own,
    /// Every group.
    All,
}

/// What [`Tree::sample_with`] reads of one group.
#[derive(Debug, Clone, Copy)]
pub enum Read {
    /// Nothing: the group is left out of the snapshot.
    Skip,
    /// The files that feed these fields.
    Fields(Fields),
    /// Every file the readers know.
    All,
}

/// How a [`Tree`] walks and reads.
#[derive(Debug, Clone)]
pub struct TreeOptions {
    /// Which groups [`Tree::sample`] returns.
    pub scope: Scope,
    /// The figures [`Tree::sample`] reads (the files that feed them); `None` reads every
    /// file the readers know.
    pub fields: Option<Fields>,
    /// How many interface files to keep open between samples (see the module's notes on
    /// cost). The default is [`DEFAULT_MAX_OPEN_FILES`], or the soft RLIMIT_NOFILE less
    /// 256 when that is lower ([`open_file_budget`]).
    pub max_open_files: usize,
    /// Follow mkdir and rmdir with inotify (the default); without it each sample walks
    /// the subtree again.
    pub watch: bool,
    /// Threads reading groups in a sample (1, the default, reads on the caller's thread).
    /// Reading is kernel time spent per file, so more threads shorten a sample of many
    /// groups on an idle machine at the same CPU cost.
    pub threads: usize,
}

impl Default for TreeOptions {
    fn default() -> Self {
        TreeOptions {
            scope: Scope::Own,
            fields: None,
            max_open_files: DEFAULT_MAX_OPEN_FILES.min(open_file_budget()),
            watch: true,
            threads: 1,
        }
    }
}

/// One group and its accounting, from one [`Tree::sample`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GroupSample {
    /// The group.
    pub path: GroupPath,
    /// Its accounting.
    pub stats: Stats,
}

/// The groups of a subtree at one moment.
#[derive(Debug)]
#[non_exhaustive]
pub struct Snapshot {
    /// When the reading started (for rates between snapshots).
    pub taken: Instant,
    /// How long reading every group took.
    pub took: Duration,
    /// The groups in scope, in path order (a parent before its children).
    pub groups: Vec<GroupSample>,
    /// Groups whose files could not be parsed, with the error.
    pub errors: Vec<(GroupPath, Error)>,
    /// Directories left out because rein cannot name them (see [`GroupPath::parse`]).
    pub unnamed: usize,
    /// Interface files kept open.
    pub open_files: usize,
}

/// One directory of a group, in one hierarchy.
#[derive(Default)]
struct Dir {
    files: DirFiles,
    marked: bool,
}

#[derive(Default)]
struct Entry {
    dirs: BTreeMap<Place, Dir>,
    nodes: Vec<Node>,
}

impl Entry {
    fn marked(&self) -> bool {
        self.dirs.values().any(|d| d.marked)
    }
}

struct Watch {
    fd: OwnedFd,
    wds: HashMap<i32, (Place, GroupPath)>,
}

/// The groups of a subtree, followed over time; see the module documentation.
pub struct Tree {
    h: Arc<Hierarchy>,
    subtree: GroupPath,
    options: TreeOptions,
    groups: BTreeMap<GroupPath, Entry>,
    /// Controllers each hierarchy carries (a group's files are read for these).
    controllers: BTreeMap<Place, BTreeSet<Controller>>,
    watch: Option<Watch>,
    /// Directories whose names rein cannot address, as `place:parent/name`.
    unnamed: BTreeSet<String>,
    /// The subtree's root lies in rein's part of the tree (see [`Scope::Own`]).
    inherited_own: bool,
    open_files: AtomicUsize,
    /// Group directories kept open, and the most that may be (see `cache.rs`).
    open_dirs: usize,
    max_open_dirs: usize,
    needs_rescan: bool,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree").field("subtree", &self.subtree).field("groups", &self.groups.len()).finish()
    }
}

fn places(h: &Hierarchy) -> Vec<(Place, BTreeSet<Controller>)> {
    let mut out = Vec::new();
    if let Some(u) = h.unified() {
        out.push((Place::V2, u.controllers.clone()));
    }
    for (i, m) in h.v1_mounts().iter().enumerate() {
        out.push((Place::V1(i), m.controllers.clone()));
    }
    out
}

/// Whether a directory carries rein's mark (any value: a value too long for the buffer
/// is still a mark, as [`crate::cgroupfs::Mount::get_xattr`] sees it).
fn has_mark(dir: &OwnedFd) -> bool {
    let mut buf = [0u8; 256];
    matches!(rustix::fs::fgetxattr(dir, XATTR, &mut buf), Ok(_) | Err(Errno::RANGE))
}

/// Groups read per thread at least, before a sample is split between threads (fewer in
/// unit tests, whose fake trees are slow to make).
const GROUPS_PER_THREAD: usize = if cfg!(test) { 4 } else { 64 };

/// What reading one group gave.
// Each outcome is moved once into the snapshot; boxing would add an allocation per group.
#[allow(clippy::large_enum_variant)]
enum Outcome {
    Read(Result<Stats>),
    Vanished(Vec<Place>),
}

impl Tree {
    /// Finds the groups at and below `subtree` (the root for every group) in every
    /// hierarchy. Fails when `subtree` exists in none of them.
    pub fn new(h: Arc<Hierarchy>, subtree: &GroupPath, options: TreeOptions) -> Result<Tree> {
        let watch = if options.watch {
            inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
                .ok()
                .map(|fd| Watch { fd, wds: HashMap::new() })
        } else {
            None
        };
        let controllers = places(&h).into_iter().collect();
        // Directories are kept open with the descriptors the files leave.
        let max_open_dirs = cache::open_file_budget().saturating_sub(options.max_open_files);
        let mut tree = Tree {
            h,
            subtree: subtree.clone(),
            options,
            groups: BTreeMap::new(),
            controllers,
            watch,
            unnamed: BTreeSet::new(),
            inherited_own: false,
            open_files: AtomicUsize::new(0),
            open_dirs: 0,
            max_open_dirs,
            needs_rescan: false,
        };
        tree.rescan();
        if !subtree.is_root() && !tree.groups.contains_key(subtree) {
            return Err(Error::state(
                format!("no group {subtree} in any cgroup hierarchy"),
                Some("give a group path relative to the cgroup root, e.g. 'rein' (see 'rein top --all')".into()),
            ));
        }
        tree.inherited_own = tree.ancestors_own();
        Ok(tree)
    }

    /// The hierarchy the tree reads.
    pub fn hierarchy(&self) -> &Arc<Hierarchy> {
        &self.h
    }

    /// The subtree's root.
    pub fn subtree(&self) -> &GroupPath {
        &self.subtree
    }

    /// How many groups the tree knows (in scope or not, the subtree's root included).
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True when the tree knows no group.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Which groups samples hold from now on.
    pub fn set_scope(&mut self, scope: Scope) {
        self.options.scope = scope;
    }

    /// Which groups samples hold.
    pub fn scope(&self) -> Scope {
        self.options.scope
    }

    /// True while inotify follows the tree (false: every sample walks it again).
    pub fn is_watching(&self) -> bool {
        self.watch.is_some()
    }

    /// Whether an ancestor of the subtree's root (outside the walk) makes it rein's.
    fn ancestors_own(&self) -> bool {
        let transient = GroupPath::parse(crate::mark::DEFAULT_PARENT).expect("valid default parent");
        if self.subtree.starts_with(&transient) {
            return true;
        }
        let lineage = self.subtree.lineage();
        lineage[..lineage.len().saturating_sub(1)]
            .iter()
            .filter(|a| !a.is_root())
            .any(|a| places(&self.h).iter().any(|(p, _)| p.mount(&self.h).open_dir(a).is_ok_and(|fd| has_mark(&fd))))
    }

    /// Walks every hierarchy again: new groups are added, vanished ones dropped, the
    /// files of the others stay open.
    fn rescan(&mut self) {
        self.unnamed.clear();
        let mut seen = BTreeSet::new();
        let subtree = self.subtree.clone();
        for (place, _) in places(&self.h) {
            if place.mount(&self.h).exists(&subtree) {
                self.scan(place, &subtree, &mut seen);
            }
        }
        for (path, e) in self.groups.iter_mut() {
            e.dirs.retain(|p, _| seen.contains(&(*p, path.clone())));
        }
        self.settle();
        self.needs_rescan = false;
    }

    /// Adds `group`'s directory in `place` and everything below it, watching each.
    fn scan(&mut self, place: Place, group: &GroupPath, seen: &mut BTreeSet<(Place, GroupPath)>) {
        let h = self.h.clone();
        let Ok(dir) = place.mount(&h).open_dir(group) else { return };
        let marked = has_mark(&dir);
        if let Some(w) = &mut self.watch {
            // The watch goes on the very directory opened beneath the mount (through its
            // /proc/self/fd link), not on a path that could be swapped.
            let flags = inotify::WatchFlags::CREATE
                | inotify::WatchFlags::DELETE
                | inotify::WatchFlags::MOVED_FROM
                | inotify::WatchFlags::MOVED_TO
                | inotify::WatchFlags::ATTRIB
                | inotify::WatchFlags::ONLYDIR;
            match inotify::add_watch(&w.fd, format!("/proc/self/fd/{}", dir.as_raw_fd()), flags) {
                Ok(wd) => {
                    w.wds.insert(wd, (place, group.clone()));
                }
                // Out of watches (or no /proc): fall back to walking on every sample.
                Err(_) => self.watch = None,
            }
        }
        seen.insert((place, group.clone()));
        let entry = self.groups.entry(group.clone()).or_default();
        let d = entry.dirs.entry(place).or_default();
        d.marked = marked;
        let listing = rustix::fs::Dir::read_from(&dir);
        // Kept for reading the group's files (a fresh descriptor replaces an older one).
        if d.files.has_dir() {
            d.files.set_dir(Some(dir));
        } else if self.open_dirs < self.max_open_dirs {
            d.files.set_dir(Some(dir));
            self.open_dirs += 1;
        }
        let Ok(mut listing) = listing else { return };
        let mut children = Vec::new();
        while let Some(Ok(e)) = listing.read() {
            let name = e.file_name().to_string_lossy();
            if e.file_type() == rustix::fs::FileType::Directory && name != "." && name != ".." {
                children.push(name.into_owned());
            }
        }
        for name in children {
            match group.join(&name) {
                Ok(child) => self.scan(place, &child, seen),
                Err(_) => {
                    self.unnamed.insert(format!("{place:?}:{group}/{name}"));
                }
            }
        }
    }

    /// Drops `group`'s directory in `place` and those below it.
    fn forget(&mut self, place: Place, group: &GroupPath) {
        for (path, e) in self.groups.iter_mut() {
            if path.starts_with(group) {
                e.dirs.remove(&place);
            }
        }
        if let Some(w) = &mut self.watch {
            w.wds.retain(|_, (p, g)| !(*p == place && g.starts_with(group)));
        }
        let prefix = format!("{place:?}:{group}/");
        self.unnamed.retain(|u| !u.starts_with(&prefix));
    }

    /// After structural changes: drop groups with no directory left, rebuild each
    /// group's node list, recount open files.
    fn settle(&mut self) {
        self.groups.retain(|_, e| !e.dirs.is_empty());
        let mut open = 0;
        let mut dirs = 0;
        for e in self.groups.values_mut() {
            e.nodes = e
                .dirs
                .keys()
                .map(|p| Node { place: *p, controllers: self.controllers.get(p).cloned().unwrap_or_default() })
                .collect();
            open += e.dirs.values().map(|d| d.files.open_count()).sum::<usize>();
            dirs += e.dirs.values().filter(|d| d.files.has_dir()).count();
        }
        self.open_files.store(open, Ordering::Relaxed);
        self.open_dirs = dirs;
    }

    /// Applies what inotify reported since the last call; true if anything changed.
    fn follow(&mut self) -> bool {
        let Some(w) = &self.watch else { return false };
        let mut events = Vec::new();
        let mut buf = [MaybeUninit::<u8>::uninit(); 16384];
        let mut reader = inotify::Reader::new(w.fd.as_fd(), &mut buf);
        loop {
            match reader.next() {
                Ok(ev) => {
                    let name = ev.file_name().map(|n| n.to_string_lossy().into_owned());
                    events.push((ev.wd(), ev.events(), name));
                }
                Err(Errno::AGAIN) => break,
                Err(Errno::INTR) => continue,
                Err(_) => {
                    self.needs_rescan = true;
                    break;
                }
            }
        }
        use inotify::ReadFlags as F;
        let mut changed = false;
        for (wd, flags, name) in events {
            if flags.contains(F::QUEUE_OVERFLOW) {
                self.needs_rescan = true;
                continue;
            }
            let Some((place, parent)) = self.watch.as_ref().and_then(|w| w.wds.get(&wd)).cloned() else { continue };
            if flags.contains(F::IGNORED) {
                if let Some(w) = &mut self.watch {
                    w.wds.remove(&wd);
                }
                continue;
            }
            match name {
                Some(name) if flags.contains(F::ISDIR) => {
                    let child = parent.join(&name);
                    if flags.intersects(F::CREATE | F::MOVED_TO) {
                        match child {
                            Ok(c) => self.scan(place, &c, &mut BTreeSet::new()),
                            Err(_) => {
                                self.unnamed.insert(format!("{place:?}:{parent}/{name}"));
                            }
                        }
                    } else if flags.intersects(F::DELETE | F::MOVED_FROM) {
                        match child {
                            Ok(c) => self.forget(place, &c),
                            Err(_) => {
                                self.unnamed.remove(&format!("{place:?}:{parent}/{name}"));
                            }
                        }
                    }
                    changed = true;
                }
                None if flags.contains(F::ATTRIB) => {
                    // The mark may have been set (or removed) after mkdir.
                    let marked = place.mount(&self.h).open_dir(&parent).is_ok_and(|fd| has_mark(&fd));
                    if let Some(d) = self.groups.get_mut(&parent).and_then(|e| e.dirs.get_mut(&place)) {
                        d.marked = marked;
                    }
                }
                _ => {}
            }
        }
        changed
    }

    /// Brings the structure up to date: inotify's news, or a whole walk.
    fn update(&mut self) {
        let changed = self.follow();
        if self.needs_rescan || self.watch.is_none() {
            self.rescan();
        } else if changed {
            self.settle();
        }
    }

    /// The paths rein owns, per [`Scope::Own`]: their subtrees are in scope.
    fn own_roots(&self) -> Vec<GroupPath> {
        let mut roots: Vec<GroupPath> =
            self.groups.iter().filter(|(_, e)| e.marked()).map(|(p, _)| p.clone()).collect();
        roots.push(GroupPath::parse(crate::mark::DEFAULT_PARENT).expect("valid default parent"));
        roots
    }

    /// Reads the accounting of every group in scope, once each, reading the files that
    /// feed [`TreeOptions::fields`].
    pub fn sample(&mut self) -> Snapshot {
        match self.options.fields {
            Some(f) => self.sample_with(&|_| Read::Fields(f)),
            None => self.sample_with(&|_| Read::All),
        }
    }

    /// Reads the accounting of the groups in scope, choosing per group what to read:
    /// `rein top` reads its sort column for every group and every column only for the
    /// rows on screen.
    pub fn sample_with(&mut self, read: &dyn Fn(&GroupPath) -> Read) -> Snapshot {
        self.update();
        let taken = Instant::now();
        let own = match self.options.scope {
            Scope::All => None,
            Scope::Own if self.inherited_own => None,
            Scope::Own => Some(self.own_roots()),
        };
        // The files of each set of fields asked for (a caller asks for a few sets).
        let mut sets: Vec<(Fields, FileSet)> = Vec::new();
        let mut chosen = Vec::new();
        for (path, e) in &self.groups {
            if path.is_root() || own.as_ref().is_some_and(|roots| !roots.iter().any(|r| path.starts_with(r))) {
                continue;
            }
            match read(path) {
                Read::Skip => {}
                Read::Fields(f) => {
                    let i = sets.iter().position(|(g, _)| *g == f).unwrap_or_else(|| {
                        sets.push((f, FileSet::of(f)));
                        sets.len() - 1
                    });
                    chosen.push((path, e, Some(i)));
                }
                Read::All => chosen.push((path, e, None)),
            }
        }
        let budget = Budget { open: &self.open_files, max: self.options.max_open_files, now: taken };
        let read_one = |(path, e, set): &(&GroupPath, &Entry, Option<usize>)| {
            let mut stats = read_group_stats(&e.nodes, |_, n| {
                let wanted = set.map(|i| &sets[i].1);
                let mount = n.place.mount(&self.h);
                Ok(Cached::new(budget, wanted, &e.dirs[&n.place].files, mount, path, n.place == Place::V2))
            });
            // Network counters live in the map of rein's programs: asked for by field.
            let net_wanted = set.is_none_or(|i| sets[i].0.contains(crate::stats::Field::Network));
            if let (Ok(s), true, Some(u)) = (&mut stats, net_wanted, self.h.unified()) {
                if let Some(d) = e.dirs.get(&Place::V2) {
                    let net = d.files.with_dir(|fd| match fd {
                        Some(fd) => crate::backend::v2_network_stats_at(fd),
                        None => crate::backend::v2_network(&u.mount, path).map(|n| n.map(|(_, net)| net)),
                    });
                    if let Ok(Some(net)) = net {
                        s.network = Some(net);
                    }
                }
            }
            // Policy actions live in an extended attribute of the directory.
            let actions_wanted = set.is_none_or(|i| sets[i].0.contains(crate::stats::Field::PolicyActions));
            if let (Ok(s), true) = (&mut stats, actions_wanted) {
                let home = e.nodes.iter().find(|n| n.place == Place::V2).or_else(|| e.nodes.first());
                if let Some(n) = home {
                    let actions = e.dirs[&n.place].files.with_dir(|fd| match fd {
                        Some(fd) => crate::ledger::read_at(fd),
                        None => crate::ledger::read(n.place.mount(&self.h), path),
                    });
                    s.policy_actions = (!actions.is_empty()).then_some(actions);
                }
            }
            let vanished: Vec<Place> = e.dirs.iter().filter(|(_, d)| d.files.is_gone()).map(|(p, _)| *p).collect();
            if vanished.is_empty() { Outcome::Read(stats) } else { Outcome::Vanished(vanished) }
        };
        let threads = self.options.threads.clamp(1, (chosen.len() / GROUPS_PER_THREAD).max(1));
        let outcomes: Vec<Outcome> = if threads == 1 {
            chosen.iter().map(read_one).collect()
        } else {
            let chunk = chosen.len().div_ceil(threads);
            std::thread::scope(|s| {
                let workers: Vec<_> = chosen
                    .chunks(chunk)
                    .map(|part| s.spawn(|| part.iter().map(read_one).collect::<Vec<_>>()))
                    .collect();
                workers.into_iter().flat_map(|w| w.join().expect("a reading thread panicked")).collect()
            })
        };
        let mut groups = Vec::new();
        let mut errors = Vec::new();
        let mut gone = Vec::new();
        for ((path, _, _), outcome) in chosen.iter().zip(outcomes) {
            match outcome {
                Outcome::Read(Ok(stats)) => groups.push(GroupSample { path: (*path).clone(), stats }),
                Outcome::Read(Err(err)) => errors.push(((*path).clone(), err)),
                Outcome::Vanished(places) => gone.extend(places.into_iter().map(|p| (p, (*path).clone()))),
            }
        }
        let took = taken.elapsed();
        if !gone.is_empty() {
            for (place, path) in &gone {
                self.forget(*place, path);
            }
            self.settle();
        }
        Snapshot {
            taken,
            took,
            groups,
            errors,
            unnamed: self.unnamed.len(),
            open_files: self.open_files.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeTree, Layout};

    fn paths(s: &Snapshot) -> Vec<String> {
        s.groups.iter().map(|g| g.path.to_string()).collect()
    }

    fn all() -> TreeOptions {
        TreeOptions { scope: Scope::All, ..TreeOptions::default() }
    }

    #[test]
    fn walks_every_hierarchy_and_reads_each_group() {
        for layout in [Layout::V2, Layout::V1, Layout::Hybrid] {
            let fake = FakeTree::new(layout);
            fake.group("a/b");
            fake.group("c");
            let mut tree = Tree::new(fake.hierarchy(), &GroupPath::root(), all()).unwrap();
            let s = tree.sample();
            assert_eq!(paths(&s), ["/a", "/a/b", "/c"], "{layout:?}");
            assert!(s.errors.is_empty(), "{:?}", s.errors);
            let stats = &s.groups[1].stats;
            assert_eq!(stats.cpu.usage_usec, Some(0), "{layout:?}");
            assert_eq!(stats.memory.and_then(|m| m.oom_kill), Some(0), "{layout:?}");
            assert!(s.open_files > 0, "{layout:?}: files stay open between samples");
        }
    }

    #[test]
    fn follows_mkdir_and_rmdir() {
        for watch in [true, false] {
            let fake = FakeTree::new(Layout::Hybrid);
            fake.group("x");
            let mut tree = Tree::new(fake.hierarchy(), &GroupPath::root(), TreeOptions { watch, ..all() }).unwrap();
            assert_eq!(tree.is_watching(), watch);
            assert_eq!(paths(&tree.sample()), ["/x"]);
            fake.group("x/y");
            fake.group("z");
            assert_eq!(paths(&tree.sample()), ["/x", "/x/y", "/z"], "watch={watch}");
            for d in std::fs::read_dir(fake.path()).unwrap() {
                let _ = std::fs::remove_dir_all(d.unwrap().path().join("x"));
            }
            assert_eq!(paths(&tree.sample()), ["/z"], "watch={watch}");
            assert_eq!(tree.len(), 2, "the root and /z");
        }
    }

    #[test]
    fn a_removed_group_is_dropped_even_unannounced() {
        // No inotify and the directory replaced by nothing: reads fail, the group goes.
        let fake = FakeTree::new(Layout::V2);
        fake.group("g");
        let mut tree =
            Tree::new(fake.hierarchy(), &GroupPath::parse("g").unwrap(), TreeOptions { watch: false, ..all() })
                .unwrap();
        assert_eq!(paths(&tree.sample()), ["/g"]);
        std::fs::remove_dir_all(fake.path().join("g")).unwrap();
        assert!(tree.sample().groups.is_empty());
    }

    #[test]
    fn own_scope_is_the_rein_parent_and_marked_groups() {
        let fake = FakeTree::new(Layout::V2);
        for g in ["rein/run-1", "other/x", "web/api", "web/api/w1", "web-old"] {
            fake.group(g);
        }
        let marked = fake.path().join("web/api");
        let mark = rustix::fs::setxattr(&marked, XATTR, b"named", rustix::fs::XattrFlags::empty());
        if mark.is_err() {
            eprintln!("skipped: the temporary directory's filesystem has no user xattrs ({mark:?})");
            return;
        }
        let mut tree = Tree::new(fake.hierarchy(), &GroupPath::root(), TreeOptions::default()).unwrap();
        assert_eq!(paths(&tree.sample()), ["/rein", "/rein/run-1", "/web/api", "/web/api/w1"]);
        // A mark set after the group was found is noticed.
        rustix::fs::setxattr(fake.path().join("other/x"), XATTR, b"named", rustix::fs::XattrFlags::empty()).unwrap();
        assert!(paths(&tree.sample()).contains(&"/other/x".to_string()));
        // A subtree below a marked group is rein's whole.
        let mut sub =
            Tree::new(fake.hierarchy(), &GroupPath::parse("web/api/w1").unwrap(), TreeOptions::default()).unwrap();
        assert_eq!(paths(&sub.sample()), ["/web/api/w1"]);
    }

    #[test]
    fn threads_read_the_same_groups() {
        let fake = FakeTree::new(Layout::V2);
        for i in 0..20 {
            fake.group(&format!("g{i}"));
            std::fs::write(fake.path().join(format!("g{i}/memory.current")), format!("{i}\n")).unwrap();
        }
        let one = Tree::new(fake.hierarchy(), &GroupPath::root(), all()).unwrap().sample();
        let mut tree = Tree::new(fake.hierarchy(), &GroupPath::root(), TreeOptions { threads: 3, ..all() }).unwrap();
        for _ in 0..2 {
            let three = tree.sample();
            assert_eq!(paths(&three), paths(&one));
            assert_eq!(three.groups.len(), 20);
            for (a, b) in one.groups.iter().zip(&three.groups) {
                assert_eq!(a.stats, b.stats, "{}", a.path);
            }
            assert_eq!(three.open_files, one.open_files);
        }
    }

    #[test]
    fn a_missing_subtree_is_an_error_and_odd_names_are_counted() {
        let fake = FakeTree::new(Layout::V2);
        let e = Tree::new(fake.hierarchy(), &GroupPath::parse("nope").unwrap(), all()).unwrap_err();
        assert!(e.to_string().contains("no group /nope"), "{e}");
        std::fs::create_dir(fake.path().join("has space")).unwrap();
        let mut tree = Tree::new(fake.hierarchy(), &GroupPath::root(), all()).unwrap();
        assert_eq!(tree.sample().unnamed, 1);
    }
}
