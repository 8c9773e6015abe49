//! Scraping: the [`Manager`] turns a configuration into targets and runs a
//! scrape loop per target; the loops write through a [`model::Appendable`].
//!
//! On [`Manager::apply`] loops of targets that left are stopped (they write
//! staleness markers for their series), new targets start, and targets
//! whose job options changed restart.

mod cache;
mod fetch;
mod http_sd;
mod metrics;
mod scraper;

pub use metrics::ScrapeMetrics;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use model::Appendable;
use tokio::sync::watch;

pub use fetch::{Fetcher, ACCEPT};
pub use scraper::{Health, LoopOptions, Metadata};

use httpclient::header::{self, HeaderName};

use crate::config::{Config, GlobalConfig, ScrapeConfig};
use crate::discovery;
use crate::relabel::Relabeler;
use crate::target::{self, Group, Target};

/// A target as the targets API shows it.
#[derive(Debug, Clone)]
pub struct TargetStatus {
    pub job: String,
    pub target: Target,
    pub interval: Duration,
    pub timeout: Duration,
    pub health: Health,
}

/// A discovered target that could not be turned into a scrape.
#[derive(Debug, Clone)]
pub struct Dropped {
    pub job: String,
    pub discovered: model::Labels,
    pub reason: String,
}

/// A running loop's identity: job, URL and target labels.
type TargetKey = (String, String, model::Labels);

struct Running {
    job: String,
    target: Target,
    interval: Duration,
    timeout: Duration,
    /// The job's configuration when the loop started; a change restarts it.
    /// One text per job, shared by its targets: it holds the job's whole
    /// YAML, static target lists included.
    config: Arc<str>,
    health: Arc<parking_lot::Mutex<Health>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Runs one scrape loop per target.
pub struct Manager {
    store: Arc<dyn Appendable>,
    /// Each job's client, by [`client_key`]: loops of a job share its
    /// connections, and a reload that changes nothing keeps them.
    fetchers: HashMap<u64, Fetcher>,
    running: HashMap<TargetKey, Running>,
    dropped: Vec<Dropped>,
    /// The configuration last applied, for [`Manager::refresh`].
    config: Option<Config>,
    /// Discovery files read by the last apply and their change times.
    stamps: Vec<(PathBuf, Option<SystemTime>)>,
    /// The last good groups of each discovery file, kept while the file
    /// exists but cannot be read.
    file_groups: HashMap<PathBuf, Vec<Group>>,
    /// HTTP discovery pollers by job and configuration.
    http_sd: HashMap<String, http_sd::Poller>,
    /// The sum of the pollers' versions at the last apply.
    http_seen: u64,
    metrics: Arc<ScrapeMetrics>,
}

impl Manager {
    /// A manager writing to `store`. Loops run on the current Tokio runtime.
    pub fn new(store: Arc<dyn Appendable>) -> Self {
        Manager {
            store,
            fetchers: HashMap::new(),
            running: HashMap::new(),
            dropped: Vec::new(),
            config: None,
            stamps: Vec::new(),
            file_groups: HashMap::new(),
            http_sd: HashMap::new(),
            http_seen: 0,
            metrics: Default::default(),
        }
    }

    /// The scrape metrics, for the registry.
    pub fn metrics(&self) -> Arc<ScrapeMetrics> {
        self.metrics.clone()
    }

    /// Re-applies the configuration if a discovery file changed (or
    /// appeared, or vanished) or an HTTP discovery URL answered anew since
    /// the last apply. Cheap: it only stats.
    pub fn refresh(&mut self) {
        let Some(cfg) = &self.config else {
            return;
        };
        let files = file_set(cfg);
        let http: u64 = self.http_sd.values().map(|p| p.version()).sum();
        let changed = http != self.http_seen
            || files.len() != self.stamps.len()
            || files
                .iter()
                .zip(&self.stamps)
                .any(|(f, (p, t))| f != p || discovery::stamp(f) != *t);
        if changed {
            // Cloned only now: every second, most configurations have
            // nothing to re-apply.
            let cfg = cfg.clone();
            self.apply(&cfg);
        }
    }

