//! Device access against the real kernel, through the CLI in each vocabulary and through
//! the library: v1's devices files on the hybrid host, a BPF device program in the pure
//! v2 VM. Each access is asked the way a program meets it (`rein-testload dev`: open a
//! node made beforehand outside the group, or mknod one inside): EPERM is the
//! controller's no.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rein::bpf::{self, device_program, sys};
use rein::testing::{DEVICE_TABLE, device_access};
use rein::{Group, Mode, Resources, Spec};

use crate::support::{ALL, BlockDevice, Env, bin, env, ok, refused_and_nothing_left, rein, text};

/// A directory of device nodes under /dev (devtmpfs: nodes open there), named
/// `c-MAJ-MIN` / `b-MAJ-MIN` as `rein-testload dev` expects; removed on drop.
struct Nodes(PathBuf);

impl Nodes {
    fn new(e: &Env) -> Nodes {
        let dir = PathBuf::from(format!("/dev/{}", e.parent));
        std::fs::create_dir_all(&dir).expect("mkdir under /dev");
        Nodes(dir)
    }

    fn add(&self, kind: char, major: u32, minor: u32) {
        let path = self.0.join(format!("{kind}-{major}-{minor}"));
        if path.exists() {
            return;
        }
        let mode = if kind == 'b' { "b" } else { "c" };
        let o = Command::new("mknod")
            .arg(&path)
            .args([mode, &major.to_string(), &minor.to_string()])
            .output()
            .expect("mknod");
        assert!(o.status.success(), "mknod {}: {}", path.display(), text(&o).1);
    }

    fn dir(&self) -> &str {
        self.0.to_str().expect("utf-8")
    }

