//! 50 symbols at depth 25 over several connections, every fault the simulator has injected at
//! least once: the source keeps running, reconnects or resyncs, and at the end every book
//! equals the simulator's. Only the deliberately corrupted checksum ever fails.

mod kraken_support;

use std::collections::HashSet;
use std::time::Duration;

use kobe_core::event::{EventKind, ResetReason};
use kobe_core::kraken::simulator::{Fault, SimConfig};
use kraken_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_symbols_survive_every_fault() {
    let (sim, _stop) = sim(SimConfig {
        symbols: 60,
        tick: Duration::from_millis(10),
        updates_per_tick: 10,
        book_levels: 80,
        ..SimConfig::default()
    })
    .await;
    let names: Vec<String> = (0..50).map(|i| format!("S{i:03}/USD")).collect();
    let s: Vec<_> = names
        .iter()
        .map(|n| kobe_core::Symbol::new(n).unwrap())
        .collect();
    let mut cfg = fast(&sim.url(), &s, 25);
    cfg.symbols_per_connection = 20;
    let mut run = start(&cfg, false).await;
    run.auto_resync = true;
    let mut books = Books::new(25);
    let all_live = |b: &Books| b.books.len() == 50;
    run.until(&mut books, |_, b| all_live(b)).await;
    assert_eq!(
        sim.stats().connections,
        3,
        "50 symbols at 20 per connection"
    );

    sim.inject(Fault::MultiSymbolFrame);
    run.until(&mut books, |_, _| sim.stats().multi_symbol_frames >= 1)
        .await;

    sim.inject(Fault::MalformedFrame);
    run.until(&mut books, |_, _| sim.stats().malformed >= 1)
        .await;

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
    run.until(&mut books, |_, b| all_live(b)).await;

    sim.inject(Fault::PrecisionChange(Some(s[7])));
    run.until(&mut books, |e, _| {
        matches!(
            e.kind,
            EventKind::BookReset {
                reason: ResetReason::PrecisionChange
            }
        )
    })
    .await;
    run.until(&mut books, |_, b| all_live(b)).await;

    // The reconnect's resubscription of one pair is throttled once, then retried.
    sim.inject(Fault::RejectNext(s[3], "Exceeded msg rate".into()));
    sim.inject(Fault::Disconnect);
    let mut reset = HashSet::new();
    run.until(&mut books, |e, _| {
        if matches!(
            e.kind,
            EventKind::BookReset {
                reason: ResetReason::Reconnect
            }
        ) {
            reset.insert(e.symbol);
        }
        reset.len() == 50
    })
    .await;
    run.until(&mut books, |_, b| all_live(b)).await;

    sim.inject(Fault::Stall);
    reset.clear();
    run.until(&mut books, |e, _| {
        if matches!(
            e.kind,
            EventKind::BookReset {
                reason: ResetReason::Reconnect
            }
        ) {
            reset.insert(e.symbol);
        }
        reset.len() == 50
    })
    .await;
    run.until(&mut books, |_, b| all_live(b)).await;

    let st = sim.stats();
    assert!(st.disconnects >= 1 && st.stalls >= 1 && st.corrupted == 1 && st.malformed >= 1);
    assert!(st.precision_changes == 1 && st.multi_symbol_frames >= 1 && st.rejected == 1);
    sim.pause(true);
    run.until(&mut books, |_, b| {
        all_live(b) && b.equal_to_sim(&sim, &s, 25)
    })
    .await;
    assert_eq!(
        books.mismatches.len(),
        1,
        "only the corrupted checksum fails: {:?}",
        books.mismatches
    );
    assert_no_update_between_reset_and_snapshot(&run.seen);
    let report = run.finish().await.unwrap();
    assert!(report.malformed >= 1, "{report:?}");
}
