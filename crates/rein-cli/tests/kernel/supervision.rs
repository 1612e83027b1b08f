//! The supervisor, the launcher and signals against the real kernel: what `rein run`'s
//! parent sees (the command's status, or death by the command's signal), a parent that
//! ignores SIGCHLD, a terminal hang-up when rein leads its session, seccomp filters that
//! refuse clone3 and openat2 with EPERM, the accessor's walk (no openat2) not crossing
//! mounts, and a v1 kill that never signals a pid reused after the group was listed.

use std::ffi::CString;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rein::Mode;

use crate::support::{ALL, Env, bin, deny_syscalls, env, report, seccomp_program, text};

fn testload() -> String {
    bin("rein-testload").display().to_string()
}

/// `rein run --parent PARENT ARGS...`, not started.
fn rein_run(e: &Env, args: &[&str]) -> Command {
    let mut c = Command::new(bin("rein"));
    c.env_remove("REIN_TEST_PAUSE").env_remove("REIN_CGROUP_ROOT");
    c.args(["run", "--parent", &e.parent]).args(args);
    c
}

/// Waits for `child` up to `secs`; kills it (and says so, with `why()`) if it does not end.
fn wait_within(child: &mut Child, secs: u64, what: &str, why: impl FnOnce() -> String) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let why = why();
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: rein still ran after {secs}s{why}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether any group under the test's parent holds a process.
fn populated(e: &Env) -> bool {
    e.leftovers().iter().any(|d| std::fs::read_to_string(d.join("cgroup.procs")).is_ok_and(|t| !t.trim().is_empty()))
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether /proc/PID/status text says `signal` is ignored.
fn ignores(status: &str, signal: i32) -> bool {
    let line = status.lines().find_map(|l| l.strip_prefix("SigIgn:")).expect("a SigIgn line");
    u64::from_str_radix(line.trim(), 16).expect("hex mask") & (1 << (signal - 1)) != 0
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn a_parent_ignoring_sigchld_gets_the_commands_status() {
    let Some(e) = env("sigchld", ALL) else { return };
    // SIG_IGN for SIGCHLD survives execve: the kernel would reap rein's command itself.
    let ignoring = |args: &[&str]| {
        let mut cmd = rein_run(&e, args);
        // SAFETY: signal() is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGCHLD, libc::SIG_IGN);
                Ok(())
            })
        };
        cmd.output().expect("rein")
    };
    let o = ignoring(&["--", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o).1);
    // The command starts with SIGCHLD at its default: its own waits work.
    let o = ignoring(&["--", "cat", "/proc/self/status"]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(!ignores(&text(&o).0, libc::SIGCHLD), "{}", text(&o).0);
    let o = ignoring(&["--", "sh", "-c", "sleep 0 & wait $!; echo waited $?"]);
    assert_eq!(text(&o).0.trim(), "waited 0", "{}", text(&o).1);
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn a_command_killed_by_a_signal_kills_rein_with_that_signal() {
    let Some(e) = env("die_like", ALL) else { return };
    // What Python's subprocess sees as returncode -2, and what makes a shell stop a loop
    // of rein runs on ^C: death by SIGINT, not an exit status of 130.
    let o = rein_run(&e, &["--", "sh", "-c", "kill -INT $$"]).output().expect("rein");
    assert_eq!((o.status.code(), o.status.signal()), (None, Some(libc::SIGINT)), "{}", text(&o).1);
    // The report is printed before rein dies.
    let o = rein_run(&e, &["--report=json", "--", "sh", "-c", "kill -TERM $$"]).output().expect("rein");
    assert_eq!(o.status.signal(), Some(libc::SIGTERM), "{}", text(&o).1);
    let r = report(&o);
    assert_eq!((r["status"]["signaled"].as_i64(), r["exit_code"].as_i64()), (Some(15), Some(143)), "{r}");
    // A core-dumping signal: rein dies of it too, with no core of its own, even where it
    // may dump one (the soft limit raised as far as allowed; cwd a directory of the test's).
    let dir = tempfile::tempdir().expect("tempdir");
    let quit = libc::SIGQUIT.to_string();
    let mut cmd = rein_run(&e, &["--", &testload(), "raise", &quit]);
    cmd.current_dir(dir.path());
    // SAFETY: getrlimit and setrlimit are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::getrlimit(libc::RLIMIT_CORE, &mut lim);
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_CORE, &lim);
            Ok(())
        })
    };
    let o = cmd.output().expect("rein");
    assert_eq!(o.status.signal(), Some(libc::SIGQUIT), "{}", text(&o).1);
    assert!(!o.status.core_dumped(), "rein dumped core: {:?}", o.status);
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").map(|f| f.expect("entry").file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
    // Through a shell, as a user sees it: 128+N.
    let script = format!("'{}' run --parent '{}' -- sh -c 'kill -TERM $$'; echo $?", bin("rein").display(), e.parent);
    let o = Command::new("sh").args(["-c", &script]).output().expect("sh");
    assert_eq!(text(&o).0.trim(), "143", "{}", text(&o).1);
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
}

