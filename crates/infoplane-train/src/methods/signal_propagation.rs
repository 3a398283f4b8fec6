//! Signal propagation (Kohan et al. 2023; the paper's table 1 "SP"), as the authors' code
//! builds it: separate input blocks for the data and the label. The data's input block is the
//! model's first stage; the label's is a learned label path (one-hot → linear without bias
//! (C → the size of the first stage's output) → layer norm → ReLU) whose output s₁ is shaped
//! like the first stage's output t₁. From then on the signal travels through the same stages
//! as the data, in separate calls (never one batch-norm batch; the running statistics see
//! both). Every stage is trained by its own loss, inputs detached between stages: from the
//! signal s entering the comparison, targets T = s·sᵀ/√dim — each row's top k set to 1 (hard)
//! or its softmax (soft) — and the loss −(1/n) Σᵢ Σⱼ Tᵢⱼ log softmax(fx·fsᵀ/√dim)ᵢⱼ on the
//! outputs for the data (fx) and the signal (fs). The first comparison is between the two
//! input blocks (targets from s₁), so the label path learns through it. Test accuracy comes
//! from a classifier trained with cross-entropy on the detached last representation.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use infoplane_models::{Block, Head, Repr, Stage, StagedModel};
use serde::{Deserialize, Serialize};

use super::e2e::readout;
use super::{BuildEnv, Method, Params};
use crate::error::{Result, TrainError};
use crate::init::initialize;
use crate::losses::{SpTarget, cross_entropy, sp_loss, sp_targets};
use crate::strategy::{
    Evaluate, Phase, Scores, StagedEvaluator, StepReport, Strategy, TrainBatch, Trainee,
    correct_first,
};

/// Hard (top-k) or soft (softmax) targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpTargets {
    /// Each row's top k set to 1.
    #[default]
    Hard,
    /// Row softmax.
    Soft,
}

fn d_top_k() -> usize {
    6
}

/// The `[strategy]` keys of `kind = "signal-propagation"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpConfig {
    /// Hard or soft targets.
    #[serde(default)]
    pub targets: SpTargets,
    /// k of the hard targets.
    #[serde(default = "d_top_k")]
    pub top_k: usize,
}

impl Default for SpConfig {
    fn default() -> Self {
        SpConfig {
            targets: SpTargets::Hard,
            top_k: d_top_k(),
        }
    }
}

/// Checked parameters of signal propagation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpParams {
    /// The target rule.
    pub target: SpTarget,
}

impl Method for SpConfig {
    const KIND: &'static str = "signal-propagation";
    const ABOUT: &'static str = "layer-wise signal propagation: a learned label signal sent through the stages, hard (top-k) or soft targets, no heads";
    const PAPER: &'static str = "table 1";
    const KEYS: &'static [(&'static str, &'static str)] = &[
        ("targets", "hard | soft"),
        ("top_k", "ones per row of the hard targets"),
    ];
    type Params = SpParams;

    fn label(&self) -> String {
        format!(
            "layerwise-sp-{}",
            match self.targets {
                SpTargets::Hard => "hard",
                SpTargets::Soft => "soft",
            }
        )
    }

    fn check(&self) -> Result<SpParams> {
        Ok(SpParams {
            target: match self.targets {
                SpTargets::Hard if self.top_k == 0 => {
                    return Err(TrainError::value("strategy.top_k", "must be at least 1"));
                }
                SpTargets::Hard => SpTarget::Hard(self.top_k),
                SpTargets::Soft => SpTarget::Soft,
            },
        })
    }
}

impl Params for SpParams {
    /// Hard targets set the k largest of each row of a batch's n × n similarity to 1: with
    /// k ≥ n every entry is 1 and the target says nothing.
    fn check_batch(&self, batch_size: usize) -> Result<()> {
        match self.target {
            SpTarget::Hard(k) if k >= batch_size => Err(TrainError::value(
                "strategy.top_k",
                format!(
                    "{k} ones per row of a {batch_size} x {batch_size} target would make every entry 1; it must be below batch_size ({batch_size})"
                ),
            )),
            _ => Ok(()),
        }
    }

    fn label(&self) -> String {
        match self.target {
            SpTarget::Hard(_) => "layerwise-sp-hard".into(),
            SpTarget::Soft => "layerwise-sp-soft".into(),
        }
    }

    fn build(&self, model: StagedModel<Block>, env: &BuildEnv<'_>) -> Result<Box<dyn Strategy>> {
        Ok(Box::new(self.init(model, env)?))
    }
}

/// The label's input block: one-hot → linear (no bias, C → the size of `shape`) → layer norm
/// → ReLU, shaped like the first stage's output.
#[derive(Module, Debug)]
pub struct LabelPath {
    /// The embedding C → c·h·w.
    pub embed: Linear,
    /// Layer norm over the c·h·w values.
    pub norm: LayerNorm,
    /// The per-sample shape of the signal (the first stage's output).
    pub shape: Vec<usize>,
    /// Classes.
    pub classes: usize,
}

impl LabelPath {
    /// A label path for inputs of `shape` and `classes` classes.
    pub fn new(classes: usize, shape: &[usize], device: &Device) -> Self {
        let d = shape.iter().product();
        LabelPath {
            embed: LinearConfig::new(classes, d).with_bias(false).init(device),
            norm: LayerNormConfig::new(d).init(device),
            shape: shape.to_vec(),
            classes,
        }
    }

