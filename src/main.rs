//! `kobe`: streams Kraken spot order books into pipelines.
//!
//! This file only parses the command line, sets up logging and the component registry, and
//! dispatches; every capability lives in the library crates.

mod cli;
mod cmd;
mod out;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::out::errln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cmd::dispatch(cli.command, registry()));
    // Everything the command started has finished and been flushed by now; what may be left
    // is a read-ahead blocked on standard input, which must not hold the exit.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            crate::out::errln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, each said once. Many error types already print their cause in
/// their own message (`cannot open x: No such file…`) and also return it as `source()`, so
/// printing the chain naively repeats it; a cause whose text is already in the message is
/// left out.
fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// Every component type this binary offers. A custom binary adds its own here.
pub fn registry() -> kobe_core::registry::Registry {
    let mut registry = kobe_core::registry::Registry::new();
    kobe_core::replay::register(&mut registry);
    kobe_core::kraken::register(&mut registry);
    kobe_plugins::register(&mut registry);
    kobe_sinks::register(&mut registry);
    // `type: plugin` (libraries named in pipeline files), and the example plugins linked in
    // as built-ins through the same exported functions.
    kobe_plugin_host::register(&mut registry);
    kobe_plugin_host::register_handler::<kobe_plugin_spread::Spread>(&mut registry);
    kobe_plugin_host::register_handler::<kobe_plugin_imbalance::Imbalance>(&mut registry);
    kobe_plugin_host::register_sink::<kobe_plugin_redis_streams::RedisStreams>(&mut registry);
    registry
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        // Its own report of a failed write is an `eprintln!`, which panics when standard
        // error is closed, inside whichever task logged (the signal handler's, say).
        .log_internal_errors(false)
        .init();
}
