//! Signed action links, for receivers whose messages cannot carry
//! buttons (email, Microsoft Teams, webhook): each link opens a
//! confirmation page in the web UI, whose `GET` only shows what will
//! happen; only the page's `POST` acts. So a link preview, a mail scanner
//! or a prefetch never acknowledges or silences anything.
//!
//! A link is `<external URL>/chatops/<token>/<action>?sig=<hex>`: the
//! action token (an opaque id whose record names the group, the receiver,
//! the actions allowed and the expiry, see [`super::state`]) and the
//! HMAC-SHA256 of `link:<token>:<action>`, keyed by a random key the
//! alerter makes once and keeps in `alerter.db` (table `chat_keys`). A
//! link works for its one action, until the token expires.
//!
//! A link is a bearer's right: whoever gets the message may act through
//! it, and says who they are on the page (the name goes into the answer
//! and a silence's `createdBy`). The receiver's `allow` list, which
//! checks chat users, does not apply; a receiver turns links on with
//! `links: true`.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::chatops::serve::Outcome;
use crate::chatops::state::{Token, TokenRefusal};
use crate::chatops::View;
use crate::service::Service;

/// Where the confirmation pages are, under the external URL.
pub const PATH: &str = "/chatops/";

/// The longest name a person may give on the page.
const WHO_MAX: usize = 100;

/// One action link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub action: String,
    pub label: String,
    pub url: String,
}

/// The `sig` of a link: hex HMAC-SHA256 of `link:<token>:<action>`.
pub fn sign(key: &[u8], token: &str, action: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"link:");
    mac.update(token.as_bytes());
    mac.update(b":");
    mac.update(action.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn verify(key: &[u8], token: &str, action: &str, sig: &str) -> bool {
    let mut tag = [0u8; 32];
    if hex::decode_to_slice(sig, &mut tag).is_err() {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"link:");
    mac.update(token.as_bytes());
    mac.update(b":");
    mac.update(action.as_bytes());
    mac.verify_slice(&tag).is_ok()
}

/// The label of an action on a link and its page.
fn label(action: &str) -> &'static str {
    match action {
        "ack" => "Acknowledge",
        "unack" => "Unacknowledge",
        "silence" => "Silence",
        "snooze" => "Snooze",
        _ => "Act",
    }
}

/// The links a message offers: what the receiver allows and the state
/// makes sensible (as the chats' buttons); none once the group resolved.
/// The graph has no link: email shows it inline.
pub fn make(external_url: &str, key: &[u8], v: &View<'_>) -> Vec<Link> {
    if v.resolved_at.is_some() {
        return Vec::new();
    }
    let allowed = |a: &str| v.receiver.actions.contains(a);
    let acked = v.answer.is_some_and(|a| a.ack.is_some());
    let mut actions = Vec::new();
    if acked && allowed("unack") {
        actions.push("unack");
    } else if !acked && allowed("ack") {
        actions.push("ack");
    }
    if allowed("silence") {
        actions.push("silence");
    }
    if !acked && allowed("snooze") && !v.receiver.snooze_for.is_empty() {
        actions.push("snooze");
    }
    let base = external_url.trim_end_matches('/');
    actions
        .into_iter()
        .map(|a| Link {
            action: a.to_string(),
            label: label(a).to_string(),
            url: format!("{base}{PATH}{}/{a}?sig={}", v.token, sign(key, v.token, a)),
        })
        .collect()
}

