//! `rein snapshot`: the live groups written as a rein.toml that `rein apply` reproduces,
//! against the real kernel (the hybrid host's v1 controllers, and the v2 VM).

use crate::support::{ALL, Env, env, ok, text};

fn limits(e: &Env, group: &str) -> serde_json::Value {
    let o = ok(e.rein(&["show", &format!("{}/{group}", e.parent), "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("show --json");
    v["limits"].clone()
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn a_snapshot_applied_after_the_groups_are_gone_makes_the_same_limits() {
    let Some(e) = env("snapshot", ALL) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("snap.toml");
    let file = file.to_str().expect("utf-8");
    let p = &e.parent;
    ok(e.rein(&["create", &format!("{p}/a"), "--memory", "64M", "--cpu", "50%"]));
    ok(e.rein(&["create", &format!("{p}/a/b"), "--pids", "20", "--cpu-weight", "200"]));
    ok(e.rein(&["create", &format!("{p}/c"), "--memory", "32M", "--cpu-weight", "300", "--cpuset", "0"]));
    // Device access: v1's devices.allow/deny (the host), or rein's program (cgroup2);
    // network settings are programs on cgroup2 only. `d/in` has no rules of its own (on
    // v1 it copies `d`'s on mkdir), `d/own` narrows them.
    let v2 = e.h.mode() == rein::Mode::Unified;
    let d = format!("{p}/d");
    let mut args = vec!["create", &d, "--device-policy", "closed", "--device-allow", "c 1:11 r"];
    if v2 {
        args.extend(["--net-egress", "10mbit", "--net-priority", "3"]);
    }
    ok(e.rein(&args));
    ok(e.rein(&["create", &format!("{p}/d/in")]));
    ok(e.rein(&["create", &format!("{p}/d/own"), "--device-policy", "strict", "--device-allow", "c 1:3 rw"]));
    let v1_devices = match e.h.binding(rein::Controller::Devices) {
        Some(rein::hierarchy::Binding::V1(m)) => Some(m.mount.path().to_path_buf()),
        _ => None,
    };
    let list = |g: &str| {
        let dir = v1_devices.as_ref().expect("v1 devices").join(p).join(g);
        let mut lines: Vec<String> = std::fs::read_to_string(dir.join("devices.list"))
            .expect("devices.list")
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    if v1_devices.is_some() {
        // The kernel's own state, which the snapshot is held to below.
        assert!(list("d").contains(&"c 1:11 r".to_string()), "{:?}", list("d"));
        assert_eq!(list("d/in"), list("d"));
        assert_eq!(list("d/own"), ["c 1:3 rw"]);
    }
    let groups: &[&str] = &["a", "a/b", "c", "d", "d/in", "d/own"];
    let before: Vec<serde_json::Value> = groups.iter().map(|g| limits(&e, g)).collect();

    ok(e.rein(&["snapshot", "--parent", p, "-o", file]));
    let written = std::fs::read_to_string(file).expect("the snapshot");
    // A weight on cgroup v2; on v1 the shares the kernel holds, in their own unit.
    let weights =
        if v2 { ["cpu-weight = 200", "cpu-weight = 300"] } else { ["cpu-shares = 2048", "cpu-shares = 3072"] };
    for want in [
        "[groups.a]\n",
        "[groups.a.groups.b]\n",
        "[groups.c]\n",
        "memory = \"64M\"",
        "cpu = \"50000/100000\"",
        "pids = 20",
        weights[0],
        weights[1],
    ] {
        assert!(written.contains(want), "{want:?} missing in:\n{written}");
    }
    for want in [
        "[groups.d]\n",
        "[groups.d.groups.in]\n",
        "[groups.d.groups.own]\n",
        // The kernel's effective rules: nothing but what is allowed (the pseudo devices
        // of `closed` among them).
        "device-policy = \"strict\"",
        "\"c 1:11 r\"",
        "device-allow = [\"c 1:3 rw\"]",
    ] {
        assert!(written.contains(want), "{want:?} missing in:\n{written}");
    }
    // Device keys only where a group has rules of its own: not on `a`, `a/b`, `c` (every
    // device) nor on `d/in` (its parent's rules).
    let table = |g: &str| {
        let start = written.find(&format!("[groups.{g}]\n")).unwrap_or_else(|| panic!("no {g} in:\n{written}"));
        let rest = &written[start + 1..];
        &rest[..rest.find("\n[").unwrap_or(rest.len())]
    };
    for g in ["a", "a.groups.b", "c", "d.groups.in"] {
        assert!(!table(g).contains("device-"), "{g} has device keys:\n{written}");
    }
    assert_eq!(written.matches("device-policy").count(), 2, "{written}");
    if v2 {
        for want in ["net-egress = \"10mbit\"", "net-priority = \"3\""] {
            assert!(written.contains(want), "{want:?} missing in:\n{written}");
        }
    }
    // Defaults are not written: no "max", no weight 100, one memory key per group that has one.
    assert!(!written.contains("max") && !written.contains("= 100\n"), "{written}");
    assert_eq!(written.matches("memory =").count(), 2, "{written}");
    // A CPU list is written where it was set, not where a v1 child took its parent's.
    assert_eq!(written.matches("cpuset = \"0\"").count(), 1, "{written}");
    // Right after the snapshot, applying it would change nothing.
    let o = e.rein(&["diff", "--exit-code", file]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));

    // Bad input: 125, a message naming it, and no file.
    let other = dir.path().join("other.toml");
    let o = e.rein(&["snapshot", "--parent", p, "nope", "-o", other.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(125), "{:?}", text(&o));
    assert!(text(&o).1.contains(&format!("no group /{p}/nope")), "{:?}", text(&o));
    assert!(!other.exists(), "nothing is written for a missing group");
    let o = e.rein(&["snapshot", "--parent", p, "-o", "/nonexistent-rein-dir/snap.toml"]);
    assert_eq!(o.status.code(), Some(125), "{:?}", text(&o));
    assert!(text(&o).1.contains("cannot write /nonexistent-rein-dir/snap.toml"), "{:?}", text(&o));

    // One group and what is beneath it.
    let o = ok(e.rein(&["snapshot", "--parent", p, "a"]));
    let one = text(&o).0;
    assert!(one.contains("[groups.a.groups.b]") && !one.contains("[groups.c]"), "{one}");

    // The groups go; applying the snapshot makes them again, with the same limits.
    for g in ["a/b", "a", "c", "d/in", "d/own", "d"] {
        ok(e.rein(&["rm", &format!("{p}/{g}")]));
    }
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
    ok(e.rein(&["apply", file]));
    let after: Vec<serde_json::Value> = groups.iter().map(|g| limits(&e, g)).collect();
    assert_eq!(before, after);
    if v1_devices.is_some() {
        assert!(list("d").contains(&"c 1:11 r".to_string()), "{:?}", list("d"));
        assert_eq!((list("d/in"), list("d/own")), (list("d"), vec!["c 1:3 rw".to_string()]));
    }
    let o = e.rein(&["diff", "--exit-code", file]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}

/// Shares given as shares, whichever way (`--cpu-shares`, rein.toml's `cpu-shares` key,
/// its `files` table, `-r cpu.shares`), are the kernel's cpu.shares exactly on v1, at both
/// ends of its range; a snapshot writes them and a v1 `memory.swappiness` unlike the
/// parent's, and applying it after the groups are gone makes the same files again.
#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn v1_shares_and_swappiness_come_back_exactly() {
    let Some(e) = env("snapshot_shares", &[rein::Mode::Hybrid, rein::Mode::Legacy]) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let p = &e.parent;
    let v1_file = |c: rein::Controller, g: &str, f: &str| {
        let Some(rein::hierarchy::Binding::V1(m)) = e.h.binding(c) else { panic!("{c:?} is not on v1") };
        let path = if g.is_empty() { rein::GroupPath::parse(p).expect("parent") } else { e.path(g) };
        m.mount.read(&path, f).unwrap_or_else(|err| panic!("{g} {f}: {err}")).trim().to_string()
    };
    let shares = |g: &str| v1_file(rein::Controller::Cpu, g, "cpu.shares");
    ok(e.rein(&["create", &format!("{p}/s2"), "--cpu-shares", "2"]));
    ok(e.rein(&["create", &format!("{p}/s100"), "--cpu-shares", "100", "--memory", "64M"]));
    ok(e.rein(&["create", &format!("{p}/set")]));
    ok(e.rein(&["set", &format!("{p}/set"), "--cpu-shares", "1000"]));
    let toml = dir.path().join("given.toml");
    std::fs::write(
        &toml,
        format!(
            "parent = \"{p}\"\n[groups.key]\ncpu-shares = 3\n[groups.file]\nfiles = {{ \"cpu.shares\" = 262144 }}\n"
        ),
    )
    .expect("write");
    ok(e.rein(&["apply", toml.to_str().expect("utf-8")]));
    ok(e.rein(&["set", &format!("{p}/s100"), "-r", "memory.swappiness=7"]));
    let want = [("s2", "2"), ("s100", "100"), ("set", "1000"), ("key", "3"), ("file", "262144")];
    for (g, n) in want {
        assert_eq!(shares(g), n, "{g}");
    }
    let swappiness = |g: &str| v1_file(rein::Controller::Memory, g, "memory.swappiness");
    assert_eq!(swappiness("s100"), "7");
    let parents = swappiness("");
    assert_ne!(parents, "7", "the test needs a parent swappiness other than 7");

    // Over the file that made `key` and `file`: groups of another file are refused.
    let file = toml.to_str().expect("utf-8");
    ok(e.rein(&["snapshot", "--parent", p, "-o", file]));
    let written = std::fs::read_to_string(file).expect("the snapshot");
    for (_, n) in want {
        assert!(written.contains(&format!("cpu-shares = {n}\n")), "cpu-shares = {n} missing in:\n{written}");
    }
    assert!(!written.contains("cpu-weight"), "{written}");
    assert_eq!(written.matches("memory.swappiness").count(), 1, "{written}");
    assert!(written.contains("\"memory.swappiness\" = 7"), "{written}");
    let o = e.rein(&["diff", "--exit-code", file]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));

    for (g, _) in want {
        ok(e.rein(&["rm", &format!("{p}/{g}")]));
    }
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
    ok(e.rein(&["apply", file]));
    for (g, n) in want {
        assert_eq!(shares(g), n, "{g} after the snapshot was applied");
    }
    assert_eq!(swappiness("s100"), "7");
    let o = e.rein(&["diff", "--exit-code", file]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}

/// The block `group NAME { ... }` of a cgsnapshot output, if there is one.
fn block<'a>(out: &'a str, name: &str) -> Option<&'a str> {
    let start = out.find(&format!("\ngroup {name} {{\n"))? + 1;
    let len = out[start..].find("\n}\n")? + 3;
    Some(&out[start..start + len])
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn cgsnapshot_writes_a_group_as_libcgroup_does() {
    use std::os::unix::fs::PermissionsExt;
    let Some(e) = env("cgsnapshot", ALL) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    ok(e.rein(&["compat", "install", dir.path().to_str().expect("utf-8")]));
    let tool = dir.path().join("cgsnapshot");
    let run = |args: &[&str]| std::process::Command::new(&tool).args(args).output().expect("run cgsnapshot");
    let g = format!("{}/g", e.parent);
    ok(e.rein(&["create", &g, "--pids", "42"]));

    let o = ok(run(&["-s", "pids"]));
    let out = text(&o).0;
    assert!(out.starts_with("# Configuration file generated by cgsnapshot\nmount {\n"), "{out}");
    assert!(text(&o).1.is_empty(), "-s: no warnings: {}", text(&o).1);
    // The group's block: the pids controller only, its limit as the file holds it, and
    // no variable the hierarchy's root shows read-only.
    let b = block(&out, &g).unwrap_or_else(|| panic!("no group {g} in:\n{out}"));
    assert!(b.starts_with(&format!("group {g} {{\n\tpids {{\n")), "{b}");
    assert!(b.contains("\t\tpids.max=\"42\";\n"), "{b}");
    assert_eq!(b.matches(" {\n").count(), 2, "one controller block: {b}");
    let pids_mount = rein::lifecycle::place_of(&e.h, rein::compat::raw::Home::Controller(rein::Controller::Pids))
        .expect("pids")
        .mount(&e.h)
        .path()
        .to_path_buf();
    for line in b.lines().filter(|l| l.starts_with("\t\t")) {
        let file = line.trim().split('=').next().expect("name");
        if let Ok(m) = std::fs::metadata(pids_mount.join(file)) {
            assert!(m.permissions().mode() & 0o200 != 0, "{file} is read-only in the root: {b}");
        }
    }
    // Without -s: libcgroup's warning for the variables of the first group.
    let o = ok(run(&["pids"]));
    assert!(text(&o).1.contains("WARNING: variable pids.max is neither deny nor allow list"), "{}", text(&o).1);
    // -f writes the same to a file; a denylist leaves its variables out.
    let file = dir.path().join("cgconfig.conf");
    let deny = dir.path().join("deny.conf");
    std::fs::write(&deny, "# not these\npids.max\n").expect("denylist");
    ok(run(&["-s", "-b", deny.to_str().expect("utf-8"), "-f", file.to_str().expect("utf-8"), "pids"]));
    let written = std::fs::read_to_string(&file).expect("-f");
    let b = block(&written, &g).expect("the group in the file");
    assert!(!b.contains("pids.max") && b.contains("\tpids {\n"), "{b}");
    // A group not root's: libcgroup's perm block.
    let gdir = pids_mount.join(&g);
    let tasks = if e.h.mode() == rein::Mode::Unified { "cgroup.procs" } else { "tasks" };
    std::os::unix::fs::chown(&gdir, Some(65534), Some(65534)).expect("chown");
    std::os::unix::fs::chown(gdir.join(tasks), Some(65534), Some(65534)).expect("chown");
    let out = text(&ok(run(&["-s", "pids"]))).0;
    let b = block(&out, &g).expect("the group");
    assert!(b.contains("\tperm {\n\t\tadmin {\n\t\t\tuid = ") && b.contains("\t\ttask {\n\t\t\ttuid = "), "{b}");
    // Usage errors: libcgroup's words and 129; a denylist that cannot be read: 129.
    let o = run(&["-x"]);
    assert_eq!(o.status.code(), Some(129));
    assert!(text(&o).1.contains("Wrong input parameters"), "{}", text(&o).1);
    let o = run(&["-b", "/nonexistent-rein-deny.conf"]);
    assert_eq!(o.status.code(), Some(129));
    assert!(text(&o).1.contains("ERROR: Failed to open file /nonexistent-rein-deny.conf"), "{}", text(&o).1);
    assert!(text(&o).0.is_empty());
}
