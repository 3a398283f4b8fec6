//! The paper's claims as data: each quoted verbatim with its setting and the line of the
//! paper's text, and checked by the typed requirements of [`crate::checks`]. A verdict is a
//! measurement: it prints the effect sizes, counts seeds ("k of N seeds"), says "not shown"
//! where the premise of a claim is absent in our runs, "not comparable" where our setting is
//! not the claim's, and where our scale limits a reading of training dynamics.
//!
//! Our copy of the paper lost its inline mathematics; where a quote had a symbol, the symbol
//! we restored stands in square brackets.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::checks::{Evidence, Requirement};

/// A claim of the paper and how it is checked (`[[claim]]` of an experiment file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// A short identifier, unique within the artifact.
    pub id: String,
    /// The artifact of the paper it is about ("figure 3(a)").
    pub figure: String,
    /// The paper's setting: model, dataset, methods.
    pub setting: String,
    /// The words of the paper (restored symbols in square brackets).
    pub quote: String,
    /// Line of the paper's text file.
    pub line: usize,
    /// Datasets the claim is about (empty: any); on others the verdict is "not comparable".
    #[serde(default)]
    pub datasets: Vec<String>,
    /// What must be there for the claim to be tested (a contrast's baseline); when it is not,
    /// the verdict is "not shown".
    #[serde(default)]
    pub premise: Vec<Requirement>,
    /// What must hold for agreement.
    pub require: Vec<Requirement>,
}

impl Claim {
    /// Every run the claim reads.
    pub fn runs(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .premise
            .iter()
            .chain(&self.require)
            .flat_map(Requirement::runs)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// What our numbers say of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Our numbers show the same.
    Agree,
    /// Our numbers show otherwise.
    Disagree,
    /// The claim's premise is absent in our runs, or the seeds split.
    NotShown,
    /// Our setting is not the claim's, or its runs did not finish.
    NotComparable,
}

impl Verdict {
    /// Word in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Agree => "agree",
            Verdict::Disagree => "disagree",
            Verdict::NotShown => "not shown",
            Verdict::NotComparable => "not comparable",
        }
    }
}

/// A claim with our verdict and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The claim.
    pub claim: Claim,
    /// Our verdict.
    pub verdict: Verdict,
    /// Seeds checked.
    pub seeds: usize,
    /// Seeds that agree.
    pub agree: usize,
    /// The computed evidence, seed by seed, with effect sizes.
    pub evidence: String,
    /// Where our scale limits a reading of dynamics.
    pub scale: Option<String>,
}

/// The verdict of one seed: its verdict and what was measured.
fn one_seed(claim: &Claim, ev: &Evidence, k: usize) -> Result<(Verdict, String), Vec<String>> {
    let mut missing = Vec::new();
    let mut lines = Vec::new();
    let mut premise_ok = true;
    for r in &claim.premise {
        match r.evaluate(ev, k) {
            Ok(o) => {
                premise_ok &= o.holds;
                lines.push(format!("Premise — {}", o.evidence));
            }
            Err(run) => missing.push(run),
        }
    }
    let mut holds = true;
    for r in &claim.require {
        match r.evaluate(ev, k) {
            Ok(o) => {
                holds &= o.holds;
                lines.push(o.evidence);
            }
            Err(run) => missing.push(run),
        }
    }
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return Err(missing);
    }
    let v = match (premise_ok, holds) {
        (false, _) => Verdict::NotShown,
        (true, true) => Verdict::Agree,
        (true, false) => Verdict::Disagree,
    };
    Ok((v, lines.join(" ")))
}

/// A run whose training accuracy at the end is below 99% when the claim reads training
/// dynamics: the paper's compression comes late, after the training set is fit.
fn scale_limit(claim: &Claim, ev: &Evidence) -> Option<String> {
    if !claim
        .require
        .iter()
        .chain(&claim.premise)
        .any(Requirement::reads_planes)
    {
        return None;
    }
    let short: Vec<String> = claim
        .runs()
        .into_iter()
        .filter_map(|n| {
            let r = ev.run(n, 0)?;
            let a = r.train_accuracy?;
            (a < 0.99).then(|| format!("`{n}` {:.2}%", 100.0 * a))
        })
        .collect();
    (!short.is_empty()).then(|| {
        format!(
            "limited by scale: training accuracy at the end {} (below 99%); the paper reads its dynamics over training well past fitting the training set",
            short.join(", ")
        )
    })
}

