//! Plugins loaded from shared libraries produce, byte for byte, the records of the same code
//! linked into `kobe` statically, on replays of every v2 fixture; the Redis Streams sink plugin
//! delivers every record of a replay to a real redis-server.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::cli::{kobe, summary};
use common::plugin_libs::lib;
use common::v2_fixtures;
use kobe_plugin_redis_streams::resp::{Connection, Reply};

/// A replay pipeline over fixture `fx` with `handlers` and one file sink writing `events`.
fn pipeline(path: &Path, fx: &serde_json::Value, handlers: &str, sinks: &str) -> String {
    let precision: Vec<String> = fx["precision"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(s, p)| format!("{s:?}: [{}, {}]", p[0], p[1]))
        .collect();
    format!(
        "source:\n  type: replay\n  path: {path:?}\n  depth: {}\n  precision: {{{}}}\n  received_ts: exchange\n\
         handlers:\n  - type: snapshot\n  - type: update\n    top: 10\n  - type: checksum\n    on_mismatch: log\n{handlers}\
         sinks:\n{sinks}engine:\n  batch_size: 16\n",
        fx["depth"],
        precision.join(", ")
    )
}

fn run_to_file(dir: &Path, name: &str, yaml: &str) -> String {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    let out = kobe(&["run", file.to_str().unwrap()], dir);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    summary(&out.stderr);
    std::fs::read_to_string(dir.join(format!("{name}.ndjson"))).unwrap()
}

