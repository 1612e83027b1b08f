//! Owners and modes of a group's directory and interface files: libcgroup's `perm`
//! (cgconfig.conf) and cgcreate's `-a`/`-t`/`-d`/`-f`/`-s`, as its
//! `_cgroup_create_cgroup` (src/api.c) applies them: the directory and every file get
//! the admin owner, the directory the admin directory mode, every file but the task
//! file the admin file mode, the task file its own owner and mode. A mode is masked by
//! the owner's bits of the mode the kernel gave (libcgroup's "owner is umask": `777` on
//! a file the kernel made `0644` gives `0666`, on a read-only `0444` one `0444`).
//!
//! The types and the masking live here; [`super::Mount::set_permissions`] does it,
//! through the group's directory fd, beneath the hierarchy root as every access is;
//! files are changed by name relative to it (`fchownat` with `AT_SYMLINK_NOFOLLOW`;
//! cgroupfs has no symlinks).

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

#[cfg(test)]
mod tests {
    use super::super::{GroupPath, Mount};
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
