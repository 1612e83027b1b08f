//! The policy flags of `rein run` (`--timeout`, `--cpu-time`, `--on-pressure`, ...), and
//! their translation into a [`rein::policy::Policy`] (whose parsers rein.toml shares).

use clap::Args;
use rein::policy::{OomAction, Policy, PressureRule, parse_deadline};

/// What rein does on its own while the command runs; see docs/POLICIES.md.
#[derive(Args, Debug, Default, Clone, PartialEq, Eq)]
#[command(next_help_heading = "Policies")]
pub struct PolicyArgs {
    /// At DURATION (1s, 1.5m, 2h) SIGTERM to every process of the group, then after
    /// --kill-after the group is killed; rein exits 124, as timeout(1)
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// CPU time for the whole group (all processes and threads): when used, the same
    /// SIGTERM, grace and kill; rein exits 152 (128 + SIGXCPU, as for ulimit -t)
    #[arg(long, value_name = "DURATION")]
    pub cpu_time: Option<String>,

    /// The grace between the SIGTERM and the kill of --timeout and --cpu-time (default
    /// 10s; 0 kills at once)
    #[arg(long, value_name = "DURATION")]
    pub kill_after: Option<String>,

    /// RESOURCE:some|full:THRESHOLD/WINDOW=ACTION: while tasks stall on cpu, memory or
    /// io (PSI) over THRESHOLD (20% or 200ms) of a WINDOW (500ms-10s): freeze the group
    /// (freeze:MAX bounds it), kill it, notify (notify:COMMAND runs COMMAND), or throttle
    /// (cpu.max; memory.high for memory); repeatable
    #[arg(long, value_name = "RULE")]
    pub on_pressure: Vec<String>,

    /// When the OOM killer kills a process: notify (an event line; notify:COMMAND also runs
    /// COMMAND with the event in its environment), or kill-group (memory.oom.group on v2)
    #[arg(long, value_name = "ACTION")]
    pub on_oom: Option<String>,
}

impl PolicyArgs {
    /// The policy, every value checked (exit 125 naming the flag and the value).
    pub fn to_policy(&self) -> rein::Result<Policy> {
        let mut p = Policy::default();
        p.timeout = self.timeout.as_deref().map(|s| parse_deadline("--timeout", s, false)).transpose()?;
        p.cpu_time = self.cpu_time.as_deref().map(|s| parse_deadline("--cpu-time", s, false)).transpose()?;
        p.kill_after = self.kill_after.as_deref().map(|s| parse_deadline("--kill-after", s, true)).transpose()?;
        p.on_pressure = self.on_pressure.iter().map(|s| PressureRule::parse(s)).collect::<rein::Result<_>>()?;
        p.on_oom = self.on_oom.as_deref().map(OomAction::parse).transpose()?;
        p.validate()?;
        Ok(p)
    }
}
