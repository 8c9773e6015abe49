//! The remote write sender: one queue per `remote_write` entry, reading
//! what it sends from the store's WAL.
//!
//! A queue's reader thread follows the WAL ([`store::WalTail`]) from the
//! position its hold saved, adds the external labels, applies
//! `write_relabel_configs`, and hands each sample to a shard chosen by its
//! series, so one series' samples stay in order. A shard (a task) batches
//! up to `max_samples_per_send` samples or `batch_send_deadline`, encodes
//! a 1.0 `WriteRequest` (labels sorted, snappy block format) and posts it,
//! retrying 5xx answers, network errors and (with `retry_on_http_429`)
//! 429 with exponential back-off from `min_backoff` to `max_backoff`
//! (a `Retry-After` is honoured); any other answer drops the batch and
//! counts it as failed. A WAL record's position is acknowledged once
//! every sample of it and of every record before it is delivered (or
//! given up), and saved every second, so a restart resends at most the
//! last second's deliveries and loses nothing.
//!
//! While the reader waits for shards (their `capacity` is full because
//! the remote is slow or down), the WAL keeps growing and its hold keeps
//! the segments, within the store's hold limits.
//!
//! Every ten seconds the number of shards is recomputed from the measured
//! rates as upstream's `calculateDesiredShards` does; a change drains the
//! shards and starts the new number.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use collector::relabel::Relabeler;
use config::remote::RemoteWriteConfig;
use model::metrics::{Collect, Counter, Encoder, Gauge, Histogram};
use model::Labels;
use parking_lot::Mutex;
use prost::Message;
use store::{Store, WalHold, WalPosition};
use tokio::sync::mpsc;

use crate::proto;

/// How often shards are recomputed (upstream `shardUpdateDuration`).
const RESHARD_EVERY: Duration = Duration::from_secs(10);
/// Within this fraction of the current number, shards stay as they are.
const SHARD_TOLERANCE: f64 = 0.3;
/// How often the acknowledged position is saved.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// The protocol version header of remote write 1.0.
pub const VERSION_HEADER: (&str, &str) = ("X-Prometheus-Remote-Write-Version", "0.1.0");

/// A series as sent: its labels after external labels and relabeling.
struct Series {
    /// The labels as the `labels` fields of a protobuf `TimeSeries`
    /// (field 1, one `Label` message each), encoded once per series.
    encoded: Vec<u8>,
}

impl Series {
    fn new(labels: &Labels) -> Series {
        let mut encoded = Vec::new();
        let mut label = Vec::new();
        for (n, v) in labels.iter() {
            label.clear();
            // Label: name (1) and value (2), both length-delimited.
            label.push(0x0a);
            put_uvarint(&mut label, n.len() as u64);
            label.extend_from_slice(n.as_bytes());
            label.push(0x12);
            put_uvarint(&mut label, v.len() as u64);
            label.extend_from_slice(v.as_bytes());
            encoded.push(0x0a);
            put_uvarint(&mut encoded, label.len() as u64);
            encoded.extend_from_slice(&label);
        }
        Series { encoded }
    }
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Item {
    series: Arc<Series>,
    t: i64,
    v: f64,
    seq: u64,
}

/// The per-queue numbers, exported under Prometheus's names with labels
/// `remote_name` and `url`.
pub struct QueueMetrics {
    pub samples_in: Counter,
    pub samples_sent: Counter,
    pub samples_failed: Counter,
    pub samples_retried: Counter,
    pub dropped_relabel: Counter,
    pub dropped_too_old: Counter,
    pub dropped_unknown: Counter,
    pub samples_pending: AtomicI64,
    pub bytes_sent: Counter,
    pub shards: Gauge,
    pub shards_desired: Gauge,
    pub highest_read_ms: AtomicI64,
    pub highest_sent_ms: AtomicI64,
    /// Nanoseconds spent in successful sends, for resharding.
    send_nanos: AtomicU64,
    pub send_seconds: Histogram,
    pub metadata_sent: Counter,
    pub metadata_failed: Counter,
}

const SEND_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0, 120.0, 300.0,
];

/// Acknowledgements: which WAL records are fully delivered.
struct Tracker {
    q: Mutex<VecDeque<Entry>>,
    hold: WalHold,
}

struct Entry {
    seq: u64,
    end: WalPosition,
    remaining: i64,
    complete: bool,
}

impl Tracker {
    fn push(&self, seq: u64, end: WalPosition) {
        self.q.lock().push_back(Entry {
            seq,
            end,
            remaining: 0,
            complete: false,
        });
    }

    /// The reader handed `n` samples of record `seq` to shards.
    fn enqueued(&self, seq: u64, n: i64) {
        let mut q = self.q.lock();
        if let Some(e) = find(&mut q, seq) {
            e.remaining += n;
            e.complete = true;
        }
        self.advance(&mut q);
    }

