//! 3×3 convolutions with stride 1 by Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016).
//!
//! The output is cut into 2×2 tiles; the 4×4 input patch `d` under a tile and the 3×3 kernel
//! `g` of each (output, input) channel pair are transformed, `V = Bᵀ·d·B` and `U = G·g·Gᵀ`, and
//! the tile is `Y = Aᵀ·[Σ_ci U ⊙ V]·A`. The sum over input channels is, for each of the 16
//! positions ξ of the 4×4 transforms, one matrix product `M_ξ = U_ξ·V_ξ` (`[cout, cin]` by
//! `[cin, tiles]`): 16·cout·cin multiplications per tile of 4 outputs, against 36·cout·cin for
//! the im2col route, and no im2col.
//!
//! - forward: the above, plus the bias;
//! - input gradient: the forward convolution of the output gradient, padded by 2 − padding,
//!   with the kernel flipped and its channel axes swapped;
//! - weight gradient: `dU_ξ = Σ_tiles (A·dY·Aᵀ)_ξ · V_ξᵀ` (one product per ξ), then
//!   `dg = Gᵀ·dU·G` per channel pair.
//!
//! The transforms' coefficients are 0, ±1 and ±½, so the results differ from the definition by
//! rounding only (tested against it in f64); the sums run in another order than the im2col
//! route's, so the last bits differ from it.

use crate::isa::product;
use crate::kernels::ConvGeometry;
use faer::{Accum, MatMut, MatRef};
use rayon::prelude::*;

/// Tiles (2×2 outputs each) per matrix product: about this many columns.
const GROUP_TILES: usize = 256;

/// Fewest channels on either side for this route: with fewer, its 16 products are too thin to
/// run at the machine's speed, and the direct route or im2col is faster.
const MIN_CHANNELS: usize = 32;

/// Whether [`forward`] and [`weight_gradient`] take this convolution: a 3×3 kernel, stride 1,
/// padding at most 2, an output of at least one position, and at least [`MIN_CHANNELS`]
/// channels in and out, multiples of [`LANES`].
pub fn applies(g: &ConvGeometry) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.stride == [1, 1]
        && g.padding[0] <= 2
        && g.padding[1] <= 2
        && g.cin >= MIN_CHANNELS
        && g.cout >= MIN_CHANNELS
        && g.cin.is_multiple_of(LANES)
        && g.cout.is_multiple_of(LANES)
        && g.h + 2 * g.padding[0] >= 3
        && g.w + 2 * g.padding[1] >= 3
        && g.n > 0
}

/// Whether [`input_gradient`] takes this convolution (its transposed form must be one that
/// [`applies`] takes; the conditions are symmetric).
pub fn applies_to_input_gradient(g: &ConvGeometry) -> bool {
    applies(g)
}

/// `G·g·Gᵀ` of a 3×3 kernel.
#[inline(always)]
fn transform_kernel(g: &[f32]) -> [[f32; 4]; 4] {
    let mut t = [[0f32; 3]; 4];
    for c in 0..3 {
        let (a, b, e) = (g[c], g[3 + c], g[6 + c]);
        t[0][c] = a;
        t[1][c] = 0.5 * (a + b + e);
        t[2][c] = 0.5 * (a - b + e);
        t[3][c] = e;
    }
    let mut u = [[0f32; 4]; 4];
    for r in 0..4 {
        let [a, b, e] = t[r];
        u[r][0] = a;
        u[r][1] = 0.5 * (a + b + e);
        u[r][2] = 0.5 * (a - b + e);
        u[r][3] = e;
    }
    u
}

/// `Gᵀ·du·G` of a 4×4 gradient: the 3×3 kernel gradient (the adjoint of [`transform_kernel`]).
#[inline(always)]
fn transform_kernel_gradient(du: &[[f32; 4]; 4], dg: &mut [f32]) {
    let mut t = [[0f32; 4]; 3];
    for c in 0..4 {
        let [a, b, e, f] = [du[0][c], du[1][c], du[2][c], du[3][c]];
        t[0][c] = a + 0.5 * (b + e);
        t[1][c] = 0.5 * (b - e);
        t[2][c] = 0.5 * (b + e) + f;
    }
    for r in 0..3 {
        let [a, b, e, f] = t[r];
        dg[3 * r] = a + 0.5 * (b + e);
        dg[3 * r + 1] = 0.5 * (b - e);
        dg[3 * r + 2] = 0.5 * (b + e) + f;
    }
}

