//! One simulated client connection: answers requests, forwards the market's ticks for the
//! subscribed books, heartbeats, and obeys injected faults.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_tungstenite::tokio::accept_async;
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::{market, Broadcast, State};
use crate::replay::KRAKEN_DEPTHS;
use crate::symbol::Symbol;
use crate::time::Timestamp;

struct Sub {
    depth: u16,
    /// Market version of its snapshot: ticks up to it are already in the snapshot.
    since: u64,
}

struct Conn {
    state: Arc<State>,
    subs: HashMap<Symbol, Sub>,
    instrument: bool,
    stalled: bool,
    out: Vec<String>,
}

type Ws = async_tungstenite::WebSocketStream<async_tungstenite::tokio::TokioAdapter<TcpStream>>;

pub(super) async fn serve(tcp: TcpStream, state: Arc<State>, shutdown: CancellationToken) {
    let Ok(ws) = accept_async(tcp).await else {
        return;
    };
    let rx = state.tx.subscribe();
    state.bump(&state.counters.connections, 1);
    state.counters.open.fetch_add(1, Ordering::Relaxed);
    let mut conn = Conn {
        state: state.clone(),
        subs: HashMap::new(),
        instrument: false,
        stalled: false,
        out: Vec::new(),
    };
    conn.run(ws, rx, shutdown).await;
    let mut m = state.market();
    for (sym, sub) in conn.subs.drain() {
        m.unsubscribe(sym, sub.depth);
    }
    drop(m);
    state.counters.open.fetch_sub(1, Ordering::Relaxed);
    state.bump(&state.counters.open, 0);
}

fn now() -> String {
    Timestamp::now().to_string()
}

