//! Typed units and the parsers for rein's human syntax.
//!
//! Everything a user types (`256M`, `1.5G`, `20%`, `0-3,6`, `/dev/loop0:wbps=1M`) is parsed
//! here, by pure functions over `&str`. Sizes use binary multiples, as systemd and Docker do:
//! `256M` is 256 MiB. Parsers return `Err(reason)`; callers add what the value was for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A limit that is either unlimited (the kernel's `max`) or a value.
///
/// `None` around a `Limit` in [`crate::Resources`] means "leave as is"; `Limit::Max` means
/// "remove the limit". There are no sentinel numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Limit<T> {
    /// No limit (`max` in cgroup v2, `-1` in most v1 files).
    Max,
    /// A finite limit.
    #[serde(untagged)]
    Value(T),
}

impl<T> Limit<T> {
    /// The finite value, if any.
    pub fn value(&self) -> Option<&T> {
        match self {
            Limit::Max => None,
            Limit::Value(v) => Some(v),
        }
    }

    /// Applies `f` to a finite value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Limit<U> {
        match self {
            Limit::Max => Limit::Max,
            Limit::Value(v) => Limit::Value(f(v)),
        }
    }
}

impl<T: fmt::Display> fmt::Display for Limit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Max => f.write_str("max"),
            Limit::Value(v) => v.fmt(f),
        }
    }
}

/// Parses `max` / `infinity` as [`Limit::Max`], anything else with `parse`.
pub fn parse_limit<T>(s: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<Limit<T>, String> {
    match s.trim() {
        "max" | "infinity" => Ok(Limit::Max),
        other => parse(other).map(Limit::Value),
    }
}

/// A number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bytes(pub u64);

impl Bytes {
    /// `n` kibibytes.
    ///
    /// # Panics
    /// When `n` KiB does not fit a u64 (in release builds too: a limit must never wrap to
    /// a different one). [`Bytes::checked_kib`] returns `None` instead.
    pub const fn kib(n: u64) -> Bytes {
        match Bytes::checked_kib(n) {
            Some(b) => b,
            None => panic!("Bytes::kib: the size does not fit in 64 bits"),
        }
    }
    /// `n` mebibytes. Panics like [`Bytes::kib`] when it does not fit a u64.
    pub const fn mib(n: u64) -> Bytes {
        match Bytes::checked_mib(n) {
            Some(b) => b,
            None => panic!("Bytes::mib: the size does not fit in 64 bits"),
        }
    }
    /// `n` gibibytes. Panics like [`Bytes::kib`] when it does not fit a u64.
    pub const fn gib(n: u64) -> Bytes {
        match Bytes::checked_gib(n) {
            Some(b) => b,
            None => panic!("Bytes::gib: the size does not fit in 64 bits"),
        }
    }
    /// `n` kibibytes, or `None` when that does not fit a u64.
    pub const fn checked_kib(n: u64) -> Option<Bytes> {
        match n.checked_mul(1 << 10) {
            Some(v) => Some(Bytes(v)),
            None => None,
        }
    }
    /// `n` mebibytes, or `None` when that does not fit a u64.
    pub const fn checked_mib(n: u64) -> Option<Bytes> {
        match n.checked_mul(1 << 20) {
            Some(v) => Some(Bytes(v)),
            None => None,
        }
    }
    /// `n` gibibytes, or `None` when that does not fit a u64.
    pub const fn checked_gib(n: u64) -> Option<Bytes> {
        match n.checked_mul(1 << 30) {
            Some(v) => Some(Bytes(v)),
            None => None,
        }
    }
}

impl FromStr for Bytes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_size(s).map(Bytes)
    }
}

