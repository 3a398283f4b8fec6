//! The training loop, written once for every strategy: epochs, seeded batches, optimizer
//! steps, the multi-step schedule, evaluation, observers, checkpoints, metrics, progress.
//!
//! Run directory:
//! - `config.toml`: the resolved config;
//! - `metrics.jsonl`: one line per epoch;
//! - `infoplane.jsonl`, `probes.csv`: written by the observers;
//! - `checkpoint/`: learner and optimizer records and the loop state, replaced atomically at
//!   every epoch end;
//! - `summary.json`: written last — a run without it did not finish.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{
    AdamConfig, ModuleOptimizer, SgdConfig, decay::WeightDecayConfig, momentum::MomentumConfig,
};
use burn::tensor::Device;
use infoplane_data::{
    Augment, BatchPlan, Dataset, Locator, Normalization, Pipeline, batch::epoch_order, make_batch,
};
use serde::{Deserialize, Serialize};

use crate::config::{OptimizerKind, StrategyKind, TrainConfig};
use crate::error::{Result, TrainError};
use crate::features::{accuracies, host_inputs};
use crate::init::seeded;
use crate::learner::Learner;
use crate::observer::{EvalContext, EvalPoint, Observer};
use crate::strategies::strategy_for;

/// Metrics of one epoch (one line of `metrics.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Optimizer steps so far.
    pub step: u64,
    /// Mean training loss over the epoch.
    pub loss: f64,
    /// Mean local loss of every stage (layer-wise).
    pub stage_losses: Vec<f64>,
    /// Accuracy on the training batches as they were trained on.
    pub train_accuracy: f64,
    /// Accuracy of the model's output on the test split.
    pub test_accuracy: f64,
    /// Test accuracy of every auxiliary head (layer-wise, stages 1..L−1).
    pub stage_head_accuracy: Vec<f64>,
    /// Learning rate of the epoch.
    pub lr: f64,
    /// Seconds spent in the epoch (training, evaluation and observers).
    pub seconds: f64,
    /// Of those, seconds spent in observers (information-plane measurements).
    #[serde(default)]
    pub observer_seconds: f64,
}

/// Loop state saved with every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Epochs completed.
    pub epoch: usize,
    /// Steps taken.
    pub step: u64,
    /// Seconds spent so far.
    pub seconds: f64,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Per-epoch metrics.
    pub metrics: Vec<EpochMetrics>,
    /// The trained learner (evaluation mode).
    pub learner: Learner,
    /// Seconds of training and evaluation.
    pub seconds: f64,
}

/// Options of one run that are not part of the experiment.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Continue from `checkpoint/` of the run directory.
    pub resume: bool,
    /// Stop (as if killed) after this many epochs — for testing resume.
    pub stop_after_epochs: Option<usize>,
    /// Show a progress bar.
    pub progress: bool,
}

/// Loads the dataset of a config and applies its limits (seeded subsets).
pub fn load_data(cfg: &TrainConfig) -> Result<Dataset> {
    let mut data = infoplane_data::load(
        cfg.data.dataset,
        &Locator::standard(cfg.data.data_dir.clone()),
    )?;
    if let Some(n) = cfg.data.limit_train {
        data.train = data.train.subset(n, cfg.seed);
    }
    if let Some(n) = cfg.data.limit_test {
        data.test = data.test.subset(n, cfg.seed.wrapping_add(1));
    }
    Ok(data)
}

/// The input pipeline of a config (normalization of the dataset, padding, augmentation).
pub fn pipeline(cfg: &TrainConfig) -> Pipeline {
    Pipeline {
        pad_to: cfg.data.pad_to,
        normalize: Normalization::for_dataset(cfg.data.dataset),
        augment: match cfg.data.augment.as_str() {
            "flip" => Augment::Flip,
            "crop-flip" => Augment::CropFlip(4),
            _ => Augment::None,
        },
    }
}

