//! Training strategies: one small trait, one file per strategy. A strategy owns what it trains
//! (the network with the modules it adds, and the optimizer), turns batches into updates,
//! schedules its own phases, checkpoints itself, and answers the two questions the rest of the
//! system asks — which class a sample gets (test accuracy) and what the representations
//! T1..TL are (information plane, probes) — through [`Evaluate`]. The loop
//! ([`crate::trainer`]) never asks which strategy it runs.

mod build;
mod e2e;
mod ff;
mod fwdgrad;
mod layerwise;

pub use build::{DataShape, build_model, build_network, build_strategy, build_strategy_for};
pub use e2e::{EndToEnd, EndToEndSpec};
pub use ff::{FfEmbedding, FfSpec, ForwardForward, wrong_labels};
pub use fwdgrad::{ForwardGradient, check_supported, directional_derivative, forward_gradient};
pub use layerwise::{Layerwise, LayerwiseSpec, LocalObjective};

use std::path::Path;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Gradients, Int, Tensor};
use infoplane_models::{Block, Repr, Stage, StageRole};

use crate::error::{Result, TrainError};
use crate::network::Network;

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
#[derive(Debug, Clone, PartialEq)]
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

/// One phase of a strategy's schedule: the learning-rate schedule restarts with every phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// Name in logs and metrics ("train", "stage conv2", …).
    pub name: String,
    /// Epochs of the phase.
    pub epochs: usize,
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

/// A way of training a network.
pub trait Strategy: std::fmt::Debug {
    /// A one-line description for logs and reports.
    fn describe(&self) -> String;
    /// The phases, in order (one for most strategies).
    fn phases(&self) -> Vec<Phase>;
    /// Called before the first epoch of phase `index` (also when resuming inside it).
    fn enter_phase(&mut self, index: usize) -> Result<()>;
    /// Views of every sample a batch must hold (2 for contrastive losses).
    fn views(&self) -> usize {
        1
    }
    /// One optimization step.
    fn step(&mut self, batch: TrainBatch, lr: f64) -> Result<StepReport>;
    /// The evaluation view of the current parameters.
    fn evaluator(&self) -> Box<dyn Evaluate + '_>;
    /// Saves parameters and optimizer state into `dir`.
    fn save(&self, dir: &Path) -> Result<()>;
    /// Loads what [`Strategy::save`] wrote.
    fn load(&mut self, dir: &Path) -> Result<()>;
    /// Trainable parameters (backbone and additions).
    fn num_params(&self) -> usize;
}

fn ckpt_err(path: &Path, e: impl std::fmt::Debug) -> TrainError {
    TrainError::Checkpoint {
        path: path.into(),
        reason: format!("{e:?}"),
    }
}

/// A network and its optimizer: the state every gradient-based strategy steps and saves.
pub struct Trainee<S: Stage + Module = Block> {
    net: Option<Network<S>>,
    optim: ModuleOptimizer,
}

impl<S: Stage + Module> std::fmt::Debug for Trainee<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainee").field("net", &self.net).finish()
    }
}

impl<S: Stage + Module> Trainee<S> {
    /// Wraps a network and an optimizer.
    pub fn new(net: Network<S>, optim: ModuleOptimizer) -> Self {
        Trainee {
            net: Some(net),
            optim,
        }
    }

    /// The network.
    pub fn net(&self) -> &Network<S> {
        self.net.as_ref().expect("the network is always put back")
    }

    /// Replaces the network through `f` (freezing, loading).
    pub fn update(&mut self, f: impl FnOnce(Network<S>) -> Network<S>) {
        let net = self.net.take().expect("the network is always put back");
        self.net = Some(f(net));
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

    /// Saves `network.bpk` and `optim.bpk` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let p = dir.join("network.bpk");
        self.net()
            .clone()
            .save_file(&p)
            .map_err(|e| ckpt_err(&p, e))?;
        let p = dir.join("optim.bpk");
        self.optim.save(&p).map_err(|e| ckpt_err(&p, e))
    }

    /// Loads what [`Trainee::save`] wrote.
    pub fn load(&mut self, dir: &Path) -> Result<()> {
        let p = dir.join("network.bpk");
        // On failure the current network stays in place.
        let loaded = self
            .net()
            .clone()
            .try_load_file(&p)
            .map_err(|e| ckpt_err(&p, e))?;
        self.net = Some(loaded);
        let p = dir.join("optim.bpk");
        let optim = self.optim.clone();
        self.optim = optim.load(&p).map_err(|e| ckpt_err(&p, e))?;
        Ok(())
    }
}

/// The evaluator of a [`Network`]: class scores from its prediction rule, representations
/// read by the model's rule, and the auxiliary heads' scores when they classify.
#[derive(Debug)]
pub struct NetworkEvaluator<S: Stage + Module = Block> {
    net: Network<S>,
    heads_classify: bool,
}

impl<S: Stage + Module> NetworkEvaluator<S> {
    /// Evaluates `net` in evaluation mode; `heads_classify`: the heads output class scores.
    pub fn new(net: &Network<S>, heads_classify: bool) -> Self {
        NetworkEvaluator {
            net: net.valid(),
            heads_classify,
        }
    }
}

impl<S: Stage + Module> Evaluate for NetworkEvaluator<S> {
    fn stage_names(&self) -> Vec<String> {
        self.net.model.names.clone()
    }

    fn stage_roles(&self) -> Vec<StageRole> {
        (0..self.net.model.num_stages())
            .map(|i| self.net.model.role(i))
            .collect()
    }

    fn head_features(&self) -> usize {
        self.net.model.head_features
    }

    fn model_description(&self) -> String {
        self.net.model.description.clone()
    }

    fn evaluate(&self, x: Tensor<4>) -> EvalOutput {
        let raw = self.net.model.forward_all(x);
        let representations: Vec<Repr> =
            raw.iter().map(|t| self.net.model.read(t.clone())).collect();
        let head_scores = if self.heads_classify {
            self.net
                .heads
                .iter()
                .zip(&representations)
                .map(|(h, t)| h.as_ref().map(|h| h.forward(t.clone()).flatten()))
                .collect()
        } else {
            vec![None; representations.len()]
        };
        let last = raw.into_iter().last().expect("at least one stage");
        EvalOutput {
            scores: self.net.scores(last),
            representations,
            head_scores,
        }
    }
}

/// The optimizer a config asks for.
pub fn optimizer(cfg: &crate::config::OptimConfig) -> ModuleOptimizer {
    use burn::optim::{AdamConfig, SgdConfig, decay::WeightDecayConfig, momentum::MomentumConfig};
    let wd = (cfg.weight_decay > 0.0).then(|| WeightDecayConfig::new(cfg.weight_decay as f32));
    match cfg.kind {
        crate::config::OptimizerKind::Adam => AdamConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(wd)
            .init(),
        crate::config::OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum(Some(
                MomentumConfig::new()
                    .with_momentum(cfg.momentum)
                    .with_dampening(0.0),
            ))
            .with_weight_decay(wd)
            .init(),
    }
}

/// Per-sample representation shapes of a model after the token readout (one sample on
/// `device`).
pub fn read_shapes<S: Stage + Module>(
    model: &infoplane_models::StagedModel<S>,
    device: &Device,
) -> Vec<Vec<usize>> {
    model.read_shapes(device)
}
