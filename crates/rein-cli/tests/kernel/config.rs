//! rein.toml against the real kernel (the hybrid host's v1 controllers, and the v2 VM):
//! every example applied and its files checked, idempotence, diffs, a refusal found
//! while planning (nothing written), failures in the middle of an apply (everything
//! undone), prune, down, and --start.

use std::path::{Path, PathBuf};
use std::process::Output;

use rein::compat::raw;
use rein::{GroupPath, Mode};

use crate::support::{ALL, Env, bin, env, text};

const EXAMPLES: [(&str, &str); 5] = [
    ("dev-environment", include_str!("../../../../examples/dev-environment.toml")),
    ("ml-training", include_str!("../../../../examples/ml-training.toml")),
    ("ci-runner", include_str!("../../../../examples/ci-runner.toml")),
    ("multi-tenant", include_str!("../../../../examples/multi-tenant.toml")),
    ("shared-cpu", include_str!("../../../../examples/shared-cpu.toml")),
];

fn example(name: &str) -> &'static str {
    EXAMPLES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).expect("example")
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), text(&o).0, text(&o).1);
    o
}

fn fails(o: Output, needle: &str) -> Output {
    assert_eq!(o.status.code(), Some(125), "stdout:\n{}\nstderr:\n{}", text(&o).0, text(&o).1);
    assert!(text(&o).1.contains(needle), "wanted '{needle}' in:\n{}", text(&o).1);
    o
}

/// A file of the test, in a directory removed with it.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Files {
        Files(tempfile::tempdir().expect("tempdir"))
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    }
}

fn v2(e: &Env) -> bool {
    e.h.mode() == Mode::Unified
}

/// A group's file in the running mode (by its native name), through the library's accessor.
fn file(e: &Env, group: &str, name: &str) -> String {
    let path = GroupPath::parse(&format!("{}/{group}", e.parent)).expect("path");
    let place = rein::lifecycle::place_of(&e.h, raw::home_of(name).expect("home")).expect("place");
    place.mount(&e.h).read(&path, name).unwrap_or_else(|err| panic!("{group} {name}: {err}")).trim_end().to_string()
}

/// Checks the memory limit, CPU limit or weight, and pids.max of a group in either mode.
fn expect(e: &Env, group: &str, memory: Option<u64>, cpu: Option<(u64, u64)>, weight: Option<u64>, pids: Option<u64>) {
    if let Some(m) = memory {
        let f = if v2(e) { "memory.max" } else { "memory.limit_in_bytes" };
        assert_eq!(file(e, group, f), m.to_string(), "{group} {f}");
    }
    if let Some((q, p)) = cpu {
        if v2(e) {
            assert_eq!(file(e, group, "cpu.max"), format!("{q} {p}"), "{group}");
        } else {
            assert_eq!(file(e, group, "cpu.cfs_quota_us"), q.to_string(), "{group}");
            assert_eq!(file(e, group, "cpu.cfs_period_us"), p.to_string(), "{group}");
        }
    }
    if let Some(w) = weight {
        if v2(e) {
            assert_eq!(file(e, group, "cpu.weight"), w.to_string(), "{group}");
        } else {
            let shares = rein::convert::weight_to_shares(rein::Weight::new(w).expect("weight"));
            assert_eq!(file(e, group, "cpu.shares"), shares.to_string(), "{group}");
        }
    }
    if let Some(n) = pids {
        assert_eq!(file(e, group, "pids.max"), n.to_string(), "{group}");
    }
}

