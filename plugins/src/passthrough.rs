//! The `passthrough` handler: leaves batches as they are. A chain of one runs a pipeline end to
//! end without touching books; benchmarks use it to measure the bus itself.

use kobe_core::{ComponentError, EventBatch, Handler, HandlerConfig, HandlerContext};

/// Options of the `passthrough` handler (none).
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PassthroughConfig {}

impl HandlerConfig for PassthroughConfig {
    fn build(&self) -> Result<Box<dyn Handler>, ComponentError> {
        Ok(Box::new(Passthrough))
    }
}

/// Passes every event on unchanged.
#[derive(Debug, Default)]
pub struct Passthrough;

impl Handler for Passthrough {
    fn process(
        &mut self,
        _batch: &mut EventBatch,
        _cx: &mut HandlerContext<'_>,
    ) -> Result<(), ComponentError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conforms() {
        kobe_core::testing::check_handler(&super::PassthroughConfig {}).unwrap();
    }
}
