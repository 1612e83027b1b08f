//! `rein top` and `rein exporter` against real groups under load: one frame as text, a
//! plain HTTP scrape (host and VM), the live view driven in tmux and a real Prometheus
//! server scraping the exporter (host: the VM has neither tmux nor Prometheus).

// Without the default features (tui, exporter) the tests needing them are left out.
#![cfg_attr(not(all(feature = "tui", feature = "exporter")), allow(dead_code, unused_imports))]

use std::ffi::OsStr;
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rein::launch::{self, Prepared, SigMask};
use rein::{Bytes, Controller, Group, Mode, Resources, Spec};

use crate::support::{ALL, Env, bin, env};

/// Modes of the host tier (real v1 controllers): where tmux and Prometheus are installed.
const HOST: &[Mode] = &[Mode::Hybrid, Mode::Legacy];

const MEM_MIB: u64 = 30;
const LIMIT_MIB: u64 = 64;

/// Two loaded groups under the test's parent: `mem` holds 30 MiB under a 64M limit, `cpu`
/// burns one CPU.
struct Load {
    mem: Group,
    cpu: Group,
    pids: Vec<i32>,
}

fn spawn_in(g: &Group, args: &[&str]) -> i32 {
    let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    let program = bin("rein-testload");
    let cmd = Prepared::new(OsStr::new(&program), &args).expect("prepare");
    let fds = g.attach_fds().expect("attach fds");
    launch::spawn(&cmd, &fds.as_attach(), &SigMask::current()).expect("spawn").pid
}

/// Waits up to `limit` for `what` to hold, polling.
fn wait_for(limit: Duration, mut what: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if what() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    what()
}

impl Load {
    fn start(e: &Env) -> Load {
        // Accounting as `rein run` asks for it: memory and pids directories on v1 too.
        let accounting: std::collections::BTreeSet<Controller> = [Controller::Memory, Controller::Pids].into();
        let spec =
            Spec { resources: Resources::new().memory_max(Bytes::mib(LIMIT_MIB)), accounting: accounting.clone() };
        let mem = Group::create(e.h.clone(), &e.path("mem"), &spec).expect("create mem");
        let spec = Spec { resources: Resources::new(), accounting };
        let cpu = Group::create(e.h.clone(), &e.path("cpu"), &spec).expect("create cpu");
        let pids = vec![spawn_in(&mem, &["alloc", &MEM_MIB.to_string(), "600"]), spawn_in(&cpu, &["spin", "600"])];
        let filled = wait_for(Duration::from_secs(20), || {
            mem.stats().ok().and_then(|s| s.memory).and_then(|m| m.current).is_some_and(|c| c >= (MEM_MIB - 2) << 20)
        });
        assert!(filled, "the allocation never showed: {:?}", mem.stats());
        Load { mem, cpu, pids }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.mem.kill();
        let _ = self.cpu.kill();
        for pid in &self.pids {
            wait_for(Duration::from_secs(5), || launch::try_wait(*pid).map(|r| r.is_some()).unwrap_or(true));
        }
    }
}

/// The CPU time of a group as the kernel counts it (through the library's reader), in s.
fn cpu_seconds(g: &Group) -> f64 {
    let usec = g.stats().expect("stats").cpu.usage_usec.expect("CPU usage of the group");
    usec as f64 / 1e6
}

/// The columns of `rein top --once` for one group's line.
fn top_line<'a>(text: &'a str, group: &str) -> Vec<&'a str> {
    let line = text.lines().find(|l| l.split_whitespace().next() == Some(group));
    line.unwrap_or_else(|| panic!("no line for {group} in:\n{text}")).split_whitespace().collect()
}

