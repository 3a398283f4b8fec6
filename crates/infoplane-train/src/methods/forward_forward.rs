//! The forward-forward algorithm (Hinton 2022; the paper's appendix C, table 3) on every stage
//! of a staged model (the MLP 784-1000-1000-1000-1000-10 of the authors' code: five
//! forward-forward blocks; or LeNet5's conv1, conv2, fc3, fc4, fc5 as a small CNN).
//!
//! Each layer's input is L2-normalized per sample (x/(‖x‖ + 1e-4)); for a convolutional layer
//! the norm is divided by √(H·W), so that the channel vectors have unit mean squared norm over
//! the positions and every receptive field sees input of the scale a fully connected layer
//! sees. That scaling is our choice (the settings we know state only the per-sample norm, for
//! the MLP): with the plain norm, LeNet5's conv1 patches carry about 1/√(HW) of a unit vector
//! and neither label embedding trained on mnist-10k (loss stuck at 2 ln 2, accuracy at chance).
//! A layer's goodness is the mean of its squared activations; its loss is
//! softplus(θ − g⁺) + softplus(g⁻ − θ) with θ = 2, where g⁺ is the goodness of the image with
//! its true label and g⁻ with a wrong one. Wrong
//! labels are a seeded permutation of the batch's labels, repaired so that none equals the true
//! label. Layers train one after the other (one phase per layer, earlier layers frozen;
//! default) or all at once with detached inputs.
//!
//! Label embeddings (named options):
//! - `top-left` (Hinton's original): the first C values of the flattened input (the top-left
//!   pixels) are replaced by the one-hot label scaled to the batch's maximum value;
//! - `prototype` (the paper's modification): each class is represented by its prototype, the
//!   mean training image of the class (normalized like the inputs); the image and the prototype
//!   are sent separately through the layers before the one being trained, and mixed by adding
//!   their representations just before it (appendix C: "mix class information just before the
//!   currently trained layer and forward [x] and [the label] separately through the model").
//!   Addition is our choice of mixing; the paper does not state it.
//!
//! Prediction: the class whose embedding gives the largest goodness summed over the layers.
//! The per-stage "head" scores are the same sum over the first k layers, so the accuracy of
//! every depth is recorded. Representations for the information plane and the probes: each
//! layer's output for the input with the neutral embedding (top-left: every label pixel at
//! 1/C of the maximum; prototype: the image alone, no prototype added).

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use infoplane_data::Rng;
use infoplane_models::{Block, Repr, Stage, StageRole, StagedModel};
use serde::{Deserialize, Serialize};

use super::{BuildEnv, Method, Params, Schedule, positive};
use crate::error::{Result, TrainError};
use crate::init::{initialize, stable_hash};
use crate::losses::forward_forward;
use crate::strategy::{EvalOutput, Evaluate, Phase, StepReport, Strategy, TrainBatch, Trainee};

/// How labels enter a forward-forward network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FfEmbedding {
    /// One-hot in the top-left pixels (Hinton's original).
    #[default]
    TopLeft,
    /// Class prototypes mixed in just before the trained layer (the paper's modification).
    Prototype,
}

fn d_threshold() -> f64 {
    2.0
}

fn d_ff_schedule() -> Schedule {
    Schedule::Sequential
}

/// The `[strategy]` keys of `kind = "forward-forward"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FfConfig {
    /// Label embedding: top-left (original) or prototype (the paper's modification).
    #[serde(default)]
    pub embedding: FfEmbedding,
    /// Layers one after the other (`epochs` each; default) or all at once.
    #[serde(default = "d_ff_schedule")]
    pub schedule: Schedule,
    /// Goodness threshold θ.
    #[serde(default = "d_threshold")]
    pub threshold: f64,
}

impl Default for FfConfig {
    fn default() -> Self {
        FfConfig {
            embedding: FfEmbedding::TopLeft,
            schedule: d_ff_schedule(),
            threshold: d_threshold(),
        }
    }
}

/// Checked parameters of forward-forward training.
#[derive(Debug, Clone, PartialEq)]
pub struct FfParams {
    /// Label embedding.
    pub embedding: FfEmbedding,
    /// Layer by layer (default) or all at once.
    pub schedule: Schedule,
    /// Goodness threshold θ.
    pub threshold: f64,
}

