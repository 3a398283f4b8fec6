//! A direct convolution for few output channels at stride 1 (LeNet5's 6 and 16 channels),
//! without im2col columns.
//!
//! With few output channels the im2col route spends most of its time building columns: rows of
//! 28 or 10 values copied one short row at a time, K/cin times the input's size written and
//! read back by the product's packing, for products too narrow to run near the machine's speed.
//! Here each image is copied once into a zero-padded buffer and every output vector (16
//! consecutive outputs of one row, one "position") is the sum over the kernel's taps
//! k = (c, ki, kj) of a weight times the 16 consecutive padded-input values that start at
//! `position + offset(k)` — one register-sized load per tap and position, no columns.
//!
//! - forward: y[co, position] = Σ_k W[co, k]·x[position + offset(k)], a small product held in
//!   registers (CB output channels × P positions);
//! - weight gradient: dW[co, k] = Σ_positions Σ_lanes dy[co, position]·x[position + offset(k)]
//!   (CB channels × KB taps in registers, output-gradient lanes past the row's end zero), per
//!   image summed across lanes in a fixed order, per chunk of images summed in chunk order;
//! - input gradient: the forward convolution of the output gradient, padded by kernel − 1 −
//!   padding, with the weights flipped and their channel axes swapped (stride 1).
//!
//! Taps whose kernel row reads only the zero padding for every output of a group of positions
//! are skipped (the input gradient pads by kernel − 1 − padding: LeNet5's second convolution's
//! input gradient reads 18×18 for 10×10 values).
//!
//! Convolutions with exactly 16 output channels on images narrow enough that the wide layout
//! spends a quarter of its lanes or more past the output's width (LeNet5's second) take a
//! second layout, `channels`, for the weight gradient and, with AVX2, the forward pass: one
//! vector per output position, its lanes the channels, so that no lane is spent past the
//! output's width. Its forward pass gives the wide layout's numbers bit for bit.
//!
//! The lanes of a vector are independent and summed in a fixed order, so the AVX2 and AVX-512
//! variants give the same numbers. Both need FMA; on other CPUs, and off x86-64, the im2col
//! route runs.

use crate::kernels::{ConvGeometry, chunk, per_image_chunks};
use rayon::prelude::*;

mod channels;

/// Outputs per position: one 512-bit register, or two 256-bit ones.
const LANES: usize = 16;

/// The most output channels (input channels for the input gradient) the direct route takes.
pub const MAX_CHANNELS: usize = 16;

/// The vector instructions the direct kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    Avx512,
    Avx2,
}

/// The kernels' instruction set on this CPU, or none (read once). `INFOPLANE_ISA=avx2` caps it
/// at AVX2 as it does the products (crate::isa).
fn isa() -> Option<Isa> {
    static ISA: std::sync::OnceLock<Option<Isa>> = std::sync::OnceLock::new();
    *ISA.get_or_init(|| {
        use std::arch::is_x86_feature_detected as has;
        if !(has!("avx2") && has!("fma")) {
            None
        } else if has!("avx512f") && !crate::isa::avx2_cap() {
            Some(Isa::Avx512)
        } else {
            Some(Isa::Avx2)
        }
    })
}

/// Whether [`forward`] and [`weight_gradient`] take this convolution.
pub fn applies(g: &ConvGeometry) -> bool {
    isa().is_some() && g.stride == [1, 1] && g.cout <= MAX_CHANNELS && !pointwise(g)
}

/// Whether [`input_gradient`] takes this convolution: its transposed form (input channels as
/// outputs, padding kernel − 1 − padding) must be one [`applies`] would take.
pub fn applies_to_input_gradient(g: &ConvGeometry) -> bool {
    isa().is_some()
        && g.stride == [1, 1]
        && g.cin <= MAX_CHANNELS
        && g.padding[0] < g.kh
        && g.padding[1] < g.kw
        && !pointwise(g)
}

/// A 1×1 convolution: its columns are the input itself, nothing for this route to save.
fn pointwise(g: &ConvGeometry) -> bool {
    g.kh == 1 && g.kw == 1
}

