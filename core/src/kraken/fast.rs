//! A fast path for the frames that dominate the stream: `book` snapshots and updates in the
//! layout Kraken sends (`{"channel":"book","type":…,"data":[{"symbol":…,"bids":[…],…}]}`).
//!
//! It scans the bytes once, taking number tokens straight into [`Decimal`]s, where the general
//! serde path has to capture each number as raw JSON and scan it again. Anything it does not
//! recognise exactly (an unknown key, an escape, `data` before `channel`, a bad number) makes it
//! step aside: the general path then decodes the frame, or reports the error. Tests check that
//! both paths agree on every fixture frame.

use crate::decimal::{parse_number_prefix, Decimal};
use crate::event::{BookData, Event, EventKind, Level};
use crate::symbol::Symbol;
use crate::time::Timestamp;

/// Decodes a book frame, or returns `None` (appending nothing) for the general path to handle.
pub(super) fn decode_book(text: &str, received: Timestamp, out: &mut Vec<Event>) -> Option<()> {
    let start = out.len();
    let cursor = Cursor {
        s: text,
        b: text.as_bytes(),
        i: 0,
    };
    // Kraken's own layout first (keys in its order, no whitespace): a run of literals. Any
    // other arrangement of the same frame takes the key-by-key scan.
    if cursor.clone().exact_frame(received, out).is_some() {
        return Some(());
    }
    out.truncate(start);
    let mut scan = cursor;
    let done = scan.frame(received, out);
    if done.is_none() {
        out.truncate(start);
    }
    done
}

/// The keys already met in one object: serde refuses a repeated key, so the scan leaves such a
/// frame to the general path.
#[derive(Default)]
struct Seen(u8);

impl Seen {
    fn first(&mut self, key: u8) -> Option<()> {
        (self.0 & key == 0).then(|| self.0 |= key)
    }
}

/// The two ways [`decode_book`] reads a frame, each on its own, for tests that hold both to
/// the general path: Kraken's exact layout (`exact: true`) and the key-by-key scan.
#[cfg(test)]
pub(super) fn decode_book_with(
    text: &str,
    exact: bool,
    received: Timestamp,
    out: &mut Vec<Event>,
) -> Option<()> {
    let mut cursor = Cursor {
        s: text,
        b: text.as_bytes(),
        i: 0,
    };
    if exact {
        cursor.exact_frame(received, out)
    } else {
        cursor.frame(received, out)
    }
}

