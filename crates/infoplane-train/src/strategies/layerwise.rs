//! Layer-wise training, simultaneous (REFERENCE.md): one forward pass in which every stage sees
//! a detached input, its own local cross-entropy through its auxiliary head, and its own
//! update. Each stage's graph is backpropagated and dropped as soon as its local loss exists,
//! so at most one stage's activations are held for backpropagation at a time — the memory
//! advantage of local learning. Because the stages' parameters are disjoint and inputs are
//! detached, updating stage i before running stage i+1 on the (already computed) detached
//! output is the same as one joint update.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Int, Tensor};
use infoplane_models::Repr;

use super::{StepReport, Strategy, cross_entropy};
use crate::learner::{Learner, correct};

/// Simultaneous layer-wise training with local cross-entropy.
#[derive(Debug, Clone, Copy)]
pub struct LayerwiseSimultaneous;

impl Strategy for LayerwiseSimultaneous {
    fn name(&self) -> &'static str {
        "layerwise"
    }

    fn step(
        &self,
        mut learner: Learner,
        optim: &mut ModuleOptimizer,
        lr: f64,
        x: Tensor<4>,
        y: Tensor<1, Int>,
    ) -> (Learner, StepReport) {
        let stages = learner.model.num_stages();
        let mut input = Repr::Map(x);
        let mut losses = Vec::with_capacity(stages);
        let mut ok = 0;
        for i in 0..stages {
            let t = learner.model.forward_stage_detached(i, input);
            input = t.clone().detach();
            let logits = learner.stage_logits(i, t);
            let loss = cross_entropy(logits.clone(), y.clone());
            if i + 1 == stages {
                ok = correct(logits.detach(), y.clone());
            }
            losses.push(loss.clone().into_scalar::<f32>());
            // Only stage i and head i are in this loss's graph, so only they get gradients.
            let grads = GradientsParams::from_grads(loss.backward(), &learner);
            learner = optim.step(lr, learner, grads);
        }
        let last = *losses.last().expect("at least one stage");
        (
            learner,
            StepReport {
                loss: last,
                stage_losses: losses,
                correct: ok,
            },
        )
    }
}
