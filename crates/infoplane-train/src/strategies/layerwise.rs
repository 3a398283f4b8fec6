//! Layer-wise training (REFERENCE.md; appendix B): every stage sees a detached input and is
//! trained by its own local loss — cross-entropy or supervised contrastive through an auxiliary
//! head, similarity matching, or signal propagation — optionally minus λ·nHSIC (section 4.4).
//!
//! Simultaneous: one forward pass per batch; stage i's loss is backpropagated and stepped as
//! soon as it exists, and its graph dropped, so at most one stage's activations are held for
//! backpropagation at a time (the memory advantage of local learning). Because the stages'
//! parameters are disjoint and inputs are detached, updating stage i before running stage i+1
//! on the already computed output is the same as one joint update.
//!
//! Sequential: one phase per stage; in phase i stage i (and its head) trains for the phase's
//! epochs while stages < i are frozen and in evaluation mode.
//!
//! Test accuracy: a model ending in class scores under cross-entropy is read at its last
//! stage; otherwise a linear classifier (the model's own, or a readout added for the purpose)
//! is trained with cross-entropy on the detached last representation — in every phase of a
//! simultaneous run, in the last phase of a sequential one.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Int, Tensor};
use infoplane_hsic::{Kernel, KernelKind, Regularized};
use infoplane_models::{Block, Repr, Stage};

use super::{Evaluate, NetworkEvaluator, Phase, StepReport, Strategy, TrainBatch, Trainee};
use crate::config::{HsicApplyTo, HsicReference, HsicTermConfig, Schedule};
use crate::error::Result;
use crate::losses::{
    SimTarget, SpTarget, cross_entropy, label_similarity, nhsic_term, similarity_matching, sp_loss,
    sp_targets, supcon,
};
use crate::network::{Network, correct};

/// The local loss of every stage.
#[derive(Debug, Clone, PartialEq)]
pub enum LocalObjective {
    /// Cross-entropy through a classifier head (the logits stage: its own output).
    CrossEntropy,
    /// Supervised contrastive through an embedding head (two views).
    SupCon {
        /// Temperature τ.
        temperature: f64,
        /// Base temperature.
        base_temperature: f64,
    },
    /// Similarity matching through a similarity head.
    Similarity {
        /// The label target convention.
        target: SimTarget,
        /// Number of classes.
        classes: usize,
    },
    /// Signal propagation (the network holds a label path; heads are identity).
    SignalPropagation(SpTarget),
}

/// What a layer-wise strategy optimizes and when.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerwiseSpec {
    /// The local loss.
    pub objective: LocalObjective,
    /// Simultaneous or sequential.
    pub schedule: Schedule,
    /// Epochs (per phase).
    pub epochs: usize,
    /// The nHSIC augmenting term.
    pub hsic: Option<HsicTermConfig>,
}

/// Layer-wise training of a [`Network`] whose heads (and label path) match the objective.
#[derive(Debug)]
pub struct Layerwise<S: Stage + Module = Block> {
    trainee: Trainee<S>,
    spec: LayerwiseSpec,
    phase: usize,
}

impl<S: Stage + Module> Layerwise<S> {
    /// The strategy over a network and its optimizer.
    pub fn new(trainee: Trainee<S>, spec: LayerwiseSpec) -> Self {
        Layerwise {
            trainee,
            spec,
            phase: 0,
        }
    }

    /// The network and optimizer.
    pub fn trainee(&self) -> &Trainee<S> {
        &self.trainee
    }

    fn num_stages(&self) -> usize {
        self.trainee.net().model.num_stages()
    }

    /// The stages trained in the current phase.
    fn trained(&self) -> std::ops::Range<usize> {
        match self.spec.schedule {
            Schedule::Simultaneous => 0..self.num_stages(),
            Schedule::Sequential => self.phase..self.phase + 1,
        }
    }
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

/// The local loss of stage `i` whose output is `t` (for signal propagation: the data part
/// `t`, the signal part `ts`, and the signal `s_in` that entered the stage).
struct StageInput<'a> {
    t: Repr,
    signal: Option<(Repr, Repr)>,
    y: &'a Tensor<1, Int>,
    n: usize,
}

