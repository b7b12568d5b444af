//! The live terminal display of `kobe run`: under a pseudo-terminal (util-linux `script`) a
//! replay shows a progress bar with ETA and the status line, then a readable summary; piped,
//! or with `--quiet`, none of it appears (the JSON summary line always does).

mod common;

use std::process::Command;

fn pipeline(dir: &std::path::Path) -> std::path::PathBuf {
    let frames = common::fixtures().join("crossbook__kraken_btcusd_sample.ndjson");
    let file = dir.join("p.yaml");
    std::fs::write(
        &file,
        format!(
            "source:\n  type: replay\n  path: {}\n  repeat: 10\nhandlers:\n  - type: snapshot\n  - type: update\n  - type: checksum\nsinks:\n  out:\n    type: file\n    path: {}\n",
            frames.display(),
            dir.join("out.ndjson").display()
        ),
    )
    .unwrap();
    file
}

fn clean(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("RUST_LOG")
        .env_remove("KOBE_QUIET")
        .env_remove("KOBE_LOG_FORMAT")
        .env("KOBE_LOG", "info")
        .env("TERM", "xterm")
}

/// Runs `kobe ARGS run FILE` under a pseudo-terminal; returns what the terminal showed.
fn under_pty(extra: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path());
    let command = format!("{} {extra} run {}", common::cli::kobe_bin(), file.display());
    let out = clean(Command::new("script").args(["-qec", &command, "/dev/null"]))
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn a_terminal_shows_progress_status_and_a_summary() {
    let shown = under_pty("");
    for needle in [
        "ETA",
        "%",
        "books 1/1 valid",
        "msg/s",
        "e2e p99",
        "mismatches 0",
        "queue out",
        "kobe: done in",
        "sink out: ",
        "accounting: every frame and event accounted for",
        "kobe: summary {",
    ] {
        assert!(
            shown.contains(needle),
            "no {needle:?} on the terminal:\n{shown}"
        );
    }
}

#[test]
fn quiet_shows_none_of_it() {
    let shown = under_pty("--quiet");
    for needle in ["ETA", "msg/s", "kobe: done in"] {
        assert!(
            !shown.contains(needle),
            "{needle:?} shown with --quiet:\n{shown}"
        );
    }
    assert!(shown.contains("kobe: summary {"), "{shown}");
}

#[test]
fn piped_stderr_shows_none_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path());
    let out = clean(Command::new(common::cli::kobe_bin()).arg("run").arg(&file))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in ["ETA", "msg/s", "kobe: done in", "\u{1b}["] {
        assert!(!stderr.contains(needle), "{needle:?} on a pipe:\n{stderr}");
    }
    assert!(stderr.contains("kobe: summary {"), "{stderr}");
}
