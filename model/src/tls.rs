//! TLS for Watchfire's HTTP clients (scrapes, discovery, notifications),
//! through rustls: a CA (file or inline PEM, else the system's roots), a
//! client certificate, a fixed server name and `insecure_skip_verify`, as
//! in Prometheus' `common/config` TLS options. Needs the `tls` feature.
//!
//! rustls speaks TLS 1.2 and 1.3 only, so a `min_version` of `TLS10` or
//! `TLS11` still gets 1.2 at least.

use std::sync::{Arc, OnceLock};

use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// PEM data, from a file or written inline.
#[derive(Debug, Clone, Copy)]
pub enum Pem<'a> {
    File(&'a str),
    Inline(&'a str),
}

impl Pem<'_> {
    fn what(&self, kind: &str) -> String {
        match self {
            Pem::File(f) => f.to_string(),
            Pem::Inline(_) => format!("the inline {kind}"),
        }
    }
}

/// What a `tls_config` says, whichever configuration file it came from.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    pub ca: Option<Pem<'a>>,
    pub cert: Option<Pem<'a>>,
    pub key: Option<Pem<'a>>,
    pub server_name: Option<&'a str>,
    pub insecure_skip_verify: bool,
    pub min_version: Option<&'a str>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's trust anchors, read once.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut store = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "reading system CA certificates");
            }
            let (added, ignored) = store.add_parsable_certificates(found.certs);
            tracing::debug!(added, ignored, "system CA certificates");
            Arc::new(store)
        })
        .clone()
}

/// The configuration without `tls_config`: system roots, TLS 1.2 and 1.3.
pub fn default_config() -> ClientConfig {
    ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(system_roots())
        .with_no_client_auth()
}

/// The rustls client configuration `o` describes. Errors name the file
/// and what is wrong with it.
pub fn client_config(o: &Options) -> Result<ClientConfig, String> {
    let versions: &[&rustls::SupportedProtocolVersion] = match o.min_version {
        None | Some("" | "TLS10" | "TLS11" | "TLS12") => rustls::ALL_VERSIONS,
        Some("TLS13") => &[&rustls::version::TLS13],
        Some(v) => {
            return Err(format!(
                "unknown TLS version {v:?} in min_version (TLS10, TLS11, TLS12 or TLS13)"
            ))
        }
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = if o.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Verifier::new(None))
    } else {
        let roots = match o.ca {
            None => system_roots(),
            Some(ca) => {
                let mut store = RootCertStore::empty();
                for c in read_certs(ca, "CA")? {
                    store
                        .add(c)
                        .map_err(|e| format!("unable to use CA cert {}: {e}", ca.what("CA")))?;
                }
                Arc::new(store)
            }
        };
        match server_name(o)? {
            // A client that cannot pick the name per connection (reqwest)
            // still checks the certificate against `server_name`.
            Some(name) => {
                let inner =
                    rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
                        .build()
                        .map_err(|e| format!("CA certificates: {e}"))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Verifier::new(Some(FixedName {
                        inner,
                        name,
                    })))
            }
            None => builder.with_root_certificates(roots),
        }
    };
    match (o.cert, o.key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(c), Some(k)) => {
            let certs = read_certs(c, "certificate")?;
            let key = match k {
                Pem::File(f) => PrivateKeyDer::from_pem_file(f),
                Pem::Inline(s) => PrivateKeyDer::from_pem_slice(s.as_bytes()),
            }
            .map_err(|e| format!("unable to read client key {}: {e}", k.what("key")))?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                format!(
                    "unable to use client cert {} with key {}: {e}",
                    c.what("certificate"),
                    k.what("key")
                )
            })
        }
        (Some(_), None) => Err("client cert file specified without client key file".into()),
        (None, Some(_)) => Err("client key file specified without client cert file".into()),
    }
}

/// The server name to check certificates against instead of the URL's
/// host, when `server_name` is set.
pub fn server_name(o: &Options) -> Result<Option<ServerName<'static>>, String> {
    match o.server_name {
        None | Some("") => Ok(None),
        Some(n) => ServerName::try_from(n.to_string())
            .map(Some)
            .map_err(|e| format!("invalid server_name {n:?}: {e}")),
    }
}

/// An HTTP and HTTPS connector for `o` (`None`: the defaults).
pub fn connector(o: Option<&Options>) -> Result<HttpsConnector<HttpConnector>, String> {
    let (cfg, name) = match o {
        None => (default_config(), None),
        Some(o) => (client_config(o)?, server_name(o)?),
    };
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    Ok(match name {
        Some(n) => HttpsConnector::new(http, cfg, false, Arc::new(FixedServerNameResolver::new(n))),
        None => HttpsConnector::new(
            http,
            cfg,
            false,
            Arc::new(hyper_rustls::DefaultServerNameResolver::default()),
        ),
    })
}

fn read_certs(pem: Pem, kind: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = match pem {
        Pem::File(f) => CertificateDer::pem_file_iter(f).and_then(|it| it.collect()),
        Pem::Inline(s) => CertificateDer::pem_slice_iter(s.as_bytes()).collect(),
    }
    .map_err(|e| format!("unable to read certificates from {}: {e}", pem.what(kind)))?;
    if certs.is_empty() {
        return Err(format!("no certificates found in {}", pem.what(kind)));
    }
    Ok(certs)
}

/// Checks a server's certificate where rustls's own verifier cannot do
/// what `tls_config` asks: against `server_name` whatever host the
/// connection was made to, or not at all (`insecure_skip_verify`). The
/// handshake signatures are checked either way, with the provider's
/// algorithms, as rustls's `WebPkiServerVerifier` checks them.
#[derive(Debug)]
struct Verifier {
    /// `None` accepts any certificate.
    fixed: Option<FixedName>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

/// The usual certificate check, against `server_name`.
#[derive(Debug)]
struct FixedName {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl Verifier {
    fn new(fixed: Option<FixedName>) -> Arc<Verifier> {
        Arc::new(Verifier {
            fixed,
            algorithms: provider().signature_verification_algorithms,
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.fixed {
            Some(f) => f
                .inner
                .verify_server_cert(end_entity, intermediates, &f.name, ocsp, now),
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
