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

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use rein::compat::cgconfig::{Id, Perm};
use rein::compat::libcgroup::{self, Controllers, GroupSpec};
use rein::compat::raw::{self, Home};
use rein::lifecycle::{self, Change};
use rein::mark::Mark;
use rein::plan::{Place, Plan};
use rein::procfs::ProcTable;
use rein::{Controller, Error, Group, GroupPath, Hierarchy, Spec};

use crate::cmd::host::{current_reader, detect_at, host, places_for, spec_controllers};

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
        "cgcreate" => cgcreate(&args),
        "cgset" => cgset(&args),
        "cgget" => cgget(&args),
        "cgexec" => cgexec(&args),
        "cgclassify" => cgclassify(&args),
        "lscgroup" => lscgroup(&args),
        // cgxget and cgxset are cgget and cgset once their version flags are read.
        "cgxget" | "cgxset" if args.iter().any(|a| a == "-h" || a == "--help") => {
            help(if tool == "cgxget" { &CGXGET } else { &CGXSET })
        }
        "cgxget" => cgxget(&args),
        "cgxset" => cgset_as(&without_version_flags(&args), true),
        "lssubsys" => lssubsys(&args),
        "cgsnapshot" => cgsnapshot(&args),
        "cgconfigparser" => cgconfigparser(&args),
        _ => cgdelete(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => match e.downcast_ref::<Usage>() {
            None if e.downcast_ref::<Verbatim>().is_some() => {
                let v = e.downcast_ref::<Verbatim>().expect("checked");
                eprintln!("{tool}: {}", v.0);
                ExitCode::from(v.1)
            }
            Some(u) => {
                if !u.0.is_empty() {
                    eprintln!("{tool}: {}", u.0);
                }
                eprintln!("Wrong input parameters, try '{tool} -h' for more information.");
                ExitCode::from(EXIT_BADARGS)
            }
            None => {
                eprintln!("{tool}: error: {e:#}");
                if let Some(h) = e.chain().find_map(|c| c.downcast_ref::<Error>()).and_then(Error::hint) {
                    eprintln!("{tool}: hint: {h}");
                }
                ExitCode::from(crate::exit::EXIT_FAILURE)
            }
        },
    }
}

/// libcgroup's exit status for a usage error (src/tools/tools-common.h).
pub const EXIT_BADARGS: u8 = 129;

/// A usage error (exit [`EXIT_BADARGS`]).
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// An error libcgroup's tools report in these words with this status (scripts and
/// libcgroup's tests match them): printed as "TOOL: MESSAGE".
#[derive(Debug)]
struct Verbatim(String, u8);

impl std::fmt::Display for Verbatim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Verbatim {}

/// The status libcgroup's tools exit with for a group or controller that does not exist
/// (its ECG* error number modulo 256, as measured with cgdelete of a missing group and
/// cgget of an unknown controller).
const EXIT_NO_GROUP: u8 = ECGOTHER;

fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(msg.into()))
}

/// One option a tool takes: its short letter (or a private code for long-only ones),
/// long names, the value it takes (none for a flag) and its help line. The tables are the
/// one source of the tools' `-h` texts, of their man pages and of the options getopt
/// accepts.
struct Opt {
    id: char,
    long: &'static [&'static str],
    value: Option<&'static str>,
    help: &'static str,
}

impl Opt {
    fn arg(&self) -> bool {
        self.value.is_some()
    }

    /// `-r, --variable <name>` as the help and the man page show it.
    fn flags(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        if self.id.is_ascii_alphanumeric() {
            names.push(format!("-{}", self.id));
        }
        names.extend(self.long.iter().map(|l| format!("--{l}")));
        let mut out = names.join(", ");
        if let Some(v) = self.value {
            out.push(' ');
            out.push_str(v);
        }
        out
    }
}

/// An option without a value.
const fn flag(id: char, long: &'static [&'static str], help: &'static str) -> Opt {
    Opt { id, long, value: None, help }
}

/// An option with a value (`<name>`, as libcgroup's help writes it).
const fn takes(id: char, long: &'static [&'static str], value: &'static str, help: &'static str) -> Opt {
    Opt { id, long, value: Some(value), help }
}

/// A tool rein answers to: its usage lines, what it does, its options and operands.
pub struct Tool {
    /// The name (`argv[0]`).
    pub name: &'static str,
    usage: &'static [&'static str],
    about: &'static str,
    opts: &'static [Opt],
    /// The operands: a name and its help (a name ending in `...` takes many).
    operands: &'static [(&'static str, &'static str)],
    /// getopt's `+`: options end at the first operand (cgexec's command).
    stop_at_operand: bool,
    /// The tool whose options follow these, and whose operands these are when there are
    /// none (cgxget is cgget with `-1`/`-2`/`-i`).
    base: Option<&'static Tool>,
}

impl Tool {
    /// Its options, the base tool's included.
    fn all_opts(&self) -> impl Iterator<Item = &Opt> {
        self.opts.iter().chain(self.base.into_iter().flat_map(|b| b.opts.iter()))
    }

    /// Its operands, or the base tool's.
    fn operands(&self) -> &'static [(&'static str, &'static str)] {
        match (self.operands, self.base) {
            ([], Some(b)) => b.operands,
            (own, _) => own,
        }
    }

    /// The `-h` text: the usage lines, what it does, one line per option.
    fn help(&self) -> String {
        let mut out = String::new();
        for (i, u) in self.usage.iter().enumerate() {
            out.push_str(if i == 0 { "Usage: " } else { "   or: " });
            out.push_str(u);
            out.push('\n');
        }
        out.push_str(self.about);
        out.push('\n');
        let width = self.all_opts().map(|o| o.flags().len()).max().unwrap_or(0);
        for o in self.all_opts() {
            out.push_str(&format!("  {:<width$}  {}\n", o.flags(), o.help));
        }
        out
    }

    /// The tool's options as a clap command, for its man page (`rein man`); rein parses
    /// them with [`getopt`], as libcgroup does.
    pub fn command(&self) -> clap::Command {
        use clap::{Arg, ArgAction};
        let mut cmd = clap::Command::new(self.name)
            .about(self.about)
            .override_usage(self.usage.join("\n       "))
            .disable_help_flag(true)
            .disable_version_flag(true)
            .after_help(
                "rein answers to this name when it is installed under it ('rein compat install DIR'). Exit status: \
                 0 on success, 129 on a usage error (libcgroup's, with its words); libcgroup's error numbers \
                 modulo 256 where its tools return them (82 a missing group, 87 a controller that is none or \
                 not offered, 81 a cgroup2 controller the group lacks, 91/93 a controller cgcreate/cgdelete \
                 cannot add, 96 a missing group or controller for cgget, cgdelete and lscgroup, or a system \
                 error); 125 on other errors. cgexec: the command's own status, 255 when it cannot be run; \
                 cgclassify: 1 when a pid could not move, 2 for an operand that is no pid; cgconfigparser: \
                 104 for a file that does not parse or names a controller the host lacks, 96 for a value refused \
                 or a file that cannot be read, 101 for a mount block that is not the host's, 255 for a bad -a, -t \
                 or mode.",
            );
        for o in self.all_opts() {
            let id = o.long.first().map(|l| l.to_string()).unwrap_or_else(|| o.id.to_string());
            let mut a = Arg::new(id).help(o.help);
            if o.id.is_ascii_alphanumeric() {
                a = a.short(o.id);
            }
            if let Some((first, rest)) = o.long.split_first() {
                a = a.long(*first).visible_aliases(rest.iter().copied());
            }
            a = match o.value {
                // clap writes the brackets itself: `<controllers>:<path>` stays as written.
                Some(v) => a.value_name(v.trim_start_matches('<').trim_end_matches('>')).action(ArgAction::Append),
                None => a.action(ArgAction::SetTrue),
            };
            cmd = cmd.arg(a);
        }
        for (name, help) in self.operands() {
            let many = name.ends_with("...");
            let a = Arg::new(name.trim_end_matches("...").trim().to_string())
                .help(*help)
                .num_args(if many { 1..=usize::MAX } else { 1..=1 })
                .trailing_var_arg(self.stop_at_operand)
                .action(ArgAction::Append);
            cmd = cmd.arg(a);
        }
        cmd
    }
}

/// Every tool, in [`TOOLS`] order.
pub const ALL: [&Tool; 12] = [
    &CGCREATE,
    &CGSET,
    &CGGET,
    &CGEXEC,
    &CGCLASSIFY,
    &CGDELETE,
    &LSCGROUP,
    &LSSUBSYS,
    &CGXGET,
    &CGXSET,
    &CGSNAPSHOT,
    &CGCONFIGPARSER,
];

/// Long-only option codes.
const COPY_FROM: char = '\u{1}';
const CANCEL_STICKY: char = '\u{2}';

enum Item {
    Opt(char, Option<String>),
    Arg(OsString),
}

/// getopt_long: `-abc` clusters, `-rVALUE` / `-r VALUE`, `--long=V` / `--long V`, unique
/// prefixes of long names, `--` ends options. `stop_at_operand` is getopt's `+` (cgexec).
fn getopt(args: &[OsString], opts: &[Opt], stop_at_operand: bool) -> anyhow::Result<Vec<Item>> {
    let mut out = Vec::new();
    let mut i = 0;
    let text = |a: &OsString| a.to_str().map(str::to_string).ok_or_else(|| usage("options must be UTF-8"));
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let bytes = a.as_bytes();
        if bytes == b"--" {
            out.extend(args[i..].iter().cloned().map(Item::Arg));
            break;
        }
        if bytes.starts_with(b"--") {
            let s = text(a)?;
            let body = &s[2..];
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let exact = opts.iter().find(|o| o.long.contains(&name));
            let matches: Vec<&Opt> = opts.iter().filter(|o| o.long.iter().any(|l| l.starts_with(name))).collect();
            let o = match (exact, matches.as_slice()) {
                (Some(o), _) => o,
                (None, [o]) => *o,
                (None, []) => return Err(usage(format!("unrecognized option '--{name}'"))),
                (None, _) => return Err(usage(format!("option '--{name}' is ambiguous"))),
            };
            let value = if o.arg() {
                match inline {
                    Some(v) => Some(v),
                    None if i < args.len() => {
                        i += 1;
                        Some(text(&args[i - 1])?)
                    }
                    None => return Err(usage(format!("option '--{name}' requires an argument"))),
                }
            } else if inline.is_some() {
                return Err(usage(format!("option '--{name}' doesn't allow an argument")));
            } else {
                None
            };
            out.push(Item::Opt(o.id, value));
            continue;
        }
        if bytes.len() > 1 && bytes[0] == b'-' {
            let s = text(a)?;
            for (pos, c) in s[1..].char_indices() {
                let o = opts
                    .iter()
                    .find(|o| o.id == c && c.is_ascii_alphanumeric())
                    .ok_or_else(|| usage(format!("invalid option -- '{c}'")))?;
                if o.arg() {
                    let rest = &s[1 + pos + c.len_utf8()..];
                    let value = if !rest.is_empty() {
                        rest.to_string()
                    } else if i < args.len() {
                        i += 1;
                        text(&args[i - 1])?
                    } else {
                        return Err(usage(format!("option requires an argument -- '{c}'")));
                    };
                    out.push(Item::Opt(c, Some(value)));
                    break;
                }
                out.push(Item::Opt(c, None));
            }
            continue;
        }
        out.push(Item::Arg(a.clone()));
        if stop_at_operand {
            out.extend(args[i..].iter().cloned().map(Item::Arg));
            break;
        }
    }
    Ok(out)
}

