//! Command-line syntax.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub mod exporter;
pub mod groups;
pub mod limits;
pub mod policy;
pub mod top;

use self::exporter::ExporterArgs;
use self::limits::LimitArgs;
use self::policy::PolicyArgs;
use self::top::TopArgs;

/// Put processes on a resource rein with cgroups: CPU, memory, IO, pids and cpuset
/// limits on cgroup v2, v1 and hybrid hosts. No daemon.
#[derive(Parser, Debug)]
#[command(name = "rein", version, max_term_width = 100, after_help = EXIT_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub globals: Globals,

    /// What to do
    #[command(subcommand)]
    pub command: Command,
}

/// The options every command takes.
#[derive(clap::Args, Debug)]
pub struct Globals {
    /// Use this directory as the cgroup tree instead of the mounted hierarchies
    /// (a v2 root, or v1 mounts side by side; for tests and dry runs)
    #[arg(long, global = true, env = "REIN_CGROUP_ROOT", value_name = "DIR", hide = true)]
    pub cgroup_root: Option<PathBuf>,

    /// Who makes the groups: systemd (transient units over D-Bus), cgroupfs (rein writes
    /// the cgroup files), or auto: systemd where it is PID 1 on a cgroup v2 host and its bus
    /// answers, cgroupfs otherwise ('rein check' says which and why)
    #[arg(long, global = true, env = "REIN_DRIVER", value_enum, default_value_t = DriverArg::Auto)]
    pub driver: DriverArg,

    /// Use your own systemd user manager (rootless, in your delegated subtree) instead of
    /// the system manager; implies the systemd driver
    #[arg(long, global = true)]
    pub user: bool,
}

impl Cli {
    /// Parses the command line, exiting with clap's message (status 2) on a usage error.
    ///
    /// `rein run` and `rein exec` start other programs, so their start-up is their cost:
    /// building clap's whole command tree (every command's options and help) was most of
    /// rein's own user time. They are parsed first against a tree holding only their own
    /// subcommand; anything that does not parse cleanly there (a mistake, `--help`, a global
    /// option before the command) goes through the whole tree, so every message is the same.
    pub fn parse_args() -> Cli {
        let args: Vec<OsString> = std::env::args_os().collect();
        Cli::parse_lean(&args).unwrap_or_else(|| Cli::parse_from(args))
    }

    /// The parse of `args` against the tree of its subcommand alone, when that is `run` or
    /// `exec` and it parses cleanly.
    fn parse_lean(args: &[OsString]) -> Option<Cli> {
        use clap::{Args, FromArgMatches};
        let sub = args.get(1)?.to_str()?;
        let tree = match sub {
            "run" => RunArgs::augment_args(clap::Command::new("run")),
            "exec" => groups::ExecArgs::augment_args(clap::Command::new("exec")),
            _ => return None,
        };
        let mut root = Globals::augment_args(clap::Command::new("rein"))
            .subcommand_required(true)
            .arg_required_else_help(true)
            .subcommand(tree);
        let matches = root.try_get_matches_from_mut(args).ok()?;
        let cli = Cli::from_arg_matches(&matches).ok();
        // Freeing clap's tree and matches took ~10% of a `rein run`'s user-space
        // instructions (callgrind: 651k -> 581k): kept instead, ~75 KiB of heap for the
        // life of the process, which its peak held anyway (valgrind's dhat: peak +6 KiB),
        // as compilers keep their parse trees (clang's -disable-free).
        std::mem::forget(root);
        std::mem::forget(matches);
        cli
    }
}

