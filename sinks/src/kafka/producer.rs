//! One member of the producer pool: a librdkafka producer whose delivery reports settle the
//! per-topic counters, feed the latency histogram, wake a sink waiting for queue room, and,
//! while the member is being replaced, hand back the records a purge returned.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use opentelemetry::metrics::Histogram;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use tokio::sync::Notify;

use super::stats::Topics;

/// Bits of the delivery opaque that hold the enqueue order; the topic index sits above them.
const ORDER_BITS: u32 = 48;
const ORDER_MASK: u64 = (1 << ORDER_BITS) - 1;

/// A message's delivery opaque: its topic and its enqueue order within its pool member.
pub fn opaque(topic: u32, order: u64) -> usize {
    ((u64::from(topic) << ORDER_BITS) | (order & ORDER_MASK)) as usize
}

fn split(opaque: usize) -> (u32, u64) {
    let v = opaque as u64;
    ((v >> ORDER_BITS) as u32, v & ORDER_MASK)
}

/// What the whole sink shares with every delivery callback.
pub struct Shared {
    /// Per-topic counters.
    pub topics: Topics,
    /// The first delivery failure, for the error that stops the pipeline.
    pub first_failure: Mutex<Option<String>>,
    /// Whether any delivery failed.
    pub failed: AtomicBool,
    /// Enqueue-to-ack latency, from sampled records.
    pub latency: Histogram<f64>,
    /// Whether the brokers are reachable, for `/ready`: false when librdkafka reports all
    /// brokers down, true again at the next successful delivery.
    pub connected: kobe_core::metrics::Connection,
}

/// One pool member's state that outlives its producer (a replacement takes it over).
pub struct MemberState {
    /// Which member.
    pub index: usize,
    /// Delivery reports so far: the sink notices progress by its change (no clock read per
    /// report).
    pub reports: AtomicU64,
    /// While the sink waits for room in the queue: the report count at which to wake it
    /// (`u64::MAX`: nobody waits).
    pub wake_at: AtomicU64,
    /// Wakes the waiting sink.
    pub room: Notify,
    /// The order of the record being timed (`u64::MAX`: none).
    pub sample_order: AtomicU64,
    /// When that record was enqueued.
    pub sample_at: Mutex<Instant>,
    /// librdkafka's queue length at the last batch (for the queue-size gauge).
    pub queue_len: AtomicI64,
}

impl MemberState {
    /// A member with no reports yet.
    pub fn new(index: usize) -> Self {
        Self {
            index,
            reports: AtomicU64::new(0),
            wake_at: AtomicU64::new(u64::MAX),
            room: Notify::new(),
            sample_order: AtomicU64::new(u64::MAX),
            sample_at: Mutex::new(Instant::now()),
            queue_len: AtomicI64::new(0),
        }
    }
}

/// A record a purge handed back, to be resent in `order`.
pub struct Returned {
    /// Enqueue order within the member.
    pub order: u64,
    /// Topic index.
    pub topic: u32,
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The payload.
    pub payload: Vec<u8>,
    /// The message timestamp (ms).
    pub timestamp: Option<i64>,
}

/// The context of one producer instance.
pub struct MemberContext {
    /// Sink-wide state.
    pub shared: Arc<Shared>,
    /// The member's lasting state.
    pub member: Arc<MemberState>,
    /// While set, purged records are taken back for a resend instead of counted undelivered.
    pub replacing: AtomicBool,
    /// Set by the sink's close: purged records are then unacknowledged for good.
    pub closing: AtomicBool,
    /// Records taken back during a replacement, or failed because the broker lost the
    /// producer's state.
    pub returned: Mutex<Vec<Returned>>,
    /// Set when the broker lost the producer's state (`UnknownProducerId`, or librdkafka's
    /// fatal idempotence error that follows): the member must be replaced.
    pub lost_state: AtomicBool,
}

/// Errors that mean the broker no longer knows the idempotent producer (it restarted empty):
/// librdkafka either retries them forever or raises a fatal error, and the records involved
/// were not delivered. A fresh producer can send them.
pub fn is_lost_state(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::Fatal
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::InvalidProducerIdMapping
                // An emptied broker hands out producer ids again from the start, so another
                // member's fresh id can collide with this one's old one.
                | RDKafkaErrorCode::ProducerFenced
        )
    )
}

