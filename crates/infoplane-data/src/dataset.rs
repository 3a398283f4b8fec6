//! Datasets by name, where their files are found, and loading them into memory.
//!
//! Search order for a dataset's directory: an explicit directory (`--data-dir`), then
//! `$INFOPLANE_DATA/<name>/`, then `datasets/<name>/` (under the current directory and under
//! the source checkout), then known system locations (Debian's `dataset-fashion-mnist`
//! installs `/usr/share/datasets/fashion-mnist/`). Downloads happen only when asked for
//! (`cargo xtask data fetch <name>`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::cifar::{self, CifarRecords};
use crate::error::{DataError, Result};
use crate::idx;
use crate::rings::RingsConfig;
use crate::rng::Rng;

/// The datasets infoplane knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    /// 10,000 MNIST digits bundled with the repository (8,004 train, 1,996 test).
    #[serde(rename = "mnist-10k")]
    Mnist10k,
    /// The full MNIST (60,000 / 10,000).
    Mnist,
    /// Fashion-MNIST (60,000 / 10,000).
    FashionMnist,
    /// CIFAR-10, binary version.
    Cifar10,
    /// CIFAR-100, binary version (fine labels; coarse labels kept alongside).
    Cifar100,
    /// The generated two-ring toy set of section 4.2.
    Rings,
}

impl DatasetName {
    /// Every dataset, in documentation order.
    pub const ALL: [DatasetName; 6] = [
        DatasetName::Mnist10k,
        DatasetName::Mnist,
        DatasetName::FashionMnist,
        DatasetName::Cifar10,
        DatasetName::Cifar100,
        DatasetName::Rings,
    ];

    /// The name used on the command line and in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Mnist10k => "mnist-10k",
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Cifar10 => "cifar10",
            DatasetName::Cifar100 => "cifar100",
            DatasetName::Rings => "rings",
        }
    }

    /// Number of classes (CIFAR-100: the 100 fine classes).
    pub fn num_classes(self) -> usize {
        match self {
            DatasetName::Cifar100 => 100,
            DatasetName::Rings => 2,
            _ => 10,
        }
    }

    /// Shape of one sample as (channels, height, width); rings are 2 features as (1, 1, 2).
    pub fn sample_shape(self) -> [usize; 3] {
        match self {
            DatasetName::Cifar10 | DatasetName::Cifar100 => [3, 32, 32],
            DatasetName::Rings => [1, 1, 2],
            _ => [1, 28, 28],
        }
    }

    /// The files a directory of this dataset must hold (for IDX sets, `.gz` is optional).
    pub fn layout(self) -> &'static [&'static str] {
        match self {
            DatasetName::Mnist10k | DatasetName::Mnist | DatasetName::FashionMnist => &[
                "train-images-idx3-ubyte",
                "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte",
            ],
            DatasetName::Cifar10 => &[
                "data_batch_1.bin",
                "data_batch_2.bin",
                "data_batch_3.bin",
                "data_batch_4.bin",
                "data_batch_5.bin",
                "test_batch.bin",
            ],
            DatasetName::Cifar100 => &["train.bin", "test.bin"],
            DatasetName::Rings => &[],
        }
    }

    /// Where this dataset's files may sit on a system without any configuration.
    pub fn system_dirs(self) -> Vec<PathBuf> {
        match self {
            DatasetName::FashionMnist => vec![PathBuf::from("/usr/share/datasets/fashion-mnist")],
            DatasetName::Mnist => vec![PathBuf::from("/usr/share/datasets/mnist")],
            _ => Vec::new(),
        }
    }

    /// How to get this dataset, for error messages.
    pub fn hint(self) -> String {
        let name = self.as_str();
        match self {
            DatasetName::Mnist10k => "mnist-10k ships in the repository under datasets/mnist-10k; \
                 run from the checkout or pass --data-dir to a copy of that folder"
                .to_string(),
            DatasetName::FashionMnist => format!(
                "install Debian's package (apt-get install dataset-fashion-mnist), or run \
                 `cargo xtask data fetch {name}` on a machine with internet, or pass --data-dir \
                 DIR / set INFOPLANE_DATA to a folder holding {name}/"
            ),
            DatasetName::Rings => "rings is generated; it needs no files".to_string(),
            _ => format!(
                "run `cargo xtask data fetch {name}` on a machine with internet (it writes \
                 datasets/{name}/), or pass --data-dir DIR / set INFOPLANE_DATA to a folder \
                 holding {name}/"
            ),
        }
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetName {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self> {
        DatasetName::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| DataError::UnknownDataset {
                name: s.to_string(),
                known: DatasetName::ALL.map(|d| d.as_str()).join(", "),
            })
    }
}

