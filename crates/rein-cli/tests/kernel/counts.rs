//! Counts over interface files of many records: `cgroup.procs` of a group whose text is
//! longer than a few read(2)s of a seq_file hand out (at most a page each).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::support::{ALL, Env, bin, env, text, wait_for};

/// How many processes the test starts. rein read `cgroup.procs` until the first short
/// read, which ended its text after ~8 KiB (1,024 + 1,024 + 2,048 bytes, then one page):
/// 1,365 of 1,601 processes with 6-byte pids. With the low pids of a fresh VM (4-5
/// digits) 1,600 processes fit in 8 KiB, so the test starts 3,000: 15 KiB or more.
const PROCS: usize = 3000;

/// `cgroup.procs` of `group` as the kernel has it, read with std (which reads to EOF),
/// from the unified hierarchy or else the first v1 one.
fn kernel_procs(e: &Env, group: &str) -> usize {
    let root: PathBuf = match e.h.unified() {
        Some(u) => u.mount.path().to_path_buf(),
        None => e.h.v1_mounts()[0].mount.path().to_path_buf(),
    };
    std::fs::read_to_string(root.join(group).join("cgroup.procs")).map(|t| t.lines().count()).unwrap_or(0)
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn show_and_kill_see_every_process_of_a_large_group() {
    let Some(e) = env("many_procs", ALL) else { return };
    let group = format!("{}/many", e.parent);
    let o = e.rein(&["create", &group]);
    assert!(o.status.success(), "create: {}", text(&o).1);
    // The loader and its PROCS children, all sleeping, in the group.
    let mut loader = Command::new(bin("rein"))
        .args(["exec", &group, "--"])
        .arg(bin("rein-testload"))
        .args(["fork", &PROCS.to_string(), "600"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the loader");
    let want = PROCS + 1;
    wait_for(300, "every process in cgroup.procs", || kernel_procs(&e, &group) == want);

    // rein show reads cgroup.procs through the library's accessor.
    let o = e.rein(&["show", &group, "--json"]);
    assert!(o.status.success(), "show: {}", text(&o).1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("show --json");
    assert_eq!(v["procs_total"].as_u64(), Some(want as u64), "rein show counts every process");

    // A graceful kill signals every pid it reads: none may be skipped.
    let o = e.rein(&["kill", &group, "--signal", "TERM"]);
    assert!(o.status.success(), "kill: {}", text(&o).1);
    let _ = loader.wait();
    wait_for(120, "the group to empty after SIGTERM to every process", || kernel_procs(&e, &group) == 0);
    let o = e.rein(&["rm", &group]);
    assert!(o.status.success(), "rm: {}", text(&o).1);
}
