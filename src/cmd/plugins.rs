//! `kobe plugins [TYPE]`: the component types this binary offers and their options, read from
//! the JSON schema each config derives from its doc comments.

use std::process::ExitCode;

use kobe_core::component::ComponentKind;
use kobe_core::registry::{ComponentInfo, Registry};
use kobe_core::EventType;
use serde_json::{Map, Value};

/// Arguments of `kobe plugins`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show only this component type (`file`, `replay`, …).
    #[arg(value_name = "TYPE")]
    pub type_name: Option<String>,
    /// Print the JSON schemas instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Describe the plugin library at PATH instead: its name, versions, component types and
    /// their options (the library's declaration is checked first).
    #[arg(long, value_name = "PATH")]
    pub load: Option<std::path::PathBuf>,
}

/// One option of a component, as shown.
#[derive(Debug, PartialEq, Eq)]
struct OptionRow {
    name: String,
    ty: String,
    default: Option<String>,
    required: bool,
    doc: String,
}

/// Lists the components (or one); exits 1 for an unknown TYPE.
pub fn run(args: Args, registry: &Registry) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.load {
        return describe_library(path, args.json);
    }
    let chosen: Vec<&ComponentInfo> = registry
        .iter()
        .filter(|c| args.type_name.as_deref().is_none_or(|t| t == c.name))
        .collect();
    if chosen.is_empty() {
        let names: Vec<&str> = registry.iter().map(|c| c.name).collect();
        crate::out::errln!(
            "error: no component type `{}`; known: {}",
            args.type_name.unwrap_or_default(),
            names.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    if args.json {
        let all: Vec<Value> = chosen
            .iter()
            .map(|c| {
                serde_json::json!({
                    "kind": c.kind.as_str(),
                    "type": c.name,
                    "description": c.description,
                    "schema": (c.schema)().to_value(),
                })
            })
            .collect();
        crate::out::outln!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for kind in [
        ComponentKind::Source,
        ComponentKind::Handler,
        ComponentKind::Sink,
    ] {
        let of_kind: Vec<&&ComponentInfo> = chosen.iter().filter(|c| c.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        out.push_str(&format!("{}s:\n", kind.as_str()));
        if kind == ComponentKind::Sink {
            let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            out.push_str(&format!(
                "  (every sink also takes `events: [...]`, the event types it writes: {})\n",
                names.join(", ")
            ));
        }
        for c in of_kind {
            out.push_str(&format!("\n  {} — {}\n", c.name, c.description));
            let rows = options((c.schema)().to_value());
            if rows.is_empty() {
                out.push_str("    (no options)\n");
            }
            out.push_str(&table(&rows));
        }
        out.push('\n');
    }
    crate::out::out!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// `kobe plugins --load PATH`: what a plugin library offers; exits 1 when it is not one.
fn describe_library(path: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let plugin = match kobe_plugin_host::load(path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut components = Vec::new();
    if let Some(h) = plugin.handler {
        components.push(("handler", &h.component));
    }
    if let Some(s) = plugin.sink {
        components.push(("sink", &s.component));
    }
    let mut described = Vec::new();
    for (kind, c) in components {
        let schema = kobe_plugin_host::schema(c).map_err(anyhow::Error::msg)?;
        described.push((kind, c, schema));
    }
    if json {
        let all: Vec<Value> = described
            .iter()
            .map(|(kind, c, schema)| {
                serde_json::json!({
                    "kind": kind,
                    "type": kobe_plugin_host::library::text(c.type_name),
                    "description": kobe_plugin_host::library::text(c.description),
                    "schema": schema,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "path": plugin.path,
            "name": plugin.name,
            "version": plugin.version,
            "sdk_version": plugin.sdk_version,
            "abi_version": plugin.abi_version,
            "components": all,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "{} {} ({}; kobe-plugin-sdk {}, plugin ABI {})\n",
        plugin.name,
        plugin.version,
        plugin.path.display(),
        plugin.sdk_version,
        plugin.abi_version
    );
    for (kind, c, schema) in described {
        out.push_str(&format!(
            "\n  {kind} `{}` — {}\n    use: {{type: plugin, path: {}, config: {{...}}}}\n",
            kobe_plugin_host::library::text(c.type_name),
            kobe_plugin_host::library::text(c.description),
            path.display()
        ));
        let mut rows = options(schema);
        for r in &mut rows {
            r.name = format!("config.{}", r.name);
        }
        if rows.is_empty() {
            out.push_str("    (no options)\n");
        }
        out.push_str(&table(&rows));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn table(rows: &[OptionRow]) -> String {
    let name_w = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let ty_w = rows.iter().map(|r| r.ty.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in rows {
        let default = match (&r.default, r.required) {
            (_, true) => "required".to_string(),
            (Some(d), false) => format!("default {d}"),
            (None, false) => "optional".to_string(),
        };
        out.push_str(&format!(
            "    {:name_w$}  {:ty_w$}  {default}\n",
            r.name, r.ty
        ));
        if !r.doc.is_empty() {
            out.push_str(&format!("    {:name_w$}  {}\n", "", r.doc));
        }
    }
    out
}

/// The options of a config schema; nested structs are shown as `outer.inner` rows.
fn options(schema: Value) -> Vec<OptionRow> {
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut rows = Vec::new();
    object_rows(&schema, "", &defs, &mut rows, 0);
    rows
}

fn object_rows(
    schema: &Value,
    prefix: &str,
    defs: &Map<String, Value>,
    rows: &mut Vec<OptionRow>,
    depth: usize,
) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, prop) in props {
        let resolved = resolve(prop, defs);
        let doc = prop
            .get("description")
            .or_else(|| resolved.get("description"))
            .and_then(Value::as_str)
            .map(one_line)
            .unwrap_or_default();
        rows.push(OptionRow {
            name: format!("{prefix}{name}"),
            ty: type_name(prop, defs, 0),
            default: prop.get("default").map(|d| d.to_string()),
            required: required.contains(&name.as_str()),
            doc,
        });
        // A nested struct lists its own fields, so every option has a row.
        if depth < 4 && resolved.get("properties").is_some() {
            object_rows(resolved, &format!("{prefix}{name}."), defs, rows, depth + 1);
        }
    }
}

fn one_line(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Follows a `$ref` into `$defs`, and an optional value (`anyOf: [T, null]`) to its `T`.
fn resolve<'a>(schema: &'a Value, defs: &'a Map<String, Value>) -> &'a Value {
    for key in ["anyOf", "oneOf"] {
        if let Some(variants) = schema.get(key).and_then(Value::as_array) {
            let non_null: Vec<&Value> = variants
                .iter()
                .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if let [only] = non_null[..] {
                if variants.len() == 2 {
                    return resolve(only, defs);
                }
            }
        }
    }
    match schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| defs.get(name))
    {
        Some(target) => target,
        None => schema,
    }
}

/// A short type for people: `integer`, `fast|recorded`, `list of string`, `map of string to …`.
fn type_name(schema: &Value, defs: &Map<String, Value>, depth: usize) -> String {
    if depth > 6 {
        return "value".into();
    }
    let schema = resolve(schema, defs);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().map(plain).collect::<Vec<_>>().join("|");
    }
    if let Some(c) = schema.get("const") {
        return plain(c);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(variants) = schema.get(key).and_then(Value::as_array) {
            let names: Vec<String> = variants
                .iter()
                .map(|v| type_name(v, defs, depth + 1))
                .filter(|t| t != "null")
                .collect();
            return names.join("|");
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    let named: Vec<String> = types
        .iter()
        .map(|t| match *t {
            "array" => match schema.get("items") {
                Some(items) => {
                    let count = schema.get("minItems").and_then(Value::as_u64);
                    let fixed =
                        count.is_some() && count == schema.get("maxItems").and_then(Value::as_u64);
                    match (fixed, count) {
                        (true, Some(n)) => format!("[{n} × {}]", type_name(items, defs, depth + 1)),
                        _ => format!("list of {}", type_name(items, defs, depth + 1)),
                    }
                }
                None => "list".into(),
            },
            "object" => match schema.get("additionalProperties") {
                Some(v @ Value::Object(_)) => {
                    format!("map of string to {}", type_name(v, defs, depth + 1))
                }
                _ => "map".into(),
            },
            "boolean" => "bool".into(),
            other => other.to_string(),
        })
        .collect();
    if named.is_empty() {
        "value".into()
    } else {
        named.join("|")
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nested options.
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Inner {
        /// How deep.
        #[serde(default)]
        depth: u16,
    }

    /// A mode (schemars shows a default only for types that serialize).
    #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
    #[serde(rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Mode {
        /// Quickly.
        Fast,
        /// Slowly.
        Recorded,
    }

    fn fast() -> Mode {
        Mode::Fast
    }

    /// A test config.
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Config {
        /// Where to read,
        /// on two lines.
        path: String,
        /// The pace.
        #[serde(default = "fast")]
        pace: Mode,
        /// Nested.
        #[serde(default)]
        inner: Option<Inner>,
        /// Per symbol.
        #[serde(default)]
        precision: std::collections::BTreeMap<String, [u8; 2]>,
    }

    #[test]
    fn rows_show_name_type_default_required_and_doc() {
        let rows = options(schemars::schema_for!(Config).to_value());
        let find = |n: &str| rows.iter().find(|r| r.name == n).unwrap();
        let path = find("path");
        assert!(path.required);
        assert_eq!(path.ty, "string");
        assert_eq!(path.doc, "Where to read, on two lines.");
        let pace = find("pace");
        assert_eq!(pace.ty, "fast|recorded");
        assert_eq!(pace.default.as_deref(), Some("\"fast\""));
        assert!(!pace.required);
        assert_eq!(find("inner.depth").ty, "integer");
        assert_eq!(find("inner.depth").doc, "How deep.");
        assert_eq!(find("precision").ty, "map of string to [2 × integer]");
    }
}
