//! One WebSocket connection carrying a group of symbols: connect, subscribe (instrument first,
//! then book), read and batch frames, keep each symbol's subscription state, resync symbols on
//! request, reconnect when the connection dies.
//!
//! Per symbol, book frames are accepted only while its subscription is live: from a reset
//! (reconnect, resync, precision change) until its next snapshot, updates are dropped, so
//! frames of an old subscription never merge into a new book.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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

/// Malformed frames logged one by one before only counting.
const SHOWN_MALFORMED: u64 = 5;

/// Counters shared by every connection of a source.
#[derive(Debug, Default)]
pub struct Counters {
    /// Frames received.
    pub frames: AtomicU64,
    /// Frames that did not decode.
    pub malformed: AtomicU64,
    /// Book frames of an old subscription that were dropped.
    pub stale: AtomicU64,
    /// Successful connects.
    pub connects: AtomicU64,
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
        let backoff = Backoff::new(shared.config.reconnect.clone(), index as u64 + 1);
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
        let mut seen_instruments = false;
        let now = Instant::now();
        for event in scratch.drain(..) {
            if matches!(event.kind, EventKind::Instrument(_)) {
                seen_instruments = true;
            }
            self.accept(event, now);
        }
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

    fn stale(&self) {
        self.shared.counters.stale.fetch_add(1, Ordering::Relaxed);
    }

    /// Applies the subscription state machine to one decoded event and keeps it or drops it.
    fn accept(&mut self, mut event: Event, now: Instant) {
        let sym = event.symbol;
        match &event.kind {
            EventKind::BookSnapshot(_) => {
                let Some(st) = sym.and_then(|s| self.state.get_mut(&s)) else {
                    return self.stale();
                };
                match st.phase {
                    Phase::Subscribing(_) | Phase::AwaitSnapshot(_) | Phase::Live => {
                        st.phase = Phase::Live;
                        st.failures = 0;
                        st.server_subscribed = true;
                    }
                    _ => return self.stale(),
                }
            }
            EventKind::BookUpdate(_) => {
                let live = sym
                    .and_then(|s| self.state.get(&s))
                    .is_some_and(|st| st.phase == Phase::Live);
                if !live {
                    return self.stale();
                }
            }
            EventKind::Instrument(info) => {
                let Some(s) = sym.filter(|s| self.state.contains_key(s)) else {
                    // Another connection's pair: not this connection's business.
                    return;
                };
                let info = *info;
                let old = self.precision.insert(s, info);
                self.batch.push(event);
                if old.is_some_and(|o| o != info) {
                    tracing::info!(
                        "{s}: precision changed to {}/{}; resyncing its book",
                        info.price_precision,
                        info.qty_precision
                    );
                    self.start_resync(s, ResetReason::PrecisionChange, now);
                }
                return;
            }
            EventKind::SubscriptionAck(info) if info.channel == "book" => {
                if let Some(s) = sym {
                    let method = info.method;
                    let mut resubscribe = false;
                    if let Some(st) = self.state.get_mut(&s) {
                        match method {
                            SubscriptionMethod::Subscribe => {
                                st.server_subscribed = true;
                                if matches!(st.phase, Phase::Subscribing(_)) {
                                    st.phase = Phase::AwaitSnapshot(now);
                                }
                            }
                            SubscriptionMethod::Unsubscribe => {
                                st.server_subscribed = false;
                                resubscribe = matches!(st.phase, Phase::Unsubscribing(_));
                            }
                        }
                    }
                    if resubscribe {
                        self.resubscribe(s, now);
                    }
                }
            }
            EventKind::SubscriptionError(info) => {
                let info = info.clone();
                let targets: Vec<Symbol> = match sym {
                    Some(s) => vec![s],
                    None => info
                        .req_id
                        .and_then(|id| self.pending.get(&id).cloned())
                        .unwrap_or_default(),
                };
                if targets.len() == 1 && event.symbol.is_none() {
                    event.symbol = Some(targets[0]);
                }
                if targets.is_empty() {
                    tracing::warn!(
                        "{}: Kraken refused a {} request: {}",
                        self.label,
                        if info.channel.is_empty() {
                            "subscription"
                        } else {
                            &info.channel
                        },
                        info.error.as_deref().unwrap_or("no reason given")
                    );
                }
                if info.method == SubscriptionMethod::Unsubscribe && !targets.is_empty() {
                    // Part of a resync: "not subscribed" is as good as unsubscribed, not an
                    // error a consumer should see.
                    tracing::debug!(
                        "{}: unsubscribe refused ({}); subscribing again",
                        self.label,
                        info.error.as_deref().unwrap_or("no reason given")
                    );
                    for s in targets {
                        self.refusal(s, &info, now);
                    }
                    return;
                }
                for s in targets {
                    self.refusal(s, &info, now);
                }
            }
            _ => {}
        }
        self.batch.push(event);
    }

    fn resubscribe(&mut self, s: Symbol, now: Instant) {
        if let Some(st) = self.state.get_mut(&s) {
            st.phase = Phase::Subscribing(now);
        }
        self.send_book("subscribe", vec![s]);
    }

