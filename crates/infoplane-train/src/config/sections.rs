//! The sections of a run config that every strategy shares: data, optimizer and schedule,
//! information-plane measurement, linear probes. Plain serde structs with
//! `deny_unknown_fields` and explicit defaults.

use std::path::PathBuf;

use burn::optim::ModuleOptimizer;
use infoplane_data::{
    Augment, Dataset, DatasetName, Locator, Normalization, Pipeline, Rng, SupConAugment,
};
use infoplane_hsic::{Kernel, KernelKind, PlaneSettings};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Adam (β = 0.9, 0.999; ε = 1e-8 as PyTorch).
    Adam,
    /// SGD with momentum (dampening 0 as PyTorch).
    Sgd,
}

fn d_lr() -> f64 {
    5e-4
}
fn d_momentum() -> f64 {
    0.9
}
fn d_gamma() -> f64 {
    0.2
}
pub(crate) fn d_epochs() -> usize {
    10
}
pub(crate) fn d_batch() -> usize {
    128
}
fn d_eval_samples() -> usize {
    1024
}
fn d_hsic_batch() -> usize {
    256
}
pub(crate) fn d_sigma() -> f64 {
    5.0
}
fn d_sigma_y() -> f64 {
    1.0
}
pub(crate) fn d_eps() -> f64 {
    infoplane_hsic::DEFAULT_EPS
}
pub(crate) fn d_true() -> bool {
    true
}
fn d_probe_epochs() -> usize {
    30
}
fn d_probe_lr() -> f64 {
    1e-2
}
fn d_kernel_x() -> KernelKind {
    KernelKind::RbfDimscaled
}
fn d_kernel_y() -> KernelKind {
    KernelKind::Linear
}
/// The training augmentation by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AugmentKind {
    /// No augmentation.
    #[default]
    None,
    /// Horizontal flip with probability 1/2.
    Flip,
    /// Random crop after 4-pixel zero padding, then flip (the CIFAR standard).
    CropFlip,
    /// Two views per sample (random resized crop, flip, colour jitter, grayscale), for the
    /// contrastive losses.
    Supcon,
}

impl AugmentKind {
    /// Name in configs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AugmentKind::None => "none",
            AugmentKind::Flip => "flip",
            AugmentKind::CropFlip => "crop-flip",
            AugmentKind::Supcon => "supcon",
        }
    }

    /// The data crate's augmentation.
    pub fn augment(self) -> Augment {
        match self {
            AugmentKind::None => Augment::None,
            AugmentKind::Flip => Augment::Flip,
            AugmentKind::CropFlip => Augment::CropFlip(4),
            AugmentKind::Supcon => Augment::SupCon(SupConAugment::default()),
        }
    }

    /// Views of every sample a training batch holds.
    pub fn views(self) -> usize {
        if self == AugmentKind::Supcon { 2 } else { 1 }
    }
}

/// Data settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Dataset name.
    pub dataset: DatasetName,
    /// Directory holding the dataset's files (otherwise the standard search).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Use at most this many training samples (a subset drawn with `subset_seed`).
    #[serde(default)]
    pub limit_train: Option<usize>,
    /// Use at most this many test samples (a subset drawn with `subset_seed`).
    #[serde(default)]
    pub limit_test: Option<usize>,
    /// Seed of the data subsets (`limit_train`, `limit_test`, the probes' `limit_train`),
    /// independent of the training seed: runs that differ only in `seed` train and are
    /// measured on the same samples.
    #[serde(default)]
    pub subset_seed: u64,
    /// Zero-pad images to this size (e.g. 32 for 28x28 data and VGG11).
    #[serde(default)]
    pub pad_to: Option<usize>,
    /// Training augmentation.
    #[serde(default)]
    pub augment: AugmentKind,
}

impl DataConfig {
    /// The input pipeline: the dataset's normalization, padding, augmentation.
    pub fn pipeline(&self) -> Pipeline {
        Pipeline {
            pad_to: self.pad_to,
            normalize: Normalization::for_dataset(self.dataset),
            augment: self.augment.augment(),
        }
    }

    /// Loads the dataset and applies the limits (subsets drawn with `subset_seed`).
    pub fn load(&self) -> Result<Dataset> {
        let mut data =
            infoplane_data::load(self.dataset, &Locator::standard(self.data_dir.clone()))?;
        if let Some(n) = self.limit_train {
            data.train = data
                .train
                .subset(n, Rng::seed_for(self.subset_seed, "train subset"));
        }
        if let Some(n) = self.limit_test {
            data.test = data
                .test
                .subset(n, Rng::seed_for(self.subset_seed, "test subset"));
        }
        Ok(data)
    }
}

/// Optimizer and schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// Optimizer.
    #[serde(default = "d_opt")]
    pub kind: OptimizerKind,
    /// Base learning rate.
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// L2 weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// SGD momentum.
    #[serde(default = "d_momentum")]
    pub momentum: f64,
    /// Epochs (of a phase) after which the learning rate is multiplied by `gamma`; the
    /// schedule restarts with every phase.
    #[serde(default)]
    pub milestones: Vec<usize>,
    /// Decay factor at each milestone.
    #[serde(default = "d_gamma")]
    pub gamma: f64,
}

fn d_opt() -> OptimizerKind {
    OptimizerKind::Adam
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            kind: d_opt(),
            lr: d_lr(),
            weight_decay: 0.0,
            momentum: d_momentum(),
            milestones: vec![],
            gamma: d_gamma(),
        }
    }
}