/// Shows the exact value in the largest binary unit that divides it (`256M`, `1536M`, `4097`).
impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 5] =
            [(1 << 50, "P"), (1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
        for (size, unit) in UNITS {
            if self.0 >= size && self.0 % size == 0 {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// A size rounded for people: `1.5G`, `20M`, `812K`, `96B` (binary multiples).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else if value >= 100.0 || (value - value.round()).abs() < 0.05 {
        format!("{:.0}{}", value, UNITS[unit])
    } else {
        format!("{:.1}{}", value, UNITS[unit])
    }
}

/// Splits a decimal like `12.375` into (integer, fraction digits), refusing signs and junk.
fn split_decimal(num: &str) -> Result<(u128, &str), String> {
    if num.starts_with('-') {
        return Err("must not be negative".into());
    }
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return Err("expected a number".into());
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a number".into());
    }
    if frac.len() > 9 {
        return Err("too many decimal places".into());
    }
    let int = if int.is_empty() { 0 } else { int.parse::<u128>().map_err(|_| "number too large".to_string())? };
    Ok((int, frac))
}

/// `int.frac * scale`, exactly, rounded down; None on overflow of u64.
fn scale_decimal(int: u128, frac: &str, scale: u128) -> Option<u64> {
    let mut total = int.checked_mul(scale)?;
    if !frac.is_empty() {
        let denom = 10u128.pow(frac.len() as u32);
        let f: u128 = frac.parse().ok()?;
        total = total.checked_add(f * scale / denom)?;
    }
    u64::try_from(total).ok()
}

/// Splits `"1.5G"` into `("1.5", "G")`.
fn split_unit(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+')).unwrap_or(s.len());
    (&s[..end], s[end..].trim())
}

/// Parses a size in bytes: `4096`, `256M`, `1.5G`, `512KiB`, `2GB`, `100b`.
///
/// Units are binary (K = 1024) and case-insensitive; `B`, `iB` suffixes are optional.
/// Fractions are exact to the byte, rounded down. `max` is not a size: see [`parse_limit`].
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty value; expected a size like 256M or 1.5G".into());
    }
    let (num, unit) = split_unit(s);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        _ => {
            return Err(format!(
                "unknown unit '{unit}'; expected a size like 4096, 256M, 1.5G (K, M, G, T, P are powers of 1024)"
            ));
        }
    };
    let (int, frac) = split_decimal(num).map_err(|e| format!("{e}; expected a size like 256M or 1.5G"))?;
    scale_decimal(int, frac, 1u128 << shift).ok_or_else(|| "too large".to_string())
}

/// Parses a non-negative integer count (`64`, `1000`), refusing signs and units.
pub fn parse_count(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty value; expected a whole number".into());
    }
    if s.starts_with('-') {
        return Err("must not be negative".into());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a whole number".into());
    }
    s.parse().map_err(|_| "too large".to_string())
}

/// Parses a percentage like `20%` or `150.5%` into millionths of a percent.
///
/// The `%` sign is required: a bare number is ambiguous between a percentage and a
/// number of CPUs, and rein does not guess.
pub fn parse_percent_micro(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let Some(num) = s.strip_suffix('%') else {
        return Err("expected a percentage like 20% or 150%".into());
    };
    let (int, frac) = split_decimal(num.trim())?;
    if frac.len() > 6 {
        return Err("too many decimal places".into());
    }
    scale_decimal(int, frac, 1_000_000).ok_or_else(|| "too large".to_string())
}

/// Parses a duration: `150ms`, `1s`, `2.5s`, `500us`, `1m`; a bare number is seconds
/// (as `watch -n` and `sleep` read it). Units: `us` (or `µs`), `ms`, `s`, `m`, `h`.
/// Returns microseconds, exact (fractions below a microsecond are refused).
pub fn parse_duration_usec(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty value; expected a duration like 100ms, 1s or 2.5s".into());
    }
    let (num, unit) = split_unit(s);
    let scale: u128 = match unit {
        "us" | "µs" | "usec" => 1,
        "ms" | "msec" => 1_000,
        "" | "s" | "sec" => 1_000_000,
        "m" | "min" => 60_000_000,
        "h" => 3_600_000_000,
        _ => {
            return Err(format!("unknown unit '{unit}'; expected a duration like 100ms, 1s or 2.5s (us, ms, s, m, h)"));
        }
    };
    let (int, frac) = split_decimal(num).map_err(|e| format!("{e}; expected a duration like 100ms, 1s or 2.5s"))?;
    let exact = scale_decimal(int, frac, scale).ok_or_else(|| "too large".to_string())?;
    // scale_decimal rounds down: refuse what it would silently drop.
    if scale_decimal(int, frac, scale * 1000).is_some_and(|x| x != exact * 1000) {
        return Err("finer than a microsecond".into());
    }
    Ok(exact)
}

