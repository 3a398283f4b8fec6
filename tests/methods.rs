//! Every training method: local losses never reach earlier stages, every method lowers its
//! loss from its shipped config, sequential training leaves frozen stages untouched,
//! retraining keeps the source's stages, and a sequential run resumes exactly.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use infoplane::models::HeadKind;
use infoplane::train::config::OptimizerKind;
use infoplane::train::methods::layerwise::{
    HsicApplyTo, HsicReference, Layerwise, LayerwiseConfig, LayerwiseNet,
};
use infoplane::train::methods::retrain::RetrainConfig;
use infoplane::train::methods::signal_propagation::{SignalPropagation, SpConfig, SpNet};
use infoplane::train::{
    Method, Params, RunOptions, Strategy, StrategyConfig, TrainBatch, TrainConfig, Trainee,
};

use crate::common::{MNIST_SHAPE as SHAPE, env, layerwise, model, run};
use crate::train::params;

fn method_config(name: &str) -> TrainConfig {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments/methods")
        .join(format!("{name}.toml"));
    TrainConfig::from_file(&p).unwrap_or_else(|e| panic!("{e}"))
}

/// A layer-wise config with its `[strategy]` edited.
fn edited(base: &str, edit: impl Fn(&mut LayerwiseConfig)) -> TrainConfig {
    let mut c = method_config(base);
    let mut l = c.strategy.params::<LayerwiseConfig>().expect("layer-wise");
    edit(&mut l);
    c.strategy = StrategyConfig::new(&l);
    c
}

/// Every layer-wise variant: local loss × head kind, and the nHSIC term in its four forms.
fn variants() -> Vec<(String, TrainConfig)> {
    let mut out = Vec::new();
    for (loss, heads) in [
        ("ce", &["linear", "mlp"][..]),
        ("supcon", &["identity", "linear", "mlp"][..]),
        ("sim", &["identity", "conv", "conv-mlp"][..]),
    ] {
        for h in heads {
            let head: HeadKind = h.parse().unwrap();
            out.push((
                format!("{loss}/{h}"),
                edited(&format!("layerwise-{loss}"), |l| l.head = Some(head)),
            ));
        }
    }
    for (reference, apply) in [
        (HsicReference::Global, HsicApplyTo::Stage),
        (HsicReference::Local, HsicApplyTo::Stage),
        (HsicReference::Global, HsicApplyTo::Head),
        (HsicReference::Local, HsicApplyTo::Head),
    ] {
        out.push((
            format!("ce+nhsic/{reference:?}/{apply:?}"),
            edited("layerwise-nhsic", |l| {
                let h = l.hsic.as_mut().expect("the term");
                h.reference = reference;
                h.apply_to = apply;
            }),
        ));
    }
    out
}

fn sgd(mut cfg: TrainConfig) -> TrainConfig {
    cfg.optim.kind = OptimizerKind::Sgd;
    cfg.optim.momentum = 0.0;
    cfg.epochs = 1;
    cfg
}

fn batch(views: usize, device: &Device) -> TrainBatch {
    let data = crate::data::mnist_10k();
    let split = data.train.subset(16, 0);
    let (x, y) = infoplane::data::materialize(&split, &Default::default()).to_tensors(device);
    TrainBatch {
        x: Tensor::cat(vec![x; views], 0),
        y: Tensor::cat(vec![y; views], 0),
        views,
    }
}

/// The black-box form of "gradients stop between stages": stage i's update after one step
/// does not depend on the stages (and heads) after it. If any later loss reached stage i, a
/// network whose later stages differ would update stage i differently.
#[test]
fn no_stage_receives_gradient_from_a_later_stage_in_any_layerwise_variant() {
    let device = Device::flex().autodiff();
    for (label, cfg) in variants() {
        let cfg = sgd(cfg);
        let p = cfg
            .strategy
            .params::<LayerwiseConfig>()
            .unwrap()
            .check()
            .unwrap();
        let batch = batch(p.views(), &device);
        let strategy = |net: LayerwiseNet<_>| {
            Layerwise::new(Trainee::new(net, cfg.optim.optimizer()), p.clone(), 10, 1)
        };
        let base = layerwise(&cfg, SHAPE, &device).trainee().net().clone();
        let other_cfg = TrainConfig {
            seed: 77,
            ..cfg.clone()
        };
        let other = layerwise(&other_cfg, SHAPE, &device)
            .trainee()
            .net()
            .clone();
        let stages = base.model.num_stages();
        let mut reference = strategy(base.clone());
        reference.step(batch.clone(), 0.1).unwrap();
        let after = reference.trainee().net();
        for i in 0..stages - 1 {
            let mut mixed = base.clone();
            for k in i + 1..stages {
                mixed.model.stages[k] = other.model.stages[k].clone();
                mixed.heads[k] = other.heads[k].clone();
            }
            let mut lw = strategy(mixed);
            lw.step(batch.clone(), 0.1).unwrap();
            for k in 0..=i {
                assert_eq!(
                    params(&lw.trainee().net().model.stages[k]),
                    params(&after.model.stages[k]),
                    "{label}: stage {k} depends on stages after {i}"
                );
            }
        }
        // Not vacuous: every stage moved.
        for k in 0..stages {
            assert_ne!(
                params(&base.model.stages[k]),
                params(&after.model.stages[k]),
                "{label}: stage {k} did not move"
            );
        }
    }
}

