//! Lost connections come back: resubscribed, a `book_reset` per symbol, fresh snapshots, and
//! nothing of the old subscription merged into the new books.

mod kraken_support;

use std::time::Duration;

use kobe_core::event::{EventKind, ResetReason};
use kobe_core::kraken::simulator::{Fault, SimConfig};
use kraken_support::*;

async fn recovers_from(fault: Fault) {
    let (sim, _stop) = sim(SimConfig {
        symbols: 5,
        ..SimConfig::default()
    })
    .await;
    let s = syms(&["S000/USD", "S001/USD", "S002/USD"]);
    let mut run = start(&fast(&sim.url(), &s, 10), false).await;
    let mut books = Books::new(10);
    run.until(&mut books, |_, b| b.books.len() == 3).await;
    let before = run.seen.len();
    sim.inject(fault);
    // Every symbol is reset, then snapshotted again on the new connection.
    let mut reset = std::collections::HashSet::new();
    run.until(&mut books, |e, _| {
        if matches!(
            e.kind,
            EventKind::BookReset {
                reason: ResetReason::Reconnect
            }
        ) {
            reset.insert(e.symbol.unwrap());
        }
        reset.len() == 3
    })
    .await;
    run.until(&mut books, |_, b| b.books.len() == 3).await;
    let after = &run.seen[before..];
    for sym in &s {
        assert_eq!(
            count(after, *sym, |k| matches!(k, EventKind::BookReset { .. })),
            1,
            "{sym}"
        );
        assert_eq!(
            count(after, *sym, |k| matches!(k, EventKind::BookSnapshot(_))),
            1,
            "{sym}"
        );
    }
    assert_eq!(sim.stats().connections, 2);
    sim.pause(true);
    run.until(&mut books, |_, b| b.equal_to_sim(&sim, &s, 10))
        .await;
    assert!(
        books.mismatches.is_empty(),
        "checksum mismatches: {:?}",
        books.mismatches
    );
    assert_no_update_between_reset_and_snapshot(&run.seen);
    run.finish().await.unwrap();
}

#[tokio::test]
async fn reconnects_after_the_server_drops_the_socket() {
    recovers_from(Fault::Disconnect).await;
}

#[tokio::test]
async fn reconnects_after_the_server_goes_silent() {
    recovers_from(Fault::Stall).await;
}

#[tokio::test]
async fn idle_connections_are_kept_alive_with_pings() {
    // No market ticks and heartbeats slower than the stall timeout: only pongs keep it alive.
    let (sim, _stop) = sim(SimConfig {
        symbols: 2,
        tick: Duration::from_secs(3600),
        heartbeat: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await;
    let s = syms(&["S000/USD"]);
    let run = start(&fast(&sim.url(), &s, 10), false).await;
    let (stats, ok) = sim.wait_for(WAIT, |st| st.pongs >= 6).await;
    assert!(ok, "{stats:?}");
    assert_eq!(
        stats.connections, 1,
        "an idle but answering connection is not dropped"
    );
    run.finish().await.unwrap();
}

#[tokio::test]
async fn reconnect_request_recycles_only_that_symbols_connection() {
    let (sim, _stop) = sim(SimConfig {
        symbols: 3,
        ..SimConfig::default()
    })
    .await;
    let s = syms(&["S000/USD", "S001/USD"]);
    let mut cfg = fast(&sim.url(), &s, 10);
    cfg.symbols_per_connection = 1;
    let mut run = start(&cfg, false).await;
    let mut books = Books::new(10);
    run.until(&mut books, |_, b| b.books.len() == 2).await;
    let before = run.seen.len();
    run.control
        .send(kobe_core::component::ControlRequest::Reconnect { symbol: s[1] })
        .unwrap();
    run.until(&mut books, |e, _| {
        e.symbol == Some(s[1]) && matches!(e.kind, EventKind::BookSnapshot(_))
    })
    .await;
    run.until(&mut books, |e, _| {
        e.symbol == Some(s[0]) && matches!(e.kind, EventKind::BookUpdate(_))
    })
    .await;
    let after = &run.seen[before..];
    assert_eq!(
        count(after, s[1], |k| matches!(
            k,
            EventKind::BookReset {
                reason: ResetReason::Reconnect
            }
        )),
        1
    );
    assert_eq!(
        count(after, s[0], |k| matches!(k, EventKind::BookReset { .. })),
        0
    );
    assert_eq!(
        sim.stats().connections,
        3,
        "two connections, one of them redone"
    );
    assert_no_update_between_reset_and_snapshot(&run.seen);
    run.finish().await.unwrap();
}