impl Method for FfConfig {
    const KIND: &'static str = "forward-forward";
    const ABOUT: &'static str = "forward-forward (Hinton): per-layer goodness of positive and negative label embeddings, top-left one-hot (original) or class prototypes (the paper's modification); accuracy per depth";
    const PAPER: &'static str = "table 3";
    const KEYS: &'static [(&'static str, &'static str)] = &[
        ("embedding", "top-left | prototype"),
        (
            "schedule",
            "sequential (one phase per layer) | simultaneous",
        ),
        ("threshold", "goodness threshold θ"),
    ];
    type Params = FfParams;

    fn label(&self) -> String {
        format!(
            "forward-forward-{}",
            match self.embedding {
                FfEmbedding::TopLeft => "original",
                FfEmbedding::Prototype => "modified",
            }
        )
    }

    fn check(&self) -> Result<FfParams> {
        positive("strategy.threshold", self.threshold)?;
        Ok(FfParams {
            embedding: self.embedding,
            schedule: self.schedule,
            threshold: self.threshold,
        })
    }
}

impl Params for FfParams {
    fn label(&self) -> String {
        format!(
            "forward-forward-{}",
            match self.embedding {
                FfEmbedding::TopLeft => "original",
                FfEmbedding::Prototype => "modified",
            }
        )
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

/// What forward-forward trains: the stages of a model, each a forward-forward layer (a
/// classifier after the last stage has no role in it).
#[derive(Module, Debug)]
pub struct FfNet {
    /// The forward-forward layers.
    pub model: StagedModel<Block>,
}

crate::has_model!(FfNet, Block);

impl FfParams {
    /// The strategy over one of the paper's architectures: its stages become the
    /// forward-forward layers. The prototype embedding needs the training data.
    pub fn init(
        &self,
        mut model: StagedModel<Block>,
        env: &BuildEnv<'_>,
    ) -> Result<ForwardForward> {
        // Every stage is a forward-forward layer, the class-score one included (the authors'
        // MLP has five forward-forward blocks, 784-1000-1000-1000-1000-10); a classifier after
        // the last stage has no role.
        model.classifier = None;
        let prototypes = match self.embedding {
            FfEmbedding::TopLeft => None,
            FfEmbedding::Prototype => {
                let (split, pipeline) = env.train.ok_or_else(|| {
                    TrainError::value(
                        "strategy.embedding",
                        "the prototype embedding needs the training data",
                    )
                })?;
                Some(class_prototypes(split, pipeline, env.classes, env.device))
            }
        };
        let (net, _) = initialize(FfNet { model }, env.seed, "network");
        Ok(ForwardForward {
            trainee: Trainee::new(net, env.optim.optimizer()),
            params: self.clone(),
            classes: env.classes,
            epochs: env.epochs,
            seed: env.seed,
            prototypes,
            phase: 0,
        })
    }
}

/// Class prototypes: the mean training image of every class after the pipeline (without
/// augmentation), `[C, c, h, w]`.
pub fn class_prototypes(
    split: &infoplane_data::Split,
    pipeline: &infoplane_data::Pipeline,
    classes: usize,
    device: &Device,
) -> Tensor<4> {
    let plain = infoplane_data::Pipeline {
        augment: infoplane_data::Augment::None,
        ..pipeline.clone()
    };
    let all = infoplane_data::materialize(split, &plain);
    let [n, c, h, w] = all.shape;
    let d = c * h * w;
    let mut sums = vec![0f64; classes * d];
    let mut counts = vec![0usize; classes];
    for i in 0..n {
        let l = all.labels[i] as usize;
        counts[l] += 1;
        for (s, &v) in sums[l * d..(l + 1) * d]
            .iter_mut()
            .zip(&all.images[i * d..(i + 1) * d])
        {
            *s += v as f64;
        }
    }
    let means: Vec<f32> = sums
        .chunks(d)
        .zip(&counts)
        .flat_map(|(s, &m)| s.iter().map(move |v| (v / m.max(1) as f64) as f32))
        .collect();
    Tensor::from_data(TensorData::new(means, [classes, c, h, w]), device)
}

/// Forward-forward training of a network whose stages are the FF layers.
#[derive(Debug)]
pub struct ForwardForward {
    trainee: Trainee<FfNet>,
    params: FfParams,
    classes: usize,
    epochs: usize,
    seed: u64,
    /// Class prototypes `[C, c, h, w]` (prototype embedding).
    prototypes: Option<Tensor<4>>,
    phase: usize,
}

/// Per-sample L2 normalization of a layer input, keeping its shape; the input of a
/// convolutional layer (`per_position`) is scaled by √(H·W) on top (unit mean squared channel
/// vector per position).
fn normalize(r: Repr, per_position: bool) -> Repr {
    let n = r.batch();
    let norm = |flat: Tensor<2>| flat.powi_scalar(2).sum_dim(1).sqrt().add_scalar(1e-4);
    match r {
        Repr::Map(m) => {
            let [_, _, h, w] = m.dims();
            let positions = if per_position { h * w } else { 1 };
            let s = norm(m.clone().flatten::<2>(1, 3))
                .div_scalar((positions as f64).sqrt())
                .reshape([n, 1, 1, 1]);
            Repr::Map(m / s)
        }
        Repr::Tokens(t) => {
            let s = norm(t.clone().flatten::<2>(1, 2)).reshape([n, 1, 1]);
            Repr::Tokens(t / s)
        }
        Repr::Flat(f) => {
            let s = norm(f.clone());
            Repr::Flat(f / s)
        }
    }
}

/// The goodness of each sample: the mean of its squared activations, `[n]`.
fn goodness(r: Repr) -> Tensor<1> {
    let f = r.flatten();
    let n = f.dims()[0];
    f.powi_scalar(2).mean_dim(1).reshape([n])
}

/// One FF layer: stage `k` on the normalized input.
fn layer(net: &FfNet, k: usize, input: Repr) -> Repr {
    let stage = &net.model.stages[k];
    stage.forward(normalize(input, matches!(stage, Block::Conv(_))))
}

/// Inputs with a one-hot label (or the neutral label when `labels` is `None`) in the first C
/// values, scaled to the batch's maximum.
fn top_left(x: &Tensor<4>, labels: Option<&[i64]>, classes: usize) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let d = c * h * w;
    let device = x.device();
    let max = x.clone().max().into_scalar::<f32>();
    let mut mask = vec![1f32; n * d];
    let mut label = vec![0f32; n * d];
    for i in 0..n {
        for j in 0..classes.min(d) {
            mask[i * d + j] = 0.0;
            label[i * d + j] = match labels {
                Some(l) if l[i] as usize == j => max,
                Some(_) => 0.0,
                None => max / classes as f32,
            };
        }
    }
    let mask = Tensor::<4>::from_data(TensorData::new(mask, [n, c, h, w]), &device);
    let label = Tensor::<4>::from_data(TensorData::new(label, [n, c, h, w]), &device);
    x.clone() * mask + label
}

/// Wrong labels: a seeded permutation of the batch's labels, with every label that equals the
/// true one swapped with another position where both become wrong (or, where no such position
/// exists, moved to the next class).
pub fn wrong_labels(labels: &[i64], classes: usize, seed: u64) -> Vec<i64> {
    let n = labels.len();
    let bytes: Vec<u8> = labels.iter().flat_map(|l| l.to_le_bytes()).collect();
    let mut rng = Rng::derive(seed, &[0xff, stable_hash(&String::from_utf8_lossy(&bytes))]);
    let perm = rng.permutation(n);
    let mut neg: Vec<i64> = perm.iter().map(|&p| labels[p]).collect();
    for i in 0..n {
        if neg[i] != labels[i] {
            continue;
        }
        let swap = (0..n).find(|&j| j != i && neg[j] != labels[i] && neg[i] != labels[j]);
        match swap {
            Some(j) => neg.swap(i, j),
            None => neg[i] = (labels[i] + 1) % classes as i64,
        }
    }
    neg
}

impl ForwardForward {
    fn layers(&self) -> usize {
        self.trainee.net().model.num_stages()
    }

