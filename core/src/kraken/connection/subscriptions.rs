//! The per-symbol subscription state machine of a [`Connection`]: acks, refusals, snapshots,
//! resyncs and their timeouts. The I/O loop lives in the parent module.

use super::*;

impl Connection {
    /// Applies the subscription state machine to one decoded event and keeps it or drops it;
    /// false when it was dropped as the tail of an old subscription (stale).
    pub(super) fn accept(&mut self, mut event: Event, now: Instant) -> bool {
        let sym = event.symbol;
        match &event.kind {
            EventKind::BookSnapshot(_) => {
                let Some(st) = sym.and_then(|s| self.state.get_mut(&s)) else {
                    return self.stale(sym);
                };
                match st.phase {
                    Phase::Subscribing(_) | Phase::AwaitSnapshot(_) | Phase::Live => {
                        st.phase = Phase::Live;
                        st.failures = 0;
                        st.server_subscribed = true;
                    }
                    _ => return self.stale(sym),
                }
            }
            EventKind::BookUpdate(_) => {
                let live = sym
                    .and_then(|s| self.state.get(&s))
                    .is_some_and(|st| st.phase == Phase::Live);
                if !live {
                    return self.stale(sym);
                }
            }
            EventKind::Instrument(info) => {
                let Some(s) = sym.filter(|s| self.state.contains_key(s)) else {
                    // Another connection's pair: not this connection's business.
                    return true;
                };
                let info = *info;
                let old = self.precision.insert(s, info);
                self.batch.push(event);
                if old.is_some_and(|o| o != info) {
                    tracing::info!(
                        "{s}: precision changed to {}/{}; resyncing its book",
                        info.price_precision,
                        info.qty_precision
                    );
                    self.start_resync(s, ResetReason::PrecisionChange, now);
                }
                return true;
            }
            EventKind::SubscriptionAck(info) if info.channel == "book" => {
                if let Some(s) = sym {
                    let method = info.method;
                    let mut resubscribe = false;
                    if let Some(st) = self.state.get_mut(&s) {
                        match method {
                            SubscriptionMethod::Subscribe => {
                                st.server_subscribed = true;
                                if matches!(st.phase, Phase::Subscribing(_)) {
                                    st.phase = Phase::AwaitSnapshot(now);
                                }
                            }
                            SubscriptionMethod::Unsubscribe => {
                                st.server_subscribed = false;
                                resubscribe = matches!(st.phase, Phase::Unsubscribing(_));
                            }
                        }
                    }
                    if resubscribe {
                        self.resubscribe(s, now);
                    }
                }
            }
            EventKind::SubscriptionError(info) => {
                let info = info.clone();
                let targets: Vec<Symbol> = match sym {
                    Some(s) => vec![s],
                    None => info
                        .req_id
                        .and_then(|id| self.pending.get(&id).cloned())
                        .unwrap_or_default(),
                };
                if targets.len() == 1 && event.symbol.is_none() {
                    event.symbol = Some(targets[0]);
                }
                if targets.is_empty() {
                    tracing::warn!(
                        "{}: Kraken refused a {} request: {}",
                        self.label,
                        if info.channel.is_empty() {
                            "subscription"
                        } else {
                            &info.channel
                        },
                        info.error.as_deref().unwrap_or("no reason given")
                    );
                }
                if info.method == SubscriptionMethod::Unsubscribe && !targets.is_empty() {
                    // Part of a resync: "not subscribed" is as good as unsubscribed, not an
                    // error a consumer should see.
                    tracing::debug!(
                        "{}: unsubscribe refused ({}); subscribing again",
                        self.label,
                        info.error.as_deref().unwrap_or("no reason given")
                    );
                    for s in targets {
                        self.refusal(s, &info, now);
                    }
                    return true;
                }
                if info.method == SubscriptionMethod::Subscribe
                    && !targets.is_empty()
                    && is_already_subscribed(&info)
                    && targets.iter().all(|s| self.holds_subscription(*s))
                {
                    // A second subscribe after the first one's ack came too late: the
                    // subscription exists. Not an error a consumer should see.
                    for s in targets {
                        if let Some(st) = self.state.get_mut(&s) {
                            st.server_subscribed = true;
                        }
                        tracing::debug!(
                            "{s}: already subscribed (an earlier subscribe's ack came late)"
                        );
                    }
                    return true;
                }
                for s in targets {
                    self.refusal(s, &info, now);
                }
            }
            _ => {}
        }
        self.batch.push(event);
        true
    }

    /// Whether an "Already subscribed" answer for `s` can be true: this session saw its ack or
    /// snapshot, or a subscribe of ours timed out and was sent again (so the first may have
    /// arrived after all, its ack late, as under backpressure). Then nothing is refused: the
    /// ack and snapshot drive the phase as usual, and should the snapshot have been dropped
    /// meanwhile, the snapshot timeout cycles the subscription (unsubscribe first). Otherwise
    /// the answer is a refusal like any other.
    pub(super) fn holds_subscription(&self, s: Symbol) -> bool {
        self.state.get(&s).is_some_and(|st| match st.phase {
            Phase::Live | Phase::AwaitSnapshot(_) => true,
            Phase::Subscribing(_) | Phase::RetryAt(_) => st.failures > 0,
            _ => false,
        })
    }

    pub(super) fn resubscribe(&mut self, s: Symbol, now: Instant) {
        if let Some(st) = self.state.get_mut(&s) {
            st.phase = Phase::Subscribing(now);
        }
        self.send_book("subscribe", vec![s]);
    }

