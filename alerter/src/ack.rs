//! Acknowledgements and snoozes: a developer's answer to a notification,
//! kept per aggregation group and receiver (every integration of the
//! receiver hears it).
//!
//! - An **acknowledgement** stops the repeats of a group's notification
//!   until the group resolves. A new alert joining the group is still
//!   notified, once, with the acknowledgement named; the resolved notice is
//!   still sent, and names who acknowledged. The acknowledgement ends when
//!   the group's "all resolved" notice is decided (or on *unacknowledge*).
//! - A **snooze** stops the repeats until a time, then notifies again (at
//!   the group's first flush from that time on), naming who snoozed.
//!
//! The notification log is untouched, so nothing that Alertmanager's
//! tools read changes. Kept in memory and in the `acks` table of
//! `alerter.db` (see `alerter/docs/format/sqlite.md`); a change is
//! written before whoever made it is told it is done.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::sqlite::{Op, Writer, Written};
use crate::Error;

/// Who answered, and from where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The user's name as the chat shows it (`ana`, an email).
    pub user: String,
    /// Where the answer came from: `slack`, `mattermost`, `discord`,
    /// `telegram`, `link`, `ui` or `api`.
    pub via: String,
    /// The chat's id of the user (a Slack user id), when it has one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
}

/// An acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub by: Actor,
    /// When (Unix ms).
    pub at: i64,
}

/// A snooze: quiet until `until`, then notified again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snooze {
    pub by: Actor,
    pub at: i64,
    pub until: i64,
}

/// A silence made "until resolved": the alerter expires it when the
/// group resolves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldSilence {
    /// The silence's id.
    pub id: String,
    pub by: Actor,
    pub at: i64,
}

/// What one group and receiver has been answered with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<Ack>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snooze: Option<Snooze>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence: Option<HeldSilence>,
}

impl Answer {
    fn is_empty(&self) -> bool {
        self.ack.is_none() && self.snooze.is_none() && self.silence.is_none()
    }

    /// Whether a repeat at `now` is held back.
    pub fn quiets_repeats(&self, now: i64) -> bool {
        self.ack.is_some() || self.snooze.as_ref().is_some_and(|s| s.until > now)
    }

    /// Whether a snooze has run out by `now` and is owed its notification.
    pub fn snooze_ended(&self, now: i64) -> bool {
        self.snooze.as_ref().is_some_and(|s| s.until <= now)
    }
}

/// What an action changed: `false` when it was already so (every action
/// is idempotent).
#[derive(Debug)]
#[must_use = "a change is durable only once its write is awaited"]
pub struct Change {
    pub changed: bool,
    pub written: Written,
}

/// The answers, by (group key, receiver).
#[derive(Debug, Default)]
pub struct Acks {
    answers: HashMap<(String, String), Answer>,
    writer: Option<Writer>,
}

