//! The systemd driver against a real systemd (PID 1, D-Bus, cgroup v2): the systemd VM of
//! `scripts/test --tier systemd` runs these. Elsewhere (no systemd as PID 1) each test says
//! it does not apply and passes; in the systemd VM a missing piece (bus, root, user
//! manager) fails it.
//!
//! Each test names its units `rein-t-<test>-<pid>` and stops them (and their per-run
//! slices) when it ends, pass or fail.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rein::launch::{self, Attach, Prepared, SigMask};
use rein::units::Limit;
use rein::{Bytes, Controller, Hierarchy, Resources, Spec};
use rein_systemd::{Instance, ScopeOptions, Systemd};

use crate::support::{bin, report, text};

/// libcgroup 3's systemd options (cgcreate -c, -S, cgexec -r) through the compat names.
mod libcgroup;
/// The library's group handle over the systemd driver.
mod library;

/// The user the systemd VM provides for --user tests.
const TESTER: &str = "tester";
const TESTER_UID: u32 = 1000;

struct Sd {
    test: String,
    /// (manager, unit) pairs to stop at the end.
    cleanup: std::cell::RefCell<Vec<(Instance, String)>>,
}

/// The test's environment, or None (with the reason printed) where systemd is not PID 1.
fn sd(test: &str) -> Option<Sd> {
    if !rein_systemd::systemd_booted() {
        eprintln!("{test}: not applicable: systemd is not PID 1 (scripts/test --tier systemd runs it)");
        return None;
    }
    assert!(rustix::process::geteuid().is_root(), "the systemd tests run as root (the --user ones switch to {TESTER})");
    Some(Sd { test: test.replace('_', "-"), cleanup: Default::default() })
}

impl Sd {
    /// A unit stem of this test: `rein-t-<test>-<tag>-<pid>`.
    fn unit(&self, tag: &str) -> String {
        let u = format!("rein-t-{}-{tag}-{}", self.test, std::process::id());
        self.cleanup.borrow_mut().push((Instance::System, format!("{u}.scope")));
        self.cleanup.borrow_mut().push((Instance::System, run_slice(&u)));
        u
    }

    fn user_unit(&self, tag: &str) -> String {
        let u = format!("rein-t-{}-{tag}-{}", self.test, std::process::id());
        self.cleanup.borrow_mut().push((Instance::User, format!("{u}.scope")));
        self.cleanup.borrow_mut().push((Instance::User, run_slice(&u)));
        u
    }
}

impl Drop for Sd {
    fn drop(&mut self) {
        for (instance, unit) in self.cleanup.borrow().iter() {
            match instance {
                Instance::System => {
                    let _ = Command::new("systemctl").args(["stop", unit]).output();
                    let _ = Command::new("systemctl").args(["reset-failed", unit]).output();
                }
                Instance::User => {
                    let _ = as_tester(&["systemctl", "--user", "stop", unit]);
                }
            }
        }
    }
}

/// The per-run slice rein makes for scope `stem` in the default slice.
fn run_slice(stem: &str) -> String {
    format!("rein-{}.slice", stem.replace('-', "_"))
}

fn rein(args: &[&str]) -> Output {
    Command::new(bin("rein")).args(args).output().expect("run rein")
}

fn testload() -> String {
    bin("rein-testload").display().to_string()
}

