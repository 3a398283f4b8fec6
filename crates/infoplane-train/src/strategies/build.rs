//! From a resolved config to a strategy over one of the paper's architectures: the model, the
//! modules the strategy adds to it, the host-drawn initialization and the optimizer.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use infoplane_data::Dataset;
use infoplane_models::{Head, HeadKind, HeadPurpose, ModelError, StagedModel};

use super::{
    EndToEnd, EndToEndSpec, FfEmbedding, FfSpec, ForwardForward, ForwardGradient, Layerwise,
    LayerwiseSpec, LocalObjective, Strategy, Trainee,
};
use crate::config::{E2eLoss, LocalLoss, StrategyConfig, TrainConfig};
use crate::error::{Result, TrainError};
use crate::init::initialize;
use crate::losses::SpTarget;
use crate::network::{LabelPath, Network};
use crate::strategies::optimizer;
use crate::trainer::pipeline;

fn model_err(e: ModelError) -> TrainError {
    match e {
        ModelError::InvalidOption { option, reason } => {
            TrainError::value(&format!("model.{option}"), reason)
        }
        other => TrainError::value("strategy.head", other.to_string()),
    }
}

/// What a model is built for: the per-sample input shape after the pipeline, and classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataShape {
    /// Channels, height, width of a model input.
    pub input: [usize; 3],
    /// Number of classes.
    pub classes: usize,
}

impl DataShape {
    /// The shape of `data` under the pipeline of `cfg` (padding).
    pub fn of(cfg: &TrainConfig, data: &Dataset) -> Self {
        DataShape {
            input: pipeline(cfg).output_shape(data.train.shape),
            classes: data.num_classes,
        }
    }
}

/// The staged model of a config (not yet initialized from the seed).
pub fn build_model(cfg: &TrainConfig, shape: DataShape, device: &Device) -> Result<StagedModel> {
    cfg.model
        .init(shape.input, shape.classes, device)
        .map_err(model_err)
}

/// The network of a config: the model and what its strategy adds, every parameter drawn on
/// the host from the config's seed (identical backbones for E2E and layer-wise runs).
pub fn build_network(cfg: &TrainConfig, shape: DataShape, device: &Device) -> Result<Network> {
    let model = build_model(cfg, shape, device)?;
    let classes = shape.classes;
    let shapes = model.read_shapes(device);
    let last = shapes.last().cloned().unwrap_or_default();
    let max = model.head_features;
    let logits_end = model.ends_in_logits();
    let head = |kind, shape: &[usize], purpose| {
        Head::new(kind, shape, purpose, max, device).map_err(model_err)
    };
    let mut net = Network::bare(model);
    match &cfg.strategy {
        StrategyConfig::E2e(c) => {
            if c.loss != E2eLoss::Ce {
                net.projection = Some(head(
                    c.head.unwrap_or(HeadKind::Mlp),
                    &last,
                    HeadPurpose::Embedding(c.embedding_dim),
                )?);
                if logits_end {
                    net.readout = Some(head(
                        HeadKind::Linear,
                        &last,
                        HeadPurpose::Classes(classes),
                    )?);
                }
            }
        }
        StrategyConfig::Layerwise(c) => {
            let kind = c.head.unwrap_or_default();
            let stages = shapes.len();
            for (i, shape) in shapes.iter().enumerate() {
                let purpose = match c.loss {
                    LocalLoss::Ce if i + 1 == stages && logits_end => None,
                    LocalLoss::Ce => Some(HeadPurpose::Classes(classes)),
                    LocalLoss::Supcon => Some(HeadPurpose::Embedding(c.embedding_dim)),
                    LocalLoss::Sim => Some(HeadPurpose::Similarity),
                    LocalLoss::SpHard | LocalLoss::SpSoft => None,
                };
                net.heads[i] = match purpose {
                    Some(p) if kind != HeadKind::Identity => Some(head(kind, shape, p)?),
                    Some(HeadPurpose::Classes(_)) => {
                        // Refused by the config already; the library refuses it too.
                        Some(head(kind, shape, HeadPurpose::Classes(classes))?)
                    }
                    _ => None,
                };
            }
            if c.loss != LocalLoss::Ce && logits_end {
                net.readout = Some(head(
                    HeadKind::Linear,
                    &last,
                    HeadPurpose::Classes(classes),
                )?);
            }
            if matches!(c.loss, LocalLoss::SpHard | LocalLoss::SpSoft) {
                let input = &net.model.input_shape;
                net.label_path = Some(LabelPath::new(classes, input, device));
            }
        }
        StrategyConfig::ForwardForward(_) => {
            // The forward-forward layers are the hidden stages: the class-score stage (or the
            // classifier) of the architecture has no role in it.
            if net.model.ends_in_logits() && net.model.num_stages() > 1 {
                net.model.stages.pop();
                net.model.names.pop();
                net.heads.pop();
            }
            net.model.classifier = None;
        }
        StrategyConfig::Retrain(_) | StrategyConfig::ForwardGradient(_) => {}
    }
    Ok(initialize(net, cfg.seed, "network").0)
}

