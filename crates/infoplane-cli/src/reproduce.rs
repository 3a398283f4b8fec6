//! `infoplane reproduce quick`: the project's main job. LeNet5 trained end-to-end and
//! layer-wise (linear heads, local cross-entropy) on the same data with the same seed and the
//! same initial stage weights, every stage's information plane recorded during training,
//! linear probes of every stage at the end, the figures, `summary.json` and `report.md` — whose
//! reading and verdicts on the paper's claims are computed from the recorded series.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use infoplane_data::DatasetName;
use infoplane_models::StageRole;
use infoplane_train::{OnExisting, RunOptions, RunSummary, StageSummary, TrainConfig};

use crate::claims::{self, Finding};
use crate::plot::{Figure, plot, read_run};
use crate::reading::{
    Trend, accuracy_se, compare_accuracy, compare_values, describe, read_stage, stage_label,
};

/// Settings of the quick reproduction.
#[derive(Debug, Clone)]
pub struct QuickArgs {
    /// Output folder.
    pub out: PathBuf,
    /// Dataset (mnist-10k, fashion-mnist or mnist).
    pub dataset: String,
    /// Data directory override.
    pub data_dir: Option<PathBuf>,
    /// Epochs (default 20).
    pub epochs: Option<usize>,
    /// A tiny setting for tests (512 training samples, batch 32, lr 2e-3, 2 epochs, closed-form probes).
    pub tiny: bool,
    /// Backend name and device, for the report.
    pub backend: String,
    /// Seed.
    pub seed: u64,
}

/// The config of one of the two runs.
pub fn quick_config(a: &QuickArgs, strategy: &str) -> Result<TrainConfig> {
    let dataset: DatasetName = a.dataset.parse()?;
    if !matches!(
        dataset,
        DatasetName::Mnist10k | DatasetName::FashionMnist | DatasetName::Mnist
    ) {
        bail!(
            "--dataset {dataset}: the quick reproduction trains LeNet5 on 28x28 grayscale data: use mnist-10k, fashion-mnist or mnist"
        );
    }
    let epochs = a.epochs.unwrap_or(if a.tiny { 2 } else { 20 });
    let head = if strategy == "layerwise" {
        "head = \"linear\"\n"
    } else {
        ""
    };
    let mut text = format!(
        "name = \"{strategy}\"\nepochs = {epochs}\nbatch_size = 128\nseed = {seed}\n\
         [data]\ndataset = \"{dataset}\"\n\
         [model]\narch = \"lenet5\"\n\
         [strategy]\nkind = \"{strategy}\"\n{head}\
         [optim]\nkind = \"adam\"\nlr = 5e-4\n\
         [infoplane]\nsamples = 1024\nbatch = 256\nevery_steps = 16\n\
         [probe]\nepochs = 30\n",
        seed = a.seed
    );
    if a.tiny {
        text = text
            .replace("batch_size = 128", "batch_size = 32")
            .replace("lr = 5e-4", "lr = 2e-3")
            .replace("[data]\n", "[data]\nlimit_train = 512\nlimit_test = 256\n")
            .replace(
                "samples = 1024\nbatch = 256\nevery_steps = 16",
                "samples = 128\nbatch = 64\nevery_steps = 8",
            )
            .replace("[probe]\nepochs = 30", "[probe]\nmethod = \"ridge\"");
    }
    let mut cfg = TrainConfig::from_toml(&text)?;
    cfg.data.data_dir = a.data_dir.clone();
    Ok(cfg)
}

