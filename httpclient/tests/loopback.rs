//! The client against real HTTP servers on loopback, started here:
//! redirects to another host never carry credentials, limits and
//! timeouts fail cleanly, proxies and OAuth2 work.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpclient::{Client, ErrorKind, HttpConfig, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request a test server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

enum Reply {
    Full(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Headers at once, then one byte of body every `.0`.
    Drip(Duration),
    /// The body in chunked encoding, no length announced.
    Chunked(Vec<u8>),
}

fn ok(body: &str) -> Reply {
    Reply::Full(
        200,
        vec![("content-type", "text/plain".into())],
        body.into(),
    )
}

fn redirect(status: u16, to: String) -> Reply {
    Reply::Full(status, vec![("location", to)], Vec::new())
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

async fn read_request(c: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    let head_end = loop {
        let n = c.read(&mut b).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&b[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = c.read(&mut b).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&b[..n]);
    }
    Some(Seen {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    })
}

async fn answer(c: &mut TcpStream, r: Reply) {
    match r {
        Reply::Full(status, headers, body) => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = c.write_all(head.as_bytes()).await;
            let _ = c.write_all(&body).await;
        }
        Reply::Chunked(body) => {
            let _ = c
                .write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                )
                .await;
            write_chunked(c, &body, 1000).await;
        }
        Reply::Drip(every) => {
            let _ = c
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n")
                .await;
            for _ in 0..1000 {
                if c.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        }
    }
    let _ = c.shutdown().await;
}

/// `body` in chunked encoding, in parts of `part` bytes, and the last chunk.
async fn write_chunked(c: &mut TcpStream, body: &[u8], part: usize) {
    for p in body.chunks(part) {
        let _ = c.write_all(format!("{:x}\r\n", p.len()).as_bytes()).await;
        let _ = c.write_all(p).await;
        let _ = c.write_all(b"\r\n").await;
    }
    let _ = c.write_all(b"0\r\n\r\n").await;
}

async fn serve(ip: &str, h: Handler) -> Server {
    let l = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = l.accept().await else {
                return;
            };
            let (h, keep) = (h.clone(), keep.clone());
            tokio::spawn(async move {
                if let Some(req) = read_request(&mut c).await {
                    keep.lock().unwrap().push(req.clone());
                    let r = h(&req);
                    answer(&mut c, r).await;
                }
            });
        }
    });
    Server { addr, seen }
}

fn config(yaml: &str) -> HttpConfig {
    model::yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

async fn token_server() -> Server {
    serve(
        "127.0.0.1",
        Arc::new(|_| {
            Reply::Full(
                200,
                vec![("content-type", "application/json".into())],
                br#"{"access_token":"tok-1","token_type":"bearer","expires_in":3600}"#.to_vec(),
            )
        }),
    )
    .await
}

#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_origin() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h");
    std::fs::write(&file, "file-secret\n").unwrap();
    let tokens = token_server().await;
    let landing = |ip: &'static str| async move { serve(ip, Arc::new(|_| ok("landed"))).await };
    let other_host = landing("127.0.0.2").await;
    let other_port = landing("127.0.0.1").await;
    let headers = format!(
        "http_headers: {{X-Plain: {{values: [plain]}}, X-Secret: {{secrets: [header-secret]}}, X-File: {{files: ['{}']}}}}\n",
        file.display()
    );
    // (auth, the Authorization the origin must get)
    let auths = [
        (
            "basic_auth: {username: u, password: pw}\n",
            "Basic dTpwdw==",
        ),
        (
            "authorization: {credentials: bearer-secret}\n",
            "Bearer bearer-secret",
        ),
        ("bearer_token: legacy-secret\n", "Bearer legacy-secret"),
        (
            &*format!(
                "oauth2: {{client_id: id, client_secret: cs, token_url: '{}'}}\n",
                tokens.url("/token")
            ),
            "Bearer tok-1",
        ),
    ];
    for (auth, want) in auths {
        for (name, to) in [
            ("another host", other_host.url("/landing")),
            ("another port", other_port.url("/landing")),
            ("same origin", String::new()),
        ] {
            let to2 = to.clone();
            let origin = serve(
                "127.0.0.1",
                Arc::new(move |r: &Seen| match r.target.as_str() {
                    "/start" if to2.is_empty() => redirect(302, "/landing".into()),
                    "/start" => redirect(302, to2.clone()),
                    _ => ok("landed"),
                }),
            )
            .await;
            let client = Client::new(&config(&format!("{auth}{headers}"))).unwrap();
            let resp = client
                .send(Request::get(origin.url("/start")))
                .await
                .unwrap_or_else(|e| panic!("{auth} {name}: {e}"));
            assert_eq!(resp.status, 200, "{auth} {name}");
            assert_eq!(&resp.body[..], b"landed");
            let first = &origin.seen()[0];
            assert_eq!(
                first.header("authorization"),
                Some(want),
                "{auth}: first hop"
            );
            assert_eq!(first.header("x-secret"), Some("header-secret"));
            assert_eq!(first.header("x-file"), Some("file-secret"));
            let last = if to.is_empty() {
                origin.seen().last().cloned().unwrap()
            } else if name == "another host" {
                other_host.seen().last().cloned().unwrap()
            } else {
                other_port.seen().last().cloned().unwrap()
            };
            assert_eq!(last.target, "/landing");
            assert_eq!(last.header("x-plain"), Some("plain"), "{auth} {name}");
            if to.is_empty() {
                assert_eq!(last.header("authorization"), Some(want), "{auth} {name}");
                assert_eq!(last.header("x-secret"), Some("header-secret"));
                assert_eq!(last.header("x-file"), Some("file-secret"));
            } else {
                for h in ["authorization", "x-secret", "x-file"] {
                    assert_eq!(
                        last.header(h),
                        None,
                        "{auth} {name}: {h} was sent: {last:?}"
                    );
                }
            }
        }
    }
    // One token per client (three were built), reused on the second hop.
    assert_eq!(
        tokens.seen().len(),
        3,
        "the token is fetched once per client"
    );
}

