//! Builds a validated [`Pipeline`] into tasks and runs it to the end: the source task, one task
//! per shard worker, one task per sink, wired by bounded batch channels.
//!
//! Shutdown order is what makes it lossless: the source stops and drops its senders, each
//! worker drains its channel and drops its fan-out, each sink drains, flushes and closes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Pipeline;
use crate::accounting::{self, Accounting, Identity};
use crate::book::BookStore;
use crate::bus::{Fanout, Sequencer, SourceOutput};
use crate::component::{
    ComponentError, ControlRequest, Handler, HandlerContext, HandlerFault, Sink, SinkReport,
    SourceContext, SourceReport,
};
use crate::event::{EventBatch, EventFilter, EventType};
use crate::metrics::{Connection, SinkProbe, Telemetry, WorkerProbe};

/// What a finished run did. Every event is accounted for: see [`RunReport::identities`].
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunReport {
    /// The source's counts.
    pub source: SourceReport,
    /// Events produced: those the shard workers received from the source plus those the
    /// handlers derived. Every sink accounts for each one.
    pub events: u64,
    /// Events the handlers added (`checksum_mismatch`, `book_top`, `book_reset`, ...).
    pub derived: u64,
    /// Events withheld by handlers while their symbol's book was invalid (after a checksum
    /// mismatch or a reset, until the next snapshot).
    pub withheld: u64,
    /// [`RunReport::withheld`] by symbol.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub withheld_by_symbol: BTreeMap<String, u64>,
    /// Events handlers removed without declaring them withheld (a plugin's own filtering).
    pub removed_by_handlers: u64,
    /// Handler errors (reported in the log, batch kept), panics included.
    pub handler_errors: u64,
    /// Handler panics that were caught (plugins), a part of `handler_errors`.
    pub handler_panics: u64,
    /// Each sink's counts, by id.
    pub sinks: BTreeMap<String, SinkReport>,
    /// Every identity below, as text, and whether all hold (filled in when the run ends).
    pub accounting: Accounting,
}

impl RunReport {
    /// Every accounting identity of the run:
    /// - the source's (`source.frames = decoded + malformed + stale_dropped`, and its own);
    /// - `events = source.events + derived`: nothing lost between the source and the workers;
    /// - `withheld = ` the sum of `withheld_by_symbol`;
    /// - per sink, `events = written + filtered_out + withheld + removed_by_handlers` (plus the
    ///   sink's `not_written` reasons), then the sink's own identities.
    pub fn identities(&self) -> Vec<Identity> {
        let mut all = self.source.identities();
        all.push(
            Identity::new("events", self.events)
                .term("source.events", self.source.events)
                .term("derived", self.derived),
        );
        let mut by_symbol = Identity::new("withheld", self.withheld);
        for (symbol, n) in &self.withheld_by_symbol {
            by_symbol = by_symbol.term(format!("withheld[{symbol}]"), *n);
        }
        if by_symbol.total > 0 || !by_symbol.terms.is_empty() {
            all.push(by_symbol);
        }
        for (id, sink) in &self.sinks {
            let mut i = Identity::new("events", self.events)
                .term(format!("sinks.{id}.written"), sink.written)
                .term(format!("sinks.{id}.filtered_out"), sink.filtered_out);
            for (reason, n) in &sink.not_written {
                i = i.term(format!("sinks.{id}.not_written.{reason}"), *n);
            }
            all.push(
                i.term("withheld", self.withheld)
                    .term("removed_by_handlers", self.removed_by_handlers),
            );
            all.extend(sink.identities.iter().cloned());
        }
        all
    }

    /// `Ok` when every identity holds; else the broken ones, one per line.
    pub fn check_accounting(&self) -> Result<(), String> {
        accounting::check(&self.identities())
    }
}

