//! The lexer: template text into tokens, as Go's `text/template/parse` lexes
//! it (delimiters `{{ }}`, trim markers `{{- ` and ` -}}`, comments).

use crate::Error;

/// One token. `line` is 1-based; `spaced` says whitespace came before it
/// inside an action, which separates `.A .B` (two arguments) from `.A.B`
/// (one chain).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub line: usize,
    pub spaced: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Text(String),
    Left,
    Right,
    /// A comment action `{{/* … */}}`; produces nothing.
    Comment,
    Ident(String),
    /// `.Name`; a lone `.` is `Dot`.
    Field(String),
    Dot,
    /// `$name`, or `$` alone (name empty).
    Variable(String),
    Str(String),
    /// A number literal as written (sign included).
    Number(String),
    /// A character literal, already decoded.
    Char(char),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    Eof,
}

const SPACE: &[char] = &[' ', '\t', '\r', '\n'];

pub(crate) fn lex(name: &str, src: &str) -> Result<Vec<Token>, Error> {
    let mut l = Lexer {
        name,
        src,
        pos: 0,
        line: 1,
        out: Vec::new(),
    };
    l.run()?;
    Ok(l.out)
}

struct Lexer<'a> {
    name: &'a str,
    src: &'a str,
    pos: usize,
    line: usize,
    out: Vec<Token>,
}

impl Lexer<'_> {
    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::Parse(format!("template: {}:{}: {msg}", self.name, self.line))
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn push(&mut self, kind: Kind, spaced: bool) {
        self.out.push(Token {
            kind,
            line: self.line,
            spaced,
        });
    }

    /// Advances over `n` bytes, counting newlines.
    fn bump(&mut self, n: usize) -> &str {
        let s = &self.src[self.pos..self.pos + n];
        self.line += s.matches('\n').count();
        self.pos += n;
        s
    }

    fn run(&mut self) -> Result<(), Error> {
        let mut trim_next = false;
        loop {
            let rest = self.rest();
            let end = rest.find("{{").unwrap_or(rest.len());
            let mut text = &rest[..end];
            if trim_next {
                text = text.trim_start_matches(SPACE);
            }
            let left_trim = rest[end..].starts_with("{{-") && rest[end + 3..].starts_with(SPACE);
            if left_trim {
                text = text.trim_end_matches(SPACE);
            }
            let text = text.to_string();
            let line = self.line;
            self.bump(end);
            if !text.is_empty() {
                self.out.push(Token {
                    kind: Kind::Text(text),
                    line,
                    spaced: false,
                });
            }
            if self.pos >= self.src.len() {
                break;
            }
            self.bump(if left_trim { 3 } else { 2 });
            trim_next = self.action()?;
        }
        self.push(Kind::Eof, false);
        Ok(())
    }

    /// Lexes one action after its left delimiter; says whether it ended
    /// with a trim marker.
    fn action(&mut self) -> Result<bool, Error> {
        // A comment is the whole action: `{{/* c */}}` or `{{- /* c */ -}}`.
        let ws = self.rest().len() - self.rest().trim_start_matches(SPACE).len();
        if self.rest()[ws..].starts_with("/*") {
            self.bump(ws);
            let Some(close) = self.rest().find("*/") else {
                return Err(self.err("unclosed comment"));
            };
            self.bump(close + 2);
            let ws = self.rest().len() - self.rest().trim_start_matches(SPACE).len();
            let after = &self.rest()[ws..];
            if ws > 0 && after.starts_with("-}}") {
                self.bump(ws + 3);
                self.push(Kind::Comment, false);
                return Ok(true);
            }
            if ws == 0 && after.starts_with("}}") {
                self.bump(2);
                self.push(Kind::Comment, false);
                return Ok(false);
            }
            return Err(self.err("comment ends before closing delimiter"));
        }
        self.push(Kind::Left, false);
        let mut paren = 0usize;
        loop {
            let rest = self.rest();
            let ws = rest.len() - rest.trim_start_matches(SPACE).len();
            let spaced = ws > 0;
            if ws > 0 && rest[ws..].starts_with("-}}") {
                self.bump(ws + 3);
                self.push(Kind::Right, false);
                return Ok(true);
            }
            self.bump(ws);
            let rest = self.rest();
            if rest.starts_with("}}") {
                if paren > 0 {
                    return Err(self.err("unclosed left paren"));
                }
                self.bump(2);
                self.push(Kind::Right, spaced);
                return Ok(false);
            }
            let Some(c) = rest.chars().next() else {
                return Err(self.err("unclosed action"));
            };
            match c {
                '|' => {
                    self.bump(1);
                    self.push(Kind::Pipe, spaced);
                }
                '(' => {
                    paren += 1;
                    self.bump(1);
                    self.push(Kind::LParen, spaced);
                }
                ')' => {
                    if paren == 0 {
                        return Err(self.err("unexpected right paren"));
                    }
                    paren -= 1;
                    self.bump(1);
                    self.push(Kind::RParen, spaced);
                }
                ',' => {
                    self.bump(1);
                    self.push(Kind::Comma, spaced);
                }
                ':' => {
                    if !rest.starts_with(":=") {
                        return Err(self.err("expected :="));
                    }
                    self.bump(2);
                    self.push(Kind::Declare, spaced);
                }
                '=' => {
                    self.bump(1);
                    self.push(Kind::Assign, spaced);
                }
                '"' => {
                    let s = self.quoted()?;
                    self.push(Kind::Str(s), spaced);
                }
                '`' => {
                    let Some(end) = rest[1..].find('`') else {
                        return Err(self.err("unterminated raw quoted string"));
                    };
                    let s = rest[1..1 + end].to_string();
                    self.bump(end + 2);
                    self.push(Kind::Str(s), spaced);
                }
                '\'' => {
                    let c = self.char_literal()?;
                    self.push(Kind::Char(c), spaced);
                }
                '$' => {
                    let n = 1 + ident_len(&rest[1..]);
                    let name = rest[1..n].to_string();
                    self.bump(n);
                    self.push(Kind::Variable(name), spaced);
                }
                '.' => {
                    // `.5` is a number; `.Name` a field; `.` the dot.
                    if rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
                        let n = number_len(rest);
                        let s = rest[..n].to_string();
                        self.bump(n);
                        self.push(Kind::Number(s), spaced);
                    } else {
                        let n = ident_len(&rest[1..]);
                        if n == 0 {
                            self.bump(1);
                            self.push(Kind::Dot, spaced);
                        } else {
                            let name = rest[1..1 + n].to_string();
                            self.bump(1 + n);
                            self.push(Kind::Field(name), spaced);
                        }
                    }
                }
                c if c == '+' || c == '-' || c.is_ascii_digit() => {
                    let n = number_len(rest);
                    if n == 0 || (n == 1 && !c.is_ascii_digit()) {
                        return Err(self.err(format!("bad character {c:?}")));
                    }
                    let s = rest[..n].to_string();
                    if rest[n..].starts_with(|c: char| c.is_alphanumeric() || c == '_') {
                        let bad: String = rest
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || "_.+-".contains(*c))
                            .collect();
                        return Err(self.err(format!("bad number syntax: {bad:?}")));
                    }
                    self.bump(n);
                    self.push(Kind::Number(s), spaced);
                }
                c if c.is_alphabetic() || c == '_' => {
                    let n = ident_len(rest);
                    let word = &rest[..n];
                    let kind = match word {
                        "true" => Kind::Bool(true),
                        "false" => Kind::Bool(false),
                        "nil" => Kind::Nil,
                        _ => Kind::Ident(word.to_string()),
                    };
                    self.bump(n);
                    self.push(kind, spaced);
                }
                c => return Err(self.err(format!("unexpected {c:?} in command"))),
            }
        }
    }

    fn quoted(&mut self) -> Result<String, Error> {
        let rest = self.rest();
        let mut out = String::new();
        let mut chars = rest.char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.bump(i + 1);
                    return Ok(out);
                }
                '\n' => break,
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'a' => out.push('\x07'),
                        'b' => out.push('\x08'),
                        'f' => out.push('\x0c'),
                        'v' => out.push('\x0b'),
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        '\'' => out.push('\''),
                        'x' | 'u' | 'U' => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String =
                                (0..n).filter_map(|_| chars.next().map(|p| p.1)).collect();
                            let v = u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.err("invalid syntax in quoted string"))?;
                            out.push(v);
                        }
                        _ => return Err(self.err("invalid syntax in quoted string")),
                    }
                }
                c => out.push(c),
            }
        }
        Err(self.err("unterminated quoted string"))
    }

    fn char_literal(&mut self) -> Result<char, Error> {
        let rest = self.rest();
        let mut it = rest.char_indices().skip(1);
        let c = match it.next() {
            Some((_, '\\')) => match it.next() {
                Some((_, 'n')) => '\n',
                Some((_, 't')) => '\t',
                Some((_, '\\')) => '\\',
                Some((_, '\'')) => '\'',
                _ => return Err(self.err("unterminated character constant")),
            },
            Some((_, c)) => c,
            None => return Err(self.err("unterminated character constant")),
        };
        match it.next() {
            Some((i, '\'')) => {
                self.bump(i + 1);
                Ok(c)
            }
            _ => Err(self.err("unterminated character constant")),
        }
    }
}

