//! Loading pipeline files: the layers (file, environment, `--set`), the model, and every error
//! reported with its location, its component path and what is wrong.

mod pipeline_support;

use kobe_core::event::{EventFilter, EventType};
use kobe_core::pipeline::{load, EnvSource, Origin};
use pipeline_support::{errors, load as load_text, load_with, registry};

const GOOD: &str = "\
source:
  type: dummy
  path: in.ndjson
  book: {depth: 25}
handlers:
  - type: noop
  - type: check
    on_mismatch: ignore
sinks:
  zed: {type: mem, path: z}
  out:
    type: mem
    path: out.ndjson
    events: [book_update, book_reset]
";

#[test]
fn a_good_file_becomes_the_pipeline_it_describes() {
    let p = load_text(GOOD).unwrap();
    assert_eq!(p.source_type, "dummy");
    let source = format!("{:?}", p.source);
    assert!(source.contains("path: \"in.ndjson\""), "{source}");
    assert!(source.contains("depth: 25"), "{source}");
    assert!(source.contains("count: 100"), "defaults apply: {source}");
    let handlers: Vec<(&str, &str)> = p
        .handlers
        .iter()
        .map(|h| (h.path.as_str(), h.type_name.as_str()))
        .collect();
    assert_eq!(
        handlers,
        [("handlers[0]", "noop"), ("handlers[1]", "check")]
    );
    assert!(format!("{:?}", p.handlers[1].config).contains("Ignore"));
    let sinks: Vec<&str> = p.sinks.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(sinks, ["out", "zed"], "sinks in key order");
    assert_eq!(
        p.sinks[0].filter,
        EventFilter::of(&[EventType::BookUpdate, EventType::BookReset])
    );
    assert_eq!(
        p.sinks[1].filter,
        EventFilter::of(&[EventType::BookSnapshot]),
        "no `events:` means the sink's default"
    );
    assert_eq!(p.engine, Default::default());
    assert_eq!(p.metrics, None);
}

#[test]
fn engine_and_metrics_sections() {
    let text =
        format!("{GOOD}engine: {{workers: auto, batch_size: 64}}\nmetrics: {{addr: ':2112'}}\n");
    let p = load_text(&text).unwrap();
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(p.engine.workers, cpus);
    assert_eq!(p.engine.batch_size, 64);
    assert_eq!(p.engine.channel_capacity, 16);
    assert_eq!(
        p.metrics.unwrap().addr,
        "0.0.0.0:2112".parse::<std::net::SocketAddr>().unwrap()
    );
    let p = load_text(&format!("{GOOD}engine: {{workers: 3}}\n")).unwrap();
    assert_eq!(p.engine.workers, 3);
}

#[test]
fn every_error_of_a_file_is_reported_with_line_column_and_path() {
    let text = "\
source: {type: dummy, path: x, count: lots, colour: red}
handlers:
  - type: check
    on_mismatch: maybe
  - {type: nope}
sinks:
  out: {type: mem, path: 1}
  bad: {type: kafka}
";
    assert_eq!(
        errors(load_text(text)),
        [
            "t.yaml:1:39: source.count: expected an integer, found a string (\"lots\")",
            "t.yaml:1:45: source.colour: unknown field `colour`; expected one of: path, count, pace, book, precision",
            "t.yaml:4:18: handlers[0].on_mismatch: unknown value `maybe`; expected one of: resync, ignore",
            "t.yaml:5:12: handlers[1].type: unknown handler type `nope`; known handler types: check, noop",
            "t.yaml:7:26: sinks.out.path: expected a string, found an integer (1)",
            "t.yaml:8:15: sinks.bad.type: unknown sink type `kafka`; known sink types: mem",
        ]
    );
}

#[test]
fn validate_rules_run_and_are_located_under_the_component() {
    let text = "\
source:
  type: dummy
  path: x
  count: 5000
  precision:
    BTC/USD: 30
  book:
    depth: 0
sinks:
  out: {type: mem, path: x, pool_size: 0}
";
    assert_eq!(
        errors(load_text(text)),
        [
            "t.yaml:4:10: source.count: must be at most 1000",
            "t.yaml:6:14: source.precision.BTC/USD: at most 18 decimals",
            "t.yaml:8:12: source.book.depth: must be at least 1",
            "t.yaml:10:40: sinks.out.pool_size: must be at least 1",
        ]
    );
}

