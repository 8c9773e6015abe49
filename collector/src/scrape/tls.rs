//! A scrape job's `tls_config` as [`model::tls`] options.

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use model::tls::{Options, Pem};

use crate::config::TlsConfig;

fn options(t: &TlsConfig) -> Options<'_> {
    Options {
        ca: t.ca_file.as_deref().map(Pem::File),
        cert: t.cert_file.as_deref().map(Pem::File),
        key: t.key_file.as_deref().map(Pem::File),
        server_name: t.server_name.as_deref(),
        insecure_skip_verify: t.insecure_skip_verify,
        min_version: t.min_version.as_deref(),
    }
}

/// Checks `tls`: its files can be read and used. Errors name the file and
/// what is wrong with it.
pub fn check(tls: &TlsConfig) -> Result<(), String> {
    let o = options(tls);
    model::tls::client_config(&o).and_then(|_| model::tls::server_name(&o).map(|_| ()))
}

/// The connector for `tls` (`None`: system roots, no client certificate).
pub fn connector(tls: Option<&TlsConfig>) -> Result<HttpsConnector<HttpConnector>, String> {
    model::tls::connector(tls.map(options).as_ref())
}
