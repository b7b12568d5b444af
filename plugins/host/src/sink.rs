//! Sink plugins in the engine: `type: plugin` under `sinks:` and SDK sinks linked in as
//! built-ins. The plugin runs on a thread of its own, never on the async runtime's: the engine
//! renders a batch's records into a buffer, hands it over and waits for the answer, so one
//! batch is in flight per sink and backpressure holds.

use std::borrow::Cow;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::OnceLock;

use async_trait::async_trait;
use kobe_core::record::RecordFormat;
use kobe_core::{
    ComponentError, ConfigError, EventBatch, EventFilter, EventType, Sink, SinkConfig, SinkReport,
    Symbol,
};
use kobe_plugin_sdk::abi::{self, SinkVTable, Status, Str};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use tokio::sync::oneshot;

use crate::calls::{describe, keep_error, with_report};
use crate::library::{self, text, LoadError};
use crate::options::{empty_object, AnyObject, LinkedSinkSchema, SchemaAs};

/// Options of `type: plugin` under `sinks:`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSinkConfig {
    /// Path of the plugin library (`./libredis_streams.so`), relative to the working directory.
    pub path: PathBuf,
    /// The plugin's own options; the plugin checks them at `kobe validate` time.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    /// How records are rendered before the plugin gets them.
    #[serde(default)]
    pub format: RecordFormat,
    #[serde(skip)]
    loaded: OnceLock<Result<&'static SinkVTable, LoadError>>,
}

/// The schema `kobe plugins` shows for `type: plugin` sinks.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct PluginSinkSchema {
    /// Path of the plugin library (`./libredis_streams.so`), relative to the working directory.
    path: PathBuf,
    /// The plugin's own options; the plugin checks them at `kobe validate` time.
    config: Option<AnyObject>,
    /// How records are rendered before the plugin gets them.
    #[serde(default)]
    format: RecordFormat,
}

impl JsonSchema for PluginSinkConfig {
    fn schema_name() -> Cow<'static, str> {
        "PluginSinkConfig".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        PluginSinkSchema::json_schema(g)
    }
}

impl PluginSinkConfig {
    fn table(&self) -> Result<&'static SinkVTable, LoadError> {
        self.loaded
            .get_or_init(|| library::load(&self.path).and_then(|p| p.sink()))
            .clone()
    }
}

#[async_trait]
impl SinkConfig for PluginSinkConfig {
    fn validate(&self) -> Vec<ConfigError> {
        match self.table() {
            Err(e) => vec![ConfigError::new("path", e.to_string())],
            Ok(table) => crate::calls::validate(&table.component, &self.config.to_string()),
        }
    }

    fn default_events(&self) -> EventFilter {
        self.format.default_events()
    }

    async fn build(&self, id: &str) -> Result<Box<dyn Sink>, ComponentError> {
        let table = self.table()?;
        Ok(Box::new(
            PluginSink::open(table, id, &self.config, self.format).await?,
        ))
    }
}

/// Options of an SDK sink linked in as a built-in (`{type: redis_streams, config: {...}}`).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
pub struct LinkedSinkConfig<S> {
    /// The plugin's own options.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    /// How records are rendered before the plugin gets them.
    #[serde(default)]
    pub format: RecordFormat,
    #[serde(skip)]
    _s: PhantomData<fn() -> S>,
}

impl<S> std::fmt::Debug for LinkedSinkConfig<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedSinkConfig")
            .field("config", &self.config)
            .field("format", &self.format)
            .finish()
    }
}

impl<S: kobe_plugin_sdk::Sink> LinkedSinkConfig<S> {
    const TABLE: SinkVTable = kobe_plugin_sdk::export::sink_vtable::<S>();
}

impl<S: kobe_plugin_sdk::Sink> JsonSchema for LinkedSinkConfig<S> {
    fn schema_name() -> Cow<'static, str> {
        SchemaAs::<()>::name("LinkedSink", S::TYPE_NAME)
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        SchemaAs::<LinkedSinkSchema<S::Config>>::schema(g)
    }
}

