//! The component model: a [`Source`] feeds the bus, [`Handler`]s transform batches inside the
//! shard workers, [`Sink`]s write records. Each has a config type that is deserialized from the
//! pipeline file, checked by a pure `validate()` that reports every problem at once, then
//! `build()`s the running component.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::accounting::Identity;
use crate::book::BookStore;
use crate::bus::SourceOutput;
use crate::event::{EventBatch, EventFilter, InstrumentInfo, ResetReason};
use crate::symbol::Symbol;
use crate::time::Timestamp;

/// Any component's runtime error. Components use their own `thiserror` enums; the engine only
/// needs to report them.
pub type ComponentError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The three kinds of component a pipeline wires together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ComponentKind {
    /// Produces events (`source:`).
    Source,
    /// Transforms batches (`handlers:`).
    Handler,
    /// Writes records (`sinks:`).
    Sink,
}

impl ComponentKind {
    /// `source`, `handler` or `sink`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Handler => "handler",
            Self::Sink => "sink",
        }
    }
}

/// One problem found by a config's `validate()`: a field path relative to the component
/// (`pool_size`, `precision.BTC/USD`; empty for the component as a whole) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted field path relative to the component.
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl ConfigError {
    /// A problem with field `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// What a source knows about books before any frame arrives.
#[derive(Clone, Debug)]
pub struct BookHints {
    /// Depth of books whose subscription ack is not seen (replays of partial captures).
    pub depth: usize,
    /// Precision of symbols whose instrument frame is not seen.
    pub precision: HashMap<Symbol, InstrumentInfo>,
    /// Symbols whose books the source will deliver, when known up front: `/ready` waits for
    /// a valid book of each.
    pub expected: Vec<Symbol>,
    /// Whether the source can resubscribe a symbol for a fresh snapshot ([`ControlRequest`]).
    /// A replay cannot: handlers then announce a `book_reset` with reason `cannot_resync`.
    pub can_resync: bool,
}

impl Default for BookHints {
    fn default() -> Self {
        Self {
            depth: 10,
            precision: HashMap::new(),
            expected: Vec::new(),
            can_resync: true,
        }
    }
}

/// A request from handlers back to the source.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ControlRequest {
    /// Throw away `symbol`'s subscription and take a fresh snapshot (unsubscribe, ack,
    /// subscribe), falling back to a reconnect if that fails.
    Resync {
        /// The symbol whose book is invalid.
        symbol: Symbol,
        /// Why the book is being reset.
        reason: ResetReason,
    },
    /// Drop the connection carrying `symbol` and reconnect it.
    Reconnect {
        /// The symbol whose connection to recycle.
        symbol: Symbol,
    },
}

/// Config of a source type. Deserialized from the `source:` section.
#[async_trait]
pub trait SourceConfig: Debug + Send + Sync {
    /// Every problem with the config, without I/O.
    fn validate(&self) -> Vec<ConfigError> {
        Vec::new()
    }

    /// Book defaults the source knows up front (depth, precision hints).
    fn book_hints(&self) -> BookHints {
        BookHints::default()
    }

    /// Bytes the source will read in all, when known up front (a replay of a regular file):
    /// progress displays compare it with [`crate::replay::bytes_read`].
    fn input_size(&self) -> Option<u64> {
        None
    }

    /// Builds the running source.
    async fn build(&self) -> Result<Box<dyn Source>, ComponentError>;
}

/// What a running source is handed.
pub struct SourceContext {
    /// Where decoded batches go (routed to shard workers by symbol).
    pub output: SourceOutput,
    /// Requests from handlers (resync a symbol).
    pub control: mpsc::UnboundedReceiver<ControlRequest>,
    /// Cancelled on shutdown: stop reading, send what is in hand, return.
    pub shutdown: CancellationToken,
    /// Whether some sink wants the frames verbatim: emit an [`crate::event::EventKind::Raw`]
    /// event per frame, ahead of the events decoded from it.
    pub emit_raw: bool,
}

