//! # infoplane-reproduce
//!
//! The paper's artifacts as a library: experiments, claims, readings, reports, figures and
//! the index. An experiment file (`experiments/<artifact>.toml`) declares an artifact's runs
//! at paper and quick scale, its figures and tables, and the paper's claims — each quoted
//! with its setting and line, and checked in a small typed vocabulary over named runs and
//! stages ([`checks`]) with paired noise and effect sizes ([`reading`]). The list of
//! artifacts is the list of files; `reproduce quick` (the main job) is one of them.
//!
//! ```ignore
//! use infoplane_reproduce::{Options, Scale, reproduce};
//! let opts = Options { scale: Scale::Quick, results: "results".into(), backend: "flex".into(), overrides: Default::default() };
//! for outcome in reproduce(&infoplane_reproduce::repo_root(), "fig3", &opts, &burn::tensor::Device::flex())? {
//!     println!("{}", outcome.line());
//! }
//! ```
//!
//! # Adding an artifact
//!
//! Write `experiments/<name>.toml` with its `title`, `order`, `[base]`, `[quick]`, `[[run]]`s,
//! `[[figure]]`s and `[[claim]]`s (see [`experiment`] and [`checks`]); nothing else. A test
//! plans every experiment file at every scale and fails when a claim names a run or a stage
//! that does not exist.
#![warn(missing_docs)]

pub mod checks;
pub mod claims;
pub mod error;
pub mod estimate;
pub mod execute;
pub mod experiment;
pub mod figures;
pub mod grid;
pub mod image;
pub mod index;
pub mod plan;
pub mod reading;
pub mod report;
pub mod reproduce;
pub mod sweep;

pub use error::{Error, Result};
pub use experiment::{Scale, artifacts, repo_root};
pub use plan::{Layout, Overrides, Plan, plan};
pub use reproduce::{Options, Outcome, dry_run, reproduce, reproduce_one};
