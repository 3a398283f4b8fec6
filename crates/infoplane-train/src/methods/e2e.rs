//! End-to-end training: one loss on the last representation, backpropagated through every
//! stage. Cross-entropy on the class scores; or a contrastive loss (supervised contrastive,
//! SimCLR's NT-Xent) on a projection of the last representation, with a linear classifier
//! trained by cross-entropy on the detached representation giving test accuracy, as the paper
//! does (figure 10). Retraining after layer k (table 2, [`super::retrain`]) is this strategy
//! with the first k stages frozen.

use burn::module::Module;
use infoplane_models::{Block, Head, HeadKind, HeadPurpose, Repr, Stage, StagedModel};
use serde::{Deserialize, Serialize};

use super::{BuildEnv, Method, Params, positive};
use crate::error::{Result, TrainError};
use crate::init::initialize;
use crate::losses::{cross_entropy, nt_xent, supcon};
use crate::strategy::{
    Evaluate, Phase, Scores, StagedEvaluator, StepReport, Strategy, TrainBatch, Trainee, correct,
    correct_first,
};

/// The end-to-end loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum E2eLoss {
    /// Cross-entropy on the model's class scores.
    #[default]
    Ce,
    /// Supervised contrastive on a projection of the last representation (two views).
    Supcon,
    /// SimCLR's NT-Xent (self-supervised; two views).
    Simclr,
}

impl E2eLoss {
    /// Name in configs and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            E2eLoss::Ce => "ce",
            E2eLoss::Supcon => "supcon",
            E2eLoss::Simclr => "simclr",
        }
    }
}

pub(crate) fn d_temperature() -> f64 {
    0.1
}
pub(crate) fn d_base_temperature() -> f64 {
    0.07
}
pub(crate) fn d_embedding() -> usize {
    128
}

/// The `[strategy]` keys of `kind = "e2e"`.
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

impl Default for E2eConfig {
    fn default() -> Self {
        E2eConfig {
            loss: E2eLoss::Ce,
            head: None,
            temperature: d_temperature(),
            base_temperature: d_base_temperature(),
            embedding_dim: d_embedding(),
        }
    }
}

/// Contrastive settings, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contrastive {
    /// τ.
    pub temperature: f64,
    /// τ_base.
    pub base_temperature: f64,
    /// Embedding width.
    pub embedding_dim: usize,
}

impl Contrastive {
    /// Checks the three contrastive keys.
    pub fn check(temperature: f64, base_temperature: f64, embedding_dim: usize) -> Result<Self> {
        positive("strategy.temperature", temperature)?;
        positive("strategy.base_temperature", base_temperature)?;
        if embedding_dim == 0 {
            return Err(TrainError::value(
                "strategy.embedding_dim",
                "must be at least 1",
            ));
        }
        Ok(Contrastive {
            temperature,
            base_temperature,
            embedding_dim,
        })
    }
}

/// Checked parameters of E2E training.
#[derive(Debug, Clone, PartialEq)]
pub struct E2eParams {
    /// The loss.
    pub loss: E2eLoss,
    /// Projection head and contrastive settings (contrastive losses).
    pub projection: Option<(HeadKind, Contrastive)>,
    /// Leading stages kept frozen (retraining).
    pub frozen_prefix: usize,
}

impl E2eParams {
    /// Plain E2E cross-entropy.
    pub fn cross_entropy() -> Self {
        E2eParams {
            loss: E2eLoss::Ce,
            projection: None,
            frozen_prefix: 0,
        }
    }
}

