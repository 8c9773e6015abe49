//! `prometheus.yml`: the whole file as typed sections, with Prometheus's
//! defaults and validation (upstream `config/config.go`), read in this one
//! place by the server, `watchfire check config` and every reload.
//!
//! - [`Config`] is the file: [`GlobalConfig`], [`ScrapeConfig`]s (with
//!   `scrape_config_files` merged in), `rule_files`,
//!   [`alerting::AlertingConfig`], and the sections Watchfire does not
//!   implement yet ([`sections`]).
//! - [`load`] and [`parse`] read and check it; a [`ConfigError`] names
//!   the file, the line and the reason.
//! - [`relabel::RelabelConfig`] is one relabeling rule as written; the
//!   collector compiles checked rules.
//!
//! Every key is implemented, refused or warned about, never accepted and
//! dropped. An unknown key is an error naming the file and line, as in
//! Prometheus; a key Prometheus knows and Watchfire does not implement yet
//! is refused with a reason that names it ("`remote_read` is not supported
//! yet", see [`pending`] and [`sections`]); `runtime` and `otlp`, harmless
//! to ignore, are warned about ([`Config::warnings`]). Secrets print as
//! `<secret>` when the configuration is serialised ([`Config::to_yaml`]).
//!
//! YAML is read as Prometheus's Go `yaml.v2` reads it ([`model::yaml`]):
//! `yes`/`no` booleans, `<<` merge keys, duplicate keys refused.
//!
//! ```
//! let cfg = config::parse("scrape_configs:\n  - job_name: node\n    static_configs: [{targets: ['localhost:9100']}]\n", "prometheus.yml").unwrap();
//! assert_eq!(cfg.scrape_configs[0].job_name, "node");
//! let e = config::parse("remote_read:\n  - url: http://127.0.0.1:1/read\n", "prometheus.yml").unwrap_err();
//! assert_eq!(e.to_string(), "prometheus.yml:1: remote_read is not supported yet");
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use httpclient::HttpConfig;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use model::yaml::Value;

use crate::relabel::RelabelConfig;

pub mod alerting;
pub mod pending;
mod protocols;
pub mod relabel;
pub mod remote;
pub mod sections;

use protocols::check_protocols;
pub use protocols::{accept_header, protocol_header, DEFAULT_SCRAPE_PROTOCOLS};

/// A configuration that cannot be used, and where (file, line, reason).
pub use model::yaml::FileError as ConfigError;

/// A Prometheus duration (`15s`, `1m30s`), printed back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PromDuration(pub Duration);

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        model::time::parse_duration(&s)
            .map(PromDuration)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&model::time::format_duration(self.0))
    }
}

/// A byte size (`10MB`); 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => model::size::parse_bytes(&s)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}B", self.0))
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub global: GlobalConfig,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_files: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scrape_config_files: Vec<String>,
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<alerting::AlertingConfig>,
    /// Where samples are shipped ([`remote`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_write: Vec<remote::RemoteWriteConfig>,
    /// Refused when set ([`sections`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_read: Option<Value>,
    /// `tsdb.out_of_order_time_window`; the rest refused ([`sections`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<sections::StorageConfig>,
    /// Refused when set ([`sections`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Value>,
    /// Checked, then warned about: nothing to translate without an OTLP
    /// receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp: Option<sections::OtlpConfig>,
    /// Checked, then warned about: it tunes Go's garbage collector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<sections::RuntimeConfig>,
    /// What was accepted but takes no effect, with where; the server logs
    /// them and `check config` prints them.
    #[serde(skip)]
    pub warnings: Vec<ConfigError>,
}

fn default_scrape_interval() -> PromDuration {
    PromDuration(Duration::from_secs(60))
}
fn yes() -> bool {
    true
}

