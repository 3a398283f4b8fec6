//! An artifact's report: `report.md` (settings, runs, tables, figures, the reading of every
//! run's planes with effect sizes, the paper's claims with verdicts and evidence) and
//! `summary.json` (every number behind it), written atomically; the figures beside them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use infoplane_train::config::ProbeMethod;
use infoplane_train::{RunSummary, TrainConfig};

use crate::checks::pct;
use crate::claims::{Finding, check, markdown, tally};
use crate::error::{Error, Result};
use crate::execute::Collected;
use crate::experiment::{FigureKind, TableSpec};
use crate::figures::{Figure, RunData, plot, plot_toy, read_run};
use crate::plan::Plan;
use crate::reading::{HELD_FRACTION, MIN_RELATIVE, MIN_T, read_stage, stage_label};

/// Writes `text` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    infoplane_train::rundir::write_atomic(path, text.as_bytes()).map_err(Error::from)
}

/// The rules every verdict follows, in words (also `docs/reading-rules.md`).
pub fn rules() -> String {
    format!(
        "Every reading is computed from the recorded series. nHSIC is measured on the same fixed evaluation mini-batches at every point, so a change is paired by mini-batch: it is shown when every mini-batch moves the same way, the mean move is at least {MIN_T} paired standard errors, and it is at least {:.0}% of the larger value. A fall is counted wherever it happens (the series ends below its maximum by a shown change); a rise-then-fall (compression phase) is a shown rise from the first point to the maximum followed by a shown fall; a fall from the start is a fall without a shown rise before it. nHSIC(Y;T) is held when it did not fall or fell by at most {:.0}% of its maximum. Two accuracies differ when their gap exceeds twice the standard error of the difference, √(a(1−a)/n_a + b(1−b)/n_b). Stage groups: first = T1, output-side = the last two, middle = between them. With several seeds a claim agrees when more than half of the seeds agree; otherwise it is not shown. Each line prints the effect: the change, in standard errors (SE) and in % of the larger value, and how many mini-batches agree.",
        100.0 * MIN_RELATIVE,
        100.0 * HELD_FRACTION
    )
}

/// A run's summary as it goes into `summary.json` of an artifact.
pub fn run_json(s: &RunSummary) -> serde_json::Value {
    serde_json::json!({
        "strategy": s.strategy,
        "dataset": s.dataset,
        "test_accuracy": s.test_accuracy,
        "train_accuracy": s.train_accuracy,
        "wall_seconds": s.wall_seconds,
        "epochs": s.epochs,
        "parameters": s.parameters,
        "stages": s.stages.iter().map(|st| serde_json::json!({
            "stage": st.stage,
            "name": st.name,
            "role": st.role.map(|r| r.as_str()),
            "steps": st.steps,
            "epochs": st.epochs,
            "nhsic_x": st.nhsic_x,
            "nhsic_x_std": st.nhsic_x_std,
            "nhsic_y": st.nhsic_y,
            "nhsic_y_std": st.nhsic_y_std,
            "probe_train_accuracy": st.probe_train_accuracy,
            "probe_test_accuracy": st.probe_test_accuracy,
            "head_test_accuracy": st.head_test_accuracy,
        })).collect::<Vec<_>>(),
    })
}

fn finding_json(f: &Finding) -> serde_json::Value {
    serde_json::json!({
        "id": f.claim.id,
        "artifact": f.claim.figure,
        "setting": f.claim.setting,
        "quote": f.claim.quote,
        "paper_line": f.claim.line,
        "verdict": f.verdict.as_str(),
        "seeds": f.seeds,
        "agree": f.agree,
        "evidence": f.evidence,
        "limited_by_scale": f.scale,
    })
}

