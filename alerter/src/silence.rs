//! Silences: matchers over a time range that mute the alerts they match,
//! as Alertmanager's (upstream `silence/silence.go`), kept in SQLite and
//! written at once on every change so a crash loses none.
//!
//! The `silences` table of `alerter.db` holds each silence as its API v2
//! JSON (`alerter/docs/format/sqlite.md`); [`crate::sqlite`]'s thread
//! writes it, and a change is durable once its [`Written`] is awaited.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::matcher::Matcher;
use crate::sqlite::{Op, Writer, Written};
use crate::Error;
use model::time::format_go as go_time;
use model::MatchOp;

/// A silence. Times are Unix ms.
#[derive(Debug, Clone)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub updated_at: i64,
    pub created_by: String,
    pub comment: String,
}

/// Where a silence stands at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Active,
    Expired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Active => "active",
            State::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn state(&self, now: i64) -> State {
        if self.ends_at <= now {
            State::Expired
        } else if self.starts_at > now {
            State::Pending
        } else {
            State::Active
        }
    }

    /// Whether the silence mutes an alert with `labels` at `now`.
    pub fn mutes(&self, labels: &BTreeMap<String, String>, now: i64) -> bool {
        self.state(now) == State::Active && self.matchers.iter().all(|m| m.matches(labels))
    }

    /// The silence as API v2 returns it.
    pub fn to_json(&self, now: i64) -> Value {
        json!({
            "id": self.id,
            "status": {"state": self.state(now).as_str()},
            "updatedAt": go_time(self.updated_at),
            "comment": self.comment,
            "createdBy": self.created_by,
            "endsAt": go_time(self.ends_at),
            "startsAt": go_time(self.starts_at),
            "matchers": self.matchers.iter().map(|m| json!({
                "name": m.name,
                "value": m.value,
                "isRegex": matches!(m.op, MatchOp::RegexMatch | MatchOp::RegexNoMatch),
                "isEqual": matches!(m.op, MatchOp::Equal | MatchOp::RegexMatch),
            })).collect::<Vec<_>>(),
        })
    }
}

fn time(v: &Value, what: &str) -> Result<i64, String> {
    let s = v.as_str().ok_or_else(|| format!("{what} missing"))?;
    model::time::parse_rfc3339(s).ok_or_else(|| format!("{what}: cannot parse {s:?}"))
}

/// A silence as API v2 posts it, checked as upstream's `validateSilence`.
pub fn from_json(v: &Value, now: i64) -> Result<Silence, Error> {
    parse(v, now).map_err(Error::BadSilence)
}

fn parse(v: &Value, now: i64) -> Result<Silence, String> {
    let ms = v["matchers"].as_array().cloned().unwrap_or_default();
    if ms.is_empty() {
        return Err("at least one matcher required".into());
    }
    let mut matchers = Vec::new();
    for m in &ms {
        let name = m["name"].as_str().unwrap_or("");
        let value = m["value"].as_str().unwrap_or("");
        if name.is_empty() {
            return Err("invalid label matcher: invalid label name \"\"".into());
        }
        let regex = m["isRegex"].as_bool().unwrap_or(false);
        let equal = m["isEqual"].as_bool().unwrap_or(true);
        let op = match (regex, equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::RegexMatch,
            (true, false) => MatchOp::RegexNoMatch,
        };
        matchers.push(
            Matcher::new(op, name, value).map_err(|e| format!("invalid label matcher: {e}"))?,
        );
    }
    let empty = BTreeMap::new();
    if matchers.iter().all(|m| m.matches(&empty)) {
        return Err("at least one matcher must not match the empty string".into());
    }
    let starts_at = time(&v["startsAt"], "startsAt")?;
    let ends_at = time(&v["endsAt"], "endsAt")?;
    if ends_at < starts_at {
        return Err("end time must not be before start time".into());
    }
    if ends_at < now {
        return Err("end time can't be in the past".into());
    }
    Ok(Silence {
        id: v["id"].as_str().unwrap_or("").to_string(),
        matchers,
        starts_at,
        ends_at,
        updated_at: now,
        created_by: v["createdBy"].as_str().unwrap_or("").to_string(),
        comment: v["comment"].as_str().unwrap_or("").to_string(),
    })
}

