//! Frames per second the Kraken source takes from the simulator over loopback (receive,
//! decode into events, subscription filtering, batching, hand-off to the bus), against a raw
//! WebSocket receive loop on the same simulator in the same run (receive only, no decoding).
//!
//! `cargo bench -p kobe-core --bench source`

use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use kobe_core::bus::SourceOutput;
use kobe_core::component::{SourceConfig, SourceContext};
use kobe_core::kraken::simulator::{self, SimConfig, SimHandle};
use kobe_core::kraken::{protocol, KrakenSourceConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SYMBOLS: usize = 100;
const DEPTH: u16 = 10;
const WARMUP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);

fn names(sim: &SimHandle) -> Vec<String> {
    sim.symbols()
        .iter()
        .take(SYMBOLS)
        .map(|s| s.0.to_string())
        .collect()
}

/// Baseline: receive text frames and count them; nothing is parsed.
async fn raw_loop(sim: &SimHandle) -> f64 {
    let (mut ws, _) = async_tungstenite::tokio::connect_async(sim.url())
        .await
        .expect("connect");
    let symbols: Vec<kobe_core::Symbol> = names(sim)
        .iter()
        .map(|n| kobe_core::Symbol::new(n).expect("symbol"))
        .collect();
    ws.send(Message::text(protocol::book_request(
        "subscribe",
        &symbols,
        DEPTH,
        1,
    )))
    .await
    .expect("subscribe");
    let mut frames = 0u64;
    let mut start = None;
    let t0 = Instant::now();
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(t) = m {
            std::hint::black_box(t.len());
            match start {
                None if t0.elapsed() >= WARMUP => start = Some((Instant::now(), frames)),
                Some((s, f0)) if s.elapsed() >= MEASURE => {
                    return (frames - f0) as f64 / s.elapsed().as_secs_f64();
                }
                _ => {}
            }
            frames += 1;
        }
    }
    panic!("the simulator closed the connection");
}

/// The real source, its batches consumed by a counting receiver.
async fn source_loop(sim: &SimHandle) -> (f64, f64) {
    let mut cfg = KrakenSourceConfig::new(sim.url(), names(sim), DEPTH);
    cfg.symbols_per_connection = SYMBOLS;
    let source = cfg.build().await.expect("build");
    let (tx, mut rx) = mpsc::channel(16);
    let (_ctl, control) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let cx = SourceContext {
        output: SourceOutput::new(vec![tx], 512),
        control,
        shutdown: stop.clone(),
        emit_raw: false,
    };
    let task = tokio::spawn(source.run(cx));
    let t0 = Instant::now();
    let mut events = 0u64;
    let mut batches = 0u64;
    while t0.elapsed() < WARMUP {
        if let Some(b) = rx.recv().await {
            std::hint::black_box(b.len());
        }
    }
    let s = Instant::now();
    let frames_before = sim.stats().frames;
    while s.elapsed() < MEASURE {
        match rx.recv().await {
            Some(b) => {
                events += b.len() as u64;
                batches += 1;
            }
            None => break,
        }
    }
    let frames = sim.stats().frames - frames_before;
    let secs = s.elapsed().as_secs_f64();
    stop.cancel();
    while rx.recv().await.is_some() {}
    let _ = task.await;
    let _ = events;
    (frames as f64 / secs, events as f64 / batches.max(1) as f64)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let stop = CancellationToken::new();
        let sim = simulator::spawn(
            listener,
            stop.clone(),
            SimConfig {
                symbols: SYMBOLS,
                tick: Duration::ZERO,
                updates_per_tick: 200,
                book_levels: 60,
                heartbeat: Duration::from_secs(1),
                ..SimConfig::default()
            },
        )
        .expect("simulator");
        let raw = raw_loop(&sim).await;
        let (source, per_batch) = source_loop(&sim).await;
        let raw2 = raw_loop(&sim).await;
        let baseline = (raw + raw2) / 2.0;
        println!("source/kraken: {SYMBOLS} symbols, depth {DEPTH}, loopback simulator");
        println!("  baseline raw WebSocket receive : {baseline:>12.0} frames/s (runs: {raw:.0}, {raw2:.0})");
        println!("  kraken source (decode + batch) : {source:>12.0} frames/s ({per_batch:.1} events per batch)");
        println!("  ratio source / baseline        : {:>12.3}", source / baseline);
        stop.cancel();
    });
}
