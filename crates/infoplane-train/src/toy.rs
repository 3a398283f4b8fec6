//! The toy example of greedy optimization failure (section 4.2): a first layer T1 = W x on 2-D
//! data whose classes are separated by the radius, trained layer-wise with a linear auxiliary
//! classifier (its second singular value collapses), layer-wise with a two-layer MLP head (it
//! does not), and end-to-end under a non-linear backbone (it does not).
//!
//! The paper's constants were lost (our copy has no equations or figure); ours, chosen so that
//! every surviving sentence holds, are:
//! - data: class 1 on a circle of radius 1, class 0 on the half circle of radius 2 with
//!   x₁ < 0 (angles in (π/2, 3π/2)), Gaussian noise 0.05, 512 points, balanced. The classes are
//!   separable by the radius; the data is mirror-symmetric in x₂ (so the linear signal lies
//!   along x₁ alone) but not in x₁ (so a linear classifier has something to learn);
//! - first layer: W ∈ R²ˣ², no bias, starting at W₀ = [[0.6, 0.3], [−0.2, 0.5]] (well
//!   conditioned: σ₂/σ₁ ≈ 0.6, so both directions are there to lose; the heads are drawn from
//!   the seed); the norm constraint as a penalty λ‖W‖²_F with λ = 0.01 (the paper's
//!   equation 9);
//! - heads: linear aᵀT + b with binary cross-entropy (layer-wise); a two-layer MLP 2-16-1
//!   (layer-wise, "MLP head"); the backbone of E2E: 2-16-16-1 with ReLU;
//! - full-batch SGD, lr 0.1, 3,000 steps, a record every 25 steps.
//!
//! Recorded over training: the singular values of W, nHSIC(X;T1) and nHSIC(Y;T1) (Gaussian
//! kernel σ = 1 on X and T1, linear kernel on the one-hot labels, ε = 1e-5, mini-batches of
//! 256), the training accuracy, and snapshots of T1 in the basis where the classifier (linear
//! head) or W's first left singular vector (otherwise) is the x-axis.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::activation::{relu, softplus};
use burn::tensor::{Device, Tensor, TensorData};
use infoplane_data::Rng;
use infoplane_hsic::{Kernel, KernelKind, Samples, nhsic_batched};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::init::initialize;

/// Settings of the toy example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToyConfig {
    /// Points (half per class).
    pub samples: usize,
    /// Radius of class 1.
    pub inner_radius: f64,
    /// Radius of class 0.
    pub outer_radius: f64,
    /// Gaussian noise on every coordinate.
    pub noise: f64,
    /// λ of the penalty λ‖W‖²_F.
    pub lambda: f64,
    /// SGD learning rate (full batch).
    pub lr: f64,
    /// Optimizer steps.
    pub steps: usize,
    /// Record every this many steps.
    pub record_every: usize,
    /// Hidden units of the MLP head and of the E2E backbone.
    pub hidden: usize,
    /// Seed of the data and the initialization.
    pub seed: u64,
}

impl Default for ToyConfig {
    fn default() -> Self {
        ToyConfig {
            samples: 512,
            inner_radius: 1.0,
            outer_radius: 2.0,
            noise: 0.05,
            lambda: 0.01,
            lr: 0.1,
            steps: 3000,
            record_every: 25,
            hidden: 16,
            seed: 0,
        }
    }
}

/// How the first layer is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToyTraining {
    /// Layer-wise, linear auxiliary classifier.
    LayerwiseLinear,
    /// Layer-wise, two-layer MLP auxiliary classifier.
    LayerwiseMlp,
    /// End-to-end under a non-linear backbone.
    EndToEnd,
}

impl ToyTraining {
    /// Name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ToyTraining::LayerwiseLinear => "layer-wise, linear head",
            ToyTraining::LayerwiseMlp => "layer-wise, MLP head",
            ToyTraining::EndToEnd => "E2E, non-linear backbone",
        }
    }
}

/// What a toy run recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToyTrace {
    /// The training.
    pub training: ToyTraining,
    /// Steps of the records.
    pub steps: Vec<usize>,
    /// Singular values σ₁ ≥ σ₂ of W.
    pub sigma: Vec<[f64; 2]>,
    /// nHSIC(X;T1).
    pub nhsic_x: Vec<f64>,
    /// nHSIC(Y;T1).
    pub nhsic_y: Vec<f64>,
    /// Training accuracy of the model's prediction.
    pub accuracy: Vec<f64>,
    /// T1 at a few steps, rotated so that the classifier (or W's main direction) is the x-axis.
    pub snapshots: Vec<(usize, Vec<[f64; 2]>)>,
    /// Class of each point (for the scatter plots).
    pub labels: Vec<u8>,
}

