//! What a policy says, parsed and checked: deadlines, a CPU-time budget, pressure rules
//! (`RESOURCE:some|full:THRESHOLD/WINDOW=ACTION`) and what to do on an OOM kill. One
//! parser for the command line, rein.toml and the library.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::events::trigger::{PressureResource, PressureTrigger};
use crate::units::{human_usec, parse_duration_usec};

/// How long a group may stay frozen by one `freeze` action unless told otherwise.
pub const DEFAULT_FREEZE_MAX: Duration = Duration::from_secs(10);
/// The grace between SIGTERM and `cgroup.kill` at a deadline unless told otherwise.
pub const DEFAULT_KILL_AFTER: Duration = Duration::from_secs(10);
/// The longest freeze rein accepts (a bound, not a sentence).
const FREEZE_MAX_LIMIT: Duration = Duration::from_secs(3600);

/// What a pressure rule does while its trigger fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "action")]
pub enum PressureAction {
    /// Freeze the group (`cgroup.freeze`, the v1 freezer) until a whole window passes
    /// without the trigger firing, at most `max` at a time.
    Freeze {
        /// The longest one freeze lasts.
        #[serde(serialize_with = "as_usec")]
        max: Duration,
    },
    /// Kill the group (`cgroup.kill`).
    Kill,
    /// Report an event, and run `command` (through `sh -c`, outside the group) with the
    /// event in its environment.
    Notify {
        /// The command, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        command: Option<String>,
    },
    /// Lower the group's limit a step each time the trigger fires (`cpu.max` for cpu and
    /// io pressure, `memory.high` for memory pressure), and raise it back a step for each
    /// window without the trigger, until it is what it was.
    Throttle,
}

fn as_usec<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

/// `RESOURCE:some|full:THRESHOLD/WINDOW=ACTION`: act while tasks of the group stall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PressureRule {
    /// The PSI trigger (the kernel wakes rein when it fires).
    pub trigger: PressureTrigger,
    /// What to do.
    #[serde(flatten)]
    pub action: PressureAction,
}

impl PressureRule {
    /// Parses `memory:some:20%/1s=freeze`, `cpu:some:50ms/1s=throttle`,
    /// `io:full:10%/2s=notify:logger -t rein io`, `memory:full:5%/1s=kill`,
    /// `memory:some:20%/1s=freeze:30s` (a freeze of at most 30 s).
    pub fn parse(s: &str) -> Result<PressureRule> {
        let bad = |reason: &str| Error::invalid("pressure rule", s, reason);
        let Some((trigger, action)) = s.split_once('=') else {
            return Err(bad("expected RESOURCE:some|full:THRESHOLD/WINDOW=ACTION, e.g. memory:some:20%/1s=freeze \
                 (ACTION: freeze[:MAX], kill, notify[:COMMAND], throttle)"));
        };
        let trigger = PressureTrigger::parse(trigger)?;
        let (name, arg) = match action.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a)),
            None => (action.trim(), None),
        };
        let action = match (name, arg) {
            ("freeze", None) => PressureAction::Freeze { max: DEFAULT_FREEZE_MAX },
            ("freeze", Some(max)) => {
                let usec = parse_duration_usec(max).map_err(|e| bad(&format!("freeze bound: {e}")))?;
                let max = Duration::from_micros(usec);
                if max.is_zero() || max > FREEZE_MAX_LIMIT {
                    return Err(bad("the freeze bound must be above 0 and at most 1h"));
                }
                PressureAction::Freeze { max }
            }
            ("kill", None) => PressureAction::Kill,
            ("throttle", None) => PressureAction::Throttle,
            ("notify", None) => PressureAction::Notify { command: None },
            ("notify", Some(cmd)) if cmd.trim().is_empty() => {
                return Err(bad("an empty command after notify: (give one, or write just notify)"));
            }
            ("notify", Some(cmd)) => PressureAction::Notify { command: Some(cmd.to_string()) },
            ("kill" | "throttle", Some(_)) => return Err(bad(&format!("'{name}' takes no argument"))),
            _ => {
                return Err(bad(&format!(
                    "unknown action '{name}': expected freeze[:MAX], kill, notify[:COMMAND] or throttle"
                )));
            }
        };
        Ok(PressureRule { trigger, action })
    }

    /// The limit a `throttle` rule lowers: `cpu.max` for cpu and io pressure,
    /// `memory.high` for memory pressure.
    pub fn throttles(&self) -> Throttled {
        match self.trigger.resource {
            PressureResource::Memory => Throttled::MemoryHigh,
            PressureResource::Cpu | PressureResource::Io => Throttled::CpuMax,
        }
    }
}

/// The limit a `throttle` action moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Throttled {
    /// CPU bandwidth.
    CpuMax,
    /// The memory throttling limit (cgroup v2 only).
    MemoryHigh,
}

impl Throttled {
    /// The v2 interface file's name (on v1 `cpu.max` is `cpu.cfs_quota_us`).
    pub fn name(self) -> &'static str {
        match self {
            Throttled::CpuMax => "cpu.max",
            Throttled::MemoryHigh => "memory.high",
        }
    }
}

