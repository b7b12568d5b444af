//! The replay source cuts lines from large reads: lines that straddle two reads, a line longer
//! than a whole read, and a last line without a newline all come through whole, and `raw`
//! events carry each frame byte for byte.

use kobe_core::bus::SourceOutput;
use kobe_core::component::{SourceConfig, SourceContext, SourceReport};
use kobe_core::event::{Event, EventKind};
use kobe_core::replay::{Pace, ReplayConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

async fn replay(path: &std::path::Path) -> (Vec<Event>, SourceReport) {
    let cfg = ReplayConfig {
        path: path.to_path_buf(),
        pace: Pace::Fast,
        depth: 10,
        precision: Default::default(),
        repeat: 1,
    };
    let source = cfg.build().await.unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let (_ctl, control) = mpsc::unbounded_channel();
    let cx = SourceContext {
        output: SourceOutput::new(vec![tx], 256),
        control,
        shutdown: CancellationToken::new(),
        emit_raw: true,
    };
    let task = tokio::spawn(source.run(cx));
    let mut events = Vec::new();
    while let Some(b) = rx.recv().await {
        events.extend(b.events);
    }
    (events, task.await.unwrap().unwrap())
}

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

    let (events, report) = replay(&path).await;
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