/// Every directory below the test's parent in every hierarchy, with its rein mark and the
/// contents of its limit files: what "exactly as before" compares.
fn snapshot(e: &Env) -> Vec<String> {
    const FILES: &[&str] = &[
        "memory.max",
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
        "cpu.max",
        "cpu.cfs_quota_us",
        "cpu.cfs_period_us",
        "cpu.shares",
        "cpu.weight",
        "cpuset.cpus",
        "cpuset.mems",
        "pids.max",
        "cgroup.subtree_control",
        "cgroup.procs",
    ];
    fn walk(d: &Path, out: &mut Vec<String>) {
        let mut buf = [0u8; 256];
        let mark = rustix::fs::getxattr(d, "user.rein", &mut buf[..])
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
            .unwrap_or_default();
        out.push(format!("{} [{mark}]", d.display()));
        for f in FILES {
            if let Ok(t) = std::fs::read_to_string(d.join(f)) {
                out.push(format!("{}/{f}={}", d.display(), t.trim_end()));
            }
        }
        if let Ok(rd) = std::fs::read_dir(d) {
            let mut dirs: Vec<PathBuf> = rd.filter_map(|x| x.ok()).map(|x| x.path()).filter(|p| p.is_dir()).collect();
            dirs.sort();
            for c in dirs {
                walk(&c, out);
            }
        }
    }
    let mut out = Vec::new();
    let mut mounts: Vec<PathBuf> = e.h.v1_mounts().iter().map(|m| m.mount.path().to_path_buf()).collect();
    if let Some(u) = e.h.unified() {
        mounts.push(u.mount.path().to_path_buf());
    }
    for m in mounts {
        walk(&m.join(&e.parent), &mut out);
    }
    out
}

