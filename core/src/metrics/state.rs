//! [`Telemetry`]: what the engine measures, kept in atomics and small maps that the shard
//! workers and sinks update once per batch, read by observable instruments at scrape time, by
//! `/ready`, and by the terminal status line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::KeyValue;

use super::catalog as name;
use crate::event::{EventType, ResetReason};
use crate::symbol::Symbol;

/// Whether a sink reaches its destination; a sink that has a connection shares one with the
/// engine through [`crate::component::Sink::connection`] and flips it as it connects and
/// loses its broker.
#[derive(Clone, Debug)]
pub struct Connection(Arc<AtomicBool>);

impl Connection {
    /// A flag that starts as `connected`.
    pub fn new(connected: bool) -> Self {
        Self(Arc::new(AtomicBool::new(connected)))
    }

    /// Records whether the sink is connected now.
    pub fn set(&self, connected: bool) {
        self.0.store(connected, Ordering::Relaxed);
    }

    /// Whether the sink is connected now.
    pub fn is_connected(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counts of one component, shared by every shard's copy of it.
#[derive(Debug, Default)]
pub(crate) struct ComponentCounters {
    pub(crate) name: String,
    pub(crate) events_in: AtomicU64,
    pub(crate) events_out: AtomicU64,
    pub(crate) errors: AtomicU64,
}

/// What the engine knows about one symbol's book.
#[derive(Clone, Debug, Default)]
pub(crate) struct BookEntry {
    pub(crate) valid: bool,
    /// Whether any worker reported on it (else it is only expected).
    pub(crate) seen: bool,
    /// Why it is not valid, for `/ready`.
    pub(crate) why: &'static str,
    pub(crate) mismatches: u64,
    pub(crate) resets: [u64; 4],
    pub(crate) spread: Option<f64>,
    /// The symbol's sequence number at the last tick, and when it last moved (Unix seconds).
    pub(crate) last_seq: u64,
    pub(crate) last_event: Option<f64>,
}

pub(crate) fn reason_index(r: ResetReason) -> usize {
    match r {
        ResetReason::Reconnect => 0,
        ResetReason::Resync => 1,
        ResetReason::PrecisionChange => 2,
        ResetReason::CannotResync => 3,
    }
}

const REASONS: [ResetReason; 4] = [
    ResetReason::Reconnect,
    ResetReason::Resync,
    ResetReason::PrecisionChange,
    ResetReason::CannotResync,
];

type FillProbe = Box<dyn Fn() -> Option<(usize, usize)> + Send + Sync>;

pub(crate) struct Channel {
    stage: String,
    probe: FillProbe,
}

/// The histograms, created once.
#[derive(Clone, Debug)]
pub(crate) struct Histograms {
    pub(crate) process: Histogram<f64>,
    pub(crate) snapshot_size: Histogram<u64>,
    pub(crate) e2e: Histogram<f64>,
    pub(crate) exchange: Histogram<f64>,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub(crate) messages: [AtomicU64; EventType::ALL.len()],
    pub(crate) snapshots: AtomicU64,
    pub(crate) updates: AtomicU64,
    pub(crate) started: AtomicBool,
    pub(crate) books: Mutex<BTreeMap<Symbol, BookEntry>>,
    pub(crate) components: Mutex<Vec<Arc<ComponentCounters>>>,
    pub(crate) channels: Mutex<Vec<Channel>>,
    pub(crate) sinks: Mutex<Vec<(String, Connection)>>,
    /// End-to-end latency in power-of-two microsecond buckets, for the status line's p99.
    pub(crate) e2e_buckets: [AtomicU64; 32],
    pub(crate) histograms: Option<Histograms>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the metrics down with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The engine's measurements: cheap to clone, shared by the run, the HTTP endpoint and the
/// terminal.
#[derive(Clone)]
pub struct Telemetry {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

/// `/ready`'s answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// Every expected book is valid and every sink connected.
    pub ready: bool,
    /// What is not ready, one line each (empty when ready).
    pub problems: Vec<String>,
}

/// Totals for the terminal's status line and the exit summary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusSnapshot {
    /// Valid books.
    pub books_valid: usize,
    /// Books expected or seen.
    pub books_total: usize,
    /// Exchange messages received (every type).
    pub messages: u64,
    /// Checksum mismatches.
    pub mismatches: u64,
    /// Resets of every reason.
    pub resets: u64,
    /// End-to-end latency p99 over the whole run, in seconds (an upper bucket bound).
    pub e2e_p99: Option<f64>,
    /// Batches queued per sink channel: `(sink, queued, capacity)`.
    pub sink_queues: Vec<(String, usize, usize)>,
}

/// Bounds for latencies in seconds: 50 µs to 10 s.
const LATENCY_BOUNDS: [f64; 16] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

impl Telemetry {
    /// Measurements that only feed `/ready` and the terminal (no instruments).
    pub fn local() -> Self {
        Self {
            inner: Arc::new(Inner::default()),
        }
    }

    /// Measurements exported through the global meter provider (see
    /// [`super::Exporter::install`]).
    pub fn global() -> Self {
        Self::new(&opentelemetry::global::meter("kobe"))
    }

    /// Measurements exported through `meter` (usually `opentelemetry::global::meter("kobe")`
    /// after [`super::Exporter::install`]).
    pub fn new(meter: &Meter) -> Self {
        let histograms = Histograms {
            process: meter
                .f64_histogram(name::PROCESS_LATENCY)
                .with_description(help(name::PROCESS_LATENCY))
                .with_boundaries(LATENCY_BOUNDS.to_vec())
                .build(),
            snapshot_size: meter
                .u64_histogram(name::SNAPSHOT_SIZE)
                .with_description(help(name::SNAPSHOT_SIZE))
                .with_boundaries(vec![
                    256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0,
                ])
                .build(),
            e2e: meter
                .f64_histogram(name::E2E_LATENCY)
                .with_description(help(name::E2E_LATENCY))
                .with_boundaries(LATENCY_BOUNDS.to_vec())
                .build(),
            exchange: meter
                .f64_histogram(name::EXCHANGE_LATENCY)
                .with_description(help(name::EXCHANGE_LATENCY))
                .with_boundaries(LATENCY_BOUNDS.to_vec())
                .build(),
        };
        let t = Self {
            inner: Arc::new(Inner {
                histograms: Some(histograms),
                ..Inner::default()
            }),
        };
        t.register(meter);
        t
    }

    fn register(&self, meter: &Meter) {
        let i = self.inner.clone();
        meter
            .u64_observable_counter(name::WS_MESSAGES)
            .with_description(help(name::WS_MESSAGES))
            .with_callback(move |o| {
                for t in EventType::ALL {
                    if matches!(
                        t,
                        EventType::Raw
                            | EventType::BookTop
                            | EventType::ChecksumMismatch
                            | EventType::BookReset
                    ) {
                        continue;
                    }
                    let n = i.messages[t as usize].load(Ordering::Relaxed);
                    o.observe(n, &[KeyValue::new("type", t.as_str())]);
                }
            })
            .build();
        let i = self.inner.clone();
        meter
            .u64_observable_counter(name::SNAPSHOTS)
            .with_description(help(name::SNAPSHOTS))
            .with_callback(move |o| o.observe(i.snapshots.load(Ordering::Relaxed), &[]))
            .build();
        let i = self.inner.clone();
        meter
            .u64_observable_counter(name::UPDATES)
            .with_description(help(name::UPDATES))
            .with_callback(move |o| o.observe(i.updates.load(Ordering::Relaxed), &[]))
            .build();
        meter
            .u64_observable_gauge(name::BUILD_INFO)
            .with_description(help(name::BUILD_INFO))
            .with_callback(|o| o.observe(1, &[KeyValue::new("version", env!("CARGO_PKG_VERSION"))]))
            .build();
        let i = self.inner.clone();
        meter
            .f64_observable_gauge(name::PRICE_SPREAD)
            .with_description(help(name::PRICE_SPREAD))
            .with_callback(move |o| {
                for (s, b) in lock(&i.books).iter() {
                    if let (true, Some(spread)) = (b.valid, b.spread) {
                        o.observe(spread, &[KeyValue::new("symbol", s.to_string())]);
                    }
                }
            })
            .build();
        let i = self.inner.clone();
        meter
            .f64_observable_gauge(name::LAST_EVENT)
            .with_description(help(name::LAST_EVENT))
            .with_callback(move |o| {
                for (s, b) in lock(&i.books).iter() {
                    if let Some(t) = b.last_event {
                        o.observe(t, &[KeyValue::new("symbol", s.to_string())]);
                    }
                }
            })
            .build();
        let i = self.inner.clone();
        meter
            .u64_observable_counter(name::MISMATCHES)
            .with_description(help(name::MISMATCHES))
            .with_callback(move |o| {
                for (s, b) in lock(&i.books).iter().filter(|(_, b)| b.seen) {
                    o.observe(b.mismatches, &[KeyValue::new("symbol", s.to_string())]);
                }
            })
            .build();
        let i = self.inner.clone();
        meter
            .u64_observable_counter(name::RESETS)
            .with_description(help(name::RESETS))
            .with_callback(move |o| {
                for (s, b) in lock(&i.books).iter().filter(|(_, b)| b.seen) {
                    for r in REASONS {
                        o.observe(
                            b.resets[reason_index(r)],
                            &[
                                KeyValue::new("symbol", s.to_string()),
                                KeyValue::new("reason", r.as_str()),
                            ],
                        );
                    }
                }
            })
            .build();
        let i = self.inner.clone();
        meter
            .u64_observable_gauge(name::BOOK_VALID)
            .with_description(help(name::BOOK_VALID))
            .with_callback(move |o| {
                for (s, b) in lock(&i.books).iter() {
                    o.observe(b.valid as u64, &[KeyValue::new("symbol", s.to_string())]);
                }
            })
            .build();
        let i = self.inner.clone();
        meter
            .u64_observable_gauge(name::BOOKS_VALID)
            .with_description(help(name::BOOKS_VALID))
            .with_callback(move |o| {
                let n = lock(&i.books).values().filter(|b| b.valid).count();
                o.observe(n as u64, &[]);
            })
            .build();
        let i = self.inner.clone();
        meter
            .u64_observable_gauge(name::BOOKS_TOTAL)
            .with_description(help(name::BOOKS_TOTAL))
            .with_callback(move |o| o.observe(lock(&i.books).len() as u64, &[]))
            .build();
        for (metric, pick) in [
            (name::EVENTS_IN, 0usize),
            (name::EVENTS_OUT, 1),
            (name::ERRORS, 2),
        ] {
            let i = self.inner.clone();
            meter
                .u64_observable_counter(metric)
                .with_description(help(metric))
                .with_callback(move |o| {
                    for c in lock(&i.components).iter() {
                        let v = match pick {
                            0 => &c.events_in,
                            1 => &c.events_out,
                            _ => &c.errors,
                        };
                        o.observe(
                            v.load(Ordering::Relaxed),
                            &[KeyValue::new("component", c.name.clone())],
                        );
                    }
                })
                .build();
        }
        for (metric, fill) in [(name::CHANNEL_FILL, true), (name::CHANNEL_CAPACITY, false)] {
            let i = self.inner.clone();
            meter
                .u64_observable_gauge(metric)
                .with_description(help(metric))
                .with_callback(move |o| {
                    for c in lock(&i.channels).iter() {
                        if let Some((used, cap)) = (c.probe)() {
                            let v = if fill { used } else { cap };
                            o.observe(v as u64, &[KeyValue::new("stage", c.stage.clone())]);
                        }
                    }
                })
                .build();
        }
        let i = self.inner.clone();
        meter
            .u64_observable_gauge(name::SINK_CONNECTED)
            .with_description(help(name::SINK_CONNECTED))
            .with_callback(move |o| {
                for (id, c) in lock(&i.sinks).iter() {
                    o.observe(
                        c.is_connected() as u64,
                        &[KeyValue::new("sink", id.clone())],
                    );
                }
            })
            .build();
    }

    /// The counters of component `name` (`source`, `handlers[0]`, `sinks.out`), created on
    /// first use; every shard's copy of a handler shares them.
    pub(crate) fn component(&self, name: &str) -> Arc<ComponentCounters> {
        let mut list = lock(&self.inner.components);
        if let Some(c) = list.iter().find(|c| c.name == name) {
            return c.clone();
        }
        let c = Arc::new(ComponentCounters {
            name: name.to_string(),
            ..ComponentCounters::default()
        });
        list.push(c.clone());
        c
    }

    /// Symbols the source will subscribe: not ready until each has a valid book.
    pub fn expect_symbols(&self, symbols: impl IntoIterator<Item = Symbol>) {
        let mut books = lock(&self.inner.books);
        for s in symbols {
            books.entry(s).or_insert_with(|| BookEntry {
                why: "no snapshot yet",
                ..BookEntry::default()
            });
        }
    }

    /// Watches a bounded channel's fill through a weak sender (it never keeps the channel open).
    pub fn watch_channel<T: Send + 'static>(
        &self,
        stage: impl Into<String>,
        tx: &tokio::sync::mpsc::Sender<T>,
    ) {
        let weak = tx.downgrade();
        let probe: FillProbe = Box::new(move || {
            let tx = weak.upgrade()?;
            Some((tx.max_capacity() - tx.capacity(), tx.max_capacity()))
        });
        lock(&self.inner.channels).push(Channel {
            stage: stage.into(),
            probe,
        });
    }

    /// Registers sink `id`'s connection flag.
    pub fn watch_sink(&self, id: &str, connection: Connection) {
        lock(&self.inner.sinks).push((id.to_string(), connection));
    }

    /// Marks the pipeline as running (built, tasks started).
    pub fn set_started(&self, started: bool) {
        self.inner.started.store(started, Ordering::Relaxed);
    }

    /// What `/ready` answers now.
    pub fn readiness(&self) -> Readiness {
        let mut problems = Vec::new();
        if !self.inner.started.load(Ordering::Relaxed) {
            problems.push("pipeline: not running".to_string());
        }
        {
            let books = lock(&self.inner.books);
            if books.is_empty() {
                problems.push("books: none received yet".to_string());
            }
            for (s, b) in books.iter().filter(|(_, b)| !b.valid) {
                problems.push(format!("book {s}: not valid ({})", b.why));
            }
        }
        for (id, c) in lock(&self.inner.sinks).iter() {
            if !c.is_connected() {
                problems.push(format!("sink {id}: not connected"));
            }
        }
        Readiness {
            ready: problems.is_empty(),
            problems,
        }
    }

    /// Totals for the terminal.
    pub fn status(&self) -> StatusSnapshot {
        let i = &self.inner;
        let (books_valid, books_total, mismatches, resets) = {
            let books = lock(&i.books);
            (
                books.values().filter(|b| b.valid).count(),
                books.len(),
                books.values().map(|b| b.mismatches).sum(),
                books.values().map(|b| b.resets.iter().sum::<u64>()).sum(),
            )
        };
        let messages = i.messages.iter().map(|m| m.load(Ordering::Relaxed)).sum();
        let sink_queues = lock(&i.channels)
            .iter()
            .filter(|c| c.stage.starts_with("sinks."))
            .filter_map(|c| {
                let (used, cap) = (c.probe)()?;
                Some((c.stage["sinks.".len()..].to_string(), used, cap))
            })
            .collect();
        StatusSnapshot {
            books_valid,
            books_total,
            messages,
            mismatches,
            resets,
            e2e_p99: self.e2e_quantile(0.99),
            sink_queues,
        }
    }

    /// Records one end-to-end latency sample in the status line's buckets.
    pub(crate) fn e2e_bucket(&self, seconds: f64) {
        let micros = (seconds * 1e6).max(1.0) as u64;
        let b = (63 - micros.leading_zeros() as usize).min(self.inner.e2e_buckets.len() - 1);
        self.inner.e2e_buckets[b].fetch_add(1, Ordering::Relaxed);
    }

    fn e2e_quantile(&self, q: f64) -> Option<f64> {
        let counts: Vec<u64> = self
            .inner
            .e2e_buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let want = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (b, n) in counts.iter().enumerate() {
            seen += n;
            if seen >= want {
                // Upper bound of bucket b: 2^(b+1) µs.
                return Some((1u64 << (b + 1)) as f64 / 1e6);
            }
        }
        None
    }
}

fn help(metric: &str) -> &'static str {
    name::CATALOG
        .iter()
        .find(|m| m.name == metric)
        .map(|m| m.help)
        .unwrap_or("")
}
