//! What a run costs: its phases and, measured on this machine, the seconds per training
//! sample of its strategy (dry runs).

use std::time::Instant;

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use infoplane_train::methods::forward_forward::{FfConfig, FfEmbedding};
use infoplane_train::{
    CheckedConfig, DataShape, StrategyConfig, TrainBatch, TrainConfig, build_model,
    build_strategy_for,
};

use crate::error::Result;

/// The shape of a config's model inputs (the dataset's sample shape after padding).
pub fn input_shape(cfg: &TrainConfig) -> DataShape {
    let d = cfg.data.dataset;
    DataShape {
        input: cfg.data.pipeline().output_shape(d.sample_shape()),
        classes: d.num_classes(),
    }
}

/// The config a step is timed with: retraining as E2E, forward-forward's prototype embedding
/// as the top-left one (both need data or a source run to be built).
pub fn timed_as(cfg: &TrainConfig) -> TrainConfig {
    let mut c = cfg.clone();
    if let Some(mut f) = c.strategy.params::<FfConfig>() {
        f.embedding = FfEmbedding::TopLeft;
        c.strategy = StrategyConfig::new(&f);
    }
    if c.strategy.kind() == "retrain" {
        c.strategy = StrategyConfig::by_name("e2e").expect("e2e");
    }
    c
}

/// Phases of a config's strategy (sequential schedules train one stage, or FF layer, each).
pub fn phases(cfg: &CheckedConfig) -> Result<usize> {
    let stages = build_model(cfg, input_shape(cfg.config()), &Device::flex())?.num_stages();
    Ok(cfg.method().phases(stages))
}

/// Seconds per training sample of a config's strategy on `device`: steps of the run's own
/// batch size on random data, timed after a warm-up step.
pub fn seconds_per_sample(cfg: &CheckedConfig, device: &Device) -> Result<f64> {
    let device = device.clone().autodiff();
    let c = timed_as(cfg.config()).check()?;
    let shape = input_shape(c.config());
    let mut strategy = build_strategy_for(&c, shape, &device)?;
    strategy.enter_phase(0)?;
    let views = strategy.views();
    let b = c.config().batch_size;
    let n = b * views;
    let [ch, h, w] = shape.input;
    let x = Tensor::<4>::random([n, ch, h, w], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<1, Int>::from_data(
        TensorData::new(
            (0..n)
                .map(|i| ((i % b) % shape.classes) as i64)
                .collect::<Vec<_>>(),
            [n],
        ),
        &device,
    );
    let batch = || TrainBatch {
        x: x.clone(),
        y: y.clone(),
        views,
    };
    strategy.step(batch(), 1e-4)?;
    let t0 = Instant::now();
    for _ in 0..2 {
        strategy.step(batch(), 1e-4)?;
    }
    Ok(t0.elapsed().as_secs_f64() / (2 * b) as f64)
}
