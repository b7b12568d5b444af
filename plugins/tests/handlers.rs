//! The book handlers over hand-built batches, against a naive exchange model.

mod common;

use std::collections::HashMap;

use common::*;
use kobe_core::component::ControlRequest;
use kobe_core::event::{InstrumentInfo, ResetReason, SubscriptionMethod};
use kobe_core::{EventKind, HandlerConfig};
use kobe_plugins::checksum::OnMismatch;
use kobe_plugins::update::UpdateConfig;

fn deep_levels(n: usize, start: u32, step: i64, qty: &str) -> Vec<(String, String)> {
    (0..n as i64)
        .map(|i| (format!("{}.0", start as i64 + i * step), qty.to_string()))
        .collect()
}

fn refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(p, q)| (p.as_str(), q.as_str())).collect()
}

#[test]
fn thin_books_of_several_symbols_in_one_batch_all_verify() {
    let mut btc = Exchange::new("BTC/USD", 10, 1, 8);
    let mut eth = Exchange::new("ETH/USD", 10, 2, 8);
    let mut shard = Shard::new(10);
    let batch = vec![
        btc.instrument(),
        eth.instrument(),
        btc.snapshot(&[("100.0", "1.00000000")], &[("101.0", "0.50000000")]),
        eth.snapshot(&[("10.00", "2.00000000")], &[]),
        btc.update(&[("99.5", "0.10000000")], &[]),
        eth.update(&[], &[("10.50", "3.00000000")]),
        btc.update(&[("100.0", "0.00000000")], &[("101.0", "0.70000000")]),
    ];
    let out = shard.run(batch);
    assert_eq!(oks(&out), vec![Some(true); 5]);
    assert!(shard.control.is_empty());
    let book = shard.books.book(&sym("BTC/USD")).unwrap();
    assert_eq!(book.len(), (1, 1));
}

#[test]
fn depth_1000_books_verify_and_truncate() {
    let mut x = Exchange::new("XBT/EUR", 1000, 1, 8);
    let mut shard = Shard::new(10);
    let bids = deep_levels(1000, 50_000, -1, "1.00000000");
    let asks = deep_levels(1000, 60_000, 1, "2.00000000");
    let mut batch = vec![
        x.ack(),
        x.instrument(),
        x.snapshot(&refs(&bids), &refs(&asks)),
    ];
    // New best levels push the worst out of the window on both sides.
    for i in 0..50 {
        let b = format!("{}.5", 50_000 + i);
        let a = format!("{}.5", 59_998 - i);
        batch.push(x.update(&[(&b, "0.30000000")], &[(&a, "0.40000000")]));
    }
    let out = shard.run(batch);
    assert_eq!(oks(&out), vec![Some(true); 51]);
    let book = shard.books.book(&x.symbol).unwrap();
    assert_eq!(book.len(), (1000, 1000));
    assert_eq!(book.depth(), 1000);
}

#[test]
fn deleting_an_unknown_price_and_repeating_a_price_verify() {
    let mut x = Exchange::new("BTC/USD", 10, 1, 8);
    let mut shard = Shard::new(10);
    let out = shard.run(vec![
        x.instrument(),
        x.snapshot(
            &[("100.0", "1.00000000"), ("99.0", "1.00000000")],
            &[("101.0", "1.00000000")],
        ),
        x.update(&[("98.0", "0.00000000")], &[]),
        x.update(
            &[
                ("99.5", "1.00000000"),
                ("99.5", "2.00000000"),
                ("99.0", "0.00000000"),
                ("99.0", "3.00000000"),
            ],
            &[],
        ),
    ]);
    assert_eq!(oks(&out), vec![Some(true); 3]);
    let levels: Vec<String> = shard
        .books
        .book(&x.symbol)
        .unwrap()
        .bids()
        .map(|l| format!("{}@{}", l.price, l.qty))
        .collect();
    assert_eq!(
        levels,
        ["100.0@1.00000000", "99.5@2.00000000", "99.0@3.00000000"]
    );
}

