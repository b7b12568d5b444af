//! A real Prometheus scrapes `kobe run` every second while kobe reads the Kraken simulator
//! (the engine of `kobe sim`) with injected faults: corrupt checksums, withheld snapshots and a
//! disconnect. Through Prometheus's HTTP API the key series must agree with the simulator's
//! own statistics; `/ready` must turn false while a book is invalid and true after its resync;
//! and every PromQL query of the Grafana dashboard must return data from the same Prometheus.

mod observe;

use std::time::Duration;

use kobe_core::kraken::simulator::{self, Fault, SimConfig, SimHandle};
use kobe_core::Symbol;
use observe::*;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

fn pipeline(url: &str, out: &std::path::Path) -> String {
    format!(
        r#"source:
  type: kraken
  url: {url}
  symbols: [S000/USD, S001/USD]
  depth: 10
  ping_interval_ms: 300
  stall_timeout_ms: 3000
  snapshot_timeout_ms: 1000
  reconnect:
    initial_backoff_ms: 20
    max_backoff_ms: 200
    jitter_percent: 0
    min_interval_after_failures_ms: 100
handlers:
  - type: snapshot
  - type: update
  - type: checksum
    on_mismatch: resync
sinks:
  out:
    type: file
    path: {}
metrics:
  addr: 127.0.0.1:0
"#,
        out.display()
    )
}

async fn ready(kobe: &str) -> (u16, String) {
    get(kobe, "/ready").await.expect("kobe answers /ready")
}

async fn wait_ready(kobe: &str, what: &str) {
    let k = kobe.to_string();
    eventually(WAIT, what, || {
        let k = k.clone();
        async move { (ready(&k).await.0 == 200).then_some(()) }
    })
    .await;
}

