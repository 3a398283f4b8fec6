//! `summary.json`: what a finished run reports — its settings in words, accuracies, and per
//! stage the information-plane series (with every mini-batch's value) and the probes —
//! built from the run directory's files and written last, atomically, so that a folder
//! without it is visibly unfinished.

use std::path::{Path, PathBuf};

use infoplane_hsic::read_points;
use infoplane_models::StageRole;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::observers::read_probes;
use crate::train_loop::read_metrics;

/// One stage in a run summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Stage index (1-based).
    pub stage: usize,
    /// Stage name.
    pub name: String,
    /// Its role in the model (first, middle, last, output).
    pub role: Option<StageRole>,
    /// Steps of the information-plane points.
    pub steps: Vec<u64>,
    /// Epochs of the information-plane points.
    pub epochs: Vec<f64>,
    /// nHSIC(X;T) series (mean over the evaluation mini-batches).
    pub nhsic_x: Vec<f64>,
    /// Its spread (standard deviation over the mini-batches) at every point.
    #[serde(default)]
    pub nhsic_x_std: Vec<f64>,
    /// nHSIC(Y;T) series.
    pub nhsic_y: Vec<f64>,
    /// Its spread at every point.
    #[serde(default)]
    pub nhsic_y_std: Vec<f64>,
    /// nHSIC(X;T) of every evaluation mini-batch at every point (`[point][batch]`): changes
    /// are paired by mini-batch.
    #[serde(default)]
    pub nhsic_x_batches: Vec<Vec<f64>>,
    /// nHSIC(Y;T) of every evaluation mini-batch at every point.
    #[serde(default)]
    pub nhsic_y_batches: Vec<Vec<f64>>,
    /// Probe accuracy on the training samples.
    pub probe_train_accuracy: Option<f64>,
    /// Probe accuracy on the test split.
    pub probe_test_accuracy: Option<f64>,
    /// Final test accuracy of the stage's auxiliary head, where it classifies.
    pub head_test_accuracy: Option<f64>,
}

/// `summary.json` of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Run name.
    pub name: String,
    /// Strategy label ("e2e-ce", "layerwise-sim", …).
    pub strategy: String,
    /// The strategy in words.
    #[serde(default)]
    pub strategy_description: String,
    /// The model in words.
    #[serde(default)]
    pub model_description: String,
    /// Dataset.
    pub dataset: String,
    /// Epochs trained (over all phases).
    pub epochs: usize,
    /// Final test accuracy.
    pub test_accuracy: f64,
    /// Final training accuracy (last epoch, on the batches), where the strategy predicts
    /// while training.
    pub train_accuracy: Option<f64>,
    /// Seconds of training, evaluation and observers.
    pub wall_seconds: f64,
    /// Parameters trained (backbone and the strategy's additions).
    #[serde(default)]
    pub parameters: usize,
    /// Test samples the accuracies are computed on.
    #[serde(default)]
    pub test_samples: usize,
    /// Per-stage series and probes.
    pub stages: Vec<StageSummary>,
    /// The information-plane kernel convention.
    pub kernel_convention: Option<String>,
    /// The information-plane evaluation set.
    #[serde(default)]
    pub eval_set: Option<String>,
    /// The run a retraining started from (its directory) and the stages kept.
    #[serde(default)]
    pub retrained_from: Option<(PathBuf, usize)>,
    /// How batch norm's running statistics were set before the first measurement (models
    /// with batch norm).
    #[serde(default)]
    pub calibration: Option<String>,
    /// The code that produced the run (absent in runs of versions before it was recorded).
    #[serde(default)]
    pub provenance: Option<crate::provenance::Provenance>,
}

/// What the run was, in words, for the summary.
#[derive(Debug, Clone, Default)]
pub struct Descriptions {
    /// Run name.
    pub name: String,
    /// The strategy's label.
    pub label: String,
    /// The strategy in words.
    pub strategy: String,
    /// The model in words.
    pub model: String,
    /// Stage roles.
    pub roles: Vec<StageRole>,
    /// Parameters trained.
    pub parameters: usize,
    /// Dataset name.
    pub dataset: String,
    /// Test samples.
    pub test_samples: usize,
    /// The kernel convention (when the plane is measured).
    pub kernel_convention: Option<String>,
    /// The evaluation set (when the plane is measured).
    pub eval_set: Option<String>,
    /// The source run and stages kept (retraining).
    pub retrained_from: Option<(PathBuf, usize)>,
    /// Batch norm calibration, in words.
    pub calibration: Option<String>,
}

