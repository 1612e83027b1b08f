//! Rendering accounting for people and programs: the run outcome line, the run report
//! (human and JSON), `rein stat` tables, clock times.

use std::time::SystemTime;

use crate::supervisor::Report;
use rein::launch::ExitStatus;
use rein::stats::{Pressure, Stats};
use rein::units::{Limit, human_bytes, human_usec};
use serde_json::json;

fn secs(usec: u64) -> String {
    format!("{:.3}s", usec as f64 / 1e6)
}

fn limit_text(l: Option<Limit<u64>>) -> String {
    match l {
        Some(Limit::Value(v)) => human_bytes(v),
        Some(Limit::Max) => "none".into(),
        None => "unknown".into(),
    }
}

/// Microseconds since the Unix epoch.
pub fn unix_usec(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Local wall-clock time `HH:MM:SS.mmm`.
#[allow(unsafe_code)] // localtime_r into a tm we own: libc's only timezone-aware clock
pub fn clock(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    // SAFETY: localtime_r fills the tm we own from a valid time_t (its width is the C
    // library's: `as _` takes it from localtime_r's signature).
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&(d.as_secs() as _), &mut tm);
        tm
    };
    format!("{:02}:{:02}:{:02}.{:03}", tm.tm_hour, tm.tm_min, tm.tm_sec, d.subsec_millis())
}

/// The line printed whatever the flags: OOM kills, or death by signal.
pub fn print_outcome(r: &Report, program: &str) {
    let mem = r.stats.memory.unwrap_or_default();
    let peak = mem.peak.map(human_bytes).unwrap_or_else(|| "unknown".into());
    if r.oom_kills > 0 {
        // A SIGKILL death is the OOM killer's unless rein's policy killed the group (its
        // own line below says so): then the OOM kill was of another process.
        let policy_killed = r.policy.as_ref().is_some_and(|p| p.verdict.is_some());
        let who = if r.status == ExitStatus::Signaled(libc::SIGKILL) && !policy_killed {
            format!("{program} was killed by the kernel OOM killer")
        } else {
            "the kernel OOM killer killed a process in the group".to_string()
        };
        let kills = if r.oom_kills == 1 { "1 OOM kill".to_string() } else { format!("{} OOM kills", r.oom_kills) };
        eoutln!("rein: {who}: memory limit {}, peak {peak}, {kills} in {}", limit_text(mem.max), r.group);
    }
    if let Some(v) = r.policy.as_ref().and_then(|p| p.verdict) {
        use rein::policy::Verdict;
        let why = match v {
            Verdict::TimedOut => "timed out".to_string(),
            Verdict::CpuTimeUsed { used_usec } => {
                format!("used its CPU-time budget ({} when rein acted)", human_usec(used_usec))
            }
            Verdict::KilledOnPressure { trigger } => format!("was killed by its pressure policy ({trigger})"),
            Verdict::KilledOnOom => "was killed whole after an OOM kill (--on-oom kill-group)".to_string(),
            _ => "was ended by its policy".to_string(),
        };
        let code = v.exit_code().map(|c| format!(", exit {c}")).unwrap_or_default();
        eoutln!("rein: {} {why}{code}", r.group);
    }
}

/// The policy line of a report: `freeze 2, thaw 2`.
fn policy_line(r: &Report) -> Option<String> {
    let p = r.policy.as_ref()?;
    let acts: Vec<String> = p.actions.iter().map(|(k, v)| format!("{k} {v}")).collect();
    Some(if acts.is_empty() { "no action".into() } else { acts.join(", ") })
}

fn pressure_line(name: &str, p: &Option<Pressure>) -> Option<String> {
    let p = p.as_ref()?;
    let full = p.full.map(|f| format!(", all stalled {}", human_usec(f.total_usec))).unwrap_or_default();
    Some(format!("{name} {}{full}", human_usec(p.some.total_usec)))
}

