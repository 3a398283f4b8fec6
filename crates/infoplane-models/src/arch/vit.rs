//! A small Vision Transformer (figure 14).

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::{
    MAX_DEPTH, MAX_INPUT_SIDE, check_dropout, check_range, check_width, head_features, one, scaled,
};
use crate::error::ModelError;
use crate::heads::MAX_HEAD_FEATURES;
use crate::repr::TokenReadout;
use crate::stage::{Block, PatchEmbed, TransformerBlock, VitStage};
use crate::staged::{Classifier, StagedModel};

/// A small Vision Transformer for 32x32 inputs (the paper's figure 14; its width, heads and
/// patch size were lost). Defaults: patches of 4x4 (64 tokens + a class token), width 192,
/// 3 heads of 64, MLP 384 (ratio 2), 6 pre-norm blocks, no dropout — the size of the
/// "ViT-Tiny" width with half its MLP, which trains from scratch on 32x32 data in a CPU budget;
/// patch 4 is the common choice for CIFAR-sized ViTs (8x8 tokens keep enough spatial detail).
/// One stage per block; the first stage also holds the patch embedding. Tokens are read by
/// `readout` (the class token by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VitConfig {
    /// Patch side in pixels.
    #[serde(default = "d_patch")]
    pub patch: usize,
    /// Token width before the multiplier.
    #[serde(default = "d_dim")]
    pub dim: usize,
    /// Attention heads.
    #[serde(default = "d_heads")]
    pub heads: usize,
    /// MLP hidden units per token width unit (hidden = ratio × dim).
    #[serde(default = "d_ratio")]
    pub mlp_ratio: usize,
    /// Transformer blocks.
    #[serde(default = "d_blocks")]
    pub depth: usize,
    /// Width multiplier (applied to `dim`, rounded to a multiple of `heads`).
    #[serde(default = "one")]
    pub width: f64,
    /// Dropout in attention and after attention and MLP.
    #[serde(default)]
    pub dropout: f64,
    /// How tokens are read by heads, probes, the information plane and the classifier.
    #[serde(default = "d_readout")]
    pub readout: TokenReadout,
    /// Largest number of features an auxiliary head or probe sees.
    #[serde(default = "head_features")]
    pub head_features: usize,
}

fn d_patch() -> usize {
    4
}
fn d_dim() -> usize {
    192
}
fn d_heads() -> usize {
    3
}
fn d_ratio() -> usize {
    2
}
fn d_blocks() -> usize {
    6
}
fn d_readout() -> TokenReadout {
    TokenReadout::Class
}

impl Default for VitConfig {
    fn default() -> Self {
        VitConfig {
            patch: d_patch(),
            dim: d_dim(),
            heads: d_heads(),
            mlp_ratio: d_ratio(),
            depth: d_blocks(),
            width: 1.0,
            dropout: 0.0,
            readout: d_readout(),
            head_features: MAX_HEAD_FEATURES,
        }
    }
}

impl VitConfig {
    /// Builds the model.
    pub fn init(
        &self,
        input: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> Result<StagedModel, ModelError> {
        check_width(self.width)?;
        check_dropout(self.dropout)?;
        if self.patch == 0
            || !input[1].is_multiple_of(self.patch)
            || !input[2].is_multiple_of(self.patch)
        {
            return Err(ModelError::InvalidOption {
                option: "patch",
                reason: format!(
                    "{} does not divide the {}x{} input",
                    self.patch, input[1], input[2]
                ),
            });
        }
        if input[1] != input[2] {
            return Err(ModelError::InvalidOption {
                option: "arch",
                reason: "the ViT takes square inputs".into(),
            });
        }
        if self.heads == 0 || self.depth == 0 || self.mlp_ratio == 0 {
            return Err(ModelError::InvalidOption {
                option: "heads",
                reason: "heads, depth and mlp_ratio must be at least 1".into(),
            });
        }
        check_range("dim", self.dim, 1, MAX_INPUT_SIDE)?;
        check_range("heads", self.heads, 1, MAX_INPUT_SIDE)?;
        check_range("mlp_ratio", self.mlp_ratio, 1, 64)?;
        check_range("depth", self.depth, 1, MAX_DEPTH)?;
        let dim = (scaled(self.dim, self.width).div_ceil(self.heads)) * self.heads;
        let stages: Vec<Block> = (0..self.depth)
            .map(|i| {
                Block::Vit(VitStage {
                    embed: (i == 0)
                        .then(|| PatchEmbed::new(input[0], input[1], self.patch, dim, device)),
                    block: TransformerBlock::new(
                        dim,
                        self.heads,
                        self.mlp_ratio * dim,
                        self.dropout,
                        device,
                    ),
                })
            })
            .collect();
        let names = (1..=self.depth).map(|i| format!("block{i}")).collect();
        let tokens = 1 + (input[1] / self.patch) * (input[2] / self.patch);
        let desc = format!(
            "ViT: {p}x{p} patches ({tokens} tokens with the class token), width {dim}, {h} heads, MLP {m}, {d} pre-norm blocks; tokens read by the {r} rule",
            p = self.patch,
            h = self.heads,
            m = self.mlp_ratio * dim,
            d = self.depth,
            r = match self.readout {
                TokenReadout::Mean => "mean-over-tokens",
                TokenReadout::Class => "class-token",
            }
        );
        let classifier = Classifier::linear(dim, classes, self.readout, device);
        Ok(
            StagedModel::new(stages, names, Some(classifier), input, classes, desc)
                .with_readout(self.readout),
        )
    }
}