#[async_trait]
impl<S: kobe_plugin_sdk::Sink> SinkConfig for LinkedSinkConfig<S> {
    fn validate(&self) -> Vec<ConfigError> {
        crate::calls::validate(&Self::TABLE.component, &self.config.to_string())
    }

    fn default_events(&self) -> EventFilter {
        self.format.default_events()
    }

    async fn build(&self, id: &str) -> Result<Box<dyn Sink>, ComponentError> {
        let table: &'static SinkVTable = &Self::TABLE;
        Ok(Box::new(
            PluginSink::open(table, id, &self.config, self.format).await?,
        ))
    }
}

/// A sink plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkPluginError {
    /// Opening failed or the config was refused.
    #[error("sink plugin `{plugin}` did not open: {reason}")]
    Open {
        /// The plugin's type name.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// A call failed or panicked (the panic was caught).
    #[error("sink plugin `{plugin}` failed to {action}: {reason}")]
    Call {
        /// The plugin's type name.
        plugin: String,
        /// `write`, `flush` or `close`.
        action: &'static str,
        /// Why.
        reason: String,
    },
    /// Its thread is gone.
    #[error("sink plugin `{0}`: its thread ended unexpectedly")]
    Gone(String),
}

/// Rendered records of one batch: the bytes and each record's span.
#[derive(Default)]
struct Rendered {
    bytes: Vec<u8>,
    spans: Vec<(EventType, Option<Symbol>, usize, usize)>,
}

enum Command {
    Write(Rendered, oneshot::Sender<(Result<(), String>, Rendered)>),
    Flush(oneshot::Sender<Result<(), String>>),
    Close(oneshot::Sender<Result<(), String>>),
}

struct Instance(*mut c_void);

// SAFETY: SDK sink types are `Send`; the instance lives on its one thread.
unsafe impl Send for Instance {}

/// A sink plugin, driven from the engine through its thread.
pub struct PluginSink {
    plugin: String,
    format: RecordFormat,
    commands: std_mpsc::Sender<Command>,
    spare: Option<Rendered>,
    report: SinkReport,
}

fn call(f: impl FnOnce(*mut c_void, abi::WriteFn) -> u32) -> Result<(), String> {
    let mut error = String::new();
    let status = Status::from_raw(f((&mut error as *mut String).cast(), keep_error));
    match status {
        Status::Ok => Ok(()),
        Status::Panicked => Err(format!("plugin {error}")),
        _ => Err(error),
    }
}

fn serve(table: &'static SinkVTable, instance: Instance, commands: std_mpsc::Receiver<Command>) {
    let mut instance = Some(instance);
    let mut records: Vec<abi::Record> = Vec::new();
    while let Ok(command) = commands.recv() {
        match command {
            Command::Write(rendered, reply) => {
                let Some(inst) = &instance else {
                    let _ = reply.send((Err("already closed".into()), rendered));
                    continue;
                };
                records.clear();
                records.extend(rendered.spans.iter().map(|(t, s, start, end)| abi::Record {
                    kind: Str::new(t.as_str()),
                    symbol: s.as_ref().map_or(Str::EMPTY, |s| Str::new(s.as_str())),
                    bytes: Str::bytes(&rendered.bytes[*start..*end]),
                }));
                let result = call(|ctx, error| {
                    (table.write)(inst.0, records.as_ptr(), records.len(), ctx, error)
                });
                records.clear();
                let _ = reply.send((result, rendered));
            }
            Command::Flush(reply) => {
                let result = match &instance {
                    Some(inst) => call(|ctx, error| (table.flush)(inst.0, ctx, error)),
                    None => Err("already closed".into()),
                };
                let _ = reply.send(result);
            }
            Command::Close(reply) => {
                let result = match instance.take() {
                    Some(inst) => call(|ctx, error| (table.close)(inst.0, ctx, error)),
                    None => Ok(()),
                };
                let _ = reply.send(result);
                return;
            }
        }
    }
    // The engine went away without closing (a failed run): close anyway, nothing to report to.
    if let Some(inst) = instance.take() {
        let _ = call(|ctx, error| (table.close)(inst.0, ctx, error));
    }
}

