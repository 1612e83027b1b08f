//! `rein top`'s arguments: the options, the columns (`--sort`), the help epilogue.

use rein::stats::{Field, Fields};

/// `rein top --help` epilogue.
pub const HELP: &str = "Keys: q quit, arrows/PgUp/PgDn select, < > sort column, r reverse, / filter, \
t tree, a all groups or rein's, f freeze or thaw, k kill (both ask first).\n\n\
Columns: CPU% of one CPU; MEM in use and its LIMIT; MEM% of the limit; READ/s and WRITE/s over all \
devices; PIDS; PSI-MEM and PSI-CPU, the share of the last 10 s some task stalled (memory.pressure, \
cpu.pressure 'some avg10'); OOM, processes the OOM killer killed in the group.\n\n\
Examples:\n  rein top                      # rein's groups, live\n  \
rein top --all --tree         # every group, as a tree\n  \
rein top --once --sort mem    # one frame as text, for scripts";

/// `rein top`.
#[derive(clap::Args, Debug)]
pub struct TopArgs {
    /// Show this group and the groups below it (a path relative to the cgroup root)
    #[arg(value_name = "SUBTREE")]
    pub subtree: Option<String>,

    /// Show every group, not only rein's (the `rein` parent and groups rein marked)
    #[arg(short, long)]
    pub all: bool,

    /// Print one frame as text and exit (rates are measured over --interval)
    #[arg(long)]
    pub once: bool,

    /// Time between refreshes: 1s, 500ms, 2.5 (seconds)
    #[arg(short = 'd', long, value_name = "DURATION", default_value = "1s")]
    pub interval: String,

    /// Sort by this column
    #[arg(short, long, value_name = "COLUMN", default_value = "cpu")]
    pub sort: Column,

    /// Reverse the sort order
    #[arg(short, long)]
    pub reverse: bool,

    /// Show only groups whose path contains TEXT
    #[arg(short, long, value_name = "TEXT")]
    pub filter: Option<String>,

    /// Show groups as a tree (children under their parent)
    #[arg(short, long)]
    pub tree: bool,
}

/// A column of `rein top`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Column {
    /// The group's path
    Group,
    /// CPU use, percent of one CPU
    Cpu,
    /// Memory in use
    Mem,
    /// Memory limit (memory.max / memory.limit_in_bytes)
    Limit,
    /// Memory in use as a share of the limit
    MemPct,
    /// Bytes read per second
    IoRead,
    /// Bytes written per second
    IoWrite,
    /// Network bytes received per second (groups with rein's network programs)
    NetRx,
    /// Network bytes sent per second
    NetTx,
    /// Tasks
    Pids,
    /// Memory pressure: share of the last 10 s some task stalled on memory
    MemPsi,
    /// CPU pressure: share of the last 10 s some task waited for a CPU
    CpuPsi,
    /// Processes killed by the OOM killer in the group
    Oom,
}

impl Column {
    /// Every column, in display order.
    pub const ALL: [Column; 13] = [
        Column::Group,
        Column::Cpu,
        Column::Mem,
        Column::Limit,
        Column::MemPct,
        Column::IoRead,
        Column::IoWrite,
        Column::NetRx,
        Column::NetTx,
        Column::Pids,
        Column::MemPsi,
        Column::CpuPsi,
        Column::Oom,
    ];

    /// The header text.
    pub fn header(self) -> &'static str {
        match self {
            Column::Group => "GROUP",
            Column::Cpu => "CPU%",
            Column::Mem => "MEM",
            Column::Limit => "LIMIT",
            Column::MemPct => "MEM%",
            Column::IoRead => "READ/s",
            Column::IoWrite => "WRITE/s",
            Column::NetRx => "NET-RX/s",
            Column::NetTx => "NET-TX/s",
            Column::Pids => "PIDS",
            Column::MemPsi => "PSI-MEM",
            Column::CpuPsi => "PSI-CPU",
            Column::Oom => "OOM",
        }
    }

    /// The figures this column is computed from (a tree reads the files that feed them).
    pub fn fields(self) -> Fields {
        match self {
            Column::Group => Fields::NONE,
            Column::Cpu => Field::CpuUsage.into(),
            Column::Mem => Field::MemoryCurrent.into(),
            Column::Limit => Field::MemoryMax.into(),
            Column::MemPct => Fields::of(&[Field::MemoryCurrent, Field::MemoryMax]),
            Column::IoRead | Column::IoWrite => Field::Io.into(),
            Column::NetRx | Column::NetTx => Field::Network.into(),
            Column::Pids => Field::PidsCurrent.into(),
            Column::MemPsi => Field::PressureMemory.into(),
            Column::CpuPsi => Field::PressureCpu.into(),
            Column::Oom => Field::MemoryOomKill.into(),
        }
    }

    /// Numbers sort largest first; names A to Z.
    pub fn descending(self) -> bool {
        self != Column::Group
    }

    /// The column left (-1) or right (+1) of this one, wrapping.
    #[cfg_attr(not(feature = "tui"), allow(dead_code))]
    pub fn step(self, by: isize) -> Column {
        let i = Column::ALL.iter().position(|c| *c == self).unwrap_or(0) as isize;
        Column::ALL[(i + by).rem_euclid(Column::ALL.len() as isize) as usize]
    }
}
