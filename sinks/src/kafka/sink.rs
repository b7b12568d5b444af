//! The running `kafka` sink.
//!
//! Each accepted event is rendered once and handed to the pool member its symbol hashes to
//! (`Symbol::stable_hash() % pool_size`), so a symbol's records leave one producer in order;
//! with idempotence on, librdkafka keeps that order through retries. A full queue makes the
//! sink wait (`block`) or drop and count (`drop`). Between batches and while waiting, the sink
//! watches each member: a member with records outstanding and no delivery report for
//! `stall_timeout_ms`, while the cluster answers, is replaced and its records resent in order.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kobe_core::accounting::Identity;
use kobe_core::time::SecondsCache;
use kobe_core::{ComponentError, EventBatch, EventFilter, EventType, Sink, SinkReport, Symbol};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer, PurgeConfig};
use rdkafka::util::Timeout;
use tokio_util::sync::CancellationToken;

use super::admin::Admin;
use super::config::{KafkaConfig, OnDeliveryFailure, OnFull};
use super::metrics::{self, Instruments};
use super::producer::{
    describe, is_lost_state, opaque, MemberContext, MemberProducer, MemberState, Returned, Shared,
};
use super::stats::{KafkaReport, Topics};
use super::topic::{check_topic_name, Template};
use super::KafkaSinkError;

/// How long to wait for the cluster's answer when checking it.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a member must stay stuck while the cluster answers before it is replaced.
const STUCK_WHILE_ANSWERING: Duration = Duration::from_secs(2);

/// One pool member.
struct Member {
    producer: MemberProducer,
    state: Arc<MemberState>,
    /// Enqueue order of the next record (continues across replacements).
    next_order: u64,
    /// When the cluster first answered while this member was stuck.
    answering_since: Option<Instant>,
    /// The member's report count at the last look, and when it last changed.
    seen_reports: u64,
    last_progress: Instant,
}

/// What a templated topic depends on: the symbol, and the type when the template uses it.
type TopicKey = (Option<Symbol>, Option<EventType>);

/// The outcome of handing one record to a member.
enum Enqueued {
    Accepted,
    Dropped,
    Rejected,
    /// Shutdown's flush timeout passed while waiting for room.
    Unsent,
}

pub(super) struct KafkaSink {
    id: String,
    config: KafkaConfig,
    topic: Template,
    key: Template,
    /// `(symbol, type)` → topic index and name, for templated topics.
    topics: HashMap<TopicKey, (u32, Arc<str>)>,
    /// The index and name of a fixed topic.
    fixed: Option<(u32, Arc<str>)>,
    shared: Arc<Shared>,
    members: Vec<Member>,
    admin: Admin,
    /// Topics in use, checked against the cluster.
    known: Vec<String>,
    /// Whether the topics still need checking (the cluster did not answer at start).
    unchecked: bool,
    /// Whether a cluster outage was reported and not yet its end.
    outage: bool,
    last_probe: Option<Instant>,
    payload: Vec<u8>,
    key_buf: Vec<u8>,
    seconds: SecondsCache,
    bytes: u64,
    shutdown: Option<CancellationToken>,
    /// Whether a delivery failure has already stopped the pipeline.
    stopping: bool,
    /// Waits for queue room, and their total time (logged at close: backpressure from Kafka).
    waits: u64,
    waited: Duration,
    /// Accepted events the format has no rendering for (non-raw events in `raw`).
    unrenderable: u64,
    /// Set when shutdown is first seen: the end of every wait (`flush_timeout_ms` later).
    deadline: Option<Instant>,
    _instruments: Instruments,
}

