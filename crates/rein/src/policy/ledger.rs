//! The count of policy actions taken on a group, kept on the group's own directory (the
//! `user.rein.actions` extended attribute, `freeze=2 thaw=2 notify=5`), like rein's mark:
//! it lives and dies with the group, and any reader (`rein events`, the exporter, another
//! `rein supervise`) sees what the enforcer did without talking to it.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::group::Group;

/// The extended attribute.
pub const XATTR: &str = "user.rein.actions";

/// The directory the counts live on: the cgroup2 one where the group has it (it watches
/// for changes there too), else the first.
fn home(group: &Group) -> Option<(&crate::cgroupfs::Mount, &crate::cgroupfs::GroupPath)> {
    let n = group.nodes().iter().find(|n| n.place == crate::plan::Place::V2).or_else(|| group.nodes().first())?;
    Some((n.place.mount(group.hierarchy()), group.path()))
}

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

/// The actions taken on `group` so far, by name (empty when none).
pub fn read(group: &Group) -> BTreeMap<String, u64> {
    home(group).and_then(|(m, p)| m.get_xattr(p, XATTR).ok().flatten()).map(|t| parse(&t)).unwrap_or_default()
}

/// Counts one more `action` on `group`.
pub(crate) fn bump(group: &Group, action: &str) -> Result<()> {
    let Some((m, p)) = home(group) else { return Ok(()) };
    let mut counts = m.get_xattr(p, XATTR)?.map(|t| parse(&t)).unwrap_or_default();
    *counts.entry(action.to_string()).or_default() += 1;
    m.set_xattr(p, XATTR, &format(&counts))
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
