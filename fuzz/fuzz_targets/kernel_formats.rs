//! The kernel file-format parsers, the mountinfo, /proc/PID/cgroup, /proc/PID/stat and
//! /proc/locks parsers, and the ownership mark: never a panic on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rein::cgroupfs::format;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
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
