//! `kobe demo`: the simulator and a full pipeline in one process — Kraken source, the book
//! handlers with checksum verification, pretty output — so a new user sees verified books
//! without the network.

use std::time::Duration;

use anyhow::Context;
use kobe_core::kraken::simulator::{self, Fault, SimConfig};
use kobe_core::pipeline::{load_str, EnvSource};
use tokio_util::sync::CancellationToken;

/// Arguments of `kobe demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// How many pairs to stream (1 to 500).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub symbols: u16,
    /// Book depth: 10, 25, 100, 500 or 1000.
    #[arg(long, default_value_t = 10, value_parser = super::parse_depth)]
    pub depth: u16,
    /// Stop after this many seconds (default: until SIGINT/SIGTERM).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Corrupt a checksum every this many seconds, to watch detection and resync.
    #[arg(long, value_name = "SECONDS")]
    pub corrupt_every: Option<u64>,
}

/// Runs the demo.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    kobe_core::shutdown::install_signal_handlers(stop.clone())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let n = usize::from(args.symbols);
    let sim_stop = CancellationToken::new();
    let sim = simulator::spawn(
        listener,
        sim_stop.clone(),
        SimConfig {
            symbols: n,
            tick: Duration::from_millis(200),
            updates_per_tick: 1,
            ..SimConfig::default()
        },
    )?;
    let symbols: Vec<String> = sim
        .symbols()
        .iter()
        .map(|s| format!("\"{}\"", s.0))
        .collect();
    let yaml = format!(
        "source:\n  type: kraken\n  url: {url}\n  symbols: [{list}]\n  depth: {depth}\n\
         handlers:\n  - type: snapshot\n  - type: update\n  - type: checksum\n    on_mismatch: resync\n\
         sinks:\n  console:\n    type: stdout\n    format: pretty\n    events: [book_snapshot, book_update, checksum_mismatch, book_reset, subscription_error]\n",
        url = sim.url(),
        list = symbols.join(", "),
        depth = args.depth,
    );
    let pipeline = load_str(
        &yaml,
        "<demo>",
        &[],
        &EnvSource::Map(Default::default()),
        &crate::registry(),
    )
    .map_err(|d| anyhow::anyhow!("{d}"))
    .context("the demo pipeline is invalid")?;
    crate::out::errln!("kobe demo: simulator on {}; streaming {n} books at depth {} through snapshot → update → checksum → stdout (Ctrl-C to stop)", sim.url(), args.depth);
    if let Some(secs) = args.seconds {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            stop.cancel();
        });
    }
    if let Some(every) = args.corrupt_every {
        let (sim, stop) = (sim.clone(), stop.clone());
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(every.max(1)));
            t.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = t.tick() => sim.inject(Fault::CorruptChecksum),
                }
            }
        });
    }
    let report = kobe_core::pipeline::run(pipeline, stop).await?;
    sim_stop.cancel();
    crate::out::errln!("kobe demo: summary {}", serde_json::to_string(&report)?);
    report
        .check_accounting()
        .map_err(|broken| anyhow::anyhow!("the demo's counts do not add up:\n{broken}"))
}
