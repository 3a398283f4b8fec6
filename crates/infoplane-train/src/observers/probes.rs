//! Linear probes (the paper's figure 1): for every stage, a linear classifier on the frozen
//! representation (read by the model's rule: feature maps average-pooled to at most the
//! model's head-feature limit, 2048 by default; tokens reduced by the readout), standardized
//! with the training statistics, reporting train and test accuracy.
//!
//! - `softmax` (default): a softmax classifier trained with Adam on mini-batches of 256 for a
//!   fixed number of epochs (the last third at a tenth of the rate), seeded; a short probe
//!   under-reports separability, so the default is 30 epochs at lr 1e-2.
//! - `ridge`: closed form — least squares onto centered one-hot targets with a ridge
//!   λ = 1e-3·tr(XᵀX)/d, solved in f64 (Cholesky); nothing to under-train.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use infoplane_data::{HostBatch, Rng, Split};

use crate::config::{ProbeConfig, ProbeMethod};
use crate::error::{Result, TrainError};
use crate::features::{host_inputs, probe_features};
use crate::losses::cross_entropy;
use crate::observer::{EvalContext, Observer};
use crate::strategy::correct;

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
    test: Split,
    classes: usize,
    cfg: ProbeConfig,
    seed: u64,
    out: PathBuf,
    results: Vec<ProbeResult>,
}

const PROBE_BATCH: usize = 256;

impl ProbeObserver {
    /// Probes trained on `train` (possibly a subset of the training split) and tested on
    /// `test`, writing `out`.
    pub fn new(
        train: Split,
        test: Split,
        classes: usize,
        cfg: ProbeConfig,
        seed: u64,
        out: &Path,
    ) -> Self {
        ProbeObserver {
            train,
            test,
            classes,
            cfg,
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
    // Standardize with training statistics (constant features keep their value).
    let (xtr, xte) = standardize(xtr, xte);
    let (mut probe, _): (Linear, _) =
        crate::init::initialize(LinearConfig::new(d, classes).init(&ad), seed, "probe");
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
        let te = host_inputs(&self.test, ctx.pipeline);
        let max = ctx.evaluator.head_features();
        let ftr = probe_features(ctx.evaluator, &tr, &device, max);
        let fte = probe_features(ctx.evaluator, &te, &device, max);
        let (ytr, yte) = (labels(&tr, &device), labels(&te, &device));
        let names = ctx.evaluator.stage_names();
        self.results.clear();
        for (i, (a, b)) in ftr.into_iter().zip(fte).enumerate() {
            let features = a.dims()[1];
            let (train_accuracy, test_accuracy) = match self.cfg.method {
                ProbeMethod::Softmax => fit_probe(
                    a,
                    ytr.clone(),
                    b,
                    yte.clone(),
                    self.classes,
                    self.cfg.epochs,
                    self.cfg.lr,
                    Rng::seed_for(self.seed, &format!("probe {i}")),
                ),
                ProbeMethod::Ridge => fit_ridge(a, ytr.clone(), b, yte.clone(), self.classes),
            };
            self.results.push(ProbeResult {
                stage: i + 1,
                stage_name: names[i].clone(),
                features,
                train_accuracy,
                test_accuracy,
            });
        }
        write_probes(&self.out, &self.results)
    }
}

fn standardize(xtr: Tensor<2>, xte: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let mean = xtr.clone().mean_dim(0);
    let std = (xtr.clone() - mean.clone())
        .powi_scalar(2)
        .mean_dim(0)
        .sqrt()
        .clamp_min(1e-6);
    ((xtr - mean.clone()) / std.clone(), (xte - mean) / std)
}

/// The closed-form probe: ridge regression of standardized features onto centered one-hot
/// targets, W = (XᵀX + λI)⁻¹XᵀY with λ = 1e-3·tr(XᵀX)/d, in f64; the class is the argmax of
/// XW. Returns (train, test) accuracy.
pub fn fit_ridge(
    xtr: Tensor<2>,
    ytr: Tensor<1, Int>,
    xte: Tensor<2>,
    yte: Tensor<1, Int>,
    classes: usize,
) -> (f64, f64) {
    use faer::linalg::solvers::Solve;
    use faer::{Mat, Side};
    let (xtr, xte) = standardize(xtr, xte);
    let [n, d] = xtr.dims();
    let labels: Vec<i64> = ytr.clone().try_into_vec_as::<i64>().expect("labels");
    // XᵀX and XᵀY on the backend (f32), solved in f64.
    let gram: Vec<f32> = xtr
        .clone()
        .transpose()
        .matmul(xtr.clone())
        .try_into_vec_as::<f32>()
        .expect("float");
    let mut onehot = vec![-1.0f32 / classes as f32; n * classes];
    for (i, &c) in labels.iter().enumerate() {
        onehot[i * classes + c as usize] += 1.0;
    }
    let y = Tensor::<2>::from_data(TensorData::new(onehot, [n, classes]), &xtr.device());
    let xty: Vec<f32> = xtr
        .clone()
        .transpose()
        .matmul(y)
        .try_into_vec_as::<f32>()
        .expect("float");
    let trace: f64 = (0..d).map(|i| gram[i * d + i] as f64).sum();
    let lambda = 1e-3 * trace / d as f64 + 1e-9;
    let a = Mat::from_fn(d, d, |i, j| {
        gram[i * d + j] as f64 + if i == j { lambda } else { 0.0 }
    });
    let b = Mat::from_fn(d, classes, |i, j| xty[i * classes + j] as f64);
    let w = match a.llt(Side::Lower) {
        Ok(llt) => llt.solve(&b),
        Err(_) => return (f64::NAN, f64::NAN),
    };
    let wv: Vec<f32> = (0..d * classes)
        .map(|k| w[(k / classes, k % classes)] as f32)
        .collect();
    let w = Tensor::<2>::from_data(TensorData::new(wv, [d, classes]), &xtr.device());
    let acc = |x: Tensor<2>, y: Tensor<1, Int>| {
        let n = y.dims()[0].max(1);
        correct(x.matmul(w.clone()), y) as f64 / n as f64
    };
    (acc(xtr, ytr), acc(xte, yte))
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
            let r = ProbeResult {
                stage: f[0].parse().map_err(|_| bad(i + 1))?,
                stage_name: f[1].to_string(),
                features: f[2].parse().map_err(|_| bad(i + 1))?,
                train_accuracy: f[3].parse().map_err(|_| bad(i + 1))?,
                test_accuracy: f[4].parse().map_err(|_| bad(i + 1))?,
            };
            // Values from the file are checked before anything draws them.
            let accuracy = |a: f64| (0.0..=1.0).contains(&a);
            if !(1..=infoplane_hsic::recorder::MAX_STAGES).contains(&r.stage)
                || !accuracy(r.train_accuracy)
                || !accuracy(r.test_accuracy)
            {
                return Err(TrainError::RunDir {
                    path: path.into(),
                    reason: format!(
                        "line {}: stage {} or accuracies {} / {} out of range (stages 1..={}, accuracies in [0, 1]); the file is damaged",
                        i + 1,
                        r.stage,
                        r.train_accuracy,
                        r.test_accuracy,
                        infoplane_hsic::recorder::MAX_STAGES
                    ),
                });
            }
            Ok(r)
        })
        .collect()
}
