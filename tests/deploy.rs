//! The deployment files: Prometheus's config and alert rules pass `promtool` (with a unit test
//! per alert that fires on a bad series and stays silent on a healthy one), the compose file
//! passes `docker-compose config`, the Dockerfile is multi-stage and runs as a non-root user,
//! and every metric the rules and the dashboard name is one kobe exports (the catalog that
//! docs/METRICS.md is generated from).

mod observe;

use std::collections::BTreeSet;
use std::process::Command;

use kobe_core::metrics::catalog;
use observe::{root, tool};

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the tool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    let dir = root().join("compose/prometheus");
    let out = run_ok(
        Command::new(tool("promtool"))
            .args(["check", "rules"])
            .arg(dir.join("rules.yml")),
    );
    assert!(out.contains("SUCCESS"), "{out}");
    let out = run_ok(
        Command::new(tool("promtool"))
            .args(["test", "rules"])
            .arg(dir.join("rules_test.yml")),
    );
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn every_alert_has_a_unit_test_and_the_issue_s_alerts_exist() {
    let dir = root().join("compose/prometheus");
    let rules = std::fs::read_to_string(dir.join("rules.yml")).unwrap();
    let tests = std::fs::read_to_string(dir.join("rules_test.yml")).unwrap();
    let alerts: BTreeSet<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    for wanted in [
        "KobeChecksumMismatch",
        "KobeWebSocketDisconnected",
        "KobeReconnectStorm",
        "KobeNoData",
        "KobeKafkaSendErrors",
        "KobeEndToEndLatencyHigh",
        "KobeSinkQueueFilling",
    ] {
        assert!(alerts.contains(wanted), "rules.yml has no {wanted}");
    }
    // Each `alertname:` entry is followed by its `exp_alerts`: empty (silent) or a list
    // (fires). promtool checks the exact set, so healthy neighbours of a bad series are
    // asserted silent too.
    for a in &alerts {
        let cases: Vec<bool> = tests
            .split("alertname: ")
            .skip(1)
            .filter(|t| t.starts_with(a) && t[a.len()..].starts_with('\n'))
            .map(|t| t.lines().nth(1).unwrap_or("").contains("exp_alerts: []"))
            .collect();
        assert!(cases.contains(&false), "{a}: no unit test where it fires");
        assert!(
            cases.contains(&true),
            "{a}: no unit test where it stays silent"
        );
    }
}

#[test]
fn prometheus_config_passes_promtool() {
    let out = run_ok(
        Command::new(tool("promtool"))
            .args(["check", "config"])
            .arg(root().join("compose/prometheus/prometheus.yml")),
    );
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn compose_file_is_valid_and_has_the_whole_stack() {
    let out = run_ok(
        Command::new(tool("docker-compose"))
            .arg("-f")
            .arg(root().join("compose/docker-compose.yml"))
            .arg("config"),
    );
    for service in ["kafka:", "kobe:", "prometheus:", "grafana:"] {
        assert!(
            out.contains(&format!("\n  {service}")),
            "no {service} service:\n{out}"
        );
    }
    assert!(
        out.contains("KAFKA_PROCESS_ROLES: broker,controller"),
        "Kafka runs KRaft"
    );
    assert!(
        out.contains("/etc/kobe/pipeline.yaml"),
        "the pipeline is mounted"
    );
    assert!(
        out.contains("/etc/prometheus/rules.yml"),
        "the rules are mounted"
    );
    assert!(
        out.contains("/etc/grafana/provisioning"),
        "Grafana is provisioned"
    );
}

#[test]
fn dockerfile_is_multi_stage_and_non_root() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let froms = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(froms >= 2, "multi-stage");
    let user = text
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER line");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "runs as {user}"
    );
    assert!(
        text.contains("COPY --from=build"),
        "the runtime copies only the binary"
    );
}

/// Metric names a PromQL text mentions (kobe's families only).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i > start {
            let word = &text[start..i];
            let preceded = start > 0 && (bytes[start - 1] == b'$' || bytes[start - 1] == b'.');
            if !preceded
                && ["kobe_", "ws_", "orderbook_", "kafka_"]
                    .iter()
                    .any(|p| word.starts_with(p))
            {
                names.insert(word.to_string());
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn rules_and_dashboard_only_name_exported_metrics() {
    let rules = std::fs::read_to_string(root().join("compose/prometheus/rules.yml")).unwrap();
    let dash =
        std::fs::read_to_string(root().join("compose/grafana/dashboards/kobe.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&dash).unwrap();
    let mut exprs = String::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            exprs.push_str(t["expr"].as_str().unwrap());
            exprs.push('\n');
        }
    }
    let exprs_only: String = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr: "))
        .collect::<Vec<_>>()
        .join("\n");
    let mut all = metric_names(&exprs_only);
    all.extend(metric_names(&exprs));
    assert!(all.len() >= 10, "{all:?}");
    for name in &all {
        assert!(
            catalog::find(name).is_some(),
            "{name} is used by the rules or the dashboard but kobe does not export it"
        );
    }
    // The dashboard shows what the issue lists.
    for wanted in [
        "kobe_books_valid",
        "ws_messages_total",
        "kobe_checksum_mismatches_total",
        "kobe_book_resets_total",
        "kobe_end_to_end_latency_seconds_bucket",
        "kafka_messages_sent_total",
        "kafka_send_errors_total",
        "kafka_message_queue_size",
        "orderbook_price_spread",
    ] {
        assert!(
            exprs.contains(wanted),
            "the dashboard has no panel on {wanted}"
        );
    }
}
