//! The sink's instruments, under the old engine's names, on the global meter `kobe` (the
//! binary installs the exporter before pipelines are built, so instruments are created in
//! `build()`, never in statics).
//!
//! Counts live in atomics the delivery callbacks bump; the observable instruments read them
//! when the exporter collects, so the hot path never looks up an attribute set.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};

use opentelemetry::metrics::{Histogram, ObservableCounter, ObservableGauge};
use opentelemetry::KeyValue;

use super::producer::{MemberState, Shared};

/// Keeps the observable instruments registered for the sink's life.
pub struct Instruments {
    _sent: ObservableCounter<u64>,
    _errors: ObservableCounter<u64>,
    _queue: ObservableGauge<i64>,
    _utilization: ObservableGauge<f64>,
}

/// The latency histogram (created before the shared state that records into it).
pub fn latency_histogram() -> Histogram<f64> {
    opentelemetry::global::meter("kobe")
        .f64_histogram("kafka_send_latency_seconds")
        .with_description("Time from enqueueing a record to its acknowledgement (sampled)")
        .with_boundaries(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ])
        .build()
}

/// Registers the observable instruments over `shared` and the pool's `members`.
pub fn register(
    shared: &Arc<Shared>,
    members: &[Arc<MemberState>],
    queue_capacity: u64,
) -> Instruments {
    let meter = opentelemetry::global::meter("kobe");
    let weak: Weak<Shared> = Arc::downgrade(shared);
    let sent = {
        let weak = weak.clone();
        meter
            .u64_observable_counter("kafka_messages_sent_total")
            .with_description("Records acknowledged by the brokers, by topic")
            .with_callback(move |o| {
                if let Some(s) = weak.upgrade() {
                    for t in s.topics.all() {
                        o.observe(
                            t.delivered.load(Relaxed),
                            &[KeyValue::new("topic", t.name.clone())],
                        );
                    }
                }
            })
            .build()
    };
    let errors = meter
        .u64_observable_counter("kafka_send_errors_total")
        .with_description(
            "Records not delivered, by topic and reason (failed, unflushed, dropped, rejected)",
        )
        .with_callback(move |o| {
            if let Some(s) = weak.upgrade() {
                for t in s.topics.all() {
                    for (reason, n) in [
                        ("failed", &t.failed),
                        ("unflushed", &t.unflushed),
                        ("dropped", &t.dropped),
                        ("rejected", &t.rejected),
                    ] {
                        o.observe(
                            n.load(Relaxed),
                            &[
                                KeyValue::new("topic", t.name.clone()),
                                KeyValue::new("reason", reason),
                            ],
                        );
                    }
                }
            }
        })
        .build();
    let queue = {
        let members: Vec<Weak<MemberState>> = members.iter().map(Arc::downgrade).collect();
        meter
            .i64_observable_gauge("kafka_message_queue_size")
            .with_description("Records in librdkafka's queue (waiting or in flight), by producer")
            .with_callback(move |o| {
                for m in members.iter().filter_map(Weak::upgrade) {
                    o.observe(
                        m.queue_len.load(Relaxed),
                        &[KeyValue::new("producer", m.index as i64)],
                    );
                }
            })
            .build()
    };
    let utilization = {
        let members: Vec<Weak<MemberState>> = members.iter().map(Arc::downgrade).collect();
        let capacity = queue_capacity.max(1) as f64;
        meter
            .f64_observable_gauge("kafka_worker_utilization")
            .with_description(
                "How full each producer's queue is, 0 to 1 (1: the sink waits or drops)",
            )
            .with_callback(move |o| {
                for m in members.iter().filter_map(Weak::upgrade) {
                    let len = m.queue_len.load(Relaxed).max(0) as f64;
                    o.observe(
                        (len / capacity).min(1.0),
                        &[KeyValue::new("producer", m.index as i64)],
                    );
                }
            })
            .build()
    };
    Instruments {
        _sent: sent,
        _errors: errors,
        _queue: queue,
        _utilization: utilization,
    }
}