/// `global:` — defaults for every scrape config, and external labels.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct GlobalConfig {
    #[serde(default = "default_scrape_interval")]
    pub scrape_interval: PromDuration,
    /// Unset: 10 s, or the interval when that is shorter (upstream does
    /// the same); see [`GlobalConfig::timeout`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<PromDuration>,
    #[serde(default = "default_scrape_interval")]
    pub evaluation_interval: PromDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_query_offset: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<String, String>,
    /// Zero means no limit.
    #[serde(flatten)]
    pub limits: Limits,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_protocols: Option<Vec<String>>,
    /// Keys this type does not have: judged by [`pending::judge`] (serde
    /// cannot deny them and keep their values for the judgement).
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, Value>,
}

impl GlobalConfig {
    /// The global scrape timeout in force.
    pub fn timeout(&self) -> Duration {
        match self.scrape_timeout {
            Some(t) => t.0,
            None => Duration::from_secs(10).min(self.scrape_interval.0),
        }
    }
}

impl Default for GlobalConfig {
    fn default() -> Self {
        // An empty mapping takes every serde default.
        model::yaml::from_str("{}").unwrap_or_else(|_| unreachable!("defaults deserialise"))
    }
}

/// One `scrape_configs` entry: a job. Unknown keys are refused by
/// [`parse`] (serde cannot deny them next to a flattened `http`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ScrapeConfig {
    pub job_name: String,
    /// Defaults to the global value.
    #[serde(default)]
    pub scrape_interval: Option<PromDuration>,
    /// Defaults to the global value, capped at the interval.
    #[serde(default)]
    pub scrape_timeout: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_protocols: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_scrape_protocol: Option<String>,
    #[serde(default)]
    pub honor_labels: bool,
    #[serde(default = "yes")]
    pub honor_timestamps: bool,
    #[serde(default)]
    pub track_timestamps_staleness: bool,
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    #[serde(default = "default_scheme")]
    pub scheme: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(default = "yes")]
    pub enable_compression: bool,
    /// `basic_auth`, `authorization`, `oauth2`, `tls_config`, proxies,
    /// `follow_redirects`, `enable_http2`, `http_headers`: inline, as in
    /// Prometheus.
    #[serde(flatten)]
    pub http: HttpConfig,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_sd_configs: Vec<HttpSdConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Zero takes the global value; zero there means no limit.
    #[serde(flatten)]
    pub limits: Limits,
    /// Keys neither the job, `http` nor `limits` knows: judged by
    /// [`pending::judge`]. Declared last so that it sees only what the
    /// other flattened parts left.
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, Value>,
}

/// The limits of a scrape, set globally and per job; 0 means none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Limits {
    #[serde(default)]
    pub sample_limit: u64,
    #[serde(default)]
    pub target_limit: u64,
    #[serde(default)]
    pub label_limit: u64,
    #[serde(default)]
    pub label_name_length_limit: u64,
    #[serde(default)]
    pub label_value_length_limit: u64,
    #[serde(default)]
    pub body_size_limit: ByteSize,
}

impl Limits {
    /// Each limit of `self`, or of `global` where `self`'s is 0.
    pub fn or(self, global: &Limits) -> Limits {
        let pick = |own: u64, g: u64| if own == 0 { g } else { own };
        Limits {
            sample_limit: pick(self.sample_limit, global.sample_limit),
            target_limit: pick(self.target_limit, global.target_limit),
            label_limit: pick(self.label_limit, global.label_limit),
            label_name_length_limit: pick(
                self.label_name_length_limit,
                global.label_name_length_limit,
            ),
            label_value_length_limit: pick(
                self.label_value_length_limit,
                global.label_value_length_limit,
            ),
            body_size_limit: ByteSize(pick(self.body_size_limit.0, global.body_size_limit.0)),
        }
    }
}

fn default_metrics_path() -> String {
    "/metrics".into()
}
fn default_scheme() -> String {
    "http".into()
}

/// `static_configs` entry: targets and the labels they get.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    pub files: Vec<String>,
    #[serde(default = "default_refresh")]
    pub refresh_interval: PromDuration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HttpSdConfig {
    pub url: String,
    #[serde(default = "default_http_refresh")]
    pub refresh_interval: PromDuration,
    #[serde(flatten)]
    pub http: HttpConfig,
    /// Refused by [`parse`], as on [`ScrapeConfig`].
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, Value>,
}

