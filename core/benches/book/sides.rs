//! The side structures [`GapSide`](kobe_core::book::side::GapSide) was chosen against, kept here (not in the library) because
//! only the book benchmark measures them; `core/tests/book_proptest.rs` includes this file too,
//! so the numbers are of structures that hold the same books.

use std::collections::{BTreeMap, VecDeque};

use kobe_core::book::side::{Change, SideStore};

/// Sorted [`VecDeque`], best at the front: inserting near the best shifts only the few levels
/// in front of it, and truncation pops the back. Activity concentrates at the top of the book,
/// so this beat the `Vec`s at depth 100 and up; [`GapSide`](kobe_core::book::side::GapSide) does the same without wrapping.
#[derive(Clone, Debug, Default)]
pub struct DequeSide {
    levels: VecDeque<(u128, u128)>,
}

/// Levels looked at one by one from the best before a binary search: most changes land there.
const PROBE: usize = 8;

impl DequeSide {
    /// Where `key` is (`Ok`) or would go (`Err`).
    #[inline]
    fn find(&self, key: u128) -> Result<usize, usize> {
        let (front, _) = self.levels.as_slices();
        for (i, &(k, _)) in front.iter().take(PROBE).enumerate() {
            if k >= key {
                return if k == key { Ok(i) } else { Err(i) };
            }
        }
        self.levels.binary_search_by(|&(k, _)| k.cmp(&key))
    }
}

impl SideStore for DequeSide {
    #[inline]
    fn set(&mut self, key: u128, qty: u128, cap: usize) -> Change {
        let found = self.find(key);
        match found {
            Ok(i) if qty == 0 => {
                self.levels.remove(i);
                Change::Removed(i.min(cap))
            }
            Ok(i) => {
                self.levels[i].1 = qty;
                Change::Modified(i.min(cap))
            }
            Err(_) if qty == 0 => Change::None,
            Err(i) => {
                self.levels.insert(i, (key, qty));
                Change::Inserted(i.min(cap))
            }
        }
    }

    fn truncate(&mut self, depth: usize) {
        self.levels.truncate(depth);
    }

    fn clear(&mut self) {
        self.levels.clear();
    }

    fn len(&self) -> usize {
        self.levels.len()
    }

    fn iter(&self) -> impl Iterator<Item = (u128, u128)> + '_ {
        self.levels.iter().copied()
    }

    #[inline]
    fn get(&self, rank: usize) -> Option<(u128, u128)> {
        self.levels.get(rank).copied()
    }
}

/// Sorted `Vec`, best first: the simplest layout; an insert near the best shifts the whole side.
#[derive(Clone, Debug, Default)]
pub struct VecBestFirst {
    levels: Vec<(u128, u128)>,
}

impl SideStore for VecBestFirst {
    #[inline]
    fn set(&mut self, key: u128, qty: u128, cap: usize) -> Change {
        match self.levels.binary_search_by(|&(k, _)| k.cmp(&key)) {
            Ok(i) if qty == 0 => {
                self.levels.remove(i);
                Change::Removed(i.min(cap))
            }
            Ok(i) => {
                self.levels[i].1 = qty;
                Change::Modified(i.min(cap))
            }
            Err(_) if qty == 0 => Change::None,
            Err(i) => {
                self.levels.insert(i, (key, qty));
                Change::Inserted(i.min(cap))
            }
        }
    }

    fn truncate(&mut self, depth: usize) {
        self.levels.truncate(depth);
    }

    fn clear(&mut self) {
        self.levels.clear();
    }

    fn len(&self) -> usize {
        self.levels.len()
    }

    fn iter(&self) -> impl Iterator<Item = (u128, u128)> + '_ {
        self.levels.iter().copied()
    }

    #[inline]
    fn get(&self, rank: usize) -> Option<(u128, u128)> {
        self.levels.get(rank).copied()
    }
}

/// Sorted `Vec`, best at the end: inserts near the best are cheap, but truncation shifts the
/// whole side.
#[derive(Clone, Debug, Default)]
pub struct VecBestLast {
    /// Worst first, best last.
    levels: Vec<(u128, u128)>,
}

impl SideStore for VecBestLast {
    #[inline]
    fn set(&mut self, key: u128, qty: u128, cap: usize) -> Change {
        let n = self.levels.len();
        match self.levels.binary_search_by(|&(k, _)| key.cmp(&k)) {
            Ok(i) if qty == 0 => {
                self.levels.remove(i);
                Change::Removed((n - 1 - i).min(cap))
            }
            Ok(i) => {
                self.levels[i].1 = qty;
                Change::Modified((n - 1 - i).min(cap))
            }
            Err(_) if qty == 0 => Change::None,
            Err(i) => {
                self.levels.insert(i, (key, qty));
                Change::Inserted((n - i).min(cap))
            }
        }
    }

    fn truncate(&mut self, depth: usize) {
        let n = self.levels.len();
        if n > depth {
            self.levels.drain(..n - depth);
        }
    }

    fn clear(&mut self) {
        self.levels.clear();
    }

    fn len(&self) -> usize {
        self.levels.len()
    }

    fn iter(&self) -> impl Iterator<Item = (u128, u128)> + '_ {
        self.levels.iter().rev().copied()
    }

    #[inline]
    fn get(&self, rank: usize) -> Option<(u128, u128)> {
        let i = self.levels.len().checked_sub(rank + 1)?;
        self.levels.get(i).copied()
    }
}

/// [`BTreeMap`] by key: logarithmic everything, but pointer chasing and a rank that costs a
/// range walk.
#[derive(Clone, Debug, Default)]
pub struct BTreeSide {
    levels: BTreeMap<u128, u128>,
}

impl SideStore for BTreeSide {
    #[inline]
    fn set(&mut self, key: u128, qty: u128, cap: usize) -> Change {
        let rank = || self.levels.range(..key).take(cap).count();
        if qty == 0 {
            if !self.levels.contains_key(&key) {
                return Change::None;
            }
            let r = rank();
            self.levels.remove(&key);
            Change::Removed(r)
        } else {
            let r = rank();
            match self.levels.insert(key, qty) {
                Some(_) => Change::Modified(r),
                None => Change::Inserted(r),
            }
        }
    }

    fn truncate(&mut self, depth: usize) {
        while self.levels.len() > depth {
            self.levels.pop_last();
        }
    }

    fn clear(&mut self) {
        self.levels.clear();
    }

    fn len(&self) -> usize {
        self.levels.len()
    }

    fn iter(&self) -> impl Iterator<Item = (u128, u128)> + '_ {
        self.levels.iter().map(|(&k, &q)| (k, q))
    }
}
