//! Training: gradients stop between stages in layer-wise mode, one layer-wise step equals the
//! per-stage updates of the local losses, E2E and layer-wise start from the same weights,
//! training lowers the loss, checkpoints round-trip, resume equals an uninterrupted run, run
//! folders are never replaced or shared, configs are checked.

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Int, Tensor};
use infoplane::models::Repr;
use infoplane::train::config::OptimizerKind;
use infoplane::train::losses::cross_entropy;
use infoplane::train::{OnExisting, RunOptions, Strategy, TrainBatch, TrainConfig, TrainError};

use crate::common::{MNIST_SHAPE, config, e2e, layerwise, run};

/// Every float parameter of a module, in visiting order.
struct Collect(Vec<Vec<f32>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        self.0.push(p.val().try_into_vec_as::<f32>().unwrap());
    }
}

pub fn params<M: Module>(m: &M) -> Vec<Vec<f32>> {
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}

fn mnist_batch(n: usize, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let data = crate::data::mnist_10k();
    let split = data.train.subset(n, 0);
    let pipe = infoplane::data::Pipeline {
        normalize: infoplane::data::Normalization::for_dataset(
            infoplane::data::DatasetName::Mnist10k,
        ),
        ..Default::default()
    };
    infoplane::data::materialize(&split, &pipe).to_tensors(device)
}

fn tiny_config(strategy: &str, epochs: usize) -> TrainConfig {
    config(&format!(
        "name = \"{strategy}\"\nepochs = {epochs}\nbatch_size = 64\nseed = 3\n\
         [data]\ndataset = \"mnist-10k\"\nlimit_train = 1024\nlimit_test = 128\n\
         [model]\narch = \"lenet5\"\n\
         [strategy]\nkind = \"{strategy}\"\n\
         [optim]\nlr = 2e-3\n\
         [infoplane]\nsamples = 128\nbatch = 64\nevery_steps = 3\n\
         [probe]\nepochs = 2\n"
    ))
}

#[test]
fn e2e_and_layerwise_start_from_identical_stage_weights() {
    let device = Device::flex().autodiff();
    let e = e2e(&tiny_config("e2e", 1), MNIST_SHAPE, &device);
    let lw = layerwise(&tiny_config("layerwise", 1), MNIST_SHAPE, &device);
    let (e, lw) = (e.trainee().net(), lw.trainee().net());
    assert!(lw.heads.iter().filter(|h| h.is_some()).count() == 4);
    assert_eq!(params(&e.model), params(&lw.model));
    // Another seed gives other weights.
    let mut other = tiny_config("e2e", 1);
    other.seed = 4;
    let o = e2e(&other, MNIST_SHAPE, &device);
    assert_ne!(params(&e.model), params(&o.trainee().net().model));
}

#[test]
fn weights_are_drawn_on_the_host_the_same_on_every_device() {
    // conv1's weight of LeNet5 is U(−1/√fan_in, 1/√fan_in) with fan_in = 1·5·5: drawn from our
    // generator, so the values are the same with and without autodiff, and within the bound.
    let cfg = tiny_config("e2e", 1);
    let a = e2e(&cfg, MNIST_SHAPE, &Device::flex());
    let b = e2e(&cfg, MNIST_SHAPE, &Device::flex().autodiff());
    let (a, b) = (a.trainee().net(), b.trainee().net());
    let (pa, pb) = (params(a), params(b));
    assert_eq!(pa, pb);
    assert!(pa[0].iter().all(|v| v.abs() <= 0.2) && pa[0].iter().any(|v| v.abs() > 0.15));
    let (_, report) = infoplane::train::init::initialize(a.clone(), 0, "network");
    assert_eq!(report.kept, 0, "every parameter of LeNet5 is host-drawn");
    // With the libtorch backend compiled in (`--features tch`), it starts from the same
    // weights too.
    #[cfg(feature = "tch")]
    {
        #[allow(deprecated)]
        let c = e2e(&cfg, MNIST_SHAPE, &Device::libtorch());
        assert_eq!(pa, params(c.trainee().net()));
    }
}

