//! `rein completions` and `rein man`: shell completion scripts and man pages, generated
//! from the same clap definitions that parse rein's command line (and, for the libcgroup
//! tool names, from the option tables their getopt parses, compat_tools/options.rs).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::compat_tools;

/// `rein completions SHELL`: the script on stdout.
pub fn completions(a: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    // Into memory first: clap_complete panics on a write error (`| head`), where rein
    // reports it (and ends quietly on a broken pipe).
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "rein", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// The man pages: (file name, roff text), rein.1 first.
pub fn pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    render_tree(&root, &mut out)?;
    for t in compat_tools::ALL {
        // rein-cgcreate.1, not cgcreate.1: libcgroup's own pages (cgroup-tools) keep
        // their names, as its commands do until 'rein compat install'.
        let cmd = t.command().display_name(format!("rein-{}", t.name));
        out.push(render(man(cmd))?);
    }
    Ok(out)
}

/// The page of `cmd` and of every visible subcommand beneath it (rein-compat-install.1).
fn render_tree(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
    out.push(render(man(cmd.clone()))?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        render_tree(sub, out)?;
    }
    Ok(())
}

/// Every page says it is rein's, of which version (clap_mangen's default is the
/// command's own name and version, which the libcgroup tools' commands lack).
fn man(cmd: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd).manual("rein").source(concat!("rein ", env!("CARGO_PKG_VERSION")))
}

fn render(man: clap_mangen::Man) -> anyhow::Result<(String, Vec<u8>)> {
    let mut text = Vec::new();
    man.render(&mut text)?;
    Ok((man.get_filename(), text))
}

/// `rein man DIR`: writes every page, and lists them.
pub fn write_pages(a: &ManArgs) -> anyhow::Result<ExitCode> {
    let dir: &Path = &a.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the man page directory {}", dir.display()))?;
    for (name, text) in pages()? {
        let path = dir.join(&name);
        std::fs::write(&path, text).with_context(|| format!("cannot write the man page {}", path.display()))?;
        outln!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_per_command_and_per_libcgroup_tool() {
        let pages = pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "rein.1");
        for n in ["rein-run.1", "rein-apply.1", "rein-diff.1", "rein-exporter.1", "rein-compat-install.1", "rein-man.1"]
        {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        for t in compat_tools::TOOLS {
            let file = format!("rein-{t}.1");
            let (_, text) = pages.iter().find(|(n, _)| *n == file).unwrap_or_else(|| panic!("{file} missing"));
            let text = String::from_utf8_lossy(text);
            assert!(text.starts_with(&format!(".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n.TH rein-{t} 1")), "{text}");
        }
        assert!(!names.contains(&"rein-help.1"), "no page for clap's help subcommand");
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        // The run page carries its options' help.
        let run = &pages.iter().find(|(n, _)| n == "rein-run.1").unwrap().1;
        assert!(String::from_utf8_lossy(run).contains("memory"));
    }
}
