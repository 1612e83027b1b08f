//! rein's real-kernel suite: one source, run on the hybrid host (v1 controllers) and in a
//! pure cgroup v2 VM. See support.rs for how tests declare the modes they support.

mod bpf;
mod config;
#[path = "../corpus/mod.rs"]
mod corpus;
mod counts;
mod enforcement;
mod groups;
mod library;
mod library_api;
mod lifecycle;
mod observability;
mod observe;
mod reliability;
mod supervision;
mod support;
mod systemd;
