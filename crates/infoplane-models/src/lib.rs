//! # infoplane-models
//!
//! Staged architectures for E2E and layer-wise training: a model is an ordered list of stages
//! (T(i−1) → T(i)), usable whole or stage by stage with detached inputs, exposing every
//! intermediate representation, with an optional classifier after the last stage. The paper's
//! architectures — LeNet5 (figure 3), the MLP (appendix F.4.4), VGG11 with and without batch
//! norm, ResNet18 and ResNet50 (table 1, figures 6, 15–18) and a ViT (figure 14) — and the
//! auxiliary heads of layer-wise training. A stage is any burn module implementing [`Stage`],
//! so models defined elsewhere train and measure the same way.
#![warn(missing_docs)]

pub mod arch;
pub mod error;
pub mod footprint;
pub mod heads;
pub mod repr;
pub mod stage;
pub mod staged;
pub mod summary;

pub use arch::{
    ArchConfig, LeNet5Config, MlpConfig, ResNetConfig, ResNetDepth, VggConfig, VitConfig,
};
pub use error::ModelError;
pub use footprint::Footprint;
pub use heads::{Head, HeadKind, HeadPurpose, MAX_HEAD_FEATURES, pool_kernel, pooled_features};
pub use repr::{Repr, TokenReadout};
pub use stage::{
    BasicBlock, Block, Bottleneck, ConvBlock, ConvBlockConfig, ConvBn, DenseBlock, PatchEmbed,
    Stage, TransformerBlock, VitStage,
};
pub use staged::{Classifier, StageRole, StagedModel};
pub use summary::{ModelSummary, StageInfo, count_batch_norms, count_parameters};
