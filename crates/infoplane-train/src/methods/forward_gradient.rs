//! End-to-end training by forward gradients (Baydin et al. 2022; the paper's appendix F.4.2,
//! figure 11): one forward pass computes the loss f and its directional derivative ∇f·v along
//! a random tangent v ~ N(0, I) over all parameters ([`crate::jvp`]), and the update uses
//! g = (∇f·v)·v — an unbiased estimate of ∇f — with no backward pass. `tangents` > 1 averages
//! that many independent estimates per step. Tangents are drawn from burn's generator, which
//! the loop seeds at every step.
//!
//! Supported stages: convolution blocks and fully connected blocks without batch norm or
//! dropout (LeNet5 and the MLP), with no classifier after the last stage.

use burn::module::{Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Tensor};
use infoplane_models::{Block, StagedModel};
use serde::{Deserialize, Serialize};

use super::e2e::E2eNet;
use super::{BuildEnv, Method, Params};
use crate::error::{Result, TrainError};
use crate::init::initialize;
use crate::jvp::{self, Dual};
use crate::strategy::{
    Evaluate, Phase, Scores, StagedEvaluator, StepReport, Strategy, TrainBatch, Trainee,
};

fn d_one() -> usize {
    1
}

/// The `[strategy]` keys of `kind = "forward-gradient"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FgConfig {
    /// Random tangents per step whose estimates are averaged.
    #[serde(default = "d_one")]
    pub tangents: usize,
}

impl Default for FgConfig {
    fn default() -> Self {
        FgConfig { tangents: 1 }
    }
}

/// Checked parameters of forward-gradient training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FgParams {
    /// Tangents per step.
    pub tangents: usize,
}

impl Method for FgConfig {
    const KIND: &'static str = "forward-gradient";
    const ABOUT: &'static str = "E2E by forward gradients (Baydin et al.): a directional derivative per step by forward-mode rules, no backpropagation (LeNet5, MLP)";
    const PAPER: &'static str = "figure 11";
    const KEYS: &'static [(&'static str, &'static str)] = &[(
        "tangents",
        "random tangents per step, their estimates averaged",
    )];
    type Params = FgParams;

    fn label(&self) -> String {
        "forward-gradient".into()
    }

    fn check(&self) -> Result<FgParams> {
        if self.tangents == 0 {
            return Err(TrainError::value("strategy.tangents", "must be at least 1"));
        }
        Ok(FgParams {
            tangents: self.tangents,
        })
    }
}

impl Params for FgParams {
    fn label(&self) -> String {
        "forward-gradient".into()
    }

    fn build(&self, model: StagedModel<Block>, env: &BuildEnv<'_>) -> Result<Box<dyn Strategy>> {
        Ok(Box::new(self.init(model, env)?))
    }
}

impl FgParams {
    /// The strategy over LeNet5 or the MLP (stages with forward-mode rules).
    pub fn init(&self, model: StagedModel<Block>, env: &BuildEnv<'_>) -> Result<ForwardGradient> {
        check_supported(&model)?;
        let net = E2eNet {
            model,
            projection: None,
            readout: None,
        };
        let (net, _) = initialize(net, env.seed, "network");
        Ok(ForwardGradient {
            trainee: Trainee::new(net, env.optim.optimizer()),
            tangents: self.tangents,
            epochs: env.epochs,
        })
    }
}

/// A parameter with its tangent.
enum Tangent {
    W4(ParamId, Dual<4>),
    W2(ParamId, Dual<2>),
    B(ParamId, Dual<1>),
}

fn dual<const D: usize>(p: &Param<Tensor<D>>, device: &Device) -> Dual<D> {
    let v = p.val().without_autodiff();
    let t = Tensor::<D>::random(v.shape(), Distribution::Normal(0.0, 1.0), device);
    Dual { p: v, t }
}

