//! Layer-wise training (the paper's appendix B): every stage sees a detached input and is
//! trained by its own local loss — cross-entropy or supervised contrastive through an auxiliary
//! head, or similarity matching — optionally minus λ·nHSIC (section 4.4). Signal propagation,
//! whose label path travels through the stages, is its own method
//! ([`super::signal_propagation`]).
//!
//! Simultaneous: one forward pass per batch; stage i's loss is backpropagated and stepped as
//! soon as it exists, and its graph dropped, so at most one stage's activations are held for
//! backpropagation at a time (the memory advantage of local learning). Because the stages'
//! parameters are disjoint and inputs are detached, updating stage i before running stage i+1
//! on the already computed output is the same as one joint update.
//!
//! Sequential: one phase per stage; in phase i stage i (and its head) trains for the phase's
//! epochs while stages < i are frozen (no gradients; a frozen batch norm uses its running
//! statistics, burn's rule for frozen layers — the authors' code keeps earlier blocks in
//! training mode).
//!
//! Test accuracy: a model ending in class scores under cross-entropy is read at its last
//! stage; otherwise a linear classifier (the model's own, or a readout added for the purpose)
//! is trained with cross-entropy on the detached last representation — in every phase of a
//! simultaneous run, in the last phase of a sequential one.

use burn::module::Module;
use burn::tensor::{Int, Tensor};
use infoplane_hsic::{Kernel, KernelKind, Regularized};
use infoplane_models::{Block, Head, HeadKind, HeadPurpose, Repr, Stage, StagedModel};
use serde::{Deserialize, Serialize};

use super::e2e::{Contrastive, d_base_temperature, d_embedding, d_temperature, head_err, readout};
use super::{BuildEnv, Method, Params, Schedule, positive};
use crate::config::sections::{d_eps, d_sigma};
use crate::error::{Result, TrainError};
use crate::init::initialize;
use crate::losses::{
    SimTarget, cross_entropy, label_similarity, nhsic_term, similarity_matching, supcon,
};
use crate::strategy::{
    Evaluate, Phase, Scores, StagedEvaluator, StepReport, Strategy, TrainBatch, Trainee,
    correct_first,
};

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
}

impl LocalLoss {
    /// Name in configs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalLoss::Ce => "ce",
            LocalLoss::Supcon => "supcon",
            LocalLoss::Sim => "sim",
        }
    }
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

/// The `[strategy]` keys of `kind = "layerwise"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerwiseConfig {
    /// The local loss.
    #[serde(default)]
    pub loss: LocalLoss,
    /// Auxiliary head (default: linear for ce/supcon, conv for sim).
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
    /// The nHSIC augmenting term (absent: none).
    #[serde(default)]
    pub hsic: Option<HsicTermConfig>,
}

impl Default for LayerwiseConfig {
    fn default() -> Self {
        LayerwiseConfig {
            loss: LocalLoss::Ce,
            head: None,
            schedule: Schedule::Simultaneous,
            temperature: d_temperature(),
            base_temperature: d_base_temperature(),
            embedding_dim: d_embedding(),
            sim_target: SimTarget::default(),
            hsic: None,
        }
    }
}

/// Checked parameters of layer-wise training.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerwiseParams {
    /// The local loss.
    pub loss: LocalLoss,
    /// The auxiliary head of every stage.
    pub head: HeadKind,
    /// Simultaneous or sequential.
    pub schedule: Schedule,
    /// Contrastive settings (supcon).
    pub contrastive: Option<Contrastive>,
    /// The similarity loss's label target.
    pub sim_target: SimTarget,
    /// The nHSIC augmenting term.
    pub hsic: Option<HsicTermConfig>,
}

impl LayerwiseParams {
    /// Simultaneous layer-wise cross-entropy through `head` heads.
    pub fn cross_entropy(head: HeadKind) -> Self {
        LayerwiseParams {
            loss: LocalLoss::Ce,
            head,
            schedule: Schedule::Simultaneous,
            contrastive: None,
            sim_target: SimTarget::default(),
            hsic: None,
        }
    }
}