/// A random version-4 UUID.
fn uuid() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    if b == [0u8; 16] {
        // No random source: time and a counter still keep ids apart.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        b[..8].copy_from_slice(&t.to_le_bytes());
        b[8..].copy_from_slice(
            &N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .to_le_bytes(),
        );
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Silences, in memory and in their SQLite file.
pub struct Silences {
    writer: Option<Writer>,
    all: BTreeMap<String, Silence>,
}

impl Silences {
    /// Opens (or creates) the file at `path`; `None` keeps them in memory.
    pub fn open(path: Option<&Path>, now: i64) -> Result<Self, Error> {
        let Some(path) = path else {
            return Ok(Silences {
                writer: None,
                all: BTreeMap::new(),
            });
        };
        let conn = crate::sqlite::open(path)?;
        let mut s = Silences::read(&conn, path, now)?;
        s.writer = Some(Writer::start(path, conn)?);
        Ok(s)
    }

    /// Reads the silences from `conn` (the file at `path`); they are
    /// written nowhere until given a writer.
    pub(crate) fn read(conn: &rusqlite::Connection, path: &Path, now: i64) -> Result<Self, Error> {
        let mut s = Silences {
            writer: None,
            all: BTreeMap::new(),
        };
        let sql = |source| Error::Sqlite {
            path: path.to_path_buf(),
            table: "silences",
            op: "read",
            source,
        };
        {
            let mut stmt = conn.prepare("SELECT id, body FROM silences").map_err(sql)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(sql)?;
            for row in rows {
                let (id, body) = row.map_err(sql)?;
                let corrupt = |reason: String| Error::Corrupt {
                    path: path.to_path_buf(),
                    table: "silences",
                    key: id.clone(),
                    reason,
                };
                let v: Value = serde_json::from_str(&body).map_err(|e| corrupt(e.to_string()))?;
                // Stored silences may have ended since; they load all the same.
                let mut sil = parse(&v, i64::MIN).map_err(corrupt)?;
                sil.id = id.clone();
                sil.updated_at = v["updatedAt"]
                    .as_str()
                    .and_then(model::time::parse_rfc3339)
                    .unwrap_or(now);
                s.all.insert(id, sil);
            }
        }
        Ok(s)
    }

    /// Writes through `writer` from now on.
    pub(crate) fn set_writer(&mut self, writer: Writer) {
        self.writer = Some(writer);
    }

    fn save(&self, sil: &Silence, now: i64) -> Written {
        match &self.writer {
            Some(w) => w.write(Op::SilencePut {
                id: sil.id.clone(),
                body: sil.to_json(now).to_string(),
            }),
            None => Written::none(),
        }
    }

    /// Creates a silence, or updates the one with its id, at once in
    /// memory. Returns the id, and the write to await before saying so.
    pub fn set(&mut self, mut sil: Silence, now: i64) -> Result<(String, Written), Error> {
        if !sil.id.is_empty() {
            let Some(old) = self.all.get(&sil.id) else {
                return Err(Error::SilenceNotFound(sil.id));
            };
            if old.state(now) == State::Expired {
                return Err(Error::SilenceExpired(sil.id));
            }
        } else {
            sil.id = uuid();
        }
        sil.updated_at = now;
        let written = self.save(&sil, now);
        let id = sil.id.clone();
        self.all.insert(id.clone(), sil);
        Ok((id, written))
    }

    /// Ends a silence now (a pending one never starts); the write is
    /// returned to await.
    pub fn expire(&mut self, id: &str, now: i64) -> Result<Written, Error> {
        let Some(s) = self.all.get(id) else {
            return Err(Error::SilenceNotFound(id.to_string()));
        };
        let mut s = s.clone();
        match s.state(now) {
            State::Expired => return Err(Error::SilenceExpired(id.to_string())),
            State::Pending => {
                s.starts_at = now;
                s.ends_at = now;
            }
            State::Active => s.ends_at = now,
        }
        s.updated_at = now;
        let written = self.save(&s, now);
        self.all.insert(id.to_string(), s);
        Ok(written)
    }

    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.all.get(id)
    }

    /// Drops the silences that ended more than `retention_ms` before
    /// `now`; returns how many.
    pub fn gc(&mut self, now: i64, retention_ms: i64) -> usize {
        let cutoff = now.saturating_sub(retention_ms);
        let old: Vec<String> = self
            .all
            .values()
            .filter(|s| s.ends_at < cutoff)
            .map(|s| s.id.clone())
            .collect();
        for id in &old {
            if let Some(w) = &self.writer {
                w.write_later(Op::SilenceDrop(id.clone()));
            }
            self.all.remove(id);
        }
        old.len()
    }

    pub fn all(&self) -> impl Iterator<Item = &Silence> {
        self.all.values()
    }

    /// Whether an active silence mutes `labels` at `now`.
    pub fn mutes_any(&self, labels: &BTreeMap<String, String>, now: i64) -> bool {
        self.all.values().any(|s| s.mutes(labels, now))
    }

    /// Ids of the active silences that mute `labels` at `now`.
    pub fn muting(&self, labels: &BTreeMap<String, String>, now: i64) -> Vec<String> {
        self.all
            .values()
            .filter(|s| s.mutes(labels, now))
            .map(|s| s.id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn post(matchers: Value, starts: &str, ends: &str) -> Value {
        json!({"matchers": matchers, "startsAt": starts, "endsAt": ends, "createdBy": "me", "comment": "maintenance"})
    }

    #[test]
    fn validation_as_upstream() {
        let now = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        let m = json!([{"name": "job", "value": "api", "isRegex": false, "isEqual": true}]);
        assert!(from_json(
            &post(m.clone(), "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
            now
        )
        .is_ok());
        let cases = [
            (
                post(json!([]), "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
                "at least one matcher required",
            ),
            (
                post(m.clone(), "2026-01-01T02:00:00Z", "2026-01-01T01:00:00Z"),
                "end time must not be before start time",
            ),
            (
                post(m, "2025-12-31T00:00:00Z", "2025-12-31T01:00:00Z"),
                "end time can't be in the past",
            ),
            (
                post(
                    json!([{"name": "job", "value": ".*", "isRegex": true, "isEqual": true}]),
                    "2026-01-01T00:00:00Z",
                    "2026-01-01T01:00:00Z",
                ),
                "at least one matcher must not match the empty string",
            ),
        ];
        for (v, want) in cases {
            let got = from_json(&v, now).unwrap_err().to_string();
            assert_eq!(got, want, "input {v}");
        }
    }

    #[test]
    fn silences_survive_reopening_and_expire() {
        let dir = std::env::temp_dir().join(format!("wf-sil-{}", uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("alerter.db");
        let now = 1_767_225_600_000;
        let labels = BTreeMap::from([("job".to_string(), "api".to_string())]);
        let id = {
            let mut s = Silences::open(Some(&path), now).unwrap();
            let m = json!([{"name": "job", "value": "a.*", "isRegex": true, "isEqual": true}]);
            let sil = from_json(
                &post(m, "2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z"),
                now,
            )
            .unwrap();
            let (id, written) = s.set(sil, now).unwrap();
            written.wait_blocking().unwrap();
            assert_eq!(s.muting(&labels, now + H), vec![id.clone()]);
            id
        };
        // A new process over the same file still mutes.
        let mut s = Silences::open(Some(&path), now).unwrap();
        assert_eq!(s.muting(&labels, now + H), vec![id.clone()]);
        s.expire(&id, now + H).unwrap().wait_blocking().unwrap();
        assert!(s.muting(&labels, now + H).is_empty());
        assert_eq!(s.get(&id).unwrap().state(now + H), State::Expired);
        let mut s = Silences::open(Some(&path), now).unwrap();
        assert_eq!(s.get(&id).unwrap().state(now + H), State::Expired);
        // Kept for the retention after it ended, then dropped for good.
        assert_eq!(s.gc(now + 100 * H, 120 * H), 0);
        assert_eq!(s.gc(now + 122 * H, 120 * H), 1);
        assert!(s.get(&id).is_none());
        // Closing waits for the writes handed over.
        drop(s);
        let s = Silences::open(Some(&path), now).unwrap();
        assert!(s.get(&id).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
