//! Topic and key templates, and the mapping from a symbol to a legal topic name.
//!
//! Kafka topic names allow `[A-Za-z0-9._-]`, up to 249 characters. A symbol becomes one by
//! replacing `/` with `-` and anything else outside that set with `_` (`BTC/USD` ->
//! `BTC-USD`); an event without a symbol uses `none`.

use kobe_core::{EventType, Symbol};

/// The longest legal topic name.
pub const MAX_TOPIC_LEN: usize = 249;

/// What stands for `{symbol}` in a topic when an event has no symbol.
pub const NO_SYMBOL: &str = "none";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Symbol,
    Type,
}

/// A parsed `topic` or `key` template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses a topic template: its fixed text must be legal in a topic name.
    pub fn topic(text: &str) -> Result<Self, String> {
        let t = Self::parse(text)?;
        if t.parts.is_empty() {
            return Err("must name a topic".into());
        }
        for part in &t.parts {
            if let Part::Text(s) = part {
                if let Some(c) = s.chars().find(|&c| !legal_char(c)) {
                    return Err(format!(
                        "{c:?} is not allowed in a topic name (only A-Z a-z 0-9 . _ -)"
                    ));
                }
            }
        }
        if !t.has_placeholders() {
            if text == "." || text == ".." {
                return Err(format!("{text:?} is not a legal topic name"));
            }
            if text.len() > MAX_TOPIC_LEN {
                return Err(format!("longer than {MAX_TOPIC_LEN} characters"));
            }
        }
        Ok(t)
    }

    /// Parses a key template (any text).
    pub fn key(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }

    fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else {
                return Err(format!("unclosed `{{` in {text:?}"));
            };
            parts.push(match &rest[open + 1..open + close] {
                "symbol" => Part::Symbol,
                "type" => Part::Type,
                other => {
                    return Err(format!(
                        "unknown placeholder `{{{other}}}` (use `{{symbol}}` or `{{type}}`)"
                    ))
                }
            });
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("unmatched `}}` in {text:?}"));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// Whether the result depends on the event.
    pub fn has_placeholders(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Text(_)))
    }

    /// Whether the result depends on the event type.
    pub fn uses_type(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Type))
    }

    /// The topic name for an event, symbols mapped to legal names.
    pub fn render_topic(&self, symbol: Option<&Symbol>, kind: EventType) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(s) => out.push_str(s),
                Part::Symbol => match symbol {
                    Some(s) => push_topic_safe(s.as_str(), &mut out),
                    None => out.push_str(NO_SYMBOL),
                },
                Part::Type => out.push_str(kind.as_str()),
            }
        }
        out
    }

    /// The key for an event, the symbol as it is; empty means no key.
    pub fn render_key(&self, symbol: Option<&Symbol>, kind: EventType, out: &mut Vec<u8>) {
        out.clear();
        for part in &self.parts {
            match part {
                Part::Text(s) => out.extend_from_slice(s.as_bytes()),
                Part::Symbol => {
                    if let Some(s) = symbol {
                        out.extend_from_slice(s.as_str().as_bytes());
                    }
                }
                Part::Type => out.extend_from_slice(kind.as_str().as_bytes()),
            }
        }
    }

    /// Whether the template is exactly `{symbol}` (the default key, rendered without a copy).
    pub fn is_symbol(&self) -> bool {
        self.parts == [Part::Symbol]
    }
}

fn legal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-'
}

/// Appends `symbol` mapped to topic-name characters: `/` -> `-`, anything else illegal -> `_`.
pub fn push_topic_safe(symbol: &str, out: &mut String) {
    for c in symbol.chars() {
        out.push(match c {
            '/' => '-',
            c if legal_char(c) => c,
            _ => '_',
        });
    }
}

/// A rendered topic name's own problems (length, `.`/`..`), checked once per new topic.
pub fn check_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("{name:?} is not a legal topic name"));
    }
    if name.len() > MAX_TOPIC_LEN {
        return Err(format!(
            "topic {name:?} is longer than {MAX_TOPIC_LEN} characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str) -> Symbol {
        Symbol::new(s).unwrap()
    }

    #[test]
    fn symbols_map_to_legal_topic_names() {
        let t = Template::topic("kraken.{symbol}").unwrap();
        let topic = |s: &str| t.render_topic(Some(&sym(s)), EventType::BookUpdate);
        assert_eq!(topic("BTC/USD"), "kraken.BTC-USD");
        assert_eq!(topic("XBT/EUR"), "kraken.XBT-EUR");
        assert_eq!(topic("1INCH/USD"), "kraken.1INCH-USD");
        assert_eq!(topic("A B:C"), "kraken.A_B_C");
        assert_eq!(t.render_topic(None, EventType::Status), "kraken.none");
    }

    #[test]
    fn type_placeholder_and_fixed_names() {
        let t = Template::topic("{type}-{symbol}").unwrap();
        assert_eq!(
            t.render_topic(Some(&sym("ETH/USD")), EventType::BookSnapshot),
            "book_snapshot-ETH-USD"
        );
        let fixed = Template::topic("kraken_book").unwrap();
        assert!(!fixed.has_placeholders());
        assert_eq!(
            fixed.render_topic(None, EventType::Heartbeat),
            "kraken_book"
        );
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        assert!(Template::topic("a/b").unwrap_err().contains("'/'"));
        assert!(Template::topic("x{pair}").unwrap_err().contains("{pair}"));
        assert!(Template::topic("x{symbol")
            .unwrap_err()
            .contains("unclosed"));
        assert!(Template::topic("").is_err());
        assert!(Template::topic("..").is_err());
        assert!(Template::topic(&"a".repeat(250)).is_err());
        assert!(check_topic_name(&"a".repeat(250)).is_err());
    }

    #[test]
    fn keys_keep_the_symbol_as_it_is() {
        let k = Template::key("{symbol}").unwrap();
        assert!(k.is_symbol());
        let mut out = Vec::new();
        k.render_key(Some(&sym("BTC/USD")), EventType::BookUpdate, &mut out);
        assert_eq!(out, b"BTC/USD");
        k.render_key(None, EventType::Heartbeat, &mut out);
        assert!(out.is_empty());
    }
}
