//! Kernels and Gram matrices, in f64 on the host and in f32 on a burn backend.
//!
//! The kernel-width conventions of the paper's text and of its authors' code differ
//! (docs/paper-settings.md, "nHSIC"); each is a named option:
//!
//! | name | k(a, b) |
//! |---|---|
//! | `rbf` | exp(−‖a−b‖² / (2σ²)) |
//! | `rbf-dimscaled` | exp(−‖a−b‖² / (2σ²d)), d = flattened dimension (default for X and T, σ = 5) |
//! | `rbf-legacy` | exp(−‖a−b‖ / (2σ²d)), the non-squared distance of the authors' older code (a flaw: nearly flat on real inputs; kept for comparisons) |
//! | `median` | exp(−‖a−b‖² / (2σ²m)), m = median of all n² squared distances, diagonal zeros included |
//! | `linear` | ⟨a, b⟩ (default for one-hot labels) |

use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use faer::Mat;

use crate::error::{HsicError, Result};

/// Samples as an n × d row-major f64 matrix (inputs of any shape flattened per sample).
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// Number of samples.
    pub n: usize,
    /// Flattened dimension of one sample.
    pub d: usize,
    /// Row-major values, `n * d` of them.
    pub values: Vec<f64>,
}

impl Samples {
    /// Wraps row-major values; `values.len()` must equal `n * d`.
    pub fn new(n: usize, d: usize, values: Vec<f64>) -> Self {
        assert_eq!(
            values.len(),
            n * d,
            "Samples::new: {n} x {d} needs {} values",
            n * d
        );
        Samples { n, d, values }
    }

    /// From f32 values.
    pub fn from_f32(n: usize, d: usize, values: &[f32]) -> Self {
        Samples::new(n, d, values.iter().map(|&v| v as f64).collect())
    }

    /// One-hot encoding of class labels (n × classes).
    pub fn one_hot(labels: &[usize], classes: usize) -> Self {
        let mut v = vec![0.0; labels.len() * classes];
        for (i, &l) in labels.iter().enumerate() {
            v[i * classes + l] = 1.0;
        }
        Samples::new(labels.len(), classes, v)
    }

    /// The samples at `rows`.
    pub fn rows(&self, rows: std::ops::Range<usize>) -> Samples {
        Samples::new(
            rows.len(),
            self.d,
            self.values[rows.start * self.d..rows.end * self.d].to_vec(),
        )
    }

    /// Checks that every value is finite; `what` names the input in the error.
    pub fn check_finite(&self, what: &str) -> Result<()> {
        match self.values.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(p) => Err(HsicError::NonFinite {
                what: what.to_string(),
                sample: p / self.d.max(1),
                feature: p % self.d.max(1),
                value: self.values[p],
            }),
        }
    }

    fn as_mat(&self) -> Mat<f64> {
        Mat::from_fn(self.n, self.d, |i, j| self.values[i * self.d + j])
    }
}

/// The kernel families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelKind {
    /// exp(−‖a−b‖² / (2σ²)).
    Rbf,
    /// exp(−‖a−b‖² / (2σ²d)).
    RbfDimscaled,
    /// exp(−‖a−b‖ / (2σ²d)) (non-squared distance; the authors' older code).
    RbfLegacy,
    /// exp(−‖a−b‖² / (2σ²m)), m = median squared distance.
    Median,
    /// ⟨a, b⟩.
    Linear,
}

impl KernelKind {
    /// Name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            KernelKind::Rbf => "rbf",
            KernelKind::RbfDimscaled => "rbf-dimscaled",
            KernelKind::RbfLegacy => "rbf-legacy",
            KernelKind::Median => "median",
            KernelKind::Linear => "linear",
        }
    }
}

impl FromStr for KernelKind {
    type Err = HsicError;
    fn from_str(s: &str) -> Result<Self> {
        [
            KernelKind::Rbf,
            KernelKind::RbfDimscaled,
            KernelKind::RbfLegacy,
            KernelKind::Median,
            KernelKind::Linear,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| HsicError::UnknownKernel {
            name: s.to_string(),
        })
    }
}

impl fmt::Display for KernelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kernel with its width.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Kernel {
    /// The family.
    pub kind: KernelKind,
    /// Width σ (ignored by `linear`; a multiplier of the median for `median`).
    pub sigma: f64,
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            KernelKind::Linear => f.write_str("linear"),
            k => write!(f, "{k}(sigma={})", self.sigma),
        }
    }
}

/// Median of all values (the mean of the two middle ones for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

impl Kernel {
    /// The default for inputs and representations: `rbf-dimscaled` with σ = 5.
    pub const fn default_x() -> Self {
        Kernel {
            kind: KernelKind::RbfDimscaled,
            sigma: 5.0,
        }
    }

    /// The default for one-hot labels: `linear`.
    pub const fn default_y() -> Self {
        Kernel {
            kind: KernelKind::Linear,
            sigma: 1.0,
        }
    }