/// Checks that forward-mode rules exist for every stage of `model`.
pub fn check_supported(model: &StagedModel) -> Result<()> {
    let bad = |why: &str| {
        TrainError::value(
            "model.arch",
            format!(
                "forward gradient supports LeNet5 and the MLP without batch norm or dropout: {why}"
            ),
        )
    };
    if model.classifier.is_some() {
        return Err(bad("this model has a classifier after its last stage"));
    }
    for s in &model.stages {
        match s {
            Block::Conv(c) if c.conv.bn.is_none() && c.dropout.is_none() => {}
            Block::Dense(d) if d.bn.is_none() && d.dropout.is_none() => {}
            _ => {
                return Err(bad(
                    "a stage has batch norm, dropout, or no forward-mode rule",
                ));
            }
        }
    }
    Ok(())
}

/// The loss, its directional derivative along fresh tangents, and the tangents.
fn forward_dual(
    model: &StagedModel,
    x: Tensor<4>,
    y: burn::tensor::Tensor<1, burn::tensor::Int>,
    device: &Device,
) -> (f32, f32, Vec<Tangent>) {
    enum R {
        Map(Dual<4>),
        Flat(Dual<2>),
    }
    let mut tangents = Vec::new();
    let mut r = R::Map(Dual::constant(x));
    for s in &model.stages {
        r = match (s, r) {
            (Block::Conv(c), R::Map(m)) => {
                let conv = &c.conv.conv;
                let w = dual(&conv.weight, device);
                let b = conv.bias.as_ref().map(|b| dual(b, device));
                let [_, _, h, wd] = m.p.dims();
                let mut o = jvp::relu(jvp::conv(m, &w, b.as_ref(), jvp::conv_options(conv, h, wd)));
                if let Some(p) = &c.pool {
                    o = jvp::max_pool(o, p);
                }
                tangents.push(Tangent::W4(conv.weight.id, w));
                if let (Some(bp), Some(b)) = (&conv.bias, b) {
                    tangents.push(Tangent::B(bp.id, b));
                }
                R::Map(o)
            }
            (Block::Dense(d), r) => {
                let x = match r {
                    R::Map(m) => jvp::flatten(m),
                    R::Flat(f) => f,
                };
                let w = dual(&d.linear.weight, device);
                let b = d.linear.bias.as_ref().map(|b| dual(b, device));
                let mut o = jvp::linear(x, &w, b.as_ref());
                if d.relu {
                    o = jvp::relu(o);
                }
                tangents.push(Tangent::W2(d.linear.weight.id, w));
                if let (Some(bp), Some(b)) = (&d.linear.bias, b) {
                    tangents.push(Tangent::B(bp.id, b));
                }
                R::Flat(o)
            }
            (Block::Conv(_), R::Flat(_)) => unreachable!("checked: convolutions take maps"),
            _ => unreachable!("checked: only convolution and dense stages"),
        };
    }
    let logits = match r {
        R::Flat(f) => f,
        R::Map(m) => jvp::flatten(m),
    };
    let (loss, dloss) = jvp::cross_entropy(logits, y);
    (
        loss.into_scalar::<f32>(),
        dloss.into_scalar::<f32>(),
        tangents,
    )
}

/// The loss of `model` on (`x`, `y`), its directional derivative ∇f·v along fresh random
/// tangents v (drawn from burn's generator on `x`'s device), and the tangents by parameter.
pub fn directional_derivative(
    model: &StagedModel,
    x: Tensor<4>,
    y: burn::tensor::Tensor<1, burn::tensor::Int>,
) -> (f32, f32, Vec<(ParamId, Vec<f32>)>) {
    let device = x.device().without_autodiff();
    let (l, d, vs) = forward_dual(model, x.without_autodiff(), y.without_autodiff(), &device);
    let flat = vs
        .into_iter()
        .map(|v| match v {
            Tangent::W4(id, t) => (id, t.t.try_into_vec_as::<f32>().expect("float")),
            Tangent::W2(id, t) => (id, t.t.try_into_vec_as::<f32>().expect("float")),
            Tangent::B(id, t) => (id, t.t.try_into_vec_as::<f32>().expect("float")),
        })
        .collect();
    (l, d, flat)
}

