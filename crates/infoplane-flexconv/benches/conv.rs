//! One convolution layer's forward pass and its backward pass (all three gradients), and one
//! 2×2 max pooling, burn's flex implementation against ours, at the shapes of LeNet5, ResNet18
//! and VGG11 (batch 128); and our routes against each other (direct, Winograd, im2col).
//! `cargo bench -p infoplane-flexconv --bench conv` (BENCHMARKS.md).

use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use infoplane_flexconv::kernels::ConvGeometry;

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

/// `n` values in [−0.5, 0.5) from a multiplicative hash of the index, `s` mixed in.
fn fill(n: usize, s: u32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as u32).wrapping_mul(2654435761) ^ s) as f32 / u32::MAX as f32 - 0.5)
        .collect()
}

/// A forward pass: (geometry, x, weight, bias) → y.
type Forward = fn(&ConvGeometry, &[f32], &[f32], Option<&[f32]>) -> Vec<f32>;
/// A gradient: (geometry, x or weight, dy) → gradient.
type Gradient = fn(&ConvGeometry, &[f32], &[f32]) -> Vec<f32>;

/// One route of our kernels: its three passes, each alone.
struct Route {
    name: &'static str,
    forward: Forward,
    input_gradient: Gradient,
    weight_gradient: Gradient,
}

/// im2col columns with matrix products, the route the others are compared with.
const COLUMNS: Route = Route {
    name: "columns",
    forward: infoplane_flexconv::kernels::forward_columns,
    input_gradient: infoplane_flexconv::kernels::input_gradient_columns,
    weight_gradient: infoplane_flexconv::kernels::weight_gradient_columns,
};

/// Each pass of one layer (`name`, batch `geom.n`) by `route`, then by [`COLUMNS`].
fn bench_against_columns(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    geom: &ConvGeometry,
    route: &Route,
) {
    let x = fill(geom.n * geom.cin * geom.h * geom.w, 1);
    let w = fill(geom.cout * geom.k(), 2);
    let dy = fill(geom.n * geom.cout * geom.l(), 3);
    for r in [route, &COLUMNS] {
        g.bench_function(format!("{name}/forward/{}", r.name), |b| {
            b.iter(|| (r.forward)(geom, &x, &w, None))
        });
    }
    for r in [route, &COLUMNS] {
        g.bench_function(format!("{name}/input-gradient/{}", r.name), |b| {
            b.iter(|| (r.input_gradient)(geom, &w, &dy))
        });
    }
    for r in [route, &COLUMNS] {
        g.bench_function(format!("{name}/weight-gradient/{}", r.name), |b| {
            b.iter(|| (r.weight_gradient)(geom, &x, &dy))
        });
    }
}

/// A batch-128 convolution at stride 1 with square input and kernel.
fn layer(cin: usize, cout: usize, k: usize, p: usize, side: usize) -> ConvGeometry {
    ConvGeometry {
        n: 128,
        cin,
        h: side,
        w: side,
        cout,
        kh: k,
        kw: k,
        stride: [1, 1],
        padding: [p, p],
    }
}

/// The two routes of our kernels where both apply (stride 1, at most 16 output channels): the
/// direct convolution against im2col columns with matrix products, each gradient alone, batch
/// 128. The x1/4 shapes are those of the quick settings' ResNet18 and VGG11.
#[cfg(target_arch = "x86_64")]
fn bench_routes(c: &mut Criterion) {
    use infoplane_flexconv::direct;
    let route = Route {
        name: "direct",
        forward: direct::forward,
        input_gradient: direct::input_gradient,
        weight_gradient: direct::weight_gradient,
    };
    let mut g = c.benchmark_group("conv_routes_b128");
    g.sample_size(10);
    for (name, cin, cout, k, p, side) in [
        ("lenet5-conv1", 3, 6, 5, 0, 32),
        ("lenet5-conv2", 6, 16, 5, 0, 14),
        ("x1/4-stem", 3, 16, 3, 1, 32),
        ("x1/4-block1", 16, 16, 3, 1, 32),
    ] {
        let geom = layer(cin, cout, k, p, side);
        if direct::applies(&geom) {
            bench_against_columns(&mut g, name, &geom, &route);
        }
    }
    g.finish();
}

#[cfg(not(target_arch = "x86_64"))]
fn bench_routes(_: &mut Criterion) {}

/// The Winograd route against im2col columns with matrix products at the 3×3 shapes of
/// ResNet18 and VGG11 at width 1 (stride 1, padding 1), each gradient alone, batch 128, with
/// the allocator settings of the `infoplane` program.
fn bench_winograd(c: &mut Criterion) {
    use infoplane_flexconv::winograd;
    infoplane_flexconv::keep_freed_memory();
    let route = Route {
        name: "winograd",
        forward: winograd::forward,
        input_gradient: winograd::input_gradient,
        weight_gradient: winograd::weight_gradient,
    };
    let mut g = c.benchmark_group("winograd_routes_b128");
    g.sample_size(10);
    for (cin, cout, side) in [
        (64, 64, 32),
        (64, 128, 16),
        (128, 128, 16),
        (256, 256, 8),
        (512, 512, 4),
        (512, 512, 2),
    ] {
        let geom = layer(cin, cout, 3, 1, side);
        assert!(winograd::applies(&geom));
        bench_against_columns(
            &mut g,
            &format!("{cin}-{cout}-{side}x{side}"),
            &geom,
            &route,
        );
    }
    g.finish();
}

criterion_group!(benches, bench, bench_pool, bench_routes, bench_winograd);
criterion_main!(benches);
