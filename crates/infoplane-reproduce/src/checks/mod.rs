//! The vocabulary in which the paper's claims are checked: a small set of typed tests over
//! named runs and stages, each with its noise rule ([`crate::reading`]) and an evidence line
//! that prints the effect sizes. An experiment file writes a claim's requirements as tables:
//!
//! ```toml
//! [[claim.require]]
//! test = "plane"               # what nHSIC did over training
//! run = "resnet18-e2e-ce"
//! stages = "middle"            # all | first | last | middle | output-side | not-first | T3 | T2..T5
//! series = "both"              # x | y | both | either
//! shape = "fell"               # rose | fell | rise-then-fall | fell-from-start | no-fall | held | flat | bottleneck
//! count = "most"               # all | most | any | none | all-or-none
//! ```
//!
//! Stage groups: `first` is T1, `last` is TL, `output-side` the last two, `middle` everything
//! between the first and the output side, `not-first` all but T1.

use std::collections::BTreeMap;

use infoplane_train::RunSummary;
#[cfg(test)]
use infoplane_train::StageSummary;
use serde::{Deserialize, Serialize};

mod evaluate;

pub use evaluate::{pct, saturation_layer, time_to_90};

use crate::reading::{Reading, Shape};

/// Which stages of a run a test looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Stages {
    /// Every stage.
    All,
    /// T1.
    First,
    /// TL.
    Last,
    /// The last two.
    OutputSide,
    /// Between the first and the output side.
    Middle,
    /// All but T1.
    NotFirst,
    /// T(a)..T(b), 1-based and inclusive.
    Range(usize, usize),
}

impl TryFrom<String> for Stages {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let t = |x: &str| -> Option<usize> { x.strip_prefix('T')?.parse().ok().filter(|&k| k > 0) };
        Ok(match s.as_str() {
            "all" => Stages::All,
            "first" => Stages::First,
            "last" => Stages::Last,
            "output-side" => Stages::OutputSide,
            "middle" => Stages::Middle,
            "not-first" => Stages::NotFirst,
            other => match other.split_once("..") {
                Some((a, b)) => match (t(a), t(b)) {
                    (Some(a), Some(b)) if a <= b => Stages::Range(a, b),
                    _ => return Err(format!("stages `{other}`: write T<a>..T<b> with a ≤ b")),
                },
                None => match t(other) {
                    Some(k) => Stages::Range(k, k),
                    None => {
                        return Err(format!(
                            "stages `{other}`: use all, first, last, middle, output-side, not-first, T<k> or T<a>..T<b>"
                        ));
                    }
                },
            },
        })
    }
}

impl From<Stages> for String {
    fn from(s: Stages) -> String {
        match s {
            Stages::All => "all".into(),
            Stages::First => "first".into(),
            Stages::Last => "last".into(),
            Stages::OutputSide => "output-side".into(),
            Stages::Middle => "middle".into(),
            Stages::NotFirst => "not-first".into(),
            Stages::Range(a, b) if a == b => format!("T{a}"),
            Stages::Range(a, b) => format!("T{a}..T{b}"),
        }
    }
}

impl Stages {
    /// The 0-based indices among `n` stages; `Err` when the group names stages the run does
    /// not have.
    pub fn indices(&self, n: usize) -> Result<Vec<usize>, String> {
        let out_side = n.saturating_sub(2).max(1);
        Ok(match *self {
            Stages::All => (0..n).collect(),
            Stages::First => vec![0],
            Stages::Last => vec![n - 1],
            Stages::OutputSide => (n.saturating_sub(2)..n).collect(),
            Stages::Middle => (1..out_side).collect(),
            Stages::NotFirst => (1..n).collect(),
            Stages::Range(a, b) if b <= n => (a - 1..b).collect(),
            Stages::Range(_, b) => {
                return Err(format!("T{b} does not exist: the run has {n} stages"));
            }
        })
    }

    /// Words in evidence ("middle layers").
    pub fn words(&self) -> String {
        match self {
            Stages::All => "all layers".into(),
            Stages::First => "the first layer".into(),
            Stages::Last => "the last layer".into(),
            Stages::OutputSide => "the output-side layers".into(),
            Stages::Middle => "the middle layers".into(),
            Stages::NotFirst => "every layer after the first".into(),
            r => String::from(r.clone()),
        }
    }
}

/// Which nHSIC series a plane test reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeriesSel {
    /// nHSIC(X;T).
    X,
    /// nHSIC(Y;T).
    Y,
    /// Both must show the shape.
    Both,
    /// At least one must.
    Either,
}

