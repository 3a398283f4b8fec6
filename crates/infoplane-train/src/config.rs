//! Run configuration: plain serde structs with `deny_unknown_fields` and explicit defaults,
//! parsed from TOML, checked once (`validate`), and saved resolved beside every run.

use std::path::{Path, PathBuf};

use infoplane_data::DatasetName;
use infoplane_hsic::{Kernel, KernelKind, PlaneSettings};
use infoplane_models::{Architecture, HeadKind};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The training strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    /// End-to-end: one cross-entropy loss on the last stage, gradients through everything.
    E2e,
    /// Layer-wise, simultaneous: every stage trained by its own local cross-entropy through an
    /// auxiliary head, inputs detached between stages.
    Layerwise,
}

impl StrategyKind {
    /// Name in configs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyKind::E2e => "e2e",
            StrategyKind::Layerwise => "layerwise",
        }
    }
}

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
fn d_epochs() -> usize {
    10
}
fn d_batch() -> usize {
    128
}
fn d_eval_samples() -> usize {
    1024
}
fn d_hsic_batch() -> usize {
    256
}
fn d_sigma() -> f64 {
    5.0
}
fn d_eps() -> f64 {
    infoplane_hsic::DEFAULT_EPS
}
fn d_true() -> bool {
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

/// Data settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Dataset name.
    pub dataset: DatasetName,
    /// Directory holding the dataset's files (otherwise the standard search).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Use at most this many training samples (seeded subset).
    #[serde(default)]
    pub limit_train: Option<usize>,
    /// Use at most this many test samples (seeded subset).
    #[serde(default)]
    pub limit_test: Option<usize>,
    /// Zero-pad images to this size (e.g. 32 for 28x28 MNIST).
    #[serde(default)]
    pub pad_to: Option<usize>,
    /// Training augmentation: "none", "flip" or "crop-flip".
    #[serde(default = "d_aug")]
    pub augment: String,
}

fn d_aug() -> String {
    "none".into()
}

/// Model settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Architecture.
    pub arch: Architecture,
    /// Auxiliary head of layer-wise training.
    #[serde(default = "d_head")]
    pub head: HeadKind,
}

fn d_head() -> HeadKind {
    HeadKind::Linear
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
    /// Epochs at which the learning rate is multiplied by `gamma`.
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
    /// Learning rate during `epoch` (1-based): multi-step decay.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let passed = self.milestones.iter().filter(|&&m| epoch > m).count();
        self.lr * self.gamma.powi(passed as i32)
    }
}

/// Information-plane measurement settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfoPlaneConfig {
    /// Measure at all.
    #[serde(default = "d_true")]
    pub enabled: bool,
    /// Size of the fixed evaluation subset (taken from the test split).
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
                sigma: 1.0,
            },
            eps: self.eps,
            batch: self.batch,
        }
    }
}

/// Linear-probe settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Probe at the end of training.
    #[serde(default = "d_true")]
    pub enabled: bool,
    /// Epochs of probe training (Adam, full training split).
    #[serde(default = "d_probe_epochs")]
    pub epochs: usize,
    /// Probe learning rate.
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

/// A whole training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Run name.
    #[serde(default = "d_name")]
    pub name: String,
    /// Strategy.
    pub strategy: StrategyKind,
    /// Epochs.
    #[serde(default = "d_epochs")]
    pub epochs: usize,
    /// Batch size.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Seed of initialization, shuffling and subsets.
    #[serde(default)]
    pub seed: u64,
    /// Data.
    pub data: DataConfig,
    /// Model.
    pub model: ModelConfig,
    /// Optimizer.
    #[serde(default)]
    pub optim: OptimConfig,
    /// Information planes.
    #[serde(default)]
    pub infoplane: InfoPlaneConfig,
    /// Linear probes.
    #[serde(default)]
    pub probe: ProbeConfig,
}

fn d_name() -> String {
    "run".into()
}