impl<S: Stage + Module> Layerwise<S> {
    fn local_loss(
        &self,
        net: &Network<S>,
        i: usize,
        inp: StageInput<'_>,
    ) -> (Tensor<1>, Option<Tensor<2>>, Option<Repr>) {
        let read = net.model.read(inp.t.clone());
        let head_out = net.heads[i].as_ref().map(|h| h.forward(read.clone()));
        match &self.spec.objective {
            LocalObjective::CrossEntropy => {
                let scores = match &head_out {
                    Some(h) => h.clone().flatten(),
                    None => inp.t.flatten(),
                };
                (
                    cross_entropy(scores.clone(), inp.y.clone()),
                    Some(scores),
                    head_out,
                )
            }
            LocalObjective::SupCon {
                temperature,
                base_temperature,
            } => {
                let z = head_out.clone().unwrap_or(read).flatten();
                (
                    supcon(z, inp.y.clone(), *temperature, *base_temperature),
                    None,
                    head_out,
                )
            }
            LocalObjective::Similarity { target, classes } => {
                let h = head_out.clone().unwrap_or(read);
                let target = label_similarity(inp.y.clone(), *classes, *target);
                (similarity_matching(h, target), None, head_out)
            }
            LocalObjective::SignalPropagation(kind) => {
                let (ts, s_in) = inp.signal.expect("signal propagation sends a signal");
                let targets = sp_targets(s_in.flatten(), *kind);
                let fx = read.flatten();
                let fs = net.model.read(ts).flatten();
                let _ = inp.n;
                (sp_loss(fx, fs, targets), None, head_out)
            }
        }
    }
}

impl<S: Stage + Module> Strategy for Layerwise<S> {
    fn describe(&self) -> String {
        let net = self.trainee.net();
        let heads = match net.heads.iter().flatten().next() {
            Some(h) => format!(
                "{} auxiliary heads ({}-layer)",
                h.kind().as_str(),
                h.kind().layers()
            ),
            None => "no auxiliary heads (identity)".into(),
        };
        let logits_note = if net.model.ends_in_logits()
            && self.spec.objective == LocalObjective::CrossEntropy
        {
            "; the last stage is trained by its own output"
        } else if net.readout.is_some() || net.model.classifier.is_some() {
            "; test accuracy from a linear classifier trained with cross-entropy on the detached last representation"
        } else {
            ""
        };
        let loss = match &self.spec.objective {
            LocalObjective::CrossEntropy => format!("local cross-entropy through {heads}"),
            LocalObjective::SupCon {
                temperature,
                base_temperature,
            } => format!(
                "local supervised contrastive loss (τ = {temperature}, τ_base = {base_temperature}) through {heads}"
            ),
            LocalObjective::Similarity { target, .. } => format!(
                "local similarity matching through {heads} (label target {})",
                match target {
                    SimTarget::OnehotGram => "one-hot Gram Y·Yᵀ",
                    SimTarget::Centered => "centered and normalized one-hot",
                }
            ),
            LocalObjective::SignalPropagation(SpTarget::Hard(k)) => {
                format!("signal propagation, hard top-{k} targets")
            }
            LocalObjective::SignalPropagation(SpTarget::Soft) => {
                "signal propagation, soft (softmax) targets".into()
            }
        };
        let term = match &self.spec.hsic {
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
            match self.spec.schedule {
                Schedule::Simultaneous => "simultaneous",
                Schedule::Sequential => "sequential, earlier stages frozen in evaluation mode",
            }
        )
    }

    fn phases(&self) -> Vec<Phase> {
        match self.spec.schedule {
            Schedule::Simultaneous => vec![Phase {
                name: "train".into(),
                epochs: self.spec.epochs,
            }],
            Schedule::Sequential => self
                .trainee
                .net()
                .model
                .names
                .iter()
                .map(|n| Phase {
                    name: format!("stage {n}"),
                    epochs: self.spec.epochs,
                })
                .collect(),
        }
    }

