//! Kraken's book checksum: CRC-32 over the decimal mantissas of the top 10 asks (best first)
//! then the top 10 bids (best first), price then quantity per level.
//!
//! Formatting 40 integers per message would cost more than everything else a book does, so
//! each side caches the digits of its top levels and their concatenation, in a buffer of its
//! own: a side whose top 10 did not change (the change was deeper, or on the other side) is
//! not looked at again, not even to move its text. [`TopCache::note`] sees every change the
//! side makes to its top 10 and keeps the cached digits aligned when levels shift, marking
//! the ranks whose level is new or has a new quantity: only those are read back from the side
//! and formatted (usually one); the other ranks from the first change on are only copied to
//! their new place. Debug builds check after every rewrite that no slot is stale.

use super::side::{Change, SideStore};

/// Levels per side that enter the checksum.
pub const CHECKSUM_LEVELS: usize = 10;

/// Room for the decimal text of one level: two `u128` mantissas of at most 39 digits.
const TEXT: usize = 80;

/// Levels are copied in fixed-size blocks (cheap, inlined moves); nearly all fit this one.
const SHORT: usize = 32;

/// Room for one side's concatenated text, plus a full block past the last level (copies
/// are whole blocks, so they may write past the end of the text).
const SIDE_TEXT: usize = CHECKSUM_LEVELS * TEXT + TEXT;

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

/// Bit `r` stands for rank `r`.
const ALL_RANKS: u16 = (1 << CHECKSUM_LEVELS) - 1;

/// The formatted top levels of one side. `order[rank]` is the slot holding that rank's text.
/// The side's text is `text[..len]`, written with `count` levels, rank `r` ending at
/// `ends[r]`. Since then, ranks from `from` on moved or changed (`CHECKSUM_LEVELS`: nothing
/// did), and the ranks in `stale` hold a level their slot does not describe.
#[derive(Clone, Debug)]
pub(super) struct TopCache {
    slots: [Slot; CHECKSUM_LEVELS],
    order: [u8; CHECKSUM_LEVELS],
    from: usize,
    stale: u16,
    count: usize,
    ends: [usize; CHECKSUM_LEVELS],
    len: usize,
    text: [u8; SIDE_TEXT],
}

impl Default for TopCache {
    fn default() -> Self {
        Self {
            slots: [Slot::default(); CHECKSUM_LEVELS],
            order: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            from: 0,
            stale: ALL_RANKS,
            count: 0,
            ends: [0; CHECKSUM_LEVELS],
            len: 0,
            text: [0; SIDE_TEXT],
        }
    }
}

/// ASCII `'0'` in every byte of a word.
const ZEROS: u64 = 0x3030_3030_3030_3030;

