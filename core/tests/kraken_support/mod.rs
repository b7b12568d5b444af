//! Shared helpers for the Kraken source tests: a simulator on 127.0.0.1:0, a source wired to
//! channels, a replay of a recorded file, and a client-side book model that checks every
//! checksum.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use kobe_core::book::OrderBook;
use kobe_core::bus::SourceOutput;
use kobe_core::component::{ControlRequest, SourceConfig, SourceContext, SourceReport};
use kobe_core::event::{Event, EventBatch, EventKind, ResetReason};
use kobe_core::kraken::simulator::{self, SimConfig, SimHandle};
use kobe_core::kraken::{KrakenSourceConfig, ReconnectConfig};
use kobe_core::{ComponentError, Symbol};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(20);

pub async fn sim(config: SimConfig) -> (SimHandle, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stop = CancellationToken::new();
    let handle = simulator::spawn(listener, stop.clone(), config).unwrap();
    (handle, stop)
}

/// Short timeouts so failures show up quickly in tests.
pub fn fast(url: &str, symbols: &[Symbol], depth: u16) -> KrakenSourceConfig {
    let mut c =
        KrakenSourceConfig::new(url, symbols.iter().map(|s| s.to_string()).collect(), depth);
    c.ping_interval_ms = 300;
    c.stall_timeout_ms = 1_000;
    c.connect_timeout_ms = 2_000;
    c.snapshot_timeout_ms = 2_000;
    c.reconnect = ReconnectConfig {
        initial_backoff_ms: 20,
        max_backoff_ms: 200,
        jitter_percent: 0,
        min_interval_after_failures_ms: 100,
        failures_before_floor: 2,
        max_attempts: None,
        max_connects_per_10min: 150,
    };
    c
}

pub struct Running {
    pub rx: mpsc::Receiver<EventBatch>,
    pub control: mpsc::UnboundedSender<ControlRequest>,
    pub stop: CancellationToken,
    pub task: JoinHandle<Result<SourceReport, ComponentError>>,
    pub seen: Vec<Event>,
    /// Act as the checksum handler: ask the source to resync a symbol whose checksum fails.
    pub auto_resync: bool,
    /// Events received but not yet looked at (the rest of a batch after a match).
    pub pending: std::collections::VecDeque<Event>,
}

pub async fn start(config: &KrakenSourceConfig, emit_raw: bool) -> Running {
    assert!(config.validate().is_empty(), "{:?}", config.validate());
    let source = config.build().await.unwrap();
    let (tx, rx) = mpsc::channel(64);
    let (control, control_rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let cx = SourceContext {
        output: SourceOutput::new(vec![tx], 256),
        control: control_rx,
        shutdown: stop.clone(),
        emit_raw,
    };
    let task = tokio::spawn(source.run(cx));
    Running {
        rx,
        control,
        stop,
        task,
        seen: Vec::new(),
        auto_resync: false,
        pending: Default::default(),
    }
}

impl Running {
    /// Reads events (keeping them in `seen`, feeding `books`) until `pred` holds for one.
    pub async fn until(
        &mut self,
        books: &mut Books,
        mut pred: impl FnMut(&Event, &Books) -> bool,
    ) -> Event {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self.pending.is_empty() {
                let batch = tokio::time::timeout_at(deadline, self.rx.recv())
                    .await
                    .expect("timed out waiting for an event")
                    .expect("the source ended");
                self.pending.extend(batch.events);
            }
            while let Some(e) = self.pending.pop_front() {
                let before = books.mismatches.len();
                books.apply(&e);
                if self.auto_resync && books.mismatches.len() > before {
                    let symbol = e.symbol.unwrap();
                    books.books.remove(&symbol);
                    self.control
                        .send(ControlRequest::Resync {
                            symbol,
                            reason: ResetReason::Resync,
                        })
                        .unwrap();
                }
                self.seen.push(e.clone());
                if pred(&e, books) {
                    return e;
                }
            }
        }
    }

    pub async fn finish(mut self) -> Result<SourceReport, ComponentError> {
        self.stop.cancel();
        while self.rx.recv().await.is_some() {}
        self.task.await.unwrap()
    }
}

/// The client side of the protocol, as a test sees it: applies snapshots and updates, checks
/// checksums, and notes mismatches.
#[derive(Default)]
pub struct Books {
    pub books: HashMap<Symbol, OrderBook>,
    pub precision: HashMap<Symbol, (u8, u8)>,
    pub depth: usize,
    pub mismatches: Vec<Symbol>,
    pub checked: u64,
}

impl Books {
    pub fn new(depth: usize) -> Self {
        Self {
            depth,
            ..Self::default()
        }
    }