/// One image's padded buffer, the offsets into it, and where each lane's output goes.
///
/// The output is computed "wide": at every column of the padded width (the last kernel − 1
/// columns of each row are not outputs), so that it is one run of `hout·wp` values and a
/// position — LANES consecutive values of that run — reads LANES consecutive values of the
/// buffer at every tap, across row ends. Lanes that are not outputs are not stored, and their
/// output gradient is zero in the weight gradient.
struct Layout {
    cin: usize,
    h: usize,
    w: usize,
    /// Padding (height, width).
    pad: [usize; 2],
    /// Padded height and width.
    hp: usize,
    wp: usize,
    /// Output values per channel (hout·wout).
    out_len: usize,
    /// offset(k) for every tap k = (c, ki, kj), then zeros up to a multiple of the tap block.
    offsets: Vec<usize>,
    /// Taps before the padding of `offsets`.
    taps: usize,
    /// Kernel height and width.
    kh: usize,
    kw: usize,
    /// Output width.
    wo: usize,
    /// Positions: the wide run's `hout·wp` values, LANES at a time.
    positions: usize,
}

impl Layout {
    fn new(g: &ConvGeometry, tap_block: usize) -> Layout {
        let (hp, wp) = (g.h + 2 * g.padding[0], g.w + 2 * g.padding[1]);
        let (ho, wo) = (g.hout(), g.wout());
        let mut offsets = Vec::with_capacity(g.k().next_multiple_of(tap_block));
        for c in 0..g.cin {
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    offsets.push((c * hp + ki) * wp + kj);
                }
            }
        }
        let taps = offsets.len();
        offsets.resize(taps.next_multiple_of(tap_block), 0);
        let positions = (ho * wp).div_ceil(LANES);
        Layout {
            cin: g.cin,
            h: g.h,
            w: g.w,
            pad: g.padding,
            hp,
            wp,
            out_len: ho * wo,
            offsets,
            taps,
            kh: g.kh,
            kw: g.kw,
            wo,
            positions,
        }
    }

    /// The padded buffer's length: the image, and at least what the last lane of the last
    /// position reads at the last tap (zeros past the image).
    fn buffer_len(&self) -> usize {
        let max_offset = self.offsets.iter().copied().max().unwrap_or(0);
        (self.cin * self.hp * self.wp).max(self.positions * LANES + max_offset)
    }

    /// Copies image `x` (`[cin, h, w]`) into `buf`, whose padding is already zero.
    fn fill(&self, x: &[f32], buf: &mut [f32]) {
        for (c, plane) in x.chunks_exact(self.h * self.w).enumerate() {
            for (iy, row) in plane.chunks_exact(self.w).enumerate() {
                let at = (c * self.hp + iy + self.pad[0]) * self.wp + self.pad[1];
                copy_row(row, &mut buf[at..at + self.w]);
            }
        }
    }

    /// Values per channel of the wide run, whole positions.
    fn wide_len(&self) -> usize {
        self.positions * LANES
    }

    /// The kernel rows `ki` (a range) that read the image for some output of positions
    /// `first..first + count`; the other rows read only the zero padding for every output of
    /// those positions.
    ///
    /// An output in wide row r and column < wout reads, at tap (c, ki, kj), row r + ki of
    /// channel c's padded image: image data only where pad ≤ r + ki < pad + h. Lanes past wout
    /// read elsewhere, but they are not outputs.
    fn kernel_rows(&self, first: usize, count: usize) -> std::ops::Range<usize> {
        let r0 = first * LANES / self.wp;
        let r1 = ((first + count) * LANES - 1) / self.wp;
        let lo = self.pad[0].saturating_sub(r1);
        let hi = (self.pad[0] + self.h).saturating_sub(r0).min(self.kh);
        lo..hi.max(lo)
    }
}