/// A new pseudo-terminal: the master, and the slave's path.
fn pty() -> (OwnedFd, CString) {
    // SAFETY: posix_openpt returns a new fd we own; grantpt, unlockpt and ptsname_r work on it.
    unsafe {
        let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(fd >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let master = OwnedFd::from_raw_fd(fd);
        assert_eq!(libc::grantpt(fd), 0, "grantpt");
        assert_eq!(libc::unlockpt(fd), 0, "unlockpt");
        let mut buf = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(fd, buf.as_mut_ptr(), buf.len()), 0, "ptsname_r");
        (master, std::ffi::CStr::from_ptr(buf.as_ptr()).to_owned())
    }
}

/// What a hang-up test that timed out needs to say: rein's state and signals, and every
/// process that still holds the terminal's master (the hang-up comes only with the last
/// close: a process forked by another test before its exec holds a copy).
fn hangup_diagnosis(rein: u32, slave: &std::ffi::CStr) -> String {
    let status = std::fs::read_to_string(format!("/proc/{rein}/status")).unwrap_or_default();
    let signals: Vec<&str> = status
        .lines()
        .filter(|l| ["State:", "SigPnd:", "ShdPnd:", "SigBlk:", "SigIgn:"].iter().any(|k| l.starts_with(k)))
        .collect();
    let index = slave.to_string_lossy().rsplit('/').next().unwrap_or_default().to_string();
    let mut holders = Vec::new();
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            let master = std::fs::read_link(fd.path()).is_ok_and(|t| t == Path::new("/dev/ptmx"));
            let info = std::fs::read_to_string(p.path().join("fdinfo").join(fd.file_name())).unwrap_or_default();
            if master && info.lines().any(|l| l.split_whitespace().eq(["tty-index:", index.as_str()])) {
                let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
                holders.push(format!("{} ({})", p.file_name().to_string_lossy(), comm.trim()));
            }
        }
    }
    format!(
        "; rein: {}; the master of {} still open in: {}",
        signals.join(", "),
        slave.to_string_lossy(),
        holders.join(", ")
    )
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn a_terminal_hangup_reaches_the_command_when_rein_leads_the_session() {
    let Some(e) = env("hangup", ALL) else { return };
    let (master, slave) = pty();
    let terminal = slave.clone();
    let mut cmd = rein_run(&e, &["--", &testload(), "sleep", "60"]);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    // rein starts a session whose controlling terminal is the slave, as a terminal
    // emulator or sshd starts a login shell (`xterm -e rein run ...`).
    // SAFETY: signal, setsid, open, ioctl, dup2 and close are async-signal-safe; the path was
    // made before the fork.
    unsafe {
        cmd.pre_exec(move || {
            // A terminal emulator starts its session with default dispositions; the test
            // binary may have inherited SIGHUP ignored (run under nohup), and rein hands
            // an ignored SIGHUP on to its command, which then rightly outlives a hang-up.
            libc::signal(libc::SIGHUP, libc::SIG_DFL);
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let fd = libc::open(slave.as_ptr(), libc::O_RDWR);
            if fd < 0 || libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 || libc::dup2(fd, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        })
    };
    let mut child = cmd.spawn().expect("rein");
    wait_until("the command to run in its group", 20, || populated(&e));
    // A hang-up of the terminal (what the last close of its master does, tty_vhangup):
    // the kernel sends SIGHUP to the session leader alone (and SIGCONT), not to the
    // command. The test asks for it with TIOCVHANGUP rather than by closing the master:
    // a process another test forks meanwhile holds a copy of the master until its exec,
    // which would put the hang-up off.
    // SAFETY: open and ioctl on a path and an fd of our own; the fd is closed below.
    unsafe {
        let fd = libc::open(terminal.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(fd >= 0, "open {terminal:?}: {}", std::io::Error::last_os_error());
        assert_eq!(libc::ioctl(fd, libc::TIOCVHANGUP, 0), 0, "TIOCVHANGUP: {}", std::io::Error::last_os_error());
        libc::close(fd);
    }
    drop(master);
    let rein_pid = child.id();
    let status = wait_within(&mut child, 60, "a hang-up of rein's terminal", || hangup_diagnosis(rein_pid, &terminal));
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err);
    assert_eq!(status.signal(), Some(libc::SIGHUP), "the command must die of the hang-up: {status:?} {err}");
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn clone3_and_openat2_refused_with_eperm_fall_back() {
    let Some(e) = env("eperm", ALL) else { return };
    let (clone3, openat2) = ((libc::SYS_clone3, libc::EPERM), (libc::SYS_openat2, libc::EPERM));
    for denied in [vec![clone3], vec![openat2], vec![clone3, openat2]] {
        let mut cmd = rein_run(&e, &["--memory", "64M", "--", "sh", "-c", "cat /proc/self/cgroup; exit 3"]);
        deny_syscalls(&mut cmd, &denied);
        let o = cmd.output().expect("rein");
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(3), "{denied:?}: {err}");
        // The command ran inside its group, in every hierarchy rein uses.
        let inside = out.lines().filter(|l| l.contains(&format!("/{}/", e.parent))).count();
        let want = if e.h.mode() == Mode::Unified { 1 } else { 2 };
        assert!(inside >= want, "{denied:?}: not in its group:\n{out}");
        assert!(e.leftovers().is_empty(), "{denied:?}: {:?}", e.leftovers());
    }
    // A dry run says how the child will join: through cgroup.procs, clone3 being refused.
    let mut cmd = rein_run(&e, &["--dry-run", "--", "true"]);
    deny_syscalls(&mut cmd, &[clone3]);
    let o = cmd.output().expect("rein");
    assert!(text(&o).0.contains("the child writes 0 to cgroup.procs"), "{}", text(&o).0);
}

/// A tmpfs on a directory of the test's own, and bind mounts in it; all unmounted on drop.
/// Never under /sys/fs/cgroup.
struct Mounts {
    dir: tempfile::TempDir,
    mounted: Vec<PathBuf>,
}

impl Mounts {
    fn new() -> Mounts {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut m = Mounts { dir, mounted: Vec::new() };
        let at = m.dir.path().to_path_buf();
        m.tmpfs(&at);
        m
    }

    fn tmpfs(&mut self, at: &Path) {
        assert!(!at.starts_with("/sys"), "never mount under /sys");
        rustix::mount::mount("rein-test", at, "tmpfs", rustix::mount::MountFlags::NOSUID, c"size=8m")
            .expect("mount tmpfs");
        self.mounted.push(at.to_path_buf());
    }

    fn bind(&mut self, from: &Path, at: &Path) {
        assert!(!at.starts_with("/sys"), "never mount under /sys");
        rustix::mount::mount_bind(from, at).expect("bind mount");
        self.mounted.push(at.to_path_buf());
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        for m in self.mounted.iter().rev() {
            let _ = rustix::mount::unmount(m, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn the_walk_without_openat2_does_not_cross_mounts() {
    // Needs root (mount), not cgroups: runs in every mode.
    let Some(_e) = env("walk_xdev", ALL) else { return };
    let mut fs = Mounts::new();
    let root = fs.dir.path().join("cgroup");
    let outside = fs.dir.path().join("outside");
    for d in ["", "g", "mnt", "f"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").expect("write");
    std::fs::write(root.join("cgroup.subtree_control"), "cpu memory pids\n").expect("write");
    std::fs::write(root.join("cgroup.procs"), "").expect("write");
    for g in ["g", "f"] {
        for f in ["cgroup.controllers", "cgroup.subtree_control", "cgroup.procs", "memory.max", "cgroup.events"] {
            std::fs::write(root.join(g).join(f), if f == "memory.max" { "max\n" } else { "" }).expect("write");
        }
    }
    std::fs::write(outside.join("memory.max"), "secret").expect("write");
    // A tmpfs over a group, and a file of another filesystem bound over an interface file.
    fs.tmpfs(&root.join("mnt"));
    std::fs::write(root.join("mnt/memory.max"), "on another fs").expect("write");
    std::fs::write(root.join("mnt/cgroup.controllers"), "cpu memory pids\n").expect("write");
    let other = tempfile::NamedTempFile::new_in("/var/tmp").expect("a file on another filesystem");
    std::fs::write(other.path(), "other fs").expect("write");
    fs.bind(other.path(), &root.join("f/memory.max"));
    // openat2 answers ENOSYS as on kernels before 5.6: every path goes through the walk.
    let rein = |args: &[&str]| {
        let mut cmd = Command::new(bin("rein"));
        cmd.env_remove("REIN_TEST_PAUSE").env("REIN_CGROUP_ROOT", &root).args(args);
        deny_syscalls(&mut cmd, &[(libc::SYS_openat2, libc::ENOSYS)]);
        cmd.output().expect("rein")
    };
    for (args, path) in [
        (&["set", "mnt", "--memory", "1M"][..], "/mnt"),
        (&["show", "mnt"][..], "/mnt"),
        (&["set", "f", "--memory", "1M"][..], "f/memory.max"),
    ] {
        let o = rein(args);
        let err = text(&o).1;
        assert_eq!(o.status.code(), Some(125), "{args:?}: {err}");
        assert!(err.contains("Invalid cross-device link") && err.contains(path), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_to_string(root.join("mnt/memory.max")).expect("read"), "on another fs");
    assert_eq!(std::fs::read_to_string(other.path()).expect("read"), "other fs");
    assert_eq!(std::fs::read_to_string(outside.join("memory.max")).expect("read"), "secret");
    // Within the tree's own filesystem the walk works.
    let o = rein(&["set", "g", "--memory", "1M"]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(std::fs::read_to_string(root.join("g/memory.max")).expect("read"), "1048576");
    drop(fs);
}

/// `rein exec` maps execve's errors as `rein run` does.
#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn exec_errors_give_126_and_127_as_env_does() {
    let Some(e) = env("exec_errno", ALL) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(dir.path().join("b"), dir.path().join("a")).expect("symlink");
    std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("b")).expect("symlink");
    let looped = dir.path().join("a").display().to_string();
    let missing = dir.path().join("missing").display().to_string();
    let g = format!("{}/x", e.parent);
    let rein =
        |args: &[&str]| Command::new(bin("rein")).env_remove("REIN_CGROUP_ROOT").args(args).output().expect("rein");
    assert!(rein(&["create", &g]).status.success());
    for (program, code) in [(&looped, 126), (&missing, 127)] {
        let o = rein_run(&e, &["--", program]).output().expect("rein");
        assert_eq!(o.status.code(), Some(code), "run {program}: {}", text(&o).1);
        let o = rein(&["exec", &g, "--", program]);
        assert_eq!(o.status.code(), Some(code), "exec {program}: {}", text(&o).1);
    }
    assert!(rein(&["rm", &g]).status.success());
}

/// The v1 hierarchies bound onto a directory of the test's own, for REIN_CGROUP_ROOT: rein
/// then sees a pure v1 host (no cgroup2 mount, so no `cgroup.kill`) on this kernel.
fn legacy_view(e: &Env) -> Mounts {
    let mut m = Mounts::new();
    for h in e.h.v1_mounts() {
        let name: Vec<&str> = h.controllers.iter().map(|c| c.v1_name()).collect();
        let at = m.dir.path().join(name.join(","));
        std::fs::create_dir(&at).expect("mkdir");
        m.bind(h.mount.path(), &at);
    }
    m
}

/// This process adopts orphaned descendants (PR_SET_CHILD_SUBREAPER) while it lives.
struct Subreaper;

impl Subreaper {
    fn on() -> Subreaper {
        // SAFETY: a process attribute of the test binary, reset on drop.
        assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }, 0);
        Subreaper
    }
}

impl Drop for Subreaper {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) };
    }
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Starts `argv` as a new process with exactly the pid `pid` (clone3 `set_tid`, Linux 5.5,
/// root): the reuse of a pid, made to happen when the test wants it.
fn spawn_at_pid(pid: i32, argv: &[CString]) -> std::io::Result<i32> {
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let tids = [pid];
    let mut args = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        set_tid: tids.as_ptr() as u64,
        set_tid_size: 1,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 without CLONE_VM is a fork; the child only calls execv and _exit.
    let r = unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if r == 0 {
        // SAFETY: in the child: execv of strings made before the clone, or _exit.
        unsafe {
            libc::execv(ptrs[0], ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    Ok(r as i32)
}

/// `struct seccomp_notif` and `struct seccomp_notif_resp` (linux/seccomp.h).
#[repr(C)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
const SECCOMP_USER_NOTIF_FLAG_CONTINUE: u32 = 1;
const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;

/// Arms `cmd` so that every kill(2) and write(2) its process (and what it starts) makes
/// waits for the test's answer: a seccomp user-notification filter, whose listener fd the
/// child sends back over `sock` before execve.
fn stop_at_kills_and_writes(cmd: &mut Command, sock: RawFd) {
    let mut prog =
        seccomp_program(&[(libc::SYS_kill, SECCOMP_RET_USER_NOTIF), (libc::SYS_write, SECCOMP_RET_USER_NOTIF)]);
    let install = move || -> std::io::Result<()> {
        let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_mut_ptr() };
        // SAFETY: prctl, seccomp, sendmsg and close are async-signal-safe; everything they
        // read lives on this stack or was made before the fork.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let listener = libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                SECCOMP_FILTER_FLAG_NEW_LISTENER,
                &fprog as *const libc::sock_fprog,
            ) as i32;
            if listener < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut byte = [0u8; 1];
            let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
            let mut space = [0u64; 8];
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = space.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(4) as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(4) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<i32>(), listener);
            if libc::sendmsg(sock, &msg, 0) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(listener);
        }
        Ok(())
    };
    // SAFETY: see the closure.
    unsafe { cmd.pre_exec(install) };
}

/// Receives the fd `stop_at_each_kill`'s child sent.
fn receive_fd(sock: &OwnedFd) -> OwnedFd {
    // SAFETY: recvmsg into buffers on this stack; the received fd is new and ours.
    unsafe {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
        let mut space = [0u64; 8];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = space.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&space) as _;
        assert_eq!(libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC), 1, "recvmsg");
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(!c.is_null() && (*c).cmsg_type == libc::SCM_RIGHTS, "no fd received");
        OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>()))
    }
}

