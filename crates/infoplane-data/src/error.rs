//! Errors of the data crate: every variant names the file or option involved, what was
//! expected, what was found, and how to get the data.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, DataError>;

/// Everything that can go wrong while finding, reading or transforming a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A dataset name that infoplane does not know.
    #[error("unknown dataset `{name}`; known datasets: {known}")]
    UnknownDataset {
        /// The name that was asked for.
        name: String,
        /// The names infoplane knows, comma separated.
        known: String,
    },
    /// No location holds the dataset's files.
    #[error(
        "dataset `{dataset}` not found; looked in: {searched}. {hint}",
        searched = display_paths(searched)
    )]
    NotFound {
        /// The dataset name.
        dataset: String,
        /// Every directory that was searched, in order.
        searched: Vec<PathBuf>,
        /// How to get the data.
        hint: String,
    },
    /// A directory was given (or found) but a file the dataset needs is not in it.
    #[error(
        "{dir}: missing file `{file}` for dataset `{dataset}` (expected layout: {layout}). {hint}"
    )]
    MissingFile {
        /// The dataset name.
        dataset: String,
        /// The directory that was searched.
        dir: PathBuf,
        /// The file that is missing.
        file: String,
        /// The files the directory should hold.
        layout: String,
        /// How to get the data.
        hint: String,
    },
    /// An I/O error while reading a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with the expected magic number.
    #[error(
        "{path}: wrong magic number: expected {expected:#010x} ({what}), found {found:#010x}; \
         the file is not an IDX {what} file (or is corrupt): replace it with the original"
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// What kind of file was expected.
        what: &'static str,
        /// The magic number expected.
        expected: u32,
        /// The magic number found.
        found: u32,
    },
    /// The file is shorter than its header says.
    #[error(
        "{path}: truncated: the header promises {expected} bytes of data, the file holds {found}; \
         the download was probably interrupted: get the file again"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes expected after the header.
        expected: u64,
        /// Bytes found after the header.
        found: u64,
    },
    /// Image and label files disagree on the number of samples.
    #[error(
        "{images} holds {n_images} images but {labels} holds {n_labels} labels; \
         the two files must come from the same split"
    )]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// The label file.
        labels: PathBuf,
        /// Number of images.
        n_images: usize,
        /// Number of labels.
        n_labels: usize,
    },
    /// A CIFAR file whose size is not a whole number of records.
    #[error(
        "{path}: {size} bytes is not a multiple of the {record}-byte {what} record; \
         the file is truncated or not a {what} binary file: get it again"
    )]
    RecordSize {
        /// The file.
        path: PathBuf,
        /// Which format was expected.
        what: &'static str,
        /// Record size in bytes.
        record: usize,
        /// File size in bytes.
        size: u64,
    },
    /// A label outside the class range.
    #[error("{path}: sample {index} has label {label}, but the dataset has {classes} classes")]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// Sample index.
        index: usize,
        /// The label found.
        label: u32,
        /// Number of classes.
        classes: usize,
    },
    /// A file header that describes impossible data (a zero or overflowing dimension).
    #[error(
        "{path}: the {what} header is invalid: {reason}; the file is corrupt or not a {what} file: get it again"
    )]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// Which format was expected.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An option with an impossible value.
    #[error("invalid value for `{option}`: {reason}")]
    InvalidOption {
        /// The option name.
        option: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "(nowhere)".to_string();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
