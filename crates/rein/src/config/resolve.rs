//! From what a file says to what it means: every value checked, every vocabulary
//! translated, defaults and templates merged, per group one [`Resources`].
//!
//! Checking goes key by key, so one pass finds every mistake, not only the first; each
//! [`Problem`] names the key path it is about, which the loader turns into a file, line
//! and column. Nothing here reads the cgroup tree: a file means the same on every host
//! (only device paths and systemd's percentages of memory and tasks are host figures,
//! injected through [`Context`]).
//!
//! Merging: a group's limits are the defaults, overlaid by its templates in order,
//! overlaid by its own table, setting by setting (the field, whatever the vocabulary: a
//! group's `cpus = 1.5` replaces a default `cpu = "20%"`). Inside one table a setting
//! given in two vocabularies (`memory` and `systemd.MemoryMax`) is a mistake.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::cgroupfs::GroupPath;
use crate::compat::raw;
use crate::compat::systemd::{self, HostFacts};
use crate::error::{Error, Result};
use crate::flags::Flags;
use crate::policy::{OomAction, Policy, PressureRule, parse_deadline};
use crate::resources::Resources;
use crate::units::{CpuList, DeviceNumber};

use super::model::{Config, GroupConfig, Key, Settings, Shape, Value};

/// What the checks may ask the host: device numbers for device paths, and the figures
/// systemd's percentages are relative to.
pub struct Context<'a> {
    /// Physical memory, page size and task limit (systemd's `MemoryMax = "50%"`).
    pub facts: &'a dyn Fn() -> HostFacts,
    /// A device path (`/dev/sda`) or `MAJ:MIN` to its number.
    pub device: &'a dyn Fn(&str) -> Result<DeviceNumber>,
}

impl Context<'static> {
    /// This host's figures and devices.
    pub fn host() -> Context<'static> {
        Context { facts: &HostFacts::detect, device: &crate::device::resolve }
    }
}

/// One mistake in a file: where (a key path such as `groups.db.memory`) and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The key path: `["groups", "db", "memory"]`.
    pub at: Vec<String>,
    /// What is wrong, and what is allowed.
    pub message: String,
    /// About the key itself (unknown, misplaced) rather than its value.
    #[serde(skip)]
    pub on_key: bool,
}

impl Problem {
    /// A problem with the value at `at`.
    pub fn value(at: &[String], message: impl Into<String>) -> Problem {
        Problem { at: at.to_vec(), message: message.into(), on_key: false }
    }

    /// A problem with the key at `at`.
    pub fn key(at: &[String], message: impl Into<String>) -> Problem {
        Problem { at: at.to_vec(), message: message.into(), on_key: true }
    }

    /// The key path as written: `groups.db.memory`.
    pub fn path(&self) -> String {
        dotted(&self.at)
    }
}

