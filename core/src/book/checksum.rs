//! Kraken's book checksum: CRC-32 over the decimal mantissas of the top 10 asks (best first)
//! then the top 10 bids (best first), price then quantity per level.
//!
//! Formatting 40 integers per message would cost more than everything else a book does, so
//! each side caches the digits of its top levels. The cache is checked against the live levels
//! on every use (key and quantity must match), so it can never be stale; [`TopCache::note`]
//! only keeps it aligned when levels shift, so that usually nothing needs reformatting.

use super::side::Change;

/// Levels per side that enter the checksum.
pub const CHECKSUM_LEVELS: usize = 10;

/// Longest decimal text of one level: two `u128` mantissas of at most 39 digits.
const TEXT: usize = 78;

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
#[derive(Clone, Debug)]
pub(super) struct TopCache {
    slots: [Slot; CHECKSUM_LEVELS],
    order: [u8; CHECKSUM_LEVELS],
}

impl Default for TopCache {
    fn default() -> Self {
        Self {
            slots: [Slot::default(); CHECKSUM_LEVELS],
            order: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
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
    /// Keeps the slots aligned with a change the side just made.
    #[inline]
    pub(super) fn note(&mut self, change: Change) {
        match change {
            Change::Inserted(r) if r < CHECKSUM_LEVELS => {
                let freed = self.order[CHECKSUM_LEVELS - 1];
                self.order.copy_within(r..CHECKSUM_LEVELS - 1, r + 1);
                self.order[r] = freed;
            }
            Change::Removed(r) if r < CHECKSUM_LEVELS => {
                let freed = self.order[r];
                self.order.copy_within(r + 1..CHECKSUM_LEVELS, r);
                self.order[CHECKSUM_LEVELS - 1] = freed;
            }
            _ => {}
        }
    }

    /// Appends the side's checksum text to `out`, reformatting only levels whose key or
    /// quantity changed. `price` maps a key back to the price.
    #[inline]
    pub(super) fn write(
        &mut self,
        levels: impl Iterator<Item = (u128, u128)>,
        price: impl Fn(u128) -> u128,
        out: &mut Vec<u8>,
    ) {
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
            out.extend_from_slice(&slot.text[..usize::from(slot.len)]);
        }
    }
}

/// Room for the text of both sides' top levels.
pub(super) const BUFFER: usize = 2 * CHECKSUM_LEVELS * TEXT;
