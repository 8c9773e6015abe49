//! Email over SMTP, through lettre's connection, in upstream's order
//! (`notify/email`): connect (implicit TLS on port 465 or with
//! `force_implicit_tls`), EHLO with `hello`, STARTTLS when `require_tls`
//! (an error if the server does not offer it), AUTH when a username is set
//! and the server offers AUTH (CRAM-MD5 is not available: PLAIN, then
//! LOGIN), then one message: the configured headers (templated, `Subject`,
//! `To` and `From` by default), `Message-Id`, the thread's `References`
//! and `In-Reply-To` with `threading` (dates in UTC), `Date`, and a
//! `multipart/alternative` body of the text part then the HTML part.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::message::Mailboxes;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, Identity, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Address;

use super::{secret_or_file, Render, Sender};
use crate::notify::SendError;
use crate::receiver::EmailConfig;
use crate::runtime::Delivery;

const TIMEOUT: Duration = Duration::from_secs(30);

fn retry(message: String) -> SendError {
    SendError {
        message,
        retry: true,
    }
}

fn fail(message: String) -> SendError {
    SendError {
        message,
        retry: false,
    }
}

/// Sends `d` as one email.
pub async fn send(s: &Sender, c: &EmailConfig, d: &Delivery, now: i64) -> Result<(), SendError> {
    let mut r = s.render(d, now);
    let message = compose(&mut r, c, d, now)?;
    let (host, port) = split_host_port(&c.smarthost)?;
    let tls = tls_parameters(c, &host)?;
    let implicit = port == 465 || c.force_implicit_tls == Some(true);
    let hello = ClientId::Domain(if c.hello.is_empty() {
        "localhost".into()
    } else {
        c.hello.clone()
    });
    let mut conn = AsyncSmtpConnection::connect_tokio1(
        (host.as_str(), port),
        Some(TIMEOUT),
        &hello,
        if implicit { Some(tls.clone()) } else { None },
        None,
    )
    .await
    .map_err(|e| retry(format!("establish connection to server: {e}")))?;
    let result = session(&mut conn, c, &host, tls, implicit, &hello, &message).await;
    match &result {
        Ok(()) => {
            let _ = conn.quit().await;
        }
        Err(_) => conn.abort().await,
    }
    result
}

async fn session(
    conn: &mut AsyncSmtpConnection,
    c: &EmailConfig,
    host: &str,
    tls: TlsParameters,
    implicit: bool,
    hello: &ClientId,
    m: &Composed,
) -> Result<(), SendError> {
    if !implicit && c.require_tls != Some(false) {
        if !conn.can_starttls() {
            return Err(retry(format!(
                "'require_tls' is true (default) but {:?} does not advertise the STARTTLS extension",
                c.smarthost
            )));
        }
        conn.starttls(tls, hello)
            .await
            .map_err(|e| retry(format!("send STARTTLS command: {e}")))?;
    }
    authenticate(conn, c, host).await?;
    conn.send(&m.envelope, &m.bytes)
        .await
        .map_err(|e| retry(format!("send message: {e}")))?;
    Ok(())
}

/// Upstream's `auth`: nothing without a username or without AUTH on
/// offer; otherwise the first mechanism the server lists that the
/// configuration has a secret for.
async fn authenticate(
    conn: &mut AsyncSmtpConnection,
    c: &EmailConfig,
    host: &str,
) -> Result<(), SendError> {
    if c.auth_username.is_empty() {
        return Ok(());
    }
    let info = conn.server_info();
    let offered: Vec<Mechanism> = [Mechanism::Plain, Mechanism::Login]
        .into_iter()
        .filter(|m| info.supports_auth_mechanism(*m))
        .collect();
    if offered.is_empty() {
        // The server offers no AUTH, or only mechanisms lettre lacks.
        tracing::debug!(smarthost = %c.smarthost, "the SMTP server offers no PLAIN or LOGIN authentication; sending without");
        return Ok(());
    }
    let password = secret_or_file(&c.auth_password, &c.auth_password_file)?;
    if password.is_empty() {
        return Err(fail(format!(
            "missing password for {} auth mechanism",
            offered[0]
        )));
    }
    // Go's PlainAuth refuses to send a password in clear to anything but
    // the local host.
    if offered[0] == Mechanism::Plain
        && !conn.is_encrypted()
        && !matches!(host, "localhost" | "127.0.0.1" | "::1")
    {
        return Err(fail("PLAIN auth: unencrypted connection".into()));
    }
    conn.auth(
        &offered,
        &Credentials::new(c.auth_username.clone(), password),
    )
    .await
    .map(|_| ())
    .map_err(|e| retry(format!("{} auth: {e}", offered[0])))
}

