//! Case mapping as Go's `strings.ToLower`/`ToUpper` do it: one character
//! to one character, so `ß` stays and no final sigma appears.

/// Go's `strings.ToLower`: each char by its simple, one-to-one mapping.
/// Rust's full mapping differs only where it yields several chars.
pub(super) fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut m = c.to_lowercase();
            match (m.next(), m.next()) {
                (Some(l), None) => l,
                // U+0130 is the one char whose full lower case is two chars.
                _ if c == '\u{130}' => 'i',
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.ToUpper`: each char by its simple, one-to-one mapping, so
/// `ß` stays `ß` where Rust gives `SS`.
pub(super) fn go_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut m = c.to_uppercase();
            match (m.next(), m.next()) {
                (Some(u), None) => u,
                // Of the chars whose full upper case is several chars, only
                // the Greek letters with ypogegrammeni have a simple mapping
                // (UnicodeData.txt): to the matching letter with prosgegrammeni.
                _ => match c {
                    '\u{1F80}'..='\u{1F87}' | '\u{1F90}'..='\u{1F97}' | '\u{1FA0}'..='\u{1FA7}' => {
                        char::from_u32(c as u32 + 8).unwrap_or(c)
                    }
                    '\u{1FB3}' | '\u{1FC3}' | '\u{1FF3}' => {
                        char::from_u32(c as u32 + 9).unwrap_or(c)
                    }
                    _ => c,
                },
            }
        })
        .collect()
}
