//! Plans: the mkdirs and writes that bring a group to its limits, computed before any
//! of them happens, then either shown (`--dry-run`) or executed with rollback.
//!
//! Executing a plan is transactional: when a step fails, the groups this plan created
//! are removed and the values it changed are written back, newest first, so a failed
//! command leaves nothing half-made behind.

use std::borrow::Cow;
use std::fmt;

use crate::cgroupfs::{GroupPath, Mount};
use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
use crate::ownership::{self, Mark};

/// One interface-file write: `value > file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The interface file, e.g. `memory.max`.
    pub file: Cow<'static, str>,
    /// The text written.
    pub value: String,
}

impl Write {
    /// A write of `value` to `file`.
    pub fn new(file: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Write {
        Write { file: file.into(), value: value.into() }
    }
}

/// Which hierarchy an action touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    /// The cgroup2 hierarchy.
    V2,
    /// The v1 hierarchy at this index of [`Hierarchy::v1_mounts`].
    V1(usize),
}

impl Place {
    /// The mount this place refers to.
    pub fn mount<'h>(&self, h: &'h Hierarchy) -> &'h Mount {
        match self {
            Place::V2 => &h.unified().expect("a V2 place exists only with a cgroup2 mount").mount,
            Place::V1(i) => &h.v1_mounts()[*i].mount,
        }
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
    /// Mark a directory this plan created as rein's ([`crate::ownership`]). Skipped
    /// when the directory existed already (a concurrent process made it first).
    Mark {
        /// Where.
        place: Place,
        /// The group.
        group: GroupPath,
        /// The mark.
        mark: Mark,
    },
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
                    ownership::XATTR,
                    shell_quote(&mark.value()),
                    place.mount(self.h).dir_path(group).display()
                )?,
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

    /// Runs every action; on failure undoes what this run did and returns the error.
    pub fn execute(&self, h: &Hierarchy) -> Result<()> {
        let mut done: Vec<&Action> = Vec::with_capacity(self.actions.len());
        for action in &self.actions {
            if let Action::Mark { place, group, .. } = action {
                // Only directories this run created are marked.
                let created = done
                    .iter()
                    .any(|d| matches!(d, Action::Mkdir { place: p, group: g, .. } if p == place && g == group));
                if !created {
                    continue;
                }
            }
            match run_action(h, action) {
                Ok(true) => done.push(action),
                Ok(false) => {}
                Err(err) => return Err(rollback(h, &done, err)),
            }
        }
        Ok(())
    }
}

/// Performs one action. Returns whether it changed something that rollback must undo.
fn run_action(h: &Hierarchy, action: &Action) -> Result<bool> {
    match action {
        Action::Mkdir { place, group, must_be_new } => {
            let mount = place.mount(h);
            let created = mount.mkdir(group)?;
            if !created && *must_be_new {
                return Err(Error::state(
                    format!("group {} already exists ({})", group, mount.dir_path(group).display()),
                    Some("pick another name, or use 'rein set' to change an existing group".into()),
                ));
            }
            Ok(created)
        }
        Action::Write { place, group, write, if_empty, previous } => {
            let mount = place.mount(h);
            if *if_empty && mount.read(group, &write.file).map(|t| !t.trim().is_empty()).unwrap_or(false) {
                return Ok(false);
            }
            mount.write(group, &write.file, &write.value)?;
            Ok(previous.is_some())
        }
        Action::Mark { place, group, mark } => {
            place.mount(h).set_xattr(group, ownership::XATTR, &mark.value())?;
            Ok(true)
        }
    }
}

/// Undoes `done` newest first. Failures to undo are added to the error's hint, so the
/// user learns exactly what is left.
fn rollback(h: &Hierarchy, done: &[&Action], err: Error) -> Error {
    let mut left = Vec::new();
    for action in done.iter().rev() {
        match action {
            Action::Mkdir { place, group, .. } => {
                let mount = place.mount(h);
                if let Err(e) = mount.rmdir(group) {
                    left.push(format!("could not remove {}: {e}", mount.dir_path(group).display()));
                }
            }
            Action::Write { place, group, write, previous: Some(old), .. } => {
                let mount = place.mount(h);
                if let Err(e) = mount.write(group, &write.file, old.trim_end()) {
                    left.push(format!("could not restore {}: {e}", mount.file_path(group, &write.file).display()));
                }
            }
            Action::Write { .. } => {}
            Action::Mark { place, group, .. } => {
                // The rmdir that follows takes the mark with it; removing it first keeps
                // a directory that cannot be removed from claiming to be rein's.
                let _ = place.mount(h).remove_xattr(group, ownership::XATTR);
            }
        }
    }
    if left.is_empty() {
        return err;
    }
    let extra = left.join("; ");
    match err {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("268435456"), "268435456");
        assert_eq!(shell_quote("20000 100000"), "'20000 100000'");
        assert_eq!(shell_quote("+memory +cpu"), "'+memory +cpu'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