/// A key path as written in TOML (`groups.db."memory.max"`).
pub(crate) fn dotted(at: &[String]) -> String {
    at.iter()
        .map(|k| {
            if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                k.clone()
            } else {
                format!("{k:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A checked file: its groups in rein's model, parents before children.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Resolved {
    /// The file's `name`, if it has one.
    pub name: Option<String>,
    /// The group every group lives under (the hierarchy root when None).
    pub parent: Option<GroupPath>,
    /// Every group, parents before children, siblings by name.
    pub groups: Vec<Declared>,
}

/// One group of a checked file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Declared {
    /// Its path below the file's parent (`api/worker`).
    pub path: GroupPath,
    /// The key path of its table (`groups.api.groups.worker`).
    pub at: Vec<String>,
    /// Its limits: defaults, templates and its own table merged.
    pub resources: Resources,
    /// Interface files rein does not model (`memory.swappiness`), written as given where
    /// the running mode has them.
    pub raw: Vec<(String, String)>,
    /// Which key set each limit (by the names of [`Resources::fields`]), for messages.
    pub origins: BTreeMap<&'static str, Vec<String>>,
    /// The command `apply --start` starts in it.
    pub command: Option<Vec<String>>,
    /// Where the command's output goes.
    pub log: Option<PathBuf>,
    /// Whether it has child groups in the file.
    pub has_children: bool,
    /// Its policies (`rein supervise` enforces them; `rein apply` makes the group only).
    pub policy: Policy,
}

/// A table's settings, checked: its limits, raw writes, and which key set what.
#[derive(Debug, Clone, Default)]
struct Layer {
    resources: Resources,
    raw: Vec<(String, String)>,
    origins: BTreeMap<&'static str, Vec<String>>,
}

/// A group table's policy keys, each checked by the parsers `rein run`'s flags use.
fn policy(g: &GroupConfig, here: &[String], out: &mut Vec<Problem>) -> Policy {
    let mut p = Policy::default();
    let deadline = |key: &str, v: &Option<String>, zero_ok: bool, out: &mut Vec<Problem>| {
        let v = v.as_ref()?;
        parse_deadline(key, v, zero_ok).map_err(|e| out.push(Problem::value(&at(here, key), message(&e)))).ok()
    };
    p.timeout = deadline("timeout", &g.timeout, false, out);
    p.cpu_time = deadline("cpu-time", &g.cpu_time, false, out);
    p.kill_after = deadline("kill-after", &g.kill_after, true, out);
    for (i, r) in g.on_pressure.iter().enumerate() {
        let key = if g.on_pressure.len() == 1 {
            at(here, "on-pressure")
        } else {
            at(&at(here, "on-pressure"), &i.to_string())
        };
        match PressureRule::parse(r) {
            Ok(rule) => p.on_pressure.push(rule),
            Err(e) => out.push(Problem::value(&key, message(&e))),
        }
    }
    if let Some(o) = &g.on_oom {
        match OomAction::parse(o) {
            Ok(a) => p.on_oom = Some(a),
            Err(e) => out.push(Problem::value(&at(here, "on-oom"), message(&e))),
        }
    }
    if let Err(e) = p.validate() {
        out.push(Problem::key(here, message(&e)));
    }
    p
}

fn at(base: &[String], key: &str) -> Vec<String> {
    let mut v = base.to_vec();
    v.push(key.to_string());
    v
}

/// The message of a library error, with a flag's dashes removed (`--memory` is the key
/// `memory` here).
fn message(e: &Error) -> String {
    match e {
        Error::InvalidValue { what, value, reason } => {
            // A flag's dashes are not part of a key: `--memory` is `memory` here.
            format!("invalid {} '{value}': {}", what.strip_prefix("--").unwrap_or(what), reason.replace("--", ""))
        }
        other => other.to_string(),
    }
}

/// The flag an error names, if it names one (`--memory`).
fn flag_of(e: &Error) -> Option<&str> {
    match e {
        Error::InvalidValue { what, .. } => what.strip_prefix("--"),
        _ => None,
    }
}

/// Puts a key's value into the flags. Returns a problem when the value has the wrong shape.
fn set_flag(f: &mut Flags, key: Key, value: &Value) -> std::result::Result<(), String> {
    let text = || {
        value.as_text().ok_or_else(|| {
            format!("{key} takes a string or a number (e.g. {key} = {}), not {}", key.example(), value.kind())
        })
    };
    let list = || -> std::result::Result<Vec<String>, String> {
        let wrong = || {
            format!("{key} takes a string or a list of strings (e.g. {key} = {}), not {}", key.example(), value.kind())
        };
        match value {
            Value::Text(s) => Ok(vec![s.clone()]),
            Value::List(v) => {
                v.iter().map(|x| if let Value::Text(s) = x { Ok(s.clone()) } else { Err(wrong()) }).collect()
            }
            _ => Err(wrong()),
        }
    };
    let flag = || match value {
        Value::Bool(b) => Ok(*b),
        _ => Err(format!("{key} takes true or false, not {}", value.kind())),
    };
    match key.shape() {
        Shape::Text => f.set(key, text()?),
        Shape::List => {
            for v in list()? {
                f.set(key, v);
            }
        }
        Shape::Bool => f.set(key, flag()?.to_string()),
    }
    Ok(())
}

/// Keys whose meaning depends on another key of the same table.
fn partners(key: Key) -> &'static [Key] {
    match key {
        Key::MemorySwap | Key::MemoryReservation => &[Key::Memory],
        Key::CpuPeriod => &[Key::Cpu, Key::Cpus, Key::CpuQuota],
        Key::CpuQuota => &[Key::CpuPeriod],
        Key::Cpu | Key::Cpus => &[Key::CpuPeriod],
        _ => &[],
    }
}

/// `true`/`false` flags: `false` in a file turns the setting off (the CLI flag can only
/// turn it on).
fn apply_bools(s: &Settings, r: &mut Resources) {
    if let Some(Value::Bool(b)) = s.limits.get(&Key::OomGroup) {
        r.memory.oom_group = Some(*b);
    }
    if let Some(Value::Bool(b)) = s.limits.get(&Key::OomKillDisable) {
        r.memory.oom_kill_disable = Some(*b);
    }
}

/// Which vocabulary a key path belongs to, for "set twice" messages.
fn vocabulary(path: &[String]) -> &'static str {
    match path.iter().rev().nth(1).map(String::as_str) {
        Some("systemd") => "systemd",
        Some("files") => "files",
        _ => "flags",
    }
}