    /// Checks σ.
    pub fn validate(&self) -> Result<()> {
        if self.kind != KernelKind::Linear && !(self.sigma > 0.0 && self.sigma.is_finite()) {
            return Err(HsicError::InvalidOption {
                option: "sigma",
                value: self.sigma,
                reason: "the kernel width must be positive and finite",
            });
        }
        Ok(())
    }

    /// The kernel value from a squared distance `d2` (RBF family), for dimension `d` and
    /// median `m` (only used by `median`).
    fn value_at_sqdist(&self, d2: f64, d: usize, m: f64) -> f64 {
        let s2 = 2.0 * self.sigma * self.sigma;
        match self.kind {
            KernelKind::Rbf => (-d2 / s2).exp(),
            KernelKind::RbfDimscaled => (-d2 / (s2 * d as f64)).exp(),
            KernelKind::RbfLegacy => (-d2.sqrt() / (s2 * d as f64)).exp(),
            KernelKind::Median => (-d2 / (s2 * m)).exp(),
            KernelKind::Linear => unreachable!("linear kernels are not distance based"),
        }
    }

    /// The n × n Gram matrix in f64.
    pub fn gram(&self, x: &Samples) -> Mat<f64> {
        let xm = x.as_mat();
        let g = &xm * xm.transpose();
        if self.kind == KernelKind::Linear {
            return g;
        }
        let n = x.n;
        let d2 = Mat::from_fn(n, n, |i, j| {
            if i == j {
                0.0
            } else {
                (g[(i, i)] + g[(j, j)] - 2.0 * g[(i, j)]).max(0.0)
            }
        });
        self.gram_from_sqdist(&d2, x.d)
    }

    /// The Gram matrix from a matrix of squared distances (RBF family only).
    pub fn gram_from_sqdist(&self, d2: &Mat<f64>, d: usize) -> Mat<f64> {
        let n = d2.nrows();
        let m = if self.kind == KernelKind::Median {
            let all: Vec<f64> = (0..n)
                .flat_map(|j| (0..n).map(move |i| (i, j)))
                .map(|(i, j)| d2[(i, j)])
                .collect();
            let m = median(all);
            if m > 0.0 { m } else { 1.0 } // all samples equal: any width gives the constant kernel
        } else {
            1.0
        };
        Mat::from_fn(n, n, |i, j| self.value_at_sqdist(d2[(i, j)], d, m))
    }

    /// The Gram matrix computed on `x`'s backend in f32 (`x`: n × d), returned in f64.
    ///
    /// Squared distances come from ‖a‖² + ‖b‖² − 2⟨a, b⟩ (one matmul); the kernel is applied
    /// on the backend too, except for `median`, whose median is taken on the host.
    pub fn gram_tensor(&self, x: Tensor<2>) -> Mat<f64> {
        match self.gram_tensor_values(x) {
            Ok((n, v)) => {
                let mut k = Mat::<f64>::zeros(n, n);
                // Column j from row j (sequential reads): the transpose, and K is symmetric.
                for j in 0..n {
                    for (dst, &src) in k.col_as_slice_mut(j).iter_mut().zip(&v[j * n..(j + 1) * n])
                    {
                        *dst = src as f64;
                    }
                }
                k
            }
            Err(k) => k,
        }
    }

    /// H K H of [`Kernel::gram_tensor`], centered in f64 while converting (one pass, no copy).
    pub fn centered_gram_tensor(&self, x: Tensor<2>) -> Mat<f64> {
        let (n, v) = match self.gram_tensor_values(x) {
            Ok(nv) => nv,
            Err(k) => return center(&k),
        };
        let inv = 1.0 / n as f64;
        let mut row = vec![0.0f64; n];
        let mut col = vec![0.0f64; n];
        for r in 0..n {
            let vr = &v[r * n..(r + 1) * n];
            row[r] = vr.iter().map(|&x| x as f64).sum::<f64>() * inv;
            for (c, &x) in col.iter_mut().zip(vr) {
                *c += x as f64 * inv;
            }
        }
        let all = row.iter().sum::<f64>() * inv;
        // out[i, j] = K[j, i]: row means of `out` are column means of K and vice versa.
        let mut out = Mat::<f64>::zeros(n, n);
        for j in 0..n {
            let base = all - row[j];
            for ((dst, &src), ci) in out
                .col_as_slice_mut(j)
                .iter_mut()
                .zip(&v[j * n..(j + 1) * n])
                .zip(&col)
            {
                *dst = src as f64 + base - ci;
            }
        }
        out
    }

