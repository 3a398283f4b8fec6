//! Errors of the reproduction crate: every message names the file, artifact or run and what
//! to do.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong while planning, running or reporting an artifact.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An experiment file that does not parse or names something that does not exist.
    #[error("{path}: {reason}")]
    Experiment {
        /// The experiment file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A file that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Training, a run folder or a config.
    #[error(transparent)]
    Train(Box<infoplane_train::TrainError>),
    /// Data that is missing or damaged.
    #[error(transparent)]
    Data(Box<infoplane_data::DataError>),
    /// Information-plane files.
    #[error(transparent)]
    Hsic(Box<infoplane_hsic::HsicError>),
    /// Anything else, with what was being done.
    #[error("{0}")]
    Message(String),
    /// An error with what was being done when it happened.
    #[error("{context}: {source}")]
    Context {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// An error from a message.
    pub fn msg(m: impl Into<String>) -> Self {
        Error::Message(m.into())
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Adds what was being done to an error.
pub trait Context<T> {
    /// With a fixed description.
    fn context(self, what: impl Into<String>) -> Result<T>;
    /// With a description computed on error.
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: what.into(),
            source: Box::new(e.into()),
        })
    }

    fn with_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: what(),
            source: Box::new(e.into()),
        })
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::msg(e.to_string())
    }
}

/// Returns early with an [`Error::Message`].
macro_rules! fail {
    ($($t:tt)*) => {
        return Err($crate::error::Error::msg(format!($($t)*)))
    };
}
pub(crate) use fail;

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io {
            path: PathBuf::new(),
            source: e,
        }
    }
}

impl From<infoplane_train::TrainError> for Error {
    fn from(e: infoplane_train::TrainError) -> Self {
        Error::Train(Box::new(e))
    }
}

impl From<infoplane_data::DataError> for Error {
    fn from(e: infoplane_data::DataError) -> Self {
        Error::Data(Box::new(e))
    }
}

impl From<infoplane_hsic::HsicError> for Error {
    fn from(e: infoplane_hsic::HsicError) -> Self {
        Error::Hsic(Box::new(e))
    }
}
