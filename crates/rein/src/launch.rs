//! Starting a command directly inside a group. All of rein's `unsafe` lives here.
//!
//! On cgroup v2 (and the cgroup2 side of a hybrid host) the child is created inside its
//! group by `clone3(CLONE_INTO_CGROUP)` (Linux 5.7): it never runs a single instruction
//! outside, and there is no window in which a fast fork could escape the limits. For v1
//! hierarchies (and kernels without clone3), the child writes `0` ("myself") to each
//! group's `cgroup.procs`, through fds the parent opened, before it calls execve.
//!
//! The child runs only async-signal-safe calls (write, sigprocmask, signal, execve,
//! _exit), so spawning is safe from multi-threaded programs too. Failures in the child
//! (joining a group, execve) travel back through a close-on-exec pipe, as std does.
//!
//! A child can also be started *held* ([`spawn_held`]): it is forked, then waits on a pipe
//! before it joins any group or calls execve, until [`Held::release`]. A service manager that
//! creates a unit from a pid (systemd's StartTransientUnit with `PIDs=`) moves it in meanwhile,
//! so the command's first instruction already runs under the unit's limits.
//!
//! A [`std::process::Command`] can be started in a group too, for programs that want std's
//! [`std::process::Child`]: [`join_on_exec`] arms it to write itself into `cgroup.procs`
//! before execve, and [`hold_on_exec`] to wait there for a service manager (both used by
//! [`crate::Cgroup::spawn`]).
//!
//! Kernel quirk (seen on 6.18): after `cgroup.kill` was written to a cgroup, children
//! cloned into it with CLONE_INTO_CGROUP die at once of SIGKILL. rein clones only into
//! groups it has just created; joining an existing group goes through cgroup.procs.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

/// CLONE_INTO_CGROUP; libc's constant is deprecated and truncated to 0 (libc issue 3584).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` as of Linux 5.7 (CLONE_ARGS_SIZE_VER2, 88 bytes).
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

/// Where the child goes.
#[derive(Debug, Default)]
pub struct Attach<'a> {
    /// A v2 group directory to clone into (opened O_RDONLY|O_DIRECTORY).
    pub cgroup_dir: Option<BorrowedFd<'a>>,
    /// `cgroup.procs` files (opened O_WRONLY) the child writes `0` into before execve.
    pub procs: Vec<BorrowedFd<'a>>,
}

/// What went wrong starting the child.
#[derive(Debug)]
pub enum SpawnError {
    /// No such program (exit status 127): execve said ENOENT.
    NotFound(io::Error),
    /// The program could not be executed (126): execve refused it with anything but
    /// ENOENT (EACCES, ENOEXEC, ELOOP, ENAMETOOLONG, ENOTDIR, ETXTBSY, E2BIG, ...), as
    /// env(1), nice(1), timeout(1) and bash (for a path with a slash) report it.
    NotExecutable(io::Error),
    /// The child could not join its group (the index into [`Attach::procs`], or None for clone3).
    Attach(Option<usize>, io::Error),
    /// Anything else (fork failed, bad argument).
    Other(io::Error),
}

impl SpawnError {
    /// The exit status a shell would give: 127 not found, 126 not executable, else 125
    /// (see [`exec_exit_code`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            SpawnError::NotFound(_) => 127,
            SpawnError::NotExecutable(_) => 126,
            _ => 125,
        }
    }

    /// The underlying error.
    pub fn io_error(&self) -> &io::Error {
        match self {
            SpawnError::NotFound(e)
            | SpawnError::NotExecutable(e)
            | SpawnError::Attach(_, e)
            | SpawnError::Other(e) => e,
        }
    }
}

/// The exit status for a failed execve, as env(1), nice(1) and timeout(1) give it (and bash
/// for a path with a slash): 127 for ENOENT (not found), 126 for every other refusal
/// (found but not executable: EACCES, ENOEXEC, ELOOP, ENAMETOOLONG, ENOTDIR, ETXTBSY, ...).
///
/// Shells differ at the edges (measured with bash 5.2 and dash 0.5.12): dash gives 127 for
/// ELOOP, ENAMETOOLONG and ENOTDIR too, and bash gives 127 for a name without a slash that
/// its PATH search cannot stat (it never calls execve then). rein searches PATH as
/// execvp does, so it follows the tools built on execvp.
pub fn exec_exit_code(errno: i32) -> u8 {
    if errno == libc::ENOENT { 127 } else { 126 }
}

/// A started child. It is not reaped on drop: the caller waits for it.
#[derive(Debug)]
pub struct Child {
    /// Its pid.
    pub pid: i32,
    /// How it got into its group.
    pub via_clone3: bool,
}

/// A command ready to run: program, argv, PATH candidates, all converted before forking
/// because the child may not allocate.
pub struct Prepared {
    program: OsString,
    candidates: Vec<CString>,
    /// The candidates come from a PATH search (the program has no `/`).
    search: bool,
    argv: Vec<CString>,
    /// stdin and the output (stdout and stderr) of a detached command.
    detach: Option<(OwnedFd, OwnedFd)>,
}

impl Prepared {
    /// Prepares `program` with `args` (`argv[0]` is `program` as given), searching PATH like
    /// execvp when the program has no `/`.
    pub fn new(program: &OsStr, args: &[OsString]) -> Result<Prepared, SpawnError> {
        let nul = |_| SpawnError::Other(io::Error::new(io::ErrorKind::InvalidInput, "argument contains a NUL byte"));
        if program.is_empty() {
            return Err(SpawnError::NotFound(io::Error::from_raw_os_error(libc::ENOENT)));
        }
        let mut argv = vec![CString::new(program.as_bytes()).map_err(nul)?];
        for a in args {
            argv.push(CString::new(a.as_bytes()).map_err(nul)?);
        }
        let search = !program.as_bytes().contains(&b'/');
        let candidates = if !search {
            vec![argv[0].clone()]
        } else {
            let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
            path.as_bytes()
                .split(|b| *b == b':')
                .map(|dir| {
                    let dir = if dir.is_empty() { &b"."[..] } else { dir };
                    let mut full = dir.to_vec();
                    full.push(b'/');
                    full.extend_from_slice(program.as_bytes());
                    CString::new(full).map_err(nul)
                })
                .collect::<Result<_, _>>()?
        };
        Ok(Prepared { program: program.to_os_string(), candidates, search, argv, detach: None })
    }

    /// Detaches the command from rein: it starts a session of its own (no controlling
    /// terminal, so a terminal's ^C or hangup never reaches it), reads `stdin` and
    /// writes stdout and stderr to `output`. For commands that outlive rein
    /// (`rein apply --start`).
    pub fn detached(mut self, stdin: OwnedFd, output: OwnedFd) -> Prepared {
        self.detach = Some((stdin, output));
        self
    }

