//! Plans: an artifact's runs at a scale, each a checked config and a run folder.
//!
//! A run's config is `[base]`, then the run's `set`, then — at quick scale — `[quick] set`
//! and the run's own `quick` keys, merged table by table; then the overrides of the command
//! line. The result is a complete run config, checked like any other. Every run is planned
//! once per seed of the scale. A retraining run names its source as
//! `strategy.source = "run:<name>"`: the same seed's run of the same artifact, trained first.

use std::path::{Path, PathBuf};

use infoplane_data::DatasetName;
use infoplane_train::{CheckedConfig, TrainConfig};

use crate::error::{Context, Error, Result};
use crate::experiment::{ExperimentFile, RunSpec, Scale, experiment_path, read_experiment};

/// Changes the command line makes to every run of a plan.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Train on this dataset instead.
    pub dataset: Option<DatasetName>,
    /// Folder holding the data.
    pub data_dir: Option<PathBuf>,
    /// Epochs per phase.
    pub epochs: Option<usize>,
    /// These seeds instead of the scale's.
    pub seeds: Option<Vec<u64>>,
    /// `KEY=VALUE` settings applied to every run's config last (`--set`).
    pub settings: Vec<infoplane_train::Setting>,
}

/// One run of a plan.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// Its name in the experiment file.
    pub name: String,
    /// Which seed of the run (0-based).
    pub replicate: usize,
    /// Its checked config.
    pub cfg: CheckedConfig,
    /// Its run folder.
    pub dir: PathBuf,
    /// Runs that must finish first (retraining sources), by name.
    pub after: Vec<String>,
}

impl PlannedRun {
    /// The resolved config.
    pub fn config(&self) -> &TrainConfig {
        self.cfg.config()
    }
}

/// Where the run folders of a plan go.
#[derive(Debug, Clone)]
pub enum Layout {
    /// `<results>/runs/<name>-<hash of the config>`: artifacts that train the same config
    /// share one run (reproductions).
    Pool(PathBuf),
    /// `<dir>/<name>[-seed<S>]` (sweeps).
    Flat(PathBuf),
}

impl Layout {
    fn dir(&self, name: &str, seed: Option<u64>, cfg_text: &str) -> PathBuf {
        match self {
            Layout::Pool(root) => root.join("runs").join(format!(
                "{name}-{:08x}",
                infoplane_train::init::stable_hash(cfg_text) as u32
            )),
            Layout::Flat(root) => root.join(match seed {
                Some(s) => format!("{name}-seed{s}"),
                None => name.to_string(),
            }),
        }
    }
}

/// The runs of an artifact at a scale.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The artifact.
    pub artifact: String,
    /// Its experiment file.
    pub file: ExperimentFile,
    /// The scale.
    pub scale: Scale,
    /// What the scale changes, in words.
    pub note: String,
    /// The runs in the order they can be trained.
    pub runs: Vec<PlannedRun>,
    /// Runs of the file not trained at this scale (`skip_quick`, or the whole file's
    /// `[quick] skip`).
    pub skipped: Vec<String>,
    /// The command line's settings, as typed (each run's `config.toml` lists them).
    pub settings: Vec<String>,
}

/// Merges `over` into `base`, table by table (values of `over` win).
pub fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The tiny scale on top of the quick one: seconds per run, to test the pipeline.
fn tiny(table: &mut toml::Table) {
    let t: toml::Table = toml::from_str(
        "batch_size = 32\n[data]\nlimit_train = 256\nlimit_test = 128\n\
         [infoplane]\nsamples = 128\nbatch = 64\nevery_steps = 0\n\
         [probe]\nmethod = \"ridge\"\nlimit_train = 256\n",
    )
    .expect("the tiny overlay parses");
    merge(table, &t);
    let epochs = table
        .get("epochs")
        .and_then(|v| v.as_integer())
        .unwrap_or(1);
    table.insert("epochs".into(), toml::Value::Integer(epochs.min(2)));
    if let Some(toml::Value::Table(m)) = table.get_mut("model") {
        let w = m.get("width").and_then(|v| v.as_float()).unwrap_or(1.0);
        m.insert("width".into(), toml::Value::Float(w.min(0.125)));
    }
}

fn config_of(file: &ExperimentFile, r: &RunSpec, scale: Scale) -> toml::Table {
    let mut t = file.base.clone();
    merge(&mut t, &r.set);
    if scale != Scale::Paper {
        merge(&mut t, &file.quick.set);
        merge(&mut t, &r.quick);
        if let Some(toml::Value::Table(d)) = t.get_mut("data")
            && let Some(ds) = d.get("dataset").and_then(|v| v.as_str())
            && let Some(q) = file.quick.datasets.get(ds)
        {
            d.insert("dataset".into(), toml::Value::String(q.clone()));
        }
    }
    if scale == Scale::Tiny {
        tiny(&mut t);
        merge(&mut t, &file.tiny);
    }
    t.insert("name".into(), toml::Value::String(r.name.clone()));
    t
}

fn apply(cfg: &mut TrainConfig, o: &Overrides, seed: u64) {
    if let Some(d) = o.dataset {
        cfg.data.dataset = d;
    }
    if o.data_dir.is_some() {
        cfg.data.data_dir = o.data_dir.clone();
    }
    if let Some(e) = o.epochs {
        cfg.epochs = e;
    }
    cfg.seed = seed;
}

/// The source run named by `strategy.source = "run:<name>"`, if any.
fn source_of(t: &toml::Table) -> Option<String> {
    let s = t.get("strategy")?.as_table()?.get("source")?.as_str()?;
    s.strip_prefix("run:").map(String::from)
}

