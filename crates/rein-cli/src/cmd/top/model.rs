//! What `rein top` shows, whatever draws it: columns, rows with rates, sort, filter, tree.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::Instant;

use rein::GroupPath;
use rein::stats::{Field, Fields};
use rein::tree::Snapshot;
use rein::units::{Limit, human_bytes};

use crate::cli::top::Column;

/// The figures of every column, and the group's state (frozen).
pub fn all_fields() -> Fields {
    Column::ALL.iter().fold(Field::Frozen.into(), |f, c| f | c.fields())
}

/// One group's line, with rates computed against the previous reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// The group.
    pub path: GroupPath,
    /// Every column was read in this sample (false: only the CPU and sort columns).
    pub complete: bool,
    /// Percent of one CPU since the previous reading.
    pub cpu: Option<f64>,
    /// Bytes in use.
    pub mem: Option<u64>,
    /// The memory limit.
    pub limit: Option<Limit<u64>>,
    /// Bytes read per second, all devices.
    pub io_read: Option<f64>,
    /// Bytes written per second, all devices.
    pub io_write: Option<f64>,
    /// Network bytes received per second.
    pub net_rx: Option<f64>,
    /// Network bytes sent per second.
    pub net_tx: Option<f64>,
    /// Tasks.
    pub pids: Option<u64>,
    /// memory.pressure `some avg10`, percent.
    pub mem_psi: Option<f64>,
    /// cpu.pressure `some avg10`, percent.
    pub cpu_psi: Option<f64>,
    /// OOM kills.
    pub oom_kill: Option<u64>,
    /// Frozen.
    pub frozen: Option<bool>,
}

impl Row {
    /// Memory in use as a share of the limit, 0..=1 (None without a limit).
    pub fn mem_share(&self) -> Option<f64> {
        match (self.mem, self.limit) {
            (Some(m), Some(Limit::Value(l))) if l > 0 => Some(m as f64 / l as f64),
            _ => None,
        }
    }

    fn number(&self, c: Column) -> Option<f64> {
        match c {
            Column::Group => None,
            Column::Cpu => self.cpu,
            Column::Mem => self.mem.map(|v| v as f64),
            Column::Limit => self.limit.map(|l| match l {
                Limit::Value(v) => v as f64,
                Limit::Max => f64::INFINITY,
            }),
            Column::MemPct => self.mem_share(),
            Column::IoRead => self.io_read,
            Column::IoWrite => self.io_write,
            Column::NetRx => self.net_rx,
            Column::NetTx => self.net_tx,
            Column::Pids => self.pids.map(|v| v as f64),
            Column::MemPsi => self.mem_psi,
            Column::CpuPsi => self.cpu_psi,
            Column::Oom => self.oom_kill.map(|v| v as f64),
        }
    }

    /// The cell text (batch output; the terminal view draws MEM% as a bar).
    pub fn cell(&self, c: Column) -> String {
        let dash = || "-".to_string();
        match c {
            Column::Group => self.path.to_string(),
            Column::Cpu => self.cpu.map(|v| format!("{v:.1}")).unwrap_or_else(dash),
            Column::Mem => self.mem.map(human_bytes).unwrap_or_else(dash),
            Column::Limit => match self.limit {
                Some(Limit::Value(v)) => human_bytes(v),
                Some(Limit::Max) => "max".into(),
                None => dash(),
            },
            Column::MemPct => self.mem_share().map(|s| format!("{:.0}%", s * 100.0)).unwrap_or_else(dash),
            Column::IoRead => self.io_read.map(|v| human_bytes(v as u64)).unwrap_or_else(dash),
            Column::IoWrite => self.io_write.map(|v| human_bytes(v as u64)).unwrap_or_else(dash),
            Column::NetRx => self.net_rx.map(|v| human_bytes(v as u64)).unwrap_or_else(dash),
            Column::NetTx => self.net_tx.map(|v| human_bytes(v as u64)).unwrap_or_else(dash),
            Column::Pids => self.pids.map(|v| v.to_string()).unwrap_or_else(dash),
            Column::MemPsi => self.mem_psi.map(|v| format!("{v:.1}")).unwrap_or_else(dash),
            Column::CpuPsi => self.cpu_psi.map(|v| format!("{v:.1}")).unwrap_or_else(dash),
            Column::Oom => self.oom_kill.map(|v| v.to_string()).unwrap_or_else(dash),
        }
    }
}

/// A counter's last reading.
type Reading = Option<(Instant, u64)>;

#[derive(Debug, Clone, Copy, Default)]
struct Last {
    cpu_usec: Reading,
    read_bytes: Reading,
    written_bytes: Reading,
    rx_bytes: Reading,
    tx_bytes: Reading,
}

