//! The hostile-input corpus, without root: every command that takes a group name, a
//! value, a device or a CPU list, fed what an attacker or a typo would give it, on fake
//! trees of every layout (REIN_CGROUP_ROOT). Each input must give a clear error naming the
//! problem, exit 125 (2 for usage errors), and write nothing: the tree (directories,
//! file contents and `user.rein` marks) is snapshotted before and compared after every
//! case. The real-kernel half is in tests/kernel/reliability.rs.
//!
//! NUL cannot reach rein through argv (execve takes C strings); names with NUL are
//! refused by `GroupPath::parse` (tested in the library) and fuzzed (fuzz/).

// Tests print to libtest's captured output, where std's print macros are right (the
// binary's own printing goes through src/out.rs: crates/rein-cli/clippy.toml).
#![allow(clippy::disallowed_macros)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rein::testing::{FakeTree, Layout, snapshot_with_marks};

mod corpus;
use corpus::{Case, case, hostile_names, hostile_values, name_commands, owned, usage_errors, with_values};

const LAYOUTS: [Layout; 3] = [Layout::V2, Layout::V1, Layout::Hybrid];

fn rein(root: &Path, program: &Path, args: &[String]) -> Output {
    Command::new(program).env("REIN_CGROUP_ROOT", root).env_remove("REIN_DRIVER").args(args).output().expect("run rein")
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn check(root: &Path, program: &Path, layout: Layout, c: &Case, failures: &mut Vec<String>) {
    if c.only.is_some_and(|o| !o.contains(&layout)) {
        return;
    }
    let before = snapshot_with_marks(root);
    let o = rein(root, program, &c.args);
    let e = err(&o);
    let mut wrong = Vec::new();
    if o.status.code() != Some(c.code) {
        wrong.push(format!("exit {:?}, wanted {}", o.status.code(), c.code));
    }
    // Alternatives, when the same input meets different checks in different commands.
    if !c.needle.split(" || ").any(|n| e.contains(n)) {
        wrong.push(format!("no '{}' in the message", c.needle.escape_debug()));
    }
    let config = matches!(c.args.first().map(String::as_str), Some("validate" | "apply" | "diff" | "down"));
    if c.code == 125 && !e.starts_with("rein: error: ") && !e.contains(": error: ") {
        wrong.push("not a 'rein: error:' line".into());
    }
    // One error line (and at most one hint line): a hostile value cannot forge output.
    if c.code == 125 && !config && e.lines().count() > 2 {
        wrong.push(format!("{} lines of error output", e.lines().count()));
    }
    // A config file's mistakes: `FILE:LINE:COLUMN: error: ...`, then the source line
    // with a caret under the mistake (` |` lines), and rein's summary; nothing else.
    if config {
        let forged: Vec<&str> = e
            .lines()
            .filter(|l| {
                let located = l.contains(".toml:") && l.contains(": error: ");
                let source =
                    l.trim_start().split_once('|').is_some_and(|(n, _)| n.trim().chars().all(|c| c.is_ascii_digit()));
                !(located || source || l.starts_with("rein: ") || l.trim().is_empty())
            })
            .collect();
        if !forged.is_empty() {
            wrong.push(format!("lines that are not diagnostics: {forged:?}"));
        }
    }
    if e.contains("panicked") || e.contains("RUST_BACKTRACE") {
        wrong.push("panicked".into());
    }
    let after = snapshot_with_marks(root);
    if before != after {
        let added: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
        let gone: Vec<&String> = before.iter().filter(|l| !after.contains(l)).collect();
        wrong.push(format!("the tree changed: added {added:?}, gone {gone:?}"));
    }
    if !wrong.is_empty() {
        let args: Vec<String> = c.args.iter().map(|a| a.escape_debug().to_string()).collect();
        failures.push(format!(
            "{layout:?} rein {}: {}\n    stderr: {}",
            args.join(" "),
            wrong.join("; "),
            e.trim_end()
        ));
    }
}

/// A tree with an existing group `g` (so set/show/... reach their value checks).
fn tree(layout: Layout) -> FakeTree {
    let t = FakeTree::new(layout);
    t.group("g");
    t
}

fn report(failures: Vec<String>, total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} hostile inputs were mishandled:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{total} hostile inputs refused cleanly");
}

