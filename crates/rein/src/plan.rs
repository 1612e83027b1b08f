//! Plans: the mkdirs and writes that bring a group to its limits, computed before any
//! of them happens, then either shown (`--dry-run`) or executed with rollback.
//!
//! Executing a plan is transactional: when a step fails, the groups this plan created
//! are removed and the values it changed are written back, newest first (per-device
//! files one device at a time), so a failed command leaves nothing half-made behind.
//! The one change that stays is a controller enabled in an existing directory's
//! `cgroup.subtree_control` ([`Failure::kept`] says why).

use std::borrow::Cow;
use std::fmt;

use std::os::fd::AsFd;

use crate::bpf::{self, insn::Insn, sys::AttachType};
use crate::cgroupfs::{EntryMode, GroupPath, Mount, Permissions, format};
use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
pub use crate::hierarchy::Place;
use crate::mark::{self, Mark};
use crate::procfs;

/// One interface-file write: `value > file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The interface file, e.g. `memory.max`.
    pub file: Cow<'static, str>,
    /// The text written.
    pub value: String,
    /// A rollback leaves this write in place and says so: it enables something others
    /// may rely on by the time the plan fails (a controller in `cgroup.subtree_control`,
    /// which a concurrent run's limits need), and it sets no limit itself.
    pub kept_on_rollback: bool,
}

