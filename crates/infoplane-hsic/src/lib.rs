//! # infoplane-hsic
//!
//! The measuring instrument of infoplane: kernels and Gram matrices, biased and unbiased HSIC,
//! CKA, and normalized HSIC (nHSIC(X;Y) = tr(R_X R_Y), R = K̃(K̃ + εnI)⁻¹; the paper's
//! section 3.2 and appendix D), computed in f64 with Gram matrices optionally on the training
//! backend; mini-batch estimation over an evaluation set; and the information-plane recorder
//! that streams nHSIC(X;Tᵢ), nHSIC(Y;Tᵢ) of every stage to disk during training.
#![warn(missing_docs)]

pub mod error;
pub mod estimators;
pub mod foreign;
pub mod kernel;
pub mod npy;
pub mod recorder;

pub use error::{HsicError, Result};
pub use estimators::{
    DEFAULT_EPS, Regularized, Statistics, cka, hsic_biased, hsic_unbiased, nhsic, nhsic_batched,
    nhsic_gradient, statistics,
};
pub use kernel::{Kernel, KernelKind, Samples, center, center_right};
pub use npy::{NpyArray, read_npy};
pub use recorder::{InfoPlaneRecorder, PlanePoint, PlaneSettings, read_points};
