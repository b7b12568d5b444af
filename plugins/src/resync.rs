//! Asking for a fresh book: one rule for every handler that finds a book it cannot trust.

use kobe_core::component::ControlRequest;
use kobe_core::event::ResetReason;
use kobe_core::{Event, EventKind, HandlerContext, Symbol};

use crate::edit::{derived, Edits};

/// What a handler wants for a symbol whose book went invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ask {
    /// Resubscribe the symbol (unsubscribe, subscribe, snapshot).
    Resync(ResetReason),
    /// Recycle the symbol's connection.
    Reconnect,
}

/// Asks the source for a fresh book of `symbol`. A source that cannot resubscribe (a replay)
/// gets no request; instead a `book_reset` with reason `cannot_resync` goes right after the
/// event at `index` (`like`), so consumers learn that the book's records stop until the next
/// snapshot in the input, and a warning says so.
pub(crate) fn ask(
    cx: &mut HandlerContext<'_>,
    edits: &mut Edits,
    index: usize,
    like: &Event,
    symbol: Symbol,
    ask: Ask,
) {
    if cx.can_resync {
        match ask {
            Ask::Resync(reason) => {
                cx.books.stats.resyncs += 1;
                cx.control.push(ControlRequest::Resync { symbol, reason });
            }
            Ask::Reconnect => {
                cx.books.stats.reconnects += 1;
                cx.control.push(ControlRequest::Reconnect { symbol });
            }
        }
        return;
    }
    tracing::warn!(
        %symbol,
        "a replay cannot resync: the book's records stop until its next snapshot in the input (book_reset, reason cannot_resync)"
    );
    let reason = ResetReason::CannotResync;
    edits.insert_after(index, derived(like, EventKind::BookReset { reason }));
}
