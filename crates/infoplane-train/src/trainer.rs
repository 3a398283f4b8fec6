//! The training loop, written once for every strategy: phases, epochs, seeded batches,
//! optimizer steps through the strategy, the multi-step schedule (restarting with every phase),
//! evaluation, observers, checkpoints, metrics, progress.
//!
//! Run directory (the caller holds its lock, see [`crate::run`]):
//! - `config.toml`: the resolved config;
//! - `metrics.jsonl`: one line per epoch;
//! - `infoplane.jsonl`, `probes.csv`: written by the observers;
//! - `checkpoint/`: the strategy's parameters and optimizer state and the loop state,
//!   replaced atomically at every epoch end;
//! - `summary.json`: written last — a run without it did not finish.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use infoplane_data::{
    Augment, BatchPlan, Dataset, Locator, Normalization, Pipeline, Rng, SupConAugment,
    batch::epoch_order, make_batch,
};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::features::{accuracies, host_inputs};
use crate::observer::{EvalContext, EvalPoint, Observer};
use crate::rundir::RunLock;
use crate::strategies::{Strategy, TrainBatch};

/// Metrics of one epoch (one line of `metrics.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch (1-based, counted over all phases).
    pub epoch: usize,
    /// Phase (0-based).
    #[serde(default)]
    pub phase: usize,
    /// Epoch within the phase (1-based).
    #[serde(default)]
    pub phase_epoch: usize,
    /// Optimizer steps so far.
    pub step: u64,
    /// Mean training loss over the epoch.
    pub loss: f64,
    /// Mean local loss of every trained stage (layer-wise).
    pub stage_losses: Vec<f64>,
    /// Mean value of the nHSIC augmenting term of every trained stage (when used).
    #[serde(default)]
    pub stage_terms: Vec<f64>,
    /// Accuracy on the training batches as they were trained on; `null` when the strategy
    /// does not predict while training (every batch of the epoch must report it).
    pub train_accuracy: Option<f64>,
    /// Accuracy of the class scores on the test split.
    pub test_accuracy: f64,
    /// Test accuracy of every stage's auxiliary head where it classifies.
    pub stage_head_accuracy: Vec<Option<f64>>,
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
    /// Epochs completed (over all phases).
    pub epoch: usize,
    /// The phase of the last completed epoch.
    #[serde(default)]
    pub phase: usize,
    /// Epochs completed in that phase.
    #[serde(default)]
    pub phase_epoch: usize,
    /// Steps taken.
    pub step: u64,
    /// Seconds spent so far.
    pub seconds: f64,
}

/// What a finished loop reports.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Per-epoch metrics.
    pub metrics: Vec<EpochMetrics>,
    /// Seconds of training and evaluation.
    pub seconds: f64,
    /// True when every phase ran to its end.
    pub complete: bool,
}

/// Options of the loop that are not part of the experiment.
#[derive(Debug, Clone, Default)]
pub struct LoopOptions {
    /// Continue from `checkpoint/` of the run directory.
    pub resume: bool,
    /// Stop (as if killed) after this many epochs in all — for testing resume.
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
            "supcon" => Augment::SupCon(SupConAugment::default()),
            _ => Augment::None,
        },
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

/// The checkpoint folder of a run directory.
pub fn checkpoint_dir(run: &Path) -> PathBuf {
    run.join("checkpoint")
}

fn save_checkpoint(run: &Path, strategy: &dyn Strategy, state: &LoopState) -> Result<()> {
    let tmp = run.join("checkpoint.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    strategy.save(&tmp)?;
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

fn load_checkpoint(run: &Path, strategy: &mut dyn Strategy) -> Result<LoopState> {
    let dir = checkpoint_dir(run);
    let state_path = dir.join("state.json");
    let text = std::fs::read_to_string(&state_path).map_err(|_| TrainError::RunDir {
        path: dir.clone(),
        reason: "no checkpoint to resume from (the run never finished an epoch); start it again with --overwrite".into(),
    })?;
    let state: LoopState = serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path: state_path.clone(),
        reason: e.to_string(),
    })?;
    strategy.load(&dir)?;
    Ok(state)
}

