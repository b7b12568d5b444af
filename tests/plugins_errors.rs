//! Every way a plugin can be wrong gives a clear, located error from the real binary and never
//! a crash: a missing file, a file that is not a kobe plugin, another ABI version, a rejected
//! config, a plugin that panics mid-batch (`on_error: skip` counts it and goes on, `stop`
//! drains and exits non-zero). `kobe plugins --load` describes a library.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{kobe, summary};
use common::fixtures;
use common::plugin_libs::lib;

const FIXTURE: &str = "crossbook__kraken_btcusd_l2.ndjson";

/// A pipeline whose handler `handlers[2]` is `plugin` (YAML lines given), line 9 onward.
fn with_handler(dir: &Path, name: &str, plugin: &str) -> PathBuf {
    let input = fixtures().join(FIXTURE);
    let out = dir.join(format!("{name}.ndjson"));
    let yaml = format!(
        "source:\n  type: replay\n  path: {input:?}\n  precision: {{\"BTC/USD\": [1, 8]}}\n  received_ts: exchange\n\
         handlers:\n  - type: snapshot\n  - type: update\n{plugin}\
         sinks:\n  out:\n    type: file\n    path: {out:?}\n\
         engine:\n  batch_size: 8\n"
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    file
}

/// `kobe validate` and `kobe run` both refuse `file` with exit 1 and exactly `expected` as the
/// problem lines (`FILE:LINE:COL: path: message`).
fn refused(dir: &Path, file: &Path, expected: &[String]) {
    for cmd in ["validate", "run"] {
        let out = kobe(&[cmd, file.to_str().unwrap()], dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {stderr}");
        assert!(!stderr.contains("panicked at"), "{cmd}: {stderr}");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("error: "))
            .collect();
        assert_eq!(lines, expected, "{cmd}");
    }
}

fn at(file: &Path, line: u32, col: u32, rest: &str) -> String {
    format!("{}:{line}:{col}: {rest}", file.display())
}

#[test]
fn a_missing_library_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = with_handler(
        dir.path(),
        "missing",
        "  - type: plugin\n    path: ./nope/libspread.so\n",
    );
    refused(
        dir.path(),
        &file,
        &[at(
            &file,
            10,
            11,
            "handlers[2].path: no plugin library at ./nope/libspread.so (paths are relative to the working directory)",
        )],
    );
}

/// The C library this test runs with: a real shared library that is not a kobe plugin.
fn libc_path() -> PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so") || p.contains("/libc-"))
        .map(PathBuf::from)
        .expect("the test runs with a libc")
}

#[test]
fn files_that_are_not_kobe_plugins_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let libc = libc_path();
    let file = with_handler(
        dir.path(),
        "libc",
        &format!("  - type: plugin\n    path: {libc:?}\n"),
    );
    refused(
        dir.path(),
        &file,
        &[at(
            &file,
            10,
            11,
            &format!(
                "handlers[2].path: {} is not a kobe plugin: it exports no `kobe_plugin_declaration` (build it with kobe-plugin-sdk's `export_plugin!`)",
                libc.display()
            ),
        )],
    );
    let text = dir.path().join("libtext.so");
    std::fs::write(&text, "not a library\n").unwrap();
    let file = with_handler(
        dir.path(),
        "text",
        &format!("  - type: plugin\n    path: {text:?}\n"),
    );
    let out = kobe(&["validate", file.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:10:11: handlers[2].path: {} is not a loadable shared library",
            file.display(),
            text.display()
        )),
        "{stderr}"
    );
}

#[test]
fn another_abi_version_is_refused_before_anything_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let next = lib("kobe-test-plugin-abi-next");
    let file = with_handler(
        dir.path(),
        "abi",
        &format!("  - type: plugin\n    path: {next:?}\n"),
    );
    refused(
        dir.path(),
        &file,
        &[at(
            &file,
            10,
            11,
            &format!(
                "handlers[2].path: {} was built for kobe plugin ABI version 2, this kobe speaks version 1; rebuild the plugin against a kobe-plugin-sdk with ABI 1",
                next.display()
            ),
        )],
    );
}

#[test]
fn a_sink_library_is_not_a_handler() {
    let dir = tempfile::tempdir().unwrap();
    let redis = lib("kobe-plugin-redis-streams");
    let file = with_handler(
        dir.path(),
        "kind",
        &format!("  - type: plugin\n    path: {redis:?}\n"),
    );
    refused(
        dir.path(),
        &file,
        &[at(
            &file,
            10,
            11,
            &format!(
                "handlers[2].path: {} (kobe-plugin-redis-streams) has no handler component; it offers: sink `redis_streams`",
                redis.display()
            ),
        )],
    );
}