fn systemctl(args: &[&str]) -> String {
    let o = Command::new("systemctl").args(args).output().expect("systemctl");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Whether systemd has `unit` loaded. (Not `systemctl show`: that loads a slice by name,
/// an implicit slice needs no unit file, so it would always say "loaded".)
fn loaded(unit: &str) -> bool {
    !systemctl(&["list-units", "--all", "--plain", "--no-legend", "--no-pager", unit]).is_empty()
}

fn user_loaded(unit: &str) -> bool {
    let o = as_tester(&["systemctl", "--user", "list-units", "--all", "--plain", "--no-legend", "--no-pager", unit]);
    !String::from_utf8_lossy(&o.stdout).trim().is_empty()
}

/// Runs `argv` as the VM's test user, with the environment a login gives it.
fn as_tester(argv: &[&str]) -> Output {
    Command::new("runuser")
        .args(["-u", TESTER, "--", "env"])
        .arg(format!("XDG_RUNTIME_DIR=/run/user/{TESTER_UID}"))
        .arg(format!("DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{TESTER_UID}/bus"))
        .args(argv)
        .output()
        .expect("runuser")
}

/// Starts the test user's manager (lingering, as a login would) and waits until it runs.
fn user_manager() {
    let o = Command::new("loginctl").args(["enable-linger", TESTER]).output().expect("loginctl");
    assert!(o.status.success(), "loginctl enable-linger: {}", String::from_utf8_lossy(&o.stderr));
    wait_active(&format!("user@{TESTER_UID}.service"));
}

/// Waits until systemd has none of `units` loaded, for up to a minute: systemd unloads a
/// stopped unit in its own loop, after the stop's JobRemoved. Returns those still loaded.
fn left_loaded(units: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left: Vec<String> = units.iter().filter(|u| loaded(u)).map(|u| u.to_string()).collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether rein ended as signal `sig` asks: exit status 128 + N, or death by the signal
/// itself (what a shell shows as 128 + N either way).
fn ended_by(status: std::process::ExitStatus, sig: i32) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.code() == Some(128 + sig) || status.signal() == Some(sig)
}

/// Waits for `child` to end, for up to `limit`; kills it (and fails) if it does not.
fn wait_for(mut child: std::process::Child, limit: Duration, what: &str) -> (Output, Duration) {
    let t = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if t.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().expect("wait");
            panic!("{what}: rein still ran after {limit:?}; stderr: {}", String::from_utf8_lossy(&o.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t.elapsed();
    (child.wait_with_output().expect("wait"), took)
}

/// A unix socket that accepts connections and reads them, never answering: a wedged bus
/// daemon. `accepted` gets a message each time a connection comes in.
struct SilentBus {
    _dir: tempfile::TempDir,
    address: String,
    accepted: std::sync::mpsc::Receiver<()>,
}

impl SilentBus {
    fn start() -> SilentBus {
        use std::io::Read;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bus");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let (tx, accepted) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = tx.send(());
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0u8; 4096];
                    while stream.read(&mut buf).is_ok_and(|n| n > 0) {}
                });
            }
        });
        SilentBus { address: format!("unix:path={}", path.display()), _dir: dir, accepted }
    }
}

fn wait_active(unit: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while systemctl(&["is-active", unit]) != "active" {
        assert!(Instant::now() < deadline, "{unit} did not become active");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A shell script that prints `file=value` for each of `files` in its own cgroup.
fn print_files(files: &[&str]) -> String {
    format!(
        "d=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup); echo \"cgroup=$d\"; for f in {}; do \
         printf '%s=%s\\n' $f \"$(tr '\\n' ';' < $d/$f)\"; done",
        files.join(" ")
    )
}

fn parse_files(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_end_matches(';').to_string()))
        .collect()
}

fn block_device() -> String {
    std::env::var("REIN_TEST_BLOCK_DEVICE").expect("REIN_TEST_BLOCK_DEVICE (the systemd VM's /dev/vdb)")
}

const PARITY_FILES: [&str; 13] = [
    "memory.max",
    "memory.high",
    "memory.low",
    "memory.min",
    "memory.swap.max",
    "memory.oom.group",
    "cpu.max",
    "cpu.weight",
    "cpuset.cpus",
    "cpuset.mems",
    "io.weight",
    "io.max",
    "pids.max",
];

/// Runs the same property set through `systemd-run --scope -p ...` and through `rein run`
/// and returns both sets of files.
fn both(
    s: &Sd,
    tag: &str,
    rein_flags: &[&str],
    systemd_props: &[&str],
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let script = print_files(&PARITY_FILES);
    let theirs = s.unit(&format!("{tag}-sd"));
    let mut cmd = Command::new("systemd-run");
    cmd.args(["--scope", "--quiet", "--unit", &theirs]);
    for p in systemd_props {
        cmd.args(["-p", p]);
    }
    let o = cmd.args(["sh", "-c", &script]).output().expect("systemd-run");
    assert!(o.status.success(), "systemd-run: {}", String::from_utf8_lossy(&o.stderr));
    let sd_files = parse_files(&String::from_utf8_lossy(&o.stdout));

    let ours = s.unit(&format!("{tag}-rein"));
    let mut args = vec!["run", "--unit", &ours];
    args.extend_from_slice(rein_flags);
    args.extend(["--", "sh", "-c", &script]);
    let o = rein(&args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "rein: {err}");
    let rein_files = parse_files(&out);
    assert!(
        rein_files["cgroup"].ends_with(&format!("/rein.slice/{}/{ours}.scope", run_slice(&ours))),
        "{rein_files:?}"
    );
    (sd_files, rein_files)
}

