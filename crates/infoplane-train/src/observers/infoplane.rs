//! The information-plane observer: feeds every stage's representation of a fixed evaluation
//! subset to the HSIC crate's recorder at each evaluation point.

use std::path::Path;

use infoplane_data::{HostBatch, Split};
use infoplane_hsic::{InfoPlaneRecorder, PlaneSettings, Samples};

use crate::error::Result;
use crate::features::{host_inputs, representations};
use crate::observer::{EvalContext, EvalPoint, Observer};

/// Records nHSIC(X;Tᵢ), nHSIC(Y;Tᵢ) of every stage.
#[derive(Debug)]
pub struct InfoPlaneObserver {
    recorder: InfoPlaneRecorder,
    inputs: HostBatch,
    every_steps: u64,
    per_epoch: bool,
}

impl InfoPlaneObserver {
    /// Prepares the observer on `eval` (the fixed evaluation subset, transformed by
    /// `pipeline` without augmentation), writing points to `out`; `eval_set` describes the
    /// subset in every point.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        eval: &Split,
        classes: usize,
        pipeline: &infoplane_data::Pipeline,
        settings: PlaneSettings,
        every_steps: u64,
        per_epoch: bool,
        out: &Path,
        eval_set: &str,
    ) -> Result<Self> {
        let inputs = host_inputs(eval, pipeline);
        let [n, c, h, w] = inputs.shape;
        let x = Samples::from_f32(n, c * h * w, &inputs.images);
        let labels: Vec<usize> = inputs.labels.iter().map(|&l| l as usize).collect();
        let recorder = InfoPlaneRecorder::new(&x, &labels, classes, settings, Some(out))?
            .with_eval_set(eval_set);
        Ok(InfoPlaneObserver {
            recorder,
            inputs,
            every_steps,
            per_epoch,
        })
    }

    /// The recorder (and its points).
    pub fn recorder(&self) -> &InfoPlaneRecorder {
        &self.recorder
    }
}

impl Observer for InfoPlaneObserver {
    fn name(&self) -> &'static str {
        "infoplane"
    }

    fn on_eval(&mut self, ctx: &EvalContext<'_>) -> Result<()> {
        let wanted = match ctx.point {
            EvalPoint::Start => true,
            EvalPoint::Step => self.every_steps > 0 && ctx.step.is_multiple_of(self.every_steps),
            EvalPoint::EpochEnd => self.per_epoch,
        };
        if !wanted {
            return Ok(());
        }
        let t0 = std::time::Instant::now();
        let reps = representations(ctx.evaluator, &self.inputs, ctx.device);
        let t1 = std::time::Instant::now();
        let stages = ctx.evaluator.stage_names().into_iter().zip(reps).collect();
        self.recorder.record(ctx.step, ctx.epoch, stages)?;
        tracing::debug!(
            step = ctx.step,
            forward_ms = (t1 - t0).as_secs_f64() * 1e3,
            nhsic_ms = t1.elapsed().as_secs_f64() * 1e3,
            "information plane measured"
        );
        Ok(())
    }
}
