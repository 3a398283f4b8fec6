//! The one place where a concrete backend is named: `--backend NAME --device D` → a burn
//! `Device`. Each backend exists only when its cargo feature is on; asking for another one is
//! an error that says which feature to build with.

use anyhow::{Result, bail};
use burn::tensor::Device;

/// A backend on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// burn's pure-Rust CPU backend (feature `flex`, the default).
    Flex,
    /// libtorch, CPU or CUDA (feature `tch`).
    Tch,
    /// Vulkan/Metal/DX12 (feature `wgpu`).
    Wgpu,
    /// CubeCL CUDA (feature `cuda`).
    Cuda,
}

impl Backend {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Tch => "tch",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }
}

/// Backends infoplane knows, with the cargo feature that compiles each in and its devices.
pub const BACKENDS: [(&str, &str, &str); 4] = [
    ("flex", "flex", "cpu (pure Rust, multi-threaded)"),
    ("tch", "tch", "cpu, or a CUDA GPU index 0, 1, … (libtorch)"),
    (
        "wgpu",
        "wgpu",
        "default (best adapter), cpu, or a discrete GPU index 0, 1, … (Vulkan/Metal/DX12)",
    ),
    ("cuda", "cuda", "a CUDA GPU index 0, 1, … (CubeCL)"),
];

/// Whether `name` is compiled into this binary.
pub fn compiled(name: &str) -> bool {
    match name {
        "flex" => cfg!(feature = "flex"),
        "tch" => cfg!(feature = "tch"),
        "wgpu" => cfg!(feature = "wgpu"),
        "cuda" => cfg!(feature = "cuda"),
        _ => false,
    }
}

/// The default backend of this binary (flex when present).
pub fn default_backend() -> &'static str {
    BACKENDS
        .iter()
        .map(|b| b.0)
        .find(|b| compiled(b))
        .unwrap_or("flex")
}

fn index(device: &str, backend: &str) -> Result<usize> {
    device.parse::<usize>().map_err(|_| anyhow::anyhow!("--device `{device}` is not valid for backend {backend}: use cpu or a GPU index (0, 1, …)"))
}

/// Turns `--backend NAME --device D` into a device.
pub fn device(backend: &str, device: &str) -> Result<Device> {
    let Some((_, feature, _)) = BACKENDS.iter().find(|b| b.0 == backend) else {
        bail!(
            "unknown backend `{backend}`; known backends: flex, tch, wgpu, cuda (see `infoplane backends`)"
        );
    };
    if !compiled(backend) {
        bail!(
            "backend `{backend}` is not compiled into this binary; rebuild with `--features {feature}` \
             (e.g. cargo build --release -p infoplane-cli --features {feature}; see the README for what it needs)"
        );
    }
    match backend {
        #[cfg(feature = "flex")]
        "flex" => match device {
            "cpu" | "0" => Ok(Device::flex()),
            other => bail!("--device `{other}`: flex runs on the CPU only; use --device cpu"),
        },
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        "tch" => match device {
            "cpu" => Ok(Device::libtorch()),
            d => Ok(Device::libtorch_cuda(index(d, backend)?)),
        },
        #[cfg(feature = "wgpu")]
        "wgpu" => {
            use burn::tensor::DeviceKind;
            Ok(Device::wgpu(match device {
                "default" => DeviceKind::DefaultDevice,
                "cpu" => DeviceKind::Cpu,
                d => DeviceKind::DiscreteGpu(index(d, backend)?),
            }))
        }
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(index(device, backend)?)),
        _ => {
            let _ = index;
            bail!("backend `{backend}` is not available")
        }
    }
}

/// The default `--device` for a backend.
pub fn default_device(backend: &str) -> &'static str {
    match backend {
        "flex" | "tch" => "cpu",
        "wgpu" => "default",
        _ => "0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_backend_names_the_feature() {
        if !compiled("wgpu") {
            let e = device("wgpu", "0").unwrap_err().to_string();
            assert!(e.contains("--features wgpu"), "{e}");
        }
        assert!(
            device("numpy", "0")
                .unwrap_err()
                .to_string()
                .contains("unknown backend")
        );
        #[cfg(feature = "flex")]
        {
            assert!(device("flex", "cpu").is_ok());
            assert!(device("flex", "3").is_err());
        }
    }
}
