//! The slash command (`/watchfire` in Slack and Mattermost): its
//! grammar, and what each subcommand does, whichever chat it was typed
//! in. The chats' endpoints (in [`super::serve`]) verify the request and
//! turn the [`Said`] into the chat's answer.
//!
//! ```text
//! /watchfire                      the subcommands
//! /watchfire alerts [matchers]    the firing alert groups, with their answers
//! /watchfire ack <matchers>       acknowledge the groups whose alerts match
//! /watchfire unack <matchers>     take those acknowledgements back
//! /watchfire silence <matchers> <duration> [comment]
//! /watchfire unsilence <id>       expire a silence
//! /watchfire query <expr>         the expression's value now, and its graph
//! ```
//!
//! Matchers are written as amtool takes them, one or more, space
//! separated: `alertname=Down service=~"api|web"`, or in braces. Quotes a
//! chat made curly are read as straight ones.

use std::time::Duration;

use super::utc_minutes as when;
use crate::ack::Actor;
use crate::chatops::config::Chatops;
use crate::chatops::state::Token;
use crate::chatops::verify::Chat;
use crate::matcher::Matcher;
use crate::service::Service;
use crate::silence::Silence;

/// At most this many groups or series in an answer.
const LIST_MAX: usize = 20;

/// A subcommand, parsed.
#[derive(Debug, Clone)]
pub enum Command {
    Help,
    Alerts(Vec<Matcher>),
    Ack(Vec<Matcher>),
    Unack(Vec<Matcher>),
    Silence {
        matchers: Vec<Matcher>,
        duration: Duration,
        comment: Option<String>,
    },
    Unsilence(String),
    Query(String),
}

impl Command {
    /// Its name, as the actions metric labels it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Help => "help",
            Command::Alerts(_) => "alerts",
            Command::Ack(_) => "ack",
            Command::Unack(_) => "unack",
            Command::Silence { .. } => "silence",
            Command::Unsilence(_) => "unsilence",
            Command::Query(_) => "query",
        }
    }
}

/// What the command answers, for the chat to word.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Said {
    /// Markdown: `*bold*` and `` `code` `` read the same in Slack's
    /// mrkdwn and in Mattermost.
    pub text: String,
    /// An image to show under it (a graph's URL).
    pub image: Option<String>,
    /// Shown to the channel, not only to the user: what changed state.
    pub in_channel: bool,
}

impl Said {
    pub fn only_you(text: impl Into<String>) -> Self {
        Said {
            text: text.into(),
            ..Said::default()
        }
    }

    pub fn channel(text: impl Into<String>) -> Self {
        Said {
            text: text.into(),
            in_channel: true,
            ..Said::default()
        }
    }
}

/// The help text, naming the command as configured.
pub fn help(command: &str) -> String {
    format!(
        "Watchfire's slash command:\n\
         `{command} alerts [matchers]`: the firing alert groups\n\
         `{command} ack <matchers>`: acknowledge the groups whose alerts match\n\
         `{command} unack <matchers>`: take those acknowledgements back\n\
         `{command} silence <matchers> <duration> [comment]`: silence alerts, e.g. `{command} silence alertname=Down 2h deploying`\n\
         `{command} unsilence <id>`: expire a silence\n\
         `{command} query <expr>`: an expression's value now, and its graph\n\
         Matchers as amtool takes them: `alertname=Down service=~\"api|web\"`."
    )
}

