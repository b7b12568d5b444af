//! The `kafka` sink's options, their pure validation, and the librdkafka configuration they
//! turn into.

use std::collections::BTreeMap;
use std::fmt;

use kobe_core::record::RecordFormat;
use kobe_core::ConfigError;
use rdkafka::ClientConfig;

use super::topic::Template;

/// Options of the `kafka` sink.
#[derive(Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port` each (`[localhost:9092]`).
    pub brokers: Vec<String>,
    /// The topic: a name, or a template with `{symbol}` and `{type}` (`kraken.{symbol}`).
    /// A symbol becomes a legal topic name by replacing `/` with `-` and any other character
    /// outside `[A-Za-z0-9._-]` with `_` (`BTC/USD` -> `BTC-USD`); events without a symbol
    /// (status, heartbeat) use `none` for `{symbol}`. `{type}` is the record type
    /// (`book_update`).
    pub topic: String,
    /// The message key, a template like `topic` with the symbol as it is (`BTC/USD`). Default
    /// `{symbol}`: a symbol always lands on the same partition. Empty, or `{symbol}` for an
    /// event without a symbol, sends no key.
    #[serde(default = "default_key")]
    pub key: String,
    /// `json` (one versioned JSON record per message) or `raw` (the Kraken frame as received).
    #[serde(default)]
    pub format: RecordFormat,
    /// Producers in the pool. A symbol always goes to the same producer, so its records stay
    /// in order.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Compression of message batches: `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    #[serde(default)]
    pub compression: Compression,
    /// How long librdkafka waits to fill a batch before sending it, in milliseconds
    /// (`linger.ms`).
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// How long a record may take to be acknowledged, retries included, before it counts as
    /// undelivered, in milliseconds (`message.timeout.ms`).
    #[serde(default = "default_delivery_timeout_ms")]
    pub delivery_timeout_ms: u64,
    /// At shutdown, how long to wait for every producer's outstanding records to be
    /// acknowledged, in milliseconds. What is still unacknowledged then is reported as
    /// undelivered and the exit status is non-zero.
    #[serde(default = "default_flush_timeout_ms")]
    pub flush_timeout_ms: u64,
    /// When a producer's queue (librdkafka's `queue.buffering.max.messages`) is full: `block`
    /// waits, so backpressure reaches the source; `drop` drops the record and counts it.
    #[serde(default)]
    pub on_full: OnFull,
    /// When a record cannot be delivered (after `delivery_timeout_ms`, or a permanent error
    /// such as a missing topic, a record over the size limit, or an authorization failure):
    /// `stop` drains and stops the pipeline with a non-zero exit; `log` reports it, counts it
    /// and goes on. Either way the topic and the cause are logged.
    #[serde(default)]
    pub on_delivery_failure: OnDeliveryFailure,
    /// Create the topic through the admin API when it is missing (at start, when a templated
    /// topic is first used, and when a broker that lost its state comes back). Without it a
    /// missing topic is an error.
    #[serde(default)]
    pub create_topic: Option<CreateTopic>,
    /// A producer with records outstanding and no delivery report for this long, while the
    /// brokers answer metadata requests, is taken to have been forgotten by a broker that lost
    /// its state (it answers `UnknownProducerId` forever): it is replaced by a fresh producer
    /// and its undelivered records are resent in order, in milliseconds.
    #[serde(default = "default_stall_timeout_ms")]
    pub stall_timeout_ms: u64,
    /// Any librdkafka producer property, passed through (`security.protocol: SASL_SSL`,
    /// `queue.buffering.max.messages: 200000`). librdkafka itself checks the names and values
    /// at `kobe validate` time. Values of secret properties (`sasl.password`, `*.password`,
    /// `*secret*`, `ssl.key.pem`, `sasl.oauthbearer.config`) never appear in logs, errors or
    /// printed pipelines. The typed options above have their own property: set them there.
    #[serde(default)]
    pub librdkafka: BTreeMap<String, PropertyValue>,
}

/// A librdkafka property value as written in the pipeline (librdkafka takes text).
#[derive(Clone, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum PropertyValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Any text (write fractional numbers as text).
    Text(String),
}

impl fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Text(t) => f.write_str(t),
        }
    }
}

/// Compression codec of message batches.
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
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// librdkafka's name (`compression.codec`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// What to do when a producer's queue is full.
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
pub enum OnFull {
    /// Wait for room: backpressure reaches the source.
    #[default]
    Block,
    /// Drop the record and count it.
    Drop,
}

/// What to do when a record cannot be delivered.
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
pub enum OnDeliveryFailure {
    /// Drain and stop the pipeline; the exit status is non-zero.
    #[default]
    Stop,
    /// Log and count it, and go on.
    Log,
}

