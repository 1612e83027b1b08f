//! Multi-call: invoked as cgcreate, cgset, cgget, cgexec, cgclassify or cgdelete (links
//! made by `rein compat install`), rein takes those libcgroup tools' options and prints
//! their output formats, so scripts and tutorials written for libcgroup run unchanged,
//! on cgroup v2 hosts too (v1 names are translated, see rein::compat::raw).
//!
//! Options follow libcgroup's getopt_long strings (src/tools/*.c): options and
//! operands may mix (GNU permutation) except for cgexec, which stops at the command.
//! Exit status follows rein's contract rather than libcgroup's ECG* numbers: 0 on
//! success, 125 on error, 2 on a usage error (cgexec: the command's own status, as it
//! replaces itself with the command; 126/127 when it cannot run it).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use rein::compat::libcgroup::{self, Controllers, GroupSpec};
use rein::compat::raw::{self, Home};
use rein::lifecycle::{self, Change};
use rein::mark::Mark;
use rein::plan::{Place, Plan};
use rein::procfs::ProcTable;
use rein::{Controller, Error, Group, GroupPath, Hierarchy, Spec};

use crate::cmd::host::{current_reader, detect_at, exec_command, host, places_for, spec_controllers};

/// The libcgroup tool names rein answers to.
pub const TOOLS: [&str; 6] = ["cgcreate", "cgset", "cgget", "cgexec", "cgclassify", "cgdelete"];

