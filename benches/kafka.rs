//! Kafka throughput, three ways in one run on one Tansu broker and the same records:
//!
//! - raw: librdkafka's own producer (one `ThreadedProducer`, idempotent, `acks=all`) sending
//!   the records pre-rendered (same key, payload and timestamp as the sink's), with no kobe:
//!   the practical limit;
//! - kobe: the whole pipeline, `replay` → `snapshot` → `update` → `checksum` → `kafka` sink
//!   (one producer, the same librdkafka settings);
//! - old: the old engine's pattern, a pool of 5 producers where each send waits for its
//!   delivery report before the next.
//!
//! Each rate counts from the first send to the last acknowledgement. The records are rendered
//! once by the same pipeline into a file sink first, so raw and kobe send identical bytes.
//!
//! `cargo bench --bench kafka`. Needs `tansu` (tests/run installs it). Environment:
//! `KOBE_BENCH_RECORDS` (about how many records, default 500000), `KOBE_BENCH_OLD_RECORDS`
//! (records for the slow old pattern, default 10000), `KOBE_BENCH_ROUNDS` (raw/kobe rounds,
//! best kept, default 3).

#[path = "common/corpus.rs"]
mod corpus;
#[path = "../tests/common/tansu.rs"]
mod tansu;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kobe_core::pipeline::{load_str, EnvSource};
use kobe_core::registry::Registry;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, FutureProducer, FutureRecord, Producer, ProducerContext,
    ThreadedProducer,
};
use rdkafka::{ClientConfig, ClientContext};
use tansu::Tansu;
use tokio_util::sync::CancellationToken;

const PARTITIONS: u32 = 6;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The shared corpus, with its precision hints as YAML lines of the replay source.
fn corpus() -> (Vec<String>, String) {
    let (frames, precision) = corpus::corpus();
    let hints = precision
        .iter()
        .map(|(sym, p)| format!("    \"{sym}\": {p}\n"))
        .collect();
    (frames, hints)
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    kobe_core::replay::register(&mut registry);
    kobe_plugins::register(&mut registry);
    kobe_sinks::register(&mut registry);
    registry
}

/// A pipeline over the corpus file: books verified, book records to `sink`.
fn pipeline_yaml(input: &Path, repeat: usize, hints: &str, sink: &str) -> String {
    format!(
        "source:\n  type: replay\n  path: {input:?}\n  repeat: {repeat}\n  precision:\n{hints}\
         handlers:\n  - type: snapshot\n  - type: update\n  - type: checksum\n    on_mismatch: log\n\
         sinks:\n  out:\n{sink}    events: [book_snapshot, book_update]\n"
    )
}

/// Runs a pipeline to its end; returns the sink's record count and the time taken.
fn run_pipeline(rt: &tokio::runtime::Runtime, yaml: &str) -> (u64, Duration) {
    let pipeline = load_str(yaml, "bench.yaml", &[], &EnvSource::default(), &registry())
        .unwrap_or_else(|d| panic!("{d}"));
    let start = Instant::now();
    let report = rt
        .block_on(kobe_core::pipeline::run(pipeline, CancellationToken::new()))
        .unwrap();
    (report.sinks["out"].written, start.elapsed())
}

struct Counting(Arc<AtomicU64>);
impl ClientContext for Counting {}
impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        assert!(r.is_ok(), "raw delivery failed: {:?}", r.as_ref().err());
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn producer_config(brokers: &str, linger_ms: u32) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("compression.codec", "none")
        .set("linger.ms", linger_ms.to_string());
    c
}

/// The `symbol` of a JSON record (its key).
fn symbol(record: &str) -> &str {
    let at = record.find("\"symbol\":\"").unwrap() + 10;
    &record[at..at + record[at..].find('"').unwrap()]
}

/// A pre-rendered record as the kafka sink sends it: key (the symbol), payload, and the
/// exchange time as the message timestamp.
struct Prepared<'a> {
    key: &'a str,
    payload: &'a str,
    timestamp: i64,
}

fn prepare(record: &str) -> Prepared<'_> {
    // The exchange time, or the receive time for a frame without one (as the sink does).
    let at = match record.find("\"exchange_ts\":\"") {
        Some(at) => at + 15,
        None => record.find("\"received_ts\":\"").unwrap() + 15,
    };
    let text = &record[at..at + record[at..].find('"').unwrap()];
    Prepared {
        key: symbol(record),
        payload: record,
        timestamp: kobe_core::Timestamp::parse(text).unwrap().0 / 1_000_000,
    }
}

/// librdkafka alone: every record sent as fast as the queue takes it.
fn raw(brokers: &str, topic: &str, records: &[Prepared<'_>]) -> Duration {
    let delivered = Arc::new(AtomicU64::new(0));
    let p: ThreadedProducer<Counting> = producer_config(brokers, 5)
        .create_with_context(Counting(delivered.clone()))
        .unwrap();
    let start = Instant::now();
    for r in records {
        let mut rec = BaseRecord::to(topic)
            .key(r.key)
            .payload(r.payload)
            .timestamp(r.timestamp);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    rec = back;
                    p.poll(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("raw send: {e}"),
            }
        }
    }
    p.flush(Duration::from_secs(120)).unwrap();
    let took = start.elapsed();
    assert_eq!(delivered.load(Ordering::Relaxed), records.len() as u64);
    took
}