impl KafkaSink {
    pub(super) async fn build(config: &KafkaConfig, id: &str) -> Result<Self, KafkaSinkError> {
        let problems = config.check();
        if !problems.is_empty() {
            let text: Vec<String> = problems
                .iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect();
            return Err(KafkaSinkError::Config(text.join("; ")));
        }
        let topic = Template::topic(&config.topic).map_err(KafkaSinkError::Config)?;
        let key = Template::key(&config.key).map_err(KafkaSinkError::Config)?;
        let shared = Arc::new(Shared {
            topics: Topics::default(),
            first_failure: Mutex::new(None),
            failed: Default::default(),
            latency: metrics::latency_histogram(),
            connected: kobe_core::metrics::Connection::new(true),
        });
        let mut members = Vec::with_capacity(config.pool_size);
        for index in 0..config.pool_size {
            let state = Arc::new(MemberState::new(index));
            let producer = new_producer(config, id, &shared, &state)?;
            members.push(Member {
                producer,
                state,
                next_order: 0,
                answering_since: None,
                seen_reports: 0,
                last_progress: Instant::now(),
            });
        }
        let states: Vec<_> = members.iter().map(|m| m.state.clone()).collect();
        let instruments = metrics::register(&shared, &states, config.queue_capacity());
        let admin = Admin::new(config)?;
        let mut sink = Self {
            id: id.to_string(),
            config: config.clone(),
            topic,
            key,
            topics: HashMap::new(),
            fixed: None,
            shared,
            members,
            admin,
            known: Vec::new(),
            unchecked: false,
            outage: false,
            last_probe: None,
            payload: Vec::with_capacity(4096),
            key_buf: Vec::with_capacity(64),
            seconds: SecondsCache::new(),
            bytes: 0,
            shutdown: None,
            stopping: false,
            waits: 0,
            waited: Duration::ZERO,
            unrenderable: 0,
            deadline: None,
            _instruments: instruments,
        };
        if !sink.topic.has_placeholders() {
            let name = config.topic.clone();
            let index = sink.register_topic(&name)?;
            sink.fixed = Some((index, name.into()));
        }
        sink.check_topics_at_start().await?;
        Ok(sink)
    }

    /// Checks the fixed topic (if any) once at start. An unreachable cluster is not an error:
    /// records wait in librdkafka, then the pipeline backpressures, until it answers.
    async fn check_topics_at_start(&mut self) -> Result<(), KafkaSinkError> {
        match self.admin.check(self.known.clone(), PROBE_TIMEOUT).await {
            Ok(check) => {
                for topic in check.missing {
                    self.create_or_fail(&topic).await?;
                }
                Ok(())
            }
            Err(e) => {
                self.unchecked = true;
                self.outage = true;
                tracing::warn!(
                    sink = %self.id,
                    "kafka brokers {} unreachable at start ({e}); running anyway: records wait \
                     in librdkafka (up to {} per producer), then the pipeline backpressures, \
                     until the brokers answer",
                    self.config.brokers.join(","),
                    self.config.queue_capacity()
                );
                Ok(())
            }
        }
    }

    async fn create_or_fail(&self, topic: &str) -> Result<(), KafkaSinkError> {
        match &self.config.create_topic {
            Some(how) => self.admin.create(topic, how).await,
            None => Err(KafkaSinkError::MissingTopic {
                topic: topic.to_string(),
                brokers: self.config.brokers.join(","),
            }),
        }
    }

    fn register_topic(&mut self, name: &str) -> Result<u32, KafkaSinkError> {
        check_topic_name(name).map_err(KafkaSinkError::TopicName)?;
        let index = self.shared.topics.intern(name).ok_or_else(|| {
            KafkaSinkError::TopicName(format!(
                "more than {} topics from template {:?}",
                super::stats::MAX_TOPICS,
                self.config.topic
            ))
        })?;
        if !self.known.iter().any(|k| k == name) {
            self.known.push(name.to_string());
        }
        Ok(index)
    }

