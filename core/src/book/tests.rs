use super::*;
use crate::event::{Event, EventKind};
use crate::kraken::decode::decode_frame;
use crate::time::Timestamp;

fn lv(p: &str, q: &str) -> Level {
    Level {
        price: Decimal::parse(p).unwrap(),
        qty: Decimal::parse(q).unwrap(),
    }
}

fn text(levels: impl Iterator<Item = Level>) -> Vec<String> {
    levels.map(|l| format!("{}@{}", l.price, l.qty)).collect()
}

fn crc_of(s: &str) -> u32 {
    crc32fast::hash(s.as_bytes())
}

#[test]
fn kraken_documented_example_gives_3310070434() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/kraken-fixtures/kraken-docs__book-checksum-v2-example.ndjson"
    );
    let file = std::fs::read_to_string(path).unwrap();
    // Bare numbers, then the same frame with string numbers.
    for line in file.lines() {
        let mut events = Vec::new();
        decode_frame(line, Timestamp(0), &mut events).unwrap();
        let Event {
            kind: EventKind::BookSnapshot(mut data),
            ..
        } = events.remove(0)
        else {
            panic!("not a snapshot")
        };
        let mut book = OrderBook::new(10, 1, 8);
        book.apply_snapshot(&mut data.bids, &mut data.asks).unwrap();
        assert_eq!(book.checksum(), 3310070434);
        assert_eq!(data.checksum, Some(3310070434));
    }
}

#[test]
fn thin_book_checksums_only_the_levels_it_has() {
    let mut book = OrderBook::new(10, 1, 8);
    book.apply_snapshot(
        &mut [lv("100.0", "1.00000000")],
        &mut [lv("100.5", "0.00100000")],
    )
    .unwrap();
    // asks first, then bids; "0.00100000" -> 100000 (leading zeros stripped).
    assert_eq!(
        book.checksum(),
        crc_of(concat!("1005100000", "1000100000000"))
    );
}

#[test]
fn update_rules_delete_unknown_repeat_and_truncate() {
    let mut book = OrderBook::new(3, 1, 2);
    book.apply_snapshot(
        &mut [lv("10.0", "1.00"), lv("9.0", "1.00"), lv("8.0", "1.00")],
        &mut [lv("11.0", "1.00"), lv("12.0", "1.00")],
    )
    .unwrap();
    book.apply_update(
        &mut [
            lv("7.5", "0.00"),  // unknown price: no-op
            lv("9.5", "2.00"),  // pushes 8.0 out of depth 3 ...
            lv("9.5", "3.00"),  // ... and repeats: last wins
            lv("10.0", "0.00"), // delete: 8.0 must not come back (it was truncated after)
        ],
        &mut [lv("13.0", "1.00")],
    )
    .unwrap();
    // Truncation happens after the whole message: 8.0 is still there when 10.0 goes.
    assert_eq!(text(book.bids()), ["9.5@3.00", "9.0@1.00", "8.0@1.00"]);
    assert_eq!(text(book.asks()), ["11.0@1.00", "12.0@1.00", "13.0@1.00"]);
    book.apply_update(&mut [lv("20.0", "1.00")], &mut [])
        .unwrap();
    // A crossing bid is kept: the book is never uncrossed mid-message (or at all).
    assert_eq!(text(book.bids()), ["20.0@1.00", "9.5@3.00", "9.0@1.00"]);
}

#[test]
fn levels_are_rescaled_in_place_and_refused_when_too_precise() {
    let mut book = OrderBook::new(10, 1, 8);
    let mut bids = [lv("45283.5", "0.1"), lv("45283.4", "5.325e-05")];
    book.apply_snapshot(&mut bids, &mut []).unwrap();
    assert_eq!(bids[0].qty.to_string(), "0.10000000");
    assert_eq!(bids[1].qty.to_string(), "0.00005325");
    let before = book.checksum();
    let err = book
        .apply_update(&mut [lv("1.0", "1.0"), lv("45283.55", "1.0")], &mut [])
        .unwrap_err();
    assert!(matches!(err, BookError::Precision { .. }));
    // Refused as a whole: the first (valid) level did not go in either.
    assert_eq!(book.len(), (2, 0));
    assert_eq!(book.checksum(), before);
}

#[test]
fn depth_1000_keeps_1000_and_checksums_the_top_10() {
    let mut book = OrderBook::new(1000, 0, 0);
    let mut bids: Vec<Level> = (1..=1200).map(|p| lv(&p.to_string(), "1")).collect();
    let mut asks: Vec<Level> = (2000..3200).map(|p| lv(&p.to_string(), "2")).collect();
    book.apply_snapshot(&mut bids, &mut asks).unwrap();
    assert_eq!(book.len(), (1000, 1000));
    assert_eq!(book.bids().next().unwrap().price.to_string(), "1200");
    assert_eq!(book.bids().last().unwrap().price.to_string(), "201");
    assert_eq!(book.asks().last().unwrap().price.to_string(), "2999");
    let mut expected = String::new();
    for p in 2000..2010 {
        expected += &format!("{p}2");
    }
    for p in (1191..=1200).rev() {
        expected += &format!("{p}1");
    }
    assert_eq!(book.checksum(), crc_of(&expected));
}

#[test]
fn checksum_cache_follows_inserts_and_deletes_in_the_top() {
    let mut book = OrderBook::new(25, 0, 0);
    let mut asks: Vec<Level> = (100..125).map(|p| lv(&p.to_string(), "1")).collect();
    book.apply_snapshot(&mut [], &mut asks).unwrap();
    book.checksum();
    book.apply_update(
        &mut [],
        &mut [lv("99", "5"), lv("103", "0"), lv("104", "7")],
    )
    .unwrap();
    let expected: String = [99, 100, 101, 102, 104, 105, 106, 107, 108, 109]
        .iter()
        .map(|&p| {
            format!(
                "{p}{}",
                if p == 99 {
                    5
                } else if p == 104 {
                    7
                } else {
                    1
                }
            )
        })
        .collect();
    assert_eq!(book.checksum(), crc_of(&expected));
}
