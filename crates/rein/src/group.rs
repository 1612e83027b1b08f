//! [`Group`]: a cgroup across every hierarchy it lives in, and its life cycle.
//!
//! On v2 a group is one directory. On v1 it is one directory per hierarchy that holds a
//! controller it needs. On a hybrid host it is both: the cgroup2 directory carries the
//! v2 core (`clone3` into the group, `cgroup.kill`, `cgroup.freeze`, pressure, populated
//! events) and the v1 directories carry the limits of the controllers bound there.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::OFlags;
use rustix::io::Errno;

use crate::backend;
use crate::cgroupfs::{FileSource, GroupDir, GroupPath, Mount};
use crate::error::{Error, Result};
pub use crate::hierarchy::Node;
use crate::hierarchy::{Binding, Controller, Hierarchy, Mode};
use crate::launch;
use crate::plan::{Action, Place, Plan};
use crate::resources::Resources;
use crate::stats::Stats;

/// How long [`Group::kill`] and [`Group::remove`] wait for the kernel before giving up.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one round of [`Group::kill`] waits for a freeze to complete before it kills
/// by pid all the same.
const FREEZE_WAIT: Duration = Duration::from_secs(1);

/// How [`Group::kill`] kills a group, from what the group offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KillMethod {
    /// Write `cgroup.kill` first.
    pub kill_file: bool,
    /// Then, for whatever is left, freeze through this place before listing pids.
    pub freeze: Option<Place>,
}

/// The decision behind [`Group::kill`]: `cgroup.kill` where the cgroup2 directory has it
/// (Linux 5.14; the kernel kills, no pid is read). Every other kill lists pids and signals
/// them, and a pid read from `cgroup.procs` can belong to another process by the time the
/// signal is sent: the listed process exits, its parent (outside the group) reaps it, and
/// the pid is reused. So the group is frozen first and the pids are read only once the
/// kernel says it is frozen: a frozen process cannot exit, so its pid stays its own until
/// it is killed. The v1 freezer holds even a process someone else SIGKILLs meanwhile
/// (killed tasks die only once thawed); v2's `cgroup.freeze` (5.2) lets fatal signals
/// through, so there only a third party's SIGKILL in that instant could free a pid.
///
/// Freezing was chosen over pidfds (open a pidfd per pid, check /proc/PID/cgroup, signal
/// through the pidfd): the hosts that lack `cgroup.kill` are v1 hosts and kernels before
/// 5.14, many older than pidfd_send_signal (5.1) and pidfd_open (5.3), while the v1
/// freezer exists since 2.6.28. A frozen group also cannot fork while it is being killed,
/// which signalling pid by pid cannot stop.
///
/// After `cgroup.kill`, what is left is in a v1 hierarchy alone, where only the v1
/// freezer reaches. A process in a v1 directory but not in the group's freezer directory
/// (moved by hand into one hierarchy) is signalled by pid without that protection, and so
/// is everything where the group has no freezer at all (v1 without a freezer hierarchy,
/// v2 before 5.2): transient groups get a freezer directory where they need one
/// ([`kill_needs_v1_freezer`]).
pub(crate) fn kill_method(kill_file: bool, v2_freeze: bool, v1_freezer: Option<Place>) -> KillMethod {
    let freeze = if v2_freeze && !kill_file { Some(Place::V2) } else { v1_freezer };
    KillMethod { kill_file, freeze }
}

/// Whether a group on this host needs a directory in the v1 freezer hierarchy to be
/// killed without racing pid reuse (see [`Group::kill`]): where there is no cgroup2 mount (pure
/// v1), or the kernel is older than 5.2 (no `cgroup.freeze`, and so no `cgroup.kill`
/// either). `rein run` adds the freezer to its transient groups there; elsewhere the
/// cgroup2 core does the work and a v1 freezer directory would only cost a mkdir.
pub fn kill_needs_v1_freezer(h: &Hierarchy) -> bool {
    needs_v1_freezer(h.unified().is_some(), crate::hierarchy::kernel_version())
}

fn needs_v1_freezer(has_cgroup2: bool, kernel: (u32, u32)) -> bool {
    !has_cgroup2 || kernel < (5, 2)
}

/// What a new or updated group needs.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// The limits to write.
    pub resources: Resources,
    /// Controllers wanted for accounting only: enabled where available, skipped silently
    /// where not (their statistics are then absent).
    pub accounting: BTreeSet<Controller>,
}

/// A group and the directories it has in each hierarchy.
#[derive(Debug)]
pub struct Group {
    h: Arc<Hierarchy>,
    path: GroupPath,
    nodes: Vec<Node>,
    /// Created by this process and never killed: safe for clone3 (see [`crate::launch`]).
    fresh: AtomicBool,
    /// The directories [`Group::open`] found, kept for reading stats (same order as nodes).
    dirs: Vec<Option<GroupDir>>,
}

fn unavailable(h: &Hierarchy, c: Controller, at: &std::path::Path, root: bool) -> Error {
    let hint = match h.mode() {
        Mode::Unified if root => format!(
            "this kernel's cgroup2 root does not offer '{c}' (see {}/cgroup.controllers); it may be \
             compiled out or bound to a v1 hierarchy",
            at.display()
        ),
        Mode::Unified => format!(
            "'{c}' is not enabled in the parent's cgroup.subtree_control, and rein may not enable it there; \
             ask the owner of the parent group to delegate it"
        ),
        Mode::Hybrid => format!(
            "on this hybrid host '{c}' is bound to neither a v1 hierarchy nor the cgroup2 mount ({})",
            at.display()
        ),
        Mode::Legacy => format!(
            "no v1 hierarchy mounts '{c}'; mount one, e.g. 'mount -t cgroup -o {} cgroup /sys/fs/cgroup/{}'",
            c.v1_name(),
            c.v1_name()
        ),
    };
    Error::ControllerUnavailable { controller: c.to_string(), path: at.to_path_buf(), hint }
}

