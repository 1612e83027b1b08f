//! The count of policy actions taken on a group ([`crate::policy`]), kept on the group's
//! own directory: the `user.rein.actions` extended attribute, `freeze=2 thaw=2 notify=5`.
//! Like rein's mark ([`crate::mark`]) it lives and dies with the group, and any reader
//! (`rein events`, the exporter, `rein stat`) sees what an enforcer in another process did
//! without talking to it. The directory is the cgroup2 one where the group has it (a
//! change there is an inotify `IN_ATTRIB` event), else the group's first.

use std::collections::BTreeMap;

use crate::cgroupfs::{GroupPath, Mount};
use crate::error::Result;

/// The extended attribute.
pub const XATTR: &str = "user.rein.actions";

/// The actions an enforcer counts, by name.
pub const ACTIONS: [&str; 7] = ["term", "kill", "freeze", "thaw", "throttle", "restore", "notify"];

/// Parses `freeze=2 thaw=2`; words that do not parse are skipped (a newer rein may add some).
pub fn parse(text: &str) -> BTreeMap<String, u64> {
    text.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

fn format(counts: &BTreeMap<String, u64>) -> String {
    counts.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// The actions counted on the group at `g` of mount `m` (empty when none).
pub fn read(m: &Mount, g: &GroupPath) -> BTreeMap<String, u64> {
    m.get_xattr(g, XATTR).ok().flatten().map(|t| parse(&t)).unwrap_or_default()
}

/// The actions counted on a group whose directory `dir` the caller holds open (a
/// [`crate::tree::Tree`]); like [`read`], empty when none or unreadable.
pub(crate) fn read_at(dir: std::os::fd::BorrowedFd<'_>) -> BTreeMap<String, u64> {
    let mut buf = [0u8; 1024];
    match rustix::fs::fgetxattr(dir, XATTR, &mut buf[..]) {
        Ok(n) => parse(&String::from_utf8_lossy(&buf[..n])),
        Err(_) => BTreeMap::new(),
    }
}

/// Counts one more `action` on the group at `g` of mount `m`.
pub(crate) fn bump(m: &Mount, g: &GroupPath, action: &str) -> Result<()> {
    let mut counts = m.get_xattr(g, XATTR)?.map(|t| parse(&t)).unwrap_or_default();
    *counts.entry(action.to_string()).or_default() += 1;
    m.set_xattr(g, XATTR, &format(&counts))
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_read_back_as_written() {
        let c = super::parse("freeze=2 thaw=1 junk x=y notify=10");
        assert_eq!(c.len(), 3);
        assert_eq!(super::format(&c), "freeze=2 notify=10 thaw=1");
        assert_eq!(super::parse(&super::format(&c)), c);
    }
}