/// The toy data: points `[n, 2]` and labels (1 inside, 0 outside).
pub fn toy_data(cfg: &ToyConfig) -> (Vec<f32>, Vec<u8>) {
    let mut rng = Rng::derive(cfg.seed, &[0x70a]);
    let mut x = Vec::with_capacity(2 * cfg.samples);
    let mut y = Vec::with_capacity(cfg.samples);
    for i in 0..cfg.samples {
        let inner = i % 2 == 0;
        let angle = if inner {
            rng.uniform_range(0.0, std::f64::consts::TAU)
        } else {
            rng.uniform_range(std::f64::consts::FRAC_PI_2, 1.5 * std::f64::consts::PI)
        };
        let r = if inner {
            cfg.inner_radius
        } else {
            cfg.outer_radius
        };
        x.push((r * angle.cos() + cfg.noise * rng.normal()) as f32);
        x.push((r * angle.sin() + cfg.noise * rng.normal()) as f32);
        y.push(u8::from(inner));
    }
    (x, y)
}

#[derive(Module, Debug)]
struct ToyModel {
    w: Linear,
    head1: Linear,
    head2: Option<Linear>,
    head3: Option<Linear>,
}

impl ToyModel {
    fn new(training: ToyTraining, hidden: usize, device: &Device) -> Self {
        let lin = |a, b, bias| LinearConfig::new(a, b).with_bias(bias).init(device);
        match training {
            ToyTraining::LayerwiseLinear => ToyModel {
                w: lin(2, 2, false),
                head1: lin(2, 1, true),
                head2: None,
                head3: None,
            },
            ToyTraining::LayerwiseMlp => ToyModel {
                w: lin(2, 2, false),
                head1: lin(2, hidden, true),
                head2: Some(lin(hidden, 1, true)),
                head3: None,
            },
            ToyTraining::EndToEnd => ToyModel {
                w: lin(2, 2, false),
                head1: lin(2, hidden, true),
                head2: Some(lin(hidden, hidden, true)),
                head3: Some(lin(hidden, 1, true)),
            },
        }
    }

    fn t1(&self, x: Tensor<2>) -> Tensor<2> {
        self.w.forward(x)
    }

    /// Logits from T1 (layer-wise: T1 detached, so the head's loss trains W only through
    /// the layer's own loss — which is the same loss here: the first layer's local loss).
    fn logits(&self, t: Tensor<2>) -> Tensor<2> {
        let h = self.head1.forward(t);
        match (&self.head2, &self.head3) {
            (None, _) => h,
            (Some(b), None) => b.forward(relu(h)),
            (Some(b), Some(c)) => c.forward(relu(b.forward(relu(h)))),
        }
    }
}

/// Singular values of a 2×2 matrix given row-major.
pub fn singular_values_2x2(w: [f64; 4]) -> [f64; 2] {
    let s = w.iter().map(|v| v * v).sum::<f64>();
    let det = (w[0] * w[3] - w[1] * w[2]).abs();
    let disc = (s * s - 4.0 * det * det).max(0.0).sqrt();
    [
        ((s + disc) / 2.0).sqrt(),
        ((s - disc) / 2.0).max(0.0).sqrt(),
    ]
}

/// T1's points rotated so that the x-axis is the linear classifier's direction (layer-wise,
/// linear head) or W's main output direction (the others).
fn in_classifier_basis(
    training: ToyTraining,
    m: &ToyModel,
    wm: [f64; 4],
    tv: &[f32],
) -> Vec<[f64; 2]> {
    let dir = if training == ToyTraining::LayerwiseLinear {
        let a: Vec<f32> = m.head1.weight.val().try_into_vec_as::<f32>().expect("f");
        [a[0] as f64, a[1] as f64]
    } else {
        // First left singular vector of W from W Wᵀ's leading eigenvector.
        let (p, q, r) = (
            wm[0] * wm[0] + wm[1] * wm[1],
            wm[0] * wm[2] + wm[1] * wm[3],
            wm[2] * wm[2] + wm[3] * wm[3],
        );
        let theta = 0.5 * (2.0 * q).atan2(p - r);
        [theta.cos(), theta.sin()]
    };
    let norm = (dir[0] * dir[0] + dir[1] * dir[1]).sqrt().max(1e-12);
    let (c, s) = (dir[0] / norm, dir[1] / norm);
    tv.chunks(2)
        .map(|p| {
            let (u, v) = (p[0] as f64, p[1] as f64);
            [c * u + s * v, -s * u + c * v]
        })
        .collect()
}

