//! `received_ts: exchange` makes a replay reproducible: two replays of a file give the same
//! events, each stamped with its frame's exchange time (the last one seen for frames without
//! one); the default stamps the time of reading.

mod kraken_support;

use kobe_core::event::EventKind;
use kobe_core::replay::ReceivedTs;
use kobe_core::Timestamp;
use kraken_support::replay_file_stamped;

#[tokio::test]
async fn exchange_stamps_are_reproducible() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../shared/kraken-fixtures/depthcharge__kraken_minagbp_d25_resync_20260818.ndjson",
    );
    let (first, report) = replay_file_stamped(&path, true, ReceivedTs::Exchange).await;
    let (second, _) = replay_file_stamped(&path, true, ReceivedTs::Exchange).await;
    assert!(report.events > 20);
    assert_eq!(first, second);
    let mut last = Timestamp(0);
    let mut without = 0;
    for e in first
        .iter()
        .filter(|e| !matches!(e.kind, EventKind::Raw(_)))
    {
        match e.exchange_ts {
            Some(ts) => last = ts,
            None => without += 1,
        }
        assert_eq!(e.received_ts, last, "{e:?}");
    }
    assert!(without > 0, "the file has frames without an exchange time");
    let (read, _) = replay_file_stamped(&path, true, ReceivedTs::Read).await;
    assert!(read
        .iter()
        .zip(&first)
        .all(|(r, x)| r.received_ts > x.received_ts));
}
