//! Batch normalization over the channels of `[n, c, s]` values (s = the positions of one
//! channel in one sample: h·w for a feature map, 1 for a vector), each pass one sweep over the
//! data: the statistics, the normalization, and both backward passes.
//!
//! burn's default batch norm (what burn-flex runs) builds each of these out of tensor
//! operations — a transposed copy of the input for the statistics, then a subtraction, a
//! division, a multiplication and an addition over the whole activation, each into a new
//! tensor — and its backward pass does the same again. Here:
//! - statistics: per channel, the mean and the biased variance (burn's and PyTorch's training
//!   statistics), summed in f64 in a fixed order (the same numbers on every run and every
//!   thread count);
//! - normalization: y = x·a + b per channel, a = γ/√(var + ε), b = β − mean·a;
//! - backward with batch statistics: dβ = Σ dy, dγ = Σ dy·x̂, dx = a·(dy − dβ/N − x̂·dγ/N), with
//!   x̂ = (x − mean)/√(var + ε) and N = n·s;
//! - backward with fixed statistics (evaluation mode): dx = a·dy, and dγ, dβ as above.
//!
//! Channel sums run in parallel over channels, elementwise passes over (sample, channel)
//! planes.

use rayon::prelude::*;

/// Shape of one batch normalization: `[n, c, s]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BnGeometry {
    /// Samples.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Values per channel per sample.
    pub s: usize,
}

impl BnGeometry {
    /// Values per channel over the batch: N = n·s.
    pub fn count(&self) -> usize {
        self.n * self.s
    }

    /// The values of channel `ch` of sample `i`.
    fn plane<'a>(&self, v: &'a [f32], i: usize, ch: usize) -> &'a [f32] {
        let at = (i * self.c + ch) * self.s;
        &v[at..at + self.s]
    }
}

/// Sums `f(v)` over a slice in f64 with four partial sums.
fn sum_f64(v: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut acc = [0f64; 4];
    let mut pieces = v.chunks_exact(4);
    for p in &mut pieces {
        for (a, &x) in acc.iter_mut().zip(p) {
            *a += f(x);
        }
    }
    acc.iter().sum::<f64>() + pieces.remainder().iter().map(|&x| f(x)).sum::<f64>()
}

/// Per channel: (mean, biased variance) of `x`, two passes in f64.
#[inline(never)]
pub fn stats(g: &BnGeometry, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let count = g.count().max(1) as f64;
    let per: Vec<(f32, f32)> = (0..g.c)
        .into_par_iter()
        .map(|ch| {
            crate::isa::clear_upper_state();
            let mean = (0..g.n)
                .map(|i| sum_f64(g.plane(x, i, ch), f64::from))
                .sum::<f64>()
                / count;
            let var = (0..g.n)
                .map(|i| {
                    sum_f64(g.plane(x, i, ch), |v| {
                        let d = f64::from(v) - mean;
                        d * d
                    })
                })
                .sum::<f64>()
                / count;
            (mean as f32, var as f32)
        })
        .collect();
    per.into_iter().unzip()
}

/// Per channel: the scale a = γ/√(var + ε) and the shift b = β − mean·a.
fn affine(gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], eps: f64) -> Vec<(f32, f32)> {
    gamma
        .iter()
        .zip(beta)
        .zip(mean.iter().zip(var))
        .map(|((&gm, &bt), (&m, &v))| {
            let a = (f64::from(gm) / (f64::from(v) + eps).sqrt()) as f32;
            (a, bt - m * a)
        })
        .collect()
}

/// Planes (sample, channel) per rayon task.
fn chunk(planes: usize) -> usize {
    planes
        .div_ceil(rayon::current_num_threads().max(1) * 4)
        .max(1)
}

/// y = x·a + b per channel, with the statistics given (the batch's or the running ones).
#[inline(never)]
pub fn normalize(
    g: &BnGeometry,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
) -> Vec<f32> {
    let ab = affine(gamma, beta, mean, var, eps);
    let mut y = vec![0f32; x.len()];
    let planes = g.n * g.c;
    let step = chunk(planes);
    let s = g.s.max(1);
    y.par_chunks_mut(s * step)
        .zip(x.par_chunks(s * step))
        .enumerate()
        .for_each(|(t, (ys, xs))| {
            crate::isa::clear_upper_state();
            for (p, (yp, xp)) in ys.chunks_mut(s).zip(xs.chunks(s)).enumerate() {
                let (a, b) = ab[(t * step + p) % g.c];
                for (o, &v) in yp.iter_mut().zip(xp) {
                    *o = v * a + b;
                }
            }
        });
    y
}

