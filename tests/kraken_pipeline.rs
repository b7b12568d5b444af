//! The full engine against the simulator: kraken source → snapshot → update → checksum over
//! 50 symbols at depth 25 on several connections and two shard workers, with every fault the
//! simulator has injected. The pipeline keeps running, reconnects or resyncs, and at the end
//! every book the engine holds equals the simulator's.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kobe_core::book::OrderBook;
use kobe_core::component::{Handler, HandlerConfig, HandlerContext};
use kobe_core::kraken::simulator::{self, Fault, SimConfig, SimHandle};
use kobe_core::kraken::{KrakenSourceConfig, ReconnectConfig};
use kobe_core::pipeline::EngineOptions;
use kobe_core::{ComponentError, EventBatch, Symbol};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

type Shared = Arc<Mutex<HashMap<Symbol, (Option<OrderBook>, bool)>>>;

/// Copies the shard's books of the symbols a batch touched, after the book handlers ran, and
/// signals the test after every batch.
#[derive(Debug, Clone)]
struct Export(Shared, Arc<watch::Sender<u64>>);

impl HandlerConfig for Export {
    fn build(&self) -> Result<Box<dyn Handler>, ComponentError> {
        Ok(Box::new(self.clone()))
    }
}

impl Handler for Export {
    fn process(
        &mut self,
        batch: &mut EventBatch,
        cx: &mut HandlerContext<'_>,
    ) -> Result<(), ComponentError> {
        let mut out = self.0.lock().unwrap();
        for e in &batch.events {
            if let Some(s) = e.symbol {
                if let Some(st) = cx.books.get(&s) {
                    out.insert(s, (st.book.clone(), st.valid));
                }
            }
        }
        self.1.send_modify(|n| *n += 1);
        Ok(())
    }
}

fn config<T: serde::de::DeserializeOwned>(json: &str) -> T {
    serde_json::from_str(json).unwrap()
}

/// Re-checks `cond` after every batch the pipeline processes (frames, heartbeats included).
async fn until(rx: &mut watch::Receiver<u64>, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        tokio::time::timeout_at(deadline, rx.changed())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap();
    }
}

fn all_valid(shared: &Shared, symbols: &[Symbol]) -> bool {
    let m = shared.lock().unwrap();
    symbols
        .iter()
        .all(|s| m.get(s).is_some_and(|(b, v)| *v && b.is_some()))
}

fn equal(shared: &Shared, sim: &SimHandle, symbols: &[Symbol]) -> bool {
    let m = shared.lock().unwrap();
    symbols.iter().all(|s| match (m.get(s), sim.book(s, 25)) {
        (Some((Some(a), true)), Some(b)) => a.bids().eq(b.bids()) && a.asks().eq(b.asks()),
        _ => false,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_books_equal_the_simulators_after_every_fault() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_stop = CancellationToken::new();
    let sim = simulator::spawn(
        listener,
        sim_stop.clone(),
        SimConfig {
            symbols: 60,
            tick: Duration::from_millis(10),
            updates_per_tick: 10,
            book_levels: 80,
            ..SimConfig::default()
        },
    )
    .unwrap();
    let symbols: Vec<Symbol> = sim.symbols().iter().take(50).map(|s| s.0).collect();
    let mut source = KrakenSourceConfig::new(
        sim.url(),
        symbols.iter().map(|s| s.to_string()).collect(),
        25,
    );
    source.symbols_per_connection = 20;
    source.ping_interval_ms = 300;
    source.stall_timeout_ms = 1_000;
    source.snapshot_timeout_ms = 2_000;
    source.reconnect = ReconnectConfig {
        initial_backoff_ms: 20,
        max_backoff_ms: 200,
        jitter_percent: 10,
        min_interval_after_failures_ms: 100,
        ..ReconnectConfig::default()
    };
    let shared: Shared = Arc::default();
    let (tick, mut rx) = watch::channel(0u64);
    let handlers: Vec<Box<dyn HandlerConfig>> = vec![
        Box::new(config::<kobe_plugins::snapshot::SnapshotConfig>("{}")),
        Box::new(config::<kobe_plugins::update::UpdateConfig>("{}")),
        Box::new(config::<kobe_plugins::checksum::ChecksumConfig>(
            r#"{"on_mismatch":"resync"}"#,
        )),
        Box::new(Export(shared.clone(), Arc::new(tick))),
    ];
    let engine = EngineOptions {
        workers: 2,
        ..EngineOptions::default()
    };
    let sink = common::RecordingSink::default();
    let filter = kobe_core::EventFilter::ALL.without(kobe_core::EventType::Raw);
    let pipeline = common::pipeline(
        Box::new(source),
        handlers,
        vec![("out", Box::new(sink.clone()), filter)],
        engine,
    );
    let stop = CancellationToken::new();
    let run = tokio::spawn(kobe_core::pipeline::run(pipeline, stop.clone()));

    until(&mut rx, "all books", || all_valid(&shared, &symbols)).await;
    sim.inject(Fault::MultiSymbolFrame);
    sim.inject(Fault::MalformedFrame);
    until(&mut rx, "multi-symbol and malformed frames", || {
        let s = sim.stats();
        s.multi_symbol_frames >= 1 && s.malformed >= 1
    })
    .await;
    for fault in [
        Fault::CorruptChecksum,
        Fault::PrecisionChange(Some(symbols[7])),
        Fault::RejectNext(symbols[3], "Exceeded msg rate".into()),
        Fault::Disconnect,
        Fault::Stall,
    ] {
        let before = sim.stats().subscribes;
        let needs = if matches!(fault, Fault::Disconnect | Fault::Stall) {
            50
        } else {
            1
        };
        let resubscribes = !matches!(fault, Fault::RejectNext(..));
        sim.inject(fault.clone());
        if resubscribes {
            until(&mut rx, &format!("recovery from {fault:?}"), || {
                sim.stats().subscribes >= before + needs
            })
            .await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !all_valid(&shared, &symbols) {
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                let m = shared.lock().unwrap();
                let bad: Vec<String> = symbols
                    .iter()
                    .filter(|s| !m.get(s).is_some_and(|(b, v)| *v && b.is_some()))
                    .map(|s| format!("{s}: {:?}", m.get(s).map(|(b, v)| (b.is_some(), *v))))
                    .collect();
                panic!(
                    "timed out waiting for all books again after {fault:?}: {bad:?}; sim {:?}",
                    sim.stats()
                );
            }
        }
    }
    let st = sim.stats();
    assert!(st.corrupted == 1 && st.precision_changes == 1 && st.rejected == 1);
    assert!(st.disconnects >= 1 && st.stalls >= 1);
    sim.pause(true);
    until(
        &mut rx,
        "the engine's books to equal the simulator's",
        || equal(&shared, &sim, &symbols),
    )
    .await;
    stop.cancel();
    let report = run.await.unwrap().unwrap();
    assert!(report.source.malformed >= 1, "{report:?}");
    // Every frame and event of a run through every fault is accounted for.
    report.check_accounting().unwrap();
    assert!(report.accounting.ok, "{report:?}");
    assert_eq!(report.source.malformed, sim.stats().malformed, "{report:?}");
    assert_eq!(
        report.sinks["out"].written,
        sink.seen.lock().unwrap().len() as u64
    );
    assert!(report.derived >= 1, "the checksum_mismatch: {report:?}");
    sim_stop.cancel();
}
