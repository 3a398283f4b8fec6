//! Errors of the HSIC crate.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, HsicError>;

/// What can go wrong when measuring dependence.
#[derive(Debug, thiserror::Error)]
pub enum HsicError {
    /// The two variables have different numbers of samples.
    #[error(
        "the two arrays have different numbers of samples: {n_x} and {n_y}; HSIC pairs sample i of one with sample i of the other"
    )]
    SampleMismatch {
        /// Samples of the first variable.
        n_x: usize,
        /// Samples of the second variable.
        n_y: usize,
    },
    /// Fewer samples than the estimators need.
    #[error("{n} samples: at least 4 are needed (the unbiased estimator divides by n-3)")]
    TooFewSamples {
        /// Samples given.
        n: usize,
    },
    /// More samples than the n × n Gram matrices can hold in memory.
    #[error("{n} samples: the n x n Gram matrices {reason}; measure on a subset of the samples")]
    TooLarge {
        /// Samples given.
        n: usize,
        /// The bytes needed and the machine's memory.
        reason: String,
    },
    /// A NaN or infinite value in the input.
    #[error(
        "{what}: value {value} at sample {sample}, feature {feature}; HSIC needs finite values"
    )]
    NonFinite {
        /// Which input.
        what: String,
        /// Sample index.
        sample: usize,
        /// Feature index within the flattened sample.
        feature: usize,
        /// The value.
        value: f64,
    },
    /// A kernel name that does not exist.
    #[error(
        "unknown kernel `{name}`; known kernels: rbf, rbf-dimscaled, rbf-legacy, median, linear"
    )]
    UnknownKernel {
        /// The name given.
        name: String,
    },
    /// A bad numeric option.
    #[error("invalid `{option}` = {value}: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// Its value.
        value: f64,
        /// What is allowed.
        reason: &'static str,
    },
    /// A malformed or unsupported `.npy` file.
    #[error("{path}: {reason}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what is supported.
        reason: String,
    },
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The linear algebra failed (a Gram matrix that is far from positive semi-definite).
    #[error("linear algebra failed: {0}")]
    LinearAlgebra(String),
}
