//! Auxiliary heads of layer-wise training (the paper's "0/1/2-layer" auxiliary networks,
//! appendix B.1; docs/paper-settings.md):
//!
//! - for cross-entropy and contrastive losses: identity (0-layer), linear (1-layer), and MLP
//!   (linear–ReLU–linear with hidden width = input width, 2-layer);
//! - for the similarity-matching loss: identity, one 3×3 convolution C → C (`conv`), or
//!   conv–ReLU–conv (`conv-mlp`); on a vector representation these act as one linear map d → d
//!   and linear–ReLU–linear.
//!
//! Before a linear or MLP head a feature map is average-pooled to at most 2048 features, the
//! pooling kernel doubled alternately in height and width until it fits, as the reference code
//! (local-loss) does. Heads read representations after the token readout ([`crate::Repr`]).
//! Cross-entropy through an identity head is not defined (the paper's table cell "—"):
//! [`Head::new`] refuses it.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::Device;
use burn::tensor::activation::relu;

use crate::error::ModelError;
use crate::repr::Repr;

/// Largest number of features a linear or MLP head sees.
pub const MAX_HEAD_FEATURES: usize = 2048;

/// The kind of an auxiliary head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeadKind {
    /// No parameters: the stage output itself ("0-layer").
    Identity,
    /// One linear layer ("1-layer").
    #[default]
    Linear,
    /// Linear–ReLU–linear with hidden width = input width ("2-layer").
    Mlp,
    /// One 3×3 convolution C → C (the similarity loss's "1-layer").
    Conv,
    /// Conv–ReLU–conv (the similarity loss's "2-layer").
    ConvMlp,
}

impl HeadKind {
    /// Every kind.
    pub const ALL: [HeadKind; 5] = [
        HeadKind::Identity,
        HeadKind::Linear,
        HeadKind::Mlp,
        HeadKind::Conv,
        HeadKind::ConvMlp,
    ];

    /// Name in configs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            HeadKind::Identity => "identity",
            HeadKind::Linear => "linear",
            HeadKind::Mlp => "mlp",
            HeadKind::Conv => "conv",
            HeadKind::ConvMlp => "conv-mlp",
        }
    }

    /// The paper's name: "0-layer", "1-layer" or "2-layer".
    pub fn layers(self) -> usize {
        match self {
            HeadKind::Identity => 0,
            HeadKind::Linear | HeadKind::Conv => 1,
            HeadKind::Mlp | HeadKind::ConvMlp => 2,
        }
    }
}

impl std::str::FromStr for HeadKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        HeadKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("unknown head `{s}`: use identity, linear, mlp, conv or conv-mlp")
            })
    }
}

/// What a head's output is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadPurpose {
    /// Class scores for cross-entropy.
    Classes(usize),
    /// An embedding of this width for a contrastive loss (identity heads keep the input).
    Embedding(usize),
    /// A representation for the similarity-matching loss (the input's own shape).
    Similarity,
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

/// Features of a representation of per-sample `shape` after pooling to at most `max`.
pub fn pooled_features(shape: &[usize], max: usize) -> usize {
    if shape.len() == 3 {
        let k = pool_kernel(shape, max);
        shape[0] * (shape[1] / k[0]) * (shape[2] / k[1])
    } else {
        shape.iter().product()
    }
}

/// An auxiliary head.
#[derive(Module, Debug)]
pub struct Head {
    pool: Option<AvgPool2d>,
    fc1: Option<Linear>,
    fc2: Option<Linear>,
    conv1: Option<Conv2d>,
    conv2: Option<Conv2d>,
    #[module(skip)]
    kind: HeadKind,
}

fn conv3(c: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c, c], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

impl Head {
    /// A head of `kind` for representations of per-sample `shape` (`[c, h, w]` or `[d]`, after
    /// the token readout) serving `purpose`.
    pub fn new(
        kind: HeadKind,
        shape: &[usize],
        purpose: HeadPurpose,
        max_features: usize,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let empty = |kind| Head {
            pool: None,
            fc1: None,
            fc2: None,
            conv1: None,
            conv2: None,
            kind,
        };
        match (kind, purpose) {
            (HeadKind::Identity, HeadPurpose::Classes(_)) => Err(ModelError::HeadPurpose {
                kind: "identity",
                purpose: "cross-entropy",
                fix: "cross-entropy through an identity head is not defined (the paper's \"—\"); use linear or mlp",
            }),
            // A contrastive loss on a feature map reads it average-pooled to at most
            // `max_features` (the authors' code pools before SupCon even without a head).
            (HeadKind::Identity, HeadPurpose::Embedding(_)) => {
                let mut h = empty(kind);
                let k = pool_kernel(shape, max_features);
                h.pool = (shape.len() == 3 && k != [1, 1]).then(|| AvgPool2dConfig::new(k).init());
                Ok(h)
            }
            (HeadKind::Identity, _) => Ok(empty(kind)),
            (HeadKind::Conv | HeadKind::ConvMlp, HeadPurpose::Similarity) => {
                let mut h = empty(kind);
                let two = kind == HeadKind::ConvMlp;
                if shape.len() == 3 {
                    h.conv1 = Some(conv3(shape[0], device));
                    h.conv2 = two.then(|| conv3(shape[0], device));
                } else {
                    let d = shape.iter().product();
                    h.fc1 = Some(LinearConfig::new(d, d).init(device));
                    h.fc2 = two.then(|| LinearConfig::new(d, d).init(device));
                }
                Ok(h)
            }
            (HeadKind::Conv | HeadKind::ConvMlp, _) => Err(ModelError::HeadPurpose {
                kind: kind.as_str(),
                purpose: "cross-entropy or a contrastive loss",
                fix: "convolutional heads serve the similarity loss; use linear or mlp",
            }),
            (HeadKind::Linear | HeadKind::Mlp, purpose) => {
                let k = pool_kernel(shape, max_features);
                let features = pooled_features(shape, max_features);
                let out = match purpose {
                    HeadPurpose::Classes(c) => c,
                    HeadPurpose::Embedding(d) => d,
                    HeadPurpose::Similarity => features,
                };
                let mut h = empty(kind);
                h.pool = (shape.len() == 3 && k != [1, 1]).then(|| AvgPool2dConfig::new(k).init());
                if kind == HeadKind::Linear {
                    h.fc1 = Some(LinearConfig::new(features, out).init(device));
                } else {
                    h.fc1 = Some(LinearConfig::new(features, features).init(device));
                    h.fc2 = Some(LinearConfig::new(features, out).init(device));
                }
                Ok(h)
            }
        }
    }

