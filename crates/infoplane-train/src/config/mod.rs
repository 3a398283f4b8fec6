//! Run configuration: plain serde structs with `deny_unknown_fields` and explicit defaults,
//! parsed from TOML ([`TrainConfig::from_toml`]: names and types), checked once into typed
//! values ([`TrainConfig::check`] → [`CheckedConfig`]: every value, errors naming the key),
//! and saved resolved beside every run. `infoplane train --print-config` writes the fully
//! resolved default.
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
//! kind = "layerwise"     # a registered method (infoplane methods), plus its keys
//! loss = "ce"
//! head = "linear"
//! [optim]
//! lr = 5e-4
//! [infoplane]
//! samples = 1024
//! [probe]
//! epochs = 30
//! ```

pub mod sections;
pub mod settings;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use infoplane_data::DatasetName;
use infoplane_hsic::KernelKind;
use infoplane_models::ArchConfig;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
pub use crate::methods::StrategyConfig;
use crate::methods::{Params, kinds, positive};
pub use sections::{
    AugmentKind, DataConfig, EvalSplit, InfoPlaneConfig, LrSchedule, OptimConfig, OptimizerKind,
    ProbeConfig, ProbeMethod,
};
use sections::{d_batch, d_epochs};
pub use settings::{Setting, apply_settings};

/// A whole training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Run name.
    #[serde(default = "d_name")]
    pub name: String,
    /// Epochs of each phase (one phase except for sequential schedules).
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

/// A config whose every value has been checked, with its strategy's typed parameters: what a
/// run is made from. Only [`TrainConfig::check`] makes one.
#[derive(Debug, Clone)]
pub struct CheckedConfig {
    cfg: TrainConfig,
    method: Arc<dyn Params>,
}

impl CheckedConfig {
    /// The resolved config (what `config.toml` of the run holds).
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// The strategy's checked parameters.
    pub fn method(&self) -> &dyn Params {
        self.method.as_ref()
    }

    /// The strategy's label ("e2e-ce", "layerwise-supcon", …).
    pub fn label(&self) -> String {
        self.method.label()
    }
}

impl TrainConfig {
    /// Parses a TOML config file (unknown keys and wrong types are errors naming the key and
    /// the file).
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

    /// Parses TOML text (names and types; values are checked by [`TrainConfig::check`]).
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| TrainError::ConfigParse {
            path: PathBuf::from("<config>"),
            message: e.to_string(),
        })
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
                format!("`{strategy}`: use one of {}", kinds().join(", ")),
            )
        })?;
        Ok(TrainConfig {
            name: format!("{arch}-{}", strategy.kind()),
            epochs: d_epochs(),
            batch_size: d_batch(),
            seed: 0,
            data: DataConfig {
                dataset,
                data_dir: None,
                limit_train: None,
                limit_test: None,
                subset_seed: 0,
                pad_to: None,
                augment: AugmentKind::None,
            },
            model,
            strategy,
            optim: OptimConfig::default(),
            infoplane: InfoPlaneConfig::default(),
            probe: ProbeConfig::default(),
        })
    }

    /// The resolved config as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("configs serialize")
    }

    /// Checks every value once; errors name the key.
    pub fn check(self) -> Result<CheckedConfig> {
        if self.epochs == 0 {
            return Err(TrainError::value("epochs", "must be at least 1"));
        }
        if self.batch_size < 2 {
            return Err(TrainError::value("batch_size", "must be at least 2"));
        }
        check_name(&self.name)?;
        check_optim(&self.optim)?;
        let method = self.strategy.check()?;
        method.check_batch(self.batch_size)?;
        self.check_data(method.views())?;
        if self.model.needs_images() && self.data.dataset == DatasetName::Rings {
            return Err(TrainError::value(
                "model.arch",
                format!("{} needs images; use mlp for rings", self.model.name()),
            ));
        }
        check_infoplane(&self.infoplane)?;
        check_probe(&self.probe)?;
        Ok(CheckedConfig { cfg: self, method })
    }

    fn check_data(&self, views: usize) -> Result<()> {
        let two = self.data.augment == AugmentKind::Supcon;
        if views == 2 && !two {
            return Err(TrainError::value(
                "data.augment",
                format!(
                    "the {} loss needs two augmented views of every sample: set data.augment = \"supcon\"",
                    self.strategy.label()
                ),
            ));
        }
        if views == 1 && two {
            return Err(TrainError::value(
                "data.augment",
                "\"supcon\" makes two views per sample, which only the contrastive losses (supcon, simclr) use",
            ));
        }
        for (key, limit) in [
            ("data.limit_train", self.data.limit_train),
            ("data.limit_test", self.data.limit_test),
        ] {
            if limit == Some(0) {
                return Err(TrainError::value(key, "a limit must be at least 1"));
            }
        }
        Ok(())
    }
}

