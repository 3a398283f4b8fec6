//! With the `tch` feature, embed an rpath to libtorch's library folder in the binary, so that
//! `infoplane` starts without LD_LIBRARY_PATH. The folder is `$LIBTORCH/lib`, or — with
//! `LIBTORCH_USE_PYTORCH=1` — the `lib` folder of the `torch` package of the `python3` on PATH
//! (the same one torch-sys builds against). Without the feature this does nothing.

use std::path::PathBuf;
use std::process::Command;

fn torch_lib_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LIBTORCH") {
        return Some(PathBuf::from(dir).join("lib"));
    }
    if std::env::var("LIBTORCH_USE_PYTORCH").is_ok() {
        let out = Command::new("python3")
            .args([
                "-c",
                "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
            ])
            .output()
            .ok()?;
        if out.status.success() {
            return Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    None
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    if std::env::var_os("CARGO_FEATURE_TCH").is_none() {
        return;
    }
    match torch_lib_dir() {
        Some(dir) if dir.is_dir() => {
            println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{}", dir.display())
        }
        _ => println!(
            "cargo:warning=tch: libtorch's lib folder was not found (set LIBTORCH, or LIBTORCH_USE_PYTORCH=1 with torch installed); the binary will need LD_LIBRARY_PATH"
        ),
    }
}