/// The one-step test of simultaneous layer-wise training: after one SGD step every stage and
/// head equals a manual update from its own local loss only.
#[test]
fn one_layerwise_step_equals_the_per_stage_updates_of_the_local_losses() {
    let device = Device::flex().autodiff();
    let mut cfg = tiny_config("layerwise", 1);
    cfg.optim.kind = OptimizerKind::Sgd;
    cfg.optim.momentum = 0.0;
    let lr = 0.5;
    let mut lw = layerwise(&cfg, MNIST_SHAPE, &device);
    let before = lw.trainee().net().clone();
    let (x, y) = mnist_batch(32, &device);
    lw.step(
        TrainBatch {
            x: x.clone(),
            y: y.clone(),
            views: 1,
        },
        lr,
    )
    .unwrap();
    let after = lw.trainee().net();
    let stages = before.model.num_stages();
    let mut input = Repr::Map(x);
    for i in 0..stages {
        let t = before.model.forward_stage_detached(i, input.clone());
        let scores = match &before.heads[i] {
            Some(h) => h.forward(t.clone()).flatten(),
            None => t.clone().flatten(),
        };
        let grads = cross_entropy(scores, y.clone()).backward();
        let expected = SgdConfig::new().init().step(
            lr,
            before.clone(),
            GradientsParams::from_grads(grads, &before),
        );
        let d = max_abs_diff(
            &params(&expected.model.stages[i]),
            &params(&after.model.stages[i]),
        );
        assert!(d < 1e-6, "stage {i}: {d}");
        if let (Some(h), Some(e)) = (&after.heads[i], &expected.heads[i]) {
            assert!(max_abs_diff(&params(e), &params(h)) < 1e-6, "head {i}");
        }
        // And the update moved the stage.
        assert!(
            max_abs_diff(
                &params(&before.model.stages[i]),
                &params(&after.model.stages[i])
            ) > 0.0
        );
        input = t.detach();
    }
}

fn grads_reaching<M: Module>(m: &M, grads: &burn::tensor::Gradients) -> usize {
    struct Count<'a>(&'a burn::tensor::Gradients, usize);
    impl ModuleVisitor for Count<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if p.val().grad(self.0).is_some() {
                self.1 += 1;
            }
        }
    }
    let mut c = Count(grads, 0);
    m.visit(&mut c);
    c.1
}

#[test]
fn e2e_gradients_reach_the_first_stage() {
    let device = Device::flex().autodiff();
    let s = e2e(&tiny_config("e2e", 1), MNIST_SHAPE, &device);
    let net = s.trainee().net();
    let (x, y) = mnist_batch(8, &device);
    let grads = cross_entropy(net.model.forward(x), y).backward();
    assert_eq!(grads_reaching(&net.model.stages[0], &grads), 2);
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
        let s = run(&cfg, &device, dir.path(), &RunOptions::default()).unwrap();
        let m = infoplane::train::read_metrics(&dir.path().join("metrics.jsonl")).unwrap();
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
            assert_eq!(m[3].stage_head_accuracy.iter().flatten().count(), 4);
        }
        assert!(dir.path().join("summary.json").exists());
        assert!(read(&dir.path().join("probes.csv")).lines().count() == 6);
        // The evaluation set is recorded with every point.
        assert!(
            read(&dir.path().join("infoplane.jsonl"))
                .contains("128 samples of the test split (subset seed 0)")
        );
    }
}

#[test]
fn checkpoint_round_trips() {
    let device = Device::flex();
    let cfg = tiny_config("layerwise", 1);
    let a = layerwise(&cfg, MNIST_SHAPE, &device);
    let dir = tempfile::tempdir().unwrap();
    a.save(dir.path()).unwrap();
    let other = TrainConfig { seed: 99, ..cfg };
    let mut b = layerwise(&other, MNIST_SHAPE, &device);
    assert_ne!(params(a.trainee().net()), params(b.trainee().net()));
    b.load(dir.path()).unwrap();
    assert_eq!(params(a.trainee().net()), params(b.trainee().net()));
    // The backbone alone is saved too, for runs that start from another's stages.
    let model = a.trainee().net().model.clone();
    let loaded = layerwise(&other, MNIST_SHAPE, &device)
        .trainee()
        .net()
        .model
        .clone()
        .load_file(dir.path().join(infoplane::train::strategy::MODEL_FILE));
    assert_eq!(params(&model), params(&loaded));
}

fn strip_times(p: &Path) -> Vec<serde_json::Value> {
    read(p)
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v.as_object_mut().unwrap().remove("observer_seconds");
            v
        })
        .collect()
}

