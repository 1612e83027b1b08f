//! rein's and Docker's limit flags (`rein::flags`, shared by the CLI and rein.toml):
//! never a panic, and what is accepted is a valid model. Each input line is the value of
//! one flag, in the order of `Key::ALL` (a switch is on for `true`); an empty line leaves
//! its flag out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rein::flags::{self, Flags, Key};
use rein::{DeviceNumber, Error};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let resolve = |d: &str| DeviceNumber::parse(d).map_err(|e| Error::invalid("device", d, e));
    let _ = flags::parse_micros(s);
    for period in [None, Some(50_000), Some(1_000_000)] {
        if let Ok(m) = flags::parse_cpu(s, period) {
            m.validate().expect("an accepted --cpu is a valid cpu.max");
        }
    }
    let _ = flags::parse_io_max(s, &resolve);
    let mut f = Flags::default();
    for (key, line) in Key::ALL.iter().zip(s.lines()) {
        if !line.is_empty() {
            f.set(*key, line);
        }
    }
    let facts = || rein::compat::systemd::HostFacts {
        physical_memory: 24 << 30,
        page_size: 4096,
        tasks_max: 4_194_303,
        online_cpus: 2,
    };
    if let Ok(r) = f.to_resources(&resolve, &facts) {
        r.validate().expect("accepted flags make a valid model");
    }
});
