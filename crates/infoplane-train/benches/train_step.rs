//! One training step of LeNet5 (3x32x32 inputs, batch 128, Adam with ε = 1e-8 as trained),
//! E2E and layer-wise, on the CPU backend. `cargo bench -p infoplane-train --bench train_step`;
//! compare with `scripts/train_step_torch.py` run in the same session (BENCHMARKS.md).

use burn::module::Module;
use burn::tensor::{Device, Distribution, Int, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use infoplane_data::DatasetName;
use infoplane_train::losses::cross_entropy;
use infoplane_train::{DataShape, TrainBatch, TrainConfig, build_model, build_strategy_for};

fn bench(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let x = Tensor::<4>::random([128, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<1, Int>::from_data(
        burn::tensor::TensorData::new((0..128).map(|i| (i % 10) as i64).collect::<Vec<_>>(), [128]),
        &device,
    );
    let shape = DataShape {
        input: [3, 32, 32],
        classes: 10,
    };
    let mut g = c.benchmark_group("lenet5_step_b128");
    g.sample_size(20);
    for name in ["e2e", "layerwise"] {
        let cfg = TrainConfig::example("lenet5", name, DatasetName::Cifar10)
            .unwrap()
            .check()
            .unwrap();
        let mut strategy = build_strategy_for(&cfg, shape, &device).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                strategy
                    .step(
                        TrainBatch {
                            x: x.clone(),
                            y: y.clone(),
                            views: 1,
                        },
                        1e-3,
                    )
                    .unwrap()
                    .loss
            })
        });
    }
    // Where an E2E step's time goes: forward alone (no autodiff), forward + backward, and the
    // full step above adds the optimizer update.
    let cfg = TrainConfig::example("lenet5", "e2e", DatasetName::Cifar10)
        .unwrap()
        .check()
        .unwrap();
    let model = build_model(&cfg, shape, &device).unwrap();
    let plain = model.valid();
    let xp = x.clone().without_autodiff();
    g.bench_function("e2e_forward_only", |b| {
        b.iter(|| plain.forward(xp.clone()).into_data())
    });
    g.bench_function("e2e_forward_backward", |b| {
        b.iter(|| cross_entropy(model.forward(x.clone()), y.clone()).backward())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
