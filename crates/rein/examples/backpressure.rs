//! Backpressure from pressure stall information (PSI): a supervisor lowers a worker's CPU
//! limit (`cpu.max`) when the worker's memory or CPU pressure rises, and restores it once
//! the worker is calm again. Needs root (or a delegated subtree) and cgroup2 for PSI: a
//! cgroup v2 host, or a hybrid one (pressure comes from the cgroup2 side there).
//!
//! ```sh
//! cargo run -p rein --example backpressure -- [--parent NAME] [--busy SECS] [--idle SECS]
//! ```
//!
//! How it works:
//!
//! - The worker group gets a squeeze the worker runs into: on cgroup v2 `memory.high`
//!   (16 MiB) below what the worker keeps allocating, so the kernel throttles and reclaims
//!   (memory pressure); on a hybrid host, where memory is a v1 controller without
//!   `memory.high`, a 50% CPU quota on a busy loop (throttled time counts as CPU pressure
//!   in the cgroup2 group).
//! - The supervisor subscribes to the group's events with two PSI triggers,
//!   `memory:some:150ms/1s` and `cpu:some:150ms/1s` (the kernel wakes it when tasks stalled
//!   for more than 150 ms within a second). On the first one it lowers `cpu.max` to 10%.
//! - While lowered it reads the stall totals (`cpu.pressure`, `memory.pressure`) every
//!   250 ms; once the last second held less than 20 ms of stall, the worker is calm and
//!   the limit goes back.
//! - The worker is busy for `--busy` seconds (4 by default), then idle for `--idle` (3).
//!
//! `REIN_DRIVER=auto|systemd|cgroupfs` picks the driver, as in worker_pool.

use std::collections::VecDeque;
use std::process::Command;
use std::time::{Duration, Instant};