/// Per second since `last`, then `last` becomes `now`.
fn rate(last: &mut Reading, at: Instant, value: Option<u64>) -> Option<f64> {
    let value = value?;
    let previous = last.replace((at, value));
    let (t, v) = previous?;
    let secs = at.checked_duration_since(t)?.as_secs_f64();
    // A counter going back means a new group with the same name: no rate this time.
    (secs > 0.0 && value >= v).then(|| (value - v) as f64 / secs)
}

/// Previous counter readings, for rates.
#[derive(Debug, Default)]
pub struct History {
    last: HashMap<GroupPath, Last>,
}

impl History {
    /// The rows of a snapshot. Each counter's rate runs from its previous reading, which
    /// may be older than the previous snapshot when the group was off screen.
    pub fn rows(&mut self, snap: &Snapshot, complete: &dyn Fn(&GroupPath) -> bool) -> Vec<Row> {
        let mut next = HashMap::with_capacity(snap.groups.len());
        let mut rows = Vec::with_capacity(snap.groups.len());
        for g in &snap.groups {
            let s = &g.stats;
            let mut last = self.last.get(&g.path).copied().unwrap_or_default();
            let at = snap.taken;
            let io_total = |f: fn(&rein::stats::IoDeviceStats) -> Option<u64>| {
                s.io.as_ref().map(|devs| devs.iter().filter_map(f).sum::<u64>())
            };
            let mem = s.memory.unwrap_or_default();
            let psi = s.pressure.unwrap_or_default();
            rows.push(Row {
                path: g.path.clone(),
                complete: complete(&g.path),
                cpu: rate(&mut last.cpu_usec, at, s.cpu.usage_usec).map(|usec_per_s| usec_per_s / 1e4),
                mem: mem.current,
                limit: mem.max,
                io_read: rate(&mut last.read_bytes, at, io_total(|d| d.rbytes)),
                io_write: rate(&mut last.written_bytes, at, io_total(|d| d.wbytes)),
                net_rx: rate(&mut last.rx_bytes, at, s.network.map(|n| n.rx_bytes)),
                net_tx: rate(&mut last.tx_bytes, at, s.network.map(|n| n.tx_bytes)),
                pids: s.pids.and_then(|p| p.current),
                mem_psi: psi.memory.map(|p| p.some.avg10),
                cpu_psi: psi.cpu.map(|p| p.some.avg10),
                oom_kill: mem.oom_kill,
                frozen: s.frozen,
            });
            next.insert(g.path.clone(), last);
        }
        // Groups left out of this snapshot (gone, or out of scope) lose their history.
        self.last = next;
        rows
    }
}

/// How rows are shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Sort column.
    pub sort: Column,
    /// Reverse its natural order.
    pub reverse: bool,
    /// Show only paths containing this (case-insensitive).
    pub filter: String,
    /// Children under their parents.
    pub tree: bool,
}

/// One line on screen: which row, how deep in the tree, and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Index into the rows.
    pub row: usize,
    /// Depth in the tree (0 in a flat view).
    pub depth: usize,
    /// The group's path, or in a tree its path below its parent's line.
    pub label: String,
}

/// Orders two rows by `view`'s column; missing values go last whatever the direction,
/// ties by path.
fn compare(a: &Row, b: &Row, view: &View) -> Ordering {
    let natural = if view.sort == Column::Group {
        a.path.cmp(&b.path)
    } else {
        match (a.number(view.sort), b.number(view.sort)) {
            (Some(x), Some(y)) => {
                let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                if view.sort.descending() { o.reverse() } else { o }
            }
            (Some(_), None) => return Ordering::Less,
            (None, Some(_)) => return Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    };
    let ord = if view.reverse { natural.reverse() } else { natural };
    ord.then_with(|| a.path.cmp(&b.path))
}

/// The lines to show: filtered, sorted, and in a tree view nested.
pub fn lines(rows: &[Row], view: &View) -> Vec<Line> {
    let needle = view.filter.to_lowercase();
    let shown: Vec<usize> = (0..rows.len())
        .filter(|i| needle.is_empty() || rows[*i].path.as_str().to_lowercase().contains(&needle))
        .collect();
    if !view.tree {
        let mut order = shown;
        order.sort_by(|a, b| compare(&rows[*a], &rows[*b], view));
        return order.into_iter().map(|i| Line { row: i, depth: 0, label: rows[i].path.to_string() }).collect();
    }
    // Each shown row hangs under its nearest shown ancestor.
    let index: HashMap<&GroupPath, usize> = shown.iter().map(|i| (&rows[*i].path, *i)).collect();
    let mut children: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
    for &i in &shown {
        let mut up = rows[i].path.parent();
        let parent = loop {
            match up {
                Some(p) if p.is_root() => break None,
                Some(p) => {
                    if let Some(j) = index.get(&p) {
                        break Some(*j);
                    }
                    up = p.parent();
                }
                None => break None,
            }
        };
        children.entry(parent).or_default().push(i);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| compare(&rows[*a], &rows[*b], view));
    }
    let mut out = Vec::with_capacity(shown.len());
    let mut stack: Vec<(usize, usize, Option<usize>)> =
        children.get(&None).map(|l| l.iter().rev().map(|i| (*i, 0, None)).collect()).unwrap_or_default();
    while let Some((i, depth, parent)) = stack.pop() {
        let label = match parent {
            Some(p) => rows[i].path.as_str()[rows[p].path.as_str().len() + 1..].to_string(),
            None => rows[i].path.to_string(),
        };
        out.push(Line { row: i, depth, label });
        if let Some(kids) = children.get(&Some(i)) {
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1, Some(i))));
        }
    }
    out
}

