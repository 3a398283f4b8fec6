//! The paper's artifacts: one experiment file each (`experiments/<artifact>.toml`), planned
//! at a scale ([`plan`]), trained (finished runs reused, unfinished ones resumed), collected,
//! and reported: `results/<artifact>/` with `report.md`, figures (PNG and SVG), `summary.json`
//! and links to the run folders; `results/index.md` and `results/index.html` gather them all.

pub mod checks;
pub mod index;
pub mod plan;
pub mod specs;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use infoplane_train::{OnExisting, RunOptions};

use crate::claims::{self, Finding};
use crate::plot::{Figure, plot, read_run};
use plan::{Layout, Plan, Scale};
use specs::{Collected, Spec, spec};

/// Every artifact, in the order `reproduce all` makes them (cheap ones first; artifacts that
/// share runs next to each other).
pub const ORDER: [&str; 20] = [
    "fig5", "fig3", "fig11", "fig13", "table3", "fig1", "fig6", "fig15", "table2", "fig9", "fig10",
    "fig7", "fig19", "fig12", "fig17", "fig18", "fig16", "fig14", "table1", "table4",
];

/// The repository root (experiments/ lives there).
pub fn repo_root() -> PathBuf {
    // The binary runs from a checkout: the working directory or the source tree it was built in.
    let cwd = std::env::current_dir().unwrap_or_default();
    if cwd.join("experiments").is_dir() {
        return cwd;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Collects the runs of a plan from their folders.
pub fn collect(plan: &Plan) -> Collected {
    let mut c = Collected {
        scale_note: plan.note.clone(),
        ..Default::default()
    };
    for r in &plan.runs {
        if r.dir.join("summary.json").exists() {
            match infoplane_train::read_summary(&r.dir) {
                Ok(s) => {
                    c.runs.insert(r.name.clone(), s);
                }
                Err(e) => c.unfinished.push((r.name.clone(), e.to_string())),
            }
        } else if r.dir.exists() {
            let epochs = infoplane_train::read_metrics(&r.dir.join("metrics.jsonl"))
                .map(|m| m.len())
                .unwrap_or(0);
            c.unfinished.push((
                r.name.clone(),
                format!(
                    "no summary.json: {epochs} epoch(s) recorded in {}; continue it with --resume, or see its log",
                    r.dir.display()
                ),
            ));
        } else {
            c.missing.push(r.name.clone());
        }
    }
    c
}

/// Trains every run of a plan that has not finished (finished runs with the same config are
/// reused, unfinished ones resumed); a run that fails is reported and the others go on.
pub fn execute(plan: &Plan, device: &Device) -> Vec<(String, String)> {
    let mut failed = Vec::new();
    for (i, r) in plan.runs.iter().enumerate() {
        if r.after
            .iter()
            .any(|a| failed.iter().any(|(f, _): &(String, String)| f == a))
        {
            failed.push((r.name.clone(), "its source run failed".to_string()));
            continue;
        }
        eprintln!(
            "== {} [{}/{}] {} ({}, {}) → {}",
            plan.artifact,
            i + 1,
            plan.runs.len(),
            r.name,
            r.cfg.strategy.label(),
            r.cfg.data.dataset,
            r.dir.display()
        );
        let res = r.cfg.clone().check().and_then(|cfg| {
            infoplane_train::run(
                &cfg,
                device,
                &r.dir,
                &RunOptions {
                    on_existing: OnExisting::ReuseIfSame,
                    progress: true,
                    ..Default::default()
                },
            )
        });
        match res {
            Ok(s) => eprintln!(
                "   test accuracy {:.2}%, {:.0} s",
                100.0 * s.test_accuracy,
                s.wall_seconds
            ),
            Err(e) => {
                eprintln!("   failed: {e}");
                failed.push((r.name.clone(), e.to_string()));
            }
        }
    }
    failed
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Links `out/runs/<name>` to each run folder (relative links when possible).
fn link_runs(plan: &Plan, out: &Path) -> Result<()> {
    let dir = out.join("runs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for r in &plan.runs {
        let link = dir.join(&r.name);
        if link.is_symlink() || link.exists() {
            if link.is_symlink() {
                std::fs::remove_file(&link).ok();
            } else {
                continue;
            }
        }
        let target = std::fs::canonicalize(&r.dir).unwrap_or(r.dir.clone());
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    Ok(())
}

/// What an artifact's report concluded.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The artifact.
    pub artifact: String,
    /// Findings on the paper's claims.
    pub findings: Vec<Finding>,
}

/// Writes `report.md`, the figures and `summary.json` of an artifact from its collected runs.
pub fn report(
    plan: &Plan,
    spec: &Spec,
    c: &Collected,
    out: &Path,
    backend: &str,
    failed: &[(String, String)],
    wall: f64,
) -> Result<Outcome> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut figures = Vec::new();
    let data = |names: &[&str]| -> Result<Vec<crate::plot::RunData>> {
        names
            .iter()
            .filter_map(|n| plan.runs.iter().find(|r| r.name == *n))
            .filter(|r| c.runs.contains_key(&r.name))
            .map(|r| {
                let mut d = read_run(&r.dir)?;
                d.label = r.name.clone();
                Ok(d)
            })
            .collect()
    };
    for (stem, names) in spec.planes {
        let runs = data(names)?;
        if runs.iter().any(|r| !r.points.is_empty()) {
            for ext in ["png", "svg"] {
                figures.push(plot(
                    Figure::InfoPlane,
                    &runs,
                    &out.join(format!("{stem}.{ext}")),
                )?);
            }
        }
    }
    for (stem, names) in spec.probes {
        let runs = data(names)?;
        if runs.iter().any(|r| !r.probes.is_empty()) {
            for ext in ["png", "svg"] {
                figures.push(plot(
                    Figure::Probes,
                    &runs,
                    &out.join(format!("{stem}.{ext}")),
                )?);
            }
        }
    }
    let extra = (spec.extra)(c, out)?;
    let findings = (spec.claims)(c);
    let mut r = String::new();
    let _ = writeln!(r, "# {}: {}\n", plan.artifact, plan.title);
    let _ = writeln!(
        r,
        "Generated by `cargo xtask reproduce {} --scale {}` (`infoplane reproduce {} --scale {}`), backend {backend}, in {:.0} s.\n",
        plan.artifact,
        plan.scale.as_str(),
        plan.artifact,
        plan.scale.as_str(),
        wall
    );
    let _ = writeln!(r, "**Scale: {}** — {}\n", plan.scale.as_str(), plan.note);
    let _ = writeln!(
        r,
        "## Runs\n\n| run | strategy | model | data | epochs | test accuracy | seconds |\n|---|---|---|---|---|---|---|"
    );
    for p in &plan.runs {
        match c.runs.get(&p.name) {
            Some(s) => {
                let _ = writeln!(
                    r,
                    "| `{}` | {} | {} | {} | {} | {} | {:.0} |",
                    p.name,
                    s.strategy,
                    p.cfg.model.name(),
                    s.dataset,
                    s.epochs,
                    checks::pct(s.test_accuracy),
                    s.wall_seconds
                );
            }
            None => {
                let why = failed
                    .iter()
                    .find(|(n, _)| n == &p.name)
                    .map(|(_, e)| format!("failed: {e}"))
                    .or_else(|| {
                        c.unfinished
                            .iter()
                            .find(|(n, _)| n == &p.name)
                            .map(|(_, e)| e.clone())
                    })
                    .unwrap_or_else(|| "not run".into());
                let _ = writeln!(
                    r,
                    "| `{}` | {} | {} | {} | — | {why} | — |",
                    p.name,
                    p.cfg.strategy.label(),
                    p.cfg.model.name(),
                    p.cfg.data.dataset
                );
            }
        }
    }
    let _ = writeln!(r, "\n## Settings\n");
    let finished: Vec<(&infoplane_train::TrainConfig, &infoplane_train::RunSummary)> = plan
        .runs
        .iter()
        .filter_map(|p| c.runs.get(&p.name).map(|s| (&p.cfg, s)))
        .collect();
    if let Some((cfg, _)) = finished.first() {
        let cfgs: Vec<&infoplane_train::TrainConfig> = finished.iter().map(|(c, _)| *c).collect();
        let sums: Vec<&infoplane_train::RunSummary> = finished.iter().map(|(_, s)| *s).collect();
        r.push_str(&crate::reproduce::settings_lines(&cfgs, &sums, backend));
        let _ = cfg;
    } else {
        let _ = writeln!(r, "No run finished at this scale.");
    }
    let _ = writeln!(
        r,
        "- Every run's resolved config is `config.toml` in its folder under `runs/`."
    );
    if !extra.is_empty() {
        let _ = writeln!(r, "\n{extra}");
    }
    if !figures.is_empty() {
        let _ = writeln!(r, "\n## Figures\n");
        for f in figures
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "png"))
        {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            let _ = writeln!(r, "![{name}]({name})\n");
        }
        let _ = writeln!(
            r,
            "Information planes: one row per run, one panel per stage, x = nHSIC(X;T), y = nHSIC(Y;T), colour from dark (start) to yellow (end). SVG versions beside the PNG files."
        );
    }
    let _ = writeln!(
        r,
        "\n## Reading\n\nComputed from each run's series: a change counts when it exceeds the spread over the evaluation mini-batches; a compression phase is a peak before the end from which the series fell by more than the spread and by more than 10% of its rise; nHSIC(Y;T) is held when its final value is within the larger of its spread and {:.0}% of its peak.\n",
        100.0 * checks::HELD_FRACTION
    );
    for p in &plan.runs {
        if let Some(s) = c.runs.get(&p.name)
            && s.stages.iter().any(|st| !st.nhsic_x.is_empty())
        {
            let _ = writeln!(r, "`{}`:\n{}", p.name, crate::reproduce::read_planes(s));
        }
    }
    let _ = writeln!(
        r,
        "## The paper's claims beside ours\n\nEach claim is quoted with its setting in the paper; the verdict is computed from our runs, with our scale stated in the evidence.\n\n{}",
        claims::markdown(&findings)
    );
    if !c.missing.is_empty() || !c.unfinished.is_empty() || !failed.is_empty() {
        let _ = writeln!(r, "## Missing or failed runs\n");
        for m in &c.missing {
            let _ = writeln!(r, "- `{m}`: not run");
        }
        for (n, why) in c.unfinished.iter().chain(failed) {
            let _ = writeln!(r, "- `{n}`: {why}");
        }
    }
    let summary = serde_json::json!({
        "artifact": plan.artifact,
        "title": plan.title,
        "scale": plan.scale.as_str(),
        "scale_note": plan.note,
        "backend": backend,
        "wall_seconds": wall,
        "runs": c.runs.iter().map(|(n, s)| (n.clone(), crate::reproduce::run_json(s))).collect::<serde_json::Map<_, _>>(),
        "run_dirs": plan.runs.iter().map(|p| (p.name.clone(), serde_json::Value::String(p.dir.display().to_string()))).collect::<serde_json::Map<_, _>>(),
        "missing": c.missing,
        "unfinished": c.unfinished.iter().chain(failed).map(|(n, w)| serde_json::json!({"run": n, "why": w})).collect::<Vec<_>>(),
        "claims": findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
        "figures": figures.iter().map(|f| f.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect::<Vec<_>>(),
    });
    write_atomic(
        &out.join("summary.json"),
        &serde_json::to_string_pretty(&summary)?,
    )?;
    write_atomic(&out.join("report.md"), &r)?;
    Ok(Outcome {
        artifact: plan.artifact.clone(),
        findings,
    })
}

/// Options of `reproduce`.
#[derive(Debug, Clone)]
pub struct Args {
    /// Artifact name or `all`.
    pub artifact: String,
    /// Scale.
    pub scale: Scale,
    /// The results folder (`results/`).
    pub results: PathBuf,
    /// Print the plan and its cost instead of running it.
    pub dry_run: bool,
    /// Dry runs: time one step of each configuration on this machine.
    pub timing: bool,
    /// Backend label for reports.
    pub backend: String,
}

/// Plans, runs, collects and reports one artifact.
fn one(root: &Path, name: &str, a: &Args, device: &Device) -> Result<Outcome> {
    let spec = spec(name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown artifact `{name}`: use one of {}, all",
            ORDER.join(", ")
        )
    })?;
    let plan = plan::plan(root, name, a.scale, &Layout::Pool(a.results.clone()))?;
    // Nothing is written before the data is known to be there.
    plan::check_data(&plan)?;
    let out = a.results.join(name);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for f in ["summary.json", "report.md"] {
        let p = out.join(f);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    let t0 = Instant::now();
    let failed = execute(&plan, device);
    link_runs(&plan, &out)?;
    let c = collect(&plan);
    let outcome = report(
        &plan,
        spec,
        &c,
        &out,
        &a.backend,
        &failed,
        t0.elapsed().as_secs_f64(),
    )?;
    eprintln!(
        "wrote {} in {:.0} s",
        out.join("report.md").display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(outcome)
}

/// `reproduce <artifact>|all`.
pub fn reproduce(a: &Args, device: &Device) -> Result<()> {
    let root = repo_root();
    let names: Vec<&str> = if a.artifact == "all" {
        ORDER.to_vec()
    } else {
        vec![a.artifact.as_str()]
    };
    if a.dry_run {
        return dry_run(&root, &names, a, device);
    }
    if a.artifact == "all" {
        // Check every plan and its data before training anything.
        for n in &names {
            let p = plan::plan(&root, n, a.scale, &Layout::Pool(a.results.clone()))?;
            plan::check_data(&p)?;
        }
    }
    let t0 = Instant::now();
    let mut errors = Vec::new();
    for n in &names {
        match one(&root, n, a, device) {
            Ok(o) => {
                let count = |v: crate::claims::Verdict| {
                    o.findings.iter().filter(|f| f.verdict == v).count()
                };
                eprintln!(
                    "{}: {} agree, {} disagree, {} not comparable",
                    o.artifact,
                    count(crate::claims::Verdict::Agree),
                    count(crate::claims::Verdict::Disagree),
                    count(crate::claims::Verdict::NotComparable)
                );
            }
            Err(e) => {
                if a.artifact != "all" {
                    return Err(e);
                }
                eprintln!("{n}: {e:#}");
                errors.push(format!("{n}: {e:#}"));
            }
        }
    }
    index::write(&a.results)?;
    eprintln!(
        "wrote {} and {} ({:.0} s in all)",
        a.results.join("index.md").display(),
        a.results.join("index.html").display(),
        t0.elapsed().as_secs_f64()
    );
    if !errors.is_empty() {
        bail!(
            "{} artifact(s) failed:\n{}",
            errors.len(),
            errors.join("\n")
        );
    }
    Ok(())
}

/// Training samples of a dataset by name (before `limit_train`).
fn train_size(d: infoplane_data::DatasetName) -> usize {
    use infoplane_data::DatasetName as D;
    match d {
        D::Mnist10k => 8004,
        D::Mnist | D::FashionMnist => 60_000,
        D::Cifar10 | D::Cifar100 => 50_000,
        D::Rings => 1000,
    }
}

/// Prints every run a reproduction would make with its cost: sample passes (epochs × phases ×
/// training samples) and, measured on this machine's backend, seconds per training sample.
fn dry_run(root: &Path, names: &[&str], a: &Args, device: &Device) -> Result<()> {
    use std::collections::BTreeMap;
    let mut rate: BTreeMap<String, f64> = BTreeMap::new();
    let mut total_hours = 0.0;
    let mut total_passes = 0.0;
    for n in names {
        let p = plan::plan(root, n, a.scale, &Layout::Pool(a.results.clone()))?;
        println!("{n}: {} ({} runs; {})", p.title, p.runs.len(), p.note);
        let data_ok = plan::check_data(&p).is_ok();
        for r in &p.runs {
            let samples = r
                .cfg
                .data
                .limit_train
                .unwrap_or(train_size(r.cfg.data.dataset));
            let phases = r
                .cfg
                .clone()
                .check()
                .map_err(anyhow::Error::from)
                .and_then(|c| crate::cmd_bench::phases(&c))
                .unwrap_or(1);
            let passes = (r.cfg.epochs * phases * samples) as f64;
            let key = format!(
                "{}-{}-{:?}",
                r.cfg.model.name(),
                r.cfg.strategy.kind(),
                r.cfg.model
            );
            let secs = match rate.get(&key) {
                Some(s) => *s,
                None if !a.timing => f64::NAN,
                None => {
                    let s =
                        crate::cmd_bench::seconds_per_sample(&r.cfg, device).unwrap_or(f64::NAN);
                    rate.insert(key, s);
                    s
                }
            };
            total_passes += passes;
            let hours = passes * secs / 3600.0;
            if hours.is_finite() {
                total_hours += hours;
            }
            println!(
                "  {:<36} {:<28} {:<14} {:>4} ep x {:>2} ph x {:>6} samples = {:>9.2e} passes{}{}",
                r.name,
                r.cfg.strategy.label(),
                r.cfg.data.dataset.as_str(),
                r.cfg.epochs,
                phases,
                samples,
                passes,
                if hours.is_finite() {
                    format!(", ~{hours:.2} h here")
                } else {
                    String::new()
                },
                if data_ok { "" } else { " (data missing)" }
            );
        }
    }
    if a.timing {
        println!(
            "total: about {total_hours:.1} hours of training on this machine's {} backend (measured seconds per sample × sample passes; information-plane measurements and probes come on top)",
            a.backend
        );
    } else {
        println!("total: about {total_passes:.2e} sample passes (no timing asked)");
    }
    Ok(())
}
