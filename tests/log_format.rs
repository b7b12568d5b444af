//! `--log-format json` (or `KOBE_LOG_FORMAT=json`) writes every log line as one JSON object;
//! the default stays readable text.

mod common;

use std::process::Command;

fn run(extra: &[&str], env: Option<(&str, &str)>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let frames = common::fixtures().join("crossbook__kraken_btcusd_sample.ndjson");
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        format!(
            "source:\n  type: replay\n  path: {}\nhandlers:\n  - type: snapshot\n  - type: update\nsinks:\n  out:\n    type: file\n    path: {}\n",
            frames.display(),
            dir.path().join("out.ndjson").display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(common::cli::kobe_bin());
    cmd.args(extra)
        .arg("run")
        .arg(&file)
        .env_remove("RUST_LOG")
        .env_remove("KOBE_LOG_FORMAT")
        .env("KOBE_LOG", "info");
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("kobe runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn log_lines(stderr: &str) -> Vec<&str> {
    // The run summary is a report on standard error, not a log line.
    stderr
        .lines()
        .filter(|l| !l.starts_with("kobe: summary "))
        .collect()
}

#[test]
fn json_logs_are_one_object_per_line() {
    for stderr in [
        run(&["--log-format", "json"], None),
        run(&[], Some(("KOBE_LOG_FORMAT", "json"))),
    ] {
        let lines = log_lines(&stderr);
        assert!(!lines.is_empty(), "{stderr}");
        let mut saw_running = false;
        for line in lines {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(
                v["level"].is_string() && v["timestamp"].is_string(),
                "{line}"
            );
            let msg = v["fields"]["message"].as_str().expect("a message");
            saw_running |= msg.starts_with("running ");
        }
        assert!(saw_running, "{stderr}");
    }
}

#[test]
fn text_logs_by_default() {
    let stderr = run(&[], None);
    let lines = log_lines(&stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("INFO") && l.contains("running ")),
        "{stderr}"
    );
    assert!(lines.iter().all(|l| !l.starts_with('{')), "{stderr}");
}