/// cgxget and cgxset are cgget and cgset whose `-1`/`-2` say which cgroup version the
/// names are in, and `-i` to skip names without an equivalent. rein's cgget and cgset
/// take either version's names on every host and translate them (rein::compat::raw), so
/// the names say it already: the flags are accepted and dropped.
fn without_version_flags(args: &[OsString]) -> Vec<OsString> {
    let flag = |a: &OsString| match a.to_str() {
        Some("--v1" | "--v2" | "--ignore-unmappable") => true,
        Some(s) => {
            s.len() > 1
                && s.starts_with('-')
                && !s.starts_with("--")
                && s[1..].chars().all(|c| matches!(c, '1' | '2' | 'i'))
        }
        None => false,
    };
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        // "--" ends the options; a value of -r is never a bare "-1".
        if a == "--" {
            out.extend(args[i..].iter().cloned());
            break;
        }
        if !flag(a) {
            out.push(a.clone());
        }
    }
    out
}

fn hierarchy() -> anyhow::Result<Arc<Hierarchy>> {
    let root = std::env::var_os("REIN_CGROUP_ROOT").map(std::path::PathBuf::from);
    Ok(Arc::new(detect_at(root.as_deref())?))
}

fn help(tool: &Tool) -> anyhow::Result<ExitCode> {
    print!("{}", tool.help());
    Ok(ExitCode::SUCCESS)
}

fn operand_text(a: &OsString) -> anyhow::Result<String> {
    a.to_str().map(str::to_string).ok_or_else(|| usage("group names must be UTF-8"))
}

/// Groups named more than once (`-g cpu:a -g memory:a`) merge their controllers.
fn merge_specs(specs: Vec<GroupSpec>) -> Vec<GroupSpec> {
    let mut out: Vec<GroupSpec> = Vec::new();
    for s in specs {
        match out.iter_mut().find(|o| o.path == s.path) {
            Some(o) => {
                o.controllers = match (&o.controllers, s.controllers) {
                    (Controllers::All, _) | (_, Controllers::All) => Controllers::All,
                    (Controllers::Named(a), Controllers::Named(b)) => {
                        let mut v = a.clone();
                        v.extend(b.into_iter().filter(|n| !a.contains(n)));
                        Controllers::Named(v)
                    }
                };
            }
            None => out.push(s),
        }
    }
    out
}

/// libcgroup's default scope (`cgcreate -c -S`, [`libcgroup::SYSTEMD_DEFAULT_FILE`]),
/// under which the tools place paths that do not start with `/`: None with `-b`, without
/// the file, or once the scope is gone (as libcgroup, which checks that it exists).
fn default_scope(items: &[Item]) -> Option<GroupPath> {
    if items.iter().any(|i| matches!(i, Item::Opt('b', _))) {
        return None;
    }
    let text = std::fs::read_to_string(libcgroup::SYSTEMD_DEFAULT_FILE).ok()?;
    // libcgroup's own floor: "<n>.slice/<n>.scope" is 15 bytes at least.
    let text = text.trim();
    if text.len() < 15 {
        return None;
    }
    let path = GroupPath::parse(text).ok()?;
    hierarchy().ok()?.unified()?.mount.exists(&path).then_some(path)
}

/// A `-g CONTROLLERS:PATH` of a tool, its path under the default scope if there is one.
fn tool_spec(s: &str, default: Option<&GroupPath>) -> rein::Result<GroupSpec> {
    match (default, s.split_once(':')) {
        (Some(_), Some((c, p))) => libcgroup::parse_tool_spec(&format!("{c}:{}", libcgroup::under_default(p, default))),
        _ => libcgroup::parse_tool_spec(s),
    }
}

const CGCREATE: Tool = Tool {
    name: "cgcreate",
    usage: &[
        "cgcreate [-h] [-f mode] [-d mode] [-s mode] [-t <tuid>:<tgid>] [-a <agid>:<auid>] [-b] [-c [-S] [-p <pid>]] -g <controllers>:<path> [-g ...]",
    ],
    about: "Create control group(s) (rein's libcgroup compatibility)",
    opts: &[
        takes('a', &[], "<agid>:<auid>", "not supported: rein does not change owners or modes"),
        takes('t', &[], "<tuid>:<tgid>", "not supported: rein does not change owners or modes"),
        takes('d', &["dperm"], "<mode>", "not supported: rein does not change owners or modes"),
        takes('f', &["fperm"], "<mode>", "not supported: rein does not change owners or modes"),
        takes('s', &["tperm"], "<mode>", "not supported: rein does not change owners or modes"),
        takes('g', &[], "<controllers>:<path>", "Control group which should be added"),
        flag('h', &["help"], "Display this help"),
        flag('b', &[], "Ignore the default systemd delegated hierarchy (a scope 'cgcreate -c -S' made the default)"),
        flag('c', &["scope"], "Create a delegated systemd scope (-g <controllers>:<slice>/<scope>; systemd as PID 1)"),
        takes('p', &["pid"], "<pid>", "Task pid to use to create the systemd scope"),
        flag('S', &["setdefault"], "Set this scope as the default scope delegate hierarchy"),
    ],
    operands: &[],
    stop_at_operand: false,
    base: None,
};

