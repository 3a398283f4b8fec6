//! End-to-end training: one loss on the last representation, backpropagated through every
//! stage. Cross-entropy on the class scores; or a contrastive loss (supervised contrastive,
//! SimCLR's NT-Xent) on a projection of the last representation, with a linear classifier
//! trained by cross-entropy on the detached representation giving test accuracy, as the paper
//! does (figure 10). Retraining after layer k (table 2) is this strategy with the first k
//! stages frozen.

use std::path::Path;

use burn::module::Module;
use infoplane_models::{Block, Repr, Stage};

use super::{Evaluate, NetworkEvaluator, Phase, StepReport, Strategy, TrainBatch, Trainee};
use crate::config::E2eLoss;
use crate::error::Result;
use crate::losses::{cross_entropy, nt_xent, supcon};
use crate::network::correct;

/// What an end-to-end strategy optimizes.
#[derive(Debug, Clone, PartialEq)]
pub struct EndToEndSpec {
    /// The loss.
    pub loss: E2eLoss,
    /// Contrastive temperature.
    pub temperature: f64,
    /// Contrastive base temperature.
    pub base_temperature: f64,
    /// Epochs.
    pub epochs: usize,
    /// Leading stages kept frozen (in evaluation mode, no gradients): retraining.
    pub frozen_prefix: usize,
}

/// E2E training of a [`crate::network::Network`]. For contrastive losses the network needs a
/// projection head and, when the model ends in class scores, a readout classifier.
#[derive(Debug)]
pub struct EndToEnd<S: Stage + Module = Block> {
    trainee: Trainee<S>,
    spec: EndToEndSpec,
}

impl<S: Stage + Module> EndToEnd<S> {
    /// The strategy over a network and its optimizer.
    pub fn new(trainee: Trainee<S>, spec: EndToEndSpec) -> Self {
        EndToEnd { trainee, spec }
    }

    /// The network and optimizer.
    pub fn trainee(&self) -> &Trainee<S> {
        &self.trainee
    }
}

impl<S: Stage + Module> Strategy for EndToEnd<S> {
    fn describe(&self) -> String {
        let loss = match self.spec.loss {
            E2eLoss::Ce => "cross-entropy on the class scores".to_string(),
            E2eLoss::Supcon => format!(
                "supervised contrastive loss (τ = {}, τ_base = {}) on a projection of the last representation; test accuracy from a linear classifier trained with cross-entropy on the detached representation",
                self.spec.temperature, self.spec.base_temperature
            ),
            E2eLoss::Simclr => format!(
                "SimCLR NT-Xent loss (τ = {}, τ_base = {}) on a projection of the last representation; test accuracy from a linear classifier trained with cross-entropy on the detached representation",
                self.spec.temperature, self.spec.base_temperature
            ),
        };
        if self.spec.frozen_prefix > 0 {
            format!(
                "E2E with the first {} stages frozen (retraining), {loss}",
                self.spec.frozen_prefix
            )
        } else {
            format!("E2E, {loss}")
        }
    }

    fn phases(&self) -> Vec<Phase> {
        vec![Phase {
            name: "train".into(),
            epochs: self.spec.epochs,
        }]
    }

    fn enter_phase(&mut self, _index: usize) -> Result<()> {
        let k = self.spec.frozen_prefix;
        if k > 0 {
            self.trainee.update(|mut net| {
                net.model.stages = net
                    .model
                    .stages
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| if i < k { s.freeze() } else { s })
                    .collect();
                net
            });
        }
        Ok(())
    }

    fn views(&self) -> usize {
        if self.spec.loss == E2eLoss::Ce { 1 } else { 2 }
    }

    fn step(&mut self, batch: TrainBatch, lr: f64) -> Result<StepReport> {
        let n = batch.samples();
        let (loss, value, ok) = {
            let net = self.trainee.net();
            let last = net
                .model
                .stages
                .iter()
                .fold(Repr::Map(batch.x), |t, s| s.forward(t));
            match self.spec.loss {
                E2eLoss::Ce => {
                    let scores = net.model.logits(last);
                    let loss = cross_entropy(scores.clone(), batch.y.clone());
                    let ok = correct(scores.detach(), batch.y);
                    let v = loss.clone().into_scalar::<f32>();
                    (loss, v, ok)
                }
                E2eLoss::Supcon | E2eLoss::Simclr => {
                    let projection = net
                        .projection
                        .as_ref()
                        .expect("contrastive E2E builds a projection head");
                    let z = projection.forward(net.model.read(last.clone())).flatten();
                    let c = if self.spec.loss == E2eLoss::Supcon {
                        supcon(
                            z,
                            batch.y.clone(),
                            self.spec.temperature,
                            self.spec.base_temperature,
                        )
                    } else {
                        nt_xent(z, self.spec.temperature, self.spec.base_temperature)
                    };
                    let scores = net
                        .detached_scores(last)
                        .expect("contrastive E2E builds a classifier");
                    let ce = cross_entropy(scores.clone(), batch.y.clone());
                    let ok = correct(scores.detach().narrow(0, 0, n), batch.y.narrow(0, 0, n));
                    let v = c.clone().into_scalar::<f32>();
                    (c + ce, v, ok)
                }
            }
        };
        self.trainee.apply(lr, loss.backward());
        Ok(StepReport {
            loss: value,
            stage_losses: Vec::new(),
            correct: Some(ok),
            stage_terms: Vec::new(),
        })
    }

    fn evaluator(&self) -> Box<dyn Evaluate + '_> {
        Box::new(NetworkEvaluator::new(self.trainee.net(), false))
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
