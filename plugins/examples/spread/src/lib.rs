//! `spread`: best bid, best ask, spread and mid of a book after each change, exact decimals.
//!
//! Reads the `book_top` events the `update` handler emits after every applied snapshot and
//! update (`update: {top: 1}` or more): each is the top of the book right after one change,
//! in order. For each it emits, right after it:
//! `{"bid":"45283.5","ask":"45285.2","spread":"1.7","mid":"45284.35"}`. The mid has one more
//! fractional digit than the prices, so it is exact. A crossed book (bid above ask) gives
//! `"crossed":true` and no spread.

use kobe_plugin_sdk::{Batch, ConfigError, Decimal, EventType, Handler, Host};

/// Options of `spread`.
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpreadConfig {
    /// Emit only when the best bid or best ask price changed since the symbol's last record.
    #[serde(default)]
    pub changes_only: bool,
}

/// The handler.
#[derive(Debug, Default)]
pub struct Spread {
    changes_only: bool,
    last: Vec<(String, Decimal, Decimal)>,
}

/// One record's data.
#[derive(Debug, serde::Serialize)]
struct Quote {
    bid: Decimal,
    ask: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    spread: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mid: Option<Decimal>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    crossed: bool,
}

impl Spread {
    /// Whether `(bid, ask)` is new for `symbol` (and remembers it).
    fn changed(&mut self, symbol: &str, bid: Decimal, ask: Decimal) -> bool {
        match self.last.iter_mut().find(|(s, _, _)| s == symbol) {
            Some((_, b, a)) => {
                let changed = b.cmp_value(&bid).is_ne() || a.cmp_value(&ask).is_ne();
                (*b, *a) = (bid, ask);
                changed
            }
            None => {
                self.last.push((symbol.to_string(), bid, ask));
                true
            }
        }
    }
}

impl Handler for Spread {
    type Config = SpreadConfig;
    const TYPE_NAME: &'static str = "spread";
    const DESCRIPTION: &'static str =
        "best bid, best ask, spread and mid after each book change (needs `update` with `top`)";

    fn validate(_config: &SpreadConfig) -> Vec<ConfigError> {
        Vec::new()
    }

    fn new(config: SpreadConfig) -> Result<Self, String> {
        Ok(Spread {
            changes_only: config.changes_only,
            last: Vec::new(),
        })
    }

    fn process(&mut self, batch: Batch<'_>, host: &mut Host<'_>) -> Result<(), String> {
        for (index, event) in batch.iter() {
            if event.event_type() != EventType::BookTop {
                continue;
            }
            let (Some(bid), Some(ask), Some(symbol)) =
                (event.bids().first(), event.asks().first(), event.symbol())
            else {
                continue;
            };
            if self.changes_only && !self.changed(symbol, bid.price, ask.price) {
                continue;
            }
            let spread = ask.price.checked_sub(&bid.price);
            let quote = Quote {
                bid: bid.price,
                ask: ask.price,
                spread,
                mid: spread.and_then(|_| bid.price.checked_add(&ask.price)?.half()),
                crossed: spread.is_none(),
            };
            host.emit(index, &quote)?;
        }
        Ok(())
    }
}

kobe_plugin_sdk::export_plugin!(handler: Spread);

#[cfg(test)]
mod tests {
    use super::*;
    use kobe_plugin_sdk::testing::{HandlerHarness, TestEvent};
    use serde_json::json;

    #[test]
    fn emits_exact_quotes_after_each_top() {
        let mut h = HandlerHarness::<Spread>::new(json!({})).unwrap();
        let out = h
            .process(&[
                TestEvent::update("BTC/USD", &[("45283.5", "0.1")], &[]),
                TestEvent::top("BTC/USD", &[("45283.5", "0.1")], &[("45285.2", "1.0")]),
                TestEvent::top("ETH/USD", &[("3000.10", "1")], &[("2999.90", "1")]),
            ])
            .unwrap();
        assert_eq!(out.emitted.len(), 2);
        assert_eq!(out.emitted[0].after, 1);
        assert_eq!(
            out.emitted[0].data,
            json!({"bid":"45283.5","ask":"45285.2","spread":"1.7","mid":"45284.35"})
        );
        assert_eq!(
            out.emitted[1].data,
            json!({"bid":"3000.10","ask":"2999.90","crossed":true})
        );
    }

    #[test]
    fn changes_only_skips_repeated_tops() {
        let mut h = HandlerHarness::<Spread>::new(json!({"changes_only": true})).unwrap();
        let top = TestEvent::top("BTC/USD", &[("1.0", "1")], &[("2.0", "1")]);
        let out = h.process(&[top.clone(), top]).unwrap();
        assert_eq!(out.emitted.len(), 1);
        assert_eq!(
            HandlerHarness::<Spread>::validate(json!({"changes_only": "yes"}))[0].path,
            "changes_only"
        );
    }
}
