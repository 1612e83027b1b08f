//! libcgroup's cgconfig.conf (cgconfig.conf(5)), parsed into a model: what
//! `cgconfigparser -l FILE` reads. Pure: `&str` in, [`CgConfig`] or a [`ParseError`]
//! with its line out; [`crate::config::cgconfig`] creates the groups.
//!
//! The format, as libcgroup's lexer and grammar (src/lex.l, src/parse.y) take it:
//!
//! ```text
//! # a comment: '#' first on its line (after blanks)
//! mount { cpu = /sys/fs/cgroup/cpu; "cpuacct" = /sys/fs/cgroup/cpuacct; }
//! default { perm { task { uid = root; gid = users; fperm = 660; } admin { uid = root; gid = root; } } }
//! group daemons/www {
//!     perm { task { uid = root; gid = webmaster; fperm = 770; }
//!            admin { uid = root; gid = root; dperm = 775; fperm = 744; } }
//!     cpu { cpu.shares = "1000"; }
//!     memory { }
//! }
//! template students/%u { cpu { } }
//! ```
//!
//! Words are runs of `[A-Za-z0-9_-/.,%@\]`, or anything between double quotes (no
//! escapes). `.` as a group name is the root. Where libcgroup's grammar is stricter than
//! it needs to be, rein accepts more and says so here: a `perm` block may come anywhere in
//! a group (cgsnapshot writes one before each controller), `task` or `admin` may be left
//! out, `tuid`/`tgid` (cgsnapshot's words in `task`) mean `uid`/`gid`, keywords are plain
//! words where a value is expected, and a `#` after other text on a line starts a comment.
//! `namespace` and `systemd` blocks are refused with the reason: rein creates groups at
//! the paths they are named by, and starts systemd units through its own driver.
//!
//! [`CgConfig::to_conf`] writes a model back as text, the way libcgroup's cgsnapshot
//! writes it; what it writes, [`parse`] reads back to the same mounts, groups, settings
//! and owners.

use std::fmt;

/// A cgconfig.conf file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgConfig {
    /// `group` blocks, in the file's order.
    pub groups: Vec<GroupBlock>,
    /// `template` blocks (for cgrulesengd and cgexec's templates; cgconfigparser does
    /// not create them).
    pub templates: Vec<GroupBlock>,
    /// The `default { perm { } }` block: the permissions of every group without its own.
    pub default: Option<Perm>,
    /// `mount` entries.
    pub mounts: Vec<MountEntry>,
}

/// A `group NAME { }` (or `template`) block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupBlock {
    /// The group's path as written (`daemons/www`; `.` is the root).
    pub name: String,
    /// The line of `group`.
    pub line: usize,
    /// Its controller blocks, in order.
    pub controllers: Vec<ControllerBlock>,
    /// Its `perm` block (all unset when it has none).
    pub perm: Perm,
    /// The line of its (last) `perm` block.
    pub perm_line: Option<usize>,
}

/// A `CONTROLLER { name = value; ... }` block of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControllerBlock {
    /// The controller as written (`cpu`, `memory`, `name=systemd`).
    pub name: String,
    /// The line of its name.
    pub line: usize,
    /// Its settings, in order.
    pub settings: Vec<Setting>,
}

/// One `name = value;` of a controller block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The interface file (`cpu.shares`).
    pub name: String,
    /// The value, quotes removed.
    pub value: String,
    /// Its line.
    pub line: usize,
}

/// A user or group: a number, or a name to look up (`/etc/passwd`, `/etc/group`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    /// A numeric id.
    Number(u32),
    /// A name.
    Name(String),
}

impl Id {
    /// A number when the text is one, else a name.
    pub fn parse(s: &str) -> Id {
        s.parse().map(Id::Number).unwrap_or_else(|_| Id::Name(s.to_string()))
    }
}

