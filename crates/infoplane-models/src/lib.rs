//! # infoplane-models
//!
//! Staged architectures for E2E and layer-wise training: a model is an ordered list of stages
//! (T(i−1) → T(i)), usable whole or stage by stage with detached inputs, exposing every
//! intermediate representation. LeNet5 (figure 3) and the five-layer MLP (appendix F.4.4),
//! and the auxiliary heads of layer-wise training (identity, linear, MLP).
#![warn(missing_docs)]

pub mod arch;
pub mod heads;
pub mod repr;
pub mod stage;
pub mod staged;

pub use arch::{Architecture, LeNet5Config, MlpConfig};
pub use heads::{Head, HeadKind, pool_kernel};
pub use repr::Repr;
pub use stage::{ConvStage, DenseStage, Stage};
pub use staged::StagedModel;