    pub fn apply(&mut self, e: &Event) {
        let Some(sym) = e.symbol else { return };
        match &e.kind {
            EventKind::Instrument(i) => {
                self.precision
                    .insert(sym, (i.price_precision, i.qty_precision));
            }
            EventKind::BookSnapshot(d) => {
                let (pp, qp) = self.precision[&sym];
                let mut b = OrderBook::new(self.depth, pp, qp);
                b.apply_snapshot(&mut d.bids.clone(), &mut d.asks.clone())
                    .unwrap();
                self.check(sym, &mut b, d.checksum);
                self.books.insert(sym, b);
            }
            EventKind::BookUpdate(d) => {
                // After a mismatch the book is gone until the resync's snapshot.
                let Some(b) = self.books.get_mut(&sym) else {
                    return;
                };
                b.apply_update(&mut d.bids.clone(), &mut d.asks.clone())
                    .unwrap();
                let mut b = b.clone();
                self.check(sym, &mut b, d.checksum);
            }
            EventKind::BookReset { .. } => {
                self.books.remove(&sym);
            }
            _ => {}
        }
    }

    fn check(&mut self, sym: Symbol, b: &mut OrderBook, checksum: Option<u32>) {
        if let Some(c) = checksum {
            self.checked += 1;
            if b.checksum() != c {
                self.mismatches.push(sym);
            }
        }
    }

    /// Prints how each book differs from the simulator's (for failing tests).
    pub fn diff(&self, sim: &SimHandle, symbols: &[Symbol], depth: u16) -> String {
        let mut out = String::new();
        for s in symbols {
            let (a, b) = (self.books.get(s), sim.book(s, depth));
            if let (Some(a), Some(b)) = (a, b) {
                let (ab, bb): (Vec<_>, Vec<_>) = (a.bids().collect(), b.bids().collect());
                let (aa, ba): (Vec<_>, Vec<_>) = (a.asks().collect(), b.asks().collect());
                if ab != bb || aa != ba {
                    out += &format!(
                        "{s}: bids {}/{} asks {}/{}; first bid diff {:?}\n",
                        ab.len(),
                        bb.len(),
                        aa.len(),
                        ba.len(),
                        ab.iter().zip(&bb).position(|(x, y)| x != y)
                    );
                }
            } else {
                out += &format!(
                    "{s}: book missing ({}, {})\n",
                    a.is_some(),
                    sim.book(s, depth).is_some()
                );
            }
        }
        out
    }

    /// Whether every listed symbol's book equals the simulator's.
    pub fn equal_to_sim(&self, sim: &SimHandle, symbols: &[Symbol], depth: u16) -> bool {
        symbols
            .iter()
            .all(|s| match (self.books.get(s), sim.book(s, depth)) {
                (Some(a), Some(b)) => a.bids().eq(b.bids()) && a.asks().eq(b.asks()),
                _ => false,
            })
    }
}

/// Frames of an old subscription never reach the pipeline: between a symbol's reset and its
/// next snapshot there is no update.
pub fn assert_no_update_between_reset_and_snapshot(events: &[Event]) {
    let mut waiting: HashMap<Symbol, ResetReason> = HashMap::new();
    for e in events {
        let Some(s) = e.symbol else { continue };
        match &e.kind {
            EventKind::BookReset { reason } => {
                waiting.insert(s, *reason);
            }
            EventKind::BookSnapshot(_) => {
                waiting.remove(&s);
            }
            EventKind::BookUpdate(_) => {
                assert!(
                    !waiting.contains_key(&s),
                    "{s}: update between a reset and the next snapshot"
                );
            }
            _ => {}
        }
    }
}

pub fn syms(names: &[&str]) -> Vec<Symbol> {
    names.iter().map(|n| Symbol::new(n).unwrap()).collect()
}

pub fn count(events: &[Event], sym: Symbol, f: impl Fn(&EventKind) -> bool) -> usize {
    events
        .iter()
        .filter(|e| e.symbol == Some(sym) && f(&e.kind))
        .count()
}

/// Replays the NDJSON file at `path` (fast, depth 25) to its end: every event, in order, and
/// the source's report. `raw` asks for `Raw` events too.
pub async fn replay_file(path: &std::path::Path, raw: bool) -> (Vec<Event>, SourceReport) {
    replay_file_stamped(path, raw, Default::default()).await
}

/// [`replay_file`] with the replay's `received_ts` choice.
pub async fn replay_file_stamped(
    path: &std::path::Path,
    raw: bool,
    received_ts: kobe_core::replay::ReceivedTs,
) -> (Vec<Event>, SourceReport) {
    let cfg = kobe_core::replay::ReplayConfig {
        path: path.to_path_buf(),
        pace: kobe_core::replay::Pace::Fast,
        depth: 25,
        precision: Default::default(),
        repeat: 1,
        received_ts,
    };
    let source = cfg.build().await.unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let (_ctl, control) = mpsc::unbounded_channel();
    let cx = SourceContext {
        output: SourceOutput::new(vec![tx], 256),
        control,
        shutdown: CancellationToken::new(),
        emit_raw: raw,
    };
    let task = tokio::spawn(source.run(cx));
    let mut events = Vec::new();
    while let Some(b) = rx.recv().await {
        events.extend(b.events);
    }
    (events, task.await.unwrap().unwrap())
}