fn split_host_port(smarthost: &str) -> Result<(String, u16), SendError> {
    let (host, port) = smarthost
        .rsplit_once(':')
        .ok_or_else(|| fail(format!("smarthost {smarthost:?}: missing port")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port
        .parse()
        .map_err(|_| fail(format!("smarthost {smarthost:?}: bad port")))?;
    Ok((host.to_string(), port))
}

fn tls_parameters(c: &EmailConfig, host: &str) -> Result<TlsParameters, SendError> {
    let t = c.tls_config.clone().unwrap_or_default();
    let name = if t.server_name.is_empty() {
        host.to_string()
    } else {
        t.server_name.clone()
    };
    let read = |inline: &str, file: &str| -> Result<Option<Vec<u8>>, SendError> {
        if !inline.is_empty() {
            return Ok(Some(inline.as_bytes().to_vec()));
        }
        if file.is_empty() {
            return Ok(None);
        }
        std::fs::read(file)
            .map(Some)
            .map_err(|e| fail(format!("tls_config: reading {file}: {e}")))
    };
    let mut b = TlsParameters::builder(name).dangerous_accept_invalid_certs(t.insecure_skip_verify);
    if let Some(ca) = read(&t.ca, &t.ca_file)? {
        let cert = Certificate::from_pem(&ca).map_err(|e| fail(format!("tls_config ca: {e}")))?;
        b = b.add_root_certificate(cert);
    }
    if let (Some(cert), Some(key)) = (read(&t.cert, &t.cert_file)?, read(&t.key, &t.key_file)?) {
        let id = Identity::from_pem(&cert, &key)
            .map_err(|e| fail(format!("tls_config client certificate: {e}")))?;
        b = b.identify_with(id);
    }
    b.build_rustls()
        .map_err(|e| fail(format!("tls_config: {e}")))
}

struct Composed {
    envelope: Envelope,
    bytes: Vec<u8>,
}

fn addresses(list: &str, what: &str) -> Result<Vec<Address>, SendError> {
    let boxes: Mailboxes = list
        .parse()
        .map_err(|e| fail(format!("parse '{what}' addresses: {e}")))?;
    Ok(boxes.into_iter().map(|m| m.email).collect())
}

/// The message and its envelope, from the templates.
fn compose(r: &mut Render, c: &EmailConfig, d: &Delivery, now: i64) -> Result<Composed, SendError> {
    let from = r.text(&c.from);
    let to = r.text(&c.to);
    r.check()?;
    let senders = addresses(&from, "from")?;
    if senders.len() != 1 {
        return Err(fail(format!(
            "must be exactly one 'from' address (got: {})",
            senders.len()
        )));
    }
    let recipients = addresses(&to, "to")?;
    let envelope = Envelope::new(senders.into_iter().next(), recipients)
        .map_err(|e| fail(format!("envelope: {e}")))?;

    let mut headers: Vec<(String, String)> = c
        .headers
        .iter()
        .map(|(k, v)| (crate::http::canonical_header(k), v.clone()))
        .collect();
    let has = |h: &[(String, String)], n: &str| h.iter().any(|(k, _)| k == n);
    for (name, default) in [
        ("Subject", "{{ template \"email.default.subject\" . }}"),
        ("To", c.to.as_str()),
        ("From", c.from.as_str()),
    ] {
        if !has(&headers, name) {
            headers.push((name.to_string(), default.to_string()));
        }
    }
    let mut out = String::new();
    for (name, t) in &headers {
        let v = r.text(t);
        if let Some(e) = &r.error {
            return Err(fail(format!("execute {name:?} header template: {e}")));
        }
        out.push_str(&format!("{name}: {}\r\n", q_encode(&v)));
    }
    if !has(&headers, "Message-Id") {
        out.push_str(&format!(
            "Message-Id: {}\r\n",
            message_id(&d.group_key, now)
        ));
    }
    let date = chrono::DateTime::from_timestamp_millis(now).unwrap_or_default();
    // Threading: every mail of a group (of a day, by default) answers the
    // same made-up first message, so mail clients keep them together.
    if let Some(t) = c.threading.as_ref().filter(|t| t.enabled) {
        let day = if t.thread_by_date == "none" {
            String::new()
        } else {
            date.format("%Y-%m-%d").to_string()
        };
        let hash = super::incident::key_hash(&d.group_key);
        let id = format!("<alert-{}-{day}@alertmanager>", &hash[..16]);
        out.push_str(&format!("References: {id}\r\nIn-Reply-To: {id}\r\n"));
    }
    out.push_str(&format!(
        "Date: {}\r\n",
        date.format("%a, %d %b %Y %H:%M:%S %z")
    ));
    let boundary = format!("{:032x}", boundary_seed(&d.group_key, now));
    out.push_str(&format!(
        "Content-Type: multipart/alternative;  boundary={boundary}\r\nMIME-Version: 1.0\r\n\r\n"
    ));
    let text = c.text.as_deref().unwrap_or("");
    let html = c
        .html
        .clone()
        .unwrap_or_else(|| "{{ template \"email.default.html\" . }}".into());
    if !text.is_empty() {
        let body = r.text(text);
        r.check()?;
        part(&mut out, &boundary, "text/plain", &body);
    }
    if !html.is_empty() {
        let body = r.html(&html);
        r.check()?;
        part(&mut out, &boundary, "text/html", &body);
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    Ok(Composed {
        envelope,
        bytes: out.into_bytes(),
    })
}

fn part(out: &mut String, boundary: &str, kind: &str, body: &str) {
    out.push_str(&format!(
        "--{boundary}\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: {kind}; charset=UTF-8\r\n\r\n"
    ));
    out.push_str(&quoted_printable(body));
    out.push_str("\r\n");
}

fn boundary_seed(key: &str, now: i64) -> u128 {
    let mut h = hash(key) as u128;
    h = (h << 64) | (now as u64 as u128 ^ std::process::id() as u128);
    h
}

fn hash(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

fn message_id(key: &str, now: i64) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(now as u128 * 1_000_000);
    format!("<{nanos}.{}@{host}>", hash(&format!("{key}{nanos}")))
}

/// Go's `mime.QEncoding.Encode("utf-8", s)`: unchanged when printable
/// ASCII, else encoded words of at most 75 characters.
pub fn q_encode(s: &str) -> String {
    if s.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        return s.to_string();
    }
    const HEAD: &str = "=?utf-8?q?";
    let mut words = Vec::new();
    let mut cur = String::new();
    for ch in s.chars() {
        let mut enc = String::new();
        if ch == ' ' {
            enc.push('_');
        } else if ch.is_ascii() && ch != '=' && ch != '?' && ch != '_' && (' '..='~').contains(&ch)
        {
            enc.push(ch);
        } else {
            let mut buf = [0u8; 4];
            for b in ch.encode_utf8(&mut buf).bytes() {
                enc.push_str(&format!("={b:02X}"));
            }
        }
        if HEAD.len() + cur.len() + enc.len() + 2 > 75 {
            words.push(std::mem::take(&mut cur));
        }
        cur.push_str(&enc);
    }
    words.push(cur);
    words
        .iter()
        .map(|w| format!("{HEAD}{w}?="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quoted-printable (RFC 2045) with CRLF line ends and lines of at most
/// 76 characters.
pub fn quoted_printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    let text = s.replace("\r\n", "\n");
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let mut width = 0;
        let bytes = line.as_bytes();
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let plain = (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let enc = if plain {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if width + enc.len() > 75 {
                out.push_str("=\r\n");
                width = 0;
            }
            width += enc.len();
            out.push_str(&enc);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_encoding() {
        assert_eq!(q_encode("[FIRING:1] Down"), "[FIRING:1] Down");
        assert_eq!(q_encode("Störung"), "=?utf-8?q?St=C3=B6rung?=");
        let long = "é".repeat(40);
        assert!(q_encode(&long).split(' ').all(|w| w.len() <= 75));
    }

    #[test]
    fn quoted_printable_lines() {
        assert_eq!(quoted_printable("a=b \nc"), "a=3Db=20\r\nc");
        let long = "x".repeat(100);
        let qp = quoted_printable(&long);
        assert!(qp.split("\r\n").all(|l| l.len() <= 76), "{qp}");
        assert_eq!(qp.replace("=\r\n", ""), long);
    }

    #[test]
    fn host_and_port() {
        assert_eq!(
            split_host_port("127.0.0.1:2525").unwrap(),
            ("127.0.0.1".into(), 2525)
        );
        assert_eq!(split_host_port("[::1]:25").unwrap(), ("::1".into(), 25));
        assert!(split_host_port("mail.example.com").is_err());
    }
}
