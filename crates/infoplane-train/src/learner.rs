//! The trainable whole: the staged model plus the auxiliary heads of layer-wise training, as
//! one burn module so that one optimizer and one checkpoint hold everything.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use infoplane_models::{Head, HeadKind, Repr, StagedModel};

/// Model and heads. `heads[i]` serves stage `i`; the last stage has none (its output is the
/// logits), and E2E training has none at all.
#[derive(Module, Debug)]
pub struct Learner {
    /// The staged model.
    pub model: StagedModel,
    /// Auxiliary heads (layer-wise only).
    pub heads: Vec<Head>,
}

impl Learner {
    /// A learner with heads of `kind` for every stage but the last (`None`: no heads).
    pub fn new(model: StagedModel, head: Option<HeadKind>, device: &Device) -> Self {
        let heads = match head {
            None => Vec::new(),
            Some(kind) => {
                let shapes = model.output_shapes(device);
                shapes[..shapes.len() - 1]
                    .iter()
                    .map(|s| Head::new(kind, s, model.num_classes, device))
                    .collect()
            }
        };
        Learner { model, heads }
    }

    /// Logits of stage `i`'s local classifier from its representation (the last stage's
    /// representation is already the logits).
    pub fn stage_logits(&self, i: usize, t: Repr) -> Tensor<2> {
        match self.heads.get(i) {
            Some(h) => h.forward(t),
            None => t.flatten(),
        }
    }
}

/// Number of correct predictions of `logits` for `labels`.
pub fn correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    let pred = logits.argmax(1).squeeze_dim::<1>(1);
    pred.equal(labels).int().sum().into_scalar::<i64>() as usize
}
