//! Helpers shared by the test modules: configs, the concrete strategies of a config, runs.

use std::path::Path;

use burn::tensor::Device;
use infoplane::models::{Block, StagedModel};
use infoplane::train::methods::e2e::{E2eConfig, EndToEnd};
use infoplane::train::methods::layerwise::{Layerwise, LayerwiseConfig};
use infoplane::train::{
    BuildEnv, DataShape, Method, RunOptions, RunSummary, TrainConfig, TrainError,
};

/// 28x28 grayscale, ten classes.
pub const MNIST_SHAPE: DataShape = DataShape {
    input: [1, 28, 28],
    classes: 10,
};

/// Parses a config (panics with the text on error).
pub fn config(text: &str) -> TrainConfig {
    TrainConfig::from_toml(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The build environment of a config (no data: random-data strategies).
pub fn env<'a>(cfg: &'a TrainConfig, shape: DataShape, device: &'a Device) -> BuildEnv<'a> {
    BuildEnv {
        classes: shape.classes,
        epochs: cfg.epochs,
        seed: cfg.seed,
        optim: &cfg.optim,
        device,
        train: None,
        config: Some(cfg),
    }
}

/// The architecture of a config.
pub fn model(cfg: &TrainConfig, shape: DataShape, device: &Device) -> StagedModel<Block> {
    cfg.model
        .init(shape.input, shape.classes, device)
        .expect("a model")
}

/// The layer-wise strategy of a config whose `[strategy]` is layer-wise.
pub fn layerwise(cfg: &TrainConfig, shape: DataShape, device: &Device) -> Layerwise {
    cfg.strategy
        .params::<LayerwiseConfig>()
        .expect("a layer-wise config")
        .check()
        .expect("valid")
        .init(model(cfg, shape, device), &env(cfg, shape, device))
        .expect("built")
}

/// The E2E strategy of a config whose `[strategy]` is E2E.
pub fn e2e(cfg: &TrainConfig, shape: DataShape, device: &Device) -> EndToEnd {
    cfg.strategy
        .params::<E2eConfig>()
        .expect("an E2E config")
        .check()
        .expect("valid")
        .init(model(cfg, shape, device), &env(cfg, shape, device))
        .expect("built")
}

/// Checks and runs a config.
pub fn run(
    cfg: &TrainConfig,
    device: &Device,
    dir: &Path,
    opts: &RunOptions,
) -> Result<RunSummary, TrainError> {
    infoplane::train::run(&cfg.clone().check()?, device, dir, opts)
}
