//! The [`Watcher`]: one epoll loop over inotify (v2 event files, groups appearing and
//! going), v1 OOM eventfds, PSI triggers and the polled counters of v1, turned into
//! [`Event`]s in the order they happened.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustix::event::epoll;
use rustix::fs::OFlags;
use rustix::fs::inotify;
use rustix::io::Errno;

use super::event::{Event, EventKind, Options};
use super::trigger::PressureTrigger;
use super::trigger::UNPRIVILEGED_WINDOW_USEC;
use crate::backend::{self, Changed};
use crate::cgroupfs::{GroupDir, GroupPath};
use crate::error::{Error, Result};
use crate::group::Group;
use crate::hierarchy::{Controller, Hierarchy, Mode};
use crate::plan::Place;

/// How often memory counters are re-read after a sign of an imminent OOM kill.
pub const RECHECK_INTERVAL: Duration = Duration::from_millis(1);
/// How long after a v2 `max`/`oom` increase the memory counters are re-read (a little
/// more than the kernel's 20 ms notification interval).
const RECHECK_WINDOW_V2: Duration = Duration::from_millis(25);
/// How long after a v1 OOM eventfd notification the `oom_kill` counter is re-read: the
/// kernel notifies before it picks and kills a victim, and sends nothing afterwards.
const RECHECK_WINDOW_V1: Duration = Duration::from_secs(1);

/// The counters a watcher compares between reads.
type Counters = crate::stats::EventCounters;

/// One hierarchy directory of a watched group.
struct NodeWatch {
    place: Place,
    controllers: BTreeSet<Controller>,
    dir: GroupDir,
    wd: Option<i32>,
}

struct Watched {
    path: GroupPath,
    nodes: Vec<NodeWatch>,
    counters: Counters,
    populated: Option<bool>,
    /// Re-reading memory counters (an OOM kill may be imminent): next read, and until when.
    recheck: Option<(Instant, Instant)>,
    /// The policy actions counted on the group when last read.
    actions: std::collections::BTreeMap<String, u64>,
}

impl Watched {
    fn node(&self, place_v2: bool, c: Controller) -> Option<&NodeWatch> {
        self.nodes.iter().find(|n| (n.place == Place::V2) == place_v2 && n.controllers.contains(&c))
    }
    fn v2(&self) -> Option<&NodeWatch> {
        self.nodes.iter().find(|n| n.place == Place::V2)
    }
    /// Whether some counter of this group has no kernel notification and must be polled.
    fn needs_polling(&self) -> bool {
        self.v2().is_none()
            || self.node(false, Controller::Memory).is_some()
            || self.node(false, Controller::Pids).is_some()
    }
}

/// What an inotify watch descriptor stands for: one directory, in the roles it plays.
#[derive(Debug, Clone, Default)]
struct WdRole {
    /// The directory: a group path in a hierarchy.
    at: Option<(GroupPath, Place)>,
    /// It is a watched group's directory (group id): its files' changes matter.
    group: Option<usize>,
    /// It is a followed parent (parent id): new children matter.
    parent: Option<usize>,
}

enum Source {
    OomEventfd { group: usize, fd: OwnedFd },
    Psi { group: usize, fd: OwnedFd, trigger: PressureTrigger },
}

impl Source {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Source::OomEventfd { fd, .. } | Source::Psi { fd, .. } => fd.as_fd(),
        }
    }
    fn group(&self) -> usize {
        match self {
            Source::OomEventfd { group, .. } | Source::Psi { group, .. } => *group,
        }
    }
}

const INOTIFY_TOKEN: u64 = 0;
/// The tokens of the caller's fds ([`Watcher::wait_beside`]): this bit and the fd number.
const FOREIGN_TOKEN: u64 = 1 << 63;

/// Watches groups and yields their [`Event`]s; see the module documentation.
///
/// [`Watcher::wait`] blocks (with an optional timeout); the watcher is also an
/// [`Iterator`] that blocks for each event and ends when every watched group is gone.
/// [`Watcher::as_fd`] and [`Watcher::deadline`] let another event loop drive it.
pub struct Watcher {
    h: Arc<Hierarchy>,
    opts: Options,
    epoll: OwnedFd,
    inotify: OwnedFd,
    inotify_buf: Vec<MaybeUninit<u8>>,
    groups: Vec<Option<Watched>>,
    by_path: HashMap<GroupPath, usize>,
    wds: HashMap<i32, WdRole>,
    sources: Vec<Option<Source>>,
    parents: Vec<GroupPath>,
    queue: VecDeque<Event>,
    next_poll: Option<Instant>,
    foreign: Vec<i32>,
}

impl fmt::Debug for Watcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher").field("groups", &self.by_path.keys().collect::<Vec<_>>()).finish()
    }
}

