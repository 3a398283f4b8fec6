//! What a run costs (dry runs): its phases and, measured on this machine with the run's own
//! model, strategy and batch size on random data, the seconds of its training steps, its
//! information-plane measurements, its per-epoch test evaluation and its probes.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use infoplane_data::{DatasetName, Pixels, Split};
use infoplane_train::features::{accuracies, probe_features};
use infoplane_train::methods::forward_forward::{FfConfig, FfEmbedding};
use infoplane_train::observers::InfoPlaneObserver;
use infoplane_train::observers::infoplane::Cadence;
use infoplane_train::observers::probes::fit_probe;
use infoplane_train::{
    CheckedConfig, DataShape, EvalContext, EvalPoint, Observer, Strategy, StrategyConfig,
    TrainBatch, TrainConfig, build_model, build_strategy_for,
};

use crate::error::Result;

/// The shape of a config's model inputs (the dataset's sample shape after padding).
pub fn input_shape(cfg: &TrainConfig) -> DataShape {
    let d = cfg.data.dataset;
    DataShape {
        input: cfg.data.pipeline().output_shape(d.sample_shape()),
        classes: d.num_classes(),
    }
}

/// The config a step is timed with: retraining as E2E, forward-forward's prototype embedding
/// as the top-left one (both need data or a source run to be built).
pub fn timed_as(cfg: &TrainConfig) -> TrainConfig {
    let mut c = cfg.clone();
    if let Some(mut f) = c.strategy.params::<FfConfig>() {
        f.embedding = FfEmbedding::TopLeft;
        c.strategy = StrategyConfig::new(&f);
    }
    if c.strategy.kind() == "retrain" {
        c.strategy = StrategyConfig::by_name("e2e").expect("e2e");
    }
    c
}

/// Phases of a config's strategy (sequential schedules train one stage, or FF layer, each).
pub fn phases(cfg: &CheckedConfig) -> Result<usize> {
    let stages = build_model(cfg, input_shape(cfg.config()), &Device::flex())?.num_stages();
    Ok(cfg.method().phases(stages))
}

/// Seconds per training sample of a config's strategy on `device`: steps of the run's own
/// batch size on random data, timed after a warm-up step.
pub fn seconds_per_sample(cfg: &CheckedConfig, device: &Device) -> Result<f64> {
    let device = device.clone().autodiff();
    let c = timed_as(cfg.config()).check()?;
    let mut strategy = build_strategy_for(&c, input_shape(c.config()), &device)?;
    timed_steps(&c, strategy.as_mut(), &device)
}

fn timed_steps(c: &CheckedConfig, strategy: &mut dyn Strategy, device: &Device) -> Result<f64> {
    let shape = input_shape(c.config());
    strategy.enter_phase(0)?;
    let views = strategy.views();
    let b = c.config().batch_size;
    let n = b * views;
    let [ch, h, w] = shape.input;
    let x = Tensor::<4>::random([n, ch, h, w], Distribution::Normal(0.0, 1.0), device);
    let y = Tensor::<1, Int>::from_data(
        TensorData::new(
            (0..n)
                .map(|i| ((i % b) % shape.classes) as i64)
                .collect::<Vec<_>>(),
            [n],
        ),
        device,
    );
    let batch = || TrainBatch {
        x: x.clone(),
        y: y.clone(),
        views,
    };
    // Two warm-up steps, then steps until half a second or 50 steps have passed (at least 3):
    // fast steps are timed over many, slow ones not for longer than needed.
    for _ in 0..2 {
        strategy.step(batch(), 1e-4)?;
    }
    let t0 = Instant::now();
    let mut steps = 0;
    while steps < 3 || (steps < 50 && t0.elapsed().as_secs_f64() < 0.5) {
        strategy.step(batch(), 1e-4)?;
        steps += 1;
    }
    Ok(t0.elapsed().as_secs_f64() / (steps * b) as f64)
}

/// Training samples of a dataset (before `limit_train`).
pub fn train_size(d: DatasetName) -> usize {
    match d {
        DatasetName::Mnist10k => 8004,
        DatasetName::Mnist | DatasetName::FashionMnist => 60_000,
        DatasetName::Cifar10 | DatasetName::Cifar100 => 50_000,
        DatasetName::Rings => 1000,
    }
}

/// Test samples of a dataset (before `limit_test`).
pub fn test_size(d: DatasetName) -> usize {
    match d {
        DatasetName::Mnist10k => 1996,
        DatasetName::Mnist | DatasetName::FashionMnist | DatasetName::Cifar10 => 10_000,
        DatasetName::Cifar100 => 10_000,
        DatasetName::Rings => 1000,
    }
}

/// The seconds a run takes, by part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunCost {
    /// Training steps.
    pub train: f64,
    /// Information-plane measurements.
    pub measure: f64,
    /// Test accuracy after every epoch, and batch norm's calibration before the first
    /// measurement.
    pub evaluate: f64,
    /// Linear probes at the end.
    pub probes: f64,
}

impl RunCost {
    /// All of it.
    pub fn total(&self) -> f64 {
        self.train + self.measure + self.evaluate + self.probes
    }
}