    /// The program as given.
    pub fn program(&self) -> &OsStr {
        &self.program
    }
}

/// Signals rein's supervisor handles itself and forwards; blocked in rein, restored in the child.
pub const FORWARDED: [i32; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// A signal mask.
#[derive(Clone, Copy)]
pub struct SigMask(libc::sigset_t);

impl SigMask {
    /// The calling thread's mask now.
    pub fn current() -> SigMask {
        // SAFETY: sigset_t is plain data; pthread_sigmask with a null new set only reads.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut set);
            SigMask(set)
        }
    }

    fn of(signals: &[i32]) -> SigMask {
        // SAFETY: sigemptyset/sigaddset initialise and fill a local sigset_t.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in signals {
                libc::sigaddset(&mut set, *s);
            }
            SigMask(set)
        }
    }
}

/// Blocks `signals` in the calling thread and returns the previous mask (to give the child).
pub fn block(signals: &[i32]) -> SigMask {
    let old = SigMask::current();
    let set = SigMask::of(signals);
    // SAFETY: valid sigset pointers.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set.0, std::ptr::null_mut()) };
    old
}

/// A signalfd for `signals` (which must be blocked).
pub fn signalfd(signals: &[i32]) -> io::Result<OwnedFd> {
    let set = SigMask::of(signals);
    // SAFETY: valid sigset; the returned fd is owned by us.
    let fd = unsafe { libc::signalfd(-1, &set.0, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One signal read from a signalfd: number and whether the kernel itself sent it
/// (a terminal's ^C reaches the whole foreground process group, the child included).
pub fn read_signal(fd: BorrowedFd<'_>) -> Option<(i32, bool)> {
    // SAFETY: signalfd_siginfo is plain data of the size the kernel writes.
    unsafe {
        let mut info: libc::signalfd_siginfo = std::mem::zeroed();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        let n = libc::read(fd.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), size);
        if n as usize != size {
            return None;
        }
        Some((info.ssi_signo as i32, info.ssi_code == libc::SI_KERNEL))
    }
}

/// Wire format of a child-side failure: stage, errno.
const STAGE_CLONE3_FALLBACK_ATTACH: u32 = u32::MAX - 1;
const STAGE_EXEC: u32 = u32::MAX;
const STAGE_DETACH: u32 = u32::MAX - 2;

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// `fd`, or a close-on-exec copy of it numbered 3 or above when it is 0, 1 or 2.
///
/// A host that closed its stdin (or stdout, stderr) gets that number for the next file it
/// opens. A child then sets up its stdio with dup2 onto 0, 1 and 2, which would close such
/// an fd before the child is done with it, or hand it to the program as its stdin; and
/// dup2(fd, fd) changes nothing, so an fd already at its target would keep close-on-exec.
/// Every fd the child side uses is therefore kept above 2.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, 3)?)
}

/// Placeholders in this process's free stdio slots (0, 1, 2) while a
/// [`std::process::Command`] with a `pre_exec` step is spawned; dropping it frees them.
///
/// std spawns a Command that has a `pre_exec` closure (as [`join_on_exec`] and
/// [`hold_on_exec`] add) by fork, and there it sets up the child's stdio with plain dup2:
/// when fd 0 is free in the parent, the read end of a piped stdin lands on fd 0 itself,
/// `dup2(0, 0)` leaves its close-on-exec flag, and the program starts with stdin closed
/// (std's posix_spawn path, taken without `pre_exec`, handles this). A host program that
/// closed its stdin would see that only through rein. With the free slots taken while
/// the Command is spawned, no pipe or file lands there; a slot the child inherits (an
/// inherited stdin the host had closed) holds a close-on-exec placeholder, so the program
/// starts with it closed, as it would without rein.
///
/// The placeholders are ends of a pipe of their own; on drop each is closed only if the
/// slot still holds it (another thread may have dup2'ed its own file there meanwhile).
#[derive(Debug)]
pub struct StdioSlots {
    held: Vec<(RawFd, u64)>,
}

impl StdioSlots {
    /// Takes every free slot among 0, 1 and 2.
    pub fn take() -> StdioSlots {
        let mut held = Vec::new();
        let open = |fd: RawFd| {
            // SAFETY: F_GETFD only reads the flags of a descriptor number.
            unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
        };
        if (0..=2).all(open) {
            return StdioSlots { held };
        }
        // New fds take the lowest free numbers: keep those below 3, close the rest.
        while let Ok((rd, wr)) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
            let mut done = true;
            for fd in [rd, wr] {
                if fd.as_raw_fd() <= 2 {
                    let ino = rustix::fs::fstat(&fd).map(|st| st.st_ino).unwrap_or(0);
                    held.push((std::os::fd::IntoRawFd::into_raw_fd(fd), ino));
                    done = false;
                }
            }
            if done {
                break;
            }
        }
        StdioSlots { held }
    }
}

impl Drop for StdioSlots {
    fn drop(&mut self) {
        for (fd, ino) in self.held.drain(..) {
            // SAFETY: fd is a placeholder this value opened; it is closed only while it is
            // still that placeholder (same pipe inode), never another thread's file.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            if rustix::fs::fstat(borrowed).is_ok_and(|st| st.st_ino == ino) {
                // SAFETY: as above.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
}

/// A close-on-exec pipe (read end, write end) whose ends are both above 2 ([`above_stdio`]).
fn pipe_above_stdio(flags: rustix::pipe::PipeFlags) -> io::Result<(OwnedFd, OwnedFd)> {
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC | flags)?;
    Ok((above_stdio(rd)?, above_stdio(wr)?))
}

/// Starts `cmd` inside the group described by `attach`, with `mask` as the child's signal mask.
pub fn spawn(cmd: &Prepared, attach: &Attach<'_>, mask: &SigMask) -> Result<Child, SpawnError> {
    let started = start(cmd, attach, mask, None)?;
    started.wait_exec(attach.procs.len())
}

/// A child forked and held before it joins a group or calls execve (see the module guide).
///
/// Dropping it without [`Held::release`] is [`Held::abort`]: the child exits without running
/// the command, and is reaped.
#[derive(Debug)]
pub struct Held {
    started: Option<Started>,
    gate: Option<OwnedFd>,
}

/// Starts `cmd` held: the child waits before joining the groups of `attach` and before
/// execve until [`Held::release`]. Its pid is [`Held::pid`].
pub fn spawn_held(cmd: &Prepared, attach: &Attach<'_>, mask: &SigMask) -> Result<Held, SpawnError> {
    let (gate_rd, gate_wr) = pipe_above_stdio(rustix::pipe::PipeFlags::empty()).map_err(SpawnError::Other)?;
    let started = start(cmd, attach, mask, Some((gate_rd.as_raw_fd(), gate_wr.as_raw_fd())))?;
    drop(gate_rd);
    Ok(Held { started: Some(started), gate: Some(gate_wr) })
}

impl Held {
    /// The held child's pid.
    pub fn pid(&self) -> i32 {
        self.started.as_ref().map(|s| s.pid).unwrap_or(0)
    }

