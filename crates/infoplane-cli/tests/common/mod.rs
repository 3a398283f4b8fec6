//! What the binary's test files share: running `infoplane` and reading what it printed.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `infoplane` with `args` in `cwd`.
pub fn infoplane(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infoplane"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("runs")
}

/// Everything it printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}