impl FromStr for PressureRule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        PressureRule::parse(s)
    }
}

impl fmt::Display for PressureRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", self.trigger)?;
        match &self.action {
            PressureAction::Freeze { max } if *max == DEFAULT_FREEZE_MAX => write!(f, "freeze"),
            PressureAction::Freeze { max } => write!(f, "freeze:{}", human_usec(max.as_micros() as u64)),
            PressureAction::Kill => write!(f, "kill"),
            PressureAction::Throttle => write!(f, "throttle"),
            PressureAction::Notify { command: None } => write!(f, "notify"),
            PressureAction::Notify { command: Some(c) } => write!(f, "notify:{c}"),
        }
    }
}

/// What to do when the OOM killer kills a process of the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum OomAction {
    /// Report an event (and run `command`, as [`PressureAction::Notify`]); the group goes on.
    Notify {
        /// The command, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        command: Option<String>,
    },
    /// Kill the whole group: `memory.oom.group` where the memory controller is on cgroup
    /// v2 (the kernel kills every process at once), else rein kills it on the OOM event.
    KillGroup,
}

impl OomAction {
    /// Parses `notify`, `notify:COMMAND` or `kill-group`.
    pub fn parse(s: &str) -> Result<OomAction> {
        let bad = |reason: &str| Error::invalid("OOM action", s, reason);
        match s.split_once(':') {
            None if s.trim() == "notify" => Ok(OomAction::Notify { command: None }),
            None if s.trim() == "kill-group" => Ok(OomAction::KillGroup),
            Some(("notify", cmd)) if !cmd.trim().is_empty() => Ok(OomAction::Notify { command: Some(cmd.into()) }),
            Some(("notify", _)) => Err(bad("an empty command after notify: (give one, or write just notify)")),
            _ => Err(bad("expected notify, notify:COMMAND or kill-group")),
        }
    }
}

impl FromStr for OomAction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        OomAction::parse(s)
    }
}

impl fmt::Display for OomAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OomAction::Notify { command: None } => write!(f, "notify"),
            OomAction::Notify { command: Some(c) } => write!(f, "notify:{c}"),
            OomAction::KillGroup => write!(f, "kill-group"),
        }
    }
}

/// A group's policies: what rein does on its own when the group runs too long, uses too
/// much CPU time, stalls, or has a process OOM-killed. See docs/POLICIES.md.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Policy {
    /// Wall-clock time from the start: then SIGTERM to every process of the group, and
    /// after [`Policy::kill_after`] `cgroup.kill`.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_usec")]
    pub timeout: Option<Duration>,
    /// CPU time of the whole group (every process and thread, as the group's CPU
    /// accounting counts it): then the same SIGTERM, grace and kill.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_usec")]
    pub cpu_time: Option<Duration>,
    /// The grace between SIGTERM and the kill at either deadline ([`DEFAULT_KILL_AFTER`]
    /// when None).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_usec")]
    pub kill_after: Option<Duration>,
    /// Pressure rules, each with its own trigger.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub on_pressure: Vec<PressureRule>,
    /// What to do on an OOM kill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_oom: Option<OomAction>,
}

fn opt_usec<S: serde::Serializer>(d: &Option<Duration>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(d.as_micros() as u64),
        None => s.serialize_none(),
    }
}

/// The longest deadline rein accepts: a year (a bound that no timer arithmetic overflows).
const DEADLINE_LIMIT: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses a deadline for `what` (`--timeout`, `--cpu-time`, `--kill-after`): a duration
/// like `1s`, `500ms`, `2m`, `1.5h`. `zero_ok` for a grace of none.
pub fn parse_deadline(what: &str, s: &str, zero_ok: bool) -> Result<Duration> {
    let usec = parse_duration_usec(s).map_err(|e| Error::invalid(what, s, e))?;
    let d = Duration::from_micros(usec);
    if d.is_zero() && !zero_ok {
        return Err(Error::invalid(what, s, "must be above 0"));
    }
    if d > DEADLINE_LIMIT {
        return Err(Error::invalid(what, s, "at most a year"));
    }
    Ok(d)
}

impl Policy {
    /// No policy at all.
    pub fn is_empty(&self) -> bool {
        self.timeout.is_none() && self.cpu_time.is_none() && self.on_pressure.is_empty() && self.on_oom.is_none()
    }

    /// The grace between SIGTERM and the kill.
    pub fn grace(&self) -> Duration {
        self.kill_after.unwrap_or(DEFAULT_KILL_AFTER)
    }

    /// The same policy with `other`'s settings where it has them (rein.toml's defaults
    /// under a group's own keys).
    pub fn merged(&self, other: &Policy) -> Policy {
        Policy {
            timeout: other.timeout.or(self.timeout),
            cpu_time: other.cpu_time.or(self.cpu_time),
            kill_after: other.kill_after.or(self.kill_after),
            on_pressure: if other.on_pressure.is_empty() {
                self.on_pressure.clone()
            } else {
                other.on_pressure.clone()
            },
            on_oom: other.on_oom.clone().or_else(|| self.on_oom.clone()),
        }
    }

