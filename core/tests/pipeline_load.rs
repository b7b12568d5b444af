//! Loading pipeline files: layering, every error located.

mod pipeline_support;

use pipeline_support::{errors, load, load_with};

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
fn explore() {
    let cases = [
        "source: {type: dummy, path: x, count: lots, colour: red, pace: slow}\nsinks:\n  out: {type: mem, path: 1}\n  bad: {type: kafka}\nhandlers:\n  - type: check\n    on_mismatch: maybe\n  - {type: nope}\n",
        "source: {type: dummy}\nsinks: {out: {type: mem, path: x, pool_size: 0, events: [nope]}}\nmetrics: {addr: 'localhost:1'}\nengine: {workers: many}\nfoo: 1\n",
        "",
        "source: {type: dummy, path: x, count: 5000, precision: {BTC/USD: 30}, book: {depth: 0, extra: 1}}\nsinks: {out: {type: mem, path: x}}\n",
        "source: [\nsinks: {}\n",
        "source: {type: dummy, path: x}\nsource: {type: dummy, path: y}\nsinks: {out: {type: mem, path: x, path: y}}\n",
    ];
    for c in cases {
        println!("----\n{}", errors(load(c)).join("\n"));
    }
    println!(
        "----\n{}",
        errors(load_with(
            GOOD,
            &[
                "sinks.out.pool_size=many",
                "handlers[1].on_mismatch=what",
                "sinks.out.colour=red",
                "handlers[5].type=noop",
                "nope"
            ],
            &[("KOBE_SOURCE__COUNT", "x"), ("KOBE_ENGINE__WORKERS", "0")]
        ))
        .join("\n")
    );
}
