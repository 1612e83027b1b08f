//! Where a file's groups are, and which directories are the file's: the parts of
//! planning that [`super::apply`], [`super::diff`], [`super::down`] and [`super::start`]
//! share.
//!
//! A declared group lives at `--parent` prefix / the file's `parent` / its own path
//! ([`base_of`], [`full`]). The directories an apply creates carry the file's mark
//! (`config id=...`, [`Mark::Config`]); [`marked`] finds them again, for `--prune`'s stale
//! groups and for `rein down`.

use std::collections::BTreeSet;

use super::resolve::{Declared, Resolved};
use crate::cgroupfs::GroupPath;
use crate::error::Result;
use crate::hierarchy::Hierarchy;
use crate::mark::{Mark, XATTR};

/// How to apply (and plan `rein down`, and find the commands of `--start`): where the
/// file's groups go, and what removing groups may do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Put the file's groups (and its `parent`) beneath this group (tests, staging).
    pub prefix: Option<GroupPath>,
    /// Remove the groups this file made that it no longer declares.
    pub prune: bool,
    /// Kill the processes of groups being removed (else a populated group is refused).
    pub kill: bool,
}

/// Where the file's groups live: `prefix/parent`.
pub(super) fn base_of(resolved: &Resolved, opts: &Options) -> Result<GroupPath> {
    match (&opts.prefix, &resolved.parent) {
        (Some(p), Some(q)) => p.join(q.as_str()),
        (Some(p), None) => Ok(p.clone()),
        (None, Some(q)) => Ok(q.clone()),
        (None, None) => Ok(GroupPath::root()),
    }
}

/// A declared group's full path, beneath `base` ([`base_of`]).
pub(super) fn full(base: &GroupPath, d: &Declared) -> Result<GroupPath> {
    if base.is_root() { Ok(d.path.clone()) } else { base.join(d.path.as_str()) }
}

/// Every directory beneath `scope` (in any hierarchy) that carries `mark`.
pub(super) fn marked(h: &Hierarchy, scope: &GroupPath, mark: Mark) -> Result<BTreeSet<GroupPath>> {
    let mut out = BTreeSet::new();
    let want = mark.value();
    for place in h.places() {
        let m = place.mount(h);
        if !m.exists(scope) {
            continue;
        }
        let mut stack = vec![scope.clone()];
        while let Some(g) = stack.pop() {
            match m.children(&g) {
                Ok(c) => stack.extend(c.iter().filter_map(|c| g.join(c).ok())),
                Err(e) if e.errno() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(e),
            }
            if !g.is_root() && m.get_xattr(&g, XATTR).ok().flatten().as_deref() == Some(want.as_str()) {
                out.insert(g);
            }
        }
    }
    Ok(out)
}
