//! Pressure stall triggers: `RESOURCE:some|full:THRESHOLD/WINDOW`, checked against what
//! the kernel accepts, and written as the kernel reads them
//! (Documentation/accounting/psi.rst, "Monitoring for pressure thresholds").

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::backend;
use crate::error::{Error, Result};
use crate::units::parse_duration_usec;

/// A resource with pressure stall information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PressureResource {
    /// `cpu.pressure`.
    Cpu,
    /// `memory.pressure`.
    Memory,
    /// `io.pressure`.
    Io,
}

impl PressureResource {
    /// The cgroup2 interface file.
    pub fn file(self) -> &'static str {
        match self {
            PressureResource::Cpu => backend::pressure_file("cpu"),
            PressureResource::Memory => backend::pressure_file("memory"),
            PressureResource::Io => backend::pressure_file("io"),
        }
    }
}

/// Which stall a trigger measures: `some` (at least one task stalled) or `full` (all
/// non-idle tasks stalled at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stall {
    /// At least one task stalled.
    Some,
    /// All non-idle tasks stalled.
    Full,
}

/// A PSI trigger: fire when tasks stalled on `resource` for more than `threshold_usec`
/// within any `window_usec` (Documentation/accounting/psi.rst, "Monitoring for pressure
/// thresholds"). Written as `memory:some:150ms/1s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct PressureTrigger {
    /// The resource.
    pub resource: PressureResource,
    /// `some` or `full`.
    pub stall: Stall,
    /// Stall time that fires the trigger, µs.
    pub threshold_usec: u64,
    /// The window it is measured over, µs.
    pub window_usec: u64,
}

/// The window range every kernel since PSI triggers exist (5.2) accepts.
const WINDOW_MIN_USEC: u64 = 500_000;
const WINDOW_MAX_USEC: u64 = 10_000_000;
/// Without CAP_SYS_RESOURCE the kernel (6.5+) accepts only windows that are multiples of
/// 2 s, served by its regular 2 s averaging work instead of a real-time poller thread.
pub(super) const UNPRIVILEGED_WINDOW_USEC: u64 = 2_000_000;

/// Whether this process may write pressure triggers of any window (CAP_SYS_RESOURCE):
/// the kernel's own poller then checks them. Without it, windows are multiples of 2 s
/// and the kernel's 2 s averaging checks them, where a read of the pressure file just
/// before can swallow an event (docs/POLICIES.md).
pub fn privileged() -> bool {
    rustix::thread::capabilities(None)
        .map(|c| c.effective.contains(rustix::thread::CapabilitySet::SYS_RESOURCE))
        .unwrap_or(false)
}

