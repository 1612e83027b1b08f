//! rein's real-kernel suite: one source, run on the hybrid host (v1 controllers) and in a
//! pure cgroup v2 VM. See support.rs for how tests declare the modes they support.

// Tests print to libtest's captured output, where std's print macros are right (the
// binary's own printing goes through src/out.rs: crates/rein-cli/clippy.toml).
#![allow(clippy::disallowed_macros)]

mod bpf;
mod config;
#[path = "../corpus/mod.rs"]
mod corpus;
mod counts;
mod devices;
mod enforcement;
mod groups;
mod library;
mod library_api;
mod lifecycle;
mod network;
#[allow(unsafe_code)] // clock_gettime(CLOCK_MONOTONIC), the clock of the kernel log
mod observability;
mod observe;
mod policies;
mod reliability;
mod snapshot;
// Seccomp filters, clone3 with set_tid and raw signals: the supervision tests act as hostile
// hosts and racing processes through libc.
#[allow(unsafe_code)]
mod supervision;
#[allow(unsafe_code)] // seccomp filters a test installs in a child (prctl)
mod support;
mod systemd;
