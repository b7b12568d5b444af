//! A `kobe run` kept running in the background: signalled, and waited for with a time limit.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::cli::kobe_bin;

/// A running `kobe` command; its standard output and error go to files.
pub struct Running {
    pid: u32,
    done: mpsc::Receiver<ExitStatus>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    /// Starts `kobe run pipeline` in `dir` with `KOBE_LOG=log` and extra `env`.
    pub fn start(pipeline: &Path, dir: &Path, log: &str, env: &[(&str, &str)]) -> Self {
        let name = pipeline.file_stem().unwrap().to_string_lossy().to_string();
        Self::spawn(&name, &["run", pipeline.to_str().unwrap()], dir, log, env)
    }

    /// Starts `kobe ARGS...` in `dir` (its output files named after `name`).
    pub fn spawn(name: &str, args: &[&str], dir: &Path, log: &str, env: &[(&str, &str)]) -> Self {
        let stdout = dir.join(format!("kobe-{name}.stdout"));
        let stderr = dir.join(format!("kobe-{name}.stderr"));
        let mut cmd = Command::new(kobe_bin());
        cmd.args(args)
            .current_dir(dir)
            .env("KOBE_LOG", log)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (k, _) in std::env::vars() {
            if k.starts_with("KOBE_") && k != "KOBE_LOG" {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("kobe starts");
        let pid = child.id();
        let (tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = tx.send(status);
            }
        });
        Self {
            pid,
            done,
            stdout,
            stderr,
        }
    }

    /// Everything it wrote on standard output so far.
    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Sends SIGTERM (a graceful shutdown).
    pub fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "kill -TERM {}: kobe had already exited; its log:\n{}",
            self.pid,
            self.stderr_text()
        );
    }

    /// Waits for the exit, at most `limit`; returns the status and how long it took.
    pub fn wait(&self, limit: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        match self.done.recv_timeout(limit) {
            Ok(status) => (status, start.elapsed()),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &self.pid.to_string()])
                    .status();
                panic!(
                    "kobe did not exit within {limit:?}; its log:\n{}",
                    self.stderr_text()
                );
            }
        }
    }

    /// Everything it wrote on standard error so far.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until its standard error contains `needle`, at most `limit` (the log line is the
    /// readiness signal).
    pub fn wait_for_log(&self, needle: &str, limit: Duration) {
        self.wait_for(needle, limit, Self::stderr_text)
    }

    /// Waits until its standard output contains `needle`, at most `limit`; returns it.
    pub fn wait_for_stdout(&self, needle: &str, limit: Duration) -> String {
        self.wait_for(needle, limit, Self::stdout_text);
        self.stdout_text()
    }

    fn wait_for(&self, needle: &str, limit: Duration, text: fn(&Self) -> String) {
        let start = Instant::now();
        while !text(self).contains(needle) {
            assert!(
                start.elapsed() < limit,
                "no {needle:?} in kobe's log within {limit:?}:\n{}",
                self.stderr_text()
            );
            if let Ok(status) = self.done.recv_timeout(Duration::from_millis(50)) {
                panic!(
                    "kobe exited ({status}) before logging {needle:?}:\n{}",
                    self.stderr_text()
                );
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}
