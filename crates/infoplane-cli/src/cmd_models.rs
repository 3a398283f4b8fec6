//! `infoplane models`: the stages of an architecture — output shapes, parameter counts, the
//! features an auxiliary head sees after pooling — and the totals; what a user checks before
//! a long run.

use anyhow::{Result, bail};
use burn::tensor::Device;
use infoplane_models::{ArchConfig, ModelSummary};

use crate::cmd_bench::parse_shape;

/// Prints the summary of `arch` (or a line per architecture).
pub fn run(arch: Option<&str>, input: &str, classes: usize, width: f64, json: bool) -> Result<()> {
    let shape = parse_shape(input)?;
    if classes < 2 {
        bail!("--classes {classes}: a classifier needs at least 2 classes");
    }
    let device = Device::flex();
    let names: Vec<&str> = match arch {
        Some(a) => vec![a],
        None => ArchConfig::NAMES.to_vec(),
    };
    let mut all = Vec::new();
    for name in names {
        let Some(mut cfg) = ArchConfig::by_name(name) else {
            bail!(
                "unknown architecture `{name}`: use {}",
                ArchConfig::NAMES.join(", ")
            );
        };
        cfg.set_width(width);
        let model = cfg
            .init(shape, classes, &device)
            .map_err(|e| anyhow::anyhow!("{name} on {input}: {e}"))?;
        // The summary runs one sample through the model: refuse what cannot fit first.
        model
            .footprint()
            .and_then(|f| f.check(1, "the model"))
            .map_err(|e| anyhow::anyhow!("{name} at --width {width} on --input {input}: {e}"))?;
        all.push((name, ModelSummary::of(&model, &device)));
    }
    if json {
        let v: serde_json::Value = all
            .iter()
            .map(|(n, s)| (n.to_string(), serde_json::to_value(s).expect("summary")))
            .collect::<serde_json::Map<_, _>>()
            .into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if arch.is_some() {
        println!("{}", all[0].1);
    } else {
        println!(
            "{:<10} {:>7} {:>14}  description",
            "arch", "stages", "parameters"
        );
        for (n, s) in &all {
            println!(
                "{n:<10} {:>7} {:>14}  {}",
                s.stages.len(),
                infoplane_models::summary::group(s.total_params),
                s.description
            );
        }
    }
    Ok(())
}
