//! The `infoplane` command line: datasets, HSIC of arrays, training runs, plots, and the
//! reproductions. The only place where a concrete backend is chosen (`device.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod artifacts;
mod claims;
mod cmd_bench;
mod cmd_data;
mod cmd_hsic;
mod cmd_models;
mod device;
mod image;
mod plot;
mod reading;
mod reproduce;
mod sweep;

/// Methods of `infoplane train` and their `[strategy]` keys.
const TRAIN_HELP: &str =
    "Methods ([strategy] table of the config; experiments/ has one file per method):
  kind = \"e2e\"        loss = ce | supcon | simclr; head (projection: identity|linear|mlp),
                       temperature (0.1), base_temperature (0.07), embedding_dim (128)
  kind = \"layerwise\"  loss = ce | supcon | sim | sp-hard | sp-soft;
                       head = identity|linear|mlp (ce, supcon), identity|conv|conv-mlp (sim),
                       identity (sp); schedule = simultaneous | sequential;
                       temperature, base_temperature, embedding_dim (supcon);
                       sim_target = onehot-gram | centered; sp_top_k (6);
                       [strategy.hsic] lambda, reference = global|local,
                       apply_to = stage|head, sigma (5), eps (1e-5)
  kind = \"retrain\"    source = \"<finished layer-wise run directory>\", keep = k
Architectures ([model] table): arch = lenet5 | mlp | vgg11 | resnet18 | resnet50 | vit,
  with width, batch_norm, dropout, head_features and the architecture's own keys.
`infoplane train --print-config --arch A --strategy S` prints every key with its default.";

/// E2E vs layer-wise training, information planes (normalized HSIC) and linear probes.
#[derive(Debug, Parser)]
#[command(name = "infoplane", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args, Clone)]
struct BackendArgs {
    /// Backend: flex (default CPU), tch, wgpu or cuda (each needs its cargo feature).
    #[arg(long)]
    backend: Option<String>,
    /// Device of the backend: cpu, default, or a GPU index.
    #[arg(long)]
    device: Option<String>,
}

