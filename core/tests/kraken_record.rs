//! `record` writes every frame verbatim, one per line; replaying the recording gives the same
//! events as the live run, and rebuilds the same books as the exchange's.

mod kraken_support;

use kobe_core::event::{Event, EventKind};
use kobe_core::kraken::decode::decode_frame;
use kobe_core::kraken::record::record;
use kobe_core::kraken::simulator::SimConfig;
use kobe_core::Timestamp;
use kraken_support::*;
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

/// What a record says, without the receive time (the only thing a replay cannot reproduce).
fn essence(events: &[Event]) -> Vec<(Option<kobe_core::Symbol>, Option<Timestamp>, EventKind)> {
    events
        .iter()
        .filter(|e| !matches!(e.kind, EventKind::Raw(_)))
        .map(|e| (e.symbol, e.exchange_ts, e.kind.clone()))
        .collect()
}

#[tokio::test]
async fn recording_replays_to_the_exchanges_books() {
    let (sim, _stop) = sim(SimConfig {
        symbols: 5,
        ..SimConfig::default()
    })
    .await;
    let s = syms(&["S000/USD", "S001/USD", "S002/USD"]);
    let (writer, reader) = tokio::io::duplex(1 << 16);
    let stop = CancellationToken::new();
    let cfg = fast(&sim.url(), &s, 25);
    let recording = tokio::spawn({
        let stop = stop.clone();
        async move { record(&cfg, writer, stop, None).await }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.ndjson");
    let mut file = Vec::new();
    let mut lines = tokio::io::BufReader::new(reader).lines();
    let mut books = Books::new(25);
    let mut paused = false;
    loop {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let mut events = Vec::new();
        decode_frame(&line, Timestamp(0), &mut events).unwrap();
        events.iter().for_each(|e| books.apply(e));
        file.extend_from_slice(line.as_bytes());
        file.push(b'\n');
        if !paused && sim.stats().updates >= 100 {
            sim.pause(true);
            paused = true;
        }
        if paused && books.equal_to_sim(&sim, &s, 25) {
            break;
        }
    }
    let expected: Vec<_> = s.iter().map(|x| sim.book(x, 25).unwrap()).collect();
    let same = |b: &Books| {
        s.iter().zip(&expected).all(|(x, e)| {
            b.books
                .get(x)
                .is_some_and(|a| a.bids().eq(e.bids()) && a.asks().eq(e.asks()))
        })
    };
    {}
    stop.cancel();
    while let Ok(Some(line)) = lines.next_line().await {
        file.extend_from_slice(line.as_bytes());
        file.push(b'\n');
    }
    let report = recording.await.unwrap().unwrap();
    assert_eq!(
        report.frames as usize,
        file.iter().filter(|&&b| b == b'\n').count()
    );
    std::fs::write(&path, &file).unwrap();

    let (events, report) = replay_file(&path, false).await;
    let malformed = report.malformed;
    assert_eq!(malformed, 0);
    let mut replayed = Books::new(25);
    events.iter().for_each(|e| replayed.apply(e));
    assert!(replayed.checked >= 100);
    assert!(replayed.mismatches.is_empty());
    assert!(
        same(&replayed),
        "the replayed books differ from the exchange's"
    );
}

#[tokio::test]
async fn replay_of_a_live_session_gives_the_same_records() {
    let (sim, _stop) = sim(SimConfig {
        symbols: 5,
        ..SimConfig::default()
    })
    .await;
    let s = syms(&["S000/USD", "S001/USD", "S002/USD"]);
    let mut run = start(&fast(&sim.url(), &s, 25), true).await;
    let mut books = Books::new(25);
    run.until(&mut books, |_, _| sim.stats().updates >= 100)
        .await;
    run.stop.cancel();
    run.seen.extend(run.pending.drain(..));
    while let Some(b) = run.rx.recv().await {
        run.seen.extend(b.events);
    }
    run.task.await.unwrap().unwrap();
    let mut file = Vec::new();
    for e in &run.seen {
        if let EventKind::Raw(frame) = &e.kind {
            file.extend_from_slice(frame);
            file.push(b'\n');
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.ndjson");
    std::fs::write(&path, &file).unwrap();
    let (replayed, report) = replay_file(&path, false).await;
    let malformed = report.malformed;
    assert_eq!(malformed, 0);
    let live = essence(&run.seen);
    assert!(
        live.iter()
            .filter(|e| matches!(e.2, EventKind::BookUpdate(_)))
            .count()
            >= 50
    );
    // The live source keeps instrument events of its own pairs only; the file has them all.
    let replayed: Vec<_> = essence(&replayed)
        .into_iter()
        .filter(|e| !matches!(e.2, EventKind::Instrument(_)) || e.0.is_some_and(|x| s.contains(&x)))
        .collect();
    if let Some(i) = replayed.iter().zip(&live).position(|(a, b)| a != b) {
        panic!(
            "record {i} differs:\nreplay {:?}\nlive   {:?}",
            replayed[i], live[i]
        );
    }
    assert_eq!(
        replayed.len(),
        live.len(),
        "last replayed: {:?}",
        replayed.last()
    );
}
