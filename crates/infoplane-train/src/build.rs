//! From a checked config to a strategy over one of the paper's architectures: the model of
//! `[model]`, then the method's own `init` through the registry.

use burn::tensor::Device;
use infoplane_data::Dataset;
use infoplane_models::{ModelError, StagedModel};

use crate::config::CheckedConfig;
use crate::error::{Result, TrainError};
use crate::methods::BuildEnv;
use crate::strategy::Strategy;

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
    pub fn of(cfg: &CheckedConfig, data: &Dataset) -> Result<Self> {
        Ok(DataShape {
            input: cfg.config().data.pipeline().check(data.train.shape)?,
            classes: data.num_classes,
        })
    }
}

fn model_err(e: ModelError) -> TrainError {
    match e {
        ModelError::InvalidOption { option, reason } => {
            TrainError::value(&format!("model.{option}"), reason)
        }
        other => TrainError::value("model", other.to_string()),
    }
}

/// The staged model of a config (initialized by the strategy from the run's seed). Its
/// parameters are not drawn before its footprint at the configured batch size is checked
/// against this machine's memory (sizes from shapes, with checked arithmetic).
pub fn build_model(cfg: &CheckedConfig, shape: DataShape, device: &Device) -> Result<StagedModel> {
    let c = cfg.config();
    let model = c
        .model
        .init(shape.input, shape.classes, device)
        .map_err(model_err)?;
    // The largest batch the run forwards: training's, or the measurement's when it is larger.
    let (batch, batch_key) = if c.infoplane.enabled && c.infoplane.batch > c.batch_size {
        (c.infoplane.batch, "infoplane.batch")
    } else {
        (c.batch_size, "batch_size")
    };
    model
        .footprint()
        .and_then(|f| f.check(batch, "the model"))
        .map_err(|e| {
            TrainError::value(
                "model",
                format!(
                    "{e} (set by model.width = {}, the {}x{}x{} inputs after data.pad_to, {batch_key} = {batch})",
                    c.model.width(),
                    shape.input[0],
                    shape.input[1],
                    shape.input[2],
                ),
            )
        })?;
    Ok(model)
}

/// The strategy of a checked config for `data` on `device` (an autodiff device for training).
pub fn build_strategy(
    cfg: &CheckedConfig,
    data: &Dataset,
    device: &Device,
) -> Result<Box<dyn Strategy>> {
    let pipeline = cfg.config().data.pipeline();
    build(
        cfg,
        DataShape::of(cfg, data)?,
        Some((data, &pipeline)),
        device,
    )
}

/// [`build_strategy`] for inputs and classes given directly (benchmarks on random data; the
/// forward-forward prototypes need the data and are refused here).
pub fn build_strategy_for(
    cfg: &CheckedConfig,
    shape: DataShape,
    device: &Device,
) -> Result<Box<dyn Strategy>> {
    build(cfg, shape, None, device)
}

fn build(
    cfg: &CheckedConfig,
    shape: DataShape,
    data: Option<(&Dataset, &infoplane_data::Pipeline)>,
    device: &Device,
) -> Result<Box<dyn Strategy>> {
    let c = cfg.config();
    let model = build_model(cfg, shape, device)?;
    let env = BuildEnv {
        classes: shape.classes,
        epochs: c.epochs,
        seed: c.seed,
        optim: &c.optim,
        device,
        train: data.map(|(d, p)| (&d.train, p)),
        config: Some(c),
    };
    cfg.method().build(model, &env)
}