/// A pool member's producer.
pub type MemberProducer = ThreadedProducer<MemberContext>;

impl ClientContext for MemberContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let member = self.member.index;
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", producer = member, "{fac}: {message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", producer = member, "{fac}: {message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", producer = member, "{fac}: {message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", producer = member, "{fac}: {message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        ) {
            self.shared.connected.set(false);
        }
        if is_lost_state(&error) {
            self.lost_state.store(true, Relaxed);
        }
        // Transport errors repeat while brokers are down; librdkafka retries them itself.
        tracing::warn!(target: "librdkafka", producer = self.member.index, "{error}: {reason}");
    }
}

impl ProducerContext for MemberContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let (topic_index, order) = split(opaque);
        let member = &self.member;
        member.reports.fetch_add(1, Relaxed);
        if result.is_ok() {
            self.shared.connected.set(true);
        }
        if member.sample_order.load(Relaxed) == order {
            member.sample_order.store(u64::MAX, Relaxed);
            if result.is_ok() {
                let at = *member.sample_at.lock().unwrap_or_else(|p| p.into_inner());
                self.shared.latency.record(at.elapsed().as_secs_f64(), &[]);
            }
        }
        let Some(topic) = self.shared.topics.get(topic_index) else {
            return;
        };
        match result {
            Ok(_) => {
                topic.delivered.fetch_add(1, Relaxed);
            }
            Err((e, msg)) => {
                let purged = matches!(
                    e,
                    KafkaError::MessageProduction(
                        RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight
                    )
                );
                // A purge kobe did not ask for (librdkafka purges by itself when the broker lost
                // the producer's state) hands the record back as well; only the purge at close
                // leaves records unacknowledged.
                let closing = self.closing.load(Relaxed);
                let lost_state =
                    is_lost_state(e) || (purged && !closing && !self.replacing.load(Relaxed));
                if lost_state {
                    self.lost_state.store(true, Relaxed);
                }
                if lost_state || (purged && !closing) {
                    self.returned
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Returned {
                            order,
                            topic: topic_index,
                            key: msg.key().map(<[u8]>::to_vec),
                            payload: msg.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                            timestamp: msg.timestamp().to_millis(),
                        });
                } else if purged {
                    topic.unflushed.fetch_add(1, Relaxed);
                } else {
                    topic.failed.fetch_add(1, Relaxed);
                    self.report_failure(&topic.name, msg.partition(), e);
                }
            }
        }
        // Wake a waiting sink once a good part of the queue is free, not on every report: a
        // wake-up per report would make the sink and this thread take turns record by record.
        let reports = member.reports.load(Relaxed);
        if reports >= member.wake_at.load(Relaxed) {
            member.wake_at.store(u64::MAX, Relaxed);
            member.room.notify_one();
        }
    }
}

impl MemberContext {
    fn report_failure(&self, topic: &str, partition: i32, e: &KafkaError) {
        let first = !self.shared.failed.swap(true, Relaxed);
        let text = format!(
            "record to topic {topic} (partition {partition}) not delivered: {}",
            describe(e)
        );
        if first {
            tracing::error!(producer = self.member.index, "{text}");
            *self
                .shared
                .first_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(text);
        } else {
            tracing::debug!(producer = self.member.index, "{text}");
        }
    }
}

/// A delivery error with what it usually means.
pub fn describe(e: &KafkaError) -> String {
    let hint = match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageTimedOut) => {
            " (no acknowledgement within delivery_timeout_ms: brokers unreachable or too slow)"
        }
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            " (the topic does not exist: create it, or set create_topic)"
        }
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize) => {
            " (the record is larger than the broker's or the producer's message.max.bytes)"
        }
        Some(
            RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::SaslAuthenticationFailed,
        ) => " (not authorized: check the credentials and ACLs)",
        _ => "",
    };
    format!("{e}{hint}")
}
