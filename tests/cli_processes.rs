//! `kobe sim`, `kobe run`, `kobe record` and `kobe demo` as processes, the way a user runs
//! them: a live pipeline with four shard workers through the simulator's random faults
//! (`--fault-every 1`), read back from its file sink; a recording replayed; the demo.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{kobe, kobe_bin, summary};
use serde_json::Value;

/// Polls `ready` (a file's contents, a process) until it holds, up to `limit`.
fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20)); // polling, bounded by the deadline
    }
}

fn sigterm(child: &Child) {
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

/// Ends `child` with SIGTERM; its exit status and standard error.
fn stop(mut child: Child) -> (std::process::ExitStatus, String) {
    sigterm(&child);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap(), err)
}

/// A simulator on a free port with faults every second; its URL from its first line.
fn simulator(seed: u64) -> (Child, String) {
    let mut child = Command::new(kobe_bin())
        .args([
            "--log",
            "info",
            "sim",
            "--addr",
            "127.0.0.1:0",
            "--symbols",
            "8",
        ])
        .args([
            "--rate",
            "400",
            "--fault-every",
            "1",
            "--seed",
            &seed.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_string();
    (child, url)
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn assert_seq_increases(records: &[Value]) -> usize {
    let mut last: HashMap<String, u64> = HashMap::new();
    for r in records {
        let (Some(sym), Some(seq)) = (r["symbol"].as_str(), r["seq"].as_u64()) else {
            continue;
        };
        if let Some(prev) = last.insert(sym.to_string(), seq) {
            assert!(seq > prev, "{sym}: seq {seq} after {prev}");
        }
    }
    last.len()
}

#[test]
fn a_live_pipeline_with_four_workers_through_faults_keeps_seq_increasing_and_accounts() {
    let dir = tempfile::tempdir().unwrap();
    // Seed 12 injects, a second apart: a corrupt checksum, a disconnect, a malformed frame,
    // a precision change.
    let (sim, url) = simulator(12);
    let out = dir.path().join("out.ndjson");
    let symbols: Vec<String> = (0..8).map(|i| format!("S{i:03}/USD")).collect();
    let pipeline = dir.path().join("live.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "source:\n  type: kraken\n  url: {url}\n  symbols: [{}]\n  depth: 10\n  stall_timeout_ms: 1000\n  ping_interval_ms: 300\n  reconnect: {{initial_backoff_ms: 20, max_backoff_ms: 200, min_interval_after_failures_ms: 50}}\nhandlers:\n  - type: snapshot\n  - type: update\n  - type: checksum\n    on_mismatch: resync\nengine:\n  workers: 4\nsinks:\n  out:\n    type: file\n    path: {}\n    flush_interval_ms: 20\n",
            symbols.join(", "),
            out.display()
        ),
    )
    .unwrap();
    let run = Command::new(kobe_bin())
        .args(["--log", "warn", "run", pipeline.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let has = |needle: &str| std::fs::read_to_string(&out).is_ok_and(|t| t.contains(needle));
    wait_for(
        "a resync, a reconnect and a precision change",
        Duration::from_secs(30),
        || {
            has("\"type\":\"checksum_mismatch\"")
                && has("\"reason\":\"resync\"")
                && has("\"reason\":\"reconnect\"")
                && has("\"reason\":\"precision_change\"")
        },
    );
    let (status, err) = stop(run);
    assert!(status.success(), "{err}");
    let (sim_status, sim_err) = stop(sim);
    assert!(sim_status.success(), "{sim_err}");
    assert!(sim_err.contains("kobe sim: SimStats"), "{sim_err}");

    let s = summary(err.as_bytes());
    assert_eq!(s["accounting"]["ok"], true, "{s}");
    let recs = records(&out);
    assert_eq!(s["sinks"]["out"]["written"], recs.len() as u64);
    assert_eq!(assert_seq_increases(&recs), 8, "every symbol has records");
    // Every book record is verified except the one the fault corrupted.
    let failed = recs.iter().filter(|r| r["checksum_ok"] == false).count();
    assert_eq!(failed, 1, "{s}");
}

#[test]
fn record_against_a_faulty_simulator_then_replay_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, url) = simulator(7);
    let rec = dir.path().join("rec.ndjson");
    let mut child = Command::new(kobe_bin())
        .args(["--log", "warn", "record", "--url", &url])
        .args(["--symbols", "S000/USD,S001/USD", "--frames", "300", "-o"])
        .arg(&rec)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("kobe record to finish", Duration::from_secs(30), || {
        child.try_wait().unwrap().is_some()
    });
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{err}");
    assert!(err.contains("kobe record: 300 frames"), "{err}");
    let text = std::fs::read_to_string(&rec).unwrap();
    assert_eq!(text.lines().count(), 300);
    let (sim_status, _) = stop(sim);
    assert!(sim_status.success());

    let pipeline = dir.path().join("replay.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "source: {{type: replay, path: {}}}\nhandlers:\n  - type: snapshot\n  - type: update\n  - type: checksum\n    on_mismatch: log\nsinks:\n  out: {{type: file, path: out.ndjson}}\n",
            rec.display()
        ),
    )
    .unwrap();
    let out = kobe(&["run", pipeline.to_str().unwrap()], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out.stderr);
    assert_eq!(s["source"]["frames"], 300);
    assert_eq!(s["accounting"]["ok"], true, "{s}");
    assert_seq_increases(&records(&dir.path().join("out.ndjson")));
}

#[test]
fn the_demo_streams_verified_books_and_catches_a_corrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = kobe(
        &[
            "demo",
            "--symbols",
            "2",
            "--seconds",
            "3",
            "--corrupt-every",
            "1",
        ],
        dir.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().count() > 5, "{text}");
    let line = err
        .lines()
        .find_map(|l| l.strip_prefix("kobe demo: summary "))
        .unwrap_or_else(|| panic!("{err}"));
    let s: Value = serde_json::from_str(line).unwrap();
    assert_eq!(s["accounting"]["ok"], true, "{s}");
    assert!(
        s["derived"].as_u64().unwrap() >= 1,
        "a checksum_mismatch: {s}"
    );
    assert!(
        text.contains("checksum_mismatch") || text.contains("mismatch"),
        "{text}"
    );
}
