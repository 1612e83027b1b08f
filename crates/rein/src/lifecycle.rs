//! Named groups through their life: create, change, move processes in, remove.
//!
//! `rein create`, `set`, `move`, `rm` and the libcgroup compat names (cgcreate, cgset,
//! cgexec, cgclassify, cgdelete) are thin layers over these functions. Every change is a
//! [`Plan`] first: `--dry-run` prints it, and executing it either completes or rolls
//! back, so a refused value leaves neither a stray group nor a partial set of limits.
//! The exceptions are what libcgroup's tools write as given, in order, stopping at the
//! first refusal: cgset's cgroup2 core files ([`control_children`], [`move_thread`]),
//! `cgset --copy-from`'s files outside the model ([`copy_unmodelled`]), and the way back
//! of `cgclassify -r` ([`move_back`]).

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::backend;
use crate::cgroupfs::GroupPath;
use crate::compat::libcgroup;
use crate::compat::raw::{Home, RawWrite};
use crate::error::{Error, Result};
use crate::group::{Group, Spec};
use crate::hierarchy::{Binding, Controller, Hierarchy};
use crate::mark::Mark;
use crate::plan::{Action, Place, Plan, Write};
use crate::procfs::{ProcTable, describe_pids};

/// What a create or set asks for.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Limits in the model, and the controllers the group must have.
    pub spec: Spec,
    /// Writes passed through as given (raw names of the running mode), after the
    /// model's writes, in order.
    pub raw: Vec<RawWrite>,
}

impl Change {
    /// The model's settings that a raw write sets too, named (a setting given twice).
    pub(crate) fn conflicts(&self) -> Vec<String> {
        let fields = self.spec.resources.fields();
        self.raw
            .iter()
            .filter_map(|w| crate::compat::raw::field_of(w).filter(|f| fields.contains(f)).map(|f| (f, &w.file)))
            .map(|(f, file)| format!("{f} (and -r {file})"))
            .collect()
    }
}

/// The controllers a named group gets when none are named: every limit controller the
/// host offers, so limits can be added later (v1 adds cpuacct for CPU time and the
/// freezer).
pub fn default_controllers(h: &Hierarchy) -> BTreeSet<Controller> {
    let mut set: BTreeSet<Controller> =
        [Controller::Cpu, Controller::Cpuset, Controller::Memory, Controller::Io, Controller::Pids].into();
    if h.mode() != crate::hierarchy::Mode::Unified {
        set.extend([Controller::Cpuacct, Controller::Freezer]);
    }
    set
}

/// The content of a group's interface file `file` (a name of the running mode, living in
/// `home`), None when the group or the file is absent: what libcgroup's tools and
/// rein.toml's raw settings read as "the value in force". Where device access is a
/// cgroup2 program (no devices hierarchy), `devices.list` is answered from the program
/// attached, as v1 shows it; so are `net_cls.classid` and `net_prio.ifpriomap` from
/// rein's network programs.
pub fn read_file(h: &Hierarchy, path: &GroupPath, home: Home, file: &str) -> Option<String> {
    if home == Home::Controller(Controller::Devices) && h.binding(Controller::Devices).is_none() {
        return backend::v2_devices_list(h, path, file);
    }
    if let Home::Controller(c @ (Controller::NetCls | Controller::NetPrio)) = home {
        if h.binding(c).is_none() {
            return backend::v2_net_file(h, path, file);
        }
    }
    let m = place_of(h, home).ok()?.mount(h);
    if m.exists(path) { m.read(path, file).ok() } else { None }
}

/// Every readable interface file of each controller in `controllers` in an open group,
/// with its content: the controllers in the order given, each one's files (those named
/// `<controller>.*`, by the name of the hierarchy it is in) in the kernel's directory
/// order; what libcgroup's `cgget -g <controllers>:<group>` prints. A controller the host
/// does not bind, or the group has no directory for, is skipped. Files the kernel gives no
/// value to read (refused with EINVAL: `memory.force_empty`, write-only;
/// `memory.pressure_level`, an event file) are listed with an empty value, as libcgroup
/// lists them; other unreadable files are left out.
pub fn controller_files(group: &Group, controllers: &[Controller]) -> Result<Vec<(String, String)>> {
    let h = group.hierarchy();
    let mut out = Vec::new();
    for c in controllers {
        let Ok(place) = place_of(h, Home::Controller(*c)) else { continue };
        if !group.nodes().iter().any(|n| n.place == place) {
            continue;
        }
        let m = place.mount(h);
        let prefix = format!("{}.", if place == Place::V2 { c.v2_name() } else { c.v1_name() });
        for f in m.files(group.path())? {
            if !f.starts_with(&prefix) {
                continue;
            }
            match m.read(group.path(), &f) {
                Ok(v) => out.push((f, v)),
                Err(e) if e.errno() == Some(libc::EINVAL) => out.push((f, String::new())),
                Err(_) => {}
            }
        }
    }
    Ok(out)
}

/// Where a raw write's file lives on this host.
pub fn place_of(h: &Hierarchy, home: Home) -> Result<Place> {
    match home {
        Home::Core if h.unified().is_some() => Ok(Place::V2),
        Home::Core => Err(Error::Unsupported {
            what: "cgroup.* core files".into(),
            mode: h.mode().to_string(),
            reason: "no cgroup2 hierarchy is mounted".into(),
        }),
        Home::Controller(c) => match h.binding(c) {
            Some(Binding::V2(_)) => Ok(Place::V2),
            Some(Binding::V1(m)) => {
                Ok(Place::V1(h.v1_mounts().iter().position(|x| std::ptr::eq(x, m)).unwrap_or_default()))
            }
            None => Err(Error::ControllerUnavailable {
                controller: c.v1_name().into(),
                path: "/proc/self/mountinfo".into(),
                hint: "no hierarchy of this host binds it (see 'rein check')".into(),
            }),
        },
    }
}

fn spec_with_raw(change: &Change) -> Spec {
    let mut spec = change.spec.clone();
    spec.accounting.extend(crate::compat::raw::controllers_of(&change.raw));
    spec
}

fn refuse_conflicts(change: &Change) -> Result<()> {
    let c = change.conflicts();
    if c.is_empty() {
        return Ok(());
    }
    Err(Error::invalid("settings", c.join(", "), "set twice; give each setting once"))
}

