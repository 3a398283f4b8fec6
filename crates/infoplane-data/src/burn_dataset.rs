//! A split as a burn `Dataset`, for users who feed burn's own `DataLoader`.
//!
//! Items are transformed by the pipeline without augmentation (augmentation is seeded per
//! batch in [`crate::batch`]).

use burn::data::dataset::{Dataset, DatasetError};

use crate::batch::{Augment, Pipeline};
use crate::dataset::Split;
use crate::error::DataError;
use crate::rng::Rng;

/// One transformed sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// `[c, h, w]` values after the pipeline.
    pub image: Vec<f32>,
    /// Shape of `image`.
    pub shape: [usize; 3],
    /// Class label.
    pub label: u8,
}

/// A split seen through a pipeline, implementing burn's `Dataset<Item>`.
#[derive(Debug, Clone)]
pub struct SplitDataset {
    split: Split,
    pipeline: Pipeline,
}

impl SplitDataset {
    /// Wraps a split; the pipeline's augmentation is not applied.
    pub fn new(split: Split, pipeline: Pipeline) -> Self {
        let pipeline = Pipeline {
            augment: Augment::None,
            ..pipeline
        };
        SplitDataset { split, pipeline }
    }
}

impl Dataset<Item> for SplitDataset {
    fn get(&self, index: usize) -> Result<Item, DatasetError> {
        if index >= self.split.len() {
            return Err(DatasetError::new(DataError::InvalidOption {
                option: "index",
                reason: format!(
                    "{index} is past the {} samples of the split",
                    self.split.len()
                ),
            }));
        }
        let mut image = Vec::new();
        let mut unused = Vec::new();
        self.pipeline.sample_into(
            &self.split,
            index,
            &mut Rng::new(0),
            &mut image,
            &mut unused,
        );
        Ok(Item {
            image,
            shape: self.pipeline.output_shape(self.split.shape),
            label: self.split.labels[index],
        })
    }

    fn len(&self) -> usize {
        self.split.len()
    }
}