/// Channels transformed together: the transforms run on channel-last copies, 16 consecutive
/// channels of one position at a time, in plain loops the compiler turns into vector code.
const LANES: usize = 16;
type Lane = [f32; LANES];

#[inline(always)]
fn load(s: &[f32]) -> Lane {
    let s: &Lane = s[..LANES].try_into().expect("LANES values");
    *s
}

/// Writes `v` to the first [`LANES`] values of `d` (an array assignment, which the compiler
/// keeps as vector moves; a slice copy may become a call to `memcpy`).
#[inline(always)]
fn store(d: &mut [f32], v: &Lane) {
    let d: &mut Lane = (&mut d[..LANES]).try_into().expect("LANES values");
    *d = *v;
}

#[inline(always)]
fn add(a: &Lane, b: &Lane) -> Lane {
    std::array::from_fn(|l| a[l] + b[l])
}

#[inline(always)]
fn sub(a: &Lane, b: &Lane) -> Lane {
    std::array::from_fn(|l| a[l] - b[l])
}

#[inline(always)]
fn neg(a: &Lane) -> Lane {
    std::array::from_fn(|l| -a[l])
}

/// `Bᵀ·d·B` applied to one row or column of four: `[d0 − d2, d1 + d2, d2 − d1, d1 − d3]`.
#[inline(always)]
fn bt(d: [&Lane; 4]) -> [Lane; 4] {
    [
        sub(d[0], d[2]),
        add(d[1], d[2]),
        sub(d[2], d[1]),
        sub(d[1], d[3]),
    ]
}

/// `A·y` of a row or column of two (the adjoint of `Aᵀ`): `[y0, y0 + y1, y0 − y1, −y1]`.
#[inline(always)]
fn a_of(y0: &Lane, y1: &Lane) -> [Lane; 4] {
    [*y0, add(y0, y1), sub(y0, y1), neg(y1)]
}

/// Values between the starts of two consecutive ξ slices of a buffer of `rows × cols` slices:
/// one cache line more than a slice, so that the 16 values of one tile, written or read
/// together, do not all fall in the same set of the L1 cache (slices of a multiple of 4 KiB
/// would).
fn slice_stride(rows: usize, cols: usize) -> usize {
    rows * cols + 16
}

/// Tile rows and columns of the output.
fn tiles(g: &ConvGeometry) -> (usize, usize) {
    (g.hout().div_ceil(2), g.wout().div_ceil(2))
}

/// Images per group of products: enough for about [`GROUP_TILES`] tiles.
fn group(g: &ConvGeometry) -> usize {
    let (th, tw) = tiles(g);
    GROUP_TILES.div_ceil(th * tw).clamp(1, share(g.n))
}