/// The shape a plane test asks for (see [`crate::reading`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wanted {
    /// Rose, without a fall.
    Rose,
    /// Fell (wherever the fall happened).
    Fell,
    /// Rose then fell.
    RiseThenFall,
    /// Fell without a rise before.
    FellFromStart,
    /// No fall.
    NoFall,
    /// Held within 5% of its maximum.
    Held,
    /// Neither rose nor fell.
    Flat,
    /// nHSIC(X;T) fell while nHSIC(Y;T) was held (the information-bottleneck behaviour).
    Bottleneck,
}

impl Wanted {
    fn holds(self, r: &Reading) -> bool {
        match self {
            Wanted::Rose => r.shape == Shape::Rose,
            Wanted::Fell => r.shape.fell(),
            Wanted::RiseThenFall => r.shape == Shape::RiseThenFall,
            Wanted::FellFromStart => r.shape == Shape::FellFromStart,
            Wanted::NoFall => !r.shape.fell(),
            Wanted::Held => r.held(),
            Wanted::Flat => r.shape == Shape::Flat,
            Wanted::Bottleneck => unreachable!("read on both series"),
        }
    }

    fn words(self) -> &'static str {
        match self {
            Wanted::Rose => "a rise without a fall",
            Wanted::Fell => "a fall",
            Wanted::RiseThenFall => "a rise then a fall",
            Wanted::FellFromStart => "a fall from the start",
            Wanted::NoFall => "no fall",
            Wanted::Held => "nHSIC held within 5% of its maximum",
            Wanted::Flat => "no change",
            Wanted::Bottleneck => "nHSIC(X;T) falling while nHSIC(Y;T) is held",
        }
    }
}

/// How many of the selected items must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Count {
    /// Every one (and at least one).
    All,
    /// More than half.
    Most,
    /// At least one.
    Any,
    /// None.
    None,
    /// Every one or none (uniform).
    AllOrNone,
}

impl Count {
    /// Whether `k` of `n` satisfies the quantifier.
    pub fn holds(self, k: usize, n: usize) -> bool {
        match self {
            Count::All => n > 0 && k == n,
            Count::Most => 2 * k > n,
            Count::Any => k > 0,
            Count::None => k == 0,
            Count::AllOrNone => k == 0 || k == n,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Count::All => "all",
            Count::Most => "most",
            Count::Any => "at least one",
            Count::None => "none",
            Count::AllOrNone => "all or none",
        }
    }
}

/// An order between two numbers with noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    /// The first is higher beyond the noise.
    Higher,
    /// The first is lower beyond the noise.
    Lower,
    /// Within the noise.
    Alike,
    /// Not lower beyond the noise (higher or alike): "no improvement" read from the other side.
    NotLower,
}

impl Relation {
    fn holds(self, order: Option<bool>) -> bool {
        match self {
            Relation::Higher => order == Some(true),
            Relation::Lower => order == Some(false),
            Relation::Alike => order.is_none(),
            Relation::NotLower => order != Some(false),
        }
    }

    fn words(self) -> &'static str {
        match self {
            Relation::Higher => "higher beyond 2 SE",
            Relation::Lower => "lower beyond 2 SE",
            Relation::Alike => "alike (within 2 SE)",
            Relation::NotLower => "not lower beyond 2 SE",
        }
    }
}

/// Which point of two series a comparison reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum At {
    /// The first point after training began.
    Early,
    /// The last point.
    End,
}

/// Train or test samples (probes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// The probe's training samples.
    Train,
    /// The test split.
    Test,
}

