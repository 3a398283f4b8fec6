//! The strategy interface: what a way of training offers the loop and the analyses.
//!
//! A strategy owns what it trains — the staged model and the modules it adds (auxiliary heads,
//! a projection head, a label path, a classifier on detached features) as one burn module, and
//! its optimizer ([`Trainee`]) — turns batches into updates ([`Strategy::step`]), schedules its
//! own phases, and answers the two questions the rest of the system asks through [`Evaluate`]:
//! which class a sample gets (test accuracy) and what the representations T1..TL are
//! (information plane, probes). Saving, loading and counting parameters come from the trait's
//! defaults over [`Strategy::state`]. The loop ([`crate::train_loop`]) never asks which
//! strategy it runs.

use std::path::Path;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Gradients, Int, Tensor};
use infoplane_models::{Head, Repr, Stage, StageRole, StagedModel};

use crate::error::{Result, TrainError};

/// One training batch as a strategy receives it.
#[derive(Debug, Clone)]
pub struct TrainBatch {
    /// Inputs `[views·n, c, h, w]`: for two views, rows 0..n are the first views and n..2n
    /// the second views of the same samples.
    pub x: Tensor<4>,
    /// Labels `[views·n]`.
    pub y: Tensor<1, Int>,
    /// Views per sample (1 or 2).
    pub views: usize,
}

impl TrainBatch {
    /// Samples in the batch (not counting the second views).
    pub fn samples(&self) -> usize {
        self.y.dims()[0] / self.views.max(1)
    }
}

/// What one training step reports.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepReport {
    /// The loss the strategy optimizes (layer-wise: the last trained stage's local loss).
    pub loss: f32,
    /// Per-stage local losses (layer-wise), empty for E2E.
    pub stage_losses: Vec<f32>,
    /// Correct predictions on this batch (first views) when the strategy predicts while
    /// training; `None` when it does not (forward-forward, forward gradient, a layer-wise
    /// phase before the last stage).
    pub correct: Option<usize>,
    /// Per-stage values of the nHSIC augmenting term (empty without it).
    pub stage_terms: Vec<f32>,
}

impl StepReport {
    /// The first non-finite value among the loss and the stage losses, if any.
    pub fn non_finite(&self) -> Option<f32> {
        std::iter::once(self.loss)
            .chain(self.stage_losses.iter().copied())
            .find(|v| !v.is_finite())
    }
}

/// One phase of a strategy's schedule: the learning-rate schedule restarts with every phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// Name in logs and metrics ("train", "stage conv2", …).
    pub name: String,
    /// Epochs of the phase.
    pub epochs: usize,
}

impl Phase {
    /// One phase of `epochs` epochs named "train".
    pub fn single(epochs: usize) -> Vec<Phase> {
        vec![Phase {
            name: "train".into(),
            epochs,
        }]
    }

    /// One phase per stage (`"{prefix} {name}"`), `epochs` each: sequential schedules.
    pub fn per_stage(prefix: &str, names: &[String], epochs: usize) -> Vec<Phase> {
        names
            .iter()
            .map(|n| Phase {
                name: format!("{prefix} {n}"),
                epochs,
            })
            .collect()
    }
}

/// What evaluation computes for a batch of inputs.
#[derive(Debug, Clone)]
pub struct EvalOutput {
    /// T1..TL as the analyses read them (tokens reduced by the model's readout).
    pub representations: Vec<Repr>,
    /// Class scores `[n, C]` — what test accuracy is computed from.
    pub scores: Tensor<2>,
    /// Per stage, the class scores of its auxiliary head when it is a classifier.
    pub head_scores: Vec<Option<Tensor<2>>>,
}

/// The evaluation view of a trained strategy (evaluation mode: batch norm's running
/// statistics, no dropout, no gradients).
pub trait Evaluate {
    /// Stage names T1..TL.
    fn stage_names(&self) -> Vec<String>;
    /// What each stage is in its model.
    fn stage_roles(&self) -> Vec<StageRole>;
    /// Largest number of features a probe sees (feature maps are pooled to it).
    fn head_features(&self) -> usize;
    /// The model in words (for reports).
    fn model_description(&self) -> String;
    /// Representations, class scores and head scores of `x`.
    fn evaluate(&self, x: Tensor<4>) -> EvalOutput;
}

