//! The normalized events that flow through the bus, and [`EventBatch`], the unit that crosses
//! every async boundary.

use bytes::Bytes;

use crate::decimal::Decimal;
use crate::symbol::Symbol;
use crate::time::Timestamp;

/// One price level: a price and the quantity resting there (zero deletes, in an update).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Level {
    /// The price.
    pub price: Decimal,
    /// The quantity at that price.
    pub qty: Decimal,
}

/// The levels of one book message, as received (snapshot) or as changed (update).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BookData {
    /// Bid levels. Snapshots: best first. Updates: in the order Kraken sent them.
    pub bids: Vec<Level>,
    /// Ask levels. Snapshots: best first. Updates: in the order Kraken sent them.
    pub asks: Vec<Level>,
    /// The checksum Kraken sent with the message, if any.
    pub checksum: Option<u32>,
    /// The checksum of the engine's book right after applying this message, set by the book
    /// handlers when the message carries a checksum (the `checksum` handler compares the two).
    pub computed_checksum: Option<u32>,
    /// Whether the engine's book matched `checksum` after applying this message; `None` until
    /// the checksum handler has looked.
    pub checksum_ok: Option<bool>,
}

/// The top of a book after a change (the optional `book_top` record).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BookTop {
    /// Best bids, best first.
    pub bids: Vec<Level>,
    /// Best asks, best first.
    pub asks: Vec<Level>,
}

/// Why a book was thrown away and rebuilt; consumers see a gap in its history here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResetReason {
    /// The connection was lost and re-established.
    Reconnect,
    /// The symbol was unsubscribed and resubscribed (after a checksum mismatch, say).
    Resync,
    /// The instrument's price or quantity precision changed.
    PrecisionChange,
    /// The book went invalid (checksum mismatch, precision change) and the source cannot
    /// resubscribe (a replay): the book's records stop until the next snapshot in the input.
    CannotResync,
}

impl ResetReason {
    /// The name used in records.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Reconnect => "reconnect",
            Self::Resync => "resync",
            Self::PrecisionChange => "precision_change",
            Self::CannotResync => "cannot_resync",
        }
    }
}

/// Precision and state of one instrument, from Kraken's `instrument` channel (or from hints).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrumentInfo {
    /// Fractional digits of prices.
    pub price_precision: u8,
    /// Fractional digits of quantities.
    pub qty_precision: u8,
}

/// A subscription request's outcome (`method: subscribe | unsubscribe`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionInfo {
    /// `subscribe` or `unsubscribe`.
    pub method: SubscriptionMethod,
    /// The channel (`book`, `instrument`, ...).
    pub channel: String,
    /// The book depth, for `book`.
    pub depth: Option<u16>,
    /// The request id echoed back, if one was sent.
    pub req_id: Option<u64>,
    /// Kraken's error text, for a failed request.
    pub error: Option<String>,
}

/// Which subscription call an ack answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubscriptionMethod {
    /// `subscribe`.
    Subscribe,
    /// `unsubscribe`.
    Unsubscribe,
}

/// Exchange status (`status` channel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusInfo {
    /// `online`, `maintenance`, `cancel_only`, `post_only`, ...
    pub system: String,
    /// Kraken's API version string.
    pub api_version: String,
    /// Kraken's connection id (can exceed `i64`).
    pub connection_id: Option<u64>,
    /// Kraken's software version.
    pub version: String,
}

/// A record emitted by a handler plugin: its type name and a JSON object of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginRecord {
    /// The emitting plugin's type name (`spread`).
    pub plugin: std::sync::Arc<str>,
    /// The plugin's data: one JSON object, compact (no newline), checked when emitted.
    pub data: Box<str>,
}

