//! Which groups are rein's: the `user.rein` mark, and garbage collection of the
//! transient groups a crashed `rein run` left behind.
//!
//! # The mark
//!
//! rein writes an extended attribute on every cgroup directory it creates, as part of
//! the same [`crate::plan::Plan`] as the `mkdir` (so `--dry-run` shows it and rollback
//! covers it). cgroupfs keeps `user.*` attributes on cgroup directories since Linux 5.7
//! (v1 and v2 alike). The attribute lives and dies with the directory: there is no
//! registry file to drift out of date, and a group someone else made can never carry it
//! by accident.
//!
//! | value | written by | meaning |
//! |---|---|---|
//! | `named` | `rein create` (and the `cgcreate` compat name) | a group the user named and owns; rein never removes it on its own |
//! | `parent` | any rein command that had to create a missing ancestor | a directory rein made to hold other groups; never collected |
//! | `transient pid=P start=T` | `rein run` | a group that lives as long as the rein process P, started at T (clock ticks after boot, field 22 of /proc/P/stat) |
//!
//! # Creation records: mkdir and mark as one step
//!
//! A directory exists from its `mkdir` on, and gets its mark one system call later: a
//! rein killed in between (`kill -9`, the OOM killer) would leave an unmarked directory
//! that looks like anybody's, and `rein gc` could never tell it was rein's. cgroup2 has
//! no rename (so no "make it under a temporary name, mark it, rename it"), and a
//! directory cannot be made with an attribute. So rein records its intent on the parent
//! first: before the `mkdir` it sets `user.rein.creating.<pid>.<tid>` =
//! `pid=P start=T name=NAME` on the parent directory, and removes it once the new
//! directory carries its mark. A directory without a mark whose parent holds a record
//! naming it, by a process that is gone, is a group rein was making when it died: gc
//! treats it like a stale transient group. A record whose process is gone and whose
//! directory is marked or absent is removed by gc.
//!
//! The kernel keeps at most 128 `user.*` attributes per cgroup directory, 128 KiB in
//! all (kernfs, `KERNFS_MAX_USER_XATTRS`): a record lives only for the two system calls
//! around one `mkdir`, and a creator that finds them all taken (ENOSPC: over a hundred
//! creations in one parent at the same instant) waits for a free one, for up to
//! [`RECORD_WAIT`], before it goes on without a record.
//!
//! # Garbage collection
//!
//! A transient group is stale when its rein process is gone: no process P exists, or
//! the process P that exists now started at another time (the pid was reused). `rein gc`
//! removes a stale transient directory only when it is also empty: no process in it nor
//! in any group beneath it. Groups beneath it (a command that organised itself into
//! child groups) go with it, deepest first, when each has the group's owner and no mark
//! but the transient one of a rein that is gone. The same holds for an unmarked
//! directory whose creation record's process is gone. Everything else is left alone, and gc says so with the
//! reason: groups with another mark, and the unmarked (foreign) groups beneath the
//! directory it was given or beneath a directory rein marked. The pid is only meaningful
//! in the pid namespace rein ran in: run `rein gc` from the same one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cgroupfs::{GroupPath, Mount, ParentDir, format};
use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
use crate::plan::Place;
use crate::v1;

/// The extended attribute that marks rein's directories.
pub const XATTR: &str = "user.rein";

/// The prefix of the creation records rein sets on a parent directory while it makes a
/// child there (see "Creation records" above).
pub const CREATING: &str = "user.rein.creating.";

