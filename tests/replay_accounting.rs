//! The accounting identities and the cannot-resync behaviour, held against the real binary on
//! a real fixture: a clean replay, and the same replay with one checksum bit flipped.
//!
//! A replay cannot resubscribe, so after a mismatch the symbol gets `book_reset` (reason
//! `cannot_resync`), its records stop until its next snapshot in the input, and every event
//! held back is counted in the summary (`withheld`, per symbol) and in the run's last log line.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::cli::{kobe, summary};
use serde_json::Value;

const FIXTURE: &str = "crossbook__kraken_btcusd_sample.ndjson";

/// The fixture with the lowest bit of the checksum on line `line` (1-based) flipped.
fn corrupted(line: usize) -> String {
    let text = std::fs::read_to_string(common::fixtures().join(FIXTURE)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let l = &mut lines[line - 1];
    let at = l.find("\"checksum\":").unwrap() + "\"checksum\":".len();
    let end = at + l[at..].find(|c: char| !c.is_ascii_digit()).unwrap();
    let flipped = l[at..end].parse::<u32>().unwrap() ^ 1;
    l.replace_range(at..end, &flipped.to_string());
    lines.join("\n") + "\n"
}

fn pipeline(dir: &Path, input: &Path, on_mismatch: &str) -> std::path::PathBuf {
    let file = dir.join("p.yaml");
    std::fs::write(
        &file,
        format!(
            "source:\n  type: replay\n  path: {}\n  repeat: 2\nhandlers:\n  - type: snapshot\n  - type: update\n  - type: checksum\n{on_mismatch}sinks:\n  out:\n    type: file\n    path: out.ndjson\n    events: [book_snapshot, book_update, checksum_mismatch, book_reset]\n",
            input.display()
        ),
    )
    .unwrap();
    file
}

fn records(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("out.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Checks the identities from the summary's own fields (not only its `ok`).
fn assert_adds_up(s: &Value, written_lines: usize) {
    let src = &s["source"];
    assert_eq!(
        u(&src["frames"]),
        u(&src["decoded"]) + u(&src["malformed"]) + u(&src["stale_dropped"]),
        "{s}"
    );
    assert_eq!(u(&s["events"]), u(&src["events"]) + u(&s["derived"]), "{s}");
    let out = &s["sinks"]["out"];
    assert_eq!(
        u(&s["events"]),
        u(&out["written"])
            + u(&out["filtered_out"])
            + u(&s["withheld"])
            + u(&s["removed_by_handlers"]),
        "{s}"
    );
    assert_eq!(u(&out["written"]), written_lines as u64, "{s}");
    assert_eq!(s["accounting"]["ok"], true, "{s}");
    let by_symbol: u64 = s["withheld_by_symbol"]
        .as_object()
        .map_or(0, |m| m.values().map(u).sum());
    assert_eq!(by_symbol, u(&s["withheld"]), "{s}");
}

/// `seq` strictly increases per symbol.
fn assert_seq_increases(records: &[Value]) {
    let mut last: HashMap<String, u64> = HashMap::new();
    for r in records {
        let (Some(sym), Some(seq)) = (r["symbol"].as_str(), r["seq"].as_u64()) else {
            continue;
        };
        if let Some(prev) = last.insert(sym.to_string(), seq) {
            assert!(seq > prev, "{sym}: seq {seq} after {prev}");
        }
    }
}

#[test]
fn a_clean_replay_accounts_for_every_frame_and_event() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::fixtures().join(FIXTURE);
    let file = pipeline(dir.path(), &input, "");
    let out = kobe(&["run", file.to_str().unwrap()], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out.stderr);
    let recs = records(dir.path());
    assert_adds_up(&s, recs.len());
    assert_eq!(u(&s["source"]["frames"]), 2 * 2104);
    assert_eq!(u(&s["withheld"]), 0);
    // Heartbeats, status and acks are left out by the sink's `events:` list, and counted.
    assert!(u(&s["sinks"]["out"]["filtered_out"]) >= 2 * 50, "{s}");
    assert!(recs.iter().all(|r| r["checksum_ok"] != false));
    assert_seq_increases(&recs);
}

#[test]
fn a_corrupted_replay_resets_withholds_counts_and_comes_back_at_the_next_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.ndjson");
    std::fs::write(&input, corrupted(52)).unwrap();
    let file = pipeline(dir.path(), &input, "");
    let out = kobe(&["run", file.to_str().unwrap()], dir.path());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let s = summary(&out.stderr);
    let recs = records(dir.path());
    assert_adds_up(&s, recs.len());
    let withheld = u(&s["withheld_by_symbol"]["BTC/USD"]);
    assert!(withheld > 2 * 1900, "most of each pass is withheld: {s}");

    // Not silent: the reset is announced, and the last log line names the withheld count.
    assert!(log.contains("a replay cannot resync"), "{log}");
    assert!(
        log.contains(&format!("{withheld} events withheld")) && log.contains("BTC/USD"),
        "{log}"
    );

    // Each pass: the bad update (checksum_ok false), checksum_mismatch, book_reset
    // (cannot_resync), then nothing of the book until the next pass's snapshot.
    let kinds: Vec<(&str, Option<bool>, Option<&str>)> = recs
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap(),
                r["checksum_ok"].as_bool(),
                r["reason"].as_str(),
            )
        })
        .collect();
    let mismatches: Vec<usize> = kinds
        .iter()
        .enumerate()
        .filter(|(_, k)| k.0 == "checksum_mismatch")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(mismatches.len(), 2, "one per pass");
    for &i in &mismatches {
        assert_eq!(kinds[i - 1], ("book_update", Some(false), None));
        assert_eq!(kinds[i + 1], ("book_reset", None, Some("cannot_resync")));
    }
    // Between the first reset and the second pass's snapshot: nothing.
    assert_eq!(kinds[mismatches[0] + 2].0, "book_snapshot", "{kinds:?}");
    // The book came back: verified updates flow after that snapshot.
    let back = &kinds[mismatches[0] + 3..mismatches[1]];
    assert!(back.len() > 40, "{back:?}");
    let (bad, verified) = back.split_last().unwrap();
    assert_eq!(*bad, ("book_update", Some(false), None));
    assert!(
        verified
            .iter()
            .all(|k| *k == ("book_update", Some(true), None)),
        "{verified:?}"
    );
    assert_seq_increases(&recs);
}

#[test]
fn validate_warns_that_a_replay_cannot_resync() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::fixtures().join(FIXTURE);
    let file = pipeline(dir.path(), &input, "");
    let out = kobe(&["validate", file.to_str().unwrap()], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a warning, not an error: {err}");
    assert!(
        err.contains("warning:")
            && err.contains("handlers[2].on_mismatch")
            && err.contains("replay source cannot resync"),
        "{err}"
    );
    let quiet = pipeline(dir.path(), &input, "    on_mismatch: log\n");
    let out = kobe(&["validate", quiet.to_str().unwrap()], dir.path());
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
}
