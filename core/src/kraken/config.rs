//! [`KrakenSourceConfig`]: options of the `kraken` source, checked without I/O.

use async_trait::async_trait;

use crate::component::{BookHints, ComponentError, ConfigError, Source, SourceConfig};
use crate::replay::KRAKEN_DEPTHS;
use crate::symbol::Symbol;

use super::error::KrakenError;

/// Kraken's public WebSocket v2 endpoint.
pub const DEFAULT_URL: &str = "wss://ws.kraken.com/v2";

/// The old engine's endpoint (v1); mapped to [`DEFAULT_URL`] with a notice.
const LEGACY_URL: &str = "wss://ws.kraken.com";

/// Options of the `kraken` source: Kraken spot WebSocket v2 books.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KrakenSourceConfig {
    /// WebSocket endpoint. `wss://ws.kraken.com` (the old engine's v1 URL) is mapped to
    /// `wss://ws.kraken.com/v2`; `ws://` is accepted for the local simulator.
    #[serde(default = "default_url")]
    pub url: String,
    /// Pairs to subscribe (`[BTC/USD, ETH/USD]`), or `all` for every online pair of the
    /// instrument channel.
    pub symbols: Symbols,
    /// Book depth: 10, 25, 100, 500 or 1000 levels a side.
    #[serde(default = "default_depth")]
    pub depth: u16,
    /// Reconnect policy.
    #[serde(default)]
    pub reconnect: ReconnectConfig,
    /// Send a ping after this many milliseconds without a frame.
    #[serde(default = "default_ping_interval_ms")]
    pub ping_interval_ms: u64,
    /// Drop and reconnect a connection silent for this many milliseconds (Kraken sends
    /// heartbeats about once a second).
    #[serde(default = "default_stall_timeout_ms")]
    pub stall_timeout_ms: u64,
    /// Give up a connection attempt (TCP, TLS and WebSocket handshake) after this long.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// A subscription (or resync) with no ack or no snapshot after this long is retried.
    #[serde(default = "default_snapshot_timeout_ms")]
    pub snapshot_timeout_ms: u64,
    /// Consecutive failed resyncs of one symbol before it is reported and its connection
    /// recycled; later retries wait the maximum backoff.
    #[serde(default = "default_resync_max_attempts")]
    pub resync_max_attempts: u32,
    /// Most symbols on one WebSocket connection; more symbols open more connections.
    #[serde(default = "default_symbols_per_connection")]
    pub symbols_per_connection: usize,
    /// Keep only the symbols whose stable hash falls in this shard (for running several kobe
    /// processes with disjoint symbol sets).
    #[serde(default)]
    pub shard: Option<ShardConfig>,
}

/// The symbols to subscribe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Symbols {
    /// These pairs.
    List(Vec<String>),
    /// The keyword `all`: every online pair.
    Keyword(String),
}

/// One shard of the symbol set: keeps symbols with `stable_hash % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardConfig {
    /// This process's shard, `0..count`.
    pub index: u64,
    /// How many shards the symbol set is split into.
    pub count: u64,
}

impl ShardConfig {
    /// Whether `symbol` belongs to this shard.
    pub fn keeps(&self, symbol: &Symbol) -> bool {
        self.count == 0 || symbol.stable_hash() % self.count == self.index
    }
}

/// How a lost connection is re-established.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconnectConfig {
    /// Delay after the first failure, in ms; doubles with each further failure.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// Longest delay between attempts, in ms.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Up to this percentage is taken off each delay at random (0 to 100), so clients do not
    /// reconnect in lockstep.
    #[serde(default = "default_jitter_percent")]
    pub jitter_percent: u8,
    /// Once failures repeat, attempts are at least this far apart, in ms (Kraken asks for 5 s).
    #[serde(default = "default_min_interval_ms")]
    pub min_interval_after_failures_ms: u64,
    /// Consecutive failures after which the minimum interval applies.
    #[serde(default = "default_failures_before_floor")]
    pub failures_before_floor: u32,
    /// Stop after this many consecutive failed attempts (terminal error); unset retries
    /// forever.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Most connection attempts per 10 minutes over all connections (Kraken allows about 150
    /// per IP).
    #[serde(default = "default_max_connects")]
    pub max_connects_per_10min: u32,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            jitter_percent: default_jitter_percent(),
            min_interval_after_failures_ms: default_min_interval_ms(),
            failures_before_floor: default_failures_before_floor(),
            max_attempts: None,
            max_connects_per_10min: default_max_connects(),
        }
    }
}

