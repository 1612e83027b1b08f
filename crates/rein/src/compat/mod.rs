//! The vocabularies people already know, parsed into rein's model.
//!
//! Each module turns one ecosystem's syntax into [`crate::Resources`] (or, for raw
//! libcgroup names of the running mode, into pass-through writes), with that
//! ecosystem's semantics, as pure functions with table tests:
//!
//! - [`libcgroup`]: `-g CONTROLLERS:PATH` group specs, as cgcreate, cgexec, cgclassify,
//!   cgdelete and cgget take them.
//! - [`cgconfig`]: libcgroup's cgconfig.conf (cgconfigparser's file), parsed into a
//!   model; [`crate::config::cgconfig`] creates its groups.
//! - [`raw`]: raw interface-file names (`-r memory.limit_in_bytes=...`), translated
//!   between v1 and v2 in both directions.
//! - [`systemd`]: `-p Name=Value` with systemd.resource-control's names and semantics.
//! - [`docker`]: `docker run`'s resource flags and their semantics.
//!
//! docs/interface-files.md has the full table: every field, its v2 and v1 file, its
//! systemd property and its Docker flag, with each formula and its source.

pub mod cgconfig;
pub mod docker;
pub mod libcgroup;
pub mod raw;
pub mod systemd;
