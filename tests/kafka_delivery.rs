//! The `kafka` sink on a real broker (Tansu): it passes the sink harness, and a million
//! replayed records arrive exactly once, each symbol in order on the partition Kafka's own
//! murmur2 partitioner gives its key.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::cli::{kobe, summary};
use common::kafka::{book_frames, symbol_and_seq};
use common::tansu::{consume, java_partition, murmur2, Tansu};

#[test]
fn murmur2_reference_matches_the_java_client() {
    // Values from the Java client's tests of Utils.murmur2.
    assert_eq!(murmur2(b"21"), -973932308);
    assert_eq!(murmur2(b"foobar"), -790332482);
    assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
    assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
    assert_eq!(
        murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
        -58897971
    );
}

#[tokio::test]
async fn kafka_sink_passes_the_sink_harness() {
    let broker = Tansu::start();
    let config: kobe_sinks::kafka::KafkaConfig = serde_json::from_value(serde_json::json!({
        "brokers": [broker.brokers()],
        "topic": "conformance",
        "create_topic": {"partitions": 2},
        "linger_ms": 1,
    }))
    .unwrap();
    kobe_core::testing::check_sink(&config).await.unwrap();
    let got = consume(
        &broker.brokers(),
        "conformance",
        2,
        1,
        Duration::from_millis(500),
        Duration::from_secs(30),
    );
    assert!(!got.is_empty());
}

const RECORDS: usize = 1_000_000;
const FRAMES: usize = 1_000;
const PARTITIONS: i32 = 6;

#[test]
fn a_million_replayed_records_arrive_once_in_order_on_murmur2_partitions() {
    let broker = Tansu::start();
    broker.create_topic("books", PARTITIONS as u32);
    let dir = tempfile::tempdir().unwrap();
    let frames = book_frames(FRAMES);
    assert_eq!(frames.len(), FRAMES, "the fixtures hold enough book frames");
    let input = dir.path().join("frames.ndjson");
    std::fs::write(&input, frames.join("\n") + "\n").unwrap();
    let pipeline = dir.path().join("p.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "source:\n  type: replay\n  path: {input:?}\n  repeat: {}\nhandlers:\n  - type: passthrough\n\
             sinks:\n  kafka:\n    type: kafka\n    brokers: [{}]\n    topic: books\n    pool_size: 5\n    \
             linger_ms: 20\n    compression: lz4\n    events: [book_snapshot, book_update]\n",
            RECORDS / FRAMES,
            broker.brokers()
        ),
    )
    .unwrap();
    let out = kobe(&["run", pipeline.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report = summary(&out.stderr);
    assert_eq!(
        report["sinks"]["kafka"]["written"], RECORDS as u64,
        "{stderr}"
    );
    assert_eq!(
        report["sinks"]["kafka"]["delivered"], RECORDS as u64,
        "{stderr}"
    );
    assert_eq!(report["accounting"]["ok"], true, "{report}");
    let identities = report["accounting"].to_string();
    assert!(
        identities.contains("sinks.kafka.written 1000000 = delivered 1000000 + undelivered 0"),
        "the sink's identity is in the summary: {identities}"
    );

    let got = consume(
        &broker.brokers(),
        "books",
        PARTITIONS,
        RECORDS,
        Duration::from_secs(2),
        Duration::from_secs(180),
    );
    assert_eq!(got.len(), RECORDS, "exactly every record, no duplicates");
    let mut seen = HashSet::with_capacity(RECORDS);
    let mut last_seq: HashMap<String, u64> = HashMap::new();
    let mut partition_of: HashMap<String, i32> = HashMap::new();
    for r in &got {
        let (symbol, seq) = symbol_and_seq(&r.payload);
        assert_eq!(
            r.key.as_deref(),
            Some(symbol.as_bytes()),
            "key is the symbol"
        );
        assert!(
            seen.insert((symbol.clone(), seq)),
            "{symbol} seq {seq} twice"
        );
        if let Some(prev) = last_seq.insert(symbol.clone(), seq) {
            assert!(seq > prev, "{symbol}: seq {seq} after {prev}");
        }
        let p = *partition_of.entry(symbol.clone()).or_insert(r.partition);
        assert_eq!(
            p, r.partition,
            "{symbol} on partitions {p} and {}",
            r.partition
        );
    }
    assert!(partition_of.len() > 3, "several symbols: {partition_of:?}");
    for (symbol, p) in &partition_of {
        assert_eq!(
            *p,
            java_partition(symbol.as_bytes(), PARTITIONS),
            "{symbol} is on the partition murmur2 gives its key"
        );
    }
}

/// The old engine's format, and `kobe start`'s default: each book frame as received, keyed by
/// its pair, on the partition murmur2 gives that key, in the order the pair's frames came.
#[test]
fn raw_frames_are_keyed_by_their_pair_and_keep_its_order() {
    const RAW_FRAMES: usize = 600;
    const RAW_PARTITIONS: i32 = 4;
    let broker = Tansu::start();
    broker.create_topic("raw", RAW_PARTITIONS as u32);
    let dir = tempfile::tempdir().unwrap();
    let input = common::kafka::write_frames(dir.path(), RAW_FRAMES);
    let pipeline = dir.path().join("p.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "source:\n  type: replay\n  path: {input:?}\nhandlers:\n  - type: passthrough\n\
             engine:\n  workers: 2\n\
             sinks:\n  kafka:\n    type: kafka\n    brokers: [{}]\n    topic: raw\n    pool_size: 3\n    \
             linger_ms: 5\n    format: raw\n",
            broker.brokers()
        ),
    )
    .unwrap();
    let out = kobe(&["run", pipeline.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let sent: Vec<String> = std::fs::read_to_string(&input)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let pair_of = |frame: &[u8]| -> String {
        let v: serde_json::Value = serde_json::from_slice(frame).unwrap();
        v["data"][0]["symbol"].as_str().unwrap().to_string()
    };
    let got = consume(
        &broker.brokers(),
        "raw",
        RAW_PARTITIONS,
        sent.len(),
        Duration::from_millis(500),
        Duration::from_secs(60),
    );
    assert_eq!(got.len(), sent.len(), "every frame once");
    let mut expected: HashMap<String, Vec<&[u8]>> = HashMap::new();
    for frame in &sent {
        expected
            .entry(pair_of(frame.as_bytes()))
            .or_default()
            .push(frame.as_bytes());
    }
    let mut consumed: HashMap<String, Vec<&[u8]>> = HashMap::new();
    for r in &got {
        let pair = pair_of(&r.payload);
        assert_eq!(
            r.key.as_deref(),
            Some(pair.as_bytes()),
            "a raw frame is keyed by its pair"
        );
        assert_eq!(
            r.partition,
            java_partition(pair.as_bytes(), RAW_PARTITIONS),
            "{pair} is on the partition murmur2 gives its key"
        );
        consumed.entry(pair).or_default().push(&r.payload);
    }
    assert!(expected.len() > 3, "several pairs: {:?}", expected.keys());
    assert_eq!(
        consumed, expected,
        "each pair's frames in the order received"
    );
}