impl Group {
    /// Plans creating (`must_be_new`) or updating the group at `path` so it carries
    /// `spec`. Reads the tree; writes nothing. The returned nodes are where the group
    /// lives once the plan has run.
    pub fn plan(h: &Hierarchy, path: &GroupPath, spec: &Spec, must_be_new: bool) -> Result<(Plan, Vec<Node>)> {
        let r = &spec.resources;
        r.validate()?;
        let mut required = r.controllers();
        if r.freeze.is_some() && h.unified().is_none() {
            required.insert(Controller::Freezer);
        }
        let mut v2_set = BTreeSet::new();
        let mut program_devices = false;
        let mut v1_sets: BTreeMap<usize, BTreeSet<Controller>> = BTreeMap::new();
        for (c, needed) in required.iter().map(|c| (*c, true)).chain(spec.accounting.iter().map(|c| (*c, false))) {
            match h.binding(c) {
                Some(Binding::V2(_)) => {
                    v2_set.insert(c);
                }
                Some(Binding::V1(m)) => {
                    let i = h.v1_mounts().iter().position(|x| std::ptr::eq(x, m)).unwrap_or(0);
                    v1_sets.entry(i).or_default().extend(m.controllers.iter().copied().filter(|x| *x == c));
                }
                // cgroup2 has no devices controller: a BPF program on the group's
                // directory controls device access there.
                None if c == Controller::Devices && h.unified().is_some() => program_devices = true,
                None if needed => {
                    let at = h.unified().map(|u| u.mount.path()).unwrap_or(std::path::Path::new("/sys/fs/cgroup"));
                    return Err(unavailable(h, c, at, true));
                }
                None => {}
            }
        }

        // On v1 a process is bound only by the hierarchies it is placed in: under a
        // parent that restricts devices, the group joins the devices hierarchy too, so the
        // parent's rules bind it as they do on v2 (where every program up the tree runs)
        // whether or not it has rules of its own. A parent whose list allows every device
        // (`a *:* rwm`: rein's own `rein` parent, and most) is not joined: a v1 migration
        // costs an RCU grace period, and there is nothing to inherit. (The kernel does not
        // list what such a parent denies; a group under one without rules of its own stays
        // where its creator was in that hierarchy.)
        // (A group with rules of its own is there already: no read.)
        if let (Some(Binding::V1(m)), false) = (h.binding(Controller::Devices), required.contains(&Controller::Devices))
        {
            let restricting = path.lineage().iter().rev().nth(1).is_some_and(|p| {
                !p.is_root()
                    && m.mount
                        .read(p, crate::backend::DEVICES_LIST_V1)
                        .is_ok_and(|list| crate::devices::Effective::from_v1_list(&list).is_some())
            });
            if restricting {
                let i = h.v1_mounts().iter().position(|x| std::ptr::eq(x, m)).unwrap_or(0);
                v1_sets.entry(i).or_default().insert(Controller::Devices);
            }
        }

        if !r.network.is_empty() && h.unified().is_none() {
            return Err(Error::Unsupported {
                what: "network control".into(),
                mode: "v1 without cgroup2".into(),
                reason: "rein limits and marks a group's traffic with cgroup BPF programs, which attach to \
                         cgroup2 directories, and this host mounts no cgroup2 hierarchy. With v1 alone, use \
                         net_cls and tc: 'cgset -r net_cls.classid=0x100010 GROUP', then 'tc qdisc add dev DEV \
                         root handle 10: htb; tc class add dev DEV parent 10: classid 10:10 htb rate 10mbit; \
                         tc filter add dev DEV parent 10: handle 1: cgroup'"
                    .into(),
            });
        }

        let mut plan = Plan::new();
        let mut nodes = Vec::new();
        if let Some(u) = h.unified() {
            let enabled = backend::plan_v2(
                &u.mount,
                &u.controllers,
                path,
                r,
                &required,
                &v2_set,
                must_be_new,
                program_devices,
                &mut plan,
            )?;
            nodes.push(Node { place: Place::V2, controllers: enabled });
        }
        for (i, set) in v1_sets {
            backend::plan_v1(h, i, path, r, &set, must_be_new, &mut plan)?;
            nodes.push(Node { place: Place::V1(i), controllers: set });
        }
        if let Some(freeze) = r.freeze {
            let place = if h.unified().is_some() {
                Place::V2
            } else {
                let i = nodes.iter().find(|n| n.controllers.contains(&Controller::Freezer)).map(|n| n.place);
                i.unwrap_or(Place::V1(0))
            };
            let write = backend::freeze_write(place, freeze);
            let previous = existing_value(h, place, path, &write.file);
            plan.push(Action::Write { place, group: path.clone(), write, previous, if_empty: false });
        }
        Ok((plan, nodes))
    }

    /// Creates the group at `path` with `spec`, enabling controllers down the path and
    /// creating missing ancestors. Fails if it exists. Nothing is left behind on failure.
    pub fn create(h: Arc<Hierarchy>, path: &GroupPath, spec: &Spec) -> Result<Group> {
        let (plan, nodes) = Group::plan(&h, path, spec, true)?;
        plan.execute(&h)?;
        Ok(Group { h, path: path.clone(), nodes, fresh: AtomicBool::new(true), dirs: Vec::new() })
    }

    /// Opens an existing group: every hierarchy where its directory exists.
    pub fn open(h: Arc<Hierarchy>, path: &GroupPath) -> Result<Group> {
        // Opening each directory (O_PATH) is the existence check, and the fds are kept
        // for reading stats: `rein stat` of many groups pays one lookup per directory.
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        // A path that exists but cannot be reached (a symlink or mount point in it, no
        // permission) is reported as such, not as a missing group.
        let mut unreachable: Option<Error> = None;
        let mut note = |e: Error| {
            if e.errno() != Some(libc::ENOENT) && unreachable.is_none() {
                unreachable = Some(e);
            }
        };
        if let Some(u) = h.unified() {
            let found = u.mount.group_dir(path).map_err(&mut note);
            if let Ok(dir) = found {
                let controllers = backend::v2_controllers(&dir).unwrap_or_default();
                nodes.push(Node { place: Place::V2, controllers });
                dirs.push(Some(dir));
            }
        }
        for (i, m) in h.v1_mounts().iter().enumerate() {
            if let Ok(dir) = m.mount.group_dir(path).map_err(&mut note) {
                nodes.push(Node { place: Place::V1(i), controllers: m.controllers.clone() });
                dirs.push(Some(dir));
            }
        }
        if let Some(e) = unreachable {
            return Err(e);
        }
        if nodes.is_empty() {
            return Err(Error::state(
                format!("no group {path}"),
                Some("see 'rein ls' for the groups that exist".into()),
            ));
        }
        Ok(Group { h, path: path.clone(), nodes, fresh: AtomicBool::new(false), dirs })
    }

    /// Plans a live change of limits (creating directories in hierarchies the group lacks).
    pub fn plan_update(&self, spec: &Spec) -> Result<Plan> {
        Group::plan(&self.h, &self.path, spec, false).map(|(p, _)| p)
    }

    /// Changes limits live. On failure, values already changed are restored.
    pub fn update(&mut self, spec: &Spec) -> Result<()> {
        let (plan, nodes) = Group::plan(&self.h, &self.path, spec, false)?;
        plan.execute(&self.h)?;
        self.dirs.clear();
        for n in nodes {
            match self.nodes.iter_mut().find(|x| x.place == n.place) {
                Some(x) => x.controllers.extend(n.controllers),
                None => self.nodes.push(n),
            }
        }
        Ok(())
    }

    /// The group's path.
    pub fn path(&self) -> &GroupPath {
        &self.path
    }

    /// The hierarchy.
    pub fn hierarchy(&self) -> &Arc<Hierarchy> {
        &self.h
    }