#[test]
fn config_the_plugin_rejects_is_shown_under_the_component_path() {
    let dir = tempfile::tempdir().unwrap();
    let imbalance = lib("kobe-plugin-imbalance");
    let file = with_handler(
        dir.path(),
        "range",
        &format!("  - type: plugin\n    path: {imbalance:?}\n    config:\n      levels: 0\n"),
    );
    refused(
        dir.path(),
        &file,
        &[at(
            &file,
            12,
            15,
            "handlers[2].config.levels: must be between 1 and 1000, got 0",
        )],
    );
    let file = with_handler(
        dir.path(),
        "type",
        &format!("  - type: plugin\n    path: {imbalance:?}\n    config: {{levels: ten}}\n"),
    );
    refused(
        dir.path(),
        &file,
        &[at(
            &file,
            11,
            22,
            "handlers[2].config.levels: invalid type: string \"ten\", expected usize",
        )],
    );
    // The same plugin linked in statically reports the same problem at the same place.
    let file = with_handler(
        dir.path(),
        "linked",
        "  - type: imbalance\n    config: {levels: 1001}\n",
    );
    refused(
        dir.path(),
        &file,
        &[at(
            &file,
            10,
            22,
            "handlers[2].config.levels: must be between 1 and 1000, got 1001",
        )],
    );
}

/// The records of a finished run (every event type but `raw`), split into the faulty
/// plugin's `n` values and the other records.
fn split(out_file: &Path) -> (Vec<String>, Vec<u64>) {
    let text = std::fs::read_to_string(out_file).unwrap();
    let mut book = Vec::new();
    let mut plugin = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] == "plugin" {
            plugin.push(v["data"]["n"].as_u64().unwrap());
        } else {
            book.push(line.to_string());
        }
    }
    (book, plugin)
}

#[test]
fn a_panic_under_skip_is_counted_and_the_batch_goes_on_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = lib("kobe-test-plugin-faulty");
    let clean = with_handler(dir.path(), "clean", "");
    let out = kobe(&["run", clean.to_str().unwrap()], dir.path());
    assert!(out.status.success());
    let (clean_book, _) = split(&dir.path().join("clean.ndjson"));

    let file = with_handler(
        dir.path(),
        "skip",
        &format!("  - type: plugin\n    path: {faulty:?}\n    config: {{panic_on_batch: 3}}\n    on_error: skip\n"),
    );
    let out = kobe(&["run", file.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("deliberate panic in batch 3"), "{stderr}");
    let report = summary(&out.stderr);
    assert_eq!(report["handler_panics"], 1, "{report}");
    assert_eq!(report["accounting"]["ok"], true, "{report}");
    assert_eq!(report["handler_errors"], 1, "{report}");
    let (book, plugin) = split(&dir.path().join("skip.ndjson"));
    // Every source event went on, in order and unchanged (seq aside: plugin records take numbers).
    let strip_seq = |l: &String| {
        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
        v.as_object_mut().unwrap().remove("seq");
        v
    };
    assert_eq!(
        book.iter().map(strip_seq).collect::<Vec<_>>(),
        clean_book.iter().map(strip_seq).collect::<Vec<_>>()
    );
    // The plugin's records: none from the batch it panicked in (half of it was emitted before
    // the panic and thrown away), numbered on from its count, which kept the first half.
    assert!(!plugin.is_empty());
    let gaps: Vec<(u64, u64)> = plugin
        .windows(2)
        .filter(|w| w[1] != w[0] + 1)
        .map(|w| (w[0], w[1]))
        .collect();
    assert_eq!(
        gaps.len(),
        1,
        "one gap, where the panicked batch was: {gaps:?}"
    );
    assert_eq!(
        report["events"],
        (book.len() + plugin.len()) as u64,
        "{report}"
    );
}