impl AsFd for Watcher {
    /// An epoll fd that becomes readable when the watcher has something to process.
    /// With pressure triggers, do not poll it from another poll loop: that loses PSI
    /// events (see [`Watcher::wait_beside`], which waits beside the caller's fds instead).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

fn sys(op: &str, e: Errno) -> Error {
    Error::Io { op: op.into(), path: "(events)".into(), cause: e.into(), hint: None }
}

impl Watcher {
    /// A watcher with no group yet. Checks the triggers against this process's rights.
    pub fn new(h: Arc<Hierarchy>, opts: Options) -> Result<Watcher> {
        if opts.poll_interval.is_zero() {
            return Err(Error::invalid("poll interval", "0", "must be above 0"));
        }
        if !opts.triggers.is_empty() {
            if h.unified().is_none() {
                return Err(Error::Unsupported {
                    what: "a pressure trigger".into(),
                    mode: Mode::Legacy.to_string(),
                    reason:
                        "per-group pressure files exist only in cgroup2; /proc/pressure has the system-wide figures"
                            .into(),
                });
            }
            let privileged = super::trigger::privileged();
            if let Some(t) = opts.triggers.iter().find(|t| !privileged && t.window_usec % UNPRIVILEGED_WINDOW_USEC != 0)
            {
                return Err(Error::invalid(
                    "pressure trigger",
                    t.to_string(),
                    "without CAP_SYS_RESOURCE the kernel accepts only windows that are multiples of 2s \
                     (e.g. a window of 2s); run as root with CAP_SYS_RESOURCE for shorter windows",
                ));
            }
        }
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| sys("create an epoll instance", e))?;
        let inotify = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
            .map_err(|e| sys("create an inotify instance", e))?;
        epoll::add(&epoll, &inotify, epoll::EventData::new_u64(INOTIFY_TOKEN), epoll::EventFlags::IN)
            .map_err(|e| sys("watch the inotify fd", e))?;
        Ok(Watcher {
            h,
            opts,
            epoll,
            inotify,
            inotify_buf: vec![MaybeUninit::uninit(); 64 * 1024],
            groups: Vec::new(),
            by_path: HashMap::new(),
            wds: HashMap::new(),
            sources: Vec::new(),
            parents: Vec::new(),
            queue: VecDeque::new(),
            next_poll: None,
            foreign: Vec::new(),
        })
    }

    /// Watches a group: every hierarchy it lives in. Events that happened before are
    /// not reported.
    pub fn add(&mut self, group: &Group) -> Result<()> {
        let id = self.entry(group.path());
        for n in group.nodes() {
            self.attach(id, n.place, Some(n.controllers.clone()))?;
        }
        let counters = self.read_counters(id);
        let populated = self.read_populated(id);
        if let Some(g) = self.groups[id].as_mut() {
            g.counters = counters;
            g.populated = populated;
        }
        self.schedule_poll();
        Ok(())
    }

    /// Watches the children of `parent`: those that exist now (from now on) and those
    /// created later (from their creation, so a kill between the `mkdir` and the
    /// watcher noticing it is still reported). The parent itself is not watched.
    pub fn follow_children(&mut self, parent: &Group) -> Result<()> {
        let pid = self.parents.len();
        self.parents.push(parent.path().clone());
        let mut existing = Vec::new();
        let h = self.h.clone();
        for n in parent.nodes() {
            let m = n.place.mount(&h);
            let dir = m.group_dir(parent.path())?;
            self.add_watch(
                &dir,
                parent.path(),
                n.place,
                inotify::WatchFlags::CREATE | inotify::WatchFlags::ONLYDIR,
                |r| r.parent = Some(pid),
            )?;
            for child in m.children(parent.path())? {
                existing.push((parent.path().join(&child)?, n.place));
            }
        }
        let mut ids = BTreeSet::new();
        for (path, place) in existing {
            let id = self.entry(&path);
            // A child that vanished in between is simply not watched.
            let _ = self.attach(id, place, None);
            ids.insert(id);
        }
        // Children that exist already: report from now on, like [`Watcher::add`].
        for id in ids {
            let c = self.read_counters(id);
            let p = self.read_populated(id);
            if let Some(g) = self.groups[id].as_mut() {
                g.counters = c;
                g.populated = p;
            }
        }
        self.drop_empty_entries();
        self.schedule_poll();
        Ok(())
    }

    /// The groups watched now.
    pub fn groups(&self) -> impl Iterator<Item = &GroupPath> {
        self.groups.iter().flatten().map(|g| &g.path)
    }

