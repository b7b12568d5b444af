//! Exact order books: [`OrderBook`] per symbol, depth truncation, and the Kraken CRC-32 checksum.
//! [`BookStore`] holds the books of one shard and is lent to handlers.

mod checksum;
pub mod side;
mod store;

pub use checksum::CHECKSUM_LEVELS;
pub use store::{BookState, BookStats, BookStore, Outcome, UpdateSeen};

use crate::decimal::Decimal;
use crate::event::Level;
use checksum::TopCache;
use side::{GapSide, SideStore};

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

/// One symbol's book: bids and asks as integer mantissas at the instrument's precision,
/// truncated to the subscribed depth after every message.
///
/// `S` is the side structure; the default, [`GapSide`], won the benchmark at every depth.
#[derive(Clone, Debug)]
pub struct OrderBook<S: SideStore = GapSide> {
    depth: usize,
    price_precision: u8,
    qty_precision: u8,
    /// Keys are `u128::MAX - price`, so the best bid has the smallest key.
    bids: S,
    asks: S,
    bid_text: TopCache,
    ask_text: TopCache,
    /// The checksum as of the last call, reused while neither top 10 changes.
    last_checksum: Option<u32>,
    /// The CRC after the asks' text (valid while the asks' top 10 is unchanged): the asks
    /// come first, so a message that changes only bids hashes only the bids' text. Kept rather
    /// than rebuilt: creating a hasher detects CPU features each time.
    after_asks: crc32fast::Hasher,
}

impl OrderBook {
    /// An empty book keeping `depth` levels a side at the given precisions.
    pub fn new(depth: usize, price_precision: u8, qty_precision: u8) -> Self {
        Self::with_sides(depth, price_precision, qty_precision)
    }
}

#[inline]
fn bid_key(price: u128) -> u128 {
    u128::MAX - price
}

impl<S: SideStore> OrderBook<S> {
    /// An empty book over side structure `S` (for comparing structures).
    pub fn with_sides(depth: usize, price_precision: u8, qty_precision: u8) -> Self {
        Self {
            depth,
            price_precision,
            qty_precision,
            bids: S::default(),
            asks: S::default(),
            bid_text: TopCache::default(),
            ask_text: TopCache::default(),
            last_checksum: None,
            after_asks: crc32fast::Hasher::new(),
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

    /// The number of `(bid, ask)` levels.
    pub fn len(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// True when both sides are empty.
    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }

    /// Brings every level to the book's precision in place, so that records print the
    /// instrument's exact digits; nothing is changed in the book. Fails on the first level
    /// with a significant digit beyond the precision (never rounds).
    pub fn rescale(&self, levels: &mut [Level]) -> Result<(), BookError> {
        let (pp, qp) = self.precision();
        for level in levels {
            if level.price.scale() == pp && level.qty.scale() == qp {
                continue;
            }
            match (level.price.rescale(pp), level.qty.rescale(qp)) {
                (Some(price), Some(qty)) => *level = Level { price, qty },
                _ => {
                    return Err(BookError::Precision {
                        price: level.price,
                        qty: level.qty,
                        price_precision: pp,
                        qty_precision: qp,
                    })
                }
            }
        }
        Ok(())
    }

    /// Whether every level is already at the book's precision: Kraken prints exactly the
    /// instrument's digits, so nearly always (and [`OrderBook::rescale`] is not called).
    #[inline]
    fn at_precision(&self, levels: &[Level]) -> bool {
        let (pp, qp) = self.precision();
        levels
            .iter()
            .all(|l| l.price.scale() == pp && l.qty.scale() == qp)
    }

    /// Rescales both sides' levels unless they are at the book's precision already.
    #[inline]
    fn rescale_both(&self, bids: &mut [Level], asks: &mut [Level]) -> Result<(), BookError> {
        if !self.at_precision(bids) || !self.at_precision(asks) {
            self.rescale(bids)?;
            self.rescale(asks)?;
        }
        Ok(())
    }

    /// Replaces the book with a snapshot's levels (rescaled in place first; on error the book
    /// is unchanged).
    pub fn apply_snapshot(
        &mut self,
        bids: &mut [Level],
        asks: &mut [Level],
    ) -> Result<(), BookError> {
        self.rescale_both(bids, asks)?;
        self.bids.clear();
        self.asks.clear();
        self.bid_text.touch();
        self.ask_text.touch();
        self.apply_levels(bids, asks);
        Ok(())
    }

    /// Applies an update's levels in array order (qty 0 deletes, an unknown price's delete is a
    /// no-op, a repeated price: last wins), then truncates each side to the depth. Levels are
    /// rescaled in place first; on error the book is unchanged.
    pub fn apply_update(
        &mut self,
        bids: &mut [Level],
        asks: &mut [Level],
    ) -> Result<(), BookError> {
        self.rescale_both(bids, asks)?;
        self.apply_levels(bids, asks);
        Ok(())
    }

    /// Applies levels already at the book's precision, then truncates.
    fn apply_levels(&mut self, bids: &[Level], asks: &[Level]) {
        for l in bids {
            let change = self.bids.set(
                bid_key(l.price.mantissa()),
                l.qty.mantissa(),
                CHECKSUM_LEVELS,
            );
            self.bid_text.note(change);
        }
        for l in asks {
            let change = self
                .asks
                .set(l.price.mantissa(), l.qty.mantissa(), CHECKSUM_LEVELS);
            self.ask_text.note(change);
        }
        // Levels past the depth leave at the bottom; that reaches into the checksum window
        // only for books shallower than it.
        if self.depth < CHECKSUM_LEVELS {
            if self.bids.len() > self.depth {
                self.bid_text.touch();
            }
            if self.asks.len() > self.depth {
                self.ask_text.touch();
            }
        }
        self.bids.truncate(self.depth);
        self.asks.truncate(self.depth);
    }

    fn level(&self, price: u128, qty: u128) -> Level {
        Level {
            price: Decimal::new(price, self.price_precision).unwrap_or_default(),
            qty: Decimal::new(qty, self.qty_precision).unwrap_or_default(),
        }
    }

    /// Bids, best (highest) first.
    pub fn bids(&self) -> impl Iterator<Item = Level> + '_ {
        self.bids.iter().map(|(k, q)| self.level(bid_key(k), q))
    }

    /// Asks, best (lowest) first.
    pub fn asks(&self) -> impl Iterator<Item = Level> + '_ {
        self.asks.iter().map(|(k, q)| self.level(k, q))
    }

    /// Kraken's CRC-32 over the top 10 asks then the top 10 bids. Allocation-free; reformats
    /// only the levels that changed since the last call, and nothing if neither top 10 did.
    pub fn checksum(&mut self) -> u32 {
        if let Some(last) = self.last_checksum {
            if !self.ask_text.is_dirty() && !self.bid_text.is_dirty() {
                return last;
            }
        }
        if self.ask_text.is_dirty() {
            self.after_asks.reset();
            self.after_asks
                .update(self.ask_text.text(&self.asks, |k| k));
        }
        let mut crc = self.after_asks.clone();
        crc.update(self.bid_text.text(&self.bids, bid_key));
        let sum = crc.finalize();
        self.last_checksum = Some(sum);
        sum
    }
}

#[cfg(test)]
mod tests;
