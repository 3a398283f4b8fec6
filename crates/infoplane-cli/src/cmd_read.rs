//! `infoplane read`: the reading of a run's information planes by the rules of the reports
//! (shape of each series, effect sizes), at its end or cut at given epochs — to see how a
//! reading depends on how long a run trained.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use infoplane_reproduce::reading::{Reading, Which};
use infoplane_train::{RunSummary, read_metrics, read_summary};

/// Options of `infoplane read`.
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// Run directories (finished).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Read the series cut at these epochs (default: the whole run).
    #[arg(long, value_delimiter = ',')]
    pub epochs: Vec<f64>,
    /// One JSON line per run and cut instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The run's series cut after `epoch`.
fn cut(s: &RunSummary, epoch: f64) -> RunSummary {
    let mut c = s.clone();
    for st in &mut c.stages {
        let n = st.epochs.iter().take_while(|&&e| e <= epoch + 1e-9).count();
        st.steps.truncate(n);
        st.epochs.truncate(n);
        st.nhsic_x.truncate(n);
        st.nhsic_x_std.truncate(n);
        st.nhsic_y.truncate(n);
        st.nhsic_y_std.truncate(n);
        st.nhsic_x_batches.truncate(n);
        st.nhsic_y_batches.truncate(n);
    }
    c
}

fn train_accuracy(dir: &Path, epoch: f64) -> Option<f64> {
    read_metrics(&dir.join("metrics.jsonl"))
        .ok()?
        .iter()
        .rfind(|m| m.epoch as f64 <= epoch + 1e-9)?
        .train_accuracy
}

/// Runs `infoplane read`.
pub fn run(a: &ReadArgs) -> Result<()> {
    for dir in &a.runs {
        let s = read_summary(dir).with_context(|| format!("reading {}", dir.display()))?;
        let cuts = if a.epochs.is_empty() {
            vec![s.epochs as f64]
        } else {
            a.epochs.clone()
        };
        for &e in &cuts {
            let c = cut(&s, e);
            let stages: Vec<serde_json::Value> = c
                .stages
                .iter()
                .map(|st| {
                    let r = |w: Which| Reading::of(&w.of(st));
                    serde_json::json!({
                        "stage": st.name,
                        "x": r(Which::X).map(|r| r.shape.words()),
                        "y": r(Which::Y).map(|r| r.shape.words()),
                        "x_reading": r(Which::X).map(|r| r.describe("nHSIC(X;T)")),
                        "y_reading": r(Which::Y).map(|r| r.describe("nHSIC(Y;T)")),
                    })
                })
                .collect();
            let train = train_accuracy(dir, e);
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"run": s.name, "dir": dir, "epoch": e, "train_accuracy": train, "stages": stages})
                );
            } else {
                println!(
                    "{} at epoch {e} (train accuracy {}):",
                    s.name,
                    train.map_or("—".into(), |a| format!("{:.1}%", 100.0 * a))
                );
                for st in &stages {
                    println!(
                        "  {}: {}; {}",
                        st["stage"].as_str().unwrap_or(""),
                        st["x_reading"].as_str().unwrap_or("—"),
                        st["y_reading"].as_str().unwrap_or("—")
                    );
                }
            }
        }
    }
    Ok(())
}
