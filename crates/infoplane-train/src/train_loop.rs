//! The training loop, written once for every strategy and every model: phases, epochs,
//! seeded batches, optimizer steps through the strategy, the multi-step schedule (restarting
//! with every phase), test accuracy, observers, checkpoints, metrics, progress, the
//! non-finite-loss guard, resume.
//!
//! It takes typed parts — the strategy (model included), the data, the learning-rate
//! schedule, the observers and a locked run directory — not an experiment config, so a model
//! defined anywhere trains through it. What it writes into the run directory:
//! - `metrics.jsonl`: one line per epoch ([`EpochMetrics`]);
//! - `checkpoint/`: the strategy's parameters and optimizer state and the loop state,
//!   replaced atomically at every epoch end.
//!
//! Observers write their own files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use infoplane_data::{BatchPlan, HostBatch, Pipeline, Rng, Split, batch::epoch_order, make_batch};
use serde::{Deserialize, Serialize};

use crate::config::LrSchedule;
use crate::error::{Result, TrainError};
use crate::features::{accuracies, host_inputs};
use crate::observer::{EvalContext, EvalPoint, Observer, ResumePoint, truncate_json_lines};
use crate::rundir::RunDir;
use crate::strategy::{Phase, StepReport, Strategy, TrainBatch};

/// Training batches whose forward passes calibrate batch norm's running statistics before
/// the first measurement.
pub const CALIBRATION_BATCHES: usize = 40;

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

/// The data a loop trains on: the training split, the test split for test accuracy, how
/// samples become inputs, and the batches.
#[derive(Debug, Clone, Copy)]
pub struct LoopData<'a> {
    /// Training samples.
    pub train: &'a Split,
    /// Test samples (test accuracy at every epoch end).
    pub test: &'a Split,
    /// Normalization, padding, augmentation.
    pub pipeline: &'a Pipeline,
    /// Samples per batch.
    pub batch_size: usize,
}

/// One training loop: typed parts, run by [`TrainLoop::run`].
pub struct TrainLoop<'a> {
    /// Name in logs and progress bars.
    pub name: &'a str,
    /// Seed of batch order, augmentation and the per-step generator (dropout, tangents).
    pub seed: u64,
    /// The data.
    pub data: LoopData<'a>,
    /// The learning-rate schedule (restarts with every phase).
    pub schedule: LrSchedule,
    /// The observers.
    pub observers: &'a mut [Box<dyn Observer>],
    /// The locked run directory.
    pub run: &'a RunDir,
    /// Resume, stop early, progress.
    pub options: LoopOptions,
}

impl std::fmt::Debug for TrainLoop<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainLoop")
            .field("name", &self.name)
            .field("run", &self.run.path())
            .finish()
    }
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

/// The good lines of a `metrics.jsonl` that may end damaged (a run killed while writing):
/// the epochs read up to the first line that does not parse, and that line's number and
/// error. Errors only when the file cannot be read.
pub fn read_metrics_prefix(path: &Path) -> Result<(Vec<EpochMetrics>, Option<String>)> {
    let text = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    let text = String::from_utf8_lossy(&text);
    let mut good = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(l) {
            Ok(m) => good.push(m),
            Err(e) => return Ok((good, Some(format!("line {} is damaged ({e})", i + 1)))),
        }
    }
    Ok((good, None))
}

/// The checkpoint folder of a run directory.
pub fn checkpoint_dir(run: &Path) -> PathBuf {
    run.join("checkpoint")
}

/// Writes the checkpoint so that a run killed at any point keeps a complete one: the new
/// checkpoint is written into `checkpoint.tmp` (its `state.json` last, so a folder with a
/// readable `state.json` is complete), the current one is renamed to `checkpoint.old`, the
/// new one renamed into place, and only then the old one removed.
fn save_checkpoint(run: &Path, strategy: &dyn Strategy, state: &LoopState) -> Result<()> {
    let tmp = run.join("checkpoint.tmp");
    let old = run.join("checkpoint.old");
    let dst = checkpoint_dir(run);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    strategy.save(&tmp)?;
    crate::rundir::write_atomic(
        &tmp.join("state.json"),
        serde_json::to_string_pretty(state)
            .expect("state")
            .as_bytes(),
    )?;
    if dst.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| TrainError::io(&old, e))?;
        }
        std::fs::rename(&dst, &old).map_err(|e| TrainError::io(&old, e))?;
    }
    std::fs::rename(&tmp, &dst).map_err(|e| TrainError::io(&dst, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| TrainError::io(&old, e))?;
    }
    Ok(())
}