    /// Shards delivered (or gave up) `counts` samples per record.
    fn done(&self, counts: &[(u64, i64)]) {
        let mut q = self.q.lock();
        for &(seq, n) in counts {
            if let Some(e) = find(&mut q, seq) {
                e.remaining -= n;
            }
        }
        self.advance(&mut q);
    }

    fn advance(&self, q: &mut VecDeque<Entry>) {
        let mut last = None;
        while q.front().is_some_and(|e| e.complete && e.remaining <= 0) {
            last = q.pop_front().map(|e| e.end);
        }
        if let Some(end) = last {
            self.hold.ack(end);
        }
    }
}

fn find(q: &mut VecDeque<Entry>, seq: u64) -> Option<&mut Entry> {
    let first = q.front()?.seq;
    let i = seq.checked_sub(first)? as usize;
    q.get_mut(i).filter(|e| e.seq == seq)
}

/// What a queue needs besides its configuration.
#[derive(Clone)]
pub struct Context {
    pub store: Arc<Store>,
    pub runtime: tokio::runtime::Handle,
    pub external_labels: BTreeMap<String, String>,
    /// Metadata to send with `metadata_config.send`: the scrape targets'
    /// metric families.
    pub metadata: Option<Arc<dyn Fn() -> Vec<proto::MetricMetadata> + Send + Sync>>,
    /// How long a stopping queue may go on delivering what the WAL holds
    /// (`--storage.remote.flush-deadline`); what is left is sent after
    /// the next start.
    pub flush_deadline: Duration,
}

/// One running queue.
struct Queue {
    name: String,
    url: String,
    cfg: RemoteWriteConfig,
    /// The external labels it adds; a change restarts the queue.
    external: BTreeMap<String, String>,
    stop: Arc<AtomicBool>,
    /// Set first when stopping: read up to the present, deliver, end.
    draining: Arc<AtomicBool>,
    flush_deadline: Duration,
    metrics: Arc<QueueMetrics>,
    hold: Option<WalHold>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Every queue, and their metrics.
#[derive(Default)]
pub struct Sender {
    queues: Mutex<Vec<Queue>>,
}

impl Sender {
    /// Makes the running queues those of `cfgs`: unchanged entries keep
    /// running, changed or removed ones stop (saving their position) and
    /// new ones start. Holds of remotes no longer configured are released.
    pub fn apply(&self, cfgs: &[RemoteWriteConfig], ctx: &Context) -> Result<(), String> {
        let mut queues = self.queues.lock();
        let mut keep = Vec::new();
        for q in queues.drain(..) {
            if cfgs.contains(&q.cfg) && q.external == ctx.external_labels {
                keep.push(q);
            } else {
                q.stop();
            }
        }
        for cfg in cfgs {
            if keep.iter().any(|q| &q.cfg == cfg) {
                continue;
            }
            keep.push(Queue::start(cfg.clone(), ctx)?);
        }
        // In configuration order.
        keep.sort_by_key(|q| cfgs.iter().position(|c| *c == q.cfg));
        let names: Vec<String> = keep.iter().map(|q| q.name.clone()).collect();
        ctx.store.retain_wal_holds(&names);
        *queues = keep;
        Ok(())
    }

