//! The OpenTelemetry → Prometheus exporter, installed as the global meter provider.

use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, TextEncoder};

use super::MetricsError;

/// The installed exporter: renders every instrument of the global meter provider.
#[derive(Clone, Debug)]
pub struct Exporter {
    registry: prometheus::Registry,
    provider: SdkMeterProvider,
}

impl Exporter {
    /// Builds the exporter and makes it OpenTelemetry's global meter provider. Call once,
    /// before any component is built, so their instruments land here.
    pub fn install() -> Result<Self, MetricsError> {
        let exporter = Self::new()?;
        opentelemetry::global::set_meter_provider(exporter.provider.clone());
        Ok(exporter)
    }

    /// An exporter that is not global (tests, benchmarks): use [`Exporter::meter`].
    pub fn new() -> Result<Self, MetricsError> {
        let registry = prometheus::Registry::new();
        let reader = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            // Names in the catalog are already the Prometheus names (the old engine's
            // dashboards query `kafka_messages_sent_total`, `..._seconds`), so no suffixes.
            .without_units()
            .without_counter_suffixes()
            .without_target_info()
            .scope_info_enabled(false)
            .build()
            .map_err(|e| MetricsError::Exporter(e.to_string()))?;
        let provider = SdkMeterProvider::builder().with_reader(reader).build();
        Ok(Self { registry, provider })
    }

    /// A meter of this exporter's provider.
    pub fn meter(&self) -> opentelemetry::metrics::Meter {
        use opentelemetry::metrics::MeterProvider;
        self.provider.meter("kobe")
    }

    /// Every metric in the Prometheus text format (what `/metrics` serves).
    pub fn render(&self) -> Result<Vec<u8>, MetricsError> {
        let mut out = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| MetricsError::Encode(e.to_string()))?;
        Ok(out)
    }
}