/// How to create a missing topic.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    /// Partitions of the new topic.
    pub partitions: i32,
    /// Replicas of each partition.
    #[serde(default = "default_replication")]
    pub replication_factor: i32,
}

fn default_key() -> String {
    "{symbol}".into()
}
fn default_pool_size() -> usize {
    1
}
fn default_linger_ms() -> u64 {
    5
}
fn default_delivery_timeout_ms() -> u64 {
    300_000
}
fn default_flush_timeout_ms() -> u64 {
    10_000
}
fn default_stall_timeout_ms() -> u64 {
    5_000
}
fn default_replication() -> i32 {
    1
}

/// The most producers a pool may hold.
pub const MAX_POOL: usize = 64;

/// Properties the typed options own (set them through the option, not `librdkafka:`).
const OWNED: [(&str, &str); 6] = [
    ("bootstrap.servers", "brokers"),
    ("metadata.broker.list", "brokers"),
    ("compression.codec", "compression"),
    ("compression.type", "compression"),
    ("linger.ms", "linger_ms"),
    ("message.timeout.ms", "delivery_timeout_ms"),
];

/// Whether a librdkafka property holds a secret whose value must never be shown.
pub fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("password")
        || n.contains("secret")
        || n == "ssl.key.pem"
        || n == "sasl.oauthbearer.config"
        || n == "ssl.keystore.password"
}

/// A property's value as it may be shown: secrets as `***`.
pub fn shown(name: &str, value: &str) -> String {
    if is_secret(name) {
        "***".into()
    } else {
        value.into()
    }
}

impl fmt::Debug for KafkaConfig {
    // Written by hand so secrets never reach a log or a printed pipeline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let props: BTreeMap<&str, String> = self
            .librdkafka
            .iter()
            .map(|(k, v)| (k.as_str(), shown(k, &v.to_string())))
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("key", &self.key)
            .field("format", &self.format)
            .field("pool_size", &self.pool_size)
            .field("compression", &self.compression)
            .field("linger_ms", &self.linger_ms)
            .field("delivery_timeout_ms", &self.delivery_timeout_ms)
            .field("flush_timeout_ms", &self.flush_timeout_ms)
            .field("on_full", &self.on_full)
            .field("on_delivery_failure", &self.on_delivery_failure)
            .field("create_topic", &self.create_topic)
            .field("stall_timeout_ms", &self.stall_timeout_ms)
            .field("librdkafka", &props)
            .finish()
    }
}

impl KafkaConfig {
    /// Every problem with the options, without I/O (librdkafka checks its properties in
    /// memory).
    pub fn check(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.brokers.is_empty() {
            errors.push(ConfigError::new("brokers", "must list at least one broker"));
        }
        for (i, b) in self.brokers.iter().enumerate() {
            if b.trim().is_empty() || b.contains(',') {
                errors.push(ConfigError::new(
                    format!("brokers[{i}]"),
                    "must be one `host:port`",
                ));
            }
        }
        if let Err(e) = Template::topic(&self.topic) {
            errors.push(ConfigError::new("topic", e));
        }
        if let Err(e) = Template::key(&self.key) {
            errors.push(ConfigError::new("key", e));
        }
        if self.format == RecordFormat::Pretty {
            errors.push(ConfigError::new(
                "format",
                "kafka takes `json` or `raw` (`pretty` is for people)",
            ));
        }
        if self.pool_size == 0 || self.pool_size > MAX_POOL {
            errors.push(ConfigError::new(
                "pool_size",
                format!("must be between 1 and {MAX_POOL}"),
            ));
        }
        if self.linger_ms > 900_000 {
            errors.push(ConfigError::new("linger_ms", "must be at most 900000"));
        }
        if self.delivery_timeout_ms == 0 || self.delivery_timeout_ms > i32::MAX as u64 {
            errors.push(ConfigError::new(
                "delivery_timeout_ms",
                "must be between 1 and 2147483647",
            ));
        } else if self.delivery_timeout_ms < self.linger_ms {
            errors.push(ConfigError::new(
                "delivery_timeout_ms",
                "must be at least linger_ms",
            ));
        }
        if self.flush_timeout_ms == 0 {
            errors.push(ConfigError::new("flush_timeout_ms", "must be at least 1"));
        }
        if self.stall_timeout_ms < 100 {
            errors.push(ConfigError::new("stall_timeout_ms", "must be at least 100"));
        }
        if let Some(c) = &self.create_topic {
            if c.partitions < 1 {
                errors.push(ConfigError::new(
                    "create_topic.partitions",
                    "must be at least 1",
                ));
            }
            if c.replication_factor < 1 {
                errors.push(ConfigError::new(
                    "create_topic.replication_factor",
                    "must be at least 1",
                ));
            }
        }
        for (name, value) in &self.librdkafka {
            let path = format!("librdkafka.{name}");
            if let Some((_, option)) = OWNED.iter().find(|(p, _)| p == name) {
                errors.push(ConfigError::new(
                    path,
                    format!("set through the `{option}` option"),
                ));
                continue;
            }
            // Ask librdkafka about each property on its own, so every bad one is reported.
            let mut one = ClientConfig::new();
            one.set(name, value.to_string());
            if let Err(e) = one.create_native_config() {
                errors.push(ConfigError::new(path, refusal(name, &e)));
            }
        }
        errors
    }

