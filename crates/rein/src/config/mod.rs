//! rein.toml: many groups declared in one file, and the commands over it (`rein
//! validate`, `diff`, `apply`, `down`). The format, every key and the examples are in
//! docs/CONFIG.md.
//!
//! The flow is the library's usual one, with a file at the front:
//!
//! ```text
//! rein.toml -> load (located mistakes) -> model::Config -> resolve -> Declared groups (Resources)
//!           -> apply::plan (Group::plan per group, one Plan, removals, diff::Diff) -> apply::apply
//!           -> start::start (--start)
//! rein down: ... resolve -> down::plan_down (the groups with the file's mark) -> down::down
//! ```
//!
//! - [`model`]: the file as written ([`model::Config`]), a serde model programs can build
//!   or (de)serialize.
//! - [`load`]: reads a file and reports every mistake with its line and column.
//! - [`resolve`]: checks every value, translates every vocabulary (rein's and Docker's
//!   flags through [`crate::flags`], systemd properties, interface-file names) and merges
//!   defaults and templates: one [`crate::Resources`] per group.
//! - [`apply`]: plans against the host (one plan for the whole file) and applies it all
//!   or nothing, then removes what the file no longer declares (`--prune`).
//! - [`diff`]: what an apply would do, per group and per interface file ([`diff::Diff`]).
//! - [`down`]: removing the file's groups (its own, by their mark only): `rein down`,
//!   and the removals of `--prune`.
//! - [`snapshot`]: the live groups written as a file `rein apply` reproduces (`rein snapshot`).
//! - [`cgconfig`]: libcgroup's cgconfig.conf loaded the way cgconfigparser does, all or
//!   nothing per file.
//! - [`cgsnapshot`]: the other way: the live hierarchies read as cgsnapshot reads them.
//! - [`start`]: starting each group's command after an apply (`--start`).
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use rein::config::{apply, model::{Config, GroupConfig, Key, Settings}, resolve::Context};
//! use rein::Hierarchy;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = Config::default();
//! config.name = Some("dev".into());
//! config.parent = Some("dev".into());
//! let mut db = GroupConfig::default();
//! db.settings = Settings::default().with(Key::Memory, "2G").with(Key::Cpu, "40%");
//! config.groups.insert("database".into(), db);
//!
//! let resolved = config.resolve(&Context::host()).map_err(|p| format!("{p:?}"))?;
//! let h = Arc::new(Hierarchy::detect()?);
//! // Planned under the change locks of the groups it changes, held until `changes` goes.
//! let changes = apply::plan_locked(&h, &resolved, "dev", &apply::Options::default()).map_err(|r| r.error)?;
//! print!("{}", changes.diff);
//! apply::apply(&h, &changes)?;
//! # Ok(()) }
//! ```

pub mod apply;
pub mod cgconfig;
pub mod cgsnapshot;
pub mod diff;
pub mod down;
pub mod load;
pub mod model;
pub mod resolve;
mod scope;
pub mod snapshot;
pub mod start;
