//! v1 freezer: `freezer.state`, THAWED, FREEZING or FROZEN.

use crate::cgroupfs::FileSource;
use crate::error::Result;
use crate::plan::Write;
use crate::resources::Resources;
use crate::stats::{Field, Stats};

/// freezer: `THAWED`, `FREEZING` or `FROZEN`.
pub const FREEZER_STATE: &str = "freezer.state";
/// The limit files `rein show` lists.
pub(super) const LIMIT_FILES: &[&str] = &[FREEZER_STATE];
/// Which file feeds which field of [`Stats`].
pub(super) const STAT_FILES: &[(Field, &[&str])] = &[(Field::Frozen, &[FREEZER_STATE])];

/// The write that freezes or thaws.
pub fn freeze_write(frozen: bool) -> Write {
    Write::new(FREEZER_STATE, if frozen { "FROZEN" } else { "THAWED" })
}

pub(super) fn read(dir: &(impl FileSource + ?Sized), s: &mut Stats) -> Result<()> {
    if let Some(t) = dir.read_opt(FREEZER_STATE)? {
        s.frozen = Some(t.trim() == "FROZEN");
    }
    Ok(())
}

pub(super) fn read_back(get: &dyn Fn(&str) -> Option<String>, r: &mut Resources) {
    if let Some(t) = get(FREEZER_STATE) {
        r.freeze = Some(t.trim() != "THAWED");
    }
}
