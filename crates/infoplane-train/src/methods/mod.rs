//! The training methods, as plug-ins: one file per method, one line in [`METHODS`].
//!
//! A method file holds three things:
//! - its config: a serde struct with `deny_unknown_fields` and defaults, the keys of the
//!   `[strategy]` table next to `kind`;
//! - its checked parameters: [`Method::check`] validates every value once (errors name the
//!   key) and returns a typed parameter struct;
//! - that struct's `init(model, env)`, which builds the strategy's own modules (heads,
//!   projection, label path, …) around any staged model and returns the [`Strategy`].
//!
//! Everything else is generated from the registry: the CLI's help and error texts, the config
//! documentation (`infoplane methods`, `--print-config`), `bench-step`'s choices and the
//! method table.
//!
//! # Adding a method
//!
//! Write `methods/my_method.rs`:
//!
//! ```ignore
//! #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! pub struct MyConfig { #[serde(default)] pub strength: f64 }
//!
//! impl Method for MyConfig {
//!     const KIND: &'static str = "my-method";
//!     const ABOUT: &'static str = "what it trains, in one line";
//!     const PAPER: &'static str = "—";
//!     const KEYS: &'static [(&'static str, &'static str)] = &[("strength", "how strong")];
//!     type Params = MyParams;
//!     fn label(&self) -> String { "my-method".into() }
//!     fn check(&self) -> Result<MyParams> { /* errors name `strategy.strength` */ }
//! }
//!
//! impl Params for MyParams {
//!     fn label(&self) -> String { "my-method".into() }
//!     fn build(&self, model: StagedModel, env: &BuildEnv) -> Result<Box<dyn Strategy>> {
//!         Ok(Box::new(self.init(model, env)?))
//!     }
//! }
//! ```
//!
//! and add `entry::<my_method::MyConfig>()` to [`METHODS`]. The test module
//! `one_file_method` below is this example compiled and trained (E2E with frozen leading
//! stages, in about fifty lines); another test checks that every method's `KEYS` documents the
//! keys of its config.

pub mod e2e;
pub mod forward_forward;
pub mod forward_gradient;
pub mod layerwise;
pub mod retrain;
pub mod signal_propagation;

use std::fmt::Write as _;
use std::sync::Arc;

use burn::tensor::Device;
use infoplane_data::{Pipeline, Split};
use infoplane_models::{Block, StagedModel};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::{OptimConfig, TrainConfig};
use crate::error::{Result, TrainError};
use crate::strategy::Strategy;

/// When the stages of a layer-wise (or forward-forward) model train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// Every stage at every step (one forward pass, each stage updated by its own loss).
    #[default]
    Simultaneous,
    /// Stage by stage, `epochs` each, earlier stages frozen (figure 12).
    Sequential,
}

/// What a method's strategy is built with besides the model.
#[derive(Debug, Clone)]
pub struct BuildEnv<'a> {
    /// Number of classes.
    pub classes: usize,
    /// Epochs of each phase.
    pub epochs: usize,
    /// The run's seed (initialization of the additions, method-specific draws).
    pub seed: u64,
    /// The optimizer.
    pub optim: &'a OptimConfig,
    /// The device the strategy trains on (an autodiff device).
    pub device: &'a Device,
    /// The training samples and how they become inputs, for methods that read the data when
    /// they are built (forward-forward's class prototypes); `None` on random data.
    pub train: Option<(&'a Split, &'a Pipeline)>,
    /// The run's own config, for methods that compare it with another run's (retraining).
    pub config: Option<&'a TrainConfig>,
}

