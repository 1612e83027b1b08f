//! What every real-kernel test needs: the binaries, a parent group of its own that is
//! removed afterwards, and a statement of the modes it supports.
//!
//! These tests are `#[ignore]`d in plain `cargo test` (they need root and a real cgroup
//! tree); `scripts/test --tier host` runs them on this hybrid host (v1 controllers) and
//! `scripts/test --tier vm` inside a pure cgroup v2 VM. In a mode a test supports, a
//! missing requirement is a failure, never a skip.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use rein::{Group, GroupPath, Hierarchy, Mode};

/// Finds a binary built with the tests: next to the test executable (the VM payload),
/// one directory up (target/debug/deps -> target/debug), or among the examples there
/// (target/debug/examples, for the library's examples).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("exe dir");
    let up = dir.parent().map(Path::to_path_buf).unwrap_or_default();
    for candidate in [dir.join(name), up.join(name), up.join("examples").join(name)] {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("{name} not found next to {} or in its parent; build the workspace first", exe.display());
}

/// Waits until `cond` holds, for up to `secs`; panics with `what` otherwise. A deadline
/// for the slowest machine the suite runs on (the emulated VM), never a measurement.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whether a process has not exited. A zombie has: it holds no resources and is its
/// parent's to reap.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(false)
}

/// A test's environment.
pub struct Env {
    pub h: Arc<Hierarchy>,
    pub parent: String,
}

/// The modes a test supports. Returns None (and says so) when the running mode is not
/// one of them; panics when rein's basic needs (root, a cgroup tree) are missing.
pub fn env(test: &str, modes: &[Mode]) -> Option<Env> {
    assert!(rustix::process::geteuid().is_root(), "real-kernel tests need root");
    let h = Arc::new(Hierarchy::detect().expect("detect the cgroup hierarchy"));
    if !modes.contains(&h.mode()) {
        eprintln!("{test}: not applicable in mode {} (supports {modes:?})", h.mode());
        return None;
    }
    let parent = format!("rein-test-{}-{}", test.replace('_', "-"), std::process::id());
    Some(Env { h, parent })
}

/// Every mode.
pub const ALL: &[Mode] = &[Mode::Unified, Mode::Hybrid, Mode::Legacy];
/// Modes where limits are written in v2 files.
pub const V2: &[Mode] = &[Mode::Unified];

impl Env {
    /// `rein ARGS` (for `run`, `--parent` is added).
    pub fn rein(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(bin("rein"));
        if args.first() == Some(&"run") {
            cmd.arg("run").arg("--parent").arg(&self.parent).args(&args[1..]);
        } else {
            cmd.args(args);
        }
        cmd.output().expect("run rein")
    }

    /// The group path `parent/name`.
    pub fn path(&self, name: &str) -> GroupPath {
        GroupPath::parse(&format!("{}/{name}", self.parent)).expect("path")
    }

    /// Whether any directory of the parent still has a child group.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for m in self.mounts() {
            let dir = m.join(&self.parent);
            if let Ok(rd) = std::fs::read_dir(&dir) {
                out.extend(rd.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).map(|e| e.path()));
            }
        }
        out
    }

    fn mounts(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.h.v1_mounts().iter().map(|m| m.mount.path().to_path_buf()).collect();
        if let Some(u) = self.h.unified() {
            v.push(u.mount.path().to_path_buf());
        }
        v
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Kill anything a failed test left, then remove the parent bottom-up.
        if let Ok(g) = Group::open(self.h.clone(), &GroupPath::parse(&self.parent).expect("parent")) {
            let _ = g.kill();
        }
        for m in self.mounts() {
            remove_tree(&m.join(&self.parent));
        }
    }
}

