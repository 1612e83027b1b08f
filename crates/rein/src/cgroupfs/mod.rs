//! The hardened cgroupfs accessor, and parsers for the kernel's file formats.
//!
//! Every read, write, mkdir and rmdir rein does on a cgroup filesystem goes through
//! [`Mount`]. It holds a directory fd of the hierarchy's root and resolves every path
//! beneath it with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)`
//! (or, on kernels before 5.6, a component-by-component `openat(O_NOFOLLOW)` walk), so no
//! access can leave the root or follow a symlink. Files are never created (`O_CREAT` is
//! never passed): a misspelled interface file fails instead of leaving a stray file.

pub mod format;
mod path;
mod perm;

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

pub use path::GroupPath;
pub use perm::{EntryMode, Owner, Permissions, TaskFile, owner_masked};
use rustix::fs::{Gid, Uid};

use crate::error::{Error, Result};

/// Whether to check that a mount really is a cgroup filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Refuse anything that is not cgroup or cgroup2 (statfs magic). The default.
    CgroupFs,
    /// Accept any directory: for fake trees in tests.
    Nothing,
}

const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Set once openat2 turned out to be missing (ENOSYS) or refused by a seccomp filter
/// (EPERM), so later calls walk directly.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// A hierarchy root; all access to groups beneath it goes through here.
///
/// The root directory is opened (and checked to be a cgroup filesystem) on first use, so
/// a command that touches two hierarchies of nine pays for two.
pub struct Mount {
    fd: OnceLock<OwnedFd>,
    path: PathBuf,
    verify: Verify,
}

impl fmt::Debug for Mount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mount").field("path", &self.path).finish()
    }
}

/// What kind of file operation failed, for hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Mkdir,
    Rmdir,
    Open,
    Xattr,
}

impl Mount {
    /// A hierarchy root at `path`; opened and verified on first use.
    pub fn open(path: &Path, verify: Verify) -> Result<Mount> {
        Ok(Mount { fd: OnceLock::new(), path: path.to_path_buf(), verify })
    }

    /// The root directory fd, opening it on first use. A root that is not a cgroup
    /// filesystem (with [`Verify::CgroupFs`]) gives EMEDIUMTYPE.
    fn root(&self) -> std::result::Result<BorrowedFd<'_>, Errno> {
        if let Some(fd) = self.fd.get() {
            return Ok(fd.as_fd());
        }
        let fd = rustix::fs::open(&self.path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        if self.verify == Verify::CgroupFs {
            let st = rustix::fs::fstatfs(&fd)?;
            #[allow(clippy::unnecessary_cast)]
            let magic = st.f_type as i64;
            if magic != CGROUP_SUPER_MAGIC && magic != CGROUP2_SUPER_MAGIC {
                return Err(Errno::MEDIUMTYPE);
            }
        }
        // A racing thread may have set it first; either fd is fine.
        let _ = self.fd.set(fd);
        Ok(self.fd.get().expect("set above").as_fd())
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The absolute directory of a group (for messages and dry runs).
    pub fn dir_path(&self, group: &GroupPath) -> PathBuf {
        if group.is_root() { self.path.clone() } else { self.path.join(group.as_str()) }
    }

    /// The absolute path of a group's interface file (for messages and dry runs).
    pub fn file_path(&self, group: &GroupPath, file: &str) -> PathBuf {
        self.dir_path(group).join(file)
    }

    /// Reads a file of the root group.
    pub(crate) fn root_read(&self, file: &str) -> Result<String> {
        self.read(&GroupPath::root(), file)
    }

    /// True when the group's directory exists (and is a directory, reached without symlinks).
    pub fn exists(&self, group: &GroupPath) -> bool {
        group.is_root() || self.resolve(group.as_str(), OFlags::PATH | OFlags::DIRECTORY).is_ok()
    }

    /// True when the group has this interface file.
    pub(crate) fn has_file(&self, group: &GroupPath, file: &str) -> bool {
        check_file_name(file).is_ok() && self.resolve(&rel(group, file), OFlags::PATH).is_ok()
    }

    /// Whether this process may write an interface file (faccessat with the effective
    /// ids, as the kernel will check the write). False when it is missing. In a subtree
    /// delegated to a user, the files of the groups above it are not theirs to write.
    pub(crate) fn may_write(&self, group: &GroupPath, file: &str) -> bool {
        if check_file_name(file).is_err() {
            return false;
        }
        let dir = if group.is_root() {
            self.root().and_then(|root| {
                rustix::fs::openat(root, ".", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            })
        } else {
            self.resolve(group.as_str(), OFlags::PATH | OFlags::DIRECTORY)
        };
        dir.and_then(|d| rustix::fs::accessat(&d, file, rustix::fs::Access::WRITE_OK, AtFlags::EACCESS)).is_ok()
    }

    /// The user id owning a group's directory (in a delegated subtree, the delegatee).
    pub fn owner(&self, group: &GroupPath) -> Result<u32> {
        let dir = self.group_dir(group)?;
        rustix::fs::fstat(dir.fd()).map(|st| st.st_uid).map_err(|e| self.fail(Op::Open, group, None, None, e))
    }

    /// Reads an interface file whole.
    pub fn read(&self, group: &GroupPath, file: &str) -> Result<String> {
        let fd = self.open_file(group, file, OFlags::RDONLY)?;
        let buf = read_all(&fd).map_err(|e| self.fail(Op::Read, group, Some(file), None, e))?;
        String::from_utf8(buf).map_err(|_| Error::parse(file, "not UTF-8"))
    }

    /// Writes `value` to an interface file in one write(2), as the kernel requires.
    pub fn write(&self, group: &GroupPath, file: &str, value: &str) -> Result<()> {
        let fd = self.open_file(group, file, OFlags::WRONLY | OFlags::TRUNC)?;
        write_once(&fd, value).map_err(|e| self.fail(Op::Write, group, Some(file), Some(value), e))?;
        #[cfg(test)]
        write_log::push(self.file_path(group, file), value);
        Ok(())
    }

    /// Opens an interface file (no create) with `flags` plus `O_CLOEXEC | O_NOFOLLOW`.
    pub fn open_file(&self, group: &GroupPath, file: &str, flags: OFlags) -> Result<OwnedFd> {
        check_file_name(file)?;
        self.resolve(&rel(group, file), flags).map_err(|e| {
            let op = if flags.contains(OFlags::WRONLY) { Op::Write } else { Op::Read };
            self.fail(op, group, Some(file), None, e)
        })
    }

    /// Opens a group's directory for reading (an fd usable with clone3's CLONE_INTO_CGROUP).
    pub fn open_dir(&self, group: &GroupPath) -> Result<OwnedFd> {
        if group.is_root() {
            return self
                .root()
                .and_then(|root| {
                    rustix::fs::openat(root, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                })
                .map_err(|e| self.fail(Op::Open, group, None, None, e));
        }
        self.resolve(group.as_str(), OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| self.fail(Op::Open, group, None, None, e))
    }

    /// Creates a group's directory. Returns false if it already existed.
    pub fn mkdir(&self, group: &GroupPath) -> Result<bool> {
        self.parent_of(group)?.mkdir()
    }

    /// Opens the parent directory of `group`, to make `group` in it (see [`ParentDir`]).
    pub(crate) fn parent_of(&self, group: &GroupPath) -> Result<ParentDir<'_>> {
        let parent = group.parent().ok_or_else(|| Error::state("cannot create the cgroup root", None))?;
        Ok(ParentDir { mount: self, fd: self.open_dir(&parent)?, parent, group: group.clone() })
    }

    /// Removes a group's directory (it must hold no processes and no child groups).
    pub fn rmdir(&self, group: &GroupPath) -> Result<()> {
        self.try_rmdir(group).map_err(|e| self.fail(Op::Rmdir, group, None, None, e))
    }

    /// Like [`Mount::rmdir`], but returns the raw errno so callers can retry on EBUSY.
    pub(crate) fn try_rmdir(&self, group: &GroupPath) -> std::result::Result<(), Errno> {
        let parent = group.parent().ok_or(Errno::PERM)?;
        let parent_fd = if parent.is_root() {
            None
        } else {
            Some(self.resolve(parent.as_str(), OFlags::PATH | OFlags::DIRECTORY)?)
        };
        let dirfd = match &parent_fd {
            Some(f) => f.as_fd(),
            None => self.root()?,
        };
        rustix::fs::unlinkat(dirfd, group.name(), AtFlags::REMOVEDIR)
    }

    /// Names of a group's child groups, sorted.
    pub fn children(&self, group: &GroupPath) -> Result<Vec<String>> {
        let mut out = self.children_in_dir_order(group)?;
        out.sort();
        Ok(out)
    }

    /// Every group beneath `group` (not `group` itself), depth first: each parent before
    /// its children, siblings sorted by name (as libcgroup's `lscgroup` lists a tree).
    pub fn subtree(&self, group: &GroupPath) -> Result<Vec<GroupPath>> {
        let mut out = Vec::new();
        let mut stack: Vec<GroupPath> =
            self.children(group)?.iter().rev().map(|c| group.join(c)).collect::<Result<_>>()?;
        while let Some(p) = stack.pop() {
            for c in self.children(&p)?.iter().rev() {
                stack.push(p.join(c)?);
            }
            out.push(p);
        }
        Ok(out)
    }

    /// Names of a group's child groups in the kernel's directory order (as a walk with
    /// readdir, like libcgroup's, meets them).
    pub fn children_in_dir_order(&self, group: &GroupPath) -> Result<Vec<String>> {
        let fd = self.open_dir(group)?;
        let dir = rustix::fs::Dir::read_from(&fd).map_err(|e| self.fail(Op::Read, group, None, None, e))?;
        let mut out = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| self.fail(Op::Read, group, None, None, e))?;
            if entry.file_type() != rustix::fs::FileType::Directory {
                continue;
            }
            let name = entry.file_name().to_string_lossy();
            if name != "." && name != ".." {
                out.push(name.into_owned());
            }
        }
        Ok(out)
    }