/// The stages of a finished source run, for retraining: its config must train the same
/// architecture on data of the same shape.
fn source_stages(
    cfg: &TrainConfig,
    source: &std::path::Path,
    keep: usize,
    shape: DataShape,
    device: &Device,
) -> Result<Network> {
    let bad = |reason: String| TrainError::value("strategy.source", reason);
    let src_cfg_path = source.join("config.toml");
    if !source.join("summary.json").exists() {
        return Err(bad(format!(
            "{} holds no finished run (no summary.json); train the source run to the end first",
            source.display()
        )));
    }
    let src = TrainConfig::from_file(&src_cfg_path)?;
    if src.model != cfg.model {
        return Err(bad(format!(
            "the source run trained another model ({} with other settings); retraining keeps its stages, so [model] must be the same",
            src.model.name()
        )));
    }
    if src.data.dataset != cfg.data.dataset || src.data.pad_to != cfg.data.pad_to {
        return Err(bad(
            "the source run used other data (dataset or pad_to differ)".into(),
        ));
    }
    let stages = build_model(cfg, shape, device)?.num_stages();
    if keep >= stages {
        return Err(TrainError::value(
            "strategy.keep",
            format!(
                "{keep} keeps every stage of the {stages}; keep at most {}",
                stages - 1
            ),
        ));
    }
    let net = build_network(&src, shape, device)?;
    let path = source.join("checkpoint").join("network.bpk");
    net.try_load_file(&path)
        .map_err(|e| TrainError::Checkpoint {
            path,
            reason: format!("{e:?}"),
        })
}

/// The strategy of a resolved config for `data`, its network on `device` (an autodiff
/// device for training).
pub fn build_strategy(
    cfg: &TrainConfig,
    data: &Dataset,
    device: &Device,
) -> Result<Box<dyn Strategy>> {
    build(cfg, DataShape::of(cfg, data), Some(data), device)
}

/// [`build_strategy`] for inputs and classes given directly (benchmarks on random data; the
/// forward-forward prototypes need the data and are refused here).
pub fn build_strategy_for(
    cfg: &TrainConfig,
    data: DataShape,
    device: &Device,
) -> Result<Box<dyn Strategy>> {
    build(cfg, data, None, device)
}

/// Class prototypes: the mean training image of every class after the pipeline (without
/// augmentation), `[C, c, h, w]`.
pub fn class_prototypes(cfg: &TrainConfig, data: &Dataset, device: &Device) -> Tensor<4> {
    let plain = infoplane_data::Pipeline {
        augment: infoplane_data::Augment::None,
        ..pipeline(cfg)
    };
    let all = infoplane_data::materialize(&data.train, &plain);
    let [n, c, h, w] = all.shape;
    let d = c * h * w;
    let k = data.num_classes;
    let mut sums = vec![0f64; k * d];
    let mut counts = vec![0usize; k];
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
    Tensor::from_data(TensorData::new(means, [k, c, h, w]), device)
}

fn build(
    cfg: &TrainConfig,
    data: DataShape,
    dataset: Option<&Dataset>,
    device: &Device,
) -> Result<Box<dyn Strategy>> {
    let optim = optimizer(&cfg.optim);
    Ok(match &cfg.strategy {
        StrategyConfig::E2e(c) => Box::new(EndToEnd::new(
            Trainee::new(build_network(cfg, data, device)?, optim),
            EndToEndSpec {
                loss: c.loss,
                temperature: c.temperature,
                base_temperature: c.base_temperature,
                epochs: cfg.epochs,
                frozen_prefix: 0,
            },
        )),
        StrategyConfig::Layerwise(c) => {
            let objective = match c.loss {
                LocalLoss::Ce => LocalObjective::CrossEntropy,
                LocalLoss::Supcon => LocalObjective::SupCon {
                    temperature: c.temperature,
                    base_temperature: c.base_temperature,
                },
                LocalLoss::Sim => LocalObjective::Similarity {
                    target: c.sim_target,
                    classes: data.classes,
                },
                LocalLoss::SpHard => LocalObjective::SignalPropagation(SpTarget::Hard(c.sp_top_k)),
                LocalLoss::SpSoft => LocalObjective::SignalPropagation(SpTarget::Soft),
            };
            Box::new(Layerwise::new(
                Trainee::new(build_network(cfg, data, device)?, optim),
                LayerwiseSpec {
                    objective,
                    schedule: c.schedule,
                    epochs: cfg.epochs,
                    hsic: c.hsic.clone(),
                },
            ))
        }
        StrategyConfig::ForwardForward(c) => {
            let prototypes = match c.embedding {
                FfEmbedding::TopLeft => None,
                FfEmbedding::Prototype => Some(class_prototypes(
                    cfg,
                    dataset.ok_or_else(|| {
                        TrainError::value(
                            "strategy.embedding",
                            "the prototype embedding needs the training data",
                        )
                    })?,
                    device,
                )),
            };
            Box::new(ForwardForward::new(
                Trainee::new(build_network(cfg, data, device)?, optim),
                FfSpec {
                    embedding: c.embedding,
                    schedule: c.schedule,
                    threshold: c.threshold,
                    epochs: cfg.epochs,
                    classes: data.classes,
                    seed: cfg.seed,
                },
                prototypes,
            ))
        }
        StrategyConfig::ForwardGradient(c) => Box::new(ForwardGradient::new(
            Trainee::new(build_network(cfg, data, device)?, optim),
            c.tangents,
            cfg.epochs,
        )?),
        StrategyConfig::Retrain(c) => {
            let source = source_stages(cfg, &c.source, c.keep, data, device)?;
            let mut net = build_network(cfg, data, device)?;
            for (i, s) in source.model.stages.into_iter().take(c.keep).enumerate() {
                net.model.stages[i] = s;
            }
            Box::new(EndToEnd::new(
                Trainee::new(net, optim),
                EndToEndSpec {
                    loss: E2eLoss::Ce,
                    temperature: 0.1,
                    base_temperature: 0.07,
                    epochs: cfg.epochs,
                    frozen_prefix: c.keep,
                },
            ))
        }
    })
}
