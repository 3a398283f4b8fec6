//! Architectures: parameter counts of the widely used CIFAR versions, stage shapes and the
//! number of representations, evaluation mode, and training that lowers the loss for every
//! architecture with both strategies at a reduced width.

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use infoplane::models::{ArchConfig, ModelSummary, count_parameters};
use infoplane::train::DataShape;

use crate::common::run;
use infoplane::train::{RunOptions, TrainConfig};

fn arch(name: &str, edit: impl FnOnce(&mut ArchConfig)) -> ArchConfig {
    let mut a = ArchConfig::by_name(name).unwrap();
    edit(&mut a);
    a
}

/// Counts of the standard PyTorch definitions for 3x32x32 inputs and 10 classes
/// (scripts/param_counts.py prints them).
#[test]
fn parameter_counts_equal_the_widely_used_cifar_versions() {
    let device = Device::flex();
    let count = |a: ArchConfig| count_parameters(&a.init([3, 32, 32], 10, &device).unwrap());
    assert_eq!(count(arch("resnet18", |_| {})), 11_173_962);
    assert_eq!(count(arch("resnet50", |_| {})), 23_520_842);
    assert_eq!(count(arch("vgg11", |_| {})), 9_231_114);
    assert_eq!(
        count(arch("vgg11", |a| {
            if let ArchConfig::Vgg11(v) = a {
                v.batch_norm = false;
            }
        })),
        9_225_610
    );
    let lenet = arch("lenet5", |_| {})
        .init([1, 32, 32], 10, &device)
        .unwrap();
    assert_eq!(count_parameters(&lenet), 61_706);
}

#[test]
fn stage_shapes_and_number_of_representations() {
    let device = Device::flex();
    let shapes = |a: ArchConfig| {
        let m = a.init([3, 32, 32], 10, &device).unwrap();
        ModelSummary::of(&m, &device)
            .stages
            .into_iter()
            .map(|s| s.output_shape)
            .collect::<Vec<_>>()
    };
    let r18 = shapes(arch("resnet18", |_| {}));
    assert_eq!(r18.len(), 9);
    assert_eq!(r18[0], vec![64, 32, 32]);
    assert_eq!(r18[3], vec![128, 16, 16]);
    assert_eq!(r18[8], vec![512, 4, 4]);
    let r50 = shapes(arch("resnet50", |a| a.set_width(0.25)));
    assert_eq!(r50.len(), 17);
    assert_eq!(r50[1], vec![64, 32, 32]);
    assert_eq!(r50[16], vec![512, 4, 4]);
    let vgg = shapes(arch("vgg11", |_| {}));
    assert_eq!(
        vgg,
        vec![
            vec![64, 16, 16],
            vec![128, 8, 8],
            vec![256, 8, 8],
            vec![256, 4, 4],
            vec![512, 4, 4],
            vec![512, 2, 2],
            vec![512, 2, 2],
            vec![512, 1, 1],
        ]
    );
    let vgg_fc = shapes(arch("vgg11", |a| {
        if let ArchConfig::Vgg11(v) = a {
            v.fc_blocks = true;
        }
    }));
    assert_eq!(vgg_fc.len(), 10);
    assert_eq!(vgg_fc[9], vec![512]);
    let vit = shapes(arch("vit", |_| {}));
    assert_eq!(vit.len(), 6);
    assert!(vit.iter().all(|s| s == &vec![65, 192]));
    let mlp = ArchConfig::by_name("mlp")
        .unwrap()
        .init([1, 28, 28], 10, &device)
        .unwrap();
    assert_eq!(mlp.num_stages(), 5);
}

