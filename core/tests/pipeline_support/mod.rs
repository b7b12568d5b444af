//! Small components for the pipeline loading tests: configs with an integer, an enum, a nested
#![allow(dead_code)] // Fields are read through `Debug` in the assertions.
//! struct, a required field, a map keyed by symbol, and `validate()` rules.

use std::collections::BTreeMap;

use async_trait::async_trait;
use kobe_core::component::{ComponentError, ConfigError, Handler, HandlerConfig, HandlerContext};
use kobe_core::component::{Sink, SinkConfig, Source, SourceConfig};
use kobe_core::event::{EventBatch, EventFilter, EventType};
use kobe_core::pipeline::{load_str, Diagnostics, EnvSource, Pipeline};
use kobe_core::registry::Registry;
use serde::Deserialize;

/// How fast.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pace {
    /// As fast as possible.
    Fast,
    /// At recorded pace.
    Recorded,
}

/// Nested options.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Book {
    /// Levels kept.
    #[serde(default = "ten")]
    pub depth: u16,
    /// A label.
    #[serde(default)]
    pub label: Option<String>,
}

fn ten() -> u16 {
    10
}

impl Default for Book {
    fn default() -> Self {
        Self {
            depth: 10,
            label: None,
        }
    }
}

/// A test source.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DummySource {
    /// Where to read (required).
    pub path: String,
    /// How many frames.
    #[serde(default = "hundred")]
    pub count: u32,
    /// Pace.
    #[serde(default = "fast")]
    pub pace: Pace,
    /// Book options.
    #[serde(default)]
    pub book: Book,
    /// Price decimals by symbol.
    #[serde(default)]
    pub precision: BTreeMap<String, u8>,
}

fn hundred() -> u32 {
    100
}

fn fast() -> Pace {
    Pace::Fast
}

#[async_trait]
impl SourceConfig for DummySource {
    fn validate(&self) -> Vec<ConfigError> {
        let mut out = Vec::new();
        if self.count > 1000 {
            out.push(ConfigError::new("count", "must be at most 1000"));
        }
        if self.book.depth == 0 {
            out.push(ConfigError::new("book.depth", "must be at least 1"));
        }
        for (symbol, p) in &self.precision {
            if *p > 18 {
                out.push(ConfigError::new(
                    format!("precision.{symbol}"),
                    "at most 18 decimals",
                ));
            }
        }
        out
    }

    async fn build(&self) -> Result<Box<dyn Source>, ComponentError> {
        Err("test source".into())
    }
}

/// What to do on a mismatch.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnMismatch {
    /// Resync the symbol.
    Resync,
    /// Keep going.
    Ignore,
}

/// A test handler with an enum option.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckHandler {
    /// On mismatch.
    #[serde(default = "resync")]
    pub on_mismatch: OnMismatch,
}

fn resync() -> OnMismatch {
    OnMismatch::Resync
}

impl HandlerConfig for CheckHandler {
    fn build(&self) -> Result<Box<dyn Handler>, ComponentError> {
        Ok(Box::new(Noop))
    }
}

/// A test handler without options.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoopHandler {}

impl HandlerConfig for NoopHandler {
    fn build(&self) -> Result<Box<dyn Handler>, ComponentError> {
        Ok(Box::new(Noop))
    }
}

struct Noop;

impl Handler for Noop {
    fn process(
        &mut self,
        _batch: &mut EventBatch,
        _cx: &mut HandlerContext<'_>,
    ) -> Result<(), ComponentError> {
        Ok(())
    }
}

/// A test sink.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemSink {
    /// Where (required).
    pub path: String,
    /// Producers.
    #[serde(default = "one")]
    pub pool_size: u32,
}

fn one() -> u32 {
    1
}

#[async_trait]
impl SinkConfig for MemSink {
    fn validate(&self) -> Vec<ConfigError> {
        if self.pool_size == 0 {
            vec![ConfigError::new("pool_size", "must be at least 1")]
        } else {
            Vec::new()
        }
    }

    fn default_events(&self) -> EventFilter {
        EventFilter::of(&[EventType::BookSnapshot])
    }

    async fn build(&self, _id: &str) -> Result<Box<dyn Sink>, ComponentError> {
        Err("test sink".into())
    }
}

/// A registry of the test components.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.add_source::<DummySource>("dummy", "a test source")
        .add_handler::<CheckHandler>("check", "a test handler")
        .add_handler::<NoopHandler>("noop", "does nothing")
        .add_sink::<MemSink>("mem", "a test sink");
    r
}

/// Loads `text` as `t.yaml` with no overrides.
pub fn load(text: &str) -> Result<Pipeline, Diagnostics> {
    load_str(
        text,
        "t.yaml",
        &[],
        &EnvSource::Map(BTreeMap::new()),
        &registry(),
    )
}

/// Loads `text` as `t.yaml` with `--set`s and environment variables.
pub fn load_with(text: &str, sets: &[&str], env: &[(&str, &str)]) -> Result<Pipeline, Diagnostics> {
    let env = EnvSource::Map(
        env.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    load_str(text, "t.yaml", &sets, &env, &registry())
}

/// The error lines of a load that must fail.
pub fn errors(result: Result<Pipeline, Diagnostics>) -> Vec<String> {
    match result {
        Ok(p) => panic!("expected errors, loaded {p:?}"),
        Err(d) => d.list().iter().map(|d| d.to_string()).collect(),
    }
}
