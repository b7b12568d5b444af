//! # kobe-plugins
//!
//! kobe's built-in handlers. `register` adds them all to a registry.
//!
//! The book handlers share the shard's [`kobe_core::book::BookStore`] and go in this order:
//! `snapshot` (book state: precision, depth, snapshots), `update` (updates, in order),
//! `checksum` (compares, isolates broken books), then anything that reads books.
#![warn(missing_docs)]

pub mod checksum;
pub mod debug;
mod edit;
pub mod passthrough;
mod resync;
pub mod snapshot;
pub mod update;

use kobe_core::registry::Registry;

/// Registers every built-in handler.
pub fn register(registry: &mut Registry) {
    registry.add_handler::<passthrough::PassthroughConfig>(
        "passthrough",
        "passes batches on unchanged (for wiring tests and bus benchmarks)",
    );
    registry.add_handler::<snapshot::SnapshotConfig>(
        "snapshot",
        "book state per symbol: precision, depth, subscriptions; replaces books from snapshots",
    );
    registry.add_handler::<update::UpdateConfig>(
        "update",
        "applies book updates in order, truncated to depth; optional book_top events",
    );
    registry.add_handler::<checksum::ChecksumConfig>(
        "checksum",
        "verifies Kraken's CRC-32 per message; on mismatch isolates the book and resyncs it",
    );
    registry.add_handler::<debug::DebugConfig>(
        "debug",
        "logs sampled events and a periodic book summary via tracing",
    );
}