fn rel(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The computed reading of one run's planes: per stage, what each series did.
pub fn read_planes(s: &RunSummary) -> String {
    let mut out = String::new();
    for st in &s.stages {
        let Some((x, y)) = read_stage(st) else {
            continue;
        };
        let _ = writeln!(
            out,
            "- {}: {}; {}.",
            stage_label(st),
            describe("nHSIC(Y;T)", &y),
            describe("nHSIC(X;T)", &x)
        );
    }
    out
}

fn pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

fn last_with_std(values: &[f64], stds: &[f64]) -> Option<(f64, f64)> {
    Some((*values.last()?, stds.last().copied().unwrap_or(0.0)))
}

/// The computed comparison of the two runs.
pub fn compare_runs(e2e: &RunSummary, lw: &RunSummary, n_test: usize) -> String {
    let mut out = String::new();
    let se2 = 2.0 * accuracy_se(0.5 * (e2e.test_accuracy + lw.test_accuracy), n_test);
    let _ = writeln!(
        out,
        "- Test accuracy: E2E {} vs layer-wise {} on {n_test} test samples — {} (twice the binomial standard error is {:.2} points).",
        pct(e2e.test_accuracy),
        pct(lw.test_accuracy),
        match compare_accuracy(e2e.test_accuracy, lw.test_accuracy, n_test) {
            Some(true) => "E2E is higher",
            Some(false) => "layer-wise is higher",
            None => "the difference is within sampling error",
        },
        100.0 * se2
    );
    let (mut hi_e, mut hi_l, mut same) = (Vec::new(), Vec::new(), Vec::new());
    for (a, b) in e2e.stages.iter().zip(&lw.stages) {
        let (Some(ya), Some(yb)) = (
            last_with_std(&a.nhsic_y, &a.nhsic_y_std),
            last_with_std(&b.nhsic_y, &b.nhsic_y_std),
        ) else {
            continue;
        };
        let label = stage_label(a);
        match compare_values(ya, yb) {
            Some(true) => hi_e.push(label),
            Some(false) => hi_l.push(label),
            None => same.push(label),
        }
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let _ = writeln!(
        out,
        "- Final nHSIC(Y;T), beyond the mini-batch spread: E2E higher in {}; layer-wise higher in {}; within the spread in {}.",
        list(&hi_e),
        list(&hi_l),
        list(&same)
    );
    let (mut sep_e, mut sep_l, mut sep_same) = (Vec::new(), Vec::new(), Vec::new());
    for (a, b) in e2e.stages.iter().zip(&lw.stages) {
        let (Some(pa), Some(pb)) = (a.probe_test_accuracy, b.probe_test_accuracy) else {
            continue;
        };
        let label = format!("{} ({} vs {})", stage_label(a), pct(pa), pct(pb));
        match compare_accuracy(pa, pb, n_test) {
            Some(true) => sep_e.push(label),
            Some(false) => sep_l.push(label),
            None => sep_same.push(label),
        }
    }
    let _ = writeln!(
        out,
        "- Linear separability (probe test accuracy, E2E vs layer-wise), beyond twice the binomial standard error: E2E more separable in {}; layer-wise more separable in {}; within sampling error in {}.",
        list(&sep_e),
        list(&sep_l),
        list(&sep_same)
    );
    out
}

fn is_mnist(d: &str) -> bool {
    d == "mnist" || d == "mnist-10k"
}

fn middle(s: &RunSummary) -> impl Iterator<Item = &StageSummary> {
    s.stages
        .iter()
        .filter(|st| st.role == Some(StageRole::Middle))
}

/// The paper's claims about LeNet5 (figure 3), and the general middle-layer and separability
/// claims, with verdicts computed from the two runs.
pub fn quick_findings(e2e: &RunSummary, lw: &RunSummary, n_test: usize) -> Vec<Finding> {
    let dataset = e2e.dataset.as_str();
    let only = |what: &str, ok: bool| -> std::result::Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "The paper's setting is {what}; this run is LeNet5 on {dataset}."
            ))
        }
    };
    let mut f = Vec::new();
    // Figure 3(a): planes alike.
    let mut differing = Vec::new();
    for (a, b) in e2e.stages.iter().zip(&lw.stages) {
        if let (Some((xa, ya)), Some((xb, yb))) = (read_stage(a), read_stage(b))
            && (xa.trend != xb.trend
                || ya.trend != yb.trend
                || xa.compression.is_some() != xb.compression.is_some()
                || ya.compression.is_some() != yb.compression.is_some())
        {
            differing.push(stage_label(a));
        }
    }
    let n = e2e.stages.len().min(lw.stages.len());
    f.push(Finding::checked(
        claims::FIG3A_ALIKE,
        only("MNIST", is_mnist(dataset)),
        differing.is_empty(),
        if differing.is_empty() {
            format!(
                "In all {n} stages both nHSIC series move the same way in both trainings (same direction beyond the spread, and a compression phase in both or in neither)."
            )
        } else {
            format!(
                "The dynamics differ (direction beyond the spread, or a compression phase in one training only) in {} of {n} stages: {}.",
                differing.len(),
                differing.join(", ")
            )
        },
    ));
    // Figure 3(a): accuracies alike.
    let gap = e2e.test_accuracy - lw.test_accuracy;
    let little = gap.abs()
        <= (2.0 * accuracy_se(0.5 * (e2e.test_accuracy + lw.test_accuracy), n_test)).max(0.01);
    f.push(Finding::checked(
        claims::FIG3A_ACCURACY,
        only("MNIST", is_mnist(dataset)),
        little,
        format!(
            "E2E {} vs layer-wise {}: a gap of {:.2} points ({} the larger of 1 point and twice the binomial standard error).",
            pct(e2e.test_accuracy),
            pct(lw.test_accuracy),
            100.0 * gap,
            if little { "within" } else { "beyond" }
        ),
    ));
    // Figure 3: E2E rises everywhere.
    let mut not_rising = Vec::new();
    for st in &e2e.stages {
        if let Some((x, y)) = read_stage(st)
            && !(x.trend == Trend::Rose
                && y.trend == Trend::Rose
                && x.compression.is_none()
                && y.compression.is_none())
        {
            not_rising.push(stage_label(st));
        }
    }
    f.push(Finding::checked(
        claims::FIG3_E2E_RISE,
        only(
            "MNIST or CIFAR10",
            is_mnist(dataset) || dataset == "cifar10",
        ),
        not_rising.is_empty(),
        if not_rising.is_empty() {
            format!(
                "In E2E training both nHSIC values rose beyond the spread, without a compression phase, in all {} stages.",
                e2e.stages.len()
            )
        } else {
            format!(
                "In E2E training, stages without a clean rise of both values: {}.",
                not_rising.join(", ")
            )
        },
    ));
    // Figure 3(b): first layer of layer-wise training compresses (CIFAR10).
    if let Some(t1) = lw.stages.first()
        && let Some((x, y)) = read_stage(t1)
    {
        let holds = x.compression.is_some() && y.compression.is_some();
        f.push(Finding::checked(
            claims::FIG3B_FIRST_LAYER,
            only("CIFAR10", dataset == "cifar10"),
            holds,
            format!(
                "Layer-wise {}: {}; {}.",
                stage_label(t1),
                describe("nHSIC(X;T)", &x),
                describe("nHSIC(Y;T)", &y)
            ),
        ));
    }
    // Figure 3(b): a noticeable accuracy gap (CIFAR10).
    let e2e_higher = compare_accuracy(e2e.test_accuracy, lw.test_accuracy, n_test);
    f.push(Finding::checked(
        claims::FIG3B_GAP,
        only("CIFAR10", dataset == "cifar10"),
        e2e_higher == Some(true),
        format!(
            "E2E {} vs layer-wise {} ({}).",
            pct(e2e.test_accuracy),
            pct(lw.test_accuracy),
            match e2e_higher {
                Some(true) => "E2E higher beyond twice the binomial standard error",
                Some(false) => "layer-wise higher beyond twice the binomial standard error",
                None => "within sampling error",
            }
        ),
    ));
    // Section 1: middle layers.
    let (holds, evidence) = middle_layers(e2e, lw, n_test);
    f.push(Finding::checked(
        claims::INTRO_MIDDLE,
        only("CIFAR10", dataset == "cifar10"),
        holds,
        evidence,
    ));
    // Figure 1: E2E more separable on test data at the last layer; both perfect on train.
    if let Some((holds, evidence)) = last_layer_separability(e2e, lw, n_test) {
        f.push(Finding::checked(
            claims::FIG1_TEST_SEPARABILITY,
            only("CIFAR10", dataset == "cifar10"),
            holds,
            evidence,
        ));
    }
    f
}

