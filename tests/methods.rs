//! Every training method: local losses never reach earlier stages, every method lowers its
//! loss from its shipped config, sequential training leaves frozen stages untouched,
//! retraining keeps the source's stages, and a sequential run resumes exactly.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use infoplane::train::config::{LocalLoss, OptimizerKind, StrategyConfig};
use infoplane::train::strategies::{
    DataShape, Layerwise, LayerwiseSpec, LocalObjective, TrainBatch, Trainee, build_network,
    optimizer,
};
use infoplane::train::{RunOptions, Strategy, TrainConfig};

use crate::train::params;

const SHAPE: DataShape = DataShape {
    input: [1, 28, 28],
    classes: 10,
};

fn method_config(name: &str) -> TrainConfig {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments/methods")
        .join(format!("{name}.toml"));
    TrainConfig::from_file(&p).unwrap_or_else(|e| panic!("{e}"))
}

fn layerwise(cfg: &TrainConfig, net: infoplane::train::Network) -> Layerwise {
    let StrategyConfig::Layerwise(c) = &cfg.strategy else {
        panic!("a layer-wise config")
    };
    let objective = match c.loss {
        LocalLoss::Ce => LocalObjective::CrossEntropy,
        LocalLoss::Supcon => LocalObjective::SupCon {
            temperature: c.temperature,
            base_temperature: c.base_temperature,
        },
        LocalLoss::Sim => LocalObjective::Similarity {
            target: c.sim_target,
            classes: 10,
        },
        LocalLoss::SpHard => {
            LocalObjective::SignalPropagation(infoplane::train::losses::SpTarget::Hard(c.sp_top_k))
        }
        LocalLoss::SpSoft => {
            LocalObjective::SignalPropagation(infoplane::train::losses::SpTarget::Soft)
        }
    };
    Layerwise::new(
        Trainee::new(net, optimizer(&cfg.optim)),
        LayerwiseSpec {
            objective,
            schedule: c.schedule,
            epochs: 1,
            hsic: c.hsic.clone(),
        },
    )
}

/// Every layer-wise variant: local loss × head kind, and the nHSIC term in its four forms.
fn variants() -> Vec<(String, TrainConfig)> {
    let mut out = Vec::new();
    let mut add = |label: &str, base: &str, edit: &dyn Fn(&mut TrainConfig)| {
        let mut c = method_config(base);
        edit(&mut c);
        let c = c.resolve().unwrap_or_else(|e| panic!("{label}: {e}"));
        out.push((label.to_string(), c));
    };
    let head = |h: &'static str| {
        move |c: &mut TrainConfig| {
            if let StrategyConfig::Layerwise(l) = &mut c.strategy {
                l.head = Some(h.parse().unwrap());
            }
        }
    };
    for h in ["linear", "mlp"] {
        add(&format!("ce/{h}"), "layerwise-ce", &head(h));
    }
    for h in ["identity", "linear", "mlp"] {
        add(&format!("supcon/{h}"), "layerwise-supcon", &head(h));
    }
    for h in ["identity", "conv", "conv-mlp"] {
        add(&format!("sim/{h}"), "layerwise-sim", &head(h));
    }
    add("sp-hard", "layerwise-sp-hard", &|_| {});
    add("sp-soft", "layerwise-sp-soft", &|_| {});
    for (reference, apply) in [
        ("global", "stage"),
        ("local", "stage"),
        ("global", "head"),
        ("local", "head"),
    ] {
        add(
            &format!("ce+nhsic/{reference}/{apply}"),
            "layerwise-nhsic",
            &|c: &mut TrainConfig| {
                if let StrategyConfig::Layerwise(l) = &mut c.strategy
                    && let Some(h) = &mut l.hsic
                {
                    h.reference = reference.parse_toml();
                    h.apply_to = apply.parse_toml();
                }
            },
        );
    }
    out
}

trait ParseToml {
    fn parse_toml<T: serde::de::DeserializeOwned>(&self) -> T;
}

impl ParseToml for str {
    fn parse_toml<T: serde::de::DeserializeOwned>(&self) -> T {
        toml::Value::String(self.to_string()).try_into().unwrap()
    }
}

