//! ResNet18 and ResNet50 for CIFAR-sized inputs (table 1, figures 6, 15, 16).

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::{check_dropout, check_width, head_features, one, scaled, yes};
use crate::error::ModelError;
use crate::heads::MAX_HEAD_FEATURES;
use crate::repr::TokenReadout;
use crate::stage::{BasicBlock, Block, Bottleneck, ConvBlock, ConvBlockConfig};
use crate::staged::{Classifier, StagedModel};

/// ResNet for CIFAR-sized inputs (He et al. 2016): a 3x3 stem convolution without max-pooling,
/// then residual blocks in four groups (widths 64, 128, 256, 512 × width; strides 1, 2, 2, 2),
/// global average pooling and a linear classifier. One stage = the stem, then one per residual
/// block: ResNet18 has 9 representations, ResNet50 17.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNetConfig {
    /// Batch norm (without it the convolutions get biases).
    #[serde(default = "yes")]
    pub batch_norm: bool,
    /// Width multiplier.
    #[serde(default = "one")]
    pub width: f64,
    /// Dropout after the stem (the reference code's layer-wise stem has 0.2).
    #[serde(default)]
    pub dropout: f64,
    /// Largest number of features an auxiliary head or probe sees.
    #[serde(default = "head_features")]
    pub head_features: usize,
}

impl Default for ResNetConfig {
    fn default() -> Self {
        ResNetConfig {
            batch_norm: true,
            width: 1.0,
            dropout: 0.0,
            head_features: MAX_HEAD_FEATURES,
        }
    }
}

/// Which residual network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResNetDepth {
    /// Basic blocks [2, 2, 2, 2].
    R18,
    /// Bottlenecks [3, 4, 6, 3].
    R50,
}

impl ResNetConfig {
    /// Builds ResNet18 or ResNet50.
    pub fn init(
        &self,
        depth: ResNetDepth,
        input: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> Result<StagedModel, ModelError> {
        check_width(self.width)?;
        check_dropout(self.dropout)?;
        if input[1] < 8 || input[2] < 8 {
            return Err(ModelError::InvalidOption {
                option: "arch",
                reason: format!(
                    "ResNet needs inputs of at least 8x8, got {}x{}",
                    input[1], input[2]
                ),
            });
        }
        let w = |c| scaled(c, self.width);
        let stem = w(64);
        let mut stages = vec![Block::Conv(ConvBlock::new(
            ConvBlockConfig {
                cin: input[0],
                cout: stem,
                kernel: 3,
                stride: 1,
                padding: 1,
                batch_norm: self.batch_norm,
                bias: !self.batch_norm,
                dropout: self.dropout,
                pool: 1,
            },
            device,
        ))];
        let mut names = vec!["stem".to_string()];
        let counts = match depth {
            ResNetDepth::R18 => [2, 2, 2, 2],
            ResNetDepth::R50 => [3, 4, 6, 3],
        };
        let mut cin = stem;
        for (g, (&count, planes)) in counts.iter().zip([64, 128, 256, 512]).enumerate() {
            for b in 0..count {
                let stride = if g > 0 && b == 0 { 2 } else { 1 };
                let planes = w(planes);
                let block = match depth {
                    ResNetDepth::R18 => {
                        let blk = BasicBlock::new(cin, planes, stride, self.batch_norm, device);
                        cin = planes;
                        Block::Basic(blk)
                    }
                    ResNetDepth::R50 => {
                        let blk = Bottleneck::new(cin, planes, stride, self.batch_norm, device);
                        cin = Bottleneck::EXPANSION * planes;
                        Block::Bottleneck(blk)
                    }
                };
                stages.push(block);
                names.push(format!("block{}.{}", g + 1, b + 1));
            }
        }
        let name = match depth {
            ResNetDepth::R18 => "ResNet18",
            ResNetDepth::R50 => "ResNet50",
        };
        let desc = format!(
            "{name} (CIFAR stem: 3x3 conv, no max-pool; width x{}{}): stem + {} residual blocks, global average pooling, linear {cin}→{classes}",
            self.width,
            if self.batch_norm {
                ""
            } else {
                ", without batch norm"
            },
            stages.len() - 1
        );
        let classifier = Classifier::linear(cin, classes, TokenReadout::Mean, device);
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
