//! # kobe-sinks
//!
//! kobe's built-in sinks: `kafka`, `stdout` and `file`. [`register`] adds them to a registry.
#![warn(missing_docs)]

mod background;
pub mod file;
pub mod kafka;
pub mod stdout;

use kobe_core::record::RecordFormat;
use kobe_core::registry::Registry;
use kobe_core::{EventBatch, EventFilter};

/// Registers every built-in sink.
pub fn register(registry: &mut Registry) {
    registry
        .add_sink::<kafka::KafkaConfig>(
            "kafka",
            "sends records to Kafka through a pool of producers, in order per symbol",
        )
        .add_sink::<stdout::StdoutConfig>("stdout", "writes records to standard output")
        .add_sink::<file::FileConfig>(
            "file",
            "appends records to a file, with size rotation and fsync on shutdown",
        );
}

/// Renders the events of `batch` that pass `filter` into `out`; returns how many records.
fn render(format: RecordFormat, batch: &EventBatch, filter: EventFilter, out: &mut Vec<u8>) -> u64 {
    format.write_events(&batch.events, filter, out)
}