/// Images per parallel task: one task per thread. Every group of images reads all 16
/// transformed kernels (2.25 times the kernel's size), which for small images costs as much as
/// the products; fewer, larger tasks read them fewer times. (The work is the same for every
/// image, so one task per thread balances.)
fn share(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// A channel-last copy of the images `src` (`[m, c, h, w]`) into `dst` (`[m, rows, cols, c]`):
/// input row `iy` at row `iy + ph`, column `ix` at column `ix + pw`, zeros elsewhere; rows and
/// columns past `rows`/`cols` are left out.
#[inline(never)]
fn channels_last(
    src: &[f32],
    (c, h, w): (usize, usize, usize),
    (rows, cols): (usize, usize),
    (ph, pw): (usize, usize),
    dst: &mut [f32],
) {
    let m = src.len() / (c * h * w);
    let dst = &mut dst[..m * rows * cols * c];
    let (hh, ww) = (h.min(rows - ph), w.min(cols - pw));
    for (img, out) in src.chunks(c * h * w).zip(dst.chunks_mut(rows * cols * c)) {
        // Zeros where no input value goes: the rows above and below, and each row's columns
        // left and right of the image.
        out[..ph * cols * c].fill(0.0);
        out[(ph + hh) * cols * c..].fill(0.0);
        for row in out[ph * cols * c..(ph + hh) * cols * c].chunks_mut(cols * c) {
            row[..pw * c].fill(0.0);
            row[(pw + ww) * c..].fill(0.0);
        }
        for cb in (0..c).step_by(LANES) {
            let planes = &img[cb * h * w..(cb + LANES) * h * w];
            // 16 positions of 16 planes at a time: each plane's cache line is read whole
            // once (planes of 4 KiB would otherwise evict each other from L1 between
            // positions), then written out transposed.
            for iy in 0..hh {
                for ix0 in (0..ww).step_by(LANES) {
                    let len = LANES.min(ww - ix0);
                    let mut block = [[0f32; LANES]; LANES];
                    for (l, b) in block.iter_mut().enumerate() {
                        let at = l * h * w + iy * w + ix0;
                        if len == LANES {
                            *b = load(&planes[at..]);
                        } else {
                            b[..len].copy_from_slice(&planes[at..at + len]);
                        }
                    }
                    for j in 0..len {
                        let o = &mut out[((iy + ph) * cols + ix0 + j + pw) * c + cb..][..LANES];
                        for (l, v) in o.iter_mut().enumerate() {
                            *v = block[l][j];
                        }
                    }
                }
            }
        }
    }
}

/// Scratch space of one task. Its three buffers come from, and go back to, a pool kept by each
/// thread, so that a call neither allocates nor zeroes them (at batch 128 they are several
/// MiB, and zeroing reused heap memory was about 3% of a VGG11 step); the pool holds the
/// largest size each buffer has needed on that thread, about 20 MiB for VGG11 and ResNet18.
struct Scratch {
    /// Channel-last input images, zero padded.
    input: Vec<f32>,
    /// Transformed input tiles, 16 slices `[tiles, cin]`.
    v: Vec<f32>,
    /// Products or transformed output-gradient tiles, 16 slices `[cout, tiles]`.
    m: Vec<f32>,
}

thread_local! {
    static POOL: std::cell::RefCell<[Vec<f32>; 3]> = const {
        std::cell::RefCell::new([Vec::new(), Vec::new(), Vec::new()])
    };
}

impl Scratch {
    fn new(g: &ConvGeometry, nb: usize) -> Self {
        let (th, tw) = tiles(g);
        let t = (nb * th * tw).next_multiple_of(LANES);
        let [mut input, mut v, mut m] = POOL.with(|p| std::mem::take(&mut *p.borrow_mut()));
        // Every part of a buffer is written before it is read (tested with buffers left over
        // from other shapes), so only growth needs initialising.
        for (b, len) in [
            (&mut input, nb * (2 * th + 2) * (2 * tw + 2) * g.cin),
            (&mut v, 16 * slice_stride(t, g.cin)),
            (&mut m, 16 * slice_stride(t, g.cout)),
        ] {
            if b.len() < len {
                b.resize(len, 0.0);
            }
        }
        Scratch { input, v, m }
    }

    /// The channel-last copy and the input transform of the images `xs` into `self.v`.
    fn transform_inputs(&mut self, g: &ConvGeometry, xs: &[f32]) -> Group {
        let (th, tw) = tiles(g);
        let m = xs.len() / (g.cin * g.h * g.w);
        // Products run over whole blocks of 16 tiles; the padding rows of `v` are zeros, so
        // the padding columns of the products are too.
        let t_pad = (m * th * tw).next_multiple_of(LANES);
        let (sv, so) = (slice_stride(t_pad, g.cin), slice_stride(g.cout, t_pad));
        channels_last(
            xs,
            (g.cin, g.h, g.w),
            (2 * th + 2, 2 * tw + 2),
            (g.padding[0], g.padding[1]),
            &mut self.input,
        );
        transform_inputs(g, &self.input, m, &mut self.v, sv);
        Group { m, t_pad, sv, so }
    }
}

/// One group of images after its input transform: `m` images, `t_pad` tiles (whole blocks of
/// 16), and the strides of the 16 slices of `v` and of `m`.
struct Group {
    m: usize,
    t_pad: usize,
    sv: usize,
    so: usize,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let bufs = [
            std::mem::take(&mut self.input),
            std::mem::take(&mut self.v),
            std::mem::take(&mut self.m),
        ];
        POOL.with(|p| *p.borrow_mut() = bufs);
    }
}

