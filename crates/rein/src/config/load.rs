//! Reading a rein.toml file: the model, and every mistake with its line and column.
//!
//! The TOML text is parsed into toml's spanned document ([`toml::de::DeTable`]), which
//! keeps the byte range of every key and value. The walk below builds the [`Config`]
//! from it, noting each key's location and every structural mistake (an unknown key, a
//! value of the wrong kind); then [`Config::resolve`] checks every value. Each problem
//! becomes a [`Diagnostic`]: file, line, column, message, and the source line with a
//! caret under the offending text, as compilers print them. A serde deserializer stops
//! at the first mistake; the walk does not, so a file with three mistakes gets three
//! messages.
//!
//! (miette or codespan would render the same; rein prints the few lines itself rather
//! than take their dependency trees, see docs/CONFIG.md.)

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::model::{Config, GROUP_KEYS, GroupConfig, Key, Settings, TOP_KEYS, Value};
use super::resolve::{Context, Problem, Resolved, dotted};
pub use crate::error::{Diagnostic, Diagnostics};
use crate::error::{Error, Result};

type Spanned<T> = toml::Spanned<T>;

/// A file read and checked.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file as given.
    pub file: PathBuf,
    /// What it says.
    pub config: Config,
    /// What it means.
    pub resolved: Resolved,
    /// The name that marks its groups: its `name`, else its absolute path.
    pub owner: String,
    spans: Spans,
    text: String,
}

impl Loaded {
    /// Locates a problem found later (when planning against the host) in the file.
    pub fn locate(&self, p: &Problem) -> Diagnostic {
        self.spans.diagnostic(&self.file, &self.text, p)
    }
}

/// Where each key path is: its key's and its value's byte ranges.
#[derive(Debug, Clone, Default)]
struct Spans(BTreeMap<Vec<String>, (Range<usize>, Range<usize>)>);

impl Spans {
    fn diagnostic(&self, file: &Path, text: &str, p: &Problem) -> Diagnostic {
        // The nearest key path that has a location (a merged setting may name a table).
        let mut at = p.at.clone();
        let range = loop {
            if let Some((k, v)) = self.0.get(&at) {
                break if p.on_key || at.len() < p.at.len() { k.clone() } else { v.clone() };
            }
            if at.pop().is_none() {
                break 0..0;
            }
        };
        locate(file, text, range, dotted(&p.at), p.message.clone())
    }
}

fn locate(file: &Path, text: &str, range: Range<usize>, key: String, message: String) -> Diagnostic {
    let start = range.start.min(text.len());
    let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[start..].find('\n').map(|i| start + i).unwrap_or(text.len());
    let line = text[..start].matches('\n').count() + 1;
    let source_line = text[line_start..line_end].trim_end_matches('\r').to_string();
    let column = text[line_start..start].chars().count() + 1;
    let end = range.end.clamp(start, line_end);
    Diagnostic {
        file: file.to_path_buf(),
        line,
        column,
        key,
        message,
        width: text[start..end].chars().count(),
        source_line,
    }
}

/// Reads, parses and checks the file at `path` (see [`parse`]).
pub fn load(path: &Path, ctx: &Context<'_>) -> Result<Loaded> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        op: "read".into(),
        path: path.to_path_buf(),
        cause: e,
        hint: Some("give the path of a rein.toml file".into()),
    })?;
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    parse(&text, path, &absolute.display().to_string(), ctx)
}

