//! The scene as SVG text: one element per item, numbers to a tenth of a
//! pixel, so the same chart gives the same bytes.

use std::fmt::Write;

use crate::{text, Anchor, Item, Scene};

pub fn draw(s: &Scene) -> String {
    let (w, h) = (s.w, s.h);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{}" font-size="11">"#,
        text::FAMILY
    );
    for item in &s.items {
        match item {
            Item::Rect { x, y, w, h, fill } => {
                let _ = write!(
                    out,
                    r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="#{fill:06x}"/>"##
                );
            }
            Item::Line {
                x1,
                y1,
                x2,
                y2,
                stroke,
                dashed,
            } => {
                let dash = if *dashed {
                    r#" stroke-dasharray="4 3""#
                } else {
                    ""
                };
                let _ = write!(
                    out,
                    r##"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="#{stroke:06x}"{dash}/>"##
                );
            }
            Item::Series { runs, dots, stroke } => {
                let mut d = String::new();
                for run in runs {
                    for (i, (x, y)) in run.iter().enumerate() {
                        let _ = write!(d, "{}{x:.1} {y:.1}", if i == 0 { "M" } else { "L" });
                    }
                }
                let _ = write!(
                    out,
                    r##"<path d="{d}" fill="none" stroke="#{stroke:06x}" stroke-width="1.5" stroke-linejoin="round"/>"##
                );
                for (x, y) in dots {
                    let _ = write!(
                        out,
                        r##"<circle cx="{x:.1}" cy="{y:.1}" r="1.5" fill="#{stroke:06x}"/>"##
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
            } => {
                let anchor = match anchor {
                    Anchor::Start => "",
                    Anchor::Middle => r#" text-anchor="middle""#,
                    Anchor::End => r#" text-anchor="end""#,
                };
                let _ = write!(
                    out,
                    r##"<text x="{x:.1}" y="{y:.1}" font-size="{size}"{anchor} fill="#{fill:06x}">{}</text>"##,
                    escape(text)
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