fn remove_tree(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.filter_map(|e| e.ok()) {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Asserts that `o` succeeded (its output in the message otherwise); returns it.
pub fn ok(o: Output) -> Output {
    assert!(o.status.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status, text(&o).0, text(&o).1);
    o
}

/// `rein ARGS`, as given (no parent added).
pub fn rein(args: &[&str]) -> Output {
    Command::new(bin("rein")).args(args).output().expect("run rein")
}

/// For each `(flags, quoted)`: `rein run --parent PARENT FLAGS -- true` and `rein create
/// FLAGS GROUP` both exit 125 with `quoted` in the message, and leave no group behind.
pub fn refused_and_nothing_left(e: &Env, group: &str, cases: &[(&[&str], &str)]) {
    for (args, quoted) in cases {
        for cmd in ["run", "create"] {
            let mut full = vec![cmd];
            if cmd == "run" {
                full.extend_from_slice(&["--parent", &e.parent]);
            }
            full.extend_from_slice(args);
            if cmd == "create" {
                full.push(group);
            } else {
                full.extend_from_slice(&["--", "true"]);
            }
            let o = rein(&full);
            let (_, err) = text(&o);
            assert_eq!(o.status.code(), Some(125), "{full:?}: {err}");
            assert!(err.contains(quoted), "{full:?} should say {quoted}: {err}");
            assert!(e.leftovers().is_empty(), "{full:?} left {:?}", e.leftovers());
        }
    }
}

/// stdout and stderr as text.
pub fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Parses the JSON report rein printed as the last line of stderr.
pub fn report(o: &Output) -> serde_json::Value {
    let (_, err) = text(o);
    let line = err.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON report in:\n{err}"));
    serde_json::from_str(line).expect("report JSON")
}

/// A block device for IO tests: REIN_TEST_BLOCK_DEVICE (the VM's /dev/vdb), or a fresh
/// loop device over a sparse file, detached on drop.
pub struct BlockDevice {
    pub path: String,
    loop_file: Option<tempfile::NamedTempFile>,
}

impl BlockDevice {
    pub fn get() -> BlockDevice {
        if let Ok(p) = std::env::var("REIN_TEST_BLOCK_DEVICE") {
            return BlockDevice { path: p, loop_file: None };
        }
        let f = tempfile::NamedTempFile::new_in("/var/tmp").expect("temp file");
        f.as_file().set_len(64 << 20).expect("truncate");
        let out = Command::new("losetup").args(["-f", "--show"]).arg(f.path()).output().expect("losetup");
        assert!(out.status.success(), "losetup failed: {}", String::from_utf8_lossy(&out.stderr));
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        BlockDevice { path, loop_file: Some(f) }
    }
}

impl Drop for BlockDevice {
    fn drop(&mut self) {
        if self.loop_file.is_some() {
            let _ = Command::new("losetup").arg("-d").arg(&self.path).status();
        }
    }
}

/// The audit architecture seccomp sees for this build's system calls.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// A seccomp filter program: each `(nr, action)` returns that action for system call `nr`,
/// everything else is allowed. An action is `SECCOMP_RET_ERRNO | errno` (what container
/// runtimes and systemd's SystemCallFilter= do) or `SECCOMP_RET_USER_NOTIF`.
pub fn seccomp_program(rules: &[(libc::c_long, u32)]) -> Vec<libc::sock_filter> {
    let stmt = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = |offset: u32| stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset);
    let ret = |k: u32| stmt(libc::BPF_RET | libc::BPF_K, k);
    // struct seccomp_data: nr at offset 0, arch at offset 4.
    let mut prog = vec![load(4), jeq(AUDIT_ARCH, 1, 0), ret(libc::SECCOMP_RET_ALLOW), load(0)];
    for (nr, action) in rules {
        prog.push(jeq(*nr as u32, 0, 1));
        prog.push(ret(*action));
    }
    prog.push(ret(libc::SECCOMP_RET_ALLOW));
    prog
}

/// Arms `cmd` so that its process runs under a seccomp filter making each system call of
/// `denied` fail with its errno, as an old Docker profile or systemd's SystemCallFilter=
/// does. The filter is installed in the child before execve (it survives execve).
pub fn deny_syscalls(cmd: &mut Command, denied: &[(libc::c_long, i32)]) {
    use std::os::unix::process::CommandExt;
    let rules: Vec<(libc::c_long, u32)> =
        denied.iter().map(|(nr, errno)| (*nr, libc::SECCOMP_RET_ERRNO | *errno as u32)).collect();
    let mut prog = seccomp_program(&rules);
    let install = move || -> std::io::Result<()> {
        let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_mut_ptr() };
        // SAFETY: prctl is async-signal-safe; the program was built before the fork.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog as *const libc::sock_fprog) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the closure only calls prctl.
    unsafe { cmd.pre_exec(install) };
}

/// The kernel enforced a CPU quota of `quota` us per 100 ms period on a group whose
/// command spun for `wall` us, by its `cpu.stat` counters (v2 `nr_periods`/`nr_throttled`/
/// `throttled_usec`, v1 the same with `throttled_time`). Holds under any load: a busy
/// machine gives a spinner less than its quota, never more, so no CPU/wall ratio is
/// checked, only that usage never exceeded the quota and that the group ran out of it (was
/// throttled) again and again: [`spin_until_throttled`] spins until it was.
pub fn assert_quota_enforced(cpu: &serde_json::Value, wall: f64, quota: f64, ctx: &dyn std::fmt::Display) {
    const PERIOD: f64 = 100_000.0;
    let num = |k: &str| cpu[k].as_f64().unwrap_or_else(|| panic!("no cpu.{k} in {ctx}"));
    let (used, periods, throttled, throttled_usec) =
        (num("usage_usec"), num("nr_periods"), num("nr_throttled"), num("throttled_usec"));
    // At most the quota per elapsed period, plus the partial periods at either end and the
    // runtime left from the last refill, plus one period for the per-CPU runtime slices.
    let cap = quota * (wall / PERIOD + 2.0) + PERIOD;
    eprintln!(
        "quota {quota} us: used {used} us of cap {cap} us in {wall} us, throttled in {throttled} of {periods} periods"
    );
    assert!(used <= cap, "used {used} us in {wall} us of wall, cap {cap} us: {ctx}");
    assert!(throttled >= MIN_THROTTLED as f64 && throttled_usec > 0.0, "throttled {throttled} periods: {ctx}");
}

/// How many periods a quota test waits for the kernel to have throttled its group.
const MIN_THROTTLED: u64 = 10;

/// Wait (deadline 120 s) until the kernel has throttled `group` in [`MIN_THROTTLED`]
/// periods and 30 periods (3 s at 100 ms) have elapsed, so the usage cap is tight enough
/// to tell the quota from a looser one. On an idle machine that is 3 s; on a busy one,
/// where a spinner seldom reaches its quota, longer.
pub fn spin_until_throttled(e: &Env, group: &str) {
    let path = GroupPath::parse(group).expect("path");
    let done = || {
        let Ok(g) = rein::Group::open(e.h.clone(), &path) else { return false };
        let Ok(s) = g.stats() else { return false };
        s.cpu.nr_throttled.unwrap_or(0) >= MIN_THROTTLED && s.cpu.nr_periods.unwrap_or(0) >= 30
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !done() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
