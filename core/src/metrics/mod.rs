//! Metrics: OpenTelemetry instruments exported in the Prometheus text format, the engine's
//! own measurements, and the small HTTP endpoint that serves them with `/health` and `/ready`.
//!
//! The seam with components: the binary calls [`Exporter::install`] *before* building a
//! pipeline, which sets OpenTelemetry's global meter provider; any component (the Kafka sink,
//! a plugin) then creates its instruments from `opentelemetry::global::meter("kobe")` in its
//! `build()`, named exactly as Prometheus should show them ([`catalog`]). Without a metrics
//! section nothing is installed and those instruments are no-ops.
//!
//! Counting stays per batch: the engine adds to plain atomics once per batch, and observable
//! instruments read them when Prometheus scrapes ([`Telemetry`]).

pub mod catalog;
mod exporter;
mod probe;
pub mod server;
mod state;

pub use exporter::Exporter;
pub use probe::{SinkProbe, WorkerProbe};
pub use state::{Connection, Readiness, StatusSnapshot, Telemetry};

/// Why metrics could not be set up or served.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The OpenTelemetry Prometheus exporter refused its configuration.
    #[error("cannot build the Prometheus exporter: {0}")]
    Exporter(String),
    /// Encoding the scrape failed.
    #[error("cannot encode metrics: {0}")]
    Encode(String),
    /// The endpoint could not listen.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}