impl OptimConfig {
    /// Learning rate during `epoch` (1-based, counted within the phase): multi-step decay.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        self.schedule().lr_at(epoch)
    }

    /// The learning-rate schedule.
    pub fn schedule(&self) -> LrSchedule {
        LrSchedule {
            lr: self.lr,
            milestones: self.milestones.clone(),
            gamma: self.gamma,
        }
    }

    /// The optimizer (Adam with ε = 1e-8 as PyTorch; SGD with momentum, dampening 0).
    pub fn optimizer(&self) -> ModuleOptimizer {
        use burn::optim::{
            AdamConfig, SgdConfig, decay::WeightDecayConfig, momentum::MomentumConfig,
        };
        let wd =
            (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay as f32));
        match self.kind {
            OptimizerKind::Adam => AdamConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(wd)
                .init(),
            OptimizerKind::Sgd => SgdConfig::new()
                .with_momentum(Some(
                    MomentumConfig::new()
                        .with_momentum(self.momentum)
                        .with_dampening(0.0),
                ))
                .with_weight_decay(wd)
                .init(),
        }
    }
}

/// A multi-step learning-rate schedule that restarts with every phase.
#[derive(Debug, Clone, PartialEq)]
pub struct LrSchedule {
    /// Base learning rate.
    pub lr: f64,
    /// Epochs (of a phase) after which the rate is multiplied by `gamma`.
    pub milestones: Vec<usize>,
    /// Decay factor.
    pub gamma: f64,
}

impl LrSchedule {
    /// A constant rate.
    pub fn constant(lr: f64) -> Self {
        LrSchedule {
            lr,
            milestones: Vec::new(),
            gamma: 1.0,
        }
    }

    /// Learning rate during `epoch` (1-based, counted within the phase).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let passed = self.milestones.iter().filter(|&&m| epoch > m).count();
        self.lr * self.gamma.powi(passed as i32)
    }
}

/// Which split the information plane's fixed evaluation set is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvalSplit {
    /// The test split (default).
    #[default]
    Test,
    /// The training split (as limited by `data.limit_train`).
    Train,
}

impl EvalSplit {
    /// Name in configs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            EvalSplit::Test => "test",
            EvalSplit::Train => "train",
        }
    }
}

/// Information-plane measurement settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfoPlaneConfig {
    /// Measure at all.
    #[serde(default = "d_true")]
    pub enabled: bool,
    /// The split the fixed evaluation set is drawn from.
    #[serde(default)]
    pub split: EvalSplit,
    /// Seed of the evaluation subset, independent of the training seed (so that runs with
    /// different seeds are measured on the same samples).
    #[serde(default)]
    pub subset_seed: u64,
    /// Size of the fixed evaluation subset.
    #[serde(default = "d_eval_samples")]
    pub samples: usize,
    /// Samples per nHSIC mini-batch.
    #[serde(default = "d_hsic_batch")]
    pub batch: usize,
    /// Measure every this many optimizer steps (0: only at epoch ends).
    #[serde(default)]
    pub every_steps: u64,
    /// Measure at the end of every epoch (and before training).
    #[serde(default = "d_true")]
    pub per_epoch: bool,
    /// Kernel of X and T.
    #[serde(default = "d_kernel_x")]
    pub kernel: KernelKind,
    /// σ of X and T.
    #[serde(default = "d_sigma")]
    pub sigma: f64,
    /// Kernel of the one-hot labels.
    #[serde(default = "d_kernel_y")]
    pub kernel_y: KernelKind,
    /// σ of the label kernel (RBF family only).
    #[serde(default = "d_sigma_y")]
    pub sigma_y: f64,
    /// Center the label kernel (the authors' newer code does not; see docs/paper-settings.md).
    #[serde(default = "d_true")]
    pub center_y: bool,
    /// Regularization ε.
    #[serde(default = "d_eps")]
    pub eps: f64,
}

impl Default for InfoPlaneConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

impl InfoPlaneConfig {
    /// The recorder settings.
    pub fn settings(&self) -> PlaneSettings {
        let k = Kernel {
            kind: self.kernel,
            sigma: self.sigma,
        };
        PlaneSettings {
            kernel_x: k,
            kernel_t: k,
            kernel_y: Kernel {
                kind: self.kernel_y,
                sigma: self.sigma_y,
            },
            eps: self.eps,
            batch: self.batch,
            center_y: self.center_y,
        }
    }

    /// The evaluation set in words, as infoplane.jsonl and the reports state it.
    /// When `infoplane.samples` exceeds the split, the whole split is measured and the
    /// description says so.
    pub fn describe_eval_set(&self, available: usize) -> String {
        if self.samples > available {
            return format!(
                "all {available} samples of the {} split (infoplane.samples = {} asked for more than the split holds)",
                self.split.as_str(),
                self.samples
            );
        }
        format!(
            "{} samples of the {} split (subset seed {})",
            self.samples,
            self.split.as_str(),
            self.subset_seed
        )
    }
}

/// How a probe is fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeMethod {
    /// A linear softmax classifier trained with Adam (the paper's linear separability).
    #[default]
    Softmax,
    /// Closed form: ridge regression onto centered one-hot targets (λ = 1e-3·tr(XᵀX)/d),
    /// solved in f64; no optimization to under-train.
    Ridge,
}

/// Linear-probe settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Probe at the end of training.
    #[serde(default = "d_true")]
    pub enabled: bool,
    /// How the probe is fitted.
    #[serde(default)]
    pub method: ProbeMethod,
    /// Epochs of probe training (softmax; Adam on the training split).
    #[serde(default = "d_probe_epochs")]
    pub epochs: usize,
    /// Probe learning rate (softmax).
    #[serde(default = "d_probe_lr")]
    pub lr: f64,
    /// Use at most this many training samples for the probes.
    #[serde(default)]
    pub limit_train: Option<usize>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}