fn cgcreate(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut raw_specs = Vec::new();
    let (mut scope, mut set_default, mut scope_pid) = (false, false, None);
    let items = getopt(args, CGCREATE.opts, false)?;
    let default = default_scope(&items);
    let ignore_default = items.iter().any(|i| matches!(i, Item::Opt('b', _)));
    for item in items {
        match item {
            Item::Opt('h', _) => return help(&CGCREATE),
            Item::Opt('g', Some(v)) => raw_specs.push(v),
            Item::Opt('b', _) => {}
            Item::Opt('c', _) => scope = true,
            Item::Opt('S', _) => set_default = true,
            Item::Opt('p', Some(v)) => match v.parse::<u32>() {
                Ok(p) if p > 0 => scope_pid = Some(p),
                _ => bail!(Verbatim(format!("Invalid pid {v}"), EXIT_BADARGS)),
            },
            Item::Opt(c, _) => bail!(Error::Unsupported {
                what: format!("cgcreate -{c}"),
                mode: "rein".into(),
                reason: "rein's compatibility mode does not change owners or modes of group files; \
                         chown or chmod the group directory after creating it (or delegate a subtree)"
                    .into(),
            }),
            Item::Arg(a) => {
                return Err(usage(format!("unexpected operand '{}'; groups are given with -g", a.to_string_lossy())));
            }
        }
    }
    // libcgroup's checks of the systemd options, its words, its status (EXIT_BADARGS).
    let exclusive = [
        (ignore_default && scope, "\"-b\" and \"-c\" are mutually exclusive"),
        (set_default && !scope, "\"-S\" requires \"-c\" to be provided"),
        (scope_pid.is_some() && !scope, "\"-p\" requires \"-c\" to be provided"),
    ];
    if let Some((_, words)) = exclusive.iter().find(|(bad, _)| *bad) {
        bail!(Verbatim(words.to_string(), EXIT_BADARGS));
    }
    if raw_specs.is_empty() {
        return Err(usage("no group given: cgcreate -g <controllers>:<path>"));
    }
    if scope {
        return cgcreate_scopes(&raw_specs, set_default, scope_pid);
    }
    let specs = raw_specs.iter().map(|v| tool_spec(v, default.as_ref())).collect::<rein::Result<Vec<GroupSpec>>>()?;
    let h = hierarchy()?;
    // libcgroup's words and status for a controller it cannot add, before any group is made.
    for s in &specs {
        if let Some((name, e)) = bad_controller(&s.controllers, &h) {
            bail!(Verbatim(format!("controller {name} can't be added ({e})"), ECGINVAL));
        }
    }
    let mut created: Vec<GroupPath> = Vec::new();
    for s in merge_specs(specs) {
        let r = create_one(&h, &s).map_err(|e| {
            anyhow::Error::new(Verbatim(format!("can't create cgroup {}: {e:#}", s.path.as_str()), ECGOTHER))
        });
        match r {
            Ok(true) => created.push(s.path.clone()),
            Ok(false) => {}
            Err(e) => {
                // The groups this run created go again: nothing half-made stays.
                for p in created.iter().rev() {
                    if let Ok(g) = Group::open(h.clone(), p) {
                        let _ = g.remove();
                    }
                }
                return Err(e);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cgcreate -c`: each group a systemd scope, as libcgroup 3 makes them
/// (src/systemd.c): `-g CONTROLLERS:SLICE/SCOPE`, StartTransientUnit of SCOPE in SLICE
/// with `Delegate=yes`, holding the process `-p` names or else a placeholder process
/// ([`libcgroup::IDLE_PROCESS`]; systemd removes a scope without processes), then the
/// controllers enabled down to it as for any group. `-S` records the scope as the
/// default under which the tools place relative paths ([`libcgroup::SYSTEMD_DEFAULT_FILE`]).
/// Needs systemd as PID 1.
fn cgcreate_scopes(raw_specs: &[String], set_default: bool, pid: Option<u32>) -> anyhow::Result<ExitCode> {
    use rein_systemd::properties::{Property, Value};
    use rein_systemd::{Bus, DbusBus, Instance};
    // libcgroup's checks of the name come first, in its words (ECGINVAL).
    let mut scopes = Vec::new();
    for v in raw_specs {
        let (list, path) = v.split_once(':').unwrap_or(("", v.as_str()));
        let (slice, unit) = libcgroup::scope_units(path).map_err(|words| Verbatim(words, ECGINVAL))?;
        let spec = libcgroup::parse_tool_spec(&format!("{list}:{path}"))?;
        scopes.push((slice, unit, spec));
    }
    if !rein_systemd::systemd_booted() {
        bail!(Verbatim(
            "can't create a systemd scope: systemd is not PID 1 here (this system was not booted with systemd); \
             create the group without -c"
                .into(),
            ECGFAIL
        ));
    }
    let h = hierarchy()?;
    if h.unified().is_none() {
        bail!(Verbatim("can't create a systemd scope: this host has no cgroup2 hierarchy".into(), ECGFAIL));
    }
    let bus = DbusBus::connect(Instance::System)
        .map_err(|e| Verbatim(format!("can't create a systemd scope: {e}"), ECGFAIL))?;
    for (slice, unit, spec) in &scopes {
        // The placeholder: rein itself under libcgroup's name, asleep until killed, its
        // output closed so that whoever reads cgcreate's does not wait for it.
        let idle = match pid {
            Some(_) => None,
            None => {
                use std::os::unix::process::CommandExt;
                let me = std::env::current_exe().context("cannot find rein's own executable")?;
                let child = std::process::Command::new(me)
                    .arg0(libcgroup::IDLE_PROCESS)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .context("cannot start the scope's placeholder process")?;
                Some(child)
            }
        };
        let held = pid.or(idle.as_ref().map(|c| c.id())).expect("a pid or the placeholder's");
        let properties = [
            Property::new("Description", Value::Str("scope created by libcgroup".into())),
            Property::new("PIDs", Value::Pids(vec![held])),
            Property::new("Slice", Value::Str(slice.clone())),
            Property::new("Delegate", Value::Bool(true)),
        ];
        if let Err(e) = bus.start_transient(unit, &properties, &[]) {
            if let Some(mut c) = idle {
                let _ = c.kill();
                let _ = c.wait();
            }
            bail!(Verbatim(format!("can't create cgroup {slice}/{unit}: {}", e.error), ECGFAIL));
        }
        // The controllers named, enabled down to the scope (libcgroup's cgroup_create_cgroup).
        create_one(&h, spec).map_err(|e| Verbatim(format!("can't create cgroup {slice}/{unit}: {e:#}"), ECGOTHER))?;
        if set_default {
            let dir = std::path::Path::new(libcgroup::SYSTEMD_DEFAULT_FILE).parent().expect("a directory");
            std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::write(libcgroup::SYSTEMD_DEFAULT_FILE, format!("{slice}/{unit}")))
                .map_err(|e| {
                    Verbatim(
                        format!("failed to write default {slice}/{unit} to {}: {e}", libcgroup::SYSTEMD_DEFAULT_FILE),
                        ECGINVAL,
                    )
                })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates a group, or (as libcgroup does for an existing one) gives it the missing
/// controllers. Returns whether it was created.
fn create_one(h: &Arc<Hierarchy>, s: &GroupSpec) -> anyhow::Result<bool> {
    let accounting = spec_controllers(h, std::slice::from_ref(s))?;
    let change = Change { spec: Spec { accounting, ..Spec::default() }, raw: Vec::new() };
    match Group::open(h.clone(), &s.path) {
        Ok(g) => {
            let _lock = g.lock()?;
            lifecycle::plan_set(&g, &change)?.execute(h)?;
            Ok(false)
        }
        Err(_) => {
            lifecycle::create(h.clone(), &s.path, &change, Mark::Named)?;
            Ok(true)
        }
    }
}

const CGSET: Tool = Tool {
    name: "cgset",
    usage: &[
        "cgset [-R] [-r <name=value>] <cgroup_path> ...",
        "cgset --copy-from <source_cgroup_path> <cgroup_path> ...",
    ],
    about: "Set the parameters of given cgroup(s) (rein's libcgroup compatibility: v1 names work on v2 and v2 names on v1)",
    opts: &[
        takes('r', &["variable", "rule"], "<name=value>", "Define parameter to set"),
        flag('R', &["recursive"], "Set it in the group and every group below it"),
        flag('b', &[], "Ignore the default systemd delegated hierarchy (a scope 'cgcreate -c -S' made the default)"),
        takes(COPY_FROM, &["copy-from"], "<source_cgroup_path>", "Control group whose parameters will be copied"),
        flag('h', &["help"], "Display this help"),
    ],
    operands: &[("cgroup_path...", "The groups to set")],
    stop_at_operand: false,
    base: None,
};

/// Files of the cgroup2 core that cgset writes as they are, like libcgroup (not limits:
/// a thread to move, controllers to enable for the children); the kernel's refusal is
/// reported with its reason.
const PASS_THROUGH: [&str; 2] = ["cgroup.threads", ROOT_FILE];

/// The one file cgset writes in the cgroup root: which controllers its children get.
const ROOT_FILE: &str = "cgroup.subtree_control";

fn cgset(args: &[OsString]) -> anyhow::Result<ExitCode> {
    cgset_as(args, false)
}

/// cgset, or cgxset (`cgx`: libcgroup's pairing of names where it differs from rein's,
/// rein::compat::libcgroup::cgx_setting).
fn cgset_as(args: &[OsString], cgx: bool) -> anyhow::Result<ExitCode> {
    if args.is_empty() {
        return Err(usage("Usage is cgset -r <name=value> <relative path to cgroup>"));
    }
    let mut settings = Vec::new();
    let mut copy_from = None;
    let mut groups = Vec::new();
    let mut recursive = false;
    let items = getopt(args, CGSET.opts, false)?;
    let default = default_scope(&items);
    for item in items {
        match item {
            Item::Opt('h', _) => return help(&CGSET),
            Item::Opt('R', _) => recursive = true,
            // libcgroup 3: paths start at the root, not at the default scope (default_scope).
            Item::Opt('b', _) => {}
            Item::Opt('r', Some(v)) if v.split_once('=').is_none_or(|(n, val)| n.is_empty() || val.is_empty()) => {
                return Err(usage(format!("wrong parameter of option -r: {v}")));
            }
            Item::Opt('r', Some(v)) => settings.push(raw::parse_setting(&v)?),
            Item::Opt(COPY_FROM, Some(v)) => {
                copy_from = Some(libcgroup::resolve_group(&libcgroup::under_default(&v, default.as_ref()))?)
            }
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => groups.push(operand_text(&a)?),
        }
    }
    if settings.is_empty() && copy_from.is_none() {
        return Err(usage("no name-value pair was set"));
    }
    if !settings.is_empty() && copy_from.is_some() {
        return Err(usage("-r and --copy-from exclude each other"));
    }
    if groups.is_empty() {
        return Err(usage("no cgroup specified"));
    }
    let h = hierarchy()?;
    // libcgroup's paths: '.' and '..' resolved on the text, inside the hierarchy. The
    // root ('/', '090cgxset/../' in libcgroup's tests) takes one file only, the cgroup2
    // controllers its children may use, never -R: rein changes no limit of the root.
    let root_ok =
        h.unified().is_some() && !recursive && !settings.is_empty() && settings.iter().all(|(n, _)| n == ROOT_FILE);
    let mut root = false;
    let groups = {
        let mut paths = Vec::new();
        for g in &groups {
            match GroupPath::parse_resolving(&libcgroup::under_default(g, default.as_ref()))? {
                p if p.is_root() && root_ok => root = true,
                p if p.is_root() => {
                    return Err(anyhow::Error::new(libcgroup::resolve_group(g).expect_err("the root is refused"))
                        .context(format!("cgset writes only {ROOT_FILE} in the cgroup root (cgroup2, without -R)")));
                }
                p => paths.push(p),
            }
        }
        paths
    };
    let settings: Vec<(String, String)> = match cgx {
        true => settings
            .into_iter()
            .map(|(n, v)| libcgroup::cgx_setting(&n, &v, &host(&h)).map(|(n, v)| (n.to_string(), v)).unwrap_or((n, v)))
            .collect(),
        false => settings,
    };
    let (pass, settings): (Vec<_>, Vec<_>) = match h.unified() {
        Some(_) => settings.into_iter().partition(|(n, _)| PASS_THROUGH.contains(&n.as_str())),
        None => (Vec::new(), settings),
    };
    let copied = match &copy_from {
        Some(src) => {
            let g = Group::open(h.clone(), src)?;
            let mut r = rein::inspect::inspect(&g, &ProcTable::default())?.limits;
            // The limits, not the state: a frozen source does not freeze the copies.
            r.freeze = None;
            Some(r)
        }
        None => None,
    };
    // -R: each group and every group below it, parents first.
    let mut targets: Vec<(GroupPath, bool)> = Vec::new();
    for path in &groups {
        let group = Group::open(h.clone(), path)?;
        let mut stack = vec![(path.clone(), group)];
        while let Some((p, g)) = stack.pop() {
            let children = if recursive { g.children()? } else { Vec::new() };
            targets.push((p.clone(), !children.is_empty()));
            for c in children.iter().rev() {
                let cp = p.join(c)?;
                stack.push((cp.clone(), Group::open(h.clone(), &cp)?));
            }
        }
    }
    // Every group's change lock (rein::lock), all at once in the lock order (by path), so
    // that two cgsets naming the same groups in another order cannot wait for each other;
    // then one plan for every group: a refusal anywhere changes nothing anywhere.
    let opened = targets.iter().map(|(p, _)| Group::open(h.clone(), p)).collect::<rein::Result<Vec<Group>>>()?;
    let locks = rein::group::lock_groups(&opened, rein::lock::LOCK_TIMEOUT)?;
    if !settings.is_empty() || copied.is_some() {
        let mut plan = Plan::new();
        for (path, group) in targets.iter().map(|(p, _)| p).zip(&opened) {
            let change = match &copied {
                Some(r) => Change { spec: Spec { resources: r.clone(), ..Spec::default() }, raw: Vec::new() },
                None => {
                    let t =
                        raw::translate_values(&settings, &host(&h), &current_reader(&h, path), raw::Values::AsKernel)?;
                    Change { spec: Spec { resources: t.resources, ..Spec::default() }, raw: t.raw }
                }
            };
            plan.extend(lifecycle::plan_set(group, &change)?);
        }
        plan.execute(&h)?;
    }
    if let Some(src) = &copy_from {
        let src = Group::open(h.clone(), src)?;
        for (path, _) in &targets {
            copy_unmodelled(&h, &src, path)?;
        }
    }
    if let Some(u) = h.unified().filter(|_| root) {
        for (name, value) in &pass {
            u.mount
                .write(&GroupPath::root(), name, value)
                .with_context(|| format!("cannot set {name}={value} in the cgroup root"))?;
        }
    }
    if let Some(u) = h.unified() {
        for (name, value) in &pass {
            // As libcgroup: -R enables top down and disables bottom up, and leaves the
            // subtree_control of groups without children alone.
            let mut order: Vec<&(GroupPath, bool)> = targets.iter().collect();
            if value.starts_with('-') {
                order.reverse();
            }
            for (path, has_children) in order {
                if recursive && name == "cgroup.subtree_control" && !has_children && groups.iter().all(|g| g != path) {
                    continue;
                }
                u.mount
                    .write(path, name, value)
                    .with_context(|| format!("cannot set {name}={value} in group '{}'", path.as_str()))?;
            }
        }
    }
    drop(locks);
    Ok(ExitCode::SUCCESS)
}

/// `cgset --copy-from`, the rest of it: libcgroup copies every setting of the source's
/// controllers, and rein's model (copied above) does not hold them all
/// (memory.swappiness, ...). Every writable one-line controller file of the source whose
/// value differs in `dst` is written there, in the hierarchy it is in.
fn copy_unmodelled(h: &Hierarchy, src: &Group, dst: &GroupPath) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for node in src.nodes() {
        let m = node.place.mount(h);
        if !m.exists(dst) {
            continue;
        }
        let mut files = m.files(src.path())?;
        files.sort();
        for f in files {
            // Controller files only: not cgroup.*, tasks, notify_on_release, release_agent.
            match f.split_once('.') {
                Some((prefix, _)) if prefix != "cgroup" => {}
                _ => continue,
            }
            let writable =
                std::fs::metadata(m.file_path(src.path(), &f)).is_ok_and(|md| md.permissions().mode() & 0o200 != 0);
            let Ok(value) = m.read(src.path(), &f) else { continue };
            let value = value.trim_end();
            if !writable || value.is_empty() || value.contains('\n') {
                continue;
            }
            if m.read(dst, &f).is_ok_and(|now| now.trim_end() == value) {
                continue;
            }
            m.write(dst, &f, value).with_context(|| format!("cannot copy {f}={value} to group '{}'", dst.as_str()))?;
        }
    }
    Ok(())
}

const CGGET: Tool = Tool {
    name: "cgget",
    usage: &[
        "cgget [-nv] [-r <name>] [-g <controllers>] [-a] <path> ...",
        "cgget [-nv] [-r <name>] -g <controllers>:<path> ...",
    ],
    about: "Print parameter(s) of given group(s) (rein's libcgroup compatibility: v1 names are read from v2 files and the other way round)",
    opts: &[
        takes('r', &["variable"], "<name>", "Define parameter to display"),
        flag('h', &["help"], "Display this help"),
        flag('a', &["all"], "Print info about all relevant controllers"),
        flag('v', &["values-only"], "Print only values, not parameter names"),
        flag('n', &[], "Do not print headers"),
        takes(
            'g',
            &[],
            "<controllers[:path]>",
            "Controllers whose info should be displayed (with :path, of that group)",
        ),
        flag('b', &[], "Ignore the default systemd delegated hierarchy (a scope 'cgcreate -c -S' made the default)"),
    ],
    operands: &[("path...", "The groups to print")],
    stop_at_operand: false,
    base: None,
};

/// The flags cgxget and cgxset add: the version the names are in.
const VERSION_FLAGS: &[Opt] = &[
    flag('1', &["v1"], "The names are cgroup v1's"),
    flag('2', &["v2"], "The names are cgroup v2's"),
    flag('i', &["ignore-unmappable"], "Leave out names without an equivalent in the running version"),
];

/// cgxget: cgget's options, with the version the names are in.
const CGXGET: Tool = Tool {
    name: "cgxget",
    usage: &[
        "cgxget [-12inv] [-r <name>] [-g <controllers>] [-a] <path> ...",
        "cgxget [-12inv] [-r <name>] -g <controllers>:<path> ...",
    ],
    about: "Print parameter(s) of given group(s), the names in a given cgroup version (rein's libcgroup compatibility)",
    opts: VERSION_FLAGS,
    operands: &[],
    stop_at_operand: false,
    base: Some(&CGGET),
};

/// cgxset: cgset's options, with the version the names are in.
const CGXSET: Tool = Tool {
    name: "cgxset",
    usage: &[
        "cgxset [-12iR] [-r <name=value>] <cgroup_path> ...",
        "cgxset --copy-from <source_cgroup_path> <cgroup_path> ...",
    ],
    about: "Set the parameters of given cgroup(s), the names in a given cgroup version (rein's libcgroup compatibility)",
    opts: VERSION_FLAGS,
    operands: &[],
    stop_at_operand: false,
    base: Some(&CGSET),
};

/// What cgget prints for a group.
enum Want {
    Names(Vec<String>),
    Controllers(Controllers),
}

fn cgget(args: &[OsString]) -> anyhow::Result<ExitCode> {
    cgget_as(args, None)
}

/// The names libcgroup's conversion table marks unmappable: each version has the file,
/// with contents the other cannot be computed from (src/abstraction-map.c).
const UNMAPPABLE: [&str; 10] = [
    "cpu.stat",
    "cpuset.mem_exclusive",
    "cpuset.mem_hardwall",
    "cpuset.memory_migrate",
    "cpuset.memory_pressure",
    "cpuset.mem_pressure_enabled",
    "cpuset.memory_spread_page",
    "cpuset.memory_spread_slab",
    "cpuset.sched_load_balance",
    "cpuset.sched_relax_domain_level",
];

/// cgxget: cgget with `-1`/`-2` (the version the names are in) and `-i` (leave out names
/// without an equivalent in the running version).
fn cgxget(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let has = |f: char, long: &str| {
        args.iter().any(|a| {
            a.to_str().is_some_and(|s| {
                s == long
                    || (s.starts_with('-')
                        && !s.starts_with("--")
                        && s[1..].chars().all(|c| matches!(c, '1' | '2' | 'i'))
                        && s.contains(f))
            })
        })
    };
    let version = match (has('1', "--v1"), has('2', "--v2")) {
        (true, false) => Some(1),
        (false, true) => Some(2),
        _ => None,
    };
    cgget_as(&without_version_flags(args), version.map(|v| (v, has('i', "--ignore-unmappable"))))
}

/// cgget, or cgxget with (the version the names are in, whether to leave out the ones
/// that have no equivalent in the running version).
fn cgget_as(args: &[OsString], cgx: Option<(u8, bool)>) -> anyhow::Result<ExitCode> {
    if args.is_empty() {
        return Err(usage(""));
    }
    let (mut headers, mut names) = (true, true);
    let mut vars = Vec::new();
    let mut ctrl_lists: Vec<String> = Vec::new();
    let mut with_path: Vec<(String, GroupSpec)> = Vec::new();
    let mut all = false;
    let mut operands = Vec::new();
    let items = getopt(args, CGGET.opts, false)?;
    let default = default_scope(&items);
    for item in items {
        match item {
            Item::Opt('h', _) => return help(&CGGET),
            Item::Opt('n', _) => headers = false,
            // -b: no default scope (default_scope).
            Item::Opt('b', _) => {}
            Item::Opt('v', _) => names = false,
            Item::Opt('r', Some(v)) => {
                raw::home_of(&v).map_err(|_| Error::invalid("parameter name", &v, "expected CONTROLLER.FILE"))?;
                vars.push(v)
            }
            Item::Opt('a', _) => all = true,
            Item::Opt('g', Some(v)) if v.contains(':') => {
                let shown = v.split_once(':').map(|(_, p)| p.to_string()).unwrap_or_default();
                with_path.push((shown, tool_spec(&v, default.as_ref())?));
            }
            Item::Opt('g', Some(v)) => ctrl_lists.push(v),
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => operands.push(operand_text(&a)?),
        }
    }
    if !vars.is_empty() && (all || !ctrl_lists.is_empty() || !with_path.is_empty()) {
        return Err(usage("-r excludes -g and -a"));
    }
    if !with_path.is_empty() && !operands.is_empty() {
        return Err(usage("give groups either with -g <controllers>:<path> or as operands"));
    }
    // An unknown controller name: libcgroup's words and status.
    let named = with_path.iter().flat_map(|(_, s)| match &s.controllers {
        Controllers::Named(n) => n.clone(),
        Controllers::All => Vec::new(),
    });
    for n in named.chain(ctrl_lists.iter().flat_map(|l| l.split(',')).map(String::from)) {
        if !n.is_empty() && Controller::from_name(&n).is_none() {
            return Err(anyhow::Error::new(Verbatim(format!("cannot find controller '{n}'"), EXIT_NO_GROUP)));
        }
    }
    let mut jobs: Vec<(String, GroupPath, Want)> = Vec::new();
    for (shown, spec) in with_path {
        jobs.push((shown, spec.path, Want::Controllers(spec.controllers)));
    }
    if jobs.is_empty() {
        if operands.is_empty() {
            return Err(usage("no group given"));
        }
        for o in operands {
            let path = libcgroup::resolve_group(&libcgroup::under_default(&o, default.as_ref()))?;
            let want = if !vars.is_empty() {
                Want::Names(vars.clone())
            } else if !ctrl_lists.is_empty() && !all {
                Want::Controllers(Controllers::Named(
                    ctrl_lists.iter().flat_map(|l| l.split(',')).map(String::from).collect(),
                ))
            } else {
                Want::Controllers(Controllers::All)
            };
            jobs.push((o, path, want));
        }
    }
    let h = hierarchy()?;
    let host = host(&h);
    // cgxget: a name in the other version's terms that no conversion reaches.
    if let Some((version, ignore)) = cgx {
        let running = |name: &str| match raw::home_of(name) {
            Ok(Home::Controller(c)) => match h.binding(c) {
                Some(rein::hierarchy::Binding::V2(_)) => Some(2),
                Some(rein::hierarchy::Binding::V1(_)) => Some(1),
                None => None,
            },
            _ => None,
        };
        let unmappable = |n: &String| UNMAPPABLE.contains(&n.as_str()) && running(n).is_some_and(|r| r != version);
        for (_, _, want) in jobs.iter_mut() {
            if let Want::Names(list) = want {
                if let Some(n) = list.iter().find(|n| unmappable(n)).filter(|_| !ignore) {
                    bail!(Error::invalid(
                        "-r",
                        n.as_str(),
                        format!("{n} of cgroup v{version} has no equivalent in this host's version; -i leaves it out")
                    ));
                }
                list.retain(|n| !unmappable(n));
            }
        }
        jobs.retain(|(_, _, w)| !matches!(w, Want::Names(l) if l.is_empty()));
    }
    let mut out = String::new();
    for (shown, path, want) in jobs {
        let group = Group::open(h.clone(), &path)?;
        let lines: Vec<(String, String)> = match want {
            Want::Names(list) => {
                let read = reader(&h, &path);
                let mut v = Vec::new();
                for n in list {
                    // cgxget: libcgroup's pairing where it differs from rein's.
                    let (file, convert) = match cgx.and_then(|_| libcgroup::cgx_read(&n, &host)) {
                        Some((file, convert)) => (file.to_string(), Some(convert)),
                        None => (n.clone(), None),
                    };
                    let value =
                        raw::read(&file, &host, &read).with_context(|| format!("cannot read {n} of {shown}"))?;
                    let value = match convert {
                        Some(c) => format!("{}\n", c(value.trim_end())),
                        None => value,
                    };
                    v.push((n, value));
                }
                v
            }
            Want::Controllers(c) => {
                let resolved = libcgroup::resolve(&c, &host)?;
                // In the order the -g flags named them (libcgroup prints them so).
                let mut order: Vec<Controller> = match &c {
                    Controllers::Named(names) => {
                        names.iter().filter_map(|n| Controller::from_name(n)).filter(|c| resolved.contains(c)).collect()
                    }
                    Controllers::All => resolved.iter().copied().collect(),
                };
                let mut seen = BTreeSet::new();
                order.retain(|c| seen.insert(*c));
                order.extend(resolved.iter().filter(|c| !seen.contains(c)));
                controller_files(&group, &order)?
            }
        };
        if headers {
            out.push_str(&format!("{shown}:\n"));
        }
        for (name, value) in lines {
            let value = value.strip_suffix('\n').unwrap_or(&value).replace('\n', "\n\t");
            if names {
                out.push_str(&format!("{name}: {value}\n"));
            } else {
                out.push_str(&format!("{value}\n"));
            }
        }
        if headers {
            out.push('\n');
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Reads files of the running mode in a group, wherever they live.
fn reader<'a>(h: &'a Hierarchy, path: &'a GroupPath) -> impl Fn(Home, &str) -> Option<String> + 'a {
    move |home: Home, file: &str| lifecycle::read_file(h, path, home, file)
}

/// Every readable file of each controller in the group, in the kernel's directory order.
fn controller_files(group: &Group, controllers: &[Controller]) -> anyhow::Result<Vec<(String, String)>> {
    let h = group.hierarchy();
    let mut out = Vec::new();
    for c in controllers {
        let Ok(place) = lifecycle::place_of(h, Home::Controller(*c)) else { continue };
        if !group.nodes().iter().any(|n| n.place == place) {
            continue;
        }
        let m = place.mount(h);
        let prefix = format!("{}.", if place == Place::V2 { c.v2_name() } else { c.v1_name() });
        for f in m.files(group.path())? {
            if !f.starts_with(&prefix) {
                continue;
            }
            // Files the kernel gives no value to read (memory.force_empty, write-only;
            // memory.pressure_level, an event file) refuse with EINVAL: libcgroup lists them
            // with an empty value. Other unreadable files are left out.
            match m.read(group.path(), &f) {
                Ok(v) => out.push((f, v)),
                Err(e) if e.errno() == Some(libc::EINVAL) => out.push((f, String::new())),
                Err(_) => {}
            }
        }
    }
    Ok(out)
}

const CGEXEC: Tool = Tool {
    name: "cgexec",
    usage: &["cgexec [-h] [-b] [-g <controllers>:<path>] [--sticky] command [arguments] ..."],
    about: "Run the task in given control group(s) (rein's libcgroup compatibility)",
    opts: &[
        takes('g', &[], "<controllers>:<path>", "Control group which should be added"),
        flag('s', &["sticky"], "accepted and ignored: rein runs no cgrulesengd daemon"),
        flag('h', &["help"], "Display this help"),
        flag('b', &[], "Ignore the default systemd delegated hierarchy (a scope 'cgcreate -c -S' made the default)"),
        flag('r', &[], "Replace the default idle_thread spawned for the systemd scope"),
    ],
    operands: &[("command...", "The command and its arguments")],
    stop_at_operand: true,
    base: None,
};

fn cgexec(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut specs = Vec::new();
    let mut command: Vec<OsString> = Vec::new();
    let mut replace_idle = false;
    let items = getopt(args, CGEXEC.opts, CGEXEC.stop_at_operand)?;
    let default = default_scope(&items);
    for item in items {
        match item {
            Item::Opt('h', _) => return help(&CGEXEC),
            Item::Opt('g', Some(v)) => specs.push(tool_spec(&v, default.as_ref())?),
            // -b: no default scope (default_scope).
            Item::Opt('s' | 'b', _) => {}
            Item::Opt('r', _) => replace_idle = true,
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => command.push(a),
        }
    }
    let Some((program, rest)) = command.split_first() else {
        return Err(usage("no command given"));
    };
    if specs.is_empty() {
        return Err(usage("rein needs -g <controllers>:<path>: it has no cgrules.conf daemon to pick a group"));
    }
    let h = hierarchy()?;
    // libcgroup's words and status (its ECG* number, modulo 256).
    if let Err(e) = join(&h, &specs, std::process::id()) {
        bail!(Verbatim(format!("cgroup change of group failed: {}", e.detail), e.status));
    }
    if replace_idle {
        replace_idle_process(&h, std::process::id()).map_err(|w| Verbatim(w, EXIT_EXEC_FAILED))?;
    }
    // As libcgroup's cgexec: "exec failed:REASON", status 255 (its -1).
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(program).args(rest).exec();
    let reason = err.raw_os_error().map(errno_words).unwrap_or_else(|| io_words(&err));
    bail!(Verbatim(format!("exec failed:{reason} ('{}')", program.to_string_lossy()), EXIT_EXEC_FAILED))
}

/// `-r` of cgexec and cgclassify: once process `pid` is in the scope, the placeholder
/// `cgcreate -c` left there ([`libcgroup::IDLE_PROCESS`], by its argv\[0\], as libcgroup
/// finds it) is sent SIGTERM. The scope is the cgroup2 group of `pid` (`0::` in
/// /proc/PID/cgroup) whose path names a slice and a scope. Err: libcgroup's words (no
/// placeholder there, or it could not be signalled).
fn replace_idle_process(h: &Hierarchy, pid: u32) -> Result<(), String> {
    let failed = || "Failed to find idle_thread task".to_string();
    let path = rein::hierarchy::cgroup_v2_of(pid).ok_or_else(failed)?;
    if !(path.contains(".scope") && path.contains(".slice")) {
        return Err(failed());
    }
    let group = GroupPath::parse(&path).map_err(|_| failed())?;
    let u = h.unified().ok_or_else(failed)?;
    let procs = u.mount.read(&group, "cgroup.procs").map_err(|_| failed())?;
    let idle = procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()).find(|p| {
        std::fs::read(format!("/proc/{p}/cmdline"))
            .is_ok_and(|c| c.split(|b| *b == 0).next() == Some(libcgroup::IDLE_PROCESS.as_bytes()))
    });
    let idle = idle.and_then(rustix::process::Pid::from_raw).ok_or_else(failed)?;
    rustix::process::kill_process(idle, rustix::process::Signal::TERM)
        .map_err(|e| format!("Failed to kill pid {}:{}", idle.as_raw_nonzero(), errno_words(e.raw_os_error())))
}

/// `cgclassify -r`'s way back when no placeholder was found: process `pid` is written
/// into the groups `former` (its /proc/PID/cgroup before it moved) names, in each
/// hierarchy where it is no longer there (named hierarchies such as name=systemd, which
/// rein never moves a process in, are left alone). The status is libcgroup's: 0, or on
/// a write refused its `-1` (255) where v1 hierarchies are mounted and its ECG* number
/// (modulo 256) on a pure cgroup2 host.
fn move_back(h: &Hierarchy, pid: u32, former: &str) -> u8 {
    let now = ProcTable::default().cgroups(pid).unwrap_or_default();
    let mut status = 0;
    for line in former.lines().filter(|l| !now.lines().any(|n| n == *l)) {
        let mut f = line.splitn(3, ':');
        let (names, path) = (f.nth(1).unwrap_or_default(), f.next().unwrap_or_default());
        let mount = if names.is_empty() {
            h.unified().map(|u| &u.mount)
        } else {
            let cs: Vec<Controller> = names.split(',').filter_map(Controller::from_name).collect();
            h.v1_mounts().iter().find(|m| cs.iter().any(|c| m.controllers.contains(c))).map(|m| &m.mount)
        };
        // The root ("/": a process that came from there goes back there) or a group.
        let group = if path.trim_matches('/').is_empty() { Ok(GroupPath::root()) } else { GroupPath::parse(path) };
        let (Some(mount), Ok(group)) = (mount, group) else { continue };
        // Through the hardened accessor, as every other write: beneath the mount, no symlink.
        if let Err(e) = mount.write(&group, "cgroup.procs", &pid.to_string()) {
            let errno = e.errno().unwrap_or(libc::EINVAL);
            let procs = mount.file_path(&group, "cgroup.procs");
            eprintln!("cannot write tid {pid} to {}:{}", procs.display(), errno_words(errno));
            status = match (h.mode(), errno) {
                (rein::Mode::Unified, libc::EPERM | libc::EACCES) => ECGROUPNOTOWNER,
                (rein::Mode::Unified, libc::ENOENT) => ECGROUPNOTEXIST,
                (rein::Mode::Unified, _) => ECGROUPNOTALLOWED,
                _ => EXIT_EXEC_FAILED,
            };
        }
    }
    status
}

/// libcgroup's statuses for a process that cannot join a group: its error numbers
/// (include/libcgroup/error.h, from 50000) modulo 256, which is what its tools exit with.
const ECGROUPNOTEXIST: u8 = 82;
/// A cgroup2 controller the group does not have.
const ECGROUPNOTMOUNTED: u8 = 81;
/// A group's cgroup.procs that refuses the caller (EPERM).
const ECGROUPNOTOWNER: u8 = 85;
/// A controller the host does not offer, or that is not a controller.
const ECGROUPNOTALLOWED: u8 = 87;
/// An error of the system underneath (libcgroup's ECGOTHER: errno's words).
const ECGOTHER: u8 = 96;
/// cgcreate's status for a controller it cannot add (ECGINVAL).
const ECGINVAL: u8 = 91;
/// cgdelete's status for a controller it cannot add (ECGFAIL).
const ECGFAIL: u8 = 93;
/// cgexec's status when the command cannot be run (its `return -1`).
const EXIT_EXEC_FAILED: u8 = 255;

/// Why a process could not join a group, in libcgroup's terms: its status, and
/// `cgroup_strerror`'s words followed by rein's own where they say more.
struct JoinError {
    status: u8,
    detail: String,
}

/// The first controller name of a spec the host cannot give a group (not a controller,
/// or no hierarchy binds it), with rein's reason.
fn bad_controller(c: &Controllers, h: &Hierarchy) -> Option<(String, rein::Error)> {
    let Controllers::Named(names) = c else { return None };
    names
        .iter()
        .find_map(|n| libcgroup::resolve(&Controllers::Named(vec![n.clone()]), &host(h)).err().map(|e| (n.clone(), e)))
}

/// Moves `pid` into each spec's group, in the hierarchies of its controllers; a
/// refusal is classified as libcgroup's `cgroup_change_cgroup_path` would return it.
fn join(h: &Arc<Hierarchy>, specs: &[GroupSpec], pid: u32) -> Result<(), JoinError> {
    let fail = |status: u8, words: &str, e: &dyn std::fmt::Display| JoinError {
        status,
        detail: format!("{words} ({})", e.to_string().replace('\n', " ")),
    };
    for s in merge_specs(specs.to_vec()) {
        if let Some((_, e)) = bad_controller(&s.controllers, h) {
            return Err(fail(ECGROUPNOTALLOWED, "Cgroup, operation not allowed", &e));
        }
        let controllers = match &s.controllers {
            Controllers::All => None,
            c => Some(
                libcgroup::resolve(c, &host(h))
                    .map_err(|e| fail(ECGROUPNOTALLOWED, "Cgroup, operation not allowed", &e))?,
            ),
        };
        let missing = |e: &dyn std::fmt::Display| fail(ECGROUPNOTEXIST, "Cgroup does not exist", e);
        if !group_exists(h, &s.path) {
            return Err(missing(&format!("no group {}", s.path)));
        }
        let group = Group::open(h.clone(), &s.path).map_err(|e| fail(ECGOTHER, "cannot open the group", &e))?;
        let places = places_for(&group, controllers.as_ref()).map_err(|e| missing(&format!("{e:#}")))?;
        // A cgroup2 controller the group does not have (not enabled in its parent's
        // cgroup.subtree_control): libcgroup refuses it as not mounted there.
        let v2 = group.nodes().iter().find(|n| n.place == Place::V2).map(|n| &n.controllers);
        let absent = controllers.iter().flatten().find(|c| {
            matches!(h.binding(**c), Some(rein::hierarchy::Binding::V2(_))) && v2.is_none_or(|have| !have.contains(c))
        });
        if let Some(c) = absent {
            let why = format!(
                "controller {} is not enabled in group {}; cgcreate -g {}:{} enables it",
                c.v2_name(),
                s.path,
                c.v2_name(),
                s.path.as_str()
            );
            return Err(fail(ECGROUPNOTMOUNTED, "Cgroup is not mounted", &why));
        }
        if pid != std::process::id() && ProcTable::default().start_time(pid).is_none() {
            return Err(fail(ECGOTHER, "No such process", &format!("no process {pid}")));
        }
        lifecycle::move_pids(&group, places.as_deref(), &[pid], &ProcTable::default()).map_err(|e| {
            let words = e.errno().map_or_else(|| "Cgroup, operation failed".into(), errno_words);
            fail(ECGOTHER, &words, &e)
        })?;
    }
    Ok(())
}

/// Whether the group has a directory in any hierarchy.
fn group_exists(h: &Hierarchy, path: &GroupPath) -> bool {
    h.unified().iter().map(|u| &u.mount).chain(h.v1_mounts().iter().map(|m| &m.mount)).any(|m| m.exists(path))
}

const CGCLASSIFY: Tool = Tool {
    name: "cgclassify",
    usage: &["cgclassify [[-g] <controllers>:<path>] [-b] [--sticky | --cancel-sticky] <list of pids>"],
    about: "Move running task(s) to given cgroups (rein's libcgroup compatibility)",
    opts: &[
        takes('g', &[], "<controllers>:<path>", "Control group to be used as target"),
        flag('s', &["sticky"], "accepted and ignored: rein runs no cgrulesengd daemon"),
        flag(CANCEL_STICKY, &["cancel-sticky"], "accepted and ignored: rein runs no cgrulesengd daemon"),
        flag('h', &["help"], "Display this help"),
        flag('b', &[], "Ignore the default systemd delegated hierarchy (a scope 'cgcreate -c -S' made the default)"),
        flag('r', &[], "Replace the default idle_thread spawned for the systemd scope"),
    ],
    operands: &[("pid...", "The processes to move")],
    stop_at_operand: false,
    base: None,
};

fn cgclassify(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut specs = Vec::new();
    let mut pids = Vec::new();
    let mut replace_idle = false;
    let items = getopt(args, CGCLASSIFY.opts, false)?;
    let default = default_scope(&items);
    for item in items {
        match item {
            Item::Opt('h', _) => return help(&CGCLASSIFY),
            Item::Opt('g', Some(v)) => specs.push(tool_spec(&v, default.as_ref())?),
            // See cgexec: rein's paths start at the root, as -b asks.
            Item::Opt('s' | 'b' | CANCEL_STICKY, _) => {}
            Item::Opt('r', _) => replace_idle = true,
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => {
                let t = operand_text(&a)?;
                if t.contains(':') && pids.is_empty() {
                    specs.push(tool_spec(&t, default.as_ref())?);
                    continue;
                }
                pids.push(t);
            }
        }
    }
    if specs.is_empty() {
        return Err(usage("rein needs -g <controllers>:<path>: it has no cgrules.conf daemon to pick a group"));
    }
    if pids.is_empty() {
        return Err(usage("no process given"));
    }
    let h = hierarchy()?;
    // As libcgroup: each pid on its own, the others moved when one fails; status 2
    // after an operand that is no pid, 1 after a pid that could not move (the later wins).
    let mut status = 0;
    for t in &pids {
        let Some(pid) = t.parse::<u32>().ok().filter(|p| *p > 0) else {
            eprintln!("Error: {t} is not valid pid.");
            status = 2;
            continue;
        };
        // -r, until a placeholder is replaced: the groups the pid leaves, to move it back
        // if its new scope holds none (libcgroup then ends with that move's status).
        let former = if replace_idle {
            match ProcTable::default().cgroups(pid) {
                Some(f) => Some(f),
                None => {
                    eprintln!("Failed to open: /proc/{pid}/cgroup");
                    eprintln!("Failed to read /proc/{pid}/cgroups");
                    return Ok(ExitCode::from(1));
                }
            }
        } else {
            None
        };
        if let Err(e) = join(&h, &specs, pid) {
            eprintln!("Error changing group of pid {pid}: {}", e.detail);
            status = 1;
        }
        let Some(former) = former else { continue };
        if let Err(words) = replace_idle_process(&h, pid) {
            eprintln!("{words}");
            return Ok(ExitCode::from(move_back(&h, pid, &former)));
        }
        replace_idle = false;
    }
    Ok(ExitCode::from(status))
}

const CGDELETE: Tool = Tool {
    name: "cgdelete",
    usage: &["cgdelete [-h] [-r] [[-g] <controllers>:<path>] ..."],
    about: "Remove control group(s) (rein's libcgroup compatibility); their processes move to the parent group",
    opts: &[
        flag('r', &["recursive"], "Recursively remove all subgroups"),
        takes('g', &[], "<controllers>:<path>", "Control group to be removed (-g is optional)"),
        flag('h', &["help"], "Display this help"),
        flag('b', &[], "Ignore the default systemd delegated hierarchy (a scope 'cgcreate -c -S' made the default)"),
    ],
    operands: &[("controllers:path...", "Control groups to be removed")],
    stop_at_operand: false,
    base: None,
};

fn cgdelete(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut recursive = false;
    let mut specs = Vec::new();
    let items = getopt(args, CGDELETE.opts, false)?;
    let default = default_scope(&items);
    for item in items {
        match item {
            Item::Opt('h', _) => return help(&CGDELETE),
            Item::Opt('b', _) => {}
            Item::Opt('r', _) => recursive = true,
            Item::Opt('g', Some(v)) => specs.push(tool_spec(&v, default.as_ref())?),
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => specs.push(tool_spec(&operand_text(&a)?, default.as_ref())?),
        }
    }
    if specs.is_empty() {
        return Err(usage("no group given: cgdelete <controllers>:<path>"));
    }
    let h = hierarchy()?;
    for s in &specs {
        if let Some((name, e)) = bad_controller(&s.controllers, &h) {
            bail!(Verbatim(format!("controller {name} can't be added ({e})"), ECGFAIL));
        }
    }
    for s in merge_specs(specs) {
        if !group_exists(&h, &s.path) {
            let name = s.path.as_str().trim_start_matches('/');
            return Err(anyhow::Error::new(Verbatim(
                format!("cannot remove group '{name}': No such file or directory"),
                EXIT_NO_GROUP,
            )));
        }
        let group =
            Group::open(h.clone(), &s.path).with_context(|| format!("cannot remove group '{}'", s.path.as_str()))?;
        let controllers = match &s.controllers {
            Controllers::All => None,
            c => Some(libcgroup::resolve(c, &host(&h))?),
        };
        let mut places = places_for(&group, controllers.as_ref())?;
        // The cgroup2 directory is rein's companion of the v1 ones: it goes with the
        // last of them.
        if let Some(ps) = &mut places {
            let left = group.nodes().iter().any(|n| n.place != Place::V2 && !ps.contains(&n.place));
            if left {
                ps.retain(|p| *p != Place::V2);
            }
        }
        lifecycle::delete(&group, places.as_deref(), recursive)
            .with_context(|| format!("cannot remove group '{}'", s.path.as_str()))?;
    }
    Ok(ExitCode::SUCCESS)
}

const LSCGROUP: Tool = Tool {
    name: "lscgroup",
    usage: &["lscgroup [[-g] <controllers>:<path>] ..."],
    about: "List all cgroups (rein's libcgroup compatibility)",
    opts: &[
        takes('g', &[], "<controllers>:<path>", "Control group to be displayed (-g is optional)"),
        flag('h', &["help"], "Display this help"),
    ],
    operands: &[("controllers:path...", "Control groups to be displayed")],
    stop_at_operand: false,
    base: None,
};

/// The mount a controller named as libcgroup names it (v1 or v2 name) is bound to, with
/// the name it is listed under there.
fn bound_mount<'h>(h: &'h Hierarchy, name: &str) -> Option<&'h rein::cgroupfs::Mount> {
    let c = Controller::ALL.into_iter().find(|c| c.v1_name() == name || c.v2_name() == name)?;
    Some(match h.binding(c)? {
        rein::hierarchy::Binding::V1(m) => &m.mount,
        rein::hierarchy::Binding::V2(u) => &u.mount,
    })
}

fn lscgroup(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut specs = Vec::new();
    for item in getopt(args, LSCGROUP.opts, false)? {
        match item {
            Item::Opt('h', _) => return help(&LSCGROUP),
            Item::Opt('g', Some(v)) => specs.push(libcgroup::parse_tool_spec(&v)?),
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => specs.push(libcgroup::parse_tool_spec(&operand_text(&a)?)?),
        }
    }
    let h = hierarchy()?;
    // No group: every hierarchy from its root, listed by its controllers.
    let mut lists: Vec<(String, GroupPath)> = Vec::new();
    if specs.is_empty() {
        for m in h.v1_mounts() {
            let names: Vec<&str> = m.controllers.iter().map(|c| c.v1_name()).collect();
            lists.push((names.join(","), GroupPath::root()));
        }
        if let Some(u) = h.unified().filter(|u| !u.controllers.is_empty()) {
            let names: Vec<&str> = u
                .controllers
                .iter()
                .filter(|c| matches!(h.binding(**c), Some(rein::hierarchy::Binding::V2(_))))
                .map(|c| c.v2_name())
                .collect();
            if !names.is_empty() {
                lists.push((names.join(","), GroupPath::root()));
            }
        }
    }
    for s in &specs {
        let names: Vec<String> = match &s.controllers {
            Controllers::Named(n) => n.clone(),
            Controllers::All => {
                Controller::ALL.iter().filter(|c| h.binding(**c).is_some()).map(|c| c.v1_name().to_string()).collect()
            }
        };
        for n in names {
            lists.push((n, s.path.clone()));
        }
    }
    let mut out = String::new();
    for (names, path) in &lists {
        let first = names.split(',').next().unwrap_or_default();
        let m = bound_mount(&h, first)
            .ok_or_else(|| anyhow::Error::new(Verbatim(format!("cannot find controller '{first}'"), EXIT_NO_GROUP)))?;
        if !m.exists(path) {
            let p = path.as_str().trim_start_matches('/');
            return Err(anyhow::Error::new(Verbatim(format!("cannot find group '{p}'"), EXIT_NO_GROUP)));
        }
        let base = path.as_str().trim_matches('/');
        out.push_str(&format!("{names}:/{base}/\n"));
        // Depth first, parents before children, names sorted.
        let mut stack: Vec<GroupPath> =
            m.children(path)?.iter().rev().map(|c| path.join(c)).collect::<rein::Result<_>>()?;
        while let Some(p) = stack.pop() {
            out.push_str(&format!("{names}:/{}\n", p.as_str().trim_start_matches('/')));
            let mut kids = m.children(&p)?;
            kids.sort();
            for c in kids.iter().rev() {
                stack.push(p.join(c)?);
            }
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

const LSSUBSYS: Tool = Tool {
    name: "lssubsys",
    usage: &["lssubsys [-i] [-m] [-M] [-a] [<controller>...]"],
    about: "List hierarchies containing given subsystem (rein's libcgroup compatibility)",
    opts: &[
        flag('a', &["all"], "List all subsystems"),
        flag('i', &["hierarchies"], "Display information about hierarchies"),
        flag('m', &["mount-points"], "Display mount points"),
        flag('M', &["all-mount-points"], "Display all mount points"),
        flag('h', &["help"], "Display this help"),
    ],
    operands: &[("controller...", "The controllers to list")],
    stop_at_operand: false,
    base: None,
};

/// `/proc/cgroups`: each enabled controller's name and hierarchy id, in its order.
fn proc_cgroups() -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string("/proc/cgroups").context("cannot read /proc/cgroups")?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && f[3] == "1").then(|| (f[0].to_string(), f[1].to_string()))
        })
        .collect())
}

fn lssubsys(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let (mut all, mut ids, mut mounts) = (false, false, false);
    let mut wanted: Vec<String> = Vec::new();
    for item in getopt(args, LSSUBSYS.opts, false)? {
        match item {
            Item::Opt('h', _) => return help(&LSSUBSYS),
            Item::Opt('a', _) => all = true,
            Item::Opt('i', _) => ids = true,
            Item::Opt('m' | 'M', _) => mounts = true,
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => wanted.push(operand_text(&a)?),
        }
    }
    let h = hierarchy()?;
    let kernel = proc_cgroups()?;
    let id_of =
        |name: &str| kernel.iter().find(|(n, _)| n == name).map(|(_, i)| i.clone()).unwrap_or_else(|| "0".into());
    let mut out = String::new();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    // One line per v1 hierarchy: its controllers, as the kernel orders them.
    for m in h.v1_mounts() {
        let names: Vec<&str> = kernel
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| m.controllers.iter().any(|c| c.v1_name() == *n))
            .collect();
        if names.is_empty() || (!wanted.is_empty() && !names.iter().any(|n| wanted.iter().any(|w| w == n))) {
            continue;
        }
        listed.extend(names.iter().map(|n| n.to_string()));
        let mut line = names.join(",");
        if ids {
            line.push_str(&format!(" {}", id_of(names[0])));
        }
        if mounts {
            line.push_str(&format!(" {}", m.mount.path().display()));
        }
        out.push_str(&line);
        out.push('\n');
    }
    // -a (or a controller named): the others too, one a line; those cgroup2 offers with
    // its mount point for -m.
    for (name, id) in &kernel {
        if listed.contains(name) || !(all || wanted.iter().any(|w| w == name)) {
            continue;
        }
        let mut line = name.clone();
        if ids {
            line.push_str(&format!(" {id}"));
        }
        if mounts {
            let on_v2 = Controller::ALL
                .into_iter()
                .find(|c| c.v1_name() == name || c.v2_name() == name)
                .and_then(|c| h.binding(c));
            if let Some(rein::hierarchy::Binding::V2(u)) = on_v2 {
                line.push_str(&format!(" {}", u.mount.path().display()));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

const CGSNAPSHOT: Tool = Tool {
    name: "cgsnapshot",
    usage: &["cgsnapshot [-h] [-s] [-t] [-b FILE] [-w FILE] [-f FILE] [controller] [...]"],
    about: "Generate the configuration file for given controllers (rein's libcgroup compatibility)",
    opts: &[
        takes(
            'b',
            &["denylist"],
            "<FILE>",
            "Set the denylist configuration file (default /etc/cgsnapshot_denylist.conf)",
        ),
        takes('f', &["file"], "<FILE>", "Redirect the output to output_file"),
        flag('h', &["help"], "Display this help"),
        flag('s', &["silent"], "Ignore all warnings"),
        flag('t', &["strict"], "Don't show variables which are not on the allowlist"),
        takes('w', &["allowlist"], "<FILE>", "Set the allowlist configuration file (not used by default)"),
    ],
    operands: &[("controller...", "Write only the hierarchies of these controllers")],
    stop_at_operand: false,
    base: None,
};

/// libcgroup's default denylist of cgsnapshot.
const DENYLIST_CONF: &str = "/etc/cgsnapshot_denylist.conf";

/// A cgsnapshot deny- or allowlist: one variable name a line, `#` comments. A file that
/// cannot be read is libcgroup's "ERROR: Failed to open file" (and its status 129).
fn variable_list(file: &str) -> Result<BTreeSet<String>, ExitCode> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        eprintln!("ERROR: Failed to open file {file}: {}", io_words(&e));
        ExitCode::from(EXIT_BADARGS)
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect())
}

/// An I/O error in strerror's words ("No such file or directory").
fn io_words(e: &std::io::Error) -> String {
    let s = e.to_string();
    s.split(" (os error").next().unwrap_or(&s).to_string()
}

/// An errno in strerror's words.
fn errno_words(errno: i32) -> String {
    io_words(&std::io::Error::from_raw_os_error(errno))
}

/// `uid -> name` from /etc/passwd (or /etc/group for gids), as getpwuid would answer.
fn id_name(file: &str, id: u32) -> Option<String> {
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2].parse() == Ok(id)).then(|| f[0].to_string())
    })
}