/// The same for signal propagation, whose label path learns through the first stage only.
#[test]
fn no_stage_receives_gradient_from_a_later_stage_in_signal_propagation() {
    let device = Device::flex().autodiff();
    for name in ["layerwise-sp-hard", "layerwise-sp-soft"] {
        let cfg = sgd(method_config(name));
        let p = cfg.strategy.params::<SpConfig>().unwrap().check().unwrap();
        let build = |c: &TrainConfig| {
            p.init(model(c, SHAPE, &device), &env(c, SHAPE, &device))
                .unwrap()
                .trainee()
                .net()
                .clone()
        };
        let strategy =
            |net: SpNet<_>| SignalPropagation::new(Trainee::new(net, cfg.optim.optimizer()), p, 1);
        let base = build(&cfg);
        let other = build(&TrainConfig {
            seed: 77,
            ..cfg.clone()
        });
        let stages = base.model.num_stages();
        let mut reference = strategy(base.clone());
        reference.step(batch(1, &device), 0.1).unwrap();
        let after = reference.trainee().net();
        for i in 0..stages - 1 {
            let mut mixed = base.clone();
            for k in i + 1..stages {
                mixed.model.stages[k] = other.model.stages[k].clone();
            }
            let mut sp = strategy(mixed);
            sp.step(batch(1, &device), 0.1).unwrap();
            for k in 0..=i {
                assert_eq!(
                    params(&sp.trainee().net().model.stages[k]),
                    params(&after.model.stages[k]),
                    "{name}: stage {k} depends on stages after {i}"
                );
            }
            assert_eq!(
                params(&sp.trainee().net().label_path),
                params(&after.label_path),
                "{name}: the label path depends on later stages"
            );
        }
        for k in 0..stages {
            assert_ne!(
                params(&base.model.stages[k]),
                params(&after.model.stages[k]),
                "{name}: stage {k} did not move"
            );
        }
    }
}

fn small(mut cfg: TrainConfig, epochs: usize) -> TrainConfig {
    cfg.epochs = epochs;
    cfg.batch_size = 64;
    cfg.optim.lr = 2e-3;
    cfg.data.limit_train = Some(512);
    cfg.data.limit_test = Some(256);
    cfg.infoplane.samples = 128;
    cfg.infoplane.batch = 64;
    cfg.infoplane.every_steps = 0;
    cfg.probe.method = infoplane::train::config::ProbeMethod::Ridge;
    cfg
}

