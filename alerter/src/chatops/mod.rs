//! ChatOps: the interactive-notification parts, where a chat calls back
//! into Watchfire (a button pressed under a notification, a slash
//! command typed in a channel) rather than only receiving messages.
//!
//! - [`verify`]: proves that a callback came from the chat (Slack's
//!   HMAC, Discord's Ed25519, Telegram's and Mattermost's shared
//!   tokens) before anything in it is read; pure functions over the raw
//!   request parts, with refusals that name their reason and status.
//! - [`command`]: the slash command's grammar and what each subcommand
//!   does, whichever chat it was typed in.
//! - [`config`]: the ChatOps file (`--chatops.config.file`), apart from
//!   `alertmanager.yml`, read and checked with file, line and reason.
//! - [`discord`]: the Discord message with its components, the
//!   interaction, and the answers that edit the message.
//! - [`graph`]: the alert's graph, asked of the server's renderer, for
//!   email and chat messages.
//! - [`links`]: signed action links for receivers without buttons
//!   (email, Microsoft Teams, webhook), and their confirmation pages.
//! - [`mattermost`]: the Mattermost post with its attachment actions,
//!   their signed contexts, the action request and the answers that edit
//!   the post.
//! - [`serve`]: a verified callback acted on: allowlists, tokens, the
//!   action, the message edited.
//! - [`slack`]: the interactive Slack message, its restatements, the
//!   interaction payload and the Web API calls.
//! - [`telegram`]: the Telegram message with its keyboard, its
//!   restatements, the callback query and the Bot API calls.
//! - [`socket`]: Slack's Socket Mode, interactions and commands over an
//!   outbound WebSocket.
//! - [`state`]: action tokens and the chat messages sent per group, in
//!   `alerter.db`.

pub mod command;
pub mod config;
pub mod discord;
pub mod graph;
pub mod links;
pub mod mattermost;
pub mod serve;
pub mod slack;
pub mod socket;
pub mod state;
pub mod telegram;
pub mod verify;

use crate::ack::{Actor, Answer};
use crate::chatops::config::Receiver;
use crate::chatops::state::Silenced;

/// What a message says about its group beyond the templates: its state
/// and what it offers.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub token: &'a str,
    pub receiver: &'a Receiver,
    pub answer: Option<&'a Answer>,
    pub silenced: Option<&'a Silenced>,
    /// When the group resolved, if it has.
    pub resolved_at: Option<i64>,
    /// The first `runbook_url` annotation of the group's alerts.
    pub runbook: Option<&'a str>,
}

impl<'a> View<'a> {
    /// What a delivery's message shows: its group's answer when decided,
    /// the silence its earlier message names, resolved (at `now`) unless
    /// `firing`, and its runbook.
    pub(crate) fn of(
        d: &'a crate::runtime::Delivery,
        token: &'a str,
        receiver: &'a Receiver,
        prior: Option<&'a crate::chatops::state::Message>,
        firing: bool,
        now: i64,
    ) -> Self {
        View {
            token,
            receiver,
            answer: d.answer.as_ref(),
            silenced: prior.and_then(|m| m.silenced.as_ref()),
            resolved_at: (!firing).then_some(now),
            runbook: crate::send::chat::runbook(d),
        }
    }
}

/// A name as the state lines show it: letters, digits, spaces and
/// `. _ - '`, `@` after a letter or digit; anything else (markup, a link,
/// a mention such as `<!channel>` or `@here`) becomes `_`. Names come
/// from chats, the UI, the API and links, and go into every chat.
pub fn plain(name: &str) -> String {
    let chars: Vec<char> = name.chars().take(100).collect();
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let ok = c.is_alphanumeric()
                || " ._-'".contains(c)
                || (c == '@' && i > 0 && chars[i - 1].is_alphanumeric());
            if ok {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A time as plain text, to the minute, in UTC.
pub fn utc_minutes(ms: i64) -> String {
    chrono::DateTime::from_timestamp(ms.div_euclid(1000), 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// How a chat writes a message's state line: its marks, how it names a
/// user and a time, and the word before a time of an event.
pub struct Style {
    pub resolved: &'static str,
    pub acked: &'static str,
    pub snoozed: &'static str,
    pub silenced: &'static str,
    pub who: fn(&Actor) -> String,
    pub when: fn(i64) -> String,
    /// `"at "` where the chat's time reads as a bare date.
    pub at: &'static str,
}

impl Style {
    /// The emoji marks of chats that show Unicode as it is (Telegram,
    /// Discord).
    pub fn emoji(who: fn(&Actor) -> String, when: fn(i64) -> String, at: &'static str) -> Self {
        Style {
            resolved: "🟢",
            acked: "✅",
            snoozed: "💤",
            silenced: "🔇",
            who,
            when,
            at,
        }
    }
}

/// The state line of a message: resolved, who acknowledged, snoozed or
/// silenced it and when; `None` when there is nothing to say.
///
/// ```
/// assert_eq!(alerter::chatops::plain("<!channel> [x](y) @here ana@ex.org"), "__channel_ _x__y_ _here ana@ex.org");
/// ```
pub fn state_text(v: &View<'_>, st: &Style) -> Option<String> {
    let (who, when, at) = (st.who, st.when, st.at);
    let mut parts = Vec::new();
    if let Some(t) = v.resolved_at {
        parts.push(format!("{} Resolved {at}{}", st.resolved, when(t)));
    }
    if let Some(a) = v.answer {
        if let Some(ack) = &a.ack {
            parts.push(format!(
                "{} Acknowledged by {} {at}{}",
                st.acked,
                who(&ack.by),
                when(ack.at)
            ));
        }
        if let Some(s) = &a.snooze {
            parts.push(format!(
                "{} Snoozed by {} until {}",
                st.snoozed,
                who(&s.by),
                when(s.until)
            ));
        }
    }
    if let Some(s) = v.silenced {
        let until = match v.answer.and_then(|a| a.silence.as_ref()) {
            Some(h) if h.id == s.id => "the group resolves".to_string(),
            _ => when(s.until),
        };
        parts.push(format!(
            "{} Silenced by {} until {until}",
            st.silenced,
            who(&s.by)
        ));
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}
