//! `rein plot`: reads a recording (`rein run --record`, format in `rein::record`) and
//! draws memory and CPU over time, with the limits as dashed lines and OOM kills as red
//! marks. The drawing is a list of shapes ([`Scene`]) rendered to SVG ([`svg`]) or,
//! with the `png` feature, rasterized to PNG ([`png`]).

#[cfg(feature = "png")]
mod png;
mod scene;
mod svg;

use std::path::Path;

use rein::stats::Stats;
use rein::units::{Limit, human_bytes};
use serde_json::Value;

use self::scene::{Anchor, Rgb, Scene, Shape};

/// The output format, from the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Scalable, text.
    Svg,
    /// Raster.
    Png,
}

impl Format {
    /// `.svg` or `.png` (any case); anything else is refused before any work.
    pub fn from_path(p: &Path) -> Result<Format, rein::Error> {
        let ext = p.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("svg") => Ok(Format::Svg),
            Some("png") if cfg!(feature = "png") => Ok(Format::Png),
            Some("png") => Err(rein::Error::invalid(
                "-o",
                p.display().to_string(),
                "this rein was built without PNG support (cargo feature 'png'); write .svg",
            )),
            _ => Err(rein::Error::invalid("-o", p.display().to_string(), "the picture must end in .svg or .png")),
        }
    }
}

/// A recording, parsed.
#[derive(Debug, Default)]
pub struct Recording {
    /// The group.
    pub group: String,
    /// The command line.
    pub command: Vec<String>,
    /// v2, v1 or hybrid.
    pub mode: String,
    /// (µs since start, snapshot).
    pub samples: Vec<(u64, Stats)>,
    /// (µs since start, event name, count).
    pub events: Vec<(u64, String, u64)>,
    /// The command's exit code, when the run ended normally.
    pub exit_code: Option<i64>,
}

fn field<'a>(v: &'a Value, key: &str, line: usize) -> anyhow::Result<&'a Value> {
    v.get(key).ok_or_else(|| anyhow::anyhow!("line {line}: no '{key}'"))
}

fn t_usec(v: &Value, line: usize) -> anyhow::Result<u64> {
    field(v, "t_usec", line)?.as_u64().ok_or_else(|| anyhow::anyhow!("line {line}: 't_usec' is not a whole number"))
}

impl Recording {
    /// Parses JSON Lines; unknown line types and fields are skipped (newer rein).
    pub fn parse(text: &str) -> anyhow::Result<Recording> {
        let mut rec = Recording::default();
        let mut header = false;
        for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let n = i + 1;
            let v: Value = serde_json::from_str(l).map_err(|e| anyhow::anyhow!("line {n}: not JSON: {e}"))?;
            match v.get("type").and_then(Value::as_str) {
                Some("header") => {
                    let version = field(&v, "version", n)?.as_u64().unwrap_or(0);
                    if version != crate::record::VERSION {
                        anyhow::bail!(
                            "line {n}: recording version {version}; this rein reads version {}",
                            crate::record::VERSION
                        );
                    }
                    rec.group = field(&v, "group", n)?.as_str().unwrap_or_default().to_string();
                    rec.mode = v.get("mode").and_then(Value::as_str).unwrap_or_default().to_string();
                    rec.command = v
                        .get("command")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                        .unwrap_or_default();
                    header = true;
                }
                Some("sample") => {
                    let stats: Stats = serde_json::from_value(field(&v, "stats", n)?.clone())
                        .map_err(|e| anyhow::anyhow!("line {n}: bad stats: {e}"))?;
                    rec.samples.push((t_usec(&v, n)?, stats));
                }
                Some("event") => {
                    let name = field(&v, "event", n)?.as_str().unwrap_or_default().to_string();
                    rec.events.push((t_usec(&v, n)?, name, v.get("count").and_then(Value::as_u64).unwrap_or(1)));
                }
                Some("end") => rec.exit_code = v.get("exit_code").and_then(Value::as_i64),
                Some(_) => {}
                None => anyhow::bail!("line {n}: no 'type'"),
            }
        }
        if !header {
            anyhow::bail!("no header line: not a recording made by 'rein run --record'");
        }
        if rec.samples.is_empty() {
            anyhow::bail!("the recording holds no sample");
        }
        rec.samples.sort_by_key(|(t, _)| *t);
        Ok(rec)
    }

    /// Time from the first to the last sample, µs.
    pub fn duration_usec(&self) -> u64 {
        match (self.samples.first(), self.samples.last()) {
            (Some((a, _)), Some((b, _))) => b - a,
            _ => 0,
        }
    }

    /// When OOM kills happened (µs since start): the events, and where the counter rose
    /// between samples without an event to say when, the later sample's time.
    pub fn kills(&self) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::new();
        for (t, name, count) in &self.events {
            if name == "oom_kill" {
                out.extend(std::iter::repeat_n(*t, *count as usize));
            }
        }
        let mut from_counter = Vec::new();
        let mut prev = 0;
        for (t, s) in &self.samples {
            if let Some(total) = s.memory.and_then(|m| m.oom_kill) {
                from_counter.extend(std::iter::repeat_n(*t, total.saturating_sub(prev) as usize));
                prev = prev.max(total);
            }
        }
        // Kills the events missed (a recording made without inotify): the latest rises.
        let missing = from_counter.len().saturating_sub(out.len());
        out.extend_from_slice(&from_counter[from_counter.len() - missing..]);
        out.sort_unstable();
        out
    }
}

