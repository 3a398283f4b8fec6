//! Run configuration: plain serde structs with `deny_unknown_fields` and explicit defaults,
//! parsed from TOML, checked and completed once ([`TrainConfig::resolve`]), and saved resolved
//! beside every run. `infoplane train --print-config` writes the fully resolved default.
//!
//! ```toml
//! name = "lenet5-layerwise"
//! epochs = 20            # per phase (sequential layer-wise trains each stage this long)
//! batch_size = 128
//! seed = 0
//! [data]
//! dataset = "mnist-10k"
//! [model]
//! arch = "lenet5"        # lenet5 | mlp | vgg11 | resnet18 | resnet50 | vit, plus its keys
//! [strategy]
//! kind = "layerwise"     # e2e | layerwise | retrain, plus its keys
//! loss = "ce"
//! head = "linear"
//! [optim]
//! lr = 5e-4
//! [infoplane]
//! samples = 1024
//! [probe]
//! epochs = 30
//! ```

use std::path::{Path, PathBuf};

use infoplane_data::DatasetName;
use infoplane_hsic::{Kernel, KernelKind, PlaneSettings};
use infoplane_models::{ArchConfig, HeadKind};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::losses::SimTarget;

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
fn d_sigma_y() -> f64 {
    1.0
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
fn d_temperature() -> f64 {
    0.1
}
fn d_base_temperature() -> f64 {
    0.07
}
fn d_embedding() -> usize {
    128
}
fn d_top_k() -> usize {
    6
}
fn d_aug() -> String {
    "none".into()
}

/// Training augmentations by name.
pub const AUGMENTATIONS: [&str; 4] = ["none", "flip", "crop-flip", "supcon"];

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
    /// Zero-pad images to this size (e.g. 32 for 28x28 data and VGG11).
    #[serde(default)]
    pub pad_to: Option<usize>,
    /// Training augmentation: "none", "flip", "crop-flip" (4-pixel padding), or "supcon" (two
    /// views per sample, for contrastive losses).
    #[serde(default = "d_aug")]
    pub augment: String,
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
    /// Center the label kernel (the authors' newer code does not; see REFERENCE.md).
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
    pub fn describe_eval_set(&self, available: usize) -> String {
        format!(
            "{} samples of the {} split (subset seed {})",
            self.samples.min(available),
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

/// The end-to-end loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum E2eLoss {
    /// Cross-entropy on the model's class scores.
    #[default]
    Ce,
    /// Supervised contrastive on a projection of the last representation (two views), and a
    /// linear classifier trained with cross-entropy on the detached representation.
    Supcon,
    /// SimCLR's NT-Xent (self-supervised; two views), and the same detached classifier.
    Simclr,
}

/// The local loss of layer-wise training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocalLoss {
    /// Cross-entropy through an auxiliary classifier head.
    #[default]
    Ce,
    /// Supervised contrastive through a projection head (two views).
    Supcon,
    /// Similarity matching (Nøkland & Eidnes 2019).
    Sim,
    /// Signal propagation with hard (top-k) targets.
    SpHard,
    /// Signal propagation with soft (softmax) targets.
    SpSoft,
}

impl LocalLoss {
    /// Name in configs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalLoss::Ce => "ce",
            LocalLoss::Supcon => "supcon",
            LocalLoss::Sim => "sim",
            LocalLoss::SpHard => "sp-hard",
            LocalLoss::SpSoft => "sp-soft",
        }
    }
}

/// When the stages of a layer-wise model train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// Every stage at every step (one forward pass, each stage updated by its own loss).
    #[default]
    Simultaneous,
    /// Stage by stage, `epochs` each, earlier stages frozen and in evaluation mode (figure 12).
    Sequential,
}

/// Which variable the nHSIC augmenting term measures a representation against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HsicReference {
    /// The model input X ("global").
    #[default]
    Global,
    /// The stage's input T(i−1) ("local"; T(0) = X).
    Local,
}

