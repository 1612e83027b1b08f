//! Network control against the real kernel: rates, marks and counters of rein's cgroup
//! skb programs, measured on traffic between processes in a network namespace the test
//! makes (`rein-testload netns`: its own loopback, MTU 1500), so nothing leaves the
//! machine. The receiver counts what arrived; rates are its bytes over the time from
//! the first byte to the last.

use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use rein::bpf::net_program::{self, NetConfig};
use rein::Mode;

use crate::support::{ALL, Env, bin, env, text};

/// A network namespace held by a `rein-testload netns` process; gone when it ends.
pub struct Netns {
    child: Child,
    pid: u32,
}

impl Netns {
    pub fn new() -> Netns {
        let mut child = Command::new(bin("rein-testload"))
            .arg("netns")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("rein-testload netns");
        let line = first_line(child.stdout.as_mut().expect("stdout"));
        let pid = line.strip_prefix("ready ").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("netns: {line}"));
        Netns { child, pid }
    }

    pub fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.pid)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn first_line(out: &mut ChildStdout) -> String {
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).expect("read a line");
    line.trim().to_string()
}

/// A receiver that printed `ready`.
pub struct Receiver(Child);

impl Receiver {
    /// Starts `cmd` (a `rein-testload recv ...` command line, perhaps under rein run) and
    /// waits for its `ready`.
    pub fn start(mut cmd: Command) -> Receiver {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("receiver");
        let line = first_line(child.stdout.as_mut().expect("stdout"));
        assert_eq!(line, "ready", "the receiver did not start: {line}");
        Receiver(child)
    }

    /// Bytes received and the rate in bit/s.
    pub fn finish(self) -> (u64, f64) {
        let o = self.0.wait_with_output().expect("receiver");
        let (out, err) = text(&o);
        let last = out.lines().last().unwrap_or_default().to_string();
        let mut it = last.split_whitespace();
        let (Some(b), Some(s)) = (it.next(), it.next()) else { panic!("receiver said {out:?}, {err}") };
        let bytes: u64 = b.parse().expect("bytes");
        let secs: f64 = s.parse().expect("seconds");
        (bytes, bytes as f64 * 8.0 / secs.max(1e-3))
    }
}

pub fn testload() -> PathBuf {
    bin("rein-testload")
}

pub fn recv_cmd(proto: &str, ns: &Netns, port: u16) -> Command {
    let mut c = Command::new(testload());
    c.args(["recv", proto, &ns.path(), &port.to_string()]);
    c
}

pub fn send_args(proto: &str, ns: &Netns, port: u16, secs: f64) -> Vec<String> {
    vec![testload().display().to_string(), "send".into(), proto.into(), ns.path(), port.to_string(), secs.to_string()]
}

/// A cgroup2 directory of the test's own with a shell helper, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(e: &Env, name: &str) -> Dir {
        let root = e.h.unified().expect("a cgroup2 hierarchy").mount.path().to_path_buf();
        let dir = root.join(&e.parent).join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        Dir(dir)
    }
    fn fd(&self) -> std::fs::File {
        std::fs::File::open(&self.0).expect("open the cgroup directory")
    }
    /// Runs argv inside this group (a shell moves itself in, then execs).
    fn run(&self, argv: &[String]) -> Output {
        let procs = self.0.join("cgroup.procs");
        let script = format!("echo $$ > {} || exit 99; exec \"$@\"", procs.display());
        Command::new("sh").arg("-c").arg(script).arg("sh").args(argv).output().expect("sh")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
        if let Some(p) = self.0.parent() {
            let _ = std::fs::remove_dir(p);
        }
    }
}

fn port(offset: u16) -> u16 {
    20000 + (std::process::id() % 20000) as u16 + offset
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn library_programs_police_egress_and_count() {
    let Some(e) = env("net_lib", ALL) else { return };
    if e.h.unified().is_none() {
        eprintln!("no cgroup2 hierarchy: network programs need one");
        return;
    }
    let d = Dir::new(&e, "g");
    let ns = Netns::new();
    let config = NetConfig { egress_bps: Some(10_000_000), ..NetConfig::default() };
    net_program::apply(d.fd().as_fd(), &config).expect("apply");
    for proto in ["tcp", "udp"] {
        let r = Receiver::start(recv_cmd(proto, &ns, port(1)));
        let o = d.run(&send_args(proto, &ns, port(1), 3.0));
        assert!(o.status.success(), "{}", text(&o).1);
        let (bytes, rate) = r.finish();
        eprintln!("{proto}: {bytes} bytes at {:.2} Mbit/s", rate / 1e6);
        let (c, counters) = net_program::read(d.fd().as_fd()).expect("read").expect("attached");
        assert_eq!(c, config);
        eprintln!("{counters:?}");
        assert!((0.9e7..=1.1e7).contains(&rate), "{proto}: {rate} bit/s, want 10 Mbit/s +-10%");
    }
    let _ = Mode::Unified;
}
