//! The `rein` binary without root: fake cgroup trees (REIN_CGROUP_ROOT), dry runs, bad
//! input and exit codes.

use std::process::{Command, Output};

use rein::testing::{FakeTree, Layout};

fn rein(tree: &FakeTree, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rein")).env("REIN_CGROUP_ROOT", tree.path()).args(args).output().expect("rein")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).replace(&*std::env::temp_dir().to_string_lossy(), "$TMP")
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn dry_run_lists_every_write_and_changes_nothing() {
    for layout in [Layout::V2, Layout::V1, Layout::Hybrid] {
        let tree = FakeTree::new(layout);
        let before = tree.snapshot();
        let o = rein(&tree, &["run", "--dry-run", "--name", "job", "--memory", "256M", "--cpu", "20%", "--", "true"]);
        assert!(o.status.success(), "{layout:?}: {}", err(&o));
        let text = out(&o);
        let (mem, cpu) = match layout {
            Layout::V2 => ("268435456 > ", "'20000 100000' > "),
            _ => ("268435456 > ", "20000 > "),
        };
        assert!(text.contains(mem) && text.contains(cpu), "{layout:?}:\n{text}");
        assert!(text.contains("mkdir ") && text.contains("rein/job"), "{text}");
        assert!(text.contains("rmdir "), "{text}");
        assert_eq!(before, tree.snapshot(), "{layout:?}: dry run changed the tree");
    }
}

#[test]
fn bad_values_exit_125_and_name_the_value() {
    let tree = FakeTree::new(Layout::V2);
    let before = tree.snapshot();
    for (args, needle) in [
        (vec!["--memory", "lots"], "'lots'"),
        (vec!["--memory", "-1"], "negative"),
        (vec!["--memory", "1e99"], "'1e99'"),
        (vec!["--memory", ""], "empty"),
        (vec!["--memory", "0"], "0 would OOM-kill"),
        (vec!["--cpu", "NaN%"], "'NaN%'"),
        (vec!["--cpu", "20"], "percentage"),
        (vec!["--cpu", "0.1%"], "at least 1000us"),
        (vec!["--cpu-weight", "0"], "between 1 and 10000"),
        (vec!["--cpuset", "3-1"], "reversed"),
        (vec!["--cpuset", "0-9"], "not available"),
        (vec!["--pids", "99999999999999999999999"], "too large"),
        (vec!["--io-max", "/dev/null:wbps=1M"], "character device"),
        (vec!["--io-max", "/nonexistent:wbps=1M"], "/nonexistent"),
        (vec!["--parent", "../etc"], "'..'"),
        (vec!["--name", "cgroup.procs"], "interface file"),
        (vec!["--name", "a\nb"], "control characters"),
        // One group, made and removed by the run: the groups above it go in --parent.
        (
            vec!["--name", "a/b"],
            "not a path (no '/'); give the groups above it as the parent: --parent /rein/a --name b",
        ),
        (vec!["--parent", "jobs", "--name", "x/y/z"], "--parent /jobs/x/y --name z"),
        (vec!["--name", "/abs"], "invalid --name '/abs': a run's group is one name beneath --parent"),
        (vec!["--dry-run", "--name", "a/b"], "--parent /rein/a --name b"),
    ] {
        let mut full = vec!["run"];
        full.extend(args.iter());
        full.extend(["--", "true"]);
        let o = rein(&tree, &full);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(needle), "{args:?}: {}", err(&o));
        assert!(err(&o).starts_with("rein: error: "), "{}", err(&o));
    }
    assert_eq!(before, tree.snapshot());
}

#[test]
fn usage_errors_exit_2() {
    let tree = FakeTree::new(Layout::V2);
    assert_eq!(rein(&tree, &["run"]).status.code(), Some(2));
    assert_eq!(rein(&tree, &["run", "--bogus", "--", "true"]).status.code(), Some(2));
    assert_eq!(rein(&tree, &["nonsense"]).status.code(), Some(2));
}

