//! Representations passed between stages: feature maps, flat vectors or token sequences, and
//! the one rule by which heads, probes and the information plane read each kind.
//!
//! Reading rule (the README, "Architecture"):
//! - a feature map `[n, c, h, w]` is read whole by the information plane (flattened to
//!   `c·h·w` features) and average-pooled to at most 2048 features before a linear or MLP
//!   head or a probe ([`crate::heads::pool_kernel`]);
//! - a flat vector `[n, d]` is read as it is;
//! - tokens `[n, t, d]` are first reduced to `[n, d]` by the model's [`TokenReadout`] (the
//!   mean over tokens, or the class token), then read as a flat vector.

use burn::tensor::Tensor;

/// A stage's output T(i).
#[derive(Debug, Clone)]
pub enum Repr {
    /// Feature map `[n, c, h, w]`.
    Map(Tensor<4>),
    /// Flat features `[n, d]`.
    Flat(Tensor<2>),
    /// Token sequence `[n, t, d]` (transformers).
    Tokens(Tensor<3>),
}

/// How a token sequence `[n, t, d]` becomes one vector per sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenReadout {
    /// The mean over all tokens (class token included when there is one).
    #[default]
    Mean,
    /// The first token (the class token of a ViT).
    Class,
}

impl TokenReadout {
    /// Name in configs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenReadout::Mean => "mean",
            TokenReadout::Class => "class",
        }
    }
}

impl Repr {
    /// Flattened per sample: `[n, d]` (tokens: every token's features, concatenated).
    pub fn flatten(self) -> Tensor<2> {
        match self {
            Repr::Map(t) => t.flatten::<2>(1, 3),
            Repr::Flat(t) => t,
            Repr::Tokens(t) => t.flatten::<2>(1, 2),
        }
    }

    /// Tokens reduced to one vector per sample by `rule`; maps and vectors unchanged.
    pub fn read_tokens(self, rule: TokenReadout) -> Repr {
        match self {
            Repr::Tokens(t) => {
                let [n, _, d] = t.dims();
                Repr::Flat(match rule {
                    TokenReadout::Mean => t.mean_dim(1).reshape([n, d]),
                    TokenReadout::Class => t.narrow(1, 0, 1).reshape([n, d]),
                })
            }
            other => other,
        }
    }

    /// The feature map `[n, c, h, w]`, or `None` for another kind.
    pub fn into_map(self) -> Option<Tensor<4>> {
        match self {
            Repr::Map(t) => Some(t),
            _ => None,
        }
    }

    /// The same values cut from the autodiff graph: gradients stop here.
    pub fn detach(self) -> Self {
        self.map_tensors(|t| t.detach(), |t| t.detach(), |t| t.detach())
    }

    /// The same values off the autodiff device (for measurements).
    pub fn without_autodiff(self) -> Self {
        self.map_tensors(
            |t| t.without_autodiff(),
            |t| t.without_autodiff(),
            |t| t.without_autodiff(),
        )
    }

    fn map_tensors(
        self,
        m: impl FnOnce(Tensor<4>) -> Tensor<4>,
        f: impl FnOnce(Tensor<2>) -> Tensor<2>,
        t: impl FnOnce(Tensor<3>) -> Tensor<3>,
    ) -> Self {
        match self {
            Repr::Map(x) => Repr::Map(m(x)),
            Repr::Flat(x) => Repr::Flat(f(x)),
            Repr::Tokens(x) => Repr::Tokens(t(x)),
        }
    }

    /// Per-sample shape (without the batch dimension).
    pub fn sample_shape(&self) -> Vec<usize> {
        match self {
            Repr::Map(t) => t.dims()[1..].to_vec(),
            Repr::Flat(t) => t.dims()[1..].to_vec(),
            Repr::Tokens(t) => t.dims()[1..].to_vec(),
        }
    }

    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        self.sample_shape().iter().product()
    }

    /// Number of samples.
    pub fn batch(&self) -> usize {
        match self {
            Repr::Map(t) => t.dims()[0],
            Repr::Flat(t) => t.dims()[0],
            Repr::Tokens(t) => t.dims()[0],
        }
    }

    /// Rows `start..start+len` of the batch.
    pub fn narrow(self, start: usize, len: usize) -> Self {
        self.map_tensors(
            |t| t.narrow(0, start, len),
            |t| t.narrow(0, start, len),
            |t| t.narrow(0, start, len),
        )
    }

    /// Concatenates representations of consecutive sub-batches (all of the same kind; a
    /// mixture is flattened).
    pub fn cat(parts: Vec<Repr>) -> Self {
        if parts.iter().all(|p| matches!(p, Repr::Map(_))) && !parts.is_empty() {
            return Repr::Map(Tensor::cat(
                parts.into_iter().filter_map(Repr::into_map).collect(),
                0,
            ));
        }
        if parts.iter().all(|p| matches!(p, Repr::Tokens(_))) && !parts.is_empty() {
            return Repr::Tokens(Tensor::cat(
                parts
                    .into_iter()
                    .filter_map(|p| match p {
                        Repr::Tokens(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                0,
            ));
        }
        Repr::Flat(Tensor::cat(
            parts.into_iter().map(Repr::flatten).collect(),
            0,
        ))
    }

    /// A short name of the kind and shape, e.g. `map 6x14x14`, `vec 120`, `tokens 65x192`.
    pub fn describe_shape(shape: &[usize]) -> String {
        let dims = shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x");
        match shape.len() {
            3 => format!("map {dims}"),
            2 => format!("tokens {dims}"),
            _ => format!("vec {dims}"),
        }
    }
}