#[test]
fn missing_required_fields_and_types_name_what_is_missing() {
    let text = "source:\n  type: dummy\nsinks:\n  out:\n    pool_size: 2\n";
    assert_eq!(
        errors(load_text(text)),
        [
            "t.yaml:1:1: source.path: missing required field `path`",
            "t.yaml:4:3: sinks.out.type: missing `type:`; the sink types are: mem",
        ]
    );
}

#[test]
fn structural_problems() {
    assert_eq!(
        errors(load_text("")),
        ["t.yaml: the pipeline is empty: it needs a `source:` and at least one sink under `sinks:`"]
    );
    assert_eq!(
        errors(load_text("source: {type: dummy, path: x}\nsinks: {}\nextra: 1\n")),
        [
            "t.yaml:2:1: sinks: a pipeline needs at least one sink under `sinks:` (id: {type: ...}); types: mem",
            "t.yaml:3:1: extra: unknown section `extra`; expected one of: source, handlers, sinks, engine, metrics",
        ]
    );
    assert_eq!(
        errors(load_text(
            "sinks: {out: {type: mem, path: x}}\nhandlers: {type: noop}\n"
        )),
        [
            "t.yaml:1:1: source: missing `source:`; a pipeline has exactly one (types: dummy)",
            "t.yaml:2:11: handlers: expected a list of handlers, found a map",
        ]
    );
    assert_eq!(
        errors(load_text("- a\n- b\n")),
        ["t.yaml:1:1: a pipeline file is a map (source:, handlers:, sinks:), found a list"]
    );
}

#[test]
fn yaml_syntax_errors_and_duplicate_keys_are_located() {
    let bad = errors(load_text("source:\n  type: [dummy\nsinks: {}\n"));
    assert_eq!(bad.len(), 1);
    assert!(bad[0].starts_with("t.yaml:"), "{bad:?}");
    assert!(bad[0].contains("invalid YAML"), "{bad:?}");
    assert_eq!(
        errors(load_text(
            "source: {type: dummy, path: x}\nsinks:\n  out: {type: mem, path: a, path: b}\nsource: {type: dummy, path: y}\n"
        )),
        [
            "t.yaml:3:29: sinks.out.path: duplicate key (first given at line 3, column 20)",
            "t.yaml:4:1: source: duplicate key (first given at line 1, column 1)",
        ]
    );
}

#[test]
fn engine_and_metrics_errors() {
    let text = format!(
        "{GOOD}engine: {{workers: many, batch_size: 0, threads: 2}}\nmetrics: {{addr: 'localhost:2112'}}\n"
    );
    assert_eq!(
        errors(load_text(&text)),
        [
            "t.yaml:15:19: engine.workers: expected `auto` or a number of workers, found a string (\"many\")",
            "t.yaml:15:37: engine.batch_size: must be at least 1",
            "t.yaml:15:40: engine.threads: unknown field `threads`; expected one of: workers, batch_size, channel_capacity",
            "t.yaml:16:17: metrics.addr: `localhost:2112` is not a socket address; expected IP:PORT such as 127.0.0.1:2112, or :PORT for every interface",
        ]
    );
}

#[test]
fn sink_event_filters_are_checked() {
    let text = "source: {type: dummy, path: x}\nsinks:\n  out: {type: mem, path: x, events: [book_update, bogus]}\n";
    let bad = errors(load_text(text));
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0].starts_with("t.yaml:3:51: sinks.out.events[1]: unknown value `bogus`; expected one of: book_snapshot, book_update,"),
        "{bad:?}"
    );
}

