//! Email over SMTP, through lettre's connection, in upstream's order
//! (`notify/email`): connect (implicit TLS on port 465 or with
//! `force_implicit_tls`), EHLO with `hello`, STARTTLS when `require_tls`
//! (an error if the server does not offer it), AUTH when a username is set
//! and the server offers AUTH (the first of its mechanisms that the
//! configuration has a secret for: CRAM-MD5, PLAIN or LOGIN), then one
//! message: the configured headers (templated, `Subject`,
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

/// Sends `d` as one email.
pub async fn send(s: &Sender, c: &EmailConfig, d: &Delivery, now: i64) -> Result<(), SendError> {
    let graph = s.graph_for_email(d, now).await;
    let mut r = s.render(d, now);
    let message = compose(&mut r, c, d, now, graph.as_deref())?;
    let (host, port) = split_host_port(&c.smarthost)?;
    let tls = tls_parameters(c, &host)?;
    let implicit = c.force_implicit_tls.unwrap_or(port == 465);
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
    .map_err(|e| SendError::retry(format!("establish connection to server: {e}")))?;
    let result = session(&mut conn, c, &host, tls, implicit, &hello, &message).await;
    // The message is sent (or not) by now: a server slow to say goodbye
    // changes nothing.
    let bye = Duration::from_secs(5);
    match &result {
        Ok(()) => {
            let _ = tokio::time::timeout(bye, conn.quit()).await;
        }
        Err(_) => {
            let _ = tokio::time::timeout(bye, conn.abort()).await;
        }
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
            return Err(SendError::retry(format!(
                "'require_tls' is true (default) but {:?} does not advertise the STARTTLS extension",
                c.smarthost
            )));
        }
        conn.starttls(tls, hello)
            .await
            .map_err(|e| SendError::retry(format!("send STARTTLS command: {e}")))?;
    }
    authenticate(conn, c, host, hello).await?;
    conn.send(&m.envelope, &m.bytes)
        .await
        .map_err(|e| SendError::retry(format!("send message: {e}")))?;
    Ok(())
}

/// The mechanisms the server's `AUTH` extension lists, in its order
/// (`None`: no AUTH on offer). lettre keeps only those it knows, without
/// their order, so the EHLO is asked again.
async fn offered_mechanisms(
    conn: &mut AsyncSmtpConnection,
    hello: &ClientId,
) -> Result<Option<Vec<String>>, SendError> {
    let resp = conn
        .command(format!("EHLO {hello}\r\n"))
        .await
        .map_err(|e| SendError::retry(format!("EHLO: {e}")))?;
    for line in resp.message() {
        let upper = line.to_ascii_uppercase();
        if let Some(rest) = upper
            .strip_prefix("AUTH ")
            .or_else(|| upper.strip_prefix("AUTH="))
        {
            return Ok(Some(rest.split_whitespace().map(str::to_string).collect()));
        }
    }
    Ok(None)
}

