//! `rein check`: what this host offers and what rein will do here.

use std::process::ExitCode;

use rein::hierarchy::{Binding, kernel_version, self_cgroup_v2};
use rein::{Controller, Hierarchy, Mode};
use serde::Serialize;

use super::driver::{self, Chosen, DriverOpts};

#[derive(Serialize)]
struct ControllerInfo {
    name: &'static str,
    hierarchy: &'static str,
    mount: String,
}

#[derive(Serialize)]
struct Features {
    clone3: bool,
    clone_into_cgroup: bool,
    cgroup_kill: bool,
    memory_peak: bool,
    psi: bool,
}

#[derive(Serialize)]
struct Report {
    mode: Mode,
    kernel: String,
    cgroup2_mount: Option<String>,
    cgroup2_controllers: Vec<String>,
    controllers: Vec<ControllerInfo>,
    missing: Vec<&'static str>,
    features: Features,
    devices: String,
    /// Whether network control works here, or why not.
    network: String,
    driver: &'static str,
    driver_reason: String,
    root: bool,
    own_cgroup: Option<String>,
    delegated: Option<bool>,
    advice: Vec<String>,
}

/// The controllers rein drives limits through.
const LIMIT_CONTROLLERS: [Controller; 5] =
    [Controller::Cpu, Controller::Memory, Controller::Io, Controller::Pids, Controller::Cpuset];

fn build(h: &Hierarchy, (driver, driver_reason): (&'static str, String)) -> Report {
    let (major, minor) = kernel_version();
    let at_least = |a: u32, b: u32| (major, minor) >= (a, b);
    let mut controllers = Vec::new();
    for c in Controller::ALL {
        if let Some(b) = h.binding(c) {
            let (hierarchy, mount) = match b {
                Binding::V2(m) => ("v2", m.mount.path().display().to_string()),
                Binding::V1(m) => ("v1", m.mount.path().display().to_string()),
            };
            controllers.push(ControllerInfo { name: c.v2_name(), hierarchy, mount });
        }
    }
    let missing: Vec<&'static str> =
        LIMIT_CONTROLLERS.iter().filter(|c| h.binding(**c).is_none()).map(|c| c.v2_name()).collect();
    let clone3 = rein::launch::has_clone3();
    let unified = h.unified();
    let psi = h.has_psi();
    let root = rustix::process::geteuid().is_root();
    let own = self_cgroup_v2();
    let delegated = if root { None } else { h.self_delegated() };
    let mut advice = Vec::new();
    match h.mode() {
        Mode::Hybrid => {
            let on_v1: Vec<&str> = LIMIT_CONTROLLERS
                .iter()
                .filter(|c| matches!(h.binding(**c), Some(Binding::V1(_))))
                .map(|c| c.v2_name())
                .collect();
            advice.push(format!(
                "hybrid host: {} are bound to v1, so memory.high, memory.min, memory.oom.group and io.weight \
                 are unavailable; rein uses the cgroup2 mount for clone3, cgroup.kill, freezing and pressure. \
                 For full cgroup v2, boot with systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all",
                on_v1.join(", ")
            ));
        }
        Mode::Legacy => advice.push(
            "cgroup v1 only: memory.high, memory.min, memory.oom.group, pressure (PSI) and cgroup.kill need cgroup v2; \
             boot with systemd.unified_cgroup_hierarchy=1 for a v2 host"
                .into(),
        ),
        Mode::Unified => {}
    }
    if !missing.is_empty() {
        advice.push(format!("not available at all: {} (not compiled in, or not mounted)", missing.join(", ")));
    }
    if !at_least(5, 7) && unified.is_some() {
        advice.push(
            "kernel older than 5.7: no clone3 CLONE_INTO_CGROUP; rein moves children through cgroup.procs".into(),
        );
    }
    if unified.is_some() && !at_least(5, 14) {
        advice.push("kernel older than 5.14: no cgroup.kill; rein kills leftover processes one by one".into());
    }
    if !root && delegated != Some(true) {
        advice.push(
            "not root and no delegated subtree: run as root, or in a delegated subtree \
             (e.g. systemd-run --user --scope -p Delegate=yes rein ...)"
                .into(),
        );
    }
    Report {
        mode: h.mode(),
        kernel: rustix::system::uname().release().to_string_lossy().into_owned(),
        cgroup2_mount: unified.map(|u| u.mount.path().display().to_string()),
        cgroup2_controllers: unified.map(|u| u.controllers.iter().map(|c| c.to_string()).collect()).unwrap_or_default(),
        controllers,
        missing,
        features: Features {
            clone3,
            clone_into_cgroup: clone3 && unified.is_some() && at_least(5, 7),
            cgroup_kill: unified.is_some() && at_least(5, 14),
            memory_peak: matches!(h.binding(Controller::Memory), Some(Binding::V1(_)))
                || (matches!(h.binding(Controller::Memory), Some(Binding::V2(_))) && at_least(5, 19)),
            psi,
        },
        devices: rein::backend::device_control(h).to_string(),
        network: match rein::backend::network_control(h) {
            Ok(()) => "BPF programs on cgroup2 (cgroup skb egress and ingress, sock_ops)".into(),
            Err(why) => format!("unavailable: {why}"),
        },
        driver,
        driver_reason,
        root,
        own_cgroup: own,
        delegated,
        advice,
    }
}

pub fn check(h: &std::sync::Arc<Hierarchy>, drivers: DriverOpts, json: bool) -> anyhow::Result<ExitCode> {
    let chosen =
        match driver::choose(drivers, h, rein_systemd::ScopeOptions::default(), rein_systemd::Bounds::default())? {
            Chosen::Cgroupfs { reason } => ("cgroupfs", reason),
            Chosen::Systemd { reason, .. } => ("systemd", reason),
        };
    let r = build(h, chosen);
    if json {
        outln!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mode_text = match r.mode {
        Mode::Unified => "v2 (unified)",
        Mode::Legacy => "v1 (legacy)",
        Mode::Hybrid => "hybrid (v1 controllers + cgroup2)",
    };
    outln!("mode         {mode_text}");
    outln!("kernel       {}", r.kernel);
    if let Some(m) = &r.cgroup2_mount {
        let list =
            if r.cgroup2_controllers.is_empty() { "no controllers".into() } else { r.cgroup2_controllers.join(" ") };
        outln!("cgroup2      {m} ({list})");
    }
    outln!("controllers");
    for c in &r.controllers {
        outln!("  {:<11}{}  {}", c.name, c.hierarchy, c.mount);
    }
    for m in &r.missing {
        outln!("  {m:<11}--  not available");
    }
    let f = &r.features;
    outln!(
        "features     clone3 {}, CLONE_INTO_CGROUP {}, cgroup.kill {}, memory peak {}, pressure (PSI) {}",
        yes(f.clone3),
        yes(f.clone_into_cgroup),
        yes(f.cgroup_kill),
        yes(f.memory_peak),
        yes(f.psi)
    );
    outln!("devices      {}", r.devices);
    outln!("network      {}", r.network);
    let what = if r.driver == "systemd" { "transient units over D-Bus" } else { "rein writes the cgroup files itself" };
    outln!("driver       {} ({what}): {}", r.driver, r.driver_reason);
    let who = if r.root {
        "root".to_string()
    } else {
        match r.delegated {
            Some(true) => format!("delegated subtree {}", r.own_cgroup.as_deref().unwrap_or("?")),
            _ => "unprivileged, no delegated subtree".into(),
        }
    };
    outln!("privileges   {who}");
    for a in &r.advice {
        outln!("advice       {a}");
    }
    Ok(ExitCode::SUCCESS)
}