/// Parses and checks a file's text. `file` names it in messages; `fallback_owner` marks
/// its groups when it has no `name`. Every mistake comes back as [`Error::Config`].
pub fn parse(text: &str, file: &Path, fallback_owner: &str, ctx: &Context<'_>) -> Result<Loaded> {
    let (doc, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        let errors = syntax
            .iter()
            .map(|e| {
                let msg = e.message().trim_end().replace('\n', "; ");
                locate(file, text, e.span().unwrap_or(0..0), String::new(), format!("TOML syntax: {msg}"))
            })
            .collect();
        return Err(Error::Config(Box::new(Diagnostics { file: file.to_path_buf(), errors })));
    }
    let mut w = Walker::default();
    let config = w.top(doc.get_ref());
    let mut problems = std::mem::take(&mut w.problems);
    let resolved = match config.resolve(ctx) {
        Ok(r) => Some(r),
        Err(p) => {
            problems.extend(p);
            None
        }
    };
    if !problems.is_empty() || resolved.is_none() {
        let mut errors: Vec<Diagnostic> = problems.iter().map(|p| w.spans.diagnostic(file, text, p)).collect();
        errors.sort_by_key(|d| (d.line, d.column));
        errors.dedup();
        return Err(Error::Config(Box::new(Diagnostics { file: file.to_path_buf(), errors })));
    }
    let owner = config.name.clone().unwrap_or_else(|| fallback_owner.to_string());
    Ok(Loaded {
        file: file.to_path_buf(),
        config,
        resolved: resolved.expect("checked above"),
        owner,
        spans: w.spans,
        text: text.to_string(),
    })
}

/// Builds the model from the spanned document, noting locations and structural mistakes.
#[derive(Default)]
struct Walker {
    spans: Spans,
    problems: Vec<Problem>,
}

