//! Group paths: never a panic, and an accepted path can never climb out of its root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rein::GroupPath;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(p) = GroupPath::parse(s) {
        let text = p.as_str();
        assert!(!text.is_empty());
        assert!(!text.starts_with('/'));
        assert!(text.split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
        assert!(!text.contains('\0') && !text.contains('\n'));
        assert_eq!(GroupPath::parse(text).ok().as_ref(), Some(&p));
        let _ = p.lineage();
        if let Ok(j) = p.join(s) {
            assert!(j.starts_with(&p));
        }
    }
});