/// A fresh learner for a config (seeded).
pub fn build_learner(cfg: &TrainConfig, data: &Dataset, device: &Device) -> Learner {
    let shape = pipeline(cfg).output_shape(data.train.shape);
    let head = (cfg.strategy == StrategyKind::Layerwise).then_some(cfg.model.head);
    seeded(device, cfg.seed, |d| {
        Learner::new(cfg.model.arch.init(shape, data.num_classes, d), head, d)
    })
}

fn optimizer(cfg: &TrainConfig) -> ModuleOptimizer {
    let wd = (cfg.optim.weight_decay > 0.0)
        .then(|| WeightDecayConfig::new(cfg.optim.weight_decay as f32));
    match cfg.optim.kind {
        OptimizerKind::Adam => AdamConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(wd)
            .init(),
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum(Some(
                MomentumConfig::new()
                    .with_momentum(cfg.optim.momentum)
                    .with_dampening(0.0),
            ))
            .with_weight_decay(wd)
            .init(),
    }
}

fn write_json_line<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| TrainError::io(path, e))?;
    writeln!(f, "{}", serde_json::to_string(value).expect("serializable"))
        .map_err(|e| TrainError::io(path, e))
}

/// Keeps only the JSON lines of `path` for which `keep` holds (used on resume).
fn truncate_json_lines(path: &Path, keep: impl Fn(&serde_json::Value) -> bool) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .map(|v| keep(&v))
                .unwrap_or(false)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(path, kept).map_err(|e| TrainError::io(path, e))
}

/// Reads `metrics.jsonl`.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochMetrics>> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| TrainError::RunDir {
                path: path.into(),
                reason: format!("not a metrics line: {e}"),
            })
        })
        .collect()
}

fn checkpoint_dir(run: &Path) -> PathBuf {
    run.join("checkpoint")
}

fn ckpt_err(path: &Path, e: impl std::fmt::Debug) -> TrainError {
    TrainError::Checkpoint {
        path: path.into(),
        reason: format!("{e:?}"),
    }
}

