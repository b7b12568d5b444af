//! Shared pieces for the integration tests: in-code pipelines and small test components.
#![allow(dead_code)]

pub mod cli;
pub mod kafka;
pub mod plugin_libs;
pub mod process;
pub mod tansu;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kobe_core::component::{HandlerConfig, SinkConfig, SourceConfig};
use kobe_core::pipeline::{EngineOptions, HandlerSpec, Pipeline, SinkSpec};
use kobe_core::{
    ComponentError, Event, EventBatch, EventFilter, EventKind, Sink, SinkReport, Source,
    SourceContext, SourceReport, Symbol, Timestamp,
};

/// The fixture folder (read at run time, never copied).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kraken-fixtures")
}

/// The v2 fixture files listed in the manifest, with their manifest entries.
pub fn v2_fixtures() -> Vec<(PathBuf, serde_json::Value)> {
    let dir = fixtures();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    manifest["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["api"] == "v2")
        .map(|f| (dir.join(f["file"].as_str().unwrap()), f.clone()))
        .collect()
}

/// A pipeline built in code.
pub fn pipeline(
    source: Box<dyn SourceConfig>,
    handlers: Vec<Box<dyn HandlerConfig>>,
    sinks: Vec<(&str, Box<dyn SinkConfig>, EventFilter)>,
    engine: EngineOptions,
) -> Pipeline {
    Pipeline {
        source_type: "test".into(),
        source,
        handlers: handlers
            .into_iter()
            .enumerate()
            .map(|(i, config)| HandlerSpec {
                path: format!("handlers[{i}]"),
                type_name: "test".into(),
                config,
            })
            .collect(),
        sinks: sinks
            .into_iter()
            .map(|(id, config, filter)| SinkSpec {
                id: id.into(),
                type_name: "test".into(),
                config,
                filter,
            })
            .collect(),
        engine,
        metrics: None,
    }
}

/// Emits `batches` batches of `per_batch` heartbeat events over `symbols` symbols; event `n`
/// carries `received_ts = n`. Counts batches whose send completed.
#[derive(Debug, Clone)]
pub struct CountingSource {
    pub batches: u64,
    pub per_batch: u64,
    pub symbols: u64,
    pub sent: Arc<AtomicU64>,
}

#[async_trait]
impl SourceConfig for CountingSource {
    async fn build(&self) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(self.clone()))
    }
}

#[async_trait]
impl Source for CountingSource {
    async fn run(self: Box<Self>, mut cx: SourceContext) -> Result<SourceReport, ComponentError> {
        let symbols: Vec<Symbol> = (0..self.symbols.max(1))
            .map(|i| Symbol::new(&format!("S{i}/USD")).unwrap())
            .collect();
        let mut n = 0u64;
        for _ in 0..self.batches {
            let mut batch = EventBatch::with_capacity(self.per_batch as usize);
            for _ in 0..self.per_batch {
                let sym = symbols[(n % symbols.len() as u64) as usize];
                batch.push(Event::new(
                    Some(sym),
                    Timestamp(n as i64),
                    EventKind::Heartbeat,
                ));
                n += 1;
            }
            cx.output.send(batch).await?;
            self.sent.fetch_add(1, Ordering::SeqCst);
        }
        Ok(SourceReport {
            frames: n,
            decoded: n,
            events: n,
            ..SourceReport::default()
        })
    }
}

/// Records every event it receives (as `received_ts`), optionally sleeping per batch to play a
/// slow consumer, and the largest gap between batches sent by the source and batches it got.
#[derive(Debug, Clone, Default)]
pub struct RecordingSink {
    pub delay: Duration,
    pub seen: Arc<Mutex<Vec<i64>>>,
    pub batches: Arc<AtomicU64>,
    pub source_sent: Option<Arc<AtomicU64>>,
    pub max_lag: Arc<AtomicU64>,
}

#[async_trait]
impl SinkConfig for RecordingSink {
    async fn build(&self, _id: &str) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(self.clone()))
    }
}

#[async_trait]
impl Sink for RecordingSink {
    async fn write(
        &mut self,
        batch: &EventBatch,
        filter: EventFilter,
    ) -> Result<u64, ComponentError> {
        let got = self.batches.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(sent) = &self.source_sent {
            let lag = sent.load(Ordering::SeqCst).saturating_sub(got);
            self.max_lag.fetch_max(lag, Ordering::SeqCst);
        }
        let n = {
            let mut seen = self.seen.lock().unwrap();
            let before = seen.len();
            seen.extend(
                batch
                    .events
                    .iter()
                    .filter(|e| filter.accepts(e.event_type()))
                    .map(|e| e.received_ts.0),
            );
            (seen.len() - before) as u64
        };
        if !self.delay.is_zero() {
            // Plays a slow consumer; not used to synchronise anything.
            tokio::time::sleep(self.delay).await;
        }
        Ok(n)
    }

    async fn close(self: Box<Self>) -> Result<SinkReport, ComponentError> {
        Ok(SinkReport::default())
    }
}