    /// When [`Watcher::wait`] must be called even if [`Watcher::as_fd`] stays quiet
    /// (polled counters, OOM rechecks).
    pub fn deadline(&self) -> Option<Instant> {
        let recheck = self.groups.iter().flatten().filter_map(|g| g.recheck.map(|(next, _)| next)).min();
        match (recheck, self.next_poll) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next event, waiting at most `timeout` (forever with None). `Ok(None)` when the
    /// timeout passed, or when nothing is watched any more.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Option<Event>> {
        let until = timeout.map(|t| Instant::now() + t);
        // The kernel is asked at least once, so a timeout of zero reads what is ready.
        let mut asked = false;
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Ok(Some(e));
            }
            if self.by_path.is_empty() && self.parents.is_empty() {
                return Ok(None);
            }
            let now = Instant::now();
            if asked && until.is_some_and(|u| now >= u) && !self.due(now) {
                return Ok(None);
            }
            self.wait_once(&[], until)?;
            asked = true;
        }
    }

    /// Waits once, until the kernel reports something, one of `foreign` (the caller's own
    /// fds, e.g. a signalfd) becomes readable, or `until`; processes what the kernel
    /// reported (the events then come from [`Watcher::wait`] with a zero timeout) and
    /// returns which of `foreign` are readable.
    ///
    /// This is the way to wait on a watcher beside other fds: polling [`Watcher::as_fd`]
    /// from an outer poll(2) loses pressure events, because the kernel clears a PSI
    /// trigger's event when the epoll instance is polled for readiness, before
    /// `epoll_wait` asks the trigger again (and it then says nothing). The foreign fds join
    /// the watcher's own epoll instance instead (on the first call; pass the same fds each
    /// time, and keep them open while the watcher lives).
    pub fn wait_beside(&mut self, foreign: &[BorrowedFd<'_>], until: Option<Instant>) -> Result<Vec<bool>> {
        for fd in foreign {
            let raw = std::os::fd::AsRawFd::as_raw_fd(fd);
            if !self.foreign.contains(&raw) {
                let token = FOREIGN_TOKEN | raw as u64;
                epoll::add(&self.epoll, fd, epoll::EventData::new_u64(token), epoll::EventFlags::IN)
                    .map_err(|e| sys("watch a file descriptor", e))?;
                self.foreign.push(raw);
            }
        }
        self.wait_once(foreign, until)
    }

    /// One epoll_wait, until `until` or the watcher's own deadline: the kernel's reports
    /// processed, the due polls run; which of `foreign` (registered already) are readable.
    fn wait_once(&mut self, foreign: &[BorrowedFd<'_>], until: Option<Instant>) -> Result<Vec<bool>> {
        let now = Instant::now();
        let wake = match (self.deadline(), until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let ts = wake.map(|w| {
            let d = w.saturating_duration_since(now);
            rustix::event::Timespec { tv_sec: d.as_secs() as _, tv_nsec: d.subsec_nanos() as _ }
        });
        let mut ready: Vec<epoll::Event> = Vec::with_capacity(64);
        match epoll::wait(&self.epoll, rustix::buffer::spare_capacity(&mut ready), ts.as_ref()) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(sys("wait for events", e)),
        }
        let mut out = vec![false; foreign.len()];
        for ev in ready {
            let token = ev.data.u64();
            if token & FOREIGN_TOKEN != 0 {
                let raw = (token & !FOREIGN_TOKEN) as i32;
                for (i, fd) in foreign.iter().enumerate() {
                    if std::os::fd::AsRawFd::as_raw_fd(fd) == raw {
                        out[i] = true;
                    }
                }
            } else if token == INOTIFY_TOKEN {
                self.read_inotify()?;
            } else {
                self.source_ready(token as usize - 1, ev.flags);
            }
        }
        self.run_due(Instant::now());
        Ok(out)
    }

    /// Reads every watched group's event counters now, whether or not the kernel has
    /// notified a change yet (it holds memory.events notifications back by up to 20 ms):
    /// the changes then come from [`Watcher::wait`] with a zero timeout. For a caller that
    /// must know everything counted before a moment, e.g. a command that just died.
    pub fn recount(&mut self) {
        for id in 0..self.groups.len() {
            if self.groups[id].is_some() {
                self.check_memory(id);
                self.check_pids(id);
            }
        }
    }

    /// Whether events are queued for [`Watcher::wait`].
    pub fn has_events(&self) -> bool {
        !self.queue.is_empty()
    }

    fn due(&self, now: Instant) -> bool {
        self.next_poll.is_some_and(|p| now >= p)
            || self.groups.iter().flatten().any(|g| g.recheck.is_some_and(|(next, _)| now >= next))
    }

    /// Runs the polls and rechecks that are due.
    fn run_due(&mut self, now: Instant) {
        for id in 0..self.groups.len() {
            let Some(g) = &self.groups[id] else { continue };
            if let Some((next, until)) = g.recheck {
                if now < next {
                    continue;
                }
                self.check_memory(id);
                if let Some(g) = self.groups[id].as_mut() {
                    // check_memory may have extended the window.
                    let until = g.recheck.map_or(until, |r| r.1).max(until);
                    g.recheck = (now < until).then_some((now + RECHECK_INTERVAL, until));
                }
            }
        }
        if self.next_poll.is_some_and(|p| now >= p) {
            for id in 0..self.groups.len() {
                let Some(g) = &self.groups[id] else { continue };
                if !g.needs_polling() {
                    continue;
                }
                let v2 = g.v2().is_some();
                self.check_memory(id);
                self.check_pids(id);
                if !v2 {
                    self.check_populated(id);
                }
            }
            self.next_poll = None;
            self.schedule_poll();
        }
    }

    fn schedule_poll(&mut self) {
        if self.next_poll.is_none() && self.groups.iter().flatten().any(Watched::needs_polling) {
            self.next_poll = Some(Instant::now() + self.opts.poll_interval);
        }
    }

    fn entry(&mut self, path: &GroupPath) -> usize {
        if let Some(id) = self.by_path.get(path) {
            return *id;
        }
        let id = self.groups.len();
        // Actions counted before are not reported.
        let actions = self.h.unified().map(|u| crate::ledger::read(&u.mount, path)).unwrap_or_default();
        self.groups.push(Some(Watched {
            path: path.clone(),
            nodes: Vec::new(),
            counters: Counters::default(),
            populated: None,
            recheck: None,
            actions,
        }));
        self.by_path.insert(path.clone(), id);
        id
    }

    fn drop_empty_entries(&mut self) {
        for id in 0..self.groups.len() {
            if self.groups[id].as_ref().is_some_and(|g| g.nodes.is_empty()) {
                self.forget(id);
            }
        }
    }

    fn add_watch(
        &mut self,
        dir: &GroupDir,
        path: &GroupPath,
        place: Place,
        flags: inotify::WatchFlags,
        role: impl FnOnce(&mut WdRole),
    ) -> Result<i32> {
        // Through the O_PATH fd, so the watch lands on the directory rein resolved safely.
        let proc_path = format!("/proc/self/fd/{}", dir.fd().as_raw_fd());
        let wd = inotify::add_watch(&self.inotify, proc_path.as_str(), flags | inotify::WatchFlags::MASK_ADD).map_err(
            |e| Error::Io {
                op: "watch (inotify)".into(),
                path: dir.path().to_path_buf(),
                cause: e.into(),
                hint: (e == Errno::NOSPC).then(|| {
                    "the inotify watch limit is reached: raise /proc/sys/fs/inotify/max_user_watches".to_string()
                }),
            },
        )?;
        let r = self.wds.entry(wd).or_default();
        r.at = Some((path.clone(), place));
        role(r);
        Ok(wd)
    }

    /// Attaches one hierarchy directory of a group: inotify, the v1 OOM eventfd, PSI triggers.
    fn attach(&mut self, id: usize, place: Place, controllers: Option<BTreeSet<Controller>>) -> Result<()> {
        let Some(g) = &self.groups[id] else { return Ok(()) };
        if g.nodes.iter().any(|n| n.place == place) {
            return Ok(());
        }
        let path = g.path.clone();
        let h = self.h.clone();
        let m = place.mount(&h);
        let dir = m.group_dir(&path)?;
        let controllers = match (controllers, place) {
            (Some(c), _) => c,
            (None, Place::V2) => backend::v2_controllers(&dir)?,
            (None, Place::V1(i)) => self.h.v1_mounts()[i].controllers.clone(),
        };
        // v2: every interface file of the group reports changes on the directory watch.
        // v1 files send no inotify events, so nothing is watched there but removal.
        let wd = if place == Place::V2 {
            // IN_ATTRIB: the policy actions counted on the directory (crate::ledger).
            let flags = inotify::WatchFlags::MODIFY | inotify::WatchFlags::ATTRIB;
            Some(self.add_watch(&dir, &path, place, flags, |r| r.group = Some(id))?)
        } else {
            None
        };
        // Removal: kernfs sends no IN_DELETE_SELF, but the parent sees IN_DELETE.
        if let Some(parent) = path.parent() {
            let pdir = m.group_dir(&parent)?;
            self.add_watch(&pdir, &parent, place, inotify::WatchFlags::DELETE | inotify::WatchFlags::ONLYDIR, |_| {})?;
        }
        if place != Place::V2 && controllers.contains(&Controller::Memory) {
            let efd =
                rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK)
                    .map_err(|e| sys("create an eventfd", e))?;
            backend::v1_register_oom_eventfd(&dir, efd.as_fd())?;
            self.add_source(Source::OomEventfd { group: id, fd: efd }, epoll::EventFlags::IN)?;
        }
        if place == Place::V2 {
            for t in self.opts.triggers.clone() {
                let fd = dir.open(t.resource.file(), OFlags::RDWR | OFlags::NONBLOCK)?;
                crate::cgroupfs::write_once(&fd, &t.kernel_text()).map_err(|e| psi_error(&dir, &t, e))?;
                // EPOLLPRI only: a pressure file is always readable.
                self.add_source(Source::Psi { group: id, fd, trigger: t }, epoll::EventFlags::PRI)?;
            }
        }
        if let Some(g) = self.groups[id].as_mut() {
            g.nodes.push(NodeWatch { place, controllers, dir, wd });
        }
        Ok(())
    }

    fn add_source(&mut self, s: Source, flags: epoll::EventFlags) -> Result<()> {
        let slot = self.sources.iter().position(Option::is_none).unwrap_or_else(|| {
            self.sources.push(None);
            self.sources.len() - 1
        });
        epoll::add(&self.epoll, s.fd(), epoll::EventData::new_u64(slot as u64 + 1), flags)
            .map_err(|e| sys("watch an event fd", e))?;
        self.sources[slot] = Some(s);
        Ok(())
    }

    fn drop_source(&mut self, slot: usize) {
        if let Some(s) = self.sources[slot].take() {
            let _ = epoll::delete(&self.epoll, s.fd());
        }
    }

    /// Stops watching a group.
    fn forget(&mut self, id: usize) {
        let Some(g) = self.groups[id].take() else { return };
        self.by_path.remove(&g.path);
        for n in &g.nodes {
            if let Some(wd) = n.wd {
                if let Some(r) = self.wds.get_mut(&wd) {
                    r.group = None;
                }
            }
        }
        for slot in 0..self.sources.len() {
            if self.sources[slot].as_ref().is_some_and(|s| s.group() == id) {
                self.drop_source(slot);
            }
        }
    }

    fn push(&mut self, id: usize, kind: EventKind) {
        if let Some(g) = &self.groups[id] {
            self.queue.push_back(Event { time: SystemTime::now(), group: g.path.clone(), kind });
        }
    }

    fn read_inotify(&mut self) -> Result<()> {
        let mut work: Vec<(i32, inotify::ReadFlags, Option<String>)> = Vec::new();
        {
            let mut reader = inotify::Reader::new(&self.inotify, &mut self.inotify_buf);
            loop {
                match reader.next() {
                    Ok(ev) => work.push((
                        ev.wd(),
                        ev.events(),
                        ev.file_name().map(|n| n.to_string_lossy().into_owned()).filter(|n| !n.is_empty()),
                    )),
                    Err(Errno::AGAIN) => break,
                    Err(Errno::INTR) => continue,
                    Err(e) => return Err(sys("read inotify events", e)),
                }
            }
        }
        for (wd, flags, name) in work {
            if flags.contains(inotify::ReadFlags::QUEUE_OVERFLOW) {
                // Events were lost: read everything again.
                for id in 0..self.groups.len() {
                    self.check_memory(id);
                    self.check_pids(id);
                    self.check_populated(id);
                }
                continue;
            }
            let Some(role) = self.wds.get(&wd).cloned() else { continue };
            if flags.contains(inotify::ReadFlags::IGNORED) {
                self.wds.remove(&wd);
                continue;
            }
            if flags.contains(inotify::ReadFlags::ATTRIB) && name.is_none() {
                if let Some(id) = role.group {
                    self.check_actions(id);
                }
                continue;
            }
            let (Some((at, place)), Some(name)) = (role.at, name) else { continue };
            if flags.contains(inotify::ReadFlags::CREATE) {
                if let Some(pid) = role.parent {
                    self.child_created(pid, place, &name);
                }
                continue;
            }
            if flags.contains(inotify::ReadFlags::DELETE) {
                if let Some(id) = at.join(&name).ok().and_then(|p| self.by_path.get(&p).copied()) {
                    self.node_gone(id, place);
                }
                continue;
            }
            let Some(id) = role.group else { continue };
            match backend::v2_changed(&name) {
                Some(Changed::Memory) => self.check_memory(id),
                Some(Changed::Pids) => self.check_pids(id),
                Some(Changed::Populated) => self.check_populated(id),
                None => {}
            }
        }
        Ok(())
    }

    /// The policy actions counted on the group's cgroup2 directory: one event per action
    /// whose count grew.
    fn check_actions(&mut self, id: usize) {
        let Some(g) = &self.groups[id] else { return };
        let Some(u) = self.h.unified() else { return };
        let now = crate::ledger::read(&u.mount, &g.path);
        let mut events = Vec::new();
        for (name, total) in &now {
            let before = g.actions.get(name).copied().unwrap_or(0);
            let known = crate::ledger::ACTIONS.iter().find(|a| **a == name.as_str());
            if let (Some(action), true) = (known, *total > before) {
                events.push(EventKind::Policy { action, count: total - before, total: *total });
            }
        }
        if let Some(g) = self.groups[id].as_mut() {
            g.actions = now;
        }
        for e in events {
            self.push(id, e);
        }
    }

    fn child_created(&mut self, parent: usize, place: Place, name: &str) {
        let Ok(path) = self.parents[parent].join(name) else { return };
        let id = self.entry(&path);
        if self.attach(id, place, None).is_err() {
            // Gone again already, or not a group rein can read: nothing to watch.
            if self.groups[id].as_ref().is_some_and(|g| g.nodes.is_empty()) {
                self.forget(id);
            }
            return;
        }
        // A new group's counters start at zero: what they show now happened in it.
        self.settle_new_node(id);
        self.schedule_poll();
    }

    /// After a directory joined a group: read what it adds, reporting counts since zero
    /// for the parts that are new.
    fn settle_new_node(&mut self, id: usize) {
        self.check_memory(id);
        self.check_pids(id);
        if self.groups[id].as_ref().is_some_and(|g| g.populated.is_none()) {
            let p = self.read_populated(id);
            if let Some(g) = self.groups[id].as_mut() {
                g.populated = p;
            }
        }
    }

    fn node_gone(&mut self, id: usize, place: Place) {
        let Some(g) = self.groups[id].as_mut() else { return };
        g.nodes.retain(|n| n.place != place);
        if g.nodes.is_empty() {
            // Only an empty group can be removed; the kernel's cgroup.events notification
            // of that may come after the parent's IN_DELETE.
            if g.populated == Some(true) {
                self.push(id, EventKind::Empty);
            }
            self.push(id, EventKind::Removed);
            self.forget(id);
        }
    }

    fn source_ready(&mut self, slot: usize, flags: epoll::EventFlags) {
        let Some(s) = self.sources.get(slot).and_then(Option::as_ref) else { return };
        let id = s.group();
        let trigger = match s {
            Source::OomEventfd { fd, .. } => {
                let mut buf = [0u8; 8];
                let _ = rustix::io::read(fd, &mut buf);
                None
            }
            Source::Psi { trigger, .. } => Some(*trigger),
        };
        match trigger {
            None => {
                // The eventfd also fires when the group is removed; reading oom_kill then
                // fails and the inotify watch reports the removal.
                self.check_memory(id);
                if let Some(g) = self.groups[id].as_mut() {
                    recheck_for(g, RECHECK_WINDOW_V1);
                }
            }
            // The group's directory is gone: kernfs reports POLLERR from then on.
            Some(_) if flags.contains(epoll::EventFlags::ERR) => self.drop_source(slot),
            Some(t) if flags.contains(epoll::EventFlags::PRI) => self.push(id, EventKind::Pressure(t)),
            Some(_) => {}
        }
    }

    fn read_counters(&self, id: usize) -> Counters {
        let mut c = Counters::default();
        let Some(g) = &self.groups[id] else { return c };
        if let Some(n) = g.node(true, Controller::Memory).or_else(|| g.node(false, Controller::Memory)) {
            backend::memory_counters(n.place, &n.dir, &mut c);
        }
        if let Some(n) = g.node(true, Controller::Pids).or_else(|| g.node(false, Controller::Pids)) {
            backend::pids_counters(&n.dir, &mut c);
        }
        c
    }

    fn read_populated(&self, id: usize) -> Option<bool> {
        let g = self.groups[id].as_ref()?;
        if let Some(n) = g.v2() {
            return backend::v2_populated(&n.dir).ok()?;
        }
        // v1: populated in any hierarchy it lives in (a process may sit in the group's
        // memory directory and elsewhere for cpu).
        let mut out = None;
        for n in &g.nodes {
            match subtree_populated(n.place.mount(&self.h), &g.path) {
                Some(true) => return Some(true),
                Some(false) => out = Some(false),
                None => {}
            }
        }
        out
    }

    fn check_memory(&mut self, id: usize) {
        self.check_counters(id, true);
    }

    fn check_pids(&mut self, id: usize) {
        self.check_counters(id, false);
    }

    fn check_counters(&mut self, id: usize, memory: bool) {
        let Some(g) = &self.groups[id] else { return };
        let old = g.counters;
        let new = self.read_counters(id);
        let delta = |o: Option<u64>, n: Option<u64>| match (o, n) {
            (Some(o), Some(n)) if n > o => Some((n - o, n)),
            (None, Some(n)) if n > 0 => Some((n, n)),
            _ => None,
        };
        let mut kinds = Vec::new();
        let mut merged = old;
        if memory {
            if let Some((count, total)) = delta(old.max, new.max) {
                kinds.push(EventKind::MemoryMax { count, total });
            }
            if let Some((count, total)) = delta(old.high, new.high) {
                kinds.push(EventKind::MemoryHigh { count, total });
            }
            let oom = delta(old.oom, new.oom);
            if let Some((count, total)) = oom {
                kinds.push(EventKind::Oom { count, total });
            }
            let kill = delta(old.oom_kill, new.oom_kill);
            if let Some((count, total)) = kill {
                kinds.push(EventKind::OomKill { count, total });
            }
            // v2: a `max` or `oom` increase means a kill may follow within milliseconds,
            // but its notification may be held back by the kernel's 20 ms rate limit.
            let v2_memory = g.node(true, Controller::Memory).is_some();
            let hint = v2_memory && (oom.is_some() || delta(old.max, new.max).is_some()) && kill.is_none();
            merged = Counters {
                oom: new.oom.or(old.oom),
                oom_kill: new.oom_kill.or(old.oom_kill),
                max: new.max.or(old.max),
                high: new.high.or(old.high),
                ..merged
            };
            if let Some(g) = self.groups[id].as_mut() {
                g.counters = merged;
                if hint {
                    recheck_for(g, RECHECK_WINDOW_V2);
                }
            }
        } else {
            if let Some((count, total)) = delta(old.pids_max, new.pids_max) {
                kinds.push(EventKind::PidsMax { count, total });
            }
            merged.pids_max = new.pids_max.or(old.pids_max);
            if let Some(g) = self.groups[id].as_mut() {
                g.counters = merged;
            }
        }
        for k in kinds {
            self.push(id, k);
        }
    }

    fn check_populated(&mut self, id: usize) {
        let Some(g) = &self.groups[id] else { return };
        let old = g.populated;
        let new = self.read_populated(id);
        if old == Some(true) && new == Some(false) {
            // What happened before the group emptied is reported before it: an OOM kill's
            // memory.events notification may still be held back by the kernel's rate limit
            // (20 ms per file) when cgroup.events already says the victim is gone.
            self.check_memory(id);
            self.check_pids(id);
            self.push(id, EventKind::Empty);
        }
        if let (Some(g), Some(_)) = (self.groups[id].as_mut(), new) {
            g.populated = new;
        }
    }
}