/// A run's name names its folder (`runs/<name>`): one path component, no separators, not
/// `.` or `..`, so a run is never written outside its parent folder.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.starts_with('-');
    if !ok {
        return Err(TrainError::value(
            "name",
            format!(
                "`{name}` cannot name a run folder: use letters, digits, '-', '_' or '.', without path separators (runs are written to runs/<name>; choose the parent folder with --out)"
            ),
        ));
    }
    Ok(())
}

fn check_optim(o: &OptimConfig) -> Result<()> {
    if let Some(w) = o.milestones.windows(2).find(|w| w[0] >= w[1]) {
        return Err(TrainError::value(
            "optim.milestones",
            format!(
                "{:?}: milestones must be strictly increasing epochs ({} is followed by {})",
                o.milestones, w[0], w[1]
            ),
        ));
    }

    positive("optim.lr", o.lr)?;
    if !(o.weight_decay >= 0.0 && o.weight_decay.is_finite()) {
        return Err(TrainError::value(
            "optim.weight_decay",
            "must be finite and non-negative",
        ));
    }
    if !(0.0..1.0).contains(&o.momentum) {
        return Err(TrainError::value("optim.momentum", "must be in [0, 1)"));
    }
    if !(o.gamma > 0.0 && o.gamma <= 1.0) {
        return Err(TrainError::value("optim.gamma", "must be in (0, 1]"));
    }
    Ok(())
}

fn check_infoplane(ip: &InfoPlaneConfig) -> Result<()> {
    if !ip.enabled {
        return Ok(());
    }
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
    positive("infoplane.eps", ip.eps)
}

fn check_probe(p: &ProbeConfig) -> Result<()> {
    if !p.enabled {
        return Ok(());
    }
    if p.epochs == 0 {
        return Err(TrainError::value("probe.epochs", "must be at least 1"));
    }
    positive("probe.lr", p.lr)?;
    if p.limit_train == Some(0) {
        return Err(TrainError::value(
            "probe.limit_train",
            "a limit must be at least 1",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::layerwise::LayerwiseConfig;
    use infoplane_models::HeadKind;

    const MIN: &str =
        "[data]\ndataset = \"mnist-10k\"\n[model]\narch = \"lenet5\"\n[strategy]\nkind = \"e2e\"\n";

    fn checked(text: &str) -> Result<CheckedConfig> {
        TrainConfig::from_toml(text)?.check()
    }

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
            for kind in ["e2e", "layerwise", "signal-propagation", "forward-forward"] {
                let e = TrainConfig::example(arch, kind, DatasetName::Cifar10).unwrap();
                assert_eq!(TrainConfig::from_toml(&e.to_toml()).unwrap(), e);
                e.check().unwrap();
            }
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = checked(&format!("lr = 3\n{MIN}")).unwrap_err().to_string();
        assert!(e.contains("unknown field `lr`"), "{e}");
        let e = checked(&format!("{MIN}[optim]\nlearning_rate = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("learning_rate"), "{e}");
        let e = checked(&format!("{MIN}[optim]\nlr = -1.0\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("optim.lr"), "{e}");
        let e = checked(&MIN.replace(
            "kind = \"e2e\"",
            "kind = \"layerwise\"\nhead = \"identity\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("strategy.head") && e.contains("not defined"),
            "{e}"
        );
        let e = checked(&MIN.replace("[data]\n", "[data]\nlimit_test = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.limit_test"), "{e}");
        let e = checked(&MIN.replace("\"e2e\"", "\"e2e\"\nloss = \"supcon\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.augment") && e.contains("supcon"), "{e}");
        let e = checked(&MIN.replace("\"e2e\"", "\"e2e\"\ntemprature = 1"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("temprature"), "{e}");
        let e = checked(&MIN.replace("\"lenet5\"", "\"lenet5\"\nwidht = 2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("widht"), "{e}");
        let e = checked(&MIN.replace("[data]\n", "[data]\naugment = \"flipp\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("flipp") && e.contains("crop-flip"), "{e}");
        let e = checked(&MIN.replace("\"e2e\"", "\"forward-forwards\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("forward-forwards") && e.contains("forward-gradient"),
            "{e}"
        );
    }

    #[test]
    fn heads_resolve_per_loss() {
        let lw = |loss: &str| {
            TrainConfig::from_toml(&MIN.replace(
                "kind = \"e2e\"",
                &format!("kind = \"layerwise\"\nloss = \"{loss}\""),
            ))
            .map(|c| c.strategy.params::<LayerwiseConfig>().and_then(|l| l.head))
        };
        assert_eq!(lw("ce").unwrap(), Some(HeadKind::Linear));
        assert_eq!(lw("sim").unwrap(), Some(HeadKind::Conv));
        assert_eq!(lw("supcon").unwrap(), Some(HeadKind::Linear));
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
