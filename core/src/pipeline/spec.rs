//! The pipeline file's model: checks the merged configuration section by section, hands each
//! component's options to its registered type, and turns every problem into a located
//! [`Diagnostic`]. Nothing stops at the first error.

use std::net::SocketAddr;

use figment::error::Kind;
use figment::value::{Dict, Value};
use serde::Deserialize;

use super::diagnostics::{describe_kind, describe_value, Diagnostic, Origin};
use super::locate::{LocationIndex, Seg, ValuePath};
use super::{EngineOptions, HandlerSpec, MetricsOptions, Pipeline, SinkSpec};
use crate::component::{ComponentKind, ConfigError};
use crate::event::{EventFilter, EventType};
use crate::registry::{AnyConfig, Registry};

/// The top-level sections a pipeline file may have.
pub const SECTIONS: [&str; 5] = ["source", "handlers", "sinks", "engine", "metrics"];

/// Which layer a value came from, by the figment provider that supplied it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Layer {
    /// Built-in defaults or the pipeline file.
    File,
    /// An environment variable, by name.
    Env(String),
    /// A `--set` override, by its path.
    Set(String),
}

/// Everything needed to check a merged configuration and locate its problems.
pub(crate) struct Checker<'a> {
    /// The merged top level.
    pub root: &'a Value,
    /// The file name as given.
    pub file: &'a str,
    /// Positions in the file.
    pub index: &'a LocationIndex,
    /// The layer of a value, from its figment tag.
    pub layer_of: &'a dyn Fn(&Value) -> Layer,
    /// The component types.
    pub registry: &'a Registry,
    /// Problems found so far.
    pub diags: Vec<Diagnostic>,
}

