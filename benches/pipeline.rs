//! The whole pipeline against typed decode-only, in one run, on the fixture corpus repeated to
//! at least a million frames:
//!
//! - pipeline: `replay` → `snapshot` → `update` → `checksum` → JSON records to a `file` sink,
//!   every checksum verified (the run fails if any mismatches);
//! - baseline: serde_json into borrowed structs with exact number text, on the same frames;
//! - the cost of each stage on one thread;
//! - weak scaling of the shard stage: 1 to (cores) workers, each with its own books, handler
//!   chain and copy of the corpus, as the engine's shard workers are.
//!
//! - metrics on against off: the same pipeline with the engine's telemetry recording into an
//!   OpenTelemetry Prometheus exporter that a thread scrapes every second, runs interleaved.
//!
//! `cargo bench --bench pipeline`. Environment: `KOBE_BENCH_ONLY=metrics` (only the metrics
//! comparison), `KOBE_BENCH_FRAMES` (frame count),
//! `KOBE_BENCH_WORKERS` (comma-separated worker counts for the pipeline, default `1,2`),
//! `KOBE_BENCH_THREADS` (runtime threads, default one per core), `KOBE_BENCH_PROFILE=1` (only
//! the pipeline, once, for `perf record`).

#[path = "common/corpus.rs"]
mod corpus;

use std::path::Path;
use std::time::{Duration, Instant};

