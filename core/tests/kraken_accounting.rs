//! The source's frame accounting against the simulator: `frames = decoded + malformed +
//! stale_dropped` holds through faults, and the simulator's count of malformed frames is what
//! the source saw. A stalled connection sends nothing, so a malformed frame injected while it
//! is stalled is neither sent nor counted by the simulator (it used to be counted, which is
//! where "the simulator injected 8, kobe counted 6" came from).

mod kraken_support;

use std::time::Duration;

use kobe_core::event::{EventKind, ResetReason};
use kobe_core::kraken::simulator::{Fault, SimConfig};
use kraken_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_sent_are_malformed_frames_counted() {
    let (sim, _stop) = sim(SimConfig {
        symbols: 4,
        tick: Duration::from_millis(10),
        ..SimConfig::default()
    })
    .await;
    let s: Vec<_> = sim.symbols().iter().map(|x| x.0).collect();
    let cfg = fast(&sim.url(), &s, 10);
    let mut run = start(&cfg, false).await;
    let mut books = Books::new(10);
    run.until(&mut books, |_, b| b.books.len() == 4).await;

    // One malformed frame on a live connection: sent, and seen.
    sim.inject(Fault::MalformedFrame);
    // Then a stall, and another malformed frame while stalled: not sent, so not counted.
    sim.inject(Fault::Stall);
    sim.inject(Fault::MalformedFrame);
    // The source notices the silence, reconnects, and gets every book back; by then it has
    // read everything the stalled connection sent before going silent.
    run.until(&mut books, |e, _| {
        matches!(
            e.kind,
            EventKind::BookReset {
                reason: ResetReason::Reconnect
            }
        )
    })
    .await;
    run.until(&mut books, |_, b| b.books.len() == 4).await;
    let st = sim.stats();
    assert_eq!(st.stalls, 1);
    let report = run.finish().await.unwrap();
    assert_eq!(
        (report.malformed, st.malformed),
        (1, 1),
        "malformed frames seen by the source vs sent by the simulator"
    );
    assert_eq!(
        report.frames,
        report.decoded + report.malformed + report.stale_dropped,
        "{report:?}"
    );
}
