//! Owners and modes of a group's directory and interface files: libcgroup's `perm`
//! (cgconfig.conf) and cgcreate's `-a`/`-t`/`-d`/`-f`/`-s`, as its
//! `_cgroup_create_cgroup` (src/api.c) applies them: the directory and every file get
//! the admin owner, the directory the admin directory mode, every file but the task
//! file the admin file mode, the task file its own owner and mode. A mode is masked by
//! the owner's bits of the mode the kernel gave (libcgroup's "owner is umask": `777` on
//! a file the kernel made `0644` gives `0666`, on a read-only `0444` one `0444`).
//!
//! Everything is done through the group's directory fd, beneath the hierarchy root as
//! every access is ([`Mount::open_dir`]); files are changed by name relative to it
//! (`fchownat` with `AT_SYMLINK_NOFOLLOW`; cgroupfs has no symlinks).

use std::os::fd::AsFd;

use rustix::fs::{AtFlags, Gid, Mode, Uid};
use rustix::io::Errno;

use super::{GroupPath, Mount, check_file_name, io_error};
use crate::error::Result;

/// A user and group id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The user id.
    pub uid: u32,
    /// The group id.
    pub gid: u32,
}

/// The owners and modes to give a group's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// The owner of the directory and its files.
    pub admin: Owner,
    /// The directory's mode (masked by its owner bits), None: as the kernel made it.
    pub dir_mode: Option<u32>,
    /// The files' mode (masked by each file's owner bits), the task file's aside.
    pub file_mode: Option<u32>,
    /// The task file (`tasks` on v1), its owner and mode; None: it is a file like the
    /// others.
    pub task: Option<TaskFile>,
}

/// The file that says who may move processes into a group, with its owner and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFile {
    /// Its name (`tasks`, or `cgroup.procs` on cgroup2).
    pub name: &'static str,
    /// Its owner.
    pub owner: Owner,
    /// Its mode (masked by its owner bits), None: as the admin mode left it.
    pub mode: Option<u32>,
}

/// The owner and mode of the directory (`name` None) or of one of its files, as they
/// were: what a rollback restores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMode {
    /// The file, None for the directory.
    pub name: Option<String>,
    /// Its owner.
    pub owner: Owner,
    /// Its permission bits (with set-id and sticky bits).
    pub mode: u32,
}

/// `mode` masked by the owner bits of `current`, set-id and sticky bits kept: libcgroup's
/// `cg_chmod_path(..., owner_is_umask = 1)`.
pub fn owner_masked(mode: u32, current: u32) -> u32 {
    let user = current & 0o700;
    mode & (user | user >> 3 | user >> 6 | 0o7000)
}

fn uid(id: u32) -> Uid {
    Uid::from_raw(id)
}

fn gid(id: u32) -> Gid {
    Gid::from_raw(id)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_bits_mask_the_mode() {
        // libcgroup's examples (cgconfig.conf(5), example 3) and its tests 019/020.
        for (mode, current, want) in [
            (0o777, 0o644, 0o666),
            (0o744, 0o644, 0o644),
            (0o744, 0o444, 0o444),
            (0o744, 0o200, 0o200),
            (0o246, 0o644, 0o246),
            (0o515, 0o755, 0o515),
            (0o642, 0o644, 0o642),
            (0o700, 0o444, 0o400),
            (0o4755, 0o755, 0o4755),
        ] {
            assert_eq!(owner_masked(mode, current), want, "{mode:o} on {current:o}");
        }
    }

    #[test]
    fn permissions_apply_and_restore_on_a_plain_directory() {
        // A fake tree: an ordinary directory stands in for the group (root not needed:
        // the owner given is the caller's own).
        let root = tempfile::tempdir().unwrap();
        let g = GroupPath::parse("g").unwrap();
        std::fs::create_dir(root.path().join("g")).unwrap();
        for (f, mode) in [("tasks", 0o644), ("cpu.shares", 0o644), ("cpu.stat", 0o444)] {
            let p = root.path().join("g").join(f);
            std::fs::write(&p, "").unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let m = Mount::open(root.path(), super::super::Verify::Nothing).unwrap();
        let me = Owner { uid: rustix::process::getuid().as_raw(), gid: rustix::process::getgid().as_raw() };
        let before = m.entry_modes(&g).unwrap();
        assert_eq!(before.len(), 4);
        let p = Permissions {
            admin: me,
            dir_mode: Some(0o750),
            file_mode: Some(0o600),
            task: Some(TaskFile { name: "tasks", owner: me, mode: Some(0o660) }),
        };
        m.set_permissions(&g, &p).unwrap();
        let after = m.entry_modes(&g).unwrap();
        let mode = |n: Option<&str>| after.iter().find(|e| e.name.as_deref() == n).unwrap().mode;
        assert_eq!(mode(None), 0o750);
        assert_eq!(mode(Some("cpu.shares")), 0o600);
        assert_eq!(mode(Some("cpu.stat")), 0o400);
        assert_eq!(mode(Some("tasks")), 0o660);
        m.restore_modes(&g, &before).unwrap();
        assert_eq!(m.entry_modes(&g).unwrap(), before);
    }
}
