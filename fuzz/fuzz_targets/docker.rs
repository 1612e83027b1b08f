//! `docker run`'s resource flags with Docker's semantics: never a panic, and accepted
//! values stay in the kernel's ranges.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rein::compat::docker::{self, DeviceRate};
use rein::{Bytes, Limit};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = docker::ram_in_bytes("memory", s);
    for memory in [None, Some(Limit::Max), Some(Limit::Value(Bytes(0))), Some(Limit::Value(Bytes(64 << 20)))] {
        if let Ok(Some(Limit::Value(swap))) = docker::memory_swap(s, memory) {
            // The swap part is what is left of the total above the memory limit.
            let total = docker::ram_in_bytes("memory-swap", s).expect("accepted total");
            let Some(Limit::Value(m)) = memory else { panic!("a swap value needs a memory value") };
            assert_eq!(swap.0 + m.0, total);
        }
    }
    let _ = docker::pids_limit(s);
    if let Ok(Some(Limit::Value(q))) = docker::cpu_quota(s) {
        assert!(q >= 1000, "{q}");
    }
    if let Ok(Some(w)) = docker::blkio_weight(s) {
        assert!((1..=10_000).contains(&w.get()), "{w}");
    }
    for kind in [DeviceRate::ReadBps, DeviceRate::WriteBps, DeviceRate::ReadIops, DeviceRate::WriteIops] {
        if let Ok((path, _)) = docker::device_rate(kind, s) {
            assert!(path.starts_with("/dev/"));
        }
    }
});
