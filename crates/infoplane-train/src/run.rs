//! One complete run as the command line and the reproductions use it: data, the default
//! observers (information plane, probes), training, and `summary.json`, written last and
//! atomically so that a run directory without it is visibly unfinished.

use std::path::Path;

use burn::tensor::Device;
use infoplane_hsic::read_points;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::observer::Observer;
use crate::observers::{InfoPlaneObserver, ProbeObserver, read_probes};
use crate::trainer::{RunOptions, load_data, pipeline, read_metrics, train};

/// One stage in a run summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Stage index (1-based).
    pub stage: usize,
    /// Stage name.
    pub name: String,
    /// Steps of the information-plane points.
    pub steps: Vec<u64>,
    /// Epochs of the information-plane points.
    pub epochs: Vec<f64>,
    /// nHSIC(X;T) series.
    pub nhsic_x: Vec<f64>,
    /// nHSIC(Y;T) series.
    pub nhsic_y: Vec<f64>,
    /// Probe accuracy on the training samples.
    pub probe_train_accuracy: Option<f64>,
    /// Probe accuracy on the test split.
    pub probe_test_accuracy: Option<f64>,
    /// Final test accuracy of the stage's auxiliary head (layer-wise).
    pub head_test_accuracy: Option<f64>,
}

/// `summary.json` of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Run name.
    pub name: String,
    /// Strategy.
    pub strategy: String,
    /// Dataset.
    pub dataset: String,
    /// Epochs trained.
    pub epochs: usize,
    /// Final test accuracy of the model's output.
    pub test_accuracy: f64,
    /// Final training accuracy (last epoch, on the batches).
    pub train_accuracy: f64,
    /// Seconds of training, evaluation and observers.
    pub wall_seconds: f64,
    /// Per-stage series and probes.
    pub stages: Vec<StageSummary>,
    /// The information-plane kernel convention.
    pub kernel_convention: Option<String>,
}

/// Builds the summary of a run directory from its files.
pub fn summarize(run_dir: &Path, cfg: &TrainConfig, wall_seconds: f64) -> Result<RunSummary> {
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
        .unwrap_or(0);
    let stages = (1..=n_stages)
        .map(|s| {
            let pts: Vec<_> = points.iter().filter(|p| p.stage == s).collect();
            let probe = probes.iter().find(|p| p.stage == s);
            StageSummary {
                stage: s,
                name: pts
                    .first()
                    .map(|p| p.stage_name.clone())
                    .or_else(|| probe.map(|p| p.stage_name.clone()))
                    .unwrap_or_default(),
                steps: pts.iter().map(|p| p.step).collect(),
                epochs: pts.iter().map(|p| p.epoch).collect(),
                nhsic_x: pts.iter().map(|p| p.nhsic_x).collect(),
                nhsic_y: pts.iter().map(|p| p.nhsic_y).collect(),
                probe_train_accuracy: probe.map(|p| p.train_accuracy),
                probe_test_accuracy: probe.map(|p| p.test_accuracy),
                head_test_accuracy: last.stage_head_accuracy.get(s - 1).copied(),
            }
        })
        .collect();
    Ok(RunSummary {
        name: cfg.name.clone(),
        strategy: cfg.strategy.as_str().to_string(),
        dataset: cfg.data.dataset.to_string(),
        epochs: last.epoch,
        test_accuracy: last.test_accuracy,
        train_accuracy: last.train_accuracy,
        wall_seconds,
        stages,
        kernel_convention: cfg
            .infoplane
            .enabled
            .then(|| cfg.infoplane.settings().describe()),
    })
}

/// Runs `cfg` into `run_dir` with the information-plane and probe observers of its config,
/// then writes `summary.json`.
pub fn run(
    cfg: &TrainConfig,
    device: &Device,
    run_dir: &Path,
    opts: &RunOptions,
) -> Result<RunSummary> {
    cfg.validate()?;
    let data = load_data(cfg)?;
    std::fs::create_dir_all(run_dir).map_err(|e| TrainError::io(run_dir, e))?;
    if !opts.resume {
        // A fresh run starts from empty observer files (a resumed run appends to them).
        for f in ["infoplane.jsonl", "probes.csv", "summary.json"] {
            let p = run_dir.join(f);
            if p.exists() {
                std::fs::remove_file(&p).map_err(|e| TrainError::io(&p, e))?;
            }
        }
    }
    let pipe = pipeline(cfg);
    let mut observers: Vec<Box<dyn Observer>> = Vec::new();
    if cfg.infoplane.enabled {
        let eval = data
            .test
            .subset(cfg.infoplane.samples, cfg.seed.wrapping_add(2));
        if eval.len() < cfg.infoplane.batch {
            return Err(TrainError::value(
                "infoplane.batch",
                format!(
                    "{} is larger than the {} evaluation samples available",
                    cfg.infoplane.batch,
                    eval.len()
                ),
            ));
        }
        observers.push(Box::new(InfoPlaneObserver::new(
            &eval,
            data.num_classes,
            &pipe,
            cfg.infoplane.settings(),
            cfg.infoplane.every_steps,
            cfg.infoplane.per_epoch,
            &run_dir.join("infoplane.jsonl"),
        )?));
    }
    if cfg.probe.enabled {
        let train_split = match cfg.probe.limit_train {
            Some(n) => data.train.subset(n, cfg.seed.wrapping_add(3)),
            None => data.train.clone(),
        };
        observers.push(Box::new(ProbeObserver::new(
            train_split,
            cfg.probe.epochs,
            cfg.probe.lr,
            cfg.seed,
            &run_dir.join("probes.csv"),
        )));
    }
    let outcome = train(cfg, &data, device, run_dir, &mut observers, opts)?;
    if outcome.metrics.last().map(|m| m.epoch) != Some(cfg.epochs) {
        return Err(TrainError::RunDir {
            path: run_dir.into(),
            reason: "training stopped before the last epoch; continue it with --resume".into(),
        });
    }
    let summary = summarize(run_dir, cfg, outcome.seconds)?;
    let path = run_dir.join("summary.json");
    let tmp = run_dir.join("summary.json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_string_pretty(&summary).expect("summary"),
    )
    .map_err(|e| TrainError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| TrainError::io(&path, e))?;
    Ok(summary)
}