impl PressureTrigger {
    /// Parses `RESOURCE:some|full:THRESHOLD/WINDOW`, e.g. `memory:some:150ms/1s`, or with
    /// the threshold as a share of the window, `memory:some:15%/1s` (the same trigger).
    /// The window must be 500ms..10s and the threshold above 0 and at most the window.
    pub fn parse(s: &str) -> Result<PressureTrigger> {
        let bad = |reason: &str| Error::invalid("pressure trigger", s, reason);
        let parts: Vec<&str> = s.trim().split(':').collect();
        let [res, stall, times] = parts.as_slice() else {
            return Err(bad("expected RESOURCE:some|full:THRESHOLD/WINDOW, e.g. memory:some:150ms/1s"));
        };
        let resource = match *res {
            "cpu" => PressureResource::Cpu,
            "memory" => PressureResource::Memory,
            "io" => PressureResource::Io,
            _ => return Err(bad("the resource must be cpu, memory or io")),
        };
        let stall = match *stall {
            "some" => Stall::Some,
            "full" => Stall::Full,
            _ => return Err(bad("the stall kind must be 'some' or 'full'")),
        };
        let Some((threshold, window)) = times.split_once('/') else {
            return Err(bad("expected THRESHOLD/WINDOW after the second ':', e.g. 150ms/1s"));
        };
        let window_usec = parse_duration_usec(window).map_err(|e| bad(&format!("window: {e}")))?;
        let threshold_usec = match threshold.trim().strip_suffix('%') {
            // A share of the window: 20%/1s is 200ms/1s.
            Some(pct) => {
                let p: f64 = pct
                    .trim()
                    .parse()
                    .ok()
                    .filter(|p: &f64| p.is_finite())
                    .ok_or_else(|| bad(&format!("threshold: '{threshold}' is not a percentage like 20%")))?;
                if !(p > 0.0 && p <= 100.0) {
                    return Err(bad("the threshold must be above 0% and at most 100% of the window"));
                }
                (window_usec as f64 * p / 100.0).round() as u64
            }
            None => parse_duration_usec(threshold).map_err(|e| bad(&format!("threshold: {e}")))?,
        };
        if !(WINDOW_MIN_USEC..=WINDOW_MAX_USEC).contains(&window_usec) {
            return Err(bad("the window must be between 500ms and 10s (the kernel's range)"));
        }
        if threshold_usec == 0 || threshold_usec > window_usec {
            return Err(bad("the threshold must be above 0 and at most the window"));
        }
        Ok(PressureTrigger { resource, stall, threshold_usec, window_usec })
    }

    /// What is written to the pressure file: `some 150000 1000000`.
    pub fn kernel_text(&self) -> String {
        let stall = match self.stall {
            Stall::Some => "some",
            Stall::Full => "full",
        };
        format!("{stall} {} {}", self.threshold_usec, self.window_usec)
    }
}

impl FromStr for PressureTrigger {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        PressureTrigger::parse(s)
    }
}

fn short_duration(usec: u64) -> String {
    if usec % 1_000_000 == 0 {
        format!("{}s", usec / 1_000_000)
    } else if usec % 1000 == 0 {
        format!("{}ms", usec / 1000)
    } else {
        format!("{usec}us")
    }
}

impl fmt::Display for PressureTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let res = match self.resource {
            PressureResource::Cpu => "cpu",
            PressureResource::Memory => "memory",
            PressureResource::Io => "io",
        };
        let stall = if self.stall == Stall::Some { "some" } else { "full" };
        write!(f, "{res}:{stall}:{}/{}", short_duration(self.threshold_usec), short_duration(self.window_usec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_parse_and_refuse_with_reasons() {
        let t = PressureTrigger::parse("memory:some:150ms/1s").unwrap();
        assert_eq!(t.kernel_text(), "some 150000 1000000");
        assert_eq!(t.to_string(), "memory:some:150ms/1s");
        assert_eq!(PressureTrigger::parse("io:full:1s/10s").unwrap().kernel_text(), "full 1000000 10000000");
        assert_eq!(PressureTrigger::parse("memory:some:20%/1s").unwrap().kernel_text(), "some 200000 1000000");
        assert_eq!(PressureTrigger::parse("cpu:full:100%/2s").unwrap().to_string(), "cpu:full:2s/2s");
        for (text, needle) in [
            ("memory", "expected RESOURCE:some|full"),
            ("disk:some:1s/2s", "cpu, memory or io"),
            ("cpu:most:1s/2s", "'some' or 'full'"),
            ("cpu:some:1s", "THRESHOLD/WINDOW"),
            ("cpu:some:1s/20s", "between 500ms and 10s"),
            ("cpu:some:3s/2s", "at most the window"),
            ("cpu:some:0ms/2s", "above 0"),
            ("cpu:some:x/2s", "threshold:"),
            ("cpu:some:150%/2s", "at most 100%"),
            ("cpu:some:0%/2s", "above 0%"),
            ("cpu:some:x%/2s", "not a percentage"),
            ("cpu:some:nan%/2s", "not a percentage"),
        ] {
            let e = PressureTrigger::parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(e.starts_with("invalid pressure trigger"), "{e}");
        }
    }
}