fn push_raw(h: &Hierarchy, path: &GroupPath, raw: &[RawWrite], plan: &mut Plan) -> Result<()> {
    for w in raw {
        let place = place_of(h, w.home)?;
        let m = place.mount(h);
        let previous =
            if m.exists(path) { m.read(path, crate::cgroupfs::format::undo_source(&w.file)).ok() } else { None };
        plan.push(Action::Write {
            place,
            group: path.clone(),
            write: Write::new(w.file.clone(), w.value.clone()),
            previous,
            if_empty: false,
        });
    }
    Ok(())
}

/// Plans creating the group at `path`: missing ancestors, controllers enabled down the
/// path, the group in every hierarchy it needs, its limits, then the raw writes, with
/// the new directories marked (`mark` on the group, `parent` on ancestors).
pub fn plan_create(h: &Hierarchy, path: &GroupPath, change: &Change, mark: Mark) -> Result<Plan> {
    refuse_conflicts(change)?;
    let (mut plan, _) = Group::plan(h, path, &spec_with_raw(change), true)?;
    push_raw(h, path, &change.raw, &mut plan)?;
    plan.mark_new_groups(mark);
    Ok(plan)
}

/// Creates the group (see [`plan_create`]); nothing is left behind when a step fails.
pub fn create(h: Arc<Hierarchy>, path: &GroupPath, change: &Change, mark: Mark) -> Result<Group> {
    let plan = plan_create(&h, path, change, mark)?;
    plan.execute(&h)?;
    Group::open(h, path)
}

/// Plans a live change of an existing group. Controllers it lacks are enabled; on v1
/// a hierarchy where it has no directory yet gets one, but only while the group is
/// empty: a new v1 directory starts without the group's processes, so a limit there
/// would silently not apply to them.
pub fn plan_set(group: &Group, change: &Change) -> Result<Plan> {
    refuse_conflicts(change)?;
    let h = group.hierarchy();
    let path = group.path();
    let (mut plan, _) = Group::plan(h, path, &spec_with_raw(change), false)?;
    let new_dirs: Vec<PathBuf> = plan
        .actions()
        .iter()
        .filter_map(|a| match a {
            Action::Mkdir { place, group: g, .. } if g == path => Some(place.mount(h).dir_path(g)),
            _ => None,
        })
        .collect();
    if !new_dirs.is_empty() {
        let pids = group.all_procs()?;
        if !pids.is_empty() {
            return Err(Error::state(
                format!(
                    "group {path} has no directory yet in {} and holds processes ({}); a new v1 directory \
                     would not contain them, so the limit would not apply",
                    new_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
                    describe_pids(&pids, &ProcTable::default())
                ),
                Some(
                    "create groups with every controller they will need (rein create NAME, or -g CONTROLLERS:NAME), \
                     or stop the processes first"
                        .into(),
                ),
            ));
        }
    }
    push_raw(h, path, &change.raw, &mut plan)?;
    // Directories added to a group of rein's carry its mark; a group rein did not make
    // stays unmarked, so it never looks like rein's.
    if let Some(mark) = group.mark()? {
        plan.mark_new_groups(mark);
    }
    join_descendants_to_v1_devices(group, change, &mut plan)?;
    Ok(plan)
}

/// On v1 a group's device rules bind only the processes in its devices directory and
/// beneath it: a child group with no directory in the devices hierarchy (made before its
/// parent restricted, or by a tool that named only some controllers) is not bound. When
/// a change makes `group` deny by default, its existing descendants join the devices
/// hierarchy after the group's own rules are written, parents first: each new directory
/// copies its parent's rules (as on v2, where every program up the tree runs) and carries
/// the descendant's own mark. An empty descendant only, as for the group itself in
/// [`plan_set`]: a populated one is refused, since a new directory would not hold its
/// processes.
fn join_descendants_to_v1_devices(group: &Group, change: &Change, plan: &mut Plan) -> Result<()> {
    let h = group.hierarchy();
    let Some(Binding::V1(m)) = h.binding(Controller::Devices) else { return Ok(()) };
    if change.spec.resources.devices.as_ref().is_none_or(|a| a.effective(&[]).default_allow) {
        return Ok(());
    }
    let place = Place::V1(h.v1_mounts().iter().position(|x| std::ptr::eq(x, m)).unwrap_or_default());
    // Parents first (descendants lists the deepest first); a subtree found empty needs
    // no second look at the groups in it.
    let mut outside: Vec<GroupPath> =
        descendants(h, group.path())?.into_iter().filter(|d| !m.mount.exists(d)).collect();
    outside.reverse();
    let mut empty: Vec<GroupPath> = Vec::new();
    for d in outside {
        let child = Group::open(h.clone(), &d)?;
        if !empty.iter().any(|e| d.starts_with(e)) {
            let pids = child.all_procs()?;
            if !pids.is_empty() {
                return Err(populated_outside_devices(group, &m.mount, &d, &pids));
            }
            empty.push(d.clone());
        }
        plan.push(Action::Mkdir { place, group: d.clone(), must_be_new: false });
        if let Some(mark) = child.mark()? {
            plan.push(Action::Mark { place, group: d, mark });
        }
    }
    Ok(())
}

/// The refusal of [`join_descendants_to_v1_devices`]: `d`, beneath `group`, holds `pids`
/// outside the devices hierarchy `devices`.
fn populated_outside_devices(group: &Group, devices: &crate::cgroupfs::Mount, d: &GroupPath, pids: &[u32]) -> Error {
    Error::state(
        format!(
            "group {d} beneath {} has no directory in the devices hierarchy ({}) and holds processes ({}); the \
             new device rules would not bind them",
            group.path(),
            devices.path().display(),
            describe_pids(pids, &ProcTable::default())
        ),
        Some(format!(
            "stop those processes, or remove group {d}, and set the rules again; groups made beneath {} once it \
             restricts join the devices hierarchy by themselves",
            group.path()
        )),
    )
}

/// Changes an existing group live (see [`plan_set`]); on failure the values already
/// changed are restored. Holds the group's change lock ([`Group::lock`]) from planning
/// to the last write, so concurrent changes of one group take turns.
pub fn set(group: &mut Group, change: &Change) -> Result<()> {
    let _lock = group.lock()?;
    let plan = plan_set(group, change)?;
    plan.execute(group.hierarchy())?;
    *group = Group::open(group.hierarchy().clone(), group.path())?;
    Ok(())
}

/// How `rein rm` treats what is inside.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoveOptions {
    /// Kill the processes inside first (else a populated group is refused).
    pub kill: bool,
    /// Remove child groups too (else a group with children is refused).
    pub recursive: bool,
}

