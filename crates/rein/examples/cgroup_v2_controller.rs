//! The `CgroupV2Controller` of "cgroups v2 as a Native Runtime Isolation Primitive" (a
//! Python class with a context manager: create a cgroup with a CPU quota and a memory
//! limit, assign a pid, destroy it on exit), ported to rein, and then the same job done
//! rein's way. Needs root (or a delegated subtree).
//!
//! ```sh
//! cargo run -p rein --example cgroup_v2_controller -- [--parent NAME] [--name NAME] \
//!     [--cpu PERCENT] [--memory-mib MIB] [--seconds S] [--assign-self]
//! ```
//!
//! What changes in the port, and why:
//!
//! - The class checked its own ranges (a quota of 1-100 %, at least 16 MiB); the port keeps
//!   those checks, and rein checks the rest (the kernel's ranges, the name).
//! - `create()` wrote `cgroup.subtree_control` of the new group itself and `cpu.max` /
//!   `memory.max` by hand: on cgroup v2 only. rein enables the controllers in the parent,
//!   where they must be, and writes the same limits on v2, v1 and hybrid hosts, or under
//!   systemd as unit properties. A failed write leaves no group behind (the class left a
//!   half-configured one).
//! - The usage started the worker with `Popen`, then assigned its pid: the worker ran
//!   unlimited until then. [`rein::Cgroup::spawn`] starts it inside the group.
//! - `destroy()` refused a group that still held processes, and `__exit__` swallowed that
//!   error, so the cgroup stayed forever. rein's `close()` kills what is left, removes the
//!   group, and returns its errors; dropping the handle does the same without them.
//!   Removing a group that holds the calling process is refused (it would kill the
//!   caller): `--assign-self` shows that case, in a child copy of the program that assigns
//!   itself; the group is destroyed once that copy has exited.

use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rein::driver::Driver;
use rein::{Bytes, Cgroup};
use rein_systemd::{Instance, Requested, detect_driver};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The driver for every group here, chosen once (`REIN_DRIVER`, auto by default).
fn driver() -> Result<Arc<dyn Driver>> {
    static DRIVER: OnceLock<Arc<dyn Driver>> = OnceLock::new();
    if let Some(d) = DRIVER.get() {
        return Ok(d.clone());
    }
    let requested: Requested = std::env::var("REIN_DRIVER").unwrap_or_else(|_| "auto".into()).parse()?;
    Ok(DRIVER
        .get_or_init(|| {
            detect_driver(requested, Instance::System).map(|c| c.driver).unwrap_or_else(|e| {
                eprintln!("cgroup_v2_controller: {e}");
                std::process::exit(1)
            })
        })
        .clone())
}

/// The Python class's contract, over a [`rein::Cgroup`].
struct CgroupV2Controller {
    name: String,
    cpu_quota_percent: u32,
    memory_max_mib: u64,
    cgroup: Option<Cgroup>,
}

impl CgroupV2Controller {
    /// `__init__`: the class's own checks.
    fn new(name: &str, cpu_quota_percent: u32, memory_max_mib: u64) -> Result<CgroupV2Controller> {
        if !(1..=100).contains(&cpu_quota_percent) {
            return Err(format!("cpu_quota_percent must be in [1, 100], got {cpu_quota_percent}").into());
        }
        if memory_max_mib < 16 {
            return Err(format!("memory_max_mib must be >= 16 MiB, got {memory_max_mib}").into());
        }
        Ok(CgroupV2Controller { name: name.into(), cpu_quota_percent, memory_max_mib, cgroup: None })
    }

    /// `create()` (and `__enter__`): the group with its CPU quota and memory limit. Fails
    /// if it exists, like the class's `FileExistsError`.
    fn create(mut self) -> Result<CgroupV2Controller> {
        let cgroup = Cgroup::builder(&self.name)
            .driver(driver()?)
            .cpu_percent(f64::from(self.cpu_quota_percent))
            .memory_max(Bytes::mib(self.memory_max_mib))
            .create()?;
        self.cgroup = Some(cgroup);
        Ok(self)
    }

    fn cgroup(&self) -> &Cgroup {
        self.cgroup.as_ref().expect("created")
    }

    /// `assign_pid()`: moves a running process in (a missing pid is an error).
    fn assign_pid(&self, pid: u32) -> rein::Result<()> {
        self.cgroup().add_pid(pid)
    }

    /// `assign_current_process()`.
    fn assign_current_process(&self) -> rein::Result<()> {
        self.assign_pid(std::process::id())
    }

    /// `destroy()`, returning the error that `__exit__` swallowed.
    fn destroy(&mut self) -> rein::Result<()> {
        match self.cgroup.take() {
            Some(c) => c.remove(),
            None => Ok(()),
        }
    }

    /// The class over a cgroup that exists already (the Python class has no such
    /// constructor; the `--assign-self` copy of this program needs one).
    fn open(name: &str) -> Result<CgroupV2Controller> {
        let cgroup = Cgroup::builder(name).driver(driver()?).open()?;
        Ok(CgroupV2Controller { name: name.into(), cpu_quota_percent: 0, memory_max_mib: 0, cgroup: Some(cgroup) })
    }
}

