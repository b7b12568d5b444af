//! The simulated market: one true book per symbol (deeper than any subscription), moved at
//! random but deterministically from a seed, and one client-side view per subscribed
//! `(symbol, depth)` from which update messages and checksums are derived exactly as a Kraken
//! client must apply them.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::book::OrderBook;
use crate::decimal::Decimal;
use crate::event::Level;
use crate::symbol::Symbol;

/// One symbol's instrument and true book.
#[derive(Clone, Debug)]
pub struct SimSymbol {
    /// The pair.
    pub symbol: Symbol,
    /// Price decimals.
    pub price_precision: u8,
    /// Quantity decimals.
    pub qty_precision: u8,
    bids: BTreeMap<u128, u128>,
    asks: BTreeMap<u128, u128>,
}

/// Kraken's real pairs the simulator lists beside the generated ones: name, price and quantity
/// precision (as Kraken's `instrument` channel gave them, fixture
/// `other-channels/kraken-data-recorder__instrument_snapshot_20240403.json`), and a mid price
/// mantissa at that precision to start the book from.
pub const REAL_PAIRS: [(&str, u8, u8, u128); 12] = [
    ("BTC/USD", 1, 8, 600_000),
    ("ETH/USD", 2, 8, 300_000),
    ("SOL/USD", 2, 8, 15_000),
    ("XRP/USD", 5, 8, 60_000),
    ("ADA/USD", 6, 8, 450_000),
    ("DOGE/USD", 7, 8, 1_500_000),
    ("LTC/USD", 2, 8, 8_000),
    ("DOT/USD", 4, 8, 70_000),
    ("LINK/USD", 5, 8, 1_500_000),
    ("USDT/USD", 5, 8, 100_000),
    ("BTC/EUR", 1, 8, 550_000),
    ("ETH/BTC", 5, 8, 5_000),
];

struct View {
    book: OrderBook,
    subscribers: usize,
}

/// One rendered book entry (an element of a frame's `data` array).
#[derive(Clone, Debug)]
pub struct Entry {
    /// The pair.
    pub symbol: Symbol,
    /// The subscription depth it is for.
    pub depth: u16,
    /// The JSON object text.
    pub json: String,
}

/// Every symbol's state plus the views clients subscribe to.
pub struct Market {
    symbols: Vec<SimSymbol>,
    index: HashMap<Symbol, usize>,
    views: HashMap<(Symbol, u16), View>,
    rng: SmallRng,
    levels: usize,
    /// Incremented once per tick; subscriptions skip ticks up to the version of their snapshot.
    pub version: u64,
}

fn dec(m: u128, scale: u8) -> Decimal {
    Decimal::new(m, scale).unwrap_or_default()
}