    /// Makes the running loops match `cfg`: static targets, file_sd files
    /// as they are now and the last answers of HTTP discovery. The
    /// configuration must have been validated by [`crate::config::parse`].
    pub fn apply(&mut self, cfg: &Config) {
        self.config = Some(cfg.clone());
        self.stamps = file_set(cfg)
            .into_iter()
            .map(|p| {
                let t = discovery::stamp(&p);
                (p, t)
            })
            .collect();
        let mut wanted: HashMap<TargetKey, (Target, &ScrapeConfig, Arc<Relabeler>)> =
            HashMap::new();
        self.dropped.clear();
        let mut fetchers: HashMap<u64, Fetcher> = HashMap::new();
        let mut pollers: HashMap<String, http_sd::Poller> = HashMap::new();
        let mut file_groups: HashMap<PathBuf, Vec<Group>> = HashMap::new();
        let mut http_seen = 0;
        let mut discovered = std::collections::BTreeMap::new();
        for sc in &cfg.scrape_configs {
            let key = client_key(&sc.http);
            let made = match self.fetchers.get(&key) {
                Some(f) => Ok(f.clone()),
                None => Fetcher::new(&sc.http),
            };
            match made {
                Ok(f) => {
                    fetchers.insert(key, f);
                }
                Err(e) => {
                    tracing::error!(job = %sc.job_name, error = %e, "http client: the job's targets are not scraped");
                    self.dropped.push(Dropped {
                        job: sc.job_name.clone(),
                        discovered: model::Labels::empty(),
                        reason: e,
                    });
                    continue;
                }
            }
            let (Ok(relabel), Ok(metric_relabel)) = (
                Relabeler::new(&sc.relabel_configs),
                Relabeler::new(&sc.metric_relabel_configs),
            ) else {
                continue;
            };
            let metric_relabel = Arc::new(metric_relabel);
            let mut count = 0u64;
            let mut groups: Vec<Group> = sc
                .static_configs
                .iter()
                .enumerate()
                .map(|(i, st)| Group {
                    source: format!("{}/static/{i}", sc.job_name),
                    targets: st.targets.clone(),
                    labels: st.labels.clone(),
                })
                .collect();
            for f in sc
                .file_sd_configs
                .iter()
                .flat_map(|f| &f.files)
                .flat_map(|p| discovery::expand(p))
            {
                match discovery::read(&f) {
                    Ok(g) => {
                        groups.extend(g.iter().cloned());
                        file_groups.insert(f, g);
                    }
                    // A file that is gone takes its targets with it; one
                    // that cannot be read keeps its last good groups.
                    Err(e) if f.exists() => {
                        let last = self.file_groups.get(&f).cloned().unwrap_or_default();
                        tracing::warn!(job = %sc.job_name, error = %e, kept = last.len(), "file_sd: cannot read targets; keeping the file's last good groups");
                        groups.extend(last.iter().cloned());
                        file_groups.insert(f, last);
                    }
                    Err(e) => {
                        tracing::warn!(job = %sc.job_name, error = %e, "file_sd: cannot read targets")
                    }
                }
            }
            for h in &sc.http_sd_configs {
                // Secrets print masked, so the key adds the real header and
                // the TLS files' state: a changed password or certificate
                // restarts the poller.
                let key = format!(
                    "{}\n{}\n{}",
                    sc.job_name,
                    model::yaml::to_string(h),
                    client_key(&h.http)
                );
                let poller = match self.http_sd.remove(&key) {
                    Some(p) => p,
                    None => match http_sd::Poller::start(&sc.job_name, h) {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::error!(job = %sc.job_name, url = %h.url, error = %e, "http_sd: cannot start");
                            self.dropped.push(Dropped {
                                job: sc.job_name.clone(),
                                discovered: model::Labels::empty(),
                                reason: format!("http_sd_configs {}: {e}", h.url),
                            });
                            continue;
                        }
                    },
                };
                http_seen += poller.version();
                groups.extend(poller.groups());
                pollers.insert(key, poller);
            }
            discovered.insert(
                sc.job_name.clone(),
                groups.iter().map(|g| g.targets.len()).sum(),
            );
            for group in &groups {
                for t in target::build(group, sc, &cfg.global, &relabel) {
                    match t {
                        Ok(t) => {
                            count += 1;
                            wanted.insert(
                                (sc.job_name.clone(), t.url.clone(), t.labels.clone()),
                                (t, sc, metric_relabel.clone()),
                            );
                        }
                        Err(e) => self.dropped.push(Dropped {
                            job: sc.job_name.clone(),
                            discovered: model::Labels::empty(),
                            reason: e.0,
                        }),
                    }
                }
            }
            let limit = sc.limits(&cfg.global).target_limit;
            if limit > 0 && count > limit {
                tracing::warn!(job = %sc.job_name, targets = count, limit, "target_limit exceeded; the job's targets are not scraped");
                wanted.retain(|k, _| k.0 != sc.job_name);
            }
        }
        self.metrics.set_discovered(discovered);
        self.fetchers = fetchers;
        self.file_groups = file_groups;
        // Pollers of HTTP discovery no longer configured stop here.
        self.http_sd = pollers;
        self.http_seen = http_seen;
        // Each job's key, made once per job, not once per target.
        let mut job_keys: HashMap<String, Arc<str>> = HashMap::new();
        let mut key_of = |sc: &ScrapeConfig| -> Arc<str> {
            if let Some(k) = job_keys.get(&sc.job_name) {
                return k.clone();
            }
            let k: Arc<str> = job_key(sc, &cfg.global).into();
            job_keys.insert(sc.job_name.clone(), k.clone());
            k
        };
        // Stop loops that are no longer wanted or whose options changed.
        let keys: Vec<_> = self.running.keys().cloned().collect();
        for k in keys {
            let keep = match (wanted.get(&k), self.running.get(&k)) {
                (Some((_, sc, _)), Some(r)) => r.config == key_of(sc),
                _ => false,
            };
            if !keep {
                if let Some(r) = self.running.remove(&k) {
                    let _ = r.stop.send(true);
                }
            }
        }
        for (k, (t, sc, metric_relabel)) in wanted {
            if self.running.contains_key(&k) {
                continue;
            }
            let g = &cfg.global;
            let opts = LoopOptions {
                interval: sc.interval(g),
                timeout: sc.timeout(g),
                honor_labels: sc.honor_labels,
                honor_timestamps: sc.honor_timestamps,
                limits: sc.limits(g),
                headers: request_headers(sc, g).into(),
                fallback: sc.fallback_scrape_protocol.clone(),
                track_timestamps_staleness: sc.track_timestamps_staleness,
                metric_relabel,
            };
            let Some(fetcher) = self.fetchers.get(&client_key(&sc.http)).cloned() else {
                // Jobs whose client failed were left out above.
                continue;
            };
            let scraper = scraper::Scraper::new(
                t.clone(),
                opts.clone(),
                self.store.clone(),
                fetcher,
                self.metrics.clone(),
            );
            let health = scraper.health.clone();
            let (stop, rx) = watch::channel(false);
            let task = tokio::spawn(scraper.run(rx));
            self.running.insert(
                k,
                Running {
                    job: sc.job_name.clone(),
                    target: t,
                    interval: opts.interval,
                    timeout: opts.timeout,
                    config: key_of(sc),
                    health,
                    stop,
                    task,
                },
            );
        }
    }