    /// The `rein-testload dev` command line for one access, as a shell fragment.
    fn ask(&self, kind: char, major: u32, minor: u32, access: &str) -> String {
        format!("{} dev {} {kind} {major} {minor} {access}", bin("rein-testload").display(), self.dir())
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The answers (`allowed` / `denied`) the shell fragments printed, in order.
fn answers(o: &Output) -> Vec<String> {
    text(o).0.lines().map(str::to_string).collect()
}

/// rein's device programs attached to the group `g` (v2), and all programs there.
fn programs(e: &Env, g: &str) -> Option<(usize, usize)> {
    if e.h.mode() != Mode::Unified {
        return None;
    }
    let root = e.h.unified().expect("cgroup2").mount.path().to_path_buf();
    let f = std::fs::File::open(root.join(g)).expect("open the group's directory");
    let all = sys::prog_query(f.as_fd(), sys::AttachType::Device).expect("BPF_PROG_QUERY").len();
    let ours = bpf::find(f.as_fd(), sys::AttachType::Device, device_program::NAME).expect("find").len();
    Some((ours, all))
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn the_device_table_holds_in_the_kernel() {
    let Some(e) = env("dev_table", ALL) else { return };
    let nodes = Nodes::new(&e);
    let mut wrong = Vec::new();
    let mut asked = 0;
    // One group per state of the table, asked each of its cases.
    let mut states: Vec<(Option<rein::devices::DevicePolicy>, &[&str])> = Vec::new();
    for (policy, rules, ..) in DEVICE_TABLE {
        if !states.contains(&(*policy, *rules)) {
            states.push((*policy, *rules));
        }
    }
    for (i, (policy, rules)) in states.iter().enumerate() {
        let path = e.path(&format!("t{i}"));
        let spec = Spec { resources: Resources::new().device_access(device_access(*policy, rules)), ..Spec::default() };
        let g = Group::create(e.h.clone(), &path, &spec).unwrap_or_else(|err| panic!("{policy:?} {rules:?}: {err}"));
        let mut script = Vec::new();
        let mut expected = Vec::new();
        for (p, r, (kind, major, minor), access, want) in DEVICE_TABLE {
            if (p, r) != (policy, rules) {
                continue;
            }
            let k = if *kind == rein::devices::DeviceType::Block { 'b' } else { 'c' };
            nodes.add(k, *major, *minor);
            // One kernel check is one of: mknod (m), or an open for r, w or both. An
            // allowed rwm is both allowed; a denied one says not which part: not asked.
            let parts: Vec<&str> = match *access {
                "rwm" if *want => vec!["m", "rw"],
                "rwm" => vec![],
                a => vec![a],
            };
            for part in parts {
                script.push(nodes.ask(k, *major, *minor, part));
                expected.push((format!("{policy:?} {rules:?}: {k} {major}:{minor} {part}"), *want));
            }
        }
        let o = ok(rein(&["exec", &path.to_string(), "--", "sh", "-c", &script.join("; ")]));
        let got = answers(&o);
        assert_eq!(got.len(), expected.len(), "{}", text(&o).1);
        for ((case, want), got) in expected.iter().zip(&got) {
            asked += 1;
            if (got == "allowed") != *want {
                wrong.push(format!("{case}: want {}, the kernel said {got}", if *want { "allowed" } else { "denied" }));
            }
        }
        g.remove().expect("remove");
    }
    assert!(wrong.is_empty(), "{} of {asked} accesses decided otherwise:\n{}", wrong.len(), wrong.join("\n"));
    eprintln!("{asked} accesses decided as the table says, in mode {}", e.h.mode());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn strict_rules_in_every_vocabulary_decide_real_opens() {
    let Some(e) = env("dev_vocab", ALL) else { return };
    let nodes = Nodes::new(&e);
    for (k, maj, min) in [('c', 1, 3), ('c', 1, 5), ('c', 42, 7), ('c', 43, 1)] {
        nodes.add(k, maj, min);
    }
    // The issue's own command: /dev/zero cannot be opened, so cat fails with EPERM.
    let o = e.rein(&[
        "run",
        "--device-policy",
        "strict",
        "--device-allow",
        "c 1:3 rw",
        "--",
        "sh",
        "-c",
        "cat /dev/zero | head -c1",
    ]);
    assert!(text(&o).1.contains("Operation not permitted"), "{}", text(&o).1);
    let script = [
        nodes.ask('c', 1, 3, "rw"),
        nodes.ask('c', 1, 5, "r"),
        nodes.ask('c', 1, 3, "m"),
        "echo x > /dev/null && echo null-ok".to_string(),
    ]
    .join("; ");
    let want = ["allowed", "denied", "denied", "null-ok"];
    for flags in [
        &["--device-policy", "strict", "--device-allow", "c 1:3 rw"][..],
        &["-p", "DevicePolicy=strict", "-p", "DeviceAllow=/dev/null rw"],
        &["-p", "DevicePolicy=strict", "-p", "DeviceAllow=/dev/char/1:3 rw"],
        &["--device-policy", "strict", "--device", "/dev/null:rw"],
    ] {
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--", "sh", "-c", &script]);
        let o = ok(e.rein(&args));
        assert_eq!(answers(&o), want, "{flags:?}: {}", text(&o).1);
    }
    // Docker's rule adds to its default set (the pseudo devices): c 42:* may be made,
    // c 43:1 not, /dev/zero read.
    let script = [nodes.ask('c', 42, 7, "m"), nodes.ask('c', 43, 1, "m"), nodes.ask('c', 1, 5, "r")].join("; ");
    let o = ok(e.rein(&["run", "--device-cgroup-rule", "c 42:* rmw", "--", "sh", "-c", &script]));
    assert_eq!(answers(&o), ["allowed", "denied", "allowed"], "{}", text(&o).1);

    // libcgroup's tools, the tutorial's way: deny all, allow /dev/null (translated on v2).
    let tools = tempfile::tempdir().expect("tempdir");
    ok(rein(&["compat", "install", tools.path().to_str().expect("utf-8")]));
    let tool = |name: &str, args: &[&str]| Command::new(tools.path().join(name)).args(args).output().expect("tool");
    let g = format!("{}/cg", e.parent);
    ok(tool("cgcreate", &["-g", &format!("devices:{g}")]));
    ok(tool("cgset", &["-r", "devices.deny=a", &g]));
    ok(tool("cgset", &["-r", "devices.allow=c 1:3 rw", &g]));
    let script = [nodes.ask('c', 1, 3, "rw"), nodes.ask('c', 1, 5, "r")].join("; ");
    let o = ok(tool("cgexec", &["-g", &format!("devices:{g}"), "sh", "-c", &script]));
    assert_eq!(answers(&o), ["allowed", "denied"], "{}", text(&o).1);
    let o = ok(tool("cgget", &["-r", "devices.list", &g]));
    assert!(text(&o).0.contains("c 1:3 rw"), "{}", text(&o).0);
    ok(tool("cgdelete", &["-g", &format!("devices:{g}")]));
    assert!(e.leftovers().is_empty(), "left: {:?}", e.leftovers());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn a_device_given_by_path_is_read_but_not_written() {
    let Some(e) = env("dev_path", ALL) else { return };
    let disk = BlockDevice::get();
    let meta = std::fs::metadata(&disk.path).expect("stat the test disk");
    let (major, minor) = (libc::major(meta.rdev()), libc::minor(meta.rdev()));
    let nodes = Nodes::new(&e);
    nodes.add('b', major, minor);
    nodes.add('c', 1, 1);
    let script = [
        nodes.ask('b', major, minor, "r"),
        nodes.ask('b', major, minor, "w"),
        nodes.ask('c', 1, 1, "r"),
        nodes.ask('b', major, minor, "m"),
    ]
    .join("; ");
    let spec = format!("{}:r", disk.path);
    let o = ok(e.rein(&["run", "--device", &spec, "--", "sh", "-c", &script]));
    // Read, not written, /dev/mem not opened, no node made.
    assert_eq!(answers(&o), ["allowed", "denied", "denied", "denied"], "{}", text(&o).1);
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn a_hundred_changes_leave_one_program_and_the_last_rules() {
    let Some(e) = env("dev_set", ALL) else { return };
    let g = format!("{}/g", e.parent);
    ok(rein(&["create", &g, "--device-policy", "strict", "--device-allow", "c 1:3 rw"]));
    for i in 0..100 {
        let allow = if i % 2 == 0 { "c 1:5 r" } else { "c 1:9 r" };
        ok(rein(&["set", &g, "--device-policy", "strict", "--device-allow", "c 1:3 rw", "--device-allow", allow]));
    }
    if let Some((ours, all)) = programs(&e, &g) {
        assert_eq!((ours, all), (1, 1), "rein's programs and all programs on {g}");
    }
    // What is in force, read back from the kernel (devices.list, or the program).
    let o = ok(rein(&["show", &g, "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("show --json");
    let rules: Vec<&str> =
        v["limits"]["devices"]["rules"].as_array().expect("rules").iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(rules, ["deny a *:* rwm", "allow c 1:3 rw", "allow c 1:9 r"], "{v}");
    let o = ok(rein(&["show", &g]));
    assert!(text(&o).0.contains("c 1:9 r"), "{}", text(&o).0);
    // A set with the same rules changes nothing and keeps the one program.
    ok(rein(&["set", &g, "--device-policy", "strict", "--device-allow", "c 1:3 rw", "--device-allow", "c 1:9 r"]));
    if let Some(counts) = programs(&e, &g) {
        assert_eq!(counts, (1, 1));
    }
    ok(rein(&["rm", &g]));
    assert!(e.leftovers().is_empty(), "left: {:?}", e.leftovers());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn a_parents_rules_bind_its_children() {
    let Some(e) = env("dev_parent", ALL) else { return };
    let nodes = Nodes::new(&e);
    nodes.add('c', 1, 3);
    nodes.add('c', 1, 5);
    let p = format!("{}/p", e.parent);
    ok(rein(&["create", &p, "--device-policy", "strict", "--device-allow", "c 1:3 rw"]));
    // The child allows /dev/zero and the pseudo devices; the parent does not: it wins.
    let script = [nodes.ask('c', 1, 5, "r"), nodes.ask('c', 1, 3, "rw"), nodes.ask('c', 1, 3, "m")].join("; ");
    let o = ok(rein(&["run", "--parent", &p, "--device-allow", "c 1:5 r", "--", "sh", "-c", &script]));
    assert_eq!(answers(&o), ["denied", "allowed", "denied"], "{}", text(&o).1);
    // A group under it with no rules of its own is bound all the same.
    let o = ok(rein(&["run", "--parent", &p, "--", "sh", "-c", &script]));
    assert_eq!(answers(&o), ["denied", "allowed", "denied"], "{}", text(&o).1);
    ok(rein(&["rm", &p]));
}

/// Rules given to a group that has children already bind them too: on v2 by the
/// program on the parent; on v1 the children join the devices hierarchy beneath it when
/// they are empty, and a populated one outside it refuses the change, leaving the rules
/// as they were.
#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn rules_given_later_bind_the_children_a_group_has() {
    let Some(e) = env("dev_later", ALL) else { return };
    let nodes = Nodes::new(&e);
    nodes.add('c', 1, 3);
    nodes.add('c', 1, 5);
    let p = format!("{}/p", e.parent);
    ok(rein(&["create", &p]));
    // Leaves (v2 lets processes join leaves only): one child, and one below a middle
    // group, which joins the devices hierarchy on the way on v1.
    ok(rein(&["create", &format!("{p}/c")]));
    ok(rein(&["create", &format!("{p}/m/deep")]));
    ok(rein(&["set", &p, "--device-policy", "strict", "--device-allow", "c 1:3 rw"]));
    let script = [nodes.ask('c', 1, 5, "r"), nodes.ask('c', 1, 3, "rw")].join("; ");
    for g in [format!("{p}/c"), format!("{p}/m/deep")] {
        let o = ok(rein(&["exec", &g, "--", "sh", "-c", &script]));
        assert_eq!(answers(&o), ["denied", "allowed"], "{g}: {}", text(&o).1);
    }

    // A group with rules, and a child made by another tool in the cpu and memory
    // hierarchies only (all of cgroup2 on v2), with a process in it.
    let q = format!("{}/q", e.parent);
    ok(rein(&["create", &q, "--device-policy", "strict", "--device-allow", "c 1:3 rw", "--device-allow", "c 1:5 r"]));
    let busy = e.path("q/busy");
    let mounts: Vec<&rein::cgroupfs::Mount> = match e.h.unified().filter(|_| e.h.mode() == Mode::Unified) {
        Some(u) => vec![&u.mount],
        None => {
            e.h.v1_mounts()
                .iter()
                .filter(|m| {
                    m.controllers.contains(&rein::Controller::Cpu) || m.controllers.contains(&rein::Controller::Memory)
                })
                .map(|m| &m.mount)
                .collect()
        }
    };
    for m in &mounts {
        std::fs::create_dir(m.dir_path(&busy)).expect("mkdir the other tool's group");
    }
    let mut sleeper = Command::new(bin("rein"))
        .args(["exec", busy.as_str(), "--", &bin("rein-testload").display().to_string(), "sleep", "60"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("rein exec");
    let pid = sleeper.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !Group::open(e.h.clone(), &busy).and_then(|g| g.all_procs()).is_ok_and(|p| p.contains(&pid)) {
        assert!(std::time::Instant::now() < deadline, "the sleeper did not join {busy}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let list = |g: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/devices/{g}/devices.list")).ok();
    let before = list(&q);
    let o = rein(&["set", &q, "--device-policy", "strict", "--device-allow", "c 1:3 rw"]);
    if e.h.mode() == Mode::Unified {
        ok(o);
    } else {
        let err = text(&o).1;
        assert_eq!(o.status.code(), Some(125), "{err}");
        assert!(err.contains(&format!("group {busy} beneath /{q} has no directory in the devices hierarchy")), "{err}");
        assert!(err.contains(&pid.to_string()), "{err}");
        assert_eq!(list(&q), before, "a refused change left the rules changed");
        assert!(list(busy.as_str()).is_none(), "a refused change made {busy} in the devices hierarchy");
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    ok(rein(&["rm", "-r", &p]));
    // q and the other tool's group go with the test's parent.
}

/// A change the kernel refuses after the group's device rules were written gives the
/// rules back, in each vocabulary (rein set, libcgroup's cgset, rein apply): on v1 the
/// inverse difference from devices.list is written, on v2 the earlier program goes back
/// on. The write that fails is a throttle on a block device no driver has (ENODEV),
/// which rein passes to the kernel as given. On v1, memory.oom_control is given back too
/// (it reads back three lines and takes one value).
#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn a_change_the_kernel_refuses_gives_the_device_rules_back() {
    let Some(e) = env("dev_undo", ALL) else { return };
    let v1 = e.h.mode() != Mode::Unified;
    let nodes = Nodes::new(&e);
    nodes.add('c', 1, 3);
    nodes.add('c', 1, 5);
    let g = format!("{}/g", e.parent);
    ok(rein(&["create", &g, "--device-policy", "strict", "--device-allow", "c 1:3 rw"]));
    let (file, value) = if v1 { ("blkio.throttle.read_bps_device", "60:0 100") } else { ("io.max", "60:0 rbps=100") };
    let bad = format!("{file}={value}");
    let list = || std::fs::read_to_string(format!("/sys/fs/cgroup/devices/{g}/devices.list")).ok();
    let script = [nodes.ask('c', 1, 5, "r"), nodes.ask('c', 1, 3, "rw")].join("; ");
    let given_back = |what: &str, o: Output, needle: &str| {
        let err = text(&o).1;
        assert_eq!(o.status.code(), Some(125), "{what}: {err}");
        assert!(err.contains(needle), "{what}: wanted '{needle}' in: {err}");
        assert!(!err.contains("could not restore"), "{what}: {err}");
        if v1 {
            assert_eq!(list().as_deref(), Some("c 1:3 rw\n"), "{what} left the rules changed");
        }
        let o = ok(rein(&["exec", &g, "--", "sh", "-c", &script]));
        assert_eq!(answers(&o), ["denied", "allowed"], "{what}: {}", text(&o).1);
    };
    given_back(
        "rein set",
        rein(&["set", &g, "--device-policy", "strict", "--device-allow", "c 1:5 rw", "-r", &bad]),
        "No such device",
    );
    // Refused before any write now: pids.max above the kernel's largest.
    given_back(
        "rein set --pids",
        rein(&["set", &g, "--device-policy", "strict", "--device-allow", "c 1:5 rw", "--pids", "99999999"]),
        "largest pids.max, 4194304",
    );

    let tools = tempfile::tempdir().expect("tempdir");
    ok(rein(&["compat", "install", tools.path().to_str().expect("utf-8")]));
    let cgset = Command::new(tools.path().join("cgset"))
        .args(["-r", "devices.deny=c 1:3 rw", "-r", "devices.allow=c 1:5 rw", "-r", &bad, &g])
        .output()
        .expect("cgset");
    given_back("cgset", cgset, "No such device");

    // rein apply: the group as a file declares it, then a change that fails.
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = |allow: &str, files: &str| {
        let path = dir.path().join("rein.toml");
        let text = format!("[groups.a]\ndevice-policy = \"strict\"\ndevice-allow = [\"{allow}\"]\n{files}");
        std::fs::write(&path, text).expect("write rein.toml");
        path.display().to_string()
    };
    let a = format!("{}/a", e.parent);
    ok(rein(&["apply", "--parent", &e.parent, &toml("c 1:3 rw", "")]));
    let o = rein(&[
        "apply",
        "--parent",
        &e.parent,
        &toml("c 1:5 rw", &format!("files = {{ \"{file}\" = \"{value}\" }}\n")),
    ]);
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains("nothing applied (every change of this apply was undone"), "{err}");
    let o = ok(rein(&["exec", &a, "--", "sh", "-c", &script]));
    assert_eq!(answers(&o), ["denied", "allowed"], "rein apply: {}", text(&o).1);
    if v1 {
        let l = std::fs::read_to_string(format!("/sys/fs/cgroup/devices/{a}/devices.list")).expect("devices.list");
        assert_eq!(l, "c 1:3 rw\n", "rein apply left the rules changed");
        // memory.oom_control: oom_kill_disable back to 0.
        let o = rein(&["set", &g, "--oom-kill-disable", "-r", &bad]);
        assert_eq!(o.status.code(), Some(125), "{}", text(&o).1);
        assert!(!text(&o).1.contains("could not restore"), "{}", text(&o).1);
        let oom = std::fs::read_to_string(format!("/sys/fs/cgroup/memory/{g}/memory.oom_control")).expect("oom");
        assert!(oom.starts_with("oom_kill_disable 0\n"), "{oom}");
    }
    ok(rein(&["down", "--parent", &e.parent, &toml("c 1:3 rw", "")]));
    ok(rein(&["rm", &g]));
    assert!(e.leftovers().is_empty(), "left: {:?}", e.leftovers());
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn bad_device_input_is_refused_and_leaves_nothing() {
    let Some(e) = env("dev_bad", ALL) else { return };
    let g = format!("{}/bad", e.parent);
    refused_and_nothing_left(
        &e,
        &g,
        &[
            (&["--device-allow", "x 1:3 r"][..], "'x 1:3 r'"),
            (&["--device-allow", "c 1:3"], "'c 1:3'"),
            (&["--device-allow", "c 1:3 rwx"], "'c 1:3 rwx'"),
            (&["--device-allow", "c 1:3:4 r"], "'c 1:3:4 r'"),
            (&["--device-allow", "c 99999:3 r"], "'c 99999:3 r'"),
            (&["--device-allow", "b 1:3 rw"], "'b 1:3 rw'"),
            (&["--device", "/dev/does-not-exist"], "'/dev/does-not-exist'"),
            (&["--device", "/etc/hostname:r"], "'/etc/hostname:r'"),
            (&["--device", "/dev/null:rx"], "'/dev/null:rx'"),
            (&["--device-policy", "open"], "'open'"),
            (&["-p", "DeviceAllow=/dev/block/1:3 r"], "'/dev/block/1:3 r'"),
            (&["-p", "DeviceAllow=char-no-such-driver"], "'char-no-such-driver'"),
            (&["--device-cgroup-rule", "c 1:3 q"], "'c 1:3 q'"),
        ],
    );
    // Nothing attached to the parent either.
    if e.h.mode() == Mode::Unified && Path::new(&e.h.unified().unwrap().mount.path().join(&e.parent)).exists() {
        assert_eq!(programs(&e, &e.parent), Some((0, 0)));
    }
}
