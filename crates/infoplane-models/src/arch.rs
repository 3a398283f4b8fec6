//! The paper's architectures as staged models, each with a config whose fields a TOML `[model]`
//! table can set, and named presets. Input shape and class count come from the data.
//!
//! | arch | stages (representations) | classifier | source |
//! |---|---|---|---|
//! | `lenet5` | conv1, conv2, fc3, fc4, fc5 (5; fc5 = class scores) | none | figure 3 |
//! | `mlp` | fc1..fc5 (5; fc5 = class scores) | none | appendix F.4.4 |
//! | `vgg11` | conv1..conv8 (8), optionally fc1, fc2 (10) | GAP + linear | table 1, figures 17, 18 |
//! | `resnet18` | stem + 8 basic blocks (9) | GAP + linear | table 1, figures 6, 15 |
//! | `resnet50` | stem + 16 bottlenecks (17) | GAP + linear | table 1, figure 16 |
//! | `vit` | 6 transformer blocks (6; the first holds the patch embedding) | token readout + linear | figure 14 |
//!
//! Parameters use PyTorch's default initialization (the paper's runs had it; REFERENCE.md):
//! the training crate redraws every parameter on the host from the run's seed.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::heads::MAX_HEAD_FEATURES;
use crate::repr::TokenReadout;
use crate::stage::{
    BasicBlock, Block, Bottleneck, ConvBlock, ConvBlockConfig, DenseBlock, PatchEmbed,
    TransformerBlock, VitStage,
};
use crate::staged::{Classifier, StagedModel};

fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn head_features() -> usize {
    MAX_HEAD_FEATURES
}

/// Channels `c` scaled by the width multiplier (at least 1).
pub fn scaled(c: usize, width: f64) -> usize {
    ((c as f64 * width).round() as usize).max(1)
}

fn check_width(width: f64) -> Result<(), ModelError> {
    if !(width > 0.0 && width.is_finite()) {
        return Err(ModelError::InvalidOption {
            option: "width",
            reason: format!("{width} is not a positive multiplier"),
        });
    }
    Ok(())
}

fn check_dropout(p: f64) -> Result<(), ModelError> {
    if !(0.0..1.0).contains(&p) {
        return Err(ModelError::InvalidOption {
            option: "dropout",
            reason: format!("{p} is not a probability in [0, 1)"),
        });
    }
    Ok(())
}

/// LeNet5 (the paper's figure 3; REFERENCE.md): conv 6@5x5 + ReLU + max-pool 2, conv 16@5x5 +
/// ReLU + max-pool 2, fc 120 + ReLU, fc 84 + ReLU, fc C — five stages.
///
/// The classic network sees 32x32 inputs, so conv2 yields 16x5x5 = 400 features. For smaller
/// inputs (28x28 MNIST) `conv1_padding` defaults to what restores that shape (2 pixels on each
/// side for 28x28: 28 → 28 → 14 → 10 → 5); set it to 0 for the unpadded variant
/// (28 → 24 → 12 → 8 → 4, 16x4x4 = 256 features).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeNet5Config {
    /// Zero padding of conv1 on each side (default: (32 − input size) / 2, at least 0).
    #[serde(default)]
    pub conv1_padding: Option<usize>,
    /// Width multiplier of every layer (6, 16, 120, 84).
    #[serde(default = "one")]
    pub width: f64,
    /// Batch norm after every hidden layer.
    #[serde(default)]
    pub batch_norm: bool,
    /// Dropout after every hidden layer.
    #[serde(default)]
    pub dropout: f64,
    /// Largest number of features an auxiliary head or probe sees.
    #[serde(default = "head_features")]
    pub head_features: usize,
}

impl Default for LeNet5Config {
    fn default() -> Self {
        LeNet5Config {
            conv1_padding: None,
            width: 1.0,
            batch_norm: false,
            dropout: 0.0,
            head_features: MAX_HEAD_FEATURES,
        }
    }
}

impl LeNet5Config {
    /// conv1's padding for inputs of `size` pixels.
    pub fn padding_for(&self, size: usize) -> usize {
        self.conv1_padding
            .unwrap_or(32usize.saturating_sub(size) / 2)
    }

