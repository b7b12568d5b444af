//! The metrics endpoint on 127.0.0.1:0: `/health`, `/ready` (books and sinks), `/metrics`
//! with the engine's instruments, unknown paths and methods.

use std::time::Duration;

use kobe_core::metrics::server::{serve, Endpoint};
use kobe_core::metrics::{Connection, Exporter, Telemetry};
use kobe_core::Symbol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

async fn request(addr: std::net::SocketAddr, line: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("{line}\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let status = buf.split(' ').nth(1).unwrap().parse().unwrap();
    (status, buf.split_once("\r\n\r\n").unwrap().1.to_string())
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let exporter = Exporter::new().unwrap();
    let telemetry = Telemetry::new(&exporter.meter());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve(
        listener,
        Endpoint {
            exporter: Some(exporter),
            telemetry: telemetry.clone(),
        },
        stop.clone(),
    ));

    assert_eq!(
        request(addr, "GET /health HTTP/1.1").await,
        (200, "ok\n".into())
    );
    let (status, body) = request(addr, "GET /ready HTTP/1.1").await;
    assert_eq!(status, 503);
    assert!(body.contains("pipeline: not running"), "{body}");
    assert!(body.contains("books: none received yet"), "{body}");

    telemetry.set_started(true);
    telemetry.expect_symbols([Symbol::new("BTC/USD").unwrap()]);
    let kafka = Connection::new(false);
    telemetry.watch_sink("kafka", kafka.clone());
    let (status, body) = request(addr, "GET /ready HTTP/1.1").await;
    assert_eq!(status, 503);
    assert!(
        body.contains("book BTC/USD: not valid (no snapshot yet)"),
        "{body}"
    );
    assert!(body.contains("sink kafka: not connected"), "{body}");
    assert!(!body.contains("pipeline"), "{body}");

    kafka.set(true);
    let (_, body) = request(addr, "GET /ready HTTP/1.1").await;
    assert!(!body.contains("sink kafka"), "{body}");

    let (status, body) = request(addr, "GET /metrics HTTP/1.1").await;
    assert_eq!(status, 200);
    for needle in [
        "kobe_build_info{version=\"",
        "kobe_books_total 1",
        "kobe_books_valid 0",
        "kobe_book_valid{symbol=\"BTC/USD\"} 0",
        "kobe_sink_connected{sink=\"kafka\"} 1",
        "# TYPE ws_messages_total counter",
    ] {
        assert!(body.contains(needle), "no {needle} in:\n{body}");
    }
    assert_eq!(request(addr, "GET /nope HTTP/1.1").await.0, 404);
    assert_eq!(request(addr, "POST /metrics HTTP/1.1").await.0, 405);

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops on shutdown")
        .unwrap();
}
