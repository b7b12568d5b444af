//! [`BookStore`]: the books of one shard worker, with what it knows about each symbol, and the
//! rules by which book-related events change them. Handlers are thin: they pick the events
//! they own and call the `on_*` methods here in batch order.
//!
//! The store only says when a book needs a fresh snapshot ([`Outcome::Rejected`], `true` from
//! [`BookStore::on_instrument`]); asking the source for one is the handlers' business, so the
//! book module knows nothing of the engine's control requests.

use std::collections::HashMap;

use super::{BookError, OrderBook};
use crate::event::{BookData, InstrumentInfo, Level, SubscriptionInfo, SubscriptionMethod};
use crate::symbol::{Symbol, SymbolMap, SymbolSet};

/// What a shard knows about one symbol.
#[derive(Clone, Debug, Default)]
pub struct BookState {
    /// The book, once a snapshot arrived.
    pub book: Option<OrderBook>,
    /// False after a checksum mismatch until a fresh snapshot: its book events are suppressed.
    pub valid: bool,
    /// Subscribed depth, from the subscription ack (else the store's default).
    pub depth: Option<usize>,
    /// Precision from the `instrument` channel or from hints.
    pub instrument: Option<InstrumentInfo>,
}

/// Counters the book handlers keep in the store, for summaries and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookStats {
    /// Snapshots applied.
    pub snapshots: u64,
    /// Updates applied.
    pub updates: u64,
    /// Updates dropped because their symbol had no valid book (an old subscription's tail).
    pub dropped_updates: u64,
    /// Book messages refused because a number did not fit the symbol's precision.
    pub precision_errors: u64,
    /// Checksum mismatches.
    pub mismatches: u64,
    /// Resyncs requested (mismatches, precision changes), or announced as impossible by a
    /// `book_reset` (reason `cannot_resync`) when the source cannot resubscribe.
    pub resyncs: u64,
    /// Reconnects requested.
    pub reconnects: u64,
}

/// What became of a book message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied to the symbol's book; the levels are now at the book's precision.
    Applied,
    /// The symbol has no valid book (never snapshotted, unsubscribed, reset or mismatched):
    /// the message belongs to an old subscription and should be dropped.
    NoBook,
    /// A number did not fit the symbol's precision: the book was voided; the caller resyncs it
    /// (reason `precision_change`).
    Rejected(BookError),
}

/// The books of one shard worker, lent to its handlers through the handler context.
#[derive(Debug, Default)]
pub struct BookStore {
    books: SymbolMap<BookState>,
    default_depth: usize,
    /// Counters shared by the book handlers.
    pub stats: BookStats,
    /// Events withheld while a symbol's book was invalid, by symbol.
    withheld: SymbolMap<u64>,
    withheld_total: u64,
}

impl BookStore {
    /// A store whose symbols default to `default_depth` until an ack says otherwise, with
    /// precision hints for symbols whose instrument frames will not arrive.
    pub fn new(default_depth: usize, hints: &HashMap<Symbol, InstrumentInfo>) -> Self {
        let books = hints
            .iter()
            .map(|(s, i)| {
                (
                    *s,
                    BookState {
                        instrument: Some(*i),
                        ..BookState::default()
                    },
                )
            })
            .collect();
        Self {
            books,
            default_depth,
            stats: BookStats::default(),
            withheld: SymbolMap::default(),
            withheld_total: 0,
        }
    }

    /// Declares that a handler withholds one event of `symbol` (takes it out of the batch)
    /// because the symbol's book is invalid. The run's accounting counts it per symbol; an
    /// event removed without this call counts as removed by a handler.
    pub fn withhold(&mut self, symbol: Symbol) {
        *self.withheld.entry(symbol).or_default() += 1;
        self.withheld_total += 1;
    }

    /// Events withheld so far, by symbol.
    pub fn withheld(&self) -> &SymbolMap<u64> {
        &self.withheld
    }

    /// Events withheld so far, over all symbols.
    pub fn withheld_total(&self) -> u64 {
        self.withheld_total
    }

    /// The depth a symbol's book keeps.
    pub fn depth_of(&self, symbol: &Symbol) -> usize {
        self.books
            .get(symbol)
            .and_then(|s| s.depth)
            .unwrap_or(self.default_depth)
    }

    /// The state of `symbol`, if the shard has seen it.
    pub fn get(&self, symbol: &Symbol) -> Option<&BookState> {
        self.books.get(symbol)
    }

    /// The state of `symbol`, created empty on first use.
    pub fn entry(&mut self, symbol: Symbol) -> &mut BookState {
        self.books.entry(symbol).or_default()
    }

    /// The valid book of `symbol`, if it has one.
    pub fn book(&self, symbol: &Symbol) -> Option<&OrderBook> {
        self.books
            .get(symbol)
            .filter(|s| s.valid)
            .and_then(|s| s.book.as_ref())
    }

    /// Every symbol's state.
    pub fn iter(&self) -> impl Iterator<Item = (&Symbol, &BookState)> {
        self.books.iter()
    }

    /// The number of symbols with a book.
    pub fn len(&self) -> usize {
        self.books.values().filter(|s| s.book.is_some()).count()
    }