/// Sample values: raw bytes for image sets, floats for generated sets.
#[derive(Debug, Clone, PartialEq)]
pub enum Pixels {
    /// Bytes 0..=255, scaled to [0, 1] when batched.
    U8(Vec<u8>),
    /// Values used as they are.
    F32(Vec<f32>),
}

impl Pixels {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Pixels::U8(v) => v.len(),
            Pixels::F32(v) => v.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values `range` as floats (bytes divided by 255).
    pub fn to_f32(&self, range: std::ops::Range<usize>, out: &mut Vec<f32>) {
        match self {
            Pixels::U8(v) => out.extend(v[range].iter().map(|&b| b as f32 / 255.0)),
            Pixels::F32(v) => out.extend_from_slice(&v[range]),
        }
    }
}

/// One split (train or test) of a dataset, in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Per-sample shape (channels, height, width).
    pub shape: [usize; 3],
    /// Sample values, `len() * shape.product()` of them, channel-major per sample.
    pub pixels: Pixels,
    /// Class labels.
    pub labels: Vec<u8>,
    /// CIFAR-100 coarse labels (empty otherwise).
    pub coarse_labels: Vec<u8>,
}

impl Split {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split holds no sample.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of samples of each class (`classes` entries).
    pub fn class_histogram(&self, classes: usize) -> Vec<usize> {
        let mut h = vec![0; classes];
        for &l in &self.labels {
            h[l as usize] += 1;
        }
        h
    }

    /// The samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Split {
        let d = self.sample_len();
        let pixels = match &self.pixels {
            Pixels::U8(v) => Pixels::U8(
                indices
                    .iter()
                    .flat_map(|&i| v[i * d..(i + 1) * d].iter().copied())
                    .collect(),
            ),
            Pixels::F32(v) => Pixels::F32(
                indices
                    .iter()
                    .flat_map(|&i| v[i * d..(i + 1) * d].iter().copied())
                    .collect(),
            ),
        };
        Split {
            shape: self.shape,
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            coarse_labels: if self.coarse_labels.is_empty() {
                Vec::new()
            } else {
                indices.iter().map(|&i| self.coarse_labels[i]).collect()
            },
        }
    }

    /// The first `n` samples after a seeded shuffle (all of them when `n >= len`), keeping
    /// the original order of the chosen samples. Used for `limit` and evaluation subsets.
    pub fn subset(&self, n: usize, seed: u64) -> Split {
        if n >= self.len() {
            return self.clone();
        }
        let mut idx = Rng::derive(seed, &[0x5u64]).permutation(self.len());
        idx.truncate(n);
        idx.sort_unstable();
        self.select(&idx)
    }
}

/// Where a dataset came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Read from files in this directory.
    Dir(PathBuf),
    /// Generated in memory.
    Generated,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Dir(p) => write!(f, "{}", p.display()),
            Source::Generated => f.write_str("generated in memory"),
        }
    }
}

/// A dataset with both splits in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Which dataset.
    pub name: DatasetName,
    /// Training split.
    pub train: Split,
    /// Test split.
    pub test: Split,
    /// Number of classes.
    pub num_classes: usize,
    /// Where it was found.
    pub source: Source,
}

