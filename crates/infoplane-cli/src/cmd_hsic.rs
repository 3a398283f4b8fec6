//! `infoplane hsic`: HSIC, unbiased HSIC, CKA and nHSIC of two `.npy` arrays.

use std::path::Path;

use anyhow::{Context, Result};
use infoplane_hsic::{Kernel, KernelKind, read_npy, statistics};

/// Options of the command.
#[derive(Debug, Clone)]
pub struct HsicArgs {
    /// First array.
    pub x: std::path::PathBuf,
    /// Second array.
    pub y: std::path::PathBuf,
    /// Kernel of x.
    pub kernel_x: String,
    /// σ of x.
    pub sigma_x: f64,
    /// Kernel of y.
    pub kernel_y: String,
    /// σ of y.
    pub sigma_y: f64,
    /// ε.
    pub eps: f64,
    /// Print JSON.
    pub json: bool,
}

fn kernel(name: &str, sigma: f64, option: &str) -> Result<Kernel> {
    let kind: KernelKind = name.parse().with_context(|| format!("--{option}"))?;
    let k = Kernel { kind, sigma };
    k.validate()
        .with_context(|| format!("--sigma-{}", &option[7..]))?;
    Ok(k)
}

/// Runs the command.
pub fn run(a: &HsicArgs) -> Result<()> {
    if !(a.eps > 0.0 && a.eps.is_finite()) {
        anyhow::bail!(
            "--eps {}: the regularization ε must be positive and finite (default 1e-5)",
            a.eps
        );
    }
    let kx = kernel(&a.kernel_x, a.sigma_x, "kernel-x")?;
    let ky = kernel(&a.kernel_y, a.sigma_y, "kernel-y")?;
    let load = |p: &Path| {
        read_npy(p)
            .map(|arr| arr.into_samples())
            .map_err(anyhow::Error::from)
    };
    let x = load(&a.x)?;
    let y = load(&a.y)?;
    let s = statistics(&x, &y, &kx, &ky, a.eps)
        .map_err(|e| anyhow::anyhow!("{} / {}: {e}", a.x.display(), a.y.display()))?;
    if a.json {
        let v = serde_json::json!({
            "hsic": s.hsic,
            "hsic_unbiased": s.hsic_unbiased,
            "cka": s.cka,
            "nhsic": s.nhsic,
            "n": x.n,
            "kernel_x": kx.kind.as_str(),
            "sigma_x": kx.sigma,
            "kernel_y": ky.kind.as_str(),
            "sigma_y": ky.sigma,
            "eps": a.eps,
        });
        println!("{v}");
    } else {
        println!("n             {}", x.n);
        println!("kernel x      {kx}");
        println!("kernel y      {ky}");
        println!("eps           {:e}", a.eps);
        println!("hsic          {:.10e}", s.hsic);
        println!("hsic_unbiased {:.10e}", s.hsic_unbiased);
        println!("cka           {:.10}", s.cka);
        println!("nhsic         {:.10}", s.nhsic);
    }
    Ok(())
}