/// Splits on white space, keeping what is inside double quotes together
/// (quotes kept), after making curly quotes straight.
fn words(text: &str) -> Result<Vec<String>, String> {
    let text: String = text
        .chars()
        .map(|c| match c {
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{2033}' => '"',
            '\u{2018}' | '\u{2019}' => '\'',
            c => c,
        })
        .collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                cur.push(c);
                quoted = !quoted;
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("a quote is not closed".into());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Whether a word is a matcher (or several, in braces).
fn is_matcher(w: &str) -> bool {
    w.starts_with('{') || w.contains('=') || w.contains("!~")
}

fn matchers(ws: &[String]) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::new();
    for w in ws {
        out.extend(crate::matcher::parse(w).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// Parses what follows the command's name. The error says what is wrong,
/// in a sentence for the user.
pub fn parse(text: &str) -> Result<Command, String> {
    let text = text.trim();
    let (sub, rest) = match text.split_once(char::is_whitespace) {
        Some((s, r)) => (s, r.trim()),
        None => (text, ""),
    };
    match sub.to_ascii_lowercase().as_str() {
        "" | "help" => Ok(Command::Help),
        "alerts" => Ok(Command::Alerts(matchers(&words(rest)?)?)),
        "ack" | "unack" => {
            let ms = matchers(&words(rest)?)?;
            if ms.is_empty() {
                return Err(format!(
                    "`{sub}` needs matchers, such as `{sub} alertname=Down`"
                ));
            }
            Ok(if sub.eq_ignore_ascii_case("ack") {
                Command::Ack(ms)
            } else {
                Command::Unack(ms)
            })
        }
        "silence" => {
            let ws = words(rest)?;
            let n = ws.iter().take_while(|w| is_matcher(w)).count();
            if n == 0 {
                return Err(
                    "`silence` needs matchers, a duration and maybe a comment, such as `silence alertname=Down 2h deploying`".into(),
                );
            }
            let ms = matchers(&ws[..n])?;
            let Some(d) = ws.get(n) else {
                return Err("`silence` needs a duration after the matchers, such as `2h`".into());
            };
            let duration = model::time::parse_duration(d)
                .map_err(|e| format!("{d:?} is not a duration: {e}"))?;
            if duration.is_zero() {
                return Err("the silence's duration must be above zero".into());
            }
            let comment = ws[n + 1..].join(" ");
            Ok(Command::Silence {
                matchers: ms,
                duration,
                comment: (!comment.is_empty()).then_some(comment),
            })
        }
        "unsilence" => match words(rest)?.as_slice() {
            [id] => Ok(Command::Unsilence(id.trim_matches('"').to_string())),
            _ => Err("`unsilence` takes one silence id".into()),
        },
        "query" => {
            if rest.is_empty() {
                return Err("`query` needs an expression, such as `query up == 0`".into());
            }
            Ok(Command::Query(rest.to_string()))
        }
        other => Err(format!(
            "{other:?} is not a subcommand; say `help` to see them"
        )),
    }
}

/// A slash command's request, as Slack and Mattermost both send it: a
/// form with `command`, `text`, `user_id`, `user_name`, `team_id` and
/// `trigger_id` (Mattermost may send the same fields as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Typed {
    pub command: String,
    pub text: String,
    pub user_id: String,
    pub user_name: String,
    pub team_id: Option<String>,
    pub trigger_id: Option<String>,
}

/// Reads a slash command's body; the error says what is wrong, for a 400.
pub fn parse_request(body: &[u8]) -> Result<Typed, String> {
    let fields: std::collections::HashMap<String, String> = if body.first() == Some(&b'{') {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("the request is not JSON: {e}"))?;
        v.as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect()
    } else {
        std::str::from_utf8(body).map_err(|_| "the form is not UTF-8")?;
        url::form_urlencoded::parse(body).into_owned().collect()
    };
    let get = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
    let user_id = get("user_id").ok_or("the request has no user_id")?;
    let command = get("command").ok_or("the request has no command")?;
    Ok(Typed {
        user_name: get("user_name").unwrap_or_else(|| user_id.clone()),
        user_id,
        command,
        text: get("text").unwrap_or_default(),
        team_id: get("team_id"),
        trigger_id: get("trigger_id"),
    })
}

/// Who typed the command, as the chat says.
#[derive(Debug, Clone, Copy)]
pub struct Typist<'a> {
    pub chat: Chat,
    pub user_id: &'a str,
    pub user_name: &'a str,
    pub team_id: Option<&'a str>,
}

fn labels_text(ls: &std::collections::BTreeMap<String, String>) -> String {
    let inner: Vec<String> = ls.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    code(&format!("{{{}}}", inner.join(", ")))
}

/// Text for inside a code span: a backtick in it would end the span and
/// let the rest be read as markup, so it becomes a quote.
fn code(s: &str) -> String {
    s.replace('`', "'")
}

/// How long `query` may take: Slack waits 3 s for the answer.
const QUERY_WAIT: Duration = Duration::from_millis(2_500);