/// Human report, several lines: everything the group's accounting has, in people's units.
pub fn human(r: &Report) -> String {
    let s = &r.stats;
    let mut out = String::new();
    let mut line = |label: &str, text: String| out.push_str(&format!("  {label:<11} {text}\n"));
    let status = match r.status {
        ExitStatus::Exited(c) => format!("exited with {c}"),
        ExitStatus::Signaled(sig) => format!("killed by signal {sig} (exit {})", r.exit_code),
    };
    let mut head = match &r.unit {
        Some(unit) => format!("rein: {unit} ({}) {status}\n", r.group),
        None => format!("rein: {} {status}\n", r.group),
    };
    line("wall", secs(r.wall_usec));
    if let Some(p) = policy_line(r) {
        line("policy", p);
    }
    let user = s.cpu.user_usec.unwrap_or(r.rusage.user_usec);
    let sys = s.cpu.system_usec.unwrap_or(r.rusage.system_usec);
    let total = s.cpu.usage_usec.unwrap_or(user + sys);
    let pct = if r.wall_usec > 0 { total as f64 * 100.0 / r.wall_usec as f64 } else { 0.0 };
    line("cpu", format!("{} (user {}, system {}), {pct:.1}% of one CPU", secs(total), secs(user), secs(sys)));
    if let Some(limit) = s.cpu.max.and_then(|m| m.percent()) {
        let throttled = s.cpu.throttled_usec.map(secs).unwrap_or_else(|| "?".into());
        line(
            "cpu limit",
            format!(
                "{limit:.0}% of one CPU, throttled {throttled} in {} of {} periods",
                s.cpu.nr_throttled.unwrap_or(0),
                s.cpu.nr_periods.unwrap_or(0)
            ),
        );
    }
    if let Some(m) = s.memory {
        let peak = m.peak.map(human_bytes).unwrap_or_else(|| "unknown".into());
        let mut text = format!("peak {peak}, limit {}", limit_text(m.max));
        if let Some(Limit::Value(h)) = m.high {
            text.push_str(&format!(", memory.high {} (above it {} times)", human_bytes(h), m.high_events.unwrap_or(0)));
        }
        if let Some(n) = m.max_events.filter(|n| *n > 0) {
            text.push_str(&format!(", limit reached {n} times"));
        }
        line("memory", text);
        // Swap only where it matters: some used, or a limit set.
        if let Some(sw) = m.swap_current.filter(|sw| *sw > 0 || matches!(m.swap_max, Some(Limit::Value(_)))) {
            line("swap", format!("{} now, limit {}", human_bytes(sw), limit_text(m.swap_max)));
        }
    } else {
        line("memory", format!("peak RSS {} (of the command)", human_bytes(r.rusage.maxrss_bytes)));
    }
    line("oom kills", r.oom_kills.to_string());
    if let Some(p) = s.pids {
        let mut text = p.peak.map(|n| format!("peak {n}")).unwrap_or_else(|| "peak unknown".into());
        if let Some(Limit::Value(max)) = p.max {
            text.push_str(&format!(", limit {max}"));
        }
        if let Some(n) = p.max_events.filter(|n| *n > 0) {
            text.push_str(&format!(", {n} forks refused"));
        }
        line("pids", text);
    }
    for d in s.io.iter().flatten().filter(|d| d.rbytes.unwrap_or(0) + d.wbytes.unwrap_or(0) > 0) {
        line(
            &format!("io {}", d.device),
            format!(
                "read {} in {} ops, written {} in {} ops",
                human_bytes(d.rbytes.unwrap_or(0)),
                d.rios.unwrap_or(0),
                human_bytes(d.wbytes.unwrap_or(0)),
                d.wios.unwrap_or(0)
            ),
        );
    }
    if let Some(n) = &s.network {
        let mut text = format!(
            "sent {} in {} packets, received {} in {} packets",
            human_bytes(n.tx_bytes),
            n.tx_packets,
            human_bytes(n.rx_bytes),
            n.rx_packets
        );
        if n.tx_dropped + n.rx_dropped > 0 {
            text.push_str(&format!("; over the limit: {} out, {} in dropped", n.tx_dropped, n.rx_dropped));
        }
        if let Some(d) = &r.net_drain {
            text.push_str(&drain_text(d));
        }
        line("network", text);
    }
    if let Some(p) = &s.pressure {
        let parts: Vec<String> = [("cpu", &p.cpu), ("memory", &p.memory), ("io", &p.io)]
            .iter()
            .filter_map(|(n, p)| pressure_line(n, p))
            .collect();
        if !parts.is_empty() {
            line("stalled", parts.join("; "));
        }
    }
    if r.killed_leftovers {
        line("leftovers", "processes were still running when the command exited; rein killed them".into());
    }
    head.push_str(&out);
    head
}

/// What the network line adds about the sockets' drain: nothing when they drained.
fn drain_text(d: &rein::drain::Drain) -> String {
    use rein::drain::{DrainEnd, DrainLimits};
    // The supervisor waits with the default limits.
    let limits = DrainLimits::default();
    let why = match d.end {
        DrainEnd::Drained => return String::new(),
        DrainEnd::Unseen => {
            return format!(
                "; what the group's sockets still had to send at exit may be missing ({})",
                d.error.as_deref().unwrap_or("they could not be listed")
            );
        }
        DrainEnd::Stalled => format!("nothing drained for {} s: a peer stopped reading", limits.quiet.as_secs()),
        DrainEnd::Capped => format!("rein waits {} s at most", limits.cap.as_secs()),
        DrainEnd::Interrupted => "rein was interrupted".into(),
        _ => "rein stopped waiting".into(),
    };
    let sockets = if d.left.sockets == 1 { "1 socket".to_string() } else { format!("{} sockets", d.left.sockets) };
    format!(
        "; {} still queued in the group's sockets ({sockets}) after {} of waiting, not counted ({why})",
        human_bytes(d.left.bytes),
        secs(d.waited_usec)
    )
}

