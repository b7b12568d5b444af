//! End to end against the simulator with injected checksum corruption: every mismatch is
//! detected and reported once, the symbol is resynced (`book_reset` with reason `resync`), its
//! book comes back valid, and the other symbols keep flowing meanwhile.

mod common;

use std::time::Duration;

use async_trait::async_trait;
use kobe_core::component::{HandlerConfig, SinkConfig};
use kobe_core::event::ResetReason;
use kobe_core::kraken::simulator::{self, Fault, SimConfig};
use kobe_core::kraken::{KrakenSourceConfig, ReconnectConfig};
use kobe_core::pipeline::EngineOptions;
use kobe_core::{ComponentError, EventBatch, EventFilter, EventKind, Sink, SinkReport, Symbol};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the test needs of each record.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Book { symbol: Symbol, ok: Option<bool> },
    Mismatch(Symbol),
    Reset(Symbol, ResetReason),
}

#[derive(Debug, Clone)]
struct Capture(mpsc::UnboundedSender<Seen>);

#[async_trait]
impl SinkConfig for Capture {
    async fn build(&self, _id: &str) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(self.clone()))
    }
}

#[async_trait]
impl Sink for Capture {
    async fn write(
        &mut self,
        batch: &EventBatch,
        _filter: EventFilter,
    ) -> Result<u64, ComponentError> {
        for e in &batch.events {
            let (Some(symbol), kind) = (e.symbol, &e.kind) else {
                continue;
            };
            let seen = match kind {
                EventKind::BookSnapshot(b) | EventKind::BookUpdate(b) => Seen::Book {
                    symbol,
                    ok: b.checksum_ok,
                },
                EventKind::ChecksumMismatch { .. } => Seen::Mismatch(symbol),
                EventKind::BookReset { reason } => Seen::Reset(symbol, *reason),
                _ => continue,
            };
            let _ = self.0.send(seen);
        }
        Ok(batch.len() as u64)
    }

    async fn close(self: Box<Self>) -> Result<SinkReport, ComponentError> {
        Ok(SinkReport::default())
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("the pipeline kept producing records")
        .expect("the pipeline is running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_checksums_are_detected_resynced_and_counted() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_stop = CancellationToken::new();
    let sim = simulator::spawn(
        listener,
        sim_stop.clone(),
        SimConfig {
            symbols: 4,
            tick: Duration::from_millis(5),
            updates_per_tick: 4,
            ..SimConfig::default()
        },
    )
    .unwrap();
    let symbols: Vec<String> = sim.symbols().iter().map(|s| s.0.to_string()).collect();
    let mut source = KrakenSourceConfig::new(sim.url(), symbols.clone(), 10);
    source.reconnect = ReconnectConfig {
        initial_backoff_ms: 20,
        max_backoff_ms: 200,
        min_interval_after_failures_ms: 100,
        ..ReconnectConfig::default()
    };
    let handlers: Vec<Box<dyn HandlerConfig>> = vec![
        Box::new(serde_json::from_str::<kobe_plugins::snapshot::SnapshotConfig>("{}").unwrap()),
        Box::new(serde_json::from_str::<kobe_plugins::update::UpdateConfig>("{}").unwrap()),
        Box::new(
            serde_json::from_str::<kobe_plugins::checksum::ChecksumConfig>(
                r#"{"on_mismatch":"resync"}"#,
            )
            .unwrap(),
        ),
    ];
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pipeline = common::pipeline(
        Box::new(source),
        handlers,
        vec![("capture", Box::new(Capture(tx)), EventFilter::ALL)],
        EngineOptions::default(),
    );
    let stop = CancellationToken::new();
    let run = tokio::spawn(kobe_core::pipeline::run(pipeline, stop.clone()));

    let mut mismatches = 0;
    for round in 1..=3 {
        // Healthy first: a verified message for every symbol.
        let mut verified = std::collections::HashSet::new();
        while verified.len() < symbols.len() {
            if let Seen::Book {
                symbol,
                ok: Some(true),
            } = next(&mut rx).await
            {
                verified.insert(symbol);
            }
        }
        sim.inject(Fault::CorruptChecksum);
        // The failing message is published flagged `checksum_ok: false`, then the mismatch is
        // reported once; that symbol's book events stop until the resync.
        let failed = loop {
            match next(&mut rx).await {
                Seen::Book {
                    symbol,
                    ok: Some(false),
                } => break symbol,
                Seen::Book { .. } => {}
                other => panic!("round {round}: unexpected {other:?} before the mismatch"),
            }
        };
        let bad = match next(&mut rx).await {
            Seen::Mismatch(s) => s,
            other => panic!("round {round}: expected the mismatch of {failed}, got {other:?}"),
        };
        assert_eq!(bad, failed);
        mismatches += 1;
        let mut others_flowed = false;
        let mut reset = false;
        loop {
            match next(&mut rx).await {
                Seen::Reset(s, ResetReason::Resync) if s == bad => reset = true,
                Seen::Book { symbol, ok } if symbol == bad => {
                    assert!(reset, "round {round}: {bad} published before its resync");
                    assert_eq!(ok, Some(true), "round {round}: the resynced book verifies");
                    break;
                }
                Seen::Book { ok, .. } => {
                    assert_eq!(ok, Some(true));
                    others_flowed = true;
                }
                Seen::Mismatch(s) => panic!("round {round}: a second mismatch for {s}"),
                other => panic!("round {round}: unexpected {other:?}"),
            }
        }
        assert!(
            others_flowed,
            "round {round}: the other symbols kept flowing during the resync"
        );
    }
    assert_eq!(
        mismatches,
        sim.stats().corrupted,
        "every corrupted checksum was counted once"
    );
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the pipeline stopped")
        .unwrap()
        .unwrap();
    sim_stop.cancel();
}