/// Re-reads a group's memory counters every [`RECHECK_INTERVAL`] for `window`.
fn recheck_for(g: &mut Watched, window: Duration) {
    let now = Instant::now();
    let until = g.recheck.map_or(now + window, |(_, u)| u.max(now + window));
    g.recheck = Some((now + RECHECK_INTERVAL, until));
}

fn psi_error(dir: &GroupDir, t: &PressureTrigger, e: Errno) -> Error {
    let hint = match e {
        Errno::INVAL => "the kernel refused the trigger: the window must be 500ms..10s, the threshold at most the \
                         window, and without CAP_SYS_RESOURCE the window a multiple of 2s"
            .to_string(),
        Errno::PERM | Errno::ACCESS => {
            "creating PSI triggers needs CAP_SYS_RESOURCE on kernels before 6.5; run as root".to_string()
        }
        Errno::OPNOTSUPP => {
            "PSI is off: 'psi=0' on the kernel command line, or 0 in the group's cgroup.pressure".into()
        }
        Errno::BUSY => "a trigger is set on this file descriptor already".into(),
        _ => String::new(),
    };
    Error::Io {
        op: format!("set the pressure trigger {t} ('{}') on", t.kernel_text()),
        path: dir.path().join(t.resource.file()),
        cause: e.into(),
        hint: (!hint.is_empty()).then_some(hint),
    }
}

