//! The scene rasterised with tiny-skia: anti-aliased lines and shapes, and
//! text drawn from the embedded font's outlines by ab_glyph, blended onto
//! the opaque background. No system fonts, no browser.

use ab_glyph::{point, Font, ScaleFont};
use tiny_skia::{
    Color, FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, Rect, Stroke, StrokeDash,
    Transform,
};

use crate::{text, Anchor, Item, Rgb, Scene};

pub fn draw(s: &Scene) -> Vec<u8> {
    let (w, h) = (s.w as u32, s.h as u32);
    let Some(mut pm) = Pixmap::new(w.max(1), h.max(1)) else {
        return Vec::new();
    };
    pm.fill(Color::WHITE);
    for item in &s.items {
        match item {
            Item::Rect { x, y, w, h, fill } => {
                if let Some(r) = Rect::from_xywh(*x, *y, *w, *h) {
                    pm.fill_rect(r, &paint(*fill), Transform::identity(), None);
                }
            }
            Item::Line {
                x1,
                y1,
                x2,
                y2,
                stroke,
                dashed,
            } => {
                // Snapped to the pixel's middle, so a level line is one
                // crisp row rather than two grey ones.
                let snap = |v: f32| v.floor() + 0.5;
                let mut pb = PathBuilder::new();
                pb.move_to(*x1, snap(*y1));
                pb.line_to(*x2, snap(*y2));
                let st = Stroke {
                    width: 1.0,
                    dash: if *dashed {
                        StrokeDash::new(vec![4.0, 3.0], 0.0)
                    } else {
                        None
                    },
                    ..Stroke::default()
                };
                if let Some(p) = pb.finish() {
                    pm.stroke_path(&p, &paint(*stroke), &st, Transform::identity(), None);
                }
            }
            Item::Series { runs, dots, stroke } => {
                let mut pb = PathBuilder::new();
                for run in runs {
                    for (i, &(x, y)) in run.iter().enumerate() {
                        if i == 0 {
                            pb.move_to(x, y);
                        } else {
                            pb.line_to(x, y);
                        }
                    }
                }
                let st = Stroke {
                    width: 1.5,
                    line_join: LineJoin::Round,
                    line_cap: LineCap::Butt,
                    ..Stroke::default()
                };
                if let Some(p) = pb.finish() {
                    pm.stroke_path(&p, &paint(*stroke), &st, Transform::identity(), None);
                }
                let mut pb = PathBuilder::new();
                for &(x, y) in dots {
                    pb.push_circle(x, y, 1.5);
                }
                if let Some(p) = pb.finish() {
                    pm.fill_path(
                        &p,
                        &paint(*stroke),
                        FillRule::Winding,
                        Transform::identity(),
                        None,
                    );
                }
            }
            Item::Text {
                x,
                y,
                size,
                anchor,
                fill,
                text,
            } => glyphs(&mut pm, *x, *y, *size, *anchor, *fill, text),
        }
    }
    pm.encode_png().unwrap_or_default()
}

fn paint(c: Rgb) -> Paint<'static> {
    let mut p = Paint::default();
    let [_, r, g, b] = c.to_be_bytes();
    p.set_color_rgba8(r, g, b, 255);
    p.anti_alias = true;
    p
}

/// Draws `s` with its baseline at `y`, each glyph's coverage blended over
/// what is there (the pixmap is opaque, so plain `src·a + dst·(1−a)`).
fn glyphs(pm: &mut Pixmap, x: f32, y: f32, size: f32, anchor: Anchor, fill: Rgb, s: &str) {
    let font = text::font();
    let scaled = font.as_scaled(text::scale(size));
    let width = text::width(s, size);
    let mut pen = match anchor {
        Anchor::Start => x,
        Anchor::Middle => x - width / 2.0,
        Anchor::End => x - width,
    };
    let [_, r, g, b] = fill.to_be_bytes();
    let (pw, ph) = (pm.width() as i32, pm.height() as i32);
    let data = pm.data_mut();
    for c in s.chars() {
        let id = font.glyph_id(c);
        let glyph = id.with_scale_and_position(scaled.scale(), point(pen, y));
        pen += scaled.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        let (ox, oy) = (bounds.min.x as i32, bounds.min.y as i32);
        outline.draw(|gx, gy, cov| {
            let (px, py) = (ox + gx as i32, oy + gy as i32);
            if px < 0 || py < 0 || px >= pw || py >= ph {
                return;
            }
            let a = cov.clamp(0.0, 1.0);
            let i = (py * pw + px) as usize * 4;
            for (k, src) in [r, g, b].into_iter().enumerate() {
                let dst = data[i + k] as f32;
                data[i + k] = (src as f32 * a + dst * (1.0 - a)).round() as u8;
            }
            data[i + 3] = 255;
        });
    }
}
