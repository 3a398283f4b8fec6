//! The f32 kernels: a convolution as matrix products over im2col columns, one image at a time,
//! images spread over rayon's threads with a single-threaded product inside each.
//!
//! For image n with columns C_n = im2col(x_n) (`[K, L]`, K = cin·kh·kw, L = hout·wout) and the
//! weight W viewed as `[cout, K]` (images with few output positions are put side by side,
//! `[K, m·L]`, so that one product has enough columns):
//! - forward: y_n = W·C_n + b;
//! - input gradient: dx_n = col2im(Wᵀ·dy_n);
//! - weight gradient: dW = Σ_n dy_n·C_nᵀ, accumulated per chunk of images and summed in chunk
//!   order (the same result on every run with the same number of threads);
//! - bias gradient: db = Σ_n Σ_L dy_n.
//!
//! The columns are recomputed in the backward pass rather than kept from the forward one (they
//! are K/cin times larger than the input). A 1×1 convolution with stride 1 and no padding uses
//! the input itself as its columns.
//!
//! Convolutions with stride 1 and at most 16 output channels (for the input gradient: input
//! channels) take the direct route instead on x86-64 CPUs with AVX2 and FMA ([`crate::direct`]);
//! 3×3 convolutions with stride 1 and at least 32 channels on each side (multiples of 16) take
//! the Winograd route ([`crate::winograd`]); `forward_columns`, `input_gradient_columns` and
//! `weight_gradient_columns` are the im2col route whatever the shape (for comparison).

use crate::isa::product;
use faer::{Accum, MatMut, MatRef};
use rayon::prelude::*;

/// Shape and hyper-parameters of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub cin: usize,
    /// Input height and width.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride (height, width).
    pub stride: [usize; 2],
    /// Zero padding on each side (height, width).
    pub padding: [usize; 2],
}

impl ConvGeometry {
    /// Output height.
    pub fn hout(&self) -> usize {
        (self.h + 2 * self.padding[0] - self.kh) / self.stride[0] + 1
    }

    /// Output width.
    pub fn wout(&self) -> usize {
        (self.w + 2 * self.padding[1] - self.kw) / self.stride[1] + 1
    }

    /// Rows of the columns: cin·kh·kw.
    pub fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }

    /// Output positions per image.
    pub fn l(&self) -> usize {
        self.hout() * self.wout()
    }

    fn identity_columns(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// Values of one input image.
    fn x_len(&self) -> usize {
        self.cin * self.h * self.w
    }

    /// Values of one output image.
    fn y_len(&self) -> usize {
        self.cout * self.l()
    }
}

/// The output columns `ox` whose input column `ox·s + kj − p` lies inside `[0, w)`:
/// `[first, last)`.
fn valid_range(wo: usize, w: usize, s: usize, kj: usize, p: usize) -> (usize, usize) {
    // ox·s + kj ≥ p  ⇔  ox ≥ ceil((p − kj)/s)
    let first = if kj >= p { 0 } else { (p - kj).div_ceil(s) };
    // ox·s + kj − p ≤ w − 1  ⇔  ox ≤ (w − 1 + p − kj)/s
    let last = if w + p > kj {
        ((w - 1 + p - kj) / s + 1).min(wo)
    } else {
        0
    };
    (first.min(last), last)
}