/// The `USER:GROUP` of cgcreate's and cgconfigparser's `-a` and `-t`, split as
/// libcgroup's `parse_uid_gid` (src/tools/tools-common.c) splits it with `strtok`: the
/// user, then the group; `:GROUP` gives the group alone, `USER` (no colon) the user
/// alone, empty fields are skipped (`a::b` is user `a`, group `b`) and a third field
/// is ignored. Each is a name, or (rein; libcgroup looks up names only) a number.
pub fn parse_owner(s: &str) -> (Option<Id>, Option<Id>) {
    let mut fields = s.split(':').filter(|f| !f.is_empty()).map(Id::parse);
    if s.starts_with(':') { (None, fields.next()) } else { (fields.next(), fields.next()) }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Number(n) => write!(f, "{n}"),
            Id::Name(s) => f.write_str(s),
        }
    }
}

/// A `perm` block: the owners and modes of a group's files. `None`: not given (the
/// default block's, else the command line's, else the caller's own ids and the modes
/// the kernel gave).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Perm {
    /// `task { uid }`: the owner of the task file (`tasks`).
    pub task_uid: Option<Id>,
    /// `task { gid }`.
    pub task_gid: Option<Id>,
    /// `task { fperm }`: the task file's mode (the owner's bits mask the others').
    pub task_fperm: Option<u32>,
    /// `admin { uid }`: the owner of the directory and its other files.
    pub admin_uid: Option<Id>,
    /// `admin { gid }`.
    pub admin_gid: Option<Id>,
    /// `admin { dperm }`: the directory's mode.
    pub admin_dperm: Option<u32>,
    /// `admin { fperm }`: the other files' mode.
    pub admin_fperm: Option<u32>,
}

impl Perm {
    /// Every field of `over` that is set replaces this one's.
    pub fn overlay(&mut self, over: &Perm) {
        let Perm { task_uid, task_gid, task_fperm, admin_uid, admin_gid, admin_dperm, admin_fperm } = over.clone();
        self.task_uid = task_uid.or(self.task_uid.take());
        self.task_gid = task_gid.or(self.task_gid.take());
        self.task_fperm = task_fperm.or(self.task_fperm);
        self.admin_uid = admin_uid.or(self.admin_uid.take());
        self.admin_gid = admin_gid.or(self.admin_gid.take());
        self.admin_dperm = admin_dperm.or(self.admin_dperm);
        self.admin_fperm = admin_fperm.or(self.admin_fperm);
    }

    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Perm::default()
    }
}

impl Perm {
    /// The `perm { admin { } task { } }` block, one tab deep, as cgsnapshot writes it
    /// (`tuid`/`tgid` in `task`; modes in octal); empty when nothing is set.
    fn to_conf(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let id = |key: &str, v: &Option<Id>| v.as_ref().map(|v| format!("\t\t\t{key} = {v};\n")).unwrap_or_default();
        let mode = |key: &str, v: Option<u32>| v.map(|v| format!("\t\t\t{key} = {v:o};\n")).unwrap_or_default();
        let admin = [
            id("uid", &self.admin_uid),
            id("gid", &self.admin_gid),
            mode("dperm", self.admin_dperm),
            mode("fperm", self.admin_fperm),
        ]
        .concat();
        let task = [id("tuid", &self.task_uid), id("tgid", &self.task_gid), mode("fperm", self.task_fperm)].concat();
        let mut out = String::from("\tperm {\n");
        for (name, body) in [("admin", admin), ("task", task)] {
            if !body.is_empty() {
                out.push_str(&format!("\t\t{name} {{\n{body}\t\t}}\n"));
            }
        }
        out.push_str("\t}\n");
        out
    }
}

impl GroupBlock {
    /// `KEYWORD NAME { ... }`: each controller block with its settings, the perm block
    /// before each one (as cgsnapshot repeats it; once when there is no controller).
    fn to_conf(&self, keyword: &str) -> String {
        let perm = self.perm.to_conf();
        let mut out = format!("{keyword} {} {{\n", self.name);
        if self.controllers.is_empty() {
            out.push_str(&perm);
        }
        for c in &self.controllers {
            out.push_str(&perm);
            out.push_str(&format!("\t{} {{\n", c.name));
            for s in &c.settings {
                out.push_str(&format!("\t\t{}=\"{}\";\n", s.name, s.value));
            }
            out.push_str("\t}\n");
        }
        out.push_str("}\n\n");
        out
    }
}

