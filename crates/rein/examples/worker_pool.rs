//! A worker pool: every worker runs in a group of its own, inside a pool group whose limits
//! cover them all. One worker is greedy (its memory limit OOM-kills it, and only it), one
//! hangs (it is frozen, then killed with the process it forked); the others finish. The
//! pool reports each worker's exit, CPU time, peak memory and OOM kills, and the events it
//! saw, then removes every group. Needs root (or a delegated subtree).
//!
//! ```sh
//! cargo run -p rein --example worker_pool -- [--parent NAME] [--workers N]
//! ```
//!
//! `REIN_DRIVER=auto|systemd|cgroupfs` picks the driver (auto: systemd where it manages a
//! pure cgroup v2 hierarchy, cgroupfs otherwise). The workers are this program again, run
//! with `--work`, so the example needs nothing else on the machine.

use std::collections::BTreeMap;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use rein::events::{EventKind, Options};
use rein::{Bytes, Cgroup};
use rein_systemd::{Instance, Requested, detect_driver};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// What a worker does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Burns CPU for a while, then exits 0.
    Compute,
    /// Allocates more than its memory limit: the kernel OOM-kills it.
    Greedy,
    /// Forks a helper and waits forever: the pool has to kill the group.
    Stuck,
}

fn role(i: usize) -> Role {
    match i {
        2 => Role::Greedy,
        3 => Role::Stuck,
        _ => Role::Compute,
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker_pool: error: {e}");
            if let Some(hint) = e.downcast_ref::<rein::Error>().and_then(rein::Error::hint) {
                eprintln!("worker_pool: hint: {hint}");
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
    let mut workers = 4usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--parent" => parent = it.next().ok_or("--parent needs a value")?.clone(),
            "--workers" => workers = it.next().ok_or("--workers needs a value")?.parse()?,
            other => return Err(format!("unknown argument '{other}' (--parent NAME, --workers N)").into()),
        }
    }
    if workers < 3 {
        return Err("--workers must be at least 3 (worker 2 is greedy, worker 3 hangs)".into());
    }

    let requested: Requested = std::env::var("REIN_DRIVER").unwrap_or_else(|_| "auto".into()).parse()?;
    let choice = detect_driver(requested, Instance::System)?;
    println!("driver {}: {}", choice.driver.name(), choice.reason);

    // The pool: one and a half CPUs and 64 tasks for all workers together.
    let pool = Cgroup::builder(format!("{parent}/pool"))
        .driver(choice.driver.clone())
        .cpu_percent(150.0)
        .pids_max(64)
        .create()?;
    println!("pool {} (cgroup {})", pool.name(), pool.path());
    let mut events = pool.events(Options::default())?;
    events.follow_children(pool.group())?;

    let me = std::env::current_exe()?;
    let mut running: Vec<(String, Cgroup, Child, Role)> = Vec::new();
    for i in 1..=workers {
        let name = format!("w{i}");
        let group = pool.child(&name).memory_max(Bytes::mib(32)).cpu_percent(50.0).create()?;
        let mut cmd = Command::new(&me);
        match role(i) {
            Role::Compute => cmd.args(["--work", "compute", "1"]),
            Role::Greedy => cmd.args(["--work", "alloc", "100"]),
            Role::Stuck => cmd.args(["--work", "stuck"]),
        };
        let child = group.spawn(&mut cmd)?;
        println!("started {name}: pid {} in {}", child.id(), group.path());
        running.push((name, group, child, role(i)));
    }

    // Wait for the workers that end on their own, printing the pool's events meanwhile.
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut exits: BTreeMap<String, ExitStatus> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while running.iter().any(|(n, _, _, r)| *r != Role::Stuck && !exits.contains_key(n)) {
        if Instant::now() > deadline {
            return Err("workers did not finish within 120 s".into());
        }
        while let Some(e) = events.wait(Some(Duration::from_millis(20)))? {
            note(&e, &mut seen);
        }
        for (name, _, child, _) in running.iter_mut() {
            if !exits.contains_key(name.as_str()) {
                if let Some(status) = child.try_wait()? {
                    exits.insert(name.clone(), status);
                }
            }
        }
    }
    // The kernel may notify an OOM kill a few ms after the worker's death was seen: the
    // counters are read now, so no kill that ended a worker goes untold.
    events.recount();
    while let Some(e) = events.wait(Some(Duration::ZERO))? {
        note(&e, &mut seen);
    }

    // The stuck worker: freeze it (nothing runs, nothing forks), look, then kill the group.
    for (name, group, child, role) in running.iter_mut() {
        if *role == Role::Stuck {
            group.freeze()?;
            let s = group.stats()?;
            println!("froze {name}: {} processes, frozen {:?}", group.pids()?.len(), s.frozen.unwrap_or(false));
            group.kill()?;
            exits.insert(name.clone(), child.wait()?);
            println!("killed {name}: group empty {}", !group.is_populated()?);
        }
    }

    for (name, group, _, _) in &running {
        let s = group.stats()?;
        let cpu = s.cpu.usage_usec.map(|u| format!("{:.2}s", u as f64 / 1e6)).unwrap_or("-".into());
        let peak = s.memory.and_then(|m| m.peak.or(m.current)).map(rein::units::human_bytes).unwrap_or("-".into());
        let ooms = group.group().oom_kills().unwrap_or(0);
        println!("worker {name}: {}, cpu {cpu}, peak memory {peak}, oom_kills {ooms}", describe(&exits[name]));
    }
    let total = pool.stats()?.cpu.usage_usec.unwrap_or(0);
    println!("pool: cpu {:.2}s in all", total as f64 / 1e6);

    // Closing says if cleanup failed; dropping would do the same silently.
    for (name, group, _, _) in running {
        let path = group.path().clone();
        group.close()?;
        println!("removed {name} ({path})");
    }
    let path = pool.path().clone();
    pool.close()?;
    println!("removed pool ({path})");
    Ok(())
}

fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (_, Some(s)) => format!("killed by signal {s}"),
        _ => "ended".into(),
    }
}

/// The workers' side: `--work compute SECS | alloc MIB | stuck | sleep`.
fn work(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("compute") => {
            let secs: f64 = args.get(1).ok_or("compute SECS")?.parse()?;
            let end = Instant::now() + Duration::from_secs_f64(secs);
            let mut x = 0u64;
            while Instant::now() < end {
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
        }
        Some("alloc") => {
            let mib: usize = args.get(1).ok_or("alloc MIB")?.parse()?;
            let blocks: Vec<Vec<u8>> = (0..mib).map(|_| vec![1u8; 1 << 20]).collect();
            std::hint::black_box(&blocks);
            println!("allocated {mib} MiB (the limit did not stop it)");
        }
        Some("stuck") => {
            let _helper = Command::new(std::env::current_exe()?).args(["--work", "sleep"]).spawn()?;
            std::thread::sleep(Duration::from_secs(3600));
        }
        Some("sleep") => std::thread::sleep(Duration::from_secs(3600)),
        _ => return Err("unknown work".into()),
    }
    Ok(())
}

/// Prints an OOM kill or a group's emptying, and keeps it by group.
fn note(e: &rein::events::Event, seen: &mut BTreeMap<String, Vec<String>>) {
    if matches!(e.kind, EventKind::OomKill { .. } | EventKind::Empty) {
        println!("event {} {}", e.group, e.kind.name());
        seen.entry(e.group.name().to_string()).or_default().push(e.kind.name().to_string());
    }
}
