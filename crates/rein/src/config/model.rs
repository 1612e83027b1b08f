//! The rein.toml model: what a file says, as written (strings, numbers, booleans),
//! before any value is checked. [`super::resolve`] turns it into rein's [`Resources`]
//! per group; [`super::load`] reads it from TOML with the location of every mistake.
//!
//! Programs can build a [`Config`] directly, or (de)serialize it with serde: it
//! serializes to a valid rein.toml, and deserializes from one (the loader in
//! [`super::load`] reads the same files, and reports every mistake instead of the first).
//!
//! [`Resources`]: crate::Resources

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

// The limit keys of a group table are the flags' names: one table, in crate::flags.
pub use crate::flags::{Key, Shape};

/// A whole rein.toml file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The name that marks the groups this file makes (`config id=...` in the
    /// `user.rein` attribute): keeps them this file's when the file is moved or renamed.
    /// Without it, the file's absolute path is the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The group every group of the file lives under (`dev`, `tenants`); the hierarchy
    /// root when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Settings every group gets unless a template or the group sets the same limit.
    #[serde(default, skip_serializing_if = "Settings::is_empty")]
    pub defaults: Settings,
    /// Named sets of settings that groups take with `template = "NAME"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub templates: BTreeMap<String, Settings>,
    /// The groups, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupConfig>,
}

/// One group: its settings, the templates it takes, a command to start in it, and its
/// child groups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupConfig {
    /// Templates whose settings the group takes, in order (a later one wins); a string or
    /// a list of strings in the file.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
    pub template: Vec<String>,
    /// A command (program and arguments) that `rein apply --start` starts in the group
    /// when the group holds no process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Where the command's output goes (appended); `/dev/null` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
    /// Child groups, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupConfig>,
    /// `timeout`: a deadline `rein supervise` counts from when it finds the group (then
    /// SIGTERM, and the kill after `kill-after`). See [`crate::policy`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// `cpu-time`: the group's CPU-time budget (its whole CPU accounting).
    #[serde(default, rename = "cpu-time", skip_serializing_if = "Option::is_none")]
    pub cpu_time: Option<String>,
    /// `kill-after`: the grace between SIGTERM and the kill.
    #[serde(default, rename = "kill-after", skip_serializing_if = "Option::is_none")]
    pub kill_after: Option<String>,
    /// `on-pressure`: pressure rules (`"memory:some:20%/1s=freeze"`); a string or a list.
    #[serde(default, rename = "on-pressure", skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
    pub on_pressure: Vec<String>,
    /// `on-oom`: `notify`, `notify:COMMAND` or `kill-group`.
    #[serde(default, rename = "on-oom", skip_serializing_if = "Option::is_none")]
    pub on_oom: Option<String>,
    /// The group's own limits.
    #[serde(flatten)]
    pub settings: Settings,
}

/// Limits in any of rein's vocabularies: rein's and Docker's flags by name, systemd
/// properties, raw interface files. A setting given in two vocabularies of one table is
/// a mistake.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Settings {
    /// systemd resource-control properties (`MemoryMax = "2G"`), with systemd's semantics.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub systemd: BTreeMap<String, Value>,
    /// Interface files by name (`"memory.limit_in_bytes" = 2147483648`, `"cpu.max" = "max"`):
    /// v1 and v2 names alike, translated to the running mode.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "dotted")]
    pub files: BTreeMap<String, Value>,
    /// rein's and Docker's flags without the dashes (`memory = "2G"`, `cpu = "40%"`).
    #[serde(flatten)]
    pub limits: BTreeMap<Key, Value>,
}

impl Settings {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.systemd.is_empty() && self.files.is_empty()
    }

    /// Sets a flag (builder style).
    pub fn with(mut self, key: Key, value: impl Into<Value>) -> Settings {
        self.limits.insert(key, value.into());
        self
    }
}