#[test]
fn hostile_names_are_refused_everywhere_and_nothing_is_written() {
    let program = PathBuf::from(env!("CARGO_BIN_EXE_rein"));
    let mut failures = Vec::new();
    let mut total = 0;
    for layout in LAYOUTS {
        let t = tree(layout);
        for (name, needle) in hostile_names() {
            for args in name_commands(&name) {
                // `ls` and `gc` read an optional UNDER; an empty one is no filter at all.
                if name.is_empty() && matches!(args[0].as_str(), "ls" | "gc") {
                    continue;
                }
                total += 1;
                check(t.path(), &program, layout, &owned(args, 125, needle), &mut failures);
            }
        }
    }
    report(failures, total);
}

#[test]
fn hostile_values_are_refused_and_nothing_is_written() {
    let program = PathBuf::from(env!("CARGO_BIN_EXE_rein"));
    let mut failures = Vec::new();
    let mut total = 0;
    for layout in LAYOUTS {
        let t = tree(layout);
        for c in hostile_values() {
            for args in with_values(&c.args) {
                total += 1;
                check(
                    t.path(),
                    &program,
                    layout,
                    &Case { args, code: c.code, needle: c.needle.clone(), only: c.only },
                    &mut failures,
                );
            }
        }
        for c in usage_errors() {
            total += 1;
            check(t.path(), &program, layout, &c, &mut failures);
        }
    }
    report(failures, total);
}

#[test]
fn hostile_input_through_the_libcgroup_names_is_refused_and_nothing_is_written() {
    let links = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_rein"))
        .args(["compat", "install"])
        .arg(links.path())
        .output()
        .expect("rein compat install");
    assert!(o.status.success(), "{}", err(&o));
    let tool = |name: &str| links.path().join(name);
    let mut failures = Vec::new();
    let mut total = 0;
    for layout in LAYOUTS {
        let t = tree(layout);
        let mut cases: Vec<(PathBuf, Case)> = Vec::new();
        for (name, needle) in hostile_names() {
            // libcgroup's tools resolve '.' and '..' on the text, as the kernel would: a
            // name that stays inside the hierarchy (`./g`) names a group there (see
            // `the_libcgroup_names_resolve_dots_inside_the_hierarchy_only`); one that
            // leaves it or names the root stays refused here.
            let inside = rein::GroupPath::parse_resolving(&name).is_ok_and(|p| !p.is_root());
            if name.is_empty() || inside {
                continue;
            }
            for (t_, args) in [
                ("cgcreate", vec!["-g".to_string(), format!("memory:{name}")]),
                ("cgset", vec!["-r".into(), "memory.limit_in_bytes=1M".into(), name.clone()]),
                ("cgexec", vec!["-g".into(), format!("memory:{name}"), "true".into()]),
                ("cgdelete", vec!["-g".into(), format!("memory:{name}")]),
                ("cgget", vec!["-r".into(), "memory.max".into(), name.clone()]),
                ("cgclassify", vec!["-g".into(), format!("memory:{name}"), std::process::id().to_string()]),
            ] {
                cases.push((tool(t_), owned(args, 125, needle)));
            }
        }
        for (args, code, needle) in [
            // libcgroup's words and status (ECGINVAL) for a controller it cannot add.
            (vec!["-g", "bogus:x"], 91, "controller bogus can't be added"),
            (vec!["-g", "memory"], 125, "CONTROLLERS:PATH"),
            (vec!["-g", ":"], 125, "no path"),
            (vec!["-g", "memory,,cpu:x"], 125, "controller"),
            // libcgroup's words for an owner it cannot find, a mode it cannot read (stdout).
            (vec!["-g", "memory:x", "-t", "nosuchuser:0"], 255, "can't find uid of user nosuchuser."),
            (vec!["-g", "memory:x", "-a", "0:nosuchgroup"], 255, "can't find gid of group nosuchgroup."),
        ] {
            cases.push((tool("cgcreate"), case(&args, code, needle)));
        }
        for (args, needle) in [
            (vec!["-r", "memory.limit_in_bytes=-5", "g"], "memory.limit_in_bytes"),
            (vec!["-r", "cgroup.procs=1", "g"], "rein move"),
            (vec!["-r", "tasks=1", "g"], "rein move"),
            (vec!["-r", "release_agent=/x", "g"], "release_agent"),
            (vec!["-r", "bogus.x=1", "g"], "not a cgroup controller"),
            (vec!["-r", "cpuset.cpus=3-1", "g"], "reversed"),
        ] {
            cases.push((tool("cgset"), case(&args, 125, needle)));
        }
        for (program, c) in &cases {
            total += 1;
            check(t.path(), program, layout, c, &mut failures);
        }
    }
    report(failures, total);
}