    /// Builds the model for `input` = (channels, height, width) and `classes` on `device`.
    pub fn init(
        &self,
        input: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> Result<StagedModel, ModelError> {
        check_width(self.width)?;
        check_dropout(self.dropout)?;
        let p = self.padding_for(input[1]);
        // conv 5 (pad p) → pool 2 → conv 5 → pool 2.
        let side = |s: usize| -> Option<usize> {
            let a = (s + 2 * p).checked_sub(4)? / 2;
            let b = a.checked_sub(4)? / 2;
            (b > 0).then_some(b)
        };
        let (Some(h), Some(w)) = (side(input[1]), side(input[2])) else {
            return Err(ModelError::InvalidOption {
                option: "conv1_padding",
                reason: format!(
                    "inputs of {}x{} with conv1 padding {p} leave no pixel after conv2; LeNet5 needs at least 16x16 after padding",
                    input[1], input[2]
                ),
            });
        };
        let (c1, c2, f3, f4) = (
            scaled(6, self.width),
            scaled(16, self.width),
            scaled(120, self.width),
            scaled(84, self.width),
        );
        let conv = |cin, cout, padding| ConvBlockConfig {
            cin,
            cout,
            kernel: 5,
            stride: 1,
            padding,
            batch_norm: self.batch_norm,
            bias: true,
            dropout: self.dropout,
            pool: 2,
        };
        let flat = c2 * h * w;
        let stages = vec![
            Block::Conv(ConvBlock::new(conv(input[0], c1, p), device)),
            Block::Conv(ConvBlock::new(conv(c1, c2, 0), device)),
            Block::Dense(DenseBlock::with(
                flat,
                f3,
                true,
                self.batch_norm,
                self.dropout,
                device,
            )),
            Block::Dense(DenseBlock::with(
                f3,
                f4,
                true,
                self.batch_norm,
                self.dropout,
                device,
            )),
            Block::Dense(DenseBlock::new(f4, classes, false, device)),
        ];
        let names = ["conv1", "conv2", "fc3", "fc4", "fc5"]
            .map(String::from)
            .to_vec();
        let desc = format!(
            "LeNet5: conv {c1}@5x5 (padding {p})–ReLU–maxpool 2, conv {c2}@5x5–ReLU–maxpool 2 ({c2}x{h}x{w} = {flat} features into fc3), fc {f3}–ReLU, fc {f4}–ReLU, fc {classes}{}",
            if self.batch_norm {
                "; batch norm after every hidden layer"
            } else {
                ""
            }
        );
        Ok(StagedModel::new(stages, names, None, input, classes, desc))
    }
}

/// The five-layer MLP of appendix F.4.4: four hidden fully connected layers with ReLU and a
/// linear classifier layer. The paper's width was lost; we use 1024 hidden units (× `width`),
/// wide enough that MNIST-sized inputs are not bottlenecked in the first layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Hidden units before the width multiplier.
    #[serde(default = "d_hidden")]
    pub hidden: usize,
    /// Width multiplier.
    #[serde(default = "one")]
    pub width: f64,
    /// Number of layers, classifier layer included (5 in the paper).
    #[serde(default = "d_depth")]
    pub depth: usize,
    /// Batch norm after every hidden layer.
    #[serde(default)]
    pub batch_norm: bool,
    /// Dropout after every hidden layer.
    #[serde(default)]
    pub dropout: f64,
    /// Largest number of features an auxiliary head or probe sees.
    #[serde(default = "head_features")]
    pub head_features: usize,
}

fn d_hidden() -> usize {
    1024
}
fn d_depth() -> usize {
    5
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            hidden: d_hidden(),
            width: 1.0,
            depth: d_depth(),
            batch_norm: false,
            dropout: 0.0,
            head_features: MAX_HEAD_FEATURES,
        }
    }
}

impl MlpConfig {
    /// Builds the model.
    pub fn init(
        &self,
        input: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> Result<StagedModel, ModelError> {
        check_width(self.width)?;
        check_dropout(self.dropout)?;
        if self.depth < 2 {
            return Err(ModelError::InvalidOption {
                option: "depth",
                reason: "an MLP needs at least 2 layers".into(),
            });
        }
        let din: usize = input.iter().product();
        let width = scaled(self.hidden, self.width);
        let mut stages = Vec::with_capacity(self.depth);
        let mut names = Vec::with_capacity(self.depth);
        for i in 0..self.depth {
            let last = i + 1 == self.depth;
            let a = if i == 0 { din } else { width };
            if last {
                stages.push(Block::Dense(DenseBlock::new(a, classes, false, device)));
            } else {
                stages.push(Block::Dense(DenseBlock::with(
                    a,
                    width,
                    true,
                    self.batch_norm,
                    self.dropout,
                    device,
                )));
            }
            names.push(format!("fc{}", i + 1));
        }
        let desc = format!(
            "MLP: {} fully connected layers {din}–{}–{classes} with ReLU",
            self.depth,
            vec![width.to_string(); self.depth - 1].join("–")
        );
        Ok(StagedModel::new(stages, names, None, input, classes, desc))
    }
}

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
    /// Two fully connected blocks of 512 (× width) before the classifier, as stages.
    #[serde(default)]
    pub fc_blocks: bool,
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
        let mut stages = Vec::new();
        let mut names = Vec::new();
        let mut cin = input[0];
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
        let mut features = cin;
        if self.fc_blocks {
            // The last map is c x (h/32) x (w/32); the blocks flatten it.
            let flat = cin * (input[1] / 32) * (input[2] / 32);
            let w = scaled(512, self.width);
            stages.push(Block::Dense(DenseBlock::with(
                flat,
                w,
                true,
                self.batch_norm,
                self.dropout,
                device,
            )));
            stages.push(Block::Dense(DenseBlock::with(
                w,
                w,
                true,
                self.batch_norm,
                self.dropout,
                device,
            )));
            names.extend(["fc1".to_string(), "fc2".to_string()]);
            features = w;
        }
        let desc = format!(
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
                ", two FC blocks"
            } else {
                ""
            },
            if self.dropout > 0.0 {
                format!(", dropout {}", self.dropout)
            } else {
                String::new()
            }
        );
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