/// The transformed input tiles of `m` channel-last padded images `p` into `v` (16 slices
/// `sv` apart, each `[m·tiles, cin]` and zero rows up to a multiple of 16; tile `(ty, tx)` of
/// image `i` is row
/// `(i·th + ty)·tw + tx`).
#[inline(never)]
fn transform_inputs(g: &ConvGeometry, p: &[f32], m: usize, v: &mut [f32], sv: usize) {
    let (th, tw) = tiles(g);
    let (cols, c) = (2 * tw + 2, g.cin);
    let rows = 2 * th + 2;
    for i in 0..m {
        for ty in 0..th {
            for tx in 0..tw {
                let t = (i * th + ty) * tw + tx;
                let corner = ((i * rows + 2 * ty) * cols + 2 * tx) * c;
                for cb in (0..c).step_by(LANES) {
                    let d: [[Lane; 4]; 4] = std::array::from_fn(|r| {
                        std::array::from_fn(|q| load(&p[corner + (r * cols + q) * c + cb..]))
                    });
                    // Bᵀ on the rows (for each column q), then B on the columns.
                    let cols_t: [[Lane; 4]; 4] =
                        std::array::from_fn(|q| bt([&d[0][q], &d[1][q], &d[2][q], &d[3][q]]));
                    for k in 0..4 {
                        let row = bt([&cols_t[0][k], &cols_t[1][k], &cols_t[2][k], &cols_t[3][k]]);
                        for (q, val) in row.iter().enumerate() {
                            store(&mut v[(4 * k + q) * sv + t * c + cb..], val);
                        }
                    }
                }
            }
        }
    }
    // The padding rows up to a whole block of 16 tiles: zeros.
    let t_all = m * th * tw;
    for xi in 0..16 {
        v[xi * sv + t_all * c..xi * sv + t_all.next_multiple_of(LANES) * c].fill(0.0);
    }
}

/// Where the tiles of `m` images start in their output planes (`[m, c, ho, wo]` images of
/// `c` channels; tile `t = (i·th + ty)·tw + tx`), with whether the tile's right column and
/// bottom row lie inside the output (they do not at the edge of an odd size).
fn tile_corners(g: &ConvGeometry, m: usize, c: usize) -> Vec<(usize, bool, bool)> {
    let (th, tw) = tiles(g);
    let (ho, wo) = (g.hout(), g.wout());
    let mut corners = Vec::with_capacity(m * th * tw);
    for i in 0..m {
        for ty in 0..th {
            for tx in 0..tw {
                let at = i * c * ho * wo + 2 * ty * wo + 2 * tx;
                corners.push((at, 2 * tx + 1 < wo, 2 * ty + 1 < ho));
            }
        }
    }
    corners
}

