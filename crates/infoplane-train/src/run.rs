//! One complete run, for the paper's architectures and for any staged model: the run
//! directory's lock and existing-run policy, the default observers (information plane,
//! probes), the loop, and `summary.json`, written last and atomically.
//!
//! - [`run`]: a checked config — data, model and strategy from the config.
//! - [`run_with`]: any strategy (over a model of your own) with the data, measurement and run
//!   directory described by a [`RunSpec`].

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use infoplane_data::Dataset;

use crate::build::build_strategy;
use crate::config::{
    CheckedConfig, DataConfig, EvalSplit, InfoPlaneConfig, OptimConfig, ProbeConfig, TrainConfig,
};
use crate::error::{Result, TrainError};
use crate::methods::retrain::RetrainConfig;
use crate::observer::Observer;
use crate::observers::infoplane::Cadence;
use crate::observers::{InfoPlaneObserver, ProbeObserver};
use crate::rundir::{Existing, OnExisting, RunDir, clear, existing, refusal};
use crate::strategy::Strategy;
use crate::summary::{Descriptions, RunSummary, read_summary, summarize, write_summary};
use crate::train_loop::{LoopData, LoopOptions, TrainLoop};

/// Options of one run that are not part of the experiment.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// What to do when the run directory already holds a run.
    pub on_existing: OnExisting,
    /// Stop (as if killed) after this many epochs — for testing resume.
    pub stop_after_epochs: Option<usize>,
    /// Show a progress bar.
    pub progress: bool,
    /// Wait while another process holds the run directory (then decide what to do with what
    /// it left) instead of refusing.
    pub wait_for_lock: bool,
    /// Settings given on the command line (`KEY=VALUE`), already applied to the config:
    /// `config.toml` lists them in comments above the resolved values.
    pub settings: Vec<String>,
}

impl RunOptions {
    /// Continue an unfinished run.
    pub fn resume() -> Self {
        RunOptions {
            on_existing: OnExisting::Resume,
            ..Default::default()
        }
    }
}

/// What a run is, apart from its strategy: the settings every model shares, and the text
/// saved as `config.toml` (a resumed or reused run must have been started with the same).
#[derive(Debug, Clone)]
pub struct RunSpec<'a> {
    /// Name in logs and the summary.
    pub name: &'a str,
    /// Seed of batches, per-step draws (dropout, tangents) and probes.
    pub seed: u64,
    /// Samples per batch.
    pub batch_size: usize,
    /// The data settings (dataset name, pipeline).
    pub data: &'a DataConfig,
    /// The optimizer's schedule.
    pub optim: &'a OptimConfig,
    /// The information plane.
    pub infoplane: &'a InfoPlaneConfig,
    /// The probes.
    pub probe: &'a ProbeConfig,
    /// The text of `config.toml`.
    pub record: String,
    /// The strategy's label in the summary.
    pub label: String,
    /// The source run and stages kept, for retraining runs.
    pub retrained_from: Option<(PathBuf, usize)>,
}

impl<'a> RunSpec<'a> {
    /// The spec of a checked config.
    pub fn of(cfg: &'a CheckedConfig) -> Self {
        let c = cfg.config();
        RunSpec {
            name: &c.name,
            seed: c.seed,
            batch_size: c.batch_size,
            data: &c.data,
            optim: &c.optim,
            infoplane: &c.infoplane,
            probe: &c.probe,
            record: c.to_toml(),
            label: cfg.label(),
            retrained_from: c
                .strategy
                .params::<RetrainConfig>()
                .and_then(|r| Some((r.source.clone(), r.stages_kept().ok()?))),
        }
    }
}

/// Observers, and the information plane's evaluation set in words (when measured).
pub type Observers = (Vec<Box<dyn Observer>>, Option<String>);

/// The split the information plane samples from, and its fixed evaluation subset.
pub fn eval_split<'d>(
    ip: &crate::config::InfoPlaneConfig,
    data: &'d Dataset,
) -> (&'d infoplane_data::Split, infoplane_data::Split) {
    let source = match ip.split {
        EvalSplit::Test => &data.test,
        EvalSplit::Train => &data.train,
    };
    (source, source.subset(ip.samples, ip.subset_seed))
}

