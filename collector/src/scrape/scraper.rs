//! The per-target scrape loop: fetch, parse, merge target labels, metric
//! relabeling, limits, one appender batch per scrape, staleness markers and
//! the synthetic `up` and `scrape_*` series (upstream `scrape/scrape.go`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::{Appendable, Labels, LabelsBuilder, METRIC_NAME};
use tokio::sync::watch;

use super::fetch::Fetcher;
use crate::exposition::{Entry, Parser, Strictness};
use crate::relabel::Relabeler;
use crate::target::Target;

/// How one target is scraped, fixed for the life of its loop.
#[derive(Clone)]
pub struct LoopOptions {
    pub interval: Duration,
    pub timeout: Duration,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub body_size_limit: u64,
    pub auth: Option<String>,
    pub metric_relabel: Arc<Relabeler>,
}

/// Health of a target as the targets API shows it.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// "up", "down" or "unknown" (not scraped yet).
    pub health: &'static str,
    pub last_error: String,
    /// Milliseconds since the epoch of the last scrape's start.
    pub last_scrape_ms: i64,
    pub last_duration: Duration,
    pub last_samples: usize,
    /// HELP, TYPE and UNIT by metric family name, from the last successful
    /// scrape (for the metadata APIs).
    pub metadata: Arc<BTreeMap<String, Metadata>>,
}

/// What a target says about one metric family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `counter`, `gauge`, ... or `unknown`.
    pub kind: String,
    pub help: String,
    pub unit: String,
}

/// Outcome of one scrape before it is written.
struct Scraped {
    samples: Vec<(Labels, i64, f64)>,
    scraped: usize,
    metadata: BTreeMap<String, Metadata>,
}

pub(crate) struct Scraper {
    pub target: Target,
    pub opts: LoopOptions,
    pub store: Arc<dyn Appendable>,
    pub health: Arc<parking_lot::Mutex<Health>>,
    pub fetcher: Fetcher,
    /// Series written by the last successful scrape, for staleness.
    prev: HashSet<Labels>,
    /// Final labels by a sample's name and labels as scraped, kept from the
    /// last scrape (upstream's scrape cache): most lines repeat every
    /// scrape, so their labels are built, merged, relabeled and checked
    /// once. `None`: dropped by metric relabeling.
    cache: HashMap<Box<[u8]>, Option<Labels>>,
}

impl Scraper {
    pub(crate) fn new(
        target: Target,
        opts: LoopOptions,
        store: Arc<dyn Appendable>,
        fetcher: Fetcher,
    ) -> Self {
        let health = Arc::new(parking_lot::Mutex::new(Health {
            health: "unknown",
            ..Health::default()
        }));
        Scraper {
            target,
            opts,
            store,
            health,
            fetcher,
            prev: HashSet::new(),
            cache: HashMap::new(),
        }
    }

