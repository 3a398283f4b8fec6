//! Training: gradients stop between stages in layer-wise mode, training lowers the loss,
//! checkpoints round-trip, resume equals an uninterrupted run, configs are checked.

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Gradients, Tensor};
use infoplane::models::{HeadKind, LeNet5Config, Repr};
use infoplane::train::strategies::cross_entropy;
use infoplane::train::{Learner, RunOptions, TrainConfig, TrainError};

struct AnyGrad<'a> {
    grads: &'a Gradients,
    with: usize,
    total: usize,
}

impl ModuleVisitor for AnyGrad<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        self.total += 1;
        if p.val().grad(self.grads).is_some() {
            self.with += 1;
        }
    }
}

fn grads_of<M: Module>(m: &M, grads: &Gradients) -> (usize, usize) {
    let mut v = AnyGrad {
        grads,
        with: 0,
        total: 0,
    };
    m.visit(&mut v);
    (v.with, v.total)
}

fn batch(device: &Device) -> (Tensor<4>, burn::tensor::Tensor<1, burn::tensor::Int>) {
    let data = infoplane::data::load(
        infoplane::data::DatasetName::Mnist10k,
        &infoplane::data::Locator::standard(None),
    )
    .unwrap();
    let split = data.train.subset(16, 0);
    let hb = infoplane::data::materialize(&split, &infoplane::data::Pipeline::default());
    hb.to_tensors(device)
}

#[test]
fn layerwise_gradients_do_not_cross_stages_but_e2e_gradients_do() {
    let device = Device::flex().autodiff();
    // Parameters are drawn under the library's init lock, so parallel tests keep their seeds.
    let learner = infoplane::train::init::seeded(&device, 0, |d| {
        let model = LeNet5Config {
            in_channels: 1,
            image_size: 28,
            num_classes: 10,
        }
        .init(d);
        Learner::new(model, Some(HeadKind::Linear), d)
    });

    let (x, y) = batch(&device);
    // Layer-wise: the local loss of stage 2 (index 1) through its head.
    let t1 = learner
        .model
        .forward_stage_detached(0, Repr::Map(x.clone()));
    let t2 = learner.model.forward_stage_detached(1, t1);
    let grads = cross_entropy(learner.stage_logits(1, t2), y.clone()).backward();
    let (with0, total0) = grads_of(&learner.model.stages[0], &grads);
    let (with1, total1) = grads_of(&learner.model.stages[1], &grads);
    let (with_h1, _) = grads_of(&learner.heads[1], &grads);
    assert_eq!(
        (with0, total0),
        (0, 2),
        "stage 1 must get no gradient from stage 2's loss"
    );
    assert_eq!(with1, total1);
    assert_eq!(with_h1, 2);
    assert_eq!(grads_of(&learner.heads[0], &grads).0, 0);
    // E2E: the output loss reaches the first stage.
    let grads = cross_entropy(learner.model.forward(x), y).backward();
    assert_eq!(grads_of(&learner.model.stages[0], &grads), (2, 2));
    assert!(!GradientsParams::from_grads(grads, &learner.model.stages[0]).is_empty());
}

fn tiny_config(strategy: &str, epochs: usize) -> TrainConfig {
    TrainConfig::from_toml(&format!(
        "name = \"{strategy}\"\nstrategy = \"{strategy}\"\nepochs = {epochs}\nbatch_size = 64\nseed = 3\n\
         [data]\ndataset = \"mnist-10k\"\nlimit_train = 1024\nlimit_test = 128\n\
         [model]\narch = \"lenet5\"\n\
         [optim]\nlr = 2e-3\n\
         [infoplane]\nsamples = 128\nbatch = 64\nevery_steps = 3\n\
         [probe]\nepochs = 2\n"
    ))
    .unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn training_lowers_the_loss_for_both_strategies() {
    let device = Device::flex();
    for strategy in ["e2e", "layerwise"] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = tiny_config(strategy, 4);
        let s = infoplane::train::run(&cfg, &device, dir.path(), &RunOptions::default()).unwrap();
        let m = infoplane::train::trainer::read_metrics(&dir.path().join("metrics.jsonl")).unwrap();
        assert_eq!(m.len(), 4);
        assert!(
            m[3].loss < 0.6 * m[0].loss,
            "{strategy}: loss {} -> {}",
            m[0].loss,
            m[3].loss
        );
        assert!(s.test_accuracy > 0.5, "{strategy}: {}", s.test_accuracy);
        assert_eq!(s.stages.len(), 5);
        // Points before training, every 3 steps and at each epoch end, for each stage.
        assert!(
            s.stages
                .iter()
                .all(|st| st.nhsic_x.len() >= 5 && st.probe_test_accuracy.is_some())
        );
        if strategy == "layerwise" {
            assert_eq!(m[3].stage_losses.len(), 5);
            assert_eq!(m[3].stage_head_accuracy.len(), 4);
        }
        assert!(dir.path().join("summary.json").exists());
        assert!(read(&dir.path().join("probes.csv")).lines().count() == 6);
    }
}