impl BackendArgs {
    fn resolve(&self) -> Result<(burn::tensor::Device, String)> {
        let b = self
            .backend
            .clone()
            .unwrap_or_else(|| device::default_backend().to_string());
        let d = self
            .device
            .clone()
            .unwrap_or_else(|| device::default_device(&b).to_string());
        Ok((device::device(&b, &d)?, format!("{b} ({d})")))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the backends compiled into this binary and their devices.
    Backends,
    /// Inspect datasets.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// HSIC, unbiased HSIC, CKA and nHSIC of two .npy arrays (n × …, same n).
    Hsic {
        /// First array (.npy, float32 or float64).
        #[arg(long)]
        x: PathBuf,
        /// Second array (.npy, float32 or float64).
        #[arg(long)]
        y: PathBuf,
        /// Kernel of x: rbf, rbf-dimscaled, rbf-legacy, median, linear.
        #[arg(long, default_value = "rbf-dimscaled")]
        kernel_x: String,
        /// Width σ of x's kernel.
        #[arg(long, default_value_t = 5.0, allow_hyphen_values = true)]
        sigma_x: f64,
        /// Kernel of y.
        #[arg(long, default_value = "linear")]
        kernel_y: String,
        /// Width σ of y's kernel.
        #[arg(long, default_value_t = 5.0, allow_hyphen_values = true)]
        sigma_y: f64,
        /// Regularization ε of nHSIC.
        #[arg(long, default_value_t = infoplane_hsic::DEFAULT_EPS, allow_hyphen_values = true)]
        eps: f64,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Train one run from a TOML config into a run directory.
    #[command(after_help = TRAIN_HELP)]
    Train {
        /// The run config (see experiments/; `--print-config` writes every key).
        #[arg(long, required_unless_present = "print_config")]
        config: Option<PathBuf>,
        /// Print the fully resolved config (of --config, or the defaults of --arch and
        /// --strategy) and exit.
        #[arg(long)]
        print_config: bool,
        /// Architecture of the printed default config.
        #[arg(long, default_value = "lenet5")]
        arch: String,
        /// Run directory (default runs/<name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue a killed run from its last checkpoint.
        #[arg(long, conflicts_with = "overwrite")]
        resume: bool,
        /// Replace a run that the folder already holds.
        #[arg(long, conflicts_with = "reuse")]
        overwrite: bool,
        /// Sweeps: return a finished run with the same config as it is, resume an unfinished
        /// one, start otherwise.
        #[arg(long, conflicts_with = "resume")]
        reuse: bool,
        /// Override `epochs`.
        #[arg(long)]
        epochs: Option<usize>,
        /// Override `seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// Override the strategy kind (e2e, layerwise) with its default parameters.
        #[arg(long)]
        strategy: Option<String>,
        /// Override `data.dataset`.
        #[arg(long)]
        dataset: Option<String>,
        /// Override `data.data_dir`.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Override `optim.lr`.
        #[arg(long, allow_hyphen_values = true)]
        lr: Option<f64>,
        /// Override `batch_size`.
        #[arg(long)]
        batch_size: Option<usize>,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Stages of an architecture: output shapes, parameters, head input sizes, totals.
    Models {
        /// lenet5, mlp, vgg11, resnet18, resnet50 or vit (all when omitted).
        arch: Option<String>,
        /// Input shape CxHxW.
        #[arg(long, default_value = "3x32x32")]
        input: String,
        /// Classes.
        #[arg(long, default_value_t = 10)]
        classes: usize,
        /// Width multiplier.
        #[arg(long, default_value_t = 1.0)]
        width: f64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Figures from run directories.
    Plot {
        #[command(subcommand)]
        command: PlotCommand,
    },
    /// Time training steps on random data: images/s and peak memory (one strategy per process).
    BenchStep {
        #[command(flatten)]
        args: cmd_bench::BenchArgs,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Reproduce an artifact of the paper (quick, fig1..fig19, table1..table4, or all).
    Reproduce {
        /// quick (the main job), an artifact (fig3, table1, …) or all.
        artifact: String,
        /// quick (offline data, reduced width and epochs) or paper (the paper's settings).
        #[arg(long, default_value = "quick")]
        scale: String,
        /// Results folder (artifacts go into <out>/<artifact>/; quick: the folder itself).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the runs and their estimated cost instead of running them.
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: count sample passes only, without timing a step of each
        /// configuration on this machine.
        #[arg(long, requires = "dry_run")]
        no_timing: bool,
        /// A tiny setting (seconds per run) to check the pipeline.
        #[arg(long)]
        tiny: bool,
        /// quick only: mnist-10k (bundled) or fashion-mnist.
        #[arg(long, default_value = "mnist-10k")]
        dataset: String,
        /// quick only: directory holding the dataset's files.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// quick only: epochs per run (default 20).
        #[arg(long)]
        epochs: Option<usize>,
        /// quick only: seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Sweeps for a cluster: a job list and a Slurm array script, and their collection.
    Sweep {
        #[command(subcommand)]
        command: SweepCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Counts per split, shape, class histogram and where the data was found.
    Info {
        /// mnist-10k, mnist, fashion-mnist, cifar10, cifar100 or rings.
        name: String,
        /// Directory holding the dataset's files.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A PNG grid of samples with their labels.
    Show {
        /// Dataset name.
        name: String,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
        /// Directory holding the dataset's files.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// train or test.
        #[arg(long, default_value = "train")]
        split: String,
        /// Number of samples.
        #[arg(long, default_value_t = 64)]
        count: usize,
    },
}

#[derive(Debug, Subcommand)]
enum PlotCommand {
    /// Information planes: one panel per stage, one row per run (figure 3).
    Infoplane {
        /// Run directories.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Output file (.png or .svg).
        #[arg(long)]
        out: PathBuf,
    },
    /// Probe accuracy per stage, train and test, one line per run (figure 1).
    Probes {
        /// Run directories.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Output file (.png or .svg).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum SweepCommand {
    /// Writes one config per run, jobs.txt (one command per line), slurm.sbatch and plan.json.
    Plan {
        /// The artifact (fig3, table1, …).
        artifact: String,
        /// The folder to write.
        #[arg(long)]
        out: PathBuf,
        /// quick or paper.
        #[arg(long, default_value = "paper")]
        scale: String,
        /// How workers run infoplane (a path or a command on their PATH).
        #[arg(long, default_value = "infoplane")]
        binary: String,
        /// Backend of every job.
        #[arg(long)]
        backend: Option<String>,
        /// Device of every job.
        #[arg(long)]
        device: Option<String>,
        /// An #SBATCH option of the array script, e.g. --slurm=--gres=gpu:1 (repeatable).
        #[arg(long, allow_hyphen_values = true)]
        slurm: Vec<String>,
    },
    /// Builds the artifact's report from the run folders that exist; lists missing runs.
    Collect {
        /// The folder written by `sweep plan`.
        dir: PathBuf,
    },
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Backends => {
            println!("backend  compiled  devices");
            for (name, feature, devices) in device::BACKENDS {
                let built = if device::compiled(name) { "yes" } else { "no" };
                println!(
                    "{name:<8} {built:<9} {devices}{}",
                    if device::compiled(name) {
                        String::new()
                    } else {
                        format!(" (build with --features {feature})")
                    }
                );
            }
            println!("default: {}", device::default_backend());
            Ok(())
        }
        Command::Data { command } => match command {
            DataCommand::Info {
                name,
                data_dir,
                json,
            } => cmd_data::info(&name, data_dir, json),
            DataCommand::Show {
                name,
                out,
                data_dir,
                split,
                count,
            } => cmd_data::show(&name, data_dir, &split, count, &out),
        },
        Command::Hsic {
            x,
            y,
            kernel_x,
            sigma_x,
            kernel_y,
            sigma_y,
            eps,
            json,
        } => cmd_hsic::run(&cmd_hsic::HsicArgs {
            x,
            y,
            kernel_x,
            sigma_x,
            kernel_y,
            sigma_y,
            eps,
            json,
        }),
        Command::Train {
            config,
            print_config,
            arch,
            out,
            resume,
            overwrite,
            reuse,
            epochs,
            seed,
            strategy,
            dataset,
            data_dir,
            lr,
            batch_size,
            backend,
        } => {
            let mut cfg = match &config {
                Some(p) => infoplane_train::TrainConfig::from_file(p)?,
                None => infoplane_train::TrainConfig::example(
                    &arch,
                    strategy.as_deref().unwrap_or("e2e"),
                    match &dataset {
                        Some(d) => d.parse()?,
                        None => infoplane_data::DatasetName::Mnist10k,
                    },
                )?,
            };
            if let Some(e) = epochs {
                cfg.epochs = e;
            }
            if let Some(s) = seed {
                cfg.seed = s;
            }
            if let Some(s) = strategy {
                cfg.strategy = infoplane_train::StrategyConfig::by_name(&s).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--strategy `{s}`: use e2e or layerwise (other settings go in the config's [strategy] table)"
                    )
                })?;
            }
            if let Some(d) = dataset {
                cfg.data.dataset = d.parse()?;
            }
            if data_dir.is_some() {
                cfg.data.data_dir = data_dir;
            }
            if let Some(lr) = lr {
                cfg.optim.lr = lr;
            }
            if let Some(b) = batch_size {
                cfg.batch_size = b;
            }
            let cfg = cfg.check()?;
            if print_config {
                print!("{}", cfg.config().to_toml());
                return Ok(());
            }
            let (device, label) = backend.resolve()?;
            let dir = out.unwrap_or_else(|| PathBuf::from("runs").join(&cfg.config().name));
            eprintln!(
                "training {} ({}, {} epochs per phase) on {label} into {}",
                cfg.config().name,
                cfg.label(),
                cfg.config().epochs,
                dir.display()
            );
            let on_existing = if resume {
                infoplane_train::OnExisting::Resume
            } else if reuse {
                infoplane_train::OnExisting::ReuseIfSame
            } else if overwrite {
                infoplane_train::OnExisting::Overwrite
            } else {
                infoplane_train::OnExisting::Refuse
            };
            let s = infoplane_train::run(
                &cfg,
                &device,
                &dir,
                &infoplane_train::RunOptions {
                    on_existing,
                    progress: true,
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
        Command::Models {
            arch,
            input,
            classes,
            width,
            json,
        } => cmd_models::run(arch.as_deref(), &input, classes, width, json),
        Command::Plot { command } => {
            let (fig, runs, out) = match command {
                PlotCommand::Infoplane { runs, out } => (plot::Figure::InfoPlane, runs, out),
                PlotCommand::Probes { runs, out } => (plot::Figure::Probes, runs, out),
            };
            let data = runs
                .iter()
                .map(|r| plot::read_run(r))
                .collect::<Result<Vec<_>>>()?;
            let p = plot::plot(fig, &data, &out)?;
            println!("wrote {}", p.display());
            Ok(())
        }
        Command::BenchStep { args, backend } => {
            let (device, label) = backend.resolve()?;
            cmd_bench::run(&args, &device, &label)
        }
        Command::Reproduce {
            artifact,
            scale,
            out,
            dry_run,
            no_timing,
            tiny,
            dataset,
            data_dir,
            epochs,
            seed,
            backend,
        } => {
            let (device, label) = backend.resolve()?;
            if artifact == "quick" {
                return reproduce::quick(
                    &reproduce::QuickArgs {
                        out: out.unwrap_or_else(|| PathBuf::from("results/quick")),
                        dataset,
                        data_dir,
                        epochs,
                        tiny,
                        backend: label,
                        seed,
                    },
                    &device,
                )
                .context("reproduce quick");
            }
            let scale = if tiny {
                artifacts::plan::Scale::Tiny
            } else {
                artifacts::plan::Scale::parse(&scale)?
            };
            artifacts::reproduce(
                &artifacts::Args {
                    artifact: artifact.clone(),
                    scale,
                    results: out.unwrap_or_else(|| PathBuf::from("results")),
                    dry_run,
                    timing: !no_timing,
                    backend: label,
                },
                &device,
            )
            .with_context(|| format!("reproduce {artifact}"))
        }
        Command::Sweep { command } => match command {
            SweepCommand::Plan {
                artifact,
                out,
                scale,
                binary,
                backend,
                device,
                slurm,
            } => {
                let mut b = Vec::new();
                if let Some(x) = backend {
                    b.extend(["--backend".to_string(), x]);
                }
                if let Some(x) = device {
                    b.extend(["--device".to_string(), x]);
                }
                sweep::plan_cmd(&sweep::PlanArgs {
                    artifact,
                    out,
                    scale: artifacts::plan::Scale::parse(&scale)?,
                    binary,
                    backend: b,
                    slurm,
                })
            }
            SweepCommand::Collect { dir } => sweep::collect_cmd(&dir, "(as run by the jobs)"),
        },
    }
}

fn main() -> ExitCode {
    infoplane_flexconv::keep_freed_memory();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
