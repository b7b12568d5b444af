//! Every subscription refusal Kraken documents becomes a clear error naming the symbol (and a
//! `subscription_error` event), never a silent hang.

mod kraken_support;

use std::collections::HashMap;

use kobe_core::event::EventKind;
use kobe_core::kraken::simulator::{Fault, SimConfig};
use kraken_support::*;

async fn refused_alone(error: Option<&str>, symbol: &str) -> String {
    let sym = syms(&[symbol])[0];
    let mut reject = HashMap::new();
    if let Some(e) = error {
        reject.insert(sym, e.to_string());
    }
    let (sim, _stop) = sim(SimConfig {
        symbols: 3,
        reject,
        ..SimConfig::default()
    })
    .await;
    let mut run = start(&fast(&sim.url(), &[sym], 10), false).await;
    let mut books = Books::new(10);
    let ev = run
        .until(&mut books, |e, _| {
            matches!(e.kind, EventKind::SubscriptionError(_))
        })
        .await;
    assert_eq!(ev.symbol, Some(sym), "the error event names the symbol");
    let err = tokio::time::timeout(WAIT, run.task)
        .await
        .expect("the source hung")
        .unwrap();
    let text = err
        .expect_err("a source whose only symbol is refused must fail")
        .to_string();
    assert!(text.contains(symbol), "{text}");
    text
}

#[tokio::test]
async fn unknown_pair_is_a_terminal_error_naming_it() {
    let text = refused_alone(None, "NOPE/USD").await;
    assert!(text.contains("Currency pair not supported"), "{text}");
}

#[tokio::test]
async fn depth_not_supported_is_reported() {
    let text = refused_alone(Some("Subscription depth not supported"), "S001/USD").await;
    assert!(text.contains("Subscription depth not supported"), "{text}");
}

#[tokio::test]
async fn already_subscribed_is_reported() {
    let text = refused_alone(Some("Already subscribed"), "S001/USD").await;
    assert!(text.contains("Already subscribed"), "{text}");
}

#[tokio::test]
async fn persistent_rate_limit_is_retried_then_reported() {
    let text = refused_alone(Some("Exceeded msg rate"), "S002/USD").await;
    assert!(text.contains("Exceeded msg rate"), "{text}");
}

#[tokio::test]
async fn one_rate_limited_subscription_is_retried_and_succeeds() {
    let (sim, _stop) = sim(SimConfig {
        symbols: 3,
        ..SimConfig::default()
    })
    .await;
    let s = syms(&["S000/USD"]);
    sim.inject(Fault::RejectNext(s[0], "Exceeded msg rate".into()));
    let mut run = start(&fast(&sim.url(), &s, 10), false).await;
    let mut books = Books::new(10);
    run.until(&mut books, |e, _| {
        matches!(e.kind, EventKind::BookSnapshot(_))
    })
    .await;
    assert_eq!(
        count(&run.seen, s[0], |k| matches!(
            k,
            EventKind::SubscriptionError(_)
        )),
        1
    );
    assert_eq!(sim.stats().rejected, 1);
    run.finish().await.unwrap();
}

#[tokio::test]
async fn a_refused_pair_does_not_stop_the_others() {
    let (sim, _stop) = sim(SimConfig {
        symbols: 3,
        ..SimConfig::default()
    })
    .await;
    let s = syms(&["S000/USD", "BAD/USD", "S001/USD"]);
    let mut run = start(&fast(&sim.url(), &s, 10), false).await;
    let mut books = Books::new(10);
    run.until(&mut books, |_, b| b.books.len() == 2).await;
    run.until(&mut books, |e, _| {
        matches!(e.kind, EventKind::BookUpdate(_))
    })
    .await;
    let errors: Vec<_> = run
        .seen
        .iter()
        .filter(|e| matches!(e.kind, EventKind::SubscriptionError(_)))
        .map(|e| e.symbol)
        .collect();
    assert_eq!(errors, [Some(s[1])]);
    assert!(books.mismatches.is_empty());
    run.finish().await.unwrap();
}
