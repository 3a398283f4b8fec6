//! Linear probes (the paper's figure 1): for every stage, a linear softmax classifier trained
//! on the frozen representation (feature maps average-pooled to at most 2048 features, then
//! standardized with the training statistics), reporting train and test accuracy. Probes are
//! trained with Adam on mini-batches of 256 for a fixed number of epochs (the last third at a
//! tenth of the rate), seeded; a short probe under-reports separability, so the default is 30
//! epochs at lr 1e-2.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use infoplane_data::{HostBatch, Rng, Split};

use crate::error::{Result, TrainError};
use crate::features::{chunks, host_inputs};
use crate::learner::{Learner, correct};
use crate::observer::{EvalContext, Observer};
use crate::strategies::cross_entropy;

/// Probe accuracy of one stage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProbeResult {
    /// Stage index (1-based).
    pub stage: usize,
    /// Stage name.
    pub stage_name: String,
    /// Features the probe sees.
    pub features: usize,
    /// Accuracy on the probe's training samples.
    pub train_accuracy: f64,
    /// Accuracy on the test split.
    pub test_accuracy: f64,
}

/// Trains the probes at the end of training and writes `probes.csv`.
#[derive(Debug)]
pub struct ProbeObserver {
    train: Split,
    epochs: usize,
    lr: f64,
    seed: u64,
    out: PathBuf,
    results: Vec<ProbeResult>,
}

const PROBE_BATCH: usize = 256;
const MAX_FEATURES: usize = 2048;

impl ProbeObserver {
    /// Probes on `train` (possibly a subset of the training split), writing `out`.
    pub fn new(train: Split, epochs: usize, lr: f64, seed: u64, out: &Path) -> Self {
        ProbeObserver {
            train,
            epochs,
            lr,
            seed,
            out: out.into(),
            results: Vec::new(),
        }
    }

    /// The results of the last probing.
    pub fn results(&self) -> &[ProbeResult] {
        &self.results
    }
}

fn stage_features(learner: &Learner, batch: &HostBatch, device: &Device) -> Vec<Tensor<2>> {
    let mut per: Vec<Vec<Tensor<2>>> = vec![Vec::new(); learner.model.num_stages()];
    for (x, _) in chunks(batch, device) {
        for (i, t) in learner.model.forward_all(x).into_iter().enumerate() {
            per[i].push(crate::features::pooled(t, MAX_FEATURES));
        }
    }
    per.into_iter().map(|v| Tensor::cat(v, 0)).collect()
}

fn labels(batch: &HostBatch, device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(
        TensorData::new(
            batch.labels.iter().map(|&l| l as i64).collect::<Vec<_>>(),
            [batch.labels.len()],
        ),
        device,
    )
}

/// Trains a linear softmax probe on (xtr, ytr) and returns (train, test) accuracy.
#[allow(clippy::too_many_arguments)]
pub fn fit_probe(
    xtr: Tensor<2>,
    ytr: Tensor<1, Int>,
    xte: Tensor<2>,
    yte: Tensor<1, Int>,
    classes: usize,
    epochs: usize,
    lr: f64,
    seed: u64,
) -> (f64, f64) {
    let device = xtr.device();
    let ad = device.clone().autodiff();
    let [n, d] = xtr.dims();
    // Standardize with training statistics (constant features keep std 1).
    let mean = xtr.clone().mean_dim(0);
    let std = (xtr.clone() - mean.clone())
        .powi_scalar(2)
        .mean_dim(0)
        .sqrt()
        .clamp_min(1e-6);
    let xtr = (xtr - mean.clone()) / std.clone();
    let xte = (xte - mean) / std;
    let mut probe: Linear =
        crate::init::seeded(&ad, seed, |dev| LinearConfig::new(d, classes).init(dev));
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    for epoch in 0..epochs {
        // Step decay: the last third of the epochs at a tenth of the rate, to settle.
        let lr = if 3 * epoch >= 2 * epochs {
            lr * 0.1
        } else {
            lr
        };
        let order = Rng::derive(seed, &[0x9e0be, epoch as u64]).permutation(n);
        for chunk in order.chunks(PROBE_BATCH) {
            let idx = Tensor::<1, Int>::from_data(
                TensorData::new(
                    chunk.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                    [chunk.len()],
                ),
                &device,
            );
            let xb = xtr.clone().select(0, idx.clone()).autodiff();
            let yb = ytr.clone().select(0, idx).autodiff();
            let loss = cross_entropy(probe.forward(xb), yb);
            let grads = GradientsParams::from_grads(loss.backward(), &probe);
            probe = optim.step(lr, probe, grads);
        }
    }
    let probe = probe.valid();
    let acc = |x: Tensor<2>, y: Tensor<1, Int>| {
        let n = y.dims()[0].max(1);
        correct(probe.forward(x), y) as f64 / n as f64
    };
    (acc(xtr, ytr), acc(xte, yte))
}

impl Observer for ProbeObserver {
    fn name(&self) -> &'static str {
        "probes"
    }

    fn on_end(&mut self, ctx: &EvalContext<'_>) -> Result<()> {
        let device = ctx.device.clone().without_autodiff();
        let tr = host_inputs(&self.train, ctx.pipeline);
        let te = host_inputs(&ctx.data.test, ctx.pipeline);
        let ftr = stage_features(ctx.learner, &tr, &device);
        let fte = stage_features(ctx.learner, &te, &device);
        let (ytr, yte) = (labels(&tr, &device), labels(&te, &device));
        self.results.clear();
        for (i, (a, b)) in ftr.into_iter().zip(fte).enumerate() {
            let features = a.dims()[1];
            let (train_accuracy, test_accuracy) = fit_probe(
                a,
                ytr.clone(),
                b,
                yte.clone(),
                ctx.data.num_classes,
                self.epochs,
                self.lr,
                self.seed.wrapping_add(i as u64),
            );
            self.results.push(ProbeResult {
                stage: i + 1,
                stage_name: ctx.learner.model.names[i].clone(),
                features,
                train_accuracy,
                test_accuracy,
            });
        }
        write_probes(&self.out, &self.results)
    }
}

/// Writes probe results as CSV (written to a temporary file, then renamed).
pub fn write_probes(path: &Path, results: &[ProbeResult]) -> Result<()> {
    let tmp = path.with_extension("csv.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    let mut text = String::from("stage,stage_name,features,train_accuracy,test_accuracy\n");
    for r in results {
        text.push_str(&format!(
            "{},{},{},{:.6},{:.6}\n",
            r.stage, r.stage_name, r.features, r.train_accuracy, r.test_accuracy
        ));
    }
    f.write_all(text.as_bytes())
        .map_err(|e| TrainError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}

/// Reads `probes.csv`.
pub fn read_probes(path: &Path) -> Result<Vec<ProbeResult>> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let bad = |line: usize| TrainError::RunDir {
        path: path.into(),
        reason: format!("line {line} is not a probe row"),
    };
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let f: Vec<&str> = l.split(',').collect();
            if f.len() != 5 {
                return Err(bad(i + 1));
            }
            Ok(ProbeResult {
                stage: f[0].parse().map_err(|_| bad(i + 1))?,
                stage_name: f[1].to_string(),
                features: f[2].parse().map_err(|_| bad(i + 1))?,
                train_accuracy: f[3].parse().map_err(|_| bad(i + 1))?,
                test_accuracy: f[4].parse().map_err(|_| bad(i + 1))?,
            })
        })
        .collect()
}
