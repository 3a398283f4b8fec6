//! `infoplane export`: a run's trained backbone as safetensors with PyTorch's parameter names
//! and layouts (linear weights out × in, batch norm `weight`/`bias`), and a JSON sidecar that
//! describes the architecture, for `scripts/torch_models.py` to rebuild it in PyTorch.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};

use crate::BackendArgs;

/// Options of `infoplane export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The run folder (its checkpoint's backbone is exported).
    pub run: PathBuf,
    /// The format: safetensors.
    #[arg(long, default_value = "safetensors")]
    pub format: String,
    /// The file to write (a `.json` sidecar is written beside it).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Runs `infoplane export`.
pub fn export(a: &ExportArgs) -> Result<()> {
    if a.format != "safetensors" {
        bail!("--format {}: the one format is safetensors", a.format);
    }
    let (device, _) = a.backend.resolve()?;
    let (cfg, shape, model) = infoplane_train::reprs::load_backbone(&a.run, &device)?;
    let tmp = a.out.with_extension(format!("{}.tmp", std::process::id()));
    let mut store = SafetensorsStore::from_file(&tmp)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .metadata("format", "pt")
        .metadata("infoplane", env!("CARGO_PKG_VERSION"));
    if let Err(e) = model.save_into(&mut store) {
        let _ = std::fs::remove_file(&tmp);
        bail!("writing {}: {e}", a.out.display());
    }
    let c = cfg.config();
    let model_table: toml::Value = toml::Value::try_from(&c.model).context("the model config")?;
    let sidecar = serde_json::json!({
        "run": a.run,
        "model": model_table,
        "input": shape.input,
        "classes": shape.classes,
        "stages": model.names.clone(),
        "format": "safetensors, PyTorch names and layouts",
    });
    let side = a.out.with_extension("json");
    std::fs::write(&side, serde_json::to_string_pretty(&sidecar)?)
        .with_context(|| format!("writing {}", side.display()))?;
    std::fs::rename(&tmp, &a.out).with_context(|| format!("writing {}", a.out.display()))?;
    println!(
        "wrote {} ({} parameters of {}) and {}",
        a.out.display(),
        infoplane_models::count_parameters(&model),
        model.names.clone().join(", "),
        side.display()
    );
    Ok(())
}