const EXIT_HELP: &str = "Exit status: 'rein run' ends as the command did (its status; killed by signal N, rein \
dies of signal N, which a shell shows as 128+N), 125 when rein failed, 126 when the command cannot be \
executed, 127 when it is not found, 124 when --timeout ended it, 152 when --cpu-time did; 'rein diff \
--exit-code' returns 1 when applying would change something; other commands return 0, 125 on error, 2 on a \
usage error.";

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show the cgroup mode, where each controller is bound, and what rein can do here
    Check {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Run a command in a new transient group with limits, then report and remove the group
    #[command(after_help = RUN_HELP)]
    Run(Box<RunArgs>),
    #[command(flatten)]
    Groups(groups::GroupCommand),
    /// Make the groups of a rein.toml file exist with its limits (idempotent, all or nothing)
    #[command(after_help = APPLY_HELP)]
    Apply(ApplyArgs),
    /// Show what 'rein apply FILE' would create, change (old -> new per file) and remove
    #[command(after_help = DIFF_HELP)]
    Diff(DiffArgs),
    /// Remove the groups a rein.toml file made (refuses populated ones unless --kill)
    Down(DownArgs),
    /// Check a rein.toml file: every mistake, with its line and column
    Validate(ValidateArgs),
    /// Write the live groups as a rein.toml that 'rein apply' reproduces
    #[command(after_help = SNAPSHOT_HELP)]
    Snapshot(SnapshotArgs),
    /// Enforce the policies of a rein.toml file's groups (timeout, cpu-time, on-pressure,
    /// on-oom) in the foreground, following the groups as they come and go
    #[command(after_help = SUPERVISE_HELP)]
    Supervise(SuperviseArgs),
    /// Show groups' usage: CPU, memory, pids, IO, pressure, OOM kills
    #[command(after_help = STAT_HELP)]
    Stat(StatArgs),
    /// Stream groups' events: OOM kills, limit hits, pressure triggers, groups emptied
    #[command(after_help = EVENTS_HELP)]
    Events(EventsArgs),
    /// Draw a recorded run (rein run --record) as an SVG or PNG picture
    #[command(after_help = PLOT_HELP)]
    Plot(PlotArgs),
    /// Watch groups live: CPU, memory, IO, pids, pressure, OOM kills; freeze, thaw or kill one
    #[command(after_help = top::HELP)]
    Top(TopArgs),
    /// Serve the groups' accounting to Prometheus: OpenMetrics text over HTTP
    #[command(after_help = exporter::HELP)]
    Exporter(ExporterArgs),
    /// Print a shell's completion script for rein (bash, zsh, fish, elvish, powershell)
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Write rein's man pages into DIR: rein.1, one per command (rein-run.1, ...), and one
    /// per libcgroup tool name rein answers to (rein-cgcreate.1, ...)
    Man(ManArgs),
}

const COMPLETIONS_HELP: &str = "Examples:\n  source <(rein completions bash)\n  \
rein completions bash > /usr/share/bash-completion/completions/rein\n  \
rein completions zsh > /usr/share/zsh/vendor-completions/_rein\n  \
rein completions fish > /usr/share/fish/vendor_completions.d/rein.fish";

/// `rein completions`.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `rein man`.
#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// The directory to write the pages into (made if missing), e.g. /usr/local/share/man/man1
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

const STAT_HELP: &str = "Examples:\n  rein stat rein/run-4242\n  rein stat --watch 1s tenants/a tenants/b\n  \
rein stat --json rein/run-4242 | jq .memory.peak\n\n\
NAME is a group path relative to the hierarchy root. CPU% needs two samples: it is shown from the second \
sample of --watch on. JSON: one object per group per sample (JSON Lines), sizes in bytes, times in \
microseconds; fields the kernel does not provide are absent (docs/OBSERVABILITY.md).";

const EVENTS_HELP: &str = "Examples:\n  rein events rein/run-4242\n  rein events --json --pressure memory:some:150ms/1s tenants/a\n  \
rein events                      # every group under /rein, those started later too\n\n\
Events: oom_kill, oom, memory_max, memory_high, pids_max, pressure, empty, removed. rein events runs until \
every named group is removed, or until interrupted.";

const PLOT_HELP: &str = "Example:\n  rein run --record r.json --memory 64M -- ./job\n  rein plot r.json -o r.png\n\n\
Draws memory and CPU over time, the limits as dashed lines and OOM kills as red marks.";

const APPLY_HELP: &str = "Examples:\n  rein validate examples/dev-environment.toml\n  \
rein apply examples/dev-environment.toml            # again: 'no change'\n  \
rein diff examples/dev-environment.toml             # after editing a limit: that change, old -> new\n  \
rein apply --prune --start rein.toml                # remove groups gone from the file; start commands\n  \
rein down examples/dev-environment.toml\n\n\
A failed write undoes the whole apply: groups it created are removed, values it changed restored. \
The file's format: docs/CONFIG.md.";

const DIFF_HELP: &str = "Examples:\n  rein diff rein.toml\n  \
rein diff --exit-code rein.toml || rein apply rein.toml     # apply only when something changes\n  \
rein diff --json rein.toml | jq .changed\n\n\
Exit status: 0, or with --exit-code 0 when applying would change nothing and 1 when it would; 125 on \
an error (a mistake in the file: every one is printed, and with --json listed under \"errors\"); 2 on \
a usage error.";

