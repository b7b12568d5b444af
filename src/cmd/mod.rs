//! One module per subcommand.

pub mod demo;
pub mod plugins;
pub mod record;
pub mod run;
pub mod sim;
pub mod validate;

use std::process::ExitCode;

use kobe_core::registry::Registry;

use crate::cli::Command;

/// Runs a subcommand.
pub async fn dispatch(command: Command, registry: Registry) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => run::run(args, &registry).await,
        Command::Validate(args) => validate::run(args, &registry),
        Command::Plugins(args) => plugins::run(args, &registry),
        Command::Sim(args) => sim::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Record(args) => record::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Demo(args) => demo::run(args).await.map(|()| ExitCode::SUCCESS),
    }
}

/// Parses a `--depth` flag: one of the depths Kraken serves books at, so that a bad value is
/// blamed on the flag (not on the pipeline the command builds from it).
pub fn parse_depth(text: &str) -> Result<u16, String> {
    let depths = kobe_core::replay::KRAKEN_DEPTHS;
    let list = depths.map(|d| d.to_string()).join(", ");
    match text.parse::<u16>() {
        Ok(d) if depths.contains(&d) => Ok(d),
        _ => Err(format!("not a Kraken book depth; expected one of {list}")),
    }
}

/// Loads and validates a pipeline file with `--set` overrides and `KOBE_…` environment
/// variables, or returns every problem found, one per line.
pub fn load_pipeline(
    file: &std::path::Path,
    overrides: &[String],
    registry: &Registry,
) -> Result<kobe_core::pipeline::Pipeline, String> {
    use kobe_core::pipeline::{load, EnvSource};
    load(file, overrides, &EnvSource::Process, registry).map_err(|d| format!("{d}\n"))
}
