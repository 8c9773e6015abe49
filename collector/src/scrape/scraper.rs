//! The per-target scrape loop: fetch, parse, merge target labels, metric
//! relabeling, limits, one appender batch per scrape, staleness markers and
//! the synthetic `up` and `scrape_*` series (upstream `scrape/scrape.go`).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::{Appendable, Labels, LabelsBuilder, SeriesRef, METRIC_NAME};
use tokio::sync::watch;

use super::cache::{Cache, Cached};
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
    /// The job's limits in force (0 = none).
    pub limits: config::Limits,
    /// Request headers: `Accept` (from `scrape_protocols`),
    /// `Accept-Encoding`, `Authorization`, the scrape timeout.
    pub headers: Arc<[(httpclient::header::HeaderName, String)]>,
    /// `fallback_scrape_protocol`.
    pub fallback: Option<String>,
    /// Whether samples with their own timestamps get staleness markers
    /// when they vanish (Prometheus's `track_timestamps_staleness`).
    pub track_timestamps_staleness: bool,
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

/// A HELP, TYPE or UNIT line of one scrape, as read: the family's name,
/// which of the three it sets (0, 1, 2) and the text.
type MetaLine<'a> = (Cow<'a, str>, u8, Cow<'a, str>);

/// The metadata of one scrape's lines: per family, the last HELP, TYPE and
/// UNIT it gave, a family without a TYPE line being of kind `unknown`.
/// Most targets say the same every scrape, so `last` is handed back when
/// the lines say what it says, and no map is built.
fn metadata_of(
    mut lines: Vec<MetaLine<'_>>,
    last: &Arc<BTreeMap<String, Metadata>>,
) -> Arc<BTreeMap<String, Metadata>> {
    // By family, each family's lines in the order read: the last wins.
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let mut families: Vec<(&str, [Option<&str>; 3])> = Vec::new();
    for (name, field, text) in &lines {
        if families.last().is_none_or(|(n, _)| n != name) {
            families.push((name, [None; 3]));
        }
        if let Some((_, f)) = families.last_mut() {
            f[usize::from(*field)] = Some(text);
        }
    }
    fn kind<'a>(f: &[Option<&'a str>; 3]) -> &'a str {
        f[1].unwrap_or("unknown")
    }
    let same = families.len() == last.len()
        && families.iter().zip(last.iter()).all(|((n, f), (ln, m))| {
            n == ln
                && kind(f) == m.kind
                && f[0].unwrap_or("") == m.help
                && f[2].unwrap_or("") == m.unit
        });
    if same {
        return last.clone();
    }
    Arc::new(
        families
            .iter()
            .map(|(n, f)| {
                let m = Metadata {
                    kind: kind(f).to_string(),
                    help: f[0].unwrap_or("").to_string(),
                    unit: f[2].unwrap_or("").to_string(),
                };
                (n.to_string(), m)
            })
            .collect(),
    )
}

/// Samples of one scrape as they are read: cache entry, time, value.
struct Acc {
    out: Vec<(usize, i64, f64)>,
    added: usize,
}

/// Outcome of one scrape before it is written.
struct Scraped {
    /// Samples by cache entry (whose labels they take), time and value.
    samples: Vec<(usize, i64, f64)>,
    /// Series the last successful scrape wrote that this one lacks.
    stale: Vec<Labels>,
    /// Series this scrape wrote that the last successful one did not.
    added: usize,
    scraped: usize,
    metadata: Arc<BTreeMap<String, Metadata>>,
}

