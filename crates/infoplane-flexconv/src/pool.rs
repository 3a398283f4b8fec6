//! Max and average pooling without padding or dilation, parallel over (image, channel) planes.
//! Max pooling's forward pass keeps, for every output, the position of its maximum inside the
//! input plane (`u32`), and its backward pass adds each output gradient at that position.
//! Average pooling divides by the window's size (no padding, so PyTorch's and burn's
//! `count_include_pad` makes no difference); its backward pass writes every input gradient
//! once, as the sum over the windows that cover it, rather than adding into zeroed memory.
//!
//! As in PyTorch, a NaN in a window wins, and among equal values the first one in row-major
//! window order wins (among several NaNs too, where PyTorch keeps the last); +0 counts as
//! above -0 (PyTorch takes them as equal).

use rayon::prelude::*;

/// Shape of one max pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Batch × channels.
    pub planes: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Window (height, width).
    pub kernel: [usize; 2],
    /// Stride (height, width).
    pub stride: [usize; 2],
}

impl PoolGeometry {
    /// Output height (floor mode).
    pub fn hout(&self) -> usize {
        (self.h - self.kernel[0]) / self.stride[0] + 1
    }

    /// Output width (floor mode).
    pub fn wout(&self) -> usize {
        (self.w - self.kernel[1]) / self.stride[1] + 1
    }
}

/// Planes per rayon task.
fn chunk(planes: usize) -> usize {
    planes
        .div_ceil(rayon::current_num_threads().max(1) * 4)
        .max(1)
}

/// The pooled values `[planes, hout, wout]` and the position of each maximum in its input
/// plane. The caller checks that the window fits the input and that a plane has fewer than
/// 2³² values.
#[inline(never)]
pub fn forward(g: &PoolGeometry, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let (ho, wo) = (g.hout(), g.wout());
    let (plane_in, plane_out) = (g.h * g.w, ho * wo);
    let mut y = vec![0f32; g.planes * plane_out];
    let mut idx = vec![0u32; g.planes * plane_out];
    let step = chunk(g.planes);
    let sh = g.stride[0];
    y.par_chunks_mut(plane_out * step)
        .zip(idx.par_chunks_mut(plane_out * step))
        .zip(x.par_chunks(plane_in * step))
        .for_each(|((ys, is), xs)| {
            crate::isa::clear_upper_state();
            let mut best = vec![i64::MIN; wo];
            for ((yp, ip), xp) in ys
                .chunks_mut(plane_out)
                .zip(is.chunks_mut(plane_out))
                .zip(xs.chunks(plane_in))
            {
                for oy in 0..ho {
                    let top = oy * sh * g.w;
                    let rows = oy * wo..(oy + 1) * wo;
                    pool_row(g, xp, top, &mut yp[rows.clone()], &mut ip[rows], &mut best);
                }
            }
        });
    (y, idx)
}

/// A float and its position packed in one integer whose order is: the larger value first,
/// then the smaller position; any NaN is above every number. The maximum of packed values is
/// then one integer `max` per window element, with no data-dependent branch (on real data a
/// comparison branch is mispredicted half of the time, and LLVM turns float selects back into
/// branches).
#[inline(always)]
fn pack(v: f32, pos: u32) -> i64 {
    let b = v.to_bits() as i32;
    // Order-preserving integer image of a float: negative floats reversed.
    let key = if v.is_nan() {
        i32::MAX
    } else {
        b ^ (((b >> 31) as u32) >> 1) as i32
    };
    ((key as i64) << 32) | i64::from(u32::MAX - pos)
}

/// The position of a packed value.
#[inline(always)]
fn position(p: i64) -> u32 {
    u32::MAX - (p as u32)
}

/// The order key of a float (as [`pack`]'s upper half): larger floats have larger keys, every
/// NaN the largest.
#[inline(always)]
fn key(v: f32) -> i32 {
    let b = v.to_bits() as i32;
    if v.is_nan() {
        i32::MAX
    } else {
        b ^ (((b >> 31) as u32) >> 1) as i32
    }
}