    /// The kind of this head.
    pub fn kind(&self) -> HeadKind {
        self.kind
    }

    /// The head's output: a vector `[n, out]`, or for identity and convolutional heads on a
    /// feature map, a feature map.
    pub fn forward(&self, t: Repr) -> Repr {
        if let (Some(c1), Repr::Map(m)) = (&self.conv1, &t) {
            let y = c1.forward(m.clone());
            return Repr::Map(match &self.conv2 {
                Some(c2) => c2.forward(relu(y)),
                None => y,
            });
        }
        let Some(fc1) = &self.fc1 else {
            return match (t, &self.pool) {
                (Repr::Map(m), Some(p)) => {
                    Repr::Flat(infoplane_flexconv::avg_pool(p, m).flatten::<2>(1, 3))
                }
                (t @ Repr::Tokens(_), _) => Repr::Flat(t.flatten()),
                (other, _) => other,
            };
        };
        let flat = match (t, &self.pool) {
            (Repr::Map(m), Some(p)) => infoplane_flexconv::avg_pool(p, m).flatten::<2>(1, 3),
            (t, _) => t.flatten(),
        };
        let y = fc1.forward(flat);
        Repr::Flat(match &self.fc2 {
            Some(fc2) => fc2.forward(relu(y)),
            None => y,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tensor;

    #[test]
    fn pooling_reaches_the_budget() {
        assert_eq!(pool_kernel(&[6, 12, 12], 2048), [1, 1]);
        // 64 x 32 x 32 = 65536 → needs a factor 32: kernels 8 x 4 → 64 x 4 x 8 = 2048.
        let k = pool_kernel(&[64, 32, 32], 2048);
        assert_eq!(k, [8, 4]);
        assert!(64 * (32 / k[0]) * (32 / k[1]) <= 2048);
        assert_eq!(pool_kernel(&[120], 2048), [1, 1]);
    }

    #[test]
    fn pooling_an_odd_sized_map_gives_the_documented_size() {
        // 64 x 15 x 15 = 14400 > 2048: kernels 2x1 → 64·7·15 = 6720, 2x2 → 64·7·7 = 3136,
        // 4x2 → 64·3·7 = 1344 ≤ 2048 (floor division drops the odd rows and columns).
        assert_eq!(pool_kernel(&[64, 15, 15], 2048), [4, 2]);
        assert_eq!(pooled_features(&[64, 15, 15], 2048), 1344);
        let device = Device::flex();
        let h = Head::new(
            HeadKind::Linear,
            &[64, 15, 15],
            HeadPurpose::Classes(10),
            2048,
            &device,
        )
        .unwrap();
        let x = Tensor::<4>::ones([2, 64, 15, 15], &device);
        assert_eq!(h.forward(Repr::Map(x)).sample_shape(), vec![10]);
    }

    #[test]
    fn identity_with_cross_entropy_is_refused_by_the_library() {
        let e = Head::new(
            HeadKind::Identity,
            &[120],
            HeadPurpose::Classes(10),
            2048,
            &Device::flex(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not defined"), "{e}");
        let e = Head::new(
            HeadKind::Conv,
            &[6, 14, 14],
            HeadPurpose::Classes(10),
            2048,
            &Device::flex(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("similarity"), "{e}");
    }

    #[test]
    fn conv_heads_keep_the_map_shape() {
        let device = Device::flex();
        for kind in [HeadKind::Conv, HeadKind::ConvMlp, HeadKind::Identity] {
            let h = Head::new(kind, &[6, 14, 14], HeadPurpose::Similarity, 2048, &device).unwrap();
            let x = Tensor::<4>::ones([3, 6, 14, 14], &device);
            assert_eq!(h.forward(Repr::Map(x)).sample_shape(), vec![6, 14, 14]);
        }
        let h = Head::new(
            HeadKind::Conv,
            &[84],
            HeadPurpose::Similarity,
            2048,
            &device,
        )
        .unwrap();
        let x = Tensor::<2>::ones([3, 84], &device);
        assert_eq!(h.forward(Repr::Flat(x)).sample_shape(), vec![84]);
    }
}
