//! v1 devices: `devices.deny` and `devices.allow` take rules (`c 1:3 rw`, `a`), applied in
//! order; `devices.list` shows the exceptions to the group's default (only those of a
//! denying default: with an allowing default it shows `a *:* rwm` whatever is denied).
//! Documentation/admin-guide/cgroup-v1/devices.rst.

use crate::devices::{DeviceAccess, DeviceRule, DeviceType, Effective};
use crate::error::{Error, Result};
use crate::plan::Write;
use crate::resources::Resources;

/// devices: allow the rule written (write-only).
pub const DEVICES_ALLOW: &str = "devices.allow";
/// devices: deny the rule written (write-only).
pub const DEVICES_DENY: &str = "devices.deny";
/// devices: the rules in force (the exceptions of a denying default).
pub const DEVICES_LIST: &str = "devices.list";

/// The limit files `rein show` lists.
pub(super) const LIMIT_FILES: &[&str] = &[DEVICES_LIST];

/// The writes that make the group's device access `r.devices`: the default first (`a`
/// to devices.allow or devices.deny, which also clears every exception: the kernel
/// refuses that on a group with child groups), then each exception to the other file.
/// The whole state is written, so a change replaces the rules rather than adding to them.
pub(super) fn writes(r: &Resources, w: &mut Vec<Write>) {
    let Some(access) = &r.devices else { return };
    let state = access.effective(&crate::devices::pts_majors());
    state_writes(&state, w);
}

fn state_writes(state: &Effective, w: &mut Vec<Write>) {
    let (reset, exceptions) =
        if state.default_allow { (DEVICES_ALLOW, DEVICES_DENY) } else { (DEVICES_DENY, DEVICES_ALLOW) };
    w.push(Write::new(reset, "a"));
    for e in &state.exceptions {
        w.push(Write::new(exceptions, e.rule(!state.default_allow).to_string()));
    }
}

/// The device access `devices.list` shows: every device (`a *:* rwm`, an allowing
/// default; what it denies is not shown by the kernel), or the devices allowed.
pub(super) fn read_back(get: &dyn Fn(&str) -> Option<String>, r: &mut Resources) -> Result<()> {
    let Some(text) = get(DEVICES_LIST) else { return Ok(()) };
    let mut rules = Vec::new();
    let mut all = false;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let rule = DeviceRule::parse(line, true).map_err(|e| Error::parse(DEVICES_LIST, format!("'{line}': {e}")))?;
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
    r.devices = Some(DeviceAccess { policy: None, rules: out });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::DevicePolicy;

    #[test]
    fn the_default_first_then_the_exceptions() {
        let access = DeviceAccess {
            policy: Some(DevicePolicy::Strict),
            rules: vec![DeviceRule::parse("c 1:3 rw", true).unwrap(), DeviceRule::parse("b 7:* r", true).unwrap()],
        };
        let mut w = Vec::new();
        state_writes(&access.effective(&[136]), &mut w);
        let shown: Vec<String> = w.iter().map(|w| format!("{} < {}", w.file, w.value)).collect();
        assert_eq!(shown, ["devices.deny < a", "devices.allow < c 1:3 rw", "devices.allow < b 7:* r"]);
        let deny = DeviceAccess { policy: None, rules: vec![DeviceRule::parse("c 1:5 rwm", false).unwrap()] };
        let mut w = Vec::new();
        state_writes(&deny.effective(&[]), &mut w);
        let shown: Vec<String> = w.iter().map(|w| format!("{} < {}", w.file, w.value)).collect();
        assert_eq!(shown, ["devices.allow < a", "devices.deny < c 1:5 rwm"]);
    }

    #[test]
    fn devices_list_reads_back_as_rules() {
        let mut r = Resources::new();
        read_back(&|f| (f == DEVICES_LIST).then(|| "c 1:3 rw\nb 7:* r\n".to_string()), &mut r).unwrap();
        let text: Vec<String> = r.devices.unwrap().rules.iter().map(DeviceRule::to_text).collect();
        assert_eq!(text, ["deny a *:* rwm", "allow c 1:3 rw", "allow b 7:* r"]);
        let mut r = Resources::new();
        read_back(&|f| (f == DEVICES_LIST).then(|| "a *:* rwm\n".to_string()), &mut r).unwrap();
        assert_eq!(r.devices.unwrap().rules.iter().map(DeviceRule::to_text).collect::<Vec<_>>(), ["allow a *:* rwm"]);
    }
}
