//! Command-line edges, each against the real binary: errors said once, devices as file sinks,
//! reconnect jitter that differs between processes, closed pipes and signals, demo flags.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::cli::{kobe, kobe_bin, summary};

const FIXTURE: &str = "crossbook__kraken_btcusd_sample.ndjson";

fn replay_to(dir: &std::path::Path, input: &str, out: &str) -> std::path::PathBuf {
    let file = dir.join("p.yaml");
    std::fs::write(
        &file,
        format!(
            "source:\n  type: replay\n  path: {input}\nhandlers:\n  - type: snapshot\n  - type: update\n  - type: checksum\n    on_mismatch: log\nsinks:\n  out:\n    type: file\n    path: {out}\n    rotate_bytes: 1000\n"
        ),
    )
    .unwrap();
    file
}

/// Waits for `child` to exit, up to `limit`; kills it and fails if it does not.
fn wait_for(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        // Polling a child's exit status; nothing to synchronise with but the process itself.
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn a_runtime_error_names_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = replay_to(dir.path(), "missing.ndjson", "out.ndjson");
    let out = kobe(&["run", file.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(line.contains("cannot open missing.ndjson"), "{err}");
    assert_eq!(line.matches("missing.ndjson").count(), 1, "{line}");
    assert_eq!(line.matches("os error 2").count(), 1, "{line}");
}

#[test]
fn a_file_sink_on_a_device_writes_everything_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::fixtures().join(FIXTURE);
    for device in ["/dev/null", "/dev/stdout"] {
        let file = replay_to(dir.path(), input.to_str().unwrap(), device);
        let out = kobe(&["run", file.to_str().unwrap()], dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{device}: {err}");
        let s = summary(&out.stderr);
        assert_eq!(s["sinks"]["out"]["written"], 2104, "{device}: {s}");
        assert_eq!(s["accounting"]["ok"], true);
        if device == "/dev/stdout" {
            assert_eq!(out.stdout.iter().filter(|b| **b == b'\n').count(), 2104);
        }
    }
}

/// Reconnect delays of a process, as logged, against a port nobody listens on.
fn delays(dir: &std::path::Path) -> Child {
    let file = dir.join("k.yaml");
    std::fs::write(
        &file,
        "source:\n  type: kraken\n  url: ws://127.0.0.1:1/v2\n  symbols: [BTC/USD]\n  reconnect:\n    initial_backoff_ms: 200\n    max_backoff_ms: 800\n    jitter_percent: 100\n    min_interval_after_failures_ms: 0\n    max_attempts: 4\nsinks:\n  out: {type: stdout}\n",
    )
    .unwrap();
    Command::new(kobe_bin())
        .args(["run", file.to_str().unwrap()])
        .current_dir(dir)
        .env("KOBE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn processes_started_together_draw_different_reconnect_delays() {
    let dir = tempfile::tempdir().unwrap();
    let children = [delays(dir.path()), delays(dir.path())];
    let seqs: Vec<Vec<u64>> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            let seq: Vec<u64> = err
                .lines()
                .filter_map(|l| l.split("retrying in ").nth(1))
                .map(|r| r.trim_end_matches(" ms").parse().unwrap())
                .collect();
            assert_eq!(seq.len(), 3, "{err}");
            seq
        })
        .collect();
    // With 100% jitter each delay is one of 201 to 801 values: equal sequences mean a shared
    // seed (the chance otherwise is below one in 10^7).
    assert_ne!(seqs[0], seqs[1], "same delays in two processes: {seqs:?}");
}

/// `kobe sim` with standard output and error on a pipe whose reader is gone: a SIGTERM must
/// still end it, with status 0 and no panic.
fn sim_survives_a_closed_pipe(extra: &[&str]) {
    let mut child = Command::new(kobe_bin())
        .args(extra)
        .args(["sim", "--addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("kobe sim: "), "{first}");
    drop(child.stderr.take()); // both readers gone, as with `2>&1 | head -1`
    sigterm(&child);
    let status = wait_for(
        &mut child,
        Duration::from_secs(10),
        "kobe sim after SIGTERM",
    );
    assert_eq!(status.code(), Some(0), "{extra:?}");
}

#[test]
fn sim_ends_on_sigterm_after_its_output_closed() {
    sim_survives_a_closed_pipe(&[]);
    sim_survives_a_closed_pipe(&["--log", "off"]);
}

#[test]
fn demo_flags_are_checked_and_blamed_on_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = kobe(&["demo", "--depth", "7"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'--depth <DEPTH>'") && err.contains("not a Kraken book depth"),
        "{err}"
    );
    assert!(!err.contains("<demo>"), "{err}");
    let out = kobe(&["demo", "--symbols", "0"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--symbols"));
    let out = kobe(
        &["record", "--symbols", "BTC/USD", "--depth", "7", "-o", "x"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
}
