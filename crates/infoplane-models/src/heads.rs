//! Auxiliary heads of layer-wise training (the paper's "0/1/2-layer" auxiliary networks):
//! identity, linear, and MLP (linear–ReLU–linear, hidden width = input width). Before a
//! linear or MLP head a feature map is average-pooled to at most 2048 features, the pooling
//! kernel doubled alternately in height and width until it fits, as the reference code does
//! (REFERENCE.md).

use burn::module::Module;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::repr::Repr;

/// Largest number of features a linear or MLP head sees.
pub const MAX_HEAD_FEATURES: usize = 2048;

/// The kind of an auxiliary head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeadKind {
    /// No parameters: the stage output itself ("0-layer").
    Identity,
    /// One linear layer ("1-layer").
    Linear,
    /// Linear–ReLU–linear with hidden width = input width ("2-layer").
    Mlp,
}

impl std::str::FromStr for HeadKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "identity" => Ok(HeadKind::Identity),
            "linear" => Ok(HeadKind::Linear),
            "mlp" => Ok(HeadKind::Mlp),
            _ => Err(format!("unknown head `{s}`: use identity, linear or mlp")),
        }
    }
}

/// The pooling kernel that brings a `[c, h, w]` map to at most `max` features.
pub fn pool_kernel(shape: &[usize], max: usize) -> [usize; 2] {
    if shape.len() != 3 {
        return [1, 1];
    }
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let (mut kh, mut kw) = (1, 1);
    let mut turn_h = true;
    while c * (h / kh) * (w / kw) > max && (kh < h || kw < w) {
        if (turn_h && kh < h) || kw >= w {
            kh *= 2;
        } else {
            kw *= 2;
        }
        turn_h = !turn_h;
    }
    [kh.min(h), kw.min(w)]
}

/// An auxiliary head: pooling (for maps), then identity, linear or MLP.
#[derive(Module, Debug)]
pub struct Head {
    pool: Option<AvgPool2d>,
    first: Option<Linear>,
    second: Option<Linear>,
}

impl Head {
    /// A head of `kind` for representations of per-sample `shape`, producing `classes` outputs.
    pub fn new(kind: HeadKind, shape: &[usize], classes: usize, device: &Device) -> Self {
        if kind == HeadKind::Identity {
            return Head {
                pool: None,
                first: None,
                second: None,
            };
        }
        let k = pool_kernel(shape, MAX_HEAD_FEATURES);
        let pool = (shape.len() == 3 && k != [1, 1]).then(|| AvgPool2dConfig::new(k).init());
        let features = if shape.len() == 3 {
            shape[0] * (shape[1] / k[0]) * (shape[2] / k[1])
        } else {
            shape.iter().product()
        };
        match kind {
            HeadKind::Linear => Head {
                pool,
                first: Some(LinearConfig::new(features, classes).init(device)),
                second: None,
            },
            _ => Head {
                pool,
                first: Some(LinearConfig::new(features, features).init(device)),
                second: Some(LinearConfig::new(features, classes).init(device)),
            },
        }
    }

    /// The head's output `[n, classes]` (identity: the flattened input).
    pub fn forward(&self, t: Repr) -> Tensor<2> {
        let flat = match (t, &self.pool) {
            (Repr::Map(m), Some(p)) => p.forward(m).flatten::<2>(1, 3),
            (t, _) => t.flatten(),
        };
        match (&self.first, &self.second) {
            (Some(a), Some(b)) => b.forward(relu(a.forward(flat))),
            (Some(a), None) => a.forward(flat),
            _ => flat,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_reaches_the_budget() {
        assert_eq!(pool_kernel(&[6, 12, 12], 2048), [1, 1]);
        // 64 x 32 x 32 = 65536 → needs a factor 32: kernels 8 x 4 → 64 x 4 x 8 = 2048.
        let k = pool_kernel(&[64, 32, 32], 2048);
        assert_eq!(k, [8, 4]);
        assert!(64 * (32 / k[0]) * (32 / k[1]) <= 2048);
        assert_eq!(pool_kernel(&[120], 2048), [1, 1]);
    }
}
