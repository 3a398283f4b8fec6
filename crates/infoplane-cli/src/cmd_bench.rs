//! `infoplane bench-step`: times training steps of one strategy on random data and reports
//! images per second and the process's peak resident memory, so E2E and layer-wise can be
//! compared in separate processes (peak RSS is per process).

use std::time::Instant;

use anyhow::{Result, bail};
use burn::optim::AdamConfig;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use infoplane_models::{HeadKind, LeNet5Config, MlpConfig};
use infoplane_train::Learner;
use infoplane_train::strategies::{EndToEnd, LayerwiseSimultaneous, Strategy};

/// Options of the command.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// e2e or layerwise.
    #[arg(long, default_value = "e2e")]
    pub strategy: String,
    /// lenet5 (32x32 inputs) or mlp (28x28 inputs).
    #[arg(long, default_value = "lenet5")]
    pub arch: String,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Timed steps (after a warm-up of a fifth as many, at least 3).
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Input channels of lenet5.
    #[arg(long, default_value_t = 3)]
    pub channels: usize,
    /// Hidden width of mlp.
    #[arg(long, default_value_t = 1024)]
    pub width: usize,
    /// Layers of mlp.
    #[arg(long, default_value_t = 5)]
    pub depth: usize,
}

/// Peak resident set size of this process in MiB (Linux), if known.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs the benchmark and prints one JSON line.
pub fn run(a: &BenchArgs, device: &Device, backend: &str) -> Result<()> {
    let device = device.clone().autodiff();
    let (strategy, head): (&dyn Strategy, Option<HeadKind>) = match a.strategy.as_str() {
        "e2e" => (&EndToEnd, None),
        "layerwise" => (&LayerwiseSimultaneous, Some(HeadKind::Linear)),
        s => bail!("--strategy `{s}`: use e2e or layerwise"),
    };
    let (model, shape) = match a.arch.as_str() {
        "lenet5" => (
            LeNet5Config {
                in_channels: a.channels,
                image_size: 32,
                num_classes: 10,
            }
            .init(&device),
            [a.channels, 32, 32],
        ),
        "mlp" => (
            MlpConfig {
                input_shape: [1, 28, 28],
                width: a.width,
                depth: a.depth,
                num_classes: 10,
            }
            .init(&device),
            [1, 28, 28],
        ),
        s => bail!("--arch `{s}`: use lenet5 or mlp"),
    };
    if a.batch == 0 || a.steps == 0 {
        bail!("--batch and --steps must be at least 1");
    }
    let mut learner = Learner::new(model, head, &device);
    let mut optim = AdamConfig::new().init();
    let x = Tensor::<4>::random(
        [a.batch, shape[0], shape[1], shape[2]],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let y = Tensor::<1, Int>::from_data(
        TensorData::new(
            (0..a.batch).map(|i| (i % 10) as i64).collect::<Vec<_>>(),
            [a.batch],
        ),
        &device,
    );
    let warmup = (a.steps / 5).max(3);
    for _ in 0..warmup {
        learner = strategy
            .step(learner, &mut optim, 1e-3, x.clone(), y.clone())
            .0;
    }
    let t0 = Instant::now();
    let mut loss = 0.0;
    for _ in 0..a.steps {
        let (l, r) = strategy.step(learner, &mut optim, 1e-3, x.clone(), y.clone());
        learner = l;
        loss = r.loss;
    }
    let secs = t0.elapsed().as_secs_f64();
    let v = serde_json::json!({
        "strategy": a.strategy,
        "arch": a.arch,
        "batch": a.batch,
        "width": a.width,
        "depth": a.depth,
        "steps": a.steps,
        "backend": backend,
        "images_per_second": (a.steps * a.batch) as f64 / secs,
        "ms_per_step": 1e3 * secs / a.steps as f64,
        "peak_rss_mib": peak_rss_mib(),
        "last_loss": loss,
    });
    println!("{v}");
    Ok(())
}