    /// The kernel values on the backend, downloaded as row-major f32 (`Ok`), or — for the
    /// median kernel, finished on the host — the f64 Gram matrix (`Err`).
    fn gram_tensor_values(&self, x: Tensor<2>) -> std::result::Result<(usize, Vec<f32>), Mat<f64>> {
        let [n, d] = x.dims();
        let g = x.clone().matmul(x.clone().transpose());
        let k = if self.kind == KernelKind::Linear {
            g
        } else {
            let sq = x.powi_scalar(2).sum_dim(1); // [n, 1]
            let d2 = (sq.clone() + sq.transpose() - g.mul_scalar(2.0)).clamp_min(0.0);
            let s2 = 2.0 * self.sigma * self.sigma;
            match self.kind {
                KernelKind::Rbf => d2.mul_scalar(-1.0 / s2).exp(),
                KernelKind::RbfDimscaled => d2.mul_scalar(-1.0 / (s2 * d as f64)).exp(),
                KernelKind::RbfLegacy => d2.sqrt().mul_scalar(-1.0 / (s2 * d as f64)).exp(),
                _ => {
                    let mut d2 = to_mat(d2, n);
                    for i in 0..n {
                        d2[(i, i)] = 0.0;
                    }
                    return Err(self.gram_from_sqdist(&d2, d));
                }
            }
        };
        let mut v: Vec<f32> = k
            .try_into_vec_as::<f32>()
            .expect("a float tensor converts to f32");
        if self.kind != KernelKind::Linear {
            // The diagonal is exactly k(a, a) = 1; the matmul form leaves rounding there.
            for i in 0..n {
                v[i * n + i] = 1.0;
            }
        }
        Ok((n, v))
    }
}

/// Downloads an n × n tensor into an f64 matrix.
pub fn to_mat(t: Tensor<2>, n: usize) -> Mat<f64> {
    let v: Vec<f32> = t
        .try_into_vec_as::<f32>()
        .expect("a float tensor converts to f32");
    // Row-major data into a column-major matrix: fill column j from row j (sequential reads),
    // which is the transpose; Gram matrices are symmetric.
    let mut m = Mat::<f64>::zeros(n, n);
    for j in 0..n {
        for (dst, &src) in m.col_as_slice_mut(j).iter_mut().zip(&v[j * n..(j + 1) * n]) {
            *dst = src as f64;
        }
    }
    m
}

/// Centers a Gram matrix on both sides: H K H with H = I − 11ᵀ/n.
pub fn center(k: &Mat<f64>) -> Mat<f64> {
    let n = k.nrows();
    let mut row = vec![0.0; n];
    let mut col = vec![0.0; n];
    for (j, cj) in col.iter_mut().enumerate() {
        let c = k.col_as_slice(j);
        *cj = c.iter().sum::<f64>() / n as f64;
        for (r, v) in row.iter_mut().zip(c) {
            *r += v / n as f64;
        }
    }
    let all = row.iter().sum::<f64>() / n as f64;
    let mut out = k.clone();
    for (j, cj) in col.iter().enumerate() {
        for (v, ri) in out.col_as_slice_mut(j).iter_mut().zip(&row) {
            *v += all - ri - cj;
        }
    }
    out
}

/// Centers on the right only: K H (the authors' code writes it this way).
pub fn center_right(k: &Mat<f64>) -> Mat<f64> {
    let n = k.nrows();
    let row: Vec<f64> = (0..n)
        .map(|i| (0..n).map(|j| k[(i, j)]).sum::<f64>() / n as f64)
        .collect();
    Mat::from_fn(n, n, |i, j| k[(i, j)] - row[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_values_by_hand() {
        // Two points at distance 2 in d = 2: ‖a−b‖² = 4.
        let x = Samples::new(2, 2, vec![0.0, 0.0, 2.0, 0.0]);
        let k = |kind, sigma| Kernel { kind, sigma }.gram(&x)[(0, 1)];
        assert!((k(KernelKind::Rbf, 1.0) - (-2.0f64).exp()).abs() < 1e-15);
        assert!((k(KernelKind::RbfDimscaled, 1.0) - (-1.0f64).exp()).abs() < 1e-15);
        assert!((k(KernelKind::RbfLegacy, 1.0) - (-0.5f64).exp()).abs() < 1e-15);
        // Squared distances {0, 4, 4, 0}: median 2.
        assert!((k(KernelKind::Median, 1.0) - (-1.0f64).exp()).abs() < 1e-15);
        assert_eq!(k(KernelKind::Linear, 1.0), 0.0);
    }

    #[test]
    fn centering_zeroes_rows_and_columns() {
        let x = Samples::new(5, 3, (0..15).map(|i| ((i * 7) % 5) as f64).collect());
        let kc = center(&Kernel::default_x().gram(&x));
        for i in 0..5 {
            let r: f64 = (0..5).map(|j| kc[(i, j)]).sum();
            let c: f64 = (0..5).map(|j| kc[(j, i)]).sum();
            assert!(r.abs() < 1e-12 && c.abs() < 1e-12);
        }
    }

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for k in ["rbf", "rbf-dimscaled", "rbf-legacy", "median", "linear"] {
            assert_eq!(k.parse::<KernelKind>().unwrap().as_str(), k);
        }
        assert!(matches!(
            "gauss".parse::<KernelKind>(),
            Err(HsicError::UnknownKernel { .. })
        ));
        assert!(
            Kernel {
                kind: KernelKind::Rbf,
                sigma: 0.0
            }
            .validate()
            .is_err()
        );
    }
}