/// Where the test stops rein to race it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// At rein's kill(2) of the target: it has listed the group.
    Kill,
    /// At rein's write of FROZEN into the group's freezer.state.
    Freeze,
}

/// What happened in a [`race`].
struct Race {
    status: ExitStatus,
    stderr: String,
    /// The test got to the stage and killed the target there.
    raced: bool,
    /// Whether the process that took the target's pid outside the group survived rein,
    /// if the target died and one took its pid.
    victim_alive: Option<bool>,
}

/// Runs rein (`cmd`) with each of its kill(2) and write(2) calls stopped for the test. At
/// `stage`, the test SIGKILLs the group's process `target` (its pid; `target` may read it
/// from a line of rein's stdout, None until then), reaps it, and starts a process outside
/// the group with the same pid, if the target dies within a second (a frozen one does
/// not); then lets rein go on.
fn race(mut cmd: Command, stage: Stage, mut target: impl FnMut(Option<&str>) -> Option<i32>) -> Race {
    let mut pair = [0; 2];
    // SAFETY: socketpair fills two new fds, owned below.
    assert_eq!(
        unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, pair.as_mut_ptr()) },
        0
    );
    // SAFETY: fresh fds of ours.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    stop_at_kills_and_writes(&mut cmd, theirs.as_raw_fd());
    let mut child = cmd.spawn().expect("rein");
    drop(theirs);
    let listener = receive_fd(&ours);
    // rein's output is read by threads: its writes wait for the test, which must not
    // block on a pipe meanwhile.
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let err = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(err), &mut s);
        s
    });
    let mut pid = target(None);
    let victim_argv = [CString::new(testload()).expect("path"), c"sleep".into(), c"60".into()];
    let (mut raced, mut victim, mut reaped) = (false, None, false);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        // Its writes wait for the answers below: read the lines as they come.
        while let Ok(line) = rx.try_recv() {
            pid = pid.or_else(|| target(Some(&line)));
        }
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "rein did not end");
        let mut pfd = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: poll on one fd of ours.
        if unsafe { libc::poll(&mut pfd, 1, 50) } <= 0 {
            continue;
        }
        // SAFETY: the kernel fills the zeroed struct (it must be zeroed).
        let mut n: Notif = unsafe { std::mem::zeroed() };
        // SAFETY: ioctl on the listener with a struct of the kernel's layout.
        if unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV as _, &mut n) } != 0 {
            continue; // the caller died meanwhile
        }
        if pid.is_none() && n.nr as libc::c_long == libc::SYS_kill {
            // A kill comes after the command's output (its writes were let through): wait
            // for the line that names the target.
            while pid.is_none() {
                match rx.recv_timeout(Duration::from_secs(5)) {
                    Ok(line) => pid = target(Some(&line)),
                    Err(_) => break,
                }
            }
        }
        let Some(pid) = pid else {
            let resp = NotifResp { id: n.id, val: 0, error: 0, flags: SECCOMP_USER_NOTIF_FLAG_CONTINUE };
            // SAFETY: ioctl with a struct of the kernel's layout; ENOENT if the caller died.
            unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND as _, &resp) };
            continue;
        };
        let here = match stage {
            Stage::Kill => {
                n.nr as libc::c_long == libc::SYS_kill && n.args[0] as i32 == pid && n.args[1] as i32 == libc::SIGKILL
            }
            Stage::Freeze => n.nr as libc::c_long == libc::SYS_write && writes_frozen(&n),
        };
        if here && !raced {
            raced = true;
            // SAFETY: a plain kill of the target, and waitpid for it (our child: started by
            // the test, or adopted since the shell that started it exited, this process
            // being a subreaper).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until {
                // SAFETY: as above.
                reaped |= unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) } == pid;
                match spawn_at_pid(pid, &victim_argv) {
                    Ok(v) => {
                        victim = Some(v);
                        break;
                    }
                    Err(err) if err.raw_os_error() == Some(libc::EEXIST) => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(err) => panic!("clone3 set_tid {pid}: {err}"),
                }
            }
        }
        let resp = NotifResp { id: n.id, val: 0, error: 0, flags: SECCOMP_USER_NOTIF_FLAG_CONTINUE };
        // SAFETY: ioctl with a struct of the kernel's layout; ENOENT if the caller died.
        unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND as _, &resp) };
    };
    // The target is gone by now: reap it if rein's kill made it our zombie (the pid is the
    // victim's once the test reaped it).
    if let (Some(pid), false) = (pid, reaped) {
        // SAFETY: waitpid for our own child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    }
    let victim_alive = victim.map(|v| {
        let mut st = 0;
        // SAFETY: waitpid for our own child; then kill and reap it.
        unsafe {
            let alive = libc::waitpid(v, &mut st, libc::WNOHANG) == 0;
            libc::kill(v, libc::SIGKILL);
            libc::waitpid(v, &mut st, 0);
            alive
        }
    });
    Race { status, stderr: stderr.join().expect("stderr reader"), raced, victim_alive }
}

