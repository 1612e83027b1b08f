//! `rein`: run and steer processes under cgroup limits.
//!
//! Exit status contract:
//! - `rein run`: the command's own status; if a signal N killed it, rein dies of the same
//!   signal (its parent sees what it would have seen from the command; a shell shows
//!   128+N); 125 if rein itself failed; 126 if the command could not be executed; 127 if
//!   it was not found; a signal N that ends rein while it waits for systemd, before the
//!   command ran, ends rein the same way once it has stopped what it made.
//! - `rein diff --exit-code`: 0 when applying would change nothing, 1 when it would.
//! - every other command: 0 on success, 125 on error, 2 on a usage error.
//! - a reader that went away (EPIPE on stdout or stderr) changes none of these: the rest
//!   of the output is dropped (out.rs); another stdout error (ENOSPC) is 125.

// First: its macros (outln!, eoutln!, ...) are for every module below.
#[macro_use]
mod out;

mod cli;
mod cmd;
mod compat_tools;
mod exit;
#[cfg(target_env = "musl")]
#[allow(unsafe_code)] // the global allocator of musl builds: dlmalloc behind a mutex
mod heap;
mod plot;
mod record;
mod report;
#[allow(unsafe_code)] // malloc_trim and madvise(MADV_DONTNEED) of rein's own r-xp file mappings
mod rss_trim;
mod supervisor;

use std::process::ExitCode;

/// On musl builds, dlmalloc instead of musl's allocator (see heap.rs); glibc builds keep
/// glibc's.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: heap::Dlmalloc = heap::Dlmalloc;

// `print_error` is also `crate::print_error` for cmd/run.rs.
use exit::{EXIT_FAILURE, exit_code, is_broken_pipe, print_error};

fn main() -> ExitCode {
    // rein acts with its caller's rights and trusts its caller's environment (paths,
    // PATH, REIN_CGROUP_ROOT): installed setuid it would lend root's rights to anyone.
    // See docs/SECURITY.md.
    if rustix::process::getuid() != rustix::process::geteuid()
        || rustix::process::getgid() != rustix::process::getegid()
    {
        eoutln!(
            "rein: error: rein must not run setuid or setgid (real uid {}, effective uid {})",
            rustix::process::getuid().as_raw(),
            rustix::process::geteuid().as_raw()
        );
        eoutln!(
            "rein: hint: remove the bit (chmod u-s,g-s), and delegate a cgroup subtree to users instead (docs/SECURITY.md)"
        );
        return ExitCode::from(EXIT_FAILURE);
    }
    // `cgcreate -c`'s placeholder in the scope it made: asleep until a signal ends it.
    if compat_tools::is_idle_placeholder() {
        compat_tools::idle();
    }
    // Multi-call: invoked as cgcreate, cgset, ... (see 'rein compat install').
    if let Some(tool) = compat_tools::called_as() {
        let code = compat_tools::main(tool);
        return incomplete_output().unwrap_or(code);
    }
    let args = cli::Cli::parse_args();
    let code = match cmd::dispatch(args) {
        Ok(code) => code,
        // The reader went away (`rein stat --watch 1s | head`): nothing more to say (see
        // out.rs for why 0 and not a SIGPIPE death).
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            print_error(&err);
            ExitCode::from(exit_code(&err))
        }
    };
    incomplete_output().unwrap_or(code)
}

/// [`EXIT_FAILURE`] with a message when stdout failed other than by its reader going
/// away (a full disk): the output is incomplete, so it is no success.
fn incomplete_output() -> Option<ExitCode> {
    let e = out::stdout_failure()?;
    eoutln!("rein: error: cannot write the output to stdout: {}", rein::errno::Shown(&e));
    Some(ExitCode::from(EXIT_FAILURE))
}
