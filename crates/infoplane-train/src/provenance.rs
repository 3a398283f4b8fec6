//! What produced a run: the infoplane version and a fingerprint of the code that determines
//! results (the sources of the data, model, convolution, HSIC and training crates and the
//! locked dependency versions, hashed at build time). Every run records it in
//! `provenance.json` and its summary; a run recorded by other code is never reused or
//! resumed as if it were this code's.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The file in a run directory.
pub const FILE: &str = "provenance.json";

/// The version and source fingerprint of the code that produced a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The infoplane version.
    pub version: String,
    /// Fingerprint of the code that determines results ("unknown" when built without the
    /// workspace's sources).
    pub source: String,
}

impl Provenance {
    /// This build.
    pub fn current() -> Self {
        Provenance {
            version: env!("CARGO_PKG_VERSION").to_string(),
            source: env!("INFOPLANE_SOURCE_FINGERPRINT").to_string(),
        }
    }

    /// "infoplane 0.1.0 (source 1a2b3c4d5e6f7a8b)".
    pub fn describe(&self) -> String {
        format!("infoplane {} (source {})", self.version, self.source)
    }
}

/// The provenance recorded in `run_dir`, if any (`None`: none recorded, or unreadable).
pub fn read(run_dir: &Path) -> Option<Provenance> {
    let text = std::fs::read_to_string(run_dir.join(FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Records this build's provenance in `run_dir`.
pub fn record(run_dir: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(&Provenance::current()).expect("serializable");
    crate::rundir::write_atomic(&run_dir.join(FILE), text.as_bytes())
}

/// Why the run in `run_dir` was not produced by this build, or `None` when it was.
pub fn mismatch(run_dir: &Path) -> Option<String> {
    let now = Provenance::current();
    match read(run_dir) {
        Some(p) if p == now => None,
        Some(p) => Some(format!(
            "it was recorded by {}, this is {}",
            p.describe(),
            now.describe()
        )),
        None => Some(format!(
            "it records no version (an older infoplane, or a damaged {FILE}); this is {}",
            now.describe()
        )),
    }
}

/// The refusal to resume a run recorded by other code.
pub fn refuse_resume(run_dir: &Path, why: &str) -> TrainError {
    TrainError::RunDir {
        path: run_dir.into(),
        reason: format!(
            "cannot continue this run: {why}, and one run must come from one version of the code. Start it again with --overwrite (or continue it with the version that started it)"
        ),
    }
}
