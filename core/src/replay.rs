//! The `replay` source: plays an NDJSON file of raw Kraken frames (one frame per line, the
//! format `kobe record` writes and the fixtures use) through the pipeline.
//!
//! Lines are cut from large reads without copying; each frame is decoded exactly as the live
//! source would. Malformed lines are counted and reported with their line numbers, and the
//! replay keeps going.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::task::JoinHandle;

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

/// What a replayed event's `received_ts` is.
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
pub enum ReceivedTs {
    /// When the frame was read (the wall clock).
    #[default]
    Read,
    /// The frame's exchange timestamp (the last one seen for frames without one, zero before
    /// any): two replays of a file then write the same records, byte for byte.
    Exchange,
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
    /// `read` stamps events with the time their frame was read; `exchange` with the frame's
    /// exchange timestamp, so replays are reproducible byte for byte.
    #[serde(default)]
    pub received_ts: ReceivedTs,
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
            // A file cannot be asked for a fresh snapshot.
            can_resync: false,
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
            ..BookHints::default()
        }
    }

    fn input_size(&self) -> Option<u64> {
        let meta = std::fs::metadata(&self.path).ok()?;
        meta.is_file()
            .then(|| meta.len().saturating_mul(u64::from(self.repeat)))
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
            let input = Input::open(&self.config.path).await?;
            player.play(input, &mut cx).await?;
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

/// Bytes read by every replay of this process (one count per read, not per frame).
static BYTES_READ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Bytes every replay source of this process has read so far, over all passes: with
/// [`crate::component::SourceConfig::input_size`] it drives the progress bar of `kobe run`.
pub fn bytes_read() -> u64 {
    BYTES_READ.load(std::sync::atomic::Ordering::Relaxed)
}

/// Plays one pass of the file; keeps counters across passes.
struct Player {
    path: PathBuf,
    pace: Pace,
    received_ts: ReceivedTs,
    /// The last exchange timestamp seen (for `received_ts: exchange`).
    last_exchange: Timestamp,
    emit_raw: bool,
    batch_size: usize,
    batch: EventBatch,
    report: SourceReport,
    line: u64,
    clock: Option<(Timestamp, Instant)>,
    last_progress: Instant,
    /// The two read buffers, kept for the next pass of `repeat`.
    buffers: [Vec<u8>; 2],
}

impl Player {
    fn new(config: &ReplayConfig, cx: &SourceContext) -> Self {
        let batch_size = cx.output.batch_size().max(1);
        Self {
            path: config.path.clone(),
            pace: config.pace,
            received_ts: config.received_ts,
            last_exchange: Timestamp(0),
            emit_raw: cx.emit_raw,
            batch_size,
            batch: EventBatch::with_capacity(batch_size * 2),
            report: SourceReport::default(),
            line: 0,
            clock: None,
            last_progress: Instant::now(),
            buffers: [vec![0; READ_CHUNK], vec![0; READ_CHUNK]],
        }
    }

    async fn play(
        &mut self,
        mut input: Input,
        cx: &mut SourceContext,
    ) -> Result<(), ComponentError> {
        self.line = 0;
        let read_failed = |path: &Path, line: u64| {
            let path = path.to_path_buf();
            move |e| ReplayError::Read(path, line, e)
        };
        // Two buffers, zeroed once per run: lines are decoded from one while the next read
        // fills the other, after the partial last line carried over.
        let [first, mut spare] = std::mem::take(&mut self.buffers);
        input
            .start(first, 0)
            .map_err(read_failed(&self.path, self.line))?;
        loop {
            // Standard input may stay silent for good: shutdown must not wait for it.
            let read = tokio::select! {
                // A read that completed is processed: those bytes were accepted.
                biased;
                read = input.finish() => read,
                _ = cx.shutdown.cancelled() => return Ok(()),
            };
            let (buf, filled, n) = read.map_err(read_failed(&self.path, self.line))?;
            BYTES_READ.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            if n == 0 {
                if filled > 0 {
                    // A last line without a newline is still a frame.
                    self.frame(&buf[..filled], Timestamp::now(), cx).await?;
                }
                self.buffers = [buf, spare];
                return Ok(());
            }
            let received = Timestamp::now();
            let lines_end = memchr::memrchr(b'\n', &buf[..filled]).map_or(0, |i| i + 1);
            let carried = filled - lines_end;
            if spare.len() < carried {
                spare.resize(carried, 0);
            }
            spare[..carried].copy_from_slice(&buf[lines_end..filled]);
            input
                .start(std::mem::take(&mut spare), carried)
                .map_err(read_failed(&self.path, self.line))?;
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', &buf[..lines_end]) {
                self.frame(&buf[start..end], received, cx).await?;
                start = end + 1;
            }
            spare = buf;
            // What was read goes on now, not when a later read fills the batch: a pipe may
            // stay quiet for a long time.
            self.flush(cx).await?;
            if cx.shutdown.is_cancelled() {
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
        line: &[u8],
        received: Timestamp,
        cx: &mut SourceContext,
    ) -> Result<(), ComponentError> {
        self.line += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        self.report.frames += 1;
        let first = self.batch.len();
        if self.emit_raw {
            self.batch.push(Event::new(
                None,
                received,
                EventKind::Raw(Bytes::copy_from_slice(line)),
            ));
        }
        let before = self.batch.len();
        // SIMD validation: every byte of every frame passes through here.
        let decoded = simdutf8::compat::from_utf8(line)
            .map_err(|e| format!("not UTF-8: {e}"))
            .and_then(|text| {
                decode_frame(text.trim(), received, &mut self.batch.events)
                    .map_err(|e| e.to_string())
            });
        if decoded.is_ok() {
            self.report.decoded += 1;
            if self.emit_raw {
                let (raw, events) = self.batch.events[first..].split_at_mut(before - first);
                if let Some(raw) = raw.first_mut() {
                    raw.tag_raw(events);
                }
            }
        }
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
        if self.received_ts == ReceivedTs::Exchange {
            let frame_events = &mut self.batch.events[first..];
            if let Some(ts) = frame_events.iter().find_map(|e| e.exchange_ts) {
                self.last_exchange = ts;
            }
            for e in frame_events {
                e.received_ts = self.last_exchange;
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

/// The replayed file or standard input. Reads run on the blocking pool straight into the
/// player's buffer (an async file would read into its own buffer and copy every byte again),
/// one read ahead of the lines being decoded.
struct Input {
    /// The reader, while no read is in flight.
    idle: Option<Box<dyn Read + Send>>,
    in_flight: Option<JoinHandle<ReadDone>>,
}

type ReadDone = (Box<dyn Read + Send>, Vec<u8>, usize, std::io::Result<usize>);

impl Input {
    async fn open(path: &Path) -> Result<Self, ReplayError> {
        let reader: Box<dyn Read + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin())
        } else {
            let owned = path.to_path_buf();
            let file = tokio::task::spawn_blocking(move || std::fs::File::open(owned))
                .await
                .map_err(|e| ReplayError::Open(path.to_path_buf(), std::io::Error::other(e)))?
                .map_err(|e| ReplayError::Open(path.to_path_buf(), e))?;
            Box::new(file)
        };
        Ok(Self {
            idle: Some(reader),
            in_flight: None,
        })
    }

    /// Starts reading into `buf` after its first `kept` bytes (which it keeps).
    fn start(&mut self, mut buf: Vec<u8>, kept: usize) -> std::io::Result<()> {
        // Only a panicked read (a bug) loses the reader; the replay then fails cleanly.
        let mut reader = self
            .idle
            .take()
            .ok_or_else(|| std::io::Error::other("the input was lost by an earlier failure"))?;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            if buf.len() < kept + READ_CHUNK / 2 {
                // A fresh buffer, or a line longer than the buffer: grow, so that every read
                // has room (a read into no room would look like the end of the input).
                buf.resize(kept + READ_CHUNK, 0);
            }
            let result = loop {
                match reader.read(&mut buf[kept..]) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    r => break r,
                }
            };
            (reader, buf, kept, result)
        }));
        Ok(())
    }

    /// Waits for the read started last: the buffer, how many bytes of it hold data, and how
    /// many of those are new (0 at the end of the input).
    async fn finish(&mut self) -> std::io::Result<(Vec<u8>, usize, usize)> {
        let task = self
            .in_flight
            .take()
            .ok_or_else(|| std::io::Error::other("no read was started"))?;
        let (reader, buf, kept, result) = task.await.map_err(std::io::Error::other)?;
        self.idle = Some(reader);
        let n = result?;
        Ok((buf, kept + n, n))
    }
}

/// Registers the `replay` source.
pub fn register(registry: &mut crate::registry::Registry) {
    registry.add_source::<ReplayConfig>(
        "replay",
        "plays an NDJSON file of raw Kraken frames (one per line) through the pipeline",
    );
}
