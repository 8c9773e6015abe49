//! `http_config` as users write it (prometheus/common
//! `config/http_config.go`): the raw serde types, upstream's defaults
//! (`follow_redirects` and `enable_http2` on) and upstream's validation,
//! with upstream's wording. Secrets are [`Secret`]s and print masked;
//! a password in `proxy_url` prints as `<secret>` too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};

use crate::error::{Error, ErrorKind};
use crate::secret::{Secret, MASK};

fn yes() -> bool {
    true
}

/// Declares a struct that holds the proxy keys inline, at the place
/// marked `@proxy`: `http_config`, `oauth2` and [`ProxyConfig`] itself
/// share the four keys, their defaults and how they print (upstream
/// embeds its `ProxyConfig` in the first two the same way).
macro_rules! with_proxy_keys {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $($(#[$before_attr:meta])* pub $before:ident: $before_ty:ty,)*
            @proxy
            $(, $(#[$after_attr:meta])* pub $after:ident: $after_ty:ty)* $(,)?
        }
    ) => {
        $(#[$attr])*
        pub struct $name {
            $($(#[$before_attr])* pub $before: $before_ty,)*
            /// `http://[user:password@]host:port`; the password prints masked.
            #[serde(
                default,
                skip_serializing_if = "String::is_empty",
                serialize_with = "masked_url"
            )]
            pub proxy_url: String,
            /// Comma-separated hosts, domains and CIDRs that bypass the proxy.
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub no_proxy: String,
            /// Take the proxy from `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY`.
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub proxy_from_environment: bool,
            /// Headers sent to the proxy with `CONNECT`.
            #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
            pub proxy_connect_header: BTreeMap<String, Vec<Secret>>,
            $($(#[$after_attr])* pub $after: $after_ty,)*
        }
    };
}

with_proxy_keys! {
    /// `http_config`: how to reach a server. In `prometheus.yml` its keys sit
    /// directly in a scrape, discovery or alerting section (`#[serde(flatten)]`
    /// it there, after which no other field of that struct may be flattened
    /// before it); Alertmanager nests it under `http_config:`.
    #[derive(Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct HttpConfig {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub basic_auth: Option<BasicAuthConfig>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub authorization: Option<AuthorizationConfig>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub oauth2: Option<OAuth2Config>,
        /// Deprecated upstream in favour of `authorization`, still accepted
        /// there and here.
        #[serde(default, skip_serializing_if = "Secret::is_empty")]
        pub bearer_token: Secret,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub bearer_token_file: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tls_config: Option<TlsConfig>,
        #[serde(default = "yes")]
        pub follow_redirects: bool,
        #[serde(default = "yes")]
        pub enable_http2: bool,
        @proxy,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub http_headers: BTreeMap<String, HeaderConfig>,
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: Secret::default(),
            bearer_token_file: String::new(),
            tls_config: None,
            follow_redirects: true,
            enable_http2: true,
            proxy_url: String::new(),
            no_proxy: String::new(),
            proxy_from_environment: false,
            proxy_connect_header: BTreeMap::new(),
            http_headers: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username_file: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub password: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password_file: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// Empty means `Bearer`, as upstream.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub credentials: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credentials_file: String,
}

impl AuthorizationConfig {
    /// The scheme in force: the configured one, else `Bearer`.
    pub fn scheme(&self) -> &str {
        match self.kind.trim() {
            "" => "Bearer",
            k => k,
        }
    }
}

with_proxy_keys! {
    /// OAuth2 client credentials (`grant_type` `client_credentials`, the
    /// only one implemented); the token endpoint is reached with the
    /// section's own `tls_config` and proxy.
    #[derive(Clone, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct OAuth2Config {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub client_id: String,
        #[serde(default, skip_serializing_if = "Secret::is_empty")]
        pub client_secret: Secret,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub client_secret_file: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub grant_type: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub scopes: Vec<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub token_url: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub endpoint_params: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tls_config: Option<TlsConfig>,
        @proxy
    }
}

with_proxy_keys! {
    /// Proxy settings: the keys `http_config` and `oauth2` hold inline
    /// (see [`HttpConfig::proxy`]).
    #[derive(Clone, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
    pub struct ProxyConfig {
        @proxy
    }
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("proxy_url", &mask_url_password(&self.proxy_url))
            .field("no_proxy", &self.no_proxy)
            .field("proxy_from_environment", &self.proxy_from_environment)
            .field("proxy_connect_header", &self.proxy_connect_header)
            .finish()
    }
}

/// `tls_config` (prometheus/common `TLSConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub key: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_name: String,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub min_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub max_version: String,
}

/// One `http_headers` entry: each value, secret and file content becomes
/// one header line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// Headers `http_headers` (and `remote_write`'s `headers`) may not set
/// (upstream `reservedHeaders`).
pub const RESERVED_HEADERS: &[&str] = &[
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

/// `proxy_url` with its password replaced by `<secret>`.
fn masked_url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mask_url_password(url))
}

/// A URL with the password of its user info replaced by `<secret>`.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((info, host)) => match info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:{MASK}@{host}{}", &rest[end..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey` for ASCII names: `x-api-key`
/// becomes `X-Api-Key`.
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

fn count(set: &[bool]) -> usize {
    set.iter().filter(|b| **b).count()
}

/// A relative path joined to `dir` (upstream `JoinDir`).
fn join(dir: &Path, p: &mut String) {
    if !p.is_empty() && Path::new(p.as_str()).is_relative() {
        *p = dir.join(&*p).display().to_string();
    }
}

/// Reads a credential file; the error names the key and the path. The
/// content is trimmed, as upstream's `FileSecret` does.
pub(crate) fn read_file(key: &'static str, path: &str) -> Result<Secret, Error> {
    std::fs::read_to_string(path)
        .map(|s| Secret::new(s.trim()))
        .map_err(|source| {
            Error::new(ErrorKind::File {
                key,
                path: PathBuf::from(path),
                source,
            })
        })
}

impl TlsConfig {
    /// Joins relative file paths to `dir`.
    pub fn join_dir(&mut self, dir: &Path) {
        for f in [&mut self.ca_file, &mut self.cert_file, &mut self.key_file] {
            join(dir, f);
        }
    }

    /// Upstream `TLSConfig.Validate`, and the files can be read and used.
    pub fn validate(&self) -> Result<(), Error> {
        for v in [&self.min_version, &self.max_version] {
            if !v.is_empty() && !["TLS10", "TLS11", "TLS12", "TLS13"].contains(&v.as_str()) {
                return Err(Error::config(format!("unknown TLS version: {v}")));
            }
        }
        if !matches!(self.max_version.as_str(), "" | "TLS13") {
            // rustls cannot cap a connection below TLS 1.3 per client
            // here; refuse rather than ignore it.
            return Err(Error::config(format!(
                "max_version {} is not supported yet (only TLS13)",
                self.max_version
            )));
        }
        if !self.ca.is_empty() && !self.ca_file.is_empty() {
            return Err(Error::config(
                "at most one of ca, ca_file & ca_ref must be configured",
            ));
        }
        if !self.cert.is_empty() && !self.cert_file.is_empty() {
            return Err(Error::config(
                "at most one of cert, cert_file & cert_ref must be configured",
            ));
        }
        if !self.key.is_empty() && !self.key_file.is_empty() {
            return Err(Error::config(
                "at most one of key and key_file must be configured",
            ));
        }
        let cert = !self.cert.is_empty() || !self.cert_file.is_empty();
        let key = !self.key.is_empty() || !self.key_file.is_empty();
        if cert && !key {
            return Err(Error::config("exactly one of key or key_file must be configured when a client certificate is configured"));
        }
        if key && !cert {
            return Err(Error::config("exactly one of cert or cert_file must be configured when a client key is configured"));
        }
        crate::tls::rustls_config(Some(self), true).map(|_| ())
    }
}

impl ProxyConfig {
    /// Upstream `ProxyConfig.Validate`, and the URL parses.
    pub fn validate(&self) -> Result<(), Error> {
        let url = !self.proxy_url.is_empty();
        if !self.proxy_connect_header.is_empty() && !url && !self.proxy_from_environment {
            return Err(Error::config("if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured"));
        }
        if self.proxy_from_environment && url {
            return Err(Error::config(
                "if proxy_from_environment is configured, proxy_url must not be configured",
            ));
        }
        if self.proxy_from_environment && !self.no_proxy.is_empty() {
            return Err(Error::config(
                "if proxy_from_environment is configured, no_proxy must not be configured",
            ));
        }
        if !self.no_proxy.is_empty() && !url {
            return Err(Error::config(
                "if no_proxy is configured, proxy_url must also be configured",
            ));
        }
        if self.proxy_from_environment && !self.proxy_connect_header.is_empty() {
            // reqwest cannot attach headers to the proxy it finds in the
            // environment; refuse rather than drop them.
            return Err(Error::config(
                "proxy_connect_header with proxy_from_environment is not supported yet",
            ));
        }
        if url {
            let u = url::Url::parse(&self.proxy_url).map_err(|e| {
                Error::config(format!(
                    "proxy_url {:?}: {e}",
                    mask_url_password(&self.proxy_url)
                ))
            })?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(Error::config(format!(
                    "proxy_url {:?}: scheme {} is not supported (http or https)",
                    mask_url_password(&self.proxy_url),
                    u.scheme()
                )));
            }
        }
        Ok(())
    }
}

