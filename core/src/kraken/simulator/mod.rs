//! A Kraken WebSocket v2 simulator for tests, benchmarks and `kobe demo`: status on connect,
//! the instrument channel, book subscribe/unsubscribe with acks and Kraken's errors, snapshots
//! and updates with correct checksums, heartbeats, ping/pong — and fault injection.
//!
//! Deterministic from a seed (market moves; timestamps are wall clock). Tests read each
//! symbol's book as the simulator knows it ([`SimHandle::book`]) and compare.

mod conn;
pub mod market;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::book::OrderBook;
use crate::symbol::Symbol;
use crate::time::Timestamp;
use market::{Entry, Market};

/// Simulator options.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// How many pairs are listed (`S000/USD`, `S001/USD`, ...).
    pub symbols: usize,
    /// Seed of the market's moves and the precisions.
    pub seed: u64,
    /// Time between market ticks; zero ticks as fast as the slowest client reads.
    pub tick: Duration,
    /// Symbols moved per tick.
    pub updates_per_tick: usize,
    /// Levels per side of each true book (deeper than any subscription).
    pub book_levels: usize,
    /// Time between heartbeats on each connection.
    pub heartbeat: Duration,
    /// Put all of a tick's updates for a connection in one frame (several symbols per `data`).
    pub multi_symbol_frames: bool,
    /// Subscriptions always refused, by pair, with Kraken's error text.
    pub reject: HashMap<Symbol, String>,
    /// Also list Kraken's real pairs (`BTC/USD`, `ETH/USD`, `SOL/USD`, ...) at their real
    /// precisions, after the generated ones.
    pub real_pairs: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            symbols: 20,
            seed: 1,
            tick: Duration::from_millis(20),
            updates_per_tick: 5,
            book_levels: 1050,
            heartbeat: Duration::from_secs(1),
            multi_symbol_frames: false,
            reject: HashMap::new(),
            real_pairs: true,
        }
    }
}

/// A fault to inject. Each is counted in [`SimStats`] when it takes effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Drop every client's TCP connection without a close frame.
    Disconnect,
    /// Every current connection goes silent (no heartbeats, no data) until the client leaves.
    Stall,
    /// The next book update carries a wrong checksum.
    CorruptChecksum,
    /// Send every connection a frame that is not valid JSON.
    MalformedFrame,
    /// Refuse the next subscription to this pair with this error text.
    RejectNext(Symbol, String),
    /// Change a subscribed pair's price precision (random pair when `None`): instrument
    /// update, then a fresh book at the new precision.
    PrecisionChange(Option<Symbol>),
    /// The next tick's updates go out several symbols per frame.
    MultiSymbolFrame,
    /// Ack subscriptions to this pair but send no snapshot (`true`), or behave again (`false`).
    WithholdSnapshots(Symbol, bool),
}

/// What the simulator did, counted.
#[derive(Debug, Default)]
pub struct SimCounters {
    /// Connections accepted (WebSocket handshake completed).
    pub connections: AtomicU64,
    /// Connections currently open.
    pub open: AtomicU64,
    /// Book subscriptions acked.
    pub subscribes: AtomicU64,
    /// Book unsubscriptions acked.
    pub unsubscribes: AtomicU64,
    /// Book subscriptions refused.
    pub rejected: AtomicU64,
    /// Snapshots sent.
    pub snapshots: AtomicU64,
    /// Book update entries sent.
    pub updates: AtomicU64,
    /// Frames sent.
    pub frames: AtomicU64,
    /// Pings answered.
    pub pongs: AtomicU64,
    /// Disconnects injected (connections dropped).
    pub disconnects: AtomicU64,
    /// Stalls injected (connections silenced).
    pub stalls: AtomicU64,
    /// Checksums corrupted.
    pub corrupted: AtomicU64,
    /// Malformed frames sent.
    pub malformed: AtomicU64,
    /// Precision changes.
    pub precision_changes: AtomicU64,
    /// Frames that carried several symbols.
    pub multi_symbol_frames: AtomicU64,
}

