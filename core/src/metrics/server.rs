//! The metrics endpoint: a deliberately small HTTP/1.1 server on tokio (GET only, one request
//! per connection) so kobe needs no web framework. The listener is injected, so tests bind
//! `127.0.0.1:0`; the server stops when its shutdown token is cancelled.
//!
//! - `/metrics`: every instrument, Prometheus text format;
//! - `/health`: 200 while the process runs;
//! - `/ready`: 200 when every expected book is valid and every sink connected, else 503 with
//!   one line per problem.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::{Exporter, Telemetry};

/// Longest request head accepted.
const MAX_REQUEST: usize = 8 * 1024;
/// A client has this long to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What the endpoint serves.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Renders `/metrics`; `None` serves an empty page (metrics off, readiness only).
    pub exporter: Option<Exporter>,
    /// Answers `/ready`.
    pub telemetry: Telemetry,
}

/// Serves `endpoint` on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, endpoint: Endpoint, shutdown: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!("metrics endpoint: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &endpoint).await {
                tracing::debug!("metrics endpoint: {e}");
            }
        });
    }
}

async fn handle(mut stream: TcpStream, endpoint: &Endpoint) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let head = tokio::time::timeout(READ_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<bool, std::io::Error>(false);
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(true);
            }
            if buf.len() > MAX_REQUEST {
                return Ok(false);
            }
        }
    })
    .await;
    let complete = matches!(head, Ok(Ok(true)));
    let (status, content_type, body) = if complete {
        route(&buf, endpoint)
    } else {
        (400, "text/plain", b"bad request\n".to_vec())
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        500 => "Internal Server Error",
        _ => "Bad Request",
    };
    let header = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}

fn route(request: &[u8], endpoint: &Endpoint) -> (u16, &'static str, Vec<u8>) {
    let line = request.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let path = target.split(|b| *b == b'?').next().unwrap_or_default();
    if method != b"GET" && method != b"HEAD" {
        return (405, "text/plain", b"only GET\n".to_vec());
    }
    match path {
        b"/metrics" => match &endpoint.exporter {
            Some(exporter) => match exporter.render() {
                Ok(body) => (200, "text/plain; version=0.0.4; charset=utf-8", body),
                Err(e) => (500, "text/plain", format!("{e}\n").into_bytes()),
            },
            None => (200, "text/plain; version=0.0.4; charset=utf-8", Vec::new()),
        },
        b"/health" => (200, "text/plain", b"ok\n".to_vec()),
        b"/ready" => {
            let r = endpoint.telemetry.readiness();
            if r.ready {
                (200, "text/plain", b"ready\n".to_vec())
            } else {
                let mut body = String::from("not ready:\n");
                for p in &r.problems {
                    body.push_str(p);
                    body.push('\n');
                }
                (503, "text/plain", body.into_bytes())
            }
        }
        _ => (
            404,
            "text/plain",
            b"not found; try /metrics, /health or /ready\n".to_vec(),
        ),
    }
}
