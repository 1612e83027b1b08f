//! Unit names and where their cgroups are: pure functions over systemd's naming rules.
//!
//! systemd encodes a slice's place in its name: `a-b.slice` is a child of `a.slice`, whose
//! cgroup is `a.slice/a-b.slice`; `-.slice` is the root slice. A scope's cgroup is its
//! slice's cgroup plus the scope's name. (systemd.slice(5), "Slice units".)
//!
//! rein accepts a strict subset of systemd's unit-name alphabet: ASCII letters, digits and
//! `:` `_` `.` `-`, no `\` escapes and no `@` instances, so that every name is also a valid
//! rein group-path component and reads the same in `systemctl` and under /sys/fs/cgroup.

use rein::{Error, GroupPath, Result};

/// The slice `rein run` puts its scopes in unless `--slice` says otherwise.
pub const DEFAULT_SLICE: &str = "rein.slice";

/// The root slice.
pub const ROOT_SLICE: &str = "-.slice";

/// Longest unit name systemd accepts, suffix included (UNIT_NAME_MAX is 256 with the NUL).
pub const MAX_UNIT_NAME: usize = 255;

fn invalid(what: &str, name: &str, reason: impl Into<String>) -> Error {
    Error::invalid(what, name, reason)
}

/// Checks the characters of a unit name's stem (the part before `.scope`/`.slice`).
fn check_stem(what: &str, given: &str, stem: &str) -> Result<()> {
    if stem.is_empty() {
        return Err(invalid(what, given, "empty name"));
    }
    if stem.starts_with('.') {
        return Err(invalid(what, given, "must not start with '.'"));
    }
    if let Some(bad) = stem.chars().find(|c| !(c.is_ascii_alphanumeric() || ":_.-".contains(*c))) {
        let shown = if bad.is_control() { "control characters".to_string() } else { format!("'{bad}'") };
        return Err(invalid(
            what,
            given,
            format!("{shown} not allowed; use ASCII letters, digits and : _ . - (no systemd escapes or @ instances)"),
        ));
    }
    Ok(())
}

/// A scope name from `--unit`: `NAME` or `NAME.scope`. Returns the full name.
pub fn scope_name(given: &str) -> Result<String> {
    let stem = given.strip_suffix(".scope").unwrap_or(given);
    check_stem("--unit", given, stem)?;
    const OTHER_TYPES: [&str; 10] =
        ["service", "slice", "socket", "target", "timer", "mount", "swap", "path", "device", "automount"];
    if let Some((_, suffix)) = stem.rsplit_once('.')
        && OTHER_TYPES.contains(&suffix)
    {
        return Err(invalid("--unit", given, format!("rein makes a scope, not a .{suffix} unit")));
    }
    let full = format!("{stem}.scope");
    if full.len() > MAX_UNIT_NAME {
        return Err(invalid("--unit", given, format!("longer than {MAX_UNIT_NAME} bytes with .scope")));
    }
    GroupPath::parse(&full).map_err(|e| invalid("--unit", given, e.to_string()))?;
    Ok(full)
}

/// A slice name from `--slice`: `NAME` or `NAME.slice`, with `-` separating the levels
/// (`a-b` lives in `a`), or `-` / `-.slice` for the root slice. Returns the full name.
pub fn slice_name(given: &str) -> Result<String> {
    if given == "-" || given == ROOT_SLICE {
        return Ok(ROOT_SLICE.to_string());
    }
    let stem = given.strip_suffix(".slice").unwrap_or(given);
    check_stem("--slice", given, stem)?;
    if stem.split('-').any(str::is_empty) {
        return Err(invalid(
            "--slice",
            given,
            "'-' separates slice levels ('a-b' lives in 'a'): no leading, trailing or doubled '-'",
        ));
    }
    let full = format!("{stem}.slice");
    if full.len() > MAX_UNIT_NAME {
        return Err(invalid("--slice", given, format!("longer than {MAX_UNIT_NAME} bytes with .slice")));
    }
    for level in slice_levels(&full) {
        GroupPath::parse(&level).map_err(|e| invalid("--slice", given, e.to_string()))?;
    }
    Ok(full)
}

/// The slices from the top down to `slice` itself: `a-b.slice` gives `a.slice`, `a-b.slice`.
/// The root slice has none (its cgroup is the manager's root).
fn slice_levels(slice: &str) -> Vec<String> {
    if slice == ROOT_SLICE {
        return Vec::new();
    }
    let stem = slice.strip_suffix(".slice").unwrap_or(slice);
    let parts: Vec<&str> = stem.split('-').collect();
    (1..=parts.len()).map(|n| format!("{}.slice", parts[..n].join("-"))).collect()
}