/// What removing a group will do, for `--dry-run` and for doing it: [`plan_remove`]'s
/// answer, and each group `rein apply --prune` and `rein down` remove
/// ([`crate::config::down`]). Displayed as the shell-like lines of a dry run.
#[derive(Debug, Clone)]
pub struct Removal {
    /// Processes that will be killed (only with `kill`).
    pub kill: Vec<u32>,
    /// Groups removed, deepest first, the group itself last (never empty).
    pub groups: Vec<GroupPath>,
    /// Their directories, in removal order.
    pub directories: Vec<PathBuf>,
}

impl Removal {
    /// The group removed: the last of [`Removal::groups`].
    ///
    /// # Panics
    ///
    /// When `groups` is empty (no removal rein plans is).
    pub fn group(&self) -> &GroupPath {
        self.groups.last().expect("a removal names its group")
    }
}

impl fmt::Display for Removal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.kill.is_empty() {
            writeln!(f, "# kill {}", describe_pids(&self.kill, &ProcTable::default()))?;
        }
        for d in &self.directories {
            writeln!(f, "rmdir {}", d.display())?;
        }
        Ok(())
    }
}

/// Every descendant of `path` in any hierarchy, deepest first.
fn descendants(h: &Hierarchy, path: &GroupPath) -> Result<Vec<GroupPath>> {
    let mut all = BTreeSet::new();
    for place in h.places() {
        let m = place.mount(h);
        if m.exists(path) {
            all.extend(m.subtree(path)?);
        }
    }
    let mut v: Vec<GroupPath> = all.into_iter().collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.as_str().matches('/').count()));
    Ok(v)
}

/// Plans removing `group`, refusing a populated group (unless `kill`) or one with
/// child groups (unless `recursive`) with a message saying what is inside.
pub fn plan_remove(group: &Group, opts: RemoveOptions) -> Result<Removal> {
    let h = group.hierarchy();
    let path = group.path();
    let children = group.children()?;
    if !children.is_empty() && !opts.recursive {
        return Err(Error::state(
            format!("group {path} has child groups: {}", children.join(", ")),
            Some("remove them first, or add --recursive".into()),
        ));
    }
    let pids = group.all_procs()?;
    if !pids.is_empty() && !opts.kill {
        let n = pids.len();
        return Err(Error::state(
            format!(
                "group {path} holds {n} process{}: {}",
                if n == 1 { "" } else { "es" },
                describe_pids(&pids, &ProcTable::default())
            ),
            Some("stop them, move them out ('rein move'), or add --kill to kill them".into()),
        ));
    }
    let mut groups = descendants(h, path)?;
    groups.push(path.clone());
    let mut directories = Vec::new();
    for g in &groups {
        if let Ok(grp) = Group::open(h.clone(), g) {
            directories.extend(grp.nodes().iter().map(|n| n.place.mount(h).dir_path(g)));
        }
    }
    Ok(Removal { kill: pids, groups, directories })
}

/// Removes a group as planned: kills what is inside (when asked), then removes
/// descendants deepest first, then the group. Bounded: the kill waits up to
/// [`crate::group::SETTLE_TIMEOUT`], and the removal of all the directories of all the
/// groups as long again in all (EBUSY while the kernel tears exited tasks down is retried
/// until then), however many there are.
pub fn remove(group: &Group, removal: &Removal) -> Result<()> {
    if !removal.kill.is_empty() {
        kill_all(group)?;
    }
    remove_groups(group.hierarchy(), &removal.groups)
}