fn default_refresh() -> PromDuration {
    PromDuration(Duration::from_secs(300))
}

fn default_http_refresh() -> PromDuration {
    PromDuration(Duration::from_secs(60))
}

impl ScrapeConfig {
    /// The `Accept` header for this job's `scrape_protocols` (the global
    /// ones when unset).
    pub fn accept_header(&self, g: &GlobalConfig) -> String {
        let list = self
            .scrape_protocols
            .as_ref()
            .or(g.scrape_protocols.as_ref());
        accept_header(list.map(Vec::as_slice).unwrap_or_default())
    }

    /// The interval in force (the job's, else the global one).
    pub fn interval(&self, global: &GlobalConfig) -> Duration {
        self.scrape_interval.unwrap_or(global.scrape_interval).0
    }

    /// The timeout in force: the job's, else the global one capped at the
    /// job's interval (upstream does the same).
    pub fn timeout(&self, global: &GlobalConfig) -> Duration {
        match self.scrape_timeout {
            Some(t) => t.0,
            None => global.timeout().min(self.interval(global)),
        }
    }

    /// The limits in force: the job's, else the global ones (0 = none).
    pub fn limits(&self, g: &GlobalConfig) -> Limits {
        self.limits.or(&g.limits)
    }
}

/// Reads and validates a `prometheus.yml`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let (file, text) = model::yaml::read(path)?;
    parse(&text, &file)
}

/// Parses and validates configuration text; `file` names it in errors.
/// Relative paths are taken from the file's directory, as in Prometheus.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    let err = |line: Option<usize>, reason: String| ConfigError {
        file: file.to_string(),
        line,
        reason,
    };
    let mut cfg: Config = decode(text, file)?;
    for f in sections::findings(&cfg) {
        let e = err(line_of(text, &format!("{}:", f.key)), f.text);
        if !f.warn {
            return Err(e);
        }
        cfg.warnings.push(e);
    }
    let at = line_of(text, "global:");
    judge_unknown(&cfg.global.unknown, ("global", "global", at), text, file)?;
    for (name, value) in cfg.global.external_labels.iter_mut() {
        let at = line_of(text, "external_labels:");
        if name.is_empty() {
            return Err(err(at, format!("{name:?} is not a valid label name")));
        }
        *value = expand_env(value);
    }
    let dir = Path::new(file).parent().unwrap_or(Path::new(""));
    cfg.resolve_paths(dir);
    let g = &cfg.global;
    if g.timeout() > g.scrape_interval.0 {
        return Err(err(
            line_of(text, "scrape_timeout:"),
            "global scrape timeout greater than scrape interval".into(),
        ));
    }
    check_protocols(g.scrape_protocols.as_ref(), None, "for global config")
        .map_err(|e| err(line_of(text, "scrape_protocols:"), e))?;
    if let Some(a) = &cfg.alerting {
        check_alerting(a, text, file)?;
    }
    let warnings = check_remote_write(&cfg.remote_write, text, file)?;
    cfg.warnings.extend(warnings);
    let mut seen = std::collections::HashSet::new();
    check_jobs(&cfg.scrape_configs, &cfg.global, text, file, &mut seen)?;
    // Jobs from `scrape_config_files`, each file's paths relative to its
    // own directory, checked as the main file's and with job names unique
    // over all of them (upstream `Config.GetScrapeConfigs`).
    for pattern in cfg.scrape_config_files.clone() {
        let mut pattern = pattern;
        resolve(dir, &mut pattern);
        for path in model::glob::glob(Path::new(&pattern)) {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
                file: name.clone(),
                line: None,
                reason: e.to_string(),
            })?;
            let mut jobs = parse_jobs(&text, &name)?;
            let jobs_dir = path.parent().unwrap_or(Path::new(""));
            resolve_job_paths(&mut jobs, jobs_dir);
            check_jobs(&jobs, &cfg.global, &text, &name, &mut seen)?;
            cfg.scrape_configs.extend(jobs);
        }
    }
    Ok(cfg)
}