/// One output row of a 2×2 window with stride 2: `r0`, `r1` the window's two input rows,
/// starting at `top` in the plane of width `w`. The same order as [`pack`] (larger key, then
/// smaller position) by comparisons of 32-bit keys in a fixed tree — strictly greater wins,
/// and the four candidates come in position order — with selections by bit masks, so that
/// the compiler makes vector code of it and no data-dependent branch.
#[inline(always)]
fn pool_2x2(r0: &[f32], r1: &[f32], top: u32, w: u32, yr: &mut [f32], ir: &mut [u32]) {
    for (ox, ((yv, iv), (a, b))) in yr
        .iter_mut()
        .zip(ir.iter_mut())
        .zip(r0.chunks_exact(2).zip(r1.chunks_exact(2)))
        .enumerate()
    {
        let p = top + 2 * ox as u32;
        let (k0, k1, k2, k3) = (key(a[0]), key(a[1]), key(b[0]), key(b[1]));
        // Selections by masks, not `if`: the compiler turns `if` selections back into
        // branches in some builds, and on real data they are mispredicted half of the time.
        let pick = |m: bool, x: u32, y: u32| {
            let m = (m as u32).wrapping_neg();
            (x & m) | (y & !m)
        };
        let ga = k1 > k0;
        let (ka, va, ia) = (
            pick(ga, k1 as u32, k0 as u32) as i32,
            pick(ga, a[1].to_bits(), a[0].to_bits()),
            p + ga as u32,
        );
        let gb = k3 > k2;
        let (kb, vb, ib) = (
            pick(gb, k3 as u32, k2 as u32) as i32,
            pick(gb, b[1].to_bits(), b[0].to_bits()),
            p + w + gb as u32,
        );
        let g = kb > ka;
        let (v, i) = (f32::from_bits(pick(g, vb, va)), pick(g, ib, ia));
        *yv = v;
        *iv = i;
    }
}

/// [`pool_2x2`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2")]
fn pool_2x2_avx512(r0: &[f32], r1: &[f32], top: u32, w: u32, yr: &mut [f32], ir: &mut [u32]) {
    pool_2x2(r0, r1, top, w, yr, ir)
}

/// [`pool_2x2`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn pool_2x2_avx2(r0: &[f32], r1: &[f32], top: u32, w: u32, yr: &mut [f32], ir: &mut [u32]) {
    pool_2x2(r0, r1, top, w, yr, ir)
}

/// One output row: `yr` the maxima, `ir` their positions in the plane `xp`; one sweep of the
/// row per window position, so that the outputs of the row are independent.
fn pool_row(
    g: &PoolGeometry,
    xp: &[f32],
    top: usize,
    yr: &mut [f32],
    ir: &mut [u32],
    best: &mut [i64],
) {
    let wo = yr.len();
    let [kh, kw] = g.kernel;
    let sw = g.stride[1];
    if g.kernel == [2, 2] && g.stride == [2, 2] {
        // The common 2×2 window with stride 2: both input rows read in pairs, no sweeps.
        let (r0, r1) = (&xp[top..top + 2 * wo], &xp[top + g.w..top + g.w + 2 * wo]);
        let (top, w) = (top as u32, g.w as u32);
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            // INFOPLANE_ISA=avx2 caps it as it does the products (crate::isa).
            if has!("avx512f") && !crate::isa::avx2_cap() {
                #[allow(unsafe_code)]
                // SAFETY: the CPU has AVX-512F (checked just above).
                unsafe {
                    pool_2x2_avx512(r0, r1, top, w, yr, ir)
                };
                return;
            }
            if has!("avx2") {
                #[allow(unsafe_code)]
                // SAFETY: the CPU has AVX2 (checked just above).
                unsafe {
                    pool_2x2_avx2(r0, r1, top, w, yr, ir)
                };
                return;
            }
        }
        pool_2x2(r0, r1, top, w, yr, ir);
        return;
    }
    best.fill(i64::MIN);
    for ki in 0..kh {
        for kj in 0..kw {
            let start = top + ki * g.w + kj;
            let values = xp[start..start + (wo - 1) * sw + 1].iter().step_by(sw);
            for (ox, (b, &v)) in best.iter_mut().zip(values).enumerate() {
                *b = (*b).max(pack(v, (start + ox * sw) as u32));
            }
        }
    }
    for ((yv, iv), &b) in yr.iter_mut().zip(ir.iter_mut()).zip(best.iter()) {
        *iv = position(b);
        // The value itself, not decoded from the key: NaNs keep their bits.
        *yv = xp[*iv as usize];
    }
}