/// A component failed; the pipeline stopped (after draining what it could).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Building a component failed before anything ran.
    #[error("cannot build {component}: {source}")]
    Build {
        /// Component path (`sinks.out`).
        component: String,
        /// Why.
        source: ComponentError,
    },
    /// A component failed while running.
    #[error("{component} failed: {source}")]
    Component {
        /// Component path.
        component: String,
        /// Why.
        source: ComponentError,
    },
    /// A task panicked (a bug).
    #[error("{component} panicked")]
    Panic {
        /// Component path.
        component: String,
    },
}

#[derive(Default)]
struct WorkerReport {
    /// Events taken from the source.
    received: u64,
    /// Events the handlers added.
    derived: u64,
    /// Events the handlers removed without declaring them withheld.
    removed: u64,
    /// Events withheld, by symbol (declared through the book store).
    withheld: BTreeMap<String, u64>,
    handler_errors: u64,
    handler_panics: u64,
    /// The error of a handler that asked the pipeline to stop.
    fatal: Option<(String, ComponentError)>,
}

/// Runs `pipeline` until its source ends or `shutdown` is cancelled, then drains and closes
/// every sink. A failing component cancels `shutdown` so the rest drains too.
pub async fn run(pipeline: Pipeline, shutdown: CancellationToken) -> Result<RunReport, RunError> {
    run_with(pipeline, shutdown, None).await
}