    /// Names of a group's interface files (regular files), in the kernel's directory
    /// order (as libcgroup's `cgget` lists them).
    pub fn files(&self, group: &GroupPath) -> Result<Vec<String>> {
        let fd = self.open_dir(group)?;
        let dir = rustix::fs::Dir::read_from(&fd).map_err(|e| self.fail(Op::Read, group, None, None, e))?;
        let mut out = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| self.fail(Op::Read, group, None, None, e))?;
            if entry.file_type() == rustix::fs::FileType::RegularFile {
                out.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(out)
    }

    /// Sets an extended attribute on a group's directory (opened beneath the root, as
    /// every access is). rein marks the groups it creates this way (see
    /// [`crate::mark`]); cgroupfs keeps `user.*` attributes since Linux 5.7.
    pub fn set_xattr(&self, group: &GroupPath, name: &str, value: &str) -> Result<()> {
        let fd = self.open_dir(group)?;
        rustix::fs::fsetxattr(&fd, name, value.as_bytes(), rustix::fs::XattrFlags::empty())
            .map_err(|e| self.fail(Op::Xattr, group, None, Some(name), e))
    }

    /// Reads an extended attribute of a group's directory; None when it is not set
    /// (or the filesystem keeps no extended attributes).
    pub fn get_xattr(&self, group: &GroupPath, name: &str) -> Result<Option<String>> {
        let fd = self.open_dir(group)?;
        let mut buf = [0u8; 1024];
        match rustix::fs::fgetxattr(&fd, name, &mut buf[..]) {
            Ok(n) => Ok(Some(String::from_utf8_lossy(&buf[..n]).into_owned())),
            Err(Errno::NODATA | Errno::OPNOTSUPP) => Ok(None),
            // A value longer than rein ever writes is not rein's.
            Err(Errno::RANGE) => Ok(Some(String::new())),
            Err(e) => Err(self.fail(Op::Xattr, group, None, Some(name), e)),
        }
    }

    /// The names of a group directory's extended attributes (none where the filesystem
    /// keeps none).
    pub fn xattr_names(&self, group: &GroupPath) -> Result<Vec<String>> {
        let fd = self.open_dir(group)?;
        let fail = |e| self.fail(Op::Xattr, group, None, None, e);
        let mut buf = vec![0u8; 4096];
        let n = loop {
            match rustix::fs::flistxattr(&fd, &mut buf[..]) {
                Ok(n) => break n,
                Err(Errno::OPNOTSUPP) => return Ok(Vec::new()),
                // Grown meanwhile: ask for the size, and try again.
                Err(Errno::RANGE) => {
                    let need = rustix::fs::flistxattr(&fd, &mut [0u8; 0][..]).map_err(fail)?;
                    buf.resize(need.max(buf.len() * 2), 0);
                }
                Err(e) => return Err(fail(e)),
            }
        };
        Ok(buf[..n]
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect())
    }

    /// Removes an extended attribute from a group's directory (absent is fine).
    pub fn remove_xattr(&self, group: &GroupPath, name: &str) -> Result<()> {
        let fd = self.open_dir(group)?;
        match rustix::fs::fremovexattr(&fd, name) {
            Ok(()) | Err(Errno::NODATA) => Ok(()),
            Err(e) => Err(self.fail(Op::Xattr, group, None, Some(name), e)),
        }
    }

    /// Resolves `rel` beneath the root without following symlinks or leaving the mount.
    fn resolve(&self, rel: &str, flags: OFlags) -> std::result::Result<OwnedFd, Errno> {
        beneath(self.root()?, rel, flags)
    }

