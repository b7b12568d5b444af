//! The `kafka` sink: records to Kafka through a pool of librdkafka producers, ordered per
//! symbol, lossless under backpressure, with every record accounted for.
//!
//! - `config`: options, validation (librdkafka checks its own properties), secret redaction;
//! - `topic`: topic and key templates, symbol → legal topic name;
//! - `producer`: a pool member's delivery callbacks (counts, latency, wake-ups, take-backs);
//! - `stats`: per-topic delivery accounting and the closing report;
//! - `admin`: reachability, topic checks and creation;
//! - `metrics`: the old engine's instruments on the global meter;
//! - `sink`: the running sink (enqueue, backpressure, recovery, flush on close).

mod admin;
pub mod config;
mod metrics;
mod producer;
mod sink;
pub mod stats;
pub mod topic;

use async_trait::async_trait;
use kobe_core::{ComponentError, ConfigError, EventFilter, Sink, SinkConfig};

pub use config::{Compression, CreateTopic, KafkaConfig, OnDeliveryFailure, OnFull};
pub use stats::{KafkaReport, TopicCounts};

/// What can go wrong in the `kafka` sink. Every message names the topic or the brokers.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSinkError {
    /// The options are invalid (normally caught by `kobe validate`).
    #[error("invalid kafka options: {0}")]
    Config(String),
    /// librdkafka refused to create a client.
    #[error("cannot create a kafka client: {0}")]
    Client(String),
    /// The topic does not exist and `create_topic` is not set.
    #[error("topic {topic} does not exist on brokers {brokers}: create it, or set create_topic")]
    MissingTopic {
        /// The topic.
        topic: String,
        /// The bootstrap brokers.
        brokers: String,
    },
    /// Creating a topic failed.
    #[error("cannot create topic {topic} on brokers {brokers}: {cause}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The bootstrap brokers.
        brokers: String,
        /// librdkafka's or the broker's reason.
        cause: String,
    },
    /// A topic name made from a template is not legal.
    #[error("{0}")]
    TopicName(String),
    /// A record could not be delivered and `on_delivery_failure` is `stop`.
    #[error("{0} (on_delivery_failure: stop)")]
    Delivery(String),
}

#[async_trait]
impl SinkConfig for KafkaConfig {
    fn validate(&self) -> Vec<ConfigError> {
        self.check()
    }

    fn default_events(&self) -> EventFilter {
        self.format.default_events()
    }

    async fn build(&self, id: &str) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(sink::KafkaSink::build(self, id).await?))
    }
}