    fn refusal(&mut self, s: Symbol, info: &SubscriptionInfo, now: Instant) {
        let error = info.error.clone().unwrap_or_else(|| "refused".into());
        let max = self.cfg().resync_max_attempts;
        let Some(st) = self.state.get_mut(&s) else {
            return;
        };
        if info.method == SubscriptionMethod::Unsubscribe {
            // Nothing to unsubscribe is as good as unsubscribed.
            st.server_subscribed = false;
            if matches!(st.phase, Phase::Unsubscribing(_)) {
                self.resubscribe(s, now);
            }
            return;
        }
        match classify_refusal(&error) {
            Refusal::Transient if st.failures + 1 < max => {
                st.failures += 1;
                let delay = Backoff::nominal_delay(&self.shared.config.reconnect, st.failures);
                tracing::warn!(
                    "{s}: Kraken refused the book subscription ({error}); retrying in {} ms",
                    delay.as_millis()
                );
                st.phase = Phase::RetryAt(now + delay);
            }
            _ => {
                tracing::error!("{s}: Kraken refused the book subscription: {error}");
                st.phase = Phase::Refused(error);
            }
        }
    }

    fn start_resync(&mut self, s: Symbol, reason: ResetReason, now: Instant) {
        let Some(st) = self.state.get_mut(&s) else {
            return;
        };
        match st.phase {
            Phase::Refused(_) => return,
            Phase::Idle | Phase::Live | Phase::RetryAt(_) => {}
            // A resync is already on its way to a fresh snapshot.
            _ => {
                tracing::debug!("{s}: resync already in progress");
                return;
            }
        }
        self.batch.push(Event::new(
            Some(s),
            Timestamp::now(),
            EventKind::BookReset { reason },
        ));
        self.begin_subscription_cycle(s, now);
    }

    fn begin_subscription_cycle(&mut self, s: Symbol, now: Instant) {
        let Some(st) = self.state.get_mut(&s) else {
            return;
        };
        if st.server_subscribed {
            st.phase = Phase::Unsubscribing(now);
            self.send_book("unsubscribe", vec![s]);
        } else {
            self.resubscribe(s, now);
        }
    }

    fn control_request(&mut self, req: ControlRequest) -> Option<End> {
        match req {
            ControlRequest::Resync { symbol, reason } => {
                if self.state.contains_key(&symbol) {
                    tracing::info!("{symbol}: resync requested ({})", reason.as_str());
                    self.start_resync(symbol, reason, Instant::now());
                }
                None
            }
            ControlRequest::Reconnect { symbol } => {
                if !self.state.contains_key(&symbol) {
                    return None;
                }
                Some(End::Lost {
                    error: KrakenError::Io(format!("reconnect requested for {symbol}")),
                    healthy: true,
                })
            }
        }
    }

    /// Retries due, and subscriptions that got no ack or no snapshot in time.
    fn check_timeouts(&mut self, now: Instant, timeout: Duration) -> Option<End> {
        let max = self.cfg().resync_max_attempts;
        let depth = self.cfg().depth;
        let mut escalate = None;
        for s in self.symbols.clone() {
            let Some(st) = self.state.get_mut(&s) else {
                continue;
            };
            let what = match st.phase {
                Phase::RetryAt(at) if at <= now => {
                    self.begin_subscription_cycle(s, now);
                    continue;
                }
                Phase::Subscribing(t) if now.duration_since(t) >= timeout => "no subscription ack",
                Phase::AwaitSnapshot(t) if now.duration_since(t) >= timeout => "no snapshot",
                Phase::Unsubscribing(t) if now.duration_since(t) >= timeout => "no unsubscribe ack",
                _ => continue,
            };
            st.failures += 1;
            let failures = st.failures;
            let reconnect = &self.shared.config.reconnect;
            let delay = if failures >= max {
                Duration::from_millis(reconnect.max_backoff_ms)
            } else {
                Backoff::nominal_delay(reconnect, failures)
            };
            st.phase = Phase::RetryAt(now + delay);
            if failures % max == 0 {
                let error = format!(
                    "{what} within {} ms, {failures} attempts in a row",
                    timeout.as_millis()
                );
                tracing::error!("{s}: {error}; next try in {} ms", delay.as_millis());
                self.batch.push(Event::new(
                    Some(s),
                    Timestamp::now(),
                    EventKind::SubscriptionError(SubscriptionInfo {
                        method: SubscriptionMethod::Subscribe,
                        channel: "book".into(),
                        depth: Some(depth),
                        req_id: None,
                        error: Some(error),
                    }),
                ));
                if failures == max && escalate.is_none() {
                    escalate = Some(s);
                }
            } else {
                tracing::warn!(
                    "{s}: {what} within {} ms (attempt {failures}); retrying in {} ms",
                    timeout.as_millis(),
                    delay.as_millis()
                );
            }
        }
        escalate.map(|s| End::Lost {
            error: KrakenError::Io(format!(
                "{s} could not be resynced; recycling its connection"
            )),
            healthy: true,
        })
    }

    fn all_refused(&self) -> Option<Vec<(Symbol, String)>> {
        let mut list = Vec::with_capacity(self.symbols.len());
        for s in &self.symbols {
            match self.state.get(s).map(|st| &st.phase) {
                Some(Phase::Refused(e)) => list.push((*s, e.clone())),
                _ => return None,
            }
        }
        Some(list)
    }
}
