//! Frames per second the Kraken source takes from the simulator over loopback (receive,
//! decode into events, subscription filtering, batching, hand-off to the bus), against a raw
//! WebSocket receive loop on the same simulator in the same run (receive only, no decoding).
//!
//! The server replays update frames the simulator's market rendered ahead of time, so the
//! receiver, not frame generation, is what is measured.
//!
//! `cargo bench -p kobe-core --bench source`

use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_tungstenite::tungstenite::{Message, Utf8Bytes};
use futures_util::{SinkExt, StreamExt};
use kobe_core::bus::SourceOutput;
use kobe_core::component::{SourceConfig, SourceContext};
use kobe_core::kraken::simulator::market::{instrument_pair, Market};
use kobe_core::kraken::{protocol, KrakenSourceConfig};
use kobe_core::Symbol;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SYMBOLS: usize = 100;
const DEPTH: u16 = 10;
const WARMUP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);

/// Frames rendered once by the simulator's market, served in a loop.
struct Frames {
    instruments: Utf8Bytes,
    snapshots: Vec<(Symbol, Utf8Bytes)>,
    updates: Vec<Utf8Bytes>,
    sent: AtomicU64,
}

struct Server {
    url: String,
    frames: Arc<Frames>,
}

impl Server {
    fn names(&self) -> Vec<String> {
        self.frames
            .snapshots
            .iter()
            .map(|(s, _)| s.to_string())
            .collect()
    }
}

fn render() -> Frames {
    let mut m = Market::new(SYMBOLS, 7, 60, false);
    let pairs: Vec<String> = m.symbols().iter().map(instrument_pair).collect();
    let instruments = format!(
        r#"{{"channel":"instrument","type":"snapshot","data":{{"assets":[],"pairs":[{}]}}}}"#,
        pairs.join(",")
    );
    let symbols: Vec<Symbol> = m.symbols().iter().map(|s| s.symbol).collect();
    let snapshots = symbols
        .iter()
        .map(|s| {
            let entry = m.subscribe(*s, DEPTH).expect("listed");
            (
                *s,
                format!(r#"{{"channel":"book","type":"snapshot","data":[{entry}]}}"#).into(),
            )
        })
        .collect();
    let mut updates = Vec::new();
    let mut corrupt = false;
    while updates.len() < 50_000 {
        for e in m.tick(50, "2026-08-02T10:00:00.123456Z", &mut corrupt) {
            updates.push(
                format!(
                    r#"{{"channel":"book","type":"update","data":[{}]}}"#,
                    e.json
                )
                .into(),
            );
        }
    }
    Frames {
        instruments: instruments.into(),
        snapshots,
        updates,
        sent: AtomicU64::new(0),
    }
}

async fn serve(tcp: tokio::net::TcpStream, frames: Arc<Frames>) {
    let _ = tcp.set_nodelay(true);
    let Ok(mut ws) = async_tungstenite::tokio::accept_async(tcp).await else {
        return;
    };
    let _ = ws
        .send(Message::text(r#"{"channel":"status","type":"update","data":[{"version":"2.0.10","system":"online","api_version":"v2","connection_id":1}]}"#))
        .await;
    while let Some(Ok(Message::Text(req))) = ws.next().await {
        if req.contains(r#""instrument""#) {
            let _ = ws.send(Message::Text(frames.instruments.clone())).await;
            continue;
        }
        for (s, snap) in &frames.snapshots {
            let ack = format!(
                r#"{{"method":"subscribe","result":{{"channel":"book","depth":{DEPTH},"snapshot":true,"symbol":"{s}"}},"success":true,"time_in":"2026-08-02T10:00:00.000000Z","time_out":"2026-08-02T10:00:00.000001Z"}}"#
            );
            let _ = ws.feed(Message::text(ack)).await;
            let _ = ws.feed(Message::Text(snap.clone())).await;
        }
        break;
    }
    loop {
        for chunk in frames.updates.chunks(64) {
            for f in chunk {
                if ws.feed(Message::Text(f.clone())).await.is_err() {
                    return;
                }
            }
            if ws.flush().await.is_err() {
                return;
            }
            frames.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Baseline: receive text frames and count them; nothing is parsed.
async fn raw_loop(sim: &Server) -> f64 {
    let (mut ws, _) = async_tungstenite::tokio::connect_async(sim.url.as_str())
        .await
        .expect("connect");
    let symbols: Vec<Symbol> = sim.frames.snapshots.iter().map(|(s, _)| *s).collect();
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
async fn source_loop(sim: &Server) -> (f64, f64) {
    let mut cfg = KrakenSourceConfig::new(sim.url.clone(), sim.names(), DEPTH);
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
    let frames_before = sim.frames.sent.load(Ordering::Relaxed);
    while s.elapsed() < MEASURE {
        match rx.recv().await {
            Some(b) => {
                events += b.len() as u64;
                batches += 1;
            }
            None => break,
        }
    }
    let frames = sim.frames.sent.load(Ordering::Relaxed) - frames_before;
    let secs = s.elapsed().as_secs_f64();
    stop.cancel();
    while rx.recv().await.is_some() {}
    let _ = task.await;
    let _ = events;
    (frames as f64 / secs, events as f64 / batches.max(1) as f64)
}

/// `decode_frame` over the same frames in memory: where the source's time goes.
fn decode_only(frames: &Frames) -> f64 {
    let mut out = Vec::with_capacity(64);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        for f in &frames.updates {
            out.clear();
            let _ = std::hint::black_box(kobe_core::kraken::decode::decode_frame(
                f.as_str(),
                kobe_core::Timestamp(0),
                &mut out,
            ));
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("ws://{}/v2", listener.local_addr().expect("addr"));
        let frames = Arc::new(render());
        let served = frames.clone();
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(tcp, served.clone()));
            }
        });
        let sim = Server { url, frames };
        let raw = raw_loop(&sim).await;
        let (source, per_batch) = source_loop(&sim).await;
        let raw2 = raw_loop(&sim).await;
        let decode = decode_only(&sim.frames);
        let baseline = (raw + raw2) / 2.0;
        println!("source/kraken: {SYMBOLS} symbols, depth {DEPTH}, simulator frames over loopback");
        println!("  baseline raw WebSocket receive : {baseline:>12.0} frames/s (runs: {raw:.0}, {raw2:.0})");
        println!("  kraken source (decode + batch) : {source:>12.0} frames/s ({per_batch:.1} events per batch)");
        println!("  ratio source / baseline        : {:>12.3}", source / baseline);
        println!("  (for scale: decode_frame alone on the same frames, one thread: {decode:.0} frames/s)");
        accept.abort();
    });
}
