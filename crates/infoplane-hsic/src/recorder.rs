//! The information-plane recorder: nHSIC(X;Tᵢ) and nHSIC(Y;Tᵢ) of every stage on a fixed
//! evaluation subset, streamed to disk as JSON lines so that a killed run keeps what it
//! measured (the paper's figures 3, 6, 15–18).
//!
//! The evaluation set is cut into fixed mini-batches (the paper averages nHSIC over them);
//! R_X and R_Y of each batch are computed once, in f64, and cached. At each evaluation point a
//! stage's Gram matrix is computed on the training backend (f32) and its R in f64, so one
//! stage costs one Gram matmul and one Cholesky solve per batch.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use burn::tensor::Tensor;

use crate::error::{HsicError, Result};
use crate::estimators::{Regularized, mean_std};
use crate::kernel::{Kernel, Samples};

/// Kernel settings of an information plane.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlaneSettings {
    /// Kernel of the input X.
    pub kernel_x: Kernel,
    /// Kernel of the representations T.
    pub kernel_t: Kernel,
    /// Kernel of the one-hot labels Y.
    pub kernel_y: Kernel,
    /// Regularization ε.
    pub eps: f64,
    /// Samples per mini-batch.
    pub batch: usize,
    /// Center the label kernel (H·K_Y·H). The authors' newer code leaves the linear label
    /// kernel uncentered, which gives the same value only for balanced one-hot labels.
    #[serde(default = "yes")]
    pub center_y: bool,
}

fn yes() -> bool {
    true
}

impl Default for PlaneSettings {
    fn default() -> Self {
        PlaneSettings {
            kernel_x: Kernel::default_x(),
            kernel_t: Kernel::default_x(),
            kernel_y: Kernel::default_y(),
            eps: crate::estimators::DEFAULT_EPS,
            batch: 256,
            center_y: true,
        }
    }
}

impl PlaneSettings {
    /// One line naming the convention, for reports.
    pub fn describe(&self) -> String {
        format!(
            "X: {}, T: {} (centered, H·K·H); Y: {} ({}); eps = {:e}, mini-batches of {}",
            self.kernel_x,
            self.kernel_t,
            self.kernel_y,
            if self.center_y {
                "centered, H·K·H"
            } else {
                "uncentered, as the authors' newer code"
            },
            self.eps,
            self.batch
        )
    }
}

/// One measured point of one stage's information plane.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlanePoint {
    /// Optimizer steps taken so far.
    pub step: u64,
    /// Epochs completed when measured (fractional within an epoch).
    pub epoch: f64,
    /// Stage index (1-based: T1 is the first stage's output).
    pub stage: usize,
    /// Stage name.
    pub stage_name: String,
    /// Mean over mini-batches of nHSIC(X; T).
    pub nhsic_x: f64,
    /// Standard deviation over mini-batches of nHSIC(X; T).
    pub nhsic_x_std: f64,
    /// Mean over mini-batches of nHSIC(Y; T).
    pub nhsic_y: f64,
    /// Standard deviation over mini-batches of nHSIC(Y; T).
    pub nhsic_y_std: f64,
    /// nHSIC(X; T) of every mini-batch, in the evaluation set's order (changes between points
    /// are paired by mini-batch).
    #[serde(default)]
    pub nhsic_x_batches: Vec<f64>,
    /// nHSIC(Y; T) of every mini-batch.
    #[serde(default)]
    pub nhsic_y_batches: Vec<f64>,
    /// Samples per mini-batch.
    pub batch: usize,
    /// Number of mini-batches.
    pub batches: usize,
    /// The kernel convention.
    pub settings: PlaneSettings,
    /// Which samples were measured (split, count, subset seed), in words.
    #[serde(default)]
    pub eval_set: String,
}

/// Measures stages against a fixed evaluation set and streams the points to a file.
#[derive(Debug)]
pub struct InfoPlaneRecorder {
    settings: PlaneSettings,
    r_x: Vec<Regularized>,
    r_y: Vec<Regularized>,
    n: usize,
    out: Option<(PathBuf, BufWriter<File>)>,
    points: Vec<PlanePoint>,
    eval_set: String,
}

