//! Replaying every v2 fixture through `kobe run` into file sinks loses nothing: every frame
//! comes out byte-identical in `raw` format, and in `json` format every event the frames hold
//! comes out once, in order.

mod common;

use common::cli::{kobe, summary};
use common::v2_fixtures;

/// The record types a frame must produce, derived from the frame independently of kobe.
fn expected_types(frame: &serde_json::Value) -> Vec<&'static str> {
    let n = |v: &serde_json::Value| v.as_array().map_or(0, Vec::len);
    match (frame["channel"].as_str(), frame["method"].as_str()) {
        (Some("book"), _) => {
            let t = if frame["type"] == "snapshot" {
                "book_snapshot"
            } else {
                "book_update"
            };
            vec![t; n(&frame["data"])]
        }
        (Some("heartbeat"), _) => vec!["heartbeat"],
        (Some("status"), _) => vec!["status"; n(&frame["data"])],
        (Some("instrument"), _) => vec!["instrument"; n(&frame["data"]["pairs"])],
        (None, Some("subscribe" | "unsubscribe")) => {
            vec![if frame["success"] == true {
                "subscription_ack"
            } else {
                "subscription_error"
            }]
        }
        _ => vec![],
    }
}

#[test]
fn every_v2_fixture_replays_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (i, (path, _)) in v2_fixtures().into_iter().enumerate() {
        let raw_out = dir.path().join(format!("{i}.raw.ndjson"));
        let json_out = dir.path().join(format!("{i}.json.ndjson"));
        let pipeline = dir.path().join(format!("{i}.yaml"));
        std::fs::write(
            &pipeline,
            format!(
                "source:\n  type: replay\n  path: {:?}\nhandlers:\n  - type: passthrough\nsinks:\n  raw:\n    type: file\n    path: {:?}\n    format: raw\n  json:\n    type: file\n    path: {:?}\n",
                path, raw_out, json_out
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

        let input = std::fs::read_to_string(&path).unwrap();
        let frames: Vec<&str> = input.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut want_raw = frames.join("\n");
        want_raw.push('\n');
        let got_raw = std::fs::read_to_string(&raw_out).unwrap();
        assert!(
            got_raw == want_raw,
            "{}: raw output differs from the input frames",
            path.display()
        );

        let want_types: Vec<&str> = frames
            .iter()
            .flat_map(|f| expected_types(&serde_json::from_str(f).unwrap()))
            .collect();
        let json = std::fs::read_to_string(&json_out).unwrap();
        let got_types: Vec<String> = json
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["v"], 1);
                v["type"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(got_types, want_types, "{}: json records", path.display());

        let s = summary(&out.stderr);
        assert_eq!(s["source"]["frames"], frames.len() as u64);
        assert_eq!(s["source"]["malformed"], 0);
        assert_eq!(s["sinks"]["raw"]["written"], frames.len() as u64);
        assert_eq!(s["sinks"]["json"]["written"], want_types.len() as u64);
        checked += 1;
    }
    assert_eq!(checked, 18);
}

#[test]
fn malformed_lines_are_counted_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    let mut bytes = b"{\"channel\":\"heartbeat\"}\nnot json at all\n\n{\"channel\":\"book\",\"type\":\"update\",\"data\":[{\"symbol\":\"A/B\",\"bids\":[{\"price\":\"x\",\"qty\":1}]}]}\n".to_vec();
    bytes.extend_from_slice(b"{\"channel\":\"heartbeat\xff\"}\n{\"channel\":\"heartbeat\"}");
    std::fs::write(&input, bytes).unwrap();
    let out_file = dir.path().join("out.ndjson");
    let pipeline = dir.path().join("p.yaml");
    std::fs::write(
        &pipeline,
        format!("source: {{type: replay, path: {input:?}}}\nsinks:\n  out: {{type: file, path: {out_file:?}}}\n"),
    )
    .unwrap();
    let out = kobe(
        &["--log", "warn", "run", pipeline.to_str().unwrap()],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("in.ndjson:2: skipped malformed frame"),
        "{stderr}"
    );
    assert!(
        stderr.contains("in.ndjson:4: skipped malformed frame"),
        "{stderr}"
    );
    assert!(
        stderr.contains("in.ndjson:5: skipped malformed frame: not UTF-8"),
        "{stderr}"
    );
    let s = summary(&out.stderr);
    assert_eq!(s["source"]["frames"], 5);
    assert_eq!(s["source"]["malformed"], 3);
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap().lines().count(),
        2
    );
}

#[test]
fn run_refuses_an_invalid_pipeline_before_touching_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("never.ndjson");
    let pipeline = dir.path().join("p.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "source: {{type: replay, path: in.ndjson, depth: 7}}\nsinks:\n  out: {{type: file, path: {out_file:?}}}\n"
        ),
    )
    .unwrap();
    let out = kobe(&["run", pipeline.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("p.yaml:1:48: source.depth: 7 is not a Kraken book depth"),
        "{stderr}"
    );
    assert!(stderr.contains("not started"), "{stderr}");
    assert!(
        !out_file.exists(),
        "a sink was built for an invalid pipeline"
    );
}