/// JSON report: summary fields in base units, and the full accounting under "stats"
/// (the schema of `rein stat --json`).
pub fn json(r: &Report) -> String {
    let s = &r.stats;
    let user = s.cpu.user_usec.or(Some(r.rusage.user_usec));
    let sys = s.cpu.system_usec.or(Some(r.rusage.system_usec));
    let mem = s.memory.unwrap_or_default();
    let v = json!({
        "group": r.group,
        "unit": r.unit,
        "status": r.status,
        "exit_code": r.exit_code,
        "wall_usec": r.wall_usec,
        "cpu_usage_usec": s.cpu.usage_usec,
        "cpu_user_usec": user,
        "cpu_system_usec": sys,
        "cpu_throttled_usec": s.cpu.throttled_usec,
        "cpu_nr_throttled": s.cpu.nr_throttled,
        "memory_peak_bytes": mem.peak,
        "memory_max_bytes": mem.max,
        "oom_kills": r.oom_kills,
        "pids_peak": s.pids.and_then(|p| p.peak),
        "net_tx_bytes": s.network.map(|n| n.tx_bytes),
        "net_rx_bytes": s.network.map(|n| n.rx_bytes),
        "killed_leftovers": r.killed_leftovers,
        "stats": s,
    });
    let mut v = v;
    if let Some(d) = &r.net_drain {
        // What was still queued (not counted in net_tx_bytes), and the whole story.
        v["net_queued_bytes"] = json!(d.left.bytes);
        v["net_drain"] = json!(d);
    }
    if let Some(p) = &r.policy {
        v["policy"] = json!(p);
    }
    v.to_string()
}

/// One `rein stat` table row.
pub fn stat_row(group: &str, cpu_percent: Option<f64>, s: &Stats) -> Vec<String> {
    let dash = || "-".to_string();
    let opt_bytes = |v: Option<u64>| v.map(human_bytes).unwrap_or_else(dash);
    let limit = |v: Option<Limit<u64>>, bytes: bool| match v {
        Some(Limit::Value(n)) if bytes => human_bytes(n),
        Some(Limit::Value(n)) => n.to_string(),
        Some(Limit::Max) => "max".into(),
        None => dash(),
    };
    let mem = s.memory.unwrap_or_default();
    let pids = s.pids.unwrap_or_default();
    let (read, write) =
        s.io_totals().map(|(r, w)| (human_bytes(r), human_bytes(w))).unwrap_or_else(|| (dash(), dash()));
    let psi = s.pressure.map(|p| {
        let avg = |x: Option<Pressure>| x.map(|x| format!("{:.1}", x.some.avg10)).unwrap_or_else(dash);
        format!("{}/{}/{}", avg(p.cpu), avg(p.memory), avg(p.io))
    });
    vec![
        group.to_string(),
        cpu_percent.map(|p| format!("{p:.1}")).unwrap_or_else(dash),
        s.cpu.user_usec.map(human_usec).unwrap_or_else(dash),
        s.cpu.system_usec.map(human_usec).unwrap_or_else(dash),
        s.cpu.throttled_usec.map(human_usec).unwrap_or_else(dash),
        s.cpu.max.map(|m| m.percent().map(|p| format!("{p:.0}%")).unwrap_or_else(|| "max".into())).unwrap_or_else(dash),
        s.memory.map(|_| opt_bytes(mem.current)).unwrap_or_else(dash),
        s.memory.map(|_| opt_bytes(mem.peak)).unwrap_or_else(dash),
        limit(mem.max, true),
        s.memory.map(|_| opt_bytes(mem.swap_current)).unwrap_or_else(dash),
        mem.oom_kill.map(|n| n.to_string()).unwrap_or_else(dash),
        pids.current.map(|n| n.to_string()).unwrap_or_else(dash),
        limit(pids.max, false),
        read,
        write,
        s.network.map(|n| human_bytes(n.rx_bytes)).unwrap_or_else(dash),
        s.network.map(|n| human_bytes(n.tx_bytes)).unwrap_or_else(dash),
        psi.unwrap_or_else(dash),
    ]
}

const STAT_HEADER: [&str; 18] = [
    "GROUP",
    "CPU%",
    "USER",
    "SYSTEM",
    "THROTTLED",
    "CPU-MAX",
    "MEMORY",
    "PEAK",
    "MEM-MAX",
    "SWAP",
    "OOM-KILLS",
    "PIDS",
    "PIDS-MAX",
    "IO-READ",
    "IO-WRITE",
    "NET-RX",
    "NET-TX",
    "PSI-SOME cpu/mem/io %",
];

/// The `rein stat` table: the group name left-aligned, figures right-aligned.
pub fn stat_table(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = STAT_HEADER.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = STAT_HEADER.iter().map(|h| h.to_string()).collect();
    for r in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i == 0 || i + 1 == r.len() { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
