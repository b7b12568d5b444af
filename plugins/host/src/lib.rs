//! # kobe-plugin-host
//!
//! kobe's side of the plugin ABI ([`kobe_plugin_sdk::abi`]):
//! - [`register`] adds `type: plugin` for handlers and sinks: a library named in the pipeline
//!   file, loaded with `libloading`, its declaration checked before anything else is called,
//!   never unloaded;
//! - [`register_handler`] / [`register_sink`] link an SDK plugin into a binary as a built-in,
//!   running the very same exported functions, so a plugin graduates without a rewrite.
//!
//! Kept apart from the SDK so a plugin author's crate never depends on the engine.
#![warn(missing_docs)]

mod calls;
pub mod handler;
pub mod library;
mod options;
pub mod sink;
#[cfg(test)]
mod tests;

pub use calls::schema;
pub use handler::{LinkedHandlerConfig, PluginHandler, PluginHandlerConfig};
pub use library::{load, LoadError, Plugin};
pub use options::OnError;
pub use sink::{LinkedSinkConfig, PluginSink, PluginSinkConfig};

use kobe_core::registry::Registry;

/// Registers `type: plugin` for handlers and sinks.
pub fn register(registry: &mut Registry) {
    registry.add_handler::<PluginHandlerConfig>(
        "plugin",
        "a handler from a plugin library (`path:`), built with kobe-plugin-sdk",
    );
    registry.add_sink::<PluginSinkConfig>(
        "plugin",
        "a sink from a plugin library (`path:`), built with kobe-plugin-sdk; runs on its own thread",
    );
}

/// Registers SDK handler `H` as a built-in named `H::TYPE_NAME`.
pub fn register_handler<H: kobe_plugin_sdk::Handler>(registry: &mut Registry) {
    registry.add_handler::<LinkedHandlerConfig<H>>(H::TYPE_NAME, H::DESCRIPTION);
}

/// Registers SDK sink `S` as a built-in named `S::TYPE_NAME`.
pub fn register_sink<S: kobe_plugin_sdk::Sink>(registry: &mut Registry) {
    registry.add_sink::<LinkedSinkConfig<S>>(S::TYPE_NAME, S::DESCRIPTION);
}
