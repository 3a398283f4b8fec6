//! HSIC estimators on Gram matrices: biased HSIC, the unbiased estimator of Song et al.
//! (2012), CKA, and normalized HSIC (the paper's section 3.2, eq. 5; Fukumizu et al.'s NOCCO).
//!
//! nHSIC(X;Y) = tr(R_X R_Y), R = K̃ (K̃ + εnI)⁻¹, K̃ = H K H. The inverse is ill-conditioned,
//! so everything here is f64: R comes from a Cholesky factorization of K̃ + εnI (faer), with
//! a symmetric eigendecomposition as fallback when rounding made K̃ slightly indefinite.
//! For a linear kernel of rank d < n (one-hot labels: d = C) R is kept in factored form
//! R = Φ̃ (Φ̃ᵀΦ̃ + εnI_d)⁻¹ Φ̃ᵀ (Φ̃ = HΦ, the push-through identity), which is exact and turns
//! the label term into O(n²d) work.

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

use crate::error::{HsicError, Result};
use crate::kernel::{Kernel, KernelKind, Samples, center};

/// Default regularization ε of nHSIC.
pub const DEFAULT_EPS: f64 = 1e-5;

fn frob_dot(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let n = a.nrows();
    let mut s = 0.0;
    for j in 0..a.ncols() {
        for i in 0..n {
            s += a[(i, j)] * b[(i, j)];
        }
    }
    s
}

/// tr(A B) = Σ_ij A_ij B_ji.
pub fn trace_product(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let n = a.nrows();
    let mut s = 0.0;
    for j in 0..n {
        for i in 0..n {
            s += a[(i, j)] * b[(j, i)];
        }
    }
    s
}

/// Biased HSIC: tr(K̃ L̃) / (n − 1)², from centered Gram matrices.
pub fn hsic_biased(kc: &Mat<f64>, lc: &Mat<f64>) -> f64 {
    let n = kc.nrows() as f64;
    trace_product(kc, lc) / ((n - 1.0) * (n - 1.0))
}

/// The unbiased HSIC estimator of Song et al. (2012), from uncentered Gram matrices:
/// [tr(K̂L̂) + 1ᵀK̂1·1ᵀL̂1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̂L̂1] / (n(n−3)), K̂, L̂ with zero diagonal.
pub fn hsic_unbiased(k: &Mat<f64>, l: &Mat<f64>) -> f64 {
    let n = k.nrows();
    let nf = n as f64;
    let kh = Mat::from_fn(n, n, |i, j| if i == j { 0.0 } else { k[(i, j)] });
    let lh = Mat::from_fn(n, n, |i, j| if i == j { 0.0 } else { l[(i, j)] });
    let tr = trace_product(&kh, &lh);
    let sum_k: f64 = (0..n)
        .flat_map(|j| (0..n).map(move |i| (i, j)))
        .map(|(i, j)| kh[(i, j)])
        .sum();
    let sum_l: f64 = (0..n)
        .flat_map(|j| (0..n).map(move |i| (i, j)))
        .map(|(i, j)| lh[(i, j)])
        .sum();
    let k1: Vec<f64> = (0..n).map(|i| (0..n).map(|j| kh[(i, j)]).sum()).collect();
    let l1: Vec<f64> = (0..n).map(|i| (0..n).map(|j| lh[(i, j)]).sum()).collect();
    let k1l1: f64 = k1.iter().zip(&l1).map(|(a, b)| a * b).sum(); // 1ᵀ K̂ L̂ 1 (K̂ symmetric)
    (tr + sum_k * sum_l / ((nf - 1.0) * (nf - 2.0)) - 2.0 / (nf - 2.0) * k1l1) / (nf * (nf - 3.0))
}

/// Centered kernel alignment: ⟨K̃, L̃⟩_F / (‖K̃‖_F ‖L̃‖_F).
pub fn cka(kc: &Mat<f64>, lc: &Mat<f64>) -> f64 {
    frob_dot(kc, lc) / (frob_dot(kc, kc).sqrt() * frob_dot(lc, lc).sqrt())
}

