//! [`KrakenError`]: why the Kraken source stopped or a connection failed, and whether trying
//! again can help.

use crate::symbol::Symbol;

/// A failure of the Kraken source or one of its connections.
#[derive(Debug, thiserror::Error)]
pub enum KrakenError {
    /// The configuration cannot work (bad URL, ...). Terminal.
    #[error("invalid Kraken source config: {0}")]
    Config(String),
    /// Kraken refused every book subscription. Terminal: retrying gets the same answer.
    #[error("Kraken refused every book subscription: {}", list_refusals(.0))]
    AllSubscriptionsRefused(Vec<(Symbol, String)>),
    /// The TCP connection or the WebSocket handshake did not complete in time. Retriable.
    #[error("connecting to {url} timed out after {timeout_ms} ms")]
    ConnectTimeout {
        /// The endpoint.
        url: String,
        /// The configured connect timeout.
        timeout_ms: u64,
    },
    /// The TCP connection or the WebSocket handshake failed. Retriable.
    #[error("connecting to {url} failed: {reason}")]
    Connect {
        /// The endpoint.
        url: String,
        /// What the network or the server said.
        reason: String,
    },
    /// No frame (not even a heartbeat or a pong) arrived within the stall timeout. Retriable.
    #[error("connection stalled: no frame for {silent_ms} ms")]
    Stalled {
        /// How long the connection was silent.
        silent_ms: u64,
    },
    /// Reading or writing the WebSocket failed, or the server closed it. Retriable.
    #[error("connection lost: {0}")]
    Io(String),
    /// The instrument list for `symbols: all` did not arrive. Retriable.
    #[error("no instrument snapshot within {0} ms")]
    NoInstruments(u64),
    /// The reconnect policy's attempt limit was reached; `last` is the final failure.
    #[error("gave up after {attempts} connection attempts; last error: {last}")]
    GaveUp {
        /// Consecutive failed attempts.
        attempts: u32,
        /// The last failure.
        last: Box<KrakenError>,
    },
}

impl KrakenError {
    /// True when trying again (reconnecting) can succeed; false for failures that need a
    /// person (bad config, every subscription refused, the retry budget spent).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Config(_) | Self::AllSubscriptionsRefused(_) | Self::GaveUp { .. } => false,
            Self::ConnectTimeout { .. }
            | Self::Connect { .. }
            | Self::Stalled { .. }
            | Self::Io(_)
            | Self::NoInstruments(_) => true,
        }
    }
}

fn list_refusals(refusals: &[(Symbol, String)]) -> String {
    refusals
        .iter()
        .map(|(s, e)| format!("{s}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}
