//! Request verifiers for chat callbacks: is this request really from the
//! chat? Pure functions over the raw request parts (header values as
//! received, the body bytes before any parsing, the time passed in), each
//! returning `Ok(())` or a [`Refusal`] whose [`Refusal::reason`] is a
//! metric label and whose [`Refusal::status`] is the HTTP status to
//! answer with.
//!
//! | chat | function | what is checked |
//! |------|----------|-----------------|
//! | Slack | [`slack`] | `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{body}` keyed by the signing secret; the timestamp is within [`SLACK_MAX_SKEW_S`] of now, either way |
//! | Discord | [`discord`] | `X-Signature-Ed25519` (hex, 64 bytes) is an Ed25519 signature of `X-Signature-Timestamp` followed by the body, under the application's public key; checked with `verify_strict` |
//! | Telegram | [`telegram`] | `X-Telegram-Bot-Api-Secret-Token` equals the `secret_token` given to `setWebhook` |
//! | Mattermost | [`mattermost_command`] | a slash command's `Authorization: Token <token>` carries the command's token |
//! | Mattermost | [`mattermost_action`] | an attachment action's `context.sig` is the hex HMAC-SHA256 of `{token}:{action}` keyed by the action secret |
//!
//! Sources: Slack's "Verifying requests from Slack"
//! (<https://api.slack.com/authentication/verifying-requests-from-slack>),
//! Discord's "Interactions overview", section "Setting up an endpoint:
//! validating security request headers"
//! (<https://discord.com/developers/docs/interactions/overview>), the
//! Telegram Bot API's `setWebhook`
//! (<https://core.telegram.org/bots/api#setwebhook>) and Mattermost's
//! "Slash commands" (<https://developers.mattermost.com/integrate/slash-commands/>).
//!
//! Secrets and tokens are compared in constant time (HMAC tags through
//! `hmac`'s `verify_slice`, tokens through [`constant_time_eq`]); only
//! their length can show in the timing. A refusal's message never holds
//! the secret, nor any header value, so it can be logged as it is.
//!
//! Discord's timestamp is signed but not checked for freshness: Discord's
//! documentation asks only for the signature, and the verifier has no
//! clock. Mattermost's attachment actions carry their proof in the
//! action's `context`, which Mattermost's server keeps from clients and
//! sends back with each use, not in a header; [`mattermost_action`] checks
//! it once the body is read as JSON, before anything else in it is used.
//!
//! Statuses ([`Refusal::status`]): a refusal is 401 Unauthorized unless
//! the table says otherwise.
//!
//! | refusal | Slack | Discord | Telegram | Mattermost |
//! |---------|-------|---------|----------|------------|
//! | `malformed` | 400 | 401 | 400 | 400 |
//! | `misconfigured` | 500 | 500 | 500 | 500 |
//!
//! Discord's documentation says to answer 401 when the signature headers
//! do not validate, and Discord probes the endpoint with bad signatures,
//! so everything a request can get wrong is 401 there. Slack's guide
//! names no status; 401 says the request did not prove where it came
//! from, 400 that a header is not of the form Slack sends. Telegram
//! repeats a request answered with anything but 2xx, which matters only
//! while the configured secret and the one given to `setWebhook`
//! differ. A `misconfigured` refusal is Watchfire's fault, not the
//! request's, hence 500.
//!
//! ```
//! use alerter::chatops::verify::{self, Chat};
//!
//! let got = verify::telegram(b"s3cret", Some("guess"));
//! let refusal = got.unwrap_err();
//! assert_eq!(refusal.reason(), "bad_token");
//! assert_eq!(refusal.status(Chat::Telegram), http::StatusCode::UNAUTHORIZED);
//! assert!(verify::telegram(b"s3cret", Some("s3cret")).is_ok());
//! ```

use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use http::StatusCode;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Slack's timestamp header.
pub const SLACK_TIMESTAMP: &str = "X-Slack-Request-Timestamp";
/// Slack's signature header.
pub const SLACK_SIGNATURE: &str = "X-Slack-Signature";
/// Discord's timestamp header.
pub const DISCORD_TIMESTAMP: &str = "X-Signature-Timestamp";
/// Discord's signature header.
pub const DISCORD_SIGNATURE: &str = "X-Signature-Ed25519";
/// Telegram's secret token header.
pub const TELEGRAM_SECRET: &str = "X-Telegram-Bot-Api-Secret-Token";
/// The header a Mattermost slash command carries its token in.
pub const MATTERMOST_AUTHORIZATION: &str = "Authorization";

