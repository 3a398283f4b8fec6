//! Representations passed between stages: feature maps or flat vectors.

use burn::tensor::Tensor;

/// A stage's output T(i): a feature map `[n, c, h, w]` or a flat `[n, d]` vector.
#[derive(Debug, Clone)]
pub enum Repr {
    /// Feature map `[n, c, h, w]`.
    Map(Tensor<4>),
    /// Flat features `[n, d]`.
    Flat(Tensor<2>),
}

impl Repr {
    /// Flattened per sample: `[n, d]`.
    pub fn flatten(self) -> Tensor<2> {
        match self {
            Repr::Map(t) => t.flatten::<2>(1, 3),
            Repr::Flat(t) => t,
        }
    }

    /// The same values cut from the autodiff graph: gradients stop here.
    pub fn detach(self) -> Self {
        match self {
            Repr::Map(t) => Repr::Map(t.detach()),
            Repr::Flat(t) => Repr::Flat(t.detach()),
        }
    }

    /// The same values off the autodiff device (for measurements).
    pub fn without_autodiff(self) -> Self {
        match self {
            Repr::Map(t) => Repr::Map(t.without_autodiff()),
            Repr::Flat(t) => Repr::Flat(t.without_autodiff()),
        }
    }

    /// Per-sample shape (without the batch dimension).
    pub fn sample_shape(&self) -> Vec<usize> {
        match self {
            Repr::Map(t) => t.dims()[1..].to_vec(),
            Repr::Flat(t) => t.dims()[1..].to_vec(),
        }
    }

    /// Number of samples.
    pub fn batch(&self) -> usize {
        match self {
            Repr::Map(t) => t.dims()[0],
            Repr::Flat(t) => t.dims()[0],
        }
    }

    /// Rows `start..start+len` of the batch.
    pub fn narrow(self, start: usize, len: usize) -> Self {
        match self {
            Repr::Map(t) => Repr::Map(t.narrow(0, start, len)),
            Repr::Flat(t) => Repr::Flat(t.narrow(0, start, len)),
        }
    }

    /// Concatenates representations of consecutive sub-batches.
    pub fn cat(parts: Vec<Repr>) -> Self {
        match parts.first() {
            Some(Repr::Map(_)) => Repr::Map(Tensor::cat(
                parts
                    .into_iter()
                    .map(|p| match p {
                        Repr::Map(t) => t,
                        Repr::Flat(_) => panic!("Repr::cat: mixed kinds"),
                    })
                    .collect(),
                0,
            )),
            _ => Repr::Flat(Tensor::cat(
                parts.into_iter().map(Repr::flatten).collect(),
                0,
            )),
        }
    }
}