/// One test of a claim, over named runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "test", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Requirement {
    /// What the nHSIC series of the selected stages did over training.
    Plane {
        /// The run.
        run: String,
        /// The stages.
        stages: Stages,
        /// Which series.
        series: SeriesSel,
        /// The shape asked for.
        shape: Wanted,
        /// How many stages must show it.
        count: Count,
    },
    /// nHSIC of two runs compared stage by stage at a point (paired by mini-batch).
    PlaneCompare {
        /// First run.
        a: String,
        /// Second run.
        b: String,
        /// The stages.
        stages: Stages,
        /// X or Y.
        series: SeriesSel,
        /// Which point.
        at: At,
        /// a against b.
        relation: Relation,
        /// How many stages.
        count: Count,
    },
    /// Two runs' series have the same shape stage by stage (both series).
    Alike {
        /// First run.
        a: String,
        /// Second run.
        b: String,
        /// The stages.
        stages: Stages,
        /// How many stages.
        count: Count,
    },
    /// Test accuracies of pairs of runs.
    Accuracy {
        /// (a, b) pairs.
        pairs: Vec<(String, String)>,
        /// a against b.
        relation: Relation,
        /// How many pairs.
        count: Count,
    },
    /// Probe accuracy of the selected stages against a threshold.
    Probe {
        /// The run.
        run: String,
        /// The stages.
        stages: Stages,
        /// Train or test.
        split: Split,
        /// The accuracy must be at least this.
        at_least: Option<f64>,
        /// The accuracy must be below this.
        below: Option<f64>,
        /// How many stages.
        count: Count,
    },
    /// Probe accuracies of two runs compared stage by stage.
    ProbeCompare {
        /// First run.
        a: String,
        /// Second run.
        b: String,
        /// The stages.
        stages: Stages,
        /// Train or test.
        split: Split,
        /// a against b.
        relation: Relation,
        /// How many stages.
        count: Count,
    },
    /// The train–test gap of the last stage's probe, a against b.
    ProbeGap {
        /// First run.
        a: String,
        /// Second run.
        b: String,
        /// a's gap against b's ("lower": a's gap is smaller).
        relation: Relation,
    },
    /// The layer from which probe test accuracy stays within a point of its best comes
    /// earlier in one run than in another.
    Saturation {
        /// The run that saturates earlier.
        earlier: String,
        /// The other.
        than: String,
    },
    /// One run's series reaches 90% of its final change later than another's.
    Slower {
        /// The slower run.
        a: String,
        /// The other.
        b: String,
        /// X or Y.
        series: SeriesSel,
        /// The stages.
        stages: Stages,
        /// How many stages.
        count: Count,
    },
    /// Run a's series are closer to a reference run's than run b's are.
    Closer {
        /// The closer run.
        a: String,
        /// The other.
        b: String,
        /// The reference.
        reference: String,
    },
    /// Retraining moves accuracy by less than half the gap to the reference, which stays
    /// higher.
    RetrainGain {
        /// The retrained run.
        retrained: String,
        /// Its source.
        source: String,
        /// The reference (E2E).
        reference: String,
    },
    /// The accuracy of all layers' prediction is below the first layer's alone
    /// (forward-forward's per-depth accuracy).
    DepthAccuracy {
        /// The runs.
        runs: Vec<String>,
        /// How many runs.
        count: Count,
    },
    /// The toy's σ₂/σ₁ at the end: below `below` for the collapsed runs, above `above` for
    /// the others.
    RankCollapse {
        /// Runs whose W collapses.
        collapsed: Vec<String>,
        /// Runs whose W keeps its rank.
        kept: Vec<String>,
        /// Collapse threshold.
        below: f64,
        /// Rank-kept threshold.
        above: f64,
    },
}

/// The runs a claim reads, by name (one summary per seed), and the toy's singular-value
/// ratios.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Every run's replicates in seed order (`None`: that seed did not finish).
    pub runs: BTreeMap<String, Vec<Option<RunSummary>>>,
    /// σ₂/σ₁ at the end of every toy run.
    pub rank_ratio: BTreeMap<String, f64>,
}

/// The outcome of one requirement for one replicate.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Whether it holds.
    pub holds: bool,
    /// What was measured, with effect sizes.
    pub evidence: String,
}

impl Evidence {
    /// Adds the next replicate of a run.
    pub fn add(&mut self, name: &str, summary: Option<RunSummary>) {
        self.runs.entry(name.to_string()).or_default().push(summary);
    }

    /// Replicate `k` of a run (its only one when it is not replicated).
    pub fn run(&self, name: &str, k: usize) -> Option<&RunSummary> {
        let v = self.runs.get(name)?;
        v.get(if v.len() == 1 { 0 } else { k })?.as_ref()
    }

    /// Replicates of the runs a requirement reads (the most of any of them).
    pub fn replicates(&self, names: &[&str]) -> usize {
        names
            .iter()
            .filter_map(|n| self.runs.get(*n).map(Vec::len))
            .max()
            .unwrap_or(0)
    }
}

impl Requirement {
    /// The runs it reads.
    pub fn runs(&self) -> Vec<&str> {
        use Requirement::*;
        match self {
            Plane { run, .. } | Probe { run, .. } => vec![run],
            PlaneCompare { a, b, .. }
            | Alike { a, b, .. }
            | ProbeCompare { a, b, .. }
            | ProbeGap { a, b, .. }
            | Slower { a, b, .. } => vec![a, b],
            Accuracy { pairs, .. } => pairs.iter().flat_map(|(a, b)| [a.as_str(), b]).collect(),
            Saturation { earlier, than } => vec![earlier, than],
            Closer { a, b, reference } => vec![a, b, reference],
            RetrainGain {
                retrained,
                source,
                reference,
            } => vec![retrained, source, reference],
            DepthAccuracy { runs, .. } => runs.iter().map(String::as_str).collect(),
            RankCollapse {
                collapsed, kept, ..
            } => collapsed.iter().chain(kept).map(String::as_str).collect(),
        }
    }

