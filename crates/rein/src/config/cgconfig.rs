//! Loading libcgroup's cgconfig.conf: what `cgconfigparser -l FILE` does, as a library
//! call ([`Loader::load`]). The file is parsed by [`crate::compat::cgconfig`].
//!
//! Each file is one change, all or nothing: its groups are created (or, when they exist,
//! changed) in the file's order, each with its controllers, its settings and its
//! owners and modes; when anything fails, every group the file created is removed and
//! every value and owner it changed is put back ([`Transaction`]). Before anything is
//! written, every group of the file is checked: its controllers against the host, its
//! settings through the translation cgset uses ([`crate::compat::raw::translate`]: on
//! cgroup v2 the v1 names of the file are written as their v2 equivalents, and the other
//! way round), its users and groups against /etc/passwd and /etc/group. Errors carry the
//! file's line ([`LoadError`]) and libcgroup's exit status and words for cgconfigparser.
//!
//! As libcgroup: a group's `perm` fields fall back, one by one, to the file's `default`
//! block, which replaces the command line's defaults (`-a`, `-t`, `-d`, `-f`, `-s`) and
//! stays in force for the files loaded after it; an owner not given is the caller's own
//! ids; the directory and every file are given the admin owner (re-owned to the caller
//! when the file names none), the task file (`tasks`, v1) the task owner and mode, and
//! modes are masked by the owner bits the kernel gave ([`crate::cgroupfs::owner_masked`]).
//! rein differs in three places, on purpose: on cgroup2, where there is no `tasks` file,
//! a `task` owner or mode given goes to `cgroup.procs` (libcgroup ignores it there); the
//! permissions of a group are given to its own directory and files, not to the child
//! groups below it that exist already (libcgroup re-owns the whole subtree); and a
//! `mount` block is never mounted: it is accepted when it says where the host has the
//! controllers already, and refused otherwise. `template` blocks are checked and not
//! created (they are for cgexec and cgrulesengd), as libcgroup does.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use rein::Hierarchy;
//! use rein::compat::cgconfig::Perm;
//! use rein::config::cgconfig::Loader;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let h = Arc::new(Hierarchy::detect()?);
//! // cgconfigparser -d 755 -l FILE: the command line's defaults, then each file in turn.
//! let mut loader = Loader::new(h, Perm { admin_dperm: Some(0o755), ..Perm::default() });
//! let text = "group web { memory { memory.limit_in_bytes = 256M; } cpu { cpu.shares = 512; } }";
//! match loader.load("web.conf", text) {
//!     Ok(done) => println!("created {:?}, changed {:?}", done.created, done.changed),
//!     // "web.conf:1: ...", and libcgroup's status and words for cgconfigparser.
//!     Err(e) => eprintln!("{e} ({}: {})", e.status(), e.libcgroup_words()),
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cgroupfs::{GroupPath, Owner, Permissions, TaskFile};
use crate::compat::cgconfig::{self, GroupBlock, Id, MountEntry, Perm};
use crate::compat::libcgroup::{self, Controllers};
use crate::compat::raw::{self, Home, Host};
use crate::error::Error;
use crate::group::{Group, Spec};
use crate::hierarchy::{Controller, Hierarchy};
use crate::lifecycle::{self, Change};
use crate::mark::Mark;
use crate::plan::{Action, Place, Plan, Transaction};

/// What kind of failure a [`LoadError`] is: it decides libcgroup's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The file could not be read.
    Open,
    /// The file is not valid cgconfig.conf (syntax, a mode, an unknown user, a block rein
    /// does not support).
    Parse,
    /// The mount block names a mount the host does not have.
    Mount,
    /// A controller of a group is not available on this host.
    Controller,
    /// A value was refused (by rein's checks or by the kernel), or the host refused a
    /// change.
    Apply,
}

/// Why a file was not loaded, where in it, and (see [`LoadError::status`]) how
/// libcgroup's cgconfigparser reports it.
#[derive(Debug)]
pub struct LoadError {
    /// The file, as given.
    pub file: String,
    /// The line the error is about, when there is one.
    pub line: Option<usize>,
    /// What kind of failure.
    pub failure: Failure,
    /// The error.
    pub error: Error,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.error),
            None => write!(f, "{}: {}", self.file, self.error),
        }
    }
}

impl std::error::Error for LoadError {}