use figment::value::Value;
use kobe_core::component::ComponentKind;
use kobe_core::metrics::{Exporter, Telemetry};
use kobe_core::pipeline::{run_with, EngineOptions, HandlerSpec, Pipeline, SinkSpec};
use kobe_core::registry::{AnyConfig, Registry};
use kobe_core::{EventFilter, EventType};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Frame<'a> {
    #[serde(borrow)]
    channel: Option<&'a str>,
    #[serde(borrow, rename = "type")]
    kind: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<Vec<Entry<'a>>>,
    #[serde(borrow)]
    method: Option<&'a str>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Entry<'a> {
    #[serde(borrow)]
    symbol: Option<&'a str>,
    #[serde(borrow, default)]
    bids: Vec<Lvl<'a>>,
    #[serde(borrow, default)]
    asks: Vec<Lvl<'a>>,
    checksum: Option<u32>,
    #[serde(borrow)]
    timestamp: Option<&'a str>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Lvl<'a> {
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
}

fn decode_only(frames: &[String], repeat: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..repeat {
        for f in frames {
            // The instrument frame's `data` is an object, not a list; count it as decoded.
            let parsed: Result<Frame<'_>, _> = serde_json::from_str(f);
            std::hint::black_box(&parsed);
        }
    }
    start.elapsed()
}

/// CPU seconds this process has used so far, all threads (`/proc/self/stat`, clock ticks of
/// 10 ms; the runs are long enough for that). Zero where unavailable.
fn process_cpu() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| f.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

fn component(
    registry: &Registry,
    kind: ComponentKind,
    name: &str,
    options: serde_json::Value,
) -> AnyConfig {
    registry
        .get(kind, name)
        .unwrap_or_else(|| panic!("{name} is not registered"))
        .parse(&Value::serialize(options).unwrap())
        .unwrap()
}

fn pipeline_run(
    registry: &Registry,
    corpus: &Path,
    precision: &serde_json::Map<String, serde_json::Value>,
    repeat: usize,
    workers: usize,
    out_dir: &Path,
    telemetry: Option<Telemetry>,
) -> (Duration, f64, u64, u64) {
    let AnyConfig::Source(source) = component(
        registry,
        ComponentKind::Source,
        "replay",
        serde_json::json!({"path": corpus, "repeat": repeat, "precision": precision}),
    ) else {
        unreachable!()
    };
    let handlers = ["snapshot", "update", "checksum"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let config = handler_config(registry, name);
            HandlerSpec {
                path: format!("handlers[{i}]"),
                type_name: name.to_string(),
                config,
            }
        })
        .collect();
    let records = out_dir.join(format!("records-{workers}.ndjson"));
    let mismatches = out_dir.join(format!("mismatches-{workers}.ndjson"));
    let _ = std::fs::remove_file(&records);
    let _ = std::fs::remove_file(&mismatches);
    let sink = |path: &Path, filter: EventFilter, id: &str| {
        let AnyConfig::Sink(config) = component(
            registry,
            ComponentKind::Sink,
            "file",
            serde_json::json!({"path": path}),
        ) else {
            unreachable!()
        };
        SinkSpec {
            id: id.into(),
            type_name: "file".into(),
            config,
            filter,
        }
    };
    let p = Pipeline {
        source_type: "replay".into(),
        source,
        handlers,
        sinks: vec![
            sink(
                &records,
                EventFilter::ALL.without(EventType::Raw),
                "records",
            ),
            sink(
                &mismatches,
                EventFilter::of(&[EventType::ChecksumMismatch]),
                "mismatches",
            ),
        ],
        engine: EngineOptions {
            workers,
            batch_size: 512,
            channel_capacity: 16,
        },
        metrics: None,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    // KOBE_BENCH_THREADS pins the runtime's thread count (default: one per core).
    if let Some(n) = std::env::var("KOBE_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        rt.worker_threads(n);
    }
    let rt = rt.enable_all().build().unwrap();
    let start = Instant::now();
    let cpu = process_cpu();
    let report = rt
        .block_on(run_with(p, CancellationToken::new(), telemetry))
        .unwrap();
    let elapsed = start.elapsed();
    let cpu = process_cpu() - cpu;
    let bad = std::fs::read_to_string(&mismatches)
        .unwrap()
        .lines()
        .count() as u64;
    let _ = std::fs::remove_file(&records);
    (elapsed, cpu, report.source.frames, bad)
}

/// The replay source's precision hints, as the book store takes them.
fn book_hints(
    precision: &serde_json::Map<String, serde_json::Value>,
) -> std::collections::HashMap<kobe_core::Symbol, kobe_core::event::InstrumentInfo> {
    precision
        .iter()
        .map(|(s, p)| {
            (
                kobe_core::Symbol::new(s).unwrap(),
                kobe_core::event::InstrumentInfo {
                    price_precision: p[0].as_u64().unwrap() as u8,
                    qty_precision: p[1].as_u64().unwrap() as u8,
                },
            )
        })
        .collect()
}

/// A fresh `snapshot` → `update` → `checksum` chain, as one shard worker has.
fn book_chain(registry: &Registry) -> Vec<Box<dyn kobe_core::Handler>> {
    ["snapshot", "update", "checksum"]
        .iter()
        .map(|name| handler_config(registry, name).build().unwrap())
        .collect()
}

/// The default options of handler `name`.
fn handler_config(registry: &Registry, name: &str) -> Box<dyn kobe_core::HandlerConfig> {
    let AnyConfig::Handler(config) = component(
        registry,
        ComponentKind::Handler,
        name,
        serde_json::json!({}),
    ) else {
        unreachable!()
    };
    config
}

/// Single-thread cost of each stage, cumulatively: decode, + book handlers, + JSON rendering.
fn stages(
    registry: &Registry,
    frames: &[String],
    precision: &serde_json::Map<String, serde_json::Value>,
    repeat: usize,
) -> [Duration; 3] {
    use kobe_core::book::BookStore;
    use kobe_core::kraken::decode::decode_frame;
    use kobe_core::record::RecordFormat;
    use kobe_core::{EventBatch, HandlerContext, Timestamp};

    let hints = book_hints(precision);
    let mut out = [Duration::ZERO; 3];
    for (stage, slot) in out.iter_mut().enumerate() {
        let mut handlers = book_chain(registry);
        let mut books = BookStore::new(10, &hints);
        let mut control = Vec::new();
        let mut rendered = Vec::with_capacity(1 << 20);
        let start = Instant::now();
        for _ in 0..repeat {
            for chunk in frames.chunks(512) {
                let mut batch = EventBatch::with_capacity(1024);
                for f in chunk {
                    let _ = decode_frame(f, Timestamp(0), &mut batch.events);
                }
                if stage >= 1 {
                    let mut cx = HandlerContext::new(&mut books, &mut control, 0, 1);
                    for h in &mut handlers {
                        h.process(&mut batch, &mut cx).unwrap();
                    }
                    control.clear();
                }
                if stage >= 2 {
                    rendered.clear();
                    RecordFormat::Json.write_events(&batch.events, EventFilter::ALL, &mut rendered);
                    std::hint::black_box(&rendered);
                }
                std::hint::black_box(&batch);
            }
        }
        *slot = start.elapsed();
    }
    out
}

/// Weak scaling of the shard stage: `workers` threads, each one shard worker with its own
/// books and its own handler chain over its own copy of the corpus, as the engine's workers
/// are (nothing shared). The batches are decoded before the clock starts. Returns the wall
/// time for all workers to get through their batches.
fn shard_scaling(
    registry: &Registry,
    frames: &[String],
    precision: &serde_json::Map<String, serde_json::Value>,
    repeat: usize,
    workers: usize,
) -> Duration {
    use kobe_core::book::BookStore;
    use kobe_core::bus::Sequencer;
    use kobe_core::kraken::decode::decode_frame;
    use kobe_core::{EventBatch, HandlerContext, Timestamp};
    use std::sync::{Arc, Barrier};

    let hints = book_hints(precision);
    let start_line = Arc::new(Barrier::new(workers + 1));
    let finish_line = Arc::new(Barrier::new(workers + 1));
    std::thread::scope(|scope| {
        for shard in 0..workers {
            let (start_line, finish_line, hints) =
                (start_line.clone(), finish_line.clone(), &hints);
            scope.spawn(move || {
                let mut chain = book_chain(registry);
                let mut batches = Vec::new();
                for _ in 0..repeat {
                    for chunk in frames.chunks(512) {
                        let mut batch = EventBatch::with_capacity(1024);
                        for f in chunk {
                            let _ = decode_frame(f, Timestamp(0), &mut batch.events);
                        }
                        batches.push(batch);
                    }
                }
                let mut books = BookStore::new(10, hints);
                let mut sequencer = Sequencer::default();
                let mut control = Vec::new();
                start_line.wait();
                for batch in &mut batches {
                    let mut cx = HandlerContext::new(&mut books, &mut control, shard, workers);
                    for h in &mut chain {
                        h.process(batch, &mut cx).unwrap();
                    }
                    sequencer.assign(&mut batch.events);
                    control.clear();
                }
                finish_line.wait();
                drop(batches);
            });
        }
        start_line.wait();
        let start = Instant::now();
        finish_line.wait();
        start.elapsed()
    })
}

fn main() {
    let want: usize = std::env::var("KOBE_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let workers: Vec<usize> = std::env::var("KOBE_BENCH_WORKERS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|w| w.trim().parse().ok())
        .collect();
    let (frames, precision) = corpus::corpus();
    // Book messages per pass over the corpus (the unit of the throughput target).
    let book_msgs = {
        let mut events = Vec::new();
        for f in &frames {
            let _ =
                kobe_core::kraken::decode::decode_frame(f, kobe_core::Timestamp(0), &mut events);
        }
        events
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    kobe_core::EventKind::BookSnapshot(_) | kobe_core::EventKind::BookUpdate(_)
                )
            })
            .count()
    };
    let repeat = want.div_ceil(frames.len());
    let total = frames.len() * repeat;
    let shm = Path::new("/dev/shm");
    let dir = tempfile::tempdir_in(if shm.is_dir() { shm } else { Path::new("/tmp") }).unwrap();
    let corpus_file = dir.path().join("corpus.ndjson");
    std::fs::write(&corpus_file, frames.join("\n") + "\n").unwrap();

    let mut registry = Registry::new();
    kobe_core::replay::register(&mut registry);
    kobe_plugins::register(&mut registry);
    kobe_sinks::register(&mut registry);

    println!(
        "pipeline benchmark: {} fixture frames ({book_msgs} book messages) x {repeat} = {total} frames",
        frames.len()
    );
    if std::env::var_os("KOBE_BENCH_PROFILE").is_some() {
        // Only the pipeline, once per worker count, for `perf record`.
        for w in workers {
            pipeline_run(
                &registry,
                &corpus_file,
                &precision,
                repeat,
                w,
                dir.path(),
                None,
            );
        }
        return;
    }
    if std::env::var("KOBE_BENCH_ONLY").as_deref() == Ok("metrics") {
        metrics_cost(
            &registry,
            &corpus_file,
            &precision,
            repeat,
            total,
            dir.path(),
        );
        return;
    }
    decode_only(&frames, repeat.div_ceil(10));
    let base = (0..3).map(|_| decode_only(&frames, repeat)).min().unwrap();
    let ns = |d: Duration| d.as_nanos() as f64 / total as f64;
    let rate = |d: Duration| total as f64 / d.as_secs_f64() / 1e6;
    println!(
        "typed decode-only          {:>6.2} M frames/s  {:>7.1} ns/frame",
        rate(base),
        ns(base)
    );
    let st = stages(&registry, &frames, &precision, repeat.div_ceil(4));
    let stage_total = frames.len() * repeat.div_ceil(4);
    let sns = |d: Duration| d.as_nanos() as f64 / stage_total as f64;
    println!(
        "stages, one thread: decode {:.0} ns, + books/checksum {:.0} ns, + JSON records {:.0} ns per frame",
        sns(st[0]),
        sns(st[1]) - sns(st[0]),
        sns(st[2]) - sns(st[1])
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let scale_repeat = repeat.div_ceil(4);
    let scale_msgs = (book_msgs * scale_repeat) as f64;
    let mut one = 0.0;
    for n in 1..=cores {
        let d = (0..3)
            .map(|_| shard_scaling(&registry, &frames, &precision, scale_repeat, n))
            .min()
            .unwrap();
        let rate = scale_msgs * n as f64 / d.as_secs_f64() / 1e6;
        if n == 1 {
            one = rate;
        }
        println!(
            "shard stage, {n} worker(s)   {rate:>6.2} M book msgs/s  ({:.2} M per worker, {:.2}x one worker)",
            rate / n as f64,
            rate / one
        );
    }
    for w in workers {
        pipeline_run(
            &registry,
            &corpus_file,
            &precision,
            repeat.div_ceil(10),
            w,
            dir.path(),
            None,
        );
        let (d, cpu, n, bad) = (0..3)
            .map(|_| {
                pipeline_run(
                    &registry,
                    &corpus_file,
                    &precision,
                    repeat,
                    w,
                    dir.path(),
                    None,
                )
            })
            .min_by_key(|r| r.0)
            .unwrap();
        assert_eq!(n as usize, total, "every frame replayed");
        assert_eq!(bad, 0, "checksum mismatches in the fixture corpus");
        println!(
            "pipeline, {w} worker(s)       {:>6.2} M frames/s  {:>7.1} ns/frame  {:>5.2} M book msgs/s  ({:.2}x decode-only time; CPU {:.0} ns/frame on all threads)",
            rate(d),
            ns(d),
            (book_msgs * repeat) as f64 / d.as_secs_f64() / 1e6,
            d.as_secs_f64() / base.as_secs_f64(),
            cpu * 1e9 / total as f64
        );
    }
    metrics_cost(
        &registry,
        &corpus_file,
        &precision,
        repeat,
        total,
        dir.path(),
    );
}