    /// The stage groups it names, with the runs they apply to (for checking experiment files).
    pub fn stage_groups(&self) -> Vec<(&str, &Stages)> {
        use Requirement::*;
        match self {
            Plane { run, stages, .. } | Probe { run, stages, .. } => vec![(run, stages)],
            PlaneCompare { a, b, stages, .. }
            | Alike { a, b, stages, .. }
            | ProbeCompare { a, b, stages, .. }
            | Slower { a, b, stages, .. } => vec![(a, stages), (b, stages)],
            _ => Vec::new(),
        }
    }

    /// Whether it reads information-plane dynamics (whose verdicts depend on training long
    /// enough for the dynamics to appear).
    pub fn reads_planes(&self) -> bool {
        use Requirement::*;
        matches!(
            self,
            Plane { .. } | PlaneCompare { .. } | Alike { .. } | Slower { .. } | Closer { .. }
        )
    }

    /// Evaluates replicate `k`; `Err` names a run that is missing.
    pub fn evaluate(&self, ev: &Evidence, k: usize) -> Result<Outcome, String> {
        if self.reads_planes() {
            self.evaluate_planes(ev, k)
        } else {
            self.evaluate_others(ev, k)
        }
    }

    fn evaluate_planes(&self, ev: &Evidence, k: usize) -> Result<Outcome, String> {
        use Requirement::*;
        use evaluate::*;
        let get = |n: &str| ev.run(n, k).ok_or_else(|| n.to_string());
        match self {
            Plane {
                run,
                stages,
                series,
                shape,
                count,
            } => plane(get(run)?, stages, *series, *shape, *count),
            PlaneCompare {
                a,
                b,
                stages,
                series,
                at,
                relation,
                count,
            } => plane_compare(
                (a, get(a)?),
                (b, get(b)?),
                stages,
                *series,
                *at,
                *relation,
                *count,
            ),
            Alike {
                a,
                b,
                stages,
                count,
            } => alike((a, get(a)?), (b, get(b)?), stages, *count),
            Slower {
                a,
                b,
                series,
                stages,
                count,
            } => slower((a, get(a)?), (b, get(b)?), *series, stages, *count),
            Closer { a, b, reference } => Ok(closer((a, get(a)?), (b, get(b)?), get(reference)?)),
            _ => unreachable!("not a plane test"),
        }
    }

