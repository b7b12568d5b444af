//! SDK plugins linked in as built-ins pass the same conformance harness as every built-in
//! handler and sink (kobe_core::testing).

use kobe_core::testing::{check_handler, check_sink};
use kobe_core::{HandlerConfig, SinkConfig};
use kobe_plugin_host::{LinkedHandlerConfig, LinkedSinkConfig};
use kobe_plugin_imbalance::Imbalance;
use kobe_plugin_spread::Spread;
use kobe_test_plugin_faulty::{Faulty, FaultySink};

fn handler<H: kobe_plugin_sdk::Handler>(config: serde_json::Value) -> LinkedHandlerConfig<H> {
    serde_json::from_value(serde_json::json!({ "config": config })).unwrap()
}

#[test]
fn linked_handlers_pass_the_handler_harness() {
    let spread = handler::<Spread>(serde_json::json!({}));
    assert!(spread.validate().is_empty());
    check_handler(&spread).unwrap();
    let imbalance = handler::<Imbalance>(serde_json::json!({"levels": 5}));
    check_handler(&imbalance).unwrap();
    // Emits after every event: the harness still finds every event, in order.
    check_handler(&handler::<Faulty>(serde_json::json!({}))).unwrap();
}

#[test]
fn a_rejected_config_is_reported_under_config() {
    let bad = handler::<Imbalance>(serde_json::json!({"levels": 0, "extra": 1}));
    let errors = bad.validate();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "config.extra");
    assert!(
        errors[0].message.contains("unknown field `extra`"),
        "{errors:?}"
    );
    let bad = handler::<Imbalance>(serde_json::json!({"levels": 0}));
    assert_eq!(bad.validate()[0].path, "config.levels");
    assert!(bad.build().is_err());
}

#[tokio::test]
async fn a_linked_sink_passes_the_sink_harness_off_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.ndjson");
    let sink: LinkedSinkConfig<FaultySink> =
        serde_json::from_value(serde_json::json!({"config": {"path": path}})).unwrap();
    assert!(sink.validate().is_empty());
    check_sink(&sink).await.unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.lines().count() > 3);
    for line in written.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}
