//! Network control of a group: rates each way, a priority or a tc class for what it
//! sends. cgroup v2 has no net_cls or net_prio; rein does this with cgroup BPF programs
//! on the group's cgroup2 directory ([`crate::bpf::net_program`]), on v2 and on the
//! cgroup2 hierarchy of hybrid hosts. A host without cgroup2 gets none of it (its v1
//! net_cls and net_prio files still pass through libcgroup's `-r`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::units::{Limit, Rate};

/// A group's network settings. `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Network {
    /// The most the group's sockets send, IP headers included (`max`: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<Limit<Rate>>,
    /// The most the group's sockets receive (`max`: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Limit<Rate>>,
    /// The priority of what the group sends (net_prio's; 0 leaves the sockets' own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<NetPriority>,
    /// The tc class what the group sends goes to (net_cls's classid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classid: Option<ClassId>,
}

impl Network {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Network::default()
    }

    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<(), String> {
        if matches!(&self.priority, Some(p) if p.priority != 0) && matches!(self.classid, Some(c) if !c.is_none()) {
            return Err("a priority and a class id both set the packets' priority (how a class is chosen \
                        without net_cls): give one"
                .into());
        }
        Ok(())
    }
}

/// A priority, on every interface or on one (net_prio's `ifpriomap` line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetPriority {
    /// The priority (0: leave the sockets' own).
    pub priority: u32,
    /// Only on this interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

/// A tc class id `MAJ:MIN`, both hexadecimal as tc writes them (`1:10` is 0x1:0x10);
/// `0:0` removes the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClassId {
    /// The qdisc's handle.
    pub major: u16,
    /// The class.
    pub minor: u16,
}

impl ClassId {
    /// Parses `MAJ:MIN`, hexadecimal as tc writes it.
    pub fn parse(s: &str) -> Result<ClassId, String> {
        let t = s.trim();
        let bad = || format!("'{s}' is not a class id: MAJ:MIN in hexadecimal, as tc writes it (1:10)");
        let (maj, min) = t.split_once(':').ok_or_else(bad)?;
        let hex = |x: &str| u16::from_str_radix(x, 16).map_err(|_| bad());
        ClassId { major: hex(maj)?, minor: hex(min)? }.checked(s)
    }

    /// Parses what net_cls's `net_cls.classid` takes: the id as one number, `0xAAAABBBB`
    /// or decimal (libcgroup tutorials write `0x100001` for 10:1).
    pub fn from_net_cls(s: &str) -> Result<ClassId, String> {
        let t = s.trim();
        let n = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(h) => u32::from_str_radix(h, 16),
            None => t.parse::<u32>(),
        }
        .map_err(|_| format!("'{s}' is not a net_cls class id: 0xAAAABBBB (major AAAA, minor BBBB) or decimal"))?;
        ClassId { major: (n >> 16) as u16, minor: n as u16 }.checked(s)
    }

    fn checked(self, s: &str) -> Result<ClassId, String> {
        if self.major == 0 && self.minor != 0 {
            return Err(format!(
                "'{s}': a class id needs a major number (the qdisc's handle), e.g. 1:{:x}",
                self.minor
            ));
        }
        if self.major == 0xffff {
            return Err(format!("'{s}': major ffff is tc's root/ingress, not a class"));
        }
        Ok(self)
    }

    /// `0:0`: no class.
    pub fn is_none(&self) -> bool {
        self.major == 0 && self.minor == 0
    }
}

impl fmt::Display for ClassId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}:{:x}", self.major, self.minor)
    }
}

impl TryFrom<String> for ClassId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ClassId::parse(&s)
    }
}

impl From<ClassId> for String {
    fn from(c: ClassId) -> String {
        c.to_string()
    }
}

/// Parses a priority: a number 0..=4294967295, or net_prio's `ifpriomap` line `IFACE N`.
pub fn parse_priority(s: &str) -> Result<NetPriority, String> {
    let mut words = s.split_whitespace();
    let (iface, n) = match (words.next(), words.next(), words.next()) {
        (Some(n), None, _) => (None, n),
        (Some(i), Some(n), None) => (Some(i.to_string()), n),
        _ => return Err(format!("'{s}' is not a priority: a number, or an interface and a number (eth0 5)")),
    };
    let priority = n.parse::<u32>().map_err(|_| format!("'{n}' is not a priority (0 to 4294967295)"))?;
    if let Some(i) = &iface {
        if i.len() > 15 || i.contains('/') {
            return Err(format!("'{i}' is not an interface name"));
        }
    }
    Ok(NetPriority { priority, interface: iface })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_ids_as_tc_and_net_cls_write_them() {
        assert_eq!(ClassId::parse("1:10").unwrap(), ClassId { major: 1, minor: 0x10 });
        assert_eq!(ClassId::from_net_cls("0x100010").unwrap(), ClassId { major: 0x10, minor: 0x10 });
        assert_eq!(ClassId::from_net_cls("1048577").unwrap(), ClassId { major: 0x10, minor: 1 });
        assert!(ClassId::from_net_cls("1:1").is_err() && ClassId::from_net_cls("1").is_err());
        assert_eq!(ClassId::parse("0:0").unwrap().to_string(), "0:0");
        assert_eq!(ClassId::parse("a:ff").unwrap().to_string(), "a:ff");
        for bad in ["1", "65537", "x:1", "1:2:3", "0:10", "ffff:1", "10000:1", "", "1:", "-1:1"] {
            assert!(ClassId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn priorities() {
        assert_eq!(parse_priority("6").unwrap(), NetPriority { priority: 6, interface: None });
        assert_eq!(parse_priority("eth0 5").unwrap().interface.as_deref(), Some("eth0"));
        for bad in ["", "x", "-1", "eth0 x", "a b c", "4294967296"] {
            assert!(parse_priority(bad).is_err(), "{bad}");
        }
        let both = Network {
            priority: Some(NetPriority { priority: 1, interface: None }),
            classid: Some(ClassId { major: 1, minor: 1 }),
            ..Network::default()
        };
        assert!(both.validate().is_err());
    }
}