impl Write {
    /// A write of `value` to `file`.
    pub fn new(file: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Write {
        Write { file: file.into(), value: value.into(), kept_on_rollback: false }
    }

    /// A write that enables something, kept when a plan is rolled back (see
    /// [`Write::kept_on_rollback`]).
    pub fn enable(file: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Write {
        Write { kept_on_rollback: true, ..Write::new(file, value) }
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create a group directory.
    Mkdir {
        /// Where.
        place: Place,
        /// The group.
        group: GroupPath,
        /// Fail if it exists already (the group being created) rather than reuse it (an ancestor).
        must_be_new: bool,
    },
    /// Write an interface file.
    Write {
        /// Where.
        place: Place,
        /// The group.
        group: GroupPath,
        /// What.
        write: Write,
        /// The value before, restored on rollback (None: nothing to restore).
        previous: Option<String>,
        /// Skip the write if the file already holds a non-empty value (v1 cpuset
        /// ancestors that a concurrent rein may have just set up).
        if_empty: bool,
    },
    /// Mark a directory this plan created as rein's ([`crate::mark`]). Skipped
    /// when the directory existed already (a concurrent process made it first).
    Mark {
        /// Where.
        place: Place,
        /// The group.
        group: GroupPath,
        /// The mark.
        mark: Mark,
    },
    /// Attach a BPF program to the group's cgroup2 directory, in place of rein's earlier
    /// program of that name ([`crate::bpf::install`]): device access on cgroup v2.
    Program {
        /// Where (the cgroup2 hierarchy).
        place: Place,
        /// The group.
        group: GroupPath,
        /// The program.
        program: Program,
    },
    /// Give the group these network settings: write them into the map of rein's network
    /// programs on its cgroup2 directory, attaching the programs first when it has none
    /// ([`crate::bpf::net_program::apply`]).
    Net {
        /// Where (the cgroup2 hierarchy).
        place: Place,
        /// The group.
        group: GroupPath,
        /// The settings.
        config: crate::bpf::net_program::NetConfig,
        /// The settings in force before (restored on rollback); `None`: no programs (they
        /// are detached on rollback).
        previous: Option<crate::bpf::net_program::NetConfig>,
    },
    /// Give the group's directory and its files owners and modes
    /// ([`Mount::set_permissions`]): libcgroup's `perm`.
    Permissions {
        /// Where.
        place: Place,
        /// The group.
        group: GroupPath,
        /// The owners and modes.
        permissions: Permissions,
        /// The owners and modes before, restored on rollback (empty for a directory this
        /// plan creates: it goes).
        previous: Vec<EntryMode>,
    },
}

/// A BPF program a plan attaches, with what it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Where on the group it attaches.
    pub attach: AttachType,
    /// Its name, by which rein knows its own programs (`rein_devices`).
    pub name: &'static str,
    /// Its instructions.
    pub insns: Vec<Insn>,
    /// What it does, for dry runs (`deny all; allow c 1:3 rw`).
    pub describe: String,
    /// rein's program of that name attached before (restored on rollback); `None`: there
    /// was none (the program is detached on rollback).
    pub previous: Option<Vec<Insn>>,
}

/// An ordered list of actions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    actions: Vec<Action>,
}

/// The plan shown against a hierarchy: `mkdir PATH` and `VALUE > PATH` lines.
pub struct Display<'a> {
    plan: &'a Plan,
    h: &'a Hierarchy,
}

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for a in &self.plan.actions {
            match a {
                Action::Mkdir { place, group, .. } => {
                    writeln!(f, "mkdir {}", place.mount(self.h).dir_path(group).display())?
                }
                Action::Write { place, group, write, .. } => writeln!(
                    f,
                    "{} > {}",
                    shell_quote(&write.value),
                    place.mount(self.h).file_path(group, &write.file).display()
                )?,
                Action::Mark { place, group, mark } => writeln!(
                    f,
                    "setfattr -n {} -v {} {}",
                    mark::XATTR,
                    shell_quote(&mark.value()),
                    place.mount(self.h).dir_path(group).display()
                )?,
                Action::Program { place, group, program } => writeln!(
                    f,
                    "attach BPF program {} ({}) to {}",
                    program.name,
                    program.describe,
                    place.mount(self.h).dir_path(group).display()
                )?,
                Action::Net { place, group, config, previous } => writeln!(
                    f,
                    "{} rein's network programs of {}: {}",
                    if previous.is_some() { "set" } else { "attach" },
                    place.mount(self.h).dir_path(group).display(),
                    config
                )?,
                Action::Permissions { place, group, permissions: p, .. } => {
                    let dir = place.mount(self.h).dir_path(group);
                    writeln!(f, "chown -R {}:{} {}", p.admin.uid, p.admin.gid, dir.display())?;
                    if let Some(m) = p.dir_mode {
                        writeln!(f, "chmod {m:o} {} # masked by the owner's bits", dir.display())?;
                    }
                    if let Some(m) = p.file_mode {
                        writeln!(f, "chmod {m:o} {}/* # masked by each file's owner bits", dir.display())?;
                    }
                    if let Some(t) = &p.task {
                        writeln!(f, "chown {}:{} {}", t.owner.uid, t.owner.gid, dir.join(t.name).display())?;
                        if let Some(m) = t.mode {
                            writeln!(f, "chmod {m:o} {} # masked by the owner's bits", dir.join(t.name).display())?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Quotes a value for display as a shell word when it needs it.
fn shell_quote(s: &str) -> Cow<'_, str> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:,+=/".contains(&b)) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("'{}'", s.replace('\'', r"'\''")))
    }
}

impl Plan {
    /// An empty plan.
    pub fn new() -> Plan {
        Plan::default()
    }

    /// Appends an action.
    pub fn push(&mut self, action: Action) {
        self.actions.push(action);
    }

    /// The actions, in order.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The plan as shell-like lines for `--dry-run`.
    pub fn display<'a>(&'a self, h: &'a Hierarchy) -> Display<'a> {
        Display { plan: self, h }
    }

    /// Adds a [`Action::Mark`] after every `mkdir`: `mark` for the group being created
    /// (`must_be_new`), [`Mark::Parent`] for ancestors created on the way.
    pub fn mark_new_groups(&mut self, mark: Mark) {
        let mut out = Vec::with_capacity(self.actions.len() * 2);
        for a in self.actions.drain(..) {
            let extra = match &a {
                Action::Mkdir { place, group, must_be_new } => Some(Action::Mark {
                    place: *place,
                    group: group.clone(),
                    mark: if *must_be_new { mark } else { Mark::Parent },
                }),
                _ => None,
            };
            out.push(a);
            out.extend(extra);
        }
        self.actions = out;
    }

