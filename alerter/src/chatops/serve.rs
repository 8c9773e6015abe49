//! The alerter's side of a chat callback: who may act, what a press does,
//! and the message edited to show it. The server hands over the raw
//! request; nothing in it is read before its signature verifies.
//!
//! Answers to a request that verifies are given in chat, politely, with
//! 200 (the chats show anything else as a failure of the app): an unknown
//! or expired button, someone not on the receiver's allowlist, an action
//! the message did not offer. Requests that do not verify get the status
//! the chat's documentation expects (see [`super::verify`]). Every refusal
//! is counted in `watchfire_chatops_requests_refused_total` and changes
//! nothing.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;

use crate::ack::Actor;
use crate::chatops::command;
use crate::chatops::config::{Chatops, Receiver};
use crate::chatops::discord;
use crate::chatops::graph;
use crate::chatops::mattermost;
use crate::chatops::slack::{self, Interaction};
use crate::chatops::state::{Silenced, Token, TokenRefusal};
use crate::chatops::telegram;
use crate::chatops::verify::{self, Chat};
use crate::chatops::View;
use crate::matcher::Matcher;
use crate::runtime::{Delivery, Integration};
use crate::service::Service;
use crate::silence::Silence;
use crate::Error;

/// What a press asks, whichever chat it came from.
#[derive(Clone, Copy)]
struct Asked<'a> {
    token: &'a str,
    user_id: &'a str,
    user_name: &'a str,
    /// The workspace, team or chat it came from, for `allow.teams`.
    team_id: Option<&'a str>,
    action: &'a str,
    value: Option<&'a str>,
}

/// What came of a press.
pub(crate) enum Outcome {
    /// Refused (and counted): what to tell the presser.
    Refused(String),
    /// Allowed, but it failed: what to tell the presser.
    Failed(String),
    /// The graph to show the presser, if the group has an expression.
    Graph(Option<String>),
    /// Done: the message is to be edited.
    Done(Box<Token>, Box<Receiver>),
}

/// What a presser hears when the group has nothing to draw.
const NO_GRAPH: &str = "This group's alerts carry no expression to draw.";

/// How long a silence "until resolved" lasts at most, should the group
/// never resolve.
pub const UNTIL_RESOLVED_MAX: Duration = Duration::from_secs(30 * 86_400);

/// The largest callback body taken, as Slack's own payloads stay well
/// under it.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What to answer a chat's request with.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    /// JSON to answer with; `Null` for an empty body.
    pub body: Json,
}

impl Reply {
    fn status(status: u16) -> Self {
        Reply {
            status,
            body: Json::Null,
        }
    }

    fn ok() -> Self {
        Reply::status(200)
    }
}

/// Whether a delivery's integration carries signed links: one without
/// buttons, of a receiver with `links: true`.
fn linked(c: &Chatops, d: &Delivery) -> bool {
    c.receiver(&d.receiver).is_some_and(|r| r.links)
        && matches!(
            d.integration,
            Integration::Email(_) | Integration::Msteams(_) | Integration::Webhook(_)
        )
}

/// Whether a delivery's integration is a chat whose ChatOps section is
/// configured, so its messages carry actions.
fn interactive(c: &Chatops, d: &Delivery) -> bool {
    c.receiver(&d.receiver).is_some()
        && match d.integration {
            Integration::Slack(_) => c.slack.is_some(),
            Integration::Telegram(_) => c.telegram.is_some(),
            Integration::Discord(_) => c.discord.is_some(),
            Integration::Mattermost(_) => c.mattermost.is_some(),
            _ => false,
        }
}

/// The labels a silence made from a message matches: the group's, or,
/// for a group without grouping labels, those its alerts share.
fn silence_labels(d: &Delivery) -> std::collections::BTreeMap<String, String> {
    if !d.group_labels.is_empty() {
        return d.group_labels.clone();
    }
    let mut common = d
        .alerts
        .first()
        .map(|a| a.labels.clone())
        .unwrap_or_default();
    for a in &d.alerts[1.min(d.alerts.len())..] {
        common.retain(|k, v| a.labels.get(k) == Some(v));
    }
    common
}

impl Service {
    /// The ChatOps file in force.
    pub fn chatops(&self) -> Option<Arc<Chatops>> {
        self.chatops.lock().clone()
    }