/// The pipeline with one worker, metrics off and on, five interleaved runs each (best of
/// each): with metrics on, the engine records into a Prometheus exporter that a thread
/// renders every second, as a scraping Prometheus would make it.
fn metrics_cost(
    registry: &Registry,
    corpus: &Path,
    precision: &serde_json::Map<String, serde_json::Value>,
    repeat: usize,
    total: usize,
    dir: &Path,
) {
    let exporter = Exporter::new().unwrap();
    let telemetry = Telemetry::new(&exporter.meter());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scraper = {
        let (exporter, stop) = (exporter.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut bytes = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                bytes = exporter.render().unwrap().len();
                std::thread::sleep(Duration::from_secs(1));
            }
            bytes
        })
    };
    let run = |t: Option<Telemetry>| pipeline_run(registry, corpus, precision, repeat, 1, dir, t);
    run(None);
    let runs: usize = std::env::var("KOBE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9);
    let (mut off, mut on, mut paired, mut cpu) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        // Alternate which goes first, so drift on a shared host hits both alike.
        let (a, b) = if i % 2 == 0 {
            let a = run(None);
            (a, run(Some(telemetry.clone())))
        } else {
            let b = run(Some(telemetry.clone()));
            (run(None), b)
        };
        off.push(a.0);
        on.push(b.0);
        paired.push(b.0.as_secs_f64() / a.0.as_secs_f64());
        cpu.push(b.1 / a.1);
    }
    paired.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let median = paired[paired.len() / 2];
    let cpu_median = cpu[cpu.len() / 2];
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let page = scraper.join().unwrap();
    let (off, on) = (
        off.into_iter().min().unwrap(),
        on.into_iter().min().unwrap(),
    );
    let rate = |d: Duration| total as f64 / d.as_secs_f64() / 1e6;
    println!(
        "metrics off, 1 worker       {:>6.2} M frames/s (best of {runs})\nmetrics on,  1 worker       {:>6.2} M frames/s (best of {runs}): best-to-best {:+.1}%, median of {runs} paired runs {:+.1}% wall, {:+.1}% CPU (a scrape page is {page} bytes)",
        rate(off),
        rate(on),
        (on.as_secs_f64() / off.as_secs_f64() - 1.0) * 100.0,
        (median - 1.0) * 100.0,
        (cpu_median - 1.0) * 100.0
    );
}
