//! What a user types or a file contains never crashes a run, exhausts memory, silently changes
//! an experiment or destroys a finished result, and a result is never reused from other code:
//! each case with the message the user sees.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{infoplane, repo, text};

/// A refusal: non-zero exit, every `needles` in the message, no panic or allocation abort.
fn refused(o: &Output, needles: &[&str]) {
    let t = text(o);
    assert!(!o.status.success(), "expected a refusal, got success:\n{t}");
    assert!(
        !t.contains("panicked") && !t.contains("memory allocation"),
        "not a clear error:\n{t}"
    );
    for n in needles {
        assert!(t.contains(n), "`{n}` missing from:\n{t}");
    }
}

/// A small, fast LeNet5 run on the bundled data, with `extra` lines appended to its tables.
fn config(dir: &Path, name: &str, top: &str, tables: &[(&str, &str)]) -> PathBuf {
    let mut t = format!(
        "name = \"{name}\"\nepochs = 1\nbatch_size = 64\n{top}\n[data]\ndataset = \"mnist-10k\"\nlimit_train = 256\nlimit_test = 128\n"
    );
    let mut sections = vec![
        ("data", String::new()),
        ("model", "arch = \"lenet5\"\n".to_string()),
        ("strategy", "kind = \"e2e\"\n".to_string()),
        ("optim", String::new()),
        ("infoplane", "enabled = false\n".to_string()),
        ("probe", "enabled = false\n".to_string()),
    ];
    for (table, line) in tables {
        let s = sections
            .iter_mut()
            .find(|(n, _)| n == table)
            .expect("a known table");
        s.1.push_str(line);
        s.1.push('\n');
    }
    for (n, body) in sections {
        if n == "data" {
            t.push_str(&body);
        } else {
            t.push_str(&format!("[{n}]\n{body}"));
        }
    }
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, t).unwrap();
    p
}

fn train(cfg: &Path, out: &Path, more: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(more);
    infoplane(&args, repo())
}

#[test]
fn sizes_are_checked_before_anything_is_allocated() {
    let o = infoplane(&["models", "lenet5", "--width", "1e9"], repo());
    refused(&o, &["width", "(0, 64]"]);
    let o = infoplane(&["models", "lenet5", "--input", "1x100000x100000"], repo());
    refused(&o, &["input", "1..=65536"]);
    // Within the bounds, but far beyond any machine's memory: refused from the shapes.
    let o = infoplane(&["models", "lenet5", "--input", "1x60000x60000"], repo());
    refused(
        &o,
        &["--input 1x60000x60000", "parameters", "activation values"],
    );
    let o = infoplane(&["models", "vit", "--input", "3x65536x65536"], repo());
    refused(&o, &["vit", "activation values"]);

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "wide", "", &[("model", "width = 1e9")]);
    refused(&train(&cfg, &dir.path().join("w"), &[]), &["model.width"]);
    let cfg = config(dir.path(), "padded", "", &[("data", "pad_to = 100000")]);
    refused(&train(&cfg, &dir.path().join("p"), &[]), &["data.pad_to"]);
    // Wide enough to exceed memory at the configured batch, not the width bound.
    let cfg = config(
        dir.path(),
        "big",
        "",
        &[("model", "width = 64"), ("data", "pad_to = 4096")],
    );
    refused(
        &train(&cfg, &dir.path().join("b"), &[]),
        &["model", "batch_size = 64"],
    );

    // A .npy header whose shape multiplies past the address space.
    let x = dir.path().join("huge.npy");
    let mut b = infoplane_hsic::npy::encode_npy_f64(&[1, 1], &[0.5]);
    let at = b.windows(6).position(|w| w == b"(1, 1)").unwrap();
    let shape = format!("({}, {})", 1u64 << 32, 1u64 << 29);
    b.splice(at..at + 6, shape.bytes());
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize + shape.len() - 6;
    b[8..10].copy_from_slice(&(hlen as u16).to_le_bytes());
    std::fs::write(&x, &b).unwrap();
    let o = infoplane(
        &[
            "hsic",
            "--x",
            x.to_str().unwrap(),
            "--y",
            x.to_str().unwrap(),
        ],
        repo(),
    );
    refused(&o, &["huge.npy", "more values than can be addressed"]);
}

/// A config's name, the line added to one of its tables, and what the refusal says.
type Case<'a> = (&'a str, (&'a str, &'a str), &'a [&'a str]);

