//! Every metric kobe exports, by its Prometheus name: the single list that `docs/METRICS.md`
//! is generated from (a test keeps the two equal) and that the tests check scrapes against.
//!
//! Instrument names *are* the Prometheus names: the exporter adds no unit or `_total`
//! suffix (see [`super::Exporter`]), so a name here is exactly what dashboards query.

/// How a metric behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up (resets with the process).
    Counter,
    /// A value that moves both ways.
    Gauge,
    /// A distribution (`_bucket`, `_sum`, `_count` series).
    Histogram,
}

impl MetricKind {
    /// `counter`, `gauge` or `histogram`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric of the reference table.
#[derive(Clone, Copy, Debug)]
pub struct MetricDoc {
    /// Prometheus name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Label names (bounded sets only).
    pub labels: &'static [&'static str],
    /// Who registers it: `engine`, `kraken` source, `kafka` sink.
    pub owner: &'static str,
    /// What it measures (also the HELP text).
    pub help: &'static str,
}

macro_rules! names {
    ($($(#[$doc:meta])* $id:ident = $name:literal;)*) => {
        $( $(#[$doc])* pub const $id: &str = $name; )*
    };
}

names! {
    /// Messages received from the exchange, by type.
    WS_MESSAGES = "ws_messages_total";
    /// Snapshots applied to books.
    SNAPSHOTS = "orderbook_snapshots_total";
    /// Updates applied to books.
    UPDATES = "orderbook_updates_total";
    /// Handler chain time per batch.
    PROCESS_LATENCY = "orderbook_process_latency_seconds";
    /// Snapshot size.
    SNAPSHOT_SIZE = "orderbook_snapshot_size_bytes";
    /// Best ask minus best bid.
    PRICE_SPREAD = "orderbook_price_spread";
    /// Kafka records acknowledged.
    KAFKA_SENT = "kafka_messages_sent_total";
    /// Kafka sends that failed after retries.
    KAFKA_ERRORS = "kafka_send_errors_total";
    /// Kafka send to ack latency.
    KAFKA_LATENCY = "kafka_send_latency_seconds";
    /// Kafka producer pool busy share.
    KAFKA_UTILIZATION = "kafka_worker_utilization";
    /// Kafka records waiting for delivery.
    KAFKA_QUEUE = "kafka_message_queue_size";
    /// Build information.
    BUILD_INFO = "kobe_build_info";
    /// Checksum mismatches per symbol.
    MISMATCHES = "kobe_checksum_mismatches_total";
    /// Book resets per symbol and reason.
    RESETS = "kobe_book_resets_total";
    /// WebSocket connects.
    WS_CONNECTS = "kobe_ws_connects_total";
    /// WebSocket reconnects.
    WS_RECONNECTS = "kobe_ws_reconnects_total";
    /// Frames read by the source.
    SOURCE_FRAMES = "kobe_source_frames_total";
    /// Frames that did not decode.
    SOURCE_MALFORMED = "kobe_source_malformed_frames_total";
    /// Book events of an old subscription dropped by the source.
    SOURCE_STALE = "kobe_source_stale_events_total";
    /// Events into a component.
    EVENTS_IN = "kobe_component_events_in_total";
    /// Events out of a component.
    EVENTS_OUT = "kobe_component_events_out_total";
    /// Component errors.
    ERRORS = "kobe_component_errors_total";
    /// Receive to sink write latency.
    E2E_LATENCY = "kobe_end_to_end_latency_seconds";
    /// Exchange to receive latency.
    EXCHANGE_LATENCY = "kobe_exchange_latency_seconds";
    /// Book validity per symbol.
    BOOK_VALID = "kobe_book_valid";
    /// When a symbol last had an event.
    LAST_EVENT = "kobe_book_last_event_timestamp_seconds";
    /// Valid books.
    BOOKS_VALID = "kobe_books_valid";
    /// Books expected.
    BOOKS_TOTAL = "kobe_books_total";
    /// Batches queued per channel.
    CHANNEL_FILL = "kobe_channel_fill";
    /// Channel capacity.
    CHANNEL_CAPACITY = "kobe_channel_capacity";
    /// Sink connectivity.
    SINK_CONNECTED = "kobe_sink_connected";
}

use MetricKind::{Counter, Gauge, Histogram};

/// The reference table, in the order `docs/METRICS.md` lists it.
pub const CATALOG: &[MetricDoc] = &[
    MetricDoc { name: WS_MESSAGES, kind: Counter, labels: &["type"], owner: "engine", help: "Messages received from the exchange, by event type (book_snapshot, book_update, heartbeat, status, instrument, subscription_ack, subscription_error); counted per batch in the shard workers" },
    MetricDoc { name: SNAPSHOTS, kind: Counter, labels: &[], owner: "engine", help: "Book snapshots applied" },
    MetricDoc { name: UPDATES, kind: Counter, labels: &[], owner: "engine", help: "Book updates applied" },
    MetricDoc { name: PROCESS_LATENCY, kind: Histogram, labels: &[], owner: "engine", help: "Time the handler chain took over one batch, in seconds (one sample per batch)" },
    MetricDoc { name: SNAPSHOT_SIZE, kind: Histogram, labels: &[], owner: "engine", help: "Size of a received snapshot's levels as number text, in bytes" },
    MetricDoc { name: PRICE_SPREAD, kind: Gauge, labels: &["symbol"], owner: "engine", help: "Best ask minus best bid of a valid book (refreshed every second; exported as a float, the book itself stays exact)" },
    MetricDoc { name: KAFKA_SENT, kind: Counter, labels: &["topic"], owner: "kafka sink", help: "Records Kafka acknowledged, by topic" },
    MetricDoc { name: KAFKA_ERRORS, kind: Counter, labels: &["topic", "reason"], owner: "kafka sink", help: "Records not delivered, by topic and reason (failed, unflushed, dropped, rejected)" },
    MetricDoc { name: KAFKA_LATENCY, kind: Histogram, labels: &[], owner: "kafka sink", help: "Time from enqueueing a record to its acknowledgement, in seconds (sampled)" },
    MetricDoc { name: KAFKA_UTILIZATION, kind: Gauge, labels: &["producer"], owner: "kafka sink", help: "How full each producer's queue is, 0 to 1 (1: the sink waits or drops)" },
    MetricDoc { name: KAFKA_QUEUE, kind: Gauge, labels: &["producer"], owner: "kafka sink", help: "Records in librdkafka's queue (waiting or in flight), by producer" },
    MetricDoc { name: BUILD_INFO, kind: Gauge, labels: &["version"], owner: "engine", help: "Always 1; the labels say which kobe is running" },
    MetricDoc { name: MISMATCHES, kind: Counter, labels: &["symbol"], owner: "engine", help: "Checksum mismatches, by symbol" },
    MetricDoc { name: RESETS, kind: Counter, labels: &["symbol", "reason"], owner: "engine", help: "Books thrown away and rebuilt, by symbol and reason (reconnect, resync, precision_change, cannot_resync)" },
    MetricDoc { name: WS_CONNECTS, kind: Counter, labels: &[], owner: "kraken source", help: "WebSocket connections established (first connects and reconnects)" },
    MetricDoc { name: WS_RECONNECTS, kind: Counter, labels: &[], owner: "kraken source", help: "WebSocket connections re-established after a loss" },
    MetricDoc { name: SOURCE_FRAMES, kind: Counter, labels: &[], owner: "kraken source", help: "Frames received from the exchange" },
    MetricDoc { name: SOURCE_MALFORMED, kind: Counter, labels: &[], owner: "kraken source", help: "Frames that did not decode (skipped and reported)" },
    MetricDoc { name: SOURCE_STALE, kind: Counter, labels: &[], owner: "kraken source", help: "Book snapshots and updates of a subscription being reset (between its book_reset and its next snapshot), dropped by the source; ws_messages_total of book_snapshot and book_update plus this equals what the exchange sent" },
    MetricDoc { name: EVENTS_IN, kind: Counter, labels: &["component"], owner: "engine", help: "Events into a component (handlers[N]: events handed to it; sinks.ID: events offered to it; the source has none)" },
    MetricDoc { name: EVENTS_OUT, kind: Counter, labels: &["component"], owner: "engine", help: "Events out of a component (source: events it produced; handlers: events left after it; sinks: records written)" },
    MetricDoc { name: ERRORS, kind: Counter, labels: &["component"], owner: "engine", help: "Errors a component reported (handler errors keep the batch; a sink error stops the run)" },
    MetricDoc { name: E2E_LATENCY, kind: Histogram, labels: &["sink"], owner: "engine", help: "From receiving a batch's oldest frame to the sink accepting the batch, in seconds (one sample per batch and sink)" },
    MetricDoc { name: EXCHANGE_LATENCY, kind: Histogram, labels: &[], owner: "engine", help: "From the exchange's timestamp to receiving the frame, in seconds (one sample per batch, its first stamped event)" },
    MetricDoc { name: BOOK_VALID, kind: Gauge, labels: &["symbol"], owner: "engine", help: "1 while a symbol's book is valid (snapshotted, checksums agree), else 0" },
    MetricDoc { name: LAST_EVENT, kind: Gauge, labels: &["symbol"], owner: "engine", help: "Unix time at which a symbol last had an event through the handler chain (checked every second); the no-data alert watches it" },
    MetricDoc { name: BOOKS_VALID, kind: Gauge, labels: &[], owner: "engine", help: "Books that are valid now" },
    MetricDoc { name: BOOKS_TOTAL, kind: Gauge, labels: &[], owner: "engine", help: "Books expected (the subscribed symbols, plus any other seen)" },
    MetricDoc { name: CHANNEL_FILL, kind: Gauge, labels: &["stage"], owner: "engine", help: "Batches waiting in a bounded channel (stage shard.N: source to worker N; sinks.ID: workers to that sink)" },
    MetricDoc { name: CHANNEL_CAPACITY, kind: Gauge, labels: &["stage"], owner: "engine", help: "Batches a channel holds before its sender waits" },
    MetricDoc { name: SINK_CONNECTED, kind: Gauge, labels: &["sink"], owner: "engine", help: "1 while a sink is running and connected to its destination, else 0" },
];

/// The reference table as Markdown, the body of `docs/METRICS.md` between its markers.
pub fn markdown_table() -> String {
    let mut out =
        String::from("| name | type | labels | registered by | meaning |\n|---|---|---|---|---|\n");
    for m in CATALOG {
        let labels = if m.labels.is_empty() {
            "–".to_string()
        } else {
            m.labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            m.name,
            m.kind.as_str(),
            labels,
            m.owner,
            m.help
        ));
    }
    out
}

/// The catalog entry of a Prometheus series or family name (`_bucket`, `_sum` and `_count`
/// map to their histogram).
pub fn find(series: &str) -> Option<&'static MetricDoc> {
    CATALOG.iter().find(|m| {
        m.name == series
            || (m.kind == MetricKind::Histogram
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| series.strip_suffix(s) == Some(m.name)))
    })
}