    /// Lets the child join its groups and execve. Returns it, or why it could not start
    /// (`attach_len` is the number of `cgroup.procs` fds it was given, for error indices).
    pub fn release(mut self, attach_len: usize) -> Result<Child, SpawnError> {
        let gate = self.gate.take().expect("a held child has its gate until released");
        let started = self.started.take().expect("a held child is started");
        let wrote = loop {
            match rustix::io::write(&gate, b"g") {
                Err(rustix::io::Errno::INTR) => continue,
                other => break other,
            }
        };
        drop(gate);
        if let Err(e) = wrote {
            // The child is gone already (killed while held): reap it and say so.
            started.reap();
            return Err(SpawnError::Other(e.into()));
        }
        started.wait_exec(attach_len)
    }

    /// Ends the child without running the command, and reaps it.
    pub fn abort(mut self) {
        self.abort_inner();
    }

    fn abort_inner(&mut self) {
        // Closing the gate's only write end gives the child EOF: it exits at once. Unless
        // it is stopped (a terminal's ^Z reaches the whole foreground process group): then
        // the reap would wait for a SIGCONT that may never come. The child never ran the
        // command, so SIGKILL is always right, and it ends a stopped child too.
        drop(self.gate.take());
        if let Some(started) = self.started.take() {
            let _ = kill(started.pid, libc::SIGKILL);
            started.reap();
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.abort_inner();
    }
}

/// A forked child that has not reported back yet.
#[derive(Debug)]
struct Started {
    pid: i32,
    via_clone3: bool,
    report: OwnedFd,
}

impl Started {
    /// Waits until the child has called execve (the close-on-exec report pipe closes) or
    /// reported a failure.
    fn wait_exec(self, attach_len: usize) -> Result<Child, SpawnError> {
        let mut buf = [0u8; 8];
        let mut got = 0;
        while got < buf.len() {
            match rustix::io::read(&self.report, &mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(SpawnError::Other(e.into())),
            }
        }
        if got == 0 {
            return Ok(Child { pid: self.pid, via_clone3: self.via_clone3 });
        }
        // The child failed and is exiting; reap it so no zombie stays behind.
        self.reap();
        let stage = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let err = io::Error::from_raw_os_error(i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]));
        Err(match stage {
            STAGE_EXEC => match exec_exit_code(err.raw_os_error().unwrap_or(libc::EIO)) {
                127 => SpawnError::NotFound(err),
                _ => SpawnError::NotExecutable(err),
            },
            STAGE_CLONE3_FALLBACK_ATTACH => SpawnError::Attach(None, err),
            STAGE_DETACH => SpawnError::Other(err),
            i => {
                let i = i as usize;
                SpawnError::Attach(if i < attach_len { Some(i) } else { None }, err)
            }
        })
    }

    /// Waits for the child to end (it is exiting) so no zombie stays behind.
    fn reap(self) {
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r >= 0 || errno() != libc::EINTR {
                break;
            }
        }
    }
}

/// Forks (or clone3s) the child and returns without waiting for its execve. With `gate`
/// (read end, write end of a pipe), the child first waits for a byte on it.
fn start(
    cmd: &Prepared,
    attach: &Attach<'_>,
    mask: &SigMask,
    gate: Option<(RawFd, RawFd)>,
) -> Result<Started, SpawnError> {
    let mut argv: Vec<*const libc::c_char> = cmd.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let candidates: Vec<*const libc::c_char> = cmd.candidates.iter().map(|c| c.as_ptr()).collect();
    let mut procs: Vec<RawFd> = attach.procs.iter().map(|f| f.as_raw_fd()).collect();

    let (rd, wr) = pipe_above_stdio(rustix::pipe::PipeFlags::empty()).map_err(SpawnError::Other)?;

    let mut via_clone3 = false;
    let mut fallback_procs: Option<OwnedFd> = None;
    let pid = match attach.cgroup_dir {
        Some(dir) => {
            let mut args = CloneArgs {
                flags: CLONE_INTO_CGROUP,
                exit_signal: libc::SIGCHLD as u64,
                cgroup: dir.as_raw_fd() as u64,
                ..CloneArgs::default()
            };
            // SAFETY: clone3 without CLONE_VM behaves like fork: the child gets a copy of
            // the address space and returns here with 0.
            let ret = unsafe {
                libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>())
            };
            if ret >= 0 {
                via_clone3 = true;
                ret as i32
            } else {
                match errno() {
                    // No clone3 (< 5.3) or no CLONE_INTO_CGROUP (< 5.7): fork, and let the
                    // child join through the group's cgroup.procs. The same when a seccomp
                    // filter refuses clone3 itself with EPERM (Docker's default profile
                    // before 20.10, systemd's SystemCallFilter=): the probe tells that from
                    // the kernel refusing this clone, as a filter refuses the probe too.
                    libc::ENOSYS | libc::E2BIG | libc::EINVAL => fallback_fork(dir, &mut procs, &mut fallback_procs)?,
                    libc::EPERM if !has_clone3() => fallback_fork(dir, &mut procs, &mut fallback_procs)?,
                    e => return Err(SpawnError::Attach(None, io::Error::from_raw_os_error(e))),
                }
            }
        }
        None => fork()?,
    };
    if pid == 0 {
        // SAFETY: in the child; only async-signal-safe calls follow, and it never returns.
        let detach = cmd.detach.as_ref().map(|(i, o)| (i.as_raw_fd(), o.as_raw_fd()));
        let exec = Exec { candidates: &candidates, search: cmd.search, argv: argv.as_ptr() };
        unsafe { child(wr.as_raw_fd(), gate, &procs, detach, &exec, &mask.0) }
    }
    drop(wr);
    drop(fallback_procs);
    Ok(Started { pid, via_clone3, report: rd })
}

