//! Tests of the direct convolution: every part against its definition, the two layouts and
//! the two instruction sets against each other, the im2col route at LeNet5's shapes.

use super::*;
use crate::kernels::tests::{close, definitions, geometry};
use crate::test_data::pseudo;

/// The instruction sets this CPU runs.
fn isas() -> Vec<Isa> {
    use std::arch::is_x86_feature_detected as has;
    let mut v = Vec::new();
    if has!("avx2") && has!("fma") {
        v.push(Isa::Avx2);
        if has!("avx512f") {
            v.push(Isa::Avx512);
        }
    }
    v
}

/// Every part against its definition, on LeNet5's two convolutions and on shapes that
/// exercise the edges: every channel count up to the limit (blocks of 2, 3 and 4 with a
/// short last one), rows narrower and wider than a vector, positions that cross row ends,
/// padding on one axis only, a kernel as tall as the padded input, one image and several.
/// With AVX2 and AVX-512 alike, and bit for bit the same between the two.
#[test]
fn every_part_equals_its_definition_on_both_instruction_sets() {
    let mut shapes = vec![
        geometry(3, 3, 32, 32, 6, [5, 5], [1, 1], [0, 0]),
        geometry(2, 6, 14, 14, 16, [5, 5], [1, 1], [0, 0]),
        geometry(2, 4, 9, 7, 5, [3, 3], [1, 1], [1, 1]),
        geometry(2, 2, 5, 21, 7, [3, 2], [1, 1], [1, 0]),
        geometry(1, 16, 8, 8, 16, [3, 3], [1, 1], [1, 1]),
        geometry(3, 1, 4, 4, 1, [2, 2], [1, 1], [1, 1]),
        geometry(2, 3, 3, 40, 2, [3, 1], [1, 1], [0, 0]),
    ];
    for cout in 1..=MAX_CHANNELS {
        shapes.push(geometry(2, 2, 6, 5, cout, [3, 3], [1, 1], [1, 1]));
    }
    let found = isas();
    if found.is_empty() {
        return;
    }
    for g in shapes {
        assert!(applies(&g) || isa().is_none(), "{g:?}");
        let x = pseudo(g.n * g.cin * g.h * g.w, 11);
        let w = pseudo(g.cout * g.k(), 12);
        let b = pseudo(g.cout, 13);
        let dy = pseudo(g.n * g.cout * g.l(), 14);
        let (y0, dx0, dw0) = definitions(&g, &x, &w, &b, &dy);
        let mut seen: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> = Vec::new();
        for &isa in &found {
            let y = forward_with(isa, &g, &x, &w, Some(&b));
            close("forward", &y, &y0, &g);
            let dx = input_gradient_with(isa, &g, &w, &dy);
            close("input gradient", &dx, &dx0, &g);
            let dw = weight_gradient_with(isa, &g, &x, &dy);
            close("weight gradient", &dw, &dw0, &g);
            seen.push((y, dx, dw));
        }
        for other in &seen[1..] {
            assert!(other == &seen[0], "AVX2 and AVX-512 differ on {g:?}");
        }
    }
}

/// The channel layout computes each output as the wide layout does (the same taps in the
/// same order, the same fused operations; the wide layout's skipped taps add zeros): the
/// same numbers bit for bit, with and without padding, on both instruction sets.
#[test]
fn the_channel_layout_repeats_the_wide_layout_bit_for_bit() {
    for g in [
        geometry(3, 6, 14, 14, 16, [5, 5], [1, 1], [0, 0]),
        geometry(2, 16, 9, 11, 16, [3, 3], [1, 1], [1, 1]),
        geometry(2, 3, 7, 5, 16, [3, 3], [1, 1], [2, 0]),
        geometry(1, 2, 3, 4, 16, [3, 3], [1, 1], [3, 3]),
    ] {
        let x = pseudo(g.n * g.cin * g.h * g.w, 51);
        let w = pseudo(g.cout * g.k(), 52);
        let b = pseudo(g.cout, 53);
        for isa in isas() {
            let channels = forward_channels(isa, &g, &x, &w, Some(&b));
            let wide = forward_wide(isa, &g, &x, &w, Some(&b));
            assert!(channels == wide, "{isa:?} {g:?}");
        }
    }
}

