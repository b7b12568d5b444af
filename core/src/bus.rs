//! The batched event bus: bounded channels that carry [`EventBatch`]es from the source to the
//! shard workers (routed by symbol) and from the workers to every sink (fan-out).
//!
//! Every channel is bounded, so a slow sink slows its worker, which slows the source, which
//! stops reading: backpressure, never silent loss.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::event::{Event, EventBatch, EventFilter};
use crate::symbol::{Symbol, SymbolMap};

/// The receiving side went away (the pipeline is shutting down after a failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pipeline stopped accepting events")]
pub struct BusClosed;

/// Which shard worker owns `symbol`: the same one for the life of the process. Events with no
/// symbol go to shard 0.
pub fn shard_of(symbol: Option<&Symbol>, shards: usize) -> usize {
    match symbol {
        Some(s) if shards > 1 => (s.stable_hash() % shards as u64) as usize,
        _ => 0,
    }
}

/// The source's end of the bus: takes batches and routes each event to its symbol's shard.
#[derive(Debug)]
pub struct SourceOutput {
    shards: Vec<mpsc::Sender<EventBatch>>,
    batch_size: usize,
}

impl SourceOutput {
    /// Routes to `shards` (one sender per worker). `batch_size` is the most events a source
    /// should put in one batch.
    pub fn new(shards: Vec<mpsc::Sender<EventBatch>>, batch_size: usize) -> Self {
        Self { shards, batch_size }
    }

    /// The most events a source should put in one batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Sends a batch on, waiting while the workers are full (backpressure).
    pub async fn send(&mut self, batch: EventBatch) -> Result<(), BusClosed> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.shards.len() == 1 {
            return self.shards[0].send(batch).await.map_err(|_| BusClosed);
        }
        let n = self.shards.len();
        let mut parts: Vec<EventBatch> = (0..n).map(|_| EventBatch::default()).collect();
        let mut batch = batch;
        for event in batch.events.drain(..) {
            parts[shard_of(event.symbol.as_ref(), n)].push(event);
        }
        for (shard, part) in parts.into_iter().enumerate() {
            if !part.is_empty() {
                self.shards[shard].send(part).await.map_err(|_| BusClosed)?;
            }
        }
        Ok(())
    }
}

/// A worker's end toward the sinks: every sink gets every batch (shared, not copied).
#[derive(Clone, Debug)]
pub struct Fanout {
    sinks: Vec<mpsc::Sender<Arc<EventBatch>>>,
}

impl Fanout {
    /// Fans out to these sink channels.
    pub fn new(sinks: Vec<mpsc::Sender<Arc<EventBatch>>>) -> Self {
        Self { sinks }
    }

    /// Hands the batch to every sink, waiting while any is full.
    pub async fn send(&self, batch: EventBatch) -> Result<(), BusClosed> {
        if batch.is_empty() {
            return Ok(());
        }
        let batch = Arc::new(batch);
        let mut result = Ok(());
        for sink in &self.sinks {
            // A failed sink must not starve the healthy ones while the run drains.
            if sink.send(Arc::clone(&batch)).await.is_err() {
                result = Err(BusClosed);
            }
        }
        result
    }
}

/// Assigns per-symbol sequence numbers: strictly increasing per symbol for the life of the
/// process (the sequencer lives in the symbol's one shard worker). Events without a symbol
/// share one counter.
#[derive(Debug, Default)]
pub struct Sequencer {
    per_symbol: SymbolMap<u64>,
    unsymboled: u64,
}

impl Sequencer {
    /// Numbers every event of the batch; returns the types the events have.
    pub fn assign(&mut self, events: &mut [Event]) -> EventFilter {
        // The walk that numbers the events also notes their types (the cache lines are loaded
        // anyway), so sinks need not walk them again to count what their filters leave out.
        let mut types = EventFilter::NONE;
        for e in events {
            types = types.with(e.event_type());
            e.seq = match e.symbol {
                None => {
                    self.unsymboled += 1;
                    self.unsymboled
                }
                Some(s) => self.next(s),
            };
        }
        types
    }

    /// The last number given to `symbol`'s events (0 before any).
    pub fn last(&self, symbol: &Symbol) -> u64 {
        self.per_symbol.get(symbol).copied().unwrap_or(0)
    }

    fn next(&mut self, s: Symbol) -> u64 {
        let n = self.per_symbol.entry(s).or_insert(0);
        *n += 1;
        *n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use crate::event::EventKind;
    use crate::time::Timestamp;

    fn ev(sym: Option<&str>) -> Event {
        Event::new(
            sym.map(|s| Symbol::new(s).unwrap()),
            Timestamp(0),
            EventKind::Heartbeat,
        )
    }

    #[test]
    fn sequence_numbers_are_per_symbol_and_increasing() {
        let mut seq = Sequencer::default();
        let mut a = vec![
            ev(Some("A")),
            ev(Some("A")),
            ev(Some("B")),
            ev(None),
            ev(Some("A")),
        ];
        seq.assign(&mut a);
        let mut b = vec![ev(Some("B")), ev(Some("A")), ev(None)];
        seq.assign(&mut b);
        let got: Vec<u64> = a.iter().chain(&b).map(|e| e.seq).collect();
        assert_eq!(got, [1, 2, 1, 1, 3, 2, 4, 2]);
    }

    #[tokio::test]
    async fn routing_keeps_each_symbol_on_one_shard_in_order() {
        let (tx0, mut rx0) = mpsc::channel(8);
        let (tx1, mut rx1) = mpsc::channel(8);
        let mut out = SourceOutput::new(vec![tx0, tx1], 64);
        let syms = ["BTC/USD", "ETH/USD", "XRP/USD", "SOL/USD"];
        let mut batch = EventBatch::default();
        for i in 0..40 {
            let mut e = ev(Some(syms[i % 4]));
            e.received_ts = Timestamp(i as i64);
            batch.push(e);
        }
        out.send(batch).await.unwrap();
        drop(out);
        let mut seen: HashMap<Symbol, (usize, Vec<i64>)> = HashMap::new();
        for (shard, rx) in [(0, &mut rx0), (1, &mut rx1)] {
            while let Some(b) = rx.recv().await {
                for e in b.events {
                    let entry = seen.entry(e.symbol.unwrap()).or_insert((shard, vec![]));
                    assert_eq!(entry.0, shard, "a symbol went to two shards");
                    entry.1.push(e.received_ts.0);
                }
            }
        }
        assert_eq!(seen.len(), 4);
        for (_, (_, ts)) in seen {
            assert_eq!(ts.len(), 10);
            assert!(ts.windows(2).all(|w| w[0] < w[1]), "order changed: {ts:?}");
        }
    }
}
