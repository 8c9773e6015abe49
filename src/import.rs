//! `watchfire import FILE`: backfill a store from an exposition file.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use collector::exposition::{Entry, Format, Parser, Strictness};
use model::{Appender, Labels};

use crate::StorageArgs;

/// Samples per committed batch.
const BATCH: usize = 50_000;
/// Batches between flushes of completed chunks to SQLite.
const FLUSH_EVERY: usize = 20;
/// Batches between WAL checkpoints.
const CHECKPOINT_EVERY: usize = 200;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The file to import.
    file: PathBuf,
    /// The file's format; `auto` takes a file ending in a `# EOF` line (or
    /// named `*.om`) as OpenMetrics and anything else as Prometheus text.
    #[arg(long, value_enum, default_value_t = FileFormat::Auto)]
    format: FileFormat,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum FileFormat {
    Auto,
    /// OpenMetrics 1.0, timestamps in seconds.
    Openmetrics,
    /// Prometheus text 0.0.4, timestamps in milliseconds.
    Text,
}

/// What an import did.
#[derive(Debug, Default)]
struct Summary {
    series: usize,
    samples: usize,
    rejected: usize,
    created_skipped: usize,
}

pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    let name = args.file.display().to_string();
    let file = File::open(&args.file).with_context(|| format!("open {name}"))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let format = match args.format {
        FileFormat::Openmetrics => Format::OpenMetrics,
        FileFormat::Text => Format::Text,
        FileFormat::Auto => sniff(&args.file, &file).with_context(|| format!("read {name}"))?,
    };
    let opts = store::Options {
        background: false,
        // Import writes all it is given; retention applies when the server runs.
        retention_time: None,
        wal_fsync_interval: args.storage.fsync_interval,
        wal_compression: args.storage.wal_compression(),
        ..store::Options::default()
    };
    let db = store::Store::open(&args.storage.path, opts)
        .with_context(|| format!("open store {}", args.storage.path.display()))?;

    let progress = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };

    let started = Instant::now();
    let mut sum = Summary::default();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut parser = Parser::with_strictness(format, Strictness::Prometheus);
    let mut line = Vec::with_capacity(4096);
    let mut line_no = 0usize;
    let mut app = db.appender();
    let mut in_batch = 0usize;
    let mut batches = 0usize;
    let mut read_bytes = 0u64;
    // Consecutive lines usually belong to one series: keep its label set.
    let mut labels = Labels::empty();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("read {name}"))?;
        if n == 0 {
            break;
        }
        read_bytes += n as u64;
        line_no += 1;
        let terminated = line.last() == Some(&b'\n');
        if terminated {
            line.pop();
        }
        let entry = if terminated {
            parser.parse_line(&line, line_no)
        } else {
            parser.parse_unterminated_line(&line, line_no)
        };
        let sample = match entry.map_err(|e| anyhow::anyhow!("{name}:{}: {}", e.line, e.reason))? {
            Entry::Sample(s) => s,
            Entry::Created(_) => {
                sum.created_skipped += 1;
                continue;
            }
            _ => continue,
        };
        let Some(t) = sample.timestamp_ms else {
            bail!("{name}:{line_no}: sample has no timestamp; import needs one on every sample");
        };
        if !sample.is_series(&labels) {
            labels = sample.series();
        }
        app.append(&labels, t, sample.value)
            .map_err(|e| anyhow::anyhow!("{name}:{line_no}: {e}"))?;
        in_batch += 1;
        if in_batch >= BATCH {
            commit(&mut app, &mut sum)?;
            in_batch = 0;
            batches += 1;
            if batches.is_multiple_of(FLUSH_EVERY) {
                db.flush().context("flush to SQLite")?;
            }
            if batches.is_multiple_of(CHECKPOINT_EVERY) {
                db.checkpoint().context("checkpoint WAL")?;
            }
            progress.set_position(read_bytes);
        }
    }
    parser
        .finish()
        .map_err(|e| anyhow::anyhow!("{name}:{}: {}", e.line, e.reason))?;
    commit(&mut app, &mut sum)?;
    progress.set_message("flushing");
    db.flush_all().context("flush to SQLite")?;
    // Merge every period now, the last ones too, rather than leave it to
    // the server's background merging: imported samples are history, and a
    // server merges them once its own samples are 1 h 30 min past them.
    // Each series' last 15 minutes keep a row of their own, so reads of its
    // latest values stay short.
    progress.set_message("merging chunks");
    db.merge(i64::MAX).context("merge chunks in SQLite")?;
    db.vacuum().context("compact SQLite file")?;
    progress.finish_and_clear();
    let bytes = db.disk_bytes();
    println!(
        "imported {name}: {} series, {} samples, {} rejected, {} bytes on disk ({:.2} bytes/sample) in {:.1}s",
        sum.series,
        sum.samples,
        sum.rejected,
        bytes,
        bytes as f64 / sum.samples.max(1) as f64,
        started.elapsed().as_secs_f64()
    );
    if sum.created_skipped > 0 {
        println!(
            "skipped {} OpenMetrics _created samples (start times, not series)",
            sum.created_skipped
        );
    }
    db.close().context("close store")?;
    Ok(())
}

fn commit(app: &mut store::StoreAppender, sum: &mut Summary) -> anyhow::Result<()> {
    let c = app.commit().context("commit")?;
    sum.series += c.new_series;
    sum.samples += c.appended;
    sum.rejected += c.rejected();
    Ok(())
}

/// OpenMetrics when the file ends in `# EOF` or is named `*.om`.
fn sniff(path: &std::path::Path, file: &File) -> std::io::Result<Format> {
    use std::io::{Read, Seek, SeekFrom};
    if path.extension().is_some_and(|e| e == "om") {
        return Ok(Format::OpenMetrics);
    }
    let mut f = file;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(64)))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    f.seek(SeekFrom::Start(0))?;
    let tail = String::from_utf8_lossy(&tail);
    Ok(if tail.trim_end().ends_with("# EOF") {
        Format::OpenMetrics
    } else {
        Format::Text
    })
}
