//! v2 network control: rein's cgroup skb and sock_ops programs on the group's cgroup2
//! directory, with their settings in a map ([`crate::bpf::net_program`]). A change
//! rewrites the settings; the programs are attached once, when a group first gets a
//! network setting, and go with the group's directory.
//!
//! This module is the one place the model ([`Network`]) and the programs' settings
//! ([`NetConfig`]) are converted, both ways.

use std::os::fd::AsFd;

use crate::bpf::net_program::{self, Mark, NetConfig, NetCounters};
use crate::cgroupfs::{GroupPath, Mount};
use crate::error::{Error, Result};
use crate::network::{ClassId, NetPriority, Network};
use crate::plan::{Action, Place};
use crate::units::{Limit, Rate};

/// The settings `n` makes over `current` (the settings in force, or none): each field
/// of `n` that is set replaces the one in force.
pub fn to_config(current: NetConfig, n: &Network) -> Result<NetConfig> {
    let mut c = current;
    let rate = |l: Limit<Rate>| l.value().map(|r| r.0);
    if let Some(l) = n.egress {
        c.egress_bps = rate(l);
    }
    if let Some(l) = n.ingress {
        c.ingress_bps = rate(l);
    }
    if let Some(p) = &n.priority {
        c.mark = match (p.priority, &p.interface) {
            (0, _) => c.mark.filter(|m| matches!(m, Mark::Class { .. })),
            (priority, None) => Some(Mark::Priority { priority, ifindex: 0 }),
            (priority, Some(i)) => Some(Mark::Priority { priority, ifindex: ifindex(i)? }),
        };
    }
    if let Some(id) = n.classid {
        c.mark = if id.is_none() {
            c.mark.filter(|m| matches!(m, Mark::Priority { .. }))
        } else {
            Some(Mark::Class { major: id.major, minor: id.minor })
        };
    }
    Ok(c)
}

/// The model of settings in force (what `rein show` lists).
pub fn from_config(c: &NetConfig) -> Network {
    let mut n = Network {
        egress: c.egress_bps.map(|b| Limit::Value(Rate(b))),
        ingress: c.ingress_bps.map(|b| Limit::Value(Rate(b))),
        ..Network::default()
    };
    match c.mark {
        Some(Mark::Priority { priority, ifindex }) => {
            let interface = (ifindex != 0).then(|| interface_name(ifindex));
            n.priority = Some(NetPriority { priority, interface });
        }
        Some(Mark::Class { major, minor }) => n.classid = Some(ClassId { major, minor }),
        None => {}
    }
    n
}

fn ifindex(name: &str) -> Result<u32> {
    let path = format!("/sys/class/net/{name}/ifindex");
    std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse().ok()).ok_or_else(|| {
        Error::invalid("net-priority", name, format!("no network interface '{name}' here (see 'ip link')"))
    })
}

fn interface_name(ifindex: u32) -> String {
    let found = std::fs::read_dir("/sys/class/net").ok().and_then(|rd| {
        rd.filter_map(|e| e.ok()).find_map(|e| {
            let idx = std::fs::read_to_string(e.path().join("ifindex")).ok()?;
            (idx.trim().parse::<u32>().ok()? == ifindex).then(|| e.file_name().to_string_lossy().into_owned())
        })
    });
    found.unwrap_or_else(|| format!("if{ifindex}"))
}

/// The settings in force on the group and what its programs counted; None when rein's
/// programs are not attached.
pub(crate) fn read(m: &Mount, path: &GroupPath) -> Result<Option<(NetConfig, NetCounters)>> {
    let dir = m.open_dir(path)?;
    net_program::read(dir.as_fd())
}

/// The action that gives the group the settings `n` (over those in force on an existing
/// group); None when they are in force already, so applying the same settings twice
/// changes nothing.
pub(crate) fn action(m: &Mount, path: &GroupPath, n: &Network, exists: bool) -> Result<Option<Action>> {
    let previous = if exists { read(m, path)?.map(|(c, _)| c) } else { None };
    let config = to_config(previous.unwrap_or_default(), n)?;
    if previous == Some(config) {
        return Ok(None);
    }
    Ok(Some(Action::Net { place: Place::V2, group: path.clone(), config, previous }))
}

/// The counters as rein's statistics.
pub fn stats(n: &NetCounters) -> crate::stats::NetStats {
    crate::stats::NetStats {
        rx_bytes: n.rx_bytes,
        rx_packets: n.rx_packets,
        tx_bytes: n.tx_bytes,
        tx_packets: n.tx_packets,
        rx_dropped: n.rx_dropped,
        tx_dropped: n.tx_dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_overlay_and_read_back() {
        let n = Network {
            egress: Some(Limit::Value(Rate(10_000_000))),
            classid: Some(ClassId { major: 1, minor: 0x10 }),
            ..Network::default()
        };
        let c = to_config(NetConfig::default(), &n).unwrap();
        assert_eq!(c.egress_bps, Some(10_000_000));
        assert_eq!(from_config(&c), n);
        // A later change of one setting keeps the others; max and 0:0 remove.
        let later = Network { ingress: Some(Limit::Value(Rate(1_000_000))), ..Network::default() };
        let c2 = to_config(c, &later).unwrap();
        assert_eq!((c2.egress_bps, c2.ingress_bps, c2.mark), (Some(10_000_000), Some(1_000_000), c.mark));
        let off =
            Network { egress: Some(Limit::Max), classid: Some(ClassId { major: 0, minor: 0 }), ..Network::default() };
        let c3 = to_config(c2, &off).unwrap();
        assert_eq!((c3.egress_bps, c3.mark), (None, None));
        assert_eq!(c3.to_string(), "egress max, ingress 1mbit");
        let bad = Network {
            priority: Some(NetPriority { priority: 1, interface: Some("no-such-if0".into()) }),
            ..Network::default()
        };
        assert!(to_config(c3, &bad).unwrap_err().to_string().contains("no network interface"));
    }
}