/// What happened. See [`Event`] for the fields every kind shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A full book: replaces whatever the engine had for the symbol.
    BookSnapshot(BookData),
    /// Changed levels of a book.
    BookUpdate(BookData),
    /// The top levels of a book after a change (emitted on request).
    BookTop(BookTop),
    /// The engine's book disagreed with Kraken's checksum; the book is invalid until resynced.
    ChecksumMismatch {
        /// The checksum Kraken sent.
        expected: u32,
        /// The checksum of the engine's book.
        computed: u32,
    },
    /// A book was discarded; the next snapshot starts it again.
    BookReset {
        /// Why.
        reason: ResetReason,
    },
    /// Exchange status.
    Status(StatusInfo),
    /// Kraken's keep-alive.
    Heartbeat,
    /// Instrument precision (one event per symbol of an `instrument` frame).
    Instrument(InstrumentInfo),
    /// A subscription request succeeded.
    SubscriptionAck(SubscriptionInfo),
    /// A subscription request failed.
    SubscriptionError(SubscriptionInfo),
    /// A frame kept verbatim for sinks that want the wire format (`format: raw`).
    Raw(Bytes),
    /// A record a handler plugin emitted.
    Plugin(PluginRecord),
}

/// The kinds of event by name, used by sink `events:` filters and in records.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum EventType {
    /// A full book.
    BookSnapshot,
    /// Changed levels of a book.
    BookUpdate,
    /// The top of a book after a change.
    BookTop,
    /// A checksum mismatch.
    ChecksumMismatch,
    /// A book was reset.
    BookReset,
    /// Exchange status.
    Status,
    /// Kraken heartbeat.
    Heartbeat,
    /// Instrument precision.
    Instrument,
    /// Subscription acknowledged.
    SubscriptionAck,
    /// Subscription refused.
    SubscriptionError,
    /// The frame as received.
    Raw,
    /// A record emitted by a handler plugin.
    Plugin,
}

impl EventType {
    /// Every event type, in declaration order.
    pub const ALL: [EventType; 12] = [
        Self::BookSnapshot,
        Self::BookUpdate,
        Self::BookTop,
        Self::ChecksumMismatch,
        Self::BookReset,
        Self::Status,
        Self::Heartbeat,
        Self::Instrument,
        Self::SubscriptionAck,
        Self::SubscriptionError,
        Self::Raw,
        Self::Plugin,
    ];

    /// The record `type` name (`book_update`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::BookSnapshot => "book_snapshot",
            Self::BookUpdate => "book_update",
            Self::BookTop => "book_top",
            Self::ChecksumMismatch => "checksum_mismatch",
            Self::BookReset => "book_reset",
            Self::Status => "status",
            Self::Heartbeat => "heartbeat",
            Self::Instrument => "instrument",
            Self::SubscriptionAck => "subscription_ack",
            Self::SubscriptionError => "subscription_error",
            Self::Raw => "raw",
            Self::Plugin => "plugin",
        }
    }
}

/// One thing that happened, with the fields every kind shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The pair it concerns, where it has one.
    pub symbol: Option<Symbol>,
    /// Per-symbol sequence number assigned by the engine after the handlers ran: strictly
    /// increasing for the life of the process, across resyncs and reconnects. Zero before.
    pub seq: u64,
    /// The exchange's timestamp of the frame it came from, where the frame had one.
    pub exchange_ts: Option<Timestamp>,
    /// When the frame was received (or read, for a replay).
    pub received_ts: Timestamp,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// An event with no sequence number yet.
    pub fn new(symbol: Option<Symbol>, received_ts: Timestamp, kind: EventKind) -> Self {
        Self {
            symbol,
            seq: 0,
            exchange_ts: None,
            received_ts,
            kind,
        }
    }

    /// Gives a [`EventKind::Raw`] frame the pair and exchange time of the events decoded from
    /// it, when they all concern one pair (a book frame). The frame then travels with that
    /// pair: to its shard worker, in its order, under its key in Kafka; a frame of several
    /// pairs (or none) stays unkeyed.
    pub fn tag_raw(&mut self, decoded: &[Event]) {
        let mut symbols = decoded.iter().map(|e| e.symbol);
        let Some(Some(first)) = symbols.next() else {
            return;
        };
        if symbols.all(|s| s == Some(first)) {
            self.symbol = Some(first);
            self.exchange_ts = decoded.iter().find_map(|e| e.exchange_ts);
        }
    }

    /// The event's type.
    pub fn event_type(&self) -> EventType {
        match &self.kind {
            EventKind::BookSnapshot(_) => EventType::BookSnapshot,
            EventKind::BookUpdate(_) => EventType::BookUpdate,
            EventKind::BookTop(_) => EventType::BookTop,
            EventKind::ChecksumMismatch { .. } => EventType::ChecksumMismatch,
            EventKind::BookReset { .. } => EventType::BookReset,
            EventKind::Status(_) => EventType::Status,
            EventKind::Heartbeat => EventType::Heartbeat,
            EventKind::Instrument(_) => EventType::Instrument,
            EventKind::SubscriptionAck(_) => EventType::SubscriptionAck,
            EventKind::SubscriptionError(_) => EventType::SubscriptionError,
            EventKind::Raw(_) => EventType::Raw,
            EventKind::Plugin(_) => EventType::Plugin,
        }
    }
}

