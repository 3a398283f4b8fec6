//! Seeded shuffling and batching of an in-memory split into burn tensors.
//!
//! A batch is a pure function of (seed, epoch, batch index): the order of an epoch comes from
//! `Rng::derive(seed, [epoch])` and each batch's augmentation from
//! `Rng::derive(seed, [epoch, batch])`. Same seed, same batches — also when a run resumes from
//! a checkpoint in the middle of training, which is why we batch here instead of through
//! burn's `DataLoader` (its shuffling state lives in the loader). Splits also implement burn's
//! `Dataset` trait (`crate::burn_dataset`) for users who want burn's loader.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::dataset::Split;
use crate::error::{DataError, Result};
use crate::rng::Rng;
use crate::transform::{Normalization, SupConAugment, pad_to, random_crop_flip};

/// Training-time augmentation.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Augment {
    /// No augmentation.
    #[default]
    None,
    /// Horizontal flip with probability 1/2 (the paper's CE runs on CIFAR).
    Flip,
    /// Random crop after zero padding by this many pixels, then flip (CIFAR standard: 4).
    CropFlip(usize),
    /// The SupCon two-view augmentation: each batch holds two views of every sample, the
    /// first views in rows 0..n and the second in rows n..2n.
    SupCon(SupConAugment),
}

impl Augment {
    /// Views of every sample a training batch holds (2 for the SupCon augmentation).
    pub fn views(&self) -> usize {
        if matches!(self, Augment::SupCon(_)) {
            2
        } else {
            1
        }
    }
}

/// How samples are turned into model inputs.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pipeline {
    /// Zero-pad images to this square size (28 → 32 for models that ask for it).
    pub pad_to: Option<usize>,
    /// Per-channel normalization, applied last.
    pub normalize: Option<Normalization>,
    /// Augmentation (training only).
    pub augment: Augment,
}

impl Pipeline {
    /// The shape of a sample after the pipeline.
    pub fn output_shape(&self, shape: [usize; 3]) -> [usize; 3] {
        match self.pad_to {
            Some(s) if shape[1] < s || shape[2] < s => [shape[0], s.max(shape[1]), s.max(shape[2])],
            _ => shape,
        }
    }

    /// Checks the pipeline against samples of `shape` and returns the shape of its output:
    /// `pad_to` must be at least the image's height and width (padding only enlarges), and one
    /// padded sample must fit in memory (sizes computed with checked
    /// arithmetic before anything is allocated; the model's footprint at the configured batch
    /// is checked where the model is built).
    pub fn check(&self, shape: [usize; 3]) -> Result<[usize; 3]> {
        if let Some(s) = self.pad_to {
            if s < shape[1] || s < shape[2] {
                return Err(DataError::InvalidOption {
                    option: "data.pad_to",
                    reason: format!(
                        "{s} is smaller than the {}x{} images: padding only enlarges; remove the key or set it to at least {}",
                        shape[1],
                        shape[2],
                        shape[1].max(shape[2])
                    ),
                });
            }
            let bytes = crate::memory::product(&[shape[0], s, s, 4]);
            if let Err(e) = crate::memory::check_fits(bytes) {
                return Err(DataError::InvalidOption {
                    option: "data.pad_to",
                    reason: format!("{s}: one padded {}x{s}x{s} sample {e}", shape[0]),
                });
            }
        }
        Ok(self.output_shape(shape))
    }

    /// Transforms sample `i` of `split`, appending one (or two, for SupCon) samples to `out`.
    pub fn sample_into(
        &self,
        split: &Split,
        i: usize,
        rng: &mut Rng,
        out: &mut Vec<f32>,
        second: &mut Vec<f32>,
    ) {
        let d = split.sample_len();
        let mut raw = Vec::with_capacity(d);
        split.pixels.to_f32(i * d..(i + 1) * d, &mut raw);
        let (mut x, shape) = match self.pad_to {
            Some(s) => pad_to(&raw, split.shape, s),
            None => (raw, split.shape),
        };
        let mut views = match &self.augment {
            Augment::None => vec![x],
            Augment::Flip => {
                if rng.bernoulli(0.5) {
                    crate::transform::hflip(&mut x, shape);
                }
                vec![x]
            }
            Augment::CropFlip(p) => vec![random_crop_flip(&x, shape, *p, rng)],
            Augment::SupCon(a) => a.two_views(&x, shape, rng).into(),
        };
        if let Some(n) = &self.normalize {
            for v in &mut views {
                n.apply(v, shape);
            }
        }
        let mut it = views.into_iter();
        out.extend(it.next().expect("one view"));
        if let Some(v) = it.next() {
            second.extend(v);
        }
    }
}

/// Batching settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BatchPlan {
    /// Samples per batch.
    pub batch_size: usize,
    /// Shuffle each epoch (seeded).
    pub shuffle: bool,
    /// Drop a last incomplete batch.
    pub drop_last: bool,
    /// Seed of shuffling and augmentation.
    pub seed: u64,
}

impl BatchPlan {
    /// Checks the plan against a split of `n` samples.
    pub fn validate(&self, n: usize) -> Result<()> {
        if self.batch_size == 0 {
            return Err(DataError::InvalidOption {
                option: "batch_size",
                reason: "must be at least 1".into(),
            });
        }
        if n == 0 || (self.drop_last && self.batch_size > n) {
            return Err(DataError::InvalidOption {
                option: "batch_size",
                reason: format!(
                    "{} is larger than the {n} samples available with drop_last",
                    self.batch_size
                ),
            });
        }
        Ok(())
    }

