//! Connection failures give clear errors, and attempts follow the reconnect policy: backoff
//! between attempts, the floor once failures repeat, and the attempt limit.

mod kraken_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kobe_core::kraken::KrakenError;
use kraken_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

fn policy_config(url: &str, attempts: u32) -> kobe_core::kraken::KrakenSourceConfig {
    let mut c = fast(url, &syms(&["BTC/USD"]), 10);
    c.connect_timeout_ms = 300;
    c.reconnect.initial_backoff_ms = 40;
    c.reconnect.min_interval_after_failures_ms = 150;
    c.reconnect.failures_before_floor = 2;
    c.reconnect.max_attempts = Some(attempts);
    c
}

async fn source_error(config: &kobe_core::kraken::KrakenSourceConfig) -> String {
    let run = start(config, false).await;
    let r = tokio::time::timeout(WAIT, run.task)
        .await
        .expect("the source hung")
        .unwrap();
    r.expect_err("the source must give up").to_string()
}

/// A listener that records when each connection arrived and does `behave` with it.
async fn server<F, Fut>(behave: F) -> (String, Arc<Mutex<Vec<Instant>>>)
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v2", l.local_addr().unwrap());
    let times = Arc::new(Mutex::new(Vec::new()));
    let t = times.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            t.lock().unwrap().push(Instant::now());
            tokio::spawn(behave(s));
        }
    });
    (url, times)
}

#[tokio::test(start_paused = true)]
async fn closed_port_backs_off_then_gives_up() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v2", l.local_addr().unwrap());
    drop(l);
    let start = Instant::now();
    let text = source_error(&policy_config(&url, 4)).await;
    assert!(text.contains("after 4 connection attempts"), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    // Delays after failures 1, 2, 3: 40 ms, then the 150 ms floor twice (no jitter).
    // (The paused clock may also advance a little while connect() waits on the socket.)
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(40 + 150 + 150),
        "{elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(40 + 150 + 150 + 100),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn server_that_never_completes_the_handshake_times_out() {
    let (url, times) = server(|s| async move {
        let _held = s;
        std::future::pending::<()>().await;
    })
    .await;
    let text = source_error(&policy_config(&url, 3)).await;
    assert!(text.contains("timed out after 300 ms"), "{text}");
    let t = times.lock().unwrap().clone();
    assert_eq!(t.len(), 3, "one connection per attempt");
    // Each attempt waits the connect timeout, then the backoff (40 ms, then the 150 ms floor).
    // The accept times are seen by a task that may run a little late on a loaded machine, so
    // the bounds keep SLACK in hand; both still fail without the backoff (300 ms apart).
    const SLACK: Duration = Duration::from_millis(25);
    assert!(
        t[1] - t[0] >= Duration::from_millis(300 + 40) - SLACK,
        "{:?}",
        t[1] - t[0]
    );
    assert!(
        t[2] - t[1] >= Duration::from_millis(300 + 150) - SLACK,
        "{:?}",
        t[2] - t[1]
    );
}

#[tokio::test]
async fn server_that_sends_garbage_is_a_handshake_error() {
    let (url, times) = server(|mut s| async move {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ngarbage")
            .await;
    })
    .await;
    let text = source_error(&policy_config(&url, 3)).await;
    assert!(text.contains("connecting to ws://"), "{text}");
    assert!(text.contains("after 3 connection attempts"), "{text}");
    let t = times.lock().unwrap().clone();
    assert_eq!(t.len(), 3);
    assert!(t[1] - t[0] >= Duration::from_millis(40));
    assert!(
        t[2] - t[1] >= Duration::from_millis(150),
        "the floor applies once failures repeat"
    );
}

/// A server that answers plain HTTP (any version, any status) is named for what it is.
#[tokio::test]
async fn an_http_server_is_not_a_websocket_server() {
    for answer in [
        &b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..],
        &b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"[..],
    ] {
        let (url, _) = server(move |mut s| async move {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(answer).await;
        })
        .await;
        let text = source_error(&policy_config(&url, 1)).await;
        assert!(
            text.contains("the endpoint is not a WebSocket server"),
            "{}: {text}",
            String::from_utf8_lossy(answer)
        );
    }
}

#[test]
fn terminal_and_retriable_errors_are_told_apart() {
    assert!(KrakenError::Io("x".into()).is_retriable());
    assert!(KrakenError::Stalled { silent_ms: 1 }.is_retriable());
    assert!(!KrakenError::Config("x".into()).is_retriable());
    assert!(!KrakenError::AllSubscriptionsRefused(vec![]).is_retriable());
}
