//! Rule files and templates are listed as glob patterns: the files a
//! pattern names, as Go's `filepath.Glob` finds them. `*`, `?` and
//! character classes (`[a-z]`, `[^0-9]`) may appear in any component of
//! the path; `\` escapes. This reads directories.

use std::path::{Component, Path, PathBuf};

/// Whether `s` is a pattern rather than a plain path.
pub fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '\\'])
}

/// The files matching `p`, sorted.
pub fn glob(p: &Path) -> Vec<PathBuf> {
    let text = p.to_string_lossy();
    if !has_meta(&text) {
        return if p.symlink_metadata().is_ok() {
            vec![p.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let mut found = vec![PathBuf::new()];
    for comp in p.components() {
        let name = comp.as_os_str().to_string_lossy();
        if !matches!(comp, Component::Normal(_)) || !has_meta(&name) {
            for f in &mut found {
                f.push(comp.as_os_str());
            }
            continue;
        }
        let Some(pattern) = tokens(&name) else {
            return Vec::new();
        };
        let mut next = Vec::new();
        for dir in &found {
            let list = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir.as_path()
            };
            for e in std::fs::read_dir(list).into_iter().flatten().flatten() {
                if matches(&pattern, &e.file_name().to_string_lossy()) {
                    next.push(dir.join(e.file_name()));
                }
            }
        }
        next.sort();
        found = next;
    }
    found.retain(|f| f.symlink_metadata().is_ok());
    found
}

/// One pattern element.
enum Tok {
    Star,
    Any,
    Char(char),
    /// A class: its ranges, negated or not.
    Class(Vec<(char, char)>, bool),
}

/// The pattern's elements; `None` for a malformed pattern (Go's
/// `ErrBadPattern`), which matches nothing.
fn tokens(pattern: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        out.push(match c {
            '*' => Tok::Star,
            '?' => Tok::Any,
            '\\' => Tok::Char(it.next()?),
            '[' => {
                let mut ranges = Vec::new();
                let mut negated = false;
                let mut first = true;
                loop {
                    let mut c = it.next()?;
                    if first && c == '^' {
                        negated = true;
                        c = it.next()?;
                    }
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    let lo = if c == '\\' { it.next()? } else { c };
                    let mut peek = it.clone();
                    let hi = if peek.next() == Some('-') && peek.clone().next() != Some(']') {
                        it.next();
                        match it.next()? {
                            '\\' => it.next()?,
                            h => h,
                        }
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                Tok::Class(ranges, negated)
            }
            c => Tok::Char(c),
        });
    }
    Some(out)
}

/// Whether `name` matches `pattern` (Go's `filepath.Match` within one
/// path component). Backtracks only to the last `*`, so the time is at
/// most the product of the lengths.
pub fn wildcard(pattern: &str, name: &str) -> bool {
    tokens(pattern).is_some_and(|p| matches(&p, name))
}

fn matches(p: &[Tok], name: &str) -> bool {
    let n: Vec<char> = name.chars().collect();
    let one = |t: &Tok, c: char| match t {
        Tok::Any => c != '/',
        Tok::Char(x) => *x == c,
        Tok::Class(ranges, negated) => {
            ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
        }
        Tok::Star => false,
    };
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            if let Tok::Star = p[pi] {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            if one(&p[pi], n[ni]) {
                pi += 1;
                ni += 1;
                continue;
            }
        }
        match star {
            Some((sp, sn)) if n[sn] != '/' => {
                star = Some((sp, sn + 1));
                pi = sp + 1;
                ni = sn + 1;
            }
            _ => return false,
        }
    }
    p[pi..].iter().all(|t| matches!(t, Tok::Star))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("*.yml", "rules.yml"));
        assert!(!wildcard("*.yml", "rules.yaml"));
        assert!(wildcard("r?les*", "rules.yml"));
        assert!(wildcard("rules[12].yml", "rules2.yml"));
        assert!(!wildcard("rules[^12].yml", "rules2.yml"));
        assert!(wildcard("r[a-c]x", "rbx"));
        assert!(wildcard("a\\*b", "a*b"));
        assert!(!wildcard("a\\*b", "axb"));
        assert!(!wildcard("[", "["));
        // No blow-up on many stars.
        let name = "a".repeat(200);
        assert!(!wildcard("*a*a*a*a*a*a*a*a*a*a*b", &name));
    }

    #[test]
    fn directories_may_hold_wildcards() {
        let dir = std::env::temp_dir().join(format!("wf-glob-{}", std::process::id()));
        for d in ["team-a", "team-b", "other"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
            std::fs::write(dir.join(d).join("x.tmpl"), "").unwrap();
        }
        let got = glob(&dir.join("team-*").join("*.tmpl"));
        assert_eq!(
            got,
            [
                dir.join("team-a").join("x.tmpl"),
                dir.join("team-b").join("x.tmpl")
            ]
        );
        assert_eq!(glob(&dir.join("other/x.tmpl")), [dir.join("other/x.tmpl")]);
        assert!(glob(&dir.join("nothing-*")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