/// Where a group's line is (the first word of each line is the group).
fn position(text: &str, group: &str) -> usize {
    let found = text.lines().position(|l| l.split_whitespace().next() == Some(group));
    found.unwrap_or_else(|| panic!("no line for {group} in:\n{text}"))
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn top_once_shows_memory_and_cpu_of_loaded_groups() {
    let Some(e) = env("top_once", ALL) else { return };
    let load = Load::start(&e);
    let k0 = cpu_seconds(&load.cpu);
    let out = e.rein(&["top", "--once", "--all", "-d", "1s", &e.parent]);
    let k1 = cpu_seconds(&load.cpu);
    let (text, err) = crate::support::text(&out);
    assert!(out.status.success(), "{err}");
    let head: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(head[..5], ["GROUP", "CPU%", "MEM", "LIMIT", "MEM%"], "{text}");
    // Sorted by CPU: the burner before the memory holder (their parent, which counts
    // both, may come first).
    let cpu_group = format!("/{}/cpu", e.parent);
    assert!(position(&text, &cpu_group) < position(&text, &format!("/{}/mem", e.parent)), "{text}");
    let cpu = top_line(&text, &cpu_group);
    let pct: f64 = cpu[1].parse().unwrap_or_else(|_| panic!("CPU% of {cpu:?}"));
    // What the burner gets depends on what else runs (a loaded machine gives it little):
    // top's figure over its 1 s window must show it spinning and agree with the kernel's
    // count over the whole call, which holds that window.
    let most = (k1 - k0) * 100.0 / 1.0 + 5.0;
    assert!(
        pct > 0.5 && pct <= most,
        "one spinning process shows {pct}% of a CPU (the kernel counted {:.3}s during the call, so at most {most:.1}%):\n{text}",
        k1 - k0
    );
    let mem = top_line(&text, &format!("/{}/mem", e.parent));
    let used: f64 = mem[2].trim_end_matches('M').parse().unwrap_or_else(|_| panic!("MEM of {mem:?}"));
    assert!((MEM_MIB as f64 - 2.0..MEM_MIB as f64 + 6.0).contains(&used), "{mem:?}");
    assert_eq!(mem[3], "64M", "{mem:?}");
    let share: f64 = mem[4].trim_end_matches('%').parse().unwrap();
    assert!((44.0..58.0).contains(&share), "{mem:?}");
    assert_eq!(mem.last(), Some(&"0"), "no OOM kills: {mem:?}");
}

/// `GET path` over HTTP/1.0: (status code, body).
pub(crate) fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, body.to_string())
}

/// A `rein exporter` on an ephemeral loopback port; killed (by pid) on drop.
pub(crate) struct Exporter {
    child: Child,
    pub(crate) addr: String,
}

impl Exporter {
    pub(crate) fn start(e: &Env) -> Exporter {
        let mut child = Command::new(bin("rein"))
            .args(["exporter", "--listen", "127.0.0.1:0", "--all", "--subtree", &e.parent])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rein exporter");
        let mut line = String::new();
        std::io::BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next());
        let addr = addr.unwrap_or_else(|| panic!("rein exporter did not say where it listens: {line:?}")).to_string();
        Exporter { child, addr }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the sample `name{labels}` in OpenMetrics text.
pub(crate) fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.parse().ok())
}

#[test]
#[cfg(feature = "exporter")]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn exporter_serves_the_loaded_groups_over_http() {
    let Some(e) = env("exporter_http", ALL) else { return };
    let load = Load::start(&e);
    let ex = Exporter::start(&e);
    let mem = format!("{{group=\"/{}/mem\"}}", e.parent);
    let cpu = format!("{{group=\"/{}/cpu\"}}", e.parent);
    let (status, first) = http_get(&ex.addr, "/metrics");
    assert_eq!(status, 200, "{first}");
    assert!(first.ends_with("# EOF\n"), "{first}");
    let used = sample(&first, &format!("rein_memory_current_bytes{mem}")).unwrap_or_else(|| panic!("{first}"));
    assert!(used >= ((MEM_MIB - 2) << 20) as f64 && used <= ((MEM_MIB + 6) << 20) as f64, "{used}");
    assert_eq!(sample(&first, &format!("rein_memory_max_bytes{mem}")), Some((LIMIT_MIB << 20) as f64), "{first}");
    assert_eq!(sample(&first, &format!("rein_memory_oom_kill_total{mem}")), Some(0.0), "{first}");
    assert!(sample(&first, &format!("rein_pids_current{cpu}")).is_some_and(|n| n >= 1.0), "{first}");
    let t0 = sample(&first, &format!("rein_cpu_usage_seconds_total{cpu}")).unwrap_or_else(|| panic!("{first}"));
    let k0 = cpu_seconds(&load.cpu);
    // Until the kernel's counter has moved on (the burner ran), then scrape again.
    assert!(wait_for(Duration::from_secs(30), || cpu_seconds(&load.cpu) > k0 + 0.05), "the burner never ran");
    let (_, second) = http_get(&ex.addr, "/metrics");
    let k1 = cpu_seconds(&load.cpu);
    let t1 = sample(&second, &format!("rein_cpu_usage_seconds_total{cpu}")).unwrap();
    // The exporter's counter is the kernel's: it moved with it and never ahead of it.
    assert!(
        t1 > t0 && t0 <= k0 + 0.001 && t1 >= k0 + 0.05 && t1 <= k1 + 0.001,
        "exporter {t0:.3} -> {t1:.3} s, kernel {k0:.3} -> {k1:.3} s"
    );
    assert_eq!(http_get(&ex.addr, "/healthz"), (200, "ok\n".to_string()));
}