impl Conn {
    async fn run(
        &mut self,
        mut ws: Ws,
        mut rx: tokio::sync::broadcast::Receiver<Arc<Broadcast>>,
        shutdown: CancellationToken,
    ) {
        let id = self
            .state
            .next_connection_id
            .fetch_add(1, Ordering::Relaxed);
        self.out.push(format!(
            r#"{{"channel":"status","type":"update","data":[{{"version":"2.0.10","system":"online","api_version":"v2","connection_id":{id}}}]}}"#
        ));
        let mut heartbeat = tokio::time::interval(self.state.config.heartbeat);
        heartbeat.reset();
        loop {
            if !self.stalled {
                let n = self.out.len() as u64;
                for frame in self.out.drain(..) {
                    if ws.send(Message::text(frame)).await.is_err() {
                        return;
                    }
                }
                self.state.counters.frames.fetch_add(n, Ordering::Relaxed);
            } else {
                self.out.clear();
            }
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = ws.close(None).await;
                    return;
                }
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => self.request(t.as_str()),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
                b = rx.recv() => match b {
                    Ok(b) => {
                        if !self.broadcast(&b) {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!("simulator: a client fell {n} ticks behind; dropping it like Kraken would");
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = heartbeat.tick() => self.out.push(r#"{"channel":"heartbeat"}"#.into()),
            }
        }
    }

    /// Returns false when the connection must be dropped.
    fn broadcast(&mut self, b: &Broadcast) -> bool {
        match b {
            Broadcast::Tick {
                version,
                multi,
                entries,
            } => {
                let mine: Vec<&market::Entry> = entries
                    .iter()
                    .filter(|e| {
                        self.subs
                            .get(&e.symbol)
                            .is_some_and(|s| s.depth == e.depth && s.since < *version)
                    })
                    .collect();
                if mine.is_empty() || self.stalled {
                    return true;
                }
                self.state
                    .counters
                    .updates
                    .fetch_add(mine.len() as u64, Ordering::Relaxed);
                if *multi {
                    if mine.len() > 1 {
                        self.state
                            .counters
                            .multi_symbol_frames
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    let data: Vec<&str> = mine.iter().map(|e| e.json.as_str()).collect();
                    self.out.push(format!(
                        r#"{{"channel":"book","type":"update","data":[{}]}}"#,
                        data.join(",")
                    ));
                } else {
                    for e in mine {
                        self.out.push(format!(
                            r#"{{"channel":"book","type":"update","data":[{}]}}"#,
                            e.json
                        ));
                    }
                }
                true
            }
            Broadcast::Instrument(frame) => {
                if self.instrument {
                    self.out.push(frame.clone());
                }
                true
            }
            Broadcast::Malformed => {
                if self.stalled {
                    // A stalled connection sends nothing: counting a frame that never leaves
                    // would make the client look as if it lost it.
                    return true;
                }
                self.state.bump(&self.state.counters.malformed, 1);
                self.out
                    .push(r#"{"channel":"book","type":"update","data":[{"symbol":"#.into());
                true
            }
            Broadcast::Disconnect => {
                self.state.bump(&self.state.counters.disconnects, 1);
                false
            }
            Broadcast::Stall => {
                if !self.stalled {
                    self.stalled = true;
                    self.state.bump(&self.state.counters.stalls, 1);
                }
                true
            }
        }
    }

    fn request(&mut self, text: &str) {
        #[derive(serde::Deserialize)]
        struct Req {
            method: String,
            #[serde(default)]
            params: Option<Params>,
            #[serde(default)]
            req_id: Option<u64>,
        }
        #[derive(serde::Deserialize)]
        struct Params {
            channel: String,
            #[serde(default)]
            symbol: Vec<String>,
            #[serde(default)]
            depth: Option<u16>,
        }
        let time_in = now();
        let Ok(req) = serde_json::from_str::<Req>(text) else {
            self.out.push(format!(r#"{{"error":"Malformed request","method":"unknown","success":false,"time_in":"{time_in}","time_out":"{}"}}"#, now()));
            return;
        };
        let req_id = req
            .req_id
            .map(|r| format!(r#","req_id":{r}"#))
            .unwrap_or_default();
        match (req.method.as_str(), req.params) {
            ("ping", _) => {
                self.state.bump(&self.state.counters.pongs, 1);
                self.out.push(format!(
                    r#"{{"method":"pong"{req_id},"time_in":"{time_in}","time_out":"{}"}}"#,
                    now()
                ));
            }
            ("subscribe", Some(p)) if p.channel == "instrument" => {
                self.instrument = true;
                self.out.push(format!(r#"{{"method":"subscribe","result":{{"channel":"instrument","snapshot":true}},"success":true,"time_in":"{time_in}","time_out":"{}"{req_id}}}"#, now()));
                let m = self.state.market();
                let pairs: Vec<String> = m.symbols().iter().map(market::instrument_pair).collect();
                drop(m);
                self.out.push(format!(r#"{{"channel":"instrument","type":"snapshot","data":{{"assets":[],"pairs":[{}]}}}}"#, pairs.join(",")));
            }
            ("subscribe", Some(p)) if p.channel == "book" => {
                let depth = p.depth.unwrap_or(10);
                for name in p.symbol {
                    self.subscribe(&name, depth, &time_in, &req_id);
                }
            }
            ("unsubscribe", Some(p)) if p.channel == "book" => {
                for name in p.symbol {
                    let sym = Symbol::new(&name).ok();
                    match sym.and_then(|s| self.subs.remove(&s).map(|sub| (s, sub))) {
                        Some((s, sub)) => {
                            self.state.market().unsubscribe(s, sub.depth);
                            self.state.bump(&self.state.counters.unsubscribes, 1);
                            self.out.push(format!(r#"{{"method":"unsubscribe","result":{{"channel":"book","depth":{},"symbol":"{name}"}},"success":true,"time_in":"{time_in}","time_out":"{}"{req_id}}}"#, sub.depth, now()));
                        }
                        None => self.out.push(format!(r#"{{"error":"Subscription Not Found","method":"unsubscribe","success":false,"symbol":"{name}","time_in":"{time_in}","time_out":"{}"{req_id}}}"#, now())),
                    }
                }
            }
            (method, _) => {
                self.out.push(format!(r#"{{"error":"Unsupported request","method":"{method}","success":false,"time_in":"{time_in}","time_out":"{}"{req_id}}}"#, now()));
            }
        }
    }

    fn subscribe(&mut self, name: &str, depth: u16, time_in: &str, req_id: &str) {
        let sym = Symbol::new(name).ok();
        let one_shot = sym.and_then(|s| {
            self.state
                .reject_next
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&s)
        });
        let mut m = self.state.market();
        let error = if let Some(e) = one_shot {
            Some(e)
        } else if let Some(e) = sym.and_then(|s| self.state.config.reject.get(&s)) {
            Some(e.clone())
        } else if sym.is_none_or(|s| m.get(&s).is_none()) {
            Some(format!("Currency pair not supported {name}"))
        } else if !KRAKEN_DEPTHS.contains(&depth) {
            Some("Subscription depth not supported".into())
        } else if sym.is_some_and(|s| self.subs.contains_key(&s)) {
            Some("Already subscribed".into())
        } else {
            None
        };
        if let Some(error) = error {
            drop(m);
            self.state.bump(&self.state.counters.rejected, 1);
            self.out.push(format!(r#"{{"error":"{error}","method":"subscribe","success":false,"symbol":"{name}","time_in":"{time_in}","time_out":"{}"{req_id}}}"#, now()));
            return;
        }
        let Some(sym) = sym else { return };
        if self
            .state
            .withhold
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&sym)
        {
            drop(m);
            // Acked, but no snapshot follows: the client must notice by itself.
            self.out.push(format!(r#"{{"method":"subscribe","result":{{"channel":"book","depth":{depth},"snapshot":true,"symbol":"{name}"}},"success":true,"time_in":"{time_in}","time_out":"{}"{req_id}}}"#, now()));
            return;
        }
        let Some(snapshot) = m.subscribe(sym, depth) else {
            return;
        };
        self.subs.insert(
            sym,
            Sub {
                depth,
                since: m.version,
            },
        );
        drop(m);
        self.out.push(format!(r#"{{"method":"subscribe","result":{{"channel":"book","depth":{depth},"snapshot":true,"symbol":"{name}"}},"success":true,"time_in":"{time_in}","time_out":"{}"{req_id}}}"#, now()));
        self.out.push(format!(
            r#"{{"channel":"book","type":"snapshot","data":[{snapshot}]}}"#
        ));
        self.state
            .counters
            .snapshots
            .fetch_add(1, Ordering::Relaxed);
        self.state.bump(&self.state.counters.subscribes, 1);
    }
}
