//! # infoplane
//!
//! A toolkit for studying how networks learn when trained end-to-end versus layer-wise:
//! it trains the same staged architectures both ways, records every layer's normalized HSIC
//! with the input and the label during training (the information plane), probes the linear
//! separability of every layer, and reproduces the figures of "End-to-End Training Induces
//! Information Bottleneck through Layer-Role Differentiation" (TMLR 2024).
//!
//! This facade re-exports the member crates:
//! - [`data`]: datasets, file formats, transforms, seeded batching;
//! - [`models`]: staged architectures and auxiliary heads;
//! - [`hsic`]: HSIC / CKA / nHSIC estimators and the information-plane recorder;
//! - [`train`]: strategies, the training loop, observers, probes, run directories;
//! - [`flexconv`]: the convolution and max pooling (with their gradients) used on the flex CPU
//!   backend, and the allocator setting that goes with them.
//!
//! Backends are chosen by cargo features (`flex` by default; `tch`, `wgpu`, `cuda`), which
//! switch on the matching burn backend; the libraries themselves take any burn `Device`.
#![warn(missing_docs)]

pub use infoplane_data as data;
pub use infoplane_flexconv as flexconv;
pub use infoplane_hsic as hsic;
pub use infoplane_models as models;
pub use infoplane_train as train;
