//! Recorded runs: a group's usage sampled over time, with its events, as JSON Lines
//! (`rein run --record FILE`, drawn by `rein plot`).
//!
//! One JSON object per line, each with a `type`:
//!
//! - `header`: `version` (1), `group`, `command` (array), `mode` (v2, v1, hybrid),
//!   `interval_usec`, `start_unix_usec`;
//! - `sample`: `t_usec` (since the start) and `stats`, a full [`Stats`] snapshot in the
//!   schema of `rein stat --json` (limits included, so a limit changed during the run
//!   shows as a step);
//! - `event`: `t_usec` and the fields of an [`Event`] in JSON (`event`, `count`, ...);
//! - `end`: `t_usec`, `exit_code`, `status`, `wall_usec`, `oom_kills`.
//!
//! Lines are written as they happen, so a recording survives a crash of rein up to its
//! last sample. About 1 KB per sample: 10 samples a second make some 36 MB an hour;
//! choose the interval for the run's length.

use std::io::{self, Write};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::supervisor::{Observer, Report};
use rein::Group;
use rein::Stats;
use rein::events::{Event, EventKind, Options, Watcher};

/// The recording format's version, in its header line.
pub const VERSION: u64 = 1;

/// Records a run into `W` as it goes; give it to [`crate::supervisor::run_observed`].
pub struct Recorder<W: Write> {
    out: W,
    interval: Duration,
    command: Vec<String>,
    start: Instant,
    next: Instant,
    watcher: Option<Watcher>,
    error: Option<io::Error>,
}

impl<W: Write> Recorder<W> {
    /// A recorder sampling every `interval` (at least 1 ms), for `command`.
    pub fn new(out: W, interval: Duration, command: Vec<String>) -> Recorder<W> {
        let now = Instant::now();
        Recorder {
            out,
            interval: interval.max(Duration::from_millis(1)),
            command,
            start: now,
            next: now,
            watcher: None,
            error: None,
        }
    }

    fn t_usec(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn line(&mut self, v: serde_json::Value) {
        if self.error.is_none()
            && let Err(e) = writeln!(self.out, "{v}")
        {
            self.error = Some(e);
        }
    }

    fn sample(&mut self, group: &Group) {
        // A failed read (the group going away at the very end) skips one sample.
        if let Ok(stats) = group.stats() {
            let t = self.t_usec();
            self.sample_line(t, &stats);
        }
    }

    fn sample_line(&mut self, t_usec: u64, stats: &Stats) {
        self.line(json!({ "type": "sample", "t_usec": t_usec, "stats": stats }));
    }

    /// Writes the events the watcher has; true when one of them changes usage at once.
    fn drain_events(&mut self) -> bool {
        let mut got: Vec<Event> = Vec::new();
        if let Some(w) = self.watcher.as_mut() {
            while let Ok(Some(e)) = w.wait(Some(Duration::ZERO)) {
                got.push(e);
            }
        }
        let sudden = got.iter().any(|e| matches!(e.kind, EventKind::OomKill { .. } | EventKind::Empty));
        for e in got {
            self.event_line(&e);
        }
        sudden
    }

    fn event_line(&mut self, e: &Event) {
        // The event's own time, relative to the start.
        let t =
            e.time.duration_since(SystemTime::now() - self.start.elapsed()).map(|d| d.as_micros() as u64).unwrap_or(0);
        let mut v = serde_json::to_value(e).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.insert("type".into(), "event".into());
            m.insert("t_usec".into(), t.into());
        }
        self.line(v);
    }

    /// Writes the end line from the run's report and flushes. Returns the writer, or the
    /// first write error of the recording.
    pub fn finish(mut self, report: &Report) -> io::Result<W> {
        let t = self.t_usec();
        self.sample_line(t, &report.stats);
        self.line(json!({
            "type": "end",
            "t_usec": t,
            "exit_code": report.exit_code,
            "status": report.status,
            "wall_usec": report.wall_usec,
            "oom_kills": report.oom_kills,
        }));
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Observer for Recorder<W> {
    fn started(&mut self, group: &Group) {
        self.start = Instant::now();
        let start_unix_usec =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        let h = group.hierarchy().clone();
        self.line(json!({
            "type": "header",
            "version": VERSION,
            "group": group.path().to_string(),
            "command": self.command,
            "mode": h.mode(),
            "interval_usec": self.interval.as_micros() as u64,
            "start_unix_usec": start_unix_usec,
        }));
        // Events make OOM kills exact in time; without them (no inotify) the plot
        // still sees the kill counter rise between samples.
        self.watcher = Watcher::new(h, Options::default()).ok().and_then(|mut w| w.add(group).ok().map(|_| w));
        self.sample(group);
        self.next = Instant::now() + self.interval;
    }

    fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.watcher.as_ref().map(|w| w.as_fd())
    }

    fn deadline(&self) -> Option<Instant> {
        let w = self.watcher.as_ref().and_then(Watcher::deadline);
        Some(w.map_or(self.next, |w| w.min(self.next)))
    }

    fn wake(&mut self, group: &Group) {
        // An OOM kill or the group emptying changes usage at once: sample it then, so the
        // plot shows the drop where it happened rather than at the next tick.
        if self.drain_events() || Instant::now() >= self.next {
            self.sample(group);
            // Keep the grid: skip samples missed while the machine was busy.
            while self.next <= Instant::now() {
                self.next += self.interval;
            }
        }
    }

    fn finished(&mut self, group: &Group) {
        // The kill that ended the command may be notified a few ms after its death (the
        // kernel's notifications are rate-limited): the counters are read now instead.
        let mut got = Vec::new();
        if let Some(w) = self.watcher.as_mut() {
            w.recount();
            while let Ok(Some(e)) = w.wait(Some(Duration::ZERO)) {
                got.push(e);
            }
        }
        let sudden = got.iter().any(|e| matches!(e.kind, EventKind::OomKill { .. } | EventKind::Empty));
        for e in got {
            self.event_line(&e);
        }
        if sudden {
            self.sample(group);
        }
    }
}