impl LoadError {
    /// cgconfigparser's exit status for this error: libcgroup's error number modulo 256
    /// (ECGCONFIGPARSEFAIL 50024 is 104, ECGMOUNTFAIL 101, ECGOTHER 96: an error of the
    /// system, whose words are strerror's). A controller the host lacks is a parse
    /// failure to libcgroup, which looks controllers up while it reads the file.
    pub fn status(&self) -> u8 {
        match self.failure {
            Failure::Parse | Failure::Controller => 104,
            Failure::Mount => 101,
            Failure::Open | Failure::Apply => 96,
        }
    }

    /// libcgroup's words for it (`cgroup_strerror`): "Failed to parse config file",
    /// or for an error of the system its strerror ("Invalid argument" for a value the
    /// kernel, or rein before it, refused).
    pub fn libcgroup_words(&self) -> String {
        match self.failure {
            Failure::Parse | Failure::Controller => "Failed to parse config file".into(),
            Failure::Mount => "Cgroup mounting failed".into(),
            Failure::Open | Failure::Apply => match self.error.errno() {
                Some(n) => crate::errno::bare(&std::io::Error::from_raw_os_error(n)),
                None => "Invalid argument".into(),
            },
        }
    }
}

/// Users and groups by name, as /etc/passwd and /etc/group list them (what getpwnam
/// and getgrnam answer on a host without other NSS sources).
#[derive(Debug, Clone, Default)]
pub struct Ids {
    users: Vec<(String, u32)>,
    groups: Vec<(String, u32)>,
}

impl Ids {
    /// From the text of a passwd and a group file.
    pub fn parse(passwd: &str, group: &str) -> Ids {
        let table = |text: &str| {
            text.lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
                })
                .collect()
        };
        Ids { users: table(passwd), groups: table(group) }
    }

    /// This host's (/etc/passwd, /etc/group; a missing file lists nobody).
    pub fn system() -> Ids {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        Ids::parse(&read("/etc/passwd"), &read("/etc/group"))
    }

    /// A user's id.
    pub fn user(&self, id: &Id) -> Option<u32> {
        match id {
            Id::Number(n) => Some(*n),
            Id::Name(name) => self.users.iter().find(|(n, _)| n == name).map(|(_, i)| *i),
        }
    }

    /// A uid as a perm block names it: the user's name (the first passwd entry with that
    /// uid, as getpwuid answers), else the number.
    pub fn user_name(&self, uid: u32) -> Id {
        self.users.iter().find(|(_, i)| *i == uid).map_or(Id::Number(uid), |(n, _)| Id::Name(n.clone()))
    }

    /// A gid as a perm block names it: the group's name (the first entry of the group
    /// file with that gid, as getgrgid answers), else the number.
    pub fn group_name(&self, gid: u32) -> Id {
        self.groups.iter().find(|(_, i)| *i == gid).map_or(Id::Number(gid), |(n, _)| Id::Name(n.clone()))
    }

    /// A group's id.
    pub fn group(&self, id: &Id) -> Option<u32> {
        match id {
            Id::Number(n) => Some(*n),
            Id::Name(name) => self.groups.iter().find(|(n, _)| n == name).map(|(_, i)| *i),
        }
    }

    /// The admin owner and the task owner `perm` names, each id not given being `me`'s
    /// (libcgroup's `cg_chown`: an owner left out is the caller's uid or gid).
    pub fn owners(&self, perm: &Perm, me: Owner) -> Result<(Owner, Owner), Error> {
        let user = |id: &Option<Id>, what: &str| -> Result<u32, Error> {
            match id {
                None => Ok(me.uid),
                Some(i) => self.user(i).ok_or_else(|| {
                    Error::invalid(what, i.to_string(), "no such user in /etc/passwd; give a user name or a number")
                }),
            }
        };
        let group = |id: &Option<Id>, what: &str| -> Result<u32, Error> {
            match id {
                None => Ok(me.gid),
                Some(i) => self.group(i).ok_or_else(|| {
                    Error::invalid(what, i.to_string(), "no such group in /etc/group; give a group name or a number")
                }),
            }
        };
        Ok((
            Owner { uid: user(&perm.admin_uid, "admin uid")?, gid: group(&perm.admin_gid, "admin gid")? },
            Owner { uid: user(&perm.task_uid, "task uid")?, gid: group(&perm.task_gid, "task gid")? },
        ))
    }
}

