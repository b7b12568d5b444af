//! One module per subcommand.

pub mod plugins;
pub mod run;
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