/// The parameters and optimizer state a strategy checkpoints.
pub trait Checkpointed {
    /// Saves parameters and optimizer state into `dir`.
    fn save(&self, dir: &Path) -> Result<()>;
    /// Loads what [`Checkpointed::save`] wrote; on failure the current state stays.
    fn load(&mut self, dir: &Path) -> Result<()>;
    /// Trainable parameters.
    fn num_params(&self) -> usize;
    /// Batch norm layers of the network.
    fn batch_norms(&self) -> usize {
        0
    }
    /// One forward pass of the backbone in training mode, no gradient step: batch norm's
    /// running statistics move towards `x`'s (the calibration before the first measurement).
    fn forward_train(&self, _x: Tensor<4>) {}
    /// The path of the first parameter holding a NaN or an infinity, if any (checked before
    /// every measurement: a step can leave the loss finite and the parameters not).
    fn first_non_finite(&self) -> Option<String> {
        None
    }
}

/// Finds the first float parameter (or buffer) holding a non-finite value.
struct FirstNonFinite {
    path: Vec<String>,
    found: Option<String>,
}

impl burn::module::ModuleVisitor for FirstNonFinite {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        if self.found.is_some() {
            return;
        }
        let v = param.val();
        let bad = v.clone().is_nan().any().into_scalar() || v.is_inf().any().into_scalar();
        if bad {
            self.found = Some(self.path.join("."));
        }
    }
}

/// The path of the first parameter of `m` holding a NaN or an infinity.
pub fn first_non_finite<M: Module>(m: &M) -> Option<String> {
    let mut v = FirstNonFinite {
        path: Vec::new(),
        found: None,
    };
    m.visit(&mut v);
    v.found
}

/// A way of training a network.
pub trait Strategy: std::fmt::Debug {
    /// A one-line description for logs and reports.
    fn describe(&self) -> String;
    /// The phases, in order (one for most strategies).
    fn phases(&self) -> Vec<Phase>;
    /// Called before the first epoch of phase `index` (also when resuming inside it).
    fn enter_phase(&mut self, _index: usize) -> Result<()> {
        Ok(())
    }
    /// Views of every sample a batch must hold (2 for contrastive losses).
    fn views(&self) -> usize {
        1
    }
    /// One optimization step.
    fn step(&mut self, batch: TrainBatch, lr: f64) -> Result<StepReport>;
    /// The evaluation view of the current parameters.
    fn evaluator(&self) -> Box<dyn Evaluate + '_>;
    /// What is checkpointed: the network and its optimizer.
    fn state(&self) -> &dyn Checkpointed;
    /// The same, mutable (loading).
    fn state_mut(&mut self) -> &mut dyn Checkpointed;
    /// Saves parameters and optimizer state into `dir`.
    fn save(&self, dir: &Path) -> Result<()> {
        self.state().save(dir)
    }
    /// Loads what [`Strategy::save`] wrote.
    fn load(&mut self, dir: &Path) -> Result<()> {
        self.state_mut().load(dir)
    }
    /// Trainable parameters (backbone and additions).
    fn num_params(&self) -> usize {
        self.state().num_params()
    }
}

/// A module that holds a staged model (the backbone) beside what a strategy adds to it.
pub trait HasModel: Module {
    /// The stage type.
    type Stage: Stage;
    /// The backbone.
    fn model(&self) -> &StagedModel<Self::Stage>;
    /// Replaces the backbone through `f` (freezing).
    fn map_model(
        self,
        f: impl FnOnce(StagedModel<Self::Stage>) -> StagedModel<Self::Stage>,
    ) -> Self;
}

/// Implements [`HasModel`] for a strategy's network struct whose backbone is its `model`
/// field: `has_model!(LayerwiseNet)` (generic over the stage type) or
/// `has_model!(FfNet, Block)` (for one stage type).
#[macro_export]
macro_rules! has_model {
    ($net:ident) => {
        impl<S: infoplane_models::Stage> $crate::strategy::HasModel for $net<S> {
            type Stage = S;
            fn model(&self) -> &infoplane_models::StagedModel<S> {
                &self.model
            }
            fn map_model(
                mut self,
                f: impl FnOnce(infoplane_models::StagedModel<S>) -> infoplane_models::StagedModel<S>,
            ) -> Self {
                self.model = f(self.model);
                self
            }
        }
    };
    ($net:ident, $stage:ty) => {
        impl $crate::strategy::HasModel for $net {
            type Stage = $stage;
            fn model(&self) -> &infoplane_models::StagedModel<$stage> {
                &self.model
            }
            fn map_model(
                mut self,
                f: impl FnOnce(infoplane_models::StagedModel<$stage>) -> infoplane_models::StagedModel<$stage>,
            ) -> Self {
                self.model = f(self.model);
                self
            }
        }
    };
}