/// Upstream's `auth`: nothing without AUTH on offer or without a
/// username; otherwise the first mechanism in the server's order that the
/// configuration has a secret for (CRAM-MD5, PLAIN or LOGIN).
async fn authenticate(
    conn: &mut AsyncSmtpConnection,
    c: &EmailConfig,
    host: &str,
    hello: &ClientId,
) -> Result<(), SendError> {
    if c.auth_username.is_empty() {
        return Ok(());
    }
    let Some(mechanisms) = offered_mechanisms(conn, hello).await? else {
        return Ok(());
    };
    let user = c.auth_username.clone();
    let mut problems = Vec::new();
    for m in &mechanisms {
        match m.as_str() {
            "CRAM-MD5" => {
                // Upstream reads the secret file untrimmed.
                let secret = if c.auth_secret_file.is_empty() {
                    c.auth_secret.clone()
                } else {
                    std::fs::read_to_string(&c.auth_secret_file).map_err(|e| {
                        SendError::retry(format!("reading {}: {e}", c.auth_secret_file))
                    })?
                };
                if secret.is_empty() {
                    problems.push("missing secret for CRAM-MD5 auth mechanism".to_string());
                    continue;
                }
                return cram_md5(conn, &user, &secret).await;
            }
            "PLAIN" | "LOGIN" => {
                let password = secret_or_file(&c.auth_password, &c.auth_password_file)
                    .map_err(|e| SendError::retry(e.message))?;
                if password.is_empty() {
                    problems.push(format!("missing password for {m} auth mechanism"));
                    continue;
                }
                if m == "LOGIN" {
                    return conn
                        .auth(&[Mechanism::Login], &Credentials::new(user, password))
                        .await
                        .map(|_| ())
                        .map_err(|e| SendError::retry(format!("LOGIN auth: {e}")));
                }
                // Go's PlainAuth refuses to send a password in clear to
                // anything but the local host.
                if !conn.is_encrypted() && !matches!(host, "localhost" | "127.0.0.1" | "::1") {
                    return Err(SendError::retry("PLAIN auth: unencrypted connection"));
                }
                let token = format!("{}\0{user}\0{password}", c.auth_identity);
                return conn
                    .command(format!("AUTH PLAIN {}\r\n", base64(token.as_bytes())))
                    .await
                    .map(|_| ())
                    .map_err(|e| SendError::retry(format!("PLAIN auth: {e}")));
            }
            other => problems.push(format!("unknown auth mechanism: {other}")),
        }
    }
    Err(SendError::retry(format!(
        "find auth mechanism: {}",
        problems.join("; ")
    )))
}

/// CRAM-MD5 (RFC 2195): the answer to the server's challenge is the user
/// and the HMAC-MD5 of the challenge keyed with the secret.
async fn cram_md5(
    conn: &mut AsyncSmtpConnection,
    user: &str,
    secret: &str,
) -> Result<(), SendError> {
    use base64::Engine;
    let err = |e: String| SendError::retry(format!("CRAM-MD5 auth: {e}"));
    let resp = conn
        .command("AUTH CRAM-MD5\r\n")
        .await
        .map_err(|e| err(e.to_string()))?;
    let challenge = base64::engine::general_purpose::STANDARD
        .decode(resp.first_line().unwrap_or("").trim())
        .map_err(|e| err(format!("bad challenge: {e}")))?;
    let digest: String = hmac_md5(secret.as_bytes(), &challenge)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    conn.command(format!(
        "{}\r\n",
        base64(format!("{user} {digest}").as_bytes())
    ))
    .await
    .map(|_| ())
    .map_err(|e| err(e.to_string()))
}

