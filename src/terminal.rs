//! The live terminal: a status line (books valid/total, messages/s, end-to-end p99,
//! mismatches, sink queues) while a pipeline runs, a progress bar with ETA for a replay of a
//! file, and a readable summary at the end. Only on a terminal: nothing of it appears when
//! standard error is not a TTY, or with `--quiet`. Log lines are written above the bar.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kobe_core::metrics::{StatusSnapshot, Telemetry};
use kobe_core::pipeline::RunReport;
use tokio_util::sync::CancellationToken;

static QUIET: AtomicBool = AtomicBool::new(false);
/// The bar being shown, so log lines can be printed above it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// `--quiet`: no status line, progress bar or readable summary.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether the live display is on: standard error is a terminal and `--quiet` is not given.
pub fn enabled() -> bool {
    !QUIET.load(Ordering::Relaxed) && std::io::stderr().is_terminal()
}

/// A log writer that lifts the bar out of the way of each line.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// The live display of one run.
pub struct Live {
    bar: ProgressBar,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    started: Instant,
    telemetry: Telemetry,
}

/// Starts the display when [`enabled`]: a progress bar over `input_size` bytes of replay, or
/// a spinner, with the status as its message.
pub fn start(telemetry: &Telemetry, input_size: Option<u64>) -> Option<Live> {
    if !enabled() {
        return None;
    }
    let bar = match input_size {
        Some(total) => {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {percent:>3}% ETA {eta:>4} │ {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("█▌ "),
            );
            bar
        }
        None => {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner:.green} {elapsed} │ {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        }
    };
    *BAR.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
    let stop = CancellationToken::new();
    let task = tokio::spawn(refresh(
        bar.clone(),
        telemetry.clone(),
        input_size.is_some(),
        stop.clone(),
    ));
    Some(Live {
        bar,
        stop,
        task,
        started: Instant::now(),
        telemetry: telemetry.clone(),
    })
}

async fn refresh(bar: ProgressBar, telemetry: Telemetry, replay: bool, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last = (Instant::now(), 0u64);
    let mut rate = 0.0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let s = telemetry.status();
        let now = Instant::now();
        let dt = now.duration_since(last.0).as_secs_f64();
        if dt >= 1.0 {
            rate = s.messages.saturating_sub(last.1) as f64 / dt;
            last = (now, s.messages);
        }
        if replay {
            bar.set_position(kobe_core::replay::bytes_read());
        } else {
            bar.tick();
        }
        bar.set_message(status_line(&s, rate));
    }
}

/// `books 2/2 valid │ 1.2k msg/s │ e2e p99 0.26 ms │ mismatches 0 │ queue out 0/16`.
pub fn status_line(s: &StatusSnapshot, rate: f64) -> String {
    let p99 = match s.e2e_p99 {
        Some(v) if v < 1.0 => format!("{:.2} ms", v * 1e3),
        Some(v) => format!("{v:.2} s"),
        None => "–".into(),
    };
    let mut line = format!(
        "books {}/{} valid │ {} msg/s │ e2e p99 {p99} │ mismatches {}",
        s.books_valid,
        s.books_total,
        human(rate),
        s.mismatches
    );
    for (sink, used, cap) in &s.sink_queues {
        line.push_str(&format!(" │ queue {sink} {used}/{cap}"));
    }
    line
}

fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

impl Live {
    /// Clears the display and prints the readable summary of `report`.
    pub async fn finish(self, report: Option<&RunReport>) {
        self.stop.cancel();
        let _ = self.task.await;
        let s = self.telemetry.status();
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        // The final state stays on screen (a forced draw), the summary goes below it.
        self.bar
            .finish_with_message(status_line(&s, s.messages as f64 / elapsed));
        *BAR.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let mut out = format!(
            "kobe: done in {:.1} s │ books {}/{} valid │ {} exchange messages │ mismatches {} │ resets {} │ e2e p99 {}\n",
            elapsed,
            s.books_valid,
            s.books_total,
            s.messages,
            s.mismatches,
            s.resets,
            s.e2e_p99
                .map(|v| format!("{:.2} ms", v * 1e3))
                .unwrap_or_else(|| "–".into())
        );
        if let Some(r) = report {
            out.push_str(&format!(
                "  source: {} frames, {} events ({} malformed)\n",
                r.source.frames, r.source.events, r.source.malformed
            ));
            for (id, sink) in &r.sinks {
                out.push_str(&format!(
                    "  sink {id}: {} written, {} filtered out, {} bytes\n",
                    sink.written, sink.filtered_out, sink.bytes
                ));
            }
            out.push_str(&format!(
                "  accounting: {}\n",
                if r.accounting.ok {
                    "every frame and event accounted for"
                } else {
                    "IDENTITIES DO NOT HOLD (see the JSON summary)"
                }
            ));
        }
        let _ = std::io::stderr().write_all(out.as_bytes());
    }
}