/// A rein.toml file and where its groups go.
#[derive(clap::Args, Debug)]
pub struct FileArgs {
    /// The rein.toml file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Put the file's groups (and its own parent) beneath this group
    #[arg(long, value_name = "PATH")]
    pub parent: Option<String>,
}

/// `rein supervise`.
#[derive(clap::Args, Debug)]
pub struct SuperviseArgs {
    #[command(flatten)]
    pub file: FileArgs,

    /// Print each action as a JSON object per line
    #[arg(long)]
    pub json: bool,
}

const SUPERVISE_HELP: &str = "Each action is a line on stdout (time, group, action, why) and is counted on the group \
itself, where 'rein events' and the exporter see it. SIGINT or SIGTERM stop it: frozen groups are thawed, throttled \
limits restored. See docs/POLICIES.md.";

/// `rein apply`.
#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub file: FileArgs,

    /// Also remove the groups this file made that it no longer declares
    #[arg(long)]
    pub prune: bool,

    /// Kill the processes of groups being removed (else a populated group is refused)
    #[arg(long, requires = "prune")]
    pub kill: bool,

    /// Start each group's command (its 'command' key) when the group holds no process
    #[arg(long)]
    pub start: bool,

    /// Print every mkdir, write and rmdir rein would do, and do nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `rein diff`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    pub file: FileArgs,

    /// Include the removals 'apply --prune' would do
    #[arg(long)]
    pub prune: bool,

    /// Print JSON (the diff, and "changed": whether applying would change anything)
    #[arg(long)]
    pub json: bool,

    /// Exit with 1 when applying would change anything, 0 when not (as 'git diff --exit-code')
    #[arg(long)]
    pub exit_code: bool,
}

/// `rein down`.
#[derive(clap::Args, Debug)]
pub struct DownArgs {
    #[command(flatten)]
    pub file: FileArgs,

    /// Kill the processes inside first
    #[arg(long)]
    pub kill: bool,

    /// Print what rein would remove, and remove nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `rein snapshot`.
#[derive(clap::Args, Debug)]
pub struct SnapshotArgs {
    /// Groups to write, with every group beneath them (relative to --parent); default:
    /// every group rein made
    #[arg(value_name = "GROUP")]
    pub groups: Vec<String>,

    /// Read the groups beneath this group, and write it as the file's parent
    #[arg(long, value_name = "PATH")]
    pub parent: Option<String>,

    /// Write the file here instead of standard output
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

const SNAPSHOT_HELP: &str = "The limits are read back from the kernel (as 'rein show' reads them) and written as \
rein.toml limit keys; defaults (max, weight 100, lists inherited from the parent) are left out, and so are device \
rules, network settings and the frozen state. See docs/CONFIG.md.";

/// `rein validate`.
#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// The rein.toml file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `rein stat`.
#[derive(clap::Args, Debug)]
pub struct StatArgs {
    /// Groups, as paths relative to the hierarchy root (e.g. rein/run-4242)
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,

    /// Print JSON Lines: one object per group per sample
    #[arg(long)]
    pub json: bool,

    /// Sample again every INTERVAL (e.g. 1s, 500ms) until interrupted
    #[arg(long, value_name = "INTERVAL")]
    pub watch: Option<String>,
}

/// `rein events`.
#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Groups to watch; none: every child of --parent, those created later included
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    /// Print JSON Lines: one object per event
    #[arg(long)]
    pub json: bool,

    /// A PSI trigger RESOURCE:some|full:THRESHOLD/WINDOW, e.g. memory:some:150ms/1s (repeatable)
    #[arg(long, value_name = "TRIGGER")]
    pub pressure: Vec<String>,

    /// Parent whose children are watched when no NAME is given
    #[arg(long, value_name = "PATH", default_value = rein::mark::DEFAULT_PARENT)]
    pub parent: String,

    /// How often counters the kernel does not notify about are read (cgroup v1)
    #[arg(long, value_name = "INTERVAL", default_value = "100ms")]
    pub poll: String,
}

/// `rein plot`.
#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// A recording made by rein run --record
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The picture to write: .svg or .png
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
}

const RUN_HELP: &str = "Examples:\n  rein run --memory 256M --cpu 20% -- make -j4\n  \
rein run --memory 20M -- python3 -c 'b = bytearray(100*1024*1024)'    # exits 137, OOM reported\n  \
rein run --dry-run --memory 256M --cpu 20% -- true\n\n\
When the command exits, anything it left running in the group is killed and the group removed.\n\
SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to rein are forwarded to the command.";