/// A duration for people: `850us`, `12.5ms`, `1.234s`, `2m05s`.
pub fn human_usec(usec: u64) -> String {
    if usec < 1_000 {
        format!("{usec}us")
    } else if usec < 1_000_000 {
        format!("{:.1}ms", usec as f64 / 1e3)
    } else if usec < 60_000_000 {
        format!("{:.3}s", usec as f64 / 1e6)
    } else {
        let secs = usec / 1_000_000;
        if secs < 3600 {
            format!("{}m{:02}s", secs / 60, secs % 60)
        } else {
            format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
        }
    }
}

/// A weight in cgroup v2's range 1..=10000 (default 100), used by cpu.weight and io.weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Weight(u16);

impl Weight {
    /// The lowest weight.
    pub const MIN: Weight = Weight(1);
    /// The kernel's default weight.
    pub const DEFAULT: Weight = Weight(100);
    /// The highest weight.
    pub const MAX: Weight = Weight(10_000);

    /// A weight, if `n` is in 1..=10000.
    pub fn new(n: u64) -> Result<Weight, String> {
        if (1..=10_000).contains(&n) {
            Ok(Weight(n as u16))
        } else {
            Err(format!("weight must be between 1 and 10000 (default 100), not {n}"))
        }
    }

    /// The numeric value.
    pub fn get(self) -> u64 {
        u64::from(self.0)
    }
}

/// The conversions of a count kept within the kernel's bounds (`new` checks them, `get`
/// gives the number): from and into u64 (serde), from text, and shown as the number.
macro_rules! bounded_count {
    ($t:ident) => {
        impl TryFrom<u64> for $t {
            type Error = String;
            fn try_from(n: u64) -> Result<Self, String> {
                $t::new(n)
            }
        }

        impl From<$t> for u64 {
            fn from(v: $t) -> u64 {
                v.get()
            }
        }

        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $t::new(parse_count(s)?)
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

bounded_count!(Weight);

/// A CPU weight in cgroup v1's unit, `cpu.shares`: 2..=262144 (default 1024). The model
/// keeps shares as given, so v1 writes them exactly; cgroup v2 and systemd take the
/// weight [`crate::convert::shares_to_weight`] makes of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Shares(u32);

impl Shares {
    /// The kernel's lowest shares (`MIN_SHARES`).
    pub const MIN: Shares = Shares(2);
    /// The kernel's default shares.
    pub const DEFAULT: Shares = Shares(1024);
    /// The kernel's highest shares (`MAX_SHARES`).
    pub const MAX: Shares = Shares(262_144);

    /// Shares, if `n` is in 2..=262144.
    pub fn new(n: u64) -> Result<Shares, String> {
        if (u64::from(Shares::MIN.0)..=u64::from(Shares::MAX.0)).contains(&n) {
            Ok(Shares(n as u32))
        } else {
            Err(format!("shares must be between 2 and 262144 (default 1024), not {n}"))
        }
    }

    /// The numeric value.
    pub fn get(self) -> u64 {
        u64::from(self.0)
    }
}

bounded_count!(Shares);

/// The highest CPU or memory-node number rein accepts in a list (the kernel's NR_CPUS is at most 8192).
pub const MAX_CPU_ID: u32 = 8191;

/// A set of CPU or memory-node numbers, as in `cpuset.cpus` (`0-3,6,8-9`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CpuList(std::collections::BTreeSet<u32>);

impl CpuList {
    /// Parses the kernel's list format. An empty string gives an empty list.
    pub fn parse(s: &str) -> Result<CpuList, String> {
        let mut set = std::collections::BTreeSet::new();
        for part in s.trim().split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (lo, hi) = match part.split_once('-') {
                Some((lo, hi)) => (lo.trim(), hi.trim()),
                None => (part, part),
            };
            let lo: u32 = lo.parse().map_err(|_| format!("'{part}' is not a number or a range like 0-3"))?;
            let hi: u32 = hi.parse().map_err(|_| format!("'{part}' is not a number or a range like 0-3"))?;
            if lo > hi {
                return Err(format!("range '{part}' is reversed; write {hi}-{lo}"));
            }
            if hi > MAX_CPU_ID {
                return Err(format!("{hi} is out of range (at most {MAX_CPU_ID})"));
            }
            set.extend(lo..=hi);
        }
        Ok(CpuList(set))
    }

    /// Parses a list that must not be empty (what users type).
    pub fn parse_nonempty(s: &str) -> Result<CpuList, String> {
        let list = CpuList::parse(s)?;
        if list.is_empty() {
            return Err("empty list; expected numbers like 0-3,6".into());
        }
        Ok(list)
    }

    /// True when the list holds nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when every member of `self` is in `other`.
    pub fn is_subset(&self, other: &CpuList) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Members of `self` not in `other`.
    pub fn difference(&self, other: &CpuList) -> CpuList {
        CpuList(self.0.difference(&other.0).copied().collect())
    }

    /// The members, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().copied()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl FromIterator<u32> for CpuList {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        CpuList(iter.into_iter().collect())
    }
}