/// A tmux server of the test's own (its own socket), killed on drop with its panes.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "top"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend(keys);
        self.cmd(&args);
    }

    /// Waits until the screen satisfies `what`, or fails showing it.
    fn until(&self, why: &str, what: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let ok = wait_for(Duration::from_secs(15), || {
            last = self.screen();
            what(&last)
        });
        assert!(ok, "{why}; the screen:\n{last}");
        last
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.socket).arg("kill-server").status();
    }
}

/// The group name a line of the live view starts with.
fn first_word(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

#[test]
#[cfg(feature = "tui")]
#[ignore = "real kernel: scripts/test --tier host"]
fn top_live_view_in_tmux() {
    let Some(e) = env("top_tmux", HOST) else { return };
    assert!(
        Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()),
        "tmux is missing: apt-get install tmux (scripts/test --tier host installs it)"
    );
    let load = Load::start(&e);
    let tmux = Tmux { socket: format!("rein-test-{}", std::process::id()) };
    let rein = bin("rein").display().to_string();
    let script = format!("{rein} top --all --interval 300ms {}; echo EXITED $?; sleep 600", e.parent);
    tmux.cmd(&["-f", "/dev/null", "new-session", "-d", "-s", "top", "-x", "160", "-y", "30", "sh", "-c", &script]);
    let mem = format!("/{}/mem", e.parent);
    let cpu = format!("/{}/cpu", e.parent);

    // Both groups, sorted by CPU: the burner before the memory holder, with a real
    // percentage (their parent, which counts both, may lead).
    let before = |s: &str, a: &str, b: &str| {
        let at = |g: &str| s.lines().position(|l| first_word(l) == g);
        matches!((at(a), at(b)), (Some(x), Some(y)) if x < y)
    };
    let screen = tmux.until("the burner should come before the memory holder, with CPU% over 30", |s| {
        let busy = s.lines().find(|l| first_word(l) == cpu);
        before(s, &cpu, &mem)
            && busy.and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()).is_some_and(|p| p > 30.0)
    });
    assert!(screen.lines().next().unwrap().contains("rein top"), "{screen}");
    assert!(screen.contains("CPU%▼"), "{screen}");
    let mem_line = screen.lines().find(|l| first_word(l) == mem).unwrap_or_else(|| panic!("{screen}"));
    assert!(mem_line.contains("64M") && mem_line.contains('█'), "{mem_line}");

    // Sort by the next column (MEM): the memory holder first; reversed, last.
    tmux.keys(&[">"]);
    tmux.until("'>' should sort by MEM", |s| s.contains("MEM▼") && before(s, &mem, &cpu));
    tmux.keys(&["r"]);
    tmux.until("'r' should reverse the order", |s| s.contains("MEM▲") && before(s, &cpu, &mem));

    // Tree view: the parent, then its children by their own names.
    tmux.keys(&["t"]);
    tmux.until("'t' should nest the groups under the parent", |s| {
        s.lines().nth(2).is_some_and(|l| first_word(l) == format!("/{}", e.parent))
            && s.lines().any(|l| l.starts_with("  cpu ") || l.starts_with("  mem "))
    });
    tmux.keys(&["t"]);

    // Filter down to the burner; it is then the selected line.
    tmux.keys(&["/", "c", "p", "u", "Enter"]);
    tmux.until("the filter should leave only the burner", |s| {
        s.contains("filter 'cpu'") && s.lines().skip(2).filter(|l| first_word(l).starts_with('/')).count() == 1
    });

    // Freeze it (after saying yes), see it frozen in the kernel and on screen; thaw it.
    tmux.keys(&["f"]);
    tmux.until("'f' should ask first", |s| s.contains(&format!("Freeze every process in {cpu}")));
    tmux.keys(&["y"]);
    tmux.until("the group should show as frozen", |s| s.contains("[frozen]"));
    assert_eq!(load.cpu.stats().unwrap().frozen, Some(true));
    tmux.keys(&["f"]);
    tmux.until("'f' on a frozen group should offer to thaw", |s| s.contains(&format!("Thaw {cpu}")));
    tmux.keys(&["y"]);
    tmux.until("the group should thaw", |s| s.contains(&format!("thawed {cpu}")) && !s.contains("[frozen]"));
    assert_eq!(load.cpu.stats().unwrap().frozen, Some(false));

    // Kill: 'n' cancels, 'y' kills.
    tmux.keys(&["k"]);
    tmux.until("'k' should ask first", |s| s.contains(&format!("Kill every process in {cpu}")));
    tmux.keys(&["n"]);
    tmux.until("'n' should cancel", |s| s.contains("cancelled"));
    assert!(!load.cpu.procs().unwrap().is_empty(), "cancelled, yet the burner is gone");
    tmux.keys(&["k"]);
    tmux.until("'k' should ask again", |s| s.contains("Kill every process"));
    tmux.keys(&["y"]);
    tmux.until("the kill should be reported", |s| s.contains(&format!("killed every process in {cpu}")));
    assert!(load.cpu.procs().unwrap().is_empty(), "the burner survived the kill");

    // q leaves, with the terminal restored (no alternate screen) and status 0.
    tmux.keys(&["q"]);
    tmux.until("q should quit with status 0", |s| s.contains("EXITED 0"));
    assert_eq!(tmux.cmd(&["display-message", "-p", "-t", "top", "#{alternate_on}"]).trim(), "0");
}