    pub(super) fn refusal(&mut self, s: Symbol, info: &SubscriptionInfo, now: Instant) {
        let error = info.error.clone().unwrap_or_else(|| "refused".into());
        let max = self.cfg().resync_max_attempts;
        let Some(st) = self.state.get_mut(&s) else {
            return;
        };
        if info.method == SubscriptionMethod::Unsubscribe {
            // Nothing to unsubscribe is as good as unsubscribed.
            st.server_subscribed = false;
            if matches!(st.phase, Phase::Unsubscribing(_)) {
                self.resubscribe(s, now);
            }
            return;
        }
        match classify_refusal(&error) {
            Refusal::Transient if st.failures + 1 < max => {
                st.failures += 1;
                let delay = Backoff::nominal_delay(&self.shared.config.reconnect, st.failures);
                tracing::warn!(
                    "{s}: Kraken refused the book subscription ({error}); retrying in {} ms",
                    delay.as_millis()
                );
                st.phase = Phase::RetryAt(now + delay);
            }
            _ => {
                tracing::error!("{s}: Kraken refused the book subscription: {error}");
                st.phase = Phase::Refused(error);
            }
        }
    }

    pub(super) fn start_resync(&mut self, s: Symbol, reason: ResetReason, now: Instant) {
        let Some(st) = self.state.get_mut(&s) else {
            return;
        };
        match st.phase {
            Phase::Refused(_) => return,
            Phase::Idle | Phase::Live | Phase::RetryAt(_) => {}
            // A resync is already on its way to a fresh snapshot.
            _ => {
                tracing::debug!("{s}: resync already in progress");
                return;
            }
        }
        self.batch.push(Event::new(
            Some(s),
            Timestamp::now(),
            EventKind::BookReset { reason },
        ));
        self.begin_subscription_cycle(s, now);
    }

    pub(super) fn begin_subscription_cycle(&mut self, s: Symbol, now: Instant) {
        let Some(st) = self.state.get_mut(&s) else {
            return;
        };
        if st.server_subscribed {
            st.phase = Phase::Unsubscribing(now);
            self.send_book("unsubscribe", vec![s]);
        } else {
            self.resubscribe(s, now);
        }
    }

    pub(super) fn control_request(&mut self, req: ControlRequest) -> Option<End> {
        match req {
            ControlRequest::Resync { symbol, reason } => {
                if self.state.contains_key(&symbol) {
                    tracing::info!("{symbol}: resync requested ({})", reason.as_str());
                    self.start_resync(symbol, reason, Instant::now());
                }
                None
            }
            ControlRequest::Reconnect { symbol } => {
                if !self.state.contains_key(&symbol) {
                    return None;
                }
                Some(End::Lost {
                    error: KrakenError::Io(format!("reconnect requested for {symbol}")),
                    healthy: true,
                })
            }
        }
    }

    /// Retries due, and subscriptions that got no ack or no snapshot in time.
    pub(super) fn check_timeouts(&mut self, now: Instant, timeout: Duration) -> Option<End> {
        let max = self.cfg().resync_max_attempts;
        let depth = self.cfg().depth;
        let mut escalate = None;
        for s in self.symbols.clone() {
            let Some(st) = self.state.get_mut(&s) else {
                continue;
            };
            let what = match st.phase {
                Phase::RetryAt(at) if at <= now => {
                    self.begin_subscription_cycle(s, now);
                    continue;
                }
                Phase::Subscribing(t) if now.duration_since(t) >= timeout => "no subscription ack",
                Phase::AwaitSnapshot(t) if now.duration_since(t) >= timeout => "no snapshot",
                Phase::Unsubscribing(t) if now.duration_since(t) >= timeout => "no unsubscribe ack",
                _ => continue,
            };
            st.failures += 1;
            let failures = st.failures;
            let reconnect = &self.shared.config.reconnect;
            let delay = if failures >= max {
                Duration::from_millis(reconnect.max_backoff_ms)
            } else {
                Backoff::nominal_delay(reconnect, failures)
            };
            st.phase = Phase::RetryAt(now + delay);
            if failures % max == 0 {
                let error = format!(
                    "{what} within {} ms, {failures} attempts in a row",
                    timeout.as_millis()
                );
                tracing::error!("{s}: {error}; next try in {} ms", delay.as_millis());
                self.batch.push(Event::new(
                    Some(s),
                    Timestamp::now(),
                    EventKind::SubscriptionError(SubscriptionInfo {
                        method: SubscriptionMethod::Subscribe,
                        channel: "book".into(),
                        depth: Some(depth),
                        req_id: None,
                        error: Some(error),
                    }),
                ));
                if failures == max && escalate.is_none() {
                    escalate = Some(s);
                }
            } else {
                tracing::warn!(
                    "{s}: {what} within {} ms (attempt {failures}); retrying in {} ms",
                    timeout.as_millis(),
                    delay.as_millis()
                );
            }
        }
        escalate.map(|s| End::Lost {
            error: KrakenError::Io(format!(
                "{s} could not be resynced; recycling its connection"
            )),
            healthy: true,
        })
    }

    pub(super) fn all_refused(&self) -> Option<Vec<(Symbol, String)>> {
        let mut list = Vec::with_capacity(self.symbols.len());
        for s in &self.symbols {
            match self.state.get(s).map(|st| &st.phase) {
                Some(Phase::Refused(e)) => list.push((*s, e.clone())),
                _ => return None,
            }
        }
        Some(list)
    }
}

/// Whether a subscribe refusal says the subscription already exists.
fn is_already_subscribed(info: &SubscriptionInfo) -> bool {
    info.error
        .as_deref()
        .is_some_and(|e| e.to_ascii_lowercase().contains("already subscribed"))
}
