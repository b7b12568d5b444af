//! `kobe record`: writes every frame Kraken sends, verbatim, one per line (NDJSON) — the input
//! of the `replay` source.

use std::path::PathBuf;

use anyhow::Context;
use kobe_core::component::SourceConfig;
use kobe_core::kraken::{record::record, KrakenSourceConfig, Symbols};
use tokio_util::sync::CancellationToken;

/// Arguments of `kobe record`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// WebSocket endpoint (`ws://127.0.0.1:8765/v2` for `kobe sim`).
    #[arg(long, default_value = kobe_core::kraken::config::DEFAULT_URL)]
    pub url: String,
    /// Pairs, comma separated (`BTC/USD,ETH/USD`), or `all`.
    #[arg(long, required = true)]
    pub symbols: String,
    /// Book depth: 10, 25, 100, 500 or 1000.
    #[arg(long, default_value_t = 10, value_parser = super::parse_depth)]
    pub depth: u16,
    /// Output file (`-` for standard output); appended to if it exists.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Stop after this many frames (default: until SIGINT/SIGTERM).
    #[arg(long)]
    pub frames: Option<u64>,
}

/// Records until a signal, the frame limit, or a terminal source error.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let symbols = if args.symbols.trim() == "all" {
        Symbols::Keyword("all".into())
    } else {
        Symbols::List(
            args.symbols
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    };
    let mut config = KrakenSourceConfig::new(args.url, Vec::new(), args.depth);
    config.symbols = symbols;
    let problems = config.validate();
    if !problems.is_empty() {
        for p in &problems {
            crate::out::errln!(
                "{}: {}",
                if p.path.is_empty() { "record" } else { &p.path },
                p.message
            );
        }
        anyhow::bail!("invalid arguments; nothing recorded");
    }
    let stop = CancellationToken::new();
    kobe_core::shutdown::install_signal_handlers(stop.clone())?;
    let report = if args.output.as_os_str() == "-" {
        record(&config, tokio::io::stdout(), stop, args.frames).await?
    } else {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&args.output)
            .await
            .with_context(|| format!("cannot open {}", args.output.display()))?;
        let regular = file.metadata().await.is_ok_and(|m| m.is_file());
        let mut out = tokio::io::BufWriter::new(file);
        let r = record(&config, &mut out, stop, args.frames).await?;
        // Only a regular file can be fsynced (`-o /dev/null` cannot).
        if regular {
            out.into_inner()
                .sync_all()
                .await
                .with_context(|| format!("cannot sync {}", args.output.display()))?;
        }
        r
    };
    crate::out::errln!(
        "kobe record: {} frames, {} bytes written to {}",
        report.frames,
        report.bytes,
        args.output.display()
    );
    Ok(())
}