    /// True when no symbol has a book.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Voids `symbol`'s book until its next snapshot.
    pub fn void(&mut self, symbol: &Symbol) {
        if let Some(state) = self.books.get_mut(symbol) {
            state.book = None;
            state.valid = false;
        }
    }

    /// Marks `symbol`'s book invalid (a checksum mismatch) until its next snapshot.
    pub fn invalidate(&mut self, symbol: &Symbol) {
        if let Some(state) = self.books.get_mut(symbol) {
            state.valid = false;
        }
    }

    /// Marks `symbol`'s book valid again (a fresh snapshot that passed its checksum).
    pub fn revalidate(&mut self, symbol: &Symbol) {
        if let Some(state) = self.books.get_mut(symbol) {
            state.valid = state.book.is_some();
        }
    }

    /// An `instrument` event: records the precision. A book at another precision is voided
    /// and true returned: the caller resyncs it (its next snapshot will be printed at the new
    /// precision).
    pub fn on_instrument(&mut self, symbol: Symbol, info: InstrumentInfo) -> bool {
        let state = self.books.entry(symbol).or_default();
        state.instrument = Some(info);
        let stale = state
            .book
            .as_ref()
            .is_some_and(|b| b.precision() != (info.price_precision, info.qty_precision));
        if stale {
            state.book = None;
            state.valid = false;
        }
        stale
    }

    /// A subscription ack: a `book` subscribe records the depth; an unsubscribe voids the book.
    pub fn on_ack(&mut self, symbol: Symbol, ack: &SubscriptionInfo) {
        if ack.channel != "book" {
            return;
        }
        match ack.method {
            SubscriptionMethod::Subscribe => {
                if let Some(depth) = ack.depth {
                    self.entry(symbol).depth = Some(usize::from(depth));
                }
            }
            SubscriptionMethod::Unsubscribe => self.void(&symbol),
        }
    }

    /// A snapshot: replaces the book (reusing its memory), levels rescaled in place. Sets
    /// `computed_checksum` when the message carries a checksum.
    pub fn on_snapshot(&mut self, symbol: Symbol, data: &mut BookData) -> Outcome {
        let depth = self.depth_of(&symbol);
        let state = self.books.entry(symbol).or_default();
        let (pp, qp) = match state.instrument {
            Some(i) => (i.price_precision, i.qty_precision),
            None => token_precision(&data.bids, &data.asks),
        };
        let mut book = match state.book.take() {
            Some(b) if b.depth() == depth && b.precision() == (pp, qp) => b,
            _ => OrderBook::new(depth, pp, qp),
        };
        match book.apply_snapshot(&mut data.bids, &mut data.asks) {
            Ok(()) => {
                data.computed_checksum = data.checksum.map(|_| book.checksum());
                state.book = Some(book);
                state.valid = true;
                self.stats.snapshots += 1;
                Outcome::Applied
            }
            Err(e) => {
                state.valid = false;
                self.stats.precision_errors += 1;
                Outcome::Rejected(e)
            }
        }
    }

    /// An update: applied to a valid book (levels rescaled in place), else [`Outcome::NoBook`].
    /// Sets `computed_checksum` when the message carries a checksum.
    pub fn on_update(&mut self, symbol: Symbol, data: &mut BookData) -> Outcome {
        let Some(book) = self
            .books
            .get_mut(&symbol)
            .filter(|s| s.valid)
            .and_then(|s| s.book.as_mut())
        else {
            self.stats.dropped_updates += 1;
            return Outcome::NoBook;
        };
        match book.apply_update(&mut data.bids, &mut data.asks) {
            Ok(()) => {
                data.computed_checksum = data.checksum.map(|_| book.checksum());
                self.stats.updates += 1;
                Outcome::Applied
            }
            Err(e) => {
                self.void(&symbol);
                self.stats.precision_errors += 1;
                Outcome::Rejected(e)
            }
        }
    }
}

/// The precision a snapshot's own tokens imply: the most fractional digits seen per field.
fn token_precision(bids: &[Level], asks: &[Level]) -> (u8, u8) {
    bids.iter().chain(asks).fold((0, 0), |(p, q), l| {
        (p.max(l.price.scale()), q.max(l.qty.scale()))
    })
}

/// Which symbols have had a book update so far in the current batch.
///
/// `snapshot` and `update` each run over the whole batch, one after the other, yet a symbol's
/// book must see its events in order. So they split each symbol's events at its first update:
/// `snapshot` handles the book-state events before it, `update` everything from it on (calling
/// the same `on_*` rules). Both compute the split from the batch alone, so they always agree.
#[derive(Debug, Default)]
pub struct UpdateSeen {
    symbols: SymbolSet,
}

impl UpdateSeen {
    /// Starts a new batch.
    pub fn clear(&mut self) {
        self.symbols.clear();
    }

    /// Records an update of `symbol`.
    pub fn mark(&mut self, symbol: Symbol) {
        self.symbols.insert(symbol);
    }

    /// Whether `symbol` has had an update in this batch.
    pub fn contains(&self, symbol: &Symbol) -> bool {
        !self.symbols.is_empty() && self.symbols.contains(symbol)
    }
}
