//! The experiments' errors.

use super::ErrorCode;

/// An experiment call failed. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExperimentError {
    /// No experiment has this key. Code `EXPERIMENT_NOT_FOUND`.
    #[error("experiment {key:?} is not defined")]
    NotFound {
        /// The experiment's key.
        key: String,
    },
}

impl ErrorCode for ExperimentError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "EXPERIMENT_NOT_FOUND",
        }
    }
}