/// The channel layout takes LeNet5's second convolution (the wide layout: 144 lanes for 100
/// outputs) and not the ×1/4 networks' 16-channel 32×32 convolutions (1,088 for 1,024), nor
/// fewer or more than 16 channels.
#[test]
fn the_channel_layout_takes_narrow_images_with_16_channels() {
    let takes = |g: ConvGeometry| channels::applies(&g);
    assert!(takes(geometry(128, 6, 14, 14, 16, [5, 5], [1, 1], [0, 0])));
    assert!(!takes(geometry(
        128,
        16,
        32,
        32,
        16,
        [3, 3],
        [1, 1],
        [1, 1]
    )));
    assert!(!takes(geometry(128, 3, 32, 32, 16, [3, 3], [1, 1], [1, 1])));
    assert!(!takes(geometry(128, 3, 32, 32, 6, [5, 5], [1, 1], [0, 0])));
    assert!(!takes(geometry(128, 6, 14, 14, 15, [5, 5], [1, 1], [0, 0])));
}

/// Paddings as large as the kernel or larger: whole output rows read only padding (their
/// taps are all skipped, the output is the bias), others read the image through some kernel
/// rows only. The forward pass against its definition on both instruction sets.
#[test]
fn outputs_that_read_only_padding_equal_the_definition() {
    for g in [
        geometry(2, 3, 5, 6, 4, [3, 3], [1, 1], [3, 2]),
        geometry(1, 2, 2, 9, 3, [2, 3], [1, 1], [4, 0]),
        geometry(2, 5, 3, 3, 7, [3, 3], [1, 1], [5, 5]),
    ] {
        let x = pseudo(g.n * g.cin * g.h * g.w, 41);
        let w = pseudo(g.cout * g.k(), 42);
        let b = pseudo(g.cout, 43);
        let dy = pseudo(g.n * g.cout * g.l(), 44);
        let (y0, _, _) = definitions(&g, &x, &w, &b, &dy);
        for isa in isas() {
            close("forward", &forward_with(isa, &g, &x, &w, Some(&b)), &y0, &g);
        }
    }
}

/// Where the direct route and the im2col route both apply they compute the same thing
/// (to rounding): LeNet5's shapes at batch 128 across threads, with bias.
#[test]
fn the_direct_route_agrees_with_the_column_route() {
    if isa().is_none() {
        return;
    }
    for g in [
        geometry(128, 3, 32, 32, 6, [5, 5], [1, 1], [0, 0]),
        geometry(128, 6, 14, 14, 16, [5, 5], [1, 1], [0, 0]),
    ] {
        let x = pseudo(g.n * g.cin * g.h * g.w, 21);
        let w = pseudo(g.cout * g.k(), 22);
        let b = pseudo(g.cout, 23);
        let dy = pseudo(g.n * g.cout * g.l(), 24);
        let pairs = [
            (
                forward(&g, &x, &w, Some(&b)),
                crate::kernels::forward_columns(&g, &x, &w, Some(&b)),
            ),
            (
                input_gradient(&g, &w, &dy),
                crate::kernels::input_gradient_columns(&g, &w, &dy),
            ),
            (
                weight_gradient(&g, &x, &dy),
                crate::kernels::weight_gradient_columns(&g, &x, &dy),
            ),
        ];
        // Fixed summation order: a second run repeats the first bit for bit.
        assert!(weight_gradient(&g, &x, &dy) == pairs[2].0, "{g:?}");
        for (ours, columns) in pairs {
            let scale = columns.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (a, b) in ours.iter().zip(&columns) {
                assert!((a - b).abs() <= 1e-5 * scale.max(1.0), "{a} vs {b} ({g:?})");
            }
        }
    }
}
