//! The engine's hooks: a [`WorkerProbe`] per shard worker and a [`SinkProbe`] per sink. Each
//! call covers a whole batch; per-event work is a type match and an array increment, and
//! anything behind a lock happens only for rare events (snapshots, mismatches, resets).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use opentelemetry::KeyValue;

use super::state::{lock, reason_index, BookEntry, ComponentCounters, Connection};
use super::Telemetry;
use crate::book::{BookStats, BookStore};
use crate::bus::Sequencer;
use crate::decimal::Decimal;
use crate::event::{EventBatch, EventKind, EventType};
use crate::symbol::Symbol;
use crate::time::Timestamp;

/// One shard worker's view of [`Telemetry`].
pub struct WorkerProbe {
    telemetry: Telemetry,
    source: Arc<ComponentCounters>,
    handlers: Vec<Arc<ComponentCounters>>,
    last: BookStats,
    /// Symbols whose validity may have changed in the batch being processed.
    touched: Vec<Symbol>,
    started: Option<Instant>,
    /// The batch being processed arrived with an event that may change a book's validity.
    rare: bool,
}

impl std::fmt::Debug for WorkerProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerProbe").finish_non_exhaustive()
    }
}

impl WorkerProbe {
    /// A probe for a worker running the handlers at `handler_paths`.
    pub fn new(telemetry: &Telemetry, handler_paths: &[String]) -> Self {
        Self {
            telemetry: telemetry.clone(),
            source: telemetry.component("source"),
            handlers: handler_paths
                .iter()
                .map(|p| telemetry.component(p))
                .collect(),
            last: BookStats::default(),
            touched: Vec::new(),
            started: None,
            rare: false,
        }
    }

    /// A batch arrived from the source, before any handler ran.
    pub fn received(&mut self, batch: &EventBatch) {
        self.started = Some(Instant::now());
        let inner = &self.telemetry.inner;
        self.source
            .events_out
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut counts = [0u64; EventType::ALL.len()];
        self.rare = false;
        let mut exchange = None;
        for e in &batch.events {
            let t = e.event_type();
            counts[t as usize] += 1;
            if exchange.is_none() {
                exchange = e.exchange_ts.map(|x| (e.received_ts, x));
            }
            match &e.kind {
                EventKind::BookUpdate(_) | EventKind::Heartbeat | EventKind::Raw(_) => {}
                EventKind::BookSnapshot(b) => {
                    self.rare = true;
                    if let Some(h) = &inner.histograms {
                        h.snapshot_size.record(snapshot_bytes(b), &[]);
                    }
                }
                _ => self.rare = true,
            }
        }
        for (t, n) in counts.iter().enumerate() {
            if *n > 0 {
                inner.messages[t].fetch_add(*n, Ordering::Relaxed);
            }
        }
        if let (Some(h), Some((rx, x))) = (&inner.histograms, exchange) {
            h.exchange.record(seconds_between(x, rx), &[]);
        }
    }

