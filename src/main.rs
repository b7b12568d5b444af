//! The `kobe` command line.

fn main() -> anyhow::Result<()> {
    Ok(())
}
