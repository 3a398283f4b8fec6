//! Observers: analyses that watch training without the loop knowing what they measure.
//!
//! An observer owns its output files. The loop asks [`Observer::wants`] at every evaluation
//! point (before training, after every step, at epoch ends) and builds the strategy's
//! evaluator only when one of them wants to measure; it calls [`Observer::on_end`] once
//! training is done, and on resume tells every observer where training continues
//! ([`Observer::resume`]) so that it can drop what it recorded after the checkpoint.

use burn::tensor::Device;
use infoplane_data::Pipeline;

use crate::error::Result;
use crate::strategy::Evaluate;

/// Why the loop is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalPoint {
    /// Before the first step.
    Start,
    /// After an optimizer step inside an epoch.
    Step,
    /// At the end of an epoch.
    EpochEnd,
}

/// Where a resumed run continues: the checkpoint's last completed epoch and step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumePoint {
    /// Epochs completed (over all phases).
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: u64,
}

/// What an observer may look at. The evaluator is in evaluation mode, off the autodiff
/// device (no gradients).
pub struct EvalContext<'a> {
    /// Optimizer steps taken.
    pub step: u64,
    /// Epochs completed (fractional inside an epoch).
    pub epoch: f64,
    /// Why this call happens.
    pub point: EvalPoint,
    /// The current network, through its strategy's evaluation view.
    pub evaluator: &'a dyn Evaluate,
    /// The device measurements run on (no autodiff).
    pub device: &'a Device,
    /// How samples become inputs (evaluation uses it without augmentation).
    pub pipeline: &'a Pipeline,
}

/// An analysis plugged into training.
pub trait Observer {
    /// Name for logs.
    fn name(&self) -> &'static str;
    /// Whether it measures at this point (the loop builds an evaluator only when some
    /// observer does).
    fn wants(&self, _point: EvalPoint, _step: u64) -> bool {
        false
    }
    /// Called at the evaluation points it wants.
    fn on_eval(&mut self, _ctx: &EvalContext<'_>) -> Result<()> {
        Ok(())
    }
    /// Called once after the last epoch.
    fn on_end(&mut self, _ctx: &EvalContext<'_>) -> Result<()> {
        Ok(())
    }
    /// Called when a run resumes from a checkpoint: drop what was recorded after it.
    fn resume(&mut self, _at: ResumePoint) -> Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for EvalContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalContext")
            .field("step", &self.step)
            .field("epoch", &self.epoch)
            .field("point", &self.point)
            .field("stages", &self.evaluator.stage_names())
            .finish()
    }
}

/// Keeps only the JSON lines of `path` for which `keep` holds (resume), atomically.
pub fn truncate_json_lines(
    path: &std::path::Path,
    keep: impl Fn(&serde_json::Value) -> bool,
) -> Result<()> {
    use crate::error::TrainError;
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
    crate::rundir::write_atomic(path, kept.as_bytes())
}