/// The `perm` block libcgroup writes when the group's directory or its task file is not
/// root's (empty otherwise).
fn perm_block(dir: &std::path::Path, tasks: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let (Ok(a), Ok(t)) = (std::fs::metadata(dir), std::fs::metadata(tasks)) else { return String::new() };
    if a.uid() == 0 && a.gid() == 0 && t.uid() == 0 && t.gid() == 0 {
        return String::new();
    }
    let user = |id: u32| id_name("/etc/passwd", id).unwrap_or_else(|| id.to_string());
    let group = |id: u32| id_name("/etc/group", id).unwrap_or_else(|| id.to_string());
    format!(
        "\tperm {{\n\t\tadmin {{\n\t\t\tuid = {};\n\t\t\tgid = {};\n\t\t}}\n\t\ttask {{\n\t\t\ttuid = {};\n\t\t\ttgid = {};\n\t\t}}\n\t}}\n",
        user(a.uid()),
        group(a.gid()),
        user(t.uid()),
        group(t.gid())
    )
}

/// A hierarchy cgsnapshot walks: its mount, its controllers with the names it writes, and
/// whether it is cgroup2.
type Snapshotted<'h> = (&'h rein::cgroupfs::Mount, Vec<(Controller, &'static str)>, bool);

/// cgsnapshot: the live hierarchies as libcgroup's cgconfig.conf (`mount { }`, then a
/// `group NAME { CONTROLLER { FILE="VALUE"; } }` per group and hierarchy), with libcgroup's
/// rules: the variables a group's controller files hold, less those the hierarchy's root
/// shows read-only, less the denylist; `devices.list` written as `devices.deny` of
/// everything and `devices.allow` of the list.
fn cgsnapshot(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let (mut silent, mut strict) = (false, false);
    let (mut deny_file, mut allow_file, mut out_file) = (None, None, None);
    let mut wanted: Vec<String> = Vec::new();
    for item in getopt(args, CGSNAPSHOT.opts, false)? {
        match item {
            Item::Opt('h', _) => return help(&CGSNAPSHOT),
            Item::Opt('s', _) => silent = true,
            Item::Opt('t', _) => strict = true,
            Item::Opt('b', v) => deny_file = v,
            Item::Opt('w', v) => allow_file = v,
            Item::Opt('f', v) => out_file = v,
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => wanted.push(operand_text(&a)?),
        }
    }
    // The default denylist is libcgroup's package's file: without it, nothing is denied.
    let deny = match &deny_file {
        Some(f) => variable_list(f),
        None if std::path::Path::new(DENYLIST_CONF).exists() => variable_list(DENYLIST_CONF),
        None => Ok(BTreeSet::new()),
    };
    let allow = allow_file.as_deref().map(variable_list).transpose();
    let (deny, allow) = match (deny, allow) {
        (Ok(d), Ok(a)) => (d, a.unwrap_or_default()),
        (Err(code), _) | (_, Err(code)) => return Ok(code),
    };
    let h = hierarchy()?;
    let mut out = String::from("# Configuration file generated by cgsnapshot\n");
    // The mount section: every controller of a v1 hierarchy (cgroup2's are hierarchy 0
    // in /proc/cgroups, which libcgroup leaves out), in the kernel's order.
    out.push_str("mount {\n");
    for (name, _) in proc_cgroups()? {
        let Some(c) = Controller::ALL.into_iter().find(|c| c.v1_name() == name) else { continue };
        if !wanted.is_empty() && !wanted.contains(&name) {
            continue;
        }
        if let Some(rein::hierarchy::Binding::V1(m)) = h.binding(c) {
            out.push_str(&format!("\t{name} = {};\n", m.mount.path().display()));
        }
    }
    out.push_str("}\n\n");
    // The hierarchies: each v1 mount with its controllers, and cgroup2 with the controllers
    // bound there; only the controllers asked for.
    let mut hierarchies: Vec<Snapshotted<'_>> = Vec::new();
    for m in h.v1_mounts() {
        hierarchies.push((&m.mount, m.controllers.iter().map(|c| (*c, c.v1_name())).collect(), false));
    }
    if let Some(u) = h.unified() {
        let on_v2: Vec<(Controller, &'static str)> = u
            .controllers
            .iter()
            .filter(|c| matches!(h.binding(**c), Some(rein::hierarchy::Binding::V2(_))))
            .map(|c| (*c, c.v2_name()))
            .collect();
        hierarchies.push((&u.mount, on_v2, true));
    }
    let root = GroupPath::root();
    for (m, mut controllers, v2) in hierarchies {
        if !wanted.is_empty() {
            controllers.retain(|(_, n)| wanted.iter().any(|w| w == n));
        }
        if controllers.is_empty() {
            continue;
        }
        let mut first = true;
        // Depth first, in the directories' order, as libcgroup's fts walk meets them.
        let mut stack: Vec<GroupPath> =
            m.children_in_dir_order(&root)?.iter().rev().map(|c| root.join(c)).collect::<rein::Result<_>>()?;
        while let Some(g) = stack.pop() {
            let kids = m.children_in_dir_order(&g).unwrap_or_default();
            for c in kids.iter().rev() {
                stack.push(g.join(c)?);
            }
            // On cgroup2 a controller is the group's when its parent enables it.
            let enabled: Vec<String> = if v2 {
                m.read(&g, "cgroup.controllers").unwrap_or_default().split_whitespace().map(str::to_string).collect()
            } else {
                Vec::new()
            };
            let shown: Vec<&(Controller, &str)> =
                controllers.iter().filter(|(_, n)| !v2 || enabled.iter().any(|e| e == n)).collect();
            if shown.is_empty() {
                continue;
            }
            let files = m.files(&g).unwrap_or_default();
            let tasks = m.file_path(&g, if v2 { "cgroup.procs" } else { "tasks" });
            let name = g.as_str().trim_start_matches('/');
            let mut block = format!("group {name} {{\n");
            for (_, cname) in shown {
                block.push_str(&perm_block(&m.dir_path(&g), &tasks));
                block.push_str(&format!("\t{cname} {{\n"));
                let prefix = format!("{cname}.");
                for f in files.iter().filter(|f| f.starts_with(&prefix)) {
                    // Read-only in the root: a statistic, not a setting (libcgroup's rule,
                    // which keeps the files the root lacks).
                    let in_root = std::fs::metadata(m.file_path(&root, f));
                    if let Ok(md) = in_root {
                        use std::os::unix::fs::PermissionsExt;
                        if md.permissions().mode() & 0o200 == 0 && f != "devices.list" {
                            continue;
                        }
                    }
                    if deny.contains(f) || f == "devices.deny" || f == "devices.allow" {
                        continue;
                    }
                    let allowed = allow.contains(f);
                    if !allowed && strict {
                        continue;
                    }
                    if !allowed && !silent && first {
                        eprintln!("WARNING: variable {f} is neither deny nor allow list");
                    }
                    let value = match m.read(&g, f) {
                        Ok(v) => v.strip_suffix('\n').map(str::to_string).unwrap_or(v),
                        Err(e) if e.errno() == Some(libc::EINVAL) => String::new(),
                        Err(_) => continue,
                    };
                    if f == "devices.list" {
                        block.push_str("\t\tdevices.deny=\"a *:* rwm\";\n");
                        block.push_str(&format!("\t\tdevices.allow=\"{value}\";\n"));
                    } else {
                        block.push_str(&format!("\t\t{f}=\"{value}\";\n"));
                    }
                }
                block.push_str("\t}\n");
            }
            block.push_str("}\n\n");
            out.push_str(&block);
            first = false;
        }
    }
    match out_file {
        None => print!("{out}"),
        Some(f) => std::fs::write(&f, out)
            .map_err(|_| anyhow::Error::new(Verbatim(format!("Failed to open file {f}"), EXIT_NO_GROUP)))?,
    }
    Ok(ExitCode::SUCCESS)
}

const CGCONFIGPARSER: Tool = Tool {
    name: "cgconfigparser",
    usage: &[
        "cgconfigparser [-h] [-f mode] [-d mode] [-s mode] [-t <tuid>:<tgid>] [-a <auid>:<agid>] [-l FILE] [-L DIR] ...",
    ],
    about: "Parse and load the specified cgroups configuration file (rein's libcgroup compatibility: the groups of \
            each file are made all or nothing, v1 names work on v2 and v2 names on v1, mount blocks are checked, \
            never mounted)",
    opts: &[
        takes('a', &["admin"], "<auid>:<agid>", "Default owner of groups files and directories"),
        takes('d', &["dperm"], "<mode>", "Default group directory permissions"),
        takes('f', &["fperm"], "<mode>", "Default group file permissions"),
        flag('h', &["help"], "Display this help"),
        takes('l', &["load"], "<FILE>", "Parse and load the cgroups configuration file"),
        takes('L', &["load-directory"], "<DIR>", "Parse and load the cgroups configuration files from a directory"),
        takes('s', &["tperm"], "<mode>", "Default tasks file permissions"),
        takes('t', &["task"], "<tuid>:<tgid>", "Default owner of the tasks file"),
    ],
    operands: &[],
    stop_at_operand: false,
    base: None,
};

/// `-a`/`-t`'s `USER:GROUP` (either may be left out; `:GROUP` alone), as libcgroup's
/// parse_uid_gid reads it: names, or (rein) numbers.
fn owner_option(v: &str, ids: &rein::config::cgconfig::Ids) -> Result<(Option<Id>, Option<Id>), String> {
    let (user, group) = match v.strip_prefix(':') {
        Some(g) => (None, Some(g)),
        None => match v.split_once(':') {
            Some((u, g)) => (Some(u), Some(g)),
            None => (Some(v), None),
        },
    };
    let user = user
        .filter(|u| !u.is_empty())
        .map(|u| ids.user(&Id::parse(u)).map(Id::Number).ok_or_else(|| format!("can't find uid of user {u}.")));
    let group = group
        .filter(|g| !g.is_empty())
        .map(|g| ids.group(&Id::parse(g)).map(Id::Number).ok_or_else(|| format!("can't find gid of group {g}.")));
    Ok((user.transpose()?, group.transpose()?))
}

/// The `.conf` files of a directory (`-L`), sorted, as libcgroup lists them: regular
/// files and symlinks whose name ends in `.conf` and is more than that.
fn conf_files(dir: &str) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let t = e.file_type()?;
        let kind = if t.is_file() || t.is_symlink() { true } else { !t.is_dir() && e.metadata()?.is_file() };
        if kind && name.ends_with(".conf") && name.len() > 5 && name.find(".conf") == Some(name.len() - 5) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out.into_iter().map(|n| format!("{dir}/{n}")).collect())
}