/// `dst = src` for short rows: a loop the compiler keeps inline (a call to `memcpy` per row of
/// 10 to 32 values costs more than the copy).
#[inline(always)]
fn copy_row(src: &[f32], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// LANES consecutive f32 values held in registers: one AVX-512 register or two AVX2 ones.
/// Implementations use their instruction set's intrinsics without checking for it: they are
/// only reached through the wrappers of `compiled`, which enable those features and are only
/// called after `isa()` found them.
trait Lanes: Copy {
    fn zero() -> Self;
    /// `v[at..at + LANES]` (bounds-checked).
    fn load(v: &[f32], at: usize) -> Self;
    /// `v[at..at + LANES]`, not checked.
    ///
    /// # Safety
    /// `at + LANES ≤ v.len()`.
    #[allow(unsafe_code)]
    unsafe fn load_within(v: &[f32], at: usize) -> Self;
    /// `self + a·b`, fused, lane by lane.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// `self + a`, lane by lane.
    fn add(self, a: Self) -> Self;
    /// `self + s·b`, fused, lane by lane.
    fn mul_add_scalar(self, s: f32, b: Self) -> Self;
    /// `v[at..at + LANES] = self` (bounds-checked).
    fn store(self, v: &mut [f32], at: usize);
}

#[allow(unsafe_code)]
mod registers;

/// The lanes' sum, in a fixed order (halves added pairwise).
#[inline(always)]
fn lane_sum(v: &[f32; LANES]) -> f32 {
    let mut s = *v;
    let mut half = LANES / 2;
    while half > 0 {
        for i in 0..half {
            s[i] += s[i + half];
        }
        half /= 2;
    }
    s[0]
}

/// Weights `[cout, K]` regrouped by blocks of `cb` channels, tap-major inside a block:
/// `[blocks, K, cb]`, channels past `cout` zero.
fn pack_weights(weight: &[f32], cout: usize, k: usize, cb: usize) -> Vec<f32> {
    let blocks = cout.div_ceil(cb);
    let mut packed = vec![0f32; blocks * k * cb];
    for co in 0..cout {
        let (b, c) = (co / cb, co % cb);
        for t in 0..k {
            packed[(b * k + t) * cb + c] = weight[co * k + t];
        }
    }
    packed
}

/// Output channels per block: 3 or 4 with AVX-512, 2 or 3 with AVX2, whichever pads `cout`
/// least (the larger on a tie). The forward pass with AVX2 takes 2: its 16 registers hold no
/// more accumulators without spilling (seen in the generated code with 3).
fn channel_block(isa: Isa, cout: usize, forward: bool) -> usize {
    let (small, large) = match isa {
        Isa::Avx512 => (3, 4),
        Isa::Avx2 if forward => return 2,
        Isa::Avx2 => (2, 3),
    };
    if cout.next_multiple_of(small) < cout.next_multiple_of(large) {
        small
    } else {
        large
    }
}

/// One image's forward convolution: `buf` its padded buffer, `packed` the weights in blocks of
/// CB channels, `y` `[cout, hout·wout]`, `wide` room for one block's wide output (CB wide
/// runs). Positions go P at a time (a short last group repeats its last position and stores
/// only its own).
#[inline(always)]
#[allow(clippy::needless_range_loop)] // constant indices keep the accumulators in registers
fn forward_image<V: Lanes, const CB: usize, const P: usize>(
    lay: &Layout,
    buf: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    wide: &mut [f32],
) {
    let taps = lay.taps;
    let cout = y.len() / lay.out_len;
    let wide_len = lay.wide_len();
    let span = lay.offsets[..taps].iter().copied().max().unwrap_or(0) + LANES;
    for (b, wb) in packed.chunks_exact(taps * CB).enumerate() {
        for first in (0..lay.positions).step_by(P) {
            let count = P.min(lay.positions - first);
            let mut at = [0usize; P];
            for (p, a) in at.iter_mut().enumerate() {
                *a = (first + p.min(count - 1)) * LANES;
                // What `load_within` below relies on: every tap of this position is inside.
                assert!(*a + span <= buf.len(), "padded buffer too short");
            }
            let mut acc = [[V::zero(); P]; CB];
            // Taps whose rows read only zero padding for every output here are skipped: their
            // terms are zeros (tap order is c, ki, kj, so the others are one run per channel).
            let rows = lay.kernel_rows(first, count);
            for ch in 0..lay.cin {
                let run = (ch * lay.kh + rows.start) * lay.kw..(ch * lay.kh + rows.end) * lay.kw;
                let weights = wb[run.start * CB..run.end * CB].chunks_exact(CB);
                for (wv, &off) in weights.zip(&lay.offsets[run]) {
                    let mut xv = [V::zero(); P];
                    for p in 0..P {
                        // SAFETY: at[p] + off + LANES ≤ at[p] + span ≤ buf.len() (asserted
                        // above).
                        #[allow(unsafe_code)]
                        unsafe {
                            xv[p] = V::load_within(buf, at[p] + off);
                        }
                    }
                    for c in 0..CB {
                        for p in 0..P {
                            acc[c][p] = acc[c][p].mul_add_scalar(wv[c], xv[p]);
                        }
                    }
                }
            }
            // Constant indices only (c, p), so that the accumulators stay in registers.
            for c in 0..CB {
                for p in 0..P {
                    if p < count {
                        acc[c][p].store(wide, c * wide_len + (first + p) * LANES);
                    }
                }
            }
        }
        // The block's outputs: the first wout values of each wide row, plus the bias.
        for c in 0..CB.min(cout - b * CB) {
            let co = b * CB + c;
            let bv = bias.map_or(0.0, |bias| bias[co]);
            let out = &mut y[co * lay.out_len..(co + 1) * lay.out_len];
            let from = &wide[c * wide_len..(c + 1) * wide_len];
            for (row, src) in out.chunks_exact_mut(lay.wo).zip(from.chunks(lay.wp)) {
                for (d, v) in row.iter_mut().zip(src) {
                    *d = v + bv;
                }
            }
        }
    }
}

/// One image's output gradient `dy` (`[cout, hout·wout]`) as wide runs, `[channels, wide
/// run]`: each row at its place in the padded width. What is never written — the columns past
/// wout, the run's end, channels past `cout` — stays zero from the allocation, so those lanes
/// add nothing to the weight gradient.
fn pack_output_gradient(lay: &Layout, dy: &[f32], packed: &mut [f32]) {
    let wide_len = lay.wide_len();
    for (plane, to) in dy
        .chunks_exact(lay.out_len)
        .zip(packed.chunks_exact_mut(wide_len))
    {
        for (row, dst) in plane.chunks_exact(lay.wo).zip(to.chunks_mut(lay.wp)) {
            copy_row(row, &mut dst[..lay.wo]);
        }
    }
}

/// One image's weight gradient added to `acc` (`[blocks·CB, padded taps, LANES]`: lane sums
/// are taken once per chunk of images): `buf` its padded
/// buffer, `packed_dy` its output gradient from [`pack_output_gradient`] (blocks·CB wide
/// runs). Taps go KB at a time.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // constant indices keep the accumulators in registers
fn weight_gradient_image<V: Lanes, const CB: usize, const KB: usize>(
    lay: &Layout,
    buf: &[f32],
    packed_dy: &[f32],
    acc: &mut [f32],
) {
    let kp = lay.offsets.len();
    let npos = lay.positions;
    let span = lay.offsets.iter().copied().max().unwrap_or(0) + LANES;
    assert!(
        (npos.max(1) - 1) * LANES + span <= buf.len(),
        "padded buffer too short"
    );
    let wide_len = lay.wide_len();
    for (b, dyb) in packed_dy.chunks_exact(CB * wide_len).enumerate() {
        for (kb, offs) in lay.offsets.chunks_exact(KB).enumerate() {
            let offs: [usize; KB] = offs.try_into().expect("KB taps");
            // Each tap's view of the buffer, made once (the loop below only adds `at`).
            let xs = offs.map(|o| &buf[o..]);
            let mut sums = [[V::zero(); KB]; CB];
            for p in 0..npos {
                let at = p * LANES;
                let mut dv = [V::zero(); CB];
                for (c, v) in dv.iter_mut().enumerate() {
                    // SAFETY: c·wide_len + at + LANES ≤ CB·wide_len = dyb.len() (p < npos).
                    #[allow(unsafe_code)]
                    unsafe {
                        *v = V::load_within(dyb, c * wide_len + at);
                    }
                }
                for j in 0..KB {
                    // SAFETY: at + LANES ≤ (npos − 1)·LANES + span − offs[j] ≤ buf.len() −
                    // offs[j] = xs[j].len() (asserted above).
                    #[allow(unsafe_code)]
                    let xv = unsafe { V::load_within(xs[j], at) };
                    for c in 0..CB {
                        sums[c][j] = sums[c][j].mul_add(dv[c], xv);
                    }
                }
            }
            for c in 0..CB {
                for j in 0..KB {
                    let at = ((b * CB + c) * kp + kb * KB + j) * LANES;
                    V::load(acc, at).add(sums[c][j]).store(acc, at);
                }
            }
        }
    }
}

/// The per-image kernels compiled for one instruction set: each wrapper enables the set's
/// features for the inlined generic body, so that its fixed-size loops become vector code.
mod compiled {
    use super::registers::{Avx2, Avx512};
    use super::{Layout, forward_image, weight_gradient_image};

    macro_rules! variants {
        (
            $feature:literal, $v:ty, $fwd:ident, $wgrad:ident,
            [$(($fcb:literal, $fp:literal)),*], [$($cb:literal),*], $kb:literal
        ) => {
            /// [`forward_image`] for this instruction set, (CB, P) = `block`.
            #[target_feature(enable = $feature)]
            pub fn $fwd(
                lay: &Layout,
                buf: &[f32],
                packed: &[f32],
                bias: Option<&[f32]>,
                y: &mut [f32],
                wide: &mut [f32],
                block: (usize, usize),
            ) {
                match block {
                    $(($fcb, $fp) => forward_image::<$v, $fcb, $fp>(lay, buf, packed, bias, y, wide),)*
                    _ => unreachable!("forward block {block:?}"),
                }
            }

            /// [`weight_gradient_image`] for this instruction set, CB = `cb`.
            #[target_feature(enable = $feature)]
            pub fn $wgrad(
                lay: &Layout,
                buf: &[f32],
                packed_dy: &[f32],
                acc: &mut [f32],
                cb: usize,
            ) {
                match cb {
                    $($cb => weight_gradient_image::<$v, $cb, $kb>(lay, buf, packed_dy, acc),)*
                    _ => unreachable!("channel block {cb}"),
                }
            }
        };
    }

    variants!(
        "avx512f,avx2,fma",
        Avx512,
        forward_avx512,
        weight_gradient_avx512,
        [(3, 3), (3, 4), (4, 3), (4, 4)],
        [3, 4],
        4
    );
    variants!(
        "avx2,fma",
        Avx2,
        forward_avx2,
        weight_gradient_avx2,
        [(2, 2)],
        [2, 3],
        2
    );
}

/// Positions per group of the forward pass: 3 or 4 with AVX-512, whichever leaves the last
/// group least short (the larger on a tie); 2 with AVX2.
fn position_block(isa: Isa, positions: usize) -> usize {
    match isa {
        Isa::Avx512 if positions.next_multiple_of(3) < positions.next_multiple_of(4) => 3,
        Isa::Avx512 => 4,
        Isa::Avx2 => 2,
    }
}

/// Taps per block of the weight gradient for this instruction set.
fn tap_block(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 4,
        Isa::Avx2 => 2,
    }
}

