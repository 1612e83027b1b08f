//! libcgroup 3's systemd options through rein's compat names, against systemd as PID 1:
//! `cgcreate -c` (a delegated scope holding a placeholder process, or the process `-p`
//! names), `-S` (the default scope under which relative paths are placed, `-b` to ignore
//! it), `cgexec -r` and `cgclassify -r` (replace the placeholder). Run in the systemd VM
//! like the rest of `systemd::`; elsewhere each test says it does not apply.
//!
//! Each test's scopes live in the slice `reintlcg<pid>.slice`, stopped (with everything in
//! it) when the test ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::{sd, systemctl};
use crate::support::text;

/// The libcgroup names, linked to rein in a directory of the test, and the test's slice.
struct Lcg {
    dir: tempfile::TempDir,
    slice: String,
}

impl Lcg {
    fn new() -> Lcg {
        let dir = tempfile::tempdir().expect("tempdir");
        let o = super::rein(&["compat", "install", dir.path().to_str().expect("utf-8")]);
        assert!(o.status.success(), "rein compat install: {}", text(&o).1);
        Lcg { dir, slice: format!("reintlcg{}.slice", std::process::id()) }
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        Command::new(self.dir.path().join(tool)).args(args).output().expect("run tool")
    }

    fn ok(&self, tool: &str, args: &[&str]) -> Output {
        let o = self.run(tool, args);
        assert!(o.status.success(), "{tool} {args:?}: exit {:?}: {}", o.status.code(), text(&o).1);
        o
    }