/// What one file did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The groups it created, in order.
    pub created: Vec<GroupPath>,
    /// The groups that existed and were changed.
    pub changed: Vec<GroupPath>,
}

/// Loads cgconfig.conf files one after another, carrying the default permissions from
/// one to the next as cgconfigparser does.
#[derive(Debug)]
pub struct Loader {
    h: Arc<Hierarchy>,
    defaults: Perm,
    me: Owner,
    ids: Ids,
}

/// One group of a file, checked.
struct Checked<'a> {
    block: &'a GroupBlock,
    path: GroupPath,
    controllers: BTreeSet<Controller>,
    settings: Vec<(String, String)>,
    perm: Perm,
}

impl Loader {
    /// A loader for this host, with the command line's default permissions, the
    /// caller's ids as the owner of what no permission names, and this host's users.
    pub fn new(h: Arc<Hierarchy>, defaults: Perm) -> Loader {
        let me = Owner { uid: rustix::process::getuid().as_raw(), gid: rustix::process::getgid().as_raw() };
        Loader { h, defaults, me, ids: Ids::system() }
    }

    /// The same, with the users and groups given (tests, or another passwd).
    pub fn with_ids(h: Arc<Hierarchy>, defaults: Perm, me: Owner, ids: Ids) -> Loader {
        Loader { h, defaults, me, ids }
    }