/// [`forward_image`] through the variant for `isa`.
#[allow(clippy::too_many_arguments)]
fn run_forward(
    isa: Isa,
    lay: &Layout,
    buf: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    wide: &mut [f32],
    block: (usize, usize),
) {
    #[allow(unsafe_code)]
    // SAFETY: `isa()` detected the features each variant is compiled with on this CPU.
    unsafe {
        match isa {
            Isa::Avx512 => compiled::forward_avx512(lay, buf, packed, bias, y, wide, block),
            Isa::Avx2 => compiled::forward_avx2(lay, buf, packed, bias, y, wide, block),
        }
    }
}

/// [`weight_gradient_image`] through the variant for `isa`.
fn run_weight_gradient(
    isa: Isa,
    lay: &Layout,
    buf: &[f32],
    packed_dy: &[f32],
    acc: &mut [f32],
    cb: usize,
) {
    #[allow(unsafe_code)]
    // SAFETY: `isa()` detected the features each variant is compiled with on this CPU.
    unsafe {
        match isa {
            Isa::Avx512 => compiled::weight_gradient_avx512(lay, buf, packed_dy, acc, cb),
            Isa::Avx2 => compiled::weight_gradient_avx2(lay, buf, packed_dy, acc, cb),
        }
    }
}

/// The forward convolution (see [`crate::kernels::forward`]); only where [`applies`].
pub fn forward(g: &ConvGeometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let isa = isa().expect("direct::forward called where it does not apply");
    forward_with(isa, g, x, weight, bias)
}

