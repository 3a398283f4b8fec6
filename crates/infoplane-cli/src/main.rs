//! The `infoplane` command line: datasets, HSIC of arrays, training runs, plots, and the
//! reproductions. The only place where a concrete backend is chosen (`device.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod cmd_bench;
mod cmd_data;
mod cmd_export;
mod cmd_hsic;
mod cmd_models;
mod cmd_plane;
mod cmd_read;
mod cmd_reproduce;
mod cmd_train;
mod device;

use clap::{CommandFactory, FromArgMatches};
use infoplane_reproduce::figures;

/// E2E vs layer-wise training, information planes (normalized HSIC) and linear probes.
#[derive(Debug, Parser)]
#[command(name = "infoplane", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `--backend` and `--device` of every command that computes.
#[derive(Debug, clap::Args, Clone)]
pub struct BackendArgs {
    /// Backend (each needs its cargo feature; `infoplane backends` lists what is compiled in).
    #[arg(long, value_enum)]
    backend: Option<device::Backend>,
    /// Device of the backend: cpu, default, or a GPU index.
    #[arg(long)]
    device: Option<String>,
}

impl BackendArgs {
    /// The device and its label for reports.
    pub fn resolve(&self) -> Result<(burn::tensor::Device, String)> {
        let b = self
            .backend
            .map(|b| b.as_str().to_string())
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
    Train(Box<cmd_train::TrainArgs>),
    /// Every training method: its `[strategy]` keys with their defaults, or (--markdown) the
    /// method table.
    Methods {
        /// One markdown row per method instead.
        #[arg(long)]
        markdown: bool,
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
    /// The reading of runs' information planes by the reports' rules (effect sizes), at the
    /// end or cut at given epochs.
    Read(cmd_read::ReadArgs),
    /// A run's information-plane samples (x.npy, y.npy) and every stage's representation of
    /// them at its checkpoint (<step>_<stage>.npy), for another framework or `plane`.
    Reprs(cmd_plane::ReprsArgs),
    /// A run's trained backbone as safetensors with PyTorch's parameter names and layouts,
    /// and a JSON sidecar describing the architecture (scripts/torch_models.py rebuilds it).
    Export(cmd_export::ExportArgs),
    /// The information plane of representations saved by any framework (one
    /// <step>_<layer>.npy per checkpoint and layer), with a run's protocol, kernels and
    /// reading rules: infoplane.jsonl, infoplane.png and readings.txt.
    Plane(Box<cmd_plane::PlaneArgs>),
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
    Reproduce(Box<cmd_reproduce::ReproduceArgs>),
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
    /// The samples a run trains and is tested on, after its pipeline (subsets, padding,
    /// normalization; no augmentation), as .npy arrays for another framework:
    /// train_x.npy, train_y.npy, test_x.npy, test_y.npy (float64, n × c × h × w and n).
    Export {
        /// The run config whose `[data]` table says which samples.
        #[arg(long)]
        config: PathBuf,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
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
    Plan(cmd_reproduce::SweepPlanArgs),
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
            DataCommand::Export { config, out } => cmd_data::export(&config, &out),
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
        Command::Train(a) => cmd_train::run(&a),
        Command::Methods { markdown } => {
            if markdown {
                print!("{}", infoplane_train::methods::markdown_table());
            } else {
                print!("{}", infoplane_train::methods::help());
            }
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
                PlotCommand::Infoplane { runs, out } => (figures::Figure::InfoPlane, runs, out),
                PlotCommand::Probes { runs, out } => (figures::Figure::Probes, runs, out),
            };
            let data = runs
                .iter()
                .map(|r| figures::read_run(r))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let p = figures::plot(fig, &data, &out)?;
            println!("wrote {}", p.display());
            Ok(())
        }
        Command::BenchStep { args, backend } => {
            let (device, label) = backend.resolve()?;
            cmd_bench::run(&args, &device, &label)
        }
        Command::Read(a) => cmd_read::run(&a),
        Command::Reprs(a) => cmd_plane::reprs(&a),
        Command::Export(a) => cmd_export::export(&a),
        Command::Plane(a) => cmd_plane::plane(&a),
        Command::Reproduce(a) => cmd_reproduce::reproduce(&a),
        Command::Sweep { command } => match command {
            SweepCommand::Plan(a) => cmd_reproduce::sweep_plan(&a),
            SweepCommand::Collect { dir } => cmd_reproduce::sweep_collect(&dir),
        },
    }
}

fn main() -> ExitCode {
    infoplane_flexconv::keep_freed_memory();
    // Past a file-size limit the kernel sends SIGXFSZ, which would kill the process mid-write;
    // with a handler installed the write fails with "File too large" and the error names the
    // file, like a full disk.
    #[cfg(unix)]
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // The methods' keys in `train --help` come from the registry, so they cannot fall behind.
    let matches = Cli::command()
        .mut_subcommand("train", |c| c.after_help(infoplane_train::methods::help()))
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each cause said once: the library errors already
/// print their source after what they were doing, so a cause whose text is already in the
/// line is not repeated.
fn message(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !c.is_empty() && !line.contains(&c) {
            line.push_str(": ");
            line.push_str(&c);
        }
    }
    line
}
