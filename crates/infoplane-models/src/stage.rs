//! Stages: the units a staged model is made of. Stage i maps T(i−1) to T(i).
//!
//! [`Stage`] is the open interface: any burn module with a `forward` on [`Repr`] is a stage,
//! so a model written in another crate trains E2E or layer-wise with infoplane-train. [`Block`]
//! is the set of stages of the paper's architectures: plain convolution blocks (LeNet5, VGG11,
//! the ResNet stem), fully connected blocks (LeNet5's classifier layers, the MLP, VGG's
//! optional FC-512 blocks), residual blocks (ResNet18's basic block, ResNet50's bottleneck),
//! and ViT stages (patch embedding and/or one transformer block).

use burn::module::{Module, ModuleDisplay, Param};
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, LayerNorm, LayerNormConfig,
    Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::{gelu, relu};
use burn::tensor::{Device, Tensor};

use crate::repr::Repr;

/// A stage of a staged model: T(i−1) → T(i).
///
/// Implement it for any burn module (or an enum of modules) to train your own model with
/// infoplane-train. Batch norm and dropout inside a stage follow burn's rules: batch
/// statistics and dropout while the module is in training mode on an autodiff device; running
/// statistics and no dropout after [`Module::valid`], which is how every measurement sees it.
pub trait Stage: Module + ModuleDisplay + 'static {
    /// T(i−1) → T(i).
    fn forward(&self, x: Repr) -> Repr;
}

fn expect_map(x: Repr, what: &str) -> Tensor<4> {
    match x {
        Repr::Map(t) => t,
        other => panic!(
            "{what} needs a feature map input, got a representation of shape {:?}",
            other.sample_shape()
        ),
    }
}

/// A convolution with optional batch norm (the building piece of every convolutional block).
#[derive(Module, Debug)]
pub struct ConvBn {
    /// The convolution.
    pub conv: Conv2d,
    /// Batch norm after it, when enabled.
    pub bn: Option<BatchNorm>,
}

impl ConvBn {
    /// A `k`×`k` convolution `cin → cout` with `stride` and `padding`; with batch norm the
    /// convolution has no bias (it would be cancelled), without it has one.
    pub fn new(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        padding: usize,
        batch_norm: bool,
        device: &Device,
    ) -> Self {
        Self::with_bias(
            cin,
            cout,
            k,
            stride,
            padding,
            batch_norm,
            !batch_norm,
            device,
        )
    }

    /// As [`ConvBn::new`] with the convolution's bias chosen explicitly.
    #[allow(clippy::too_many_arguments)]
    pub fn with_bias(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        padding: usize,
        batch_norm: bool,
        bias: bool,
        device: &Device,
    ) -> Self {
        let p = padding;
        ConvBn {
            conv: Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_bias(bias)
                .init(device),
            bn: batch_norm.then(|| BatchNormConfig::new(cout).init(device)),
        }
    }

    /// `[n, cin, h, w]` → `[n, cout, h', w']` (no activation).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = infoplane_flexconv::forward(&self.conv, x);
        match &self.bn {
            Some(bn) => infoplane_flexconv::batch_norm(bn, y),
            None => y,
        }
    }
}

/// Settings of a [`ConvBlock`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvBlockConfig {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side.
    pub padding: usize,
    /// Batch norm after the convolution.
    pub batch_norm: bool,
    /// Bias of the convolution.
    pub bias: bool,
    /// Dropout probability after the activation (0: none).
    pub dropout: f64,
    /// Max-pooling window (and stride) at the end (1: none).
    pub pool: usize,
}

/// Convolution → batch norm (optional) → ReLU → dropout (optional) → max pooling (optional):
/// LeNet5's convolutional stages, VGG11's stages (the reference code's layer-wise block
/// conv → BN → ReLU → dropout, pooling inside the stage) and the ResNet stem.
#[derive(Module, Debug)]
pub struct ConvBlock {
    /// Convolution and batch norm.
    pub conv: ConvBn,
    /// Dropout after the activation.
    pub dropout: Option<Dropout>,
    /// Max pooling at the end.
    pub pool: Option<MaxPool2d>,
}