    /// Appends every action of `other`.
    pub fn extend(&mut self, other: Plan) {
        self.actions.extend(other.actions);
    }

    /// Runs every action; on failure undoes what this run did and returns the error (with
    /// what could not be undone in its hint).
    pub fn execute(&self, h: &Hierarchy) -> Result<()> {
        self.try_execute(h).map_err(|f| f.into_error())
    }

    /// Runs every action; on failure undoes what this run did and says what is left.
    ///
    /// A `mkdir` followed by the `Mark` of the same directory is one step (see
    /// [`crate::mark`], "Creation records"): a record on the parent names the
    /// directory from before the mkdir until it carries its mark, so a process killed
    /// in between leaves nothing `rein gc` cannot recognise.
    pub fn try_execute(&self, h: &Hierarchy) -> std::result::Result<(), Box<Failure>> {
        self.run_after(h, Vec::new()).map(drop)
    }

    /// Runs every action after `done` (what earlier plans of a [`Transaction`] did); on
    /// failure undoes this plan's steps and `done`, newest first. Returns `done` with this
    /// plan's steps added.
    fn run_after<'a>(
        &'a self,
        h: &Hierarchy,
        mut done: Vec<&'a Action>,
    ) -> std::result::Result<Vec<&'a Action>, Box<Failure>> {
        let mut start: Option<u64> = None;
        let mut i = 0;
        while i < self.actions.len() {
            let action = &self.actions[i];
            i += 1;
            match action {
                Action::Mkdir { place, group, .. } => {
                    let mark = match self.actions.get(i) {
                        Some(m @ Action::Mark { place: p, group: g, mark }) if p == place && g == group => {
                            Some((m, mark))
                        }
                        _ => None,
                    };
                    let Some((mark_action, mark)) = mark else {
                        match run_action(h, action) {
                            Ok(true) => done.push(action),
                            Ok(false) => {}
                            Err(err) => return Err(rollback(h, &done, err)),
                        }
                        continue;
                    };
                    i += 1;
                    let started = match mark {
                        Mark::Transient { pid, start } if *pid == std::process::id() => *start,
                        _ => *start.get_or_insert_with(|| {
                            procfs::ProcTable::default().start_time(std::process::id()).unwrap_or(0)
                        }),
                    };
                    let mount = place.mount(h);
                    let parent = match mount.parent_of(group) {
                        Ok(p) => p,
                        Err(err) => return Err(rollback(h, &done, err)),
                    };
                    // Dropped after the rollback of a failure too: the record names the
                    // directory until it is gone.
                    let _record = mark::record_creation(&parent, group, started);
                    match parent.mkdir() {
                        Ok(true) => done.push(action),
                        Ok(false) if is_new(action) => return Err(rollback(h, &done, already_exists(mount, group))),
                        // It existed (an ancestor someone made meanwhile): not ours to mark.
                        Ok(false) => continue,
                        Err(err) => return Err(rollback(h, &done, err)),
                    }
                    if let Err(err) = parent.set_child_xattr(mark::XATTR, &mark.value()) {
                        return Err(rollback(h, &done, err));
                    }
                    done.push(mark_action);
                }
                Action::Mark { place, group, .. } => {
                    // Only directories this run created are marked.
                    let created = done
                        .iter()
                        .any(|d| matches!(d, Action::Mkdir { place: p, group: g, .. } if p == place && g == group));
                    if created {
                        match run_action(h, action) {
                            Ok(_) => done.push(action),
                            Err(err) => return Err(rollback(h, &done, err)),
                        }
                    }
                }
                Action::Write { .. } | Action::Program { .. } | Action::Net { .. } | Action::Permissions { .. } => {
                    match run_action(h, action) {
                        Ok(true) => done.push(action),
                        Ok(false) => {}
                        Err(err) => return Err(rollback(h, &done, err)),
                    }
                }
            }
        }
        Ok(done)
    }
}

