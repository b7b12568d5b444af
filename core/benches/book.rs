//! Book apply + checksum cost per message.
//!
//! 1. The real Kraken fixture corpus (every v2 file, decoded once up front), replayed until at
//!    least a million book messages went through, against a naive reference (BTreeMap +
//!    formatted-string checksum) measured in the same run.
//! 2. The side structures compared on synthetic Kraken-like streams at every subscribable
//!    depth (10, 25, 100, 500, 1000).
//!
//! Run: `cargo bench -p kobe-core --bench book`

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::Instant;

#[path = "book/sides.rs"]
mod sides;

use kobe_core::book::side::{GapSide, SideStore};
use kobe_core::book::OrderBook;
use kobe_core::kraken::decode::decode_frame;
use kobe_core::{Decimal, Event, EventKind, Level, Timestamp};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sides::{BTreeSide, DequeSide, VecBestFirst, VecBestLast};

/// CPU time of this thread in nanoseconds (Linux `schedstat`), so that the other work on a
/// shared machine does not count; `None` where unavailable.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Wall and CPU time of a measured section.
struct Clock {
    wall: Instant,
    cpu: Option<u64>,
}

impl Clock {
    fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu: cpu_ns(),
        }
    }

    /// (wall seconds, CPU seconds; wall where CPU time is unavailable).
    fn stop(&self) -> (f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = match (self.cpu, cpu_ns()) {
            (Some(a), Some(b)) => (b - a) as f64 / 1e9,
            _ => wall,
        };
        (wall, cpu)
    }
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/kraken-fixtures");

/// One book message: snapshot or not, levels, expected checksum.
struct Msg {
    snapshot: bool,
    bids: Vec<Level>,
    asks: Vec<Level>,
    checksum: Option<u32>,
}

/// One fixture file's book messages for one symbol stream.
struct Stream {
    depth: usize,
    pp: u8,
    qp: u8,
    msgs: Vec<Msg>,
}

fn corpus() -> Vec<Stream> {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/manifest.json")).expect("fixtures"),
    )
    .expect("manifest");
    let mut streams = Vec::new();
    for f in manifest["fixtures"].as_array().expect("list") {
        if f["api"] != "v2" {
            continue;
        }
        let depth = f["depth"].as_u64().unwrap_or(10) as usize;
        let precision: HashMap<String, (u8, u8)> = f["precision"]
            .as_object()
            .expect("precision")
            .iter()
            .map(|(s, p)| {
                (
                    s.clone(),
                    (
                        p[0].as_u64().unwrap_or(0) as u8,
                        p[1].as_u64().unwrap_or(0) as u8,
                    ),
                )
            })
            .collect();
        let text =
            std::fs::read_to_string(format!("{FIXTURES}/{}", f["file"].as_str().unwrap_or("")))
                .expect("fixture");
        let mut events: Vec<Event> = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            decode_frame(line, Timestamp(0), &mut events).expect("decodes");
        }
        let mut by_symbol: BTreeMap<String, Vec<Msg>> = BTreeMap::new();
        for e in events {
            let (snapshot, d) = match e.kind {
                EventKind::BookSnapshot(d) => (true, d),
                EventKind::BookUpdate(d) => (false, d),
                // Unsubscribe/resubscribe cycles: the next snapshot restarts the book anyway.
                _ => continue,
            };
            let sym = e.symbol.map(|s| s.to_string()).unwrap_or_default();
            by_symbol.entry(sym).or_default().push(Msg {
                snapshot,
                bids: d.bids,
                asks: d.asks,
                checksum: d.checksum,
            });
        }
        for (sym, msgs) in by_symbol {
            let (pp, qp) = precision[&sym];
            // Updates before the first snapshot belong to no book.
            let first = msgs.iter().position(|m| m.snapshot).unwrap_or(msgs.len());
            streams.push(Stream {
                depth,
                pp,
                qp,
                msgs: msgs.into_iter().skip(first).collect(),
            });
        }
    }
    streams
}

/// The reference: a BTreeMap of decimals and a checksum built from formatted strings.
struct Naive {
    depth: usize,
    pp: u8,
    qp: u8,
    bids: BTreeMap<u128, Decimal>,
    asks: BTreeMap<u128, Decimal>,
}

impl Naive {
    fn new(depth: usize, pp: u8, qp: u8) -> Self {
        Self {
            depth,
            pp,
            qp,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
        }
    }

