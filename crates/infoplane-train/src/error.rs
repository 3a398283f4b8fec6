//! Errors of the training crate.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;

/// What can go wrong while configuring or running training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A config file that does not parse, or has unknown keys.
    #[error("{path}: {message}")]
    ConfigParse {
        /// The config file.
        path: PathBuf,
        /// The parser's message (names the key and line).
        message: String,
    },
    /// A config value that is impossible.
    #[error("config key `{key}`: {reason}")]
    ConfigValue {
        /// The dotted key.
        key: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The loss became NaN or infinite.
    #[error(
        "the loss became {value} at epoch {epoch}, step {step}; training stopped. {checkpoint}\
         Lower the learning rate or check the inputs"
    )]
    NonFiniteLoss {
        /// The loss value.
        value: f32,
        /// Epoch (1-based).
        epoch: usize,
        /// Optimizer step.
        step: u64,
        /// Where the last good checkpoint is.
        checkpoint: String,
    },
    /// A parameter, or the representation it computes, became NaN or infinite (the loss of
    /// the step before was still finite).
    #[error(
        "{what} became non-finite at epoch {epoch}, step {step}: training diverged and stopped before measuring. {checkpoint}\
         Lower the learning rate or check the inputs"
    )]
    NonFiniteParameter {
        /// The parameter's path in the network, or the representation, in words.
        what: String,
        /// Epoch (1-based).
        epoch: usize,
        /// Optimizer step.
        step: u64,
        /// Where the last good checkpoint is.
        checkpoint: String,
    },
    /// A run directory problem (resume without checkpoint, existing finished run, …).
    #[error("{path}: {reason}")]
    RunDir {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A checkpoint that could not be written or read.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// The underlying problem.
        reason: String,
    },
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A data error.
    #[error(transparent)]
    Data(#[from] infoplane_data::DataError),
    /// An HSIC error.
    #[error(transparent)]
    Hsic(#[from] infoplane_hsic::HsicError),
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn value(key: &str, reason: impl Into<String>) -> Self {
        TrainError::ConfigValue {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}