    /// The librdkafka configuration of producer `index` of sink `id`: kobe's defaults, the
    /// typed options, then the pass-through properties.
    pub fn client_config(&self, id: &str, index: usize) -> ClientConfig {
        let mut c = self.base_config();
        c.set("client.id", format!("kobe-{id}-{index}"))
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("compression.codec", self.compression.as_str())
            .set("linger.ms", self.linger_ms.to_string())
            .set("message.timeout.ms", self.delivery_timeout_ms.to_string());
        for (name, value) in &self.librdkafka {
            c.set(name, value.to_string());
        }
        c
    }

    /// What every client of this sink shares (admin, metadata probes): the brokers and the
    /// connection and security properties.
    pub fn base_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.brokers.join(","));
        // Logs from librdkafka go through the context to `tracing`; keep it quiet by default.
        c.set("log_level", "4");
        for (name, value) in &self.librdkafka {
            if is_connection_property(name) {
                c.set(name, value.to_string());
            }
        }
        c
    }

    /// librdkafka's `queue.buffering.max.messages` as configured (its default otherwise).
    pub fn queue_capacity(&self) -> u64 {
        self.librdkafka
            .get("queue.buffering.max.messages")
            .and_then(|v| v.to_string().parse().ok())
            .unwrap_or(100_000)
    }
}

/// Connection, security and protocol properties: the ones an admin or metadata client needs.
fn is_connection_property(name: &str) -> bool {
    [
        "security.",
        "sasl.",
        "ssl.",
        "socket.",
        "broker.",
        "api.version",
        "client.dns",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// librdkafka's refusal of a property, without the value of a secret.
pub fn refusal(name: &str, e: &rdkafka::error::KafkaError) -> String {
    match e {
        rdkafka::error::KafkaError::ClientConfig(_, desc, _, _) => {
            let desc = if is_secret(name) {
                "invalid value".to_string()
            } else {
                desc.clone()
            };
            format!("librdkafka refuses it: {desc}")
        }
        other => format!("librdkafka refuses it: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> KafkaConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let c = config(serde_json::json!({
            "brokers": [],
            "topic": "a/b",
            "format": "pretty",
            "pool_size": 0,
            "create_topic": {"partitions": 0},
            "librdkafka": {"no.such.thing": 1, "linger.ms": 3, "acks": "all"},
        }));
        let paths: Vec<String> = c.check().into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            [
                "brokers",
                "topic",
                "format",
                "pool_size",
                "create_topic.partitions",
                "librdkafka.linger.ms",
                "librdkafka.no.such.thing",
            ]
        );
    }

    #[test]
    fn defaults_are_idempotent_acks_all_murmur2_and_pass_through_comes_last() {
        let c = config(serde_json::json!({
            "brokers": ["a:9092", "b:9092"],
            "topic": "t",
            "librdkafka": {"queue.buffering.max.messages": 5000, "acks": "1"},
        }));
        assert!(c.check().is_empty());
        let cc = c.client_config("out", 2);
        assert_eq!(cc.get("bootstrap.servers"), Some("a:9092,b:9092"));
        assert_eq!(cc.get("enable.idempotence"), Some("true"));
        assert_eq!(cc.get("partitioner"), Some("murmur2_random"));
        assert_eq!(cc.get("client.id"), Some("kobe-out-2"));
        assert_eq!(cc.get("acks"), Some("1"), "the pass-through wins");
        assert_eq!(c.queue_capacity(), 5000);
    }

    #[test]
    fn secrets_never_show() {
        let c = config(serde_json::json!({
            "brokers": ["a:9092"],
            "topic": "t",
            "librdkafka": {"sasl.password": "hunter2", "ssl.key.password": "hunter3",
                           "sasl.username": "kobe"},
        }));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        assert!(shown.contains("kobe"), "{shown}");
        // A refused value is never repeated in the message.
        let Err(bad) = ClientConfig::new()
            .set("linger.ms", "hunter4")
            .create_native_config()
        else {
            panic!("librdkafka refuses a word for a number");
        };
        let text = refusal("sasl.password", &bad);
        assert!(
            !text.contains("hunter4") && text.contains("invalid value"),
            "{text}"
        );
    }
}
