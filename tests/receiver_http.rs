//! The alerter's receivers through the one HTTP client, end to end: a
//! webhook that answers with a redirect to another host (127.0.0.2)
//! never hands it the receiver's credentials (basic auth, an
//! `authorization` credential, user info in the URL, secret and file
//! `http_headers`), while a redirect on the same host keeps them; an
//! answer over the size limit and one that drips past the timeout both
//! fail with a reason in the log and in
//! `alertmanager_notifications_failed_total` (and each try in
//! `alertmanager_notification_requests_failed_total`); `oauth2` and `proxy_url`
//! apply to notifications.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    assert_metrics, free_addr, http, post_json, reply, reply_chunked, reply_dripping, serve,
    start_logged, wait_for, Server,
};

/// Writes `am` as `dir/am.yml` and starts the server with its alerter on
/// it, its log (stderr) in `dir/log`.
fn spawn(dir: &Path, am: &str) -> Server {
    let path = dir.join("am.yml");
    std::fs::write(&path, am).unwrap();
    let flags = ["--alertmanager.config.file", path.to_str().unwrap()];
    start_logged(free_addr(), &dir.join("data"), &flags, &dir.join("log"))
}

/// An alertmanager.yml whose one receiver, `hooks`, gets every alert
/// and has the `webhook_configs` entries `webhooks` (YAML lines).
fn hooks(webhooks: &str) -> String {
    format!(
        "route:\n  receiver: hooks\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n  - name: hooks\n    webhook_configs:\n{webhooks}"
    )
}

const ALERT: &str = r#"[{"labels":{"alertname":"ApiDown"},"startsAt":"2026-01-01T00:00:00Z"}]"#;