    /// Stops every queue, saving its position.
    pub fn stop(&self) {
        for q in self.queues.lock().drain(..) {
            q.stop();
        }
    }
}

impl Queue {
    fn start(cfg: RemoteWriteConfig, ctx: &Context) -> Result<Queue, String> {
        let name = cfg.queue_name();
        let client =
            httpclient::Client::new(&cfg.http).map_err(|e| format!("remote_write {name}: {e}"))?;
        let relabel = Relabeler::new(&cfg.write_relabel_configs)
            .map_err(|e| format!("remote_write {name}: {e}"))?;
        let (tail, hold) = ctx
            .store
            .wal_tail(&name)
            .map_err(|e| format!("remote_write {name}: {e}"))?;
        let metrics = Arc::new(QueueMetrics {
            samples_in: Counter::default(),
            samples_sent: Counter::default(),
            samples_failed: Counter::default(),
            samples_retried: Counter::default(),
            dropped_relabel: Counter::default(),
            dropped_too_old: Counter::default(),
            dropped_unknown: Counter::default(),
            samples_pending: AtomicI64::new(0),
            bytes_sent: Counter::default(),
            shards: Gauge::default(),
            shards_desired: Gauge::default(),
            highest_read_ms: AtomicI64::new(0),
            highest_sent_ms: AtomicI64::new(0),
            send_nanos: AtomicU64::new(0),
            send_seconds: Histogram::new(SEND_BUCKETS),
            metadata_sent: Counter::default(),
            metadata_failed: Counter::default(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let draining = Arc::new(AtomicBool::new(false));
        let url = httpclient::mask_url_password(&cfg.url);
        let run = Run {
            cfg: cfg.clone(),
            name: name.clone(),
            client,
            relabel,
            external: ctx.external_labels.clone(),
            metrics: metrics.clone(),
            stop: stop.clone(),
            draining: draining.clone(),
            rt: ctx.runtime.clone(),
            tracker: Arc::new(Tracker {
                q: Mutex::new(VecDeque::new()),
                hold: hold.clone(),
            }),
            metadata: ctx.metadata.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("remote-{name}"))
            .spawn(move || run.run(tail))
            .map_err(|e| format!("remote_write {name}: {e}"))?;
        tracing::info!(remote = %name, %url, "remote write started");
        Ok(Queue {
            name,
            url,
            cfg,
            external: ctx.external_labels.clone(),
            stop,
            draining,
            flush_deadline: ctx.flush_deadline,
            metrics,
            hold: Some(hold),
            thread: Some(thread),
        })
    }

    /// Delivers what the WAL holds up to now, within the flush deadline,
    /// then stops; the position is saved either way.
    fn stop(mut self) {
        self.draining.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let until = Instant::now() + self.flush_deadline;
            while !t.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            if !t.is_finished() {
                tracing::warn!(remote = %self.name, "remote write could not deliver everything within --storage.remote.flush-deadline; the rest is sent after the next start");
            }
            self.stop.store(true, Ordering::Release);
            let _ = t.join();
        }
        if let Some(h) = self.hold.take() {
            if let Err(e) = h.save() {
                tracing::error!(remote = %self.name, error = %e, "saving the remote write position failed");
            }
        }
        tracing::info!(remote = %self.name, "remote write stopped");
    }
}

/// A queue's reader thread.
struct Run {
    cfg: RemoteWriteConfig,
    name: String,
    client: httpclient::Client,
    relabel: Relabeler,
    external: BTreeMap<String, String>,
    metrics: Arc<QueueMetrics>,
    stop: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
    rt: tokio::runtime::Handle,
    tracker: Arc<Tracker>,
    metadata: Option<Arc<dyn Fn() -> Vec<proto::MetricMetadata> + Send + Sync>>,
}

/// The running shards.
struct Shards {
    txs: Vec<mpsc::Sender<Item>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What a shard shares with its queue.
#[derive(Clone)]
struct ShardCtx {
    cfg: Arc<RemoteWriteConfig>,
    name: Arc<str>,
    client: httpclient::Client,
    metrics: Arc<QueueMetrics>,
    stop: Arc<AtomicBool>,
    tracker: Arc<Tracker>,
    last_success: Arc<AtomicI64>,
}

impl Run {
    /// Labels as sent, or `None` when relabeling drops the series.
    fn series(&self, labels: &Labels) -> Option<Arc<Series>> {
        let mut l = labels.clone();
        if !self.external.is_empty() {
            let mut b = l.builder();
            for (k, v) in &self.external {
                if labels.get(k).is_none() {
                    b.set(k, v);
                }
            }
            l = b.labels();
        }
        let l = if self.relabel.is_empty() {
            l
        } else {
            self.relabel.process(&l)?
        };
        if l.is_empty() {
            return None;
        }
        Some(Arc::new(Series::new(&l)))
    }

    fn run(self, mut tail: store::WalTail) {
        let cfg = &self.cfg.queue_config;
        let sctx = ShardCtx {
            cfg: Arc::new(self.cfg.clone()),
            name: self.name.as_str().into(),
            client: self.client.clone(),
            metrics: self.metrics.clone(),
            stop: self.stop.clone(),
            tracker: self.tracker.clone(),
            last_success: Arc::new(AtomicI64::new(model::time::now_ms())),
        };
        let mut n = cfg.min_shards;
        let mut shards = Shards::start(n, &sctx, &self.rt);
        self.metrics.shards.set(n as f64);
        self.metrics.shards_desired.set(n as f64);
        let mut rates = Rates::new(&self.metrics);
        let mut last_reshard = Instant::now();
        let mut last_save = Instant::now();
        let mut last_meta: Option<Instant> = None;
        let mut meta_task: Option<tokio::task::JoinHandle<()>> = None;
        let mut cache: HashMap<u64, Option<Arc<Series>>> = HashMap::new();
        let mut seq = 0u64;
        let hold = self.tracker.hold.clone();
        while !self.stop.load(Ordering::Acquire) {
            if last_save.elapsed() >= SAVE_EVERY {
                last_save = Instant::now();
                if let Err(e) = hold.save() {
                    tracing::error!(remote = %self.name, error = %e, "saving the remote write position failed; will retry");
                }
            }
            if self.cfg.metadata_config.send
                && last_meta.is_none_or(|t| t.elapsed() >= self.cfg.metadata_config.send_interval.0)
            {
                last_meta = Some(Instant::now());
                // One metadata send at a time: while the remote is down the
                // last one is still retrying, and the next waits.
                if meta_task.as_ref().is_none_or(|t| t.is_finished()) {
                    meta_task = self.send_metadata(&sctx);
                }
            }
            if last_reshard.elapsed() >= RESHARD_EVERY {
                last_reshard = Instant::now();
                let desired = rates.desired(n, cfg, &sctx);
                self.metrics.shards_desired.set(desired as f64);
                if desired != n {
                    tracing::info!(remote = %self.name, from = n, to = desired, "remote write resharding");
                    shards.stop(&self.rt);
                    n = desired;
                    shards = Shards::start(n, &sctx, &self.rt);
                    self.metrics.shards.set(n as f64);
                }
            }
            let batch = match tail.read() {
                Ok(Some(b)) => b,
                Ok(None) => {
                    if self.draining.load(Ordering::Acquire) {
                        // Caught up while stopping: deliver and end.
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                Err(store::Error::Closed) => break,
                Err(e) => {
                    tracing::error!(remote = %self.name, error = %e, "reading the WAL failed; will retry");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            for (r, l) in &batch.series {
                cache.insert(*r, self.series(l));
            }
            seq += 1;
            self.tracker.push(seq, batch.end);
            let now = model::time::now_ms();
            let age_limit = self.cfg.queue_config.sample_age_limit.0.as_millis() as i64;
            let mut handed = 0i64;
            let mut highest = i64::MIN;
            for &(r, t, v) in &batch.samples {
                self.metrics.samples_in.inc();
                highest = highest.max(t);
                let s = cache
                    .entry(r)
                    .or_insert_with(|| tail.labels(r).and_then(|l| self.series(&l)));
                let Some(s) = s else {
                    if tail.labels(r).is_none() {
                        self.metrics.dropped_unknown.inc();
                    } else {
                        self.metrics.dropped_relabel.inc();
                    }
                    continue;
                };
                if age_limit > 0 && t < now - age_limit {
                    self.metrics.dropped_too_old.inc();
                    continue;
                }
                let shard = shard_of(s, shards.txs.len());
                let item = Item {
                    series: s.clone(),
                    t,
                    v,
                    seq,
                };
                self.metrics.samples_pending.fetch_add(1, Ordering::Relaxed);
                if shards.txs[shard].blocking_send(item).is_err() {
                    // The shard stopped: the queue is stopping.
                    self.metrics.samples_pending.fetch_sub(1, Ordering::Relaxed);
                    break;
                }
                handed += 1;
            }
            self.metrics
                .highest_read_ms
                .fetch_max(highest, Ordering::Relaxed);
            self.tracker.enqueued(seq, handed);
        }
        // Waits for the shards to deliver; a stop (the flush deadline
        // passed) makes them give up at once.
        shards.stop(&self.rt);
        tracing::info!(
            remote = %self.name,
            read_up_to = %tail.position(),
            acknowledged = %hold.acked(),
            highest_read_ms = self.metrics.highest_read_ms.load(Ordering::Relaxed),
            highest_sent_ms = self.metrics.highest_sent_ms.load(Ordering::Relaxed),
            "remote write queue drained"
        );
        if let Err(e) = hold.save() {
            tracing::error!(remote = %self.name, error = %e, "saving the remote write position failed");
        }
    }

    /// Sends every scraped family's metadata, `max_samples_per_send` a
    /// request, one request after the other, each retried on recoverable
    /// errors until it is delivered or the queue stops.
    fn send_metadata(&self, sctx: &ShardCtx) -> Option<tokio::task::JoinHandle<()>> {
        let get = self.metadata.as_ref()?;
        let all = get();
        if all.is_empty() {
            return None;
        }
        let per = self.cfg.metadata_config.max_samples_per_send.max(1);
        let bodies: Vec<(Vec<u8>, u64)> = all
            .chunks(per)
            .map(|chunk| {
                let req = proto::WriteRequest {
                    timeseries: Vec::new(),
                    metadata: chunk.to_vec(),
                };
                (
                    crate::receive::snappy(&req.encode_to_vec()),
                    chunk.len() as u64,
                )
            })
            .collect();
        let sctx = sctx.clone();
        Some(self.rt.spawn(async move {
            for (body, n) in bodies {
                if post_metadata(&sctx, body, n as usize).await {
                    sctx.metrics.metadata_sent.add(n);
                } else {
                    sctx.metrics.metadata_failed.add(n);
                }
            }
        }))
    }
}

fn shard_of(s: &Arc<Series>, n: usize) -> usize {
    // The allocation's address identifies the series for as long as the
    // queue caches it; hashing it spreads series over shards.
    let p = Arc::as_ptr(s) as usize as u64;
    (xxhash_rust::xxh3::xxh3_64(&p.to_le_bytes()) % n.max(1) as u64) as usize
}

impl Shards {
    fn start(n: usize, ctx: &ShardCtx, rt: &tokio::runtime::Handle) -> Shards {
        let per = ctx.cfg.queue_config.capacity.max(1);
        let mut txs = Vec::with_capacity(n);
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = mpsc::channel(per);
            txs.push(tx);
            tasks.push(rt.spawn(shard(rx, ctx.clone())));
        }
        Shards { txs, tasks }
    }

    /// Closes the shards and waits until they have sent what they hold,
    /// or given up because the queue stopped (what they held is sent
    /// again after the next start).
    fn stop(self, rt: &tokio::runtime::Handle) {
        drop(self.txs);
        let tasks = self.tasks;
        rt.block_on(async move {
            for t in tasks {
                let _ = t.await;
            }
        });
    }
}

/// One shard: batches what it receives and sends it.
async fn shard(mut rx: mpsc::Receiver<Item>, ctx: ShardCtx) {
    let q = &ctx.cfg.queue_config;
    let max = q.max_samples_per_send.max(1);
    let deadline = q.batch_send_deadline.0;
    let mut pending: Vec<Item> = Vec::with_capacity(max);
    let timer = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(timer);
    loop {
        tokio::select! {
            item = rx.recv() => match item {
                Some(item) => {
                    if pending.is_empty() {
                        timer.as_mut().reset(tokio::time::Instant::now() + deadline);
                    }
                    pending.push(item);
                    if pending.len() >= max {
                        send_batch(&ctx, std::mem::take(&mut pending)).await;
                    }
                }
                None => {
                    if !pending.is_empty() {
                        send_batch(&ctx, pending).await;
                    }
                    return;
                }
            },
            () = &mut timer, if !pending.is_empty() => {
                send_batch(&ctx, std::mem::take(&mut pending)).await;
            }
        }
    }
}

/// Encodes a `WriteRequest` of samples: one `TimeSeries` (field 1) per
/// series in first-seen order, its labels as encoded once, then its
/// samples (field 2) in arrival order. Every `Sample` carries its value
/// (field 1, 64-bit) and timestamp (field 2, varint) even when zero, so
/// `-0.0` keeps its sign.
fn encode(items: &[Item]) -> Vec<u8> {
    let mut index: HashMap<*const Series, usize> = HashMap::with_capacity(items.len());
    let mut groups: Vec<(&Series, Vec<(i64, f64)>)> = Vec::new();
    for it in items {
        let i = *index.entry(Arc::as_ptr(&it.series)).or_insert_with(|| {
            groups.push((&it.series, Vec::with_capacity(1)));
            groups.len() - 1
        });
        groups[i].1.push((it.t, it.v));
    }
    let mut out = Vec::with_capacity(items.len() * 96);
    let mut ts = Vec::new();
    for (series, samples) in groups {
        ts.clear();
        ts.extend_from_slice(&series.encoded);
        for (t, v) in samples {
            let mut sample = [0u8; 20];
            sample[0] = 0x09;
            sample[1..9].copy_from_slice(&v.to_bits().to_le_bytes());
            sample[9] = 0x10;
            let mut n = 10;
            let mut x = t as u64;
            while x >= 0x80 {
                sample[n] = x as u8 | 0x80;
                x >>= 7;
                n += 1;
            }
            sample[n] = x as u8;
            n += 1;
            ts.push(0x12);
            put_uvarint(&mut ts, n as u64);
            ts.extend_from_slice(&sample[..n]);
        }
        out.push(0x0a);
        put_uvarint(&mut out, ts.len() as u64);
        out.extend_from_slice(&ts);
    }
    out
}

enum Outcome {
    Sent,
    /// Refused for good (a 4xx other than a retried 429).
    Refused,
    /// The queue stopped while retrying.
    Stopped,
}

/// What one try gave.
enum Attempt {
    Sent,
    Refused,
    /// Try again after this long.
    Retry(Duration),
}

/// Sends a batch until it is delivered, refused for good, or the queue
/// stops; acknowledges it unless the queue stopped. While retrying,
/// samples older than `sample_age_limit` (when set) are dropped.
async fn send_batch(ctx: &ShardCtx, mut items: Vec<Item>) {
    let age_limit = ctx.cfg.queue_config.sample_age_limit.0.as_millis() as i64;
    let total = items.len();
    let mut acks = per_record(&items);
    let mut backoff = ctx.cfg.queue_config.min_backoff.0;
    let m = &ctx.metrics;
    let outcome = loop {
        if items.is_empty() {
            break Outcome::Sent;
        }
        let n = items.len();
        let body = crate::receive::snappy(&encode(&items));
        let started = Instant::now();
        match attempt(ctx, body.clone(), n).await {
            Attempt::Sent => {
                m.samples_sent.add(n as u64);
                m.bytes_sent.add(body.len() as u64);
                m.send_seconds.observe(started.elapsed().as_secs_f64());
                m.send_nanos
                    .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                let highest = items.iter().map(|i| i.t).max().unwrap_or(i64::MIN);
                m.highest_sent_ms.fetch_max(highest, Ordering::Relaxed);
                ctx.last_success
                    .store(model::time::now_ms(), Ordering::Relaxed);
                break Outcome::Sent;
            }
            Attempt::Refused => {
                m.samples_failed.add(n as u64);
                break Outcome::Refused;
            }
            Attempt::Retry(wait) => {
                m.samples_retried.add(n as u64);
                let wait = wait.max(backoff);
                backoff = (backoff * 2).min(ctx.cfg.queue_config.max_backoff.0);
                if !pause(ctx, wait).await {
                    break Outcome::Stopped;
                }
                if age_limit > 0 {
                    let oldest = model::time::now_ms() - age_limit;
                    let before = items.len();
                    items.retain(|i| i.t >= oldest);
                    m.dropped_too_old.add((before - items.len()) as u64);
                }
            }
        }
    };
    m.samples_pending.fetch_sub(total as i64, Ordering::Relaxed);
    match outcome {
        Outcome::Stopped => {}
        Outcome::Sent | Outcome::Refused => {
            // Samples dropped for age count as done too.
            ctx.tracker.done(&acks);
            acks.clear();
        }
    }
}

/// Sleeps `wait` in short steps; false when the queue stopped meanwhile.
async fn pause(ctx: &ShardCtx, wait: Duration) -> bool {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if ctx.stop.load(Ordering::Acquire) {
            return false;
        }
        tokio::time::sleep((until - Instant::now()).min(Duration::from_millis(100))).await;
    }
    !ctx.stop.load(Ordering::Acquire)
}

/// Samples per record, for acknowledgements.
fn per_record(items: &[Item]) -> Vec<(u64, i64)> {
    let mut out: Vec<(u64, i64)> = Vec::new();
    for it in items {
        match out.iter_mut().rev().find(|(s, _)| *s == it.seq) {
            Some(e) => e.1 += 1,
            None => out.push((it.seq, 1)),
        }
    }
    out
}

/// Posts one encoded request once.
async fn attempt(ctx: &ShardCtx, body: Vec<u8>, n: usize) -> Attempt {
    let cfg = &ctx.cfg;
    let q = &cfg.queue_config;
    if ctx.stop.load(Ordering::Acquire) {
        return Attempt::Retry(Duration::ZERO);
    }
    let mut req = httpclient::Request::post(cfg.url.clone(), "application/x-protobuf", body)
        .header("Content-Encoding", "snappy")
        .header(VERSION_HEADER.0, VERSION_HEADER.1)
        .timeout(cfg.remote_timeout.0);
    for (k, v) in &cfg.headers {
        req = req.header(k.clone(), v.clone());
    }
    match ctx.client.send(req).await {
        Ok(r) if r.status.is_success() => Attempt::Sent,
        Ok(r) => {
            let code = r.status.as_u16();
            let text = String::from_utf8_lossy(&r.body[..r.body.len().min(512)]).to_string();
            let retry = r.status.is_server_error() || (code == 429 && q.retry_on_http_429);
            if !retry {
                tracing::error!(remote = %ctx.name, status = code, body = %text.trim(), samples = n, "remote write refused a batch; it is dropped");
                return Attempt::Refused;
            }
            tracing::warn!(remote = %ctx.name, status = code, body = %text.trim(), "remote write failed; retrying");
            let after = r
                .header("retry-after")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Attempt::Retry(after.unwrap_or(Duration::ZERO))
        }
        Err(e) => {
            tracing::warn!(remote = %ctx.name, error = %e, "remote write failed; retrying");
            Attempt::Retry(Duration::ZERO)
        }
    }
}

/// Posts a metadata request, retrying recoverable failures until the
/// queue stops.
async fn post_metadata(ctx: &ShardCtx, body: Vec<u8>, n: usize) -> bool {
    let mut backoff = ctx.cfg.queue_config.min_backoff.0;
    loop {
        match attempt(ctx, body.clone(), n).await {
            Attempt::Sent => return true,
            Attempt::Refused => return false,
            Attempt::Retry(wait) => {
                if !pause(ctx, wait.max(backoff)).await {
                    return false;
                }
                backoff = (backoff * 2).min(ctx.cfg.queue_config.max_backoff.0);
            }
        }
    }
}

/// Rates for resharding, as exponentially weighted moving averages over
/// [`RESHARD_EVERY`] (upstream `ewmaRate`, weight 0.2).
struct Rates {
    metrics: Arc<QueueMetrics>,
    last: Option<(u64, u64, u64, u64, Instant)>,
    in_rate: f64,
    out_rate: f64,
    drop_rate: f64,
    out_secs: f64,
}

impl Rates {
    fn new(m: &Arc<QueueMetrics>) -> Rates {
        Rates {
            metrics: m.clone(),
            last: None,
            in_rate: 0.0,
            out_rate: 0.0,
            drop_rate: 0.0,
            out_secs: 0.0,
        }
    }

    /// Upstream's `calculateDesiredShards`, on the WAL reader's rates.
    fn desired(&mut self, n: usize, q: &config::remote::QueueConfig, ctx: &ShardCtx) -> usize {
        let m = &self.metrics;
        let now = (
            m.samples_in.get(),
            m.samples_sent.get() + m.samples_failed.get(),
            m.dropped_relabel.get() + m.dropped_too_old.get() + m.dropped_unknown.get(),
            m.send_nanos.load(Ordering::Relaxed),
            Instant::now(),
        );
        let Some(last) = self.last.replace(now) else {
            return n;
        };
        let dt = now.4.duration_since(last.4).as_secs_f64().max(1e-3);
        let ewma =
            |old: f64, new: f64, first: bool| if first { new } else { old + 0.2 * (new - old) };
        let first = self.in_rate == 0.0 && self.out_rate == 0.0;
        self.in_rate = ewma(self.in_rate, (now.0 - last.0) as f64 / dt, first);
        self.out_rate = ewma(self.out_rate, (now.1 - last.1) as f64 / dt, first);
        self.drop_rate = ewma(self.drop_rate, (now.2 - last.2) as f64 / dt, first);
        self.out_secs = ewma(self.out_secs, (now.3 - last.3) as f64 / 1e9 / dt, first);
        // Not while sends fail: more shards would only fail faster.
        let since_success = model::time::now_ms() - ctx.last_success.load(Ordering::Relaxed);
        if since_success as f64 > 2.0 * q.batch_send_deadline.0.as_secs_f64() * 1000.0 {
            return n;
        }
        if self.out_rate <= 0.0 {
            return n;
        }
        let kept = self.out_rate / (self.out_rate + self.drop_rate);
        let delay = (m.highest_read_ms.load(Ordering::Relaxed)
            - m.highest_sent_ms.load(Ordering::Relaxed))
        .max(0) as f64
            / 1000.0;
        let pending = delay * self.in_rate * kept;
        let catchup = 0.05 * pending;
        let per_sample = self.out_secs / self.out_rate;
        let desired = per_sample * (self.in_rate * kept + catchup);
        let lower = n as f64 * (1.0 - SHARD_TOLERANCE);
        let upper = n as f64 * (1.0 + SHARD_TOLERANCE);
        let desired = desired.ceil();
        if (lower..=upper).contains(&desired) {
            return n;
        }
        let mut want = desired as usize;
        // Upstream: do not downshard while more than ten seconds behind.
        if want < n && delay > 10.0 {
            return n;
        }
        want = want.clamp(q.min_shards, q.max_shards);
        want
    }
}

/// `/metrics` for every queue of a [`Sender`].
impl Collect for Sender {
    fn collect(&self, e: &mut Encoder) {
        let queues = self.queues.lock();
        let rows: Vec<(&Queue, [(&str, &str); 2])> = queues
            .iter()
            .map(|q| {
                (
                    q,
                    [("remote_name", q.name.as_str()), ("url", q.url.as_str())],
                )
            })
            .collect();
        let counter =
            |e: &mut Encoder, name: &str, help: &str, f: &dyn Fn(&QueueMetrics) -> f64| {
                let mut fam = e.counter(name, help);
                for (q, l) in &rows {
                    fam.sample(l, f(&q.metrics));
                }
            };
        type Read = fn(&QueueMetrics) -> f64;
        #[rustfmt::skip]
        let counters: [(&str, &str, Read); 7] = [
            ("prometheus_remote_storage_samples_in_total", "Samples read from the WAL for remote storage.", |m| m.samples_in.get() as f64),
            ("prometheus_remote_storage_samples_total", "Samples sent to remote storage.", |m| m.samples_sent.get() as f64),
            ("prometheus_remote_storage_samples_failed_total", "Samples that failed to be sent to remote storage for good (refused).", |m| m.samples_failed.get() as f64),
            ("prometheus_remote_storage_samples_retried_total", "Samples that failed to be sent and were retried.", |m| m.samples_retried.get() as f64),
            ("prometheus_remote_storage_bytes_total", "Compressed bytes of samples sent to remote storage.", |m| m.bytes_sent.get() as f64),
            ("prometheus_remote_storage_metadata_total", "Metadata entries sent to remote storage.", |m| m.metadata_sent.get() as f64),
            ("prometheus_remote_storage_metadata_failed_total", "Metadata entries that failed to be sent.", |m| m.metadata_failed.get() as f64),
        ];
        for (name, help, f) in counters {
            counter(e, name, help, &f);
        }
        {
            let mut fam = e.counter(
                "prometheus_remote_storage_samples_dropped_total",
                "Samples read from the WAL and not sent: relabeling dropped their series, they were older than sample_age_limit, or their series was deleted by retention.",
            );
            for (q, [a, b]) in &rows {
                let m = &q.metrics;
                for (reason, v) in [
                    ("dropped_series", m.dropped_relabel.get()),
                    ("too_old", m.dropped_too_old.get()),
                    ("unintentionally_dropped_series", m.dropped_unknown.get()),
                ] {
                    fam.sample(&[*a, *b, ("reason", reason)], v as f64);
                }
            }
        }
        // Per-queue families read from the queue: (type, name, help, value).
        type Of = fn(&Queue) -> f64;
        #[rustfmt::skip]
        let families: [(bool, &str, &str, Of); 11] = [
            (false, "prometheus_remote_storage_samples_pending", "Samples handed to shards and not yet sent.", |q| q.metrics.samples_pending.load(Ordering::Relaxed).max(0) as f64),
            (false, "prometheus_remote_storage_shards", "Shards sending in parallel.", |q| q.metrics.shards.get()),
            (false, "prometheus_remote_storage_shards_desired", "Shards the last resharding computed.", |q| q.metrics.shards_desired.get()),
            (false, "prometheus_remote_storage_shards_min", "queue_config.min_shards.", |q| q.cfg.queue_config.min_shards as f64),
            (false, "prometheus_remote_storage_shards_max", "queue_config.max_shards.", |q| q.cfg.queue_config.max_shards as f64),
            (false, "prometheus_remote_storage_shard_capacity", "queue_config.capacity.", |q| q.cfg.queue_config.capacity as f64),
            (false, "prometheus_remote_storage_max_samples_per_send", "queue_config.max_samples_per_send.", |q| q.cfg.queue_config.max_samples_per_send as f64),
            (false, "prometheus_remote_storage_queue_highest_timestamp_seconds", "Newest timestamp read from the WAL for this queue, in seconds.", |q| ms_to_s(q.metrics.highest_read_ms.load(Ordering::Relaxed))),
            (false, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds", "Newest timestamp this queue delivered, in seconds.", |q| ms_to_s(q.metrics.highest_sent_ms.load(Ordering::Relaxed))),
            (true, "watchfire_remote_storage_wal_dropped_segments_total", "WAL segments not yet sent that were dropped because the remote's hold passed --storage.remote.wal-hold.size or .time.", |q| q.hold.as_ref().map_or(0, |h| h.dropped().0) as f64),
            (true, "watchfire_remote_storage_wal_dropped_bytes_total", "Bytes of those dropped WAL segments.", |q| q.hold.as_ref().map_or(0, |h| h.dropped().1) as f64),
        ];
        for (is_counter, name, help, f) in families {
            let mut fam = if is_counter {
                e.counter(name, help)
            } else {
                e.gauge(name, help)
            };
            for (q, l) in &rows {
                fam.sample(l, f(q));
            }
        }
        {
            let mut fam = e.histogram(
                "prometheus_remote_storage_sent_batch_duration_seconds",
                "Duration of successful sends to remote storage.",
            );
            for (q, l) in &rows {
                fam.histogram(l, &q.metrics.send_seconds);
            }
        }
    }
}

fn ms_to_s(ms: i64) -> f64 {
    if ms == i64::MIN || ms <= 0 {
        0.0
    } else {
        ms as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_decode_as_write_requests() {
        let a = Arc::new(Series::new(&Labels::from_pairs([
            ("__name__", "up"),
            ("job", "a"),
        ])));
        let b = Arc::new(Series::new(&Labels::from_pairs([
            ("__name__", "x"),
            ("é", "ü".repeat(100).as_str()),
        ])));
        let items = vec![
            Item {
                series: a.clone(),
                t: 1_700_000_000_000,
                v: 1.0,
                seq: 1,
            },
            Item {
                series: b.clone(),
                t: -5,
                v: -0.0,
                seq: 1,
            },
            Item {
                series: a.clone(),
                t: 0,
                v: 0.0,
                seq: 2,
            },
            Item {
                series: b,
                t: i64::MAX,
                v: f64::from_bits(0x7ff0_0000_0000_0002),
                seq: 2,
            },
        ];
        let req = proto::WriteRequest::decode(encode(&items).as_slice()).unwrap();
        assert_eq!(req.timeseries.len(), 2);
        let names: Vec<Vec<(String, String)>> = req
            .timeseries
            .iter()
            .map(|ts| {
                ts.labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect()
            })
            .collect();
        assert_eq!(
            names[0],
            vec![("__name__".into(), "up".into()), ("job".into(), "a".into())]
        );
        assert_eq!(names[1][1].1, "ü".repeat(100));
        let got: Vec<(i64, u64)> = req
            .timeseries
            .iter()
            .flat_map(|ts| ts.samples.iter().map(|s| (s.timestamp, s.value.to_bits())))
            .collect();
        assert_eq!(
            got,
            vec![
                (1_700_000_000_000, 1f64.to_bits()),
                (0, 0f64.to_bits()),
                (-5, (-0.0f64).to_bits()),
                (i64::MAX, 0x7ff0_0000_0000_0002),
            ]
        );
    }
}
