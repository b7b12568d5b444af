//! The `debug` handler: logs a sample of the events, and a periodic one-line summary of the
//! shard's books.

use kobe_core::book::BookStats;
use kobe_core::{
    ComponentError, ConfigError, Event, EventBatch, Handler, HandlerConfig, HandlerContext,
    Timestamp,
};

/// A `tracing` level.
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
pub enum LogLevel {
    /// `trace`.
    Trace,
    /// `debug`.
    Debug,
    /// `info`.
    #[default]
    Info,
    /// `warn`.
    Warn,
    /// `error`.
    Error,
}

fn default_every() -> u64 {
    1
}

fn default_summary_interval() -> u64 {
    10
}

/// Options of the `debug` handler.
#[derive(Clone, Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DebugConfig {
    /// Level the events and summaries are logged at (`trace` .. `error`, default `info`).
    #[serde(default)]
    pub level: LogLevel,
    /// Log one event in every this many (default 1: all of them).
    #[serde(default = "default_every")]
    pub every: u64,
    /// Seconds between summary lines (default 10; 0 turns them off, the final one stays).
    #[serde(default = "default_summary_interval")]
    pub summary_interval: u64,
}

impl Default for DebugConfig {
    fn default() -> Self {
        Self {
            level: LogLevel::default(),
            every: default_every(),
            summary_interval: default_summary_interval(),
        }
    }
}

impl HandlerConfig for DebugConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        if self.every == 0 {
            problems.push(ConfigError::new("every", "must be at least 1"));
        }
        if self.summary_interval > 86_400 {
            problems.push(ConfigError::new(
                "summary_interval",
                "must be at most 86400 seconds (a day)",
            ));
        }
        problems
    }

    fn build(&self) -> Result<Box<dyn Handler>, ComponentError> {
        Ok(Box::new(Debug {
            config: self.clone(),
            seen: 0,
            since_summary: 0,
            last_summary: None,
        }))
    }
}

/// Logs every `every`-th event and periodic summaries; leaves the batch unchanged.
#[derive(Debug)]
pub struct Debug {
    config: DebugConfig,
    seen: u64,
    since_summary: u64,
    last_summary: Option<Timestamp>,
}

macro_rules! log_at {
    ($level:expr, $($arg:tt)+) => {
        match $level {
            LogLevel::Trace => tracing::trace!($($arg)+),
            LogLevel::Debug => tracing::debug!($($arg)+),
            LogLevel::Info => tracing::info!($($arg)+),
            LogLevel::Warn => tracing::warn!($($arg)+),
            LogLevel::Error => tracing::error!($($arg)+),
        }
    };
}

/// The summary line's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Summary {
    /// Symbols with a book.
    books: usize,
    /// Events per second since the previous summary.
    events_per_sec: u64,
    /// Book counters so far.
    stats: BookStats,
}

impl Debug {
    fn log_event(&self, event: &Event) {
        log_at!(
            self.config.level,
            symbol = event.symbol.as_ref().map(|s| s.as_str()),
            kind = event.event_type().as_str(),
            "event {:?}",
            event.kind
        );
    }

    /// The summary as of `now` (resets the rate window).
    fn summary(&mut self, books: usize, stats: BookStats, now: Timestamp) -> Summary {
        let elapsed = self
            .last_summary
            .map_or(0, |t| now.0.saturating_sub(t.0).max(0));
        let events_per_sec = if elapsed > 0 {
            (u128::from(self.since_summary) * 1_000_000_000 / elapsed as u128) as u64
        } else {
            0
        };
        self.since_summary = 0;
        self.last_summary = Some(now);
        Summary {
            books,
            events_per_sec,
            stats,
        }
    }
}

impl Handler for Debug {
    fn process(
        &mut self,
        batch: &mut EventBatch,
        _cx: &mut HandlerContext<'_>,
    ) -> Result<(), ComponentError> {
        for event in &batch.events {
            if self.seen % self.config.every == 0 {
                self.log_event(event);
            }
            self.seen += 1;
        }
        self.since_summary += batch.len() as u64;
        Ok(())
    }

    fn tick(&mut self, cx: &mut HandlerContext<'_>, last: bool) {
        let Some(previous) = self.last_summary else {
            self.last_summary = Some(cx.now);
            if !last {
                return;
            }
            let s = self.summary(cx.books.len(), cx.books.stats, cx.now);
            log_summary(self.config.level, cx.shard, &s, true);
            return;
        };
        let due = self.config.summary_interval > 0
            && cx.now.0.saturating_sub(previous.0)
                >= i64::try_from(self.config.summary_interval)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1_000_000_000);
        if due || last {
            let s = self.summary(cx.books.len(), cx.books.stats, cx.now);
            log_summary(self.config.level, cx.shard, &s, last);
        }
    }
}

fn log_summary(level: LogLevel, shard: usize, s: &Summary, last: bool) {
    log_at!(
        level,
        shard,
        books = s.books,
        events_per_sec = s.events_per_sec,
        snapshots = s.stats.snapshots,
        updates = s.stats.updates,
        dropped_updates = s.stats.dropped_updates,
        mismatches = s.stats.mismatches,
        resyncs = s.stats.resyncs,
        "{}",
        if last {
            "final book summary"
        } else {
            "book summary"
        }
    );
}