/// The jobs of one `scrape_config_files` file.
fn parse_jobs(text: &str, file: &str) -> Result<Vec<ScrapeConfig>, ConfigError> {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct ScrapeConfigFile {
        #[serde(default)]
        scrape_configs: Vec<ScrapeConfig>,
    }
    decode::<ScrapeConfigFile>(text, file).map(|f| f.scrape_configs)
}

/// Decodes a whole file; an empty one is all defaults.
fn decode<T: serde::de::DeserializeOwned + Default>(
    text: &str,
    file: &str,
) -> Result<T, ConfigError> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    model::yaml::from_str(text).map_err(|e| yaml_error(&e, text, file))
}

/// A YAML error as a [`ConfigError`]. A key Prometheus knows in a section
/// that refuses unknown keys gets [`pending::judge`]'s reason instead of
/// "unknown field".
fn yaml_error(e: &model::yaml::Error, text: &str, file: &str) -> ConfigError {
    let unknown = e
        .message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
        .map(|(k, _)| k);
    let mut path = e.path.clone();
    let mut reason = e.with_path();
    if let Some(key) = unknown {
        // The path ends with the unknown key; name its section.
        if path.ends_with(key) {
            path.truncate(path.len() - key.len());
            path = path.trim_end_matches('.').to_string();
        }
        let section = section_of(&path);
        let full = if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        };
        reason = match pending::judge(section, key, None, &full) {
            pending::Verdict::Refused(r) => r,
            _ if path.is_empty() => format!("unknown field `{key}`"),
            _ => format!("{path}: unknown field `{key}`"),
        };
    }
    // Inside a flattened part the decoder knows only where the enclosing
    // mapping starts: the key's own line is the first one naming it from
    // there on.
    let last = unknown.unwrap_or_else(|| e.path.rsplit(['.', '[']).next().unwrap_or(""));
    let from = e.line.unwrap_or(1);
    let named = text
        .lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| {
            l.trim_start()
                .trim_start_matches("- ")
                .starts_with(&format!("{last}:"))
        })
        .map(|(i, _)| i + 1);
    let line = named.or(e.line);
    ConfigError {
        file: file.to_string(),
        line,
        reason,
    }
}

/// The innermost named section of a field path:
/// `scrape_configs[0].basic_auth` is `basic_auth`.
fn section_of(path: &str) -> &str {
    let last = path.rsplit('.').next().unwrap_or("");
    last.split('[').next().unwrap_or("")
}

/// Refuses the keys in `unknown` (those a type with a flattened part could
/// not deny), each judged by [`pending::judge`]; `at` names the place,
/// which starts at line `from` of `text`.
fn judge_unknown(
    unknown: &BTreeMap<String, Value>,
    (section, at, from): (&str, &str, Option<usize>),
    text: &str,
    file: &str,
) -> Result<(), ConfigError> {
    for (k, v) in unknown {
        let reason = match pending::judge(section, k, Some(v), &format!("{at}.{k}")) {
            pending::Verdict::Harmless => continue,
            pending::Verdict::Refused(r) => r,
            pending::Verdict::Unknown => format!("{at}: unknown field `{k}`"),
        };
        return Err(ConfigError {
            file: file.to_string(),
            line: line_from(text, from.unwrap_or(1), &format!("{k}:")),
            reason,
        });
    }
    Ok(())
}