/// Section 1's claim on middle layers: E2E's nHSIC(Y;T) higher (beyond the spread) while
/// layer-wise probes are more accurate (beyond sampling error), in most middle stages.
pub fn middle_layers(e2e: &RunSummary, lw: &RunSummary, n_test: usize) -> (bool, String) {
    let pairs: Vec<(&StageSummary, &StageSummary)> = middle(e2e).zip(middle(lw)).collect();
    let mut both = 0;
    let mut detail = Vec::new();
    for (a, b) in &pairs {
        let y = match (
            last_with_std(&a.nhsic_y, &a.nhsic_y_std),
            last_with_std(&b.nhsic_y, &b.nhsic_y_std),
        ) {
            (Some(ya), Some(yb)) => compare_values(ya, yb),
            _ => None,
        };
        let p = match (a.probe_test_accuracy, b.probe_test_accuracy) {
            (Some(pa), Some(pb)) => compare_accuracy(pb, pa, n_test),
            _ => None,
        };
        if y == Some(true) && p == Some(true) {
            both += 1;
        }
        detail.push(format!(
            "{}: nHSIC(Y;T) {} in E2E, probe accuracy {} in layer-wise",
            stage_label(a),
            match y {
                Some(true) => "higher",
                Some(false) => "lower",
                None => "within the spread",
            },
            match p {
                Some(true) => "higher",
                Some(false) => "lower",
                None => "within sampling error",
            }
        ));
    }
    (
        !pairs.is_empty() && 2 * both > pairs.len(),
        format!(
            "Both hold in {both} of {} middle stages ({}).",
            pairs.len(),
            detail.join("; ")
        ),
    )
}