impl CgConfig {
    /// The model as cgconfig.conf text, in libcgroup cgsnapshot's layout: the `mount`
    /// block (written even when empty), the `default` block when there is one, each group
    /// in order, then each template; one tab per level, each value in double quotes.
    /// Line numbers are not written. The format has no escapes: a name or value holding
    /// `"` (or a name holding blanks or `{};=`) does not read back the same.
    pub fn to_conf(&self) -> String {
        let mut out = String::from("mount {\n");
        for m in &self.mounts {
            out.push_str(&format!("\t{} = {};\n", m.controller, m.path));
        }
        out.push_str("}\n\n");
        if let Some(d) = &self.default {
            out.push_str(&format!("default {{\n{}}}\n\n", d.to_conf()));
        }
        for g in &self.groups {
            out.push_str(&g.to_conf("group"));
        }
        for t in &self.templates {
            out.push_str(&t.to_conf("template"));
        }
        out
    }
}

/// One `CONTROLLERS = PATH;` of the `mount` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The controller, with mount options when quoted (`cpu,nodev`, `name=scheduler`).
    pub controller: String,
    /// The mount point.
    pub path: String,
    /// Its line.
    pub line: usize,
}

/// Why a file does not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The line (from 1).
    pub line: usize,
    /// What is wrong, in words that name the text.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    quoted: bool,
    line: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-/.,%@\\".contains(c)
}

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut at_line_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                line += 1;
                at_line_start = true;
                continue;
            }
            ' ' | '\t' | '\r' => continue,
            // libcgroup's lexer: a line whose first character is '*' is a comment too.
            '#' | '*' if c == '#' || at_line_start => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            '"' => {
                let start = line;
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            s.push(c);
                        }
                        None => {
                            return Err(ParseError {
                                line: start,
                                message: "a quoted word has no closing '\"'".into(),
                            });
                        }
                    }
                }
                out.push(Token { tok: Tok::Word(s), quoted: true, line: start });
            }
            '{' | '}' | '=' | ';' => out.push(Token { tok: Tok::Punct(c), quoted: false, line }),
            c if is_word_char(c) => {
                let mut s = String::from(c);
                while let Some(n) = chars.peek().copied().filter(|c| is_word_char(*c)) {
                    s.push(n);
                    chars.next();
                }
                out.push(Token { tok: Tok::Word(s), quoted: false, line });
            }
            other => {
                return Err(ParseError {
                    line,
                    message: format!(
                        "unexpected character '{}'; words are letters, digits and _-/.,%@\\, or \"quoted\"",
                        other.escape_default()
                    ),
                });
            }
        }
        at_line_start = false;
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    last_line: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn line(&self) -> usize {
        self.peek().map(|t| t.line).unwrap_or(self.last_line)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError { line: self.line(), message: message.into() })
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "the end of the file".into(),
            Some(Token { tok: Tok::Punct(c), .. }) => format!("'{c}'"),
            Some(Token { tok: Tok::Word(w), quoted: true, .. }) => format!("\"{w}\""),
            Some(Token { tok: Tok::Word(w), .. }) => format!("'{w}'"),
        }
    }

    fn punct(&mut self, c: char, context: &str) -> Result<(), ParseError> {
        match self.peek() {
            Some(Token { tok: Tok::Punct(p), .. }) if *p == c => {
                self.pos += 1;
                Ok(())
            }
            _ => self.err(format!("expected '{c}' {context}, found {}", self.describe())),
        }
    }

    fn at_punct(&self, c: char) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
    }

    /// A word (quoted or not); returns it, whether it was quoted, and its line.
    fn word(&mut self, what: &str) -> Result<(String, bool, usize), ParseError> {
        match self.peek().cloned() {
            Some(Token { tok: Tok::Word(w), quoted, line }) => {
                self.pos += 1;
                Ok((w, quoted, line))
            }
            _ => self.err(format!("expected {what}, found {}", self.describe())),
        }
    }

    /// `name = value;` pairs up to the closing '}' (consumed).
    fn pairs(&mut self, context: &str) -> Result<Vec<Setting>, ParseError> {
        let mut out = Vec::new();
        while !self.at_punct('}') {
            let (name, _, line) = self.word(&format!("a name or '}}' in {context}"))?;
            self.punct('=', &format!("after '{name}' in {context}"))?;
            let (value, _, _) = self.word(&format!("a value for '{name}' in {context}"))?;
            self.punct(';', &format!("after '{name} = {value}' in {context}"))?;
            out.push(Setting { name, value, line });
        }
        self.punct('}', &format!("to close {context}"))?;
        Ok(out)
    }

    fn perm(&mut self, into: &mut Perm, context: &str) -> Result<(), ParseError> {
        self.punct('{', &format!("after 'perm' in {context}"))?;
        while !self.at_punct('}') {
            let (kind, quoted, _) = self.word(&format!("'task', 'admin' or '}}' in the perm block of {context}"))?;
            let task = match kind.as_str() {
                "task" if !quoted => true,
                "admin" if !quoted => false,
                _ => {
                    self.pos -= 1;
                    return self.err(format!(
                        "unexpected {} in the perm block of {context}; it holds 'task {{ }}' and 'admin {{ }}'",
                        self.describe()
                    ));
                }
            };
            let block = format!("the {kind} block of {context}");
            self.punct('{', &format!("after '{kind}' in the perm block of {context}"))?;
            for s in self.pairs(&block)? {
                let bad = |why: &str| ParseError { line: s.line, message: format!("{}: {why}", s_name(&s, &block)) };
                let mode = || parse_mode(&s.value).ok_or_else(|| bad("not an octal mode (e.g. 755)"));
                match (task, s.name.as_str()) {
                    (true, "uid" | "tuid") => into.task_uid = Some(Id::parse(&s.value)),
                    (true, "gid" | "tgid") => into.task_gid = Some(Id::parse(&s.value)),
                    (true, "fperm") => into.task_fperm = Some(mode()?),
                    (false, "uid") => into.admin_uid = Some(Id::parse(&s.value)),
                    (false, "gid") => into.admin_gid = Some(Id::parse(&s.value)),
                    (false, "dperm") => into.admin_dperm = Some(mode()?),
                    (false, "fperm") => into.admin_fperm = Some(mode()?),
                    (true, _) => return Err(bad("unknown; task takes uid, gid and fperm")),
                    (false, _) => return Err(bad("unknown; admin takes uid, gid, dperm and fperm")),
                }
            }
        }
        self.punct('}', &format!("to close the perm block of {context}"))
    }

    fn group(&mut self, keyword: &str) -> Result<GroupBlock, ParseError> {
        let line = self.line();
        let (name, _, _) = self.word(&format!("a group name after '{keyword}'"))?;
        let context = format!("{keyword} {name}");
        self.punct('{', &format!("after '{context}'"))?;
        let mut g = GroupBlock { name, line, ..GroupBlock::default() };
        let mut has_perm = false;
        while !self.at_punct('}') {
            let (word, quoted, wline) = self.word(&format!("a controller, 'perm' or '}}' in {context}"))?;
            if word == "perm" && !quoted {
                g.perm_line = Some(wline);
                self.perm(&mut g.perm, &context)?;
                has_perm = true;
                continue;
            }
            let block = format!("controller {word} of {context}");
            self.punct('{', &format!("after controller '{word}' in {context}"))?;
            let settings = self.pairs(&block)?;
            match g.controllers.iter_mut().find(|c| c.name == word) {
                Some(c) => c.settings.extend(settings),
                None => g.controllers.push(ControllerBlock { name: word, line: wline, settings }),
            }
        }
        self.punct('}', &format!("to close {context}"))?;
        if g.controllers.is_empty() && !has_perm {
            return Err(ParseError {
                line,
                message: format!(
                    "{context} names no controller; add one (e.g. 'cpu {{ }}'): it says in which hierarchies the group is made"
                ),
            });
        }
        Ok(g)
    }
}