/// [`run`], measured into `telemetry` (metrics, `/ready`, the terminal) when given.
pub async fn run_with(
    pipeline: Pipeline,
    shutdown: CancellationToken,
    telemetry: Option<Telemetry>,
) -> Result<RunReport, RunError> {
    let opts = pipeline.engine.clone();
    let workers = opts.workers.max(1);
    let hints = pipeline.source.book_hints();

    // Build everything first, so a bad component fails before any I/O starts.
    let source = pipeline
        .source
        .build()
        .await
        .map_err(|source| RunError::Build {
            component: "source".into(),
            source,
        })?;
    let mut chains: Vec<Vec<Box<dyn Handler>>> = Vec::with_capacity(workers);
    for _ in 0..workers {
        let mut chain = Vec::with_capacity(pipeline.handlers.len());
        for h in &pipeline.handlers {
            chain.push(h.config.build().map_err(|source| RunError::Build {
                component: h.path.clone(),
                source,
            })?);
        }
        chains.push(chain);
    }
    let mut sinks = Vec::with_capacity(pipeline.sinks.len());
    for s in &pipeline.sinks {
        let sink = s
            .config
            .build(&s.id)
            .await
            .map_err(|source| RunError::Build {
                component: format!("sinks.{}", s.id),
                source,
            })?;
        sinks.push((s.id.clone(), sink, s.filter));
    }
    let names: Vec<String> = pipeline.handlers.iter().map(|h| h.path.clone()).collect();
    if let Some(t) = &telemetry {
        t.expect_symbols(hints.expected.iter().copied());
    }
    let emit_raw = sinks.iter().any(|(_, _, f)| f.accepts(EventType::Raw));

    // Sinks.
    let mut sink_txs = Vec::with_capacity(sinks.len());
    let mut sink_tasks: Vec<(String, JoinHandle<Result<SinkReport, ComponentError>>)> = Vec::new();
    for (id, mut sink, filter) in sinks {
        sink.watch_shutdown(shutdown.clone());
        let (tx, rx) = mpsc::channel(opts.channel_capacity);
        let probe = telemetry.as_ref().map(|t| {
            t.watch_channel(format!("sinks.{id}"), &tx);
            let connection = sink.connection().unwrap_or_else(|| Connection::new(true));
            SinkProbe::new(t, &id, connection)
        });
        sink_txs.push(tx);
        let stop = shutdown.clone();
        sink_tasks.push((
            format!("sinks.{id}"),
            tokio::spawn(async move {
                let r = run_sink(sink, filter, rx, probe.as_ref()).await;
                if let Some(p) = &probe {
                    p.ended();
                }
                if r.is_err() {
                    stop.cancel();
                }
                r
            }),
        ));
    }
    let fanout = Fanout::new(sink_txs);

    // Shard workers.
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let mut shard_txs = Vec::with_capacity(workers);
    let mut worker_tasks = Vec::with_capacity(workers);
    for (shard, chain) in chains.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel(opts.channel_capacity);
        if let Some(t) = &telemetry {
            t.watch_channel(format!("shard.{shard}"), &tx);
        }
        shard_txs.push(tx);
        let worker = Worker {
            shard,
            shards: workers,
            chain,
            books: BookStore::new(hints.depth, &hints.precision),
            sequencer: Sequencer::default(),
            control: Vec::new(),
            control_tx: control_tx.clone(),
            fanout: fanout.clone(),
            probe: telemetry.as_ref().map(|t| WorkerProbe::new(t, &names)),
            names: names.clone(),
            can_resync: hints.can_resync,
            stop: shutdown.clone(),
            fatal: None,
        };
        worker_tasks.push(tokio::spawn(worker.run(rx)));
    }
    drop(control_tx);
    drop(fanout);

    // Source.
    let cx = SourceContext {
        output: SourceOutput::new(shard_txs, opts.batch_size),
        control: control_rx,
        shutdown: shutdown.clone(),
        emit_raw,
    };
    let stop = shutdown.clone();
    if let Some(t) = &telemetry {
        t.set_started(true);
    }
    let source_task = tokio::spawn(async move {
        let r = source.run(cx).await;
        if r.is_err() {
            stop.cancel();
        }
        r
    });

    let mut report = RunReport::default();
    let mut first_error: Option<RunError> = None;
    let mut keep = |e: RunError| {
        tracing::error!("{e}");
        first_error.get_or_insert(e);
    };
    match source_task.await {
        Ok(Ok(r)) => report.source = r,
        Ok(Err(source)) => keep(RunError::Component {
            component: "source".into(),
            source,
        }),
        Err(_) => keep(RunError::Panic {
            component: "source".into(),
        }),
    }
    for (shard, task) in worker_tasks.into_iter().enumerate() {
        match task.await {
            Ok(w) => {
                report.events += w.received + w.derived;
                report.derived += w.derived;
                report.removed_by_handlers += w.removed;
                report.handler_errors += w.handler_errors;
                report.handler_panics += w.handler_panics;
                if let Some((component, source)) = w.fatal {
                    keep(RunError::Component { component, source });
                }
                for (symbol, n) in w.withheld {
                    report.withheld += n;
                    *report.withheld_by_symbol.entry(symbol).or_default() += n;
                }
            }
            Err(_) => keep(RunError::Panic {
                component: format!("worker {shard}"),
            }),
        }
    }
    for (component, task) in sink_tasks {
        let id = component.trim_start_matches("sinks.").to_string();
        match task.await {
            Ok(Ok(r)) => {
                report.sinks.insert(id, r);
            }
            Ok(Err(source)) => keep(RunError::Component { component, source }),
            Err(_) => keep(RunError::Panic { component }),
        }
    }
    if let Some(t) = &telemetry {
        t.set_started(false);
    }
    report.accounting = Accounting::of(&report.identities());
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