/// Forks a child that joins the v2 group `dir` through its `cgroup.procs` (clone3 could not
/// place it): the file is opened here, added to `procs` and kept open in `keep` until the
/// child has written to it.
fn fallback_fork(dir: BorrowedFd<'_>, procs: &mut Vec<RawFd>, keep: &mut Option<OwnedFd>) -> Result<i32, SpawnError> {
    let f = rustix::fs::openat(
        dir,
        "cgroup.procs",
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NOFOLLOW,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| SpawnError::Attach(None, e.into()))?;
    procs.push(f.as_raw_fd());
    *keep = Some(f);
    fork()
}

fn fork() -> Result<i32, SpawnError> {
    // SAFETY: the child only runs async-signal-safe code before execve or _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(SpawnError::Other(io::Error::last_os_error()));
    }
    Ok(pid)
}

/// What the child executes, prepared before the fork.
struct Exec<'a> {
    /// Full paths to try in turn.
    candidates: &'a [*const libc::c_char],
    /// They come from a PATH search.
    search: bool,
    argv: *const *const libc::c_char,
}

/// The child side. Async-signal-safe calls only; never returns. `report` is above 2
/// ([`pipe_above_stdio`]), so setting up a detached child's stdio cannot close it.
unsafe fn child(
    report: RawFd,
    gate: Option<(RawFd, RawFd)>,
    procs: &[RawFd],
    detach: Option<(RawFd, RawFd)>,
    exec: &Exec<'_>,
    mask: *const libc::sigset_t,
) -> ! {
    unsafe extern "C" {
        static environ: *const *const libc::c_char;
    }
    let fail = |stage: u32, err: i32, code: i32| -> ! {
        let mut msg = [0u8; 8];
        msg[..4].copy_from_slice(&stage.to_ne_bytes());
        msg[4..].copy_from_slice(&err.to_ne_bytes());
        // SAFETY: write and _exit are async-signal-safe.
        unsafe {
            libc::write(report, msg.as_ptr().cast(), msg.len());
            libc::_exit(code)
        }
    };
    if let Some((gate_rd, gate_wr)) = gate {
        // Drop our copy of the write end first: if rein dies, the read sees EOF instead of
        // waiting forever. Then wait for the go-ahead byte; EOF means "do not run".
        // SAFETY: close and read are async-signal-safe; the fds are the gate pipe's.
        unsafe { libc::close(gate_wr) };
        let mut byte = 0u8;
        loop {
            // SAFETY: reading one byte into a local.
            let n = unsafe { libc::read(gate_rd, (&mut byte as *mut u8).cast(), 1) };
            if n == 1 {
                break;
            }
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(125) };
        }
        // SAFETY: as above.
        unsafe { libc::close(gate_rd) };
    }
    for (i, fd) in procs.iter().enumerate() {
        // "0" names the writing process itself.
        // SAFETY: fd is an open cgroup.procs file inherited from the parent.
        if unsafe { libc::write(*fd, b"0".as_ptr().cast(), 1) } != 1 {
            fail(i as u32, errno(), 125);
        }
    }
    if let Some((stdin, output)) = detach {
        // A forked child is never a process-group leader, so setsid succeeds. Either fd
        // may be 0, 1 or 2 itself (a host that closed its stdin gets fd 0 for the next
        // file it opens): dup2 straight onto 0, 1, 2 could close one before it is copied,
        // and dup2(fd, fd) would keep its close-on-exec. So both are first copied above 2
        // (close-on-exec copies), then onto 0, 1 and 2 (dup2 clears close-on-exec there).
        // SAFETY: setsid, fcntl and dup2 are async-signal-safe; the fds were opened before
        // the fork.
        let ok = unsafe {
            let i = libc::fcntl(stdin, libc::F_DUPFD_CLOEXEC, 3);
            let o = libc::fcntl(output, libc::F_DUPFD_CLOEXEC, 3);
            i >= 0
                && o >= 0
                && libc::setsid() >= 0
                && libc::dup2(i, 0) >= 0
                && libc::dup2(o, 1) >= 0
                && libc::dup2(o, 2) >= 0
        };
        if !ok {
            fail(STAGE_DETACH, errno(), 125);
        }
    }
    // SAFETY: resetting dispositions and the mask before execve. Rust ignores SIGPIPE at
    // startup; a command expects the default. SIGCHLD: see sigchld_default (rein's
    // supervisor has reset it already; a library caller may not have). Handled signals
    // reset on execve anyway.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
    }
    sigchld_default();
    // A path with a slash is executed as given: its errno is the answer. A PATH search
    // goes as execvp's: ENOENT/ENOTDIR try the next directory, EACCES is remembered,
    // anything else stops the search.
    let mut err = libc::ENOENT;
    for c in exec.candidates {
        // SAFETY: NUL-terminated strings and arrays prepared before the fork.
        unsafe { libc::execve(*c, exec.argv, environ) };
        match errno() {
            e if !exec.search => err = e,
            libc::ENOENT | libc::ENOTDIR => {}
            libc::EACCES => err = libc::EACCES,
            other => {
                err = other;
                break;
            }
        }
    }
    fail(STAGE_EXEC, err, exec_exit_code(err).into())
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExitStatus {
    /// It called exit with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
}

impl ExitStatus {
    /// The shell convention: the code, or 128 + signal.
    pub fn code(&self) -> i32 {
        match self {
            ExitStatus::Exited(c) => *c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }

    fn from_wait(status: i32) -> ExitStatus {
        if libc::WIFSIGNALED(status) {
            ExitStatus::Signaled(libc::WTERMSIG(status))
        } else {
            ExitStatus::Exited(libc::WEXITSTATUS(status))
        }
    }
}

/// Resource usage of a reaped child and its reaped descendants (getrusage semantics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rusage {
    /// User CPU time, µs.
    pub user_usec: u64,
    /// System CPU time, µs.
    pub system_usec: u64,
    /// Largest resident set, bytes.
    pub maxrss_bytes: u64,
}

/// Reaps `pid` if it has ended (WNOHANG).
pub fn try_wait(pid: i32) -> io::Result<Option<(ExitStatus, Rusage)>> {
    let mut status = 0;
    // SAFETY: rusage is plain data filled by the kernel.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == 0 {
            return Ok(None);
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        let usage = Rusage {
            user_usec: tv(ru.ru_utime),
            system_usec: tv(ru.ru_stime),
            maxrss_bytes: ru.ru_maxrss as u64 * 1024,
        };
        return Ok(Some((ExitStatus::from_wait(status), usage)));
    }
}