/// Whether a v1 group or a descendant holds a process (v1 has no `populated` flag).
fn subtree_populated(m: &crate::cgroupfs::Mount, g: &GroupPath) -> Option<bool> {
    let t = m.read(g, backend::PROCS).ok()?;
    if !t.trim().is_empty() {
        return Some(true);
    }
    for child in m.children(g).ok()? {
        if subtree_populated(m, &g.join(&child).ok()?)? {
            return Some(true);
        }
    }
    Some(false)
}

impl Iterator for Watcher {
    type Item = Result<Event>;

    /// Blocks for the next event; ends when nothing is watched any more.
    fn next(&mut self) -> Option<Result<Event>> {
        self.wait(None).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeTree, Layout};

    fn write(tree: &FakeTree, rel: &str, text: &str) {
        std::fs::write(tree.path().join(rel), text).unwrap();
    }

    /// A fake v2 tree with group p/g, and a watcher of p/g.
    fn watch_v2_group() -> (FakeTree, Watcher) {
        let tree = FakeTree::new(Layout::V2);
        tree.group("p/g");
        let h = tree.hierarchy();
        let mut w = Watcher::new(h.clone(), Options::default()).unwrap();
        w.add(&Group::open(h, &GroupPath::parse("p/g").unwrap()).unwrap()).unwrap();
        (tree, w)
    }