/// The complete checkpoint to resume from: `checkpoint`, or — for a run killed while
/// replacing it — the newer complete one of `checkpoint.tmp` and `checkpoint.old`.
pub fn checkpoint_to_resume(run: &Path) -> Option<PathBuf> {
    let complete = |d: &Path| {
        std::fs::read_to_string(d.join("state.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<LoopState>(&t).ok())
    };
    let current = checkpoint_dir(run);
    if current.exists() {
        // The current folder is only ever a renamed complete one; if it is damaged, say so
        // when loading rather than silently falling back to an older state.
        return Some(current);
    }
    ["checkpoint.tmp", "checkpoint.old"]
        .iter()
        .map(|d| run.join(d))
        .filter_map(|d| complete(&d).map(|s| (s.step, d)))
        .max_by_key(|(step, _)| *step)
        .map(|(_, d)| d)
}

/// Loads the checkpoint of `run` into `strategy`; the loop state it was saved with.
pub fn load_checkpoint(run: &Path, strategy: &mut dyn Strategy) -> Result<LoopState> {
    let dir = checkpoint_to_resume(run).unwrap_or_else(|| checkpoint_dir(run));
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
    let current = checkpoint_dir(run);
    if dir != current {
        // A run killed while replacing its checkpoint: the complete one found becomes the
        // current one again before anything else is written.
        std::fs::rename(&dir, &current).map_err(|e| TrainError::io(&current, e))?;
    }
    Ok(state)
}

/// The seed of burn's generator for one step (dropout masks, tangents): a pure function of
/// the run's seed and the step, so that a resumed run draws the same.
fn step_seed(seed: u64, step: u64) -> u64 {
    Rng::derive(seed, &[0xd509, step]).next_u64()
}

/// Running sums of one epoch's step reports.
#[derive(Debug, Default)]
struct EpochSums {
    loss: f64,
    seen: usize,
    correct: Option<usize>,
    stages: Vec<f64>,
    terms: Vec<f64>,
    observer_seconds: f64,
}

impl EpochSums {
    fn new() -> Self {
        EpochSums {
            correct: Some(0),
            ..Default::default()
        }
    }

    fn add(&mut self, r: &StepReport, n: usize) {
        let w = n as f64;
        self.loss += r.loss as f64 * w;
        for (sums, values) in [
            (&mut self.stages, &r.stage_losses),
            (&mut self.terms, &r.stage_terms),
        ] {
            if sums.len() < values.len() {
                sums.resize(values.len(), 0.0);
            }
            for (s, v) in sums.iter_mut().zip(values) {
                *s += *v as f64 * w;
            }
        }
        self.seen += n;
        self.correct = match (r.correct, self.correct) {
            (Some(c), Some(o)) => Some(o + c),
            _ => None,
        };
    }

    fn mean(&self, v: &[f64]) -> Vec<f64> {
        v.iter().map(|s| s / self.seen.max(1) as f64).collect()
    }
}

/// Where the loop stands.
struct Progress {
    state: LoopState,
    metrics: Vec<EpochMetrics>,
    base_seconds: f64,
    started: Instant,
}

impl TrainLoop<'_> {
    /// Trains `strategy` on `device` (its autodiff device is used for training; measurements
    /// run without autodiff).
    pub fn run(mut self, strategy: &mut dyn Strategy, device: &Device) -> Result<RunOutcome> {
        let device = device.clone().autodiff();
        let views = strategy.views();
        if views != self.data.pipeline.augment.views() {
            return Err(TrainError::value(
                "data.augment",
                format!(
                    "the strategy needs {views} view(s) of every sample; use \"supcon\" exactly for the contrastive losses"
                ),
            ));
        }
        self.plan().validate(self.data.train.len())?;
        let mut at = self.start(strategy)?;
        let test_inputs = host_inputs(self.data.test, self.data.pipeline);
        if at.state.epoch == 0 {
            strategy.enter_phase(0)?;
            // Only a measurement before training reads the initial running statistics; the
            // first test evaluation comes after an epoch of training steps has updated them.
            if self.observers.iter().any(|o| o.wants(EvalPoint::Start, 0)) {
                let t = Instant::now();
                self.calibrate(strategy, &device)?;
                tracing::debug!(seconds = t.elapsed().as_secs_f64(), "batch norm calibrated");
            }
            self.notify(strategy, 0, 0.0, EvalPoint::Start, &device)?;
        }
        let phases = strategy.phases();
        let total_epochs: usize = phases.iter().map(|p| p.epochs).sum();
        let mut stopped = false;
        'phases: for (p, phase) in phases.iter().enumerate().skip(at.state.phase) {
            strategy.enter_phase(p)?;
            let first = if p == at.state.phase {
                at.state.phase_epoch + 1
            } else {
                1
            };
            for phase_epoch in first..=phase.epochs {
                let epoch = at.state.epoch + 1;
                if self.options.stop_after_epochs.is_some_and(|k| epoch > k) {
                    stopped = true;
                    break 'phases;
                }
                let label = self.label(&phases, p, phase_epoch, epoch, total_epochs);
                let m = self.epoch(
                    strategy,
                    &mut at,
                    (p, phase_epoch),
                    &label,
                    &test_inputs,
                    &device,
                )?;
                write_metrics_line(&self.run.join("metrics.jsonl"), &m)?;
                at.metrics.push(m);
                save_checkpoint(self.run.path(), strategy, &at.state)?;
            }
        }
        let complete = !stopped && at.state.epoch == total_epochs;
        if complete {
            self.end(strategy, &at.state, &device)?;
        }
        Ok(RunOutcome {
            metrics: at.metrics,
            seconds: at.base_seconds + at.started.elapsed().as_secs_f64(),
            complete,
        })
    }

    /// Before the first measurement of a model with batch norm (when an observer measures
    /// before training): forward passes in training mode over [`CALIBRATION_BATCHES`]
    /// training batches (a permutation of its own; no weight update), so that the running
    /// statistics the measurement uses are the data's and not their initial values (mean 0,
    /// variance 1). burn's momentum 0.1 leaves 0.9⁴⁰ ≈ 1.5% of the initial values.
    fn calibrate(&self, strategy: &mut dyn Strategy, device: &Device) -> Result<()> {
        if strategy.state().batch_norms() == 0 {
            return Ok(());
        }
        let plan = BatchPlan {
            seed: Rng::seed_for(self.seed, "calibration"),
            ..self.plan()
        };
        let n = self.data.train.len();
        let per_epoch = plan.batches_per_epoch(n).max(1);
        let order = epoch_order(n, &plan, 0);
        for k in 0..CALIBRATION_BATCHES {
            let hb = make_batch(
                self.data.train,
                self.data.pipeline,
                &plan,
                0,
                &order,
                k % per_epoch,
            );
            let (x, _) = hb.to_tensors(device);
            device.seed(Rng::derive(plan.seed, &[k as u64]).next_u64());
            strategy.state().forward_train(x);
        }
        Ok(())
    }

    fn plan(&self) -> BatchPlan {
        BatchPlan {
            batch_size: self.data.batch_size,
            shuffle: true,
            drop_last: false,
            seed: self.seed,
        }
    }

    /// A fresh start, or the checkpoint's state with every file cut back to it.
    fn start(&mut self, strategy: &mut dyn Strategy) -> Result<Progress> {
        let mut state = LoopState {
            epoch: 0,
            phase: 0,
            phase_epoch: 0,
            step: 0,
            seconds: 0.0,
        };
        let mut metrics = Vec::new();
        if self.options.resume {
            state = load_checkpoint(self.run.path(), strategy)?;
            let (ep, st) = (state.epoch, state.step);
            let path = self.run.join("metrics.jsonl");
            truncate_json_lines(&path, |v| {
                v["epoch"].as_u64().is_some_and(|e| e as usize <= ep)
            })?;
            metrics = if path.exists() {
                read_metrics(&path)?
            } else {
                Vec::new()
            };
            for o in self.observers.iter_mut() {
                o.resume(ResumePoint {
                    epoch: ep,
                    step: st,
                })?;
            }
            tracing::info!(epoch = ep, step = st, "resumed from checkpoint");
        }
        Ok(Progress {
            base_seconds: state.seconds,
            state,
            metrics,
            started: Instant::now(),
        })
    }

    fn label(
        &self,
        phases: &[Phase],
        p: usize,
        phase_epoch: usize,
        epoch: usize,
        total: usize,
    ) -> String {
        if phases.len() > 1 {
            format!(
                "{} {} epoch {phase_epoch}/{}",
                self.name, phases[p].name, phases[p].epochs
            )
        } else {
            format!("{} epoch {epoch}/{total}", self.name)
        }
    }

    fn progress_bar(&self, len: usize, label: &str) -> Option<indicatif::ProgressBar> {
        self.options.progress.then(|| {
            let b = indicatif::ProgressBar::new(len as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                    .expect("template")
                    .progress_chars("=> "),
            );
            b.set_prefix(label.to_string());
            b
        })
    }

    /// One epoch: every batch stepped, observers told, test accuracy measured.
    fn epoch(
        &mut self,
        strategy: &mut dyn Strategy,
        at: &mut Progress,
        (p, phase_epoch): (usize, usize),
        label: &str,
        test_inputs: &HostBatch,
        device: &Device,
    ) -> Result<EpochMetrics> {
        let t0 = Instant::now();
        let epoch = at.state.epoch + 1;
        let lr = self.schedule.lr_at(phase_epoch);
        let plan = self.plan();
        let order = epoch_order(self.data.train.len(), &plan, epoch);
        let per_epoch = plan.batches_per_epoch(self.data.train.len());
        let bar = self.progress_bar(per_epoch, label);
        let mut sums = EpochSums::new();
        for b in 0..per_epoch {
            let hb = make_batch(self.data.train, self.data.pipeline, &plan, epoch, &order, b);
            let (x, y) = hb.to_tensors(device);
            let views = self.data.pipeline.augment.views();
            let batch = TrainBatch { x, y, views };
            let n = batch.samples();
            device.seed(step_seed(self.seed, at.state.step));
            let report = strategy.step(batch, lr)?;
            at.state.step += 1;
            if let Some(bad) = report.non_finite() {
                return Err(self.non_finite(bad, epoch, &at.state));
            }
            let measured = b + 1 == per_epoch
                || self
                    .observers
                    .iter()
                    .any(|o| o.wants(EvalPoint::Step, at.state.step));
            if measured && let Some(param) = strategy.state().first_non_finite() {
                let what = format!("parameter `{param}`");
                return Err(self.non_finite_parameter(what, epoch, &at.state));
            }
            sums.add(&report, n);
            if let Some(bar) = &bar {
                bar.inc(1);
                bar.set_message(format!("loss {:.4}", report.loss));
            }
            if b + 1 < per_epoch {
                let e = epoch as f64 - 1.0 + (b + 1) as f64 / per_epoch as f64;
                sums.observer_seconds +=
                    self.notify(strategy, at.state.step, e, EvalPoint::Step, device)?;
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let eval_device = device.clone().without_autodiff();
        let (test_accuracy, heads) =
            accuracies(strategy.evaluator().as_ref(), test_inputs, &eval_device);
        at.state.epoch = epoch;
        at.state.phase = p;
        at.state.phase_epoch = phase_epoch;
        sums.observer_seconds += self.notify(
            strategy,
            at.state.step,
            epoch as f64,
            EvalPoint::EpochEnd,
            device,
        )?;
        at.state.seconds = at.base_seconds + at.started.elapsed().as_secs_f64();
        let m = EpochMetrics {
            epoch,
            phase: p,
            phase_epoch,
            step: at.state.step,
            loss: sums.loss / sums.seen.max(1) as f64,
            stage_losses: sums.mean(&sums.stages),
            stage_terms: sums.mean(&sums.terms),
            train_accuracy: sums.correct.map(|o| o as f64 / sums.seen.max(1) as f64),
            test_accuracy,
            stage_head_accuracy: heads,
            lr,
            seconds: t0.elapsed().as_secs_f64(),
            observer_seconds: sums.observer_seconds,
        };
        tracing::info!(run = %self.name, epoch, phase = p, loss = m.loss, train_acc = m.train_accuracy, test_acc = m.test_accuracy, "epoch done");
        Ok(m)
    }

    fn non_finite_parameter(&self, what: String, epoch: usize, state: &LoopState) -> TrainError {
        TrainError::NonFiniteParameter {
            what,
            epoch,
            step: state.step,
            checkpoint: self.last_checkpoint(state),
        }
    }

    fn non_finite(&self, value: f32, epoch: usize, state: &LoopState) -> TrainError {
        TrainError::NonFiniteLoss {
            value,
            epoch,
            step: state.step,
            checkpoint: self.last_checkpoint(state),
        }
    }

    fn last_checkpoint(&self, state: &LoopState) -> String {
        let ckpt = checkpoint_dir(self.run.path());
        if ckpt.join("state.json").exists() {
            format!(
                "The last good checkpoint is {} (epoch {}). ",
                ckpt.display(),
                state.epoch
            )
        } else {
            "No epoch had finished, so there is no checkpoint. ".to_string()
        }
    }

    /// Calls the observers that want this point; returns the seconds it took.
    fn notify(
        &mut self,
        strategy: &dyn Strategy,
        step: u64,
        epoch: f64,
        point: EvalPoint,
        device: &Device,
    ) -> Result<f64> {
        if !self.observers.iter().any(|o| o.wants(point, step)) {
            return Ok(0.0);
        }
        let t = Instant::now();
        let evaluator = strategy.evaluator();
        let eval_device = device.clone().without_autodiff();
        let ctx = EvalContext {
            step,
            epoch,
            point,
            evaluator: evaluator.as_ref(),
            device: &eval_device,
            pipeline: self.data.pipeline,
        };
        let run = self.run.path().to_path_buf();
        for o in self.observers.iter_mut().filter(|o| o.wants(point, step)) {
            // Finite parameters can still overflow in the forward pass: a measurement that
            // meets a non-finite representation reports the divergence, not the measurement.
            o.on_eval(&ctx).map_err(|e| match e {
                TrainError::Hsic(infoplane_hsic::HsicError::NonFinite { .. }) => {
                    TrainError::NonFiniteParameter {
                        what: "the network's representation of the evaluation samples".into(),
                        epoch: epoch.ceil() as usize,
                        step,
                        checkpoint: checkpoint_words(&run),
                    }
                }
                other => other,
            })?;
        }
        Ok(t.elapsed().as_secs_f64())
    }

    fn end(&mut self, strategy: &dyn Strategy, state: &LoopState, device: &Device) -> Result<()> {
        let evaluator = strategy.evaluator();
        let eval_device = device.clone().without_autodiff();
        let ctx = EvalContext {
            step: state.step,
            epoch: state.epoch as f64,
            point: EvalPoint::EpochEnd,
            evaluator: evaluator.as_ref(),
            device: &eval_device,
            pipeline: self.data.pipeline,
        };
        for o in self.observers.iter_mut() {
            o.on_end(&ctx)?;
        }
        Ok(())
    }
}

/// The last good checkpoint of `run` in words, read from its own state.
fn checkpoint_words(run: &Path) -> String {
    let ckpt = checkpoint_dir(run);
    let state = std::fs::read_to_string(ckpt.join("state.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<LoopState>(&t).ok());
    match state {
        Some(s) => format!(
            "The last good checkpoint is {} (epoch {}). ",
            ckpt.display(),
            s.epoch
        ),
        None => "No epoch had finished, so there is no checkpoint. ".to_string(),
    }
}

fn write_metrics_line(path: &Path, m: &EpochMetrics) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| TrainError::io(path, e))?;
    writeln!(f, "{}", serde_json::to_string(m).expect("serializable"))
        .map_err(|e| TrainError::io(path, e))
}