/// Checks one table of settings; problems go to `out`. None when it has any.
fn layer(s: &Settings, base: &[String], ctx: &Context<'_>, out: &mut Vec<Problem>) -> Option<Layer> {
    let before = out.len();
    let mut claims: Vec<(&'static str, Vec<String>)> = Vec::new();

    // rein's and Docker's flags, key by key, then together.
    let mut all = Flags::default();
    // The keys that pass alone, and those that do not: with a mistake in one key, the
    // conflicts among the others are still told.
    let mut passed: Vec<Key> = Vec::new();
    let mut failed: Vec<Key> = Vec::new();
    for (key, value) in &s.limits {
        let path = at(base, key.name());
        let mut f = Flags::default();
        if let Err(m) = set_flag(&mut f, *key, value).and_then(|_| set_flag(&mut all, *key, value)) {
            out.push(Problem::value(&path, m));
            failed.push(*key);
            continue;
        }
        for p in partners(*key) {
            if let Some(v) = s.limits.get(p) {
                let _ = set_flag(&mut f, *p, v);
            }
        }
        match f.to_resources(ctx.device, ctx.facts) {
            Ok(mut r) => {
                apply_bools(&Settings { limits: [(*key, value.clone())].into(), ..Settings::default() }, &mut r);
                let mut mine = r.fields();
                // What a partner sets alone is the partner's.
                for p in partners(*key) {
                    if let Some(v) = s.limits.get(p) {
                        let mut g = Flags::default();
                        let _ = set_flag(&mut g, *p, v);
                        if let Ok(pr) = g.to_resources(ctx.device, ctx.facts) {
                            mine.retain(|f| !pr.fields().contains(f));
                        }
                    }
                }
                claims.extend(mine.into_iter().map(|f| (f, path.clone())));
                passed.push(*key);
            }
            Err(e) if flag_of(&e).is_some_and(|f| f != key.name() && Key::from_name(f) != Some(*key)) => {
                passed.push(*key);
            }
            Err(e) => {
                out.push(Problem::value(&path, message(&e)));
                failed.push(*key);
            }
        }
    }
    let together = |flags: &Flags| {
        flags.to_resources(ctx.device, ctx.facts).map_err(|e| {
            let path = match flag_of(&e).and_then(Key::from_name).filter(|k| s.limits.contains_key(k)) {
                Some(k) => at(base, k.name()),
                None => base.to_vec(),
            };
            Problem::value(&path, message(&e))
        })
    };
    let flags = if out.len() == before {
        match together(&all) {
            Ok(mut r) => {
                apply_bools(s, &mut r);
                Some(r)
            }
            Err(p) => {
                out.push(p);
                None
            }
        }
    } else {
        // A conflict among the keys that passed alone is a mistake of its own, unless a
        // key it needs (its partner) is the one in error; a key's own check is not told twice.
        let mut good = Flags::default();
        for k in passed.iter().filter(|k| !partners(**k).iter().any(|p| failed.contains(p))) {
            let _ = set_flag(&mut good, *k, &s.limits[k]);
        }
        if let Err(p) = together(&good) {
            if !out[before..].iter().any(|o| o.path() == p.path()) {
                out.push(p);
            }
        }
        None
    };

    // systemd properties, one by one, then together (a later one wins, as in a unit file).
    let sd_base = at(base, "systemd");
    let mut props = Vec::new();
    for (name, value) in &s.systemd {
        let path = at(&sd_base, name);
        let Some(text) = value.as_text() else {
            out.push(Problem::value(&path, format!("{name} takes a string or a number, not {}", value.kind())));
            continue;
        };
        props.push((name.clone(), text.clone()));
        match systemd::to_resources(&[(name.clone(), text)], ctx.facts, ctx.device) {
            Ok(r) => claims.extend(r.fields().into_iter().map(|f| (f, path.clone()))),
            Err(e) => out.push(Problem::value(&path, message(&e))),
        }
    }
    let from_systemd = systemd::to_resources(&props, ctx.facts, ctx.device);

    // Interface files, one by one, then together.
    let files_base = at(base, "files");
    // What the memory limit will be (for translating memsw, which is relative to it):
    // a memory limit file of either version in the same table, else the limit keys'.
    let memory_here = |f: &str| -> Option<String> {
        if !raw::is_memory_max(f) {
            return None;
        }
        for name in raw::MEMORY_LIMIT_NAMES {
            if let Some(v) = s.files.get(name).and_then(Value::as_text) {
                let n = if v.trim() == "-1" {
                    "max".to_string()
                } else {
                    crate::units::parse_size(&v).map(|n| n.to_string()).unwrap_or(v)
                };
                return Some(n);
            }
        }
        flags.as_ref().and_then(|r| r.memory.max).map(|m| m.map(|b| b.0).to_string())
    };
    let mut settings = Vec::new();
    for (name, value) in &s.files {
        let path = at(&files_base, name);
        let text = match value {
            Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
            v => v.as_text(),
        };
        let Some(text) = text else {
            out.push(Problem::value(&path, format!("{name} takes a string or a number, not {}", value.kind())));
            continue;
        };
        settings.push((name.clone(), text.clone()));
        let partner = |f: &str| memory_here(f);
        match raw::to_model(&[(name.clone(), text)], &partner) {
            Ok(t) => claims.extend(t.resources.fields().into_iter().map(|f| (f, path.clone()))),
            Err(e) => out.push(Problem::value(&path, message(&e))),
        }
    }
    let from_files = raw::to_model(&settings, &memory_here);

    // A setting given in two vocabularies of this table.
    let mut origins: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for (field, path) in claims {
        match origins.get(field) {
            Some(first) if vocabulary(first) != vocabulary(&path) && field != "io.max" => out.push(Problem::value(
                &path,
                format!(
                    "{field} is set twice in this table: by {} and by {}; give each setting once",
                    dotted(first),
                    dotted(&path)
                ),
            )),
            Some(_) => {}
            None => {
                origins.insert(field, path);
            }
        }
    }
    if out.len() > before {
        return None;
    }
    let mut resources = flags.unwrap_or_default();
    let mut raw = Vec::new();
    for part in [from_systemd.map(|r| (r, Vec::new())), from_files.map(|t| (t.resources, t.raw))] {
        match part {
            Ok((r, rw)) => {
                let twice = resources.overlap(&r);
                if !twice.is_empty() {
                    out.push(Problem::key(
                        base,
                        format!("{} set twice in this table; give each setting once", twice.join(", ")),
                    ));
                }
                resources.merge(&r);
                raw.extend(rw.into_iter().map(|w| (w.file, w.value)));
            }
            Err(e) => out.push(Problem::value(base, message(&e))),
        }
    }
    if let Err(e) = resources.validate() {
        out.push(Problem::key(base, message(&e)));
    }
    (out.len() == before).then_some(Layer { resources, raw, origins })
}

/// Overlays `top` on `below`: every setting `top` has wins.
fn overlay(below: &Layer, top: &Layer) -> Layer {
    let mut out = below.clone();
    out.resources.merge(&top.resources);
    for (name, value) in &top.raw {
        out.raw.retain(|(n, _)| n != name);
        out.raw.push((name.clone(), value.clone()));
    }
    out.origins.extend(top.origins.iter().map(|(k, v)| (*k, v.clone())));
    out
}

/// Characters a file's `name` may hold.
fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl Config {
    /// Checks every value of the file and merges defaults and templates into each group.
    /// Every mistake found is returned, each with the key path it is about.
    pub fn resolve(&self, ctx: &Context<'_>) -> std::result::Result<Resolved, Vec<Problem>> {
        let mut out = Vec::new();
        if let Some(n) = &self.name {
            if !valid_name(n) {
                out.push(Problem::value(
                    &["name".into()],
                    format!("invalid name '{n}': use 1 to 64 ASCII letters, digits, '-', '_' or '.'"),
                ));
            }
        }
        let parent = match &self.parent {
            None => None,
            Some(p) => match GroupPath::parse(p) {
                Ok(p) => Some(p),
                Err(e) => {
                    out.push(Problem::value(
                        &["parent".into()],
                        format!("{e}; e.g. parent = \"dev\" or \"tenants/web\""),
                    ));
                    None
                }
            },
        };
        let defaults = if self.defaults.is_empty() {
            Some(Layer::default())
        } else {
            layer(&self.defaults, &["defaults".into()], ctx, &mut out)
        };
        let mut templates = BTreeMap::new();
        for (name, s) in &self.templates {
            templates.insert(name.as_str(), layer(s, &["templates".into(), name.clone()], ctx, &mut out));
        }
        if self.groups.is_empty() {
            out.push(Problem::key(&[], "the file declares no group; add one, e.g. [groups.web] with memory = \"1G\""));
        }
        let mut groups = Vec::new();
        let walk = Walk { templates: &templates, defaults: defaults.as_ref(), ctx };
        walk.groups(&self.groups, &GroupPath::root(), &["groups".into()], None, &mut groups, &mut out);
        if out.is_empty() { Ok(Resolved { name: self.name.clone(), parent, groups }) } else { Err(out) }
    }
}

struct Walk<'a> {
    templates: &'a BTreeMap<&'a str, Option<Layer>>,
    defaults: Option<&'a Layer>,
    ctx: &'a Context<'a>,
}

