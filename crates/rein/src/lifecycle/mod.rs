//! Named groups through their life: create, change, move processes in, remove.
//!
//! `rein create`, `set`, `move`, `rm` and the libcgroup compat names (cgcreate, cgset,
//! cgexec, cgclassify, cgdelete) are thin layers over these functions. Every change is a
//! [`Plan`] first: `--dry-run` prints it, and executing it either completes or rolls
//! back, so a refused value leaves neither a stray group nor a partial set of limits.
//! The exceptions are what libcgroup's tools write as given, in order, stopping at the
//! first refusal: cgset's cgroup2 core files ([`control_children`], [`move_thread`]),
//! `cgset --copy-from`'s files outside the model ([`copy_unmodelled`]), and the way back
//! of `cgclassify -r` ([`move_back`]).
//!
//! One part a file, each public item re-exported here (`rein::lifecycle::X`):
//! `change.rs` creates groups and changes their limits (a [`Change`] planned),
//! `files.rs` finds and reads interface files by name ([`place_of`], [`read_file`]),
//! `moves.rs` moves processes in (and back), `remove.rs` removes groups and kills what
//! they hold, and `passthrough.rs` holds the writes libcgroup's tools make as given.
//! The parts import only `files` (where a raw write goes) and `remove` (a group's
//! descendants), both from `change`: no part imports back.
//!
//! [`Plan`]: crate::plan::Plan

mod change;
mod files;
mod moves;
mod passthrough;
mod remove;

pub use change::{Change, create, default_controllers, plan_create, plan_set, set};
pub use files::{controller_files, place_of, read_file};
pub use moves::{
    describe_move, move_back, move_denied_hint, move_pids, parse_proc_cgroup, pids_named, scope_placeholder,
};
pub use passthrough::{CopyFailure, control_children, copy_unmodelled, move_thread};
pub use remove::{Removal, RemoveOptions, delete, kill_all, plan_remove, remove, signal_all};

#[cfg(test)]
mod tests {
    use crate::testing::FakeTree;

    /// The content of `file` of the fake tree, for the parts' tests.
    pub(super) fn read(tree: &FakeTree, file: &str) -> String {
        std::fs::read_to_string(tree.path().join(file)).unwrap()
    }
}