/// The input gradient `[planes, h, w]` from the output gradient `dy` and the positions of the
/// maxima.
#[inline(never)]
pub fn backward(g: &PoolGeometry, idx: &[u32], dy: &[f32]) -> Vec<f32> {
    let plane_in = g.h * g.w;
    let plane_out = g.hout() * g.wout();
    let mut dx = vec![0f32; g.planes * plane_in];
    let step = chunk(g.planes);
    dx.par_chunks_mut(plane_in * step)
        .zip(idx.par_chunks(plane_out * step))
        .zip(dy.par_chunks(plane_out * step))
        .for_each(|((dxs, is), dys)| {
            crate::isa::clear_upper_state();
            // Written before the scatter adds into it: `dx` is fresh memory (32 MiB or more is
            // a new mapping each time), and read first it would map the shared zero page, then
            // copy it on the first write, with a TLB flush on every core.
            dxs.fill(0.0);
            for ((dxp, ip), dyp) in dxs
                .chunks_mut(plane_in)
                .zip(is.chunks(plane_out))
                .zip(dys.chunks(plane_out))
            {
                for (&i, &d) in ip.iter().zip(dyp) {
                    dxp[i as usize] += d;
                }
            }
        });
    dx
}

/// The values of `t` (`[planes, h, w]`) at the positions `idx` of [`forward`]'s maxima:
/// max pooling's tangent in forward mode.
#[inline(never)]
pub fn gather(g: &PoolGeometry, idx: &[u32], t: &[f32]) -> Vec<f32> {
    let plane_in = g.h * g.w;
    let plane_out = g.hout() * g.wout();
    let mut out = vec![0f32; g.planes * plane_out];
    let step = chunk(g.planes);
    out.par_chunks_mut(plane_out * step)
        .zip(idx.par_chunks(plane_out * step))
        .zip(t.par_chunks(plane_in * step))
        .for_each(|((os, is), ts)| {
            crate::isa::clear_upper_state();
            for ((op, ip), tp) in os
                .chunks_mut(plane_out)
                .zip(is.chunks(plane_out))
                .zip(ts.chunks(plane_in))
            {
                for (o, &i) in op.iter_mut().zip(ip) {
                    *o = tp[i as usize];
                }
            }
        });
    out
}

/// Average pooling: the window means `[planes, hout, wout]` (floor mode).
#[inline(never)]
pub fn avg_forward(g: &PoolGeometry, x: &[f32]) -> Vec<f32> {
    let (ho, wo) = (g.hout(), g.wout());
    let (plane_in, plane_out) = (g.h * g.w, ho * wo);
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let scale = 1.0 / (kh * kw) as f32;
    let mut y = vec![0f32; g.planes * plane_out];
    let step = chunk(g.planes);
    y.par_chunks_mut(plane_out * step)
        .zip(x.par_chunks(plane_in * step))
        .for_each(|(ys, xs)| {
            crate::isa::clear_upper_state();
            for (yp, xp) in ys.chunks_mut(plane_out).zip(xs.chunks(plane_in)) {
                for (oy, yr) in yp.chunks_mut(wo).enumerate() {
                    // Row sums of the window's rows, then the window sums along the row.
                    for ki in 0..kh {
                        let row = &xp[(oy * sh + ki) * g.w..(oy * sh + ki + 1) * g.w];
                        for (ox, v) in yr.iter_mut().enumerate() {
                            *v += row[ox * sw..ox * sw + kw].iter().sum::<f32>();
                        }
                    }
                    for v in yr.iter_mut() {
                        *v *= scale;
                    }
                }
            }
        });
    y
}

/// The outputs along one axis whose window covers input position `i`: `[first, last)`.
fn covering(i: usize, k: usize, s: usize, out: usize) -> (usize, usize) {
    // o·s ≤ i < o·s + k  ⇔  (i + 1 − k)/s ≤ o ≤ i/s
    let first = (i + 1).saturating_sub(k).div_ceil(s);
    let last = (i / s + 1).min(out);
    (first.min(last), last)
}