/// A copy of [`SimCounters`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// See [`SimCounters::connections`].
    pub connections: u64,
    /// See [`SimCounters::open`].
    pub open: u64,
    /// See [`SimCounters::subscribes`].
    pub subscribes: u64,
    /// See [`SimCounters::unsubscribes`].
    pub unsubscribes: u64,
    /// See [`SimCounters::rejected`].
    pub rejected: u64,
    /// See [`SimCounters::snapshots`].
    pub snapshots: u64,
    /// See [`SimCounters::updates`].
    pub updates: u64,
    /// See [`SimCounters::frames`].
    pub frames: u64,
    /// See [`SimCounters::pongs`].
    pub pongs: u64,
    /// See [`SimCounters::disconnects`].
    pub disconnects: u64,
    /// See [`SimCounters::stalls`].
    pub stalls: u64,
    /// See [`SimCounters::corrupted`].
    pub corrupted: u64,
    /// See [`SimCounters::malformed`].
    pub malformed: u64,
    /// See [`SimCounters::precision_changes`].
    pub precision_changes: u64,
    /// See [`SimCounters::multi_symbol_frames`].
    pub multi_symbol_frames: u64,
}

impl SimCounters {
    fn snapshot(&self) -> SimStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SimStats {
            connections: l(&self.connections),
            open: l(&self.open),
            subscribes: l(&self.subscribes),
            unsubscribes: l(&self.unsubscribes),
            rejected: l(&self.rejected),
            snapshots: l(&self.snapshots),
            updates: l(&self.updates),
            frames: l(&self.frames),
            pongs: l(&self.pongs),
            disconnects: l(&self.disconnects),
            stalls: l(&self.stalls),
            corrupted: l(&self.corrupted),
            malformed: l(&self.malformed),
            precision_changes: l(&self.precision_changes),
            multi_symbol_frames: l(&self.multi_symbol_frames),
        }
    }
}

/// What the market broadcasts to every connection, in order.
#[derive(Debug)]
enum Broadcast {
    Tick {
        version: u64,
        multi: bool,
        entries: Vec<Entry>,
    },
    Instrument(String),
    Malformed,
    Disconnect,
    Stall,
}

struct State {
    market: Mutex<Market>,
    config: SimConfig,
    counters: SimCounters,
    changed: watch::Sender<u64>,
    tx: broadcast::Sender<Arc<Broadcast>>,
    reject_next: Mutex<HashMap<Symbol, String>>,
    withhold: Mutex<std::collections::HashSet<Symbol>>,
    corrupt_next: AtomicBool,
    multi_next: AtomicBool,
    paused: watch::Sender<bool>,
    next_connection_id: AtomicU64,
}

impl State {
    fn market(&self) -> MutexGuard<'_, Market> {
        self.market.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
        self.changed.send_modify(|v| *v += 1);
    }
}