/// Runs `cfg` uninterrupted and cut after `cut` epochs then resumed; the files must agree.
pub fn assert_resume_equals_uninterrupted(cfg: &TrainConfig, cut: usize) {
    let device = Device::flex();
    let full = tempfile::tempdir().unwrap();
    run(cfg, &device, full.path(), &RunOptions::default()).unwrap();
    let part = tempfile::tempdir().unwrap();
    let e = run(
        cfg,
        &device,
        part.path(),
        &RunOptions {
            stop_after_epochs: Some(cut),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("--resume"), "{e}");
    assert!(
        !part.path().join("summary.json").exists(),
        "an interrupted run must not look finished"
    );
    run(cfg, &device, part.path(), &RunOptions::resume()).unwrap();
    assert_eq!(
        strip_times(&full.path().join("metrics.jsonl")),
        strip_times(&part.path().join("metrics.jsonl"))
    );
    assert_eq!(
        read(&full.path().join("infoplane.jsonl")),
        read(&part.path().join("infoplane.jsonl"))
    );
    assert_eq!(
        read(&full.path().join("probes.csv")),
        read(&part.path().join("probes.csv"))
    );
}

#[test]
fn resume_equals_an_uninterrupted_run() {
    assert_resume_equals_uninterrupted(&tiny_config("layerwise", 3), 2);
}

#[test]
fn a_folder_with_a_run_is_never_replaced_silently() {
    let device = Device::flex();
    let mut cfg = tiny_config("e2e", 1);
    cfg.data.limit_train = Some(128);
    cfg.infoplane.enabled = false;
    cfg.probe.enabled = false;
    let dir = tempfile::tempdir().unwrap();
    let first = run(&cfg, &device, dir.path(), &RunOptions::default()).unwrap();
    let summary = read(&dir.path().join("summary.json"));
    // Another run into the same folder — even with another strategy — is refused.
    let other = tiny_config("layerwise", 1);
    let e = run(&other, &device, dir.path(), &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--resume") && e.contains("--overwrite") && e.contains("--out"),
        "{e}"
    );
    assert_eq!(read(&dir.path().join("summary.json")), summary);
    // Resuming a finished run returns it unchanged.
    let again = run(&cfg, &device, dir.path(), &RunOptions::resume()).unwrap();
    assert_eq!(again.test_accuracy, first.test_accuracy);
    assert_eq!(read(&dir.path().join("summary.json")), summary);
    // Overwriting is explicit.
    let s = run(
        &other,
        &device,
        dir.path(),
        &RunOptions {
            on_existing: OnExisting::Overwrite,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(s.strategy, "layerwise-ce");
}

#[test]
fn a_locked_folder_refuses_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let lock = infoplane::train::rundir::RunLock::acquire(dir.path()).unwrap();
    let e = run(
        &tiny_config("e2e", 1),
        &Device::flex(),
        dir.path(),
        &RunOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&format!("process {}", std::process::id())),
        "{e}"
    );
    assert!(!dir.path().join("metrics.jsonl").exists());
    drop(lock);
}

#[test]
fn shipped_experiment_configs_parse() {
    // Run configs: the quick job's and one per method (the artifacts' experiment files are
    // planned by the CLI's tests).
    fn visit(dir: &Path, n: &mut usize) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                visit(&p, n);
            } else if name.ends_with(".toml")
                && (name.starts_with("quick-") || dir.ends_with("methods"))
            {
                TrainConfig::from_file(&p)
                    .and_then(|c| c.check())
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                *n += 1;
            }
        }
    }
    let mut n = 0;
    visit(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments"),
        &mut n,
    );
    assert!(n >= 13, "{n} experiment files");
}

#[test]
fn configs_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("run.toml");
    let body =
        "[data]\ndataset = \"mnist-10k\"\n[model]\narch = \"lenet5\"\n[strategy]\nkind = \"e2e\"\n";
    std::fs::write(&p, format!("epochs = 2\nepoch = 3\n{body}")).unwrap();
    let e = TrainConfig::from_file(&p).unwrap_err().to_string();
    assert!(
        e.contains("run.toml") && e.contains("unknown field `epoch`"),
        "{e}"
    );
    std::fs::write(&p, body.replace("mnist-10k", "mnist-20k")).unwrap();
    assert!(
        TrainConfig::from_file(&p)
            .unwrap_err()
            .to_string()
            .contains("mnist-20k")
    );
    std::fs::write(&p, format!("batch_size = 0\n{body}")).unwrap();
    assert!(
        TrainConfig::from_file(&p)
            .and_then(|c| c.check())
            .unwrap_err()
            .to_string()
            .contains("batch_size")
    );
    std::fs::write(&p, body.replace("\"lenet5\"", "\"lenet7\"")).unwrap();
    let e = TrainConfig::from_file(&p).unwrap_err().to_string();
    assert!(e.contains("lenet7") && e.contains("resnet18"), "{e}");
}

