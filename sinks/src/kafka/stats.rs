//! Delivery accounting: per-topic counters shared by the sink task (which enqueues) and the
//! producers' delivery-report callbacks (which settle), and the report they add up to.
//!
//! Every record the sink accepted ends in exactly one of `delivered` or `undelivered` (failed
//! after retries, or still unacknowledged at shutdown); `dropped` and `rejected` records were
//! never accepted. `resent` counts records sent again through a fresh producer after a broker
//! lost its state; a resent record is still settled once.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

/// The most distinct topics one sink can write to (topic templates multiply them).
pub const MAX_TOPICS: usize = 16_384;

/// One topic's counters.
#[derive(Debug, Default)]
pub struct TopicStats {
    /// The topic's name.
    pub name: String,
    /// Records handed to librdkafka.
    pub accepted: AtomicU64,
    /// Acknowledged by the broker.
    pub delivered: AtomicU64,
    /// Failed after retries or permanently (reported with the cause).
    pub failed: AtomicU64,
    /// Still unacknowledged when the sink closed (purged at shutdown).
    pub unflushed: AtomicU64,
    /// Dropped because the queue was full under `on_full: drop`.
    pub dropped: AtomicU64,
    /// Refused by librdkafka at enqueue (over the size limit, ...).
    pub rejected: AtomicU64,
    /// Sent again through a fresh producer after a broker lost the producer's state.
    pub resent: AtomicU64,
    /// Never handed to librdkafka: shutdown's flush timeout passed while the sink waited for
    /// room in a full queue.
    pub unsent: AtomicU64,
}

impl TopicStats {
    fn counts(&self) -> TopicCounts {
        let failed = self.failed.load(Relaxed);
        let unflushed = self.unflushed.load(Relaxed);
        TopicCounts {
            accepted: self.accepted.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            undelivered: failed + unflushed,
            failed,
            unflushed,
            dropped: self.dropped.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            resent: self.resent.load(Relaxed),
            unsent: self.unsent.load(Relaxed),
        }
    }
}

/// Topics by index. The index travels in each message's delivery opaque, so the
/// delivery-report callback finds the counters without a lock or a name lookup.
pub struct Topics {
    slots: Box<[OnceLock<Arc<TopicStats>>]>,
    by_name: Mutex<HashMap<String, u32>>,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            slots: (0..MAX_TOPICS).map(|_| OnceLock::new()).collect(),
            by_name: Mutex::new(HashMap::new()),
        }
    }
}

impl Topics {
    /// The index of `name`, registering it on first use; `None` past [`MAX_TOPICS`].
    pub fn intern(&self, name: &str) -> Option<u32> {
        let mut by_name = self.by_name.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&i) = by_name.get(name) {
            return Some(i);
        }
        let i = by_name.len();
        if i >= MAX_TOPICS {
            return None;
        }
        let _ = self.slots[i].set(Arc::new(TopicStats {
            name: name.to_string(),
            ..TopicStats::default()
        }));
        by_name.insert(name.to_string(), i as u32);
        Some(i as u32)
    }

    /// The counters of topic `index`.
    pub fn get(&self, index: u32) -> Option<&Arc<TopicStats>> {
        self.slots.get(index as usize).and_then(OnceLock::get)
    }

    /// Every registered topic, in index order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<TopicStats>> {
        self.slots.iter().map_while(OnceLock::get)
    }

    /// A snapshot of every topic's counts, by name.
    pub fn report(&self) -> KafkaReport {
        let topics: BTreeMap<String, TopicCounts> =
            self.all().map(|t| (t.name.clone(), t.counts())).collect();
        let mut total = TopicCounts::default();
        for c in topics.values() {
            total.add(c);
        }
        KafkaReport { total, topics }
    }
}

/// One topic's settled counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TopicCounts {
    /// Records handed to librdkafka (`delivered + undelivered`).
    pub accepted: u64,
    /// Acknowledged by the broker.
    pub delivered: u64,
    /// `failed + unflushed`.
    pub undelivered: u64,
    /// Failed after retries or permanently.
    pub failed: u64,
    /// Still unacknowledged at shutdown.
    pub unflushed: u64,
    /// Dropped under `on_full: drop` (never accepted).
    pub dropped: u64,
    /// Refused at enqueue (never accepted).
    pub rejected: u64,
    /// Resent through a fresh producer after a broker lost its state.
    pub resent: u64,
    /// Never handed to librdkafka: the shutdown's flush timeout passed first (never accepted).
    pub unsent: u64,
}

impl TopicCounts {
    fn add(&mut self, o: &TopicCounts) {
        self.accepted += o.accepted;
        self.delivered += o.delivered;
        self.undelivered += o.undelivered;
        self.failed += o.failed;
        self.unflushed += o.unflushed;
        self.dropped += o.dropped;
        self.rejected += o.rejected;
        self.resent += o.resent;
        self.unsent += o.unsent;
    }

    /// Whether anything the sink was given did not reach the brokers (undelivered or unsent).
    pub fn lost(&self) -> u64 {
        self.undelivered + self.unsent
    }

    /// Whether `accepted = delivered + undelivered` holds.
    pub fn adds_up(&self) -> bool {
        self.accepted == self.delivered + self.undelivered
    }
}

/// The sink's closing counts: totals and per topic.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct KafkaReport {
    /// Over every topic.
    pub total: TopicCounts,
    /// By topic name.
    pub topics: BTreeMap<String, TopicCounts>,
}

impl KafkaReport {
    /// `topic: delivered D, undelivered U` for each topic with undelivered records.
    pub fn undelivered_summary(&self) -> String {
        self.topics
            .iter()
            .filter(|(_, c)| c.lost() > 0)
            .map(|(t, c)| {
                format!(
                    "{t}: {} undelivered ({} failed, {} unacknowledged at shutdown), {} not sent \
                     (shutdown while the queue was full), {} delivered",
                    c.undelivered, c.failed, c.unflushed, c.unsent, c.delivered
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_interned_once_and_counted_apart() {
        let topics = Topics::default();
        let a = topics.intern("a").unwrap();
        let b = topics.intern("b").unwrap();
        assert_eq!(topics.intern("a"), Some(a));
        assert_ne!(a, b);
        let ta = topics.get(a).unwrap();
        ta.accepted.fetch_add(3, Relaxed);
        ta.delivered.fetch_add(2, Relaxed);
        ta.unflushed.fetch_add(1, Relaxed);
        topics.get(b).unwrap().dropped.fetch_add(4, Relaxed);
        let r = topics.report();
        assert_eq!(r.topics["a"].undelivered, 1);
        assert!(r.topics["a"].adds_up());
        assert_eq!(r.total.dropped, 4);
        assert!(r.undelivered_summary().starts_with("a: 1 undelivered"));
    }
}