impl ConvBlock {
    /// Builds the block on `device`.
    pub fn new(c: ConvBlockConfig, device: &Device) -> Self {
        ConvBlock {
            conv: ConvBn::with_bias(
                c.cin,
                c.cout,
                c.kernel,
                c.stride,
                c.padding,
                c.batch_norm,
                c.bias,
                device,
            ),
            dropout: (c.dropout > 0.0).then(|| DropoutConfig::new(c.dropout).init()),
            pool: (c.pool > 1).then(|| MaxPool2dConfig::new([c.pool, c.pool]).init()),
        }
    }

    /// `[n, cin, h, w]` → `[n, cout, h', w']`.
    pub fn forward(&self, x: Repr) -> Repr {
        let mut y = relu(self.conv.forward(expect_map(x, "a convolutional stage")));
        if let Some(d) = &self.dropout {
            y = d.forward(y);
        }
        Repr::Map(match &self.pool {
            Some(p) => infoplane_flexconv::max_pool(p, y),
            None => y,
        })
    }
}

/// Fully connected layer on the flattened input → batch norm (optional) → ReLU (optional) →
/// dropout (optional).
#[derive(Module, Debug)]
pub struct DenseBlock {
    /// The linear map.
    pub linear: Linear,
    /// Batch norm after it.
    pub bn: Option<BatchNorm>,
    /// Dropout after the activation.
    pub dropout: Option<Dropout>,
    /// Whether ReLU follows.
    pub relu: bool,
}

impl DenseBlock {
    /// A linear map `din` → `dout`, followed by ReLU when `relu`.
    pub fn new(din: usize, dout: usize, relu: bool, device: &Device) -> Self {
        Self::with(din, dout, relu, false, 0.0, device)
    }

    /// A linear map with optional batch norm and dropout.
    pub fn with(
        din: usize,
        dout: usize,
        relu: bool,
        batch_norm: bool,
        dropout: f64,
        device: &Device,
    ) -> Self {
        DenseBlock {
            linear: LinearConfig::new(din, dout).init(device),
            bn: batch_norm.then(|| BatchNormConfig::new(dout).init(device)),
            dropout: (dropout > 0.0).then(|| DropoutConfig::new(dropout).init()),
            relu,
        }
    }

    /// `[n, ...]` → `[n, dout]`.
    pub fn forward(&self, x: Repr) -> Repr {
        let mut y = self.linear.forward(x.flatten());
        if let Some(bn) = &self.bn {
            y = infoplane_flexconv::batch_norm(bn, y);
        }
        if self.relu {
            y = relu(y);
        }
        if let Some(d) = &self.dropout {
            y = d.forward(y);
        }
        Repr::Flat(y)
    }
}

/// The projection shortcut of a residual block whose shape changes: 1×1 convolution with the
/// block's stride, and batch norm.
fn shortcut(
    cin: usize,
    cout: usize,
    stride: usize,
    batch_norm: bool,
    device: &Device,
) -> Option<ConvBn> {
    (stride != 1 || cin != cout).then(|| ConvBn::new(cin, cout, 1, stride, 0, batch_norm, device))
}

/// ResNet's basic block (He et al. 2016; ResNet18): 3×3 conv (stride s) → BN → ReLU → 3×3
/// conv → BN, plus the identity or a projection shortcut, then ReLU. One stage: the smallest
/// module holding one skip connection.
#[derive(Module, Debug)]
pub struct BasicBlock {
    /// First convolution.
    pub conv1: ConvBn,
    /// Second convolution.
    pub conv2: ConvBn,
    /// Projection shortcut when the shape changes.
    pub shortcut: Option<ConvBn>,
}

