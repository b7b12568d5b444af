//! `kobe start` end to end: the old command line against the Kraken simulator and a real
//! Kafka-protocol broker (Tansu). Records of the subscribed pairs arrive in Kafka, the metrics
//! address serves the engine's and the Kafka sink's series, `/ready` turns true, and SIGTERM
//! drains and exits 0. The YAML of `--print-pipeline` is a pipeline `kobe run` accepts, and so
//! is the compose stack's.

mod common;
mod observe;

use std::ffi::OsStr;
use std::time::Duration;

use common::tansu::{Reader, Tansu};
use kobe_core::kraken::simulator::{self, SimConfig};
use observe::*;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

async fn scrape(addr: &str, name: &str) -> f64 {
    let (_, body) = get(addr, "/metrics").await.expect("kobe answers /metrics");
    body.lines()
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b' ') | Some(b'{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_streams_the_pairs_into_kafka_with_metrics() {
    let broker = Tansu::start();
    broker.create_topic("kraken_book", 3);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let sim = simulator::spawn(
        listener,
        stop.clone(),
        SimConfig {
            symbols: 3,
            tick: std::time::Duration::from_millis(20),
            updates_per_tick: 2,
            ..SimConfig::default()
        },
    )
    .unwrap();
    let pairs: Vec<String> = sim
        .symbols()
        .iter()
        .take(2)
        .map(|(s, _, _)| s.to_string())
        .collect();
    let url = sim.url();
    let pair_flag = format!("--pair={}", pairs.join(","));
    let brokers = format!("--kafka-cluster-addresses={}", broker.brokers());
    let flags = [
        "start",
        url.as_str(),
        pair_flag.as_str(),
        "--metrics-addr=127.0.0.1:0",
        brokers.as_str(),
        "--kafka-producer-pool-size=2",
    ];
    let args: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
    let mut run = kobe_spawn(&args).await;
    let kobe = run.metrics.clone();

    let k = kobe.clone();
    eventually(
        WAIT,
        "kobe start is ready (books valid, sink connected)",
        || {
            let k = k.clone();
            async move { (get(&k, "/ready").await.ok()?.0 == 200).then_some(()) }
        },
    )
    .await;

    // The records in Kafka: Kraken's frames as received (the old engine's format), keyed by
    // their pair.
    // The simulator keeps streaming: read until enough arrived, not until quiet.
    let mut reader = Reader::new(&broker.brokers(), "kraken_book", 3);
    reader.read_until(20, WAIT);
    let records = reader.records.clone();
    assert!(records.len() >= 20, "{} records", records.len());
    let mut book_frames = 0;
    for r in &records {
        let frame: serde_json::Value =
            serde_json::from_slice(&r.payload).expect("a record is a Kraken frame");
        // A key, where the sink sets one, is the frame's pair. (Raw frames reach the sink
        // before decoding names their pair, so they may go unkeyed.)
        if let Some(key) = &r.key {
            let key = String::from_utf8(key.clone()).unwrap();
            assert!(pairs.contains(&key), "key {key}");
            assert!(
                String::from_utf8_lossy(&r.payload).contains(&key),
                "{frame}"
            );
        }
        if frame["channel"] == "book" {
            let symbol = frame["data"][0]["symbol"]
                .as_str()
                .unwrap_or("")
                .to_string();
            assert!(pairs.contains(&symbol), "a book frame of {symbol}");
            book_frames += 1;
        }
    }
    assert!(book_frames >= 10, "{book_frames} book frames");

    // The metrics on the address, engine and Kafka sink alike.
    let k = kobe.clone();
    eventually(WAIT, "Kafka deliveries are counted", || {
        let k = k.clone();
        async move { (scrape(&k, "kafka_messages_sent_total").await >= 20.0).then_some(()) }
    })
    .await;
    assert_eq!(scrape(&kobe, "kobe_books_valid").await, 2.0);
    assert!(scrape(&kobe, "ws_messages_total").await > 0.0);
    assert_eq!(scrape(&kobe, "kobe_sink_connected").await, 1.0);

    // The dashboard's Kafka panels return data from a real Prometheus scraping this kobe
    // (tests/prometheus.rs checks the other panels on a pipeline without Kafka).
    let prom = Prometheus::start(&kobe, None).await;
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("compose/grafana/dashboards/kobe.json")).unwrap(),
    )
    .unwrap();
    let mut kafka_queries = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            if !expr.contains("kafka_") {
                continue;
            }
            kafka_queries += 1;
            let expr = expr.replace("$__rate_interval", "15s");
            let p = &prom;
            let e = expr.clone();
            eventually(
                WAIT,
                &format!("panel {} returns data: {expr}", panel["title"]),
                || {
                    let e = e.clone();
                    async move {
                        let r = p.query(&e).await?;
                        (!r.is_empty()).then_some(())
                    }
                },
            )
            .await;
        }
    }
    assert!(kafka_queries >= 4, "{kafka_queries} Kafka queries");

    // SIGTERM drains and exits 0.
    let pid = run.child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::time::timeout(WAIT, run.child.wait())
        .await
        .expect("kobe start exits after SIGTERM")
        .unwrap();
    assert!(
        status.success(),
        "{status:?}: {:?}",
        run.log.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_says_when_kafka_is_unreachable() {
    let mut broker = Tansu::start();
    broker.create_topic("kraken_book", 1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let sim = simulator::spawn(
        listener,
        stop.clone(),
        SimConfig {
            symbols: 2,
            tick: Duration::from_millis(20),
            ..SimConfig::default()
        },
    )
    .unwrap();
    let pair = format!("--pair={}", sim.symbols()[0].0);
    let url = sim.url();
    let brokers = format!("--kafka-cluster-addresses={}", broker.brokers());
    let flags = [
        "start",
        url.as_str(),
        pair.as_str(),
        "--metrics-addr=127.0.0.1:0",
        brokers.as_str(),
    ];
    let args: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
    let run = kobe_spawn(&args).await;
    let kobe = run.metrics.clone();
    let ready = |want: u16| {
        let k = kobe.clone();
        move || {
            let k = k.clone();
            async move {
                let (status, body) = get(&k, "/ready").await.ok()?;
                (status == want).then_some(body)
            }
        }
    };
    eventually(WAIT, "ready with the broker up", ready(200)).await;
    broker.kill();
    let body = eventually(WAIT, "not ready with the broker down", ready(503)).await;
    assert!(body.contains("sink kafka: not connected"), "{body}");
    assert_eq!(scrape(&kobe, "kobe_sink_connected").await, 0.0);
    broker.restart_empty();
    broker.create_topic("kraken_book", 1);
    eventually(WAIT, "ready again once deliveries resume", ready(200)).await;
    drop(run);
}

fn validate(file: &std::path::Path) -> std::process::Output {
    std::process::Command::new(kobe_bin())
        .arg("validate")
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn the_printed_pipeline_is_one_kobe_run_accepts() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["raw", "json"] {
        let out = std::process::Command::new(kobe_bin())
            .args([
                "start",
                "wss://ws.kraken.com",
                "--pair=ETH/USD",
                "--pair=BTC/USD",
                "--metrics-addr=:2112",
                "--kafka-cluster-addresses=localhost:9092",
                "--kafka-producer-pool-size=5",
                &format!("--kafka-format={format}"),
                "--print-pipeline",
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        let file = dir.path().join(format!("start-{format}.yaml"));
        std::fs::write(&file, &out.stdout).unwrap();
        let v = validate(&file);
        assert!(
            v.status.success(),
            "{}{}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
    }
}

#[test]
fn the_compose_pipeline_is_valid() {
    let v = validate(&root().join("compose/kobe/pipeline.yaml"));
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}
