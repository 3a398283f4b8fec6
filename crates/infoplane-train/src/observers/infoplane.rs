//! The information-plane observer: feeds every stage's representation of a fixed evaluation
//! subset to the HSIC crate's recorder at the points it is configured for (before training,
//! every N steps, at epoch ends) and owns `infoplane.jsonl`, one JSON line per stage and point,
//! appended as training runs and cut back to the checkpoint on resume.

use std::io::Write;
use std::path::{Path, PathBuf};

use infoplane_data::{HostBatch, Pipeline, Split};
use infoplane_hsic::{InfoPlaneRecorder, PlanePoint, PlaneSettings, Samples};

use crate::error::{Result, TrainError};
use crate::features::{host_inputs, representations};
use crate::observer::{EvalContext, EvalPoint, Observer, ResumePoint, truncate_json_lines};

/// When the information plane is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Every this many optimizer steps (0: never inside an epoch).
    pub every_steps: u64,
    /// At every epoch end (the point before training is always measured).
    pub per_epoch: bool,
}

/// Records nHSIC(X;Tᵢ), nHSIC(Y;Tᵢ) of every stage.
#[derive(Debug)]
pub struct InfoPlaneObserver {
    recorder: InfoPlaneRecorder,
    inputs: HostBatch,
    cadence: Cadence,
    out: Option<PathBuf>,
}

impl InfoPlaneObserver {
    /// Prepares the observer on `eval` (the fixed evaluation subset, transformed by
    /// `pipeline` without augmentation); `eval_set` describes the subset in every point;
    /// points go to `out` when given.
    pub fn new(
        eval: &Split,
        classes: usize,
        pipeline: &Pipeline,
        settings: PlaneSettings,
        cadence: Cadence,
        eval_set: &str,
        out: Option<&Path>,
    ) -> Result<Self> {
        let inputs = host_inputs(eval, pipeline);
        let [n, c, h, w] = inputs.shape;
        let x = Samples::from_f32(n, c * h * w, &inputs.images);
        let labels: Vec<usize> = inputs.labels.iter().map(|&l| l as usize).collect();
        let recorder =
            InfoPlaneRecorder::new(&x, &labels, classes, settings, None)?.with_eval_set(eval_set);
        Ok(InfoPlaneObserver {
            recorder,
            inputs,
            cadence,
            out: out.map(Path::to_path_buf),
        })
    }

    /// The recorder (and its points).
    pub fn recorder(&self) -> &InfoPlaneRecorder {
        &self.recorder
    }

    fn append(&self, points: &[PlanePoint]) -> Result<()> {
        let Some(path) = &self.out else {
            return Ok(());
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| TrainError::io(path, e))?;
        let mut text = String::new();
        for p in points {
            text.push_str(&serde_json::to_string(p).expect("points serialize"));
            text.push('\n');
        }
        f.write_all(text.as_bytes())
            .map_err(|e| TrainError::io(path, e))
    }
}

impl Observer for InfoPlaneObserver {
    fn name(&self) -> &'static str {
        "infoplane"
    }

    fn wants(&self, point: EvalPoint, step: u64) -> bool {
        match point {
            EvalPoint::Start => true,
            EvalPoint::Step => {
                self.cadence.every_steps > 0 && step.is_multiple_of(self.cadence.every_steps)
            }
            EvalPoint::EpochEnd => self.cadence.per_epoch,
        }
    }

    fn on_eval(&mut self, ctx: &EvalContext<'_>) -> Result<()> {
        let t0 = std::time::Instant::now();
        let reps = representations(ctx.evaluator, &self.inputs, ctx.device);
        let t1 = std::time::Instant::now();
        let stages = ctx.evaluator.stage_names().into_iter().zip(reps).collect();
        let points = self.recorder.record(ctx.step, ctx.epoch, stages)?;
        self.append(&points)?;
        tracing::debug!(
            step = ctx.step,
            forward_ms = (t1 - t0).as_secs_f64() * 1e3,
            nhsic_ms = t1.elapsed().as_secs_f64() * 1e3,
            "information plane measured"
        );
        Ok(())
    }

    fn resume(&mut self, at: ResumePoint) -> Result<()> {
        match &self.out {
            Some(path) => {
                truncate_json_lines(path, |v| v["step"].as_u64().is_some_and(|s| s <= at.step))
            }
            None => Ok(()),
        }
    }
}