    /// Gives an interactive delivery its action token, on disk before the
    /// message goes; a message that already has one keeps it while it has
    /// half its life left, so a group's buttons stay the same. With
    /// images, the delivery also gets its graph's URL, under a token that
    /// allows only the graph.
    pub(crate) async fn give_token(&self, d: &mut Delivery) -> Result<(), Error> {
        let Some(c) = self.chatops() else {
            return Ok(());
        };
        let links = linked(&c, d);
        if !interactive(&c, d) && !links {
            return Ok(());
        }
        let Some(rc) = c.receiver(&d.receiver) else {
            return Ok(());
        };
        let now = self.now();
        let ttl = c.token_ttl.as_millis() as i64;
        let base = Token {
            group_key: d.group_key.clone(),
            receiver: d.receiver.clone(),
            index: d.index,
            actions: rc.actions.iter().cloned().collect(),
            group_labels: silence_labels(d),
            expr: graph::expr_of_alerts(&d.alerts).unwrap_or_default(),
            created: now,
            expires: now.saturating_add(ttl),
        };
        let reuse = d
            .message
            .as_ref()
            .map(|m| m.token.clone())
            .filter(|t| !t.is_empty() && self.with(|a| a.chat.token(t, now + ttl / 2).is_ok()));
        d.token = Some(match reuse {
            Some(t) => t,
            None => self.new_token(base.clone()).await?,
        });
        if links {
            if let Some(token) = &d.token {
                let firing = d.alerts.iter().any(|a| !a.is_resolved(now));
                let view = View::of(d, token, rc, None, firing, now);
                let key = self.state.lock().chat.links_key().to_vec();
                d.links = super::links::make(self.external_url(), &key, &view);
            }
        }
        if rc.images && !base.expr.is_empty() && !links {
            let id = self
                .new_token(Token {
                    actions: vec!["graph".into()],
                    ..base
                })
                .await?;
            d.graph_url = Some(self.graph_url(&id));
        }
        Ok(())
    }

    /// Makes a token; answers once it is on disk.
    pub(crate) async fn new_token(&self, t: Token) -> Result<String, Error> {
        let (id, written) = self.state.lock().chat.put_token(t)?;
        written.wait().await?;
        Ok(id)
    }

    /// Where a graph token's image is served.
    pub(crate) fn graph_url(&self, id: &str) -> String {
        format!(
            "{}/api/v1/chatops/graph/{id}.png",
            self.external_url().trim_end_matches('/')
        )
    }

    /// The PNG a graph URL shows (`/api/v1/chatops/graph/{token}.png`):
    /// the group's expression over the receiver's `image_range` up to
    /// now. The error is the HTTP status and why.
    pub async fn graph_png(&self, id: &str) -> Result<Vec<u8>, (u16, String)> {
        let now = self.now();
        let token = self
            .with(|a| a.chat.token(id, now).cloned())
            .map_err(|r| match r {
                TokenRefusal::Unknown => (404, "no such graph".to_string()),
                TokenRefusal::Expired => (410, "this graph's link has expired".to_string()),
            })?;
        if !token.actions.iter().any(|a| a == "graph") || token.expr.is_empty() {
            return Err((404, "no such graph".into()));
        }
        let range = self
            .chatops()
            .and_then(|c| c.receiver(&token.receiver).map(|r| r.image_range))
            .unwrap_or(Duration::from_secs(3 * 3600));
        let grapher = self.grapher.lock().clone();
        let Some(g) = grapher else {
            return Err((503, "the server draws no graphs".into()));
        };
        let req = graph::GraphRequest {
            expr: token.expr.clone(),
            start_ms: now - range.as_millis() as i64,
            end_ms: now,
            width: graph::WIDTH,
            height: graph::HEIGHT,
            title: token
                .group_labels
                .get("alertname")
                .cloned()
                .unwrap_or_default(),
        };
        g.png(req).await.map_err(|e| (500, e))
    }

    /// Whether a request with this signature is new; remembered for twice
    /// the allowed clock skew, after which the timestamp check refuses it.
    fn first_seen(&self, signature: &str, now: i64) -> bool {
        let mut seen = self.seen.lock();
        if seen.len() > 100_000 {
            seen.retain(|_, until| *until > now);
        }
        match seen.get(signature) {
            Some(until) if *until > now => false,
            _ => {
                let keep = 2 * verify::SLACK_MAX_SKEW_S as i64 * 1000;
                seen.insert(signature.to_string(), now + keep);
                true
            }
        }
    }

