//! `kobe run FILE`: validate, then run a pipeline until its source ends or a signal arrives.

use std::path::PathBuf;
use std::process::ExitCode;

use kobe_core::registry::Registry;
use tokio_util::sync::CancellationToken;

/// Arguments of `kobe run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pipeline file (YAML).
    pub file: PathBuf,
    /// Override a pipeline value: `--set sinks.out.path=/tmp/x.ndjson` (repeatable; applied
    /// after the file and `KOBE_…` environment variables).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
}

/// Runs the pipeline; prints a one-line JSON summary on standard error at the end.
pub async fn run(args: Args, registry: &Registry) -> anyhow::Result<ExitCode> {
    let pipeline = match crate::cmd::load_pipeline(&args.file, &args.set, registry) {
        Ok(p) => p,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            eprintln!(
                "error: {} is not a valid pipeline; not started",
                args.file.display()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let shutdown = CancellationToken::new();
    kobe_core::shutdown::install_signal_handlers(shutdown.clone())?;
    tracing::info!(
        "running {} (SIGINT/SIGTERM drains and stops; a second one exits at once)",
        args.file.display()
    );
    let result = kobe_core::pipeline::run(pipeline, shutdown).await;
    match result {
        Ok(report) => {
            eprintln!("kobe: summary {}", serde_json::to_string(&report)?);
            let undelivered: Vec<String> = report
                .sinks
                .iter()
                .filter(|(_, s)| s.undelivered > 0)
                .map(|(id, s)| format!("sinks.{id}: {}", s.undelivered))
                .collect();
            if undelivered.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: undelivered records ({})", undelivered.join(", "));
                Ok(ExitCode::FAILURE)
            }
        }
        Err(e) => Err(e.into()),
    }
}
