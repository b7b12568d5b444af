//! The `kafka` sink when the broker misbehaves mid-run (a real Tansu broker): frozen, killed
//! and restarted empty, frozen at shutdown. Every test ends with a SIGTERM mid-run.

mod common;

use std::time::Duration;

use common::cli::summary;
use common::kafka::{assert_exactly_once_in_order, seqs_by_symbol, write_frames, write_pipeline};
use common::process::Running;
use common::tansu::{Reader, Tansu};

const MINUTE: Duration = Duration::from_secs(60);

/// The sink's accepted records, from the summary of a run that ended well.
fn accepted(run: &Running) -> u64 {
    let text = run.stderr_text();
    summary(text.as_bytes())["sinks"]["kafka"]["written"]
        .as_u64()
        .unwrap_or_else(|| panic!("no kafka records in the summary:\n{text}"))
}

#[test]
fn a_frozen_broker_delays_but_every_record_arrives_once_in_order() {
    let broker = Tansu::start();
    broker.create_topic("frozen", 3);
    let dir = tempfile::tempdir().unwrap();
    let input = write_frames(dir.path(), 1000);
    let pipeline = write_pipeline(
        dir.path(),
        "frozen",
        &input,
        10_000,
        &format!(
            "brokers: [{}]\ntopic: frozen\npool_size: 2\nlinger_ms: 5\nflush_timeout_ms: 30000",
            broker.brokers()
        ),
    );
    let run = Running::start(&pipeline, dir.path(), "info", &[]);
    let mut reader = Reader::new(&broker.brokers(), "frozen", 3);
    reader.read_until(5_000, MINUTE);

    broker.freeze();
    // The fault itself: the broker stays frozen for five seconds.
    std::thread::sleep(Duration::from_secs(5));
    broker.thaw();

    // Records flow again, then a SIGTERM mid-run with the broker up: everything accepted is
    // delivered before exit.
    let resumed = reader.records.len() + 20_000;
    reader.read_until(resumed, MINUTE);
    run.terminate();
    let (status, _) = run.wait(MINUTE);
    let log = run.stderr_text();
    assert!(status.success(), "{log}");
    assert!(
        !log.contains("replacing the producer"),
        "a freeze is not a lost broker:\n{log}"
    );
    let n = accepted(&run);
    reader
        .read_until(n as usize, MINUTE)
        .read_quiet(Duration::from_secs(2));
    assert_eq!(
        reader.records.len() as u64,
        n,
        "exactly the accepted records"
    );
    assert_eq!(assert_exactly_once_in_order(&reader.records), n);
}

#[test]
fn a_broker_restarted_empty_gets_every_record_from_the_kill_on() {
    let mut broker = Tansu::start();
    let dir = tempfile::tempdir().unwrap();
    let input = write_frames(dir.path(), 1000);
    let pipeline = write_pipeline(
        dir.path(),
        "restart",
        &input,
        10_000,
        &format!(
            "brokers: [{}]\ntopic: restart\npool_size: 2\nlinger_ms: 5\nstall_timeout_ms: 2000\n\
             flush_timeout_ms: 30000\ncreate_topic: {{partitions: 3}}",
            broker.brokers()
        ),
    );
    let run = Running::start(&pipeline, dir.path(), "info", &[]);
    Reader::new(&broker.brokers(), "restart", 3).read_until(5_000, MINUTE);

    broker.restart_empty();
    // kobe recreates the topic, replaces the producers the new broker does not know, resends
    // what they held, and goes on.
    let mut reader = Reader::new(&broker.brokers(), "restart", 3);
    if let Err(e) = reader.try_read_until(20_000, Duration::from_secs(90)) {
        panic!("{e}; kobe's log:\n{}", run.stderr_text());
    }
    run.terminate();
    let (status, _) = run.wait(MINUTE);
    let log = run.stderr_text();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("created topic"),
        "the topic was recreated:\n{log}"
    );
    assert!(
        log.contains("undelivered records resent"),
        "the outage shows:\n{log}"
    );
    let report = summary(log.as_bytes());
    assert!(
        report["sinks"]["kafka"]["resent"].as_u64().unwrap() > 0,
        "resends are counted: {report}"
    );
    assert_eq!(report["accounting"]["ok"], true, "{report}");
    let n = accepted(&run);

    // Every symbol: from its first record on the new broker to its last accepted one, no
    // gap and nothing out of order (a record in flight at the kill may come twice).
    reader.read_quiet(Duration::from_secs(3));
    let mut last_total = 0;
    for (symbol, seqs) in seqs_by_symbol(&reader.records) {
        let mut expect = seqs[0];
        for &seq in &seqs {
            assert!(
                seq <= expect,
                "{symbol}: seq {seq} where {expect} was due (a gap)"
            );
            if seq == expect {
                expect += 1;
            }
        }
        last_total += expect - 1;
    }
    assert_eq!(last_total, n, "every symbol's last accepted record arrived");
}

#[test]
fn sigterm_with_the_broker_frozen_exits_in_time_and_reports_the_undelivered() {
    let broker = Tansu::start();
    broker.create_topic("stuck", 2);
    let dir = tempfile::tempdir().unwrap();
    let input = write_frames(dir.path(), 1000);
    let pipeline = write_pipeline(
        dir.path(),
        "stuck",
        &input,
        10_000,
        &format!(
            "brokers: [{}]\ntopic: stuck\nlinger_ms: 5\nflush_timeout_ms: 3000",
            broker.brokers()
        ),
    );
    let run = Running::start(&pipeline, dir.path(), "info", &[]);
    Reader::new(&broker.brokers(), "stuck", 2).read_until(5_000, MINUTE);
    broker.freeze();
    run.terminate();
    let (status, took) = run.wait(MINUTE);
    broker.thaw();
    let log = run.stderr_text();
    assert!(
        !status.success(),
        "undelivered records make the exit non-zero:\n{log}"
    );
    assert!(
        took <= Duration::from_millis(3000 + 2000),
        "exit took {took:?}, more than flush_timeout_ms + 2 s:\n{log}"
    );
    assert!(log.contains("undelivered records: stuck: "), "{log}");
    let report = summary(log.as_bytes());
    let kafka = &report["sinks"]["kafka"];
    assert!(kafka["undelivered"].as_u64().unwrap() > 0, "{kafka}");
    assert_eq!(report["accounting"]["ok"], true, "{report}");
}