/// im2col of one image `x` (`[cin, h, w]`) into columns `off..off + L` of `cols` (`[K, ld]`,
/// row-major).
fn im2col(g: &ConvGeometry, x: &[f32], cols: &mut [f32], ld: usize, off: usize) {
    let (ho, wo) = (g.hout(), g.wout());
    let l = ho * wo;
    let (sh, sw) = (g.stride[0], g.stride[1]);
    let (ph, pw) = (g.padding[0], g.padding[1]);
    for c in 0..g.cin {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let out = &mut cols[row * ld + off..row * ld + off + l];
                let (first, last) = valid_range(wo, g.w, sw, kj, pw);
                for oy in 0..ho {
                    let iy = (oy * sh + ki) as isize - ph as isize;
                    let dst = &mut out[oy * wo..(oy + 1) * wo];
                    if iy < 0 || iy >= g.h as isize || first >= last {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    dst[..first].fill(0.0);
                    dst[last..].fill(0.0);
                    let ix0 = first * sw + kj - pw;
                    if sw == 1 {
                        dst[first..last].copy_from_slice(&src[ix0..ix0 + (last - first)]);
                    } else {
                        for (d, s) in dst[first..last]
                            .iter_mut()
                            .zip(src[ix0..].iter().step_by(sw))
                        {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }
}

/// col2im: adds columns `off..off + L` of `cols` (`[K, ld]`) back into the image gradient `dx`
/// (`[cin, h, w]`, zeroed).
fn col2im(g: &ConvGeometry, cols: &[f32], ld: usize, off: usize, dx: &mut [f32]) {
    let (ho, wo) = (g.hout(), g.wout());
    let l = ho * wo;
    let (sh, sw) = (g.stride[0], g.stride[1]);
    let (ph, pw) = (g.padding[0], g.padding[1]);
    for c in 0..g.cin {
        let plane = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let src = &cols[row * ld + off..row * ld + off + l];
                let (first, last) = valid_range(wo, g.w, sw, kj, pw);
                if first >= last {
                    continue;
                }
                for oy in 0..ho {
                    let iy = (oy * sh + ki) as isize - ph as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let dst = &mut plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    let s = &src[oy * wo + first..oy * wo + last];
                    let ix0 = first * sw + kj - pw;
                    if sw == 1 {
                        for (d, v) in dst[ix0..ix0 + s.len()].iter_mut().zip(s) {
                            *d += v;
                        }
                    } else {
                        for (d, v) in dst[ix0..].iter_mut().step_by(sw).zip(s) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }
}

fn view(data: &[f32], rows: usize, cols: usize) -> MatRef<'_, f32> {
    MatRef::from_row_major_slice(data, rows, cols)
}

fn view_mut(data: &mut [f32], rows: usize, cols: usize) -> MatMut<'_, f32> {
    MatMut::from_row_major_slice_mut(data, rows, cols)
}

/// Images per rayon task: enough work per task, at least one task per thread when possible
/// (the direct route splits the batch the same way).
pub(crate) fn chunk(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads().max(1) * 2).max(1)
}

/// Images per matrix product: one when an image has at least 256 output positions; else
/// enough images side by side for about 256 columns (a product with a handful of columns,
/// as in the last stages of ResNet18 and VGG11 at 32×32, runs far below the machine's speed).
fn group(g: &ConvGeometry) -> usize {
    GROUP_COLUMNS.div_ceil(g.l().max(1)).clamp(1, chunk(g.n))
}

/// Target columns of one matrix product.
const GROUP_COLUMNS: usize = 256;

/// The columns of the images `xs` (`m` images) side by side: `cols` `[K, m·L]`.
fn columns(g: &ConvGeometry, xs: &[f32], cols: &mut [f32]) {
    let l = g.l();
    let m = xs.len() / g.x_len();
    for (i, xn) in xs.chunks(g.x_len()).enumerate() {
        if g.identity_columns() {
            for (r, src) in xn.chunks(l).enumerate() {
                cols[r * m * l + i * l..r * m * l + (i + 1) * l].copy_from_slice(src);
            }
        } else {
            im2col(g, xn, cols, m * l, i * l);
        }
    }
}

/// Output-shaped values of `m` images (`[m, cout, L]`) as one matrix `[cout, m·L]`.
fn gather(g: &ConvGeometry, ys: &[f32], out: &mut [f32]) {
    let l = g.l();
    let m = ys.len() / g.y_len();
    for (i, yn) in ys.chunks(g.y_len()).enumerate() {
        for (co, src) in yn.chunks(l).enumerate() {
            out[co * m * l + i * l..co * m * l + (i + 1) * l].copy_from_slice(src);
        }
    }
}

/// `n` outputs of `out_len` values, each computed from the input of `in_len` values at the
/// same index: `f(outputs, inputs)` runs on `step` of them at a time in parallel, each task
/// starting with the vector registers' upper halves cleared.
pub(crate) fn per_image_chunks(
    n: usize,
    out_len: usize,
    x: &[f32],
    in_len: usize,
    step: usize,
    f: impl Fn(&mut [f32], &[f32]) + Sync + Send,
) -> Vec<f32> {
    let mut y = vec![0f32; n * out_len];
    y.par_chunks_mut(out_len * step)
        .zip(x.par_chunks(in_len * step))
        .for_each(|(ys, xs)| {
            crate::isa::clear_upper_state();
            f(ys, xs);
        });
    y
}

/// The forward convolution: `x` `[n, cin, h, w]`, `weight` `[cout, cin, kh, kw]`, `bias`
/// `[cout]` → `[n, cout, hout, wout]`.
#[inline(never)]
pub fn forward(g: &ConvGeometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if crate::direct::applies(g) {
        return crate::direct::forward(g, x, weight, bias);
    }
    if crate::winograd::applies(g) {
        return crate::winograd::forward(g, x, weight, bias);
    }
    forward_columns(g, x, weight, bias)
}

/// [`forward`] through im2col columns and matrix products.
#[inline(never)]
pub fn forward_columns(
    g: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let (k, l, nb) = (g.k(), g.l(), group(g));
    let w = view(weight, g.cout, k);
    per_image_chunks(g.n, g.y_len(), x, g.x_len(), chunk(g.n), |ys, xs| {
        let direct = nb == 1 && g.identity_columns();
        let mut cols = vec![0f32; if direct { 0 } else { k * l * nb }];
        let mut out = vec![0f32; if nb == 1 { 0 } else { g.cout * l * nb }];
        for (yg, xg) in ys.chunks_mut(g.y_len() * nb).zip(xs.chunks(g.x_len() * nb)) {
            let m = xg.len() / g.x_len();
            let c = if direct {
                view(xg, k, l)
            } else {
                columns(g, xg, &mut cols);
                view(&cols[..k * m * l], k, m * l)
            };
            if nb == 1 {
                product(view_mut(yg, g.cout, l), Accum::Replace, w, c);
            } else {
                let o = &mut out[..g.cout * m * l];
                product(view_mut(o, g.cout, m * l), Accum::Replace, w, c);
                for (i, yn) in yg.chunks_mut(g.y_len()).enumerate() {
                    for (co, dst) in yn.chunks_mut(l).enumerate() {
                        dst.copy_from_slice(&o[co * m * l + i * l..co * m * l + (i + 1) * l]);
                    }
                }
            }
            if let Some(b) = bias {
                for yn in yg.chunks_mut(g.y_len()) {
                    for (row, &bv) in yn.chunks_mut(l).zip(b) {
                        for v in row {
                            *v += bv;
                        }
                    }
                }
            }
        }
    })
}

/// (dx, dweight, dbias), each when asked for.
pub type ConvGradients = (Option<Vec<f32>>, Option<Vec<f32>>, Option<Vec<f32>>);

/// The three gradients of a convolution from the output gradient `dy` `[n, cout, hout, wout]`:
/// (dx `[n, cin, h, w]`, dweight `[cout, cin, kh, kw]`, dbias `[cout]`); each is computed only
/// when asked for.
pub fn backward(
    g: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    want: [bool; 3],
) -> ConvGradients {
    (
        want[0].then(|| input_gradient(g, weight, dy)),
        want[1].then(|| weight_gradient(g, x, dy)),
        want[2].then(|| bias_gradient(g, dy)),
    )
}

/// dx: per image, dcols = Wᵀ·dy_n, then col2im. (Kept out of line, like the other two, so
/// that a profile names each gradient.)
#[inline(never)]
pub fn input_gradient(g: &ConvGeometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if crate::direct::applies_to_input_gradient(g) {
        return crate::direct::input_gradient(g, weight, dy);
    }
    if crate::winograd::applies_to_input_gradient(g) {
        return crate::winograd::input_gradient(g, weight, dy);
    }
    input_gradient_columns(g, weight, dy)
}

/// [`input_gradient`] through matrix products and col2im.
#[inline(never)]
pub fn input_gradient_columns(g: &ConvGeometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, l, nb) = (g.k(), g.l(), group(g));
    let w = view(weight, g.cout, k);
    per_image_chunks(g.n, g.x_len(), dy, g.y_len(), chunk(g.n), |dxs, dys| {
        let direct = nb == 1 && g.identity_columns();
        let mut cols = vec![0f32; if direct { 0 } else { k * l * nb }];
        let mut d = vec![0f32; if nb == 1 { 0 } else { g.cout * l * nb }];
        for (dxg, dyg) in dxs
            .chunks_mut(g.x_len() * nb)
            .zip(dys.chunks(g.y_len() * nb))
        {
            let m = dyg.len() / g.y_len();
            let dm = if nb == 1 {
                view(dyg, g.cout, l)
            } else {
                gather(g, dyg, &mut d);
                view(&d[..g.cout * m * l], g.cout, m * l)
            };
            if direct {
                product(view_mut(dxg, k, l), Accum::Replace, w.transpose(), dm);
                continue;
            }
            let c = &mut cols[..k * m * l];
            product(view_mut(c, k, m * l), Accum::Replace, w.transpose(), dm);
            for (i, dxn) in dxg.chunks_mut(g.x_len()).enumerate() {
                if g.identity_columns() {
                    for (r, dst) in dxn.chunks_mut(l).enumerate() {
                        dst.copy_from_slice(&c[r * m * l + i * l..r * m * l + (i + 1) * l]);
                    }
                } else {
                    // col2im adds into `dxn`. It is fresh memory (an input gradient of 32 MiB
                    // or more is a new mapping each time): written first, each page faults
                    // once; read first, it would map the shared zero page and then copy it on
                    // the first write, with a TLB flush on every core.
                    dxn.fill(0.0);
                    col2im(g, c, m * l, i * l, dxn);
                }
            }
        }
    })
}

/// dW = Σ_n dy_n·C_nᵀ, one accumulator per chunk of images, summed in chunk order.
#[inline(never)]
pub fn weight_gradient(g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if crate::direct::applies(g) {
        return crate::direct::weight_gradient(g, x, dy);
    }
    if crate::winograd::applies(g) {
        return crate::winograd::weight_gradient(g, x, dy);
    }
    weight_gradient_columns(g, x, dy)
}

/// [`weight_gradient`] through im2col columns and matrix products.
#[inline(never)]
pub fn weight_gradient_columns(g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, l, nb) = (g.k(), g.l(), group(g));
    let step = chunk(g.n);
    x.par_chunks(g.x_len() * step)
        .zip(dy.par_chunks(g.y_len() * step))
        .map(|(xs, dys)| {
            crate::isa::clear_upper_state();
            let mut acc = vec![0f32; g.cout * k];
            let direct = nb == 1 && g.identity_columns();
            let mut cols = vec![0f32; if direct { 0 } else { k * l * nb }];
            let mut d = vec![0f32; if nb == 1 { 0 } else { g.cout * l * nb }];
            for (first, (xg, dyg)) in xs
                .chunks(g.x_len() * nb)
                .zip(dys.chunks(g.y_len() * nb))
                .enumerate()
            {
                let m = xg.len() / g.x_len();
                let c = if direct {
                    view(xg, k, l)
                } else {
                    columns(g, xg, &mut cols);
                    view(&cols[..k * m * l], k, m * l)
                };
                let dm = if nb == 1 {
                    view(dyg, g.cout, l)
                } else {
                    gather(g, dyg, &mut d);
                    view(&d[..g.cout * m * l], g.cout, m * l)
                };
                // The first product replaces: `acc` is fresh memory, and reading it before
                // writing would map the shared zero page, then copy it on the first write (a
                // fault and a TLB flush on every core for each page).
                let accum = if first == 0 {
                    Accum::Replace
                } else {
                    Accum::Add
                };
                product(view_mut(&mut acc, g.cout, k), accum, dm, c.transpose());
            }
            acc
        })
        // Summed in chunk order, so that a run repeats bit for bit (rayon's `reduce` would
        // pair the partial sums in whatever order its threads finished).
        .collect::<Vec<_>>()
        .into_iter()
        .reduce(|mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
            a
        })
        .unwrap_or_else(|| vec![0f32; g.cout * k])
}

