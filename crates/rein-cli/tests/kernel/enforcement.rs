//! Limits enforced by the kernel, driven through `rein run`.

use std::os::unix::process::ExitStatusExt;

use rein::Mode;

use crate::support::{ALL, BlockDevice, V2, assert_quota_enforced, bin, env, ok, report, spin_until_throttled, text};

fn testload() -> String {
    bin("rein-testload").display().to_string()
}

fn f(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_f64().unwrap_or_else(|| panic!("no number at {path:?} in {v}"))
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn oom_kill_is_reported_and_rein_dies_of_the_sigkill() {
    let Some(e) = env("oom_kill", ALL) else { return };
    let out = e.rein(&["run", "--memory", "20M", "--report=json", "--", &testload(), "alloc", "100"]);
    let (_, err) = text(&out);
    // rein ends as its command did (a shell shows 137), after the OOM line and the report.
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "stderr:\n{err}");
    assert!(err.contains("killed by the kernel OOM killer: memory limit 20M"), "stderr:\n{err}");
    let r = report(&out);
    assert_eq!(r["oom_kills"], 1, "{r}");
    assert_eq!(r["stats"]["memory"]["oom_kill"], 1, "memory.events / oom_control oom_kill: {r}");
    assert!(f(&r, &["memory_peak_bytes"]) <= (20u64 << 20) as f64 + 65536.0, "{r}");
    assert!(e.leftovers().is_empty(), "left: {:?}", e.leftovers());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn memory_high_throttles_without_killing() {
    let Some(e) = env("memory_high", V2) else { return };
    let out = e.rein(&["run", "--memory-high", "16M", "--report=json", "--", &testload(), "alloc", "24"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{err}");
    let r = report(&out);
    assert!(f(&r, &["stats", "memory", "high_events"]) > 0.0, "memory.events high: {r}");
    assert_eq!(r["oom_kills"], 0);
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn cpu_quota_caps_usage_and_the_kernel_throttles_the_group() {
    let Some(e) = env("cpu_max", ALL) else { return };
    // 20% = 20 ms per 100 ms period. The spinner runs until the kernel has throttled its
    // group often enough (however long a busy machine takes), then rein is stopped.
    let run = std::process::Command::new(bin("rein"))
        .args(["run", "--parent", &e.parent, "--name", "quota", "--cpu", "20%", "--report=json"])
        .args(["--", &testload(), "spin", "300"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rein");
    spin_until_throttled(&e, &format!("{}/quota", e.parent));
    rein::launch::kill(run.id() as i32, libc::SIGTERM).expect("kill");
    let out = run.wait_with_output().expect("rein");
    assert_eq!(out.status.signal(), Some(libc::SIGTERM), "{}", text(&out).1);
    let r = report(&out);
    assert_quota_enforced(&r["stats"]["cpu"], f(&r, &["wall_usec"]), 20_000.0, &r);
    assert!(e.leftovers().is_empty(), "left: {:?}", e.leftovers());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn cpu_weight_splits_one_core_two_to_one() {
    use std::time::{Duration, Instant};
    let Some(e) = env("cpu_weight", ALL) else { return };
    // Both on CPU 0 and spinning far longer than the test needs: they are stopped once
    // measured, so the window never depends on how fast a busy machine starts them.
    let spin = |weight: &str, name: &str| {
        std::process::Command::new(bin("rein"))
            .args(["run", "--parent", &e.parent, "--name", name, "--cpuset", "0", "--cpu-weight", weight])
            .args(["--", &testload(), "spin", "120"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("rein")
    };
    let mut runs = [spin("200", "heavy"), spin("100", "light")];
    let usage = |name: &str| -> Option<u64> {
        let g = rein::Group::open(e.h.clone(), &e.path(name)).ok()?;
        g.stats().ok()?.cpu.usage_usec
    };
    let both = || Some((usage("heavy")?, usage("light")?));
    let wait = |what: &str, cond: &mut dyn FnMut() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Measure only while both spin: from the moment each has used some CPU (so both
    // commands run, not rein starting them) until together they used 2 s more, however
    // long that takes on a loaded CPU 0. Over the same window, sharing one CPU, CFS gives
    // the siblings CPU in proportion to their weights, whatever else competes for it.
    wait("both spinners to run", &mut || both().is_some_and(|(h, l)| h >= 50_000 && l >= 50_000));
    let (h0, l0) = both().expect("both groups");
    let mut last = (h0, l0);
    wait("2 s of CPU between the spinners", &mut || {
        last = both().expect("both spinners still run");
        (last.0 - h0) + (last.1 - l0) >= 2_000_000
    });
    let (dh, dl) = ((last.0 - h0) as f64, (last.1 - l0) as f64);
    for run in &mut runs {
        rein::launch::kill(run.id() as i32, libc::SIGTERM).expect("kill");
        let status = run.wait().expect("wait");
        assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    }
    let ratio = dh / dl;
    eprintln!("heavy/light CPU {ratio:.2} ({dh} vs {dl} us)");
    assert!((1.5..=2.7).contains(&ratio), "heavy/light CPU {ratio:.2} ({dh} vs {dl} us), want ~2");
    assert!(e.leftovers().is_empty(), "left: {:?}", e.leftovers());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn cpuset_pins_the_command() {
    let Some(e) = env("cpuset", ALL) else { return };
    let out = e.rein(&["run", "--cpuset", "1", "--", &testload(), "affinity"]);
    let (o, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(o.trim(), "1");
    let out = e.rein(&["run", "--cpuset", "0-63", "--", "true"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(125));
    assert!(err.contains("not available"), "{err}");
    assert!(e.leftovers().is_empty());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn pids_max_stops_forks() {
    let Some(e) = env("pids_max", ALL) else { return };
    let out = e.rein(&["run", "--pids", "5", "--report=json", "--", &testload(), "fork", "10", "0.5"]);
    let (o, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(o.trim(), "forked 4", "the 5th task must be refused: {err}");
    let r = report(&out);
    assert!(f(&r, &["stats", "pids", "max_events"]) >= 1.0, "{r}");
    assert_eq!(f(&r, &["pids_peak"]), 5.0, "{r}");
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn io_max_throttles_writes() {
    let Some(e) = env("io_max", ALL) else { return };
    let dev = BlockDevice::get();
    let limit = format!("{}:wbps=1M", dev.path);
    let out = e.rein(&["run", "--io-max", &limit, "--", &testload(), "write", &dev.path, "3"]);
    let (o, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let secs: f64 = o.trim().parse().unwrap_or_else(|_| panic!("seconds: {o} {err}"));
    assert!(secs >= 1.8, "3 MiB at 1 MiB/s took {secs}s");
    // Unthrottled, the same write is fast: the limit, not the device, made it slow.
    let out = e.rein(&["run", "--", &testload(), "write", &dev.path, "3"]);
    let fast: f64 = text(&out).0.trim().parse().expect("seconds");
    assert!(fast < secs / 2.0, "unthrottled {fast}s vs throttled {secs}s");
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn leftovers_are_killed_and_no_group_remains() {
    let Some(e) = env("leftovers", ALL) else { return };
    let out = e.rein(&["run", "--report=json", "--", "sh", "-c", "sleep 60 & sleep 60 & echo started"]);
    let (o, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(o.trim(), "started");
    assert_eq!(report(&out)["killed_leftovers"], true);
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn failures_leave_nothing_behind() {
    let Some(e) = env("failures", ALL) else { return };
    for (args, code) in [
        (vec!["run", "--memory", "lots", "--", "true"], 125),
        (vec!["run", "--", "/nonexistent"], 127),
        (vec!["run", "--", "/etc/hostname"], 126),
        (vec!["run", "--pids", "max", "--cpuset", "0", "--mems", "7", "--", "true"], 125),
    ] {
        let out = e.rein(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out).1);
        assert!(e.leftovers().is_empty(), "{args:?} left {:?}", e.leftovers());
    }
    // pids.max above the kernel's largest (PID_MAX_LIMIT, 4194304): refused before any
    // write, naming the value and the limit, by run and create alike.
    let g = format!("{}/pids", e.parent);
    for v in ["4194305", "2147483648", "18446744073709551615"] {
        for args in [vec!["run", "--pids", v, "--", "true"], vec!["create", "--pids", v, &g]] {
            let out = e.rein(&args);
            let err = text(&out).1;
            assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
            assert!(err.contains(&format!("invalid pids limit '{v}'")) && err.contains("pids.max, 4194304"), "{err}");
            assert!(!err.contains("Invalid argument"), "refused by the kernel, not by rein: {err}");
            assert!(e.leftovers().is_empty(), "{args:?} left {:?}", e.leftovers());
        }
    }
    ok(e.rein(&["run", "--pids", "4194304", "--", "true"]));
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn exit_status_and_signals_pass_through() {
    let Some(e) = env("status", ALL) else { return };
    assert_eq!(e.rein(&["run", "--", "sh", "-c", "exit 7"]).status.code(), Some(7));
    assert_eq!(e.rein(&["run", "--", "sh", "-c", "kill -TERM $$"]).status.signal(), Some(libc::SIGTERM));
    // SIGTERM to rein reaches the command.
    let mut child = std::process::Command::new(bin("rein"))
        .args(["run", "--parent", &e.parent, "--", &testload(), "sleep", "30"])
        .spawn()
        .expect("rein");
    // Signal once the group exists: rein blocks its signals before it makes the group, so
    // from then on SIGTERM is forwarded (a fixed sleep raced rein's start on a loaded VM).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while e.leftovers().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    rein::launch::kill(child.id() as i32, libc::SIGTERM).expect("kill");
    let status = child.wait().expect("wait");
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    assert!(e.leftovers().is_empty());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn v1_only_errors_name_the_closest_equivalent() {
    let Some(e) = env("v1_errors", &[Mode::Hybrid, Mode::Legacy]) else { return };
    let out = e.rein(&["run", "--memory-high", "10M", "--", "true"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        err.contains("memory.high is not supported on cgroup v1") && err.contains("memory.limit_in_bytes"),
        "{err}"
    );
}