/// Plans executed one after another as one change: each is planned against what the
/// ones before it made (a group's values in place before the next group is planned
/// beneath it), and when one fails, it and every plan before it are undone, newest first.
/// What a failed transaction leaves is what a failed [`Plan`] leaves ([`Failure`]).
#[derive(Debug, Default)]
pub struct Transaction {
    done: Vec<Action>,
}

impl Transaction {
    /// An empty transaction.
    pub fn new() -> Transaction {
        Transaction::default()
    }

    /// Runs `plan`; when a step fails, undoes it and everything this transaction did
    /// before, and returns the error (with what could not be undone in its hint). The
    /// transaction is then empty.
    pub fn execute(&mut self, h: &Hierarchy, plan: &Plan) -> Result<()> {
        let before = self.done.len();
        let prior: Vec<&Action> = self.done.iter().collect();
        match plan.run_after(h, prior) {
            Ok(done) => {
                let new: Vec<Action> = done[before..].iter().map(|a| (*a).clone()).collect();
                self.done.extend(new);
                Ok(())
            }
            Err(f) => {
                self.done.clear();
                Err(f.into_error())
            }
        }
    }

    /// Undoes everything this transaction did, newest first, because of `error` (a
    /// refusal found between two plans); returns `error` with what could not be undone.
    pub fn abort(self, h: &Hierarchy, error: Error) -> Error {
        let done: Vec<&Action> = self.done.iter().collect();
        rollback(h, &done, error).into_error()
    }
}

/// A plan that failed: the error of the step that failed, and what its rollback left.
#[derive(Debug)]
pub struct Failure {
    /// Why the step failed.
    pub error: Error,
    /// Changes the rollback could not undo, each with the reason.
    pub not_undone: Vec<String>,
    /// Changes left on purpose: controllers enabled in the `cgroup.subtree_control` of a
    /// directory that existed before (`+cpu > /sys/fs/cgroup/a/cgroup.subtree_control`).
    /// A controller enabled in a parent reaches every child at once, and anyone may rely
    /// on it from that instant (a concurrent `rein run` writes its limit in a child); the
    /// kernel lets the parent disable it all the same, and the child's limit files and
    /// values silently go. So no rein command disables what it enabled.
    pub kept: Vec<String>,
}

impl Failure {
    /// True when every change the plan made was undone (those in `kept` aside).
    pub fn undone(&self) -> bool {
        self.not_undone.is_empty()
    }

    /// The error, with what could not be undone added to its hint.
    pub fn into_error(self) -> Error {
        if self.not_undone.is_empty() {
            return self.error;
        }
        let extra = self.not_undone.join("; ");
        match self.error {
            Error::Io { op, path, cause, hint } => {
                let hint = Some(match hint {
                    Some(h) => format!("{h}; also {extra}"),
                    None => extra,
                });
                Error::Io { op, path, cause, hint }
            }
            other => Error::state(other.to_string(), Some(extra)),
        }
    }
}

fn already_exists(mount: &Mount, group: &GroupPath) -> Error {
    Error::state(
        format!("group {} already exists ({})", group, mount.dir_path(group).display()),
        Some("pick another name, or use 'rein set' to change an existing group".into()),
    )
}

fn is_new(mkdir: &Action) -> bool {
    matches!(mkdir, Action::Mkdir { must_be_new: true, .. })
}

