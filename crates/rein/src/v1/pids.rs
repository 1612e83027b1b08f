//! v1 pids: the task limit, count, peak and refused forks (the same files as v2).

use crate::cgroupfs::{FileSource, format};
use crate::error::Result;
use crate::plan::Write;
use crate::resources::Resources;
use crate::stats::{Field, PidsStats, Stats};

/// pids: limit.
pub const PIDS_MAX: &str = "pids.max";
/// pids: tasks now.
pub const PIDS_CURRENT: &str = "pids.current";
/// pids: peak tasks.
pub const PIDS_PEAK: &str = "pids.peak";
/// pids: `max` counts refused forks.
pub const PIDS_EVENTS: &str = "pids.events";
/// The limit files `rein show` lists.
pub(super) const LIMIT_FILES: &[&str] = &[PIDS_MAX];
/// Which file feeds which field of [`Stats`].
pub(super) const STAT_FILES: &[(Field, &[&str])] = &[
    (Field::PidsCurrent, &[PIDS_CURRENT]),
    (Field::PidsPeak, &[PIDS_PEAK]),
    (Field::PidsMax, &[PIDS_MAX]),
    (Field::PidsMaxEvents, &[PIDS_EVENTS]),
];

pub(super) fn writes(r: &Resources, w: &mut Vec<Write>) {
    if let Some(max) = r.pids.max {
        w.push(Write::new(PIDS_MAX, max.to_string()));
    }
}

pub(super) fn read(dir: &(impl FileSource + ?Sized), s: &mut Stats) -> Result<()> {
    let num =
        |file: &str| -> Result<Option<u64>> { dir.read_opt(file)?.map(|t| format::single_u64(file, &t)).transpose() };
    let mut p = PidsStats { current: num(PIDS_CURRENT)?, peak: num(PIDS_PEAK)?, ..PidsStats::default() };
    if let Some(t) = dir.read_opt(PIDS_MAX)? {
        p.max = Some(format::limit_u64(PIDS_MAX, &t)?);
    }
    if let Some(t) = dir.read_opt(PIDS_EVENTS)? {
        p.max_events = format::flat_keyed(PIDS_EVENTS, &t)?.get("max").copied();
    }
    s.pids = Some(p);
    Ok(())
}

pub(super) fn read_back(get: &dyn Fn(&str) -> Option<String>, r: &mut Resources) -> Result<()> {
    if let Some(t) = get(PIDS_MAX) {
        r.pids.max = Some(format::limit_u64(PIDS_MAX, &t)?);
    }
    Ok(())
}
