//! `http_sd_configs`: one task per configured URL polls it every
//! `refresh_interval` and keeps the last good answer. A failed poll is
//! logged and changes nothing, as upstream's refresh loop does; the
//! manager picks up new answers on its next refresh.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use httpclient::header::{self, HeaderName};

use super::fetch::Fetcher;
use crate::config::HttpSdConfig;
use crate::discovery;
use crate::target::Group;

/// A running poller; dropping it stops the task.
pub(crate) struct Poller {
    groups: Arc<parking_lot::Mutex<Option<Vec<Group>>>>,
    version: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Poller {
    /// Starts polling; fails only when the HTTP settings cannot be used.
    pub(crate) fn start(job: &str, cfg: &HttpSdConfig) -> Result<Poller, String> {
        let fetcher = Fetcher::new(&cfg.http)?;
        let interval = cfg
            .refresh_interval
            .0
            .max(std::time::Duration::from_secs(1));
        let headers = vec![
            (header::ACCEPT, "application/json".to_string()),
            (
                HeaderName::from_static("x-prometheus-refresh-interval-seconds"),
                format!("{}", cfg.refresh_interval.0.as_secs_f64()),
            ),
        ];
        let groups = Arc::new(parking_lot::Mutex::new(None));
        let version = Arc::new(AtomicU64::new(0));
        let task = {
            let (groups, version) = (groups.clone(), version.clone());
            let (job, url) = (job.to_string(), cfg.url.clone());
            tokio::spawn(async move {
                loop {
                    match poll(&fetcher, &url, interval, &headers).await {
                        Ok(g) => {
                            *groups.lock() = Some(g);
                            version.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            tracing::warn!(%job, %url, error = %e, "http_sd: unable to refresh target groups; keeping the last ones")
                        }
                    }
                    tokio::time::sleep(interval).await;
                }
            })
        };
        Ok(Poller {
            groups,
            version,
            task,
        })
    }

    /// The groups of the last good answer (none before the first).
    pub(crate) fn groups(&self) -> Vec<Group> {
        self.groups.lock().clone().unwrap_or_default()
    }

    /// Counts good answers, to notice new ones.
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }
}

/// The largest discovery answer read (decompressed), far above any real
/// target list; a runaway endpoint cannot exhaust memory.
const MAX_BODY: u64 = 128 << 20;

async fn poll(
    fetcher: &Fetcher,
    url: &str,
    timeout: std::time::Duration,
    headers: &[(HeaderName, String)],
) -> Result<Vec<Group>, String> {
    let r = fetcher.request(url, timeout, MAX_BODY, headers).await?;
    if r.status != httpclient::StatusCode::OK {
        return Err(format!("server returned HTTP status {}", r.status));
    }
    discovery::parse_http(url, r.content_type.as_deref(), &r.bytes)
}
