//! Where things are in a pipeline file: component paths (`sinks.out.path`, `handlers[2]`) and
//! an index from each path to the line and column of its key and value, built from the YAML
//! parser's events (the deserialized value has no positions).

use std::collections::HashMap;
use std::fmt;

use serde_saphyr::granit_parser::{Event, Marker, Parser, ScanError};

/// One step of a path: a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seg {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// A path from the root of the pipeline file to a value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValuePath(pub Vec<Seg>);

impl ValuePath {
    /// The root.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path with map key `key` appended.
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.into()));
        p
    }

    /// This path with list index `i` appended.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    /// This path followed by `other`.
    pub fn join(&self, other: &ValuePath) -> Self {
        let mut p = self.clone();
        p.0.extend(other.0.iter().cloned());
        p
    }

    /// The path without its last step (the root stays the root).
    pub fn parent(&self) -> Self {
        let mut p = self.clone();
        p.0.pop();
        p
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ValuePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineCol {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl From<&Marker> for LineCol {
    fn from(m: &Marker) -> Self {
        Self {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// Where one value of the file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spot {
    /// Its key, when it is a map entry.
    pub key: Option<LineCol>,
    /// Its value.
    pub value: LineCol,
}

/// A key that appears twice in one map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateKey {
    /// The path of the repeated entry.
    pub path: ValuePath,
    /// Where it is repeated.
    pub at: LineCol,
    /// Where it first appeared.
    pub first: LineCol,
}

/// Path → position of every value in a YAML document.
#[derive(Clone, Debug, Default)]
pub struct LocationIndex {
    spots: HashMap<ValuePath, Spot>,
    /// Keys repeated within one map, in file order.
    pub duplicates: Vec<DuplicateKey>,
}

impl LocationIndex {
    /// The position of exactly `path`.
    pub fn get(&self, path: &ValuePath) -> Option<Spot> {
        self.spots.get(path).copied()
    }

    /// The longest prefix of `path` that the file has, with its position.
    pub fn nearest(&self, path: &ValuePath) -> Option<(ValuePath, Spot)> {
        let mut p = path.clone();
        loop {
            if let Some(s) = self.spots.get(&p) {
                return Some((p, *s));
            }
            if p.is_root() {
                return None;
            }
            p = p.parent();
        }
    }

    /// Indexes the first document of `text`. A syntax error is returned with its position.
    pub fn build(text: &str) -> Result<Self, ScanError> {
        let mut index = Self::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut parser = Parser::new_from_str(text);
        while let Some(next) = parser.next_event() {
            let (event, span) = next?;
            let at = LineCol::from(&span.start);
            match event {
                Event::DocumentEnd => break,
                Event::Scalar(ref s, ..) => {
                    if let Some(Frame::Map {
                        key: key @ None, ..
                    }) = stack.last_mut()
                    {
                        // A mapping key, not a value.
                        *key = Some((s.to_string(), at));
                        continue;
                    }
                    index.node(&mut stack, at, None);
                }
                Event::Alias(_) => {
                    if let Some(Frame::Map {
                        key: key @ None, ..
                    }) = stack.last_mut()
                    {
                        *key = Some(("*".to_string(), at));
                        continue;
                    }
                    index.node(&mut stack, at, None);
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    if let Some(Frame::Map {
                        key: key @ None, ..
                    }) = stack.last_mut()
                    {
                        // A complex key: index nothing under it, but keep the nesting right.
                        *key = Some(("?".to_string(), at));
                        stack.push(Frame::Ignored);
                        continue;
                    }
                    let is_map = matches!(event, Event::MappingStart(..));
                    index.node(&mut stack, at, Some(is_map));
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                        if key.as_ref().is_some_and(|(k, _)| k == "?") {
                            // The complex key ended; its value comes next.
                            continue;
                        }
                        *key = None;
                    }
                }
                _ => {}
            }
        }
        Ok(index)
    }

    /// Records a value node at `at`; `collection` is `Some(is_map)` when it opens one.
    fn node(&mut self, stack: &mut Vec<Frame>, at: LineCol, collection: Option<bool>) {
        let (path, key_at) = match stack.last_mut() {
            None => (Some(ValuePath::root()), None),
            Some(Frame::Ignored) => (None, None),
            Some(Frame::Seq { path, next }) => {
                let p = path.as_ref().map(|p| p.index(*next));
                *next += 1;
                (p, None)
            }
            Some(Frame::Map { path, key, seen }) => match (path.as_ref(), key.take()) {
                (Some(parent), Some((k, key_at))) => {
                    let p = parent.key(k.clone());
                    if let Some(first) = seen.get(&k) {
                        self.duplicates.push(DuplicateKey {
                            path: p.clone(),
                            at: key_at,
                            first: *first,
                        });
                    } else {
                        seen.insert(k, key_at);
                    }
                    (Some(p), Some(key_at))
                }
                _ => (None, None),
            },
        };
        if let Some(p) = &path {
            // A repeated key keeps the position of its first occurrence.
            self.spots.entry(p.clone()).or_insert(Spot {
                key: key_at,
                value: at,
            });
        }
        match collection {
            Some(true) => stack.push(Frame::Map {
                path,
                key: None,
                seen: HashMap::new(),
            }),
            Some(false) => stack.push(Frame::Seq { path, next: 0 }),
            None => {}
        }
    }
}

enum Frame {
    Map {
        path: Option<ValuePath>,
        key: Option<(String, LineCol)>,
        seen: HashMap<String, LineCol>,
    },
    Seq {
        path: Option<ValuePath>,
        next: usize,
    },
    Ignored,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[Seg]) -> ValuePath {
        ValuePath(s.to_vec())
    }

    fn k(s: &str) -> Seg {
        Seg::Key(s.into())
    }

    #[test]
    fn indexes_keys_values_and_list_items() {
        let text = "source:\n  type: replay\n  path: x.ndjson\nhandlers:\n  - type: snapshot\n  - {type: checksum, on_mismatch: resync}\nsinks:\n  out: {type: file, events: [book_update, book_reset]}\n";
        let idx = LocationIndex::build(text).unwrap();
        let spot = idx.get(&p(&[k("source"), k("path")])).unwrap();
        assert_eq!(spot.key, Some(LineCol { line: 3, col: 3 }));
        assert_eq!(spot.value, LineCol { line: 3, col: 9 });
        let h1 = idx
            .get(&p(&[k("handlers"), Seg::Index(1), k("on_mismatch")]))
            .unwrap();
        assert_eq!(h1.value, LineCol { line: 6, col: 35 });
        let ev = idx
            .get(&p(&[k("sinks"), k("out"), k("events"), Seg::Index(1)]))
            .unwrap();
        assert_eq!(ev.value, LineCol { line: 8, col: 43 });
        assert!(idx.duplicates.is_empty());
    }

    #[test]
    fn finds_every_duplicate_key() {
        let text = "a: 1\nb:\n  c: 1\n  c: 2\na: 3\n";
        let idx = LocationIndex::build(text).unwrap();
        let dups: Vec<String> = idx.duplicates.iter().map(|d| d.path.to_string()).collect();
        assert_eq!(dups, ["b.c", "a"]);
        assert_eq!(idx.duplicates[1].at, LineCol { line: 5, col: 1 });
        assert_eq!(idx.duplicates[1].first, LineCol { line: 1, col: 1 });
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = LocationIndex::build("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.marker().line() >= 1);
    }

    #[test]
    fn nearest_falls_back_to_the_closest_ancestor() {
        let idx = LocationIndex::build("sinks:\n  out:\n    type: file\n").unwrap();
        let (found, _) = idx.nearest(&p(&[k("sinks"), k("out"), k("path")])).unwrap();
        assert_eq!(found.to_string(), "sinks.out");
    }
}
