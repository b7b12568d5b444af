//! The run's identities catch a loss wherever it happens: a sink that quietly writes less
//! than it accepted, a handler that drops events without declaring them withheld, a source
//! whose counts do not add up. Each shows in the report (and `kobe run` exits 1 on a broken
//! identity), while a clean run over the same pipeline adds up.

mod common;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use async_trait::async_trait;
use common::{pipeline, CountingSource};
use kobe_core::component::{HandlerConfig, SinkConfig};
use kobe_core::pipeline::{run, EngineOptions};
use kobe_core::{
    ComponentError, EventBatch, EventFilter, Handler, HandlerContext, Sink, SinkReport,
};
use tokio_util::sync::CancellationToken;

/// Writes every accepted event except one in `every` (0: none lost), and returns how many it
/// wrote, as the `Sink` contract asks.
#[derive(Debug, Clone)]
struct LossySink {
    every: u64,
}

#[async_trait]
impl SinkConfig for LossySink {
    async fn build(&self, _id: &str) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(self.clone()))
    }
}

#[async_trait]
impl Sink for LossySink {
    async fn write(&mut self, batch: &EventBatch, f: EventFilter) -> Result<u64, ComponentError> {
        let accepted = batch.events.iter().filter(|e| f.accepts(e.event_type()));
        let lost = |i: usize| self.every != 0 && i as u64 % self.every == 0;
        Ok(accepted.enumerate().filter(|(i, _)| !lost(*i)).count() as u64)
    }

    async fn close(self: Box<Self>) -> Result<SinkReport, ComponentError> {
        Ok(SinkReport::default())
    }
}

/// Drops the first event of every batch without declaring it.
#[derive(Debug, Clone)]
struct Dropper;

impl HandlerConfig for Dropper {
    fn build(&self) -> Result<Box<dyn Handler>, ComponentError> {
        Ok(Box::new(Dropper))
    }
}

impl Handler for Dropper {
    fn process(
        &mut self,
        b: &mut EventBatch,
        _: &mut HandlerContext<'_>,
    ) -> Result<(), ComponentError> {
        if !b.events.is_empty() {
            b.events.remove(0);
        }
        Ok(())
    }
}

async fn report(
    handlers: Vec<Box<dyn HandlerConfig>>,
    sink: LossySink,
) -> kobe_core::pipeline::RunReport {
    let source = CountingSource {
        batches: 10,
        per_batch: 10,
        symbols: 3,
        sent: Arc::new(AtomicU64::new(0)),
    };
    let p = pipeline(
        Box::new(source),
        handlers,
        vec![("out", Box::new(sink), EventFilter::ALL)],
        EngineOptions {
            workers: 2,
            batch_size: 10,
            channel_capacity: 4,
        },
    );
    run(p, CancellationToken::new()).await.unwrap()
}

#[tokio::test]
async fn a_clean_run_adds_up() {
    let r = report(vec![], LossySink { every: 0 }).await;
    r.check_accounting().unwrap();
    assert!(r.accounting.ok);
    assert_eq!((r.events, r.sinks["out"].written), (100, 100));
}

#[tokio::test]
async fn a_sink_that_writes_less_than_it_accepted_breaks_its_identity() {
    let r = report(vec![], LossySink { every: 10 }).await;
    let broken = r.check_accounting().unwrap_err();
    assert!(!r.accounting.ok);
    assert!(
        broken.starts_with("events 100 != sinks.out.written ") && broken.contains("(sum "),
        "{broken}"
    );
}

#[tokio::test]
async fn a_handler_that_drops_events_is_counted_not_silent() {
    let r = report(vec![Box::new(Dropper)], LossySink { every: 0 }).await;
    // Still adds up, but the loss has a name in the summary.
    r.check_accounting().unwrap();
    assert!(r.removed_by_handlers > 0, "{r:?}");
    assert_eq!(r.sinks["out"].written + r.removed_by_handlers, 100);
}

#[test]
fn a_source_whose_frames_do_not_add_up_breaks_the_frame_identity() {
    let mut r = kobe_core::pipeline::RunReport::default();
    r.source.frames = 5;
    r.source.decoded = 4;
    assert_eq!(
        r.check_accounting().unwrap_err(),
        "source.frames 5 != decoded 4 + malformed 0 + stale_dropped 0 (sum 4)"
    );
}
