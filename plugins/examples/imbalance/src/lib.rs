//! `imbalance`: top-N volume imbalance of each book a batch changed, read through the host.
//!
//! For every symbol with a `book_snapshot` or `book_update` in the batch, it reads the current
//! top `levels` of the book through the host (the book as the handlers before it left it: the
//! whole batch applied) and emits, right after the symbol's last book event of the batch:
//! `{"levels":10,"bid_volume":"12.5","ask_volume":"7.5","imbalance":"0.25000000"}` where
//! `imbalance = (bid_volume - ask_volume) / (bid_volume + ask_volume)`, truncated toward zero
//! to 8 fractional digits (the only value that is not exact: a ratio rarely is).

use kobe_plugin_sdk::{Batch, ConfigError, Decimal, EventType, Handler, Host, Level};

/// Deepest book Kraken serves.
const MAX_LEVELS: usize = 1000;
/// Fractional digits of the ratio.
const RATIO_DIGITS: u32 = 8;

fn default_levels() -> usize {
    10
}

/// Options of `imbalance`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImbalanceConfig {
    /// How many best levels a side count (1 to 1000).
    #[serde(default = "default_levels")]
    pub levels: usize,
}

/// The handler.
#[derive(Debug)]
pub struct Imbalance {
    levels: usize,
    changed: Vec<(String, usize)>,
}

/// One record's data.
#[derive(Debug, serde::Serialize)]
struct Data {
    levels: usize,
    bid_volume: Decimal,
    ask_volume: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    imbalance: Option<String>,
}

/// Sum of a side's quantities; `None` on overflow.
fn volume(levels: &[Level]) -> Option<Decimal> {
    levels
        .iter()
        .try_fold(Decimal::new(0, 0)?, |sum, l| sum.checked_add(&l.qty))
}

/// `(b - a) / (b + a)` truncated to [`RATIO_DIGITS`] digits, as signed text; `None` for two
/// empty sides.
fn ratio(b: &Decimal, a: &Decimal) -> Option<String> {
    let scale = b.scale().max(a.scale());
    let (b, a) = (b.rescale(scale)?.mantissa(), a.rescale(scale)?.mantissa());
    let total = b.checked_add(a)?;
    if total == 0 {
        return None;
    }
    let (negative, diff) = if b >= a {
        (false, b - a)
    } else {
        (true, a - b)
    };
    let unit = 10u128.pow(RATIO_DIGITS);
    let q = diff.checked_mul(unit)? / total;
    let sign = if negative && q != 0 { "-" } else { "" };
    Some(format!(
        "{sign}{}.{:0width$}",
        q / unit,
        q % unit,
        width = RATIO_DIGITS as usize
    ))
}

impl Handler for Imbalance {
    type Config = ImbalanceConfig;
    const TYPE_NAME: &'static str = "imbalance";
    const DESCRIPTION: &'static str =
        "top-N volume imbalance of each book a batch changed, read through the host";

    fn validate(config: &ImbalanceConfig) -> Vec<ConfigError> {
        if config.levels == 0 || config.levels > MAX_LEVELS {
            return vec![ConfigError::new(
                "levels",
                format!("must be between 1 and {MAX_LEVELS}, got {}", config.levels),
            )];
        }
        Vec::new()
    }

    fn new(config: ImbalanceConfig) -> Result<Self, String> {
        Ok(Imbalance {
            levels: config.levels,
            changed: Vec::new(),
        })
    }

    fn process(&mut self, batch: Batch<'_>, host: &mut Host<'_>) -> Result<(), String> {
        self.changed.clear();
        for (index, event) in batch.iter() {
            if !matches!(
                event.event_type(),
                EventType::BookSnapshot | EventType::BookUpdate
            ) {
                continue;
            }
            let Some(symbol) = event.symbol() else {
                continue;
            };
            match self.changed.iter_mut().find(|(s, _)| s == symbol) {
                Some((_, last)) => *last = index,
                None => self.changed.push((symbol.to_string(), index)),
            }
        }
        self.changed.sort_by_key(|(_, last)| *last);
        for (symbol, after) in &self.changed {
            let Some(top) = host.book_top(symbol, self.levels) else {
                continue;
            };
            let (Some(bid_volume), Some(ask_volume)) = (volume(top.bids), volume(top.asks)) else {
                continue;
            };
            let data = Data {
                levels: self.levels,
                imbalance: ratio(&bid_volume, &ask_volume),
                bid_volume,
                ask_volume,
            };
            host.emit(*after, &data)?;
        }
        Ok(())
    }
}

kobe_plugin_sdk::export_plugin!(handler: Imbalance);

#[cfg(test)]
mod tests {
    use super::*;
    use kobe_plugin_sdk::testing::{HandlerHarness, TestEvent};
    use serde_json::json;

    #[test]
    fn reads_the_top_n_through_the_host() {
        let mut h = HandlerHarness::<Imbalance>::new(json!({"levels": 2})).unwrap();
        h.set_book(
            "BTC/USD",
            &[("100.0", "5.00"), ("99.0", "7.50"), ("98.0", "100")],
            &[("101.0", "2.50"), ("102.0", "5.00")],
        );
        let out = h
            .process(&[
                TestEvent::update("BTC/USD", &[("100.0", "5.00")], &[]),
                TestEvent::update("XRP/USD", &[("1.0", "1")], &[]),
                TestEvent::update("BTC/USD", &[("99.0", "7.50")], &[]),
            ])
            .unwrap();
        // No book for XRP/USD: nothing for it.
        assert_eq!(out.emitted.len(), 1);
        assert_eq!(out.emitted[0].after, 2);
        assert_eq!(
            out.emitted[0].data,
            json!({"levels":2,"bid_volume":"12.50","ask_volume":"7.50","imbalance":"0.25000000"})
        );
    }

    #[test]
    fn ratio_is_signed_and_truncated() {
        let d = |t: &str| Decimal::parse(t).unwrap();
        assert_eq!(ratio(&d("1"), &d("2")).unwrap(), "-0.33333333");
        assert_eq!(ratio(&d("0"), &d("0")), None);
        assert_eq!(ratio(&d("1"), &d("0")).unwrap(), "1.00000000");
    }

    #[test]
    fn levels_out_of_range_are_refused_with_their_path() {
        let errors = HandlerHarness::<Imbalance>::validate(json!({"levels": 0}));
        assert_eq!(errors[0].path, "levels");
        assert!(
            errors[0].message.contains("between 1 and 1000"),
            "{errors:?}"
        );
        let errors = HandlerHarness::<Imbalance>::validate(json!({"levels": "ten"}));
        assert_eq!(errors[0].path, "levels");
    }
}
