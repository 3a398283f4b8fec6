//! A run's representations as files another framework (or `infoplane plane`) can read: the
//! information plane's evaluation samples (`x.npy`, n × features after the run's pipeline;
//! `y.npy`, the n labels) and every stage's representation of them at the run's checkpoint
//! (`<step>_<stage>.npy`, n × features), with `layers.txt` naming the stages in order, and the
//! class scores the run predicts from (`scores.npy`, n × classes). The
//! same layout `infoplane plane` measures, whoever wrote it.

use std::path::Path;

use burn::tensor::Device;
use infoplane_hsic::npy::encode_npy_f64;

use crate::error::{Result, TrainError};
use crate::features::{host_inputs, representations};

/// What [`dump_representations`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Dumped {
    /// The checkpoint's step (the files' prefix).
    pub step: u64,
    /// The checkpoint's epoch.
    pub epoch: usize,
    /// Samples.
    pub samples: usize,
    /// Stage names, input side first.
    pub stages: Vec<String>,
}

fn write(path: &Path, shape: &[usize], values: &[f64]) -> Result<()> {
    crate::rundir::write_atomic(path, &encode_npy_f64(shape, values))
}

/// Loads the run in `run_dir` at its checkpoint and writes its evaluation samples and every
/// stage's representation of them into `out`.
pub fn dump_representations(run_dir: &Path, out: &Path, device: &Device) -> Result<Dumped> {
    let cfg = crate::TrainConfig::from_file(&run_dir.join("config.toml"))?.check()?;
    let c = cfg.config();
    let data = c.data.load()?;
    let mut strategy = crate::build_strategy(&cfg, &data, &device.clone().autodiff())?;
    let state = crate::train_loop::load_checkpoint(run_dir, strategy.as_mut())?;
    let (_, eval) = crate::run::eval_split(&c.infoplane, &data);
    let inputs = host_inputs(&eval, &c.data.pipeline());
    let [n, ch, h, w] = inputs.shape;
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let x: Vec<f64> = inputs.images.iter().map(|&v| v as f64).collect();
    write(&out.join("x.npy"), &[n, ch * h * w], &x)?;
    let y: Vec<f64> = inputs.labels.iter().map(|&v| v as f64).collect();
    write(&out.join("y.npy"), &[n], &y)?;
    let evaluator = strategy.evaluator();
    let names = evaluator.stage_names();
    let reps = representations(evaluator.as_ref(), &inputs, device);
    for (name, t) in names.iter().zip(reps) {
        let [rows, d] = t.dims();
        let values: Vec<f64> = t
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| TrainError::RunDir {
                path: run_dir.into(),
                reason: format!("stage {name}'s representation could not be read: {e:?}"),
            })?
            .into_iter()
            .map(f64::from)
            .collect();
        write(
            &out.join(format!("{}_{name}.npy", state.step)),
            &[rows, d],
            &values,
        )?;
    }
    // The class scores test accuracy is computed from (for E2E, the backbone's classifier).
    let mut scores = Vec::new();
    let mut classes = 0;
    for (x, _) in crate::features::chunks(&inputs, device) {
        let s = evaluator.evaluate(x).scores;
        classes = s.dims()[1];
        scores.extend(
            s.into_data()
                .try_to_vec::<f32>()
                .map_err(|e| TrainError::RunDir {
                    path: run_dir.into(),
                    reason: format!("the class scores could not be read: {e:?}"),
                })?
                .into_iter()
                .map(f64::from),
        );
    }
    write(&out.join("scores.npy"), &[n, classes], &scores)?;
    let list: String = names.iter().map(|s| format!("{s}\n")).collect();
    crate::rundir::write_atomic(&out.join("layers.txt"), list.as_bytes())?;
    Ok(Dumped {
        step: state.step,
        epoch: state.epoch,
        samples: n,
        stages: names,
    })
}

/// The backbone of the run in `run_dir` (its staged model, without a strategy's heads) at
/// its checkpoint, with the run's checked config and input shape.
pub fn load_backbone(
    run_dir: &Path,
    device: &Device,
) -> Result<(
    crate::CheckedConfig,
    crate::DataShape,
    infoplane_models::StagedModel,
)> {
    use burn::module::Module;
    let cfg = crate::TrainConfig::from_file(&run_dir.join("config.toml"))?.check()?;
    let data = cfg.config().data.load()?;
    let shape = crate::DataShape::of(&cfg, &data)?;
    let model = crate::build_model(&cfg, shape, device)?;
    let dir = crate::train_loop::checkpoint_to_resume(run_dir)
        .unwrap_or_else(|| crate::train_loop::checkpoint_dir(run_dir));
    let path = dir.join(crate::strategy::MODEL_FILE);
    let model = model
        .try_load_file(&path)
        .map_err(|e| TrainError::Checkpoint {
            path,
            reason: format!("cannot be read ({e:?}): the run has no complete checkpoint"),
        })?;
    Ok((cfg, shape, model))
}
