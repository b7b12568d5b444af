//! Exact order books: [`OrderBook`] per symbol, depth truncation, and the Kraken CRC-32 checksum.
//! [`BookStore`] holds the books of one shard and is lent to handlers.

mod store;

pub use store::{BookState, BookStore};

use crate::decimal::Decimal;
use crate::event::Level;

/// Why a level could not enter a book.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    /// A price or quantity has more fractional digits than the instrument's precision, or does
    /// not fit.
    #[error("level {price}@{qty} does not fit precision {price_precision}/{qty_precision}")]
    Precision {
        /// The price as received.
        price: Decimal,
        /// The quantity as received.
        qty: Decimal,
        /// The instrument's price precision.
        price_precision: u8,
        /// The instrument's quantity precision.
        qty_precision: u8,
    },
}

/// One symbol's book: bids and asks at a fixed precision, truncated to the subscribed depth.
///
/// Placeholder implementation (sorted vectors); replaced by the benchmarked one.
#[derive(Clone, Debug)]
pub struct OrderBook {
    depth: usize,
    price_precision: u8,
    qty_precision: u8,
    /// Best first.
    bids: Vec<(u128, u128)>,
    /// Best first.
    asks: Vec<(u128, u128)>,
}

impl OrderBook {
    /// An empty book keeping `depth` levels a side at the given precisions.
    pub fn new(depth: usize, price_precision: u8, qty_precision: u8) -> Self {
        Self {
            depth,
            price_precision,
            qty_precision,
            bids: Vec::new(),
            asks: Vec::new(),
        }
    }

    /// The subscribed depth.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// `(price_precision, qty_precision)`.
    pub fn precision(&self) -> (u8, u8) {
        (self.price_precision, self.qty_precision)
    }

    fn key(&self, level: &Level) -> Result<(u128, u128), BookError> {
        let err = || BookError::Precision {
            price: level.price,
            qty: level.qty,
            price_precision: self.price_precision,
            qty_precision: self.qty_precision,
        };
        let p = level.price.rescale(self.price_precision).ok_or_else(err)?;
        let q = level.qty.rescale(self.qty_precision).ok_or_else(err)?;
        Ok((p.mantissa(), q.mantissa()))
    }

    /// Replaces the book with a snapshot's levels.
    pub fn apply_snapshot(&mut self, bids: &[Level], asks: &[Level]) -> Result<(), BookError> {
        self.bids.clear();
        self.asks.clear();
        self.apply_update(bids, asks)
    }

    /// Applies an update's levels in array order (qty 0 deletes), then truncates to depth.
    pub fn apply_update(&mut self, bids: &[Level], asks: &[Level]) -> Result<(), BookError> {
        for l in bids {
            let (p, q) = self.key(l)?;
            apply(&mut self.bids, p, q, |a, b| b.cmp(&a));
        }
        for l in asks {
            let (p, q) = self.key(l)?;
            apply(&mut self.asks, p, q, |a, b| a.cmp(&b));
        }
        self.bids.truncate(self.depth);
        self.asks.truncate(self.depth);
        Ok(())
    }

    /// Bids, best first.
    pub fn bids(&self) -> impl Iterator<Item = Level> + '_ {
        let (pp, qp) = self.precision();
        self.bids.iter().map(move |&(p, q)| level(p, q, pp, qp))
    }

    /// Asks, best first.
    pub fn asks(&self) -> impl Iterator<Item = Level> + '_ {
        let (pp, qp) = self.precision();
        self.asks.iter().map(move |&(p, q)| level(p, q, pp, qp))
    }

    /// Kraken's CRC-32 over the top 10 asks then the top 10 bids.
    pub fn checksum(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        let mut buf = itoa::Buffer::new();
        for &(p, q) in self.asks.iter().take(10).chain(self.bids.iter().take(10)) {
            h.update(buf.format(p).as_bytes());
            h.update(buf.format(q).as_bytes());
        }
        h.finalize()
    }
}

fn level(p: u128, q: u128, pp: u8, qp: u8) -> Level {
    Level {
        price: Decimal::new(p, pp).unwrap_or_default(),
        qty: Decimal::new(q, qp).unwrap_or_default(),
    }
}

fn apply(
    side: &mut Vec<(u128, u128)>,
    p: u128,
    q: u128,
    cmp: impl Fn(u128, u128) -> std::cmp::Ordering,
) {
    match side.binary_search_by(|&(x, _)| cmp(x, p)) {
        Ok(i) if q == 0 => {
            side.remove(i);
        }
        Ok(i) => side[i].1 = q,
        Err(_) if q == 0 => {}
        Err(i) => side.insert(i, (p, q)),
    }
}