fn ident_len(s: &str) -> usize {
    s.char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(s.len(), |(i, _)| i)
}

/// Length of a Go number literal at the start of `s` (sign, hex/octal/binary
/// prefixes, digits with `_`, fraction and exponent).
fn number_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut digits: &[u8] = b"0123456789_";
    let mut exp = b"eE".as_slice();
    if b.len() > i + 1 && b[i] == b'0' && b"xXoObB".contains(&b[i + 1]) {
        match b[i + 1] {
            b'x' | b'X' => {
                digits = b"0123456789abcdefABCDEF_";
                exp = b"pP";
            }
            b'o' | b'O' => digits = b"01234567_",
            _ => digits = b"01_",
        }
        i += 2;
    }
    while i < b.len() && digits.contains(&b[i]) {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && digits.contains(&b[i]) {
            i += 1;
        }
    }
    if i < b.len() && exp.contains(&b[i]) {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Kind> {
        lex("t", src).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn trims_and_comments() {
        assert_eq!(
            kinds("a  {{- .X -}}  b{{/* c */}}"),
            vec![
                Kind::Text("a".into()),
                Kind::Left,
                Kind::Field("X".into()),
                Kind::Right,
                Kind::Text("b".into()),
                Kind::Comment,
                Kind::Eof
            ]
        );
    }

    #[test]
    fn tokens() {
        assert_eq!(
            kinds(r#"{{ $x := printf "%d\n" -1.5e3 | len }}"#),
            vec![
                Kind::Left,
                Kind::Variable("x".into()),
                Kind::Declare,
                Kind::Ident("printf".into()),
                Kind::Str("%d\n".into()),
                Kind::Number("-1.5e3".into()),
                Kind::Pipe,
                Kind::Ident("len".into()),
                Kind::Right,
                Kind::Eof
            ]
        );
    }

    #[test]
    fn errors() {
        for bad in [
            "{{ \"abc }}",
            "{{ .X ",
            "{{/* x */ }}",
            "{{ ) }}",
            "{{ 3x }}",
        ] {
            assert!(lex("t", bad).is_err(), "{bad}");
        }
    }
}