impl Walk<'_> {
    fn groups(
        &self,
        groups: &BTreeMap<String, GroupConfig>,
        under: &GroupPath,
        base: &[String],
        parent_cpus: Option<(&CpuList, &[String])>,
        done: &mut Vec<Declared>,
        out: &mut Vec<Problem>,
    ) {
        for (name, g) in groups {
            let here = at(base, name);
            let path = if name.contains('/') {
                Err(Error::InvalidName {
                    name: name.clone(),
                    reason: "one name per table; nest child groups as [groups.a.groups.b]".into(),
                })
            } else {
                under.join(name)
            };
            let path = match path {
                Ok(p) => p,
                Err(e) => {
                    out.push(Problem::key(&here, e.to_string()));
                    continue;
                }
            };
            let before = out.len();
            let mut merged = self.defaults.cloned();
            for (i, t) in g.template.iter().enumerate() {
                let t_at = if g.template.len() == 1 {
                    at(&here, "template")
                } else {
                    at(&at(&here, "template"), &i.to_string())
                };
                match self.templates.get(t.as_str()) {
                    None => {
                        let known: Vec<&str> = self.templates.keys().copied().collect();
                        let hint = if known.is_empty() {
                            "the file has no [templates]".to_string()
                        } else {
                            format!("templates are: {}", known.join(", "))
                        };
                        out.push(Problem::value(&t_at, format!("no template '{t}'; {hint}")));
                    }
                    Some(None) => merged = None, // its own problems are reported already
                    Some(Some(l)) => merged = merged.map(|m| overlay(&m, l)),
                }
            }
            let own = layer(&g.settings, &here, self.ctx, out);
            if let (Some(m), Some(own)) = (&merged, &own) {
                let l = overlay(m, own);
                if let Err(e) = l.resources.validate() {
                    out.push(Problem::key(&here, format!("with its defaults and templates: {}", message(&e))));
                }
                if let (Some(cpus), Some((pc, p_at))) = (&l.resources.cpuset.cpus, parent_cpus) {
                    if !cpus.is_subset(pc) {
                        let origin = l.origins.get("cpuset.cpus").cloned().unwrap_or_else(|| here.clone());
                        out.push(Problem::value(
                            &origin,
                            format!(
                                "CPUs {} are outside the parent group's cpuset {pc} (set at {}); a group runs only where its parent may",
                                cpus.difference(pc),
                                dotted(p_at)
                            ),
                        ));
                    }
                }
                if let Some(cmd) = &g.command {
                    if cmd.is_empty() || cmd[0].is_empty() {
                        out.push(Problem::value(
                            &at(&here, "command"),
                            "command needs a program: command = [\"sleep\", \"infinity\"]",
                        ));
                    } else if !g.groups.is_empty() {
                        out.push(Problem::key(
                            &at(&here, "command"),
                            "a group with child groups cannot hold processes (cgroup v2's no-internal-process rule); \
                             start the command in a child group",
                        ));
                    }
                }
                if g.log.is_some() && g.command.is_none() {
                    out.push(Problem::key(
                        &at(&here, "log"),
                        "log is where the command's output goes; this group has no command",
                    ));
                }
                let policy = policy(g, &here, out);
                if out.len() == before {
                    done.push(Declared {
                        path: path.clone(),
                        at: here.clone(),
                        resources: l.resources.clone(),
                        raw: l.raw.clone(),
                        origins: l.origins.clone(),
                        command: g.command.clone(),
                        log: g.log.clone(),
                        has_children: !g.groups.is_empty(),
                        policy,
                    });
                }
                let cpus_here = l.resources.cpuset.cpus.clone();
                let origin = l.origins.get("cpuset.cpus").cloned().unwrap_or_else(|| here.clone());
                let next = match (&cpus_here, parent_cpus) {
                    (Some(c), _) => Some((c, origin.as_slice())),
                    (None, p) => p,
                };
                self.groups(&g.groups, &path, &at(&here, "groups"), next, done, out);
            } else {
                self.groups(&g.groups, &path, &at(&here, "groups"), parent_cpus, done, out);
            }
        }
    }
}
