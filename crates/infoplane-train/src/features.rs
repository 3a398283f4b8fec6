//! Running a model over a whole split in chunks to collect every stage's representation.

use burn::tensor::{Device, Int, Tensor};
use infoplane_data::{HostBatch, Pipeline, Split, batch::materialize};
use infoplane_models::Repr;

use crate::learner::{Learner, correct};

/// Rows per forward pass when evaluating.
pub const EVAL_CHUNK: usize = 512;

/// Inputs of a split after the pipeline (no augmentation).
pub fn host_inputs(split: &Split, pipeline: &Pipeline) -> HostBatch {
    materialize(split, pipeline)
}

/// Splits a host batch into tensors of at most `EVAL_CHUNK` rows.
pub fn chunks(batch: &HostBatch, device: &Device) -> Vec<(Tensor<4>, Tensor<1, Int>)> {
    let [n, c, h, w] = batch.shape;
    let d = c * h * w;
    (0..n.div_ceil(EVAL_CHUNK))
        .map(|k| {
            let (a, b) = (k * EVAL_CHUNK, ((k + 1) * EVAL_CHUNK).min(n));
            HostBatch {
                images: batch.images[a * d..b * d].to_vec(),
                shape: [b - a, c, h, w],
                labels: batch.labels[a..b].to_vec(),
            }
            .to_tensors(device)
        })
        .collect()
}

/// Every stage's flattened representation of the whole batch: `out[i]` is `[n, d_i]`.
pub fn representations(learner: &Learner, batch: &HostBatch, device: &Device) -> Vec<Tensor<2>> {
    let mut per_stage: Vec<Vec<Tensor<2>>> = vec![Vec::new(); learner.model.num_stages()];
    for (x, _) in chunks(batch, device) {
        for (i, t) in learner.model.forward_all(x).into_iter().enumerate() {
            per_stage[i].push(t.flatten());
        }
    }
    per_stage.into_iter().map(|v| Tensor::cat(v, 0)).collect()
}

/// Accuracy of the model's output and of every auxiliary head on a batch.
/// Returns (model accuracy, per-head accuracies for stages 1..L−1).
pub fn accuracies(learner: &Learner, batch: &HostBatch, device: &Device) -> (f64, Vec<f64>) {
    let n = batch.labels.len().max(1) as f64;
    let mut ok = 0usize;
    let mut heads = vec![0usize; learner.heads.len()];
    for (x, y) in chunks(batch, device) {
        let reps = learner.model.forward_all(x);
        for (i, h) in learner.heads.iter().enumerate() {
            heads[i] += correct(h.forward(reps[i].clone()), y.clone());
        }
        let last = reps.into_iter().last().expect("stages").flatten();
        ok += correct(last, y);
    }
    (
        ok as f64 / n,
        heads.into_iter().map(|c| c as f64 / n).collect(),
    )
}

/// Average-pools feature maps to at most `max` features, like the heads do.
pub fn pooled(t: Repr, max: usize) -> Tensor<2> {
    match t {
        Repr::Map(m) => {
            let [_, c, h, w] = m.dims();
            let k = infoplane_models::pool_kernel(&[c, h, w], max);
            if k == [1, 1] {
                m.flatten::<2>(1, 3)
            } else {
                burn::nn::pool::AvgPool2dConfig::new(k)
                    .init()
                    .forward(m)
                    .flatten::<2>(1, 3)
            }
        }
        Repr::Flat(f) => f,
    }
}