/// Under libcgroup's names, `.` and `..` resolve on the text: a path that stays inside
/// the hierarchy names the group it leads to, one that climbs above the root is refused
/// and writes nothing, and the root takes only `cgroup.subtree_control` (v2, no -R).
#[test]
fn the_libcgroup_names_resolve_dots_inside_the_hierarchy_only() {
    let links = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_rein")).args(["compat", "install"]).arg(links.path()).output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let tool = |name: &str| links.path().join(name);
    let mut failures = Vec::new();
    let mut total = 0;
    for layout in LAYOUTS {
        let t = tree(layout);
        // Inside: cgset through './g' and 'x/../g' writes g's limit, cgget reads it back.
        for path in ["./g", "x/../g", "/g/./", "g/h/.."] {
            let set =
                rein(t.path(), &tool("cgset"), &owned(vec!["-r".into(), "pids.max=7".into(), path.into()], 0, "").args);
            let get = rein(
                t.path(),
                &tool("cgget"),
                &owned(vec!["-nv".into(), "-r".into(), "pids.max".into(), path.into()], 0, "").args,
            );
            total += 1;
            if !set.status.success() || String::from_utf8_lossy(&get.stdout).trim() != "7" {
                failures.push(format!(
                    "{layout:?} cgset/cgget {path}: {:?} {:?}: {}{}",
                    set.status.code(),
                    String::from_utf8_lossy(&get.stdout),
                    err(&set),
                    err(&get)
                ));
            }
        }
        // Above the root, or the root with anything but cgroup.subtree_control: refused,
        // nothing written.
        for (args, needle) in [
            (vec!["-r", "pids.max=5", "g/../.."], "above the cgroup root"),
            (vec!["-r", "pids.max=5", "g/.."], "'..' leads to the cgroup root"),
            (vec!["-R", "-r", "cgroup.subtree_control=+pids", "g/.."], "only cgroup.subtree_control"),
            (vec!["-r", "pids.max=5", "/"], "empty name"),
        ] {
            total += 1;
            check(t.path(), &tool("cgset"), layout, &case(&args, 125, needle), &mut failures);
        }
        for (t_, args) in [
            ("cgcreate", vec!["-g", "memory:g/../x/../../y"]),
            ("cgexec", vec!["-g", "memory:g/..", "true"]),
            ("cgdelete", vec!["memory:g/.."]),
            ("cgclassify", vec!["-g", "memory:../g", "1"]),
        ] {
            total += 1;
            check(t.path(), &tool(t_), layout, &case(&args, 125, "'..'"), &mut failures);
        }
    }
    report(failures, total);
}

#[test]
fn a_partition_is_refused_for_io_limits() {
    // Needs a partition on this machine; the real-kernel suite makes one on a loop device.
    let Some(part) = std::fs::read_dir("/sys/class/block")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .find(|e| e.path().join("partition").exists())
        .map(|e| format!("/dev/{}", e.file_name().to_string_lossy()))
        .filter(|p| Path::new(p).exists())
    else {
        eprintln!("no partition on this machine: tests/kernel/reliability.rs covers it with a partitioned loop device");
        return;
    };
    let program = PathBuf::from(env!("CARGO_BIN_EXE_rein"));
    let mut failures = Vec::new();
    let t = tree(Layout::V2);
    for args in with_values(&[format!("--io-max={part}:wbps=1M")]) {
        check(t.path(), &program, Layout::V2, &owned(args, 125, "is a partition"), &mut failures);
    }
    report(failures, 3);
}