/// Whether a stopped write(2) writes "FROZEN" into a freezer.state file.
fn writes_frozen(n: &Notif) -> bool {
    let link = std::fs::read_link(format!("/proc/{}/fd/{}", n.pid, n.args[0] as i32)).unwrap_or_default();
    if !link.ends_with("freezer.state") || n.args[2] != 6 {
        return false;
    }
    let mut buf = [0u8; 6];
    let mem = std::fs::File::open(format!("/proc/{}/mem", n.pid)).expect("/proc/PID/mem");
    std::os::unix::fs::FileExt::read_exact_at(&mem, &mut buf, n.args[1]).is_ok() && &buf == b"FROZEN"
}

#[test]
#[ignore = "real kernel: scripts/test --tier host (v1 hierarchies)"]
fn a_v1_kill_never_signals_a_pid_reused_after_the_group_was_listed() {
    // cgroup.kill (v2, 5.14) kills inside the kernel; without it rein reads the group's
    // pids and signals them, and a pid listed can be reaped and reused before the signal.
    // This test makes exactly that happen: rein runs on a pure v1 view of this host's
    // hierarchies; when it is about to SIGKILL the process its command left behind, the
    // test kills that process itself, reaps it and starts a process outside the group with
    // the same pid. rein must not hit it: it froze the group before listing it, so the
    // listed process cannot die (and free its pid) until rein has signalled it.
    let Some(e) = env("v1_kill_race", &[Mode::Hybrid, Mode::Legacy]) else { return };
    let view = legacy_view(&e);
    let _reaper = Subreaper::on();
    // The command leaves a sleeper behind (its pid on stdout); rein kills it at the end.
    let script = format!("'{}' sleep 60 & echo $!", testload());
    let mut cmd = rein_run(&e, &["--", "sh", "-c", &script]);
    cmd.env("REIN_CGROUP_ROOT", view.dir.path());
    let r =
        race(cmd, Stage::Kill, |line| line.map(|l| l.trim().parse().unwrap_or_else(|_| panic!("a pid, not {l:?}"))));
    drop(view);
    assert!(r.raced, "rein never signalled the sleeper through kill(2) (did it use cgroup.kill?): {}", r.stderr);
    assert_ne!(
        r.victim_alive,
        Some(false),
        "rein SIGKILLed the pid it listed after that process had died and the pid was reused outside the group"
    );
    assert!(r.status.success(), "{:?}: {}", r.status, r.stderr);
    assert!(e.leftovers().is_empty(), "{:?}: {}", e.leftovers(), r.stderr);
}

