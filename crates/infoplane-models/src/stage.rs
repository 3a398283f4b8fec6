//! Stages: the units a staged model is made of. Stage i maps T(i−1) to T(i).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::Device;
use burn::tensor::activation::relu;

use crate::repr::Repr;

/// Convolution, ReLU, optional max pooling.
#[derive(Module, Debug)]
pub struct ConvStage {
    conv: Conv2d,
    pool: Option<MaxPool2d>,
}

impl ConvStage {
    /// A `k`×`k` convolution from `cin` to `cout` channels with `padding` pixels on each side,
    /// ReLU, then a `pool`×`pool` max pooling when `pool > 1`.
    pub fn new(
        cin: usize,
        cout: usize,
        k: usize,
        padding: usize,
        pool: usize,
        device: &Device,
    ) -> Self {
        let p = padding;
        ConvStage {
            conv: Conv2dConfig::new([cin, cout], [k, k])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .init(device),
            pool: (pool > 1).then(|| MaxPool2dConfig::new([pool, pool]).init()),
        }
    }

    /// `[n, cin, h, w]` → `[n, cout, h', w']`.
    pub fn forward(&self, x: Repr) -> Repr {
        let x = match x {
            Repr::Map(t) => t,
            Repr::Flat(_) => panic!("a convolutional stage needs a feature map input"),
        };
        let y = relu(self.conv.forward(x));
        Repr::Map(match &self.pool {
            Some(p) => p.forward(y),
            None => y,
        })
    }
}

/// Fully connected layer on the flattened input, with or without ReLU.
#[derive(Module, Debug)]
pub struct DenseStage {
    linear: Linear,
    relu: bool,
}

impl DenseStage {
    /// A linear map `din` → `dout`, followed by ReLU when `relu`.
    pub fn new(din: usize, dout: usize, relu: bool, device: &Device) -> Self {
        DenseStage {
            linear: LinearConfig::new(din, dout).init(device),
            relu,
        }
    }

    /// `[n, ...]` → `[n, dout]`.
    pub fn forward(&self, x: Repr) -> Repr {
        let y = self.linear.forward(x.flatten());
        Repr::Flat(if self.relu { relu(y) } else { y })
    }
}

/// One stage of a staged model.
#[derive(Module, Debug)]
pub enum Stage {
    /// Convolutional stage.
    Conv(ConvStage),
    /// Fully connected stage.
    Dense(DenseStage),
}

impl Stage {
    /// T(i−1) → T(i).
    pub fn forward(&self, x: Repr) -> Repr {
        match self {
            Stage::Conv(s) => s.forward(x),
            Stage::Dense(s) => s.forward(x),
        }
    }
}