#[test]
fn values_that_would_silently_change_the_experiment_are_refused_or_stated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: [Case; 6] = [
        (
            "topk",
            ("strategy", "kind = \"signal-propagation\"\ntop_k = 64"),
            &["strategy.top_k", "below batch_size (64)"],
        ),
        (
            "hidden",
            ("model", "arch = \"mlp\"\nhidden = 0"),
            &["model.hidden"],
        ),
        (
            "pad",
            ("data", "pad_to = 16"),
            &["data.pad_to", "smaller than the 28x28 images"],
        ),
        (
            "milestones",
            ("optim", "milestones = [4, 2]"),
            &["optim.milestones", "strictly increasing"],
        ),
        ("dots", ("data", ""), &["name", "path separators"]),
        ("abs", ("data", ""), &["name", "path separators"]),
    ];
    for (name, (table, line), needles) in cases {
        let p = config(d, name, "", &[(table, line)]);
        let mut text = std::fs::read_to_string(&p).unwrap();
        // The MLP and signal-propagation cases replace the helper's arch and kind.
        if line.starts_with("arch = ") {
            text = text.replacen("arch = \"lenet5\"\n", "", 1);
        }
        if line.starts_with("kind = ") {
            text = text.replacen("kind = \"e2e\"\n", "", 1);
        }
        match name {
            "dots" => text = text.replacen("name = \"dots\"", "name = \"../x\"", 1),
            "abs" => text = text.replacen("name = \"abs\"", "name = \"/tmp/x\"", 1),
            _ => {}
        }
        std::fs::write(&p, text).unwrap();
        let o = infoplane(&["train", "--config", p.to_str().unwrap()], d);
        refused(&o, needles);
    }
    assert!(!d.join("x").exists() && !d.join("runs").exists());

    // More evaluation samples than the split holds: measured on the whole split, and said in
    // the run's log and in its summary (which the reports print).
    let p = config(
        d,
        "many",
        "",
        &[("infoplane", "enabled = true\nsamples = 100000\nbatch = 64")],
    );
    let t = std::fs::read_to_string(&p).unwrap().replacen(
        "enabled = false\nenabled = true",
        "enabled = true",
        1,
    );
    std::fs::write(&p, t).unwrap();
    let out = d.join("many");
    let o = train(&p, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("all 128 samples of the test split"),
        "{}",
        text(&o)
    );
    let s = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(s.contains("asked for more than the split holds"), "{s}");
}

/// A finished one-epoch run.
fn finished(d: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cfg = config(d, name, "", &[]);
    let out = d.join(name);
    let o = train(&cfg, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    (cfg, out)
}

fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for e in walk(dir) {
        if e.file_name().is_some_and(|n| n == ".lock") {
            continue;
        }
        let rel = e.strip_prefix(dir).unwrap().display().to_string();
        v.push((rel, std::fs::read(&e).unwrap()));
    }
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn damaged_run_folders_get_errors_that_name_the_file_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A run's own config.toml damaged: the resume names it.
    let (cfg, out) = finished(d, "cfg");
    std::fs::write(out.join("config.toml"), "epochs = [oops\n").unwrap();
    let o = train(&cfg, &out, &["--resume", "--epochs", "2"]);
    refused(&o, &["cfg/config.toml", "damaged", "--overwrite"]);

    // A finished run whose checkpoint is truncated: the refused resume leaves the folder
    // exactly as it was (summary.json included).
    let (cfg, out) = finished(d, "trunc");
    let net = out.join("checkpoint").join("network.bpk");
    let bytes = std::fs::read(&net).unwrap();
    std::fs::write(&net, &bytes[..bytes.len() / 2]).unwrap();
    let before = listing(&out);
    let o = train(&cfg, &out, &["--resume", "--epochs", "2"]);
    refused(&o, &["network.bpk"]);
    assert_eq!(listing(&out), before, "a refused resume changed the folder");

    // Values from files are validated before drawing.
    let (_, out) = finished(d, "plot");
    let huge = r#"{"step":0,"epoch":0.0,"stage":1,"stage_name":"conv1","nhsic_x":1e308,"nhsic_x_std":0.0,"nhsic_y":-1e308,"nhsic_y_std":0.0,"batch":64,"batches":4,"settings":{"kernel_x":{"kind":"rbf-dimscaled","sigma":5.0},"kernel_t":{"kind":"rbf-dimscaled","sigma":5.0},"kernel_y":{"kind":"linear","sigma":1.0},"eps":1e-5,"batch":64,"center_y":false}}"#;
    std::fs::write(out.join("infoplane.jsonl"), format!("{huge}\n")).unwrap();
    let png = d.join("plane.png");
    let t0 = std::time::Instant::now();
    let o = infoplane(
        &[
            "plot",
            "infoplane",
            out.to_str().unwrap(),
            "--out",
            png.to_str().unwrap(),
        ],
        repo(),
    );
    refused(&o, &["infoplane.jsonl", "line 1", "nhsic_x = 1e308"]);
    assert!(t0.elapsed().as_secs() < 20);
    let far = huge
        .replace("\"stage\":1", "\"stage\":1000000000")
        .replace("1e308", "0.5")
        .replace("-0.5", "0.5");
    std::fs::write(out.join("infoplane.jsonl"), format!("{far}\n")).unwrap();
    let o = infoplane(
        &[
            "plot",
            "infoplane",
            out.to_str().unwrap(),
            "--out",
            png.to_str().unwrap(),
        ],
        repo(),
    );
    refused(&o, &["infoplane.jsonl", "stage 1000000000"]);
    assert!(!png.exists());

    // Diverging SGD: the loss or parameter check names the last good checkpoint before any
    // measurement reads the parameters.
    let cfg = config(
        d,
        "diverge",
        "epochs = 2",
        &[
            ("optim", "kind = \"sgd\"\nlr = 1e4"),
            (
                "infoplane",
                "enabled = true\nsamples = 128\nbatch = 64\nevery_steps = 1",
            ),
        ],
    );
    let t = std::fs::read_to_string(&cfg)
        .unwrap()
        .replacen("epochs = 1\n", "", 1)
        .replacen("enabled = false\nenabled = true", "enabled = true", 1);
    std::fs::write(&cfg, t).unwrap();
    let o = train(&cfg, &d.join("diverge"), &[]);
    refused(&o, &["non-finite", "Lower the learning rate"]);
    assert!(!text(&o).contains("Gram"), "{}", text(&o));
}