    /// Opens a group's directory for reading its files by name (see [`GroupDir`]).
    pub fn group_dir(&self, group: &GroupPath) -> Result<GroupDir> {
        let fd = if group.is_root() {
            self.root().and_then(|root| {
                rustix::fs::openat(root, ".", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            })
        } else if self.fd.get().is_none()
            && rustix::fs::access(self.dir_path(group), rustix::fs::Access::EXISTS) == Err(Errno::NOENT)
        {
            // Before the root is first opened (and its filesystem checked), one lookup by
            // absolute path answers "is the group in this hierarchy?" for the absent ones:
            // finding a group across nine v1 hierarchies opens only the roots of those that
            // have it. What this finds is opened the hardened way below.
            Err(Errno::NOENT)
        } else {
            self.resolve(group.as_str(), OFlags::PATH | OFlags::DIRECTORY)
        };
        let fd = fd.map_err(|e| self.fail(Op::Open, group, None, None, e))?;
        Ok(GroupDir { fd, path: self.dir_path(group) })
    }

    fn fail(&self, op: Op, group: &GroupPath, file: Option<&str>, value: Option<&str>, errno: Errno) -> Error {
        let path = match file {
            Some(f) => self.file_path(group, f),
            None => self.dir_path(group),
        };
        fail_at(path, op, file, value, errno)
    }
}

fn uid(id: u32) -> Uid {
    Uid::from_raw(id)
}

fn gid(id: u32) -> Gid {
    Gid::from_raw(id)
}

/// Owners and modes (libcgroup's `perm`; see [`Permissions`]).
impl Mount {
    /// The owner and mode of a group's directory and of each of its files.
    pub fn entry_modes(&self, group: &GroupPath) -> Result<Vec<EntryMode>> {
        let dir = self.open_dir(group)?;
        let fail = |e: Errno, name: Option<&str>| {
            let path = name.map(|n| self.file_path(group, n)).unwrap_or_else(|| self.dir_path(group));
            io_error("read the owner and mode of", &path, e.into(), None)
        };
        let st = rustix::fs::fstat(&dir).map_err(|e| fail(e, None))?;
        let mut out =
            vec![EntryMode { name: None, owner: Owner { uid: st.st_uid, gid: st.st_gid }, mode: st.st_mode & 0o7777 }];
        let mut files = self.files(group)?;
        files.sort();
        for f in files {
            let st = rustix::fs::statat(&dir, f.as_str(), AtFlags::SYMLINK_NOFOLLOW).map_err(|e| fail(e, Some(&f)))?;
            out.push(EntryMode {
                name: Some(f),
                owner: Owner { uid: st.st_uid, gid: st.st_gid },
                mode: st.st_mode & 0o7777,
            });
        }
        Ok(out)
    }

    /// Gives a group's directory and files their owners and modes (see the module
    /// documentation for the order and the masking).
    pub fn set_permissions(&self, group: &GroupPath, p: &Permissions) -> Result<()> {
        let dir = self.open_dir(group)?;
        let fail = |what: &str, e: Errno, name: Option<&str>| {
            let path = name.map(|n| self.file_path(group, n)).unwrap_or_else(|| self.dir_path(group));
            io_error(what, &path, e.into(), None)
        };
        rustix::fs::fchown(&dir, Some(uid(p.admin.uid)), Some(gid(p.admin.gid)))
            .map_err(|e| fail("change the owner of", e, None))?;
        if let Some(mode) = p.dir_mode {
            let st = rustix::fs::fstat(&dir).map_err(|e| fail("stat", e, None))?;
            rustix::fs::fchmod(&dir, Mode::from_raw_mode(owner_masked(mode, st.st_mode)))
                .map_err(|e| fail("change the mode of", e, None))?;
        }
        let mut files = self.files(group)?;
        files.sort();
        for f in &files {
            check_file_name(f)?;
            let (owner, mode) = match &p.task {
                Some(t) if t.name == f.as_str() => (t.owner, t.mode.or(p.file_mode.filter(|_| t.name != "tasks"))),
                _ => (p.admin, p.file_mode),
            };
            self.own_file(dir.as_fd(), group, f, owner, mode)?;
        }
        Ok(())
    }

    fn own_file(
        &self,
        dir: std::os::fd::BorrowedFd<'_>,
        group: &GroupPath,
        f: &str,
        owner: Owner,
        mode: Option<u32>,
    ) -> Result<()> {
        let fail = |what: &str, e: Errno| io_error(what, &self.file_path(group, f), e.into(), None);
        rustix::fs::chownat(dir, f, Some(uid(owner.uid)), Some(gid(owner.gid)), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| fail("change the owner of", e))?;
        if let Some(mode) = mode {
            let st = rustix::fs::statat(dir, f, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| fail("stat", e))?;
            // cgroupfs holds no symlinks, and `f` is one name read from the directory.
            rustix::fs::chmodat(dir, f, Mode::from_raw_mode(owner_masked(mode, st.st_mode)), AtFlags::empty())
                .map_err(|e| fail("change the mode of", e))?;
        }
        Ok(())
    }

    /// Puts back owners and modes read by [`Mount::entry_modes`] (files gone since are
    /// skipped).
    pub fn restore_modes(&self, group: &GroupPath, entries: &[EntryMode]) -> Result<()> {
        let dir = self.open_dir(group)?;
        for e in entries {
            match &e.name {
                None => {
                    let fail = |what: &str, err: Errno| io_error(what, &self.dir_path(group), err.into(), None);
                    rustix::fs::fchown(&dir, Some(uid(e.owner.uid)), Some(gid(e.owner.gid)))
                        .map_err(|err| fail("change the owner of", err))?;
                    rustix::fs::fchmod(&dir, Mode::from_raw_mode(e.mode))
                        .map_err(|err| fail("change the mode of", err))?;
                }
                Some(f) => {
                    check_file_name(f)?;
                    let fail = |what: &str, err: Errno| io_error(what, &self.file_path(group, f), err.into(), None);
                    match rustix::fs::chownat(
                        &dir,
                        f.as_str(),
                        Some(uid(e.owner.uid)),
                        Some(gid(e.owner.gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    ) {
                        Err(Errno::NOENT) => continue,
                        r => r.map_err(|err| fail("change the owner of", err))?,
                    }
                    rustix::fs::chmodat(&dir, f.as_str(), Mode::from_raw_mode(e.mode), AtFlags::empty())
                        .map_err(|err| fail("change the mode of", err))?;
                }
            }
        }
        Ok(())
    }
}

/// The library's unit tests see every write of their thread: a fake tree's file keeps
/// only the last value written, and the order and number of writes (one per device in a
/// rollback, say) is what some tests are about.
#[cfg(test)]
pub(crate) mod write_log {
    use std::cell::RefCell;
    use std::path::PathBuf;

    thread_local! {
        static LOG: RefCell<Option<Vec<(PathBuf, String)>>> = const { RefCell::new(None) };
    }

    /// Starts recording this thread's writes (dropping what was recorded).
    pub(crate) fn start() {
        LOG.with(|l| *l.borrow_mut() = Some(Vec::new()));
    }

    /// Stops recording; returns the writes since [`start`], in order.
    pub(crate) fn take() -> Vec<(PathBuf, String)> {
        LOG.with(|l| l.borrow_mut().take().unwrap_or_default())
    }

    pub(super) fn push(path: PathBuf, value: &str) {
        LOG.with(|l| {
            if let Some(v) = l.borrow_mut().as_mut() {
                v.push((path, value.to_string()));
            }
        });
    }
}

/// Resolves `rel` beneath `dir` without following symlinks or leaving the mount.
fn beneath(dir: BorrowedFd<'_>, rel: &str, flags: OFlags) -> std::result::Result<OwnedFd, Errno> {
    let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let how =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV;
        match rustix::fs::openat2(dir, rel, flags, Mode::empty(), how) {
            Err(Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            // A seccomp filter that does not know openat2 answers EPERM, not ENOSYS
            // (Docker's default profile before 20.10, systemd's SystemCallFilter=).
            // The kernel's own EPERM is told apart by a probe the filter refuses too:
            // opening the directory itself, which openat2 always allows.
            Err(Errno::PERM) if openat2_refused(dir) => NO_OPENAT2.store(true, Ordering::Relaxed),
            // EAGAIN: a concurrent rename raced the lookup; the walk below is safe too.
            Err(Errno::AGAIN) => {}
            other => return other,
        }
    }
    walk_beneath(dir, rel, flags)
}

/// The parent directory of a group being made, held open from the creation record rein
/// sets on it to the mark on the new directory ([`crate::mark`], "Creation
/// records"): one lookup from the root for the record, the mkdir, the mark and the
/// record's removal.
pub(crate) struct ParentDir<'m> {
    mount: &'m Mount,
    fd: OwnedFd,
    parent: GroupPath,
    group: GroupPath,
}

impl ParentDir<'_> {
    /// Sets an extended attribute on the parent.
    pub(crate) fn set_xattr(&self, name: &str, value: &str) -> Result<()> {
        rustix::fs::fsetxattr(&self.fd, name, value.as_bytes(), rustix::fs::XattrFlags::empty())
            .map_err(|e| self.mount.fail(Op::Xattr, &self.parent, None, Some(name), e))
    }