impl TryFrom<String> for CpuList {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        CpuList::parse(&s)
    }
}

impl From<CpuList> for String {
    fn from(l: CpuList) -> String {
        l.to_string()
    }
}

/// Canonical kernel form: ascending, ranges collapsed (`0-3,6`).
impl fmt::Display for CpuList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut iter = self.0.iter().copied().peekable();
        while let Some(lo) = iter.next() {
            let mut hi = lo;
            while iter.peek() == Some(&(hi + 1)) {
                hi = iter.next().unwrap_or(hi);
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if lo == hi { write!(f, "{lo}")? } else { write!(f, "{lo}-{hi}")? }
        }
        Ok(())
    }
}

/// A block device number, `MAJ:MIN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceNumber {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl DeviceNumber {
    /// Parses `MAJ:MIN`.
    pub fn parse(s: &str) -> Result<DeviceNumber, String> {
        let (maj, min) = s.trim().split_once(':').ok_or_else(|| format!("'{s}' is not MAJ:MIN"))?;
        let major = maj.parse().map_err(|_| format!("'{s}' is not MAJ:MIN"))?;
        let minor = min.parse().map_err(|_| format!("'{s}' is not MAJ:MIN"))?;
        Ok(DeviceNumber { major, minor })
    }
}

impl fmt::Display for DeviceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

impl TryFrom<String> for DeviceNumber {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        DeviceNumber::parse(&s)
    }
}

impl From<DeviceNumber> for String {
    fn from(d: DeviceNumber) -> String {
        d.to_string()
    }
}

/// A network rate in bits per second.
///
/// Written the way tc writes rates, with one difference: tc reads `bps`, `kbps`, `mbps`
/// as **bytes** per second, which almost everyone misreads, so rein refuses those and
/// takes bytes only spelled `B/s`:
///
/// | text | meaning |
/// |---|---|
/// | `bit`, `kbit`, `mbit`, `gbit`, `tbit` | bits per second, powers of 1000 (as tc) |
/// | `kibit`, `mibit`, `gibit`, `tibit` | bits per second, powers of 1024 |
/// | `B/s`, `kB/s` (or `KB/s`), `MB/s`, `GB/s` | bytes per second, powers of 1000 |
/// | `KiB/s`, `MiB/s`, `GiB/s` | bytes per second, powers of 1024 |
///
/// Units are required (a bare number is refused: tc would read it as bytes), case does
/// not matter for the bit units, fractions work (`1.5mbit`), and the rate must be at
/// least 1 bit/s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rate(pub u64);

