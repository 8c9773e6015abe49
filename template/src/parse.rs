//! The parser: tokens into a tree, with Go's parse-time checks (every
//! variable declared before use, every function known).

use std::collections::HashMap;

use crate::lex::{lex, Kind, Token};
use crate::value::Value;
use crate::Error;

/// A parsed template body.
pub(crate) type List = Vec<Node>;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    Template {
        line: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: List,
    pub otherwise: Option<List>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub line: usize,
    /// Variables declared (`:=`) or assigned (`=`) by this pipeline.
    pub vars: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

/// One command of a pipeline: a function with arguments, or one operand.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Dot,
    Nil,
    Const(Value),
    /// `.A.B` on the dot.
    Field(Vec<String>),
    /// `$x.A.B`.
    Variable(String, Vec<String>),
    /// A function name.
    Func(String),
    /// `(pipeline).A.B`, or a parenthesised pipeline with no fields.
    Pipe(Box<Pipe>, Vec<String>),
}

/// The result of parsing one source: its main body and the templates it
/// defines with `define` or `block`.
pub(crate) struct Parsed {
    pub main: List,
    pub defined: HashMap<String, List>,
}

pub(crate) fn parse(name: &str, src: &str, funcs: &dyn Fn(&str) -> bool) -> Result<Parsed, Error> {
    let tokens = lex(name, src)?;
    let mut p = Parser {
        name,
        tokens,
        pos: 0,
        vars: vec!["$".to_string()],
        funcs,
        defined: HashMap::new(),
        range_depth: 0,
        depth: 0,
    };
    let (main, end) = p.list(true)?;
    match end {
        Stop::Eof => {}
        Stop::End(line) => return Err(p.err_at(line, "unexpected {{end}}")),
        Stop::Else(line, _) => return Err(p.err_at(line, "unexpected {{else}}")),
    }
    Ok(Parsed {
        main,
        defined: p.defined,
    })
}

enum Stop {
    Eof,
    End(usize),
    /// `{{else}}`, or `{{else if …}}` / `{{else with …}}` (the keyword).
    Else(usize, Option<String>),
}

struct Parser<'a> {
    name: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    vars: Vec<String>,
    funcs: &'a dyn Fn(&str) -> bool,
    defined: HashMap<String, List>,
    range_depth: usize,
    /// Nesting of controls and parentheses, bounded so that no input can
    /// exhaust the stack.
    depth: usize,
}

/// How deeply controls and parentheses may nest.
const MAX_NESTING: usize = 200;