/// The optimizer, batch, epochs and seeds of a report's runs, in one line.
fn optimizer_line(configs: &[&TrainConfig], backend: &str) -> String {
    let c = configs[0];
    let mut seeds: Vec<u64> = configs.iter().map(|c| c.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
    format!(
        "- Optimizer: {:?} lr {}, batch {}, {} epochs{}, seed{} {}; backend {backend}.",
        c.optim.kind,
        c.optim.lr,
        c.batch_size,
        c.epochs,
        if c.optim.milestones.is_empty() {
            String::new()
        } else {
            format!(
                " (lr × {} after epochs {:?})",
                c.optim.gamma, c.optim.milestones
            )
        },
        if seeds.len() > 1 { "s" } else { "" },
        seeds.join(", ")
    )
}

/// The settings lines of a report, from the resolved configs and the runs' summaries.
pub fn settings_lines(configs: &[&TrainConfig], runs: &[&RunSummary], backend: &str) -> String {
    let mut r = String::new();
    let c = configs[0];
    let count = |l: Option<usize>| l.map(|n| n.to_string()).unwrap_or_else(|| "all".into());
    let _ = writeln!(
        r,
        "- Data: {} ({} training, {} test samples), normalized per channel{}; training augmentation: {}.",
        c.data.dataset,
        count(c.data.limit_train),
        count(c.data.limit_test),
        c.data
            .pad_to
            .map(|p| format!(", zero-padded to {p}x{p}"))
            .unwrap_or_default(),
        c.data.augment.as_str()
    );
    if let Some(s) = runs.first() {
        let _ = writeln!(
            r,
            "- Model: {}; parameters drawn on the host from the seed with PyTorch's default initialization (identical initial stages in runs with the same seed).",
            s.model_description
        );
    }
    let mut seen = Vec::new();
    for (cfg, s) in configs.iter().zip(runs) {
        if seen.contains(&&cfg.name) {
            continue;
        }
        seen.push(&cfg.name);
        let _ = writeln!(
            r,
            "- `{}`: {} ({} parameters with the strategy's additions).",
            cfg.name,
            s.strategy_description,
            infoplane_models::summary::group(s.parameters)
        );
    }
    let _ = writeln!(r, "{}", optimizer_line(configs, backend));
    let _ = writeln!(
        r,
        "- Evaluation mode: test accuracy, information planes and probes see the model with batch norm's running statistics and without dropout (training uses batch statistics and dropout, where the model has them)."
    );
    let _ = writeln!(r, "{}", code_line(runs));
    if let Some(c) = runs.iter().find_map(|s| s.calibration.as_ref()) {
        let _ = writeln!(
            r,
            "- Before training: {c}, so that the first point of the information plane is not read with running statistics at their initial values (mean 0, variance 1)."
        );
    }
    if let Some(s) = runs.first().filter(|_| c.infoplane.enabled) {
        let _ = writeln!(
            r,
            "- Information plane: {}, measured before training{} and at every epoch end; {}. nHSIC is compared across runs only at the same n, ε and kernel; it is not bounded by 1 (≤ C−1 = {} against one-hot labels of C classes).",
            s.eval_set.clone().unwrap_or_else(|| "—".into()),
            if c.infoplane.every_steps > 0 {
                format!(", every {} steps", c.infoplane.every_steps)
            } else {
                String::new()
            },
            s.kernel_convention.clone().unwrap_or_else(|| "—".into()),
            c.data.dataset.num_classes() - 1
        );
    }
    if c.probe.enabled {
        let _ = writeln!(
            r,
            "- Probes: {} on frozen features of every stage (feature maps average-pooled to ≤ 2048 features, standardized with training statistics){}.",
            match c.probe.method {
                ProbeMethod::Softmax => "a linear softmax classifier",
                ProbeMethod::Ridge => "a closed-form ridge classifier",
            },
            match c.probe.method {
                ProbeMethod::Softmax => format!(
                    ", Adam lr {}, {} epochs (the last third at a tenth of the rate) on the training split",
                    c.probe.lr, c.probe.epochs
                ),
                ProbeMethod::Ridge => String::new(),
            }
        );
    }
    r
}

/// The finished run of `name` at its first seed.
fn first<'a>(c: &'a Collected, name: &str) -> Option<&'a RunSummary> {
    c.evidence.run(name, 0)
}