/// The transformed output-gradient tiles of `m` images `d` (`[m, cout, ho, wo]`) into `w`
/// (16 slices `sw` apart, each `[cout, m·tiles]`): `A·dy·Aᵀ`, 16 consecutive tiles of one
/// channel at a time.
#[inline(never)]
fn transform_output_gradients(
    g: &ConvGeometry,
    d: &[f32],
    corners: &[(usize, bool, bool)],
    w: &mut [f32],
    sw: usize,
) {
    let (plane, wo, t_all) = (g.hout() * g.wout(), g.wout(), corners.len());
    let t_pad = t_all.next_multiple_of(LANES);
    for co in 0..g.cout {
        for t0 in (0..t_all).step_by(LANES) {
            let lanes = &corners[t0..(t0 + LANES).min(t_all)];
            let mut y = [[0f32; LANES]; 4];
            for (l, &(at, right, bottom)) in lanes.iter().enumerate() {
                let at = at + co * plane;
                y[0][l] = d[at];
                if right {
                    y[1][l] = d[at + 1];
                }
                if bottom {
                    y[2][l] = d[at + wo];
                    if right {
                        y[3][l] = d[at + wo + 1];
                    }
                }
            }
            // A on the rows (for each column), then on the columns.
            let c0 = a_of(&y[0], &y[2]);
            let c1 = a_of(&y[1], &y[3]);
            for k in 0..4 {
                for (q, val) in a_of(&c0[k], &c1[k]).iter().enumerate() {
                    // Whole blocks: rows are padded to a multiple of 16 tiles, and lanes past
                    // the last tile hold zeros.
                    store(&mut w[(4 * k + q) * sw + co * t_pad + t0..], val);
                }
            }
        }
    }
}

/// The output tiles of `m` images from the products `mm` (16 slices `so` apart, each
/// `[cout, m·tiles]`), plus the bias, into `ys` (`[m, cout, ho, wo]`): `Aᵀ·M·A`, 16
/// consecutive tiles of one channel at a time.
#[inline(never)]
fn transform_outputs(
    g: &ConvGeometry,
    mm: &[f32],
    so: usize,
    corners: &[(usize, bool, bool)],
    bias: Option<&[f32]>,
    ys: &mut [f32],
) {
    let (plane, wo, t_all) = (g.hout() * g.wout(), g.wout(), corners.len());
    let t_pad = t_all.next_multiple_of(LANES);
    for co in 0..g.cout {
        let b = bias.map_or(0.0, |b| b[co]);
        for t0 in (0..t_all).step_by(LANES) {
            let lanes = &corners[t0..(t0 + LANES).min(t_all)];
            // Whole blocks: rows are padded to a multiple of 16 tiles.
            let mv = |xi: usize| load(&mm[xi * so + co * t_pad + t0..]);
            // Aᵀ on the rows: a_q = m_q + m_{4+q} + m_{8+q}, e_q = m_{4+q} − m_{8+q} − m_{12+q}.
            let mut a = [[0f32; LANES]; 4];
            let mut e = [[0f32; LANES]; 4];
            for q in 0..4 {
                let (m1, m2) = (mv(4 + q), mv(8 + q));
                a[q] = add(&add(&mv(q), &m1), &m2);
                e[q] = sub(&sub(&m1, &m2), &mv(12 + q));
            }
            // A on the columns.
            let y00 = add(&add(&a[0], &a[1]), &a[2]);
            let y01 = sub(&sub(&a[1], &a[2]), &a[3]);
            let y10 = add(&add(&e[0], &e[1]), &e[2]);
            let y11 = sub(&sub(&e[1], &e[2]), &e[3]);
            for (l, &(at, right, bottom)) in lanes.iter().enumerate() {
                let at = at + co * plane;
                ys[at] = y00[l] + b;
                if right {
                    ys[at + 1] = y01[l] + b;
                }
                if bottom {
                    ys[at + wo] = y10[l] + b;
                    if right {
                        ys[at + wo + 1] = y11[l] + b;
                    }
                }
            }
        }
    }
}

/// The transformed kernels of `weight` `[cout, cin, 3, 3]`: 16 slices `stride` apart, each
/// `[cout, cin]`; output channels split among the threads, each writing its rows of the 16
/// slices in order.
fn transform_kernels(cout: usize, cin: usize, weight: &[f32], stride: usize) -> Vec<f32> {
    let mut u = vec![0f32; 16 * stride];
    let pairs = cout * cin;
    let block = cout.div_ceil(rayon::current_num_threads().max(1)).max(1) * cin;
    let mut parts: Vec<Vec<&mut [f32]>> = (0..pairs.div_ceil(block).max(1))
        .map(|_| Vec::with_capacity(16))
        .collect();
    for slice in u.chunks_mut(stride) {
        for (part, piece) in parts.iter_mut().zip(slice[..pairs].chunks_mut(block)) {
            part.push(piece);
        }
    }
    parts.into_par_iter().enumerate().for_each(|(i, mut out)| {
        let Some(n) = out.first().map(|o| o.len()) else {
            return;
        };
        let kernels = &weight[i * block * 9..(i * block + n) * 9];
        for (j, k) in kernels.chunks(9).enumerate() {
            for (xi, &val) in transform_kernel(k).iter().flatten().enumerate() {
                out[xi][j] = val;
            }
        }
    });
    u
}

