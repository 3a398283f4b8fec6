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

/// The `[strategy]` keys of `kind = "retrain"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrainConfig {
    /// The run directory of the source run (its `config.toml` and `checkpoint/`).
    #[serde(default)]
    pub source: PathBuf,
    /// Number of leading stages kept (1 ≤ k < number of stages).
    #[serde(default)]
    pub keep: usize,
}

/// Checked parameters of retraining.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrainParams {
    /// The source run's directory.
    pub source: PathBuf,
    /// Stages kept.
    pub keep: usize,
}

impl Method for RetrainConfig {
    const KIND: &'static str = "retrain";
    const ABOUT: &'static str = "retraining after layer k: the first k stages of a finished layer-wise run kept frozen, the rest re-initialized and trained end to end";
    const PAPER: &'static str = "table 2";
    const KEYS: &'static [(&'static str, &'static str)] = &[
        ("source", "the finished source run's directory"),
        ("keep", "stages kept from the source run (k)"),
    ];
    type Params = RetrainParams;

    fn label(&self) -> String {
        format!("retrain-after-{}", self.keep)
    }

    fn check(&self) -> Result<RetrainParams> {
        if self.keep == 0 {
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
        format!("retrain-after-{}", self.keep)
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
        if self.keep >= stages {
            return Err(TrainError::value(
                "strategy.keep",
                format!(
                    "{} keeps every stage of the {stages}; keep at most {}",
                    self.keep,
                    stages - 1
                ),
            ));
        }
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
        for (i, s) in source.stages.into_iter().take(self.keep).enumerate() {
            net.model.stages[i] = s;
        }
        Ok(EndToEnd::new(
            Trainee::new(net, env.optim.optimizer()),
            E2eParams {
                loss: E2eLoss::Ce,
                projection: None,
                frozen_prefix: self.keep,
            },
            env.epochs,
        ))
    }
}