    /// Reads and loads one file.
    pub fn load_file(&mut self, path: &Path) -> Result<Loaded, Box<LoadError>> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Box::new(LoadError {
                file: name.clone(),
                line: None,
                failure: Failure::Open,
                error: Error::Io { op: "read".into(), path: path.to_path_buf(), cause: e, hint: None },
            })
        })?;
        self.load(&name, &text)
    }

    /// Loads the text of a file (`file` names it in errors): see the module documentation.
    pub fn load(&mut self, file: &str, text: &str) -> Result<Loaded, Box<LoadError>> {
        let fail = |line: Option<usize>, failure: Failure, error: Error| {
            Box::new(LoadError { file: file.to_string(), line, failure, error })
        };
        let config = cgconfig::parse(text)
            .map_err(|e| fail(Some(e.line), Failure::Parse, Error::invalid("cgconfig.conf", file, e.message)))?;
        if let Some(d) = &config.default {
            // libcgroup: a file's default block replaces the defaults, command line included.
            self.defaults = d.clone();
        }
        for m in &config.mounts {
            check_mount(&self.h, m).map_err(|e| fail(Some(m.line), Failure::Mount, e))?;
        }
        let host = Host::of(&self.h, rustix::param::page_size() as u64);
        for t in &config.templates {
            self.check(t, &host, false).map_err(|(line, failure, e)| fail(Some(line), failure, e))?;
        }
        let mut checked = Vec::new();
        for g in &config.groups {
            checked.push(self.check(g, &host, true).map_err(|(line, failure, e)| fail(Some(line), failure, e))?);
        }
        self.apply(&checked, &host).map_err(|(line, e)| fail(line, Failure::Apply, e))
    }

    /// Checks one group block against the host, writing nothing.
    fn check<'a>(
        &self,
        g: &'a GroupBlock,
        host: &Host,
        translate: bool,
    ) -> Result<Checked<'a>, (usize, Failure, Error)> {
        let path = if g.name == "." || g.name == "/" {
            return Err((
                g.line,
                Failure::Apply,
                Error::invalid(
                    "group",
                    &g.name,
                    "rein does not change the root group of a hierarchy; name a group below it",
                ),
            ));
        } else if translate {
            GroupPath::parse(&g.name).map_err(|e| (g.line, Failure::Parse, e))?
        } else {
            GroupPath::root()
        };
        let mut controllers = BTreeSet::new();
        for c in &g.controllers {
            if c.name.contains('=') {
                return Err((
                    c.line,
                    Failure::Controller,
                    Error::Unsupported {
                        what: format!("the named hierarchy '{}'", c.name),
                        mode: "any host".into(),
                        reason:
                            "rein makes groups in the hierarchies of controllers; name controllers (cpu, memory, ...)"
                                .into(),
                    },
                ));
            }
            let set = libcgroup::resolve(&Controllers::Named(vec![c.name.clone()]), host).map_err(|e| {
                let failure =
                    if matches!(e, Error::ControllerUnavailable { .. }) { Failure::Controller } else { Failure::Parse };
                (c.line, failure, e)
            })?;
            controllers.extend(set);
        }
        if g.controllers.is_empty() {
            // A group of permissions alone is a cgroup2 group without controllers.
            libcgroup::resolve(&Controllers::Named(Vec::new()), host).map_err(|e| (g.line, Failure::Controller, e))?;
        }
        let settings: Vec<(String, String)> =
            g.controllers.iter().flat_map(|c| c.settings.iter().map(|s| (s.name.clone(), s.value.clone()))).collect();
        let mut perm = self.defaults.clone();
        perm.overlay(&g.perm);
        // Every name resolves now, so the apply cannot fail on one.
        self.owners(&perm).map_err(|e| (g.perm_line.unwrap_or(g.line), Failure::Parse, e))?;
        if translate {
            raw::translate(&settings, host, &current(&self.h, &path))
                .map_err(|e| (setting_line(g, &e), Failure::Apply, e))?;
        }
        Ok(Checked { block: g, path, controllers, settings, perm })
    }

    /// The admin owner and the task owner of `perm` (the caller's ids where unset).
    fn owners(&self, perm: &Perm) -> Result<(Owner, Owner), Error> {
        self.ids.owners(perm, self.me)
    }

    /// Creates or changes the checked groups, in order, as one transaction.
    fn apply(&self, groups: &[Checked<'_>], host: &Host) -> Result<Loaded, (Option<usize>, Error)> {
        let h = &self.h;
        // The existing groups' change locks, all at once in the lock order, held to the end.
        let existing: Vec<Group> = groups.iter().filter_map(|g| Group::open(h.clone(), &g.path).ok()).collect();
        let _locks = crate::group::lock_groups(&existing, crate::lock::LOCK_TIMEOUT).map_err(|e| (None, e))?;
        let mut tx = Transaction::new();
        let mut loaded = Loaded::default();
        for g in groups {
            let planned = self.plan_group(g, host);
            let (plan, created) = match planned {
                Ok(p) => p,
                Err(e) => return Err((Some(setting_line(g.block, &e)), tx.abort(h, e))),
            };
            tx.execute(h, &plan).map_err(|e| (Some(setting_line(g.block, &e)), e))?;
            if created {
                loaded.created.push(g.path.clone());
            } else if !loaded.changed.contains(&g.path) && !loaded.created.contains(&g.path) {
                loaded.changed.push(g.path.clone());
            }
        }
        Ok(loaded)
    }

    /// The plan of one group against the host as it is now (the groups before it in the
    /// file made): its creation or change, then its owners and modes.
    fn plan_group(&self, g: &Checked<'_>, host: &Host) -> Result<(crate::plan::Plan, bool), Error> {
        let h = &self.h;
        let t = raw::translate(&g.settings, host, &current(h, &g.path))?;
        let change = Change { spec: Spec { resources: t.resources, accounting: g.controllers.clone() }, raw: t.raw };
        let existing = Group::open(h.clone(), &g.path).ok();
        let mut plan = match &existing {
            None => lifecycle::plan_create(h, &g.path, &change, Mark::Named)?,
            Some(group) => lifecycle::plan_set(group, &change)?,
        };
        let mut controllers = g.controllers.clone();
        controllers.extend(change.spec.resources.controllers());
        controllers.extend(raw::controllers_of(&change.raw));
        plan_permissions(h, &mut plan, &g.path, &controllers, &g.perm, self.owners(&g.perm)?)?;
        Ok((plan, existing.is_none()))
    }
}