/// Removes `groups` in order, all of their directories within one
/// [`crate::group::SETTLE_TIMEOUT`].
fn remove_groups(h: &Arc<Hierarchy>, groups: &[GroupPath]) -> Result<()> {
    let deadline = std::time::Instant::now() + crate::group::SETTLE_TIMEOUT;
    for g in groups {
        match Group::open(h.clone(), g) {
            Ok(grp) => grp.remove_until(deadline, false)?,
            Err(Error::State { .. }) => {} // gone already
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Kills every process of the group and below, in every hierarchy ([`Group::kill`]:
/// `cgroup.kill` where the cgroup2 side has it, then, frozen first, SIGKILL for anything
/// only a v1 hierarchy holds), until empty. A group that stays populated is named with
/// its processes.
pub fn kill_all(group: &Group) -> Result<()> {
    group.kill().map_err(|e| match group.all_procs() {
        Ok(pids) if !pids.is_empty() => Error::state(
            format!(
                "group {} still holds processes after kill: {}",
                group.path(),
                describe_pids(&pids, &ProcTable::default())
            ),
            Some("a process may be stuck in uninterruptible sleep (D state), or frozen".into()),
        ),
        _ => e,
    })
}

/// Sends `signal` to every process of the group and below; returns how many got it.
pub fn signal_all(group: &Group, signal: i32) -> Result<usize> {
    let mut n = 0;
    for p in group.all_procs()? {
        if crate::launch::kill(p as i32, signal).is_ok() {
            n += 1;
        }
    }
    Ok(n)
}

/// What libcgroup's cgdelete does, in the group's directories at `places` (all when
/// None): refuse child groups unless `recursive`; move every process of the group (and
/// of its child groups) to the group's parent; remove the child groups deepest first,
/// then the group. Unlike libcgroup 2.0.2, every hierarchy named is removed, not only
/// the first.
pub fn delete(group: &Group, places: Option<&[Place]>, recursive: bool) -> Result<()> {
    let h = group.hierarchy();
    let path = group.path();
    let parent = path.parent().unwrap_or_default();
    let nodes: Vec<Place> =
        group.nodes().iter().map(|n| n.place).filter(|p| places.is_none_or(|ps| ps.contains(p))).collect();
    let mut plans = Vec::new();
    for place in &nodes {
        let m = place.mount(h);
        let mut below = Vec::new();
        let mut stack = vec![path.clone()];
        while let Some(g) = stack.pop() {
            for c in m.children(&g)? {
                let child = g.join(&c)?;
                below.push(child.clone());
                stack.push(child);
            }
        }
        if !below.is_empty() && !recursive {
            let names: Vec<String> = below.iter().map(|b| b.to_string()).collect();
            return Err(Error::state(
                format!("cannot remove group {path}: it has child groups: {}", names.join(", ")),
                Some("remove them first, or add -r".into()),
            ));
        }
        below.sort_by_key(|p| std::cmp::Reverse(p.as_str().matches('/').count()));
        plans.push((*place, below));
    }
    for (place, below) in &plans {
        let m = place.mount(h);
        for g in below.iter().chain(std::iter::once(path)) {
            evacuate(m, g, &parent)?;
        }
    }
    for (place, below) in &plans {
        for g in below.iter().chain(std::iter::once(path)) {
            rmdir_settled(place.mount(h), g, &parent)?;
        }
    }
    Ok(())
}

/// Moves every process of `g` (not its children) to `parent`.
fn evacuate(m: &crate::cgroupfs::Mount, g: &GroupPath, parent: &GroupPath) -> Result<()> {
    let pids = match backend::read_procs(m, g) {
        Ok(p) => p,
        Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    for pid in pids {
        match m.write(parent, backend::PROCS, &pid.to_string()) {
            Ok(()) => {}
            // Exited meanwhile.
            Err(e) if e.errno() == Some(libc::ESRCH) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// rmdir, retrying EBUSY while the kernel finishes tearing down exited tasks, and moving
/// out again before each retry whatever process joined the group meanwhile (a process
/// that arrives between the first move and the rmdir would otherwise keep it busy).
fn rmdir_settled(m: &crate::cgroupfs::Mount, g: &GroupPath, parent: &GroupPath) -> Result<()> {
    let deadline = std::time::Instant::now() + crate::group::SETTLE_TIMEOUT;
    let mut pause = std::time::Duration::from_micros(50);
    loop {
        match m.rmdir(g) {
            Ok(()) => return Ok(()),
            Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(()),
            Err(e) if e.errno() == Some(libc::EBUSY) && std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
                evacuate(m, g, parent)?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Enables and disables controllers for the child groups of each of `groups` (cgroup2's
/// `cgroup.subtree_control`; the cgroup root may be one of them). `change` is in the
/// kernel's syntax (`+cpu -memory`) and written as given: the kernel judges it. The
/// groups are written in the order given when enabling, which must put parents first
/// (a group enables only what its parent enables for it), and in the reverse order when
/// `change` starts with a disable (`-`): a parent cannot disable a controller that a
/// child still enables for its own children (EBUSY). Stops at the first refusal and
/// returns that group with the error; the groups written before it keep the change.
/// Nothing is undone here either: a controller enabled is at once every child's to use
/// (see docs/ARCHITECTURE.md, "Ancestors").
pub fn control_children(
    h: &Hierarchy,
    groups: &[GroupPath],
    change: &str,
) -> std::result::Result<(), (GroupPath, Error)> {
    let mut order: Vec<&GroupPath> = groups.iter().collect();
    if change.starts_with('-') {
        order.reverse();
    }
    for g in order {
        write_v2(h, g, backend::SUBTREE_CONTROL, change).map_err(|e| (g.clone(), e))?;
    }
    Ok(())
}

/// Moves one thread into a group's cgroup2 directory (`cgroup.threads`), leaving the
/// other threads of its process where they are. `tid` is written as given (a thread id
/// in this process's pid namespace); the kernel judges it, and moves a thread only
/// within a threaded subtree (`cgroup.type` `threaded`: EOPNOTSUPP elsewhere).
pub fn move_thread(h: &Hierarchy, group: &GroupPath, tid: &str) -> Result<()> {
    write_v2(h, group, backend::THREADS, tid)
}

/// Writes a core file of a group's cgroup2 directory; an error on a host without cgroup2.
fn write_v2(h: &Hierarchy, group: &GroupPath, file: &str, value: &str) -> Result<()> {
    let u = h.unified().ok_or_else(|| {
        Error::state(format!("cannot write {file} of group {group}: this host has no cgroup2 hierarchy"), None)
    })?;
    u.mount.write(group, file, value)
}

/// Where [`copy_unmodelled`] stopped.
#[derive(Debug)]
pub struct CopyFailure {
    /// Why.
    pub error: Error,
    /// The setting (interface file and value) the destination refused; None when the
    /// source's files could not be listed.
    pub refused: Option<(String, String)>,
}

/// What libcgroup's `cgset --copy-from` copies beyond rein's model (which
/// [`plan_set`] copies with the limits of [`crate::inspect`]): every writable one-line
/// controller file of `src` (`memory.swappiness`, ...; not `cgroup.*`, `tasks`,
/// `notify_on_release` or `release_agent`) whose value differs in group `dst` is written
/// there, in each hierarchy where both have a directory; the files of a hierarchy in
/// name order. Writable is the owner's write bit, as the kernel sets it per file (root
/// would pass an access check on the read-only ones too). Stops at the first refusal;
/// what was written before it stays.
pub fn copy_unmodelled(src: &Group, dst: &GroupPath) -> std::result::Result<(), Box<CopyFailure>> {
    let listed = |error| Box::new(CopyFailure { error, refused: None });
    for node in src.nodes() {
        let m = node.place.mount(src.hierarchy());
        if !m.exists(dst) {
            continue;
        }
        for entry in m.entry_modes(src.path()).map_err(listed)? {
            let Some(f) = entry.name else { continue };
            // Controller files only: not cgroup.*, tasks, notify_on_release, release_agent.
            match f.split_once('.') {
                Some((prefix, _)) if prefix != "cgroup" => {}
                _ => continue,
            }
            if entry.mode & 0o200 == 0 {
                continue;
            }
            let Ok(value) = m.read(src.path(), &f) else { continue };
            let value = value.trim_end();
            if value.is_empty() || value.contains('\n') {
                continue;
            }
            if m.read(dst, &f).is_ok_and(|now| now.trim_end() == value) {
                continue;
            }
            m.write(dst, &f, value)
                .map_err(|error| Box::new(CopyFailure { error, refused: Some((f.clone(), value.into())) }))?;
        }
    }
    Ok(())
}

/// One line of /proc/PID/cgroup: the hierarchy's controllers (empty for cgroup2) and
/// the path.
pub fn parse_proc_cgroup(text: &str) -> Vec<(BTreeSet<String>, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_id, ctrls, path) = (it.next()?, it.next()?, it.next()?);
            let set: BTreeSet<String> = ctrls.split(',').filter(|c| !c.is_empty()).map(String::from).collect();
            Some((set, path.to_string()))
        })
        .collect()
}

/// The deepest group that is an ancestor of (or equal to) both `a` and `b`.
pub(crate) fn common_ancestor(a: &GroupPath, b: &GroupPath) -> GroupPath {
    let (la, lb) = (a.lineage(), b.lineage());
    la.iter().zip(lb.iter()).take_while(|(x, y)| x == y).last().map(|(x, _)| x.clone()).unwrap_or_default()
}

/// The hint for EACCES/EPERM when moving `pid` into `to` at `place`: the kernel wants
/// write access to cgroup.procs of the common ancestor of the old and the new group
/// (cgroup-v2.rst, "Delegation Containment"); this names that file.
pub fn move_denied_hint(h: &Hierarchy, place: Place, pid: u32, to: &GroupPath, procs: &ProcTable) -> String {
    let m = place.mount(h);
    let Some((_, from)) = current_groups(h, pid, procs).into_iter().find(|(p, _)| *p == place) else {
        return "moving a process needs write access to cgroup.procs of the common ancestor of its old and new \
                group; run as root, or from inside the subtree delegated to you"
            .into();
    };
    let common = common_ancestor(&from, to);
    format!(
        "moving a process needs write access to cgroup.procs of the common ancestor of its old and new group: \
         it is in {from} and the group is {to}, so that is {}; run as root, or start rein from inside the \
         subtree delegated to you (e.g. from a leaf group of it)",
        m.file_path(&common, backend::PROCS).display()
    )
}

/// Where `pid` is now, per place, read from /proc/PID/cgroup ([`groups_in`]).
pub(crate) fn current_groups(h: &Hierarchy, pid: u32, procs: &ProcTable) -> Vec<(Place, GroupPath)> {
    procs.cgroups(pid).map(|text| groups_in(h, &text)).unwrap_or_default()
}

/// The group of each place of this host that a /proc/PID/cgroup text names: the
/// cgroup2 line (`0::PATH`) where the host has cgroup2, and the line of each of its v1
/// hierarchies (named hierarchies such as `name=systemd` are none of rein's). A path
/// that is no group path ([`GroupPath::parse`]) is left out; `/` is the root.
fn groups_in(h: &Hierarchy, text: &str) -> Vec<(Place, GroupPath)> {
    let mut out = Vec::new();
    for (ctrls, path) in parse_proc_cgroup(text) {
        let group = match path.trim_matches('/') {
            "" => GroupPath::root(),
            _ => match GroupPath::parse(&path) {
                Ok(g) => g,
                Err(_) => continue,
            },
        };
        if ctrls.is_empty() {
            if h.unified().is_some() {
                out.push((Place::V2, group));
            }
            continue;
        }
        let set: BTreeSet<Controller> = ctrls.iter().filter_map(|c| Controller::from_name(c)).collect();
        if let Some(i) = h.v1_mounts().iter().position(|m| !set.is_empty() && m.controllers == set) {
            out.push((Place::V1(i), group));
        }
    }
    out
}

/// Moves processes (with all their threads) into the group's directories at `places`
/// (every directory of the group when None). Checks every pid first; if a move fails,
/// the processes already moved go back where they were.
pub fn move_pids(group: &Group, places: Option<&[Place]>, pids: &[u32], procs: &ProcTable) -> Result<()> {
    let h = group.hierarchy();
    let path = group.path();
    for p in pids {
        // The calling process (joining the group itself) exists: no need to look in /proc.
        if *p == 0 || (*p != std::process::id() && procs.start_time(*p).is_none()) {
            return Err(Error::invalid("pid", p.to_string(), "no such process"));
        }
    }
    let targets: Vec<Place> =
        group.nodes().iter().map(|n| n.place).filter(|p| places.is_none_or(|ps| ps.contains(p))).collect();
    let before: Vec<Vec<(Place, GroupPath)>> = pids.iter().map(|p| current_groups(h, *p, procs)).collect();
    let mut done: Vec<(usize, Place)> = Vec::new();
    for (i, pid) in pids.iter().enumerate() {
        for place in &targets {
            if let Err(e) = place.mount(h).write(path, backend::PROCS, &pid.to_string()) {
                for (j, pl) in done.iter().rev() {
                    if let Some((_, old)) = before[*j].iter().find(|(p, _)| p == pl) {
                        let _ = pl.mount(h).write(old, backend::PROCS, &pids[*j].to_string());
                    }
                }
                return Err(match e {
                    Error::Io { op, path: file, cause, .. }
                        if matches!(cause.raw_os_error(), Some(libc::EACCES | libc::EPERM)) =>
                    {
                        let hint = Some(move_denied_hint(h, *place, *pid, path, procs));
                        Error::Io { op, path: file, cause, hint }
                    }
                    e => e,
                });
            }
            done.push((i, *place));
        }
    }
    Ok(())
}

/// Moves process `pid` back into the groups `former` names (its /proc/PID/cgroup text,
/// read before it moved), in each hierarchy where it is in another group now: how
/// libcgroup's `cgclassify -r` undoes a move into a systemd scope that holds no
/// placeholder. Named hierarchies (`name=systemd`), where rein moves no process, are
/// left alone. Every hierarchy is tried; returns the writes the kernel refused, in the
/// order of `former`'s lines: the `cgroup.procs` file and the error.
pub fn move_back(h: &Hierarchy, pid: u32, former: &str, procs: &ProcTable) -> Vec<(PathBuf, Error)> {
    let now = current_groups(h, pid, procs);
    let mut refused = Vec::new();
    for (place, group) in groups_in(h, former).into_iter().filter(|g| !now.contains(g)) {
        let m = place.mount(h);
        if let Err(e) = m.write(&group, backend::PROCS, &pid.to_string()) {
            refused.push((m.file_path(&group, backend::PROCS), e));
        }
    }
    refused
}

/// The processes in a group's directory at `place` (not in its child groups) whose
/// `argv[0]` is `argv0` ([`ProcTable::argv0`]), in the kernel's order. A process that
/// exits meanwhile is not listed.
pub fn pids_named(h: &Hierarchy, place: Place, group: &GroupPath, argv0: &str, procs: &ProcTable) -> Result<Vec<u32>> {
    let pids = backend::read_procs(place.mount(h), group)?;
    Ok(pids.into_iter().filter(|p| procs.argv0(*p).is_some_and(|a| a == argv0.as_bytes())).collect())
}

/// The placeholder process of the systemd scope `pid` is in: the one `cgcreate -c`
/// started there ([`libcgroup::IDLE_PROCESS`], by its `argv[0]`, the first in the
/// scope's `cgroup.procs` as libcgroup takes it) so that systemd keeps the scope, and
/// that `cgexec -r` and `cgclassify -r` end once their process has joined. The scope is
/// the cgroup2 group of `pid` (`0::` in /proc/PID/cgroup) when its path names a slice
/// and a scope (`.slice`, `.scope`). None: no such scope, or no placeholder in it.
pub fn scope_placeholder(h: &Hierarchy, pid: u32, procs: &ProcTable) -> Option<u32> {
    let (_, scope) = current_groups(h, pid, procs).into_iter().find(|(p, _)| *p == Place::V2)?;
    if !(scope.as_str().contains(".scope") && scope.as_str().contains(".slice")) {
        return None;
    }
    pids_named(h, Place::V2, &scope, libcgroup::IDLE_PROCESS, procs).ok()?.first().copied()
}

/// The actions [`move_pids`] takes, for `--dry-run`.
pub fn describe_move(group: &Group, places: Option<&[Place]>, pids: &[u32]) -> Vec<String> {
    let h = group.hierarchy();
    let mut out = Vec::new();
    for pid in pids {
        for n in group.nodes().iter().filter(|n| places.is_none_or(|ps| ps.contains(&n.place))) {
            out.push(format!("{pid} > {}", n.place.mount(h).file_path(group.path(), backend::PROCS).display()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::raw::Home;
    use crate::resources::Resources;
    use crate::testing::{FakeTree, Layout};
    use crate::units::{Bytes, Limit};

    fn lines(tree: &FakeTree, plan: &Plan) -> Vec<String> {
        let root = tree.path().display().to_string();
        plan.display(&tree.hierarchy()).to_string().lines().map(|l| l.replace(&root, "")).collect()
    }

    #[test]
    fn controller_files_in_the_order_asked_by_each_hierarchy_name() {
        let tree = FakeTree::new(Layout::Hybrid);
        tree.group("g");
        let g = Group::open(tree.hierarchy(), &GroupPath::parse("g").unwrap()).unwrap();
        // pids first as asked, then blkio (Io by its v1 name); hugetlb (bound to the
        // fake tree's cgroup2 mount) has no files in the group: nothing listed for it.
        let files = controller_files(&g, &[Controller::Pids, Controller::Io, Controller::Hugetlb]).unwrap();
        let mut names: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
        let pids: Vec<&str> = names.drain(..4).collect();
        let mut sorted = pids.clone();
        sorted.sort();
        assert_eq!(sorted, ["pids.current", "pids.events", "pids.max", "pids.peak"]);
        assert!(!names.is_empty() && names.iter().all(|f| f.starts_with("blkio.")), "{names:?}");
        assert!(files.contains(&("pids.max".into(), "max\n".into())), "{files:?}");
    }

    #[test]
    fn create_marks_the_group_and_the_parents_it_makes() {
        let tree = FakeTree::new(Layout::V2);
        let h = tree.hierarchy();
        let change = Change {
            spec: Spec { resources: Resources::new().memory_max(Bytes::mib(20)), ..Spec::default() },
            raw: vec![RawWrite {
                home: Home::Controller(Controller::Memory),
                file: "memory.swap.max".into(),
                value: "0".into(),
            }],
        };
        let plan = plan_create(&h, &GroupPath::parse("tenants/a").unwrap(), &change, Mark::Named).unwrap();
        assert_eq!(
            lines(&tree, &plan),
            [
                "+memory > /cgroup.subtree_control",
                "mkdir /tenants",
                "setfattr -n user.rein -v parent /tenants",
                "+memory > /tenants/cgroup.subtree_control",
                "mkdir /tenants/a",
                "setfattr -n user.rein -v named /tenants/a",
                "20971520 > /tenants/a/memory.max",
                "0 > /tenants/a/memory.swap.max",
            ]
        );
    }

    #[test]
    fn a_setting_given_twice_is_refused() {
        let tree = FakeTree::new(Layout::V2);
        let change = Change {
            spec: Spec { resources: Resources::new().memory_max(Limit::Max), ..Spec::default() },
            raw: vec![RawWrite {
                home: Home::Controller(Controller::Memory),
                file: "memory.max".into(),
                value: "1".into(),
            }],
        };
        let e = plan_create(&tree.hierarchy(), &GroupPath::parse("a").unwrap(), &change, Mark::Named).unwrap_err();
        assert!(e.to_string().contains("memory.max (and -r memory.max)"), "{e}");
    }

    #[test]
    fn set_on_v1_refuses_a_new_directory_under_running_processes() {
        let tree = FakeTree::new(Layout::V1);
        tree.group("web");
        // The group lives only in the memory hierarchy, and holds a process.
        for m in ["cpu", "cpuacct", "cpuset", "blkio", "pids", "freezer"] {
            std::fs::remove_dir_all(tree.path().join(m).join("web")).unwrap();
        }
        std::fs::write(tree.path().join("memory/web/cgroup.procs"), format!("{}\n", std::process::id())).unwrap();
        let g = Group::open(tree.hierarchy(), &GroupPath::parse("web").unwrap()).unwrap();
        let change = Change {
            spec: Spec { resources: Resources::new().cpu_percent(35.0).unwrap(), ..Spec::default() },
            ..Change::default()
        };
        let e = plan_set(&g, &change).unwrap_err().to_string();
        assert!(e.contains("has no directory yet in") && e.contains("cpu/web"), "{e}");
        // A memory change is fine: the directory exists.
        let change = Change {
            spec: Spec { resources: Resources::new().memory_max(Bytes::mib(1)), ..Spec::default() },
            ..Change::default()
        };
        plan_set(&g, &change).unwrap();
    }

    /// A fake v1 tree with a devices hierarchy allowing everything, groups `paths` in
    /// every other hierarchy.
    fn v1_with_devices(paths: &[&str]) -> FakeTree {
        let tree = FakeTree::new(Layout::V1);
        tree.add_v1_devices(&[]);
        for p in paths {
            tree.group(p);
        }
        tree
    }

    fn strict(allow: &str) -> Change {
        Change {
            spec: Spec {
                resources: Resources {
                    devices: Some(crate::testing::device_access(Some(crate::devices::DevicePolicy::Strict), &[allow])),
                    ..Resources::new()
                },
                ..Spec::default()
            },
            ..Change::default()
        }
    }

    #[test]
    fn on_v1_a_group_that_starts_restricting_takes_its_existing_children_into_the_devices_hierarchy() {
        let tree = v1_with_devices(&["web/a/deep", "web/b"]);
        // web/b is rein's; web/a and web/a/deep were made by another tool.
        std::fs::write(tree.path().join("memory/web/b/cgroup.procs"), "").unwrap();
        let h = tree.hierarchy();
        let b = GroupPath::parse("web/b").unwrap();
        h.v1_mounts()
            .iter()
            .find(|m| m.controllers.contains(&Controller::Memory))
            .unwrap()
            .mount
            .set_xattr(&b, crate::mark::XATTR, &Mark::Named.value())
            .unwrap();
        let g = Group::open(h.clone(), &GroupPath::parse("web").unwrap()).unwrap();
        let plan = plan_set(&g, &strict("allow c 1:3 rw")).unwrap();
        let l = lines(&tree, &plan);
        let at = |x: &str| l.iter().position(|y| y == x).unwrap_or_else(|| panic!("no {x:?} in {l:#?}"));
        // The group's rules first, then its children's directories, parents first, each
        // with its own mark (none for the ones rein did not make).
        assert!(at("'c 1:3 rw' > /devices/web/devices.allow") < at("mkdir /devices/web/a"), "{l:#?}");
        assert!(at("mkdir /devices/web/a") < at("mkdir /devices/web/a/deep"), "{l:#?}");
        assert!(at("mkdir /devices/web/b") < at("setfattr -n user.rein -v named /devices/web/b"), "{l:#?}");
        assert_eq!(l.iter().filter(|x| x.starts_with("setfattr")).count(), 1, "{l:#?}");
        // A change that does not restrict leaves them out.
        let open = plan_set(
            &g,
            &Change { spec: Spec { resources: Resources::new().pids_max(5), ..Spec::default() }, ..Change::default() },
        )
        .unwrap();
        assert!(!lines(&tree, &open).iter().any(|x| x.contains("/devices/")), "{:#?}", lines(&tree, &open));
    }

    #[test]
    fn on_v1_a_populated_child_outside_the_devices_hierarchy_refuses_new_rules_above_it() {
        let tree = v1_with_devices(&["web/a"]);
        // web is in the devices hierarchy already (allowing all); web/a is not.
        tree.add_v1_devices(&["web"]);
        let me = std::process::id();
        std::fs::write(tree.path().join("pids/web/a/cgroup.procs"), format!("{me}\n")).unwrap();
        let g = Group::open(tree.hierarchy(), &GroupPath::parse("web").unwrap()).unwrap();
        let e = plan_set(&g, &strict("allow c 1:3 rw")).unwrap_err();
        let text = format!("{e}");
        assert!(text.contains("group /web/a beneath /web has no directory in the devices hierarchy"), "{text}");
        assert!(text.contains(&me.to_string()), "{text}");
    }

    #[test]
    fn remove_refuses_populated_groups_and_children_and_says_what_is_inside() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("web/child");
        let me = std::process::id();
        std::fs::write(tree.path().join("web/cgroup.procs"), format!("{me}\n")).unwrap();
        let g = Group::open(tree.hierarchy(), &GroupPath::parse("web").unwrap()).unwrap();
        let e = plan_remove(&g, RemoveOptions::default()).unwrap_err().to_string();
        assert!(e.contains("child groups: child"), "{e}");
        let e = plan_remove(&g, RemoveOptions { recursive: true, kill: false }).unwrap_err().to_string();
        assert!(e.contains("holds 1 process: ") && e.contains(&me.to_string()), "{e}");
        let r = plan_remove(&g, RemoveOptions { recursive: true, kill: true }).unwrap();
        assert_eq!(r.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(), ["web/child", "web"]);
        assert_eq!(r.kill, [me]);
        let root = tree.path().display().to_string();
        let text = r.to_string().replace(&root, "");
        assert!(text.ends_with("rmdir /web/child\nrmdir /web\n"), "{text}");
    }

    #[test]
    fn common_ancestors() {
        let p = |s: &str| if s.is_empty() { GroupPath::root() } else { GroupPath::parse(s).unwrap() };
        assert_eq!(common_ancestor(&p("a/b/c"), &p("a/b/d")), p("a/b"));
        assert_eq!(common_ancestor(&p("a/b"), &p("a/b/c")), p("a/b"));
        assert_eq!(common_ancestor(&p("a"), &p("b")), GroupPath::root());
        assert_eq!(common_ancestor(&GroupPath::root(), &p("x/y")), GroupPath::root());
        assert_eq!(common_ancestor(&p("ab/c"), &p("a/c")), GroupPath::root());
    }

    /// A fake /proc holding process `pid` with `cgroup` as its /proc/PID/cgroup.
    fn proc_with(pid: u32, argv0: &str, cgroup: &str) -> (tempfile::TempDir, ProcTable) {
        let (dir, procs) = crate::procfs::tests::fake_proc(&[(pid, 100, argv0)]);
        std::fs::write(dir.path().join(format!("{pid}/cmdline")), format!("{argv0}\0-x\0")).unwrap();
        std::fs::write(dir.path().join(format!("{pid}/cgroup")), cgroup).unwrap();
        (dir, procs)
    }

    fn read(tree: &FakeTree, file: &str) -> String {
        std::fs::read_to_string(tree.path().join(file)).unwrap()
    }

    /// The writes of this thread since `write_log::start`, as `VALUE > FILE` in the tree.
    fn written(tree: &FakeTree) -> Vec<String> {
        let root = tree.path().display().to_string();
        crate::cgroupfs::write_log::take()
            .into_iter()
            .map(|(p, v)| format!("{v} > {}", p.display().to_string().replace(&root, "")))
            .collect()
    }

    #[test]
    fn move_back_writes_where_the_process_left_and_returns_the_refusals() {
        let tree = FakeTree::new(Layout::Hybrid);
        tree.group("a");
        tree.group("b");
        let h = tree.hierarchy();
        let now = "9:name=systemd:/b\n8:pids:/b\n4:memory:/a\n1:cpu:/b\n0::/b\n";
        let (_d, procs) = proc_with(4242, "sleep", now);
        // Left: pids a, cpu the root, cgroup2 a; memory unchanged; blkio's group gone; a
        // path that is no group path; name=systemd is none of rein's.
        let former = "9:name=systemd:/a\n8:pids:/a\n7:blkio:/gone\n4:memory:/a\n1:cpu:/\n2:cpuacct:/a\nb\n0::/a\n";
        std::fs::write(tree.path().join("cpuacct/a/cgroup.procs"), "").unwrap();
        let refused = move_back(&h, 4242, former, &procs);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].0, tree.path().join("blkio/gone/cgroup.procs"));
        assert_eq!(refused[0].1.errno(), Some(libc::ENOENT));
        for (file, want) in [
            ("pids/a/cgroup.procs", "4242"),
            ("cpu/cgroup.procs", "4242"),
            ("cpuacct/a/cgroup.procs", "4242"),
            ("unified/a/cgroup.procs", "4242"),
            ("memory/a/cgroup.procs", ""),
            ("pids/b/cgroup.procs", ""),
        ] {
            assert_eq!(read(&tree, file), want, "{file}");
        }
    }

    #[test]
    fn scope_placeholder_is_the_first_idle_process_of_a_systemd_scope() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("a.slice/b.scope");
        tree.group("c/d");
        std::fs::write(tree.path().join("a.slice/b.scope/cgroup.procs"), "10\n11\n12\n4242\n").unwrap();
        let h = tree.hierarchy();
        let (d, procs) = proc_with(4242, "sleep", "0::/a.slice/b.scope\n");
        for (pid, argv0) in [(10, "sleep"), (11, libcgroup::IDLE_PROCESS), (12, libcgroup::IDLE_PROCESS)] {
            std::fs::create_dir_all(d.path().join(pid.to_string())).unwrap();
            std::fs::write(d.path().join(format!("{pid}/cmdline")), format!("{argv0}\0")).unwrap();
        }
        let scope = GroupPath::parse("a.slice/b.scope").unwrap();
        assert_eq!(pids_named(&h, Place::V2, &scope, libcgroup::IDLE_PROCESS, &procs).unwrap(), [11, 12]);
        assert_eq!(pids_named(&h, Place::V2, &scope, "sleep", &procs).unwrap(), [10, 4242]);
        assert_eq!(scope_placeholder(&h, 4242, &procs), Some(11));
        // Not in a scope, in a group that names none, or no such process: no placeholder.
        for cgroup in ["0::/a.slice\n", "0::/c/d\n", "1:cpu:/a.slice/b.scope\n"] {
            std::fs::write(d.path().join("4242/cgroup"), cgroup).unwrap();
            assert_eq!(scope_placeholder(&h, 4242, &procs), None, "{cgroup}");
        }
        assert_eq!(scope_placeholder(&h, 4243, &procs), None);
        // A v1 host has no cgroup2 group to look in.
        let v1 = FakeTree::new(Layout::V1);
        std::fs::write(d.path().join("4242/cgroup"), "0::/a.slice/b.scope\n").unwrap();
        assert_eq!(scope_placeholder(&v1.hierarchy(), 4242, &procs), None);
    }

    #[test]
    fn control_children_enables_parents_first_and_disables_children_first() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("p/c/leaf");
        let h = tree.hierarchy();
        let groups: Vec<GroupPath> = ["p", "p/c"].iter().map(|g| GroupPath::parse(g).unwrap()).collect();
        crate::cgroupfs::write_log::start();
        control_children(&h, &groups, "+cpu +memory").unwrap();
        control_children(&h, &groups, "-memory").unwrap();
        control_children(&h, &[GroupPath::root()], "+pids").unwrap();
        assert_eq!(
            written(&tree),
            [
                "+cpu +memory > /p/cgroup.subtree_control",
                "+cpu +memory > /p/c/cgroup.subtree_control",
                "-memory > /p/c/cgroup.subtree_control",
                "-memory > /p/cgroup.subtree_control",
                "+pids > /cgroup.subtree_control",
            ]
        );
        // The first refusal stops it, naming the group; what came before stays.
        std::fs::remove_file(tree.path().join("p/c/cgroup.subtree_control")).unwrap();
        let (g, e) = control_children(&h, &groups, "+io").unwrap_err();
        assert_eq!((g.as_str(), e.errno()), ("p/c", Some(libc::ENOENT)));
        assert_eq!(read(&tree, "p/cgroup.subtree_control"), "+io");
        let (g, _) = control_children(&h, &groups, "-io").unwrap_err();
        assert_eq!(g.as_str(), "p/c");
        assert_eq!(read(&tree, "p/cgroup.subtree_control"), "+io");
    }

    #[test]
    fn move_thread_writes_cgroup_threads_on_cgroup2_only() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("t");
        std::fs::write(tree.path().join("t/cgroup.threads"), "").unwrap();
        let t = GroupPath::parse("t").unwrap();
        move_thread(&tree.hierarchy(), &t, "4243").unwrap();
        assert_eq!(read(&tree, "t/cgroup.threads"), "4243");
        let v1 = FakeTree::new(Layout::V1);
        v1.group("t");
        let e = move_thread(&v1.hierarchy(), &t, "4243").unwrap_err().to_string();
        assert!(e.contains("cgroup.threads of group /t: this host has no cgroup2 hierarchy"), "{e}");
    }

    #[test]
    fn copy_unmodelled_writes_the_writable_one_line_files_that_differ() {
        use std::os::unix::fs::PermissionsExt;
        let tree = FakeTree::new(Layout::V1);
        tree.group("src");
        tree.group("dst");
        let set = |file: &str, value: &str, mode: u32| {
            let p = tree.path().join(file);
            std::fs::write(&p, value).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        set("memory/src/memory.swappiness", "30\n", 0o644);
        set("memory/dst/memory.swappiness", "60\n", 0o644);
        // Read-only (a statistic), several lines, a core file, no controller prefix: kept.
        set("memory/src/memory.usage_in_bytes", "4096\n", 0o444);
        set("memory/src/memory.oom_control", "oom_kill_disable 1\nunder_oom 0\n", 0o644);
        set("memory/src/cgroup.clone_children", "1\n", 0o644);
        set("memory/src/notify_on_release", "1\n", 0o644);
        set("cpu/src/cpu.shares", "512\n", 0o644);
        // dst has no pids directory: that hierarchy is skipped.
        std::fs::write(tree.path().join("pids/src/pids.max"), "7\n").unwrap();
        std::fs::remove_dir_all(tree.path().join("pids/dst")).unwrap();
        let h = tree.hierarchy();
        let src = Group::open(h.clone(), &GroupPath::parse("src").unwrap()).unwrap();
        let dst = GroupPath::parse("dst").unwrap();
        crate::cgroupfs::write_log::start();
        copy_unmodelled(&src, &dst).unwrap();
        let mut log = written(&tree);
        log.sort();
        assert_eq!(log, ["30 > /memory/dst/memory.swappiness", "512 > /cpu/dst/cpu.shares"]);
        // A value the destination refuses stops the copy, named with its file.
        std::fs::remove_file(tree.path().join("cpu/dst/cpu.shares")).unwrap();
        let f = copy_unmodelled(&src, &dst).unwrap_err();
        assert_eq!(f.refused, Some(("cpu.shares".to_string(), "512".to_string())));
        assert_eq!(f.error.errno(), Some(libc::ENOENT));
    }

    #[test]
    fn proc_cgroup_lines() {
        let text = "4:memory:/process_api/x\n2:cpu,cpuacct:/\n1:name=systemd:/\n0::/rein/run-1\n";
        let v = parse_proc_cgroup(text);
        assert_eq!(v[0], (["memory".to_string()].into(), "/process_api/x".to_string()));
        assert_eq!(v[1].0.len(), 2);
        assert_eq!(v[3], (BTreeSet::new(), "/rein/run-1".to_string()));
    }
}