impl Method for LayerwiseConfig {
    const KIND: &'static str = "layerwise";
    const ABOUT: &'static str = "layer-wise: every stage trained by its own local loss (cross-entropy, supervised contrastive or similarity matching) through an auxiliary head, inputs detached; simultaneous or sequential; optionally minus λ·nHSIC";
    const PAPER: &'static str = "table 1, figures 1, 3, 5, 6, 7, 9, 12–19";
    const KEYS: &'static [(&'static str, &'static str)] = &[
        ("loss", "ce | supcon | sim"),
        (
            "head",
            "auxiliary head: identity | linear | mlp (ce, supcon); identity | conv | conv-mlp (sim)",
        ),
        (
            "schedule",
            "simultaneous | sequential (one phase per stage, earlier stages frozen)",
        ),
        ("temperature", "contrastive temperature τ (supcon)"),
        ("base_temperature", "contrastive base temperature (supcon)"),
        (
            "embedding_dim",
            "width of the contrastive embedding (supcon)",
        ),
        (
            "sim_target",
            "label target of the similarity loss: onehot-gram | centered",
        ),
        (
            "hsic",
            "[strategy.hsic] the nHSIC augmenting term: lambda, reference = global | local, apply_to = stage | head, sigma, eps",
        ),
    ];
    type Params = LayerwiseParams;

    fn resolve(&mut self) {
        self.head.get_or_insert(match self.loss {
            LocalLoss::Ce | LocalLoss::Supcon => HeadKind::Linear,
            LocalLoss::Sim => HeadKind::Conv,
        });
    }

    fn label(&self) -> String {
        format!(
            "layerwise-{}{}{}",
            if self.schedule == Schedule::Sequential {
                "sequential-"
            } else {
                ""
            },
            self.loss.as_str(),
            if self.hsic.is_some() { "+nhsic" } else { "" }
        )
    }

    fn check(&self) -> Result<LayerwiseParams> {
        let head = self.head.unwrap_or(match self.loss {
            LocalLoss::Sim => HeadKind::Conv,
            _ => HeadKind::Linear,
        });
        check_head(self.loss, head)?;
        let contrastive = match self.loss {
            LocalLoss::Supcon => Some(Contrastive::check(
                self.temperature,
                self.base_temperature,
                self.embedding_dim,
            )?),
            _ => None,
        };
        if let Some(h) = &self.hsic {
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
        Ok(LayerwiseParams {
            loss: self.loss,
            head,
            schedule: self.schedule,
            contrastive,
            sim_target: self.sim_target,
            hsic: self.hsic.clone(),
        })
    }
}

fn check_head(loss: LocalLoss, head: HeadKind) -> Result<()> {
    let conv = matches!(head, HeadKind::Conv | HeadKind::ConvMlp);
    let reason = match loss {
        LocalLoss::Ce if head == HeadKind::Identity => {
            "cross-entropy through an identity head is not defined (the paper's \"—\"): use linear or mlp"
        }
        LocalLoss::Ce | LocalLoss::Supcon if conv => {
            "convolutional heads serve the similarity loss; use identity, linear or mlp"
        }
        LocalLoss::Sim if matches!(head, HeadKind::Linear | HeadKind::Mlp) => {
            "the similarity loss takes identity, conv or conv-mlp heads (the paper's 0/1/2-layer)"
        }
        _ => return Ok(()),
    };
    Err(TrainError::value("strategy.head", reason))
}

impl Params for LayerwiseParams {
    fn label(&self) -> String {
        format!(
            "layerwise-{}{}{}",
            if self.schedule == Schedule::Sequential {
                "sequential-"
            } else {
                ""
            },
            self.loss.as_str(),
            if self.hsic.is_some() { "+nhsic" } else { "" }
        )
    }

    fn views(&self) -> usize {
        if self.loss == LocalLoss::Supcon { 2 } else { 1 }
    }

    fn phases(&self, stages: usize) -> usize {
        match self.schedule {
            Schedule::Simultaneous => 1,
            Schedule::Sequential => stages,
        }
    }

    fn build(&self, model: StagedModel<Block>, env: &BuildEnv<'_>) -> Result<Box<dyn Strategy>> {
        Ok(Box::new(self.init(model, env)?))
    }
}

