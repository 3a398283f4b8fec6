//! VGG11 with and without batch norm (table 1, figures 17, 18).

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::{check_dropout, check_width, head_features, one, scaled, yes};
use crate::error::ModelError;
use crate::heads::MAX_HEAD_FEATURES;
use crate::repr::TokenReadout;
use crate::stage::{Block, ConvBlock, ConvBlockConfig, DenseBlock};
use crate::staged::{Classifier, StagedModel};

/// VGG11 (Simonyan & Zisserman 2015, CIFAR version): 64, M, 128, M, 256, 256, M, 512, 512, M,
/// 512, 512, M — one stage per convolution (conv → BN → ReLU → dropout, pooling inside the
/// stage), optionally two FC-512 blocks (the reference code's layer-wise VGG), then global
/// average pooling and a linear classifier. With 32x32 inputs the last map is 512x1x1; inputs
/// must be at least 32x32 (pad 28x28 data with `data.pad_to = 32`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VggConfig {
    /// Batch norm after every convolution (appendix F.4.4 also trains without).
    #[serde(default = "yes")]
    pub batch_norm: bool,
    /// Width multiplier of every layer.
    #[serde(default = "one")]
    pub width: f64,
    /// Dropout after every block (the reference code's layer-wise blocks use 0.2).
    #[serde(default)]
    pub dropout: f64,
    /// Two fully connected blocks of 512 (× width) before the classifier, as stages (the
    /// authors' code: E2E VGG's classifier 512–512–512–C, layer-wise VGG's two FC-512 blocks).
    #[serde(default)]
    pub fc_blocks: bool,
    /// Dropout of the fully connected blocks (default: `dropout`; the authors' E2E VGG 0.5).
    #[serde(default)]
    pub fc_dropout: Option<f64>,
    /// Batch norm in the fully connected blocks (default: `batch_norm`; the authors' E2E VGG
    /// has none there).
    #[serde(default)]
    pub fc_batch_norm: Option<bool>,
    /// Largest number of features an auxiliary head or probe sees.
    #[serde(default = "head_features")]
    pub head_features: usize,
}

impl Default for VggConfig {
    fn default() -> Self {
        VggConfig {
            batch_norm: true,
            width: 1.0,
            dropout: 0.0,
            fc_blocks: false,
            fc_dropout: None,
            fc_batch_norm: None,
            head_features: MAX_HEAD_FEATURES,
        }
    }
}

/// VGG11's layer plan: channel counts, 0 for a max-pooling.
pub const VGG11_PLAN: [usize; 13] = [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0];

impl VggConfig {
    /// VGG11 with batch norm (the paper's table 1, figure 17).
    pub fn paper_bn() -> Self {
        Self::default()
    }

    /// VGG11 without batch norm (appendix F.4.4, figure 18).
    pub fn paper_no_bn() -> Self {
        VggConfig {
            batch_norm: false,
            ..Self::default()
        }
    }

    /// The eight convolutional stages: (stages, names, channels of the last map).
    fn conv_stages(&self, channels: usize, device: &Device) -> (Vec<Block>, Vec<String>, usize) {
        let mut stages = Vec::new();
        let mut names = Vec::new();
        let mut cin = channels;
        let mut i = 0;
        while i < VGG11_PLAN.len() {
            let cout = scaled(VGG11_PLAN[i], self.width);
            let pool = if VGG11_PLAN.get(i + 1) == Some(&0) {
                i += 1;
                2
            } else {
                1
            };
            stages.push(Block::Conv(ConvBlock::new(
                ConvBlockConfig {
                    cin,
                    cout,
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                    batch_norm: self.batch_norm,
                    bias: true,
                    dropout: self.dropout,
                    pool,
                },
                device,
            )));
            names.push(format!("conv{}", stages.len()));
            cin = cout;
            i += 1;
        }
        (stages, names, cin)
    }

    /// The model in words.
    fn describe(&self, features: usize, classes: usize) -> String {
        format!(
            "VGG11{} (width x{}): 8 convolutional stages [{}]{}{}, global average pooling, linear {features}→{classes}",
            if self.batch_norm {
                " with batch norm"
            } else {
                " without batch norm"
            },
            self.width,
            VGG11_PLAN
                .iter()
                .map(|&c| if c == 0 {
                    "M".to_string()
                } else {
                    scaled(c, self.width).to_string()
                })
                .collect::<Vec<_>>()
                .join(", "),
            if self.fc_blocks {
                format!(
                    ", two FC-{} blocks ({}dropout {})",
                    scaled(512, self.width),
                    if self.fc_batch_norm.unwrap_or(self.batch_norm) {
                        "batch norm, "
                    } else {
                        ""
                    },
                    self.fc_dropout.unwrap_or(self.dropout)
                )
            } else {
                String::new()
            },
            if self.dropout > 0.0 {
                format!(", dropout {}", self.dropout)
            } else {
                String::new()
            }
        )
    }

    /// Builds the model.
    pub fn init(
        &self,
        input: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> Result<StagedModel, ModelError> {
        check_width(self.width)?;
        check_dropout(self.dropout)?;
        if input[1] < 32 || input[2] < 32 {
            return Err(ModelError::InvalidOption {
                option: "arch",
                reason: format!(
                    "vgg11 pools five times and needs inputs of at least 32x32, got {}x{}; pad the data with data.pad_to = 32",
                    input[1], input[2]
                ),
            });
        }
        let (mut stages, mut names, cin) = self.conv_stages(input[0], device);
        let mut features = cin;
        if self.fc_blocks {
            // The last map is c x (h/32) x (w/32); the blocks flatten it.
            let flat = cin * (input[1] / 32) * (input[2] / 32);
            let w = scaled(512, self.width);
            let dropout = self.fc_dropout.unwrap_or(self.dropout);
            check_dropout(dropout)?;
            for (din, name) in [(flat, "fc1"), (w, "fc2")] {
                stages.push(Block::Dense(DenseBlock::with(
                    din,
                    w,
                    true,
                    self.fc_batch_norm.unwrap_or(self.batch_norm),
                    dropout,
                    device,
                )));
                names.push(name.to_string());
            }
            features = w;
        }
        let desc = self.describe(features, classes);
        let classifier = Classifier::linear(features, classes, TokenReadout::Mean, device);
        Ok(StagedModel::new(
            stages,
            names,
            Some(classifier),
            input,
            classes,
            desc,
        ))
    }
}