/// Per channel: (Σ dy, Σ dy·(x − mean)) in f64.
fn grad_sums(g: &BnGeometry, x: &[f32], dy: &[f32], mean: &[f32]) -> Vec<(f64, f64)> {
    (0..g.c)
        .into_par_iter()
        .map(|ch| {
            crate::isa::clear_upper_state();
            let m = f64::from(mean[ch]);
            let (mut sd, mut sdx) = (0f64, 0f64);
            for i in 0..g.n {
                let (xp, dp) = (g.plane(x, i, ch), g.plane(dy, i, ch));
                let mut acc = [0f64; 4];
                let mut accx = [0f64; 4];
                let mut pieces = xp.chunks_exact(4).zip(dp.chunks_exact(4));
                for (xs, ds) in &mut pieces {
                    for j in 0..4 {
                        let d = f64::from(ds[j]);
                        acc[j] += d;
                        accx[j] += d * (f64::from(xs[j]) - m);
                    }
                }
                let done = xp.len() / 4 * 4;
                for (&xv, &dv) in xp[done..].iter().zip(&dp[done..]) {
                    sd += f64::from(dv);
                    sdx += f64::from(dv) * (f64::from(xv) - m);
                }
                sd += acc.iter().sum::<f64>();
                sdx += accx.iter().sum::<f64>();
            }
            (sd, sdx)
        })
        .collect()
}

/// (dx, dγ, dβ) of a batch norm.
pub type BnGradients = (Vec<f32>, Vec<f32>, Vec<f32>);