/// Performs one action. Returns whether it changed something that rollback must undo
/// (or, for a write with nothing to restore, report as kept).
fn run_action(h: &Hierarchy, action: &Action) -> Result<bool> {
    match action {
        Action::Mkdir { place, group, must_be_new } => {
            let mount = place.mount(h);
            let created = mount.mkdir(group)?;
            if !created && *must_be_new {
                return Err(already_exists(mount, group));
            }
            Ok(created)
        }
        Action::Write { place, group, write, if_empty, .. } => {
            let mount = place.mount(h);
            if *if_empty && mount.read(group, &write.file).map(|t| !t.trim().is_empty()).unwrap_or(false) {
                return Ok(false);
            }
            mount.write(group, &write.file, &write.value)?;
            Ok(true)
        }
        Action::Mark { place, group, mark } => {
            place.mount(h).set_xattr(group, mark::XATTR, &mark.value())?;
            Ok(true)
        }
        Action::Program { place, group, program } => {
            let dir = place.mount(h).open_dir(group)?;
            bpf::install(dir.as_fd(), program.attach, program.name, &program.insns)?;
            Ok(true)
        }
        Action::Net { place, group, config, .. } => {
            let dir = place.mount(h).open_dir(group)?;
            bpf::net_program::apply(dir.as_fd(), config)?;
            Ok(true)
        }
        Action::Permissions { place, group, permissions, .. } => {
            place.mount(h).set_permissions(group, permissions)?;
            Ok(true)
        }
    }
}

