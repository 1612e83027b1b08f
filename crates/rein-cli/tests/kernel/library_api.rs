//! `rein::Cgroup`, the library's group handle, against the real kernel (cgroupfs driver:
//! the hybrid host and the v2 VM), and the library's examples run as programs. The
//! systemd driver's side is in systemd/library.rs.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rein::driver::{Cgroupfs, Driver};
use rein::events::{EventKind, Options};
use rein::mark::Mark;
use rein::plan::Place;
use rein::{Bytes, Cgroup, Group, GroupPath, Mode, Resources};

use crate::support::{ALL, Env, bin, env, text};

fn cgroupfs(e: &Env) -> Arc<dyn Driver> {
    Arc::new(Cgroupfs::new(e.h.clone()))
}

fn testload(args: &[&str]) -> Command {
    let mut c = Command::new(bin("rein-testload"));
    c.args(args);
    c
}

/// The group's directories that exist now, in every hierarchy.
fn dirs(e: &Env, path: &GroupPath) -> Vec<PathBuf> {
    let mut mounts: Vec<PathBuf> = e.h.v1_mounts().iter().map(|m| m.mount.path().to_path_buf()).collect();
    mounts.extend(e.h.unified().map(|u| u.mount.path().to_path_buf()));
    mounts.into_iter().map(|m| m.join(path.as_str())).filter(|d| d.is_dir()).collect()
}