/// R = K̃ (K̃ + εnI)⁻¹ of one variable, dense or factored.
#[derive(Debug, Clone)]
pub enum Regularized {
    /// The n × n matrix R.
    Dense(Mat<f64>),
    /// R = Φ̃ M Φ̃ᵀ with Φ̃ (n × d) centered features and M = (Φ̃ᵀΦ̃ + εnI)⁻¹ (d × d).
    LowRank {
        /// Centered features.
        phi: Mat<f64>,
        /// The d × d middle factor.
        m: Mat<f64>,
    },
}

impl Regularized {
    /// R from a centered Gram matrix: Cholesky solve of (K̃ + εnI) R = K̃, eigen fallback.
    pub fn from_centered(kc: &Mat<f64>, eps: f64) -> Result<Self> {
        let n = kc.nrows();
        let shift = eps * n as f64;
        let a = Mat::from_fn(n, n, |i, j| kc[(i, j)] + if i == j { shift } else { 0.0 });
        match a.llt(Side::Lower) {
            Ok(llt) => {
                let r = llt.solve(kc);
                // R is symmetric in exact arithmetic; symmetrize away the rounding.
                Ok(Regularized::Dense(Mat::from_fn(n, n, |i, j| {
                    0.5 * (r[(i, j)] + r[(j, i)])
                })))
            }
            Err(_) => Self::from_centered_eigen(kc, eps),
        }
    }

    /// R = U diag(λ⁺/(λ⁺ + εn)) Uᵀ from the eigendecomposition of K̃ (λ⁺ = max(λ, 0)).
    pub fn from_centered_eigen(kc: &Mat<f64>, eps: f64) -> Result<Self> {
        let n = kc.nrows();
        let shift = eps * n as f64;
        let evd = kc
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| HsicError::LinearAlgebra(format!("{e:?}")))?;
        let u = evd.U();
        let s = evd.S().column_vector();
        let f: Vec<f64> = (0..n)
            .map(|k| {
                let l = s[k].max(0.0);
                l / (l + shift)
            })
            .collect();
        let uf = Mat::from_fn(n, n, |i, k| u[(i, k)] * f[k]);
        Ok(Regularized::Dense(&uf * u.transpose()))
    }

    /// Factored R of a linear kernel on features `x` (n × d, any d): exact for any rank.
    pub fn linear_factored(x: &Samples, eps: f64) -> Result<Self> {
        let (n, d) = (x.n, x.d);
        let mean: Vec<f64> = (0..d)
            .map(|j| (0..n).map(|i| x.values[i * d + j]).sum::<f64>() / n as f64)
            .collect();
        let phi = Mat::from_fn(n, d, |i, j| x.values[i * d + j] - mean[j]);
        let shift = eps * n as f64;
        let g = phi.transpose() * &phi;
        let a = Mat::from_fn(d, d, |i, j| g[(i, j)] + if i == j { shift } else { 0.0 });
        let llt = a
            .llt(Side::Lower)
            .map_err(|e| HsicError::LinearAlgebra(format!("{e:?}")))?;
        let m = llt.solve(Mat::<f64>::identity(d, d));
        Ok(Regularized::LowRank { phi, m })
    }

    /// R for `x` under `kernel`: factored for a linear kernel with d < n, dense otherwise.
    pub fn new(kernel: &Kernel, x: &Samples, eps: f64) -> Result<Self> {
        if kernel.kind == KernelKind::Linear && x.d < x.n {
            Self::linear_factored(x, eps)
        } else {
            Self::from_centered(&center(&kernel.gram(x)), eps)
        }
    }

    /// The dense n × n matrix R.
    pub fn to_dense(&self) -> Mat<f64> {
        match self {
            Regularized::Dense(r) => r.clone(),
            Regularized::LowRank { phi, m } => phi * m * phi.transpose(),
        }
    }

    /// tr(R_self R_other): the normalized HSIC of the two variables.
    pub fn nhsic(&self, other: &Regularized) -> f64 {
        match (self, other) {
            (Regularized::Dense(a), Regularized::Dense(b)) => trace_product(a, b),
            (Regularized::Dense(a), Regularized::LowRank { phi, m })
            | (Regularized::LowRank { phi, m }, Regularized::Dense(a)) => {
                // tr(A Φ M Φᵀ) = tr(M (Φᵀ A Φ)).
                let pap = phi.transpose() * (a * phi);
                trace_product(m, &pap)
            }
            (Regularized::LowRank { phi: pa, m: ma }, Regularized::LowRank { phi: pb, m: mb }) => {
                // tr(Φa Ma Φaᵀ Φb Mb Φbᵀ) = tr(Ma G Mb Gᵀ), G = Φaᵀ Φb.
                let g = pa.transpose() * pb;
                let left = ma * &g;
                let right = mb * g.transpose();
                trace_product(&left, &right)
            }
        }
    }
}