impl Acks {
    /// Reads the answers kept in `conn` (the file at `path`); it writes
    /// nowhere until given a writer.
    pub(crate) fn read(conn: &rusqlite::Connection, path: &Path) -> Result<Self, Error> {
        let sql = |op: &'static str| {
            move |source| Error::Sqlite {
                path: path.to_path_buf(),
                table: "acks",
                op,
                source,
            }
        };
        let mut stmt = conn
            .prepare("SELECT group_key, receiver, body FROM acks")
            .map_err(sql("read"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(sql("read"))?;
        let mut answers = HashMap::new();
        for row in rows {
            let (group_key, receiver, body) = row.map_err(sql("read"))?;
            let a: Answer = serde_json::from_str(&body).map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                table: "acks",
                key: format!("{group_key} {receiver}"),
                reason: e.to_string(),
            })?;
            answers.insert((group_key, receiver), a);
        }
        Ok(Acks {
            answers,
            writer: None,
        })
    }

    pub(crate) fn set_writer(&mut self, w: Writer) {
        self.writer = Some(w);
    }

    /// The answer of one group and receiver.
    pub fn get(&self, group_key: &str, receiver: &str) -> Option<&Answer> {
        self.answers
            .get(&(group_key.to_string(), receiver.to_string()))
    }

    /// Every answer, by (group key, receiver).
    pub fn all(&self) -> impl Iterator<Item = (&(String, String), &Answer)> {
        self.answers.iter()
    }

    /// Acknowledges a group for a receiver. Already acknowledged: nothing
    /// changes (the first acknowledgement is kept). An acknowledgement
    /// ends a snooze.
    pub fn ack(&mut self, group_key: &str, receiver: &str, by: Actor, now: i64) -> Change {
        self.update(group_key, receiver, |a| {
            if a.ack.is_some() {
                return false;
            }
            a.ack = Some(Ack { by, at: now });
            a.snooze = None;
            true
        })
    }

    /// Takes an acknowledgement back: repeats resume.
    pub fn unack(&mut self, group_key: &str, receiver: &str) -> Change {
        self.update(group_key, receiver, |a| a.ack.take().is_some())
    }

    /// Snoozes a group for a receiver until `until`; a later snooze
    /// replaces an earlier one. An acknowledged group is not snoozed (the
    /// acknowledgement already quiets it).
    pub fn snooze(
        &mut self,
        group_key: &str,
        receiver: &str,
        by: Actor,
        now: i64,
        until: i64,
    ) -> Change {
        self.update(group_key, receiver, |a| {
            if a.ack.is_some() || a.snooze.as_ref().is_some_and(|s| s.until == until) {
                return false;
            }
            a.snooze = Some(Snooze { by, at: now, until });
            true
        })
    }

    /// Holds silence `id` until the group resolves, when the alerter
    /// expires it.
    pub fn hold_silence(
        &mut self,
        group_key: &str,
        receiver: &str,
        id: &str,
        by: Actor,
        now: i64,
    ) -> Change {
        self.update(group_key, receiver, |a| {
            if a.silence.as_ref().is_some_and(|s| s.id == id) {
                return false;
            }
            a.silence = Some(HeldSilence {
                id: id.to_string(),
                by,
                at: now,
            });
            true
        })
    }

    /// Forgets a group's answers: it resolved. Written without waiting
    /// (from the alerter's tick, under its lock); a failed write is logged.
    pub(crate) fn forget_later(&mut self, group_key: &str, receiver: &str) {
        self.update_later(group_key, receiver, |a| {
            let had = !a.is_empty();
            *a = Answer::default();
            had
        });
    }

    /// Ends a snooze whose notification was decided, written without
    /// waiting.
    pub(crate) fn end_snooze_later(&mut self, group_key: &str, receiver: &str) {
        self.update_later(group_key, receiver, |a| a.snooze.take().is_some());
    }

    /// Drops the answers of groups that no longer exist and were answered
    /// longer than `retention_ms` before `now`.
    pub(crate) fn gc(&mut self, now: i64, retention_ms: i64, live: impl Fn(&str) -> bool) -> usize {
        let cutoff = now.saturating_sub(retention_ms);
        let old: Vec<(String, String)> = self
            .answers
            .iter()
            .filter(|((g, _), a)| {
                let at = a
                    .ack
                    .as_ref()
                    .map(|x| x.at)
                    .max(a.snooze.as_ref().map(|s| s.until))
                    .unwrap_or(0);
                !live(g) && at < cutoff
            })
            .map(|(k, _)| k.clone())
            .collect();
        for (g, r) in &old {
            self.forget_later(g, r);
        }
        old.len()
    }

    fn update(
        &mut self,
        group_key: &str,
        receiver: &str,
        f: impl FnOnce(&mut Answer) -> bool,
    ) -> Change {
        let (changed, op) = self.apply(group_key, receiver, f);
        let written = match (&self.writer, op) {
            (Some(w), Some(op)) => w.write(op),
            _ => Written::none(),
        };
        Change { changed, written }
    }

    fn update_later(
        &mut self,
        group_key: &str,
        receiver: &str,
        f: impl FnOnce(&mut Answer) -> bool,
    ) {
        if let (_, Some(op)) = self.apply(group_key, receiver, f) {
            if let Some(w) = &self.writer {
                w.write_later(op);
            }
        }
    }

    /// Changes one answer in memory; the write it needs, if it changed.
    fn apply(
        &mut self,
        group_key: &str,
        receiver: &str,
        f: impl FnOnce(&mut Answer) -> bool,
    ) -> (bool, Option<Op>) {
        let key = (group_key.to_string(), receiver.to_string());
        let a = self.answers.entry(key.clone()).or_default();
        let changed = f(a);
        let empty = a.is_empty();
        let body = (!empty).then(|| serde_json::to_string(a).unwrap_or_default());
        if empty {
            self.answers.remove(&key);
        }
        if !changed {
            return (false, None);
        }
        let (group_key, receiver) = key;
        let op = match body {
            None => Op::AckDrop {
                group_key,
                receiver,
            },
            Some(body) => Op::AckPut {
                group_key,
                receiver,
                body,
            },
        };
        (true, Some(op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ana() -> Actor {
        Actor {
            user: "ana".into(),
            via: "slack".into(),
            ..Actor::default()
        }
    }

    #[test]
    fn actions_are_idempotent() {
        let mut a = Acks::default();
        assert!(a.ack("g", "r", ana(), 1).changed);
        assert!(
            !a.ack(
                "g",
                "r",
                Actor {
                    user: "bo".into(),
                    via: "ui".into(),
                    ..Actor::default()
                },
                2
            )
            .changed
        );
        assert_eq!(
            a.get("g", "r").unwrap().ack.as_ref().unwrap().by.user,
            "ana"
        );
        assert!(
            !a.snooze("g", "r", ana(), 3, 10).changed,
            "acked: no snooze"
        );
        assert!(a.unack("g", "r").changed);
        assert!(!a.unack("g", "r").changed);
        assert!(a.get("g", "r").is_none());
        assert!(a.snooze("g", "r", ana(), 3, 10).changed);
        assert!(!a.snooze("g", "r", ana(), 4, 10).changed);
        let s = a.get("g", "r").unwrap();
        assert!(s.quiets_repeats(9) && !s.quiets_repeats(10));
        assert!(!s.snooze_ended(9) && s.snooze_ended(10));
        assert!(a.ack("g", "r", ana(), 5).changed);
        assert!(
            a.get("g", "r").unwrap().snooze.is_none(),
            "an ack ends a snooze"
        );
        a.forget_later("g", "r");
        assert!(a.get("g", "r").is_none());
    }

    #[test]
    fn answers_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerter.db");
        {
            let mut acks = crate::sqlite::open_all(&path, 0, 1_000).unwrap().acks;
            let wait = |c: Change| c.written.wait_blocking().unwrap();
            wait(acks.ack("g", "r", ana(), 5));
            wait(acks.snooze("h", "r", ana(), 5, 50));
            wait(acks.ack("x", "r", ana(), 5));
            wait(acks.unack("x", "r"));
        }
        let acks = crate::sqlite::open_all(&path, 0, 1_000).unwrap().acks;
        assert_eq!(acks.get("g", "r").unwrap().ack.as_ref().unwrap().by, ana());
        assert_eq!(
            acks.get("h", "r").unwrap().snooze.as_ref().unwrap().until,
            50
        );
        assert!(acks.get("x", "r").is_none());
    }

    #[test]
    fn gc_keeps_live_and_recent_groups() {
        let mut a = Acks::default();
        drop(a.ack("live", "r", ana(), 0));
        drop(a.ack("gone", "r", ana(), 0));
        drop(a.ack("recent", "r", ana(), 900));
        assert_eq!(a.gc(1_000, 500, |g| g == "live"), 1);
        assert!(a.get("gone", "r").is_none());
        assert!(a.get("live", "r").is_some() && a.get("recent", "r").is_some());
    }
}