/// Adds to `plan`, which creates or changes the group `path` with `controllers`, the
/// owners and modes of `perm` (libcgroup's `perm` block, or cgcreate's and
/// cgconfigparser's `-a`, `-t`, `-d`, `-f`, `-s`), `owners` being its admin and task
/// owners resolved ([`Ids::owners`]): one [`Action::Permissions`] for each directory the
/// group has, or that `plan` makes, in its controllers' hierarchies and in cgroup2
/// (where rein keeps every group's core files, on hybrid hosts too). Each carries the
/// owners and modes the directory has now, which a rollback puts back (a directory the
/// plan makes is removed instead).
///
/// As libcgroup's `_cgroup_create_cgroup`: the directory and every file go to the admin
/// owner, the directory gets the admin directory mode, the files the admin file mode,
/// each masked by the owner bits the kernel gave ([`crate::cgroupfs::owner_masked`]);
/// on v1 the task file `tasks` goes to the task owner, with the task mode. On cgroup2,
/// which has no `tasks`, libcgroup ignores the task owner and mode; rein gives them to
/// `cgroup.procs` when any of them is given (it is the file that says who may move
/// processes into the group), and otherwise treats it as any other file.
///
/// # Example
///
/// ```no_run
/// use std::collections::BTreeSet;
/// use rein::compat::cgconfig::{Id, Perm};
/// use rein::config::cgconfig::{Ids, plan_permissions};
/// use rein::lifecycle::{self, Change};
/// use rein::{Controller, GroupPath, Hierarchy, Spec};
/// use rein::cgroupfs::Owner;
/// use rein::mark::Mark;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let h = Hierarchy::detect()?;
/// let path = GroupPath::parse("web")?;
/// let controllers = BTreeSet::from([Controller::Pids]);
/// let change = Change { spec: Spec { accounting: controllers.clone(), ..Spec::default() }, raw: Vec::new() };
/// let mut plan = lifecycle::plan_create(&h, &path, &change, Mark::Named)?;
/// // cgcreate -a nobody:nogroup -d 750 -g pids:web
/// let perm = Perm {
///     admin_uid: Some(Id::Name("nobody".into())),
///     admin_gid: Some(Id::Name("nogroup".into())),
///     admin_dperm: Some(0o750),
///     ..Perm::default()
/// };
/// let owners = Ids::system().owners(&perm, Owner { uid: 0, gid: 0 })?;
/// plan_permissions(&h, &mut plan, &path, &controllers, &perm, owners)?;
/// plan.execute(&h)?;
/// # Ok(()) }
/// ```
pub fn plan_permissions(
    h: &Hierarchy,
    plan: &mut Plan,
    path: &GroupPath,
    controllers: &BTreeSet<Controller>,
    perm: &Perm,
    (admin, task): (Owner, Owner),
) -> Result<(), Error> {
    let mut places: Vec<Place> = Vec::new();
    for c in controllers {
        if let Ok(p) = lifecycle::place_of(h, Home::Controller(*c)) {
            if !places.contains(&p) {
                places.push(p);
            }
        }
    }
    if h.unified().is_some() && !places.contains(&Place::V2) {
        places.push(Place::V2);
    }
    let task_given = perm.task_uid.is_some() || perm.task_gid.is_some() || perm.task_fperm.is_some();
    for place in places {
        let m = place.mount(h);
        let new = !m.exists(path);
        let made = plan
            .actions()
            .iter()
            .any(|a| matches!(a, Action::Mkdir { place: p, group, .. } if *p == place && group == path));
        if new && !made {
            continue;
        }
        let task_file = match place {
            Place::V1(_) => Some(TaskFile { name: "tasks", owner: task, mode: perm.task_fperm }),
            Place::V2 if task_given => Some(TaskFile { name: "cgroup.procs", owner: task, mode: perm.task_fperm }),
            Place::V2 => None,
        };
        let previous = if new { Vec::new() } else { m.entry_modes(path)? };
        plan.push(Action::Permissions {
            place,
            group: path.clone(),
            permissions: Permissions {
                admin,
                dir_mode: perm.admin_dperm,
                file_mode: perm.admin_fperm,
                task: task_file,
            },
            previous,
        });
    }
    Ok(())
}

/// Reads a group's present files by their native name, in whichever hierarchy has them.
fn current<'a>(h: &'a Hierarchy, path: &'a GroupPath) -> impl Fn(&str) -> Option<String> + 'a {
    move |file: &str| lifecycle::read_file(h, path, raw::home_of(file).ok()?, file)
}

/// The line of the setting an error is about (it names the file), else the group's.
fn setting_line(g: &GroupBlock, e: &Error) -> usize {
    let text = e.to_string();
    let named = |name: &str| match e {
        Error::InvalidValue { what, .. } | Error::Unsupported { what, .. } => what == name || text.contains(name),
        _ => text.contains(&format!("/{name}")) || text.contains(&format!(" {name}")),
    };
    g.controllers.iter().flat_map(|c| c.settings.iter()).find(|s| named(&s.name)).map(|s| s.line).unwrap_or(g.line)
}

