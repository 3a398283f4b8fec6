//! One training step of LeNet5 (3x32x32 inputs, batch 128, Adam), E2E and layer-wise, on the
//! CPU backend. `cargo bench -p infoplane-train --bench train_step`; compare with
//! `scripts/train_step_torch.py` run in the same session (BENCHMARKS.md).

use burn::module::Module;
use burn::optim::AdamConfig;
use burn::tensor::{Device, Distribution, Int, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use infoplane_models::{HeadKind, LeNet5Config};
use infoplane_train::Learner;
use infoplane_train::strategies::{EndToEnd, LayerwiseSimultaneous, Strategy};

fn bench(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let x = Tensor::<4>::random([128, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<1, Int>::from_data(
        burn::tensor::TensorData::new((0..128).map(|i| (i % 10) as i64).collect::<Vec<_>>(), [128]),
        &device,
    );
    let mut g = c.benchmark_group("lenet5_step_b128");
    g.sample_size(20);
    for (name, strategy, head) in [
        ("e2e", &EndToEnd as &dyn Strategy, None),
        (
            "layerwise",
            &LayerwiseSimultaneous as &dyn Strategy,
            Some(HeadKind::Linear),
        ),
    ] {
        let model = LeNet5Config {
            in_channels: 3,
            image_size: 32,
            num_classes: 10,
        }
        .init(&device);
        let mut learner = Some(Learner::new(model, head, &device));
        let mut optim = AdamConfig::new().init();
        g.bench_function(name, |b| {
            b.iter(|| {
                let (l, r) = strategy.step(
                    learner.take().unwrap(),
                    &mut optim,
                    1e-3,
                    x.clone(),
                    y.clone(),
                );
                learner = Some(l);
                r.loss
            })
        });
    }
    // Where an E2E step's time goes: forward alone (no autodiff), forward + backward, and the
    // full step above adds the optimizer update.
    let model = LeNet5Config {
        in_channels: 3,
        image_size: 32,
        num_classes: 10,
    }
    .init(&device);
    let plain = model.valid();
    let xp = x.clone().without_autodiff();
    g.bench_function("e2e_forward_only", |b| {
        b.iter(|| plain.forward(xp.clone()).into_data())
    });
    g.bench_function("e2e_forward_backward", |b| {
        b.iter(|| {
            let loss =
                infoplane_train::strategies::cross_entropy(model.forward(x.clone()), y.clone());
            loss.backward()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
