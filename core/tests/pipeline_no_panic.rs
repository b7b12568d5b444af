//! Whatever the text of a pipeline file and its overrides, loading returns a pipeline or
//! located errors; it never panics.

mod pipeline_support;

use proptest::prelude::*;

#[rustfmt::skip]
const TOKENS: &[&str] = &[
    "source", "sinks", "handlers", "engine", "metrics", "type", "dummy", "mem", "check", "noop",
    "path", "count", "pace", "book", "depth", "precision", "BTC/USD", "events", "book_update",
    "workers", "auto", "addr", ":2112", ":", ": ", "- ", "\n", "\n  ", "\n    ", "[", "]", "{",
    "}", ",", "&a ", "*a", "<<: ", "'", "\"", "#", "~", "null", "-1", "0", "7", "1e3", "true",
    "!!str ", "? ", "|\n  x", "---\n", "...\n", "\t", "é", "0x1F",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics(yaml in text(), set in text(), env in text()) {
        let set = format!("{}={}", set.replace('\n', "."), env);
        let _ = pipeline_support::load_with(
            &yaml,
            &[set.as_str(), "sinks.out.path=x"],
            &[("KOBE_SOURCE__PATH", env.as_str()), ("KOBE_HANDLERS__0__TYPE", "noop")],
        )
        .map_err(|d| {
            // Every problem names where it came from.
            assert!(!d.is_empty());
            d.to_string()
        });
    }

    #[test]
    fn good_files_with_noise_in_values_never_panic(value in text()) {
        let yaml = format!(
            "source: {{type: dummy, path: x, count: {value}}}\nsinks:\n  out: {{type: mem, path: {value}}}\n"
        );
        let _ = pipeline_support::load(&yaml);
    }
}
