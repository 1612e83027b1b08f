//! `rein compat install DIR`: the libcgroup tool names as links to rein.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::groups::{CompatCommand, InstallArgs};
use crate::compat_tools::TOOLS;

/// Runs a `rein compat` command.
pub fn run(c: &CompatCommand) -> anyhow::Result<ExitCode> {
    match c {
        CompatCommand::Install(a) => install(a),
    }
}

fn install(a: &InstallArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find rein's own path (/proc/self/exe)")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let dir = &a.dir;
    if !dir.is_dir() {
        let why = if dir.exists() { "not a directory" } else { "no such directory; create it first" };
        bail!(rein::Error::invalid("directory", dir.display().to_string(), why));
    }
    let links: Vec<PathBuf> = TOOLS.iter().map(|t| dir.join(t)).collect();
    let existing: Vec<&PathBuf> = links.iter().filter(|l| l.symlink_metadata().is_ok()).collect();
    if !existing.is_empty() && !a.force {
        let names: Vec<String> = existing.iter().map(|p| p.display().to_string()).collect();
        bail!(rein::Error::state(
            format!("{} already exist{}", names.join(", "), if names.len() == 1 { "s" } else { "" }),
            Some("remove them, or add --force to replace them".into()),
        ));
    }
    if a.dry_run {
        for l in &links {
            outln!("ln -sf {} {}", exe.display(), l.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Each link goes in under a temporary name and is renamed over the old one, so a
    // failure leaves every name either as it was or installed; the ones this run
    // installed are removed again when a later one fails.
    let mut done: Vec<&Path> = Vec::new();
    for l in &links {
        let tmp = l.with_extension("rein-tmp");
        let _ = std::fs::remove_file(&tmp);
        let r = std::os::unix::fs::symlink(&exe, &tmp).and_then(|()| std::fs::rename(&tmp, l));
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            if !a.force {
                for d in &done {
                    let _ = std::fs::remove_file(d);
                }
            }
            return Err(anyhow::anyhow!("cannot link {} to {}: {e}", l.display(), exe.display()));
        }
        done.push(l);
    }
    Ok(ExitCode::SUCCESS)
}