fn stage_summary(
    s: usize,
    points: &[infoplane_hsic::PlanePoint],
    probes: &[crate::observers::ProbeResult],
    role: Option<StageRole>,
    head: Option<f64>,
) -> StageSummary {
    let pts: Vec<_> = points.iter().filter(|p| p.stage == s).collect();
    let probe = probes.iter().find(|p| p.stage == s);
    StageSummary {
        stage: s,
        name: pts
            .first()
            .map(|p| p.stage_name.clone())
            .or_else(|| probe.map(|p| p.stage_name.clone()))
            .unwrap_or_default(),
        role,
        steps: pts.iter().map(|p| p.step).collect(),
        epochs: pts.iter().map(|p| p.epoch).collect(),
        nhsic_x: pts.iter().map(|p| p.nhsic_x).collect(),
        nhsic_x_std: pts.iter().map(|p| p.nhsic_x_std).collect(),
        nhsic_y: pts.iter().map(|p| p.nhsic_y).collect(),
        nhsic_y_std: pts.iter().map(|p| p.nhsic_y_std).collect(),
        nhsic_x_batches: pts.iter().map(|p| p.nhsic_x_batches.clone()).collect(),
        nhsic_y_batches: pts.iter().map(|p| p.nhsic_y_batches.clone()).collect(),
        probe_train_accuracy: probe.map(|p| p.train_accuracy),
        probe_test_accuracy: probe.map(|p| p.test_accuracy),
        head_test_accuracy: head,
    }
}

/// Per-stage series of information-plane points alone (no probes or heads): what the
/// reading rules read, for planes measured outside a run.
pub fn stages_of_points(points: &[infoplane_hsic::PlanePoint]) -> Vec<StageSummary> {
    let n = points.iter().map(|p| p.stage).max().unwrap_or(0);
    (1..=n)
        .map(|s| stage_summary(s, points, &[], None, None))
        .collect()
}

/// Builds the summary of a run directory from its files.
pub fn summarize(run_dir: &Path, wall_seconds: f64, d: &Descriptions) -> Result<RunSummary> {
    let metrics = read_metrics(&run_dir.join("metrics.jsonl"))?;
    let last = metrics.last().ok_or_else(|| TrainError::RunDir {
        path: run_dir.into(),
        reason: "no finished epoch".into(),
    })?;
    let points = if run_dir.join("infoplane.jsonl").exists() {
        read_points(&run_dir.join("infoplane.jsonl"))?
    } else {
        Vec::new()
    };
    let probes = if run_dir.join("probes.csv").exists() {
        read_probes(&run_dir.join("probes.csv"))?
    } else {
        Vec::new()
    };
    let n_stages = points
        .iter()
        .map(|p| p.stage)
        .chain(probes.iter().map(|p| p.stage))
        .max()
        .unwrap_or(0)
        .max(d.roles.len());
    let stages = (1..=n_stages)
        .map(|s| {
            let head = last.stage_head_accuracy.get(s - 1).copied().flatten();
            stage_summary(s, &points, &probes, d.roles.get(s - 1).copied(), head)
        })
        .collect();
    Ok(RunSummary {
        name: d.name.clone(),
        strategy: d.label.clone(),
        strategy_description: d.strategy.clone(),
        model_description: d.model.clone(),
        dataset: d.dataset.clone(),
        epochs: last.epoch,
        test_accuracy: last.test_accuracy,
        train_accuracy: last.train_accuracy,
        wall_seconds,
        parameters: d.parameters,
        test_samples: d.test_samples,
        stages,
        kernel_convention: d.kernel_convention.clone(),
        eval_set: d.eval_set.clone(),
        retrained_from: d.retrained_from.clone(),
        calibration: d.calibration.clone(),
        provenance: crate::provenance::read(run_dir),
    })
}

/// Writes `summary.json` into the run directory, atomically.
pub fn write_summary(run_dir: &Path, summary: &RunSummary) -> Result<()> {
    crate::rundir::write_atomic(
        &run_dir.join("summary.json"),
        serde_json::to_string_pretty(summary)
            .expect("summary")
            .as_bytes(),
    )
}

/// Reads `summary.json` of a finished run.
pub fn read_summary(run_dir: &Path) -> Result<RunSummary> {
    let p = run_dir.join("summary.json");
    let text = std::fs::read_to_string(&p).map_err(|e| TrainError::io(&p, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::RunDir {
        path: p,
        reason: format!("not a run summary: {e}"),
    })
}
