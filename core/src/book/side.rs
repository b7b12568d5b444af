//! One side of a book as a set of `(key, qty)` levels kept best first. Keys are chosen so that
//! the best level has the smallest key on both sides (asks: the price mantissa; bids:
//! `u128::MAX - price`), so one implementation serves both.
//!
//! [`super::OrderBook`] uses [`GapSide`]. The other candidates (a `VecDeque`, `Vec`s best
//! first and best last, a `BTreeMap`) live in the benchmark that chose it
//! (`core/benches/book/sides.rs`), which measures them through [`SideStore`] at every
//! subscribable depth.

use std::cmp::Ordering;
use std::fmt::Debug;

/// Levels looked at one by one from the best before a binary search: most changes land there.
const PROBE: usize = 8;

/// What [`SideStore::set`] did, with the rank (0 = best) it happened at. Ranks at or beyond
/// `cap` (the argument to `set`) are reported as `cap`: callers only care about the top.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing: a delete of a price that is not in the book.
    None,
    /// A new level now sits at this rank.
    Inserted(usize),
    /// The level at this rank was removed.
    Removed(usize),
    /// The level at this rank has a new quantity.
    Modified(usize),
}

/// A side of a book: levels ordered by key, smallest (best) first.
pub trait SideStore: Default + Clone + Debug + Send {
    /// Sets the quantity at `key`; a zero quantity deletes the level. Ranks in the returned
    /// [`Change`] are capped at `cap`.
    fn set(&mut self, key: u128, qty: u128, cap: usize) -> Change;
    /// Keeps only the best `depth` levels.
    fn truncate(&mut self, depth: usize);
    /// Removes every level.
    fn clear(&mut self);
    /// The number of levels.
    fn len(&self) -> usize;
    /// True when the side has no levels.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The levels, best first.
    fn iter(&self) -> impl Iterator<Item = (u128, u128)> + '_;
    /// The level at `rank` (0 = best).
    #[inline]
    fn get(&self, rank: usize) -> Option<(u128, u128)> {
        self.iter().nth(rank)
    }
}

/// Where the level `cmp` finds equal is (`Ok`) or would go (`Err`): the first few levels one by
/// one from the best (most changes land there), then a binary search.
#[inline(always)]
fn search(levels: &[(u128, u128)], cmp: impl Fn(u128) -> Ordering) -> Result<usize, usize> {
    for (i, &(k, _)) in levels.iter().take(PROBE).enumerate() {
        match cmp(k) {
            Ordering::Less => {}
            Ordering::Equal => return Ok(i),
            Ordering::Greater => return Err(i),
        }
    }
    levels.binary_search_by(|&(k, _)| cmp(k))
}

/// Sorted levels, best first, in the middle of a buffer with room at both ends: a change
/// moves the levels on the shorter side of it into that side's room (like [`DequeSide`], so
/// changes near the best move only the few levels in front of them, and truncation moves
/// nothing), but the levels are one slice, never wrapped, so moving them is one plain copy
/// and searching them one slice search. When an end runs out of room the levels are
/// centred again, in a larger buffer if need be.
#[derive(Clone, Debug, Default)]
pub struct GapSide {
    /// The levels are `buf[head..head + len]`; the rest is room.
    buf: Vec<(u128, u128)>,
    head: usize,
    len: usize,
}

impl GapSide {
    #[inline]
    fn levels(&self) -> &[(u128, u128)] {
        &self.buf[self.head..self.head + self.len]
    }

    /// Where `key` is (`Ok`) or would go (`Err`).
    #[inline(always)]
    fn find(&self, key: u128) -> Result<usize, usize> {
        let levels = self.levels();
        let (Some(&(first, _)), Some(&(last, _))) = (levels.first(), levels.last()) else {
            return Err(0);
        };
        // Past the worst level: the one that enters the window at the bottom after a delete.
        if last < key {
            return Err(levels.len());
        }
        // Keys of one side nearly always share their high half (asks: zero; bids: all ones),
        // and then only the low halves need comparing.
        let high = (key >> 64) as u64;
        if (first >> 64) as u64 == high && (last >> 64) as u64 == high {
            let low = key as u64;
            search(levels, |k| (k as u64).cmp(&low))
        } else {
            search(levels, |k| k.cmp(&key))
        }
    }

    /// Centres the levels, with room for at least 16 more at each end.
    #[cold]
    #[inline(never)]
    fn centre(&mut self) {
        let size = (self.len * 2 + 32).max(self.buf.len());
        self.buf.resize(size, (0, 0));
        let head = (size - self.len) / 2;
        self.buf.copy_within(self.head..self.head + self.len, head);
        self.head = head;
    }

    #[inline]
    fn insert(&mut self, i: usize, level: (u128, u128)) {
        loop {
            let (head, len) = (self.head, self.len);
            if i < len - i {
                if head > 0 {
                    self.buf.copy_within(head..head + i, head - 1);
                    self.head = head - 1;
                    break;
                }
            } else if head + len < self.buf.len() {
                self.buf.copy_within(head + i..head + len, head + i + 1);
                break;
            }
            self.centre();
        }
        self.len += 1;
        self.buf[self.head + i] = level;
    }

    #[inline]
    fn remove(&mut self, i: usize) {
        let (head, len) = (self.head, self.len);
        if i < len - 1 - i {
            self.buf.copy_within(head..head + i, head + 1);
            self.head = head + 1;
        } else {
            self.buf.copy_within(head + i + 1..head + len, head + i);
        }
        self.len -= 1;
    }
}

impl SideStore for GapSide {
    // Called per level in a loop over a message's levels: a call would cost as much as
    // a typical search.
    #[inline(always)]
    fn set(&mut self, key: u128, qty: u128, cap: usize) -> Change {
        match self.find(key) {
            Ok(i) if qty == 0 => {
                self.remove(i);
                Change::Removed(i.min(cap))
            }
            Ok(i) => {
                self.buf[self.head + i].1 = qty;
                Change::Modified(i.min(cap))
            }
            Err(_) if qty == 0 => Change::None,
            Err(i) => {
                self.insert(i, (key, qty));
                Change::Inserted(i.min(cap))
            }
        }
    }

    fn truncate(&mut self, depth: usize) {
        self.len = self.len.min(depth);
    }

    fn clear(&mut self) {
        self.len = 0;
        self.head = self.buf.len() / 2;
    }

    fn len(&self) -> usize {
        self.len
    }

    fn iter(&self) -> impl Iterator<Item = (u128, u128)> + '_ {
        self.levels().iter().copied()
    }

    #[inline]
    fn get(&self, rank: usize) -> Option<(u128, u128)> {
        self.levels().get(rank).copied()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Keys on both sides of 2^64 in one side (prices past `u64` are valid): the search must
    /// not compare low halves alone there.
    #[test]
    fn gap_side_orders_keys_across_the_u64_boundary() {
        let base = 1u128 << 64;
        let keys = [
            base + 5,
            7,
            base,
            base - 1,
            3,
            base + 1,
            u128::MAX,
            0,
            base - 2,
        ];
        let mut side = GapSide::default();
        let mut want = BTreeMap::new();
        for (i, &k) in keys.iter().enumerate() {
            side.set(k, i as u128 + 1, 10);
            want.insert(k, i as u128 + 1);
        }
        side.set(base - 1, 0, 10);
        want.remove(&(base - 1));
        side.set(base + 5, 42, 10);
        want.insert(base + 5, 42);
        let got: Vec<_> = side.iter().collect();
        let want: Vec<_> = want.into_iter().collect();
        assert_eq!(got, want);
    }
}
