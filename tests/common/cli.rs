//! Running the real `kobe` binary from tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The path of the built `kobe` binary.
pub fn kobe_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kobe")
}

/// Runs `kobe ARGS...` to completion with `KOBE_*` variables cleared.
pub fn kobe(args: &[&str], dir: &Path) -> Output {
    let mut cmd = Command::new(kobe_bin());
    cmd.args(args).current_dir(dir).env("KOBE_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("KOBE_") && k != "KOBE_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("kobe runs")
}

/// The JSON of the `kobe: summary {...}` line `kobe run` prints on standard error.
pub fn summary(stderr: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("kobe: summary "))
        .unwrap_or_else(|| panic!("no summary line in:\n{text}"));
    serde_json::from_str(line).expect("summary is JSON")
}