/// The rows as a text table (batch output): a header line, then one line per group.
pub fn text(rows: &[Row], view: &View) -> String {
    let lines = lines(rows, view);
    let labels: Vec<String> = lines.iter().map(|l| format!("{}{}", "  ".repeat(l.depth), l.label)).collect();
    let width = labels.iter().map(|l| l.len()).chain([Column::Group.header().len()]).max().unwrap_or(5);
    let mut out = String::new();
    let mut line = |first: &str, rest: Vec<String>| {
        let mut l = format!("{first:<width$}");
        for (c, cell) in Column::ALL[1..].iter().zip(rest) {
            let w = c.header().len().max(7);
            l.push_str(&format!(" {cell:>w$}"));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(Column::Group.header(), Column::ALL[1..].iter().map(|c| c.header().to_string()).collect());
    for (l, label) in lines.iter().zip(&labels) {
        let row = &rows[l.row];
        let mut label = label.clone();
        if row.frozen == Some(true) {
            label.push_str(" (frozen)");
        }
        line(&label, Column::ALL[1..].iter().map(|c| row.cell(*c)).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(path: &str, cpu: Option<f64>, mem: Option<u64>) -> Row {
        Row { path: GroupPath::parse(path).unwrap(), cpu, mem, complete: true, ..Row::default() }
    }

    fn view(sort: Column) -> View {
        View { sort, reverse: false, filter: String::new(), tree: false }
    }

    fn labels(rows: &[Row], v: &View) -> Vec<String> {
        lines(rows, v).into_iter().map(|l| format!("{}{}", " ".repeat(l.depth), l.label)).collect()
    }

    #[test]
    fn sorts_numbers_down_names_up_and_missing_last() {
        let rows = [row("b", Some(5.0), Some(1)), row("a", None, Some(3)), row("c", Some(50.0), None)];
        assert_eq!(labels(&rows, &view(Column::Cpu)), ["/c", "/b", "/a"]);
        assert_eq!(labels(&rows, &View { reverse: true, ..view(Column::Cpu) }), ["/b", "/c", "/a"]);
        assert_eq!(labels(&rows, &view(Column::Mem)), ["/a", "/b", "/c"]);
        assert_eq!(labels(&rows, &view(Column::Group)), ["/a", "/b", "/c"]);
        assert_eq!(labels(&rows, &View { reverse: true, ..view(Column::Group) }), ["/c", "/b", "/a"]);
    }

    #[test]
    fn every_column_sorts() {
        let mut a = row("a", Some(1.0), Some(1));
        let mut b = row("b", Some(2.0), Some(2));
        a.limit = Some(Limit::Value(10));
        b.limit = Some(Limit::Max);
        (a.io_read, b.io_read, a.io_write, b.io_write) = (Some(1.0), Some(2.0), Some(1.0), Some(2.0));
        (a.net_rx, b.net_rx, a.net_tx, b.net_tx) = (Some(1.0), Some(2.0), Some(1.0), Some(2.0));
        (a.pids, b.pids, a.mem_psi, b.mem_psi, a.cpu_psi, b.cpu_psi) =
            (Some(1), Some(2), Some(0.5), Some(1.5), Some(0.5), Some(1.5));
        (a.oom_kill, b.oom_kill) = (Some(0), Some(3));
        b.limit = Some(Limit::Value(4));
        let rows = [a, b];
        for c in Column::ALL {
            let expect: &[&str] = match c {
                Column::Group | Column::Limit => &["/a", "/b"],
                _ => &["/b", "/a"],
            };
            assert_eq!(labels(&rows, &view(c)), expect, "{c:?}");
        }
    }

    #[test]
    fn filters_and_nests() {
        let rows = [
            row("rein", Some(1.0), None),
            row("rein/run-1", Some(0.5), None),
            row("rein/run-2", Some(0.9), None),
            row("rein/run-2/sub/leaf", Some(0.1), None),
            row("web", Some(3.0), None),
        ];
        let tree = View { tree: true, ..view(Column::Cpu) };
        assert_eq!(labels(&rows, &tree), ["/web", "/rein", " run-2", "  sub/leaf", " run-1"]);
        let filtered = View { filter: "RUN".into(), ..tree.clone() };
        assert_eq!(labels(&rows, &filtered), ["/rein/run-2", " sub/leaf", "/rein/run-1"]);
        assert_eq!(labels(&rows, &View { filter: "web".into(), ..view(Column::Cpu) }), ["/web"]);
    }

    #[test]
    fn rates_come_from_consecutive_readings() {
        let mut last = None;
        let t0 = Instant::now();
        assert_eq!(rate(&mut last, t0, Some(1_000_000)), None);
        let t1 = t0 + std::time::Duration::from_millis(500);
        assert_eq!(rate(&mut last, t1, Some(1_250_000)), Some(500_000.0));
        // Not read this time: no rate, the old reading stays for the next one.
        assert_eq!(rate(&mut last, t1 + std::time::Duration::from_secs(1), None), None);
        assert_eq!(last, Some((t1, 1_250_000)));
        // A counter that went back (a new group of the same name).
        assert_eq!(rate(&mut last, t1 + std::time::Duration::from_secs(2), Some(5)), None);
    }

    #[test]
    fn text_has_a_header_and_one_line_per_group() {
        let mut r = row("rein/job", Some(12.345), Some(20 << 20));
        r.limit = Some(Limit::Value(64 << 20));
        r.frozen = Some(true);
        let t = text(&[r], &view(Column::Cpu));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        let head: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(
            head,
            [
                "GROUP", "CPU%", "MEM", "LIMIT", "MEM%", "READ/s", "WRITE/s", "NET-RX/s", "NET-TX/s", "PIDS",
                "PSI-MEM", "PSI-CPU", "OOM"
            ]
        );
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            cells,
            ["/rein/job", "(frozen)", "12.3", "20M", "64M", "31%", "-", "-", "-", "-", "-", "-", "-", "-"]
        );
    }

    /// The interface files each column reads (cgroup2, v1), as `rein top` read them when
    /// it still named them itself: what a tree keeps open, and so what `--max-open-files`
    /// bounds, follows from these lists. Order is free.
    const FILES: [(Column, &[&str], &[&str]); 13] = [
        (Column::Group, &[], &[]),
        (Column::Cpu, &["cpu.stat"], &["cpuacct.usage"]),
        (Column::Mem, &["memory.current"], &["memory.usage_in_bytes"]),
        (Column::Limit, &["memory.max"], &["memory.limit_in_bytes"]),
        (Column::MemPct, &["memory.current", "memory.max"], &["memory.usage_in_bytes", "memory.limit_in_bytes"]),
        (
            Column::IoRead,
            &["io.stat"],
            &["blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"],
        ),
        (
            Column::IoWrite,
            &["io.stat"],
            &["blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"],
        ),
        // From the map of rein's network programs: no file.
        (Column::NetRx, &[], &[]),
        (Column::NetTx, &[], &[]),
        (Column::Pids, &["pids.current"], &["pids.current"]),
        (Column::MemPsi, &["memory.pressure"], &[]),
        (Column::CpuPsi, &["cpu.pressure"], &[]),
        (Column::Oom, &["memory.events"], &["memory.oom_control"]),
    ];

    /// Read for every row on screen besides the columns: the group's state (frozen).
    const STATE_FILES: (&[&str], &[&str]) = (&["cgroup.events"], &["freezer.state"]);

    fn sorted(files: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = files.iter().map(|f| f.to_string()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The files a reader of `f` reads: (cgroup2, v1), sorted.
    fn files_of(f: Fields) -> (Vec<String>, Vec<String>) {
        use rein::backend::{Version, stat_files};
        (sorted(&stat_files(Version::V2, f)), sorted(&stat_files(Version::V1, f)))
    }

    #[test]
    fn each_column_reads_the_files_it_always_read() {
        assert_eq!(FILES.map(|(c, _, _)| c), Column::ALL);
        for (c, v2, v1) in FILES {
            assert_eq!(files_of(c.fields()), (sorted(v2), sorted(v1)), "{c:?}");
        }
        let (mut v2, mut v1) = (STATE_FILES.0.to_vec(), STATE_FILES.1.to_vec());
        for (_, a, b) in FILES {
            v2.extend_from_slice(a);
            v1.extend_from_slice(b);
        }
        assert_eq!(files_of(all_fields()), (sorted(&v2), sorted(&v1)));
    }

    #[test]
    fn steps_wrap() {
        assert_eq!(Column::Group.step(-1), Column::Oom);
        assert_eq!(Column::Oom.step(1), Column::Group);
        assert_eq!(Column::Cpu.step(1), Column::Mem);
    }
}