/// The seed of burn's generator for one step (dropout masks): a pure function of the run's
/// seed and the step, so that a resumed run draws the same masks.
fn step_seed(seed: u64, step: u64) -> u64 {
    Rng::derive(seed, &[0xd509, step]).next_u64()
}

/// Trains `strategy` on `data` into `run_dir` (whose lock the caller holds) with the given
/// observers.
#[allow(clippy::too_many_arguments)]
pub fn train(
    cfg: &TrainConfig,
    data: &Dataset,
    device: &Device,
    run_dir: &Path,
    _lock: &RunLock,
    strategy: &mut dyn Strategy,
    observers: &mut [Box<dyn Observer>],
    opts: &LoopOptions,
) -> Result<RunOutcome> {
    let device = device.clone().autodiff();
    let eval_device = device.clone().without_autodiff();
    let pipe = pipeline(cfg);
    let views = strategy.views();
    if (views == 2) != matches!(pipe.augment, Augment::SupCon(_)) {
        return Err(TrainError::value(
            "data.augment",
            format!(
                "the strategy needs {views} view(s) of every sample; use \"supcon\" exactly for the contrastive losses"
            ),
        ));
    }
    let plan = BatchPlan {
        batch_size: cfg.batch_size,
        shuffle: true,
        drop_last: false,
        seed: cfg.seed,
    };
    plan.validate(data.train.len())?;
    let metrics_path = run_dir.join("metrics.jsonl");
    let mut state = LoopState {
        epoch: 0,
        phase: 0,
        phase_epoch: 0,
        step: 0,
        seconds: 0.0,
    };
    let mut metrics = Vec::new();
    if opts.resume {
        state = load_checkpoint(run_dir, strategy)?;
        let (ep, st) = (state.epoch, state.step);
        truncate_json_lines(&metrics_path, |v| {
            v["epoch"].as_u64().is_some_and(|e| e as usize <= ep)
        })?;
        truncate_json_lines(&run_dir.join("infoplane.jsonl"), |v| {
            v["step"].as_u64().is_some_and(|s| s <= st)
        })?;
        metrics = read_metrics(&metrics_path)?;
        tracing::info!(epoch = ep, step = st, "resumed from checkpoint");
    }
    let test_inputs = host_inputs(&data.test, &pipe);
    // Calls every observer at an evaluation point; returns the seconds it took.
    let notify = |observers: &mut [Box<dyn Observer>],
                  strategy: &dyn Strategy,
                  step: u64,
                  epoch: f64,
                  point: EvalPoint|
     -> Result<f64> {
        let t = Instant::now();
        let evaluator = strategy.evaluator();
        let ctx = EvalContext {
            step,
            epoch,
            point,
            evaluator: evaluator.as_ref(),
            device: &eval_device,
            data,
            pipeline: &pipe,
        };
        for o in observers.iter_mut() {
            o.on_eval(&ctx)?;
        }
        Ok(t.elapsed().as_secs_f64())
    };
    let phases = strategy.phases();
    let total_epochs: usize = phases.iter().map(|p| p.epochs).sum();
    if state.epoch == 0 {
        notify(observers, strategy, 0, 0.0, EvalPoint::Start)?;
    }
    let per_epoch = plan.batches_per_epoch(data.train.len());
    let started = Instant::now();
    let base_seconds = state.seconds;
    let mut stopped = false;
    'phases: for (p, phase) in phases.iter().enumerate().skip(state.phase) {
        strategy.enter_phase(p)?;
        let first = if p == state.phase {
            state.phase_epoch + 1
        } else {
            1
        };
        for phase_epoch in first..=phase.epochs {
            let epoch = state.epoch + 1;
            if opts.stop_after_epochs.is_some_and(|k| epoch > k) {
                stopped = true;
                break 'phases;
            }
            let t0 = Instant::now();
            let lr = cfg.optim.lr_at(phase_epoch);
            let order = epoch_order(data.train.len(), &plan, epoch);
            let bar = opts.progress.then(|| {
                let b = indicatif::ProgressBar::new(per_epoch as u64);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{prefix} [{bar:30}] {pos}/{len} {msg}",
                    )
                    .expect("template")
                    .progress_chars("=> "),
                );
                b.set_prefix(if phases.len() > 1 {
                    format!(
                        "{} {} epoch {phase_epoch}/{}",
                        cfg.name, phase.name, phase.epochs
                    )
                } else {
                    format!("{} epoch {epoch}/{total_epochs}", cfg.name)
                });
                b
            });
            let (mut loss_sum, mut seen, mut ok) = (0.0f64, 0usize, Some(0usize));
            let mut stage_sums: Vec<f64> = Vec::new();
            let mut term_sums: Vec<f64> = Vec::new();
            let mut observer_seconds = 0.0;
            for b in 0..per_epoch {
                let hb = make_batch(&data.train, &pipe, &plan, epoch, &order, b);
                let (x, y) = hb.to_tensors(&device);
                let batch = TrainBatch { x, y, views };
                let n = batch.samples();
                device.seed(step_seed(cfg.seed, state.step));
                let report = strategy.step(batch, lr)?;
                state.step += 1;
                if !report.loss.is_finite() || report.stage_losses.iter().any(|v| !v.is_finite()) {
                    let bad = if report.loss.is_finite() {
                        report
                            .stage_losses
                            .iter()
                            .copied()
                            .find(|v| !v.is_finite())
                            .unwrap_or(f32::NAN)
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
                if stage_sums.len() < report.stage_losses.len() {
                    stage_sums.resize(report.stage_losses.len(), 0.0);
                }
                for (s, v) in stage_sums.iter_mut().zip(&report.stage_losses) {
                    *s += *v as f64 * n as f64;
                }
                if term_sums.len() < report.stage_terms.len() {
                    term_sums.resize(report.stage_terms.len(), 0.0);
                }
                for (s, v) in term_sums.iter_mut().zip(&report.stage_terms) {
                    *s += *v as f64 * n as f64;
                }
                seen += n;
                match (report.correct, &mut ok) {
                    (Some(c), Some(o)) => *o += c,
                    _ => ok = None,
                }
                if let Some(bar) = &bar {
                    bar.inc(1);
                    bar.set_message(format!("loss {:.4}", report.loss));
                }
                if b + 1 < per_epoch {
                    observer_seconds += notify(
                        observers,
                        strategy,
                        state.step,
                        epoch as f64 - 1.0 + (b + 1) as f64 / per_epoch as f64,
                        EvalPoint::Step,
                    )?;
                }
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let (test_accuracy, heads) = {
                let evaluator = strategy.evaluator();
                accuracies(evaluator.as_ref(), &test_inputs, &eval_device)
            };
            state.epoch = epoch;
            state.phase = p;
            state.phase_epoch = phase_epoch;
            observer_seconds += notify(
                observers,
                strategy,
                state.step,
                epoch as f64,
                EvalPoint::EpochEnd,
            )?;
            state.seconds = base_seconds + started.elapsed().as_secs_f64();
            let per = |v: &[f64]| v.iter().map(|s| s / seen.max(1) as f64).collect();
            let m = EpochMetrics {
                epoch,
                phase: p,
                phase_epoch,
                step: state.step,
                loss: loss_sum / seen.max(1) as f64,
                stage_losses: per(&stage_sums),
                stage_terms: per(&term_sums),
                train_accuracy: ok.map(|o| o as f64 / seen.max(1) as f64),
                test_accuracy,
                stage_head_accuracy: heads,
                lr,
                seconds: t0.elapsed().as_secs_f64(),
                observer_seconds,
            };
            tracing::info!(run = %cfg.name, epoch, phase = %phase.name, loss = m.loss, train_acc = m.train_accuracy, test_acc = m.test_accuracy, "epoch done");
            write_json_line(&metrics_path, &m)?;
            metrics.push(m);
            save_checkpoint(run_dir, strategy, &state)?;
        }
    }
    let complete = !stopped && state.epoch == total_epochs;
    if complete {
        let evaluator = strategy.evaluator();
        let ctx = EvalContext {
            step: state.step,
            epoch: state.epoch as f64,
            point: EvalPoint::EpochEnd,
            evaluator: evaluator.as_ref(),
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
        seconds: base_seconds + started.elapsed().as_secs_f64(),
        complete,
    })
}
