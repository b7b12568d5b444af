//! The `replay` source: plays an NDJSON file of raw Kraken frames (one frame per line, the
//! format `kobe record` writes and the fixtures use) through the pipeline.
//!
//! Lines are cut from large reads without copying; each frame is decoded exactly as the live
//! source would. Malformed lines are counted and reported with their line numbers, and the
//! replay keeps going.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::component::{
    BookHints, ComponentError, ConfigError, Source, SourceConfig, SourceContext, SourceReport,
};
use crate::decimal::Decimal;
use crate::event::{Event, EventBatch, EventKind, InstrumentInfo};
use crate::kraken::decode::decode_frame;
use crate::symbol::Symbol;
use crate::time::Timestamp;

/// How many malformed lines are shown individually before only counting.
const SHOWN_MALFORMED: u64 = 5;
const READ_CHUNK: usize = 1 << 20;
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// How fast a replay plays.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Pace {
    /// As fast as the pipeline takes the frames.
    #[default]
    Fast,
    /// At the pace of the frames' exchange timestamps.
    Recorded,
}

/// Options of the `replay` source.
#[derive(Clone, Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// NDJSON file of raw Kraken v2 frames, one per line; `-` reads standard input.
    pub path: PathBuf,
    /// `fast` plays as fast as the pipeline takes frames; `recorded` keeps the gaps between the
    /// frames' exchange timestamps.
    #[serde(default)]
    pub pace: Pace,
    /// Book depth for symbols whose subscription ack is not in the file (10, 25, 100, 500 or
    /// 1000).
    #[serde(default = "default_depth")]
    pub depth: u16,
    /// Precision for symbols whose `instrument` frame is not in the file:
    /// `{SYMBOL: [price_precision, qty_precision]}`.
    #[serde(default)]
    pub precision: BTreeMap<String, [u8; 2]>,
    /// How many times to play the file (for benchmarks and soak runs).
    #[serde(default = "default_repeat")]
    pub repeat: u32,
}

fn default_depth() -> u16 {
    10
}

fn default_repeat() -> u32 {
    1
}

/// The depths Kraken accepts for book subscriptions.
pub const KRAKEN_DEPTHS: [u16; 5] = [10, 25, 100, 500, 1000];

