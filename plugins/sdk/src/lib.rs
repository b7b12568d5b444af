//! # kobe-plugin-sdk
//!
//! Write kobe handlers and sinks in safe Rust, load them into kobe from a pipeline file
//! (`{type: plugin, path: ./libmy_plugin.so, config: {...}}`) without recompiling kobe, or
//! link the same code into a kobe binary as a built-in.
//!
//! - Implement [`Handler`] (sees each batch of events: exact prices and quantities, symbol,
//!   seq, timestamps, checksum status; reads books, emits records, asks for resyncs through
//!   [`Host`]) or [`Sink`] (receives rendered records as bytes).
//! - Export it with [`export_plugin!`]: `kobe_plugin_sdk::export_plugin!(handler: MyHandler);`.
//! - Test it with [`testing`], which drives the exported functions the way kobe does.
//!
//! Only the C ABI of [`abi`] crosses the library boundary; docs/PLUGINS.md in kobe's
//! repository describes it and its compatibility rules, and walks through a plugin from
//! `cargo new --lib`.
#![warn(missing_docs)]

pub mod abi;
mod component;
mod decimal;
pub mod export;
pub mod testing;
mod view;

pub use abi::{Decimal, Level};
pub use component::{ConfigError, Handler, Host, Record, Sink, Top};
pub use decimal::MAX_SCALE;
pub use view::{Batch, EventType, EventView};

/// Re-exported so plugin crates derive config schemas with the same version kobe reads.
pub use schemars;
/// Re-exported for plugin configs and emitted records.
pub use serde;
/// Re-exported for emitted records.
pub use serde_json;
