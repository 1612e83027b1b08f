//! rein.toml commands without root: validate (every mistake, located, exit 125), the
//! examples, and apply/diff/down against fake cgroup trees (REIN_CGROUP_ROOT). The real
//! kernel's side is tests/kernel/config.rs.

use std::path::Path;
use std::process::{Command, Output};

use rein::testing::{FakeTree, Layout};

fn rein(root: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rein"));
    if let Some(r) = root {
        c.env("REIN_CGROUP_ROOT", r);
    }
    c.args(args).output().expect("run rein")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), out(&o), err(&o));
    o
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn examples() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn every_example_validates() {
    let all = examples();
    assert!(all.len() >= 4, "{all:?}");
    for f in all {
        let o = ok(rein(None, &["validate", &f]));
        assert!(out(&o).contains(": ok, "), "{f}: {}", out(&o));
        let o = ok(rein(None, &["validate", "--json", &f]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["valid"], true, "{f}");
    }
}

#[test]
fn a_file_with_three_mistakes_gets_three_located_errors_and_exit_125() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "rein.toml",
        "parent = \"dev\"\n\n[groups.db]\nmemory = \"2Q\"\ncpu = \"40%\"\n\n[groups.api]\nmemroy = \"1G\"\ncpu = 30\n",
    );
    let o = rein(None, &["validate", &f]);
    assert_eq!(o.status.code(), Some(125), "{}", err(&o));
    let e = err(&o);
    for (loc, needle) in [
        (":4:10: error: ", "invalid memory '2Q'"),
        (":8:1: error: ", "did you mean 'memory'?"),
        (":9:7: error: ", "invalid cpu '30'"),
    ] {
        assert!(e.contains(&format!("{f}{loc}")), "{loc} in:\n{e}");
        assert!(e.contains(needle), "{needle} in:\n{e}");
    }
    assert!(e.contains("4 | memory = \"2Q\"\n  |          ^^^^"), "caret under the value:\n{e}");
    assert!(e.ends_with(&format!("rein: error: {f}: 3 mistakes\n")), "{e}");
    // The same as JSON, on stdout.
    let o = rein(None, &["validate", "--json", &f]);
    assert_eq!(o.status.code(), Some(125));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3);
    assert_eq!((errors[0]["line"].as_u64(), errors[0]["column"].as_u64()), (Some(4), Some(10)));
    assert_eq!(errors[0]["key"], "groups.db.memory");
    // apply and diff refuse the same file the same way, and write nothing.
    let tree = FakeTree::new(Layout::V2);
    for cmd in ["apply", "diff", "down"] {
        let o = rein(Some(tree.path()), &[cmd, &f]);
        assert_eq!(o.status.code(), Some(125), "{cmd}");
        assert!(err(&o).contains("3 mistakes"), "{cmd}: {}", err(&o));
    }
}