/// Checks a claim against the evidence, seed by seed. `dataset` is the dataset of the
/// claim's runs (for [`Claim::datasets`]).
pub fn check(claim: &Claim, ev: &Evidence) -> Finding {
    let finding = |verdict, seeds, agree, evidence: String| Finding {
        claim: claim.clone(),
        verdict,
        seeds,
        agree,
        evidence,
        scale: (verdict != Verdict::NotComparable)
            .then(|| scale_limit(claim, ev))
            .flatten(),
    };
    let names = claim.runs();
    if !claim.datasets.is_empty()
        && let Some(r) = names.first().and_then(|n| ev.run(n, 0))
        && !claim.datasets.contains(&r.dataset)
    {
        return finding(
            Verdict::NotComparable,
            0,
            0,
            format!(
                "The paper's setting is {} ({}); these runs are on {}.",
                claim.datasets.join(" or "),
                claim.setting,
                r.dataset
            ),
        );
    }
    let n = ev.replicates(&names).max(1);
    let mut verdicts = Vec::new();
    let mut lines = Vec::new();
    for k in 0..n {
        match one_seed(claim, ev, k) {
            Ok((v, e)) => {
                if n > 1 {
                    lines.push(format!("Seed {}: {} — {e}", k + 1, v.as_str()));
                } else {
                    lines.push(e);
                }
                verdicts.push(v);
            }
            Err(missing) => {
                return finding(
                    Verdict::NotComparable,
                    0,
                    0,
                    format!(
                        "Not checked: the run(s) {} were not run or did not finish at this scale.",
                        missing.join(", ")
                    ),
                );
            }
        }
    }
    let count = |v: Verdict| verdicts.iter().filter(|&&x| x == v).count();
    let agree = count(Verdict::Agree);
    let verdict = if 2 * agree > n {
        Verdict::Agree
    } else if 2 * count(Verdict::Disagree) > n {
        Verdict::Disagree
    } else {
        Verdict::NotShown
    };
    let mut evidence = String::new();
    if n > 1 {
        let _ = write!(evidence, "{agree} of {n} seeds agree. ");
    }
    evidence.push_str(&lines.join(" "));
    finding(verdict, n, agree, evidence)
}

/// The findings as a markdown section: a table of verdicts, then the evidence.
pub fn markdown(findings: &[Finding]) -> String {
    let mut r = String::from(
        "| # | the paper's artifact (setting) | the paper says | ours |\n|---|---|---|---|\n",
    );
    for (i, f) in findings.iter().enumerate() {
        let seeds = if f.seeds > 1 {
            format!(" ({} of {} seeds)", f.agree, f.seeds)
        } else {
            String::new()
        };
        let _ = writeln!(
            r,
            "| {} | {} ({}) | \"{}\" (line {}) | **{}**{seeds}{} |",
            i + 1,
            f.claim.figure,
            f.claim.setting,
            f.claim.quote,
            f.claim.line,
            f.verdict.as_str(),
            if f.scale.is_some() { " †" } else { "" }
        );
    }
    if findings.iter().any(|f| f.scale.is_some()) {
        r.push_str("\n† limited by scale (below).\n");
    }
    r.push('\n');
    for (i, f) in findings.iter().enumerate() {
        let _ = writeln!(r, "{}. {}", i + 1, f.evidence);
        if let Some(s) = &f.scale {
            let _ = writeln!(r, "   † {s}.");
        }
    }
    r
}