/// Ends this process the way a child that ended with `status` did, so that this process's
/// parent sees what it would have seen from that child: exit with its code, or death by
/// the same signal.
///
/// A shell stops a loop (`for f in *; do rein run -- cmd "$f"; done`) on ^C only when the
/// child dies of SIGINT; an exit status of 130 does not do it. So the signal is raised
/// again here with its default action (unblocked first: rein's supervisor blocks the
/// signals it forwards). Before a signal whose default action dumps core (SIGQUIT,
/// SIGABRT, SIGSEGV, ...), this process makes itself undumpable (`PR_SET_DUMPABLE` 0, and
/// `RLIMIT_CORE` 0; a core_pattern that pipes to a program ignores the rlimit, not the
/// dumpable flag): the command may have left a core, rein leaves none of its own, and the
/// parent sees no core flag. Where raising cannot end the process (PID 1 of a namespace
/// ignores signals it has no handler for), it exits with 128 + the signal.
///
/// Print and flush everything to print before calling it.
pub fn exit_like(status: ExitStatus) -> ! {
    let signal = match status {
        ExitStatus::Exited(code) => std::process::exit(code),
        ExitStatus::Signaled(signal) => signal,
    };
    // SAFETY: process-wide settings for a process about to end; plain system calls.
    unsafe {
        let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        libc::setrlimit(libc::RLIMIT_CORE, &none);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        libc::signal(signal, libc::SIG_DFL);
        let set = SigMask::of(&[signal]);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set.0, std::ptr::null_mut());
        libc::raise(signal);
    }
    std::process::exit(128 + signal)
}

/// Whether this process leads its session (it called setsid, as a terminal emulator's or
/// sshd's child does). A process that never left the session of the kernel's init has
/// session id 0 (a busybox init's console shell): not a leader. (rustix's getsid turns
/// that 0 into a Pid and panics, hence libc.)
pub fn is_session_leader() -> bool {
    // SAFETY: getsid and getpid only read this process's ids.
    unsafe { libc::getsid(0) == libc::getpid() }
}

/// Sends `signal` to `pid`.
pub fn kill(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: plain syscall.
    if unsafe { libc::kill(pid, signal) } < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// True if this kernel has clone3 (5.3+) and this process may call it; CLONE_INTO_CGROUP
/// needs 5.7.
pub fn has_clone3() -> bool {
    // SAFETY: a null, zero-size argument makes clone3 fail without creating anything:
    // EINVAL where it exists, ENOSYS where it does not, and whatever a seccomp filter
    // answers for clone3 where one refuses it (EPERM in Docker's profile before 20.10).
    let r = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null_mut::<CloneArgs>(), 0usize) };
    r < 0 && errno() == libc::EINVAL
}

/// Sets SIGCHLD to its default action in the calling process (async-signal-safe).
///
/// An ignored SIGCHLD survives execve and makes the kernel reap a process's children
/// behind its back: its waits fail with ECHILD. rein's supervisor must reap its command,
/// and a command rein starts must not inherit that from rein's parent.
pub fn sigchld_default() {
    // SAFETY: signal() with SIG_DFL is async-signal-safe and touches no memory of ours.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
}

// A std::process::Command started inside a group.
//
// std's Command cannot clone3 into a cgroup, but it runs `pre_exec` closures in the forked
// child before execve. The closures below are the child's side; everything they call is
// async-signal-safe (atomic loads, write, read, close, getpid), and they allocate nothing.
// Their file descriptors live in atomics so that the parent can disarm a closure once its
// spawn is over: std keeps every closure in the Command, and a Command spawned again (into
// another group, or plainly) must not write into fds that were closed and reused since.

/// The fds a [`join_on_exec`] closure writes `0` into, or -1 once disarmed.
#[derive(Debug)]
struct JoinState {
    procs: Box<[AtomicI32]>,
    report: AtomicI32,
}

/// The parent's side of [`join_on_exec`]: call [`ExecJoin::finish`] once
/// [`std::process::Command::spawn`] has returned. Dropping it disarms the closure too.
#[derive(Debug)]
pub struct ExecJoin {
    state: Arc<JoinState>,
    procs: Vec<OwnedFd>,
    report: OwnedFd,
    report_wr: Option<OwnedFd>,
}

/// Arms `cmd` so that its next spawned child writes `0` ("myself") into each of `procs`
/// (`cgroup.procs` files opened `O_WRONLY` by the caller) before execve: the program's
/// first instruction already runs in the group. A failed write makes the spawn fail;
/// [`ExecJoin::finish`] tells which file and why.
///
/// std forks when a Command has a `pre_exec` closure (it cannot use posix_spawn then), so
/// only the forked copy of the caller runs outside the group, for the few system calls
/// before the writes. clone3 `CLONE_INTO_CGROUP` ([`spawn`]) avoids even that, but returns
/// a pid rather than a [`std::process::Child`].
pub fn join_on_exec(cmd: &mut std::process::Command, procs: Vec<OwnedFd>) -> io::Result<ExecJoin> {
    use std::os::unix::process::CommandExt;
    // std sets up the child's stdio (dup2 onto 0, 1, 2) before it runs pre_exec closures:
    // an fd of the closure's there would be written into the program's stdin instead.
    let procs = procs.into_iter().map(above_stdio).collect::<io::Result<Vec<_>>>()?;
    let (report, report_wr) = pipe_above_stdio(rustix::pipe::PipeFlags::NONBLOCK)?;
    let state = Arc::new(JoinState {
        procs: procs.iter().map(|f| AtomicI32::new(f.as_raw_fd())).collect(),
        report: AtomicI32::new(report_wr.as_raw_fd()),
    });
    let child_state = state.clone();
    let join = move || -> io::Result<()> {
        let report = child_state.report.load(Ordering::Relaxed);
        if report < 0 {
            return Ok(());
        }
        sigchld_default();
        for (i, fd) in child_state.procs.iter().enumerate() {
            // SAFETY: fd is a cgroup.procs file the parent opened and keeps open until the
            // spawn returns; write is async-signal-safe.
            if unsafe { libc::write(fd.load(Ordering::Relaxed), b"0".as_ptr().cast(), 1) } != 1 {
                let err = errno();
                let mut msg = [0u8; 8];
                msg[..4].copy_from_slice(&(i as u32).to_ne_bytes());
                msg[4..].copy_from_slice(&err.to_ne_bytes());
                // SAFETY: as above; the report pipe is the parent's, nonblocking, and empty.
                unsafe { libc::write(report, msg.as_ptr().cast(), msg.len()) };
                return Err(io::Error::from_raw_os_error(err));
            }
        }
        Ok(())
    };
    // SAFETY: the closure runs only async-signal-safe calls and allocates nothing (see above).
    unsafe { cmd.pre_exec(join) };
    Ok(ExecJoin { state, procs, report, report_wr: Some(report_wr) })
}