/// The eight decimal digits of `x < 10^8` as the values 0-9 in the bytes of a little-endian
/// word, most significant first (so stored as is, they read left to right). All lanes at
/// once: the halves of four digits divided by 100 in two 32-bit lanes, then the four
/// pairs by 10 in 16-bit lanes, with multiply-shift divisions exact in those ranges.
#[inline]
fn digits8(x: u64) -> u64 {
    let merged = (x / 10_000) | ((x % 10_000) << 32);
    let hundreds = ((merged * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let pairs = ((merged - 100 * hundreds) << 16) | hundreds;
    let tens = ((pairs * 103) >> 10) & 0x000F_000F_000F_000F;
    let ones = pairs - 10 * tens;
    tens | (ones << 8)
}

/// Writes the decimal digits of `v` to `out` at `at`, with leading zeros stripped as Kraken
/// does (so zero, a price only, is the empty string); returns the end.
#[inline(always)]
fn put(v: u128, out: &mut [u8; TEXT], at: usize) -> usize {
    match u64::try_from(v) {
        Ok(0) => at,
        Ok(small) => put_u64(small, out, at),
        Err(_) => put_u128(v, out, at),
    }
}

/// [`put`] for mantissas past `u64` (valid, but not seen in practice).
#[cold]
fn put_u128(v: u128, out: &mut [u8; TEXT], at: usize) -> usize {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(v);
    let end = at + digits.len();
    out[at..end].copy_from_slice(digits.as_bytes());
    end
}

/// [`put`] for a non-zero `u64` (nearly every mantissa): eight digits at a time, stored in
/// whole words straight into place (up to 8 bytes past the end are overwritten).
#[inline(always)]
fn put_u64(v: u64, out: &mut [u8; TEXT], at: usize) -> usize {
    const E8: u64 = 100_000_000;
    let (head, blocks) = if v < E8 {
        (v, 0)
    } else if v < E8 * E8 {
        (v / E8, 1)
    } else {
        (v / (E8 * E8), 2)
    };
    // `head` is not zero, so neither are its digits; its leading zeros are the low bytes.
    let digits = digits8(head);
    let skip = digits.trailing_zeros() / 8;
    let word = (digits + ZEROS) >> (8 * skip);
    out[at..at + 8].copy_from_slice(&word.to_le_bytes());
    let mut end = at + 8 - skip as usize;
    if blocks == 2 {
        let word = digits8(v / E8 % E8) + ZEROS;
        out[end..end + 8].copy_from_slice(&word.to_le_bytes());
        end += 8;
    }
    if blocks >= 1 {
        let word = digits8(v % E8) + ZEROS;
        out[end..end + 8].copy_from_slice(&word.to_le_bytes());
        end += 8;
    }
    end
}

impl TopCache {
    /// Keeps the slots aligned with a change the side just made, and notes the best rank
    /// whose text may have changed.
    #[inline(always)]
    pub(super) fn note(&mut self, change: Change) {
        let r = match change {
            Change::Inserted(r) if r < CHECKSUM_LEVELS => {
                let freed = self.order[CHECKSUM_LEVELS - 1];
                self.order.copy_within(r..CHECKSUM_LEVELS - 1, r + 1);
                self.order[r] = freed;
                let below = self.stale & ((1 << r) - 1);
                self.stale = (below | (self.stale >> r << (r + 1)) | (1 << r)) & ALL_RANKS;
                r
            }
            Change::Removed(r) if r < CHECKSUM_LEVELS => {
                let freed = self.order[r];
                self.order.copy_within(r + 1..CHECKSUM_LEVELS, r);
                self.order[CHECKSUM_LEVELS - 1] = freed;
                // The level that was 11th, if any, is now 10th.
                let below = self.stale & ((1 << r) - 1);
                self.stale = below | (self.stale >> (r + 1) << r) | (1 << (CHECKSUM_LEVELS - 1));
                r
            }
            Change::Modified(r) if r < CHECKSUM_LEVELS => {
                self.stale |= 1 << r;
                r
            }
            _ => return,
        };
        self.from = self.from.min(r);
    }

    /// The top levels may have changed in a way [`TopCache::note`] did not see (a snapshot,
    /// a truncation into the top 10): rewrite all of them.
    pub(super) fn touch(&mut self) {
        self.from = 0;
        self.stale = ALL_RANKS;
    }

    /// Whether the text must be rewritten before use.
    pub(super) fn is_dirty(&self) -> bool {
        self.from < CHECKSUM_LEVELS
    }

    /// The side's checksum text, rewritten first if it changed. Ranks above the first changed
    /// one keep their text; below it, only stale ranks are read from the side and formatted
    /// (a quantity alone if the price did not change). `price` maps a key back to the price.
    #[inline]
    pub(super) fn text<S: SideStore>(&mut self, side: &S, price: impl Fn(u128) -> u128) -> &[u8] {
        if self.is_dirty() {
            self.write(side, price);
        }
        &self.text[..self.len]
    }

    fn write<S: SideStore>(&mut self, side: &S, price: impl Fn(u128) -> u128) {
        let count = side.len().min(CHECKSUM_LEVELS);
        // Ranks past the last write's levels never had their level's text.
        let stale = self.stale | (ALL_RANKS & !((1 << self.count) - 1));
        // Changes land at ranks at most the old level count, so `ends[from - 1]` was written.
        let from = self.from.min(self.count);
        let mut len = if from == 0 { 0 } else { self.ends[from - 1] };
        for rank in from..count {
            let slot = &mut self.slots[usize::from(self.order[rank])];
            if stale & (1 << rank) != 0 {
                let Some((key, qty)) = side.get(rank) else {
                    break;
                };
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
            }
            let n = usize::from(slot.len);
            if n <= SHORT {
                self.text[len..len + SHORT].copy_from_slice(&slot.text[..SHORT]);
            } else {
                self.text[len..len + TEXT].copy_from_slice(&slot.text);
            }
            len += n;
            self.ends[rank] = len;
        }
        self.count = count;
        self.len = len;
        self.from = CHECKSUM_LEVELS;
        self.stale = 0;
        #[cfg(debug_assertions)]
        self.check(side);
    }

    /// Every slot in use describes its rank's level (what [`TopCache::note`] must guarantee).
    #[cfg(debug_assertions)]
    fn check<S: SideStore>(&self, side: &S) {
        for (rank, (key, qty)) in side.iter().take(self.count).enumerate() {
            let slot = &self.slots[usize::from(self.order[rank])];
            assert!(
                slot.filled && slot.key == key && slot.qty == qty,
                "checksum slot of rank {rank} is stale"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_match_decimal_formatting_with_leading_zeros_stripped() {
        let mut edges = vec![0u128, 1, 9, 10, 11, 99, 100, 101, 999, 1000];
        for e in 1..39 {
            let p = 10u128.pow(e);
            edges.extend([p - 1, p, p + 1]);
        }
        edges.extend([
            u128::from(u64::MAX) - 1,
            u128::from(u64::MAX),
            u128::from(u64::MAX) + 1,
            u128::MAX,
        ]);
        edges.extend(0..200_000);
        // A stride through every digit count of u64.
        let mut v = 1u128;
        while v < u128::from(u64::MAX) {
            edges.push(v);
            v = v * 7 + 3;
        }
        for v in edges {
            let want = if v == 0 { String::new() } else { v.to_string() };
            // After a price of 3 digits, as the quantity is written.
            let mut out = [b'x'; TEXT];
            let end = put(v, &mut out, 3);
            assert_eq!(&out[3..end], want.as_bytes(), "{v}");
            assert_eq!(&out[..3], b"xxx", "{v} wrote before its place");
        }
    }
}