impl Parser<'_> {
    fn err_at(&self, line: usize, msg: impl std::fmt::Display) -> Error {
        Error::Parse(format!("template: {}:{line}: {msg}", self.name))
    }

    fn err(&self, msg: impl std::fmt::Display) -> Error {
        self.err_at(self.peek().line, msg)
    }

    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn expect_right(&mut self, context: &str) -> Result<(), Error> {
        let t = self.next();
        match t.kind {
            Kind::Right => Ok(()),
            k => Err(self.err_at(t.line, format!("unexpected {} in {context}", describe(&k)))),
        }
    }

    /// Parses nodes up to `{{end}}`, `{{else}}` or the end of input.
    fn list(&mut self, top: bool) -> Result<(List, Stop), Error> {
        let mut out = Vec::new();
        loop {
            let t = self.next();
            match t.kind {
                Kind::Eof => return Ok((out, Stop::Eof)),
                Kind::Text(s) => out.push(Node::Text(s)),
                Kind::Comment => {}
                Kind::Left => {
                    if let Some(end) = self.action(&mut out, top, t.line)? {
                        return Ok((out, end));
                    }
                }
                k => return Err(self.err_at(t.line, format!("unexpected {}", describe(&k)))),
            }
        }
    }

    /// Parses one action after `{{`; returns an `End` for `end` and `else`.
    fn action(&mut self, out: &mut List, top: bool, line: usize) -> Result<Option<Stop>, Error> {
        let keyword = match &self.peek().kind {
            Kind::Ident(w) => w.clone(),
            _ => String::new(),
        };
        match keyword.as_str() {
            "end" => {
                self.next();
                self.expect_right("end")?;
                Ok(Some(Stop::End(line)))
            }
            "else" => {
                self.next();
                match &self.peek().kind {
                    Kind::Ident(w) if w == "if" || w == "with" => {
                        // `{{else if x}}` is `{{else}}{{if x}}…{{end}}` with one end.
                        let w = w.clone();
                        self.next();
                        Ok(Some(Stop::Else(line, Some(w))))
                    }
                    _ => {
                        self.expect_right("else")?;
                        Ok(Some(Stop::Else(line, None)))
                    }
                }
            }
            "if" | "with" | "range" => {
                self.next();
                let node = self.control(&keyword, line)?;
                out.push(node);
                Ok(None)
            }
            "define" => {
                self.next();
                if !top {
                    return Err(self.err_at(line, "unexpected <define> in command"));
                }
                let name = self.template_name("define")?;
                self.expect_right("define clause")?;
                let mark = self.vars.len();
                let saved = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
                let (body, end) = self.list(false)?;
                self.vars = saved;
                self.vars.truncate(mark);
                if !matches!(end, Stop::End(_)) {
                    return Err(self.err_at(line, "unexpected EOF"));
                }
                self.defined.insert(name, body);
                Ok(None)
            }
            "template" | "block" => {
                self.next();
                let name = self.template_name(&keyword)?;
                let pipe = if matches!(self.peek().kind, Kind::Right) {
                    None
                } else {
                    Some(self.pipeline(&keyword, false)?)
                };
                self.expect_right(&keyword)?;
                if keyword == "block" {
                    let saved = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
                    let (body, end) = self.list(false)?;
                    self.vars = saved;
                    if !matches!(end, Stop::End(_)) {
                        return Err(self.err_at(line, "unexpected EOF"));
                    }
                    self.defined.insert(name.clone(), body);
                }
                out.push(Node::Template { line, name, pipe });
                Ok(None)
            }
            "break" | "continue" => {
                self.next();
                if self.range_depth == 0 {
                    return Err(
                        self.err_at(line, format!("{{{{{keyword}}}}} outside {{{{range}}}}"))
                    );
                }
                self.expect_right(&keyword)?;
                out.push(if keyword == "break" {
                    Node::Break
                } else {
                    Node::Continue
                });
                Ok(None)
            }
            _ => {
                let pipe = self.pipeline("command", true)?;
                self.expect_right("command")?;
                out.push(Node::Action(pipe));
                Ok(None)
            }
        }
    }

    fn template_name(&mut self, context: &str) -> Result<String, Error> {
        let t = self.next();
        match t.kind {
            Kind::Str(s) => Ok(s),
            k => Err(self.err_at(
                t.line,
                format!("unexpected {} in {context} clause", describe(&k)),
            )),
        }
    }

    /// `if`, `with` and `range`, after the keyword.
    fn control(&mut self, keyword: &str, line: usize) -> Result<Node, Error> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err_at(line, format!("nesting deeper than {MAX_NESTING}")));
        }
        let r = self.control_inner(keyword, line);
        self.depth -= 1;
        r
    }

    fn control_inner(&mut self, keyword: &str, line: usize) -> Result<Node, Error> {
        let mark = self.vars.len();
        let pipe = self.pipeline(keyword, true)?;
        if pipe.cmds.is_empty() {
            return Err(self.err_at(line, format!("missing value for {keyword}")));
        }
        self.expect_right(keyword)?;
        if keyword == "range" {
            self.range_depth += 1;
        }
        let res = self.list(false);
        if keyword == "range" {
            self.range_depth -= 1;
        }
        let (list, end) = res?;
        let otherwise = match end {
            Stop::Eof => return Err(self.err_at(line, "unexpected EOF")),
            Stop::End(_) => None,
            Stop::Else(_, None) => {
                let (body, end) = self.list(false)?;
                match end {
                    Stop::End(_) => Some(body),
                    Stop::Else(l, _) => return Err(self.err_at(l, "expected end; found {{else}}")),
                    Stop::Eof => return Err(self.err_at(line, "unexpected EOF")),
                }
            }
            Stop::Else(l, Some(chained)) => {
                // The chained control consumes the single `{{end}}`.
                let node = self.control(&chained, l)?;
                Some(vec![node])
            }
        };
        self.vars.truncate(mark);
        let branch = Branch {
            pipe,
            list,
            otherwise,
        };
        Ok(match keyword {
            "if" => Node::If(branch),
            "with" => Node::With(branch),
            _ => Node::Range(branch),
        })
    }

    /// A pipeline, with its optional declarations, up to `}}` or `)`.
    fn pipeline(&mut self, context: &str, allow_decl: bool) -> Result<Pipe, Error> {
        let line = self.peek().line;
        let mut vars = Vec::new();
        let mut assign = false;
        if allow_decl {
            // Look ahead for `$x :=`, `$x =` or `$x, $y :=`.
            let start = self.pos;
            loop {
                let t = self.peek().clone();
                let Kind::Variable(v) = t.kind else { break };
                self.next();
                match self.peek().kind {
                    Kind::Declare | Kind::Assign => {
                        assign = self.peek().kind == Kind::Assign;
                        self.next();
                        vars.push(v);
                        break;
                    }
                    Kind::Comma if context == "range" && vars.is_empty() => {
                        self.next();
                        vars.push(v);
                    }
                    _ => {
                        self.pos = start;
                        vars.clear();
                        break;
                    }
                }
            }
            if vars.len() > 2 || (vars.len() == 2 && context != "range") {
                return Err(self.err("too many declarations"));
            }
        }
        if assign {
            for v in &vars {
                if !self.vars.iter().any(|d| d == &format!("${v}")) {
                    return Err(self.err_at(line, format!("undefined variable \"${v}\"")));
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            match self.peek().kind {
                Kind::Right | Kind::RParen => break,
                _ => {}
            }
            cmds.push(self.command()?);
            match self.peek().kind {
                Kind::Pipe => {
                    self.next();
                    if matches!(self.peek().kind, Kind::Right | Kind::RParen) {
                        return Err(self.err("missing command"));
                    }
                }
                Kind::Right | Kind::RParen => break,
                ref k => return Err(self.err(format!("unexpected {} in operand", describe(k)))),
            }
        }
        if cmds.is_empty() && context != "template" && context != "block" {
            return Err(self.err_at(line, format!("missing value for {context}")));
        }
        if !assign {
            for v in &vars {
                self.vars.push(format!("${v}"));
            }
        }
        for (i, c) in cmds.iter().enumerate().skip(1) {
            if let Some(Arg::Const(_) | Arg::Nil) = c.args.first() {
                return Err(self.err_at(
                    line,
                    format!("non executable command in pipeline stage {}", i + 1),
                ));
            }
        }
        Ok(Pipe {
            line,
            vars,
            assign,
            cmds,
        })
    }

    fn command(&mut self) -> Result<Cmd, Error> {
        let mut args = Vec::new();
        loop {
            match self.peek().kind {
                Kind::Right | Kind::RParen | Kind::Pipe => break,
                _ => {}
            }
            if !args.is_empty() && !self.peek().spaced && !matches!(self.peek().kind, Kind::LParen)
            {
                return Err(self.err("missing space?"));
            }
            args.push(self.operand()?);
        }
        if args.is_empty() {
            return Err(self.err("empty command"));
        }
        Ok(Cmd { args })
    }

    fn operand(&mut self) -> Result<Arg, Error> {
        let t = self.next();
        let line = t.line;
        let term = match t.kind {
            Kind::Dot => Arg::Dot,
            Kind::Nil => Arg::Nil,
            Kind::Bool(b) => Arg::Const(Value::Bool(b)),
            Kind::Str(s) => Arg::Const(Value::String(s)),
            Kind::Char(c) => Arg::Const(Value::Int(c as i64)),
            Kind::Number(n) => Arg::Const(
                number(&n)
                    .ok_or_else(|| self.err_at(line, format!("illegal number syntax: {n:?}")))?,
            ),
            Kind::Field(f) => {
                let mut chain = vec![f];
                self.fields(&mut chain);
                return Ok(Arg::Field(chain));
            }
            Kind::Variable(v) => {
                let name = format!("${v}");
                if !self.vars.contains(&name) {
                    return Err(self.err_at(line, format!("undefined variable \"{name}\"")));
                }
                let mut chain = Vec::new();
                self.fields(&mut chain);
                return Ok(Arg::Variable(name, chain));
            }
            Kind::Ident(name) => {
                if !(self.funcs)(&name) {
                    return Err(self.err_at(line, format!("function \"{name}\" not defined")));
                }
                Arg::Func(name)
            }
            Kind::LParen => {
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return Err(self.err_at(line, format!("nesting deeper than {MAX_NESTING}")));
                }
                let pipe = self.pipeline("parenthesized pipeline", false);
                self.depth -= 1;
                let pipe = pipe?;
                let t = self.next();
                if t.kind != Kind::RParen {
                    return Err(self.err_at(t.line, "unclosed left paren"));
                }
                let mut chain = Vec::new();
                self.fields(&mut chain);
                return Ok(Arg::Pipe(Box::new(pipe), chain));
            }
            k => return Err(self.err_at(line, format!("unexpected {} in operand", describe(&k)))),
        };
        // A field on a constant or function result is an error in Go.
        if let Kind::Field(_) = self.peek().kind {
            if !self.peek().spaced {
                return Err(self.err("unexpected . after term"));
            }
        }
        Ok(term)
    }

    /// Appends fields that follow without a space (`.A.B`).
    fn fields(&mut self, chain: &mut Vec<String>) {
        while let Kind::Field(f) = &self.peek().kind {
            if self.peek().spaced {
                break;
            }
            chain.push(f.clone());
            self.next();
        }
    }
}