fn cell(c: &Collected, text: &str) -> String {
    let mut parts = text.split(':');
    let (kind, run) = (parts.next().unwrap_or(""), parts.next());
    let stage: Option<usize> = parts.next().and_then(|k| k.parse().ok());
    let value = match (kind, run) {
        ("acc", Some(r)) => first(c, r).map(|s| Some(s.test_accuracy)),
        ("head", Some(r)) => first(c, r)
            .map(|s| stage.and_then(|k| s.stages.get(k.checked_sub(1)?)?.head_test_accuracy)),
        ("probe", Some(r)) => first(c, r)
            .map(|s| stage.and_then(|k| s.stages.get(k.checked_sub(1)?)?.probe_test_accuracy)),
        _ => return text.to_string(),
    };
    match value {
        None => "(not run)".into(),
        Some(None) => "—".into(),
        Some(Some(v)) => pct(v),
    }
}

fn table(c: &Collected, t: &TableSpec) -> String {
    let mut r = format!("## {}\n\n", t.title);
    if !t.note.is_empty() {
        let _ = writeln!(r, "{}\n", t.note);
    }
    let _ = writeln!(r, "| {} |", t.header.join(" | "));
    let _ = writeln!(r, "|{}", "---|".repeat(t.header.len()));
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|x| cell(c, x)).collect();
        let _ = writeln!(r, "| {} |", cells.join(" | "));
    }
    r
}

/// Draws the figures of a plan; returns the files written.
fn figures(plan: &Plan, c: &Collected, out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for f in &plan.file.figures {
        if f.kind == FigureKind::Toy {
            let traces: Vec<_> = c.toys.values().cloned().collect();
            if !traces.is_empty() {
                files.extend(plot_toy(&traces, out)?);
            }
            continue;
        }
        let mut runs = Vec::new();
        for name in &f.runs {
            if let Some(r) = plan
                .runs
                .iter()
                .find(|r| &r.name == name && r.replicate == 0)
                .filter(|r| r.dir.join("summary.json").exists())
            {
                let mut d: RunData = read_run(&r.dir)?;
                d.label = name.clone();
                runs.push(d);
            }
        }
        let (kind, has) = match f.kind {
            FigureKind::Infoplane => (Figure::InfoPlane, runs.iter().any(|r| !r.points.is_empty())),
            _ => (Figure::Probes, runs.iter().any(|r| !r.probes.is_empty())),
        };
        if has {
            for ext in ["png", "svg"] {
                files.push(plot(kind, &runs, &out.join(format!("{}.{ext}", f.file)))?);
            }
        }
    }
    Ok(files)
}

fn runs_table(plan: &Plan, c: &Collected, failed: &[(String, String)]) -> String {
    let mut r = String::from(
        "| run | seed | strategy | model | data | epochs | test accuracy | last stage's head (test) | train accuracy | seconds |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for p in &plan.runs {
        let cfg = p.config();
        match c.evidence.run(&p.name, p.replicate) {
            Some(s) if s.name == cfg.name => {
                let head = s
                    .stages
                    .last()
                    .and_then(|st| st.head_test_accuracy)
                    .map_or("—".into(), pct);
                let _ = writeln!(
                    r,
                    "| `{}` | {} | {} | {} | {} | {} | {} | {head} | {} | {:.0} |",
                    p.name,
                    cfg.seed,
                    s.strategy,
                    cfg.model.name(),
                    s.dataset,
                    s.epochs,
                    pct(s.test_accuracy),
                    s.train_accuracy.map_or("—".into(), pct),
                    s.wall_seconds
                );
            }
            _ => {
                let why = failed
                    .iter()
                    .chain(&c.unfinished)
                    .find(|(n, _)| n.starts_with(&p.name))
                    .map(|(_, e)| e.clone())
                    .unwrap_or_else(|| "not run".into());
                let _ = writeln!(
                    r,
                    "| `{}` | {} | {} | {} | {} | — | {why} | — | — | — |",
                    p.name,
                    cfg.seed,
                    p.cfg.label(),
                    cfg.model.name(),
                    cfg.data.dataset
                );
            }
        }
    }
    r
}