#[test]
fn every_method_lowers_its_loss_from_its_shipped_config() {
    let device = Device::flex();
    let sources = tempfile::tempdir().unwrap();
    for name in [
        "e2e-ce",
        "e2e-supcon",
        "e2e-simclr",
        "layerwise-ce",
        "layerwise-supcon",
        "layerwise-sim",
        "layerwise-sp-hard",
        "layerwise-sp-soft",
        "layerwise-nhsic",
        "layerwise-sequential",
        "retrain",
        "forward-forward-original",
        "forward-forward-modified",
        "forward-gradient",
    ] {
        let mut cfg = small(method_config(name), 4);
        let phased = name == "layerwise-sequential" || name.starts_with("forward-forward");
        if phased {
            cfg.epochs = 2;
            cfg.model.set_width(0.25);
        }
        if name.starts_with("forward-forward") {
            cfg.optim.lr = method_config(name).optim.lr;
        }
        if let Some(mut r) = cfg.strategy.params::<RetrainConfig>() {
            // The source: the layer-wise run trained just before, in this loop.
            r.source = sources.path().join("layerwise-ce");
            cfg.strategy = StrategyConfig::new(&r);
        }
        let dir = sources.path().join(name);
        let s = run(&cfg, &device, &dir, &RunOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = infoplane::train::read_metrics(&dir.join("metrics.jsonl")).unwrap();
        // Layer by layer: the first layer's loss over its own phase. Otherwise the mean of the
        // stages' local losses (a single stage's can move against the others while its targets
        // move, as signal propagation's do), or the loss.
        let mean = |e: &infoplane::train::EpochMetrics| {
            if e.stage_losses.is_empty() {
                e.loss
            } else {
                e.stage_losses.iter().sum::<f64>() / e.stage_losses.len() as f64
            }
        };
        let (first, last) = if phased {
            (m[0].loss, m[1].loss)
        } else {
            (mean(&m[0]), mean(m.last().unwrap()))
        };
        assert!(last < first, "{name}: loss {first} -> {last}");
        assert!(
            s.stages.len() == 5 && s.stages.iter().all(|st| st.probe_test_accuracy.is_some()),
            "{name}: every stage measured and probed"
        );
        assert!(dir.join("summary.json").exists());
        // Train accuracy is recorded where the method predicts while training, `null` (not 0)
        // where it does not.
        assert_eq!(
            s.train_accuracy.is_some(),
            !name.starts_with("forward-"),
            "{name}: train accuracy {:?}",
            s.train_accuracy
        );
        eprintln!(
            "{name}: loss {first:.4} -> {last:.4}, test accuracy {:.3}, train accuracy {:?}",
            s.test_accuracy, s.train_accuracy
        );
    }
}

#[test]
fn sequential_training_leaves_frozen_stages_untouched() {
    let device = Device::flex().autodiff();
    let mut cfg = small(method_config("layerwise-sequential"), 1);
    // With batch norm, "frozen" also means the running statistics stay.
    if let infoplane::models::ArchConfig::Lenet5(l) = &mut cfg.model {
        l.batch_norm = true;
    }
    let mut lw = layerwise(&cfg, SHAPE, &device);
    let data = crate::data::mnist_10k();
    let split = data.train.subset(32, 0);
    let (x, y) = infoplane::data::materialize(&split, &Default::default()).to_tensors(&device);
    let batch = TrainBatch { x, y, views: 1 };
    lw.enter_phase(0).unwrap();
    for _ in 0..3 {
        lw.step(batch.clone(), 1e-2).unwrap();
    }
    let record = |lw: &Layerwise, k: usize| {
        // Parameters and buffers (running statistics) alike.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.bpk");
        lw.trainee().net().model.stages[k]
            .clone()
            .save_file(&p)
            .unwrap();
        std::fs::read(&p).unwrap()
    };
    let stage0 = record(&lw, 0);
    let stage2 = record(&lw, 2);
    lw.enter_phase(1).unwrap();
    for _ in 0..3 {
        lw.step(batch.clone(), 1e-2).unwrap();
    }
    assert_eq!(record(&lw, 0), stage0, "stage 1 changed in phase 2");
    assert_ne!(record(&lw, 1), {
        let mut fresh = layerwise(&cfg, SHAPE, &device);
        fresh.enter_phase(0).unwrap();
        record(&fresh, 1)
    });
    // A stage after the trained one is not run at all.
    assert_eq!(record(&lw, 2), stage2);
}

#[test]
fn retraining_keeps_the_source_stages_byte_identical() {
    let device = Device::flex();
    let root = tempfile::tempdir().unwrap();
    let src_dir = root.path().join("source");
    let src = small(method_config("layerwise-ce"), 1);
    run(&src, &device, &src_dir, &RunOptions::default()).unwrap();
    let mut cfg = small(method_config("retrain"), 2);
    cfg.strategy = StrategyConfig::new(&RetrainConfig {
        source: src_dir.clone(),
        keep: infoplane::train::methods::retrain::Keep::Stages(2),
    });
    let dir = root.path().join("retrain");
    let s = run(&cfg, &device, &dir, &RunOptions::default()).unwrap();
    assert_eq!(s.retrained_from, Some((src_dir.clone(), 2)));
    let load = |run: &Path, c: &TrainConfig| {
        model(c, SHAPE, &device).load_file(run.join("checkpoint/model.bpk"))
    };
    let (a, b) = (load(&src_dir, &src), load(&dir, &cfg));
    let (a, b) = (&a, &b);
    for k in 0..2 {
        assert_eq!(params(&a.stages[k]), params(&b.stages[k]), "stage {k}");
    }
    for k in 2..5 {
        assert_ne!(params(&a.stages[k]), params(&b.stages[k]), "stage {k}");
    }
    // keep must leave a stage to train, and the source must be finished.
    cfg.strategy = StrategyConfig::new(&RetrainConfig {
        source: src_dir,
        keep: infoplane::train::methods::retrain::Keep::Stages(5),
    });
    let e = run(
        &cfg,
        &device,
        &root.path().join("x"),
        &RunOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("strategy.keep"), "{e}");
}

#[test]
fn a_sequential_run_killed_in_its_second_phase_resumes_exactly() {
    let mut cfg = small(method_config("layerwise-sequential"), 2);
    cfg.data.limit_train = Some(256);
    cfg.infoplane.every_steps = 2;
    // Five phases of 2 epochs; cut after epoch 3, inside the second phase.
    crate::train::assert_resume_equals_uninterrupted(&cfg, 3);
}
