//! Device access rules: which device nodes a group's processes may open (read, write) or
//! create (mknod), with the semantics of cgroup v1's devices controller.
//!
//! The model is a policy and an ordered list of rules ([`DeviceAccess`]). Applied in
//! order to the policy's starting point they give the state the v1 kernel keeps
//! ([`Effective`]: a default and a list of exceptions to it), and that state is what every
//! backend enforces: v1 writes it to `devices.deny`/`devices.allow`, v2 compiles it into a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program. [`Effective::allows`] is the v1 kernel's check
//! (security/device_cgroup.c), the table the program tests are held to.
//!
//! Rules are written as v1 writes them: `TYPE MAJOR:MINOR ACCESS`, TYPE `a` (all), `b`
//! (block) or `c` (char), `*` for any major or minor, ACCESS some of `r` (read), `w`
//! (write), `m` (mknod); `a` alone means every device.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The kind of device a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceType {
    /// `a`: every device (a rule of this type sets the default and clears the exceptions).
    All,
    /// `b`: block devices.
    Block,
    /// `c`: character devices.
    Char,
}

impl DeviceType {
    /// The letter v1 uses.
    pub fn letter(self) -> char {
        match self {
            DeviceType::All => 'a',
            DeviceType::Block => 'b',
            DeviceType::Char => 'c',
        }
    }
}

/// Kinds of access, as a set: the bits are BPF's (`BPF_DEVCG_ACC_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Access(u8);

impl Access {
    /// `m`: mknod.
    pub const MKNOD: Access = Access(1);
    /// `r`: open for reading.
    pub const READ: Access = Access(2);
    /// `w`: open for writing.
    pub const WRITE: Access = Access(4);
    /// `rwm`.
    pub const ALL: Access = Access(7);

    /// The raw bits (`BPF_DEVCG_ACC_MKNOD | ..._READ | ..._WRITE`).
    pub fn bits(self) -> u8 {
        self.0
    }

    /// From raw bits (only the low three count).
    pub fn from_bits(bits: u8) -> Access {
        Access(bits & 7)
    }

    /// Parses `r`, `w`, `m` in any order (each at most once), as v1 does.
    pub fn parse(s: &str) -> Result<Access, String> {
        let mut a = 0u8;
        for c in s.chars() {
            let bit = match c {
                'r' => 2,
                'w' => 4,
                'm' => 1,
                other => return Err(format!("unknown access '{other}'; use r (read), w (write), m (mknod)")),
            };
            if a & bit != 0 {
                return Err(format!("access '{c}' given twice"));
            }
            a |= bit;
        }
        if a == 0 {
            return Err("no access given; use some of r, w, m".into());
        }
        Ok(Access(a))
    }

    /// Every access of `other` is in `self`.
    pub fn contains(self, other: Access) -> bool {
        other.0 & !self.0 == 0
    }

    /// Some access is in both.
    pub fn intersects(self, other: Access) -> bool {
        self.0 & other.0 != 0
    }

    fn remove(self, other: Access) -> Access {
        Access(self.0 & !other.0)
    }

    fn intersect(self, other: Access) -> Access {
        Access(self.0 & other.0)
    }

