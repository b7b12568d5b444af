//! The `update` handler: applies book updates in order, optionally followed by the top of the
//! book. Must follow `snapshot` in the chain.

use kobe_core::book::{Outcome, UpdateSeen};
use kobe_core::event::{BookTop, ResetReason};
use kobe_core::{
    ComponentError, ConfigError, EventBatch, EventKind, Handler, HandlerConfig, HandlerContext,
};

use crate::edit::{derived, Edits};
use crate::resync::{ask, Ask};
use crate::snapshot::apply_state_event;

/// Deepest `top` accepted (Kraken's deepest book).
const MAX_TOP: usize = 1000;

/// Options of the `update` handler.
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// After each applied snapshot and update, emit a `book_top` event with this many best levels a side
    /// (1 to 1000). Off when absent.
    #[serde(default)]
    pub top: Option<usize>,
}

impl HandlerConfig for UpdateConfig {
    fn validate(&self) -> Vec<ConfigError> {
        match self.top {
            Some(n) if n == 0 || n > MAX_TOP => vec![ConfigError::new(
                "top",
                format!("must be between 1 and {MAX_TOP}, got {n}"),
            )],
            _ => Vec::new(),
        }
    }

    fn build(&self) -> Result<Box<dyn Handler>, ComponentError> {
        Ok(Box::new(Update {
            top: self.top,
            ..Update::default()
        }))
    }
}

/// Applies `book_update` events (levels rescaled in place to the book's precision); drops
/// updates of symbols without a valid book and counts them. From a symbol's first update in
/// the batch on, also applies its book-state events, so every book sees its events in order.
#[derive(Debug, Default)]
pub struct Update {
    top: Option<usize>,
    seen: UpdateSeen,
    edits: Edits,
}

impl Handler for Update {
    fn process(
        &mut self,
        batch: &mut EventBatch,
        cx: &mut HandlerContext<'_>,
    ) -> Result<(), ComponentError> {
        self.seen.clear();
        for (index, event) in batch.events.iter_mut().enumerate() {
            let Some(symbol) = event.symbol else { continue };
            let EventKind::BookUpdate(data) = &mut event.kind else {
                // Before the symbol's first update `snapshot` already applied it (and dropped
                // what it refused); from there on the rules run here, in order.
                let kept = !self.seen.contains(&symbol)
                    || apply_state_event(event, symbol, cx, &mut self.edits, index);
                if !kept {
                    cx.books.withhold(symbol);
                    self.edits.remove(index);
                } else if let (Some(n), EventKind::BookSnapshot(snap)) = (self.top, &event.kind) {
                    // A snapshot is the whole book, best first: its head is the top.
                    let top = BookTop {
                        bids: snap.bids.iter().take(n).copied().collect(),
                        asks: snap.asks.iter().take(n).copied().collect(),
                    };
                    self.edits
                        .insert_after(index, derived(event, EventKind::BookTop(top)));
                }
                continue;
            };
            self.seen.mark(symbol);
            match cx.books.on_update(symbol, data) {
                Outcome::Applied => {
                    if let (Some(n), Some(book)) = (self.top, cx.books.book(&symbol)) {
                        let top = BookTop {
                            bids: book.bids().take(n).collect(),
                            asks: book.asks().take(n).collect(),
                        };
                        self.edits
                            .insert_after(index, derived(event, EventKind::BookTop(top)));
                    }
                }
                Outcome::NoBook => {
                    cx.books.withhold(symbol);
                    self.edits.remove(index);
                }
                Outcome::Rejected(e) => {
                    tracing::warn!(%symbol, "book update dropped, resyncing: {e}");
                    cx.books.withhold(symbol);
                    self.edits.remove(index);
                    let resync = Ask::Resync(ResetReason::PrecisionChange);
                    ask(cx, &mut self.edits, index, event, symbol, resync);
                }
            }
        }
        self.edits.apply(batch);
        Ok(())
    }
}