/// The forward convolution of `x` with the transformed kernels `u` (16 slices `su` apart).
fn forward_transformed(
    g: &ConvGeometry,
    x: &[f32],
    u: &[f32],
    su: usize,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let (th, tw) = tiles(g);
    let (ho, wo) = (g.hout(), g.wout());
    let (x_len, y_len) = (g.cin * g.h * g.w, g.cout * ho * wo);
    let nb = group(g);
    crate::kernels::per_image_chunks(g.n, y_len, x, x_len, share(g.n), |ys, xs| {
        let mut s = Scratch::new(g, nb);
        // The tiles of a full group; a shorter last group uses the first ones.
        let corners = tile_corners(g, nb, g.cout);
        for (yg, xg) in ys.chunks_mut(y_len * nb).zip(xs.chunks(x_len * nb)) {
            let Group { m, t_pad, sv, so } = s.transform_inputs(g, xg);
            for xi in 0..16 {
                let ux =
                    MatRef::from_row_major_slice(&u[xi * su..][..g.cout * g.cin], g.cout, g.cin);
                let vx =
                    MatRef::from_row_major_slice(&s.v[xi * sv..][..t_pad * g.cin], t_pad, g.cin);
                let mx = MatMut::from_row_major_slice_mut(
                    &mut s.m[xi * so..][..g.cout * t_pad],
                    g.cout,
                    t_pad,
                );
                product(mx, Accum::Replace, ux, vx.transpose());
            }
            let corners = &corners[..m * th * tw];
            transform_outputs(g, &s.m, so, corners, bias, yg);
        }
    })
}

/// The forward convolution: `x` `[n, cin, h, w]`, `weight` `[cout, cin, 3, 3]`, `bias`
/// `[cout]` → `[n, cout, hout, wout]`. Only for geometries [`applies`] takes.
pub fn forward(g: &ConvGeometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    debug_assert!(applies(g));
    let su = slice_stride(g.cout, g.cin);
    let u = transform_kernels(g.cout, g.cin, weight, su);
    forward_transformed(g, x, &u, su, bias)
}

/// The input gradient: `dy` `[n, cout, hout, wout]` → `[n, cin, h, w]`, as the forward
/// convolution of `dy` padded by `2 − padding` with the flipped kernel, channels swapped.
pub fn input_gradient(g: &ConvGeometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    debug_assert!(applies_to_input_gradient(g));
    let t = ConvGeometry {
        n: g.n,
        cin: g.cout,
        h: g.hout(),
        w: g.wout(),
        cout: g.cin,
        kh: 3,
        kw: 3,
        stride: [1, 1],
        padding: [2 - g.padding[0], 2 - g.padding[1]],
    };
    let mut flipped = vec![0f32; weight.len()];
    for co in 0..g.cout {
        for ci in 0..g.cin {
            let src = &weight[(co * g.cin + ci) * 9..][..9];
            let dst = &mut flipped[(ci * g.cout + co) * 9..][..9];
            for (k, d) in dst.iter_mut().enumerate() {
                *d = src[8 - k];
            }
        }
    }
    let su = slice_stride(t.cout, t.cin);
    let u = transform_kernels(t.cout, t.cin, &flipped, su);
    forward_transformed(&t, dy, &u, su, None)
}

