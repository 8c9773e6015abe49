//! Case mapping as Go's `strings.ToLower`/`ToUpper` do it: one character
//! to one character, so `ß` stays and no final sigma appears.

/// Go's `strings.ToLower`: each char by its simple, one-to-one mapping.
/// Rust's full mapping differs only where it yields several chars.
pub(super) fn go_lower(s: &str) -> String {
    // U+0130 is the one char whose full lower case is two chars.
    each_simple(
        s,
        char::to_lowercase,
        |c| if c == '\u{130}' { 'i' } else { c },
    )
}

/// Go's `strings.ToUpper`: each char by its simple, one-to-one mapping, so
/// `ß` stays `ß` where Rust gives `SS`.
pub(super) fn go_upper(s: &str) -> String {
    each_simple(s, char::to_uppercase, |c| match c {
        // Of the chars whose full upper case is several chars, only the
        // Greek letters with ypogegrammeni have a simple mapping
        // (UnicodeData.txt): to the matching letter with prosgegrammeni.
        '\u{1F80}'..='\u{1F87}' | '\u{1F90}'..='\u{1F97}' | '\u{1FA0}'..='\u{1FA7}' => {
            char::from_u32(c as u32 + 8).unwrap_or(c)
        }
        '\u{1FB3}' | '\u{1FC3}' | '\u{1FF3}' => char::from_u32(c as u32 + 9).unwrap_or(c),
        _ => c,
    })
}

/// Maps each char of `s` by its `full` mapping where that is one char,
/// else by `simple` (given only the chars whose full mapping is several).
fn each_simple<M: Iterator<Item = char>>(
    s: &str,
    full: impl Fn(char) -> M,
    simple: impl Fn(char) -> char,
) -> String {
    s.chars()
        .map(|c| {
            let mut m = full(c);
            match (m.next(), m.next()) {
                (Some(one), None) => one,
                _ => simple(c),
            }
        })
        .collect()
}
