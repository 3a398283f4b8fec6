//! Forward-mode differentiation (Jacobian-vector products) of the operations LeNet5 and the
//! MLP are made of — linear, convolution, ReLU, max pooling, flattening and softmax
//! cross-entropy — for the forward gradient (Baydin et al. 2022; the paper's appendix F.4.2).
//!
//! burn 0.22 differentiates in reverse mode only. Here every value travels with its tangent:
//! a [`Dual`] (primal p, tangent ṗ), and each operation returns its output and the output's
//! directional derivative along the tangents of its inputs and parameters, in the same pass:
//!
//! | operation | primal | tangent |
//! |---|---|---|
//! | linear | y = xW + b | ẏ = ẋW + xẆ + ḃ |
//! | convolution | y = conv(x, W) + b | ẏ = conv(ẋ, W) + conv(x, Ẇ) + ḃ |
//! | ReLU | y = max(x, 0) | ẏ = ẋ ⊙ 1[x > 0] |
//! | max pooling | y = max over the window | ẏ = ẋ at the argmax |
//! | flatten | reshape | the same reshape |
//! | cross-entropy | ℓ = mean(logsumexp(z) − z_y) | ℓ̇ = mean(Σⱼ softmax(z)ⱼ żⱼ − ż_y) |
//!
//! No graph is recorded: the tensors live off the autodiff device. Convolutions and max pooling
//! run our flex kernels (`infoplane-flexconv`) where they apply, as in backpropagation.

use burn::nn::pool::MaxPool2d;
use burn::tensor::activation::softmax;
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Int, Tensor};
use infoplane_flexconv::conv2d;

/// A value and its tangent.
#[derive(Debug, Clone)]
pub struct Dual<const D: usize> {
    /// The value.
    pub p: Tensor<D>,
    /// Its directional derivative.
    pub t: Tensor<D>,
}

impl<const D: usize> Dual<D> {
    /// A constant (zero tangent), e.g. the input batch.
    pub fn constant(p: Tensor<D>) -> Self {
        let t = p.zeros_like();
        Dual { p, t }
    }
}

pub use infoplane_flexconv::conv_options;

/// Linear map: `x` `[n, din]`, `w` `[din, dout]`, `b` `[dout]`.
pub fn linear(x: Dual<2>, w: &Dual<2>, b: Option<&Dual<1>>) -> Dual<2> {
    let mut p = x.p.clone().matmul(w.p.clone());
    let mut t = x.t.matmul(w.p.clone()) + x.p.matmul(w.t.clone());
    if let Some(b) = b {
        p = p + b.p.clone().unsqueeze();
        t = t + b.t.clone().unsqueeze();
    }
    Dual { p, t }
}

/// Convolution: `x` `[n, cin, h, w]`, `w` `[cout, cin/g, kh, kw]`, `b` `[cout]`.
pub fn conv(x: Dual<4>, w: &Dual<4>, b: Option<&Dual<1>>, options: ConvOptions<2>) -> Dual<4> {
    let p = conv2d(
        x.p.clone(),
        w.p.clone(),
        b.map(|b| b.p.clone()),
        options.clone(),
    );
    let t = conv2d(x.t, w.p.clone(), b.map(|b| b.t.clone()), options.clone())
        + conv2d(x.p, w.t.clone(), None, options);
    Dual { p, t }
}

/// ReLU.
pub fn relu<const D: usize>(x: Dual<D>) -> Dual<D> {
    let mask = x.p.clone().greater_elem(0.0).float();
    Dual {
        p: burn::tensor::activation::relu(x.p),
        t: x.t * mask,
    }
}

/// Max pooling: the tangent is read at the position of each window's maximum.
pub fn max_pool(x: Dual<4>, pool: &MaxPool2d) -> Dual<4> {
    let options = MaxPoolOptions::new(pool.kernel_size)
        .with_stride(pool.stride)
        .with_dilation(pool.dilation)
        .with_ceil_mode(pool.ceil_mode);
    let (p, t) = infoplane_flexconv::max_pool2d_jvp(x.p, x.t, options);
    Dual { p, t }
}

/// Flattens `[n, c, h, w]` to `[n, c·h·w]`.
pub fn flatten(x: Dual<4>) -> Dual<2> {
    Dual {
        p: x.p.flatten(1, 3),
        t: x.t.flatten(1, 3),
    }
}

/// Mean softmax cross-entropy of `logits` against `labels` and its directional derivative:
/// (ℓ, ℓ̇) as `[1]` tensors.
pub fn cross_entropy(logits: Dual<2>, labels: Tensor<1, Int>) -> (Tensor<1>, Tensor<1>) {
    let [n, _] = logits.p.dims();
    let idx: Tensor<2, Int> = labels.unsqueeze_dim(1);
    let z_y = logits.p.clone().gather(1, idx.clone());
    let m = logits.p.clone().max_dim(1);
    let lse = (logits.p.clone() - m.clone()).exp().sum_dim(1).log() + m;
    let loss = (lse - z_y).sum().div_scalar(n as f64);
    let s = softmax(logits.p, 1);
    let dz_y = logits.t.clone().gather(1, idx);
    let dloss = ((s * logits.t).sum_dim(1) - dz_y)
        .sum()
        .div_scalar(n as f64);
    (loss.reshape([1]), dloss.reshape([1]))
}
