//! The replay source cuts lines from large reads: lines that straddle two reads, a line longer
//! than a whole read, and a last line without a newline all come through whole, and `raw`
//! events carry each frame byte for byte.

mod kraken_support;

use kobe_core::event::EventKind;
use kraken_support::replay_file;

#[tokio::test]
async fn lines_across_reads_long_lines_and_a_last_line_without_newline() {
    // Heartbeats padded to different lengths, so that read boundaries (1 MiB) fall inside
    // lines; one 3 MiB line (truncated JSON: counted once as malformed, not cut in pieces); a last
    // heartbeat with no newline.
    let mut lines: Vec<String> = (0..40_000)
        .map(|i| format!("{{\"channel\":\"heartbeat\"{}}}", " ".repeat(i % 97)))
        .collect();
    lines.insert(
        20_000,
        format!(
            "{{\"channel\":\"heartbeat\",\"pad\":\"{}\"",
            "a".repeat(3 << 20)
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frames.ndjson");
    std::fs::write(&path, lines.join("\n")).unwrap();

    let (events, report) = replay_file(&path, true).await;
    assert_eq!(report.frames, 40_001);
    assert_eq!(report.malformed, 1, "only the long line is malformed");
    let raw: Vec<&[u8]> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Raw(b) => Some(&b[..]),
            _ => None,
        })
        .collect();
    let want: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    assert!(
        raw == want,
        "raw events must be the lines, whole and in order"
    );
    let heartbeats = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Heartbeat))
        .count();
    assert_eq!(heartbeats, 40_000);
}
