//! Opening WebSocket connections under the reconnect policy.

use std::time::Duration;

use async_tungstenite::tokio::{connect_async, ConnectStream};
use async_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use async_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use super::backoff::{Backoff, ConnectLimiter};
use super::error::KrakenError;

/// A live WebSocket to Kraken (TLS or plain).
pub type Ws = WebSocketStream<ConnectStream>;

/// One connection attempt: TCP, TLS and the WebSocket handshake, bounded by `timeout`.
pub async fn connect_once(url: &str, timeout: Duration) -> Result<Ws, KrakenError> {
    match tokio::time::timeout(timeout, connect_async(url)).await {
        Err(_) => Err(KrakenError::ConnectTimeout {
            url: url.into(),
            timeout_ms: timeout.as_millis() as u64,
        }),
        Ok(Err(e)) => Err(KrakenError::Connect {
            url: url.into(),
            reason: describe(&e),
        }),
        Ok(Ok((ws, _response))) => Ok(ws),
    }
}

/// What went wrong, for a person. A server that answers plain HTTP instead of switching to
/// WebSocket gets tungstenite's words for the detail ("HTTP version must be 1.1 or higher"),
/// which do not say what is wrong: the URL points at something that is not a WebSocket server.
fn describe(e: &WsError) -> String {
    let not_ws = |detail: String| {
        format!("the endpoint is not a WebSocket server (it answered plain HTTP: {detail})")
    };
    match e {
        WsError::Http(response) => not_ws(format!("status {}", response.status())),
        WsError::Protocol(
            p @ (ProtocolError::WrongHttpVersion
            | ProtocolError::MissingConnectionUpgradeHeader
            | ProtocolError::MissingUpgradeWebSocketHeader
            | ProtocolError::SecWebSocketAcceptKeyMismatch),
        ) => not_ws(p.to_string()),
        other => other.to_string(),
    }
}

/// Connects, waiting out the backoff and the shared rate limit between failed attempts.
/// Returns `Ok(None)` on shutdown and a terminal error once `max_attempts` is spent.
pub async fn connect_with_retry(
    url: &str,
    timeout: Duration,
    backoff: &mut Backoff,
    max_attempts: Option<u32>,
    limiter: &ConnectLimiter,
    stop: &CancellationToken,
    label: &str,
) -> Result<Option<Ws>, KrakenError> {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(None),
            _ = limiter.acquire() => {}
        }
        let attempt = tokio::select! {
            _ = stop.cancelled() => return Ok(None),
            r = connect_once(url, timeout) => r,
        };
        match attempt {
            Ok(ws) => {
                tracing::info!("{label}: connected to {url}");
                return Ok(Some(ws));
            }
            Err(e) => {
                let delay = backoff.next_delay();
                let attempts = backoff.failures();
                if max_attempts.is_some_and(|m| attempts >= m) {
                    return Err(KrakenError::GaveUp {
                        attempts,
                        last: Box::new(e),
                    });
                }
                tracing::warn!(
                    "{label}: {e} (attempt {attempts}); retrying in {} ms",
                    delay.as_millis()
                );
                tokio::select! {
                    _ = stop.cancelled() => return Ok(None),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}
