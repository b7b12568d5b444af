//! Table-driven decoder tests on raw frames, plus every fixture frame from
//! ../shared/kraken-fixtures (read at run time).

use super::*;
use crate::event::EventType;

fn decode(text: &str) -> Result<Vec<Event>, DecodeError> {
    let mut out = Vec::new();
    decode_frame(text, Timestamp(7), &mut out)?;
    Ok(out)
}

fn dec(text: &str) -> Decimal {
    Decimal::parse(text).unwrap()
}

#[test]
fn frames_decode_to_the_expected_event_types() {
    let cases: &[(&str, &[EventType])] = &[
        (r#"{"channel":"heartbeat"}"#, &[EventType::Heartbeat]),
        (
            r#"{"channel":"status","type":"update","data":[{"version":"2.0.10","system":"online","api_version":"v2","connection_id":17001309753738053924}]}"#,
            &[EventType::Status],
        ),
        (
            r#"{"method":"subscribe","result":{"channel":"book","depth":25,"snapshot":true,"symbol":"MINA/GBP"},"success":true,"time_in":"2026-08-16T23:37:04.849274Z","time_out":"2026-08-16T23:37:04.849309Z"}"#,
            &[EventType::SubscriptionAck],
        ),
        (
            r#"{"error":"Currency pair not supported","method":"subscribe","req_id":7,"success":false,"symbol":"NOPE/USD","time_in":"2026-08-16T23:37:04.849274Z","time_out":"2026-08-16T23:37:04.849309Z"}"#,
            &[EventType::SubscriptionError],
        ),
        (
            r#"{"method":"pong","req_id":1,"time_in":"2026-08-16T23:37:04.849274Z","time_out":"2026-08-16T23:37:04.849309Z"}"#,
            &[],
        ),
        (
            r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":1.5}]}"#,
            &[],
        ),
        (
            r#"{"channel":"book","type":"update","data":[{"symbol":"A/B","bids":[],"asks":[{"price":1.5,"qty":0.0}],"checksum":1,"timestamp":"2026-10-09T00:34:21.904206Z"},{"symbol":"C/D","bids":[{"price":"2.25","qty":"1e-08"}],"asks":[],"checksum":4294967295}]}"#,
            &[EventType::BookUpdate, EventType::BookUpdate],
        ),
        (
            r#"{"channel":"instrument","type":"snapshot","data":{"assets":[{"id":"BTC","precision":10}],"pairs":[{"symbol":"BTC/USD","price_precision":1,"qty_precision":8,"price_increment":0.1,"qty_increment":1e-08},{"symbol":"ETH/USD","price_precision":2,"qty_precision":8}]}}"#,
            &[EventType::Instrument, EventType::Instrument],
        ),
    ];
    for (frame, want) in cases {
        let got: Vec<EventType> = decode(frame)
            .unwrap()
            .iter()
            .map(Event::event_type)
            .collect();
        assert_eq!(&got, want, "{frame}");
    }
}

#[test]
fn book_levels_keep_exact_token_digits() {
    let events = decode(r#"{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.10000000}],"asks":[{"price":"45285.2","qty":5.325e-05}],"checksum":3310070434,"timestamp":"2023-10-06T17:35:55.440295Z"}]}"#).unwrap();
    let e = &events[0];
    assert_eq!(e.symbol.unwrap().as_str(), "BTC/USD");
    assert_eq!(
        e.exchange_ts,
        Some(Timestamp::parse("2023-10-06T17:35:55.440295Z").unwrap())
    );
    let EventKind::BookSnapshot(b) = &e.kind else {
        panic!("not a snapshot")
    };
    assert_eq!(
        b.bids,
        [Level {
            price: dec("45283.5"),
            qty: dec("0.10000000")
        }]
    );
    assert_eq!(b.asks[0].price, dec("45285.2"));
    assert_eq!((b.asks[0].qty.mantissa(), b.asks[0].qty.scale()), (5325, 8));
    assert_eq!(b.checksum, Some(3310070434));
}

#[test]
fn acks_and_errors_carry_symbol_depth_and_reason() {
    let ack = decode(r#"{"method":"unsubscribe","result":{"channel":"book","depth":10,"symbol":"BTC/USD"},"success":true,"req_id":42,"time_in":"2026-08-01T02:53:56.345070Z","time_out":"2026-08-01T02:53:56.345138Z"}"#).unwrap();
    let EventKind::SubscriptionAck(info) = &ack[0].kind else {
        panic!()
    };
    assert_eq!(info.method, SubscriptionMethod::Unsubscribe);
    assert_eq!(
        (info.channel.as_str(), info.depth, info.req_id),
        ("book", Some(10), Some(42))
    );
    let err = decode(r#"{"error":"Subscription depth not supported","method":"subscribe","success":false,"symbol":"BTC/USD","time_in":"2026-08-01T02:53:56.345070Z","time_out":"2026-08-01T02:53:56.345138Z"}"#).unwrap();
    assert_eq!(err[0].symbol.unwrap().as_str(), "BTC/USD");
    let EventKind::SubscriptionError(info) = &err[0].kind else {
        panic!()
    };
    assert_eq!(
        info.error.as_deref(),
        Some("Subscription depth not supported")
    );
}

#[test]
fn malformed_frames_are_errors_not_panics() {
    let cases = [
        "",
        "not json",
        "[1,2,3]",
        r#"{"channel":"book","type":"update"}"#,
        r#"{"channel":"book","type":"sideways","data":[]}"#,
        r#"{"channel":"book","type":"update","data":[{"symbol":"A/B","bids":[{"price":-1,"qty":1}]}]}"#,
        r#"{"channel":"book","type":"update","data":[{"symbol":"A/B","bids":[{"price":1.5,"qty":true}]}]}"#,
        r#"{"channel":"book","type":"update","data":[{"symbol":"A/B","checksum":4294967296}]}"#,
        r#"{"channel":"book","type":"update","data":[{"symbol":"","bids":[]}]}"#,
        r#"{"channel":"book","type":"update","data":[{"symbol":"A/B","timestamp":"yesterday"}]}"#,
        r#"{"channel":"instrument","type":"snapshot","data":{"pairs":[{"symbol":"X/Y","price_precision":40,"qty_precision":8}]}}"#,
        r#"{"channel":"book","type":"update","data":[{"symbol":"A/B"},{"symbol":"C/D","asks":[{"price":"x","qty":1}]}]}"#,
    ];
    for frame in cases {
        let mut out = Vec::new();
        assert!(
            decode_frame(frame, Timestamp(0), &mut out).is_err(),
            "{frame}"
        );
        assert!(out.is_empty(), "partial events left behind for {frame}");
    }
}

#[test]
fn every_fixture_frame_decodes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/kraken-fixtures");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let mut book_messages = 0;
    let mut files = 0;
    for fx in manifest["fixtures"].as_array().unwrap() {
        if fx["api"] != "v2" {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(dir.join(fx["file"].as_str().unwrap())).unwrap();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let mut out = Vec::new();
            decode_frame(line, Timestamp(0), &mut out)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", fx["file"], n + 1));
            book_messages += out
                .iter()
                .filter(|e| matches!(&e.kind, EventKind::BookSnapshot(b) | EventKind::BookUpdate(b) if b.checksum.is_some()))
                .count();
        }
    }
    assert_eq!(files, 18);
    assert_eq!(
        book_messages, 5318,
        "every checksummed book message of the fixtures"
    );
}

#[test]
fn the_instrument_snapshot_fixture_gives_precisions() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/kraken-fixtures/other-channels/kraken-data-recorder__instrument_snapshot_20240403.json");
    let text = std::fs::read_to_string(path).unwrap();
    let events = decode(&text).unwrap();
    assert!(events.len() > 100, "{} pairs", events.len());
    let btc = events
        .iter()
        .find(|e| e.symbol.unwrap().as_str() == "BTC/USD")
        .unwrap();
    assert_eq!(
        btc.kind,
        EventKind::Instrument(InstrumentInfo {
            price_precision: 1,
            qty_precision: 8
        })
    );
}

#[test]
fn fast_path_agrees_with_the_general_path_on_every_fixture_frame() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/kraken-fixtures");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let (mut book_frames, mut fast) = (0, 0);
    for fx in manifest["fixtures"].as_array().unwrap() {
        if fx["api"] != "v2" {
            continue;
        }
        let text = std::fs::read_to_string(dir.join(fx["file"].as_str().unwrap())).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut general = Vec::new();
            let want = decode_general(line, Timestamp(3), &mut general);
            // Each of the fast path's two readings on its own, then both as decode_frame
            // runs them: whatever they accept, they decode exactly as the general path.
            let mut accepted = [false; 3];
            for (way, ok) in accepted.iter_mut().enumerate() {
                let mut quick = Vec::new();
                *ok = match way {
                    0 => {
                        crate::kraken::fast::decode_book_with(line, true, Timestamp(3), &mut quick)
                    }
                    1 => {
                        crate::kraken::fast::decode_book_with(line, false, Timestamp(3), &mut quick)
                    }
                    _ => crate::kraken::fast::decode_book(line, Timestamp(3), &mut quick),
                }
                .is_some();
                if *ok {
                    assert!(
                        want.is_ok(),
                        "fast path {way} accepted what the general path refuses: {line}"
                    );
                    assert_eq!(quick, general, "way {way}: {line}");
                }
            }
            assert_eq!(
                accepted[0], accepted[1],
                "Kraken's layout is both ways: {line}"
            );
            if accepted[2] {
                fast += 1;
            }
            if general.iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::BookSnapshot(_) | EventKind::BookUpdate(_)
                )
            }) {
                book_frames += 1;
            }
        }
    }
    // Only the re-serialised frame with sorted keys (data before channel) takes the slow path.
    assert_eq!(
        fast,
        book_frames - 1,
        "book frames decoded by the fast path"
    );
}