/// The `remote_write` entries' checks; returns what is accepted without
/// effect.
fn check_remote_write(
    list: &[remote::RemoteWriteConfig],
    text: &str,
    file: &str,
) -> Result<Vec<ConfigError>, ConfigError> {
    let err = |line: Option<usize>, reason: String| ConfigError {
        file: file.to_string(),
        line,
        reason,
    };
    let at = line_of(text, "remote_write:");
    let mut warnings = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut queues = std::collections::HashSet::new();
    for (i, rw) in list.iter().enumerate() {
        let name = format!("remote_write[{i}]");
        let entry = line_from(text, at.unwrap_or(1), &format!("url: {}", rw.url)).or(at);
        judge_unknown(&rw.unknown, ("remote_write", &name, at), text, file)?;
        let mut warns = Vec::new();
        rw.check(&name, &mut warns).map_err(|e| err(entry, e))?;
        warnings.extend(warns.into_iter().map(|w| err(entry, w)));
        if !rw.name.is_empty() && !names.insert(rw.name.clone()) {
            return Err(err(
                entry,
                format!(
                    "found multiple remote write configs with job name {:?}",
                    rw.name
                ),
            ));
        }
        if !queues.insert(rw.queue_name()) {
            return Err(err(
                entry,
                format!(
                    "{name}: duplicate remote write configs are not allowed, found duplicate for URL: {} (give each a different name)",
                    httpclient::mask_url_password(&rw.url)
                ),
            ));
        }
    }
    Ok(warnings)
}

/// The `alerting` section's checks, with the line of the entry at fault.
fn check_alerting(a: &alerting::AlertingConfig, text: &str, file: &str) -> Result<(), ConfigError> {
    let err = |line: Option<usize>, reason: String| ConfigError {
        file: file.to_string(),
        line,
        reason,
    };
    relabel::check_all(&a.alert_relabel_configs).map_err(|e| {
        err(
            line_of(text, "alert_relabel_configs:"),
            format!("alerting.alert_relabel_configs: {e}"),
        )
    })?;
    let at = line_of(text, "alertmanagers:");
    for (i, am) in a.alertmanagers.iter().enumerate() {
        let name = format!("alerting.alertmanagers[{i}]");
        judge_unknown(&am.unknown, ("alertmanagers", &name, at), text, file)?;
        am.check(i).map_err(|e| err(at, e))?;
    }
    Ok(())
}