impl ExecJoin {
    fn disarm(&self) {
        for fd in self.state.procs.iter() {
            fd.store(-1, Ordering::Relaxed);
        }
        self.state.report.store(-1, Ordering::Relaxed);
    }

    /// Disarms the closure, closes the files, and returns the write that failed in the
    /// child, if one did: its index in `procs` and the error.
    pub fn finish(mut self) -> Option<(usize, io::Error)> {
        self.disarm();
        drop(self.report_wr.take());
        let mut buf = [0u8; 8];
        match rustix::io::read(&self.report, &mut buf) {
            Ok(8) => {
                let i = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                let err = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
                Some((i, io::Error::from_raw_os_error(err)))
            }
            _ => None,
        }
    }
}

impl Drop for ExecJoin {
    fn drop(&mut self) {
        // Before the fds close (the struct's fields drop after this): a later spawn of the
        // same Command must never see these numbers, which the kernel may hand out again.
        self.disarm();
        self.procs.clear();
    }
}

/// The fds a [`hold_on_exec`] closure uses, or -1 once disarmed.
#[derive(Debug)]
struct HoldState {
    pid_wr: AtomicI32,
    gate_rd: AtomicI32,
    gate_wr: AtomicI32,
}

/// The spawning thread's side of [`hold_on_exec`]: call [`ExecHold::finish`] once
/// [`std::process::Command::spawn`] has returned. Dropping it does the same.
#[derive(Debug)]
pub struct ExecHold {
    state: Arc<HoldState>,
    pid_wr: Option<OwnedFd>,
    gate_rd: Option<OwnedFd>,
}

/// The other side of [`hold_on_exec`], for a second thread: [`HeldChild::pid`] waits for
/// the child's pid, [`HeldChild::release`] lets it execve. Dropping it without releasing
/// makes the spawn fail (`ECANCELED`) before the program runs.
#[derive(Debug)]
pub struct HeldChild {
    pid_rd: OwnedFd,
    gate_wr: Option<OwnedFd>,
}

/// Arms `cmd` so that its next spawned child reports its pid and then waits, before
/// execve, until [`HeldChild::release`]: a service manager can move it meanwhile (systemd
/// makes a scope from a pid), so the program's first instruction runs in its unit.
///
/// [`std::process::Command::spawn`] returns only once the child has called execve, so the
/// pid must be read and the child released by another thread while the spawning thread
/// waits in `spawn` (see [`crate::Cgroup::spawn`] for the sequence). If the process that
/// holds the [`HeldChild`] dies, the child sees the gate close and fails instead of
/// waiting forever.
pub fn hold_on_exec(cmd: &mut std::process::Command) -> io::Result<(ExecHold, HeldChild)> {
    use std::os::unix::process::CommandExt;
    // Above 2, as in join_on_exec: std dup2()s the child's stdio before the closure runs.
    let (pid_rd, pid_wr) = pipe_above_stdio(rustix::pipe::PipeFlags::empty())?;
    let (gate_rd, gate_wr) = pipe_above_stdio(rustix::pipe::PipeFlags::empty())?;
    let state = Arc::new(HoldState {
        pid_wr: AtomicI32::new(pid_wr.as_raw_fd()),
        gate_rd: AtomicI32::new(gate_rd.as_raw_fd()),
        gate_wr: AtomicI32::new(gate_wr.as_raw_fd()),
    });
    let child_state = state.clone();
    let hold = move || -> io::Result<()> {
        let pid_wr = child_state.pid_wr.load(Ordering::Relaxed);
        if pid_wr < 0 {
            return Ok(());
        }
        sigchld_default();
        let gate_rd = child_state.gate_rd.load(Ordering::Relaxed);
        // SAFETY: close, getpid, write and read are async-signal-safe; the fds are this
        // child's inherited copies of the two pipes. The write end of the gate is closed
        // first so that the gate reads EOF when the parent's copy goes.
        unsafe {
            libc::close(child_state.gate_wr.load(Ordering::Relaxed));
            let pid = libc::getpid().to_ne_bytes();
            if libc::write(pid_wr, pid.as_ptr().cast(), pid.len()) != pid.len() as isize {
                return Err(io::Error::from_raw_os_error(errno()));
            }
            libc::close(pid_wr);
            let mut byte = 0u8;
            loop {
                let n = libc::read(gate_rd, (&mut byte as *mut u8).cast(), 1);
                if n == 1 {
                    break;
                }
                if n < 0 && errno() == libc::EINTR {
                    continue;
                }
                return Err(io::Error::from_raw_os_error(libc::ECANCELED));
            }
            libc::close(gate_rd);
        }
        Ok(())
    };
    // SAFETY: the closure runs only async-signal-safe calls and allocates nothing (see above).
    unsafe { cmd.pre_exec(hold) };
    Ok((ExecHold { state, pid_wr: Some(pid_wr), gate_rd: Some(gate_rd) }, HeldChild { pid_rd, gate_wr: Some(gate_wr) }))
}

impl ExecHold {
    /// Disarms the closure and closes this side's pipe ends, so that a [`HeldChild::pid`]
    /// still waiting learns that no child will report.
    pub fn finish(self) {}
}

impl Drop for ExecHold {
    fn drop(&mut self) {
        self.state.pid_wr.store(-1, Ordering::Relaxed);
        self.state.gate_rd.store(-1, Ordering::Relaxed);
        self.state.gate_wr.store(-1, Ordering::Relaxed);
        drop(self.pid_wr.take());
        drop(self.gate_rd.take());
    }
}

impl HeldChild {
    /// Waits until the child reports its pid. None when the spawn ended without a child
    /// getting that far (it failed before the fork, or an earlier `pre_exec` closure failed).
    pub fn pid(&mut self) -> Option<u32> {
        let mut buf = [0u8; 4];
        let mut got = 0;
        while got < buf.len() {
            match rustix::io::read(&self.pid_rd, &mut buf[got..]) {
                Ok(0) => return None,
                Ok(n) => got += n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return None,
            }
        }
        u32::try_from(i32::from_ne_bytes(buf)).ok().filter(|p| *p > 0)
    }

