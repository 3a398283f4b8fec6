//! The direct convolution with one vector per output position, its lanes the output channels:
//! for convolutions with exactly LANES (16) output channels (LeNet5's second convolution, the
//! 16-channel layers of the ×1/4 networks).
//!
//! The wide layout of the parent module computes LANES consecutive values of one channel's
//! wide run at a time, across row ends, so it also computes the columns past the output's
//! width: on LeNet5's second convolution (10×10 outputs from rows 14 wide) 144 lanes for 100
//! outputs. Here a vector is one output position's 16 channels and only outputs are computed.
//!
//! - forward: y[·, o] = Σ_k W[·, k]·x[base(o) + offset(k)], P positions at a time in
//!   registers. Each output's sum runs over the taps in the same order and with the same fused
//!   operations as in the wide kernel, so the two give the same numbers bit for bit.
//! - weight gradient: dW[·, k] = Σ_o dy[·, o]·x[base(o) + offset(k)], T taps at a time in
//!   registers, the output gradient transposed to `[position, channel]` once per image; per
//!   image and tap the sum runs over the positions in order.
//!
//! base(o) = row(o)·wp + column(o) is where output o's window starts in the padded buffer.

use super::registers::{Avx2, Avx512};
use super::{Isa, LANES, Lanes, Layout};
use crate::kernels::ConvGeometry;

/// Whether the channel layout takes convolution `g`: exactly LANES output channels, where the wide layout would spend at least a quarter of its
/// lanes past the output's width (LeNet5's second convolution: 44 of 144). Measured per step
/// (BENCHMARKS.md): there, the weight gradient runs faster in this layout on both instruction
/// sets and the forward pass with AVX2 (it is load-bound with AVX-512: 1 load per fused
/// multiply-add); on 32×32 images with 16 channels (6% of the wide lanes spent) the wide layout
/// is faster in every pass. The rule depends on the shape only, so that both instruction sets
/// compute the same numbers.
pub(super) fn applies(g: &ConvGeometry) -> bool {
    // The wide layout's lanes: whole positions over hout rows of the padded width.
    let wide = (g.hout() * (g.w + 2 * g.padding[1])).next_multiple_of(LANES);
    g.cout == LANES && 4 * (wide - g.hout() * g.wout()) >= wide
}

/// Output positions per group of the forward pass (accumulators held in registers).
const fn positions(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 10,
        Isa::Avx2 => 5,
    }
}

/// Taps per block of the weight gradient.
pub(super) const fn tap_block(isa: Isa) -> usize {
    positions(isa)
}

/// Where output `o`'s window starts in the padded buffer.
#[inline(always)]
fn base(lay: &Layout, o: usize) -> usize {
    (o / lay.wo) * lay.wp + o % lay.wo
}

/// Panics unless every tap of every output reads inside `buf`: what the unchecked loads of the
/// kernels rely on.
fn check_reads(lay: &Layout, buf: &[f32]) {
    if lay.out_len == 0 {
        return;
    }
    let last = base(lay, lay.out_len - 1);
    let max_offset = lay.offsets.iter().copied().max().unwrap_or(0);
    assert!(last + max_offset < buf.len(), "padded buffer too short");
}

/// One image's forward convolution: `packed` the weights `[taps, LANES]`, `y` `[LANES,
/// hout·wout]`. A short last group repeats its last position and stores only its own.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // constant indices keep the accumulators in registers
fn forward_image<V: Lanes, const P: usize>(
    lay: &Layout,
    buf: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let (taps, outs) = (lay.taps, lay.out_len);
    check_reads(lay, buf);
    assert!(packed.len() >= taps * LANES && y.len() == LANES * outs);
    let mut lanes = [0f32; LANES];
    for first in (0..outs).step_by(P) {
        let count = P.min(outs - first);
        let mut at = [0usize; P];
        for (p, a) in at.iter_mut().enumerate() {
            *a = base(lay, first + p.min(count - 1));
        }
        let mut acc = [V::zero(); P];
        for (t, &off) in lay.offsets[..taps].iter().enumerate() {
            // SAFETY: t < taps and packed holds taps·LANES values (asserted above).
            #[allow(unsafe_code)]
            let wv = unsafe { V::load_within(packed, t * LANES) };
            for p in 0..P {
                // SAFETY: at[p] + off ≤ base(last output) + max offset < buf.len() (checked).
                #[allow(unsafe_code)]
                let xs = unsafe { *buf.get_unchecked(at[p] + off) };
                acc[p] = acc[p].mul_add_scalar(xs, wv);
            }
        }
        for p in 0..P {
            if p < count {
                acc[p].store(&mut lanes, 0);
                for (co, v) in lanes.iter().enumerate() {
                    y[co * outs + first + p] = v + bias.map_or(0.0, |b| b[co]);
                }
            }
        }
    }
}

