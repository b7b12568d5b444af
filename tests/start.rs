//! `kobe start`: the old engine's command line builds the equivalent pipeline, from flags or
//! from an environment variable per flag; `--print-pipeline` shows it.

mod common;

use std::process::{Command, Output};

fn start(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(common::cli::kobe_bin());
    cmd.arg("start").args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("KOBE_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("kobe runs")
}

fn printed(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = start(args, env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_old_command_line_builds_the_equivalent_pipeline() {
    let yaml = printed(
        &[
            "wss://ws.kraken.com",
            "--pair=ETH/USD",
            "--pair",
            "BTC/USD,SOL/USD",
            "--metrics-addr=:2112",
            "--kafka-cluster-addresses=localhost:9092,kafka-2:9092",
            "--kafka-producer-pool-size=5",
            "--print-pipeline",
        ],
        &[],
    );
    for needle in [
        "type: kraken",
        "url: \"wss://ws.kraken.com\"",
        "symbols: [\"ETH/USD\", \"BTC/USD\", \"SOL/USD\"]",
        "- type: snapshot",
        "- type: update",
        "- type: checksum\n    on_mismatch: resync",
        "type: kafka",
        "brokers: [\"localhost:9092\", \"kafka-2:9092\"]",
        "pool_size: 5",
        "topic: \"kraken_book\"",
        "format: raw",
        "addr: \":2112\"",
    ] {
        assert!(yaml.contains(needle), "no {needle:?} in:\n{yaml}");
    }
}

#[test]
fn every_flag_has_an_environment_variable() {
    let yaml = printed(
        &["--print-pipeline"],
        &[
            ("KOBE_URL", "ws://127.0.0.1:9/v2"),
            ("KOBE_PAIR", "XBT/EUR,ETH/EUR"),
            ("KOBE_DEPTH", "25"),
            ("KOBE_METRICS_ADDR", "127.0.0.1:9100"),
            ("KOBE_KAFKA_CLUSTER_ADDRESSES", "broker:9093"),
            ("KOBE_KAFKA_PRODUCER_POOL_SIZE", "3"),
            ("KOBE_KAFKA_TOPIC", "books"),
            ("KOBE_KAFKA_FORMAT", "json"),
        ],
    );
    for needle in [
        "url: \"ws://127.0.0.1:9/v2\"",
        "symbols: [\"XBT/EUR\", \"ETH/EUR\"]",
        "depth: 25",
        "addr: \"127.0.0.1:9100\"",
        "brokers: [\"broker:9093\"]",
        "pool_size: 3",
        "topic: \"books\"",
        "format: json",
    ] {
        assert!(yaml.contains(needle), "no {needle:?} in:\n{yaml}");
    }
}

#[test]
fn a_pair_is_required() {
    let out = start(&["--print-pipeline"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pair"));
}