/// The weight gradient `[cout, cin, 3, 3]`: per chunk of images, `dU_ξ` summed over its
/// tiles; the chunks' sums added in chunk order (the same result on every run with the same
/// number of threads), then transformed back.
pub fn weight_gradient(g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    debug_assert!(applies(g));
    let (th, tw) = tiles(g);
    let (ho, wo) = (g.hout(), g.wout());
    let (x_len, y_len) = (g.cin * g.h * g.w, g.cout * ho * wo);
    // One chunk per thread: each chunk keeps 16 accumulators of `[cout, cin]`, and the more
    // tiles a product sums over, the fewer times they are read and written.
    let step = share(g.n);
    let nb = group(g);
    let pairs = g.cout * g.cin;
    if g.n == 0 {
        return vec![0f32; pairs * 9];
    }
    let sa = slice_stride(g.cout, g.cin);
    let du = x
        .par_chunks(x_len * step)
        .zip(dy.par_chunks(y_len * step))
        .map(|(xs, dys)| {
            crate::isa::clear_upper_state();
            let mut acc = vec![0f32; 16 * sa];
            let mut s = Scratch::new(g, nb);
            // The tiles of a full group; a shorter last group uses the first ones.
            let corners = tile_corners(g, nb, g.cout);
            for (first, (xg, dyg)) in xs
                .chunks(x_len * nb)
                .zip(dys.chunks(y_len * nb))
                .enumerate()
            {
                let Group { m, t_pad, sv, so } = s.transform_inputs(g, xg);
                let corners = &corners[..m * th * tw];
                transform_output_gradients(g, dyg, corners, &mut s.m, so);
                // The first group replaces: `acc` is fresh memory, and reading it before
                // writing would map the shared zero page, then copy it on the first write (a
                // fault and a TLB flush on every core for each page).
                let accum = if first == 0 {
                    Accum::Replace
                } else {
                    Accum::Add
                };
                for xi in 0..16 {
                    let wx = MatRef::from_row_major_slice(
                        &s.m[xi * so..][..g.cout * t_pad],
                        g.cout,
                        t_pad,
                    );
                    let vx = MatRef::from_row_major_slice(
                        &s.v[xi * sv..][..t_pad * g.cin],
                        t_pad,
                        g.cin,
                    );
                    let ax = MatMut::from_row_major_slice_mut(
                        &mut acc[xi * sa..][..pairs],
                        g.cout,
                        g.cin,
                    );
                    product(ax, accum, wx, vx);
                }
            }
            acc
        })
        .collect::<Vec<_>>();
    // The chunks' sums added in chunk order and transformed back, 16 channel pairs at a time.
    let mut dw = vec![0f32; pairs * 9];
    dw.par_chunks_mut(9 * LANES)
        .enumerate()
        .for_each(|(block, dg)| {
            let p0 = block * LANES;
            let du: [Lane; 16] = std::array::from_fn(|xi| {
                let mut sum = load(&du[0][xi * sa + p0..]);
                for acc in &du[1..] {
                    sum = add(&sum, &load(&acc[xi * sa + p0..]));
                }
                sum
            });
            for (l, k) in dg.chunks_mut(9).enumerate() {
                let t: [[f32; 4]; 4] =
                    std::array::from_fn(|r| std::array::from_fn(|c| du[4 * r + c][l]));
                transform_kernel_gradient(&t, k);
            }
        });
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::tests::{close, definitions, geometry};
    use crate::test_data::pseudo;

    /// Every part against its definition in f64: paddings 0, 1 and 2 and one of each on the
    /// two axes; odd output sizes (tiles cut at the edge), outputs of 2×2 and 1×1 (a tile
    /// mostly padding), more input than output channels and the reverse, and batches that
    /// leave a short last group of images.
    #[test]
    fn every_part_equals_its_definition() {
        // First a larger shape with large values, so that the threads' pooled scratch buffers
        // hold stale data of other shapes when the cases below reuse them.
        let big = geometry(8, 64, 9, 9, 64, [3, 3], [1, 1], [1, 1]);
        let xb: Vec<f32> = pseudo(big.n * big.cin * big.h * big.w, 30)
            .iter()
            .map(|v| v * 1e3)
            .collect();
        let wb = pseudo(big.cout * big.k(), 29);
        let yb = forward(&big, &xb, &wb, None);
        let _ = weight_gradient(&big, &xb, &yb);
        let _ = input_gradient(&big, &wb, &yb);
        for g in [
            geometry(3, 32, 5, 7, 48, [3, 3], [1, 1], [1, 1]),
            geometry(2, 48, 6, 4, 32, [3, 3], [1, 1], [0, 0]),
            geometry(2, 32, 4, 5, 32, [3, 3], [1, 1], [2, 2]),
            geometry(2, 32, 4, 6, 32, [3, 3], [1, 1], [1, 0]),
            geometry(5, 32, 2, 2, 32, [3, 3], [1, 1], [1, 1]),
            geometry(3, 32, 3, 3, 32, [3, 3], [1, 1], [0, 0]),
        ] {
            assert!(applies(&g) && applies_to_input_gradient(&g), "{g:?}");
            let x = pseudo(g.n * g.cin * g.h * g.w, 31);
            let w = pseudo(g.cout * g.k(), 32);
            let b = pseudo(g.cout, 33);
            let dy = pseudo(g.n * g.cout * g.l(), 34);
            let (y0, dx0, dw0) = definitions(&g, &x, &w, &b, &dy);
            close("forward", &forward(&g, &x, &w, Some(&b)), &y0, &g);
            close("input gradient", &input_gradient(&g, &w, &dy), &dx0, &g);
            close("weight gradient", &weight_gradient(&g, &x, &dy), &dw0, &g);
        }
    }

    /// The transforms of one tile by hand: a 4×4 patch of ones through a 3×3 kernel of ones
    /// gives 9 at each of the four outputs (no padding), and the kernel transform of a single
    /// centre tap is the outer product of G's middle column with itself.
    #[test]
    fn one_tile_by_hand() {
        let g = geometry(1, 32, 4, 4, 32, [3, 3], [1, 1], [0, 0]);
        let x = vec![1f32; 32 * 16];
        let mut w = vec![0f32; 32 * 32 * 9];
        // Output channel 0 sums input channel 0 over the window; channel 1 picks the centre
        // of input channel 1.
        w[..9].fill(1.0);
        w[(32 + 1) * 9 + 4] = 1.0;
        let y = forward(&g, &x, &w, None);
        assert_eq!(&y[..4], &[9.0; 4]);
        assert_eq!(&y[4..8], &[1.0; 4]);
        assert!(y[8..].iter().all(|v| *v == 0.0));
        let mut centre = [0f32; 9];
        centre[4] = 1.0;
        let col = [0.0, 0.5, -0.5, 0.0];
        let u = transform_kernel(&centre);
        for r in 0..4 {
            for c in 0..4 {
                assert_eq!(u[r][c], col[r] * col[c]);
            }
        }
    }

    /// Through the kernels' dispatch, at a VGG11 shape across threads: the Winograd route
    /// agrees with the im2col route to rounding, and the weight gradient, summed per chunk in
    /// a fixed order, repeats bit for bit.
    #[test]
    fn agrees_with_the_column_route_and_repeats() {
        let g = geometry(16, 64, 8, 8, 32, [3, 3], [1, 1], [1, 1]);
        let x = pseudo(g.n * g.cin * g.h * g.w, 41);
        let w = pseudo(g.cout * g.k(), 42);
        let b = pseudo(g.cout, 43);
        let dy = pseudo(g.n * g.cout * g.l(), 44);
        let dw = crate::kernels::weight_gradient(&g, &x, &dy);
        assert!(crate::kernels::weight_gradient(&g, &x, &dy) == dw);
        let pairs = [
            (
                crate::kernels::forward(&g, &x, &w, Some(&b)),
                crate::kernels::forward_columns(&g, &x, &w, Some(&b)),
            ),
            (
                crate::kernels::input_gradient(&g, &w, &dy),
                crate::kernels::input_gradient_columns(&g, &w, &dy),
            ),
            (dw, crate::kernels::weight_gradient_columns(&g, &x, &dy)),
        ];
        for (ours, columns) in pairs {
            let scale = columns.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (a, b) in ours.iter().zip(&columns) {
                assert!((a - b).abs() <= 1e-5 * scale.max(1.0), "{a} vs {b}");
            }
        }
    }
}