/// A value as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number (`64`, `-1`).
    Integer(i64),
    /// A number with a fraction (`1.5`).
    Float(f64),
    /// A string (`"2G"`, `"40%"`).
    Text(String),
    /// A list (`["/dev/sda:wbps=1M"]`).
    List(Vec<Value>),
}

impl Value {
    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "a boolean",
            Value::Integer(_) => "a whole number",
            Value::Float(_) => "a number",
            Value::Text(_) => "a string",
            Value::List(_) => "a list",
        }
    }

    /// The value as the text a flag takes: strings as they are, numbers printed.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s.clone()),
            Value::Integer(n) => Some(n.to_string()),
            Value::Float(f) if f.is_finite() => Some(f.to_string()),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => b.fmt(f),
            Value::Integer(n) => n.fmt(f),
            Value::Float(x) => x.fmt(f),
            Value::Text(s) => write!(f, "{s:?}"),
            Value::List(v) => {
                f.write_str("[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    x.fmt(f)?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Integer(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

/// The key names a group table takes besides the limit keys.
pub(crate) const GROUP_KEYS: [&str; 11] = [
    "template",
    "command",
    "log",
    "groups",
    "systemd",
    "files",
    "timeout",
    "cpu-time",
    "kill-after",
    "on-pressure",
    "on-oom",
];

/// The top-level keys.
pub(crate) const TOP_KEYS: [&str; 5] = ["name", "parent", "defaults", "templates", "groups"];

/// `template = "a"` or `template = ["a", "b"]`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Interface-file names hold dots, which TOML reads as nested keys when unquoted:
/// `memory.max = "2G"` is `memory = { max = "2G" }`. Both mean the file `memory.max`.
fn dotted<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Value>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Entry {
        Value(Value),
        Table(BTreeMap<String, Entry>),
    }
    fn flatten(prefix: &str, map: BTreeMap<String, Entry>, out: &mut BTreeMap<String, Value>) {
        for (k, v) in map {
            let name = if prefix.is_empty() { k } else { format!("{prefix}.{k}") };
            match v {
                Entry::Value(v) => {
                    out.insert(name, v);
                }
                Entry::Table(t) => flatten(&name, t, out),
            }
        }
    }
    let mut out = BTreeMap::new();
    flatten("", BTreeMap::<String, Entry>::deserialize(d)?, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_structural_keys_of_a_group_table_are_no_flags() {
        for k in GROUP_KEYS {
            assert_eq!(Key::from_name(k), None, "{k} is structural");
        }
    }

    #[test]
    fn serde_reads_and_writes_the_file_form() {
        let text = r#"
name = "dev"
parent = "dev"

[defaults]
pids = 512

[templates.small]
memory = "512M"

[groups.db]
memory = "2G"
cpu = "40%"
systemd = { TasksMax = 64 }
files = { "cpu.shares" = 512, memory.swappiness = 10 }

[groups.api]
template = "small"
command = ["sleep", "infinity"]

[groups.api.groups.worker]
cpus = 1.5
oom-group = true
"#;
        let c: Config = toml::from_str(text).unwrap();
        assert_eq!(c.parent.as_deref(), Some("dev"));
        assert_eq!(c.defaults.limits[&Key::Pids], Value::Integer(512));
        let db = &c.groups["db"];
        assert_eq!(db.settings.limits[&Key::Memory], Value::from("2G"));
        assert_eq!(db.settings.systemd["TasksMax"], Value::Integer(64));
        assert_eq!(db.settings.files["memory.swappiness"], Value::Integer(10));
        assert_eq!(db.settings.files["cpu.shares"], Value::Integer(512));
        let api = &c.groups["api"];
        assert_eq!(api.template, ["small"]);
        assert_eq!(api.groups["worker"].settings.limits[&Key::Cpus], Value::Float(1.5));
        // What it writes reads back the same.
        let again: Config = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
        // Unknown keys are refused, at the top and in groups.
        assert!(toml::from_str::<Config>("colour = 1").is_err());
        assert!(toml::from_str::<Config>("[groups.a]\nmemroy = \"1G\"").is_err());
    }
}
