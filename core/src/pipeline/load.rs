//! Loads a pipeline file with figment: defaults → the YAML file → `KOBE_` environment
//! variables → `--set path=value` overrides, then checks it all and reports every problem.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::diagnostics::{Diagnostic, Diagnostics, Origin};
use super::interpolate::interpolate;
use super::locate::ValuePath;
use super::spec::{Checker, Layer};
use super::yaml::{parse_document, parse_value};
use super::{EngineOptions, Pipeline};
use crate::registry::Registry;

/// Environment variables that override the file start with this.
pub const ENV_PREFIX: &str = "KOBE_";
/// Separates levels in an environment variable name (`KOBE_SINKS__OUT__PATH`).
pub const ENV_SEPARATOR: &str = "__";

const FILE_LAYER: &str = "pipeline file";
const DEFAULTS_LAYER: &str = "defaults";
const ENV_LAYER: &str = "env ";
const SET_LAYER: &str = "--set ";

/// Where environment overrides come from: the process, or a given map (tests).
#[derive(Clone, Debug, Default)]
pub enum EnvSource {
    /// The process environment.
    #[default]
    Process,
    /// These variables only.
    Map(BTreeMap<String, String>),
}

impl EnvSource {
    /// The value of variable `name` (for `${NAME}` in the file).
    fn get(&self, name: &str) -> Option<String> {
        match self {
            Self::Process => std::env::var(name).ok(),
            Self::Map(m) => m.get(name).cloned(),
        }
    }

