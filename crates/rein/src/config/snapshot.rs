//! `rein snapshot`: the live groups written as a rein.toml that `rein apply` reproduces.
//!
//! Each group's limits are read back from the kernel into rein's model (the same reading
//! `rein show` uses, [`crate::inspect::inspect`]) and written as the file's limit keys
//! ([`settings_of`]; a v1 group's `cpu.shares` as `cpu-shares`, in its own unit, so it
//! applies back exactly); child groups nest as `[groups.a.groups.b]`. v1 settings outside
//! the model that a child does not inherit unchanged (`memory.swappiness` unlike the
//! parent's) go in the group's `files` table, as libcgroup's cgsnapshot keeps them. What is the kernel's
//! default (`max`, weight 100, no protection, a CPU or memory-node list the group
//! inherits from its parent) is not written, so applying the file changes nothing on
//! the host it was taken from. Device access is read back as `rein show` reads it (v1's
//! `devices.list`; on cgroup2 rein's program, as are the network settings) and written
//! as `device-policy`/`device-allow` (the effective rules: a `strict` policy and every
//! device allowed) and the `net-*` keys; a v1 `devices.list` equal to the parent's is
//! what the kernel copied on mkdir, and is not written. Left out: device rules that
//! deny after allowing every device (only libcgroup's `devices.deny` makes them, and
//! v1's `devices.list` does not show them; rein.toml allows, the policy denies the
//! rest), and the frozen state (no limit). A `devices.list` rein cannot parse is an
//! error naming the file.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::model::{Config, GroupConfig, Key, Settings, Value};
use crate::cgroupfs::GroupPath;
use crate::devices::{DeviceAccess, DevicePolicy, DeviceRule, DeviceType};
use crate::error::{Error, Result};
use crate::group::Group;
use crate::hierarchy::Hierarchy;
use crate::inspect;
use crate::mark::Mark;
use crate::procfs::ProcTable;
use crate::resources::Resources;
use crate::units::{Limit, Shares, Weight};

/// Writes the live groups beneath `parent` as a [`Config`] whose `parent` is `parent`.
///
/// With no `groups`, every group rein made beneath `parent` (marked `named`, `parent`
/// or `config`; the transient groups of `rein run` are skipped), with the groups on the
/// way to them. With `groups` (paths relative to `parent`), those groups and every group
/// beneath them. A group that does not exist, or a transient one named, is an error and
/// nothing is returned.
pub fn snapshot(h: &Arc<Hierarchy>, parent: &GroupPath, groups: &[GroupPath]) -> Result<Config> {
    if !parent.is_root() {
        Group::open(h.clone(), parent)?;
    }
    let procs = ProcTable::default();
    let transient = |m: &Option<Mark>| matches!(m, Some(Mark::Transient { .. }));
    let mut chosen: BTreeSet<GroupPath> = BTreeSet::new();
    let under = (!parent.is_root()).then_some(parent);
    if groups.is_empty() {
        for e in inspect::list(h, under, &procs)? {
            if e.owner.is_some() && !transient(&e.owner) {
                chosen.insert(GroupPath::parse(&e.group)?);
            }
        }
    } else {
        for g in groups {
            let full = parent.join(g.as_str())?;
            let group = Group::open(h.clone(), &full)?;
            if let Some(m @ Mark::Transient { .. }) = group.mark()? {
                return Err(Error::state(
                    format!("group {full} is a transient group of 'rein run' ({m})"),
                    Some("snapshot the groups that outlive their command: 'rein create' or rein.toml ones".into()),
                ));
            }
            chosen.insert(full.clone());
            for e in inspect::list(h, Some(&full), &procs)? {
                if !transient(&e.owner) {
                    chosen.insert(GroupPath::parse(&e.group)?);
                }
            }
        }
    }
    // The groups on the way to a chosen one are written too (without their limits,
    // unless they are chosen themselves), so the file's tree is whole.
    let mut on_the_way: BTreeSet<GroupPath> = BTreeSet::new();
    for g in &chosen {
        for a in g.lineage() {
            if a.starts_with(parent) && a != *parent && !chosen.contains(&a) {
                on_the_way.insert(a);
            }
        }
    }
    let mut limits: BTreeMap<GroupPath, Resources> = BTreeMap::new();
    let mut read = |path: &GroupPath| -> Result<Resources> {
        if let Some(r) = limits.get(path) {
            return Ok(r.clone());
        }
        let r = inspect::inspect(&Group::open(h.clone(), path)?, &procs)?.limits;
        limits.insert(path.clone(), r.clone());
        Ok(r)
    };
    let mut config = Config { parent: (!parent.is_root()).then(|| parent.as_str().to_string()), ..Config::default() };
    for g in chosen.iter().chain(&on_the_way) {
        let mut settings = Settings::default();
        if chosen.contains(g) {
            let own = match read(g) {
                Ok(r) => r,
                // A group removed between the listing and the reading is not written,
                // unless it was named.
                Err(_) if groups.is_empty() && Group::open(h.clone(), g).is_err() => continue,
                Err(e) => return Err(e),
            };
            // A v1 cpuset child starts with its parent's lists (rein copies them, as the
            // kernel requires), and a v1 devices child with its parent's rules (the kernel
            // copies them on mkdir); on cgroup2 an empty list is the inherited one, and a
            // group's device program is its own, so what is there was written. The root's
            // limits are not all readable: then nothing is compared.
            let v1 = |c| matches!(h.binding(c), Some(crate::hierarchy::Binding::V1(_)));
            let (v1_cpuset, v1_devices) = (v1(crate::Controller::Cpuset), v1(crate::Controller::Devices));
            let inherited = if v1_cpuset || v1_devices {
                g.parent().and_then(|p| read(&p).ok()).map(|mut p| {
                    if !v1_cpuset {
                        p.cpuset = Default::default();
                    }
                    if !v1_devices {
                        p.devices = None;
                    }
                    p
                })
            } else {
                None
            };
            settings = settings_of(&own, inherited.as_ref());
            settings.files = v1_unmodelled(h, g);
        }
        set_settings(&mut config.groups, g, parent, settings);
    }
    Ok(config)
}

