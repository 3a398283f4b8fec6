//! Training a plan's runs (finished runs with the same config reused, unfinished ones
//! resumed), collecting what finished, and the toy example's runs computed in-process.

use std::collections::BTreeMap;

use burn::tensor::Device;
use infoplane_train::toy::{ToyConfig, ToyTrace, ToyTraining, run_toy};
use infoplane_train::{OnExisting, RunOptions, RunSummary, StageSummary};

use crate::checks::Evidence;
use crate::experiment::{Scale, ToyKind};
use crate::plan::Plan;

/// What a plan's run folders hold.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    /// The evidence claims are checked on: finished runs by name (one per seed), toy ratios.
    pub evidence: Evidence,
    /// Runs (name, seed) without a folder.
    pub missing: Vec<String>,
    /// Runs whose folder holds no summary (unfinished or failed), with what is there.
    pub unfinished: Vec<(String, String)>,
    /// The toy traces, by name.
    pub toys: BTreeMap<String, ToyTrace>,
}

fn label(name: &str, replicate: usize, seeds: usize) -> String {
    if seeds > 1 {
        format!("{name} (seed {})", replicate + 1)
    } else {
        name.to_string()
    }
}

/// Trains every run of a plan that has not finished; a run that fails is reported and the
/// others go on. Returns the failures.
pub fn execute(plan: &Plan, device: &Device) -> Vec<(String, String)> {
    let mut failed: Vec<(String, String)> = Vec::new();
    let seeds = plan.runs.iter().map(|r| r.replicate + 1).max().unwrap_or(1);
    for (i, r) in plan.runs.iter().enumerate() {
        let name = label(&r.name, r.replicate, seeds);
        if r.after
            .iter()
            .any(|a| failed.iter().any(|(f, _)| f.starts_with(a.as_str())))
        {
            failed.push((name, "its source run failed".into()));
            continue;
        }
        eprintln!(
            "== {} [{}/{}] {} ({}, {}) → {}",
            plan.artifact,
            i + 1,
            plan.runs.len(),
            name,
            r.cfg.label(),
            r.config().data.dataset,
            r.dir.display()
        );
        let res = infoplane_train::run(
            &r.cfg,
            device,
            &r.dir,
            &RunOptions {
                on_existing: OnExisting::ReuseIfSame,
                progress: true,
                // Another reproduction training this run: wait for it, then reuse its result.
                wait_for_lock: true,
                settings: plan.settings.clone(),
                ..Default::default()
            },
        );
        match res {
            Ok(s) => eprintln!(
                "   test accuracy {:.2}%, {:.0} s",
                100.0 * s.test_accuracy,
                s.wall_seconds
            ),
            Err(e) => {
                eprintln!("   failed: {e}");
                failed.push((name, e.to_string()));
            }
        }
    }
    failed
}

/// Collects the runs of a plan from their folders, and computes its toy runs.
pub fn collect(plan: &Plan) -> Collected {
    let mut c = Collected::default();
    let seeds = plan.runs.iter().map(|r| r.replicate + 1).max().unwrap_or(1);
    for r in &plan.runs {
        let name = label(&r.name, r.replicate, seeds);
        if r.dir.join("summary.json").exists() {
            match infoplane_train::read_summary(&r.dir) {
                Ok(s) => c.evidence.add(&r.name, Some(s)),
                Err(e) => {
                    c.evidence.add(&r.name, None);
                    c.unfinished.push((name, e.to_string()));
                }
            }
            continue;
        }
        c.evidence.add(&r.name, None);
        if r.dir.exists() {
            let path = r.dir.join("metrics.jsonl");
            let recorded = if path.exists() {
                match infoplane_train::train_loop::read_metrics_prefix(&path) {
                    Ok((m, None)) => format!("{} epoch(s) recorded", m.len()),
                    Ok((m, Some(bad))) => format!(
                        "{} good epoch line(s), then {}: {bad} (a run stopped while writing; --resume cuts it back to the checkpoint)",
                        m.len(),
                        path.display()
                    ),
                    Err(e) => format!("{e}"),
                }
            } else {
                "no epoch recorded".to_string()
            };
            c.unfinished.push((
                name,
                format!(
                    "no summary.json: {recorded} in {}; continue it with --resume, or see its log",
                    r.dir.display()
                ),
            ));
        } else {
            c.missing.push(name);
        }
    }
    for t in &plan.file.toys {
        if let Ok(trace) = toy(t.training, plan.scale) {
            c.evidence
                .rank_ratio
                .insert(t.name.clone(), rank_ratio(&trace));
            c.evidence
                .runs
                .insert(t.name.clone(), vec![Some(toy_summary(&t.name, &trace))]);
            c.toys.insert(t.name.clone(), trace);
        }
    }
    c
}

/// The toy example trained one way (section 4.2; 3,000 steps, 600 at tiny scale).
pub fn toy(kind: ToyKind, scale: Scale) -> infoplane_train::Result<ToyTrace> {
    let cfg = ToyConfig {
        steps: if scale == Scale::Tiny { 600 } else { 3000 },
        ..ToyConfig::default()
    };
    run_toy(
        &cfg,
        match kind {
            ToyKind::LayerwiseLinear => ToyTraining::LayerwiseLinear,
            ToyKind::LayerwiseMlp => ToyTraining::LayerwiseMlp,
            ToyKind::E2e => ToyTraining::EndToEnd,
        },
    )
}

fn rank_ratio(t: &ToyTrace) -> f64 {
    let s = t.sigma.last().copied().unwrap_or([1.0, 0.0]);
    s[1] / s[0].max(1e-12)
}

/// A toy trace as a one-stage run (full-batch nHSIC: no mini-batch noise).
fn toy_summary(name: &str, t: &ToyTrace) -> RunSummary {
    let n = t.nhsic_x.len();
    RunSummary {
        name: name.into(),
        strategy: format!("{:?}", t.training),
        strategy_description: String::new(),
        model_description: "the toy's first layer T = Wx".into(),
        dataset: "rings".into(),
        epochs: 1,
        test_accuracy: t.accuracy.last().copied().unwrap_or(f64::NAN),
        train_accuracy: None,
        wall_seconds: 0.0,
        parameters: 4,
        test_samples: 0,
        stages: vec![StageSummary {
            stage: 1,
            name: "T1".into(),
            role: None,
            steps: t.steps.iter().map(|&s| s as u64).collect(),
            epochs: t.steps.iter().map(|&s| s as f64).collect(),
            nhsic_x: t.nhsic_x.clone(),
            nhsic_x_std: vec![0.0; n],
            nhsic_y: t.nhsic_y.clone(),
            nhsic_y_std: vec![0.0; n],
            nhsic_x_batches: t.nhsic_x.iter().map(|&v| vec![v]).collect(),
            nhsic_y_batches: t.nhsic_y.iter().map(|&v| vec![v]).collect(),
            probe_train_accuracy: None,
            probe_test_accuracy: None,
            head_test_accuracy: None,
        }],
        kernel_convention: None,
        eval_set: None,
        retrained_from: None,
        provenance: Some(infoplane_train::Provenance::current()),
        calibration: None,
    }
}