pub(crate) struct Scraper {
    pub target: Target,
    pub opts: LoopOptions,
    pub store: Arc<dyn Appendable>,
    pub health: Arc<parking_lot::Mutex<Health>>,
    pub fetcher: Fetcher,
    /// Final labels by a sample's name and labels as scraped, kept from the
    /// last scrape: most lines repeat every scrape, so their labels are
    /// built, merged, relabeled and checked once. It also tells which
    /// series the last scrape wrote, for staleness.
    cache: Cache,
    /// The series of `up` and the `scrape_*` figures, in the order of
    /// [`REPORT_NAMES`].
    report: Vec<Labels>,
    /// The store's references for `report`, from the last commit (0:
    /// none yet), so they are not looked up by labels at every scrape.
    report_hints: Vec<SeriesRef>,
    /// Number of the current scrape.
    epoch: u32,
    metrics: Arc<super::ScrapeMetrics>,
    /// When the last scrape started.
    last_start: Option<Instant>,
}

impl Scraper {
    pub(crate) fn new(
        target: Target,
        opts: LoopOptions,
        store: Arc<dyn Appendable>,
        fetcher: Fetcher,
        metrics: Arc<super::ScrapeMetrics>,
    ) -> Self {
        let health = Arc::new(parking_lot::Mutex::new(Health {
            health: "unknown",
            ..Health::default()
        }));
        let report: Vec<Labels> = REPORT_NAMES
            .iter()
            .map(|name| Self::report_labels(&target, name))
            .collect();
        Scraper {
            report_hints: vec![0; report.len()],
            report,
            target,
            opts,
            store,
            health,
            fetcher,
            cache: Cache::default(),
            epoch: 0,
            metrics,
            last_start: None,
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
        for l in self.forget() {
            let _ = app.append(&l, ts, stale);
        }
        for l in &self.report {
            let _ = app.append(l, ts, stale);
        }
        if let Err(e) = app.commit() {
            tracing::warn!(target = %self.target.labels, error = %e, "writing stale markers");
        }
    }

    /// One scrape at scheduled time `ts` (ms), written in one batch.
    pub(crate) async fn scrape_once(&mut self, ts: i64) {
        let start = Instant::now();
        if let Some(last) = self.last_start.replace(start) {
            self.metrics
                .observe_interval(self.opts.interval, start.duration_since(last));
        }
        let result = match self
            .fetcher
            .get(
                &self.target.url,
                self.opts.timeout,
                self.opts.limits.body_size_limit.0,
                &self.opts.headers,
                self.opts.fallback.as_deref(),
            )
            .await
        {
            Ok(body) => self.process(&body.bytes, body.format, ts),
            Err(e) => Err(e),
        };
        let duration = start.elapsed();
        let stale = model::sample::stale_nan();
        let ok = result.is_ok();
        let (up, scraped, post, added, err, samples, gone) = match result {
            Ok(s) => {
                self.health.lock().metadata = s.metadata;
                let post = s.samples.len();
                (
                    1.0,
                    s.scraped,
                    post,
                    s.added,
                    String::new(),
                    s.samples,
                    s.stale,
                )
            }
            Err(e) => (0.0, 0, 0, 0, e, Vec::new(), self.forget()),
        };
        let values = [
            up,
            duration.as_secs_f64(),
            scraped as f64,
            post as f64,
            added as f64,
        ];
        // One batch, its labels read in place from the cache: the samples
        // (their cache entries in `slots`, for the hints that come back),
        // stale markers, then `up` and the `scrape_*` series.
        let mut batch: Vec<(SeriesRef, &Labels, i64, f64)> =
            Vec::with_capacity(samples.len() + gone.len() + values.len());
        let mut slots = Vec::with_capacity(samples.len());
        for &(slot, t, v) in &samples {
            let c = &self.cache.entries[slot];
            if let Some(l) = &c.labels {
                batch.push((c.hint, l, t, v));
                slots.push(slot);
            }
        }
        batch.extend(gone.iter().map(|l| (0, l, ts, stale)));
        batch.extend(
            self.report
                .iter()
                .zip(&self.report_hints)
                .zip(values)
                .map(|((l, &hint), v)| (hint, l, ts, v)),
        );
        let mut app = self.store.appender();
        let mut commit_err = None;
        match app.commit_with(&batch) {
            Ok(sum) if sum.rejected() > 0 => {
                tracing::debug!(target = %self.target.labels, out_of_order = sum.out_of_order, duplicate = sum.duplicate, "samples rejected");
            }
            Ok(_) => {}
            Err(e) => commit_err = Some(e.to_string()),
        }
        drop(batch);
        // The report's references are the last ones (none after a failed
        // commit).
        if let Some(refs) = app.refs().get(slots.len() + gone.len()..) {
            if refs.len() == self.report_hints.len() {
                self.report_hints.copy_from_slice(refs);
            }
        }
        if ok {
            // Entries seen for the first time take the store's copy of
            // their labels (after a restart the store's came from its WAL),
            // so the two share one allocation.
            let (mut new_slots, mut fresh) = (Vec::new(), Vec::new());
            for (&slot, &r) in slots.iter().zip(app.refs()) {
                let c = &mut self.cache.entries[slot];
                if let Some(l) = c.labels.as_ref().filter(|_| c.hint == 0 && r != 0) {
                    new_slots.push(slot);
                    fresh.push((r, l.clone()));
                }
                c.hint = r;
            }
            app.share_labels(&mut fresh);
            for (slot, (_, l)) in new_slots.into_iter().zip(fresh) {
                self.cache.entries[slot].labels = Some(l);
            }
            self.sweep();
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

    fn report_labels(target: &Target, name: &str) -> Labels {
        let mut b = target.labels.builder();
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
        let mut scraped = 0usize;
        let mut rest = body;
        let mut line_no = 0;
        let mut meta: Vec<MetaLine<'_>> = Vec::new();
        self.epoch = self.epoch.wrapping_add(1);
        let epoch = self.epoch;
        let mut acc = Acc {
            out: Vec::with_capacity(self.cache.entries.len()),
            added: 0,
        };
        let mut key: Vec<u8> = Vec::with_capacity(256);
        while !rest.is_empty() {
            line_no += 1;
            let (line, terminated) = match memchr::memchr(b'\n', rest) {
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
            // Most lines repeat the last scrape's, in the same order: the
            // entry after the last line's is tried first, hashing as many
            // bytes as its series part had; then the line is scanned for
            // its series part, which is looked up by hash. Only the value
            // is parsed.
            let guess = self.cache.next().and_then(|(slot, len)| {
                let tag = parser.series_tag()?;
                (parser.ends_series(line, len)
                    && self.cache.is(slot, self.cache.key(tag, &line[..len])))
                .then_some((slot, len))
            });
            let mut raw = None;
            let known = guess.or_else(|| {
                let (tag, end) = parser.series_end(line)?;
                let k = self.cache.key(tag, &line[..end]);
                raw = Some((k, end));
                self.cache.find(k).map(|slot| (slot, end))
            });
            if let Some((slot, end)) = known {
                let (value, t) = parser
                    .sample_value(line, end, line_no)
                    .map_err(|e| e.to_string())?;
                scraped += 1;
                self.take(slot, value, t, ts, &mut acc)?;
                continue;
            }
            let entry = if terminated {
                parser.parse_line(line, line_no)
            } else {
                parser.parse_unterminated_line(line, line_no)
            };
            let s = match entry.map_err(|e| e.to_string())? {
                Entry::Sample(s) => s,
                Entry::Help { name, help } => {
                    meta.push((name, 0, help));
                    continue;
                }
                Entry::Type { name, kind } => {
                    meta.push((name, 1, Cow::Borrowed(kind.as_str())));
                    continue;
                }
                Entry::Unit { name, unit } => {
                    meta.push((name, 2, unit));
                    continue;
                }
                _ => continue,
            };
            scraped += 1;
            let (k, len) = match raw {
                Some(raw) => raw,
                None => {
                    // 0xff never occurs in UTF-8, so it separates
                    // unambiguously; tag 0xfe sets these keys apart from
                    // raw ones, whose tags are small.
                    key.clear();
                    key.extend_from_slice(s.name.as_bytes());
                    for (n, v) in &s.labels {
                        key.push(0xff);
                        key.extend_from_slice(n.as_bytes());
                        key.push(0xff);
                        key.extend_from_slice(v.as_bytes());
                    }
                    (self.cache.key(0xfe, &key), 0)
                }
            };
            let slot = match self.cache.find(k) {
                Some(slot) => slot,
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
                    self.cache.insert(k, len, Cached::new(l, 0))
                }
            };
            self.take(slot, s.value, s.timestamp_ms, ts, &mut acc)?;
        }
        parser.finish().map_err(|e| e.to_string())?;
        // Lines the last scrape had and this one lacks go stale, unless
        // another line of this scrape yields the same series.
        let mut stale: Vec<Labels> = Vec::new();
        for c in &mut self.cache.entries {
            if c.seen == epoch {
                // Samples with their own timestamps get no stale markers
                // unless asked (upstream `track_timestamps_staleness`).
                c.live = c.labels.is_some() && c.tracked;
            } else if c.live {
                stale.extend(c.labels.clone());
                c.live = false;
            }
        }
        if !stale.is_empty() {
            let entries = &self.cache.entries;
            let written: HashSet<&Labels> = acc
                .out
                .iter()
                .filter_map(|&(slot, _, _)| entries[slot].labels.as_ref())
                .collect();
            stale.retain(|l| !written.contains(l));
        }
        Ok(Scraped {
            samples: acc.out,
            stale,
            added: acc.added,
            scraped,
            metadata: {
                // Not compared under the lock the targets API reads.
                let last = self.health.lock().metadata.clone();
                metadata_of(meta, &last)
            },
        })
    }

    /// Adds a sample of the series in cache entry `slot` (a dropped series
    /// adds nothing); `t` is the exposed timestamp, `ts` the scrape's.
    fn take(
        &mut self,
        slot: usize,
        value: f64,
        t: Option<i64>,
        ts: i64,
        acc: &mut Acc,
    ) -> Result<(), String> {
        let explicit = self.opts.honor_timestamps && t.is_some();
        let tracked = !explicit || self.opts.track_timestamps_staleness;
        self.cache.found(slot);
        let c = &mut self.cache.entries[slot];
        if c.seen != self.epoch {
            c.seen = self.epoch;
            acc.added += usize::from(!c.live && c.labels.is_some());
        }
        c.tracked = tracked;
        if c.labels.is_none() {
            return Ok(());
        }
        let t = match (self.opts.honor_timestamps, t) {
            (true, Some(t)) => t,
            _ => ts,
        };
        acc.out.push((slot, t, value));
        let sample_limit = self.opts.limits.sample_limit;
        if sample_limit > 0 && acc.out.len() as u64 > sample_limit {
            return Err("sample limit exceeded".into());
        }
        Ok(())
    }

    /// Empties the cache after a failed scrape or at the end, returning the
    /// series the last successful scrape wrote: they all go stale.
    fn forget(&mut self) -> Vec<Labels> {
        self.cache
            .drain()
            .filter(|c| c.live)
            .filter_map(|c| c.labels)
            .collect()
    }

    /// Drops the cache entries of lines the current scrape did not have.
    fn sweep(&mut self) {
        let epoch = self.epoch;
        self.cache.retain(|c| c.seen == epoch);
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
        let o = &self.opts.limits;
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

#[cfg(test)]
mod tests {
    use super::*;
    use model::mem::MemStore;
    use model::{Matcher, Querier};
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Serves whatever `body` holds; `None` answers 500.
    fn serve(body: Arc<parking_lot::Mutex<Option<String>>>) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let reply = match body.lock().clone() {
                    Some(b) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                        b.len()
                    ),
                    None => "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_string(),
                };
                let _ = c.write_all(reply.as_bytes());
            }
        });
        format!("http://{addr}/metrics")
    }