/// The v1 settings outside rein's model that `g` holds unlike its parent
/// ([`crate::backend::V1_UNMODELLED_SETTINGS`]: `memory.swappiness`), as rein.toml's
/// `files`; nothing where the controller is not on v1 or a file cannot be read.
fn v1_unmodelled(h: &Hierarchy, g: &GroupPath) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for &(controller, file) in crate::backend::V1_UNMODELLED_SETTINGS {
        let Some(crate::hierarchy::Binding::V1(m)) = h.binding(controller) else { continue };
        let read = |p: &GroupPath| m.mount.read(p, file).ok().map(|t| t.trim().to_string());
        let Some(own) = read(g) else { continue };
        if g.parent().and_then(|p| read(&p)).as_ref() != Some(&own) {
            let value = own.parse::<i64>().map_or_else(|_| Value::Text(own.clone()), Value::Integer);
            out.insert(file.to_string(), value);
        }
    }
    out
}

/// Whether two device accesses make the same state (a default and the same exceptions,
/// in any order: a v1 child lists its parent's rules as it copied them, then its own).
fn same_state(a: &DeviceAccess, b: &DeviceAccess) -> bool {
    let (a, b) = (a.effective(&[]), b.effective(&[]));
    let set = |e: &crate::devices::Effective| e.exceptions.iter().copied().collect::<std::collections::HashSet<_>>();
    a.default_allow == b.default_allow && set(&a) == set(&b)
}

/// The file's text: `config` as TOML, nested groups as `[groups.a.groups.b]`.
pub fn to_toml(config: &Config) -> Result<String> {
    toml::to_string(config).map_err(|e| Error::state(format!("cannot write the groups as TOML: {e}"), None))
}

/// Puts `settings` on the table of `g` (relative to `parent`), making the tables on the way.
fn set_settings(groups: &mut BTreeMap<String, GroupConfig>, g: &GroupPath, parent: &GroupPath, settings: Settings) {
    let rel = g.as_str().strip_prefix(parent.as_str()).unwrap_or("");
    let mut parts = rel.split('/').filter(|s| !s.is_empty()).peekable();
    let mut table = groups;
    while let Some(part) = parts.next() {
        let e = table.entry(part.to_string()).or_default();
        if parts.peek().is_none() {
            if !settings.is_empty() {
                e.settings = settings;
            }
            return;
        }
        table = &mut e.groups;
    }
}