/// Whether a mount block's entry says where the host has its controllers already.
fn check_mount(h: &Hierarchy, m: &MountEntry) -> Result<(), Error> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let wanted = canon(Path::new(m.path.trim_end_matches('/')));
    let refuse = |reason: String| Error::Unsupported {
        what: format!("mount {} = {}", m.controller, m.path),
        mode: h.mode().to_string(),
        reason,
    };
    for word in m.controller.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        // Mount flags: what is mounted is not remounted, whatever its flags.
        if matches!(word, "nodev" | "noexec" | "nosuid") {
            continue;
        }
        if word.starts_with("name=") {
            return Err(refuse(format!(
                "rein does not use named hierarchies ({word}); remove the entry, and name controllers in the groups"
            )));
        }
        let c =
            Controller::from_name(word).ok_or_else(|| Error::invalid("controller", word, "not a cgroup controller"))?;
        let at: PathBuf = match h.binding(c) {
            Some(b) => b.mount().path().to_path_buf(),
            None => {
                return Err(refuse(format!(
                    "no hierarchy of this host has the {word} controller, and rein never mounts one; mount it \
                     yourself (mount -t cgroup -o {word} none {}) or remove the entry",
                    m.path
                )));
            }
        };
        if canon(&at) != wanted {
            return Err(refuse(format!(
                "{word} is mounted at {}, and rein never mounts or moves a hierarchy; write '{word} = {};' or \
                 remove the mount block (rein finds the mounts itself)",
                at.display(),
                at.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeTree, Layout};

    fn ids() -> Ids {
        Ids::parse("root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n", "root:x:0:\nstaff:x:50:\n")
    }

    fn me() -> Owner {
        Owner { uid: rustix::process::getuid().as_raw(), gid: rustix::process::getgid().as_raw() }
    }

    fn loader(tree: &FakeTree) -> Loader {
        Loader::with_ids(tree.hierarchy(), Perm::default(), me(), ids())
    }

    #[test]
    fn ids_by_name_and_number() {
        let i = ids();
        assert_eq!(i.user(&Id::Name("alice".into())), Some(1000));
        assert_eq!(i.user(&Id::Number(7)), Some(7));
        assert_eq!(i.group(&Id::Name("staff".into())), Some(50));
        assert_eq!(i.group(&Id::Name("nobody".into())), None);
        assert_eq!(i.user_name(1000), Id::Name("alice".into()));
        assert_eq!(i.user_name(7), Id::Number(7));
        assert_eq!(i.group_name(50), Id::Name("staff".into()));
        assert_eq!(i.group_name(1000), Id::Number(1000));
    }

    #[test]
    fn refusals_are_located_and_leave_the_tree_as_it_was() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("t/a");
        let before = tree.snapshot();
        for (text, line, failure, needle) in [
            (
                "group t/a {\n pids {\n  pids.max = 5;\n }\n}\ngroup t/b {\n cpu {\n  cpu.weight = 0;\n }\n}\n",
                Some(8),
                Failure::Apply,
                "between 1 and 10000",
            ),
            ("group t/a {\n nosuch { }\n}\n", Some(2), Failure::Parse, "not a cgroup controller"),
            ("group t/a {\n perm { admin { uid = bob; } }\n pids { }\n}\n", Some(2), Failure::Parse, "no such user"),
            ("group t/a { pids { } x }\n", Some(1), Failure::Parse, "expected '{'"),
            ("mount {\n cpu = /somewhere/else;\n}\n", Some(2), Failure::Mount, "rein never mounts or moves"),
            ("mount {\n \"name=systemd\" = /sys/fs/cgroup/systemd;\n}\n", Some(2), Failure::Mount, "named hierarchies"),
            ("group . { cpu { } }\n", Some(1), Failure::Apply, "root group"),
        ] {
            let e = loader(&tree).load("f.conf", text).unwrap_err();
            assert_eq!((e.line, e.failure), (line, failure), "{text:?}: {e}");
            assert!(e.to_string().contains(needle), "{text:?}: {e}");
            assert!(e.to_string().starts_with(&format!("f.conf:{}: ", line.unwrap())), "{e}");
            assert_eq!(tree.snapshot(), before, "{text:?} changed the tree");
        }
        let e = loader(&tree).load("f.conf", "group t/a { cpuset { cpuset.cpus = abc123; } }").unwrap_err();
        assert_eq!((e.status(), e.libcgroup_words().as_str()), (96, "Invalid argument"), "{e}");
        let e = loader(&tree).load("f.conf", "group t/a { cpu { } x }").unwrap_err();
        assert_eq!((e.status(), e.libcgroup_words().as_str()), (104, "Failed to parse config file"));
    }

    #[test]
    fn a_mount_block_that_matches_the_host_is_accepted() {
        let tree = FakeTree::new(Layout::V1);
        tree.group("t/a");
        let root = tree.path().display().to_string();
        let text = format!(
            "mount {{\n cpu = {root}/cpu;\n \"cpuset,nodev\" = {root}/cpuset/;\n}}\ngroup t/a {{ cpu {{ }} }}\n"
        );
        // The group exists with every file: only its owners are set (to the caller's own).
        loader(&tree).load("f.conf", &text).unwrap();
        let e = loader(&tree).load("f.conf", &format!("mount {{ cpu = {root}/cpuset; }}")).unwrap_err();
        assert!(e.to_string().contains(&format!("cpu is mounted at {root}/cpu")), "{e}");
    }

    #[test]
    fn values_and_modes_of_an_existing_group_and_their_rollback() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("t/a");
        tree.group("t/b");
        let dir = tree.path().join("t/a");
        let mode = |f: &str| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o7777
        };
        let value = || std::fs::read_to_string(dir.join("pids.max")).unwrap().trim().to_string();
        let before = (mode("pids.max"), value());
        // The second group writes a file the (fake) kernel does not have: the first
        // group's value and modes are put back.
        let text = "group t/a {\n perm { admin { fperm = 600; } }\n pids { pids.max = 7; }\n}\n\
                    group t/b {\n pids { pids.nosuch = 1; }\n}\n";
        let e = loader(&tree).load("f.conf", text).unwrap_err();
        assert_eq!((e.line, e.failure), (Some(6), Failure::Apply), "{e}");
        assert!(e.to_string().contains("pids.nosuch"), "{e}");
        assert_eq!((mode("pids.max"), value()), before);
        // Without it, both stay.
        let loaded = loader(&tree).load("f.conf", &text.replace("pids.nosuch = 1", "pids.max = 9")).unwrap();
        assert_eq!(loaded.changed.len(), 2);
        assert_eq!(std::fs::read_to_string(dir.join("pids.max")).unwrap().trim(), "7");
        assert_eq!(mode("pids.max"), 0o600);
        assert_eq!(std::fs::read_to_string(tree.path().join("t/b/pids.max")).unwrap().trim(), "9");
    }

    fn mode_of(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
    }

    /// A fake tree holding `existing`, and the change that gives `path` the pids controller.
    fn pids_group(
        layout: Layout,
        existing: &str,
        path: &str,
    ) -> (FakeTree, Arc<Hierarchy>, GroupPath, BTreeSet<Controller>, Change) {
        let tree = FakeTree::new(layout);
        tree.group(existing);
        let h = tree.hierarchy();
        let controllers = BTreeSet::from([Controller::Pids]);
        let change = Change { spec: Spec { accounting: controllers.clone(), ..Spec::default() }, raw: Vec::new() };
        (tree, h, GroupPath::parse(path).unwrap(), controllers, change)
    }

    #[test]
    fn owners_default_to_the_callers_ids_and_names_resolve() {
        let me = Owner { uid: 7, gid: 8 };
        let perm = Perm { admin_gid: Some(Id::Name("staff".into())), task_uid: Some(Id::Number(9)), ..Perm::default() };
        assert_eq!(ids().owners(&perm, me).unwrap(), (Owner { uid: 7, gid: 50 }, Owner { uid: 9, gid: 8 }));
        let e = ids().owners(&Perm { task_uid: Some(Id::Name("bob".into())), ..Perm::default() }, me).unwrap_err();
        assert!(e.to_string().contains("bob") && e.to_string().contains("no such user"), "{e}");
    }

    #[test]
    fn permissions_go_to_the_group_in_its_controllers_hierarchies_and_cgroup2() {
        // Hybrid: an existing group with pids; cpu's directory is not the group's concern.
        let (tree, h, path, controllers, change) = pids_group(Layout::Hybrid, "t/a", "t/a");
        let group = Group::open(h.clone(), &path).unwrap();
        let mut plan = lifecycle::plan_set(&group, &change).unwrap();
        let perm =
            Perm { admin_dperm: Some(0o750), admin_fperm: Some(0o640), task_fperm: Some(0o660), ..Perm::default() };
        plan_permissions(&h, &mut plan, &path, &controllers, &perm, (me(), me())).unwrap();
        let places: Vec<Place> = plan
            .actions()
            .iter()
            .filter_map(|a| match a {
                Action::Permissions { place, previous, .. } => {
                    assert!(!previous.is_empty(), "an existing directory's modes are kept for the rollback");
                    Some(*place)
                }
                _ => None,
            })
            .collect();
        let pids = lifecycle::place_of(&h, Home::Controller(Controller::Pids)).unwrap();
        assert_eq!(places, vec![pids, Place::V2]);
        plan.execute(&h).unwrap();
        let root = tree.path();
        assert_eq!(mode_of(&root.join("pids/t/a")), 0o750);
        assert_eq!(mode_of(&root.join("pids/t/a/tasks")), 0o660);
        assert_eq!(mode_of(&root.join("pids/t/a/cgroup.procs")), 0o640);
        assert_eq!(mode_of(&root.join("pids/t/a/pids.max")), 0o640);
        // cgroup2 has no tasks: a task mode given goes to cgroup.procs.
        assert_eq!(mode_of(&root.join("unified/t/a")), 0o750);
        assert_eq!(mode_of(&root.join("unified/t/a/cgroup.procs")), 0o660);
        assert_eq!(mode_of(&root.join("cpu/t/a")), 0o755, "another controller's directory changed");

        // Without a task owner or mode, cgroup.procs is a file like the others.
        let perm = Perm { admin_fperm: Some(0o600), ..Perm::default() };
        let mut plan = lifecycle::plan_set(&group, &change).unwrap();
        plan_permissions(&h, &mut plan, &path, &controllers, &perm, (me(), me())).unwrap();
        plan.execute(&h).unwrap();
        assert_eq!(mode_of(&root.join("unified/t/a/cgroup.procs")), 0o600);
        assert_eq!(mode_of(&root.join("pids/t/a/tasks")), 0o660, "tasks keeps its mode when no task mode is given");
    }

    #[test]
    fn a_new_group_gets_its_permissions_after_its_directory_is_made() {
        let (tree, h, path, controllers, change) = pids_group(Layout::V2, "t", "t/new");
        let mut plan = lifecycle::plan_create(&h, &path, &change, Mark::Named).unwrap();
        let perm = Perm { admin_dperm: Some(0o700), ..Perm::default() };
        plan_permissions(&h, &mut plan, &path, &controllers, &perm, (me(), me())).unwrap();
        let (mkdir, perms) = (
            plan.actions().iter().position(|a| matches!(a, Action::Mkdir { group, .. } if *group == path)),
            plan.actions()
                .iter()
                .position(|a| matches!(a, Action::Permissions { previous, .. } if previous.is_empty())),
        );
        assert!(mkdir.unwrap() < perms.unwrap(), "{:?}", plan.actions());
        plan.execute(&h).unwrap();
        assert_eq!(mode_of(&tree.path().join("t/new")), 0o700);
        // A group that neither exists nor is made gets nothing.
        let mut empty = crate::plan::Plan::default();
        let other = GroupPath::parse("t/other").unwrap();
        plan_permissions(&h, &mut empty, &other, &controllers, &perm, (me(), me())).unwrap();
        assert!(empty.actions().is_empty());
    }

    #[test]
    fn the_default_block_replaces_the_command_lines_and_carries_on() {
        let tree = FakeTree::new(Layout::V2);
        let cli = Perm { admin_fperm: Some(0o640), admin_dperm: Some(0o750), ..Perm::default() };
        let mut l = Loader::with_ids(tree.hierarchy(), cli, me(), ids());
        l.load("a.conf", "default { perm { task { uid = alice; } admin { gid = staff; } } }").unwrap();
        assert_eq!(
            l.defaults,
            Perm {
                task_uid: Some(Id::Name("alice".into())),
                admin_gid: Some(Id::Name("staff".into())),
                ..Perm::default()
            }
        );
        l.load("b.conf", "").unwrap();
        assert_eq!(l.defaults.task_uid, Some(Id::Name("alice".into())));
    }
}