#[test]
fn a_diverging_loss_stops_with_a_clear_error() {
    let device = Device::flex();
    let mut cfg = tiny_config("e2e", 2);
    cfg.optim.kind = OptimizerKind::Sgd;
    cfg.optim.lr = 1e8;
    cfg.infoplane.enabled = false;
    cfg.probe.enabled = false;
    let dir = tempfile::tempdir().unwrap();
    match run(&cfg, &device, dir.path(), &RunOptions::default()) {
        Err(TrainError::NonFiniteLoss { epoch, .. }) => assert_eq!(epoch, 1),
        other => panic!("expected a non-finite loss error, got {other:?}"),
    }
    assert!(!dir.path().join("summary.json").exists());
}

#[test]
fn lenet5_classic_shape_and_parameter_count() {
    use infoplane::models::{ArchConfig, ModelSummary};
    let device = Device::flex();
    let m = ArchConfig::by_name("lenet5")
        .unwrap()
        .init([1, 32, 32], 10, &device)
        .unwrap();
    assert_eq!(m.num_params(), 61_706);
    // 28x28 data: conv1 padded by 2, so fc3 sees 16x5x5 = 400 features as in the classic net.
    let m28 = ArchConfig::by_name("lenet5")
        .unwrap()
        .init([1, 28, 28], 10, &device)
        .unwrap();
    assert_eq!(m28.num_params(), 61_706);
    let s = ModelSummary::of(&m28, &device);
    assert_eq!(s.stages[1].output_shape, vec![16, 5, 5]);
    // The unpadded variant stays reachable: 16x4x4 = 256 features.
    let m = infoplane::models::LeNet5Config {
        conv1_padding: Some(0),
        ..Default::default()
    }
    .init([1, 28, 28], 10, &device)
    .unwrap();
    assert_eq!(
        ModelSummary::of(&m, &device).stages[1].output_shape,
        vec![16, 4, 4]
    );
}

#[test]
fn probes_separate_linearly_separable_data_perfectly() {
    use infoplane::train::observers::probes::{fit_probe, fit_ridge};
    let device = Device::flex();
    let mut rng = infoplane::data::Rng::new(5);
    // Three classes around 4·e_c in 6 dimensions, noise 0.3: linearly separable.
    let sample = |n: usize, rng: &mut infoplane::data::Rng| {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = i % 3;
            for j in 0..6 {
                x.push((if j == c { 4.0 } else { 0.0 } + 0.3 * rng.normal()) as f32);
            }
            y.push(c as i64);
        }
        (
            Tensor::<2>::from_data(burn::tensor::TensorData::new(x, [n, 6]), &device),
            Tensor::<1, Int>::from_data(burn::tensor::TensorData::new(y, [n]), &device),
        )
    };
    let (xtr, ytr) = sample(300, &mut rng);
    let (xte, yte) = sample(150, &mut rng);
    let soft = fit_probe(
        xtr.clone(),
        ytr.clone(),
        xte.clone(),
        yte.clone(),
        3,
        100,
        1e-2,
        0,
    );
    assert_eq!(soft, (1.0, 1.0));
    assert_eq!(fit_ridge(xtr, ytr, xte, yte, 3), (1.0, 1.0));
}

#[test]
fn the_nhsic_term_backpropagates_the_exact_gradient() {
    use infoplane::hsic::{Kernel, KernelKind, Regularized, Samples};
    use infoplane::train::losses::nhsic_term;
    let device = Device::flex().autodiff();
    let (n, d, sigma, eps) = (12, 4, 1.5, 1e-5);
    let mut rng = infoplane::data::Rng::new(21);
    let zv: Vec<f64> = (0..n * d).map(|_| rng.normal()).collect();
    let rv: Vec<f64> = (0..n * 3).map(|_| rng.normal()).collect();
    let reference =
        Regularized::new(&Kernel::default_x(), &Samples::new(n, 3, rv.clone()), eps).unwrap();
    let z = Tensor::<2>::from_data(
        burn::tensor::TensorData::new(zv.iter().map(|&v| v as f32).collect::<Vec<_>>(), [n, d]),
        &device,
    )
    .require_grad();
    let (surrogate, value) = nhsic_term(z.clone(), &reference, sigma, eps).unwrap();
    let grads = surrogate.backward();
    let g: Vec<f32> = z.grad(&grads).unwrap().try_into_vec_as::<f32>().unwrap();
    // The value equals nhsic() of the same samples.
    let kz = Kernel {
        kind: KernelKind::RbfDimscaled,
        sigma,
    };
    let zs = Samples::new(n, d, zv.clone());
    let direct =
        infoplane::hsic::nhsic(&zs, &Samples::new(n, 3, rv), &kz, &Kernel::default_x(), eps)
            .unwrap();
    assert!(
        (value - direct).abs() < 1e-4 * direct,
        "{value} vs {direct}"
    );
    // The gradient equals central finite differences of the f64 value.
    let f = |v: &[f64]| {
        infoplane::hsic::nhsic_gradient(&kz.gram(&Samples::new(n, d, v.to_vec())), &reference, eps)
            .unwrap()
            .0
    };
    let h = 1e-5;
    let scale = g.iter().map(|v| v.abs()).fold(0.0, f32::max) as f64;
    for idx in 0..n * d {
        let (mut p, mut m) = (zv.clone(), zv.clone());
        p[idx] += h;
        m[idx] -= h;
        let fd = (f(&p) - f(&m)) / (2.0 * h);
        assert!(
            (fd - g[idx] as f64).abs() < 1e-3 * scale,
            "entry {idx}: {fd} vs {}",
            g[idx]
        );
    }
}