#[test]
fn environment_overrides_the_file_and_its_errors_name_the_variable() {
    let p = load_with(
        GOOD,
        &[],
        &[
            ("KOBE_SINKS__OUT__PATH", "/tmp/x.ndjson"),
            ("KOBE_HANDLERS__1__ON_MISMATCH", "resync"),
            ("KOBE_ENGINE__WORKERS", "2"),
            ("KOBE_LOG", "debug"),
        ],
    )
    .unwrap();
    let out = format!("{:?}", p.sinks[0].config);
    assert!(out.contains("path: \"/tmp/x.ndjson\""), "{out}");
    assert!(format!("{:?}", p.handlers[1].config).contains("Resync"));
    assert_eq!(p.engine.workers, 2);
    assert_eq!(p.handlers.len(), 2, "one list item changed, the list kept");

    assert_eq!(
        errors(load_with(GOOD, &[], &[("KOBE_SINKS__OUT__POOL_SIZE", "many")])),
        ["env KOBE_SINKS__OUT__POOL_SIZE: sinks.out.pool_size: expected an integer, found a string (\"many\")"]
    );
}

#[test]
fn set_overrides_win_over_environment_and_file() {
    let p = load_with(
        GOOD,
        &[
            "sinks.out.path=/from/set",
            "handlers[1].on_mismatch=resync",
            "source.book.depth=100",
        ],
        &[("KOBE_SINKS__OUT__PATH", "/from/env")],
    )
    .unwrap();
    assert!(format!("{:?}", p.sinks[0].config).contains("/from/set"));
    assert!(format!("{:?}", p.handlers[1].config).contains("Resync"));
    assert!(format!("{:?}", p.source).contains("depth: 100"));

    assert_eq!(
        errors(load_with(
            GOOD,
            &["sinks.out.colour=red", "handlers[7].type=noop", "nothing", "engine.workers=-1"],
            &[]
        )),
        [
            "--set nothing: expected PATH=VALUE (like sinks.out.path=/tmp/out.ndjson)",
            "--set handlers[7].type: handlers[7]: no such item: the list has 2",
            "--set sinks.out.colour: sinks.out.colour: unknown field `colour`; expected one of: path, pool_size",
            "--set engine.workers: engine.workers: expected `auto` or a number of workers, found a negative number",
        ]
    );
}

#[test]
fn set_can_replace_a_whole_list() {
    let p = load_with(GOOD, &["handlers=[{type: check}]"], &[]).unwrap();
    assert_eq!(p.handlers.len(), 1);
    assert_eq!(p.handlers[0].type_name, "check");
}

#[test]
fn yaml_one_one_booleans_stay_strings() {
    let text = "source: {type: dummy, path: no}\nsinks: {out: {type: mem, path: on}}\n";
    let p = load_text(text).unwrap();
    assert!(format!("{:?}", p.source).contains("path: \"no\""));
}

#[test]
fn load_reads_the_file_and_reports_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, GOOD).unwrap();
    let env = EnvSource::Map(Default::default());
    assert!(load(&path, &[], &env, &registry()).is_ok());
    let missing = dir.path().join("missing.yaml");
    let err = load(&missing, &[], &env, &registry()).unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(matches!(
        err.list()[0].origin,
        Origin::File { at: None, .. }
    ));
    assert!(err.to_string().contains("cannot read the pipeline file"));
}

#[test]
fn an_override_that_puts_a_map_where_the_file_has_a_scalar_is_blamed() {
    let errs = errors(load_with(GOOD, &["sinks.out.path.deeper=x"], &[]));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("--set sinks.out.path.deeper: sinks.out.path: "),
        "{errs:?}"
    );
    let errs = errors(load_with(
        GOOD,
        &[],
        &[("KOBE_SINKS__OUT__PATH__DEEPER", "x")],
    ));
    assert!(
        errs[0].starts_with("env KOBE_SINKS__OUT__PATH__DEEPER: sinks.out.path: "),
        "{errs:?}"
    );
}

#[test]
fn an_oversized_pipeline_file_is_refused_up_front_with_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yaml");
    // A valid pipeline followed by 4 MB of comments: only the size is wrong.
    let mut text = GOOD.to_string();
    let filler = format!("# {}\n", "x".repeat(98));
    text.push_str(&filler.repeat(40_000));
    std::fs::write(&path, &text).unwrap();
    let env = EnvSource::Map(Default::default());
    let started = std::time::Instant::now();
    let err = load(&path, &[], &env, &registry()).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "is {} bytes, over the limit of 262144 bytes",
            text.len()
        )),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "refused before parsing"
    );
    // The same through the text entry point.
    let err = errors(load_with(&text, &[], &[]));
    assert!(err[0].contains("over the limit of 262144 bytes"), "{err:?}");
}