/// A Go number literal as a constant: an int if it is one, else a float.
fn number(text: &str) -> Option<Value> {
    let t = text.replace('_', "");
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(&t)),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        if h.contains(['.', 'p', 'P']) {
            None
        } else {
            i64::from_str_radix(h, 16).ok()
        }
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
        i64::from_str_radix(&body[1..], 8).ok()
    } else if body.bytes().all(|b| b.is_ascii_digit()) {
        body.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(Value::Int(if neg { -i } else { i }));
    }
    let f: f64 = body.parse().ok()?;
    Some(Value::Float(if neg { -f } else { f }))
}

fn describe(k: &Kind) -> String {
    match k {
        Kind::Text(_) => "text".into(),
        Kind::Left => "\"{{\"".into(),
        Kind::Right => "\"}}\"".into(),
        Kind::Comment => "comment".into(),
        Kind::Ident(s) => format!("<{s}>"),
        Kind::Field(s) => format!("<.{s}>"),
        Kind::Dot => "<.>".into(),
        Kind::Variable(s) => format!("<${s}>"),
        Kind::Str(s) => format!("{s:?}"),
        Kind::Number(s) => s.clone(),
        Kind::Char(c) => format!("{c:?}"),
        Kind::Bool(b) => b.to_string(),
        Kind::Nil => "<nil>".into(),
        Kind::Pipe => "\"|\"".into(),
        Kind::LParen => "\"(\"".into(),
        Kind::RParen => "\")\"".into(),
        Kind::Declare => "\":=\"".into(),
        Kind::Assign => "\"=\"".into(),
        Kind::Comma => "\",\"".into(),
        Kind::Eof => "EOF".into(),
    }
}
