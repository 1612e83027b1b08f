//! The tools' options: one table per tool ([`Tool`], its [`Opt`]s) is its getopt, its
//! `-h` text and the clap command its man page is made from. [`getopt`] parses them as
//! libcgroup's getopt_long strings do (src/tools/*.c): options and operands may mix (GNU
//! permutation) except for cgexec, which stops at the command.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use rein::compat::cgconfig::{Id, Perm};
use rein::config::cgconfig::Ids;

use super::status::{Printed, Verbatim, usage};

/// One option a tool takes: its short letter (or a private code for long-only ones),
/// long names, the value it takes (none for a flag) and its help line. The tables are the
/// one source of the tools' `-h` texts, of their man pages and of the options getopt
/// accepts.
pub(super) struct Opt {
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
pub(super) const fn flag(id: char, long: &'static [&'static str], help: &'static str) -> Opt {
    Opt { id, long, value: None, help }
}

/// An option with a value (`<name>`, as libcgroup's help writes it).
pub(super) const fn takes(id: char, long: &'static [&'static str], value: &'static str, help: &'static str) -> Opt {
    Opt { id, long, value: Some(value), help }
}

/// A tool rein answers to: its usage lines, what it does, its options and operands.
pub struct Tool {
    /// The name (`argv[0]`).
    pub name: &'static str,
    pub(super) usage: &'static [&'static str],
    pub(super) about: &'static str,
    pub(super) opts: &'static [Opt],
    /// The operands: a name and its help (a name ending in `...` takes many).
    pub(super) operands: &'static [(&'static str, &'static str)],
    /// getopt's `+`: options end at the first operand (cgexec's command).
    pub(super) stop_at_operand: bool,
    /// The tool whose options follow these, and whose operands these are when there are
    /// none (cgxget is cgget with `-1`/`-2`/`-i`).
    pub(super) base: Option<&'static Tool>,
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

/// Long-only option codes.
pub(super) const COPY_FROM: char = '\u{1}';

pub(super) const CANCEL_STICKY: char = '\u{2}';

pub(super) enum Item {
    Opt(char, Option<String>),
    Arg(OsString),
}

/// getopt_long: `-abc` clusters, `-rVALUE` / `-r VALUE`, `--long=V` / `--long V`, unique
/// prefixes of long names, `--` ends options. `stop_at_operand` is getopt's `+` (cgexec).
pub(super) fn getopt(args: &[OsString], opts: &[Opt], stop_at_operand: bool) -> anyhow::Result<Vec<Item>> {
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

/// The flags cgxget and cgxset add: the version the names are in.
pub(super) const VERSION_FLAGS: &[Opt] = &[
    flag('1', &["v1"], "The names are cgroup v1's"),
    flag('2', &["v2"], "The names are cgroup v2's"),
    flag('i', &["ignore-unmappable"], "Leave out names without an equivalent in the running version"),
];

/// cgxget and cgxset are cgget and cgset whose `-1`/`-2` say which cgroup version the
/// names are in, and `-i` to skip names without an equivalent. rein's cgget and cgset
/// take either version's names on every host and translate them (rein::compat::raw), so
/// the names say it already: the flags are accepted and dropped.
pub(super) fn without_version_flags(args: &[OsString]) -> Vec<OsString> {
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

pub(super) fn help(tool: &Tool) -> anyhow::Result<ExitCode> {
    out!("{}", tool.help());
    Ok(ExitCode::SUCCESS)
}

pub(super) fn operand_text(a: &OsString) -> anyhow::Result<String> {
    a.to_str().map(str::to_string).ok_or_else(|| usage("group names must be UTF-8"))
}

/// The options cgcreate and cgconfigparser share for owners and modes, read into `perm`
/// as libcgroup's tools read them (src/tools/tools-common.c): `-a`/`-t` `USER:GROUP`
/// ([`rein::compat::cgconfig::parse_owner`]), each name looked up now ("can't find uid
/// of user NAME.", status 255: cgconfigparser's; libcgroup's cgcreate prints the same
/// words and exits 0, a slip of its `goto err` that rein does not copy), a number taken
/// as it is (rein: libcgroup looks names up only); `-d`, `-f`, `-s` an octal mode of 3
/// or 4 digits ("TOOL wrong mode format VALUE" on standard output, status 255). Returns
/// false for any other option.
pub(super) fn perm_option(tool: &str, c: char, v: &str, ids: &Ids, perm: &mut Perm) -> anyhow::Result<bool> {
    match c {
        'a' | 't' => {
            let (user, group) = rein::compat::cgconfig::parse_owner(v);
            let bad = |words: String| anyhow::Error::new(Verbatim(words, 255));
            let user = match user {
                Some(u) => Some(Id::Number(ids.user(&u).ok_or_else(|| bad(format!("can't find uid of user {u}.")))?)),
                None => None,
            };
            let group = match group {
                Some(g) => Some(Id::Number(ids.group(&g).ok_or_else(|| bad(format!("can't find gid of group {g}.")))?)),
                None => None,
            };
            if c == 'a' {
                (perm.admin_uid, perm.admin_gid) = (user, group);
            } else {
                (perm.task_uid, perm.task_gid) = (user, group);
            }
        }
        'd' | 'f' | 's' => {
            let mode = (3..=4).contains(&v.len()).then(|| rein::compat::cgconfig::parse_mode(v)).flatten();
            let Some(mode) = mode else {
                return Err(anyhow::Error::new(Printed(format!("{tool} wrong mode format {v}"), 255)));
            };
            match c {
                'd' => perm.admin_dperm = Some(mode),
                'f' => perm.admin_fperm = Some(mode),
                _ => perm.task_fperm = Some(mode),
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat_tools::get::CGGET;
    use crate::compat_tools::set::CGSET;
    use crate::compat_tools::{ALL, TOOLS};

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
}
