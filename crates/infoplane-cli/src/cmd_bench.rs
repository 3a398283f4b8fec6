//! `infoplane bench-step`: times training steps of one strategy on random data and reports
//! images per second and the process's peak resident memory, so E2E and layer-wise can be
//! compared in separate processes (peak RSS is per process).

use std::time::Instant;

use anyhow::{Result, bail};
use burn::tensor::{Device, Int, Tensor, TensorData};
use infoplane_data::DatasetName;
use infoplane_train::{DataShape, TrainBatch, TrainConfig, build_strategy_for, methods};

/// Options of the command.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// A method with its default parameters (retrain needs a source run and is timed as e2e;
    /// forward-forward's prototypes as top-left).
    #[arg(long, default_value = "e2e", value_parser = clap::builder::PossibleValuesParser::new(methods::kinds()))]
    pub strategy: String,
    /// Architecture: lenet5, mlp, vgg11, resnet18, resnet50 or vit.
    #[arg(long, default_value = "lenet5")]
    pub arch: String,
    /// Input shape CxHxW (default 3x32x32; mlp: 1x28x28).
    #[arg(long)]
    pub input: Option<String>,
    /// Classes.
    #[arg(long, default_value_t = 10)]
    pub classes: usize,
    /// Width multiplier of the architecture.
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Timed steps (after a warm-up of a fifth as many, at least 3).
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Also report the wall time per step of each convolution and pooling operation of
    /// infoplane-flexconv (flex only), and of the rest of the step.
    #[arg(long)]
    pub op_times: bool,
}

/// Parses "3x32x32".
pub fn parse_shape(s: &str) -> Result<[usize; 3]> {
    let v: Vec<usize> = s
        .split('x')
        .map(|p| p.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("--input `{s}`: write the shape as CxHxW, e.g. 3x32x32"))?;
    match v.as_slice() {
        [c, h, w] if *c > 0 && *h > 0 && *w > 0 => Ok([*c, *h, *w]),
        _ => bail!("--input `{s}`: write the shape as CxHxW with positive sizes, e.g. 3x32x32"),
    }
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
    if a.batch < 2 || a.steps == 0 {
        bail!("--batch must be at least 2 and --steps at least 1");
    }
    let mut cfg = TrainConfig::example(&a.arch, &a.strategy, DatasetName::Cifar10)?;
    cfg.model.set_width(a.width);
    let cfg = infoplane_reproduce::estimate::timed_as(&cfg).check()?;
    let input = match &a.input {
        Some(s) => parse_shape(s)?,
        None if a.arch == "mlp" => [1, 28, 28],
        None => [3, 32, 32],
    };
    let shape = DataShape {
        input,
        classes: a.classes,
    };
    let mut strategy = build_strategy_for(&cfg, shape, &device)?;
    strategy.enter_phase(0)?;
    // Standard normal images from our own seeded generator (the config's seed): the same
    // batch, and so the same losses, on every run of the same build and machine.
    let mut rng = infoplane_data::rng::Rng::stream(cfg.config().seed, "bench-step images");
    let len = a.batch * input.iter().product::<usize>();
    let x = Tensor::<4>::from_data(
        TensorData::new(
            (0..len).map(|_| rng.normal() as f32).collect::<Vec<_>>(),
            [a.batch, input[0], input[1], input[2]],
        ),
        &device,
    );
    let y = Tensor::<1, Int>::from_data(
        TensorData::new(
            (0..a.batch)
                .map(|i| (i % a.classes) as i64)
                .collect::<Vec<_>>(),
            [a.batch],
        ),
        &device,
    );
    let batch = || TrainBatch {
        x: x.clone(),
        y: y.clone(),
        views: 1,
    };
    let warmup = (a.steps / 5).max(3);
    for _ in 0..warmup {
        strategy.step(batch(), 1e-3)?;
    }
    infoplane_flexconv::timing::enable(a.op_times);
    let t0 = Instant::now();
    let mut loss = 0.0;
    for _ in 0..a.steps {
        loss = strategy.step(batch(), 1e-3)?.loss;
    }
    let secs = t0.elapsed().as_secs_f64();
    let op_times = a.op_times.then(|| {
        let totals = infoplane_flexconv::timing::totals();
        let per_step = |s: f64| 1e3 * s / a.steps as f64;
        let mut m = serde_json::Map::new();
        for (op, calls, s) in &totals {
            if *calls > 0 {
                m.insert(op.name().into(), per_step(*s).into());
            }
        }
        let ours: f64 = totals.iter().map(|(_, _, s)| s).sum();
        m.insert("rest of the step".into(), per_step(secs - ours).into());
        serde_json::Value::Object(m)
    });
    infoplane_flexconv::timing::enable(false);
    let v = serde_json::json!({
        "strategy": a.strategy,
        "arch": a.arch,
        "input": input,
        "width": a.width,
        "batch": a.batch,
        "steps": a.steps,
        "backend": backend,
        "parameters": strategy.num_params(),
        "images_per_second": (a.steps * a.batch) as f64 / secs,
        "ms_per_step": 1e3 * secs / a.steps as f64,
        "peak_rss_mib": peak_rss_mib(),
        "last_loss": loss,
        "op_ms_per_step": op_times,
    });
    println!("{v}");
    Ok(())
}
