//! Pipelines: the YAML model, loading and validation (every error, located), and running the
//! validated graph.

mod diagnostics;
mod interpolate;
mod load;
mod locate;
mod run;
mod spec;
mod yaml;

pub use diagnostics::{Diagnostic, Diagnostics, Origin};
pub use load::{load, load_str, EnvSource, ENV_PREFIX, ENV_SEPARATOR};
pub use locate::LineCol;
pub use run::{run, run_with, RunError, RunReport};
pub use spec::{parse_socket_addr, MetricsSection, SECTIONS};
pub use yaml::Yaml;

use crate::component::{HandlerConfig, SinkConfig, SourceConfig};
use crate::event::EventFilter;

/// Engine tuning, from the pipeline file's `engine:` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// Shard workers (each owns the books of its symbols and a copy of the handler chain).
    pub workers: usize,
    /// Most events in one batch.
    pub batch_size: usize,
    /// Batches each bounded channel holds before the sender waits.
    pub channel_capacity: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            batch_size: 512,
            channel_capacity: 16,
        }
    }
}

/// The pipeline file's `metrics:` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Where the metrics endpoint listens (`:2112` means every interface).
    pub addr: std::net::SocketAddr,
}

/// A handler of the chain, with where it was declared.
#[derive(Debug)]
pub struct HandlerSpec {
    /// Component path for messages (`handlers[2]`).
    pub path: String,
    /// Its `type:`.
    pub type_name: String,
    /// Its config.
    pub config: Box<dyn HandlerConfig>,
}

/// A sink, with its id and event filter.
#[derive(Debug)]
pub struct SinkSpec {
    /// The key under `sinks:`.
    pub id: String,
    /// Its `type:`.
    pub type_name: String,
    /// Its config.
    pub config: Box<dyn SinkConfig>,
    /// The events it writes (its `events:` list, or the sink type's default).
    pub filter: EventFilter,
}

/// A validated pipeline, ready to [`run`].
#[derive(Debug)]
pub struct Pipeline {
    /// The source's `type:`.
    pub source_type: String,
    /// The source.
    pub source: Box<dyn SourceConfig>,
    /// The handler chain, in order.
    pub handlers: Vec<HandlerSpec>,
    /// The sinks, in key order.
    pub sinks: Vec<SinkSpec>,
    /// Engine tuning.
    pub engine: EngineOptions,
    /// The metrics endpoint, when the file asks for one.
    pub metrics: Option<MetricsOptions>,
}

impl Pipeline {
    /// Problems that do not stop the pipeline: handler options that ask the source for fresh
    /// snapshots when it cannot give them (a replay), each as `handlers[2].on_mismatch: …`.
    pub fn warnings(&self) -> Vec<String> {
        if self.source.book_hints().can_resync {
            return Vec::new();
        }
        self.handlers
            .iter()
            .filter_map(|h| {
                let e = h.config.relies_on_resync()?;
                let at = if e.path.is_empty() {
                    h.path.clone()
                } else {
                    format!("{}.{}", h.path, e.path)
                };
                Some(format!(
                    "{at}: the {} source cannot resync: {}",
                    self.source_type, e.message
                ))
            })
            .collect()
    }
}