/// Per stage of each run (first seed): final nHSIC, probes, head accuracy.
fn stage_tables(plan: &Plan, c: &Collected) -> String {
    let mut r = String::new();
    for p in plan.runs.iter().filter(|p| p.replicate == 0) {
        let Some(s) = first(c, &p.name) else { continue };
        if s.stages
            .iter()
            .all(|st| st.nhsic_x.is_empty() && st.probe_test_accuracy.is_none())
        {
            continue;
        }
        let _ = writeln!(
            r,
            "`{}` ({}):\n\n| stage | nHSIC(X;T) end | nHSIC(Y;T) end | probe train | probe test | head test |\n|---|---|---|---|---|---|",
            p.name, s.strategy
        );
        let v = |x: Option<&f64>| x.map_or("—".into(), |x| format!("{x:.3}"));
        let a = |x: Option<f64>| x.map_or("—".into(), pct);
        for st in &s.stages {
            let _ = writeln!(
                r,
                "| {} | {} | {} | {} | {} | {} |",
                stage_label(st),
                v(st.nhsic_x.last()),
                v(st.nhsic_y.last()),
                a(st.probe_train_accuracy),
                a(st.probe_test_accuracy),
                a(st.head_test_accuracy)
            );
        }
        r.push('\n');
    }
    r
}

/// Every stage's reading of each run (first seed), with effect sizes.
fn readings(plan: &Plan, c: &Collected) -> String {
    let mut r = String::new();
    for p in plan.runs.iter().filter(|p| p.replicate == 0) {
        let Some(s) = first(c, &p.name) else { continue };
        let lines: Vec<String> = s
            .stages
            .iter()
            .filter_map(|st| {
                let (x, y) = read_stage(st)?;
                Some(format!(
                    "- {}: {}; {}.",
                    stage_label(st),
                    y.describe("nHSIC(Y;T)"),
                    x.describe("nHSIC(X;T)")
                ))
            })
            .collect();
        if !lines.is_empty() {
            let _ = writeln!(r, "`{}`:\n{}\n", p.name, lines.join("\n"));
        }
    }
    r
}

