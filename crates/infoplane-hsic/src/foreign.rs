//! Information planes of representations saved by any framework: one `.npy` per checkpoint
//! and layer, named `<step>_<layer>.npy` (the step an integer, the layer any name; the first
//! axis indexes the evaluation samples, the rest is flattened), measured against the inputs
//! and labels of the same samples with exactly the recorder a training run uses — the same
//! kernels, mini-batches, regularization and file format (`infoplane.jsonl`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{HsicError, Result};
use crate::kernel::Samples;
use crate::recorder::{InfoPlaneRecorder, PlanePoint, PlaneSettings};

/// The representation files of a folder: steps in increasing order, layers in their order,
/// and the file of each (step, layer).
#[derive(Debug, Clone, PartialEq)]
pub struct Dumps {
    /// Steps, increasing.
    pub steps: Vec<u64>,
    /// Layers, input side first.
    pub layers: Vec<String>,
    files: BTreeMap<(u64, String), PathBuf>,
}

/// Orders names with their digit runs compared as numbers (`conv2` before `conv10`).
fn natural_key(s: &str) -> Vec<(u8, u64, String)> {
    let mut key = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        let digit = c.is_ascii_digit();
        let mut run = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() != digit {
                break;
            }
            run.push(d);
            chars.next();
        }
        key.push(if digit {
            (0, run.parse().unwrap_or(u64::MAX), String::new())
        } else {
            (1, 0, run)
        });
    }
    key
}

fn bad_dir(dir: &Path, reason: impl Into<String>) -> HsicError {
    HsicError::Npy {
        path: dir.into(),
        reason: reason.into(),
    }
}

impl Dumps {
    /// Lists `<step>_<layer>.npy` in `dir`. Layers are ordered by `order` when given (every
    /// layer found must be in it), else by `layers.txt` in the folder (one name per line) when
    /// present, else by name with numbers compared as numbers. Every step must have every
    /// layer.
    pub fn list(dir: &Path, order: Option<&[String]>) -> Result<Dumps> {
        let entries = std::fs::read_dir(dir).map_err(|e| HsicError::Io {
            path: dir.into(),
            source: e,
        })?;
        let mut files = BTreeMap::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".npy") else {
                continue;
            };
            let Some((step, layer)) = stem.split_once('_') else {
                continue;
            };
            let Ok(step) = step.parse::<u64>() else {
                continue;
            };
            if layer.is_empty() {
                continue;
            }
            files.insert((step, layer.to_string()), e.path());
        }
        if files.is_empty() {
            return Err(bad_dir(
                dir,
                "no representation files: name them <step>_<layer>.npy (e.g. 400_conv1.npy), one per checkpoint and layer",
            ));
        }
        let steps: Vec<u64> = files
            .keys()
            .map(|k| k.0)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let found: BTreeSet<String> = files.keys().map(|k| k.1.clone()).collect();
        let from_file = std::fs::read_to_string(dir.join("layers.txt"))
            .ok()
            .map(|t| {
                t.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect::<Vec<_>>()
            });
        let layers: Vec<String> = match order.map(<[String]>::to_vec).or(from_file) {
            Some(o) => {
                if let Some(missing) = found.iter().find(|l| !o.contains(l)) {
                    return Err(bad_dir(
                        dir,
                        format!(
                            "layer `{missing}` has files but is not in the layer order ({}); list every layer",
                            o.join(", ")
                        ),
                    ));
                }
                if let Some(absent) = o.iter().find(|l| !found.contains(*l)) {
                    return Err(bad_dir(
                        dir,
                        format!(
                            "layer `{absent}` is in the layer order but has no file (<step>_{absent}.npy)"
                        ),
                    ));
                }
                o
            }
            None => {
                let mut v: Vec<String> = found.into_iter().collect();
                v.sort_by_key(|l| natural_key(l));
                v
            }
        };
        for &s in &steps {
            for l in &layers {
                if !files.contains_key(&(s, l.clone())) {
                    return Err(bad_dir(
                        dir,
                        format!(
                            "step {s} has no file for layer `{l}` ({s}_{l}.npy): every step needs every layer"
                        ),
                    ));
                }
            }
        }
        Ok(Dumps {
            steps,
            layers,
            files,
        })
    }

    /// The file of one step and layer.
    pub fn file(&self, step: u64, layer: &str) -> &Path {
        &self.files[&(step, layer.to_string())]
    }
}

/// Measures every step's layers against inputs `x` and integer `labels` (the same samples, in
/// the same order) with `settings`, as a training run's recorder does, and appends the points
/// to `out` when given. `steps_per_epoch` turns steps into the epochs of the points.
#[allow(clippy::too_many_arguments)]
pub fn plane_of_dumps(
    dumps: &Dumps,
    x: &Samples,
    labels: &[usize],
    classes: usize,
    settings: PlaneSettings,
    steps_per_epoch: f64,
    out: Option<&Path>,
    device: &Device,
) -> Result<Vec<PlanePoint>> {
    if labels.len() != x.n {
        return Err(HsicError::SampleMismatch {
            n_x: x.n,
            n_y: labels.len(),
        });
    }
    let mut recorder = InfoPlaneRecorder::new(x, labels, classes, settings, out)?;
    let mut points = Vec::new();
    for &step in &dumps.steps {
        let mut stages = Vec::with_capacity(dumps.layers.len());
        for layer in &dumps.layers {
            let path = dumps.file(step, layer);
            let a = crate::npy::read_npy(path)?;
            let t = a.into_samples();
            if t.n != x.n {
                return Err(HsicError::Npy {
                    path: path.into(),
                    reason: format!(
                        "{} samples, but the inputs hold {}: the representations must be of the same samples, in the same order",
                        t.n, x.n
                    ),
                });
            }
            if let Some(i) = t.values.iter().position(|v| !v.is_finite()) {
                return Err(HsicError::NonFinite {
                    what: path.display().to_string(),
                    sample: i / t.d.max(1),
                    feature: i % t.d.max(1),
                    value: t.values[i],
                });
            }
            let values: Vec<f32> = t.values.iter().map(|&v| v as f32).collect();
            let tensor = Tensor::<2>::from_data(TensorData::new(values, [t.n, t.d]), device);
            stages.push((layer.clone(), tensor));
        }
        let epoch = step as f64 / steps_per_epoch;
        points.extend(recorder.record(step, epoch, stages)?);
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::encode_npy_f64;

    #[test]
    fn files_are_listed_by_step_and_layer_in_natural_order() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "0_conv2.npy",
            "0_conv10.npy",
            "12_conv2.npy",
            "12_conv10.npy",
        ] {
            std::fs::write(dir.path().join(f), encode_npy_f64(&[1], &[0.0])).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let d = Dumps::list(dir.path(), None).unwrap();
        assert_eq!(d.steps, vec![0, 12]);
        assert_eq!(d.layers, vec!["conv2", "conv10"]);
        let d = Dumps::list(dir.path(), Some(&["conv10".into(), "conv2".into()])).unwrap();
        assert_eq!(d.layers, vec!["conv10", "conv2"]);
        std::fs::remove_file(dir.path().join("12_conv10.npy")).unwrap();
        let e = Dumps::list(dir.path(), None).unwrap_err().to_string();
        assert!(e.contains("12_conv10.npy"), "{e}");
    }
}