/// Which output of a stage the nHSIC augmenting term is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HsicApplyTo {
    /// The stage's output T(i) (the paper's equation 11).
    #[default]
    Stage,
    /// The auxiliary head's output (the authors' code).
    Head,
}

/// The nHSIC augmenting term of section 4.4: local loss − λ·nHSIC(·; reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsicTermConfig {
    /// λ (the paper's values were lost).
    pub lambda: f64,
    /// X ("global") or the stage input ("local").
    #[serde(default)]
    pub reference: HsicReference,
    /// The stage output (eq. 11) or the head output (the authors' code).
    #[serde(default)]
    pub apply_to: HsicApplyTo,
    /// σ of the dimension-scaled RBF kernels of the term.
    #[serde(default = "d_sigma")]
    pub sigma: f64,
    /// Regularization ε of the term.
    #[serde(default = "d_eps")]
    pub eps: f64,
}

/// End-to-end training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct E2eConfig {
    /// The loss.
    #[serde(default)]
    pub loss: E2eLoss,
    /// Projection head of the contrastive losses (identity, linear, mlp; default mlp).
    #[serde(default)]
    pub head: Option<HeadKind>,
    /// Contrastive temperature τ.
    #[serde(default = "d_temperature")]
    pub temperature: f64,
    /// Contrastive base temperature (the loss is scaled by τ/τ_base).
    #[serde(default = "d_base_temperature")]
    pub base_temperature: f64,
    /// Width of the contrastive embedding.
    #[serde(default = "d_embedding")]
    pub embedding_dim: usize,
}

/// Layer-wise training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerwiseConfig {
    /// The local loss.
    #[serde(default)]
    pub loss: LocalLoss,
    /// Auxiliary head (default: linear for ce/supcon, conv for sim, identity for sp).
    #[serde(default)]
    pub head: Option<HeadKind>,
    /// Simultaneous or sequential.
    #[serde(default)]
    pub schedule: Schedule,
    /// Contrastive temperature τ (supcon).
    #[serde(default = "d_temperature")]
    pub temperature: f64,
    /// Contrastive base temperature (supcon).
    #[serde(default = "d_base_temperature")]
    pub base_temperature: f64,
    /// Width of the contrastive embedding (supcon).
    #[serde(default = "d_embedding")]
    pub embedding_dim: usize,
    /// Label target of the similarity loss.
    #[serde(default)]
    pub sim_target: SimTarget,
    /// k of signal propagation's hard targets.
    #[serde(default = "d_top_k")]
    pub sp_top_k: usize,
    /// The nHSIC augmenting term (absent: none).
    #[serde(default)]
    pub hsic: Option<HsicTermConfig>,
}

/// Retraining after layer k (table 2): stages 1..k of a finished layer-wise run kept frozen,
/// the rest re-initialized and trained end-to-end with cross-entropy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrainConfig {
    /// The run directory of the source run (its `config.toml` and `checkpoint/`).
    pub source: PathBuf,
    /// Number of leading stages kept (1 ≤ k < number of stages).
    pub keep: usize,
}

fn d_threshold() -> f64 {
    2.0
}
fn d_ff_schedule() -> Schedule {
    Schedule::Sequential
}
fn d_one() -> usize {
    1
}

/// The forward-forward algorithm (appendix C, table 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FfConfig {
    /// Label embedding: top-left (original) or prototype (the paper's modification).
    #[serde(default)]
    pub embedding: crate::strategies::FfEmbedding,
    /// Layers one after the other (`epochs` each; default) or all at once.
    #[serde(default = "d_ff_schedule")]
    pub schedule: Schedule,
    /// Goodness threshold θ.
    #[serde(default = "d_threshold")]
    pub threshold: f64,
}

/// E2E training by forward gradients (appendix F.4.2, figure 11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FgConfig {
    /// Random tangents per step whose estimates are averaged.
    #[serde(default = "d_one")]
    pub tangents: usize,
}

