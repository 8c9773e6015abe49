//! `http_config` and `tls_config` as Prometheus's common library reads
//! them (prometheus/common `config/http_config.go`), with its checks.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub username_file: String,
    #[serde(default)]
    pub username_ref: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub password_file: String,
    #[serde(default)]
    pub password_ref: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub credentials: String,
    #[serde(default)]
    pub credentials_file: String,
    #[serde(default)]
    pub credentials_ref: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(default)]
    pub client_secret_file: String,
    #[serde(default)]
    pub client_secret_ref: String,
    #[serde(default)]
    pub client_certificate_key_id: String,
    #[serde(default)]
    pub client_certificate_key: String,
    #[serde(default)]
    pub client_certificate_key_file: String,
    #[serde(default)]
    pub client_certificate_key_ref: String,
    #[serde(default)]
    pub grant_type: String,
    #[serde(default)]
    pub signature_algorithm: String,
    #[serde(default)]
    pub iss: String,
    #[serde(default)]
    pub audience: String,
    #[serde(default)]
    pub claims: BTreeMap<String, Value>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub token_url: String,
    #[serde(default)]
    pub endpoint_params: BTreeMap<String, String>,
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    #[serde(default)]
    pub proxy_url: String,
    #[serde(default)]
    pub no_proxy: String,
    #[serde(default)]
    pub proxy_from_environment: bool,
    #[serde(default)]
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
}

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

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Header {
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
}

/// `http_config`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    #[serde(default)]
    pub bearer_token: String,
    #[serde(default)]
    pub bearer_token_file: String,
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    #[serde(default)]
    pub enable_http2: Option<bool>,
    #[serde(default)]
    pub proxy_url: String,
    #[serde(default)]
    pub no_proxy: String,
    #[serde(default)]
    pub proxy_from_environment: bool,
    #[serde(default)]
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub http_headers: BTreeMap<String, Header>,
}

const RESERVED_HEADERS: &[&str] = &[
    "Authorization",
    "Host",
    "Content-Encoding",
    "Content-Length",
    "Content-Type",
    "User-Agent",
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Www-Authenticate",
    "Accept-Encoding",
    "X-Prometheus-Remote-Write-Version",
    "X-Prometheus-Remote-Read-Version",
    "X-Prometheus-Scrape-Timeout-Seconds",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
];

/// Go's `textproto.CanonicalMIMEHeaderKey` for ASCII names.
pub fn canonical_header(name: &str) -> String {
    let mut up = true;
    name.chars()
        .map(|c| {
            let out = if up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            up = c == '-';
            out
        })
        .collect()
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

impl HttpConfig {
    /// Whether requests carry an `Authorization` (a bearer token counts,
    /// as upstream turns it into one when reading).
    pub fn has_authorization(&self) -> bool {
        self.authorization.is_some()
            || !self.bearer_token.is_empty()
            || !self.bearer_token_file.is_empty()
    }

    /// Upstream `HTTPClientConfig.Validate`, in its order.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some(t) = &self.tls_config {
            t.validate()?;
        }
        let bearer = !self.bearer_token.is_empty() || !self.bearer_token_file.is_empty();
        if !self.bearer_token.is_empty() && !self.bearer_token_file.is_empty() {
            return Err(
                "at most one of bearer_token & bearer_token_file must be configured".into(),
            );
        }
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && bearer {
            return Err("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured".into());
        }
        if let Some(b) = &self.basic_auth {
            if count(&[&b.username, &b.username_file, &b.username_ref]) > 1 {
                return Err("at most one of basic_auth username, username_file & username_ref must be configured".into());
            }
            if count(&[&b.password, &b.password_file, &b.password_ref]) > 1 {
                return Err("at most one of basic_auth password, password_file & password_ref must be configured".into());
            }
        }
        if let Some(a) = &self.authorization {
            if bearer {
                return Err(
                    "authorization is not compatible with bearer_token & bearer_token_file".into(),
                );
            }
            if count(&[&a.credentials, &a.credentials_file, &a.credentials_ref]) > 1 {
                return Err("at most one of authorization credentials & credentials_file must be configured".into());
            }
            if a.kind.trim().eq_ignore_ascii_case("basic") {
                return Err(
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead"
                        .into(),
                );
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                return Err(
                    "at most one of basic_auth, oauth2 & authorization must be configured".into(),
                );
            }
        }
        if let Some(o) = &self.oauth2 {
            if self.basic_auth.is_some() {
                return Err(
                    "at most one of basic_auth, oauth2 & authorization must be configured".into(),
                );
            }
            if o.client_id.is_empty() {
                return Err("oauth2 client_id must be configured".into());
            }
            if o.token_url.is_empty() {
                return Err("oauth2 token_url must be configured".into());
            }
            if o.grant_type == "urn:ietf:params:oauth:grant-type:jwt-bearer" {
                if count(&[
                    &o.client_certificate_key,
                    &o.client_certificate_key_file,
                    &o.client_certificate_key_ref,
                ]) > 1
                {
                    return Err("at most one of oauth2 client_certificate_key, client_certificate_key_file & client_certificate_key_ref must be configured using grant-type=urn:ietf:params:oauth:grant-type:jwt-bearer".into());
                }
                if !o.signature_algorithm.is_empty()
                    && !["RS256", "RS384", "RS512"].contains(&o.signature_algorithm.as_str())
                {
                    return Err("valid signature algorithms are RS256, RS384 and RS512".into());
                }
            } else if count(&[
                &o.client_secret,
                &o.client_secret_file,
                &o.client_secret_ref,
            ]) > 1
            {
                return Err("at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured using grant-type=client_credentials".into());
            }
            proxy(
                &o.proxy_url,
                &o.no_proxy,
                o.proxy_from_environment,
                &o.proxy_connect_header,
            )?;
            if let Some(t) = &o.tls_config {
                t.validate()?;
            }
        }
        proxy(
            &self.proxy_url,
            &self.no_proxy,
            self.proxy_from_environment,
            &self.proxy_connect_header,
        )?;
        for name in self.http_headers.keys() {
            let c = canonical_header(name);
            if RESERVED_HEADERS.contains(&c.as_str()) {
                return Err(format!("setting header {c:?} is not allowed"));
            }
        }
        Ok(())
    }
}

fn proxy(
    url: &str,
    no_proxy: &str,
    from_env: bool,
    connect: &BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    if !connect.is_empty() && url.is_empty() && !from_env {
        return Err("if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured".into());
    }
    if from_env && !url.is_empty() {
        return Err(
            "if proxy_from_environment is configured, proxy_url must not be configured".into(),
        );
    }
    if from_env && !no_proxy.is_empty() {
        return Err(
            "if proxy_from_environment is configured, no_proxy must not be configured".into(),
        );
    }
    if !no_proxy.is_empty() && url.is_empty() {
        return Err("if no_proxy is configured, proxy_url must also be configured".into());
    }
    Ok(())
}