/// How long a creator waits for the kernel to have room for its creation record.
pub const RECORD_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A creation record: the process `pid`, started at `start`, is making the child `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creating {
    /// The creating process.
    pub pid: u32,
    /// Its start time (clock ticks after boot, `/proc/PID/stat` field 22).
    pub start: u64,
    /// The child directory being made.
    pub name: String,
}

impl Creating {
    /// The record's value: `pid=P start=T name=NAME`.
    pub fn value(&self) -> String {
        format!("pid={} start={} name={}", self.pid, self.start, self.name)
    }

    /// Parses a record's value; None for anything rein did not write.
    pub fn parse(value: &str) -> Option<Creating> {
        let rest = value.strip_prefix("pid=")?;
        let (pid, rest) = rest.split_once(' ')?;
        let (start, name) = rest.strip_prefix("start=")?.split_once(" name=")?;
        let name = name.to_string();
        crate::cgroupfs::GroupPath::parse(&name).ok().filter(|p| p.parent().is_some_and(|p| p.is_root()))?;
        Some(Creating { pid: pid.parse().ok()?, start: start.parse().ok()?, name })
    }
}

/// A creation record set on a parent directory, removed on drop (see [`record_creation`]).
pub(crate) struct CreationRecord<'p, 'm> {
    parent: &'p ParentDir<'m>,
    key: Option<String>,
}

impl Drop for CreationRecord<'_, '_> {
    fn drop(&mut self) {
        if let Some(key) = &self.key {
            let _ = self.parent.remove_xattr(key);
        }
    }
}

/// Records on `parent` that this process (started at `start`) is making `group` there,
/// before the mkdir: see "Creation records" above. Best effort: where the parent takes
/// no record (no permission, a filesystem without user xattrs, or no room after
/// [`RECORD_WAIT`]), the creation goes on without one.
pub(crate) fn record_creation<'p, 'm>(
    parent: &'p ParentDir<'m>,
    group: &GroupPath,
    start: u64,
) -> CreationRecord<'p, 'm> {
    let pid = std::process::id();
    let key = format!("{CREATING}{pid}.{}", rustix::thread::gettid().as_raw_nonzero());
    let value = Creating { pid, start, name: group.name().to_string() }.value();
    let deadline = std::time::Instant::now() + RECORD_WAIT;
    let mut pause = std::time::Duration::from_micros(100);
    loop {
        match parent.set_xattr(&key, &value) {
            Ok(()) => return CreationRecord { parent, key: Some(key) },
            // Every one of the parent's 128 user attributes is taken, by other creators
            // of the same instant: theirs go within microseconds.
            Err(e) if e.errno() == Some(libc::ENOSPC) && std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(20));
            }
            Err(_) => return CreationRecord { parent, key: None },
        }
    }
}

/// Creation records, each with its attribute name.
pub type Records = Vec<(String, Creating)>;

/// The creation records on a directory: (attribute name, record).
pub fn creation_records(mount: &Mount, dir: &GroupPath) -> Result<Records> {
    let mut out = Vec::new();
    for name in mount.xattr_names(dir)? {
        if !name.starts_with(CREATING) {
            continue;
        }
        if let Some(c) = mount.get_xattr(dir, &name)?.as_deref().and_then(Creating::parse) {
            out.push((name, c));
        }
    }
    Ok(out)
}

/// What a rein mark says about a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Mark {
    /// Created by `rein create`: the user's group.
    Named,
    /// An ancestor rein created on the way to another group.
    Parent,
    /// Created by `rein apply` for the rein.toml file whose owner name hashes to `id`
    /// ([`config_id`]): `apply --prune` and `rein down` remove only these.
    Config {
        /// The hash of the file's owner name.
        id: u64,
    },
    /// Created by `rein run` for the life of one rein process.
    Transient {
        /// The rein process.
        pid: u32,
        /// When it started, in clock ticks after boot (`/proc/PID/stat` field 22).
        start: u64,
    },
}

impl Mark {
    /// The mark as stored in the extended attribute.
    pub fn value(&self) -> String {
        match self {
            Mark::Named => "named".into(),
            Mark::Parent => "parent".into(),
            Mark::Config { id } => format!("config id={id:016x}"),
            Mark::Transient { pid, start } => format!("transient pid={pid} start={start}"),
        }
    }

    /// Parses a stored mark.
    pub fn parse(text: &str) -> Result<Mark> {
        let bad = |why: &str| Error::parse(XATTR, format!("'{}': {why}", crate::error::escape(text)));
        let mut words = text.split_whitespace();
        match words.next() {
            Some("named") if words.next().is_none() => Ok(Mark::Named),
            Some("parent") if words.next().is_none() => Ok(Mark::Parent),
            Some("config") => match (words.next().and_then(|w| w.strip_prefix("id=")), words.next()) {
                (Some(id), None) if id.len() == 16 => {
                    u64::from_str_radix(id, 16).map(|id| Mark::Config { id }).map_err(|_| bad("id is not hexadecimal"))
                }
                _ => Err(bad("config marks are 'config id=' and 16 hex digits")),
            },
            Some("transient") => {
                let (mut pid, mut start) = (None, None);
                for w in words {
                    match w.split_once('=') {
                        Some(("pid", v)) => pid = Some(v.parse().map_err(|_| bad("pid is not a number"))?),
                        Some(("start", v)) => start = Some(v.parse().map_err(|_| bad("start is not a number"))?),
                        _ => return Err(bad("unknown field")),
                    }
                }
                match (pid, start) {
                    (Some(pid), Some(start)) => Ok(Mark::Transient { pid, start }),
                    _ => Err(bad("transient marks need pid= and start=")),
                }
            }
            _ => Err(bad("expected named, parent or transient")),
        }
    }

    /// The mark for a transient group of the calling process.
    pub fn transient_for_self(procs: &ProcTable) -> Result<Mark> {
        let pid = std::process::id();
        let start = procs.start_time(pid).ok_or_else(|| {
            Error::state(
                format!("cannot read the start time of rein itself from {}", procs.root.join("self/stat").display()),
                Some("rein needs /proc mounted to mark its transient groups".into()),
            )
        })?;
        Ok(Mark::Transient { pid, start })
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mark::Named => f.write_str("named"),
            Mark::Parent => f.write_str("parent"),
            Mark::Config { id } => write!(f, "config {id:016x}"),
            Mark::Transient { pid, .. } => write!(f, "transient (rein pid {pid})"),
        }
    }
}

/// The id of a rein.toml file's groups: FNV-1a (64 bit) of its owner name (its `name`
/// key, else its absolute path). Stable across rein versions and hosts.
pub fn config_id(owner: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in owner.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The start time of a process from the text of `/proc/PID/stat`: field 22, counted
/// after the command name, which is in parentheses and may itself hold spaces and `)`.
pub fn parse_stat_start_time(stat: &str) -> Result<u64> {
    let after = stat.rfind(')').map(|i| &stat[i + 1..]).ok_or_else(|| Error::parse("stat", "no ')' after comm"))?;
    // After the comm: field 3 (state) is the first word, so field 22 is the 20th.
    let field = after.split_whitespace().nth(19).ok_or_else(|| Error::parse("stat", "fewer than 22 fields"))?;
    field
        .parse()
        .map_err(|_| Error::parse("stat", format!("starttime '{}' is not a number", crate::error::escape(field))))
}

/// Reads processes from a proc filesystem (`/proc`, or a fake one in tests).
#[derive(Debug, Clone)]
pub struct ProcTable {
    root: PathBuf,
}

impl Default for ProcTable {
    fn default() -> Self {
        ProcTable { root: PathBuf::from("/proc") }
    }
}

/// Whether the rein process behind a transient mark is still there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// The same process (pid and start time) is running.
    Running,
    /// No process has that pid.
    Gone,
    /// Another process has the pid now (it started at another time).
    Reused,
}

impl ProcTable {
    /// A table over a proc filesystem mounted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> ProcTable {
        ProcTable { root: root.into() }
    }

    /// The start time of `pid` (clock ticks after boot), if it exists.
    pub fn start_time(&self, pid: u32) -> Option<u64> {
        let name = if pid == std::process::id() && self.root == Path::new("/proc") {
            "self".to_string()
        } else {
            pid.to_string()
        };
        let text = std::fs::read_to_string(self.root.join(name).join("stat")).ok()?;
        parse_stat_start_time(&text).ok()
    }

    /// The command name of `pid` (for messages), if it exists.
    pub fn comm(&self, pid: u32) -> Option<String> {
        let text = std::fs::read_to_string(self.root.join(pid.to_string()).join("comm")).ok()?;
        Some(crate::error::escape(text.trim_end()))
    }

    /// The text of `/proc/PID/cgroup`, if the process exists.
    pub fn cgroups(&self, pid: u32) -> Option<String> {
        std::fs::read_to_string(self.root.join(pid.to_string()).join("cgroup")).ok()
    }

    /// The text of `/proc/locks` (who holds which file lock), if readable.
    pub fn locks(&self) -> Option<String> {
        std::fs::read_to_string(self.root.join("locks")).ok()
    }

    /// Whether the owner of a transient mark is still running.
    pub fn owner(&self, pid: u32, start: u64) -> Owner {
        match self.start_time(pid) {
            None => Owner::Gone,
            Some(t) if t == start => Owner::Running,
            Some(_) => Owner::Reused,
        }
    }
}

/// What a directory is to `rein gc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GcKind {
    /// Marked `transient`: a `rein run` group (or a handle's), removed once its rein
    /// process is gone and it is empty.
    Transient,
    /// Not marked, but its parent holds a creation record naming it: a group rein was
    /// making (mkdir done, mark not yet); treated like a transient group.
    Unfinished,
    /// Marked `named`, `parent` or `config`: never removed by gc.
    Kept,
    /// Not marked and no record names it: not rein's (or made by hand); never removed.
    Foreign,
    /// A creation record whose process is gone, on the directory `directory`: removed.
    Record,
}