/// Asserts that each file of `expected` holds the same after both runs, and that value.
/// (Files of controllers neither run asked for exist or not depending on the siblings in
/// each parent slice, so only the files of the properties given are compared.)
fn assert_parity(
    sd_files: &BTreeMap<String, String>,
    rein_files: &BTreeMap<String, String>,
    expected: &[(&str, &str)],
) {
    for (f, v) in expected {
        assert_eq!(sd_files.get(*f), rein_files.get(*f), "{f}: systemd-run vs rein\n{sd_files:#?}\n{rein_files:#?}");
        assert_eq!(rein_files.get(*f).map(String::as_str), Some(*v), "{f}: {rein_files:#?}");
    }
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_parity_with_systemd_run_for_every_property() {
    let Some(s) = sd("parity") else { return };
    let dev = block_device();
    let io_max = format!("{dev}:wbps=1M,riops=100");
    let (sd_files, rein_files) = both(
        &s,
        "all",
        &[
            "--memory",
            "64M",
            "--memory-high",
            "48M",
            "--memory-low",
            "8M",
            "--memory-min",
            "4M",
            "--swap",
            "0",
            "--cpu",
            "20%",
            "--cpu-weight",
            "200",
            "--cpuset",
            "1",
            "--mems",
            "0",
            "--io-weight",
            "300",
            "--io-max",
            &io_max,
            "--pids",
            "64",
        ],
        &[
            "MemoryMax=64M",
            "MemoryHigh=48M",
            "MemoryLow=8M",
            "MemoryMin=4M",
            "MemorySwapMax=0",
            "CPUQuota=20%",
            "CPUWeight=200",
            "AllowedCPUs=1",
            "AllowedMemoryNodes=0",
            "IOWeight=300",
            // systemd reads IO bandwidth suffixes in powers of 1000 (1M = 1000000); rein's
            // sizes are binary (1M = 1048576): the bytes are spelled out.
            &format!("IOWriteBandwidthMax={dev} 1048576"),
            &format!("IOReadIOPSMax={dev} 100"),
            "TasksMax=64",
        ],
    );
    let majmin = std::fs::read_to_string(format!("/sys/class/block/{}/dev", dev.trim_start_matches("/dev/")))
        .expect("device number")
        .trim()
        .to_string();
    let io = format!("{majmin} rbps=max wbps=1048576 riops=100 wiops=max");
    assert_parity(
        &sd_files,
        &rein_files,
        &[
            ("memory.max", "67108864"),
            ("memory.high", "50331648"),
            ("memory.low", "8388608"),
            ("memory.min", "4194304"),
            ("memory.swap.max", "0"),
            ("memory.oom.group", "0"),
            ("cpu.max", "20000 100000"),
            ("cpu.weight", "200"),
            ("cpuset.cpus", "1"),
            ("cpuset.mems", "0"),
            ("io.weight", "default 300"),
            ("io.max", &io),
            ("pids.max", "64"),
        ],
    );
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_parity_for_periods_and_fractions() {
    let Some(s) = sd("period") else { return };
    let (a, b) =
        both(&s, "p50", &["--cpu", "33%", "--cpu-period", "50ms"], &["CPUQuota=33%", "CPUQuotaPeriodSec=50ms"]);
    assert_parity(&a, &b, &[("cpu.max", "16500 50000")]);
    let (a, b) = both(&s, "cpus", &["--cpus", "1.5", "--memory", "max"], &["CPUQuota=150%", "MemoryMax=infinity"]);
    assert_parity(&a, &b, &[("cpu.max", "150000 100000"), ("memory.max", "max")]);
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_scope_shows_in_systemctl_status() {
    let Some(s) = sd("status") else { return };
    let u = s.unit("x");
    let o = rein(&[
        "run",
        "--unit",
        &u,
        "--memory",
        "64M",
        "--",
        "systemctl",
        "status",
        "--no-pager",
        &format!("{u}.scope"),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains(&format!("{u}.scope - rein run: systemctl status")), "{out}");
    assert!(out.contains("Active: active (running)"), "{out}");
    assert!(out.contains("max: 64.0M"), "{out}");
    assert!(out.contains(&format!("CGroup: /rein.slice/{}/{u}.scope", run_slice(&u))), "{out}");
    let check = rein(&["check"]);
    assert!(text(&check).0.contains("driver       systemd (transient units over D-Bus)"), "{}", text(&check).0);
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_oom_kill_is_reported() {
    let Some(s) = sd("oom") else { return };
    let u = s.unit("x");
    let o = rein(&["run", "--unit", &u, "--memory", "20M", "--report=json", "--", &testload(), "alloc", "100"]);
    let (_, err) = text(&o);
    // rein dies of the command's SIGKILL, after its OOM line and the report.
    assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{err}");
    assert!(err.contains("killed by the kernel OOM killer: memory limit 20M"), "{err}");
    let r = report(&o);
    assert_eq!(r["unit"], format!("{u}.scope"), "{r}");
    assert_eq!(r["oom_kills"], 1, "{r}");
    assert_eq!(r["stats"]["memory"]["oom_kill"], 1, "{r}");
    let peak = r["memory_peak_bytes"].as_u64().expect("peak");
    assert!(peak > 16 << 20 && peak <= (20 << 20) + 65536, "peak {peak}: {r}");
    assert!(!loaded(&format!("{u}.scope")), "{} still loaded", &format!("{u}.scope"));
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_policies_timeout_has_a_backstop_and_oom_kill_group_is_oompolicy() {
    let Some(s) = sd("policy") else { return };
    let u = s.unit("t");
    // rein keeps the deadline (its report, exit 124); systemd's RuntimeMaxSec= is the
    // backstop, 5 s after rein's own kill. The deadline leaves the test time to read the
    // property while the scope lives (each systemctl takes a while in the emulated VM).
    let child = Command::new(bin("rein"))
        .args(["run", "--unit", &u, "--timeout", "10s", "--kill-after", "1s", "--", "sleep", "60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rein run");
    wait_active(&format!("{u}.scope"));
    assert_eq!(systemctl(&["show", "-p", "RuntimeMaxUSec", "--value", &format!("{u}.scope")]), "16s");
    let (o, _) = wait_for(child, Duration::from_secs(30), "rein run --timeout");
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(124), "{err}");
    assert!(err.contains("timed out, exit 124"), "{err}");
    assert!(!loaded(&format!("{u}.scope")), "the scope is still loaded");

    // --on-oom kill-group: the kernel kills the whole scope (memory.oom.group, through
    // OOMPolicy=kill or the residual write on systemd 252).
    let u = s.unit("o");
    let script = format!("sleep 60 & {} alloc 100; wait", testload());
    let o = rein(&["run", "--unit", &u, "--memory", "20M", "--on-oom", "kill-group", "--", "sh", "-c", &script]);
    let (_, err) = text(&o);
    assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{err}");
    assert!(!loaded(&format!("{u}.scope")), "the scope is still loaded");
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_scope_and_slice_are_gone_after_exit_leftovers_included() {
    let Some(s) = sd("gone") else { return };
    let u = s.unit("x");
    let pidfile = tempfile::NamedTempFile::new().expect("temp file");
    let script = format!("sleep 300 & echo $! > {}; exit 3", pidfile.path().display());
    let o = rein(&["run", "--unit", &u, "--report=json", "--", "sh", "-c", &script]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
    let r = report(&o);
    assert_eq!(r["killed_leftovers"], true, "{r}");
    let pid: i32 = std::fs::read_to_string(pidfile.path()).unwrap().trim().parse().expect("pid");
    assert!(launch::kill(pid, 0).is_err(), "leftover {pid} still alive");
    for unit in [format!("{u}.scope"), run_slice(&u)] {
        assert!(!loaded(&unit), "{} still loaded", &unit);
    }
    assert!(!std::path::Path::new("/sys/fs/cgroup/rein.slice").join(run_slice(&u)).exists());
    // CPU time outlives the scope in its slice: the report has it.
    assert!(r["cpu_usage_usec"].as_u64().expect("cpu usage") > 0, "{r}");
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_residual_oom_group_is_written_into_the_scope() {
    let Some(s) = sd("residual") else { return };
    let u = s.unit("x");
    let o = rein(&[
        "run",
        "--unit",
        &u,
        "--memory",
        "64M",
        "--oom-group",
        "--",
        "sh",
        "-c",
        &print_files(&["memory.oom.group"]),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(parse_files(&out).get("memory.oom.group").map(String::as_str), Some("1"), "{out}");
    let dry = rein(&["run", "--dry-run", "--unit", &u, "--oom-group", "--", "true"]);
    assert!(text(&dry).0.contains("memory.oom.group"), "{}", text(&dry).0);
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_dry_run_prints_the_call_and_creates_nothing() {
    let Some(s) = sd("dry") else { return };
    let u = s.unit("x");
    let o = rein(&["run", "--dry-run", "--unit", &u, "--memory", "64M", "--cpu", "20%", "--", "true"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    for needle in [
        format!("StartTransientUnit {u}.scope (mode fail)"),
        "MemoryMax=67108864".into(),
        "CPUQuotaPerSecUSec=200000".into(),
        format!("+ auxiliary unit {}", run_slice(&u)),
        format!("StopUnit {}", run_slice(&u)),
    ] {
        assert!(out.contains(&needle), "{needle}:\n{out}");
    }
    assert!(!loaded(&format!("{u}.scope")), "{} still loaded", &format!("{u}.scope"));
    assert!(!loaded(&run_slice(&u)), "{} still loaded", &run_slice(&u));
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_refusals_exit_125_and_leave_nothing() {
    let Some(s) = sd("refuse") else { return };
    // A name systemd already has: rein's held command never runs, its slice is stopped.
    let taken = s.unit("taken");
    let mut holder = Command::new("systemd-run")
        .args(["--scope", "--quiet", "--unit", &taken, "sleep", "120"])
        .spawn()
        .expect("systemd-run");
    wait_active(&format!("{taken}.scope"));
    let marker = tempfile::tempdir().expect("temp dir");
    let ran = marker.path().join("ran");
    let o = rein(&["run", "--unit", &taken, "--", "touch", ran.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains(&format!("unit {taken}.scope already exists (org.freedesktop.systemd1.UnitExists)")), "{err}");
    assert!(err.contains("hint: another run (or systemd-run) uses that name: choose another --unit"), "{err}");
    assert!(!ran.exists(), "the command ran although its unit was refused");
    assert!(!loaded(&run_slice(&taken)), "{} still loaded", &run_slice(&taken));
    let _ = systemctl(&["stop", &format!("{taken}.scope")]);
    let _ = holder.wait();
    // Bad names and misplaced flags.
    for (args, needle) in [
        (vec!["--unit", "a/b"], "invalid --unit"),
        (vec!["--slice", "a--b"], "separates slice levels"),
        (vec!["--parent", "x"], "--parent applies to the cgroupfs driver"),
        (vec!["--driver", "cgroupfs", "--unit", "x"], "--unit applies to the systemd driver"),
    ] {
        let mut full = vec!["run"];
        full.extend(args.iter());
        full.extend(["--", "true"]);
        let o = rein(&full);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", text(&o).1);
        assert!(text(&o).1.contains(needle), "{args:?}: {}", text(&o).1);
    }
    // Not found: 127, and the unit is still cleaned up.
    let u = s.unit("nf");
    let o = rein(&["run", "--unit", &u, "--", "/nonexistent/rein-test"]);
    assert_eq!(o.status.code(), Some(127), "{}", text(&o).1);
    assert!(!loaded(&format!("{u}.scope")), "{} still loaded", &format!("{u}.scope"));
    assert!(!loaded(&run_slice(&u)), "{} still loaded", &run_slice(&u));
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_a_second_run_with_a_taken_unit_leaves_the_first_alone() {
    let Some(s) = sd("second") else { return };
    let u = s.unit("x");
    let scope = format!("{u}.scope");
    let slice = run_slice(&u);
    let mut first = Command::new(bin("rein"))
        .args(["run", "--unit", &u, "--", &testload(), "sleep", "120"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rein");
    wait_active(&scope);
    // The same --unit again: refused before its command runs, and only that.
    let marker = tempfile::tempdir().expect("temp dir");
    let ran = marker.path().join("ran");
    let o = rein(&["run", "--unit", &u, "--", "touch", ran.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(!ran.exists(), "the second command ran");
    // The first run goes on: its command runs, both its units are active.
    assert!(first.try_wait().expect("try_wait").is_none(), "the first run ended");
    for unit in [&scope, &slice] {
        assert_eq!(systemctl(&["is-active", unit]), "active", "{unit} of the first run");
    }
    assert!(err.contains(&format!("unit {scope} already exists")), "{err}");
    assert!(err.contains("choose another --unit"), "{err}");
    // And it still ends as a run does.
    launch::kill(first.id() as i32, libc::SIGTERM).expect("SIGTERM rein");
    let o = first.wait_with_output().expect("wait");
    assert!(ended_by(o.status, libc::SIGTERM), "{:?} {}", o.status, String::from_utf8_lossy(&o.stderr));
    assert!(!loaded(&scope) && !loaded(&slice), "units of the first run left");
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_a_wedged_bus_fails_within_the_bound_and_a_signal_ends_the_wait() {
    let Some(_s) = sd("wedged") else { return };
    // systemd is PID 1 here, so rein connects; the bus it is pointed at never answers.
    let bus = SilentBus::start();
    let marker = tempfile::tempdir().expect("temp dir");
    let ran = marker.path().join("ran");
    let rein_at = |timeout: &str| {
        let mut c = Command::new(bin("rein"));
        c.env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .env("SYSTEMD_BUS_TIMEOUT", timeout)
            .args(["run", "--driver", "systemd", "--", "touch", ran.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        c
    };
    // The bound: SYSTEMD_BUS_TIMEOUT=1s, as for systemctl.
    let (o, took) = wait_for(rein_at("1s").spawn().expect("rein"), Duration::from_secs(60), "bounded connect");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains("systemd: cannot connect to the system bus: no answer within 1s"), "{err}");
    assert!(err.contains("SYSTEMD_BUS_TIMEOUT sets how long"), "{err}");
    assert!(took >= Duration::from_secs(1), "gave up after {took:?}");
    println!("wedged bus: rein gave up after {took:?} (bound 1s)");
    // A signal while it waits (the bound far away): rein ends at once with 128 + N.
    for (sig, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        // Earlier runs' connections are not this one's.
        while bus.accepted.try_recv().is_ok() {}
        let child = rein_at("10min").spawn().expect("rein");
        bus.accepted.recv_timeout(Duration::from_secs(60)).expect("rein did not connect");
        launch::kill(child.id() as i32, sig).expect("signal rein");
        let (o, took) = wait_for(child, Duration::from_secs(30), name);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(ended_by(o.status, sig), "{name}: {:?} {err}", o.status);
        assert!(
            err.contains(&format!("interrupted by {name} while waiting for the system bus to accept the connection")),
            "{err}"
        );
        println!("wedged bus: {name} ended rein after {took:?}");
    }
    assert!(!ran.exists(), "the command ran");
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_signals_reach_the_command_and_the_unit_goes() {
    let Some(s) = sd("signal") else { return };
    let u = s.unit("x");
    let child = Command::new(bin("rein"))
        .args(["run", "--unit", &u, "--", &testload(), "sleep", "60"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rein");
    wait_active(&format!("{u}.scope"));
    launch::kill(child.id() as i32, libc::SIGTERM).expect("SIGTERM rein");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.signal(), Some(libc::SIGTERM), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!loaded(&format!("{u}.scope")), "{} still loaded", &format!("{u}.scope"));
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_library_updates_a_unit_live() {
    let Some(s) = sd("update") else { return };
    let u = s.unit("x");
    let h = Arc::new(Hierarchy::detect().expect("hierarchy"));
    let driver = Systemd::connect(
        Instance::System,
        h.clone(),
        ScopeOptions { unit: Some(u.clone()), ..ScopeOptions::default() },
    )
    .expect("connect");
    let spec = Spec {
        resources: Resources::new().memory_max(Bytes::mib(64)),
        accounting: [Controller::Memory, Controller::Pids].into(),
    };
    let cmd = Prepared::new(OsStr::new("sleep"), &["60".into()]).expect("prepare");
    let held = launch::spawn_held(&cmd, &Attach::default(), &SigMask::current()).expect("spawn held");
    let mut unit = rein::driver::Driver::create_around(&driver, &spec, held.pid() as u32).expect("create");
    let child = held.release(0).expect("release");
    let dir = std::path::Path::new("/sys/fs/cgroup").join(unit.group().path().as_str());
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default().trim().to_string();
    assert_eq!(read("memory.max"), "67108864");
    let mut change = Resources::new().memory_max(Bytes::mib(32)).pids_max(Limit::Value(10));
    change.memory.oom_group = Some(true);
    unit.update(&change).expect("update");
    assert_eq!(read("memory.max"), "33554432");
    assert_eq!(read("pids.max"), "10");
    assert_eq!(read("memory.oom.group"), "1");
    // systemd knows the new limits (they are its properties, not files behind its back).
    assert_eq!(systemctl(&["show", "-p", "MemoryMax", "--value", &format!("{u}.scope")]), "33554432");
    unit.kill().expect("kill");
    let deadline = Instant::now() + Duration::from_secs(60);
    while launch::try_wait(child.pid).expect("wait").is_none() {
        assert!(Instant::now() < deadline, "the command outlived the unit's kill");
        std::thread::sleep(Duration::from_millis(5));
    }
    unit.remove().expect("remove");
    assert!(!loaded(&format!("{u}.scope")), "{} still loaded", &format!("{u}.scope"));
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_user_manager_without_delegation_names_the_missing_controller() {
    let Some(s) = sd("user-plain") else { return };
    user_manager();
    let rein_bin = bin("rein").display().to_string();
    let u = s.user_unit("mem");
    let o = as_tester(&[
        &rein_bin,
        "--user",
        "run",
        "--unit",
        &u,
        "--memory",
        "30M",
        "--",
        "sh",
        "-c",
        &print_files(&["memory.max"]),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let files = parse_files(&out);
    assert_eq!(files.get("memory.max").map(String::as_str), Some("31457280"), "{out}");
    assert!(
        files["cgroup"].contains(&format!("/user@{TESTER_UID}.service/rein.slice/{}/{u}.scope", run_slice(&u))),
        "{out}"
    );
    assert!(!user_loaded(&format!("{u}.scope")) && !user_loaded(&run_slice(&u)), "user units left");
    // io is not delegated to user managers by default: a clear error, not systemd's silent no-op.
    let u = s.user_unit("io");
    let o = as_tester(&[&rein_bin, "--user", "run", "--unit", &u, "--io-weight", "200", "--", "true"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains("controller 'io' is not available under"), "{err}");
    assert!(err.contains("does not delegate 'io' to this user manager"), "{err}");
    let o = as_tester(&[&rein_bin, "--user", "run", "--cpuset", "0", "--", "true"]);
    assert!(text(&o).1.contains("controller 'cpuset'"), "{}", text(&o).1);
    // A user without --user reaches the system manager, which refuses: the hint says --user.
    let o = as_tester(&[&rein_bin, "run", "--memory", "30M", "--", "true"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains("AccessDenied") || err.contains("InteractiveAuthorizationRequired"), "{err}");
    assert!(err.contains("run with --user"), "{err}");
    let o = as_tester(&[&rein_bin, "--user", "check"]);
    assert!(text(&o).0.contains("units go to its user manager"), "{}", text(&o).0);
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_user_manager_with_delegation_takes_io() {
    let Some(s) = sd("user-deleg") else { return };
    let dropin = std::path::Path::new("/etc/systemd/system/user@.service.d/rein-test-delegate.conf");
    std::fs::create_dir_all(dropin.parent().unwrap()).expect("drop-in dir");
    std::fs::write(dropin, "[Service]\nDelegate=cpu cpuset io memory pids\n").expect("drop-in");
    struct Restore<'a>(&'a std::path::Path);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
            let _ = Command::new("systemctl").arg("daemon-reload").status();
            let _ = Command::new("systemctl").args(["restart", &format!("user@{TESTER_UID}.service")]).status();
        }
    }
    let _restore = Restore(dropin);
    assert!(Command::new("systemctl").arg("daemon-reload").status().expect("daemon-reload").success());
    user_manager();
    assert!(
        Command::new("systemctl")
            .args(["restart", &format!("user@{TESTER_UID}.service")])
            .status()
            .expect("restart")
            .success()
    );
    wait_active(&format!("user@{TESTER_UID}.service"));
    let rein_bin = bin("rein").display().to_string();
    let u = s.user_unit("io");
    let o = as_tester(&[
        &rein_bin,
        "--user",
        "run",
        "--unit",
        &u,
        "--io-weight",
        "200",
        "--cpuset",
        "0",
        "--",
        "sh",
        "-c",
        &print_files(&["io.weight", "cpuset.cpus"]),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let files = parse_files(&out);
    assert_eq!(files.get("io.weight").map(String::as_str), Some("default 200"), "{out}");
    assert_eq!(files.get("cpuset.cpus").map(String::as_str), Some("0"), "{out}");
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_device_rules_are_systemds_properties() {
    let Some(s) = sd("devices") else { return };
    let script = "head -c1 /dev/zero >/dev/null 2>&1; echo zero=$?; echo x > /dev/null; echo null=$?";
    // systemd-run's own, then rein's three ways of saying it: the same decisions.
    let theirs = s.unit("sd");
    let o = Command::new("systemd-run")
        .args(["--scope", "--quiet", "--unit", &theirs, "-p", "DevicePolicy=strict", "-p", "DeviceAllow=/dev/null rw"])
        .args(["sh", "-c", script])
        .output()
        .expect("systemd-run");
    assert_eq!(text(&o).0.lines().collect::<Vec<_>>(), ["zero=1", "null=0"], "systemd-run: {}", text(&o).1);
    for (tag, flags) in [
        ("flags", &["--device-policy", "strict", "--device-allow", "c 1:3 rw"][..]),
        ("props", &["-p", "DevicePolicy=strict", "-p", "DeviceAllow=/dev/null rw"]),
        ("path", &["--device-policy", "strict", "--device", "/dev/null:rw"]),
    ] {
        let u = s.unit(tag);
        let mut args = vec!["run", "--unit", &u];
        args.extend_from_slice(flags);
        let show = format!("{script}; systemctl show -p DevicePolicy -p DeviceAllow {u}.scope");
        args.extend(["--", "sh", "-c", &show]);
        let o = rein(&args);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{tag}: {err}");
        // The rules are the scope's properties: systemd holds them and attaches the program.
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..2], ["zero=1", "null=0"], "{tag}: {out}\n{err}");
        assert!(lines.contains(&"DevicePolicy=strict"), "{tag}: {out}");
        assert!(lines.iter().any(|l| l.starts_with("DeviceAllow=") && l.contains("rw")), "{tag}: {out}");
    }
    // A rule systemd cannot say is refused before anything is made.
    let u = s.unit("deny");
    let o = rein(&["run", "--unit", &u, "--device-allow", "c *:3 r", "--", "true"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains("systemd cannot allow a minor of every major"), "{err}");
    assert!(!loaded(&format!("{u}.scope")));
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_network_settings_are_refused_with_the_way_out() {
    let Some(s) = sd("network") else { return };
    let u = s.unit("x");
    let o = rein(&["run", "--unit", &u, "--net-egress", "10mbit", "--", "true"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains("--driver cgroupfs"), "{err}");
    assert!(!loaded(&format!("{u}.scope")));
    // The cgroupfs driver does it on the same host (systemd's tree, rein's own parent).
    let o = rein(&["--driver", "cgroupfs", "run", "--net-egress", "10mbit", "--report=json", "--", "true"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
}