/// The forward convolution in the channel layout where it applies and AVX2 runs it, in the
/// wide layout elsewhere.
fn forward_with(
    isa: Isa,
    g: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    // The two layouts give the same numbers here; the channel layout's forward pass is only
    // faster with AVX2.
    if isa == Isa::Avx2 && channels::applies(g) {
        forward_channels(isa, g, x, weight, bias)
    } else {
        forward_wide(isa, g, x, weight, bias)
    }
}

/// The forward convolution in the channel layout (`channels`); only for 16 output channels.
fn forward_channels(
    isa: Isa,
    g: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let lay = Layout::new(g, 1);
    let packed = pack_weights(weight, g.cout, g.k(), LANES);
    let (x_len, y_len) = (g.cin * g.h * g.w, g.cout * lay.out_len);
    per_image_chunks(g.n, y_len, x, x_len, chunk(g.n), |ys, xs| {
        let mut buf = vec![0f32; lay.buffer_len()];
        for (yn, xn) in ys.chunks_exact_mut(y_len).zip(xs.chunks_exact(x_len)) {
            lay.fill(xn, &mut buf);
            channels::run_forward(isa, &lay, &buf, &packed, bias, yn);
        }
        crate::isa::clear_upper_state();
    })
}

/// The forward convolution in the wide layout.
fn forward_wide(
    isa: Isa,
    g: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let cb = channel_block(isa, g.cout, true);
    let lay = Layout::new(g, 1);
    let block = (cb, position_block(isa, lay.positions));
    let packed = pack_weights(weight, g.cout, g.k(), cb);
    let (x_len, y_len) = (g.cin * g.h * g.w, g.cout * lay.out_len);
    per_image_chunks(g.n, y_len, x, x_len, chunk(g.n), |ys, xs| {
        let mut buf = vec![0f32; lay.buffer_len()];
        let mut wide = vec![0f32; cb * lay.wide_len()];
        for (yn, xn) in ys.chunks_exact_mut(y_len).zip(xs.chunks_exact(x_len)) {
            lay.fill(xn, &mut buf);
            run_forward(isa, &lay, &buf, &packed, bias, yn, &mut wide, block);
        }
        crate::isa::clear_upper_state();
    })
}

