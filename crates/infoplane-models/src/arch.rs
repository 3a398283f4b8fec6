//! Architectures as staged models, each citing its source.

use burn::tensor::Device;

use crate::stage::{ConvStage, DenseStage, Stage};
use crate::staged::StagedModel;

/// LeNet5 (the paper's figure 3; REFERENCE.md): conv 6@5x5 + ReLU + max-pool 2, conv 16@5x5 +
/// ReLU + max-pool 2, fc 120 + ReLU, fc 84 + ReLU, fc C — five stages. Inputs are 1 or 3
/// channels of 28x28 or 32x32 pixels (no padding in the convolutions: 28 → 24 → 12 → 8 → 4,
/// 32 → 28 → 14 → 10 → 5). Weights use burn's default initialization, which is PyTorch's
/// (Kaiming-uniform with a = √5, bias U(±1/√fan_in)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeNet5Config {
    /// Input channels (1 or 3).
    pub in_channels: usize,
    /// Input height and width (28 or 32).
    pub image_size: usize,
    /// Number of classes.
    pub num_classes: usize,
}

impl LeNet5Config {
    /// Builds the model on `device`.
    pub fn init(&self, device: &Device) -> StagedModel {
        let s = (self.image_size - 4) / 2;
        let s = (s - 4) / 2;
        let flat = 16 * s * s;
        StagedModel {
            stages: vec![
                Stage::Conv(ConvStage::new(self.in_channels, 6, 5, 0, 2, device)),
                Stage::Conv(ConvStage::new(6, 16, 5, 0, 2, device)),
                Stage::Dense(DenseStage::new(flat, 120, true, device)),
                Stage::Dense(DenseStage::new(120, 84, true, device)),
                Stage::Dense(DenseStage::new(84, self.num_classes, false, device)),
            ],
            names: ["conv1", "conv2", "fc3", "fc4", "fc5"]
                .map(String::from)
                .to_vec(),
            input_shape: vec![self.in_channels, self.image_size, self.image_size],
            num_classes: self.num_classes,
        }
    }
}

/// The five-layer MLP of appendix F.4.4: four hidden fully connected layers with ReLU and a
/// linear classifier. The paper's width was lost; we use 1024 hidden units by default
/// (wide enough that MNIST-sized inputs are not bottlenecked in the first layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MlpConfig {
    /// Per-sample input shape (flattened by the first layer).
    pub input_shape: [usize; 3],
    /// Hidden width.
    pub width: usize,
    /// Number of layers, classifier included (5 in the paper).
    pub depth: usize,
    /// Number of classes.
    pub num_classes: usize,
}

impl MlpConfig {
    /// The paper's MLP: depth 5, width 1024.
    pub fn paper(input_shape: [usize; 3], num_classes: usize) -> Self {
        MlpConfig {
            input_shape,
            width: 1024,
            depth: 5,
            num_classes,
        }
    }

    /// Builds the model on `device`.
    pub fn init(&self, device: &Device) -> StagedModel {
        let din: usize = self.input_shape.iter().product();
        let mut stages = Vec::with_capacity(self.depth);
        let mut names = Vec::with_capacity(self.depth);
        for i in 0..self.depth {
            let last = i + 1 == self.depth;
            let a = if i == 0 { din } else { self.width };
            let b = if last { self.num_classes } else { self.width };
            stages.push(Stage::Dense(DenseStage::new(a, b, !last, device)));
            names.push(format!("fc{}", i + 1));
        }
        StagedModel {
            stages,
            names,
            input_shape: self.input_shape.to_vec(),
            num_classes: self.num_classes,
        }
    }
}

/// The architectures available by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// [`LeNet5Config`].
    Lenet5,
    /// [`MlpConfig`] (width 1024, depth 5).
    Mlp,
}

impl Architecture {
    /// Builds the architecture for inputs of `input_shape` and `classes` classes.
    pub fn init(self, input_shape: [usize; 3], classes: usize, device: &Device) -> StagedModel {
        match self {
            Architecture::Lenet5 => LeNet5Config {
                in_channels: input_shape[0],
                image_size: input_shape[1],
                num_classes: classes,
            }
            .init(device),
            Architecture::Mlp => MlpConfig::paper(input_shape, classes).init(device),
        }
    }
}