    fn enter_phase(&mut self, index: usize) -> Result<()> {
        self.phase = index;
        if self.spec.schedule == Schedule::Sequential {
            self.trainee.update(|mut net| {
                net.model.stages = net
                    .model
                    .stages
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| if i < index { s.freeze() } else { s })
                    .collect();
                net
            });
        }
        Ok(())
    }

    fn views(&self) -> usize {
        match self.spec.objective {
            LocalObjective::SupCon { .. } => 2,
            _ => 1,
        }
    }

    fn step(&mut self, batch: TrainBatch, lr: f64) -> Result<StepReport> {
        let n = batch.samples();
        let m = batch.y.dims()[0];
        let range = self.trained();
        let stages = self.num_stages();
        let sp = matches!(self.spec.objective, LocalObjective::SignalPropagation(_));
        let x_flat = batch.x.clone().flatten::<2>(1, 3);
        let global_ref = match &self.spec.hsic {
            Some(h) if h.reference == HsicReference::Global && m >= 4 => {
                Some(reference(x_flat.clone(), h)?)
            }
            _ => None,
        };
        // Frozen stages before the trained range run without gradients.
        let (mut input, mut signal) = {
            let net = self.trainee.net();
            let s = net
                .label_path
                .as_ref()
                .filter(|_| sp)
                .map(|lp| Repr::Map(lp.forward(batch.y.clone())));
            let mut input = Repr::Map(batch.x.clone());
            let mut signal = s;
            for i in 0..range.start {
                input = net.model.forward_stage(i, input).detach();
                signal = signal.map(|s| net.model.forward_stage(i, s).detach());
            }
            (input, signal)
        };
        let mut losses = Vec::with_capacity(range.len());
        let mut terms = Vec::new();
        let mut ok = None;
        let mut last_value = 0.0;
        for i in range.clone() {
            let (total, value, term, scores, out) = {
                let net = self.trainee.net();
                let inp = input.clone().detach();
                // Signal propagation: data and label signal through the stage in one batch
                // (batch norm sees both, as in the authors' code). The label path learns
                // through the first stage only.
                let (t, ts, s_in) = match &signal {
                    Some(s) => {
                        let s_in = if i == 0 {
                            s.clone()
                        } else {
                            s.clone().detach()
                        };
                        let both = net
                            .model
                            .forward_stage(i, Repr::cat(vec![inp.clone(), s_in.clone()]));
                        let k = both.batch() - m;
                        (
                            both.clone().narrow(0, m),
                            Some(both.narrow(m, k)),
                            Some(s_in),
                        )
                    }
                    None => (net.model.forward_stage(i, inp.clone()), None, None),
                };
                let (loss, scores, head_out) = self.local_loss(
                    net,
                    i,
                    StageInput {
                        t: t.clone(),
                        signal: ts.clone().zip(s_in),
                        y: &batch.y,
                        n,
                    },
                );
                let value = loss.clone().into_scalar::<f32>();
                let (total, term) = match &self.spec.hsic {
                    Some(h) if m >= 4 => {
                        let z = match (h.apply_to, head_out) {
                            (HsicApplyTo::Head, Some(o)) => o.flatten(),
                            _ => net.model.read(t.clone()).flatten(),
                        };
                        let r = match &global_ref {
                            Some(r) => r.clone(),
                            None => reference(net.model.read(inp).flatten(), h)?,
                        };
                        let (surrogate, v) = nhsic_term(z, &r, h.sigma, h.eps)?;
                        (loss - surrogate.mul_scalar(h.lambda), Some(v as f32))
                    }
                    _ => (loss, None),
                };
                (total, value, term, scores, (t, ts))
            };
            if !value.is_finite() {
                return Ok(StepReport {
                    loss: value,
                    stage_losses: vec![value],
                    correct: None,
                    stage_terms: Vec::new(),
                });
            }
            // Only stage i, its head (and, at the first stage, the label path) are in this
            // loss's graph, so only they receive gradients.
            self.trainee.apply(lr, total.backward());
            if i + 1 == stages
                && let Some(s) = scores
                && self.trainee.net().model.ends_in_logits()
            {
                ok = Some(correct(
                    s.detach().narrow(0, 0, n),
                    batch.y.clone().narrow(0, 0, n),
                ));
            }
            losses.push(value);
            if let Some(v) = term {
                terms.push(v);
            }
            last_value = value;
            input = out.0.detach();
            signal = out.1.map(Repr::detach);
        }
        // The classifier on the detached last representation, when one predicts.
        let last_phase = range.end == stages;
        let classifier_loss = if last_phase {
            let net = self.trainee.net();
            net.detached_scores(input.clone()).map(|scores| {
                let ce = cross_entropy(scores.clone(), batch.y.clone());
                ok = Some(correct(
                    scores.detach().narrow(0, 0, n),
                    batch.y.clone().narrow(0, 0, n),
                ));
                ce
            })
        } else {
            None
        };
        if let Some(ce) = classifier_loss {
            let v = ce.clone().into_scalar::<f32>();
            if !v.is_finite() {
                // The loop reports it with the last good checkpoint.
                return Ok(StepReport {
                    loss: v,
                    stage_losses: losses,
                    correct: None,
                    stage_terms: terms,
                });
            }
            self.trainee.apply(lr, ce.backward());
        }
        Ok(StepReport {
            loss: last_value,
            stage_losses: losses,
            correct: ok,
            stage_terms: terms,
        })
    }

    fn evaluator(&self) -> Box<dyn Evaluate + '_> {
        Box::new(NetworkEvaluator::new(
            self.trainee.net(),
            self.spec.objective == LocalObjective::CrossEntropy,
        ))
    }

    fn save(&self, dir: &Path) -> Result<()> {
        self.trainee.save(dir)
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        self.trainee.load(dir)
    }

    fn num_params(&self) -> usize {
        infoplane_models::count_parameters(self.trainee.net())
    }
}
