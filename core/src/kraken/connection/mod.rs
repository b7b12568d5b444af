//! One WebSocket connection carrying a group of symbols: connect, subscribe (instrument first,
//! then book), read and batch frames, keep each symbol's subscription state, resync symbols on
//! request, reconnect when the connection dies.
//!
//! Per symbol, book frames are accepted only while its subscription is live: from a reset
//! (reconnect, resync, precision change) until its next snapshot, updates are dropped, so
//! frames of an old subscription never merge into a new book.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff::{Backoff, ConnectLimiter};
use super::config::KrakenSourceConfig;
use super::connect::{connect_with_retry, Ws};
use super::decode::decode_frame;
use super::error::KrakenError;
use super::protocol::{self, classify_refusal, Refusal};
use crate::component::ControlRequest;
use crate::event::{
    Event, EventBatch, EventKind, InstrumentInfo, ResetReason, SubscriptionInfo, SubscriptionMethod,
};
use crate::symbol::Symbol;
use crate::time::Timestamp;

mod subscriptions;

/// Malformed frames logged one by one before only counting.
const SHOWN_MALFORMED: u64 = 5;

/// Counters shared by every connection of a source.
#[derive(Debug, Default)]
pub struct Counters {
    /// Frames received.
    pub frames: AtomicU64,
    /// Frames decoded and passed on.
    pub decoded: AtomicU64,
    /// Frames that did not decode.
    pub malformed: AtomicU64,
    /// Frames dropped whole because all they held was book data of an old subscription.
    pub stale: AtomicU64,
    /// Book messages of an old subscription dropped, by symbol (rare: only after a reset).
    pub stale_by_symbol: Mutex<HashMap<Symbol, u64>>,
    /// Successful connects.
    pub connects: AtomicU64,
    /// Successful connects after a lost connection.
    pub reconnects: AtomicU64,
}

/// What every connection of a source shares.
#[derive(Clone, Debug)]
pub struct Shared {
    /// The source's options.
    pub config: Arc<KrakenSourceConfig>,
    /// The endpoint (legacy URL mapped).
    pub url: Arc<str>,
    /// Connect attempts over all connections.
    pub limiter: ConnectLimiter,
    /// Counters.
    pub counters: Arc<Counters>,
    /// Whether to emit a `Raw` event per frame.
    pub emit_raw: bool,
    /// Most events per batch.
    pub batch_size: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting to be subscribed on this session.
    Idle,
    /// `subscribe` sent, no ack yet.
    Subscribing(Instant),
    /// Acked, no snapshot yet.
    AwaitSnapshot(Instant),
    /// Snapshot seen: updates flow.
    Live,
    /// `unsubscribe` sent for a resync.
    Unsubscribing(Instant),
    /// A failed (re)subscription waits to be tried again.
    RetryAt(Instant),
    /// Kraken refused the subscription for good.
    Refused(String),
}

#[derive(Clone, Debug)]
struct SymState {
    phase: Phase,
    /// Consecutive failed (re)subscriptions; survives reconnects.
    failures: u32,
    /// Whether Kraken holds a book subscription for it on this session.
    server_subscribed: bool,
}

/// How a session ended.
enum End {
    Shutdown,
    AllRefused(Vec<(Symbol, String)>),
    Lost { error: KrakenError, healthy: bool },
}

/// A connection and the symbols it carries.
pub struct Connection {
    label: String,
    shared: Shared,
    symbols: Vec<Symbol>,
    state: HashMap<Symbol, SymState>,
    precision: HashMap<Symbol, InstrumentInfo>,
    out: mpsc::Sender<EventBatch>,
    control: mpsc::UnboundedReceiver<ControlRequest>,
    stop: CancellationToken,
    backoff: Backoff,
    batch: EventBatch,
    outbox: Vec<String>,
    req_id: u64,
    pending: HashMap<u64, Vec<Symbol>>,
}

impl Connection {
    /// A connection for `symbols` that sends batches to `out` and takes requests from
    /// `control`.
    pub fn new(
        index: usize,
        shared: Shared,
        symbols: Vec<Symbol>,
        out: mpsc::Sender<EventBatch>,
        control: mpsc::UnboundedReceiver<ControlRequest>,
        stop: CancellationToken,
    ) -> Self {
        let state = symbols
            .iter()
            .map(|s| {
                (
                    *s,
                    SymState {
                        phase: Phase::Idle,
                        failures: 0,
                        server_subscribed: false,
                    },
                )
            })
            .collect();
        let backoff = Backoff::from_os(shared.config.reconnect.clone());
        let batch_size = shared.batch_size;
        Self {
            label: format!("kraken connection {index}"),
            shared,
            symbols,
            state,
            precision: HashMap::new(),
            out,
            control,
            stop,
            backoff,
            batch: EventBatch::with_capacity(batch_size),
            outbox: Vec::new(),
            req_id: 0,
            pending: HashMap::new(),
        }
    }

    fn cfg(&self) -> &KrakenSourceConfig {
        &self.shared.config
    }