    fn next(w: &mut Watcher) -> Option<Event> {
        w.wait(Some(Duration::from_secs(2))).unwrap()
    }

    /// On a fake v2 tree the watcher sees the same inotify events a kernel sends (a
    /// write to memory.events modifies the file), and reports deltas of the group's own
    /// counters.
    #[test]
    fn v2_counter_deltas_become_events() {
        let (tree, mut w) = watch_v2_group();
        // The parent's counters are not the group's.
        write(&tree, "p/memory.events", "low 0\nhigh 0\nmax 9\noom 3\noom_kill 0\noom_group_kill 0\n");
        write(&tree, "p/g/memory.events", "low 0\nhigh 0\nmax 2\noom 0\noom_kill 1\noom_group_kill 0\n");
        let e = next(&mut w).unwrap();
        assert_eq!(e.kind, EventKind::MemoryMax { count: 2, total: 2 });
        assert_eq!(e.group.as_str(), "p/g");
        assert_eq!(next(&mut w).unwrap().kind, EventKind::OomKill { count: 1, total: 1 });
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event"], "memory_max");
        assert_eq!(json["group"], "/p/g");
        write(&tree, "p/g/pids.events", "max 4\n");
        assert_eq!(next(&mut w).unwrap().kind, EventKind::PidsMax { count: 4, total: 4 });
        write(&tree, "p/g/cgroup.events", "populated 1\nfrozen 0\n");
        assert_eq!(w.wait(Some(Duration::from_millis(50))).unwrap(), None, "becoming populated is no event");
        write(&tree, "p/g/cgroup.events", "populated 0\nfrozen 0\n");
        assert_eq!(next(&mut w).unwrap().kind, EventKind::Empty);
        assert_eq!(w.wait(Some(Duration::from_millis(50))).unwrap(), None);
    }