fn default_url() -> String {
    DEFAULT_URL.into()
}
fn default_depth() -> u16 {
    10
}
fn default_ping_interval_ms() -> u64 {
    5_000
}
fn default_stall_timeout_ms() -> u64 {
    15_000
}
fn default_connect_timeout_ms() -> u64 {
    10_000
}
fn default_snapshot_timeout_ms() -> u64 {
    10_000
}
fn default_resync_max_attempts() -> u32 {
    3
}
fn default_symbols_per_connection() -> usize {
    100
}
fn default_initial_backoff_ms() -> u64 {
    1_000
}
fn default_max_backoff_ms() -> u64 {
    60_000
}
fn default_jitter_percent() -> u8 {
    20
}
fn default_min_interval_ms() -> u64 {
    5_000
}
fn default_failures_before_floor() -> u32 {
    2
}
fn default_max_connects() -> u32 {
    150
}

impl KrakenSourceConfig {
    /// A config for `symbols` at `url` with every other option at its default.
    pub fn new(url: impl Into<String>, symbols: Vec<String>, depth: u16) -> Self {
        Self {
            url: url.into(),
            symbols: Symbols::List(symbols),
            depth,
            reconnect: ReconnectConfig::default(),
            ping_interval_ms: default_ping_interval_ms(),
            stall_timeout_ms: default_stall_timeout_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
            snapshot_timeout_ms: default_snapshot_timeout_ms(),
            resync_max_attempts: default_resync_max_attempts(),
            symbols_per_connection: default_symbols_per_connection(),
            shard: None,
        }
    }

    /// The endpoint to connect to, with the old v1 URL mapped to v2.
    pub fn effective_url(&self) -> String {
        let trimmed = self.url.trim_end_matches('/');
        if trimmed == LEGACY_URL {
            tracing::info!(
                "{LEGACY_URL} is Kraken's v1 endpoint; kobe speaks v2: using {DEFAULT_URL}"
            );
            DEFAULT_URL.into()
        } else {
            self.url.clone()
        }
    }

    /// The configured symbols (deduplicated, in order, shard applied), or `None` for `all`.
    pub fn symbol_list(&self) -> Result<Option<Vec<Symbol>>, KrakenError> {
        match &self.symbols {
            Symbols::Keyword(k) if k == "all" => Ok(None),
            Symbols::Keyword(k) => Err(KrakenError::Config(format!(
                "symbols: expected a list of pairs or `all`, got {k:?}"
            ))),
            Symbols::List(list) => {
                let mut out: Vec<Symbol> = Vec::with_capacity(list.len());
                for s in list {
                    let sym = Symbol::new(s).map_err(|e| KrakenError::Config(e.to_string()))?;
                    if !out.contains(&sym) && self.shard.is_none_or(|sh| sh.keeps(&sym)) {
                        out.push(sym);
                    }
                }
                Ok(Some(out))
            }
        }
    }
}

