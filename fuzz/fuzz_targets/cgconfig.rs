//! libcgroup's cgconfig.conf, as cgconfigparser reads it (rein::compat::cgconfig). Never
//! a panic; an error names a line of the text; what parses names lines of the text,
//! non-empty groups, controllers and settings, and modes up to 07777.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rein::compat::cgconfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lines = text.matches('\n').count() + 1;
    match cgconfig::parse(text) {
        Err(e) => {
            assert!((1..=lines).contains(&e.line), "line {} of {lines}: {e}", e.line);
            assert!(!e.message.is_empty());
        }
        Ok(c) => {
            for g in c.groups.iter().chain(&c.templates) {
                assert!(!g.name.is_empty() || text.contains("\"\""), "an empty group name: {text:?}");
                assert!((1..=lines).contains(&g.line));
                for p in [g.perm.task_fperm, g.perm.admin_dperm, g.perm.admin_fperm].into_iter().flatten() {
                    assert!(p <= 0o7777, "mode {p:o}");
                }
                for ctl in &g.controllers {
                    assert!((1..=lines).contains(&ctl.line));
                    for s in &ctl.settings {
                        assert!((1..=lines).contains(&s.line));
                    }
                }
            }
            for m in &c.mounts {
                assert!((1..=lines).contains(&m.line));
            }
        }
    }
});
