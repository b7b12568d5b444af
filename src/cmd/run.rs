//! `kobe run FILE`: validate, then run a pipeline until its source ends or a signal arrives.

use std::path::PathBuf;
use std::process::ExitCode;

use kobe_core::pipeline::RunReport;
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
            crate::out::err!("{diagnostics}");
            crate::out::errln!(
                "error: {} is not a valid pipeline; not started",
                args.file.display()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    for w in pipeline.warnings() {
        tracing::warn!("{}: {w}", args.file.display());
    }
    run_pipeline(pipeline, &args.file.display().to_string()).await
}

/// Runs a loaded pipeline (`kobe run`, `kobe start`): metrics endpoint, terminal display,
/// the run, and the summary on standard error.
pub async fn run_pipeline(
    pipeline: kobe_core::pipeline::Pipeline,
    label: &str,
) -> anyhow::Result<ExitCode> {
    let shutdown = CancellationToken::new();
    kobe_core::shutdown::install_signal_handlers(shutdown.clone())?;
    let endpoint = crate::cmd::start_metrics(&pipeline).await?;
    tracing::info!("running {label} (SIGINT/SIGTERM drains and stops; a second one exits at once)");
    let mut telemetry = endpoint.as_ref().map(|e| e.telemetry.clone());
    // The terminal display reads the same measurements; without metrics, local ones.
    if telemetry.is_none() && crate::terminal::enabled() {
        telemetry = Some(kobe_core::metrics::Telemetry::local());
    }
    let live = telemetry
        .as_ref()
        .and_then(|t| crate::terminal::start(t, pipeline.source.input_size()));
    let result = kobe_core::pipeline::run_with(pipeline, shutdown, telemetry).await;
    if let Some(e) = endpoint {
        e.stop.cancel();
    }
    if let Some(live) = live {
        live.finish(result.as_ref().ok()).await;
    }
    match result {
        Ok(report) => {
            log_end(&report);
            crate::out::errln!("kobe: summary {}", serde_json::to_string(&report)?);
            if let Err(broken) = report.check_accounting() {
                // A count went missing: a bug, and never to pass silently.
                crate::out::errln!("error: the run's counts do not add up:\n{broken}");
                return Ok(ExitCode::FAILURE);
            }
            // Records a sink took on but could not deliver (Kafka) fail the run, after the
            // summary has said which.
            let undelivered: Vec<String> = report
                .sinks
                .iter()
                .filter(|(_, s)| s.undelivered > 0)
                .map(|(id, s)| format!("sinks.{id}: {}", s.undelivered))
                .collect();
            if !undelivered.is_empty() {
                crate::out::errln!("error: undelivered records ({})", undelivered.join(", "));
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e.into()),
    }
}

/// The log line that ends a run: what came in, what went out, and what was withheld (a warning
/// when anything was, naming the symbols).
fn log_end(report: &RunReport) {
    let written: u64 = report.sinks.values().map(|s| s.written).sum();
    let s = &report.source;
    if report.withheld == 0 {
        tracing::info!(
            frames = s.frames,
            malformed = s.malformed,
            stale_dropped = s.stale_dropped,
            events = report.events,
            written,
            "run finished"
        );
        return;
    }
    let by_symbol: Vec<String> = report
        .withheld_by_symbol
        .iter()
        .map(|(symbol, n)| format!("{symbol} {n}"))
        .collect();
    tracing::warn!(
        frames = s.frames,
        malformed = s.malformed,
        stale_dropped = s.stale_dropped,
        events = report.events,
        written,
        withheld = report.withheld,
        "run finished; {} events withheld while their book was invalid ({})",
        report.withheld,
        by_symbol.join(", ")
    );
}