/// One image's output gradient `dy` (`[LANES, hout·wout]`) transposed to `[hout·wout, LANES]`.
pub(super) fn transpose_output_gradient(lay: &Layout, dy: &[f32], dyt: &mut [f32]) {
    let outs = lay.out_len;
    for (co, plane) in dy.chunks_exact(outs).enumerate() {
        for (o, v) in plane.iter().enumerate() {
            dyt[o * LANES + co] = *v;
        }
    }
}

/// One image's weight gradient added to `acc` (`[padded taps, LANES]`): `buf` its padded
/// buffer, `dyt` its output gradient from [`transpose_output_gradient`]. Taps go T at a time.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // constant indices keep the accumulators in registers
fn weight_gradient_image<V: Lanes, const T: usize>(
    lay: &Layout,
    buf: &[f32],
    dyt: &[f32],
    acc: &mut [f32],
) {
    check_reads(lay, buf);
    let ho = lay.out_len / lay.wo.max(1);
    assert!(dyt.len() >= lay.out_len * LANES && acc.len() == lay.offsets.len() * LANES);
    for (kb, offs) in lay.offsets.chunks_exact(T).enumerate() {
        let offs: [usize; T] = offs.try_into().expect("T taps");
        let mut sums = [V::zero(); T];
        for r in 0..ho {
            for col in 0..lay.wo {
                let (o, b) = (r * lay.wo + col, r * lay.wp + col);
                // SAFETY: o < hout·wout and dyt holds that many vectors (asserted above).
                #[allow(unsafe_code)]
                let dv = unsafe { V::load_within(dyt, o * LANES) };
                for j in 0..T {
                    // SAFETY: b = base(o) and b + offs[j] < buf.len() (checked above).
                    #[allow(unsafe_code)]
                    let xs = unsafe { *buf.get_unchecked(b + offs[j]) };
                    sums[j] = sums[j].mul_add_scalar(xs, dv);
                }
            }
        }
        for j in 0..T {
            let at = (kb * T + j) * LANES;
            V::load(acc, at).add(sums[j]).store(acc, at);
        }
    }
}

/// The kernels compiled for each instruction set (see the parent's `compiled`).
mod compiled {
    use super::*;

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub fn forward_avx512(
        lay: &Layout,
        buf: &[f32],
        packed: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
    ) {
        forward_image::<Avx512, { positions(Isa::Avx512) }>(lay, buf, packed, bias, y)
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn forward_avx2(
        lay: &Layout,
        buf: &[f32],
        packed: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
    ) {
        forward_image::<Avx2, { positions(Isa::Avx2) }>(lay, buf, packed, bias, y)
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub fn weight_gradient_avx512(lay: &Layout, buf: &[f32], dyt: &[f32], acc: &mut [f32]) {
        weight_gradient_image::<Avx512, { tap_block(Isa::Avx512) }>(lay, buf, dyt, acc)
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn weight_gradient_avx2(lay: &Layout, buf: &[f32], dyt: &[f32], acc: &mut [f32]) {
        weight_gradient_image::<Avx2, { tap_block(Isa::Avx2) }>(lay, buf, dyt, acc)
    }
}

/// [`forward_image`] through the variant for `isa`.
pub(super) fn run_forward(
    isa: Isa,
    lay: &Layout,
    buf: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    #[allow(unsafe_code)]
    // SAFETY: `isa()` detected the features each variant is compiled with on this CPU.
    unsafe {
        match isa {
            Isa::Avx512 => compiled::forward_avx512(lay, buf, packed, bias, y),
            Isa::Avx2 => compiled::forward_avx2(lay, buf, packed, bias, y),
        }
    }
}

/// [`weight_gradient_image`] through the variant for `isa`.
pub(super) fn run_weight_gradient(
    isa: Isa,
    lay: &Layout,
    buf: &[f32],
    dyt: &[f32],
    acc: &mut [f32],
) {
    #[allow(unsafe_code)]
    // SAFETY: `isa()` detected the features each variant is compiled with on this CPU.
    unsafe {
        match isa {
            Isa::Avx512 => compiled::weight_gradient_avx512(lay, buf, dyt, acc),
            Isa::Avx2 => compiled::weight_gradient_avx2(lay, buf, dyt, acc),
        }
    }
}
