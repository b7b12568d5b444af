//! The `stdout` sink: records to standard output, one per line, flushed after every batch so a
//! terminal or pipe sees them promptly.

use async_trait::async_trait;
use kobe_core::record::RecordFormat;
use kobe_core::{ComponentError, EventBatch, EventFilter, Sink, SinkConfig, SinkReport};
use tokio::io::AsyncWriteExt;

/// Options of the `stdout` sink.
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    /// `json` (one versioned JSON record per event), `raw` (Kraken frames as received) or
    /// `pretty` (one readable line per event).
    #[serde(default)]
    pub format: RecordFormat,
}

#[async_trait]
impl SinkConfig for StdoutConfig {
    fn default_events(&self) -> EventFilter {
        self.format.default_events()
    }

    async fn build(&self, _id: &str) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(Box::new(StdoutSink {
            format: self.format,
            out: tokio::io::stdout(),
            buf: Vec::with_capacity(64 * 1024),
            report: SinkReport::default(),
        }))
    }
}

struct StdoutSink {
    format: RecordFormat,
    out: tokio::io::Stdout,
    buf: Vec<u8>,
    report: SinkReport,
}

#[async_trait]
impl Sink for StdoutSink {
    async fn write(
        &mut self,
        batch: &EventBatch,
        filter: EventFilter,
    ) -> Result<u64, ComponentError> {
        self.buf.clear();
        let written = crate::render(self.format, batch, filter, &mut self.buf);
        self.out.write_all(&self.buf).await?;
        self.out.flush().await?;
        self.report.bytes += self.buf.len() as u64;
        Ok(written)
    }

    async fn close(mut self: Box<Self>) -> Result<SinkReport, ComponentError> {
        self.out.flush().await?;
        Ok(self.report)
    }
}