/// A set of event types, as a bit mask (sink filters test it once per event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventFilter(u32);

impl EventFilter {
    /// Accepts every type.
    pub const ALL: EventFilter = EventFilter(u32::MAX);
    /// Accepts nothing.
    pub const NONE: EventFilter = EventFilter(0);

    /// Accepts exactly `types`.
    pub fn of(types: &[EventType]) -> Self {
        Self(types.iter().fold(0, |m, t| m | 1 << *t as u8))
    }

    /// This filter without `t`.
    pub fn without(self, t: EventType) -> Self {
        Self(self.0 & !(1 << t as u8))
    }

    /// Whether `t` passes.
    pub fn accepts(&self, t: EventType) -> bool {
        self.0 & (1 << t as u8) != 0
    }

    /// This filter with `t` too.
    pub fn with(self, t: EventType) -> Self {
        Self(self.0 | 1 << t as u8)
    }

    /// Whether every type of `types` passes.
    pub fn accepts_all(&self, types: EventFilter) -> bool {
        types.0 & !self.0 == 0
    }

    /// The accepted types, in declaration order.
    pub fn types(&self) -> impl Iterator<Item = EventType> + '_ {
        EventType::ALL.into_iter().filter(|t| self.accepts(*t))
    }
}

/// A batch of events: the unit that crosses channels between the source, the shard workers and
/// the sinks, so per-hop costs are paid once per batch instead of once per event.
#[derive(Debug, Default)]
pub struct EventBatch {
    /// The events, in order.
    pub events: Vec<Event>,
    /// A spare buffer, kept so [`EventBatch::rewrite`] does not allocate in steady state.
    spare: Vec<Event>,
    /// The types the events have, when known ([`EventBatch::set_types`]): lets a sink's
    /// accounting skip counting what its filter leaves out when it leaves out none of them.
    types: Option<EventFilter>,
}