/// How far, in seconds and either way, a Slack request's timestamp may be
/// from now: Slack's guide refuses anything more than five minutes off.
pub const SLACK_MAX_SKEW_S: u64 = 300;

/// The longest `secret_token` Telegram's `setWebhook` takes.
pub const TELEGRAM_SECRET_MAX_LEN: usize = 256;

/// The chat a callback claims to come from; the status a refusal is
/// answered with depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chat {
    Slack,
    Discord,
    Telegram,
    Mattermost,
}

impl Chat {
    /// The chat's name as a metric label, the same as the receiver
    /// integration's.
    pub fn name(self) -> &'static str {
        match self {
            Chat::Slack => "slack",
            Chat::Discord => "discord",
            Chat::Telegram => "telegram",
            Chat::Mattermost => "mattermost",
        }
    }

    /// The chat's name as people write it.
    pub fn title(self) -> &'static str {
        match self {
            Chat::Slack => "Slack",
            Chat::Discord => "Discord",
            Chat::Telegram => "Telegram",
            Chat::Mattermost => "Mattermost",
        }
    }
}

/// Why a callback was refused. Holds no secret and no header value: the
/// message is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A header the chat always sends is absent.
    #[error("the request has no {0} header")]
    MissingHeader(&'static str),
    /// A header is present but not of the form the chat sends.
    #[error("the {header} header {problem}")]
    Malformed {
        header: &'static str,
        problem: &'static str,
    },
    /// The signed timestamp is too far from now: a replay, or a clock
    /// that is off.
    #[error("the request timestamp is {skew_s} s from now, more than the {max_s} s allowed")]
    Stale { skew_s: u64, max_s: u64 },
    /// The signature is well formed but does not verify.
    #[error("the request signature does not verify")]
    BadSignature,
    /// The shared token differs from the configured one.
    #[error("the request token does not match the configured one")]
    BadToken,
    /// The configured secret or key cannot verify anything; every request
    /// is refused until the configuration is fixed.
    #[error("{0}")]
    Misconfigured(&'static str),
}

impl Refusal {
    /// The reason as a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::MissingHeader(_) => "missing_header",
            Refusal::Malformed { .. } => "malformed",
            Refusal::Stale { .. } => "stale",
            Refusal::BadSignature => "bad_signature",
            Refusal::BadToken => "bad_token",
            Refusal::Misconfigured(_) => "misconfigured",
        }
    }

    /// The HTTP status to answer `chat` with (the table in the module
    /// documentation says why).
    pub fn status(&self, chat: Chat) -> StatusCode {
        match (self, chat) {
            (Refusal::Misconfigured(_), _) => StatusCode::INTERNAL_SERVER_ERROR,
            (Refusal::Malformed { .. }, Chat::Discord) => StatusCode::UNAUTHORIZED,
            (Refusal::Malformed { .. }, _) => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// Whether `a` and `b` are equal, in time that depends on their length
/// only. Slices of different lengths are unequal.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Verifies a Slack request: the signing secret, the
/// `X-Slack-Request-Timestamp` and `X-Slack-Signature` header values, the
/// raw body and now (Unix seconds).
///
/// The timestamp is checked before the signature, as Slack's guide does:
/// a forged request with an old timestamp is refused as `stale`.
pub fn slack(
    signing_secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_s: i64,
) -> Result<(), Refusal> {
    if signing_secret.is_empty() {
        return Err(Refusal::Misconfigured("the Slack signing secret is empty"));
    }
    let timestamp = timestamp.ok_or(Refusal::MissingHeader(SLACK_TIMESTAMP))?;
    let signature = signature.ok_or(Refusal::MissingHeader(SLACK_SIGNATURE))?;
    let sent_s = unix_seconds(timestamp).ok_or(Refusal::Malformed {
        header: SLACK_TIMESTAMP,
        problem: "is not a whole number of seconds",
    })?;
    let skew_s = now_s.abs_diff(sent_s);
    if skew_s > SLACK_MAX_SKEW_S {
        return Err(Refusal::Stale {
            skew_s,
            max_s: SLACK_MAX_SKEW_S,
        });
    }
    let malformed = Refusal::Malformed {
        header: SLACK_SIGNATURE,
        problem: "is not v0= followed by 64 hex digits",
    };
    let hex_tag = signature.strip_prefix("v0=").ok_or(malformed.clone())?;
    let mut tag = [0u8; 32];
    hex::decode_to_slice(hex_tag, &mut tag).map_err(|_| malformed)?;
    // HMAC takes a key of any length, so this refusal is never seen.
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_secret)
        .map_err(|_| Refusal::Misconfigured("the Slack signing secret cannot key HMAC-SHA256"))?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| Refusal::BadSignature)
}

