//! HSIC estimators on Gram matrices: biased HSIC, the unbiased estimator of Song et al.
//! (2012), CKA, and normalized HSIC (the paper's section 3.2, eq. 5; Fukumizu et al.'s NOCCO).
//!
//! nHSIC(X;Y) = tr(R_X R_Y), R = K̃ (K̃ + εnI)⁻¹, K̃ = H K H. The inverse is ill-conditioned,
//! so everything here is f64 (faer). One side is kept as a factor R = M Mᵀ (from the symmetric
//! eigendecomposition, or, for a linear kernel of rank d < n such as one-hot labels, from the
//! push-through identity R = Φ̃ (Φ̃ᵀΦ̃ + εnI_d)⁻¹ Φ̃ᵀ), the other as the Cholesky factor of
//! K̃ + εnI; then tr(R_a R_b) = ‖M‖² − εn‖L⁻¹M‖² costs one triangular solve (see
//! [`Regularized`]).

use faer::{Mat, Side};

use crate::error::{HsicError, Result};
use crate::kernel::{Kernel, KernelKind, Samples, center};

/// Default regularization ε of nHSIC.
pub const DEFAULT_EPS: f64 = 1e-5;

fn frob_dot(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    (0..a.ncols())
        .map(|j| {
            a.col_as_slice(j)
                .iter()
                .zip(b.col_as_slice(j))
                .map(|(x, y)| x * y)
                .sum::<f64>()
        })
        .sum()
}

