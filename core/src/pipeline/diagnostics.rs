//! Pipeline file errors, each with where it came from and the component path, printed one per
//! line as `FILE:LINE:COL: sinks.out.pool_size: expected an integer, found a string`.

use std::fmt;

use figment::error::{Actual, Kind};
use figment::value::Value;

use super::locate::LineCol;

/// Where a bad value came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// A position in the pipeline file.
    File {
        /// The file as given.
        file: String,
        /// Line and column, when the value is in the file.
        at: Option<LineCol>,
    },
    /// An environment variable (`KOBE_SINKS__OUT__PATH`).
    Env(String),
    /// A `--set` override, by its path as given.
    Set(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { file, at: Some(at) } => write!(f, "{file}:{}:{}", at.line, at.col),
            Self::File { file, at: None } => write!(f, "{file}"),
            Self::Env(var) => write!(f, "env {var}"),
            Self::Set(path) => write!(f, "--set {path}"),
        }
    }
}

/// One problem with a pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the offending value came from.
    pub origin: Origin,
    /// The component path (`sinks.out.path`); empty for the file as a whole.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.path, self.message)
        }
    }
}

/// Every problem found in a pipeline, in file order (then environment, then `--set`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The problems.
    pub fn list(&self) -> &[Diagnostic] {
        &self.0
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// File problems by position, then environment and `--set` ones in the order found.
    pub(crate) fn sort(&mut self) {
        self.0.sort_by_key(|d| match &d.origin {
            Origin::File { at: None, .. } => (0, 0, 0),
            Origin::File { at: Some(at), .. } => (1, at.line, at.col),
            Origin::Env(_) => (2, 0, 0),
            Origin::Set(_) => (3, 0, 0),
        });
        self.0.dedup();
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A person's words for what a deserializer expected (`u16` → `an integer`).
pub fn describe_expected(expected: &str) -> String {
    let e = expected.trim();
    let int = [
        "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
    ];
    if int.contains(&e) {
        return "an integer".into();
    }
    if e == "f32" || e == "f64" {
        return "a number".into();
    }
    if e == "a boolean" || e == "bool" {
        return "true or false".into();
    }
    if e.starts_with("struct ") || e.starts_with("a map") || e == "map" {
        return "a map".into();
    }
    if e.starts_with("a sequence") || e.starts_with("a tuple") || e.starts_with("tuple") {
        return "a list".into();
    }
    if let Some(rest) = e.strip_prefix("enum ") {
        return format!("one of the {rest} values");
    }
    e.to_string()
}

/// A person's words for a value that was found.
pub fn describe_actual(actual: &Actual) -> String {
    match actual {
        Actual::Bool(b) => format!("a boolean ({b})"),
        Actual::Unsigned(n) => format!("an integer ({n})"),
        Actual::Signed(n) => format!("an integer ({n})"),
        Actual::Float(n) => format!("a number ({n})"),
        Actual::Char(c) => format!("a string ({c:?})"),
        Actual::Str(s) => format!("a string ({s:?})"),
        Actual::Bytes(_) => "bytes".into(),
        Actual::Unit | Actual::Option => "nothing".into(),
        Actual::Seq => "a list".into(),
        Actual::Map => "a map".into(),
        other => other.to_string(),
    }
}

/// A person's words for a value of the file.
pub fn describe_value(value: &Value) -> String {
    describe_actual(&value.to_actual())
}

/// A person's message for a deserialization error (the path is printed separately).
pub fn describe_kind(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => m.clone(),
        Kind::InvalidType(actual, expected) => format!(
            "expected {}, found {}",
            describe_expected(expected),
            describe_actual(actual)
        ),
        Kind::InvalidValue(actual, expected) => format!(
            "expected {}, found {}",
            describe_expected(expected),
            describe_actual(actual)
        ),
        Kind::InvalidLength(n, expected) => {
            format!("expected {}, found {n} items", describe_expected(expected))
        }
        Kind::UnknownVariant(v, expected) => {
            format!(
                "unknown value `{v}`; expected one of: {}",
                expected.join(", ")
            )
        }
        Kind::UnknownField(f, []) => {
            format!("unknown field `{f}`; this component takes no options")
        }
        Kind::UnknownField(f, expected) => {
            format!(
                "unknown field `{f}`; expected one of: {}",
                expected.join(", ")
            )
        }
        Kind::MissingField(f) => format!("missing required field `{f}`"),
        Kind::DuplicateField(f) => format!("field `{f}` is given twice"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_one_located_line_per_problem() {
        let d = Diagnostics(vec![
            Diagnostic {
                origin: Origin::File {
                    file: "bad.yaml".into(),
                    at: Some(LineCol { line: 7, col: 15 }),
                },
                path: "sinks.out.pool_size".into(),
                message: describe_kind(&Kind::InvalidType(Actual::Str("x".into()), "u32".into())),
            },
            Diagnostic {
                origin: Origin::Env("KOBE_SINKS__OUT__PATH".into()),
                path: "sinks.out.path".into(),
                message: "bad".into(),
            },
        ]);
        assert_eq!(
            d.to_string(),
            "bad.yaml:7:15: sinks.out.pool_size: expected an integer, found a string (\"x\")\n\
             env KOBE_SINKS__OUT__PATH: sinks.out.path: bad"
        );
    }
}
