//! Silences: matchers over a time range that mute the alerts they match,
//! as Alertmanager's (upstream `silence/silence.go`), kept in SQLite and
//! written at once on every change so a crash loses none.
//!
//! The file's one table, `silences(id TEXT PRIMARY KEY, body TEXT)`, holds
//! each silence as its API v2 JSON.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::matcher::Matcher;
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
pub fn from_json(v: &Value, now: i64) -> Result<Silence, String> {
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

/// Why a silence could not be changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// No silence has this id.
    NotFound(String),
    Other(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NotFound(id) => write!(f, "silence {id} not found"),
            Error::Other(e) => f.write_str(e),
        }
    }
}

impl From<String> for Error {
    fn from(e: String) -> Self {
        Error::Other(e)
    }
}

/// Silences, in memory and in their SQLite file.
pub struct Silences {
    conn: Option<Connection>,
    all: BTreeMap<String, Silence>,
}

impl Silences {
    /// Opens (or creates) the file at `path`; `None` keeps them in memory.
    pub fn open(path: Option<&Path>, now: i64) -> Result<Self, String> {
        let mut s = Silences {
            conn: None,
            all: BTreeMap::new(),
        };
        let Some(path) = path else { return Ok(s) };
        let conn = Connection::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, body TEXT NOT NULL);",
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        {
            let mut stmt = conn
                .prepare("SELECT id, body FROM silences")
                .map_err(|e| e.to_string())?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(|e| e.to_string())?;
            for row in rows {
                let (id, body) = row.map_err(|e| e.to_string())?;
                let v: Value =
                    serde_json::from_str(&body).map_err(|e| format!("silence {id}: {e}"))?;
                // Stored silences may have ended since; they load all the same.
                let mut sil = from_json(&v, i64::MIN).map_err(|e| format!("silence {id}: {e}"))?;
                sil.id = id.clone();
                sil.updated_at = v["updatedAt"]
                    .as_str()
                    .and_then(model::time::parse_rfc3339)
                    .unwrap_or(now);
                s.all.insert(id, sil);
            }
        }
        s.conn = Some(conn);
        Ok(s)
    }

    fn save(&self, sil: &Silence, now: i64) -> Result<(), String> {
        if let Some(c) = &self.conn {
            c.execute(
                "INSERT INTO silences (id, body) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                params![sil.id, sil.to_json(now).to_string()],
            )
            .map_err(|e| format!("store silence {}: {e}", sil.id))?;
        }
        Ok(())
    }

    /// Creates a silence, or updates the one with its id. Returns the id.
    pub fn set(&mut self, mut sil: Silence, now: i64) -> Result<String, Error> {
        if !sil.id.is_empty() {
            let Some(old) = self.all.get(&sil.id) else {
                return Err(Error::NotFound(sil.id));
            };
            if old.state(now) == State::Expired {
                return Err(Error::Other(format!(
                    "silence {} is already expired",
                    sil.id
                )));
            }
        } else {
            sil.id = uuid();
        }
        sil.updated_at = now;
        self.save(&sil, now)?;
        let id = sil.id.clone();
        self.all.insert(id.clone(), sil);
        Ok(id)
    }

    /// Ends a silence now (a pending one never starts).
    pub fn expire(&mut self, id: &str, now: i64) -> Result<(), Error> {
        let Some(s) = self.all.get(id) else {
            return Err(Error::NotFound(id.to_string()));
        };
        let mut s = s.clone();
        match s.state(now) {
            State::Expired => return Err(Error::Other(format!("silence {id} is already expired"))),
            State::Pending => {
                s.starts_at = now;
                s.ends_at = now;
            }
            State::Active => s.ends_at = now,
        }
        s.updated_at = now;
        self.save(&s, now)?;
        self.all.insert(id.to_string(), s);
        Ok(())
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
            if let Some(c) = &self.conn {
                if let Err(e) = c.execute("DELETE FROM silences WHERE id = ?1", params![id]) {
                    tracing::error!(id, error = %e, "dropping an expired silence failed");
                    continue;
                }
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
            assert_eq!(from_json(&v, now).unwrap_err(), want, "{v}");
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
            let id = s.set(sil, now).unwrap();
            assert_eq!(s.muting(&labels, now + H), vec![id.clone()]);
            id
        };
        // A new process over the same file still mutes.
        let mut s = Silences::open(Some(&path), now).unwrap();
        assert_eq!(s.muting(&labels, now + H), vec![id.clone()]);
        s.expire(&id, now + H).unwrap();
        assert!(s.muting(&labels, now + H).is_empty());
        assert_eq!(s.get(&id).unwrap().state(now + H), State::Expired);
        let mut s = Silences::open(Some(&path), now).unwrap();
        assert_eq!(s.get(&id).unwrap().state(now + H), State::Expired);
        // Kept for the retention after it ended, then dropped for good.
        assert_eq!(s.gc(now + 100 * H, 120 * H), 0);
        assert_eq!(s.gc(now + 122 * H, 120 * H), 1);
        assert!(s.get(&id).is_none());
        let s = Silences::open(Some(&path), now).unwrap();
        assert!(s.get(&id).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