/// The black-box form of "gradients stop between stages": stage i's update after one step
/// does not depend on the stages (and heads) after it. If any later loss reached stage i, a
/// network whose later stages differ would update stage i differently.
#[test]
fn no_stage_receives_gradient_from_a_later_stage_in_any_layerwise_variant() {
    let device = Device::flex().autodiff();
    let data = crate::data::mnist_10k();
    let split = data.train.subset(16, 0);
    let (x, y) = infoplane::data::materialize(&split, &Default::default()).to_tensors(&device);
    for (label, mut cfg) in variants() {
        cfg.optim.kind = OptimizerKind::Sgd;
        cfg.optim.momentum = 0.0;
        let views = if cfg.strategy.needs_two_views() { 2 } else { 1 };
        let batch = TrainBatch {
            x: Tensor::cat(vec![x.clone(); views], 0),
            y: Tensor::cat(vec![y.clone(); views], 0),
            views,
        };
        let base = build_network(&cfg, SHAPE, &device).unwrap();
        let other = build_network(
            &TrainConfig {
                seed: 77,
                ..cfg.clone()
            },
            SHAPE,
            &device,
        )
        .unwrap();
        let stages = base.model.num_stages();
        let mut reference = layerwise(&cfg, base.clone());
        reference.step(batch.clone(), 0.1).unwrap();
        let after = reference.trainee().net();
        for i in 0..stages - 1 {
            let mut mixed = base.clone();
            for k in i + 1..stages {
                mixed.model.stages[k] = other.model.stages[k].clone();
                mixed.heads[k] = other.heads[k].clone();
            }
            let mut lw = layerwise(&cfg, mixed);
            lw.step(batch.clone(), 0.1).unwrap();
            for k in 0..=i {
                assert_eq!(
                    params(&lw.trainee().net().model.stages[k]),
                    params(&after.model.stages[k]),
                    "{label}: stage {k} depends on stages after {i}"
                );
            }
            if i == 0
                && let Some(lp) = &after.label_path
            {
                assert_eq!(
                    params(lw.trainee().net().label_path.as_ref().unwrap()),
                    params(lp),
                    "{label}: the label path depends on later stages"
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
        if let StrategyConfig::Retrain(r) = &mut cfg.strategy {
            // The source: the layer-wise run trained just before, in this loop.
            r.source = sources.path().join("layerwise-ce");
        }
        let dir = sources.path().join(name);
        let s = infoplane::train::run(&cfg, &device, &dir, &RunOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = infoplane::train::trainer::read_metrics(&dir.join("metrics.jsonl")).unwrap();
        // Layer by layer: the first layer's loss over its own phase.
        let (first, last) = if phased {
            (m[0].loss, m[1].loss)
        } else {
            (m[0].loss, m.last().unwrap().loss)
        };
        assert!(last < first, "{name}: loss {first} -> {last}");
        let stages = if name.starts_with("forward-forward") {
            4
        } else {
            5
        };
        assert!(
            s.stages.len() == stages && s.stages.iter().all(|st| st.probe_test_accuracy.is_some()),
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
    let net = build_network(&cfg, SHAPE, &device).unwrap();
    let mut lw = layerwise(&cfg, net);
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
        let mut fresh = layerwise(&cfg, build_network(&cfg, SHAPE, &device).unwrap());
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
    infoplane::train::run(&src, &device, &src_dir, &RunOptions::default()).unwrap();
    let mut cfg = small(method_config("retrain"), 2);
    if let StrategyConfig::Retrain(r) = &mut cfg.strategy {
        r.source = src_dir.clone();
        r.keep = 2;
    }
    let dir = root.path().join("retrain");
    let s = infoplane::train::run(&cfg, &device, &dir, &RunOptions::default()).unwrap();
    assert_eq!(s.retrained_from, Some((src_dir.clone(), 2)));
    let load = |run: &Path, c: &TrainConfig| {
        build_network(c, SHAPE, &device)
            .unwrap()
            .load_file(run.join("checkpoint/network.bpk"))
    };
    let a = load(&src_dir, &src);
    let b = load(&dir, &cfg);
    for k in 0..2 {
        assert_eq!(
            params(&a.model.stages[k]),
            params(&b.model.stages[k]),
            "stage {k}"
        );
    }
    for k in 2..5 {
        assert_ne!(
            params(&a.model.stages[k]),
            params(&b.model.stages[k]),
            "stage {k}"
        );
    }
    // keep must leave a stage to train, and the source must be finished.
    cfg.strategy = StrategyConfig::Retrain(infoplane::train::config::RetrainConfig {
        source: src_dir,
        keep: 5,
    });
    let e = infoplane::train::run(
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
