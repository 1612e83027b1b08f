//! `rein::Cgroup` over the systemd driver (`rein_systemd::SliceDriver`, chosen by
//! `detect_driver`): a group is a transient slice, each process a scope in it. Run in the
//! systemd VM like the rest of `systemd::`; elsewhere each test says it does not apply.
//!
//! Each test's groups live under `t_<test>_<pid>` (no `-`: it separates slice levels), that
//! is in the slice `rein-t_<test>_<pid>.slice`, which the test stops when it ends.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rein::driver::Driver;
use rein::events::{EventKind, Options};
use rein::{Bytes, Cgroup, Resources};
use rein_systemd::{Instance, Requested, detect_driver};

use super::{left_loaded, loaded, sd, systemctl, testload};
use crate::support::{bin, text};

/// A test's parent group, and the slice stopped (with everything in it) on drop.
struct Parent {
    name: String,
    slice: String,
}

impl Parent {
    fn new(test: &str) -> Parent {
        let name = format!("t_{test}_{}", std::process::id());
        Parent { slice: format!("rein-{name}.slice"), name }
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        let _ = Command::new("systemctl").args(["stop", &self.slice]).output();
        let _ = Command::new("systemctl").args(["reset-failed", &self.slice]).output();
    }
}

fn systemd_driver() -> Arc<dyn Driver> {
    let choice = detect_driver(Requested::Auto, Instance::System).expect("detect the driver");
    assert_eq!(choice.driver.name(), "systemd", "{}", choice.reason);
    choice.driver
}

fn dir(cg: &Cgroup) -> PathBuf {
    Path::new("/sys/fs/cgroup").join(cg.path().as_str())
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default().trim().to_string()
}