impl BasicBlock {
    /// A block `cin → cout` with `stride`.
    pub fn new(cin: usize, cout: usize, stride: usize, batch_norm: bool, device: &Device) -> Self {
        BasicBlock {
            conv1: ConvBn::new(cin, cout, 3, stride, 1, batch_norm, device),
            conv2: ConvBn::new(cout, cout, 3, 1, 1, batch_norm, device),
            shortcut: shortcut(cin, cout, stride, batch_norm, device),
        }
    }

    /// `[n, cin, h, w]` → `[n, cout, h/s, w/s]`.
    pub fn forward(&self, x: Repr) -> Repr {
        let x = expect_map(x, "a residual block");
        let y = self.conv2.forward(relu(self.conv1.forward(x.clone())));
        let s = match &self.shortcut {
            Some(p) => p.forward(x),
            None => x,
        };
        Repr::Map(relu(y + s))
    }
}

/// ResNet's bottleneck block (ResNet50): 1×1 conv → BN → ReLU → 3×3 conv (stride s) → BN →
/// ReLU → 1×1 conv to 4× the width → BN, plus the shortcut, then ReLU.
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// 1×1 reduction.
    pub conv1: ConvBn,
    /// 3×3 convolution.
    pub conv2: ConvBn,
    /// 1×1 expansion.
    pub conv3: ConvBn,
    /// Projection shortcut when the shape changes.
    pub shortcut: Option<ConvBn>,
}

impl Bottleneck {
    /// Output channels are `4 * planes`.
    pub const EXPANSION: usize = 4;

    /// A bottleneck `cin → 4·planes` with `stride` on the 3×3 convolution.
    pub fn new(
        cin: usize,
        planes: usize,
        stride: usize,
        batch_norm: bool,
        device: &Device,
    ) -> Self {
        let cout = Self::EXPANSION * planes;
        Bottleneck {
            conv1: ConvBn::new(cin, planes, 1, 1, 0, batch_norm, device),
            conv2: ConvBn::new(planes, planes, 3, stride, 1, batch_norm, device),
            conv3: ConvBn::new(planes, cout, 1, 1, 0, batch_norm, device),
            shortcut: shortcut(cin, cout, stride, batch_norm, device),
        }
    }

    /// `[n, cin, h, w]` → `[n, 4·planes, h/s, w/s]`.
    pub fn forward(&self, x: Repr) -> Repr {
        let x = expect_map(x, "a residual block");
        let y = relu(self.conv1.forward(x.clone()));
        let y = relu(self.conv2.forward(y));
        let y = self.conv3.forward(y);
        let s = match &self.shortcut {
            Some(p) => p.forward(x),
            None => x,
        };
        Repr::Map(relu(y + s))
    }
}

/// ViT patch embedding: a `p`×`p` convolution with stride `p` to `dim` channels, the patches
/// as tokens, a learned class token in front, and learned position embeddings.
#[derive(Module, Debug)]
pub struct PatchEmbed {
    /// The patch projection.
    pub proj: Conv2d,
    /// The class token `[1, 1, dim]`.
    pub cls: Param<Tensor<3>>,
    /// Position embeddings `[1, 1 + patches, dim]`.
    pub pos: Param<Tensor<3>>,
}

impl PatchEmbed {
    /// Patches of `patch`×`patch` pixels of a `channels`×`size`×`size` image, `dim` features.
    pub fn new(channels: usize, size: usize, patch: usize, dim: usize, device: &Device) -> Self {
        let tokens = 1 + (size / patch) * (size / patch);
        PatchEmbed {
            proj: Conv2dConfig::new([channels, dim], [patch, patch])
                .with_stride([patch, patch])
                .init(device),
            // Lazy, like every other parameter: nothing is allocated before the model's
            // footprint is checked.
            cls: Initializer::Zeros.init([1, 1, dim], device),
            pos: Initializer::Zeros.init([1, tokens, dim], device),
        }
    }