/// The running simulator: its address, its books, its counters, and the fault switch.
#[derive(Clone)]
pub struct SimHandle {
    state: Arc<State>,
    addr: SocketAddr,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Broadcast backlog; the market waits for slow clients before filling it.
const BACKLOG: usize = 8192;

/// Starts the simulator on an already-bound listener; it stops when `shutdown` is cancelled.
pub fn spawn(
    listener: TcpListener,
    shutdown: CancellationToken,
    config: SimConfig,
) -> std::io::Result<SimHandle> {
    let addr = listener.local_addr()?;
    let (tx, _) = broadcast::channel(BACKLOG);
    let levels = config.book_levels.max(20);
    let state = Arc::new(State {
        market: Mutex::new(Market::new(
            config.symbols,
            config.seed,
            levels,
            config.real_pairs,
        )),
        config,
        counters: SimCounters::default(),
        changed: watch::channel(0).0,
        tx,
        reject_next: Mutex::new(HashMap::new()),
        withhold: Mutex::new(std::collections::HashSet::new()),
        corrupt_next: AtomicBool::new(false),
        multi_next: AtomicBool::new(false),
        paused: watch::channel(false).0,
        next_connection_id: AtomicU64::new(0xF000_0000_0000_0001),
    });
    tokio::spawn(accept_loop(listener, state.clone(), shutdown.clone()));
    tokio::spawn(market_loop(state.clone(), shutdown));
    Ok(SimHandle { state, addr })
}

impl SimHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR` (the v2 path is accepted but not required).
    pub fn url(&self) -> String {
        format!("ws://{}/v2", self.addr)
    }

    /// The counters now.
    pub fn stats(&self) -> SimStats {
        self.state.counters.snapshot()
    }

    /// Waits until `pred` holds for the counters, up to `timeout`; returns the last counters
    /// and whether it held.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&SimStats) -> bool,
    ) -> (SimStats, bool) {
        let mut rx = self.state.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let s = self.stats();
            if pred(&s) {
                return (s, true);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return (self.stats(), false);
            }
        }
    }

    /// The listed pairs with `(price_precision, qty_precision)`.
    pub fn symbols(&self) -> Vec<(Symbol, u8, u8)> {
        self.state
            .market()
            .symbols()
            .iter()
            .map(|s| (s.symbol, s.price_precision, s.qty_precision))
            .collect()
    }

    /// The book a client subscribed to `symbol` at `depth` should hold now.
    pub fn book(&self, symbol: &Symbol, depth: u16) -> Option<OrderBook> {
        self.state.market().view(symbol, depth)
    }

    /// Stops (`true`) or resumes the market; while paused only heartbeats flow.
    pub fn pause(&self, paused: bool) {
        // Taking the market lock orders the pause after any tick being broadcast.
        let _m = self.state.market();
        self.state.paused.send_replace(paused);
    }

    /// Injects a fault.
    pub fn inject(&self, fault: Fault) {
        let s = &self.state;
        match fault {
            Fault::Disconnect => {
                let _ = s.tx.send(Arc::new(Broadcast::Disconnect));
            }
            Fault::Stall => {
                let _ = s.tx.send(Arc::new(Broadcast::Stall));
            }
            Fault::MalformedFrame => {
                let _ = s.tx.send(Arc::new(Broadcast::Malformed));
            }
            Fault::WithholdSnapshots(sym, on) => {
                let mut w = s.withhold.lock().unwrap_or_else(|p| p.into_inner());
                if on {
                    w.insert(sym);
                } else {
                    w.remove(&sym);
                }
            }
            Fault::CorruptChecksum => s.corrupt_next.store(true, Ordering::Relaxed),
            Fault::MultiSymbolFrame => s.multi_next.store(true, Ordering::Relaxed),
            Fault::RejectNext(sym, error) => {
                s.reject_next
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(sym, error);
            }
            Fault::PrecisionChange(sym) => {
                let mut m = s.market();
                let Some(sym) = sym.or_else(|| m.random_subscribed()) else {
                    return;
                };
                if m.change_precision(&sym).is_none() {
                    return;
                }
                let pair = m.get(&sym).map(market::instrument_pair).unwrap_or_default();
                let frame = format!(
                    r#"{{"channel":"instrument","type":"update","data":{{"assets":[],"pairs":[{pair}]}}}}"#
                );
                let _ = s.tx.send(Arc::new(Broadcast::Instrument(frame)));
                drop(m);
                s.bump(&s.counters.precision_changes, 1);
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((tcp, _peer)) => {
                let _ = tcp.set_nodelay(true);
                tokio::spawn(conn::serve(tcp, state.clone(), shutdown.clone()));
            }
            Err(e) => {
                tracing::warn!("simulator: accept failed: {e}");
                tokio::task::yield_now().await;
            }
        }
    }
}

async fn market_loop(state: Arc<State>, shutdown: CancellationToken) {
    let mut paused = state.paused.subscribe();
    let tick = state.config.tick;
    let mut interval = tokio::time::interval(if tick.is_zero() {
        Duration::from_millis(1)
    } else {
        tick
    });
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        if *paused.borrow_and_update() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = paused.changed() => continue,
            }
        }
        if tick.is_zero() {
            // As fast as the slowest client reads, never overrunning the backlog.
            while state.tx.len() > BACKLOG / 2 {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_micros(200)) => {}
                }
            }
            tokio::task::yield_now().await;
        } else {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
        }
        let ts = Timestamp::now().to_string();
        let mut m = state.market();
        if *state.paused.borrow() {
            continue;
        }
        let mut corrupt = state.corrupt_next.swap(false, Ordering::Relaxed);
        let asked = corrupt;
        let entries = m.tick(state.config.updates_per_tick.max(1), &ts, &mut corrupt);
        if asked && !corrupt {
            state.counters.corrupted.fetch_add(1, Ordering::Relaxed);
        } else if asked {
            state.corrupt_next.store(true, Ordering::Relaxed);
        }
        let want_multi = state.multi_next.swap(false, Ordering::Relaxed);
        if want_multi && entries.len() < 2 {
            state.multi_next.store(true, Ordering::Relaxed);
        }
        let multi = state.config.multi_symbol_frames || (want_multi && entries.len() >= 2);
        let version = m.version;
        if !entries.is_empty() {
            let _ = state.tx.send(Arc::new(Broadcast::Tick {
                version,
                multi,
                entries,
            }));
        }
        drop(m);
        state.changed.send_modify(|v| *v += 1);
    }
}