    fn trained(&self) -> std::ops::Range<usize> {
        match self.params.schedule {
            Schedule::Simultaneous => 0..self.layers(),
            Schedule::Sequential => self.phase..self.phase + 1,
        }
    }

    fn prototypes_of(&self, labels: &[i64], device: &Device) -> Tensor<4> {
        let p = self
            .prototypes
            .as_ref()
            .expect("the prototype embedding has prototypes")
            .clone()
            .to_device(device);
        let idx =
            Tensor::<1, Int>::from_data(TensorData::new(labels.to_vec(), [labels.len()]), device);
        p.select(0, idx)
    }
}

impl Strategy for ForwardForward {
    fn describe(&self) -> String {
        format!(
            "forward-forward ({}; {} label embedding), goodness = mean squared activation, θ = {}, layer inputs L2-normalized, wrong labels from a permutation of the batch's labels; prediction = the label with the largest goodness summed over the layers",
            match self.params.schedule {
                Schedule::Sequential => "layers trained one after the other",
                Schedule::Simultaneous => "layers trained simultaneously",
            },
            match self.params.embedding {
                FfEmbedding::TopLeft => "top-left one-hot (original)",
                FfEmbedding::Prototype =>
                    "class-prototype, mixed just before the trained layer (the paper's modification)",
            },
            self.params.threshold
        )
    }

