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

/// The formatted top levels of one side. `order[rank]` is the slot holding that rank's text;
/// `dirty` says whether the top levels changed since the side's text was last written.
#[derive(Clone, Debug)]
pub(super) struct TopCache {
    slots: [Slot; CHECKSUM_LEVELS],
    order: [u8; CHECKSUM_LEVELS],
    dirty: bool,
}

impl Default for TopCache {
    fn default() -> Self {
        Self {
            slots: [Slot::default(); CHECKSUM_LEVELS],
            order: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            dirty: true,
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
    /// Keeps the slots aligned with a change the side just made, and notes whether the top
    /// levels changed.
    #[inline]
    pub(super) fn note(&mut self, change: Change) {
        match change {
            Change::Inserted(r) if r < CHECKSUM_LEVELS => {
                let freed = self.order[CHECKSUM_LEVELS - 1];
                self.order.copy_within(r..CHECKSUM_LEVELS - 1, r + 1);
                self.order[r] = freed;
                self.dirty = true;
            }
            Change::Removed(r) if r < CHECKSUM_LEVELS => {
                let freed = self.order[r];
                self.order.copy_within(r + 1..CHECKSUM_LEVELS, r);
                self.order[CHECKSUM_LEVELS - 1] = freed;
                self.dirty = true;
            }
            Change::Modified(r) if r < CHECKSUM_LEVELS => self.dirty = true,
            _ => {}
        }
    }

    /// The top levels may have changed in a way [`TopCache::note`] did not see (a snapshot,
    /// a truncation into the top 10).
    pub(super) fn touch(&mut self) {
        self.dirty = true;
    }

    /// Whether the text must be rebuilt before use.
    pub(super) fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Writes the side's checksum text into `out` from `at` and returns its end, reformatting
    /// only levels whose key or quantity differ from their slot. `price` maps a key back to the
    /// price. `out` must have [`BUFFER`] bytes.
    #[inline]
    pub(super) fn write(
        &mut self,
        levels: impl Iterator<Item = (u128, u128)>,
        price: impl Fn(u128) -> u128,
        out: &mut [u8],
        at: usize,
    ) -> usize {
        let mut len = at;
        for (rank, (key, qty)) in levels.take(CHECKSUM_LEVELS).enumerate() {
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
        }
        self.dirty = false;
        len
    }
}