const BLUE: Rgb = Rgb(0x1f, 0x6f, 0xc5);
const GREEN: Rgb = Rgb(0x2a, 0x9d, 0x3f);
const RED: Rgb = Rgb(0xd6, 0x27, 0x28);
const ORANGE: Rgb = Rgb(0xe6, 0x7e, 0x00);
const PURPLE: Rgb = Rgb(0x7b, 0x3f, 0xa0);
const GREY: Rgb = Rgb(0x88, 0x88, 0x88);
const LIGHT: Rgb = Rgb(0xe4, 0xe4, 0xe4);
const TEXT: Rgb = Rgb(0x22, 0x22, 0x22);

/// "Nice" axis ticks from 0 to at least `max`: steps of 1, 2 or 5 times a power of ten
/// (times `unit`), about `n` of them.
fn ticks(max: f64, n: usize, unit: f64) -> (f64, Vec<f64>) {
    let max = if max > 0.0 { max } else { unit };
    let raw = max / unit / n as f64;
    let pow = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * pow).find(|s| *s >= raw).unwrap_or(10.0 * pow) * unit;
    let top = (max / step).ceil() * step;
    let mut v = Vec::new();
    let mut x = 0.0;
    while x <= top + step / 2.0 {
        v.push(x);
        x += step;
    }
    (top, v)
}

/// Byte ticks on binary multiples (…, 16M, 32M, 48M, …).
fn byte_ticks(max: u64) -> (f64, Vec<f64>) {
    let unit = if max >= 4 << 30 {
        (1u64 << 30) as f64
    } else if max >= 4 << 20 {
        (1u64 << 20) as f64
    } else {
        1024.0
    };
    ticks(max as f64, 5, unit)
}

struct Panel {
    left: f32,
    top: f32,
    width: f32,
    height: f32,
    tmax: f64,
    ymax: f64,
}

impl Panel {
    fn x(&self, t_usec: u64) -> f32 {
        self.left + (t_usec as f64 / self.tmax) as f32 * self.width
    }
    fn y(&self, v: f64) -> f32 {
        self.top + self.height - (v / self.ymax).clamp(0.0, 1.05) as f32 * self.height
    }
}

fn text(at: (f32, f32), t: impl Into<String>, size: f32, color: Rgb, anchor: Anchor) -> Shape {
    Shape::Text { at, text: t.into(), size, color, anchor }
}

fn line(points: Vec<(f32, f32)>, color: Rgb, width: f32, dash: Option<(f32, f32)>, id: &'static str) -> Shape {
    Shape::Line { points, color, width, dash, id: Some(id) }
}