impl InfoPlaneRecorder {
    /// Prepares the recorder for inputs `x` (n × d) with `labels` of `classes` classes.
    /// Only whole mini-batches are used. `out`: a JSON-lines file, appended to (a resumed run
    /// continues the same file).
    pub fn new(
        x: &Samples,
        labels: &[usize],
        classes: usize,
        settings: PlaneSettings,
        out: Option<&Path>,
    ) -> Result<Self> {
        let y = Samples::one_hot(labels, classes);
        crate::estimators::validate(x, &y, &settings.kernel_x, &settings.kernel_y, settings.eps)?;
        settings.kernel_t.validate()?;
        if settings.batch < 4 || settings.batch > x.n {
            return Err(HsicError::InvalidOption {
                option: "batch",
                value: settings.batch as f64,
                reason: "the mini-batch must hold at least 4 samples and at most the evaluation set",
            });
        }
        let batches = x.n / settings.batch;
        let mut r_x = Vec::with_capacity(batches);
        let mut r_y = Vec::with_capacity(batches);
        for b in 0..batches {
            let rows = b * settings.batch..(b + 1) * settings.batch;
            r_x.push(Regularized::new(
                &settings.kernel_x,
                &x.rows(rows.clone()),
                settings.eps,
            )?);
            r_y.push(Regularized::new_with_centering(
                &settings.kernel_y,
                &y.rows(rows),
                settings.eps,
                settings.center_y,
            )?);
        }
        let out = match out {
            None => None,
            Some(p) => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| HsicError::Io {
                        path: p.into(),
                        source: e,
                    })?;
                Some((p.to_path_buf(), BufWriter::new(f)))
            }
        };
        Ok(InfoPlaneRecorder {
            settings,
            r_x,
            r_y,
            n: batches * settings.batch,
            out,
            points: Vec::new(),
            eval_set: String::new(),
        })
    }

    /// Names the evaluation set in every point recorded from now on.
    pub fn with_eval_set(mut self, description: impl Into<String>) -> Self {
        self.eval_set = description.into();
        self
    }

    /// Samples of the evaluation set that are used (whole mini-batches).
    pub fn samples_used(&self) -> usize {
        self.n
    }

    /// The settings.
    pub fn settings(&self) -> &PlaneSettings {
        &self.settings
    }

    /// Every point measured by this recorder.
    pub fn points(&self) -> &[PlanePoint] {
        &self.points
    }

    /// Measures one stage's representation `t` (n × d, rows in evaluation-set order, on any
    /// device) and returns per-batch (nHSIC(X;T), nHSIC(Y;T)).
    pub fn measure_stage(&self, t: Tensor<2>) -> Result<Vec<(f64, f64)>> {
        let [n, _] = t.dims();
        if n < self.n {
            return Err(HsicError::SampleMismatch {
                n_x: self.n,
                n_y: n,
            });
        }
        let bs = self.settings.batch;
        (0..self.r_x.len())
            .map(|b| {
                let tb = t.clone().narrow(0, b * bs, bs);
                let k = self.settings.kernel_t.centered_gram_tensor(tb);
                if k.col_iter().any(|c| c.iter().any(|v| !v.is_finite())) {
                    return Err(HsicError::NonFinite {
                        what: "representation Gram matrix".into(),
                        sample: b * bs,
                        feature: 0,
                        value: f64::NAN,
                    });
                }
                let r_t = match Regularized::from_centered_owned(k, self.settings.eps) {
                    Ok(r) => r,
                    // Rounding left K̃ + εnI indefinite: again, with the eigendecomposition
                    // fallback (rare; the in-place factorization overwrote the matrix).
                    Err(_) => Regularized::from_centered(
                        &self
                            .settings
                            .kernel_t
                            .centered_gram_tensor(t.clone().narrow(0, b * bs, bs)),
                        self.settings.eps,
                    )?,
                };
                Ok((r_t.nhsic(&self.r_x[b]), r_t.nhsic(&self.r_y[b])))
            })
            .collect()
    }

    /// Measures every stage (`stages`: name and n × d representation) and streams one point
    /// per stage.
    pub fn record(
        &mut self,
        step: u64,
        epoch: f64,
        stages: Vec<(String, Tensor<2>)>,
    ) -> Result<Vec<PlanePoint>> {
        let mut new = Vec::with_capacity(stages.len());
        for (i, (name, t)) in stages.into_iter().enumerate() {
            let vals = self.measure_stage(t)?;
            let xs: Vec<f64> = vals.iter().map(|v| v.0).collect();
            let ys: Vec<f64> = vals.iter().map(|v| v.1).collect();
            let (mx, sx) = mean_std(&xs);
            let (my, sy) = mean_std(&ys);
            new.push(PlanePoint {
                step,
                epoch,
                stage: i + 1,
                stage_name: name,
                nhsic_x: mx,
                nhsic_x_std: sx,
                nhsic_y: my,
                nhsic_y_std: sy,
                nhsic_x_batches: xs,
                nhsic_y_batches: ys,
                batch: self.settings.batch,
                batches: vals.len(),
                settings: self.settings,
                eval_set: self.eval_set.clone(),
            });
        }
        if let Some((path, w)) = &mut self.out {
            for p in &new {
                let line = serde_json::to_string(p).expect("points serialize");
                writeln!(w, "{line}").map_err(|e| HsicError::Io {
                    path: path.clone(),
                    source: e,
                })?;
            }
            w.flush().map_err(|e| HsicError::Io {
                path: path.clone(),
                source: e,
            })?;
        }
        self.points.extend(new.iter().cloned());
        Ok(new)
    }
}