#[async_trait]
impl SourceConfig for ReplayConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.path.as_os_str().is_empty() {
            errors.push(ConfigError::new(
                "path",
                "must name a file, or `-` for standard input",
            ));
        }
        if !KRAKEN_DEPTHS.contains(&self.depth) {
            errors.push(ConfigError::new(
                "depth",
                format!(
                    "{} is not a Kraken book depth; expected one of 10, 25, 100, 500, 1000",
                    self.depth
                ),
            ));
        }
        if self.repeat == 0 {
            errors.push(ConfigError::new("repeat", "must be at least 1"));
        }
        for (symbol, [pp, qp]) in &self.precision {
            if let Err(e) = Symbol::new(symbol) {
                errors.push(ConfigError::new(
                    format!("precision.{symbol}"),
                    e.to_string(),
                ));
            }
            if *pp > Decimal::MAX_SCALE || *qp > Decimal::MAX_SCALE {
                errors.push(ConfigError::new(
                    format!("precision.{symbol}"),
                    format!("precisions must be 0 to {}", Decimal::MAX_SCALE),
                ));
            }
        }
        errors
    }

    fn book_hints(&self) -> BookHints {
        BookHints {
            depth: usize::from(self.depth),
            precision: self
                .precision
                .iter()
                .filter_map(|(s, [pp, qp])| {
                    Some((
                        Symbol::new(s).ok()?,
                        InstrumentInfo {
                            price_precision: *pp,
                            qty_precision: *qp,
                        },
                    ))
                })
                .collect(),
        }
    }

    async fn build(&self) -> Result<Box<dyn Source>, ComponentError> {
        if self.path.as_os_str() != "-" {
            // Fail at build time, before anything runs, with the path in the message.
            tokio::fs::metadata(&self.path)
                .await
                .map_err(|e| ReplayError::Open(self.path.clone(), e))?;
        }
        Ok(Box::new(ReplaySource {
            config: self.clone(),
        }))
    }
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file could not be opened.
    #[error("cannot open {0}: {1}")]
    Open(PathBuf, #[source] std::io::Error),
    /// Reading failed part way.
    #[error("reading {0} failed after line {1}: {2}")]
    Read(PathBuf, u64, #[source] std::io::Error),
}

struct ReplaySource {
    config: ReplayConfig,
}

#[async_trait]
impl Source for ReplaySource {
    async fn run(self: Box<Self>, mut cx: SourceContext) -> Result<SourceReport, ComponentError> {
        let mut player = Player::new(&self.config, &cx);
        for _ in 0..self.config.repeat {
            if cx.shutdown.is_cancelled() {
                break;
            }
            let reader: Box<dyn AsyncRead + Unpin + Send> = if self.config.path.as_os_str() == "-" {
                Box::new(tokio::io::stdin())
            } else {
                Box::new(
                    tokio::fs::File::open(&self.config.path)
                        .await
                        .map_err(|e| ReplayError::Open(self.config.path.clone(), e))?,
                )
            };
            player.play(reader, &mut cx).await?;
        }
        player.flush(&mut cx).await?;
        let r = &player.report;
        tracing::info!(
            path = %self.config.path.display(),
            frames = r.frames,
            events = r.events,
            malformed = r.malformed,
            "replay finished"
        );
        Ok(player.report)
    }
}

/// Plays one pass of the file; keeps counters across passes.
struct Player {
    path: PathBuf,
    pace: Pace,
    emit_raw: bool,
    batch_size: usize,
    batch: EventBatch,
    report: SourceReport,
    line: u64,
    clock: Option<(Timestamp, Instant)>,
    last_progress: Instant,
}

impl Player {
    fn new(config: &ReplayConfig, cx: &SourceContext) -> Self {
        let batch_size = cx.output.batch_size().max(1);
        Self {
            path: config.path.clone(),
            pace: config.pace,
            emit_raw: cx.emit_raw,
            batch_size,
            batch: EventBatch::with_capacity(batch_size * 2),
            report: SourceReport::default(),
            line: 0,
            clock: None,
            last_progress: Instant::now(),
        }
    }

    async fn play(
        &mut self,
        mut reader: Box<dyn AsyncRead + Unpin + Send>,
        cx: &mut SourceContext,
    ) -> Result<(), ComponentError> {
        self.line = 0;
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        loop {
            let received = Timestamp::now();
            while let Some(end) = memchr::memchr(b'\n', &buf) {
                let line = buf.split_to(end + 1).freeze().slice(..end);
                self.frame(line, received, cx).await?;
            }
            if cx.shutdown.is_cancelled() {
                return Ok(());
            }
            buf.reserve(READ_CHUNK);
            let n = reader
                .read_buf(&mut buf)
                .await
                .map_err(|e| ReplayError::Read(self.path.clone(), self.line, e))?;
            if n == 0 {
                if !buf.is_empty() {
                    // A last line without a newline is still a frame.
                    let line = buf.split().freeze();
                    self.frame(line, Timestamp::now(), cx).await?;
                }
                return Ok(());
            }
            if self.last_progress.elapsed() >= PROGRESS_EVERY {
                self.last_progress = Instant::now();
                tracing::info!(
                    frames = self.report.frames,
                    malformed = self.report.malformed,
                    "replaying"
                );
            }
        }
    }

    async fn frame(
        &mut self,
        line: Bytes,
        received: Timestamp,
        cx: &mut SourceContext,
    ) -> Result<(), ComponentError> {
        self.line += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        self.report.frames += 1;
        if self.emit_raw {
            self.batch
                .push(Event::new(None, received, EventKind::Raw(line.clone())));
        }
        let before = self.batch.len();
        // SIMD validation: every byte of every frame passes through here.
        let decoded = simdutf8::compat::from_utf8(&line)
            .map_err(|e| format!("not UTF-8: {e}"))
            .and_then(|text| {
                decode_frame(text.trim(), received, &mut self.batch.events)
                    .map_err(|e| e.to_string())
            });
        if let Err(reason) = decoded {
            self.report.malformed += 1;
            if self.report.malformed <= SHOWN_MALFORMED {
                tracing::warn!(
                    "{}:{}: skipped malformed frame: {reason}",
                    self.path.display(),
                    self.line
                );
            } else if self.report.malformed == SHOWN_MALFORMED + 1 {
                tracing::warn!(
                    "{}: more malformed frames; counting without showing",
                    self.path.display()
                );
            }
        }
        if self.pace == Pace::Recorded {
            if let Some(ts) = self.batch.events[before..]
                .iter()
                .find_map(|e| e.exchange_ts)
            {
                self.wait_until(ts, cx).await?;
            }
        }
        if self.batch.len() >= self.batch_size {
            self.flush(cx).await?;
        }
        Ok(())
    }

    /// Holds the frame back until its place on the recorded timeline.
    async fn wait_until(
        &mut self,
        ts: Timestamp,
        cx: &mut SourceContext,
    ) -> Result<(), ComponentError> {
        let (first, start) = *self.clock.get_or_insert((ts, Instant::now()));
        let offset = Duration::from_nanos(u64::try_from(ts.0 - first.0).unwrap_or(0));
        let due = start + offset;
        if due > Instant::now() {
            self.flush(cx).await?;
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = cx.shutdown.cancelled() => {}
            }
        }
        Ok(())
    }

    async fn flush(&mut self, cx: &mut SourceContext) -> Result<(), ComponentError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(
            &mut self.batch,
            EventBatch::with_capacity(self.batch_size * 2),
        );
        self.report.events += batch.len() as u64;
        cx.output.send(batch).await?;
        Ok(())
    }
}

/// Registers the `replay` source.
pub fn register(registry: &mut crate::registry::Registry) {
    registry.add_source::<ReplayConfig>(
        "replay",
        "plays an NDJSON file of raw Kraken frames (one per line) through the pipeline",
    );
}
