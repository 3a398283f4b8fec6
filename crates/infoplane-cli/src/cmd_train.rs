//! `infoplane train`: one run from a TOML config (with overrides from the command line) into a
//! run directory; `--print-config` writes the fully resolved config instead.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use infoplane_data::DatasetName;
use infoplane_train::{OnExisting, RunOptions, Setting, StrategyConfig, TrainConfig, methods};

use crate::BackendArgs;

/// Options of `infoplane train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The run config (see experiments/; `--print-config` writes every key).
    #[arg(long, required_unless_present = "print_config")]
    pub config: Option<PathBuf>,
    /// Print the fully resolved config (of --config, or the defaults of --arch and
    /// --strategy) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Architecture of the printed default config.
    #[arg(long, default_value = "lenet5")]
    pub arch: String,
    /// Run directory (default runs/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue a killed run from its last checkpoint.
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Replace a run that the folder already holds.
    #[arg(long, conflicts_with = "reuse")]
    pub overwrite: bool,
    /// Sweeps: return a finished run with the same config as it is, resume an unfinished
    /// one, start otherwise.
    #[arg(long, conflicts_with = "resume")]
    pub reuse: bool,
    /// Override `epochs`.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the strategy kind with its default parameters (`infoplane methods` lists them).
    #[arg(long)]
    pub strategy: Option<String>,
    /// Override `data.dataset`.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Override `data.data_dir`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Override `optim.lr`.
    #[arg(long, allow_hyphen_values = true)]
    pub lr: Option<f64>,
    /// Override `batch_size`.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Set any config key by its dotted path (repeatable, applied in order after the options
    /// above): --set optim.lr=1e-3 --set model.width=0.5 --set strategy.head=mlp. Typed and
    /// checked like the file; `config.toml` of the run lists them.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    #[command(flatten)]
    pub backend: BackendArgs,
}

fn config(a: &TrainArgs) -> Result<TrainConfig> {
    let mut cfg = match &a.config {
        Some(p) => TrainConfig::from_file(p)?,
        None => TrainConfig::example(
            &a.arch,
            a.strategy.as_deref().unwrap_or("e2e"),
            match &a.dataset {
                Some(d) => d.parse()?,
                None => DatasetName::Mnist10k,
            },
        )?,
    };
    if let Some(e) = a.epochs {
        cfg.epochs = e;
    }
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    if let Some(s) = &a.strategy {
        cfg.strategy = StrategyConfig::by_name(s).ok_or_else(|| {
            anyhow!(
                "--strategy `{s}`: use one of {} (other settings go in the config's [strategy] table)",
                methods::kinds().join(", ")
            )
        })?;
    }
    if let Some(d) = &a.dataset {
        cfg.data.dataset = d.parse()?;
    }
    if a.data_dir.is_some() {
        cfg.data.data_dir = a.data_dir.clone();
    }
    if let Some(lr) = a.lr {
        cfg.optim.lr = lr;
    }
    if let Some(b) = a.batch_size {
        cfg.batch_size = b;
    }
    Ok(infoplane_train::apply_settings(&cfg, &settings(&a.set)?)?)
}

/// `--set KEY=VALUE` options parsed.
pub fn settings(set: &[String]) -> Result<Vec<Setting>> {
    Ok(set
        .iter()
        .map(|s| s.parse())
        .collect::<infoplane_train::Result<_>>()?)
}

/// Runs `infoplane train`.
pub fn run(a: &TrainArgs) -> Result<()> {
    let cfg = config(a)?.check()?;
    if a.print_config {
        print!("{}", cfg.config().to_toml());
        return Ok(());
    }
    let (device, label) = a.backend.resolve()?;
    let c = cfg.config();
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&c.name));
    eprintln!(
        "training {} ({}, {} epochs per phase) on {label} into {}",
        c.name,
        cfg.label(),
        c.epochs,
        dir.display()
    );
    let on_existing = if a.resume {
        OnExisting::Resume
    } else if a.reuse {
        OnExisting::ReuseIfSame
    } else if a.overwrite {
        OnExisting::Overwrite
    } else {
        OnExisting::Refuse
    };
    let s = infoplane_train::run(
        &cfg,
        &device,
        &dir,
        &RunOptions {
            on_existing,
            progress: true,
            settings: a.set.clone(),
            ..Default::default()
        },
    )?;
    println!(
        "{}: test accuracy {:.2}% after {} epochs ({:.0} s); results in {}",
        s.name,
        100.0 * s.test_accuracy,
        s.epochs,
        s.wall_seconds,
        dir.display()
    );
    Ok(())
}
