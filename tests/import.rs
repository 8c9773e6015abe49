//! `watchfire import` on the compliance dataset: the series and sample
//! counts its README states, NaN samples included, and every sample read
//! back bit-exact through the store's `Querier`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;

use collector::exposition::{Entry, Format, Parser, Strictness};
use model::{Labels, Querier};

mod common;

use common::import;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// Generates the dataset, or says why not.
fn dataset(dir: &Path, format: &str) -> Option<PathBuf> {
    let gen = shared().join("compliance/gen_dataset.py");
    if !gen.exists() {
        model::ci::skip(&format!("{} not found", gen.display()));
        return None;
    }
    let out = dir.join(if format == "om" {
        "data.om"
    } else {
        "data.prom"
    });
    let mut cmd = Command::new("python3");
    cmd.arg(&gen).arg("--out").arg(&out);
    if format != "om" {
        cmd.args(["--format", "prom-ms"]);
    }
    match cmd.status() {
        Ok(s) if s.success() => Some(out),
        Ok(s) => panic!("gen_dataset.py failed: {s}"),
        Err(e) => {
            model::ci::skip(&format!("cannot run python3: {e}"));
            None
        }
    }
}

/// Streams `file` and checks every sample against the store, in order.
/// Returns (series, samples, NaN samples).
fn verify(file: &Path, format: Format, data: &Path) -> (usize, usize, usize) {
    let store = store::Store::open(
        data,
        store::Options {
            background: false,
            retention_time: None,
            ..Default::default()
        },
    )
    .unwrap();
    let mut stored: HashMap<Labels, (Vec<model::Sample>, usize)> = store
        .select(&[], i64::MIN, i64::MAX)
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            (s.labels, (s.samples, 0))
        })
        .collect();
    let mut parser = Parser::with_strictness(format, Strictness::Prometheus);
    let mut reader = BufReader::new(std::fs::File::open(file).unwrap());
    let mut line = Vec::new();
    let (mut n, mut nan, mut line_no) = (0usize, 0usize, 0usize);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).unwrap() == 0 {
            break;
        }
        line_no += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let Entry::Sample(s) = parser.parse_line(&line, line_no).unwrap() else {
            continue;
        };
        let labels = s.series();
        let (samples, cursor) = stored
            .get_mut(&labels)
            .unwrap_or_else(|| panic!("line {line_no}: series {labels} not in store"));
        let got = samples
            .get(*cursor)
            .unwrap_or_else(|| panic!("line {line_no}: {labels} has only {cursor} samples"));
        let want_t = s.timestamp_ms.unwrap();
        assert!(
            got.t == want_t && got.v.to_bits() == s.value.to_bits(),
            "line {line_no}: {labels}: got ({}, {:#x}), want ({want_t}, {:#x})",
            got.t,
            got.v.to_bits(),
            s.value.to_bits()
        );
        *cursor += 1;
        n += 1;
        nan += usize::from(s.value.is_nan());
    }
    for (l, (samples, cursor)) in &stored {
        assert_eq!(
            *cursor,
            samples.len(),
            "{l}: store has samples the file does not"
        );
    }
    (stored.len(), n, nan)
}

#[test]
fn compliance_dataset_imports_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for (format, parse_as) in [("om", Format::OpenMetrics), ("prom", Format::Text)] {
        let Some(file) = dataset(dir.path(), format) else {
            return;
        };
        let data = dir.path().join(format!("store-{format}"));
        let summary = import(&file, &data);
        eprint!("{summary}");
        assert!(
            summary.contains("1940 series, 2680231 samples, 0 rejected"),
            "summary: {summary}"
        );
        let (series, samples, nan) = verify(&file, parse_as, &data);
        eprintln!("{format}: {series} series, {samples} samples ({nan} NaN) read back bit-exact");
        assert_eq!((series, samples), (1940, 2_680_231));
        assert_eq!(nan, 102, "NaN samples");
        std::fs::remove_file(&file).unwrap();
    }
}

#[test]
fn import_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "bad.om",
            "# TYPE a gauge\na 1 1\na{b=\"c} 2 2\n# EOF\n",
            "bad.om:3",
        ),
        (
            "nots.prom",
            "a 1 1000\nb 2\n",
            "nots.prom:2: sample has no timestamp",
        ),
        ("noeof.om", "a 1 1\n", "noeof.om:1"),
    ];
    for (name, body, want) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, body).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
            .arg("import")
            .arg(&file)
            .arg("--storage.tsdb.path")
            .arg(dir.path().join("store"))
            .args(if name.ends_with(".om") {
                vec!["--format", "openmetrics"]
            } else {
                vec![]
            })
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: accepted");
        assert!(
            stderr.contains(want),
            "{name}: stderr {stderr:?} lacks {want:?}"
        );
    }
}