/// A split of `n` random samples of `shape` (timing only).
fn random_split(n: usize, shape: [usize; 3], classes: usize) -> Split {
    let d = shape.iter().product::<usize>();
    let mut rng = infoplane_data::Rng::new(7);
    Split {
        shape,
        pixels: Pixels::F32((0..n * d).map(|_| rng.uniform() as f32).collect()),
        labels: (0..n).map(|i| (i % classes) as u8).collect(),
        coarse_labels: Vec::new(),
    }
}

fn seconds<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t0 = Instant::now();
    let out = f();
    (out, t0.elapsed().as_secs_f64())
}

/// One epoch of each stage's probe on up to 1,024 random rows of its width, scaled to the
/// probe's `n` samples and `epochs`.
fn probe_fit_seconds(
    features: &[Tensor<2>],
    n: usize,
    epochs: usize,
    classes: usize,
    device: &Device,
) -> f64 {
    let rows = n.min(1024);
    let mut fit = 0.0;
    for (i, f) in features.iter().enumerate() {
        let d = f.dims()[1];
        let x = Tensor::<2>::random([rows, d], Distribution::Normal(0.0, 1.0), device);
        let labels: Vec<i64> = (0..rows).map(|j| (j % classes) as i64).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [rows]), device);
        let (_, t) = seconds(|| fit_probe(x.clone(), y.clone(), x, y, classes, 1, 1e-3, i as u64));
        fit += t * (n as f64 / rows as f64) * epochs as f64;
    }
    fit
}

/// What a run costs on `device`, measured with its own model, strategy and sizes on random
/// data: seconds per training sample at its batch size (after a warm-up step), one
/// information-plane measurement on its evaluation set, the evaluation forward pass per
/// sample, and one probe epoch per stage — each multiplied by how often the run does it.
pub fn run_cost(cfg: &CheckedConfig, device: &Device) -> Result<RunCost> {
    let c = timed_as(cfg.config()).check()?;
    let k = c.config();
    let ad = device.clone().autodiff();
    let eval_device = device.clone().without_autodiff();
    let shape = input_shape(k);
    let mut strategy = build_strategy_for(&c, shape, &ad)?;
    let per_sample = timed_steps(&c, strategy.as_mut(), &ad)?;
    let phases = phases(cfg)?;
    let samples = k.data.limit_train.unwrap_or(train_size(k.data.dataset));
    let tests = k.data.limit_test.unwrap_or(test_size(k.data.dataset));
    let epochs = k.epochs * phases;
    let steps = epochs * samples.div_ceil(k.batch_size);
    let pipeline = k.data.pipeline();
    let raw = k.data.dataset.sample_shape();
    // The evaluation forward pass, per sample (test accuracy, calibration, probe features).
    let probe_batch = random_split(512.min(tests).max(4), raw, shape.classes);
    let host = infoplane_train::features::host_inputs(&probe_batch, &pipeline);
    let evaluator = strategy.evaluator();
    let _ = accuracies(evaluator.as_ref(), &host, &eval_device);
    let (_, t) = seconds(|| accuracies(evaluator.as_ref(), &host, &eval_device));
    let eval_per_sample = t / host.labels.len() as f64;
    // Batch norm's calibration (only before a measurement before training: the information
    // plane's first point): forward passes in training mode on the training device.
    let calibration = if k.infoplane.enabled && strategy.state().batch_norms() > 0 {
        let [ch, h, w] = shape.input;
        let x = Tensor::<4>::random(
            [k.batch_size, ch, h, w],
            Distribution::Normal(0.0, 1.0),
            &ad,
        );
        strategy.state().forward_train(x.clone());
        let (_, t) = seconds(|| strategy.state().forward_train(x));
        t * infoplane_train::train_loop::CALIBRATION_BATCHES as f64
    } else {
        0.0
    };
    let evaluate = eval_per_sample * (epochs * tests) as f64 + calibration;
    let ip = &k.infoplane;
    let measure = if ip.enabled {
        let n = ip.samples.min(match ip.split {
            infoplane_train::config::EvalSplit::Test => tests,
            infoplane_train::config::EvalSplit::Train => samples,
        });
        let eval = random_split(n, raw, shape.classes);
        let cadence = Cadence {
            every_steps: ip.every_steps,
            per_epoch: ip.per_epoch,
        };
        let mut obs = InfoPlaneObserver::new(
            &eval,
            shape.classes,
            &pipeline,
            ip.settings(),
            cadence,
            "timing",
            None,
        )?;
        let ctx = EvalContext {
            step: 0,
            epoch: 0.0,
            point: EvalPoint::Start,
            evaluator: evaluator.as_ref(),
            device: &eval_device,
            pipeline: &pipeline,
        };
        let (r, t) = seconds(|| obs.on_eval(&ctx));
        r?;
        let within = match ip.every_steps as usize {
            0 => 0,
            e => steps / e,
        };
        let points = 1 + if ip.per_epoch { epochs } else { 0 } + within;
        t * points as f64
    } else {
        0.0
    };
    let probes = if k.probe.enabled {
        let n = k.probe.limit_train.unwrap_or(samples);
        let features = probe_features(
            evaluator.as_ref(),
            &host,
            &eval_device,
            evaluator.head_features(),
        );
        probe_fit_seconds(&features, n, k.probe.epochs, shape.classes, &eval_device)
            + eval_per_sample * (n + tests) as f64
    } else {
        0.0
    };
    Ok(RunCost {
        train: per_sample * (epochs * samples) as f64,
        measure,
        evaluate,
        probes,
    })
}