/// A group's limits as rein.toml limit keys, leaving out the kernel's defaults (`max`,
/// weight 100, no memory protection, `oom-group` off) and the CPU and memory-node lists
/// and device access equal to `inherited`'s (give the parent's where a child starts
/// with them: cgroup v1; leave out a field to compare nothing there).
/// Device access is written as `device-policy` (unless `auto`, what rules alone mean)
/// and `device-allow`, unless a rule denies (rein.toml has no key for one); network
/// settings as `net-egress`, `net-ingress`, `net-priority`, `net-classid`. `freeze` is
/// not written.
pub fn settings_of(r: &Resources, inherited: Option<&Resources>) -> Settings {
    let mut s = Settings::default();
    let mut put = |k: Key, v: Value| {
        s.limits.insert(k, v);
    };
    let int = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    if let Some(Limit::Value(b)) = r.memory.max {
        put(Key::Memory, b.to_string().into());
    }
    if let Some(Limit::Value(b)) = r.memory.high {
        put(Key::MemoryHigh, b.to_string().into());
    }
    if let Some(b) = r.memory.low.filter(|b| b.0 > 0) {
        put(Key::MemoryLow, b.to_string().into());
    }
    if let Some(b) = r.memory.min.filter(|b| b.0 > 0) {
        put(Key::MemoryMin, b.to_string().into());
    }
    if let Some(Limit::Value(b)) = r.memory.swap_max {
        put(Key::Swap, b.to_string().into());
    }
    if r.memory.oom_group == Some(true) {
        put(Key::OomGroup, true.into());
    }
    if r.memory.oom_kill_disable == Some(true) {
        put(Key::OomKillDisable, true.into());
    }
    if let Some(m) = r.cpu.max {
        if let Limit::Value(q) = m.quota {
            put(Key::Cpu, format!("{q}/{}", m.period).into());
        }
    }
    if let Some(w) = r.cpu.weight.filter(|w| *w != Weight::DEFAULT) {
        put(Key::CpuWeight, int(w.get()));
    }
    // v1 reads back shares; as a weight 2 would become 1, which writes back as 10.
    if let Some(sh) = r.cpu.shares.filter(|sh| *sh != Shares::DEFAULT) {
        put(Key::CpuShares, int(sh.get()));
    }
    let parent_cpus = inherited.and_then(|p| p.cpuset.cpus.as_ref());
    if let Some(c) = r.cpuset.cpus.as_ref().filter(|c| Some(*c) != parent_cpus) {
        put(Key::Cpuset, c.to_string().into());
    }
    let parent_mems = inherited.and_then(|p| p.cpuset.mems.as_ref());
    if let Some(c) = r.cpuset.mems.as_ref().filter(|c| Some(*c) != parent_mems) {
        put(Key::Mems, c.to_string().into());
    }
    if let Some(w) = r.io.weight.filter(|w| *w != Weight::DEFAULT) {
        put(Key::IoWeight, int(w.get()));
    }
    let io: Vec<Value> =
        r.io.max
            .iter()
            .filter_map(|m| {
                let keys: Vec<String> = [("rbps", m.rbps), ("wbps", m.wbps), ("riops", m.riops), ("wiops", m.wiops)]
                    .into_iter()
                    .filter_map(|(k, v)| match v {
                        Some(Limit::Value(n)) => Some(format!("{k}={n}")),
                        _ => None,
                    })
                    .collect();
                (!keys.is_empty()).then(|| Value::Text(format!("{}:{}", m.device, keys.join(","))))
            })
            .collect();
    if !io.is_empty() {
        put(Key::IoMax, Value::List(io));
    }
    if let Some(Limit::Value(n)) = r.pids.max {
        put(Key::Pids, int(n));
    }
    let allow_list =
        |rules: &[DeviceRule]| Value::List(rules.iter().map(|rule| Value::Text(rule.to_string())).collect());
    let inherited_devices = inherited.and_then(|p| p.devices.as_ref());
    if let Some(d) = r.devices.as_ref().filter(|d| !inherited_devices.is_some_and(|p| same_state(d, p))) {
        match (d.policy, d.rules.split_first()) {
            // As cgroup2's program reads back (v1's form): every device denied, then
            // these allowed, the pseudo devices of a closed policy among them. `strict`
            // with the same list makes the same program.
            (None, Some((first, rest)))
                if first.kind == DeviceType::All && !first.allow && rest.iter().all(|rule| rule.allow) =>
            {
                put(Key::DevicePolicy, DevicePolicy::Strict.as_str().into());
                if !rest.is_empty() {
                    put(Key::DeviceAllow, allow_list(rest));
                }
            }
            // As rein.toml gives it: a policy (`auto` is what rules alone mean), rules that allow.
            (Some(p), _) if d.rules.iter().all(|rule| rule.allow) => {
                if p != DevicePolicy::Auto {
                    put(Key::DevicePolicy, p.as_str().into());
                }
                if !d.rules.is_empty() {
                    put(Key::DeviceAllow, allow_list(&d.rules));
                }
            }
            // Every device (v1's starting point), or rules that deny after allowing
            // everything (libcgroup's devices.deny): no limit, or no key for it.
            _ => {}
        }
    }
    let n = &r.network;
    if let Some(Limit::Value(rate)) = n.egress {
        put(Key::NetEgress, rate.to_string().into());
    }
    if let Some(Limit::Value(rate)) = n.ingress {
        put(Key::NetIngress, rate.to_string().into());
    }
    if let Some(p) = n.priority.as_ref().filter(|p| p.priority != 0 || p.interface.is_some()) {
        let text = match &p.interface {
            Some(i) => format!("{i} {}", p.priority),
            None => p.priority.to_string(),
        };
        put(Key::NetPriority, text.into());
    }
    if let Some(c) = n.classid {
        put(Key::NetClassid, c.to_string().into());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::Context;
    use crate::resources::CpuMax;
    use crate::units::{Bytes, CpuList};

    fn v2(files: &[(&str, &str)]) -> Resources {
        inspect::read_limits(&files.iter().copied().collect()).unwrap()
    }

    #[test]
    fn defaults_are_not_written() {
        let r = v2(&[
            ("memory.max", "max"),
            ("memory.high", "max"),
            ("memory.low", "0"),
            ("memory.min", "0"),
            ("memory.swap.max", "max"),
            ("memory.oom.group", "0"),
            ("cpu.max", "max 100000"),
            ("cpu.weight", "100"),
            ("io.weight", "default 100"),
            ("pids.max", "max"),
            ("cgroup.freeze", "0"),
        ]);
        assert_eq!(settings_of(&r, None), Settings::default());
    }

    #[test]
    fn limits_become_keys_that_resolve_to_the_same_limits() {
        let r = v2(&[
            ("memory.max", "268435456"),
            ("memory.high", "201326592"),
            ("memory.low", "4097"),
            ("cpu.max", "35000 100000"),
            ("cpu.weight", "200"),
            ("cpuset.cpus", "0"),
            ("io.max", "7:0 rbps=max wbps=1048576 riops=max wiops=20"),
            ("pids.max", "64"),
        ]);
        let s = settings_of(&r, None);
        assert_eq!(s.limits[&Key::Memory], Value::from("256M"));
        assert_eq!(s.limits[&Key::Cpu], Value::from("35000/100000"));
        assert_eq!(s.limits[&Key::Pids], Value::Integer(64));
        assert_eq!(s.limits[&Key::IoMax], Value::List(vec!["7:0:wbps=1048576,wiops=20".into()]));
        // Through the file and back: the same model.
        let mut c = Config::default();
        c.groups.insert("a".into(), GroupConfig { settings: s, ..GroupConfig::default() });
        let text = toml::to_string(&c).unwrap();
        let again: Config = toml::from_str(&text).unwrap();
        let resolved = again.resolve(&Context::host()).unwrap();
        let mut back = resolved.groups[0].resources.clone();
        assert_eq!(back.memory.max, Some(Limit::Value(Bytes::mib(256))));
        assert_eq!(back.cpu.max, Some(CpuMax { quota: Limit::Value(35_000), period: 100_000 }));
        assert_eq!(back.cpuset.cpus, Some(CpuList::parse_nonempty("0").unwrap()));
        back.memory.swap_max = r.memory.swap_max;
        back.freeze = r.freeze;
        let mut want = r.clone();
        want.io.max[0].rbps = None;
        want.io.max[0].riops = None;
        assert_eq!(back, want);
    }

    /// A v1 group's shares are written as `cpu-shares`, which applies to the same shares
    /// (as a weight, shares 2 were `cpu-weight = 1`, which v1 writes as 10).
    #[test]
    fn v1_shares_come_back_exactly() {
        for n in [2, 100, 1000, 262_144] {
            let r = v2(&[("cpu.shares", &n.to_string())]);
            let s = settings_of(&r, None);
            assert_eq!(s.limits.keys().collect::<Vec<_>>(), [&Key::CpuShares], "{n}");
            let mut c = Config::default();
            c.groups.insert("a".into(), GroupConfig { settings: s, ..GroupConfig::default() });
            let again: Config = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
            let back = again.resolve(&Context::host()).unwrap().groups[0].resources.clone();
            assert_eq!(back.cpu.shares_v1(), Some(n));
        }
        assert!(settings_of(&v2(&[("cpu.shares", "1024")]), None).is_empty());
    }

    #[test]
    fn device_access_and_network_settings_become_keys_that_resolve_to_the_same() {
        use crate::devices::DeviceAccess;
        use crate::network::{ClassId, NetPriority};
        use crate::units::Rate;
        let mut r = Resources {
            devices: Some(DeviceAccess {
                policy: Some(DevicePolicy::Closed),
                rules: vec![DeviceRule::parse("c 1:3 rw", true).unwrap(), DeviceRule::parse("b 7:* r", true).unwrap()],
            }),
            ..Resources::default()
        };
        r.network.egress = Some(Limit::Value(Rate::parse("10mbit").unwrap()));
        r.network.ingress = Some(Limit::Max);
        r.network.priority = Some(NetPriority { priority: 5, interface: Some("lo".into()) });
        let s = settings_of(&r, None);
        assert_eq!(s.limits[&Key::DevicePolicy], Value::from("closed"));
        assert_eq!(s.limits[&Key::DeviceAllow], Value::List(vec!["c 1:3 rw".into(), "b 7:* r".into()]));
        assert_eq!(s.limits[&Key::NetEgress], Value::from("10mbit"));
        assert!(!s.limits.contains_key(&Key::NetIngress));
        assert_eq!(s.limits[&Key::NetPriority], Value::from("lo 5"));
        let mut c = Config::default();
        c.groups.insert("a".into(), GroupConfig { settings: s, ..GroupConfig::default() });
        let again: Config = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        let back = again.resolve(&Context::host()).unwrap().groups[0].resources.clone();
        assert_eq!(back.devices, r.devices);
        assert_eq!(
            (back.network.egress, back.network.priority.clone()),
            (r.network.egress, r.network.priority.clone())
        );
        // A class id instead of a priority (the two exclude each other).
        let classid = Resources {
            network: crate::network::Network { classid: Some(ClassId::parse("1:10").unwrap()), ..Default::default() },
            ..Resources::default()
        };
        assert_eq!(settings_of(&classid, None).limits[&Key::NetClassid], Value::from("1:10"));
        // As the kernel's program reads back: deny all, then allow.
        let read = DeviceAccess {
            policy: None,
            rules: vec![DeviceRule::parse("a", false).unwrap(), DeviceRule::parse("c 1:3 rw", true).unwrap()],
        };
        let s = settings_of(&Resources { devices: Some(read), ..Resources::default() }, None);
        assert_eq!(s.limits[&Key::DevicePolicy], Value::from("strict"));
        assert_eq!(s.limits[&Key::DeviceAllow], Value::List(vec!["c 1:3 rw".into()]));
        // A rule that denies has no key: the group's device access is left out.
        r.devices.as_mut().unwrap().rules.push(DeviceRule::parse("c 1:5 rwm", false).unwrap());
        assert!(!settings_of(&r, None).limits.contains_key(&Key::DeviceAllow));
        // Auto with no rule, and v1's starting point: no limit, nothing written.
        r.devices = Some(DeviceAccess { policy: Some(DevicePolicy::Auto), rules: vec![] });
        assert!(!settings_of(&r, None).limits.keys().any(|k| matches!(k, Key::DevicePolicy | Key::DeviceAllow)));
    }

    #[test]
    fn v1_device_rules_the_parent_has_too_are_inherited() {
        let list =
            |t: &str| Resources { devices: Some(DeviceAccess::from_v1_list(t).unwrap()), ..Resources::default() };
        let keys = |s: &Settings| s.limits.keys().copied().collect::<Vec<_>>();
        let parent = list("c 1:3 rwm\nc 1:11 r\n");
        // The same rules in another order (a v1 child lists what it copied, then its own).
        assert!(settings_of(&list("c 1:11 r\nc 1:3 rwm\n"), Some(&parent)).is_empty());
        let own = settings_of(&list("c 1:3 rw\n"), Some(&parent));
        assert_eq!(keys(&own), [Key::DeviceAllow, Key::DevicePolicy]);
        assert_eq!(own.limits[&Key::DeviceAllow], Value::List(vec!["c 1:3 rw".into()]));
        // Every device (v1's default, the root's): nothing, with a parent or without.
        let all = list("a *:* rwm\n");
        assert!(settings_of(&all, Some(&all)).is_empty());
        assert!(settings_of(&all, None).is_empty());
        // No access at all (an empty list: deny everything) is not the parent's either.
        let none = settings_of(&list(""), Some(&parent));
        assert_eq!(keys(&none), [Key::DevicePolicy]);
    }

    /// A v1 fake tree with a devices hierarchy and these groups beneath `p` with these
    /// `devices.list`s (`p` and the root allow every device).
    fn devices_tree(lists: &[(&str, &str)]) -> crate::testing::FakeTree {
        use crate::testing::{FakeTree, Layout};
        let tree = FakeTree::new(Layout::V1);
        let devices = tree.path().join("devices");
        let put = |dir: &std::path::Path, list: &str| {
            std::fs::create_dir_all(dir).unwrap();
            for (f, v) in [("cgroup.procs", ""), ("tasks", ""), ("devices.list", list)] {
                std::fs::write(dir.join(f), v).unwrap();
            }
        };
        put(&devices, "a *:* rwm\n");
        put(&devices.join("p"), "a *:* rwm\n");
        for (g, list) in lists {
            tree.group(&format!("p/{g}"));
            put(&devices.join("p").join(g), list);
        }
        tree
    }

    #[test]
    fn a_v1_snapshot_writes_the_device_rules_a_group_has_of_its_own() {
        // `t` allows two devices, `t/in` took them on mkdir, `t/own` narrowed them, `u`
        // allows every device.
        let tree = devices_tree(&[
            ("t", "c 1:3 rwm\nc 1:11 r\n"),
            ("t/in", "c 1:11 r\nc 1:3 rwm\n"),
            ("t/own", "c 1:3 rw\n"),
            ("u", "a *:* rwm\n"),
        ]);
        let h = tree.hierarchy();
        let names: Vec<GroupPath> = ["t", "u"].iter().map(|g| GroupPath::parse(g).unwrap()).collect();
        let c = snapshot(&h, &GroupPath::parse("p").unwrap(), &names).unwrap();
        let text = to_toml(&c).unwrap();
        let t = &c.groups["t"];
        assert_eq!(t.settings.limits[&Key::DevicePolicy], Value::from("strict"), "{text}");
        assert_eq!(t.settings.limits[&Key::DeviceAllow], Value::List(vec!["c 1:3 rwm".into(), "c 1:11 r".into()]));
        assert!(t.groups["in"].settings.is_empty(), "{text}");
        assert_eq!(t.groups["own"].settings.limits[&Key::DeviceAllow], Value::List(vec!["c 1:3 rw".into()]));
        assert!(c.groups["u"].settings.is_empty(), "{text}");
    }

    #[test]
    fn a_devices_list_in_a_form_rein_does_not_know_is_an_error_naming_the_file() {
        let tree = devices_tree(&[("t", "c 1:3 rwm\nx 1:3 rwm\n")]);
        let h = tree.hierarchy();
        let e = snapshot(&h, &GroupPath::parse("p").unwrap(), &[GroupPath::parse("t").unwrap()]).unwrap_err();
        let file = tree.path().join("devices/p/t/devices.list");
        let want = format!("cannot parse {}: 'x 1:3 rwm': unknown device type 'x'", file.display());
        assert!(e.to_string().starts_with(&want), "{e}");
    }

    #[test]
    fn a_cpu_list_the_parent_has_too_is_inherited() {
        let parent = v2(&[("cpuset.cpus", "0-1"), ("cpuset.mems", "0")]);
        let child = v2(&[("cpuset.cpus", "0-1"), ("cpuset.mems", "0")]);
        assert!(settings_of(&child, Some(&parent)).is_empty());
        let pinned = v2(&[("cpuset.cpus", "1"), ("cpuset.mems", "0")]);
        assert_eq!(settings_of(&pinned, Some(&parent)).limits[&Key::Cpuset], Value::from("1"));
    }

    #[test]
    fn nested_groups_are_nested_tables() {
        let mut groups = BTreeMap::new();
        let p = GroupPath::parse("t").unwrap();
        set_settings(&mut groups, &GroupPath::parse("t/a/b").unwrap(), &p, Settings::default().with(Key::Pids, 5));
        set_settings(&mut groups, &GroupPath::parse("t/a").unwrap(), &p, Settings::default());
        let c = Config { groups, ..Config::default() };
        let text = toml::to_string(&c).unwrap();
        assert!(text.contains("[groups.a.groups.b]\npids = 5"), "{text}");
    }
}