    /// Handler `index` turned `before` events into `after`, failing or not.
    pub fn handled(&self, index: usize, before: usize, after: usize, failed: bool) {
        if let Some(c) = self.handlers.get(index) {
            c.events_in.fetch_add(before as u64, Ordering::Relaxed);
            c.events_out.fetch_add(after as u64, Ordering::Relaxed);
            if failed {
                c.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The chain has run over `batch`; `books` is the shard's store after it.
    pub fn processed(&mut self, batch: &EventBatch, books: &BookStore) {
        let inner = &self.telemetry.inner;
        if let (Some(h), Some(t0)) = (&inner.histograms, self.started.take()) {
            h.process.record(t0.elapsed().as_secs_f64(), &[]);
        }
        let stats = books.stats;
        // Validity changes with snapshots, acks, resets (seen on arrival) and mismatches (which
        // the checksum handler adds): otherwise the batch needs no second look.
        let rare = self.rare
            || stats.mismatches != self.last.mismatches
            || stats.precision_errors != self.last.precision_errors
            || stats.resyncs != self.last.resyncs
            || stats.reconnects != self.last.reconnects;
        let snaps = stats.snapshots - self.last.snapshots.min(stats.snapshots);
        let ups = stats.updates - self.last.updates.min(stats.updates);
        if snaps > 0 {
            inner.snapshots.fetch_add(snaps, Ordering::Relaxed);
        }
        if ups > 0 {
            inner.updates.fetch_add(ups, Ordering::Relaxed);
        }
        self.last = stats;

        if !rare {
            return;
        }
        // Validity changes only with these (rare) events: publish just their symbols.
        let mut entries = None;
        for e in &batch.events {
            let Some(symbol) = e.symbol else { continue };
            let (mismatch, reset) = match &e.kind {
                EventKind::ChecksumMismatch { .. } => (true, None),
                EventKind::BookReset { reason } => (false, Some(*reason)),
                EventKind::BookSnapshot(_)
                | EventKind::SubscriptionAck(_)
                | EventKind::SubscriptionError(_)
                | EventKind::Instrument(_) => (false, None),
                _ => continue,
            };
            let map = entries.get_or_insert_with(|| lock(&inner.books));
            let entry = map.entry(symbol).or_insert_with(BookEntry::default);
            if mismatch {
                entry.mismatches += 1;
            }
            if let Some(r) = reset {
                entry.resets[reason_index(r)] += 1;
            }
            self.touched.push(symbol);
        }
        if let Some(mut map) = entries {
            for s in self.touched.drain(..) {
                let entry = map.entry(s).or_default();
                publish(entry, books, &s);
            }
        }
    }

    /// About once a second: refresh every book's validity and spread, and when each symbol
    /// last had an event (its sequence number moved).
    pub fn tick(&mut self, books: &BookStore, sequencer: &Sequencer) {
        let now = Timestamp::now().0 as f64 / 1e9;
        let mut map = lock(&self.telemetry.inner.books);
        for (s, _) in books.iter() {
            let entry = map.entry(*s).or_default();
            publish(entry, books, s);
            let seq = sequencer.last(s);
            if seq != entry.last_seq {
                entry.last_seq = seq;
                entry.last_event = Some(now);
            }
        }
    }
}

fn publish(entry: &mut BookEntry, books: &BookStore, symbol: &Symbol) {
    entry.seen = true;
    let state = books.get(symbol);
    let book = books.book(symbol);
    entry.valid = book.is_some();
    entry.why = match state {
        _ if entry.valid => "",
        Some(s) if s.book.is_some() => "checksum mismatch or reset; resync pending",
        _ => "no snapshot yet",
    };
    entry.spread = book.and_then(|b| {
        let bid = b.bids().next()?.price;
        let ask = b.asks().next()?.price;
        Some(to_f64(ask) - to_f64(bid))
    });
}

/// For the spread gauge only (Prometheus samples are floats); books stay exact.
fn to_f64(d: Decimal) -> f64 {
    d.mantissa() as f64 / 10f64.powi(i32::from(d.scale()))
}

fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    (to.0.saturating_sub(from.0)).max(0) as f64 / 1e9
}

/// Bytes of a snapshot's numbers as text (`45283.5` is 7), without rendering them.
fn snapshot_bytes(b: &crate::event::BookData) -> u64 {
    fn len(d: Decimal) -> u64 {
        let digits = d.mantissa().checked_ilog10().map_or(1, |l| l + 1) as u64;
        let scale = u64::from(d.scale());
        if scale == 0 {
            digits
        } else {
            digits.max(scale + 1) + 1
        }
    }
    b.bids
        .iter()
        .chain(&b.asks)
        .map(|l| len(l.price) + len(l.qty))
        .sum()
}

/// One sink's view of [`Telemetry`].
pub struct SinkProbe {
    telemetry: Telemetry,
    counters: Arc<ComponentCounters>,
    attrs: [KeyValue; 1],
    connection: Connection,
}

impl std::fmt::Debug for SinkProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkProbe").finish_non_exhaustive()
    }
}

impl SinkProbe {
    /// The probe of sink `id`, whose connectivity `connection` reports.
    pub fn new(telemetry: &Telemetry, id: &str, connection: Connection) -> Self {
        telemetry.watch_sink(id, connection.clone());
        Self {
            telemetry: telemetry.clone(),
            counters: telemetry.component(&format!("sinks.{id}")),
            attrs: [KeyValue::new("sink", id.to_string())],
            connection,
        }
    }

    /// The sink took `batch` and wrote `records` of it (or failed).
    pub fn written(&self, batch: &EventBatch, records: Option<u64>) {
        let c = &self.counters;
        c.events_in.fetch_add(batch.len() as u64, Ordering::Relaxed);
        match records {
            Some(n) => {
                c.events_out.fetch_add(n, Ordering::Relaxed);
                if let Some(first) = batch.events.first() {
                    let latency = seconds_between(first.received_ts, Timestamp::now());
                    if let Some(h) = &self.telemetry.inner.histograms {
                        h.e2e.record(latency, &self.attrs);
                    }
                    self.telemetry.e2e_bucket(latency);
                }
            }
            None => {
                c.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The sink's task ended (closed or failed): it is no longer connected.
    pub fn ended(&self) {
        self.connection.set(false);
    }
}
