//! `infoplane sweep plan|collect`: an artifact's grid for the places researchers run grids.
//!
//! `plan` writes, into a folder, one resolved config per run, a job list with one
//! self-contained command per line (`jobs.txt`: any runner takes it — GNU parallel, a shell
//! loop, a Slurm array), the runs that need another run first in `jobs-after.txt` (retraining),
//! a Slurm array script (`slurm.sbatch`, one task per line of a job list), and `plan.json`.
//! `collect` builds the artifact's report from whatever run folders exist and says which runs
//! are missing or unfinished. `reproduce` uses the same plan on one machine.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Context, Result};

use crate::execute::collect;
use crate::experiment::{Scale, repo_root};
use crate::grid::{Combination, Grid, collect_grid, combinations};
use crate::plan::{Layout, Overrides, Plan, PlannedRun, plan};
use crate::report::write_report;

/// Options of `sweep plan`.
#[derive(Debug, Clone)]
pub struct PlanArgs {
    /// The artifact.
    pub artifact: String,
    /// The folder to write.
    pub out: PathBuf,
    /// Scale.
    pub scale: Scale,
    /// The command that runs `infoplane` on the workers.
    pub binary: String,
    /// `--backend B --device D` of every job.
    pub backend: Vec<String>,
    /// `#SBATCH` options of the array script (e.g. `--gres=gpu:1`, `--time=08:00:00`).
    pub slurm: Vec<String>,
    /// `KEY=VALUE` settings applied to every run (`--set`).
    pub settings: Vec<infoplane_train::Setting>,
    /// Grids of settings (`--grid KEY=V1,V2`): every combination is planned.
    pub grid: Vec<Grid>,
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The file stem of a run's config and log: its folder under `runs/` (`<name>`,
/// `<name>-seed<S>`, or `<tag>__<name>` for a grid point).
fn stem(out: &Path, r: &PlannedRun) -> String {
    match r.dir.strip_prefix(out.join("runs")) {
        Ok(rel) if rel.components().count() > 0 => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("__"),
        _ => r.name.clone(),
    }
}

fn job_line(a: &PlanArgs, out: &Path, r: &PlannedRun) -> String {
    let mut parts = vec![
        a.binary.clone(),
        "train".into(),
        "--config".into(),
        out.join("configs")
            .join(format!("{}.toml", stem(out, r)))
            .display()
            .to_string(),
        "--out".into(),
        r.dir.display().to_string(),
        "--reuse".into(),
    ];
    parts.extend(a.backend.iter().cloned());
    let cmd = parts
        .iter()
        .map(|p| shell_quote(p))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{cmd} > {} 2>&1",
        shell_quote(
            &out.join("logs")
                .join(format!("{}.log", stem(out, r)))
                .display()
                .to_string()
        )
    )
}

/// The Slurm array script: one task per line of a job list.
fn slurm_script(a: &PlanArgs, out: &Path, n_first: usize, n_after: usize) -> String {
    let mut sb = String::from("#!/bin/bash\n");
    let _ = writeln!(sb, "#SBATCH --job-name=infoplane-{}", a.artifact);
    let _ = writeln!(
        sb,
        "#SBATCH --output={}/logs/slurm-%A_%a.out",
        out.display()
    );
    for o in &a.slurm {
        let _ = writeln!(sb, "#SBATCH {o}");
    }
    let _ = writeln!(
        sb,
        "# One task per line of a job list (default jobs.txt):\n#   sbatch --array=1-{n_first} {out}/slurm.sbatch\n{}# Then the collection:\n#   infoplane sweep collect {out}\nJOBS=${{JOBS:-{out}/jobs.txt}}\nline=$(sed -n \"${{SLURM_ARRAY_TASK_ID}}p\" \"$JOBS\")\n[ -n \"$line\" ] || {{ echo \"no line $SLURM_ARRAY_TASK_ID in $JOBS\" >&2; exit 1; }}\nexec bash -c \"$line\"",
        if n_after > 0 {
            format!(
                "# Runs that retrain another run go after the first array:\n#   JOBS={out}/jobs-after.txt sbatch --dependency=afterok:<first array's job id> --array=1-{n_after} {out}/slurm.sbatch\n",
                out = out.display()
            )
        } else {
            String::new()
        },
        out = out.display()
    );
    sb
}

/// One planned run of a sweep and the grid point it belongs to.
struct SweepRun<'c> {
    run: PlannedRun,
    point: &'c Combination,
    settings: Vec<String>,
}

/// Plans every grid point (one without a grid) into `out/runs[/<tag>]`.
fn plan_points<'c>(
    a: &PlanArgs,
    out: &Path,
    points: &'c [Combination],
) -> Result<Vec<SweepRun<'c>>> {
    let mut runs = Vec::new();
    for point in points {
        let overrides = Overrides {
            settings: a.settings.iter().chain(&point.settings).cloned().collect(),
            ..Default::default()
        };
        let dir = match &point.tag {
            Some(t) => out.join("runs").join(t),
            None => out.join("runs"),
        };
        let p = plan(
            &repo_root(),
            &a.artifact,
            a.scale,
            &Layout::Flat(dir),
            &overrides,
        )?;
        for run in p.runs {
            runs.push(SweepRun {
                run,
                point,
                settings: p.settings.clone(),
            });
        }
    }
    Ok(runs)
}