    /// Removes an extended attribute from the parent (absent is fine).
    pub(crate) fn remove_xattr(&self, name: &str) -> Result<()> {
        match rustix::fs::fremovexattr(&self.fd, name) {
            Ok(()) | Err(Errno::NODATA) => Ok(()),
            Err(e) => Err(self.mount.fail(Op::Xattr, &self.parent, None, Some(name), e)),
        }
    }

    /// Creates the group's directory. Returns false if it already existed.
    pub(crate) fn mkdir(&self) -> Result<bool> {
        match rustix::fs::mkdirat(&self.fd, self.group.name(), Mode::from_raw_mode(0o755)) {
            Ok(()) => Ok(true),
            Err(Errno::EXIST) => Ok(false),
            Err(e) => Err(self.mount.fail(Op::Mkdir, &self.group, None, None, e)),
        }
    }

    /// Sets an extended attribute on the group's directory, opened beneath the parent.
    pub(crate) fn set_child_xattr(&self, name: &str, value: &str) -> Result<()> {
        let fail = |e| self.mount.fail(Op::Xattr, &self.group, None, Some(name), e);
        let fd = beneath(self.fd.as_fd(), self.group.name(), OFlags::RDONLY | OFlags::DIRECTORY).map_err(fail)?;
        rustix::fs::fsetxattr(&fd, name, value.as_bytes(), rustix::fs::XattrFlags::empty()).map_err(fail)
    }
}

/// A group's directory in one hierarchy, opened once (`O_PATH`). Its interface files are
/// then opened by name alone, relative to the directory: one path component, no symlink
/// followed (`O_NOFOLLOW`), never created. Reading the ~20 files of a group's accounting
/// this way costs one lookup per file instead of a walk from the hierarchy root.
pub struct GroupDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl fmt::Debug for GroupDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupDir").field("path", &self.path).finish()
    }
}

impl GroupDir {
    /// The directory's absolute path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory fd (`O_PATH`).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens an interface file of the group with `flags` plus `O_CLOEXEC | O_NOFOLLOW`.
    pub fn open(&self, file: &str, flags: OFlags) -> Result<OwnedFd> {
        check_file_name(file)?;
        rustix::fs::openat(&self.fd, file, flags | OFlags::CLOEXEC | OFlags::NOFOLLOW, Mode::empty()).map_err(|e| {
            let op = if flags.intersects(OFlags::WRONLY | OFlags::RDWR) { Op::Write } else { Op::Read };
            fail_at(self.path.join(file), op, Some(file), None, e)
        })
    }

    /// Reads an interface file whole.
    pub fn read(&self, file: &str) -> Result<String> {
        self.read_opt(file)?.ok_or_else(|| fail_at(self.path.join(file), Op::Read, Some(file), None, Errno::NOENT))
    }

    /// Reads an interface file whole; `None` when the kernel does not provide it here
    /// (ENOENT: an older kernel, a controller not enabled; EOPNOTSUPP: pressure files
    /// of a group whose `cgroup.pressure` is 0).
    pub fn read_opt(&self, file: &str) -> Result<Option<String>> {
        check_file_name(file)?;
        let fd = match rustix::fs::openat(
            &self.fd,
            file,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(fail_at(self.path.join(file), Op::Read, Some(file), None, e)),
        };
        match read_all(&fd) {
            Ok(text) => String::from_utf8(text).map(Some).map_err(|_| Error::parse(file, "not UTF-8")),
            Err(Errno::OPNOTSUPP) => Ok(None),
            Err(e) => Err(fail_at(self.path.join(file), Op::Read, Some(file), None, e)),
        }
    }

    /// Writes `value` to an interface file in one write(2).
    pub fn write(&self, file: &str, value: &str) -> Result<()> {
        let fd = self.open(file, OFlags::WRONLY)?;
        write_once(&fd, value).map_err(|e| fail_at(self.path.join(file), Op::Write, Some(file), Some(value), e))
    }
}

/// Opens interface file `file` of the group directory `dir` for reading, by name alone
/// (one path component, `O_NOFOLLOW`, never created), as [`GroupDir::open`] does: for
/// callers that keep a group's directory open themselves ([`crate::tree::Tree`]).
pub(crate) fn open_beside(dir: BorrowedFd<'_>, file: &str) -> std::result::Result<OwnedFd, Errno> {
    check_file_name(file).map_err(|_| Errno::INVAL)?;
    rustix::fs::openat(dir, file, OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW, Mode::empty())
}

/// Reads a file to its end (until read(2) returns 0).
///
/// A short read is not the end of an interface file: the kernel's seq_file hands out at
/// most one buffer (a page, more only when a single record needs it) per read(2), so a
/// file of many records (`cgroup.procs`, `cgroup.threads`, v1's `tasks`) comes in pieces
/// of about 4 KiB. Taking the first short read as the end showed 1,365 of a group's 1,601
/// processes. The extra read(2) that returns 0 costs well under a microsecond.
pub(crate) fn read_all(fd: &OwnedFd) -> std::result::Result<Vec<u8>, Errno> {
    read_whole(fd, false, false)
}

