//! Test support (feature `testing`), not API. Unit tests that change what a whole process is (fd 0 closed, SIGCHLD ignored) run in a
//! fresh copy of the test binary, so the other tests running beside them in parallel never
//! see that state.
//!
//! A test calls [`in_own_process`] first: in the test harness's process that re-runs the
//! same test alone in a new process, waits for it and fails with its output if it failed,
//! and returns `false`. In the new process it returns `true`, and the test goes on with
//! its body, which may then close fds or change signal dispositions as a host program
//! would. (Closing them before execve would not do: Rust's runtime reopens fds 0, 1 and 2
//! on /dev/null at startup when they are closed.)

use std::process::Command;

const MARK: &str = "REIN_TEST_OWN_PROCESS";

/// See the module guide. `test` is the test's path inside the crate, as libtest names it
/// (`launch::tests::name`).
pub fn in_own_process(test: &str) -> bool {
    let Some(out) = own_process(test, None) else { return true };
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} in its own process: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    false
}

/// Like [`in_own_process`], but returns how the new process ended (for tests of how a
/// process ends) instead of requiring success; `None` in the new process itself. It runs
/// in `dir` when given.
pub fn own_process(test: &str, dir: Option<&std::path::Path>) -> Option<std::process::Output> {
    if std::env::var_os(MARK).is_some_and(|v| v == test) {
        return None;
    }
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args(["--exact", test, "--test-threads=1", "--nocapture"]).env(MARK, test);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    Some(cmd.output().expect("re-run the test binary"))
}

/// The audit architecture seccomp sees for this build's system calls.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// Makes the system calls `nr` fail with `errno` in the calling thread (and the processes it
/// forks from now on), as a seccomp filter of a container runtime or of systemd's
/// `SystemCallFilter=` does: what old Docker profiles did to clone3 and openat2 (EPERM).
pub fn deny_syscalls(denied: &[(libc::c_long, i32)]) {
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
    for (nr, errno) in denied {
        prog.push(jeq(*nr as u32, 0, 1));
        prog.push(ret(libc::SECCOMP_RET_ERRNO | *errno as u32));
    }
    prog.push(ret(libc::SECCOMP_RET_ALLOW));
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_mut_ptr() };
    // SAFETY: prctl with a valid filter program; affects only the calling thread.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0, "no_new_privs");
        assert_eq!(
            libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog as *const libc::sock_fprog),
            0,
            "seccomp: {}",
            std::io::Error::last_os_error()
        );
    }
}
