//! Training strategies: one small trait, one file per strategy. The loop
//! ([`crate::trainer`]) is written once and calls [`Strategy::step`] for every batch.

mod e2e;
mod layerwise;

pub use e2e::EndToEnd;
pub use layerwise::LayerwiseSimultaneous;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Int, Tensor};

use crate::config::StrategyKind;
use crate::learner::Learner;

/// What one training step reports.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// The loss the strategy optimizes (layer-wise: the last stage's local loss).
    pub loss: f32,
    /// Per-stage local losses (layer-wise), empty for E2E.
    pub stage_losses: Vec<f32>,
    /// Correct predictions of the model's output on this batch.
    pub correct: usize,
}

/// A way of turning a batch into parameter updates.
pub trait Strategy: std::fmt::Debug {
    /// Name in reports.
    fn name(&self) -> &'static str;

    /// One optimization step on a batch; returns the updated learner.
    fn step(
        &self,
        learner: Learner,
        optim: &mut ModuleOptimizer,
        lr: f64,
        x: Tensor<4>,
        y: Tensor<1, Int>,
    ) -> (Learner, StepReport);
}

/// The strategy for a config value.
pub fn strategy_for(kind: StrategyKind) -> Box<dyn Strategy> {
    match kind {
        StrategyKind::E2e => Box::new(EndToEnd),
        StrategyKind::Layerwise => Box::new(LayerwiseSimultaneous),
    }
}

/// Mean cross-entropy of `logits` against `labels`.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, labels)
}

/// Number of parameters of a learner (for reports).
pub fn num_params(l: &Learner) -> usize {
    l.num_params()
}