    fn apply(&mut self, snapshot: bool, bids: &[Level], asks: &[Level]) {
        if snapshot {
            self.bids.clear();
            self.asks.clear();
        }
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for l in levels {
                let p = l.price.rescale(self.pp).expect("precision").mantissa();
                let q = l.qty.rescale(self.qp).expect("precision");
                if q.is_zero() {
                    side.remove(&p);
                } else {
                    side.insert(p, q);
                }
            }
        }
        while self.bids.len() > self.depth {
            self.bids.pop_first();
        }
        while self.asks.len() > self.depth {
            self.asks.pop_last();
        }
    }

    fn checksum(&self) -> u32 {
        let digits = |d: Decimal| {
            d.to_string()
                .replace('.', "")
                .trim_start_matches('0')
                .to_string()
        };
        let mut s = String::new();
        for (p, q) in self
            .asks
            .iter()
            .take(10)
            .chain(self.bids.iter().rev().take(10))
        {
            s += &digits(Decimal::new(*p, self.pp).expect("scale"));
            s += &digits(*q);
        }
        crc32fast::hash(s.as_bytes())
    }
}

/// Replays the corpus `passes` times through `S`; returns (messages, wall s, CPU s).
fn run_book<S: SideStore>(streams: &mut [Stream], passes: usize) -> (u64, f64, f64) {
    let mut n = 0u64;
    let clock = Clock::start();
    for _ in 0..passes {
        for s in streams.iter_mut() {
            let mut book = OrderBook::<S>::with_sides(s.depth, s.pp, s.qp);
            for m in &mut s.msgs {
                if m.snapshot {
                    book.apply_snapshot(&mut m.bids, &mut m.asks).expect("fits");
                } else {
                    book.apply_update(&mut m.bids, &mut m.asks).expect("fits");
                }
                if let Some(want) = m.checksum {
                    assert_eq!(book.checksum(), want);
                }
                n += 1;
            }
            black_box(&book);
        }
    }
    let (wall, cpu) = clock.stop();
    (n, wall, cpu)
}

fn run_naive(streams: &[Stream], passes: usize) -> (u64, f64, f64) {
    let mut n = 0u64;
    let clock = Clock::start();
    for _ in 0..passes {
        for s in streams {
            let mut book = Naive::new(s.depth, s.pp, s.qp);
            for m in &s.msgs {
                book.apply(m.snapshot, &m.bids, &m.asks);
                if let Some(want) = m.checksum {
                    assert_eq!(book.checksum(), want);
                }
                n += 1;
            }
        }
    }
    let (wall, cpu) = clock.stop();
    (n, wall, cpu)
}

/// A Kraken-like stream at `depth`: a full snapshot, then updates of 1-3 levels, mostly in
/// the top 10, a third of them deletes (each followed by the level that enters the window at
/// the bottom, as Kraken sends), inserts between existing prices, qty changes.
fn synthetic(depth: usize, updates: usize, seed: u64) -> Vec<Msg> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let lv = |p: u128, q: u128| Level {
        price: Decimal::new(p, 1).expect("scale"),
        qty: Decimal::new(q, 8).expect("scale"),
    };
    // Model of the exchange's book, to pick existing prices: side 0 bids (desc), 1 asks.
    let mut sides: [BTreeMap<u128, u128>; 2] = [BTreeMap::new(), BTreeMap::new()];
    let mid = 1_000_000u128;
    for i in 0..depth as u128 {
        sides[0].insert(mid - 10 - i * 10, 1 + i);
        sides[1].insert(mid + 10 + i * 10, 1 + i);
    }
    let mut msgs = vec![Msg {
        snapshot: true,
        bids: sides[0].iter().rev().map(|(&p, &q)| lv(p, q)).collect(),
        asks: sides[1].iter().map(|(&p, &q)| lv(p, q)).collect(),
        checksum: None,
    }];
    for _ in 0..updates {
        let mut m = Msg {
            snapshot: false,
            bids: Vec::new(),
            asks: Vec::new(),
            checksum: Some(0),
        };
        for _ in 0..rng.random_range(1..=3) {
            let s = rng.random_range(0..2usize);
            let len = sides[s].len();
            let top = len.min(10);
            let rank = if rng.random_bool(0.8) {
                rng.random_range(0..top)
            } else {
                rng.random_range(0..len)
            };
            let price = if s == 0 {
                *sides[0].iter().rev().nth(rank).expect("rank").0
            } else {
                *sides[1].iter().nth(rank).expect("rank").0
            };
            let out = if s == 0 { &mut m.bids } else { &mut m.asks };
            match rng.random_range(0..3) {
                0 if len > 1 => {
                    sides[s].remove(&price);
                    out.push(lv(price, 0));
                    let worst = if s == 0 {
                        *sides[0].keys().next().expect("worst") - 10
                    } else {
                        *sides[1].keys().next_back().expect("worst") + 10
                    };
                    sides[s].insert(worst, 7);
                    out.push(lv(worst, 7));
                }
                1 => {
                    let p = if s == 0 { price + 1 } else { price - 1 };
                    if p != mid && !sides[s].contains_key(&p) {
                        sides[s].insert(p, 5);
                        out.push(lv(p, 5));
                        // The worst level leaves the window: Kraken sends no delete for it.
                        while sides[s].len() > depth {
                            if s == 0 {
                                sides[0].pop_first();
                            } else {
                                sides[1].pop_last();
                            }
                        }
                    }
                }
                _ => {
                    let q = rng.random_range(1..10_000_000_000u128);
                    sides[s].insert(price, q);
                    out.push(lv(price, q));
                }
            }
        }
        msgs.push(m);
    }
    msgs
}