/// Every number of a report: `summary.json`.
fn summary_json(
    plan: &Plan,
    c: &Collected,
    (backend, failed, wall): (&str, &[(String, String)], f64),
    findings: &[Finding],
    files: &[PathBuf],
) -> serde_json::Value {
    let a = &plan.artifact;
    let [ag, di, ns, nc] = tally(findings);
    let mut runs = serde_json::Map::new();
    for p in &plan.runs {
        if let Some(s) = c.evidence.run(&p.name, p.replicate) {
            let key = if p.replicate == 0 {
                p.name.clone()
            } else {
                format!("{} (seed {})", p.name, p.replicate + 1)
            };
            runs.insert(key, run_json(s));
        }
    }
    serde_json::json!({
        "artifact": a,
        "title": plan.file.title,
        "scale": plan.scale.as_str(),
        "scale_note": plan.note,
        "backend": backend,
        "wall_seconds": wall,
        "runs": runs,
        "run_dirs": plan.runs.iter().map(|p| serde_json::json!({"run": p.name, "seed": p.config().seed, "dir": p.dir})).collect::<Vec<_>>(),
        "missing": c.missing,
        "unfinished": c.unfinished.iter().chain(failed).map(|(n, w)| serde_json::json!({"run": n, "why": w})).collect::<Vec<_>>(),
        "claims": findings.iter().map(finding_json).collect::<Vec<_>>(),
        "tally": {"agree": ag, "disagree": di, "not_shown": ns, "not_comparable": nc},
        "figures": files.iter().map(|f| f.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect::<Vec<_>>(),
    })
}

/// Writes `report.md`, the figures and `summary.json` of a plan's collected runs into
/// `out`; returns the findings.
pub fn write_report(
    plan: &Plan,
    c: &Collected,
    out: &Path,
    backend: &str,
    failed: &[(String, String)],
    wall: f64,
) -> Result<Vec<Finding>> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let files = figures(plan, c, out)?;
    let findings: Vec<Finding> = plan
        .file
        .claims
        .iter()
        .map(|cl| check(cl, &c.evidence))
        .collect();
    let mut r = String::new();
    let a = &plan.artifact;
    let _ = writeln!(r, "# {a}: {}\n", plan.file.title);
    let _ = writeln!(
        r,
        "Generated by `cargo xtask reproduce {a} --scale {s}` (`infoplane reproduce {a} --scale {s}`), backend {backend}, in {wall:.0} s.\n",
        s = plan.scale.as_str()
    );
    let _ = writeln!(r, "**Scale: {}** — {}\n", plan.scale.as_str(), plan.note);
    let _ = writeln!(
        r,
        "## Runs\n\n{}\nLayer-wise runs read their test accuracy from a classifier trained on the detached last representation; the last stage's own auxiliary head is beside it where it classifies.\n",
        runs_table(plan, c, failed)
    );
    let _ = writeln!(r, "## Settings\n");
    let finished: Vec<(&TrainConfig, &RunSummary)> = plan
        .runs
        .iter()
        .filter_map(|p| {
            c.evidence
                .run(&p.name, p.replicate)
                .map(|s| (p.config(), s))
        })
        .collect();
    if finished.is_empty() {
        let _ = writeln!(r, "No run finished at this scale.");
    } else {
        let (cfgs, sums): (Vec<_>, Vec<_>) = finished.iter().copied().unzip();
        r.push_str(&settings_lines(&cfgs, &sums, backend));
    }
    let _ = writeln!(
        r,
        "- Every run's resolved config is `config.toml` in its folder under `runs/`.\n"
    );
    for t in &plan.file.tables {
        let _ = writeln!(r, "{}", table(c, t));
    }
    let pngs: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "png"))
        .collect();
    if !pngs.is_empty() {
        let _ = writeln!(r, "## Figures\n");
        for f in pngs {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            let _ = writeln!(r, "![{name}]({name})\n");
        }
        let _ = writeln!(
            r,
            "Information planes: one row per run (its first seed), one panel per stage, x = nHSIC(X;T), y = nHSIC(Y;T), colour from dark (start) to yellow (end). SVG versions beside the PNG files.\n"
        );
    }
    let stages = stage_tables(plan, c);
    if !stages.is_empty() {
        let _ = writeln!(r, "## Per stage at the end\n\n{stages}");
    }
    let _ = writeln!(r, "## Reading\n\n{}\n\n{}", rules(), readings(plan, c));
    let [ag, di, ns, nc] = tally(&findings);
    let _ = writeln!(
        r,
        "## The paper's claims beside ours\n\n{ag} agree, {di} disagree, {ns} not shown, {nc} not comparable. Each claim is quoted with its setting in the paper; the verdict is computed from our runs as the evidence lines show.\n\n{}",
        markdown(&findings)
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
    let summary = summary_json(plan, c, (backend, failed, wall), &findings, &files);
    write_atomic(
        &out.join("summary.json"),
        &serde_json::to_string_pretty(&summary)?,
    )?;
    write_atomic(&out.join("report.md"), &r)?;
    Ok(findings)
}

/// Which code produced the runs: one line when every run was produced by the same build,
/// otherwise the runs of each build.
fn code_line(runs: &[&RunSummary]) -> String {
    let mut by: Vec<(String, Vec<&str>)> = Vec::new();
    for s in runs {
        let who = s.provenance.as_ref().map_or_else(
            || "a version that did not record itself".to_string(),
            |p| p.describe(),
        );
        match by.iter_mut().find(|(w, _)| *w == who) {
            Some((_, names)) => names.push(&s.name),
            None => by.push((who, vec![&s.name])),
        }
    }
    match by.as_slice() {
        [(who, _)] => format!("- Code: every run by {who}."),
        _ => format!(
            "- Code: {}.",
            by.iter()
                .map(|(w, n)| format!("{} by {w}", n.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}
