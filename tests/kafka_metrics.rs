//! The `kafka` sink's instruments, under the old engine's names, read through the
//! OpenTelemetry SDK: sent per topic, errors, latency, queue size and utilization per producer.

mod common;

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use common::tansu::Tansu;
use kobe_core::{EventBatch, SinkConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality,
};

/// A manual reader the test keeps a handle on after giving it to the provider.
#[derive(Debug, Clone)]
struct Reader(Arc<ManualReader>);

impl MetricReader for Reader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// A data point: instrument name, attributes, value (histograms: their count).
type Point = (String, Vec<(String, String)>, f64);

/// Every data point the reader collects now.
fn points(reader: &Reader) -> Vec<Point> {
    let mut rm = ResourceMetrics::default();
    reader.collect(&mut rm).unwrap();
    let mut out = Vec::new();
    for scope in rm.scope_metrics() {
        for m in scope.metrics() {
            let name = m.name().to_string();
            let attrs = |it: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
                it.map(|kv| (kv.key.to_string(), kv.value.to_string()))
                    .collect::<Vec<_>>()
            };
            match m.data() {
                AggregatedMetrics::U64(MetricData::Sum(s)) => {
                    for p in s.data_points() {
                        out.push((name.clone(), attrs(&mut p.attributes()), p.value() as f64));
                    }
                }
                AggregatedMetrics::I64(MetricData::Gauge(g)) => {
                    for p in g.data_points() {
                        out.push((name.clone(), attrs(&mut p.attributes()), p.value() as f64));
                    }
                }
                AggregatedMetrics::F64(MetricData::Gauge(g)) => {
                    for p in g.data_points() {
                        out.push((name.clone(), attrs(&mut p.attributes()), p.value()));
                    }
                }
                AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                    for p in h.data_points() {
                        out.push((name.clone(), attrs(&mut p.attributes()), p.count() as f64));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn value(points: &[Point], name: &str, attr: &[(&str, &str)]) -> Option<f64> {
    points
        .iter()
        .find(|(n, a, _)| {
            n == name
                && attr
                    .iter()
                    .all(|(k, v)| a.iter().any(|(ak, av)| ak == k && av == v))
        })
        .map(|p| p.2)
}

#[tokio::test]
async fn the_old_engines_kafka_metrics_count_what_the_sink_does() {
    let reader = Reader(Arc::new(ManualReader::builder().build()));
    let provider = SdkMeterProvider::builder()
        .with_reader(reader.clone())
        .build();
    opentelemetry::global::set_meter_provider(provider.clone());

    let broker = Tansu::start();
    let config: kobe_sinks::kafka::KafkaConfig = serde_json::from_value(serde_json::json!({
        "brokers": [broker.brokers()],
        "topic": "metered",
        "pool_size": 2,
        "linger_ms": 1,
        "create_topic": {"partitions": 2},
    }))
    .unwrap();
    let mut sink = config.build("metered").await.unwrap();
    let mut batch = EventBatch::default();
    for e in kobe_core::testing::sample_events() {
        batch.push(e);
    }
    let mut written = 0;
    for _ in 0..20 {
        written += sink.write(&batch, config.default_events()).await.unwrap();
    }
    assert!(written > 0);

    // The delivery reports arrive on librdkafka's thread: wait until the counter says so.
    let start = Instant::now();
    let got = loop {
        let got = points(&reader);
        if value(&got, "kafka_messages_sent_total", &[("topic", "metered")]) == Some(written as f64)
        {
            break got;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "sent never reached {written}: {got:?}"
        );
        sink.flush().await.unwrap();
    };
    assert_eq!(
        value(
            &got,
            "kafka_send_errors_total",
            &[("topic", "metered"), ("reason", "failed")]
        ),
        Some(0.0)
    );
    assert!(
        value(&got, "kafka_send_latency_seconds", &[]).unwrap() >= 1.0,
        "{got:?}"
    );
    for producer in ["0", "1"] {
        assert!(
            value(&got, "kafka_message_queue_size", &[("producer", producer)]).is_some(),
            "{got:?}"
        );
        let u = value(&got, "kafka_worker_utilization", &[("producer", producer)]).unwrap();
        assert!((0.0..=1.0).contains(&u), "{u}");
    }
    let report = sink.close().await.unwrap();
    assert_eq!(report.undelivered, 0);
    let _ = provider.shutdown();
}