fn save_checkpoint(
    run: &Path,
    learner: &Learner,
    optim: &ModuleOptimizer,
    state: &LoopState,
) -> Result<()> {
    let tmp = run.join("checkpoint.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    learner
        .clone()
        .save_file(tmp.join("learner.bpk"))
        .map_err(|e| ckpt_err(&tmp.join("learner.bpk"), e))?;
    optim
        .save(tmp.join("optim.bpk"))
        .map_err(|e| ckpt_err(&tmp.join("optim.bpk"), e))?;
    std::fs::write(
        tmp.join("state.json"),
        serde_json::to_string_pretty(state).expect("state"),
    )
    .map_err(|e| TrainError::io(tmp.join("state.json"), e))?;
    let dst = checkpoint_dir(run);
    if dst.exists() {
        std::fs::remove_dir_all(&dst).map_err(|e| TrainError::io(&dst, e))?;
    }
    std::fs::rename(&tmp, &dst).map_err(|e| TrainError::io(&dst, e))
}

fn load_checkpoint(
    run: &Path,
    learner: Learner,
    optim: ModuleOptimizer,
) -> Result<(Learner, ModuleOptimizer, LoopState)> {
    let dir = checkpoint_dir(run);
    let state_path = dir.join("state.json");
    let text = std::fs::read_to_string(&state_path).map_err(|_| TrainError::RunDir {
        path: dir.clone(),
        reason: "no checkpoint to resume from (the run never finished an epoch); start it again without --resume".into(),
    })?;
    let state: LoopState = serde_json::from_str(&text).map_err(|e| ckpt_err(&state_path, e))?;
    let learner = learner
        .try_load_file(dir.join("learner.bpk"))
        .map_err(|e| ckpt_err(&dir.join("learner.bpk"), e))?;
    let optim = optim
        .load(dir.join("optim.bpk"))
        .map_err(|e| ckpt_err(&dir.join("optim.bpk"), e))?;
    Ok((learner, optim, state))
}

/// Trains `cfg` on `data` into `run_dir` with the given observers.
pub fn train(
    cfg: &TrainConfig,
    data: &Dataset,
    device: &Device,
    run_dir: &Path,
    observers: &mut [Box<dyn Observer>],
    opts: &RunOptions,
) -> Result<RunOutcome> {
    let device = device.clone().autodiff();
    std::fs::create_dir_all(run_dir).map_err(|e| TrainError::io(run_dir, e))?;
    let summary = run_dir.join("summary.json");
    if summary.exists() && !opts.resume {
        std::fs::remove_file(&summary).map_err(|e| TrainError::io(&summary, e))?;
    }
    std::fs::write(run_dir.join("config.toml"), cfg.to_toml())
        .map_err(|e| TrainError::io(run_dir.join("config.toml"), e))?;
    let pipe = pipeline(cfg);
    let plan = BatchPlan {
        batch_size: cfg.batch_size,
        shuffle: true,
        drop_last: false,
        seed: cfg.seed,
    };
    plan.validate(data.train.len())?;
    let strategy = strategy_for(cfg.strategy);
    let mut learner = build_learner(cfg, data, &device);
    let mut optim = optimizer(cfg);
    let metrics_path = run_dir.join("metrics.jsonl");
    let mut state = LoopState {
        epoch: 0,
        step: 0,
        seconds: 0.0,
    };
    let mut metrics = Vec::new();
    if opts.resume {
        let (l, o, s) = load_checkpoint(run_dir, learner, optim)?;
        (learner, optim, state) = (l, o, s);
        let (ep, st) = (state.epoch, state.step);
        truncate_json_lines(&metrics_path, |v| {
            v["epoch"].as_u64().is_some_and(|e| e as usize <= ep)
        })?;
        truncate_json_lines(&run_dir.join("infoplane.jsonl"), |v| {
            v["step"].as_u64().is_some_and(|s| s <= st)
        })?;
        metrics = read_metrics(&metrics_path)?;
        tracing::info!(epoch = ep, step = st, "resumed from checkpoint");
    } else {
        // Observers own their files (and were created before this call); the loop owns the
        // metrics and the checkpoint.
        if metrics_path.exists() {
            std::fs::remove_file(&metrics_path).map_err(|e| TrainError::io(&metrics_path, e))?;
        }
        let cp = checkpoint_dir(run_dir);
        if cp.exists() {
            std::fs::remove_dir_all(&cp).map_err(|e| TrainError::io(&cp, e))?;
        }
    }
    let test_inputs = host_inputs(&data.test, &pipe);
    let eval_device = device.clone().without_autodiff();
    // Calls every observer at an evaluation point; returns the seconds it took.
    let notify = |observers: &mut [Box<dyn Observer>],
                  learner: &Learner,
                  step: u64,
                  epoch: f64,
                  point: EvalPoint|
     -> Result<f64> {
        let t = Instant::now();
        let valid = learner.valid();
        let ctx = EvalContext {
            step,
            epoch,
            point,
            learner: &valid,
            device: &eval_device,
            data,
            pipeline: &pipe,
        };
        for o in observers.iter_mut() {
            o.on_eval(&ctx)?;
        }
        Ok(t.elapsed().as_secs_f64())
    };
    if state.epoch == 0 {
        notify(observers, &learner, 0, 0.0, EvalPoint::Start)?;
    }
    let per_epoch = plan.batches_per_epoch(data.train.len());
    let started = Instant::now();
    let base_seconds = state.seconds;
    for epoch in state.epoch + 1..=cfg.epochs {
        if opts.stop_after_epochs.is_some_and(|k| epoch > k) {
            break;
        }
        let t0 = Instant::now();
        let lr = cfg.optim.lr_at(epoch);
        let order = epoch_order(data.train.len(), &plan, epoch);
        let bar = opts.progress.then(|| {
            let b = indicatif::ProgressBar::new(per_epoch as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                    .expect("template")
                    .progress_chars("=> "),
            );
            b.set_prefix(format!("{} epoch {epoch}/{}", cfg.name, cfg.epochs));
            b
        });
        let (mut loss_sum, mut seen, mut ok) = (0.0f64, 0usize, 0usize);
        let mut stage_sums: Vec<f64> = Vec::new();
        let mut observer_seconds = 0.0;
        for b in 0..per_epoch {
            let hb = make_batch(&data.train, &pipe, &plan, epoch, &order, b);
            let n = hb.labels.len();
            let (x, y) = hb.to_tensors(&device);
            let (l, report) = strategy.step(learner, &mut optim, lr, x, y);
            learner = l;
            state.step += 1;
            if !report.loss.is_finite() || report.stage_losses.iter().any(|v| !v.is_finite()) {
                let bad = if report.loss.is_finite() {
                    f32::NAN
                } else {
                    report.loss
                };
                let checkpoint = if checkpoint_dir(run_dir).join("state.json").exists() {
                    format!(
                        "The last good checkpoint is {} (epoch {}). ",
                        checkpoint_dir(run_dir).display(),
                        state.epoch
                    )
                } else {
                    "No epoch had finished, so there is no checkpoint. ".to_string()
                };
                return Err(TrainError::NonFiniteLoss {
                    value: bad,
                    epoch,
                    step: state.step,
                    checkpoint,
                });
            }
            loss_sum += report.loss as f64 * n as f64;
            if stage_sums.is_empty() {
                stage_sums = vec![0.0; report.stage_losses.len()];
            }
            for (s, v) in stage_sums.iter_mut().zip(&report.stage_losses) {
                *s += *v as f64 * n as f64;
            }
            seen += n;
            ok += report.correct;
            if let Some(bar) = &bar {
                bar.inc(1);
                bar.set_message(format!("loss {:.4}", report.loss));
            }
            if b + 1 < per_epoch {
                observer_seconds += notify(
                    observers,
                    &learner,
                    state.step,
                    epoch as f64 - 1.0 + (b + 1) as f64 / per_epoch as f64,
                    EvalPoint::Step,
                )?;
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let valid = learner.valid();
        let (test_accuracy, heads) = accuracies(&valid, &test_inputs, &eval_device);
        state.epoch = epoch;
        observer_seconds += notify(
            observers,
            &learner,
            state.step,
            epoch as f64,
            EvalPoint::EpochEnd,
        )?;
        state.seconds = base_seconds + started.elapsed().as_secs_f64();
        let m = EpochMetrics {
            epoch,
            step: state.step,
            loss: loss_sum / seen.max(1) as f64,
            stage_losses: stage_sums.iter().map(|s| s / seen.max(1) as f64).collect(),
            train_accuracy: ok as f64 / seen.max(1) as f64,
            test_accuracy,
            stage_head_accuracy: heads,
            lr,
            seconds: t0.elapsed().as_secs_f64(),
            observer_seconds,
        };
        tracing::info!(run = %cfg.name, epoch, loss = m.loss, train_acc = m.train_accuracy, test_acc = m.test_accuracy, "epoch done");
        write_json_line(&metrics_path, &m)?;
        metrics.push(m);
        save_checkpoint(run_dir, &learner, &optim, &state)?;
    }
    let learner = learner.valid();
    if state.epoch == cfg.epochs {
        let ctx = EvalContext {
            step: state.step,
            epoch: state.epoch as f64,
            point: EvalPoint::EpochEnd,
            learner: &learner,
            device: &eval_device,
            data,
            pipeline: &pipe,
        };
        for o in observers.iter_mut() {
            o.on_end(&ctx)?;
        }
    }
    Ok(RunOutcome {
        metrics,
        learner,
        seconds: base_seconds + started.elapsed().as_secs_f64(),
    })
}
