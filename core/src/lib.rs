//! # kobe-core
//!
//! The kobe engine: exact order books, the Kraken WebSocket v2 source, pipelines loaded from
//! YAML, and the batched, bounded event bus that connects a source to handlers and sinks.
//!
//! Core names no concrete sink or handler: binaries register them in a [`registry::Registry`].
#![warn(missing_docs)]

pub mod accounting;
pub mod book;
pub mod bus;
pub mod component;
pub mod decimal;
pub mod event;
pub mod kraken;
pub mod pipeline;
pub mod record;
pub mod registry;
pub mod replay;
pub mod shutdown;
pub mod symbol;
pub mod testing;
pub mod time;

pub use component::{
    ComponentError, ConfigError, Handler, HandlerConfig, HandlerContext, Sink, SinkConfig,
    SinkReport, Source, SourceConfig, SourceContext, SourceReport,
};
pub use decimal::Decimal;
pub use event::{Event, EventBatch, EventFilter, EventKind, EventType, Level};
pub use symbol::Symbol;
pub use time::Timestamp;
