//! Recording: every frame the Kraken source receives, verbatim, one per line (NDJSON) — the
//! format of the fixtures and of the `replay` source.
//!
//! It runs the real source (same subscriptions, reconnects and resyncs) with raw events on,
//! so a recording is exactly what a pipeline would have seen.

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::config::KrakenSourceConfig;
use crate::bus::SourceOutput;
use crate::component::{SourceConfig, SourceContext};
use crate::event::EventKind;

/// What a recording wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordReport {
    /// Frames written.
    pub frames: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Why a recording stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The source could not start or failed.
    #[error("kraken source: {0}")]
    Source(String),
    /// Writing the output failed.
    #[error("writing the recording failed: {0}")]
    Write(#[from] std::io::Error),
}

/// Records frames from `config`'s source into `out` until `shutdown` is cancelled, the source
/// ends, or `max_frames` frames are written. Flushes before returning.
pub async fn record<W: AsyncWrite + Unpin>(
    config: &KrakenSourceConfig,
    mut out: W,
    shutdown: CancellationToken,
    max_frames: Option<u64>,
) -> Result<RecordReport, RecordError> {
    let source = config
        .build()
        .await
        .map_err(|e| RecordError::Source(e.to_string()))?;
    let (tx, mut rx) = mpsc::channel(16);
    let (_control_tx, control) = mpsc::unbounded_channel();
    let stop = shutdown.child_token();
    let cx = SourceContext {
        output: SourceOutput::new(vec![tx], 512),
        control,
        shutdown: stop.clone(),
        emit_raw: true,
    };
    let task = tokio::spawn(source.run(cx));
    let mut report = RecordReport::default();
    let mut buf = Vec::with_capacity(1 << 16);
    'outer: while let Some(batch) = rx.recv().await {
        buf.clear();
        for e in &batch.events {
            if let EventKind::Raw(frame) = &e.kind {
                buf.extend_from_slice(frame);
                buf.push(b'\n');
                report.frames += 1;
                report.bytes += frame.len() as u64 + 1;
                if max_frames.is_some_and(|m| report.frames >= m) {
                    out.write_all(&buf).await?;
                    stop.cancel();
                    break 'outer;
                }
            }
        }
        out.write_all(&buf).await?;
    }
    out.flush().await?;
    drop(rx);
    match task.await {
        Ok(Ok(_)) => Ok(report),
        Ok(Err(e)) => Err(RecordError::Source(e.to_string())),
        Err(e) => Err(RecordError::Source(format!("the source task failed: {e}"))),
    }
}
