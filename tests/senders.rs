//! Receivers beyond the webhook, end to end: Slack, Microsoft Teams,
//! Discord, Mattermost, Telegram, PagerDuty and Opsgenie post what their
//! services expect to a local HTTP server standing in for each service's
//! address; email reaches a real SMTP server (Python's aiosmtpd, Debian
//! package python3-aiosmtpd), plain and with STARTTLS and AUTH; a receiver
//! type without a sender is counted as dropped.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    assert_metrics, free_addr, http, post_json, start, start_alerter, wait_for, Killed, Webhook,
};
use serde_json::Value;

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn alert(name: &str, ends: Option<&str>) -> String {
    let ends = ends
        .map(|e| format!(",\"endsAt\":\"{e}\""))
        .unwrap_or_default();
    format!(
        "[{{\"labels\":{{\"alertname\":\"{name}\",\"service\":\"api\",\"severity\":\"page\"}},\"annotations\":{{\"summary\":\"api <down> & out\"}},\"startsAt\":\"2026-01-01T00:00:00Z\"{ends}}}]"
    )
}

fn requests_to(hook: &Webhook, prefix: &str) -> Vec<common::Request> {
    hook.requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path.starts_with(prefix))
        .cloned()
        .collect()
}

#[test]
fn chat_and_incident_senders_post_what_each_service_expects() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    *hook.reply.lock().unwrap() = "{\"ok\":true}".into();
    let h = hook.addr;
    let moved = redirector(&format!("http://{h}/redirected"));
    write(&dir.path().join("key.txt"), "  routing-key-from-file\n");
    let key_file = dir.path().join("key.txt");
    let cfg = format!(
        r#"route:
  receiver: everyone
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: everyone
    webhook_configs:
      - url: http://{h}/webhook
        http_config:
          basic_auth: {{username: wf, password: s3cret}}
      - url: http://hook-user:hook%40pass@{h}/userinfo
      - url: http://{moved}/old
      - url: 'http://{h}/custom/{{{{ .GroupLabels.alertname }}}}'
        payload:
          text: '{{{{ .Status }}}}: {{{{ .CommonAnnotations.summary }}}}'
          count: 1
    slack_configs:
      - api_url: http://{h}/slack
        channel: '#ops'
        send_resolved: true
        fields:
          - title: Severity
            value: '{{{{ .CommonLabels.severity }}}}'
    msteams_configs:
      - webhook_url: http://{h}/teams
    discord_configs:
      - webhook_url: http://{h}/discord
    mattermost_configs:
      - webhook_url: http://{h}/mattermost
        channel: ops
    telegram_configs:
      - api_url: http://{h}/telegram
        bot_token: BOT:TOKEN
        chat_id: -1001
    pagerduty_configs:
      - url: http://{h}/pagerduty
        routing_key_file: {key}
        severity: critical
    opsgenie_configs:
      - api_url: http://{h}/opsgenie
        api_key: genie-key
        tags: 'api, watchfire'
    pushover_configs:
      - user_key: u
        token: t
"#,
        key = key_file.display()
    );
    write(&dir.path().join("am.yml"), &cfg);
    let am = dir.path().join("am.yml");
    let wf = start(
        &dir.path().join("data"),
        None,
        &[
            "--alertmanager.config.file",
            am.to_str().unwrap(),
            "--web.external-url",
            "http://wf.example:9090",
        ],
    );
    post_json(wf.addr, "/api/v2/alerts", &alert("ApiDown", None));
    let paths = [
        "/webhook",
        "/custom/ApiDown",
        "/userinfo",
        "/redirected",
        "/slack",
        "/teams",
        "/discord",
        "/mattermost",
        "/telegram",
        "/pagerduty",
        "/opsgenie",
    ];
    wait_for(Duration::from_secs(30), "every integration", || {
        paths.iter().all(|p| !requests_to(&hook, p).is_empty())
    });
    let subject = "[FIRING:1] ApiDown (api page)";

    let w = &requests_to(&hook, "/webhook")[0];
    assert_eq!(w.header("authorization"), Some("Basic d2Y6czNjcmV0"));
    assert_eq!(w.json()["version"], "4");
    // A user and password in the URL are sent as basic credentials.
    assert_eq!(
        requests_to(&hook, "/userinfo")[0].header("authorization"),
        Some("Basic aG9vay11c2VyOmhvb2tAcGFzcw==")
    );
    // A 307 is followed with the same method and body.
    let moved_req = &requests_to(&hook, "/redirected")[0];
    assert_eq!(moved_req.method, "POST");
    assert_eq!(moved_req.json()["version"], "4");
    // A templated URL and payload.
    assert_eq!(
        requests_to(&hook, "/custom/ApiDown")[0].json(),
        serde_json::json!({"text": "firing: api <down> & out", "count": 1})
    );

    let slack = requests_to(&hook, "/slack")[0].json();
    let att = &slack["attachments"][0];
    assert_eq!(slack["channel"], "#ops", "{slack}");
    assert_eq!(slack["username"], "Alertmanager");
    assert_eq!(att["title"], subject, "{slack}");
    assert_eq!(att["color"], "danger");
    assert_eq!(
        att["title_link"],
        "http://wf.example:9090/#/alerts?receiver=everyone"
    );
    assert_eq!(att["fields"][0]["value"], "page");
    assert_eq!(att["fields"][0]["short"], false);
    // Go's encoder escapes HTML characters.
    assert!(
        !requests_to(&hook, "/slack")[0].body.contains('<'),
        "{}",
        requests_to(&hook, "/slack")[0].body
    );

    let teams = requests_to(&hook, "/teams")[0].json();
    assert_eq!(teams["type"], "MessageCard");
    assert_eq!(teams["title"], subject);
    assert_eq!(teams["themeColor"], "8C1A1A");
    assert!(teams["text"].as_str().unwrap().contains("# Alerts Firing:"));

    let discord = requests_to(&hook, "/discord")[0].json();
    assert_eq!(discord["embeds"][0]["title"], subject);
    assert_eq!(discord["embeds"][0]["color"], 0x992D22);
    assert_eq!(discord["content"], "");
    assert!(discord["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .contains("summary = api <down> & out"));

    let mm = requests_to(&hook, "/mattermost")[0].json();
    assert_eq!(mm["channel"], "ops");
    assert_eq!(mm["attachments"][0]["title"], subject);
    assert_eq!(mm["attachments"][0]["color"], "danger");

    let tg = &requests_to(&hook, "/telegram")[0];
    assert_eq!(tg.path, "/telegram/botBOT:TOKEN/sendMessage");
    let tgj = tg.json();
    assert_eq!(tgj["chat_id"], "-1001");
    assert_eq!(tgj["parse_mode"], "HTML");
    assert!(tgj["text"].as_str().unwrap().contains("Alerts Firing:"));

    let pd = requests_to(&hook, "/pagerduty")[0].json();
    let group_key = "{}:{alertname=\"ApiDown\"}";
    let dedup = sha256_hex(group_key);
    assert_eq!(pd["routing_key"], "routing-key-from-file", "{pd}");
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["dedup_key"], dedup.as_str());
    assert_eq!(pd["payload"]["summary"], subject);
    assert_eq!(pd["payload"]["severity"], "critical");
    assert_eq!(pd["payload"]["source"], "Alertmanager");
    assert_eq!(pd["payload"]["custom_details"]["num_firing"], 1);
    assert_eq!(
        pd["payload"]["custom_details"]["firing"][0]["labels"]["alertname"],
        "ApiDown"
    );

    let og = &requests_to(&hook, "/opsgenie")[0];
    assert_eq!(og.path, "/opsgenie/v2/alerts");
    assert_eq!(og.header("authorization"), Some("GenieKey genie-key"));
    let ogj = og.json();
    assert_eq!(ogj["alias"], dedup.as_str());
    assert_eq!(ogj["message"], subject);
    assert_eq!(ogj["details"]["service"], "api");
    assert_eq!(ogj["tags"], serde_json::json!(["api", " watchfire"]));

    // Resolution: PagerDuty resolves the same incident, Opsgenie closes
    // its alert, Slack says so (send_resolved), Teams turns green.
    post_json(
        wf.addr,
        "/api/v2/alerts",
        &alert("ApiDown", Some("2026-01-01T00:05:00Z")),
    );
    wait_for(Duration::from_secs(30), "the resolved notices", || {
        requests_to(&hook, "/pagerduty").len() >= 2
            && requests_to(&hook, "/opsgenie").len() >= 2
            && requests_to(&hook, "/slack").len() >= 2
            && requests_to(&hook, "/teams").len() >= 2
    });
    let pd = requests_to(&hook, "/pagerduty")[1].json();
    assert_eq!(pd["event_action"], "resolve");
    assert_eq!(pd["dedup_key"], dedup.as_str());
    let og = &requests_to(&hook, "/opsgenie")[1];
    assert_eq!(
        og.path,
        format!("/opsgenie/v2/alerts/{dedup}/close?identifierType=alias")
    );
    assert_eq!(
        requests_to(&hook, "/slack")[1].json()["attachments"][0]["color"],
        "good"
    );
    assert_eq!(
        requests_to(&hook, "/teams")[1].json()["themeColor"],
        "2DC72D"
    );

    // Pushover has no sender: each notification it is owed is dropped
    // and counted.
    let metrics = assert_metrics(
        wf.addr,
        "alertmanager_notifications_failed_total{integration=\"pushover\",reason=\"no_sender\"}",
    );
    for i in ["slack", "pagerduty", "opsgenie", "telegram", "webhook"] {
        assert!(
            metrics.contains(&format!(
                "alertmanager_notifications_total{{integration=\"{i}\"}}"
            )),
            "{i}: {metrics}"
        );
    }
    assert!(
        metrics.contains("alertmanager_notification_latency_seconds_count{integration=\"slack\"}")
    );
}

