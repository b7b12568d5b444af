//! The source's frame accounting against the simulator: `frames = decoded + malformed +
//! stale_dropped` holds through faults, and the simulator's count of malformed frames is what
//! the source saw. A stalled connection sends nothing, so a malformed frame injected while it
//! is stalled is neither sent nor counted by the simulator (it used to be counted, which is
//! where "the simulator injected 8, kobe counted 6" came from).

mod kraken_support;

use std::time::Duration;

use kobe_core::event::{EventKind, ResetReason};
use kobe_core::kraken::simulator::{Fault, SimConfig};
use kraken_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_sent_are_malformed_frames_counted() {
    let (sim, _stop) = sim(SimConfig {
        symbols: 4,
        tick: Duration::from_millis(10),
        ..SimConfig::default()
    })
    .await;
    let s: Vec<_> = sim.symbols().iter().map(|x| x.0).collect();
    let cfg = fast(&sim.url(), &s, 10);
    let mut run = start(&cfg, false).await;
    let mut books = Books::new(10);
    run.until(&mut books, |_, b| b.books.len() == 4).await;

    // One malformed frame on a live connection: sent, and seen.
    sim.inject(Fault::MalformedFrame);
    // Then a stall, and another malformed frame while stalled: not sent, so not counted.
    sim.inject(Fault::Stall);
    sim.inject(Fault::MalformedFrame);
    // The source notices the silence, reconnects, and gets every book back; by then it has
    // read everything the stalled connection sent before going silent.
    run.until(&mut books, |e, _| {
        matches!(
            e.kind,
            EventKind::BookReset {
                reason: ResetReason::Reconnect
            }
        )
    })
    .await;
    run.until(&mut books, |_, b| b.books.len() == 4).await;
    let st = sim.stats();
    assert_eq!(st.stalls, 1);
    let report = run.finish().await.unwrap();
    assert_eq!(
        (report.malformed, st.malformed),
        (1, 1),
        "malformed frames seen by the source vs sent by the simulator"
    );
    assert_eq!(
        report.frames,
        report.decoded + report.malformed + report.stale_dropped,
        "{report:?}"
    );
}

/// A scripted server: instrument and book subscriptions, then, when asked to unsubscribe,
/// three more updates of the old subscription before the ack (as Kraken does when updates are
/// in flight), then a fresh subscription.
async fn scripted_server() -> String {
    use async_tungstenite::tungstenite::Message;
    use futures_util::StreamExt;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v2", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = async_tungstenite::tokio::accept_async(tcp).await.unwrap();
        let ts = "2026-08-02T10:00:00.000000Z";
        let level = |p: &str| format!(r#"[{{"price":{p},"qty":1.00000000}}]"#);
        let book = |kind: &str, bid: &str| {
            format!(
                r#"{{"channel":"book","type":"{kind}","data":[{{"symbol":"BTC/USD","bids":{},"asks":{},"checksum":1,"timestamp":"{ts}"}}]}}"#,
                level(bid),
                level("101.0")
            )
        };
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(text) = msg else { continue };
            let req: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
            let id = &req["req_id"];
            let channel = req["params"]["channel"].as_str().unwrap_or("");
            let mut out: Vec<String> = Vec::new();
            match (req["method"].as_str().unwrap_or(""), channel) {
                ("subscribe", "instrument") => {
                    out.push(format!(r#"{{"method":"subscribe","result":{{"channel":"instrument","snapshot":true}},"success":true,"time_in":"{ts}","time_out":"{ts}","req_id":{id}}}"#));
                    out.push(r#"{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[{"symbol":"BTC/USD","base":"BTC","quote":"USD","status":"online","qty_precision":8,"qty_increment":1e-08,"price_precision":1,"price_increment":0.1,"cost_precision":5,"marginable":false,"has_index":false,"cost_min":0.5,"qty_min":1e-08}]}}"#.into());
                }
                ("subscribe", "book") => {
                    out.push(format!(r#"{{"method":"subscribe","result":{{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"}},"success":true,"time_in":"{ts}","time_out":"{ts}","req_id":{id}}}"#));
                    out.push(book("snapshot", "100.0"));
                }
                ("unsubscribe", "book") => {
                    for bid in ["99.0", "98.0", "97.0"] {
                        out.push(book("update", bid));
                    }
                    out.push(format!(r#"{{"method":"unsubscribe","result":{{"channel":"book","depth":10,"symbol":"BTC/USD"}},"success":true,"time_in":"{ts}","time_out":"{ts}","req_id":{id}}}"#));
                }
                _ => {}
            }
            for text in out {
                if ws.send(Message::text(text)).await.is_err() {
                    return;
                }
            }
        }
    });
    url
}

#[tokio::test]
async fn frames_of_an_old_subscription_are_counted_as_stale_per_symbol() {
    use kobe_core::component::ControlRequest;

    let url = scripted_server().await;
    let s = syms(&["BTC/USD"]);
    let mut run = start(&fast(&url, &s, 10), false).await;
    let mut books = Books::new(10);
    let snapshot = |e: &kobe_core::event::Event| matches!(e.kind, EventKind::BookSnapshot(_));
    run.until(&mut books, |e, _| snapshot(e)).await;
    run.control
        .send(ControlRequest::Resync {
            symbol: s[0],
            reason: ResetReason::Resync,
        })
        .unwrap();
    run.until(&mut books, |e, _| snapshot(e)).await;
    assert!(
        !run.seen
            .iter()
            .any(|e| matches!(e.kind, EventKind::BookUpdate(_))),
        "the old subscription's updates are not passed on"
    );
    let report = run.finish().await.unwrap();
    assert_eq!(report.stale_dropped, 3, "{report:?}");
    assert_eq!(report.stale_dropped_by_symbol.get("BTC/USD"), Some(&3));
    assert_eq!(
        report.frames,
        report.decoded + report.malformed + report.stale_dropped,
        "{report:?}"
    );
}
