//! A `tls_config` as a rustls client configuration, through
//! [`model::tls`] (CA, client certificate, `server_name`,
//! `insecure_skip_verify`, `min_version`).

use model::tls::{Options, Pem};

use crate::config::TlsConfig;
use crate::error::Error;

fn pem<'a>(inline: &'a str, file: &'a str) -> Option<Pem<'a>> {
    if !inline.is_empty() {
        Some(Pem::Inline(inline))
    } else if !file.is_empty() {
        Some(Pem::File(file))
    } else {
        None
    }
}

fn options(t: &TlsConfig) -> Options<'_> {
    Options {
        ca: pem(&t.ca, &t.ca_file),
        cert: pem(&t.cert, &t.cert_file),
        key: pem(t.key.expose(), &t.key_file),
        server_name: Some(t.server_name.as_str()).filter(|s| !s.is_empty()),
        insecure_skip_verify: t.insecure_skip_verify,
        min_version: Some(t.min_version.as_str()).filter(|s| !s.is_empty()),
    }
}

/// The rustls configuration for `tls` (`None`: the system's roots),
/// offering HTTP/2 by ALPN when `http2` (as Go does over TLS only).
pub(crate) fn rustls_config(
    tls: Option<&TlsConfig>,
    http2: bool,
) -> Result<rustls::ClientConfig, Error> {
    let mut cfg = match tls {
        None => model::tls::default_config(),
        Some(t) => model::tls::client_config(&options(t))
            .map_err(|e| Error::config(format!("tls_config: {e}")))?,
    };
    cfg.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(cfg)
}
