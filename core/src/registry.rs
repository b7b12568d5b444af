//! [`Registry`]: component type name → factory. Built-in and user components register here
//! from `main`; core itself names no concrete sink or handler.

use std::collections::BTreeMap;

use figment::value::Value;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::component::{ComponentKind, HandlerConfig, SinkConfig, SourceConfig};

/// Turns a component's options into its config; errors carry the field path.
pub type ParseFn<T> = fn(&Value) -> Result<T, Box<figment::Error>>;

/// The config a factory produced, by kind.
#[derive(Debug)]
pub enum AnyConfig {
    /// A source config.
    Source(Box<dyn SourceConfig>),
    /// A handler config.
    Handler(Box<dyn HandlerConfig>),
    /// A sink config.
    Sink(Box<dyn SinkConfig>),
}

/// A registered component type.
#[derive(Clone)]
pub struct ComponentInfo {
    /// Source, handler or sink.
    pub kind: ComponentKind,
    /// The `type:` name in pipeline files.
    pub name: &'static str,
    /// One line on what it does.
    pub description: &'static str,
    /// JSON schema of its options (field docs come from the config's doc comments).
    pub schema: fn() -> schemars::Schema,
    parse: ParseFn<AnyConfig>,
}

impl std::fmt::Debug for ComponentInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentInfo")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .finish()
    }
}

impl ComponentInfo {
    /// Deserializes `options` (the component's map without `type`) into its config.
    pub fn parse(&self, options: &Value) -> Result<AnyConfig, Box<figment::Error>> {
        (self.parse)(options)
    }
}

/// Every component type the binary knows, by kind and name.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    components: BTreeMap<(ComponentKind, &'static str), ComponentInfo>,
}

fn parse_source<C: SourceConfig + DeserializeOwned + 'static>(
    v: &Value,
) -> Result<AnyConfig, Box<figment::Error>> {
    Ok(AnyConfig::Source(Box::new(
        v.deserialize::<C>().map_err(Box::new)?,
    )))
}

fn parse_handler<C: HandlerConfig + DeserializeOwned + 'static>(
    v: &Value,
) -> Result<AnyConfig, Box<figment::Error>> {
    Ok(AnyConfig::Handler(Box::new(
        v.deserialize::<C>().map_err(Box::new)?,
    )))
}

fn parse_sink<C: SinkConfig + DeserializeOwned + 'static>(
    v: &Value,
) -> Result<AnyConfig, Box<figment::Error>> {
    Ok(AnyConfig::Sink(Box::new(
        v.deserialize::<C>().map_err(Box::new)?,
    )))
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn insert(&mut self, info: ComponentInfo) {
        self.components.insert((info.kind, info.name), info);
    }

    /// Registers source type `name` with config `C`.
    pub fn add_source<C>(&mut self, name: &'static str, description: &'static str) -> &mut Self
    where
        C: SourceConfig + DeserializeOwned + JsonSchema + 'static,
    {
        self.insert(ComponentInfo {
            kind: ComponentKind::Source,
            name,
            description,
            schema: || schemars::schema_for!(C),
            parse: parse_source::<C>,
        });
        self
    }

    /// Registers handler type `name` with config `C`.
    pub fn add_handler<C>(&mut self, name: &'static str, description: &'static str) -> &mut Self
    where
        C: HandlerConfig + DeserializeOwned + JsonSchema + 'static,
    {
        self.insert(ComponentInfo {
            kind: ComponentKind::Handler,
            name,
            description,
            schema: || schemars::schema_for!(C),
            parse: parse_handler::<C>,
        });
        self
    }

    /// Registers sink type `name` with config `C`.
    pub fn add_sink<C>(&mut self, name: &'static str, description: &'static str) -> &mut Self
    where
        C: SinkConfig + DeserializeOwned + JsonSchema + 'static,
    {
        self.insert(ComponentInfo {
            kind: ComponentKind::Sink,
            name,
            description,
            schema: || schemars::schema_for!(C),
            parse: parse_sink::<C>,
        });
        self
    }

    /// The component `name` of `kind`.
    pub fn get(&self, kind: ComponentKind, name: &str) -> Option<&ComponentInfo> {
        self.components
            .iter()
            .find(|((k, n), _)| *k == kind && *n == name)
            .map(|(_, info)| info)
    }

    /// The names registered for `kind`, sorted.
    pub fn names(&self, kind: ComponentKind) -> Vec<&'static str> {
        self.components
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| *n)
            .collect()
    }

    /// Every registered component, by kind then name.
    pub fn iter(&self) -> impl Iterator<Item = &ComponentInfo> {
        self.components.values()
    }
}
