//! `symbols: all` subscribes every listed pair, spread over connections of
//! `symbols_per_connection`, and `shard` keeps exactly the symbols of its hash slot.

mod kraken_support;

use std::collections::HashSet;

use kobe_core::event::EventKind;
use kobe_core::kraken::config::{ShardConfig, Symbols};
use kobe_core::kraken::simulator::SimConfig;
use kraken_support::*;

#[tokio::test]
async fn all_symbols_sharded_over_several_connections() {
    let (sim, _stop) = sim(SimConfig {
        symbols: 30,
        ..SimConfig::default()
    })
    .await;
    let listed: Vec<_> = sim.symbols().into_iter().map(|s| s.0).collect();
    let shard = ShardConfig { index: 1, count: 2 };
    let expected: HashSet<_> = listed.iter().copied().filter(|s| shard.keeps(s)).collect();
    assert!(!expected.is_empty() && expected.len() < listed.len());
    let mut cfg = fast(&sim.url(), &[], 10);
    cfg.symbols = Symbols::Keyword("all".into());
    cfg.shard = Some(shard);
    cfg.symbols_per_connection = 4;
    let mut run = start(&cfg, false).await;
    let mut books = Books::new(10);
    run.until(&mut books, |_, b| b.books.len() == expected.len())
        .await;
    let got: HashSet<_> = books.books.keys().copied().collect();
    assert_eq!(got, expected);
    let book_connections = expected.len().div_ceil(4) as u64;
    // One more connection listed the instruments first.
    assert_eq!(sim.stats().connections, book_connections + 1);
    assert!(run
        .seen
        .iter()
        .all(|e| !matches!(e.kind, EventKind::BookSnapshot(_))
            || expected.contains(&e.symbol.unwrap())));
    run.finish().await.unwrap();
}