/// The default observers: the information plane on the fixed evaluation set and the probes.
/// Returns them with the evaluation set's description.
pub fn default_observers(spec: &RunSpec<'_>, data: &Dataset, run_dir: &Path) -> Result<Observers> {
    let pipe = spec.data.pipeline();
    let mut observers: Vec<Box<dyn Observer>> = Vec::new();
    let mut eval_set = None;
    let ip = spec.infoplane;
    if ip.enabled {
        let (source, eval) = eval_split(ip, data);
        if eval.len() < ip.batch {
            return Err(TrainError::value(
                "infoplane.batch",
                format!(
                    "{} is larger than the {} evaluation samples available",
                    ip.batch,
                    eval.len()
                ),
            ));
        }
        let described = ip.describe_eval_set(source.len());
        if ip.samples > source.len() {
            tracing::warn!(run = %spec.name, "the information plane is measured on {described}");
        }
        observers.push(Box::new(InfoPlaneObserver::new(
            &eval,
            data.num_classes,
            &pipe,
            ip.settings(),
            Cadence {
                every_steps: ip.every_steps,
                per_epoch: ip.per_epoch,
            },
            &described,
            Some(&run_dir.join("infoplane.jsonl")),
        )?));
        eval_set = Some(described);
    }
    if spec.probe.enabled {
        let train_split = match spec.probe.limit_train {
            Some(n) => data.train.subset(
                n,
                infoplane_data::Rng::seed_for(spec.data.subset_seed, "probe subset"),
            ),
            None => data.train.clone(),
        };
        observers.push(Box::new(ProbeObserver::new(
            train_split,
            data.test.clone(),
            data.num_classes,
            spec.probe.clone(),
            spec.seed,
            &run_dir.join("probes.csv"),
        )));
    }
    Ok((observers, eval_set))
}

/// True when a saved `config.toml` describes the same run as `record` (only `epochs` may
/// differ: a finished run can be continued for more).
fn same_run(saved: &str, record: &str) -> bool {
    match (
        TrainConfig::from_toml(saved),
        TrainConfig::from_toml(record),
    ) {
        (Ok(mut old), Ok(new)) => {
            old.epochs = new.epochs;
            old == new
        }
        _ => saved == record,
    }
}

/// True when a saved `config.toml` holds exactly the config of `record` (comments aside).
fn identical(saved: &str, record: &str) -> bool {
    match (
        TrainConfig::from_toml(saved),
        TrainConfig::from_toml(record),
    ) {
        (Ok(old), Ok(new)) => old == new,
        _ => saved == record,
    }
}

/// Decides, under the run directory's lock, whether to start (`Ok(Ok(false))`), resume
/// (`Ok(Ok(true))`) or return a finished run (`Ok(Err(summary))`).
fn prepare(
    record: &str,
    run_dir: &Path,
    policy: OnExisting,
) -> Result<std::result::Result<bool, RunSummary>> {
    let state = existing(run_dir);
    let saved_path = run_dir.join("config.toml");
    let saved = match std::fs::read_to_string(&saved_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) if policy == OnExisting::Resume => return Err(TrainError::io(&saved_path, e)),
        Err(_) => Some(String::new()),
    };
    if policy == OnExisting::Resume
        && let Some(old) = &saved
        && TrainConfig::from_toml(record).is_ok()
        && let Err(TrainError::ConfigParse { message: e, .. }) = TrainConfig::from_toml(old)
    {
        return Err(TrainError::RunDir {
            path: saved_path,
            reason: format!(
                "this run's saved config is damaged, so it cannot be checked against yours: {}. Restore the file, or start the run again with --overwrite",
                e.trim_end()
            ),
        });
    }
    let same = saved.as_deref().is_some_and(|old| identical(old, record));
    let resumable = crate::train_loop::checkpoint_to_resume(run_dir).is_some();
    let no_checkpoint = || {
        TrainError::RunDir {
        path: run_dir.join("checkpoint"),
        reason: "no checkpoint to resume from (the run never finished an epoch); start it again with --overwrite".into(),
    }
    };
    Ok(match (policy, state) {
        (OnExisting::Resume, Existing::Empty) => {
            return Err(TrainError::RunDir {
                path: run_dir.into(),
                reason: "there is no run here to resume; start it without --resume".into(),
            });
        }
        (_, Existing::Empty) => Ok(false),
        (OnExisting::Refuse, s) => return Err(refusal(run_dir, s)),
        (OnExisting::Resume, s) => {
            if let Some(why) = crate::provenance::mismatch(run_dir) {
                return Err(crate::provenance::refuse_resume(run_dir, &why));
            }
            if saved.as_deref().is_some_and(|old| !same_run(old, record)) {
                return Err(TrainError::RunDir {
                    path: run_dir.into(),
                    reason: "the run here was started with another config (only `epochs` may change on --resume); use --overwrite or another --out".into(),
                });
            }
            match s {
                Existing::Finished if same => Err(read_summary(run_dir)?),
                _ if !resumable => return Err(no_checkpoint()),
                _ => Ok(true),
            }
        }
        (OnExisting::Overwrite, _) => {
            clear(run_dir)?;
            Ok(false)
        }
        (OnExisting::ReuseIfSame, s) => {
            let code = crate::provenance::mismatch(run_dir);
            if let Some(why) = &code
                && same
            {
                tracing::warn!(run = %run_dir.display(), "running again: {why}");
            }
            let same = same && code.is_none();
            if same && s == Existing::Finished {
                Err(read_summary(run_dir)?)
            } else if same && resumable {
                Ok(true)
            } else {
                clear(run_dir)?;
                Ok(false)
            }
        }
    })
}