impl EventBatch {
    /// An empty batch with room for `capacity` events.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            events: Vec::with_capacity(capacity),
            spare: Vec::new(),
            types: None,
        }
    }

    /// Records the types present (computed by whoever last walked the events); any change to
    /// the events afterwards must call it again or [`EventBatch::clear_types`].
    pub fn set_types(&mut self, types: EventFilter) {
        self.types = Some(types);
    }

    /// Forgets the recorded types.
    pub fn clear_types(&mut self) {
        self.types = None;
    }

    /// How many events `filter` leaves out: no walk when the recorded types all pass.
    pub fn count_filtered_out(&self, filter: EventFilter) -> u64 {
        if self.types.is_some_and(|t| filter.accepts_all(t)) {
            return 0;
        }
        self.events
            .iter()
            .filter(|e| !filter.accepts(e.event_type()))
            .count() as u64
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when there are no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Appends an event.
    pub fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Rebuilds the batch by passing each event, in order, to `f`, which pushes zero or more
    /// events (the same one, changed ones, new ones) to the output. For handlers that drop or
    /// insert events; handlers that only change events in place should use `events` directly.
    pub fn rewrite<E>(
        &mut self,
        mut f: impl FnMut(Event, &mut Vec<Event>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.types = None;
        let mut input = std::mem::take(&mut self.events);
        let mut output = std::mem::take(&mut self.spare);
        output.clear();
        output.reserve(input.len());
        let mut result = Ok(());
        for event in input.drain(..) {
            if result.is_ok() {
                result = f(event, &mut output);
            } else {
                // An error stops the rewrite but keeps every later event: nothing accepted is lost.
                output.push(event);
            }
        }
        self.events = output;
        self.spare = input;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_frame_takes_the_pair_only_when_its_messages_share_one() {
        let ts = Timestamp::default();
        let raw = || Event::new(None, ts, EventKind::Raw(bytes::Bytes::from_static(b"{}")));
        let on = |s: &str| Event::new(Some(Symbol::new(s).unwrap()), ts, EventKind::Heartbeat);
        let mut one = raw();
        one.tag_raw(&[on("BTC/USD"), on("BTC/USD")]);
        assert_eq!(one.symbol, Some(Symbol::new("BTC/USD").unwrap()));
        let mut two = raw();
        two.tag_raw(&[on("BTC/USD"), on("ETH/USD")]);
        assert_eq!(two.symbol, None, "a frame of two pairs stays unkeyed");
        let mut mixed = raw();
        mixed.tag_raw(&[on("BTC/USD"), Event::new(None, ts, EventKind::Heartbeat)]);
        assert_eq!(mixed.symbol, None);
        let mut none = raw();
        none.tag_raw(&[]);
        assert_eq!(none.symbol, None);
    }

    #[test]
    fn filtered_out_counts_with_and_without_recorded_types() {
        let mut b = EventBatch::default();
        for kind in [
            EventKind::Heartbeat,
            EventKind::Heartbeat,
            EventKind::BookReset {
                reason: ResetReason::Resync,
            },
        ] {
            b.push(Event::new(None, crate::time::Timestamp(0), kind));
        }
        let no_heartbeat = EventFilter::ALL.without(EventType::Heartbeat);
        assert_eq!(b.count_filtered_out(no_heartbeat), 2);
        b.set_types(EventFilter::of(&[
            EventType::Heartbeat,
            EventType::BookReset,
        ]));
        assert_eq!(
            b.count_filtered_out(no_heartbeat),
            2,
            "a present type is left out: walk"
        );
        assert_eq!(
            b.count_filtered_out(EventFilter::ALL.without(EventType::Raw)),
            0
        );
        let _ = b.rewrite::<()>(|e, out| {
            out.push(e);
            Ok(())
        });
        assert_eq!(b.types, None, "a rewrite forgets the recorded types");
    }

    fn hb(n: i64) -> Event {
        Event::new(None, Timestamp(n), EventKind::Heartbeat)
    }

    #[test]
    fn rewrite_can_drop_insert_and_keeps_order() {
        let mut b = EventBatch::default();
        for i in 0..5 {
            b.push(hb(i));
        }
        b.rewrite::<()>(|e, out| {
            if e.received_ts.0 % 2 == 0 {
                out.push(e.clone());
                out.push(e);
            }
            Ok(())
        })
        .unwrap();
        let ts: Vec<i64> = b.events.iter().map(|e| e.received_ts.0).collect();
        assert_eq!(ts, [0, 0, 2, 2, 4, 4]);
    }

    #[test]
    fn rewrite_error_keeps_remaining_events() {
        let mut b = EventBatch::default();
        for i in 0..4 {
            b.push(hb(i));
        }
        let r = b.rewrite(|e, out| {
            if e.received_ts.0 == 1 {
                return Err("boom");
            }
            out.push(e);
            Ok(())
        });
        assert_eq!(r, Err("boom"));
        let ts: Vec<i64> = b.events.iter().map(|e| e.received_ts.0).collect();
        assert_eq!(ts, [0, 2, 3]);
    }

    #[test]
    fn filter_masks() {
        let f = EventFilter::of(&[EventType::BookSnapshot, EventType::BookReset]);
        assert!(f.accepts(EventType::BookSnapshot));
        assert!(!f.accepts(EventType::BookUpdate));
        assert!(!EventFilter::ALL
            .without(EventType::Raw)
            .accepts(EventType::Raw));
        assert_eq!(f.types().count(), 2);
    }
}
