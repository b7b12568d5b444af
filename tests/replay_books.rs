//! `kobe run` replaying every v2 fixture through the book handlers verifies every checksum
//! Kraken sent: 5,318 of 5,318, no mismatch, with prices and quantities printed at the
//! instrument's exact digits (including the two files re-serialised through floats).

mod common;

use common::cli::{kobe, summary};
use common::v2_fixtures;

#[test]
fn every_fixture_checksum_verifies_through_kobe_run() {
    let dir = tempfile::tempdir().unwrap();
    let (mut verified, mut mismatches) = (0u64, 0u64);
    for (i, (path, fx)) in v2_fixtures().into_iter().enumerate() {
        let out_file = dir.path().join(format!("{i}.ndjson"));
        let pipeline = dir.path().join(format!("{i}.yaml"));
        let precision: Vec<String> = fx["precision"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(s, p)| format!("{s:?}: [{}, {}]", p[0], p[1]))
            .collect();
        std::fs::write(
            &pipeline,
            format!(
                "source:\n  type: replay\n  path: {path:?}\n  depth: {}\n  precision: {{{}}}\nhandlers:\n  - type: snapshot\n  - type: update\n  - type: checksum\n    on_mismatch: log\nsinks:\n  out:\n    type: file\n    path: {out_file:?}\n    events: [book_snapshot, book_update, checksum_mismatch]\n",
                fx["depth"],
                precision.join(", ")
            ),
        )
        .unwrap();
        let out = kobe(&["run", pipeline.to_str().unwrap()], dir.path());
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        summary(&out.stderr);
        for line in std::fs::read_to_string(&out_file).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            match v["type"].as_str().unwrap() {
                "checksum_mismatch" => mismatches += 1,
                _ if v["checksum"].is_u64() => {
                    assert_eq!(v["checksum_ok"], true, "{}: {line}", path.display());
                    verified += 1;
                }
                _ => {}
            }
            if let Some(levels) = v["bids"].as_array() {
                // Exact instrument digits: the float-mangled `0.1` comes out as `0.10000000`.
                let qp = fx["precision"][v["symbol"].as_str().unwrap()][1]
                    .as_u64()
                    .unwrap() as usize;
                for l in levels {
                    let qty = l[1].as_str().unwrap();
                    assert_eq!(qty.split('.').nth(1).map_or(0, str::len), qp, "{line}");
                }
            }
        }
    }
    assert_eq!(mismatches, 0);
    assert_eq!(verified, 5318);
}