    /// Refuses a chat request: counted, logged, answered with `status`.
    fn refuse(&self, chat: Chat, reason: &str, why: &dyn std::fmt::Display, status: u16) -> Reply {
        self.count_refused(chat.name(), reason);
        tracing::info!(chat = chat.name(), reason, %why, "refused a chat request");
        Reply::status(status)
    }

    /// The ChatOps file and its Slack app, once a Slack request verified
    /// (signature, timestamp, not a replay); else the answer: 404 without
    /// a Slack app, or the refusal, counted.
    fn slack_verified(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(Arc<Chatops>, crate::chatops::config::Slack), Reply> {
        let Some((c, app)) = self
            .chatops()
            .and_then(|c| Some((c.clone(), c.slack.clone()?)))
        else {
            return Err(Reply::status(404));
        };
        let now = self.now();
        if let Err(r) = verify::slack(
            app.signing_secret.0.as_bytes(),
            timestamp,
            signature,
            body,
            now.div_euclid(1000),
        ) {
            return Err(self.refuse(Chat::Slack, r.reason(), &r, r.status(Chat::Slack).as_u16()));
        }
        if !self.first_seen(signature.unwrap_or(""), now) {
            return Err(self.refuse(Chat::Slack, "replay", &"this request was seen before", 401));
        }
        Ok((c, app))
    }

    /// Slack's interactivity request URL
    /// (`/api/v1/chatops/slack/interactions`): a press of a button or a
    /// menu of one of our messages. `body` is the raw body, at most
    /// [`BODY_LIMIT`] bytes (the server refuses longer ones and counts them
    /// with [`Service::refused_too_large`]).
    pub async fn slack_interaction(
        self: &Arc<Self>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let (c, _) = match self.slack_verified(timestamp, signature, body) {
            Ok(x) => x,
            Err(r) => return r,
        };
        match slack::parse_interaction(body) {
            Err(e) => self.refuse(Chat::Slack, "malformed", &e, 400),
            Ok(i) => {
                self.slack_press(&c, i).await;
                Reply::ok()
            }
        }
    }

    /// Carries out a verified Slack interaction (from the interactivity
    /// URL or Socket Mode): the press is answered through its
    /// `response_url`, and the message edited after.
    pub(crate) async fn slack_press(self: &Arc<Self>, c: &Chatops, i: Interaction) {
        let Interaction::Press(press) = i else {
            return;
        };
        // A link button opens its page; Slack tells us, nothing to do.
        if press.action == "runbook" {
            return;
        }
        let sender = self.sender.lock().clone();
        let tell = |text: String| {
            let url = press.response_url.clone();
            let sender = sender.clone();
            async move {
                if let Some(url) = url {
                    slack::tell(&sender.clients, &url, &text).await;
                }
            }
        };
        let asked = Asked {
            token: &press.token,
            user_id: &press.user_id,
            user_name: &press.user_name,
            team_id: press.team_id.as_deref(),
            action: &press.action,
            value: press.value.as_deref(),
        };
        match self.act(Chat::Slack, c, asked).await {
            Outcome::Refused(text) | Outcome::Failed(text) => tell(text).await,
            Outcome::Graph(Some(url)) => {
                if let Some(to) = &press.response_url {
                    slack::show_image(&sender.clients, to, &url).await;
                }
            }
            Outcome::Graph(None) => tell(NO_GRAPH.into()).await,
            Outcome::Done(token, rc) => {
                // Slack wants its answer within 3 s: the edit follows.
                let me = self.clone();
                tokio::spawn(async move { me.edit_message(&token, &rc).await });
            }
        }
    }

    /// Slack's slash command request URL
    /// (`/api/v1/chatops/slack/commands`): verified as the interactions
    /// are (signature, timestamp, replay), then carried out, and answered
    /// at once (Slack waits 3 s) with the command's answer.
    pub async fn slack_command(
        self: &Arc<Self>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let (c, app) = match self.slack_verified(timestamp, signature, body) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let typed = match command::parse_request(body) {
            Err(e) => return self.refuse(Chat::Slack, "malformed", &e, 400),
            Ok(t) => t,
        };
        Reply {
            status: 200,
            body: self.slack_typed(&c, &app, &typed).await,
        }
    }

    /// Carries out a verified Slack slash command (from its request URL or
    /// Socket Mode); the answer to give Slack.
    pub(crate) async fn slack_typed(
        &self,
        c: &Chatops,
        app: &crate::chatops::config::Slack,
        typed: &command::Typed,
    ) -> Json {
        let said = if typed.command != app.command {
            command::Said::only_you(format!(
                "This URL answers {}, not {}: set the command's name in the ChatOps file.",
                app.command, typed.command
            ))
        } else {
            let who = command::Typist {
                chat: Chat::Slack,
                user_id: &typed.user_id,
                user_name: &typed.user_name,
                team_id: typed.team_id.as_deref(),
            };
            self.command(c, who, &app.command, &typed.text).await
        };
        slack::command_answer(&said)
    }

    /// Mattermost's slash command URL
    /// (`/api/v1/chatops/mattermost/commands`): the `Authorization: Token`
    /// header must carry the command's token (the ChatOps file's
    /// `mattermost.command_token`; 401 otherwise, and 404 without one),
    /// and a `trigger_id` seen before is a replay.
    pub async fn mattermost_command(
        self: &Arc<Self>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let Some((c, token)) = self.chatops().and_then(|c| {
            let t = c.mattermost.as_ref()?.command_token.clone()?;
            Some((c, t))
        }) else {
            return Reply::status(404);
        };
        if let Err(r) = verify::mattermost_command(token.0.as_bytes(), authorization) {
            return self.refuse(
                Chat::Mattermost,
                r.reason(),
                &r,
                r.status(Chat::Mattermost).as_u16(),
            );
        }
        let typed = match command::parse_request(body) {
            Err(e) => return self.refuse(Chat::Mattermost, "malformed", &e, 400),
            Ok(t) => t,
        };
        let now = self.now();
        if let Some(t) = &typed.trigger_id {
            if !self.first_seen(&format!("mattermost:{t}"), now) {
                return self.refuse(
                    Chat::Mattermost,
                    "replay",
                    &"this request was seen before",
                    401,
                );
            }
        }
        let who = command::Typist {
            chat: Chat::Mattermost,
            user_id: &typed.user_id,
            user_name: &typed.user_name,
            team_id: typed.team_id.as_deref(),
        };
        let said = self.command(&c, who, &typed.command, &typed.text).await;
        Reply {
            status: 200,
            body: mattermost::command_answer(&said),
        }
    }

    /// Carries out a press from a chat whose request verified: the token,
    /// the receiver's allowlist, the action and its choice, then the
    /// action itself. Refusals are counted and say, politely, why.
    async fn act(&self, chat: Chat, c: &Chatops, asked: Asked<'_>) -> Outcome {
        let now = self.now();
        let name = chat.name();
        let token = match self.with(|a| a.chat.token(asked.token, now).cloned()) {
            Ok(t) => t,
            Err(r) => {
                self.refuse(
                    chat,
                    r.reason(),
                    &"a button whose token is unknown or expired",
                    200,
                );
                return Outcome::Refused(
                    "This message's buttons have expired. Open the alert in Watchfire to answer it.".into(),
                );
            }
        };
        let Some(rc) = c.receiver(&token.receiver).cloned() else {
            self.refuse(
                chat,
                "not_interactive",
                &"the receiver no longer has ChatOps settings",
                200,
            );
            return Outcome::Refused(format!(
                "Receiver {} no longer takes answers from chat.",
                token.receiver
            ));
        };
        if !rc.allow.permits(name, asked.user_id, asked.team_id) {
            self.refuse(
                chat,
                "not_allowed",
                &format_args!(
                    "user {} is not on receiver {}'s allowlist",
                    asked.user_id, rc.name
                ),
                200,
            );
            return Outcome::Refused(format!(
                "Sorry, only the people on receiver {}'s list may answer its alerts, and you are not on it. Nothing was changed.",
                rc.name
            ));
        }
        let offered = |a: &str| token.actions.iter().any(|x| x == a) && rc.actions.contains(a);
        if !offered(asked.action) {
            self.refuse(
                chat,
                "not_offered",
                &format_args!("action {:?}", asked.action),
                200,
            );
            return Outcome::Refused(format!("This message does not offer {:?}.", asked.action));
        }
        let by = Actor {
            user: asked.user_name.to_string(),
            via: name.to_string(),
            id: asked.user_id.to_string(),
        };
        self.perform(
            chat.name(),
            chat.title(),
            token,
            rc,
            by,
            asked.action,
            asked.value,
        )
        .await
    }

    /// Carries out an allowed, offered `action` (with its choice `value`)
    /// on a token's group, by `by`, who came through `via` (a metric
    /// label: the chat, or `link`); `title` names it in a silence's
    /// comment. A choice the receiver does not offer is refused.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn perform(
        &self,
        via: &str,
        title: &str,
        token: Token,
        rc: Receiver,
        by: Actor,
        action: &str,
        value: Option<&str>,
    ) -> Outcome {
        let now = self.now();
        let name = via;
        let choice = value.map(model::time::parse_duration);
        let done = match (action, choice) {
            ("ack", _) => self
                .ack(&token.group_key, &token.receiver, by)
                .await
                .map(drop),
            ("unack", _) => self
                .unack(&token.group_key, &token.receiver, by)
                .await
                .map(drop),
            ("snooze", Some(Ok(d))) if rc.snooze_for.contains(&d) => {
                let until = now.saturating_add(d.as_millis() as i64);
                self.snooze(&token.group_key, &token.receiver, by, until)
                    .await
                    .map(drop)
            }
            ("silence", Some(Ok(d))) if rc.silence_for.contains(&d) => self
                .silence_from_chat(&token, by, Some(d), title)
                .await
                .map(drop),
            ("silence", _) if value == Some(slack::UNTIL_RESOLVED) => self
                .silence_from_chat(&token, by, None, title)
                .await
                .map(drop),
            ("graph", _) => {
                self.count_action(name, "graph", "done");
                if token.expr.is_empty() {
                    return Outcome::Graph(None);
                }
                let t = Token {
                    actions: vec!["graph".into()],
                    created: now,
                    ..token.clone()
                };
                return Outcome::Graph(self.new_token(t).await.ok().map(|id| self.graph_url(&id)));
            }
            (action, _) => {
                self.count_refused(via, "not_offered");
                tracing::info!(chat = via, action, ?value, "refused a choice not offered");
                return Outcome::Refused("That choice is not offered.".into());
            }
        };
        match done {
            Ok(()) => Outcome::Done(Box::new(token), Box::new(rc)),
            Err(e) => Outcome::Failed(format!("That did not work: {e}")),
        }
    }