    /// The kernel rate-limits notifications per file (20 ms): the cgroup.events change of
    /// an OOM victim's exit can arrive before memory.events' oom_kill change. The kill is
    /// still reported before the group's emptying, and only once.
    #[test]
    fn an_oom_kill_is_reported_before_the_emptying_it_caused() {
        let (tree, mut w) = watch_v2_group();
        write(&tree, "p/g/cgroup.events", "populated 1\nfrozen 0\n");
        assert_eq!(w.wait(Some(Duration::from_millis(50))).unwrap(), None);
        // Notifications in the order a rate-limited kernel may send them.
        write(&tree, "p/g/cgroup.events", "populated 0\nfrozen 0\n");
        write(&tree, "p/g/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
        let kinds: Vec<_> =
            std::iter::from_fn(|| w.wait(Some(Duration::from_millis(100))).unwrap()).map(|e| e.kind.name()).collect();
        assert_eq!(kinds, ["memory_max", "oom", "oom_kill", "empty"]);
    }

    #[test]
    fn v1_counters_are_polled_and_removal_ends_the_stream() {
        let tree = FakeTree::new(Layout::V1);
        let dirs = tree.group("g");
        let h = tree.hierarchy();
        let opts = Options { poll_interval: Duration::from_millis(10), ..Options::default() };
        let mut w = Watcher::new(h.clone(), opts).unwrap();
        w.add(&Group::open(h, &GroupPath::parse("g").unwrap()).unwrap()).unwrap();
        // The OOM eventfd was registered the v1 way.
        let ctl = std::fs::read_to_string(tree.path().join("memory/g/cgroup.event_control")).unwrap_or_default();
        assert!(ctl.split_whitespace().count() == 2, "cgroup.event_control: {ctl:?}");
        write(&tree, "memory/g/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
        write(&tree, "pids/g/pids.events", "max 1\n");
        let mut kinds: Vec<EventKind> = (0..2).filter_map(|_| next(&mut w)).map(|e| e.kind).collect();
        kinds.sort_by_key(|k| k.name());
        assert_eq!(kinds, [EventKind::OomKill { count: 2, total: 2 }, EventKind::PidsMax { count: 1, total: 1 }]);
        write(&tree, "cpu/g/cgroup.procs", "42\n");
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(w.wait(Some(Duration::from_millis(30))).unwrap(), None);
        write(&tree, "cpu/g/cgroup.procs", "");
        assert_eq!(next(&mut w).unwrap().kind, EventKind::Empty);
        for d in dirs {
            std::fs::remove_dir_all(d).unwrap();
        }
        assert_eq!(next(&mut w).unwrap().kind, EventKind::Removed);
        assert!(w.next().is_none(), "nothing left to watch");
    }

    #[test]
    fn follow_children_reports_new_groups_from_zero() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("rein");
        let h = tree.hierarchy();
        let mut w = Watcher::new(h.clone(), Options::default()).unwrap();
        w.follow_children(&Group::open(h, &GroupPath::parse("rein").unwrap()).unwrap()).unwrap();
        // A group made after the watcher started, with a kill already counted.
        let dir = tree.path().join("rein/run-1");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("cgroup.controllers"), "memory\n").unwrap();
        std::fs::write(dir.join("memory.events"), "oom 1\noom_kill 1\n").unwrap();
        let mut kinds = Vec::new();
        while let Some(e) = w.wait(Some(Duration::from_millis(300))).unwrap() {
            assert_eq!(e.group.as_str(), "rein/run-1");
            kinds.push(e.kind);
        }
        assert!(kinds.contains(&EventKind::OomKill { count: 1, total: 1 }), "{kinds:?}");
    }

    #[test]
    fn triggers_need_cgroup2() {
        let tree = FakeTree::new(Layout::V1);
        let t = PressureTrigger::parse("memory:some:150ms/2s").unwrap();
        let e = Watcher::new(tree.hierarchy(), Options { triggers: vec![t], ..Options::default() }).unwrap_err();
        assert!(e.to_string().contains("a pressure trigger is not supported on cgroup v1"), "{e}");
    }
}