macro_rules! proxy_view {
    ($t:ty) => {
        impl $t {
            /// The proxy keys as one value.
            pub fn proxy(&self) -> ProxyConfig {
                ProxyConfig {
                    proxy_url: self.proxy_url.clone(),
                    no_proxy: self.no_proxy.clone(),
                    proxy_from_environment: self.proxy_from_environment,
                    proxy_connect_header: self.proxy_connect_header.clone(),
                }
            }
        }

        impl std::fmt::Debug for $t {
            /// As serialised (a derived Debug would show a password in
            /// `proxy_url`).
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let v = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
                write!(f, "{} {v}", stringify!($t))
            }
        }
    };
}

proxy_view!(HttpConfig);
proxy_view!(OAuth2Config);

impl HttpConfig {
    /// Joins every relative file path to `dir`, the directory of the file
    /// the configuration came from (upstream `SetDirectory`).
    pub fn join_dir(&mut self, dir: &Path) {
        if let Some(t) = &mut self.tls_config {
            t.join_dir(dir);
        }
        if let Some(b) = &mut self.basic_auth {
            join(dir, &mut b.username_file);
            join(dir, &mut b.password_file);
        }
        if let Some(a) = &mut self.authorization {
            join(dir, &mut a.credentials_file);
        }
        if let Some(o) = &mut self.oauth2 {
            join(dir, &mut o.client_secret_file);
            if let Some(t) = &mut o.tls_config {
                t.join_dir(dir);
            }
        }
        join(dir, &mut self.bearer_token_file);
        for h in self.http_headers.values_mut() {
            for f in &mut h.files {
                join(dir, f);
            }
        }
    }