#[test]
fn fast_path_steps_aside_for_unusual_layouts_and_errors() {
    let frames = [
        // Unknown key, whitespace, data before channel, escapes, a bad number, trailing junk.
        r#"{"channel":"book","type":"update","data":[{"symbol":"A/B","bids":[],"asks":[],"checksum":1,"extra":true}]}"#,
        r#" { "channel" : "book" , "type" : "update" , "data" : [ { "symbol" : "A/B" , "bids" : [ { "price" : 1.5 , "qty" : 2 } ] } ] } "#,
        r#"{"data":[{"symbol":"A/B","bids":[{"price":1.5,"qty":2}]}],"channel":"book","type":"snapshot"}"#,
        r#"{"channel":"book","type":"update","data":[{"symbol":"A\/B","bids":[]}]}"#,
        r#"{"channel":"book","type":"update","data":[{"symbol":"A/B","bids":[{"price":1.5.5,"qty":2}]}]}"#,
        r#"{"channel":"book","type":"update","data":[{"symbol":"A/B","bids":[]}]} x"#,
        r#"{"channel":"book","type":"update","data":[{"symbol":"A/B","bids":[{"price":1,"qty":2}],"checksum":4294967296}]}"#,
        // Leading zeros are not JSON (found by the differential fuzzer).
        r#"{"channel":"book","type":"snapshot","data":[{"symbol":"A/B","bids":[{"price":06564.9,"qty":1}],"asks":[],"checksum":1}]}"#,
        r#"{"channel":"book","type":"snapshot","data":[{"symbol":"A/B","bids":[],"asks":[],"checksum":01}]}"#,
        // A raw control character inside a string is not JSON.
        "{\"channel\":\"book\",\"type\":\"update\",\"data\":[{\"symbol\":\"\u{1}A/B\",\"bids\":[],\"asks\":[],\"checksum\":1}]}",
        // Repeated keys: serde refuses them, so the fast path must not pick one.
        r#"{"channel":"book","type":"update","data":[{"symbol":"A/B","asks":[{"price":1,"qty":2}],"asks":[],"checksum":1}]}"#,
        r#"{"channel":"book","type":"update","type":"snapshot","data":[{"symbol":"A/B","bids":[],"asks":[],"checksum":1}]}"#,
        r#"{"channel":"book","type":"update","data":[{"symbol":"A/B","bids":[{"price":1,"price":2,"qty":2}],"asks":[]}]}"#,
    ];
    for frame in frames {
        let mut general = Vec::new();
        let want = decode_general(frame, Timestamp(0), &mut general);
        let mut got = Vec::new();
        let result = decode_frame(frame, Timestamp(0), &mut got);
        assert_eq!(result.is_ok(), want.is_ok(), "{frame}");
        assert_eq!(got, general, "{frame}");
    }
}