    /// Runs until shutdown (`Ok`) or a terminal failure.
    pub async fn run(mut self) -> Result<(), KrakenError> {
        let timeout = Duration::from_millis(self.cfg().connect_timeout_ms);
        let max_attempts = self.cfg().reconnect.max_attempts;
        let url = self.shared.url.clone();
        let mut first = true;
        let mut lost = false;
        loop {
            if !first {
                self.reset_all(ResetReason::Reconnect);
                if self.flush().await.is_err() {
                    return Ok(());
                }
            }
            first = false;
            let limiter = self.shared.limiter.clone();
            let ws = match connect_with_retry(
                &url,
                timeout,
                &mut self.backoff,
                max_attempts,
                &limiter,
                &self.stop,
                &self.label,
            )
            .await?
            {
                Some(ws) => ws,
                None => return Ok(()),
            };
            self.shared
                .counters
                .connects
                .fetch_add(1, Ordering::Relaxed);
            if lost {
                self.shared
                    .counters
                    .reconnects
                    .fetch_add(1, Ordering::Relaxed);
            }
            lost = true;
            match self.session(ws).await {
                End::Shutdown => return Ok(()),
                End::AllRefused(list) => return Err(KrakenError::AllSubscriptionsRefused(list)),
                End::Lost { error, healthy } => {
                    if healthy {
                        self.backoff.reset();
                    }
                    let delay = self.backoff.next_delay();
                    let attempts = self.backoff.failures();
                    if max_attempts.is_some_and(|m| attempts >= m) {
                        return Err(KrakenError::GaveUp {
                            attempts,
                            last: Box::new(error),
                        });
                    }
                    tracing::warn!(
                        "{}: {error}; reconnecting in {} ms",
                        self.label,
                        delay.as_millis()
                    );
                    tokio::select! {
                        _ = self.stop.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// Every symbol loses its book: one `BookReset` each, and none is subscribed any more.
    fn reset_all(&mut self, reason: ResetReason) {
        let now = Timestamp::now();
        for sym in self.symbols.clone() {
            let Some(st) = self.state.get_mut(&sym) else {
                continue;
            };
            st.server_subscribed = false;
            if matches!(st.phase, Phase::Refused(_)) {
                continue;
            }
            st.phase = Phase::Idle;
            self.batch
                .push(Event::new(Some(sym), now, EventKind::BookReset { reason }));
        }
    }

    async fn flush(&mut self) -> Result<(), ()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(
            &mut self.batch,
            EventBatch::with_capacity(self.shared.batch_size),
        );
        self.out.send(batch).await.map_err(|_| ())
    }

    fn next_req(&mut self) -> u64 {
        self.req_id += 1;
        self.req_id
    }

    fn send_book(&mut self, method: &str, symbols: Vec<Symbol>) {
        if symbols.is_empty() {
            return;
        }
        let id = self.next_req();
        let depth = self.cfg().depth;
        self.outbox
            .push(protocol::book_request(method, &symbols, depth, id));
        self.pending.insert(id, symbols);
    }

    fn subscribe_idle(&mut self, now: Instant) {
        let idle: Vec<Symbol> = self
            .symbols
            .iter()
            .filter(|s| self.state.get(s).is_some_and(|st| st.phase == Phase::Idle))
            .copied()
            .collect();
        for s in &idle {
            if let Some(st) = self.state.get_mut(s) {
                st.phase = Phase::Subscribing(now);
            }
        }
        self.send_book("subscribe", idle);
    }

    async fn session(&mut self, mut ws: Ws) -> End {
        let start = Instant::now();
        let cfg = self.shared.config.clone();
        let stall = Duration::from_millis(cfg.stall_timeout_ms);
        let ping_every = Duration::from_millis(cfg.ping_interval_ms);
        let snap_timeout = Duration::from_millis(cfg.snapshot_timeout_ms);
        let tick_every = (ping_every.min(stall).min(snap_timeout) / 4)
            .clamp(Duration::from_millis(5), Duration::from_millis(250));
        let mut tick = tokio::time::interval(tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        self.req_id = 0;
        self.pending.clear();
        // Requests from before this session concern books the reconnect resets anyway.
        while self.control.try_recv().is_ok() {}
        let mut healthy = false;
        let mut last_frame = Instant::now();
        let mut last_ping: Option<Instant> = None;
        let mut books_requested = false;
        let instrument_req = self.next_req();
        self.outbox
            .push(protocol::subscribe_instrument(instrument_req));
        let mut scratch: Vec<Event> = Vec::new();

        loop {
            for text in self.outbox.drain(..) {
                if let Err(e) = ws.send(Message::text(text)).await {
                    return End::Lost {
                        error: KrakenError::Io(e.to_string()),
                        healthy,
                    };
                }
            }
            if let Some(list) = self.all_refused() {
                return End::AllRefused(list);
            }
            if self.flush().await.is_err() {
                return End::Shutdown;
            }
            tokio::select! {
                biased;
                _ = self.stop.cancelled() => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return End::Shutdown;
                }
                msg = ws.next() => {
                    let mut next = Some(msg);
                    let mut frames = 0usize;
                    // Take what is already buffered, so one batch carries many frames.
                    while let Some(msg) = next.take() {
                        frames += 1;
                        let seen_instruments = match msg {
                            None => return End::Lost {
                                error: KrakenError::Io("the server closed the connection".into()),
                                healthy,
                            },
                            Some(Err(e)) => return End::Lost {
                                error: KrakenError::Io(e.to_string()),
                                healthy,
                            },
                            Some(Ok(m)) => {
                                last_frame = Instant::now();
                                match self.frame(m, &mut scratch, &mut healthy) {
                                    Ok(seen) => seen,
                                    Err(reason) => return End::Lost {
                                        error: KrakenError::Io(reason),
                                        healthy,
                                    },
                                }
                            }
                        };
                        if seen_instruments && !books_requested {
                            books_requested = true;
                            self.subscribe_idle(Instant::now());
                        }
                        if self.batch.len() < self.shared.batch_size && frames < self.shared.batch_size {
                            next = ws.next().now_or_never();
                        }
                    }
                    let before = Instant::now();
                    if self.flush().await.is_err() {
                        return End::Shutdown;
                    }
                    // Time spent blocked on backpressure is not the server's silence.
                    if before.elapsed() > tick_every {
                        last_frame = Instant::now();
                    }
                }
                req = self.control.recv() => {
                    if let Some(req) = req {
                        if let Some(end) = self.control_request(req) {
                            return end;
                        }
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    let silent = now.duration_since(last_frame);
                    if silent >= stall {
                        return End::Lost {
                            error: KrakenError::Stalled { silent_ms: silent.as_millis() as u64 },
                            healthy,
                        };
                    }
                    if silent >= ping_every && last_ping.is_none_or(|p| now.duration_since(p) >= ping_every) {
                        last_ping = Some(now);
                        let id = self.next_req();
                        self.outbox.push(protocol::ping(id));
                    }
                    if !books_requested && now.duration_since(start) >= snap_timeout {
                        tracing::warn!("{}: no instrument snapshot within {} ms; subscribing books without it (precision from the numbers)", self.label, snap_timeout.as_millis());
                        books_requested = true;
                    }
                    if books_requested {
                        self.subscribe_idle(now);
                        if let Some(end) = self.check_timeouts(now, snap_timeout) {
                            return end;
                        }
                    }
                }
            }
        }
    }

    /// Handles one message; returns whether it carried instrument data.
    fn frame(
        &mut self,
        msg: Message,
        scratch: &mut Vec<Event>,
        healthy: &mut bool,
    ) -> Result<bool, String> {
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(b) => match async_tungstenite::tungstenite::Utf8Bytes::try_from(b) {
                Ok(t) => t,
                Err(_) => {
                    // Still a frame: counted in `frames` so that the identity holds.
                    self.shared.counters.frames.fetch_add(1, Ordering::Relaxed);
                    self.malformed("binary frame is not UTF-8");
                    return Ok(false);
                }
            },
            Message::Close(frame) => {
                return Err(match frame {
                    Some(f) => {
                        format!("the server closed the connection ({} {})", f.code, f.reason)
                    }
                    None => "the server closed the connection".into(),
                })
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Ok(false),
        };
        self.shared.counters.frames.fetch_add(1, Ordering::Relaxed);
        let received = Timestamp::now();
        if self.shared.emit_raw {
            self.batch.push(Event::new(
                None,
                received,
                EventKind::Raw(bytes::Bytes::from(text.clone())),
            ));
        }
        scratch.clear();
        if let Err(e) = decode_frame(text.as_str(), received, scratch) {
            self.malformed(&e.to_string());
            return Ok(false);
        }
        *healthy = true;
        if self.shared.emit_raw {
            if let Some(raw) = self.batch.events.last_mut() {
                raw.tag_raw(scratch);
            }
        }
        let mut seen_instruments = false;
        let now = Instant::now();
        let (mut kept, mut stale) = (0usize, 0usize);
        for event in scratch.drain(..) {
            if matches!(event.kind, EventKind::Instrument(_)) {
                seen_instruments = true;
            }
            if self.accept(event, now) {
                kept += 1;
            } else {
                stale += 1;
            }
        }
        // A frame is stale when everything it held was; otherwise it was decoded and passed on.
        let counter = if stale > 0 && kept == 0 {
            &self.shared.counters.stale
        } else {
            &self.shared.counters.decoded
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(seen_instruments)
    }

    fn malformed(&self, reason: &str) {
        let n = self
            .shared
            .counters
            .malformed
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        if n <= SHOWN_MALFORMED {
            tracing::warn!("{}: skipped malformed frame: {reason}", self.label);
        } else if n == SHOWN_MALFORMED + 1 {
            tracing::warn!(
                "{}: more malformed frames; counting without showing",
                self.label
            );
        }
    }

    /// Counts a book message of an old subscription; false (it was not kept).
    fn stale(&self, symbol: Option<Symbol>) -> bool {
        if let Some(symbol) = symbol {
            let mut by_symbol = self
                .shared
                .counters
                .stale_by_symbol
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *by_symbol.entry(symbol).or_default() += 1;
        }
        false
    }
}