#[test]
fn usage_errors_exit_2_and_a_missing_file_125() {
    assert_eq!(rein(None, &["validate"]).status.code(), Some(2));
    assert_eq!(rein(None, &["apply", "--kill", "x.toml"]).status.code(), Some(2), "--kill needs --prune");
    let o = rein(None, &["validate", "/nonexistent/rein.toml"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("cannot read /nonexistent/rein.toml"), "{}", err(&o));
}

#[test]
fn dry_runs_and_diffs_change_nothing_in_every_layout() {
    for layout in [Layout::V2, Layout::V1, Layout::Hybrid] {
        let tree = FakeTree::new(layout);
        let before = tree.snapshot();
        for f in examples() {
            let o = ok(rein(Some(tree.path()), &["apply", "--dry-run", "--parent", "t", &f]));
            assert!(out(&o).contains("mkdir ") && out(&o).contains("setfattr -n user.rein -v 'config id="), "{f}");
            let o = ok(rein(Some(tree.path()), &["diff", "--parent", "t", &f]));
            assert!(out(&o).contains(" to create, "), "{f}: {}", out(&o));
            let o = ok(rein(Some(tree.path()), &["diff", "--json", "--parent", "t", &f]));
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert!(v["groups"].as_array().is_some_and(|g| !g.is_empty()), "{f}");
            ok(rein(Some(tree.path()), &["down", "--dry-run", "--parent", "t", &f]));
        }
        assert_eq!(before, tree.snapshot(), "{layout:?}");
    }
}

#[test]
fn diff_shows_old_and_new_values_and_apply_makes_them_so() {
    let tree = FakeTree::new(Layout::V1);
    tree.group("t/dev/database");
    tree.group("t/dev/api");
    tree.group("t/dev/cache");
    let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dev-environment.toml");
    let dev = dev.to_str().unwrap();
    let o = ok(rein(Some(tree.path()), &["diff", "--parent", "t", dev]));
    assert!(out(&o).contains("~ /t/dev/database\n"), "{}", out(&o));
    assert!(out(&o).contains("memory.limit_in_bytes  9223372036854771712 -> 2147483648"), "{}", out(&o));
    ok(rein(Some(tree.path()), &["apply", "--parent", "t", dev]));
    let mem = std::fs::read_to_string(tree.path().join("memory/t/dev/database/memory.limit_in_bytes")).unwrap();
    assert_eq!(mem, "2147483648");
    let o = ok(rein(Some(tree.path()), &["apply", "--parent", "t", dev]));
    assert_eq!(out(&o), "no change: 3 groups as the file says\n");
    let o = ok(rein(Some(tree.path()), &["apply", "--json", "--parent", "t", dev]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["diff"]["groups"].as_array().unwrap().iter().all(|g| g["action"] == "unchanged"), "{v}");
}

#[test]
fn a_refusal_found_while_planning_points_at_the_setting() {
    let tree = FakeTree::new(Layout::V1);
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "r.toml", "[groups.a]\nmemory = \"1G\"\n\n[groups.b]\nmemory-high = \"1G\"\n");
    let before = tree.snapshot();
    let o = rein(Some(tree.path()), &["apply", &f]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains(&format!("{f}:5:15: error: memory.high is not supported on cgroup v1")), "{}", err(&o));
    assert_eq!(before, tree.snapshot());
    // A raw name the running mode has no file for, with the closest equivalent.
    let v2 = FakeTree::new(Layout::V2);
    let f = write(dir.path(), "s.toml", "[groups.a]\npids = 5\n\n[groups.a.files]\n\"memory.swappiness\" = 10\n");
    let o = rein(Some(v2.path()), &["apply", &f]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        err(&o).contains(&format!("{f}:5:23: error: memory.swappiness is not supported on cgroup v2")),
        "{}",
        err(&o)
    );
    // On v1 it is a file like any other.
    let v1 = FakeTree::new(Layout::V1);
    let o = ok(rein(Some(v1.path()), &["apply", "--dry-run", &f]));
    assert!(out(&o).contains("10 > ") && out(&o).contains("/memory/a/memory.swappiness"), "{}", out(&o));
}

#[test]
fn start_refuses_a_program_that_does_not_exist_before_writing_anything() {
    let tree = FakeTree::new(Layout::V2);
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "r.toml", "[groups.a]\npids = 5\ncommand = [\"no-such-program-rein\"]\n");
    let before = tree.snapshot();
    let o = rein(Some(tree.path()), &["apply", "--start", &f]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains(":3:12: error: cannot run 'no-such-program-rein'"), "{}", err(&o));
    assert_eq!(before, tree.snapshot());
    // A file that is there but cannot be run, and a log that cannot be opened, are
    // refused the same way, located, before anything is written.
    let cases = [
        ("command = [\"/etc/passwd\"]\n", ":3:12: error: cannot run '/etc/passwd': Permission denied"),
        (
            "command = [\"sleep\", \"1\"]\nlog = \"/nonexistent-dir-rein/log\"\n",
            ":4:7: error: cannot open the log /nonexistent-dir-rein: No such file or directory",
        ),
        ("command = [\"sleep\", \"1\"]\nlog = \"/\"\n", ":4:7: error: cannot open the log /: Is a directory"),
    ];
    for (command, said) in cases {
        let f = write(dir.path(), "r.toml", &format!("[groups.a]\npids = 5\n{command}"));
        let o = rein(Some(tree.path()), &["apply", "--start", &f]);
        assert_eq!(o.status.code(), Some(125), "{command}: {}", err(&o));
        assert!(err(&o).contains(said), "{command}: {}", err(&o));
        assert_eq!(before, tree.snapshot(), "{command}");
    }
}