    /// Telegram's webhook (`/api/v1/chatops/telegram/webhook`, set with
    /// `setWebhook` and the `secret_token`): a callback query from a press
    /// of one of our buttons. Telegram sends an update again until it gets
    /// 200, so everything it sent is answered 200 but a request whose
    /// secret token is wrong (401) or whose body is not an update (400).
    pub async fn telegram_webhook(self: &Arc<Self>, secret: Option<&str>, body: &[u8]) -> Reply {
        let Some((c, app)) = self
            .chatops()
            .and_then(|c| Some((c.clone(), c.telegram.clone()?)))
        else {
            return Reply::status(404);
        };
        if let Err(r) = verify::telegram(app.secret_token.0.as_bytes(), secret) {
            return self.refuse(
                Chat::Telegram,
                r.reason(),
                &r,
                r.status(Chat::Telegram).as_u16(),
            );
        }
        let (update_id, press) = match telegram::parse_update(body) {
            Err(e) => return self.refuse(Chat::Telegram, "malformed", &e, 400),
            Ok(x) => x,
        };
        let now = self.now();
        if !self.first_seen(&format!("telegram:{update_id}"), now) {
            // Telegram's own retry, or someone sending it again: once.
            return self.refuse(
                Chat::Telegram,
                "replay",
                &format_args!("update {update_id} was seen before"),
                200,
            );
        }
        let Some(press) = press else {
            return Reply::ok();
        };
        let sender = self.sender.lock().clone();
        let asked = Asked {
            token: &press.token,
            user_id: &press.user_id,
            user_name: &press.user_name,
            team_id: press.chat_id.as_deref(),
            action: &press.action,
            value: press.value.as_deref(),
        };
        let bot = &app.bot_token.0;
        let answer = |text: String, alert: bool| {
            let sender = sender.clone();
            let (api, bot, id) = (app.api_url.clone(), bot.clone(), press.query_id.clone());
            async move { telegram::answer(&sender.clients, &api, &bot, &id, &text, alert).await }
        };
        match self.act(Chat::Telegram, &c, asked).await {
            Outcome::Refused(text) | Outcome::Failed(text) => answer(text, true).await,
            Outcome::Graph(url) => {
                answer(String::new(), false).await;
                match (url, &press.chat_id) {
                    (Some(url), Some(chat_id)) => {
                        let photo = serde_json::json!({"chat_id": chat_id, "photo": url});
                        if let Err(e) =
                            telegram::call(&sender.clients, &app.api_url, bot, "sendPhoto", &photo)
                                .await
                        {
                            tracing::warn!(error = %e.message, "the graph did not go to Telegram");
                        }
                    }
                    _ => answer(NO_GRAPH.into(), true).await,
                }
            }
            Outcome::Done(token, rc) => {
                answer("Done".into(), false).await;
                let me = self.clone();
                tokio::spawn(async move { me.edit_message(&token, &rc).await });
            }
        }
        Reply::ok()
    }

