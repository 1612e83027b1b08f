//! systemd's `-p Name=Value` properties with systemd's units and rounding: never a
//! panic, and what is accepted is a valid model. Devices are resolved from MAJ:MIN only
//! (no filesystem access while fuzzing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rein::compat::systemd::{self, HostFacts};
use rein::{DeviceNumber, Error};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = systemd::parse_permyriad(s);
    for base in [1000, 1024] {
        let _ = systemd::systemd_size(s, base);
    }
    let _ = systemd::parse_timespan_usec(s);
    let props: Vec<(String, String)> = s.lines().filter_map(|l| systemd::parse_property(l).ok()).collect();
    let facts = || HostFacts { physical_memory: 24 << 30, page_size: 4096, tasks_max: 4_194_303, online_cpus: 2 };
    let resolve = |d: &str| DeviceNumber::parse(d).map_err(|e| Error::invalid("device", d, e));
    if let Ok(r) = systemd::to_resources(&props, &facts, &resolve) {
        r.validate().expect("accepted properties make a valid model");
    }
});