/// One forward-gradient estimate of every parameter's gradient (averaged over `tangents`
/// tangents) and the loss: what a step applies.
pub fn forward_gradient(
    model: &StagedModel,
    x: Tensor<4>,
    y: burn::tensor::Tensor<1, burn::tensor::Int>,
    tangents: usize,
) -> (f32, GradientsParams) {
    let device = x.device().without_autodiff();
    let x = x.without_autodiff();
    let y = y.without_autodiff();
    let mut sums: Vec<Tangent> = Vec::new();
    let mut loss = 0.0;
    for k in 0..tangents {
        let (l, d, vs) = forward_dual(model, x.clone(), y.clone(), &device);
        loss = l;
        let scaled = vs.into_iter().map(|v| match v {
            Tangent::W4(id, t) => Tangent::W4(
                id,
                Dual {
                    p: t.p,
                    t: t.t.mul_scalar(d),
                },
            ),
            Tangent::W2(id, t) => Tangent::W2(
                id,
                Dual {
                    p: t.p,
                    t: t.t.mul_scalar(d),
                },
            ),
            Tangent::B(id, t) => Tangent::B(
                id,
                Dual {
                    p: t.p,
                    t: t.t.mul_scalar(d),
                },
            ),
        });
        if k == 0 {
            sums = scaled.collect();
        } else {
            sums = sums
                .into_iter()
                .zip(scaled)
                .map(|(a, b)| match (a, b) {
                    (Tangent::W4(id, a), Tangent::W4(_, b)) => Tangent::W4(
                        id,
                        Dual {
                            p: a.p,
                            t: a.t + b.t,
                        },
                    ),
                    (Tangent::W2(id, a), Tangent::W2(_, b)) => Tangent::W2(
                        id,
                        Dual {
                            p: a.p,
                            t: a.t + b.t,
                        },
                    ),
                    (Tangent::B(id, a), Tangent::B(_, b)) => Tangent::B(
                        id,
                        Dual {
                            p: a.p,
                            t: a.t + b.t,
                        },
                    ),
                    _ => unreachable!("the same parameters in the same order"),
                })
                .collect();
        }
    }
    let scale = 1.0 / tangents as f64;
    let mut grads = GradientsParams::new();
    for s in sums {
        match s {
            Tangent::W4(id, g) => grads.register(id, g.t.mul_scalar(scale)),
            Tangent::W2(id, g) => grads.register(id, g.t.mul_scalar(scale)),
            Tangent::B(id, g) => grads.register(id, g.t.mul_scalar(scale)),
        }
    }
    (loss, grads)
}

/// E2E training by forward gradients.
#[derive(Debug)]
pub struct ForwardGradient {
    trainee: Trainee<E2eNet<Block>>,
    tangents: usize,
    epochs: usize,
}

impl Strategy for ForwardGradient {
    fn describe(&self) -> String {
        format!(
            "E2E by forward gradients (Baydin et al. 2022): the directional derivative of the cross-entropy along {} random tangent{} v ~ N(0, I) per step, computed by forward-mode differentiation in the same pass, and the update g = (∇f·v)v; no backward pass",
            self.tangents,
            if self.tangents == 1 {
                ""
            } else {
                "s (averaged)"
            }
        )
    }

    fn phases(&self) -> Vec<Phase> {
        Phase::single(self.epochs)
    }

    fn step(&mut self, batch: TrainBatch, lr: f64) -> Result<StepReport> {
        let (loss, grads) =
            forward_gradient(&self.trainee.net().model, batch.x, batch.y, self.tangents);
        if loss.is_finite() {
            self.trainee.apply_params(lr, grads);
        }
        Ok(StepReport {
            loss,
            ..Default::default()
        })
    }

    fn evaluator(&self) -> Box<dyn Evaluate + '_> {
        Box::new(StagedEvaluator::new(
            &self.trainee.net().model,
            Scores::Model,
            &[],
        ))
    }

    crate::checkpointed_by_trainee!();
}
