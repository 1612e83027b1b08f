//! The kernel file-format parsers, the mountinfo, /proc/PID/cgroup, /proc/PID/stat and
//! /proc/locks parsers, the ownership mark, v1's devices.list and /proc/devices, a
//! device program read back from the kernel, and a sock_diag reply: never a panic on any
//! input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rein::bpf::{device_program, insn::Insn};
use rein::cgroupfs::format;

fuzz_target!(|data: &[u8]| {
    // Any datagram as a NETLINK_SOCK_DIAG reply (seeds: testdata/sockdiag's dumps).
    let mut sockets = Vec::new();
    let _ = rein::sockdiag::parse(data, &mut sockets);
    // Any instructions the kernel hands back as rein's device program: decoded or refused.
    let insns: Vec<Insn> = data.chunks_exact(8).map(|c| Insn::from_bytes(c.try_into().unwrap())).collect();
    if let Some(state) = device_program::decode(&insns) {
        assert_eq!(device_program::decode(&device_program::program(&state)), Some(state));
    }
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(access) = rein::devices::DeviceAccess::from_v1_list(s) {
        let state = access.effective(&[]);
        let again = rein::devices::DeviceAccess::from_v1_list(&state.v1_list()).unwrap();
        assert_eq!(again.effective(&[]), state);
    }
    let _ = rein::devices::pts_majors_in(s);
    let _ = rein::devices::majors_named(s, true, "sd*");
    if let Ok(rule) = rein::devices::DeviceRule::parse(s, true) {
        assert_eq!(rein::devices::DeviceRule::parse(&rule.to_string(), true), Ok(rule));
    }
    let _ = format::single_u64("f", s);
    let _ = format::limit_u64("f", s);
    let _ = format::v1_memory_limit("f", s);
    let _ = format::v1_signed_limit("f", s);
    let _ = format::flat_keyed("f", s);
    let _ = format::nested_keyed("f", s);
    let _ = format::device_values("f", s);
    let _ = format::v1_blkio_stat("f", s);
    let _ = format::cpu_max("f", s);
    let _ = format::pressure("f", s);
    let _ = format::pids("f", s);
    let _ = rein::hierarchy::parse_mountinfo(s);
    let _ = rein::lifecycle::parse_proc_cgroup(s);
    let _ = rein::procfs::parse_stat_start_time(s);
    let _ = rein::lock::flock_holders(s, 0, 0x20, 802562);
    if let Ok(m) = rein::mark::Mark::parse(s) {
        assert_eq!(rein::mark::Mark::parse(&m.value()).ok(), Some(m));
    }
});