#[test]
fn checkpoint_round_trips() {
    let device = Device::flex();
    let data = infoplane::train::load_data(&tiny_config("layerwise", 1)).unwrap();
    let cfg = tiny_config("layerwise", 1);
    let a = infoplane::train::build_learner(&cfg, &data, &device);
    let dir = tempfile::tempdir().unwrap();
    a.clone().save_file(dir.path().join("l.bpk")).unwrap();
    let other = TrainConfig { seed: 99, ..cfg };
    let b = infoplane::train::build_learner(&other, &data, &device);
    let (x, _) = batch(&device);
    assert!(
        !a.model
            .forward(x.clone())
            .all_close(b.model.forward(x.clone()), None, None)
    );
    let b = b.load_file(dir.path().join("l.bpk"));
    assert!(
        a.model
            .forward(x.clone())
            .all_close(b.model.forward(x), Some(0.0), Some(0.0))
    );
}

#[test]
fn resume_equals_an_uninterrupted_run() {
    let device = Device::flex();
    let cfg = tiny_config("layerwise", 3);
    let full = tempfile::tempdir().unwrap();
    infoplane::train::run(&cfg, &device, full.path(), &RunOptions::default()).unwrap();
    let cut = tempfile::tempdir().unwrap();
    let e = infoplane::train::run(
        &cfg,
        &device,
        cut.path(),
        &RunOptions {
            stop_after_epochs: Some(2),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("--resume"), "{e}");
    assert!(
        !cut.path().join("summary.json").exists(),
        "an interrupted run must not look finished"
    );
    infoplane::train::run(
        &cfg,
        &device,
        cut.path(),
        &RunOptions {
            resume: true,
            ..Default::default()
        },
    )
    .unwrap();
    let strip = |p: &Path| -> Vec<serde_json::Value> {
        read(p)
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("seconds");
                v.as_object_mut().unwrap().remove("observer_seconds");
                v
            })
            .collect()
    };
    assert_eq!(
        strip(&full.path().join("metrics.jsonl")),
        strip(&cut.path().join("metrics.jsonl"))
    );
    assert_eq!(
        read(&full.path().join("infoplane.jsonl")),
        read(&cut.path().join("infoplane.jsonl"))
    );
    assert_eq!(
        read(&full.path().join("probes.csv")),
        read(&cut.path().join("probes.csv"))
    );
}

#[test]
fn shipped_experiment_configs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            TrainConfig::from_file(&p).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 2);
}

#[test]
fn configs_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("run.toml");
    std::fs::write(&p, "strategy = \"e2e\"\nepochs = 2\nepoch = 3\n[data]\ndataset = \"mnist-10k\"\n[model]\narch = \"lenet5\"\n").unwrap();
    let e = TrainConfig::from_file(&p).unwrap_err().to_string();
    assert!(
        e.contains("run.toml") && e.contains("unknown field `epoch`"),
        "{e}"
    );
    std::fs::write(
        &p,
        "strategy = \"e2e\"\n[data]\ndataset = \"mnist-20k\"\n[model]\narch = \"lenet5\"\n",
    )
    .unwrap();
    assert!(
        TrainConfig::from_file(&p)
            .unwrap_err()
            .to_string()
            .contains("mnist-20k")
    );
    std::fs::write(&p, "strategy = \"e2e\"\nbatch_size = 0\n[data]\ndataset = \"mnist-10k\"\n[model]\narch = \"lenet5\"\n").unwrap();
    assert!(
        TrainConfig::from_file(&p)
            .unwrap_err()
            .to_string()
            .contains("batch_size")
    );
}

#[test]
fn a_diverging_loss_stops_with_a_clear_error() {
    let device = Device::flex();
    let mut cfg = tiny_config("e2e", 2);
    cfg.optim.kind = infoplane::train::config::OptimizerKind::Sgd;
    cfg.optim.lr = 1e8;
    cfg.infoplane.enabled = false;
    cfg.probe.enabled = false;
    let dir = tempfile::tempdir().unwrap();
    match infoplane::train::run(&cfg, &device, dir.path(), &RunOptions::default()) {
        Err(TrainError::NonFiniteLoss { epoch, .. }) => assert_eq!(epoch, 1),
        other => panic!("expected a non-finite loss error, got {other:?}"),
    }
    assert!(!dir.path().join("summary.json").exists());
}