fn s_name(s: &Setting, block: &str) -> String {
    format!("'{} = {}' in {block}", s.name, s.value)
}

/// An octal mode as libcgroup's `strtol(value, 8)` takes it, at most 07777.
pub fn parse_mode(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o7777)
}

/// Parses a cgconfig.conf file.
pub fn parse(text: &str) -> Result<CgConfig, ParseError> {
    let toks = lex(text)?;
    let last_line = toks.last().map(|t| t.line).unwrap_or(1);
    let mut p = Parser { toks, pos: 0, last_line };
    let mut out = CgConfig::default();
    while p.peek().is_some() {
        let (kw, quoted, line) = p.word("'group', 'template', 'default' or 'mount'")?;
        match kw.as_str() {
            _ if quoted => {
                p.pos -= 1;
                return p.err(format!("expected 'group', 'template', 'default' or 'mount', found {}", p.describe()));
            }
            "group" => out.groups.push(p.group("group")?),
            "template" => out.templates.push(p.group("template")?),
            "default" => {
                p.punct('{', "after 'default'")?;
                let (perm, _, _) = p.word("'perm' in the default block")?;
                if perm != "perm" {
                    p.pos -= 1;
                    return p.err(format!("expected 'perm' in the default block, found {}", p.describe()));
                }
                let mut d = Perm::default();
                p.perm(&mut d, "the default block")?;
                p.punct('}', "to close the default block")?;
                out.default = Some(d);
            }
            "mount" => {
                p.punct('{', "after 'mount'")?;
                let pairs = p.pairs("the mount block")?;
                if pairs.is_empty() {
                    return Err(ParseError { line, message: "the mount block is empty".into() });
                }
                out.mounts.extend(pairs.into_iter().map(|s| MountEntry {
                    controller: s.name,
                    path: s.value,
                    line: s.line,
                }));
            }
            "namespace" => {
                return Err(ParseError {
                    line,
                    message: "'namespace' blocks are not supported by rein: groups are made at the path their \
                              'group' block names; write the full path there instead"
                        .into(),
                });
            }
            "systemd" => {
                return Err(ParseError {
                    line,
                    message: "'systemd' blocks are not supported by rein's cgconfigparser: start the slice and \
                              scope with systemd (systemd-run --scope --slice=...), or use rein's systemd driver \
                              ('rein run --driver systemd')"
                        .into(),
                });
            }
            _ => {
                p.pos -= 1;
                return p.err(format!("expected 'group', 'template', 'default' or 'mount', found {}", p.describe()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
# the man page's example 3, and more
mount {
    cpu = /sys/fs/cgroup/cpu;
    "cpuacct" = /sys/fs/cgroup/cpuacct;
}

default {
    perm {
        task { uid = 1000; gid = users; }
        admin { uid = root; gid = root; }
    }
}

group daemons/www {
    perm {
        task {
            uid = root;
            gid = webmaster;
            fperm = 770;
        }
        admin {
            uid = root;
            gid = 0;
            dperm = 775;
            fperm = 744;
        }
    }
    cpu {
        cpu.shares = "1000";
        cpu.cfs_quota_us = -1;
    }
    memory {
    }
}
  # indented comment
group . { cpu { } }
group default { cpu { cpu.max = "max 100000"; } }
template students/%u {
    cpu { }
}
"#;

    #[test]
    fn the_man_pages_example_parses() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(c.mounts.len(), 2);
        assert_eq!(
            c.mounts[1],
            MountEntry { controller: "cpuacct".into(), path: "/sys/fs/cgroup/cpuacct".into(), line: 5 }
        );
        let d = c.default.as_ref().unwrap();
        assert_eq!(d.task_uid, Some(Id::Number(1000)));
        assert_eq!(d.task_gid, Some(Id::Name("users".into())));
        assert_eq!(c.groups.len(), 3);
        let www = &c.groups[0];
        assert_eq!((www.name.as_str(), www.line), ("daemons/www", 15));
        assert_eq!(www.perm.task_fperm, Some(0o770));
        assert_eq!(www.perm_line, Some(16));
        assert_eq!(www.perm.admin_gid, Some(Id::Number(0)));
        assert_eq!(www.perm.admin_dperm, Some(0o775));
        assert_eq!(www.controllers.len(), 2);
        assert_eq!(
            www.controllers[0].settings[0],
            Setting { name: "cpu.shares".into(), value: "1000".into(), line: 30 }
        );
        assert_eq!(www.controllers[0].settings[1].value, "-1");
        assert!(www.controllers[1].settings.is_empty());
        assert_eq!(c.groups[1].name, ".");
        assert_eq!(c.groups[2].name, "default");
        assert_eq!(c.groups[2].controllers[0].settings[0].value, "max 100000");
        assert_eq!(c.templates[0].name, "students/%u");
    }

    #[test]
    fn cgsnapshots_own_output_parses() {
        // What libcgroup's cgsnapshot writes: perm before each controller, tuid/tgid.
        let text = "# Configuration file generated by cgsnapshot\nmount {\n\tcpu = /sys/fs/cgroup/cpu;\n}\n\n\
                    group a/b {\n\tperm {\n\t\tadmin {\n\t\t\tuid = root;\n\t\t\tgid = root;\n\t\t}\n\t\ttask {\n\t\t\t\
                    tuid = 7;\n\t\t\ttgid = root;\n\t\t}\n\t}\n\tcpu {\n\t\tcpu.shares=\"1024\";\n\t}\n\tperm {\n\t\t\
                    admin {\n\t\t\tuid = root;\n\t\t}\n\t}\n\tmemory {\n\t\tmemory.swappiness=\"60\";\n\t}\n}\n";
        let c = parse(text).unwrap();
        let g = &c.groups[0];
        assert_eq!(g.perm.task_uid, Some(Id::Number(7)));
        assert_eq!(g.controllers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["cpu", "memory"]);
        assert_eq!(g.controllers[1].settings[0].value, "60");
    }

    #[test]
    fn empty_files_and_comments() {
        assert_eq!(parse("").unwrap(), CgConfig::default());
        assert_eq!(parse("# nothing\n\n   # at all\n* old style\n").unwrap(), CgConfig::default());
        let c = parse("group g { pids { pids.max = 5; } } # trailing\n").unwrap();
        assert_eq!(c.groups[0].controllers[0].settings[0].value, "5");
        // A perm-only group is a group without controllers (cgroup2).
        assert!(parse("group g { perm { admin { uid = 0; } } }").unwrap().groups[0].controllers.is_empty());
    }

    #[test]
    fn mistakes_are_located_and_named() {
        for (text, line, needle) in [
            ("group g {\n  cpu {\n    cpu.shares = 100;\n  }\n  x y\n}\n", 5, "expected '{' after controller 'x'"),
            ("group g {\n cpu {\n  cpu.shares = 100\n }\n}\n", 4, "expected ';' after 'cpu.shares = 100'"),
            ("group g {\n cpu {\n  cpu.shares 100;\n }\n}\n", 3, "expected '=' after 'cpu.shares'"),
            ("group g {\n cpu { }\n", 2, "in group g, found the end of the file"),
            ("group {\n}\n", 1, "expected a group name after 'group'"),
            ("group g {\n}\n", 1, "names no controller"),
            ("groupe g { cpu { } }", 1, "found 'groupe'"),
            ("group g { cpu { a = \"b; } }", 1, "no closing"),
            ("group g { cpu { a = b$; } }", 1, "unexpected character '$'"),
            ("group g {\n perm {\n  task { uid = root; fperm = 8; }\n }\n cpu { } }", 3, "not an octal mode"),
            ("group g {\n perm {\n  admin { owner = root; }\n }\n cpu { } }", 3, "'owner = root' in the admin block"),
            ("group g { perm { others { } } cpu { } }", 1, "unexpected 'others' in the perm block"),
            ("default { cpu { } }", 1, "expected 'perm' in the default block, found 'cpu'"),
            ("mount {\n}\n", 1, "mount block is empty"),
            ("\n\nnamespace { cpu = /x; }", 3, "'namespace' blocks are not supported"),
            ("systemd { slice = a.slice; }", 1, "'systemd' blocks are not supported"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn owners_split_as_libcgroups_strtok() {
        let name = |s: &str| Some(Id::Name(s.into()));
        for (text, want) in [
            ("alice:staff", (name("alice"), name("staff"))),
            ("alice", (name("alice"), None)),
            ("alice:", (name("alice"), None)),
            (":staff", (None, name("staff"))),
            ("::staff", (None, name("staff"))),
            ("alice::staff:x", (name("alice"), name("staff"))),
            ("65534:0", (Some(Id::Number(65534)), Some(Id::Number(0)))),
            ("", (None, None)),
            (":", (None, None)),
        ] {
            assert_eq!(parse_owner(text), want, "{text:?}");
        }
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("755"), Some(0o755));
        assert_eq!(parse_mode("0640"), Some(0o640));
        assert_eq!(parse_mode("7777"), Some(0o7777));
        for bad in ["", "8", "75a", "17777", "-1"] {
            assert_eq!(parse_mode(bad), None, "{bad}");
        }
    }

    #[test]
    fn perms_overlay() {
        let mut base = Perm { task_uid: Some(Id::Number(1)), admin_fperm: Some(0o600), ..Perm::default() };
        base.overlay(&Perm { task_uid: Some(Id::Number(2)), admin_dperm: Some(0o755), ..Perm::default() });
        assert_eq!(base.task_uid, Some(Id::Number(2)));
        assert_eq!(base.admin_fperm, Some(0o600));
        assert_eq!(base.admin_dperm, Some(0o755));
        assert!(Perm::default().is_empty());
    }

    /// The model with every line number zeroed (the writer writes none).
    fn without_lines(mut c: CgConfig) -> CgConfig {
        for m in &mut c.mounts {
            m.line = 0;
        }
        for g in c.groups.iter_mut().chain(c.templates.iter_mut()) {
            g.line = 0;
            g.perm_line = g.perm_line.map(|_| 0);
            for b in &mut g.controllers {
                b.line = 0;
                for s in &mut b.settings {
                    s.line = 0;
                }
            }
        }
        c
    }

    #[test]
    fn what_the_writer_writes_the_parser_reads_back() {
        let model = without_lines(parse(EXAMPLE).unwrap());
        let text = model.to_conf();
        assert_eq!(without_lines(parse(&text).unwrap()), model, "{text}");
        // And a second round changes nothing.
        assert_eq!(without_lines(parse(&text).unwrap()).to_conf(), text);
    }

    #[test]
    fn the_writer_writes_cgsnapshots_layout() {
        let perm = Perm {
            admin_uid: Some(Id::Name("alice".into())),
            admin_gid: Some(Id::Number(50)),
            task_uid: Some(Id::Name("alice".into())),
            task_gid: Some(Id::Name("staff".into())),
            ..Perm::default()
        };
        let setting = |name: &str, value: &str| Setting { name: name.into(), value: value.into(), line: 0 };
        let model = CgConfig {
            mounts: vec![MountEntry { controller: "cpu".into(), path: "/sys/fs/cgroup/cpu".into(), line: 0 }],
            groups: vec![
                GroupBlock {
                    name: "a/b".into(),
                    controllers: vec![
                        ControllerBlock {
                            name: "cpu".into(),
                            settings: vec![setting("cpu.shares", "512"), setting("cpu.cfs_quota_us", "-1")],
                            line: 0,
                        },
                        ControllerBlock { name: "pids".into(), settings: vec![setting("pids.max", "max")], line: 0 },
                    ],
                    perm: perm.clone(),
                    perm_line: Some(0),
                    line: 0,
                },
                GroupBlock {
                    name: "c".into(),
                    controllers: vec![ControllerBlock {
                        name: "devices".into(),
                        settings: vec![setting("devices.deny", "a *:* rwm"), setting("devices.allow", "c 1:3 rwm")],
                        line: 0,
                    }],
                    ..GroupBlock::default()
                },
            ],
            ..CgConfig::default()
        };
        let text = model.to_conf();
        let perm_text = "\tperm {\n\t\tadmin {\n\t\t\tuid = alice;\n\t\t\tgid = 50;\n\t\t}\n\t\ttask {\n\t\t\ttuid = alice;\n\t\t\ttgid = staff;\n\t\t}\n\t}\n";
        assert_eq!(
            text,
            format!(
                "mount {{\n\tcpu = /sys/fs/cgroup/cpu;\n}}\n\n\
                 group a/b {{\n{perm_text}\tcpu {{\n\t\tcpu.shares=\"512\";\n\t\tcpu.cfs_quota_us=\"-1\";\n\t}}\n\
                 {perm_text}\tpids {{\n\t\tpids.max=\"max\";\n\t}}\n}}\n\n\
                 group c {{\n\tdevices {{\n\t\tdevices.deny=\"a *:* rwm\";\n\t\tdevices.allow=\"c 1:3 rwm\";\n\t}}\n}}\n\n"
            )
        );
        assert_eq!(without_lines(parse(&text).unwrap()), without_lines(model));
    }
}