struct Worker {
    shard: usize,
    shards: usize,
    chain: Vec<Box<dyn Handler>>,
    books: BookStore,
    sequencer: Sequencer,
    control: Vec<ControlRequest>,
    control_tx: mpsc::UnboundedSender<ControlRequest>,
    fanout: Fanout,
    names: Vec<String>,
    probe: Option<WorkerProbe>,
    can_resync: bool,
    /// Cancelled when a handler asks the pipeline to stop.
    stop: CancellationToken,
    fatal: Option<(String, ComponentError)>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<EventBatch>) -> WorkerReport {
        let mut report = WorkerReport::default();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        loop {
            tokio::select! {
                biased;
                batch = rx.recv() => {
                    let Some(mut batch) = batch else { break };
                    report.received += batch.len() as u64;
                    self.process(&mut batch, &mut report);
                    if self.fanout.send(batch).await.is_err() {
                        // A sink failed and the run is stopping; keep draining so the source
                        // is not blocked, the failure is reported by the sink's task.
                        continue;
                    }
                }
                _ = tick.tick() => self.tick(false),
            }
        }
        self.tick(true);
        report.fatal = self.fatal.take();
        report.withheld = self
            .books
            .withheld()
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect();
        report
    }

    fn process(&mut self, batch: &mut EventBatch, report: &mut WorkerReport) {
        if let Some(p) = &mut self.probe {
            p.received(batch);
        }
        let mut cx =
            HandlerContext::new(&mut self.books, &mut self.control, self.shard, self.shards);
        cx.can_resync = self.can_resync;
        for (i, (handler, name)) in self.chain.iter_mut().zip(&self.names).enumerate() {
            let before = batch.len() as u64;
            let withheld_before = cx.books.withheld_total();
            let result = handler.process(batch, &mut cx);
            if let Some(p) = &self.probe {
                p.handled(i, before as usize, batch.len(), result.is_err());
            }
            if let Err(e) = result {
                report.handler_errors += 1;
                let fault = e.downcast_ref::<HandlerFault>();
                if fault.is_some_and(|f| f.panicked) {
                    report.handler_panics += 1;
                }
                if fault.is_some_and(|f| f.stop) {
                    tracing::error!(handler = %name, shard = self.shard, "handler failed, stopping the pipeline: {e}");
                    self.stop.cancel();
                    self.fatal.get_or_insert((name.clone(), e));
                } else {
                    tracing::warn!(handler = %name, shard = self.shard, "handler error: {e}");
                }
            }
            // Handlers declare what they withhold; the rest of the change in length is what
            // they added, or (if negative) removed without saying.
            let kept = batch.len() as u64 + (cx.books.withheld_total() - withheld_before);
            if kept >= before {
                report.derived += kept - before;
            } else {
                report.removed += before - kept;
            }
        }
        if let Some(p) = &mut self.probe {
            p.processed(batch, &self.books);
        }
        let types = self.sequencer.assign(&mut batch.events);
        batch.set_types(types);
        for request in self.control.drain(..) {
            // The source may already be gone at shutdown; nothing to resync then.
            let _ = self.control_tx.send(request);
        }
    }

    fn tick(&mut self, last: bool) {
        let mut cx =
            HandlerContext::new(&mut self.books, &mut self.control, self.shard, self.shards);
        cx.can_resync = self.can_resync;
        for handler in &mut self.chain {
            handler.tick(&mut cx, last);
        }
        if let Some(p) = &mut self.probe {
            p.tick(&self.books, &self.sequencer);
        }
    }
}

async fn run_sink(
    mut sink: Box<dyn Sink>,
    filter: EventFilter,
    mut rx: mpsc::Receiver<Arc<EventBatch>>,
    probe: Option<&SinkProbe>,
) -> Result<SinkReport, ComponentError> {
    let interval = sink.flush_interval();
    let (mut events, mut written, mut filtered_out) = (0u64, 0u64, 0u64);
    let mut flush = tokio::time::interval(interval.unwrap_or(Duration::from_secs(3600)));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    flush.reset();
    loop {
        tokio::select! {
            biased;
            batch = rx.recv() => match batch {
                Some(batch) => {
                    events += batch.len() as u64;
                    filtered_out += batch.count_filtered_out(filter);
                    let result = sink.write(&batch, filter).await;
                    if let Some(p) = probe {
                        p.written(&batch, result.as_ref().ok().copied());
                    }
                    written += result?;
                }
                None => break,
            },
            _ = flush.tick(), if interval.is_some() => sink.flush().await?,
        }
    }
    let mut report = sink.close().await?;
    report.events = events;
    report.written = written;
    report.filtered_out = filtered_out;
    Ok(report)
}