    /// The variables that override the pipeline: `KOBE_` names with at least one `__`
    /// (so `KOBE_LOG` and the like are left to the command line), sorted by name.
    fn overrides(&self) -> Vec<(String, String)> {
        let all: Vec<(String, String)> = match self {
            Self::Process => std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            Self::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        let mut vars: Vec<(String, String)> = all
            .into_iter()
            .filter(|(k, _)| {
                k.strip_prefix(ENV_PREFIX)
                    .is_some_and(|rest| rest.contains(ENV_SEPARATOR))
            })
            .collect();
        vars.sort();
        vars
    }
}

/// A figment layer holding one ready-made map, named for messages.
struct Layered {
    name: String,
    dict: Dict,
}

impl Provider for Layered {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Reads and checks the pipeline file at `path` with its overrides. The only I/O is reading
/// the file.
pub fn load(
    path: &Path,
    overrides: &[String],
    env: &EnvSource,
    registry: &Registry,
) -> Result<Pipeline, Diagnostics> {
    let file = path.display().to_string();
    let fail = |file: String, message: String| {
        Err(Diagnostics(vec![Diagnostic {
            origin: Origin::File { file, at: None },
            path: String::new(),
            message,
        }]))
    };
    match read_limited(path) {
        Ok(Ok(text)) => load_str(&text, &file, overrides, env, registry),
        Ok(Err(len)) => fail(file, super::yaml::too_large(len).message),
        Err(e) => fail(file, format!("cannot read the pipeline file: {e}")),
    }
}

/// Reads at most one byte over the size limit (the file may be a pipe, so its size is not
/// trusted): the text, or `Err(size)` of a file over the limit.
fn read_limited(path: &Path) -> std::io::Result<Result<String, u64>> {
    use std::io::Read;
    let limit = super::yaml::MAX_PIPELINE_BYTES as u64;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > limit {
        return Ok(Err(len));
    }
    let mut bytes = Vec::new();
    (&mut file).take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(Err(bytes.len() as u64));
    }
    String::from_utf8(bytes)
        .map(Ok)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Checks pipeline text `text` (named `file` in messages) with its overrides.
pub fn load_str(
    text: &str,
    file: &str,
    overrides: &[String],
    env: &EnvSource,
    registry: &Registry,
) -> Result<Pipeline, Diagnostics> {
    let doc = match parse_document(text) {
        Ok(doc) => doc,
        Err(e) => {
            return Err(Diagnostics(vec![Diagnostic {
                origin: Origin::File {
                    file: file.to_string(),
                    at: e.at,
                },
                path: String::new(),
                message: e.message,
            }]))
        }
    };
    let mut diags: Vec<Diagnostic> = doc
        .index
        .duplicates
        .iter()
        .map(|d| Diagnostic {
            origin: Origin::File {
                file: file.to_string(),
                at: Some(d.at),
            },
            path: d.path.to_string(),
            message: format!(
                "duplicate key (first given at line {}, column {})",
                d.first.line, d.first.col
            ),
        })
        .collect();

    // `${NAME}` from the environment, in the file's values only.
    let mut missing = Vec::new();
    let root = interpolate(
        Value::Dict(Default::default(), doc.root),
        &ValuePath::root(),
        &|name: &str| env.get(name),
        &mut missing,
    );
    for m in missing {
        diags.push(Diagnostic {
            origin: Origin::File {
                file: file.to_string(),
                at: doc.index.get(&m.path).map(|s| s.value),
            },
            path: m.path.to_string(),
            message: m.message,
        });
    }

    // Lists become maps keyed by index while layering, so `KOBE_HANDLERS__1__ON_MISMATCH`
    // and `--set handlers[1].on_mismatch=…` change one item instead of replacing the list.
    let mut lists = HashSet::new();
    let file_root = lists_to_maps(root, &ValuePath::root(), &mut lists);
    let file_root = match file_root {
        Value::Dict(_, d) => d,
        _ => Dict::new(),
    };

    let mut figment = Figment::new()
        .merge(Layered {
            name: DEFAULTS_LAYER.into(),
            dict: defaults(),
        })
        .merge(Layered {
            name: FILE_LAYER.into(),
            dict: file_root,
        });
    for (var, value) in env.overrides() {
        let keys: Vec<String> = var[ENV_PREFIX.len()..]
            .split(ENV_SEPARATOR)
            .map(|k| k.to_lowercase())
            .collect();
        if keys.iter().any(|k| k.is_empty()) {
            diags.push(Diagnostic {
                origin: Origin::Env(var.clone()),
                path: String::new(),
                message: "empty level in the variable name (`__` separates levels)".into(),
            });
            continue;
        }
        figment = figment.merge(Layered {
            name: format!("{ENV_LAYER}{var}"),
            dict: nest(&keys, parse_value(&value)),
        });
    }
    for raw in overrides {
        match parse_set(raw) {
            Ok((path, keys, value)) => {
                figment = figment.merge(Layered {
                    name: format!("{SET_LAYER}{path}"),
                    dict: nest(&keys, parse_value(value)),
                });
            }
            Err(message) => diags.push(Diagnostic {
                origin: Origin::Set(raw.clone()),
                path: String::new(),
                message,
            }),
        }
    }

    let merged = figment
        .find_value("")
        .unwrap_or_else(|_| Value::Dict(Default::default(), Dict::new()));
    let layer_of = |v: &Value| -> Layer {
        let name = figment
            .get_metadata(v.tag())
            .map(|m| m.name.to_string())
            .unwrap_or_default();
        if let Some(var) = name.strip_prefix(ENV_LAYER) {
            Layer::Env(var.to_string())
        } else if let Some(path) = name.strip_prefix(SET_LAYER) {
            Layer::Set(path.to_string())
        } else {
            Layer::File
        }
    };
    let mut out_of_range = Vec::new();
    let merged = maps_to_lists(merged, &ValuePath::root(), &lists, &mut out_of_range);

    let mut checker = Checker {
        root: &merged,
        file,
        index: &doc.index,
        layer_of: &layer_of,
        registry,
        diags: Vec::new(),
    };
    for (path, origin_value, len) in out_of_range {
        let origin = match layer_of(&origin_value) {
            Layer::Env(var) => Origin::Env(var),
            Layer::Set(p) => Origin::Set(p),
            Layer::File => Origin::File {
                file: file.to_string(),
                at: None,
            },
        };
        checker.diags.push(Diagnostic {
            origin,
            path: path.to_string(),
            message: format!("no such item: the list has {len}"),
        });
    }
    let pipeline = checker.check();
    diags.append(&mut checker.diags);
    match pipeline {
        Some(p) if diags.is_empty() => Ok(p),
        _ => {
            let mut d = Diagnostics(diags);
            d.sort();
            Err(d)
        }
    }
}

/// The built-in defaults layer: the engine tuning.
fn defaults() -> Dict {
    let e = EngineOptions::default();
    let mut engine = Dict::new();
    engine.insert("workers".into(), Value::from(e.workers));
    engine.insert("batch_size".into(), Value::from(e.batch_size));
    engine.insert("channel_capacity".into(), Value::from(e.channel_capacity));
    let mut root = Dict::new();
    root.insert("engine".into(), Value::from(engine));
    root
}

/// `{k1: {k2: … value}}`.
fn nest(keys: &[String], value: Value) -> Dict {
    let mut v = value;
    for k in keys.iter().skip(1).rev() {
        let mut d = Dict::new();
        d.insert(k.clone(), v);
        v = Value::from(d);
    }
    let mut root = Dict::new();
    if let Some(first) = keys.first() {
        root.insert(first.clone(), v);
    }
    root
}

/// Splits `--set sinks.out.path=/tmp/x` (also `handlers[1].x=…`, `handlers.1.x=…`) into the
/// path as given, its keys, and the value text.
fn parse_set(raw: &str) -> Result<(&str, Vec<String>, &str), String> {
    let Some((path, value)) = raw.split_once('=') else {
        return Err("expected PATH=VALUE (like sinks.out.path=/tmp/out.ndjson)".into());
    };
    let path = path.trim();
    let mut keys = Vec::new();
    for piece in path.split('.') {
        let (name, mut rest) = match piece.find('[') {
            Some(i) => (&piece[..i], &piece[i..]),
            None => (piece, ""),
        };
        if !name.is_empty() {
            keys.push(name.to_string());
        } else if rest.is_empty() || keys.is_empty() {
            return Err(format!("`{path}` has an empty level"));
        }
        while !rest.is_empty() {
            let index = rest
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .filter(|(i, _)| i.parse::<usize>().is_ok());
            match index {
                Some((i, after)) => {
                    keys.push(i.to_string());
                    rest = after;
                }
                None => return Err(format!("`{path}`: expected [INDEX] after a key")),
            }
        }
    }
    Ok((path, keys, value))
}

fn lists_to_maps(value: Value, path: &ValuePath, lists: &mut HashSet<ValuePath>) -> Value {
    match value {
        Value::Dict(tag, d) => Value::Dict(
            tag,
            d.into_iter()
                .map(|(k, v)| {
                    let v = lists_to_maps(v, &path.key(k.clone()), lists);
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(tag, items) => {
            lists.insert(path.clone());
            Value::Dict(
                tag,
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        (
                            i.to_string(),
                            lists_to_maps(v, &path.key(i.to_string()), lists),
                        )
                    })
                    .collect(),
            )
        }
        other => other,
    }
}

/// Turns the maps made by [`lists_to_maps`] back into lists (in index order). Keys that are not
/// items of the file's list (an override naming item 7 of 3) are reported as
/// `(path, value, list length)` and dropped.
fn maps_to_lists(
    value: Value,
    path: &ValuePath,
    lists: &HashSet<ValuePath>,
    out_of_range: &mut Vec<(ValuePath, Value, usize)>,
) -> Value {
    match value {
        Value::Dict(tag, d) if lists.contains(path) => {
            let len = d
                .keys()
                .filter_map(|k| k.parse::<usize>().ok())
                .fold(0usize, |n, i| n.max(i + 1));
            let original = (0..len)
                .take_while(|i| d.contains_key(&i.to_string()))
                .count();
            let mut items: Vec<(usize, Value)> = Vec::new();
            for (k, v) in d {
                match k.parse::<usize>() {
                    Ok(i) if i < original => {
                        let v = maps_to_lists(v, &path.key(i.to_string()), lists, out_of_range);
                        items.push((i, v));
                    }
                    _ => out_of_range.push((display_path(&path.key(k)), v, original)),
                }
            }
            items.sort_by_key(|(i, _)| *i);
            Value::Array(tag, items.into_iter().map(|(_, v)| v).collect())
        }
        Value::Dict(tag, d) => Value::Dict(
            tag,
            d.into_iter()
                .map(|(k, v)| {
                    let v = maps_to_lists(v, &path.key(k.clone()), lists, out_of_range);
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(tag, items) => Value::Array(
            tag,
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| maps_to_lists(v, &path.key(i.to_string()), lists, out_of_range))
                .collect(),
        ),
        other => other,
    }
}

/// A layering path (list items as numeric keys) as printed (`handlers[1]`).
fn display_path(path: &ValuePath) -> ValuePath {
    use super::locate::Seg;
    ValuePath(
        path.0
            .iter()
            .map(|s| match s {
                Seg::Key(k) => match k.parse::<usize>() {
                    Ok(i) => Seg::Index(i),
                    Err(_) => s.clone(),
                },
                other => other.clone(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_paths() {
        let (p, keys, v) = parse_set("handlers[1].on_mismatch=resync").unwrap();
        assert_eq!((p, v), ("handlers[1].on_mismatch", "resync"));
        assert_eq!(keys, ["handlers", "1", "on_mismatch"]);
        let (_, keys, v) = parse_set("sinks.out.path=a=b").unwrap();
        assert_eq!(keys, ["sinks", "out", "path"]);
        assert_eq!(v, "a=b");
        assert!(parse_set("sinks.out.path").is_err());
        assert!(parse_set("sinks..path=1").is_err());
        assert!(parse_set("handlers[x]=1").is_err());
    }

    #[test]
    fn env_overrides_need_the_prefix_and_a_separator() {
        let env = EnvSource::Map(BTreeMap::from([
            ("KOBE_LOG".to_string(), "debug".to_string()),
            ("KOBE_SINKS__OUT__PATH".to_string(), "/tmp/x".to_string()),
            ("OTHER__X".to_string(), "1".to_string()),
        ]));
        let vars = env.overrides();
        assert_eq!(vars.len(), 1);
        assert_eq!(vars[0].0, "KOBE_SINKS__OUT__PATH");
    }
}
