//! The options every plugin component takes besides its own `config:`.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::path::PathBuf;

use schemars::{JsonSchema, Schema, SchemaGenerator};

/// What happens when a handler plugin fails or panics on a batch.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Count it and go on: the batch continues unchanged (nothing the plugin emitted for it is
    /// kept).
    #[default]
    Skip,
    /// Count it, drain the pipeline and exit non-zero.
    Stop,
}

pub(crate) fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// The schema of a component whose `config:` is the plugin's own: shown by `kobe plugins`.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub(crate) struct LoadedHandlerSchema<C> {
    /// Path of the plugin library (`./libspread.so`), relative to the working directory.
    path: PathBuf,
    /// The plugin's own options; the plugin checks them at `kobe validate` time.
    config: Option<C>,
    /// What happens when the plugin fails or panics on a batch.
    #[serde(default)]
    on_error: OnError,
}

/// The schema of a handler plugin linked in as a built-in.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub(crate) struct LinkedHandlerSchema<C> {
    /// The plugin's own options.
    config: Option<C>,
    /// What happens when the plugin fails or panics on a batch.
    #[serde(default)]
    on_error: OnError,
}

/// The schema of a sink plugin linked in as a built-in.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub(crate) struct LinkedSinkSchema<C> {
    /// The plugin's own options.
    config: Option<C>,
    /// How records are rendered before the plugin gets them.
    #[serde(default)]
    format: kobe_core::record::RecordFormat,
}

/// Any JSON object: the schema of `config:` when the library is not at hand.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub(crate) struct AnyObject(serde_json::Map<String, serde_json::Value>);

/// A schema that is whatever `S` says, under another name (for generic configs).
pub(crate) struct SchemaAs<S>(PhantomData<S>);

impl<S: JsonSchema> SchemaAs<S> {
    pub(crate) fn name(prefix: &str, type_name: &str) -> Cow<'static, str> {
        Cow::Owned(format!("{prefix}_{type_name}"))
    }

    pub(crate) fn schema(g: &mut SchemaGenerator) -> Schema {
        S::json_schema(g)
    }
}