fn cgroup_of(pid: u32) -> String {
    rein::hierarchy::cgroup_v2_of(pid).unwrap_or_default()
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_handle_a_group_is_a_slice_and_its_processes_scopes() {
    let Some(_s) = sd("handle") else { return };
    let p = Parent::new("handle");
    let mut cg = Cgroup::builder(format!("{}/w", p.name))
        .driver(systemd_driver())
        .memory_max(Bytes::mib(64))
        .cpu_percent(20.0)
        .create()
        .expect("create");
    let slice = format!("rein-{}-w.slice", p.name);
    assert_eq!(cg.unit(), Some(slice.as_str()));
    assert_eq!(cg.driver_name(), "systemd");
    assert_eq!(cg.path().as_str(), format!("rein.slice/{}/{slice}", p.slice));
    let d = dir(&cg);
    assert_eq!(systemctl(&["show", "-p", "MemoryMax", "--value", &slice]), "67108864");
    assert_eq!((read(&d, "memory.max"), read(&d, "cpu.max")), ("67108864".into(), "20000 100000".into()));

    // A spawned child starts in a scope of its own inside the slice.
    let mut child = cg.spawn(Command::new("sleep").arg("60")).expect("spawn");
    let scope = format!("rein-{}-w-{}.scope", p.name, child.id());
    assert_eq!(cgroup_of(child.id()), format!("/{}/{scope}", cg.path().as_str()));
    assert!(loaded(&scope), "{scope} not loaded");
    // A process started elsewhere, added.
    let mut outside = Command::new("sleep").arg("60").spawn().expect("sleep");
    cg.add_pid(outside.id()).expect("add_pid");
    assert_eq!(cgroup_of(outside.id()), format!("/{}/rein-{}-w-{}.scope", cg.path().as_str(), p.name, outside.id()));
    let mut pids = cg.pids().unwrap();
    pids.sort();
    let mut want = vec![child.id(), outside.id()];
    want.sort();
    assert_eq!(pids, want);

    // Live limits are the slice's properties: systemd knows them.
    cg.set(&Resources::new().memory_max(Bytes::mib(32)).pids_max(20)).expect("set");
    assert_eq!(systemctl(&["show", "-p", "MemoryMax", "--value", &slice]), "33554432");
    assert_eq!((read(&d, "memory.max"), read(&d, "pids.max")), ("33554432".into(), "20".into()));
    assert_eq!(cg.stats().unwrap().memory.unwrap().max, Some(rein::Limit::Value(32 << 20)));

    cg.freeze().expect("freeze");
    assert_eq!(cg.stats().unwrap().frozen, Some(true));
    cg.thaw().expect("thaw");
    assert_eq!(cg.stats().unwrap().frozen, Some(false));

    // Drop: everything killed, the slice stopped and unloaded, its cgroup gone.
    drop(cg);
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(outside.wait().unwrap().signal(), Some(libc::SIGKILL));
    // Drop waits until systemd has unloaded the slice; the scopes go in the same sweep. A
    // busy manager may take its time: waited for, with a generous deadline.
    assert_eq!(left_loaded(&[&slice, &scope]), Vec::<String>::new(), "units left");
    assert!(!d.exists(), "{} left", d.display());
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_handle_keep_open_close_and_refusals() {
    let Some(_s) = sd("handle-life") else { return };
    let p = Parent::new("life");
    let driver = systemd_driver();
    let name = format!("{}/k", p.name);
    let slice = format!("rein-{}-k.slice", p.name);
    let cg = Cgroup::builder(&name).driver(driver.clone()).pids_max(10).create().unwrap();
    let mut child = cg.spawn(Command::new("sleep").arg("60")).unwrap();
    // Taken: refused before any call, the group as it was.
    let e = Cgroup::builder(&name).driver(driver.clone()).pids_max(3).create().unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    cg.keep().expect("keep");
    assert!(loaded(&slice) && child.try_wait().unwrap().is_none(), "keep stopped the group");
    let opened = Cgroup::builder(&name).driver(driver.clone()).open().expect("open");
    assert!(opened.is_persistent());
    assert_eq!(opened.stats().unwrap().pids.unwrap().max, Some(rein::Limit::Value(10)));
    drop(opened);
    assert!(loaded(&slice));
    Cgroup::builder(&name).driver(driver.clone()).open().unwrap().remove().expect("remove");
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(!loaded(&slice));
    // A slice someone stopped behind the handle's back is gone: close() is fine with that.
    let cg = Cgroup::builder(&name).driver(driver.clone()).create().unwrap();
    assert!(Command::new("systemctl").args(["stop", &slice]).status().unwrap().success());
    cg.close().expect("close after an outside stop");
    // A program that does not exist: std's error; its scope goes with the failed child.
    let cg = Cgroup::builder(&name).driver(driver.clone()).create().unwrap();
    let e = cg.spawn(&mut Command::new("/nonexistent/rein-test")).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    assert!(cg.pids().unwrap().is_empty());
    cg.close().unwrap();
    // A level with '-' cannot be a slice level: refused, nothing started.
    let e = Cgroup::builder(format!("{}/a-b", p.name)).driver(driver.clone()).create().unwrap_err();
    assert!(e.to_string().contains("not allowed under systemd"), "{e}");
    // No driver given: rein's default refuses to write behind systemd's back, and says how.
    let e = Cgroup::builder(format!("{}/plain", p.name)).create().unwrap_err();
    assert!(e.to_string().contains("systemd is PID 1"), "{e}");
    assert!(e.hint().unwrap().contains("rein_systemd::detect_driver"), "{e:?}");
    assert!(!Path::new("/sys/fs/cgroup").join(&p.name).exists());
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_handle_events_report_an_oom_kill_in_a_scope() {
    let Some(_s) = sd("handle-oom") else { return };
    let p = Parent::new("oom");
    let cg =
        Cgroup::builder(format!("{}/o", p.name)).driver(systemd_driver()).memory_max(Bytes::mib(20)).create().unwrap();
    let mut w = cg.events(Options::default()).unwrap();
    let mut child = cg.spawn(Command::new(testload()).args(["alloc", "100"]).stdout(Stdio::null())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut kinds = Vec::new();
    while !kinds.contains(&"oom_kill") {
        assert!(Instant::now() < deadline, "no oom_kill; saw {kinds:?}");
        if let Some(ev) = w.wait(Some(Duration::from_millis(100))).unwrap() {
            if let EventKind::OomKill { .. } = ev.kind {
                assert_eq!(&ev.group, cg.path());
            }
            kinds.push(ev.kind.name());
        }
    }
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(cg.group().oom_kills(), Some(1));
    cg.close().unwrap();
}

fn example(name: &str, args: &[&str]) -> (String, String) {
    let o = Command::new(bin(name)).args(args).env_remove("REIN_DRIVER").output().expect("run the example");
    let (out, err) = text(&o);
    println!("--- {name} {args:?}: {:?}\n{out}{err}", o.status);
    assert!(o.status.success(), "{name}: {err}");
    assert!(!out.contains("driver cgroupfs"), "{out}");
    (out, err)
}

#[test]
#[ignore = "systemd VM: scripts/test --tier systemd"]
fn systemd_library_examples_run_on_the_systemd_driver() {
    let Some(_s) = sd("examples") else { return };
    let p = Parent::new("ex");
    let (out, _) = example("worker_pool", &["--parent", &p.name]);
    assert!(out.starts_with("driver systemd:"), "{out}");
    assert!(
        out.contains(&format!("pool /{}/pool (cgroup /rein.slice/{}/rein-{}-pool.slice)", p.name, p.slice, p.name))
    );
    assert!(out.contains("worker w2: killed by signal 9,") && out.contains("oom_kills 1\n"), "{out}");
    assert!(out.contains("worker w1: exit 0,") && out.contains("froze w3: 2 processes, frozen true"), "{out}");
    assert_eq!(left_loaded(&[&format!("rein-{}-pool.slice", p.name)]), Vec::<String>::new(), "the pool's slice");

    let (out, _) = example("backpressure", &["--parent", &p.name]);
    assert!(out.starts_with("backpressure: driver systemd, mode v2"), "{out}");
    let pressure = out.lines().find(|l| l.starts_with("pressure: ")).unwrap_or_else(|| panic!("{out}"));
    assert!(pressure.contains("memory:some") && pressure.ends_with("(read back: 10%)"), "{pressure}");
    assert!(out.contains("(read back: 100%); CPU while lowered"), "{out}");

    let (out, _) = example("cgroup_v2_controller", &["--parent", &p.name, "--assign-self"]);
    let group = format!("rein.slice/{}/rein-{}-devmindset_worker.slice", p.slice, p.name);
    assert!(out.contains(&format!("(/proc/PID/cgroup: 0::/{group}/rein-{}-devmindset_worker-", p.name)), "{out}");
    assert!(out.contains("destroy refused:") && out.contains("is in it"), "{out}");
    let worker = format!("rein-{}-devmindset_worker.slice", p.name);
    assert_eq!(left_loaded(&[&worker]), Vec::<String>::new(), "the worker's slice");
}