/// The two accessors of [`Strategy`] that return what a strategy checkpoints, when that is
/// its `trainee` field.
#[macro_export]
macro_rules! checkpointed_by_trainee {
    () => {
        fn state(&self) -> &dyn $crate::strategy::Checkpointed {
            &self.trainee
        }
        fn state_mut(&mut self) -> &mut dyn $crate::strategy::Checkpointed {
            &mut self.trainee
        }
    };
}

fn ckpt_err(path: &Path, e: impl std::fmt::Debug) -> TrainError {
    TrainError::Checkpoint {
        path: path.into(),
        reason: format!("{e:?}"),
    }
}

/// A checkpoint that exists but cannot be read back: damaged or cut off.
fn load_err(path: &Path, e: impl std::fmt::Debug) -> TrainError {
    TrainError::Checkpoint {
        path: path.into(),
        reason: format!(
            "cannot be read ({e:?}): the checkpoint is damaged or incomplete; nothing was changed. \
             Restore it from a copy, or start the run again with --overwrite"
        ),
    }
}

/// The file of a checkpoint holding the backbone alone (`StagedModel`'s record), whatever
/// the strategy: what retraining reads from a source run.
pub const MODEL_FILE: &str = "model.bpk";

/// A network and its optimizer: the state every gradient-based strategy steps and saves.
pub struct Trainee<N: HasModel> {
    net: Option<N>,
    optim: ModuleOptimizer,
}

impl<N: HasModel> std::fmt::Debug for Trainee<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainee").field("net", &self.net).finish()
    }
}

impl<N: HasModel> Trainee<N> {
    /// Wraps a network and an optimizer.
    pub fn new(net: N, optim: ModuleOptimizer) -> Self {
        Trainee {
            net: Some(net),
            optim,
        }
    }

    /// The network.
    pub fn net(&self) -> &N {
        self.net.as_ref().expect("the network is always put back")
    }

    /// Replaces the network through `f` (freezing, loading).
    pub fn update(&mut self, f: impl FnOnce(N) -> N) {
        let net = self.net.take().expect("the network is always put back");
        self.net = Some(f(net));
    }

    /// Freezes the first `k` stages of the backbone (the shared rule of every phased
    /// schedule).
    pub fn freeze_prefix(&mut self, k: usize) {
        if k > 0 {
            self.update(|net| net.map_model(|m| m.freeze_prefix(k)));
        }
    }

    /// One optimizer step with the gradients of a backward pass: only the parameters that
    /// received a gradient move.
    pub fn apply(&mut self, lr: f64, grads: Gradients) {
        let net = self.net.take().expect("the network is always put back");
        let params = GradientsParams::from_grads(grads, &net);
        self.net = Some(self.optim.step(lr, net, params));
    }

    /// One optimizer step with gradients given directly (forward gradients).
    pub fn apply_params(&mut self, lr: f64, grads: GradientsParams) {
        let net = self.net.take().expect("the network is always put back");
        self.net = Some(self.optim.step(lr, net, grads));
    }
}

impl<N: HasModel> Checkpointed for Trainee<N> {
    /// Writes `network.bpk` (everything), `model.bpk` (the backbone alone) and `optim.bpk`.
    fn save(&self, dir: &Path) -> Result<()> {
        let p = dir.join("network.bpk");
        self.net()
            .clone()
            .save_file(&p)
            .map_err(|e| ckpt_err(&p, e))?;
        let p = dir.join(MODEL_FILE);
        self.net()
            .model()
            .clone()
            .save_file(&p)
            .map_err(|e| ckpt_err(&p, e))?;
        let p = dir.join("optim.bpk");
        self.optim.save(&p).map_err(|e| ckpt_err(&p, e))
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        let p = dir.join("network.bpk");
        let loaded = self
            .net()
            .clone()
            .try_load_file(&p)
            .map_err(|e| load_err(&p, e))?;
        let p = dir.join("optim.bpk");
        let optim = self.optim.clone().load(&p).map_err(|e| load_err(&p, e))?;
        self.net = Some(loaded);
        self.optim = optim;
        Ok(())
    }

    fn num_params(&self) -> usize {
        infoplane_models::count_parameters(self.net())
    }

