//! Safe, zero-copy views of a batch as the host lends it to a handler.

use crate::abi::{self, flags, kind, Level};

/// The kind of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A full book (`bids`/`asks` best first).
    BookSnapshot,
    /// Changed levels (quantity zero deletes), in the order Kraken sent them.
    BookUpdate,
    /// The best levels of a book right after a change (the `update` handler's `top: N`).
    BookTop,
    /// Kraken's checksum disagreed with the book.
    ChecksumMismatch,
    /// A book was thrown away; its next snapshot starts it again.
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
    /// A frame as received.
    Raw,
    /// A record some plugin emitted.
    Plugin,
    /// A type newer than this SDK.
    Unknown(u32),
}

impl EventType {
    /// From an ABI code.
    pub fn from_code(code: u32) -> EventType {
        match code {
            kind::BOOK_SNAPSHOT => Self::BookSnapshot,
            kind::BOOK_UPDATE => Self::BookUpdate,
            kind::BOOK_TOP => Self::BookTop,
            kind::CHECKSUM_MISMATCH => Self::ChecksumMismatch,
            kind::BOOK_RESET => Self::BookReset,
            kind::STATUS => Self::Status,
            kind::HEARTBEAT => Self::Heartbeat,
            kind::INSTRUMENT => Self::Instrument,
            kind::SUBSCRIPTION_ACK => Self::SubscriptionAck,
            kind::SUBSCRIPTION_ERROR => Self::SubscriptionError,
            kind::RAW => Self::Raw,
            kind::PLUGIN => Self::Plugin,
            other => Self::Unknown(other),
        }
    }

    /// The ABI code.
    pub fn code(&self) -> u32 {
        match self {
            Self::BookSnapshot => kind::BOOK_SNAPSHOT,
            Self::BookUpdate => kind::BOOK_UPDATE,
            Self::BookTop => kind::BOOK_TOP,
            Self::ChecksumMismatch => kind::CHECKSUM_MISMATCH,
            Self::BookReset => kind::BOOK_RESET,
            Self::Status => kind::STATUS,
            Self::Heartbeat => kind::HEARTBEAT,
            Self::Instrument => kind::INSTRUMENT,
            Self::SubscriptionAck => kind::SUBSCRIPTION_ACK,
            Self::SubscriptionError => kind::SUBSCRIPTION_ERROR,
            Self::Raw => kind::RAW,
            Self::Plugin => kind::PLUGIN,
            Self::Unknown(c) => *c,
        }
    }
}

/// The events of one batch, in order.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    events: &'a [abi::Event],
}

impl<'a> Batch<'a> {
    /// A view over ABI events.
    ///
    /// # Safety
    /// Every pointer inside `events` (symbols, levels) must be valid for `'a`.
    pub unsafe fn from_abi(events: &'a [abi::Event]) -> Self {
        Self { events }
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Event `index`.
    pub fn get(&self, index: usize) -> Option<EventView<'a>> {
        self.events.get(index).map(|raw| EventView { raw })
    }

    /// The events with their index (the `after` of [`crate::Host::emit`]).
    pub fn iter(&self) -> impl Iterator<Item = (usize, EventView<'a>)> + 'a {
        self.events
            .iter()
            .enumerate()
            .map(|(i, raw)| (i, EventView { raw }))
    }
}

/// One event.
#[derive(Clone, Copy, Debug)]
pub struct EventView<'a> {
    raw: &'a abi::Event,
}

impl<'a> EventView<'a> {
    /// Its type.
    pub fn event_type(&self) -> EventType {
        EventType::from_code(self.raw.kind)
    }

    /// Its pair, if it has one.
    pub fn symbol(&self) -> Option<&'a str> {
        // SAFETY: `Batch::from_abi`'s promise; the host passes UTF-8 symbols.
        let bytes = unsafe { self.raw.symbol.as_bytes() };
        if bytes.is_empty() {
            None
        } else {
            std::str::from_utf8(bytes).ok()
        }
    }

    /// The engine's sequence number (0 until numbered, which happens after the handler chain).
    pub fn seq(&self) -> u64 {
        self.raw.seq
    }

    /// Exchange time in nanoseconds since the Unix epoch, when the frame had one.
    pub fn exchange_ts(&self) -> Option<i64> {
        (self.raw.flags & flags::HAS_EXCHANGE_TS != 0).then_some(self.raw.exchange_ts)
    }

    /// Receive time in nanoseconds since the Unix epoch.
    pub fn received_ts(&self) -> i64 {
        self.raw.received_ts
    }

    /// Kraken's checksum, when the message carried one.
    pub fn checksum(&self) -> Option<u32> {
        (self.raw.flags & flags::HAS_CHECKSUM != 0).then_some(self.raw.checksum)
    }

    /// Whether the book matched the checksum; `None` until the `checksum` handler looked.
    pub fn checksum_ok(&self) -> Option<bool> {
        (self.raw.flags & flags::CHECKSUM_CHECKED != 0)
            .then_some(self.raw.flags & flags::CHECKSUM_OK != 0)
    }

    /// Bid levels (empty for events without levels).
    pub fn bids(&self) -> &'a [Level] {
        levels(self.raw.bids)
    }

    /// Ask levels.
    pub fn asks(&self) -> &'a [Level] {
        levels(self.raw.asks)
    }
}

fn levels<'a>(l: abi::Levels) -> &'a [Level] {
    if l.len == 0 {
        return &[];
    }
    // SAFETY: `Batch::from_abi`'s promise.
    unsafe { std::slice::from_raw_parts(l.ptr, l.len) }
}
