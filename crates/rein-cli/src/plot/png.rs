//! A [`Scene`] rasterized to PNG: tiny-skia draws the shapes anti-aliased, ab_glyph the
//! text from the embedded DejaVu Sans subset (crates/rein-cli/assets/).

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use tiny_skia::{FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, Rect, Stroke, StrokeDash, Transform};

use super::scene::{Anchor, Rgb, Scene, Shape};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans-subset.ttf");

fn paint(c: Rgb, alpha: f32) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(tiny_skia::Color::from_rgba8(c.0, c.1, c.2, (alpha.clamp(0.0, 1.0) * 255.0) as u8));
    p.anti_alias = true;
    p
}

fn path(points: &[(f32, f32)], close: bool) -> Option<tiny_skia::Path> {
    let mut pb = PathBuilder::new();
    let (first, rest) = points.split_first()?;
    pb.move_to(first.0, first.1);
    for (x, y) in rest {
        pb.line_to(*x, *y);
    }
    if close {
        pb.close();
    }
    pb.finish()
}

/// Draws `text` with its baseline at `y`, coverage blended into the pixmap.
fn draw_text(pm: &mut Pixmap, font: &FontRef<'_>, (x, y): (f32, f32), text: &str, size: f32, c: Rgb, anchor: Anchor) {
    let scaled = font.as_scaled(PxScale::from(size));
    let width: f32 = text.chars().map(|ch| scaled.h_advance(font.glyph_id(ch))).sum();
    let mut pen = match anchor {
        Anchor::Start => x,
        Anchor::Middle => x - width / 2.0,
        Anchor::End => x - width,
    };
    let (w, h) = (pm.width() as i32, pm.height() as i32);
    let pixels = pm.pixels_mut();
    for ch in text.chars() {
        let id = font.glyph_id(ch);
        let glyph = id.with_scale_and_position(PxScale::from(size), ab_glyph::point(pen, y));
        pen += scaled.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else { continue };
        let b = outline.px_bounds();
        outline.draw(|gx, gy, cov| {
            let (px, py) = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
            if px < 0 || py < 0 || px >= w || py >= h || cov <= 0.0 {
                return;
            }
            let i = (py * w + px) as usize;
            let dst = pixels[i].demultiply();
            let a = cov.min(1.0);
            let mix = |s: u8, d: u8| (s as f32 * a + d as f32 * (1.0 - a)).round() as u8;
            let out =
                tiny_skia::ColorU8::from_rgba(mix(c.0, dst.red()), mix(c.1, dst.green()), mix(c.2, dst.blue()), 255);
            pixels[i] = out.premultiply();
        });
    }
}

/// PNG bytes of a scene.
pub fn render(s: &Scene) -> anyhow::Result<Vec<u8>> {
    let mut pm = Pixmap::new(s.width, s.height)
        .ok_or_else(|| anyhow::anyhow!("cannot make a {}x{} picture", s.width, s.height))?;
    pm.fill(tiny_skia::Color::WHITE);
    let font = FontRef::try_from_slice(FONT).map_err(|e| anyhow::anyhow!("the embedded font: {e}"))?;
    for shape in &s.shapes {
        match shape {
            Shape::Line { points, color, width, dash, .. } => {
                let Some(p) = path(points, false) else { continue };
                let stroke = Stroke {
                    width: *width,
                    line_cap: LineCap::Butt,
                    line_join: LineJoin::Round,
                    dash: dash.and_then(|(a, b)| StrokeDash::new(vec![a, b], 0.0)),
                    ..Stroke::default()
                };
                pm.stroke_path(&p, &paint(*color, 1.0), &stroke, Transform::identity(), None);
            }
            Shape::Area { points, color, opacity } => {
                if let Some(p) = path(points, true) {
                    pm.fill_path(&p, &paint(*color, *opacity), FillRule::Winding, Transform::identity(), None);
                }
            }
            Shape::Rect { rect: (x, y, w, h), fill, stroke } => {
                let Some(r) = Rect::from_xywh(*x, *y, *w, *h) else { continue };
                if let Some(c) = fill {
                    pm.fill_rect(r, &paint(*c, 1.0), Transform::identity(), None);
                }
                if let Some(c) = stroke {
                    let p = PathBuilder::from_rect(r);
                    pm.stroke_path(
                        &p,
                        &paint(*c, 1.0),
                        &Stroke { width: 1.0, ..Stroke::default() },
                        Transform::identity(),
                        None,
                    );
                }
            }
            Shape::Text { at, text, size, color, anchor } => {
                draw_text(&mut pm, &font, *at, text, *size, *color, *anchor)
            }
        }
    }
    pm.encode_png().map_err(|e| anyhow::anyhow!("encoding PNG: {e}"))
}