/// Counts of each verdict: (agree, disagree, not shown, not comparable).
pub fn tally(findings: &[Finding]) -> [usize; 4] {
    let c = |v: Verdict| findings.iter().filter(|f| f.verdict == v).count();
    [
        c(Verdict::Agree),
        c(Verdict::Disagree),
        c(Verdict::NotShown),
        c(Verdict::NotComparable),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use infoplane_train::{RunSummary, StageSummary};

    fn stage(x: &[f64], y: &[f64]) -> StageSummary {
        StageSummary {
            stage: 1,
            name: "s1".into(),
            role: None,
            steps: (0..x.len() as u64).collect(),
            epochs: (0..x.len()).map(|e| e as f64).collect(),
            nhsic_x: x.to_vec(),
            nhsic_x_std: vec![0.0; x.len()],
            nhsic_y: y.to_vec(),
            nhsic_y_std: vec![0.0; y.len()],
            nhsic_x_batches: Vec::new(),
            nhsic_y_batches: Vec::new(),
            probe_train_accuracy: None,
            probe_test_accuracy: None,
            head_test_accuracy: None,
        }
    }

    fn run(name: &str, x: &[f64]) -> RunSummary {
        let mut r: RunSummary = serde_json::from_value(serde_json::json!({
            "name": name, "strategy": "s", "dataset": "mnist-10k", "epochs": 3,
            "test_accuracy": 0.9, "train_accuracy": 1.0, "wall_seconds": 1.0,
            "test_samples": 2000, "stages": [], "kernel_convention": null,
        }))
        .unwrap();
        r.stages = vec![stage(x, x)];
        r
    }

    fn claim(text: &str) -> Claim {
        toml::from_str(&format!(
            "id = \"c\"\nfigure = \"figure 0\"\nsetting = \"s\"\nquote = \"q\"\nline = 1\n{text}"
        ))
        .unwrap()
    }

    const FALL_IN_E: &str = "[[premise]]\ntest = \"plane\"\nrun = \"lw\"\nstages = \"all\"\nseries = \"x\"\nshape = \"fell\"\ncount = \"all\"\n[[require]]\ntest = \"plane\"\nrun = \"e\"\nstages = \"all\"\nseries = \"x\"\nshape = \"no-fall\"\ncount = \"all\"\n";

    #[test]
    fn a_contrast_without_its_baseline_is_not_shown() {
        // "E2E does not compress where layer-wise does": layer-wise does not compress here.
        let mut ev = Evidence::default();
        ev.runs
            .insert("lw".into(), vec![Some(run("lw", &[1.0, 2.0, 3.0]))]);
        ev.runs
            .insert("e".into(), vec![Some(run("e", &[1.0, 2.0, 3.0]))]);
        let f = check(&claim(FALL_IN_E), &ev);
        assert_eq!(f.verdict, Verdict::NotShown, "{}", f.evidence);
        // With the baseline present the contrast is tested.
        ev.runs
            .insert("lw".into(), vec![Some(run("lw", &[1.0, 3.0, 2.0]))]);
        assert_eq!(check(&claim(FALL_IN_E), &ev).verdict, Verdict::Agree);
    }

    #[test]
    fn seeds_are_counted_and_a_split_is_not_shown() {
        let mut ev = Evidence::default();
        for (e, lw) in [[1.0, 2.0, 3.0], [1.0, 3.0, 2.0], [1.0, 2.0, 3.0]]
            .iter()
            .zip([[1.0, 3.0, 2.0]; 3])
        {
            ev.add("e", Some(run("e", e)));
            ev.add("lw", Some(run("lw", &lw)));
        }
        let f = check(&claim(FALL_IN_E), &ev);
        assert_eq!((f.verdict, f.agree, f.seeds), (Verdict::Agree, 2, 3));
        assert!(
            f.evidence.starts_with("2 of 3 seeds agree"),
            "{}",
            f.evidence
        );
        assert!(f.evidence.contains("Seed 2: disagree"), "{}", f.evidence);
    }

    #[test]
    fn missing_runs_and_other_datasets_are_not_comparable() {
        let ev = Evidence::default();
        let f = check(&claim(FALL_IN_E), &ev);
        assert_eq!(f.verdict, Verdict::NotComparable);
        assert!(f.evidence.contains("did not finish"));
        let mut ev = Evidence::default();
        ev.runs
            .insert("lw".into(), vec![Some(run("lw", &[1.0, 3.0, 2.0]))]);
        ev.runs
            .insert("e".into(), vec![Some(run("e", &[1.0, 2.0, 3.0]))]);
        let f = check(
            &claim(&format!("datasets = [\"cifar10\"]\n{FALL_IN_E}")),
            &ev,
        );
        assert_eq!(f.verdict, Verdict::NotComparable);
        assert!(f.evidence.contains("mnist-10k"), "{}", f.evidence);
    }
}