/// The sum of a counter's samples whose line starts with `prefix`.
fn counter(addr: SocketAddr, prefix: &str) -> f64 {
    let body = http(addr, "GET", "/metrics", "").unwrap().1;
    body.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Log text without its ANSI colours.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // `ESC [ ... m`
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn webhook_redirects_to_another_host_carry_no_credentials() {
    // The other host answers everything.
    let (b, b_seen) = serve("127.0.0.2", Arc::new(|_, c| reply(c, "200 OK", "", b"")));
    // The origin: `/cross*` redirects to the other host, `/same` to
    // itself, `/landed*` answers.
    let me: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
    let me2 = me.clone();
    let (a, a_seen) = serve(
        "127.0.0.1",
        Arc::new(move |path, c| {
            let a = me2.lock().unwrap().unwrap();
            if let Some(rest) = path.strip_prefix("/cross") {
                let to = format!("Location: http://{b}/landed{rest}\r\n");
                reply(c, "302 Found", &to, b"");
            } else if path == "/same" {
                let to = format!("Location: http://{a}/landed-same\r\n");
                reply(c, "302 Found", &to, b"");
            } else {
                reply(c, "200 OK", "", b"");
            }
        }),
    );
    *me.lock().unwrap() = Some(a);
    let dir = tempfile::tempdir().unwrap();
    let header_file = dir.path().join("hdr.txt");
    std::fs::write(&header_file, "file-header-secret\n").unwrap();
    let server = spawn(
        dir.path(),
        &hooks(&format!(
            r#"      - url: http://{a}/cross-basic
        http_config:
          basic_auth: {{username: wf, password: hook-password}}
          http_headers:
            X-Secret: {{secrets: [header-secret]}}
            X-File: {{files: ['{file}']}}
            X-Plain: {{values: [plain]}}
      - url: http://{a}/cross-bearer
        http_config:
          authorization: {{credentials: bearer-credentials}}
      - url: http://hook-user:url-password@{a}/cross-userinfo
      - url: http://{a}/same
        http_config:
          basic_auth: {{username: wf, password: same-password}}
          http_headers:
            X-Secret: {{secrets: [same-secret]}}
"#,
            file = header_file.display()
        )),
    );
    post_json(server.addr, "/api/v2/alerts", ALERT);
    let want_b = ["/landed-basic", "/landed-bearer", "/landed-userinfo"];
    wait_for(
        Duration::from_secs(30),
        "every webhook to land after its redirect",
        || {
            let b = b_seen.lock().unwrap();
            let a = a_seen.lock().unwrap();
            want_b.iter().all(|p| b.iter().any(|r| r.path == *p))
                && a.iter().any(|r| r.path == "/landed-same")
        },
    );
    let a_seen = a_seen.lock().unwrap().clone();
    let b_seen = b_seen.lock().unwrap().clone();
    let first = |p: &str| {
        a_seen
            .iter()
            .find(|r| r.path == p)
            .unwrap_or_else(|| panic!("{p} never reached 127.0.0.1: {a_seen:?}"))
            .clone()
    };
    // The origin got the credentials: (path, header, want).
    // Base64 of the user and password, as basic auth sends them.
    let basic = |userpass: &str| {
        let b64 = match userpass {
            "wf:hook-password" => "d2Y6aG9vay1wYXNzd29yZA==",
            "hook-user:url-password" => "aG9vay11c2VyOnVybC1wYXNzd29yZA==",
            "wf:same-password" => "d2Y6c2FtZS1wYXNzd29yZA==",
            other => panic!("no encoding for {other}"),
        };
        format!("Basic {b64}")
    };
    for (path, header, want) in [
        ("/cross-basic", "authorization", basic("wf:hook-password")),
        ("/cross-basic", "x-secret", "header-secret".to_string()),
        ("/cross-basic", "x-file", "file-header-secret".to_string()),
        ("/cross-basic", "x-plain", "plain".to_string()),
        (
            "/cross-bearer",
            "authorization",
            "Bearer bearer-credentials".to_string(),
        ),
        (
            "/cross-userinfo",
            "authorization",
            basic("hook-user:url-password"),
        ),
        ("/same", "authorization", basic("wf:same-password")),
        // A redirect on the same host keeps them.
        ("/landed-same", "authorization", basic("wf:same-password")),
        ("/landed-same", "x-secret", "same-secret".to_string()),
    ] {
        let r = first(path);
        assert_eq!(
            r.header(header),
            Some(want.as_str()),
            "{path}: header {header}: got {:?}, want {want:?}",
            r.header(header)
        );
    }
    assert_eq!(first("/cross-basic").method, "POST");
    // The other host got none of them; plain headers still follow.
    for r in &b_seen {
        for h in ["authorization", "x-secret", "x-file", "cookie"] {
            assert_eq!(r.header(h), None, "127.0.0.2 got {h} on {}: {r:?}", r.path);
        }
        let all = format!("{r:?}");
        for secret in [
            "hook-password",
            "bearer-credentials",
            "url-password",
            "header-secret",
        ] {
            assert!(!all.contains(secret), "127.0.0.2 got {secret}: {all}");
        }
    }
    // Nor does the status page, nor the log.
    let status = http(server.addr, "GET", "/api/v2/status", "").unwrap().1;
    let logged = std::fs::read_to_string(dir.path().join("log")).unwrap();
    for secret in [
        "hook-password",
        "bearer-credentials",
        "header-secret",
        "same-password",
        "same-secret",
    ] {
        assert!(
            !status.contains(secret),
            "/api/v2/status shows {secret}: {status}"
        );
        assert!(!logged.contains(secret), "the log shows {secret}: {logged}");
    }
    let landed = b_seen.iter().find(|r| r.path == "/landed-basic").unwrap();
    assert_eq!(landed.header("x-plain"), Some("plain"), "{landed:?}");
    // A 302 turns the POST into a GET, as Go's client does.
    assert_eq!(landed.method, "GET", "{landed:?}");
    // Each webhook was delivered, none failed.
    wait_for(Duration::from_secs(10), "notifications counted", || {
        counter(
            server.addr,
            "alertmanager_notifications_total{integration=\"webhook\"}",
        ) >= 4.0
    });
    assert_eq!(
        counter(
            server.addr,
            "alertmanager_notifications_failed_total{integration=\"webhook\""
        ),
        0.0
    );
    assert_eq!(
        counter(
            server.addr,
            "alertmanager_notification_requests_failed_total{integration=\"webhook\"}"
        ),
        0.0
    );
}

#[test]
fn oversized_and_dripping_answers_fail_in_the_log_and_the_metric() {
    let (t, _) = serve(
        "127.0.0.1",
        Arc::new(|path, c| match path {
            // 2.5 MiB, over the 1 MiB limit.
            "/big" => reply_chunked(c, "Content-Type: text/plain\r\n", &"x".repeat(64 << 10), 40),
            "/drip" => reply_dripping(c, ""),
            _ => reply(c, "200 OK", "", b""),
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(
        dir.path(),
        &format!(
            r#"route:
  receiver: big
  group_wait: 0s
  group_interval: 2s
  routes:
    - matchers: ['alertname="ApiDown"']
      receiver: big
      continue: true
    - matchers: ['alertname="ApiDown"']
      receiver: drip
receivers:
  - name: big
    webhook_configs:
      - url: http://{t}/big
  - name: drip
    webhook_configs:
      - url: http://{t}/drip
        timeout: 1s
"#
        ),
    );
    let log = dir.path().join("log");
    post_json(server.addr, "/api/v2/alerts", ALERT);
    let failed = "alertmanager_notifications_failed_total{integration=\"webhook\"";
    wait_for(
        Duration::from_secs(30),
        "both webhooks to fail for good",
        || counter(server.addr, failed) >= 2.0,
    );
    let logged = plain(&std::fs::read_to_string(&log).unwrap());
    // (receiver, reason in the log)
    for (receiver, reason) in [
        ("big", "body size limit exceeded (body over 1048576 bytes)"),
        ("drip", "context deadline exceeded (timeout 1s)"),
    ] {
        assert!(
            logged.lines().any(|l| l.contains("notify failed")
                && l.contains(&format!("receiver={receiver}"))
                && l.contains(reason)),
            "no failure of {receiver} with {reason:?} in the log:\n{logged}"
        );
    }
    assert!(
        !logged.contains("/big") && !logged.contains("/drip"),
        "a path in the log:\n{logged}"
    );
    let metrics = assert_metrics(
        server.addr,
        "alertmanager_notifications_failed_total{integration=\"webhook\",reason=\"retries_exhausted\"}",
    );
    // Each try is counted too (at least one per receiver before it was
    // given up).
    let tries = counter(
        server.addr,
        "alertmanager_notification_requests_failed_total{integration=\"webhook\"}",
    );
    assert!(tries >= 2.0, "failed requests {tries}: {metrics}");
    // Dropping the dripping connection left nothing stuck.
    assert_eq!(http(server.addr, "GET", "/-/ready", "").unwrap().0, 200);
}

#[test]
fn oauth2_and_proxies_apply_to_notifications() {
    // One server is the token endpoint, the webhook and the proxy.
    let (p, seen) = serve(
        "127.0.0.1",
        Arc::new(|path, c| {
            if path == "/token" {
                reply(
                    c,
                    "200 OK",
                    "Content-Type: application/json\r\n",
                    br#"{"access_token":"tok-1","token_type":"bearer","expires_in":3600}"#,
                );
            } else {
                reply(c, "200 OK", "", b"");
            }
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(
        dir.path(),
        &hooks(&format!(
            r#"      - url: http://{p}/hook
        http_config:
          oauth2: {{client_id: id, client_secret: csecret, token_url: 'http://{p}/token'}}
      - url: http://proxied.invalid:9/via-proxy
        http_config:
          proxy_url: http://{p}
"#
        )),
    );
    post_json(server.addr, "/api/v2/alerts", ALERT);
    // An http:// request through a proxy names the whole URL.
    let proxied = "http://proxied.invalid:9/via-proxy";
    wait_for(Duration::from_secs(30), "both webhooks delivered", || {
        let s = seen.lock().unwrap();
        s.iter().any(|r| r.path == "/hook") && s.iter().any(|r| r.path == proxied)
    });
    let seen = seen.lock().unwrap().clone();
    let find = |p: &str| seen.iter().find(|r| r.path == p).unwrap().clone();
    // Base64 of "id:csecret": client credentials in basic auth.
    assert_eq!(
        find("/token").header("authorization"),
        Some("Basic aWQ6Y3NlY3JldA=="),
        "{seen:?}"
    );
    assert_eq!(
        find("/hook").header("authorization"),
        Some("Bearer tok-1"),
        "{seen:?}"
    );
    assert_eq!(find(proxied).method, "POST", "{seen:?}");
    let logged = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(!logged.contains("csecret"), "{logged}");
}
