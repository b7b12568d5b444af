//! Test helpers: a naive reference book that writes Kraken-checksummed messages, and a driver
//! that runs the book handlers over batches like a shard worker does.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use kobe_core::book::BookStore;
use kobe_core::component::ControlRequest;
use kobe_core::event::{BookData, InstrumentInfo, SubscriptionInfo, SubscriptionMethod};
use kobe_core::{
    Decimal, Event, EventBatch, EventKind, Handler, HandlerConfig, HandlerContext, Level, Symbol,
    Timestamp,
};
use kobe_plugins::checksum::{ChecksumConfig, OnMismatch};
use kobe_plugins::snapshot::SnapshotConfig;
use kobe_plugins::update::UpdateConfig;

pub fn sym(s: &str) -> Symbol {
    Symbol::new(s).unwrap()
}

pub fn lv(p: &str, q: &str) -> Level {
    Level {
        price: Decimal::parse(p).unwrap(),
        qty: Decimal::parse(q).unwrap(),
    }
}

/// Kraken's side of the conversation: the true book of one symbol, kept naively (text keyed by
/// exact value), producing the messages Kraken would send with their checksums.
pub struct Exchange {
    pub symbol: Symbol,
    depth: usize,
    pp: u8,
    qp: u8,
    bids: BTreeMap<u128, (String, String)>,
    asks: BTreeMap<u128, (String, String)>,
}

impl Exchange {
    pub fn new(symbol: &str, depth: usize, pp: u8, qp: u8) -> Self {
        Self {
            symbol: sym(symbol),
            depth,
            pp,
            qp,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
        }
    }

    fn apply(&mut self, bids: &[(&str, &str)], asks: &[(&str, &str)]) {
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for (p, q) in levels {
                let key = Decimal::parse_at(p, self.pp).unwrap().mantissa();
                if Decimal::parse(q).unwrap().is_zero() {
                    side.remove(&key);
                } else {
                    side.insert(key, (p.to_string(), q.to_string()));
                }
            }
        }
        while self.bids.len() > self.depth {
            self.bids.pop_first();
        }
        while self.asks.len() > self.depth {
            self.asks.pop_last();
        }
    }

    /// The documented algorithm, on text.
    pub fn checksum(&self) -> u32 {
        let digits = |t: &str, scale: u8| {
            let s = Decimal::parse_at(t, scale)
                .unwrap()
                .to_string()
                .replace('.', "");
            s.trim_start_matches('0').to_string()
        };
        let mut s = String::new();
        for (p, q) in self
            .asks
            .values()
            .take(10)
            .chain(self.bids.values().rev().take(10))
        {
            s += &digits(p, self.pp);
            s += &digits(q, self.qp);
        }
        crc32fast::hash(s.as_bytes())
    }

    fn event(
        &self,
        kind: fn(BookData) -> EventKind,
        bids: &[(&str, &str)],
        asks: &[(&str, &str)],
    ) -> Event {
        let levels = |l: &[(&str, &str)]| l.iter().map(|(p, q)| lv(p, q)).collect();
        let data = BookData {
            bids: levels(bids),
            asks: levels(asks),
            checksum: Some(self.checksum()),
            ..BookData::default()
        };
        Event::new(Some(self.symbol), Timestamp(1), kind(data))
    }

    pub fn snapshot(&mut self, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> Event {
        self.bids.clear();
        self.asks.clear();
        self.apply(bids, asks);
        self.event(EventKind::BookSnapshot, bids, asks)
    }

    pub fn update(&mut self, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> Event {
        self.apply(bids, asks);
        self.event(EventKind::BookUpdate, bids, asks)
    }

    /// An update the engine never sees (lost on the way): the exchange's book moves on.
    pub fn lose_update(&mut self, bids: &[(&str, &str)], asks: &[(&str, &str)]) {
        self.apply(bids, asks);
    }

    pub fn ack(&self) -> Event {
        ack(
            self.symbol,
            SubscriptionMethod::Subscribe,
            Some(self.depth as u16),
        )
    }

    pub fn instrument(&self) -> Event {
        instrument(self.symbol, self.pp, self.qp)
    }
}

pub fn ack(symbol: Symbol, method: SubscriptionMethod, depth: Option<u16>) -> Event {
    Event::new(
        Some(symbol),
        Timestamp(1),
        EventKind::SubscriptionAck(SubscriptionInfo {
            method,
            channel: "book".into(),
            depth,
            req_id: None,
            error: None,
        }),
    )
}

pub fn instrument(symbol: Symbol, pp: u8, qp: u8) -> Event {
    Event::new(
        Some(symbol),
        Timestamp(1),
        EventKind::Instrument(InstrumentInfo {
            price_precision: pp,
            qty_precision: qp,
        }),
    )
}

/// A shard worker's handler chain and books.
pub struct Shard {
    pub books: BookStore,
    pub control: Vec<ControlRequest>,
    chain: Vec<Box<dyn Handler>>,
}

impl Shard {
    pub fn new(default_depth: usize) -> Self {
        Self::with(
            default_depth,
            HashMap::new(),
            UpdateConfig::default(),
            OnMismatch::Resync,
        )
    }

    pub fn with(
        default_depth: usize,
        hints: HashMap<Symbol, InstrumentInfo>,
        update: UpdateConfig,
        on_mismatch: OnMismatch,
    ) -> Self {
        let chain: Vec<Box<dyn Handler>> = vec![
            SnapshotConfig::default().build().unwrap(),
            update.build().unwrap(),
            ChecksumConfig { on_mismatch }.build().unwrap(),
        ];
        Self {
            books: BookStore::new(default_depth, &hints),
            control: Vec::new(),
            chain,
        }
    }

    /// Runs one batch through the chain; returns the events that come out.
    pub fn run(&mut self, events: Vec<Event>) -> Vec<Event> {
        let mut batch = EventBatch::default();
        for e in events {
            batch.push(e);
        }
        let mut cx = HandlerContext::new(&mut self.books, &mut self.control, 0, 1);
        for h in &mut self.chain {
            h.process(&mut batch, &mut cx).unwrap();
        }
        batch.events
    }
}

/// `checksum_ok` of every book event, in order (`None` where it had no checksum).
pub fn oks(events: &[Event]) -> Vec<Option<bool>> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BookSnapshot(d) | EventKind::BookUpdate(d) => Some(d.checksum_ok),
            _ => None,
        })
        .collect()
}

/// A compact trace: `type symbol` per event.
pub fn trace(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e.event_type().as_str(),
                e.symbol.map(|s| s.to_string()).unwrap_or_default()
            )
        })
        .collect()
}
