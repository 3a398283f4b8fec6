//! `reproduce <artifact>|all`: plan, train (finished runs reused, unfinished ones resumed),
//! collect, report, and the index over every artifact; `--dry-run` lists the runs and their
//! cost instead.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;

use crate::claims::{Finding, tally};
use crate::error::{Context, Error, Result};
use crate::execute::{collect, execute};
use crate::experiment::{Scale, artifacts};
use crate::plan::{Layout, Overrides, Plan, check_data, plan};
use crate::report::write_report;

/// Options of a reproduction.
#[derive(Debug, Clone)]
pub struct Options {
    /// The scale.
    pub scale: Scale,
    /// The results folder: artifacts go into `<results>/<artifact>/`, runs into
    /// `<results>/runs/`.
    pub results: PathBuf,
    /// Backend label for reports.
    pub backend: String,
    /// Changes to every run.
    pub overrides: Overrides,
}

/// What an artifact's report concluded.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The artifact.
    pub artifact: String,
    /// Findings on the paper's claims.
    pub findings: Vec<Finding>,
}

impl Outcome {
    /// "fig3: 3 agree, 1 disagree, 0 not shown, 1 not comparable".
    pub fn line(&self) -> String {
        let [a, d, s, c] = tally(&self.findings);
        format!(
            "{}: {a} agree, {d} disagree, {s} not shown, {c} not comparable",
            self.artifact
        )
    }
}

/// Links `out/runs/<name>[-seed<S>]` to each run folder.
fn link_runs(plan: &Plan, out: &Path) -> Result<()> {
    let dir = out.join("runs");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let seeds = plan.runs.iter().map(|r| r.replicate + 1).max().unwrap_or(1);
    for r in &plan.runs {
        let name = if seeds > 1 {
            format!("{}-seed{}", r.name, r.config().seed)
        } else {
            r.name.clone()
        };
        let link = dir.join(&name);
        if link.exists() && !link.is_symlink() {
            continue;
        }
        let target = std::fs::canonicalize(&r.dir).unwrap_or(r.dir.clone());
        // Made under a name of this process's own, then renamed over the old link in one step:
        // two reproductions sharing a results folder may link the same run at the same time.
        #[cfg(unix)]
        {
            let fresh = dir.join(format!(".{name}.link-{}", std::process::id()));
            let _ = std::fs::remove_file(&fresh);
            std::os::unix::fs::symlink(&target, &fresh).map_err(|e| Error::io(&fresh, e))?;
            std::fs::rename(&fresh, &link).map_err(|e| Error::io(&link, e))?;
        }
    }
    Ok(())
}

fn plan_of(root: &Path, name: &str, o: &Options) -> Result<Plan> {
    plan(
        root,
        name,
        o.scale,
        &Layout::Pool(o.results.clone()),
        &o.overrides,
    )
}

