//! Requests the source sends to Kraken v2, and how it reads Kraken's subscription errors.

use crate::symbol::Symbol;

/// `subscribe` to the instrument channel (precision of every pair).
pub fn subscribe_instrument(req_id: u64) -> String {
    format!(
        r#"{{"method":"subscribe","params":{{"channel":"instrument","snapshot":true}},"req_id":{req_id}}}"#
    )
}

/// `subscribe` (or `unsubscribe`) the book channel for `symbols` at `depth`.
pub fn book_request(method: &str, symbols: &[Symbol], depth: u16, req_id: u64) -> String {
    let list = serde_json::to_string(symbols).unwrap_or_else(|_| "[]".into());
    let snapshot = if method == "subscribe" {
        r#","snapshot":true"#
    } else {
        ""
    };
    format!(
        r#"{{"method":"{method}","params":{{"channel":"book","symbol":{list},"depth":{depth}{snapshot}}},"req_id":{req_id}}}"#
    )
}

/// Application-level `ping`.
pub fn ping(req_id: u64) -> String {
    format!(r#"{{"method":"ping","req_id":{req_id}}}"#)
}

/// What kind of refusal a subscription error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Kraken throttled us (`Exceeded msg rate`): try again later.
    Transient,
    /// The request cannot succeed as made (unknown pair, bad depth, already subscribed, ...).
    Permanent,
}

/// Classifies Kraken's error text.
pub fn classify_refusal(error: &str) -> Refusal {
    let e = error.to_ascii_lowercase();
    if e.contains("rate") || e.contains("throttl") || e.contains("try again") {
        Refusal::Transient
    } else {
        Refusal::Permanent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_valid_v2_json() {
        let s = [
            Symbol::new("BTC/USD").unwrap(),
            Symbol::new("ETH/USD").unwrap(),
        ];
        let v: serde_json::Value =
            serde_json::from_str(&book_request("subscribe", &s, 25, 7)).unwrap();
        assert_eq!(v["params"]["symbol"][1], "ETH/USD");
        assert_eq!(v["params"]["depth"], 25);
        assert_eq!(v["req_id"], 7);
        let v: serde_json::Value = serde_json::from_str(&subscribe_instrument(1)).unwrap();
        assert_eq!(v["params"]["channel"], "instrument");
        assert_eq!(classify_refusal("Exceeded msg rate"), Refusal::Transient);
        assert_eq!(
            classify_refusal("Currency pair not supported"),
            Refusal::Permanent
        );
    }
}