impl PluginSink {
    /// Opens the plugin on a thread of its own.
    pub async fn open(
        table: &'static SinkVTable,
        id: &str,
        config: &serde_json::Value,
        format: RecordFormat,
    ) -> Result<Self, SinkPluginError> {
        let plugin = text(table.component.type_name);
        let (tx, rx) = std_mpsc::channel::<Command>();
        let (opened_tx, opened_rx) = oneshot::channel::<Result<(), String>>();
        let config = config.to_string();
        let spawned = std::thread::Builder::new()
            .name(format!("kobe-sink-{id}"))
            .spawn(move || {
                let mut instance: *mut c_void = std::ptr::null_mut();
                let (status, errors) = with_report(|ctx, report| {
                    (table.create)(Str::new(&config), ctx, report, &mut instance)
                });
                if status != Status::Ok || instance.is_null() {
                    let problems: Vec<String> =
                        errors.iter().map(|e| describe(status, e)).collect();
                    let _ = opened_tx.send(Err(problems.join("; ")));
                    return;
                }
                let _ = opened_tx.send(Ok(()));
                serve(table, Instance(instance), rx);
            });
        if let Err(e) = spawned {
            return Err(SinkPluginError::Open {
                plugin,
                reason: format!("cannot start its thread: {e}"),
            });
        }
        match opened_rx.await {
            Ok(Ok(())) => Ok(Self {
                plugin,
                format,
                commands: tx,
                spare: Some(Rendered::default()),
                report: SinkReport::default(),
            }),
            Ok(Err(reason)) => Err(SinkPluginError::Open { plugin, reason }),
            Err(_) => Err(SinkPluginError::Gone(plugin)),
        }
    }

    fn call_error(&self, action: &'static str, reason: String) -> SinkPluginError {
        SinkPluginError::Call {
            plugin: self.plugin.clone(),
            action,
            reason,
        }
    }
}

#[async_trait]
impl Sink for PluginSink {
    async fn write(
        &mut self,
        batch: &EventBatch,
        filter: EventFilter,
    ) -> Result<u64, ComponentError> {
        let mut r = self.spare.take().unwrap_or_default();
        r.bytes.clear();
        r.spans.clear();
        for e in &batch.events {
            let t = e.event_type();
            if !filter.accepts(t) {
                continue;
            }
            let start = r.bytes.len();
            if self.format.write(e, &mut r.bytes) {
                // Records go over without the line ending the stream formats add.
                r.bytes.pop();
                r.spans.push((t, e.symbol, start, r.bytes.len()));
            } else {
                // Accepted by the filter but without a rendering in this format (`raw`
                // keeps only frames): a term of the sink's identity, never silent.
                *self
                    .report
                    .not_written
                    .entry("no_rendering".into())
                    .or_default() += 1;
            }
        }
        if r.spans.is_empty() {
            self.spare = Some(r);
            return Ok(0);
        }
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Write(r, tx))
            .map_err(|_| SinkPluginError::Gone(self.plugin.clone()))?;
        let (result, r) = rx
            .await
            .map_err(|_| SinkPluginError::Gone(self.plugin.clone()))?;
        let n = r.spans.len() as u64;
        let bytes = r.bytes.len() as u64;
        self.spare = Some(r);
        result.map_err(|e| self.call_error("write", e))?;
        self.report.bytes += bytes;
        Ok(n)
    }

    async fn flush(&mut self) -> Result<(), ComponentError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Flush(tx))
            .map_err(|_| SinkPluginError::Gone(self.plugin.clone()))?;
        rx.await
            .map_err(|_| SinkPluginError::Gone(self.plugin.clone()))?
            .map_err(|e| self.call_error("flush", e))?;
        Ok(())
    }

    async fn close(self: Box<Self>) -> Result<SinkReport, ComponentError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Close(tx))
            .map_err(|_| SinkPluginError::Gone(self.plugin.clone()))?;
        rx.await
            .map_err(|_| SinkPluginError::Gone(self.plugin.clone()))?
            .map_err(|e| self.call_error("close", e))?;
        Ok(self.report)
    }
}
