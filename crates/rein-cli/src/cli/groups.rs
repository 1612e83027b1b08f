//! Command-line syntax of the named-group commands: create, set, show, ls, exec, move,
//! freeze, thaw, kill, rm, gc, and `compat install`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::limits::LimitArgs;

/// Names a group: `NAME` (a path relative to the cgroup root), or libcgroup's
/// `-g CONTROLLERS:NAME`.
#[derive(Args, Debug, Clone, Default)]
pub struct GroupArg {
    /// The group: a path relative to the cgroup root, e.g. web or tenants/a
    #[arg(value_name = "NAME", required_unless_present = "group")]
    pub name: Option<String>,

    /// The group in libcgroup's form CONTROLLERS:PATH (memory,cpu:web; * for all);
    /// repeatable to add controllers
    #[arg(short = 'g', value_name = "CONTROLLERS:PATH")]
    pub group: Vec<String>,
}

/// Raw interface-file settings, libcgroup style.
#[derive(Args, Debug, Clone, Default)]
pub struct RawArgs {
    /// Write an interface file: NAME=VALUE (memory.limit_in_bytes=20971520, cpu.max=...);
    /// v1 names are translated on v2 and v2 names on v1; repeatable
    #[arg(short = 'r', long = "raw", value_name = "NAME=VALUE", help_heading = "Limits")]
    pub raw: Vec<String>,
}

/// The named-group commands.
#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Create a named group with limits (kept until 'rein rm')
    #[command(after_help = CREATE_HELP)]
    Create(Box<CreateArgs>),
    /// Change a group's limits live
    Set(Box<CreateArgs>),
    /// Show a group: its limit files as written, the same limits in rein's terms, usage
    Show(ShowArgs),
    /// List groups, and which of them rein made
    Ls(LsArgs),
    /// Run a command inside an existing group (the command replaces rein, like cgexec)
    Exec(Box<ExecArgs>),
    /// Move running processes (with all their threads) into a group, like cgclassify
    Move(MoveArgs),
    /// Freeze every process in a group
    Freeze(NameArgs),
    /// Thaw a frozen group
    Thaw(NameArgs),
    /// Kill every process in a group (SIGKILL through cgroup.kill), or send a signal
    Kill(KillArgs),
    /// Remove a group; refuses one that holds processes or child groups unless told
    Rm(RmArgs),
    /// Remove the transient groups a crashed 'rein run' left behind (empty, rein's own)
    Gc(GcArgs),
    /// libcgroup compatibility: install cgcreate, cgset, cgget, cgexec, cgclassify and
    /// cgdelete as names of rein
    #[command(subcommand)]
    Compat(CompatCommand),
}

const CREATE_HELP: &str = "Examples:\n  rein create web --memory 512M --cpu 50%\n  \
rein create -g memory,cpu:tenants/a -r memory.limit_in_bytes=20971520\n  \
rein create batch -p MemoryMax=1G -p CPUQuota=150%\n  \
rein create api --memory 1g --memory-swap 2g --cpus 1.5 --pids-limit 100\n\n\
Without -g the group gets every limit controller the host offers (cpu, cpuset, memory, io, pids),\n\
so later 'rein set' can use them; with -g only the controllers named.";

/// `rein create` and `rein set`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    pub group: GroupArg,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub raw: RawArgs,

    /// Print every mkdir and write rein would do, and do nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `rein show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    pub group: GroupArg,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `rein ls`.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// List only beneath this group
    #[arg(value_name = "UNDER")]
    pub under: Option<String>,

    /// Show the hierarchy as an indented tree
    #[arg(long)]
    pub tree: bool,

    /// Only groups rein made
    #[arg(long)]
    pub mine: bool,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `rein exec`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    #[command(flatten)]
    pub group: GroupArg,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub raw: RawArgs,

    /// Print what rein would do, and do nothing
    #[arg(long)]
    pub dry_run: bool,

    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// `rein move`.
#[derive(Args, Debug)]
pub struct MoveArgs {
    /// The group
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Process ids
    #[arg(value_name = "PID", required = true)]
    pub pids: Vec<String>,

    /// Print the writes rein would do, and do nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// A command that only names a group.
#[derive(Args, Debug)]
pub struct NameArgs {
    /// The group
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Print the write rein would do, and do nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `rein kill`.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// The group
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Send this signal to every process instead (TERM, SIGHUP, 15, ...)
    #[arg(short, long, value_name = "SIG")]
    pub signal: Option<String>,

    /// Print what rein would do, and do nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `rein rm`.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// The group
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Kill the processes inside first
    #[arg(long)]
    pub kill: bool,

    /// Remove child groups too
    #[arg(short, long)]
    pub recursive: bool,

    /// Print what rein would do, and do nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `rein gc`.
#[derive(Args, Debug)]
pub struct GcArgs {
    /// Look only beneath this group (default: the whole tree)
    #[arg(value_name = "UNDER")]
    pub under: Option<String>,

    /// List what would be removed, and remove nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `rein compat ...`.
#[derive(Subcommand, Debug)]
pub enum CompatCommand {
    /// Make cgcreate, cgset, cgget, cgexec, cgclassify, cgdelete, lscgroup, lssubsys, cgxget, cgxset and cgsnapshot in DIR run rein
    Install(InstallArgs),
}

/// `rein compat install`.
#[derive(Args, Debug)]
pub struct InstallArgs {
    /// Where to put the links (e.g. /usr/local/bin)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Replace files of those names that exist
    #[arg(long)]
    pub force: bool,

    /// Print the links rein would make, and make none
    #[arg(long)]
    pub dry_run: bool,
}