    fn samples(store: &MemStore, name: &str) -> Vec<(i64, f64)> {
        let set = store
            .select(&[Matcher::equal("__name__", name)], i64::MIN, i64::MAX)
            .unwrap();
        set.flat_map(|s| s.unwrap().samples)
            .map(|s| (s.t, s.v))
            .collect()
    }

    /// Series that vanish, and every series of a target whose scrape
    /// fails, get one stale marker, except samples with their own
    /// timestamps; `scrape_series_added` counts series the previous
    /// successful scrape did not write.
    #[tokio::test(flavor = "current_thread")]
    async fn staleness_follows_the_scrapes() {
        let body = Arc::new(parking_lot::Mutex::new(None));
        let url = serve(body.clone());
        let store = MemStore::new();
        let mut s = scraper(url, store.clone());
        let steps: [(i64, Option<&str>); 6] = [
            (1000, Some("a 1\nb 2\nc 7 500\n")),
            (2000, Some("a 1\n")),
            (3000, Some("a 1\nb 3\nb 3\n")),
            (4000, None),
            (5000, None),
            (6000, Some("a 5\n")),
        ];
        for (t, b) in steps {
            *body.lock() = b.map(str::to_string);
            s.scrape_once(t).await;
        }
        let show = |v: Vec<(i64, f64)>| -> Vec<(i64, String)> {
            v.into_iter()
                .map(|(t, v)| {
                    let v = if model::sample::is_stale_nan(v) {
                        "stale".to_string()
                    } else {
                        v.to_string()
                    };
                    (t, v)
                })
                .collect()
        };
        let want = |v: &[(i64, &str)]| -> Vec<(i64, String)> {
            v.iter().map(|(t, s)| (*t, s.to_string())).collect()
        };
        assert_eq!(
            show(samples(&store, "a")),
            want(&[
                (1000, "1"),
                (2000, "1"),
                (3000, "1"),
                (4000, "stale"),
                (6000, "5")
            ])
        );
        assert_eq!(
            show(samples(&store, "b")),
            want(&[(1000, "2"), (2000, "stale"), (3000, "3"), (4000, "stale")])
        );
        assert_eq!(
            show(samples(&store, "scrape_series_added")),
            want(&[
                (1000, "3"),
                (2000, "0"),
                (3000, "1"),
                (4000, "0"),
                (5000, "0"),
                (6000, "1")
            ])
        );
        // A sample with its own timestamp gets no stale marker
        // (track_timestamps_staleness is off).
        assert_eq!(show(samples(&store, "c")), want(&[(500, "7")]));
        assert_eq!(
            show(samples(&store, "up")),
            want(&[
                (1000, "1"),
                (2000, "1"),
                (3000, "1"),
                (4000, "0"),
                (5000, "0"),
                (6000, "1")
            ])
        );
    }

