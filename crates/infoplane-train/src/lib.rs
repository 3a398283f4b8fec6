//! # infoplane-train
//!
//! Training for infoplane. A strategy ([`Strategy`]) owns a network — a staged model and the
//! modules the strategy adds (auxiliary heads, projection heads, a classifier on detached
//! features, a label path) — and its optimizer, schedules its phases, and answers how to
//! predict and what the representations are ([`Evaluate`]). The strategies of the paper: E2E
//! (cross-entropy, supervised contrastive, SimCLR), layer-wise (simultaneous or sequential;
//! local cross-entropy, supervised contrastive, similarity matching, signal propagation; the
//! nHSIC augmenting term) and retraining after layer k. The loop is written once (seeded
//! batches, Adam / SGD with momentum, weight decay, multi-step decay restarting per phase,
//! evaluation, observers, checkpoints and resume, NaN guard, progress); analyses (information
//! planes, linear probes) watch training through the observer interface; run directories are
//! locked and never silently replaced. Losses live in [`losses`], one pure function each.
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod features;
pub mod init;
pub mod jvp;
pub mod losses;
pub mod network;
pub mod observer;
pub mod observers;
pub mod run;
pub mod rundir;
pub mod strategies;
pub mod toy;
pub mod trainer;

pub use config::{StrategyConfig, TrainConfig};
pub use error::{Result, TrainError};
pub use network::Network;
pub use observer::{EvalContext, EvalPoint, Observer};
pub use run::{RunOptions, RunSummary, StageSummary, read_summary, run, run_strategy};
pub use rundir::OnExisting;
pub use strategies::{Evaluate, StepReport, Strategy, TrainBatch, Trainee, build_strategy};
pub use trainer::{EpochMetrics, LoopOptions, RunOutcome, load_data, pipeline, train};
