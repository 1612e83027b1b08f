//! Multi-call: invoked as cgcreate, cgset, cgget, cgexec, cgclassify, cgdelete, lscgroup,
//! lssubsys, cgxget, cgxset, cgsnapshot or cgconfigparser (links
//! made by `rein compat install`), rein takes those libcgroup tools' options and prints
//! their output formats, so scripts and tutorials written for libcgroup run unchanged,
//! on cgroup v2 hosts too (v1 names are translated, see rein::compat::raw).
//!
//! Options follow libcgroup's getopt_long strings (src/tools/*.c): options and
//! operands may mix (GNU permutation) except for cgexec, which stops at the command.
//! Exit status: 0 on success; on a usage error libcgroup's status, 129 (its
//! EXIT_BADARGS), with its words ("Wrong input parameters", "no cgroup specified", ...),
//! which scripts and libcgroup's own tests look for; where libcgroup's tools return one of
//! its ECG* error numbers (include/libcgroup/error.h, from 50000) the same number modulo
//! 256 with its words (82 a missing group, 87 a controller that is none or not offered,
//! 81 a cgroup2 controller the group lacks, 91 and 93 cgcreate and cgdelete cannot add a
//! controller, 96 a system error); 125 on any other error; cgexec: the command's own
//! status, as it replaces itself with the command, 255 when it cannot run it (libcgroup's
//! "exec failed"); cgclassify: 1 when a pid could not move, 2 for an operand that is no pid; cgconfigparser:
//! libcgroup's statuses and words for a file it cannot load (rein::config::cgconfig).
//!
//! The files: this one answers to argv\[0\] (the tool names, the dispatch, the
//! placeholder process `cgcreate -c` starts) and turns a tool's error into libcgroup's
//! status and words; `options.rs` holds the option tables and their getopt, `status.rs`
//! the statuses and words, `specs.rs` the groups the tools name (`-g CONTROLLERS:PATH`);
//! then a file per family of tools: `groups.rs` (cgcreate, cgdelete), `set.rs` (cgset,
//! cgxset), `get.rs` (cgget, cgxget), `join.rs` (cgexec, cgclassify), `listings.rs`
//! (lscgroup, lssubsys), `snapshot.rs` (cgsnapshot) and `cgconfigparser.rs`.

mod cgconfigparser;
mod get;
mod groups;
mod join;
mod listings;
mod options;
mod set;
mod snapshot;
mod specs;
mod status;

use std::ffi::OsString;
use std::process::ExitCode;

use rein::Error;
use rein::compat::libcgroup;

use options::{Tool, help, without_version_flags};
use status::{EXIT_BADARGS, Printed, Usage, Verbatim};

/// The libcgroup tool names rein answers to.
pub const TOOLS: [&str; 12] = [
    "cgcreate",
    "cgset",
    "cgget",
    "cgexec",
    "cgclassify",
    "cgdelete",
    "lscgroup",
    "lssubsys",
    "cgxget",
    "cgxset",
    "cgsnapshot",
    "cgconfigparser",
];

/// Every tool, in [`TOOLS`] order.
pub const ALL: [&Tool; 12] = [
    &groups::CGCREATE,
    &set::CGSET,
    &get::CGGET,
    &join::CGEXEC,
    &join::CGCLASSIFY,
    &groups::CGDELETE,
    &listings::LSCGROUP,
    &listings::LSSUBSYS,
    &get::CGXGET,
    &set::CGXSET,
    &snapshot::CGSNAPSHOT,
    &cgconfigparser::CGCONFIGPARSER,
];

/// The tool rein was invoked as, if `argv[0]` names one.
pub fn called_as() -> Option<&'static str> {
    let argv0 = std::env::args_os().next()?;
    let base = std::path::Path::new(&argv0).file_name()?.to_str()?.to_string();
    TOOLS.iter().copied().find(|t| *t == base)
}

/// Whether rein was started as `cgcreate -c`'s placeholder process
/// ([`libcgroup::IDLE_PROCESS`] as argv\[0\]).
pub fn is_idle_placeholder() -> bool {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    std::path::Path::new(&argv0).file_name().is_some_and(|n| n == libcgroup::IDLE_PROCESS)
}

/// The placeholder's life: it holds the scope (systemd removes a scope without
/// processes) and sleeps until a signal ends it (`cgexec -r` sends SIGTERM).
pub fn idle() -> ! {
    loop {
        std::thread::park();
    }
}

/// Runs the tool with the process's arguments.
pub fn main(tool: &'static str) -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let result = match tool {
        "cgcreate" => groups::cgcreate(&args),
        "cgset" => set::cgset(&args),
        "cgget" => get::cgget(&args),
        "cgexec" => join::cgexec(&args),
        "cgclassify" => join::cgclassify(&args),
        "lscgroup" => listings::lscgroup(&args),
        // cgxget and cgxset are cgget and cgset once their version flags are read.
        "cgxget" | "cgxset" if args.iter().any(|a| a == "-h" || a == "--help") => {
            help(if tool == "cgxget" { &get::CGXGET } else { &set::CGXSET })
        }
        "cgxget" => get::cgxget(&args),
        "cgxset" => set::cgset_as(&without_version_flags(&args), true),
        "lssubsys" => listings::lssubsys(&args),
        "cgsnapshot" => snapshot::cgsnapshot(&args),
        "cgconfigparser" => cgconfigparser::cgconfigparser(&args),
        _ => groups::cgdelete(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => match e.downcast_ref::<Usage>() {
            None if e.downcast_ref::<Printed>().is_some() => {
                let p = e.downcast_ref::<Printed>().expect("checked");
                outln!("{}", p.0);
                ExitCode::from(p.1)
            }
            None if e.downcast_ref::<Verbatim>().is_some() => {
                let v = e.downcast_ref::<Verbatim>().expect("checked");
                eoutln!("{tool}: {}", v.0);
                ExitCode::from(v.1)
            }
            Some(u) => {
                if !u.0.is_empty() {
                    eoutln!("{tool}: {}", u.0);
                }
                eoutln!("Wrong input parameters, try '{tool} -h' for more information.");
                ExitCode::from(EXIT_BADARGS)
            }
            None => {
                eoutln!("{tool}: error: {}", crate::exit::message(&e));
                if let Some(h) = e.chain().find_map(|c| c.downcast_ref::<Error>()).and_then(Error::hint) {
                    eoutln!("{tool}: hint: {h}");
                }
                ExitCode::from(crate::exit::EXIT_FAILURE)
            }
        },
    }
}