    /// A scraper of `url` (target `{instance="i", job="j"}`, 10 s) that
    /// writes into `store`.
    fn scraper(url: String, store: MemStore) -> Scraper {
        let opts = LoopOptions {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            honor_labels: false,
            honor_timestamps: true,
            limits: config::Limits::default(),
            headers: Arc::new([]),
            fallback: None,
            track_timestamps_staleness: false,
            metric_relabel: Arc::new(Relabeler::new(&[]).unwrap()),
        };
        let target = Target {
            labels: Labels::from_pairs([("instance", "i"), ("job", "j")]),
            discovered: Labels::empty(),
            url,
        };
        Scraper::new(
            target,
            opts,
            Arc::new(store),
            Fetcher::plain().unwrap(),
            Default::default(),
        )
    }

    /// Per commit, per sample: the hint given and the reference handed back.
    type Given = Vec<Vec<(u64, u64)>>;

    /// A store that hands out references and keeps its own copy of each
    /// label set, recording the hints each commit was given.
    #[derive(Default, Clone)]
    struct Referencing {
        known: Arc<parking_lot::Mutex<HashMap<Labels, (u64, Labels)>>>,
        hints: Arc<parking_lot::Mutex<Given>>,
    }

    struct RefAppender {
        store: Referencing,
        batch: Vec<(u64, Labels)>,
        refs: Vec<u64>,
    }

