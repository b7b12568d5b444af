//! `${NAME}` in pipeline file values: replaced by the environment variable `NAME` before the
//! file is checked, so secrets and per-host settings stay out of the file.
//!
//! - A value that is exactly `${NAME}` takes the variable's text as a YAML value (`9092` is a
//!   number, `[a, b]` a list), like `KOBE_…` overrides; inside a longer string it is spliced
//!   in as text (`kafka-${HOST}:9092`).
//! - `$${` writes a literal `${`.
//! - A missing variable is an error located at the value, naming the variable; the value of a
//!   present one is never printed.

use figment::value::Value;

use super::locate::ValuePath;
use super::yaml::parse_value;

/// A `${NAME}` with no variable, at `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    /// Where the value is.
    pub path: ValuePath,
    /// What is wrong (names the variable).
    pub message: String,
}

/// Replaces `${NAME}` in every string of `value` using `lookup`; records what is missing.
pub fn interpolate(
    value: Value,
    path: &ValuePath,
    lookup: &dyn Fn(&str) -> Option<String>,
    missing: &mut Vec<Missing>,
) -> Value {
    match value {
        Value::Dict(tag, d) => Value::Dict(
            tag,
            d.into_iter()
                .map(|(k, v)| {
                    let v = interpolate(v, &path.key(k.clone()), lookup, missing);
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(tag, items) => Value::Array(
            tag,
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| interpolate(v, &path.index(i), lookup, missing))
                .collect(),
        ),
        Value::String(tag, s) if s.contains("${") => match expand(&s, lookup) {
            Ok(Expanded::Whole(text)) => parse_value(&text),
            Ok(Expanded::Text(text)) => Value::String(tag, text),
            Err(message) => {
                missing.push(Missing {
                    path: path.clone(),
                    message,
                });
                Value::String(tag, s)
            }
        },
        other => other,
    }
}

enum Expanded {
    /// The value was exactly one `${NAME}`: the variable's text, to be read as YAML.
    Whole(String),
    /// A string with the variables spliced in.
    Text(String),
}

fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Expanded, String> {
    if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        if is_name(name) {
            return lookup(name)
                .map(Expanded::Whole)
                .ok_or_else(|| missing_message(name));
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(r) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = r;
        } else if let Some(r) = after.strip_prefix("${") {
            let Some(end) = r.find('}') else {
                return Err("unclosed `${` (write `$${` for a literal `${`)".into());
            };
            let name = &r[..end];
            if !is_name(name) {
                return Err(format!(
                    "`${{{name}}}`: a variable name is letters, digits and `_`"
                ));
            }
            out.push_str(&lookup(name).ok_or_else(|| missing_message(name))?);
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(Expanded::Text(out))
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

fn missing_message(name: &str) -> String {
    format!("environment variable {name} is not set (the value uses `${{{name}}}`)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, vars: &[(&str, &str)]) -> (Value, Vec<Missing>) {
        let lookup = |n: &str| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        };
        let mut missing = Vec::new();
        let v = interpolate(
            Value::from(text.to_string()),
            &ValuePath::root(),
            &lookup,
            &mut missing,
        );
        (v, missing)
    }

    #[test]
    fn whole_values_are_typed_and_parts_are_spliced() {
        assert_eq!(run("${N}", &[("N", "8")]).0, Value::from(8u64));
        assert_eq!(
            run("kafka-${H}:9092", &[("H", "a")]).0,
            Value::from("kafka-a:9092".to_string())
        );
        assert_eq!(
            run("$${KEEP} and $5", &[]).0,
            Value::from("${KEEP} and $5".to_string())
        );
    }

    #[test]
    fn a_missing_variable_is_named() {
        let (_, missing) = run("x-${NOPE}", &[]);
        assert_eq!(missing.len(), 1);
        assert!(missing[0].message.contains("NOPE is not set"));
        assert!(run("${unclosed", &[]).1[0].message.contains("unclosed"));
    }
}