/// The training strategy and its parameters: the `[strategy]` table, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StrategyConfig {
    /// [`E2eConfig`].
    E2e(E2eConfig),
    /// [`LayerwiseConfig`].
    Layerwise(LayerwiseConfig),
    /// [`RetrainConfig`].
    Retrain(RetrainConfig),
    /// [`FfConfig`].
    ForwardForward(FfConfig),
    /// [`FgConfig`].
    ForwardGradient(FgConfig),
}

impl StrategyConfig {
    /// The strategy kind with default parameters, by name.
    pub fn by_name(kind: &str) -> Option<Self> {
        match kind {
            "e2e" | "layerwise" | "forward-forward" | "forward-gradient" => {
                toml::from_str(&format!("kind = \"{kind}\"")).ok()
            }
            _ => None,
        }
    }

    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            StrategyConfig::E2e(_) => "e2e",
            StrategyConfig::Layerwise(_) => "layerwise",
            StrategyConfig::Retrain(_) => "retrain",
            StrategyConfig::ForwardForward(_) => "forward-forward",
            StrategyConfig::ForwardGradient(_) => "forward-gradient",
        }
    }

    /// A short label for reports: "e2e-ce", "layerwise-supcon (mlp head)", …
    pub fn label(&self) -> String {
        match self {
            StrategyConfig::E2e(c) => format!(
                "e2e-{}",
                match c.loss {
                    E2eLoss::Ce => "ce",
                    E2eLoss::Supcon => "supcon",
                    E2eLoss::Simclr => "simclr",
                }
            ),
            StrategyConfig::Layerwise(c) => format!(
                "layerwise-{}{}{}",
                if c.schedule == Schedule::Sequential {
                    "sequential-"
                } else {
                    ""
                },
                c.loss.as_str(),
                if c.hsic.is_some() { "+nhsic" } else { "" }
            ),
            StrategyConfig::Retrain(c) => format!("retrain-after-{}", c.keep),
            StrategyConfig::ForwardForward(c) => format!(
                "forward-forward-{}",
                match c.embedding {
                    crate::strategies::FfEmbedding::TopLeft => "original",
                    crate::strategies::FfEmbedding::Prototype => "modified",
                }
            ),
            StrategyConfig::ForwardGradient(_) => "forward-gradient".into(),
        }
    }

    /// True when the loss needs two augmented views of every sample.
    pub fn needs_two_views(&self) -> bool {
        match self {
            StrategyConfig::E2e(c) => c.loss != E2eLoss::Ce,
            StrategyConfig::Layerwise(c) => c.loss == LocalLoss::Supcon,
            StrategyConfig::Retrain(_)
            | StrategyConfig::ForwardForward(_)
            | StrategyConfig::ForwardGradient(_) => false,
        }
    }
}

impl Default for StrategyConfig {
    fn default() -> Self {
        StrategyConfig::E2e(toml::from_str("").expect("defaults"))
    }
}

/// A whole training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Run name.
    #[serde(default = "d_name")]
    pub name: String,
    /// Epochs of each phase (one phase except for sequential layer-wise training).
    #[serde(default = "d_epochs")]
    pub epochs: usize,
    /// Batch size.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Seed of initialization, shuffling, augmentation and data subsets.
    #[serde(default)]
    pub seed: u64,
    /// Data.
    pub data: DataConfig,
    /// The architecture (`arch` and its keys).
    pub model: ArchConfig,
    /// The strategy (`kind` and its keys).
    pub strategy: StrategyConfig,
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

fn positive(key: &str, v: f64) -> Result<()> {
    if !(v > 0.0 && v.is_finite()) {
        return Err(TrainError::value(
            key,
            format!("{v} must be positive and finite"),
        ));
    }
    Ok(())
}

impl TrainConfig {
    /// Parses a TOML config file (unknown keys are errors naming the key), then resolves it.
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

