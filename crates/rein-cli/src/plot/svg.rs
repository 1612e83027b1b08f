//! A [`Scene`] as an SVG document (no dependency: the format is text).

use std::fmt::Write as _;

use super::scene::{Anchor, Rgb, Scene, Shape};

fn color(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn points(p: &[(f32, f32)]) -> String {
    p.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ")
}

/// The SVG text of a scene.
pub fn render(s: &Scene) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Verdana, sans-serif">"#,
        w = s.width,
        h = s.height
    );
    let mut ids: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for shape in &s.shapes {
        let _ = match shape {
            Shape::Line { points: p, color: c, width, dash, id } => {
                let dash = dash.map(|(a, b)| format!(r#" stroke-dasharray="{a} {b}""#)).unwrap_or_default();
                // Element ids are unique: the second memory-max run is memory-max-2.
                let id = id
                    .map(|id| {
                        let n = ids.entry(id).or_default();
                        *n += 1;
                        if *n == 1 { format!(r#" id="{id}""#) } else { format!(r#" id="{id}-{n}""#) }
                    })
                    .unwrap_or_default();
                writeln!(
                    out,
                    r#"<polyline{id} points="{}" fill="none" stroke="{}" stroke-width="{width}"{dash} stroke-linejoin="round"/>"#,
                    points(p),
                    color(*c)
                )
            }
            Shape::Area { points: p, color: c, opacity } => {
                writeln!(out, r#"<polygon points="{}" fill="{}" fill-opacity="{opacity}"/>"#, points(p), color(*c))
            }
            Shape::Rect { rect: (x, y, w, h), fill, stroke } => writeln!(
                out,
                r#"<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{}" stroke="{}"/>"#,
                fill.map(color).unwrap_or_else(|| "none".into()),
                stroke.map(color).unwrap_or_else(|| "none".into())
            ),
            Shape::Text { at: (x, y), text, size, color: c, anchor } => {
                let a = match anchor {
                    Anchor::Start => "start",
                    Anchor::Middle => "middle",
                    Anchor::End => "end",
                };
                writeln!(
                    out,
                    r#"<text x="{x}" y="{y}" font-size="{size}" fill="{}" text-anchor="{a}">{}</text>"#,
                    color(*c),
                    escape(text)
                )
            }
        };
    }
    out.push_str("</svg>\n");
    out
}
