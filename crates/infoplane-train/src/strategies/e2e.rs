//! End-to-end training: one cross-entropy loss on the last stage's output, backpropagated
//! through every stage.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Int, Tensor};

use super::{StepReport, Strategy, cross_entropy};
use crate::learner::{Learner, correct};

/// E2E with cross-entropy.
#[derive(Debug, Clone, Copy)]
pub struct EndToEnd;

impl Strategy for EndToEnd {
    fn name(&self) -> &'static str {
        "e2e"
    }

    fn step(
        &self,
        learner: Learner,
        optim: &mut ModuleOptimizer,
        lr: f64,
        x: Tensor<4>,
        y: Tensor<1, Int>,
    ) -> (Learner, StepReport) {
        let logits = learner.model.forward(x);
        let loss = cross_entropy(logits.clone(), y.clone());
        let ok = correct(logits.detach(), y);
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &learner);
        let learner = optim.step(lr, learner, grads);
        (
            learner,
            StepReport {
                loss: value,
                stage_losses: Vec::new(),
                correct: ok,
            },
        )
    }
}
