//! # infoplane-train
//!
//! Training for infoplane: the strategy trait and its strategies (E2E, simultaneous
//! layer-wise with local cross-entropy through linear or MLP heads), the loop written once
//! (seeded batches, Adam / SGD with momentum, weight decay, multi-step decay, evaluation,
//! checkpoints and resume, NaN guard, progress), the observer interface through which the
//! analyses (information planes, linear probes) watch training, and run directories.
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod features;
pub mod init;
pub mod learner;
pub mod observer;
pub mod observers;
pub mod run;
pub mod strategies;
pub mod trainer;

pub use config::{StrategyKind, TrainConfig};
pub use error::{Result, TrainError};
pub use learner::Learner;
pub use observer::{EvalContext, EvalPoint, Observer};
pub use run::{RunSummary, StageSummary, run, summarize};
pub use strategies::{StepReport, Strategy, strategy_for};
pub use trainer::{
    EpochMetrics, RunOptions, RunOutcome, build_learner, load_data, pipeline, train,
};
