//! The library's cgroup BPF layer against the real kernel: a device program generated
//! from rules decides real opens, reads back from the kernel as the rules it enforces,
//! replaces itself instead of piling up, and leaves other owners' programs alone. Runs
//! wherever there is a cgroup2 hierarchy (the hybrid host's /sys/fs/cgroup/unified, the
//! v2 VM).

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use rein::bpf::{self, device_program, insn::Insn, sys};
use rein::devices::{DeviceAccess, DevicePolicy, DeviceRule};

use crate::support::{ALL, Env, env};

/// A cgroup2 directory of the test's own, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(e: &Env, name: &str) -> Dir {
        let root = e.h.unified().expect("a cgroup2 hierarchy").mount.path().to_path_buf();
        let parent = root.join(&e.parent);
        std::fs::create_dir_all(&parent).expect("mkdir parent");
        let dir = parent.join(name);
        std::fs::create_dir(&dir).expect("mkdir");
        Dir(dir)
    }
    fn fd(&self) -> std::fs::File {
        std::fs::File::open(&self.0).expect("open the cgroup directory")
    }
    /// Runs `script` with sh after moving the shell into this group; its stdout.
    fn run(&self, script: &str) -> String {
        let procs = self.0.join("cgroup.procs");
        let full = format!("echo $$ > {} || exit 99; {script}", procs.display());
        let o = Command::new("sh").arg("-c").arg(full).output().expect("sh");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn rules(policy: DevicePolicy, allow: &[&str]) -> DeviceAccess {
    DeviceAccess {
        policy: Some(policy),
        rules: allow.iter().map(|r| DeviceRule::parse(r, true).expect("rule")).collect(),
    }
}

fn count(dir: &Path) -> (usize, usize) {
    let f = std::fs::File::open(dir).expect("open");
    let ids = sys::prog_query(f.as_fd(), sys::AttachType::Device).expect("query");
    let ours = bpf::find(f.as_fd(), sys::AttachType::Device, device_program::NAME).expect("find").len();
    (ids.len(), ours)
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn a_device_program_decides_opens_and_reads_back() {
    let Some(e) = env("bpf_devices", ALL) else { return };
    if e.h.unified().is_none() {
        eprintln!("no cgroup2 hierarchy here: device programs need one");
        return;
    }
    let d = Dir::new(&e, "dev");
    let state = rules(DevicePolicy::Strict, &["c 1:3 rw"]).effective(&[136]);
    bpf::install(d.fd().as_fd(), sys::AttachType::Device, device_program::NAME, &device_program::program(&state))
        .expect("install");
    // /dev/null (1:3) may be read and written, /dev/zero (1:5) not, and nothing may be made.
    let out = d.run(
        "head -c1 /dev/zero >/dev/null 2>&1; echo zero=$?; echo x >/dev/null; echo null=$?; \
         mknod $(mktemp -u) c 1:3 2>/dev/null; echo mknod=$?",
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["zero=1", "null=0", "mknod=1"], "{out}");
    // The rules in force, read from the program attached in the kernel.
    let found = bpf::find(d.fd().as_fd(), sys::AttachType::Device, device_program::NAME).expect("find");
    assert_eq!(found.len(), 1);
    assert!(!found[0].1.insns.is_empty(), "the kernel hands out the program's instructions to root");
    assert_eq!(device_program::decode(&found[0].1.insns), Some(state));
}

#[test]
#[ignore = "real kernel: scripts/test --tier host|vm"]
fn a_hundred_updates_leave_one_program_and_foreign_ones_alone() {
    let Some(e) = env("bpf_replace", ALL) else { return };
    if e.h.unified().is_none() {
        eprintln!("no cgroup2 hierarchy here: device programs need one");
        return;
    }
    let d = Dir::new(&e, "dev");
    // Another owner's program: allows everything.
    let allow_all = [Insn::mov32_imm(rein::bpf::insn::R0, 1), Insn::exit()];
    let foreign = sys::prog_load(sys::ProgType::CgroupDevice, Some(sys::AttachType::Device), &allow_all, "not_rein")
        .expect("load a foreign program");
    sys::prog_attach(d.fd().as_fd(), foreign.as_fd(), sys::AttachType::Device, None).expect("attach foreign");
    for i in 0..100 {
        let allow = if i % 2 == 0 { vec!["c 1:3 rw"] } else { vec!["c 1:3 rw", "c 1:5 r"] };
        let state = rules(DevicePolicy::Strict, &allow).effective(&[]);
        bpf::install(d.fd().as_fd(), sys::AttachType::Device, device_program::NAME, &device_program::program(&state))
            .unwrap_or_else(|err| panic!("install {i}: {err}"));
    }
    assert_eq!(count(&d.0), (2, 1), "(all programs, rein's) after 100 updates");
    // The last update is the one in force: /dev/zero readable.
    assert_eq!(d.run("head -c1 /dev/zero >/dev/null 2>&1; echo $?"), "0");
    assert!(bpf::remove(d.fd().as_fd(), sys::AttachType::Device, device_program::NAME).expect("remove"));
    assert_eq!(count(&d.0), (1, 0), "the foreign program stays");
    sys::prog_detach(d.fd().as_fd(), foreign.as_fd(), sys::AttachType::Device).expect("detach foreign");
    assert_eq!(count(&d.0), (0, 0));
}