/// Debug builds only: with `REIN_TEST_PAUSE=<stage>` in the environment, rein stops at
/// that stage for up to a minute, after saying so on stderr (`rein: test pause at
/// <stage> (pid P)`), so the real-kernel suite can `kill -9` it exactly there, or act
/// while it waits. With `REIN_TEST_RESUME=FILE` too, it goes on as soon as FILE exists.
/// Stages: `created` (`rein run`: the group exists and is marked, the command has not
/// started), `drain` (`rein run --report` with a network setting: the command has ended,
/// leftovers are killed, the wait for the group's sockets is about to begin), `cleanup`
/// (`rein run`: the command has ended, leftovers are killed, the group is about to be
/// removed) and `rollback` (any plan: a step failed, nothing is
/// undone yet). Release builds compile this to nothing and read no variable.
#[cfg(debug_assertions)]
#[doc(hidden)]
pub fn pause_for_tests(stage: &str) {
    if std::env::var_os("REIN_TEST_PAUSE").is_some_and(|v| v == stage) {
        eprintln!("rein: test pause at {stage} (pid {})", std::process::id());
        let resume = std::env::var_os("REIN_TEST_RESUME").map(std::path::PathBuf::from);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline && !resume.as_ref().is_some_and(|f| f.exists()) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

#[cfg(not(debug_assertions))]
#[doc(hidden)]
pub fn pause_for_tests(_stage: &str) {}

/// Undoes `done` newest first, and says what it could not undo and what it kept.
///
/// A directory keeps its mark until it is removed: a rein killed halfway through the
/// rollback leaves marked directories, which `rein gc` recognises. Only a directory that
/// cannot be removed loses a `named`, `parent` or `config` mark, so that it does not
/// look like a group that was made; a transient mark stays, so gc can collect it once
/// it is empty.
fn rollback(h: &Hierarchy, done: &[&Action], error: Error) -> Box<Failure> {
    pause_for_tests("rollback");
    let mut not_undone = Vec::new();
    let mut kept = Vec::new();
    let created = |place: &Place, group: &GroupPath| {
        done.iter().any(|d| matches!(d, Action::Mkdir { place: p, group: g, .. } if p == place && g == group))
    };
    for action in done.iter().rev() {
        match action {
            Action::Mkdir { place, group, .. } => {
                let mount = place.mount(h);
                if let Err(e) = mount.rmdir(group) {
                    not_undone.push(format!("could not remove {}: {e}", mount.dir_path(group).display()));
                    let mark = done.iter().find_map(|d| match d {
                        Action::Mark { place: p, group: g, mark } if p == place && g == group => Some(mark),
                        _ => None,
                    });
                    if mark.is_some_and(|m| !matches!(m, Mark::Transient { .. })) {
                        let _ = mount.remove_xattr(group, mark::XATTR);
                    }
                }
            }
            Action::Write { place, group, write, previous: Some(old), .. } => {
                let mount = place.mount(h);
                // The devices files are undone from what devices.list shows now.
                let source = format::undo_source(&write.file);
                let now = if source == write.file { None } else { mount.read(group, source).ok() };
                let undo = format::undo(&write.file, &write.value, old, now.as_deref());
                for (file, value) in &undo.writes {
                    if let Err(e) = mount.write(group, file, value) {
                        let what = mount.file_path(group, file).display().to_string();
                        not_undone.push(format!("could not restore {what} ({} written): {e}", shell_quote(value)));
                    }
                }
                let mut note = |n: String| {
                    if !not_undone.contains(&n) {
                        not_undone.push(n);
                    }
                };
                if let Some(why) = undo.lost {
                    note(format!("could not restore all of {}: {why}", mount.file_path(group, source).display()));
                }
                // A rule denied to a v1 devices group is taken from every group beneath it
                // too (propagate_exception); giving it back to the group does not.
                if undo.regrants {
                    if let Some(children) = mount.children(group).ok().filter(|c| !c.is_empty()) {
                        note(format!(
                            "the groups beneath {} ({}) keep whatever the change denied it: the kernel took the \
                             denied devices from them too, and the rollback gives them back to {group} only",
                            mount.dir_path(group).display(),
                            children.join(", ")
                        ));
                    }
                }
            }
            // A write into a directory this plan made goes with the directory; one with
            // nothing to restore elsewhere (controllers enabled) stays, on purpose, and so
            // does a v1 cpuset ancestor's first cpus or mems (`if_empty`: a concurrent
            // rein may have a group beneath it by now). Any other write whose old value
            // could not be read cannot be undone, and the error says so.
            Action::Write { place, group, write, previous: None, if_empty } => {
                if created(place, group) || *if_empty {
                    continue;
                }
                if write.kept_on_rollback {
                    kept.push(format!(
                        "{} > {}",
                        shell_quote(&write.value),
                        place.mount(h).file_path(group, &write.file).display()
                    ));
                } else {
                    not_undone.push(format!(
                        "left {} > {}: its value before was not known",
                        shell_quote(&write.value),
                        place.mount(h).file_path(group, &write.file).display()
                    ));
                }
            }
            // Goes with its directory (above).
            Action::Mark { .. } => {}
            Action::Program { place, group, program } if !created(place, group) => {
                let mount = place.mount(h);
                let undone = mount.open_dir(group).and_then(|dir| match &program.previous {
                    Some(insns) => bpf::install(dir.as_fd(), program.attach, program.name, insns),
                    None => bpf::remove(dir.as_fd(), program.attach, program.name).map(drop),
                });
                if let Err(e) = undone {
                    not_undone.push(format!(
                        "could not restore the {} program of {}: {e}",
                        program.name,
                        mount.dir_path(group).display()
                    ));
                }
            }
            // Goes with its directory.
            Action::Program { .. } => {}
            Action::Net { place, group, previous, .. } if !created(place, group) => {
                let mount = place.mount(h);
                let undone = mount.open_dir(group).and_then(|dir| match previous {
                    Some(c) => bpf::net_program::apply(dir.as_fd(), c),
                    None => bpf::net_program::remove(dir.as_fd()).map(drop),
                });
                if let Err(e) = undone {
                    not_undone.push(format!(
                        "could not restore the network settings of {}: {e}",
                        mount.dir_path(group).display()
                    ));
                }
            }
            Action::Net { .. } => {}
            Action::Permissions { place, group, previous, .. } if !created(place, group) => {
                let mount = place.mount(h);
                if let Err(e) = mount.restore_modes(group, previous) {
                    not_undone.push(format!(
                        "could not restore the owners and modes in {}: {e}",
                        mount.dir_path(group).display()
                    ));
                }
            }
            Action::Permissions { .. } => {}
        }
    }
    kept.reverse();
    Box::new(Failure { error, not_undone, kept })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeTree, Layout};

    /// While a directory is made, its parent names it in a creation record; once it is
    /// marked, the record is gone.
    #[test]
    fn a_creation_record_covers_the_mkdir_until_the_mark() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("t");
        let h = tree.hierarchy();
        let m = &h.unified().unwrap().mount;
        let t = GroupPath::parse("t").unwrap();
        let g = GroupPath::parse("t/g").unwrap();
        let mut plan = Plan::new();
        plan.push(Action::Mkdir { place: Place::V2, group: g.clone(), must_be_new: true });
        plan.push(Action::Mark { place: Place::V2, group: g.clone(), mark: Mark::Named });
        plan.execute(&h).unwrap();
        assert_eq!(m.get_xattr(&g, mark::XATTR).unwrap().as_deref(), Some("named"));
        assert!(mark::creation_records(m, &t).unwrap().is_empty());
        // The record, as it stands between mkdir and mark.
        let th = GroupPath::parse("t/h").unwrap();
        let parent = m.parent_of(&th).unwrap();
        let record = mark::record_creation(&parent, &th, 77);
        let records = mark::creation_records(m, &t).unwrap();
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0].1, mark::Creating { pid: std::process::id(), start: 77, name: "h".into() });
        assert!(records[0].0.starts_with(mark::CREATING));
        drop(record);
        assert!(mark::creation_records(m, &t).unwrap().is_empty());
    }

    /// A v1 tree with a devices hierarchy in which group `g` allows `list`, and `g`'s
    /// pids.max gone (a write there fails).
    fn v1_devices_tree(list: &str) -> FakeTree {
        let tree = FakeTree::new(Layout::V1);
        tree.group("g");
        for dir in ["devices", "devices/g"] {
            let d = tree.path().join(dir);
            std::fs::create_dir_all(&d).unwrap();
            for f in ["cgroup.procs", "devices.allow", "devices.deny"] {
                std::fs::write(d.join(f), "").unwrap();
            }
            std::fs::write(d.join("devices.list"), if dir == "devices" { "a *:* rwm\n" } else { list }).unwrap();
        }
        std::fs::remove_file(tree.path().join("pids/g/pids.max")).unwrap();
        tree
    }

    fn place_of(h: &Hierarchy, controller: crate::hierarchy::Controller) -> Place {
        Place::V1(h.v1_mounts().iter().position(|m| m.controllers.contains(&controller)).unwrap())
    }

    fn write(place: Place, file: &'static str, value: &str, previous: Option<&str>) -> Action {
        Action::Write {
            place,
            group: GroupPath::parse("g").unwrap(),
            write: Write::new(file, value),
            previous: previous.map(String::from),
            if_empty: false,
        }
    }

    /// A failed plan gives a v1 group back the rules its devices.list showed before: the
    /// inverse difference from what the list shows at rollback time.
    #[test]
    fn a_rollback_restores_v1_device_rules_from_devices_list() {
        use crate::hierarchy::Controller::{Devices, Pids};
        let tree = v1_devices_tree("c 1:3 rw\n");
        let h = tree.hierarchy();
        let (dev, pids) = (place_of(&h, Devices), place_of(&h, Pids));
        let mut plan = Plan::new();
        plan.push(write(dev, "devices.deny", "c 1:3 rw", Some("c 1:3 rw\n")));
        plan.push(write(dev, "devices.allow", "c 1:5 rw", Some("c 1:3 rw\n")));
        plan.push(write(pids, "pids.max", "5", Some("max\n")));
        // What the kernel would show once both rules are written (a fake file does not).
        std::fs::write(tree.path().join("devices/g/devices.list"), "c 1:5 rw\n").unwrap();
        crate::cgroupfs::write_log::start();
        let f = plan.try_execute(&h).unwrap_err();
        let root = tree.path().display().to_string();
        let log: Vec<String> = crate::cgroupfs::write_log::take()
            .into_iter()
            .map(|(p, v)| format!("{v} > {}", p.display().to_string().replace(&root, "")))
            .collect();
        assert!(f.error.to_string().contains("pids.max"), "{}", f.error);
        assert!(f.undone(), "{:?}", f.not_undone);
        assert_eq!(
            log[..4],
            [
                "c 1:3 rw > /devices/g/devices.deny",
                "c 1:5 rw > /devices/g/devices.allow",
                "c 1:5 rw > /devices/g/devices.deny",
                "c 1:3 rw > /devices/g/devices.allow",
            ]
        );
    }

    /// What a rollback cannot undo is named: a devices rule on a group that allowed every
    /// device (what it denied is not listed), a write whose old value was not read, and
    /// the groups beneath a devices group given back what the change denied.
    #[test]
    fn a_rollback_names_what_it_cannot_undo() {
        use crate::hierarchy::Controller::{Devices, Memory, Pids};
        let tree = v1_devices_tree("a *:* rwm\n");
        let h = tree.hierarchy();
        let (dev, mem, pids) = (place_of(&h, Devices), place_of(&h, Memory), place_of(&h, Pids));
        let mut plan = Plan::new();
        plan.push(write(dev, "devices.deny", "c 1:5 rwm", Some("a *:* rwm\n")));
        plan.push(write(mem, "memory.force_empty", "0", None));
        plan.push(write(pids, "pids.max", "5", Some("max\n")));
        std::fs::write(tree.path().join("memory/g/memory.force_empty"), "").unwrap();
        let f = plan.try_execute(&h).unwrap_err();
        let root = tree.path().display().to_string();
        let left: Vec<String> = f.not_undone.iter().map(|n| n.replace(&root, "")).collect();
        assert_eq!(left.len(), 2, "{left:#?}");
        assert_eq!(left[0], "left 0 > /memory/g/memory.force_empty: its value before was not known");
        assert!(left[1].starts_with("could not restore all of /devices/g/devices.list: it allowed every device"));
        let e = f.into_error();
        assert!(e.hint().unwrap().contains("memory.force_empty"), "{e:?}");

        // A denying default given back a device the change denied: its child groups are named.
        let tree = v1_devices_tree("c 1:3 rw\n");
        std::fs::create_dir_all(tree.path().join("devices/g/child")).unwrap();
        std::fs::write(tree.path().join("devices/g/devices.list"), "").unwrap();
        let h = tree.hierarchy();
        let mut plan = Plan::new();
        plan.push(write(place_of(&h, Devices), "devices.deny", "c 1:3 rw", Some("c 1:3 rw\n")));
        plan.push(write(place_of(&h, Pids), "pids.max", "5", Some("max\n")));
        let f = plan.try_execute(&h).unwrap_err();
        assert_eq!(f.not_undone.len(), 1, "{:#?}", f.not_undone);
        assert!(f.not_undone[0].contains("(child) keep whatever the change denied it"), "{:#?}", f.not_undone);
    }

    /// v1 memory.oom_control reads back three lines and takes one value.
    #[test]
    fn a_rollback_writes_memory_oom_control_back_as_the_file_takes_it() {
        use crate::hierarchy::Controller::{Memory, Pids};
        let tree = v1_devices_tree("a *:* rwm\n");
        let h = tree.hierarchy();
        let mut plan = Plan::new();
        let before = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        plan.push(write(place_of(&h, Memory), "memory.oom_control", "1", Some(before)));
        plan.push(write(place_of(&h, Pids), "pids.max", "5", Some("max\n")));
        let f = plan.try_execute(&h).unwrap_err();
        assert!(f.undone(), "{:?}", f.not_undone);
        assert_eq!(std::fs::read_to_string(tree.path().join("memory/g/memory.oom_control")).unwrap(), "0");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("268435456"), "268435456");
        assert_eq!(shell_quote("20000 100000"), "'20000 100000'");
        assert_eq!(shell_quote("+memory +cpu"), "'+memory +cpu'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
