//! The example and test-only plugins built as shared libraries, the way a user builds them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Every plugin crate the tests load.
pub const CRATES: [&str; 5] = [
    "kobe-plugin-spread",
    "kobe-plugin-imbalance",
    "kobe-plugin-redis-streams",
    "kobe-test-plugin-faulty",
    "kobe-test-plugin-abi-next",
];

/// Where the libraries are built: a target directory of their own, so the workspace build
/// (which links the examples into `kobe` with their `static` feature) never touches them.
/// `tests/run` builds them there before the tests; building here again is then a no-op.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/plugin-libs")
}

/// The path of the built library of `crate_name` (`kobe-plugin-spread`), building all of them
/// once per test process.
pub fn lib(crate_name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--quiet", "--locked", "--lib", "--target-dir"])
            .arg(dir());
        for c in CRATES {
            cmd.args(["-p", c]);
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "building the plugin libraries failed");
    });
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        crate_name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let path = dir().join("debug").join(file);
    assert!(path.exists(), "{} was not built", path.display());
    path
}