impl Method for E2eConfig {
    const KIND: &'static str = "e2e";
    const ABOUT: &'static str = "end-to-end: cross-entropy, or a contrastive loss (SupCon, SimCLR) with a linear classifier on the detached representation";
    const PAPER: &'static str = "table 1, figures 1, 3, 6, 9, 10";
    const KEYS: &'static [(&'static str, &'static str)] = &[
        ("loss", "ce | supcon | simclr"),
        (
            "head",
            "projection head of the contrastive losses: identity | linear | mlp (default mlp)",
        ),
        ("temperature", "contrastive temperature τ"),
        (
            "base_temperature",
            "contrastive base temperature (loss scaled by τ/τ_base)",
        ),
        ("embedding_dim", "width of the contrastive embedding"),
    ];
    type Params = E2eParams;

    fn resolve(&mut self) {
        if self.loss != E2eLoss::Ce {
            self.head.get_or_insert(HeadKind::Mlp);
        }
    }

    fn label(&self) -> String {
        format!("e2e-{}", self.loss.as_str())
    }

    fn check(&self) -> Result<E2eParams> {
        let projection = match (self.loss, self.head) {
            (E2eLoss::Ce, Some(_)) => {
                // The head only exists for contrastive losses; a choice with cross-entropy
                // would silently do nothing.
                return Err(TrainError::value(
                    "strategy.head",
                    "E2E cross-entropy has no projection head; remove the key",
                ));
            }
            (E2eLoss::Ce, None) => None,
            (_, head) => {
                let head = head.unwrap_or(HeadKind::Mlp);
                if matches!(head, HeadKind::Conv | HeadKind::ConvMlp) {
                    return Err(TrainError::value(
                        "strategy.head",
                        "a projection head is identity, linear or mlp",
                    ));
                }
                Some((
                    head,
                    Contrastive::check(
                        self.temperature,
                        self.base_temperature,
                        self.embedding_dim,
                    )?,
                ))
            }
        };
        Ok(E2eParams {
            loss: self.loss,
            projection,
            frozen_prefix: 0,
        })
    }
}

impl Params for E2eParams {
    fn label(&self) -> String {
        if self.frozen_prefix > 0 {
            format!("retrain-after-{}", self.frozen_prefix)
        } else {
            format!("e2e-{}", self.loss.as_str())
        }
    }

    fn views(&self) -> usize {
        if self.loss == E2eLoss::Ce { 1 } else { 2 }
    }

    fn build(&self, model: StagedModel<Block>, env: &BuildEnv<'_>) -> Result<Box<dyn Strategy>> {
        Ok(Box::new(self.init(model, env)?))
    }
}

/// What E2E training trains: the model, and for contrastive losses a projection head and
/// (when the model's last stage outputs class scores) a readout classifier.
#[derive(Module, Debug)]
pub struct E2eNet<S: Stage> {
    /// The staged model.
    pub model: StagedModel<S>,
    /// The projection head of the contrastive losses.
    pub projection: Option<Head>,
    /// A linear classifier on the detached last representation.
    pub readout: Option<Head>,
}

crate::has_model!(E2eNet);

pub(crate) fn head_err(e: infoplane_models::ModelError) -> TrainError {
    match e {
        infoplane_models::ModelError::InvalidOption { option, reason } => {
            TrainError::value(&format!("model.{option}"), reason)
        }
        other => TrainError::value("strategy.head", other.to_string()),
    }
}

/// A linear classifier on the last representation, when the model's last stage outputs class
/// scores (so the model has no classifier of its own to train on detached features).
pub(crate) fn readout<S: Stage>(
    model: &StagedModel<S>,
    env: &BuildEnv<'_>,
) -> Result<Option<Head>> {
    if !model.ends_in_logits() {
        return Ok(None);
    }
    let last = model.read_shapes(env.device).pop().unwrap_or_default();
    Head::new(
        HeadKind::Linear,
        &last,
        HeadPurpose::Classes(env.classes),
        model.head_features,
        env.device,
    )
    .map(Some)
    .map_err(head_err)
}

impl E2eParams {
    /// The strategy over any staged model: the additions are built and every parameter drawn
    /// from the run's seed (the backbone identically to a layer-wise run's).
    pub fn init<S: Stage>(&self, model: StagedModel<S>, env: &BuildEnv<'_>) -> Result<EndToEnd<S>> {
        let (projection, readout) = match &self.projection {
            None => (None, None),
            Some((kind, c)) => {
                let last = model.read_shapes(env.device).pop().unwrap_or_default();
                let p = Head::new(
                    *kind,
                    &last,
                    HeadPurpose::Embedding(c.embedding_dim),
                    model.head_features,
                    env.device,
                )
                .map_err(head_err)?;
                (Some(p), readout(&model, env)?)
            }
        };
        let net = E2eNet {
            model,
            projection,
            readout,
        };
        let (net, _) = initialize(net, env.seed, "network");
        Ok(EndToEnd::new(
            Trainee::new(net, env.optim.optimizer()),
            self.clone(),
            env.epochs,
        ))
    }
}