/// ns per message of apply + checksum over `msgs` through `S`, repeated `reps` times.
fn synthetic_ns<S: SideStore>(depth: usize, msgs: &mut [Msg], reps: usize) -> f64 {
    let mut n = 0u64;
    let mut x = 0u32;
    let clock = Clock::start();
    for _ in 0..reps {
        let mut book = OrderBook::<S>::with_sides(depth, 1, 8);
        for m in msgs.iter_mut() {
            if m.snapshot {
                book.apply_snapshot(&mut m.bids, &mut m.asks).expect("fits");
            } else {
                book.apply_update(&mut m.bids, &mut m.asks).expect("fits");
                x ^= book.checksum();
            }
            n += 1;
        }
    }
    black_box(x);
    clock.stop().1 * 1e9 / n as f64
}

fn synthetic_naive_ns(depth: usize, msgs: &[Msg], reps: usize) -> f64 {
    let mut n = 0u64;
    let mut x = 0u32;
    let clock = Clock::start();
    for _ in 0..reps {
        let mut book = Naive::new(depth, 1, 8);
        for m in msgs {
            book.apply(m.snapshot, &m.bids, &m.asks);
            if !m.snapshot {
                x ^= book.checksum();
            }
            n += 1;
        }
    }
    black_box(x);
    clock.stop().1 * 1e9 / n as f64
}

fn main() {
    let mut streams = corpus();
    let per_pass: usize = streams.iter().map(|s| s.msgs.len()).sum();
    let passes = 1_000_000usize.div_ceil(per_pass);
    // Warm-up pass (also brings float-reserialised levels to their precision once).
    run_book::<GapSide>(&mut streams, 1);
    if std::env::var_os("KOBE_BENCH_PROFILE").is_some() {
        // Only the kobe book over the corpus, for a profiler.
        let (n, wall, cpu) = run_book::<GapSide>(&mut streams, passes * 5);
        println!(
            "{:.1} ns/message CPU, {:.1} wall",
            cpu * 1e9 / n as f64,
            wall * 1e9 / n as f64
        );
        return;
    }
    let (n, wall, cpu) = run_book::<GapSide>(&mut streams, passes);
    let (book_ns, book_wall) = (cpu * 1e9 / n as f64, wall * 1e9 / n as f64);
    let naive_passes = passes.div_ceil(10);
    let (nn, nwall, ncpu) = run_naive(&streams, naive_passes);
    let (naive_ns, naive_wall) = (ncpu * 1e9 / nn as f64, nwall * 1e9 / nn as f64);
    println!("fixture corpus: {per_pass} book messages x {passes} passes = {n} messages, every checksum verified");
    println!("(thread CPU time per message; wall clock in brackets, inflated on a busy machine)");
    println!("  kobe book + checksum   {book_ns:8.1} ns/message  [{book_wall:.1}]");
    println!(
        "  naive BTreeMap+strings {naive_ns:8.1} ns/message  [{naive_wall:.1}] ({nn} messages)"
    );
    println!("  ratio naive/kobe       {:8.1}x", naive_ns / book_ns);
    println!();
    println!("synthetic Kraken-like stream, apply + checksum, CPU ns/message (lower is better)");
    println!(
        "{:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "depth", "gap", "vecdeque", "vec-best1", "vec-bestN", "btree", "naive"
    );
    for depth in [10usize, 25, 100, 500, 1000] {
        let mut msgs = synthetic(depth, 200_000, depth as u64);
        let reps = 3;
        let gap = synthetic_ns::<GapSide>(depth, &mut msgs, reps);
        let deque = synthetic_ns::<DequeSide>(depth, &mut msgs, reps);
        let first = synthetic_ns::<VecBestFirst>(depth, &mut msgs, reps);
        let last = synthetic_ns::<VecBestLast>(depth, &mut msgs, reps);
        let btree = synthetic_ns::<BTreeSide>(depth, &mut msgs, reps);
        let naive = synthetic_naive_ns(depth, &msgs, 1);
        println!(
            "{depth:>6} {gap:>10.1} {deque:>10.1} {first:>10.1} {last:>10.1} {btree:>10.1} {naive:>10.1}"
        );
    }
}