/// Hostile rein.toml files: each refused by `validate`, `apply`, `diff` and `down` with
/// the mistake located (`file:LINE:COLUMN`), exit 125, nothing written.
#[test]
fn hostile_config_files_are_refused_with_a_location_and_nothing_is_written() {
    let program = PathBuf::from(env!("CARGO_BIN_EXE_rein"));
    let dir = tempfile::tempdir().unwrap();
    let long = format!("[groups.{}]\nmemory = \"1G\"\n", "x".repeat(4096));
    let files: Vec<(&str, String, &str)> = vec![
        ("syntax", "[groups.a\nmemory = 1G\n".into(), "TOML syntax"),
        ("unknown-key", "[groups.a]\nmemroy = \"1G\"\n".into(), "memroy"),
        ("negative", "[groups.a]\nmemory = \"-1\"\n".into(), "negative"),
        ("nan", "[groups.a]\ncpu = \"NaN%\"\n".into(), "NaN%"),
        ("overflow", "[groups.a]\npids = \"99999999999999999999999\"\n".into(), "too large"),
        ("zero", "[groups.a]\nmemory = \"0\"\n".into(), "0 would OOM-kill"),
        ("mixed-units", "[groups.a]\nmemory = \"1M2K\"\n".into(), "1M2K"),
        ("empty", "[groups.a]\nmemory = \"\"\n".into(), "empty"),
        ("reversed", "[groups.a]\ncpuset = \"3-1\"\n".into(), "reversed"),
        ("out-of-range", "[groups.a]\ncpuset = \"0-9\"\n".into(), "not available"),
        ("char-device", "[groups.a]\nio-max = [\"/dev/null:wbps=1M\"]\n".into(), "character device"),
        ("missing-device", "[groups.a]\nio-max = [\"/nonexistent:wbps=1M\"]\n".into(), "/nonexistent"),
        ("dotdot", "[groups.\"..\"]\nmemory = \"1G\"\n".into(), "'..'"),
        ("slash", "[groups.\"a/../../b\"]\nmemory = \"1G\"\n".into(), "groups"),
        ("interface-name", "[groups.\"cgroup.procs\"]\nmemory = \"1G\"\n".into(), "interface file"),
        ("unicode", "[groups.\"ünï\"]\nmemory = \"1G\"\n".into(), "not allowed"),
        ("newline", "[groups.\"a\\nb\"]\nmemory = \"1G\"\n".into(), "control characters"),
        ("long", long, "longer than"),
        ("parent", "parent = \"../etc\"\n[groups.a]\nmemory = \"1G\"\n".into(), "'..'"),
        ("raw-path", "[groups.a.files]\n\"../cgroup.procs\" = \"1\"\n".into(), "../cgroup.procs"),
        ("raw-procs", "[groups.a.files]\n\"cgroup.procs\" = \"1\"\n".into(), "cgroup.procs"),
        ("fraction-of-a-page", "[groups.a]\nmemory = 12.5\n".into(), "below one page"),
        ("sub-page", "[groups.a]\nmemory = \"100\"\n".into(), "below one page"),
        ("wrong-type", "[groups.a]\nmemory = true\n".into(), "memory"),
        ("newline-value", "[groups.a]\nmemory = \"1\\nrein: hint: forged\"\n".into(), "memory"),
        ("raw-newline", "[groups.a.files]\n\"memory.max\" = \"1\\n2\"\n".into(), "memory.max"),
        ("property", "[groups.a]\nproperties = { Bogus = \"1\" }\n".into(), "Bogus"),
    ];
    let mut failures = Vec::new();
    let mut total = 0;
    for layout in LAYOUTS {
        let t = tree(layout);
        for (name, text, needle) in &files {
            let path = dir.path().join(format!("{name}.toml"));
            std::fs::write(&path, text).unwrap();
            let p = path.display().to_string();
            // What only the host can judge (CPUs the parent grants) is judged by the
            // commands that look at the host: apply and diff.
            let host_only = *name == "out-of-range";
            for cmd in ["validate", "apply", "diff", "down"] {
                if host_only && matches!(cmd, "validate" | "down") {
                    continue;
                }
                let args: Vec<String> = vec![cmd.into(), p.clone()];
                total += 1;
                let c = owned(args, 125, needle);
                check(t.path(), &program, layout, &c, &mut failures);
                // Located: the file, a line and a column.
                let o = rein(t.path(), &program, &c.args);
                let e = err(&o);
                if !e.contains(&format!("{name}.toml:")) {
                    failures.push(format!("{layout:?} rein {cmd} {name}.toml: not located: {e}"));
                }
            }
        }
    }
    report(failures, total);
}
