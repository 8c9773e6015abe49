//! Scrapes over TLS through `tls_config`: a test CA signs a server
//! certificate for `watchfire.test` and 127.0.0.1 and a client certificate;
//! a rustls server on 127.0.0.1 serves an exposition, optionally demanding
//! the client certificate.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use collector::scrape::Fetcher;
use httpclient::{HttpConfig, TlsConfig};
use rcgen::{CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// Writes ca.pem, server.pem/server.key, client.pem/client.key and a
/// second, unrelated other-ca.pem.
fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params.clone(), KeyPair::generate().unwrap()).unwrap();
    write("ca.pem", ca.pem());
    let other = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    write("other-ca.pem", other.pem());
    for (name, sans) in [
        (
            "server",
            vec!["watchfire.test".to_string(), "127.0.0.1".to_string()],
        ),
        ("client", vec!["client.watchfire.test".to_string()]),
    ] {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(sans)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        write(&format!("{name}.pem"), cert.pem());
        write(&format!("{name}.key"), key.serialize_pem());
    }
    Pki { dir }
}

/// A TLS server answering every request with a one-line exposition; with
/// `client_ca` it requires a client certificate signed by it.
fn serve(pki: &Pki, client_ca: bool) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.path("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(pki.path("server.key")).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_ca {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = Arc::new(builder.with_single_cert(certs, key).unwrap());
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in l.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut r = BufReader::new(&mut tls);
                loop {
                    let mut h = String::new();
                    match r.read_line(&mut h) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if h == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                let body = "tls_up 1\n";
                let _ = write!(
                    tls,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.flush();
            });
        }
    });
    addr
}

fn fetcher(tls: Option<&TlsConfig>) -> Result<Fetcher, String> {
    Fetcher::new(&HttpConfig {
        tls_config: tls.cloned(),
        ..HttpConfig::default()
    })
}

async fn scrape(tls: Option<&TlsConfig>, url: &str) -> Result<Vec<u8>, String> {
    let f = fetcher(tls)?;
    f.get(url, Duration::from_secs(5), 0, &[], None)
        .await
        .map(|b| b.bytes.to_vec())
}

fn tls(f: impl FnOnce(&mut TlsConfig)) -> TlsConfig {
    let mut t = TlsConfig::default();
    f(&mut t);
    t
}

#[tokio::test(flavor = "current_thread")]
async fn tls_config_options_like_prometheus() {
    let pki = pki();
    let plain = serve(&pki, false);
    let mutual = serve(&pki, true);
    let url = format!("https://{plain}/metrics");
    let ca = pki.path("ca.pem");

    // The test CA verifies the server (its certificate names 127.0.0.1).
    let ok = scrape(Some(&tls(|t| t.ca_file = ca.clone())), &url).await;
    assert_eq!(ok.as_deref(), Ok(&b"tls_up 1\n"[..]));
    // Without it, or with another CA, the certificate is refused.
    for t in [None, Some(tls(|t| t.ca_file = pki.path("other-ca.pem")))] {
        let e = scrape(t.as_ref(), &url).await.unwrap_err();
        assert!(e.contains("certificate"), "{e}");
    }
    // insecure_skip_verify takes any certificate.
    let ok = scrape(Some(&tls(|t| t.insecure_skip_verify = true)), &url).await;
    assert!(ok.is_ok(), "{ok:?}");
    // server_name checks the certificate against another name.
    let by_name = |name: &str| {
        let name = name.to_string();
        tls(|t| {
            t.ca_file = ca.clone();
            t.server_name = name;
        })
    };
    let ok = scrape(Some(&by_name("watchfire.test")), &url).await;
    assert!(ok.is_ok(), "{ok:?}");
    let e = scrape(Some(&by_name("elsewhere.test")), &url)
        .await
        .unwrap_err();
    assert!(e.contains("certificate"), "{e}");

    // A server that demands a client certificate gets one from
    // cert_file/key_file, and refuses the scrape without.
    let url = format!("https://{mutual}/metrics");
    let with_cert = tls(|t| {
        t.ca_file = ca.clone();
        t.cert_file = pki.path("client.pem");
        t.key_file = pki.path("client.key");
    });
    let ok = scrape(Some(&with_cert), &url).await;
    assert!(ok.is_ok(), "{ok:?}");
    assert!(scrape(Some(&tls(|t| t.ca_file = ca.clone())), &url)
        .await
        .is_err());
}

#[test]
fn bad_tls_files_are_named() {
    let pki = pki();
    let missing = pki.path("missing.pem");
    let cases = [
        (tls(|t| t.ca_file = missing.clone()), "missing.pem"),
        (
            tls(|t| t.ca_file = pki.path("server.key")),
            "no certificates found",
        ),
        (
            tls(|t| t.cert_file = pki.path("client.pem")),
            "exactly one of key or key_file must be configured when a client certificate is configured",
        ),
        (
            tls(|t| {
                t.cert_file = pki.path("client.pem");
                t.key_file = pki.path("ca.pem");
            }),
            "ca.pem",
        ),
        (
            tls(|t| t.min_version = "TLS14".into()),
            "unknown TLS version",
        ),
    ];
    for (t, want) in cases {
        let e = fetcher(Some(&t)).err().unwrap_or_default();
        assert!(e.contains(want), "{t:?}: {e:?} lacks {want:?}");
    }
    // The configuration loader refuses them with the job's line, and
    // resolves relative paths against the file's directory.
    let dir = pki.dir.path();
    let file = dir.join("prometheus.yml").display().to_string();
    let text = "scrape_configs:\n  - job_name: a\n    scheme: https\n    tls_config: {ca_file: missing.pem}\n";
    let e = config::parse(text, &file).unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.reason.contains(&missing), "{e}");
    let text =
        "scrape_configs:\n  - job_name: a\n    scheme: https\n    tls_config: {ca_file: ca.pem}\n";
    let cfg = config::parse(text, &file).unwrap();
    let got = cfg.scrape_configs[0].http.tls_config.as_ref().unwrap();
    assert_eq!(Path::new(&got.ca_file), dir.join("ca.pem").as_path());
}