    impl model::Appendable for Referencing {
        fn appender(&self) -> Box<dyn model::Appender> {
            Box::new(RefAppender {
                store: self.clone(),
                batch: Vec::new(),
                refs: Vec::new(),
            })
        }
    }

    impl model::Appender for RefAppender {
        fn append(&mut self, l: &Labels, t: i64, v: f64) -> Result<(), model::StorageError> {
            self.append_hinted(0, l, t, v)
        }
        fn append_hinted(
            &mut self,
            hint: u64,
            l: &Labels,
            _: i64,
            _: f64,
        ) -> Result<(), model::StorageError> {
            self.batch.push((hint, l.clone()));
            Ok(())
        }
        fn refs(&self) -> &[u64] {
            &self.refs
        }
        fn share_labels(&self, sets: &mut [(u64, Labels)]) {
            let known = self.store.known.lock();
            for (r, l) in sets.iter_mut() {
                if let Some((k, own)) = known.get(l) {
                    if k == r {
                        *l = own.clone();
                    }
                }
            }
        }
        fn commit(&mut self) -> Result<model::CommitSummary, model::StorageError> {
            let mut known = self.store.known.lock();
            let mut given = Vec::new();
            self.refs.clear();
            for (hint, l) in self.batch.drain(..) {
                let next = known.len() as u64 + 1;
                // The store's own copy: the same pairs, another allocation.
                let own = Labels::from_encoded(l.encoded()).unwrap();
                let r = known.entry(l).or_insert((next, own)).0;
                given.push((hint, r));
                self.refs.push(r);
            }
            self.store.hints.lock().push(given);
            Ok(model::CommitSummary::default())
        }
        fn rollback(&mut self) {
            self.batch.clear();
        }
    }

