//! v1 devices: `devices.deny` and `devices.allow` take rules (`c 1:3 rw`, `a`), applied in
//! order; `devices.list` shows the exceptions to the group's default (only those of a
//! denying default: with an allowing default it shows `a *:* rwm` whatever is denied).
//! Documentation/admin-guide/cgroup-v1/devices.rst.

use super::core::Current;
use crate::devices::{DeviceAccess, Effective};
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

/// The key under which [`Current`] answers the parent's `devices.list`.
pub const PARENT_DEVICES_LIST: &str = "../devices.list";

/// The writes that make the group's device access `r.devices`, within its parent's.
///
/// A v1 group can only narrow its parent's access (the kernel refuses, with EPERM, an
/// exception the parent does not allow whole): when the parent denies by default, the
/// state written is the wanted one intersected with the parent's, which is what the
/// kernel enforces on cgroup v2 too (every program up the tree must allow).
///
/// On an existing group whose list shows a denying default that stays, only the
/// difference is written: exceptions no longer wanted to `devices.deny`, new ones to
/// `devices.allow`, never a moment with more access than before or after. Otherwise the
/// default is written first (`a`, which also clears every exception: the kernel refuses
/// that on a group with child groups), then each exception to the other file.
pub(super) fn writes(r: &Resources, current: Current<'_>, w: &mut Vec<Write>) {
    let Some(access) = &r.devices else { return };
    let mut state = access.effective(&crate::devices::pts_majors());
    if let Some(parent) = current(PARENT_DEVICES_LIST).as_deref().and_then(Effective::from_v1_list) {
        state = state.within(&parent);
    }
    match current(DEVICES_LIST).as_deref().and_then(Effective::from_v1_list).and_then(|now| now.v1_changes_to(&state)) {
        Some(rules) => w.extend(
            rules.iter().map(|r| Write::new(if r.allow { DEVICES_ALLOW } else { DEVICES_DENY }, r.to_string())),
        ),
        None => state_writes(&state, w),
    }
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
    r.devices = Some(DeviceAccess::from_v1_list(&text).map_err(|e| Error::parse(DEVICES_LIST, e))?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{DevicePolicy, DeviceRule};

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

    fn planned(r: &Resources, group: Option<&str>, parent: Option<&str>) -> Vec<String> {
        let current = |f: &str| match f {
            PARENT_DEVICES_LIST => parent.map(str::to_string),
            DEVICES_LIST => group.map(str::to_string),
            _ => None,
        };
        let mut w = Vec::new();
        writes(r, &current, &mut w);
        w.iter().map(|w| format!("{} < {}", w.file, w.value)).collect()
    }

    fn wanted(policy: DevicePolicy, allow: &[&str]) -> Resources {
        let mut r = Resources::new();
        r.devices = Some(DeviceAccess {
            policy: Some(policy),
            rules: allow.iter().map(|a| DeviceRule::parse(a, true).unwrap()).collect(),
        });
        r
    }

    #[test]
    fn a_live_change_writes_only_the_difference() {
        let r = wanted(DevicePolicy::Strict, &["c 1:3 rw", "c 1:5 r"]);
        assert_eq!(planned(&r, Some("c 1:3 rw\n"), None), ["devices.allow < c 1:5 r"]);
        assert_eq!(planned(&r, Some("c 1:3 rw\nc 1:5 r\n"), None), Vec::<String>::new());
        assert_eq!(
            planned(&r, Some("c 1:3 rwm\n"), None),
            ["devices.deny < c 1:3 rwm", "devices.allow < c 1:3 rw", "devices.allow < c 1:5 r"]
        );
        // An allowing default (its denied devices unknown) is reset.
        assert_eq!(planned(&r, Some("a *:* rwm\n"), None)[0], "devices.deny < a");
    }

    #[test]
    fn a_group_gets_what_its_parent_allows_of_what_it_wants() {
        // closed (null and the others rwm, the pts rw) under a parent allowing c 1:3 rw and
        // c 1:5 r: the intersection, which is all the kernel would let the child have.
        let r = wanted(DevicePolicy::Closed, &["b 7:0 r"]);
        let w = planned(&r, None, Some("c 1:3 rw\nc 1:5 r\n"));
        assert_eq!(w, ["devices.deny < a", "devices.allow < c 1:3 rw", "devices.allow < c 1:5 r"]);
        // Every device but 1:5 under a parent allowing c 1:* rw: c 1:* less what a deny touches.
        let mut r = Resources::new();
        r.devices = Some(DeviceAccess { policy: None, rules: vec![DeviceRule::parse("c 1:5 w", false).unwrap()] });
        assert_eq!(planned(&r, None, Some("c 1:* rw\n")), ["devices.deny < a", "devices.allow < c 1:* r"]);
        // Under a parent that allows by default: unchanged.
        let r = wanted(DevicePolicy::Strict, &["c 1:3 rw"]);
        assert_eq!(planned(&r, None, Some("a *:* rwm\n")), ["devices.deny < a", "devices.allow < c 1:3 rw"]);
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
