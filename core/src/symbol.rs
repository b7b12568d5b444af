//! [`Symbol`]: a Kraken pair name (`BTC/USD`) stored inline.
//!
//! Symbols ride on every event, get hashed to pick a shard and key books, so they are `Copy`
//! and never allocate: up to [`Symbol::MAX_LEN`] bytes live inside the value itself.

use std::fmt;
use std::hash::{Hash, Hasher};

/// A trading pair such as `BTC/USD`, stored inline (no heap, `Copy`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Symbol {
    len: u8,
    bytes: [u8; Symbol::MAX_LEN],
}

/// A symbol that cannot be stored: empty or longer than [`Symbol::MAX_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid symbol {text:?}: must be 1 to {max} bytes", max = Symbol::MAX_LEN)]
pub struct SymbolError {
    /// The rejected text (truncated to 64 bytes).
    pub text: String,
}

impl Symbol {
    /// Longest symbol kept inline; Kraken's longest pair names are well under this.
    pub const MAX_LEN: usize = 31;

    /// Makes a symbol from its text.
    pub fn new(text: &str) -> Result<Self, SymbolError> {
        let raw = text.as_bytes();
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(SymbolError {
                text: text.chars().take(64).collect(),
            });
        }
        let mut bytes = [0u8; Self::MAX_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(Self {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The text's bytes in a fixed-size array (zero-padded), and the text's length: renderers
    /// copy the whole array, which is cheaper than a copy of the exact length.
    pub(crate) fn padded(&self) -> (&[u8; Self::MAX_LEN], usize) {
        (&self.bytes, usize::from(self.len))
    }

    /// The symbol's text.
    pub fn as_str(&self) -> &str {
        // Only ever built from a `&str` in `new`, so the bytes are valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or_default()
    }

    /// A stable 64-bit hash (FNV-1a) used to pick shards and Kafka partitions: the same symbol
    /// maps to the same shard in every process and every version.
    pub fn stable_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in &self.bytes[..self.len as usize] {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    }
}

impl Hash for Symbol {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Unused bytes are always zero, so the fixed-size form is canonical; four words hash
        // much faster than a byte slice.
        let mut word = [0u8; 8];
        word[0] = self.len;
        word[1..].copy_from_slice(&self.bytes[..7]);
        state.write_u64(u64::from_le_bytes(word));
        for chunk in self.bytes[7..].chunks_exact(8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            state.write_u64(u64::from_le_bytes(word));
        }
    }
}

/// A fast, non-cryptographic hasher for [`Symbol`] keys (symbols come from Kraken and the
/// pipeline file, not from an adversary choosing collisions).
#[derive(Clone, Copy, Debug, Default)]
pub struct SymbolHasher(u64);

impl Hasher for SymbolHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A set of symbols with [`SymbolHasher`].
pub type SymbolSet = std::collections::HashSet<Symbol, std::hash::BuildHasherDefault<SymbolHasher>>;

/// A map keyed by symbol with [`SymbolHasher`]: the per-event lookups of the engine.
pub type SymbolMap<V> =
    std::collections::HashMap<Symbol, V, std::hash::BuildHasherDefault<SymbolHasher>>;

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Symbol {
    type Err = SymbolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl serde::Serialize for Symbol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Symbol {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Symbol::new(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Symbol {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Symbol".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "description": "A Kraken pair such as BTC/USD"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_lengths() {
        let s = Symbol::new("BTC/USD").unwrap();
        assert_eq!(s.as_str(), "BTC/USD");
        assert_eq!(s.to_string(), "BTC/USD");
        assert!(Symbol::new("").is_err());
        assert!(Symbol::new(&"X".repeat(32)).is_err());
        assert!(Symbol::new(&"X".repeat(31)).is_ok());
    }

    #[test]
    fn stable_hash_is_fixed_across_versions() {
        // Shard and partition assignment depend on this value never changing.
        assert_eq!(
            Symbol::new("BTC/USD").unwrap().stable_hash(),
            0x5830_266c_f360_056f
        );
    }
}