/// Average pooling's input gradient `[planes, h, w]` from the output gradient `dy`.
#[inline(never)]
pub fn avg_backward(g: &PoolGeometry, dy: &[f32]) -> Vec<f32> {
    let (ho, wo) = (g.hout(), g.wout());
    let (plane_in, plane_out) = (g.h * g.w, ho * wo);
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let scale = 1.0 / (kh * kw) as f32;
    let cols: Vec<(usize, usize)> = (0..g.w).map(|ix| covering(ix, kw, sw, wo)).collect();
    let mut dx = vec![0f32; g.planes * plane_in];
    let step = chunk(g.planes);
    dx.par_chunks_mut(plane_in * step)
        .zip(dy.par_chunks(plane_out * step))
        .for_each(|(dxs, dys)| {
            crate::isa::clear_upper_state();
            for (dxp, dyp) in dxs.chunks_mut(plane_in).zip(dys.chunks(plane_out)) {
                for (iy, dxr) in dxp.chunks_mut(g.w).enumerate() {
                    if g.kernel == g.stride {
                        // Windows side by side: one output gradient per input, or none.
                        dxr.fill(0.0);
                        if iy / sh < ho {
                            let dyr = &dyp[iy / sh * wo..(iy / sh + 1) * wo];
                            for (win, &d) in dxr.chunks_exact_mut(kw).zip(dyr) {
                                win.fill(d * scale);
                            }
                        }
                        continue;
                    }
                    let (r0, r1) = covering(iy, kh, sh, ho);
                    for (v, &(c0, c1)) in dxr.iter_mut().zip(&cols) {
                        let mut sum = 0f32;
                        for oy in r0..r1 {
                            sum += dyp[oy * wo + c0..oy * wo + c1].iter().sum::<f32>();
                        }
                        *v = sum * scale;
                    }
                }
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worked_example() {
        // One 4×5 plane, 2×2 windows, stride 2: 2×2 outputs (the last column is left out).
        #[rustfmt::skip]
        let x = [
            1.0, 5.0, 2.0, 0.0, 9.0,
            3.0, 4.0, 8.0, 8.0, 9.0,
            0.0, 0.0, 7.0, 6.0, 9.0,
            0.0, 0.5, 6.0, 7.0, 9.0,
        ];
        let g = PoolGeometry {
            planes: 1,
            h: 4,
            w: 5,
            kernel: [2, 2],
            stride: [2, 2],
        };
        let (y, idx) = forward(&g, &x);
        assert_eq!(y, vec![5.0, 8.0, 0.5, 7.0]);
        // Ties (8, 8 and 7, 7) go to the first in row-major window order.
        assert_eq!(idx, vec![1, 7, 16, 12]);
        let dx = backward(&g, &idx, &[1.0, 2.0, 3.0, 4.0]);
        let mut want = vec![0.0; 20];
        (want[1], want[7], want[16], want[12]) = (1.0, 2.0, 3.0, 4.0);
        assert_eq!(dx, want);
    }

    /// The 2×2, stride-2 path (vector code where the CPU has it) picks what the packed order
    /// picks — the larger value, then the first position; NaN above all, +0 above −0 — on rows
    /// long enough for vector code, with ties, NaNs, zeros of both signs and infinities.
    #[test]
    fn the_two_by_two_path_follows_the_packed_order() {
        let set = [
            -1.0,
            0.0,
            -0.0,
            1.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            2.0,
        ];
        let (h, w) = (6, 71);
        let mut s = 12345u32;
        let x: Vec<f32> = (0..3 * h * w)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                set[(s % 8) as usize]
            })
            .collect();
        let g = PoolGeometry {
            planes: 3,
            h,
            w,
            kernel: [2, 2],
            stride: [2, 2],
        };
        let (y, idx) = forward(&g, &x);
        let (ho, wo) = (h / 2, w / 2);
        for p in 0..3 {
            let plane = &x[p * h * w..(p + 1) * h * w];
            for oy in 0..ho {
                for ox in 0..wo {
                    let at = |i: usize, j: usize| (2 * oy + i) * w + 2 * ox + j;
                    let best = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)]
                        .into_iter()
                        .map(|q| pack(plane[q], q as u32))
                        .max()
                        .unwrap();
                    let o = (p * ho + oy) * wo + ox;
                    assert_eq!(idx[o], position(best), "plane {p} ({oy}, {ox})");
                    assert_eq!(y[o].to_bits(), plane[idx[o] as usize].to_bits());
                }
                // Every variant of the row kernel this CPU runs, whichever `forward` took.
                let top = 2 * oy * w;
                let (r0, r1) = (&plane[top..top + 2 * wo], &plane[top + w..top + w + 2 * wo]);
                let want = &idx[(p * ho + oy) * wo..(p * ho + oy + 1) * wo];
                let run = |f: &dyn Fn(&mut [f32], &mut [u32])| {
                    let (mut yr, mut ir) = (vec![0f32; wo], vec![0u32; wo]);
                    f(&mut yr, &mut ir);
                    assert_eq!(ir, want, "plane {p} row {oy}");
                    for (v, &i) in yr.iter().zip(&ir) {
                        assert_eq!(v.to_bits(), plane[i as usize].to_bits());
                    }
                };
                run(&|yr, ir| pool_2x2(r0, r1, top as u32, w as u32, yr, ir));
                #[cfg(target_arch = "x86_64")]
                {
                    use std::arch::is_x86_feature_detected as has;
                    #[allow(unsafe_code)]
                    // SAFETY: each variant runs only where the CPU has its features.
                    unsafe {
                        if has!("avx2") {
                            run(&|yr, ir| pool_2x2_avx2(r0, r1, top as u32, w as u32, yr, ir));
                        }
                        if has!("avx512f") {
                            run(&|yr, ir| pool_2x2_avx512(r0, r1, top as u32, w as u32, yr, ir));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn negative_and_infinite_values_order_as_numbers() {
        // 1×8 plane, 1×2 windows: negatives, ties, infinities, and -0 against +0.
        let x = [
            -3.0,
            -1.0,
            -2.0,
            -2.0,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
            -1e-30,
            f32::INFINITY,
        ];
        let g = PoolGeometry {
            planes: 1,
            h: 1,
            w: 8,
            kernel: [1, 2],
            stride: [1, 2],
        };
        let (y, idx) = forward(&g, &x);
        assert_eq!(y, vec![-1.0, -2.0, f32::NEG_INFINITY, f32::INFINITY]);
        assert_eq!(idx, vec![1, 2, 4, 7]);
        let g2 = PoolGeometry {
            planes: 1,
            h: 1,
            w: 2,
            kernel: [1, 2],
            stride: [1, 2],
        };
        assert_eq!(forward(&g2, &[-0.0, 0.0]).1, vec![1], "+0 above -0");
    }

    #[test]
    fn overlapping_windows_add_their_gradients_and_nan_wins() {
        // 3×3 windows, stride 1 over a 3×4 plane: both windows hold the maximum 9.
        let x = [0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 9.0, 0.0, 5.0, 6.0, 7.0, 8.0];
        let g = PoolGeometry {
            planes: 1,
            h: 3,
            w: 4,
            kernel: [3, 3],
            stride: [1, 1],
        };
        let (y, idx) = forward(&g, &x);
        assert_eq!((y, idx.clone()), (vec![9.0, 9.0], vec![6, 6]));
        let dx = backward(&g, &idx, &[1.0, 2.0]);
        assert_eq!(dx.iter().sum::<f32>(), 3.0);
        assert_eq!(dx[6], 3.0);
        // A NaN in the second window only.
        let mut x = x;
        x[11] = f32::NAN;
        let (y, idx) = forward(&g, &x);
        assert_eq!(y[0], 9.0);
        assert!(y[1].is_nan());
        assert_eq!(idx, vec![6, 11]);
    }

    /// Average pooling written as its definition, in f64: (outputs, input gradient for `dy`).
    fn avg_definition(g: &PoolGeometry, x: &[f32], dy: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let (ho, wo) = (g.hout(), g.wout());
        let n = (g.kernel[0] * g.kernel[1]) as f64;
        let mut y = vec![0f64; g.planes * ho * wo];
        let mut dx = vec![0f64; g.planes * g.h * g.w];
        for p in 0..g.planes {
            for oy in 0..ho {
                for ox in 0..wo {
                    let o = (p * ho + oy) * wo + ox;
                    for ki in 0..g.kernel[0] {
                        for kj in 0..g.kernel[1] {
                            let i = (p * g.h + oy * g.stride[0] + ki) * g.w + ox * g.stride[1] + kj;
                            y[o] += x[i] as f64 / n;
                            dx[i] += dy[o] as f64 / n;
                        }
                    }
                }
            }
        }
        (y, dx)
    }

    #[test]
    fn average_pooling_equals_its_definition() {
        // Windows that tile the plane, leave rows and columns out, overlap, or skip inputs.
        for (planes, h, w, kernel, stride) in [
            (3, 8, 8, [4, 4], [4, 4]),
            (2, 7, 9, [2, 3], [2, 3]),
            (2, 6, 5, [3, 2], [1, 1]),
            (1, 9, 9, [2, 2], [3, 4]),
            (1, 1, 1, [1, 1], [1, 1]),
        ] {
            let g = PoolGeometry {
                planes,
                h,
                w,
                kernel,
                stride,
            };
            let x: Vec<f32> = (0..planes * h * w)
                .map(|i| ((i * 37) % 23) as f32 - 11.0)
                .collect();
            let dy: Vec<f32> = (0..planes * g.hout() * g.wout())
                .map(|i| ((i * 13) % 7) as f32 - 3.0)
                .collect();
            let (want_y, want_dx) = avg_definition(&g, &x, &dy);
            let y = avg_forward(&g, &x);
            let dx = avg_backward(&g, &dy);
            for (a, b) in y.iter().zip(&want_y).chain(dx.iter().zip(&want_dx)) {
                assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b} for {g:?}");
            }
            assert_eq!((y.len(), dx.len()), (want_y.len(), want_dx.len()));
        }
    }
}