#[test]
#[ignore = "real kernel: scripts/test --tier host (v1 hierarchies)"]
fn a_v1_kill_lists_the_group_only_once_it_is_frozen() {
    // The same race one step earlier: the group's process dies, and its pid is reused,
    // while rein writes FROZEN. Had rein listed the group before that write, it would
    // SIGKILL the stranger now holding the pid; it lists only once the group is frozen.
    let Some(e) = env("v1_freeze_order", &[Mode::Hybrid, Mode::Legacy]) else { return };
    let view = legacy_view(&e);
    let g = format!("{}/g", e.parent);
    let rein = |args: &[&str]| {
        let mut c = Command::new(bin("rein"));
        c.env_remove("REIN_TEST_PAUSE").env("REIN_CGROUP_ROOT", view.dir.path()).args(args);
        c
    };
    // A named group gets every controller, the freezer included (`rein create`).
    let o = rein(&["create", &g]).output().expect("rein create");
    assert!(o.status.success(), "{}", text(&o).1);
    let mut sleeper = rein(&["exec", &g, "--", &testload(), "sleep", "60"]).spawn().expect("rein exec");
    wait_until("the sleeper to join its group", 20, || {
        std::fs::read_to_string(format!("/proc/{}/cgroup", sleeper.id())).is_ok_and(|t| t.contains(&g))
            && std::fs::read_to_string(format!("/proc/{}/cmdline", sleeper.id())).is_ok_and(|t| t.contains("sleep"))
    });
    let pid = sleeper.id() as i32;
    let r = race(rein(&["kill", &g]), Stage::Freeze, |_| Some(pid));
    let _ = sleeper.try_wait();
    let removed = rein(&["rm", &g]).output().expect("rein rm");
    drop(view);
    assert!(r.raced, "rein kill never froze the group: {}", r.stderr);
    assert_ne!(
        r.victim_alive,
        Some(false),
        "rein SIGKILLed pid {pid}, listed before the group was frozen, after it had been reused outside the group"
    );
    assert!(r.status.success(), "{:?}: {}", r.status, r.stderr);
    assert!(removed.status.success(), "{}", text(&removed).1);
}

