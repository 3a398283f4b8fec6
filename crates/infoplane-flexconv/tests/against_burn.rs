//! Our convolution against burn's: the forward pass and all three gradients over a grid of
//! shapes (kernel 1/3/5, stride 1/2, padding 0/1/2, input channels 1/3/16/64, output channels
//! 6/16/64, batch 1/7/128, odd sizes), 3×3 convolutions with many channels (the Winograd route)
//! at every padding it takes, and central finite differences on a tiny case.

use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};

fn max_rel(a: Tensor<4>, b: Tensor<4>) -> f32 {
    let scale = b.clone().abs().max().into_scalar::<f32>().max(1e-6);
    (a - b).abs().max().into_scalar::<f32>() / scale
}

fn max_rel1(a: Tensor<1>, b: Tensor<1>) -> f32 {
    let scale = b.clone().abs().max().into_scalar::<f32>().max(1e-6);
    (a - b).abs().max().into_scalar::<f32>() / scale
}

#[allow(clippy::type_complexity)]
fn run(
    ours: bool,
    x: &Tensor<4>,
    w: &Tensor<4>,
    b: &Tensor<1>,
    dy: &Tensor<4>,
    opts: &ConvOptions<2>,
) -> (Tensor<4>, Tensor<4>, Tensor<4>, Tensor<1>) {
    let xa = x.clone().autodiff().require_grad();
    let wa = w.clone().autodiff().require_grad();
    let ba = b.clone().autodiff().require_grad();
    let y = if ours {
        infoplane_flexconv::conv2d(xa.clone(), wa.clone(), Some(ba.clone()), opts.clone())
    } else {
        burn::tensor::module::conv2d(xa.clone(), wa.clone(), Some(ba.clone()), opts.clone())
    };
    let grads = (y.clone() * dy.clone().autodiff()).sum().backward();
    (
        y.without_autodiff(),
        xa.grad(&grads).unwrap(),
        wa.grad(&grads).unwrap(),
        ba.grad(&grads).unwrap(),
    )
}

#[test]
fn forward_and_gradients_equal_burns_over_a_grid() {
    let device = Device::flex();
    let mut cases = 0;
    let kernels = [1, 3, 5];
    let strides = [1, 2];
    let paddings = [0, 1, 2];
    let cins = [1, 3, 16, 64];
    let couts = [6, 16, 64];
    let batches = [1, 7, 128];
    // Every value of every axis, in combination with varied others (the full product is large
    // for a debug-profile test).
    for i in 0..36 {
        let k = kernels[i % 3];
        let s = strides[(i / 3) % 2];
        let p = paddings[(i / 2) % 3];
        let cin = cins[i % 4];
        let cout = couts[(i / 4) % 3];
        let n = if i % 12 == 11 {
            batches[2]
        } else {
            batches[i % 2]
        };
        let side = 9 + (i % 5) * 2; // odd sizes 9..17
        let (side_h, side_w) = (side, side + (i % 3));
        if side_h + 2 * p < k {
            continue;
        }
        let cin = if n == 128 { cin.min(16) } else { cin };
        let x = Tensor::<4>::random(
            [n, cin, side_h, side_w],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let w = Tensor::<4>::random([cout, cin, k, k], Distribution::Normal(0.0, 0.3), &device);
        let b = Tensor::<1>::random([cout], Distribution::Normal(0.0, 0.3), &device);
        let opts = ConvOptions::new([s, s], [p, p], [1, 1], 1);
        assert!(infoplane_flexconv::supported(&x, &opts));
        let y = burn::tensor::module::conv2d(x.clone(), w.clone(), Some(b.clone()), opts.clone());
        let dy = Tensor::<4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &device);
        let a = run(true, &x, &w, &b, &dy, &opts);
        let r = run(false, &x, &w, &b, &dy, &opts);
        let label = format!("k{k} s{s} p{p} cin{cin} cout{cout} n{n} {side_h}x{side_w}");
        assert!(max_rel(a.0, r.0) < 1e-4, "{label}: forward");
        assert!(max_rel(a.1, r.1) < 1e-4, "{label}: input gradient");
        assert!(max_rel(a.2, r.2) < 1e-4, "{label}: weight gradient");
        assert!(max_rel1(a.3, r.3) < 1e-4, "{label}: bias gradient");
        cases += 1;
    }
    assert!(cases >= 30);
}

