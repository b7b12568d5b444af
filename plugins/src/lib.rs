//! # kobe-plugins
//!
//! kobe's built-in handlers. `register` adds them all to a registry.
#![warn(missing_docs)]

use kobe_core::registry::Registry;

/// Registers every built-in handler.
pub fn register(_registry: &mut Registry) {}
