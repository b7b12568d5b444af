//! Random snapshot/update sequences at random depths and precisions: the book (over every side
//! structure) must equal a deliberately naive reference, level for level and checksum for
//! checksum.

use std::collections::BTreeMap;

#[path = "../benches/book/sides.rs"]
mod sides;

use kobe_core::book::side::{GapSide, SideStore};
use kobe_core::book::OrderBook;
use kobe_core::{Decimal, Level};
use proptest::prelude::*;
use sides::{BTreeSide, DequeSide, VecBestFirst, VecBestLast};

/// Price mantissa -> qty mantissa, with the checksum computed on formatted strings.
#[derive(Default)]
struct Naive {
    bids: BTreeMap<u128, u128>,
    asks: BTreeMap<u128, u128>,
}

impl Naive {
    fn apply(&mut self, depth: usize, bids: &[(u128, u128)], asks: &[(u128, u128)]) {
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for &(p, q) in levels {
                if q == 0 {
                    side.remove(&p);
                } else {
                    side.insert(p, q);
                }
            }
        }
        while self.bids.len() > depth {
            let worst = *self.bids.keys().next().unwrap();
            self.bids.remove(&worst);
        }
        while self.asks.len() > depth {
            let worst = *self.asks.keys().next_back().unwrap();
            self.asks.remove(&worst);
        }
    }

    fn checksum(&self) -> u32 {
        let mut s = String::new();
        let top_asks = self.asks.iter().take(10);
        let top_bids = self.bids.iter().rev().take(10);
        for (p, q) in top_asks.chain(top_bids) {
            s.push_str(format!("{p}").trim_start_matches('0'));
            s.push_str(format!("{q}").trim_start_matches('0'));
        }
        crc32fast::hash(s.as_bytes())
    }
}

#[derive(Clone, Debug)]
struct Msg {
    snapshot: bool,
    bids: Vec<(u128, u128)>,
    asks: Vec<(u128, u128)>,
}

fn levels(max: usize, prices: u128) -> impl Strategy<Value = Vec<(u128, u128)>> {
    let qty = prop_oneof![
        3 => Just(0u128),
        6 => 1u128..1_000_000_000,
        1 => (1u128 << 64)..(1u128 << 67),
    ];
    prop::collection::vec((0..prices, qty), 0..max)
}

fn msgs(depth: usize) -> impl Strategy<Value = Vec<Msg>> {
    let prices = (depth as u128 * 3).max(30);
    let snapshot =
        (levels(depth + 20, prices), levels(depth + 20, prices)).prop_map(|(b, a)| Msg {
            snapshot: true,
            bids: b,
            asks: a,
        });
    let update = (levels(12, prices), levels(12, prices)).prop_map(|(b, a)| Msg {
        snapshot: false,
        bids: b,
        asks: a,
    });
    let rest = prop::collection::vec(update, 1..40);
    // Now and then a later snapshot replaces everything.
    (snapshot, rest, 0usize..80).prop_map(|(s, mut rest, k)| {
        if k < rest.len() {
            rest[k].snapshot = true;
        }
        rest.insert(0, s);
        rest
    })
}

/// A level at precision `pp`/`qp`, written with fewer digits when the value allows it
/// (the book must rescale it back up).
fn level(p: u128, q: u128, pp: u8, qp: u8, short: bool) -> Level {
    let shrink = |m: u128, s: u8| {
        let v = Decimal::new(m, s).unwrap();
        if short && s > 0 {
            v.rescale(s - 1).unwrap_or(v)
        } else {
            v
        }
    };
    Level {
        price: shrink(p, pp),
        qty: shrink(q, qp),
    }
}

type Pairs = Vec<(u128, u128)>;

fn check<S: SideStore>(depth: usize, pp: u8, qp: u8, ms: &[Msg]) -> Result<(), TestCaseError> {
    let mut book = OrderBook::<S>::with_sides(depth, pp, qp);
    let mut naive = Naive::default();
    for (i, m) in ms.iter().enumerate() {
        let mut bids: Vec<Level> = m
            .bids
            .iter()
            .map(|&(p, q)| level(p, q, pp, qp, i % 2 == 0))
            .collect();
        let mut asks: Vec<Level> = m
            .asks
            .iter()
            .map(|&(p, q)| level(p, q, pp, qp, i % 3 == 0))
            .collect();
        if m.snapshot {
            naive = Naive::default();
            book.apply_snapshot(&mut bids, &mut asks).unwrap();
        } else {
            book.apply_update(&mut bids, &mut asks).unwrap();
        }
        naive.apply(depth, &m.bids, &m.asks);
        let got_bids: Pairs = book
            .bids()
            .map(|l| (l.price.mantissa(), l.qty.mantissa()))
            .collect();
        let got_asks: Pairs = book
            .asks()
            .map(|l| (l.price.mantissa(), l.qty.mantissa()))
            .collect();
        let want_bids: Pairs = naive.bids.iter().rev().map(|(&p, &q)| (p, q)).collect();
        let want_asks: Pairs = naive.asks.iter().map(|(&p, &q)| (p, q)).collect();
        prop_assert_eq!(got_bids, want_bids, "bids after message {}", i);
        prop_assert_eq!(got_asks, want_asks, "asks after message {}", i);
        prop_assert_eq!(
            book.checksum(),
            naive.checksum(),
            "checksum after message {}",
            i
        );
    }
    Ok(())
}

fn case() -> impl Strategy<Value = (usize, u8, u8, Vec<Msg>)> {
    let depth = prop_oneof![4 => 1usize..=30, 1 => 1usize..=1000];
    (depth, 0u8..=10, 0u8..=18).prop_flat_map(|(d, pp, qp)| (Just(d), Just(pp), Just(qp), msgs(d)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn book_equals_naive_reference((depth, pp, qp, ms) in case()) {
        check::<GapSide>(depth, pp, qp, &ms)?;
    }

    #[test]
    fn alternative_sides_equal_naive_reference((depth, pp, qp, ms) in case()) {
        check::<DequeSide>(depth, pp, qp, &ms)?;
        check::<VecBestFirst>(depth, pp, qp, &ms)?;
        check::<VecBestLast>(depth, pp, qp, &ms)?;
        check::<BTreeSide>(depth, pp, qp, &ms)?;
    }
}