impl Service {
    /// Carries out a slash command typed by `who` (whose request
    /// verified) as `name` (the command as configured): `text` is what
    /// followed the name. Every use but `help` needs the ChatOps file's
    /// `commands.allow` to name the user; `ack` and `unack` also need each
    /// group's receiver to allow them, as its buttons do.
    pub async fn command(&self, c: &Chatops, who: Typist<'_>, name: &str, text: &str) -> Said {
        let chat = who.chat.name();
        let cmd = match parse(text) {
            Ok(Command::Help) => return Said::only_you(help(name)),
            Ok(cmd) => cmd,
            Err(e) => {
                return Said::only_you(format!("{e}. Say `{name} help` to see what it takes."))
            }
        };
        let Some(allow) = &c.commands else {
            self.count_refused(chat, "not_allowed");
            return Said::only_you(format!(
                "{name} is off: Watchfire's ChatOps file says nobody may use it (it has no `commands.allow`)."
            ));
        };
        if !allow.permits(chat, who.user_id, who.team_id) {
            self.count_refused(chat, "not_allowed");
            return Said::only_you(format!(
                "Sorry, only the people on Watchfire's list may use {name}, and you are not on it. Nothing was changed."
            ));
        }
        let by = Actor {
            user: who.user_name.to_string(),
            via: chat.to_string(),
            id: who.user_id.to_string(),
        };
        let label = cmd.name();
        let said = match cmd {
            Command::Help => unreachable!("answered above"),
            Command::Alerts(ms) => Ok(self.list_groups(&ms)),
            Command::Ack(ms) => self.answer_groups(c, who, &ms, by, true).await,
            Command::Unack(ms) => self.answer_groups(c, who, &ms, by, false).await,
            Command::Silence {
                matchers,
                duration,
                comment,
            } => {
                let now = self.now();
                let list = code(&crate::matcher::list_string(&matchers));
                let sil = Silence {
                    id: String::new(),
                    matchers,
                    starts_at: now,
                    ends_at: now.saturating_add(duration.as_millis() as i64),
                    updated_at: now,
                    created_by: by.user.clone(),
                    comment: comment.unwrap_or_else(|| {
                        format!(
                            "Silenced from {} by {} with {name}",
                            who.chat.title(),
                            by.user
                        )
                    }),
                };
                self.set_silence(sil).await.map(|id| {
                    Said::channel(format!(
                        "{} silenced `{list}` for {}: silence `{id}`.",
                        super::plain(&by.user),
                        model::time::format_duration(duration)
                    ))
                })
            }
            Command::Unsilence(id) => self.expire_silence(&id).await.map(|()| {
                Said::channel(format!(
                    "{} expired silence `{id}`.",
                    super::plain(&by.user)
                ))
            }),
            Command::Query(expr) => Ok(self.query_said(&expr).await),
        };
        match said {
            Ok(s) => {
                if !matches!(label, "ack" | "unack") {
                    self.count_action(chat, label, "done");
                }
                s
            }
            Err(e) => {
                self.count_action(chat, label, "refused");
                Said::only_you(format!("That did not work: {e}"))
            }
        }
    }

    /// The groups with an alert firing (and, with matchers, one of those
    /// matching), with their answers.
    fn list_groups(&self, ms: &[Matcher]) -> Said {
        let now = self.now();
        let mut lines = Vec::new();
        let mut total = 0;
        self.with(|a| {
            for g in a.groups() {
                let firing: Vec<_> = g
                    .alerts
                    .iter()
                    .filter(|x| !x.is_resolved(now))
                    .filter(|x| ms.iter().all(|m| m.matches(&x.labels)))
                    .collect();
                if firing.is_empty() {
                    continue;
                }
                total += 1;
                if lines.len() == LIST_MAX {
                    continue;
                }
                let since = firing.iter().map(|x| x.starts_at).min().unwrap_or(now);
                let mut line = format!(
                    "• `{}` → {}: {} firing since {}",
                    labels_text(&g.labels),
                    g.receiver,
                    firing.len(),
                    when(since)
                );
                if let Some(ans) = a.acks.get(&g.key, &g.receiver) {
                    if let Some(ack) = &ans.ack {
                        line.push_str(&format!(", acknowledged by {}", super::plain(&ack.by.user)));
                    }
                    if let Some(s) = &ans.snooze {
                        line.push_str(&format!(
                            ", snoozed by {} until {}",
                            super::plain(&s.by.user),
                            when(s.until)
                        ));
                    }
                }
                lines.push(line);
            }
        });
        if total == 0 {
            return Said::only_you("No alert is firing.");
        }
        let mut text = format!(
            "{total} alert group{} firing:\n{}",
            if total == 1 { "" } else { "s" },
            lines.join("\n")
        );
        if total > lines.len() {
            text.push_str(&format!("\n…and {} more.", total - lines.len()));
        }
        Said::only_you(text)
    }