#[test]
fn dry_runs_print_json_too_and_list_the_commands_they_would_start() {
    let tree = FakeTree::new(Layout::V2);
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "r.toml", "[groups.a]\npids = 5\n[groups.b]\ncommand = [\"sleep\", \"60\"]\n");
    let before = tree.snapshot();
    let o = ok(rein(Some(tree.path()), &["apply", "--dry-run", "--json", &f]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["actions"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().ends_with("/a/pids.max")), "{v}");
    assert_eq!(v["diff"]["groups"].as_array().unwrap().iter().filter(|g| g["action"] == "create").count(), 2, "{v}");
    let o = ok(rein(Some(tree.path()), &["apply", "--dry-run", "--start", &f]));
    assert!(out(&o).contains("# start in /b unless it holds processes: sleep 60"), "{}", out(&o));
    let o = ok(rein(Some(tree.path()), &["down", "--dry-run", "--json", &f]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(before, tree.snapshot());
}

#[test]
fn a_snapshot_of_applied_groups_diffs_clean_in_every_layout() {
    let text = "[groups.db]\nmemory = \"2G\"\ncpu = \"40%\"\npids = 64\n\n[groups.db.groups.cache]\ncpu-weight = 200\n\n[groups.web]\nmemory = \"512M\"\n";
    for layout in [Layout::V2, Layout::V1, Layout::Hybrid] {
        // The fake tree makes no interface files on mkdir: the groups exist beforehand
        // (unmarked, so they are named to the snapshot).
        let tree = FakeTree::new(layout);
        tree.group("t/db/cache");
        tree.group("t/web");
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "app.toml", text);
        ok(rein(Some(tree.path()), &["apply", "--parent", "t", &file]));
        let snap = dir.path().join("snap.toml");
        ok(rein(Some(tree.path()), &["snapshot", "--parent", "t", "db", "web", "-o", snap.to_str().unwrap()]));
        let written = std::fs::read_to_string(&snap).unwrap();
        for want in [
            "parent = \"t\"",
            "[groups.db]",
            "memory = \"2G\"",
            "cpu = \"40000/100000\"",
            "pids = 64",
            "[groups.db.groups.cache]",
            // v1 holds the weight as shares, and the snapshot keeps their unit.
            if layout == Layout::V2 { "cpu-weight = 200" } else { "cpu-shares = 2048" },
            "[groups.web]",
            "memory = \"512M\"",
        ] {
            assert!(written.contains(want), "{layout:?}: {want:?} missing in:\n{written}");
        }
        // A fake cgroup.subtree_control keeps only the last write, so on cgroup2 a diff
        // after any apply shows the controllers again: the clean diff is checked on v1
        // here, and in every mode on the real kernel (tests/kernel/snapshot.rs).
        if layout == Layout::V1 {
            let o = rein(Some(tree.path()), &["diff", "--exit-code", snap.to_str().unwrap()]);
            assert_eq!(o.status.code(), Some(0), "{layout:?}: {}{}\n{written}", out(&o), err(&o));
        }
        // Bad input: 125 and no file.
        let other = dir.path().join("other.toml");
        let o = rein(Some(tree.path()), &["snapshot", "--parent", "t", "nope", "-o", other.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(125), "{}", err(&o));
        assert!(err(&o).contains("no group /t/nope") && !other.exists(), "{}", err(&o));
        let o = rein(Some(tree.path()), &["snapshot", "--parent", "missing"]);
        assert_eq!(o.status.code(), Some(125), "{}", err(&o));
    }
}