#[test]
fn a_panic_under_stop_drains_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = lib("kobe-test-plugin-faulty");
    let file = with_handler(
        dir.path(),
        "stop",
        &format!("  - type: plugin\n    path: {faulty:?}\n    config: {{panic_on_batch: 3}}\n    on_error: stop\n"),
    );
    let out = kobe(&["run", file.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a clean exit with status 1: {stderr}"
    );
    assert!(
        stderr.contains(
            "error: handlers[2] failed: plugin `faulty`: panicked: faulty plugin: deliberate panic in batch 3"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("kobe: summary"), "{stderr}");
    // Drained: what was accepted before the stop was written whole, the panicked batch too.
    let (book, plugin) = split(&dir.path().join("stop.ndjson"));
    assert!(book.len() >= 8 * 3 - 8, "{} records", book.len());
    assert!(!plugin.is_empty());
}

#[test]
fn plugins_load_lists_a_librarys_types_options_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let imbalance = lib("kobe-plugin-imbalance");
    let out = kobe(
        &["plugins", "--load", imbalance.to_str().unwrap()],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("kobe-plugin-imbalance 0.1.0 ("),
        "{stdout}"
    );
    assert!(
        stdout.contains("kobe-plugin-sdk 0.1.0, plugin ABI 1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("handler `imbalance` — top-N volume imbalance"),
        "{stdout}"
    );
    assert!(
        stdout.contains("config.levels  integer  default 10"),
        "{stdout}"
    );
    assert!(
        stdout.contains("How many best levels a side count (1 to 1000)."),
        "{stdout}"
    );
    let redis = lib("kobe-plugin-redis-streams");
    let out = kobe(
        &["plugins", "--load", redis.to_str().unwrap(), "--json"],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["abi_version"], 1);
    assert_eq!(v["components"][0]["kind"], "sink");
    assert_eq!(v["components"][0]["type"], "redis_streams");
    assert!(v["components"][0]["schema"]["properties"]["maxlen"].is_object());
    let next = lib("kobe-test-plugin-abi-next");
    let out = kobe(&["plugins", "--load", next.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ABI version 2"));
}

#[test]
fn a_sink_plugin_that_panics_fails_the_run_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = lib("kobe-test-plugin-faulty");
    let input = fixtures().join(FIXTURE);
    let records = dir.path().join("records.ndjson");
    let yaml = format!(
        "source:\n  type: replay\n  path: {input:?}\n  precision: {{\"BTC/USD\": [1, 8]}}\n\
         handlers:\n  - type: snapshot\n  - type: update\n\
         sinks:\n  out:\n    type: plugin\n    path: {faulty:?}\n    config: {{path: {records:?}, panic_on_batch: 2}}\n\
         engine:\n  batch_size: 8\n"
    );
    let file = dir.path().join("sink.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = kobe(&["run", file.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "error: sinks.out failed: sink plugin `faulty_sink` failed to write: plugin panicked: faulty sink: deliberate panic in batch 2"
        ),
        "{stderr}"
    );
    // The batch before the panic was accepted, so it is in the file.
    let written = std::fs::read_to_string(&records).unwrap();
    assert!(written.lines().count() >= 1);
    for line in written.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

#[test]
fn sink_plugins_run_on_a_thread_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = lib("kobe-test-plugin-faulty");
    let input = fixtures().join(FIXTURE);
    let records = dir.path().join("records.ndjson");
    let run = |prefix: &str| {
        let yaml = format!(
            "source: {{type: replay, path: {input:?}, precision: {{\"BTC/USD\": [1, 8]}}}}\n\
             sinks:\n  out:\n    type: plugin\n    path: {faulty:?}\n    config: {{path: {records:?}, thread_prefix: {prefix:?}}}\n"
        );
        let file = dir.path().join("thread.yaml");
        std::fs::write(&file, yaml).unwrap();
        kobe(&["run", file.to_str().unwrap()], dir.path())
    };
    let out = run("kobe-sink-out");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = summary(&out.stderr);
    assert_eq!(
        report["sinks"]["out"]["written"], report["source"]["events"],
        "{report}"
    );
    assert_eq!(
        std::fs::read_to_string(&records).unwrap().lines().count() as u64,
        report["source"]["events"].as_u64().unwrap()
    );
    // The check can fail: on any other thread (a runtime worker) the plugin refuses to open.
    let out = run("tokio-runtime-worker");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sink plugin `faulty_sink` did not open: called on thread \"kobe-sink-out\", expected \"tokio-runtime-worker\""),
        "{stderr}"
    );
}

#[test]
fn a_sink_plugins_config_problems_are_located_too() {
    let dir = tempfile::tempdir().unwrap();
    let redis = lib("kobe-plugin-redis-streams");
    let input = fixtures().join(FIXTURE);
    let yaml = format!(
        "source: {{type: replay, path: {input:?}}}\n\
         sinks:\n  redis:\n    type: plugin\n    path: {redis:?}\n    config:\n      addr: nowhere\n      maxlen: -1\n"
    );
    let file = dir.path().join("sink-config.yaml");
    std::fs::write(&file, yaml).unwrap();
    refused(
        dir.path(),
        &file,
        &[at(
            &file,
            8,
            15,
            "sinks.redis.config.maxlen: invalid value: integer `-1`, expected u64",
        )],
    );
}
