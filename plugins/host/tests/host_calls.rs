//! What a handler plugin does through the host reaches the engine: records it emits land right
//! after the events they follow, with their symbol and timestamps; resync requests reach the
//! control queue; a failed or panicking call leaves the batch and the queue untouched.

use kobe_core::book::BookStore;
use kobe_core::component::{ControlRequest, HandlerFault};
use kobe_core::event::ResetReason;
use kobe_core::{Event, EventBatch, EventKind, HandlerConfig, HandlerContext, Symbol, Timestamp};
use kobe_plugin_host::LinkedHandlerConfig;
use kobe_test_plugin_faulty::Faulty;

fn batch(n: usize) -> EventBatch {
    let mut b = EventBatch::default();
    for i in 0..n {
        let symbol = Symbol::new(if i % 2 == 0 { "BTC/USD" } else { "ETH/USD" }).unwrap();
        let mut e = Event::new(
            Some(symbol),
            Timestamp(1_000 + i as i64),
            EventKind::Heartbeat,
        );
        e.exchange_ts = Some(Timestamp(500 + i as i64));
        b.push(e);
    }
    b
}

fn faulty(config: serde_json::Value) -> Box<dyn kobe_core::Handler> {
    let c: LinkedHandlerConfig<Faulty> =
        serde_json::from_value(serde_json::json!({ "config": config })).unwrap();
    c.build().unwrap()
}

#[test]
fn emitted_records_and_resyncs_reach_the_engine() {
    let mut h = faulty(serde_json::json!({"resync": "ETH/USD"}));
    let mut books = BookStore::default();
    let mut control = Vec::new();
    let mut b = batch(3);
    h.process(
        &mut b,
        &mut HandlerContext::new(&mut books, &mut control, 0, 1),
    )
    .unwrap();
    assert_eq!(
        control,
        [ControlRequest::Resync {
            symbol: Symbol::new("ETH/USD").unwrap(),
            reason: ResetReason::Resync
        }]
    );
    assert_eq!(b.len(), 6);
    for pair in b.events.chunks(2) {
        let (source, record) = (&pair[0], &pair[1]);
        assert!(matches!(source.kind, EventKind::Heartbeat));
        let EventKind::Plugin(r) = &record.kind else {
            panic!("{record:?}")
        };
        assert_eq!(&*r.plugin, "faulty");
        assert!(r.data.starts_with("{\"n\":"), "{}", r.data);
        assert_eq!(record.symbol, source.symbol);
        assert_eq!(record.exchange_ts, source.exchange_ts);
        assert_eq!(record.received_ts, source.received_ts);
    }
}

#[test]
fn a_panic_leaves_the_batch_and_the_control_queue_as_they_were() {
    let mut h = faulty(serde_json::json!({"resync": "ETH/USD", "panic_on_batch": 1}));
    let mut books = BookStore::default();
    let mut control = Vec::new();
    let mut b = batch(4);
    let before = b.events.clone();
    let err = h
        .process(
            &mut b,
            &mut HandlerContext::new(&mut books, &mut control, 0, 1),
        )
        .unwrap_err();
    let fault = err.downcast_ref::<HandlerFault>().expect("a HandlerFault");
    assert!(fault.panicked && !fault.stop);
    assert!(
        fault.message.contains("deliberate panic in batch 1"),
        "{}",
        fault.message
    );
    assert_eq!(b.events, before);
    assert!(control.is_empty());
    // The instance goes on with the next batch.
    h.process(
        &mut b,
        &mut HandlerContext::new(&mut books, &mut control, 0, 1),
    )
    .unwrap();
    assert_eq!(b.len(), 8);
}