    fn tool(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Lcg {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(rein::compat::libcgroup::SYSTEMD_DEFAULT_FILE);
        let _ = Command::new("systemctl").args(["stop", &self.slice]).output();
    }
}

fn cgroup_dir(path: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup").join(path)
}

fn procs(path: &str) -> Vec<u32> {
    std::fs::read_to_string(cgroup_dir(path).join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn argv0(pid: u32) -> String {
    let c = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(c.split(|b| *b == 0).next().unwrap_or_default()).into_owned()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `cgcreate -c -g pids:SLICE/SCOPE` makes a delegated scope holding rein under
/// libcgroup's placeholder name; a group below it is made as any group; `cgexec -r`
/// replaces the placeholder with the command (and fails, 255, where there is none);
/// `-p PID` puts that process in the scope instead; a pid systemd cannot find, a name
/// without a slice, a scope named after a controller are refused in libcgroup's words.
#[test]
#[ignore = "real kernel: scripts/test --tier systemd"]
fn systemd_cgcreate_c_makes_a_delegated_scope_and_cgexec_r_replaces_its_placeholder() {
    let Some(_sd) = sd("lcg_scope") else { return };
    let t = Lcg::new();
    let scope = format!("{}/a.scope", t.slice);
    t.ok("cgcreate", &["-c", "-g", &format!("pids:{scope}")]);
    assert_eq!(systemctl(&["show", "-p", "Delegate", "--value", "a.scope"]), "yes");
    let held = procs(&scope);
    assert_eq!(held.len(), 1, "{scope}: {held:?}");
    assert_eq!(argv0(held[0]), "libcgroup_systemd_idle_thread");
    // The scope is delegated: a child group is made in it like any group.
    t.ok("cgcreate", &["-g", &format!("pids:{scope}/child")]);
    assert!(cgroup_dir(&format!("{scope}/child")).is_dir());
    t.ok("cgdelete", &["-g", &format!("pids:{scope}/child")]);

    // cgexec -r: the command in the scope, the placeholder gone (the scope stays: it
    // holds the command).
    let mut cmd =
        Command::new(t.tool("cgexec")).args(["-r", "-g", &format!("pids:{scope}"), "sleep", "1000"]).spawn().unwrap();
    let pid = cmd.id();
    wait_until("cgexec -r to replace the placeholder", || procs(&scope) == vec![pid]);
    assert!(!Path::new(&format!("/proc/{}", held[0])).exists() || argv0(held[0]).is_empty(), "placeholder still runs");
    // A second -r finds no placeholder: libcgroup's words, 255, the command not run.
    let o = t.run("cgexec", &["-r", "-g", &format!("pids:{scope}"), "true"]);
    assert_eq!(o.status.code(), Some(255), "{}", text(&o).1);
    assert!(text(&o).1.contains("Failed to find idle_thread task"), "{}", text(&o).1);
    assert_eq!(procs(&scope), vec![pid]);
    cmd.kill().unwrap();
    cmd.wait().unwrap();

    // -p: that process holds the scope.
    let mut sleeper = Command::new("sleep").arg("1000").spawn().unwrap();
    let b = format!("{}/b.scope", t.slice);
    t.ok("cgcreate", &["-c", "-p", &sleeper.id().to_string(), "-g", &format!("pids:{b}")]);
    assert_eq!(procs(&b), vec![sleeper.id()]);
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();

    for (args, status, words) in [
        (vec!["-c", "-p", "999999999", "-g"], 93, "999999999"),
        (vec!["-c", "-g"], 91, "Invalid scope name, using controller name cpu"),
        (vec!["-c", "-g"], 91, "cgroup name does not contain a slash"),
        (vec!["-c", "-b", "-g"], 129, "\"-b\" and \"-c\" are mutually exclusive"),
    ] {
        let group = match words {
            w if w.contains("controller name") => format!("pids:{}/cpu.scope", t.slice),
            w if w.contains("slash") => "pids:lone.scope".to_string(),
            _ => format!("pids:{}/c.scope", t.slice),
        };
        let mut a = args.clone();
        a.push(&group);
        let o = t.run("cgcreate", &a);
        assert_eq!(o.status.code(), Some(status), "cgcreate {a:?}: {}", text(&o).1);
        assert!(text(&o).1.contains(words), "cgcreate {a:?}: no '{words}' in {}", text(&o).1);
    }
    // No placeholder left behind by the refused ones.
    assert!(procs(&format!("{}/c.scope", t.slice)).is_empty());
}

/// `cgclassify -r` moves running processes into a `cgcreate -c` scope and replaces its
/// placeholder once (the later pids only move); into a scope that holds no placeholder
/// (any more), libcgroup's words and the process moved back to the group it left, with
/// the status of that way back (0), as libcgroup's cgclassify.
#[test]
#[ignore = "real kernel: scripts/test --tier systemd"]
fn systemd_cgclassify_r_replaces_the_placeholder_or_moves_the_process_back() {
    let Some(_sd) = sd("lcg_classify") else { return };
    let t = Lcg::new();
    let scope = format!("{}/e.scope", t.slice);
    t.ok("cgcreate", &["-c", "-g", &format!("pids:{scope}")]);
    let held = procs(&scope);
    assert_eq!(held.len(), 1, "{scope}: {held:?}");
    let mut sleepers: Vec<_> = (0..3).map(|_| Command::new("sleep").arg("1000").spawn().unwrap()).collect();
    let pids: Vec<u32> = sleepers.iter().map(|c| c.id()).collect();
    let (a, b) = (pids[0].to_string(), pids[1].to_string());
    let o = t.ok("cgclassify", &["-r", "-g", &format!("pids:{scope}"), &a, &b]);
    assert!(text(&o).1.is_empty(), "{}", text(&o).1);
    wait_until("cgclassify -r to replace the placeholder", || {
        let mut p = procs(&scope);
        p.sort();
        p == [pids[0], pids[1]]
    });
    assert!(!Path::new(&format!("/proc/{}", held[0])).exists() || argv0(held[0]).is_empty(), "placeholder still runs");

    // No placeholder left: the third sleeper goes back where it was.
    let c = pids[2].to_string();
    let before = std::fs::read_to_string(format!("/proc/{c}/cgroup")).unwrap();
    let o = t.run("cgclassify", &["-r", "-g", &format!("pids:{scope}"), &c]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert!(text(&o).1.contains("Failed to find idle_thread task"), "{}", text(&o).1);
    assert_eq!(std::fs::read_to_string(format!("/proc/{c}/cgroup")).unwrap(), before);
    let mut p = procs(&scope);
    p.sort();
    assert_eq!(p, [pids[0], pids[1]]);
    for s in &mut sleepers {
        s.kill().unwrap();
        s.wait().unwrap();
    }
}

/// `cgcreate -c -S` records the scope as the default: the tools place relative paths
/// under it, `/PATH` and `-b` start at the root, and a default whose scope is gone is
/// ignored (as libcgroup does).
#[test]
#[ignore = "real kernel: scripts/test --tier systemd"]
fn systemd_cgcreate_s_makes_the_scope_the_default_for_relative_paths() {
    let Some(_sd) = sd("lcg_default") else { return };
    let t = Lcg::new();
    let scope = format!("{}/d.scope", t.slice);
    t.ok("cgcreate", &["-c", "-S", "-g", &format!("pids:{scope}")]);
    let recorded = std::fs::read_to_string(rein::compat::libcgroup::SYSTEMD_DEFAULT_FILE).unwrap();
    assert_eq!(recorded, scope);
    t.ok("cgcreate", &["-g", "pids:kid"]);
    assert!(cgroup_dir(&format!("{scope}/kid")).is_dir());
    t.ok("cgset", &["-r", "pids.max=7", "kid"]);
    assert_eq!(std::fs::read_to_string(cgroup_dir(&format!("{scope}/kid/pids.max"))).unwrap().trim(), "7");
    let o = t.ok("cgget", &["-n", "-v", "-r", "pids.max", "kid"]);
    assert_eq!(text(&o).0, "7\n");
    // -b and an absolute path: the root.
    let top = format!("reintlcgtop{}", std::process::id());
    t.ok("cgcreate", &["-b", "-g", &format!("pids:{top}")]);
    assert!(cgroup_dir(&top).is_dir() && !cgroup_dir(&format!("{scope}/{top}")).exists());
    t.ok("cgdelete", &["-g", &format!("pids:/{top}")]);
    assert!(!cgroup_dir(&top).exists());
    t.ok("cgdelete", &["-g", "pids:kid"]);
    assert!(!cgroup_dir(&format!("{scope}/kid")).exists());
    // The scope gone (its placeholder killed), the default no longer applies.
    let idle = procs(&scope);
    assert_eq!(idle.len(), 1);
    let _ = Command::new("kill").arg(idle[0].to_string()).output();
    wait_until("the scope to go", || !cgroup_dir(&scope).exists());
    let kid2 = format!("reintlcgkid{}", std::process::id());
    t.ok("cgcreate", &["-g", &format!("pids:{kid2}")]);
    assert!(cgroup_dir(&kid2).is_dir(), "{kid2} not made at the root once the default scope is gone");
    t.ok("cgdelete", &["-g", &format!("pids:{kid2}")]);
}