/// Twenty levels a side in a depth-25 book, where the engine misses a change at rank 15: the
/// checksum only covers ranks 0..10, so the damage shows when the level climbs into the top 10.
#[test]
fn corruption_is_caught_when_it_enters_the_checksum_and_isolated_until_a_snapshot() {
    let mut x = Exchange::new("MINA/GBP", 25, 4, 8);
    let mut y = Exchange::new("ETH/USD", 10, 2, 8);
    let mut shard = Shard::new(25);
    let bids: Vec<(String, String)> = (0..20)
        .map(|i| (format!("0.{}", 3000 - i), "1.00000000".into()))
        .collect();
    let asks: Vec<(String, String)> = (0..20)
        .map(|i| (format!("0.{}", 4000 + i), "1.00000000".into()))
        .collect();
    let mut batch = vec![
        x.instrument(),
        y.instrument(),
        x.snapshot(&refs(&bids), &refs(&asks)),
        y.snapshot(&[("10.00", "1.00000000")], &[]),
    ];
    x.lose_update(&[("0.2985", "9.00000000")], &[]); // rank 15 of the bids
                                                     // Each delete of the best bid moves 0.2985 one rank up; it enters the top 10 at the 6th.
    for i in 0..6 {
        batch.push(x.update(&[(&format!("0.{}", 3000 - i), "0.00000000")], &[]));
        batch.push(y.update(&[(&format!("{}.00", 11 + i), "1.00000000")], &[]));
    }
    let out = shard.run(batch);
    let t = trace(&out);
    let mismatch_at = t
        .iter()
        .position(|l| l == "checksum_mismatch MINA/GBP")
        .unwrap();
    // The 6th MINA update (the 11th book event after the 2 snapshots... index by trace):
    let mina_updates_before = t[..mismatch_at]
        .iter()
        .filter(|l| *l == "book_update MINA/GBP")
        .count();
    assert_eq!(mina_updates_before, 6, "{t:#?}");
    assert_eq!(t[mismatch_at - 1], "book_update MINA/GBP");
    match &out[mismatch_at].kind {
        EventKind::ChecksumMismatch { expected, computed } => {
            assert_eq!(*expected, x.checksum());
            assert_ne!(expected, computed);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        shard.control,
        [ControlRequest::Resync {
            symbol: x.symbol,
            reason: ResetReason::Resync
        }]
    );
    assert_eq!(shard.books.stats.mismatches, 1);
    // The other symbol is untouched: every one of its checksums verified.
    let eth: Vec<_> = out
        .iter()
        .filter(|e| e.symbol == Some(y.symbol))
        .cloned()
        .collect();
    assert_eq!(oks(&eth), vec![Some(true); 7]);

    // Next batch: MINA updates are dropped until the fresh snapshot; then it verifies again.
    shard.control.clear();
    let out = shard.run(vec![
        x.update(&[("0.2970", "1.00000000")], &[]),
        y.update(&[("9.00", "1.00000000")], &[]),
        x.snapshot(&refs(&bids), &refs(&asks)),
        x.update(&[("0.3000", "0.00000000")], &[]),
    ]);
    assert_eq!(
        trace(&out),
        [
            "book_update ETH/USD",
            "book_snapshot MINA/GBP",
            "book_update MINA/GBP"
        ]
    );
    assert_eq!(oks(&out), vec![Some(true); 3]);
    assert!(shard.control.is_empty());
    assert!(shard.books.book(&x.symbol).is_some());
}

#[test]
fn later_book_events_of_a_mismatched_symbol_are_dropped_in_the_same_batch() {
    let mut x = Exchange::new("BTC/USD", 10, 1, 8);
    let mut shard = Shard::with(
        10,
        HashMap::new(),
        UpdateConfig { top: Some(2) },
        OnMismatch::Reconnect,
    );
    let snap = x.snapshot(&[("100.0", "1.00000000")], &[("101.0", "1.00000000")]);
    x.lose_update(&[("100.0", "2.00000000")], &[]);
    let bad = x.update(&[("99.0", "1.00000000")], &[]);
    let later = x.update(&[("98.0", "1.00000000")], &[]);
    let fresh = x.snapshot(&[("100.0", "1.00000000")], &[]);
    let after = x.update(&[("99.0", "1.00000000")], &[]);
    let out = shard.run(vec![x.instrument(), snap, bad, later, fresh, after]);
    assert_eq!(
        trace(&out),
        [
            "instrument BTC/USD",
            "book_snapshot BTC/USD",
            "book_top BTC/USD",
            "book_update BTC/USD",
            "checksum_mismatch BTC/USD",
            // the mismatched update's book_top and the next update are gone
            "book_snapshot BTC/USD",
            "book_top BTC/USD",
            "book_update BTC/USD",
            "book_top BTC/USD",
        ]
    );
    assert_eq!(oks(&out), [Some(true), Some(false), Some(true), Some(true)]);
    assert_eq!(
        shard.control,
        [ControlRequest::Reconnect { symbol: x.symbol }]
    );
    assert!(
        shard.books.book(&x.symbol).is_some(),
        "valid again after the fresh snapshot"
    );
}

#[test]
fn on_mismatch_log_requests_nothing_but_still_isolates() {
    let mut x = Exchange::new("BTC/USD", 10, 1, 8);
    let mut shard = Shard::with(10, HashMap::new(), UpdateConfig::default(), OnMismatch::Log);
    let snap = x.snapshot(&[("100.0", "1.00000000")], &[]);
    x.lose_update(&[("100.0", "2.00000000")], &[]);
    let bad = x.update(&[], &[("101.0", "1.00000000")]);
    let next = x.update(&[], &[("102.0", "1.00000000")]);
    let out = shard.run(vec![x.instrument(), snap, bad]);
    assert_eq!(oks(&out), [Some(true), Some(false)]);
    assert!(shard.control.is_empty());
    assert!(shard.run(vec![next]).is_empty());
    assert_eq!(shard.books.stats.dropped_updates, 1);
}

#[test]
fn a_resubscription_inside_one_batch_applies_in_order() {
    // Old subscription's update, unsubscribe, resubscribe, fresh snapshot, update: one batch.
    let mut x = Exchange::new("BTC/USD", 10, 1, 8);
    let mut shard = Shard::new(10);
    let first = shard.run(vec![
        x.instrument(),
        x.snapshot(&[("100.0", "1.00000000")], &[]),
    ]);
    assert_eq!(oks(&first), [Some(true)]);
    let out = shard.run(vec![
        x.update(&[("99.0", "1.00000000")], &[]),
        ack(x.symbol, SubscriptionMethod::Unsubscribe, None),
        x.update(&[("98.0", "1.00000000")], &[]), // in flight: no book, dropped
        x.ack(),
        x.snapshot(&[("200.0", "1.00000000")], &[("201.0", "1.00000000")]),
        x.update(&[("199.0", "1.00000000")], &[]),
    ]);
    assert_eq!(oks(&out), [Some(true), Some(true), Some(true)]);
    assert_eq!(shard.books.stats.dropped_updates, 1);
    assert_eq!(shard.books.book(&x.symbol).unwrap().len(), (2, 1));
}

#[test]
fn instrument_precision_change_drops_the_book_and_resyncs() {
    let mut x = Exchange::new("BTC/USD", 10, 1, 8);
    let mut shard = Shard::new(10);
    shard.run(vec![
        x.instrument(),
        x.snapshot(&[("100.0", "1.00000000")], &[]),
    ]);
    let out = shard.run(vec![
        instrument(x.symbol, 2, 8),
        x.update(&[("99.0", "1.00000000")], &[]),
    ]);
    assert_eq!(trace(&out), ["instrument BTC/USD"]);
    assert_eq!(
        shard.control,
        [ControlRequest::Resync {
            symbol: x.symbol,
            reason: ResetReason::PrecisionChange
        }]
    );
    assert!(shard.books.get(&x.symbol).unwrap().book.is_none());
}

#[test]
fn levels_are_rewritten_at_the_instrument_precision() {
    let mut hints = HashMap::new();
    hints.insert(
        sym("BTC/USD"),
        InstrumentInfo {
            price_precision: 1,
            qty_precision: 8,
        },
    );
    let mut shard = Shard::with(10, hints, UpdateConfig::default(), OnMismatch::Resync);
    let mut x = Exchange::new("BTC/USD", 10, 1, 8);
    // Re-serialised through floats, as some tools do; the checksum is the exchange's.
    let out = shard.run(vec![
        x.snapshot(&[("45283.5", "0.1")], &[("45285.2", "5.325e-05")]),
        x.update(&[("45283.0", "1e-08")], &[]),
    ]);
    assert_eq!(oks(&out), [Some(true), Some(true)]);
    let EventKind::BookSnapshot(d) = &out[0].kind else {
        panic!()
    };
    assert_eq!(d.bids[0].qty.to_string(), "0.10000000");
    assert_eq!(d.asks[0].qty.to_string(), "0.00005325");
    let EventKind::BookUpdate(d) = &out[1].kind else {
        panic!()
    };
    assert_eq!(d.bids[0].price.to_string(), "45283.0");
    assert_eq!(d.bids[0].qty.to_string(), "0.00000001");
}

#[test]
fn without_instrument_or_hints_the_tokens_set_the_precision() {
    let mut x = Exchange::new("GST/USD", 10, 3, 8);
    let mut shard = Shard::new(10);
    let out = shard.run(vec![
        x.snapshot(&[("0.010", "1.00000000")], &[("0.011", "2.50000000")]),
        x.update(&[("0.009", "1.00000000")], &[]),
    ]);
    assert_eq!(oks(&out), [Some(true), Some(true)]);
    assert_eq!(shard.books.book(&x.symbol).unwrap().precision(), (3, 8));
    // A finer token than the book's precision is refused, never rounded: resync.
    let mut finer = Exchange::new("GST/USD", 10, 4, 8);
    let out = shard.run(vec![finer.update(&[("0.0085", "1.00000000")], &[])]);
    assert!(out.is_empty());
    assert_eq!(shard.books.stats.precision_errors, 1);
    assert!(matches!(
        shard.control[..],
        [ControlRequest::Resync {
            reason: ResetReason::PrecisionChange,
            ..
        }]
    ));
}

#[test]
fn updates_without_a_book_are_dropped_and_counted() {
    let mut x = Exchange::new("BTC/USD", 10, 1, 8);
    let mut shard = Shard::new(10);
    x.snapshot(&[("100.0", "1.00000000")], &[]);
    let out = shard.run(vec![x.update(&[("99.0", "1.00000000")], &[])]);
    assert!(out.is_empty());
    assert_eq!(shard.books.stats.dropped_updates, 1);
    // A book_reset voids a book just like an unsubscribe.
    shard.run(vec![x.snapshot(&[("100.0", "1.00000000")], &[])]);
    let reset = kobe_core::Event::new(
        Some(x.symbol),
        kobe_core::Timestamp(2),
        EventKind::BookReset {
            reason: ResetReason::Reconnect,
        },
    );
    let out = shard.run(vec![reset, x.update(&[("99.0", "1.00000000")], &[])]);
    assert_eq!(trace(&out), ["book_reset BTC/USD"]);
}

#[test]
fn book_top_follows_each_snapshot_and_update_with_the_best_levels() {
    let mut x = Exchange::new("BTC/USD", 10, 1, 8);
    let mut shard = Shard::with(
        10,
        HashMap::new(),
        UpdateConfig { top: Some(1) },
        OnMismatch::Resync,
    );
    let out = shard.run(vec![
        x.instrument(),
        x.snapshot(
            &[("100.0", "1.00000000"), ("99.0", "1.00000000")],
            &[("101.0", "1.00000000")],
        ),
        x.update(&[("100.5", "2.00000000")], &[]),
    ]);
    let EventKind::BookTop(top) = &out[2].kind else {
        panic!("{:?}", trace(&out))
    };
    assert_eq!(top.bids.len(), 1);
    assert_eq!(top.bids[0].price.to_string(), "100.0");
    assert_eq!(top.asks[0].price.to_string(), "101.0");
    let EventKind::BookTop(top) = &out[4].kind else {
        panic!("{:?}", trace(&out))
    };
    assert_eq!(top.bids.len(), 1);
    assert_eq!(top.bids[0].price.to_string(), "100.5");
    assert_eq!(top.asks[0].price.to_string(), "101.0");
}

#[test]
fn configs_validate_and_refuse_unknown_fields() {
    let bad_top: UpdateConfig = serde_json::from_str(r#"{"top":0}"#).unwrap();
    assert_eq!(bad_top.validate()[0].path, "top");
    let debug: kobe_plugins::debug::DebugConfig =
        serde_json::from_str(r#"{"every":0,"summary_interval":100000,"level":"warn"}"#).unwrap();
    let paths: Vec<String> = debug.validate().into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["every", "summary_interval"]);
    assert!(
        serde_json::from_str::<kobe_plugins::checksum::ChecksumConfig>(
            r#"{"on_mismatch":"explode"}"#
        )
        .is_err()
    );
    assert!(serde_json::from_str::<kobe_plugins::snapshot::SnapshotConfig>(r#"{"x":1}"#).is_err());
    let c: kobe_plugins::checksum::ChecksumConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(c.on_mismatch, OnMismatch::Resync);
}

#[test]
fn every_handler_is_registered() {
    let mut r = kobe_core::registry::Registry::new();
    kobe_plugins::register(&mut r);
    let names = r.names(kobe_core::component::ComponentKind::Handler);
    for n in ["checksum", "debug", "snapshot", "update"] {
        assert!(names.contains(&n), "{n}");
    }
}
