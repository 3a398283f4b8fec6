//! One complete run as the command line and the reproductions use it: the run directory's
//! lock and existing-run policy, data, the strategy, the default observers (information plane,
//! probes), training, and `summary.json`, written last and atomically so that a run directory
//! without it is visibly unfinished.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use infoplane_data::Dataset;
use infoplane_hsic::read_points;
use infoplane_models::StageRole;
use serde::{Deserialize, Serialize};

use crate::config::{EvalSplit, StrategyConfig, TrainConfig};
use crate::error::{Result, TrainError};
use crate::observer::Observer;
use crate::observers::{InfoPlaneObserver, ProbeObserver, read_probes};
use crate::rundir::{Existing, OnExisting, RunLock, clear, existing, refusal};
use crate::strategies::{Strategy, build_strategy};
use crate::trainer::{LoopOptions, load_data, pipeline, read_metrics, train};

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
}

/// Options of one run that are not part of the experiment.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// What to do when the run directory already holds a run.
    pub on_existing: OnExisting,
    /// Stop (as if killed) after this many epochs — for testing resume.
    pub stop_after_epochs: Option<usize>,
    /// Show a progress bar.
    pub progress: bool,
}

impl RunOptions {
    /// Continue an unfinished run.
    pub fn resume() -> Self {
        RunOptions {
            on_existing: OnExisting::Resume,
            ..Default::default()
        }
    }
}

/// What the strategy and model were, for the summary.
#[derive(Debug, Clone, Default)]
struct Descriptions {
    strategy: String,
    model: String,
    roles: Vec<StageRole>,
    parameters: usize,
    test_samples: usize,
}

/// Builds the summary of a run directory from its files.
fn summarize(
    run_dir: &Path,
    cfg: &TrainConfig,
    wall_seconds: f64,
    d: &Descriptions,
    eval_set: Option<String>,
) -> Result<RunSummary> {
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
            let pts: Vec<_> = points.iter().filter(|p| p.stage == s).collect();
            let probe = probes.iter().find(|p| p.stage == s);
            StageSummary {
                stage: s,
                name: pts
                    .first()
                    .map(|p| p.stage_name.clone())
                    .or_else(|| probe.map(|p| p.stage_name.clone()))
                    .unwrap_or_default(),
                role: d.roles.get(s - 1).copied(),
                steps: pts.iter().map(|p| p.step).collect(),
                epochs: pts.iter().map(|p| p.epoch).collect(),
                nhsic_x: pts.iter().map(|p| p.nhsic_x).collect(),
                nhsic_x_std: pts.iter().map(|p| p.nhsic_x_std).collect(),
                nhsic_y: pts.iter().map(|p| p.nhsic_y).collect(),
                nhsic_y_std: pts.iter().map(|p| p.nhsic_y_std).collect(),
                probe_train_accuracy: probe.map(|p| p.train_accuracy),
                probe_test_accuracy: probe.map(|p| p.test_accuracy),
                head_test_accuracy: last.stage_head_accuracy.get(s - 1).copied().flatten(),
            }
        })
        .collect();
    Ok(RunSummary {
        name: cfg.name.clone(),
        strategy: cfg.strategy.label(),
        strategy_description: d.strategy.clone(),
        model_description: d.model.clone(),
        dataset: cfg.data.dataset.to_string(),
        epochs: last.epoch,
        test_accuracy: last.test_accuracy,
        train_accuracy: last.train_accuracy,
        wall_seconds,
        parameters: d.parameters,
        test_samples: d.test_samples,
        stages,
        kernel_convention: cfg
            .infoplane
            .enabled
            .then(|| cfg.infoplane.settings().describe()),
        eval_set,
        retrained_from: match &cfg.strategy {
            StrategyConfig::Retrain(r) => Some((r.source.clone(), r.keep)),
            _ => None,
        },
    })
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

/// Observers, and the information plane's evaluation set in words (when measured).
pub type Observers = (Vec<Box<dyn Observer>>, Option<String>);

/// The default observers of a config: the information plane on the fixed evaluation set and
/// the probes. Returns them with the evaluation set's description.
pub fn default_observers(cfg: &TrainConfig, data: &Dataset, run_dir: &Path) -> Result<Observers> {
    let pipe = pipeline(cfg);
    let mut observers: Vec<Box<dyn Observer>> = Vec::new();
    let mut eval_set = None;
    if cfg.infoplane.enabled {
        let source = match cfg.infoplane.split {
            EvalSplit::Test => &data.test,
            EvalSplit::Train => &data.train,
        };
        let eval = source.subset(cfg.infoplane.samples, cfg.infoplane.subset_seed);
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
        let described = cfg.infoplane.describe_eval_set(source.len());
        observers.push(Box::new(InfoPlaneObserver::new(
            &eval,
            data.num_classes,
            &pipe,
            cfg.infoplane.settings(),
            cfg.infoplane.every_steps,
            cfg.infoplane.per_epoch,
            &run_dir.join("infoplane.jsonl"),
            &described,
        )?));
        eval_set = Some(described);
    }
    if cfg.probe.enabled {
        let train_split = match cfg.probe.limit_train {
            Some(n) => data.train.subset(n, cfg.seed.wrapping_add(3)),
            None => data.train.clone(),
        };
        observers.push(Box::new(ProbeObserver::new(
            train_split,
            cfg.probe.clone(),
            cfg.seed,
            &run_dir.join("probes.csv"),
        )));
    }
    Ok((observers, eval_set))
}

