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
//! Parameters use PyTorch's default initialization (the paper's runs had it; docs/paper-settings.md):
//! the training crate redraws every parameter on the host from the run's seed.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::heads::MAX_HEAD_FEATURES;
use crate::stage::{Block, ConvBlock, ConvBlockConfig, DenseBlock};
use crate::staged::StagedModel;

mod resnet;
mod vgg;
mod vit;

pub use resnet::{ResNetConfig, ResNetDepth};
pub use vgg::{VGG11_PLAN, VggConfig};
pub use vit::VitConfig;

pub(crate) fn one() -> f64 {
    1.0
}
pub(crate) fn yes() -> bool {
    true
}
pub(crate) fn head_features() -> usize {
    MAX_HEAD_FEATURES
}

/// Channels `c` scaled by the width multiplier (at least 1).
pub fn scaled(c: usize, width: f64) -> usize {
    ((c as f64 * width).round() as usize).max(1)
}

/// The largest width multiplier: 64 times the paper's widths (ResNet50's last stage would
/// hold 131,072 channels); beyond it channel counts approach the range where sizes overflow.
pub const MAX_WIDTH: f64 = 64.0;

/// The largest image side and channel count a model is built for.
pub const MAX_INPUT_SIDE: usize = 65_536;

pub(crate) fn check_width(width: f64) -> Result<(), ModelError> {
    if !(width > 0.0 && width <= MAX_WIDTH) {
        return Err(ModelError::InvalidOption {
            option: "width",
            reason: format!(
                "{width} is not a multiplier in (0, {MAX_WIDTH}] (1 is the paper's width)"
            ),
        });
    }
    Ok(())
}

/// The largest depth (stages) an architecture with a depth setting is built with.
pub const MAX_DEPTH: usize = 1024;

/// Refuses `value` of `option` outside `lo..=hi`.
pub(crate) fn check_range(
    option: &'static str,
    value: usize,
    lo: usize,
    hi: usize,
) -> Result<(), ModelError> {
    if !(lo..=hi).contains(&value) {
        return Err(ModelError::InvalidOption {
            option,
            reason: format!("{value} is outside {lo}..={hi}"),
        });
    }
    Ok(())
}

fn check_input(input: [usize; 3]) -> Result<(), ModelError> {
    if input.iter().any(|&d| d == 0 || d > MAX_INPUT_SIDE) {
        return Err(ModelError::InvalidOption {
            option: "input",
            reason: format!(
                "{}x{}x{}: channels, height and width must each be in 1..={MAX_INPUT_SIDE}",
                input[0], input[1], input[2]
            ),
        });
    }
    Ok(())
}

pub(crate) fn check_dropout(p: f64) -> Result<(), ModelError> {
    if !(0.0..1.0).contains(&p) {
        return Err(ModelError::InvalidOption {
            option: "dropout",
            reason: format!("{p} is not a probability in [0, 1)"),
        });
    }
    Ok(())
}

/// LeNet5 (the paper's figure 3; docs/paper-settings.md): conv 6@5x5 + ReLU + max-pool 2, conv 16@5x5 +
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
        check_range("depth", self.depth, 2, MAX_DEPTH)?;
        check_range("hidden", self.hidden, 1, MAX_INPUT_SIDE)?;
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

    /// The width multiplier.
    pub fn width(&self) -> f64 {
        match self {
            ArchConfig::Lenet5(c) => c.width,
            ArchConfig::Mlp(c) => c.width,
            ArchConfig::Vgg11(c) => c.width,
            ArchConfig::Resnet18(c) | ArchConfig::Resnet50(c) => c.width,
            ArchConfig::Vit(c) => c.width,
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
        check_input(input)?;
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