/// The shapes the Winograd route takes (3×3, stride 1, at least 32 channels on each side), at
/// paddings 0, 1 and 2, odd and even sizes, one image and several.
#[test]
fn three_by_three_convolutions_with_many_channels_equal_burns() {
    let device = Device::flex();
    for (n, cin, cout, h, w, p) in [
        (7, 64, 32, 9, 11, 1),
        (3, 32, 48, 8, 8, 0),
        (1, 48, 64, 5, 6, 2),
        (9, 32, 32, 2, 2, 1),
    ] {
        let x = Tensor::<4>::random([n, cin, h, w], Distribution::Normal(0.0, 1.0), &device);
        let wt = Tensor::<4>::random([cout, cin, 3, 3], Distribution::Normal(0.0, 0.3), &device);
        let b = Tensor::<1>::random([cout], Distribution::Normal(0.0, 0.3), &device);
        let opts = ConvOptions::new([1, 1], [p, p], [1, 1], 1);
        let y = burn::tensor::module::conv2d(x.clone(), wt.clone(), Some(b.clone()), opts.clone());
        let dy = Tensor::<4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &device);
        let a = run(true, &x, &wt, &b, &dy, &opts);
        let r = run(false, &x, &wt, &b, &dy, &opts);
        let label = format!("cin{cin} cout{cout} n{n} {h}x{w} p{p}");
        assert!(max_rel(a.0, r.0) < 1e-4, "{label}: forward");
        assert!(max_rel(a.1, r.1) < 1e-4, "{label}: input gradient");
        assert!(max_rel(a.2, r.2) < 1e-4, "{label}: weight gradient");
        assert!(max_rel1(a.3, r.3) < 1e-4, "{label}: bias gradient");
    }
}