/// The links as plain text, for a text part.
pub fn text(links: &[Link]) -> String {
    let mut out = String::from("\n\nAnswer this alert (each link asks you to confirm):\n");
    for l in links {
        out.push_str(&format!("{}: {}\n", l.label, l.url));
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The links as an HTML paragraph.
pub fn html(links: &[Link]) -> String {
    let anchors: Vec<String> = links
        .iter()
        .map(|l| format!("<a href=\"{}\">{}</a>", escape(&l.url), escape(&l.label)))
        .collect();
    format!(
        "<p>Answer this alert: {} (each link asks you to confirm)</p>",
        anchors.join(" · ")
    )
}

/// Whether a name typed on a confirmation page is plain: letters,
/// digits, spaces and `. _ - '`, and `@` after a letter or digit (an
/// address), so that it cannot become markup, a link or a mention in the
/// chat messages that name it.
pub fn plain_name(who: &str) -> bool {
    let chars: Vec<char> = who.chars().collect();
    !chars.is_empty()
        && chars.len() <= WHO_MAX
        && chars.iter().enumerate().all(|(i, &c)| {
            c.is_alphanumeric()
                || " ._-'".contains(c)
                || (c == '@' && i > 0 && chars[i - 1].is_alphanumeric())
        })
}

/// What a confirmation page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub action: String,
    pub label: String,
    pub receiver: String,
    pub group_labels: BTreeMap<String, String>,
    /// Each alert of the group: its labels as text, and whether it fires.
    pub alerts: Vec<(String, bool)>,
    /// The group's state line (who acknowledged, snoozed, silenced).
    pub state: Option<String>,
    /// For silence and snooze: the durations to pick from, as label and
    /// value.
    pub choices: Vec<(String, String)>,
    pub runbook: Option<String>,
}

/// Why a link is refused: the HTTP status, and what the page says.
pub type Refused = (u16, String);

impl Service {
    /// Checks a link: its signature, its token, and that its receiver
    /// still offers links and the action; counted when refused.
    fn link_token(
        &self,
        token: &str,
        action: &str,
        sig: &str,
    ) -> Result<(Token, crate::chatops::config::Receiver), Refused> {
        let key = self.state.lock().chat.links_key().to_vec();
        if !verify(&key, token, action, sig) {
            self.count_refused("link", "bad_signature");
            return Err((403, "This link is not one Watchfire made.".into()));
        }
        let now = self.now();
        let t = self
            .with(|a| a.chat.token(token, now).cloned())
            .map_err(|r| {
                self.count_refused("link", r.reason());
                match r {
                    TokenRefusal::Unknown => (404, "This link is not known here.".to_string()),
                    TokenRefusal::Expired => (
                        410,
                        "This link has expired. Open the alert in Watchfire to answer it.".into(),
                    ),
                }
            })?;
        let rc = self
            .chatops()
            .and_then(|c| c.receiver(&t.receiver).cloned())
            .filter(|rc| rc.links);
        let Some(rc) = rc else {
            self.count_refused("link", "not_interactive");
            return Err((
                404,
                format!(
                    "Receiver {} no longer takes answers from links.",
                    t.receiver
                ),
            ));
        };
        if !t.actions.iter().any(|a| a == action) || !rc.actions.contains(action) {
            self.count_refused("link", "not_offered");
            return Err((404, format!("This link does not offer {action:?}.")));
        }
        Ok((t, rc))
    }

    /// The confirmation page of a link (`GET /chatops/<token>/<action>`).
    pub fn link_page(&self, token: &str, action: &str, sig: &str) -> Result<Page, Refused> {
        let (t, rc) = self.link_token(token, action, sig)?;
        let now = self.now();
        let (alerts, answer, message) = self.with(|a| {
            let alerts = a
                .groups()
                .into_iter()
                .find(|g| g.key == t.group_key && g.receiver == t.receiver)
                .map(|g| g.alerts)
                .unwrap_or_default();
            (
                alerts,
                a.acks.get(&t.group_key, &t.receiver).cloned(),
                a.chat.message(&t.group_key, &t.receiver, t.index).cloned(),
            )
        });
        let firing = alerts.iter().any(|x| !x.is_resolved(now));
        let view = View {
            token,
            receiver: &rc,
            answer: answer.as_ref(),
            silenced: message.as_ref().and_then(|m| m.silenced.as_ref()),
            resolved_at: (!firing).then_some(now),
            runbook: None,
        };
        let fmt = |d: &std::time::Duration| model::time::format_duration(*d);
        let choices = match action {
            "silence" => {
                let mut c: Vec<(String, String)> =
                    rc.silence_for.iter().map(|d| (fmt(d), fmt(d))).collect();
                c.push((
                    "until the group resolves".into(),
                    super::slack::UNTIL_RESOLVED.into(),
                ));
                c
            }
            "snooze" => rc.snooze_for.iter().map(|d| (fmt(d), fmt(d))).collect(),
            _ => Vec::new(),
        };
        Ok(Page {
            action: action.to_string(),
            label: label(action).to_string(),
            receiver: t.receiver.clone(),
            group_labels: t.group_labels.clone(),
            alerts: alerts
                .iter()
                .map(|x| {
                    let ls: Vec<String> =
                        x.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                    (format!("{{{}}}", ls.join(", ")), !x.is_resolved(now))
                })
                .collect(),
            state: super::telegram::state_text(&view),
            choices,
            runbook: crate::send::chat::runbook_of(&alerts).map(str::to_string),
        })
    }

    /// Carries out a link's action (`POST /chatops/<token>/<action>`, the
    /// confirmation page's form): `who` is the name the person gave,
    /// `value` the duration picked. Answers what the page then says.
    pub async fn link_act(
        self: &Arc<Self>,
        token: &str,
        action: &str,
        sig: &str,
        who: &str,
        value: Option<&str>,
    ) -> Result<String, Refused> {
        let (t, rc) = self.link_token(token, action, sig)?;
        let who = who.trim();
        if !plain_name(who) {
            self.count_refused("link", "malformed");
            return Err((
                400,
                format!("Say who you are: a name or address of 1 to {WHO_MAX} letters, digits, spaces and . _ - ' @ (not first)."),
            ));
        }
        let by = crate::ack::Actor {
            user: who.to_string(),
            via: "link".into(),
            id: String::new(),
        };
        match self
            .perform("link", "a Watchfire link", t, rc, by, action, value)
            .await
        {
            Outcome::Done(_, _) => Ok(match action {
                "ack" => format!("Acknowledged by {who}."),
                "unack" => "The acknowledgement is taken back; repeats resume.".into(),
                "silence" => format!("Silenced by {who}."),
                "snooze" => format!("Snoozed by {who}."),
                _ => "Done.".into(),
            }),
            Outcome::Refused(text) => Err((400, text)),
            Outcome::Failed(text) => Err((409, text)),
            Outcome::Graph(_) => Err((404, "Links do not show graphs.".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chatops::config::Receiver;

    #[test]
    fn links_are_signed_per_action() {
        let rc = Receiver {
            links: true,
            ..Receiver::every_action("team")
        };
        let v = View {
            token: "tok",
            receiver: &rc,
            answer: None,
            silenced: None,
            resolved_at: None,
            runbook: None,
        };
        let ls = make("http://wf/x/", b"key", &v);
        let actions: Vec<&str> = ls.iter().map(|l| l.action.as_str()).collect();
        assert_eq!(actions, ["ack", "silence", "snooze"]);
        assert_eq!(
            ls[0].url,
            format!(
                "http://wf/x/chatops/tok/ack?sig={}",
                sign(b"key", "tok", "ack")
            )
        );
        assert!(verify(b"key", "tok", "ack", &sign(b"key", "tok", "ack")));
        assert!(!verify(
            b"key",
            "tok",
            "silence",
            &sign(b"key", "tok", "ack")
        ));
        assert!(!verify(b"other", "tok", "ack", &sign(b"key", "tok", "ack")));
        assert!(!verify(b"key", "tok", "ack", "zz"));
        for ok in ["ana", "Ana María", "ana@example.org", "o'brien-smith"] {
            assert!(plain_name(ok), "{ok}");
        }
        for bad in [
            "",
            "@channel",
            "<!channel>",
            "[x](https://evil)",
            "a`b",
            "*a*",
            "a\nb",
        ] {
            assert!(!plain_name(bad), "{bad}");
        }
        assert!(html(&ls).contains("<a href=\"http://wf/x/chatops/tok/ack?sig="));
        assert!(text(&ls).contains("Silence: http://wf/x/chatops/tok/silence?sig="));
        let resolved = View {
            resolved_at: Some(1),
            ..v
        };
        assert!(make("http://wf", b"key", &resolved).is_empty());
    }
}