    /// Upstream `HTTPClientConfig.Validate`, in its order and wording;
    /// then every credential file must be readable (a missing
    /// `password_file` is an error naming it, not an empty password) and
    /// the TLS files usable.
    pub fn validate(&self) -> Result<(), Error> {
        let bt = !self.bearer_token.is_empty();
        let btf = !self.bearer_token_file.is_empty();
        if bt && btf {
            return Err(Error::config(
                "at most one of bearer_token & bearer_token_file must be configured",
            ));
        }
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && (bt || btf) {
            return Err(Error::config("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"));
        }
        if let Some(b) = &self.basic_auth {
            if count(&[!b.username.is_empty(), !b.username_file.is_empty()]) > 1 {
                return Err(Error::config("at most one of basic_auth username, username_file & username_ref must be configured"));
            }
            if count(&[!b.password.is_empty(), !b.password_file.is_empty()]) > 1 {
                return Err(Error::config("at most one of basic_auth password, password_file & password_ref must be configured"));
            }
        }
        if let Some(a) = &self.authorization {
            if bt || btf {
                return Err(Error::config(
                    "authorization is not compatible with bearer_token & bearer_token_file",
                ));
            }
            if count(&[!a.credentials.is_empty(), !a.credentials_file.is_empty()]) > 1 {
                return Err(Error::config(
                    "at most one of authorization credentials & credentials_file must be configured",
                ));
            }
            if a.scheme().eq_ignore_ascii_case("basic") {
                return Err(Error::config(
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                ));
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                return Err(Error::config(
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
        }
        if let Some(o) = &self.oauth2 {
            if self.basic_auth.is_some() {
                return Err(Error::config(
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
            if o.client_id.is_empty() {
                return Err(Error::config("oauth2 client_id must be configured"));
            }
            if o.token_url.is_empty() {
                return Err(Error::config("oauth2 token_url must be configured"));
            }
            if !matches!(o.grant_type.as_str(), "" | "client_credentials") {
                return Err(Error::config(format!(
                    "oauth2 grant_type {:?} is not supported yet (client_credentials)",
                    o.grant_type
                )));
            }
            if count(&[
                !o.client_secret.is_empty(),
                !o.client_secret_file.is_empty(),
            ]) > 1
            {
                return Err(Error::config("at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured using grant-type=client_credentials"));
            }
            url::Url::parse(&o.token_url)
                .map_err(|e| Error::config(format!("oauth2 token_url {:?}: {e}", o.token_url)))?;
            o.proxy().validate()?;
            if let Some(t) = &o.tls_config {
                t.validate()?;
            }
        }
        self.proxy().validate()?;
        for name in self.http_headers.keys() {
            let c = canonical_header(name);
            if RESERVED_HEADERS.contains(&c.as_str()) {
                return Err(Error::config(format!(
                    "setting header {c:?} is not allowed"
                )));
            }
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| Error::config(format!("http_headers: {name:?}: {e}")))?;
        }
        if let Some(t) = &self.tls_config {
            t.validate()?;
        }
        self.check_files()
    }

    /// Every credential and header file can be read now.
    fn check_files(&self) -> Result<(), Error> {
        let mut files: Vec<(&'static str, &str)> = Vec::new();
        if let Some(b) = &self.basic_auth {
            files.push(("username_file", &b.username_file));
            files.push(("password_file", &b.password_file));
        }
        if let Some(a) = &self.authorization {
            files.push(("credentials_file", &a.credentials_file));
        }
        if let Some(o) = &self.oauth2 {
            files.push(("client_secret_file", &o.client_secret_file));
        }
        files.push(("bearer_token_file", &self.bearer_token_file));
        for h in self.http_headers.values() {
            for f in &h.files {
                files.push(("http_headers file", f));
            }
        }
        for (key, path) in files {
            if !path.is_empty() {
                read_file(key, path)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> Result<HttpConfig, String> {
        let c: HttpConfig = model::yaml::from_str(y).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }

    #[test]
    fn defaults_like_upstream() {
        let c = parse("{}").unwrap();
        assert!(c.follow_redirects && c.enable_http2);
        assert_eq!(c, HttpConfig::default());
        let a = AuthorizationConfig::default();
        assert_eq!(a.scheme(), "Bearer");
    }

    #[test]
    fn validation_like_upstream() {
        // (input, error upstream gives)
        let cases = [
            ("bearer_token: a\nbearer_token_file: b\n", "at most one of bearer_token & bearer_token_file must be configured"),
            ("bearer_token: a\nbasic_auth: {username: u}\n", "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"),
            ("basic_auth: {username: u, username_file: f}\n", "at most one of basic_auth username, username_file & username_ref must be configured"),
            ("basic_auth: {password: p, password_file: f}\n", "at most one of basic_auth password, password_file & password_ref must be configured"),
            ("authorization: {credentials: c, credentials_file: f}\n", "at most one of authorization credentials & credentials_file must be configured"),
            ("authorization: {type: Basic, credentials: c}\n", "authorization type cannot be set to \"basic\", use \"basic_auth\" instead"),
            ("authorization: {credentials: c}\nbasic_auth: {username: u}\n", "at most one of basic_auth, oauth2 & authorization must be configured"),
            ("authorization: {credentials: c}\nbearer_token: t\n", "authorization is not compatible with bearer_token & bearer_token_file"),
            ("oauth2: {token_url: 'http://h/t'}\n", "oauth2 client_id must be configured"),
            ("oauth2: {client_id: i}\n", "oauth2 token_url must be configured"),
            ("oauth2: {client_id: i, token_url: 'http://h/t'}\nbasic_auth: {username: u}\n", "at most one of basic_auth, oauth2 & authorization must be configured"),
            ("oauth2: {client_id: i, token_url: 'http://h/t', client_secret: s, client_secret_file: f}\n", "at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured using grant-type=client_credentials"),
            ("proxy_connect_header: {X: [a]}\n", "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured"),
            ("proxy_from_environment: true\nproxy_url: 'http://p:1'\n", "if proxy_from_environment is configured, proxy_url must not be configured"),
            ("proxy_from_environment: true\nno_proxy: h\n", "if proxy_from_environment is configured, no_proxy must not be configured"),
            ("no_proxy: h\n", "if no_proxy is configured, proxy_url must also be configured"),
            ("http_headers: {authorization: {values: [x]}}\n", "setting header \"Authorization\" is not allowed"),
            ("tls_config: {min_version: TLS9}\n", "unknown TLS version: TLS9"),
            ("tls_config: {max_version: TLS12}\n", "max_version TLS12 is not supported yet"),
            ("tls_config: {cert_file: c}\n", "exactly one of key or key_file must be configured when a client certificate is configured"),
            ("basic_auth: {username: u, password_file: /nonexistent/pw}\n", "unable to read password_file /nonexistent/pw: No such file or directory"),
            ("authorization: {credentials_file: /nonexistent/cred}\n", "unable to read credentials_file /nonexistent/cred"),
            ("oauth2: {client_id: i, token_url: 'http://h/t', client_secret_file: /nonexistent/s}\n", "unable to read client_secret_file /nonexistent/s"),
            ("http_headers: {X-Token: {files: [/nonexistent/h]}}\n", "unable to read http_headers file /nonexistent/h"),
            ("bearer_token_file: /nonexistent/b\n", "unable to read bearer_token_file /nonexistent/b"),
            ("basic_auth: {usernme: u}\n", "unknown field `usernme`"),
        ];
        for (input, want) in cases {
            let got = parse(input).map(|_| ()).unwrap_err();
            assert!(
                got.contains(want),
                "input {input:?}: got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn secrets_print_masked() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "filepw\n").unwrap();
        let c = parse(&format!(
            "basic_auth: {{username: u, password: hunter2}}\nproxy_url: 'http://pu:proxypw@127.0.0.1:3128'\nhttp_headers: {{X-A: {{values: [plain], secrets: [headerpw], files: ['{}']}}}}\nproxy_connect_header: {{X-P: [connectpw]}}\n",
            f.display()
        ))
        .unwrap();
        assert_eq!(
            read_file("password_file", &f.display().to_string())
                .unwrap()
                .expose(),
            "filepw"
        );
        for (how, got) in [
            ("YAML", model::yaml::to_string(&c)),
            ("JSON", serde_json::to_string(&c).unwrap()),
            ("Debug", format!("{c:?}")),
        ] {
            for secret in ["hunter2", "proxypw", "headerpw", "connectpw"] {
                assert!(!got.contains(secret), "{how} shows {secret}: {got}");
            }
            assert!(got.contains("plain"), "{how}: {got}");
        }
        assert_eq!(
            mask_url_password("http://u:p@h:1/x"),
            "http://u:<secret>@h:1/x"
        );
        assert_eq!(mask_url_password("http://h:1/x@y"), "http://h:1/x@y");
    }

    #[test]
    fn relative_files_join_the_config_dir() {
        let mut c: HttpConfig = model::yaml::from_str(
            "authorization: {credentials: c}\ntls_config: {ca_file: '/abs/ca.pem'}\n",
        )
        .unwrap();
        c.authorization.as_mut().unwrap().credentials_file = "tok".into();
        c.join_dir(Path::new("/etc/wf"));
        assert_eq!(c.authorization.unwrap().credentials_file, "/etc/wf/tok");
        assert_eq!(c.tls_config.unwrap().ca_file, "/abs/ca.pem");
    }
}