/// The value at `path`, if there is one.
fn lookup<'v>(root: &'v Value, path: &ValuePath) -> Option<&'v Value> {
    let mut v = root;
    for seg in &path.0 {
        v = match (v, seg) {
            (Value::Dict(_, d), Seg::Key(k)) => d.get(k)?,
            (Value::Array(_, a), Seg::Index(i)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Turns a figment error path (strings) into a path, reading indices where `value` has lists.
fn figment_path(value: &Value, keys: &[String]) -> ValuePath {
    let mut path = ValuePath::root();
    let mut v = Some(value);
    for k in keys {
        match v {
            Some(Value::Array(_, a)) => match k.parse::<usize>() {
                Ok(i) => {
                    v = a.get(i);
                    path = path.index(i);
                }
                Err(_) => {
                    v = None;
                    path = path.key(k.clone());
                }
            },
            Some(Value::Dict(_, d)) => {
                v = d.get(k);
                path = path.key(k.clone());
            }
            _ => {
                v = None;
                path = path.key(k.clone());
            }
        }
    }
    path
}

/// Turns a `validate()` path (`precision.BTC/USD`, `symbols[2]`) into a path. Keys may hold
/// dots, so at each map the longest run of segments that names a key wins.
fn relative_path(value: &Value, rel: &str) -> ValuePath {
    let mut parts: Vec<Seg> = Vec::new();
    for piece in rel.split('.').filter(|s| !s.is_empty()) {
        let mut name = piece;
        let mut indices = Vec::new();
        while let Some(open) = name.rfind('[') {
            match name[open..]
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<usize>().ok())
            {
                Some(i) => {
                    indices.insert(0, i);
                    name = &name[..open];
                }
                None => break,
            }
        }
        if !name.is_empty() {
            parts.push(Seg::Key(name.to_string()));
        }
        parts.extend(indices.into_iter().map(Seg::Index));
    }
    let mut path = ValuePath::root();
    let mut v = Some(value);
    let mut i = 0;
    while i < parts.len() {
        if let (Some(Value::Dict(_, d)), Seg::Key(_)) = (v, &parts[i]) {
            // The longest dotted run of keys that the map has.
            let mut best = None;
            let mut joined = String::new();
            for (j, p) in parts[i..].iter().enumerate() {
                let Seg::Key(k) = p else { break };
                if j > 0 {
                    joined.push('.');
                }
                joined.push_str(k);
                if d.contains_key(&joined) {
                    best = Some((i + j, joined.clone()));
                }
            }
            if let Some((end, key)) = best {
                v = d.get(&key);
                path = path.key(key);
                i = end + 1;
                continue;
            }
        }
        v = match (v, &parts[i]) {
            (Some(Value::Array(_, a)), Seg::Index(n)) => a.get(*n),
            _ => None,
        };
        path.0.push(parts[i].clone());
        i += 1;
    }
    path
}

fn dict_without(d: &Dict, keys: &[&str]) -> Dict {
    d.iter()
        .filter(|(k, _)| !keys.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Removes the value at `rel` (relative to `root`) if its parent is a map.
fn remove_at(root: &mut Value, rel: &ValuePath) -> bool {
    let Some((Seg::Key(last), parent)) = rel.0.split_last() else {
        return false;
    };
    let mut v = root;
    for seg in parent {
        v = match (v, seg) {
            (Value::Dict(_, d), Seg::Key(k)) => match d.get_mut(k) {
                Some(x) => x,
                None => return false,
            },
            (Value::Array(_, a), Seg::Index(i)) => match a.get_mut(*i) {
                Some(x) => x,
                None => return false,
            },
            _ => return false,
        };
    }
    match v {
        Value::Dict(_, d) => d.remove(last).is_some(),
        _ => false,
    }
}

/// How a deserialization problem points at the file.
enum Aim {
    /// At the value.
    Value,
    /// At the key of a map entry.
    Key,
}

impl Checker<'_> {
    /// Where the value at `path` (or its nearest existing ancestor) came from.
    fn origin(&self, path: &ValuePath, aim: Aim) -> Origin {
        let mut existing = path.clone();
        let mut value = lookup(self.root, &existing);
        while value.is_none() && !existing.is_root() {
            existing = existing.parent();
            value = lookup(self.root, &existing);
        }
        let in_file = self.index.get(&existing);
        if let Some(v) = value {
            // A map is often built from several layers; only a scalar or list replaced
            // outright, or a map the file never had, belongs to one override. The file may
            // have had a scalar where an override put a map (`--set sinks.out.path.x=1`):
            // then none of the map's keys is in the file.
            let file_had_map = match v {
                Value::Dict(_, d) => d
                    .keys()
                    .any(|k| self.index.get(&existing.key(k.clone())).is_some()),
                _ => false,
            };
            let replaced = !matches!(v, Value::Dict(..)) || in_file.is_none() || !file_had_map;
            if replaced {
                match (self.layer_of)(v) {
                    Layer::Env(var) => return Origin::Env(var),
                    Layer::Set(p) => return Origin::Set(p),
                    Layer::File => {}
                }
            }
        }
        let at = match self.index.nearest(path) {
            Some((found, spot)) if found == *path => match aim {
                Aim::Key => spot.key.or(Some(spot.value)),
                Aim::Value => Some(spot.value),
            },
            Some((_, spot)) => spot.key.or(Some(spot.value)),
            None => None,
        };
        Origin::File {
            file: self.file.to_string(),
            at,
        }
    }

    fn report(&mut self, path: &ValuePath, aim: Aim, message: impl Into<String>) {
        let origin = self.origin(path, aim);
        self.diags.push(Diagnostic {
            origin,
            path: path.to_string(),
            message: message.into(),
        });
    }

    fn report_config_errors(&mut self, at: &ValuePath, options: &Value, errors: Vec<ConfigError>) {
        for e in errors {
            let path = at.join(&relative_path(options, &e.path));
            self.report(&path, Aim::Value, e.message);
        }
    }

    /// Deserializes `options` (found at `at`) with `parse`, all or nothing.
    fn parse_all<T>(
        &mut self,
        at: &ValuePath,
        options: &Value,
        parse: impl Fn(&Value) -> Result<T, Box<figment::Error>>,
    ) -> Option<T> {
        match self.parse_rest(at, options, parse) {
            Some((v, true)) => Some(v),
            _ => None,
        }
    }

    /// Deserializes `options` (found at `at`) with `parse`. On failure, reports the error,
    /// drops the offending field and tries again, so one pass finds most problems of a
    /// component; a missing required field ends the search. Returns what parsed without the
    /// bad fields, and whether nothing was dropped.
    fn parse_rest<T>(
        &mut self,
        at: &ValuePath,
        options: &Value,
        parse: impl Fn(&Value) -> Result<T, Box<figment::Error>>,
    ) -> Option<(T, bool)> {
        let mut current = options.clone();
        let mut removed: Vec<ValuePath> = Vec::new();
        for _ in 0..64 {
            let err = match parse(&current) {
                Ok(v) => return Some((v, removed.is_empty())),
                Err(e) => e,
            };
            let rel = figment_path(&current, &err.path);
            match &err.kind {
                Kind::MissingField(field) => {
                    let rel = rel.key(field.to_string());
                    if !removed.contains(&rel) {
                        let path = at.join(&rel);
                        self.report(&path, Aim::Key, describe_kind(&err.kind));
                    }
                    return None;
                }
                Kind::UnknownField(..) => {
                    self.report(&at.join(&rel), Aim::Key, describe_kind(&err.kind));
                }
                _ => self.report(&at.join(&rel), Aim::Value, describe_kind(&err.kind)),
            }
            if !remove_at(&mut current, &rel) {
                return None;
            }
            removed.push(rel);
        }
        None
    }

    /// Checks one component map at `at`: its `type`, then its options (without `strip`).
    fn component(
        &mut self,
        kind: ComponentKind,
        at: &ValuePath,
        value: &Value,
        strip: &[&str],
    ) -> Option<(String, AnyConfig)> {
        let known = self.registry.names(kind).join(", ");
        let kind_name = kind.as_str();
        let Value::Dict(tag, map) = value else {
            self.report(
                at,
                Aim::Value,
                format!(
                    "expected a map with a `type:` (one of: {known}), found {}",
                    describe_value(value)
                ),
            );
            return None;
        };
        let type_path = at.key("type");
        let type_name = match map.get("type") {
            None => {
                self.report(
                    &type_path,
                    Aim::Key,
                    format!("missing `type:`; the {kind_name} types are: {known}"),
                );
                return None;
            }
            Some(Value::String(_, s)) => s.clone(),
            Some(other) => {
                self.report(
                    &type_path,
                    Aim::Value,
                    format!(
                        "expected a {kind_name} type name (one of: {known}), found {}",
                        describe_value(other)
                    ),
                );
                return None;
            }
        };
        let Some(info) = self.registry.get(kind, &type_name) else {
            self.report(
                &type_path,
                Aim::Value,
                format!("unknown {kind_name} type `{type_name}`; known {kind_name} types: {known}"),
            );
            return None;
        };
        let mut strip_all = vec!["type"];
        strip_all.extend_from_slice(strip);
        let options = Value::Dict(*tag, dict_without(map, &strip_all));
        // The rules still run on what parsed, so one pass shows them too.
        let (config, clean) = self.parse_rest(at, &options, |v| info.parse(v))?;
        let problems = match &config {
            AnyConfig::Source(c) => c.validate(),
            AnyConfig::Handler(c) => c.validate(),
            AnyConfig::Sink(c) => c.validate(),
        };
        self.report_config_errors(at, &options, problems);
        clean.then_some((type_name, config))
    }

    /// Checks the whole configuration and builds the pipeline when nothing is wrong.
    pub fn check(&mut self) -> Option<Pipeline> {
        let root_path = ValuePath::root();
        let empty = Dict::new();
        let root = match self.root {
            Value::Dict(_, d) => d,
            _ => &empty,
        };
        for key in root.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                self.report(
                    &root_path.key(key.clone()),
                    Aim::Key,
                    format!(
                        "unknown section `{key}`; expected one of: {}",
                        SECTIONS.join(", ")
                    ),
                );
            }
        }
        if !root.contains_key("source") && !root.contains_key("sinks") {
            self.diags.push(Diagnostic {
                origin: Origin::File {
                    file: self.file.to_string(),
                    at: None,
                },
                path: String::new(),
                message: "the pipeline is empty: it needs a `source:` and at least one sink \
                          under `sinks:`"
                    .into(),
            });
        }
        let source = self.source(root);
        let handlers = self.handlers(root);
        let sinks = self.sinks(root);
        let engine = self.engine(root);
        let metrics = self.metrics(root);
        let (source_type, source) = source?;
        let pipeline = Pipeline {
            source_type,
            source,
            handlers: handlers?,
            sinks: sinks?,
            engine: engine?,
            metrics: metrics?,
        };
        self.diags.is_empty().then_some(pipeline)
    }

    fn source(&mut self, root: &Dict) -> Option<(String, Box<dyn crate::component::SourceConfig>)> {
        let at = ValuePath::root().key("source");
        let Some(value) = root.get("source") else {
            if root.contains_key("sinks") {
                let known = self.registry.names(ComponentKind::Source).join(", ");
                self.report(
                    &at,
                    Aim::Key,
                    format!("missing `source:`; a pipeline has exactly one (types: {known})"),
                );
            }
            return None;
        };
        match self.component(ComponentKind::Source, &at, value, &[])? {
            (name, AnyConfig::Source(c)) => Some((name, c)),
            _ => None,
        }
    }

    fn handlers(&mut self, root: &Dict) -> Option<Vec<HandlerSpec>> {
        let at = ValuePath::root().key("handlers");
        let items = match root.get("handlers") {
            None | Some(Value::Empty(..)) => return Some(Vec::new()),
            Some(Value::Array(_, items)) => items,
            Some(other) => {
                self.report(
                    &at,
                    Aim::Value,
                    format!(
                        "expected a list of handlers, found {}",
                        describe_value(other)
                    ),
                );
                return None;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let path = at.index(i);
            match self.component(ComponentKind::Handler, &path, item, &[]) {
                Some((type_name, AnyConfig::Handler(config))) => out.push(HandlerSpec {
                    path: path.to_string(),
                    type_name,
                    config,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn sinks(&mut self, root: &Dict) -> Option<Vec<SinkSpec>> {
        let at = ValuePath::root().key("sinks");
        let sinks = match root.get("sinks") {
            Some(Value::Dict(_, d)) if !d.is_empty() => d,
            None if !root.contains_key("source") => return None,
            None | Some(Value::Empty(..)) | Some(Value::Dict(..)) => {
                let known = self.registry.names(ComponentKind::Sink).join(", ");
                self.report(
                    &at,
                    Aim::Key,
                    format!(
                        "a pipeline needs at least one sink under `sinks:` (id: {{type: ...}}); \
                         types: {known}"
                    ),
                );
                return None;
            }
            Some(other) => {
                self.report(
                    &at,
                    Aim::Value,
                    format!(
                        "expected a map of sink id to sink, found {}",
                        describe_value(other)
                    ),
                );
                return None;
            }
        };
        let mut out = Vec::with_capacity(sinks.len());
        let mut ok = true;
        for (id, value) in sinks {
            let path = at.key(id.clone());
            let filter = match value {
                Value::Dict(_, d) => match d.get("events") {
                    Some(events) => self.events(&path.key("events"), events),
                    None => Some(None),
                },
                _ => Some(None),
            };
            let parsed = self.component(ComponentKind::Sink, &path, value, &["events"]);
            match (parsed, filter) {
                (Some((type_name, AnyConfig::Sink(config))), Some(filter)) => {
                    let filter = filter.unwrap_or_else(|| config.default_events());
                    out.push(SinkSpec {
                        id: id.clone(),
                        type_name,
                        config,
                        filter,
                    });
                }
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A sink's `events:` list; `Some(None)` when absent.
    fn events(&mut self, at: &ValuePath, value: &Value) -> Option<Option<EventFilter>> {
        let types = self.parse_all(at, value, |v| {
            v.deserialize::<Vec<EventType>>().map_err(Box::new)
        })?;
        if types.is_empty() {
            self.report(
                at,
                Aim::Value,
                "an empty `events:` list would write nothing; remove the sink or list events",
            );
            return None;
        }
        Some(Some(EventFilter::of(&types)))
    }

    fn engine(&mut self, root: &Dict) -> Option<EngineOptions> {
        let at = ValuePath::root().key("engine");
        let defaults = EngineOptions::default();
        let Some(value) = root.get("engine") else {
            return Some(defaults);
        };
        // The rules still run on what parsed, so one pass shows them too.
        let (section, mut ok) = self.parse_rest(&at, value, |v| {
            v.deserialize::<EngineSection>().map_err(Box::new)
        })?;
        for (name, n) in [
            ("batch_size", section.batch_size),
            ("channel_capacity", section.channel_capacity),
        ] {
            if n == Some(0) {
                self.report(&at.key(name), Aim::Value, "must be at least 1");
                ok = false;
            }
        }
        let workers = match section.workers {
            None => defaults.workers,
            Some(Workers::Auto) => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            Some(Workers::Count(0)) => {
                self.report(
                    &at.key("workers"),
                    Aim::Value,
                    "must be at least 1 (or `auto`)",
                );
                ok = false;
                1
            }
            Some(Workers::Count(n)) => n,
        };
        ok.then(|| EngineOptions {
            workers,
            batch_size: section.batch_size.unwrap_or(defaults.batch_size),
            channel_capacity: section
                .channel_capacity
                .unwrap_or(defaults.channel_capacity),
        })
    }

    fn metrics(&mut self, root: &Dict) -> Option<Option<MetricsOptions>> {
        let at = ValuePath::root().key("metrics");
        let value = match root.get("metrics") {
            None | Some(Value::Empty(..)) => return Some(None),
            Some(v) => v,
        };
        let section = self.parse_all(&at, value, |v| {
            v.deserialize::<MetricsSection>().map_err(Box::new)
        })?;
        match parse_socket_addr(&section.addr) {
            Some(addr) => Some(Some(MetricsOptions { addr })),
            None => {
                self.report(
                    &at.key("addr"),
                    Aim::Value,
                    format!(
                        "`{}` is not a socket address; expected IP:PORT such as \
                         127.0.0.1:2112, or :PORT for every interface",
                        section.addr
                    ),
                );
                None
            }
        }
    }
}

/// `IP:PORT`, `[IPv6]:PORT`, or `:PORT` for every IPv4 interface.
pub fn parse_socket_addr(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    match s.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}").parse().ok(),
        None => s.parse().ok(),
    }
}

/// The `engine:` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineSection {
    workers: Option<Workers>,
    batch_size: Option<usize>,
    channel_capacity: Option<usize>,
}

/// `workers: auto` or a count.
#[derive(Debug)]
enum Workers {
    Auto,
    Count(usize),
}

impl<'de> Deserialize<'de> for Workers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Workers;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`auto` or a number of workers")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Workers, E> {
                usize::try_from(n)
                    .map(Workers::Count)
                    .map_err(|_| E::custom("too many workers"))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Workers, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(
                        "expected `auto` or a number of workers, found a negative number",
                    )),
                }
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Workers, E> {
                if s == "auto" {
                    Ok(Workers::Auto)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(s), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The `metrics:` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsSection {
    addr: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses() {
        assert_eq!(
            parse_socket_addr(":2112"),
            Some("0.0.0.0:2112".parse().unwrap())
        );
        assert_eq!(
            parse_socket_addr("127.0.0.1:2112"),
            Some("127.0.0.1:2112".parse().unwrap())
        );
        assert_eq!(
            parse_socket_addr("[::1]:80"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(parse_socket_addr("localhost:2112"), None);
        assert_eq!(parse_socket_addr("127.0.0.1"), None);
        assert_eq!(parse_socket_addr(":99999"), None);
    }

    #[test]
    fn validate_paths_may_hold_dots_and_indices() {
        let v: Value = figment::util::map! {
            "precision".to_string() => Value::from(figment::util::map! {
                "BTC/USD.x".to_string() => Value::from(1u8)
            }),
            "symbols".to_string() => Value::from(vec!["a", "b"])
        }
        .into();
        assert_eq!(
            relative_path(&v, "precision.BTC/USD.x").to_string(),
            "precision.BTC/USD.x"
        );
        assert_eq!(
            relative_path(&v, "precision.BTC/USD.x").0.len(),
            2,
            "the dotted symbol is one key"
        );
        assert_eq!(relative_path(&v, "symbols[1]").to_string(), "symbols[1]");
        assert_eq!(relative_path(&v, "").to_string(), "");
    }
}