    /// Discord's interactions endpoint
    /// (`/api/v1/chatops/discord/interactions`, the application's
    /// "Interactions Endpoint URL"): Discord's PING, and uses of our
    /// components. The signature (Ed25519 over the timestamp and the body,
    /// with the application's public key) is checked before anything is
    /// read; a bad one gets 401, as Discord requires. A timestamp more than
    /// 300 s from now is refused as stale, and a request seen before as a
    /// replay. A use that is carried out is answered with the message
    /// edited (type 7); a refusal with a reply only the user sees.
    pub async fn discord_interaction(
        self: &Arc<Self>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let Some((c, app)) = self
            .chatops()
            .and_then(|c| Some((c.clone(), c.discord.clone()?)))
        else {
            return Reply::status(404);
        };
        if let Err(r) = verify::discord(&app.public_key, timestamp, signature, body) {
            return self.refuse(
                Chat::Discord,
                r.reason(),
                &r,
                r.status(Chat::Discord).as_u16(),
            );
        }
        let now = self.now();
        let sent_s = timestamp.and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
        let skew_s = now.div_euclid(1000).abs_diff(sent_s);
        if skew_s > verify::SLACK_MAX_SKEW_S {
            return self.refuse(
                Chat::Discord,
                "stale",
                &format_args!("timestamp {skew_s} s from now"),
                401,
            );
        }
        if !self.first_seen(&format!("discord:{}", signature.unwrap_or("")), now) {
            return self.refuse(
                Chat::Discord,
                "replay",
                &"this request was seen before",
                401,
            );
        }
        let press = match discord::parse(body) {
            Err(e) => return self.refuse(Chat::Discord, "malformed", &e, 400),
            Ok(discord::Interaction::Ping) => {
                return Reply {
                    status: 200,
                    body: serde_json::json!({"type": 1}),
                }
            }
            Ok(discord::Interaction::Other(_)) => {
                return Reply {
                    status: 200,
                    body: discord::ephemeral("Watchfire does not answer that."),
                }
            }
            Ok(discord::Interaction::Press(p)) => p,
        };
        let asked = Asked {
            token: &press.token,
            user_id: &press.user_id,
            user_name: &press.user_name,
            team_id: press.guild_id.as_deref(),
            action: &press.action,
            value: press.value.as_deref(),
        };
        let body = match self.act(Chat::Discord, &c, asked).await {
            Outcome::Refused(text) | Outcome::Failed(text) => discord::ephemeral(&text),
            Outcome::Graph(None) => discord::ephemeral(NO_GRAPH),
            Outcome::Graph(Some(url)) => serde_json::json!({"type": 4, "data": {
                "flags": 64, "embeds": [{"title": "The alert's graph", "image": {"url": url}}]}}),
            Outcome::Done(token, rc) => match self.restated(&token, &rc, discord::message).await {
                Some(data) => serde_json::json!({"type": 7, "data": data}),
                // Resolved meanwhile: nothing left to edit.
                None => serde_json::json!({"type": 6}),
            },
        };
        Reply { status: 200, body }
    }