/// Reads an accounting file whole, ending at the first read(2) that returns less than
/// it was offered. With `again`, a kept-open file is read again with `pread` from offset
/// 0: the kernel's seq_file makes the text afresh at offset 0, so an open file is re-read
/// without the open (12-25 us) that dominates reading a file (a `pread` is ~1.2 us).
///
/// That is the end for a file the kernel makes as one record: every accounting file
/// rein reads (a cgroup interface file with a `seq_show` and no `seq_start`; the kernel's
/// seq_file then hands out the whole record, growing its buffer as needed, and a short
/// read means no record follows). Not for `cgroup.procs`, `cgroup.threads` or v1 `tasks`,
/// which come in records of a page ([`read_all`]). It saves the read(2) that would
/// return 0: with ~20 files per group, a scrape of 1,000 groups makes 20,000 fewer calls.
pub(crate) fn read_record(fd: &OwnedFd, again: bool) -> std::result::Result<Vec<u8>, Errno> {
    read_whole(fd, again, true)
}

fn read_whole(fd: &OwnedFd, from_start: bool, one_record: bool) -> std::result::Result<Vec<u8>, Errno> {
    // Read straight into spare capacity (no zeroed bounce buffer).
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    loop {
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(buf.capacity());
        }
        let offset = buf.len() as u64;
        let offered = buf.capacity() - buf.len();
        let got = if from_start {
            rustix::io::pread(fd, rustix::buffer::spare_capacity(&mut buf), offset)
        } else {
            rustix::io::read(fd, rustix::buffer::spare_capacity(&mut buf))
        };
        match got {
            Ok(0) => return Ok(buf),
            Ok(n) if one_record && n < offered => return Ok(buf),
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Writes `value` in one write(2), as the kernel's interface files require.
pub(crate) fn write_once(fd: &OwnedFd, value: &str) -> std::result::Result<(), Errno> {
    loop {
        match rustix::io::write(fd, value.as_bytes()) {
            Ok(n) if n == value.len() => return Ok(()),
            Ok(_) => return Err(Errno::IO),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

fn fail_at(path: PathBuf, op: Op, file: Option<&str>, value: Option<&str>, errno: Errno) -> Error {
    let verb = match (op, value) {
        (Op::Write, Some(v)) => format!("write '{}' to", crate::error::escape(v.trim_end())),
        (Op::Write, None) => "open for writing".into(),
        (Op::Read, _) => "read".into(),
        (Op::Mkdir, _) => "create group".into(),
        (Op::Rmdir, _) => "remove group".into(),
        (Op::Open, _) => "open group".into(),
        (Op::Xattr, Some(name)) => format!("set or read extended attribute {name} of"),
        (Op::Xattr, None) => "set or read an extended attribute of".into(),
    };
    let hint = hint_for(op, errno, file);
    io_error(&verb, &path, errno.into(), hint)
}

/// Where the accounting readers ([`crate::backend::read_stats`], one per version) get
/// a group's interface files from, one directory (a group in one hierarchy) at a time: a
/// [`GroupDir`] (each file opened by name, read, closed: [`crate::Group::stats`], `rein
/// stat`, the recorder), or the cache of open files a [`crate::tree::Tree`] keeps between
/// samples (`rein top`, `rein exporter`). Every caller thus parses the same files the same
/// way into the same [`crate::Stats`].
pub trait FileSource {
    /// The whole text of interface file `file`; `Ok(None)` when this source does not
    /// provide it (absent in this kernel or hierarchy, pressure turned off, or not among
    /// the files the source was asked for), so the fields it feeds stay `None`.
    fn read_opt(&self, file: &str) -> Result<Option<String>>;
}

impl FileSource for GroupDir {
    fn read_opt(&self, file: &str) -> Result<Option<String>> {
        GroupDir::read_opt(self, file)
    }
}

impl<T: FileSource + ?Sized> FileSource for &T {
    fn read_opt(&self, file: &str) -> Result<Option<String>> {
        (**self).read_opt(file)
    }
}

/// Whether openat2 itself is refused (a seccomp filter's EPERM): it cannot even open the
/// root directory beneath itself.
fn openat2_refused(root: BorrowedFd<'_>) -> bool {
    let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV;
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    matches!(rustix::fs::openat2(root, ".", flags, Mode::empty(), how), Err(Errno::PERM | Errno::NOSYS))
}

/// The component-by-component walk used when openat2 is missing: each step is an
/// `openat(O_NOFOLLOW)` relative to the previous directory, `..` was refused by
/// [`GroupPath`] and file-name checks, so the walk cannot climb out. Like openat2's
/// `RESOLVE_NO_XDEV`, it does not cross mounts: every step must be on the root's device
/// (EXDEV otherwise; a tmpfs or bind mount planted over a group or an interface file).
/// The last component is first looked at with `O_PATH` (opening a FIFO or device someone
/// mounted there could block or act), then opened, and must still be that same inode.
fn walk_beneath(root: BorrowedFd<'_>, rel: &str, flags: OFlags) -> std::result::Result<OwnedFd, Errno> {
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == ".." || *p == ".") {
        return Err(Errno::XDEV);
    }
    let dev = rustix::fs::fstat(root)?.st_dev;
    let same_dev = |fd: &OwnedFd| -> std::result::Result<rustix::fs::Stat, Errno> {
        let st = rustix::fs::fstat(fd)?;
        if st.st_dev != dev { Err(Errno::XDEV) } else { Ok(st) }
    };
    let step = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut current: Option<OwnedFd> = None;
    for (i, part) in parts.iter().enumerate() {
        let dirfd = current.as_ref().map(|f| f.as_fd()).unwrap_or(root);
        let last = i + 1 == parts.len();
        let looked =
            rustix::fs::openat(dirfd, *part, if last { step } else { step | OFlags::DIRECTORY }, Mode::empty())?;
        let st = same_dev(&looked)?;
        if !last {
            current = Some(looked);
            continue;
        }
        if flags.contains(OFlags::PATH) {
            if flags.contains(OFlags::DIRECTORY)
                && rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory
            {
                return Err(Errno::NOTDIR);
            }
            return Ok(looked);
        }
        let fd = rustix::fs::openat(dirfd, *part, flags, Mode::empty())?;
        let now = same_dev(&fd)?;
        if now.st_ino != st.st_ino {
            return Err(Errno::XDEV);
        }
        return Ok(fd);
    }
    Err(Errno::INVAL)
}

fn rel(group: &GroupPath, file: &str) -> String {
    if group.is_root() { file.to_string() } else { format!("{}/{}", group.as_str(), file) }
}

fn check_file_name(file: &str) -> Result<()> {
    if file.is_empty() || file.contains('/') || file == "." || file == ".." || file.contains('\0') {
        return Err(Error::InvalidName {
            name: crate::error::escape(file),
            reason: "not an interface file name".into(),
        });
    }
    Ok(())
}

pub(crate) fn io_error(op: &str, path: &Path, source: io::Error, hint: Option<String>) -> Error {
    Error::Io { op: op.to_string(), path: path.to_path_buf(), cause: source, hint }
}

/// What the kernel accepts in the interface files people write by hand (`-r`, cgset),
/// for the hint after an EINVAL or ERANGE. rein's own flags are checked before writing.
fn value_syntax(file: &str) -> Option<&'static str> {
    Some(match file {
        "memory.max" | "memory.high" | "memory.low" | "memory.min" | "memory.swap.max" | "memory.swap.high" => {
            "a number of bytes (the kernel accepts K, M and G suffixes) or max"
        }
        "memory.limit_in_bytes" | "memory.memsw.limit_in_bytes" | "memory.soft_limit_in_bytes" => {
            "a number of bytes (k, m and g suffixes) or -1 for no limit"
        }
        "memory.oom.group" | "cgroup.freeze" | "cgroup.kill" | "memory.oom_control" => "0 or 1",
        "cpu.max" => "'QUOTA PERIOD' in microseconds: QUOTA max or at least 1000, PERIOD from 1000 to 1000000",
        "cpu.weight" | "io.bfq.weight" => "a weight from 1 to 10000",
        "cpu.weight.nice" => "a nice value from -20 to 19",
        "cpu.shares" => "a weight of 2 or more (1024 is the default)",
        "cpu.cfs_quota_us" => "microseconds, at least 1000, or -1 for no limit",
        "cpu.cfs_period_us" => "microseconds, from 1000 to 1000000",
        "pids.max" => "a number of tasks, or max",
        "io.max" => "'MAJ:MIN rbps=N wbps=N riops=N wiops=N' (each N a number or max) for a whole disk",
        "io.weight" => "'default N' or 'MAJ:MIN N', N from 1 to 10000",
        "blkio.weight" | "blkio.bfq.weight" => "a weight from 10 to 1000",
        f if f.starts_with("blkio.throttle.") => "'MAJ:MIN N' for a whole disk (N 0 removes the limit)",
        "cpuset.cpus" | "cpuset.mems" => "a list like 0-3,6",
        "freezer.state" => "FROZEN or THAWED",
        "cgroup.subtree_control" => "+NAME or -NAME for controllers listed in cgroup.controllers",
        _ => return None,
    })
}

/// Hints for the classic traps, by operation, errno and interface file. The cpuset and
/// v1 memory errnos were measured on Linux 6.18 (see docs/TESTING.md, fault tests).
fn hint_for(op: Op, errno: Errno, file: Option<&str>) -> Option<String> {
    let file = file.unwrap_or("");
    let cpuset = file == "cpuset.cpus" || file == "cpuset.mems";
    let text = match (op, errno) {
        (Op::Write, Errno::BUSY) if file == "cgroup.subtree_control" => {
            "the no-internal-process rule: this group holds processes, so it cannot enable controllers for \
             child groups; pick a parent that holds no processes (--parent), or move its processes into a leaf group"
        }
        (Op::Write, Errno::NOSPC) if file == "cgroup.procs" || file == "tasks" => {
            "the group's cpuset.cpus or cpuset.mems is empty, and no process can join a cpuset without CPUs and \
             memory nodes (cgroup v1): set both first, e.g. 'rein set NAME --cpuset 0 --mems 0' (the parent's \
             cpuset.cpus and cpuset.mems say what it may have)"
        }
        (Op::Write, Errno::NOSPC) if cpuset => {
            "the group holds processes, and a cpuset with processes cannot be left without CPUs or memory nodes: \
             give at least one (see the parent's cpuset.cpus and cpuset.mems), or move the processes out first"
        }
        (Op::Write, Errno::BUSY) if cpuset => {
            "a child group uses CPUs or memory nodes this value leaves out, and cgroup v1 keeps children within \
             their parent: narrow the child groups' cpuset.cpus and cpuset.mems first"
        }
        (Op::Write, Errno::ACCESS) if cpuset => {
            "on cgroup v1 a group's CPUs and memory nodes must be a subset of its parent's (see the parent's \
             cpuset.cpus and cpuset.mems); if they are, you lack write access to the file: run as root, or inside \
             a subtree delegated to you"
        }
        (Op::Write, Errno::RANGE) if cpuset => {
            "no such CPU or memory node on this machine: see /sys/devices/system/cpu/online and \
             /sys/devices/system/node/online"
        }
        (Op::Write, Errno::BUSY) if file == "memory.limit_in_bytes" || file == "memory.memsw.limit_in_bytes" => {
            "the group uses more memory than the new limit and the kernel could not reclaim enough (cgroup v1 \
             refuses the limit instead of OOM-killing): give a higher limit, or lower the group's usage first \
             (memory.usage_in_bytes)"
        }
        (Op::Write, Errno::INVAL) if file == "memory.memsw.limit_in_bytes" || file == "memory.limit_in_bytes" => {
            "the kernel takes a number of bytes (k, m and g suffixes) or -1 there, and refuses a valid one that \
             would put memory.memsw.limit_in_bytes (memory plus swap) below memory.limit_in_bytes: raise the swap \
             limit first, or set both together (--memory with --swap)"
        }
        (Op::Write, Errno::INVAL) if file == "cpu.cfs_quota_us" || file == "cpu.cfs_period_us" => {
            "the kernel takes microseconds there (a quota of at least 1000 or -1, a period from 1000 to 1000000), \
             and refuses a valid value that gives the group more CPU than its parent's quota allows, or less \
             than one of its child groups has (cgroup v1 keeps children within their parent): see the parent's \
             and the children's cpu.cfs_quota_us and cpu.cfs_period_us (rein show)"
        }
        (Op::Write, Errno::BUSY) if file == "cgroup.procs" => {
            "cgroup v2's no-internal-process rule: the group enables controllers for child groups, so processes \
             can only join its leaf groups; run them in a child group"
        }
        (Op::Write, Errno::OPNOTSUPP) if file == "cgroup.procs" => {
            "the target group is threaded or has child groups with controllers enabled: processes can only join leaf groups"
        }
        (Op::Write, Errno::ACCESS | Errno::PERM) if file == "cgroup.procs" || file == "tasks" => {
            "moving a process needs write access to cgroup.procs of the common ancestor of its old and new group; \
             run as root, or from inside the subtree delegated to you"
        }
        (Op::Write, Errno::INVAL) if file == "cgroup.subtree_control" => {
            "a controller's parent must have it enabled first, and threaded subtrees accept only threaded controllers"
        }
        (Op::Write, Errno::INVAL | Errno::RANGE) => {
            return Some(match value_syntax(file) {
                Some(syntax) => format!(
                    "the kernel refused the value: {file} takes {syntax}; rein's own flags (rein run --help) \
                     check values before writing"
                ),
                None => "the kernel refused the value; check its range in docs/interface-files.md".to_string(),
            });
        }
        (Op::Write, Errno::NOENT) if matches!(file, "blkio.bfq.weight" | "blkio.weight" | "io.bfq.weight") => {
            "IO weights need the BFQ I/O scheduler on the disks (the group's weight file appears only then): see \
             /sys/block/DEV/queue/scheduler, and 'modprobe bfq; echo bfq > /sys/block/DEV/queue/scheduler' \
             ('rein check' says whether this host can weigh IO)"
        }
        (Op::Write, Errno::NOENT) | (Op::Read, Errno::NOENT) if !file.is_empty() => {
            "the interface file is missing: its controller is not enabled in the parent's cgroup.subtree_control, \
             not available in this kernel, or bound to another hierarchy (see 'rein check')"
        }
        (Op::Read | Op::Write | Op::Open, Errno::NOENT) => "the group does not exist (see 'rein ls')",
        (Op::Rmdir, Errno::BUSY) => {
            "the group still holds processes or child groups (rein retried with backoff; see its cgroup.procs, \
             and 'rein rm --kill -r')"
        }
        (Op::Mkdir, Errno::NOENT) => "the parent group does not exist",
        (Op::Mkdir, Errno::AGAIN) => {
            "an ancestor limits how many groups may exist below it (cgroup.max.descendants) or how deep \
             (cgroup.max.depth); raise the limit there, or remove unused groups"
        }
        (_, Errno::ACCESS | Errno::PERM) => {
            "run as root, or work inside a cgroup subtree delegated to your user (see 'rein check' and docs/SECURITY.md)"
        }
        (Op::Xattr, Errno::OPNOTSUPP) => {
            "this cgroup filesystem keeps no user.* extended attributes (Linux 5.7 or later needed)"
        }
        (_, Errno::ROFS) => "the cgroup filesystem is mounted read-only (inside a container?)",
        (_, Errno::LOOP | Errno::XDEV) => "a symlink or mount point lies in the path; rein does not follow them",
        // O_NOFOLLOW | O_DIRECTORY on a symlink, or a file where a group should be.
        (_, Errno::NOTDIR) => {
            "a symlink or a file lies where a group directory should be; rein does not follow symlinks"
        }
        (_, Errno::MEDIUMTYPE) => {
            "the hierarchy root is not a cgroup filesystem (see 'rein check' and /proc/self/mountinfo)"
        }
        _ => return None,
    };
    Some(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake() -> (tempfile::TempDir, Mount) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        let m = Mount::open(dir.path(), Verify::Nothing).unwrap();
        (dir, m)
    }

    /// A seq_file hands out a file of many records a page per read(2) at most, so a short
    /// read is not its end (`cgroup.procs` of 3,000 processes was cut at 1,365). A pipe
    /// stands in for it: the rest arrives only after the first piece has been taken.
    #[test]
    fn a_short_read_is_not_the_end_of_the_file() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            rustix::io::write(&w, b"101\n102\n").unwrap();
            // The reader has taken the first piece once the pipe is empty again.
            while rustix::io::ioctl_fionread(&w).unwrap() > 0 {
                std::thread::yield_now();
            }
            rustix::io::write(&w, b"103\n").unwrap();
        });
        let text = read_all(&r).unwrap();
        writer.join().unwrap();
        assert_eq!(text, b"101\n102\n103\n");
    }

    #[test]
    fn a_record_is_read_whole_first_and_again() {
        // Longer than the first read offers (1 KiB), so it takes several reads; the last
        // one is short and ends it.
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..600).map(|i| format!("{i}\n")).collect();
        std::fs::write(dir.path().join("io.stat"), &text).unwrap();
        let fd = rustix::fs::open(dir.path().join("io.stat"), OFlags::RDONLY, Mode::empty()).unwrap();
        assert_eq!(read_record(&fd, false).unwrap(), text.as_bytes());
        assert_eq!(read_record(&fd, true).unwrap(), text.as_bytes(), "again, from offset 0");
        std::fs::write(dir.path().join("io.stat"), "8:0 rbytes=1\n").unwrap();
        assert_eq!(read_record(&fd, true).unwrap(), b"8:0 rbytes=1\n");
    }

    #[test]
    fn refuses_a_non_cgroup_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let m = Mount::open(dir.path(), Verify::CgroupFs).unwrap();
        let err = m.read(&GroupPath::root(), "cgroup.controllers").unwrap_err();
        assert_eq!(err.errno(), Some(libc::EMEDIUMTYPE), "{err}");
        assert!(err.hint().unwrap().contains("not a cgroup filesystem"), "{err}");
    }

    #[test]
    fn the_walk_without_openat2_does_not_cross_mounts() {
        // /proc is a mount of its own below / on every Linux system: the walk must refuse
        // to enter it as openat2's RESOLVE_NO_XDEV does.
        let root = rustix::fs::open("/", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        for (rel, flags) in [("proc", OFlags::PATH | OFlags::DIRECTORY), ("proc/version", OFlags::RDONLY)] {
            let r = walk_beneath(root.as_fd(), rel, flags | OFlags::CLOEXEC | OFlags::NOFOLLOW);
            assert_eq!(r.err(), Some(Errno::XDEV), "{rel}");
        }
        // Within one filesystem it opens what openat2 opens.
        let (dir, _m) = fake();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/memory.max"), "max\n").unwrap();
        let root = rustix::fs::open(dir.path(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let fd = walk_beneath(root.as_fd(), "a/memory.max", OFlags::RDONLY | OFlags::CLOEXEC).unwrap();
        assert_eq!(read_all(&fd).unwrap(), b"max\n");
    }

    #[test]
    fn openat2_refused_with_eperm_falls_back_to_the_walk() {
        // NO_OPENAT2 is process-wide: the test runs in a process of its own.
        if !crate::test_support::in_own_process("cgroupfs::tests::openat2_refused_with_eperm_falls_back_to_the_walk") {
            return;
        }
        let (dir, m) = fake();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/memory.max"), "max\n").unwrap();
        let g = GroupPath::parse("a").unwrap();
        crate::test_support::deny_syscalls(&[(libc::SYS_openat2, libc::EPERM)]);
        m.write(&g, "memory.max", "1048576").unwrap();
        assert_eq!(m.read(&g, "memory.max").unwrap(), "1048576");
        // The walk reports the kernel's own answers as they are.
        assert_eq!(m.read(&g, "memory.high").unwrap_err().errno(), Some(libc::ENOENT));
    }

    #[test]
    fn mkdir_write_read_rmdir() {
        let (dir, m) = fake();
        let g = GroupPath::parse("a").unwrap();
        assert!(m.mkdir(&g).unwrap());
        assert!(!m.mkdir(&g).unwrap());
        std::fs::write(dir.path().join("a/memory.max"), "max\n").unwrap();
        m.write(&g, "memory.max", "1048576").unwrap();
        assert_eq!(m.read(&g, "memory.max").unwrap(), "1048576");
        std::fs::remove_file(dir.path().join("a/memory.max")).unwrap();
        m.rmdir(&g).unwrap();
        assert!(!m.exists(&g));
    }

    #[test]
    fn never_creates_files() {
        let (dir, m) = fake();
        let g = GroupPath::parse("a").unwrap();
        m.mkdir(&g).unwrap();
        let err = m.write(&g, "memory.mxa", "1").unwrap_err();
        assert!(!dir.path().join("a/memory.mxa").exists());
        assert_eq!(err.errno(), Some(libc::ENOENT));
        assert!(err.hint().unwrap().contains("controller"), "{:?}", err.hint());
        assert!(err.to_string().contains("memory.mxa"), "{err}");
    }

    #[test]
    fn does_not_follow_symlinks() {
        let (dir, m) = fake();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("memory.max"), "secret").unwrap();
        std::fs::create_dir(outside.path().join("victim")).unwrap();
        // A symlinked group directory and a symlinked interface file.
        std::os::unix::fs::symlink(outside.path(), dir.path().join("evil")).unwrap();
        std::fs::create_dir(dir.path().join("g")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("memory.max"), dir.path().join("g/memory.max")).unwrap();

        let evil = GroupPath::parse("evil").unwrap();
        assert!(m.read(&evil.join("victim").unwrap(), "cgroup.procs").is_err());
        assert!(m.write(&evil, "memory.max", "1").is_err());
        assert!(m.mkdir(&evil.join("new").unwrap()).is_err());
        assert!(!outside.path().join("new").exists());
        let g = GroupPath::parse("g").unwrap();
        assert!(m.read(&g, "memory.max").is_err());
        assert!(m.write(&g, "memory.max", "1").is_err());
        assert_eq!(std::fs::read_to_string(outside.path().join("memory.max")).unwrap(), "secret");
        assert!(m.rmdir(&evil.join("victim").unwrap()).is_err());
        assert!(outside.path().join("victim").exists());
        // The same holds for the fallback walk.
        let root = m.root().unwrap();
        assert!(walk_beneath(root, "g/memory.max", OFlags::RDONLY | OFlags::NOFOLLOW).is_err());
        assert!(walk_beneath(root, "evil/victim", OFlags::PATH | OFlags::NOFOLLOW).is_err());
    }

    #[test]
    fn refuses_bad_file_names() {
        let (_dir, m) = fake();
        for f in ["", "../x", "a/b", ".."] {
            assert!(m.read(&GroupPath::root(), f).is_err(), "{f}");
        }
    }

    #[test]
    fn xattrs_and_files() {
        let (dir, m) = fake();
        let g = GroupPath::parse("a").unwrap();
        m.mkdir(&g).unwrap();
        std::fs::write(dir.path().join("a/memory.max"), "max\n").unwrap();
        assert_eq!(m.files(&g).unwrap(), ["memory.max"]);
        assert_eq!(m.get_xattr(&g, "user.rein").unwrap(), None);
        m.set_xattr(&g, "user.rein", "named").unwrap();
        assert_eq!(m.get_xattr(&g, "user.rein").unwrap().as_deref(), Some("named"));
        m.remove_xattr(&g, "user.rein").unwrap();
        m.remove_xattr(&g, "user.rein").unwrap();
        assert_eq!(m.get_xattr(&g, "user.rein").unwrap(), None);
        // Never through a symlink.
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("evil")).unwrap();
        assert!(m.set_xattr(&GroupPath::parse("evil").unwrap(), "user.rein", "named").is_err());
    }

    #[test]
    fn hints_say_what_to_do_for_kernel_refusals() {
        let h = |op, errno, file| hint_for(op, errno, Some(file)).unwrap_or_default();
        // Measured on Linux 6.18, cgroup v1 cpuset: a subset violation is EACCES, not EPERM.
        assert!(h(Op::Write, Errno::ACCESS, "cpuset.cpus").contains("subset of its parent"));
        assert!(h(Op::Write, Errno::NOSPC, "cpuset.cpus").contains("at least one"));
        assert!(h(Op::Write, Errno::BUSY, "cpuset.mems").contains("child groups"));
        assert!(h(Op::Write, Errno::RANGE, "cpuset.cpus").contains("/sys/devices/system/cpu/online"));
        assert!(h(Op::Write, Errno::NOSPC, "cgroup.procs").contains("rein set NAME --cpuset"));
        assert!(h(Op::Write, Errno::NOSPC, "tasks").contains("cpuset.mems is empty"));
        assert!(h(Op::Write, Errno::BUSY, "memory.limit_in_bytes").contains("could not reclaim"));
        assert!(h(Op::Write, Errno::INVAL, "pids.max").contains("pids.max takes a number of tasks, or max"));
        assert!(h(Op::Write, Errno::INVAL, "cpu.max").contains("QUOTA PERIOD"));
        assert!(h(Op::Write, Errno::RANGE, "cpu.weight").contains("1 to 10000"));
        assert!(h(Op::Write, Errno::INVAL, "some.file").contains("docs/interface-files.md"));
        assert!(h(Op::Write, Errno::ACCESS, "cgroup.procs").contains("common ancestor"));
        assert!(h(Op::Mkdir, Errno::ACCESS, "").contains("delegated"));
        assert!(h(Op::Mkdir, Errno::AGAIN, "").contains("cgroup.max.descendants"));
        assert!(h(Op::Rmdir, Errno::BUSY, "").contains("still holds processes"));
        assert!(h(Op::Write, Errno::INVAL, "cpu.cfs_quota_us").contains("more CPU than its parent"));
        assert!(h(Op::Write, Errno::INVAL, "memory.limit_in_bytes").contains("or -1 there"));
        assert!(h(Op::Write, Errno::NOENT, "blkio.bfq.weight").contains("BFQ I/O scheduler"));
        assert!(h(Op::Write, Errno::NOENT, "memory.max").contains("subtree_control"));
        // Every hint is one line, lower case, without a trailing period.
        for (op, e, f) in [
            (Op::Write, Errno::INVAL, "memory.max"),
            (Op::Write, Errno::NOSPC, "cpuset.mems"),
            (Op::Open, Errno::LOOP, ""),
        ] {
            let t = h(op, e, f);
            assert!(!t.is_empty() && !t.contains('\n') && !t.ends_with('.'), "{t}");
            assert!(t.chars().next().unwrap().is_lowercase(), "{t}");
        }
    }

    #[test]
    fn lists_children() {
        let (dir, m) = fake();
        for n in ["b", "a"] {
            std::fs::create_dir(dir.path().join(n)).unwrap();
        }
        assert_eq!(m.children(&GroupPath::root()).unwrap(), ["a", "b"]);
    }

    #[test]
    fn subtree_is_depth_first_parents_first_sorted() {
        let (dir, m) = fake();
        for d in ["b/y", "b/x/deep", "a", "c"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let all: Vec<String> = m.subtree(&GroupPath::root()).unwrap().iter().map(|p| p.as_str().to_string()).collect();
        assert_eq!(all, ["a", "b", "b/x", "b/x/deep", "b/y", "c"]);
        let b: Vec<String> =
            m.subtree(&GroupPath::parse("b").unwrap()).unwrap().iter().map(|p| p.as_str().to_string()).collect();
        assert_eq!(b, ["b/x", "b/x/deep", "b/y"]);
        assert!(m.subtree(&GroupPath::parse("a").unwrap()).unwrap().is_empty());
        assert!(m.subtree(&GroupPath::parse("missing").unwrap()).is_err());
    }
}
