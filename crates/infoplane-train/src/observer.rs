//! Observers: analyses that watch training without the loop knowing what they measure.
//! The loop calls [`Observer::on_eval`] at evaluation points (before training, every N steps,
//! at epoch ends) and [`Observer::on_end`] once training is done.

use burn::tensor::Device;
use infoplane_data::{Dataset, Pipeline};

use crate::error::Result;
use crate::strategies::Evaluate;

/// Why the loop is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalPoint {
    /// Before the first step.
    Start,
    /// Every N steps, inside an epoch.
    Step,
    /// At the end of an epoch.
    EpochEnd,
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
    /// The device the learner lives on.
    pub device: &'a Device,
    /// The data (train and test splits).
    pub data: &'a Dataset,
    /// How samples become inputs (without augmentation for evaluation).
    pub pipeline: &'a Pipeline,
}

/// An analysis plugged into training.
pub trait Observer {
    /// Name for logs.
    fn name(&self) -> &'static str;
    /// Called at evaluation points.
    fn on_eval(&mut self, _ctx: &EvalContext<'_>) -> Result<()> {
        Ok(())
    }
    /// Called once after the last epoch.
    fn on_end(&mut self, _ctx: &EvalContext<'_>) -> Result<()> {
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