#[async_trait]
impl SourceConfig for KrakenSourceConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let url = self.url.trim();
        if !(url.starts_with("wss://") || url.starts_with("ws://")) {
            errors.push(ConfigError::new(
                "url",
                format!("{url:?} is not a WebSocket URL (wss://... or ws://...)"),
            ));
        }
        match &self.symbols {
            Symbols::Keyword(k) if k == "all" => {}
            Symbols::Keyword(k) => errors.push(ConfigError::new(
                "symbols",
                format!("expected a list of pairs or `all`, got {k:?}"),
            )),
            Symbols::List(list) => {
                if list.is_empty() {
                    errors.push(ConfigError::new(
                        "symbols",
                        "must name at least one pair, or be `all`",
                    ));
                }
                for (i, s) in list.iter().enumerate() {
                    if let Err(e) = Symbol::new(s) {
                        errors.push(ConfigError::new(format!("symbols[{i}]"), e.to_string()));
                    } else if !s.contains('/') {
                        errors.push(ConfigError::new(
                            format!("symbols[{i}]"),
                            format!("{s:?} is not a v2 pair name (BASE/QUOTE, e.g. BTC/USD)"),
                        ));
                    }
                }
            }
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
        let r = &self.reconnect;
        if r.initial_backoff_ms == 0 {
            errors.push(ConfigError::new(
                "reconnect.initial_backoff_ms",
                "must be above 0",
            ));
        }
        if r.max_backoff_ms < r.initial_backoff_ms {
            errors.push(ConfigError::new(
                "reconnect.max_backoff_ms",
                "must be at least initial_backoff_ms",
            ));
        }
        if r.jitter_percent > 100 {
            errors.push(ConfigError::new(
                "reconnect.jitter_percent",
                "must be 0 to 100",
            ));
        }
        if r.max_attempts == Some(0) {
            errors.push(ConfigError::new(
                "reconnect.max_attempts",
                "must be at least 1",
            ));
        }
        if r.max_connects_per_10min == 0 {
            errors.push(ConfigError::new(
                "reconnect.max_connects_per_10min",
                "must be at least 1",
            ));
        }
        for (field, v) in [
            ("ping_interval_ms", self.ping_interval_ms),
            ("stall_timeout_ms", self.stall_timeout_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("snapshot_timeout_ms", self.snapshot_timeout_ms),
        ] {
            if v == 0 {
                errors.push(ConfigError::new(field, "must be above 0"));
            }
        }
        if self.stall_timeout_ms <= self.ping_interval_ms {
            errors.push(ConfigError::new(
                "stall_timeout_ms",
                "must be longer than ping_interval_ms, or idle connections are dropped before a ping can answer",
            ));
        }
        if self.resync_max_attempts == 0 {
            errors.push(ConfigError::new(
                "resync_max_attempts",
                "must be at least 1",
            ));
        }
        if self.symbols_per_connection == 0 {
            errors.push(ConfigError::new(
                "symbols_per_connection",
                "must be at least 1",
            ));
        }
        if let Some(sh) = self.shard {
            if sh.count == 0 {
                errors.push(ConfigError::new("shard.count", "must be at least 1"));
            } else if sh.index >= sh.count {
                errors.push(ConfigError::new(
                    "shard.index",
                    format!("must be below shard.count ({})", sh.count),
                ));
            }
        }
        errors
    }

    fn book_hints(&self) -> BookHints {
        BookHints {
            depth: usize::from(self.depth),
            expected: self.symbol_list().ok().flatten().unwrap_or_default(),
            ..BookHints::default()
        }
    }

    async fn build(&self) -> Result<Box<dyn Source>, ComponentError> {
        let problems = self.validate();
        if !problems.is_empty() {
            let text = problems
                .iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Box::new(KrakenError::Config(text)));
        }
        Ok(Box::new(super::source::KrakenSource::new(self.clone())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> KrakenSourceConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_and_all_keyword() {
        let c = parse("symbols: all\n");
        assert_eq!(c.url, DEFAULT_URL);
        assert_eq!(c.depth, 10);
        assert!(c.validate().is_empty());
        assert!(c.symbol_list().unwrap().is_none());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let c = parse(
            "url: http://x\nsymbols: [BTCUSD, '']\ndepth: 7\nshard: {index: 3, count: 2}\nreconnect: {jitter_percent: 150}\n",
        );
        let paths: Vec<String> = c.validate().into_iter().map(|e| e.path).collect();
        for p in [
            "url",
            "symbols[0]",
            "symbols[1]",
            "depth",
            "shard.index",
            "reconnect.jitter_percent",
        ] {
            assert!(paths.iter().any(|x| x == p), "{p} missing from {paths:?}");
        }
    }

    #[test]
    fn legacy_url_maps_to_v2_and_shards_split_symbols() {
        let mut c = parse("url: wss://ws.kraken.com\nsymbols: [A/B, C/D, E/F, G/H, A/B]\n");
        assert_eq!(c.effective_url(), DEFAULT_URL);
        assert_eq!(c.symbol_list().unwrap().unwrap().len(), 4);
        let mut seen = 0;
        for i in 0..3 {
            c.shard = Some(ShardConfig { index: i, count: 3 });
            seen += c.symbol_list().unwrap().unwrap().len();
        }
        assert_eq!(seen, 4, "shards must partition the symbols");
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_saphyr::from_str::<KrakenSourceConfig>("symbols: all\nfoo: 1\n").is_err());
    }
}
