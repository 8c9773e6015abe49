//! Execution: walks a parsed template over a data value, as Go's
//! `text/template` executes under `missingkey=zero`.

use crate::builtin;
use crate::parse::{Arg, Branch, Cmd, List, Node, Pipe};
use crate::value::Value;
use crate::{Error, Funcs, Template};

/// How deep `{{template}}` calls may nest before execution stops, so a
/// template that includes itself fails instead of overflowing the stack.
const MAX_DEPTH: usize = 100;

pub(crate) struct State<'a> {
    pub set: &'a Template,
    pub funcs: &'a Funcs,
    pub name: String,
    pub vars: Vec<(String, Value)>,
    pub out: String,
    pub depth: usize,
    pub line: usize,
    /// Escape what actions print for HTML text, as `html/template` does
    /// there (values marked safe excepted).
    pub html: bool,
}

enum Flow {
    Normal,
    Break,
    Continue,
}

impl State<'_> {
    pub fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::Exec(format!(
            "template: {}:{}: executing \"{}\": {msg}",
            self.name, self.line, self.name
        ))
    }

    pub fn run(&mut self, list: &List, dot: &Value) -> Result<(), Error> {
        self.walk(list, dot).map(|_| ())
    }

    fn walk(&mut self, list: &List, dot: &Value) -> Result<Flow, Error> {
        for node in list {
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(pipe) => {
                    let v = self.pipeline(dot, pipe)?;
                    // A pipeline that ends in `html` has escaped itself,
                    // as html/template takes it.
                    let escaped =
                        pipe.cmds.last().and_then(|c| c.args.first()).is_some_and(
                            |a| matches!(a, crate::parse::Arg::Func(f) if f == "html"),
                        );
                    if pipe.vars.is_empty() {
                        match (&v, self.html && !escaped) {
                            (_, false) => self.out.push_str(&v.to_string()),
                            (Value::Object(o), true) if o.safe_html().is_some() => {
                                self.out.push_str(o.safe_html().unwrap_or_default())
                            }
                            (_, true) => self.out.push_str(&builtin::html_escape(&v.to_string())),
                        }
                    }
                }
                Node::If(b) => {
                    let flow = self.branch(b, dot, false)?;
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::With(b) => {
                    let flow = self.branch(b, dot, true)?;
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(b) => self.range(b, dot)?,
                Node::Template { line, name, pipe } => {
                    self.line = *line;
                    let Some(body) = self.set.defined.get(name) else {
                        return Err(self.err(format!("no such template \"{name}\"")));
                    };
                    if self.depth >= MAX_DEPTH {
                        return Err(
                            self.err(format!("exceeded maximum template depth ({MAX_DEPTH})"))
                        );
                    }
                    let data = match pipe {
                        Some(p) => {
                            let mark = self.vars.len();
                            let v = self.pipeline(dot, p)?;
                            self.vars.truncate(mark);
                            v
                        }
                        None => Value::Nil,
                    };
                    let body = body.clone();
                    let vars = std::mem::replace(&mut self.vars, vec![("$".into(), data.clone())]);
                    let saved_name = std::mem::replace(&mut self.name, name.clone());
                    self.depth += 1;
                    let r = self.walk(&body, &data);
                    self.depth -= 1;
                    self.name = saved_name;
                    self.vars = vars;
                    r?;
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn branch(&mut self, b: &Branch, dot: &Value, with: bool) -> Result<Flow, Error> {
        let mark = self.vars.len();
        let v = self.pipeline(dot, &b.pipe)?;
        let flow = if v.is_true() {
            let d = if with { v } else { dot.clone() };
            self.walk(&b.list, &d)?
        } else if let Some(o) = &b.otherwise {
            self.walk(o, dot)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn range(&mut self, b: &Branch, dot: &Value) -> Result<(), Error> {
        let mark = self.vars.len();
        let v = self.pipeline(dot, &b.pipe)?;
        // (key, element) pairs; an integer is counted without building a
        // list, however large it is.
        let items: Box<dyn Iterator<Item = (Value, Value)>> = match v.resolved() {
            Value::List(l) => {
                Box::new((0..l.len()).map(move |i| (Value::Int(i as i64), l[i].clone())))
            }
            Value::Map(m) => Box::new(
                m.entries
                    .iter()
                    .map(|(k, v)| (Value::String(k.clone()), v.clone()))
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            Value::Int(n) => Box::new((0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i)))),
            Value::Nil => Box::new(std::iter::empty()),
            other => {
                return Err(self.err(format!("range can't iterate over {other}")));
            }
        };
        let mut items = items.peekable();
        if items.peek().is_none() {
            if let Some(o) = &b.otherwise {
                self.walk(o, dot)?;
            }
            self.vars.truncate(mark);
            return Ok(());
        }
        let nvars = b.pipe.vars.len();
        for (key, elem) in items {
            // The declared variables are the top of the stack: the element
            // last, the key before it.
            let top = self.vars.len();
            if nvars >= 1 && top >= 1 {
                self.vars[top - 1].1 = elem.clone();
            }
            if nvars == 2 && top >= 2 {
                self.vars[top - 2].1 = key;
            }
            let inner = self.vars.len();
            let flow = self.walk(&b.list, &elem)?;
            self.vars.truncate(inner);
            if let Flow::Break = flow {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(())
    }

    fn pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value, Error> {
        self.line = pipe.line;
        let mut v: Option<Value> = None;
        for cmd in &pipe.cmds {
            v = Some(self.command(dot, cmd, v)?);
        }
        let v = v.unwrap_or(Value::Nil);
        for name in &pipe.vars {
            let name = format!("${name}");
            if pipe.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
                    slot.1 = v.clone();
                }
            } else {
                self.vars.push((name, v.clone()));
            }
        }
        Ok(v)
    }

    fn var(&self, name: &str) -> Result<Value, Error> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.err(format!("undefined variable: {name}")))
    }

    fn command(&mut self, dot: &Value, cmd: &Cmd, last: Option<Value>) -> Result<Value, Error> {
        let rest = &cmd.args[1..];
        match &cmd.args[0] {
            Arg::Field(chain) => self.chain(dot, dot.clone(), chain, rest, last),
            Arg::Variable(name, chain) => {
                let v = self.var(name)?;
                if chain.is_empty() {
                    self.no_args(name, rest, &last)?;
                    return Ok(v);
                }
                self.chain(dot, v, chain, rest, last)
            }
            Arg::Pipe(p, chain) => {
                let mark = self.vars.len();
                let v = self.pipeline(dot, p)?;
                self.vars.truncate(mark);
                if chain.is_empty() {
                    self.no_args("parenthesized pipeline", rest, &last)?;
                    return Ok(v);
                }
                self.chain(dot, v, chain, rest, last)
            }
            Arg::Func(name) => self.call(dot, name, rest, last),
            Arg::Dot => {
                self.no_args(".", rest, &last)?;
                Ok(dot.clone())
            }
            Arg::Nil => Err(self.err("nil is not a command")),
            Arg::Const(v) => {
                self.no_args(&v.to_string(), rest, &last)?;
                Ok(v.clone())
            }
        }
    }

    fn no_args(&self, what: &str, rest: &[Arg], last: &Option<Value>) -> Result<(), Error> {
        if !rest.is_empty() || last.is_some() {
            return Err(self.err(format!("can't give argument to non-function {what}")));
        }
        Ok(())
    }

    fn args(
        &mut self,
        dot: &Value,
        args: &[Arg],
        last: Option<Value>,
    ) -> Result<Vec<Value>, Error> {
        let mut out = Vec::with_capacity(args.len() + 1);
        for a in args {
            out.push(self.arg(dot, a)?);
        }
        out.extend(last);
        Ok(out)
    }

    pub fn arg(&mut self, dot: &Value, a: &Arg) -> Result<Value, Error> {
        match a {
            Arg::Dot => Ok(dot.clone()),
            Arg::Nil => Ok(Value::Nil),
            Arg::Const(v) => Ok(v.clone()),
            Arg::Field(chain) => self.chain(dot, dot.clone(), chain, &[], None),
            Arg::Variable(name, chain) => {
                let v = self.var(name)?;
                self.chain(dot, v, chain, &[], None)
            }
            Arg::Func(name) => self.call(dot, name, &[], None),
            Arg::Pipe(p, chain) => {
                let mark = self.vars.len();
                let v = self.pipeline(dot, p)?;
                self.vars.truncate(mark);
                self.chain(dot, v, chain, &[], None)
            }
        }
    }

    /// Evaluates `.A.B.C` on `recv`; the last field gets the arguments.
    fn chain(
        &mut self,
        dot: &Value,
        mut recv: Value,
        chain: &[String],
        rest: &[Arg],
        last: Option<Value>,
    ) -> Result<Value, Error> {
        let Some((final_name, path)) = chain.split_last() else {
            return Ok(recv);
        };
        for name in path {
            recv = self.field(recv, name, Vec::new(), false)?;
        }
        let has_args = !rest.is_empty() || last.is_some();
        let args = self.args(dot, rest, last)?;
        self.field(recv, final_name, args, has_args)
    }

    fn field(
        &self,
        recv: Value,
        name: &str,
        args: Vec<Value>,
        has_args: bool,
    ) -> Result<Value, Error> {
        if let Value::Object(o) = &recv {
            if let Some(r) = o.field(name, &args) {
                return r.map_err(|e| self.err(format!("error calling {name}: {e}")));
            }
            if let Some(base) = o.base() {
                return self.field(base, name, args, has_args);
            }
            return Err(self.err(format!(
                "can't evaluate field {name} in type {}",
                o.type_name()
            )));
        }
        match recv {
            Value::Map(m) => {
                if has_args {
                    return Err(self.err(format!("{name} is not a method but has arguments")));
                }
                Ok(m.lookup(name))
            }
            Value::Nil => Err(self.err(format!("nil pointer evaluating interface {{}}.{name}"))),
            other => Err(self.err(format!(
                "can't evaluate field {name} in type {}",
                other.type_name()
            ))),
        }
    }

    fn call(
        &mut self,
        dot: &Value,
        name: &str,
        rest: &[Arg],
        last: Option<Value>,
    ) -> Result<Value, Error> {
        if let Some(f) = self.funcs.get(name) {
            let args = self.args(dot, rest, last)?;
            return f(&args).map_err(|e| self.err(format!("error calling {name}: {e}")));
        }
        match name {
            // `and` and `or` stop at the first argument that decides.
            "and" | "or" => {
                if rest.is_empty() && last.is_none() {
                    return Err(self.err(format!(
                        "wrong number of args for {name}: want at least 1 got 0"
                    )));
                }
                let mut v = Value::Nil;
                let n = rest.len() + usize::from(last.is_some());
                for i in 0..n {
                    v = match rest.get(i) {
                        Some(a) => self.arg(dot, a)?,
                        None => last.clone().unwrap_or(Value::Nil),
                    };
                    if v.is_true() != (name == "and") {
                        break;
                    }
                }
                Ok(v)
            }
            _ => {
                let args = self.args(dot, rest, last)?;
                builtin::call(name, &args)
                    .map_err(|e| self.err(format!("error calling {name}: {e}")))
            }
        }
    }
}