#[derive(Clone)]
struct Cursor<'a> {
    /// The frame; slicing it between ASCII delimiters needs no UTF-8 check.
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// `,` → more to come, the closing `close` → done.
    fn more(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = *self.b.get(self.i)?;
        self.i += 1;
        match c {
            b',' => Some(true),
            c if c == close => Some(false),
            _ => None,
        }
    }

    /// A string without escapes. The strings of a book frame are short (keys, a symbol, a
    /// timestamp), so a plain loop beats a vectorised search's setup.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let text = self.until_quote()?;
        self.i += 1;
        Some(text)
    }

    /// Steps over `lit` if the bytes at the cursor are exactly it.
    #[inline(always)]
    fn lit(&mut self, lit: &[u8]) -> bool {
        let hit = self.b.get(self.i..self.i + lit.len()) == Some(lit);
        if hit {
            self.i += lit.len();
        }
        hit
    }

    fn key(&mut self) -> Option<&'a str> {
        let k = self.string()?;
        self.eat(b':')?;
        Some(k)
    }

    /// A bare number token, or a string holding one (as some tools re-emit them). The token is
    /// read in the pass that finds its end; whatever follows it is for the caller to judge.
    fn number(&mut self) -> Option<Decimal> {
        self.ws();
        if self.b.get(self.i) == Some(&b'"') {
            return Decimal::parse(self.string()?).ok();
        }
        self.no_leading_zero()?;
        let (value, used) = parse_number_prefix(self.b.get(self.i..)?)?;
        self.i += used;
        Some(value)
    }

    /// JSON forbids `01`: such a frame is left to the general path, which refuses it.
    fn no_leading_zero(&self) -> Option<()> {
        match (self.b.get(self.i), self.b.get(self.i + 1)) {
            (Some(b'0'), Some(b'0'..=b'9')) => None,
            _ => Some(()),
        }
    }

    fn u32(&mut self) -> Option<u32> {
        self.ws();
        self.no_leading_zero()?;
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = self.b.get(self.i) {
            v = v * 10 + u64::from(c - b'0');
            if v > u64::from(u32::MAX) {
                return None;
            }
            self.i += 1;
        }
        (self.i > start).then_some(v as u32)
    }

    /// The text up to the next `"` (not consumed), if it has no escapes.
    fn until_quote(&mut self) -> Option<&'a str> {
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => return self.s.get(start..self.i),
                // Escapes, and control characters (which JSON forbids raw), are the general
                // path's to judge.
                b'\\' | 0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
    }

    /// `{"channel":"book","type":…,"data":[{"symbol":…,"bids":[…],"asks":[…],"checksum":…
    /// [,"timestamp":…]}, …]}` exactly.
    fn exact_frame(&mut self, received: Timestamp, out: &mut Vec<Event>) -> Option<()> {
        if !self.lit(b"{\"channel\":\"book\",\"type\":\"") {
            return None;
        }
        let snapshot = if self.lit(b"update\"") {
            false
        } else if self.lit(b"snapshot\"") {
            true
        } else {
            return None;
        };
        if !self.lit(b",\"data\":[") {
            return None;
        }
        loop {
            out.push(self.exact_entry(snapshot, received)?);
            if self.lit(b"]}") {
                break;
            }
            if !self.lit(b",") {
                return None;
            }
        }
        (self.i == self.b.len()).then_some(())
    }

    fn exact_entry(&mut self, snapshot: bool, received: Timestamp) -> Option<Event> {
        if !self.lit(b"{\"symbol\":\"") {
            return None;
        }
        let symbol = Symbol::new(self.until_quote()?).ok()?;
        if !self.lit(b"\",\"bids\":") {
            return None;
        }
        let mut book = BookData {
            bids: self.levels()?,
            ..BookData::default()
        };
        if !self.lit(b",\"asks\":") {
            return None;
        }
        book.asks = self.levels()?;
        if !self.lit(b",\"checksum\":") {
            return None;
        }
        book.checksum = Some(self.u32()?);
        let exchange_ts = if self.lit(b",\"timestamp\":\"") {
            let ts = Timestamp::parse(self.until_quote()?).ok()?;
            self.i += 1;
            Some(ts)
        } else {
            None
        };
        if !self.lit(b"}") {
            return None;
        }
        let kind = if snapshot {
            EventKind::BookSnapshot(book)
        } else {
            EventKind::BookUpdate(book)
        };
        let mut event = Event::new(Some(symbol), received, kind);
        event.exchange_ts = exchange_ts;
        Some(event)
    }

    fn frame(&mut self, received: Timestamp, out: &mut Vec<Event>) -> Option<()> {
        self.eat(b'{')?;
        let mut snapshot = None;
        let mut book = false;
        let mut data = false;
        let mut seen = Seen::default();
        loop {
            match self.key()? {
                "channel" => {
                    seen.first(1)?;
                    book = self.string()? == "book";
                }
                "type" => {
                    seen.first(2)?;
                    snapshot = Some(match self.string()? {
                        "snapshot" => true,
                        "update" => false,
                        _ => return None,
                    })
                }
                "data" if book && !data => {
                    self.entries(snapshot?, received, out)?;
                    data = true;
                }
                _ => return None,
            }
            if !self.more(b'}')? {
                break;
            }
        }
        self.ws();
        (book && data && self.i == self.b.len()).then_some(())
    }

    fn entries(&mut self, snapshot: bool, received: Timestamp, out: &mut Vec<Event>) -> Option<()> {
        self.eat(b'[')?;
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Some(());
        }
        loop {
            out.push(self.entry(snapshot, received)?);
            if !self.more(b']')? {
                return Some(());
            }
        }
    }

    fn entry(&mut self, snapshot: bool, received: Timestamp) -> Option<Event> {
        self.eat(b'{')?;
        let mut symbol = None;
        let mut book = BookData::default();
        let mut exchange_ts = None;
        let mut seen = Seen::default();
        loop {
            match self.key()? {
                "symbol" => {
                    seen.first(1)?;
                    symbol = Some(Symbol::new(self.string()?).ok()?);
                }
                "bids" => {
                    seen.first(2)?;
                    book.bids = self.levels()?;
                }
                "asks" => {
                    seen.first(4)?;
                    book.asks = self.levels()?;
                }
                "checksum" => {
                    seen.first(8)?;
                    book.checksum = Some(self.u32()?);
                }
                "timestamp" => {
                    seen.first(16)?;
                    exchange_ts = Some(Timestamp::parse(self.string()?).ok()?);
                }
                _ => return None,
            }
            if !self.more(b'}')? {
                break;
            }
        }
        let kind = if snapshot {
            EventKind::BookSnapshot(book)
        } else {
            EventKind::BookUpdate(book)
        };
        let mut event = Event::new(Some(symbol?), received, kind);
        event.exchange_ts = exchange_ts;
        Some(event)
    }

    fn levels(&mut self) -> Option<Vec<Level>> {
        self.eat(b'[')?;
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Some(Vec::new());
        }
        // Most updates carry one or two levels; snapshots grow from here.
        let mut levels = Vec::with_capacity(4);
        loop {
            levels.push(self.level()?);
            if !self.more(b']')? {
                return Some(levels);
            }
        }
    }

    /// One `{"price":…,"qty":…}`: Kraken's exact layout is matched as literals, anything else
    /// (other key order, whitespace) takes the general loop.
    fn level(&mut self) -> Option<Level> {
        if self.lit(b"{\"price\":") {
            let price = self.number()?;
            if self.lit(b",\"qty\":") {
                let qty = self.number()?;
                if self.lit(b"}") {
                    return Some(Level { price, qty });
                }
            }
            return None;
        }
        self.eat(b'{')?;
        let (mut price, mut qty) = (None, None);
        loop {
            match self.key()? {
                "price" if price.is_none() => price = Some(self.number()?),
                "qty" if qty.is_none() => qty = Some(self.number()?),
                _ => return None,
            }
            if !self.more(b'}')? {
                break;
            }
        }
        Some(Level {
            price: price?,
            qty: qty?,
        })
    }
}