/// The seeds of a plan: the overrides', the scale's, or the base config's own.
fn seeds(file: &ExperimentFile, scale: Scale, o: &Overrides) -> Option<Vec<u64>> {
    o.seeds.clone().or_else(|| {
        (scale != Scale::Paper && !file.quick.seeds.is_empty()).then(|| file.quick.seeds.clone())
    })
}

/// Plans `artifact` at `scale`: every run's checked config and run folder, sources of
/// retraining runs first.
pub fn plan(
    root: &Path,
    artifact: &str,
    scale: Scale,
    layout: &Layout,
    o: &Overrides,
) -> Result<Plan> {
    let path = experiment_path(root, artifact);
    if !path.exists() {
        let names: Vec<String> = crate::experiment::artifacts(root)?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        return Err(Error::msg(format!(
            "unknown artifact `{artifact}`: use one of {}, or all",
            names.join(", ")
        )));
    }
    let file = read_experiment(&path)?;
    let skipped = scale != Scale::Paper && file.quick.skip;
    let seeds = seeds(&file, scale, o);
    let mut runs: Vec<PlannedRun> = Vec::new();
    // Sources first (a stable order otherwise), so their folders are known when a retraining
    // run names them.
    let skips = |r: &RunSpec| skipped || (scale != Scale::Paper && r.skip_quick);
    let not_run: Vec<String> = file
        .runs
        .iter()
        .filter(|r| skips(r))
        .map(|r| r.name.clone())
        .collect();
    let mut specs: Vec<&RunSpec> = file.runs.iter().filter(|r| !skips(r)).collect();
    specs.sort_by_key(|r| source_of(&r.set).is_some());
    for r in specs {
        let table = config_of(&file, r, scale);
        let source = source_of(&table);
        if let Some(src) = &source
            && !file.runs.iter().any(|o| &o.name == src)
        {
            return Err(Error::Experiment {
                path: path.clone(),
                reason: format!(
                    "run `{}` retrains `{src}`, which the experiment does not have",
                    r.name
                ),
            });
        }
        let text = toml::to_string(&table).expect("a table serializes");
        let base = TrainConfig::from_toml(&text)
            .with_context(|| format!("{artifact}: run `{}` at {} scale", r.name, scale.as_str()))?;
        let run_seeds = seeds.clone().unwrap_or_else(|| vec![base.seed]);
        for (k, &seed) in run_seeds.iter().enumerate() {
            let mut cfg = base.clone();
            apply(&mut cfg, o, seed);
            if !o.settings.is_empty() {
                cfg = infoplane_train::apply_settings(&cfg, &o.settings).with_context(|| {
                    format!("{artifact}: run `{}` at {} scale", r.name, scale.as_str())
                })?;
            }
            if let Some(src) = &source {
                let dir = runs
                    .iter()
                    .find(|p| &p.name == src && p.replicate == k)
                    .map(|p| p.dir.clone())
                    .ok_or_else(|| {
                        Error::msg(format!(
                            "{artifact}: `{}` retrains `{src}`, which retrains another run",
                            r.name
                        ))
                    })?;
                set_source(&mut cfg, dir);
            }
            let checked = cfg.check().with_context(|| {
                format!("{artifact}: run `{}` at {} scale", r.name, scale.as_str())
            })?;
            let replicated = (run_seeds.len() > 1).then_some(seed);
            let dir = layout.dir(&r.name, replicated, &checked.config().to_toml());
            runs.push(PlannedRun {
                name: r.name.clone(),
                replicate: k,
                cfg: checked,
                dir,
                after: source.clone().into_iter().collect(),
            });
        }
    }
    let settings: Vec<String> = o.settings.iter().map(|s| s.to_string()).collect();
    Ok(Plan {
        artifact: artifact.to_string(),
        note: scale_note(&file, scale, &settings),
        file,
        scale,
        runs,
        skipped: not_run,
        settings,
    })
}

/// What the scale (and the command line's settings) change, in words, for the reports.
fn scale_note(file: &ExperimentFile, scale: Scale, settings: &[String]) -> String {
    let note = match scale {
        Scale::Paper => "the paper's settings".into(),
        Scale::Quick => file.quick.note.clone(),
        Scale::Tiny => format!(
            "tiny (a pipeline check, not a result): the quick settings shrunk to 256 training samples, at most 2 epochs and width at most x1/8 — {}",
            file.quick.note
        ),
    };
    if settings.is_empty() {
        note
    } else {
        format!(
            "{note}; set on the command line for every run: {}",
            settings.join(", ")
        )
    }
}

fn set_source(cfg: &mut TrainConfig, dir: PathBuf) {
    use infoplane_train::StrategyConfig;
    use infoplane_train::methods::retrain::RetrainConfig;
    if let Some(mut r) = cfg.strategy.params::<RetrainConfig>() {
        r.source = dir;
        cfg.strategy = StrategyConfig::new(&r);
    }
}

/// Every dataset a plan needs is found; otherwise a message saying how to get it.
pub fn check_data(plan: &Plan) -> Result<()> {
    let mut seen = Vec::new();
    for r in &plan.runs {
        let d = r.config().data.dataset;
        if seen.contains(&d) {
            continue;
        }
        seen.push(d);
        infoplane_data::Locator::standard(r.config().data.data_dir.clone())
            .locate(d)
            .with_context(|| {
                format!(
                    "{} at {} scale needs {d} (run `{}`); nothing was written",
                    plan.artifact,
                    plan.scale.as_str(),
                    r.name
                )
            })?;
    }
    Ok(())
}
