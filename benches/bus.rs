//! Bus overhead: events/s through source → 3 passthrough handlers → 2 sinks on the real engine,
//! against a plain single-thread loop doing the same work (make the events, run the three
//! handlers, let two sinks look at every event), measured in the same run.
//!
//! `cargo bench --bench bus` (set `KOBE_BENCH_EVENTS` to change the event count).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kobe_core::book::BookStore;
use kobe_core::component::{HandlerConfig, SinkConfig, SourceConfig};
use kobe_core::pipeline::{run, EngineOptions, HandlerSpec, Pipeline, SinkSpec};
use kobe_core::{
    ComponentError, Event, EventBatch, EventFilter, EventKind, EventType, Handler, HandlerContext,
    Sink, SinkReport, Source, SourceContext, SourceReport, Symbol, Timestamp,
};
use kobe_plugins::passthrough::PassthroughConfig;
use tokio_util::sync::CancellationToken;

const BATCH: usize = 512;

fn symbols() -> Vec<Symbol> {
    (0..16)
        .map(|i| Symbol::new(&format!("S{i}/USD")).unwrap())
        .collect()
}

/// Makes batch number `b` (the same events in both measurements).
fn make_batch(b: u64, symbols: &[Symbol]) -> EventBatch {
    let mut batch = EventBatch::with_capacity(BATCH);
    for i in 0..BATCH as u64 {
        let n = b * BATCH as u64 + i;
        batch.push(Event::new(
            Some(symbols[(n % 16) as usize]),
            Timestamp(n as i64),
            EventKind::Heartbeat,
        ));
    }
    batch
}

/// What each sink does per batch in both measurements: look at every event.
fn consume(batch: &EventBatch, filter: EventFilter) -> u64 {
    let mut n = 0;
    for e in &batch.events {
        if filter.accepts(e.event_type()) {
            n += std::hint::black_box(e.received_ts.0) as u64 & 1;
            n += 1;
        }
    }
    n
}

#[derive(Debug, Clone)]
struct GenSource {
    batches: u64,
}

#[async_trait]
impl SourceConfig for GenSource {
    async fn build(&self) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(self.clone()))
    }
}

#[async_trait]
impl Source for GenSource {
    async fn run(self: Box<Self>, mut cx: SourceContext) -> Result<SourceReport, ComponentError> {
        let symbols = symbols();
        for b in 0..self.batches {
            cx.output.send(make_batch(b, &symbols)).await?;
        }
        Ok(SourceReport::default())
    }
}

#[derive(Debug, Clone, Default)]
struct CountSink {
    count: Arc<AtomicU64>,
}

#[async_trait]
impl SinkConfig for CountSink {
    async fn build(&self, _id: &str) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(self.clone()))
    }
}

#[async_trait]
impl Sink for CountSink {
    async fn write(
        &mut self,
        batch: &EventBatch,
        filter: EventFilter,
    ) -> Result<u64, ComponentError> {
        let n = consume(batch, filter);
        self.count.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }
    async fn close(self: Box<Self>) -> Result<SinkReport, ComponentError> {
        Ok(SinkReport::default())
    }
}

fn plain_loop(batches: u64) -> (Duration, u64) {
    let symbols = symbols();
    let mut handlers: Vec<Box<dyn Handler>> = (0..3)
        .map(|_| PassthroughConfig {}.build().unwrap())
        .collect();
    let mut books = BookStore::default();
    let mut control = Vec::new();
    let filter = EventFilter::ALL.without(EventType::Raw);
    let mut total = 0;
    let start = Instant::now();
    for b in 0..batches {
        let mut batch = make_batch(b, &symbols);
        let mut cx = HandlerContext::new(&mut books, &mut control, 0, 1);
        for h in &mut handlers {
            h.process(&mut batch, &mut cx).unwrap();
        }
        total += consume(&batch, filter);
        total += consume(&batch, filter);
        drop(std::hint::black_box(batch));
    }
    (start.elapsed(), total)
}

fn pipeline_run(batches: u64, workers: usize) -> (Duration, u64) {
    let a = CountSink::default();
    let b = CountSink::default();
    let filter = EventFilter::ALL.without(EventType::Raw);
    let p = Pipeline {
        source_type: "bench".into(),
        source: Box::new(GenSource { batches }),
        handlers: (0..3)
            .map(|i| HandlerSpec {
                path: format!("handlers[{i}]"),
                type_name: "passthrough".into(),
                config: Box::new(PassthroughConfig {}),
            })
            .collect(),
        sinks: vec![
            SinkSpec {
                id: "a".into(),
                type_name: "count".into(),
                config: Box::new(a.clone()),
                filter,
            },
            SinkSpec {
                id: "b".into(),
                type_name: "count".into(),
                config: Box::new(b.clone()),
                filter,
            },
        ],
        engine: EngineOptions {
            workers,
            batch_size: BATCH,
            channel_capacity: 16,
        },
        metrics: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    rt.block_on(run(p, CancellationToken::new())).unwrap();
    let elapsed = start.elapsed();
    (
        elapsed,
        a.count.load(Ordering::Relaxed) + b.count.load(Ordering::Relaxed),
    )
}

fn main() {
    let events: u64 = std::env::var("KOBE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_000);
    let batches = events / BATCH as u64;
    let n = batches * BATCH as u64;
    println!("bus benchmark: {n} events in batches of {BATCH}, 3 passthrough handlers, 2 sinks");
    // Warm up allocator and caches once, then take the best of three for each.
    plain_loop(batches / 10);
    pipeline_run(batches / 10, 1);
    let best =
        |f: &dyn Fn() -> (Duration, u64)| (0..3).map(|_| f()).min_by_key(|(d, _)| *d).unwrap();
    let (base, base_count) = best(&|| plain_loop(batches));
    let (bus, bus_count) = best(&|| pipeline_run(batches, 1));
    assert_eq!(
        base_count, bus_count,
        "both runs must deliver every event to both sinks"
    );
    let ns = |d: Duration| d.as_nanos() as f64 / n as f64;
    let rate = |d: Duration| n as f64 / d.as_secs_f64() / 1e6;
    println!(
        "plain loop      {:>8.2} M events/s  {:>7.2} ns/event",
        rate(base),
        ns(base)
    );
    println!(
        "pipeline (1 w.) {:>8.2} M events/s  {:>7.2} ns/event",
        rate(bus),
        ns(bus)
    );
    println!(
        "bus overhead    {:>+8.2} ns/event  (pipeline/loop time ratio {:.2})",
        ns(bus) - ns(base),
        bus.as_secs_f64() / base.as_secs_f64()
    );
}