    fn union(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in [(2, 'r'), (4, 'w'), (1, 'm')] {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// The largest major and minor device numbers (12 and 20 bits: the kernel's MINORBITS).
pub const MAX_MAJOR: u32 = (1 << 12) - 1;
/// The largest minor device number.
pub const MAX_MINOR: u32 = (1 << 20) - 1;

/// One rule: allow or deny some access to some devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceRule {
    /// Allow (`devices.allow`) or deny (`devices.deny`).
    pub allow: bool,
    /// Which devices: every one, or block or character ones.
    pub kind: DeviceType,
    /// The major number, `None` for any (`*`).
    pub major: Option<u32>,
    /// The minor number, `None` for any (`*`).
    pub minor: Option<u32>,
    /// What access.
    pub access: Access,
}

impl DeviceRule {
    /// Parses a rule in v1's syntax (`c 1:3 rw`, `b 7:* rwm`, `a`), as `allow` or deny.
    pub fn parse(s: &str, allow: bool) -> Result<DeviceRule, String> {
        let t = s.trim();
        let mut words = t.split_ascii_whitespace();
        let kind = match words.next() {
            Some("a") => DeviceType::All,
            Some("b") => DeviceType::Block,
            Some("c") => DeviceType::Char,
            Some(other) => return Err(format!("unknown device type '{other}'; use a (all), b (block) or c (char)")),
            None => return Err("empty rule; expected TYPE MAJOR:MINOR ACCESS like 'c 1:3 rw', or 'a'".into()),
        };
        let nums = words.next();
        let access = words.next();
        if let Some(extra) = words.next() {
            return Err(format!("unexpected '{extra}' after the access"));
        }
        if kind == DeviceType::All {
            // v1 ignores what follows `a`; rein accepts only the spelling that means it.
            return match (nums, access) {
                (None, None) | (Some("*:*"), None) | (Some("*:*"), Some("rwm")) => {
                    Ok(DeviceRule { allow, kind, major: None, minor: None, access: Access::ALL })
                }
                _ => Err("'a' means every device and every access; write it alone".into()),
            };
        }
        let nums = nums.ok_or("expected MAJOR:MINOR after the type (numbers or *)")?;
        let (maj, min) = nums.split_once(':').ok_or_else(|| format!("'{nums}' is not MAJOR:MINOR"))?;
        let number = |v: &str, what: &str, max: u32| -> Result<Option<u32>, String> {
            if v == "*" {
                return Ok(None);
            }
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{what} '{v}' is not a number or *"));
            }
            match v.parse::<u32>() {
                Ok(n) if n <= max => Ok(Some(n)),
                _ => Err(format!("{what} '{v}' is more than the largest, {max}")),
            }
        };
        let major = number(maj, "major", MAX_MAJOR)?;
        let minor = number(min, "minor", MAX_MINOR)?;
        let access = Access::parse(access.ok_or("expected the access after MAJOR:MINOR (some of r, w, m)")?)?;
        Ok(DeviceRule { allow, kind, major, minor, access })
    }
}

impl fmt::Display for DeviceRule {
    /// v1's syntax, without the allow/deny (see [`DeviceRule::allow`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == DeviceType::All {
            return write!(f, "a *:* rwm");
        }
        let n = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_else(|| "*".into());
        write!(f, "{} {}:{} {}", self.kind.letter(), n(self.major), n(self.minor), self.access)
    }
}

impl DeviceRule {
    /// The rule with its direction: `allow c 1:3 rw`, `deny a *:* rwm` (the form `rein
    /// show --json` and recordings use).
    pub fn to_text(&self) -> String {
        format!("{} {self}", if self.allow { "allow" } else { "deny" })
    }

    /// Refuses a rule that names one device by number as the wrong type: `b 1:3`, when
    /// 1:3 is a character device on this machine (/sys/dev/char) and no block device
    /// (/sys/dev/block), and the other way round. Numbers no device has yet are accepted
    /// (a rule may be written before its device appears).
    pub fn check_type_here(&self) -> Result<(), String> {
        self.check_type_in(std::path::Path::new("/sys/dev"))
    }

    fn check_type_in(&self, sys_dev: &std::path::Path) -> Result<(), String> {
        let (Some(major), Some(minor)) = (self.major, self.minor) else { return Ok(()) };
        let (mine, other, other_kind) = match self.kind {
            DeviceType::Char => ("char", "block", DeviceType::Block),
            DeviceType::Block => ("block", "char", DeviceType::Char),
            DeviceType::All => return Ok(()),
        };
        let num = format!("{major}:{minor}");
        if sys_dev.join(mine).join(&num).exists() || !sys_dev.join(other).join(&num).exists() {
            return Ok(());
        }
        let name = std::fs::read_to_string(sys_dev.join(other).join(&num).join("uevent"))
            .ok()
            .and_then(|u| u.lines().find_map(|l| l.strip_prefix("DEVNAME=").map(|d| format!(" (/dev/{d})"))))
            .unwrap_or_default();
        let fixed = DeviceRule { kind: other_kind, ..*self };
        Err(format!("{num} is a {other} device here{name}, not a {mine} one: write '{fixed}'"))
    }