/// What layer-wise training trains: the model, one auxiliary head per stage (none where the
/// stage's own output is the class scores under cross-entropy, or the head is the identity)
/// and, when the model ends in class scores but the loss is not cross-entropy, a readout
/// classifier on the detached last representation.
#[derive(Module, Debug)]
pub struct LayerwiseNet<S: Stage> {
    /// The staged model.
    pub model: StagedModel<S>,
    /// One auxiliary head per stage.
    pub heads: Vec<Option<Head>>,
    /// A linear classifier on the detached last representation.
    pub readout: Option<Head>,
}

crate::has_model!(LayerwiseNet);

impl LayerwiseParams {
    /// The strategy over any staged model: one auxiliary head per stage (and a readout where
    /// needed), every parameter drawn from the run's seed — the backbone identically to an
    /// E2E run's with the same seed.
    pub fn init<S: Stage>(
        &self,
        model: StagedModel<S>,
        env: &BuildEnv<'_>,
    ) -> Result<Layerwise<S>> {
        let shapes = model.read_shapes(env.device);
        let stages = shapes.len();
        let logits_end = model.ends_in_logits();
        let mut heads = Vec::with_capacity(stages);
        for (i, shape) in shapes.iter().enumerate() {
            let purpose = match self.loss {
                LocalLoss::Ce if i + 1 == stages && logits_end => None,
                LocalLoss::Ce => Some(HeadPurpose::Classes(env.classes)),
                LocalLoss::Supcon => Some(HeadPurpose::Embedding(
                    self.contrastive.map_or(d_embedding(), |c| c.embedding_dim),
                )),
                LocalLoss::Sim => Some(HeadPurpose::Similarity),
            };
            let head = match purpose {
                // The similarity loss reads an identity "head" as the stage output itself; an
                // identity head of SupCon pools a map to at most `head_features` first;
                // cross-entropy refuses one (Head::new says so).
                Some(p) if self.head != HeadKind::Identity || self.loss != LocalLoss::Sim => Some(
                    Head::new(self.head, shape, p, model.head_features, env.device)
                        .map_err(head_err)?,
                ),
                _ => None,
            };
            heads.push(head);
        }
        let readout = if self.loss != LocalLoss::Ce {
            readout(&model, env)?
        } else {
            None
        };
        let net = LayerwiseNet {
            model,
            heads,
            readout,
        };
        let (net, _) = initialize(net, env.seed, "network");
        Ok(Layerwise::new(
            Trainee::new(net, env.optim.optimizer()),
            self.clone(),
            env.classes,
            env.epochs,
        ))
    }
}

/// Layer-wise training of a [`LayerwiseNet`].
#[derive(Debug)]
pub struct Layerwise<S: Stage = Block> {
    trainee: Trainee<LayerwiseNet<S>>,
    params: LayerwiseParams,
    classes: usize,
    epochs: usize,
    phase: usize,
}

/// R of the reference of the nHSIC term for a batch of `t` (flattened, detached).
fn reference(t: Tensor<2>, h: &HsicTermConfig) -> Result<Regularized> {
    let k = Kernel {
        kind: KernelKind::RbfDimscaled,
        sigma: h.sigma,
    };
    let kc = k.centered_gram_tensor(t.detach().without_autodiff());
    Ok(Regularized::from_centered_eigen(&kc, h.eps)?)
}

/// One stage's objective: the total to backpropagate, the local loss's value, the nHSIC
/// term's value, the class scores when the stage classifies, and the stage's output.
struct Objective {
    total: Tensor<1>,
    value: f32,
    term: Option<f32>,
    scores: Option<Tensor<2>>,
    output: Repr,
}

/// One stage's local loss: the loss, the class scores when it classifies, the head output.
struct Local {
    loss: Tensor<1>,
    scores: Option<Tensor<2>>,
    head_out: Option<Repr>,
}

impl<S: Stage> Layerwise<S> {
    /// The strategy over a network and its optimizer.
    pub fn new(
        trainee: Trainee<LayerwiseNet<S>>,
        params: LayerwiseParams,
        classes: usize,
        epochs: usize,
    ) -> Self {
        Layerwise {
            trainee,
            params,
            classes,
            epochs,
            phase: 0,
        }
    }

    /// The network and optimizer.
    pub fn trainee(&self) -> &Trainee<LayerwiseNet<S>> {
        &self.trainee
    }

    fn num_stages(&self) -> usize {
        self.trainee.net().model.num_stages()
    }