/// Verifies a use of a Mattermost attachment action: `sig` from the
/// action's `context` must be the hex HMAC-SHA256 of `{token}:{action}`
/// keyed by the action secret (see [`super::mattermost::sign`]). An
/// absent or malformed `sig` is a bad signature too: the request proves
/// nothing.
pub fn mattermost_action(
    secret: &[u8],
    token: &str,
    action: &str,
    sig: &str,
) -> Result<(), Refusal> {
    if secret.is_empty() {
        return Err(Refusal::Misconfigured(
            "the Mattermost action secret is empty",
        ));
    }
    let mut tag = [0u8; 32];
    hex::decode_to_slice(sig, &mut tag).map_err(|_| Refusal::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| {
        Refusal::Misconfigured("the Mattermost action secret cannot key HMAC-SHA256")
    })?;
    mac.update(token.as_bytes());
    mac.update(b":");
    mac.update(action.as_bytes());
    mac.verify_slice(&tag).map_err(|_| Refusal::BadSignature)
}

/// Unix seconds from ASCII digits only: no sign, no spaces, no fraction.
fn unix_seconds(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses and checks a Discord application's public key (64 hex digits),
/// for the configuration check. Refuses a weak (small-order) key, which
/// `verify_strict` would refuse on every request. The error says what is
/// wrong, without the key.
pub fn discord_public_key(hex: &str) -> Result<VerifyingKey, String> {
    if hex.len() != 64 {
        return Err(format!(
            "want 64 hex digits (32 bytes), got {} characters",
            hex.len()
        ));
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex, &mut bytes).map_err(|_| "not hex".to_string())?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| "not a point on the Ed25519 curve".to_string())?;
    if key.is_weak() {
        return Err("a weak (small-order) Ed25519 key".to_string());
    }
    Ok(key)
}

/// Verifies a Discord interaction: the application's public key (hex),
/// the `X-Signature-Timestamp` and `X-Signature-Ed25519` header values and
/// the raw body. Discord signs the timestamp followed by the body.
pub fn discord(
    public_key_hex: &str,
    timestamp: Option<&str>,
    signature_hex: Option<&str>,
    body: &[u8],
) -> Result<(), Refusal> {
    let key = discord_public_key(public_key_hex).map_err(|_| {
        Refusal::Misconfigured("the Discord public key is not valid (see the configuration check)")
    })?;
    let timestamp = timestamp.ok_or(Refusal::MissingHeader(DISCORD_TIMESTAMP))?;
    let signature_hex = signature_hex.ok_or(Refusal::MissingHeader(DISCORD_SIGNATURE))?;
    let mut signature = [0u8; 64];
    hex::decode_to_slice(signature_hex, &mut signature).map_err(|_| Refusal::Malformed {
        header: DISCORD_SIGNATURE,
        problem: "is not 128 hex digits (64 bytes)",
    })?;
    let signature = Signature::from_bytes(&signature);
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(body);
    key.verify_strict(&message, &signature)
        .map_err(|_| Refusal::BadSignature)
}

