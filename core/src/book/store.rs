//! [`BookStore`]: the books of one shard worker, with what it knows about each symbol.

use std::collections::HashMap;

use super::OrderBook;
use crate::event::InstrumentInfo;
use crate::symbol::Symbol;

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

/// The books of one shard worker, lent to its handlers through the handler context.
#[derive(Debug, Default)]
pub struct BookStore {
    books: HashMap<Symbol, BookState>,
    default_depth: usize,
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
        }
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
}
