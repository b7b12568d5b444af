//! Test-only plugins. Handler `faulty`: emits a `{"n":N}` record after every event, and panics
//! in the middle of batch number `panic_on_batch` (1-based) after emitting for its first half,
//! so tests can check that a caught panic leaves the batch unchanged. Sink `faulty_sink`:
//! appends every record as a line to `path`, and panics on batch `panic_on_batch`.

use std::io::Write;

use kobe_plugin_sdk::{Batch, Handler, Host, Record, Sink};

/// Options of `faulty`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultyConfig {
    /// The batch (1-based) in whose middle it panics; never when absent.
    #[serde(default)]
    pub panic_on_batch: Option<u64>,
    /// Ask the source to resync this symbol on every batch.
    #[serde(default)]
    pub resync: Option<String>,
}

/// The handler.
pub struct Faulty {
    panic_on_batch: Option<u64>,
    resync: Option<String>,
    batches: u64,
    events: u64,
}

impl Handler for Faulty {
    type Config = FaultyConfig;
    const TYPE_NAME: &'static str = "faulty";
    const DESCRIPTION: &'static str = "test-only: a record per event; panics mid-batch on request";

    fn new(config: FaultyConfig) -> Result<Self, String> {
        Ok(Faulty {
            panic_on_batch: config.panic_on_batch,
            resync: config.resync,
            batches: 0,
            events: 0,
        })
    }

    fn process(&mut self, batch: Batch<'_>, host: &mut Host<'_>) -> Result<(), String> {
        self.batches += 1;
        let panics = self.panic_on_batch == Some(self.batches);
        if let Some(symbol) = &self.resync {
            host.resync(symbol)?;
        }
        for (index, _) in batch.iter() {
            if panics && index == batch.len() / 2 {
                panic!("faulty plugin: deliberate panic in batch {}", self.batches);
            }
            self.events += 1;
            host.emit(index, &serde_json::json!({ "n": self.events }))?;
        }
        Ok(())
    }
}

/// Options of `faulty_sink`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultySinkConfig {
    /// File the records are appended to, one per line.
    pub path: std::path::PathBuf,
    /// The batch (1-based) on which `write` panics; never when absent.
    #[serde(default)]
    pub panic_on_batch: Option<u64>,
    /// Fail unless every call runs on a thread whose name starts with this (kobe runs sink
    /// plugins on a thread of their own, `kobe-sink-ID`).
    #[serde(default)]
    pub thread_prefix: Option<String>,
}

/// Fails unless the current thread's name starts with `prefix`. Read from the kernel: this
/// library's copy of std does not know the names kobe's std gave its threads.
fn on_thread(prefix: &Option<String>) -> Result<(), String> {
    let Some(prefix) = prefix else { return Ok(()) };
    let name = std::fs::read_to_string("/proc/thread-self/comm")
        .map_err(|e| format!("cannot read the thread's name: {e}"))?;
    let name = name.trim_end();
    if name.starts_with(prefix.as_str()) {
        Ok(())
    } else {
        Err(format!("called on thread {name:?}, expected {prefix:?}"))
    }
}

/// The sink.
pub struct FaultySink {
    file: std::io::BufWriter<std::fs::File>,
    panic_on_batch: Option<u64>,
    thread_prefix: Option<String>,
    batches: u64,
}

impl Sink for FaultySink {
    type Config = FaultySinkConfig;
    const TYPE_NAME: &'static str = "faulty_sink";
    const DESCRIPTION: &'static str = "test-only: records to a file; panics on request";

    fn open(config: FaultySinkConfig) -> Result<Self, String> {
        on_thread(&config.thread_prefix)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.path)
            .map_err(|e| format!("{}: {e}", config.path.display()))?;
        Ok(FaultySink {
            file: std::io::BufWriter::new(file),
            panic_on_batch: config.panic_on_batch,
            thread_prefix: config.thread_prefix,
            batches: 0,
        })
    }

    fn write(&mut self, records: &[Record<'_>]) -> Result<(), String> {
        on_thread(&self.thread_prefix)?;
        self.batches += 1;
        if self.panic_on_batch == Some(self.batches) {
            panic!("faulty sink: deliberate panic in batch {}", self.batches);
        }
        for r in records {
            self.file.write_all(r.bytes).map_err(|e| e.to_string())?;
            self.file.write_all(b"\n").map_err(|e| e.to_string())?;
        }
        // Accepted means on disk here: a later failure must not lose this batch.
        self.file.flush().map_err(|e| e.to_string())
    }

    fn close(mut self) -> Result<(), String> {
        on_thread(&self.thread_prefix)?;
        self.file.flush().map_err(|e| e.to_string())
    }
}

kobe_plugin_sdk::export_plugin!(handler: Faulty, sink: FaultySink);

#[cfg(test)]
mod tests {
    use super::*;
    use kobe_plugin_sdk::testing::{HandlerHarness, TestEvent};

    #[test]
    fn a_panic_is_caught_and_reported() {
        let mut h =
            HandlerHarness::<Faulty>::new(serde_json::json!({"panic_on_batch": 2})).unwrap();
        let events = vec![TestEvent::top("A/B", &[], &[]); 4];
        assert_eq!(h.process(&events).unwrap().emitted.len(), 4);
        let err = h.process(&events).unwrap_err();
        assert!(err.contains("deliberate panic in batch 2"), "{err}");
        assert_eq!(h.process(&events).unwrap().emitted.len(), 4);
    }
}