/// Reads the points of a JSON-lines file written by the recorder.
pub fn read_points(path: &Path) -> Result<Vec<PlanePoint>> {
    let f = File::open(path).map_err(|e| HsicError::Io {
        path: path.into(),
        source: e,
    })?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| HsicError::Io {
            path: path.into(),
            source: e,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let p: PlanePoint = serde_json::from_str(&line).map_err(|e| HsicError::Npy {
            path: path.into(),
            reason: format!("line {}: not an information-plane point: {e}", i + 1),
        })?;
        p.validate().map_err(|why| HsicError::Npy {
            path: path.into(),
            reason: format!("line {}: {why}; the file is damaged", i + 1),
        })?;
        out.push(p);
    }
    Ok(out)
}

/// The most stages a point may claim (the paper's deepest model has 17).
pub const MAX_STAGES: usize = 10_000;

/// The largest |nHSIC| a measurement can give: nHSIC against one-hot labels is at most C−1,
/// and against inputs at most the rank of the Gram matrix.
pub const MAX_NHSIC: f64 = 1e6;

impl PlanePoint {
    /// Checks values read from a file before anything draws or reads them: finite, within
    /// what a measurement can give, a stage index in 1..=[`MAX_STAGES`].
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(1..=MAX_STAGES).contains(&self.stage) {
            return Err(format!("stage {} is outside 1..={MAX_STAGES}", self.stage));
        }
        if !(self.epoch.is_finite() && self.epoch >= 0.0) {
            return Err(format!("epoch {} is not a training time", self.epoch));
        }
        let values = [("nhsic_x", self.nhsic_x), ("nhsic_y", self.nhsic_y)]
            .into_iter()
            .chain(self.nhsic_x_batches.iter().map(|&v| ("nhsic_x_batches", v)))
            .chain(self.nhsic_y_batches.iter().map(|&v| ("nhsic_y_batches", v)));
        for (name, v) in values {
            if !(v.is_finite() && v.abs() <= MAX_NHSIC) {
                return Err(format!(
                    "{name} = {v:e} is not a measured nHSIC (finite, |value| ≤ {MAX_NHSIC:e})"
                ));
            }
        }
        for (name, v) in [
            ("nhsic_x_std", self.nhsic_x_std),
            ("nhsic_y_std", self.nhsic_y_std),
        ] {
            if !(v.is_finite() && (0.0..=MAX_NHSIC).contains(&v)) {
                return Err(format!("{name} = {v:e} is not a spread of measurements"));
            }
        }
        Ok(())
    }
}
