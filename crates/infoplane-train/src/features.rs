//! Running an evaluator over a whole split in chunks: every stage's representation, test
//! accuracy, and the features probes see.

use burn::tensor::{Device, Int, Tensor};
use infoplane_data::{HostBatch, Pipeline, Split, batch::materialize};
use infoplane_models::Repr;

use crate::strategy::Evaluate;
use crate::strategy::correct;

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

/// Every stage's representation of the whole batch, as the analyses read it, flattened:
/// `out[i]` is `[n, d_i]`.
pub fn representations(eval: &dyn Evaluate, batch: &HostBatch, device: &Device) -> Vec<Tensor<2>> {
    let mut per_stage: Vec<Vec<Tensor<2>>> = Vec::new();
    for (x, _) in chunks(batch, device) {
        let out = eval.evaluate(x);
        if per_stage.is_empty() {
            per_stage = vec![Vec::new(); out.representations.len()];
        }
        for (i, t) in out.representations.into_iter().enumerate() {
            per_stage[i].push(t.flatten());
        }
    }
    per_stage.into_iter().map(|v| Tensor::cat(v, 0)).collect()
}

/// Every stage's representation pooled for a probe (feature maps average-pooled to at most
/// `max` features, like the heads): `out[i]` is `[n, d_i]`.
pub fn probe_features(
    eval: &dyn Evaluate,
    batch: &HostBatch,
    device: &Device,
    max: usize,
) -> Vec<Tensor<2>> {
    let mut per_stage: Vec<Vec<Tensor<2>>> = Vec::new();
    for (x, _) in chunks(batch, device) {
        let out = eval.evaluate(x);
        if per_stage.is_empty() {
            per_stage = vec![Vec::new(); out.representations.len()];
        }
        for (i, t) in out.representations.into_iter().enumerate() {
            per_stage[i].push(pooled(t, max));
        }
    }
    per_stage.into_iter().map(|v| Tensor::cat(v, 0)).collect()
}

/// Accuracy of the class scores and of every classifying auxiliary head on a batch.
/// Returns (accuracy, per-stage head accuracy where the stage's head classifies).
pub fn accuracies(
    eval: &dyn Evaluate,
    batch: &HostBatch,
    device: &Device,
) -> (f64, Vec<Option<f64>>) {
    let n = batch.labels.len().max(1) as f64;
    let mut ok = 0usize;
    let mut heads: Vec<Option<usize>> = Vec::new();
    for (x, y) in chunks(batch, device) {
        let out = eval.evaluate(x);
        if heads.is_empty() {
            heads = out
                .head_scores
                .iter()
                .map(|h| h.as_ref().map(|_| 0))
                .collect();
        }
        for (acc, h) in heads.iter_mut().zip(out.head_scores) {
            if let (Some(a), Some(h)) = (acc.as_mut(), h) {
                *a += correct(h, y.clone());
            }
        }
        ok += correct(out.scores, y);
    }
    (
        ok as f64 / n,
        heads.into_iter().map(|c| c.map(|c| c as f64 / n)).collect(),
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
        other => other.flatten(),
    }
}