/// An architecture with its settings: the `[model]` table of a run config, tagged by `arch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "kebab-case")]
pub enum ArchConfig {
    /// [`LeNet5Config`].
    Lenet5(LeNet5Config),
    /// [`MlpConfig`].
    Mlp(MlpConfig),
    /// [`VggConfig`] (VGG11).
    Vgg11(VggConfig),
    /// [`ResNetConfig`] with basic blocks.
    Resnet18(ResNetConfig),
    /// [`ResNetConfig`] with bottlenecks.
    Resnet50(ResNetConfig),
    /// [`VitConfig`].
    Vit(VitConfig),
}

impl Default for ArchConfig {
    fn default() -> Self {
        ArchConfig::Lenet5(LeNet5Config::default())
    }
}

impl ArchConfig {
    /// Every architecture name.
    pub const NAMES: [&'static str; 6] = ["lenet5", "mlp", "vgg11", "resnet18", "resnet50", "vit"];

    /// The architecture with default settings, by name.
    pub fn by_name(name: &str) -> Option<Self> {
        Some(match name {
            "lenet5" => ArchConfig::Lenet5(LeNet5Config::default()),
            "mlp" => ArchConfig::Mlp(MlpConfig::default()),
            "vgg11" => ArchConfig::Vgg11(VggConfig::default()),
            "resnet18" => ArchConfig::Resnet18(ResNetConfig::default()),
            "resnet50" => ArchConfig::Resnet50(ResNetConfig::default()),
            "vit" => ArchConfig::Vit(VitConfig::default()),
            _ => return None,
        })
    }

    /// The name in configs.
    pub fn name(&self) -> &'static str {
        match self {
            ArchConfig::Lenet5(_) => "lenet5",
            ArchConfig::Mlp(_) => "mlp",
            ArchConfig::Vgg11(_) => "vgg11",
            ArchConfig::Resnet18(_) => "resnet18",
            ArchConfig::Resnet50(_) => "resnet50",
            ArchConfig::Vit(_) => "vit",
        }
    }

    /// Sets the width multiplier.
    pub fn set_width(&mut self, width: f64) {
        match self {
            ArchConfig::Lenet5(c) => c.width = width,
            ArchConfig::Mlp(c) => c.width = width,
            ArchConfig::Vgg11(c) => c.width = width,
            ArchConfig::Resnet18(c) | ArchConfig::Resnet50(c) => c.width = width,
            ArchConfig::Vit(c) => c.width = width,
        }
    }

    /// Largest number of features an auxiliary head or probe sees.
    pub fn head_features(&self) -> usize {
        match self {
            ArchConfig::Lenet5(c) => c.head_features,
            ArchConfig::Mlp(c) => c.head_features,
            ArchConfig::Vgg11(c) => c.head_features,
            ArchConfig::Resnet18(c) | ArchConfig::Resnet50(c) => c.head_features,
            ArchConfig::Vit(c) => c.head_features,
        }
    }

    /// True when the architecture holds batch norm.
    pub fn has_batch_norm(&self) -> bool {
        match self {
            ArchConfig::Lenet5(c) => c.batch_norm,
            ArchConfig::Mlp(c) => c.batch_norm,
            ArchConfig::Vgg11(c) => c.batch_norm,
            ArchConfig::Resnet18(c) | ArchConfig::Resnet50(c) => c.batch_norm,
            ArchConfig::Vit(_) => false,
        }
    }

    /// True when the architecture holds dropout.
    pub fn has_dropout(&self) -> bool {
        match self {
            ArchConfig::Lenet5(c) => c.dropout > 0.0,
            ArchConfig::Mlp(c) => c.dropout > 0.0,
            ArchConfig::Vgg11(c) => c.dropout > 0.0,
            ArchConfig::Resnet18(c) | ArchConfig::Resnet50(c) => c.dropout > 0.0,
            ArchConfig::Vit(c) => c.dropout > 0.0,
        }
    }

    /// True when the architecture needs image inputs (everything but the MLP).
    pub fn needs_images(&self) -> bool {
        !matches!(self, ArchConfig::Mlp(_))
    }

    /// Builds the model for per-sample `input` (channels, height, width) and `classes`.
    pub fn init(
        &self,
        input: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> Result<StagedModel, ModelError> {
        let m = match self {
            ArchConfig::Lenet5(c) => c.init(input, classes, device),
            ArchConfig::Mlp(c) => c.init(input, classes, device),
            ArchConfig::Vgg11(c) => c.init(input, classes, device),
            ArchConfig::Resnet18(c) => c.init(ResNetDepth::R18, input, classes, device),
            ArchConfig::Resnet50(c) => c.init(ResNetDepth::R50, input, classes, device),
            ArchConfig::Vit(c) => c.init(input, classes, device),
        }?;
        Ok(m.with_head_features(self.head_features()))
    }
}
