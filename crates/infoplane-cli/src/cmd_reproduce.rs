//! `infoplane reproduce` and `infoplane sweep`: argument parsing for the reproduction library
//! (`infoplane-reproduce`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use infoplane_reproduce::sweep::{PlanArgs, collect_cmd, plan_cmd};
use infoplane_reproduce::{Options, Overrides, Scale, repo_root};

use crate::BackendArgs;

/// A scale on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScaleArg {
    /// Offline data, reduced width and epochs: minutes on two CPU cores.
    Quick,
    /// The paper's data and settings.
    Paper,
    /// The quick scale shrunk to seconds per run (a pipeline check; `reproduce --tiny`).
    #[value(hide = true)]
    Tiny,
}

impl ScaleArg {
    fn scale(self) -> Scale {
        match self {
            ScaleArg::Quick => Scale::Quick,
            ScaleArg::Paper => Scale::Paper,
            ScaleArg::Tiny => Scale::Tiny,
        }
    }
}

/// Options of `infoplane reproduce`.
#[derive(Debug, clap::Args)]
pub struct ReproduceArgs {
    /// An artifact (quick, fig1 … fig19, table1 … table4: the files of experiments/) or all.
    pub artifact: String,
    /// quick (offline data, reduced width and epochs) or paper (the paper's settings).
    #[arg(long, value_enum, default_value_t = ScaleArg::Quick)]
    pub scale: ScaleArg,
    /// Results folder: the artifact goes into <out>/<artifact>/, its runs into <out>/runs/.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Print the runs and their estimated cost instead of running them.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: count sample passes only, without timing a step of each run.
    #[arg(long, requires = "dry_run")]
    pub no_timing: bool,
    /// A tiny setting (seconds per run) to check the pipeline.
    #[arg(long)]
    pub tiny: bool,
    /// Train every run on this dataset instead (e.g. fashion-mnist for the main job).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Directory holding the dataset's files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Epochs per phase of every run.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// One seed for every run, instead of the artifact's seeds.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Set any config key of every run, by its dotted path (repeatable): --set optim.lr=1e-3
    /// --set model.width=0.5. Checked like the experiment files; runs with settings get
    /// folders of their own.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Runs `infoplane reproduce`.
pub fn reproduce(a: &ReproduceArgs) -> Result<()> {
    let (device, backend) = a.backend.resolve()?;
    let opts = Options {
        scale: if a.tiny { Scale::Tiny } else { a.scale.scale() },
        results: a.out.clone(),
        backend,
        overrides: Overrides {
            dataset: a.dataset.as_deref().map(str::parse).transpose()?,
            data_dir: a.data_dir.clone(),
            epochs: a.epochs,
            seeds: a.seed.map(|s| vec![s]),
            settings: crate::cmd_train::settings(&a.set)?,
        },
    };
    let root = repo_root();
    if a.dry_run {
        print!(
            "{}",
            infoplane_reproduce::dry_run(&root, &a.artifact, &opts, &device, !a.no_timing)?
        );
        return Ok(());
    }
    let outcomes = infoplane_reproduce::reproduce(&root, &a.artifact, &opts, &device)
        .with_context(|| format!("reproduce {}", a.artifact))?;
    for o in &outcomes {
        println!("{}", o.line());
    }
    println!(
        "reports in {}/<artifact>/report.md; index in {}",
        a.out.display(),
        a.out.join("index.md").display()
    );
    Ok(())
}

/// Options of `infoplane sweep plan`.
#[derive(Debug, clap::Args)]
pub struct SweepPlanArgs {
    /// The artifact (fig3, table1, …).
    pub artifact: String,
    /// The folder to write.
    #[arg(long)]
    pub out: PathBuf,
    /// quick or paper.
    #[arg(long, value_enum, default_value_t = ScaleArg::Paper)]
    pub scale: ScaleArg,
    /// How workers run infoplane (a path or a command on their PATH).
    #[arg(long, default_value = "infoplane")]
    pub binary: String,
    /// Backend of every job.
    #[arg(long)]
    pub backend: Option<String>,
    /// Device of every job.
    #[arg(long)]
    pub device: Option<String>,
    /// An #SBATCH option of the array script, e.g. --slurm=--gres=gpu:1 (repeatable).
    #[arg(long, allow_hyphen_values = true)]
    pub slurm: Vec<String>,
    /// Set any config key of every run, by its dotted path (repeatable): --set optim.lr=1e-3
    /// --set model.width=0.5. Checked like the experiment files; runs with settings get
    /// folders of their own.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A grid over one key (repeatable: the cartesian product is planned), e.g.
    /// --grid optim.lr=1e-3,5e-4 --grid model.width=0.25,0.5. Each point's runs go into
    /// runs/<key-value_...>/; `sweep collect` tabulates accuracy and final nHSIC against the
    /// keys.
    #[arg(long, value_name = "KEY=V1,V2,...")]
    pub grid: Vec<String>,
}

/// Runs `infoplane sweep plan`.
pub fn sweep_plan(a: &SweepPlanArgs) -> Result<()> {
    let mut backend = Vec::new();
    if let Some(x) = &a.backend {
        backend.extend(["--backend".to_string(), x.clone()]);
    }
    if let Some(x) = &a.device {
        backend.extend(["--device".to_string(), x.clone()]);
    }
    println!(
        "{}",
        plan_cmd(&PlanArgs {
            artifact: a.artifact.clone(),
            out: a.out.clone(),
            scale: a.scale.scale(),
            binary: a.binary.clone(),
            backend,
            slurm: a.slurm.clone(),
            settings: crate::cmd_train::settings(&a.set)?,
            grid: a
                .grid
                .iter()
                .map(|g| g.parse())
                .collect::<infoplane_reproduce::Result<_>>()?,
        })?
    );
    Ok(())
}

/// Runs `infoplane sweep collect`.
pub fn sweep_collect(dir: &std::path::Path) -> Result<()> {
    println!("{}", collect_cmd(dir, "(as run by the jobs)")?);
    Ok(())
}