/// E2E training of an [`E2eNet`].
#[derive(Debug)]
pub struct EndToEnd<S: Stage = Block> {
    trainee: Trainee<E2eNet<S>>,
    params: E2eParams,
    epochs: usize,
}

impl<S: Stage> EndToEnd<S> {
    /// The strategy over a network and its optimizer.
    pub fn new(trainee: Trainee<E2eNet<S>>, params: E2eParams, epochs: usize) -> Self {
        EndToEnd {
            trainee,
            params,
            epochs,
        }
    }

    /// The network and optimizer.
    pub fn trainee(&self) -> &Trainee<E2eNet<S>> {
        &self.trainee
    }

    fn loss(&self, batch: TrainBatch) -> (burn::tensor::Tensor<1>, f32, usize) {
        let n = batch.samples();
        let net = self.trainee.net();
        let last = net
            .model
            .stages
            .iter()
            .fold(Repr::Map(batch.x), |t, s| s.forward(t));
        match &self.params.projection {
            None => {
                let scores = net.model.logits(last);
                let loss = cross_entropy(scores.clone(), batch.y.clone());
                let ok = correct(scores.detach(), batch.y);
                let v = loss.clone().into_scalar::<f32>();
                (loss, v, ok)
            }
            Some((_, c)) => {
                let projection = net.projection.as_ref().expect("built with the params");
                let z = projection.forward(net.model.read(last.clone())).flatten();
                let contrastive = if self.params.loss == E2eLoss::Supcon {
                    supcon(z, batch.y.clone(), c.temperature, c.base_temperature)
                } else {
                    nt_xent(z, c.temperature, c.base_temperature)
                };
                let scores = Scores::from_readout(net.readout.as_ref())
                    .detached(&net.model, last)
                    .expect("a classifier or a readout exists");
                let ce = cross_entropy(scores.clone(), batch.y.clone());
                let ok = correct_first(scores, batch.y, n);
                let v = contrastive.clone().into_scalar::<f32>();
                (contrastive + ce, v, ok)
            }
        }
    }
}

impl<S: Stage> Strategy for EndToEnd<S> {
    fn describe(&self) -> String {
        let loss = match &self.params.projection {
            None => "cross-entropy on the class scores".to_string(),
            Some((_, c)) => format!(
                "{} (τ = {}, τ_base = {}) on a projection of the last representation; test accuracy from a linear classifier trained with cross-entropy on the detached representation",
                if self.params.loss == E2eLoss::Supcon {
                    "supervised contrastive loss"
                } else {
                    "SimCLR NT-Xent loss"
                },
                c.temperature,
                c.base_temperature
            ),
        };
        if self.params.frozen_prefix > 0 {
            format!(
                "E2E with the first {} stages frozen (retraining), {loss}",
                self.params.frozen_prefix
            )
        } else {
            format!("E2E, {loss}")
        }
    }

    fn phases(&self) -> Vec<Phase> {
        Phase::single(self.epochs)
    }

    fn enter_phase(&mut self, _index: usize) -> Result<()> {
        self.trainee.freeze_prefix(self.params.frozen_prefix);
        Ok(())
    }

    fn views(&self) -> usize {
        self.params.views()
    }

    fn step(&mut self, batch: TrainBatch, lr: f64) -> Result<StepReport> {
        let (loss, value, ok) = self.loss(batch);
        self.trainee.apply(lr, loss.backward());
        Ok(StepReport {
            loss: value,
            correct: Some(ok),
            ..Default::default()
        })
    }

    fn evaluator(&self) -> Box<dyn Evaluate + '_> {
        let net = self.trainee.net();
        Box::new(StagedEvaluator::new(
            &net.model,
            Scores::from_readout(net.readout.as_ref()),
            &[],
        ))
    }

    crate::checkpointed_by_trainee!();
}
