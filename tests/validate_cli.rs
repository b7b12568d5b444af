//! `kobe validate` on the real binary: every broken pipeline in tests/broken/ is rejected with
//! exit status 1 and its specific located message; every file in pipelines/ passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kobe_core::component::ComponentKind;
use kobe_core::registry::Registry;

/// The names of `kind` the binary offers (messages list them; they grow as types land).
fn known(kind: ComponentKind) -> String {
    let mut registry = Registry::new();
    kobe_core::replay::register(&mut registry);
    kobe_plugins::register(&mut registry);
    kobe_sinks::register(&mut registry);
    kobe_plugin_host::register(&mut registry);
    kobe_plugin_host::register_handler::<kobe_plugin_spread::Spread>(&mut registry);
    kobe_plugin_host::register_handler::<kobe_plugin_imbalance::Imbalance>(&mut registry);
    kobe_plugin_host::register_sink::<kobe_plugin_redis_streams::RedisStreams>(&mut registry);
    registry.names(kind).join(", ")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `kobe ARGS...` in tests/ with only the given `KOBE_` variables.
fn kobe(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kobe"));
    cmd.args(args).current_dir(root().join("tests"));
    for (k, _) in std::env::vars() {
        if k.starts_with("KOBE_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("kobe runs")
}

/// Asserts that validating `file` fails with exactly `expected` as its problem lines.
fn rejects<S: AsRef<str> + std::fmt::Debug>(
    file: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    expected: &[S],
) {
    let path = format!("broken/{file}");
    let mut args = vec!["validate", path.as_str()];
    args.extend_from_slice(extra);
    let out = kobe(&args, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{file}: {stderr}");
    assert!(!stderr.contains("panicked"), "{file}: {stderr}");
    assert!(out.stdout.is_empty(), "{file}: nothing is OK");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("error: "))
        .collect();
    let expected: Vec<&str> = expected.iter().map(|s| s.as_ref()).collect();
    assert_eq!(lines, expected, "{file}");
    assert!(
        stderr
            .lines()
            .last()
            .unwrap_or("")
            .starts_with("error: 1 of 1 pipeline file is invalid"),
        "{stderr}"
    );
}

#[test]
fn bad_yaml_syntax() {
    rejects(
        "syntax.yaml",
        &[],
        &[],
        &["broken/syntax.yaml:6:6: invalid YAML: illegal placement of ':' indicator"],
    );
}

#[test]
fn unknown_component_type_lists_the_known_ones() {
    rejects(
        "unknown_type.yaml",
        &[],
        &[],
        &[&format!(
            "broken/unknown_type.yaml:5:11: sinks.out.type: unknown sink type `s3`; known sink types: {}",
            known(ComponentKind::Sink)
        )],
    );
}

#[test]
fn wrong_value_type() {
    rejects(
        "wrong_value_type.yaml",
        &[],
        &[],
        &["broken/wrong_value_type.yaml:7:19: sinks.out.rotate_bytes: expected an integer, found a string (\"one gigabyte\")"],
    );
}

#[test]
fn missing_required_field() {
    rejects(
        "missing_field.yaml",
        &[],
        &[],
        &["broken/missing_field.yaml:4:3: sinks.out.path: missing required field `path`"],
    );
}

#[test]
fn unknown_field_names_the_expected_ones() {
    rejects(
        "unknown_field.yaml",
        &[],
        &[],
        &["broken/unknown_field.yaml:7:5: sinks.console.colour: unknown field `colour`; expected one of: format"],
    );
}

#[test]
fn duplicate_key() {
    rejects(
        "duplicate_key.yaml",
        &[],
        &[],
        &["broken/duplicate_key.yaml:5:3: source.path: duplicate key (first given at line 4, column 3)"],
    );
}

#[test]
fn empty_pipeline() {
    rejects(
        "empty.yaml",
        &[],
        &[],
        &["broken/empty.yaml: the pipeline is empty: it needs a `source:` and at least one sink under `sinks:`"],
    );
}

#[test]
fn bad_metrics_socket_address() {
    rejects(
        "bad_metrics_addr.yaml",
        &[],
        &[],
        &["broken/bad_metrics_addr.yaml:6:9: metrics.addr: `localhost` is not a socket address; expected IP:PORT such as 127.0.0.1:2112, or :PORT for every interface"],
    );
}

#[test]
fn bad_enum_value_lists_the_values() {
    rejects(
        "bad_enum.yaml",
        &[],
        &[],
        &["broken/bad_enum.yaml:5:9: source.pace: unknown value `slow`; expected one of: fast, recorded"],
    );
}

#[test]
fn nested_error_inside_a_sink() {
    rejects(
        "nested_sink_error.yaml",
        &[],
        &[],
        &["broken/nested_sink_error.yaml:9:9: sinks.out.events[1]: unknown value `book_updates`; expected one of: book_snapshot, book_update, book_top, checksum_mismatch, book_reset, status, heartbeat, instrument, subscription_ack, subscription_error, raw, plugin"],
    );
}

#[test]
fn nested_error_inside_the_source() {
    rejects(
        "bad_precision.yaml",
        &[],
        &[],
        &["broken/bad_precision.yaml:6:18: source.precision.BTC/USD[1]: expected an integer, found a string (\"many\")"],
    );
}

#[test]
fn environment_override_with_a_bad_value_names_the_variable() {
    rejects(
        "env_override.yaml",
        &[],
        &[("KOBE_SINKS__OUT__ROTATE_BYTES", "big")],
        &["env KOBE_SINKS__OUT__ROTATE_BYTES: sinks.out.rotate_bytes: expected an integer, found a string (\"big\")"],
    );
}

#[test]
fn set_to_an_unknown_path_names_the_override() {
    rejects(
        "set_override.yaml",
        &["--set", "sinks.out.colour=red", "--set", "logging.level=debug"],
        &[],
        &[
            "--set logging.level: logging: unknown section `logging`; expected one of: source, handlers, sinks, engine, metrics",
            "--set sinks.out.colour: sinks.out.colour: unknown field `colour`; expected one of: format",
        ],
    );
}

#[test]
fn every_error_of_a_file_at_once() {
    rejects(
        "many_errors.yaml",
        &[],
        &[],
        &[
            "broken/many_errors.yaml:5:10: source.depth: 7 is not a Kraken book depth; expected one of 10, 25, 100, 500, 1000",
            "broken/many_errors.yaml:6:11: source.repeat: must be at least 1",
            &format!(
                "broken/many_errors.yaml:9:11: handlers[1].type: unknown handler type `snapshotter`; known handler types: {}",
                known(ComponentKind::Handler)
            ),
            "broken/many_errors.yaml:14:24: sinks.out.flush_interval_ms: must be at least 1",
            "broken/many_errors.yaml:16:12: engine.workers: expected `auto` or a number of workers, found a string (\"lots\")",
        ],
    );
}

#[test]
fn a_list_is_not_a_pipeline() {
    rejects(
        "not_a_map.yaml",
        &[],
        &[],
        &["broken/not_a_map.yaml:1:1: a pipeline file is a map (source:, handlers:, sinks:), found a list"],
    );
}

#[test]
fn a_pipeline_needs_a_sink() {
    rejects(
        "no_sinks.yaml",
        &[],
        &[],
        &[&format!(
            "broken/no_sinks.yaml:3:1: sinks: a pipeline needs at least one sink under `sinks:` (id: {{type: ...}}); types: {}",
            known(ComponentKind::Sink)
        )],
    );
}

#[test]
fn every_broken_file_has_a_test() {
    let src = include_str!("validate_cli.rs");
    for entry in std::fs::read_dir(root().join("tests/broken")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            src.contains(&format!("\"{name}\"")),
            "tests/broken/{name} is not checked here"
        );
    }
}

fn pipeline_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("pipelines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_pipeline_is_valid() {
    let files = pipeline_files();
    assert!(!files.is_empty());
    let args: Vec<&str> = std::iter::once("validate")
        .chain(files.iter().map(|p| p.to_str().unwrap()))
        .collect();
    let out = kobe(&args, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), files.len(), "{stdout}");
    assert!(stdout.lines().all(|l| l.contains(": OK (")), "{stdout}");
}

#[test]
fn good_and_bad_files_together_report_each_and_fail() {
    let good = pipeline_files().remove(0);
    let out = kobe(
        &[
            "validate",
            good.to_str().unwrap(),
            "broken/bad_enum.yaml",
            "broken/empty.yaml",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains(": OK ("), "{stdout}");
    assert!(
        stderr.contains("broken/bad_enum.yaml:5:9: source.pace"),
        "{stderr}"
    );
    assert!(
        stderr.contains("broken/empty.yaml: the pipeline is empty"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: 2 of 3 pipeline files are invalid"),
        "{stderr}"
    );
}

#[test]
fn set_overrides_make_a_file_valid_for_this_run() {
    let out = kobe(
        &[
            "validate",
            "broken/missing_field.yaml",
            "--set",
            "sinks.out.path=/tmp/x.ndjson",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn plugins_lists_every_type_with_its_options() {
    let out = kobe(&["plugins"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "replay",
        "passthrough",
        "stdout",
        "file",
        "rotate_bytes",
        "required",
        "fast|recorded",
    ] {
        assert!(text.contains(needle), "no {needle} in:\n{text}");
    }
    let one = kobe(&["plugins", "file"], &[]);
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(
        text.contains("flush_interval_ms") && !text.contains("replay"),
        "{text}"
    );
    let none = kobe(&["plugins", "nope"], &[]);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("known: "));
}

#[test]
fn plugins_documents_the_metrics_section() {
    let out = kobe(&["plugins", "metrics"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("metrics —") && text.contains("addr") && text.contains("for every interface"),
        "{text}"
    );
    let all = kobe(&["plugins"], &[]);
    assert!(String::from_utf8_lossy(&all.stdout).contains("/health and /ready"));
}