/// tr(A B) = Σ_ij A_ij B_ji.
pub fn trace_product(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    frob_dot(a, &b.transpose().to_owned())
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

/// Sum of squares of all entries (‖M‖²_F), column by column.
fn sum_squares(m: &Mat<f64>) -> f64 {
    (0..m.ncols())
        .map(|j| m.col_as_slice(j).iter().map(|v| v * v).sum::<f64>())
        .sum()
}

/// R = K̃ (K̃ + εnI)⁻¹ of one variable, in the form that makes tr(R_a R_b) cheapest.
///
/// - `Factor(M)`: R = M Mᵀ exactly (M = U diag(√(λ/(λ+εn))) from the eigendecomposition, or
///   M = Φ̃ L⁻ᵀ for a linear kernel of rank d < n). Used for the variables that stay fixed while
///   training runs (X and Y of the evaluation set), computed once.
/// - `Cholesky { l, c }`: the Cholesky factor L of K̃ + cI, c = εn; then
///   R = I − c (K̃ + cI)⁻¹. Used for the representation measured at each evaluation point:
///   one factorization, n³/3 flops.
///
/// With one of each, tr(R_T R_X) = tr(R_X) − c·tr((K̃_T + cI)⁻¹ M Mᵀ) = ‖M‖² − c‖L⁻¹M‖²:
/// one triangular solve, instead of forming R_T with a solve against n right-hand sides.
#[derive(Debug, Clone)]
pub enum Regularized {
    /// R = M Mᵀ.
    Factor(Mat<f64>),
    /// Lower Cholesky factor of K̃ + cI.
    Cholesky {
        /// The factor L.
        l: Mat<f64>,
        /// The shift c = εn.
        c: f64,
    },
}

impl Regularized {
    /// From a centered Gram matrix: the Cholesky form (eigendecomposition as fallback when
    /// rounding left K̃ + εnI not positive definite).
    pub fn from_centered(kc: &Mat<f64>, eps: f64) -> Result<Self> {
        let n = kc.nrows();
        let c = eps * n as f64;
        let mut a = kc.clone();
        for i in 0..n {
            a[(i, i)] += c;
        }
        match a.llt(Side::Lower) {
            Ok(llt) => Ok(Regularized::Cholesky {
                l: llt.L().to_owned(),
                c,
            }),
            Err(_) => Self::from_centered_eigen(kc, eps),
        }
    }

    /// [`Regularized::from_centered`], consuming the matrix and factoring it in place (no copy
    /// on the hot path). Fails, instead of falling back, when K̃ + εnI is not positive
    /// definite: the matrix is overwritten by then; use [`Regularized::from_centered`] again.
    pub fn from_centered_owned(mut kc: Mat<f64>, eps: f64) -> Result<Self> {
        use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch};
        let n = kc.nrows();
        let c = eps * n as f64;
        for i in 0..n {
            kc[(i, i)] += c;
        }
        let par = faer::get_global_parallelism();
        let mut buf = faer::dyn_stack::MemBuffer::new(cholesky_in_place_scratch::<f64>(
            n,
            par,
            Default::default(),
        ));
        let stack = faer::dyn_stack::MemStack::new(&mut buf);
        cholesky_in_place(
            kc.as_mut(),
            Default::default(),
            par,
            stack,
            Default::default(),
        )
        .map_err(|e| {
            HsicError::LinearAlgebra(format!("K̃ + εnI is not positive definite ({e:?})"))
        })?;
        // Only the lower triangle holds L; the triangular solves read nothing else.
        Ok(Regularized::Cholesky { l: kc, c })
    }

    /// From a centered Gram matrix by its eigendecomposition: M = U diag(√(λ⁺/(λ⁺ + εn)))
    /// (λ⁺ = max(λ, 0); directions with λ⁺ = 0 are dropped).
    pub fn from_centered_eigen(kc: &Mat<f64>, eps: f64) -> Result<Self> {
        let n = kc.nrows();
        let shift = eps * n as f64;
        let evd = kc
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| HsicError::LinearAlgebra(format!("{e:?}")))?;
        let u = evd.U();
        let s = evd.S().column_vector();
        let keep: Vec<(usize, f64)> = (0..n)
            .filter(|&k| s[k] > 0.0)
            .map(|k| (k, (s[k] / (s[k] + shift)).sqrt()))
            .collect();
        Ok(Regularized::Factor(Mat::from_fn(n, keep.len(), |i, j| {
            u[(i, keep[j].0)] * keep[j].1
        })))
    }

    /// Factored R of a linear kernel on features `x` (n × d): with Φ̃ = HΦ and
    /// Φ̃ᵀΦ̃ + εnI = L Lᵀ, R = Φ̃ (Φ̃ᵀΦ̃ + εnI)⁻¹ Φ̃ᵀ = M Mᵀ with M = Φ̃ L⁻ᵀ (exact, any rank).
    pub fn linear_factored(x: &Samples, eps: f64) -> Result<Self> {
        Self::linear_factored_with(x, eps, true)
    }

    /// [`Regularized::linear_factored`], with the centering of the features optional: without
    /// it R = Φ (ΦᵀΦ + εnI)⁻¹ Φᵀ of the uncentered kernel Φ Φᵀ (the label kernel as the authors'
    /// newer code leaves it; equal to the centered one only for balanced one-hot labels).
    pub fn linear_factored_with(x: &Samples, eps: f64, center: bool) -> Result<Self> {
        let (n, d) = (x.n, x.d);
        let mean: Vec<f64> = (0..d)
            .map(|j| {
                if center {
                    (0..n).map(|i| x.values[i * d + j]).sum::<f64>() / n as f64
                } else {
                    0.0
                }
            })
            .collect();
        let phi = Mat::from_fn(n, d, |i, j| x.values[i * d + j] - mean[j]);
        let shift = eps * n as f64;
        let mut g = phi.transpose() * &phi;
        for i in 0..d {
            g[(i, i)] += shift;
        }
        let llt = g
            .llt(Side::Lower)
            .map_err(|e| HsicError::LinearAlgebra(format!("{e:?}")))?;
        // M = Φ̃ L⁻ᵀ, i.e. Mᵀ = L⁻¹ Φ̃ᵀ.
        let mut mt = phi.transpose().to_owned();
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(
            llt.L(),
            mt.as_mut(),
            faer::get_global_parallelism(),
        );
        Ok(Regularized::Factor(mt.transpose().to_owned()))
    }

    /// R for `x` under `kernel`, in factored form (for variables used many times).
    pub fn new(kernel: &Kernel, x: &Samples, eps: f64) -> Result<Self> {
        Self::new_with_centering(kernel, x, eps, true)
    }

    /// [`Regularized::new`] with the Gram matrix centered (`center`, the default everywhere)
    /// or left as it is.
    pub fn new_with_centering(
        kernel: &Kernel,
        x: &Samples,
        eps: f64,
        center_gram: bool,
    ) -> Result<Self> {
        if kernel.kind == KernelKind::Linear && x.d < x.n {
            Self::linear_factored_with(x, eps, center_gram)
        } else {
            let k = kernel.gram(x);
            let k = if center_gram { center(&k) } else { k };
            Self::from_centered_eigen(&k, eps)
        }
    }

    /// The factor M of R = M Mᵀ (`Factor` form only).
    pub fn factor(&self) -> Option<&Mat<f64>> {
        match self {
            Regularized::Factor(m) => Some(m),
            Regularized::Cholesky { .. } => None,
        }
    }

    /// The dense n × n matrix R.
    pub fn to_dense(&self) -> Mat<f64> {
        match self {
            Regularized::Factor(m) => m * m.transpose(),
            Regularized::Cholesky { l, c } => {
                let n = l.nrows();
                // (K̃ + cI)⁻¹ = L⁻ᵀ L⁻¹; R = I − c L⁻ᵀ L⁻¹.
                let mut w = Mat::<f64>::identity(n, n);
                faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                    l.as_ref(),
                    w.as_mut(),
                    faer::get_global_parallelism(),
                );
                let inv = w.transpose() * &w;
                Mat::from_fn(
                    n,
                    n,
                    |i, j| if i == j { 1.0 } else { 0.0 } - c * inv[(i, j)],
                )
            }
        }
    }

    /// tr(R_self R_other): the normalized HSIC of the two variables.
    pub fn nhsic(&self, other: &Regularized) -> f64 {
        match (self, other) {
            (Regularized::Factor(a), Regularized::Factor(b)) => sum_squares(&(a.transpose() * b)),
            (Regularized::Cholesky { l, c }, Regularized::Factor(m))
            | (Regularized::Factor(m), Regularized::Cholesky { l, c }) => {
                let mut w = m.clone();
                faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                    l.as_ref(),
                    w.as_mut(),
                    faer::get_global_parallelism(),
                );
                sum_squares(m) - c * sum_squares(&w)
            }
            (a @ Regularized::Cholesky { .. }, b @ Regularized::Cholesky { .. }) => {
                trace_product(&a.to_dense(), &b.to_dense())
            }
        }
    }
}