    /// The topic of an event with a templated topic; a new topic is checked (and created)
    /// before its first record.
    async fn templated_topic(
        &mut self,
        symbol: Option<&Symbol>,
        kind: EventType,
    ) -> Result<(u32, Arc<str>), KafkaSinkError> {
        let cache_key = (symbol.cloned(), self.topic.uses_type().then_some(kind));
        if let Some(hit) = self.topics.get(&cache_key) {
            return Ok(hit.clone());
        }
        let name = self.topic.render_topic(symbol, kind);
        let fresh = !self.known.contains(&name);
        let index = self.register_topic(&name)?;
        if fresh && !self.unchecked {
            match self.admin.check(vec![name.clone()], PROBE_TIMEOUT).await {
                Ok(check) if !check.missing.is_empty() => self.create_or_fail(&name).await?,
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    sink = %self.id,
                    topic = %name,
                    "cannot check topic (brokers not answering: {e}); sending anyway"
                ),
            }
        }
        let entry = (index, Arc::<str>::from(name));
        self.topics.insert(cache_key, entry.clone());
        Ok(entry)
    }

    /// After a first refusal `error` by member `m`: a full queue waits for room under
    /// `on_full: block` (or drops under `drop`); any other refusal is reported.
    async fn enqueue_slow(
        &mut self,
        mut error: KafkaError,
        m: usize,
        topic: (u32, &str),
        key: Option<&[u8]>,
        payload: &[u8],
        timestamp: i64,
    ) -> Result<Enqueued, KafkaSinkError> {
        loop {
            match error {
                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => {
                    if self.config.on_full == OnFull::Drop {
                        return Ok(Enqueued::Dropped);
                    }
                    if self.past_deadline() {
                        return Ok(Enqueued::Unsent);
                    }
                    self.wait_for_room(m).await?;
                }
                ref e if is_lost_state(e) => {
                    self.replace(m, "it refuses records after the broker lost its state")
                        .await?;
                }
                e => {
                    let text = format!(
                        "record to topic {} refused by the producer: {}",
                        topic.1,
                        describe(&e)
                    );
                    self.note_failure(text);
                    return Ok(Enqueued::Rejected);
                }
            }
            match try_send(&mut self.members[m], topic, key, payload, Some(timestamp)) {
                Ok(()) => return Ok(Enqueued::Accepted),
                Err(e) => error = e,
            }
        }
    }

    /// The shutdown deadline, set when shutdown is first seen.
    fn deadline(&mut self) -> Option<Instant> {
        if self.deadline.is_none() && self.shutdown.as_ref().is_some_and(|t| t.is_cancelled()) {
            self.deadline =
                Some(Instant::now() + Duration::from_millis(self.config.flush_timeout_ms));
        }
        self.deadline
    }

    fn past_deadline(&mut self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// Waits until member `m` has settled part of its queue (or 50 ms pass, or shutdown
    /// starts), then watches the pool.
    async fn wait_for_room(&mut self, m: usize) -> Result<(), KafkaSinkError> {
        let state = self.members[m].state.clone();
        let shutdown = self.shutdown.clone().unwrap_or_default();
        // Wake once some of what is queued has been settled: enough to batch the wake-ups,
        // little enough (at most 4096 reports, a few ms) to keep the queue near full.
        let queued = self.members[m].producer.in_flight_count().max(0) as u64;
        let wake_after = (queued / 8).clamp(1, 4096);
        state
            .wake_at
            .store(state.reports.load(Relaxed) + wake_after, Relaxed);
        let started = Instant::now();
        tokio::select! {
            _ = state.room.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = shutdown.cancelled(), if self.deadline.is_none() => {}
        }
        state.wake_at.store(u64::MAX, Relaxed);
        self.waits += 1;
        self.waited += started.elapsed();
        self.maintain().await
    }

    fn note_failure(&self, text: String) {
        let first = !self.shared.failed.swap(true, Relaxed);
        if first {
            tracing::error!(sink = %self.id, "{text}");
            *self
                .shared
                .first_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(text);
        } else {
            tracing::debug!(sink = %self.id, "{text}");
        }
    }

    /// Under `on_delivery_failure: stop`, a delivery failure stops the pipeline: the run's
    /// shutdown starts (the source stops, the rest drains through this sink, the summary
    /// reports every count and the exit status is non-zero). Without a shutdown token (a sink
    /// driven by hand) the failure is returned instead.
    fn check_failure(&mut self) -> Result<(), KafkaSinkError> {
        if self.config.on_delivery_failure != OnDeliveryFailure::Stop
            || !self.shared.failed.load(Relaxed)
            || self.stopping
        {
            return Ok(());
        }
        let text = self
            .shared
            .first_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "a record was not delivered".into());
        match &self.shutdown {
            Some(token) => {
                self.stopping = true;
                tracing::error!(
                    sink = %self.id,
                    "stopping the pipeline (on_delivery_failure: stop): {text}"
                );
                token.cancel();
                Ok(())
            }
            None => Err(KafkaSinkError::Delivery(text)),
        }
    }

    /// Between batches and while waiting: stop on a failure; notice outages and their end;
    /// check topics the cluster could not be asked about yet; replace a member the cluster
    /// has forgotten.
    async fn maintain(&mut self) -> Result<(), KafkaSinkError> {
        self.check_failure()?;
        for m in 0..self.members.len() {
            if self.members[m].producer.context().lost_state.load(Relaxed) {
                self.replace(
                    m,
                    "the broker no longer knows it (UnknownProducerId: it restarted without its state)",
                )
                .await?;
            }
        }
        let stall = Duration::from_millis(self.config.stall_timeout_ms);
        let mut stuck = Vec::new();
        for (i, m) in self.members.iter_mut().enumerate() {
            let outstanding = m.producer.in_flight_count();
            m.state.queue_len.store(i64::from(outstanding), Relaxed);
            let reports = m.state.reports.load(Relaxed);
            if reports != m.seen_reports || outstanding == 0 {
                m.seen_reports = reports;
                m.last_progress = Instant::now();
            }
            if outstanding > 0 && m.last_progress.elapsed() >= stall {
                stuck.push(i);
            } else {
                m.answering_since = None;
            }
        }
        if stuck.is_empty() && !self.unchecked {
            return Ok(());
        }
        // Ask the cluster at most once a second.
        if self
            .last_probe
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return self.replace_long_stuck(&stuck).await;
        }
        self.last_probe = Some(Instant::now());
        match self.admin.check(self.known.clone(), PROBE_TIMEOUT).await {
            Err(e) => {
                for &i in &stuck {
                    self.members[i].answering_since = None;
                }
                if !self.outage {
                    self.outage = true;
                    let waiting: i32 = self
                        .members
                        .iter()
                        .map(|m| m.producer.in_flight_count())
                        .sum();
                    tracing::warn!(
                        sink = %self.id,
                        "kafka brokers {} not answering ({e}): {waiting} records wait in \
                         librdkafka; the pipeline backpressures when its queue is full",
                        self.config.brokers.join(",")
                    );
                }
                Ok(())
            }
            Ok(check) => {
                if self.outage {
                    self.outage = false;
                    tracing::info!(sink = %self.id, "kafka brokers answer again");
                }
                self.unchecked = false;
                for topic in check.missing {
                    tracing::warn!(sink = %self.id, topic = %topic, "topic is missing");
                    self.create_or_fail(&topic).await?;
                }
                for &i in &stuck {
                    self.members[i]
                        .answering_since
                        .get_or_insert_with(Instant::now);
                }
                self.replace_long_stuck(&stuck).await
            }
        }
    }

    async fn replace_long_stuck(&mut self, stuck: &[usize]) -> Result<(), KafkaSinkError> {
        for &i in stuck {
            if self.members[i]
                .answering_since
                .is_some_and(|t| t.elapsed() >= STUCK_WHILE_ANSWERING)
            {
                self.replace(
                    i,
                    &format!(
                        "it has had no delivery report for {} ms while the brokers answer: the \
                         broker has likely lost its state (UnknownProducerId)",
                        self.config.stall_timeout_ms
                    ),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Replaces member `m`: purges its producer, takes back the records the purge returns,
    /// and resends them in their original order through a fresh producer.
    async fn replace(&mut self, m: usize, why: &str) -> Result<(), KafkaSinkError> {
        let outstanding = self.members[m].producer.in_flight_count();
        tracing::warn!(
            sink = %self.id,
            producer = m,
            outstanding,
            "replacing kafka producer {m}: {why}. Its undelivered records are resent in order \
             through a fresh producer (records in flight may arrive twice)"
        );
        // A broker that lost its state lost its topics too: recreate them first.
        match self.admin.check(self.known.clone(), PROBE_TIMEOUT).await {
            Ok(check) => {
                for topic in check.missing {
                    tracing::warn!(sink = %self.id, topic = %topic, "topic is missing");
                    self.create_or_fail(&topic).await?;
                }
            }
            Err(e) => tracing::warn!(sink = %self.id, "cannot check topics: {e}"),
        }
        let old = self.members[m].producer.clone();
        let context = old.context().clone();
        context.replacing.store(true, Relaxed);
        let drained = tokio::task::spawn_blocking(move || {
            old.purge(PurgeConfig::default().queue().inflight());
            // The purged records come back through the delivery callbacks on the poll thread.
            let deadline = Instant::now() + Duration::from_secs(10);
            while old.in_flight_count() > 0 && Instant::now() < deadline {
                old.poll(Duration::from_millis(10));
            }
            old
        })
        .await
        .map_err(|e| KafkaSinkError::Client(format!("replacing producer {m}: {e}")))?;
        context.replacing.store(false, Relaxed);
        let mut returned: Vec<Returned> =
            std::mem::take(&mut *context.returned.lock().unwrap_or_else(|p| p.into_inner()));
        returned.sort_unstable_by_key(|r| r.order);
        let state = self.members[m].state.clone();
        let fresh = new_producer(&self.config, &self.id, &self.shared, &state)?;
        let stale = std::mem::replace(&mut self.members[m].producer, fresh);
        self.members[m].answering_since = None;
        self.members[m].last_progress = Instant::now();
        // Dropping a producer joins its poll thread: off the runtime.
        tokio::task::spawn_blocking(move || drop((stale, drained)));
        let count = returned.len();
        for r in returned {
            let Some(stats) = self.shared.topics.get(r.topic).cloned() else {
                continue;
            };
            loop {
                let member = &mut self.members[m];
                match try_send(
                    member,
                    (r.topic, &stats.name),
                    r.key.as_deref(),
                    &r.payload,
                    r.timestamp,
                ) {
                    Ok(()) => {
                        stats.resent.fetch_add(1, Relaxed);
                        break;
                    }
                    Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                        state
                            .wake_at
                            .store(state.reports.load(Relaxed) + 1, Relaxed);
                        let _ =
                            tokio::time::timeout(Duration::from_millis(50), state.room.notified())
                                .await;
                        state.wake_at.store(u64::MAX, Relaxed);
                    }
                    Err(e) => {
                        stats.failed.fetch_add(1, Relaxed);
                        self.note_failure(format!(
                            "record to topic {} not resent: {}",
                            stats.name,
                            describe(&e)
                        ));
                        break;
                    }
                }
            }
        }
        tracing::warn!(
            sink = %self.id,
            producer = m,
            resent = count,
            "kafka producer {m} replaced; {count} undelivered records resent"
        );
        self.outage = false;
        Ok(())
    }

    /// Flushes every member within `flush_timeout_ms` (counted from the start of shutdown),
    /// watching the pool between short flushes so a broker that comes back or loses its
    /// state is still handled; what is left is settled as unacknowledged by the caller.
    async fn flush_all(&mut self) {
        let deadline = self.deadline().unwrap_or_else(|| {
            Instant::now() + Duration::from_millis(self.config.flush_timeout_ms)
        });
        loop {
            let left: i32 = self
                .members
                .iter()
                .map(|m| m.producer.in_flight_count())
                .sum();
            let remaining = deadline.saturating_duration_since(Instant::now());
            if left == 0 {
                return;
            }
            if remaining.is_zero() {
                tracing::error!(
                    sink = %self.id,
                    "kafka: {left} records still unacknowledged after flush_timeout_ms ({} ms); \
                     they count as undelivered",
                    self.config.flush_timeout_ms
                );
                return;
            }
            let slice = remaining.min(Duration::from_millis(200));
            let flushes: Vec<_> = self
                .members
                .iter()
                .map(|m| {
                    let p = m.producer.clone();
                    tokio::task::spawn_blocking(move || p.flush(Timeout::After(slice)))
                })
                .collect();
            for f in flushes {
                let _ = f.await;
            }
            if let Err(e) = self.maintain().await {
                tracing::error!(sink = %self.id, "{e}");
                return;
            }
        }
    }
}

/// Hands one record to `member` without waiting.
fn try_send(
    member: &mut Member,
    (topic_index, topic): (u32, &str),
    key: Option<&[u8]>,
    payload: &[u8],
    timestamp: Option<i64>,
) -> Result<(), KafkaError> {
    let mut record =
        BaseRecord::with_opaque_to(topic, opaque(topic_index, member.next_order)).payload(payload);
    if let Some(k) = key {
        record = record.key(k);
    }
    if let Some(ts) = timestamp {
        record = record.timestamp(ts);
    }
    match member.producer.send(record) {
        Ok(()) => {
            member.next_order += 1;
            Ok(())
        }
        Err((e, _)) => Err(e),
    }
}

fn new_producer(
    config: &KafkaConfig,
    id: &str,
    shared: &Arc<Shared>,
    state: &Arc<MemberState>,
) -> Result<MemberProducer, KafkaSinkError> {
    let context = MemberContext {
        shared: shared.clone(),
        member: state.clone(),
        replacing: Default::default(),
        closing: Default::default(),
        returned: Mutex::new(Vec::new()),
        lost_state: Default::default(),
    };
    config
        .client_config(id, state.index)
        .create_with_context(context)
        .map_err(|e| KafkaSinkError::Client(e.to_string()))
}

#[async_trait]
impl Sink for KafkaSink {
    async fn write(
        &mut self,
        batch: &EventBatch,
        filter: EventFilter,
    ) -> Result<u64, ComponentError> {
        let format = self.config.format;
        let pool = self.members.len() as u64;
        // Per batch, not per event: the shared counters, the fixed topic, the buffers.
        let shared = self.shared.clone();
        let fixed = self.fixed.clone();
        let mut payload = std::mem::take(&mut self.payload);
        let mut key_buf = std::mem::take(&mut self.key_buf);
        let mut written = 0;
        let mut sampled = 0u64;
        // Accepted records are counted per run of one topic, not with an atomic per record.
        let mut run: (u32, u64) = (u32::MAX, 0);
        let result: Result<(), KafkaSinkError> = async {
            for event in &batch.events {
                let kind = event.event_type();
                if !filter.accepts(kind) {
                    continue;
                }
                payload.clear();
                if !format.write_cached(event, &mut self.seconds, &mut payload) {
                    self.unrenderable += 1;
                    continue;
                }
                payload.pop(); // the record's newline: a message is one record
                let symbol = event.symbol.as_ref();
                let templated;
                let (topic_index, topic): (u32, &str) = match &fixed {
                    Some((i, name)) => (*i, name),
                    None => {
                        templated = self.templated_topic(symbol, kind).await?;
                        (templated.0, &templated.1)
                    }
                };
                let key: Option<&[u8]> = if self.key.is_symbol() {
                    symbol.map(|s| s.as_str().as_bytes())
                } else {
                    self.key.render_key(symbol, kind, &mut key_buf);
                    (!key_buf.is_empty()).then_some(key_buf.as_slice())
                };
                let m = symbol.map_or(0, |s| (s.stable_hash() % pool) as usize);
                let ts = event.exchange_ts.unwrap_or(event.received_ts).0 / 1_000_000;
                let outcome = match try_send(
                    &mut self.members[m],
                    (topic_index, topic),
                    key,
                    &payload,
                    Some(ts),
                ) {
                    Ok(()) => Enqueued::Accepted,
                    Err(e) => {
                        self.enqueue_slow(e, m, (topic_index, topic), key, &payload, ts)
                            .await?
                    }
                };
                let Some(stats) = shared.topics.get(topic_index) else {
                    continue;
                };
                match outcome {
                    Enqueued::Accepted => {
                        written += 1;
                        self.bytes += payload.len() as u64;
                        if run.0 != topic_index {
                            if let Some(prev) = shared.topics.get(run.0) {
                                prev.accepted.fetch_add(run.1, Relaxed);
                            }
                            run = (topic_index, 0);
                        }
                        run.1 += 1;
                        // Time one record per member per batch.
                        if m < 64 && sampled & (1 << m) == 0 {
                            sampled |= 1 << m;
                            let member = &self.members[m];
                            if member.state.sample_order.load(Relaxed) == u64::MAX {
                                *member
                                    .state
                                    .sample_at
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner()) = Instant::now();
                                member
                                    .state
                                    .sample_order
                                    .store(member.next_order - 1, Relaxed);
                            }
                        }
                    }
                    Enqueued::Dropped => {
                        stats.dropped.fetch_add(1, Relaxed);
                    }
                    Enqueued::Rejected => {
                        stats.rejected.fetch_add(1, Relaxed);
                    }
                    Enqueued::Unsent => {
                        stats.unsent.fetch_add(1, Relaxed);
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Some(stats) = shared.topics.get(run.0) {
            stats.accepted.fetch_add(run.1, Relaxed);
        }
        self.payload = payload;
        self.key_buf = key_buf;
        result?;
        for m in &self.members {
            m.state
                .queue_len
                .store(i64::from(m.producer.in_flight_count()), Relaxed);
        }
        self.check_failure()?;
        Ok(written)
    }

    fn connection(&self) -> Option<kobe_core::metrics::Connection> {
        Some(self.shared.connected.clone())
    }

    fn watch_shutdown(&mut self, shutdown: CancellationToken) {
        self.shutdown = Some(shutdown);
    }

    fn flush_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(500))
    }

    async fn flush(&mut self) -> Result<(), ComponentError> {
        self.maintain().await?;
        Ok(())
    }

    async fn close(mut self: Box<Self>) -> Result<SinkReport, ComponentError> {
        self.flush_all().await;
        // Purge what is left: its delivery reports settle it as unacknowledged.
        let members = std::mem::take(&mut self.members);
        let producers: Vec<MemberProducer> = members.into_iter().map(|m| m.producer).collect();
        let settle = tokio::task::spawn_blocking(move || {
            for p in &producers {
                p.context().closing.store(true, Relaxed);
                p.purge(PurgeConfig::default().queue().inflight());
            }
            for p in &producers {
                let deadline = Instant::now() + Duration::from_millis(500);
                while p.in_flight_count() > 0 && Instant::now() < deadline {
                    p.poll(Duration::from_millis(10));
                }
            }
            producers
        });
        // A producer whose broker is frozen may take long to destroy: bounded wait, so
        // shutdown stays within flush_timeout_ms + 2 s.
        if let Ok(Ok(producers)) = tokio::time::timeout(Duration::from_millis(1500), settle).await {
            std::thread::spawn(move || drop(producers));
        }
        let mut report = self.shared.topics.report();
        // Records whose purge report never came are unacknowledged all the same.
        for (name, c) in report.topics.iter_mut() {
            let settled = c.delivered + c.undelivered;
            if c.accepted > settled {
                let gap = c.accepted - settled;
                c.unflushed += gap;
                c.undelivered += gap;
                report.total.unflushed += gap;
                report.total.undelivered += gap;
                tracing::debug!(topic = %name, gap, "unacknowledged records without a report");
            }
        }
        for (topic, c) in &report.topics {
            tracing::info!(
                sink = %self.id,
                topic = %topic,
                delivered = c.delivered,
                undelivered = c.undelivered,
                dropped = c.dropped,
                rejected = c.rejected,
                unsent = c.unsent,
                resent = c.resent,
                "kafka delivery summary"
            );
        }
        tracing::info!(
            sink = %self.id,
            waits = self.waits,
            waited_ms = self.waited.as_millis() as u64,
            "kafka: time spent waiting for room in full producer queues (backpressure)"
        );
        let t = &report.total;
        let undelivered = t.lost() + t.rejected;
        if undelivered > 0 {
            tracing::error!(
                sink = %self.id,
                "undelivered records: {}",
                report.undelivered_summary()
            );
        }
        Ok(self.sink_report(&report, undelivered))
    }
}

impl KafkaSink {
    /// The closing report: the engine's terms (`not_written` reasons), the per-topic counts,
    /// and the identities `written = delivered + undelivered`, overall and per topic.
    fn sink_report(&self, report: &KafkaReport, undelivered: u64) -> SinkReport {
        let t = &report.total;
        let mut out = SinkReport {
            written: t.accepted,
            bytes: self.bytes,
            undelivered,
            ..SinkReport::default()
        };
        for (reason, n) in [
            ("dropped_queue_full", t.dropped),
            ("rejected", t.rejected),
            ("unsent_at_shutdown", t.unsent),
            ("no_rendering", self.unrenderable),
        ] {
            if n > 0 {
                out.not_written.insert(reason.into(), n);
            }
        }
        let id = &self.id;
        out.identities.push(
            Identity::new(format!("sinks.{id}.written"), t.accepted)
                .term("delivered", t.delivered)
                .term("undelivered", t.undelivered),
        );
        out.identities.push(
            Identity::new(format!("sinks.{id}.undelivered"), t.undelivered)
                .term("failed", t.failed)
                .term("unflushed", t.unflushed),
        );
        for (topic, c) in &report.topics {
            out.identities.push(
                Identity::new(format!("sinks.{id}.topics[{topic}].accepted"), c.accepted)
                    .term("delivered", c.delivered)
                    .term("failed", c.failed)
                    .term("unflushed", c.unflushed),
            );
        }
        for (key, value) in [("delivered", t.delivered), ("resent", t.resent)] {
            out.details.insert(key.into(), value.into());
        }
        if let Ok(topics) = serde_json::to_value(&report.topics) {
            out.details.insert("topics".into(), topics);
        }
        out
    }
}