fn base64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// HMAC (RFC 2104) over MD5.
fn hmac_md5(key: &[u8], msg: &[u8]) -> [u8; 16] {
    use md5::{Digest, Md5};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..16].copy_from_slice(&Md5::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |x: u8| k.iter().map(|b| b ^ x).collect::<Vec<u8>>();
    let inner = Md5::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Md5::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn split_host_port(smarthost: &str) -> Result<(String, u16), SendError> {
    let (host, port) = smarthost
        .rsplit_once(':')
        .ok_or_else(|| SendError::fatal(format!("smarthost {smarthost:?}: missing port")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port
        .parse()
        .map_err(|_| SendError::fatal(format!("smarthost {smarthost:?}: bad port")))?;
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
            .map_err(|e| SendError::fatal(format!("tls_config: reading {file}: {e}")))
    };
    let mut b = TlsParameters::builder(name).dangerous_accept_invalid_certs(t.insecure_skip_verify);
    if let Some(ca) = read(&t.ca, &t.ca_file)? {
        let cert = Certificate::from_pem(&ca)
            .map_err(|e| SendError::fatal(format!("tls_config ca: {e}")))?;
        b = b.add_root_certificate(cert);
    }
    if let (Some(cert), Some(key)) = (read(&t.cert, &t.cert_file)?, read(&t.key, &t.key_file)?) {
        let id = Identity::from_pem(&cert, &key)
            .map_err(|e| SendError::fatal(format!("tls_config client certificate: {e}")))?;
        b = b.identify_with(id);
    }
    b.build_rustls()
        .map_err(|e| SendError::fatal(format!("tls_config: {e}")))
}

struct Composed {
    envelope: Envelope,
    bytes: Vec<u8>,
}

fn addresses(list: &str, what: &str) -> Result<Vec<Address>, SendError> {
    let boxes: Mailboxes = list
        .parse()
        .map_err(|e| SendError::fatal(format!("parse '{what}' addresses: {e}")))?;
    Ok(boxes.into_iter().map(|m| m.email).collect())
}

/// The message and its envelope, from the templates.
/// The message of `d`; with `graph`, a PNG, its HTML part becomes a
/// `multipart/related` of the HTML, which shows the image, and the image
/// (`cid:graph@watchfire`).
fn compose(
    r: &mut Render,
    c: &EmailConfig,
    d: &Delivery,
    now: i64,
    graph: Option<&[u8]>,
) -> Result<Composed, SendError> {
    let from = r.text(&c.from);
    let to = r.text(&c.to);
    r.check()?;
    let senders = addresses(&from, "from")?;
    if senders.len() != 1 {
        return Err(SendError::fatal(format!(
            "must be exactly one 'from' address (got: {})",
            senders.len()
        )));
    }
    let recipients = addresses(&to, "to")?;
    let envelope = Envelope::new(senders.into_iter().next(), recipients)
        .map_err(|e| SendError::fatal(format!("envelope: {e}")))?;

    let mut headers: Vec<(String, String)> = c
        .headers
        .iter()
        .map(|(k, v)| (crate::receiver::canonical_header(k), v.clone()))
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
            return Err(SendError::fatal(format!(
                "execute {name:?} header template: {e}"
            )));
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
        let mut body = r.text(text);
        r.check()?;
        if !d.links.is_empty() {
            body.push_str(&crate::chatops::links::text(&d.links));
        }
        part(&mut out, &boundary, "text/plain", &body);
    }
    if !html.is_empty() {
        let mut body = r.html(&html);
        r.check()?;
        if !d.links.is_empty() {
            body = before_body_end(&body, &crate::chatops::links::html(&d.links));
        }
        match graph {
            None => part(&mut out, &boundary, "text/html", &body),
            Some(png) => related(&mut out, &boundary, &with_image(&body), png),
        }
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

/// The Content-ID of a notification's graph.
const GRAPH_CID: &str = "graph@watchfire";

/// `html` with the graph shown at its end (before `</body>` when there is
/// one).
fn with_image(html: &str) -> String {
    let img = format!(
        "<p><img src=\"cid:{GRAPH_CID}\" alt=\"the alert's graph\" width=\"{}\" height=\"{}\"></p>",
        crate::chatops::graph::WIDTH,
        crate::chatops::graph::HEIGHT
    );
    before_body_end(html, &img)
}

/// `html` with `add` at its end, before `</body>` when there is one.
fn before_body_end(html: &str, add: &str) -> String {
    match html.to_ascii_lowercase().rfind("</body>") {
        Some(i) => format!("{}{add}{}", &html[..i], &html[i..]),
        None => format!("{html}{add}"),
    }
}

/// A `multipart/related` part of `html` and the PNG it shows.
fn related(out: &mut String, boundary: &str, html: &str, png: &[u8]) {
    use base64::Engine as _;
    let inner = format!("{boundary}r");
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: multipart/related; boundary={inner}\r\n\r\n"
    ));
    part(out, &inner, "text/html", html);
    out.push_str(&format!(
        "--{inner}\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <{GRAPH_CID}>\r\nContent-Disposition: inline; filename=\"graph.png\"\r\n\r\n"
    ));
    let b64 = base64::engine::general_purpose::STANDARD.encode(png);
    for chunk in b64.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push_str("\r\n");
    }
    out.push_str(&format!("--{inner}--\r\n"));
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
    let host = model::hostname().unwrap_or("localhost");
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
    fn hmac_md5_rfc2104() {
        let hex = |b: [u8; 16]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(hmac_md5(b"Jefe", b"what do ya want for nothing?")),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        // RFC 2195's example.
        assert_eq!(
            hex(hmac_md5(
                b"tanstaaftanstaaf",
                b"<1896.697170952@postoffice.reston.mci.net>"
            )),
            "b913a602c7eda7a495b4e6e7334d3890"
        );
    }

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