/// Decides, under the run directory's lock, whether to start, resume or return a finished
/// run. `Ok(Err(summary))`: nothing to train.
fn prepare(
    cfg: &TrainConfig,
    run_dir: &Path,
    policy: OnExisting,
) -> Result<std::result::Result<bool, RunSummary>> {
    let state = existing(run_dir);
    let saved = std::fs::read_to_string(run_dir.join("config.toml")).ok();
    let same = saved.as_deref() == Some(cfg.to_toml().as_str());
    let resumable = run_dir.join("checkpoint").join("state.json").exists();
    Ok(match (policy, state) {
        (OnExisting::Resume, Existing::Empty) => {
            return Err(TrainError::RunDir {
                path: run_dir.into(),
                reason: "there is no run here to resume; start it without --resume".into(),
            });
        }
        (_, Existing::Empty) => Ok(false),
        (OnExisting::Refuse, s) => return Err(refusal(run_dir, s)),
        (OnExisting::Resume, s) => {
            if let Some(saved) = &saved {
                let mut old = TrainConfig::from_toml(saved)?;
                old.epochs = cfg.epochs;
                if old != *cfg {
                    return Err(TrainError::RunDir {
                        path: run_dir.into(),
                        reason: "the run here was started with another config (only `epochs` may change on --resume); use --overwrite or another --out".into(),
                    });
                }
            }
            match s {
                Existing::Finished if saved.as_ref().is_some_and(|_| same) => {
                    Err(read_summary(run_dir)?)
                }
                _ => {
                    if !resumable {
                        return Err(TrainError::RunDir {
                            path: run_dir.join("checkpoint"),
                            reason: "no checkpoint to resume from (the run never finished an epoch); start it again with --overwrite".into(),
                        });
                    }
                    // A finished run resumed with more epochs is unfinished again.
                    let p = run_dir.join("summary.json");
                    if p.exists() {
                        std::fs::remove_file(&p).map_err(|e| TrainError::io(&p, e))?;
                    }
                    Ok(true)
                }
            }
        }
        (OnExisting::Overwrite, _) => {
            clear(run_dir)?;
            Ok(false)
        }
        (OnExisting::ReuseIfSame, s) => {
            if same && s == Existing::Finished {
                Err(read_summary(run_dir)?)
            } else if same && resumable {
                Ok(true)
            } else {
                clear(run_dir)?;
                Ok(false)
            }
        }
    })
}

/// Runs a strategy (for example over a model of your own) with the data, observers, run
/// directory and summary of `cfg`. `cfg.model` and `cfg.strategy` are only recorded.
pub fn run_strategy(
    cfg: &TrainConfig,
    data: &Dataset,
    strategy: &mut dyn Strategy,
    device: &Device,
    run_dir: &Path,
    opts: &RunOptions,
) -> Result<RunSummary> {
    let lock = RunLock::acquire(run_dir)?;
    let resume = match prepare(cfg, run_dir, opts.on_existing)? {
        Ok(r) => r,
        Err(summary) => return Ok(summary),
    };
    std::fs::write(run_dir.join("config.toml"), cfg.to_toml())
        .map_err(|e| TrainError::io(run_dir.join("config.toml"), e))?;
    let (mut observers, eval_set) = default_observers(cfg, data, run_dir)?;
    let descriptions = {
        let ev = strategy.evaluator();
        Descriptions {
            strategy: strategy.describe(),
            model: ev.model_description(),
            roles: ev.stage_roles(),
            parameters: strategy.num_params(),
            test_samples: data.test.len(),
        }
    };
    let outcome = train(
        cfg,
        data,
        device,
        run_dir,
        &lock,
        strategy,
        &mut observers,
        &LoopOptions {
            resume,
            stop_after_epochs: opts.stop_after_epochs,
            progress: opts.progress,
        },
    )?;
    if !outcome.complete {
        return Err(TrainError::RunDir {
            path: run_dir.into(),
            reason: "training stopped before the last epoch; continue it with --resume".into(),
        });
    }
    let summary = summarize(run_dir, cfg, outcome.seconds, &descriptions, eval_set)?;
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

/// Runs `cfg` into `run_dir`: data, the strategy of the config, the information-plane and
/// probe observers, then `summary.json`.
pub fn run(
    cfg: &TrainConfig,
    device: &Device,
    run_dir: &Path,
    opts: &RunOptions,
) -> Result<RunSummary> {
    cfg.validate()?;
    let data = load_data(cfg)?;
    let mut strategy = build_strategy(cfg, &data, &device.clone().autodiff())?;
    run_strategy(cfg, &data, strategy.as_mut(), device, run_dir, opts)
}