/// The input gradient (see [`crate::kernels::input_gradient`]); only where
/// [`applies_to_input_gradient`]: the forward convolution of `dy` padded by kernel − 1 −
/// padding with the weights flipped and their channel axes swapped.
pub fn input_gradient(g: &ConvGeometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let isa = isa().expect("direct::input_gradient called where it does not apply");
    input_gradient_with(isa, g, weight, dy)
}

fn input_gradient_with(isa: Isa, g: &ConvGeometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let t = ConvGeometry {
        n: g.n,
        cin: g.cout,
        h: g.hout(),
        w: g.wout(),
        cout: g.cin,
        kh: g.kh,
        kw: g.kw,
        stride: [1, 1],
        padding: [g.kh - 1 - g.padding[0], g.kw - 1 - g.padding[1]],
    };
    debug_assert_eq!((t.hout(), t.wout()), (g.h, g.w));
    let mut flipped = vec![0f32; weight.len()];
    for co in 0..g.cout {
        for c in 0..g.cin {
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    flipped[((c * g.cout + co) * g.kh + g.kh - 1 - ki) * g.kw + g.kw - 1 - kj] =
                        weight[((co * g.cin + c) * g.kh + ki) * g.kw + kj];
                }
            }
        }
    }
    forward_with(isa, &t, dy, &flipped, None)
}

/// The weight gradient (see [`crate::kernels::weight_gradient`]); only where [`applies`].
/// One accumulator per chunk of images, summed in chunk order: the same numbers on every run
/// with the same number of threads.
pub fn weight_gradient(g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let isa = isa().expect("direct::weight_gradient called where it does not apply");
    weight_gradient_with(isa, g, x, dy)
}