impl TrainConfig {
    /// Parses a TOML config file (unknown keys are errors naming the key).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Self::from_toml(&text).map_err(|e| match e {
            TrainError::ConfigParse { message, .. } => TrainError::ConfigParse {
                path: path.into(),
                message,
            },
            other => other,
        })
    }

    /// Parses TOML text and validates it.
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: TrainConfig = toml::from_str(text).map_err(|e| TrainError::ConfigParse {
            path: PathBuf::from("<config>"),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The resolved config as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("configs serialize")
    }

    /// Checks every value; errors name the key.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(TrainError::value("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(TrainError::value("batch_size", "must be at least 1"));
        }
        if !(self.optim.lr > 0.0 && self.optim.lr.is_finite()) {
            return Err(TrainError::value(
                "optim.lr",
                format!("{} is not a positive learning rate", self.optim.lr),
            ));
        }
        if !(self.optim.weight_decay >= 0.0 && self.optim.weight_decay.is_finite()) {
            return Err(TrainError::value(
                "optim.weight_decay",
                "must be finite and non-negative",
            ));
        }
        if !(0.0..1.0).contains(&self.optim.momentum) {
            return Err(TrainError::value("optim.momentum", "must be in [0, 1)"));
        }
        if !(self.optim.gamma > 0.0 && self.optim.gamma <= 1.0) {
            return Err(TrainError::value("optim.gamma", "must be in (0, 1]"));
        }
        if !["none", "flip", "crop-flip"].contains(&self.data.augment.as_str()) {
            return Err(TrainError::value(
                "data.augment",
                format!("`{}`: use none, flip or crop-flip", self.data.augment),
            ));
        }
        if self.data.limit_train == Some(0) || self.data.limit_test == Some(0) {
            return Err(TrainError::value(
                "data.limit_train",
                "a limit must be at least 1",
            ));
        }
        if self.strategy == StrategyKind::Layerwise && self.model.head == HeadKind::Identity {
            return Err(TrainError::value(
                "model.head",
                "cross-entropy through an identity head is not defined (the paper's \"—\"): use linear or mlp",
            ));
        }
        if self.model.arch == Architecture::Lenet5 && self.data.dataset == DatasetName::Rings {
            return Err(TrainError::value(
                "model.arch",
                "lenet5 needs images; use mlp for rings",
            ));
        }
        let ip = &self.infoplane;
        if ip.enabled {
            if ip.batch < 4 || ip.batch > ip.samples {
                return Err(TrainError::value(
                    "infoplane.batch",
                    format!("must be in 4..={} (infoplane.samples)", ip.samples),
                ));
            }
            if !(ip.sigma > 0.0 && ip.sigma.is_finite()) {
                return Err(TrainError::value("infoplane.sigma", "must be positive"));
            }
            if !(ip.eps > 0.0 && ip.eps.is_finite()) {
                return Err(TrainError::value("infoplane.eps", "must be positive"));
            }
        }
        if self.probe.enabled && self.probe.epochs == 0 {
            return Err(TrainError::value("probe.epochs", "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str =
        "strategy = \"e2e\"\n[data]\ndataset = \"mnist-10k\"\n[model]\narch = \"lenet5\"\n";

    #[test]
    fn defaults_fill_in_and_round_trip() {
        let c = TrainConfig::from_toml(MIN).unwrap();
        assert_eq!(c.optim.lr, 5e-4);
        assert_eq!(c.batch_size, 128);
        assert_eq!(c.infoplane.kernel, KernelKind::RbfDimscaled);
        assert_eq!(TrainConfig::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = TrainConfig::from_toml(&format!("{MIN}lr = 3\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `lr`"), "{e}");
        let e =
            TrainConfig::from_toml(&MIN.replace("[model]", "[optim]\nlearning_rate = 1\n[model]"))
                .unwrap_err()
                .to_string();
        assert!(e.contains("learning_rate"), "{e}");
        let e = TrainConfig::from_toml(&format!("{MIN}[optim]\nlr = -1.0\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("optim.lr"), "{e}");
        let e = TrainConfig::from_toml(
            &MIN.replace("e2e", "layerwise")
                .replace("lenet5\"", "lenet5\"\nhead = \"identity\""),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("model.head"), "{e}");
    }

    #[test]
    fn multistep_schedule() {
        let o = OptimConfig {
            milestones: vec![2, 4],
            gamma: 0.5,
            lr: 1.0,
            ..Default::default()
        };
        assert_eq!(
            [1, 2, 3, 4, 5].map(|e| o.lr_at(e)),
            [1.0, 1.0, 0.5, 0.5, 0.25]
        );
    }
}
