//! Experiment files and run plans.
//!
//! An artifact's experiment file (`experiments/<artifact>.toml`) holds the paper-scale settings
//! shared by its runs (`[base]`, a partial run config), its runs (`[[run]]`, each a name and
//! the keys it sets), and the quick scale (`[quick]`: the offline dataset that replaces each of
//! the paper's, and the keys that shrink the runs to minutes on two CPU cores). A run's config
//! is `[base]`, then the run's `set`, then — at quick scale — `[quick] set` and the run's own
//! `quick` keys, merged table by table; the result is a complete run config, checked like any
//! other. A retraining run names its source as `strategy.source = "run:<name>"`: the run of
//! the same artifact, which the plan trains first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use infoplane_train::TrainConfig;
use serde::Deserialize;

/// How big the runs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Offline data, reduced width and epochs: minutes on two CPU cores.
    Quick,
    /// The paper's data and settings.
    Paper,
    /// The quick scale shrunk to seconds, for tests.
    Tiny,
}

impl Scale {
    /// Name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Quick => "quick",
            Scale::Paper => "paper",
            Scale::Tiny => "tiny",
        }
    }

    /// Parses `quick`, `paper` or `tiny`.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "quick" => Scale::Quick,
            "paper" => Scale::Paper,
            "tiny" => Scale::Tiny,
            other => bail!("--scale `{other}`: use quick or paper"),
        })
    }
}

/// `[quick]` of an experiment file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickSpec {
    /// What the quick scale changes, in words (for the report).
    #[serde(default)]
    pub note: String,
    /// Paper dataset → offline dataset.
    #[serde(default)]
    pub datasets: BTreeMap<String, String>,
    /// Keys set on every run at quick scale.
    #[serde(default)]
    pub set: toml::Table,
    /// No run at quick scale (the note says why).
    #[serde(default)]
    pub skip: bool,
}

/// One `[[run]]` of an experiment file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// The run's name (its folder under `runs/`).
    pub name: String,
    /// Keys set on `[base]`.
    #[serde(default)]
    pub set: toml::Table,
    /// Keys set at quick scale only.
    #[serde(default)]
    pub quick: toml::Table,
}

/// An experiment file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    /// The artifact's title.
    pub title: String,
    /// The paper-scale settings shared by the runs.
    #[serde(default)]
    pub base: toml::Table,
    /// The quick scale.
    #[serde(default)]
    pub quick: QuickSpec,
    /// The runs.
    #[serde(default, rename = "run")]
    pub runs: Vec<RunSpec>,
}

/// One run of a plan.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// Its name.
    pub name: String,
    /// Its resolved config.
    pub cfg: TrainConfig,
    /// Its run folder.
    pub dir: PathBuf,
    /// Runs that must finish first (retraining sources).
    pub after: Vec<String>,
}

/// Where the run folders of a plan go.
#[derive(Debug, Clone)]
pub enum Layout {
    /// `<results>/runs/<name>-<hash of the config>`: artifacts that train the same config
    /// share one run (reproductions).
    Pool(PathBuf),
    /// `<dir>/<name>` (sweeps).
    Flat(PathBuf),
}

impl Layout {
    fn dir(&self, name: &str, cfg_text: &str) -> PathBuf {
        match self {
            Layout::Pool(root) => root.join("runs").join(format!(
                "{name}-{:08x}",
                infoplane_train::init::stable_hash(cfg_text) as u32
            )),
            Layout::Flat(root) => root.join(name),
        }
    }
}

/// The runs of an artifact at a scale.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The artifact.
    pub artifact: String,
    /// Its title.
    pub title: String,
    /// The scale.
    pub scale: Scale,
    /// What the scale changes, in words.
    pub note: String,
    /// The runs in the order they can be trained.
    pub runs: Vec<PlannedRun>,
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

/// The experiment file of `artifact` under `root/experiments/`.
pub fn experiment_path(root: &Path, artifact: &str) -> PathBuf {
    root.join("experiments").join(format!("{artifact}.toml"))
}

/// Reads an experiment file.
pub fn read_experiment(path: &Path) -> Result<ExperimentFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the experiment file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{}", path.display()))
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
    // Narrow every architecture further.
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
    }
    t.insert("name".into(), toml::Value::String(r.name.clone()));
    t
}

/// Plans `artifact` at `scale`: every run's resolved config and run folder, sources of
/// retraining runs first.
pub fn plan(root: &Path, artifact: &str, scale: Scale, layout: &Layout) -> Result<Plan> {
    let file = read_experiment(&experiment_path(root, artifact))?;
    let mut tables: Vec<(String, toml::Table, Vec<String>)> = Vec::new();
    let skipped = scale != Scale::Paper && file.quick.skip;
    for r in file.runs.iter().filter(|_| !skipped) {
        let mut t = config_of(&file, r, scale);
        let mut after = Vec::new();
        if let Some(toml::Value::Table(s)) = t.get_mut("strategy")
            && let Some(src) = s.get("source").and_then(|v| v.as_str())
            && let Some(name) = src.strip_prefix("run:")
        {
            if !file.runs.iter().any(|o| o.name == name) {
                bail!(
                    "{artifact}: run `{}` retrains `{name}`, which the experiment does not have",
                    r.name
                );
            }
            after.push(name.to_string());
        }
        tables.push((r.name.clone(), t, after));
    }
    // Sources first (a stable order otherwise), so their folders are known when a retraining
    // run names them.
    tables.sort_by_key(|(_, _, after)| !after.is_empty());
    let mut runs: Vec<PlannedRun> = Vec::new();
    for (name, mut t, after) in tables {
        if let Some(src) = after.first() {
            let dir = runs
                .iter()
                .find(|r| &r.name == src)
                .map(|r| r.dir.clone())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{artifact}: `{name}` retrains `{src}`, which retrains another run"
                    )
                })?;
            if let Some(toml::Value::Table(s)) = t.get_mut("strategy") {
                s.insert(
                    "source".into(),
                    toml::Value::String(dir.display().to_string()),
                );
            }
        }
        let text = toml::to_string(&t).expect("a table serializes");
        let cfg = TrainConfig::from_toml(&text)
            .with_context(|| format!("{artifact}: run `{name}` at {} scale", scale.as_str()))?;
        let dir = layout.dir(&name, &cfg.to_toml());
        runs.push(PlannedRun {
            name,
            cfg,
            dir,
            after,
        });
    }
    Ok(Plan {
        artifact: artifact.to_string(),
        title: file.title,
        scale,
        note: match scale {
            Scale::Paper => "the paper's settings".into(),
            Scale::Quick => file.quick.note.clone(),
            Scale::Tiny => format!(
                "tiny (a pipeline check, not a result): the quick settings shrunk to 256 training samples, at most 2 epochs and width at most x1/8 — {}",
                file.quick.note
            ),
        },
        runs,
    })
}

/// Every dataset a plan needs is found; otherwise a message saying how to get it.
pub fn check_data(plan: &Plan) -> Result<()> {
    let mut seen = Vec::new();
    for r in &plan.runs {
        let d = r.cfg.data.dataset;
        if seen.contains(&d) {
            continue;
        }
        seen.push(d);
        infoplane_data::Locator::standard(r.cfg.data.data_dir.clone())
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
