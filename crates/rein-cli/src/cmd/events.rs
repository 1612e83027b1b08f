//! `rein events`: a stream of OOM kills, limit hits, pressure triggers and emptied groups.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rein::events::{Event, EventKind, Options, PressureTrigger, Watcher};
use rein::units::parse_duration_usec;
use rein::{Group, GroupPath, Hierarchy};

use crate::cli::EventsArgs;
use crate::report;

pub fn events(args: &EventsArgs, hierarchy: &dyn Fn() -> anyhow::Result<Arc<Hierarchy>>) -> anyhow::Result<ExitCode> {
    let paths = args.names.iter().map(|n| GroupPath::parse(n)).collect::<rein::Result<Vec<_>>>()?;
    let parent = GroupPath::parse(&args.parent).context("--parent")?;
    let triggers = args.pressure.iter().map(|t| PressureTrigger::parse(t)).collect::<rein::Result<Vec<_>>>()?;
    let poll = parse_duration_usec(&args.poll).map_err(|e| rein::Error::invalid("--poll", &args.poll, e))?;
    if poll < 1000 {
        return Err(rein::Error::invalid("--poll", &args.poll, "must be at least 1ms").into());
    }
    let h = hierarchy()?;
    let mut w = Watcher::new(h.clone(), Options { triggers, poll_interval: Duration::from_micros(poll) })?;
    if paths.is_empty() {
        let p = Group::open(h.clone(), &parent).map_err(|e| match e {
            rein::Error::State { message, .. } => rein::Error::state(
                message,
                Some(format!("no 'rein run' has made {parent} yet: give group names, or another --parent")),
            ),
            other => other,
        })?;
        w.follow_children(&p)?;
        eoutln!("rein: watching the groups under {parent} ({} now, new ones too)", w.groups().count());
    } else {
        for p in &paths {
            w.add(&Group::open(h.clone(), p)?)?;
        }
        let names: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        eoutln!("rein: watching {}", names.join(", "));
    }
    let mut out = std::io::stdout().lock();
    for event in w {
        let event = event?;
        if args.json {
            writeln!(out, "{}", serde_json::to_string(&event)?)?;
        } else {
            writeln!(out, "{}", human(&event))?;
        }
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// `12:00:00.123  rein/run-1  oom_kill  1 process killed by the OOM killer (1 in all)`.
pub fn human(e: &Event) -> String {
    let what = match e.kind {
        EventKind::OomKill { count, total } => {
            format!("{} killed by the OOM killer ({total} in all)", plural(count, "process", "processes"))
        }
        EventKind::Oom { count, total } => {
            format!("hit its memory limit and entered OOM {} ({total} in all)", plural(count, "time", "times"))
        }
        EventKind::MemoryMax { count, total } => {
            format!("memory reached the hard limit {} ({total} in all)", plural(count, "time", "times"))
        }
        EventKind::MemoryHigh { count, total } => {
            format!("memory went above memory.high {}, throttled ({total} in all)", plural(count, "time", "times"))
        }
        EventKind::PidsMax { count, total } => {
            format!("{} refused by pids.max ({total} in all)", plural(count, "fork", "forks"))
        }
        EventKind::Pressure(t) => format!(
            "{t}: stalled more than {} within {}",
            rein::units::human_usec(t.threshold_usec),
            rein::units::human_usec(t.window_usec)
        ),
        EventKind::Policy { action, count, total } => {
            format!(
                "its policy took {} ({total} in all)",
                plural(count, &format!("{action} action"), &format!("{action} actions"))
            )
        }
        EventKind::Empty => "no process left".into(),
        EventKind::Removed => "the group was removed".into(),
        _ => String::new(),
    };
    format!("{}  {}  {:<11}  {what}", report::clock(e.time), e.group, e.kind.name())
}