    fn phases(&self) -> Vec<Phase> {
        match self.params.schedule {
            Schedule::Simultaneous => Phase::single(self.epochs),
            Schedule::Sequential => {
                Phase::per_stage("layer", &self.trainee.net().model.names, self.epochs)
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

    fn step(&mut self, batch: TrainBatch, lr: f64) -> Result<StepReport> {
        let device = batch.x.device();
        let labels: Vec<i64> = batch.y.clone().try_into_vec_as::<i64>().expect("labels");
        let neg = wrong_labels(&labels, self.classes, self.seed);
        let range = self.trained();
        // Inputs of the first trained layer: (positive, negative) and, for prototypes, the
        // image alone.
        let (mut pos, mut negr, mut alone) = {
            let net = self.trainee.net();
            match self.params.embedding {
                FfEmbedding::TopLeft => {
                    let mut p = Repr::Map(top_left(&batch.x, Some(&labels), self.classes));
                    let mut q = Repr::Map(top_left(&batch.x, Some(&neg), self.classes));
                    for k in 0..range.start {
                        p = layer(net, k, p).detach();
                        q = layer(net, k, q).detach();
                    }
                    (p, q, None)
                }
                FfEmbedding::Prototype => {
                    let mut x = Repr::Map(batch.x.clone());
                    let mut p = Repr::Map(self.prototypes_of(&labels, &device));
                    let mut q = Repr::Map(self.prototypes_of(&neg, &device));
                    for k in 0..range.start {
                        x = layer(net, k, x).detach();
                        p = layer(net, k, p).detach();
                        q = layer(net, k, q).detach();
                    }
                    (p, q, Some(x))
                }
            }
        };
        let mut losses = Vec::new();
        for k in range {
            let (loss, next) = {
                let net = self.trainee.net();
                let mix = |label: &Repr| -> Repr {
                    match &alone {
                        None => label.clone().detach(),
                        Some(x) => add(x.clone().detach(), label.clone().detach()),
                    }
                };
                let op = layer(net, k, mix(&pos));
                let on = layer(net, k, mix(&negr));
                let loss = forward_forward(
                    op.clone().flatten(),
                    on.clone().flatten(),
                    self.params.threshold,
                );
                // The next layer's inputs: each part propagated separately.
                let next = match &alone {
                    None => (op.detach(), on.detach(), None),
                    Some(x) => (
                        layer(net, k, pos.clone()).detach(),
                        layer(net, k, negr.clone()).detach(),
                        Some(layer(net, k, x.clone()).detach()),
                    ),
                };
                (loss, next)
            };
            let v = loss.clone().into_scalar::<f32>();
            losses.push(v);
            if !v.is_finite() {
                break;
            }
            self.trainee.apply(lr, loss.backward());
            (pos, negr, alone) = next;
        }
        Ok(StepReport {
            loss: losses.last().copied().unwrap_or(f32::NAN),
            stage_losses: losses,
            ..Default::default()
        })
    }

    fn evaluator(&self) -> Box<dyn Evaluate + '_> {
        Box::new(FfEvaluator {
            net: self.trainee.net().valid(),
            embedding: self.params.embedding,
            classes: self.classes,
            prototypes: self.prototypes.clone(),
        })
    }

    crate::checkpointed_by_trainee!();
}

fn add(a: Repr, b: Repr) -> Repr {
    match (a, b) {
        (Repr::Map(a), Repr::Map(b)) => Repr::Map(a + b),
        (Repr::Tokens(a), Repr::Tokens(b)) => Repr::Tokens(a + b),
        (a, b) => Repr::Flat(a.flatten() + b.flatten()),
    }
}

/// Evaluation of a forward-forward network.
#[derive(Debug)]
struct FfEvaluator {
    net: FfNet,
    embedding: FfEmbedding,
    classes: usize,
    prototypes: Option<Tensor<4>>,
}

impl Evaluate for FfEvaluator {
    fn stage_names(&self) -> Vec<String> {
        self.net.model.names.clone()
    }

    fn stage_roles(&self) -> Vec<StageRole> {
        let n = self.net.model.num_stages();
        (0..n)
            .map(|i| match i {
                0 => StageRole::First,
                i if i + 1 == n => StageRole::Last,
                _ => StageRole::Middle,
            })
            .collect()
    }

    fn head_features(&self) -> usize {
        self.net.model.head_features
    }

    fn model_description(&self) -> String {
        format!("forward-forward layers of {}", self.net.model.description)
    }

    fn evaluate(&self, x: Tensor<4>) -> EvalOutput {
        let n = x.dims()[0];
        let layers = self.net.model.num_stages();
        let device = x.device();
        // Per layer, the goodness of every class: g[k] is [n, C].
        let mut g: Vec<Vec<Tensor<1>>> = vec![Vec::new(); layers];
        let mut representations = Vec::with_capacity(layers);
        match self.embedding {
            FfEmbedding::TopLeft => {
                for c in 0..self.classes {
                    let labels = vec![c as i64; n];
                    let mut t = Repr::Map(top_left(&x, Some(&labels), self.classes));
                    for (k, gk) in g.iter_mut().enumerate() {
                        t = layer(&self.net, k, t);
                        gk.push(goodness(t.clone()));
                    }
                }
                let mut t = Repr::Map(top_left(&x, None, self.classes));
                for k in 0..layers {
                    t = layer(&self.net, k, t);
                    representations.push(self.net.model.read(t.clone()));
                }
            }
            FfEmbedding::Prototype => {
                let protos = self
                    .prototypes
                    .clone()
                    .expect("prototypes")
                    .to_device(&device);
                // The image alone and every prototype, each through the layers.
                let mut alone = Repr::Map(x.clone());
                let mut p = Repr::Map(protos);
                for (k, gk) in g.iter_mut().enumerate() {
                    for c in 0..self.classes {
                        let pc = p.clone().narrow(c, 1);
                        let pc = match pc {
                            Repr::Map(m) => {
                                let [_, ch, h, w] = m.dims();
                                Repr::Map(m.expand([n, ch, h, w]))
                            }
                            Repr::Flat(f) => {
                                let [_, d] = f.dims();
                                Repr::Flat(f.expand([n, d]))
                            }
                            Repr::Tokens(t) => {
                                let [_, s, d] = t.dims();
                                Repr::Tokens(t.expand([n, s, d]))
                            }
                        };
                        gk.push(goodness(layer(&self.net, k, add(alone.clone(), pc))));
                    }
                    alone = layer(&self.net, k, alone);
                    p = layer(&self.net, k, p);
                    representations.push(self.net.model.read(alone.clone()));
                }
            }
        }
        let per_layer: Vec<Tensor<2>> = g
            .into_iter()
            .map(|cols| {
                Tensor::stack::<2>(cols, 1) // [n, C]
            })
            .collect();
        let mut head_scores = Vec::with_capacity(layers);
        let mut total: Option<Tensor<2>> = None;
        for s in per_layer {
            total = Some(match total {
                None => s,
                Some(t) => t + s,
            });
            head_scores.push(total.clone());
        }
        EvalOutput {
            scores: total.expect("at least one layer"),
            representations,
            head_scores,
        }
    }
}