/// `{"price":P,"qty":Q}` with exactly the instrument's decimals.
fn write_level(out: &mut String, p: u128, q: u128, pp: u8, qp: u8) {
    let _ = write!(out, r#"{{"price":{},"qty":{}}}"#, dec(p, pp), dec(q, qp));
}

impl Market {
    /// `count` symbols named `S000/USD`..., precisions and books drawn from `seed`, then (with
    /// `real_pairs`) Kraken's [`REAL_PAIRS`] at their real precisions; each true book keeps
    /// about `levels` levels a side.
    pub fn new(count: usize, seed: u64, levels: usize, real_pairs: bool) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut symbols = Vec::with_capacity(count);
        let mut index = HashMap::new();
        for i in 0..count {
            let symbol = Symbol::new(&format!("S{i:03}/USD"))
                .unwrap_or_else(|_| Symbol::new("X/USD").unwrap_or_else(|_| unreachable!()));
            let pp = rng.random_range(0..=10u8);
            let qp = if rng.random_bool(0.5) { 8 } else { 5 };
            let mut s = SimSymbol {
                symbol,
                price_precision: pp,
                qty_precision: qp,
                bids: BTreeMap::new(),
                asks: BTreeMap::new(),
            };
            fill(&mut s, &mut rng, levels);
            index.insert(symbol, i);
            symbols.push(s);
        }
        for (name, pp, qp, mid) in REAL_PAIRS.iter().filter(|_| real_pairs) {
            let Ok(symbol) = Symbol::new(name) else {
                continue;
            };
            let mut s = SimSymbol {
                symbol,
                price_precision: *pp,
                qty_precision: *qp,
                bids: BTreeMap::new(),
                asks: BTreeMap::new(),
            };
            s.bids.insert(mid - 1, qty(&mut rng, *qp));
            s.asks.insert(mid + 1, qty(&mut rng, *qp));
            fill(&mut s, &mut rng, levels);
            index.insert(symbol, symbols.len());
            symbols.push(s);
        }
        Self {
            symbols,
            index,
            views: HashMap::new(),
            rng,
            levels,
            version: 0,
        }
    }

    /// Every symbol.
    pub fn symbols(&self) -> &[SimSymbol] {
        &self.symbols
    }

    /// The symbol's instrument, if it is listed.
    pub fn get(&self, symbol: &Symbol) -> Option<&SimSymbol> {
        self.index.get(symbol).map(|&i| &self.symbols[i])
    }

    /// The book a client subscribed at `depth` must hold now.
    pub fn view(&self, symbol: &Symbol, depth: u16) -> Option<OrderBook> {
        self.views.get(&(*symbol, depth)).map(|v| v.book.clone())
    }

    /// Adds a subscriber at `depth` and renders its snapshot entry.
    pub fn subscribe(&mut self, symbol: Symbol, depth: u16) -> Option<String> {
        let i = *self.index.get(&symbol)?;
        let view = self.views.entry((symbol, depth)).or_insert_with(|| View {
            book: top(&self.symbols[i], usize::from(depth)),
            subscribers: 0,
        });
        view.subscribers += 1;
        let s = &self.symbols[i];
        let (pp, qp) = (s.price_precision, s.qty_precision);
        let mut json = format!(r#"{{"symbol":"{symbol}","bids":["#);
        for (n, l) in view.book.bids().enumerate() {
            if n > 0 {
                json.push(',');
            }
            write_level(&mut json, l.price.mantissa(), l.qty.mantissa(), pp, qp);
        }
        json.push_str(r#"],"asks":["#);
        for (n, l) in view.book.asks().enumerate() {
            if n > 0 {
                json.push(',');
            }
            write_level(&mut json, l.price.mantissa(), l.qty.mantissa(), pp, qp);
        }
        let _ = write!(json, r#"],"checksum":{}}}"#, view.book.checksum());
        Some(json)
    }

    /// Removes a subscriber; the view goes when its last subscriber does.
    pub fn unsubscribe(&mut self, symbol: Symbol, depth: u16) {
        if let Some(v) = self.views.get_mut(&(symbol, depth)) {
            v.subscribers = v.subscribers.saturating_sub(1);
            if v.subscribers == 0 {
                self.views.remove(&(symbol, depth));
            }
        }
    }

    /// Moves `n` random symbols (only subscribed ones, when any are) and renders the update
    /// entries for every subscribed view of them. `corrupt` spoils the first entry's checksum.
    pub fn tick(&mut self, n: usize, timestamp: &str, corrupt: &mut bool) -> Vec<Entry> {
        self.version += 1;
        let mut subscribed: Vec<Symbol> = self.views.keys().map(|(s, _)| *s).collect();
        subscribed.sort();
        subscribed.dedup();
        if subscribed.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for _ in 0..n {
            let symbol = subscribed[self.rng.random_range(0..subscribed.len())];
            let Some(&i) = self.index.get(&symbol) else {
                continue;
            };
            let window = self
                .views
                .keys()
                .filter(|(s, _)| *s == symbol)
                .map(|(_, d)| usize::from(*d))
                .min()
                .unwrap_or(10)
                .min(25);
            let ops = self.rng.random_range(1..=3);
            for _ in 0..ops {
                mutate(&mut self.symbols[i], &mut self.rng, window);
            }
            fill(&mut self.symbols[i], &mut self.rng, self.levels);
            let mut depths: Vec<u16> = self
                .views
                .keys()
                .filter(|(s, _)| *s == symbol)
                .map(|(_, d)| *d)
                .collect();
            depths.sort();
            for depth in depths {
                if let Some(json) = self.render_update(i, depth, timestamp, corrupt) {
                    out.push(Entry {
                        symbol,
                        depth,
                        json,
                    });
                }
            }
        }
        out
    }

    fn render_update(
        &mut self,
        i: usize,
        depth: u16,
        ts: &str,
        corrupt: &mut bool,
    ) -> Option<String> {
        let s = &self.symbols[i];
        let (pp, qp) = (s.price_precision, s.qty_precision);
        let view = self.views.get_mut(&(s.symbol, depth))?;
        let d = usize::from(depth);
        let mut sides: [Vec<(u128, u128)>; 2] = [Vec::new(), Vec::new()];
        for (side, (old, truth)) in [
            (
                view.book
                    .bids()
                    .map(|l| (l.price.mantissa(), l.qty.mantissa()))
                    .collect::<Vec<_>>(),
                &s.bids,
            ),
            (
                view.book
                    .asks()
                    .map(|l| (l.price.mantissa(), l.qty.mantissa()))
                    .collect::<Vec<_>>(),
                &s.asks,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let new: Vec<(u128, u128)> = if side == 0 {
                truth.iter().rev().take(d).map(|(p, q)| (*p, *q)).collect()
            } else {
                truth.iter().take(d).map(|(p, q)| (*p, *q)).collect()
            };
            let old_map: HashMap<u128, u128> = old.iter().copied().collect();
            let changes = &mut sides[side];
            // Levels gone from the market are deleted; levels merely pushed below the window
            // are not (the client truncates), as Kraken does.
            for (p, _) in &old {
                if !truth.contains_key(p) {
                    changes.push((*p, 0));
                }
            }
            for (p, q) in &new {
                if old_map.get(p) != Some(q) {
                    changes.push((*p, *q));
                }
            }
        }
        if sides[0].is_empty() && sides[1].is_empty() {
            return None;
        }
        let rng = &mut self.rng;
        let mut wire: [Vec<(u128, u128)>; 2] = [Vec::new(), Vec::new()];
        for (side, changes) in sides.iter_mut().enumerate() {
            // Kraken's updates are not sorted, and may repeat a price (last wins).
            for k in (1..changes.len()).rev() {
                let j = rng.random_range(0..=k);
                changes.swap(k, j);
            }
            for &(p, q) in changes.iter() {
                if rng.random_ratio(1, 8) {
                    wire[side].push((p, rng.random_range(1..=10u128.pow(u32::from(qp)))));
                }
                wire[side].push((p, q));
            }
        }
        let levels = |v: &[(u128, u128)]| -> Vec<Level> {
            v.iter()
                .map(|&(p, q)| Level {
                    price: dec(p, pp),
                    qty: dec(q, qp),
                })
                .collect()
        };
        view.book
            .apply_update(&mut levels(&wire[0]), &mut levels(&wire[1]))
            .ok()?;
        let mut checksum = view.book.checksum();
        if *corrupt {
            *corrupt = false;
            checksum = checksum.wrapping_add(1);
        }
        let mut json = format!(r#"{{"symbol":"{}","bids":["#, s.symbol);
        for (side, list) in wire.iter().enumerate() {
            if side == 1 {
                json.push_str(r#"],"asks":["#);
            }
            for (n, &(p, q)) in list.iter().enumerate() {
                if n > 0 {
                    json.push(',');
                }
                write_level(&mut json, p, q, pp, qp);
            }
        }
        let _ = write!(json, r#"],"checksum":{checksum},"timestamp":"{ts}"}}"#);
        Some(json)
    }

    /// Gives the symbol a new price precision and a fresh book; its views restart from the new
    /// book. Returns the new `(price_precision, qty_precision)`.
    pub fn change_precision(&mut self, symbol: &Symbol) -> Option<(u8, u8)> {
        let i = *self.index.get(symbol)?;
        let s = &mut self.symbols[i];
        s.price_precision = if s.price_precision < 10 {
            s.price_precision + 1
        } else {
            s.price_precision - 1
        };
        s.bids.clear();
        s.asks.clear();
        fill(s, &mut self.rng, self.levels);
        let s = &self.symbols[i];
        for ((sym, depth), view) in self.views.iter_mut() {
            if sym == symbol {
                view.book = top(s, usize::from(*depth));
            }
        }
        Some((s.price_precision, s.qty_precision))
    }

    /// A symbol with at least one subscriber, chosen at random.
    pub fn random_subscribed(&mut self) -> Option<Symbol> {
        let mut subscribed: Vec<Symbol> = self.views.keys().map(|(s, _)| *s).collect();
        subscribed.sort();
        subscribed.dedup();
        (!subscribed.is_empty()).then(|| subscribed[self.rng.random_range(0..subscribed.len())])
    }
}

/// The pairs object of an instrument frame, numbers printed like Kraken's (`1e-08`).
pub fn instrument_pair(s: &SimSymbol) -> String {
    format!(
        r#"{{"symbol":"{}","base":"{}","quote":"USD","status":"online","qty_precision":{},"qty_increment":1e-{:02},"price_precision":{},"price_increment":1e-{:02},"cost_precision":5,"marginable":false,"has_index":false,"cost_min":0.5,"qty_min":1e-{:02}}}"#,
        s.symbol,
        s.symbol.as_str().split('/').next().unwrap_or(""),
        s.qty_precision,
        s.qty_precision,
        s.price_precision,
        s.price_precision,
        s.qty_precision
    )
}

fn top(s: &SimSymbol, depth: usize) -> OrderBook {
    let mut book = OrderBook::new(depth, s.price_precision, s.qty_precision);
    let lv = |(p, q): (&u128, &u128)| Level {
        price: dec(*p, s.price_precision),
        qty: dec(*q, s.qty_precision),
    };
    let mut bids: Vec<Level> = s.bids.iter().rev().take(depth).map(lv).collect();
    let mut asks: Vec<Level> = s.asks.iter().take(depth).map(lv).collect();
    let _ = book.apply_snapshot(&mut bids, &mut asks);
    book
}

fn qty(rng: &mut SmallRng, qp: u8) -> u128 {
    let unit = 10u128.pow(u32::from(qp));
    rng.random_range(1..=unit * 50)
}

/// Tops both sides up to `levels`, adding far from the top (beyond any window).
fn fill(s: &mut SimSymbol, rng: &mut SmallRng, levels: usize) {
    if s.bids.is_empty() || s.asks.is_empty() {
        let mid: u128 = rng.random_range(20_000..5_000_000);
        s.bids.insert(mid - 1, qty(rng, s.qty_precision));
        s.asks.insert(mid + 1, qty(rng, s.qty_precision));
    }
    while s.bids.len() < levels {
        let Some((&low, _)) = s.bids.iter().next() else {
            break;
        };
        let step = rng.random_range(1..=3);
        if low <= step {
            break;
        }
        s.bids.insert(low - step, qty(rng, s.qty_precision));
    }
    while s.asks.len() < levels {
        let Some((&high, _)) = s.asks.iter().next_back() else {
            break;
        };
        s.asks
            .insert(high + rng.random_range(1..=3), qty(rng, s.qty_precision));
    }
}

/// One random change inside the top `window` levels of one side.
fn mutate(s: &mut SimSymbol, rng: &mut SmallRng, window: usize) {
    let bid_side = rng.random_bool(0.5);
    let qp = s.qty_precision;
    let best_bid = s.bids.keys().next_back().copied().unwrap_or(0);
    let best_ask = s.asks.keys().next().copied().unwrap_or(u128::MAX);
    let side = if bid_side { &mut s.bids } else { &mut s.asks };
    let prices: Vec<u128> = if bid_side {
        side.keys().rev().take(window).copied().collect()
    } else {
        side.keys().take(window).copied().collect()
    };
    if prices.is_empty() {
        return;
    }
    let i = rng.random_range(0..prices.len());
    match rng.random_range(0..10) {
        0..=3 => {
            side.insert(prices[i], qty(rng, qp));
        }
        4..=6 => {
            // Insert inside the window: between two levels, or improving the best price.
            let (lo, hi) = if i == 0 {
                if bid_side {
                    (prices[0], best_ask)
                } else {
                    (best_bid, prices[0])
                }
            } else if bid_side {
                (prices[i], prices[i - 1])
            } else {
                (prices[i - 1], prices[i])
            };
            if hi > lo + 1 {
                let p = rng.random_range(lo + 1..hi);
                side.insert(p, qty(rng, qp));
            }
        }
        _ => {
            if side.len() > 2 {
                side.remove(&prices[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_market_and_precisions_in_range() {
        let a = Market::new(50, 9, 60, true);
        let b = Market::new(50, 9, 60, true);
        for (x, y) in a.symbols().iter().zip(b.symbols()) {
            assert_eq!(x.bids, y.bids);
            assert!(x.price_precision <= 10 && matches!(x.qty_precision, 5 | 8));
            assert!(x.bids.keys().next_back() < x.asks.keys().next());
        }
    }

    /// `kobe sim --rate` is spread over the subscribed pairs: a tick of `n` updates moves only
    /// them (here one pair of twenty gets every update).
    #[test]
    fn a_tick_moves_only_subscribed_pairs() {
        // 20 generated pairs and the real ones: still only the subscribed pair moves.
        let mut m = Market::new(20, 4, 60, true);
        let one = m.symbols()[7].symbol;
        assert!(m
            .tick(5, "2026-01-01T00:00:00.000000Z", &mut false)
            .is_empty());
        m.subscribe(one, 10).unwrap();
        let entries = m.tick(5, "2026-01-01T00:00:00.000000Z", &mut false);
        assert_eq!(entries.len(), 5);
        assert!(entries.iter().all(|e| e.symbol == one));
    }

    #[test]
    fn real_pairs_are_listed_beside_the_generated_ones_at_krakens_precisions() {
        let m = Market::new(3, 1, 60, true);
        let names: Vec<String> = m.symbols().iter().map(|s| s.symbol.to_string()).collect();
        assert_eq!(&names[..3], ["S000/USD", "S001/USD", "S002/USD"]);
        let btc = m.get(&Symbol::new("BTC/USD").unwrap()).unwrap();
        assert_eq!((btc.price_precision, btc.qty_precision), (1, 8));
        let sol = m.get(&Symbol::new("SOL/USD").unwrap()).unwrap();
        assert_eq!((sol.price_precision, sol.qty_precision), (2, 8));
        assert!(sol.bids.keys().next_back() < sol.asks.keys().next());
        assert_eq!(Market::new(3, 1, 60, false).symbols().len(), 3);
    }

    #[test]
    fn updates_rebuild_the_views_exactly() {
        let mut m = Market::new(5, 3, 60, false);
        let syms: Vec<Symbol> = m.symbols().iter().map(|s| s.symbol).collect();
        for s in &syms {
            m.subscribe(*s, 25).unwrap();
        }
        let mut corrupt = false;
        for _ in 0..500 {
            m.tick(3, "2026-01-01T00:00:00.000000Z", &mut corrupt);
            for s in &syms {
                let view = m.view(s, 25).unwrap();
                let truth = top(m.get(s).unwrap(), 25);
                assert_eq!(
                    view.bids().collect::<Vec<_>>(),
                    truth.bids().collect::<Vec<_>>()
                );
                assert_eq!(
                    view.asks().collect::<Vec<_>>(),
                    truth.asks().collect::<Vec<_>>()
                );
            }
        }
    }
}

#[cfg(test)]
mod client_tests {
    use super::*;
    use crate::event::EventKind;
    use crate::kraken::decode::decode_frame;
    use crate::time::Timestamp;

    #[test]
    fn a_client_applying_the_frames_holds_the_view() {
        let mut m = Market::new(3, 5, 100, false);
        let syms: Vec<Symbol> = m.symbols().iter().map(|s| s.symbol).collect();
        let mut client: HashMap<Symbol, OrderBook> = HashMap::new();
        for s in &syms {
            let snap = m.subscribe(*s, 25).unwrap();
            let mut ev = Vec::new();
            decode_frame(
                &format!(r#"{{"channel":"book","type":"snapshot","data":[{snap}]}}"#),
                Timestamp(0),
                &mut ev,
            )
            .unwrap();
            let info = m.get(s).unwrap();
            let mut b = OrderBook::new(25, info.price_precision, info.qty_precision);
            if let EventKind::BookSnapshot(d) = &mut ev[0].kind {
                b.apply_snapshot(&mut d.bids, &mut d.asks).unwrap();
            }
            client.insert(*s, b);
        }
        let mut corrupt = false;
        for round in 0..2000 {
            for e in m.tick(2, "2026-01-01T00:00:00.000000Z", &mut corrupt) {
                let mut ev = Vec::new();
                decode_frame(
                    &format!(
                        r#"{{"channel":"book","type":"update","data":[{}]}}"#,
                        e.json
                    ),
                    Timestamp(0),
                    &mut ev,
                )
                .unwrap();
                let b = client.get_mut(&e.symbol).unwrap();
                if let EventKind::BookUpdate(d) = &mut ev[0].kind {
                    b.apply_update(&mut d.bids, &mut d.asks).unwrap();
                    assert_eq!(Some(b.checksum()), d.checksum);
                }
            }
            for s in &syms {
                let (view, b) = (m.view(s, 25).unwrap(), &client[s]);
                assert!(
                    view.bids().eq(b.bids()) && view.asks().eq(b.asks()),
                    "round {round} {s}"
                );
            }
        }
    }
}
