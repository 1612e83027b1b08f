//! `rein stat`: groups' accounting, once or every interval.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rein::stats::{Stats, cpu_percent};
use rein::units::parse_duration_usec;
use rein::{Group, GroupPath, Hierarchy};
use serde::Serialize;

use crate::cli::StatArgs;
use crate::report;

/// Above this many groups the reads are spread over the CPUs.
const PARALLEL_FROM: usize = 64;

/// One JSON line: a group's snapshot, with CPU% when there was an earlier sample.
#[derive(Serialize)]
struct Line<'a> {
    time_usec: u64,
    group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_percent: Option<f64>,
    #[serde(flatten)]
    stats: &'a Stats,
}

struct Row {
    group: Group,
    prev: Option<(Instant, Stats)>,
}

pub fn stat(args: &StatArgs, hierarchy: &dyn Fn() -> anyhow::Result<Arc<Hierarchy>>) -> anyhow::Result<ExitCode> {
    let paths = args.names.iter().map(|n| GroupPath::parse(n)).collect::<rein::Result<Vec<_>>>()?;
    let interval = match &args.watch {
        None => None,
        Some(text) => {
            let usec = parse_duration_usec(text).map_err(|e| rein::Error::invalid("--watch", text, e))?;
            if usec < 10_000 {
                return Err(rein::Error::invalid("--watch", text, "must be at least 10ms").into());
            }
            Some(Duration::from_micros(usec))
        }
    };
    let h = hierarchy()?;
    let mut rows = Vec::with_capacity(paths.len());
    for p in &paths {
        rows.push(Row { group: Group::open(h.clone(), p)?, prev: None });
    }
    let tty = rustix::termios::isatty(std::io::stdout());
    let mut out = std::io::stdout().lock();
    loop {
        let started = Instant::now();
        let now = SystemTime::now();
        let samples = read_all(&rows);
        let mut table = Vec::new();
        let mut gone = Vec::new();
        for (i, (row, sample)) in rows.iter_mut().zip(samples).enumerate() {
            let stats = match sample {
                Ok(s) => s,
                // Removed while watched: say so and go on with the others.
                Err(e) if interval.is_some() && matches!(e.errno(), Some(libc::ENOENT | libc::ENODEV)) => {
                    eoutln!("rein: group {} was removed", row.group.path());
                    gone.push(i);
                    continue;
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!("reading the stats of {}", row.group.path())));
                }
            };
            let at = Instant::now();
            let pct = row.prev.as_ref().and_then(|(t, before)| cpu_percent(before, &stats, at - *t));
            if args.json {
                let line = Line {
                    time_usec: report::unix_usec(now),
                    group: row.group.path().to_string(),
                    cpu_percent: pct.map(|p| (p * 100.0).round() / 100.0),
                    stats: &stats,
                };
                writeln!(out, "{}", serde_json::to_string(&line)?)?;
            } else {
                table.push(report::stat_row(&row.group.path().to_string(), pct, &stats));
            }
            row.prev = Some((at, stats));
        }
        for i in gone.into_iter().rev() {
            rows.remove(i);
        }
        if !args.json {
            if interval.is_some() && tty {
                // Redraw in place, as top does.
                write!(out, "\x1b[H\x1b[2J")?;
            }
            if interval.is_some() {
                writeln!(
                    out,
                    "rein stat, every {}, {}",
                    args.watch.as_deref().unwrap_or_default(),
                    report::clock(now)
                )?;
            }
            write!(out, "{}", report::stat_table(&table))?;
            if interval.is_some() && !tty {
                writeln!(out)?;
            }
        }
        out.flush()?;
        let Some(iv) = interval else { return Ok(ExitCode::SUCCESS) };
        if rows.is_empty() {
            eoutln!("rein: no group left to watch");
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(iv.saturating_sub(started.elapsed()));
    }
}

/// Reads every group's stats; spread over the CPUs when there are many groups.
fn read_all(rows: &[Row]) -> Vec<rein::Result<Stats>> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    if rows.len() < PARALLEL_FROM || threads < 2 {
        return rows.iter().map(|r| r.group.stats()).collect();
    }
    let chunk = rows.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = rows
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(|r| r.group.stats()).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("stats thread")).collect()
    })
}