/// Asserts that `pid` is in `cg` in every hierarchy the group has a directory in.
fn assert_inside(cg: &Cgroup, pid: u32) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("/proc/PID/cgroup");
    let lines = rein::lifecycle::parse_proc_cgroup(&text);
    let want = format!("/{}", cg.path().as_str());
    let h = cg.hierarchy();
    assert!(!cg.group().nodes().is_empty());
    for n in cg.group().nodes() {
        let line = match n.place {
            Place::V2 => lines.iter().find(|(set, _)| set.is_empty()),
            Place::V1(i) => {
                let c = h.v1_mounts()[i].controllers.iter().next().expect("a v1 mount has controllers").v1_name();
                lines.iter().find(|(set, _)| set.contains(c))
            }
        };
        let (_, path) = line.unwrap_or_else(|| panic!("no line for {:?} in {text}", n.place));
        assert_eq!(path, &want, "{:?} of pid {pid}: {text}", n.place);
    }
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn handle_drop_kills_what_runs_and_removes_the_group() {
    let Some(e) = env("lib_drop", ALL) else { return };
    let cg = Cgroup::builder(e.path("d").as_str()).driver(cgroupfs(&e)).memory_max(Bytes::mib(64)).create().unwrap();
    let path = cg.path().clone();
    let mut child = cg.spawn(testload(&["fork", "3", "60"]).stdout(Stdio::null())).expect("spawn");
    crate::support::wait_for(20, "the load and its 3 forks", || cg.pids().is_ok_and(|p| p.len() >= 4));
    assert!(!dirs(&e, &path).is_empty());
    // The group is the caller's: marked transient for this process.
    assert!(matches!(cg.group().mark().unwrap(), Some(Mark::Transient { pid, .. }) if pid == std::process::id()));
    drop(cg);
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(dirs(&e, &path), Vec::<PathBuf>::new(), "drop left directories");
    assert!(e.leftovers().is_empty());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn handle_spawn_puts_the_child_in_every_hierarchy_and_a_reused_command_in_the_new_group() {
    let Some(e) = env("lib_spawn", ALL) else { return };
    let a = Cgroup::builder(e.path("a").as_str()).driver(cgroupfs(&e)).pids_max(16).create().unwrap();
    let b = Cgroup::builder(e.path("b").as_str()).driver(cgroupfs(&e)).cpu_percent(50.0).create().unwrap();
    let mut cmd = testload(&["sleep", "30"]);
    let mut first = a.spawn(&mut cmd).expect("spawn into a");
    assert_inside(&a, first.id());
    // The same Command again, into b: a's step is disarmed, the child ends up in b only.
    let mut second = b.spawn(&mut cmd).expect("spawn into b");
    assert_inside(&b, second.id());
    assert_eq!(a.pids().unwrap(), [first.id()]);
    assert_eq!(b.pids().unwrap(), [second.id()]);
    // A program that does not exist: std's error, unchanged, and nothing left running.
    let err = a.spawn(&mut Command::new("/nonexistent/rein-test")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    assert_eq!(a.pids().unwrap(), [first.id()]);
    a.close().unwrap();
    b.close().unwrap();
    assert_eq!(first.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(second.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(e.leftovers().is_empty());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn handle_keep_and_open_leave_the_group_and_remove_deletes_it() {
    let Some(e) = env("lib_keep", ALL) else { return };
    let name = e.path("k");
    let cg = Cgroup::builder(name.as_str()).driver(cgroupfs(&e)).memory_max(Bytes::mib(64)).create().unwrap();
    let mut child = cg.spawn(&mut testload(&["sleep", "60"])).unwrap();
    let path = cg.keep().expect("keep");
    assert_eq!(path, name);
    assert!(!dirs(&e, &path).is_empty(), "keep removed the group");
    assert!(child.try_wait().unwrap().is_none(), "keep killed the process");
    // rein gc must leave it alone now.
    assert_eq!(Group::open(e.h.clone(), &path).unwrap().mark().unwrap(), Some(Mark::Named));
    // An opened handle is persistent: dropping it leaves the group, with its limit.
    let opened = Cgroup::builder(name.as_str()).driver(cgroupfs(&e)).open().unwrap();
    assert!(opened.is_persistent());
    assert_eq!(opened.stats().unwrap().memory.unwrap().max, Some(rein::Limit::Value(64 << 20)));
    drop(opened);
    assert!(!dirs(&e, &path).is_empty());
    // A persistent handle's close() leaves it too; remove() deletes it.
    Cgroup::builder(name.as_str()).driver(cgroupfs(&e)).open().unwrap().close().unwrap();
    assert!(child.try_wait().unwrap().is_none());
    Cgroup::builder(name.as_str()).driver(cgroupfs(&e)).open().unwrap().remove().expect("remove");
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(dirs(&e, &path).is_empty());
    // into_persistent: the same handle, left on drop.
    let cg = Cgroup::builder(name.as_str()).driver(cgroupfs(&e)).create().unwrap().into_persistent().unwrap();
    drop(cg);
    assert!(!dirs(&e, &path).is_empty());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn handle_close_returns_cleanup_errors() {
    let Some(e) = env("lib_close", ALL) else { return };
    let name = e.path("c");
    let d = cgroupfs(&e);
    // Someone removes the group and makes it again: close() must not remove theirs.
    let cg = Cgroup::builder(name.as_str()).driver(d.clone()).create().unwrap();
    Group::open(e.h.clone(), &name).unwrap().remove().unwrap();
    let change = rein::lifecycle::Change::default();
    rein::lifecycle::create(e.h.clone(), &name, &change, Mark::Named).unwrap();
    let err = cg.close().unwrap_err();
    assert!(err.to_string().contains("is no longer the one this handle created"), "{err}");
    assert!(err.to_string().contains("'named'"), "{err}");
    assert!(!dirs(&e, &name).is_empty(), "close() removed a group it did not make");
    Group::open(e.h.clone(), &name).unwrap().remove().unwrap();
    // A group removed behind the handle's back is gone already: that is fine.
    let cg = Cgroup::builder(name.as_str()).driver(d.clone()).create().unwrap();
    Group::open(e.h.clone(), &name).unwrap().remove().unwrap();
    cg.close().expect("close of a group that is gone");
    // Creating an existing group is refused, and leaves it as it was.
    let keep = Cgroup::builder(name.as_str()).driver(d.clone()).pids_max(7).create().unwrap();
    let err = Cgroup::builder(name.as_str()).driver(d.clone()).pids_max(9).create().unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(keep.stats().unwrap().pids.unwrap().max, Some(rein::Limit::Value(7)));
    keep.close().unwrap();
    assert!(e.leftovers().is_empty());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn handle_set_changes_limits_live_and_a_refused_value_changes_nothing() {
    let Some(e) = env("lib_set", ALL) else { return };
    let mut cg = Cgroup::builder(e.path("s").as_str())
        .driver(cgroupfs(&e))
        .memory_max(Bytes::mib(64))
        .cpu_percent(80.0)
        .create()
        .unwrap();
    let mut child = cg.spawn(&mut testload(&["spin", "30"])).unwrap();
    cg.set(&Resources::new().cpu_percent(20.0).unwrap().memory_max(Bytes::mib(32)).pids_max(8)).expect("set");
    let s = cg.stats().unwrap();
    assert_eq!(s.cpu.max.and_then(|m| m.percent()), Some(20.0));
    assert_eq!(s.memory.unwrap().max, Some(rein::Limit::Value(32 << 20)));
    assert_eq!(s.pids.unwrap().max, Some(rein::Limit::Value(8)));
    // The new quota holds: CPU over 1.5 s near 20%, not the 80% before. The window may
    // hold two periods of slack and, in the emulated VM, host stalls charged to the
    // spinner; a busy machine gives it less: the bounds tell the two quotas apart.
    let (t0, u0) = (Instant::now(), cg.stats().unwrap().cpu.usage_usec.unwrap());
    std::thread::sleep(Duration::from_millis(1500));
    let share = (cg.stats().unwrap().cpu.usage_usec.unwrap() - u0) as f64 / t0.elapsed().as_micros() as f64 * 100.0;
    println!("lib_set: {share:.1}% of a CPU under a 20% quota set live");
    assert!((5.0..=40.0).contains(&share), "{share}");
    // A memory.high on a host where memory is v1 is refused; nothing changes.
    if e.h.mode() != Mode::Unified {
        let err = cg.set(&Resources::new().memory_high(Bytes::mib(16)).pids_max(9)).unwrap_err();
        assert!(matches!(err, rein::Error::Unsupported { .. }), "{err}");
        assert_eq!(cg.stats().unwrap().pids.unwrap().max, Some(rein::Limit::Value(8)));
    }
    cg.close().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn handle_events_report_the_oom_kill_and_the_group_emptying() {
    let Some(e) = env("lib_events", ALL) else { return };
    let cg = Cgroup::builder(e.path("o").as_str()).driver(cgroupfs(&e)).memory_max(Bytes::mib(20)).create().unwrap();
    let mut w = cg.events(Options::default()).unwrap();
    let mut child = cg.spawn(testload(&["alloc", "100"]).stdout(Stdio::null())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut kinds = Vec::new();
    while !kinds.contains(&"empty") {
        assert!(Instant::now() < deadline, "no empty event; saw {kinds:?}");
        if let Some(ev) = w.wait(Some(Duration::from_millis(100))).unwrap() {
            assert_eq!(&ev.group, cg.path());
            if let EventKind::OomKill { count, .. } = ev.kind {
                assert!(count >= 1);
            }
            kinds.push(ev.kind.name());
        }
    }
    println!("lib_events: {kinds:?}");
    assert!(kinds.contains(&"oom_kill"), "{kinds:?}");
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(cg.group().oom_kills(), Some(1));
    cg.close().unwrap();
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn handle_freeze_thaw_and_kill() {
    let Some(e) = env("lib_freeze", ALL) else { return };
    let cg = Cgroup::builder(e.path("f").as_str()).driver(cgroupfs(&e)).create().unwrap();
    let mut child = cg.spawn(&mut testload(&["spin", "30"])).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    cg.freeze().unwrap();
    assert_eq!(cg.stats().unwrap().frozen, Some(true));
    let t1 = cg.stats().unwrap().cpu.usage_usec.unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t2 = cg.stats().unwrap().cpu.usage_usec.unwrap();
    assert!(t2 - t1 < 5_000, "a frozen group used {}us", t2 - t1);
    cg.thaw().unwrap();
    crate::support::wait_for(20, "the thawed group to run (50 ms of CPU)", || {
        cg.stats().unwrap().cpu.usage_usec.unwrap() - t2 > 50_000
    });
    cg.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(!cg.is_populated().unwrap());
    assert!(!dirs(&e, cg.path()).is_empty(), "kill removed the group");
    assert_eq!(cg.signal(libc::SIGTERM).unwrap(), 0);
    cg.close().unwrap();
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn handle_a_child_that_cannot_join_fails_before_it_runs() {
    let Some(e) = env("lib_join", &[Mode::Hybrid, Mode::Legacy]) else { return };
    // A v1 cpuset without CPUs refuses tasks (ENOSPC): the child's own write into
    // cgroup.procs fails, after the fork and before execve.
    let cg = Cgroup::builder(e.path("j").as_str()).driver(cgroupfs(&e)).cpus("0").create().unwrap();
    let cpuset = e.h.v1_mounts().iter().find(|m| m.controllers.contains(&rein::Controller::Cpuset)).unwrap();
    std::fs::write(cpuset.mount.path().join(cg.path().as_str()).join("cpuset.cpus"), "\n").unwrap();
    let mark = tempfile::tempdir().unwrap();
    let ran = mark.path().join("ran");
    let err = cg.spawn(Command::new("touch").arg(&ran)).unwrap_err();
    let inner = err.get_ref().and_then(|i| i.downcast_ref::<rein::Error>()).expect("a rein error inside");
    let shown = format!("{inner} ({})", inner.hint().unwrap_or_default());
    println!("lib_join: {shown}");
    assert_eq!(inner.errno(), Some(libc::ENOSPC), "{shown}");
    assert!(shown.contains("cpuset") && shown.contains("cgroup.procs"), "{shown}");
    assert!(shown.contains("cpuset.cpus or cpuset.mems is empty"), "{shown}");
    assert!(!ran.exists(), "the program ran although it could not join");
    assert!(cg.pids().unwrap().is_empty());
    cg.close().unwrap();
    assert!(e.leftovers().is_empty());
}

/// Runs a library example with `args`.
fn example(name: &str, args: &[&str]) -> (Output, String, String) {
    let o = Command::new(bin(name)).args(args).env_remove("REIN_DRIVER").output().expect("run the example");
    let (out, err) = text(&o);
    println!("--- {name} {args:?}: {:?}\n{out}{err}", o.status);
    (o, out, err)
}

fn line<'a>(out: &'a str, start: &str) -> &'a str {
    out.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no line starting '{start}' in:\n{out}"))
}

/// The number after `key` in `text` (e.g. "CPU while lowered 9.8%").
fn number_after(text: &str, key: &str) -> f64 {
    let at = text.find(key).unwrap_or_else(|| panic!("no '{key}' in {text}")) + key.len();
    let digits: String = text[at..].trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    digits.parse().unwrap_or_else(|_| panic!("no number after '{key}' in {text}"))
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn example_worker_pool_isolates_an_oom_and_kills_a_stuck_worker() {
    let Some(e) = env("ex_pool", ALL) else { return };
    let (o, out, err) = example("worker_pool", &["--parent", &e.parent]);
    assert!(o.status.success(), "{err}");
    assert!(line(&out, "driver cgroupfs").contains("auto"), "{out}");
    assert_eq!(line(&out, "worker w1:").split(',').next(), Some("worker w1: exit 0"));
    assert_eq!(line(&out, "worker w4:").split(',').next(), Some("worker w4: exit 0"));
    let greedy = line(&out, "worker w2:");
    assert!(greedy.starts_with("worker w2: killed by signal 9,") && greedy.ends_with("oom_kills 1"), "{greedy}");
    for w in ["w1", "w3", "w4"] {
        assert!(line(&out, &format!("worker {w}:")).ends_with("oom_kills 0"), "{out}");
    }
    assert!(line(&out, "worker w3:").starts_with("worker w3: killed by signal 9,"), "{out}");
    assert_eq!(line(&out, "froze w3:"), "froze w3: 2 processes, frozen true");
    assert!(out.contains(&format!("event /{}/pool/w2 oom_kill", e.parent)), "{out}");
    assert!(out.lines().last() == Some(&*format!("removed pool (/{}/pool)", e.parent)), "{out}");
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn example_backpressure_lowers_cpu_under_pressure_and_restores_it_when_calm() {
    let Some(e) = env("ex_bp", &[Mode::Unified, Mode::Hybrid]) else { return };
    let (o, out, err) = example("backpressure", &["--parent", &e.parent]);
    assert!(o.status.success(), "{err}");
    let normal = if e.h.mode() == Mode::Unified { "100%" } else { "50%" };
    let pressure = line(&out, "pressure:");
    // v2: the memory.high squeeze; hybrid: the CPU quota.
    let resource = if e.h.mode() == Mode::Unified { "memory:some" } else { "cpu:some" };
    assert!(pressure.contains(resource), "{pressure}");
    assert!(pressure.ends_with(&format!("cpu.max {normal} -> 10% (read back: 10%)")), "{pressure}");
    let calm = line(&out, "calm:");
    assert!(calm.contains(&format!("-> {normal} (read back: {normal})")), "{calm}");
    let lowered_share = number_after(calm, "CPU while lowered");
    assert!(lowered_share < 20.0, "{calm}");
    assert!(out.find("pressure:") < out.find("calm:"), "{out}");
    let summary = line(&out, "worker exited 0");
    assert!(number_after(summary, "lowered") >= 1.0 && number_after(summary, "restored") >= 1.0, "{summary}");
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn example_cgroup_v2_controller_port_runs_the_seed_usage_and_rein_usage() {
    let Some(e) = env("ex_seed", ALL) else { return };
    let (o, out, err) = example("cgroup_v2_controller", &["--parent", &e.parent, "--assign-self"]);
    assert!(o.status.success(), "{err}");
    let group = format!("/{}/devmindset_worker", e.parent);
    for (start, what) in [("seed usage:", "in the group"), ("rein usage:", "of a CPU")] {
        let l = line(&out, start);
        assert!(l.contains(&group), "{l}");
        let share = number_after(l, ";");
        // Near the 20% quota (slack, emulated stalls), well below an unlimited spinner.
        assert!((3.0..=40.0).contains(&share), "{what}: {l}");
    }
    if e.h.unified().is_some() {
        assert!(line(&out, "rein usage:").contains(&format!("(/proc/PID/cgroup: 0::{group})")), "{out}");
    }
    assert!(line(&out, "destroy refused:").contains("this process") && out.contains("is in it"), "{out}");
    assert_eq!(line(&out, "destroyed"), format!("destroyed {group}"), "{out}");
    assert_eq!(out.lines().last(), Some(&*format!("destroyed {group} once that process had exited")), "{out}");
    // The class's own checks, and a name that exists: errors, and nothing made or changed.
    let (o, _, err) = example("cgroup_v2_controller", &["--parent", &e.parent, "--cpu", "0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("cpu_quota_percent must be in [1, 100], got 0"), "{err}");
    let taken = Cgroup::builder(format!("{}/devmindset_worker", e.parent)).driver(cgroupfs(&e)).pids_max(5).create();
    let taken = taken.unwrap();
    let (o, _, err) = example("cgroup_v2_controller", &["--parent", &e.parent]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(taken.stats().unwrap().pids.unwrap().max, Some(rein::Limit::Value(5)));
    taken.close().unwrap();
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
}