    /// Scrapes on the interval at a stable per-target offset until `stop`
    /// changes; then marks the target's series stale.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let interval_ms = self.opts.interval.as_millis().max(1) as i64;
        let offset = (self.target.labels.fingerprint()
            ^ model::Labels::from_pairs([("url", self.target.url.as_str())]).fingerprint())
            % interval_ms as u64;
        let now = model::time::now_ms();
        let mut next = now - now.rem_euclid(interval_ms) + offset as i64;
        if next < now {
            next += interval_ms;
        }
        loop {
            let wait = Duration::from_millis((next - model::time::now_ms()).max(0) as u64);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => break,
            }
            self.scrape_once(next).await;
            next += interval_ms;
            // A scrape that overran: skip missed ticks rather than burst.
            let now = model::time::now_ms();
            while next <= now {
                next += interval_ms;
            }
        }
        let ts = model::time::now_ms();
        let stale = model::sample::stale_nan();
        let mut app = self.store.appender();
        for l in self.prev.drain() {
            let _ = app.append(&l, ts, stale);
        }
        for name in REPORT_NAMES {
            let _ = app.append(&self.report_labels(name), ts, stale);
        }
        if let Err(e) = app.commit() {
            tracing::warn!(target = %self.target.labels, error = %e, "writing stale markers");
        }
    }

    /// One scrape at scheduled time `ts` (ms), written in one batch.
    pub(crate) async fn scrape_once(&mut self, ts: i64) {
        let start = Instant::now();
        let result = match self
            .fetcher
            .get(
                &self.target.url,
                self.opts.timeout,
                self.opts.body_size_limit,
                self.opts.auth.as_deref(),
            )
            .await
        {
            Ok(body) => self.process(&body.bytes, body.format, ts),
            Err(e) => Err(e),
        };
        let duration = start.elapsed();
        let mut app = self.store.appender();
        let stale = model::sample::stale_nan();
        let (up, scraped, post, added, err) = match result {
            Ok(s) => {
                let cur: HashSet<Labels> = s.samples.iter().map(|(l, _, _)| l.clone()).collect();
                let added = cur.iter().filter(|l| !self.prev.contains(*l)).count();
                for (l, t, v) in &s.samples {
                    let _ = app.append(l, *t, *v);
                }
                for l in self.prev.difference(&cur) {
                    let _ = app.append(l, ts, stale);
                }
                let post = s.samples.len();
                self.prev = cur;
                self.health.lock().metadata = Arc::new(s.metadata);
                (1.0, s.scraped, post, added, String::new())
            }
            Err(e) => {
                for l in self.prev.drain() {
                    let _ = app.append(&l, ts, stale);
                }
                (0.0, 0, 0, 0, e)
            }
        };
        for (name, v) in [
            ("up", up),
            ("scrape_duration_seconds", duration.as_secs_f64()),
            ("scrape_samples_scraped", scraped as f64),
            ("scrape_samples_post_metric_relabeling", post as f64),
            ("scrape_series_added", added as f64),
        ] {
            let _ = app.append(&self.report_labels(name), ts, v);
        }
        let mut commit_err = None;
        match app.commit() {
            Ok(sum) if sum.rejected() > 0 => {
                tracing::debug!(target = %self.target.labels, out_of_order = sum.out_of_order, duplicate = sum.duplicate, "samples rejected");
            }
            Ok(_) => {}
            Err(e) => commit_err = Some(e.to_string()),
        }
        let mut h = self.health.lock();
        h.last_scrape_ms = ts;
        h.last_duration = duration;
        h.last_samples = scraped;
        h.last_error = commit_err.unwrap_or(err);
        h.health = if up == 1.0 && h.last_error.is_empty() {
            "up"
        } else {
            "down"
        };
    }

    fn report_labels(&self, name: &str) -> Labels {
        let mut b = self.target.labels.builder();
        b.set(METRIC_NAME, name);
        b.labels()
    }

    /// Parses a body into the samples to write. Any parse error or broken
    /// limit fails the whole scrape, as in Prometheus.
    fn process(
        &mut self,
        body: &[u8],
        format: crate::exposition::Format,
        ts: i64,
    ) -> Result<Scraped, String> {
        let mut parser = Parser::with_strictness(format, Strictness::Prometheus);
        let mut out = Vec::new();
        let mut scraped = 0usize;
        let mut rest = body;
        let mut line_no = 0;
        let mut metadata = BTreeMap::new();
        let unknown = || Metadata {
            kind: "unknown".into(),
            ..Metadata::default()
        };
        let mut next_cache: HashMap<Box<[u8]>, Option<Labels>> =
            HashMap::with_capacity(self.cache.len());
        let mut key: Vec<u8> = Vec::with_capacity(256);
        while !rest.is_empty() {
            line_no += 1;
            let (line, terminated) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let l = &rest[..i];
                    rest = &rest[i + 1..];
                    (l, true)
                }
                None => {
                    let l = rest;
                    rest = &[];
                    (l, false)
                }
            };
            let entry = if terminated {
                parser.parse_line(line, line_no)
            } else {
                parser.parse_unterminated_line(line, line_no)
            };
            let s = match entry.map_err(|e| e.to_string())? {
                Entry::Sample(s) => s,
                Entry::Help { name, help } => {
                    metadata
                        .entry(name.to_string())
                        .or_insert_with(unknown)
                        .help = help.to_string();
                    continue;
                }
                Entry::Type { name, kind } => {
                    metadata
                        .entry(name.to_string())
                        .or_insert_with(unknown)
                        .kind = kind.as_str().to_string();
                    continue;
                }
                Entry::Unit { name, unit } => {
                    metadata
                        .entry(name.to_string())
                        .or_insert_with(unknown)
                        .unit = unit.to_string();
                    continue;
                }
                _ => continue,
            };
            scraped += 1;
            // 0xff never occurs in UTF-8, so it separates unambiguously.
            key.clear();
            key.extend_from_slice(s.name.as_bytes());
            for (n, v) in &s.labels {
                key.push(0xff);
                key.extend_from_slice(n.as_bytes());
                key.push(0xff);
                key.extend_from_slice(v.as_bytes());
            }
            let cached = match self.cache.remove(&key[..]) {
                Some(c) => c,
                None => match next_cache.get(&key[..]) {
                    Some(c) => c.clone(),
                    None => {
                        let merged = self.merge(&s.series());
                        let l = if self.opts.metric_relabel.is_empty() {
                            Some(merged)
                        } else {
                            self.opts.metric_relabel.process(&merged)
                        };
                        if let Some(l) = &l {
                            self.check_limits(l)?;
                        }
                        l
                    }
                },
            };
            next_cache.insert(key.as_slice().into(), cached.clone());
            let Some(labels) = cached else {
                continue;
            };
            let t = match (self.opts.honor_timestamps, s.timestamp_ms) {
                (true, Some(t)) => t,
                _ => ts,
            };
            out.push((labels, t, s.value));
            if self.opts.sample_limit > 0 && out.len() as u64 > self.opts.sample_limit {
                return Err("sample limit exceeded".into());
            }
        }
        parser.finish().map_err(|e| e.to_string())?;
        self.cache = next_cache;
        Ok(Scraped {
            samples: out,
            scraped,
            metadata,
        })
    }

    /// Attaches target labels. With `honor_labels` the scraped value wins;
    /// without, a clashing scraped label is kept as `exported_<name>`.
    fn merge(&self, own: &Labels) -> Labels {
        let mut b: LabelsBuilder = own.builder();
        for (n, v) in self.target.labels.iter() {
            match own.get(n) {
                Some(_) if self.opts.honor_labels => {}
                Some(theirs) => {
                    let mut exported = format!("exported_{n}");
                    while own.get(&exported).is_some() {
                        exported = format!("exported_{exported}");
                    }
                    b.set(&exported, theirs);
                    b.set(n, v);
                }
                None => {
                    b.set(n, v);
                }
            }
        }
        b.labels()
    }

    fn check_limits(&self, l: &Labels) -> Result<(), String> {
        let o = &self.opts;
        if o.label_limit > 0 && l.len() as u64 > o.label_limit {
            return Err(format!(
                "label_limit exceeded (metric: {l}, number of labels: {}, limit: {})",
                l.len(),
                o.label_limit
            ));
        }
        for (n, v) in l.iter() {
            if o.label_name_length_limit > 0 && n.len() as u64 > o.label_name_length_limit {
                return Err(format!(
                    "label_name_length_limit exceeded (metric: {l}, label name: {n}, limit: {})",
                    o.label_name_length_limit
                ));
            }
            if o.label_value_length_limit > 0 && v.len() as u64 > o.label_value_length_limit {
                return Err(format!(
                    "label_value_length_limit exceeded (metric: {l}, label name: {n}, limit: {})",
                    o.label_value_length_limit
                ));
            }
        }
        Ok(())
    }
}

const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];