    /// Lets the child go on to execve.
    pub fn release(mut self) -> io::Result<()> {
        let gate = self.gate_wr.take().expect("a held child has its gate until released");
        loop {
            match rustix::io::write(&gate, b"g") {
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(program: &str, args: &[&str]) -> Result<ExitStatus, SpawnError> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let cmd = Prepared::new(OsStr::new(program), &args)?;
        let child = spawn(&cmd, &Attach::default(), &SigMask::current())?;
        loop {
            if let Some((status, _)) = try_wait(child.pid).unwrap() {
                return Ok(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(run("true", &[]).unwrap(), ExitStatus::Exited(0));
        assert_eq!(run("sh", &["-c", "exit 7"]).unwrap(), ExitStatus::Exited(7));
        assert_eq!(run("sh", &["-c", "kill -9 $$"]).unwrap(), ExitStatus::Signaled(9));
        assert_eq!(ExitStatus::Signaled(9).code(), 137);
    }

    #[test]
    fn not_found_and_not_executable() {
        assert_eq!(run("/nonexistent", &[]).unwrap_err().exit_code(), 127);
        assert_eq!(run("no-such-program-rein", &[]).unwrap_err().exit_code(), 127);
        assert_eq!(run("/etc/hostname", &[]).unwrap_err().exit_code(), 126);
        assert_eq!(run("/tmp", &[]).unwrap_err().exit_code(), 126);
        assert_eq!(run("", &[]).unwrap_err().exit_code(), 127);
    }

    #[test]
    fn sigpipe_is_default_in_the_child() {
        // rein ignores SIGPIPE (Rust does at startup); the child must not inherit that,
        // or the shell would survive its own SIGPIPE and exit 3.
        assert_eq!(run("sh", &["-c", "kill -PIPE $$; exit 3"]).unwrap(), ExitStatus::Signaled(libc::SIGPIPE));
    }

    #[test]
    fn attach_failure_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::open(dir.path()).unwrap(); // a read-only fd: write fails
        let cmd = Prepared::new(OsStr::new("true"), &[]).unwrap();
        let attach = Attach { cgroup_dir: None, procs: vec![std::os::fd::AsFd::as_fd(&f)] };
        let err = spawn(&cmd, &attach, &SigMask::current()).unwrap_err();
        assert!(matches!(err, SpawnError::Attach(Some(0), _)), "{err:?}");
    }

    fn wait(pid: i32) -> ExitStatus {
        loop {
            if let Some((status, _)) = try_wait(pid).unwrap() {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn held_child_runs_only_when_released() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("ran");
        let script = format!("echo x > {}", mark.display());
        let cmd = Prepared::new(OsStr::new("sh"), &["-c".into(), script.into()]).unwrap();
        let held = spawn_held(&cmd, &Attach::default(), &SigMask::current()).unwrap();
        assert!(held.pid() > 0);
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!mark.exists(), "the held child ran before release");
        let child = held.release(0).unwrap();
        assert_eq!(wait(child.pid), ExitStatus::Exited(0));
        assert!(mark.exists());
    }

    #[test]
    fn aborted_held_child_never_runs_and_is_reaped() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("ran");
        let cmd = Prepared::new(OsStr::new("touch"), &[mark.clone().into_os_string()]).unwrap();
        let held = spawn_held(&cmd, &Attach::default(), &SigMask::current()).unwrap();
        let pid = held.pid();
        held.abort();
        assert!(!mark.exists());
        // Reaped already: no such child any more.
        assert!(try_wait(pid).is_err());
    }

    #[test]
    fn dropping_a_held_child_is_bounded_even_when_it_is_stopped() {
        // A terminal's ^Z stops the whole foreground process group, the held child too: the
        // reap on drop must not wait for a SIGCONT that may never come.
        let cmd = Prepared::new(OsStr::new("true"), &[]).unwrap();
        let held = spawn_held(&cmd, &Attach::default(), &SigMask::current()).unwrap();
        let pid = held.pid();
        kill(pid, libc::SIGSTOP).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(held);
            let _ = tx.send(());
        });
        let done = rx.recv_timeout(std::time::Duration::from_secs(5));
        if done.is_err() {
            let _ = kill(pid, libc::SIGCONT);
        }
        assert!(done.is_ok(), "dropping the held child blocked on a stopped child");
    }

    #[test]
    fn held_child_reports_exec_failure_on_release() {
        let cmd = Prepared::new(OsStr::new("/nonexistent/rein"), &[]).unwrap();
        let held = spawn_held(&cmd, &Attach::default(), &SigMask::current()).unwrap();
        assert_eq!(held.release(0).unwrap_err().exit_code(), 127);
    }

    #[test]
    fn a_command_joins_before_exec_and_only_once() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let procs = dir.path().join("cgroup.procs");
        std::fs::write(&procs, "").unwrap();
        let open = || -> OwnedFd { std::fs::OpenOptions::new().append(true).open(&procs).unwrap().into() };
        // The child prints what the file holds when it runs: the write came before execve.
        let mut cmd = std::process::Command::new("cat");
        cmd.arg(&procs).stdout(std::process::Stdio::piped());
        let join = join_on_exec(&mut cmd, vec![open()]).unwrap();
        let mut child = cmd.spawn().unwrap();
        assert!(join.finish().is_none());
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(out, "0");
        // Spawned again, the disarmed closure writes nothing.
        assert!(cmd.status().unwrap().success());
        assert_eq!(std::fs::read_to_string(&procs).unwrap(), "0");
    }

    #[test]
    fn a_failed_join_stops_the_command_and_says_which_file() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("ran");
        let ok = tempfile::tempfile().unwrap();
        // /dev/full refuses every write with ENOSPC, as a v1 cpuset without CPUs does.
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let mut cmd = std::process::Command::new("touch");
        cmd.arg(&mark);
        let join = join_on_exec(&mut cmd, vec![ok.into(), full.into()]).unwrap();
        let err = cmd.spawn().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        let (i, cause) = join.finish().expect("the child reports the failed write");
        assert_eq!((i, cause.raw_os_error()), (1, Some(libc::ENOSPC)));
        assert!(!mark.exists(), "the command ran although it could not join");
    }

    #[test]
    fn a_held_command_runs_once_released_by_another_thread() {
        let mut cmd = std::process::Command::new("true");
        let (hold, mut held) = hold_on_exec(&mut cmd).unwrap();
        let helper = std::thread::spawn(move || {
            let pid = held.pid();
            held.release().unwrap();
            pid
        });
        let mut child = cmd.spawn().unwrap();
        hold.finish();
        assert_eq!(helper.join().unwrap(), Some(child.id()));
        assert!(child.wait().unwrap().success());
    }