    /// Mattermost's action URL (`/api/v1/chatops/mattermost/actions`, the
    /// `integration.url` of each action): a use of one of our attachment
    /// actions. The action's `context.sig` is checked before anything else
    /// in the request is used; a bad one gets 401. A `trigger_id` seen
    /// before is a replay. Mattermost shows an answer other than 200 as
    /// "Action failed to execute", so everything that verifies is answered
    /// 200: done with the post edited (`update`), refused with a reply
    /// only the user sees.
    pub async fn mattermost_action(self: &Arc<Self>, body: &[u8]) -> Reply {
        let Some((c, app)) = self
            .chatops()
            .and_then(|c| Some((c.clone(), c.mattermost.clone()?)))
        else {
            return Reply::status(404);
        };
        let press = match mattermost::parse(body) {
            Err(e) => return self.refuse(Chat::Mattermost, "malformed", &e, 400),
            Ok(p) => p,
        };
        if let Err(r) = verify::mattermost_action(
            app.action_secret.0.as_bytes(),
            &press.token,
            &press.action,
            &press.sig,
        ) {
            return self.refuse(
                Chat::Mattermost,
                r.reason(),
                &r,
                r.status(Chat::Mattermost).as_u16(),
            );
        }
        let now = self.now();
        // Mattermost's server gives every use its own trigger_id.
        let Some(t) = &press.trigger_id else {
            return self.refuse(Chat::Mattermost, "malformed", &"no trigger_id", 400);
        };
        if !self.first_seen(&format!("mattermost:{t}"), now) {
            return self.refuse(
                Chat::Mattermost,
                "replay",
                &"this request was seen before",
                401,
            );
        }
        let asked = Asked {
            token: &press.token,
            user_id: &press.user_id,
            user_name: &press.user_name,
            team_id: press.team_id.as_deref(),
            action: &press.action,
            value: press.value.as_deref(),
        };
        let body = match self.act(Chat::Mattermost, &c, asked).await {
            Outcome::Refused(text) | Outcome::Failed(text) => mattermost::ephemeral(&text),
            Outcome::Graph(None) => mattermost::ephemeral(NO_GRAPH),
            Outcome::Graph(Some(url)) => {
                mattermost::ephemeral(&format!("![The alert's graph]({url})"))
            }
            Outcome::Done(token, rc) => {
                let callback = format!(
                    "{}{}",
                    self.external_url().trim_end_matches('/'),
                    mattermost::ACTIONS_PATH
                );
                let cb = mattermost::Callback {
                    url: &callback,
                    secret: app.action_secret.0.as_bytes(),
                };
                let post = self
                    .restated(&token, &rc, |base, view| {
                        mattermost::message(base, view, cb)
                    })
                    .await;
                match post {
                    Some(post) => mattermost::update(&post),
                    // Resolved meanwhile: nothing left to edit.
                    None => serde_json::json!({}),
                }
            }
        };
        Reply { status: 200, body }
    }

