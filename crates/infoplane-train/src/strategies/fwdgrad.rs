//! End-to-end training by forward gradients (Baydin et al. 2022; the paper's appendix F.4.2,
//! figure 11): one forward pass computes the loss f and its directional derivative ∇f·v along
//! a random tangent v ~ N(0, I) over all parameters ([`crate::jvp`]), and the update uses
//! g = (∇f·v)·v — an unbiased estimate of ∇f — with no backward pass. `tangents` > 1 averages
//! that many independent estimates per step. Tangents are drawn from burn's generator, which
//! the loop seeds at every step.
//!
//! Supported stages: convolution blocks and fully connected blocks without batch norm or
//! dropout (LeNet5 and the MLP), with no classifier after the last stage.

use std::path::Path;

use burn::module::{Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Tensor};
use infoplane_models::{Block, StagedModel};

use super::{Evaluate, NetworkEvaluator, Phase, StepReport, Strategy, TrainBatch, Trainee};
use crate::error::{Result, TrainError};
use crate::jvp::{self, Dual};

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
    trainee: Trainee<Block>,
    tangents: usize,
    epochs: usize,
}

impl ForwardGradient {
    /// The strategy over a network (LeNet5 or the MLP) and its optimizer.
    pub fn new(trainee: Trainee<Block>, tangents: usize, epochs: usize) -> Result<Self> {
        check_supported(&trainee.net().model)?;
        Ok(ForwardGradient {
            trainee,
            tangents: tangents.max(1),
            epochs,
        })
    }
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
        vec![Phase {
            name: "train".into(),
            epochs: self.epochs,
        }]
    }

    fn enter_phase(&mut self, _index: usize) -> Result<()> {
        Ok(())
    }

    fn step(&mut self, batch: TrainBatch, lr: f64) -> Result<StepReport> {
        let (loss, grads) =
            forward_gradient(&self.trainee.net().model, batch.x, batch.y, self.tangents);
        if loss.is_finite() {
            self.trainee.apply_params(lr, grads);
        }
        Ok(StepReport {
            loss,
            stage_losses: Vec::new(),
            correct: None,
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
