//! A subscription whose ack comes after the snapshot timeout (the connection was busy, or the
//! server slow): the source subscribes again, and Kraken answers "Already subscribed". That
//! answer means the subscription exists; it must not end the symbol for good.

mod kraken_support;

use std::time::Duration;

use kobe_core::event::EventKind;
use kraken_support::*;

/// Answers the first book subscribe late (after `late`), then every later subscribe with
/// "Already subscribed", and sends an update after each answer.
async fn late_server(late: Duration) -> String {
    use async_tungstenite::tungstenite::Message;
    use futures_util::StreamExt;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v2", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = async_tungstenite::tokio::accept_async(tcp).await.unwrap();
        let ts = "2026-08-02T10:00:00.000000Z";
        let book = |kind: &str, bid: &str| {
            format!(
                r#"{{"channel":"book","type":"{kind}","data":[{{"symbol":"BTC/USD","bids":[{{"price":{bid},"qty":1.00000000}}],"asks":[{{"price":101.0,"qty":1.00000000}}],"checksum":1,"timestamp":"{ts}"}}]}}"#
            )
        };
        let mut subscribed = false;
        let mut bid = 90;
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(text) = msg else { continue };
            let req: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
            let id = &req["req_id"];
            let mut out: Vec<String> = Vec::new();
            match (
                req["method"].as_str().unwrap_or(""),
                req["params"]["channel"].as_str().unwrap_or(""),
            ) {
                ("subscribe", "instrument") => {
                    out.push(format!(r#"{{"method":"subscribe","result":{{"channel":"instrument","snapshot":true}},"success":true,"time_in":"{ts}","time_out":"{ts}","req_id":{id}}}"#));
                    out.push(r#"{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[{"symbol":"BTC/USD","base":"BTC","quote":"USD","status":"online","qty_precision":8,"qty_increment":1e-08,"price_precision":1,"price_increment":0.1,"cost_precision":5,"marginable":false,"has_index":false,"cost_min":0.5,"qty_min":1e-08}]}}"#.into());
                }
                ("subscribe", "book") if !subscribed => {
                    subscribed = true;
                    tokio::time::sleep(late).await; // the slow answer under test
                    out.push(format!(r#"{{"method":"subscribe","result":{{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"}},"success":true,"time_in":"{ts}","time_out":"{ts}","req_id":{id}}}"#));
                    out.push(book("snapshot", "100.0"));
                }
                ("subscribe", "book") => {
                    out.push(format!(r#"{{"error":"Already subscribed","method":"subscribe","success":false,"symbol":"BTC/USD","time_in":"{ts}","time_out":"{ts}","req_id":{id}}}"#));
                }
                ("unsubscribe", "book") => {
                    subscribed = false;
                    out.push(format!(r#"{{"method":"unsubscribe","result":{{"channel":"book","depth":10,"symbol":"BTC/USD"}},"success":true,"time_in":"{ts}","time_out":"{ts}","req_id":{id}}}"#));
                }
                _ => {}
            }
            if subscribed {
                bid += 1;
                out.push(book("update", &format!("{bid}.0")));
            }
            for text in out {
                if futures_util::SinkExt::send(&mut ws, Message::text(text))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    url
}

#[tokio::test]
async fn already_subscribed_after_a_late_ack_keeps_the_book_flowing() {
    let url = late_server(Duration::from_millis(350)).await;
    let s = syms(&["BTC/USD"]);
    let mut cfg = fast(&url, &s, 10);
    cfg.snapshot_timeout_ms = 200;
    let mut run = start(&cfg, false).await;
    let mut books = Books::new(10);
    // The "Already subscribed" answer, then an update of the live book after it: the symbol
    // is still subscribed and its updates flow.
    run.until(&mut books, |e, _| {
        matches!(e.kind, EventKind::BookSnapshot(_))
    })
    .await;
    run.until(&mut books, |e, _| {
        matches!(e.kind, EventKind::BookUpdate(_))
    })
    .await;
    assert!(
        !run.seen
            .iter()
            .any(|e| matches!(e.kind, EventKind::SubscriptionError(_))),
        "an existing subscription is not an error: {:?}",
        run.seen
    );
    let report = run.finish().await.unwrap();
    assert_eq!(report.stale_dropped, 0, "{report:?}");
}
