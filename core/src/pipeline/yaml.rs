//! YAML for figment over `serde-saphyr` (serde_yaml is unmaintained, serde_yml unsound), plus
//! the position index the error messages need.

use figment::providers::Format;
use figment::value::{Dict, Value};
use serde::de::DeserializeOwned;
use serde_saphyr::DuplicateKeyPolicy;

use super::locate::{LineCol, LocationIndex};

/// The figment [`Format`] for YAML. Repeated keys are an error.
#[derive(Clone, Copy, Debug)]
pub struct Yaml;

impl Format for Yaml {
    type Error = serde_saphyr::Error;

    const NAME: &'static str = "YAML";

    fn from_str<T: DeserializeOwned>(string: &str) -> Result<T, Self::Error> {
        serde_saphyr::from_str_with_options(string, options(DuplicateKeyPolicy::Error))
    }
}

// YAML 1.2 booleans only: `y`, `no`, `on` stay strings (a symbol like `NO/USD` must not
// become `false`).
fn options(duplicate_keys: DuplicateKeyPolicy) -> serde_saphyr::Options {
    serde_saphyr::options! {
        duplicate_keys: duplicate_keys,
        strict_booleans: true,
        with_snippet: false,
    }
}

/// A YAML text that is not a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where, when known.
    pub at: Option<LineCol>,
    /// What, for a person.
    pub message: String,
}

/// A parsed pipeline file: its top-level map and where each value is.
#[derive(Debug)]
pub struct Document {
    /// The top level (empty for an empty file).
    pub root: Dict,
    /// Positions, and the keys repeated in one map.
    pub index: LocationIndex,
}

/// The largest pipeline file accepted, in bytes. A pipeline describes components, not data:
/// the ready-made ones are about 1 KiB. Without a limit a 50 MB file took 25 s and 1.5 GB to
/// fail inside the parser.
pub const MAX_PIPELINE_BYTES: usize = 256 * 1024;

/// The error for a text of `len` bytes, over [`MAX_PIPELINE_BYTES`].
pub fn too_large(len: u64) -> SyntaxError {
    SyntaxError {
        at: None,
        message: format!(
            "the pipeline file is {len} bytes, over the limit of {MAX_PIPELINE_BYTES} bytes \
             (256 KiB); a pipeline file describes components, not data"
        ),
    }
}

/// Parses a whole file. Repeated keys are recorded in the index (all of them, each located)
/// and the last one wins, so the rest of the file is still checked. Texts over
/// [`MAX_PIPELINE_BYTES`] are refused before parsing.
pub fn parse_document(text: &str) -> Result<Document, SyntaxError> {
    if text.len() > MAX_PIPELINE_BYTES {
        return Err(too_large(text.len() as u64));
    }
    let index = LocationIndex::build(text).map_err(|e| SyntaxError {
        at: Some(LineCol::from(e.marker())),
        message: format!("invalid YAML: {}", e.info()),
    })?;
    let policy = if index.duplicates.is_empty() {
        DuplicateKeyPolicy::Error
    } else {
        DuplicateKeyPolicy::LastWins
    };
    let value: Option<Value> =
        serde_saphyr::from_str_with_options(text, options(policy)).map_err(|e| SyntaxError {
            at: e.location().map(|l| LineCol {
                line: l.line() as usize,
                col: l.column() as usize,
            }),
            message: format!("invalid YAML: {}", e.without_snippet()),
        })?;
    let root = match value {
        None | Some(Value::Empty(..)) => Dict::new(),
        Some(Value::Dict(_, d)) => d,
        Some(other) => {
            return Err(SyntaxError {
                at: Some(LineCol { line: 1, col: 1 }),
                message: format!(
                    "a pipeline file is a map (source:, handlers:, sinks:), found {}",
                    super::diagnostics::describe_value(&other)
                ),
            })
        }
    };
    Ok(Document { root, index })
}

/// Parses a value given on the command line or in the environment as a YAML scalar or flow
/// collection (`8`, `true`, `[a, b]`, `{k: v}`); anything that does not parse is a string.
pub fn parse_value(text: &str) -> Value {
    match Yaml::from_str::<Option<Value>>(text) {
        Ok(Some(v)) => v,
        Ok(None) => Value::from(String::new()),
        Err(_) => Value::from(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_map_with_positions() {
        let doc = parse_document("engine:\n  workers: auto\nmetrics: {addr: ':2112'}\n").unwrap();
        let engine = doc.root["engine"].as_dict().unwrap();
        assert_eq!(engine["workers"].as_str(), Some("auto"));
        assert_eq!(
            doc.root["metrics"].as_dict().unwrap()["addr"].as_str(),
            Some(":2112")
        );
    }

    #[test]
    fn an_empty_file_is_an_empty_map() {
        assert!(parse_document("").unwrap().root.is_empty());
        assert!(parse_document("# nothing\n").unwrap().root.is_empty());
    }

    #[test]
    fn a_syntax_error_is_located() {
        let err = parse_document("source:\n  type: [replay\nsinks: {}\n").unwrap_err();
        assert!(err.at.is_some(), "{err:?}");
    }

    #[test]
    fn repeated_keys_are_all_reported() {
        let doc = parse_document("a: 1\na: 2\nb: {c: 1, c: 2}\n").unwrap();
        assert_eq!(doc.index.duplicates.len(), 2);
        assert!(Yaml::from_str::<Value>("a: 1\na: 2\n").is_err());
    }

    #[test]
    fn override_values_are_yaml() {
        assert_eq!(parse_value("8").to_u128(), Some(8));
        assert_eq!(parse_value("true").to_bool(), Some(true));
        assert_eq!(parse_value("y").as_str(), Some("y"));
        assert_eq!(parse_value("off").as_str(), Some("off"));
        assert_eq!(parse_value("/tmp/x").as_str(), Some("/tmp/x"));
        assert!(parse_value("[a, b]").to_actual() == figment::error::Actual::Seq);
        assert_eq!(parse_value("[a, b").as_str(), Some("[a, b"));
    }
}
