//! [`KrakenSource`]: resolves the symbol set, spreads it over connections, forwards their
//! batches to the bus (one at a time, so backpressure reaches every socket) and routes control
//! requests to the connection that carries the symbol.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::backoff::{Backoff, ConnectLimiter};
use super::config::KrakenSourceConfig;
use super::connect::connect_with_retry;
use super::connection::{Connection, Counters, Shared};
use super::error::KrakenError;
use super::protocol;
use crate::component::{ComponentError, ControlRequest, Source, SourceContext, SourceReport};
use crate::symbol::Symbol;

/// The running `kraken` source.
#[derive(Debug)]
pub struct KrakenSource {
    config: Arc<KrakenSourceConfig>,
    url: Arc<str>,
}

impl KrakenSource {
    /// A source for a validated config.
    pub fn new(config: KrakenSourceConfig) -> Result<Self, KrakenError> {
        config.symbol_list()?;
        let url: Arc<str> = config.effective_url().into();
        Ok(Self {
            config: Arc::new(config),
            url,
        })
    }

    async fn resolve_symbols(
        &self,
        limiter: &ConnectLimiter,
        cx: &SourceContext,
    ) -> Result<Option<Vec<Symbol>>, KrakenError> {
        if let Some(list) = self.config.symbol_list()? {
            return Ok(Some(list));
        }
        let mut backoff = Backoff::from_os(self.config.reconnect.clone());
        loop {
            let Some(found) = discover(&self.config, &self.url, &mut backoff, limiter, cx).await?
            else {
                return Ok(None);
            };
            match found {
                Ok(all) => {
                    let kept: Vec<Symbol> = all
                        .into_iter()
                        .filter(|s| self.config.shard.is_none_or(|sh| sh.keeps(s)))
                        .collect();
                    tracing::info!("symbols: all = {} online pairs in this shard", kept.len());
                    return Ok(Some(kept));
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    if self
                        .config
                        .reconnect
                        .max_attempts
                        .is_some_and(|m| backoff.failures() >= m)
                    {
                        return Err(KrakenError::GaveUp {
                            attempts: backoff.failures(),
                            last: Box::new(e),
                        });
                    }
                    tracing::warn!(
                        "listing instruments: {e}; retrying in {} ms",
                        delay.as_millis()
                    );
                    tokio::select! {
                        _ = cx.shutdown.cancelled() => return Ok(None),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
}

/// Lists every online pair from the instrument channel. `Ok(None)` on shutdown; the inner
/// error is a retriable failure of this attempt.
async fn discover(
    config: &KrakenSourceConfig,
    url: &str,
    backoff: &mut Backoff,
    limiter: &ConnectLimiter,
    cx: &SourceContext,
) -> Result<Option<Result<Vec<Symbol>, KrakenError>>, KrakenError> {
    let timeout = Duration::from_millis(config.connect_timeout_ms);
    let Some(mut ws) = connect_with_retry(
        url,
        timeout,
        backoff,
        config.reconnect.max_attempts,
        limiter,
        &cx.shutdown,
        "kraken instruments",
    )
    .await?
    else {
        return Ok(None);
    };
    if let Err(e) = ws
        .send(Message::text(protocol::subscribe_instrument(1)))
        .await
    {
        return Ok(Some(Err(KrakenError::Io(e.to_string()))));
    }
    let wait = Duration::from_millis(config.snapshot_timeout_ms);
    let result = tokio::time::timeout(wait, async {
        while let Some(msg) = ws.next().await {
            let msg = msg.map_err(|e| KrakenError::Io(e.to_string()))?;
            if let Message::Text(t) = msg {
                if let Some(pairs) = online_pairs(t.as_str()) {
                    return Ok(pairs);
                }
            }
        }
        Err(KrakenError::Io("the server closed the connection".into()))
    })
    .await
    .unwrap_or(Err(KrakenError::NoInstruments(config.snapshot_timeout_ms)));
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    Ok(Some(result))
}

/// The online pairs of an instrument snapshot frame; `None` for any other frame.
fn online_pairs(text: &str) -> Option<Vec<Symbol>> {
    #[derive(serde::Deserialize)]
    struct Frame {
        channel: String,
        #[serde(rename = "type")]
        kind: String,
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        pairs: Vec<Pair>,
    }
    #[derive(serde::Deserialize)]
    struct Pair {
        symbol: String,
        #[serde(default)]
        status: Option<String>,
    }
    let f: Frame = serde_json::from_str(text).ok()?;
    if f.channel != "instrument" || f.kind != "snapshot" {
        return None;
    }
    Some(
        f.data
            .pairs
            .into_iter()
            .filter(|p| p.status.as_deref().is_none_or(|s| s == "online"))
            .filter_map(|p| Symbol::new(&p.symbol).ok())
            .collect(),
    )
}

#[async_trait]
impl Source for KrakenSource {
    async fn run(self: Box<Self>, mut cx: SourceContext) -> Result<SourceReport, ComponentError> {
        let limiter = ConnectLimiter::new(
            self.config.reconnect.max_connects_per_10min,
            Duration::from_secs(600),
        );
        let Some(symbols) = self.resolve_symbols(&limiter, &cx).await? else {
            return Ok(SourceReport::default());
        };
        if symbols.is_empty() {
            return Err(Box::new(KrakenError::Config(
                "no symbols to subscribe (after the shard filter)".into(),
            )));
        }
        let counters = Arc::new(Counters::default());
        let shared = Shared {
            config: self.config.clone(),
            url: self.url.clone(),
            limiter,
            counters: counters.clone(),
            emit_raw: cx.emit_raw,
            batch_size: cx.output.batch_size().max(1),
        };
        let stop = cx.shutdown.child_token();
        let per = self.config.symbols_per_connection.max(1);
        let groups: Vec<Vec<Symbol>> = symbols.chunks(per).map(<[Symbol]>::to_vec).collect();
        let (tx, mut rx) = mpsc::channel(groups.len().max(2));
        let mut routes: HashMap<Symbol, usize> = HashMap::new();
        let mut controls = Vec::with_capacity(groups.len());
        let mut tasks = JoinSet::new();
        tracing::info!(
            "kraken: {} symbols over {} connection(s) to {}",
            symbols.len(),
            groups.len(),
            self.url
        );
        for (i, group) in groups.into_iter().enumerate() {
            for s in &group {
                routes.insert(*s, i);
            }
            let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
            controls.push(ctl_tx);
            let conn = Connection::new(i, shared.clone(), group, tx.clone(), ctl_rx, stop.clone());
            tasks.spawn(conn.run());
        }
        drop(tx);

        let mut events = 0u64;
        let mut control_open = true;
        let mut refused: Vec<(Symbol, String)> = Vec::new();
        let mut failure: Option<KrakenError> = None;
        let mut finished = 0usize;
        let total = controls.len();
        loop {
            tokio::select! {
                biased;
                batch = rx.recv() => match batch {
                    Some(batch) => {
                        events += batch.len() as u64;
                        if cx.output.send(batch).await.is_err() {
                            stop.cancel();
                        }
                    }
                    None => break,
                },
                req = cx.control.recv(), if control_open => match req {
                    Some(req) => {
                        let symbol = match &req {
                            ControlRequest::Resync { symbol, .. } | ControlRequest::Reconnect { symbol } => *symbol,
                        };
                        match routes.get(&symbol) {
                            Some(&i) => { let _ = controls[i].send(req); }
                            None => tracing::debug!("{symbol}: control request for a symbol this source does not carry"),
                        }
                    }
                    None => control_open = false,
                },
                done = tasks.join_next(), if !tasks.is_empty() => {
                    finished += 1;
                    match done {
                        Some(Ok(Ok(()))) | None => {}
                        Some(Ok(Err(KrakenError::AllSubscriptionsRefused(list)))) => {
                            tracing::error!("{}", KrakenError::AllSubscriptionsRefused(list.clone()));
                            refused.extend(list);
                        }
                        Some(Ok(Err(e))) => {
                            tracing::error!("kraken source: {e}");
                            failure.get_or_insert(e);
                            stop.cancel();
                        }
                        Some(Err(join)) => {
                            failure.get_or_insert(KrakenError::Io(format!("a connection task failed: {join}")));
                            stop.cancel();
                        }
                    }
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            finished += 1;
            if let Ok(Err(e)) = done {
                match e {
                    KrakenError::AllSubscriptionsRefused(list) => refused.extend(list),
                    e => {
                        failure.get_or_insert(e);
                    }
                }
            }
        }
        let _ = finished;
        let stale_dropped_by_symbol = counters
            .stale_by_symbol
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect();
        let report = SourceReport {
            frames: counters.frames.load(Ordering::Relaxed),
            decoded: counters.decoded.load(Ordering::Relaxed),
            malformed: counters.malformed.load(Ordering::Relaxed),
            stale_dropped: counters.stale.load(Ordering::Relaxed),
            stale_dropped_by_symbol,
            events,
            identities: Vec::new(),
        };
        tracing::info!(
            frames = report.frames,
            events = report.events,
            malformed = report.malformed,
            stale_dropped = report.stale_dropped,
            connects = counters.connects.load(Ordering::Relaxed),
            "kraken source finished"
        );
        if let Some(e) = failure {
            return Err(Box::new(e));
        }
        if !refused.is_empty() && refused.len() == symbols.len() {
            return Err(Box::new(KrakenError::AllSubscriptionsRefused(refused)));
        }
        let _ = total;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_keeps_online_pairs_only() {
        let text = r#"{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[
            {"symbol":"BTC/USD","status":"online","price_precision":1,"qty_precision":8,"qty_increment":1e-08},
            {"symbol":"OLD/USD","status":"delisted","price_precision":1,"qty_precision":8}]}}"#;
        let pairs = online_pairs(text).unwrap();
        assert_eq!(pairs, [Symbol::new("BTC/USD").unwrap()]);
        assert!(online_pairs(r#"{"channel":"heartbeat"}"#).is_none());
    }
}