/// Counts a source reports when it ends. Its identity: `frames = decoded + malformed +
/// stale_dropped` (see [`SourceReport::identities`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceReport {
    /// Frames received or read (blank replay lines and WebSocket control frames are not frames).
    pub frames: u64,
    /// Frames decoded and passed on (whatever events they held, possibly none).
    pub decoded: u64,
    /// Frames that could not be decoded (counted, reported, skipped).
    pub malformed: u64,
    /// Frames dropped because they belonged to a subscription that had been reset (the tail of
    /// an old subscription between a `book_reset` and the next snapshot).
    pub stale_dropped: u64,
    /// Book messages dropped as stale, by symbol (a frame normally holds one symbol's message;
    /// a multi-symbol frame counts once per symbol).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stale_dropped_by_symbol: BTreeMap<String, u64>,
    /// Events emitted.
    pub events: u64,
    /// Identities over the source's own further counts, checked with the run's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<Identity>,
}

impl SourceReport {
    /// `source.frames = decoded + malformed + stale_dropped`, then the source's own.
    pub fn identities(&self) -> Vec<Identity> {
        let mut all = vec![Identity::new("source.frames", self.frames)
            .term("decoded", self.decoded)
            .term("malformed", self.malformed)
            .term("stale_dropped", self.stale_dropped)];
        all.extend(self.identities.iter().cloned());
        all
    }
}

/// A running source: reads frames until its input ends or shutdown is signalled.
#[async_trait]
pub trait Source: Send {
    /// Runs to completion.
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<SourceReport, ComponentError>;
}

/// Config of a handler type. Deserialized from one entry of `handlers:`.
pub trait HandlerConfig: Debug + Send + Sync {
    /// Every problem with the config, without I/O.
    fn validate(&self) -> Vec<ConfigError> {
        Vec::new()
    }

    /// The option (field path and what happens instead) that asks the source for fresh
    /// snapshots, if any: `kobe validate` and `kobe run` warn about it when the source cannot
    /// resync ([`BookHints::can_resync`], a replay).
    fn relies_on_resync(&self) -> Option<ConfigError> {
        None
    }

    /// Builds one instance; each shard worker gets its own.
    fn build(&self) -> Result<Box<dyn Handler>, ComponentError>;
}

/// What a handler is lent while it processes a batch.
pub struct HandlerContext<'a> {
    /// The shard's books.
    pub books: &'a mut BookStore,
    /// Requests for the source, sent after the batch.
    pub control: &'a mut Vec<ControlRequest>,
    /// Which shard worker this is (0-based).
    pub shard: usize,
    /// How many shard workers there are.
    pub shards: usize,
    /// When the batch started processing.
    pub now: Timestamp,
    /// Whether the source honours [`ControlRequest`]s ([`BookHints::can_resync`]; true unless
    /// the engine says otherwise). When it does not, a handler that would ask for a resync
    /// emits a `book_reset` (reason `cannot_resync`) instead.
    pub can_resync: bool,
}

impl<'a> HandlerContext<'a> {
    /// The context of shard `shard` of `shards`, stamped now.
    pub fn new(
        books: &'a mut BookStore,
        control: &'a mut Vec<ControlRequest>,
        shard: usize,
        shards: usize,
    ) -> Self {
        Self {
            books,
            control,
            shard,
            shards,
            now: Timestamp::now(),
            can_resync: true,
        }
    }
}

/// A synchronous batch transform, run inside a shard worker. A symbol's events always reach
/// the same worker, in order.
pub trait Handler: Send {
    /// Processes a batch in place. An error is reported and counted; the batch goes on as the
    /// handler left it, so nothing accepted is lost.
    fn process(
        &mut self,
        batch: &mut EventBatch,
        cx: &mut HandlerContext<'_>,
    ) -> Result<(), ComponentError>;