/// nHSIC(X;Y) = tr(R_X R_Y) of two centered Gram matrices.
pub fn nhsic_from_centered(kc: &Mat<f64>, lc: &Mat<f64>, eps: f64) -> Result<f64> {
    Ok(Regularized::from_centered(kc, eps)?.nhsic(&Regularized::from_centered(lc, eps)?))
}

/// All four statistics of one pair of variables.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Statistics {
    /// Biased HSIC.
    pub hsic: f64,
    /// Unbiased HSIC (Song et al. 2012).
    pub hsic_unbiased: f64,
    /// Centered kernel alignment.
    pub cka: f64,
    /// Normalized HSIC.
    pub nhsic: f64,
}

fn check_eps(eps: f64) -> Result<()> {
    if !(eps > 0.0 && eps.is_finite()) {
        return Err(HsicError::InvalidOption {
            option: "eps",
            value: eps,
            reason: "the regularization must be positive and finite",
        });
    }
    Ok(())
}

/// Checks two inputs and the settings before any estimate.
pub fn validate(x: &Samples, y: &Samples, kx: &Kernel, ky: &Kernel, eps: f64) -> Result<()> {
    if x.n != y.n {
        return Err(HsicError::SampleMismatch { n_x: x.n, n_y: y.n });
    }
    if x.n < 4 {
        return Err(HsicError::TooFewSamples { n: x.n });
    }
    x.check_finite("x")?;
    y.check_finite("y")?;
    kx.validate()?;
    ky.validate()?;
    check_eps(eps)
}

/// Computes every statistic of (x, y) in f64.
pub fn statistics(
    x: &Samples,
    y: &Samples,
    kx: &Kernel,
    ky: &Kernel,
    eps: f64,
) -> Result<Statistics> {
    validate(x, y, kx, ky, eps)?;
    let k = kx.gram(x);
    let l = ky.gram(y);
    let (kc, lc) = (center(&k), center(&l));
    Ok(Statistics {
        hsic: hsic_biased(&kc, &lc),
        hsic_unbiased: hsic_unbiased(&k, &l),
        cka: cka(&kc, &lc),
        nhsic: nhsic_from_centered(&kc, &lc, eps)?,
    })
}

/// nHSIC(X;Y) with the given kernels, in f64.
pub fn nhsic(x: &Samples, y: &Samples, kx: &Kernel, ky: &Kernel, eps: f64) -> Result<f64> {
    validate(x, y, kx, ky, eps)?;
    Ok(Regularized::new(kx, x, eps)?.nhsic(&Regularized::new(ky, y, eps)?))
}

/// Mean and (population) standard deviation of a series.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

/// nHSIC averaged over consecutive mini-batches of `batch` samples (the paper's protocol);
/// a last incomplete batch is dropped. Returns (mean, std, per-batch values).
pub fn nhsic_batched(
    x: &Samples,
    y: &Samples,
    kx: &Kernel,
    ky: &Kernel,
    eps: f64,
    batch: usize,
) -> Result<(f64, f64, Vec<f64>)> {
    validate(x, y, kx, ky, eps)?;
    if batch < 4 || batch > x.n {
        return Err(HsicError::InvalidOption {
            option: "batch",
            value: batch as f64,
            reason: "the batch must hold at least 4 samples and at most the whole set",
        });
    }
    let vals = (0..x.n / batch)
        .map(|b| {
            nhsic(
                &x.rows(b * batch..(b + 1) * batch),
                &y.rows(b * batch..(b + 1) * batch),
                kx,
                ky,
                eps,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let (m, s) = mean_std(&vals);
    Ok((m, s, vals))
}