#[tokio::test]
async fn user_info_is_credentials_for_its_origin_only() {
    let other = serve("127.0.0.2", Arc::new(|_| ok("x"))).await;
    let to = other.url("/l");
    let origin = serve("127.0.0.1", Arc::new(move |_| redirect(307, to.clone()))).await;
    let url = format!("http://u%40x:p%3Aw@{}/start", origin.addr);
    let resp = Client::plain()
        .unwrap()
        .send(Request::post(url, "application/json", "{}"))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    // "u@x:p:w"
    assert_eq!(
        origin.seen()[0].header("authorization"),
        Some("Basic dUB4OnA6dw==")
    );
    let landed = &other.seen()[0];
    assert_eq!(landed.header("authorization"), None);
    assert_eq!(
        (landed.method.as_str(), landed.body.as_str()),
        ("POST", "{}"),
        "307 repeats the request"
    );
}

#[tokio::test]
async fn redirects_not_followed_when_off_and_at_most_ten() {
    let s = serve(
        "127.0.0.1",
        Arc::new(|r: &Seen| {
            let n: u32 = r.target.trim_start_matches('/').parse().unwrap_or(0);
            redirect(302, format!("/{}", n + 1))
        }),
    )
    .await;
    let off = Client::new(&config("follow_redirects: false\n")).unwrap();
    let r = off.send(Request::get(s.url("/0"))).await.unwrap();
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/1"));
    let on = Client::plain().unwrap();
    let e = on.send(Request::get(s.url("/0"))).await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::TooManyRedirects), "{e}");
    assert_eq!(s.seen().len(), 1 + 11, "10 redirects followed, then stop");
}

#[tokio::test]
async fn bodies_over_the_limit_fail_with_the_limit_named() {
    let s = serve(
        "127.0.0.1",
        Arc::new(|r: &Seen| match r.target.as_str() {
            "/chunked" => Reply::Chunked(vec![b'a'; 5000]),
            _ => ok(&"a".repeat(5000)),
        }),
    )
    .await;
    let c = Client::plain().unwrap();
    for path in ["/length", "/chunked"] {
        let e = c
            .send(Request::get(s.url(path)).body_limit(1024))
            .await
            .unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::BodyTooLarge(1024)),
            "{path}: {e}"
        );
        let want = format!(
            "GET http://{}: body size limit exceeded (body over 1024 bytes)",
            s.addr
        );
        assert_eq!(e.to_string(), want, "{path}");
        let r = c
            .send(Request::get(s.url(path)).body_limit(5000))
            .await
            .unwrap();
        assert_eq!(r.body.len(), 5000, "{path}: a body at the limit is read");
    }
}