/// Checks a Telegram `secret_token` for the configuration check: 1 to 256
/// characters, each of `A-Z`, `a-z`, `0-9`, `_` and `-`, as `setWebhook`
/// requires. The error says what is wrong, without the secret.
pub fn telegram_secret_ok(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!(
            "empty; want 1 to {TELEGRAM_SECRET_MAX_LEN} characters"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if let Some(at) = s.chars().position(|c| !allowed(c)) {
        return Err(format!(
            "character {} is not one of A-Z, a-z, 0-9, _ and -",
            at + 1
        ));
    }
    // Only ASCII is left, so bytes are characters.
    if s.len() > TELEGRAM_SECRET_MAX_LEN {
        return Err(format!(
            "{} characters long; at most {TELEGRAM_SECRET_MAX_LEN} are allowed",
            s.len()
        ));
    }
    Ok(())
}

/// Verifies a Telegram webhook request: the configured secret and the
/// `X-Telegram-Bot-Api-Secret-Token` header value.
pub fn telegram(secret: &[u8], header: Option<&str>) -> Result<(), Refusal> {
    if secret.is_empty() {
        return Err(Refusal::Misconfigured("the Telegram secret token is empty"));
    }
    let got = header.ok_or(Refusal::MissingHeader(TELEGRAM_SECRET))?;
    if constant_time_eq(got.as_bytes(), secret) {
        Ok(())
    } else {
        Err(Refusal::BadToken)
    }
}

/// Verifies a Mattermost slash command: the command's token and the
/// `Authorization` header value, `Token <token>`. The scheme is matched
/// without regard to case, as HTTP's authentication schemes are.
pub fn mattermost_command(token: &[u8], authorization: Option<&str>) -> Result<(), Refusal> {
    if token.is_empty() {
        return Err(Refusal::Misconfigured(
            "the Mattermost slash command token is empty",
        ));
    }
    let authorization = authorization.ok_or(Refusal::MissingHeader(MATTERMOST_AUTHORIZATION))?;
    let malformed = Refusal::Malformed {
        header: MATTERMOST_AUTHORIZATION,
        problem: "is not \"Token\" followed by the token",
    };
    let (scheme, credential) = authorization.split_once(' ').ok_or(malformed.clone())?;
    if !scheme.eq_ignore_ascii_case("Token") {
        return Err(malformed);
    }
    let credential = credential.trim_matches([' ', '\t']);
    if constant_time_eq(credential.as_bytes(), token) {
        Ok(())
    } else {
        Err(Refusal::BadToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (case, secret, timestamp, signature, body, now, want)
    #[rustfmt::skip]
    type SlackCase<'a> = (&'a str, &'a [u8], Option<&'a str>, Option<&'a str>, &'a [u8], i64, Refusal);
    /// (case, public key, timestamp, signature, body, want)
    #[rustfmt::skip]
    type DiscordCase<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a [u8], Refusal);
    /// (case, configured secret, header, want)
    type TokenCase<'a> = (&'a str, &'a [u8], Option<&'a str>, Result<(), Refusal>);

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test vector is hex")
    }

    // Slack's worked example in "Verifying requests from Slack"
    // (https://api.slack.com/authentication/verifying-requests-from-slack):
    // signing secret, timestamp, body and the signature it gives.
    const SLACK_SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TS: &str = "1531420618";
    const SLACK_TS_S: i64 = 1_531_420_618;
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slack_accepts_the_documented_example_within_five_minutes() {
        // The tag is bytes: upper-case hex names the same ones.
        let upper = format!("v0={}", SLACK_SIG[3..].to_ascii_uppercase());
        let now = SLACK_TS_S;
        for (sig, now) in [
            (SLACK_SIG, now),
            (SLACK_SIG, now - 300),
            (SLACK_SIG, now + 300),
            (&upper, now),
        ] {
            let got = slack(
                SLACK_SECRET,
                Some(SLACK_TS),
                Some(sig),
                SLACK_BODY.as_bytes(),
                now,
            );
            assert_eq!(
                got,
                Ok(()),
                "signature {sig} at {now}: got {got:?}, want Ok"
            );
        }
    }

    #[test]
    fn slack_refusals() {
        let malformed_ts = Refusal::Malformed {
            header: SLACK_TIMESTAMP,
            problem: "is not a whole number of seconds",
        };
        let malformed_sig = Refusal::Malformed {
            header: SLACK_SIGNATURE,
            problem: "is not v0= followed by 64 hex digits",
        };
        let stale = |skew_s| Refusal::Stale { skew_s, max_s: 300 };
        let empty = Refusal::Misconfigured("the Slack signing secret is empty");
        let (secret, ts, sig, body, now) = (
            SLACK_SECRET,
            SLACK_TS,
            SLACK_SIG,
            SLACK_BODY.as_bytes(),
            SLACK_TS_S,
        );
        let mut flipped = body.to_vec();
        flipped[0] ^= 1;
        let ts_plus_1 = (now + 1).to_string();
        let far = i64::MAX.to_string();
        let sig_66 = format!("{sig}00");
        let sig_v1 = sig.replacen("v0=", "v1=", 1);
        let sig_nonhex = sig.replacen('a', "g", 1);
        let sig_wrong = sig.replacen('a', "b", 1);
        // A multi-byte character in the hex must be refused, not split.
        let sig_utf8 = format!("v0={}", "é".repeat(32));
        #[rustfmt::skip]
        let cases: Vec<SlackCase> = vec![
            ("empty secret", b"", Some(ts), Some(sig), body, now, empty),
            ("no timestamp", secret, None, Some(sig), body, now, Refusal::MissingHeader(SLACK_TIMESTAMP)),
            ("no signature", secret, Some(ts), None, body, now, Refusal::MissingHeader(SLACK_SIGNATURE)),
            ("empty timestamp", secret, Some(""), Some(sig), body, now, malformed_ts.clone()),
            ("word timestamp", secret, Some("yesterday"), Some(sig), body, now, malformed_ts.clone()),
            ("signed timestamp", secret, Some("+1531420618"), Some(sig), body, now, malformed_ts.clone()),
            ("negative timestamp", secret, Some("-1531420618"), Some(sig), body, now, malformed_ts.clone()),
            ("fractional timestamp", secret, Some("1531420618.5"), Some(sig), body, now, malformed_ts.clone()),
            ("spaced timestamp", secret, Some(" 1531420618"), Some(sig), body, now, malformed_ts.clone()),
            ("overflowing timestamp", secret, Some("99999999999999999999"), Some(sig), body, now, malformed_ts),
            ("301 s late", secret, Some(ts), Some(sig), body, now + 301, stale(301)),
            ("301 s early", secret, Some(ts), Some(sig), body, now - 301, stale(301)),
            ("now at i64::MIN", secret, Some(&far), Some(sig), body, i64::MIN, stale(u64::MAX)),
            ("now at 0", secret, Some(ts), Some(sig), body, 0, stale(1_531_420_618)),
            ("no v0= prefix", secret, Some(ts), Some(&sig[3..]), body, now, malformed_sig.clone()),
            ("v1= prefix", secret, Some(ts), Some(&sig_v1), body, now, malformed_sig.clone()),
            ("63 hex digits", secret, Some(ts), Some(&sig[..sig.len() - 1]), body, now, malformed_sig.clone()),
            ("66 hex digits", secret, Some(ts), Some(&sig_66), body, now, malformed_sig.clone()),
            ("not hex", secret, Some(ts), Some(&sig_nonhex), body, now, malformed_sig.clone()),
            ("multi-byte characters", secret, Some(ts), Some(&sig_utf8), body, now, malformed_sig.clone()),
            ("empty signature", secret, Some(ts), Some(""), body, now, malformed_sig),
            ("one digit changed", secret, Some(ts), Some(&sig_wrong), body, now, Refusal::BadSignature),
            ("body changed", secret, Some(ts), Some(sig), &flipped, now, Refusal::BadSignature),
            ("empty body", secret, Some(ts), Some(sig), b"", now, Refusal::BadSignature),
            ("timestamp changed", secret, Some(&ts_plus_1), Some(sig), body, now, Refusal::BadSignature),
            ("other secret", b"8f742231b10e8888abcd99yyyzzz85a6", Some(ts), Some(sig), body, now, Refusal::BadSignature),
        ];
        for (name, secret, ts, sig, body, now, want) in cases {
            let got = slack(secret, ts, sig, body, now);
            assert_eq!(
                got,
                Err(want.clone()),
                "{name}: timestamp {ts:?} signature {sig:?} now {now}: got {got:?}, want {want:?}"
            );
        }
    }

    /// One RFC 8032 section 7.1 test vector (Ed25519), all hex.
    struct Rfc8032 {
        name: &'static str,
        public: &'static str,
        message: &'static str,
        signature: &'static str,
    }

    // RFC 8032 "Edwards-Curve Digital Signature Algorithm (EdDSA)",
    // section 7.1 (https://www.rfc-editor.org/rfc/rfc8032#section-7.1),
    // TESTs 1, 2, 3 and 1024. Cross-checked before they were written here:
    // OpenSSL (Python's `cryptography`) derives each PUBLIC KEY from its
    // SECRET KEY and signs each MESSAGE to exactly this SIGNATURE.
    const RFC8032: &[Rfc8032] = &[
        Rfc8032 {
            name: "TEST 1",
            public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            message: "",
            signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        },
        Rfc8032 {
            name: "TEST 2",
            public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            message: "72",
            signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        },
        Rfc8032 {
            name: "TEST 3",
            public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            message: "af82",
            signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        },
        Rfc8032 {
            name: "TEST 1024",
            public: "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
            message: concat!(
                "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98",
                "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8",
                "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d",
                "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc",
                "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe",
                "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e",
                "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef",
                "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7",
                "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1",
                "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2",
                "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24",
                "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270",
                "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc",
                "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07",
                "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba",
                "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a",
                "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e",
                "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7",
                "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c",
                "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8",
                "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df",
                "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08",
                "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649",
                "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4",
                "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3",
                "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e",
                "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f",
                "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5",
                "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1",
                "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d",
                "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c",
                "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
            ),
            signature: "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
        },
    ];

    #[test]
    fn rfc8032_vectors_have_their_lengths() {
        let want = [
            ("TEST 1", 0),
            ("TEST 2", 1),
            ("TEST 3", 2),
            ("TEST 1024", 1023),
        ];
        for (v, (name, len)) in RFC8032.iter().zip(want) {
            assert_eq!(v.name, name);
            let got = unhex(v.message).len();
            assert_eq!(got, len, "{name}: message is {got} bytes, want {len}");
        }
    }

    #[test]
    fn discord_verifies_rfc8032_vectors_as_timestamp_then_body() {
        for v in RFC8032 {
            let message = unhex(v.message);
            // Discord signs timestamp || body: every split of the message
            // whose first part is text must verify, the empty one first.
            let splits = (0..=message.len())
                .filter(|&at| std::str::from_utf8(&message[..at]).is_ok())
                .take(3);
            for at in splits {
                let (ts, body) = message.split_at(at);
                let ts = std::str::from_utf8(ts).expect("filtered to text");
                let got = discord(v.public, Some(ts), Some(v.signature), body);
                assert_eq!(
                    got,
                    Ok(()),
                    "{}: timestamp {ts:?} and {} body bytes: got {got:?}, want Ok",
                    v.name,
                    body.len()
                );
            }
        }
    }

    #[test]
    fn discord_refusals() {
        let (t1, t2) = (&RFC8032[0], &RFC8032[1]);
        let malformed = Refusal::Malformed {
            header: DISCORD_SIGNATURE,
            problem: "is not 128 hex digits (64 bytes)",
        };
        let misconfigured = Refusal::Misconfigured(
            "the Discord public key is not valid (see the configuration check)",
        );
        let flip = |bit: usize| {
            let mut sig = unhex(t2.signature);
            sig[bit / 8] ^= 1 << (bit % 8);
            hex::encode(sig)
        };
        // A bit of R, a bit of S, and S's top bit (which makes S not
        // canonical): none may verify.
        let (flipped_r, flipped_s, flipped_top) = (flip(0), flip(256), flip(511));
        // TEST 1's S plus the group order L: the same scalar mod L but not
        // canonical, which RFC 8032 section 5.1.7 says to reject.
        let s_plus_l = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901554c8c7872aa064e049dbb3013fbf29380d25bf5f0595bbe24655141438e7a101b";
        let sig = t2.signature;
        let long = format!("{sig}00");
        let nonhex = format!("zz{}", &sig[2..]);
        let prefixed = format!("0x{}", &sig[2..]);
        let utf8 = "é".repeat(64);
        #[rustfmt::skip]
        let cases: Vec<DiscordCase> = vec![
            ("bad key", "d75a98", Some(""), Some(t1.signature), b"", misconfigured.clone()),
            ("empty key", "", Some(""), Some(t1.signature), b"", misconfigured),
            ("no timestamp", t2.public, None, Some(sig), b"r", Refusal::MissingHeader(DISCORD_TIMESTAMP)),
            ("no signature", t2.public, Some(""), None, b"r", Refusal::MissingHeader(DISCORD_SIGNATURE)),
            ("flipped bit in R", t2.public, Some(""), Some(&flipped_r), b"r", Refusal::BadSignature),
            ("flipped bit in S", t2.public, Some(""), Some(&flipped_s), b"r", Refusal::BadSignature),
            ("flipped top bit of S", t2.public, Some(""), Some(&flipped_top), b"r", Refusal::BadSignature),
            ("S + L", t1.public, Some(""), Some(s_plus_l), b"", Refusal::BadSignature),
            ("other body", t2.public, Some(""), Some(sig), b"s", Refusal::BadSignature),
            ("message in both parts", t2.public, Some("r"), Some(sig), b"r", Refusal::BadSignature),
            ("empty body", t2.public, Some(""), Some(sig), b"", Refusal::BadSignature),
            ("other key", t1.public, Some(""), Some(sig), b"r", Refusal::BadSignature),
            ("63 bytes", t2.public, Some(""), Some(&sig[..126]), b"r", malformed.clone()),
            ("65 bytes", t2.public, Some(""), Some(&long), b"r", malformed.clone()),
            ("odd hex digits", t2.public, Some(""), Some(&sig[..127]), b"r", malformed.clone()),
            ("not hex", t2.public, Some(""), Some(&nonhex), b"r", malformed.clone()),
            ("0x prefix", t2.public, Some(""), Some(&prefixed), b"r", malformed.clone()),
            ("multi-byte characters", t2.public, Some(""), Some(&utf8), b"r", malformed.clone()),
            ("empty signature", t2.public, Some(""), Some(""), b"r", malformed),
        ];
        for (name, key, ts, sig, body, want) in cases {
            let got = discord(key, ts, sig, body);
            assert_eq!(
                got,
                Err(want.clone()),
                "{name}: timestamp {ts:?} signature {sig:?}: got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn discord_public_key_check() {
        let ok = RFC8032[0].public;
        let upper = ok.to_ascii_uppercase();
        let not_hex = format!("xx{}", &ok[2..]);
        // y = 2 has no x on the curve: (y² - 1) / (d y² + 1) is not a square.
        let off_curve = format!("02{}", "00".repeat(31));
        // y = 1, x = 0: the identity, of order 1.
        let identity = format!("01{}", "00".repeat(31));
        let utf8 = "é".repeat(32);
        // (case, key, want)
        #[rustfmt::skip]
        let cases: Vec<(&str, &str, Result<(), &str>)> = vec![
            ("RFC 8032 TEST 1 key", ok, Ok(())),
            ("upper-case hex", &upper, Ok(())),
            ("empty", "", Err("want 64 hex digits (32 bytes), got 0 characters")),
            ("63 digits", &ok[..63], Err("want 64 hex digits (32 bytes), got 63 characters")),
            ("not hex", &not_hex, Err("not hex")),
            ("off the curve", &off_curve, Err("not a point on the Ed25519 curve")),
            ("identity point", &identity, Err("a weak (small-order) Ed25519 key")),
            ("multi-byte characters", &utf8, Err("not hex")),
        ];
        for (name, input, want) in cases {
            let got = discord_public_key(input);
            let got = got.as_ref().map(|_| ()).map_err(String::as_str);
            assert_eq!(
                got, want,
                "{name}: key {input:?}: got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn telegram_secret_token() {
        let secret = b"Watchfire_chatops-0123";
        let empty = Refusal::Misconfigured("the Telegram secret token is empty");
        #[rustfmt::skip]
        let cases: Vec<TokenCase> = vec![
            ("same", secret, Some("Watchfire_chatops-0123"), Ok(())),
            ("empty secret", b"", Some(""), Err(empty)),
            ("no header", secret, None, Err(Refusal::MissingHeader(TELEGRAM_SECRET))),
            ("empty header", secret, Some(""), Err(Refusal::BadToken)),
            ("other case", secret, Some("watchfire_chatops-0123"), Err(Refusal::BadToken)),
            ("prefix", secret, Some("Watchfire_chatops-012"), Err(Refusal::BadToken)),
            ("longer", secret, Some("Watchfire_chatops-01234"), Err(Refusal::BadToken)),
            ("padded", secret, Some(" Watchfire_chatops-0123"), Err(Refusal::BadToken)),
        ];
        for (name, secret, header, want) in cases {
            let got = telegram(secret, header);
            assert_eq!(
                got, want,
                "{name}: header {header:?}: got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn telegram_secret_check() {
        let longest = "a".repeat(256);
        let too_long = "a".repeat(257);
        let bad_char = |at| format!("character {at} is not one of A-Z, a-z, 0-9, _ and -");
        // (secret, want)
        #[rustfmt::skip]
        let cases: Vec<(&str, Result<(), String>)> = vec![
            ("a", Ok(())),
            ("AZaz09_-", Ok(())),
            (&longest, Ok(())),
            ("", Err("empty; want 1 to 256 characters".into())),
            (&too_long, Err("257 characters long; at most 256 are allowed".into())),
            ("abc def", Err(bad_char(4))),
            ("abc=", Err(bad_char(4))),
            ("é", Err(bad_char(1))),
            ("aé=", Err(bad_char(2))),
        ];
        for (input, want) in cases {
            let got = telegram_secret_ok(input);
            assert_eq!(got, want, "{input:?}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn mattermost_slash_command_token() {
        // The token in the example request of Mattermost's "Slash commands"
        // (https://developers.mattermost.com/integrate/slash-commands/).
        let token = b"okwexkjpe7ygb8eq1ww58t483w";
        let malformed = Err(Refusal::Malformed {
            header: MATTERMOST_AUTHORIZATION,
            problem: "is not \"Token\" followed by the token",
        });
        let empty = Refusal::Misconfigured("the Mattermost slash command token is empty");
        #[rustfmt::skip]
        let cases: Vec<TokenCase> = vec![
            ("documented header", token, Some("Token okwexkjpe7ygb8eq1ww58t483w"), Ok(())),
            ("scheme in lower case", token, Some("token okwexkjpe7ygb8eq1ww58t483w"), Ok(())),
            ("extra spaces", token, Some("Token   okwexkjpe7ygb8eq1ww58t483w "), Ok(())),
            ("empty token", b"", Some("Token "), Err(empty)),
            ("no header", token, None, Err(Refusal::MissingHeader(MATTERMOST_AUTHORIZATION))),
            ("other token", token, Some("Token okwexkjpe7ygb8eq1ww58t483x"), Err(Refusal::BadToken)),
            ("no token", token, Some("Token "), Err(Refusal::BadToken)),
            ("token twice", token, Some("Token okwexkjpe7ygb8eq1ww58t483w okwexkjpe7ygb8eq1ww58t483w"), Err(Refusal::BadToken)),
            ("bearer scheme", token, Some("Bearer okwexkjpe7ygb8eq1ww58t483w"), malformed.clone()),
            ("no space", token, Some("Tokenokwexkjpe7ygb8eq1ww58t483w"), malformed.clone()),
            ("scheme only", token, Some("Token"), malformed.clone()),
            ("token only", token, Some("okwexkjpe7ygb8eq1ww58t483w"), malformed.clone()),
            ("empty header", token, Some(""), malformed),
        ];
        for (name, token, header, want) in cases {
            let got = mattermost_command(token, header);
            assert_eq!(
                got, want,
                "{name}: header {header:?}: got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn constant_time_eq_compares_any_lengths() {
        #[rustfmt::skip]
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"", b"", true), (b"abc", b"abc", true), (b"abc", b"abd", false),
            (b"abc", b"ab", false), (b"", b"a", false), (b"a", b"", false),
        ];
        for &(a, b, want) in cases {
            let got = constant_time_eq(a, b);
            assert_eq!(got, want, "{a:?} vs {b:?}: got {got}, want {want}");
        }
    }

    #[test]
    fn refusal_labels_statuses_and_messages() {
        use StatusCode as S;
        let malformed = Refusal::Malformed {
            header: SLACK_TIMESTAMP,
            problem: "is not a whole number of seconds",
        };
        let (s401, s400, s500) = (S::UNAUTHORIZED, S::BAD_REQUEST, S::INTERNAL_SERVER_ERROR);
        // (refusal, label, statuses for Slack, Discord, Telegram and
        // Mattermost, message)
        #[rustfmt::skip]
        let cases: Vec<(Refusal, &str, [S; 4], &str)> = vec![
            (Refusal::MissingHeader(SLACK_SIGNATURE), "missing_header", [s401; 4],
             "the request has no X-Slack-Signature header"),
            (malformed, "malformed", [s400, s401, s400, s400],
             "the X-Slack-Request-Timestamp header is not a whole number of seconds"),
            (Refusal::Stale { skew_s: 301, max_s: 300 }, "stale", [s401; 4],
             "the request timestamp is 301 s from now, more than the 300 s allowed"),
            (Refusal::BadSignature, "bad_signature", [s401; 4],
             "the request signature does not verify"),
            (Refusal::BadToken, "bad_token", [s401; 4],
             "the request token does not match the configured one"),
            (Refusal::Misconfigured("the Telegram secret token is empty"), "misconfigured", [s500; 4],
             "the Telegram secret token is empty"),
        ];
        let chats = [Chat::Slack, Chat::Discord, Chat::Telegram, Chat::Mattermost];
        for (refusal, label, statuses, message) in cases {
            assert_eq!(refusal.reason(), label, "{refusal:?}: label");
            assert_eq!(refusal.to_string(), message, "{refusal:?}: message");
            for (chat, want) in chats.into_iter().zip(statuses) {
                let got = refusal.status(chat);
                let chat = chat.name();
                assert_eq!(got, want, "{refusal:?} from {chat}: got {got}, want {want}");
            }
        }
    }

    #[test]
    fn messages_never_hold_the_secret_or_header_values() {
        let secret = "Sup3rSecretValue";
        let sent = "AttackerSentThis";
        let token = format!("Token {sent}");
        let (t1, key) = (RFC8032[0].signature, RFC8032[0].public);
        let refusals = [
            slack(secret.as_bytes(), Some(sent), Some(SLACK_SIG), b"", 0),
            slack(
                secret.as_bytes(),
                Some(SLACK_TS),
                Some(sent),
                b"",
                SLACK_TS_S,
            ),
            slack(
                secret.as_bytes(),
                Some(SLACK_TS),
                Some(SLACK_SIG),
                sent.as_bytes(),
                SLACK_TS_S,
            ),
            discord(key, Some(sent), Some(sent), b""),
            discord(key, Some(sent), Some(t1), sent.as_bytes()),
            telegram(secret.as_bytes(), Some(sent)),
            mattermost_command(secret.as_bytes(), Some(sent)),
            mattermost_command(secret.as_bytes(), Some(&token)),
        ];
        for got in refusals {
            let refusal = got.expect_err("every request above is refused");
            let message = refusal.to_string();
            let debug = format!("{refusal:?}");
            for leak in [secret, sent] {
                assert!(
                    !message.contains(leak) && !debug.contains(leak),
                    "{refusal:?}: message {message:?} holds {leak:?}"
                );
            }
        }
    }
}
