//! Kraken spot WebSocket v2: wire types, the frame decoder, the live source, the reconnect
//! policy, and a protocol-faithful simulator for tests and demos.
pub mod backoff;
pub mod config;
pub mod connect;
pub mod connection;
pub mod decode;
pub mod error;
mod fast;
pub mod protocol;
pub mod record;
pub mod simulator;
pub mod source;

pub use config::{KrakenSourceConfig, ReconnectConfig, ShardConfig, Symbols};
pub use error::KrakenError;
pub use source::KrakenSource;

/// Registers the `kraken` source.
pub fn register(registry: &mut crate::registry::Registry) {
    registry.add_source::<KrakenSourceConfig>(
        "kraken",
        "Kraken spot WebSocket v2 books: subscribes, batches frames, reconnects and resyncs",
    );
}
