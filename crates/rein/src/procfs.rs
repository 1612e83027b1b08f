//! What rein reads of `/proc` about processes: start times (to tell a running owner
//! from a reused pid), names for messages. [`ProcTable`] takes the proc root, so tests
//! use a fake one. Also the kernel's list of controllers, `/proc/cgroups`
//! ([`parse_cgroups`], [`read_cgroups`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

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

/// Reads a file of `/proc` whole: one open and reads into a page-sized buffer until EOF.
/// (`std::fs::read_to_string` asks the file's size first, which proc files report as
/// 0, then probes with 32-byte reads, each a trip through the kernel's seq_file; a
/// mountinfo took eight reads and a statx.) Opened with rustix's system call, not the C
/// library's open: musl's follows an O_CLOEXEC open with an fcntl for kernels older than
/// 2.6.23.
pub fn read_text(path: impl AsRef<Path>) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::with_capacity(4096);
    open(path.as_ref())?.read_to_string(&mut text)?;
    Ok(text)
}

/// Reads a file of `/proc` whole as bytes, as [`read_text`] does: for the files that
/// need not be UTF-8 (`cmdline`).
fn read_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::with_capacity(4096);
    open(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Opens a file of `/proc` for [`read_text`] and [`read_bytes`]. Through `take`,
/// read_to_end has no size to ask for and reads into the page reserved.
fn open(path: &Path) -> std::io::Result<std::io::Take<std::fs::File>> {
    use std::io::Read as _;
    let fd =
        rustix::fs::open(path, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())?;
    Ok(std::fs::File::from(fd).take(u64::MAX))
}

/// The process (thread group) a thread belongs to: the `Tgid:` of `/proc/TID/status`;
/// None when the thread is gone.
pub fn thread_group(tid: u32) -> Option<u32> {
    parse_tgid(&read_text(format!("/proc/{tid}/status")).ok()?)
}

/// The `Tgid:` line of a `/proc/TID/status` text.
pub fn parse_tgid(status: &str) -> Option<u32> {
    status.lines().find_map(|l| l.strip_prefix("Tgid:")).and_then(|v| v.trim().parse().ok())
}

/// One line of `/proc/cgroups`: a controller the kernel knows, as it lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroup {
    /// The controller's name as the kernel spells it (`subsys_name`: `blkio`, `cpu`, ...,
    /// also controllers rein does not know, such as `net_cls`).
    pub name: String,
    /// The id of the v1 hierarchy it is bound to; 0 when in no v1 hierarchy (on cgroup2
    /// or unmounted).
    pub hierarchy: u32,
    /// How many groups the hierarchy holds (`num_cgroups`).
    pub groups: u64,
    /// Whether it is enabled (`cgroup_disable=` on the kernel command line clears it).
    pub enabled: bool,
}

/// The rows of a `/proc/cgroups` text, in the kernel's order (the header line, starting
/// with `#`, and blank lines skipped). A line of fewer than four fields, or whose numbers
/// are not numbers, is an error naming the line.
pub fn parse_cgroups(text: &str) -> Result<Vec<ProcCgroup>> {
    let bad = |line: &str, why: &str| Error::parse("/proc/cgroups", format!("{why}: '{}'", crate::error::escape(line)));
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, hierarchy, groups, enabled, ..] = f[..] else {
            return Err(bad(line, "fewer than 4 fields"));
        };
        rows.push(ProcCgroup {
            name: name.to_string(),
            hierarchy: hierarchy.parse().map_err(|_| bad(line, "hierarchy is not a number"))?,
            groups: groups.parse().map_err(|_| bad(line, "num_cgroups is not a number"))?,
            enabled: match enabled {
                "1" => true,
                "0" => false,
                _ => return Err(bad(line, "enabled is neither 0 nor 1")),
            },
        });
    }
    Ok(rows)
}