/// Plans, trains, collects and reports one artifact.
pub fn reproduce_one(root: &Path, name: &str, o: &Options, device: &Device) -> Result<Outcome> {
    let plan = plan_of(root, name, o)?;
    // Nothing is written before the data is known to be there.
    check_data(&plan)?;
    let out = o.results.join(name);
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    // An earlier report must not look like this one while it is under way.
    for f in ["summary.json", "report.md"] {
        let p = out.join(f);
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    let t0 = Instant::now();
    let failed = execute(&plan, device);
    link_runs(&plan, &out)?;
    let c = collect(&plan);
    let findings = write_report(
        &plan,
        &c,
        &out,
        &o.backend,
        &failed,
        t0.elapsed().as_secs_f64(),
    )?;
    Ok(Outcome {
        artifact: name.to_string(),
        findings,
    })
}

/// The artifacts `which` names: one, or every one of `all`.
pub fn selection(root: &Path, which: &str) -> Result<Vec<String>> {
    let all = artifacts(root)?;
    if which == "all" {
        return Ok(all
            .into_iter()
            .filter(|(_, a)| *a)
            .map(|(n, _)| n)
            .collect());
    }
    if all.iter().any(|(n, _)| n == which) {
        return Ok(vec![which.to_string()]);
    }
    Err(Error::msg(format!(
        "unknown artifact `{which}`: use one of {}, or all",
        all.iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Reproduces `which` (an artifact or `all`), then writes the index over every artifact with
/// a report. Returns each artifact's outcome; with `all`, an artifact that fails is reported
/// and the others go on.
pub fn reproduce(root: &Path, which: &str, o: &Options, device: &Device) -> Result<Vec<Outcome>> {
    let names = selection(root, which)?;
    // Check every plan and its data before training anything.
    for n in &names {
        check_data(&plan_of(root, n, o)?)?;
    }
    let mut outcomes = Vec::new();
    let mut errors = Vec::new();
    for n in &names {
        match reproduce_one(root, n, o, device) {
            Ok(out) => {
                eprintln!("{}", out.line());
                outcomes.push(out);
            }
            Err(e) if names.len() > 1 => {
                eprintln!("{n}: {e}");
                errors.push(format!("{n}: {e}"));
            }
            Err(e) => return Err(e),
        }
    }
    let every: Vec<String> = artifacts(root)?.into_iter().map(|(n, _)| n).collect();
    crate::index::write(&o.results, &every)?;
    if !errors.is_empty() {
        return Err(Error::msg(format!(
            "{} artifact(s) failed:\n{}",
            errors.len(),
            errors.join("\n")
        )));
    }
    Ok(outcomes)
}

/// Lists every run a reproduction would make — each run once, even when several artifacts
/// share it — with its cost in sample passes and, when `timing`, an estimate of its time on
/// this machine.
pub fn dry_run(
    root: &Path,
    which: &str,
    o: &Options,
    device: &Device,
    timing: bool,
) -> Result<String> {
    let mut out = String::new();
    let mut seen = BTreeSet::new();
    let (mut total_passes, mut total_seconds) = (0.0, 0.0);
    for n in selection(root, which)? {
        let p = plan_of(root, &n, o)?;
        let data_ok = check_data(&p).is_ok();
        let _ = writeln!(
            out,
            "{n}: {} ({} runs; {})",
            p.file.title,
            p.runs.len(),
            p.note
        );
        for r in &p.runs {
            let cfg = r.config();
            if !seen.insert(r.dir.clone()) {
                let _ = writeln!(out, "  {:<36} (shared: counted once, above)", r.name);
                continue;
            }
            let samples = cfg
                .data
                .limit_train
                .unwrap_or(crate::estimate::train_size(cfg.data.dataset));
            let phases = crate::estimate::phases(&r.cfg).unwrap_or(1);
            let passes = (cfg.epochs * phases * samples) as f64;
            total_passes += passes;
            let secs = if timing {
                crate::estimate::run_cost(&r.cfg, device)
                    .with_context(|| format!("timing `{}`", r.name))?
                    .total()
            } else {
                f64::NAN
            };
            if secs.is_finite() {
                total_seconds += secs;
            }
            let _ = writeln!(
                out,
                "  {:<36} seed {:<3} {:<28} {:<14} {:>4} ep x {:>2} ph x {:>6} samples = {:>9.2e} passes{}{}",
                r.name,
                cfg.seed,
                r.cfg.label(),
                cfg.data.dataset.as_str(),
                cfg.epochs,
                phases,
                samples,
                passes,
                if secs.is_finite() {
                    format!(", ~{:.1} min here", secs / 60.0)
                } else {
                    String::new()
                },
                if data_ok { "" } else { " (data missing)" }
            );
        }
    }
    if timing {
        let _ = writeln!(
            out,
            "total: {} runs, about {:.1} hours on this machine's {} backend (each run counted once; training steps timed at the run's own batch size after a warm-up step, one information-plane measurement, the evaluation pass and one probe epoch per stage timed on random data of the run's sizes, each times how often the run does it)",
            seen.len(),
            total_seconds / 3600.0,
            o.backend
        );
    } else {
        let _ = writeln!(
            out,
            "total: {} runs, about {total_passes:.2e} sample passes (no timing asked)",
            seen.len()
        );
    }
    Ok(out)
}