/// db = Σ_n Σ_L dy_n, per chunk of images, summed in chunk order.
#[inline(never)]
pub fn bias_gradient(g: &ConvGeometry, dy: &[f32]) -> Vec<f32> {
    let l = g.l();
    dy.par_chunks(g.y_len() * chunk(g.n))
        .map(|dys| {
            crate::isa::clear_upper_state();
            let mut db = vec![0f32; g.cout];
            for dyn_ in dys.chunks(g.y_len()) {
                for (d, row) in db.iter_mut().zip(dyn_.chunks(l)) {
                    // Eight partial sums: one running sum would chain every addition.
                    let mut acc = [0f32; 8];
                    let mut pieces = row.chunks_exact(8);
                    for p in &mut pieces {
                        for (a, v) in acc.iter_mut().zip(p) {
                            *a += v;
                        }
                    }
                    *d += acc.iter().sum::<f32>() + pieces.remainder().iter().sum::<f32>();
                }
            }
            db
        })
        .collect::<Vec<_>>()
        .into_iter()
        .reduce(|mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
            a
        })
        .unwrap_or_else(|| vec![0f32; g.cout])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::test_data::pseudo;

    /// The convolution written as its definition, in f64.
    fn direct(g: &ConvGeometry, x: &[f32], w: &[f32]) -> Vec<f64> {
        let (ho, wo) = (g.hout(), g.wout());
        let mut y = vec![0f64; g.n * g.cout * ho * wo];
        for n in 0..g.n {
            for co in 0..g.cout {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut s = 0f64;
                        for ci in 0..g.cin {
                            for ki in 0..g.kh {
                                for kj in 0..g.kw {
                                    let iy =
                                        (oy * g.stride[0] + ki) as isize - g.padding[0] as isize;
                                    let ix =
                                        (ox * g.stride[1] + kj) as isize - g.padding[1] as isize;
                                    if iy >= 0
                                        && ix >= 0
                                        && (iy as usize) < g.h
                                        && (ix as usize) < g.w
                                    {
                                        s += x[((n * g.cin + ci) * g.h + iy as usize) * g.w
                                            + ix as usize]
                                            as f64
                                            * w[((co * g.cin + ci) * g.kh + ki) * g.kw + kj] as f64;
                                    }
                                }
                            }
                        }
                        y[((n * g.cout + co) * ho + oy) * wo + ox] = s;
                    }
                }
            }
        }
        y
    }

    /// x at (n, c, iy, ix) of the padded input, zero in the padding.
    fn at(g: &ConvGeometry, x: &[f32], n: usize, c: usize, iy: usize, ix: usize) -> f64 {
        let (y, x_) = (
            iy as isize - g.padding[0] as isize,
            ix as isize - g.padding[1] as isize,
        );
        if y < 0 || x_ < 0 || y as usize >= g.h || x_ as usize >= g.w {
            return 0.0;
        }
        x[((n * g.cin + c) * g.h + y as usize) * g.w + x_ as usize] as f64
    }

    /// The forward pass (with bias), the input gradient and the weight gradient of `g`
    /// (stride 1) by their definitions, in f64 (for the direct and Winograd routes).
    #[allow(clippy::needless_range_loop)]
    pub(crate) fn definitions(
        g: &ConvGeometry,
        x: &[f32],
        w: &[f32],
        b: &[f32],
        dy: &[f32],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (ho, wo) = (g.hout(), g.wout());
        let mut y = vec![0f64; g.n * g.cout * ho * wo];
        let mut dx = vec![0f64; x.len()];
        let mut dw = vec![0f64; w.len()];
        for n in 0..g.n {
            for co in 0..g.cout {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let o = ((n * g.cout + co) * ho + oy) * wo + ox;
                        let mut s = b[co] as f64;
                        for c in 0..g.cin {
                            for ki in 0..g.kh {
                                for kj in 0..g.kw {
                                    let wi = ((co * g.cin + c) * g.kh + ki) * g.kw + kj;
                                    let xv = at(g, x, n, c, oy + ki, ox + kj);
                                    s += w[wi] as f64 * xv;
                                    dw[wi] += dy[o] as f64 * xv;
                                    let (iy, ix) = (
                                        (oy + ki) as isize - g.padding[0] as isize,
                                        (ox + kj) as isize - g.padding[1] as isize,
                                    );
                                    if iy >= 0
                                        && ix >= 0
                                        && (iy as usize) < g.h
                                        && (ix as usize) < g.w
                                    {
                                        dx[((n * g.cin + c) * g.h + iy as usize) * g.w
                                            + ix as usize] += dy[o] as f64 * w[wi] as f64;
                                    }
                                }
                            }
                        }
                        y[o] = s;
                    }
                }
            }
        }
        (y, dx, dw)
    }

    pub(crate) fn close(what: &str, got: &[f32], want: &[f64], g: &ConvGeometry) {
        assert_eq!(got.len(), want.len(), "{what} {g:?}");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (*a as f64 - b).abs() < 1e-4 * (1.0 + b.abs()),
                "{what} at {i}: {a} against {b} ({g:?})"
            );
        }
    }

    /// A geometry from (images, input channels, height, width, output channels, kernel,
    /// stride, padding).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn geometry(
        n: usize,
        cin: usize,
        h: usize,
        w: usize,
        cout: usize,
        k: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> ConvGeometry {
        ConvGeometry {
            n,
            cin,
            h,
            w,
            cout,
            kh: k[0],
            kw: k[1],
            stride,
            padding,
        }
    }

    #[test]
    fn forward_equals_the_definition() {
        for g in [
            // Ten images with few positions each: products over several images side by side,
            // the last group smaller than the others; and 1×1 columns side by side.
            geometry(10, 3, 5, 4, 4, [3, 3], [1, 1], [1, 1]),
            geometry(10, 4, 3, 3, 3, [1, 1], [1, 1], [0, 0]),
            geometry(2, 2, 5, 5, 3, [5, 5], [2, 2], [2, 2]),
            geometry(1, 1, 3, 4, 2, [3, 3], [1, 3], [2, 2]),
            geometry(2, 3, 7, 6, 4, [3, 3], [2, 1], [1, 2]),
            geometry(3, 5, 4, 4, 2, [1, 1], [1, 1], [0, 0]),
        ] {
            let x = pseudo(g.n * g.x_len(), 1);
            let w = pseudo(g.cout * g.k(), 2);
            let y = forward(&g, &x, &w, None);
            for (a, b) in y.iter().zip(direct(&g, &x, &w)) {
                assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn input_and_weight_gradients_are_adjoint_to_the_forward() {
        // ⟨dy, conv(x, w)⟩ is linear in x and in w: its gradient in x is the input gradient,
        // so ⟨dx, x⟩ = ⟨dy, y⟩ = ⟨dw, w⟩ without bias.
        for g in [
            geometry(2, 3, 6, 5, 4, [3, 2], [1, 2], [1, 1]),
            // Several images per product, and 1×1 columns put side by side.
            geometry(10, 3, 6, 5, 4, [3, 2], [1, 2], [1, 1]),
            geometry(10, 4, 3, 3, 3, [1, 1], [1, 1], [0, 0]),
        ] {
            let x = pseudo(g.n * g.x_len(), 3);
            let w = pseudo(g.cout * g.k(), 4);
            let y = forward(&g, &x, &w, None);
            let dy = pseudo(y.len(), 5);
            let (dx, dw, db) = backward(&g, &x, &w, &dy, [true, true, true]);
            let dot = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .map(|(p, q)| *p as f64 * *q as f64)
                    .sum::<f64>()
            };
            let yy = dot(&dy, &y);
            assert!((dot(&dx.unwrap(), &x) - yy).abs() < 1e-4 * yy.abs().max(1.0));
            assert!((dot(&dw.unwrap(), &w) - yy).abs() < 1e-4 * yy.abs().max(1.0));
            let total: f64 = dy.iter().map(|v| *v as f64).sum();
            assert!((db.unwrap().iter().map(|v| *v as f64).sum::<f64>() - total).abs() < 1e-4);
        }
    }
}
