//! The benchmarks' input: every v2 fixture frame from `../shared/kraken-fixtures`, read at run
//! time.

use std::path::{Path, PathBuf};

/// The fixture folder beside the repository.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kraken-fixtures")
}

/// All v2 fixture frames, each file's symbols renamed (`BTC/USD` → `BTC/USD.3`) so files do not
/// share books, plus the precision hints for the renamed symbols.
pub fn corpus() -> (Vec<String>, serde_json::Map<String, serde_json::Value>) {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("manifest.json")).unwrap())
            .unwrap();
    let mut frames = Vec::new();
    let mut precision = serde_json::Map::new();
    for (i, fx) in manifest["fixtures"].as_array().unwrap().iter().enumerate() {
        if fx["api"] != "v2" {
            continue;
        }
        let text = std::fs::read_to_string(fixtures().join(fx["file"].as_str().unwrap())).unwrap();
        let symbols = fx["precision"].as_object().unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut line = line.to_string();
            for sym in symbols.keys() {
                line = line.replace(
                    &format!("\"symbol\":\"{sym}\""),
                    &format!("\"symbol\":\"{sym}.{i}\""),
                );
            }
            frames.push(line);
        }
        for (sym, p) in symbols {
            precision.insert(format!("{sym}.{i}"), p.clone());
        }
    }
    (frames, precision)
}
