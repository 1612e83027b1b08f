//! The library's one error type, and the located mistakes of a rein.toml file
//! ([`Diagnostics`]) that one of its variants carries.
//!
//! Every error says what happened and where; [`Error::hint`] says what to do about it
//! when there is something to do. Messages are lower case without a trailing period,
//! so they compose into `rein: error: <message>` lines.

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in rein.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value given by the user (a size, a percentage, a CPU list, ...) is not valid.
    #[error("invalid {what} '{value}': {reason}")]
    InvalidValue {
        /// What the value was for, e.g. "memory limit" or "--cpu".
        what: String,
        /// The value as given.
        value: String,
        /// Why it was refused, and what is allowed.
        reason: String,
    },

    /// A group name or path is not acceptable.
    #[error("invalid group name '{name}': {reason}")]
    InvalidName {
        /// The name as given (control characters escaped).
        name: String,
        /// Why it was refused.
        reason: String,
    },

    /// The running cgroup mode cannot express a setting.
    #[error("{what} is not supported on cgroup {mode}: {reason}")]
    Unsupported {
        /// The setting, in the kernel's words.
        what: String,
        /// The hierarchy mode, e.g. "v1".
        mode: String,
        /// Why, and the closest equivalent.
        reason: String,
    },

    /// A controller needed for a setting is not available where the group lives.
    #[error("controller '{controller}' is not available under {path}")]
    ControllerUnavailable {
        /// The controller name, e.g. "memory".
        controller: String,
        /// Where it was looked for.
        path: PathBuf,
        /// What to do about it.
        hint: String,
    },

    /// A system call on a cgroup file or directory failed.
    #[error("cannot {op} {path}: {}", crate::errno::Shown(.cause))]
    Io {
        /// What rein was doing, e.g. "write '20000 100000' to".
        op: String,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error (carries the errno); part of the message, not a separate source.
        cause: io::Error,
        /// What to do, when rein can tell.
        hint: Option<String>,
    },

    /// The cgroup hierarchy could not be detected or is unusable.
    #[error("cgroup hierarchy: {0}")]
    Hierarchy(String),

    /// A group is in a state that forbids the operation (exists, populated, missing, ...).
    #[error("{message}")]
    State {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: Option<String>,
    },

    /// A kernel interface file held something rein could not parse.
    #[error("cannot parse {file}: {reason}")]
    Parse {
        /// The file (or format) being parsed.
        file: String,
        /// What was wrong.
        reason: String,
    },

    /// A service manager (systemd) refused or failed a request.
    #[error("{manager}: cannot {op}: {message}")]
    Manager {
        /// Which manager, e.g. "systemd".
        manager: String,
        /// What rein asked for, e.g. "start rein-run-42.scope".
        op: String,
        /// What the manager said (its D-Bus error name included when there is one).
        message: String,
        /// What to do, when rein can tell.
        hint: Option<String>,
    },

    /// A rein.toml file holds mistakes: every one, located (file, line, column).
    #[error("{}: {} mistake{}", .0.file.display(), .0.errors.len(), if .0.errors.len() == 1 { "" } else { "s" })]
    Config(Box<Diagnostics>),

    /// A bpf(2) call failed: loading, attaching, detaching or reading a cgroup BPF
    /// program. When the kernel's verifier refused a program, its log is kept.
    #[error("cannot {op}: {}{}", crate::errno::Shown(.cause), log.as_ref().map(|l| format!("\n{l}")).unwrap_or_default())]
    Bpf {
        /// What rein was doing, e.g. "attach the rein_devices BPF program".
        op: String,
        /// The underlying error (carries the errno).
        cause: io::Error,
        /// The verifier's log, when it refused a program.
        log: Option<String>,
        /// What to do, when rein can tell.
        hint: Option<String>,
    },

    /// A wait on someone else (a service manager's answer) was cut short on request: a
    /// signal to `rein run` while systemd had not answered yet.
    #[error("interrupted by {} while waiting for {waiting_for}", signal_name(*.signal))]
    Interrupted {
        /// The signal that asked for it, if a signal did.
        signal: Option<i32>,
        /// What rein was waiting for, e.g. "the systemd system manager to start x.scope".
        waiting_for: String,
    },

    /// Starting the command failed.
    #[error("cannot run '{program}': {}", crate::errno::Shown(.cause))]
    Spawn {
        /// The program as given.
        program: String,
        /// The underlying error; part of the message, not a separate source.
        cause: io::Error,
    },
}

impl Error {
    /// What the user can do about this error, when there is an obvious step.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::ControllerUnavailable { hint, .. } => Some(hint),
            Error::Io { hint, .. }
            | Error::State { hint, .. }
            | Error::Manager { hint, .. }
            | Error::Bpf { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }

    /// The signal that cut a wait short ([`Error::Interrupted`]), if one did: `rein` then
    /// exits with 128 + that number, as if the signal had ended it.
    pub fn interrupted_by(&self) -> Option<i32> {
        match self {
            Error::Interrupted { signal, .. } => *signal,
            _ => None,
        }
    }

    /// The OS error number behind this error, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { cause, .. } | Error::Spawn { cause, .. } | Error::Bpf { cause, .. } => cause.raw_os_error(),
            _ => None,
        }
    }

    /// An [`Error::InvalidValue`]; the value is escaped so it cannot forge output lines.
    pub fn invalid(what: impl Into<String>, value: impl AsRef<str>, reason: impl Into<String>) -> Self {
        Error::InvalidValue { what: what.into(), value: escape(value.as_ref()), reason: reason.into() }
    }

    /// An [`Error::State`].
    pub fn state(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::State { message: message.into(), hint }
    }

    pub(crate) fn parse(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Parse { file: file.into(), reason: reason.into() }
    }
}

/// "SIGINT" for the signals `rein run` handles, "signal N" for others, "a request" for none.
fn signal_name(signal: Option<i32>) -> String {
    match signal {
        Some(libc::SIGINT) => "SIGINT".into(),
        Some(libc::SIGTERM) => "SIGTERM".into(),
        Some(libc::SIGHUP) => "SIGHUP".into(),
        Some(libc::SIGQUIT) => "SIGQUIT".into(),
        Some(n) => format!("signal {n}"),
        None => "a request".into(),
    }
}

/// Escape control characters so that a hostile value cannot forge output lines.
pub(crate) fn escape(s: &str) -> String {
    const MAX: usize = 120;
    let mut out = String::new();
    for c in s.chars().take(MAX) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if s.chars().count() > MAX {
        out.push_str("...");
    }
    out
}

/// One located mistake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file as given.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The key path it is about (`groups.db.memory`); empty for syntax errors.
    pub key: String,
    /// What is wrong, and what is allowed.
    pub message: String,
    /// The source line.
    #[serde(skip)]
    pub source_line: String,
    /// How many characters the caret underlines.
    #[serde(skip)]
    pub width: usize,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:{}:{}: error: {}", self.file.display(), self.line, self.column, self.message)?;
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        writeln!(f, "{pad} |")?;
        writeln!(f, "{num} | {}", self.source_line)?;
        let indent: String =
            self.source_line.chars().take(self.column - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        writeln!(f, "{pad} | {indent}{}", "^".repeat(self.width.max(1)))
    }
}

/// Every mistake of a file, in the order of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostics {
    /// The file as given.
    pub file: PathBuf,
    /// The mistakes.
    pub errors: Vec<Diagnostic>,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.errors {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}
