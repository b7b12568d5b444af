//! Inputs and checks shared by the Kafka tests: replay inputs of real book frames, pipelines
//! with a `kafka` sink, and reading `symbol`/`seq` back out of records.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::tansu::Consumed;
use super::v2_fixtures;

/// Book frames holding exactly one book message each, from every v2 fixture, up to `limit`,
/// taken from the files in turn so that many symbols are mixed.
pub fn book_frames(limit: usize) -> Vec<String> {
    let mut files: Vec<std::vec::IntoIter<String>> = Vec::new();
    for (path, _) in v2_fixtures() {
        let frames: Vec<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter(|line| {
                serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
                    v["channel"] == "book" && v["data"].as_array().is_some_and(|d| d.len() == 1)
                })
            })
            .map(str::to_string)
            .collect();
        files.push(frames.into_iter());
    }
    let mut out = Vec::with_capacity(limit);
    while out.len() < limit {
        let before = out.len();
        for file in &mut files {
            if let Some(f) = file.next() {
                out.push(f);
                if out.len() == limit {
                    break;
                }
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

/// Writes `frames` book frames to `dir/frames.ndjson`; returns the path.
pub fn write_frames(dir: &Path, frames: usize) -> PathBuf {
    let frames = book_frames(frames);
    let input = dir.join("frames.ndjson");
    std::fs::write(&input, frames.join("\n") + "\n").unwrap();
    input
}

/// A pipeline file `dir/NAME.yaml`: a replay of `input` played `repeat` times through
/// `passthrough` into one `kafka` sink `kafka` with the book events and `options` (YAML lines
/// indented for the sink, `brokers` and `topic` included).
pub fn write_pipeline(dir: &Path, name: &str, input: &Path, repeat: u32, options: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    let mut yaml = format!(
        "source:\n  type: replay\n  path: {input:?}\n  repeat: {repeat}\nhandlers:\n  - type: passthrough\n\
         sinks:\n  kafka:\n    type: kafka\n    events: [book_snapshot, book_update]\n"
    );
    for line in options.lines().filter(|l| !l.trim().is_empty()) {
        yaml.push_str("    ");
        yaml.push_str(line.trim_start());
        yaml.push('\n');
    }
    std::fs::write(&path, yaml).unwrap();
    path
}

/// The `symbol` and `seq` of a JSON record, read without a full parse.
pub fn symbol_and_seq(record: &[u8]) -> (String, u64) {
    let text = std::str::from_utf8(record).unwrap();
    let sym_at = text.find("\"symbol\":\"").unwrap() + 10;
    let sym_end = sym_at + text[sym_at..].find('"').unwrap();
    let seq_at = text.find("\"seq\":").unwrap() + 6;
    let seq_len = text[seq_at..].find(|c: char| !c.is_ascii_digit()).unwrap();
    (
        text[sym_at..sym_end].to_string(),
        text[seq_at..seq_at + seq_len].parse().unwrap(),
    )
}

/// Each symbol's seqs in the order consumed.
pub fn seqs_by_symbol(records: &[Consumed]) -> HashMap<String, Vec<u64>> {
    let mut by: HashMap<String, Vec<u64>> = HashMap::new();
    for r in records {
        let (symbol, seq) = symbol_and_seq(&r.payload);
        by.entry(symbol).or_default().push(seq);
    }
    by
}

/// Checks that every symbol's records arrived exactly once and in order: `1, 2, ... n`
/// (every event of the test inputs is a record). Returns the total.
pub fn assert_exactly_once_in_order(records: &[Consumed]) -> u64 {
    let mut total = 0;
    for (symbol, seqs) in seqs_by_symbol(records) {
        let n = seqs.len() as u64;
        for (i, seq) in seqs.iter().enumerate() {
            assert_eq!(
                *seq,
                i as u64 + 1,
                "{symbol}: record {i} has seq {seq} (a gap, a duplicate or out of order)"
            );
        }
        total += n;
    }
    total
}