/// `__exit__`: best effort, as in the class; [`CgroupV2Controller::destroy`] reports.
impl Drop for CgroupV2Controller {
    fn drop(&mut self) {
        let _ = self.destroy();
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cgroup_v2_controller: error: {e}");
            if let Some(hint) = e.downcast_ref::<rein::Error>().and_then(rein::Error::hint) {
                eprintln!("cgroup_v2_controller: hint: {hint}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--work") => return spin(args.get(1).ok_or("--work SECS")?.parse()?),
        Some("--assign-self-in") => return assign_self_in(args.get(1).ok_or("--assign-self-in NAME")?),
        _ => {}
    }
    let mut parent = "rein_examples".to_string();
    // The article's "devmindset-worker", with '_': under systemd '-' separates slice levels.
    let mut name = "devmindset_worker".to_string();
    let (mut cpu, mut memory, mut seconds, mut assign_self) = (20u32, 256u64, 2.0f64, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--parent" => parent = value()?,
            "--name" => name = value()?,
            "--cpu" => cpu = value()?.parse()?,
            "--memory-mib" => memory = value()?.parse()?,
            "--seconds" => seconds = value()?.parse()?,
            "--assign-self" => assign_self = true,
            other => return Err(format!("unknown argument '{other}'").into()),
        }
    }
    let full = format!("{parent}/{name}");
    let me = std::env::current_exe()?;
    let work = |cmd: &mut Command| {
        cmd.args(["--work", &seconds.to_string()]);
    };

    // The article's usage, as written: start the worker, then assign it.
    {
        let mut popen = Command::new(&me);
        work(&mut popen);
        let mut worker_proc = popen.spawn()?;
        let cgroup = match CgroupV2Controller::new(&full, cpu, memory).and_then(|c| c.create()) {
            Ok(c) => c,
            Err(e) => {
                let _ = worker_proc.kill();
                let _ = worker_proc.wait();
                return Err(e);
            }
        };
        let assigned = Instant::now();
        cgroup.assign_pid(worker_proc.id())?;
        worker_proc.wait()?;
        let share = cpu_share(cgroup.cgroup(), assigned.elapsed())?;
        println!(
            "seed usage: pid {} assigned to {} after it started; {share:.1}% of a CPU in the group (quota {cpu}%)",
            worker_proc.id(),
            cgroup.cgroup().path()
        );
        // `with` ends: __exit__ (Drop) destroys the group.
    }

    // rein's way: the worker starts inside the group; close() reports cleanup errors.
    let cg =
        Cgroup::builder(&full).driver(driver()?).cpu_percent(f64::from(cpu)).memory_max(Bytes::mib(memory)).create()?;
    let mut cmd = Command::new(&me);
    work(&mut cmd);
    let started = Instant::now();
    let mut child = cg.spawn(&mut cmd)?;
    let inside = std::fs::read_to_string(format!("/proc/{}/cgroup", child.id()))?;
    child.wait()?;
    let share = cpu_share(&cg, started.elapsed())?;
    let line = inside.lines().find(|l| l.starts_with("0::")).or(inside.lines().next()).unwrap_or_default();
    println!(
        "rein usage: pid {} spawned inside {} (/proc/PID/cgroup: {line}); {share:.1}% of a CPU (quota {cpu}%)",
        child.id(),
        cg.path()
    );
    let path = cg.path().clone();
    cg.close()?;
    println!("destroyed {path}");

    if assign_self {
        // assign_current_process() moves the caller itself into the group, so it runs in a
        // child copy of this program: the group is destroyed here once that copy exited.
        let mut cgroup = CgroupV2Controller::new(&full, cpu, memory)?.create()?;
        let status = Command::new(&me).args(["--assign-self-in", &full]).status()?;
        if !status.success() {
            return Err(format!("the --assign-self-in copy failed: {status}").into());
        }
        cgroup.destroy()?;
        println!("destroyed {path} once that process had exited");
    }
    Ok(())
}

/// The child side of `--assign-self`: `assign_current_process()`, then `destroy()`, which
/// rein refuses (removing the group would kill this very process).
fn assign_self_in(name: &str) -> Result<()> {
    let mut cgroup = CgroupV2Controller::open(name)?;
    cgroup.assign_current_process()?;
    println!("assign_current_process: this process ({}) is in {}", std::process::id(), cgroup.cgroup().path());
    match cgroup.destroy() {
        Ok(()) => Err("destroy() removed the group holding this process".into()),
        Err(e) => {
            println!("destroy refused: {e}");
            Ok(())
        }
    }
}

/// CPU time the group used over `wall`, in percent of one CPU.
fn cpu_share(cg: &Cgroup, wall: Duration) -> rein::Result<f64> {
    let used = cg.stats()?.cpu.usage_usec.unwrap_or(0) as f64;
    Ok(used / wall.as_micros().max(1) as f64 * 100.0)
}

/// The article's `cpu_intensive_task.py`: a busy loop for `secs` seconds.
fn spin(secs: f64) -> Result<()> {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut x = 0u64;
    while Instant::now() < end {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    Ok(())
}