    /// The stages trained in the current phase.
    fn trained(&self) -> std::ops::Range<usize> {
        match self.params.schedule {
            Schedule::Simultaneous => 0..self.num_stages(),
            Schedule::Sequential => self.phase..self.phase + 1,
        }
    }

    fn local_loss(&self, i: usize, t: &Repr, y: &Tensor<1, Int>) -> Local {
        let net = self.trainee.net();
        let read = net.model.read(t.clone());
        let head_out = net.heads[i].as_ref().map(|h| h.forward(read.clone()));
        match self.params.loss {
            LocalLoss::Ce => {
                let scores = match &head_out {
                    Some(h) => h.clone().flatten(),
                    None => t.clone().flatten(),
                };
                Local {
                    loss: cross_entropy(scores.clone(), y.clone()),
                    scores: Some(scores),
                    head_out,
                }
            }
            LocalLoss::Supcon => {
                let c = self.params.contrastive.expect("checked with the loss");
                let z = head_out.clone().unwrap_or(read).flatten();
                Local {
                    loss: supcon(z, y.clone(), c.temperature, c.base_temperature),
                    scores: None,
                    head_out,
                }
            }
            LocalLoss::Sim => {
                let h = head_out.clone().unwrap_or(read);
                let target = label_similarity(y.clone(), self.classes, self.params.sim_target);
                Local {
                    loss: similarity_matching(h, target),
                    scores: None,
                    head_out,
                }
            }
        }
    }

    /// The local loss of stage `i` on `inp` minus the nHSIC term.
    fn stage_objective(
        &self,
        i: usize,
        inp: Repr,
        y: &Tensor<1, Int>,
        global: Option<&Regularized>,
    ) -> Result<Objective> {
        let net = self.trainee.net();
        let t = net.model.forward_stage(i, inp.clone());
        let local = self.local_loss(i, &t, y);
        let value = local.loss.clone().into_scalar::<f32>();
        let m = y.dims()[0];
        let (total, term) = match &self.params.hsic {
            Some(h) if m >= 4 => {
                let z = match (h.apply_to, local.head_out) {
                    (HsicApplyTo::Head, Some(o)) => o.flatten(),
                    _ => net.model.read(t.clone()).flatten(),
                };
                let r = match global {
                    Some(r) => r.clone(),
                    None => reference(net.model.read(inp).flatten(), h)?,
                };
                let (surrogate, v) = nhsic_term(z, &r, h.sigma, h.eps)?;
                (local.loss - surrogate.mul_scalar(h.lambda), Some(v as f32))
            }
            _ => (local.loss, None),
        };
        Ok(Objective {
            total,
            value,
            term,
            scores: local.scores,
            output: t,
        })
    }

    /// Trains the classifier on the detached last representation, when one predicts: the
    /// correct predictions, or `Err(value)` for a non-finite loss.
    fn train_classifier(
        &mut self,
        last: Repr,
        y: &Tensor<1, Int>,
        n: usize,
        lr: f64,
    ) -> std::result::Result<Option<usize>, f32> {
        let scores = {
            let net = self.trainee.net();
            Scores::from_readout(net.readout.as_ref()).detached(&net.model, last)
        };
        let Some(scores) = scores else {
            return Ok(None);
        };
        let ce = cross_entropy(scores.clone(), y.clone());
        let ok = correct_first(scores, y.clone(), n);
        let v = ce.clone().into_scalar::<f32>();
        if !v.is_finite() {
            return Err(v);
        }
        self.trainee.apply(lr, ce.backward());
        Ok(Some(ok))
    }
}

impl<S: Stage> Strategy for Layerwise<S> {
    fn describe(&self) -> String {
        describe(&self.params, self.trainee.net())
    }

    fn phases(&self) -> Vec<Phase> {
        match self.params.schedule {
            Schedule::Simultaneous => Phase::single(self.epochs),
            Schedule::Sequential => {
                Phase::per_stage("stage", &self.trainee.net().model.names, self.epochs)
            }
        }
    }

    fn enter_phase(&mut self, index: usize) -> Result<()> {
        self.phase = index;
        if self.params.schedule == Schedule::Sequential {
            self.trainee.freeze_prefix(index);
        }
        Ok(())
    }

    fn views(&self) -> usize {
        self.params.views()
    }