    /// Called about once a second, and once more at shutdown (`last`): periodic summaries.
    fn tick(&mut self, _cx: &mut HandlerContext<'_>, _last: bool) {}
}

/// A handler error that tells the engine more than "report, count, go on": whether the
/// handler panicked (caught; counted as `handler_panics`) and whether the pipeline must stop
/// (drain what is in flight, then end with this error and a non-zero exit). Any other error
/// is counted in `handler_errors` and the batch goes on.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HandlerFault {
    /// What went wrong (the panic message, for a panic).
    pub message: String,
    /// The handler panicked and the panic was caught.
    pub panicked: bool,
    /// The pipeline must drain and stop.
    pub stop: bool,
}

/// Config of a sink type. Deserialized from one entry of `sinks:`.
#[async_trait]
pub trait SinkConfig: Debug + Send + Sync {
    /// Every problem with the config, without I/O.
    fn validate(&self) -> Vec<ConfigError> {
        Vec::new()
    }

    /// Events written when the pipeline gives no `events:` list.
    fn default_events(&self) -> EventFilter {
        EventFilter::ALL.without(crate::event::EventType::Raw)
    }

    /// Builds the running sink (may open files or connections).
    async fn build(&self, id: &str) -> Result<Box<dyn Sink>, ComponentError>;
}

/// Counts a sink reports when it closes. The engine fills `events`, `written` and
/// `filtered_out` (from what it handed the sink and what [`Sink::write`] returned); a sink adds
/// its own counts in `details`, outcomes of accepted events other than written in
/// `not_written`, and identities over its own counts in `identities`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SinkReport {
    /// Events handed to the sink: every event that left the handler chain.
    pub events: u64,
    /// Records written (and, for durable sinks, flushed).
    pub written: u64,
    /// Events not written because the sink's `events:` list leaves their type out.
    pub filtered_out: u64,
    /// Events the filter accepted but the sink did not write, by reason (each one is a term of
    /// the sink's `events` identity; empty for the built-in sinks).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub not_written: BTreeMap<String, u64>,
    /// Bytes written.
    pub bytes: u64,
    /// Records the sink took on but could not deliver or make durable (a Kafka record that
    /// failed, was refused, or was still unacknowledged when the shutdown flush ran out). Any
    /// makes `kobe run` exit non-zero after printing the summary.
    #[serde(skip_serializing_if = "is_zero")]
    pub undelivered: u64,
    /// Sink-specific counts (per topic deliveries, ...), shown as they are in the summary.
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Identities over the sink's own counts (`written = delivered + undelivered`), checked
    /// with the run's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<Identity>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A running sink. Batches arrive in order; `write` returning `Ok` means the sink accepted the
/// records and will not lose them short of a crash.
#[async_trait]
pub trait Sink: Send {
    /// Writes every event of `batch` that `filter` accepts; returns how many records it wrote.
    async fn write(
        &mut self,
        batch: &EventBatch,
        filter: EventFilter,
    ) -> Result<u64, ComponentError>;

    /// Hands the sink the run's shutdown token before its first batch. A sink that can wait
    /// on something outside the process (a full queue to a frozen broker) watches it so that
    /// a shutdown ends the wait within its own flush timeout; the default ignores it.
    fn watch_shutdown(&mut self, _shutdown: CancellationToken) {}

    /// How often the engine should call [`Sink::flush`] while batches keep coming.
    fn flush_interval(&self) -> Option<Duration> {
        None
    }

    /// The sink's connectivity flag, for sinks that talk to a remote system (`/ready` and
    /// `kobe_sink_connected` report it); `None` counts as connected while the sink runs.
    fn connection(&self) -> Option<crate::metrics::Connection> {
        None
    }

    /// Pushes buffered records out.
    async fn flush(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }

    /// Flushes, makes durable where the sink can (fsync, delivery reports) and reports.
    async fn close(self: Box<Self>) -> Result<SinkReport, ComponentError>;
}