use rein::events::{EventKind, Options, PressureTrigger};
use rein::{Bytes, Cgroup, Mode, Resources, Stats};
use rein_systemd::{Instance, Requested, detect_driver};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The lowered limit, percent of one CPU.
const LOWERED: f64 = 10.0;
/// Stall per second below which the worker counts as calm.
const CALM_STALL: Duration = Duration::from_millis(20);

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backpressure: error: {e}");
            if let Some(hint) = e.downcast_ref::<rein::Error>().and_then(rein::Error::hint) {
                eprintln!("backpressure: hint: {hint}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--work") {
        return work(&args[1..]);
    }
    let mut parent = "rein_examples".to_string();
    let (mut busy, mut idle) = (4.0f64, 3.0f64);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--parent" => parent = it.next().ok_or("--parent needs a value")?.clone(),
            "--busy" => busy = it.next().ok_or("--busy needs seconds")?.parse()?,
            "--idle" => idle = it.next().ok_or("--idle needs seconds")?.parse()?,
            other => return Err(format!("unknown argument '{other}' (--parent, --busy, --idle)").into()),
        }
    }
    let requested: Requested = std::env::var("REIN_DRIVER").unwrap_or_else(|_| "auto".into()).parse()?;
    let choice = detect_driver(requested, Instance::System)?;
    let mode = choice.driver.hierarchy().mode();
    if mode == Mode::Legacy {
        return Err("pressure stall information exists per group only in cgroup2: this is a pure v1 host".into());
    }

    // The squeeze, and the CPU limit to restore when calm.
    let normal = if mode == Mode::Unified { 100.0 } else { 50.0 };
    let mut builder =
        Cgroup::builder(format!("{parent}/bp")).driver(choice.driver).memory_max(Bytes::mib(256)).cpu_percent(normal);
    if mode == Mode::Unified {
        builder = builder.memory_high(Bytes::mib(16));
    }
    let mut worker = builder.create()?;
    println!(
        "backpressure: driver {}, mode {mode}, group {}, normal cpu.max {normal}%, lowered {LOWERED}%",
        worker.driver_name(),
        worker.path()
    );

    // Without CAP_SYS_RESOURCE the kernel takes only windows that are multiples of 2 s.
    let privileged = rustix::thread::capabilities(None)
        .map(|c| c.effective.contains(rustix::thread::CapabilitySet::SYS_RESOURCE))
        .unwrap_or(false);
    let window = if privileged { "1s" } else { "2s" };
    let triggers = vec![
        PressureTrigger::parse(&format!("memory:some:150ms/{window}"))?,
        PressureTrigger::parse(&format!("cpu:some:150ms/{window}"))?,
    ];
    let mut events = worker.events(Options { triggers, ..Options::default() })?;

    let mut child =
        worker.spawn(Command::new(std::env::current_exe()?).args(["--work", &busy.to_string(), &idle.to_string()]))?;
    let start = Instant::now();
    let at = || start.elapsed().as_secs_f64();
    let mut lowered: Option<(Instant, u64)> = None;
    let (mut lowerings, mut restores) = (0, 0);
    // (time, total stall µs) samples of the last second or so.
    let mut stall: VecDeque<(Instant, u64)> = VecDeque::new();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Some(e) = events.wait(Some(Duration::from_millis(250)))? {
            if let (EventKind::Pressure(t), None) = (&e.kind, lowered) {
                worker.set(&Resources::new().cpu_percent(LOWERED)?)?;
                let usage = worker.stats()?.cpu.usage_usec.unwrap_or(0);
                lowered = Some((Instant::now(), usage));
                lowerings += 1;
                stall.clear();
                println!(
                    "pressure: {t} fired at {:.2}s -> cpu.max {normal}% -> {LOWERED}% (read back: {})",
                    at(),
                    cpu_max(&worker.stats()?)
                );
            }
        }
        let Some((since, usage_then)) = lowered else { continue };
        let s = worker.stats()?;
        let now = Instant::now();
        stall.push_back((now, stalled_usec(&s)));
        while stall.len() > 2 && now.duration_since(stall[1].0) >= Duration::from_secs(1) {
            stall.pop_front();
        }
        let (first, last) = (stall.front().copied().unwrap(), stall.back().copied().unwrap());
        let span = last.0.duration_since(first.0);
        let stalled = Duration::from_micros(last.1.saturating_sub(first.1));
        if span >= Duration::from_secs(1) && stalled < CALM_STALL {
            worker.set(&Resources::new().cpu_percent(normal)?)?;
            restores += 1;
            let used = s.cpu.usage_usec.unwrap_or(0).saturating_sub(usage_then) as f64;
            let share = used / now.duration_since(since).as_micros() as f64 * 100.0;
            lowered = None;
            println!(
                "calm: {:.1}ms stalled over the last {:.1}s at {:.2}s -> cpu.max {LOWERED}% -> {normal}% (read back: {}); \
                 CPU while lowered {share:.1}%",
                stalled.as_secs_f64() * 1e3,
                span.as_secs_f64(),
                at(),
                cpu_max(&worker.stats()?)
            );
        }
    };
    println!(
        "worker exited {} after {:.1}s: lowered {lowerings} time(s), restored {restores} time(s)",
        status.code().map(|c| c.to_string()).unwrap_or_else(|| format!("{status}")),
        at()
    );
    let path = worker.path().clone();
    worker.close()?;
    println!("removed {path}");
    Ok(())
}

/// `cpu.max` as the kernel shows it now, as a percentage of one CPU.
fn cpu_max(s: &Stats) -> String {
    match s.cpu.max.and_then(|m| m.percent()) {
        Some(p) => format!("{p}%"),
        None => "max".into(),
    }
}

/// Total `some` stall time of CPU and memory, µs.
fn stalled_usec(s: &Stats) -> u64 {
    let p = s.pressure.unwrap_or_default();
    [p.cpu, p.memory].iter().flatten().map(|r| r.some.total_usec).sum()
}

/// The worker: `--work BUSY IDLE`. Busy: keeps allocating 1 MiB blocks, holding the last
/// 64 MiB (each new block is charged to the group: over memory.high, the kernel throttles
/// it), which also keeps one CPU busy. Idle: frees everything and sleeps.
fn work(args: &[String]) -> Result<()> {
    let busy: f64 = args.first().ok_or("--work BUSY IDLE")?.parse()?;
    let idle: f64 = args.get(1).ok_or("--work BUSY IDLE")?.parse()?;
    let end = Instant::now() + Duration::from_secs_f64(busy);
    let mut blocks: VecDeque<Vec<u8>> = VecDeque::new();
    while Instant::now() < end {
        blocks.push_back(vec![1u8; 1 << 20]);
        if blocks.len() > 64 {
            blocks.pop_front();
        }
        std::hint::black_box(&blocks);
    }
    drop(blocks);
    std::thread::sleep(Duration::from_secs_f64(idle));
    Ok(())
}
