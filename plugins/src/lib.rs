//! # kobe-plugins
//!
//! kobe's built-in handlers. `register` adds them all to a registry.
#![warn(missing_docs)]

pub mod passthrough;

use kobe_core::registry::Registry;

/// Registers every built-in handler.
pub fn register(registry: &mut Registry) {
    registry.add_handler::<passthrough::PassthroughConfig>(
        "passthrough",
        "passes batches on unchanged (for wiring tests and bus benchmarks)",
    );
}
