//! Fingerprints the code that determines a run's results — the sources of the data, model,
//! convolution, HSIC and training crates, and the locked dependency versions — so that every
//! run records what produced it and a result is never reused from other code.

use std::path::{Path, PathBuf};

const CRATES: [&str; 5] = [
    "infoplane-data",
    "infoplane-models",
    "infoplane-flexconv",
    "infoplane-hsic",
    "infoplane-train",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs" || x == "toml") {
            out.push(p);
        }
    }
}

/// FNV-1a, 64 bits: stable across builds and platforms.
fn fnv(hash: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *hash ^= b as u64;
        *hash = hash.wrapping_mul(0x100_0000_01b3);
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let crates = manifest.parent().expect("crates/").to_path_buf();
    let workspace = crates.parent().expect("the workspace").to_path_buf();
    let mut all = Vec::new();
    for c in CRATES {
        let root = crates.join(c);
        println!("cargo:rerun-if-changed={}", root.join("src").display());
        println!(
            "cargo:rerun-if-changed={}",
            root.join("Cargo.toml").display()
        );
        files(&root.join("src"), &mut all);
        all.push(root.join("Cargo.toml"));
    }
    let lock = workspace.join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    all.push(lock);
    all.sort();
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut read = 0;
    for p in &all {
        if let Ok(bytes) = std::fs::read(p) {
            let rel = p.strip_prefix(&workspace).unwrap_or(p);
            fnv(
                &mut hash,
                rel.to_string_lossy().replace('\\', "/").as_bytes(),
            );
            fnv(&mut hash, &bytes);
            read += 1;
        }
    }
    let fingerprint = if read > 0 {
        format!("{hash:016x}")
    } else {
        "unknown".to_string()
    };
    println!("cargo:rustc-env=INFOPLANE_SOURCE_FINGERPRINT={fingerprint}");
}
