//! `fuzz/seed.sh`, which builds the fuzz target's seed corpus from the fixtures: every fixture
//! line lands in exactly one seed, in order, 40 to a seed, behind a batch-size byte the target
//! understands. (`tests/run` builds the target itself and runs it on this corpus.)

mod common;

use std::path::Path;
use std::process::Command;

fn fixture_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for sub in [dir.to_path_buf(), dir.join("other-channels")] {
        let mut here: Vec<_> = std::fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
            .collect();
        // The shell's glob order.
        here.sort();
        files.extend(here);
    }
    files
}

#[test]
fn the_seed_corpus_holds_every_fixture_line_in_order() {
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seed.sh");
    let fixtures = common::fixtures();
    let run = Command::new("sh")
        .arg(&script)
        .arg(&fixtures)
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let mut want: Vec<Vec<u8>> = Vec::new();
    for f in fixture_files(&fixtures) {
        let text = std::fs::read(&f).unwrap();
        for chunk in text
            .split_inclusive(|b| *b == b'\n')
            .collect::<Vec<_>>()
            .chunks(40)
        {
            want.push(chunk.concat());
        }
    }
    let n = want.len();
    assert!(n > 50, "{n} seeds");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        format!("{n} seeds in {}", out.path().display())
    );
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        n,
        "no leftovers"
    );
    for (i, chunk) in want.iter().enumerate() {
        let seed = std::fs::read(out.path().join(format!("seed-{}", i + 1))).unwrap();
        let (mode, frames) = seed.split_first().unwrap();
        assert_eq!(*mode, b'0' + ((i + 1) % 8) as u8, "seed {}", i + 1);
        assert_eq!(frames, chunk.as_slice(), "seed {}", i + 1);
    }
}