/// Options for finding a dataset.
#[derive(Debug, Clone, Default)]
pub struct Locator {
    /// An explicit directory holding the dataset's files (highest priority).
    pub data_dir: Option<PathBuf>,
    /// Value of `INFOPLANE_DATA` (a folder holding `<name>/` folders); `None` to ignore it.
    pub env_root: Option<PathBuf>,
    /// Repository roots whose `datasets/<name>/` are searched.
    pub repo_roots: Vec<PathBuf>,
    /// Whether to search the system locations.
    pub system: bool,
}

impl Locator {
    /// The standard search: `data_dir`, `$INFOPLANE_DATA`, `./datasets`, the source checkout's
    /// `datasets/`, system locations.
    pub fn standard(data_dir: Option<PathBuf>) -> Self {
        let mut repo_roots = vec![PathBuf::from(".")];
        // The checkout this crate was built from (absent for an installed binary: harmless).
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        if let Ok(c) = checkout.canonicalize() {
            repo_roots.push(c);
        }
        Locator {
            data_dir,
            env_root: std::env::var_os("INFOPLANE_DATA").map(PathBuf::from),
            repo_roots,
            system: true,
        }
    }

    /// Candidate directories for `name`, in search order.
    pub fn candidates(&self, name: DatasetName) -> Vec<PathBuf> {
        let mut c = Vec::new();
        if let Some(d) = &self.data_dir {
            c.push(d.clone());
            return c; // an explicit directory is used alone: never a silent fallback
        }
        if let Some(root) = &self.env_root {
            c.push(root.join(name.as_str()));
        }
        for r in &self.repo_roots {
            c.push(r.join("datasets").join(name.as_str()));
        }
        if self.system {
            c.extend(name.system_dirs());
        }
        c
    }

    /// Finds the directory holding `name`'s files: the first candidate that holds all of them.
    /// When none does, the first candidate folder that exists but lacks a file gives an error
    /// naming that file; an explicit `data_dir` that is not a folder is an error too.
    pub fn locate(&self, name: DatasetName) -> Result<PathBuf> {
        let candidates = self.candidates(name);
        let mut incomplete: Option<PathBuf> = None;
        for dir in &candidates {
            if !dir.is_dir() {
                if self.data_dir.is_some() {
                    return Err(DataError::NotFound {
                        dataset: name.to_string(),
                        searched: candidates.clone(),
                        hint: format!("--data-dir {} is not a directory", dir.display()),
                    });
                }
                continue;
            }
            // The official archives unpack into a sub-folder: accept it too.
            for sub in ["", "cifar-10-batches-bin", "cifar-100-binary"] {
                let d = if sub.is_empty() {
                    dir.clone()
                } else {
                    dir.join(sub)
                };
                if d.is_dir() && missing_file(name, &d).is_none() {
                    return Ok(d);
                }
            }
            // An incomplete folder (say, an interrupted download) does not hide a complete
            // one further down the list; it is reported only when none is found.
            incomplete.get_or_insert_with(|| dir.clone());
        }
        if let Some(dir) = incomplete {
            check_layout(name, &dir)?;
        }
        Err(DataError::NotFound {
            dataset: name.to_string(),
            searched: candidates,
            hint: name.hint(),
        })
    }
}

fn find_idx(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_string()]
        .into_iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

fn missing_file(name: DatasetName, dir: &Path) -> Option<String> {
    for f in name.layout() {
        let present = match name {
            DatasetName::Mnist10k | DatasetName::Mnist | DatasetName::FashionMnist => {
                find_idx(dir, f).is_some()
            }
            _ => dir.join(f).is_file(),
        };
        if !present {
            return Some(f.to_string());
        }
    }
    None
}