/// Checked parameters of a method: what builds its strategy around a model.
pub trait Params: std::fmt::Debug + Send + Sync {
    /// A short label for reports: "e2e-ce", "layerwise-sequential-ce", …
    fn label(&self) -> String;
    /// Views of every sample a training batch must hold (2 for the contrastive losses).
    fn views(&self) -> usize {
        1
    }
    /// Phases of the schedule for a model of `stages` stages.
    fn phases(&self, _stages: usize) -> usize {
        1
    }
    /// Checks the method's values against the batch size (errors name `strategy.<key>`).
    fn check_batch(&self, _batch_size: usize) -> Result<()> {
        Ok(())
    }
    /// The strategy over one of the paper's architectures (stages of type [`Block`]). Methods
    /// generic over the stage type also offer `init` on any staged model.
    fn build(&self, model: StagedModel<Block>, env: &BuildEnv<'_>) -> Result<Box<dyn Strategy>>;
}

/// A method's config: the `[strategy]` keys beside `kind`, and how they are checked.
pub trait Method: Serialize + DeserializeOwned + Default + std::fmt::Debug + 'static {
    /// `kind` in the `[strategy]` table.
    const KIND: &'static str;
    /// What the method trains, in one line.
    const ABOUT: &'static str;
    /// Where the paper uses it.
    const PAPER: &'static str;
    /// Every key with its meaning (a test checks that they are exactly the config's keys).
    const KEYS: &'static [(&'static str, &'static str)];
    /// The checked parameters.
    type Params: Params + 'static;
    /// Fills the defaults that depend on other keys (called when a config is read).
    fn resolve(&mut self) {}
    /// A short label for reports.
    fn label(&self) -> String;
    /// Validates every value once; errors name the key (`strategy.<key>`).
    fn check(&self) -> Result<Self::Params>;
}

/// One registered method.
#[derive(Clone, Copy)]
pub struct MethodEntry {
    /// `kind` in the `[strategy]` table.
    pub kind: &'static str,
    /// What it trains.
    pub about: &'static str,
    /// Where the paper uses it.
    pub paper: &'static str,
    /// Its keys and their meaning.
    pub keys: &'static [(&'static str, &'static str)],
    resolve: fn(toml::Table) -> std::result::Result<toml::Table, String>,
    check: fn(&toml::Table) -> Result<Arc<dyn Params>>,
    label: fn(&toml::Table) -> String,
}

impl std::fmt::Debug for MethodEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodEntry")
            .field("kind", &self.kind)
            .finish()
    }
}

fn parse<M: Method>(t: &toml::Table) -> std::result::Result<M, String> {
    M::deserialize(toml::Value::Table(t.clone())).map_err(|e| e.to_string())
}

fn to_table<M: Method>(m: &M) -> toml::Table {
    match toml::Value::try_from(m) {
        Ok(toml::Value::Table(t)) => t,
        _ => unreachable!("a method config serializes to a table"),
    }
}

fn resolve_table<M: Method>(t: toml::Table) -> std::result::Result<toml::Table, String> {
    let mut m = parse::<M>(&t)?;
    m.resolve();
    Ok(to_table(&m))
}

fn check_table<M: Method>(t: &toml::Table) -> Result<Arc<dyn Params>> {
    let m = parse::<M>(t).map_err(|e| TrainError::value("strategy", e))?;
    Ok(Arc::new(m.check()?))
}

fn label_table<M: Method>(t: &toml::Table) -> String {
    parse::<M>(t)
        .map(|m| m.label())
        .unwrap_or_else(|_| M::KIND.to_string())
}

/// The registry entry of a method config type.
pub const fn entry<M: Method>() -> MethodEntry {
    MethodEntry {
        kind: M::KIND,
        about: M::ABOUT,
        paper: M::PAPER,
        keys: M::KEYS,
        resolve: resolve_table::<M>,
        check: check_table::<M>,
        label: label_table::<M>,
    }
}

/// Every method, in the order help texts list them.
pub static METHODS: [MethodEntry; 6] = [
    entry::<e2e::E2eConfig>(),
    entry::<layerwise::LayerwiseConfig>(),
    entry::<signal_propagation::SpConfig>(),
    entry::<retrain::RetrainConfig>(),
    entry::<forward_forward::FfConfig>(),
    entry::<forward_gradient::FgConfig>(),
];

/// The method registered under `kind`.
pub fn method(kind: &str) -> Option<&'static MethodEntry> {
    METHODS.iter().find(|m| m.kind == kind)
}

/// The registered kinds, for error messages and help.
pub fn kinds() -> Vec<&'static str> {
    METHODS.iter().map(|m| m.kind).collect()
}

/// The `[strategy]` table of a run config: a registered `kind` and its resolved keys (every
/// key present, defaults filled). Reading it checks the keys' names and types; the values are
/// checked once by [`StrategyConfig::check`].
#[derive(Clone)]
pub struct StrategyConfig {
    entry: &'static MethodEntry,
    table: toml::Table,
}

impl std::fmt::Debug for StrategyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StrategyConfig({} {:?})", self.entry.kind, self.table)
    }
}