impl Rate {
    /// Parses a rate (see [`Rate`]).
    pub fn parse(s: &str) -> Result<Rate, String> {
        let t = s.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if num.is_empty() {
            return Err(format!("'{s}' is not a rate: give a number and a unit, e.g. 10mbit or 1.25MB/s"));
        }
        let value: f64 = num.parse().map_err(|_| format!("'{num}' is not a number"))?;
        if value == 0.0 {
            return Err(format!("'{s}' is no rate: a rate must be positive ('max' removes a limit)"));
        }
        let lower = unit.trim().to_ascii_lowercase();
        let bits: f64 = match lower.as_str() {
            "" => {
                return Err(format!(
                    "'{s}' has no unit: write {num}mbit (megabits per second) or {num}MB/s (megabytes); tc \
                     would read a bare number as bytes per second"
                ));
            }
            "bit" => 1.0,
            "kbit" => 1e3,
            "mbit" => 1e6,
            "gbit" => 1e9,
            "tbit" => 1e12,
            "kibit" => 1024.0,
            "mibit" => 1024.0 * 1024.0,
            "gibit" => 1024.0 * 1024.0 * 1024.0,
            "tibit" => 1024f64.powi(4),
            "bps" | "kbps" | "mbps" | "gbps" | "tbps" => {
                let prefix = &lower[..lower.len() - 3];
                let bytes = match prefix {
                    "" => "B/s",
                    "k" => "kB/s",
                    "m" => "MB/s",
                    "g" => "GB/s",
                    _ => "TB/s",
                };
                return Err(format!(
                    "'{s}' is ambiguous: tc reads '{}' as bytes per second, most people as bits; write \
                     {num}{prefix}bit for bits or {num}{bytes} for bytes",
                    unit.trim()
                ));
            }
            _ => {
                let byte_unit = unit.trim();
                8.0 * match byte_unit {
                    "B/s" => 1.0,
                    "kB/s" | "KB/s" => 1e3,
                    "MB/s" => 1e6,
                    "GB/s" => 1e9,
                    "TB/s" => 1e12,
                    "KiB/s" => 1024.0,
                    "MiB/s" => 1024.0 * 1024.0,
                    "GiB/s" => 1024f64.powi(3),
                    "TiB/s" => 1024f64.powi(4),
                    _ => {
                        return Err(format!(
                            "unknown rate unit '{byte_unit}': use kbit, mbit, gbit (bits per second) or kB/s, \
                             MB/s, MiB/s (bytes per second)"
                        ));
                    }
                }
            }
        };
        let bps = value * bits;
        if !bps.is_finite() || bps < 1.0 {
            return Err(format!("'{s}' is below 1 bit/s; a rate must be positive ('max' removes a limit)"));
        }
        if bps > 1e15 {
            return Err(format!("'{s}' is above 1000 Tbit/s"));
        }
        Ok(Rate(bps.round() as u64))
    }
}

impl fmt::Display for Rate {
    /// The largest tc unit that shows the rate exactly (`10mbit`, `1500kbit`, `12bit`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (div, unit) in
            [(1_000_000_000_000u64, "tbit"), (1_000_000_000, "gbit"), (1_000_000, "mbit"), (1_000, "kbit")]
        {
            if self.0 >= div && self.0 % div == 0 {
                return write!(f, "{}{unit}", self.0 / div);
            }
        }
        write!(f, "{}bit", self.0)
    }
}

impl TryFrom<String> for Rate {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Rate::parse(&s)
    }
}