/// An error naming the first file of the layout that `dir` lacks.
fn check_layout(name: DatasetName, dir: &Path) -> Result<()> {
    match missing_file(name, dir) {
        None => Ok(()),
        Some(file) => Err(DataError::MissingFile {
            dataset: name.to_string(),
            dir: dir.into(),
            file,
            layout: name.layout().join(", "),
            hint: name.hint(),
        }),
    }
}

fn read_idx_split(dir: &Path, prefix: &str, classes: usize) -> Result<Split> {
    let img_path = find_idx(dir, &format!("{prefix}-images-idx3-ubyte")).expect("located");
    let lab_path = find_idx(dir, &format!("{prefix}-labels-idx1-ubyte")).expect("located");
    let images = idx::read_images(&img_path)?;
    let labels = idx::read_labels(&lab_path)?;
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images: img_path,
            labels: lab_path,
            n_images: images.count,
            n_labels: labels.len(),
        });
    }
    if let Some((i, &l)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l as usize >= classes)
    {
        return Err(DataError::BadLabel {
            path: lab_path,
            index: i,
            label: l as u32,
            classes,
        });
    }
    Ok(Split {
        shape: [1, images.rows, images.cols],
        pixels: Pixels::U8(images.pixels),
        labels,
        coarse_labels: Vec::new(),
    })
}

fn cifar_split(r: CifarRecords) -> Split {
    Split {
        shape: [3, 32, 32],
        pixels: Pixels::U8(r.pixels),
        labels: r.labels,
        coarse_labels: r.coarse_labels,
    }
}

/// Reads a dataset from a directory that holds its files (see [`DatasetName::layout`]).
pub fn load_from_dir(name: DatasetName, dir: &Path) -> Result<Dataset> {
    check_layout(name, dir)?;
    let classes = name.num_classes();
    let (train, test) = match name {
        DatasetName::Mnist10k | DatasetName::Mnist | DatasetName::FashionMnist => (
            read_idx_split(dir, "train", classes)?,
            read_idx_split(dir, "t10k", classes)?,
        ),
        DatasetName::Cifar10 => {
            let mut train = CifarRecords::default();
            for i in 1..=5 {
                cifar::read_cifar10_file(&dir.join(format!("data_batch_{i}.bin")), &mut train)?;
            }
            let mut test = CifarRecords::default();
            cifar::read_cifar10_file(&dir.join("test_batch.bin"), &mut test)?;
            (cifar_split(train), cifar_split(test))
        }
        DatasetName::Cifar100 => {
            let mut train = CifarRecords::default();
            cifar::read_cifar100_file(&dir.join("train.bin"), &mut train)?;
            let mut test = CifarRecords::default();
            cifar::read_cifar100_file(&dir.join("test.bin"), &mut test)?;
            (cifar_split(train), cifar_split(test))
        }
        DatasetName::Rings => return Ok(generate_rings(&RingsConfig::default(), 0)),
    };
    Ok(Dataset {
        name,
        train,
        test,
        num_classes: classes,
        source: Source::Dir(dir.to_path_buf()),
    })
}

/// Generates the rings dataset with `seed` (train and test drawn from independent streams).
pub fn generate_rings(cfg: &RingsConfig, seed: u64) -> Dataset {
    let mk = |n, key| {
        let (p, l) = cfg.generate(n, &mut Rng::derive(seed, &[key]));
        Split {
            shape: [1, 1, 2],
            pixels: Pixels::F32(p),
            labels: l,
            coarse_labels: Vec::new(),
        }
    };
    Dataset {
        name: DatasetName::Rings,
        train: mk(cfg.train, 1),
        test: mk(cfg.test, 2),
        num_classes: 2,
        source: Source::Generated,
    }
}

/// Finds and reads a dataset (rings are generated with seed 0 and the default parameters).
pub fn load(name: DatasetName, locator: &Locator) -> Result<Dataset> {
    if name == DatasetName::Rings {
        return Ok(generate_rings(&RingsConfig::default(), 0));
    }
    let dir = locator.locate(name)?;
    load_from_dir(name, &dir)
}