/// The weight gradient in the channel layout where it applies, in the wide layout elsewhere.
fn weight_gradient_with(isa: Isa, g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    if channels::applies(g) {
        weight_gradient_channels(isa, g, x, dy)
    } else {
        weight_gradient_wide(isa, g, x, dy)
    }
}

/// The weight gradient's parallel frame: one task per chunk of images, each with its padded
/// buffer and the scratch `scratch()` makes; `image(scratch, buffer, dy_n)` adds one image
/// (the buffer holds it), `finish(scratch)` gives the chunk's sums. The chunks' sums in chunk
/// order.
fn chunk_sums<S>(
    g: &ConvGeometry,
    lay: &Layout,
    x: &[f32],
    dy: &[f32],
    scratch: impl Fn() -> S + Sync,
    image: impl Fn(&mut S, &[f32], &[f32]) + Sync,
    finish: impl Fn(S) -> Vec<f32> + Sync,
) -> Vec<Vec<f32>> {
    let (x_len, y_len) = (g.cin * g.h * g.w, g.cout * lay.out_len);
    let step = chunk(g.n);
    x.par_chunks(x_len * step)
        .zip(dy.par_chunks(y_len * step))
        .map(|(xs, dys)| {
            crate::isa::clear_upper_state();
            let mut buf = vec![0f32; lay.buffer_len()];
            let mut s = scratch();
            for (xn, dyn_) in xs.chunks_exact(x_len).zip(dys.chunks_exact(y_len)) {
                lay.fill(xn, &mut buf);
                image(&mut s, &buf, dyn_);
            }
            crate::isa::clear_upper_state();
            finish(s)
        })
        .collect()
}

/// The weight gradient in the channel layout (`channels`); only where it applies. One
/// accumulator `[taps, LANES]` per chunk of images, summed in chunk order.
fn weight_gradient_channels(isa: Isa, g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let lay = Layout::new(g, channels::tap_block(isa));
    let (k, kp) = (g.k(), lay.offsets.len());
    let partial = chunk_sums(
        g,
        &lay,
        x,
        dy,
        || (vec![0f32; lay.out_len * LANES], vec![0f32; kp * LANES]),
        |(dyt, acc), buf, dyn_| {
            channels::transpose_output_gradient(&lay, dyn_, dyt);
            channels::run_weight_gradient(isa, &lay, buf, dyt, acc);
        },
        |(_, acc)| acc,
    );
    let mut dw = vec![0f32; g.cout * k];
    for acc in partial {
        for (t, lanes) in acc.chunks_exact(LANES).take(k).enumerate() {
            for (co, v) in lanes.iter().enumerate() {
                dw[co * k + t] += v;
            }
        }
    }
    dw
}

/// The weight gradient in the wide layout: one accumulator of vectors per chunk of images,
/// their lanes summed once per chunk, the chunks summed in chunk order.
fn weight_gradient_wide(isa: Isa, g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (cb, kb) = (channel_block(isa, g.cout, false), tap_block(isa));
    let lay = Layout::new(g, kb);
    let (k, kp, blocks) = (g.k(), lay.offsets.len(), g.cout.div_ceil(cb));
    let partial = chunk_sums(
        g,
        &lay,
        x,
        dy,
        || {
            (
                vec![0f32; blocks * cb * lay.wide_len()],
                vec![0f32; blocks * cb * kp * LANES],
            )
        },
        |(packed, acc), buf, dyn_| {
            pack_output_gradient(&lay, dyn_, packed);
            run_weight_gradient(isa, &lay, buf, packed, acc, cb);
        },
        |(_, acc)| {
            acc.chunks_exact(LANES)
                .map(|v| lane_sum(v.try_into().expect("LANES values")))
                .collect()
        },
    );
    let mut dw = vec![0f32; g.cout * k];
    for acc in partial {
        for co in 0..g.cout {
            for (d, a) in dw[co * k..(co + 1) * k]
                .iter_mut()
                .zip(&acc[co * kp..co * kp + k])
            {
                *d += a;
            }
        }
    }
    dw
}

#[cfg(test)]
mod tests;