    fn batch_norms(&self) -> usize {
        infoplane_models::count_batch_norms(self.net().model())
    }

    fn forward_train(&self, x: Tensor<4>) {
        let _ = self.net().model().forward_all(x);
    }

    fn first_non_finite(&self) -> Option<String> {
        first_non_finite(self.net())
    }
}

/// How class scores come from the last representation of a backbone.
#[derive(Debug, Clone)]
pub enum Scores {
    /// The model's classifier, or the last representation itself when it is the class scores.
    Model,
    /// A linear classifier trained on the detached last representation (when the model's last
    /// stage outputs class scores but the loss is not cross-entropy).
    Readout(Box<Head>),
}

impl Scores {
    /// The readout of a strategy's network when it has one.
    pub fn from_readout(readout: Option<&Head>) -> Self {
        match readout {
            Some(h) => Scores::Readout(Box::new(h.clone())),
            None => Scores::Model,
        }
    }

    /// Class scores of `last` under `model`: its classifier first, then the readout, then the
    /// representation itself.
    pub fn of<S: Stage>(&self, model: &StagedModel<S>, last: Repr) -> Tensor<2> {
        match (&model.classifier, self) {
            (Some(_), _) => model.logits(last),
            (None, Scores::Readout(r)) => r.forward(model.read(last)).flatten(),
            (None, Scores::Model) => last.flatten(),
        }
    }

    /// The class scores trained on the detached last representation, when something
    /// classifies it (the model's classifier or the readout).
    pub fn detached<S: Stage>(&self, model: &StagedModel<S>, last: Repr) -> Option<Tensor<2>> {
        let last = last.detach();
        match (&model.classifier, self) {
            (Some(_), _) => Some(model.logits(last)),
            (None, Scores::Readout(r)) => Some(r.forward(model.read(last)).flatten()),
            (None, Scores::Model) => None,
        }
    }
}

/// The evaluator of a backbone in evaluation mode: representations read by the model's rule,
/// class scores by [`Scores`], and the scores of auxiliary heads that classify.
#[derive(Debug)]
pub struct StagedEvaluator<S: Stage> {
    model: StagedModel<S>,
    scores: Scores,
    heads: Vec<Option<Head>>,
}

impl<S: Stage> StagedEvaluator<S> {
    /// Evaluates `model` (switched to evaluation mode here) with its class-score rule and the
    /// classifying heads (empty: none).
    pub fn new(model: &StagedModel<S>, scores: Scores, heads: &[Option<Head>]) -> Self {
        StagedEvaluator {
            model: model.valid(),
            scores: match scores {
                Scores::Readout(h) => Scores::Readout(Box::new(h.valid())),
                s => s,
            },
            heads: heads
                .iter()
                .map(|h| h.as_ref().map(|h| h.valid()))
                .collect(),
        }
    }
}

impl<S: Stage> Evaluate for StagedEvaluator<S> {
    fn stage_names(&self) -> Vec<String> {
        self.model.names.clone()
    }

    fn stage_roles(&self) -> Vec<StageRole> {
        (0..self.model.num_stages())
            .map(|i| self.model.role(i))
            .collect()
    }

    fn head_features(&self) -> usize {
        self.model.head_features
    }

    fn model_description(&self) -> String {
        self.model.description.clone()
    }

    fn evaluate(&self, x: Tensor<4>) -> EvalOutput {
        let raw = self.model.forward_all(x);
        let representations: Vec<Repr> = raw.iter().map(|t| self.model.read(t.clone())).collect();
        let head_scores = (0..representations.len())
            .map(|i| {
                let h = self.heads.get(i)?.as_ref()?;
                Some(h.forward(representations[i].clone()).flatten())
            })
            .collect();
        let last = raw.into_iter().last().expect("at least one stage");
        EvalOutput {
            scores: self.scores.of(&self.model, last),
            representations,
            head_scores,
        }
    }
}

/// Number of correct predictions of `scores` `[n, C]` for `labels` `[n]`.
pub fn correct(scores: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    let pred = scores.argmax(1).squeeze_dim::<1>(1);
    pred.equal(labels).int().sum().into_scalar::<i64>() as usize
}

/// Correct predictions among the first `n` rows (the first views of a two-view batch).
pub fn correct_first(scores: Tensor<2>, labels: Tensor<1, Int>, n: usize) -> usize {
    correct(scores.detach().narrow(0, 0, n), labels.narrow(0, 0, n))
}
