//! One convolution layer's forward pass and its backward pass (all three gradients), and one
//! 2×2 max pooling, burn's flex implementation against ours, at the shapes of LeNet5, ResNet18
//! and VGG11 (batch 128).
//! `cargo bench -p infoplane-flexconv --bench conv` (BENCHMARKS.md).

use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};

/// (name, cin, cout, kernel, stride, padding, input side)
const LAYERS: [(&str, usize, usize, usize, usize, usize, usize); 5] = [
    ("lenet5-conv1", 3, 6, 5, 1, 0, 32),
    ("lenet5-conv2", 6, 16, 5, 1, 0, 14),
    ("resnet18-stem", 3, 64, 3, 1, 1, 32),
    ("resnet18-block1", 64, 64, 3, 1, 1, 32),
    ("resnet18-block3-down", 128, 256, 3, 2, 1, 16),
];

fn bench(c: &mut Criterion) {
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let mut g = c.benchmark_group("conv2d_b128");
    g.sample_size(10);
    for (name, cin, cout, k, s, p, side) in LAYERS {
        let x = Tensor::<4>::random(
            [128, cin, side, side],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let w = Tensor::<4>::random([cout, cin, k, k], Distribution::Normal(0.0, 0.1), &device);
        let b = Tensor::<1>::zeros([cout], &device);
        let opts = ConvOptions::new([s, s], [p, p], [1, 1], 1);
        for (impl_name, ours) in [("burn", false), ("ours", true)] {
            let conv = |x: Tensor<4>, w: Tensor<4>, b: Tensor<1>| {
                if ours {
                    infoplane_flexconv::conv2d(x, w, Some(b), opts.clone())
                } else {
                    burn::tensor::module::conv2d(x, w, Some(b), opts.clone())
                }
            };
            g.bench_function(format!("{name}/forward/{impl_name}"), |bch| {
                bch.iter(|| conv(x.clone(), w.clone(), b.clone()).into_data())
            });
            g.bench_function(format!("{name}/forward+backward/{impl_name}"), |bch| {
                bch.iter(|| {
                    let xa = x.clone().autodiff().require_grad();
                    let wa = w.clone().autodiff().require_grad();
                    let ba = b.clone().autodiff().require_grad();
                    let y = conv(xa.clone(), wa.clone(), ba);
                    let grads = y.sum().backward();
                    (xa.grad(&grads), wa.grad(&grads))
                })
            });
        }
        let _ = &ad;
    }
    g.finish();
}

/// 2×2 max pooling (stride 2) after LeNet5's and VGG11's convolutions, batch 128.
fn bench_pool(c: &mut Criterion) {
    use burn::tensor::ops::MaxPoolOptions;
    let device = Device::flex();
    let mut g = c.benchmark_group("max_pool2d_b128");
    g.sample_size(10);
    for (name, ch, side) in [
        ("lenet5-pool1", 6, 28),
        ("lenet5-pool2", 16, 10),
        ("vgg11-pool1", 64, 32),
    ] {
        let x = Tensor::<4>::random(
            [128, ch, side, side],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        for (impl_name, ours) in [("burn", false), ("ours", true)] {
            let pool = |x: Tensor<4>| {
                let options = MaxPoolOptions::new([2, 2]);
                if ours {
                    infoplane_flexconv::max_pool2d(x, options)
                } else {
                    burn::tensor::module::max_pool2d(x, options)
                }
            };
            g.bench_function(format!("{name}/forward/{impl_name}"), |bch| {
                bch.iter(|| pool(x.clone()).into_data())
            });
            g.bench_function(format!("{name}/forward+backward/{impl_name}"), |bch| {
                bch.iter(|| {
                    let xa = x.clone().autodiff().require_grad();
                    let grads = pool(xa.clone()).sum().backward();
                    xa.grad(&grads)
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench, bench_pool);
criterion_main!(benches);
