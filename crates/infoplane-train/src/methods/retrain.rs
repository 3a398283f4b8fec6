//! Retraining after layer k (the paper's table 2, section 2.3): stages 1..k of a finished
//! layer-wise run are kept, frozen, and the rest of the same architecture is re-initialized
//! and trained end to end with cross-entropy. The source run's backbone is read from its
//! checkpoint (`checkpoint/model.bpk`, which every strategy writes).

use std::path::{Path, PathBuf};

use burn::module::Module;
use infoplane_models::{Block, Stage, StagedModel};
use serde::{Deserialize, Serialize};

use super::e2e::{E2eLoss, E2eNet, E2eParams, EndToEnd};
use super::{BuildEnv, Method, Params};
use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::init::initialize;
use crate::strategy::{MODEL_FILE, Strategy, Trainee};

/// How many leading stages retraining keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Keep {
    /// This many (1 ≤ k < number of stages).
    Stages(usize),
    /// `"saturation"`: up to the layer where the source run's linear separability saturates —
    /// the first stage from which its probe test accuracy stays within one point of its best
    /// (section 2.3: "after the layer where the linear separability starts to saturate").
    Rule(SaturationRule),
}

/// The one rule [`Keep::Rule`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaturationRule {
    /// The saturation layer of the source run's probes.
    Saturation,
}

impl Default for Keep {
    fn default() -> Self {
        Keep::Stages(0)
    }
}

/// The `[strategy]` keys of `kind = "retrain"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrainConfig {
    /// The run directory of the source run (its `config.toml`, `checkpoint/` and probes).
    #[serde(default)]
    pub source: PathBuf,
    /// Leading stages kept: a number, or `"saturation"`.
    #[serde(default)]
    pub keep: Keep,
}

/// The layer (1-based) from which the probe test accuracy of a finished run stays within one
/// point of its best, read from its `summary.json`.
pub fn saturation_layer(run: &Path) -> Result<usize> {
    let s = crate::summary::read_summary(run)?;
    let acc: Vec<f64> = s
        .stages
        .iter()
        .map(|st| st.probe_test_accuracy)
        .collect::<Option<_>>()
        .ok_or_else(|| {
            TrainError::value(
                "strategy.keep",
                format!(
                    "\"saturation\" reads the probes of {}, which has none (enable [probe] in the source run)",
                    run.display()
                ),
            )
        })?;
    let best = acc.iter().cloned().fold(f64::MIN, f64::max);
    let k = (0..acc.len())
        .find(|&k| acc[k..].iter().all(|&a| a >= best - 0.01))
        .unwrap_or(acc.len() - 1);
    Ok(k + 1)
}

impl RetrainConfig {
    /// The number of stages kept, reading the source run for `"saturation"`.
    pub fn stages_kept(&self) -> Result<usize> {
        match self.keep {
            Keep::Stages(k) => Ok(k),
            Keep::Rule(SaturationRule::Saturation) => saturation_layer(&self.source),
        }
    }
}

/// Checked parameters of retraining.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrainParams {
    /// The source run's directory.
    pub source: PathBuf,
    /// Stages kept.
    pub keep: Keep,
}

impl Method for RetrainConfig {
    const KIND: &'static str = "retrain";
    const ABOUT: &'static str = "retraining after layer k: the first k stages of a finished layer-wise run kept frozen, the rest re-initialized and trained end to end";
    const PAPER: &'static str = "table 2";
    const KEYS: &'static [(&'static str, &'static str)] = &[
        ("source", "the finished source run's directory"),
        (
            "keep",
            "stages kept from the source run: k, or \"saturation\" (up to the layer where its probe accuracy saturates)",
        ),
    ];
    type Params = RetrainParams;

    fn label(&self) -> String {
        match self.keep {
            Keep::Stages(k) => format!("retrain-after-{k}"),
            Keep::Rule(_) => "retrain-after-saturation".into(),
        }
    }

    fn check(&self) -> Result<RetrainParams> {
        if self.keep == Keep::Stages(0) {
            return Err(TrainError::value(
                "strategy.keep",
                "keep at least 1 stage (keep = 0 is plain E2E training)",
            ));
        }
        if self.source.as_os_str().is_empty() {
            return Err(TrainError::value(
                "strategy.source",
                "name the finished layer-wise run to retrain (its directory)",
            ));
        }
        Ok(RetrainParams {
            source: self.source.clone(),
            keep: self.keep,
        })
    }
}

impl Params for RetrainParams {
    fn label(&self) -> String {
        match self.keep {
            Keep::Stages(k) => format!("retrain-after-{k}"),
            Keep::Rule(_) => "retrain-after-saturation".into(),
        }
    }

    fn build(&self, model: StagedModel<Block>, env: &BuildEnv<'_>) -> Result<Box<dyn Strategy>> {
        Ok(Box::new(self.init(model, env)?))
    }
}

/// The source run must have finished, and (when the run's own config is known) must have
/// trained the same architecture on data of the same shape.
fn check_source(source: &Path, own: Option<&TrainConfig>) -> Result<()> {
    let bad = |reason: String| TrainError::value("strategy.source", reason);
    if !source.join("summary.json").exists() {
        return Err(bad(format!(
            "{} holds no finished run (no summary.json); train the source run to the end first",
            source.display()
        )));
    }
    let Some(own) = own else {
        return Ok(());
    };
    let src = TrainConfig::from_file(&source.join("config.toml"))?;
    if src.model != own.model {
        return Err(bad(format!(
            "the source run trained another model ({} with other settings); retraining keeps its stages, so [model] must be the same",
            src.model.name()
        )));
    }
    if src.data.dataset != own.data.dataset || src.data.pad_to != own.data.pad_to {
        return Err(bad(
            "the source run used other data (dataset or pad_to differ)".into(),
        ));
    }
    Ok(())
}

impl RetrainParams {
    /// The strategy over a fresh model of the source run's architecture: its first `keep`
    /// stages replaced by the source run's, frozen.
    pub fn init<S: Stage>(&self, model: StagedModel<S>, env: &BuildEnv<'_>) -> Result<EndToEnd<S>> {
        check_source(&self.source, env.config)?;
        let stages = model.num_stages();
        let keep = match self.keep {
            Keep::Stages(k) if k >= stages => {
                return Err(TrainError::value(
                    "strategy.keep",
                    format!(
                        "{k} keeps every stage of the {stages}; keep at most {}",
                        stages - 1
                    ),
                ));
            }
            Keep::Stages(k) => k,
            // Saturating only at the last layer leaves nothing to retrain: keep all but it.
            Keep::Rule(_) => saturation_layer(&self.source)?.min(stages - 1),
        };
        let path = self.source.join("checkpoint").join(MODEL_FILE);
        let source = model
            .clone()
            .try_load_file(&path)
            .map_err(|e| TrainError::Checkpoint {
                path,
                reason: format!("{e:?}"),
            })?;
        let net = E2eNet {
            model,
            projection: None,
            readout: None,
        };
        let (mut net, _) = initialize(net, env.seed, "network");
        for (i, s) in source.stages.into_iter().take(keep).enumerate() {
            net.model.stages[i] = s;
        }
        Ok(EndToEnd::new(
            Trainee::new(net, env.optim.optimizer()),
            E2eParams {
                loss: E2eLoss::Ce,
                projection: None,
                frozen_prefix: keep,
            },
            env.epochs,
        ))
    }
}