/// The help of the commands that take the limit flags, as users read it (100 columns,
/// no REIN_DRIVER set): the flags are built from the library's flag table
/// (`rein::flags::Key`), and these files hold what they said before that table existed.
/// A deliberate change of a help text updates the file: `REIN_BLESS=1 cargo test -p
/// rein-cli --test cli help_` rewrites them.
#[test]
fn help_texts_of_the_commands_with_limit_flags_are_unchanged() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut wrong = Vec::new();
    for cmd in ["run", "create", "set", "exec"] {
        for (flag, suffix) in [("--help", "help"), ("-h", "short-help")] {
            let o = Command::new(env!("CARGO_BIN_EXE_rein"))
                .env_remove("REIN_DRIVER")
                .env_remove("REIN_CGROUP_ROOT")
                .env("COLUMNS", "100")
                .args([cmd, flag])
                .output()
                .expect("rein");
            assert!(o.status.success(), "rein {cmd} {flag}: {}", err(&o));
            let file = dir.join(format!("{cmd}-{suffix}.txt"));
            let got = String::from_utf8_lossy(&o.stdout);
            if std::env::var_os("REIN_BLESS").is_some() {
                std::fs::write(&file, got.as_bytes()).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if got != want {
                let at = got
                    .lines()
                    .zip(want.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| got.lines().count().min(want.lines().count()));
                wrong.push(format!(
                    "rein {cmd} {flag} differs from {} from line {}:\n  got:  {:?}\n  want: {:?}",
                    file.display(),
                    at + 1,
                    got.lines().nth(at),
                    want.lines().nth(at)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn v1_refuses_v2_only_settings_with_the_closest_equivalent() {
    let tree = FakeTree::new(Layout::V1);
    let o = rein(&tree, &["run", "--dry-run", "--memory-high", "1G", "--", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("memory.high is not supported on cgroup v1"), "{}", err(&o));
    let o = rein(&tree, &["run", "--dry-run", "--swap", "1G", "--", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("give a memory limit too"), "{}", err(&o));
}

#[test]
fn check_reports_the_mode_of_each_layout() {
    for (layout, mode) in [(Layout::V2, "v2"), (Layout::V1, "v1"), (Layout::Hybrid, "hybrid")] {
        let tree = FakeTree::new(layout);
        let o = rein(&tree, &["check", "--json"]);
        assert!(o.status.success(), "{}", err(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["mode"], mode);
        let memory = v["controllers"].as_array().unwrap().iter().find(|c| c["name"] == "memory").unwrap();
        assert_eq!(memory["hierarchy"], if mode == "v2" { "v2" } else { "v1" });
        let human = rein(&tree, &["check"]);
        assert!(out(&human).starts_with("mode"), "{}", out(&human));
    }
}

/// `GET path` over HTTP/1.0: (status code, content type, body).
#[cfg(feature = "exporter")]
fn http_get(addr: &str, path: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header and a body");
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
    let ctype = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: ").or_else(|| l.strip_prefix("content-type: ")))
        .unwrap_or("")
        .to_string();
    (status, ctype, body.to_string())
}

/// A `rein exporter` started on an ephemeral loopback port, killed on drop.
#[cfg(feature = "exporter")]
struct Exporter {
    child: std::process::Child,
    addr: String,
}

#[cfg(feature = "exporter")]
impl Exporter {
    fn start(tree: &FakeTree, args: &[&str]) -> Exporter {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_rein"))
            .env("REIN_CGROUP_ROOT", tree.path())
            .args(["exporter", "--listen", "127.0.0.1:0"])
            .args(args)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start rein exporter");
        let mut line = String::new();
        std::io::BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Exporter { child, addr }
    }
}

#[cfg(feature = "exporter")]
impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Puts a value in a fake group's memory usage file (v2 or v1 name).
fn set_memory(tree: &FakeTree, layout: Layout, group: &str, bytes: u64) {
    let file = match layout {
        Layout::V2 => tree.path().join(group).join("memory.current"),
        _ => tree.path().join("memory").join(group).join("memory.usage_in_bytes"),
    };
    std::fs::write(file, format!("{bytes}\n")).unwrap();
}

#[test]
fn top_once_prints_one_frame() {
    for layout in [Layout::V2, Layout::V1, Layout::Hybrid] {
        let tree = FakeTree::new(layout);
        for g in ["rein/run-1", "rein/run-2", "other/x"] {
            tree.group(g);
        }
        set_memory(&tree, layout, "rein/run-1", 20 << 20);
        set_memory(&tree, layout, "rein/run-2", 5 << 20);
        let o = rein(&tree, &["top", "--once", "-d", "100ms", "--sort", "mem"]);
        assert!(o.status.success(), "{layout:?}: {}", err(&o));
        let text = out(&o);
        let groups: Vec<&str> = text.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
        // rein's own groups only, biggest memory first (the parent has nothing of its own in a fake tree).
        assert_eq!(groups, ["GROUP", "/rein/run-1", "/rein/run-2", "/rein"], "{layout:?}:\n{text}");
        assert!(text.lines().nth(1).unwrap().contains(" 20M "), "{text}");
        let all = out(&rein(&tree, &["top", "--once", "-d", "100ms", "--all", "--tree", "--sort", "group"]));
        let labels: Vec<&str> = all.lines().skip(1).map(|l| l.split("  ").find(|s| !s.is_empty()).unwrap()).collect();
        assert_eq!(labels, ["/other", "x", "/rein", "run-1", "run-2"], "{layout:?}:\n{all}");
        let filtered = out(&rein(&tree, &["top", "--once", "-d", "100ms", "--all", "--filter", "X"]));
        assert_eq!(filtered.lines().count(), 2, "{filtered}");
        // IO counters reach the rate columns (no IO between the two readings: 0B/s).
        set_io(&tree, layout, "rein/run-1", 4096, 8192);
        let io = out(&rein(&tree, &["top", "--once", "-d", "100ms", "--sort", "io-read"]));
        let line = io.lines().find(|l| l.starts_with("/rein/run-1 ")).unwrap();
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((cells[5], cells[6]), ("0B", "0B"), "{layout:?}:\n{io}");
    }
}

/// Puts IO counters for device 7:0 in a fake group (v2 io.stat, v1 blkio files).
fn set_io(tree: &FakeTree, layout: Layout, group: &str, read: u64, written: u64) {
    match layout {
        Layout::V2 => std::fs::write(
            tree.path().join(group).join("io.stat"),
            format!("7:0 rbytes={read} wbytes={written} rios=1 wios=2 dbytes=0 dios=0\n"),
        )
        .unwrap(),
        _ => {
            let dir = tree.path().join("blkio").join(group);
            let stat = |r: u64, w: u64| {
                format!(
                    "7:0 Read {r}\n7:0 Write {w}\n7:0 Sync 0\n7:0 Async 0\n7:0 Discard 0\n7:0 Total {}\nTotal {}\n",
                    r + w,
                    r + w
                )
            };
            std::fs::write(dir.join("blkio.throttle.io_service_bytes_recursive"), stat(read, written)).unwrap();
            std::fs::write(dir.join("blkio.throttle.io_serviced_recursive"), stat(1, 2)).unwrap();
        }
    }
}

#[test]
fn top_refuses_bad_input_before_touching_anything() {
    let tree = FakeTree::new(Layout::V2);
    for (args, code, needle) in [
        (vec!["--once", "-d", "0"], 125, "--interval: '0' is too short"),
        (vec!["--once", "-d", "soon"], 125, "not a duration"),
        (vec!["--once", "../etc"], 125, "'..'"),
        (vec!["--once", "nope"], 125, "no group /nope"),
        (vec!["--once", "--sort", "colour"], 2, "invalid value"),
        // stdout is a pipe here.
        (vec![], 125, if cfg!(feature = "tui") { "needs a terminal" } else { "without the live view" }),
    ] {
        let mut full = vec!["top"];
        full.extend(args.iter());
        let o = rein(&tree, &full);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(needle), "{args:?}: {}", err(&o));
    }
    let o = rein(&tree, &["top", "--once", "-d", "100ms"]);
    assert!(o.status.success());
    assert!(err(&o).contains("no groups of rein's"), "{}", err(&o));
}

#[test]
#[cfg(feature = "exporter")]
fn exporter_serves_openmetrics_and_health() {
    for layout in [Layout::V2, Layout::V1, Layout::Hybrid] {
        let tree = FakeTree::new(layout);
        tree.group("rein/job");
        tree.group("other");
        set_memory(&tree, layout, "rein/job", 12345);
        let ex = Exporter::start(&tree, &[]);
        let (status, ctype, body) = http_get(&ex.addr, "/metrics");
        assert_eq!(status, 200, "{layout:?}: {body}");
        assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
        assert!(body.ends_with("# EOF\n"), "{body}");
        assert!(body.contains("rein_memory_current_bytes{group=\"/rein/job\"} 12345\n"), "{layout:?}:\n{body}");
        assert!(body.contains("# TYPE rein_cpu_usage_seconds counter\n"), "{body}");
        assert!(body.contains("rein_cpu_usage_seconds_total{group=\"/rein/job\"} 0.0\n"), "{layout:?}:\n{body}");
        assert!(body.contains("rein_memory_oom_kill_total{group=\"/rein/job\"} 0\n"), "{body}");
        assert!(!body.contains("group=\"/other\""), "only rein's groups by default:\n{body}");
        // Unlimited memory has no limit series.
        assert!(!body.contains("rein_memory_max_bytes{group=\"/rein/job\"}"), "{body}");
        // IO per device.
        set_io(&tree, layout, "rein/job", 4096, 8192);
        let (_, _, body) = http_get(&ex.addr, "/metrics");
        for (name, v) in [("read_bytes", 4096), ("written_bytes", 8192), ("reads", 1), ("writes", 2)] {
            let line = format!("rein_io_{name}_total{{group=\"/rein/job\",device=\"7:0\"}} {v}\n");
            assert!(body.contains(&line), "{layout:?}: no {line}in\n{body}");
        }
        // A later scrape reads the files again.
        set_memory(&tree, layout, "rein/job", 67890);
        let (_, _, again) = http_get(&ex.addr, "/metrics");
        assert!(again.contains("rein_memory_current_bytes{group=\"/rein/job\"} 67890\n"), "{again}");
        assert_eq!(http_get(&ex.addr, "/healthz").0, 200);
        assert_eq!(http_get(&ex.addr, "/nope").0, 404);
        drop(ex);
        let ex = Exporter::start(&tree, &["--all", "--subtree", "other", "--max-open-files", "0"]);
        let (_, _, body) = http_get(&ex.addr, "/metrics");
        assert!(body.contains("rein_exporter_groups 1\n") && body.contains("group=\"/other\""), "{body}");
        // Nothing kept open, everything still read.
        assert!(body.contains("rein_exporter_open_files 0\n"), "{body}");
        assert!(body.contains("rein_memory_current_bytes{group=\"/other\"} 0\n"), "{body}");
        // The subtree removed: unhealthy.
        for d in std::fs::read_dir(tree.path()).unwrap() {
            let _ = std::fs::remove_dir_all(d.unwrap().path().join("other"));
        }
        let _ = std::fs::remove_dir_all(tree.path().join("other"));
        assert_eq!(http_get(&ex.addr, "/healthz").0, 503);
    }
}

#[test]
#[cfg(feature = "exporter")]
fn exporter_refuses_bad_addresses_and_busy_ports() {
    let tree = FakeTree::new(Layout::V2);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    for (args, code, needle) in [
        (vec!["--listen", "nowhere"], 125, "not an address to listen on"),
        (vec!["--listen", "70000"], 125, "not an address"),
        (vec!["--listen", &busy], 125, "another process listens there"),
        (vec!["--listen", "0", "--subtree", "nope"], 125, "no group /nope"),
        (vec!["--listen", "0", "--subtree", "a/../b"], 125, "'..'"),
        (vec![], 2, "--listen"),
    ] {
        let mut full = vec!["exporter"];
        full.extend(args.iter());
        let o = rein(&tree, &full);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(needle), "{args:?}: {}", err(&o));
    }
}

#[test]
fn driver_choice_on_a_fake_tree_is_cgroupfs_and_systemd_flags_are_refused() {
    let tree = FakeTree::new(Layout::V2);
    let before = tree.snapshot();
    let o = rein(&tree, &["check", "--json"]);
    assert!(o.status.success(), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["driver"], "cgroupfs");
    assert!(v["driver_reason"].as_str().unwrap().contains("REIN_CGROUP_ROOT"), "{v}");
    for (args, needle) in [
        (vec!["--driver", "systemd", "run", "--", "true"], "--driver systemd needs systemd"),
        (vec!["--user", "run", "--", "true"], "--user needs systemd"),
        (vec!["--user", "--driver", "cgroupfs", "run", "--", "true"], "drop --driver cgroupfs"),
        (vec!["run", "--unit", "job", "--", "true"], "--unit applies to the systemd driver"),
        (vec!["run", "--slice", "work", "--", "true"], "--slice applies to the systemd driver"),
        (vec!["run", "--unit", "a@b", "--", "true"], "'@' not allowed"),
        (vec!["run", "--slice", "a--b", "--", "true"], "separates slice levels"),
    ] {
        let o = rein(&tree, &args);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(needle), "{args:?}: {}", err(&o));
    }
    assert_eq!(rein(&tree, &["--driver", "bogus", "check"]).status.code(), Some(2));
    let o = rein(&tree, &["--driver", "cgroupfs", "run", "--dry-run", "--", "true"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(before, tree.snapshot());
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn stat_prints_one_schema_on_every_layout() {
    let mut seen = Vec::new();
    for layout in [Layout::V2, Layout::V1, Layout::Hybrid] {
        let tree = FakeTree::new(layout);
        tree.group("a/b");
        let o = rein(&tree, &["stat", "--json", "a/b", "/a"]);
        assert!(o.status.success(), "{layout:?}: {}", err(&o));
        let lines = json_lines(&o);
        assert_eq!(lines.len(), 2, "one line per group");
        assert_eq!(lines[0]["group"], "/a/b");
        assert!(lines[0].get("cpu_percent").is_none(), "no CPU% from one sample");
        seen.push((layout, keys(&lines[0]["cpu"]), keys(&lines[0]["pids"]), lines[0]["memory"].clone()));
        let human = rein(&tree, &["stat", "a/b"]);
        let t = out(&human);
        assert!(t.starts_with("GROUP") && t.contains("/a/b") && t.contains("MEM-MAX"), "{t}");
    }
    // cpu and pids: the same keys everywhere; memory: v2 adds what v1 lacks, nothing else.
    for (layout, cpu, pids, _) in &seen[1..] {
        assert_eq!(cpu, &seen[0].1, "{layout:?} cpu");
        assert_eq!(pids, &seen[0].2, "{layout:?} pids");
    }
    let (v2, v1) = (keys(&seen[0].3), keys(&seen[1].3));
    let extra: Vec<&String> = v2.iter().filter(|k| !v1.contains(k)).collect();
    assert_eq!(extra, ["high", "high_events", "oom"]);
    assert!(v1.iter().all(|k| v2.contains(k)), "{v1:?} vs {v2:?}");
}

#[test]
fn observability_commands_refuse_bad_input_with_125() {
    let tree = FakeTree::new(Layout::V2);
    tree.group("g");
    for (args, needle) in [
        (vec!["stat", "nope"], "no group /nope"),
        (vec!["stat", "../x"], "'..'"),
        (vec!["stat", "--watch", "0", "g"], "at least 10ms"),
        (vec!["stat", "--watch", "soon", "g"], "invalid --watch 'soon'"),
        (vec!["events", "nope"], "no group /nope"),
        (vec!["events", "--pressure", "memory:lots", "g"], "invalid pressure trigger"),
        (vec!["events", "--pressure", "disk:some:1s/2s", "g"], "cpu, memory or io"),
        (vec!["events", "--poll", "0", "g"], "at least 1ms"),
        (vec!["events", "--parent", "nope"], "no 'rein run' has made"),
        (vec!["plot", "/nonexistent.json", "-o", "x.svg"], "/nonexistent.json"),
        (vec!["plot", "x.json", "-o", "x.jpg"], ".svg or .png"),
        (vec!["run", "--record", "/nonexistent/r.json", "--", "true"], "/nonexistent/r.json"),
        (vec!["run", "--record", "r.json", "--record-interval", "0", "--", "true"], "at least 1ms"),
    ] {
        let o = rein(&tree, &args);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(needle), "{args:?}: {}", err(&o));
    }
    assert!(!std::path::Path::new("r.json").exists(), "a refused run leaves no recording");
    let v1 = FakeTree::new(Layout::V1);
    v1.group("g");
    let o = rein(&v1, &["events", "--pressure", "memory:some:150ms/2s", "g"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("not supported on cgroup v1"), "{}", err(&o));
    assert_eq!(rein(&tree, &["stat"]).status.code(), Some(2), "NAME is required");
}

#[test]
fn plot_draws_a_recorded_run_and_refuses_broken_ones() {
    let tree = FakeTree::new(Layout::V2);
    let dir = tempfile::tempdir().unwrap();
    // A recording made by 'rein run --record --memory 64M' on the hybrid development host.
    let rec = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/record-hybrid.json");
    for name in ["r.svg", "r.png"] {
        let pic = dir.path().join(name);
        let o = rein(&tree, &["plot", rec, "-o", &pic.display().to_string()]);
        assert!(o.status.success(), "{}", err(&o));
        assert!(err(&o).contains("1 OOM kills"), "{}", err(&o));
        let bytes = std::fs::read(&pic).unwrap();
        if name.ends_with("png") {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        } else {
            let svg = String::from_utf8(bytes).unwrap();
            assert!(svg.contains("id=\"memory-max\"") && svg.contains("id=\"oom-kill\""), "{svg}");
        }
    }
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"type\":\"header\",\"version\":1,\"group\":\"g\"}\nnot json\n").unwrap();
    let o =
        rein(&tree, &["plot", &broken.display().to_string(), "-o", &dir.path().join("b.svg").display().to_string()]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("line 2: not JSON"), "{}", err(&o));
    assert!(!dir.path().join("b.svg").exists());
}

/// `rein completions` and `rein man`: generated from the command line's own definitions,
/// and bad input refused with the value named.
#[test]
fn completions_and_man_pages() {
    let tree = FakeTree::new(Layout::V2);
    let o = rein(&tree, &["completions", "bash"]);
    assert!(o.status.success(), "{}", err(&o));
    let bash = out(&o);
    assert!(bash.contains("_rein()") && bash.contains("complete -F _rein") && bash.contains("--exit-code"), "{bash}");
    for (shell, needle) in
        [("zsh", "#compdef rein"), ("fish", "complete -c rein"), ("elvish", "rein"), ("powershell", "rein")]
    {
        let o = rein(&tree, &["completions", shell]);
        assert!(o.status.success() && out(&o).contains(needle), "{shell}: {}", err(&o));
    }
    let o = rein(&tree, &["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("'tcsh'"), "{}", err(&o));

    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("share/man/man1");
    let o = rein(&tree, &["man", man.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    let listed = out(&o).lines().count();
    let mut files: Vec<String> =
        std::fs::read_dir(&man).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files.len(), listed);
    for f in ["rein.1", "rein-run.1", "rein-diff.1", "rein-cgcreate.1", "rein-cgexec.1", "rein-compat-install.1"] {
        assert!(files.iter().any(|x| x == f), "{f} missing: {files:?}");
    }
    assert!(!files.iter().any(|f| f == "cgcreate.1"), "libcgroup's page names stay theirs");
    let run = std::fs::read_to_string(man.join("rein-run.1")).unwrap();
    assert!(run.starts_with(".ie") && run.contains(".TH rein-run 1") && run.contains("\\-\\-memory"), "{run}");

    // A directory that cannot be made: 125, the path named, nothing written.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let o = rein(&tree, &["man", file.join("man1").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("a-file/man1"), "{}", err(&o));
}

/// `rein ARGS` with stdout and stderr as given (in the fake tree); (exit code, stdout, stderr).
fn rein_into(tree: &FakeTree, args: &[&str], stdout: std::process::Stdio, stderr: std::process::Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rein"))
        .env("REIN_CGROUP_ROOT", tree.path())
        .args(args)
        .stdout(stdout)
        .stderr(stderr)
        .output()
        .expect("rein")
}

/// The write end of a pipe whose reader has gone (`| head -c1` once head exited): every
/// write gets EPIPE, whatever the pipe's buffer, so the test cannot pass by luck.
fn closed_pipe() -> std::process::Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer.into()
}

/// A reader that goes away ends rein's printing quietly, on stdout and on stderr: no
/// panic ("failed printing to stdout: Broken pipe", exit 134 in release builds), the
/// command's own status (as ripgrep, not a SIGPIPE death: see src/out.rs), and the
/// command's work done. A stdout that fails otherwise (a full disk) is an error: the
/// output is incomplete.
#[test]
fn a_reader_that_goes_away_ends_rein_quietly_with_the_commands_status() {
    use std::process::Stdio;
    let tree = FakeTree::new(Layout::Hybrid);
    tree.group("g");
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[groups.a]\nmemory = \"64M\"\n[groups.b]\npids = 9\n").unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[groups.a]\nmemory = \"lots\"\ncpu = \"nope\"\n[groups.b]\nmemroy = 1\n").unwrap();
    let (good, bad) = (good.to_str().unwrap(), bad.to_str().unwrap());
    let quiet = |args: &[&str], o: &Output| {
        let e = err(o);
        assert!(!e.contains("panicked") && !e.contains("Broken pipe") && !e.contains("os error 32"), "{args:?}: {e}");
    };
    for (args, code) in [
        (&["show", "--json", "g"][..], 0),
        (&["show", "g"], 0),
        (&["check", "--json"], 0),
        (&["check"], 0),
        (&["ls"], 0),
        (&["diff", good], 0),
        // `git diff --exit-code`: the changes are pending whether anyone reads them or not.
        (&["diff", "--exit-code", good], 1),
        (&["apply", "--dry-run", good], 0),
        (&["create", "--dry-run", "x", "--memory", "64M"], 0),
        (&["run", "--dry-run", "--memory", "64M", "--", "true"], 0),
        (&["snapshot", "g"], 0),
        (&["completions", "bash"], 0),
        (&["--help"], 0),
    ] {
        let o = rein_into(&tree, args, closed_pipe(), Stdio::piped());
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", err(&o));
        quiet(args, &o);
    }
    // The work is done when nobody reads what rein says about it.
    // (The fake tree makes no interface files on mkdir: the groups are there first.)
    tree.group("a");
    tree.group("b");
    let o = rein_into(&tree, &["apply", good], closed_pipe(), Stdio::piped());
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    quiet(&["apply"], &o);
    let file = |f: &str| std::fs::read_to_string(tree.path().join(f)).unwrap().trim().to_string();
    assert_eq!((file("pids/b/pids.max"), file("memory/a/memory.limit_in_bytes")), ("9".into(), "67108864".into()));
    // stderr's reader gone: the error status stays, nothing panics.
    for args in [&["validate", bad][..], &["run", "--memory", "lots", "--", "true"], &["show", "nope"]] {
        let o = rein_into(&tree, args, Stdio::piped(), closed_pipe());
        assert_eq!(o.status.code(), Some(125), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}: {}", out(&o));
    }
    // Both gone at once.
    let o = rein_into(&tree, &["validate", bad], closed_pipe(), closed_pipe());
    assert_eq!(o.status.code(), Some(125));
    // A full disk is no reader going away: the output is incomplete, and rein says so.
    if let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") {
        let o = rein_into(&tree, &["check", "--json"], full.into(), Stdio::piped());
        assert_eq!(o.status.code(), Some(125), "{}", err(&o));
        assert!(err(&o).contains("cannot write the output to stdout: No space left on device"), "{}", err(&o));
    }
}