/// The allowed word closest to a misspelt one, if close enough to be a likely typo.
fn closest<'a>(word: &str, allowed: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    allowed
        .into_iter()
        .map(|k| (distance(&word.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

fn path(base: &[String], key: &str) -> Vec<String> {
    let mut v = base.to_vec();
    v.push(key.to_string());
    v
}

fn kind(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a number",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

impl Walker {
    fn note(&mut self, at: &[String], key: &Spanned<std::borrow::Cow<'_, str>>, value: &Spanned<DeValue<'_>>) {
        self.spans.0.insert(at.to_vec(), (key.span(), value.span()));
    }

    fn problem(&mut self, p: Problem) {
        self.problems.push(p);
    }

    fn top(&mut self, t: &DeTable<'_>) -> Config {
        let mut c = Config::default();
        for (k, v) in t.iter() {
            let at = path(&[], k.get_ref());
            self.note(&at, k, v);
            match k.get_ref().as_ref() {
                "name" => c.name = self.string(&at, v.get_ref()),
                "parent" => c.parent = self.string(&at, v.get_ref()),
                "defaults" => {
                    if let Some(t) = self.table(&at, v.get_ref()) {
                        c.defaults = self.settings(&at, t, false).0;
                    }
                }
                "templates" => {
                    if let Some(t) = self.table(&at, v.get_ref()) {
                        for (name, tv) in t.iter() {
                            let tat = path(&at, name.get_ref());
                            self.note(&tat, name, tv);
                            if let Some(tt) = self.table(&tat, tv.get_ref()) {
                                let s = self.settings(&tat, tt, false).0;
                                c.templates.insert(name.get_ref().to_string(), s);
                            }
                        }
                    }
                }
                "groups" => {
                    if let Some(t) = self.table(&at, v.get_ref()) {
                        c.groups = self.groups(&at, t);
                    }
                }
                other => {
                    let hint = match closest(other, TOP_KEYS.iter().copied()) {
                        Some(k) => format!("did you mean '{k}'?"),
                        None if Key::from_name(other).is_some() => {
                            format!(
                                "limits go in a group table ([groups.NAME]) or in [defaults], e.g. {other} = {}",
                                Key::from_name(other).map(|k| k.example()).unwrap_or_default()
                            )
                        }
                        None => format!("the top level takes {}", TOP_KEYS.join(", ")),
                    };
                    self.problem(Problem::key(&at, format!("unknown key '{other}': {hint}")));
                }
            }
        }
        c
    }

    fn groups(&mut self, at: &[String], t: &DeTable<'_>) -> BTreeMap<String, GroupConfig> {
        let mut out = BTreeMap::new();
        for (name, v) in t.iter() {
            let gat = path(at, name.get_ref());
            self.note(&gat, name, v);
            if let Some(gt) = self.table(&gat, v.get_ref()) {
                let (settings, g) = self.settings(&gat, gt, true);
                let mut g = g.unwrap_or_default();
                g.settings = settings;
                out.insert(name.get_ref().to_string(), g);
            }
        }
        out
    }

    /// A settings table; with `group`, also the group keys (template, command, ...).
    fn settings(&mut self, at: &[String], t: &DeTable<'_>, group: bool) -> (Settings, Option<GroupConfig>) {
        let mut s = Settings::default();
        let mut g = GroupConfig::default();
        for (k, v) in t.iter() {
            let kat = path(at, k.get_ref());
            self.note(&kat, k, v);
            let name = k.get_ref().as_ref();
            let value = v.get_ref();
            if let Some(key) = Key::from_name(name) {
                if let Some(val) = self.value(&kat, value) {
                    if s.limits.insert(key, val).is_some() {
                        self.problem(Problem::key(&kat, format!("{key} is given twice (as {name} and as {key})")));
                    }
                }
                continue;
            }
            match name {
                "systemd" => {
                    if let Some(st) = self.table(&kat, value) {
                        for (pk, pv) in st.iter() {
                            let pat = path(&kat, pk.get_ref());
                            self.note(&pat, pk, pv);
                            if let Some(val) = self.value(&pat, pv.get_ref()) {
                                s.systemd.insert(pk.get_ref().to_string(), val);
                            }
                        }
                    }
                }
                "files" => {
                    if let Some(ft) = self.table(&kat, value) {
                        self.files(&kat, "", ft, &mut s.files);
                    }
                }
                "template" | "command" | "log" | "groups" | "timeout" | "cpu-time" | "kill-after" | "on-pressure"
                | "on-oom"
                    if !group =>
                {
                    self.problem(Problem::key(
                        &kat,
                        format!("'{name}' belongs in a group table ([groups.NAME]), not in [{}]", at.first().map(String::as_str).unwrap_or("")),
                    ));
                }
                "template" => g.template = self.one_or_many(&kat, value, "template takes a template's name or a list of names"),
                "command" => match value {
                    DeValue::Array(a) => g.command = Some(self.strings(&kat, a)),
                    other => self.problem(Problem::value(
                        &kat,
                        format!(
                            "command takes the program and its arguments as a list, e.g. command = [\"sleep\", \"infinity\"], not {}",
                            kind(other)
                        ),
                    )),
                },
                "log" => g.log = self.string(&kat, value).map(PathBuf::from),
                "timeout" => g.timeout = self.string(&kat, value),
                "cpu-time" => g.cpu_time = self.string(&kat, value),
                "kill-after" => g.kill_after = self.string(&kat, value),
                "on-oom" => g.on_oom = self.string(&kat, value),
                "on-pressure" => {
                    g.on_pressure = self.one_or_many(
                        &kat,
                        value,
                        "on-pressure takes a rule or a list of rules, e.g. on-pressure = \"memory:some:20%/1s=freeze\"",
                    )
                }
                "groups" => {
                    if let Some(ct) = self.table(&kat, value) {
                        g.groups = self.groups(&kat, ct);
                    }
                }
                other => {
                    let mut allowed: Vec<&str> = Key::ALL.iter().map(|k| k.name()).collect();
                    allowed.extend(["systemd", "files"]);
                    if group {
                        allowed.extend(GROUP_KEYS);
                    }
                    let hint = match closest(other, allowed.iter().copied()) {
                        Some(k) => format!("did you mean '{k}'?"),
                        None if other.contains('.') => format!("interface files go in a files table: files = {{ \"{other}\" = ... }}"),
                        None if other.chars().next().is_some_and(|c| c.is_ascii_uppercase()) => {
                            format!("systemd properties go in a systemd table: systemd = {{ {other} = ... }}")
                        }
                        None => "limits are rein's flags without the dashes (memory, cpu, cpus, pids, ...), or systemd = { ... }, files = { ... }; see docs/CONFIG.md".to_string(),
                    };
                    self.problem(Problem::key(&kat, format!("unknown key '{other}': {hint}")));
                }
            }
        }
        (s, group.then_some(g))
    }

    /// A list of strings, each located (`at.0`, `at.1`, ...).
    fn strings(&mut self, at: &[String], a: &toml::de::DeArray<'_>) -> Vec<String> {
        let mut out = Vec::new();
        for (i, x) in a.iter().enumerate() {
            let xat = path(at, &i.to_string());
            self.spans.0.insert(xat.clone(), (x.span(), x.span()));
            out.extend(self.string(&xat, x.get_ref()));
        }
        out
    }

    /// A string or a list of strings (`template`, `on-pressure`); `takes` says what the
    /// key takes when it is neither.
    fn one_or_many(&mut self, at: &[String], v: &DeValue<'_>, takes: &str) -> Vec<String> {
        match v {
            DeValue::String(x) => vec![x.to_string()],
            DeValue::Array(a) => self.strings(at, a),
            other => {
                self.problem(Problem::value(at, format!("{takes}, not {}", kind(other))));
                Vec::new()
            }
        }
    }

    /// The files table: nested tables are dotted names (`memory.max = 1` is `memory = { max = 1 }`).
    fn files(&mut self, at: &[String], prefix: &str, t: &DeTable<'_>, out: &mut BTreeMap<String, Value>) {
        for (k, v) in t.iter() {
            let name = if prefix.is_empty() { k.get_ref().to_string() } else { format!("{prefix}.{}", k.get_ref()) };
            let fat = path(at, &name);
            self.note(&fat, k, v);
            match v.get_ref() {
                DeValue::Table(inner) => self.files(at, &name, inner, out),
                other => {
                    if let Some(val) = self.value(&fat, other) {
                        out.insert(name, val);
                    }
                }
            }
        }
    }

    fn value(&mut self, at: &[String], v: &DeValue<'_>) -> Option<Value> {
        match v {
            DeValue::String(s) => Some(Value::Text(s.to_string())),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(Value::Integer(n)),
                Err(_) => {
                    self.problem(Problem::value(at, "number too large; give it as a string with a unit, e.g. \"16E\""));
                    None
                }
            },
            DeValue::Float(f) => match f.as_str().parse::<f64>() {
                Ok(x) if x.is_finite() => Some(Value::Float(x)),
                _ => {
                    self.problem(Problem::value(at, "not a finite number"));
                    None
                }
            },
            DeValue::Boolean(b) => Some(Value::Bool(*b)),
            DeValue::Array(a) => {
                let mut out = Vec::new();
                for (i, x) in a.iter().enumerate() {
                    let xat = path(at, &i.to_string());
                    self.spans.0.insert(xat.clone(), (x.span(), x.span()));
                    out.push(self.value(&xat, x.get_ref())?);
                }
                Some(Value::List(out))
            }
            other => {
                self.problem(Problem::value(
                    at,
                    format!("expected a string, a number or a boolean, not {}", kind(other)),
                ));
                None
            }
        }
    }

    fn string(&mut self, at: &[String], v: &DeValue<'_>) -> Option<String> {
        match v {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.problem(Problem::value(at, format!("{} takes a string, not {}", dotted(at), kind(other))));
                None
            }
        }
    }

    fn table<'a, 'i>(&mut self, at: &[String], v: &'a DeValue<'i>) -> Option<&'a DeTable<'i>> {
        match v {
            DeValue::Table(t) => Some(t),
            other => {
                self.problem(Problem::value(at, format!("{} must be a table, not {}", dotted(at), kind(other))));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::systemd::HostFacts;
    use crate::units::DeviceNumber;

    fn ctx() -> Context<'static> {
        fn facts() -> HostFacts {
            HostFacts { physical_memory: 8 << 30, page_size: 4096, tasks_max: 4_194_303, online_cpus: 2 }
        }
        fn device(s: &str) -> Result<DeviceNumber> {
            DeviceNumber::parse(s).map_err(|e| Error::invalid("device", s, e))
        }
        Context { facts: &facts, device: &device }
    }

    fn errors(text: &str) -> Vec<Diagnostic> {
        match parse(text, Path::new("rein.toml"), "/x/rein.toml", &ctx()) {
            Err(Error::Config(d)) => d.errors,
            Ok(_) => panic!("no errors in:\n{text}"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn three_mistakes_three_located_errors() {
        let text = "parent = \"dev\"\n\n[groups.db]\nmemory = \"2Q\"\ncpu = \"40%\"\n\n[groups.api]\nmemroy = \"1G\"\ncpu = 30\n";
        let e = errors(text);
        for d in &e {
            eprintln!("{d}");
        }
        assert_eq!(e.len(), 3, "{e:#?}");
        assert_eq!((e[0].line, e[0].column, e[0].key.as_str()), (4, 10, "groups.db.memory"));
        assert!(e[0].message.contains("invalid memory '2Q'"), "{}", e[0].message);
        assert_eq!((e[1].line, e[1].column), (8, 1));
        assert!(e[1].message.contains("did you mean 'memory'?"), "{}", e[1].message);
        assert_eq!((e[2].line, e[2].column), (9, 7));
        assert!(e[2].message.contains("percentage"), "{}", e[2].message);
    }

    #[test]
    fn a_bad_value_and_a_conflict_are_told_together() {
        let e = errors("[groups.a]\nmemory = \"lots\"\ncpu-shares = 100\ncpu-weight = 50\n");
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e[0].message.contains("invalid memory 'lots'"), "{}", e[0].message);
        assert!(e[1].message.contains("cpu-weight is given too"), "{}", e[1].message);
        // A key whose partner is in error is not told it lacks the partner.
        let e = one("[groups.a]\nmemory = \"lots\"\nmemory-swap = \"2G\"\n");
        assert!(e.message.contains("invalid memory 'lots'"), "{e}");
        // Two bad values and the conflict of two good ones: three mistakes.
        let e = errors("[groups.a]\nmemory = \"lots\"\npids = -3\ncpu = \"20%\"\ncpus = 1\n");
        assert_eq!(e.len(), 3, "{e:#?}");
        assert!(e.iter().any(|d| d.message.contains("both set a CPU limit")), "{e:#?}");
    }

    fn one(text: &str) -> Diagnostic {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:#?}");
        e.into_iter().next().unwrap()
    }

    #[test]
    fn syntax_errors_are_located_too() {
        let e = one("[groups.a]\nmemory = \"2G\n");
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.starts_with("TOML syntax"), "{e}");
    }

    #[test]
    fn each_kind_of_mistake_says_what_is_allowed() {
        for (text, line, needle) in [
            ("[groups.a]\noom-group = \"yes\"\n", 2, "oom-group takes true or false"),
            ("[groups.a]\nmemory = true\n", 2, "memory takes a string or a number"),
            ("[groups.a]\ntemplate = \"big\"\n", 2, "no template 'big'; the file has no [templates]"),
            (
                "[groups.a]\nmemory = \"1G\"\nsystemd = { MemoryMax = \"2G\" }\n",
                3,
                "memory.max is set twice in this table",
            ),
            ("[groups.a]\ncommand = [\"sleep\"]\n[groups.a.groups.b]\npids = 5\n", 2, "no-internal-process"),
            (
                "[groups.a]\ncpuset = \"0\"\n[groups.a.groups.b]\ncpuset = \"1\"\n",
                4,
                "outside the parent group's cpuset 0",
            ),
            ("[groups.a]\nfiles = { \"cgroup.procs\" = 1 }\n", 2, "rein move"),
            ("[groups.a]\nfiles = { \"memory.usage_in_bytes\" = 1 }\n", 2, "read-only"),
            ("[groups.a]\nsystemd = { MemoryLimit = \"1G\" }\n", 2, "use MemoryMax="),
            ("[groups.a]\nMemoryMax = \"1G\"\n", 2, "systemd properties go in a systemd table"),
            ("[groups.a]\n\"memory.max\" = \"1G\"\n", 2, "interface files go in a files table"),
            ("[defaults]\ncommand = [\"x\"]\n[groups.a]\n", 2, "belongs in a group table"),
            ("memory = \"1G\"\n[groups.a]\n", 1, "limits go in a group table"),
            ("parent = \"../x\"\n[groups.a]\n", 1, "'.' and '..' are not allowed"),
            ("[groups.\"a/b\"]\npids = 1\n", 1, "nest child groups"),
            ("[groups.a]\nmemory-swap = \"2g\"\n", 2, "give memory too"),
            ("[groups.a]\ncpu = \"20%\"\ncpus = 2\n", 3, "both set a CPU limit"),
            ("[groups.a]\nlog = \"/tmp/x\"\n", 2, "has no command"),
            ("name = \"a b\"\n[groups.a]\n", 1, "invalid name"),
            ("", 1, "declares no group"),
            ("[groups.a]\ntimeout = \"soon\"\n", 2, "invalid timeout 'soon'"),
            ("[groups.a]\ncpu-time = \"0\"\n", 2, "must be above 0"),
            ("[groups.a]\non-pressure = \"memory:some:120%/1s=freeze\"\n", 2, "at most 100%"),
            (
                "[groups.a]\non-pressure = [\"cpu:some:5%/2s=notify\", \"cpu:some:20%/20s=kill\"]\n",
                2,
                "between 500ms and 10s",
            ),
            ("[groups.a]\non-pressure = 5\n", 2, "on-pressure takes a rule or a list of rules"),
            ("[groups.a]\non-oom = \"explode\"\n", 2, "expected notify, notify:COMMAND or kill-group"),
            ("[groups.a]\nkill-after = \"1s\"\n", 1, "neither is given"),
            // pids.max above PID_MAX_LIMIT, in each vocabulary.
            (
                "[groups.a]\npids = 99999999\n",
                2,
                "invalid pids limit '99999999': above the kernel's largest pids.max, 4194304",
            ),
            ("[groups.a]\nsystemd = { TasksMax = 4194305 }\n", 2, "'4194305': above the kernel's largest pids.max"),
            ("[groups.a]\nfiles = { \"pids.max\" = 2147483648 }\n", 2, "'2147483648': above the kernel's largest"),
            ("[defaults]\ntimeout = \"1s\"\n[groups.a]\n", 2, "belongs in a group table"),
        ] {
            let e = one(text);
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.message.contains(needle), "{text}: wanted '{needle}' in: {e}");
        }
    }

    #[test]
    fn policy_keys_become_the_group_s_policy() {
        let text = "[groups.a]\ntimeout = \"1m\"\ncpu-time = \"2s\"\nkill-after = \"0\"\n\
                    on-pressure = [\"memory:some:20%/1s=freeze:30s\", \"cpu:some:50%/2s=throttle\"]\non-oom = \"kill-group\"\n\
                    [groups.b]\npids = 5\n";
        let l = parse(text, Path::new("rein.toml"), "/x/rein.toml", &ctx()).unwrap();
        let a = &l.resolved.groups[0].policy;
        assert_eq!(a.timeout, Some(std::time::Duration::from_secs(60)));
        assert_eq!(a.cpu_time, Some(std::time::Duration::from_secs(2)));
        assert_eq!(a.kill_after, Some(std::time::Duration::ZERO));
        assert_eq!(a.on_pressure.len(), 2);
        assert_eq!(a.on_pressure[0].to_string(), "memory:some:200ms/1s=freeze:30.000s");
        assert_eq!(a.on_oom, Some(crate::policy::OomAction::KillGroup));
        assert!(l.resolved.groups[1].policy.is_empty());
        // The model serializes back to the same keys.
        let back = toml::to_string(&l.config).unwrap();
        assert!(back.contains("on-pressure = [") && back.contains("cpu-time = \"2s\""), "{back}");
    }

    #[test]
    fn merging_defaults_templates_and_the_group() {
        let text = r#"
[defaults]
cpu = "20%"
pids = 100
[templates.big]
memory = "8G"
systemd = { CPUWeight = 300 }
[groups.a]
template = "big"
cpus = 1.5
files = { "memory.limit_in_bytes" = "4G" }
"#;
        let l = parse(text, Path::new("x.toml"), "/x.toml", &ctx()).unwrap();
        let r = &l.resolved.groups[0].resources;
        // The group's own cpus (Docker: 1.5 CPUs) replaces the default cpu, its file
        // name the template's memory; the rest comes from below.
        assert_eq!(r.cpu.max.unwrap().quota, crate::units::Limit::Value(150_000));
        assert_eq!(r.memory.max, Some(crate::units::Limit::Value(crate::units::Bytes::gib(4))));
        assert_eq!(r.cpu.weight.map(|w| w.get()), Some(300));
        assert_eq!(r.pids.max, Some(crate::units::Limit::Value(100)));
        assert_eq!(l.resolved.groups[0].origins["memory.max"], ["groups", "a", "files", "memory.limit_in_bytes"]);
        assert_eq!(l.owner, "/x.toml");
    }

    /// Shares in a file, as the `cpu-shares` key or as a `cpu.shares` file, stay shares
    /// (v1 writes them as given); a template's weight gives way to a group's shares.
    #[test]
    fn shares_in_a_file_stay_shares() {
        let text = r#"
[templates.w]
cpu-weight = 300
[groups.key]
cpu-shares = 2
[groups.file]
files = { "cpu.shares" = 1000 }
[groups.over]
template = "w"
cpu-shares = 262144
"#;
        let l = parse(text, Path::new("x.toml"), "/x.toml", &ctx()).unwrap();
        let shares: Vec<(String, Option<u64>, Option<u64>)> = l
            .resolved
            .groups
            .iter()
            .map(|g| {
                (g.path.as_str().to_string(), g.resources.cpu.shares_v1(), g.resources.cpu.weight.map(|w| w.get()))
            })
            .collect();
        assert_eq!(
            shares,
            [("file".into(), Some(1000), None), ("key".into(), Some(2), None), ("over".into(), Some(262_144), None)]
        );
        let e = errors("[groups.a]\ncpu-shares = 7\nfiles = { \"cpu.shares\" = 8 }\n");
        assert!(e.iter().any(|d| d.message.contains("set twice")), "{e:?}");
    }

    #[test]
    fn the_examples_are_valid_and_mean_what_their_comments_say() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&p).unwrap();
                let l = parse(&text, &p, "x", &ctx()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                // The serde model reads the same file to the same model.
                let via_serde: Config = toml::from_str(&text).unwrap();
                assert_eq!(via_serde, l.config, "{}", p.display());
                n += 1;
            }
        }
        assert!(n >= 4, "{n} examples");
        let dev =
            parse(&std::fs::read_to_string(dir.join("dev-environment.toml")).unwrap(), Path::new("d"), "x", &ctx())
                .unwrap();
        let db = dev.resolved.groups.iter().find(|g| g.path.as_str() == "database").unwrap();
        assert_eq!(db.resources.memory.max, Some(crate::units::Limit::Value(crate::units::Bytes::gib(2))));
        assert_eq!(db.resources.cpu.max.unwrap().quota, crate::units::Limit::Value(40_000));
        let ci =
            parse(&std::fs::read_to_string(dir.join("ci-runner.toml")).unwrap(), Path::new("c"), "x", &ctx()).unwrap();
        // Shares 256: cpu.shares 256 on v1, cpu.weight 25 on cgroup v2.
        let cpu = &ci.resolved.groups[0].resources.cpu;
        assert_eq!((cpu.shares_v1(), cpu.weight_v2().map(|w| w.get())), (Some(256), Some(25)));
    }
}