#[test]
#[ignore = "real kernel: scripts/test --tier host (v1 freezer)"]
fn dropping_a_handle_whose_process_cannot_die_returns_after_the_deadline() {
    // A process frozen in a v1 freezer child group cannot die (v1 delivers SIGKILL only
    // once thawed), so the group can never be emptied: dropping its handle must give up
    // after the kill's deadline instead of waiting for it.
    let Some(e) = env("drop_bound", &[Mode::Hybrid, Mode::Legacy]) else { return };
    let driver: std::sync::Arc<dyn rein::driver::Driver> =
        std::sync::Arc::new(rein::driver::Cgroupfs::new(e.h.clone()));
    let cg = rein::Cgroup::builder(e.path("d").as_str()).driver(driver).create().expect("create");
    let mut child = cg.spawn(Command::new(testload()).args(["sleep", "60"])).expect("spawn");
    let freezer =
        e.h.v1_mounts()
            .iter()
            .find(|m| m.controllers.contains(&rein::Controller::Freezer))
            .expect("a v1 freezer hierarchy")
            .mount
            .path()
            .join(cg.path().as_str());
    let stuck = freezer.join("stuck");
    std::fs::create_dir(&stuck).expect("mkdir");
    std::fs::write(stuck.join("cgroup.procs"), child.id().to_string()).expect("move into the frozen child");
    std::fs::write(stuck.join("freezer.state"), "FROZEN").expect("freeze");
    wait_until("FROZEN", 10, || {
        std::fs::read_to_string(stuck.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
    });
    let t0 = Instant::now();
    drop(cg);
    let took = t0.elapsed();
    // Gave up at the kill's deadline: the frozen process cannot die, so it is still there
    // when the drop returns (no wall-clock bound a busy machine breaks).
    let still_there = child.try_wait().expect("try_wait").is_none();
    std::fs::write(stuck.join("freezer.state"), "THAWED").expect("thaw");
    let status = child.wait().expect("wait");
    eprintln!("drop of a handle whose process could not die returned after {took:?}");
    assert!(still_there, "the drop returned only once the frozen process had died ({took:?})");
    assert!(took >= Duration::from_secs(4), "{took:?}");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "killed once thawed");
}