/// Figure 1's claim on the last layer: both probes perfect on the training samples (≥ 99%),
/// E2E's more accurate on the test split.
pub fn last_layer_separability(
    e2e: &RunSummary,
    lw: &RunSummary,
    n_test: usize,
) -> Option<(bool, String)> {
    let (a, b) = (e2e.stages.last()?, lw.stages.last()?);
    let (tra, trb, tea, teb) = (
        a.probe_train_accuracy?,
        b.probe_train_accuracy?,
        a.probe_test_accuracy?,
        b.probe_test_accuracy?,
    );
    let perfect = tra >= 0.99 && trb >= 0.99;
    let better = compare_accuracy(tea, teb, n_test) == Some(true);
    Some((
        perfect && better,
        format!(
            "At the last stage the probes reach {} (E2E) and {} (layer-wise) on the training samples (perfect taken as ≥ 99%) and {} vs {} on the test split ({}).",
            pct(tra),
            pct(trb),
            pct(tea),
            pct(teb),
            match compare_accuracy(tea, teb, n_test) {
                Some(true) => "E2E higher beyond twice the binomial standard error",
                Some(false) => "layer-wise higher beyond twice the binomial standard error",
                None => "within sampling error",
            }
        ),
    ))
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// A run's summary as it goes into `summary.json` of an artifact.
pub fn run_json(s: &RunSummary) -> serde_json::Value {
    serde_json::json!({
        "strategy": s.strategy,
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
            "- Model: {}; parameters drawn on the host from the seed with PyTorch's default initialization (identical initial stages in every run of this report).",
            s.model_description
        );
    }
    for (cfg, s) in configs.iter().zip(runs) {
        let _ = writeln!(
            r,
            "- `{}`: {} ({} parameters with the strategy's additions).",
            cfg.name,
            s.strategy_description,
            infoplane_models::summary::group(s.parameters)
        );
    }
    let _ = writeln!(
        r,
        "- Optimizer: {:?} lr {}, batch {}, {} epochs{}, seed {}; backend {backend}.",
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
        c.seed
    );
    let _ = writeln!(
        r,
        "- Evaluation mode: test accuracy, information planes and probes see the model with batch norm's running statistics and without dropout (training uses batch statistics and dropout, where the model has them)."
    );
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
    if !c.probe.enabled {
        return r;
    }
    let _ = writeln!(
        r,
        "- Probes: {} on frozen features of every stage (feature maps average-pooled to ≤ 2048 features, standardized with training statistics){}.",
        match c.probe.method {
            infoplane_train::config::ProbeMethod::Softmax => "a linear softmax classifier",
            infoplane_train::config::ProbeMethod::Ridge => "a closed-form ridge classifier",
        },
        match c.probe.method {
            infoplane_train::config::ProbeMethod::Softmax => format!(
                ", Adam lr {}, {} epochs (the last third at a tenth of the rate) on the training split",
                c.probe.lr, c.probe.epochs
            ),
            infoplane_train::config::ProbeMethod::Ridge => String::new(),
        }
    );
    r
}

/// Runs the quick reproduction into `a.out`.
pub fn quick(a: &QuickArgs, device: &Device) -> Result<()> {
    let t0 = Instant::now();
    // Check both configs and find the data before anything is written.
    let configs = [quick_config(a, "e2e")?, quick_config(a, "layerwise")?];
    infoplane_data::Locator::standard(a.data_dir.clone()).locate(configs[0].data.dataset)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    // Results of an earlier run must not look like this run's while it is under way.
    for f in ["summary.json", "report.md"] {
        let p = a.out.join(f);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    let mut summaries = Vec::new();
    for cfg in &configs {
        let strategy = cfg.strategy.kind();
        let dir = a.out.join("runs").join(strategy);
        eprintln!(
            "== {strategy} ({} epochs, {}) into {}",
            cfg.epochs,
            cfg.data.dataset,
            dir.display()
        );
        let s = infoplane_train::run(
            &cfg.clone().check()?,
            device,
            &dir,
            &RunOptions {
                on_existing: OnExisting::ReuseIfSame,
                progress: true,
                ..Default::default()
            },
        )
        .with_context(|| format!("run {strategy}"))?;
        eprintln!(
            "   test accuracy {:.2}%, {:.0} s",
            100.0 * s.test_accuracy,
            s.wall_seconds
        );
        summaries.push(s);
    }
    let runs = vec![
        read_run(&a.out.join("runs/e2e"))?,
        read_run(&a.out.join("runs/layerwise"))?,
    ];
    let mut figures = Vec::new();
    for (fig, stem) in [(Figure::InfoPlane, "infoplane"), (Figure::Probes, "probes")] {
        for ext in ["png", "svg"] {
            figures.push(plot(fig, &runs, &a.out.join(format!("{stem}.{ext}")))?);
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let (e2e, lw) = (&summaries[0], &summaries[1]);
    let n_test = configs[0].data.load(configs[0].seed)?.test.len();
    let findings = quick_findings(e2e, lw, n_test);
    let summary = serde_json::json!({
        "artifact": "quick",
        "dataset": configs[0].data.dataset.as_str(),
        "backend": a.backend,
        "kernel_convention": e2e.kernel_convention,
        "eval_set": e2e.eval_set,
        "model": e2e.model_description,
        "e2e": run_json(e2e),
        "layerwise": run_json(lw),
        "claims": findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
        "wall_seconds": wall,
    });
    let c = &configs[0];
    let mut r = String::new();
    let _ = writeln!(
        r,
        "# infoplane quick reproduction: LeNet5, E2E vs layer-wise, on {}\n",
        c.data.dataset
    );
    let _ = writeln!(
        r,
        "Generated by `cargo xtask reproduce quick` (the `infoplane reproduce quick` command).\n"
    );
    let _ = writeln!(r, "## Settings\n");
    r.push_str(&settings_lines(
        &[&configs[0], &configs[1]],
        &[e2e, lw],
        &a.backend,
    ));
    let _ = writeln!(
        r,
        "- Wall time: {:.0} s in all (E2E {:.0} s, layer-wise {:.0} s, each including measurements and probes; a finished run with the same config is reused).\n",
        wall, e2e.wall_seconds, lw.wall_seconds
    );
    let _ = writeln!(
        r,
        "## Accuracy\n\n| run | test accuracy | train accuracy (last epoch) |\n|---|---|---|"
    );
    for s in [e2e, lw] {
        let _ = writeln!(
            r,
            "| {} | {} | {} |",
            s.strategy,
            pct(s.test_accuracy),
            s.train_accuracy.map_or("—".into(), pct)
        );
    }
    let _ = writeln!(
        r,
        "\n## Linear probes per stage (figure 1)\n\n| stage | E2E train | E2E test | layer-wise train | layer-wise test | layer-wise head test |\n|---|---|---|---|---|---|"
    );
    for (a1, b1) in e2e.stages.iter().zip(&lw.stages) {
        let p = |v: Option<f64>| v.map(pct).unwrap_or_else(|| "—".into());
        let _ = writeln!(
            r,
            "| {} | {} | {} | {} | {} | {} |",
            stage_label(a1),
            p(a1.probe_train_accuracy),
            p(a1.probe_test_accuracy),
            p(b1.probe_train_accuracy),
            p(b1.probe_test_accuracy),
            p(b1.head_test_accuracy
                .or(if b1.role == Some(StageRole::Output) {
                    Some(lw.test_accuracy)
                } else {
                    None
                }))
        );
    }
    let _ = writeln!(
        r,
        "\n![probes](probes.png)\n\n## Information planes (figure 3)\n\n![information planes](infoplane.png)\n\nTop row E2E, bottom row layer-wise; one panel per stage; x = nHSIC(X;T), y = nHSIC(Y;T); colour runs from dark (start) to yellow (end). SVG versions: `infoplane.svg`, `probes.svg`.\n"
    );
    let _ = writeln!(
        r,
        "## Reading\n\nEvery sentence below is computed from the series in `summary.json`. A change is counted only when it exceeds the spread of nHSIC over the evaluation mini-batches at its two ends; a compression phase is a peak before the last point from which the series fell by more than the spread and by more than {:.0}% of its rise; accuracies are compared against twice their binomial standard error.\n\nE2E:\n{}\nLayer-wise:\n{}\nE2E vs layer-wise:\n{}",
        100.0 * crate::reading::COMPRESSION_FRACTION,
        read_planes(e2e),
        read_planes(lw),
        compare_runs(e2e, lw, n_test)
    );
    let _ = writeln!(
        r,
        "## The paper's claims beside ours\n\nEach claim is quoted from the paper with its setting; the verdict is computed from our two runs. Where the paper's setting differs from ours (dataset, model), the verdict is \"not comparable\" and the line still says what our numbers show.\n\n{}",
        claims::markdown(&findings)
    );
    let _ = writeln!(
        r,
        "## Files\n\n- `summary.json`: accuracies, per-stage nHSIC series with their spread, probe accuracies, the verdicts.\n- `runs/e2e/`, `runs/layerwise/`: resolved config, `metrics.jsonl`, `infoplane.jsonl`, `probes.csv`, checkpoint.\n- Figures: {}.",
        figures
            .iter()
            .map(|f| format!("`{}`", rel(f, &a.out)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    write_atomic(
        &a.out.join("summary.json"),
        &serde_json::to_string_pretty(&summary)?,
    )?;
    write_atomic(&a.out.join("report.md"), &r)?;
    eprintln!(
        "wrote {} and {} in {:.0} s",
        a.out.join("report.md").display(),
        a.out.join("summary.json").display(),
        wall
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Verdict;

    fn stage(i: usize, role: StageRole, x: &[f64], y: &[f64], probe: f64) -> StageSummary {
        StageSummary {
            stage: i,
            name: format!("s{i}"),
            role: Some(role),
            steps: (0..x.len() as u64).collect(),
            epochs: (0..x.len()).map(|e| e as f64).collect(),
            nhsic_x: x.to_vec(),
            nhsic_x_std: vec![0.1; x.len()],
            nhsic_y: y.to_vec(),
            nhsic_y_std: vec![0.1; y.len()],
            nhsic_x_batches: Vec::new(),
            nhsic_y_batches: Vec::new(),
            probe_train_accuracy: Some(1.0),
            probe_test_accuracy: Some(probe),
            head_test_accuracy: None,
        }
    }

    fn run(acc: f64, stages: Vec<StageSummary>) -> RunSummary {
        RunSummary {
            name: "r".into(),
            strategy: "s".into(),
            strategy_description: String::new(),
            model_description: String::new(),
            dataset: "mnist-10k".into(),
            epochs: 3,
            test_accuracy: acc,
            train_accuracy: Some(acc),
            wall_seconds: 1.0,
            parameters: 0,
            test_samples: 2000,
            stages,
            kernel_convention: None,
            eval_set: None,
            retrained_from: None,
        }
    }

    #[test]
    fn the_reading_and_the_verdicts_follow_the_numbers() {
        let rising = [1.0, 2.0, 3.0];
        let e2e = run(
            0.97,
            vec![
                stage(1, StageRole::First, &rising, &rising, 0.9),
                stage(2, StageRole::Middle, &rising, &[1.0, 2.0, 4.0], 0.9),
                stage(3, StageRole::Output, &rising, &rising, 0.9),
            ],
        );
        let alike = run(0.968, e2e.stages.clone());
        let f = quick_findings(&e2e, &alike, 2000);
        assert_eq!(f[0].verdict, Verdict::Agree, "{f:?}");
        assert_eq!(f[1].verdict, Verdict::Agree);
        assert_eq!(f[2].verdict, Verdict::Agree);
        // A layer-wise first layer that rises then falls, and a large accuracy gap: the same
        // claims now disagree, and the reading says "compression".
        let mut lw = alike.clone();
        lw.test_accuracy = 0.90;
        lw.stages[0] = stage(1, StageRole::First, &[1.0, 3.0, 1.5], &[1.0, 3.0, 1.5], 0.9);
        let f = quick_findings(&e2e, &lw, 2000);
        assert_eq!(f[0].verdict, Verdict::Disagree, "{}", f[0].evidence);
        assert!(
            f[0].evidence.contains("T1 s1 (first layer)"),
            "{}",
            f[0].evidence
        );
        assert_eq!(f[1].verdict, Verdict::Disagree);
        assert!(read_planes(&lw).contains("compression phase"));
        assert!(!read_planes(&e2e).contains("compression phase"));
        // The CIFAR10 claim is not comparable on MNIST data, whatever the numbers.
        assert_eq!(f[3].verdict, Verdict::NotComparable);
        assert!(f[3].evidence.contains("CIFAR10"));
        // The comparison names roles and uses the spread.
        let c = compare_runs(&e2e, &lw, 2000);
        assert!(c.contains("E2E is higher"), "{c}");
        let c = compare_runs(&e2e, &alike, 2000);
        assert!(c.contains("within sampling error"), "{c}");
        assert!(
            c.contains("within the spread in T1 s1 (first layer)"),
            "{c}"
        );
    }
}
