//! Named groups and the compat vocabularies, without root: fake cgroup trees
//! (REIN_CGROUP_ROOT), dry runs, translations into the files of each mode, refusals and
//! exit codes. The real kernel's behaviour is tested in tests/kernel/groups.rs.

use std::path::Path;
use std::process::{Command, Output};

use rein::testing::{FakeTree, Layout};

fn rein_at(root: &Path, program: &Path, args: &[&str]) -> Output {
    Command::new(program).env("REIN_CGROUP_ROOT", root).args(args).output().expect("run")
}

fn rein(tree: &FakeTree, args: &[&str]) -> Output {
    rein_at(tree.path(), Path::new(env!("CARGO_BIN_EXE_rein")), args)
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

fn fails(o: Output, code: i32, needle: &str) {
    assert_eq!(o.status.code(), Some(code), "stdout:\n{}\nstderr:\n{}", out(&o), err(&o));
    assert!(err(&o).contains(needle), "wanted '{needle}' in:\n{}", err(&o));
}

fn read(tree: &FakeTree, rel: &str) -> String {
    std::fs::read_to_string(tree.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}")).trim_end().to_string()
}

fn mark(dir: &Path) -> Option<String> {
    let mut buf = [0u8; 128];
    rustix::fs::getxattr(dir, "user.rein", &mut buf[..]).ok().map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn create_dry_run_shows_mkdirs_marks_and_writes_and_changes_nothing() {
    for layout in [Layout::V2, Layout::V1, Layout::Hybrid] {
        let tree = FakeTree::new(layout);
        let before = tree.snapshot();
        let o = ok(rein(&tree, &["create", "tenants/a", "--memory", "20M", "--dry-run"]));
        let text = out(&o);
        assert!(text.contains("setfattr -n user.rein -v parent "), "{layout:?}:\n{text}");
        assert!(text.contains("setfattr -n user.rein -v named "), "{layout:?}:\n{text}");
        assert!(text.contains("20971520 > "), "{layout:?}:\n{text}");
        assert_eq!(before, tree.snapshot(), "{layout:?}");
    }
}

#[test]
fn create_marks_the_directory() {
    let tree = FakeTree::new(Layout::V2);
    ok(rein(&tree, &["create", "web"]));
    assert_eq!(mark(&tree.path().join("web")).as_deref(), Some("named"));
    // Controllers were enabled for it in the root.
    assert!(read(&tree, "cgroup.subtree_control").contains("+memory"), "{}", read(&tree, "cgroup.subtree_control"));
    fails(rein(&tree, &["create", "web"]), 125, "already exists");
}

#[test]
fn set_in_every_vocabulary_writes_the_files_of_the_mode() {
    // (layout, args, file, want)
    let cases: &[(Layout, &[&str], &str, &str)] = &[
        (Layout::V2, &["--memory", "20M"], "web/memory.max", "20971520"),
        (Layout::V2, &["-r", "memory.limit_in_bytes=20971520"], "web/memory.max", "20971520"),
        (Layout::V2, &["-r", "cpu.cfs_quota_us=35000"], "web/cpu.max", "35000 100000"),
        (Layout::V2, &["-r", "cpu.shares=512"], "web/cpu.weight", "50"),
        (Layout::V2, &["-r", "memory.max=30M"], "web/memory.max", "30M"),
        (Layout::V2, &["-p", "MemoryMax=64M"], "web/memory.max", "67108864"),
        (Layout::V2, &["-p", "CPUQuota=20%"], "web/cpu.max", "20000 100000"),
        (Layout::V2, &["-p", "CPUQuota=0.5%"], "web/cpu.max", "1000 200000"),
        (Layout::V2, &["-p", "TasksMax=64"], "web/pids.max", "64"),
        (Layout::V2, &["--memory", "20m", "--memory-swap", "30m"], "web/memory.swap.max", "10485760"),
        (Layout::V2, &["--cpu-quota", "25000", "--cpu-period", "50000"], "web/cpu.max", "25000 50000"),
        (Layout::V2, &["--pids-limit", "-1"], "web/pids.max", "max"),
        (Layout::V2, &["--blkio-weight", "500"], "web/io.weight", "default 100"),
        (Layout::V1, &["-r", "memory.max=20M"], "memory/web/memory.limit_in_bytes", "20971520"),
        (Layout::V1, &["-r", "cpu.max=35000 100000"], "cpu/web/cpu.cfs_quota_us", "35000"),
        (Layout::V1, &["-r", "cpu.weight=50"], "cpu/web/cpu.shares", "512"),
        (Layout::V1, &["-r", "memory.limit_in_bytes=20971520"], "memory/web/memory.limit_in_bytes", "20971520"),
        (Layout::V1, &["-p", "CPUQuota=35%"], "cpu/web/cpu.cfs_quota_us", "35000"),
        (
            Layout::V1,
            &["--memory", "20m", "--memory-swap", "20m"],
            "memory/web/memory.memsw.limit_in_bytes",
            "20971520",
        ),
        (Layout::V1, &["--oom-kill-disable"], "memory/web/memory.oom_control", "1"),
        (Layout::Hybrid, &["-r", "cgroup.freeze=1"], "unified/web/cgroup.freeze", "1"),
        (Layout::Hybrid, &["-r", "memory.max=20M"], "memory/web/memory.limit_in_bytes", "20971520"),
    ];
    for (layout, args, file, want) in cases {
        let tree = FakeTree::new(*layout);
        tree.group("web");
        let mut full = vec!["set", "web"];
        full.extend(args.iter());
        ok(rein(&tree, &full));
        assert_eq!(read(&tree, file), *want, "{layout:?} {args:?}");
    }
}

#[test]
fn show_reports_the_files_as_written() {
    for layout in [Layout::V2, Layout::V1] {
        let tree = FakeTree::new(layout);
        tree.group("web");
        ok(rein(&tree, &["set", "web", "--memory", "20M", "--cpu", "35%"]));
        let o = ok(rein(&tree, &["show", "web", "--json"]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        for f in v["files"].as_array().unwrap() {
            let on_disk = std::fs::read_to_string(f["path"].as_str().unwrap()).unwrap();
            assert_eq!(on_disk.trim_end_matches('\n'), f["value"].as_str().unwrap(), "{f}");
        }
        assert_eq!(v["limits"]["memory"]["max"], 20971520, "{layout:?}: {}", v["limits"]);
        assert_eq!(v["limits"]["cpu"]["max"]["quota"], 35000);
        let human = out(&ok(rein(&tree, &["show", "web"])));
        assert!(human.contains("20971520  (20M)"), "{human}");
    }
}

#[test]
fn refusals_change_nothing_and_name_what_to_do() {
    let tree = FakeTree::new(Layout::V2);
    tree.group("web");
    let before = tree.snapshot();
    for (args, needle) in [
        (&["set", "web", "--oom-kill-disable"][..], "memory.high"),
        (&["set", "web", "-r", "memory.swappiness=10"], "vm.swappiness"),
        (&["set", "web", "-r", "cpu.rt_runtime_us=0"], "real-time"),
        (&["set", "web", "-r", "memory.memsw.limit_in_bytes=10M"], "memory.limit_in_bytes first"),
        (&["set", "web", "-p", "CPUShares=512"], "CPUWeight="),
        (&["set", "web", "-p", "Bogus=1"], "unknown"),
        (&["set", "web", "--memory", "1G", "-p", "MemoryMax=2G"], "set by a flag and by -p"),
        (&["set", "web", "--memory", "1G", "-r", "memory.limit_in_bytes=2G"], "set by a flag and by -r"),
        (&["set", "web", "--memory", "1G", "-r", "memory.max=2G"], "memory.max (and -r memory.max)"),
        (&["set", "web", "--memory-swap", "2G"], "give --memory too"),
        (&["set", "web", "--memory", "1g", "--memory-swap", "512m"], "at least --memory"),
        (&["set", "web", "--cpus", "1", "--cpu-quota", "50000"], "Conflicting options"),
        (&["set", "web", "--blkio-weight", "5"], "10 to 1000"),
        (&["set", "web", "--device-write-bps", "sda:1mb"], "/dev/"),
        (&["set", "nope", "--memory", "1G"], "no group /nope"),
        (&["set", "web"], "nothing to set"),
        (&["create", "-g", "memory:a", "-g", "cpu:b"], "one group at a time"),
        (&["set", "web", "--net-egress", "10"], "has no unit"),
        (&["set", "web", "--net-egress", "10mbps"], "ambiguous"),
        (&["set", "web", "--net-ingress", "0kbit"], "must be positive"),
        (&["set", "web", "--net-classid", "10"], "MAJ:MIN"),
        (&["set", "web", "--net-priority", "-3"], "not a priority"),
        (&["set", "web", "--net-priority", "3", "--net-classid", "1:1"], "give one"),
        (&["create", "-g", "memroy:x"], "not a cgroup controller"),
    ] {
        fails(rein(&tree, args), 125, needle);
    }
    assert_eq!(before, tree.snapshot());
    // Usage errors.
    assert_eq!(rein(&tree, &["create"]).status.code(), Some(2));
    assert_eq!(rein(&tree, &["exec", "web"]).status.code(), Some(2));
    assert_eq!(rein(&tree, &["move", "web"]).status.code(), Some(2));
}

#[test]
fn rm_refuses_a_populated_group_and_says_what_is_inside() {
    let tree = FakeTree::new(Layout::V2);
    tree.group("web/child");
    let me = std::process::id().to_string();
    std::fs::write(tree.path().join("web/cgroup.procs"), format!("{me}\n")).unwrap();
    fails(rein(&tree, &["rm", "web"]), 125, "child groups: child");
    fails(rein(&tree, &["rm", "web", "-r"]), 125, &format!("holds 1 process: {me}"));
    let o = ok(rein(&tree, &["rm", "web", "-r", "--kill", "--dry-run"]));
    assert!(out(&o).contains(&format!("# kill {me}")), "{}", out(&o));
    assert!(tree.path().join("web/child").exists());
}

#[test]
fn ls_and_gc_tell_rein_groups_apart() {
    let tree = FakeTree::new(Layout::V2);
    for g in ["rein/run-1", "rein/run-2", "mine", "theirs"] {
        tree.group(g);
    }
    let set = |g: &str, v: &str| {
        rustix::fs::setxattr(tree.path().join(g), "user.rein", v.as_bytes(), rustix::fs::XattrFlags::empty()).unwrap()
    };
    set("rein", "parent");
    // pid 1's start time is never 1: a transient group of a rein that is gone.
    set("rein/run-1", "transient pid=999999 start=1");
    set("rein/run-2", &format!("transient pid={} start=1", std::process::id()));
    set("mine", "named");
    let v: serde_json::Value = serde_json::from_slice(&ok(rein(&tree, &["ls", "--json"])).stdout).unwrap();
    let owners: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["group"].as_str().unwrap().to_string(), e["owner"]["kind"].to_string()))
        .collect();
    assert!(owners.contains(&("/mine".into(), "\"named\"".into())), "{owners:?}");
    assert!(owners.contains(&("/theirs".into(), "null".into())), "{owners:?}");
    let mine = out(&ok(rein(&tree, &["ls", "--mine"])));
    assert!(!mine.contains("theirs") && mine.contains("/mine"), "{mine}");
    let tree_view = out(&ok(rein(&tree, &["ls", "--tree"])));
    assert!(tree_view.contains("\n  run-1"), "{tree_view}");
    let before = tree.snapshot();
    let o = ok(rein(&tree, &["gc", "--dry-run"]));
    let text = out(&o);
    assert!(text.contains("would remove") && text.contains("rein/run-1 (rein pid 999999 is gone)"), "{text}");
    assert!(text.contains("rein/run-2 (pid") || text.contains("rein/run-2:"), "{text}");
    // What it keeps, it names with the reason.
    assert!(text.contains("mine: a named group (rein create): gc never removes it"), "{text}");
    assert!(text.contains("theirs: not made by rein: it has no user.rein mark"), "{text}");
    assert!(text.contains("rein: a parent rein made for other groups"), "{text}");
    assert_eq!(before, tree.snapshot());
}

#[test]
fn libcgroup_names_work_through_links() {
    let tree = FakeTree::new(Layout::V2);
    tree.group("data_processor");
    std::fs::write(tree.path().join("data_processor/memory.max"), "20971520\n").unwrap();
    let bin = tempfile::tempdir().unwrap();
    ok(rein(&tree, &["compat", "install", bin.path().to_str().unwrap()]));
    fails(rein(&tree, &["compat", "install", bin.path().to_str().unwrap()]), 125, "--force");
    ok(rein(&tree, &["compat", "install", "--force", bin.path().to_str().unwrap()]));
    let tool = |name: &str, args: &[&str]| rein_at(tree.path(), &bin.path().join(name), args);
    // cgget's layout: "group:", "name: value" lines, a blank line; -n drops headers, -v names.
    let o = ok(tool("cgget", &["-r", "memory.limit_in_bytes", "data_processor"]));
    assert_eq!(out(&o), "data_processor:\nmemory.limit_in_bytes: 20971520\n\n");
    let o = ok(tool("cgget", &["-nv", "-r", "memory.limit_in_bytes", "-r", "memory.max", "data_processor"]));
    assert_eq!(out(&o), "20971520\n20971520\n");
    let o = ok(tool("cgget", &["-n", "-r", "memory.oom_control", "data_processor"]));
    assert_eq!(out(&o), "memory.oom_control: oom_kill_disable 0\n\tunder_oom 0\n\toom_kill 0\n");
    let o = ok(tool("cgget", &["-g", "pids:data_processor"]));
    assert!(out(&o).starts_with("data_processor:\npids.") && out(&o).contains("pids.max: max\n"), "{}", out(&o));
    ok(tool("cgset", &["-r", "cpu.cfs_quota_us=35000", "data_processor"]));
    assert_eq!(read(&tree, "data_processor/cpu.max"), "35000 100000");
    // Options after the operand, as GNU getopt permutes them.
    ok(tool("cgset", &["data_processor", "-r", "memory.limit_in_bytes=10485760"]));
    assert_eq!(read(&tree, "data_processor/memory.max"), "10485760");
    fails(tool("cgget", &["-r", "memory.limit_in_bytes", "nope"]), 125, "no group /nope");
    fails(tool("cgset", &["-r", "memory.swappiness=1", "data_processor"]), 125, "swappiness");
    // Owners and modes, as libcgroup's cgcreate takes them: an unknown user in its words
    // (status 255) makes nothing; a mode is masked by the owner's bits of the kernel's.
    let o = tool("cgcreate", &["-a", "nosuchuser:root", "-g", "memory:x"]);
    assert_eq!((o.status.code(), err(&o).trim()), (Some(255), "cgcreate: can't find uid of user nosuchuser."));
    let o = tool("cgcreate", &["-d", "7a0", "-g", "memory:x"]);
    assert_eq!((o.status.code(), out(&o).as_str()), (Some(255), "cgcreate wrong mode format 7a0\n"));
    assert!(!tree.path().join("x").exists(), "a refused cgcreate made x");
    ok(tool("cgcreate", &["--dperm=750", "-a", ":0", "-g", "memory:x"]));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(tree.path().join("x")).unwrap().permissions().mode() & 0o7777, 0o750);
    for (name, args) in [
        ("cgget", &[][..]),
        ("cgset", &["data_processor"][..]),
        ("cgset", &["-r", "memory.max=1"][..]),
        ("cgexec", &["true"][..]),
        ("cgexec", &["-g", "memory:data_processor"][..]),
        ("cgclassify", &["-g", "memory:data_processor"][..]),
        ("cgdelete", &[][..]),
        ("cgget", &["-x", "g"][..]),
        ("cgsnapshot", &["-x"][..]),
        ("cgconfigparser", &[][..]),
        ("cgconfigparser", &["-l"][..]),
        ("cgconfigparser", &["some.conf"][..]),
    ] {
        let o = tool(name, args);
        // libcgroup's usage status and words (its EXIT_BADARGS), which scripts match.
        assert_eq!(o.status.code(), Some(129), "{name} {args:?}: {}", err(&o));
        assert!(err(&o).contains(&format!("Wrong input parameters, try '{name} -h'")), "{}", err(&o));
    }
    let o = ok(tool("cgget", &["-h"]));
    assert!(out(&o).starts_with("Usage: cgget"), "{}", out(&o));
    // cgsnapshot: libcgroup's cgconfig.conf, a block per group and controller.
    let o = ok(tool("cgsnapshot", &["-s", "memory"]));
    assert!(out(&o).starts_with("# Configuration file generated by cgsnapshot\nmount {\n"), "{}", out(&o));
    assert!(out(&o).contains("\ngroup data_processor {\n\tmemory {\n"), "{}", out(&o));
    assert!(out(&o).contains("\t\tmemory.max=\"10485760\";\n"), "{}", out(&o));
    assert!(!out(&o).contains("\tpids {"), "only the controllers asked for: {}", out(&o));
}

/// cgconfigparser on a fake tree: a file's settings land in an existing group (v1 names as
/// v2 files), a file that does not parse or whose value is refused changes nothing and
/// exits with libcgroup's status and words, -L loads a directory's .conf files in order,
/// -h prints what libcgroup's test 021 looks for.
#[test]
fn cgconfigparser_loads_files_with_libcgroups_statuses() {
    let tree = FakeTree::new(Layout::V2);
    tree.group("web");
    let bin = tempfile::tempdir().unwrap();
    ok(rein(&tree, &["compat", "install", bin.path().to_str().unwrap()]));
    let tool = |args: &[&str]| rein_at(tree.path(), &bin.path().join("cgconfigparser"), args);
    let dir = tempfile::tempdir().unwrap();
    let conf = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let o = ok(tool(&["-h"]));
    assert!(out(&o).contains("Parse and load the specified cgroups configuration file"), "{}", out(&o));
    let before = tree.snapshot();
    let bad = conf("bad.conf", "group web {\n  memory {\n    memory.limit_in_bytes = 20M\n  }\n}\n");
    fails(tool(&["-l", &bad]), 104, &format!("{bad}:4: "));
    fails(tool(&["-l", &bad]), 104, &format!("cgconfigparser; error loading {bad}: Failed to parse config file"));
    let refused = conf("refused.conf", "group web {\n  pids {\n    pids.max = -5;\n  }\n}\n");
    fails(tool(&["-l", &refused]), 96, &format!("cgconfigparser; error loading {refused}: Invalid argument"));
    fails(tool(&["-l", "/nonexistent.conf"]), 96, "error loading /nonexistent.conf: No such file or directory");
    assert_eq!(tree.snapshot(), before);
    let o = tool(&["-d", "75", "-l", &bad]);
    assert_eq!(o.status.code(), Some(255));
    assert!(out(&o).contains("cgconfigparser wrong mode format 75"), "{}", out(&o));
    fails(tool(&["-a", "nosuchuser:root", "-l", &bad]), 255, "can't find uid of user nosuchuser.");
    fails(tool(&["-L", "/nonexistent"]), 1, "cannot open /nonexistent");
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("10-a.conf"), "group web { memory { memory.limit_in_bytes = 20M; } }").unwrap();
    std::fs::write(d.path().join("20-b.conf"), "group web { pids { pids.max = 7; } }").unwrap();
    std::fs::write(d.path().join("30-c.conf.bak"), "not a config").unwrap();
    std::fs::write(d.path().join(".conf"), "not a config").unwrap();
    ok(tool(&["-L", d.path().to_str().unwrap()]));
    assert_eq!(read(&tree, "web/memory.max"), "20971520");
    assert_eq!(read(&tree, "web/pids.max"), "7");
}