const G: u64 = 1 << 30;
const M: u64 = 1 << 20;

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn every_example_applies_writes_its_files_and_goes_away() {
    let Some(e) = env("config_examples", ALL) else { return };
    let f = Files::new();
    for (name, content) in EXAMPLES {
        let path = f.write(&format!("{name}.toml"), content);
        ok(e.rein(&["validate", &path]));
        ok(e.rein(&["apply", "--parent", &e.parent, &path]));
        match name {
            "dev-environment" => {
                expect(&e, "dev/database", Some(2 * G), Some((40_000, 100_000)), None, Some(1024));
                expect(&e, "dev/api", Some(G), Some((30_000, 100_000)), None, Some(1024));
                expect(&e, "dev/cache", Some(512 * M), Some((20_000, 100_000)), None, Some(1024));
            }
            "ml-training" => expect(&e, "ml-training", Some(15 * G), Some((300_000, 100_000)), None, None),
            "ci-runner" => expect(&e, "ci-runner", Some(4 * G), None, Some(25), Some(4096)),
            "multi-tenant" => {
                expect(&e, "hosting/customer-a", Some(8 * G), None, Some(75), Some(512));
                expect(&e, "hosting/customer-b", Some(4 * G), None, Some(25), Some(512));
                expect(&e, "hosting/customer-c", Some(4 * G), None, Some(25), Some(2048));
            }
            "shared-cpu" => {
                expect(&e, "services", None, Some((150_000, 100_000)), None, None);
                expect(&e, "services/web-server", None, None, Some(50), None);
                expect(&e, "services/background-jobs", None, None, Some(30), None);
                expect(&e, "services/monitoring", None, None, Some(20), None);
            }
            other => panic!("no expectations for {other}"),
        }
        let o = ok(e.rein(&["apply", "--parent", &e.parent, &path]));
        assert!(text(&o).0.starts_with("no change: "), "{name}: a second apply changed something:\n{}", text(&o).0);
        ok(e.rein(&["down", "--parent", &e.parent, &path]));
        assert!(e.leftovers().is_empty(), "{name}: left {:?}", e.leftovers());
    }
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn dev_environment_twice_then_one_edit_then_down() {
    let Some(e) = env("config_dev", ALL) else { return };
    let f = Files::new();
    let dev = f.write("dev.toml", example("dev-environment"));
    let o = ok(e.rein(&["apply", "--parent", &e.parent, &dev]));
    assert!(text(&o).0.ends_with("3 to create, 0 to change, 0 unchanged, 0 to remove\n"), "{}", text(&o).0);
    let o = ok(e.rein(&["apply", "--parent", &e.parent, &dev]));
    assert_eq!(text(&o).0, "no change: 3 groups as the file says\n");
    // One limit edited: the diff shows exactly that change.
    let edited = f.write("dev.toml", &example("dev-environment").replace("memory = \"1G\"", "memory = \"1536M\""));
    let o = ok(e.rein(&["diff", "--parent", &e.parent, &edited]));
    let file = if v2(&e) { "memory.max" } else { "memory.limit_in_bytes" };
    assert_eq!(
        text(&o).0,
        format!(
            "~ /{}/dev/api\n    {file}  1073741824 -> 1610612736\n0 to create, 1 to change, 2 unchanged, 0 to remove\n",
            e.parent
        )
    );
    let o = ok(e.rein(&["diff", "--json", "--parent", &e.parent, &edited]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let changed: Vec<&serde_json::Value> =
        v["groups"].as_array().expect("groups").iter().filter(|g| g["action"] != "unchanged").collect();
    assert_eq!(changed.len(), 1, "{v}");
    assert_eq!(changed[0]["files"][0]["old"], "1073741824");
    ok(e.rein(&["apply", "--parent", &e.parent, &edited]));
    expect(&e, "dev/api", Some(1536 * M), Some((30_000, 100_000)), None, Some(1024));
    // Changed live: no group was re-created (its mark and its other limits are the same).
    expect(&e, "dev/database", Some(2 * G), Some((40_000, 100_000)), None, Some(1024));
    let o = ok(e.rein(&["down", "--parent", &e.parent, &edited]));
    assert_eq!(
        text(&o).0,
        format!(
            "removed /{p}/dev/api\nremoved /{p}/dev/cache\nremoved /{p}/dev/database\nremoved /{p}/dev\n",
            p = e.parent
        )
    );
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
}

/// The exit status and the `changed` key of `rein diff --exit-code --json`.
fn gate(e: &Env, file: &str) -> (Option<i32>, serde_json::Value) {
    let o = e.rein(&["diff", "--exit-code", "--json", "--parent", &e.parent, file]);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|err| panic!("json ({err}):\n{}\n{}", text(&o).0, text(&o).1));
    (o.status.code(), v)
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn diff_exit_code_gates_an_apply_and_bad_input_is_125() {
    let Some(e) = env("config_gate", ALL) else { return };
    let f = Files::new();
    let dev = f.write("dev.toml", example("dev-environment"));
    // Nothing exists yet: changes pending (1), and the diff created nothing.
    let before = snapshot(&e);
    let (code, v) = gate(&e, &dev);
    assert_eq!((code, &v["changed"]), (Some(1), &serde_json::json!(true)), "{v}");
    let creates = |g: &&serde_json::Value| g["action"] == "create" && g["declared"] == true;
    assert_eq!(v["groups"].as_array().expect("groups").iter().filter(creates).count(), 3, "{v}");
    assert_eq!(before, snapshot(&e), "rein diff wrote nothing");
    let o = e.rein(&["diff", "--exit-code", "--parent", &e.parent, &dev]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).0.ends_with("3 to create, 0 to change, 0 unchanged, 0 to remove\n"), "{}", text(&o).0);
    // Without --exit-code, a diff with changes is a success.
    ok(e.rein(&["diff", "--parent", &e.parent, &dev]));
    // Applied: no change (0), every group unchanged.
    ok(e.rein(&["apply", "--parent", &e.parent, &dev]));
    let (code, v) = gate(&e, &dev);
    assert_eq!((code, &v["changed"]), (Some(0), &serde_json::json!(false)), "{v}");
    assert!(v["groups"].as_array().expect("groups").iter().all(|g| g["action"] == "unchanged"), "{v}");
    let o = ok(e.rein(&["diff", "--exit-code", "--parent", &e.parent, &dev]));
    assert_eq!(text(&o).0, "no change: 3 groups as the file says\n");
    // One edit: pending again, and exactly that change.
    let edited = f.write("edited.toml", &example("dev-environment").replace("cpu = \"20%\"", "cpu = \"25%\""));
    let (code, v) = gate(&e, &edited);
    assert_eq!((code, &v["changed"]), (Some(1), &serde_json::json!(true)), "{v}");
    let changed: Vec<_> = v["groups"].as_array().expect("groups").iter().filter(|g| g["action"] == "change").collect();
    assert_eq!(changed.len(), 1, "{v}");
    assert_eq!(changed[0]["group"], format!("/{}/dev/cache", e.parent), "{v}");
    assert!(changed[0]["files"][0]["new"].as_str().expect("new").starts_with("25000"), "{v}");
    // Bad input: 125 with the mistake named, never 0 or 1; with --json the mistakes as JSON.
    let typo = f.write("typo.toml", &example("dev-environment").replace("pids = 1024", "pidz = 1024"));
    let o = fails(e.rein(&["diff", "--exit-code", "--parent", &e.parent, &typo]), "pidz");
    assert!(text(&o).1.contains("typo.toml:"), "located:\n{}", text(&o).1);
    let o = e.rein(&["diff", "--exit-code", "--json", "--parent", &e.parent, &typo]);
    assert_eq!(o.status.code(), Some(125));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["valid"], false, "{v}");
    assert!(v["errors"].to_string().contains("pidz"), "{v}");
    let missing = format!("{}/no-such.toml", f.0.path().display());
    fails(e.rein(&["diff", "--exit-code", &missing]), "no-such.toml");
    fails(e.rein(&["diff", "--exit-code", "--parent", "../up", &dev]), "../up");
    let bad_value = f.write("bad.toml", &example("dev-environment").replace("memory = \"1G\"", "memory = \"lots\""));
    fails(e.rein(&["diff", "--exit-code", "--parent", &e.parent, &bad_value]), "lots");
    // A pids limit above the kernel's largest pids.max (PID_MAX_LIMIT): refused by
    // validate and diff, located at the value, before the kernel would refuse it.
    let too_many = f.write("pids.toml", &example("dev-environment").replace("pids = 1024", "pids = 99999999"));
    let o = fails(e.rein(&["validate", &too_many]), "invalid pids limit '99999999': above the kernel's largest");
    assert!(text(&o).1.contains("pids.toml:") && text(&o).1.contains("4194304"), "{}", text(&o).1);
    fails(e.rein(&["diff", "--exit-code", "--parent", &e.parent, &too_many]), "4194304");
    let o = e.rein(&["diff", "--exit-code", "--no-such-flag", &dev]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    // Still as applied: nothing of the failed diffs was written.
    assert_eq!(gate(&e, &dev).0, Some(0));
    ok(e.rein(&["down", "--parent", &e.parent, &dev]));
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn an_impossible_cpuset_on_the_last_group_is_refused_before_anything_is_written() {
    let Some(e) = env("config_refused", ALL) else { return };
    let f = Files::new();
    let bad = example("dev-environment").replace("cpu = \"40%\"", "cpu = \"40%\"\ncpuset = \"99\"");
    // Nothing exists yet: nothing is created.
    let path = f.write("bad.toml", &bad);
    ok(e.rein(&["validate", &path]));
    let before = snapshot(&e);
    fails(e.rein(&["apply", "--parent", &e.parent, &path]), "error: invalid cpuset.cpus '99': CPU 99 not available");
    assert_eq!(before, snapshot(&e));
    // The groups exist: the edit of api's memory before it is not written either.
    ok(e.rein(&["apply", "--parent", &e.parent, &f.write("dev.toml", example("dev-environment"))]));
    let path = f.write("bad.toml", &bad.replace("memory = \"1G\"", "memory = \"1536M\""));
    let before = snapshot(&e);
    let o = fails(e.rein(&["apply", "--parent", &e.parent, &path]), "CPU 99 not available");
    assert!(text(&o).1.contains("bad.toml:18:10: error:"), "located at the value:\n{}", text(&o).1);
    assert_eq!(before, snapshot(&e));
}

/// The parent's cgroup2 directory (the unified mount on a hybrid host).
fn unified_parent(e: &Env) -> PathBuf {
    e.h.unified().expect("a cgroup2 mount").mount.path().join(&e.parent)
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn a_failure_in_the_middle_of_an_apply_leaves_everything_as_before() {
    let Some(e) = env("config_midway", ALL) else { return };
    let f = Files::new();
    ok(e.rein(&["create", &e.parent]));
    // The kernel refuses the third new group: cgroup.max.descendants of the parent (a
    // limit rein's planner does not look at) allows two.
    std::fs::write(unified_parent(&e).join("cgroup.max.descendants"), "2").expect("max.descendants");
    let dev = f.write("dev.toml", example("dev-environment"));
    let before = snapshot(&e);
    let o = fails(
        e.rein(&["apply", "--parent", &e.parent, &dev]),
        "nothing applied (every change of this apply was undone",
    );
    assert!(text(&o).1.contains("Resource temporarily unavailable"), "{}", text(&o).1);
    // On v2 the controllers the apply enabled in the existing parent stay enabled (a
    // concurrent run may rely on them; see rein::plan::Failure::kept), and it says so.
    let enables = unified_parent(&e).join("cgroup.subtree_control").display().to_string();
    if v2(&e) {
        assert!(text(&o).1.contains("which stay enabled: ") && text(&o).1.contains(&enables), "{}", text(&o).1);
    }
    let not_enables = |s: Vec<String>| -> Vec<String> { s.into_iter().filter(|l| !l.starts_with(&enables)).collect() };
    assert_eq!(not_enables(before), not_enables(snapshot(&e)), "a failed apply left something");

    // With the groups there, an apply that changes two of them and then fails to create
    // a fourth restores the two values.
    std::fs::write(unified_parent(&e).join("cgroup.max.descendants"), "max").expect("max.descendants");
    ok(e.rein(&["apply", "--parent", &e.parent, &dev]));
    std::fs::write(unified_parent(&e).join("cgroup.max.descendants"), "4").expect("max.descendants");
    let edited = example("dev-environment")
        .replace("memory = \"1G\"", "memory = \"1536M\"")
        .replace("cpu = \"40%\"", "cpu = \"45%\"")
        + "\n[groups.zz-worker]\nmemory = \"64M\"\n";
    let path = f.write("edited.toml", &edited);
    let before = snapshot(&e);
    fails(e.rein(&["apply", "--parent", &e.parent, &path]), "nothing applied");
    assert_eq!(before, snapshot(&e), "values changed before the failure were not restored");
    expect(&e, "dev/api", Some(G), None, None, None);
    expect(&e, "dev/database", None, Some((40_000, 100_000)), None, None);
    std::fs::write(unified_parent(&e).join("cgroup.max.descendants"), "max").expect("max.descendants");
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn on_v1_a_cpuset_the_kernel_refuses_on_the_last_group_undoes_the_apply() {
    let Some(e) = env("config_v1_cpuset", &[Mode::Hybrid, Mode::Legacy]) else { return };
    let f = Files::new();
    ok(e.rein(&["apply", "--parent", &e.parent, &f.write("dev.toml", example("dev-environment"))]));
    // A child group made by hand uses CPU 1. The planner checks a cpuset against the
    // parent's, not against children; v1's kernel refuses to take CPU 1 from under it
    // (EBUSY).
    let cpuset = e.h.v1_mounts().iter().find(|m| m.controllers.contains(&rein::Controller::Cpuset)).expect("cpuset");
    let inner = cpuset.mount.path().join(&e.parent).join("dev/database/inner");
    std::fs::create_dir(&inner).expect("mkdir inner");
    std::fs::write(inner.join("cpuset.cpus"), "1").expect("cpus");
    std::fs::write(inner.join("cpuset.mems"), "0").expect("mems");
    let edited = example("dev-environment")
        .replace("memory = \"1G\"", "memory = \"1536M\"")
        .replace("cpu = \"40%\"", "cpu = \"40%\"\ncpuset = \"0\"");
    let path = f.write("edited.toml", &edited);
    let before = snapshot(&e);
    let o = fails(e.rein(&["apply", "--parent", &e.parent, &path]), "nothing applied");
    assert!(text(&o).1.contains("cpuset.cpus") && text(&o).1.contains("Device or resource busy"), "{}", text(&o).1);
    assert_eq!(before, snapshot(&e), "api's memory limit was not restored");
    expect(&e, "dev/api", Some(G), None, None, None);
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn prune_removes_only_the_groups_the_file_dropped() {
    let Some(e) = env("config_prune", ALL) else { return };
    let f = Files::new();
    let dev = f.write("dev.toml", example("dev-environment"));
    ok(e.rein(&["apply", "--parent", &e.parent, &dev]));
    ok(e.rein(&["create", &format!("{}/dev/foreign", e.parent), "--pids", "9"]));
    // The same file without its last group.
    let without_cache = example("dev-environment").split("[groups.cache]").next().expect("split").to_string();
    let path = f.write("dev.toml", &without_cache);
    // Without --prune the group stays, and apply says so.
    let o = ok(e.rein(&["apply", "--parent", &e.parent, &path]));
    assert!(text(&o).0.contains(&format!("/{}/dev/cache  (no longer in the file; kept", e.parent)), "{}", text(&o).0);
    assert_eq!(file(&e, "dev/cache", "pids.max"), "1024");
    let o = ok(e.rein(&["apply", "--prune", "--parent", &e.parent, &path]));
    assert!(text(&o).0.contains(&format!("- /{}/dev/cache\n", e.parent)), "{}", text(&o).0);
    let show = ok(e.rein(&["ls", &format!("{}/dev", e.parent), "--json"]));
    let names: Vec<String> = serde_json::from_slice::<serde_json::Value>(&show.stdout)
        .expect("json")
        .as_array()
        .expect("list")
        .iter()
        .map(|g| g["group"].as_str().unwrap_or_default().to_string())
        .collect();
    let p = &e.parent;
    assert_eq!(
        names,
        [format!("/{p}/dev/api"), format!("/{p}/dev/database"), format!("/{p}/dev/foreign")],
        "{names:?}"
    );
    // down removes the file's groups and keeps the parent that holds a foreign one.
    let o = ok(e.rein(&["down", "--parent", &e.parent, &path]));
    assert!(text(&o).0.contains(&format!("kept /{p}/dev: it holds other groups too: foreign")), "{}", text(&o).0);
    assert_eq!(file(&e, "dev/foreign", "pids.max"), "9");
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn start_runs_each_command_in_its_group_once_and_down_needs_kill() {
    let Some(e) = env("config_start", ALL) else { return };
    let f = Files::new();
    let log = f.0.path().join("svc.log");
    let text_ = format!(
        "[groups.svc]\npids = 16\ncommand = [\"{}\", \"sleep\", \"60\"]\nlog = \"{}\"\n",
        bin("rein-testload").display(),
        log.display()
    );
    let path = f.write("svc.toml", &text_);
    let o = ok(e.rein(&["apply", "--start", "--parent", &e.parent, &path]));
    let out = text(&o).0;
    let pid: u32 = out
        .lines()
        .find_map(|l| l.strip_prefix(&format!("started in /{}/svc: pid ", e.parent)))
        .unwrap_or_else(|| panic!("no start line in:\n{out}"))
        .parse()
        .expect("pid");
    // Inside its group from the start, in its own session (no terminal's ^C reaches it).
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("/proc/PID/cgroup");
    assert!(cg.contains(&format!("/{}/svc\n", e.parent)), "{cg}");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat.rsplit(')').next().expect("fields").split_whitespace().collect();
    assert_eq!(fields[3], pid.to_string(), "session id (field 6) is its own pid: {stat}");
    let o = ok(e.rein(&["apply", "--start", "--parent", &e.parent, &path]));
    assert!(
        text(&o).0.contains(&format!("not started in /{}/svc: it holds 1 process already", e.parent)),
        "{}",
        text(&o).0
    );
    fails(e.rein(&["down", "--parent", &e.parent, &path]), "holds processes");
    ok(e.rein(&["down", "--kill", "--parent", &e.parent, &path]));
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.contains(") Z ")).unwrap_or(true)
    );
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
}
