//! libcgroup's syntax: `-g CONTROLLERS:PATH` specs and `-r NAME=VALUE` settings,
//! translated for a v2, a hybrid and a v1 host. Never a panic; an accepted spec names a
//! path that cannot leave the root; an accepted translation is a valid model, and what
//! it writes as given is a plain file name and a value without control characters.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use rein::Controller;
use rein::compat::raw::{self, Host};
use rein::compat::libcgroup;

fn hosts() -> [Host; 3] {
    let limits: BTreeSet<Controller> =
        [Controller::Cpu, Controller::Cpuset, Controller::Memory, Controller::Io, Controller::Pids].into();
    let mut v1 = limits.clone();
    v1.extend([Controller::Cpuacct, Controller::Freezer, Controller::Devices]);
    [
        Host { v2: limits, unified: true, page_size: 4096, ..Host::default() },
        Host { v1: v1.clone(), v2: [Controller::Hugetlb].into(), unified: true, page_size: 4096 },
        Host { v1, page_size: 4096, ..Host::default() },
    ]
}

/// The present values a group might have, so translations that complete a pair
/// (quota without period, memsw without memory) take both paths.
fn present(file: &str) -> Option<String> {
    Some(
        match file {
            "cpu.max" => "50000 100000",
            "cpu.cfs_quota_us" => "-1",
            "cpu.cfs_period_us" => "100000",
            "memory.max" => "1048576",
            "memory.limit_in_bytes" => "9223372036854771712",
            _ => return None,
        }
        .to_string(),
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let hosts = hosts();
    let mut lines = s.lines();
    if let Some(first) = lines.next() {
        if let Ok(spec) = libcgroup::parse_group_spec(first) {
            assert!(spec.path.as_str().split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
            for h in &hosts {
                let _ = libcgroup::resolve(&spec.controllers, h);
            }
        }
    }
    let settings: Vec<(String, String)> = s.lines().filter_map(|l| raw::parse_setting(l).ok()).collect();
    for (name, value) in &settings {
        assert!(!name.contains('/') && !name.starts_with('.'), "{name}");
        assert!(!value.chars().any(char::is_control), "{value:?}");
        let _ = raw::home_of(name);
    }
    for h in &hosts {
        for current in [&present as &dyn Fn(&str) -> Option<String>, &|_: &str| None] {
            if let Ok(t) = raw::translate(&settings, h, current) {
                t.resources.validate().expect("a translation is a valid model");
                for w in &t.raw {
                    assert!(!w.file.contains('/') && !w.value.chars().any(char::is_control), "{w:?}");
                }
            }
        }
    }
});
