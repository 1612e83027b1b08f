//! `rein supervise FILE`: the policies of a rein.toml file's groups, enforced in the
//! foreground (a systemd unit can run it), one enforcer thread per group
//! ([`rein::policy::Policing`]). It follows the groups as `rein apply` makes them: a group
//! not there yet (or removed) is picked up again when it appears.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rein::policy::{Action, Policing, Policy};
use rein::{GroupPath, Hierarchy};

use crate::cli::SuperviseArgs;
use crate::report;

/// How often groups that are missing are looked for again.
const RESCAN: Duration = Duration::from_millis(500);

pub fn supervise(
    a: &SuperviseArgs,
    hierarchy: &dyn Fn() -> anyhow::Result<Arc<Hierarchy>>,
) -> anyhow::Result<ExitCode> {
    let loaded = super::config::read(&a.file.file, false)?;
    let h = hierarchy()?;
    let mut base = a.file.parent.as_deref().map(GroupPath::parse).transpose()?.unwrap_or_default();
    if let Some(p) = &loaded.resolved.parent {
        base = base.join(p.as_str())?;
    }
    let groups: Vec<(GroupPath, Policy)> = loaded
        .resolved
        .groups
        .iter()
        .filter(|g| !g.policy.is_empty())
        .map(|g| Ok((base.join(g.path.as_str())?, g.policy.clone())))
        .collect::<rein::Result<_>>()?;
    if groups.is_empty() {
        anyhow::bail!(
            "{} gives no group a policy (timeout, cpu-time, on-pressure, on-oom): nothing to supervise",
            a.file.file.display()
        );
    }
    for (path, policy) in &groups {
        rein::policy::check(policy, &h).map_err(|e| anyhow::anyhow!("group {path}: {e}"))?;
    }
    // Blocked before the threads start (they inherit the mask): a signal ends the loop
    // below, which stops every enforcer (thawing what it froze, restoring what it throttled).
    let _old = rein::launch::block(&rein::launch::FORWARDED);
    let sigfd = rein::launch::signalfd(&rein::launch::FORWARDED)?;
    let (tx, rx) = mpsc::channel::<Action>();
    let mut active: BTreeMap<GroupPath, Policing> = BTreeMap::new();
    let mut failed: BTreeMap<GroupPath, String> = BTreeMap::new();
    eoutln!(
        "rein: supervising {} group{} of {}",
        groups.len(),
        if groups.len() == 1 { "" } else { "s" },
        a.file.file.display()
    );
    let mut out = std::io::stdout().lock();
    loop {
        for (path, policy) in &groups {
            if active.get(path).is_some_and(|p| p.is_finished()) {
                let p = active.remove(path).expect("present");
                match p.stop() {
                    Ok(_) => eoutln!("rein: {path} is gone; waiting for it to come back"),
                    Err(e) => eoutln!("rein: {path}: the policy stopped: {e}"),
                }
            }
            if active.contains_key(path) {
                continue;
            }
            match Policing::start_with(h.clone(), path, policy, tx.clone()) {
                Ok(p) => {
                    failed.remove(path);
                    eoutln!("rein: {path}: enforcing {}", summary(policy));
                    active.insert(path.clone(), p);
                }
                // Not there (yet): looked for again at the next rescan.
                Err(rein::Error::State { message, .. }) if message.starts_with("no group") => {}
                Err(e) => {
                    let text = e.to_string();
                    if failed.get(path) != Some(&text) {
                        eoutln!("rein: {path}: {text}");
                        failed.insert(path.clone(), text);
                    }
                }
            }
        }
        // Actions as they come; the signalfd checked between them.
        let until = std::time::Instant::now() + RESCAN;
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(action) => {
                    if a.json {
                        writeln!(out, "{}", serde_json::to_string(&action)?)?;
                    } else {
                        writeln!(out, "{}", human(&action))?;
                    }
                    out.flush()?;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("tx is held here"),
            }
            if let Some((sig, _)) = rein::launch::read_signal(sigfd.as_fd()) {
                eoutln!("rein: signal {sig}: stopping (groups thawed, throttled limits restored)");
                let mut rc = ExitCode::SUCCESS;
                for (path, p) in active {
                    if let Err(e) = p.stop() {
                        eoutln!("rein: {path}: {e}");
                        rc = ExitCode::from(125);
                    }
                }
                while let Ok(action) = rx.try_recv() {
                    writeln!(out, "{}", if a.json { serde_json::to_string(&action)? } else { human(&action) })?;
                }
                return Ok(rc);
            }
            if std::time::Instant::now() >= until {
                break;
            }
        }
    }
}

/// `timeout 1s, memory:some:200ms/1s=freeze`.
fn summary(p: &Policy) -> String {
    let mut parts = Vec::new();
    if let Some(t) = p.timeout {
        parts.push(format!("timeout {}", rein::units::human_usec(t.as_micros() as u64)));
    }
    if let Some(t) = p.cpu_time {
        parts.push(format!("cpu-time {}", rein::units::human_usec(t.as_micros() as u64)));
    }
    parts.extend(p.on_pressure.iter().map(|r| r.to_string()));
    if let Some(o) = &p.on_oom {
        parts.push(format!("on-oom {o}"));
    }
    parts.join(", ")
}

/// `12:00:00.123  /dev/api  freeze  memory:some:200ms/1s: froze the group`.
pub fn human(a: &Action) -> String {
    format!("{}  {}  {:<8}  {a}", report::clock(a.time), a.group, a.kind.name())
}
