//! The ChatOps file (`--chatops.config.file`): what is ours and not
//! Alertmanager's, kept apart so that `alertmanager.yml` stays as
//! Alertmanager reads it. The format is described in
//! `alerter/docs/chatops.md`; [`load`] reads and checks it with file, line
//! and reason, as `watchfire check chatops` prints.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use model::yaml::FileError as ConfigError;

/// The actions a notification may offer.
pub const ACTIONS: [&str; 5] = ["ack", "unack", "silence", "snooze", "graph"];

/// The chats that call back, by their section's name.
pub const CHATS: [&str; 4] = ["slack", "mattermost", "discord", "telegram"];

/// The file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// How long a button or link stays usable (`24h`).
    #[serde(default)]
    pub token_ttl: Option<String>,
    #[serde(default)]
    pub slack: Option<SlackRaw>,
    #[serde(default)]
    pub mattermost: Option<MattermostRaw>,
    #[serde(default)]
    pub discord: Option<DiscordRaw>,
    #[serde(default)]
    pub telegram: Option<TelegramRaw>,
    #[serde(default)]
    pub receivers: Vec<ReceiverRaw>,
    /// The slash command: who may use it.
    #[serde(default)]
    pub commands: Option<CommandsRaw>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandsRaw {
    #[serde(default)]
    pub allow: Option<AllowRaw>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackRaw {
    #[serde(default)]
    pub bot_token: String,
    #[serde(default)]
    pub bot_token_file: String,
    #[serde(default)]
    pub signing_secret: String,
    #[serde(default)]
    pub signing_secret_file: String,
    #[serde(default)]
    pub app_token: String,
    #[serde(default)]
    pub app_token_file: String,
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostRaw {
    /// Keys the `sig` in each action's context.
    #[serde(default)]
    pub action_secret: String,
    #[serde(default)]
    pub action_secret_file: String,
    #[serde(default)]
    pub command_token: String,
    #[serde(default)]
    pub command_token_file: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordRaw {
    #[serde(default)]
    pub application_id: String,
    #[serde(default)]
    pub public_key: String,
    #[serde(default)]
    pub bot_token: String,
    #[serde(default)]
    pub bot_token_file: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramRaw {
    #[serde(default)]
    pub bot_token: String,
    #[serde(default)]
    pub bot_token_file: String,
    #[serde(default)]
    pub secret_token: String,
    #[serde(default)]
    pub secret_token_file: String,
    #[serde(default)]
    pub api_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverRaw {
    #[serde(default)]
    pub name: String,
    /// Default: every action.
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    #[serde(default)]
    pub silence_for: Option<Vec<String>>,
    #[serde(default)]
    pub snooze_for: Option<Vec<String>>,
    /// The graph of the alert's expression in notifications.
    #[serde(default)]
    pub images: bool,
    #[serde(default)]
    pub image_range: Option<String>,
    /// Signed action links in messages of receivers without buttons
    /// (email, Microsoft Teams, webhook).
    #[serde(default)]
    pub links: bool,
    #[serde(default)]
    pub allow: Option<AllowRaw>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRaw {
    /// `chat:id`: `slack:U024BE7LH`, `telegram:123456`, `email:ana@example.org`.
    #[serde(default)]
    pub users: Vec<String>,
    /// `chat:id` of a team, workspace or chat group.
    #[serde(default)]
    pub teams: Vec<String>,
    /// Anyone who can see the message may act.
    #[serde(default)]
    pub anyone: bool,
}

/// A secret read from the file or given inline; printed as `<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// Who may act for a receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow {
    pub users: BTreeSet<String>,
    pub teams: BTreeSet<String>,
    pub anyone: bool,
}

impl Allow {
    /// Whether `user` (of `team`, if the chat has teams) on `chat` may act.
    pub fn permits(&self, chat: &str, user: &str, team: Option<&str>) -> bool {
        self.anyone
            || self.users.contains(&format!("{chat}:{user}"))
            || team.is_some_and(|t| self.teams.contains(&format!("{chat}:{t}")))
    }
}

/// One receiver's ChatOps settings, checked.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub name: String,
    pub actions: BTreeSet<String>,
    pub silence_for: Vec<Duration>,
    pub snooze_for: Vec<Duration>,
    pub images: bool,
    pub image_range: Duration,
    pub links: bool,
    pub allow: Allow,
}

impl Receiver {
    /// A receiver offering every action, with 1h silences and snoozes,
    /// for tests.
    #[cfg(test)]
    pub(crate) fn every_action(name: &str) -> Receiver {
        Receiver {
            name: name.into(),
            actions: ACTIONS.iter().map(|s| s.to_string()).collect(),
            silence_for: vec![Duration::from_secs(3600)],
            snooze_for: vec![Duration::from_secs(3600)],
            images: false,
            image_range: Duration::from_secs(3600),
            links: false,
            allow: Allow::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Slack {
    pub bot_token: Secret,
    pub signing_secret: Secret,
    pub app_token: Option<Secret>,
    pub api_url: String,
    pub command: String,
}

#[derive(Debug, Clone)]
pub struct Mattermost {
    pub action_secret: Secret,
    pub command_token: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct Discord {
    pub application_id: String,
    pub public_key: String,
    pub bot_token: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct Telegram {
    pub bot_token: Secret,
    pub secret_token: Secret,
    pub api_url: String,
}

/// The whole file, checked.
#[derive(Debug, Clone)]
pub struct Chatops {
    pub token_ttl: Duration,
    pub slack: Option<Slack>,
    pub mattermost: Option<Mattermost>,
    pub discord: Option<Discord>,
    pub telegram: Option<Telegram>,
    pub receivers: Vec<Receiver>,
    /// Who may use the slash command; nobody without it.
    pub commands: Option<Allow>,
}

impl Chatops {
    /// The settings of a receiver, if it has any.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// The chat sections present, by name.
    pub fn chats(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.slack.is_some() {
            v.push("slack");
        }
        if self.mattermost.is_some() {
            v.push("mattermost");
        }
        if self.discord.is_some() {
            v.push("discord");
        }
        if self.telegram.is_some() {
            v.push("telegram");
        }
        v
    }
}

/// Reads and checks the file at `path`. With `receivers`, the names of
/// the receivers of `alertmanager.yml`, each receiver named here must be
/// one of them.
pub fn load(path: &Path, receivers: Option<&[String]>) -> Result<Chatops, ConfigError> {
    let (file, text) = model::yaml::read(path)?;
    parse(&text, &file, receivers)
}

/// Parses and checks the text of a ChatOps file; `file` names it in
/// errors, and relative `_file` paths are taken from its directory.
pub fn parse(text: &str, file: &str, receivers: Option<&[String]>) -> Result<Chatops, ConfigError> {
    let err = |line: Option<usize>, reason: String| ConfigError {
        file: file.to_string(),
        line,
        reason,
    };
    // The line of a key written in the file, for errors found after
    // decoding: the first line holding `needle` at or after `from`.
    let line_of = |needle: &str, from: usize| -> Option<usize> {
        text.lines()
            .enumerate()
            .skip(from.saturating_sub(1))
            .find(|(_, l)| l.contains(needle))
            .map(|(i, _)| i + 1)
    };
    let raw: Raw = if text.trim().is_empty() {
        Raw::default()
    } else {
        model::yaml::from_str(text).map_err(|e| err(e.line, e.with_path()))?
    };
    let dir = Path::new(file)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let section = |name: &str| line_of(&format!("{name}:"), 0);
    let ttl = duration(raw.token_ttl.as_deref().unwrap_or("24h"))
        .map_err(|e| err(section("token_ttl"), format!("token_ttl: {e}")))?;
    if ttl < Duration::from_secs(60) || ttl > Duration::from_secs(30 * 86_400) {
        return Err(err(
            section("token_ttl"),
            "token_ttl: must be from 1m to 30d".into(),
        ));
    }
    let secret = |sec: &str, name: &str, inline: &str, file_: &str, required: bool| {
        let at = line_of(name, section(sec).unwrap_or(0));
        read_secret(&dir, name, inline, file_, required).map_err(|e| err(at, format!("{sec}.{e}")))
    };
    let url = |sec: &str, name: &str, v: &str| -> Result<String, ConfigError> {
        let at = line_of(name, section(sec).unwrap_or(0));
        let ok =
            (v.starts_with("http://") || v.starts_with("https://")) && v.len() > "https://".len();
        if !ok {
            return Err(err(
                at,
                format!("{sec}.{name}: {v:?} is not an http(s) URL"),
            ));
        }
        Ok(v.to_string())
    };
    let slack = match &raw.slack {
        None => None,
        Some(s) => Some(Slack {
            bot_token: secret("slack", "bot_token", &s.bot_token, &s.bot_token_file, true)?
                .unwrap_or(Secret(String::new())),
            signing_secret: secret(
                "slack",
                "signing_secret",
                &s.signing_secret,
                &s.signing_secret_file,
                true,
            )?
            .unwrap_or(Secret(String::new())),
            app_token: {
                let t = secret("slack", "app_token", &s.app_token, &s.app_token_file, false)?;
                if t.as_ref().is_some_and(|t| !t.0.starts_with("xapp-")) {
                    return Err(err(
                        line_of("app_token", section("slack").unwrap_or(0)),
                        "slack.app_token: an app-level token begins with xapp- (the bot token, xoxb-, is bot_token)".into(),
                    ));
                }
                t
            },
            api_url: url(
                "slack",
                "api_url",
                s.api_url.as_deref().unwrap_or("https://slack.com/api/"),
            )?,
            command: {
                let c = s.command.clone().unwrap_or_else(|| "/watchfire".into());
                let ok = c.starts_with('/')
                    && c.len() > 1
                    && c[1..]
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch));
                if !ok {
                    return Err(err(
                        line_of("command", section("slack").unwrap_or(0)),
                        format!("slack.command: {c:?} is not a slash command such as /watchfire"),
                    ));
                }
                c
            },
        }),
    };
    let mattermost = match &raw.mattermost {
        None => None,
        Some(m) => Some(Mattermost {
            action_secret: {
                let s = secret(
                    "mattermost",
                    "action_secret",
                    &m.action_secret,
                    &m.action_secret_file,
                    true,
                )?
                .unwrap_or(Secret(String::new()));
                if s.0.len() < 16 {
                    return Err(err(
                        line_of("action_secret", section("mattermost").unwrap_or(0)),
                        "mattermost.action_secret: use at least 16 characters (openssl rand -hex 32 makes one)".into(),
                    ));
                }
                s
            },
            command_token: secret(
                "mattermost",
                "command_token",
                &m.command_token,
                &m.command_token_file,
                false,
            )?,
        }),
    };
    let discord = match &raw.discord {
        None => None,
        Some(d) => {
            let at = line_of("public_key", section("discord").unwrap_or(0));
            super::verify::discord_public_key(&d.public_key).map_err(|e| {
                err(
                    at.or(section("discord")),
                    format!("discord.public_key: the application's public key: {e}"),
                )
            })?;
            if d.application_id.is_empty() || !d.application_id.chars().all(|c| c.is_ascii_digit())
            {
                return Err(err(
                    line_of("application_id", section("discord").unwrap_or(0))
                        .or(section("discord")),
                    "discord.application_id: must be the application's id, digits".into(),
                ));
            }
            Some(Discord {
                application_id: d.application_id.clone(),
                public_key: d.public_key.to_ascii_lowercase(),
                bot_token: secret(
                    "discord",
                    "bot_token",
                    &d.bot_token,
                    &d.bot_token_file,
                    false,
                )?,
            })
        }
    };
    let telegram = match &raw.telegram {
        None => None,
        Some(t) => {
            let secret_token = secret(
                "telegram",
                "secret_token",
                &t.secret_token,
                &t.secret_token_file,
                true,
            )?
            .unwrap_or(Secret(String::new()));
            // Telegram's setWebhook: 1-256 characters, A-Z a-z 0-9 _ -.
            super::verify::telegram_secret_ok(&secret_token.0).map_err(|e| {
                err(
                    line_of("secret_token", section("telegram").unwrap_or(0)),
                    format!("telegram.secret_token: {e}"),
                )
            })?;
            Some(Telegram {
                bot_token: secret(
                    "telegram",
                    "bot_token",
                    &t.bot_token,
                    &t.bot_token_file,
                    true,
                )?
                .unwrap_or(Secret(String::new())),
                secret_token,
                api_url: url(
                    "telegram",
                    "api_url",
                    t.api_url.as_deref().unwrap_or("https://api.telegram.org"),
                )?,
            })
        }
    };
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut from = section("receivers").unwrap_or(0);
    for (i, r) in raw.receivers.iter().enumerate() {
        let at = line_of(&format!("name: {}", r.name), from).or(line_of("name:", from));
        from = at.unwrap_or(from);
        let e = |reason: String| err(at, format!("receivers[{i}]: {reason}"));
        if r.name.is_empty() {
            return Err(e("name: missing".into()));
        }
        if !seen.insert(r.name.clone()) {
            return Err(e(format!("receiver {:?} is named twice", r.name)));
        }
        if let Some(known) = receivers {
            if !known.iter().any(|k| k == &r.name) {
                return Err(e(format!(
                    "receiver {:?} is not a receiver of the Alertmanager configuration",
                    r.name
                )));
            }
        }
        let actions: BTreeSet<String> = match &r.actions {
            None => ACTIONS.iter().map(|s| s.to_string()).collect(),
            Some(v) => {
                for a in v {
                    if !ACTIONS.contains(&a.as_str()) {
                        return Err(e(format!(
                            "actions: {a:?} is not one of {}",
                            ACTIONS.join(", ")
                        )));
                    }
                }
                v.iter().cloned().collect()
            }
        };
        let durations = |key: &str, v: &Option<Vec<String>>, default: &[&str]| {
            let list: Vec<String> = match v {
                Some(v) => v.clone(),
                None => default.iter().map(|s| s.to_string()).collect(),
            };
            if list.is_empty() {
                return Err(e(format!("{key}: give at least one duration")));
            }
            list.iter()
                .map(|d| duration(d).map_err(|x| e(format!("{key}: {x}"))))
                .collect::<Result<Vec<_>, _>>()
        };
        let silence_for = durations("silence_for", &r.silence_for, &["1h", "4h", "24h"])?;
        let snooze_for = durations("snooze_for", &r.snooze_for, &["1h", "4h"])?;
        let image_range = duration(r.image_range.as_deref().unwrap_or("3h"))
            .map_err(|x| e(format!("image_range: {x}")))?;
        let allow = check_allow(r.allow.as_ref()).map_err(e)?;
        out.push(Receiver {
            name: r.name.clone(),
            actions,
            silence_for,
            snooze_for,
            images: r.images,
            image_range,
            links: r.links,
            allow,
        });
    }
    let commands = match &raw.commands {
        None => None,
        Some(c) => Some(check_allow(c.allow.as_ref()).map_err(|e| {
            err(
                line_of("allow", section("commands").unwrap_or(0)).or(section("commands")),
                format!("commands.{e}"),
            )
        })?),
    };
    Ok(Chatops {
        commands,
        token_ttl: ttl,
        slack,
        mattermost,
        discord,
        telegram,
        receivers: out,
    })
}

/// Checks an `allow:` section: it must let someone act, and each entry
/// is `chat:id`.
fn check_allow(a: Option<&AllowRaw>) -> Result<Allow, String> {
    let say = || "allow: say who may act: users, teams, or anyone: true".to_string();
    let a = a.ok_or_else(say)?;
    if !a.anyone && a.users.is_empty() && a.teams.is_empty() {
        return Err(say());
    }
    for who in a.users.iter().chain(&a.teams) {
        let chat = who.split_once(':').map(|x| x.0);
        let known = chat.is_some_and(|c| CHATS.contains(&c) || c == "email");
        if !known || who.ends_with(':') {
            return Err(format!(
                "allow: {who:?} is not chat:id, with chat one of {}, email",
                CHATS.join(", ")
            ));
        }
    }
    Ok(Allow {
        users: a.users.iter().cloned().collect(),
        teams: a.teams.iter().cloned().collect(),
        anyone: a.anyone,
    })
}

fn duration(s: &str) -> Result<Duration, String> {
    let d = model::time::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))?;
    if d.is_zero() {
        return Err(format!("{s:?}: must be above zero"));
    }
    Ok(d)
}

/// A secret given inline or in a file (relative to `dir`): at most one of
/// the two, and one when `required`. A file's trailing newline is dropped.
fn read_secret(
    dir: &Path,
    name: &str,
    inline: &str,
    file: &str,
    required: bool,
) -> Result<Option<Secret>, String> {
    match (inline.is_empty(), file.is_empty()) {
        (false, false) => Err(format!(
            "{name}: at most one of {name} & {name}_file must be configured"
        )),
        (true, true) if required => Err(format!(
            "{name}: one of {name} or {name}_file must be configured"
        )),
        (true, true) => Ok(None),
        (false, true) => Ok(Some(Secret(inline.to_string()))),
        (true, false) => {
            let p: PathBuf = dir.join(file);
            let text = std::fs::read_to_string(&p)
                .map_err(|e| format!("{name}_file: unable to read {}: {e}", p.display()))?;
            let text = text.trim_end_matches(['\n', '\r']).to_string();
            if text.is_empty() {
                return Err(format!("{name}_file: {} is empty", p.display()));
            }
            Ok(Some(Secret(text)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Chatops, String> {
        parse(
            text,
            "chatops.yml",
            Some(&["team".to_string(), "ops".to_string()]),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_whole_file_loads_with_defaults() {
        let c = check(
            "token_ttl: 12h\nslack:\n  bot_token: xoxb-1\n  signing_secret: s3cr3t\ntelegram:\n  bot_token: 1:abc\n  secret_token: Abc_123-x\nreceivers:\n  - name: team\n    images: true\n    allow:\n      users: ['slack:U024BE7LH', 'telegram:42']\n      teams: ['slack:T1']\n  - name: ops\n    actions: [ack, silence]\n    silence_for: [30m]\n    allow: {anyone: true}\ncommands:\n  allow:\n    users: ['slack:U1']\n",
        )
        .unwrap();
        let cmd = c.commands.as_ref().unwrap();
        assert!(cmd.permits("slack", "U1", None) && !cmd.permits("slack", "U2", None));
        assert!(check("").unwrap().commands.is_none());
        assert_eq!(c.token_ttl, Duration::from_secs(12 * 3600));
        let s = c.slack.as_ref().unwrap();
        assert_eq!(s.api_url, "https://slack.com/api/");
        assert_eq!(s.command, "/watchfire");
        assert_eq!(format!("{:?}", s.signing_secret), "<secret>");
        let team = c.receiver("team").unwrap();
        assert_eq!(team.actions.len(), 5);
        assert_eq!(team.silence_for.len(), 3);
        assert_eq!(team.image_range, Duration::from_secs(3 * 3600));
        assert!(team.allow.permits("slack", "U024BE7LH", None));
        assert!(team.allow.permits("slack", "U999", Some("T1")));
        assert!(!team.allow.permits("telegram", "U024BE7LH", None));
        let ops = c.receiver("ops").unwrap();
        assert_eq!(ops.actions.iter().collect::<Vec<_>>(), ["ack", "silence"]);
        assert!(ops.allow.permits("discord", "anyone", None));
        assert_eq!(c.chats(), ["slack", "telegram"]);
        assert!(check("").unwrap().receivers.is_empty());
    }

    #[test]
    fn secrets_come_from_files_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "xoxb-from-file\n").unwrap();
        std::fs::write(dir.path().join("secret"), "s\n").unwrap();
        let file = dir.path().join("chatops.yml");
        let c = parse(
            "slack:\n  bot_token_file: token\n  signing_secret_file: secret\n",
            file.to_str().unwrap(),
            None,
        )
        .unwrap();
        assert_eq!(c.slack.unwrap().bot_token.0, "xoxb-from-file");
    }

    #[test]
    fn mistakes_get_file_line_and_reason() {
        let cases: &[(&str, &str)] = &[
            ("slack:\n  bot_tokn: x\n", "chatops.yml:2: slack.bot_tokn: unknown field `bot_tokn`, expected one of"),
            (
                "slack:\n  bot_token: a\n  bot_token_file: b\n  signing_secret: s\n",
                "chatops.yml:2: slack.bot_token: at most one of bot_token & bot_token_file must be configured",
            ),
            (
                "slack:\n  bot_token: a\n",
                "slack.signing_secret: one of signing_secret or signing_secret_file must be configured",
            ),
            (
                "slack:\n  bot_token: a\n  signing_secret: s\n  command: watchfire\n",
                "chatops.yml:4: slack.command: \"watchfire\" is not a slash command",
            ),
            (
                "slack:\n  bot_token: a\n  signing_secret: s\n  bot_token_file: /nonexistent/x\n",
                "at most one of bot_token & bot_token_file",
            ),
            (
                "discord:\n  application_id: '1'\n  public_key: abc\n",
                "chatops.yml:3: discord.public_key: the application's public key: want 64 hex digits",
            ),
            (
                "telegram:\n  bot_token: t\n  secret_token: 'has space'\n",
                "chatops.yml:3: telegram.secret_token: character 4 is not one of A-Z",
            ),
            ("token_ttl: 10s\n", "chatops.yml:1: token_ttl: must be from 1m to 30d"),
            (
                "slack:\n  bot_token: a\n  signing_secret: s\n  app_token: xoxb-1\n",
                "chatops.yml:4: slack.app_token: an app-level token begins with xapp-",
            ),
            (
                "commands:\n  allow: {users: []}\n",
                "chatops.yml:2: commands.allow: say who may act",
            ),
            (
                "mattermost:\n  action_secret: short\n",
                "chatops.yml:2: mattermost.action_secret: use at least 16 characters",
            ),
            (
                "receivers:\n  - name: team\n    allow: {anyone: true}\n  - name: nobody\n    allow: {anyone: true}\n",
                "chatops.yml:4: receivers[1]: receiver \"nobody\" is not a receiver of the Alertmanager configuration",
            ),
            (
                "receivers:\n  - name: team\n",
                "chatops.yml:2: receivers[0]: allow: say who may act",
            ),
            (
                "receivers:\n  - name: team\n    allow: {users: [U1]}\n",
                "receivers[0]: allow: \"U1\" is not chat:id",
            ),
            (
                "receivers:\n  - name: team\n    actions: [ack, page]\n    allow: {anyone: true}\n",
                "receivers[0]: actions: \"page\" is not one of ack, unack, silence, snooze, graph",
            ),
            (
                "receivers:\n  - name: team\n    snooze_for: [soon]\n    allow: {anyone: true}\n",
                "receivers[0]: snooze_for: \"soon\"",
            ),
            (
                "receivers:\n  - name: team\n    allow: {anyone: true}\n  - name: team\n    allow: {anyone: true}\n",
                "receivers[1]: receiver \"team\" is named twice",
            ),
        ];
        for (text, want) in cases {
            let got = check(text).unwrap_err();
            assert!(got.contains(want), "{text}\n got: {got}\nwant: {want}");
            assert!(!got.contains("s3cr3t"));
        }
    }
}