#[test]
fn a_cut_off_metrics_file_is_counted_and_named_by_sweep_collect() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("sweep");
    let o = infoplane(
        &[
            "sweep",
            "plan",
            "table2",
            "--scale",
            "tiny",
            "--out",
            sweep.to_str().unwrap(),
        ],
        repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sweep.join("plan.json")).unwrap()).unwrap();
    let run = PathBuf::from(plan["runs"][0]["dir"].as_str().unwrap());
    let run = if run.is_absolute() {
        run
    } else {
        sweep.join(run)
    };
    std::fs::create_dir_all(&run).unwrap();
    let line = |e: usize| {
        format!(
            "{{\"epoch\":{e},\"phase\":0,\"phase_epoch\":{e},\"step\":{},\"loss\":1.0,\"stage_losses\":[],\"stage_terms\":[],\"train_accuracy\":0.5,\"test_accuracy\":0.5,\"stage_head_accuracy\":[],\"lr\":0.001,\"seconds\":1.0,\"observer_seconds\":0.0}}\n",
            8 * e
        )
    };
    let metrics = format!("{}{}{{\"epoch\":3,\"pha", line(1), line(2));
    std::fs::write(run.join("metrics.jsonl"), metrics).unwrap();
    let o = infoplane(&["sweep", "collect", sweep.to_str().unwrap()], repo());
    let t = text(&o);
    assert!(
        t.contains("2 good epoch line(s)") && t.contains("metrics.jsonl") && t.contains("line 3"),
        "{t}"
    );
}

