//! The shipped Kafka pipelines run as they are: `kraken-kafka.yaml` against the simulator
//! (only the source URL and the brokers overridden) and `replay-kafka.yaml` on a fixture.

mod common;

use std::path::Path;
use std::time::Duration;

use common::cli::summary;
use common::kafka::seqs_by_symbol;
use common::process::Running;
use common::tansu::{free_port, Reader, Tansu};

const MINUTE: Duration = Duration::from_secs(60);

fn shipped(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn kraken_kafka_runs_against_the_simulator_with_krakens_pairs() {
    let broker = Tansu::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let sim = Running::spawn("sim", &["sim", "--addr", &addr], dir.path(), "warn", &[]);
    sim.wait_for_stdout("Kraken v2 simulator on", MINUTE);
    let url = format!("source.url=ws://{addr}/v2");
    let brokers = format!("sinks.kafka.brokers=[{}]", broker.brokers());
    let run = Running::spawn(
        "kraken-kafka",
        &[
            "run",
            &shipped("kraken-kafka.yaml"),
            "--set",
            &url,
            "--set",
            &brokers,
        ],
        dir.path(),
        "info",
        &[],
    );
    let mut reader = Reader::new(&broker.brokers(), "kraken_book", 6);
    if let Err(e) = reader.try_read_until(300, MINUTE) {
        panic!("{e}; kobe's log:\n{}", run.stderr_text());
    }
    run.terminate();
    let (status, _) = run.wait(MINUTE);
    sim.terminate();
    let log = run.stderr_text();
    assert!(status.success(), "{log}");
    let report = summary(log.as_bytes());
    assert_eq!(report["accounting"]["ok"], true, "{report}");
    let delivered = report["sinks"]["kafka"]["delivered"].as_u64().unwrap();
    reader
        .read_until(delivered as usize, MINUTE)
        .read_quiet(Duration::from_secs(1));
    assert_eq!(reader.records.len() as u64, delivered);
    let symbols = seqs_by_symbol(&reader.records);
    for pair in ["BTC/USD", "ETH/USD", "SOL/USD"] {
        assert!(symbols.contains_key(pair), "{pair} in {:?}", symbols.keys());
    }
    for (symbol, seqs) in &symbols {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{symbol} in order");
    }
    // Kraken's real precision: BTC/USD prices have one decimal.
    let btc = reader
        .records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.payload).to_string())
        .find(|r| r.contains("\"symbol\":\"BTC/USD\"") && r.contains("book_snapshot"))
        .expect("a BTC/USD snapshot");
    let price_at = btc.find("\"bids\":[[\"").unwrap() + 10;
    let price = &btc[price_at..price_at + btc[price_at..].find('"').unwrap()];
    assert_eq!(price.split('.').nth(1).map(str::len), Some(1), "{price}");
}

#[test]
fn replay_kafka_writes_one_topic_per_symbol() {
    let broker = Tansu::start();
    let dir = tempfile::tempdir().unwrap();
    let fixture = common::fixtures().join("kraken-docs__book-checksum-v2-example.ndjson");
    let path = format!("source.path={}", fixture.display());
    let brokers = format!("sinks.kafka.brokers=[{}]", broker.brokers());
    let run = Running::spawn(
        "replay-kafka",
        &[
            "run",
            &shipped("replay-kafka.yaml"),
            "--set",
            &path,
            "--set",
            &brokers,
        ],
        dir.path(),
        "info",
        &[],
    );
    let (status, _) = run.wait(MINUTE);
    let log = run.stderr_text();
    assert!(status.success(), "{log}");
    let report = summary(log.as_bytes());
    let topics = report["sinks"]["kafka"]["topics"].as_object().unwrap();
    assert!(!topics.is_empty(), "{report}");
    for (topic, counts) in topics {
        assert!(
            topic.starts_with("kraken.") && !topic.contains('/'),
            "{topic}"
        );
        let n = counts["delivered"].as_u64().unwrap() as usize;
        let mut reader = Reader::new(&broker.brokers(), topic, 3);
        reader
            .read_until(n, MINUTE)
            .read_quiet(Duration::from_millis(500));
        assert_eq!(reader.records.len(), n, "{topic}");
    }
}
