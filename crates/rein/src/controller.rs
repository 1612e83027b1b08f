//! The cgroup controllers, by their v2 and v1 names: the list every other module names
//! controllers from (a new controller starts here: docs/ARCHITECTURE.md, "How to add a
//! controller").

use std::fmt;

use serde::Serialize;

/// A cgroup controller, named as in cgroup v2 where one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Controller {
    /// CPU bandwidth and weight (`cpu.max`, `cpu.weight`; v1 `cpu.cfs_*`, `cpu.shares`).
    Cpu,
    /// v1 only: CPU usage accounting (v2 has `cpu.stat` in the core).
    Cpuacct,
    /// CPU and memory-node placement.
    Cpuset,
    /// Memory limits and accounting.
    Memory,
    /// Block IO (`io.*`; v1 calls it `blkio`).
    Io,
    /// Process-count limit.
    Pids,
    /// v1 only: freezing (v2 has `cgroup.freeze` in the core).
    Freezer,
    /// Huge-page limits.
    Hugetlb,
    /// v1 only: device access (v2 uses eBPF programs instead).
    Devices,
    /// RDMA resources.
    Rdma,
    /// Miscellaneous scalar resources.
    Misc,
    /// v1 only: network class ids.
    NetCls,
    /// v1 only: network priorities.
    NetPrio,
    /// Performance-event grouping.
    PerfEvent,
}

impl Controller {
    /// Every controller rein knows.
    pub const ALL: [Controller; 14] = [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Io,
        Controller::Pids,
        Controller::Freezer,
        Controller::Hugetlb,
        Controller::Devices,
        Controller::Rdma,
        Controller::Misc,
        Controller::NetCls,
        Controller::NetPrio,
        Controller::PerfEvent,
    ];

    /// The name in cgroup v2's `cgroup.controllers`.
    pub fn v2_name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Io => "io",
            Controller::Pids => "pids",
            Controller::Freezer => "freezer",
            Controller::Hugetlb => "hugetlb",
            Controller::Devices => "devices",
            Controller::Rdma => "rdma",
            Controller::Misc => "misc",
            Controller::NetCls => "net_cls",
            Controller::NetPrio => "net_prio",
            Controller::PerfEvent => "perf_event",
        }
    }

    /// The name in a v1 mount's options (`blkio` for io).
    pub fn v1_name(self) -> &'static str {
        match self {
            Controller::Io => "blkio",
            other => other.v2_name(),
        }
    }

    /// Looks a controller up by its v1 or v2 name.
    pub fn from_name(name: &str) -> Option<Controller> {
        Controller::ALL.into_iter().find(|c| c.v2_name() == name || c.v1_name() == name)
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.v2_name())
    }
}