/// What `rein gc` decided about one directory.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct GcEntry {
    /// The group (for a [`GcKind::Record`], the directory holding the record).
    pub group: String,
    /// The directory.
    pub directory: PathBuf,
    /// What it is.
    pub kind: GcKind,
    /// Its mark, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
    /// The rein process that made it (a transient mark, or a creation record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Where that process is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// For a [`GcKind::Record`]: the attribute (`user.rein.creating.<pid>.<tid>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// Whether gc removes (or, in a dry run, would remove) it.
    pub remove: bool,
    /// Why it is kept, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_because: Option<String>,
    /// Set when the removal itself failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    place: Place,
    #[serde(skip)]
    path: GroupPath,
    /// Creation records on the parent naming this directory, removed after it.
    #[serde(skip)]
    records: Vec<String>,
    /// Groups beneath it that go first (its command made them), deepest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub below: Vec<PathBuf>,
    #[serde(skip)]
    below_paths: Vec<GroupPath>,
}

impl GcEntry {
    fn new(place: Place, m: &Mount, g: &GroupPath, kind: GcKind) -> GcEntry {
        GcEntry {
            group: g.to_string(),
            directory: m.dir_path(g),
            kind,
            mark: None,
            pid: None,
            owner: None,
            record: None,
            remove: false,
            kept_because: None,
            error: None,
            place,
            path: g.clone(),
            records: Vec::new(),
            below: Vec::new(),
            below_paths: Vec::new(),
        }
    }
}

