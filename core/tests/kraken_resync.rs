//! Resyncing one symbol (control channel, checksum mismatch, precision change, missing
//! snapshot) leaves the other symbols flowing, and ends with books equal to the exchange's.

mod kraken_support;

use std::collections::HashSet;

use kobe_core::component::ControlRequest;
use kobe_core::event::{EventKind, ResetReason};
use kobe_core::kraken::simulator::{Fault, SimConfig};
use kraken_support::*;

#[tokio::test]
async fn resync_of_one_symbol_leaves_the_others_flowing() {
    let (sim, _stop) = sim(SimConfig {
        symbols: 5,
        ..SimConfig::default()
    })
    .await;
    let s = syms(&["S000/USD", "S001/USD", "S002/USD"]);
    let mut run = start(&fast(&sim.url(), &s, 25), false).await;
    let mut books = Books::new(25);
    run.until(&mut books, |_, b| b.books.len() == 3).await;
    let before = run.seen.len();
    run.control
        .send(ControlRequest::Resync {
            symbol: s[0],
            reason: ResetReason::Resync,
        })
        .unwrap();
    run.until(&mut books, |e, _| {
        e.symbol == Some(s[0]) && matches!(e.kind, EventKind::BookSnapshot(_))
    })
    .await;
    // The others keep updating after the resync, on the same subscription.
    let mut updated = HashSet::new();
    run.until(&mut books, |e, _| {
        if matches!(e.kind, EventKind::BookUpdate(_)) && e.symbol != Some(s[0]) {
            updated.insert(e.symbol.unwrap());
        }
        updated.len() == 2
    })
    .await;
    let after = &run.seen[before..];
    assert_eq!(
        count(after, s[0], |k| matches!(
            k,
            EventKind::BookReset {
                reason: ResetReason::Resync
            }
        )),
        1
    );
    for other in &s[1..] {
        assert_eq!(
            count(after, *other, |k| matches!(k, EventKind::BookReset { .. })),
            0
        );
        assert_eq!(
            count(after, *other, |k| matches!(k, EventKind::BookSnapshot(_))),
            0
        );
    }
    let st = sim.stats();
    assert_eq!((st.unsubscribes, st.subscribes, st.connections), (1, 4, 1));
    sim.pause(true);
    run.until(&mut books, |_, b| b.equal_to_sim(&sim, &s, 25))
        .await;
    assert!(books.mismatches.is_empty());
    assert_no_update_between_reset_and_snapshot(&run.seen);
    run.finish().await.unwrap();
}

#[tokio::test]
async fn checksum_mismatch_resync_and_precision_change_end_in_equal_books() {
    let (sim, _stop) = sim(SimConfig {
        symbols: 4,
        ..SimConfig::default()
    })
    .await;
    let s = syms(&["S000/USD", "S001/USD", "S002/USD", "S003/USD"]);
    let mut run = start(&fast(&sim.url(), &s, 10), false).await;
    run.auto_resync = true;
    let mut books = Books::new(10);
    run.until(&mut books, |_, b| b.books.len() == 4).await;
    sim.inject(Fault::CorruptChecksum);
    run.until(&mut books, |e, _| {
        matches!(
            e.kind,
            EventKind::BookReset {
                reason: ResetReason::Resync
            }
        )
    })
    .await;
    let old = books.precision[&s[1]];
    sim.inject(Fault::PrecisionChange(Some(s[1])));
    run.until(&mut books, |e, _| {
        e.symbol == Some(s[1])
            && matches!(
                e.kind,
                EventKind::BookReset {
                    reason: ResetReason::PrecisionChange
                }
            )
    })
    .await;
    run.until(&mut books, |e, _| {
        e.symbol == Some(s[1]) && matches!(e.kind, EventKind::BookSnapshot(_))
    })
    .await;
    assert_ne!(books.precision[&s[1]], old);
    sim.pause(true);
    run.until(&mut books, |_, b| {
        b.books.len() == 4 && b.equal_to_sim(&sim, &s, 10)
    })
    .await;
    assert_eq!(
        books.mismatches.len(),
        1,
        "only the corrupted checksum fails"
    );
    assert_eq!(sim.stats().corrupted, 1);
    assert_no_update_between_reset_and_snapshot(&run.seen);
    run.finish().await.unwrap();
}

#[tokio::test]
async fn acked_subscription_without_snapshot_is_retried_and_reported() {
    let (sim, _stop) = sim(SimConfig {
        symbols: 3,
        ..SimConfig::default()
    })
    .await;
    let s = syms(&["S000/USD", "S001/USD"]);
    sim.inject(Fault::WithholdSnapshots(s[0], true));
    let mut cfg = fast(&sim.url(), &s, 10);
    cfg.snapshot_timeout_ms = 300;
    let mut run = start(&cfg, false).await;
    let mut books = Books::new(10);
    let err = run
        .until(&mut books, |e, _| {
            e.symbol == Some(s[0])
                && matches!(&e.kind, EventKind::SubscriptionError(i) if i.error.as_deref().unwrap_or("").contains("no snapshot"))
        })
        .await;
    let EventKind::SubscriptionError(info) = &err.kind else {
        unreachable!()
    };
    assert!(
        info.error.as_deref().unwrap_or("").contains("no snapshot"),
        "{info:?}"
    );
    assert!(
        books.books.contains_key(&s[1])
            || run
                .seen
                .iter()
                .any(|e| e.symbol == Some(s[1]) && matches!(e.kind, EventKind::BookSnapshot(_)))
    );
    // Once the exchange behaves, the symbol recovers without a restart.
    sim.inject(Fault::WithholdSnapshots(s[0], false));
    run.until(&mut books, |e, _| {
        e.symbol == Some(s[0]) && matches!(e.kind, EventKind::BookSnapshot(_))
    })
    .await;
    run.finish().await.unwrap();
}
