//! Every v2 fixture file (real Kraken frames) through decode -> snapshot -> update -> checksum:
//! all 5,318 checksums must verify, in every batching.

mod common;

use std::collections::HashMap;

use common::{oks, Shard};
use kobe_core::event::InstrumentInfo;
use kobe_core::kraken::decode::decode_frame;
use kobe_core::{Event, EventKind, Symbol, Timestamp};
use kobe_plugins::checksum::OnMismatch;
use kobe_plugins::update::UpdateConfig;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/kraken-fixtures");

struct Fixture {
    file: String,
    depth: usize,
    hints: HashMap<Symbol, InstrumentInfo>,
}

fn v2_fixtures() -> Vec<Fixture> {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/manifest.json")).unwrap(),
    )
    .unwrap();
    manifest["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["api"] == "v2")
        .map(|f| Fixture {
            file: f["file"].as_str().unwrap().to_string(),
            depth: f["depth"].as_u64().unwrap() as usize,
            hints: f["precision"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(s, p)| {
                    (
                        Symbol::new(s).unwrap(),
                        InstrumentInfo {
                            price_precision: p[0].as_u64().unwrap() as u8,
                            qty_precision: p[1].as_u64().unwrap() as u8,
                        },
                    )
                })
                .collect(),
        })
        .collect()
}

fn decode_file(file: &str) -> Vec<Event> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{file}")).unwrap();
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        decode_frame(line, Timestamp(n as i64), &mut events)
            .unwrap_or_else(|e| panic!("{file}:{}: {e}", n + 1));
    }
    events
}

/// (verified, failed, mismatch events, control requests) for one file at one batch size.
fn replay(f: &Fixture, events: &[Event], batch: usize) -> (usize, usize, usize, usize) {
    let mut shard = Shard::with(
        f.depth,
        f.hints.clone(),
        UpdateConfig::default(),
        OnMismatch::Resync,
    );
    let (mut ok, mut bad, mut mismatches) = (0, 0, 0);
    for chunk in events.chunks(batch) {
        let out = shard.run(chunk.to_vec());
        for r in oks(&out) {
            match r {
                Some(true) => ok += 1,
                Some(false) => bad += 1,
                None => {}
            }
        }
        mismatches += out
            .iter()
            .filter(|e| matches!(e.kind, EventKind::ChecksumMismatch { .. }))
            .count();
    }
    (ok, bad, mismatches, shard.control.len())
}

#[test]
fn every_v2_fixture_checksum_verifies_in_every_batching() {
    let fixtures = v2_fixtures();
    assert_eq!(fixtures.len(), 18, "manifest lists 18 v2 files");
    assert!(fixtures
        .iter()
        .any(|f| f.file.starts_with("other-channels/")));
    for batch in [1, 7, 64, usize::MAX] {
        let mut total = 0;
        for f in &fixtures {
            let events = decode_file(&f.file);
            let (ok, bad, mismatches, control) = replay(f, &events, batch.min(events.len().max(1)));
            assert_eq!(
                (bad, mismatches, control),
                (0, 0, 0),
                "{} (batch {batch})",
                f.file
            );
            let expected = events
                .iter()
                .filter(|e| matches!(&e.kind, EventKind::BookSnapshot(d) | EventKind::BookUpdate(d) if d.checksum.is_some()))
                .count();
            // Every checksummed message reached the checksum handler (none dropped as bookless).
            assert_eq!(ok, expected, "{} (batch {batch})", f.file);
            total += ok;
        }
        assert_eq!(total, 5318, "batch {batch}");
    }
}

fn scales(events: &[Event]) -> std::collections::BTreeSet<(u8, u8)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BookSnapshot(d) | EventKind::BookUpdate(d) => Some(d),
            _ => None,
        })
        .flat_map(|d| d.bids.iter().chain(&d.asks))
        .map(|l| (l.price.scale(), l.qty.scale()))
        .collect()
}

#[test]
fn float_reserialised_files_verify_and_come_out_at_the_instrument_precision() {
    for file in [
        "lla_arbibot__btcusd_reserialized.ndjson",
        "python-kraken-sdk__orderbook-v2.ndjson",
    ] {
        let f = v2_fixtures().into_iter().find(|f| f.file == file).unwrap();
        let events = decode_file(file);
        // The wire has `0.1` and `5.325e-05` style tokens: several scales.
        assert!(scales(&events).len() > 1, "{file}");
        let mut shard = Shard::with(
            f.depth,
            f.hints.clone(),
            UpdateConfig::default(),
            OnMismatch::Resync,
        );
        let out = shard.run(events);
        assert!(oks(&out).iter().all(|r| *r == Some(true)), "{file}");
        // Records print the instrument's exact digits: BTC/USD is 1 / 8.
        assert_eq!(
            scales(&out).into_iter().collect::<Vec<_>>(),
            [(1, 8)],
            "{file}"
        );
    }
}