impl PartialEq for StrategyConfig {
    fn eq(&self, other: &Self) -> bool {
        self.entry.kind == other.entry.kind && self.table == other.table
    }
}

impl StrategyConfig {
    /// A strategy table from its keys (`kind` included).
    pub fn from_table(mut t: toml::Table) -> std::result::Result<Self, String> {
        let kind = match t.remove("kind") {
            Some(toml::Value::String(k)) => k,
            Some(_) => return Err("`kind` must be a string".into()),
            None => {
                return Err(format!("missing `kind`: use one of {}", kinds().join(", ")));
            }
        };
        let entry = method(&kind).ok_or_else(|| {
            format!(
                "unknown strategy kind `{kind}`: use one of {}",
                kinds().join(", ")
            )
        })?;
        let table = (entry.resolve)(t).map_err(|e| format!("[strategy] kind = \"{kind}\": {e}"))?;
        Ok(StrategyConfig { entry, table })
    }

    /// A method's config as a strategy table.
    pub fn new<M: Method>(m: &M) -> Self {
        let mut m = parse::<M>(&to_table(m)).expect("a config parses back");
        m.resolve();
        StrategyConfig {
            entry: method(M::KIND).expect("the method is registered"),
            table: to_table(&m),
        }
    }

    /// The kind with default parameters, by name.
    pub fn by_name(kind: &str) -> Option<Self> {
        let mut t = toml::Table::new();
        t.insert("kind".into(), toml::Value::String(kind.into()));
        Self::from_table(t).ok()
    }

    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        self.entry.kind
    }

    /// The registry entry.
    pub fn entry(&self) -> &'static MethodEntry {
        self.entry
    }

    /// The resolved keys (without `kind`).
    pub fn table(&self) -> &toml::Table {
        &self.table
    }

    /// A short label for reports: "e2e-ce", "layerwise-supcon", …
    pub fn label(&self) -> String {
        (self.entry.label)(&self.table)
    }

    /// The method's typed config, when this table is of that method.
    pub fn params<M: Method>(&self) -> Option<M> {
        (self.entry.kind == M::KIND)
            .then(|| parse::<M>(&self.table).ok())
            .flatten()
    }

    /// Validates every value once: the checked parameters that build the strategy.
    pub fn check(&self) -> Result<Arc<dyn Params>> {
        (self.entry.check)(&self.table)
    }
}

impl Default for StrategyConfig {
    fn default() -> Self {
        StrategyConfig::new(&e2e::E2eConfig::default())
    }
}

impl Serialize for StrategyConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.table.len() + 1))?;
        m.serialize_entry("kind", self.entry.kind)?;
        // Plain values first, tables after them (TOML writes sub-tables last).
        for (k, v) in self.table.iter().filter(|(_, v)| !v.is_table()) {
            m.serialize_entry(k, v)?;
        }
        for (k, v) in self.table.iter().filter(|(_, v)| v.is_table()) {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for StrategyConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let t = toml::Table::deserialize(d)?;
        StrategyConfig::from_table(t).map_err(serde::de::Error::custom)
    }
}

/// Every method with its keys and their defaults, as `train --help` and `infoplane methods`
/// print them.
pub fn help() -> String {
    let mut s = String::from(
        "Methods ([strategy] table of a run config; experiments/methods/ has a commented file for each):\n",
    );
    for m in &METHODS {
        let defaults = method_defaults(m);
        let _ = writeln!(
            s,
            "  kind = \"{}\"  {} (paper: {})",
            m.kind, m.about, m.paper
        );
        for (key, meaning) in m.keys {
            let d = defaults
                .get(*key)
                .map(|v| format!(" [default {}]", v.to_string().trim()))
                .unwrap_or_default();
            let _ = writeln!(s, "      {key}: {meaning}{d}");
        }
    }
    s
}

/// The resolved default keys of a method.
pub fn method_defaults(m: &MethodEntry) -> toml::Table {
    (m.resolve)(toml::Table::new()).unwrap_or_default()
}

/// One markdown row per method: kind, what it trains, where the paper uses it.
pub fn markdown_table() -> String {
    let mut s = String::from("| kind | method | paper |\n|---|---|---|\n");
    for m in &METHODS {
        let _ = writeln!(s, "| `{}` | {} | {} |", m.kind, m.about, m.paper);
    }
    s
}

