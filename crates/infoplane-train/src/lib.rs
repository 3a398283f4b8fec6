//! # infoplane-train
//!
//! Training for infoplane. A method ([`methods`]) is one file: its config, checked once into
//! typed parameters that build its strategy around any staged model. A strategy
//! ([`Strategy`]) owns its network — the staged model and the modules it adds (auxiliary
//! heads, a projection head, a classifier on detached features, a label path) — and its
//! optimizer, schedules its phases, and answers how to predict and what the representations
//! are ([`Evaluate`]). The methods of the paper: E2E (cross-entropy, supervised contrastive,
//! SimCLR), layer-wise (simultaneous or sequential; local cross-entropy, supervised
//! contrastive, similarity matching; the nHSIC augmenting term), signal propagation,
//! retraining after layer k, forward-forward and forward gradients.
//!
//! The loop ([`TrainLoop`]) is written once and takes typed parts (strategy, data, schedule,
//! observers, a locked run directory), so a model of your own gets the same training,
//! measurement, probes, checkpoints and resume ([`run_with`]). Analyses (information planes,
//! linear probes) watch training as [`Observer`]s that own their files. Losses live in
//! [`losses`], one pure function each.
#![warn(missing_docs)]

pub mod build;
pub mod config;
pub mod error;
pub mod features;
pub mod init;
pub mod jvp;
pub mod losses;
pub mod methods;
pub mod observer;
pub mod observers;
pub mod provenance;
pub mod reprs;
pub mod run;
pub mod rundir;
pub mod strategy;
pub mod summary;
pub mod toy;
pub mod train_loop;

pub use build::{DataShape, build_model, build_strategy, build_strategy_for};
pub use config::{CheckedConfig, Setting, StrategyConfig, TrainConfig, apply_settings};
pub use error::{Result, TrainError};
pub use methods::{BuildEnv, METHODS, Method, Params};
pub use observer::{EvalContext, EvalPoint, Observer, ResumePoint};
pub use provenance::Provenance;
pub use run::{RunOptions, RunSpec, default_observers, run, run_with};
pub use rundir::{OnExisting, RunDir};
pub use strategy::{Evaluate, StepReport, Strategy, TrainBatch, Trainee};
pub use summary::{RunSummary, StageSummary, read_summary};
pub use train_loop::{EpochMetrics, LoopData, LoopOptions, RunOutcome, TrainLoop, read_metrics};
