//! One module per command; each turns parsed arguments into library calls and output.

mod check;
mod compat;
mod config;
mod driver;
mod events;
pub mod exporter;
pub mod groups;
pub mod host;
mod manual;
mod plot;
mod run;
mod sampling;
mod stat;
mod supervise;
pub mod top;

use std::process::ExitCode;
use std::sync::Arc;

use rein::Hierarchy;

use crate::cli::{Cli, Command};

/// Runs the command.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let hierarchy = || -> anyhow::Result<Arc<Hierarchy>> { Ok(Arc::new(detect(&cli)?)) };
    let drivers = driver::DriverOpts {
        driver: cli.globals.driver,
        user: cli.globals.user,
        fake_tree: cli.globals.cgroup_root.is_some(),
    };
    match &cli.command {
        Command::Check { json } => check::check(&hierarchy()?, drivers, *json),
        Command::Run(args) => run::run(args, drivers, &hierarchy),
        Command::Groups(cmd) => groups::dispatch(cmd, &hierarchy),
        Command::Apply(args) => config::apply(args, &hierarchy),
        Command::Diff(args) => config::diff(args, &hierarchy),
        Command::Snapshot(args) => config::snapshot(args, &hierarchy),
        Command::Down(args) => config::down(args, &hierarchy),
        Command::Validate(args) => config::validate(args),
        Command::Supervise(args) => supervise::supervise(args, &hierarchy),
        Command::Stat(args) => stat::stat(args, &hierarchy),
        Command::Events(args) => events::events(args, &hierarchy),
        Command::Plot(args) => plot::plot(args),
        Command::Top(args) => top::top(args, &hierarchy),
        Command::Exporter(args) => exporter::exporter(args, &hierarchy),
        Command::Completions(args) => manual::completions(args),
        Command::Man(args) => manual::write_pages(args),
    }
}

fn detect(cli: &Cli) -> rein::Result<Hierarchy> {
    host::detect_at(cli.globals.cgroup_root.as_deref())
}
