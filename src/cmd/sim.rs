//! `kobe sim`: a local Kraken WebSocket v2 simulator (for demos, recordings and tests without
//! the network), with optional random fault injection.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use kobe_core::kraken::simulator::{self, Fault, SimConfig};
use tokio_util::sync::CancellationToken;

/// Arguments of `kobe sim`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8765")]
    pub addr: SocketAddr,
    /// How many pairs to list (`S000/USD`, `S001/USD`, ...).
    #[arg(long, default_value_t = 20)]
    pub symbols: usize,
    /// Seed of the market's moves and the instruments' precisions.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Book update messages per second, spread over the pairs some client subscribed to
    /// (pairs nobody subscribed to do not move; 0: as fast as clients read).
    #[arg(long, default_value_t = 250)]
    pub rate: u64,
    /// Several symbols per `data` array in every update frame.
    #[arg(long)]
    pub multi_symbol_frames: bool,
    /// Inject a random fault (disconnect, stall, corrupt checksum, malformed frame, rejected
    /// subscription, precision change, multi-symbol frame) every this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub fault_every: Option<u64>,
}

/// Runs the simulator until SIGINT/SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let stop = CancellationToken::new();
    kobe_core::shutdown::install_signal_handlers(stop.clone())?;
    let (tick, per_tick) = pace(args.rate);
    let sim = simulator::spawn(
        listener,
        stop.clone(),
        SimConfig {
            symbols: args.symbols.max(1),
            seed: args.seed,
            tick,
            updates_per_tick: per_tick,
            multi_symbol_frames: args.multi_symbol_frames,
            ..SimConfig::default()
        },
    )?;
    crate::out::outln!(
        "kobe sim: Kraken v2 simulator on {} ({} pairs)",
        sim.url(),
        args.symbols
    );
    crate::out::outln!(
        "  try: kobe record --url {} --symbols S000/USD,S001/USD -o session.ndjson",
        sim.url()
    );
    if let Some(every) = args.fault_every {
        tokio::spawn(inject_faults(
            sim.clone(),
            Duration::from_secs(every.max(1)),
            args.seed,
            stop.clone(),
        ));
    }
    stop.cancelled().await;
    let s = sim.stats();
    crate::out::errln!("kobe sim: {s:?}");
    Ok(())
}

/// `(tick, updates per tick)` for a rate in messages per second.
fn pace(rate: u64) -> (Duration, usize) {
    if rate == 0 {
        return (Duration::ZERO, 50);
    }
    let ticks_per_sec = rate.clamp(1, 100);
    (
        Duration::from_millis(1000 / ticks_per_sec),
        (rate / ticks_per_sec).max(1) as usize,
    )
}

async fn inject_faults(
    sim: simulator::SimHandle,
    every: Duration,
    seed: u64,
    stop: CancellationToken,
) {
    let mut n = seed as usize;
    let mut interval = tokio::time::interval(every);
    interval.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = interval.tick() => {}
        }
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let symbols = sim.symbols();
        let pick = symbols[(n >> 33) % symbols.len()].0;
        let fault = match (n >> 40) % 7 {
            0 => Fault::Disconnect,
            1 => Fault::Stall,
            2 => Fault::CorruptChecksum,
            3 => Fault::MalformedFrame,
            4 => Fault::RejectNext(pick, "Exceeded msg rate".into()),
            5 => Fault::PrecisionChange(None),
            _ => Fault::MultiSymbolFrame,
        };
        tracing::info!("kobe sim: injecting {fault:?}");
        sim.inject(fault);
    }
}
