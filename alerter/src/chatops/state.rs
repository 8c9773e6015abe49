//! What the chat side keeps: the **action tokens** that buttons and links
//! carry, and the **chat messages** sent per group, so that an action or
//! the group's resolution edits the message the channel already shows.
//!
//! A token is an opaque 128-bit random id (32 hex digits) that refers to
//! a record here: the group, the receiver and integration, the actions
//! allowed and the expiry. Buttons never carry labels or anything a
//! clicker could change to act on another group. Both live in memory and
//! in `alerter.db` (tables `chat_tokens` and `chat_messages`, see
//! `alerter/docs/format/sqlite.md`); a token is on disk before the message
//! that carries it is sent, so a restart breaks no button.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::sqlite::{Op, Writer, Written};
use crate::Error;

/// The record an action token refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub group_key: String,
    pub receiver: String,
    /// The integration's position in the receiver.
    pub index: usize,
    /// The actions the message offers (`ack`, `unack`, `silence`,
    /// `snooze`, `graph`).
    pub actions: Vec<String>,
    /// The group's labels, which a silence made from the message matches.
    pub group_labels: std::collections::BTreeMap<String, String>,
    /// The alert's expression, which the group's graph draws.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub expr: String,
    /// When it was made and when it stops working (Unix ms).
    pub created: i64,
    pub expires: i64,
}

/// A silence made from a message, for the message to name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silenced {
    pub id: String,
    pub by: crate::ack::Actor,
    pub until: i64,
}

/// A message a chat holds for a group: where it is, and what it said, so
/// that it can be edited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `slack`, `mattermost`, `discord` or `telegram`.
    pub chat: String,
    /// The channel (or chat) id and the message's id in it (Slack's
    /// `ts`).
    pub channel: String,
    pub id: String,
    /// The request body that made the message, for edits to start from.
    pub body: Json,
    /// The token its buttons carry, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// When the group was first notified in this message's line (Unix
    /// ms): the start of the time to acknowledgement.
    pub first_sent: i64,
    /// When it was last posted or edited.
    pub at: i64,
    /// A silence made from it, for its state line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silenced: Option<Silenced>,
    /// The runbook link it offers, kept for its restatements.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runbook: String,
}

type MessageKey = (String, String, usize);

/// Tokens by id and messages by (group key, receiver, integration).
#[derive(Debug, Default)]
pub struct ChatState {
    tokens: HashMap<String, Token>,
    messages: HashMap<MessageKey, Message>,
    writer: Option<Writer>,
    /// Keys the signatures of action links (32 random bytes, made when
    /// the file is first opened and kept in `chat_keys`).
    links_key: Vec<u8>,
    /// Who answered each group how, oldest first, for the retention.
    audit: HashMap<(String, String), Vec<Audited>>,
}

/// The most answers of one group held in memory.
const AUDIT_KEPT: usize = 200;

/// One answer to a group, as the audit trail keeps it: who, what, when,
/// through which chat, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audited {
    pub at: i64,
    /// `ack`, `unack`, `snooze`, `silence`.
    pub action: String,
    /// A snooze's end, a silence's length (`1h`, `until resolved`) and id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    pub by: crate::ack::Actor,
    /// `done`, or `unchanged` when it was already so.
    pub outcome: String,
}

/// Why a token was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not a token this server made, or one swept long ago.
    Unknown,
    /// Past its expiry.
    Expired,
}

impl TokenRefusal {
    /// The reason as a metric label.
    pub fn reason(self) -> &'static str {
        match self {
            TokenRefusal::Unknown => "unknown_token",
            TokenRefusal::Expired => "expired",
        }
    }
}

/// A new token id: 16 bytes from the operating system's random source,
/// as 32 hex digits.
pub fn new_id() -> Result<String, Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| Error::Random(e.to_string()))?;
    Ok(hex::encode(b))
}