/// nHSIC(X;Y) = tr(R_X R_Y) of two centered Gram matrices.
pub fn nhsic_from_centered(kc: &Mat<f64>, lc: &Mat<f64>, eps: f64) -> Result<f64> {
    Ok(Regularized::from_centered(kc, eps)?.nhsic(&Regularized::from_centered_eigen(lc, eps)?))
}

/// nHSIC(T; R) = tr(R_T R) and its gradient G = ∂nHSIC/∂K with respect to T's uncentered
/// Gram matrix `k`, for a fixed `reference` R = M Mᵀ in factored form ([`Regularized::new`]).
///
/// With K̃ = HKH, c = εn, A = K̃ + cI and R_T = K̃A⁻¹ = I − cA⁻¹:
/// nHSIC = tr(R) − c·tr(A⁻¹R), so dnHSIC = c·tr(A⁻¹ R A⁻¹ dK̃) and, since dK̃ = H dK H,
/// G = H (c·W Wᵀ) H with W = A⁻¹M. One Cholesky factorization and two triangular solves.
/// This is the exact gradient the nHSIC augmenting term (section 4.4) backpropagates.
pub fn nhsic_gradient(k: &Mat<f64>, reference: &Regularized, eps: f64) -> Result<(f64, Mat<f64>)> {
    check_eps(eps)?;
    let n = k.nrows();
    if n < 4 {
        return Err(HsicError::TooFewSamples { n });
    }
    let m = reference.factor().ok_or_else(|| {
        HsicError::LinearAlgebra(
            "the reference of nhsic_gradient must be in factored form (Regularized::new)".into(),
        )
    })?;
    if m.nrows() != n {
        return Err(HsicError::SampleMismatch {
            n_x: n,
            n_y: m.nrows(),
        });
    }
    let c = eps * n as f64;
    let mut a = center(k);
    for i in 0..n {
        a[(i, i)] += c;
    }
    let llt = a.llt(Side::Lower).map_err(|e| {
        HsicError::LinearAlgebra(format!("K̃ + εnI is not positive definite ({e:?})"))
    })?;
    let l = llt.L();
    // W = A⁻¹ M = L⁻ᵀ (L⁻¹ M).
    let mut w = m.clone();
    let par = faer::get_global_parallelism();
    faer::linalg::triangular_solve::solve_lower_triangular_in_place(l, w.as_mut(), par);
    let value = sum_squares(m) - c * sum_squares(&w);
    faer::linalg::triangular_solve::solve_upper_triangular_in_place(l.transpose(), w.as_mut(), par);
    let g = &w * w.transpose() * c;
    Ok((value, center(&g)))
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
    check_gram_fits(x.n)?;
    x.check_finite("x")?;
    y.check_finite("y")?;
    kx.validate()?;
    ky.validate()?;
    check_eps(eps)
}

/// n × n matrices of f64 the estimators hold at once (two Gram matrices, their centered
/// copies, and the regularized inverses of nHSIC).
const GRAM_COPIES: usize = 8;

/// Refuses a sample count whose Gram matrices cannot fit in this machine's memory (checked
/// arithmetic: n² overflows for n beyond 2^32).
pub fn check_gram_fits(n: usize) -> Result<()> {
    let bytes = infoplane_data::memory::product(&[n, n, 8, GRAM_COPIES]);
    infoplane_data::memory::check_fits(bytes)
        .map(|_| ())
        .map_err(|e| HsicError::TooLarge {
            n,
            reason: e.to_string(),
        })
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
    let rx = if kx.kind == KernelKind::Linear && x.d < x.n {
        Regularized::linear_factored(x, eps)?
    } else {
        Regularized::from_centered(&center(&kx.gram(x)), eps)?
    };
    Ok(rx.nhsic(&Regularized::new(ky, y, eps)?))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::KernelKind;

    /// 2^33 samples of dimension 0 take no memory as input, but their Gram matrices would
    /// take 2^66 · 8 bytes each: refused before anything is allocated.
    #[test]
    fn sample_counts_whose_gram_matrices_cannot_fit_are_refused() {
        let n = 1usize << 33;
        let x = Samples::new(n, 0, Vec::new());
        let k = Kernel {
            kind: KernelKind::Linear,
            sigma: 1.0,
        };
        let e = statistics(&x, &x, &k, &k, 1e-5).unwrap_err().to_string();
        assert!(
            e.starts_with("8589934592 samples: the n x n Gram matrices"),
            "{e}"
        );
        assert!(check_gram_fits(64).is_ok());
    }
}