    #[test]
    fn a_held_command_that_is_not_released_never_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("ran");
        let mut cmd = std::process::Command::new("touch");
        cmd.arg(&mark);
        let (hold, mut held) = hold_on_exec(&mut cmd).unwrap();
        let helper = std::thread::spawn(move || {
            let pid = held.pid();
            drop(held);
            pid
        });
        let err = cmd.spawn().unwrap_err();
        hold.finish();
        assert!(helper.join().unwrap().is_some());
        assert_eq!(err.raw_os_error(), Some(libc::ECANCELED));
        assert!(!mark.exists());
    }

    #[test]
    fn a_spawn_that_fails_before_the_fork_ends_the_wait() {
        let mut cmd = std::process::Command::new("true");
        cmd.arg("nul\0byte");
        let (hold, mut held) = hold_on_exec(&mut cmd).unwrap();
        let helper = std::thread::spawn(move || held.pid());
        assert!(cmd.spawn().is_err());
        hold.finish();
        assert_eq!(helper.join().unwrap(), None);
    }

    #[test]
    fn clone3_probe() {
        assert!(has_clone3());
    }

    #[test]
    fn clone3_refused_with_eperm_falls_back_to_fork_and_cgroup_procs() {
        // Old Docker profiles and systemd's SystemCallFilter= answer clone3 with EPERM,
        // not ENOSYS. The filter is the thread's own: other tests never see it.
        let dir = tempfile::tempdir().unwrap();
        let procs = dir.path().join("cgroup.procs");
        std::fs::write(&procs, "").unwrap();
        let group_dir = std::fs::File::open(dir.path()).unwrap();
        std::thread::spawn(move || {
            crate::test_support::deny_syscalls(&[(libc::SYS_clone3, libc::EPERM)]);
            let cmd = Prepared::new(OsStr::new("true"), &[]).unwrap();
            let attach = Attach { cgroup_dir: Some(std::os::fd::AsFd::as_fd(&group_dir)), procs: vec![] };
            let child = spawn(&cmd, &attach, &SigMask::current()).unwrap();
            assert!(!child.via_clone3);
            assert_eq!(wait(child.pid), ExitStatus::Exited(0));
            assert!(!has_clone3(), "clone3 answers EPERM to everything here");
        })
        .join()
        .unwrap();
        assert_eq!(std::fs::read_to_string(&procs).unwrap(), "0", "the child joined through cgroup.procs");
    }

    #[test]
    fn exit_like_dies_of_the_same_signal_and_dumps_no_core() {
        const NAME: &str = "launch::tests::exit_like_dies_of_the_same_signal_and_dumps_no_core";
        let dir = tempfile::tempdir().unwrap();
        let Some(out) = crate::test_support::own_process(NAME, Some(dir.path())) else {
            // A process that may dump core (the soft limit as high as allowed) and blocks
            // the signal, as rein's supervisor does.
            let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: plain system calls on this process, which is the test's own.
            unsafe {
                libc::getrlimit(libc::RLIMIT_CORE, &mut lim);
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_CORE, &lim);
            }
            block(&[libc::SIGQUIT]);
            exit_like(ExitStatus::Signaled(libc::SIGQUIT));
        };
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc::SIGQUIT), "{:?}", out);
        assert!(!out.status.core_dumped(), "{:?}", out);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "files left: {left:?}");
    }

    #[test]
    fn exit_like_exits_with_the_code() {
        let Some(out) = crate::test_support::own_process("launch::tests::exit_like_exits_with_the_code", None) else {
            exit_like(ExitStatus::Exited(7));
        };
        assert_eq!(out.status.code(), Some(7), "{:?}", out);
    }

    #[test]
    fn a_process_that_called_setsid_leads_its_session() {
        if !crate::test_support::in_own_process("launch::tests::a_process_that_called_setsid_leads_its_session") {
            return;
        }
        // A process started by Command is no process-group leader, so setsid works.
        assert!(!is_session_leader());
        // SAFETY: this process is the test's own.
        assert!(unsafe { libc::setsid() } > 0, "setsid: {}", io::Error::last_os_error());
        assert!(is_session_leader());
    }

    #[test]
    fn exec_errors_give_126_except_a_missing_program() {
        // As env(1), nice(1), timeout(1) and bash (for a path with a slash): only ENOENT
        // means "not found" (127); any other refusal of execve means "cannot run" (126).
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name).display().to_string();
        std::os::unix::fs::symlink(at("loop2"), at("loop1")).unwrap();
        std::os::unix::fs::symlink(at("loop1"), at("loop2")).unwrap();
        std::fs::write(at("file"), "").unwrap();
        std::fs::copy("/bin/true", at("busy")).unwrap();
        let _writer = std::fs::OpenOptions::new().append(true).open(at("busy")).unwrap();
        for (path, errno, code) in [
            (at("loop1"), libc::ELOOP, 126),
            (at(&"x".repeat(300)), libc::ENAMETOOLONG, 126),
            (at("file/x"), libc::ENOTDIR, 126),
            (at("busy"), libc::ETXTBSY, 126),
            (at("missing"), libc::ENOENT, 127),
        ] {
            let err = run(&path, &[]).unwrap_err();
            assert_eq!((err.io_error().raw_os_error(), err.exit_code()), (Some(errno), code), "{path}: {err:?}");
        }
    }

    #[test]
    fn a_detached_child_gets_its_stdio_when_the_host_has_fd_0_closed() {
        if !crate::test_support::in_own_process(
            "launch::tests::a_detached_child_gets_its_stdio_when_the_host_has_fd_0_closed",
        ) {
            return;
        }
        // A host program that closed its stdin: the next file it opens gets fd 0.
        // SAFETY: this process is the test's own; nothing else uses fd 0.
        unsafe { libc::close(0) };
        let dir = tempfile::tempdir().unwrap();
        let (input, out) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::write(&input, "hello\n").unwrap();
        // First stdin on fd 0 (dup2(0, 0) would keep its close-on-exec), then the output
        // on fd 0 (dup2(stdin, 0) would close it before it is copied to 1 and 2).
        for output_first in [false, true] {
            let open_in = || -> OwnedFd { std::fs::File::open(&input).unwrap().into() };
            let open_out = || -> OwnedFd { std::fs::File::create(&out).unwrap().into() };
            let (stdin, output) = if output_first {
                let o = open_out();
                (open_in(), o)
            } else {
                let i = open_in();
                (i, open_out())
            };
            assert_eq!(if output_first { output.as_raw_fd() } else { stdin.as_raw_fd() }, 0);
            let cmd = Prepared::new(OsStr::new("sh"), &["-c".into(), "cat; echo err >&2".into()])
                .unwrap()
                .detached(stdin, output);
            let child = spawn(&cmd, &Attach::default(), &SigMask::current()).unwrap();
            let status = wait(child.pid);
            let text = std::fs::read_to_string(&out).unwrap();
            assert_eq!(
                (status, text.as_str()),
                (ExitStatus::Exited(0), "hello\nerr\n"),
                "output first: {output_first}"
            );
        }
    }
}