    /// Parses [`DeviceRule::to_text`]'s form.
    pub fn parse_text(s: &str) -> Result<DeviceRule, String> {
        match s.trim().split_once(' ') {
            Some(("allow", rule)) => DeviceRule::parse(rule, true),
            Some(("deny", rule)) => DeviceRule::parse(rule, false),
            _ => Err(format!("'{s}' is not 'allow RULE' or 'deny RULE'")),
        }
    }
}

impl Serialize for DeviceRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for DeviceRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DeviceRule, D::Error> {
        let text = String::deserialize(d)?;
        DeviceRule::parse_text(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for DevicePolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DevicePolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DevicePolicy, D::Error> {
        let text = String::deserialize(d)?;
        DevicePolicy::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What devices are allowed when no rule says otherwise, with systemd's meanings
/// (`DevicePolicy=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DevicePolicy {
    /// Every device when no rule allows one; otherwise like [`DevicePolicy::Closed`].
    Auto,
    /// Only what rules allow, plus the pseudo devices every program expects
    /// ([`PSEUDO_DEVICES`] and the pseudo-terminals).
    Closed,
    /// Only what rules allow.
    Strict,
}

impl DevicePolicy {
    /// Parses `auto`, `closed` or `strict`.
    pub fn parse(s: &str) -> Result<DevicePolicy, String> {
        match s.trim() {
            "auto" => Ok(DevicePolicy::Auto),
            "closed" => Ok(DevicePolicy::Closed),
            "strict" => Ok(DevicePolicy::Strict),
            other => Err(format!("unknown device policy '{other}'; use auto, closed or strict")),
        }
    }

    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            DevicePolicy::Auto => "auto",
            DevicePolicy::Closed => "closed",
            DevicePolicy::Strict => "strict",
        }
    }
}

/// The character devices [`DevicePolicy::Closed`] allows (`rwm`), as systemd does:
/// /dev/null, zero, full, random, urandom, tty and ptmx. The pseudo-terminals (/dev/pts/N)
/// come in addition, with their majors from /proc/devices ([`pts_majors`]).
pub const PSEUDO_DEVICES: [(&str, u32, u32); 7] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
    ("/dev/ptmx", 5, 2),
];

/// The majors of the pseudo-terminal slaves ("pts" in /proc/devices; 136 when it cannot
/// be read).
pub fn pts_majors() -> Vec<u32> {
    let found = std::fs::read_to_string("/proc/devices").map(|t| pts_majors_in(&t)).unwrap_or_default();
    if found.is_empty() { vec![136] } else { found }
}

/// The "pts" majors of a /proc/devices text, in its Character section.
pub fn pts_majors_in(proc_devices: &str) -> Vec<u32> {
    let mut chars = false;
    let mut out = Vec::new();
    for line in proc_devices.lines() {
        let l = line.trim();
        if l.starts_with("Character devices") {
            chars = true;
        } else if l.starts_with("Block devices") {
            chars = false;
        } else if chars {
            if let Some((n, name)) = l.split_once(char::is_whitespace) {
                if name.trim() == "pts" {
                    out.extend(n.parse::<u32>().ok());
                }
            }
        }
    }
    out
}

/// The driver name /proc/devices gives a major (`block` or character), as systemd's
/// `char-NAME` / `block-NAME` device specifiers use it.
pub fn major_name(block: bool, major: u32) -> Option<String> {
    let text = std::fs::read_to_string("/proc/devices").ok()?;
    majors_in(&text, block).into_iter().find(|(m, _)| *m == major).map(|(_, name)| name)
}

