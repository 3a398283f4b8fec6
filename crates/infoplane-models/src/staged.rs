//! The staged-model abstraction (DESIGN.md, "Models"): an ordered list of stages, usable whole
//! (E2E: gradients flow through every stage) or stage by stage with detached inputs
//! (layer-wise: each stage sees its input as a constant), exposing every intermediate
//! representation for the analyses.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::repr::Repr;
use crate::stage::Stage;

/// A model made of stages T(0) = x → T(1) → … → T(L) = logits.
#[derive(Module, Debug)]
pub struct StagedModel {
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// Stage names, for reports ("conv1", "fc3", …).
    pub names: Vec<String>,
    /// Per-sample input shape (channels, height, width).
    pub input_shape: Vec<usize>,
    /// Number of classes of the last stage.
    pub num_classes: usize,
}

impl StagedModel {
    /// Number of stages.
    pub fn num_stages(&self) -> usize {
        self.stages.len()
    }

    /// The logits of `x` (`[n, c, h, w]` → `[n, classes]`), gradients through all stages.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.stages
            .iter()
            .fold(Repr::Map(x), |t, s| s.forward(t))
            .flatten()
    }

    /// Every representation T(1)..T(L), gradients through all stages (E2E).
    pub fn forward_all(&self, x: Tensor<4>) -> Vec<Repr> {
        let mut out = Vec::with_capacity(self.stages.len());
        let mut t = Repr::Map(x);
        for s in &self.stages {
            t = s.forward(t);
            out.push(t.clone());
        }
        out
    }

    /// Stage `i` (0-based) applied to `input` detached from the graph: gradients of anything
    /// computed from the result reach stage `i`'s parameters and stop there.
    pub fn forward_stage_detached(&self, i: usize, input: Repr) -> Repr {
        self.stages[i].forward(input.detach())
    }

    /// Per-sample shape of every representation for a batch of `x`'s shape, found by running
    /// one sample through the model on `device`.
    pub fn output_shapes(&self, device: &Device) -> Vec<Vec<usize>> {
        let shape = [
            1,
            self.input_shape[0],
            self.input_shape[1],
            self.input_shape[2],
        ];
        let x = Tensor::<4>::zeros(shape, &device.clone().without_autodiff());
        self.valid()
            .forward_all(x)
            .iter()
            .map(Repr::sample_shape)
            .collect()
    }
}