/// Trains the toy's first layer one way and records its trace.
pub fn run_toy(cfg: &ToyConfig, training: ToyTraining) -> Result<ToyTrace> {
    let device = Device::flex().autodiff();
    let plain = device.clone().without_autodiff();
    let (xv, yv) = toy_data(cfg);
    let n = yv.len();
    let x = Tensor::<2>::from_data(TensorData::new(xv.clone(), [n, 2]), &device);
    let y = Tensor::<2>::from_data(
        TensorData::new(yv.iter().map(|&v| v as f32).collect::<Vec<_>>(), [n, 1]),
        &device,
    );
    let (mut model, _) = initialize(
        ToyModel::new(training, cfg.hidden, &device),
        cfg.seed,
        "toy",
    );
    // W₀ (burn stores the transpose: T = x·W_b).
    let w0 = Tensor::<2>::from_data(
        TensorData::new(vec![0.6f32, -0.2, 0.3, 0.5], [2, 2]),
        &device,
    )
    .require_grad();
    model.w.weight = burn::module::Param::initialized(model.w.weight.id, w0);
    let mut optim = SgdConfig::new().init();
    let xs = Samples::from_f32(n, 2, &xv);
    let ys = Samples::one_hot(&yv.iter().map(|&v| v as usize).collect::<Vec<_>>(), 2);
    let k = Kernel {
        kind: KernelKind::Rbf,
        sigma: 1.0,
    };
    let batch = 256.min(n);
    let mut trace = ToyTrace {
        training,
        steps: Vec::new(),
        sigma: Vec::new(),
        nhsic_x: Vec::new(),
        nhsic_y: Vec::new(),
        accuracy: Vec::new(),
        snapshots: Vec::new(),
        labels: yv.clone(),
    };
    let snapshot_at = [0, cfg.steps / 10, cfg.steps / 3, cfg.steps];
    for step in 0..=cfg.steps {
        if step % cfg.record_every == 0 || step == cfg.steps {
            let m = model.valid();
            let xp = x.clone().without_autodiff();
            let t = m.t1(xp.clone());
            let tv: Vec<f32> = t.clone().try_into_vec_as::<f32>().expect("float");
            let ts = Samples::from_f32(n, 2, &tv);
            let (nx, _, _) = nhsic_batched(&xs, &ts, &k, &k, 1e-5, batch)?;
            let (ny, _, _) = nhsic_batched(&ys, &ts, &Kernel::default_y(), &k, 1e-5, batch)?;
            let w: Vec<f32> = m.w.weight.val().try_into_vec_as::<f32>().expect("float");
            // burn's weight is [in, out]: T = x·W_b, so the layer's matrix is W = W_bᵀ.
            let wm = [w[0] as f64, w[2] as f64, w[1] as f64, w[3] as f64];
            let logits: Vec<f32> = m.logits(t).try_into_vec_as::<f32>().expect("float");
            let correct = logits
                .iter()
                .zip(&yv)
                .filter(|(z, l)| (**z > 0.0) == (**l == 1))
                .count();
            trace.steps.push(step);
            trace.sigma.push(singular_values_2x2(wm));
            trace.nhsic_x.push(nx);
            trace.nhsic_y.push(ny);
            trace.accuracy.push(correct as f64 / n as f64);
            if snapshot_at.contains(&step) {
                trace
                    .snapshots
                    .push((step, in_classifier_basis(training, &m, wm, &tv)));
            }
            let _ = &plain;
        }
        if step == cfg.steps {
            break;
        }
        let t = model.t1(x.clone());
        // Layer-wise and E2E share the shape of the loss; what differs is what follows T1
        // (a linear or MLP head, or the backbone), since T1 is the first layer in all three.
        let z = model.logits(t);
        let bce = (softplus(z.clone(), 1.0) - z * y.clone()).mean();
        let penalty = model
            .w
            .weight
            .val()
            .powi_scalar(2)
            .sum()
            .mul_scalar(cfg.lambda);
        let loss = bce + penalty;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(cfg.lr, model, grads);
    }
    Ok(trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_values_of_known_matrices() {
        let s = singular_values_2x2([3.0, 0.0, 0.0, -2.0]);
        assert!((s[0] - 3.0).abs() < 1e-12 && (s[1] - 2.0).abs() < 1e-12);
        let s = singular_values_2x2([1.0, 1.0, 1.0, 1.0]);
        assert!((s[0] - 2.0).abs() < 1e-12 && s[1].abs() < 1e-6);
    }

    #[test]
    fn the_toy_data_is_symmetric_in_x2_and_separable_by_radius() {
        let cfg = ToyConfig::default();
        let (x, y) = toy_data(&cfg);
        let mean_x2: f64 = x.chunks(2).map(|p| p[1] as f64).sum::<f64>() / y.len() as f64;
        assert!(mean_x2.abs() < 0.1, "{mean_x2}");
        for (p, &l) in x.chunks(2).zip(&y) {
            let r = ((p[0] * p[0] + p[1] * p[1]) as f64).sqrt();
            assert_eq!(r < 1.5, l == 1);
            if l == 0 {
                assert!(p[0] < 0.2);
            }
        }
    }
}