/// The majors of a /proc/devices text whose driver name matches `pattern` (`*` matches any
/// run of characters), in its Character or Block section: systemd's `char-NAME`.
pub fn majors_named(proc_devices: &str, block: bool, pattern: &str) -> Vec<u32> {
    majors_in(proc_devices, block).into_iter().filter(|(_, n)| glob(pattern, n)).map(|(m, _)| m).collect()
}

fn majors_in(proc_devices: &str, block: bool) -> Vec<(u32, String)> {
    let mut section = None;
    let mut out = Vec::new();
    for line in proc_devices.lines() {
        let l = line.trim();
        if l.starts_with("Character devices") {
            section = Some(false);
        } else if l.starts_with("Block devices") {
            section = Some(true);
        } else if section == Some(block) {
            if let Some((n, name)) = l.split_once(char::is_whitespace) {
                if let Ok(m) = n.parse() {
                    out.push((m, name.trim().to_string()));
                }
            }
        }
    }
    out
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(after) = text.strip_prefix(head) else { return false };
            (0..=after.len()).any(|i| after.is_char_boundary(i) && glob(rest, &after[i..]))
        }
    }
}

/// Device access for a group: a policy and an ordered list of rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceAccess {
    /// systemd's policy; `None` is v1's own starting point, every device allowed (what a
    /// v1 group starts with, and what libcgroup's `devices.allow`/`devices.deny` change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<DevicePolicy>,
    /// The rules, applied in order.
    pub rules: Vec<DeviceRule>,
}

impl DeviceAccess {
    /// The rules v1's `devices.list` shows: `a *:* rwm` (every device allowed; the kernel
    /// does not list what it denies then), or the devices allowed (an empty list: none).
    pub fn from_v1_list(text: &str) -> Result<DeviceAccess, String> {
        let mut rules = Vec::new();
        let mut all = false;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let rule = DeviceRule::parse(line, true).map_err(|e| format!("'{line}': {e}"))?;
            if rule.kind == DeviceType::All {
                all = true;
            } else {
                rules.push(rule);
            }
        }
        let mut out = vec![DeviceRule::parse("a", all).expect("'a' parses")];
        if !all {
            out.extend(rules);
        }
        Ok(DeviceAccess { policy: None, rules: out })
    }

    /// The v1 state these rules make, starting from the policy's starting point. `pts`
    /// are the pseudo-terminal majors [`DevicePolicy::Closed`] allows.
    pub fn effective(&self, pts: &[u32]) -> Effective {
        let closed = match self.policy {
            None => false,
            Some(DevicePolicy::Strict) => false,
            Some(DevicePolicy::Closed) => true,
            Some(DevicePolicy::Auto) => self.rules.iter().any(|r| r.allow),
        };
        let restricted = closed || self.policy == Some(DevicePolicy::Strict);
        let mut e = Effective { default_allow: !restricted, exceptions: Vec::new() };
        if closed {
            for (_, major, minor) in PSEUDO_DEVICES {
                e.exceptions.push(Exception {
                    kind: DeviceType::Char,
                    major: Some(major),
                    minor: Some(minor),
                    access: Access::ALL,
                });
            }
            for m in pts {
                e.exceptions.push(Exception {
                    kind: DeviceType::Char,
                    major: Some(*m),
                    minor: None,
                    access: Access(6),
                });
            }
        }
        for r in &self.rules {
            e.apply(r);
        }
        e
    }
}

/// One exception to the default: v1's `struct dev_exception_item`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Exception {
    /// Block or character devices (never [`DeviceType::All`]).
    pub kind: DeviceType,
    /// The major, `None` for any.
    pub major: Option<u32>,
    /// The minor, `None` for any.
    pub minor: Option<u32>,
    /// The access the exception is about.
    pub access: Access,
}