/// `rein run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub limits: LimitArgs,

    /// Parent group for the transient group, created if missing (cgroupfs driver; default rein)
    #[arg(long, value_name = "PATH")]
    pub parent: Option<String>,

    /// Name of the transient group, one name without '/' (cgroupfs driver; default
    /// run-PID, PID being rein's); groups above it go in --parent
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Run in this existing group instead (NAME, or libcgroup's CONTROLLERS:NAME); it is
    /// kept, with its other processes, when the command ends
    #[arg(short = 'g', long = "group", value_name = "NAME", conflicts_with_all = ["parent", "name"])]
    pub group: Option<String>,

    /// Slice for the scope (systemd driver; default rein.slice): NAME or NAME.slice, '-'
    /// separating levels (a-b lives in a), '-' for the root slice
    #[arg(long, value_name = "SLICE")]
    pub slice: Option<String>,

    /// Name of the scope unit (systemd driver; default rein-run-PID.scope)
    #[arg(long, value_name = "NAME")]
    pub unit: Option<String>,

    /// Report what happened on stderr: human (default) or json
    #[arg(long, value_name = "FORMAT", num_args = 0..=1, require_equals = true, default_missing_value = "human")]
    pub report: Option<ReportFormat>,

    /// Print every mkdir and write rein would do, and do nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Record the group's usage and events over time into FILE (JSON Lines), for rein plot
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// How often --record samples
    #[arg(long, value_name = "INTERVAL", default_value = "100ms", requires = "record")]
    pub record_interval: String,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// The command and its arguments
    #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// `--driver` values.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverArg {
    /// systemd where it manages the hierarchy, cgroupfs otherwise
    Auto,
    /// Transient systemd units over D-Bus
    Systemd,
    /// rein writes the cgroup files itself
    Cgroupfs,
}

/// Report formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// Lines for people
    Human,
    /// One JSON object
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    /// The lean parse gives what the whole tree gives, and nothing where the whole tree
    /// refuses (so the user sees clap's message from the whole tree).
    #[test]
    fn the_lean_parse_of_run_and_exec_agrees_with_the_whole_tree() {
        let accepted = [
            "rein run -- true",
            "rein run --memory 256M --cpu 20% -- sleep 1",
            "rein run --memory 256M --cpus 1.5 --pids-limit 10 --report json -- sh -c exit",
            "rein run --report --memory 1G -- a b c",
            "rein run -p MemoryMax=256M -p CPUQuota=20% -- true",
            "rein run --parent jobs --name one --io-weight 200 --cpuset 0 -- true",
            "rein run --record r.json --record-interval 50ms --name one -- true",
            "rein run --slice work.slice --unit one -p MemoryHigh=1G -- true",
            "rein run -g jobs/one --memory-swap 1G --blkio-weight 300 -- true",
            "rein run --driver cgroupfs -- true",
            "rein run --user -- true",
            "rein run true --flag-of-the-command x",
            "rein run --memory 256M true",
            "rein exec web -- true",
            "rein exec -g memory,cpu:web -- /bin/true a",
            "rein exec web --memory 64M -r memory.max=64M -- true",
            "rein exec web --dry-run -- true",
            "rein exec --driver systemd web -- true",
        ];
        let refused = [
            "rein run",
            "rein run --memory",
            "rein run --no-such-option -- true",
            "rein run --sample 50ms -- true",
            "rein run -g a --parent b -- true",
            "rein exec",
            "rein exec web",
            "rein exec web true",
            "rein exec --no-such -- true",
            "rein run --help",
            "rein exec --help",
            "rein run -h",
        ];
        for line in accepted {
            let whole = Cli::try_parse_from(argv(line)).map(|c| format!("{c:?}"));
            assert!(whole.is_ok(), "{line}: {whole:?}");
            assert_eq!(Cli::parse_lean(&argv(line)).map(|c| format!("{c:?}")), whole.ok(), "{line}");
        }
        for line in refused {
            assert!(Cli::try_parse_from(argv(line)).is_err(), "{line}");
            assert!(Cli::parse_lean(&argv(line)).is_none(), "{line}");
        }
        assert!(Cli::parse_lean(&argv("rein run -- true")).is_some(), "the lean path is taken");
        assert!(Cli::parse_lean(&argv("rein ls")).is_none(), "only run and exec");
        assert!(Cli::parse_lean(&argv("rein --driver cgroupfs run -- true")).is_none(), "global option first");
    }
}