#[test]
fn compat_install_dry_run_makes_nothing() {
    let tree = FakeTree::new(Layout::V2);
    let bin = tempfile::tempdir().unwrap();
    let o = ok(rein(&tree, &["compat", "install", "--dry-run", bin.path().to_str().unwrap()]));
    assert_eq!(out(&o).lines().count(), 12, "{}", out(&o));
    assert_eq!(std::fs::read_dir(bin.path()).unwrap().count(), 0);
    fails(rein(&tree, &["compat", "install", "/nonexistent/dir"]), 125, "no such directory");
}

#[test]
fn run_in_an_existing_group_dry_run() {
    let tree = FakeTree::new(Layout::Hybrid);
    tree.group("web");
    let o = ok(rein(&tree, &["run", "-g", "web", "--dry-run", "--memory", "20M", "--", "true"]));
    let text = out(&o);
    assert!(text.contains("20971520 > ") && text.contains("$CHILD > ") && text.contains("the group stays"), "{text}");
    assert!(!text.contains("mkdir"), "{text}");
    fails(rein(&tree, &["run", "-g", "nope", "--", "true"]), 125, "no group /nope");
}

#[test]
fn network_control_without_cgroup2_is_refused_with_the_tc_recipe() {
    // A pure v1 host: no cgroup2 directory for the programs; nothing is made.
    let tree = FakeTree::new(Layout::V1);
    let before = tree.snapshot();
    for args in [
        &["create", "web", "--net-egress", "10mbit"][..],
        &["create", "web", "--net-classid", "1:10"],
        &["run", "--net-ingress", "1mbit", "--", "true"],
    ] {
        fails(rein(&tree, args), 125, "net_cls.classid");
    }
    assert_eq!(before, tree.snapshot());
}