#[tokio::test]
async fn a_dripping_body_fails_at_the_timeout() {
    let s = serve(
        "127.0.0.1",
        Arc::new(|_| Reply::Drip(Duration::from_millis(50))),
    )
    .await;
    let started = std::time::Instant::now();
    let e = Client::plain()
        .unwrap()
        .send(Request::get(s.url("/drip")).timeout(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(e.to_string().contains("context deadline exceeded"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn errors_show_no_path_or_user_info() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = Client::plain()
        .unwrap()
        .send(Request::get(format!(
            "http://user:hunter2@127.0.0.1:{port}/T0KEN/x?key=s3cret"
        )))
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    for secret in ["hunter2", "T0KEN", "s3cret", "user"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(
        text.starts_with(&format!("GET http://127.0.0.1:{port}: ")),
        "{text}"
    );
    assert!(e.is_retryable(), "{e}");
}

#[tokio::test]
async fn missing_credential_files_are_errors_naming_them() {
    for (yaml, want) in [
        ("basic_auth: {username: u, password_file: /nonexistent/pw}", "unable to read password_file /nonexistent/pw"),
        ("authorization: {credentials_file: /nonexistent/c}", "unable to read credentials_file /nonexistent/c"),
        ("oauth2: {client_id: i, token_url: 'http://127.0.0.1:1/t', client_secret_file: /nonexistent/s}", "unable to read client_secret_file /nonexistent/s"),
    ] {
        let e = Client::new(&config(yaml)).err().unwrap_or_else(|| panic!("{yaml}: no error"));
        assert!(e.to_string().contains(want), "{yaml}: got {e}, want {want}");
    }
    // A file that goes away later fails the request, never sends "".
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pw");
    std::fs::write(&f, "pw").unwrap();
    let s = serve("127.0.0.1", Arc::new(|_| ok(""))).await;
    let c = Client::new(&config(&format!(
        "basic_auth: {{username: u, password_file: '{}'}}",
        f.display()
    )))
    .unwrap();
    c.send(Request::get(s.url("/"))).await.unwrap();
    std::fs::remove_file(&f).unwrap();
    let e = c.send(Request::get(s.url("/"))).await.unwrap_err();
    assert!(
        e.to_string().contains("unable to read password_file"),
        "{e}"
    );
    assert_eq!(s.seen().len(), 1);
}

#[tokio::test]
async fn proxy_url_carries_requests() {
    // The proxy answers itself: it sees the absolute URI (plain HTTP) or
    // the CONNECT (HTTPS), with its own credentials and connect headers.
    let proxy = serve(
        "127.0.0.1",
        Arc::new(|r: &Seen| {
            if r.method == "CONNECT" {
                Reply::Full(403, vec![], Vec::new())
            } else {
                ok("via proxy")
            }
        }),
    )
    .await;
    let cfg = config(&format!(
        "proxy_url: 'http://pu:ppw@{}'\nproxy_connect_header: {{X-Connect: [c1]}}\nauthorization: {{credentials: t}}\n",
        proxy.addr
    ));
    let c = Client::new(&cfg).unwrap();
    let r = c
        .send(Request::get("http://target.invalid:9100/metrics"))
        .await
        .unwrap();
    assert_eq!(&r.body[..], b"via proxy");
    let seen = proxy.seen();
    assert_eq!(seen[0].target, "http://target.invalid:9100/metrics");
    assert_eq!(
        seen[0].header("proxy-authorization"),
        Some("Basic cHU6cHB3")
    );
    assert_eq!(seen[0].header("authorization"), Some("Bearer t"));
    let e = c
        .send(Request::get("https://target.invalid:9443/metrics"))
        .await
        .unwrap_err();
    assert!(!e.to_string().contains("ppw"), "{e}");
    let connect = &proxy.seen()[1];
    assert_eq!(
        (connect.method.as_str(), connect.target.as_str()),
        ("CONNECT", "target.invalid:9443")
    );
    assert_eq!(connect.header("x-connect"), Some("c1"));
    // no_proxy bypasses it.
    let direct = serve("127.0.0.1", Arc::new(|_| ok("direct"))).await;
    let c = Client::new(&config(&format!(
        "proxy_url: 'http://{}'\nno_proxy: 127.0.0.1\n",
        proxy.addr
    )))
    .unwrap();
    let r = c.send(Request::get(direct.url("/"))).await.unwrap();
    assert_eq!(&r.body[..], b"direct");
}

#[tokio::test]
async fn oauth2_token_is_fetched_and_cached() {
    let tokens = token_server().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("cs");
    std::fs::write(&secret, "client secret\n").unwrap();
    let target = serve("127.0.0.1", Arc::new(|_| ok("x"))).await;
    let c = Client::new(&config(&format!(
        "oauth2:\n  client_id: my-id\n  client_secret_file: '{}'\n  token_url: '{}'\n  scopes: [a, b]\n  endpoint_params: {{audience: wf}}\n",
        secret.display(),
        tokens.url("/token")
    )))
    .unwrap();
    for _ in 0..3 {
        c.send(Request::get(target.url("/"))).await.unwrap();
    }
    let t = tokens.seen();
    assert_eq!(t.len(), 1, "cached: {t:?}");
    assert_eq!(t[0].method, "POST");
    // "my-id:client+secret", form-encoded first as RFC 6749 asks.
    assert_eq!(
        t[0].header("authorization"),
        Some("Basic bXktaWQ6Y2xpZW50K3NlY3JldA==")
    );
    assert_eq!(
        t[0].body,
        "grant_type=client_credentials&scope=a+b&audience=wf"
    );
    for r in target.seen() {
        assert_eq!(r.header("authorization"), Some("Bearer tok-1"));
    }
    // A new secret gets a new token.
    std::fs::write(&secret, "rotated").unwrap();
    c.send(Request::get(target.url("/"))).await.unwrap();
    assert_eq!(tokens.seen().len(), 2);
    // A token endpoint that refuses fails the request with its answer.
    let refusing = serve(
        "127.0.0.1",
        Arc::new(|_| Reply::Full(401, vec![], br#"{"error":"invalid_client"}"#.to_vec())),
    )
    .await;
    let c = Client::new(&config(&format!(
        "oauth2: {{client_id: i, client_secret: s, token_url: '{}'}}",
        refusing.url("/t")
    )))
    .unwrap();
    let e = c.send(Request::get(target.url("/"))).await.unwrap_err();
    assert!(
        e.to_string().contains("oauth2: cannot fetch token: 401"),
        "{e}"
    );
    assert!(e.to_string().contains("invalid_client"), "{e}");
}

/// Connections without a proxy read in small pieces (so that a pooled
/// connection keeps a small buffer): a response head far longer than one
/// read, and bodies of a megabyte, with and without a length, still
/// arrive whole, and every request reuses the one kept-alive connection.
#[tokio::test]
async fn kept_alive_connections_carry_long_heads_and_bodies() {
    let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    let connections = Arc::new(Mutex::new(0));
    let count = connections.clone();
    let big: Vec<u8> = (0..1 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    let served = big.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            *count.lock().unwrap() += 1;
            let body = served.clone();
            tokio::spawn(async move {
                let mut turn = 0;
                while read_request(&mut c).await.is_some() {
                    let cookie = "x".repeat(40_000);
                    let head = if turn % 2 == 0 {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Long: {cookie}\r\n\r\n",
                            body.len()
                        )
                    } else {
                        format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Long: {cookie}\r\n\r\n")
                    };
                    let _ = c.write_all(head.as_bytes()).await;
                    if turn % 2 == 0 {
                        let _ = c.write_all(&body).await;
                    } else {
                        write_chunked(&mut c, &body, 70_000).await;
                    }
                    turn += 1;
                }
            });
        }
    });
    let c = Client::plain().unwrap();
    for i in 0..4 {
        let r = c
            .send(Request::get(format!("http://{addr}/metrics")).body_limit(2 << 20))
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(
            r.header("x-long").map(str::len),
            Some(40_000),
            "request {i}"
        );
        assert!(r.body == big, "request {i}: body differs");
    }
    assert_eq!(*connections.lock().unwrap(), 1, "one kept-alive connection");
}
