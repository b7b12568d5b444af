//! The debug handler logs a sample of events and book summaries through `tracing`.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use kobe_core::{EventBatch, HandlerConfig, HandlerContext, Timestamp};
use kobe_plugins::debug::DebugConfig;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn samples_every_nth_event_and_summarises_at_the_level_asked() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let config: DebugConfig =
            serde_json::from_str(r#"{"level":"warn","every":2,"summary_interval":1}"#).unwrap();
        let mut handler = config.build().unwrap();
        let mut shard = Shard::new(10);
        let mut x = Exchange::new("BTC/USD", 10, 1, 8);
        let events = shard.run(vec![
            x.instrument(),
            x.snapshot(&[("100.0", "1.00000000")], &[]),
            x.update(&[("99.0", "1.00000000")], &[]),
            x.update(&[("98.0", "1.00000000")], &[]),
        ]);
        let mut batch = EventBatch::default();
        for e in events {
            batch.push(e);
        }
        let mut cx = HandlerContext {
            books: &mut shard.books,
            control: &mut shard.control,
            shard: 0,
            shards: 1,
            now: Timestamp(0),
            can_resync: true,
        };
        handler.process(&mut batch, &mut cx).unwrap();
        assert_eq!(batch.len(), 4, "the batch is left alone");
        handler.tick(&mut cx, false); // starts the clock
        cx.now = Timestamp(2_000_000_000);
        handler.tick(&mut cx, false); // 2 s later: due
        handler.tick(&mut cx, true);
    });
    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let events: Vec<&&str> = lines.iter().filter(|l| l.contains("event ")).collect();
    // Events 0 and 2 of 4 (instrument, first update), at WARN.
    assert_eq!(events.len(), 2, "{text}");
    assert!(events.iter().all(|l| l.contains("WARN")));
    assert!(
        events[0].contains("kind=\"instrument\"") || events[0].contains("kind=instrument"),
        "{text}"
    );
    let summaries: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("book summary"))
        .collect();
    assert_eq!(summaries.len(), 2, "{text}");
    assert!(
        summaries[0].contains("books=1") && summaries[0].contains("updates=2"),
        "{text}"
    );
    assert!(summaries[1].contains("final book summary"), "{text}");
}