/// `cgclassify -r` (libcgroup's "replace the idle_thread" of a `cgcreate -c` scope): a
/// process whose new group holds no placeholder is refused in libcgroup's words and
/// moved back (here it never left its real groups: the tree is fake), ending with the
/// way back's status (0, as libcgroup); a pid with no /proc entry stops the run, 1.
#[test]
fn cgclassify_r_without_a_placeholder_moves_the_process_back() {
    let tree = FakeTree::new(Layout::V2);
    tree.group("data_processor");
    let bin = tempfile::tempdir().unwrap();
    ok(rein(&tree, &["compat", "install", bin.path().to_str().unwrap()]));
    let tool = |args: &[&str]| rein_at(tree.path(), &bin.path().join("cgclassify"), args);
    assert!(out(&ok(tool(&["-h"]))).contains("Replace the default idle_thread spawned for the systemd scope"));
    let mut sleeper = Command::new("sleep").arg("1000").spawn().unwrap();
    let pid = sleeper.id().to_string();
    let o = ok(tool(&["-r", "-g", "pids:data_processor", &pid]));
    assert!(err(&o).contains("Failed to find idle_thread task"), "{}", err(&o));
    // Without -r the same move is quiet.
    assert!(err(&ok(tool(&["-g", "pids:data_processor", &pid]))).is_empty());
    fails(tool(&["-r", "-g", "pids:data_processor", "999999999", &pid]), 1, "Failed to read /proc/999999999/cgroups");
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}
