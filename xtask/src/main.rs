//! `cargo xtask …`: project automation. It owns no science: reproductions call the
//! `infoplane` binary, and `data fetch` downloads files with sha256 verification.
//!
//! - `cargo xtask reproduce quick [--dataset NAME] [--backend NAME] [--device D] [--epochs N] [--out DIR]`
//!   (the main job: `results/quick/report.md`)
//! - `cargo xtask reproduce <artifact>|all [--scale quick|paper] [--dry-run] [--tiny] [--backend NAME] [--out DIR]`
//!   (`results/<artifact>/`; the artifacts are the files of `experiments/`)
//! - `cargo xtask data fetch <mnist|fashion-mnist|cifar10|cifar100> [--dir DIR]`

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use sha2::{Digest, Sha256};

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the project root")
        .to_path_buf()
}

/// Official download locations and sha256 checksums (those of TensorFlow Datasets'
/// url_checksums and of the files themselves).
const FILES: &[(&str, &str, &str, &str)] = &[
    (
        "mnist",
        "train-images-idx3-ubyte.gz",
        "https://storage.googleapis.com/cvdf-datasets/mnist/train-images-idx3-ubyte.gz",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    (
        "mnist",
        "train-labels-idx1-ubyte.gz",
        "https://storage.googleapis.com/cvdf-datasets/mnist/train-labels-idx1-ubyte.gz",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    (
        "mnist",
        "t10k-images-idx3-ubyte.gz",
        "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-images-idx3-ubyte.gz",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    (
        "mnist",
        "t10k-labels-idx1-ubyte.gz",
        "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-labels-idx1-ubyte.gz",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
    (
        "fashion-mnist",
        "train-images-idx3-ubyte.gz",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    ),
    (
        "fashion-mnist",
        "train-labels-idx1-ubyte.gz",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    ),
    (
        "fashion-mnist",
        "t10k-images-idx3-ubyte.gz",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    ),
    (
        "fashion-mnist",
        "t10k-labels-idx1-ubyte.gz",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    ),
    (
        "cifar10",
        "cifar-10-binary.tar.gz",
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    ),
    (
        "cifar100",
        "cifar-100-binary.tar.gz",
        "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
        "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
    ),
];

fn sha256_file(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn fetch(name: &str, dir: Option<PathBuf>) -> Result<(), String> {
    let files: Vec<_> = FILES.iter().filter(|f| f.0 == name).collect();
    if files.is_empty() {
        return Err(format!(
            "unknown dataset `{name}` for fetch: use mnist, fashion-mnist, cifar10 or cifar100 (mnist-10k ships in datasets/)"
        ));
    }
    let dir = dir.unwrap_or_else(|| project_root().join("datasets").join(name));
    let created = !dir.exists();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let res = fetch_into(&files, &dir);
    if res.is_err() && created {
        // Leave no empty folder behind (remove_dir only removes an empty one).
        let _ = std::fs::remove_dir(&dir);
    }
    res?;
    println!("{name} is in {}", dir.display());
    Ok(())
}

fn fetch_into(files: &[&(&str, &str, &str, &str)], dir: &Path) -> Result<(), String> {
    for &&(_, file, url, sha) in files {
        let dst = dir.join(file);
        if dst.exists() && sha256_file(&dst)? == *sha {
            println!("{}: present, sha256 verified", dst.display());
            continue;
        }
        let part = dir.join(format!("{file}.part"));
        println!("downloading {url}");
        let status = Command::new("curl")
            .args(["-fL", "--retry", "2", "--connect-timeout", "20", "-o"])
            .arg(&part)
            .arg(url)
            .status()
            .map_err(|e| {
                format!(
                    "could not run curl ({e}); install curl or download {url} by hand into {}",
                    dir.display()
                )
            })?;
        if !status.success() {
            let _ = std::fs::remove_file(&part);
            return Err(format!(
                "downloading {url} failed (curl exit {}): this machine may have no internet access. \
                 Download the file elsewhere and copy it to {} (sha256 {sha}), or pass --data-dir to a folder that holds the dataset",
                status.code().unwrap_or(-1),
                dst.display()
            ));
        }
        let got = sha256_file(&part)?;
        if got != *sha {
            let _ = std::fs::remove_file(&part);
            return Err(format!(
                "{url}: sha256 mismatch: expected {sha}, got {got}; the download is corrupt or the file changed upstream"
            ));
        }
        std::fs::rename(&part, &dst).map_err(|e| format!("{}: {e}", dst.display()))?;
        if file.ends_with(".tar.gz") {
            let status = Command::new("tar")
                .arg("-xzf")
                .arg(&dst)
                .arg("-C")
                .arg(dir)
                .status()
                .map_err(|e| format!("could not run tar: {e}"))?;
            if !status.success() {
                return Err(format!("unpacking {} failed", dst.display()));
            }
        }
        println!("{}: sha256 verified", dst.display());
    }
    Ok(())
}

fn usage() -> String {
    "usage:\n  cargo xtask reproduce quick [--dataset mnist-10k|fashion-mnist] [--backend NAME] [--device D] [--epochs N] [--seed S] [--out RESULTS]\n  cargo xtask reproduce <artifact (a file of experiments/)|all> [--scale quick|paper] [--dry-run] [--tiny] [--backend NAME] [--device D] [--out RESULTS]\n  cargo xtask data fetch <mnist|fashion-mnist|cifar10|cifar100> [--dir DIR]".to_string()
}

fn reproduce(args: &[String]) -> Result<(), String> {
    let Some(artifact) = args.first() else {
        return Err(usage());
    };
    if artifact.starts_with('-') {
        return Err(usage());
    }
    // The backend's cargo feature is switched on to match --backend.
    let mut features: Vec<String> = Vec::new();
    let mut rest: Vec<String> = Vec::new();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        if a == "--backend" {
            let b = it.next().ok_or("--backend needs a value")?;
            if b != "flex" {
                features.push(b.clone());
            }
            rest.extend([a.clone(), b.clone()]);
        } else {
            rest.push(a.clone());
        }
    }
    if !rest.iter().any(|a| a == "--out") {
        let out = project_root().join("results");
        rest.extend(["--out".to_string(), out.display().to_string()]);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(project_root())
        .args(["run", "--release", "--quiet", "-p", "infoplane-cli"]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    cmd.args(["--", "reproduce", artifact.as_str()]).args(&rest);
    let status = cmd
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("infoplane reproduce {artifact} failed ({status})"));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("reproduce") => reproduce(&args[1..]),
        Some("data") if args.get(1).map(String::as_str) == Some("fetch") => match args.get(2) {
            Some(name) => {
                let dir = args
                    .iter()
                    .position(|a| a == "--dir")
                    .and_then(|i| args.get(i + 1))
                    .map(PathBuf::from);
                fetch(name, dir)
            }
            None => Err(usage()),
        },
        _ => Err(usage()),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