    /// The signal of each label: `[n]` → a representation of the per-sample `shape`.
    pub fn forward(&self, labels: Tensor<1, Int>) -> Repr {
        let n = labels.dims()[0];
        let device = labels.device();
        let idx: Vec<i64> = labels.try_into_vec_as::<i64>().expect("integer labels");
        let mut onehot = vec![0f32; n * self.classes];
        for (i, &c) in idx.iter().enumerate() {
            onehot[i * self.classes + c as usize] = 1.0;
        }
        let y = Tensor::<2>::from_data(TensorData::new(onehot, [n, self.classes]), &device);
        let s = relu(self.norm.forward(self.embed.forward(y)));
        match self.shape.as_slice() {
            [c, h, w] => Repr::Map(s.reshape([n, *c, *h, *w])),
            [t, d] => Repr::Tokens(s.reshape([n, *t, *d])),
            _ => Repr::Flat(s),
        }
    }
}

/// What signal propagation trains: the model, the label path and, when the model ends in
/// class scores, a readout classifier.
#[derive(Module, Debug)]
pub struct SpNet<S: Stage> {
    /// The staged model.
    pub model: StagedModel<S>,
    /// A linear classifier on the detached last representation.
    pub readout: Option<Head>,
    /// The label path.
    pub label_path: LabelPath,
}

crate::has_model!(SpNet);

impl SpParams {
    /// The strategy over any staged model.
    pub fn init<S: Stage>(
        &self,
        model: StagedModel<S>,
        env: &BuildEnv<'_>,
    ) -> Result<SignalPropagation<S>> {
        let readout = readout(&model, env)?;
        let first = model
            .output_shapes(env.device)
            .into_iter()
            .next()
            .unwrap_or_default();
        let label_path = LabelPath::new(env.classes, &first, env.device);
        let net = SpNet {
            model,
            readout,
            label_path,
        };
        let (net, _) = initialize(net, env.seed, "network");
        Ok(SignalPropagation::new(
            Trainee::new(net, env.optim.optimizer()),
            *self,
            env.epochs,
        ))
    }
}

/// Signal-propagation training of an [`SpNet`].
#[derive(Debug)]
pub struct SignalPropagation<S: Stage = Block> {
    trainee: Trainee<SpNet<S>>,
    params: SpParams,
    epochs: usize,
}

impl<S: Stage> SignalPropagation<S> {
    /// The strategy over a network and its optimizer.
    pub fn new(trainee: Trainee<SpNet<S>>, params: SpParams, epochs: usize) -> Self {
        SignalPropagation {
            trainee,
            params,
            epochs,
        }
    }

    /// The network and optimizer.
    pub fn trainee(&self) -> &Trainee<SpNet<S>> {
        &self.trainee
    }

    /// The comparison of a data output `t` with a signal output `ts`, targets from `s_in`.
    fn compare(&self, t: &Repr, ts: &Repr, s_in: &Repr) -> Tensor<1> {
        let net = self.trainee.net();
        let targets = sp_targets(s_in.clone().flatten(), self.params.target);
        let fx = net.model.read(t.clone()).flatten();
        let fs = net.model.read(ts.clone()).flatten();
        sp_loss(fx, fs, targets)
    }
}

impl<S: Stage> Strategy for SignalPropagation<S> {
    fn describe(&self) -> String {
        format!(
            "layer-wise signal propagation, {}; separate input blocks for the data (the first stage) and the label (a learned label path), then data and signal through each stage in separate calls, inputs detached between stages; test accuracy from a linear classifier trained with cross-entropy on the detached last representation",
            match self.params.target {
                SpTarget::Hard(k) => format!("hard top-{k} targets"),
                SpTarget::Soft => "soft (softmax) targets".into(),
            }
        )
    }

    fn phases(&self) -> Vec<Phase> {
        Phase::single(self.epochs)
    }

    fn step(&mut self, batch: TrainBatch, lr: f64) -> Result<StepReport> {
        let n = batch.samples();
        let mut report = StepReport::default();
        let stages = self.trainee.net().model.num_stages();
        let (mut input, mut signal) = (Repr::Map(batch.x.clone()), None::<Repr>);
        for i in 0..stages {
            // Data and signal through the stage in separate calls, inputs detached.
            let (loss, t, ts) = {
                let net = self.trainee.net();
                let t = net.model.forward_stage(i, input.detach());
                let ts = match &signal {
                    None => net.label_path.forward(batch.y.clone()),
                    Some(s) => net.model.forward_stage(i, s.clone().detach()),
                };
                // Targets from the signal entering the comparison (the label block's own
                // output at the first one).
                let s_in = signal.clone().unwrap_or_else(|| ts.clone().detach());
                (self.compare(&t, &ts, &s_in), t, ts)
            };
            let value = loss.clone().into_scalar::<f32>();
            if !value.is_finite() {
                report.loss = value;
                report.stage_losses = vec![value];
                return Ok(report);
            }
            self.trainee.apply(lr, loss.backward());
            report.stage_losses.push(value);
            report.loss = value;
            input = t.detach();
            signal = Some(ts.detach());
        }
        let scores = {
            let net = self.trainee.net();
            Scores::from_readout(net.readout.as_ref()).detached(&net.model, input)
        };
        if let Some(scores) = scores {
            let ce = cross_entropy(scores.clone(), batch.y.clone());
            let ok = correct_first(scores, batch.y, n);
            let v = ce.clone().into_scalar::<f32>();
            if !v.is_finite() {
                report.loss = v;
                return Ok(report);
            }
            self.trainee.apply(lr, ce.backward());
            report.correct = Some(ok);
        }
        Ok(report)
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
