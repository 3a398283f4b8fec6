//! # infoplane-data
//!
//! Datasets for infoplane: readers for the MNIST / Fashion-MNIST IDX format and the CIFAR-10 /
//! CIFAR-100 binary formats, the generated "rings" toy set of the paper's section 4.2, finding
//! data on disk (`--data-dir`, `INFOPLANE_DATA`, `datasets/<name>/`, system locations),
//! transforms (normalization, padding, CIFAR and SupCon augmentation) and seeded batching into
//! burn tensors.
#![warn(missing_docs)]

pub mod batch;
pub mod burn_dataset;
pub mod cifar;
pub mod dataset;
pub mod error;
pub mod idx;
pub mod memory;
pub mod rings;
pub mod rng;
pub mod transform;

pub use batch::{Augment, BatchPlan, HostBatch, Pipeline, epoch_batches, make_batch, materialize};
pub use dataset::{Dataset, DatasetName, Locator, Pixels, Source, Split, load, load_from_dir};
pub use error::{DataError, Result};
pub use rings::RingsConfig;
pub use rng::Rng;
pub use transform::{Normalization, SupConAugment};