#[test]
fn a_run_killed_while_writing_a_checkpoint_or_summary_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Each state a kill can leave, built from a finished one-epoch run that is then continued
    // to two epochs with --resume --epochs 2.
    type Damage = fn(&Path);
    let states: [(&str, Damage); 4] = [
        ("tmp-partial", |out| {
            // Killed while writing the new checkpoint: a partial checkpoint.tmp.
            let tmp = out.join("checkpoint.tmp");
            std::fs::create_dir_all(&tmp).unwrap();
            std::fs::write(tmp.join("network.bpk"), b"half").unwrap();
            std::fs::remove_file(out.join("summary.json")).unwrap();
        }),
        ("swapping", |out| {
            // Killed between moving the old checkpoint away and moving the new one in.
            std::fs::rename(out.join("checkpoint"), out.join("checkpoint.old")).unwrap();
            copy_dir(&out.join("checkpoint.old"), &out.join("checkpoint.tmp"));
            std::fs::remove_file(out.join("summary.json")).unwrap();
        }),
        ("old-left", |out| {
            // Killed before removing the replaced checkpoint.
            copy_dir(&out.join("checkpoint"), &out.join("checkpoint.old"));
            std::fs::remove_file(out.join("summary.json")).unwrap();
        }),
        ("summary", |out| {
            // Killed while writing the summary: its temporary file is half written.
            let s = std::fs::read(out.join("summary.json")).unwrap();
            std::fs::write(out.join(".summary.json.99999.tmp"), &s[..s.len() / 2]).unwrap();
            std::fs::remove_file(out.join("summary.json")).unwrap();
        }),
    ];
    for (name, damage) in states {
        let (cfg, out) = finished(d, name);
        damage(&out);
        let o = train(&cfg, &out, &["--resume", "--epochs", "2"]);
        assert!(o.status.success(), "{name}: {}", text(&o));
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(s["epochs"], 2, "{name}");
        let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        assert_eq!(metrics.lines().count(), 2, "{name}: {metrics}");
        assert!(out.join("checkpoint").join("state.json").exists(), "{name}");
        assert!(
            !out.join("checkpoint.tmp").exists() && !out.join("checkpoint.old").exists(),
            "{name}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
#[cfg(unix)]
fn a_file_size_limit_is_a_clear_error_and_leaves_no_complete_looking_result() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "full", "", &[]);
    let out = dir.path().join("full");
    // 64 blocks of 512 bytes: the config and metrics fit, the checkpoint does not.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -f 64 && exec '{}' train --config '{}' --out '{}'",
            env!("CARGO_BIN_EXE_infoplane"),
            cfg.display(),
            out.display()
        ))
        .current_dir(repo())
        .output()
        .unwrap();
    refused(&o, &["File too large"]);
    assert!(!out.join("summary.json").exists());
    assert!(!out.join("checkpoint").exists());
}

#[test]
fn results_record_the_code_that_produced_them_and_other_code_is_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (cfg, out) = finished(d, "code");
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("provenance.json")).unwrap())
            .unwrap();
    assert_eq!(p["version"], env!("CARGO_PKG_VERSION"));
    assert_ne!(p["source"], "unknown");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["provenance"], p);
    // The same code and config: reused as it is.
    let before = std::fs::read(out.join("metrics.jsonl")).unwrap();
    let o = train(&cfg, &out, &["--reuse"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(out.join("metrics.jsonl")).unwrap(), before);
    // Recorded by other code: resuming refuses and says which, reusing trains it again.
    let other = r#"{"version": "0.0.1", "source": "0123456789abcdef"}"#;
    std::fs::write(out.join("provenance.json"), other).unwrap();
    let o = train(&cfg, &out, &["--resume", "--epochs", "2"]);
    refused(
        &o,
        &["infoplane 0.0.1 (source 0123456789abcdef)", "--overwrite"],
    );
    let o = train(&cfg, &out, &["--reuse"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("running again"), "{}", text(&o));
    let p2 = std::fs::read_to_string(out.join("provenance.json")).unwrap();
    assert!(!p2.contains("0.0.1"));
    // A run from before provenance was recorded is not reused either.
    std::fs::remove_file(out.join("provenance.json")).unwrap();
    let o = train(&cfg, &out, &["--reuse"]);
    assert!(
        o.status.success() && text(&o).contains("records no version"),
        "{}",
        text(&o)
    );
}

#[test]
fn two_reproductions_sharing_run_folders_train_each_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_infoplane"))
            .args(["reproduce", "quick", "--tiny", "--out"])
            .arg(&results)
            .current_dir(repo())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    // Every run folder holds one run: one metrics line per epoch, a summary, no refusal.
    let runs = results.join("runs");
    let mut folders = 0;
    for e in std::fs::read_dir(&runs).unwrap().flatten() {
        let m = std::fs::read_to_string(e.path().join("metrics.jsonl")).unwrap();
        let epochs: Vec<u64> = m
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        let want: Vec<u64> = (1..=epochs.len() as u64).collect();
        assert_eq!(epochs, want, "{}", e.path().display());
        assert!(e.path().join("summary.json").exists());
        folders += 1;
    }
    assert!(folders >= 2);
    for o in [&a, &b] {
        assert!(
            !text(o).contains("another run is using this folder"),
            "{}",
            text(o)
        );
    }
    let index = std::fs::read_to_string(results.join("index.md")).unwrap();
    // One row per claim, none twice: one index, not two interleaved.
    let rows: Vec<&str> = index
        .lines()
        .filter(|l| l.starts_with("| [quick](quick/report.md)"))
        .collect();
    let mut unique = rows.clone();
    unique.sort_unstable();
    unique.dedup();
    assert!(!rows.is_empty() && unique.len() == rows.len(), "{index}");
    assert!(
        !results
            .read_dir()
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
    );
}