/// Runs any strategy — for example over a model of your own — with the data, measurement
/// and run directory of `spec`: the observers, the loop, then `summary.json`.
pub fn run_with(
    spec: &RunSpec<'_>,
    data: &Dataset,
    strategy: &mut dyn Strategy,
    device: &Device,
    run_dir: &Path,
    opts: &RunOptions,
) -> Result<RunSummary> {
    let dir = if opts.wait_for_lock {
        RunDir::lock_waiting(run_dir)?
    } else {
        RunDir::lock(run_dir)?
    };
    let resume = match prepare(&spec.record, run_dir, opts.on_existing)? {
        Ok(r) => r,
        Err(summary) => return Ok(summary),
    };
    if resume {
        // A finished run continued for more epochs is unfinished again — but only once its
        // checkpoint is known to load: a refused resume leaves the folder as it was.
        crate::train_loop::load_checkpoint(run_dir, strategy)?;
        let p = run_dir.join("summary.json");
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| TrainError::io(&p, e))?;
        }
    }
    let mut text = String::new();
    for s in &opts.settings {
        text.push_str(&format!("# set on the command line: {s}\n"));
    }
    text.push_str(&spec.record);
    crate::rundir::write_atomic(&run_dir.join("config.toml"), text.as_bytes())?;
    crate::provenance::record(run_dir)?;
    let (mut observers, eval_set) = default_observers(spec, data, run_dir)?;
    let measures_start = observers
        .iter()
        .any(|o| o.wants(crate::observer::EvalPoint::Start, 0));
    let descriptions = {
        let ev = strategy.evaluator();
        Descriptions {
            name: spec.name.to_string(),
            label: spec.label.clone(),
            strategy: strategy.describe(),
            model: ev.model_description(),
            roles: ev.stage_roles(),
            parameters: strategy.num_params(),
            dataset: spec.data.dataset.to_string(),
            test_samples: data.test.len(),
            kernel_convention: spec
                .infoplane
                .enabled
                .then(|| spec.infoplane.settings().describe()),
            eval_set,
            retrained_from: spec.retrained_from.clone(),
            calibration: (measures_start && strategy.state().batch_norms() > 0).then(|| {
                format!(
                    "batch norm's running statistics estimated before the first measurement from {} training batches (forward passes in training mode, no weight update)",
                    crate::train_loop::CALIBRATION_BATCHES
                )
            }),
        }
    };
    let pipeline = spec.data.pipeline();
    let outcome = TrainLoop {
        name: spec.name,
        seed: spec.seed,
        data: LoopData {
            train: &data.train,
            test: &data.test,
            pipeline: &pipeline,
            batch_size: spec.batch_size,
        },
        schedule: spec.optim.schedule(),
        observers: &mut observers,
        run: &dir,
        options: LoopOptions {
            resume,
            stop_after_epochs: opts.stop_after_epochs,
            progress: opts.progress,
        },
    }
    .run(strategy, device)?;
    if !outcome.complete {
        return Err(TrainError::RunDir {
            path: run_dir.into(),
            reason: "training stopped before the last epoch; continue it with --resume".into(),
        });
    }
    let summary = summarize(run_dir, outcome.seconds, &descriptions)?;
    write_summary(run_dir, &summary)?;
    Ok(summary)
}

/// Runs a checked config into `run_dir`: its data, the strategy of its method over its
/// model, the information-plane and probe observers, then `summary.json`.
pub fn run(
    cfg: &CheckedConfig,
    device: &Device,
    run_dir: &Path,
    opts: &RunOptions,
) -> Result<RunSummary> {
    let c = cfg.config();
    let data = c.data.load()?;
    let mut strategy = build_strategy(cfg, &data, &device.clone().autodiff())?;
    run_with(
        &RunSpec::of(cfg),
        &data,
        strategy.as_mut(),
        device,
        run_dir,
        opts,
    )
}
