//! cgconfigparser: cgconfig.conf files loaded through rein::config::cgconfig, with
//! libcgroup's options, statuses and words.

use std::ffi::OsString;
use std::process::ExitCode;

use rein::compat::cgconfig::Perm;

use super::options::{Item, Tool, flag, getopt, help, perm_option, takes};
use super::specs::hierarchy;
use super::status::{Verbatim, io_words, usage};

pub(super) const CGCONFIGPARSER: Tool = Tool {
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
pub(super) fn cgconfigparser(args: &[OsString]) -> anyhow::Result<ExitCode> {
    use rein::config::cgconfig::{Ids, Loader};
    if args.is_empty() {
        return Err(usage(""));
    }
    let ids = Ids::system();
    let mut defaults = Perm::default();
    let mut files: Vec<String> = Vec::new();
    for item in getopt(args, CGCONFIGPARSER.opts, false)? {
        match item {
            Item::Opt('h', _) => return help(&CGCONFIGPARSER),
            Item::Opt('l', Some(v)) => files.push(v),
            Item::Opt('L', Some(v)) => match conf_files(&v) {
                Ok(f) => files.extend(f),
                Err(e) => return Err(anyhow::Error::new(Verbatim(format!("cannot open {v}: {}", io_words(&e)), 1))),
            },
            Item::Opt(c, Some(v)) if perm_option("cgconfigparser", c, &v, &ids, &mut defaults)? => {}
            Item::Opt(..) => return Err(usage("")),
            Item::Arg(a) => return Err(usage(format!("unexpected operand '{}'", a.to_string_lossy()))),
        }
    }
    let mut loader = Loader::new(hierarchy()?, defaults);
    let mut status: Option<u8> = None;
    for f in &files {
        if let Err(e) = loader.load_file(std::path::Path::new(f)) {
            eoutln!("cgconfigparser: error: {e}");
            if let Some(h) = e.error.hint() {
                eoutln!("cgconfigparser: hint: {h}");
            }
            eoutln!("cgconfigparser; error loading {f}: {}", e.libcgroup_words());
            status.get_or_insert(e.status());
        }
    }
    Ok(status.map(ExitCode::from).unwrap_or(ExitCode::SUCCESS))
}