/// Positive and finite, or an error naming `key`.
pub(crate) fn positive(key: &str, v: f64) -> Result<()> {
    if !(v > 0.0 && v.is_finite()) {
        return Err(TrainError::value(
            key,
            format!("{v} must be positive and finite"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_documents_exactly_its_keys() {
        for m in &METHODS {
            let defaults = method_defaults(m);
            let documented: Vec<&str> = m.keys.iter().map(|(k, _)| *k).collect();
            for k in defaults.keys() {
                assert!(
                    documented.contains(&k.as_str()),
                    "{}: `{k}` undocumented",
                    m.kind
                );
            }
        }
    }

    #[test]
    fn unknown_kinds_and_keys_name_them() {
        let e = StrategyConfig::from_table(toml::toml! { kind = "layer-wise" }).unwrap_err();
        assert!(e.contains("layer-wise") && e.contains("layerwise"), "{e}");
        let e = StrategyConfig::from_table(toml::toml! { kind = "e2e"
        temprature = 1.0 })
        .unwrap_err();
        assert!(e.contains("temprature"), "{e}");
    }

    /// The worked example of the module docs, compiled: a method in one file — here E2E
    /// cross-entropy with the first `frozen` stages frozen — parsed, checked and built through
    /// its registry entry, and trained one step.
    mod one_file_method {
        use super::super::e2e::{E2eLoss, E2eParams};
        use super::super::*;
        use crate::strategy::TrainBatch;
        use burn::tensor::{Int, Tensor};

        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct FrozenConfig {
            #[serde(default)]
            pub frozen: usize,
        }

        impl Method for FrozenConfig {
            const KIND: &'static str = "e2e-frozen";
            const ABOUT: &'static str = "E2E cross-entropy with the first stages frozen";
            const PAPER: &'static str = "—";
            const KEYS: &'static [(&'static str, &'static str)] =
                &[("frozen", "leading stages kept at their initialization")];
            type Params = FrozenParams;
            fn label(&self) -> String {
                format!("e2e-frozen-{}", self.frozen)
            }
            fn check(&self) -> Result<FrozenParams> {
                Ok(FrozenParams(self.frozen))
            }
        }

        #[derive(Debug)]
        pub struct FrozenParams(usize);

        impl Params for FrozenParams {
            fn label(&self) -> String {
                format!("e2e-frozen-{}", self.0)
            }
            fn build(
                &self,
                model: StagedModel<Block>,
                env: &BuildEnv<'_>,
            ) -> Result<Box<dyn Strategy>> {
                let p = E2eParams {
                    loss: E2eLoss::Ce,
                    projection: None,
                    frozen_prefix: self.0,
                };
                Ok(Box::new(p.init(model, env)?))
            }
        }

        #[test]
        fn a_new_method_is_one_file_and_a_registry_line() {
            let e = entry::<FrozenConfig>();
            let table = (e.resolve)(toml::toml! { frozen = 2 }).unwrap();
            let params = (e.check)(&table).unwrap();
            assert_eq!(params.label(), "e2e-frozen-2");
            let device = Device::flex().autodiff();
            let model = infoplane_models::ArchConfig::by_name("lenet5")
                .unwrap()
                .init([1, 28, 28], 10, &device)
                .unwrap();
            let optim = crate::config::OptimConfig::default();
            let env = BuildEnv {
                classes: 10,
                epochs: 1,
                seed: 0,
                optim: &optim,
                device: &device,
                train: None,
                config: None,
            };
            let mut s = params.build(model, &env).unwrap();
            s.enter_phase(0).unwrap();
            let x = Tensor::<4>::ones([4, 1, 28, 28], &device);
            let y = Tensor::<1, Int>::from_data([0i64, 1, 2, 3], &device);
            let r = s.step(TrainBatch { x, y, views: 1 }, 1e-3).unwrap();
            assert!(r.loss.is_finite());
            assert!(s.describe().contains("first 2 stages frozen"));
        }
    }

    #[test]
    fn tables_round_trip() {
        for m in &METHODS {
            if m.kind == "retrain" {
                continue;
            }
            let s = StrategyConfig::by_name(m.kind).expect(m.kind);
            let text = toml::to_string(&s).unwrap();
            let back: StrategyConfig = toml::from_str(&text).unwrap();
            assert_eq!(back, s, "{text}");
        }
    }
}
