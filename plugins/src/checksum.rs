//! The `checksum` handler: compares each book message's checksum with the engine's book right
//! after that message, and isolates a symbol whose book went wrong until a fresh snapshot.

use kobe_core::event::ResetReason;
use kobe_core::{
    ComponentError, ConfigError, Event, EventBatch, EventKind, Handler, HandlerConfig,
    HandlerContext, Symbol,
};

use crate::edit::{derived, Edits};
use crate::resync::{ask, Ask};

/// What to do about a symbol whose checksum failed (its book is suppressed in every case).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OnMismatch {
    /// Ask the source to resubscribe the symbol for a fresh snapshot. A source that cannot
    /// (a replay) gets a `book_reset` with reason `cannot_resync` instead, and the book comes
    /// back at its next snapshot in the input.
    #[default]
    Resync,
    /// Ask the source to reconnect the symbol's connection (a replay: as for `resync`).
    Reconnect,
    /// Only log and count; the book stays suppressed until a snapshot arrives by itself.
    Log,
}

/// Options of the `checksum` handler.
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecksumConfig {
    /// What to do on a mismatch: `resync` (default), `reconnect` or `log`. With a source that
    /// cannot resync (a replay), `kobe validate` warns about `resync` and `reconnect`.
    #[serde(default)]
    pub on_mismatch: OnMismatch,
}

impl HandlerConfig for ChecksumConfig {
    fn relies_on_resync(&self) -> Option<ConfigError> {
        let what = match self.on_mismatch {
            OnMismatch::Resync => "resync",
            OnMismatch::Reconnect => "reconnect",
            OnMismatch::Log => return None,
        };
        Some(ConfigError::new(
            "on_mismatch",
            format!(
                "`{what}` (the default is resync) asks it for a fresh snapshot; instead, a \
                 mismatched book gets a book_reset (reason cannot_resync) and its records \
                 stop until its next snapshot in the input. Set `on_mismatch: log` to \
                 accept that without this warning"
            ),
        ))
    }

    fn build(&self) -> Result<Box<dyn Handler>, ComponentError> {
        Ok(Box::new(Checksum {
            on_mismatch: self.on_mismatch,
            ..Checksum::default()
        }))
    }
}

/// Sets `checksum_ok` on book events; on a mismatch emits `checksum_mismatch` right after the
/// event, marks the book invalid, drops the symbol's later book events until a fresh snapshot
/// and acts per [`OnMismatch`]. Needs `snapshot` and `update` before it.
#[derive(Debug, Default)]
pub struct Checksum {
    on_mismatch: OnMismatch,
    /// Symbols whose book failed, until their next snapshot.
    suppressed: kobe_core::symbol::SymbolSet,
    edits: Edits,
}

fn book_data(event: &mut Event) -> Option<(&mut kobe_core::event::BookData, bool)> {
    match &mut event.kind {
        EventKind::BookSnapshot(d) => Some((d, true)),
        EventKind::BookUpdate(d) => Some((d, false)),
        _ => None,
    }
}

impl Checksum {
    /// Isolates `symbol` after its book event `like` at `index` (already followed by its
    /// `checksum_mismatch`) and asks for a fresh book per [`OnMismatch`].
    fn mismatch(
        &mut self,
        index: usize,
        like: &Event,
        symbol: Symbol,
        cx: &mut HandlerContext<'_>,
    ) {
        self.suppressed.insert(symbol);
        cx.books.invalidate(&symbol);
        cx.books.stats.mismatches += 1;
        let what = match self.on_mismatch {
            OnMismatch::Resync => Ask::Resync(ResetReason::Resync),
            OnMismatch::Reconnect => Ask::Reconnect,
            OnMismatch::Log => return,
        };
        ask(cx, &mut self.edits, index, like, symbol, what);
    }
}

impl Handler for Checksum {
    fn process(
        &mut self,
        batch: &mut EventBatch,
        cx: &mut HandlerContext<'_>,
    ) -> Result<(), ComponentError> {
        for (index, event) in batch.events.iter_mut().enumerate() {
            let Some(symbol) = event.symbol else { continue };
            let suppressed = !self.suppressed.is_empty() && self.suppressed.contains(&symbol);
            let Some((data, snapshot)) = book_data(event) else {
                if suppressed && matches!(event.kind, EventKind::BookTop(_)) {
                    cx.books.withhold(symbol);
                    self.edits.remove(index);
                }
                continue;
            };
            if suppressed {
                if !snapshot {
                    cx.books.withhold(symbol);
                    self.edits.remove(index);
                    continue;
                }
                // A fresh snapshot ends the suppression (and is checked like any other).
                self.suppressed.remove(&symbol);
                cx.books.revalidate(&symbol);
            }
            let (Some(expected), Some(computed)) = (data.checksum, data.computed_checksum) else {
                continue;
            };
            data.checksum_ok = Some(expected == computed);
            if expected != computed {
                tracing::warn!(%symbol, expected, computed, on_mismatch = ?self.on_mismatch, "book checksum mismatch");
                let report = derived(event, EventKind::ChecksumMismatch { expected, computed });
                self.edits.insert_after(index, report);
                self.mismatch(index, event, symbol, cx);
            }
        }
        self.edits.apply(batch);
        Ok(())
    }
}