#[test]
fn dynamic_plugins_write_what_the_static_ones_write_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let spread = lib("kobe-plugin-spread");
    let imbalance = lib("kobe-plugin-imbalance");
    let (mut spreads, mut imbalances) = (0, 0);
    for (i, (path, fx)) in v2_fixtures().into_iter().enumerate() {
        let sink = |name: &str| {
            let out = dir.path().join(format!("{name}-{i}.ndjson"));
            format!("  out:\n    type: file\n    path: {out:?}\n")
        };
        let dynamic = format!(
            "  - type: plugin\n    path: {spread:?}\n  - type: plugin\n    path: {imbalance:?}\n    config: {{levels: 3}}\n"
        );
        let linked = "  - type: spread\n  - type: imbalance\n    config: {levels: 3}\n";
        let d = run_to_file(
            dir.path(),
            &format!("dyn-{i}"),
            &pipeline(&path, &fx, &dynamic, &sink("dyn")),
        );
        let s = run_to_file(
            dir.path(),
            &format!("static-{i}"),
            &pipeline(&path, &fx, linked, &sink("static")),
        );
        assert!(
            d == s,
            "{}: dynamic and static records differ",
            path.display()
        );
        // Not equal by both being empty: one spread record per book_top, imbalance per batch.
        let count = |needle: &str| d.lines().filter(|l| l.contains(needle)).count();
        assert_eq!(
            count(r#""plugin":"spread""#),
            count(r#""type":"book_top""#),
            "{}",
            path.display()
        );
        spreads += count(r#""plugin":"spread""#);
        imbalances += count(r#""plugin":"imbalance""#);
        for line in d.lines().filter(|l| l.contains(r#""plugin":"spread""#)) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let data = &v["data"];
            assert!(data["bid"].is_string() && data["ask"].is_string(), "{line}");
        }
    }
    assert!(spreads > 1000, "only {spreads} spread records");
    assert!(imbalances > 100, "only {imbalances} imbalance records");
}

/// A redis-server on a free loopback port, stopped on drop.
struct Redis {
    child: Child,
    addr: String,
}

impl Redis {
    /// Starts one; a few tries, since the free port found may be taken before redis binds it.
    fn start() -> Redis {
        for _ in 0..3 {
            if let Some(r) = Redis::try_start() {
                return r;
            }
        }
        panic!("redis-server did not start");
    }

    fn try_start() -> Option<Redis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--logfile", ""])
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-server is installed (tests/run installs it)");
        // Ready when it says so; its log ends if it fails to start.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("Ready to accept connections"));
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        // Keep reading its log, so a full pipe never blocks it.
        std::thread::spawn(move || lines.for_each(drop));
        Some(Redis {
            child,
            addr: format!("127.0.0.1:{port}"),
        })
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every entry of stream `key`: (type, record).
fn xrange(conn: &mut Connection, key: &str) -> Vec<(String, String)> {
    let reply = conn.call(&[b"XRANGE", key.as_bytes(), b"-", b"+"]).unwrap();
    let Reply::Array(Some(entries)) = reply else {
        panic!("XRANGE {key}: {reply:?}")
    };
    entries
        .into_iter()
        .map(|entry| {
            let Reply::Array(Some(parts)) = entry else {
                panic!("entry {entry:?}")
            };
            let Reply::Array(Some(fields)) = &parts[1] else {
                panic!("fields {parts:?}")
            };
            let text = |r: &Reply| match r {
                Reply::Bulk(Some(b)) => String::from_utf8(b.clone()).unwrap(),
                other => panic!("{other:?}"),
            };
            assert_eq!(text(&fields[0]), "type");
            assert_eq!(text(&fields[2]), "record");
            (text(&fields[1]), text(&fields[3]))
        })
        .collect()
}

#[test]
fn redis_streams_plugin_delivers_every_record_of_a_replay() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let sink_lib = lib("kobe-plugin-redis-streams");
    let spread = lib("kobe-plugin-spread");
    let (path, fx) = v2_fixtures()
        .into_iter()
        .find(|(p, _)| p.ends_with("depthcharge__kraken_minagbp_d25_resync_20260818.ndjson"))
        .unwrap();
    let file = dir.path().join("file.ndjson");
    let events = "[book_snapshot, book_update, book_top, checksum_mismatch, book_reset, status, heartbeat, plugin]";
    let sinks = format!(
        "  file:\n    type: file\n    path: {file:?}\n    events: {events}\n  \
         redis:\n    type: plugin\n    path: {sink_lib:?}\n    events: {events}\n    config: {{addr: {:?}, prefix: 'test:', global_stream: 'test:global', maxlen: 1000000}}\n",
        redis.addr
    );
    let handlers = format!("  - type: plugin\n    path: {spread:?}\n");
    let yaml = dir.path().join("redis.yaml");
    std::fs::write(&yaml, pipeline(&path, &fx, &handlers, &sinks)).unwrap();
    let out = kobe(&["run", yaml.to_str().unwrap()], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = summary(&out.stderr);
    let written = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert!(lines.len() > 40, "{} records", lines.len());
    assert_eq!(report["sinks"]["redis"]["written"], lines.len() as u64);
    assert_eq!(report["accounting"]["ok"], true, "{report}");

    // Group the file's records the way the sink keys its streams, in order.
    let mut expected: std::collections::BTreeMap<String, Vec<(String, String)>> =
        Default::default();
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = match v["symbol"].as_str() {
            Some(s) => format!("test:{s}"),
            None => "test:global".into(),
        };
        expected
            .entry(key)
            .or_default()
            .push((v["type"].as_str().unwrap().to_string(), line.to_string()));
    }
    assert!(
        expected.contains_key("test:global"),
        "status and heartbeat frames have no symbol"
    );
    let mut conn = Connection::connect(&redis.addr, Duration::from_secs(5)).unwrap();
    let Reply::Array(Some(keys)) = conn.call(&[b"KEYS", b"test:*"]).unwrap() else {
        panic!("KEYS")
    };
    assert_eq!(
        keys.len(),
        expected.len(),
        "one stream per symbol plus the global one"
    );
    let mut delivered = 0;
    for (key, records) in &expected {
        let got = xrange(&mut conn, key);
        assert_eq!(got.len(), records.len(), "{key}");
        assert!(
            got == *records,
            "{key}: the stream differs from the file sink's records"
        );
        delivered += got.len();
    }
    assert_eq!(delivered, lines.len());
}