impl Exception {
    fn same_device(&self, r: &DeviceRule) -> bool {
        self.kind == r.kind && self.major == r.major && self.minor == r.minor
    }

    fn covers(&self, kind: DeviceType, major: u32, minor: u32) -> bool {
        self.kind == kind && self.major.is_none_or(|m| m == major) && self.minor.is_none_or(|m| m == minor)
    }

    /// As an allow or deny rule.
    pub fn rule(&self, allow: bool) -> DeviceRule {
        DeviceRule { allow, kind: self.kind, major: self.major, minor: self.minor, access: self.access }
    }
}

/// The state v1's devices controller keeps for a group: a default (every device allowed,
/// or none) and the exceptions to it (denied devices when the default allows, allowed
/// ones when it denies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Every access allowed unless an exception denies it (else: denied unless allowed).
    pub default_allow: bool,
    /// The exceptions, in the order they were made.
    pub exceptions: Vec<Exception>,
}

impl Effective {
    /// Applies one rule as writing it to `devices.allow` / `devices.deny` does
    /// (devcgroup_update_access): `a` sets the default and clears the exceptions; a rule
    /// in the default's direction takes its access off the exception for exactly that
    /// device; a rule against the default adds its access to that device's exception.
    pub fn apply(&mut self, r: &DeviceRule) {
        if r.kind == DeviceType::All {
            self.default_allow = r.allow;
            self.exceptions.clear();
            return;
        }
        if r.allow == self.default_allow {
            for e in self.exceptions.iter_mut().filter(|e| e.same_device(r)) {
                e.access = e.access.remove(r.access);
            }
            self.exceptions.retain(|e| !e.access.is_empty());
        } else if let Some(e) = self.exceptions.iter_mut().find(|e| e.same_device(r)) {
            e.access = e.access.union(r.access);
        } else {
            self.exceptions.push(Exception { kind: r.kind, major: r.major, minor: r.minor, access: r.access });
        }
    }

    /// Whether `access` to the device `kind major:minor` is allowed: the v1 kernel's
    /// check. With a denying default one exception must cover the whole access; with an
    /// allowing default any exception that touches part of it denies.
    pub fn allows(&self, kind: DeviceType, major: u32, minor: u32, access: Access) -> bool {
        let matching = self.exceptions.iter().filter(|e| e.covers(kind, major, minor));
        if self.default_allow {
            !matching.into_iter().any(|e| e.access.intersects(access))
        } else {
            matching.into_iter().any(|e| e.access.contains(access))
        }
    }

    /// The state v1's `devices.list` shows when it shows all of it: a denying default and
    /// its exceptions. None for an allowing default (`a *:* rwm`: the kernel does not list
    /// what it denies then), or text that does not parse.
    pub fn from_v1_list(text: &str) -> Option<Effective> {
        let e = DeviceAccess::from_v1_list(text).ok()?.effective(&[]);
        (!e.default_allow).then_some(e)
    }

    /// What v1's `devices.list` shows for this state: `a *:* rwm` for an allowing
    /// default, else one line per allowed exception.
    pub fn v1_list(&self) -> String {
        if self.default_allow {
            return "a *:* rwm\n".into();
        }
        self.exceptions.iter().map(|e| format!("{}\n", e.rule(true))).collect()
    }