    /// Number of batches in one epoch over `n` samples.
    pub fn batches_per_epoch(&self, n: usize) -> usize {
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }
}

/// A batch on the host, before it becomes tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    /// `[n, c, h, w]` values (for SupCon, n = 2 × samples: first views, then second views).
    pub images: Vec<f32>,
    /// The batch shape.
    pub shape: [usize; 4],
    /// Labels, one per row of `images`.
    pub labels: Vec<u8>,
}

impl HostBatch {
    /// The batch as an image tensor `[n, c, h, w]` and a label tensor `[n]` on `device`.
    pub fn to_tensors(&self, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
        let x = Tensor::<4>::from_data(TensorData::new(self.images.clone(), self.shape), device);
        let y = Tensor::<1, Int>::from_data(
            TensorData::new(
                self.labels.iter().map(|&l| l as i64).collect::<Vec<_>>(),
                [self.labels.len()],
            ),
            device,
        );
        (x, y)
    }
}

/// The order in which an epoch visits the samples.
pub fn epoch_order(n: usize, plan: &BatchPlan, epoch: usize) -> Vec<usize> {
    if plan.shuffle {
        Rng::derive(plan.seed, &[epoch as u64]).permutation(n)
    } else {
        (0..n).collect()
    }
}

/// Builds batch `index` of `epoch` from the epoch's `order`.
pub fn make_batch(
    split: &Split,
    pipeline: &Pipeline,
    plan: &BatchPlan,
    epoch: usize,
    order: &[usize],
    index: usize,
) -> HostBatch {
    let start = index * plan.batch_size;
    let end = (start + plan.batch_size).min(order.len());
    let idx = &order[start..end];
    let mut rng = Rng::derive(plan.seed, &[epoch as u64, index as u64 + 1]);
    let shape = pipeline.output_shape(split.shape);
    let mut images = Vec::with_capacity(idx.len() * shape.iter().product::<usize>());
    let mut second = Vec::new();
    for &i in idx {
        pipeline.sample_into(split, i, &mut rng, &mut images, &mut second);
    }
    let mut labels: Vec<u8> = idx.iter().map(|&i| split.labels[i]).collect();
    let mut n = idx.len();
    if !second.is_empty() {
        images.extend(second);
        labels.extend_from_slice(&labels.clone());
        n *= 2;
    }
    HostBatch {
        images,
        shape: [n, shape[0], shape[1], shape[2]],
        labels,
    }
}

/// All batches of one epoch, built lazily.
pub fn epoch_batches<'a>(
    split: &'a Split,
    pipeline: &'a Pipeline,
    plan: &'a BatchPlan,
    epoch: usize,
) -> impl Iterator<Item = HostBatch> + 'a {
    let order = epoch_order(split.len(), plan, epoch);
    let count = plan.batches_per_epoch(split.len());
    (0..count).map(move |b| make_batch(split, pipeline, plan, epoch, &order, b))
}

/// The whole split transformed without augmentation, in order (for evaluation sets).
pub fn materialize(split: &Split, pipeline: &Pipeline) -> HostBatch {
    let plain = Pipeline {
        augment: Augment::None,
        ..pipeline.clone()
    };
    let plan = BatchPlan {
        batch_size: split.len().max(1),
        shuffle: false,
        drop_last: false,
        seed: 0,
    };
    let order: Vec<usize> = (0..split.len()).collect();
    make_batch(split, &plain, &plan, 0, &order, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Pixels;

    fn toy(n: usize) -> Split {
        Split {
            shape: [1, 2, 2],
            pixels: Pixels::U8((0..n * 4).map(|i| (i % 256) as u8).collect()),
            labels: (0..n).map(|i| (i % 3) as u8).collect(),
            coarse_labels: vec![],
        }
    }

    #[test]
    fn same_seed_same_batches_and_every_sample_once() {
        let s = toy(10);
        let p = Pipeline {
            augment: Augment::Flip,
            ..Default::default()
        };
        let plan = BatchPlan {
            batch_size: 4,
            shuffle: true,
            drop_last: false,
            seed: 42,
        };
        let a: Vec<_> = epoch_batches(&s, &p, &plan, 3).collect();
        let b: Vec<_> = epoch_batches(&s, &p, &plan, 3).collect();
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
        assert_eq!(a[2].shape, [2, 1, 2, 2]);
        let mut labels: Vec<u8> = a.iter().flat_map(|x| x.labels.clone()).collect();
        labels.sort();
        let mut want = s.labels.clone();
        want.sort();
        assert_eq!(labels, want);
        let c: Vec<_> = epoch_batches(&s, &p, &plan, 4).collect();
        assert_ne!(a, c, "another epoch, another order");
    }

    #[test]
    fn supcon_batches_hold_two_views() {
        let s = toy(3);
        let p = Pipeline {
            augment: Augment::SupCon(SupConAugment::default()),
            ..Default::default()
        };
        let plan = BatchPlan {
            batch_size: 3,
            shuffle: false,
            drop_last: false,
            seed: 1,
        };
        let b = make_batch(&s, &p, &plan, 0, &[0, 1, 2], 0);
        assert_eq!(b.shape[0], 6);
        assert_eq!(b.labels, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn bad_plan_is_an_error() {
        let plan = BatchPlan {
            batch_size: 0,
            shuffle: false,
            drop_last: false,
            seed: 0,
        };
        assert!(plan.validate(10).is_err());
        let plan = BatchPlan {
            batch_size: 20,
            shuffle: false,
            drop_last: true,
            seed: 0,
        };
        assert!(plan.validate(10).is_err());
    }
}