/// A step line of a limit over time: horizontal while it holds, vertical where it changes.
fn steps(p: &Panel, pts: &[(u64, Option<f64>)]) -> Vec<Vec<(f32, f32)>> {
    let mut runs: Vec<Vec<(f32, f32)>> = Vec::new();
    let mut cur: Vec<(f32, f32)> = Vec::new();
    for (i, (t, v)) in pts.iter().enumerate() {
        match v {
            Some(v) => {
                let y = p.y(*v);
                if let Some(last) = cur.last().copied() {
                    cur.push((p.x(*t), last.1));
                }
                cur.push((p.x(*t), y));
                let end = pts.get(i + 1).map(|(t, _)| *t).unwrap_or(*t);
                cur.push((p.x(end), y));
            }
            None if !cur.is_empty() => runs.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    runs
}

fn axes(p: &Panel, shapes: &mut Vec<Shape>, yticks: &[f64], label: &dyn Fn(f64) -> String, title: &str) {
    shapes.push(Shape::Rect {
        rect: (p.left, p.top, p.width, p.height),
        fill: Some(Rgb(0xff, 0xff, 0xff)),
        stroke: None,
    });
    for v in yticks {
        let y = p.y(*v);
        shapes.push(Shape::Line {
            points: vec![(p.left, y), (p.left + p.width, y)],
            color: LIGHT,
            width: 1.0,
            dash: None,
            id: None,
        });
        shapes.push(text((p.left - 8.0, y + 4.0), label(*v), 12.0, TEXT, Anchor::End));
    }
    shapes.push(Shape::Rect { rect: (p.left, p.top, p.width, p.height), fill: None, stroke: Some(GREY) });
    shapes.push(text((p.left, p.top - 8.0), title, 14.0, TEXT, Anchor::Start));
}

fn legend(p: &Panel, shapes: &mut Vec<Shape>, items: &[(&str, Rgb, bool)]) {
    let mut x = p.left + p.width;
    for (name, color, dashed) in items.iter().rev() {
        let w = name.len() as f32 * 7.0 + 34.0;
        x -= w;
        let y = p.top - 12.0;
        shapes.push(Shape::Line {
            points: vec![(x, y), (x + 22.0, y)],
            color: *color,
            width: 2.5,
            dash: dashed.then_some((6.0, 4.0)),
            id: None,
        });
        shapes.push(text((x + 27.0, y + 4.0), *name, 12.0, TEXT, Anchor::Start));
    }
}

/// Lays the recording out: a memory panel above a CPU panel, sharing the time axis.
pub fn scene(rec: &Recording) -> Scene {
    let (width, height) = (1000u32, 660u32);
    let mut shapes = vec![Shape::Rect {
        rect: (0.0, 0.0, width as f32, height as f32),
        fill: Some(Rgb(0xfb, 0xfb, 0xfb)),
        stroke: None,
    }];
    let cmd = rec.command.join(" ");
    let cmd = if cmd.chars().count() > 70 { format!("{}…", cmd.chars().take(69).collect::<String>()) } else { cmd };
    shapes.push(text((24.0, 30.0), format!("rein run: {cmd}"), 17.0, TEXT, Anchor::Start));
    let mut sub = format!("group {}, cgroup {}", rec.group, rec.mode);
    if let Some(code) = rec.exit_code {
        sub.push_str(&format!(", exit {code}"));
    }
    let kills = rec.kills();
    if !kills.is_empty() {
        sub.push_str(&format!(", {} OOM kill{}", kills.len(), if kills.len() == 1 { "" } else { "s" }));
    }
    shapes.push(text((24.0, 50.0), sub, 12.0, GREY, Anchor::Start));

    let (t0, _) = rec.samples[0];
    let rel: Vec<(u64, &Stats)> = rec.samples.iter().map(|(t, s)| (t - t0, s)).collect();
    let (tmax, tticks) = ticks(rec.duration_usec().max(1) as f64 / 1e6, 8, 1.0);
    let tmax_usec = tmax * 1e6;

    // Memory: usage, peak so far, swap, and the limits in force.
    let mem = |s: &Stats| s.memory.unwrap_or_default();
    let limit_v = |l: Option<Limit<u64>>| match l {
        Some(Limit::Value(v)) => Some(v as f64),
        _ => None,
    };
    let top_mem = rel
        .iter()
        .flat_map(|(_, s)| {
            [mem(s).current, mem(s).peak, limit_v(mem(s).max).map(|v| v as u64), limit_v(mem(s).high).map(|v| v as u64)]
        })
        .flatten()
        .max()
        .unwrap_or(0);
    let (ymax, yticks) = byte_ticks(top_mem + top_mem / 10);
    let pm = Panel { left: 90.0, top: 100.0, width: 860.0, height: 220.0, tmax: tmax_usec, ymax };
    axes(&pm, &mut shapes, &yticks, &|v| human_bytes(v as u64), "Memory");
    let usage: Vec<(f32, f32)> =
        rel.iter().filter_map(|(t, s)| mem(s).current.map(|c| (pm.x(*t), pm.y(c as f64)))).collect();
    if let (Some(first), Some(last)) = (usage.first().copied(), usage.last().copied()) {
        let mut area = vec![(first.0, pm.y(0.0))];
        area.extend(usage.iter().copied());
        area.push((last.0, pm.y(0.0)));
        shapes.push(Shape::Area { points: area, color: BLUE, opacity: 0.15 });
    }
    let swap: Vec<(f32, f32)> =
        rel.iter().filter_map(|(t, s)| mem(s).swap_current.map(|c| (pm.x(*t), pm.y(c as f64)))).collect();
    let mut items = vec![("memory.current", BLUE, false)];
    if swap.iter().any(|(_, y)| *y < pm.y(0.0) - 0.5) {
        shapes.push(line(swap, PURPLE, 1.5, None, "swap-current"));
        items.push(("swap", PURPLE, false));
    }
    shapes.push(line(usage, BLUE, 2.0, None, "memory-current"));
    let max_pts: Vec<(u64, Option<f64>)> = rel.iter().map(|(t, s)| (*t, limit_v(mem(s).max))).collect();
    for run in steps(&pm, &max_pts) {
        shapes.push(line(run, RED, 2.0, Some((8.0, 5.0)), "memory-max"));
    }
    if let Some(v) = max_pts.iter().rev().find_map(|(_, v)| *v) {
        shapes.push(text(
            (pm.left + 6.0, pm.y(v) - 5.0),
            format!("memory.max {}", human_bytes(v as u64)),
            12.0,
            RED,
            Anchor::Start,
        ));
        items.push(("limit", RED, true));
    }
    let high_pts: Vec<(u64, Option<f64>)> = rel.iter().map(|(t, s)| (*t, limit_v(mem(s).high))).collect();
    for run in steps(&pm, &high_pts) {
        shapes.push(line(run, ORANGE, 2.0, Some((4.0, 4.0)), "memory-high"));
    }
    if let Some(v) = high_pts.iter().rev().find_map(|(_, v)| *v) {
        shapes.push(text(
            (pm.left + pm.width / 2.0, pm.y(v) - 5.0),
            format!("memory.high {}", human_bytes(v as u64)),
            12.0,
            ORANGE,
            Anchor::Middle,
        ));
        items.push(("memory.high", ORANGE, true));
    }
    legend(&pm, &mut shapes, &items);

    // CPU: percent of one CPU between samples, and the bandwidth limit.
    let mut cpu: Vec<(u64, f64)> = Vec::new();
    for w in rel.windows(2) {
        let ((ta, a), (tb, b)) = (w[0], w[1]);
        if let Some(p) = rein::stats::cpu_percent(a, b, std::time::Duration::from_micros(tb - ta)) {
            cpu.push((tb, p));
        }
    }
    let cpu_limit: Vec<(u64, Option<f64>)> =
        rel.iter().map(|(t, s)| (*t, s.cpu.max.and_then(|m| m.percent()))).collect();
    let top_cpu = cpu.iter().map(|(_, p)| *p).chain(cpu_limit.iter().filter_map(|(_, v)| *v)).fold(0.0, f64::max);
    let (cmax, cticks) = ticks((top_cpu * 1.1).max(10.0), 4, 1.0);
    let pc = Panel { left: 90.0, top: 390.0, width: 860.0, height: 190.0, tmax: tmax_usec, ymax: cmax };
    axes(&pc, &mut shapes, &cticks, &|v| format!("{v:.0}%"), "CPU (100% = one CPU)");
    let mut citems = vec![("cpu", GREEN, false)];
    for run in steps(&pc, &cpu_limit) {
        shapes.push(line(run, RED, 2.0, Some((8.0, 5.0)), "cpu-max"));
    }
    if let Some(v) = cpu_limit.iter().rev().find_map(|(_, v)| *v) {
        shapes.push(text((pc.left + 6.0, pc.y(v) - 5.0), format!("cpu.max {v:.0}%"), 12.0, RED, Anchor::Start));
        citems.push(("limit", RED, true));
    }
    // CPU% holds over the interval before each sample: draw it as steps.
    let mut cpts = Vec::new();
    let mut prev_t = 0;
    for (t, p) in &cpu {
        cpts.push((pc.x(prev_t), pc.y(*p)));
        cpts.push((pc.x(*t), pc.y(*p)));
        prev_t = *t;
    }
    shapes.push(line(cpts, GREEN, 2.0, None, "cpu-usage"));
    legend(&pc, &mut shapes, &citems);

    // The time axis under the CPU panel, grid lines through both.
    for t in &tticks {
        let x = pc.x((t * 1e6) as u64);
        for p in [&pm, &pc] {
            shapes.push(Shape::Line {
                points: vec![(x, p.top + p.height), (x, p.top + p.height + 5.0)],
                color: GREY,
                width: 1.0,
                dash: None,
                id: None,
            });
        }
        shapes.push(text((x, pc.top + pc.height + 20.0), format!("{}s", trim_float(*t)), 12.0, TEXT, Anchor::Middle));
    }
    shapes.push(text(
        (pc.left + pc.width / 2.0, pc.top + pc.height + 42.0),
        "time since start",
        12.0,
        GREY,
        Anchor::Middle,
    ));

    // OOM kills: a red line through both panels and a label.
    for (i, t) in kills.iter().enumerate() {
        let x = pm.x(t.saturating_sub(t0));
        shapes.push(line(vec![(x, pm.top), (x, pc.top + pc.height)], RED, 1.5, None, "oom-kill"));
        shapes.push(Shape::Area {
            points: vec![(x - 6.0, pm.top - 2.0), (x + 6.0, pm.top - 2.0), (x, pm.top + 9.0)],
            color: RED,
            opacity: 1.0,
        });
        if i == 0 || kills[i - 1] + ((tmax_usec / 20.0) as u64) < *t {
            // Beside the line, on the side with room.
            let (dx, anchor) = if x > pm.left + pm.width - 90.0 { (-6.0, Anchor::End) } else { (6.0, Anchor::Start) };
            shapes.push(text((x + dx, pm.top + 22.0), "OOM kill", 12.0, RED, anchor));
        }
    }
    Scene { width, height, shapes }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Renders the recording in `format`.
pub fn render(rec: &Recording, format: Format) -> anyhow::Result<Vec<u8>> {
    let s = scene(rec);
    match format {
        Format::Svg => Ok(svg::render(&s).into_bytes()),
        #[cfg(feature = "png")]
        Format::Png => png::render(&s),
        #[cfg(not(feature = "png"))]
        Format::Png => anyhow::bail!("this rein was built without PNG support"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks() {
        assert_eq!(ticks(9.3, 5, 1.0).1, [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(0.0, 5, 1.0).0, 1.0);
        let (top, t) = byte_ticks(70 << 20);
        assert!(top >= (70 << 20) as f64 && t.len() <= 9, "{top} {t:?}");
        assert!(t.iter().all(|v| v % (1 << 20) as f64 == 0.0));
    }

    fn rec(lines: &[&str]) -> anyhow::Result<Recording> {
        Recording::parse(&lines.join("\n"))
    }

    const HEADER: &str =
        r#"{"type":"header","version":1,"group":"rein/run-1","command":["alloc"],"mode":"v2","interval_usec":100000}"#;

    #[test]
    fn recordings_parse_and_refuse_with_line_numbers() {
        let r = rec(&[
            HEADER,
            r#"{"type":"sample","t_usec":0,"stats":{"cpu":{"usage_usec":0},"memory":{"current":0,"max":67108864,"oom_kill":0}}}"#,
            r#"{"type":"sample","t_usec":100000,"stats":{"cpu":{"usage_usec":50000},"memory":{"current":6000000,"max":67108864,"oom_kill":0}}}"#,
            r#"{"type":"event","t_usec":150000,"event":"oom_kill","count":1,"total":1}"#,
            r#"{"type":"sample","t_usec":200000,"stats":{"cpu":{"usage_usec":60000},"memory":{"current":0,"max":67108864,"oom_kill":1}}}"#,
            r#"{"type":"future-kind","x":1}"#,
            r#"{"type":"end","t_usec":200000,"exit_code":137}"#,
        ])
        .unwrap();
        assert_eq!(r.samples.len(), 3);
        assert_eq!(r.kills(), [150000], "the event gives the time; the counter adds nothing");
        assert_eq!(r.exit_code, Some(137));
        // A kill seen only in the counter is placed at the sample that shows it.
        let r = rec(&[
            HEADER,
            r#"{"type":"sample","t_usec":0,"stats":{"memory":{"oom_kill":0}}}"#,
            r#"{"type":"sample","t_usec":5,"stats":{"memory":{"oom_kill":2}}}"#,
        ])
        .unwrap();
        assert_eq!(r.kills(), [5, 5]);
        for (lines, needle) in [
            (vec![HEADER, "{"], "line 2: not JSON"),
            (vec![HEADER], "no sample"),
            (vec![r#"{"type":"sample","t_usec":0,"stats":{}}"#], "no header"),
            (vec![HEADER, r#"{"type":"sample","stats":{}}"#], "line 2: no 't_usec'"),
            (vec![r#"{"type":"header","version":9,"group":"g"}"#], "version 9"),
            (vec![HEADER, r#"{"t_usec":1}"#], "line 2: no 'type'"),
            (
                vec![HEADER, r#"{"type":"sample","t_usec":0,"stats":{"memory":{"current":"lots"}}}"#],
                "line 2: bad stats",
            ),
        ] {
            let e = rec(&lines).unwrap_err().to_string();
            assert!(e.contains(needle), "{lines:?}: {e}");
        }
    }

    #[test]
    fn the_scene_has_the_usage_the_limit_and_the_kill() {
        let r = rec(&[
            HEADER,
            r#"{"type":"sample","t_usec":0,"stats":{"cpu":{"usage_usec":0,"max":{"quota_usec":50000,"period_usec":100000}},"memory":{"current":0,"max":67108864}}}"#,
            r#"{"type":"sample","t_usec":100000,"stats":{"cpu":{"usage_usec":50000,"max":{"quota_usec":50000,"period_usec":100000}},"memory":{"current":60000000,"max":67108864}}}"#,
            r#"{"type":"event","t_usec":150000,"event":"oom_kill","count":1,"total":1}"#,
        ])
        .unwrap();
        let svg = svg::render(&scene(&r));
        for id in ["memory-current", "memory-max", "cpu-usage", "cpu-max", "oom-kill"] {
            assert!(svg.contains(&format!("id=\"{id}")), "{id} missing");
        }
        assert!(svg.contains("memory.max 64M") && svg.contains("cpu.max 50%"), "labels");
        assert!(!svg.contains("memory-high"), "no memory.high in this recording");
    }

    #[test]
    fn formats_from_file_names() {
        assert_eq!(Format::from_path(Path::new("r.svg")).unwrap(), Format::Svg);
        assert_eq!(Format::from_path(Path::new("R.PNG")).unwrap(), Format::Png);
        assert!(Format::from_path(Path::new("r.jpg")).unwrap_err().to_string().contains(".svg or .png"));
        assert!(Format::from_path(Path::new("r")).is_err());
    }
}