    /// This state within `parent`'s: what both allow, as one state (v1 cannot express
    /// more). Under a parent that allows by default, unchanged (its denied devices are not
    /// known: the kernel enforces them all the same). Under a denying one: each allowed
    /// exception narrowed to each of the parent's it overlaps; an allowing default becomes
    /// the parent's exceptions less every access a denied exception touches.
    pub fn within(&self, parent: &Effective) -> Effective {
        if parent.default_allow {
            return self.clone();
        }
        let mut out = Effective { default_allow: false, exceptions: Vec::new() };
        let mut add = |e: Exception| {
            if !e.access.is_empty() && !out.exceptions.contains(&e) {
                out.exceptions.push(e);
            }
        };
        for p in &parent.exceptions {
            if self.default_allow {
                let denied = self
                    .exceptions
                    .iter()
                    .filter(|d| overlap(d, p).is_some())
                    .fold(Access(0), |acc, d| acc.union(d.access));
                add(Exception { access: p.access.remove(denied), ..*p });
            } else {
                for e in &self.exceptions {
                    if let Some(both) = overlap(e, p) {
                        add(both);
                    }
                }
            }
        }
        out
    }

    /// The rules that take a v1 group from this state to `to` when both deny by default,
    /// never allowing more than one of them does at any moment: the exceptions `to` does
    /// not have, denied (each takes its whole entry away), then those only `to` has,
    /// allowed. Rules, not the default, so the kernel takes them on a group with child
    /// groups too. None when either allows by default: that takes writing the default
    /// (`a`), which the kernel refuses on a group with child groups.
    pub fn v1_changes_to(&self, to: &Effective) -> Option<Vec<DeviceRule>> {
        if self.default_allow || to.default_allow {
            return None;
        }
        let gone = self.exceptions.iter().filter(|e| !to.exceptions.contains(e)).map(|e| e.rule(false));
        let new = to.exceptions.iter().filter(|e| !self.exceptions.contains(e)).map(|e| e.rule(true));
        Some(gone.chain(new).collect())
    }

    /// The rules that make this state from nothing: `a` allowed or denied, then each
    /// exception (what `rein show` lists).
    pub fn rules(&self) -> Vec<DeviceRule> {
        let mut out = vec![DeviceRule {
            allow: self.default_allow,
            kind: DeviceType::All,
            major: None,
            minor: None,
            access: Access::ALL,
        }];
        out.extend(self.exceptions.iter().map(|e| e.rule(!self.default_allow)));
        out
    }
}

/// How a failed change gives a v1 group back its device access: the rules to write, in
/// order (an allowing one to `devices.allow`, a denying one to `devices.deny`), and
/// whether they bring all of it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Restore {
    /// The rules, in order.
    pub rules: Vec<DeviceRule>,
    /// False when the group allowed every device by default before: the kernel does not
    /// list what such a group denies, so what it denied cannot be brought back.
    pub complete: bool,
}

/// What gives a v1 group the device access its `devices.list` showed `before` (read when
/// a change was planned), now that it shows `now` (the rollback of a failed change).
///
/// A denying default lists every exception, so it comes back whole: from another
/// denying default by [`Effective::v1_changes_to`] (rules only, which the kernel takes on
/// a group with child groups too), from an allowing one by `deny a` and each exception.
/// An allowing default lists none of what it denies (`a *:* rwm`): when the group now
/// denies by default, `allow a` brings the default back (with the parent's exceptions,
/// which the kernel copies); either way what it denied is not known ([`V1Restore::complete`]
/// false). Text that does not parse counts as unknown too.
pub fn v1_restore(before: &str, now: &str) -> V1Restore {
    let all = |allow: bool| DeviceRule { allow, kind: DeviceType::All, major: None, minor: None, access: Access::ALL };
    let now = Effective::from_v1_list(now);
    match (Effective::from_v1_list(before), now) {
        (Some(before), Some(now)) => {
            V1Restore { rules: now.v1_changes_to(&before).unwrap_or_default(), complete: true }
        }
        (Some(before), None) => {
            let mut rules = vec![all(false)];
            rules.extend(before.exceptions.iter().map(|e| e.rule(true)));
            V1Restore { rules, complete: true }
        }
        (None, Some(_)) => V1Restore { rules: vec![all(true)], complete: false },
        (None, None) => V1Restore { rules: Vec::new(), complete: false },
    }
}