/// The host's `/proc/cgroups`, parsed by [`parse_cgroups`]: every controller the kernel
/// knows, enabled or not, in its order.
pub fn read_cgroups() -> Result<Vec<ProcCgroup>> {
    let path = "/proc/cgroups";
    let text =
        read_text(path).map_err(|cause| Error::Io { op: "read".into(), path: path.into(), cause, hint: None })?;
    parse_cgroups(&text)
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

    /// The proc filesystem this table reads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The start time of process `pid` (clock ticks after boot), if it exists.
    pub fn start_time(&self, pid: u32) -> Option<u64> {
        let name = if pid == std::process::id() && self.root == Path::new("/proc") {
            "self".to_string()
        } else {
            pid.to_string()
        };
        let text = read_text(self.root.join(name).join("stat")).ok()?;
        parse_stat_start_time(&text).ok()
    }

    /// The command name of `pid` (for messages), if it exists.
    pub fn comm(&self, pid: u32) -> Option<String> {
        let text = read_text(self.root.join(pid.to_string()).join("comm")).ok()?;
        Some(crate::error::escape(text.trim_end()))
    }

    /// The first argument of `pid`'s command line (`argv[0]`, the first NUL-separated
    /// field of `/proc/PID/cmdline`: the name a program gives itself, which need not be
    /// its executable's), if the process exists. Empty for a kernel thread or a zombie.
    pub fn argv0(&self, pid: u32) -> Option<Vec<u8>> {
        let cmdline = read_bytes(&self.root.join(pid.to_string()).join("cmdline")).ok()?;
        Some(cmdline.split(|b| *b == 0).next().unwrap_or_default().to_vec())
    }

    /// The text of `/proc/PID/cgroup`, if the process exists.
    pub fn cgroups(&self, pid: u32) -> Option<String> {
        read_text(self.root.join(pid.to_string()).join("cgroup")).ok()
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
pub(crate) mod tests {
    use super::*;

    #[test]
    fn thread_groups() {
        assert_eq!(parse_tgid("Name:\tx\nTgid:\t4242\nPid:\t4243\n"), Some(4242));
        assert_eq!(parse_tgid("Name:\tx\n"), None);
        assert_eq!(thread_group(std::process::id()), Some(std::process::id()));
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

    pub(crate) fn fake_proc(entries: &[(u32, u64, &str)]) -> (tempfile::TempDir, ProcTable) {
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
    fn argv0_is_the_first_field_of_cmdline() {
        let (d, procs) = fake_proc(&[(10, 500, "sleep"), (11, 900, "kworker/0:1")]);
        // As the kernel shows them: NUL after each argument; a kernel thread's is empty.
        std::fs::write(d.path().join("10/cmdline"), b"libcgroup_systemd_idle_thread\0\xff\0").unwrap();
        std::fs::write(d.path().join("11/cmdline"), b"").unwrap();
        assert_eq!(procs.argv0(10).as_deref(), Some(&b"libcgroup_systemd_idle_thread"[..]));
        assert_eq!(procs.argv0(11).as_deref(), Some(&b""[..]));
        assert_eq!(procs.argv0(12), None);
        // This process, read from the host's /proc.
        let me = std::env::args_os().next().unwrap();
        assert_eq!(ProcTable::default().argv0(std::process::id()), Some(me.into_encoded_bytes()));
    }

    #[test]
    fn owners_running_gone_reused() {
        let (_d, procs) = fake_proc(&[(10, 500, "rein"), (11, 900, "sleep")]);
        assert_eq!(procs.owner(10, 500), Owner::Running);
        assert_eq!(procs.owner(11, 500), Owner::Reused);
        assert_eq!(procs.owner(12, 500), Owner::Gone);
        assert_eq!(describe_pids(&[11, 12], &procs), "11 (sleep), 12");
    }

    #[test]
    fn proc_cgroups_of_the_host() {
        // Captured from the development host (kernel 6.18, hybrid).
        let rows = parse_cgroups(include_str!("../testdata/hybrid/proc-cgroups")).unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "cpuset",
                "cpu",
                "cpuacct",
                "blkio",
                "memory",
                "devices",
                "freezer",
                "net_cls",
                "perf_event",
                "net_prio",
                "hugetlb",
                "pids"
            ]
        );
        assert_eq!(rows[3], ProcCgroup { name: "blkio".into(), hierarchy: 7, groups: 2, enabled: true });
        assert_eq!(rows[7].hierarchy, 0, "net_cls is in no v1 hierarchy");
        assert!(rows.iter().all(|r| r.enabled));
    }

    #[test]
    fn proc_cgroups_disabled_and_bad_lines() {
        let rows = parse_cgroups("#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t1\t0\n\n").unwrap();
        assert_eq!(rows, [ProcCgroup { name: "memory".into(), hierarchy: 0, groups: 1, enabled: false }]);
        for (text, why) in [
            ("cpu\t1\t2\n", "fewer than 4 fields: 'cpu\\t1\\t2'"),
            ("cpu\tx\t2\t1\n", "hierarchy is not a number"),
            ("cpu\t1\t-2\t1\n", "num_cgroups is not a number"),
            ("cpu\t1\t2\tyes\n", "enabled is neither 0 nor 1"),
        ] {
            let e = parse_cgroups(text).unwrap_err().to_string();
            assert!(e.starts_with("cannot parse /proc/cgroups: ") && e.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn proc_cgroups_read_from_the_host() {
        // Every kernel rein runs on has /proc/cgroups with at least one controller.
        let rows = read_cgroups().unwrap();
        assert!(!rows.is_empty());
    }
}
