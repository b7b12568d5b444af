//! The shared conformance harness every component passes (built-in or yours): build it, feed
//! it one event of every kind, and check the promises the engine relies on.
//!
//! ```no_run
//! # async fn demo(config: &dyn kobe_core::SinkConfig) {
//! kobe_core::testing::check_sink(config).await.unwrap();
//! # }
//! ```

use bytes::Bytes;

use crate::book::BookStore;
use crate::component::{HandlerConfig, HandlerContext, SinkConfig};
use crate::decimal::Decimal;
use crate::event::{
    BookData, BookTop, Event, EventBatch, EventFilter, EventKind, EventType, InstrumentInfo, Level,
    ResetReason, StatusInfo, SubscriptionInfo, SubscriptionMethod,
};
use crate::symbol::Symbol;
use crate::time::Timestamp;

/// One event of every kind, in a plausible order, for symbol `TEST/USD`.
pub fn sample_events() -> Vec<Event> {
    let sym = Symbol::new("TEST/USD").ok();
    let lvl = |p: u128, q: u128| Level {
        price: Decimal::new(p, 1).unwrap_or_default(),
        qty: Decimal::new(q, 8).unwrap_or_default(),
    };
    let book = BookData {
        bids: vec![lvl(1000, 150_000_000)],
        asks: vec![lvl(1001, 250_000_000)],
        ..BookData::default()
    };
    let ack = SubscriptionInfo {
        method: SubscriptionMethod::Subscribe,
        channel: "book".into(),
        depth: Some(10),
        req_id: Some(1),
        error: None,
    };
    let kinds = vec![
        EventKind::Raw(Bytes::from_static(b"{\"channel\":\"heartbeat\"}")),
        EventKind::Status(StatusInfo {
            system: "online".into(),
            api_version: "v2".into(),
            connection_id: Some(u64::MAX),
            version: "2.0.10".into(),
        }),
        EventKind::Instrument(InstrumentInfo {
            price_precision: 1,
            qty_precision: 8,
        }),
        EventKind::SubscriptionAck(ack.clone()),
        EventKind::BookSnapshot(book.clone()),
        EventKind::BookUpdate(book.clone()),
        EventKind::BookTop(BookTop {
            bids: book.bids.clone(),
            asks: book.asks.clone(),
        }),
        EventKind::ChecksumMismatch {
            expected: 1,
            computed: 2,
        },
        EventKind::BookReset {
            reason: ResetReason::Resync,
        },
        EventKind::SubscriptionError(SubscriptionInfo {
            error: Some("Currency pair not supported".into()),
            ..ack
        }),
        EventKind::Heartbeat,
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let symbol = match kind {
                EventKind::Raw(_) | EventKind::Status(_) | EventKind::Heartbeat => None,
                _ => sym,
            };
            let mut e = Event::new(
                symbol,
                Timestamp(1_700_000_000_000_000_000 + i as i64),
                kind,
            );
            e.seq = i as u64 + 1;
            e
        })
        .collect()
}

fn sample_batch() -> EventBatch {
    let mut batch = EventBatch::default();
    for e in sample_events() {
        batch.push(e);
    }
    batch
}

/// Checks a sink: it builds; writes nothing for an empty filter; writes one record per event its
/// default events accept, except those its closing report counts as `not_written`; flushes;
/// and its own identities hold.
pub async fn check_sink(config: &dyn SinkConfig) -> Result<(), String> {
    let mut sink = config
        .build("conformance")
        .await
        .map_err(|e| format!("build: {e}"))?;
    let batch = sample_batch();
    let none = sink
        .write(&batch, EventFilter::NONE)
        .await
        .map_err(|e| format!("write: {e}"))?;
    if none != 0 {
        return Err(format!("wrote {none} records for an empty filter"));
    }
    let filter = config.default_events();
    let accepted = batch
        .events
        .iter()
        .filter(|e| filter.accepts(e.event_type()))
        .count() as u64;
    let written = sink
        .write(&batch, filter)
        .await
        .map_err(|e| format!("write: {e}"))?;
    if written == 0 || written > accepted {
        return Err(format!(
            "wrote {written} records for {accepted} accepted events"
        ));
    }
    let empty = sink
        .write(&EventBatch::default(), filter)
        .await
        .map_err(|e| format!("write of an empty batch: {e}"))?;
    if empty != 0 {
        return Err(format!("wrote {empty} records for an empty batch"));
    }
    sink.flush().await.map_err(|e| format!("flush: {e}"))?;
    let report = sink.close().await.map_err(|e| format!("close: {e}"))?;
    // The engine's identity for the sink: every accepted event written or said not to be.
    let not_written: u64 = report.not_written.values().sum();
    if written + not_written != accepted {
        return Err(format!(
            "wrote {written} records and reported {not_written} not written for {accepted} accepted events"
        ));
    }
    crate::accounting::check(&report.identities)
        .map_err(|e| format!("close reported broken identities: {e}"))
}

/// Checks a handler: it builds; survives an empty batch, a batch of every kind and its ticks;
/// and passes on, in order, the events that are not its business (raw frames, status,
/// heartbeats), so nothing accepted is lost.
pub fn check_handler(config: &dyn HandlerConfig) -> Result<(), String> {
    let mut handler = config.build().map_err(|e| format!("build: {e}"))?;
    let mut books = BookStore::default();
    let mut control = Vec::new();
    let mut cx = HandlerContext::new(&mut books, &mut control, 0, 1);
    let mut empty = EventBatch::default();
    handler
        .process(&mut empty, &mut cx)
        .map_err(|e| format!("empty batch: {e}"))?;
    if !empty.is_empty() {
        return Err("invented events from an empty batch".into());
    }
    let mut batch = sample_batch();
    // Errors are allowed (the engine reports them); losing unrelated events is not.
    let _ = handler.process(&mut batch, &mut cx);
    let kept = |b: &EventBatch| -> Vec<(EventType, i64)> {
        b.events
            .iter()
            .filter(|e| {
                matches!(
                    e.event_type(),
                    EventType::Raw | EventType::Status | EventType::Heartbeat
                )
            })
            .map(|e| (e.event_type(), e.received_ts.0))
            .collect()
    };
    if kept(&batch) != kept(&sample_batch()) {
        return Err("dropped or reordered raw, status or heartbeat events".into());
    }
    handler.tick(&mut cx, false);
    handler.tick(&mut cx, true);
    Ok(())
}
