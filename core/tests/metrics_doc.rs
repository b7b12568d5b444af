//! docs/METRICS.md's reference table is generated from the catalog in `kobe_core::metrics`;
//! this test fails when they differ. `KOBE_BLESS=1 cargo test -p kobe-core --test
//! metrics_doc` rewrites the table.

use kobe_core::metrics::catalog;

const START: &str = "<!-- metrics-table:start (generated from core/src/metrics/catalog.rs) -->\n";
const END: &str = "<!-- metrics-table:end -->";

#[test]
fn metrics_md_table_matches_the_catalog() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/METRICS.md");
    let doc = std::fs::read_to_string(&path).expect("docs/METRICS.md exists");
    let (Some(a), Some(b)) = (doc.find(START), doc.find(END)) else {
        panic!("docs/METRICS.md lacks the table markers");
    };
    let current = &doc[a + START.len()..b];
    let wanted = catalog::markdown_table();
    if current != wanted {
        if std::env::var_os("KOBE_BLESS").is_some() {
            let new = format!("{}{START}{wanted}{}", &doc[..a], &doc[b..]);
            std::fs::write(&path, new).unwrap();
            return;
        }
        panic!("docs/METRICS.md's table differs from the catalog; run KOBE_BLESS=1 cargo test -p kobe-core --test metrics_doc\n--- wanted ---\n{wanted}");
    }
}

#[test]
fn names_are_unique_and_prometheus_shaped() {
    let mut seen = std::collections::HashSet::new();
    for m in catalog::CATALOG {
        assert!(seen.insert(m.name), "{} listed twice", m.name);
        assert!(
            m.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{}",
            m.name
        );
        if m.kind == catalog::MetricKind::Counter {
            assert!(
                m.name.ends_with("_total"),
                "counter {} ends in _total",
                m.name
            );
        }
    }
}
