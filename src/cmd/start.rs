//! `kobe start URL --pair … --metrics-addr … --kafka-cluster-addresses … --kafka-producer-pool-size …`:
//! the old engine's command line, with an environment variable for each flag. It builds the
//! equivalent pipeline (the Kraken source for the pairs, the book handlers with checksum
//! verification, a Kafka sink with that pool size, metrics on that address) as YAML, loads it
//! through the same validation as `kobe run`, and runs it; `--print-pipeline` prints the YAML
//! instead, which `kobe run` accepts.

use std::process::ExitCode;

use kobe_core::pipeline::{load_str, EnvSource};
use kobe_core::registry::Registry;

/// Arguments of `kobe start` (the old engine's flags).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kraken WebSocket endpoint; the old v1 URL `wss://ws.kraken.com` maps to v2.
    #[arg(
        value_name = "URL",
        default_value = "wss://ws.kraken.com",
        env = "KOBE_URL"
    )]
    pub url: String,
    /// Pair to stream (`ETH/USD`); repeat the flag or give a comma list.
    #[arg(
        long = "pair",
        value_name = "PAIR",
        required = true,
        value_delimiter = ',',
        env = "KOBE_PAIR"
    )]
    pub pairs: Vec<String>,
    /// Book depth: 10, 25, 100, 500 or 1000.
    #[arg(long, default_value_t = 10, env = "KOBE_DEPTH")]
    pub depth: u16,
    /// Where to serve /metrics, /health and /ready (`:2112` is every interface).
    #[arg(long, default_value = ":2112", env = "KOBE_METRICS_ADDR")]
    pub metrics_addr: String,
    /// Kafka bootstrap brokers, comma separated (`localhost:9092`).
    #[arg(
        long,
        value_name = "HOST:PORT",
        default_value = "localhost:9092",
        value_delimiter = ',',
        env = "KOBE_KAFKA_CLUSTER_ADDRESSES"
    )]
    pub kafka_cluster_addresses: Vec<String>,
    /// Kafka producers in the pool (a symbol always uses the same one).
    #[arg(long, default_value_t = 1, env = "KOBE_KAFKA_PRODUCER_POOL_SIZE")]
    pub kafka_producer_pool_size: usize,
    /// Kafka topic of the records.
    #[arg(long, default_value = "kraken_book", env = "KOBE_KAFKA_TOPIC")]
    pub kafka_topic: String,
    /// Record format on Kafka: `raw` (Kraken's frames as received, as the old engine sent
    /// them) or `json` (kobe's versioned records).
    #[arg(long, default_value = "raw", value_parser = ["raw", "json"], env = "KOBE_KAFKA_FORMAT")]
    pub kafka_format: String,
    /// Print the pipeline this command line builds (YAML for `kobe run`) and exit.
    #[arg(long)]
    pub print_pipeline: bool,
}

/// Builds the pipeline; prints it or runs it.
pub async fn run(args: Args, registry: &Registry) -> anyhow::Result<ExitCode> {
    let yaml = pipeline_yaml(&args);
    if args.print_pipeline {
        crate::out::out!("{yaml}");
        return Ok(ExitCode::SUCCESS);
    }
    let pipeline = match load_str(
        &yaml,
        "kobe start",
        &[],
        &EnvSource::Map(Default::default()),
        registry,
    ) {
        Ok(p) => p,
        Err(diagnostics) => {
            crate::out::errln!("{diagnostics}");
            crate::out::errln!("error: the flags do not make a valid pipeline; not started");
            return Ok(ExitCode::FAILURE);
        }
    };
    crate::cmd::run::run_pipeline(pipeline, "kobe start").await
}

/// The pipeline as YAML text (every value quoted, so pairs and addresses stay strings).
pub fn pipeline_yaml(args: &Args) -> String {
    let q = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let list = |items: &[String]| {
        items
            .iter()
            .map(|s| q(s.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (events, format) = match args.kafka_format.as_str() {
        "json" => (
            "[book_snapshot, book_update, checksum_mismatch, book_reset]",
            "json",
        ),
        _ => ("[raw]", "raw"),
    };
    format!(
        "# Built by `kobe start` from the old engine's flags; `kobe run FILE` runs the same.\n\
source:\n  type: kraken\n  url: {url}\n  symbols: [{pairs}]\n  depth: {depth}\n\
handlers:\n  - type: snapshot\n  - type: update\n  - type: checksum\n    on_mismatch: resync\n\
sinks:\n  kafka:\n    type: kafka\n    brokers: [{brokers}]\n    topic: {topic}\n    pool_size: {pool}\n    format: {format}\n    events: {events}\n\
metrics:\n  addr: {addr}\n",
        url = q(&args.url),
        pairs = list(&args.pairs),
        depth = args.depth,
        brokers = list(&args.kafka_cluster_addresses),
        topic = q(&args.kafka_topic),
        pool = args.kafka_producer_pool_size,
        addr = q(&args.metrics_addr),
    )
}