/// cgconfigparser: loads each file given (`-l`, `-L`) in order through
/// [`rein::config::cgconfig::Loader`], each all or nothing; a failed file is reported
/// with its line, in rein's words and then in libcgroup's ("cgconfigparser; error
/// loading FILE: Invalid argument"), and the next file is loaded all the same. The
/// status is the first failure's, libcgroup's (104 for a file that does not parse, 96 for
/// a value refused, 101 for a mount block that does not match the host).
fn cgconfigparser(args: &[OsString]) -> anyhow::Result<ExitCode> {
    use rein::config::cgconfig::{Ids, Loader};
    if args.is_empty() {
        return Err(usage(""));
    }
    let ids = Ids::system();
    let mut defaults = Perm::default();
    let mut files: Vec<String> = Vec::new();
    let bad = |msg: String| anyhow::Error::new(Verbatim(msg, 255));
    for item in getopt(args, CGCONFIGPARSER.opts, false)? {
        match item {
            Item::Opt('h', _) => return help(&CGCONFIGPARSER),
            Item::Opt('l', Some(v)) => files.push(v),
            Item::Opt('L', Some(v)) => match conf_files(&v) {
                Ok(f) => files.extend(f),
                Err(e) => return Err(anyhow::Error::new(Verbatim(format!("cannot open {v}: {}", io_words(&e)), 1))),
            },
            Item::Opt(c @ ('a' | 't'), Some(v)) => {
                let (u, g) = owner_option(&v, &ids).map_err(bad)?;
                if c == 'a' {
                    (defaults.admin_uid, defaults.admin_gid) = (u, g);
                } else {
                    (defaults.task_uid, defaults.task_gid) = (u, g);
                }
            }
            Item::Opt(c @ ('d' | 'f' | 's'), Some(v)) => {
                let mode = (3..=4).contains(&v.len()).then(|| rein::compat::cgconfig::parse_mode(&v)).flatten();
                let Some(mode) = mode else {
                    // libcgroup prints this one on stdout.
                    println!("cgconfigparser wrong mode format {v}");
                    return Ok(ExitCode::from(255));
                };
                match c {
                    'd' => defaults.admin_dperm = Some(mode),
                    'f' => defaults.admin_fperm = Some(mode),
                    _ => defaults.task_fperm = Some(mode),
                }
            }
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => return Err(usage(format!("unexpected operand '{}'", a.to_string_lossy()))),
        }
    }
    let mut loader = Loader::new(hierarchy()?, defaults);
    let mut status: Option<u8> = None;
    for f in &files {
        if let Err(e) = loader.load_file(std::path::Path::new(f)) {
            eprintln!("cgconfigparser: error: {e}");
            if let Some(h) = e.error.hint() {
                eprintln!("cgconfigparser: hint: {h}");
            }
            eprintln!("cgconfigparser; error loading {f}: {}", e.libcgroup_words());
            status.get_or_insert(e.status());
        }
    }
    Ok(status.map(ExitCode::from).unwrap_or(ExitCode::SUCCESS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn show(items: Vec<Item>) -> Vec<String> {
        items
            .into_iter()
            .map(|i| match i {
                Item::Opt(c, Some(v)) => format!("-{c} {v}"),
                Item::Opt(c, None) => format!("-{c}"),
                Item::Arg(a) => a.to_string_lossy().into_owned(),
            })
            .collect()
    }

    #[test]
    fn getopt_like_libcgroup() {
        let opts = [takes('r', &["variable"], "<name>", ""), flag('n', &[], ""), flag('v', &["values-only"], "")];
        let got = getopt(
            &os(&["-nv", "-rmemory.max", "grp", "-r", "cpu.max", "--values-only", "--variable=a.b"]),
            &opts,
            false,
        )
        .unwrap();
        assert_eq!(show(got), ["-n", "-v", "-r memory.max", "grp", "-r cpu.max", "-v", "-r a.b"]);
        // Unique prefixes of long names, as getopt_long allows.
        assert_eq!(show(getopt(&os(&["--val"]), &opts, false).unwrap()), ["-v"]);
        assert_eq!(show(getopt(&os(&["--", "-n"]), &opts, false).unwrap()), ["-n"]);
        for bad in [&["-x"][..], &["-r"], &["--bogus"], &["--values-only=1"]] {
            assert!(getopt(&os(bad), &opts, false).is_err(), "{bad:?}");
        }
        // cgexec's '+': options stop at the command.
        let cg = [takes('g', &[], "<controllers>:<path>", ""), flag('s', &["sticky"], "")];
        let got = getopt(&os(&["-g", "memory:x", "python3", "-c", "-g"]), &cg, true).unwrap();
        assert_eq!(show(got), ["-g memory:x", "python3", "-c", "-g"]);
    }

    /// The tables, the names rein answers to and the `-h` texts agree.
    #[test]
    fn every_tool_has_a_table_and_a_help() {
        assert_eq!(ALL.map(|t| t.name), TOOLS);
        for t in ALL {
            let h = t.help();
            assert!(h.starts_with(&format!("Usage: {}", t.name)), "{h}");
            assert!(h.contains("-h, --help"), "{h}");
            for o in t.all_opts() {
                assert!(h.contains(&o.flags()) && h.contains(o.help), "{}: {}", t.name, o.flags());
            }
            t.command().debug_assert();
        }
        assert!(CGSET.help().contains("   or: cgset --copy-from"));
        assert!(CGGET.help().contains("-r, --variable <name>  "));
    }

    #[test]
    fn specs_merge_per_group() {
        let specs =
            ["cpu:a", "memory:a", "memory:b", "*:b"].iter().map(|s| libcgroup::parse_tool_spec(s).unwrap()).collect();
        let m = merge_specs(specs);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].controllers, Controllers::Named(vec!["cpu".into(), "memory".into()]));
        assert_eq!(m[1].controllers, Controllers::All);
    }
}
