//! The one typeface both backends measure with: Hack, embedded at compile
//! time (from the `epaint_default_fonts` crate), so a PNG's text looks the
//! same on every machine and needs no fonts installed. The SVG names the
//! same face first and falls back to the browser's monospace.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale};

/// The SVG's `font-family`.
pub const FAMILY: &str = "Hack, 'DejaVu Sans Mono', monospace";

pub fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        // The bytes are a font file built into the crate; it parses.
        FontRef::try_from_slice(epaint_default_fonts::HACK_REGULAR)
            .expect("the embedded Hack font parses")
    })
}

/// The scale for a CSS `font-size` of `size` px.
pub fn scale(size: f32) -> PxScale {
    let f = font();
    let em = f.units_per_em().unwrap_or(f.height_unscaled());
    PxScale::from(size * f.height_unscaled() / em)
}

/// How wide `s` is at `size` px.
pub fn width(s: &str, size: f32) -> f32 {
    let f = font();
    let sc = scale(size);
    let per_unit = sc.x / f.height_unscaled();
    s.chars()
        .map(|c| f.h_advance_unscaled(f.glyph_id(c)) * per_unit)
        .sum()
}

/// `s`, cut with an ellipsis where it would be wider than `max` px.
pub fn fit(s: &str, size: f32, max: f32) -> String {
    if width(s, size) <= max {
        return s.to_string();
    }
    let room = max - width("…", size);
    let mut out = String::new();
    let mut w = 0.0;
    for c in s.chars() {
        let cw = width(c.encode_utf8(&mut [0; 4]), size);
        if w + cw > room {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push('…');
    out
}

/// `s` broken into lines no wider than `max` px, at spaces where it can,
/// and at most `lines` of them (the last cut with an ellipsis).
pub fn wrap(s: &str, size: f32, max: f32, lines: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in s.split(' ') {
        let next = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if width(&next, size) <= max || cur.is_empty() {
            cur = next;
        } else {
            out.push(std::mem::take(&mut cur));
            cur = word.to_string();
        }
    }
    out.push(cur);
    if out.len() > lines {
        let rest = out[lines - 1..].join(" ");
        out.truncate(lines - 1);
        out.push(rest);
    }
    out.into_iter().map(|l| fit(&l, size, max)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_fits_and_wraps() {
        // Monospace: every character as wide as any other.
        assert!((width("abcd", 10.0) - 2.0 * width("ab", 10.0)).abs() < 1e-3);
        assert!(
            width("a", 11.0) > 5.0 && width("a", 11.0) < 8.0,
            "{}",
            width("a", 11.0)
        );
        let cut = fit("a long label set", 11.0, 50.0);
        assert!(cut.ends_with('…') && width(&cut, 11.0) <= 50.0, "{cut}");
        let w = wrap("one two three four five six", 11.0, 60.0, 2);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0], "one two");
        assert!(w[1].ends_with('…'));
    }
}