#[test]
fn runs_that_differ_only_in_seed_see_the_same_samples() {
    let mut a = tiny_config("e2e", 1);
    a.data.limit_train = Some(300);
    a.data.limit_test = Some(100);
    let b = TrainConfig {
        seed: 17,
        ..a.clone()
    };
    let (da, db) = (a.data.load().unwrap(), b.data.load().unwrap());
    let fingerprint = |s: &infoplane::data::Split| {
        let inputs = infoplane::data::materialize(s, &Default::default());
        (inputs.labels, inputs.images)
    };
    assert_eq!(fingerprint(&da.train), fingerprint(&db.train));
    assert_eq!(fingerprint(&da.test), fingerprint(&db.test));
    // Another data seed draws other samples.
    let mut c = a.clone();
    c.data.subset_seed = 1;
    assert_ne!(
        fingerprint(&c.data.load().unwrap().train),
        fingerprint(&da.train)
    );
    // And the runs are measured on the same evaluation set: the same nHSIC(X;X)-side inputs
    // give the same first nHSIC(X;T) at initialization when the weights are the same.
    let device = Device::flex();
    let (ra, rb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let sa = run(&a, &device, ra.path(), &RunOptions::default()).unwrap();
    let sb = run(&b, &device, rb.path(), &RunOptions::default()).unwrap();
    assert_eq!(sa.eval_set, sb.eval_set);
    assert_eq!(sa.test_samples, sb.test_samples);
}

#[test]
fn batch_norm_statistics_are_estimated_before_the_first_measurement() {
    use infoplane::models::ArchConfig;
    let mut cfg = tiny_config("e2e", 1);
    if let ArchConfig::Lenet5(l) = &mut cfg.model {
        l.batch_norm = true;
    }
    cfg.data.limit_train = Some(256);
    cfg.probe.enabled = false;
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let s = run(&cfg, &device, dir.path(), &RunOptions::default()).unwrap();
    assert!(
        s.calibration
            .as_deref()
            .is_some_and(|c| c.contains("40 training batches"))
    );
    // The saved checkpoint's running statistics are not their initial values any more after
    // calibration and training; a model without batch norm is not calibrated.
    let plain = tiny_config("e2e", 1);
    let dir = tempfile::tempdir().unwrap();
    let mut p = plain.clone();
    p.data.limit_train = Some(256);
    p.probe.enabled = false;
    assert!(
        run(&p, &device, dir.path(), &RunOptions::default())
            .unwrap()
            .calibration
            .is_none()
    );
    // Calibration alone (no step) moves the running means away from 0.
    let cfg = cfg.check().unwrap();
    let data = cfg.config().data.load().unwrap();
    let strategy =
        infoplane::train::build_strategy(&cfg, &data, &device.clone().autodiff()).unwrap();
    // What a measurement sees (evaluation mode: the running statistics).
    let pipe = cfg.config().data.pipeline();
    let eval_x = infoplane::data::materialize(&data.test.subset(32, 0), &pipe)
        .to_tensors(&device)
        .0;
    let seen = |s: &dyn infoplane::train::Strategy| {
        s.evaluator()
            .evaluate(eval_x.clone())
            .scores
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let before = seen(strategy.as_ref());
    let x = infoplane::data::materialize(&data.train.subset(64, 0), &pipe)
        .to_tensors(&device.clone().autodiff())
        .0;
    // conv1, conv2, fc3, fc4.
    assert_eq!(strategy.state().batch_norms(), 4);
    strategy.state().forward_train(x);
    assert_ne!(before, seen(strategy.as_ref()), "running statistics moved");
}