/// The gradients of [`normalize`] from the output gradient `dy`: with `batch_stats` the mean and
/// variance are the batch's own (training mode, differentiated through them); without, they
/// are constants (evaluation mode).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn backward(
    g: &BnGeometry,
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
    dy: &[f32],
    batch_stats: bool,
) -> BnGradients {
    let sums = grad_sums(g, x, dy, mean);
    let count = g.count().max(1) as f64;
    // Per channel: a = γ·inv_std, and dx = a·dy + p·(x − mean) + q.
    let mut dgamma = Vec::with_capacity(g.c);
    let mut dbeta = Vec::with_capacity(g.c);
    let coef: Vec<(f32, f32, f32, f32)> = (0..g.c)
        .map(|ch| {
            let inv_std = 1.0 / (f64::from(var[ch]) + eps).sqrt();
            let (sd, sdx) = sums[ch];
            dbeta.push(sd as f32);
            dgamma.push((sdx * inv_std) as f32);
            let a = f64::from(gamma[ch]) * inv_std;
            if batch_stats {
                // a·(dy − sd/N − (x − mean)·inv_std²·sdx/N)
                let p = -a * inv_std * inv_std * sdx / count;
                let q = -a * sd / count;
                (a as f32, p as f32, q as f32, mean[ch])
            } else {
                (a as f32, 0.0, 0.0, mean[ch])
            }
        })
        .collect();
    let mut dx = vec![0f32; x.len()];
    let planes = g.n * g.c;
    let step = chunk(planes);
    let s = g.s.max(1);
    dx.par_chunks_mut(s * step)
        .zip(x.par_chunks(s * step).zip(dy.par_chunks(s * step)))
        .enumerate()
        .for_each(|(t, (dxs, (xs, dys)))| {
            crate::isa::clear_upper_state();
            for (p, (dxp, (xp, dp))) in dxs
                .chunks_mut(s)
                .zip(xs.chunks(s).zip(dys.chunks(s)))
                .enumerate()
            {
                let (a, pc, q, m) = coef[(t * step + p) % g.c];
                for ((o, &xv), &dv) in dxp.iter_mut().zip(xp).zip(dp) {
                    *o = a * dv + pc * (xv - m) + q;
                }
            }
        });
    (dx, dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values in [−1, 3): a mean away from zero.
    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        crate::test_data::pseudo(n, seed)
            .into_iter()
            .map(|v| v * 4.0 + 1.0)
            .collect()
    }

    /// The loss L = Σ w·y of a training-mode batch norm, in f64 from its definition.
    fn loss(g: &BnGeometry, x: &[f64], gamma: &[f64], beta: &[f64], w: &[f32], eps: f64) -> f64 {
        let n = g.count() as f64;
        let mut total = 0.0;
        for ch in 0..g.c {
            let idx = |i: usize, j: usize| (i * g.c + ch) * g.s + j;
            let all = || (0..g.n).flat_map(move |i| (0..g.s).map(move |j| idx(i, j)));
            let mean = all().map(|k| x[k]).sum::<f64>() / n;
            let var = all().map(|k| (x[k] - mean).powi(2)).sum::<f64>() / n;
            for k in all() {
                let y = (x[k] - mean) / (var + eps).sqrt() * gamma[ch] + beta[ch];
                total += f64::from(w[k]) * y;
            }
        }
        total
    }

    #[test]
    fn statistics_and_output_match_the_definition() {
        let g = BnGeometry { n: 3, c: 2, s: 5 };
        let x = pseudo(30, 1);
        let (mean, var) = stats(&g, &x);
        for ch in 0..2 {
            let vals: Vec<f64> = (0..3)
                .flat_map(|i| g.plane(&x, i, ch).iter().map(|&v| f64::from(v)))
                .collect();
            let m = vals.iter().sum::<f64>() / 15.0;
            let v = vals.iter().map(|a| (a - m).powi(2)).sum::<f64>() / 15.0;
            assert!((f64::from(mean[ch]) - m).abs() < 1e-6);
            assert!((f64::from(var[ch]) - v).abs() < 1e-6);
        }
        let (gamma, beta) = ([1.5f32, -0.5], [0.25f32, 2.0]);
        let y = normalize(&g, &x, &gamma, &beta, &mean, &var, 1e-5);
        // Normalized per channel: mean β, standard deviation |γ| (up to ε).
        let (ym, yv) = stats(&g, &y);
        for ch in 0..2 {
            assert!((ym[ch] - beta[ch]).abs() < 1e-5);
            assert!((yv[ch].sqrt() - gamma[ch].abs()).abs() < 1e-3);
        }
    }

    #[test]
    fn gradients_match_central_finite_differences() {
        // Training mode: the gradient goes through the batch statistics too.
        let eps = 1e-5;
        for g in [
            BnGeometry { n: 4, c: 3, s: 6 },
            BnGeometry { n: 5, c: 2, s: 1 },
        ] {
            let x = pseudo(g.n * g.c * g.s, 2);
            let gamma = pseudo(g.c, 3);
            let beta = pseudo(g.c, 4);
            let w = pseudo(x.len(), 5);
            let (mean, var) = stats(&g, &x);
            let (dx, dgamma, dbeta) = backward(&g, &x, &gamma, &mean, &var, eps, &w, true);
            let f64s = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<_>>();
            let (x64, g64, b64) = (f64s(&x), f64s(&gamma), f64s(&beta));
            let h = 1e-5;
            let fd = |which: usize, k: usize| {
                let (mut xp, mut gp, mut bp) = (x64.clone(), g64.clone(), b64.clone());
                let (mut xm, mut gm, mut bm) = (x64.clone(), g64.clone(), b64.clone());
                match which {
                    0 => (xp[k], xm[k]) = (xp[k] + h, xm[k] - h),
                    1 => (gp[k], gm[k]) = (gp[k] + h, gm[k] - h),
                    _ => (bp[k], bm[k]) = (bp[k] + h, bm[k] - h),
                }
                (loss(&g, &xp, &gp, &bp, &w, eps) - loss(&g, &xm, &gm, &bm, &w, eps)) / (2.0 * h)
            };
            for (which, got) in [(0, &dx), (1, &dgamma), (2, &dbeta)] {
                for (k, &v) in got.iter().enumerate() {
                    let want = fd(which, k);
                    assert!(
                        (f64::from(v) - want).abs() < 2e-3 * want.abs().max(1.0),
                        "{g:?} input {which} index {k}: {v} vs {want}"
                    );
                }
            }
            // The input gradient of a batch-statistics norm sums to zero per channel.
            for ch in 0..g.c {
                let s: f64 = (0..g.n)
                    .flat_map(|i| g.plane(&dx, i, ch).iter().map(|&v| f64::from(v)))
                    .sum();
                assert!(s.abs() < 1e-4, "{s}");
            }
        }
    }

    #[test]
    fn fixed_statistics_scale_the_gradient() {
        let g = BnGeometry { n: 2, c: 2, s: 3 };
        let x = pseudo(12, 6);
        let dy = pseudo(12, 7);
        let (gamma, mean, var) = ([2.0f32, 0.5], [0.1f32, -0.2], [3.0f32, 0.25]);
        let (dx, dgamma, dbeta) = backward(&g, &x, &gamma, &mean, &var, 0.0, &dy, false);
        for i in 0..2 {
            for ch in 0..2 {
                let a = gamma[ch] / var[ch].sqrt();
                for (d, v) in g.plane(&dx, i, ch).iter().zip(g.plane(&dy, i, ch)) {
                    assert!((d - a * v).abs() < 1e-6);
                }
            }
        }
        for ch in 0..2 {
            let (mut sb, mut sg) = (0f32, 0f32);
            for i in 0..2 {
                for (xv, dv) in g.plane(&x, i, ch).iter().zip(g.plane(&dy, i, ch)) {
                    sb += dv;
                    sg += dv * (xv - mean[ch]) / var[ch].sqrt();
                }
            }
            assert!((dbeta[ch] - sb).abs() < 1e-5 && (dgamma[ch] - sg).abs() < 1e-5);
        }
    }
}
