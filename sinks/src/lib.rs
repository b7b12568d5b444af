//! # kobe-sinks
//!
//! kobe's built-in sinks. `register` adds them all to a registry.
#![warn(missing_docs)]

use kobe_core::registry::Registry;

/// Registers every built-in sink.
pub fn register(_registry: &mut Registry) {}