/// The old engine's pattern: 5 producers, each send awaits its delivery report.
fn old(rt: &tokio::runtime::Runtime, brokers: &str, topic: &str, records: &[&str]) -> Duration {
    let producers: Vec<FutureProducer> = (0..5)
        .map(|_| producer_config(brokers, 0).create().unwrap())
        .collect();
    let start = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for (i, p) in producers.into_iter().enumerate() {
            let mine: Vec<String> = records
                .iter()
                .skip(i)
                .step_by(5)
                .map(|r| r.to_string())
                .collect();
            let topic = topic.to_string();
            tasks.push(tokio::spawn(async move {
                for r in &mine {
                    p.send(
                        FutureRecord::to(&topic).key(symbol(r)).payload(r.as_str()),
                        Duration::from_secs(30),
                    )
                    .await
                    .map_err(|(e, _)| e)
                    .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    start.elapsed()
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let want = env_num("KOBE_BENCH_RECORDS", 500_000);
    let old_n = env_num("KOBE_BENCH_OLD_RECORDS", 10_000);
    let rounds = env_num("KOBE_BENCH_ROUNDS", 3).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (frames, hints) = corpus();
    let input = dir.path().join("corpus.ndjson");
    std::fs::write(&input, frames.join("\n") + "\n").unwrap();

    // Render once: how many records one pass makes, then the records themselves.
    let out = dir.path().join("records.ndjson");
    let file_sink = format!("    type: file\n    path: {out:?}\n");
    let (per_pass, _) = run_pipeline(&rt, &pipeline_yaml(&input, 1, &hints, &file_sink));
    let repeat = (want as u64).div_ceil(per_pass.max(1)) as usize;
    std::fs::remove_file(&out).unwrap();
    let (n, _) = run_pipeline(&rt, &pipeline_yaml(&input, repeat, &hints, &file_sink));
    let text = std::fs::read_to_string(&out).unwrap();
    let records: Vec<&str> = text.lines().collect();
    assert_eq!(records.len() as u64, n);
    println!(
        "kafka bench: {n} records ({} passes over {} fixture frames), {:.0} bytes each on average",
        repeat,
        frames.len(),
        text.len() as f64 / n as f64
    );

    let prepared: Vec<Prepared<'_>> = records.iter().map(|r| prepare(r)).collect();
    // A fresh broker each round (Tansu keeps every record in memory), the two variants in
    // alternating order, so neither always meets the warmer or the fuller broker.
    let mut best_raw = Duration::MAX;
    let mut best_kobe = Duration::MAX;
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let broker = Tansu::start();
        let brokers = broker.brokers();
        broker.create_topic("bench-raw", PARTITIONS);
        broker.create_topic("bench-kobe", PARTITIONS);
        let sink = format!(
            "    type: kafka\n    brokers: [{brokers}]\n    topic: bench-kobe\n    pool_size: 1\n    linger_ms: 5\n"
        );
        let kobe_yaml = pipeline_yaml(&input, repeat, &hints, &sink);
        let mut t_raw = Duration::ZERO;
        let mut t_kobe = Duration::ZERO;
        for turn in 0..2 {
            if (turn + round) % 2 == 0 {
                t_raw = raw(&brokers, "bench-raw", &prepared);
            } else {
                let (sent, t) = run_pipeline(&rt, &kobe_yaml);
                assert_eq!(sent, n);
                t_kobe = t;
            }
        }
        println!(
            "  round {round}: raw {:>8.0} records/s, kobe {:>8.0} records/s: {:.2}x",
            rate(records.len(), t_raw),
            rate(records.len(), t_kobe),
            t_raw.as_secs_f64() / t_kobe.as_secs_f64()
        );
        ratios.push(t_raw.as_secs_f64() / t_kobe.as_secs_f64());
        best_raw = best_raw.min(t_raw);
        best_kobe = best_kobe.min(t_kobe);
        if round + 1 == rounds {
            broker.create_topic("bench-old", PARTITIONS);
            let old_records = &records[..old_n.min(records.len())];
            let t_old = old(&rt, &brokers, "bench-old", old_records);
            let old_rate = rate(old_records.len(), t_old);
            report(
                records.len(),
                best_raw,
                best_kobe,
                old_rate,
                &mut ratios,
                rounds,
            );
        }
    }
}

fn report(
    n: usize,
    best_raw: Duration,
    best_kobe: Duration,
    old_rate: f64,
    ratios: &mut [f64],
    rounds: usize,
) {
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    let raw_rate = rate(n, best_raw);
    let kobe_rate = rate(n, best_kobe);
    println!("\nbest of {rounds} rounds, same records, a fresh broker per round:");
    println!("  raw librdkafka producer      {raw_rate:>10.0} records/s   1.00x");
    println!(
        "  kobe replay->books->kafka    {kobe_rate:>10.0} records/s   {:.2}x of raw (target >= 0.80); median of the rounds' ratios {median:.2}x",
        kobe_rate / raw_rate
    );
    println!(
        "  old pattern (5 x send+wait)  {old_rate:>10.0} records/s   {:.3}x of raw; kobe is {:.1}x the old pattern (target >= 20)",
        old_rate / raw_rate,
        kobe_rate / old_rate
    );
}