    /// A message restated by `make` with its group's state now, kept as
    /// the message, for a callback's answer to edit it with (Discord,
    /// Mattermost).
    async fn restated(
        &self,
        token: &Token,
        rc: &Receiver,
        make: impl FnOnce(&serde_json::Map<String, Json>, &View<'_>) -> serde_json::Map<String, Json>,
    ) -> Option<serde_json::Map<String, Json>> {
        let now = self.now();
        let (msg, answer) = self.with(|a| {
            (
                a.chat
                    .message(&token.group_key, &token.receiver, token.index)
                    .cloned(),
                a.acks.get(&token.group_key, &token.receiver).cloned(),
            )
        });
        let msg = msg?;
        let view = View {
            token: &msg.token,
            receiver: rc,
            answer: answer.as_ref(),
            silenced: msg.silenced.as_ref(),
            resolved_at: None,
            runbook: (!msg.runbook.is_empty()).then_some(msg.runbook.as_str()),
        };
        let base = msg.body.as_object().cloned().unwrap_or_default();
        let data = make(&base, &view);
        let w = self.state.lock().chat.put_edit(
            &token.group_key,
            &token.receiver,
            token.index,
            crate::chatops::state::Message { at: now, ..msg },
        );
        if let Err(e) = w.wait().await {
            tracing::error!(error = %e, "keeping the edited message failed");
        }
        Some(data)
    }

    /// Makes a silence of a token's group for `d`, or until the group
    /// resolves (at most [`UNTIL_RESOLVED_MAX`]), by a chat user; on disk
    /// before it answers. Returns its id.
    pub(crate) async fn silence_from_chat(
        &self,
        token: &Token,
        by: Actor,
        d: Option<Duration>,
        chat: &str,
    ) -> Result<String, Error> {
        if token.group_labels.is_empty() {
            self.count_action(&by.via, "silence", "refused");
            return Err(Error::invalid(
                "silence",
                "this group has no labels to silence it by; make the silence in Watchfire's UI",
            ));
        }
        let now = self.now();
        let mut matchers = Vec::new();
        for (k, v) in &token.group_labels {
            matchers.push(Matcher::new(model::MatchOp::Equal, k, v)?);
        }
        let until = now.saturating_add(d.unwrap_or(UNTIL_RESOLVED_MAX).as_millis() as i64);
        let how_long = match d {
            Some(d) => format!("for {}", model::time::format_duration(d)),
            None => "until the group resolves".to_string(),
        };
        let sil = Silence {
            id: String::new(),
            matchers,
            starts_at: now,
            ends_at: until,
            updated_at: now,
            created_by: by.user.clone(),
            comment: format!("Silenced from {chat} by {} {how_long}", by.user),
        };
        let via = by.via.clone();
        let id = match self.set_silence(sil).await {
            Ok(id) => id,
            Err(e) => {
                self.count_action(&via, "silence", "refused");
                return Err(e);
            }
        };
        self.count_action(&via, "silence", "done");
        let detail = match d {
            Some(d) => format!("for {}, silence {id}", model::time::format_duration(d)),
            None => format!("until the group resolves, silence {id}"),
        };
        if let Err(e) = self
            .audit(
                &token.group_key,
                &token.receiver,
                "silence",
                detail,
                &by,
                "done",
            )
            .await
        {
            tracing::error!(error = %e, "writing the audit trail failed");
        }
        if d.is_none() {
            let held = self.state.lock().acks.hold_silence(
                &token.group_key,
                &token.receiver,
                &id,
                by.clone(),
                now,
            );
            held.written.wait().await?;
        }
        let kept = self.state.lock().chat.set_silenced(
            &token.group_key,
            &token.receiver,
            token.index,
            Silenced {
                id: id.clone(),
                by,
                until,
            },
        );
        if let Some((_, w)) = kept {
            w.wait().await?;
        }
        Ok(id)
    }

    /// Edits a group's chat message to show its state now (who
    /// acknowledged, snoozed or silenced it, and what is left to do).
    pub(crate) async fn edit_message(&self, token: &Token, rc: &Receiver) {
        let now = self.now();
        let (msg, answer) = self.with(|a| {
            (
                a.chat
                    .message(&token.group_key, &token.receiver, token.index)
                    .cloned(),
                a.acks.get(&token.group_key, &token.receiver).cloned(),
            )
        });
        // Resolved meanwhile: the resolved notice edits it.
        let Some(msg) = msg else {
            return;
        };
        let view = View {
            token: &msg.token,
            receiver: rc,
            answer: answer.as_ref(),
            silenced: msg.silenced.as_ref(),
            resolved_at: None,
            runbook: (!msg.runbook.is_empty()).then_some(msg.runbook.as_str()),
        };
        let Some(c) = self.chatops() else {
            return;
        };
        let sender = self.sender.lock().clone();
        // What to call, and what to keep as the message's body.
        let (result, kept) = match (msg.chat.as_str(), &c.slack, &c.telegram) {
            ("slack", Some(app), _) => {
                let mut body = slack::restate(&msg.body, &view);
                body["channel"] = msg.channel.clone().into();
                body["ts"] = msg.id.clone().into();
                let r = slack::call(
                    &sender.clients,
                    &app.api_url,
                    "chat.update",
                    &app.bot_token.0,
                    &body,
                )
                .await;
                (r, body)
            }
            ("telegram", _, Some(app)) => {
                let base = msg.body.as_object().cloned().unwrap_or_default();
                let mut edit = telegram::message(&base, &view);
                edit.insert("chat_id".into(), msg.channel.clone().into());
                edit.insert(
                    "message_id".into(),
                    msg.id.parse::<i64>().unwrap_or(0).into(),
                );
                let r = telegram::call(
                    &sender.clients,
                    &app.api_url,
                    &app.bot_token.0,
                    "editMessageText",
                    &Json::Object(edit),
                )
                .await;
                (r, msg.body.clone())
            }
            _ => return,
        };
        match result {
            Ok(_) => {
                let chat = msg.chat.clone();
                let m = crate::chatops::state::Message {
                    body: kept,
                    at: now,
                    ..msg
                };
                let w = self.state.lock().chat.put_edit(
                    &token.group_key,
                    &token.receiver,
                    token.index,
                    m,
                );
                if let Err(e) = w.wait().await {
                    tracing::error!(error = %e, %chat, "keeping the edited message failed");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e.message, chat = %msg.chat, "editing the message failed")
            }
        }
    }

    /// Counts a callback refused before it was read because its body is
    /// over [`BODY_LIMIT`].
    pub fn refused_too_large(&self, chat: Chat) {
        self.count_refused(chat.name(), "too_large");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(Reply::ok().status, 200);
        assert_eq!(Reply::status(401).body, serde_json::json!(null));
    }
}