    /// From the second scrape on, every sample carries its series'
    /// reference, `up` and the `scrape_*` series included, and the cache
    /// holds the store's own label sets rather than copies of its own.
    #[tokio::test(flavor = "current_thread")]
    async fn scrapes_hand_back_references_and_share_label_sets() {
        let body = Arc::new(parking_lot::Mutex::new(Some("a 1\nb 2\n".to_string())));
        let url = serve(body.clone());
        let store = Referencing::default();
        let opts = scraper(url.clone(), MemStore::new()).opts;
        let mut s = Scraper::new(
            Target {
                labels: Labels::from_pairs([("instance", "i"), ("job", "j")]),
                discovered: Labels::empty(),
                url,
            },
            opts,
            Arc::new(store.clone()),
            Fetcher::plain().unwrap(),
            Default::default(),
        );
        for t in [1000, 2000, 3000] {
            s.scrape_once(t).await;
        }
        let hints = store.hints.lock().clone();
        assert_eq!(hints.len(), 3);
        assert_eq!(hints[0].len(), 2 + REPORT_NAMES.len());
        assert!(hints[0].iter().all(|&(hint, _)| hint == 0));
        for later in &hints[1..] {
            assert_eq!(
                later,
                &hints[0].iter().map(|&(_, r)| (r, r)).collect::<Vec<_>>()
            );
        }
        let known = store.known.lock();
        for c in &s.cache.entries {
            let l = c.labels.as_ref().unwrap();
            let own = &known[l].1;
            assert_eq!(l.encoded().as_ptr(), own.encoded().as_ptr(), "{l}");
        }
    }

    /// A scraper whose bodies are given to `process`, not fetched.
    fn unfetched() -> Scraper {
        scraper("http://127.0.0.1:1/metrics".into(), MemStore::new())
    }

    /// What one scrape of `body` yields, as a scrape loop reads it (the
    /// cache swept after a good scrape, emptied after a bad one).
    fn read(s: &mut Scraper, body: &str, ts: i64) -> Option<Vec<(String, i64, u64)>> {
        match s.process(body.as_bytes(), crate::exposition::Format::Text, ts) {
            Ok(got) => {
                let out = got
                    .samples
                    .iter()
                    .map(|&(slot, t, v)| {
                        let l = s.cache.entries[slot].labels.as_ref().unwrap();
                        (l.to_string(), t, v.to_bits())
                    })
                    .collect();
                s.sweep();
                Some(out)
            }
            Err(_) => {
                s.forget();
                None
            }
        }
    }