/// Why a group with this mark is never removed by gc.
fn never_collected(mark: &Mark) -> String {
    match mark {
        Mark::Named => "a named group (rein create): gc never removes it; 'rein rm' does".into(),
        Mark::Parent => "a parent rein made for other groups: gc never removes it; 'rein rm' does".into(),
        Mark::Config { id } => {
            format!("a group of a rein.toml (config {id:016x}): gc never removes it; 'rein down' of its file does")
        }
        Mark::Transient { .. } => String::new(),
    }
}

/// Finds rein's transient directories beneath `under` (the whole tree when None) in
/// every hierarchy, with the unfinished ones its creation records name, and decides
/// which are stale and empty. Also lists what it keeps: groups with another mark, and
/// unmarked (foreign) groups directly beneath `under` or beneath a directory rein
/// marked, each with the reason. Reads only.
pub fn gc_plan(h: &Hierarchy, under: Option<&GroupPath>, procs: &ProcTable) -> Result<Vec<GcEntry>> {
    let mut out = Vec::new();
    let mut places = Vec::new();
    if h.unified().is_some() {
        places.push(Place::V2);
    }
    places.extend((0..h.v1_mounts().len()).map(Place::V1));
    let top = under.cloned().unwrap_or_default();
    for place in places {
        let m = place.mount(h);
        if !m.exists(&top) {
            continue;
        }
        // Each directory with what its parent says about it: whether the parent is
        // rein's (marked, or the directory gc was given) and its creation records.
        let mut stack: Vec<(GroupPath, bool, Records)> = vec![(top.clone(), false, Vec::new())];
        while let Some((g, parent_ours, records)) = stack.pop() {
            let children = match m.children(&g) {
                Ok(c) => c,
                // A group removed while we walk is not an error.
                Err(e) if e.errno() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            let mark = if g.is_root() {
                None
            } else {
                match m.get_xattr(&g, XATTR) {
                    Ok(v) => v.map(|v| Mark::parse(&v).ok()),
                    // Removed while we walk (a run ending): nothing to collect.
                    Err(e) if e.errno() == Some(libc::ENOENT) => continue,
                    Err(e) => return Err(e),
                }
            };
            let here = match creation_records(m, &g) {
                Ok(r) => r,
                Err(e) if e.errno() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            let ours = g == top || matches!(mark, Some(Some(_)));
            // A group removed with its subtree takes these back off the stack.
            let pushed_from = stack.len();
            for c in children.iter().rev() {
                if let Ok(child) = g.join(c) {
                    let named: Vec<(String, Creating)> = here.iter().filter(|(_, r)| r.name == *c).cloned().collect();
                    stack.push((child, ours, named));
                }
            }
            // Records of processes that are gone, for a directory that is not there or
            // carries its mark by now: the creation ended (or never began).
            for (key, r) in &here {
                let owner = procs.owner(r.pid, r.start);
                if owner == Owner::Running {
                    continue;
                }
                let child = g.join(&r.name).ok();
                let marked = child.as_ref().is_some_and(|c| m.get_xattr(c, XATTR).ok().flatten().is_some());
                if children.contains(&r.name) && !marked {
                    continue; // decided with the directory itself
                }
                let mut e = GcEntry::new(place, m, &g, GcKind::Record);
                e.pid = Some(r.pid);
                e.owner = Some(owner);
                e.record = Some(key.clone());
                e.remove = true;
                out.push(e);
            }
            if g.is_root() {
                continue;
            }
            let (kind, pid, start) = match mark {
                Some(Some(Mark::Transient { pid, start })) => (GcKind::Transient, pid, start),
                Some(Some(other)) => {
                    let mut e = GcEntry::new(place, m, &g, GcKind::Kept);
                    e.mark = Some(other);
                    e.kept_because = Some(never_collected(&other));
                    out.push(e);
                    continue;
                }
                // A value rein does not write: nobody's mark it knows.
                Some(None) => {
                    let mut e = GcEntry::new(place, m, &g, GcKind::Foreign);
                    e.kept_because = Some(format!("its {XATTR} attribute is not a mark rein writes"));
                    out.push(e);
                    continue;
                }
                None => {
                    // The creation record of a live process wins: it is making it now.
                    let live = records.iter().find(|(_, r)| procs.owner(r.pid, r.start) == Owner::Running);
                    match (live, records.first()) {
                        (None, Some((_, r))) => (GcKind::Unfinished, r.pid, r.start),
                        (Some((_, r)), _) => {
                            let mut e = GcEntry::new(place, m, &g, GcKind::Unfinished);
                            e.pid = Some(r.pid);
                            e.owner = Some(Owner::Running);
                            e.kept_because = Some(format!("rein process {} is creating it", r.pid));
                            out.push(e);
                            continue;
                        }
                        (None, None) => {
                            if parent_ours {
                                let mut e = GcEntry::new(place, m, &g, GcKind::Foreign);
                                e.kept_because = Some("not made by rein: it has no user.rein mark".into());
                                out.push(e);
                            }
                            continue;
                        }
                    }
                }
            };
            let owner = procs.owner(pid, start);
            // rein makes a group inside a directory its user may write, so the two share
            // an owner. A mark on a directory whose owner does not own the parent (the
            // top of a subtree delegated to a user, who may set any user.* attribute on
            // it) proves nothing, and removing it would do what its owner cannot.
            let (dir_uid, parent_uid) = (m.owner(&g).ok(), g.parent().and_then(|p| m.owner(&p).ok()));
            let mut below = Vec::new();
            let kept_because = match owner {
                Owner::Running => Some(format!("its rein process {pid} is still running")),
                _ if dir_uid != parent_uid => Some(format!(
                    "its owner (uid {}) does not own its parent (uid {}): rein did not make it there",
                    dir_uid.map(|u| u.to_string()).unwrap_or_else(|| "?".into()),
                    parent_uid.map(|u| u.to_string()).unwrap_or_else(|| "?".into())
                )),
                // Groups its command made beneath it go with it, when nothing holds them.
                _ => match subtree_to_remove(m, &g, dir_uid, procs)? {
                    Err(why) => Some(format!("it has child groups ({}): {why}", children.join(", "))),
                    Ok(groups) => match procs_in(m, &g)? {
                        p if p.is_empty() => {
                            below = groups;
                            None
                        }
                        p => Some(format!("it holds processes: {}", describe_pids(&p, procs))),
                    },
                },
            };
            if !below.is_empty() {
                stack.truncate(pushed_from);
            }
            let mut e = GcEntry::new(place, m, &g, kind);
            e.mark = if kind == GcKind::Transient { Some(Mark::Transient { pid, start }) } else { None };
            e.pid = Some(pid);
            e.owner = Some(owner);
            e.remove = kept_because.is_none();
            e.kept_because = kept_because;
            e.records = records.iter().map(|(k, _)| k.clone()).collect();
            e.below = below.iter().map(|b| m.dir_path(b)).collect();
            e.below_paths = below;
            out.push(e);
        }
    }
    // A group is one unit across hierarchies: the command of a rein killed at launch is
    // in the cgroup2 directory from clone3 on and joins the v1 ones an instant later, so
    // an empty directory of a group kept elsewhere is kept too (and never half-removed).
    let mut kept: BTreeMap<String, String> = BTreeMap::new();
    for e in out.iter().filter(|e| e.kind != GcKind::Record) {
        if let Some(why) = &e.kept_because {
            kept.entry(e.group.clone()).or_insert_with(|| format!("{why} (in {})", e.directory.display()));
        }
    }
    for e in out.iter_mut().filter(|e| e.remove && e.kind != GcKind::Record) {
        if let Some(why) = kept.get(&e.group) {
            e.remove = false;
            e.kept_because = Some(why.clone());
        }
    }
    Ok(out)
}

/// Removes the entries [`gc_plan`] chose, re-checking each is still empty (rmdir fails
/// with EBUSY otherwise, so nothing populated is ever removed) and, for an unfinished
/// one, still unmarked; then the creation records naming it. Failures are recorded in
/// the entries; returns them all.
pub fn gc_execute(h: &Hierarchy, mut entries: Vec<GcEntry>) -> Vec<GcEntry> {
    for e in entries.iter_mut().filter(|e| e.remove) {
        let m = e.place.mount(h);
        if e.kind == GcKind::Record {
            if let Err(err) = m.remove_xattr(&e.path, e.record.as_deref().unwrap_or_default()) {
                e.remove = false;
                e.error = Some(err.to_string());
            }
            continue;
        }
        // A process that was making it and marked it since (its record is gone then)
        // owns it now.
        if e.kind == GcKind::Unfinished && m.get_xattr(&e.path, XATTR).ok().flatten().is_some() {
            e.remove = false;
            e.kept_because = Some("it was marked meanwhile".into());
            continue;
        }
        if let Err(err) = e.below_paths.iter().chain(std::iter::once(&e.path)).try_for_each(|g| m.rmdir(g)) {
            e.remove = false;
            e.error = Some(err.to_string());
            continue;
        }
        if let Some(parent) = e.path.parent() {
            for key in &e.records {
                let _ = m.remove_xattr(&parent, key);
            }
        }
    }
    entries
}

/// The groups beneath `g` (deepest first) when all of them may go with it, else why not:
/// none may hold a process, each must have `g`'s owner (`uid`: rein's user made them, or
/// the command it ran), and none may carry a mark but the transient one of a rein that
/// is gone (a nested `rein run` of the command).
fn subtree_to_remove(
    m: &Mount,
    g: &GroupPath,
    uid: Option<u32>,
    procs: &ProcTable,
) -> Result<std::result::Result<Vec<GroupPath>, String>> {
    let mut below = Vec::new();
    let mut stack = vec![g.clone()];
    while let Some(d) = stack.pop() {
        let children = match m.children(&d) {
            Ok(c) => c,
            Err(e) if e.errno() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        for c in children {
            let child = d.join(&c)?;
            if m.owner(&child).ok() != uid {
                return Ok(Err(format!("{child} belongs to another user")));
            }
            match m.get_xattr(&child, XATTR)?.map(|v| Mark::parse(&v)) {
                None => {}
                Some(Ok(Mark::Transient { pid, start })) if procs.owner(pid, start) != Owner::Running => {}
                Some(_) => return Ok(Err(format!("{child} carries a mark of its own"))),
            }
            let p = procs_in(m, &child)?;
            if !p.is_empty() {
                return Ok(Err(format!("{child} holds processes: {}", describe_pids(&p, procs))));
            }
            below.push(child.clone());
            stack.push(child);
        }
    }
    below.sort_by_key(|p| std::cmp::Reverse(p.as_str().matches('/').count()));
    Ok(Ok(below))
}

fn procs_in(m: &Mount, g: &GroupPath) -> Result<Vec<u32>> {
    match m.read(g, v1::CGROUP_PROCS) {
        Ok(t) => format::pids(v1::CGROUP_PROCS, &t),
        Err(e) if e.errno() == Some(libc::ENOENT) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// `1234 (sleep), 1240 (python3)`, at most ten, for messages.
pub fn describe_pids(pids: &[u32], procs: &ProcTable) -> String {
    const SHOWN: usize = 10;
    let unique: BTreeSet<u32> = pids.iter().copied().collect();
    let mut parts: Vec<String> = unique
        .iter()
        .take(SHOWN)
        .map(|p| match procs.comm(*p) {
            Some(c) => format!("{p} ({c})"),
            None => p.to_string(),
        })
        .collect();
    if unique.len() > SHOWN {
        parts.push(format!("and {} more", unique.len() - SHOWN));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_refuse_junk() {
        for m in [Mark::Named, Mark::Parent, Mark::Config { id: 0xabc }, Mark::Transient { pid: 42, start: 123_456 }] {
            assert_eq!(Mark::parse(&m.value()).unwrap(), m);
        }
        assert_eq!(Mark::Transient { pid: 7, start: 9 }.value(), "transient pid=7 start=9");
        for bad in [
            "",
            "named x",
            "transient",
            "transient pid=1",
            "transient pid=x start=1",
            "owned",
            "transient pid=1 start=2 x=3",
            "config",
            "config id=12",
            "config id=zzzzzzzzzzzzzzzz",
        ] {
            assert!(Mark::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stat_start_time_survives_hostile_comm() {
        // Captured from this host (/proc/self/stat of a shell), comm replaced.
        let tail = "S 1 1 1 0 -1 4194560 1000 0 0 0 3 1 0 0 20 0 1 0 987654 8000000 500 18446744073709551615";
        for comm in ["bash", "a b", "x) S 1 2 3", "((", ")"] {
            let stat = format!("4242 ({comm}) {tail}");
            assert_eq!(parse_stat_start_time(&stat).unwrap(), 987_654, "{comm}");
        }
        assert!(parse_stat_start_time("4242 (x) S 1 2").is_err());
        assert!(parse_stat_start_time("no parens").is_err());
    }

    fn fake_proc(entries: &[(u32, u64, &str)]) -> (tempfile::TempDir, ProcTable) {
        let dir = tempfile::tempdir().unwrap();
        for (pid, start, comm) in entries {
            let d = dir.path().join(pid.to_string());
            std::fs::create_dir_all(&d).unwrap();
            let stat = format!("{pid} ({comm}) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 0 0");
            std::fs::write(d.join("stat"), stat).unwrap();
            std::fs::write(d.join("comm"), format!("{comm}\n")).unwrap();
        }
        let table = ProcTable::new(dir.path());
        (dir, table)
    }

    #[test]
    fn owners_running_gone_reused() {
        let (_d, procs) = fake_proc(&[(10, 500, "rein"), (11, 900, "sleep")]);
        assert_eq!(procs.owner(10, 500), Owner::Running);
        assert_eq!(procs.owner(11, 500), Owner::Reused);
        assert_eq!(procs.owner(12, 500), Owner::Gone);
        assert_eq!(describe_pids(&[11, 12], &procs), "11 (sleep), 12");
    }

    /// The command of a rein killed while launching it sits in the group's cgroup2
    /// directory before it joins the v1 ones: gc keeps the whole group, not only the
    /// directory that holds it, and says where the process is.
    #[test]
    fn gc_keeps_every_directory_of_a_group_one_of_which_is_populated() {
        use crate::testing::{FakeTree, Layout};
        let tree = FakeTree::new(Layout::Hybrid);
        let h = tree.hierarchy();
        let (_d, procs) = fake_proc(&[(20, 7, "rein")]);
        let dirs = tree.group("t/g");
        let g = GroupPath::parse("t/g").unwrap();
        let mark = Mark::Transient { pid: 99, start: 1 }.value();
        let mut places = vec![Place::V2];
        places.extend((0..h.v1_mounts().len()).map(Place::V1));
        for place in &places {
            place.mount(&h).set_xattr(&g, XATTR, &mark).unwrap();
        }
        let unified = dirs.iter().find(|d| *d == &tree.path().join("unified/t/g")).unwrap();
        std::fs::write(unified.join("cgroup.procs"), "20\n").unwrap();
        let plan = gc_plan(&h, Some(&GroupPath::parse("t").unwrap()), &procs).unwrap();
        assert_eq!(plan.len(), places.len());
        let held = format!("it holds processes: 20 (rein) (in {})", unified.display());
        for e in &plan {
            assert!(!e.remove, "{}", e.directory.display());
            let why = e.kept_because.as_deref().unwrap();
            assert!(why == "it holds processes: 20 (rein)" || why == held, "{}: {why}", e.directory.display());
        }
    }

    /// A rein killed between the mkdir and the mark leaves an unmarked directory, named
    /// by the creation record on its parent: gc removes it (and the record) once the
    /// process is gone, keeps it while it runs, and removes records left alone.
    #[test]
    fn gc_removes_what_a_dead_creator_left_between_mkdir_and_mark() {
        use crate::testing::{FakeTree, Layout};
        let tree = FakeTree::new(Layout::V2);
        let h = tree.hierarchy();
        let m = &h.unified().unwrap().mount;
        let (_d, procs) = fake_proc(&[(10, 500, "rein")]);
        let t = GroupPath::parse("t").unwrap();
        tree.group("t");
        // Empty directories, as the kernel's rmdir needs them (a fake group holds files).
        for d in ["dead", "alive", "done"] {
            std::fs::create_dir(tree.path().join("t").join(d)).unwrap();
        }
        m.set_xattr(&GroupPath::parse("t/done").unwrap(), XATTR, &Mark::Named.value()).unwrap();
        let record = |key: &str, c: Creating| m.set_xattr(&t, &format!("{CREATING}{key}"), &c.value()).unwrap();
        record("99.99", Creating { pid: 99, start: 1, name: "dead".into() });
        record("10.10", Creating { pid: 10, start: 500, name: "alive".into() });
        record("98.98", Creating { pid: 98, start: 1, name: "done".into() });
        record("97.97", Creating { pid: 97, start: 1, name: "never-made".into() });
        let plan = gc_plan(&h, Some(&t), &procs).unwrap();
        let verdicts: Vec<(GcKind, String, bool, Option<String>)> = plan
            .iter()
            .map(|e| (e.kind, e.record.clone().unwrap_or_else(|| e.group.clone()), e.remove, e.kept_because.clone()))
            .collect();
        let names = |v: &[(GcKind, String, bool, Option<String>)]| -> Vec<String> {
            v.iter().map(|x| format!("{:?} {} {}", x.0, x.1, x.2)).collect()
        };
        let mut got = names(&verdicts);
        got.sort();
        assert_eq!(
            got,
            [
                "Kept /t/done false",
                "Record user.rein.creating.97.97 true",
                "Record user.rein.creating.98.98 true",
                "Unfinished /t/alive false",
                "Unfinished /t/dead true",
            ],
            "{verdicts:#?}"
        );
        let alive = plan.iter().find(|e| e.group == "/t/alive").unwrap();
        assert_eq!(alive.kept_because.as_deref(), Some("rein process 10 is creating it"));
        let done = gc_execute(&h, plan);
        assert!(done.iter().all(|e| e.error.is_none()), "{done:#?}");
        assert!(!tree.path().join("t/dead").exists());
        assert!(tree.path().join("t/alive").exists() && tree.path().join("t/done").exists());
        let left: Vec<String> = creation_records(m, &t).unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(left, [format!("{CREATING}10.10")]);
    }

    #[test]
    fn creation_records_round_trip_and_refuse_junk() {
        let c = Creating { pid: 42, start: 7, name: "run-42".into() };
        assert_eq!(c.value(), "pid=42 start=7 name=run-42");
        assert_eq!(Creating::parse(&c.value()), Some(c));
        for bad in ["", "pid=1", "pid=x start=1 name=a", "pid=1 start=1 name=a/b", "pid=1 start=1 name=..", "start=1"] {
            assert_eq!(Creating::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn gc_keeps_everything_but_stale_empty_transient_groups() {
        use crate::testing::{FakeTree, Layout};
        let tree = FakeTree::new(Layout::V2);
        let h = tree.hierarchy();
        let m = &h.unified().unwrap().mount;
        let (_d, procs) = fake_proc(&[(10, 500, "rein"), (20, 7, "sleep")]);
        let mark = |p: &str, mark: Option<Mark>| {
            tree.group(p);
            if let Some(mark) = mark {
                m.set_xattr(&GroupPath::parse(p).unwrap(), XATTR, &mark.value()).unwrap();
            }
        };
        mark("t", Some(Mark::Parent));
        mark("t/stale", Some(Mark::Transient { pid: 99, start: 1 }));
        mark("t/reused", Some(Mark::Transient { pid: 10, start: 1 }));
        mark("t/alive", Some(Mark::Transient { pid: 10, start: 500 }));
        mark("t/busy", Some(Mark::Transient { pid: 99, start: 1 }));
        std::fs::write(tree.path().join("t/busy/cgroup.procs"), "20\n").unwrap();
        // Child groups its command made go with a stale group, unless one holds a process.
        mark("t/nested", Some(Mark::Transient { pid: 99, start: 1 }));
        mark("t/nested/inner", None);
        mark("t/held", Some(Mark::Transient { pid: 99, start: 1 }));
        mark("t/held/inner", None);
        std::fs::write(tree.path().join("t/held/inner/cgroup.procs"), "20\n").unwrap();
        mark("t/named", Some(Mark::Named));
        mark("t/foreign", None);
        let plan = gc_plan(&h, Some(&GroupPath::parse("t").unwrap()), &procs).unwrap();
        let verdicts: Vec<(String, bool, Option<String>)> =
            plan.iter().map(|e| (e.group.clone(), e.remove, e.kept_because.clone())).collect();
        let kept = |s: &str| Some(s.to_string());
        assert_eq!(
            verdicts,
            [
                (
                    "/t".to_string(),
                    false,
                    kept("a parent rein made for other groups: gc never removes it; 'rein rm' does")
                ),
                ("/t/alive".into(), false, kept("its rein process 10 is still running")),
                ("/t/busy".into(), false, kept("it holds processes: 20 (sleep)")),
                ("/t/foreign".into(), false, kept("not made by rein: it has no user.rein mark")),
                (
                    "/t/held".into(),
                    false,
                    kept("it has child groups (inner): /t/held/inner holds processes: 20 (sleep)")
                ),
                ("/t/held/inner".into(), false, kept("not made by rein: it has no user.rein mark")),
                ("/t/named".into(), false, kept("a named group (rein create): gc never removes it; 'rein rm' does")),
                ("/t/nested".into(), true, None),
                ("/t/reused".into(), true, None),
                ("/t/stale".into(), true, None),
            ]
        );
        let nested = plan.iter().find(|e| e.group == "/t/nested").unwrap();
        assert_eq!(nested.below, [tree.path().join("t/nested/inner")]);
        // A fake directory holds files, so rmdir fails: the failure is reported, not hidden.
        let done = gc_execute(&h, plan);
        assert!(done.iter().filter(|e| e.group == "/t/stale").all(|e| !e.remove && e.error.is_some()));
    }
}
