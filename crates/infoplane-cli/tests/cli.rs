//! The `infoplane` binary end to end: the quick pipeline on a tiny setting, the data and hsic
//! commands, and clear errors with a non-zero exit for bad input.

use std::path::Path;
use std::process::{Command, Output};

fn infoplane(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infoplane"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn quick_pipeline_runs_end_to_end_on_a_tiny_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("quick");
    let o = infoplane(
        &[
            "reproduce",
            "quick",
            "--tiny",
            "--out",
            out.to_str().unwrap(),
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for run in ["e2e", "layerwise"] {
        let acc = s[run]["test_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        let stages = s[run]["stages"].as_array().unwrap();
        assert_eq!(stages.len(), 5);
        for st in stages {
            assert!(st["nhsic_x"].as_array().unwrap().len() >= 3);
            assert_eq!(
                st["nhsic_x"].as_array().unwrap().len(),
                st["nhsic_y"].as_array().unwrap().len()
            );
            assert!(
                st["probe_train_accuracy"].as_f64().is_some()
                    && st["probe_test_accuracy"].as_f64().is_some()
            );
        }
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
        report.contains("rbf-dimscaled") && report.contains("| T1 conv1 |"),
        "{report}"
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
    assert!(
        t.contains("flex") && t.contains("tch") && t.contains("wgpu") && t.contains("cuda"),
        "{t}"
    );
}

#[test]
fn bench_step_reports_speed_and_memory() {
    for strategy in ["e2e", "layerwise"] {
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
        assert!(v["last_loss"].as_f64().unwrap().is_finite());
    }
}