/// The tool rein was invoked as, if `argv[0]` names one.
pub fn called_as() -> Option<&'static str> {
    let argv0 = std::env::args_os().next()?;
    let base = std::path::Path::new(&argv0).file_name()?.to_str()?.to_string();
    TOOLS.iter().copied().find(|t| *t == base)
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
        _ => cgdelete(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => match e.downcast_ref::<Usage>() {
            Some(u) => {
                if !u.0.is_empty() {
                    eprintln!("{tool}: {}", u.0);
                }
                eprintln!("Try '{tool} -h' for more information.");
                ExitCode::from(2)
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

/// A usage error (exit 2).
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

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
}

impl Tool {
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
        let width = self.opts.iter().map(|o| o.flags().len()).max().unwrap_or(0);
        for o in self.opts {
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
                 0 on success, 125 on error, 2 on a usage error (cgexec: the command's own status, 126 when it \
                 cannot be run, 127 when it is not found).",
            );
        for o in self.opts {
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
        for (name, help) in self.operands {
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
pub const ALL: [&Tool; 6] = [&CGCREATE, &CGSET, &CGGET, &CGEXEC, &CGCLASSIFY, &CGDELETE];

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

const CGCREATE: Tool = Tool {
    name: "cgcreate",
    usage: &[
        "cgcreate [-h] [-f mode] [-d mode] [-s mode] [-t <tuid>:<tgid>] [-a <agid>:<auid>] -g <controllers>:<path> [-g ...]",
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
    ],
    operands: &[],
    stop_at_operand: false,
};

fn cgcreate(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut specs = Vec::new();
    for item in getopt(args, CGCREATE.opts, false)? {
        match item {
            Item::Opt('h', _) => return help(&CGCREATE),
            Item::Opt('g', Some(v)) => specs.push(libcgroup::parse_group_spec(&v)?),
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
    if specs.is_empty() {
        return Err(usage("no group given: cgcreate -g <controllers>:<path>"));
    }
    let h = hierarchy()?;
    let mut created: Vec<GroupPath> = Vec::new();
    for s in merge_specs(specs) {
        let r = create_one(&h, &s).with_context(|| format!("cannot create group '{}'", s.path.as_str()));
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
    usage: &["cgset [-r <name=value>] <cgroup_path> ...", "cgset --copy-from <source_cgroup_path> <cgroup_path> ..."],
    about: "Set the parameters of given cgroup(s) (rein's libcgroup compatibility: v1 names work on v2 and v2 names on v1)",
    opts: &[
        takes('r', &["variable", "rule"], "<name=value>", "Define parameter to set"),
        takes(COPY_FROM, &["copy-from"], "<source_cgroup_path>", "Control group whose parameters will be copied"),
        flag('h', &["help"], "Display this help"),
    ],
    operands: &[("cgroup_path...", "The groups to set")],
    stop_at_operand: false,
};

fn cgset(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut settings = Vec::new();
    let mut copy_from = None;
    let mut groups = Vec::new();
    for item in getopt(args, CGSET.opts, false)? {
        match item {
            Item::Opt('h', _) => return help(&CGSET),
            Item::Opt('r', Some(v)) => settings.push(raw::parse_setting(&v)?),
            Item::Opt(COPY_FROM, Some(v)) => copy_from = Some(GroupPath::parse(&v)?),
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => groups.push(GroupPath::parse(&operand_text(&a)?)?),
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
    // Every group's change lock (rein::lock), all at once in the lock order (by path), so
    // that two cgsets naming the same groups in another order cannot wait for each other;
    // then one plan for every group: a refusal anywhere changes nothing anywhere.
    let opened = groups.iter().map(|p| Group::open(h.clone(), p)).collect::<rein::Result<Vec<Group>>>()?;
    let locks = rein::group::lock_groups(&opened, rein::lock::LOCK_TIMEOUT)?;
    let mut plan = Plan::new();
    for path in &groups {
        let group = Group::open(h.clone(), path)?;
        let change = match &copied {
            Some(r) => Change { spec: Spec { resources: r.clone(), ..Spec::default() }, raw: Vec::new() },
            None => {
                let t = raw::translate(&settings, &host(&h), &current_reader(&h, path))?;
                Change { spec: Spec { resources: t.resources, ..Spec::default() }, raw: t.raw }
            }
        };
        plan.extend(lifecycle::plan_set(&group, &change)?);
    }
    plan.execute(&h)?;
    drop(locks);
    Ok(ExitCode::SUCCESS)
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
    ],
    operands: &[("path...", "The groups to print")],
    stop_at_operand: false,
};

/// What cgget prints for a group.
enum Want {
    Names(Vec<String>),
    Controllers(Controllers),
}

fn cgget(args: &[OsString]) -> anyhow::Result<ExitCode> {
    if args.is_empty() {
        return Err(usage(""));
    }
    let (mut headers, mut names) = (true, true);
    let mut vars = Vec::new();
    let mut ctrl_lists: Vec<String> = Vec::new();
    let mut with_path: Vec<(String, GroupSpec)> = Vec::new();
    let mut all = false;
    let mut operands = Vec::new();
    for item in getopt(args, CGGET.opts, false)? {
        match item {
            Item::Opt('h', _) => return help(&CGGET),
            Item::Opt('n', _) => headers = false,
            Item::Opt('v', _) => names = false,
            Item::Opt('r', Some(v)) => {
                raw::home_of(&v).map_err(|_| Error::invalid("parameter name", &v, "expected CONTROLLER.FILE"))?;
                vars.push(v)
            }
            Item::Opt('a', _) => all = true,
            Item::Opt('g', Some(v)) if v.contains(':') => {
                let shown = v.split_once(':').map(|(_, p)| p.to_string()).unwrap_or_default();
                with_path.push((shown, libcgroup::parse_group_spec(&v)?));
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
    let mut jobs: Vec<(String, GroupPath, Want)> = Vec::new();
    for (shown, spec) in with_path {
        jobs.push((shown, spec.path, Want::Controllers(spec.controllers)));
    }
    if jobs.is_empty() {
        if operands.is_empty() {
            return Err(usage("no group given"));
        }
        for o in operands {
            let path = GroupPath::parse(&o)?;
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
    let mut out = String::new();
    for (shown, path, want) in jobs {
        let group = Group::open(h.clone(), &path)?;
        let lines: Vec<(String, String)> = match want {
            Want::Names(list) => {
                let read = reader(&h, &path);
                let mut v = Vec::new();
                for n in list {
                    let value = raw::read(&n, &host, &read).with_context(|| format!("cannot read {n} of {shown}"))?;
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
        flag('b', &[], "Ignore the default systemd delegated hierarchy: rein's paths always start at the root"),
    ],
    operands: &[("command...", "The command and its arguments")],
    stop_at_operand: true,
};

fn cgexec(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut specs = Vec::new();
    let mut command: Vec<OsString> = Vec::new();
    for item in getopt(args, CGEXEC.opts, CGEXEC.stop_at_operand)? {
        match item {
            Item::Opt('h', _) => return help(&CGEXEC),
            Item::Opt('g', Some(v)) => specs.push(libcgroup::parse_group_spec(&v)?),
            // libcgroup 3 starts paths at systemd's delegated slice unless -b; rein's
            // paths always start at the root, which is what -b asks for.
            Item::Opt('s' | 'b', _) => {}
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
    join(&h, &specs, &[std::process::id()])?;
    Ok(exec_command(program, rest, "cgexec"))
}

/// Moves `pids` into each spec's group, in the hierarchies of its controllers.
fn join(h: &Arc<Hierarchy>, specs: &[GroupSpec], pids: &[u32]) -> anyhow::Result<()> {
    for s in merge_specs(specs.to_vec()) {
        let group = Group::open(h.clone(), &s.path)?;
        let controllers = match &s.controllers {
            Controllers::All => None,
            c => Some(libcgroup::resolve(c, &host(h))?),
        };
        let places = places_for(&group, controllers.as_ref())?;
        lifecycle::move_pids(&group, places.as_deref(), pids, &ProcTable::default())
            .with_context(|| format!("cannot move into group '{}'", s.path.as_str()))?;
    }
    Ok(())
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
        flag('b', &[], "Ignore the default systemd delegated hierarchy: rein's paths always start at the root"),
    ],
    operands: &[("pid...", "The processes to move")],
    stop_at_operand: false,
};

fn cgclassify(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut specs = Vec::new();
    let mut pids = Vec::new();
    for item in getopt(args, CGCLASSIFY.opts, false)? {
        match item {
            Item::Opt('h', _) => return help(&CGCLASSIFY),
            Item::Opt('g', Some(v)) => specs.push(libcgroup::parse_group_spec(&v)?),
            // See cgexec: rein's paths start at the root, as -b asks.
            Item::Opt('s' | 'b' | CANCEL_STICKY, _) => {}
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => {
                let t = operand_text(&a)?;
                if t.contains(':') && pids.is_empty() {
                    specs.push(libcgroup::parse_group_spec(&t)?);
                    continue;
                }
                let pid = t.parse::<u32>().ok().filter(|p| *p > 0);
                pids.push(pid.ok_or_else(|| Error::invalid("pid", &t, "expected a process id"))?);
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
    join(&h, &specs, &pids)?;
    Ok(ExitCode::SUCCESS)
}

const CGDELETE: Tool = Tool {
    name: "cgdelete",
    usage: &["cgdelete [-h] [-r] [[-g] <controllers>:<path>] ..."],
    about: "Remove control group(s) (rein's libcgroup compatibility); their processes move to the parent group",
    opts: &[
        flag('r', &["recursive"], "Recursively remove all subgroups"),
        takes('g', &[], "<controllers>:<path>", "Control group to be removed (-g is optional)"),
        flag('h', &["help"], "Display this help"),
    ],
    operands: &[("controllers:path...", "Control groups to be removed")],
    stop_at_operand: false,
};

fn cgdelete(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut recursive = false;
    let mut specs = Vec::new();
    for item in getopt(args, CGDELETE.opts, false)? {
        match item {
            Item::Opt('h', _) => return help(&CGDELETE),
            Item::Opt('r', _) => recursive = true,
            Item::Opt('g', Some(v)) => specs.push(libcgroup::parse_group_spec(&v)?),
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => specs.push(libcgroup::parse_group_spec(&operand_text(&a)?)?),
        }
    }
    if specs.is_empty() {
        return Err(usage("no group given: cgdelete <controllers>:<path>"));
    }
    let h = hierarchy()?;
    for s in merge_specs(specs) {
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
            for o in t.opts {
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
            ["cpu:a", "memory:a", "memory:b", "*:b"].iter().map(|s| libcgroup::parse_group_spec(s).unwrap()).collect();
        let m = merge_specs(specs);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].controllers, Controllers::Named(vec!["cpu".into(), "memory".into()]));
        assert_eq!(m[1].controllers, Controllers::All);
    }
}