impl From<Rate> for String {
    fn from(r: Rate) -> String {
        r.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        for (text, bps) in [
            ("10mbit", 10_000_000),
            ("10Mbit", 10_000_000),
            ("1.5mbit", 1_500_000),
            ("100kbit", 100_000),
            ("1gbit", 1_000_000_000),
            ("1mibit", 1_048_576),
            ("1.25MB/s", 10_000_000),
            ("125kB/s", 1_000_000),
            ("125KB/s", 1_000_000),
            ("1MiB/s", 8_388_608),
            ("1bit", 1),
        ] {
            assert_eq!(Rate::parse(text), Ok(Rate(bps)), "{text}");
            assert_eq!(Rate::parse(&Rate(bps).to_string()), Ok(Rate(bps)), "{text} round trip");
        }
        assert_eq!(Rate(10_000_000).to_string(), "10mbit");
        assert_eq!(Rate(1_500_000).to_string(), "1500kbit");
        for (bad, why) in [
            ("10", "no unit"),
            ("10mbps", "ambiguous"),
            ("10kbps", "10kB/s for bytes"),
            ("10mb/s", "unknown rate unit"),
            ("0mbit", "must be positive"),
            ("0", "must be positive"),
            ("-1mbit", "not a rate"),
            ("mbit", "not a rate"),
            ("1.2.3mbit", "not a number"),
            ("10furlongs", "unknown rate unit"),
            ("0.1bit", "below"),
        ] {
            let e = Rate::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn durations() {
        for (text, usec) in [
            ("150ms", 150_000),
            ("1s", 1_000_000),
            ("2.5s", 2_500_000),
            ("2", 2_000_000),
            ("0.1", 100_000),
            ("500us", 500),
            ("500µs", 500),
            ("1m", 60_000_000),
            ("1.5ms", 1_500),
            (" 10ms ", 10_000),
        ] {
            assert_eq!(parse_duration_usec(text), Ok(usec), "{text}");
        }
        for (text, needle) in [
            ("", "empty"),
            ("-1s", "negative"),
            ("1.5us", "finer than a microsecond"),
            ("10 parsecs", "unknown unit"),
            ("abc", "unknown unit"),
            ("1e9s", "unknown unit"),
            ("99999999999999999999h", "too large"),
        ] {
            let e = parse_duration_usec(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
        assert_eq!(human_usec(850), "850us");
        assert_eq!(human_usec(12_500), "12.5ms");
        assert_eq!(human_usec(1_234_000), "1.234s");
        assert_eq!(human_usec(125_000_000), "2m05s");
    }

    #[test]
    fn sizes() {
        let ok = [
            ("4096", 4096),
            ("256M", 256 << 20),
            ("256m", 256 << 20),
            ("1.5G", 3 << 29),
            ("512KiB", 512 << 10),
            ("2GB", 2 << 30),
            ("100b", 100),
            (" 20M ", 20 << 20),
            ("0.5K", 512),
            ("1T", 1 << 40),
            ("16P", 16 << 50),
        ];
        for (input, want) in ok {
            assert_eq!(parse_size(input), Ok(want), "{input}");
        }
        let bad = ["", "lots", "-1", "-5M", "1e99", "NaN", "1.2.3M", "12Q", "M", "20000P", "1.0000000001G", "0x10"];
        for input in bad {
            assert!(parse_size(input).is_err(), "{input} should be refused");
        }
        assert!(parse_size("lots").unwrap_err().contains("unknown unit"));
        assert!(parse_size("-1").unwrap_err().contains("negative"));
    }

    #[test]
    fn byte_constructors_never_wrap() {
        assert_eq!(Bytes::kib(1), Bytes(1024));
        assert_eq!(Bytes::checked_gib(1 << 33), Some(Bytes(1 << 63)));
        assert_eq!(Bytes::checked_gib(1 << 34), None);
        assert_eq!(Bytes::checked_mib(u64::MAX), None);
        assert_eq!(Bytes::checked_kib(u64::MAX >> 10), Some(Bytes((u64::MAX >> 10) << 10)));
        assert_eq!(Bytes::checked_kib((u64::MAX >> 10) + 1), None);
        assert!(std::panic::catch_unwind(|| Bytes::gib(u64::MAX / 1000)).is_err());
    }

    #[test]
    fn size_display_round_trips() {
        for n in [1u64, 4096, 256 << 20, 1536 << 20, 3 << 29, (1 << 30) + 1] {
            assert_eq!(parse_size(&Bytes(n).to_string()), Ok(n));
        }
        assert_eq!(Bytes::mib(1536).to_string(), "1536M");
        assert_eq!(human_bytes(3 << 29), "1.5G");
        assert_eq!(human_bytes(20 << 20), "20M");
        assert_eq!(human_bytes(100), "100B");
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit("max", parse_size), Ok(Limit::Max));
        assert_eq!(parse_limit("infinity", parse_size), Ok(Limit::Max));
        assert_eq!(parse_limit("1K", parse_size), Ok(Limit::Value(1024)));
        assert!(parse_limit("maximum", parse_size).is_err());
    }

    #[test]
    fn percents() {
        assert_eq!(parse_percent_micro("20%"), Ok(20_000_000));
        assert_eq!(parse_percent_micro("150%"), Ok(150_000_000));
        assert_eq!(parse_percent_micro("33.3%"), Ok(33_300_000));
        assert_eq!(parse_percent_micro("0.000001%"), Ok(1));
        for bad in ["20", "%", "-20%", "NaN%", "1e3%", "", "20 %%", "0.0000001%"] {
            assert!(parse_percent_micro(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_and_weights() {
        assert_eq!(parse_count("64"), Ok(64));
        for bad in ["", "-1", "1.5", "64k", "99999999999999999999999"] {
            assert!(parse_count(bad).is_err(), "{bad}");
        }
        assert_eq!("100".parse::<Weight>().map(Weight::get), Ok(100));
        for bad in ["0", "10001", "-5", "x"] {
            assert!(bad.parse::<Weight>().is_err(), "{bad}");
        }
        for (text, n) in [("2", 2), ("1024", 1024), ("262144", 262_144)] {
            assert_eq!(text.parse::<Shares>().map(Shares::get), Ok(n));
        }
        for bad in ["0", "1", "262145", "-2", "x"] {
            assert!(bad.parse::<Shares>().is_err(), "{bad}");
        }
        assert!("1".parse::<Shares>().unwrap_err().contains("between 2 and 262144"));
    }

    #[test]
    fn cpu_lists() {
        let l = CpuList::parse("0-3, 6,8-9,2").unwrap();
        assert_eq!(l.to_string(), "0-3,6,8-9");
        assert_eq!(l.len(), 7);
        assert_eq!(CpuList::parse("").unwrap().to_string(), "");
        assert_eq!(CpuList::parse("0-1\n").unwrap().to_string(), "0-1");
        assert!(CpuList::parse("3-1").unwrap_err().contains("reversed"));
        assert!(CpuList::parse("9000").unwrap_err().contains("out of range"));
        for bad in ["a", "1-", "-1", "1--2", "0-3x"] {
            assert!(CpuList::parse(bad).is_err(), "{bad}");
        }
        assert!(CpuList::parse_nonempty(" , ").is_err());
        let sub = CpuList::parse("1").unwrap();
        assert!(sub.is_subset(&l));
        assert_eq!(CpuList::parse("0-5").unwrap().difference(&l).to_string(), "4-5");
    }

    #[test]
    fn device_numbers() {
        assert_eq!(DeviceNumber::parse("7:0"), Ok(DeviceNumber { major: 7, minor: 0 }));
        assert_eq!(DeviceNumber::parse("259:12").unwrap().to_string(), "259:12");
        for bad in ["7", "7:", ":0", "a:b", "7:0:1", "-1:0"] {
            assert!(DeviceNumber::parse(bad).is_err(), "{bad}");
        }
    }
}