/// The devices two exceptions both name, with the access both give; None when they name
/// none in common.
fn overlap(a: &Exception, b: &Exception) -> Option<Exception> {
    fn both(x: Option<u32>, y: Option<u32>) -> Option<Option<u32>> {
        match (x, y) {
            (Some(x), Some(y)) if x != y => None,
            (Some(x), _) | (_, Some(x)) => Some(Some(x)),
            (None, None) => Some(None),
        }
    }
    if a.kind != b.kind {
        return None;
    }
    Some(Exception {
        kind: a.kind,
        major: both(a.major, b.major)?,
        minor: both(a.minor, b.minor)?,
        access: a.access.intersect(b.access),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::{DEVICE_TABLE as TABLE, device_access as access};

    pub(crate) fn acc(s: &str) -> Access {
        Access::parse(s).unwrap()
    }

    #[test]
    fn the_v1_semantics_table() {
        for (policy, rules, (kind, major, minor), a, want) in TABLE {
            let e = access(*policy, rules).effective(&[136]);
            assert_eq!(
                e.allows(*kind, *major, *minor, acc(a)),
                *want,
                "{policy:?} {rules:?} {kind:?} {major}:{minor} {a}: {e:?}"
            );
        }
    }

    #[test]
    fn a_number_given_as_the_wrong_type_is_refused() {
        let sys = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(sys.path().join("char/1:3")).unwrap();
        std::fs::write(sys.path().join("char/1:3/uevent"), "MAJOR=1\nMINOR=3\nDEVNAME=null\n").unwrap();
        std::fs::create_dir_all(sys.path().join("block/7:0")).unwrap();
        let check = |r: &str| DeviceRule::parse(r, true).unwrap().check_type_in(sys.path());
        assert_eq!(
            check("b 1:3 rw").unwrap_err(),
            "1:3 is a char device here (/dev/null), not a block one: write 'c 1:3 rw'"
        );
        assert!(check("c 7:0 r").unwrap_err().contains("write 'b 7:0 r'"));
        for fine in ["c 1:3 rw", "b 7:0 r", "b 1:* r", "b 99:1 r", "a"] {
            assert!(check(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn parses_v1_rules_and_refuses_the_rest() {
        assert_eq!(DeviceRule::parse("c 1:3 rw", true).unwrap().to_string(), "c 1:3 rw");
        assert_eq!(DeviceRule::parse(" b *:* mwr ", false).unwrap().to_string(), "b *:* rwm");
        assert_eq!(DeviceRule::parse("a", true).unwrap().to_string(), "a *:* rwm");
        assert_eq!(DeviceRule::parse("a *:* rwm", true).unwrap().kind, DeviceType::All);
        for (bad, why) in [
            ("", "empty rule"),
            ("x 1:3 r", "unknown device type 'x'"),
            ("c 1:3", "expected the access"),
            ("c 1-3 r", "is not MAJOR:MINOR"),
            ("c 1:3 rx", "unknown access 'x'"),
            ("c 1:3 rr", "given twice"),
            ("c 4096:0 r", "more than the largest, 4095"),
            ("c 1:1048576 r", "more than the largest"),
            ("c -1:3 r", "is not a number"),
            ("c 1:3 r extra", "unexpected 'extra'"),
            ("a 1:3 r", "write it alone"),
        ] {
            let e = DeviceRule::parse(bad, true).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert_eq!(DevicePolicy::parse("closed"), Ok(DevicePolicy::Closed));
        assert!(DevicePolicy::parse("open").unwrap_err().contains("auto, closed or strict"));
    }

    #[test]
    fn majors_by_driver_name_as_systemd_names_them() {
        let t = "Character devices:\n  1 mem\n  4 tty\n  4 ttyS\n136 pts\n\nBlock devices:\n  7 loop\n  8 sd\n";
        assert_eq!(majors_named(t, false, "mem"), [1]);
        assert_eq!(majors_named(t, false, "tty*"), [4, 4]);
        assert_eq!(majors_named(t, true, "*"), [7, 8]);
        assert_eq!(majors_named(t, true, "mem"), Vec::<u32>::new());
    }

    #[test]
    fn pts_majors_come_from_the_character_section() {
        let t = "Character devices:\n  1 mem\n136 pts\n137 pts\n\nBlock devices:\n136 pts\n  7 loop\n";
        assert_eq!(pts_majors_in(t), vec![136, 137]);
        assert_eq!(pts_majors_in(""), Vec::<u32>::new());
    }

    fn shown(rules: &[DeviceRule]) -> Vec<String> {
        rules.iter().map(|r| format!("{} {r}", if r.allow { "allow" } else { "deny" })).collect()
    }

    #[test]
    fn a_rollback_brings_a_denying_default_back_whole() {
        // rein set G --device-allow 'c 1:5 rw' after 'c 1:3 rw': c 1:5 goes, c 1:3 comes back.
        let r = v1_restore("c 1:3 rw\n", "c 1:5 rw\n");
        assert!(r.complete);
        assert_eq!(shown(&r.rules), ["deny c 1:5 rw", "allow c 1:3 rw"]);
        // The same access bits changed on one device: its entry goes whole, then the old one.
        let r = v1_restore("c 1:3 rw\nb 7:* r\n", "c 1:3 rwm\nb 7:* r\n");
        assert_eq!(shown(&r.rules), ["deny c 1:3 rwm", "allow c 1:3 rw"]);
        // Nothing changed (an older write of the same plan, once the newest is undone).
        assert_eq!(v1_restore("c 1:3 rw\n", "c 1:3 rw\n"), V1Restore { rules: Vec::new(), complete: true });
        // From an allowing default: the default, then every exception.
        let r = v1_restore("c 1:3 rw\nc 1:5 r\n", "a *:* rwm\n");
        assert_eq!(shown(&r.rules), ["deny a *:* rwm", "allow c 1:3 rw", "allow c 1:5 r"]);
        // None allowed before (an empty list): every exception goes.
        assert_eq!(shown(&v1_restore("", "c 1:3 rw\n").rules), ["deny c 1:3 rw"]);
    }

    #[test]
    fn a_rollback_cannot_know_what_an_allowing_default_denied() {
        let r = v1_restore("a *:* rwm\n", "c 1:3 rw\n");
        assert_eq!((shown(&r.rules), r.complete), (vec!["allow a *:* rwm".to_string()], false));
        assert_eq!(v1_restore("a *:* rwm\n", "a *:* rwm\n"), V1Restore { rules: Vec::new(), complete: false });
        assert!(!v1_restore("not a list", "c 1:3 rw\n").complete);
    }

    #[test]
    fn a_live_change_between_denying_defaults_is_rules_only() {
        let a = Effective::from_v1_list("c 1:3 rw\nc 1:9 r\n").unwrap();
        let b = Effective::from_v1_list("c 1:3 rw\nc 1:5 r\n").unwrap();
        assert_eq!(shown(&a.v1_changes_to(&b).unwrap()), ["deny c 1:9 r", "allow c 1:5 r"]);
        let open = Effective { default_allow: true, exceptions: Vec::new() };
        assert_eq!(a.v1_changes_to(&open), None);
        assert_eq!(open.v1_changes_to(&a), None);
    }

    #[test]
    fn effective_rules_rebuild_the_state() {
        let e =
            access(Some(DevicePolicy::Strict), &["allow c 1:3 rw", "allow b 7:* r", "deny c 1:3 w"]).effective(&[136]);
        let again = DeviceAccess { policy: None, rules: e.rules() }.effective(&[]);
        assert_eq!(again, e);
        assert_eq!(
            e.rules().iter().map(|r| format!("{} {r}", if r.allow { "allow" } else { "deny" })).collect::<Vec<_>>(),
            ["deny a *:* rwm", "allow c 1:3 r", "allow b 7:* r"]
        );
    }
}
