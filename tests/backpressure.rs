//! A slow sink next to a fast one: the source is held back by bounded channels (memory stays
//! bounded), nothing is dropped, and both sinks receive every event in order.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{pipeline, CountingSource, RecordingSink};
use kobe_core::pipeline::{run, EngineOptions};
use kobe_core::EventFilter;
use kobe_plugins::passthrough::PassthroughConfig;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_sink_slows_the_source_and_nothing_is_lost() {
    let sent = Arc::new(AtomicU64::new(0));
    let source = CountingSource {
        batches: 300,
        per_batch: 64,
        symbols: 1,
        sent: Arc::clone(&sent),
    };
    let slow = RecordingSink {
        delay: Duration::from_millis(1),
        source_sent: Some(Arc::clone(&sent)),
        ..RecordingSink::default()
    };
    let fast = RecordingSink::default();
    let capacity = 2;
    let p = pipeline(
        Box::new(source),
        vec![Box::new(PassthroughConfig {})],
        vec![
            ("slow", Box::new(slow.clone()), EventFilter::ALL),
            ("fast", Box::new(fast.clone()), EventFilter::ALL),
        ],
        EngineOptions {
            workers: 1,
            batch_size: 64,
            channel_capacity: capacity,
        },
    );
    let report = tokio::time::timeout(Duration::from_secs(60), run(p, CancellationToken::new()))
        .await
        .expect("pipeline finished")
        .expect("pipeline ran");

    let expected: Vec<i64> = (0..300 * 64).collect();
    assert_eq!(
        *slow.seen.lock().unwrap(),
        expected,
        "slow sink lost or reordered events"
    );
    assert_eq!(
        *fast.seen.lock().unwrap(),
        expected,
        "fast sink lost or reordered events"
    );
    assert_eq!(report.sinks["slow"].written, 300 * 64);
    assert_eq!(report.sinks["fast"].written, 300 * 64);

    // Batches in flight: source->worker channel, the worker's batch, worker->sink channel, the
    // sink's batch, plus the one being sent. Without backpressure the source would be ~300
    // batches ahead of the slow sink.
    let bound = 2 * capacity as u64 + 3;
    let lag = slow.max_lag.load(Ordering::SeqCst);
    assert!(
        lag <= bound,
        "source ran {lag} batches ahead of the slow sink (bound {bound})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_workers_keep_per_symbol_order() {
    let source = CountingSource {
        batches: 200,
        per_batch: 100,
        symbols: 7,
        sent: Arc::default(),
    };
    let sink = RecordingSink::default();
    let p = pipeline(
        Box::new(source),
        vec![Box::new(PassthroughConfig {})],
        vec![("out", Box::new(sink.clone()), EventFilter::ALL)],
        EngineOptions {
            workers: 3,
            batch_size: 100,
            channel_capacity: 4,
        },
    );
    tokio::time::timeout(Duration::from_secs(60), run(p, CancellationToken::new()))
        .await
        .expect("pipeline finished")
        .expect("pipeline ran");
    let seen = sink.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 20_000);
    for symbol in 0..7 {
        let mine: Vec<i64> = seen.iter().copied().filter(|n| n % 7 == symbol).collect();
        assert_eq!(mine.len(), (20_000 - symbol as usize).div_ceil(7));
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "symbol {symbol} reordered"
        );
    }
}
