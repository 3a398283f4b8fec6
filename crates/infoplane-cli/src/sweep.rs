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

use anyhow::{Context, Result, bail};

use crate::artifacts::plan::{Layout, Plan, PlannedRun, Scale, plan};
use crate::artifacts::{collect, repo_root, report, specs};

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

fn job_line(a: &PlanArgs, out: &Path, r: &PlannedRun) -> String {
    let mut parts = vec![
        a.binary.clone(),
        "train".into(),
        "--config".into(),
        out.join("configs")
            .join(format!("{}.toml", r.name))
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
                .join(format!("{}.log", r.name))
                .display()
                .to_string()
        )
    )
}

/// Writes the plan folder.
pub fn plan_cmd(a: &PlanArgs) -> Result<()> {
    if specs::spec(&a.artifact).is_none() {
        bail!(
            "unknown artifact `{}`: use one of {}",
            a.artifact,
            crate::artifacts::ORDER.join(", ")
        );
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let out = std::fs::canonicalize(&a.out).unwrap_or(a.out.clone());
    let p = plan(
        &repo_root(),
        &a.artifact,
        a.scale,
        &Layout::Flat(out.join("runs")),
    )?;
    for d in ["configs", "logs", "runs"] {
        std::fs::create_dir_all(out.join(d))
            .with_context(|| format!("creating {}", out.join(d).display()))?;
    }
    let mut first = String::new();
    let mut after = String::new();
    for r in &p.runs {
        std::fs::write(
            out.join("configs").join(format!("{}.toml", r.name)),
            r.cfg.to_toml(),
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
    std::fs::write(out.join("slurm.sbatch"), sb).context("writing slurm.sbatch")?;
    let plan_json = serde_json::json!({
        "artifact": a.artifact,
        "scale": a.scale.as_str(),
        "runs": p.runs.iter().map(|r| serde_json::json!({
            "name": r.name,
            "dir": r.dir,
            "after": r.after,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(
        out.join("plan.json"),
        serde_json::to_string_pretty(&plan_json)?,
    )
    .context("writing plan.json")?;
    println!(
        "{}: {} runs planned in {} ({} in jobs.txt{}); run them with e.g. `parallel -j 2 < {}/jobs.txt` or `sbatch --array=1-{n_first} {}/slurm.sbatch`, then `infoplane sweep collect {}`",
        a.artifact,
        p.runs.len(),
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
    );
    Ok(())
}

/// Reads the plan of a sweep folder back.
fn read_plan(dir: &Path) -> Result<Plan> {
    let text = std::fs::read_to_string(dir.join("plan.json")).with_context(|| {
        format!(
            "{}: no plan.json; write the folder with `infoplane sweep plan` first",
            dir.display()
        )
    })?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a sweep plan", dir.join("plan.json").display()))?;
    let artifact = v["artifact"].as_str().unwrap_or_default().to_string();
    let scale = Scale::parse(v["scale"].as_str().unwrap_or("quick"))?;
    // The configs written by `plan` are the truth; the experiment file gives title and note.
    let fresh = plan(
        &repo_root(),
        &artifact,
        scale,
        &Layout::Flat(dir.join("runs")),
    )?;
    let mut runs = Vec::new();
    for r in v["runs"].as_array().into_iter().flatten() {
        let name = r["name"].as_str().unwrap_or_default().to_string();
        let cfg = infoplane_train::TrainConfig::from_file(
            &dir.join("configs").join(format!("{name}.toml")),
        )?;
        runs.push(PlannedRun {
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

/// Builds the report of a sweep folder from the runs that exist.
pub fn collect_cmd(dir: &Path, backend: &str) -> Result<()> {
    let p = read_plan(dir)?;
    let spec = specs::spec(&p.artifact)
        .ok_or_else(|| anyhow::anyhow!("{}: unknown artifact `{}`", dir.display(), p.artifact))?;
    let c = collect(&p);
    report(&p, spec, &c, dir, backend, &[], 0.0)?;
    println!(
        "{}: {} of {} runs finished; report in {}",
        p.artifact,
        c.runs.len(),
        p.runs.len(),
        dir.join("report.md").display()
    );
    for m in &c.missing {
        println!("missing: {m} (not started)");
    }
    for (n, why) in &c.unfinished {
        println!("unfinished or failed: {n}: {why}");
    }
    Ok(())
}
