//! Arbitrary bytes as Kraken frames (one per line) through the decoder and the book handlers
//! (snapshot -> update -> checksum), with the books checked against their invariants and a
//! naive checksum after every batch. Nothing may panic; the books must stay well-formed; and
//! every frame decodes exactly as the plain serde path decodes it.
#![no_main]

use std::collections::HashMap;

use kobe_core::book::BookStore;
use kobe_core::kraken::decode::{decode_frame, decode_general};
use kobe_core::{EventBatch, Handler, HandlerConfig, HandlerContext, Timestamp};
use kobe_plugins::checksum::ChecksumConfig;
use kobe_plugins::snapshot::SnapshotConfig;
use kobe_plugins::update::UpdateConfig;
use libfuzzer_sys::fuzz_target;

fn naive_checksum(book: &kobe_core::book::OrderBook) -> u32 {
    let digits = |d: kobe_core::Decimal| {
        d.to_string()
            .replace('.', "")
            .trim_start_matches('0')
            .to_string()
    };
    let mut s = String::new();
    for l in book.asks().take(10).chain(book.bids().take(10)) {
        s += &digits(l.price);
        s += &digits(l.qty);
    }
    crc32fast::hash(s.as_bytes())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, frames)) = data.split_first() else {
        return;
    };
    // The first byte picks the batch size: frames per batch, 1 to 8 (its low three bits).
    let per_batch = usize::from(mode % 8) + 1;
    let mut books = BookStore::new(10, &HashMap::new());
    let mut control = Vec::new();
    let mut chain: Vec<Box<dyn Handler>> = vec![
        SnapshotConfig::default().build().unwrap(),
        UpdateConfig { top: Some(3) }.build().unwrap(),
        ChecksumConfig::default().build().unwrap(),
    ];
    let lines: Vec<&[u8]> = frames.split(|b| *b == b'\n').collect();
    for chunk in lines.chunks(per_batch) {
        let mut batch = EventBatch::default();
        for line in chunk {
            let Ok(text) = std::str::from_utf8(line) else {
                continue;
            };
            let before = batch.events.len();
            let fast = decode_frame(text, Timestamp(0), &mut batch.events);
            // Differential: whatever the decoder accepts, the plain serde path decodes the same.
            let mut general = Vec::new();
            if decode_general(text, Timestamp(0), &mut general).is_ok() || fast.is_ok() {
                assert_eq!(&batch.events[before..], &general[..], "{text}");
            }
        }
        let mut cx = HandlerContext::new(&mut books, &mut control, 0, 1);
        cx.now = Timestamp(0);
        // Bit 3 of the first byte plays a source that cannot resync (a replay).
        cx.can_resync = mode & 8 == 0;
        for h in &mut chain {
            h.process(&mut batch, &mut cx).unwrap();
        }
        let symbols: Vec<_> = books.iter().map(|(s, _)| *s).collect();
        for s in symbols {
            let state = books.entry(s);
            let Some(book) = state.book.as_mut() else {
                continue;
            };
            let (nb, na) = book.len();
            assert!(nb <= book.depth() && na <= book.depth());
            let bids: Vec<_> = book.bids().collect();
            let asks: Vec<_> = book.asks().collect();
            assert!(bids
                .windows(2)
                .all(|w| w[0].price.mantissa() > w[1].price.mantissa()));
            assert!(asks
                .windows(2)
                .all(|w| w[0].price.mantissa() < w[1].price.mantissa()));
            assert!(bids.iter().chain(&asks).all(|l| !l.qty.is_zero()));
            let want = naive_checksum(book);
            assert_eq!(book.checksum(), want);
        }
    }
});
