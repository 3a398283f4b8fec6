//! `infoplane reprs`: a run's evaluation samples and stage representations as `.npy`;
//! `infoplane plane`: the information plane of representations saved by any framework, with
//! the protocol, kernels and reading rules of a training run.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use infoplane_hsic::foreign::{Dumps, plane_of_dumps};
use infoplane_reproduce::figures;
use infoplane_reproduce::reading::{Reading, Which};

use crate::BackendArgs;

/// Options of `infoplane reprs`.
#[derive(Debug, clap::Args)]
pub struct ReprsArgs {
    /// The run folder (its checkpoint is loaded).
    pub run: PathBuf,
    /// Output folder: x.npy, y.npy, <step>_<stage>.npy, layers.txt.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Runs `infoplane reprs`.
pub fn reprs(a: &ReprsArgs) -> Result<()> {
    let (device, _) = a.backend.resolve()?;
    let d = infoplane_train::reprs::dump_representations(&a.run, &a.out, &device)?;
    println!(
        "wrote {} evaluation samples (x.npy, y.npy) and {} stages at step {} (epoch {}) to {}",
        d.samples,
        d.stages.len(),
        d.step,
        d.epoch,
        a.out.display()
    );
    Ok(())
}

/// Options of `infoplane plane`.
#[derive(Debug, clap::Args)]
pub struct PlaneArgs {
    /// Folder of representations, one `<step>_<layer>.npy` per checkpoint and layer (first
    /// axis: the samples of --inputs, in the same order).
    #[arg(long)]
    pub reprs: PathBuf,
    /// The inputs of those samples (.npy, first axis the samples).
    #[arg(long)]
    pub inputs: PathBuf,
    /// Their integer labels (.npy, one per sample).
    #[arg(long)]
    pub labels: PathBuf,
    /// Output folder: infoplane.jsonl, infoplane.png, readings.txt.
    #[arg(long)]
    pub out: PathBuf,
    /// The layers in order, input side first (default: layers.txt in --reprs, else by name).
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<String>,
    /// Steps per epoch, to put the points on an epoch axis (default 1: steps are epochs).
    #[arg(long, default_value_t = 1.0)]
    pub steps_per_epoch: f64,
    /// Samples per mini-batch of the estimate (a training run's `infoplane.batch`).
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Take every measurement setting from this run's config (`[infoplane]`) instead.
    #[arg(long)]
    pub settings_of: Option<PathBuf>,
    /// Replace what --out holds.
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
}

fn labels(path: &std::path::Path) -> Result<Vec<usize>> {
    let a = infoplane_hsic::read_npy(path)?;
    a.values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v >= 0.0 && v.fract() == 0.0 && v < 1e6 {
                Ok(v as usize)
            } else {
                bail!(
                    "{}: value {v} at index {i} is not a class label (a non-negative integer)",
                    path.display()
                )
            }
        })
        .collect()
}

/// Runs `infoplane plane`.
pub fn plane(a: &PlaneArgs) -> Result<()> {
    if !(a.steps_per_epoch.is_finite() && a.steps_per_epoch > 0.0) {
        bail!(
            "--steps-per-epoch {}: must be a positive number",
            a.steps_per_epoch
        );
    }
    let settings = match &a.settings_of {
        Some(run) => infoplane_train::TrainConfig::from_file(&run.join("config.toml"))?
            .infoplane
            .settings(),
        None => infoplane_hsic::PlaneSettings {
            batch: a.batch,
            ..infoplane_train::config::InfoPlaneConfig::default().settings()
        },
    };
    let order = (!a.layers.is_empty()).then_some(a.layers.as_slice());
    let dumps = Dumps::list(&a.reprs, order)?;
    let x = infoplane_hsic::read_npy(&a.inputs)?.into_samples();
    let y = labels(&a.labels)?;
    let classes = y.iter().max().map_or(0, |m| m + 1);
    let file = a.out.join("infoplane.jsonl");
    if file.exists() && !a.overwrite {
        bail!(
            "{} exists: choose another --out, or --overwrite",
            file.display()
        );
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let (device, _) = a.backend.resolve()?;
    // Written beside the result and renamed when complete: a failure leaves no plane.
    let tmp = a
        .out
        .join(format!(".infoplane.jsonl.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let points = plane_of_dumps(
        &dumps,
        &x,
        &y,
        classes,
        settings,
        a.steps_per_epoch,
        Some(&tmp),
        &device,
    );
    let points = match points {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    std::fs::rename(&tmp, &file).with_context(|| format!("writing {}", file.display()))?;
    let mut text = String::new();
    for st in infoplane_train::summary::stages_of_points(&points) {
        let r =
            |w: Which| Reading::of(&w.of(&st)).map_or("—".to_string(), |r| r.describe(w.name()));
        text.push_str(&format!("{}: {}; {}\n", st.name, r(Which::X), r(Which::Y)));
    }
    std::fs::write(a.out.join("readings.txt"), &text)
        .with_context(|| format!("writing {}", a.out.join("readings.txt").display()))?;
    let run = figures::read_run(&a.out)?;
    let png = figures::plot(
        figures::Figure::InfoPlane,
        &[run],
        &a.out.join("infoplane.png"),
    )?;
    print!("{text}");
    println!(
        "{} steps x {} layers of {} samples ({} classes) measured into {}; figure {}",
        dumps.steps.len(),
        dumps.layers.len(),
        x.n,
        classes,
        file.display(),
        png.display()
    );
    Ok(())
}
