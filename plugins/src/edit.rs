//! [`Edits`]: drops and insertions a handler decided on during an in-place pass over a batch,
//! applied afterwards in one rewrite. Most batches need none, and then cost nothing.

use kobe_core::{Event, EventBatch};

/// Pending changes to a batch, by event index (recorded in increasing index order).
#[derive(Debug, Default)]
pub(crate) struct Edits {
    drops: Vec<usize>,
    inserts: Vec<(usize, Event)>,
}

impl Edits {
    /// Drop the event at `index`.
    pub(crate) fn remove(&mut self, index: usize) {
        self.drops.push(index);
    }

    /// Insert `event` right after the event at `index`.
    pub(crate) fn insert_after(&mut self, index: usize, event: Event) {
        self.inserts.push((index, event));
    }

    /// Applies and clears the edits.
    pub(crate) fn apply(&mut self, batch: &mut EventBatch) {
        if self.drops.is_empty() && self.inserts.is_empty() {
            return;
        }
        let mut drops = self.drops.drain(..).peekable();
        let mut inserts = self.inserts.drain(..).peekable();
        let mut index = 0;
        let _ = batch.rewrite::<()>(|event, out| {
            if drops.next_if_eq(&index).is_none() {
                out.push(event);
            }
            while let Some((_, extra)) = inserts.next_if(|(at, _)| *at == index) {
                out.push(extra);
            }
            index += 1;
            Ok(())
        });
    }
}

/// A new event about the same symbol and frame as `like`.
pub(crate) fn derived(like: &Event, kind: kobe_core::EventKind) -> Event {
    let mut event = Event::new(like.symbol, like.received_ts, kind);
    event.exchange_ts = like.exchange_ts;
    event
}