    /// `[n, c, h, w]` → `[n, 1 + patches, dim]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<3> {
        let p = infoplane_flexconv::forward(&self.proj, x); // [n, dim, h/p, w/p]
        let [n, d, h, w] = p.dims();
        let tokens = p.reshape([n, d, h * w]).swap_dims(1, 2); // [n, t, d]
        let cls = self.cls.val().expand([n, 1, d]);
        Tensor::cat(vec![cls, tokens], 1) + self.pos.val()
    }
}

/// A pre-norm transformer block: x + MHA(LN(x)), then x + MLP(LN(x)) with GELU.
#[derive(Module, Debug)]
pub struct TransformerBlock {
    /// Norm before attention.
    pub ln1: LayerNorm,
    /// Multi-head self-attention.
    pub attn: MultiHeadAttention,
    /// Norm before the MLP.
    pub ln2: LayerNorm,
    /// MLP expansion.
    pub fc1: Linear,
    /// MLP projection.
    pub fc2: Linear,
    /// Dropout after attention and MLP.
    pub dropout: Option<Dropout>,
}

impl TransformerBlock {
    /// A block of width `dim` with `heads` heads and an MLP of `hidden` units.
    pub fn new(dim: usize, heads: usize, hidden: usize, dropout: f64, device: &Device) -> Self {
        TransformerBlock {
            ln1: LayerNormConfig::new(dim).init(device),
            attn: MultiHeadAttentionConfig::new(dim, heads)
                .with_dropout(dropout)
                .init(device),
            ln2: LayerNormConfig::new(dim).init(device),
            fc1: LinearConfig::new(dim, hidden).init(device),
            fc2: LinearConfig::new(hidden, dim).init(device),
            dropout: (dropout > 0.0).then(|| DropoutConfig::new(dropout).init()),
        }
    }

    fn drop(&self, x: Tensor<3>) -> Tensor<3> {
        match &self.dropout {
            Some(d) => d.forward(x),
            None => x,
        }
    }

    /// `[n, t, dim]` → `[n, t, dim]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let a = self
            .attn
            .forward(MhaInput::self_attn(self.ln1.forward(x.clone())))
            .context;
        let x = x + self.drop(a);
        let m = self
            .fc2
            .forward(gelu(self.fc1.forward(self.ln2.forward(x.clone()))));
        x + self.drop(m)
    }
}

/// One ViT stage: the patch embedding (first stage only) and one transformer block.
#[derive(Module, Debug)]
pub struct VitStage {
    /// Patch embedding (the first stage).
    pub embed: Option<PatchEmbed>,
    /// The transformer block.
    pub block: TransformerBlock,
}

impl VitStage {
    /// Image (first stage) or tokens → tokens `[n, t, dim]`.
    pub fn forward(&self, x: Repr) -> Repr {
        let tokens = match (&self.embed, x) {
            (Some(e), Repr::Map(img)) => e.forward(img),
            (None, Repr::Tokens(t)) => t,
            (_, other) => panic!(
                "a ViT stage got a representation of shape {:?}",
                other.sample_shape()
            ),
        };
        Repr::Tokens(self.block.forward(tokens))
    }
}

/// The stages of the paper's architectures.
// Variants differ in size (a bottleneck holds more modules than a dense block); stages are
// built once and moved rarely, and burn's derive does not box module fields.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Block {
    /// Convolution block (LeNet5, VGG11, ResNet stem).
    Conv(ConvBlock),
    /// Fully connected block.
    Dense(DenseBlock),
    /// ResNet basic block.
    Basic(BasicBlock),
    /// ResNet bottleneck block.
    Bottleneck(Bottleneck),
    /// ViT stage.
    Vit(VitStage),
}

impl Stage for Block {
    fn forward(&self, x: Repr) -> Repr {
        match self {
            Block::Conv(s) => s.forward(x),
            Block::Dense(s) => s.forward(x),
            Block::Basic(s) => s.forward(x),
            Block::Bottleneck(s) => s.forward(x),
            Block::Vit(s) => s.forward(x),
        }
    }
}
