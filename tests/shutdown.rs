//! SIGTERM during a large replay into a file sink: kobe drains, flushes and exits 0; every line
//! of the file is a complete JSON record and their count is the count kobe reports.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{kobe_bin, summary};
use common::fixtures;

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5)); // polling a condition, bounded by the deadline
    }
}

/// The record type the engine makes of one fixture frame.
fn expected_type(frame: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(frame).unwrap();
    match (
        v["channel"].as_str(),
        v["type"].as_str(),
        v["method"].as_str(),
    ) {
        (Some("book"), Some(t), _) => format!("book_{t}"),
        (Some(c), _, _) => c.to_string(),
        (None, _, Some("subscribe")) => "subscription_ack".into(),
        other => panic!("unexpected frame {other:?}"),
    }
}

#[test]
fn sigterm_drains_and_reports_exactly_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.ndjson");
    let pipeline = dir.path().join("p.yaml");
    let input = fixtures().join("crossbook__kraken_btcusd_sample.ndjson");
    std::fs::write(
        &pipeline,
        format!(
            "source: {{type: replay, path: {input:?}, repeat: 100000}}\nhandlers: [{{type: passthrough}}]\nsinks:\n  out: {{type: file, path: {out_file:?}, flush_interval_ms: 10}}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(kobe_bin())
        .args(["--log", "warn", "run", pipeline.to_str().unwrap()])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Ready once records are reaching the file.
    wait_for(
        "records in the output file",
        Duration::from_secs(60),
        || {
            std::fs::metadata(&out_file)
                .map(|m| m.len() > 1_000_000)
                .unwrap_or(false)
        },
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let exit = child.wait().unwrap();
    assert!(
        exit.success(),
        "exit {exit:?}: {}",
        String::from_utf8_lossy(&stderr)
    );

    let s = summary(&stderr);
    let reported = s["sinks"]["out"]["written"].as_u64().unwrap();
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(text.ends_with('\n'), "the last record is incomplete");
    let mut lines = 0u64;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {} is not a complete record: {e}", lines + 1));
        assert_eq!(v["v"], 1);
        lines += 1;
    }
    assert_eq!(lines, reported, "file lines vs records kobe reported");

    // Against what the source produced, not only the sink's own count: the source read
    // whole passes and part of one more, one event per frame (passthrough, every event type
    // but raw is written), and the file holds exactly those events, in input order.
    assert_eq!(s["accounting"]["ok"], true, "{s}");
    assert_eq!(s["source"]["events"].as_u64().unwrap(), lines, "{s}");
    assert_eq!(s["source"]["frames"].as_u64().unwrap(), lines, "{s}");
    let frames: Vec<String> = std::fs::read_to_string(&input)
        .unwrap()
        .lines()
        .map(expected_type)
        .collect();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let want = &frames[i % frames.len()];
        assert_eq!(v["type"].as_str().unwrap(), want, "record {i}");
    }
    // The replay was cut short by the signal, not finished.
    let full = 100_000 * 2104u64;
    assert!(lines < full, "the replay finished before the signal");
}

#[test]
fn a_second_signal_exits_at_once_when_draining_is_stuck() {
    use std::io::BufRead;
    use std::sync::mpsc;

    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("p.yaml");
    let input = fixtures().join("crossbook__kraken_btcusd_sample.ndjson");
    std::fs::write(
        &pipeline,
        format!("source: {{type: replay, path: {input:?}, repeat: 100000}}\nsinks:\n  out: {{type: stdout}}\n"),
    )
    .unwrap();
    // Standard output is a pipe nobody reads: once it is full the stdout sink blocks, and the
    // graceful shutdown that the first signal starts can never finish draining.
    let mut child = Command::new(kobe_bin())
        .args(["--log", "info", "run", pipeline.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("running") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "kobe exited before running"
        );
    }
    let signal = |child: &std::process::Child| {
        assert!(Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success());
    };
    // Readiness: records are flowing. The pipe is kept open but no longer read.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    signal(&child);
    // Readiness: kobe acknowledges the first signal in its log.
    while !line.contains("shutting down") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "kobe exited on the first signal"
        );
    }
    signal(&child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("kobe exited after the second signal")
        .unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    drop(stdout);
}

#[test]
fn sigterm_while_standard_input_is_silent_exits_at_once() {
    use std::io::Write;
    use std::sync::mpsc;

    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("p.yaml");
    let out_file = dir.path().join("out.ndjson");
    std::fs::write(
        &pipeline,
        format!("source: {{type: replay, path: \"-\"}}\nsinks:\n  out: {{type: file, path: {out_file:?}, flush_interval_ms: 10}}\n"),
    )
    .unwrap();
    let mut child = Command::new(kobe_bin())
        .args(["--log", "info", "run", pipeline.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // One frame arrives, then standard input stays open and silent (a quiet upstream).
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"{\"channel\":\"heartbeat\"}\n").unwrap();
    stdin.flush().unwrap();
    // Readiness: the frame has gone through to the file.
    wait_for(
        "the frame in the output file",
        Duration::from_secs(30),
        || std::fs::read_to_string(&out_file).is_ok_and(|t| t.contains("heartbeat")),
    );
    let stderr = child.stderr.take().unwrap();
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let mut rest = String::new();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stderr = stderr;
        let _ = stderr.read_to_string(&mut rest);
        let _ = tx.send((child.wait(), rest));
    });
    let (status, rest) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("kobe waited for standard input instead of shutting down");
    assert!(status.unwrap().success(), "{rest}");
    // The frame that did arrive was not lost.
    assert_eq!(summary(rest.as_bytes())["sinks"]["out"]["written"], 1);
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(text.contains("\"type\":\"heartbeat\""), "{text}");
    drop(stdin);
}
