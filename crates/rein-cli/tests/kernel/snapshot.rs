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
    ok(e.rein(&["create", &format!("{p}/c"), "--memory", "32M", "--cpu-weight", "300"]));
    let groups = ["a", "a/b", "c"];
    let before: Vec<serde_json::Value> = groups.iter().map(|g| limits(&e, g)).collect();

    ok(e.rein(&["snapshot", "--parent", p, "-o", file]));
    let written = std::fs::read_to_string(file).expect("the snapshot");
    for want in [
        "[groups.a]\n",
        "[groups.a.groups.b]\n",
        "[groups.c]\n",
        "memory = \"64M\"",
        "cpu = \"50000/100000\"",
        "pids = 20",
        "cpu-weight = 200",
        "cpu-weight = 300",
    ] {
        assert!(written.contains(want), "{want:?} missing in:\n{written}");
    }
    // Defaults are not written: no "max", no weight 100, one memory key per group that has one.
    assert!(!written.contains("max") && !written.contains("= 100\n"), "{written}");
    assert_eq!(written.matches("memory =").count(), 2, "{written}");
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
    for g in ["a/b", "a", "c"] {
        ok(e.rein(&["rm", &format!("{p}/{g}")]));
    }
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
    ok(e.rein(&["apply", file]));
    let after: Vec<serde_json::Value> = groups.iter().map(|g| limits(&e, g)).collect();
    assert_eq!(before, after);
    let o = e.rein(&["diff", "--exit-code", file]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}