/// The links key kept in `conn`, made (and written, before anything is
/// signed with it) when there is none.
fn links_key(conn: &rusqlite::Connection, path: &Path) -> Result<Vec<u8>, Error> {
    let sql = |op: &'static str| {
        move |source| Error::Sqlite {
            path: path.to_path_buf(),
            table: "chat_keys",
            op,
            source,
        }
    };
    let kept: Option<String> = conn
        .query_row("SELECT key FROM chat_keys WHERE name = 'links'", [], |r| {
            r.get(0)
        })
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(sql("read"))?;
    if let Some(k) = kept {
        return hex::decode(&k)
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| Error::Corrupt {
                path: path.to_path_buf(),
                table: "chat_keys",
                key: "links".into(),
                reason: "the key is not 64 hex digits".into(),
            });
    }
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|e| Error::Random(e.to_string()))?;
    conn.execute(
        "INSERT INTO chat_keys (name, key) VALUES ('links', ?1)",
        [hex::encode(k)],
    )
    .map_err(sql("write"))?;
    Ok(k.to_vec())
}

impl ChatState {
    /// Reads the tokens (those expired before `now` are left out) and the
    /// messages kept in `conn` (the file at `path`).
    pub(crate) fn read(
        conn: &rusqlite::Connection,
        path: &Path,
        now: i64,
        retention_ms: i64,
    ) -> Result<Self, Error> {
        let sql = |table: &'static str| {
            move |source| Error::Sqlite {
                path: path.to_path_buf(),
                table,
                op: "read",
                source,
            }
        };
        let corrupt = |table: &'static str, key: String| {
            move |e: serde_json::Error| Error::Corrupt {
                path: path.to_path_buf(),
                table,
                key,
                reason: e.to_string(),
            }
        };
        let mut out = ChatState::default();
        let mut stmt = conn
            .prepare("SELECT id, body FROM chat_tokens WHERE expires >= ?1")
            .map_err(sql("chat_tokens"))?;
        let rows = stmt
            .query_map([now], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(sql("chat_tokens"))?;
        for row in rows {
            let (id, body) = row.map_err(sql("chat_tokens"))?;
            let t: Token =
                serde_json::from_str(&body).map_err(corrupt("chat_tokens", id.clone()))?;
            out.tokens.insert(id, t);
        }
        let mut stmt = conn
            .prepare("SELECT group_key, receiver, idx, body FROM chat_messages")
            .map_err(sql("chat_messages"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(sql("chat_messages"))?;
        for row in rows {
            let (g, r, i, body) = row.map_err(sql("chat_messages"))?;
            let m: Message = serde_json::from_str(&body)
                .map_err(corrupt("chat_messages", format!("{g} {r} {i}")))?;
            out.messages.insert((g, r, i.max(0) as usize), m);
        }
        out.links_key = links_key(conn, path)?;
        let mut stmt = conn
            .prepare(
                "SELECT seq, group_key, receiver, body FROM chat_audit WHERE at >= ?1 ORDER BY seq",
            )
            .map_err(sql("chat_audit"))?;
        let rows = stmt
            .query_map([now.saturating_sub(retention_ms)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(sql("chat_audit"))?;
        for row in rows {
            let (seq, g, r, body) = row.map_err(sql("chat_audit"))?;
            let e: Audited =
                serde_json::from_str(&body).map_err(corrupt("chat_audit", seq.to_string()))?;
            out.audit.entry((g, r)).or_default().push(e);
        }
        Ok(out)
    }

    /// Adds an answer to a group's audit trail; await the write before
    /// the answer is confirmed.
    pub fn audit(&mut self, group_key: &str, receiver: &str, e: Audited) -> Written {
        let written = self.write(Op::AuditPut {
            at: e.at,
            group_key: group_key.to_string(),
            receiver: receiver.to_string(),
            body: serde_json::to_string(&e).unwrap_or_default(),
        });
        let trail = self
            .audit
            .entry((group_key.to_string(), receiver.to_string()))
            .or_default();
        trail.push(e);
        // A group's trail in memory is its latest answers; the file keeps
        // all of the retention.
        if trail.len() > AUDIT_KEPT {
            trail.drain(..trail.len() - AUDIT_KEPT);
        }
        written
    }

    /// A group's audit trail, oldest first.
    pub fn audit_of(&self, group_key: &str, receiver: &str) -> &[Audited] {
        self.audit
            .get(&(group_key.to_string(), receiver.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// The key action links are signed with.
    pub fn links_key(&self) -> &[u8] {
        &self.links_key
    }

    pub(crate) fn set_writer(&mut self, w: Writer) {
        self.writer = Some(w);
    }

    fn write(&self, op: Op) -> Written {
        match &self.writer {
            Some(w) => w.write(op),
            None => Written::none(),
        }
    }

    fn write_later(&self, op: Op) {
        if let Some(w) = &self.writer {
            w.write_later(op);
        }
    }

    /// Makes a token for `t`; await the write before the token is shown
    /// to anyone.
    pub fn put_token(&mut self, t: Token) -> Result<(String, Written), Error> {
        let id = new_id()?;
        let body = serde_json::to_string(&t).unwrap_or_default();
        let written = self.write(Op::TokenPut {
            id: id.clone(),
            body,
            expires: t.expires,
        });
        self.tokens.insert(id.clone(), t);
        Ok((id, written))
    }

    /// The record of token `id`, if it exists and has not expired at
    /// `now`.
    pub fn token(&self, id: &str, now: i64) -> Result<&Token, TokenRefusal> {
        match self.tokens.get(id) {
            None => Err(TokenRefusal::Unknown),
            Some(t) if t.expires < now => Err(TokenRefusal::Expired),
            Some(t) => Ok(t),
        }
    }

    /// The message a chat holds for a group, receiver and integration.
    pub fn message(&self, group_key: &str, receiver: &str, index: usize) -> Option<&Message> {
        self.messages
            .get(&(group_key.to_string(), receiver.to_string(), index))
    }

    /// When the group was first notified in a chat, over the receiver's
    /// integrations.
    pub fn first_sent(&self, group_key: &str, receiver: &str) -> Option<i64> {
        self.messages
            .iter()
            .filter(|((g, r, _), _)| g == group_key && r == receiver)
            .map(|(_, m)| m.first_sent)
            .min()
    }

    /// Records a silence made from a group's message, for its state
    /// line; the message as it now stands, if there is one.
    pub fn set_silenced(
        &mut self,
        group_key: &str,
        receiver: &str,
        index: usize,
        s: Silenced,
    ) -> Option<(Message, Written)> {
        let mut m = self.message(group_key, receiver, index)?.clone();
        m.silenced = Some(s);
        let w = self.put_message(group_key, receiver, index, m.clone());
        Some((m, w))
    }

    /// Keeps (or replaces) the message of a group, receiver and
    /// integration.
    pub fn put_message(
        &mut self,
        group_key: &str,
        receiver: &str,
        index: usize,
        m: Message,
    ) -> Written {
        let body = serde_json::to_string(&m).unwrap_or_default();
        self.messages
            .insert((group_key.to_string(), receiver.to_string(), index), m);
        self.write(Op::MessagePut {
            group_key: group_key.to_string(),
            receiver: receiver.to_string(),
            index: index as i64,
            body,
        })
    }

    /// Replaces the message of a group, receiver and integration with an
    /// edit of it, unless another message took its place meanwhile (a
    /// repeat posted while the edit was under way).
    pub fn put_edit(
        &mut self,
        group_key: &str,
        receiver: &str,
        index: usize,
        m: Message,
    ) -> Written {
        let same = self
            .message(group_key, receiver, index)
            .is_some_and(|now| now.channel == m.channel && now.id == m.id);
        if !same {
            return Written::none();
        }
        self.put_message(group_key, receiver, index, m)
    }

    /// Forgets a group's message (it resolved: the next notification
    /// starts a new one); written without waiting.
    pub fn drop_message_later(&mut self, group_key: &str, receiver: &str, index: usize) {
        let key = (group_key.to_string(), receiver.to_string(), index);
        if self.messages.remove(&key).is_some() {
            self.write_later(Op::MessageDrop {
                group_key: key.0,
                receiver: key.1,
                index: index as i64,
            });
        }
    }

    /// Drops tokens expired before `now`, and messages last touched more
    /// than `retention_ms` before it; returns how many were dropped.
    pub(crate) fn sweep(&mut self, now: i64, retention_ms: i64) -> usize {
        let before = self.tokens.len() + self.messages.len();
        let tokens = self.tokens.len();
        self.tokens.retain(|_, t| t.expires >= now);
        if self.tokens.len() != tokens {
            self.write_later(Op::TokenDropBefore(now));
        }
        let cutoff = now.saturating_sub(retention_ms);
        let old: Vec<MessageKey> = self
            .messages
            .iter()
            .filter(|(_, m)| m.at < cutoff)
            .map(|(k, _)| k.clone())
            .collect();
        for (g, r, i) in &old {
            self.drop_message_later(g, r, *i);
        }
        let entries: usize = self.audit.values().map(Vec::len).sum();
        self.audit.retain(|_, v| {
            v.retain(|e| e.at >= cutoff);
            !v.is_empty()
        });
        if self.audit.values().map(Vec::len).sum::<usize>() != entries {
            self.write_later(Op::AuditDropBefore(cutoff));
        }
        before - (self.tokens.len() + self.messages.len())
    }

    /// How many tokens and messages are held.
    pub fn len(&self) -> (usize, usize) {
        (self.tokens.len(), self.messages.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires: i64) -> Token {
        Token {
            group_key: "{}:{alertname=\"Down\"}".into(),
            receiver: "team".into(),
            index: 0,
            actions: vec!["ack".into()],
            group_labels: [("alertname".to_string(), "Down".to_string())].into(),
            expr: String::new(),
            created: 0,
            expires,
        }
    }

    fn message(at: i64) -> Message {
        Message {
            chat: "slack".into(),
            channel: "C1".into(),
            id: "1.000100".into(),
            body: serde_json::json!({"text": "x"}),
            token: String::new(),
            first_sent: at,
            at,
            silenced: None,
            runbook: String::new(),
        }
    }

    #[test]
    fn ids_are_random_hex() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn tokens_expire_and_unknown_ones_are_refused() {
        let mut s = ChatState::default();
        let (id, w) = s.put_token(token(100)).unwrap();
        w.wait_blocking().unwrap();
        assert_eq!(s.token(&id, 100).unwrap().receiver, "team");
        assert_eq!(s.token(&id, 101), Err(TokenRefusal::Expired));
        assert_eq!(s.token("00", 0), Err(TokenRefusal::Unknown));
        assert_eq!(s.sweep(101, 1_000), 1);
        assert_eq!(s.token(&id, 0), Err(TokenRefusal::Unknown));
    }

    #[test]
    fn tokens_and_messages_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerter.db");
        let (live, gone) = {
            let mut st = crate::sqlite::open_all(&path, 0, 1_000).unwrap();
            let (live, w) = st.chat.put_token(token(500)).unwrap();
            w.wait_blocking().unwrap();
            let (gone, w) = st.chat.put_token(token(50)).unwrap();
            w.wait_blocking().unwrap();
            st.chat
                .put_message("g", "team", 1, message(7))
                .wait_blocking()
                .unwrap();
            st.chat
                .put_message("h", "team", 0, message(7))
                .wait_blocking()
                .unwrap();
            st.chat.drop_message_later("h", "team", 0);
            (live, gone)
        };
        let key = crate::sqlite::open_all(&path, 100, 1_000)
            .unwrap()
            .chat
            .links_key()
            .to_vec();
        let st = crate::sqlite::open_all(&path, 100, 1_000).unwrap();
        assert_eq!(st.chat.links_key(), key, "the links key is kept");
        assert_eq!(key.len(), 32);
        assert!(st.chat.token(&live, 100).is_ok());
        assert_eq!(st.chat.token(&gone, 100), Err(TokenRefusal::Unknown));
        assert_eq!(st.chat.message("g", "team", 1), Some(&message(7)));
        assert_eq!(st.chat.message("h", "team", 0), None);
    }

    #[test]
    fn the_audit_trail_survives_a_reopen_and_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerter.db");
        let entry = |at: i64, action: &str| Audited {
            at,
            action: action.into(),
            detail: String::new(),
            by: crate::ack::Actor {
                user: "ana".into(),
                via: "slack".into(),
                id: "U1".into(),
            },
            outcome: "done".into(),
        };
        {
            let mut st = crate::sqlite::open_all(&path, 0, 1_000).unwrap();
            st.chat
                .audit("g", "team", entry(10, "ack"))
                .wait_blocking()
                .unwrap();
            st.chat
                .audit("g", "team", entry(2_000, "unack"))
                .wait_blocking()
                .unwrap();
        }
        let mut st = crate::sqlite::open_all(&path, 2_500, 1_000).unwrap();
        // Older than the retention: left unread.
        assert_eq!(st.chat.audit_of("g", "team"), [entry(2_000, "unack")]);
        st.chat
            .audit("g", "team", entry(2_600, "ack"))
            .wait_blocking()
            .unwrap();
        st.chat.sweep(3_100, 1_000);
        assert_eq!(st.chat.audit_of("g", "team"), [entry(2_600, "ack")]);
        assert!(st.chat.audit_of("h", "team").is_empty());
    }
}
