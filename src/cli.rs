//! The command line: subcommands and their arguments.

use clap::{Parser, Subcommand};

use crate::cmd;

/// kobe — the Kraken OrderBook Engine: streams Kraken spot order books into pipelines.
#[derive(Parser, Debug)]
#[command(name = "kobe", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (`error`, `warn`, `info`, `debug`, `trace`, or a tracing directive such as
    /// `kobe_core=debug`); `RUST_LOG` wins when set. Logs go to standard error.
    #[arg(long, global = true, default_value = "info", env = "KOBE_LOG")]
    pub log: String,

    /// Log line format on standard error: `text` (for people) or `json` (one object per line,
    /// for log collectors).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "KOBE_LOG_FORMAT"
    )]
    pub log_format: LogFormat,

    /// No live status line, progress bar or readable summary on the terminal (they never
    /// appear when standard error is not a terminal anyway).
    #[arg(long, short, global = true, env = "KOBE_QUIET")]
    pub quiet: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields.message` and any other fields.
    Json,
}

/// kobe's subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a pipeline file until its source ends or SIGINT/SIGTERM (validates first).
    Run(cmd::run::Args),
    /// The old engine's command line: `kobe start wss://ws.kraken.com --pair=ETH/USD
    /// --metrics-addr=:2112 --kafka-cluster-addresses=localhost:9092
    /// --kafka-producer-pool-size=5` (each flag also from `KOBE_…`, e.g. `KOBE_PAIR`).
    Start(cmd::start::Args),
    /// Check pipeline files without running them; prints every problem, located.
    Validate(cmd::validate::Args),
    /// List the source, handler and sink types and their options.
    Plugins(cmd::plugins::Args),
    /// Run a local Kraken WebSocket v2 simulator (many pairs, correct checksums, faults).
    Sim(cmd::sim::Args),
    /// Write every frame Kraken sends to an NDJSON file (the input of the `replay` source).
    Record(cmd::record::Args),
    /// The simulator and a verifying pipeline in one process: books without the network.
    Demo(cmd::demo::Args),
}