/// Checks scrape jobs as Prometheus does; `seen` holds the job names so
/// far, over every file.
fn check_jobs(
    jobs: &[ScrapeConfig],
    g: &GlobalConfig,
    text: &str,
    file: &str,
    seen: &mut std::collections::HashSet<String>,
) -> Result<(), ConfigError> {
    let err = |line: Option<usize>, reason: String| ConfigError {
        file: file.to_string(),
        line,
        reason,
    };
    for (i, sc) in jobs.iter().enumerate() {
        let at = line_of(text, &format!("job_name: {}", sc.job_name))
            .or_else(|| line_of(text, &sc.job_name));
        if sc.job_name.is_empty() {
            return Err(err(at, "job_name is empty".into()));
        }
        let in_job = |mut e: ConfigError| {
            e.reason = format!("job {:?}: {}", sc.job_name, e.reason);
            e
        };
        let name = format!("scrape_configs[{i}]");
        judge_unknown(&sc.unknown, ("scrape_configs", &name, at), text, file).map_err(in_job)?;
        for (j, h) in sc.http_sd_configs.iter().enumerate() {
            let name = format!("{name}.http_sd_configs[{j}]");
            let sd = ("http_sd_configs", name.as_str(), at);
            judge_unknown(&h.unknown, sd, text, file).map_err(in_job)?;
        }
        if !seen.insert(sc.job_name.clone()) {
            return Err(err(
                at,
                format!(
                    "found multiple scrape configs with job name {:?}",
                    sc.job_name
                ),
            ));
        }
        if sc.timeout(g) > sc.interval(g) {
            return Err(err(at, format!("scrape timeout greater than scrape interval for scrape config with job name {:?}", sc.job_name)));
        }
        if sc.interval(g).is_zero() {
            return Err(err(
                at,
                format!("scrape interval of job {:?} is zero", sc.job_name),
            ));
        }
        if sc.scheme != "http" && sc.scheme != "https" {
            return Err(err(
                at,
                format!(
                    "unknown scheme {:?} in job {:?} (http or https)",
                    sc.scheme, sc.job_name
                ),
            ));
        }
        if !sc.metrics_path.starts_with('/') {
            return Err(err(
                at,
                format!(
                    "metrics_path {:?} of job {:?} must start with /",
                    sc.metrics_path, sc.job_name
                ),
            ));
        }
        check_protocols(
            sc.scrape_protocols.as_ref(),
            sc.fallback_scrape_protocol.as_deref(),
            &format!("for scrape config with job name {:?}", sc.job_name),
        )
        .map_err(|e| err(at, e))?;
        sc.http
            .validate()
            .map_err(|e| err(at, format!("job {:?}: {e}", sc.job_name)))?;
        for h in &sc.http_sd_configs {
            let at = line_of(text, &h.url).or(at);
            check_sd_url(&h.url)
                .map_err(|e| err(at, format!("http_sd_configs of job {:?}: {e}", sc.job_name)))?;
            h.http
                .validate()
                .map_err(|e| err(at, format!("http_sd_configs of job {:?}: {e}", sc.job_name)))?;
        }
        for (which, rules) in [
            ("relabel_configs", &sc.relabel_configs),
            ("metric_relabel_configs", &sc.metric_relabel_configs),
        ] {
            relabel::check_all(rules)
                .map_err(|e| err(at, format!("job {:?}: {which}: {e}", sc.job_name)))?;
        }
        for st in &sc.static_configs {
            for t in &st.targets {
                if t.contains('/') || t.is_empty() {
                    return Err(err(
                        line_of(text, t),
                        format!(
                            "{t:?} is not a valid hostname:port target in job {:?}",
                            sc.job_name
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// An `http_sd_configs` URL as Prometheus checks it.
fn check_sd_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("URL is missing".into());
    }
    let uri = url::Url::parse(url).map_err(|e| format!("parse {url:?}: {e}"))?;
    if !matches!(uri.scheme(), "http" | "https") {
        return Err("URL scheme must be 'http' or 'https'".into());
    }
    if uri.host_str().is_none_or(str::is_empty) {
        return Err("host is missing in URL".into());
    }
    Ok(())
}

/// A relative file path in the configuration is relative to the file's
/// directory, as in Prometheus.
fn resolve(dir: &Path, p: &mut String) {
    if !p.is_empty() && Path::new(p.as_str()).is_relative() && !dir.as_os_str().is_empty() {
        *p = dir.join(&*p).display().to_string();
    }
}

impl Config {
    fn resolve_paths(&mut self, dir: &Path) {
        resolve_job_paths(&mut self.scrape_configs, dir);
        if dir.as_os_str().is_empty() {
            return;
        }
        for am in self.alerting.iter_mut().flat_map(|a| &mut a.alertmanagers) {
            am.http.join_dir(dir);
        }
    }
}

/// Makes the relative paths of `jobs` relative to `dir`.
fn resolve_job_paths(jobs: &mut [ScrapeConfig], dir: &Path) {
    for sc in jobs {
        if !dir.as_os_str().is_empty() {
            sc.http.join_dir(dir);
        }
        for f in sc.file_sd_configs.iter_mut().flat_map(|f| &mut f.files) {
            resolve(dir, f);
        }
        for h in &mut sc.http_sd_configs {
            if !dir.as_os_str().is_empty() {
                h.http.join_dir(dir);
            }
        }
    }
}

/// Expands `$NAME` and `${NAME}` from the environment, as upstream does
/// for external label values (Go's `os.Expand`): `$$` is `$`, an unset
/// variable is empty.
fn expand_env(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                // Go reads a lone "${" as nothing.
                None => ("", after.len()),
            }
        } else if after.starts_with('$') {
            ("$", 1)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name == "$" {
            out.push('$');
        } else if len == 0 {
            // A `$` before no name stays as written.
            out.push('$');
        } else {
            out.push_str(&std::env::var(name).unwrap_or_default());
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// The first line holding `needle`, for errors found after parsing.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    line_from(text, 1, needle)
}

/// The first line holding `needle` at or after line `from`, else the first
/// before it.
fn line_from(text: &str, from: usize, needle: &str) -> Option<usize> {
    let found = text.lines().enumerate().skip(from.saturating_sub(1));
    let after = found.clone().find(|(_, l)| l.contains(needle));
    after
        .or_else(|| text.lines().enumerate().find(|(_, l)| l.contains(needle)))
        .map(|(i, _)| i + 1)
}

impl Config {
    /// The configuration as YAML with secrets masked (for
    /// `/api/v1/status/config`): every secret type prints as `<secret>`.
    pub fn to_yaml(&self) -> String {
        model::yaml::to_string(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_config_files_add_their_jobs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("jobs")).unwrap();
        std::fs::write(
            dir.path().join("jobs/node.yml"),
            "scrape_configs:\n  - job_name: node\n    file_sd_configs: [{files: [targets.json]}]\n",
        )
        .unwrap();
        let main = dir.path().join("prometheus.yml");
        let text = "scrape_config_files: [jobs/*.yml]\nscrape_configs:\n  - job_name: self\n    static_configs: [{targets: ['localhost:9090']}]\n";
        std::fs::write(&main, text).unwrap();
        let cfg = load(&main).unwrap();
        let jobs: Vec<&str> = cfg
            .scrape_configs
            .iter()
            .map(|s| s.job_name.as_str())
            .collect();
        assert_eq!(jobs, ["self", "node"]);
        // Relative to the file that names it.
        let files = &cfg.scrape_configs[1].file_sd_configs[0].files;
        assert_eq!(
            files[0],
            dir.path().join("jobs/targets.json").display().to_string()
        );
        // A job name already taken, or a bad job, is refused with the file
        // that holds it.
        std::fs::write(
            dir.path().join("jobs/dup.yml"),
            "scrape_configs:\n  - job_name: self\n",
        )
        .unwrap();
        let e = load(&main).unwrap_err();
        assert!(
            e.file.ends_with("dup.yml") && e.reason.contains("multiple scrape configs"),
            "{e}"
        );
        std::fs::write(dir.path().join("jobs/dup.yml"), "scrape_configz: []\n").unwrap();
        let e = load(&main).unwrap_err();
        assert!(e.file.ends_with("dup.yml") && e.line == Some(1), "{e}");
    }

    #[test]
    fn alerting_secrets_are_masked_when_shown() {
        let cfg = parse(
            "alerting:\n  alertmanagers:\n    - basic_auth: {username: u, password: hunter2}\n      http_headers: {X-Key: {secrets: [s3cr3t]}}\n      static_configs: [{targets: ['127.0.0.1:9093']}]\n    - authorization: {credentials: tok}\n",
            "p.yml",
        )
        .unwrap();
        let shown = cfg.to_yaml();
        for secret in ["hunter2", "tok", "s3cr3t"] {
            assert!(!shown.contains(secret), "{secret} in\n{shown}");
        }
        assert!(
            shown.contains("username: u") && shown.contains("<secret>"),
            "{shown}"
        );
    }

    #[test]
    fn external_labels_expand_the_environment() {
        std::env::set_var("WATCHFIRE_TEST_DC", "eu1");
        let cfg = parse(
            "global:\n  external_labels:\n    dc: ${WATCHFIRE_TEST_DC}\n    a: x-$WATCHFIRE_TEST_DC-y\n    cost: $$5\n    unset: '${WATCHFIRE_TEST_UNSET}'\n",
            "p.yml",
        )
        .unwrap();
        let l = &cfg.global.external_labels;
        assert_eq!(l["dc"], "eu1");
        assert_eq!(l["a"], "x-eu1-y");
        assert_eq!(l["cost"], "$5");
        assert_eq!(l["unset"], "");
    }

    #[test]
    fn defaults_like_prometheus() {
        let cfg = parse("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['localhost:9090']\n", "p.yml").unwrap();
        let sc = &cfg.scrape_configs[0];
        assert_eq!(sc.interval(&cfg.global), Duration::from_secs(60));
        assert_eq!(sc.timeout(&cfg.global), Duration::from_secs(10));
        assert_eq!(sc.metrics_path, "/metrics");
        assert!(sc.honor_timestamps && !sc.honor_labels);
        let cfg = parse(
            "global: {scrape_interval: 5s}\nscrape_configs: [{job_name: a}]\n",
            "p.yml",
        )
        .unwrap();
        assert_eq!(
            cfg.scrape_configs[0].timeout(&cfg.global),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        // (text, line, reason prefix)
        let cases = [
            ("global:\n  scrape_intervall: 1m\n", Some(2), "global: unknown field `scrape_intervall`"),
            ("scrape_configs:\n  - job_name: a\n  - job_name: a\n", Some(2), "found multiple scrape configs"),
            ("scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n", Some(2), "scrape timeout greater"),
            ("global:\n  scrape_interval: 5x\n", Some(2), "not a valid duration"),
            ("scrape_configs:\n  - job_name: a\n    scheme: ftp\n", Some(2), "unknown scheme"),
            ("scrape_configs: [\n", Some(1), "unclosed bracket"),
            // The key's line in its own job, not the first one naming it.
            ("scrape_configs:\n  - job_name: a\n    consul_sd_configs: []\n  - job_name: b\n    consul_sd_configs: [{server: x}]\n", Some(5), "job \"b\": scrape_configs[1].consul_sd_configs is not supported yet"),
        ];
        for (text, line, want) in cases {
            let e = parse(text, "p.yml").unwrap_err();
            assert_eq!(e.line, line, "input {text:?}: got {e}");
            assert!(
                e.to_string().starts_with("p.yml:")
                    && e.reason.contains(want.split(':').next().unwrap_or("")),
                "input {text:?}: got {e}, want {want:?}"
            );
        }
    }

    #[test]
    fn http_config_keys_inline_like_prometheus() {
        let cfg = parse(
            "scrape_configs:\n  - job_name: a\n    proxy_url: 'http://u:pw@127.0.0.1:3128'\n    follow_redirects: false\n    oauth2: {client_id: i, client_secret: s, token_url: 'http://127.0.0.1:1/t'}\n    http_sd_configs:\n      - url: 'http://127.0.0.1:1/sd'\n        authorization: {credentials: t}\n",
            "p.yml",
        )
        .unwrap();
        let sc = &cfg.scrape_configs[0];
        assert_eq!(sc.http.proxy_url, "http://u:pw@127.0.0.1:3128");
        assert!(!sc.http.follow_redirects && sc.http.enable_http2);
        assert!(sc.http_sd_configs[0].http.authorization.is_some());
        let y = cfg.to_yaml();
        assert!(!y.contains(":pw@") && y.contains("<secret>"), "{y}");
        // (text, line, reason fragment)
        let cases = [
            ("scrape_configs:\n  - job_name: a\n    proxy_urll: x\n", Some(3), "job \"a\": scrape_configs[0]: unknown field `proxy_urll`"),
            ("scrape_configs:\n  - job_name: a\n    http_sd_configs: [{url: 'http://h/', refresh: 1s}]\n", Some(3), "unknown field `refresh`"),
            ("scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    authorization: {credentials: c}\n", Some(2), "job \"a\": at most one of basic_auth, oauth2 & authorization must be configured"),
            ("scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password_file: /nonexistent/pw}\n", Some(2), "unable to read password_file /nonexistent/pw"),
            ("scrape_configs:\n  - job_name: a\n    http_sd_configs: [{url: 'http://h/', bearer_token_file: /nonexistent/t}]\n", Some(3), "http_sd_configs of job \"a\": unable to read bearer_token_file /nonexistent/t"),
        ];
        for (text, line, want) in cases {
            let e = parse(text, "p.yml").unwrap_err();
            assert!(
                e.line == line && e.reason.contains(want),
                "input {text:?}: got {e}, want line {line:?} and {want:?}"
            );
        }
    }

    #[test]
    fn secrets_are_masked() {
        let cfg = parse(
            "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: hunter2}\n",
            "p.yml",
        )
        .unwrap();
        let y = cfg.to_yaml();
        assert!(y.contains("<secret>") && !y.contains("hunter2"), "{y}");
    }
}