    /// Parses TOML text and resolves it.
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: TrainConfig = toml::from_str(text).map_err(|e| TrainError::ConfigParse {
            path: PathBuf::from("<config>"),
            message: e.to_string(),
        })?;
        cfg.resolve()
    }

    /// The default config of an architecture and a strategy kind on a dataset: every key with
    /// its value (what `infoplane train --print-config` writes).
    pub fn example(arch: &str, strategy: &str, dataset: DatasetName) -> Result<Self> {
        let model = ArchConfig::by_name(arch).ok_or_else(|| {
            TrainError::value(
                "model.arch",
                format!("`{arch}`: use one of {}", ArchConfig::NAMES.join(", ")),
            )
        })?;
        let strategy = StrategyConfig::by_name(strategy).ok_or_else(|| {
            TrainError::value(
                "strategy.kind",
                format!("`{strategy}`: use e2e or layerwise (retrain needs a source run)"),
            )
        })?;
        TrainConfig {
            name: format!("{arch}-{}", strategy.kind()),
            epochs: d_epochs(),
            batch_size: d_batch(),
            seed: 0,
            data: DataConfig {
                dataset,
                data_dir: None,
                limit_train: None,
                limit_test: None,
                pad_to: None,
                augment: d_aug(),
            },
            model,
            strategy,
            optim: OptimConfig::default(),
            infoplane: InfoPlaneConfig::default(),
            probe: ProbeConfig::default(),
        }
        .resolve()
    }

    /// The resolved config as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("configs serialize")
    }

    /// Checks every value and fills the defaults that depend on other keys (the heads);
    /// errors name the key.
    pub fn resolve(mut self) -> Result<Self> {
        match &mut self.strategy {
            StrategyConfig::E2e(c) => {
                c.head.get_or_insert(HeadKind::Mlp);
            }
            StrategyConfig::Layerwise(c) => {
                c.head.get_or_insert(match c.loss {
                    LocalLoss::Ce | LocalLoss::Supcon => HeadKind::Linear,
                    LocalLoss::Sim => HeadKind::Conv,
                    LocalLoss::SpHard | LocalLoss::SpSoft => HeadKind::Identity,
                });
            }
            StrategyConfig::Retrain(_)
            | StrategyConfig::ForwardForward(_)
            | StrategyConfig::ForwardGradient(_) => {}
        }
        self.validate()?;
        Ok(self)
    }

    /// Checks every value; errors name the key.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(TrainError::value("epochs", "must be at least 1"));
        }
        if self.batch_size < 2 {
            return Err(TrainError::value("batch_size", "must be at least 2"));
        }
        positive("optim.lr", self.optim.lr)?;
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
        if !AUGMENTATIONS.contains(&self.data.augment.as_str()) {
            return Err(TrainError::value(
                "data.augment",
                format!("`{}`: use {}", self.data.augment, AUGMENTATIONS.join(", ")),
            ));
        }
        let two_views = self.strategy.needs_two_views();
        if two_views && self.data.augment != "supcon" {
            return Err(TrainError::value(
                "data.augment",
                format!(
                    "the {} loss needs two augmented views of every sample: set data.augment = \"supcon\"",
                    self.strategy.label()
                ),
            ));
        }
        if !two_views && self.data.augment == "supcon" {
            return Err(TrainError::value(
                "data.augment",
                "\"supcon\" makes two views per sample, which only the contrastive losses (supcon, simclr) use",
            ));
        }
        if self.data.limit_train == Some(0) {
            return Err(TrainError::value(
                "data.limit_train",
                "a limit must be at least 1",
            ));
        }
        if self.data.limit_test == Some(0) {
            return Err(TrainError::value(
                "data.limit_test",
                "a limit must be at least 1",
            ));
        }
        if self.model.needs_images() && self.data.dataset == DatasetName::Rings {
            return Err(TrainError::value(
                "model.arch",
                format!("{} needs images; use mlp for rings", self.model.name()),
            ));
        }
        self.validate_strategy()?;
        let ip = &self.infoplane;
        if ip.enabled {
            if ip.batch < 4 || ip.batch > ip.samples {
                return Err(TrainError::value(
                    "infoplane.batch",
                    format!("must be in 4..={} (infoplane.samples)", ip.samples),
                ));
            }
            positive("infoplane.sigma", ip.sigma)?;
            if ip.kernel_y != KernelKind::Linear {
                positive("infoplane.sigma_y", ip.sigma_y)?;
            }
            positive("infoplane.eps", ip.eps)?;
        }
        if self.probe.enabled {
            if self.probe.epochs == 0 {
                return Err(TrainError::value("probe.epochs", "must be at least 1"));
            }
            positive("probe.lr", self.probe.lr)?;
            if self.probe.limit_train == Some(0) {
                return Err(TrainError::value(
                    "probe.limit_train",
                    "a limit must be at least 1",
                ));
            }
        }
        Ok(())
    }

    fn validate_strategy(&self) -> Result<()> {
        let contrastive = |t: f64, b: f64, d: usize| -> Result<()> {
            positive("strategy.temperature", t)?;
            positive("strategy.base_temperature", b)?;
            if d == 0 {
                return Err(TrainError::value(
                    "strategy.embedding_dim",
                    "must be at least 1",
                ));
            }
            Ok(())
        };
        match &self.strategy {
            StrategyConfig::E2e(c) => {
                let head = c.head.unwrap_or(HeadKind::Mlp);
                if c.loss == E2eLoss::Ce && c.head.is_some_and(|h| h != HeadKind::Mlp) {
                    // The head only exists for contrastive losses; a different choice with
                    // cross-entropy would silently do nothing.
                    return Err(TrainError::value(
                        "strategy.head",
                        "E2E cross-entropy has no projection head; remove the key",
                    ));
                }
                if matches!(head, HeadKind::Conv | HeadKind::ConvMlp) {
                    return Err(TrainError::value(
                        "strategy.head",
                        "a projection head is identity, linear or mlp",
                    ));
                }
                contrastive(c.temperature, c.base_temperature, c.embedding_dim)
            }
            StrategyConfig::Layerwise(c) => {
                let head = c.head.unwrap_or_default();
                match c.loss {
                    LocalLoss::Ce if head == HeadKind::Identity => Err(TrainError::value(
                        "strategy.head",
                        "cross-entropy through an identity head is not defined (the paper's \"—\"): use linear or mlp",
                    )),
                    LocalLoss::Ce | LocalLoss::Supcon
                        if matches!(head, HeadKind::Conv | HeadKind::ConvMlp) =>
                    {
                        Err(TrainError::value(
                            "strategy.head",
                            "convolutional heads serve the similarity loss; use identity, linear or mlp",
                        ))
                    }
                    LocalLoss::Sim if matches!(head, HeadKind::Linear | HeadKind::Mlp) => {
                        Err(TrainError::value(
                            "strategy.head",
                            "the similarity loss takes identity, conv or conv-mlp heads (the paper's 0/1/2-layer)",
                        ))
                    }
                    LocalLoss::SpHard | LocalLoss::SpSoft if head != HeadKind::Identity => {
                        Err(TrainError::value(
                            "strategy.head",
                            "signal propagation compares the stage outputs themselves: head must be identity",
                        ))
                    }
                    LocalLoss::SpHard if c.sp_top_k == 0 => {
                        Err(TrainError::value("strategy.sp_top_k", "must be at least 1"))
                    }
                    _ => Ok(()),
                }?;
                if c.loss == LocalLoss::Supcon {
                    contrastive(c.temperature, c.base_temperature, c.embedding_dim)?;
                }
                if let Some(h) = &c.hsic {
                    if !h.lambda.is_finite() {
                        return Err(TrainError::value("strategy.hsic.lambda", "must be finite"));
                    }
                    positive("strategy.hsic.sigma", h.sigma)?;
                    positive("strategy.hsic.eps", h.eps)?;
                    if h.apply_to == HsicApplyTo::Head && head == HeadKind::Identity {
                        return Err(TrainError::value(
                            "strategy.hsic.apply_to",
                            "with an identity head the head output is the stage output: use apply_to = \"stage\"",
                        ));
                    }
                }
                Ok(())
            }
            StrategyConfig::Retrain(c) => {
                if c.keep == 0 {
                    return Err(TrainError::value(
                        "strategy.keep",
                        "keep at least 1 stage (keep = 0 is plain E2E training)",
                    ));
                }
                Ok(())
            }
            StrategyConfig::ForwardForward(c) => positive("strategy.threshold", c.threshold),
            StrategyConfig::ForwardGradient(c) => {
                if c.tangents == 0 {
                    return Err(TrainError::value("strategy.tangents", "must be at least 1"));
                }
                if !matches!(self.model, ArchConfig::Lenet5(_) | ArchConfig::Mlp(_))
                    || self.model.has_batch_norm()
                    || self.model.has_dropout()
                {
                    return Err(TrainError::value(
                        "model.arch",
                        "forward gradient has forward-mode rules for LeNet5 and the MLP without batch norm or dropout",
                    ));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str =
        "[data]\ndataset = \"mnist-10k\"\n[model]\narch = \"lenet5\"\n[strategy]\nkind = \"e2e\"\n";

    #[test]
    fn defaults_fill_in_and_round_trip() {
        let c = TrainConfig::from_toml(MIN).unwrap();
        assert_eq!(c.optim.lr, 5e-4);
        assert_eq!(c.batch_size, 128);
        assert_eq!(c.infoplane.kernel, KernelKind::RbfDimscaled);
        assert!(c.infoplane.center_y);
        assert_eq!(c.infoplane.split, EvalSplit::Test);
        assert_eq!(TrainConfig::from_toml(&c.to_toml()).unwrap(), c);
        for arch in ArchConfig::NAMES {
            for kind in ["e2e", "layerwise"] {
                let e = TrainConfig::example(arch, kind, DatasetName::Cifar10).unwrap();
                assert_eq!(TrainConfig::from_toml(&e.to_toml()).unwrap(), e);
            }
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = TrainConfig::from_toml(&format!("lr = 3\n{MIN}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `lr`"), "{e}");
        let e = TrainConfig::from_toml(&format!("{MIN}[optim]\nlearning_rate = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("learning_rate"), "{e}");
        let e = TrainConfig::from_toml(&format!("{MIN}[optim]\nlr = -1.0\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("optim.lr"), "{e}");
        let e = TrainConfig::from_toml(&MIN.replace(
            "kind = \"e2e\"",
            "kind = \"layerwise\"\nhead = \"identity\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("strategy.head") && e.contains("not defined"),
            "{e}"
        );
        let e = TrainConfig::from_toml(&MIN.replace("[data]\n", "[data]\nlimit_test = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.limit_test"), "{e}");
        let e = TrainConfig::from_toml(&MIN.replace("\"e2e\"", "\"e2e\"\nloss = \"supcon\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.augment") && e.contains("supcon"), "{e}");
        let e = TrainConfig::from_toml(&MIN.replace("\"e2e\"", "\"e2e\"\ntemprature = 1"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("temprature"), "{e}");
        let e = TrainConfig::from_toml(&MIN.replace("\"lenet5\"", "\"lenet5\"\nwidht = 2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("widht"), "{e}");
    }

    #[test]
    fn heads_resolve_per_loss() {
        let lw = |loss: &str| {
            TrainConfig::from_toml(&MIN.replace(
                "kind = \"e2e\"",
                &format!("kind = \"layerwise\"\nloss = \"{loss}\""),
            ))
            .map(|c| match c.strategy {
                StrategyConfig::Layerwise(l) => l.head,
                _ => None,
            })
        };
        assert_eq!(lw("ce").unwrap(), Some(HeadKind::Linear));
        assert_eq!(lw("sim").unwrap(), Some(HeadKind::Conv));
        assert_eq!(lw("sp-hard").unwrap(), Some(HeadKind::Identity));
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