    fn evaluate_others(&self, ev: &Evidence, k: usize) -> Result<Outcome, String> {
        use Requirement::*;
        use evaluate::*;
        let get = |n: &str| ev.run(n, k).ok_or_else(|| n.to_string());
        match self {
            Accuracy {
                pairs,
                relation,
                count,
            } => {
                let runs = pairs
                    .iter()
                    .map(|(a, b)| Ok(((a.as_str(), get(a)?), (b.as_str(), get(b)?))))
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(accuracy(&runs, *relation, *count))
            }
            Probe {
                run,
                stages,
                split,
                at_least,
                below,
                count,
            } => probe(get(run)?, stages, *split, (*at_least, *below), *count),
            ProbeCompare {
                a,
                b,
                stages,
                split,
                relation,
                count,
            } => probe_compare(
                (a, get(a)?),
                (b, get(b)?),
                stages,
                *split,
                *relation,
                *count,
            ),
            ProbeGap { a, b, relation } => Ok(probe_gap((a, get(a)?), (b, get(b)?), *relation)),
            Saturation { earlier, than } => {
                Ok(saturation((earlier, get(earlier)?), (than, get(than)?)))
            }
            RetrainGain {
                retrained,
                source,
                reference,
            } => Ok(retrain_gain(get(retrained)?, get(source)?, get(reference)?)),
            DepthAccuracy { runs, count } => {
                let r = runs
                    .iter()
                    .map(|n| Ok((n.as_str(), get(n)?)))
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(depth_accuracy(&r, *count))
            }
            RankCollapse {
                collapsed,
                kept,
                below,
                above,
            } => rank_collapse(ev, collapsed, kept, *below, *above),
            _ => unreachable!("a plane test"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(i: usize, x: &[f64], y: &[f64]) -> StageSummary {
        StageSummary {
            stage: i,
            name: format!("s{i}"),
            role: None,
            steps: (0..x.len() as u64).collect(),
            epochs: (0..x.len()).map(|e| e as f64).collect(),
            nhsic_x: x.to_vec(),
            nhsic_x_std: vec![0.01; x.len()],
            nhsic_y: y.to_vec(),
            nhsic_y_std: vec![0.01; y.len()],
            nhsic_x_batches: Vec::new(),
            nhsic_y_batches: Vec::new(),
            probe_train_accuracy: None,
            probe_test_accuracy: None,
            head_test_accuracy: None,
        }
    }

    fn run(name: &str, acc: f64, stages: Vec<StageSummary>) -> RunSummary {
        let mut r: RunSummary = serde_json::from_value(serde_json::json!({
            "name": name, "strategy": "s", "dataset": "fashion-mnist", "epochs": 3,
            "test_accuracy": acc, "train_accuracy": acc, "wall_seconds": 1.0,
            "test_samples": 2000, "stages": [], "kernel_convention": null,
        }))
        .unwrap();
        r.stages = stages;
        r
    }

    fn req(text: &str) -> Requirement {
        toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn stage_groups_select_by_position() {
        let s = |t: &str| Stages::try_from(t.to_string()).unwrap();
        assert_eq!(s("middle").indices(9).unwrap(), (1..7).collect::<Vec<_>>());
        assert_eq!(s("output-side").indices(9).unwrap(), vec![7, 8]);
        assert_eq!(s("middle").indices(5).unwrap(), vec![1, 2]);
        assert_eq!(s("T2..T4").indices(5).unwrap(), vec![1, 2, 3]);
        assert!(s("T6").indices(5).is_err());
        assert!(Stages::try_from("centre".to_string()).is_err());
    }

    #[test]
    fn quantifiers_and_both_series_mean_what_they_say() {
        let rise = [1.0, 2.0, 3.0];
        let fall = [3.0, 2.0, 1.0];
        let mut ev = Evidence::default();
        // Stage 1: both fall; stage 2: only X falls; stage 3: neither.
        ev.add(
            "r",
            Some(run(
                "r",
                0.9,
                vec![
                    stage(1, &fall, &fall),
                    stage(2, &fall, &rise),
                    stage(3, &rise, &rise),
                ],
            )),
        );
        let fell = |series: &str, count: &str| {
            req(&format!(
                "test = \"plane\"\nrun = \"r\"\nstages = \"all\"\nseries = \"{series}\"\nshape = \"fell\"\ncount = \"{count}\""
            ))
            .evaluate(&ev, 0)
            .unwrap()
            .holds
        };
        assert!(fell("both", "any") && !fell("both", "most"));
        assert!(fell("either", "most") && !fell("either", "all"));
        assert!(fell("x", "most") && !fell("y", "most"));
        assert!(!fell("both", "none") && !fell("both", "all-or-none"));
        let rose = |count: &str| {
            req(&format!(
                "test = \"plane\"\nrun = \"r\"\nstages = \"T3\"\nseries = \"both\"\nshape = \"rose\"\ncount = \"{count}\""
            ))
            .evaluate(&ev, 0)
            .unwrap()
            .holds
        };
        assert!(rose("all"));
    }

    #[test]
    fn missing_runs_and_unknown_keys_are_named() {
        let r = req(
            "test = \"accuracy\"\npairs = [[\"a\", \"b\"]]\nrelation = \"higher\"\ncount = \"all\"",
        );
        assert_eq!(r.evaluate(&Evidence::default(), 0).unwrap_err(), "a");
        let e = toml::from_str::<Requirement>(
            "test = \"plane\"\nrun = \"r\"\nstages = \"all\"\nseries = \"x\"\nshape = \"fell\"\ncount = \"all\"\ntypo = 1",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("typo"), "{e}");
    }

    #[test]
    fn accuracy_pairs_use_the_one_rule() {
        let mut ev = Evidence::default();
        ev.runs
            .insert("a".into(), vec![Some(run("a", 0.90, vec![]))]);
        ev.runs
            .insert("b".into(), vec![Some(run("b", 0.80, vec![]))]);
        ev.runs
            .insert("c".into(), vec![Some(run("c", 0.905, vec![]))]);
        let rel = |pairs: &str, relation: &str| {
            req(&format!(
                "test = \"accuracy\"\npairs = {pairs}\nrelation = \"{relation}\"\ncount = \"all\""
            ))
            .evaluate(&ev, 0)
            .unwrap()
        };
        assert!(rel("[[\"a\", \"b\"]]", "higher").holds);
        assert!(rel("[[\"a\", \"c\"]]", "alike").holds);
        let o = rel("[[\"a\", \"b\"], [\"a\", \"c\"]]", "higher");
        assert!(!o.holds && o.evidence.contains("1 of 2"), "{}", o.evidence);
    }
}
