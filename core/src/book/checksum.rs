//! Kraken's book checksum: CRC-32 over the decimal mantissas of the top 10 asks (best first)
//! then the top 10 bids (best first), price then quantity per level.
//!
//! Formatting 40 integers per message would cost more than everything else a book does, so
//! each side caches the digits of its top levels and their concatenation. A side whose top 10
//! did not change (the change was deeper, or on the other side) is not looked at again. A side
//! that did change is walked, but each level's digits are checked against the live level (key
//! and quantity must match) and reused, so the cache can never be stale; [`TopCache::note`]
//! keeps the cached digits aligned when levels shift, so that usually one level is reformatted.

use super::side::Change;

/// Levels per side that enter the checksum.
pub const CHECKSUM_LEVELS: usize = 10;

/// Room for the decimal text of one level: two `u128` mantissas of at most 39 digits.
const TEXT: usize = 80;

/// Levels are copied in fixed-size blocks (cheap, inlined moves); nearly all fit this one.
const SHORT: usize = 32;

/// How far past its end [`TopCache::write`] may write.
pub(super) const SPILL: usize = TEXT;

/// Room for both sides' concatenated text, plus a full block past the last level.
pub(super) const BUFFER: usize = 2 * CHECKSUM_LEVELS * TEXT + TEXT;

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: u128,
    qty: u128,
    /// Digits of the price, then of the quantity.
    text: [u8; TEXT],
    price_len: u8,
    len: u8,
    filled: bool,
}

impl Default for Slot {
    fn default() -> Self {
        Self {
            key: 0,
            qty: 0,
            text: [0; TEXT],
            price_len: 0,
            len: 0,
            filled: false,
        }
    }
}

/// The formatted top levels of one side. `order[rank]` is the slot holding that rank's text.
/// The side's text was last written at `start` with `count` levels, rank `r` ending at
/// `ends[r]`; ranks from `from` on changed since (`CHECKSUM_LEVELS`: nothing changed).
#[derive(Clone, Debug)]
pub(super) struct TopCache {
    slots: [Slot; CHECKSUM_LEVELS],
    order: [u8; CHECKSUM_LEVELS],
    from: usize,
    start: usize,
    count: usize,
    ends: [usize; CHECKSUM_LEVELS],
}

impl Default for TopCache {
    fn default() -> Self {
        Self {
            slots: [Slot::default(); CHECKSUM_LEVELS],
            order: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            from: 0,
            start: 0,
            count: 0,
            ends: [0; CHECKSUM_LEVELS],
        }
    }
}

/// Writes the decimal digits of `v` to `out` at `at`, with leading zeros stripped as Kraken
/// does (so zero, a price only, is the empty string); returns the end.
#[inline]
fn put(v: u128, out: &mut [u8; TEXT], at: usize) -> usize {
    if v == 0 {
        return at;
    }
    let mut buf = itoa::Buffer::new();
    let digits = match u64::try_from(v) {
        Ok(small) => buf.format(small),
        Err(_) => buf.format(v),
    };
    let end = at + digits.len();
    out[at..end].copy_from_slice(digits.as_bytes());
    end
}

impl TopCache {
    /// Keeps the slots aligned with a change the side just made, and notes the best rank
    /// whose text may have changed.
    #[inline]
    pub(super) fn note(&mut self, change: Change) {
        let r = match change {
            Change::Inserted(r) if r < CHECKSUM_LEVELS => {
                let freed = self.order[CHECKSUM_LEVELS - 1];
                self.order.copy_within(r..CHECKSUM_LEVELS - 1, r + 1);
                self.order[r] = freed;
                r
            }
            Change::Removed(r) if r < CHECKSUM_LEVELS => {
                let freed = self.order[r];
                self.order.copy_within(r + 1..CHECKSUM_LEVELS, r);
                self.order[CHECKSUM_LEVELS - 1] = freed;
                r
            }
            Change::Modified(r) if r < CHECKSUM_LEVELS => r,
            _ => return,
        };
        self.from = self.from.min(r);
    }

    /// The top levels may have changed in a way [`TopCache::note`] did not see (a snapshot,
    /// a truncation into the top 10): rewrite all of them.
    pub(super) fn touch(&mut self) {
        self.from = 0;
    }

    /// Whether the text must be rewritten before use.
    pub(super) fn is_dirty(&self) -> bool {
        self.from < CHECKSUM_LEVELS
    }

    /// Writes the side's checksum text into `out` from `at` and returns its end. Ranks above
    /// the first changed one keep the text already there (if the side starts at the same
    /// place); below it, levels are reformatted only where key or quantity differ from their
    /// slot. `price` maps a key back to the price. `out` must have [`BUFFER`] bytes. Up to
    /// [`SPILL`] bytes past the returned end may be overwritten (levels are copied in blocks).
    #[inline]
    pub(super) fn write(
        &mut self,
        levels: impl Iterator<Item = (u128, u128)>,
        price: impl Fn(u128) -> u128,
        out: &mut [u8],
        at: usize,
    ) -> usize {
        if at != self.start {
            self.start = at;
            self.from = 0;
        }
        // Changes land at ranks at most the old level count, so `ends[from - 1]` was written.
        let from = self.from.min(self.count);
        let mut len = if from == 0 { at } else { self.ends[from - 1] };
        let mut rank = from;
        for (key, qty) in levels.skip(from).take(CHECKSUM_LEVELS - from) {
            let slot = &mut self.slots[usize::from(self.order[rank])];
            if !slot.filled || slot.key != key {
                let p = put(price(key), &mut slot.text, 0);
                slot.price_len = p as u8;
                slot.len = put(qty, &mut slot.text, p) as u8;
                slot.key = key;
                slot.qty = qty;
                slot.filled = true;
            } else if slot.qty != qty {
                slot.len = put(qty, &mut slot.text, usize::from(slot.price_len)) as u8;
                slot.qty = qty;
            }
            let n = usize::from(slot.len);
            if n <= SHORT {
                out[len..len + SHORT].copy_from_slice(&slot.text[..SHORT]);
            } else {
                out[len..len + TEXT].copy_from_slice(&slot.text);
            }
            len += n;
            self.ends[rank] = len;
            rank += 1;
        }
        self.count = rank;
        self.from = CHECKSUM_LEVELS;
        len
    }
}
