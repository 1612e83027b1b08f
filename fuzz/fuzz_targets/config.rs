//! rein.toml (`rein apply`, `validate`, `diff`, `down`): never a panic; a file that loads
//! declares valid models and group paths that stay beneath its parent; a file that does
//! not load has every mistake located inside the text. Devices are resolved from
//! MAJ:MIN only (no filesystem access while fuzzing).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rein::compat::systemd::HostFacts;
use rein::config::load;
use rein::config::resolve::Context;
use rein::{DeviceNumber, Error};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let facts = || HostFacts { physical_memory: 24 << 30, page_size: 4096, tasks_max: 4_194_303, online_cpus: 2 };
    let device = |d: &str| DeviceNumber::parse(d).map_err(|e| Error::invalid("device", d, e));
    let ctx = Context { facts: &facts, device: &device };
    match load::parse(text, Path::new("fuzz.toml"), "fuzz", &ctx) {
        Ok(loaded) => {
            for g in &loaded.resolved.groups {
                g.resources.validate().expect("a loaded group has a valid model");
                assert!(g.path.as_str().split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
                for (name, value) in &g.raw {
                    assert!(!name.contains('/'), "{name}");
                    let _ = value;
                }
            }
        }
        Err(Error::Config(d)) => {
            let lines = text.lines().count().max(1);
            for e in &d.errors {
                assert!(e.line >= 1 && e.line <= lines + 1, "line {} of {lines}", e.line);
                assert!(e.column >= 1);
            }
            let _ = d.to_string();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
