//! An email integration's `tls_config` (SMTP through lettre), as
//! prometheus/common's `TLSConfig` reads it, with its checks and wording.
//! HTTP integrations take theirs from [`httpclient::TlsConfig`] inside
//! their `http_config`.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca: String,
    #[serde(default)]
    pub cert: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub ca_file: String,
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
    #[serde(default)]
    pub ca_ref: String,
    #[serde(default)]
    pub cert_ref: String,
    #[serde(default)]
    pub key_ref: String,
    #[serde(default)]
    pub server_name: String,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default)]
    pub min_version: String,
    #[serde(default)]
    pub max_version: String,
}

fn count(xs: &[&str]) -> usize {
    xs.iter().filter(|s| !s.is_empty()).count()
}

impl TlsConfig {
    /// Upstream `TLSConfig.Validate`.
    pub(crate) fn validate(&self) -> Result<(), String> {
        for v in [&self.min_version, &self.max_version] {
            if !v.is_empty() && !["TLS10", "TLS11", "TLS12", "TLS13"].contains(&v.as_str()) {
                return Err(format!("unknown TLS version: {v}"));
            }
        }
        if count(&[&self.ca, &self.ca_file, &self.ca_ref]) > 1 {
            return Err("at most one of ca, ca_file & ca_ref must be configured".into());
        }
        if count(&[&self.cert, &self.cert_file, &self.cert_ref]) > 1 {
            return Err("at most one of cert, cert_file & cert_ref must be configured".into());
        }
        if count(&[&self.key, &self.key_file, &self.key_ref]) > 1 {
            return Err("at most one of key and key_file must be configured".into());
        }
        let cert = count(&[&self.cert, &self.cert_file, &self.cert_ref]) > 0;
        let key = count(&[&self.key, &self.key_file, &self.key_ref]) > 0;
        if cert && !key {
            return Err("exactly one of key or key_file must be configured when a client certificate is configured".into());
        }
        if key && !cert {
            return Err("exactly one of cert or cert_file must be configured when a client key is configured".into());
        }
        Ok(())
    }
}
