//! Plugin cost: the per-event cost of the `spread` plugin loaded from its shared library
//! (`type: plugin`), against the same code linked into the binary (`type: spread`, through the
//! same exported functions), against no handler, in one run, on the same batches.
//!
//! `cargo bench --bench plugins` (builds the plugin library in release first; set
//! `KOBE_BENCH_BATCHES` to change the batch count).
//!
//! Two workloads of 512-event batches over 16 symbols: `updates` (book updates only: spread
//! looks at every event and emits nothing, so this is the cost of crossing the boundary and
//! building the batch's view) and `tops` (every other event a `book_top`, after which spread
//! emits a record: the plugin's real work). Each measurement runs on fresh copies of the
//! batches made before its clock starts (the handler changes them); `none` is the bare loop.
//! The three run interleaved in a rotating order; the best run of each is shown, and the
//! median of the per-round dynamic − static differences.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kobe_core::book::BookStore;
use kobe_core::event::{BookData, BookTop};
use kobe_core::{
    Decimal, Event, EventBatch, EventKind, Handler, HandlerConfig, HandlerContext, Level, Symbol,
    Timestamp,
};
use kobe_plugin_host::{LinkedHandlerConfig, PluginHandlerConfig};
use kobe_plugin_spread::Spread;

const BATCH: usize = 512;
const ROUNDS: usize = 31;

fn level(price: u128, qty: u128) -> Level {
    Level {
        price: Decimal::new(price, 1).unwrap(),
        qty: Decimal::new(qty, 8).unwrap(),
    }
}

/// Batch `b` of a workload: `tops` puts a `book_top` after every update.
fn make_batch(b: usize, tops: bool, symbols: &[Symbol]) -> EventBatch {
    let mut batch = EventBatch::with_capacity(BATCH);
    for i in 0..BATCH {
        let n = (b * BATCH + i) as u128;
        let symbol = Some(symbols[i % symbols.len()]);
        let at = Timestamp(1_700_000_000_000_000_000 + n as i64 * 1000);
        let kind = if tops && i % 2 == 1 {
            EventKind::BookTop(BookTop {
                bids: vec![level(450_000 + n % 50, 10_000_000 + n)],
                asks: vec![level(450_100 + n % 50, 20_000_000 + n)],
            })
        } else {
            EventKind::BookUpdate(BookData {
                bids: vec![level(450_000 + n % 50, n % 3 * 10_000_000)],
                checksum: Some(n as u32),
                checksum_ok: Some(true),
                ..BookData::default()
            })
        };
        let mut e = Event::new(symbol, at, kind);
        e.exchange_ts = Some(at);
        batch.push(e);
    }
    batch
}

fn clone_batch(b: &EventBatch) -> EventBatch {
    let mut out = EventBatch::with_capacity(b.len() * 2);
    out.events.extend(b.events.iter().cloned());
    out
}

/// Time to process every batch once (on fresh copies made before the clock starts); and the
/// events that came out.
fn measure(handler: Option<&mut dyn Handler>, templates: &[EventBatch]) -> (Duration, u64) {
    let mut books = BookStore::new(10, &HashMap::new());
    let mut control = Vec::new();
    let mut out = 0u64;
    let mut handler = handler;
    let mut batches: Vec<EventBatch> = templates.iter().map(clone_batch).collect();
    let start = Instant::now();
    for batch in &mut batches {
        if let Some(h) = handler.as_deref_mut() {
            let mut cx = HandlerContext::new(&mut books, &mut control, 0, 1);
            h.process(batch, &mut cx).expect("spread never fails here");
        }
        out += std::hint::black_box(batch.len()) as u64;
    }
    let elapsed = start.elapsed();
    drop(batches);
    (elapsed, out)
}

fn build_library(root: &Path) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = root.join("target/plugin-libs");
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--quiet",
            "--lib",
            "-p",
            "kobe-plugin-spread",
        ])
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the spread library failed");
    target.join("release").join(format!(
        "{}kobe_plugin_spread{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = build_library(root);
    let n_batches: usize = std::env::var("KOBE_BENCH_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let symbols: Vec<Symbol> = (0..16)
        .map(|i| Symbol::new(&format!("S{i}/USD")).unwrap())
        .collect();
    let dynamic: PluginHandlerConfig =
        serde_json::from_value(serde_json::json!({"path": lib, "config": {}})).unwrap();
    let linked: LinkedHandlerConfig<Spread> =
        serde_json::from_value(serde_json::json!({"config": {}})).unwrap();
    assert!(dynamic.validate().is_empty() && linked.validate().is_empty());
    let mut dyn_handler = dynamic.build().unwrap();
    let mut static_handler = linked.build().unwrap();

    println!(
        "plugins benchmark: spread over {n_batches} batches of {BATCH} events, {ROUNDS} rounds"
    );
    println!("library: {}", lib.display());
    for (name, tops) in [("updates", false), ("tops", true)] {
        let batches: Vec<EventBatch> = (0..n_batches)
            .map(|b| make_batch(b, tops, &symbols))
            .collect();
        let events = (n_batches * BATCH) as f64;
        let mut best = [Duration::MAX; 3];
        let mut outs = [0u64; 3];
        let mut diffs = Vec::with_capacity(ROUNDS);
        for round in 0..ROUNDS {
            // Interleaved, so a slow spell of the shared host hits all three alike, and in a
            // rotating order, so none always runs on the heap another left behind.
            let mut times = [Duration::ZERO; 3];
            for k in 0..3 {
                let i = (round + k) % 3;
                let handler: Option<&mut dyn Handler> = match i {
                    0 => None,
                    1 => Some(static_handler.as_mut()),
                    _ => Some(dyn_handler.as_mut()),
                };
                let (t, out) = measure(handler, &batches);
                best[i] = best[i].min(t);
                times[i] = t;
                outs[i] = out;
            }
            diffs.push(times[2].as_nanos() as f64 - times[1].as_nanos() as f64);
        }
        diffs.sort_by(f64::total_cmp);
        assert_eq!(
            outs[1], outs[2],
            "static and dynamic emitted different counts"
        );
        let ns = |d: Duration| d.as_nanos() as f64 / events;
        let [none, stat, dynm] = best.map(ns);
        println!("\n{name}: {} events in, {} out", events as u64, outs[2]);
        println!("  no handler           {none:8.2} ns/event");
        println!(
            "  spread, static       {stat:8.2} ns/event   spread itself {:+.2} ns/event",
            stat - none
        );
        println!(
            "  spread, dynamic      {dynm:8.2} ns/event   spread itself {:+.2} ns/event",
            dynm - none
        );
        println!(
            "  dynamic - static     {:+8.2} ns/event   (best runs; dynamic/static time ratio {:.3})",
            dynm - stat,
            dynm / stat
        );
        println!(
            "  dynamic - static     {:+8.2} ns/event   (median of the {ROUNDS} paired rounds; quartiles {:+.2} .. {:+.2})",
            diffs[ROUNDS / 2] / events,
            diffs[ROUNDS / 4] / events,
            diffs[3 * ROUNDS / 4] / events
        );
    }
}