    /// Acknowledges (or, with `ack` false, unacknowledges) every group
    /// with a firing alert that matches, for which `who` may answer.
    async fn answer_groups(
        &self,
        c: &Chatops,
        who: Typist<'_>,
        ms: &[Matcher],
        by: Actor,
        ack: bool,
    ) -> Result<Said, crate::Error> {
        let now = self.now();
        let groups: Vec<(String, String, String)> = self.with(|a| {
            a.groups()
                .into_iter()
                .filter(|g| {
                    g.alerts
                        .iter()
                        .any(|x| !x.is_resolved(now) && ms.iter().all(|m| m.matches(&x.labels)))
                })
                .map(|g| (g.key, g.receiver, labels_text(&g.labels)))
                .collect()
        });
        if groups.is_empty() {
            return Ok(Said::only_you(format!(
                "No firing alert matches `{}`.",
                crate::matcher::list_string(ms)
            )));
        }
        let chat = who.chat.name();
        let (mut done, mut already, mut not_yours) = (Vec::new(), 0, Vec::new());
        let mut failed = Vec::new();
        for (key, receiver, labels) in groups {
            let permitted = c
                .receiver(&receiver)
                .is_some_and(|rc| rc.allow.permits(chat, who.user_id, who.team_id));
            if !permitted {
                not_yours.push(receiver);
                continue;
            }
            let changed = if ack {
                self.ack(&key, &receiver, by.clone()).await
            } else {
                self.unack(&key, &receiver, by.clone()).await
            };
            match changed {
                Ok(true) => done.push(format!("`{labels}` → {receiver}")),
                Ok(false) => already += 1,
                // One group failing (it resolved meanwhile) does not stop
                // the others; the answer says which.
                Err(e) => failed.push(format!("`{labels}` → {receiver}: {e}")),
            }
        }
        if !not_yours.is_empty() {
            not_yours.sort();
            not_yours.dedup();
            self.count_refused(chat, "not_allowed");
        }
        let verb = if ack {
            "acknowledged"
        } else {
            "took back the acknowledgement of"
        };
        let mut text = if done.is_empty() {
            String::new()
        } else {
            format!(
                "{} {verb}:\n• {}",
                super::plain(&by.user),
                done.join("\n• ")
            )
        };
        let mut note = |s: String| {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&s);
        };
        if already > 0 {
            let state = if ack {
                "already acknowledged"
            } else {
                "not acknowledged"
            };
            note(format!(
                "{already} matching group{} {state}.",
                if already == 1 { " was" } else { "s were" }
            ));
        }
        if !not_yours.is_empty() {
            note(format!(
                "Not yours to answer (their receivers do not list you): {}.",
                not_yours.join(", ")
            ));
        }
        if !failed.is_empty() {
            note(format!("Not done:\n• {}", failed.join("\n• ")));
        }
        Ok(Said {
            in_channel: !done.is_empty(),
            text,
            image: None,
        })
    }

    /// An expression's value now and the URL of its graph over the last
    /// three hours.
    async fn query_said(&self, expr: &str) -> Said {
        let grapher = self.grapher.lock().clone();
        let Some(g) = grapher else {
            return Said::only_you("This server answers no queries.");
        };
        let now = self.now();
        let shown = code(expr);
        let values =
            match tokio::time::timeout(QUERY_WAIT, g.values(expr.to_string(), now, LIST_MAX)).await
            {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => return Said::only_you(format!("`{shown}`: {}", code(&e))),
                Err(_) => {
                    return Said::only_you(format!(
                        "`{shown}` takes longer than the chat waits for an answer; run it in Watchfire's UI."
                    ))
                }
            };
        let mut text = format!("`{shown}`");
        if values.total == 0 {
            text.push_str(": no series now.");
        } else {
            text.push_str(":\n```\n");
            text.push_str(&code(&values.lines.join("\n")));
            text.push_str("\n```");
            if values.total > values.lines.len() {
                text.push_str(&format!(
                    "\n…and {} more series.",
                    values.total - values.lines.len()
                ));
            }
        }
        let ttl = self
            .chatops()
            .map_or(86_400_000, |c| c.token_ttl.as_millis() as i64);
        let token = Token {
            group_key: String::new(),
            receiver: String::new(),
            index: 0,
            actions: vec!["graph".into()],
            group_labels: Default::default(),
            expr: expr.to_string(),
            created: now,
            expires: now.saturating_add(ttl),
        };
        let image = match self.new_token(token).await {
            Ok(id) => Some(self.graph_url(&id)),
            Err(e) => {
                tracing::warn!(error = %e, "no graph token for a query");
                None
            }
        };
        Said {
            text,
            image,
            in_channel: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(got: Command, want: Command) {
        assert_eq!(format!("{got:?}"), format!("{want:?}"));
    }

    fn m(s: &str) -> Vec<Matcher> {
        crate::matcher::parse(s).unwrap()
    }

    #[test]
    fn subcommands_parse() {
        same(parse("").unwrap(), Command::Help);
        same(parse(" help ").unwrap(), Command::Help);
        same(parse("alerts").unwrap(), Command::Alerts(vec![]));
        same(
            parse("ack alertname=Down service=~\"api|web\"").unwrap(),
            Command::Ack(m("alertname=Down, service=~\"api|web\"")),
        );
        same(
            parse("unack {alertname=\"Down\"}").unwrap(),
            Command::Unack(m("alertname=\"Down\"")),
        );
        same(
            parse("silence alertname=Down instance=“a b” 2h deploying the fix").unwrap(),
            Command::Silence {
                matchers: m("alertname=Down, instance=\"a b\""),
                duration: Duration::from_secs(7200),
                comment: Some("deploying the fix".into()),
            },
        );
        same(
            parse("silence alertname=Down 30m").unwrap(),
            Command::Silence {
                matchers: m("alertname=Down"),
                duration: Duration::from_secs(1800),
                comment: None,
            },
        );
        same(
            parse("unsilence 0f1e").unwrap(),
            Command::Unsilence("0f1e".into()),
        );
        same(
            parse("query rate(x[5m]) > 1").unwrap(),
            Command::Query("rate(x[5m]) > 1".into()),
        );
    }

    #[test]
    fn requests_are_read_as_forms_or_json() {
        let form = b"token=x&team_id=T1&team_domain=eng&channel_id=C1&user_id=U1&user_name=ana&command=%2Fwatchfire&text=ack+alertname%3DDown&response_url=https%3A%2F%2Fhooks&trigger_id=tr1";
        let t = parse_request(form).unwrap();
        assert_eq!(
            t,
            Typed {
                command: "/watchfire".into(),
                text: "ack alertname=Down".into(),
                user_id: "U1".into(),
                user_name: "ana".into(),
                team_id: Some("T1".into()),
                trigger_id: Some("tr1".into()),
            }
        );
        let json = br#"{"user_id": "U1", "command": "/wf", "text": ""}"#;
        assert_eq!(parse_request(json).unwrap().user_name, "U1");
        assert!(parse_request(b"command=%2Fwf").is_err());
        assert!(parse_request(b"{").is_err());
        assert!(parse_request(b"\xff\xfe").is_err());
    }

    #[test]
    fn mistakes_say_what_is_wrong() {
        for (text, want) in [
            ("ack", "`ack` needs matchers"),
            ("silence 2h", "`silence` needs matchers"),
            ("silence alertname=Down", "needs a duration"),
            ("silence alertname=Down soon", "\"soon\" is not a duration"),
            ("silence alertname=Down 0s", "above zero"),
            ("unsilence", "one silence id"),
            ("query", "needs an expression"),
            ("page ana", "\"page\" is not a subcommand"),
            ("ack alertname=\"Down", "quote is not closed"),
            ("ack alertname=~\"(\"", "alertname"),
        ] {
            let got = parse(text).unwrap_err();
            assert!(got.contains(want), "{text}: {got}");
        }
    }
}