#[test]
fn evaluation_is_deterministic_and_differs_from_training_mode() {
    let device = Device::flex().autodiff();
    let mut cfg =
        TrainConfig::example("vgg11", "e2e", infoplane::data::DatasetName::Cifar10).unwrap();
    if let ArchConfig::Vgg11(v) = &mut cfg.model {
        v.width = 0.125;
        v.dropout = 0.2;
    }
    let shape = DataShape {
        input: [3, 32, 32],
        classes: 10,
    };
    let net = crate::common::e2e(&cfg, shape, &device);
    let net = net.trainee().net();
    let x = Tensor::<4>::random([8, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    // Training mode: batch statistics and dropout, so two passes differ.
    let t1 = net.model.forward(x.clone());
    let t2 = net.model.forward(x.clone());
    assert!(!t1.clone().all_close(t2, None, None));
    // Evaluation mode: running statistics, no dropout — twice the same, and not the training output.
    let eval = net.model.valid();
    let xe = x.without_autodiff();
    let e1 = eval.forward(xe.clone());
    let e2 = eval.forward(xe);
    assert!(e1.clone().all_close(e2, Some(0.0), Some(0.0)));
    assert!(!e1.all_close(t1.without_autodiff(), None, None));
}

fn small(arch_name: &str, strategy: &str, width: f64) -> TrainConfig {
    let mut cfg =
        TrainConfig::example(arch_name, strategy, infoplane::data::DatasetName::Mnist10k).unwrap();
    cfg.model.set_width(width);
    cfg.epochs = 3;
    cfg.batch_size = 64;
    cfg.optim.lr = 2e-3;
    cfg.data.limit_train = Some(512);
    cfg.data.limit_test = Some(128);
    if arch_name == "vgg11" {
        cfg.data.pad_to = Some(32);
    }
    cfg.infoplane.enabled = false;
    cfg.probe.enabled = false;
    cfg
}

#[test]
fn every_architecture_trains_with_both_strategies_at_a_reduced_width() {
    let device = Device::flex();
    for (name, width) in [
        ("mlp", 0.125),
        ("vgg11", 0.125),
        ("resnet18", 0.125),
        ("resnet50", 0.0625),
        ("vit", 0.25),
    ] {
        for strategy in ["e2e", "layerwise"] {
            let cfg = small(name, strategy, width);
            let dir = tempfile::tempdir().unwrap();
            run(&cfg, &device, dir.path(), &RunOptions::default())
                .unwrap_or_else(|e| panic!("{name} {strategy}: {e}"));
            let m = infoplane::train::read_metrics(&dir.path().join("metrics.jsonl")).unwrap();
            assert!(
                m[2].loss < m[0].loss,
                "{name} {strategy}: loss {} -> {}",
                m[0].loss,
                m[2].loss
            );
        }
    }
}

/// LeNet5 trained end to end for 200 steps (Adam, batches of 64 from mnist-10k) with our
/// convolution and pooling and with burn's: the two loss curves are equal to rounding over the
/// first steps and stay together to the end.
/// The losses of `steps` training steps of `cfg` (Adam at 1e-3) on the first `samples`
/// training samples of mnist-10k, in batches of 64 taken in order and cycled.
fn loss_curve(cfg: &TrainConfig, samples: usize, steps: usize) -> impl Fn() -> Vec<f32> + '_ {
    use infoplane::train::{TrainBatch, build_strategy_for};
    let device = Device::flex().autodiff();
    let shape = DataShape {
        input: [1, 28, 28],
        classes: 10,
    };
    let data = crate::data::mnist_10k();
    let (x, y) = infoplane::data::materialize(&data.train.subset(samples, 0), &Default::default())
        .to_tensors(&device);
    let batches = samples / 64;
    move || {
        let mut s = build_strategy_for(&cfg.clone().check().unwrap(), shape, &device).unwrap();
        s.enter_phase(0).unwrap();
        (0..steps)
            .map(|i| {
                let rows = (i % batches) * 64..(i % batches + 1) * 64;
                let batch = TrainBatch {
                    x: x.clone().slice(rows.clone()),
                    y: y.clone().slice(rows),
                    views: 1,
                };
                s.step(batch, 1e-3).unwrap().loss
            })
            .collect()
    }
}

#[test]
fn lenet5_trains_the_same_with_our_convolution_and_pooling_and_with_burns() {
    let cfg =
        TrainConfig::example("lenet5", "e2e", infoplane::data::DatasetName::Mnist10k).unwrap();
    let curve = loss_curve(&cfg, 2048, 200);
    let ours = curve();
    let burns = infoplane::flexconv::with_burn_path(&curve);
    let first_10 = ours[..10].iter().sum::<f32>() / 10.0;
    let last_10 = ours[190..].iter().sum::<f32>() / 10.0;
    assert!(
        last_10 < 0.5 * first_10,
        "training lowers the loss: {first_10} -> {last_10}"
    );
    // Sums in another order: equal to rounding at first, then the difference grows as
    // training amplifies it (Adam turns rounding-level gradient differences into steps of
    // the learning rate): about 2e-5 at step 10, 1e-2 by step 100 on this machine.
    for (i, (a, b)) in ours.iter().zip(&burns).enumerate() {
        let tolerance = if i < 10 {
            1e-4 * b.abs()
        } else {
            0.1 * b.abs() + 0.02
        };
        assert!(
            (a - b).abs() <= tolerance,
            "step {i}: {a} (ours) vs {b} (burn's)"
        );
    }
    let tail = |c: &[f32]| c[150..].iter().sum::<f32>() / 50.0;
    assert!(
        (tail(&ours) - tail(&burns)).abs() < 0.05 * tail(&burns),
        "mean loss of the last 50 steps: {} vs {}",
        tail(&ours),
        tail(&burns)
    );
    let worst = ours
        .iter()
        .zip(&burns)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    eprintln!("loss {first_10:.4} -> {last_10:.4}; largest difference of the curves {worst:.2e}");
}

/// ResNet18 at width 1/8 trained layer-wise for six steps (batch norm in every block, average-
/// pooled auxiliary heads): the same losses bit for bit when run twice with our kernels, and
/// the same as with burn's batch norm, pooling and convolution to rounding.
#[test]
fn resnet18_with_batch_norm_repeats_bit_for_bit_and_matches_burns_path() {
    let cfg = small("resnet18", "layerwise", 0.125);
    assert!(cfg.model.has_batch_norm());
    let curve = loss_curve(&cfg, 256, 6);
    let ours = curve();
    assert_eq!(ours, curve(), "the same seed, the same losses");
    let burns = infoplane::flexconv::with_burn_path(&curve);
    for (i, (a, b)) in ours.iter().zip(&burns).enumerate().take(3) {
        assert!(
            (a - b).abs() <= 1e-3 * b.abs(),
            "step {i}: {a} (ours) vs {b} (burn's)"
        );
    }
}
