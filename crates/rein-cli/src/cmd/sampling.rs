//! What `rein top` and `rein exporter` share: opening the tree of groups they watch.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rein::tree::{Scope, Tree, TreeOptions};
use rein::{GroupPath, Hierarchy};

/// Parses a SUBTREE argument (none: the whole tree).
pub fn subtree(arg: Option<&str>, what: &str) -> anyhow::Result<GroupPath> {
    match arg {
        None | Some("/") => Ok(GroupPath::root()),
        Some(s) => GroupPath::parse(s).with_context(|| what.to_string()),
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit: a tree keeps its interface files open
/// (see `rein::tree`), several per group. Failure is harmless (the tree reads the files it
/// cannot keep open the slow way).
pub fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    if l.current != l.maximum {
        l.current = l.maximum;
        let _ = setrlimit(Resource::Nofile, l);
    }
}

/// Opens the tree of groups at and below `subtree`, read on up to `threads` threads,
/// keeping at most `max_open_files` interface files open (None:
/// [`rein::tree::DEFAULT_MAX_OPEN_FILES`]), and never more than RLIMIT_NOFILE allows.
pub fn open_tree(
    h: Arc<Hierarchy>,
    subtree: &GroupPath,
    all: bool,
    threads: usize,
    max_open_files: Option<usize>,
) -> anyhow::Result<Tree> {
    raise_open_file_limit();
    let scope = if all { Scope::All } else { Scope::Own };
    let mut options = TreeOptions { scope, threads, ..TreeOptions::default() };
    if let Some(n) = max_open_files {
        options.max_open_files = n.min(rein::tree::open_file_budget());
    }
    Ok(Tree::new(h, subtree, options)?)
}

/// Parses a duration: `1s`, `500ms`, `2m`, or a number of seconds (`2.5`).
pub fn duration(s: &str, what: &str) -> anyhow::Result<Duration> {
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .with_context(|| format!("{what}: '{s}' is not a duration (give e.g. 1s, 500ms, 2.5)"))?;
    let d = Duration::from_secs_f64(v * scale);
    anyhow::ensure!(d >= Duration::from_millis(100), "{what}: '{s}' is too short: at least 100ms");
    anyhow::ensure!(d <= Duration::from_secs(3600), "{what}: '{s}' is too long: at most 1h");
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (s, ms) in [("1s", 1000), ("500ms", 500), ("2.5", 2500), ("0.1", 100), ("1m", 60000), (" 3s ", 3000)] {
            assert_eq!(duration(s, "--interval").unwrap(), Duration::from_millis(ms), "{s}");
        }
        for (s, needle) in [
            ("0", "too short"),
            ("50ms", "too short"),
            ("2h", "not a duration"),
            ("-1s", "not a duration"),
            ("NaN", "not a duration"),
            ("", "not a duration"),
            ("2d", "not a duration"),
            ("7200", "too long"),
        ] {
            let e = duration(s, "--interval").unwrap_err().to_string();
            assert!(e.contains(needle) && e.starts_with("--interval"), "{s}: {e}");
        }
    }

    #[test]
    fn subtrees() {
        assert!(subtree(None, "SUBTREE").unwrap().is_root());
        assert!(subtree(Some("/"), "SUBTREE").unwrap().is_root());
        assert_eq!(subtree(Some("/rein/web"), "SUBTREE").unwrap().as_str(), "rein/web");
        let e = subtree(Some("../x"), "SUBTREE").unwrap_err();
        assert!(format!("{e:#}").contains("'..'"), "{e:#}");
    }
}