    fn step(&mut self, batch: TrainBatch, lr: f64) -> Result<StepReport> {
        let n = batch.samples();
        let m = batch.y.dims()[0];
        let range = self.trained();
        let stages = self.num_stages();
        let global = match &self.params.hsic {
            Some(h) if h.reference == HsicReference::Global && m >= 4 => {
                Some(reference(batch.x.clone().flatten::<2>(1, 3), h)?)
            }
            _ => None,
        };
        // Frozen stages before the trained range run without gradients.
        let mut input = Repr::Map(batch.x.clone());
        for i in 0..range.start {
            input = self.trainee.net().model.forward_stage(i, input).detach();
        }
        let mut report = StepReport::default();
        for i in range.clone() {
            let o = self.stage_objective(i, input.clone().detach(), &batch.y, global.as_ref())?;
            if !o.value.is_finite() {
                report.loss = o.value;
                report.stage_losses = vec![o.value];
                report.stage_terms.clear();
                return Ok(report);
            }
            // Only stage i and its head are in this loss's graph, so only they move.
            self.trainee.apply(lr, o.total.backward());
            if i + 1 == stages
                && let Some(s) = o.scores
                && self.trainee.net().model.ends_in_logits()
            {
                report.correct = Some(correct_first(s, batch.y.clone(), n));
            }
            report.stage_losses.push(o.value);
            report.stage_terms.extend(o.term);
            report.loss = o.value;
            input = o.output.detach();
        }
        if range.end == stages {
            match self.train_classifier(input, &batch.y, n, lr) {
                Ok(Some(ok)) => report.correct = Some(ok),
                Ok(None) => {}
                // The loop reports it with the last good checkpoint.
                Err(v) => {
                    report.loss = v;
                    report.correct = None;
                }
            }
        }
        Ok(report)
    }

    fn evaluator(&self) -> Box<dyn Evaluate + '_> {
        let net = self.trainee.net();
        let heads: Vec<Option<Head>> = if self.params.loss == LocalLoss::Ce {
            net.heads.clone()
        } else {
            Vec::new()
        };
        Box::new(StagedEvaluator::new(
            &net.model,
            Scores::from_readout(net.readout.as_ref()),
            &heads,
        ))
    }

    crate::checkpointed_by_trainee!();
}

fn describe<S: Stage>(p: &LayerwiseParams, net: &LayerwiseNet<S>) -> String {
    let heads = match net.heads.iter().flatten().next() {
        Some(h) => format!(
            "{} auxiliary heads ({}-layer)",
            h.kind().as_str(),
            h.kind().layers()
        ),
        None => "no auxiliary heads (identity)".into(),
    };
    let logits_note = if net.model.ends_in_logits() && p.loss == LocalLoss::Ce {
        "; the last stage is trained by its own output"
    } else if net.readout.is_some() || net.model.classifier.is_some() {
        "; test accuracy from a linear classifier trained with cross-entropy on the detached last representation"
    } else {
        ""
    };
    let loss = match (p.loss, p.contrastive) {
        (LocalLoss::Supcon, Some(c)) => format!(
            "local supervised contrastive loss (τ = {}, τ_base = {}) through {heads}",
            c.temperature, c.base_temperature
        ),
        (LocalLoss::Sim, _) => format!(
            "local similarity matching through {heads} (label target {})",
            match p.sim_target {
                SimTarget::OnehotGram => "one-hot Gram Y·Yᵀ",
                SimTarget::Centered => "centered and normalized one-hot",
            }
        ),
        _ => format!("local cross-entropy through {heads}"),
    };
    let term = match &p.hsic {
        None => String::new(),
        Some(h) => format!(
            ", minus λ = {} × nHSIC({}; {}) (σ = {})",
            h.lambda,
            match h.apply_to {
                HsicApplyTo::Stage => "T(i)",
                HsicApplyTo::Head => "head output",
            },
            match h.reference {
                HsicReference::Global => "X",
                HsicReference::Local => "T(i−1)",
            },
            h.sigma
        ),
    };
    format!(
        "layer-wise ({}), {loss}{term}; inputs detached between stages{logits_note}",
        match p.schedule {
            Schedule::Simultaneous => "simultaneous",
            Schedule::Sequential => "sequential, earlier stages frozen",
        }
    )
}
