//! Experiment files: one per artifact (`experiments/<artifact>.toml`), holding everything the
//! artifact is — its runs at paper and quick scale, its figures and tables, and the paper's
//! claims about it with their checks. The list of artifacts is the list of files.
//!
//! ```toml
//! title = "HSIC planes of ResNet18 on CIFAR10"
//! order = 70                      # position in `reproduce all` (cheap ones first)
//! [base]                          # paper-scale settings shared by the runs (a partial run config)
//! epochs = 400
//! [quick]                         # the offline scale
//! note = "Fashion-MNIST in place of CIFAR10; …"
//! datasets = { cifar10 = "fashion-mnist" }
//! seeds = [0, 1, 2]               # every run once per seed (default: the config's seed)
//! set.epochs = 8
//! [[run]]
//! name = "resnet18-e2e-ce"
//! set.model.arch = "resnet18"
//! quick.model.width = 0.25
//! [[figure]]
//! kind = "infoplane"              # infoplane | probes | toy
//! file = "infoplane"
//! runs = ["resnet18-e2e-ce", "resnet18-layerwise-ce"]
//! [[table]]                       # cells: literal text, acc:RUN, head:RUN:K, probe:RUN:K
//! [[claim]]                       # crate::claims::Claim
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::claims::Claim;
use crate::error::{Error, Result};

/// How big the runs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scale {
    /// Offline data, reduced width and epochs: minutes on two CPU cores.
    Quick,
    /// The paper's data and settings.
    Paper,
    /// The quick scale shrunk to seconds, for tests.
    Tiny,
}

impl Scale {
    /// Name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Quick => "quick",
            Scale::Paper => "paper",
            Scale::Tiny => "tiny",
        }
    }
}

/// `[quick]` of an experiment file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickSpec {
    /// What the quick scale changes, in words (for the report).
    #[serde(default)]
    pub note: String,
    /// Paper dataset → offline dataset.
    #[serde(default)]
    pub datasets: BTreeMap<String, String>,
    /// Keys set on every run at quick scale.
    #[serde(default)]
    pub set: toml::Table,
    /// No run at quick scale (the note says why).
    #[serde(default)]
    pub skip: bool,
    /// Every run once per seed (default: the run config's own seed).
    #[serde(default)]
    pub seeds: Vec<u64>,
}

/// One `[[run]]` of an experiment file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// The run's name (its folder under `runs/`).
    pub name: String,
    /// Keys set on `[base]`.
    #[serde(default)]
    pub set: toml::Table,
    /// Keys set at quick scale only.
    #[serde(default)]
    pub quick: toml::Table,
    /// Not trained at quick (and tiny) scale, to keep `reproduce all --scale quick` within
    /// its time budget; the `[quick]` note says which runs and why. Claims naming it read
    /// "not comparable" there, table cells "(not run)".
    #[serde(default)]
    pub skip_quick: bool,
}

/// What a figure draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FigureKind {
    /// Information planes, one row per run.
    Infoplane,
    /// Probe accuracy per stage, one line per run.
    Probes,
    /// The toy example's singular values, nHSIC and representations.
    Toy,
}

/// One `[[figure]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureSpec {
    /// What it draws.
    pub kind: FigureKind,
    /// File stem (PNG and SVG are written).
    pub file: String,
    /// The runs drawn (infoplane, probes).
    #[serde(default)]
    pub runs: Vec<String>,
}

/// One `[[table]]`: a header and rows of cells. A cell is literal text or a value of a run:
/// `acc:RUN` (test accuracy), `head:RUN:K` (stage K's head accuracy), `probe:RUN:K` (stage
/// K's probe test accuracy), `kept:RUN` (stages a retraining kept); runs not finished read
/// "(not run)".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// Section title.
    pub title: String,
    /// A paragraph under the title.
    #[serde(default)]
    pub note: String,
    /// Column titles.
    pub header: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

/// How a toy run trains (the paper's section 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToyKind {
    /// Layer-wise, linear classifier head.
    LayerwiseLinear,
    /// Layer-wise, two-layer MLP head.
    LayerwiseMlp,
    /// End to end.
    E2e,
}

/// One `[[toy]]`: a run of the toy example, computed in-process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToySpec {
    /// Its name in claims and figures.
    pub name: String,
    /// How it trains.
    pub training: ToyKind,
}

/// An experiment file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    /// The artifact's title.
    pub title: String,
    /// Position in `reproduce all` (lower first).
    #[serde(default = "d_order")]
    pub order: u32,
    /// Settings the paper used but whose values are lost, and what we chose instead (each
    /// report lists them).
    #[serde(default)]
    pub chosen: Vec<String>,
    /// Not part of `reproduce all` (the main job).
    #[serde(default)]
    pub standalone: bool,
    /// The paper-scale settings shared by the runs.
    #[serde(default)]
    pub base: toml::Table,
    /// The quick scale.
    #[serde(default)]
    pub quick: QuickSpec,
    /// Keys set on every run at the tiny scale, after the generic shrinking (a pipeline
    /// check that should still train, e.g. a higher learning rate).
    #[serde(default)]
    pub tiny: toml::Table,
    /// The runs.
    #[serde(default, rename = "run")]
    pub runs: Vec<RunSpec>,
    /// Toy runs (computed in-process).
    #[serde(default, rename = "toy")]
    pub toys: Vec<ToySpec>,
    /// Figures.
    #[serde(default, rename = "figure")]
    pub figures: Vec<FigureSpec>,
    /// Extra tables.
    #[serde(default, rename = "table")]
    pub tables: Vec<TableSpec>,
    /// The paper's claims and their checks.
    #[serde(default, rename = "claim")]
    pub claims: Vec<Claim>,
}

fn d_order() -> u32 {
    100
}

/// The experiments folder of a checkout.
pub fn experiments_dir(root: &Path) -> PathBuf {
    root.join("experiments")
}

/// The experiment file of `artifact` under `root/experiments/`.
pub fn experiment_path(root: &Path, artifact: &str) -> PathBuf {
    experiments_dir(root).join(format!("{artifact}.toml"))
}

/// Reads an experiment file.
pub fn read_experiment(path: &Path) -> Result<ExperimentFile> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    toml::from_str(&text).map_err(|e| Error::Experiment {
        path: path.into(),
        reason: e.to_string(),
    })
}

/// Every artifact of the checkout (the files of `experiments/`), in `reproduce all` order;
/// the second value is whether it is part of `all`.
pub fn artifacts(root: &Path) -> Result<Vec<(String, bool)>> {
    let dir = experiments_dir(root);
    let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut found = Vec::new();
    for e in entries {
        let p = e.map_err(|e| Error::io(&dir, e))?.path();
        if p.extension().is_some_and(|x| x == "toml") {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let f = read_experiment(&p)?;
            found.push((f.order, name, !f.standalone));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, n, all)| (n, all)).collect())
}

/// The repository root of a checkout: the working directory when it holds `experiments/`,
/// otherwise the source tree the crate was built in.
pub fn repo_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    if experiments_dir(&cwd).is_dir() {
        return cwd;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