    /// The directories of the group.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    fn mount(&self, place: Place) -> &Mount {
        place.mount(&self.h)
    }

    fn v2_node(&self) -> Option<&Node> {
        self.nodes.iter().find(|n| n.place == Place::V2)
    }

    fn node_with(&self, c: Controller) -> Option<&Node> {
        self.nodes.iter().find(|n| n.controllers.contains(&c))
    }

    /// Opens what [`launch::spawn`] needs to put a child in this group: the v2 directory
    /// for clone3 when the group is fresh, else `cgroup.procs` files.
    pub fn attach_fds(&self) -> Result<AttachFds> {
        let mut out = AttachFds { dir: None, procs: Vec::new(), procs_paths: Vec::new(), procs_places: Vec::new() };
        for n in &self.nodes {
            let m = self.mount(n.place);
            if n.place == Place::V2 && self.fresh.load(Ordering::Relaxed) {
                out.dir = Some(m.open_dir(&self.path)?);
            } else {
                out.procs.push(m.open_file(&self.path, backend::PROCS, OFlags::WRONLY)?);
                out.procs_paths.push(m.file_path(&self.path, backend::PROCS));
                out.procs_places.push(n.place);
            }
        }
        Ok(out)
    }

    /// The `cgroup.procs` file of each of the group's directories, in the order of
    /// [`Group::nodes`]: writing a pid into each moves that process into the group (what a
    /// dry run shows, and what a process joining by hand writes).
    pub fn procs_files(&self) -> Vec<std::path::PathBuf> {
        self.nodes.iter().map(|n| self.mount(n.place).file_path(&self.path, backend::PROCS)).collect()
    }

    /// Moves a process (all its threads) into the group, in every hierarchy.
    pub fn add_pid(&self, pid: u32) -> Result<()> {
        for n in &self.nodes {
            self.mount(n.place).write(&self.path, backend::PROCS, &pid.to_string())?;
        }
        Ok(())
    }

    /// The processes in the group itself (not in child groups), in any of its
    /// directories: rein puts a process in all of them, but a libcgroup tool or a write
    /// by hand may have put it in some v1 hierarchies only.
    pub fn procs(&self) -> Result<Vec<u32>> {
        let mut out = BTreeSet::new();
        for n in &self.nodes {
            match backend::read_procs(self.mount(n.place), &self.path) {
                Ok(p) => out.extend(p),
                Err(e) if e.errno() == Some(libc::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out.into_iter().collect())
    }

    /// True while any of the group's directories exists.
    pub fn exists(&self) -> bool {
        self.nodes.iter().any(|n| self.mount(n.place).exists(&self.path))
    }

    /// True if any process is in the group or below it.
    pub fn is_populated(&self) -> Result<bool> {
        if let Some(n) = self.v2_node() {
            let i = self.nodes.iter().position(|x| x.place == n.place).unwrap_or(0);
            if let Ok(Some(populated)) = self.dir(i, n).and_then(|d| backend::v2_populated(&d)) {
                return Ok(populated);
            }
        }
        // v1: no populated flag; look at this group and every descendant.
        for n in &self.nodes {
            if self.subtree_has_procs(self.mount(n.place), &self.path)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn subtree_has_procs(&self, m: &Mount, g: &GroupPath) -> Result<bool> {
        match backend::read_procs(m, g) {
            Ok(p) if !p.is_empty() => return Ok(true),
            Ok(_) => {}
            // Removed meanwhile (see children_if_there): nothing in it.
            Err(e) if e.errno() == Some(libc::ENOENT) && !g.eq(&self.path) => return Ok(false),
            Err(e) => return Err(e),
        }
        for child in children_if_there(m, g)? {
            if self.subtree_has_procs(m, &g.join(&child)?)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Sends `signal` to every process in the group (not its child groups). Returns how many.
    pub fn signal(&self, signal: i32) -> Result<usize> {
        let mut n = 0;
        for pid in self.procs()? {
            if launch::kill(pid as i32, signal).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Kills every process in the group and its child groups, in every hierarchy, and
    /// waits until it is empty (up to [`SETTLE_TIMEOUT`] in all).
    ///
    /// v2 (and hybrid) writes `cgroup.kill` (Linux 5.14): the kernel kills every process,
    /// new forks too, and no pid is ever read. Without it (v1, older kernels), and for a
    /// process a v1 hierarchy alone holds (a libcgroup tool moved it into one), rein must
    /// list pids and signal them, and a pid read can be reaped and reused before the signal
    /// lands: so the group is frozen first (`cgroup.freeze`, or the v1 freezer), and its
    /// pids are read only once the kernel says it is frozen; a frozen process cannot exit,
    /// so its pid stays its own until it is killed. Then the group is thawed. Where the
    /// group cannot be frozen (v1 without a freezer directory, v2 before 5.2), it is killed
    /// by pid as it is.
    pub fn kill(&self) -> Result<()> {
        self.fresh.store(false, Ordering::Relaxed);
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let method = self.kill_method();
        if method.kill_file {
            let m = self.mount(Place::V2);
            m.write(&self.path, backend::KILL, "1")?;
            self.wait_empty_until(deadline)?;
            if self.all_pids()?.is_empty() {
                return Ok(());
            }
        }
        let mut pause = Duration::from_micros(200);
        loop {
            // Freeze first, and wait until the kernel says frozen: a frozen process cannot
            // exit, so the pid listed next stays its own until the SIGKILL below lands.
            // A freeze that does not complete (a task in D state) does not stop the kill:
            // the group is killed by pid then, as without a freezer.
            if let Some(place) = method.freeze {
                let _ = self.set_frozen(place, true, deadline.min(Instant::now() + FREEZE_WAIT));
            }
            let pids = self.all_pids()?;
            for pid in &pids {
                let _ = launch::kill(*pid as i32, libc::SIGKILL);
            }
            if let Some(place) = method.freeze {
                // On v1 killed tasks die only once thawed; on v2 they die frozen, and the
                // thaw leaves no frozen group behind.
                let _ = self.set_frozen(place, false, deadline);
            }
            if pids.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.stuck("kill"));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// How [`Group::kill`] goes about it here (see [`kill_method`]).
    fn kill_method(&self) -> KillMethod {
        let (freeze, kill) = self
            .v2_node()
            .map(|n| backend::v2_can_freeze_and_kill(self.mount(n.place), &self.path))
            .unwrap_or_default();
        let v1_freezer = self.node_with(Controller::Freezer).map(|n| n.place);
        kill_method(kill, freeze, v1_freezer)
    }

    /// Every process in the group and its child groups, in every hierarchy it lives in.
    pub fn all_procs(&self) -> Result<Vec<u32>> {
        self.all_pids()
    }

    /// Names of the group's child groups, across all its hierarchies, sorted.
    pub fn children(&self) -> Result<Vec<String>> {
        let mut out = BTreeSet::new();
        for n in &self.nodes {
            out.extend(self.mount(n.place).children(&self.path)?);
        }
        Ok(out.into_iter().collect())
    }

    /// The rein mark on the group's directories (the first one found), if any.
    pub fn mark(&self) -> Result<Option<crate::mark::Mark>> {
        for n in &self.nodes {
            if let Some(v) = self.mount(n.place).get_xattr(&self.path, crate::mark::XATTR)? {
                return Ok(crate::mark::Mark::parse(&v).ok());
            }
        }
        Ok(None)
    }

    /// Creates the group like [`Group::create`], marking the directories the plan
    /// creates as rein's: `mark` on the group, [`crate::mark::Mark::Parent`] on
    /// ancestors made on the way.
    pub fn create_marked(h: Arc<Hierarchy>, path: &GroupPath, spec: &Spec, mark: crate::mark::Mark) -> Result<Group> {
        let (mut plan, nodes) = Group::plan(&h, path, spec, true)?;
        plan.mark_new_groups(mark);
        plan.execute(&h)?;
        Ok(Group { h, path: path.clone(), nodes, fresh: AtomicBool::new(true), dirs: Vec::new() })
    }

    fn all_pids(&self) -> Result<Vec<u32>> {
        let mut out = BTreeSet::new();
        for n in &self.nodes {
            collect_pids(self.mount(n.place), &self.path, &mut out)?;
        }
        Ok(out.into_iter().collect())
    }

    fn stuck(&self, what: &str) -> Error {
        Error::state(
            format!("group {} still holds processes {:.1}s after {what}", self.path, SETTLE_TIMEOUT.as_secs_f64()),
            Some("a process may be stuck in uninterruptible sleep (D state) or frozen; see 'ps -o pid,stat,cmd' for the pids in its cgroup.procs".into()),
        )
    }

    fn wait_empty_until(&self, deadline: Instant) -> Result<()> {
        let mut pause = Duration::from_micros(20);
        while self.is_populated()? {
            if Instant::now() > deadline {
                return Err(self.stuck("kill"));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Freezes (`true`) or thaws the group and waits until the kernel reports it done.
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let v2 = self.v2_node().is_some_and(|n| backend::v2_can_freeze_and_kill(self.mount(n.place), &self.path).0);
        let place = match (v2, self.node_with(Controller::Freezer)) {
            (true, _) => Place::V2,
            (false, Some(n)) => n.place,
            (false, None) => {
                return Err(Error::Unsupported {
                    what: "freezing".into(),
                    mode: self.h.mode().to_string(),
                    reason: format!("group {} has no cgroup.freeze and no freezer hierarchy directory", self.path),
                });
            }
        };
        if frozen {
            self.refuse_processes_outside(place)?;
        }
        self.set_frozen(place, frozen, deadline)
    }

    /// Refuses to freeze through `place` when some process of the group (or its child
    /// groups) is not in `place`'s directories: a libcgroup tool or a write by hand put
    /// it in some v1 hierarchies only, and freezing `place` would leave it running while
    /// the freeze reports success.
    fn refuse_processes_outside(&self, place: Place) -> Result<()> {
        let (mut inside, mut elsewhere) = (BTreeSet::new(), BTreeSet::new());
        collect_pids(self.mount(place), &self.path, &mut inside)?;
        for n in self.nodes.iter().filter(|n| n.place != place) {
            collect_pids(self.mount(n.place), &self.path, &mut elsewhere)?;
        }
        let outside: Vec<u32> = elsewhere.difference(&inside).copied().collect();
        if outside.is_empty() {
            return Ok(());
        }
        let dir = self.mount(place).dir_path(&self.path);
        Err(Error::state(
            format!(
                "group {} holds processes outside {} ({}), which freezing there would not stop",
                self.path,
                dir.display(),
                crate::procfs::describe_pids(&outside, &crate::procfs::ProcTable::default())
            ),
            Some(format!(
                "another tool put them in only some of the group's hierarchies; 'rein move {} PID' puts a \
                 process in all of them",
                self.path.as_str()
            )),
        ))
    }

    /// Freezes or thaws through `place` (the cgroup2 directory's `cgroup.freeze`, or the
    /// v1 freezer's `freezer.state`) and waits until the kernel reports it done.
    fn set_frozen(&self, place: Place, frozen: bool, deadline: Instant) -> Result<()> {
        let m = self.mount(place);
        let done = || backend::freeze_done(place, m, &self.path, frozen);
        let write = backend::freeze_write(place, frozen);
        m.write(&self.path, &write.file, &write.value)?;
        let mut pause = Duration::from_micros(50);
        while !done()? {
            if Instant::now() > deadline {
                return Err(self.stuck(if frozen { "freeze" } else { "thaw" }));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Reads the group's accounting from every hierarchy it lives in.
    ///
    /// Each directory is opened once and each file read once. On a hybrid host the
    /// cgroup2 core provides CPU time (`cpu.stat`) and the frozen state, so the v1
    /// cpuacct and freezer files are not read; throttling comes from the v1 cpu
    /// hierarchy.
    pub fn stats(&self) -> Result<Stats> {
        let mut s = backend::read_group_stats(&self.nodes, |i, n| self.dir(i, n))?;
        if self.nodes.iter().any(|n| n.place == Place::V2) {
            // rein's network programs count; listing a group's programs needs privileges,
            // and without them (or programs) there is simply no network figure.
            if let Ok(Some((_, net))) = backend::v2_network(self.mount(Place::V2), &self.path) {
                s.network = Some(net);
            }
        }
        let actions = self.policy_actions();
        s.policy_actions = (!actions.is_empty()).then_some(actions);
        Ok(s)
    }

    /// Node `i`'s directory: the one [`Group::open`] kept, or opened now.
    fn dir(&self, i: usize, n: &Node) -> Result<DirRef<'_>> {
        match self.dirs.get(i).and_then(Option::as_ref) {
            Some(d) => Ok(DirRef::Kept(d)),
            None => Ok(DirRef::Opened(self.mount(n.place).group_dir(&self.path)?)),
        }
    }

    /// The CPU time of every process of the group and its child groups so far, µs: the
    /// cgroup2 core's `cpu.stat` where the group has a cgroup2 directory, else v1
    /// `cpuacct.usage`. One file; None where neither exists for this group.
    pub fn cpu_usage_usec(&self) -> Result<Option<u64>> {
        let place = match (self.v2_node(), self.node_with(Controller::Cpuacct)) {
            (Some(n), _) | (None, Some(n)) => n.place,
            (None, None) => return Ok(None),
        };
        backend::cpu_usage_usec(place, self.mount(place), &self.path)
    }

    /// Whether the group lives in `controller`'s hierarchy, and where.
    pub fn place_of(&self, controller: Controller) -> Option<Place> {
        self.node_with(controller).map(|n| n.place)
    }

    /// Whether the group has a cgroup2 directory (pressure files, `cgroup.kill`).
    pub fn has_v2_dir(&self) -> bool {
        self.v2_node().is_some()
    }

    /// The policy actions counted on the group ([`crate::ledger`]): what an enforcer did
    /// to it, by action name (empty when none).
    pub fn policy_actions(&self) -> std::collections::BTreeMap<String, u64> {
        match self.ledger_node() {
            Some(n) => crate::ledger::read(self.mount(n.place), &self.path),
            None => Default::default(),
        }
    }

    /// Counts one more policy action on the group.
    pub(crate) fn count_action(&self, action: &str) -> Result<()> {
        match self.ledger_node() {
            Some(n) => crate::ledger::bump(self.mount(n.place), &self.path, action),
            None => Ok(()),
        }
    }

    fn ledger_node(&self) -> Option<&Node> {
        self.v2_node().or_else(|| self.nodes.first())
    }

    /// OOM kills counted in the group's own memory files (never an ancestor's).
    pub fn oom_kills(&self) -> Option<u64> {
        let n = self.node_with(Controller::Memory)?;
        backend::oom_kills(n.place, self.mount(n.place), &self.path)
    }

    /// Removes the group's directories. Retries EBUSY (the kernel may still be tearing
    /// down exited tasks) with bounded backoff for up to [`SETTLE_TIMEOUT`]; a group that
    /// is gone already is fine.
    pub fn remove(&self) -> Result<()> {
        self.remove_within(SETTLE_TIMEOUT)
    }

    /// [`Group::remove`], retrying EBUSY for up to `timeout` in all (every directory of the
    /// group within the same time): pauses from 50 µs doubling to at most 50 ms, then the
    /// last EBUSY is returned with its hint.
    pub fn remove_within(&self, timeout: Duration) -> Result<()> {
        self.remove_until(Instant::now() + timeout, false)
    }

    /// Removes the group with every group beneath it, in each hierarchy it has a
    /// directory in, deepest first: what its processes made below it (a command that
    /// organises itself into child groups) goes with it. The groups must hold no
    /// process (kill them first); EBUSY is retried as by [`Group::remove`]. Costs nothing
    /// over [`Group::remove`] for a group without children: they are looked for only
    /// when the kernel refuses the rmdir.
    pub fn remove_tree(&self) -> Result<()> {
        self.remove_until(Instant::now() + SETTLE_TIMEOUT, true)
    }

    /// [`Group::remove_within`] (or, with `children`, [`Group::remove_tree`]) with one
    /// deadline for every directory of the group.
    pub(crate) fn remove_until(&self, deadline: Instant, children: bool) -> Result<()> {
        for n in &self.nodes {
            rmdir_settled(self.mount(n.place), &self.path, deadline, children)?;
        }
        Ok(())
    }

    /// Takes the group's change lock (see [`crate::lock`]): an exclusive flock on each of
    /// its directories, cgroup2 first, then v1 in mount order. Waits up to
    /// [`crate::lock::LOCK_TIMEOUT`] for another process's lock, then fails naming it.
    pub fn lock(&self) -> Result<crate::lock::GroupLock> {
        self.lock_within(crate::lock::LOCK_TIMEOUT)
    }

    /// [`Group::lock`] with another timeout.
    pub fn lock_within(&self, timeout: Duration) -> Result<crate::lock::GroupLock> {
        crate::lock::lock_all(self.lock_dirs()?, timeout, &crate::procfs::ProcTable::default())
    }

    /// The group's directories opened for locking, in the lock order of [`crate::lock`]:
    /// cgroup2 first, then v1 in mount order.
    pub(crate) fn lock_dirs(&self) -> Result<Vec<(OwnedFd, std::path::PathBuf)>> {
        let mut places: Vec<Place> = self.nodes.iter().map(|n| n.place).collect();
        places.sort();
        let mut dirs = Vec::with_capacity(places.len());
        for place in places {
            let m = self.mount(place);
            dirs.push((m.open_dir(&self.path)?, m.dir_path(&self.path)));
        }
        Ok(dirs)
    }
}

/// rmdir of one directory, retrying EBUSY until `deadline` (pauses from 50 µs doubling
/// to 50 ms); with `children`, a directory the kernel refuses because it has child
/// groups loses them first, deepest first. A directory that is gone already is fine.
fn rmdir_settled(m: &Mount, g: &GroupPath, deadline: Instant, children: bool) -> Result<()> {
    let mut pause = Duration::from_micros(50);
    loop {
        match m.try_rmdir(g) {
            Ok(()) | Err(Errno::NOENT) => return Ok(()),
            Err(Errno::BUSY) => {
                let below = if children {
                    match m.children(g) {
                        Ok(c) => c,
                        Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(()),
                        Err(e) => return Err(e),
                    }
                } else {
                    Vec::new()
                };
                if !below.is_empty() {
                    for c in below {
                        rmdir_settled(m, &g.join(&c)?, deadline, true)?;
                    }
                    continue;
                }
                if Instant::now() >= deadline {
                    return m.rmdir(g);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(_) => return m.rmdir(g),
        }
    }
}

fn collect_pids(m: &Mount, g: &GroupPath, out: &mut BTreeSet<u32>) -> Result<()> {
    match backend::read_procs(m, g) {
        Ok(p) => out.extend(p),
        Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    }
    for child in children_if_there(m, g)? {
        collect_pids(m, &g.join(&child)?, out)?;
    }
    Ok(())
}

/// The child groups of `g`, none when `g` went away meanwhile: a child group that a
/// service manager (or anyone) removes between the listing of its parent and the look
/// inside it holds no process (systemd removes a scope's cgroup the moment it empties).
fn children_if_there(m: &Mount, g: &GroupPath) -> Result<Vec<String>> {
    match m.children(g) {
        Err(e) if e.errno() == Some(libc::ENOENT) => Ok(Vec::new()),
        other => other,
    }
}

/// File descriptors that put a child into a group (see [`Group::attach_fds`]).
#[derive(Debug)]
pub struct AttachFds {
    dir: Option<OwnedFd>,
    procs: Vec<OwnedFd>,
    procs_paths: Vec<std::path::PathBuf>,
    procs_places: Vec<Place>,
}

impl AttachFds {
    /// The `cgroup.procs` file behind `procs[i]` of [`AttachFds::as_attach`] (for messages).
    pub fn procs_path(&self, i: usize) -> Option<&std::path::Path> {
        self.procs_paths.get(i).map(|p| p.as_path())
    }

    /// The hierarchy of `procs[i]`.
    pub fn procs_place(&self, i: usize) -> Option<Place> {
        self.procs_places.get(i).copied()
    }

    /// Borrows them in the form [`launch::spawn`] takes.
    pub fn as_attach(&self) -> launch::Attach<'_> {
        launch::Attach {
            cgroup_dir: self.dir.as_ref().map(|f| f.as_fd()),
            procs: self.procs.iter().map(|f| f.as_fd()).collect(),
        }
    }
}

fn existing_value(h: &Hierarchy, place: Place, path: &GroupPath, file: &str) -> Option<String> {
    let m = place.mount(h);
    if m.exists(path) { m.read(path, file).ok() } else { None }
}

/// A group directory [`Group::open`] kept, or one opened for one read of stats.
enum DirRef<'a> {
    Kept(&'a GroupDir),
    Opened(GroupDir),
}

impl FileSource for DirRef<'_> {
    fn read_opt(&self, file: &str) -> Result<Option<String>> {
        match self {
            DirRef::Kept(d) => d.read_opt(file),
            DirRef::Opened(d) => d.read_opt(file),
        }
    }
}

/// Locks every group of `groups` (each in every hierarchy it lives in), in the order
/// of [`crate::lock`]: by path, then cgroup2 before v1 in mount order. A group named twice is locked
/// once. Waits up to `timeout` in all for locks other processes hold.
pub fn lock_groups(groups: &[Group], timeout: Duration) -> Result<crate::lock::GroupLock> {
    let mut order: Vec<&Group> = groups.iter().collect();
    order.sort_by(|a, b| a.path().cmp(b.path()));
    order.dedup_by(|a, b| a.path() == b.path());
    let mut dirs = Vec::new();
    for g in order {
        dirs.extend(g.lock_dirs()?);
    }
    crate::lock::lock_all(dirs, timeout, &crate::procfs::ProcTable::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroupfs::write_log;
    use crate::resources::IoMax;
    use crate::testing::{FakeTree, Layout};
    use crate::units::DeviceNumber;
    use crate::units::{Bytes, CpuList, Limit};

    /// A process another tool put in one v1 hierarchy only (cgclassify -g memory:g) is
    /// one of the group's processes, and a freeze that would not stop it is refused
    /// before anything is written.
    #[test]
    fn a_process_in_some_hierarchies_only_is_listed_and_refuses_a_freeze() {
        let tree = FakeTree::new(Layout::Hybrid);
        tree.group("g");
        let me = std::process::id();
        std::fs::write(tree.path().join("memory/g/cgroup.procs"), format!("{me}\n")).unwrap();
        let g = Group::open(tree.hierarchy(), &GroupPath::parse("g").unwrap()).unwrap();
        assert_eq!(g.procs().unwrap(), [me]);
        let before = tree.snapshot();
        let err = g.freeze(true).unwrap_err();
        let e = err.to_string();
        assert!(e.contains("holds processes outside") && e.contains(&me.to_string()), "{e}");
        assert!(err.hint().is_some_and(|h| h.contains("rein move g PID")), "{:?}", err.hint());
        assert_eq!(tree.snapshot(), before, "a refused freeze wrote something");
    }

    // Plans' rollback, seen through Group: per-device IO undo, kept enables.
    /// Two devices written, then a write that fails: the rollback writes each device's
    /// old line back, or removes the line of a device that had none, one write per
    /// device, for 0, 1 and 2 devices limited before.
    #[test]
    fn a_rollback_restores_io_limits_device_by_device() {
        let dev = |major, minor| DeviceNumber { major, minor };
        let mut r = Resources::new().pids_max(3);
        let mut a = IoMax::new(dev(7, 0));
        a.wbps = Some(Limit::Value(2 << 20));
        let mut b = IoMax::new(dev(8, 16));
        b.rbps = Some(Limit::Value(3 << 20));
        r.io.max = vec![a, b];
        let v2_a = "7:0 rbps=max wbps=1048576 riops=max wiops=max";
        let v2_b = "8:16 rbps=max wbps=max riops=100 wiops=max";
        for layout in [Layout::V2, Layout::V1] {
            let (file, a_line, b_line, a_gone, b_gone, a_new, b_new) = match layout {
                Layout::V2 => (
                    "io.max",
                    v2_a,
                    v2_b,
                    "7:0 rbps=max wbps=max riops=max wiops=max",
                    "8:16 rbps=max wbps=max riops=max wiops=max",
                    "7:0 wbps=2097152",
                    "8:16 rbps=3145728",
                ),
                _ => ("blkio.throttle.write_bps_device", "7:0 1048576", "8:16 5", "7:0 0", "8:16 0", "7:0 2097152", ""),
            };
            for before in [vec![], vec![a_line], vec![a_line, b_line]] {
                let tree = FakeTree::new(layout);
                if layout == Layout::V2 {
                    std::fs::write(tree.path().join("cgroup.subtree_control"), "cpuset cpu io memory pids\n").unwrap();
                }
                tree.group("web");
                let dir = if layout == Layout::V2 { tree.path().join("web") } else { tree.path().join("blkio/web") };
                let text: String = before.iter().map(|l| format!("{l}\n")).collect();
                std::fs::write(dir.join(file), &text).unwrap();
                // The write after the IO limits fails.
                let pids = if layout == Layout::V2 { tree.path().join("web") } else { tree.path().join("pids/web") };
                std::fs::remove_file(pids.join("pids.max")).unwrap();
                let mut g = Group::open(tree.hierarchy(), &GroupPath::parse("web").unwrap()).unwrap();
                write_log::start();
                let e = g.update(&Spec { resources: r.clone(), ..Spec::default() }).unwrap_err();
                let log: Vec<String> =
                    write_log::take().into_iter().filter(|(p, _)| p == &dir.join(file)).map(|(_, v)| v).collect();
                assert!(e.to_string().contains("pids.max"), "{e}");
                assert!(e.hint().is_none_or(|h| !h.contains("could not restore")), "{e:?}");
                let undo_a = if before.is_empty() { a_gone } else { a_line };
                let undo_b = if before.len() == 2 { b_line } else { b_gone };
                let want: Vec<&str> = match layout {
                    Layout::V2 => vec![a_new, b_new, undo_b, undo_a],
                    // v1: a file per key; 8:16's read limit lands in read_bps_device.
                    _ => vec![a_new, undo_a],
                };
                assert_eq!(log, want, "{layout:?} with {} device(s) limited before", before.len());
            }
        }
    }

    /// A controller a plan enabled in an existing directory stays enabled after a
    /// failure, and is reported as kept; directories the plan made are removed with
    /// what was written in them.
    #[test]
    fn a_failure_keeps_controllers_enabled_in_existing_directories_and_says_so() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("t");
        let h = tree.hierarchy();
        let (plan, _) = Group::plan(
            &h,
            &GroupPath::parse("t/new").unwrap(),
            &Spec { resources: Resources::new().pids_max(5), ..Spec::default() },
            true,
        )
        .unwrap();
        // A fake mkdir makes an empty directory: the first write into it fails.
        let f = plan.try_execute(&h).unwrap_err();
        assert!(f.undone(), "{:?}", f.not_undone);
        let root = tree.path().display().to_string();
        let kept: Vec<String> = f.kept.iter().map(|k| k.replace(&root, "")).collect();
        assert_eq!(kept, ["+pids > /cgroup.subtree_control", "+pids > /t/cgroup.subtree_control"]);
        assert_eq!(std::fs::read_to_string(tree.path().join("t/cgroup.subtree_control")).unwrap(), "+pids");
        assert!(!tree.path().join("t/new").exists());
        // No creation record is left on the parent.
        let m = &h.unified().unwrap().mount;
        assert!(crate::mark::creation_records(m, &GroupPath::parse("t").unwrap()).unwrap().is_empty());
    }

    fn spec(r: Resources) -> Spec {
        Spec { resources: r, accounting: [Controller::Memory, Controller::Pids].into() }
    }

    fn lines(tree: &FakeTree, path: &str, r: Resources) -> Vec<String> {
        let h = tree.hierarchy();
        let (plan, _) = Group::plan(&h, &GroupPath::parse(path).unwrap(), &spec(r), true).unwrap();
        let root = tree.path().display().to_string();
        plan.display(&h).to_string().lines().map(|l| l.replace(&root, "")).collect()
    }

    fn r() -> Resources {
        Resources::new().memory_max(Bytes::mib(256)).cpu_percent(20.0).unwrap()
    }

    #[test]
    fn v2_plan_enables_controllers_down_the_path() {
        let tree = FakeTree::new(Layout::V2);
        assert_eq!(
            lines(&tree, "rein/run-1", r()),
            [
                "'+cpu +memory +pids' > /cgroup.subtree_control",
                "mkdir /rein",
                "'+cpu +memory +pids' > /rein/cgroup.subtree_control",
                "mkdir /rein/run-1",
                "268435456 > /rein/run-1/memory.max",
                "'20000 100000' > /rein/run-1/cpu.max",
            ]
        );
    }

    #[test]
    fn v2_plan_skips_what_is_enabled_already() {
        let tree = FakeTree::new(Layout::V2);
        std::fs::write(tree.path().join("cgroup.subtree_control"), "cpu memory pids io\n").unwrap();
        tree.group("rein");
        std::fs::write(tree.path().join("rein/cgroup.subtree_control"), "memory pids cpu\n").unwrap();
        assert_eq!(
            lines(&tree, "rein/run-1", r()),
            ["mkdir /rein/run-1", "268435456 > /rein/run-1/memory.max", "'20000 100000' > /rein/run-1/cpu.max"]
        );
    }

    #[test]
    fn v2_plan_enables_down_through_existing_ancestors() {
        // An earlier run enabled only memory on the way; this one needs pids too: it is
        // enabled in the root and passed down through the existing `rein`, whose
        // cgroup.controllers does not list it yet when the plan is made.
        let tree = FakeTree::new(Layout::V2);
        std::fs::write(tree.path().join("cgroup.subtree_control"), "memory\n").unwrap();
        tree.group("rein");
        std::fs::write(tree.path().join("rein/cgroup.controllers"), "memory\n").unwrap();
        std::fs::write(tree.path().join("rein/cgroup.subtree_control"), "memory\n").unwrap();
        let h = tree.hierarchy();
        let s = Spec { resources: Resources::new().pids_max(5), accounting: [Controller::Memory].into() };
        let (plan, _) = Group::plan(&h, &GroupPath::parse("rein/run-1").unwrap(), &s, true).unwrap();
        let root = tree.path().display().to_string();
        let l: Vec<String> = plan.display(&h).to_string().lines().map(|l| l.replace(&root, "")).collect();
        assert_eq!(
            l,
            [
                "+pids > /cgroup.subtree_control",
                "+pids > /rein/cgroup.subtree_control",
                "mkdir /rein/run-1",
                "5 > /rein/run-1/pids.max"
            ]
        );
    }

    #[test]
    fn v1_plan_copies_cpusets_down_and_writes_each_hierarchy() {
        let tree = FakeTree::new(Layout::V1);
        let mut res = r();
        res.cpuset.cpus = Some(CpuList::parse("1").unwrap());
        assert_eq!(
            lines(&tree, "rein/run-1", res),
            [
                "mkdir /cpu/rein",
                "mkdir /cpu/rein/run-1",
                "100000 > /cpu/rein/run-1/cpu.cfs_period_us",
                "20000 > /cpu/rein/run-1/cpu.cfs_quota_us",
                "mkdir /cpuset/rein",
                "0-1 > /cpuset/rein/cpuset.cpus",
                "0 > /cpuset/rein/cpuset.mems",
                "mkdir /cpuset/rein/run-1",
                "1 > /cpuset/rein/run-1/cpuset.cpus",
                "0 > /cpuset/rein/run-1/cpuset.mems",
                "mkdir /memory/rein",
                "mkdir /memory/rein/run-1",
                "268435456 > /memory/rein/run-1/memory.limit_in_bytes",
                "mkdir /pids/rein",
                "mkdir /pids/rein/run-1",
            ]
        );
    }

    #[test]
    fn procs_files_are_one_per_directory() {
        let tree = FakeTree::new(Layout::Hybrid);
        tree.group("a");
        let g = Group::open(tree.hierarchy(), &GroupPath::parse("a").unwrap()).unwrap();
        let files = g.procs_files();
        assert_eq!(files.len(), g.nodes().len());
        assert!(files.len() > 1, "{files:?}");
        for (f, n) in files.iter().zip(g.nodes()) {
            assert!(f.ends_with("a/cgroup.procs") && f.exists(), "{f:?}");
            assert!(f.starts_with(n.place.mount(g.hierarchy()).path()), "{f:?} {:?}", n.place);
        }
    }

    #[test]
    fn hybrid_plan_uses_cgroup2_for_the_core_and_v1_for_limits() {
        let tree = FakeTree::new(Layout::Hybrid);
        let l = lines(&tree, "rein/run-1", Resources::new().memory_max(Bytes::mib(20)));
        assert_eq!(
            l,
            [
                "mkdir /unified/rein",
                "mkdir /unified/rein/run-1",
                "mkdir /memory/rein",
                "mkdir /memory/rein/run-1",
                "20971520 > /memory/rein/run-1/memory.limit_in_bytes",
                "mkdir /pids/rein",
                "mkdir /pids/rein/run-1",
            ]
        );
        let h = tree.hierarchy();
        let (_, nodes) = Group::plan(&h, &GroupPath::parse("x").unwrap(), &spec(Resources::new()), true).unwrap();
        assert_eq!(nodes[0].place, Place::V2);
    }

    #[test]
    fn refusals_happen_before_any_write() {
        let tree = FakeTree::new(Layout::V2);
        let h = tree.hierarchy();
        let path = GroupPath::parse("rein/x").unwrap();
        // A CPU the parent does not grant.
        let bad = Resources::new().cpus(CpuList::parse("0-7").unwrap());
        let e = Group::plan(&h, &path, &spec(bad), true).unwrap_err();
        assert!(e.to_string().contains("CPU 2-7 not available"), "{e}");
        // A controller the root does not offer.
        std::fs::write(tree.path().join("cgroup.controllers"), "cpu memory\n").unwrap();
        let h = tree.hierarchy();
        let e = Group::plan(&h, &path, &spec(Resources::new().pids_max(5)), true).unwrap_err();
        assert!(matches!(e, Error::ControllerUnavailable { .. }), "{e}");
        // An accounting-only controller that is missing is skipped, not an error.
        Group::plan(&h, &path, &spec(Resources::new()), true).unwrap();
        // v1 cannot express memory.high.
        let v1 = FakeTree::new(Layout::V1);
        let e =
            Group::plan(&v1.hierarchy(), &path, &spec(Resources::new().memory_high(Bytes::mib(1))), true).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        // Existing group with must_be_new.
        v1.group("rein/x");
        let e = Group::plan(&v1.hierarchy(), &path, &spec(Resources::new()), true).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
    }

    #[test]
    fn update_writes_live_and_rolls_back_on_failure() {
        let tree = FakeTree::new(Layout::V2);
        std::fs::write(tree.path().join("cgroup.subtree_control"), "cpuset cpu io memory pids\n").unwrap();
        tree.group("web");
        std::fs::write(tree.path().join("web/memory.max"), "1048576\n").unwrap();
        let h = tree.hierarchy();
        let mut g = Group::open(h.clone(), &GroupPath::parse("web").unwrap()).unwrap();
        g.update(&Spec { resources: Resources::new().memory_max(Bytes::mib(2)).pids_max(9), ..Spec::default() })
            .unwrap();
        assert_eq!(std::fs::read_to_string(tree.path().join("web/memory.max")).unwrap(), "2097152");
        assert_eq!(std::fs::read_to_string(tree.path().join("web/pids.max")).unwrap(), "9");
        // pids.max is removed from the fake: the second write fails and the first is undone.
        std::fs::remove_file(tree.path().join("web/pids.max")).unwrap();
        let e = g
            .update(&Spec { resources: Resources::new().memory_max(Limit::Max).pids_max(3), ..Spec::default() })
            .unwrap_err();
        assert!(e.to_string().contains("pids.max"), "{e}");
        assert_eq!(std::fs::read_to_string(tree.path().join("web/memory.max")).unwrap(), "2097152");
    }

    #[test]
    fn an_update_to_the_same_values_writes_nothing() {
        for layout in [Layout::V2, Layout::V1] {
            let tree = FakeTree::new(layout);
            if layout == Layout::V2 {
                std::fs::write(tree.path().join("cgroup.subtree_control"), "cpuset cpu io memory pids\n").unwrap();
            }
            tree.group("web");
            let h = tree.hierarchy();
            let mut g = Group::open(h.clone(), &GroupPath::parse("web").unwrap()).unwrap();
            let s = Spec { resources: r().pids_max(7), ..Spec::default() };
            assert!(!g.plan_update(&s).unwrap().is_empty());
            g.update(&s).unwrap();
            // The kernel would print "max"/-1 style values back; the fake keeps what was written.
            let again = g.plan_update(&s).unwrap();
            assert!(again.is_empty(), "{layout:?}: {}", again.display(&h));
        }
    }

    #[test]
    fn create_rolls_back_created_directories() {
        // In a fake tree a new directory has no interface files, so the first limit
        // write fails: both directories this plan created must be gone afterwards.
        let tree = FakeTree::new(Layout::V2);
        let h = tree.hierarchy();
        let e = Group::create(h, &GroupPath::parse("a/b").unwrap(), &spec(r())).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
        assert!(!tree.path().join("a").exists());
    }

    #[test]
    fn stats_read_on_fake_trees() {
        for layout in [Layout::V2, Layout::V1, Layout::Hybrid] {
            let tree = FakeTree::new(layout);
            tree.group("g");
            let g = Group::open(tree.hierarchy(), &GroupPath::parse("g").unwrap()).unwrap();
            let s = g.stats().unwrap();
            assert_eq!(s.memory.unwrap().oom_kill, Some(0), "{layout:?}");
            assert_eq!(s.cpu.usage_usec, Some(0), "{layout:?}");
            assert_eq!(g.oom_kills(), Some(0));
            assert!(!g.is_populated().unwrap());
        }
    }

    #[test]
    fn kill_freezes_before_it_lists_pids_wherever_the_kernel_cannot_kill() {
        let v1 = Some(Place::V1(6));
        let m = |kill_file, freeze| KillMethod { kill_file, freeze };
        for (kill_file, v2_freeze, v1_freezer, want) in [
            // 5.14+ cgroup2: the kernel kills; a v1 freezer covers v1-only leftovers.
            (true, true, None, m(true, None)),
            (true, true, v1, m(true, v1)),
            // cgroup2 before 5.14: freeze through cgroup.freeze, then list.
            (false, true, None, m(false, Some(Place::V2))),
            (false, true, v1, m(false, Some(Place::V2))),
            // v1, or cgroup2 before 5.2: the v1 freezer, or nothing to freeze with.
            (false, false, v1, m(false, v1)),
            (false, false, None, m(false, None)),
        ] {
            assert_eq!(kill_method(kill_file, v2_freeze, v1_freezer), want, "{kill_file} {v2_freeze} {v1_freezer:?}");
        }
        // The same decision on the fake trees' groups.
        for (layout, strip, kill_file, v1_freezer) in [
            (Layout::V2, &[][..], true, false),
            (Layout::V2, &["cgroup.kill"][..], false, false),
            (Layout::Hybrid, &[][..], true, true),
            (Layout::V1, &[][..], false, true),
        ] {
            let tree = FakeTree::new(layout);
            let h = tree.hierarchy();
            let freezer = h.v1_mounts().iter().position(|m| m.controllers.contains(&Controller::Freezer));
            let want = match (kill_file, v1_freezer) {
                (true, false) => m(true, None),
                (false, false) => m(false, Some(Place::V2)),
                (k, true) => m(k, freezer.map(Place::V1)),
            };
            let dirs = tree.group("g");
            for f in strip {
                std::fs::remove_file(dirs[0].join(f)).unwrap();
            }
            let g = Group::open(tree.hierarchy(), &GroupPath::parse("g").unwrap()).unwrap();
            assert_eq!(g.kill_method(), want, "{layout:?} without {strip:?}");
        }
    }

    #[test]
    fn transient_groups_need_the_v1_freezer_where_cgroup2_cannot_freeze() {
        assert!(needs_v1_freezer(false, (6, 1)), "pure v1");
        assert!(needs_v1_freezer(true, (4, 19)), "hybrid without cgroup.freeze");
        assert!(!needs_v1_freezer(true, (5, 2)));
        assert!(!needs_v1_freezer(true, (6, 18)));
    }
}
