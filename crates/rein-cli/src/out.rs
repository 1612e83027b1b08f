//! rein's printing to stdout and stderr, which a reader that goes away cannot crash.
//!
//! std's `print!`, `println!` and `eprintln!` panic when the write fails: `rein show
//! --json G | head -c10` died with "failed printing to stdout: Broken pipe" and, with
//! `panic = "abort"`, exit 134. Every line rein prints goes through the macros here
//! instead (`out!`, `outln!`, `eout!`, `eoutln!`; clippy.toml disallows std's).
//!
//! A closed pipe (EPIPE) ends that stream quietly: what is left to print is dropped, and
//! the command finishes its work, so a `rein run` still removes its group and a
//! supervisor keeps supervising when its log reader went away. rein then exits with the
//! command's own status (0 when it did its work), as ripgrep does (a broken pipe is a
//! graceful end there, exit 0), not as a SIGPIPE death (141 in a shell): rein may hold
//! groups it must clean up, and `set -o pipefail` scripts that read the head of a
//! listing should not fail. A stdout write error other than EPIPE (ENOSPC when stdout
//! is a file on a full disk) is kept: the output is incomplete, so [`stdout_failure`]
//! turns the exit status into an error. stderr errors are dropped (there is nowhere
//! left to say them).

use std::fmt;
use std::io::{self, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// stdout's reader went away: nothing more is written there.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
/// stderr's reader went away.
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);
/// The first stdout write error other than EPIPE.
static STDOUT_ERROR: Mutex<Option<io::Error>> = Mutex::new(None);

/// Writes to stdout (`out!`, `outln!`).
pub fn stdout(args: fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = io::stdout().lock().write_fmt(args) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe {
            STDOUT_ERROR.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
        }
    }
}

/// Writes to stderr (`eout!`, `eoutln!`).
pub fn stderr(args: fmt::Arguments<'_>) {
    if STDERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if io::stderr().lock().write_fmt(args).is_err() {
        STDERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// The error that cut stdout short, other than a reader that went away; stdout is
/// flushed first, so an error of the last buffered bytes counts.
pub fn stdout_failure() -> Option<io::Error> {
    if !STDOUT_CLOSED.load(Ordering::Relaxed)
        && let Err(e) = io::stdout().lock().flush()
    {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Some(e);
        }
    }
    STDOUT_ERROR.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// `print!` that survives a closed stdout (see the module's doc).
macro_rules! out {
    ($($arg:tt)*) => { $crate::out::stdout(format_args!($($arg)*)) };
}

/// `println!` that survives a closed stdout (see the module's doc).
macro_rules! outln {
    () => { $crate::out::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::out::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` that survives a closed stderr (see the module's doc).
macro_rules! eout {
    ($($arg:tt)*) => { $crate::out::stderr(format_args!($($arg)*)) };
}

/// `eprintln!` that survives a closed stderr (see the module's doc).
macro_rules! eoutln {
    () => { $crate::out::stderr(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::out::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}
