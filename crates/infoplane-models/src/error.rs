//! Errors of the models crate.

/// What can go wrong while building a model or a head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A head kind that cannot serve a purpose (e.g. cross-entropy through an identity head).
    #[error("a `{kind}` head cannot serve {purpose}: {fix}")]
    HeadPurpose {
        /// The head kind.
        kind: &'static str,
        /// What it was asked to do.
        purpose: &'static str,
        /// What to use instead.
        fix: &'static str,
    },
    /// An architecture setting that is impossible for the input.
    #[error("model option `{option}`: {reason}")]
    InvalidOption {
        /// The option (as in the config's `[model]` table).
        option: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A model that overflows or cannot fit in this machine's memory.
    #[error("{what}: {reason}; use a smaller width, input or batch")]
    TooLarge {
        /// The model and the settings that made it this large.
        what: String,
        /// The sizes, and what this machine has.
        reason: String,
    },
}