    /// Every active target with its health, sorted by job and URL.
    pub fn targets(&self) -> Vec<TargetStatus> {
        let mut out: Vec<TargetStatus> = self
            .running
            .values()
            .map(|r| TargetStatus {
                job: r.job.clone(),
                target: r.target.clone(),
                interval: r.interval,
                timeout: r.timeout,
                health: r.health.lock().clone(),
            })
            .collect();
        out.sort_by(|a, b| (&a.job, &a.target.url).cmp(&(&b.job, &b.target.url)));
        out
    }

    /// Targets dropped by relabeling errors or bad addresses.
    pub fn dropped(&self) -> &[Dropped] {
        &self.dropped
    }

    /// Stops every loop and waits for their staleness markers.
    pub async fn shutdown(&mut self) {
        let running: Vec<Running> = self.running.drain().map(|(_, r)| r).collect();
        for r in &running {
            let _ = r.stop.send(true);
        }
        for r in running {
            let _ = r.task.await;
        }
    }
}

/// Every discovery file the configuration names now.
fn file_set(cfg: &Config) -> Vec<PathBuf> {
    cfg.scrape_configs
        .iter()
        .flat_map(|sc| &sc.file_sd_configs)
        .flat_map(|f| &f.files)
        .flat_map(|p| discovery::expand(p))
        .collect()
}

/// The job's options as text; equal text means a running loop can stay.
fn job_key(sc: &ScrapeConfig, g: &GlobalConfig) -> String {
    // The YAML masks secrets and leaves out what the global section
    // supplies; the effective options and the client's key close both
    // gaps.
    format!(
        "{}\n{:?}\n{:?}\n{}",
        model::yaml::to_string(sc),
        (sc.interval(g), sc.timeout(g), sc.limits(g),),
        request_headers(sc, g),
        client_key(&sc.http)
    )
}

/// An HTTP configuration, its secrets included, and the change times of
/// its TLS files: a client is rebuilt when a reload finds a changed
/// password or a rotated certificate. (Credential files are read at each
/// request and need no rebuild.)
fn client_key(http: &httpclient::HttpConfig) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    http.hash(&mut h);
    let tls = [
        http.tls_config.as_ref(),
        http.oauth2.as_ref().and_then(|o| o.tls_config.as_ref()),
    ];
    for t in tls.into_iter().flatten() {
        for f in [&t.ca_file, &t.cert_file, &t.key_file] {
            discovery::stamp(std::path::Path::new(f)).hash(&mut h);
        }
    }
    h.finish()
}

/// The headers of every scrape of a job (credentials and `http_headers`
/// come from its client).
fn request_headers(sc: &ScrapeConfig, g: &GlobalConfig) -> Vec<(HeaderName, String)> {
    vec![
        (header::ACCEPT, sc.accept_header(g)),
        (
            header::ACCEPT_ENCODING,
            if sc.enable_compression {
                "gzip"
            } else {
                "identity"
            }
            .to_string(),
        ),
        (
            HeaderName::from_static("x-prometheus-scrape-timeout-seconds"),
            format!("{}", sc.timeout(g).as_secs_f64()),
        ),
    ]
}