/// Reads one sample (summed over label sets matching `filter`) straight from kobe's /metrics.
async fn scrape(kobe: &str, name: &str, filter: &str) -> f64 {
    let (_, body) = get(kobe, "/metrics").await.expect("kobe answers /metrics");
    body.lines()
        .filter(|l| {
            l.starts_with(name)
                && matches!(l.as_bytes().get(name.len()), Some(b' ') | Some(b'{'))
                && l.contains(filter)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn book_events_seen(kobe: &str) -> f64 {
    scrape(kobe, "ws_messages_total", "type=\"book_snapshot\"").await
        + scrape(kobe, "ws_messages_total", "type=\"book_update\"").await
        + scrape(kobe, "kobe_source_stale_events_total", "").await
}

/// Pauses the market and waits until kobe has counted every book message the simulator sent.
async fn quiesce(sim: &SimHandle, kobe: &str) -> f64 {
    sim.pause(true);
    let k = kobe.to_string();
    let s = sim.clone();
    eventually(WAIT, "kobe counted every book message sent", || {
        let (k, s) = (k.clone(), s.clone());
        async move {
            let st = s.stats();
            let sent = (st.snapshots + st.updates) as f64;
            (book_events_seen(&k).await == sent).then_some(sent)
        }
    })
    .await
}

/// Waits until Prometheus's latest sample of `expr` equals `want`.
async fn prom_equals(prom: &Prometheus, expr: &str, want: f64) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let got = prom.value(expr).await;
        if got == Some(want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Prometheus: {expr} = {got:?}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_what_the_simulator_did() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let sim = simulator::spawn(
        listener,
        stop.clone(),
        SimConfig {
            symbols: 4,
            tick: Duration::from_millis(20),
            updates_per_tick: 2,
            ..SimConfig::default()
        },
    )
    .unwrap();
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(&file, pipeline(&sim.url(), &dir.path().join("out.ndjson"))).unwrap();

    let run = kobe_run(&file).await;
    let kobe = run.metrics.clone();
    assert_eq!(get(&kobe, "/health").await.unwrap(), (200, "ok\n".into()));
    wait_ready(&kobe, "both books valid at start").await;
    let prom = Prometheus::start(&kobe, Some(&root().join("compose/prometheus/rules.yml"))).await;
    // Its first sample takes a few seconds.
    prom_equals(&prom, "kobe_books_valid", 2.0).await;

    // A book invalid and kept so (its resync gets no snapshot): /ready says which, and why.
    let symbols = [
        Symbol::new("S000/USD").unwrap(),
        Symbol::new("S001/USD").unwrap(),
    ];
    for s in symbols {
        sim.inject(Fault::WithholdSnapshots(s, true));
    }
    sim.inject(Fault::CorruptChecksum);
    let k = kobe.clone();
    let body = eventually(WAIT, "/ready turns false on the mismatch", || {
        let k = k.clone();
        async move {
            let (status, body) = ready(&k).await;
            (status == 503).then_some(body)
        }
    })
    .await;
    assert!(
        body.contains("book S00") && body.contains("not valid"),
        "/ready names the invalid book: {body}"
    );
    prom_equals(&prom, "kobe_books_valid", 1.0).await;
    for s in symbols {
        sim.inject(Fault::WithholdSnapshots(s, false));
    }
    wait_ready(&kobe, "/ready true again after the resync").await;

    // Two more mismatches, one at a time.
    for n in 2..=3u64 {
        sim.inject(Fault::CorruptChecksum);
        let s = sim.clone();
        eventually(WAIT, "the simulator corrupted a checksum", || {
            let s = s.clone();
            async move { (s.stats().corrupted == n).then_some(()) }
        })
        .await;
        wait_ready(&kobe, "resynced").await;
    }

    // A disconnect with the market paused (nothing in flight), then the market again.
    let sent = quiesce(&sim, &kobe).await;
    prom_equals(
        &prom,
        r#"sum(ws_messages_total{type=~"book_snapshot|book_update"}) + sum(kobe_source_stale_events_total)"#,
        sent,
    )
    .await;
    let before = sim.stats().connections;
    sim.inject(Fault::Disconnect);
    let s = sim.clone();
    eventually(WAIT, "kobe reconnected", || {
        let s = s.clone();
        async move { (s.stats().connections > before).then_some(()) }
    })
    .await;
    sim.pause(false);
    wait_ready(&kobe, "books valid after the reconnect").await;
    let sent = quiesce(&sim, &kobe).await;
    let st = sim.stats();

    // The key series, through Prometheus, against the simulator's own counts.
    assert_eq!(st.corrupted, 3);
    prom_equals(
        &prom,
        "sum(kobe_checksum_mismatches_total)",
        st.corrupted as f64,
    )
    .await;
    prom_equals(
        &prom,
        "sum(kobe_ws_reconnects_total)",
        (st.connections - 1) as f64,
    )
    .await;
    prom_equals(&prom, "sum(kobe_ws_connects_total)", st.connections as f64).await;
    prom_equals(
        &prom,
        r#"sum(kobe_book_resets_total{reason="reconnect"})"#,
        (2 * (st.connections - 1)) as f64,
    )
    .await;
    prom_equals(
        &prom,
        r#"sum(ws_messages_total{type=~"book_snapshot|book_update"}) + sum(kobe_source_stale_events_total)"#,
        sent,
    )
    .await;
    prom_equals(&prom, "kobe_books_valid", 2.0).await;
    prom_equals(&prom, "kobe_books_total", 2.0).await;
    prom_equals(&prom, r#"kobe_sink_connected{sink="out"}"#, 1.0).await;
    // Events balance stage to stage: what the source produced entered the chain, what the
    // chain's last handler let out reached the sink, and the sink wrote all it was offered.
    for (from, to) in [
        (
            r#"kobe_component_events_out_total{component="source"}"#,
            r#"kobe_component_events_in_total{component="handlers[0]"}"#,
        ),
        (
            r#"kobe_component_events_out_total{component="handlers[2]"}"#,
            r#"kobe_component_events_in_total{component="sinks.out"}"#,
        ),
        (
            r#"kobe_component_events_in_total{component="sinks.out"}"#,
            r#"kobe_component_events_out_total{component="sinks.out"}"#,
        ),
    ] {
        prom_equals(&prom, &format!("sum({from}) - sum({to})"), 0.0).await;
    }
    assert!(
        prom.value(r#"sum(kobe_component_events_out_total{component="sinks.out"})"#)
            .await
            .unwrap_or(0.0)
            > 0.0
    );
    assert!(
        prom.value("sum(orderbook_updates_total)")
            .await
            .unwrap_or(0.0)
            > 0.0
    );
    assert!(
        prom.value("sum(kobe_end_to_end_latency_seconds_count)")
            .await
            .unwrap_or(0.0)
            > 0.0
    );

    // The alert on mismatches fires on this real series.
    let p = &prom;
    eventually(
        WAIT,
        "the KobeChecksumMismatch alert is pending or firing",
        || async move {
            let r = p
                .query(r#"ALERTS{alertname="KobeChecksumMismatch"}"#)
                .await?;
            (!r.is_empty()).then_some(())
        },
    )
    .await;

    // Every series kobe exports is in the catalog docs/METRICS.md is generated from.
    let names = prom
        .query(r#"count by (__name__) ({job="kobe"})"#)
        .await
        .expect("Prometheus lists kobe's series");
    for (labels, _) in &names {
        let name = labels["__name__"].as_str().unwrap_or("");
        if name == "up" || name.starts_with("scrape_") || name.starts_with("ALERTS") {
            continue;
        }
        assert!(
            kobe_core::metrics::catalog::find(name).is_some(),
            "{name} is exported but not in the catalog (docs/METRICS.md)"
        );
    }
    assert!(names.len() > 25, "{names:?}");

    // Every dashboard panel's PromQL returns data from this Prometheus.
    sim.pause(false);
    check_dashboard(&prom).await;
    drop(run);
}

/// Runs every target expression of the dashboard. Kafka panels need the Kafka sink's series,
/// which this pipeline has not: here Prometheus must accept them, and tests/start_kafka.rs
/// checks that they return data; every other panel must return data here.
async fn check_dashboard(prom: &Prometheus) {
    let path = root().join("compose/grafana/dashboards/kobe.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard exists"))
            .expect("dashboard is JSON");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 7, "the dashboard has its panels");
    let mut checked = 0;
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            let expr = expr
                .replace("$__rate_interval", "15s")
                .replace("$__interval", "5s")
                .replace("$symbol", ".*");
            let wants_kafka = expr.contains("kafka_");
            let deadline = std::time::Instant::now() + WAIT;
            loop {
                let result = prom.query(&expr).await;
                let ok = match &result {
                    Some(r) => wants_kafka || !r.is_empty(),
                    None => false,
                };
                if ok {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "panel {title:?}: {expr} returned no data: {}",
                    prom.raw_query(&expr).await
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "checked {checked} queries");
}
