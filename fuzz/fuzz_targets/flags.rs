//! rein's and Docker's limit flags (`rein::flags`, shared by the CLI and rein.toml):
//! never a panic, and what is accepted is a valid model. Each input line is the value of
//! one flag, in the order of the fields of `Flags`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rein::flags::{self, Flags};
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
    let mut lines = s.lines().map(|l| Some(l.to_string()));
    let mut next = || lines.next().flatten();
    let mut f = Flags::default();
    f.memory = next();
    f.memory_high = next();
    f.memory_low = next();
    f.memory_min = next();
    f.swap = next();
    f.cpu = next();
    f.cpu_period = next();
    f.cpu_weight = next();
    f.cpu_shares = next();
    f.cpus = next();
    f.cpuset = next();
    f.mems = next();
    f.io_weight = next();
    f.io_max = next().into_iter().collect();
    f.pids = next();
    f.memory_swap = next();
    f.memory_reservation = next();
    f.cpu_quota = next();
    f.pids_limit = next();
    f.blkio_weight = next();
    f.device_write_bps = next().into_iter().collect();
    f.device_read_iops = next().into_iter().collect();
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