#[test]
fn gradients_match_central_finite_differences() {
    let device = Device::flex();
    let x = Tensor::<4>::random([2, 2, 5, 4], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<4>::random([3, 2, 3, 3], Distribution::Normal(0.0, 0.5), &device);
    let b = Tensor::<1>::random([3], Distribution::Normal(0.0, 0.5), &device);
    let opts = ConvOptions::new([2, 1], [1, 1], [1, 1], 1);
    let y0 = infoplane_flexconv::conv2d(x.clone(), w.clone(), Some(b.clone()), opts.clone());
    let dy = Tensor::<4>::random(y0.dims(), Distribution::Normal(0.0, 1.0), &device);
    let (_, gx, gw, _) = run(true, &x, &w, &b, &dy, &opts);
    let f = |x: &Tensor<4>, w: &Tensor<4>| -> f64 {
        (infoplane_flexconv::conv2d(x.clone(), w.clone(), Some(b.clone()), opts.clone())
            * dy.clone())
        .sum()
        .into_scalar::<f32>() as f64
    };
    let h = 1e-2f32;
    let xv: Vec<f32> = x.clone().try_into_vec_as::<f32>().unwrap();
    let gxv: Vec<f32> = gx.try_into_vec_as::<f32>().unwrap();
    for idx in [0, 7, 13, 39, 79] {
        let bump = |d: f32| {
            let mut v = xv.clone();
            v[idx] += d;
            Tensor::<4>::from_data(burn::tensor::TensorData::new(v, [2, 2, 5, 4]), &device)
        };
        let fd = (f(&bump(h), &w) - f(&bump(-h), &w)) / (2.0 * h as f64);
        assert!(
            (fd - gxv[idx] as f64).abs() < 2e-2 * fd.abs().max(1.0),
            "dx[{idx}]: {fd} vs {}",
            gxv[idx]
        );
    }
    let wv: Vec<f32> = w.clone().try_into_vec_as::<f32>().unwrap();
    let gwv: Vec<f32> = gw.try_into_vec_as::<f32>().unwrap();
    for idx in [0, 5, 17, 53] {
        let bump = |d: f32| {
            let mut v = wv.clone();
            v[idx] += d;
            Tensor::<4>::from_data(burn::tensor::TensorData::new(v, [3, 2, 3, 3]), &device)
        };
        let fd = (f(&x, &bump(h)) - f(&x, &bump(-h))) / (2.0 * h as f64);
        assert!(
            (fd - gwv[idx] as f64).abs() < 2e-2 * fd.abs().max(1.0),
            "dw[{idx}]: {fd} vs {}",
            gwv[idx]
        );
    }
}

#[test]
fn other_configurations_fall_back_to_burn() {
    let device = Device::flex();
    let x = Tensor::<4>::random([2, 4, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<4>::random([4, 2, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let grouped = ConvOptions::new([1, 1], [1, 1], [1, 1], 2);
    assert!(!infoplane_flexconv::supported(&x, &grouped));
    let a = infoplane_flexconv::conv2d(x.clone(), w.clone(), None, grouped.clone());
    let b = burn::tensor::module::conv2d(x.clone(), w, None, grouped);
    assert!(max_rel(a, b) < 1e-6);
    let dilated = ConvOptions::new([1, 1], [1, 1], [2, 2], 1);
    assert!(!infoplane_flexconv::supported(&x, &dilated));
}

/// Max pooling forward and input gradient, ours against burn's, over windows 2/3, strides
/// 1/2/3, odd sizes and batches; random normal data (no ties).
#[test]
fn max_pooling_equals_burns() {
    use burn::tensor::ops::MaxPoolOptions;
    let device = Device::flex();
    let mut cases = 0;
    for (k, s) in [(2, 2), (3, 2), (2, 1), (3, 3), (3, 1)] {
        for (n, c, h, w) in [
            (1, 1, 5, 5),
            (7, 3, 9, 12),
            (128, 6, 28, 28),
            (3, 16, 10, 11),
        ] {
            let opts = || MaxPoolOptions::new([k, k]).with_stride([s, s]);
            let x = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device);
            assert!(infoplane_flexconv::pool_supported(&x, &opts()));
            let ho = (h - k) / s + 1;
            let wo = (w - k) / s + 1;
            let dy = Tensor::<4>::random([n, c, ho, wo], Distribution::Normal(0.0, 1.0), &device);
            let run = |ours: bool| {
                let xa = x.clone().autodiff().require_grad();
                let y = if ours {
                    infoplane_flexconv::max_pool2d(xa.clone(), opts())
                } else {
                    burn::tensor::module::max_pool2d(xa.clone(), opts())
                };
                let grads = (y.clone() * dy.clone().autodiff()).sum().backward();
                (y.without_autodiff(), xa.grad(&grads).unwrap())
            };
            let (ya, ga) = run(true);
            let (yb, gb) = run(false);
            let label = format!("k{k} s{s} {n}x{c}x{h}x{w}");
            assert_eq!(ya.dims(), yb.dims(), "{label}");
            assert!(max_rel(ya, yb) == 0.0, "{label}: forward");
            assert!(max_rel(ga, gb) < 1e-6, "{label}: input gradient");
            cases += 1;
        }
    }
    assert_eq!(cases, 20);
    // Padding, dilation and ceil mode go to burn.
    let x = Tensor::<4>::random([1, 1, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    assert!(!infoplane_flexconv::pool_supported(
        &x,
        &MaxPoolOptions::new([2, 2]).with_padding([1, 1])
    ));
    assert!(!infoplane_flexconv::pool_supported(
        &x,
        &MaxPoolOptions::new([2, 2]).with_dilation([2, 2])
    ));
    assert!(!infoplane_flexconv::pool_supported(
        &x,
        &MaxPoolOptions::new([4, 4]).with_ceil_mode(true)
    ));
}

/// Our average pooling against burn's (forward and input gradient) for tiling, overlapping and
/// skipping windows, odd sizes and batches.
#[test]
fn average_pooling_equals_burns() {
    use burn::tensor::ops::AvgPoolOptions;
    let device = Device::flex();
    let mut cases = 0;
    for (k, s) in [
        ([2, 2], [2, 2]),
        ([4, 4], [4, 4]),
        ([3, 2], [1, 2]),
        ([2, 2], [3, 3]),
    ] {
        for (n, c, h, w) in [(1, 1, 5, 5), (7, 3, 9, 12), (128, 64, 8, 8)] {
            let opts = || AvgPoolOptions::new(k).with_stride(s);
            let x = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device);
            assert!(infoplane_flexconv::avg_pool_supported(&x, &opts()));
            let (ho, wo) = ((h - k[0]) / s[0] + 1, (w - k[1]) / s[1] + 1);
            let dy = Tensor::<4>::random([n, c, ho, wo], Distribution::Normal(0.0, 1.0), &device);
            let run = |ours: bool| {
                let xa = x.clone().autodiff().require_grad();
                let y = if ours {
                    infoplane_flexconv::avg_pool2d(xa.clone(), opts())
                } else {
                    burn::tensor::module::avg_pool2d(xa.clone(), opts())
                };
                let grads = (y.clone() * dy.clone().autodiff()).sum().backward();
                (y.without_autodiff(), xa.grad(&grads).unwrap())
            };
            let ((ya, ga), (yb, gb)) = (run(true), run(false));
            let label = format!("k{k:?} s{s:?} {n}x{c}x{h}x{w}");
            assert_eq!(ya.dims(), yb.dims(), "{label}");
            assert!(max_rel(ya, yb) < 1e-5, "{label}: forward");
            assert!(max_rel(ga, gb) < 1e-5, "{label}: input gradient");
            cases += 1;
        }
    }
    assert_eq!(cases, 12);
    let x = Tensor::<4>::random([1, 1, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    assert!(!infoplane_flexconv::avg_pool_supported(
        &x,
        &AvgPoolOptions::new([2, 2]).with_padding([1, 1])
    ));
    assert!(!infoplane_flexconv::avg_pool_supported(
        &x,
        &AvgPoolOptions::new([4, 4]).with_ceil_mode(true)
    ));
}

/// Our batch norm against burn's `BatchNorm` module: in training, the output, the gradients
/// of the input, γ and β, and the running statistics after three steps; in evaluation, the
/// output with those running statistics. Feature maps and vectors.
#[test]
fn batch_norm_equals_burns_module() {
    use burn::module::Module;
    use burn::nn::{BatchNorm, BatchNormConfig};
    let device = Device::flex();
    let ad = device.clone().autodiff();
    for shape in [vec![16, 8, 5, 7], vec![128, 64, 4, 4], vec![32, 24]] {
        let c = shape[1];
        // The same module twice (γ, β not at their initial 1, 0).
        let init = || {
            let mut bn: BatchNorm = BatchNormConfig::new(c).with_momentum(0.2).init(&ad);
            let gamma = Tensor::<1>::random([c], Distribution::Normal(1.0, 0.3), &ad);
            let beta = Tensor::<1>::random([c], Distribution::Normal(0.0, 0.3), &ad);
            bn.gamma = burn::module::Param::from_tensor(gamma);
            bn.beta = burn::module::Param::from_tensor(beta);
            bn
        };
        let ours_bn = init();
        let burns_bn = ours_bn.clone();
        let label = format!("{shape:?}");
        for step in 0..3 {
            let x = Tensor::<2>::random(
                [shape[0], shape.iter().skip(1).product::<usize>()],
                Distribution::Normal(0.5 * step as f64, 2.0),
                &device,
            );
            let dy = Tensor::<2>::random(x.dims(), Distribution::Normal(0.0, 1.0), &device);
            let run = |ours: bool, bn: &BatchNorm| {
                let xa = x.clone().autodiff().require_grad();
                let (y, d) = if shape.len() == 4 {
                    let x4 = xa.clone().reshape([shape[0], shape[1], shape[2], shape[3]]);
                    let y = if ours {
                        infoplane_flexconv::batch_norm(bn, x4)
                    } else {
                        bn.forward(x4)
                    };
                    (y.flatten::<2>(1, 3), dy.clone())
                } else {
                    let y = if ours {
                        infoplane_flexconv::batch_norm(bn, xa.clone())
                    } else {
                        bn.forward(xa.clone())
                    };
                    (y, dy.clone())
                };
                let grads = (y.clone() * d.autodiff()).sum().backward();
                (
                    y.without_autodiff(),
                    xa.grad(&grads).unwrap(),
                    bn.gamma.grad(&grads).unwrap(),
                    bn.beta.grad(&grads).unwrap(),
                )
            };
            assert!(infoplane_flexconv::batch_norm_supported(
                &ours_bn,
                &x.clone().autodiff().reshape([shape[0], c, x.dims()[1] / c])
            ));
            let (ya, gxa, gga, gba) = run(true, &ours_bn);
            let (yb, gxb, ggb, gbb) = run(false, &burns_bn);
            let rel2 = |a: Tensor<2>, b: Tensor<2>| {
                let scale = b.clone().abs().max().into_scalar::<f32>().max(1e-6);
                (a - b).abs().max().into_scalar::<f32>() / scale
            };
            assert!(rel2(ya, yb) < 1e-5, "{label} step {step}: output");
            assert!(rel2(gxa, gxb) < 1e-4, "{label} step {step}: input gradient");
            assert!(
                max_rel1(gga, ggb) < 1e-4,
                "{label} step {step}: gamma gradient"
            );
            assert!(
                max_rel1(gba, gbb) < 1e-5,
                "{label} step {step}: beta gradient"
            );
        }
        for (a, b) in [
            (&ours_bn.running_mean, &burns_bn.running_mean),
            (&ours_bn.running_var, &burns_bn.running_var),
        ] {
            let (a, b) = (a.value().without_autodiff(), b.value().without_autodiff());
            assert!(max_rel1(a, b) < 1e-5, "{label}: running statistics");
        }
        // Evaluation mode (off the autodiff device): the running statistics.
        let (ours_eval, burns_eval) = (ours_bn.valid(), burns_bn.valid());
        let x = Tensor::<2>::random(
            [shape[0], shape.iter().skip(1).product::<usize>()],
            Distribution::Normal(1.0, 2.0),
            &device,
        );
        let (ya, yb) = if shape.len() == 4 {
            let x4 = x.reshape([shape[0], shape[1], shape[2], shape[3]]);
            (
                infoplane_flexconv::batch_norm(&ours_eval, x4.clone()).flatten::<2>(1, 3),
                burns_eval.forward(x4).flatten::<2>(1, 3),
            )
        } else {
            (
                infoplane_flexconv::batch_norm(&ours_eval, x.clone()),
                burns_eval.forward(x),
            )
        };
        let scale = yb.clone().abs().max().into_scalar::<f32>();
        assert!(
            (ya - yb).abs().max().into_scalar::<f32>() / scale < 1e-5,
            "{label}: evaluation"
        );
    }
}
