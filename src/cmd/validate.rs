//! `kobe validate FILE...`: checks pipeline files without running them (no I/O besides reading
//! the files) and prints every problem of every file, each located.

use std::path::PathBuf;
use std::process::ExitCode;

use kobe_core::pipeline::{load, EnvSource};
use kobe_core::registry::Registry;

/// Arguments of `kobe validate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pipeline files (YAML).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Override a pipeline value: `--set sinks.out.path=/tmp/x.ndjson` (repeatable; applied
    /// after the file and `KOBE_…` environment variables, to every file).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
}

/// Prints `FILE: OK …` on standard output for each good file and every problem of the bad
/// ones on standard error; exits 1 when any file has a problem.
pub fn run(args: Args, registry: &Registry) -> anyhow::Result<ExitCode> {
    let mut bad = 0usize;
    for file in &args.files {
        match load(file, &args.set, &EnvSource::Process, registry) {
            Ok(p) => {
                for w in p.warnings() {
                    crate::out::errln!("warning: {}: {w}", file.display());
                }
                crate::out::outln!(
                    "{}: OK ({} source, {} handler{}, {} sink{})",
                    file.display(),
                    p.source_type,
                    p.handlers.len(),
                    if p.handlers.len() == 1 { "" } else { "s" },
                    p.sinks.len(),
                    if p.sinks.len() == 1 { "" } else { "s" },
                )
            }
            Err(diagnostics) => {
                bad += 1;
                crate::out::errln!("{diagnostics}");
            }
        }
    }
    if bad == 0 {
        Ok(ExitCode::SUCCESS)
    } else {
        crate::out::errln!(
            "error: {bad} of {} pipeline file{} invalid",
            args.files.len(),
            if args.files.len() == 1 {
                " is"
            } else {
                "s are"
            }
        );
        Ok(ExitCode::FAILURE)
    }
}