/// Percent-encodes a query parameter.
fn encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// A Prometheus server on loopback with its own config and storage; stopped on drop.
struct Prometheus {
    child: Child,
    pub(crate) addr: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let given = std::env::var("REIN_TEST_PROMETHEUS").ok();
        let candidates = given.iter().map(String::as_str).chain(["/usr/bin/prometheus", "/usr/local/bin/prometheus"]);
        let exe = candidates.into_iter().find(|p| Path::new(p).is_file()).expect(
            "no prometheus binary: set REIN_TEST_PROMETHEUS, or install Debian's prometheus \
             (scripts/test --tier host fetches it)",
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: rein\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        // A free loopback port (released just before Prometheus binds it).
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
        let log = dir.path().join("prometheus.log");
        let child = Command::new(exe)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start prometheus");
        let p = Prometheus { child, addr, log, _dir: dir };
        let ready = wait_for(Duration::from_secs(60), || {
            std::net::TcpStream::connect(&p.addr).is_ok() && http_get(&p.addr, "/-/ready").0 == 200
        });
        assert!(ready, "prometheus did not get ready:\n{}", p.log());
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Values of an instant query's vector result.
    fn query(&self, q: &str) -> Vec<f64> {
        let (status, body) = http_get(&self.addr, &format!("/api/v1/query?query={}", encode(q)));
        assert_eq!(status, 200, "{q}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON from /api/v1/query");
        assert_eq!(v["status"], "success", "{v}");
        v["data"]["result"]
            .as_array()
            .map(|r| r.iter().filter_map(|s| s["value"][1].as_str()?.parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Waits (bounded) until `q` returns one value that `ok` accepts.
    fn until(&self, q: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let mut last = Vec::new();
        let found = wait_for(Duration::from_secs(60), || {
            last = self.query(q);
            last.len() == 1 && ok(last[0])
        });
        assert!(found, "{q} gave {last:?}; prometheus log:\n{}", self.log());
        last[0]
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SIGTERM (a clean shutdown), then SIGKILL if it lingers.
        let _ = launch::kill(self.child.id() as i32, libc::SIGTERM);
        if !wait_for(Duration::from_secs(10), || self.child.try_wait().is_ok_and(|s| s.is_some())) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[test]
#[cfg(feature = "exporter")]
#[ignore = "real kernel: scripts/test --tier host"]
fn prometheus_scrapes_the_exporter() {
    let Some(e) = env("prometheus", HOST) else { return };
    let _load = Load::start(&e);
    let ex = Exporter::start(&e);
    let prom = Prometheus::start(&ex.addr);
    let mem = format!("{{group=\"/{}/mem\"}}", e.parent);
    let cpu = format!("{{group=\"/{}/cpu\"}}", e.parent);
    prom.until("up{job=\"rein\"}", |v| v == 1.0);
    let used = prom.until(&format!("rein_memory_current_bytes{mem}"), |v| v > 0.0);
    assert!(used >= ((MEM_MIB - 2) << 20) as f64 && used <= ((MEM_MIB + 6) << 20) as f64, "{used}");
    prom.until(&format!("rein_memory_max_bytes{mem}"), |v| v == (LIMIT_MIB << 20) as f64);
    // The burner: about one CPU, as Prometheus computes it from the counter.
    let rate = prom.until(&format!("rate(rein_cpu_usage_seconds_total{cpu}[5s])"), |v| v > 0.3);
    assert!(rate < 1.2, "a single burner used {rate} CPUs");
}
