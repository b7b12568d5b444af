//! Talking to the cluster outside the produce path: is it reachable, does a topic exist,
//! create it. Blocking librdkafka calls run on tokio's blocking pool.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::config::{CreateTopic, KafkaConfig};
use super::KafkaSinkError;

/// An admin client of the sink's cluster.
#[derive(Clone)]
pub struct Admin {
    client: Arc<AdminClient<DefaultClientContext>>,
    brokers: String,
}

/// Whether topics exist, as the cluster answered.
pub struct TopicCheck {
    /// Names that the cluster does not know.
    pub missing: Vec<String>,
}

impl Admin {
    /// An admin client (no I/O until used).
    pub fn new(config: &KafkaConfig) -> Result<Self, KafkaSinkError> {
        let client = config
            .base_config()
            .create()
            .map_err(|e| KafkaSinkError::Client(e.to_string()))?;
        Ok(Self {
            client: Arc::new(client),
            brokers: config.brokers.join(","),
        })
    }

    /// Asks the cluster for its topics within `timeout`; an error means it did not answer.
    pub async fn check(
        &self,
        topics: Vec<String>,
        timeout: Duration,
    ) -> Result<TopicCheck, KafkaError> {
        let client = self.client.clone();
        tokio::task::spawn_blocking(move || {
            let metadata = client.inner().fetch_metadata(None, timeout)?;
            let missing = topics
                .into_iter()
                .filter(|name| {
                    !metadata
                        .topics()
                        .iter()
                        .any(|t| t.name() == name && t.error().is_none())
                })
                .collect();
            Ok(TopicCheck { missing })
        })
        .await
        .map_err(|_| KafkaError::Canceled)?
    }

    /// Creates `topic` (an existing one is fine).
    pub async fn create(&self, topic: &str, how: &CreateTopic) -> Result<(), KafkaSinkError> {
        let new = NewTopic::new(
            topic,
            how.partitions,
            TopicReplication::Fixed(how.replication_factor),
        );
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let failed = |cause: String| KafkaSinkError::CreateTopic {
            topic: topic.to_string(),
            brokers: self.brokers.clone(),
            cause,
        };
        let results = self
            .client
            .create_topics([&new], &opts)
            .await
            .map_err(|e| failed(e.to_string()))?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(failed(code.to_string())),
            }
        }
        tracing::info!(
            topic,
            partitions = how.partitions,
            replication_factor = how.replication_factor,
            "created topic"
        );
        Ok(())
    }
}