/// The cgroup of `slice` relative to its manager's root cgroup: `a-b.slice` is
/// `a.slice/a-b.slice`; the root slice is the root itself (empty).
pub fn slice_cgroup(slice: &str) -> String {
    slice_levels(slice).join("/")
}

/// A child slice of `parent` named `leaf` (which must hold no `-`): `a.slice` + `x` is
/// `a-x.slice`; the root slice + `x` is `x.slice`.
pub fn child_slice(parent: &str, leaf: &str) -> String {
    debug_assert!(!leaf.contains('-'));
    if parent == ROOT_SLICE {
        format!("{leaf}.slice")
    } else {
        format!("{}-{leaf}.slice", parent.strip_suffix(".slice").unwrap_or(parent))
    }
}

/// The default scope name of `rein run`: `rein-run-<pid>.scope`.
pub fn default_scope_name(pid: u32) -> String {
    format!("rein-run-{pid}.scope")
}

/// The slice that holds one run's scope and keeps its accounting after the scope is gone
/// (see the crate guide): a child of `parent` named after the scope, with its `-` turned
/// into `_` (a `-` would add slice levels). `rein-run-42.scope` in `rein.slice` gives
/// `rein-rein_run_42.slice`.
pub fn run_slice(parent: &str, scope: &str) -> String {
    let stem = scope.strip_suffix(".scope").unwrap_or(scope);
    child_slice(parent, &stem.replace('-', "_"))
}

/// Joins a manager's root cgroup (`/` or `/user.slice/user-1000.slice/user@1000.service`)
/// and a path below it into a path relative to the cgroup2 mount.
pub fn under_root(root: &str, rel: &str) -> String {
    let root = root.trim_matches('/');
    match (root.is_empty(), rel.is_empty()) {
        (true, _) => rel.to_string(),
        (false, true) => root.to_string(),
        (false, false) => format!("{root}/{rel}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names() {
        assert_eq!(scope_name("build").unwrap(), "build.scope");
        assert_eq!(scope_name("build.scope").unwrap(), "build.scope");
        assert_eq!(scope_name("a:b_c.d-e").unwrap(), "a:b_c.d-e.scope");
        for bad in ["", ".scope", ".hidden", "a/b", "a b", "a\\x2d", "a@b", "x.service", "x\n", "cpu.max"] {
            assert!(scope_name(bad).is_err(), "{bad:?} accepted");
        }
        let e = scope_name("job@1").unwrap_err().to_string();
        assert!(e.contains("'@' not allowed"), "{e}");
        assert!(scope_name(&"a".repeat(250)).is_err());
        assert!(scope_name(&"a".repeat(249)).is_ok());
    }

    #[test]
    fn slice_names_and_cgroups() {
        let table = [
            ("rein", "rein.slice", "rein.slice"),
            ("rein.slice", "rein.slice", "rein.slice"),
            ("system", "system.slice", "system.slice"),
            ("a-b-c", "a-b-c.slice", "a.slice/a-b.slice/a-b-c.slice"),
            ("-", "-.slice", ""),
            ("-.slice", "-.slice", ""),
        ];
        for (given, name, cgroup) in table {
            assert_eq!(slice_name(given).unwrap(), name, "{given}");
            assert_eq!(slice_cgroup(name), cgroup, "{given}");
        }
        for bad in ["", "a--b", "-a", "a-", "a/b", "a.scope.x\\", "a@b"] {
            assert!(slice_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(slice_name("a--b").unwrap_err().to_string().contains("separates slice levels"));
    }

    #[test]
    fn run_slices() {
        assert_eq!(run_slice("rein.slice", "rein-run-42.scope"), "rein-rein_run_42.slice");
        assert_eq!(run_slice("-.slice", "job.scope"), "job.slice");
        assert_eq!(run_slice("a-b.slice", "x-y.scope"), "a-b-x_y.slice");
        assert_eq!(slice_cgroup(&run_slice("a-b.slice", "x.scope")), "a.slice/a-b.slice/a-b-x.slice");
        assert_eq!(default_scope_name(42), "rein-run-42.scope");
    }

    #[test]
    fn roots() {
        assert_eq!(under_root("/", "rein.slice"), "rein.slice");
        assert_eq!(under_root("", "rein.slice"), "rein.slice");
        assert_eq!(
            under_root("/user.slice/user-1000.slice/user@1000.service", "rein.slice"),
            "user.slice/user-1000.slice/user@1000.service/rein.slice"
        );
        assert_eq!(under_root("/u.slice/", ""), "u.slice");
    }
}