    /// A scraper that has seen earlier bodies reads each body as one that
    /// sees it first: its guesses (the line after the last one's entry)
    /// and lookups by raw bytes never take a line for another.
    #[test]
    fn the_scrape_cache_reads_lines_as_a_first_scrape_would() {
        let bodies = [
            "p 0\na 1\nq 0\nab 2\n",
            "p 0\na {x=\"2\"} 5\nq 0\nab{c=\"d\"} 2\n",
            "p 0\na 1\nq 0\nab 2\n",
            "p 0\na\t 1\nq 0\nab\t{c=\"d\"} 2\n",
            "# TYPE a counter\na 1\nab 2\na{x=\"1\"} 3\nb 4\nm{v=\"}\"} 5\n",
            "b 4\na{x=\"1\"} 3\nab 2\na 1\nm{v=\"}\"} 6\n",
            "p 0\na 1\nab 2\n",
            "p 0\na {x=\"2\"} 5\nab{c=\"d\"} 2\n",
            "p 0\na 1\nab 2\na 1\n",
            "# TYPE a gauge\np 0\na 1\nab\t 2\n",
            "p 0\na 1\nab 2 17\n",
            "p 0\na 1\nab 2 x\n",
            "p 0\na 1\nab 2\nm{v=\"}\"}x 1\n",
            "p 0\na 1\nab 3\nm{v=\"}\"} 1\n",
            "p 0\na\t1\nm{v=\"}\"} 1\nab 3\nnew 1\n",
        ];
        let mut warm = unfetched();
        for (i, body) in bodies.iter().enumerate() {
            let ts = 1000 * (i as i64 + 1);
            let cold = read(&mut unfetched(), body, ts);
            assert_eq!(read(&mut warm, body, ts), cold, "body {i}: {body:?}");
        }
    }

    #[test]
    fn metadata_is_kept_while_the_lines_say_the_same() {
        let lines = |v: &[(&'static str, u8, &'static str)]| -> Vec<MetaLine<'static>> {
            v.iter()
                .map(|&(n, f, t)| (Cow::Borrowed(n), f, Cow::Borrowed(t)))
                .collect()
        };
        let none = Arc::new(BTreeMap::new());
        let first = metadata_of(
            lines(&[
                ("b_total", 0, "B."),
                ("b_total", 1, "counter"),
                ("a", 0, "old help"),
                ("a", 2, "seconds"),
                ("a", 0, "A."),
            ]),
            &none,
        );
        let want = |kind: &str, help: &str, unit: &str| Metadata {
            kind: kind.into(),
            help: help.into(),
            unit: unit.into(),
        };
        // The last line of a family wins; no TYPE line means `unknown`.
        assert_eq!(
            *first,
            BTreeMap::from([
                ("a".to_string(), want("unknown", "A.", "seconds")),
                ("b_total".to_string(), want("counter", "B.", "")),
            ])
        );
        // The same lines in another order: the very same map.
        let same = [
            ("a", 2, "seconds"),
            ("a", 0, "A."),
            ("b_total", 1, "counter"),
            ("b_total", 0, "B."),
        ];
        assert!(Arc::ptr_eq(&metadata_of(lines(&same), &first), &first));
        // Any change, a family fewer or more or a field gone, builds a new
        // one.
        let mut gauge = same;
        gauge[2].2 = "gauge";
        let more = [&same[..], &[("c", 0, "C.")]].concat();
        for changed in [
            lines(&gauge),
            lines(&same[..2]),
            lines(&same[1..]),
            lines(&more),
        ] {
            let m = metadata_of(changed, &first);
            assert!(!Arc::ptr_eq(&m, &first));
            assert_ne!(*m, *first);
        }
    }
}