/// Writes the plan folder; returns what to tell the user.
pub fn plan_cmd(a: &PlanArgs) -> Result<String> {
    let points = combinations(&a.grid)?;
    // Job lines name absolute paths; everything is planned (and so checked) before anything
    // is written.
    let out = std::path::absolute(&a.out).unwrap_or(a.out.clone());
    let runs = plan_points(a, &out, &points)?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for d in ["configs", "logs", "runs"] {
        std::fs::create_dir_all(out.join(d))
            .with_context(|| format!("creating {}", out.join(d).display()))?;
    }
    let mut first = String::new();
    let mut after = String::new();
    for sr in &runs {
        let r = &sr.run;
        std::fs::write(
            out.join("configs").join(format!("{}.toml", stem(&out, r))),
            sr.settings
                .iter()
                .map(|s| format!("# set on the command line: {s}\n"))
                .collect::<String>()
                + &r.config().to_toml(),
        )
        .with_context(|| format!("writing the config of {}", r.name))?;
        let line = job_line(a, &out, r);
        if r.after.is_empty() {
            let _ = writeln!(first, "{line}");
        } else {
            let _ = writeln!(after, "{line}");
        }
    }
    std::fs::write(out.join("jobs.txt"), &first).context("writing jobs.txt")?;
    let n_first = first.lines().count();
    let n_after = after.lines().count();
    if n_after > 0 {
        std::fs::write(out.join("jobs-after.txt"), &after).context("writing jobs-after.txt")?;
    }
    let sb = slurm_script(a, &out, n_first, n_after);
    std::fs::write(out.join("slurm.sbatch"), sb).context("writing slurm.sbatch")?;
    let plan_json = serde_json::json!({
        "artifact": a.artifact,
        "scale": a.scale.as_str(),
        "settings": a.settings.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "grid": a.grid.iter().map(|g| serde_json::json!({"key": g.key, "values": g.values})).collect::<Vec<_>>(),
        "runs": runs.iter().map(|sr| serde_json::json!({
            "name": sr.run.name,
            "replicate": sr.run.replicate,
            "config": format!("{}.toml", stem(&out, &sr.run)),
            "dir": sr.run.dir,
            "after": sr.run.after,
            "grid": sr.point.values.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect::<serde_json::Map<String, serde_json::Value>>(),
        })).collect::<Vec<_>>(),
    });
    std::fs::write(
        out.join("plan.json"),
        serde_json::to_string_pretty(&plan_json)?,
    )
    .context("writing plan.json")?;
    Ok(format!(
        "{}: {} runs planned in {} ({} in jobs.txt{}); run them with e.g. `parallel -j 2 < {}/jobs.txt` or `sbatch --array=1-{n_first} {}/slurm.sbatch`, then `infoplane sweep collect {}`",
        a.artifact,
        runs.len(),
        out.display(),
        n_first,
        if n_after > 0 {
            format!(", {n_after} after them in jobs-after.txt")
        } else {
            String::new()
        },
        out.display(),
        out.display(),
        out.display()
    ))
}

/// Reads the plan of a sweep folder back.
fn read_plan(dir: &Path) -> Result<Plan> {
    let text = std::fs::read_to_string(dir.join("plan.json")).map_err(|e| {
        crate::error::Error::msg(format!(
            "{}: no readable plan.json ({e}); write the folder with `infoplane sweep plan` first",
            dir.display()
        ))
    })?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a sweep plan", dir.join("plan.json").display()))?;
    let artifact = v["artifact"].as_str().unwrap_or_default().to_string();
    let scale: Scale = serde_json::from_value(v["scale"].clone())
        .with_context(|| format!("{}: the scale", dir.join("plan.json").display()))?;
    // The configs written by `plan` are the truth; the experiment file gives the rest.
    let fresh = plan(
        &repo_root(),
        &artifact,
        scale,
        &Layout::Flat(dir.join("runs")),
        &Overrides::default(),
    )?;
    let mut runs = Vec::new();
    for r in v["runs"].as_array().into_iter().flatten() {
        let name = r["name"].as_str().unwrap_or_default().to_string();
        let file = r["config"]
            .as_str()
            .map_or(format!("{name}.toml"), String::from);
        let path = dir.join("configs").join(file);
        let cfg = infoplane_train::TrainConfig::from_file(&path)
            .and_then(|c| c.check())
            .with_context(|| format!("{}", path.display()))?;
        runs.push(PlannedRun {
            replicate: r["replicate"].as_u64().unwrap_or(0) as usize,
            dir: PathBuf::from(r["dir"].as_str().unwrap_or_default()),
            after: r["after"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(String::from))
                .collect(),
            name,
            cfg,
        });
    }
    Ok(Plan { runs, ..fresh })
}

/// Builds the report of a sweep folder from the runs that exist; returns what to tell the
/// user.
pub fn collect_cmd(dir: &Path, backend: &str) -> Result<String> {
    if let Ok(text) = std::fs::read_to_string(dir.join("plan.json"))
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && v["grid"].as_array().is_some_and(|g| !g.is_empty())
    {
        let table = collect_grid(dir, &v)?;
        return Ok(format!(
            "{table}\n(written to {})",
            dir.join("grid.md").display()
        ));
    }
    let p = read_plan(dir)?;
    let c = collect(&p);
    write_report(&p, &c, dir, backend, &[], 0.0)?;
    let finished = c.evidence.runs.values().flatten().flatten().count() - c.toys.len();
    let mut msg = format!(
        "{}: {} of {} runs finished; report in {}",
        p.artifact,
        finished,
        p.runs.len(),
        dir.join("report.md").display()
    );
    for m in &c.missing {
        let _ = write!(msg, "\nmissing: {m} (not started)");
    }
    for (n, why) in &c.unfinished {
        let _ = write!(msg, "\nunfinished or failed: {n}: {why}");
    }
    Ok(msg)
}
