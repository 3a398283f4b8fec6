//! The `infoplane` binary end to end: the quick pipeline on a tiny setting, the data and hsic
//! commands, and clear errors with a non-zero exit for bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{infoplane, repo, text};

#[test]
fn quick_pipeline_runs_end_to_end_on_a_tiny_setting() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let out = results.join("quick");
    let o = infoplane(
        &[
            "reproduce",
            "quick",
            "--tiny",
            "--out",
            results.to_str().unwrap(),
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // The tiny setting of the main job (experiments/quick.toml): 3 epochs, measured before
    // training and at every epoch end.
    let points = 1 + 3;
    let runs = &s["runs"];
    for run in ["e2e", "layerwise"] {
        let acc = runs[run]["test_accuracy"].as_f64().unwrap();
        assert!(acc > 0.2, "{run}: {acc} is not above chance (0.1)");
        let stages = runs[run]["stages"].as_array().unwrap();
        assert_eq!(stages.len(), 5);
        let roles: Vec<&str> = stages
            .iter()
            .map(|st| st["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["first", "middle", "middle", "middle", "output"]);
        for st in stages {
            for key in ["nhsic_x", "nhsic_y", "nhsic_x_std", "nhsic_y_std", "epochs"] {
                assert_eq!(st[key].as_array().unwrap().len(), points, "{run} {key}");
            }
            let x = st["nhsic_x"].as_array().unwrap();
            assert!(x.iter().all(|v| v.as_f64().unwrap() > 0.0));
            // The probes see the same training samples as the network: above chance.
            assert!(st["probe_train_accuracy"].as_f64().unwrap() > 0.2);
            assert!(st["probe_test_accuracy"].as_f64().unwrap() > 0.1);
        }
        // A closed-form probe on the class-score stage reads as much as the network itself.
        let out = stages[4]["probe_test_accuracy"].as_f64().unwrap();
        assert!(out >= acc - 0.05, "{run}: probe {out} vs network {acc}");
        // Both runs start from the same weights: the first point of every stage agrees.
        assert_eq!(
            runs["e2e"]["stages"][0]["nhsic_x"][0],
            runs["layerwise"]["stages"][0]["nhsic_x"][0]
        );
    }
    let claims = s["claims"].as_array().unwrap();
    assert!(claims.len() >= 5);
    for c in claims {
        assert!(
            ["agree", "disagree", "not shown", "not comparable"]
                .contains(&c["verdict"].as_str().unwrap())
        );
    }
    assert!(s["wall_seconds"].as_f64().unwrap() > 0.0);
    for f in [
        "report.md",
        "infoplane.png",
        "infoplane.svg",
        "probes.png",
        "probes.svg",
    ] {
        let meta = std::fs::metadata(out.join(f)).unwrap_or_else(|_| panic!("{f} missing"));
        assert!(meta.len() > 1000, "{f} is too small");
    }
    let png = std::fs::read(out.join("infoplane.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("rbf-dimscaled")
            && report.contains("| T1 conv1 (first layer) |")
            && report.contains("conv 6@5x5 (padding 2)")
            && report.contains("subset seed 0")
            && report.contains("Y: linear (centered")
            && report.contains("there is not so much difference"),
        "{report}"
    );
    // A second invocation reuses the finished runs instead of training again.
    let o = infoplane(
        &[
            "reproduce",
            "quick",
            "--tiny",
            "--out",
            results.to_str().unwrap(),
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        again["runs"]["e2e"]["wall_seconds"],
        s["runs"]["e2e"]["wall_seconds"]
    );
    // The plot commands work on the run directories too.
    let fig = dir.path().join("fig.svg");
    let o = infoplane(
        &[
            "plot",
            "probes",
            out.join("runs/e2e").to_str().unwrap(),
            "--out",
            fig.to_str().unwrap(),
        ],
        repo(),
    );
    assert!(o.status.success() && fig.exists(), "{}", text(&o));
}

#[test]
fn data_info_and_show() {
    let o = infoplane(&["data", "info", "mnist-10k", "--json"], repo());
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["train"]["count"], 8004);
    assert_eq!(v["test"]["count"], 1996);
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("grid.png");
    let o = infoplane(
        &[
            "data",
            "show",
            "mnist-10k",
            "--count",
            "16",
            "--out",
            png.to_str().unwrap(),
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
}

#[test]
fn bad_input_is_a_clear_error_with_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let o = infoplane(
        &[
            "data",
            "info",
            "cifar10",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        repo(),
    );
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("data_batch_1.bin")
            && t.contains("xtask data fetch cifar10")
            && !t.contains("panicked"),
        "{t}"
    );
    let o = infoplane(&["data", "info", "imagenet"], repo());
    assert!(!o.status.success() && text(&o).contains("unknown dataset `imagenet`"));
    let o = infoplane(&["train", "--config", "/nonexistent.toml"], repo());
    assert!(!o.status.success() && text(&o).contains("/nonexistent.toml"));
    // Missing data: a clear error, and no output folder that could pass for a result.
    let out = dir.path().join("never");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = infoplane(
        &[
            "reproduce",
            "quick",
            "--tiny",
            "--data-dir",
            empty.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        repo(),
    );
    assert!(
        !o.status.success() && text(&o).contains("train-images-idx3-ubyte"),
        "{}",
        text(&o)
    );
    assert!(!out.exists());
    let o = infoplane(
        &["reproduce", "quick", "--backend", "wgpu", "--tiny"],
        repo(),
    );
    if !cfg!(feature = "wgpu") {
        assert!(
            !o.status.success() && text(&o).contains("--features wgpu"),
            "{}",
            text(&o)
        );
    }
}

fn npy(path: &Path, shape: &[usize], values: &[f64]) {
    std::fs::write(path, infoplane_hsic::npy::encode_npy_f64(shape, values)).unwrap();
}

#[test]
fn hsic_command_prints_the_four_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    let y = dir.path().join("y.npy");
    npy(&x, &[4, 1], &[1.0, 2.0, 3.0, 4.0]);
    npy(&y, &[4, 1], &[2.0, 4.0, 6.0, 8.0]);
    let o = infoplane(
        &[
            "hsic",
            "--x",
            x.to_str().unwrap(),
            "--y",
            y.to_str().unwrap(),
            "--kernel-x",
            "linear",
            "--json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in ["hsic", "hsic_unbiased", "cka", "nhsic", "n"] {
        assert!(keys.contains(&k), "{k} missing in {v}");
    }
    assert!((v["hsic"].as_f64().unwrap() - 100.0 / 9.0).abs() < 1e-9);
    assert!((v["cka"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    // Errors: different n, a bad kernel, σ ≤ 0, a malformed file.
    let z = dir.path().join("z.npy");
    npy(&z, &[5, 1], &[1.0, 2.0, 3.0, 4.0, 5.0]);
    let o = infoplane(
        &[
            "hsic",
            "--x",
            x.to_str().unwrap(),
            "--y",
            z.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        !o.status.success() && text(&o).contains("different numbers of samples"),
        "{}",
        text(&o)
    );
    let o = infoplane(
        &[
            "hsic",
            "--x",
            x.to_str().unwrap(),
            "--y",
            y.to_str().unwrap(),
            "--kernel-x",
            "gauss",
        ],
        dir.path(),
    );
    assert!(!o.status.success() && text(&o).contains("unknown kernel `gauss`"));
    let o = infoplane(
        &[
            "hsic",
            "--x",
            x.to_str().unwrap(),
            "--y",
            y.to_str().unwrap(),
            "--sigma-x",
            "0",
        ],
        dir.path(),
    );
    assert!(!o.status.success() && text(&o).contains("sigma"));
    // A negative ε is the option's own error, not the argument parser's.
    let o = infoplane(
        &[
            "hsic",
            "--x",
            x.to_str().unwrap(),
            "--y",
            y.to_str().unwrap(),
            "--eps",
            "-1e-5",
        ],
        dir.path(),
    );
    assert!(
        !o.status.success() && text(&o).contains("--eps -0.00001") && text(&o).contains("positive"),
        "{}",
        text(&o)
    );
    std::fs::write(&z, b"not numpy").unwrap();
    let o = infoplane(
        &[
            "hsic",
            "--x",
            z.to_str().unwrap(),
            "--y",
            y.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!o.status.success() && text(&o).contains("z.npy") && !text(&o).contains("panicked"));
}

#[test]
fn backends_lists_what_is_compiled() {
    let o = infoplane(&["backends"], repo());
    assert!(o.status.success());
    let t = text(&o);
    // One line per backend: "name  yes|no  devices". This build must say exactly which of
    // them its features compiled in.
    for (name, on) in [
        ("flex", cfg!(feature = "flex")),
        ("tch", cfg!(feature = "tch")),
        ("wgpu", cfg!(feature = "wgpu")),
        ("cuda", cfg!(feature = "cuda")),
    ] {
        let line = t
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no line for {name} in\n{t}"));
        let compiled = line.split_whitespace().nth(1);
        assert_eq!(compiled, Some(if on { "yes" } else { "no" }), "{line}");
        if !on {
            assert!(line.contains(&format!("--features {name}")), "{line}");
        }
    }
    assert!(t.contains(&format!(
        "default: {}",
        if cfg!(feature = "flex") { "flex" } else { "" }
    )));
}

#[test]
fn models_prints_stages_shapes_and_parameter_counts() {
    let o = infoplane(&["models", "resnet18", "--json"], repo());
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["resnet18"]["total_params"], 11_173_962);
    assert_eq!(v["resnet18"]["stages"].as_array().unwrap().len(), 9);
    let o = infoplane(&["models", "lenet5", "--input", "1x28x28"], repo());
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("61,706") && t.contains("map 16x5x5"),
        "{t}"
    );
    let o = infoplane(&["models", "vgg11", "--input", "1x28x28"], repo());
    assert!(
        !o.status.success() && text(&o).contains("pad_to = 32"),
        "{}",
        text(&o)
    );
    let o = infoplane(&["models", "--input", "3by32"], repo());
    assert!(
        !o.status.success() && text(&o).contains("CxHxW"),
        "{}",
        text(&o)
    );
}

#[test]
fn train_refuses_a_finished_folder_and_prints_the_resolved_config() {
    let dir = tempfile::tempdir().unwrap();
    let o = infoplane(
        &[
            "train",
            "--print-config",
            "--arch",
            "vgg11",
            "--strategy",
            "layerwise",
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let t = String::from_utf8_lossy(&o.stdout);
    for key in [
        "arch = \"vgg11\"",
        "kind = \"layerwise\"",
        "head = \"linear\"",
        "subset_seed",
        "center_y",
        "sigma_y",
        "batch_norm = true",
    ] {
        assert!(t.contains(key), "{key} missing in\n{t}");
    }
    let cfg = dir.path().join("run.toml");
    std::fs::write(
        &cfg,
        "epochs = 1\nbatch_size = 64\n[data]\ndataset = \"mnist-10k\"\nlimit_train = 128\nlimit_test = 64\n[model]\narch = \"lenet5\"\n[strategy]\nkind = \"e2e\"\n[infoplane]\nenabled = false\n[probe]\nenabled = false\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    let args = [
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let o = infoplane(&args, repo());
    assert!(o.status.success(), "{}", text(&o));
    let o = infoplane(&args, repo());
    assert!(
        !o.status.success() && text(&o).contains("--overwrite") && text(&o).contains("run"),
        "{}",
        text(&o)
    );
    let mut over = args.to_vec();
    over.push("--overwrite");
    assert!(infoplane(&over, repo()).status.success());
}

#[test]
fn help_and_the_method_list_come_from_the_registry() {
    let help = text(&infoplane(&["train", "--help"], repo()));
    let table = text(&infoplane(&["methods", "--markdown"], repo()));
    for kind in [
        "e2e",
        "layerwise",
        "signal-propagation",
        "retrain",
        "forward-forward",
        "forward-gradient",
    ] {
        assert!(
            help.contains(&format!("kind = \"{kind}\"")),
            "{kind} in\n{help}"
        );
        assert!(
            table.contains(&format!("| `{kind}` |")),
            "{kind} in\n{table}"
        );
    }
    // The README's method table is the registry's.
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("<!-- methods:begin -->\n")
        .nth(1)
        .and_then(|r| r.split("<!-- methods:end -->").next())
        .expect("the README's method table");
    assert_eq!(
        section, table,
        "regenerate it with `infoplane methods --markdown`"
    );
    // An unknown kind names the registered ones.
    let o = infoplane(
        &["train", "--print-config", "--strategy", "forward-forwards"],
        repo(),
    );
    assert!(
        !o.status.success() && text(&o).contains("forward-gradient"),
        "{}",
        text(&o)
    );
}

#[test]
fn bench_step_reports_speed_and_memory() {
    // e2e twice: its images come from the config's seed, so the losses repeat.
    let mut losses = Vec::new();
    for strategy in ["e2e", "layerwise", "e2e"] {
        let o = infoplane(
            &[
                "bench-step",
                "--strategy",
                strategy,
                "--batch",
                "16",
                "--steps",
                "3",
            ],
            repo(),
        );
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(v["images_per_second"].as_f64().unwrap() > 0.0);
        assert!(v["peak_rss_mib"].as_f64().unwrap() > 1.0);
        let loss = v["last_loss"].as_f64().unwrap();
        assert!(loss.is_finite());
        losses.push(loss);
    }
    assert_eq!(
        losses[0], losses[2],
        "the same bench-step twice, different losses"
    );
}

#[test]
fn every_experiment_file_plans_at_every_scale() {
    // `--dry-run` plans every artifact: each file parses and every run's config validates.
    let dir = tempfile::tempdir().unwrap();
    for scale in ["paper", "quick"] {
        let o = infoplane(
            &[
                "reproduce",
                "all",
                "--scale",
                scale,
                "--dry-run",
                "--no-timing",
                "--out",
                dir.path().to_str().unwrap(),
            ],
            repo(),
        );
        let t = text(&o);
        assert!(o.status.success(), "{scale}: {t}");
        for artifact in ["fig1", "fig3", "fig5", "fig19", "table1", "table3"] {
            assert!(
                t.contains(&format!("{artifact}: ")),
                "{scale}: {artifact} missing\n{t}"
            );
        }
        assert!(t.contains("total: ") && t.contains("runs, about"), "{t}");
    }
    // Nothing was trained or written.
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn artifacts_reproduce_end_to_end_on_a_tiny_setting() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    for artifact in ["fig3", "fig5", "table3", "fig1"] {
        let o = infoplane(
            &[
                "reproduce",
                artifact,
                "--tiny",
                "--out",
                results.to_str().unwrap(),
            ],
            repo(),
        );
        assert!(o.status.success(), "{artifact}: {}", text(&o));
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(results.join(artifact).join("summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(s["scale"], "tiny");
        assert!(
            s["missing"].as_array().unwrap().is_empty(),
            "{artifact}: {s}"
        );
        let claims = s["claims"].as_array().unwrap();
        assert!(!claims.is_empty(), "{artifact}");
        for c in claims {
            assert!(
                ["agree", "disagree", "not shown", "not comparable"]
                    .contains(&c["verdict"].as_str().unwrap())
            );
            assert!(c["quote"].as_str().unwrap().len() > 20);
        }
        let report = std::fs::read_to_string(results.join(artifact).join("report.md")).unwrap();
        assert!(report.contains("**Scale: tiny**") && report.contains("## The paper's claims"));
    }
    // The figures of an artifact exist as PNG and SVG; the toy has its own.
    for f in [
        "fig3/infoplane-mnist.png",
        "fig3/infoplane-cifar10.svg",
        "fig5/toy.png",
        "fig5/toy.svg",
        "fig1/probes.png",
    ] {
        assert!(results.join(f).exists(), "{f}");
    }
    // fig5 reuses fig3's layer-wise LeNet5 runs (three seeds): one folder each in the pool,
    // linked from both.
    for seed in 0..3 {
        let link = format!("runs/lenet5-cifar10-layerwise-seed{seed}");
        let a = std::fs::canonicalize(results.join("fig3").join(&link)).unwrap();
        let b = std::fs::canonicalize(results.join("fig5").join(&link)).unwrap();
        assert_eq!(a, b);
    }
    // The index gathers them, with the SVG figures inline.
    let html = std::fs::read_to_string(results.join("index.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("id=\"table3\""));
    let md = std::fs::read_to_string(results.join("index.md")).unwrap();
    assert!(md.contains("[fig1](fig1/report.md)"));
}

/// Every artifact of `reproduce all` at the tiny scale, with the index: about 4 minutes on 2
/// cores, so outside the default suite
/// (`cargo test -p infoplane-cli --test cli -- --ignored`).
#[test]
#[ignore]
fn every_artifact_reproduces_on_a_tiny_setting() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let o = infoplane(
        &[
            "reproduce",
            "all",
            "--tiny",
            "--out",
            results.to_str().unwrap(),
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(results.join("index.md")).unwrap();
    for n in [1, 3, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19] {
        let a = format!("fig{n}");
        assert!(results.join(&a).join("report.md").exists(), "{a}");
        assert!(
            md.contains(&format!("[{a}]({a}/report.md)")),
            "{a} in the index"
        );
    }
    for n in 1..=4 {
        let a = format!("table{n}");
        assert!(results.join(&a).join("report.md").exists(), "{a}");
    }
    // table4 has no offline data at the scales below paper: its report says so.
    let t4 = std::fs::read_to_string(results.join("table4/report.md")).unwrap();
    assert!(t4.contains("CIFAR-100"), "{t4}");
}

#[test]
fn sweep_plan_runs_through_the_job_list_and_collects() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("sweep");
    let bin = env!("CARGO_BIN_EXE_infoplane");
    let o = infoplane(
        &[
            "sweep",
            "plan",
            "table2",
            "--scale",
            "tiny",
            "--out",
            sweep.to_str().unwrap(),
            "--binary",
            bin,
            "--slurm=--time=01:00:00",
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let jobs = std::fs::read_to_string(sweep.join("jobs.txt")).unwrap();
    let after = std::fs::read_to_string(sweep.join("jobs-after.txt")).unwrap();
    assert_eq!(jobs.lines().count(), 2, "{jobs}");
    assert_eq!(after.lines().count(), 1, "{after}");
    let sbatch = std::fs::read_to_string(sweep.join("slurm.sbatch")).unwrap();
    assert!(sbatch.contains("#SBATCH --time=01:00:00") && sbatch.contains("SLURM_ARRAY_TASK_ID"));
    // Before any job ran, collect reports every run missing.
    let o = infoplane(&["sweep", "collect", sweep.to_str().unwrap()], repo());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).matches("missing:").count(), 3, "{}", text(&o));
    // The job list runs anywhere a shell does (here one line after another, as a Slurm array
    // task would), the dependent job after the others.
    for line in jobs.lines().chain(after.lines()) {
        let st = Command::new("bash").arg("-c").arg(line).status().unwrap();
        assert!(st.success(), "{line}");
    }
    let o = infoplane(&["sweep", "collect", sweep.to_str().unwrap()], repo());
    assert!(
        o.status.success() && text(&o).contains("3 of 3 runs finished"),
        "{}",
        text(&o)
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sweep.join("summary.json")).unwrap())
            .unwrap();
    assert!(
        s["runs"]["resnet18-retrain"]["test_accuracy"]
            .as_f64()
            .is_some()
    );
    // A job run twice reuses its finished run.
    let first = jobs.lines().next().unwrap();
    assert!(
        Command::new("bash")
            .arg("-c")
            .arg(first)
            .status()
            .unwrap()
            .success()
    );
}

/// A small LeNet5 run config on the bundled digits (batch 64, no probes): `epochs`, `train`
/// and `test` samples, and the lines of its `[infoplane]` table.
fn lenet_config(d: &Path, epochs: usize, train: usize, test: usize, infoplane: &str) -> PathBuf {
    let cfg = d.join("lenet.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"lenet\"\nepochs = {epochs}\nbatch_size = 64\n[data]\ndataset = \"mnist-10k\"\nlimit_train = {train}\nlimit_test = {test}\n[model]\narch = \"lenet5\"\n[strategy]\nkind = \"e2e\"\n[infoplane]\n{infoplane}\n[probe]\nenabled = false\n"
        ),
    )
    .unwrap();
    cfg
}

/// Trains `cfg` into `out`; the run must succeed.
fn train_into(cfg: &Path, out: &Path) {
    let o = infoplane(
        &[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn set_changes_any_key_checked_like_the_file_and_the_run_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = lenet_config(d, 1, 256, 128, "enabled = false");
    let c = cfg.to_str().unwrap();
    let o = infoplane(
        &[
            "train",
            "--config",
            c,
            "--set",
            "optim.lr=1e-3",
            "--set",
            "strategy.kind=layerwise",
            "--set",
            "strategy.head=mlp",
            "--print-config",
        ],
        repo(),
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("lr = 0.001")
            && t.contains("kind = \"layerwise\"")
            && t.contains("head = \"mlp\""),
        "{t}"
    );
    // An unknown key lists the table's keys; a wrong type says what was expected.
    let o = infoplane(
        &[
            "train",
            "--config",
            c,
            "--set",
            "optim.lrr=1",
            "--print-config",
        ],
        repo(),
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("optim.lrr") && text(&o).contains("`weight_decay`"),
        "{}",
        text(&o)
    );
    let o = infoplane(
        &[
            "train",
            "--config",
            c,
            "--set",
            "epochs=many",
            "--print-config",
        ],
        repo(),
    );
    assert!(
        !o.status.success() && text(&o).contains("epochs=many"),
        "{}",
        text(&o)
    );
    // A value checked like the file's.
    let o = infoplane(
        &[
            "train",
            "--config",
            c,
            "--out",
            d.join("wide").to_str().unwrap(),
            "--set",
            "model.width=1e9",
        ],
        repo(),
    );
    assert!(
        !o.status.success() && text(&o).contains("model.width"),
        "{}",
        text(&o)
    );
    // The run's config.toml holds the value and says it was set on the command line.
    let out = d.join("run");
    let o = infoplane(
        &[
            "train",
            "--config",
            c,
            "--out",
            out.to_str().unwrap(),
            "--set",
            "optim.lr=2e-3",
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let saved = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        saved.starts_with("# set on the command line: optim.lr=2e-3\n")
            && saved.contains("lr = 0.002"),
        "{saved}"
    );
    // The same run asked for again is the same run (the comment does not make it another).
    let o = infoplane(
        &[
            "train",
            "--config",
            c,
            "--out",
            out.to_str().unwrap(),
            "--reuse",
            "--set",
            "optim.lr=2e-3",
        ],
        repo(),
    );
    assert!(
        o.status.success() && !text(&o).contains("another config"),
        "{}",
        text(&o)
    );
    // reproduce and sweep plan take the same settings: the plan says so and every config has them.
    let o = infoplane(
        &[
            "reproduce",
            "fig3",
            "--dry-run",
            "--no-timing",
            "--set",
            "optim.lr=1e-3",
        ],
        repo(),
    );
    assert!(
        o.status.success()
            && text(&o).contains("set on the command line for every run: optim.lr=1e-3"),
        "{}",
        text(&o)
    );
    let sweep = d.join("sweep");
    let o = infoplane(
        &[
            "sweep",
            "plan",
            "fig3",
            "--scale",
            "quick",
            "--out",
            sweep.to_str().unwrap(),
            "--set",
            "epochs=3",
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    for e in std::fs::read_dir(sweep.join("configs")).unwrap().flatten() {
        let t = std::fs::read_to_string(e.path()).unwrap();
        assert!(
            t.contains("# set on the command line: epochs=3") && t.contains("\nepochs = 3\n"),
            "{t}"
        );
    }
}

#[test]
fn a_plane_of_dumped_representations_equals_the_one_recorded_during_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = lenet_config(d, 2, 512, 256, "samples = 256\nbatch = 64");
    let run = d.join("run");
    train_into(&cfg, &run);
    let reprs = d.join("reprs");
    let o = infoplane(
        &[
            "reprs",
            run.to_str().unwrap(),
            "--out",
            reprs.to_str().unwrap(),
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(reprs.join("16_conv1.npy").exists() && reprs.join("16_fc5.npy").exists());
    let out = d.join("plane");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "plane",
            "--reprs",
            reprs.to_str().unwrap(),
            "--inputs",
            reprs.to_str().unwrap(),
            "--labels",
            reprs.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        v.extend_from_slice(extra);
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let mut a = args(&[
        "--settings-of",
        run.to_str().unwrap(),
        "--steps-per-epoch",
        "8",
    ]);
    a[4] = reprs.join("x.npy").to_str().unwrap().into();
    a[6] = reprs.join("y.npy").to_str().unwrap().into();
    let o = infoplane(&a.iter().map(String::as_str).collect::<Vec<_>>(), repo());
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("infoplane.png").exists() && out.join("readings.txt").exists());
    // The last point of every stage recorded during training, and the one measured now from
    // the checkpoint's dumped representations: the same numbers.
    let recorded = infoplane_hsic::read_points(&run.join("infoplane.jsonl")).unwrap();
    let measured = infoplane_hsic::read_points(&out.join("infoplane.jsonl")).unwrap();
    assert_eq!(measured.len(), 5);
    for m in &measured {
        let r = recorded
            .iter()
            .rfind(|p| p.stage == m.stage)
            .expect("the stage was recorded");
        assert_eq!(
            (r.step, r.stage_name.as_str()),
            (m.step, m.stage_name.as_str())
        );
        assert_eq!(r.epoch, m.epoch);
        for (a, b) in [(r.nhsic_x, m.nhsic_x), (r.nhsic_y, m.nhsic_y)] {
            assert!(
                (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                "{} {a} vs {b}",
                m.stage_name
            );
        }
    }
    // A second measurement into the same folder is refused; a missing layer file is named.
    let o = infoplane(&a.iter().map(String::as_str).collect::<Vec<_>>(), repo());
    assert!(
        !o.status.success() && text(&o).contains("--overwrite"),
        "{}",
        text(&o)
    );
    std::fs::remove_file(reprs.join("16_fc4.npy")).unwrap();
    let mut b = a.clone();
    b.push("--overwrite".into());
    let o = infoplane(&b.iter().map(String::as_str).collect::<Vec<_>>(), repo());
    assert!(
        !o.status.success() && text(&o).contains("fc4"),
        "{}",
        text(&o)
    );
}

/// A Python with torch and numpy: `INFOPLANE_PYTHON`, else `python3` when it has them.
/// With `INFOPLANE_REQUIRE_TORCH` set (CI), a missing one fails the test instead of skipping.
fn torch_python() -> Option<String> {
    let py = std::env::var("INFOPLANE_PYTHON").unwrap_or_else(|_| "python3".into());
    let found = Command::new(&py)
        .args(["-c", "import torch, numpy"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| py.clone());
    if found.is_none() && std::env::var_os("INFOPLANE_REQUIRE_TORCH").is_some() {
        panic!("INFOPLANE_REQUIRE_TORCH is set but `{py}` cannot import torch and numpy");
    }
    found
}

#[test]
fn the_pytorch_dump_script_writes_what_plane_measures() {
    let Some(py) = torch_python() else {
        eprintln!("skipped: no Python with torch (set INFOPLANE_PYTHON to one)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = d.join("e.toml");
    std::fs::write(
        &cfg,
        "name = \"e\"\n[data]\ndataset = \"mnist-10k\"\nlimit_train = 512\nlimit_test = 256\n[model]\narch = \"lenet5\"\n[strategy]\nkind = \"e2e\"\n",
    )
    .unwrap();
    let data = d.join("data");
    let o = infoplane(
        &[
            "data",
            "export",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            data.to_str().unwrap(),
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let reprs = d.join("reprs");
    let script = repo().join("scripts/dump_reprs_torch.py");
    let o = Command::new(&py)
        .args([
            script.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--out",
            reprs.to_str().unwrap(),
            "--epochs",
            "2",
            "--every",
            "4",
            "--eval",
            "256",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = d.join("plane");
    let o = infoplane(
        &[
            "plane",
            "--reprs",
            reprs.to_str().unwrap(),
            "--inputs",
            reprs.join("x.npy").to_str().unwrap(),
            "--labels",
            reprs.join("y.npy").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--batch",
            "64",
            "--steps-per-epoch",
            "4",
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let points = infoplane_hsic::read_points(&out.join("infoplane.jsonl")).unwrap();
    // Steps 0, 4 and the end (8) for the four layers, in the script's order.
    assert_eq!(points.len(), 3 * 4);
    let names: Vec<&str> = points[..4].iter().map(|p| p.stage_name.as_str()).collect();
    assert_eq!(names, ["conv1", "conv2", "fc1", "fc2"]);
    assert!(
        points
            .iter()
            .all(|p| p.nhsic_x.is_finite() && p.nhsic_y > 0.0)
    );
}

#[test]
fn a_grid_plans_every_combination_and_collect_tabulates_it() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("grid");
    let bin = env!("CARGO_BIN_EXE_infoplane");
    let o = infoplane(
        &[
            "sweep",
            "plan",
            "quick",
            "--scale",
            "quick",
            "--out",
            sweep.to_str().unwrap(),
            "--binary",
            bin,
            "--grid",
            "optim.lr=1e-3,2e-3",
            "--grid",
            "epochs=1,2",
            "--set",
            "data.limit_train=256",
            "--set",
            "data.limit_test=128",
            "--set",
            "infoplane.samples=128",
            "--set",
            "infoplane.batch=64",
            "--set",
            "probe.enabled=false",
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    // 2 x 2 points of the main job's two runs, each point in a folder of its own.
    let jobs = std::fs::read_to_string(sweep.join("jobs.txt")).unwrap();
    assert_eq!(jobs.lines().count(), 8, "{jobs}");
    let cfg =
        std::fs::read_to_string(sweep.join("configs/optim.lr-2e-3_epochs-1__e2e.toml")).unwrap();
    assert!(
        cfg.contains("lr = 0.002") && cfg.contains("\nepochs = 1\n"),
        "{cfg}"
    );
    // Run the E2E jobs only; the table says which runs have not finished.
    for line in jobs.lines().filter(|l| l.contains("__e2e")) {
        let st = Command::new("bash").args(["-c", line]).status().unwrap();
        assert!(st.success(), "{line}");
    }
    let o = infoplane(&["sweep", "collect", sweep.to_str().unwrap()], repo());
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let rows: Vec<&str> = t.lines().filter(|l| l.starts_with("| optim.lr-")).collect();
    assert_eq!(rows.len(), 8, "{t}");
    assert_eq!(
        rows.iter().filter(|r| r.contains("not finished")).count(),
        4,
        "{t}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("| 2e-3 | 2 |") && r.contains("conv1")),
        "{t}"
    );
    assert!(
        t.contains("| optim.lr | 1e-3 |") && t.contains("| 2 |"),
        "{t}"
    );
    assert!(sweep.join("grid.md").exists());
}

#[test]
fn export_writes_pytorch_named_safetensors_that_pytorch_scores_like_us() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = lenet_config(d, 1, 256, 128, "samples = 128\nbatch = 64");
    let run = d.join("run");
    train_into(&cfg, &run);
    let file = d.join("net.safetensors");
    let o = infoplane(
        &[
            "export",
            run.to_str().unwrap(),
            "--out",
            file.to_str().unwrap(),
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    // The header: PyTorch's names and layouts (linear weights out x in), LeNet5's 61,706
    // parameters on 1x28x28 inputs.
    let bytes = std::fs::read(&file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert_eq!(
        header["stages.0.conv.conv.weight"]["shape"],
        serde_json::json!([6, 1, 5, 5])
    );
    assert_eq!(
        header["stages.2.linear.weight"]["shape"],
        serde_json::json!([120, 400])
    );
    let params: u64 = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(_, v)| {
            v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .product::<u64>()
        })
        .sum();
    assert_eq!(params, 61_706);
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("net.json")).unwrap()).unwrap();
    assert_eq!(side["model"]["arch"], "lenet5");
    assert_eq!(side["input"], serde_json::json!([1, 28, 28]));
    // Where PyTorch is installed: the rebuilt module's class scores equal ours.
    let Some(py) = torch_python() else {
        eprintln!("PyTorch comparison skipped: no Python with torch (set INFOPLANE_PYTHON)");
        return;
    };
    let reprs = d.join("reprs");
    let o = infoplane(
        &[
            "reprs",
            run.to_str().unwrap(),
            "--out",
            reprs.to_str().unwrap(),
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = Command::new(py)
        .args([
            repo().join("scripts/torch_models.py").to_str().unwrap(),
            file.to_str().unwrap(),
            "--check",
            reprs.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("max |PyTorch - infoplane|"),
        "{}",
        text(&o)
    );
}
