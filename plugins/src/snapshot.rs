//! The `snapshot` handler: keeps each symbol's book state (precision, depth, subscription) and
//! replaces books from snapshots. Must come before `update` in the chain.

use kobe_core::book::{Outcome, UpdateSeen};
use kobe_core::event::ResetReason;
use kobe_core::{
    ComponentError, Event, EventBatch, EventKind, Handler, HandlerConfig, HandlerContext, Symbol,
};

use crate::edit::Edits;
use crate::resync::{ask, Ask};

/// Options of the `snapshot` handler (none).
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {}

impl HandlerConfig for SnapshotConfig {
    fn build(&self) -> Result<Box<dyn Handler>, ComponentError> {
        Ok(Box::new(Snapshot::default()))
    }
}

/// Consumes `instrument`, `subscription_ack`, `book_reset` and `book_snapshot` events of each
/// symbol up to its first update in the batch (`update` takes it from there, in order).
#[derive(Debug, Default)]
pub struct Snapshot {
    seen: UpdateSeen,
    edits: Edits,
}

impl Handler for Snapshot {
    fn process(
        &mut self,
        batch: &mut EventBatch,
        cx: &mut HandlerContext<'_>,
    ) -> Result<(), ComponentError> {
        self.seen.clear();
        for (index, event) in batch.events.iter_mut().enumerate() {
            let Some(symbol) = event.symbol else { continue };
            if matches!(event.kind, EventKind::BookUpdate(_)) {
                self.seen.mark(symbol);
            } else if !self.seen.contains(&symbol)
                && !apply_state_event(event, symbol, cx, &mut self.edits, index)
            {
                cx.books.withhold(symbol);
                self.edits.remove(index);
            }
        }
        self.edits.apply(batch);
        Ok(())
    }
}

/// Applies one book-state event (instrument, book ack, reset, snapshot) of `symbol`, at
/// `index` in the batch, to the store; false when the event must leave the batch (a snapshot
/// that does not fit the symbol's precision: the book is voided and a resync asked for).
pub(crate) fn apply_state_event(
    event: &mut Event,
    symbol: Symbol,
    cx: &mut HandlerContext<'_>,
    edits: &mut Edits,
    index: usize,
) -> bool {
    let resync = Ask::Resync(ResetReason::PrecisionChange);
    match &mut event.kind {
        EventKind::Instrument(info) => {
            // True when the precision changed under a book: it was voided.
            let voided = cx.books.on_instrument(symbol, *info);
            if voided {
                ask(cx, edits, index, event, symbol, resync);
            }
        }
        EventKind::SubscriptionAck(ack) => cx.books.on_ack(symbol, ack),
        EventKind::BookReset { .. } => cx.books.void(&symbol),
        EventKind::BookSnapshot(data) => {
            if let Outcome::Rejected(e) = cx.books.on_snapshot(symbol, data) {
                tracing::warn!(%symbol, "book snapshot dropped, resyncing: {e}");
                ask(cx, edits, index, event, symbol, resync);
                return false;
            }
        }
        _ => {}
    }
    true
}
