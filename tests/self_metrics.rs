//! `/metrics` of a running server: read with our own exposition parser at
//! the format's own strictness, every family that Prometheus exports for
//! the same thing is there under Prometheus's name, type and labels
//! (checked against a real Prometheus's `/metrics`), and the built-in
//! alerter's under Alertmanager's.

mod common;

use collector::exposition::{parse, Entry, Format, MetricType};
use common::{free_addr, http, post_json, start_alerter, wait_for, Webhook};

#[test]
fn metrics_have_prometheus_names_types_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    // Scrapes itself every second, so intervals are observed soon.
    let addr = free_addr();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: vector(1)\n  - alert: Always\n    expr: vector(1)\n",
    )
    .unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [{:?}]\nscrape_configs:\n  - job_name: self\n    static_configs: [{{targets: ['{addr}']}}]\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['{}']}}]\n",
            rules.display().to_string(),
            hook.addr
        ),
    )
    .unwrap();
    let s = start_alerter(
        addr,
        dir.path(),
        Some(&config),
        &hook.alertmanager_yml("group_wait: 0s"),
    );
    post_json(
        s.addr,
        "/api/v2/alerts",
        r#"[{"labels":{"alertname":"Probe"}}]"#,
    );
    // A rule group is reported once it has evaluated, an integration
    // once it has been used, and an interval after a second scrape.
    wait_for(
        std::time::Duration::from_secs(20),
        "an evaluation, a notification and two scrapes",
        || {
            let (_, body) = http(s.addr, "GET", "/metrics", "").unwrap();
            body.contains("prometheus_rule_evaluations_total{")
                && body.contains("alertmanager_notifications_total{")
                && body.contains("prometheus_target_interval_length_seconds{")
                && body.contains("prometheus_notifications_sent_total{")
        },
    );
    let (status, body) = http(s.addr, "GET", "/metrics", "").unwrap();
    assert_eq!(status, 200);
    let entries = parse(body.as_bytes(), Format::Text).unwrap_or_else(|e| panic!("{e}\n{body}"));
    let kind_of = |name: &str| {
        entries.iter().find_map(|e| match e {
            Entry::Type { name: n, kind } if n == name => Some(*kind),
            _ => None,
        })
    };
    let labels_of = |name: &str| -> Vec<String> {
        entries
            .iter()
            .find_map(|e| match e {
                Entry::Sample(s) if s.name == name => {
                    Some(s.labels.iter().map(|(k, _)| k.to_string()).collect())
                }
                _ => None,
            })
            .unwrap_or_else(|| {
                panic!(
                    "no sample of {name}: {:?}",
                    body.lines()
                        .filter(|l| l.contains(name))
                        .collect::<Vec<_>>()
                )
            })
    };
    // (family, type, a sample's name, its label names)
    let want: &[(&str, MetricType, &str, &[&str])] = &[
        (
            "prometheus_tsdb_head_series",
            MetricType::Gauge,
            "prometheus_tsdb_head_series",
            &[],
        ),
        (
            "prometheus_tsdb_head_chunks",
            MetricType::Gauge,
            "prometheus_tsdb_head_chunks",
            &[],
        ),
        (
            "prometheus_tsdb_head_series_created_total",
            MetricType::Counter,
            "prometheus_tsdb_head_series_created_total",
            &[],
        ),
        (
            "prometheus_tsdb_head_samples_appended_total",
            MetricType::Counter,
            "prometheus_tsdb_head_samples_appended_total",
            &["type"],
        ),
        (
            "prometheus_tsdb_out_of_order_samples_total",
            MetricType::Counter,
            "prometheus_tsdb_out_of_order_samples_total",
            &["type"],
        ),
        (
            "prometheus_tsdb_wal_corruptions_total",
            MetricType::Counter,
            "prometheus_tsdb_wal_corruptions_total",
            &[],
        ),
        (
            "prometheus_tsdb_wal_writes_failed_total",
            MetricType::Counter,
            "prometheus_tsdb_wal_writes_failed_total",
            &[],
        ),
        (
            "prometheus_tsdb_checkpoint_creations_failed_total",
            MetricType::Counter,
            "prometheus_tsdb_checkpoint_creations_failed_total",
            &[],
        ),
        (
            "prometheus_tsdb_wal_fsync_duration_seconds",
            MetricType::Summary,
            "prometheus_tsdb_wal_fsync_duration_seconds_count",
            &[],
        ),
        (
            "prometheus_tsdb_wal_storage_size_bytes",
            MetricType::Gauge,
            "prometheus_tsdb_wal_storage_size_bytes",
            &[],
        ),
        (
            "prometheus_tsdb_storage_blocks_bytes",
            MetricType::Gauge,
            "prometheus_tsdb_storage_blocks_bytes",
            &[],
        ),
        (
            "prometheus_config_last_reload_successful",
            MetricType::Gauge,
            "prometheus_config_last_reload_successful",
            &[],
        ),
        (
            "prometheus_config_last_reload_success_timestamp_seconds",
            MetricType::Gauge,
            "prometheus_config_last_reload_success_timestamp_seconds",
            &[],
        ),
        (
            "prometheus_rule_group_last_duration_seconds",
            MetricType::Gauge,
            "prometheus_rule_group_last_duration_seconds",
            &["rule_group"],
        ),
        (
            "prometheus_rule_group_last_evaluation_timestamp_seconds",
            MetricType::Gauge,
            "prometheus_rule_group_last_evaluation_timestamp_seconds",
            &["rule_group"],
        ),
        (
            "prometheus_rule_group_interval_seconds",
            MetricType::Gauge,
            "prometheus_rule_group_interval_seconds",
            &["rule_group"],
        ),
        (
            "prometheus_rule_group_rules",
            MetricType::Gauge,
            "prometheus_rule_group_rules",
            &["rule_group"],
        ),
        (
            "prometheus_rule_group_last_evaluation_samples",
            MetricType::Gauge,
            "prometheus_rule_group_last_evaluation_samples",
            &["rule_group"],
        ),
        (
            "prometheus_rule_group_iterations_total",
            MetricType::Counter,
            "prometheus_rule_group_iterations_total",
            &["rule_group"],
        ),
        (
            "prometheus_rule_group_iterations_missed_total",
            MetricType::Counter,
            "prometheus_rule_group_iterations_missed_total",
            &["rule_group"],
        ),
        (
            "prometheus_rule_evaluations_total",
            MetricType::Counter,
            "prometheus_rule_evaluations_total",
            &["rule_group"],
        ),
        (
            "prometheus_rule_evaluation_failures_total",
            MetricType::Counter,
            "prometheus_rule_evaluation_failures_total",
            &["rule_group"],
        ),
        (
            "prometheus_notifications_dropped_total",
            MetricType::Counter,
            "prometheus_notifications_dropped_total",
            &[],
        ),
        (
            "prometheus_notifications_queue_length",
            MetricType::Gauge,
            "prometheus_notifications_queue_length",
            &[],
        ),
        (
            "prometheus_notifications_queue_capacity",
            MetricType::Gauge,
            "prometheus_notifications_queue_capacity",
            &[],
        ),
        (
            "prometheus_notifications_alertmanagers_discovered",
            MetricType::Gauge,
            "prometheus_notifications_alertmanagers_discovered",
            &[],
        ),
        (
            "process_cpu_seconds_total",
            MetricType::Counter,
            "process_cpu_seconds_total",
            &[],
        ),
        (
            "process_open_fds",
            MetricType::Gauge,
            "process_open_fds",
            &[],
        ),
        ("process_max_fds", MetricType::Gauge, "process_max_fds", &[]),
        (
            "process_virtual_memory_bytes",
            MetricType::Gauge,
            "process_virtual_memory_bytes",
            &[],
        ),
        (
            "process_virtual_memory_max_bytes",
            MetricType::Gauge,
            "process_virtual_memory_max_bytes",
            &[],
        ),
        (
            "process_resident_memory_bytes",
            MetricType::Gauge,
            "process_resident_memory_bytes",
            &[],
        ),
        (
            "process_start_time_seconds",
            MetricType::Gauge,
            "process_start_time_seconds",
            &[],
        ),
        (
            "watchfire_engine_query_duration_seconds",
            MetricType::Histogram,
            "watchfire_engine_query_duration_seconds_bucket",
            &["le"],
        ),
        (
            "alertmanager_notifications_total",
            MetricType::Counter,
            "alertmanager_notifications_total",
            &["integration"],
        ),
        (
            "alertmanager_notification_latency_seconds",
            MetricType::Histogram,
            "alertmanager_notification_latency_seconds_bucket",
            &["integration", "le"],
        ),
        (
            "alertmanager_silences",
            MetricType::Gauge,
            "alertmanager_silences",
            &["state"],
        ),
        (
            "prometheus_target_interval_length_seconds",
            MetricType::Summary,
            "prometheus_target_interval_length_seconds",
            &["interval", "quantile"],
        ),
        (
            "prometheus_sd_discovered_targets",
            MetricType::Gauge,
            "prometheus_sd_discovered_targets",
            &["config", "name"],
        ),
        (
            "prometheus_notifications_sent_total",
            MetricType::Counter,
            "prometheus_notifications_sent_total",
            &["alertmanager"],
        ),
        (
            "prometheus_notifications_errors_total",
            MetricType::Counter,
            "prometheus_notifications_errors_total",
            &["alertmanager"],
        ),
    ];
    let mut bad = Vec::new();
    for (family, kind, sample, labels) in want {
        match kind_of(family) {
            Some(k) if k == *kind => {}
            got => bad.push(format!("{family}: type {got:?}, want {kind:?}")),
        }
        let got = labels_of(sample);
        if got != *labels {
            bad.push(format!("{sample}: labels {got:?}, want {labels:?}"));
        }
    }
    // Declared with upstream's type even before anything failed.
    if kind_of("alertmanager_notifications_failed_total") != Some(MetricType::Counter) {
        bad.push("alertmanager_notifications_failed_total: not a counter".into());
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
