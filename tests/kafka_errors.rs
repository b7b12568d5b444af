//! Each way the `kafka` sink can be misconfigured or cut off gives a clear message: brokers
//! unreachable at start (the sink waits on its full queue, then everything flows once they
//! come; with `on_full: drop` it drops and counts instead), a missing topic, a record over
//! the size limit, an unknown librdkafka property, a missing `${NAME}`; and a secret never
//! shows in the log.

mod common;

use std::time::Duration;

use common::cli::{kobe, summary};
use common::kafka::{assert_exactly_once_in_order, write_frames, write_pipeline};
use common::process::Running;
use common::tansu::{free_port, Reader, Tansu};

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn unreachable_brokers_at_start_are_reported_then_everything_flows_when_they_come() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let input = write_frames(dir.path(), 1000);
    let pipeline = write_pipeline(
        dir.path(),
        "late",
        &input,
        3,
        &format!(
            "brokers: [127.0.0.1:{port}]\ntopic: late\nflush_timeout_ms: 60000\ncreate_topic: {{partitions: 2}}\n\
             librdkafka: {{queue.buffering.max.messages: 100}}"
        ),
    );
    let run = Running::start(&pipeline, dir.path(), "info", &[]);
    run.wait_for_log(
        &format!("kafka brokers 127.0.0.1:{port} unreachable at start"),
        MINUTE,
    );
    let broker = Tansu::start_on(port);
    let (status, _) = run.wait(Duration::from_secs(90));
    let log = run.stderr_text();
    assert!(status.success(), "{log}");
    assert!(log.contains("kafka brokers answer again"), "{log}");
    // The queue holds 100: the sink waited (backpressure) rather than drop anything.
    let report = summary(log.as_bytes());
    assert_eq!(report["sinks"]["kafka"]["written"], 3000, "{report}");
    assert!(
        report["sinks"]["kafka"]["not_written"].is_null(),
        "{report}"
    );
    let mut reader = Reader::new(&broker.brokers(), "late", 2);
    reader
        .read_until(3000, MINUTE)
        .read_quiet(Duration::from_secs(1));
    assert_eq!(assert_exactly_once_in_order(&reader.records), 3000);
}

#[test]
fn a_missing_topic_without_create_topic_stops_with_its_name() {
    let broker = Tansu::start();
    let dir = tempfile::tempdir().unwrap();
    let input = write_frames(dir.path(), 10);
    let pipeline = write_pipeline(
        dir.path(),
        "missing",
        &input,
        1,
        &format!("brokers: [{}]\ntopic: nowhere", broker.brokers()),
    );
    let out = kobe(&["run", pipeline.to_str().unwrap()], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(
            "topic nowhere does not exist on brokers {}: create it, or set create_topic",
            broker.brokers()
        )),
        "{err}"
    );
}

#[test]
fn a_record_over_the_size_limit_stops_with_the_topic_and_the_cause() {
    let broker = Tansu::start();
    broker.create_topic("small", 1);
    let dir = tempfile::tempdir().unwrap();
    let input = write_frames(dir.path(), 1000);
    // Snapshots of the deeper fixtures are several kilobytes.
    let pipeline = write_pipeline(
        dir.path(),
        "small",
        &input,
        1,
        &format!(
            "brokers: [{}]\ntopic: small\nlibrdkafka: {{message.max.bytes: 1000}}",
            broker.brokers()
        ),
    );
    let out = kobe(&["run", pipeline.to_str().unwrap()], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("record to topic small refused by the producer")
            && err.contains("larger than the broker's or the producer's message.max.bytes")
            && err.contains("on_delivery_failure: stop"),
        "{err}"
    );
}

#[test]
fn an_unknown_librdkafka_property_is_a_located_validate_error() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("p.yaml");
    std::fs::write(
        &pipeline,
        "source: {type: replay, path: in.ndjson}\nsinks:\n  k:\n    type: kafka\n    brokers: [localhost:9092]\n    topic: t\n    librdkafka:\n      no.such.property: 1\n      linger.ms: 3\n",
    )
    .unwrap();
    let out = kobe(&["validate", pipeline.to_str().unwrap()], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("p.yaml:8:25: sinks.k.librdkafka.no.such.property: librdkafka refuses it: No such configuration property: \"no.such.property\""),
        "{err}"
    );
    assert!(
        err.contains("sinks.k.librdkafka.linger.ms: set through the `linger_ms` option"),
        "{err}"
    );
}

#[test]
fn a_missing_variable_is_a_located_validate_error() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("p.yaml");
    std::fs::write(
        &pipeline,
        "source: {type: replay, path: in.ndjson}\nsinks:\n  k:\n    type: kafka\n    brokers: [\"${KOBE_TEST_NO_SUCH_BROKERS}\"]\n    topic: t\n",
    )
    .unwrap();
    let out = kobe(&["validate", pipeline.to_str().unwrap()], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("p.yaml:5:15: sinks.k.brokers[0]: environment variable KOBE_TEST_NO_SUCH_BROKERS is not set"),
        "{err}"
    );
}

#[test]
fn a_secret_from_the_environment_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_frames(dir.path(), 10);
    let pipeline = write_pipeline(
        dir.path(),
        "secret",
        &input,
        1,
        &format!(
            "brokers: [127.0.0.1:{}]\ntopic: t\ndelivery_timeout_ms: 1500\nflush_timeout_ms: 3000\n\
             librdkafka: {{security.protocol: SASL_PLAINTEXT, sasl.mechanism: PLAIN, \
             sasl.username: kobe, sasl.password: \"${{KOBE_TEST_PASSWORD}}\"}}",
            free_port()
        ),
    );
    let secret = "hunter2-very-secret";
    let run = Running::start(
        &pipeline,
        dir.path(),
        "debug",
        &[("KOBE_TEST_PASSWORD", secret)],
    );
    let (status, _) = run.wait(MINUTE);
    let log = run.stderr_text();
    assert!(!status.success(), "nothing could be delivered:\n{log}");
    assert!(log.contains("not delivered"), "{log}");
    assert!(!log.contains(secret), "the password leaked:\n{log}");
}

#[test]
fn on_full_drop_drops_and_counts_every_record_it_could_not_queue() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_frames(dir.path(), 1000);
    let pipeline = write_pipeline(
        dir.path(),
        "drop",
        &input,
        1,
        &format!(
            "brokers: [127.0.0.1:{}]\ntopic: t\non_full: drop\ndelivery_timeout_ms: 1000\n\
             flush_timeout_ms: 2000\nlibrdkafka: {{queue.buffering.max.messages: 100}}",
            free_port()
        ),
    );
    let out = kobe(&["run", pipeline.to_str().unwrap()], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "nothing could be delivered:\n{err}");
    let report = summary(&out.stderr);
    let kafka = &report["sinks"]["kafka"];
    let written = kafka["written"].as_u64().unwrap();
    let dropped = kafka["not_written"]["dropped_queue_full"].as_u64().unwrap();
    assert!(written <= 100 && written > 0, "{kafka}");
    assert_eq!(
        written + dropped,
        1000,
        "every record queued or dropped: {kafka}"
    );
    assert_eq!(kafka["topics"]["t"]["dropped"], dropped, "{kafka}");
    assert_eq!(kafka["undelivered"], written, "{kafka}");
    assert_eq!(report["accounting"]["ok"], true, "{report}");
}