    /// Checks what no single value shows: two throttle rules moving the same limit, a
    /// kill-after without a deadline.
    pub fn validate(&self) -> Result<()> {
        let mut throttled = std::collections::BTreeSet::new();
        for r in &self.on_pressure {
            if r.action == PressureAction::Throttle && !throttled.insert(r.throttles()) {
                return Err(Error::invalid(
                    "pressure rule",
                    r.to_string(),
                    format!("another throttle rule moves {} already: give one per limit", r.throttles().name()),
                ));
            }
        }
        if self.kill_after.is_some() && self.timeout.is_none() && self.cpu_time.is_none() {
            return Err(Error::invalid(
                "--kill-after",
                human_usec(self.grace().as_micros() as u64),
                "is the grace after --timeout or --cpu-time, and neither is given",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_print_and_refuse_with_reasons() {
        let r = PressureRule::parse("memory:some:20%/1s=freeze").unwrap();
        assert_eq!(r.trigger.kernel_text(), "some 200000 1000000");
        assert_eq!(r.action, PressureAction::Freeze { max: DEFAULT_FREEZE_MAX });
        assert_eq!(r.to_string(), "memory:some:200ms/1s=freeze");
        assert_eq!(r.throttles(), Throttled::MemoryHigh);
        let r = PressureRule::parse("cpu:full:100ms/1s=freeze:30s").unwrap();
        assert_eq!(r.action, PressureAction::Freeze { max: Duration::from_secs(30) });
        assert_eq!(PressureRule::parse(&r.to_string()).unwrap(), r);
        let r = PressureRule::parse("io:some:10%/2s=notify:logger -t rein a=b").unwrap();
        assert_eq!(r.action, PressureAction::Notify { command: Some("logger -t rein a=b".into()) });
        assert_eq!(r.throttles(), Throttled::CpuMax);
        assert_eq!(PressureRule::parse(&r.to_string()).unwrap(), r);
        assert_eq!(PressureRule::parse("cpu:some:50%/1s=throttle").unwrap().action, PressureAction::Throttle);
        assert_eq!(PressureRule::parse("cpu:some:50%/1s=kill").unwrap().action, PressureAction::Kill);
        for (text, needle) in [
            ("memory:some:20%/1s", "expected RESOURCE"),
            ("memory:some:120%/1s=kill", "at most 100%"),
            ("memory:some:20%/100ms=kill", "between 500ms and 10s"),
            ("memory:some:20%/20s=kill", "between 500ms and 10s"),
            ("memory:some:20%/1s=explode", "unknown action 'explode'"),
            ("memory:some:20%/1s=", "unknown action ''"),
            ("memory:some:20%/1s=kill:9", "takes no argument"),
            ("memory:some:20%/1s=freeze:0s", "above 0"),
            ("memory:some:20%/1s=freeze:2h", "at most 1h"),
            ("memory:some:20%/1s=freeze:soon", "freeze bound"),
            ("memory:some:20%/1s=notify: ", "empty command"),
        ] {
            let e = PressureRule::parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn oom_actions_parse_and_refuse() {
        assert_eq!(OomAction::parse("kill-group").unwrap(), OomAction::KillGroup);
        assert_eq!(OomAction::parse("notify").unwrap(), OomAction::Notify { command: None });
        assert_eq!(OomAction::parse("notify:echo hi").unwrap().to_string(), "notify:echo hi");
        for bad in ["kill", "notify:", "", "kill-group:x"] {
            assert!(OomAction::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deadlines_and_whole_policies_are_checked() {
        assert_eq!(parse_deadline("--timeout", "1.5s", false).unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_deadline("--kill-after", "0", true).unwrap(), Duration::ZERO);
        for (s, needle) in [("0", "above 0"), ("-1s", ""), ("soon", "unit"), ("400d", "unit"), ("9000h", "a year")] {
            let e = parse_deadline("--timeout", s, false).unwrap_err().to_string();
            assert!(e.contains("--timeout") && e.contains(needle), "{s}: {e}");
        }
        let mut p = Policy {
            on_pressure: vec![
                PressureRule::parse("cpu:some:50%/1s=throttle").unwrap(),
                PressureRule::parse("io:some:50%/1s=throttle").unwrap(),
            ],
            ..Policy::default()
        };
        assert!(p.validate().unwrap_err().to_string().contains("moves cpu.max already"));
        p.on_pressure.pop();
        p.validate().unwrap();
        p.kill_after = Some(Duration::from_secs(1));
        assert!(p.validate().unwrap_err().to_string().contains("neither is given"));
        p.timeout = Some(Duration::from_secs(1));
        p.validate().unwrap();
        let q = Policy { cpu_time: Some(Duration::from_secs(5)), ..Policy::default() };
        let m = p.merged(&q);
        assert_eq!((m.timeout, m.cpu_time, m.on_pressure.len()), (p.timeout, q.cpu_time, 1));
    }
}