/// A server on 127.0.0.1 that answers every request with a 307 to `to`.
fn redirector(to: &str) -> std::net::SocketAddr {
    use std::io::{BufRead, Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let to = to.to_string();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let _ = r.read_exact(&mut vec![0; len]);
            let _ = write!(
                s,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    addr
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A Python that has aiosmtpd; `None` after saying there is none (with
/// [`model::ci::skip`], a failure under CI).
fn python_with_aiosmtpd() -> Option<&'static str> {
    let found = ["python3", "/usr/bin/python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        model::ci::skip(
            "no python3 with aiosmtpd (Debian package python3-aiosmtpd; .ci/run installs it)",
        );
    }
    found
}

/// An SMTP server that writes each mail it accepts into `dir`; killed on
/// drop.
struct Smtp {
    _child: Killed,
    port: u16,
    dir: PathBuf,
}

fn smtp(python: &str, dir: &Path, extra: &[&str]) -> Smtp {
    use std::io::BufRead;
    let port = free_addr().port();
    let out = dir.join("mail");
    std::fs::create_dir_all(&out).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .arg(&out)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the SMTP server did not start");
    Smtp {
        _child: Killed(child),
        port,
        dir: out,
    }
}

fn mails(s: &Smtp) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(&s.dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// The body of a quoted-printable part, decoded.
fn unqp(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn email_config(smtp: &Smtp, extra: &str) -> String {
    format!(
        r#"global:
  smtp_smarthost: 127.0.0.1:{port}
  smtp_from: 'Watchfire <alerts@watchfire.test>'
route:
  receiver: mail
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: mail
    email_configs:
      - to: 'dev-team@watchfire.test, oncall@watchfire.test'
        text: 'Runbook: {{{{ .CommonAnnotations.summary }}}}'
        headers:
          X-Team: '{{{{ .CommonLabels.service }}}}'
{extra}"#,
        port = smtp.port
    )
}

fn check_mail(m: &Value) {
    assert_eq!(m["mail_from"], "alerts@watchfire.test", "{m}");
    assert_eq!(
        m["rcpt_tos"],
        serde_json::json!(["dev-team@watchfire.test", "oncall@watchfire.test"])
    );
    let data = m["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: [FIRING:1] ApiDown (api page)\r\n"),
        "{data}"
    );
    assert!(data.contains("X-Team: api\r\n"), "{data}");
    assert!(data.contains("To: dev-team@watchfire.test, oncall@watchfire.test\r\n"));
    assert!(data.contains("Message-Id: <"));
    assert!(data.contains("Content-Type: multipart/alternative;"));
    let body = unqp(data);
    assert!(body.contains("Runbook: api <down> & out"), "{body}");
    // The HTML part escapes what the alert says.
    assert!(body.contains("<html"), "{body}");
    assert!(body.contains("api &lt;down&gt; &amp; out"), "{body}");
}

/// Starts Watchfire with an email receiver (its `extra` settings) sending
/// to `server`, posts one alert and waits for its mail.
fn first_mail(dir: &Path, server: &Smtp, extra: &str) -> (common::Server, PathBuf, Value) {
    let wf = start_alerter(free_addr(), dir, None, &email_config(server, extra));
    let am = dir.join("am.yml");
    post_json(wf.addr, "/api/v2/alerts", &alert("ApiDown", None));
    wait_for(Duration::from_secs(30), "an email", || {
        !mails(server).is_empty()
    });
    let m = mails(server).remove(0);
    (wf, am, m)
}

/// An SMTP server with a certificate for 127.0.0.1 (`extra` says how it
/// uses it), and the CA file that signed it.
fn tls_smtp(python: &str, dir: &Path, extra: &[&str]) -> (Smtp, PathBuf) {
    let (ca, cert, key) = pki(dir);
    let mut args = vec![
        "--cert".to_string(),
        cert.display().to_string(),
        "--key".to_string(),
        key.display().to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (smtp(python, dir, &args), ca)
}

#[test]
fn email_reaches_a_real_smtp_server_in_plain_text() {
    let Some(python) = python_with_aiosmtpd() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = smtp(python, dir.path(), &[]);
    let (_wf, _, m) = first_mail(
        dir.path(),
        &server,
        "        require_tls: false\n        threading: {enabled: true, thread_by_date: none}\n",
    );
    assert_eq!(m["tls"], false);
    check_mail(&m);
    let thread = format!(
        "<alert-{}-@alertmanager>",
        &sha256_hex("{}:{alertname=\"ApiDown\"}")[..16]
    );
    let data = m["data"].as_str().unwrap();
    assert!(
        data.contains(&format!("References: {thread}\r\n")),
        "{data}"
    );
    assert!(
        data.contains(&format!("In-Reply-To: {thread}\r\n")),
        "{data}"
    );
}

#[test]
fn email_with_starttls_and_auth() {
    let Some(python) = python_with_aiosmtpd() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (server, ca) = tls_smtp(
        python,
        dir.path(),
        &["--user", "watchfire", "--password", "pa55"],
    );
    let (wf, am, m) = first_mail(
        dir.path(),
        &server,
        &format!(
            "        auth_username: watchfire\n        auth_password: pa55\n        tls_config:\n          ca_file: {}\n",
            ca.display()
        ),
    );
    assert_eq!(m["tls"], true, "{m}");
    assert_eq!(m["auth"], "watchfire", "{m}");
    check_mail(&m);

    // A server that does not offer STARTTLS is refused while require_tls
    // holds (the default): nothing is sent in clear.
    let plain = smtp(python, &dir.path().join("plain"), &[]);
    write(&am, &email_config(&plain, ""));
    http(wf.addr, "POST", "/-/reload", "").unwrap();
    post_json(wf.addr, "/api/v2/alerts", &alert("DbDown", None));
    wait_for(Duration::from_secs(30), "the refusal", || {
        http(wf.addr, "GET", "/metrics", "")
            .unwrap()
            .1
            .contains("alertmanager_notification_latency_seconds_count{integration=\"email\"} 2")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(mails(&plain).is_empty());
}

#[test]
fn email_with_implicit_tls() {
    let Some(python) = python_with_aiosmtpd() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (server, ca) = tls_smtp(python, dir.path(), &["--implicit"]);
    let (_wf, _, m) = first_mail(
        dir.path(),
        &server,
        &format!(
            "        force_implicit_tls: true\n        tls_config:\n          ca_file: {}\n",
            ca.display()
        ),
    );
    assert_eq!(m["tls"], true, "{m}");
    check_mail(&m);
}

/// A CA, and a server certificate for 127.0.0.1 it signed.
fn pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    write(&paths.0, &ca.pem());
    write(&paths.1, &cert.pem());
    write(&paths.2, &key.serialize_pem());
    paths
}

/// A receiver with `images: true` in the ChatOps file: the mail's HTML is
/// a `multipart/related` part whose `cid:` image is the alert's graph, a
/// PNG of the configured size. An alert whose graph cannot be drawn (its
/// generatorURL carries no expression) still gets its mail, without the
/// image, and the log says why.
#[test]
fn email_carries_the_alerts_graph() {
    use base64::Engine as _;
    let Some(python) = python_with_aiosmtpd() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = smtp(python, dir.path(), &[]);
    let am = dir.path().join("am.yml");
    write(&am, &email_config(&server, "        require_tls: false\n"));
    let chatops = dir.path().join("chatops.yml");
    write(
        &chatops,
        "receivers:\n  - name: mail\n    images: true\n    image_range: 1h\n    allow:\n      users: ['email:dev-team@watchfire.test']\n",
    );
    let addr = free_addr();
    let log = dir.path().join("watchfire.log");
    let _wf = common::start_logged(
        addr,
        &dir.path().join("data"),
        &[
            "--alertmanager.config.file",
            am.to_str().unwrap(),
            "--chatops.config.file",
            chatops.to_str().unwrap(),
        ],
        &log,
    );
    let with_expr = alert("ApiDown", None).replace(
        "\"startsAt\"",
        "\"generatorURL\":\"http://prom.test/graph?g0.expr=vector%281%29+%3E+0&g0.tab=1\",\"startsAt\"",
    );
    post_json(addr, "/api/v2/alerts", &with_expr);
    wait_for(Duration::from_secs(30), "an email", || {
        !mails(&server).is_empty()
    });
    let data = mails(&server)[0]["data"].as_str().unwrap().to_string();
    assert!(
        data.contains("Content-Type: multipart/alternative;"),
        "{data}"
    );
    let related = data
        .split("Content-Type: multipart/related; boundary=")
        .nth(1)
        .expect("a multipart/related part");
    let boundary = related.split("\r\n").next().unwrap().to_string();
    let parts: Vec<&str> = related.split(&format!("--{boundary}")).collect();
    let html = parts
        .iter()
        .find(|p| p.contains("Content-Type: text/html"))
        .expect("the HTML part");
    assert!(
        unqp(html).contains("<img src=\"cid:graph@watchfire\""),
        "{html}"
    );
    let image = parts
        .iter()
        .find(|p| p.contains("Content-Type: image/png"))
        .expect("the image part");
    assert!(image.contains("Content-ID: <graph@watchfire>"), "{image}");
    assert!(
        image.contains("Content-Transfer-Encoding: base64"),
        "{image}"
    );
    let b64: String = image
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    let png_bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let reader = decoder.read_info().unwrap();
    assert_eq!(
        (reader.info().width, reader.info().height),
        (600, 300),
        "the graph's size"
    );

    // No expression to draw: the mail goes without the image.
    post_json(addr, "/api/v2/alerts", &alert("NoExpression", None));
    wait_for(Duration::from_secs(30), "the second email", || {
        mails(&server).len() == 2
    });
    let data = mails(&server)[1]["data"].as_str().unwrap().to_string();
    assert!(data.contains("NoExpression"), "{data}");
    assert!(!data.contains("multipart/related"), "{data}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("the email goes without its graph")
            && text.contains("no alert of the group has an expression in its generatorURL"),
        "{text}"
    );
}

/// Signed action links (`links: true`) in the email, the Teams card and
/// the webhook payload; each opens a confirmation page that acts only on
/// its POST. Teams' card follows the legacy "Actionable message card
/// reference" (`potentialAction` of `OpenUri` with `targets`).
#[test]
fn email_teams_and_webhook_carry_signed_links() {
    let Some(python) = python_with_aiosmtpd() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = smtp(python, dir.path(), &[]);
    let hook = Webhook::start();
    let am = dir.path().join("am.yml");
    write(
        &am,
        &email_config(
            &server,
            &format!(
                "        require_tls: false\n    msteams_configs:\n      - webhook_url: http://{h}/teams\n    webhook_configs:\n      - url: http://{h}/hook\n",
                h = hook.addr
            ),
        ),
    );
    let chatops = dir.path().join("chatops.yml");
    write(
        &chatops,
        "receivers:\n  - name: mail\n    links: true\n    silence_for: [1h]\n    allow:\n      users: ['email:dev-team@watchfire.test']\n",
    );
    let addr = free_addr();
    let prom = dir.path().join("prometheus.yml");
    write(&prom, "");
    let _wf = common::start_chatops(addr, dir.path(), &am, &chatops);
    post_json(addr, "/api/v2/alerts", &alert("ApiDown", None));
    wait_for(Duration::from_secs(30), "the email and the posts", || {
        !mails(&server).is_empty()
            && !requests_to(&hook, "/teams").is_empty()
            && !requests_to(&hook, "/hook").is_empty()
    });

    // The email: links in the text part and the HTML part.
    let data = unqp(mails(&server)[0]["data"].as_str().unwrap());
    assert!(
        data.contains("Answer this alert (each link asks you to confirm):"),
        "{data}"
    );
    let ack = data
        .split("Acknowledge: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("an Acknowledge link")
        .to_string();
    assert!(data.contains(&format!(
        "<a href=\"{}\">Acknowledge</a>",
        ack.replace('&', "&amp;")
    )));
    // The Teams card: a button per link.
    let card = requests_to(&hook, "/teams")[0].json();
    let names: Vec<&str> = card["potentialAction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acknowledge", "Silence", "Snooze"], "{card}");
    assert_eq!(card["potentialAction"][0]["@type"], "OpenUri");
    // The webhook: Alertmanager's payload and our field.
    let payload = requests_to(&hook, "/hook")[0].json();
    assert_eq!(payload["version"], "4");
    let silence = payload["watchfireLinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["action"] == "silence")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();

    let path = |url: &str| {
        url.split_once(&format!(":{}", addr.port()))
            .unwrap()
            .1
            .to_string()
    };
    let groups = |addr| common::json(addr, "/api/v2/alerts/groups");
    // GET shows and changes nothing, however often a scanner fetches it.
    for _ in 0..2 {
        let (status, page) = http(addr, "GET", &path(&ack), "").unwrap();
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("<form method=\"post\">"), "{page}");
        assert!(page.contains("Acknowledge this alert group?"), "{page}");
        assert!(page.contains("alertname=&quot;ApiDown&quot;"), "{page}");
    }
    assert!(groups(addr)[0].get("answer").is_none());
    // Tampered links are refused and counted.
    let (base, sig) = path(&ack)
        .split_once("?sig=")
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap();
    let forged = format!("{}?sig={}", base.replace("/ack", "/silence"), sig);
    assert_eq!(http(addr, "GET", &forged, "").unwrap().0, 403);
    assert_eq!(
        http(addr, "GET", &format!("{base}?sig=00"), "").unwrap().0,
        403
    );
    assert!(common::refused(addr, "link", "bad_signature"));
    // POST acts, once the person says who they are.
    let (status, page) = http(addr, "POST", &base, &format!("sig={sig}&who=")).unwrap();
    assert_eq!(status, 400, "{page}");
    // A name that would be markup or a mention in chat is refused.
    let (status, _) = http(addr, "POST", &base, &format!("sig={sig}&who=%40channel")).unwrap();
    assert_eq!(status, 400);
    let (status, page) = http(addr, "POST", &base, &format!("sig={sig}&who=ana")).unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Acknowledged by ana."), "{page}");
    let answer = &groups(addr)[0]["answer"]["acknowledged"];
    assert_eq!(
        (answer["by"].clone(), answer["via"].clone()),
        ("ana".into(), "link".into())
    );

    // Silence: the page offers the receiver's durations; a choice it
    // does not offer is refused; a real silence in the person's name.
    let (base, sig) = path(&silence)
        .split_once("?sig=")
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap();
    let (_, page) = http(addr, "GET", &path(&silence), "").unwrap();
    assert!(page.contains("<option value=\"1h\">1h</option><option value=\"resolved\">until the group resolves</option>"), "{page}");
    let (status, _) = http(addr, "POST", &base, &format!("sig={sig}&who=ana&value=7d")).unwrap();
    assert_eq!(status, 400);
    let (status, page) = http(addr, "POST", &base, &format!("sig={sig}&who=ana&value=1h")).unwrap();
    assert_eq!(status, 200, "{page}");
    let silences = common::json(addr, "/api/v2/silences");
    assert_eq!(silences[0]["createdBy"], "ana");
    assert_eq!(
        silences[0]["comment"],
        "Silenced from a Watchfire link by ana for 1h"
    );
}
