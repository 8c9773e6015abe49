//! `tls_config` for scrapes and HTTP discovery, through rustls: a CA file
//! (or the system's roots), a client certificate, a fixed server name and
//! `insecure_skip_verify`, as in Prometheus' `common/config` TLS options.
//!
//! rustls speaks TLS 1.2 and 1.3 only, so a `min_version` of `TLS10` or
//! `TLS11` still gets 1.2 at least.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::TlsConfig;

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

/// The rustls client configuration `tls` describes (`None`: defaults).
/// Errors name the file and what is wrong with it.
pub fn client_config(tls: Option<&TlsConfig>) -> Result<ClientConfig, String> {
    let default = TlsConfig::default();
    let tls = tls.unwrap_or(&default);
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version.as_deref() {
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
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider())))
    } else {
        let roots = match &tls.ca_file {
            None => system_roots(),
            Some(f) => {
                let mut store = RootCertStore::empty();
                for c in read_certs(f)? {
                    store
                        .add(c)
                        .map_err(|e| format!("unable to use CA cert {f}: {e}"))?;
                }
                Arc::new(store)
            }
        };
        builder.with_root_certificates(roots)
    };
    match (&tls.cert_file, &tls.key_file) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(c), Some(k)) => {
            let certs = read_certs(c)?;
            let key = PrivateKeyDer::from_pem_file(k)
                .map_err(|e| format!("unable to read client key {k}: {e}"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("unable to use client cert {c} with key {k}: {e}"))
        }
        (Some(_), None) => Err("client cert file specified without client key file".into()),
        (None, Some(_)) => Err("client key file specified without client cert file".into()),
    }
}

/// The server name to check certificates against instead of the URL's
/// host, when `server_name` is set.
pub fn server_name(tls: Option<&TlsConfig>) -> Result<Option<ServerName<'static>>, String> {
    match tls.and_then(|t| t.server_name.as_deref()) {
        None | Some("") => Ok(None),
        Some(n) => ServerName::try_from(n.to_string())
            .map(Some)
            .map_err(|e| format!("invalid server_name {n:?}: {e}")),
    }
}

fn read_certs(file: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("unable to read certificates from {file}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("no certificates found in {file}"));
    }
    Ok(certs)
}

/// `insecure_skip_verify`: any certificate is accepted, but the handshake
/// signatures are still checked.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
